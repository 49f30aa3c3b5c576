"""``ymir-sdk new NAME [--template minimal|torch|openmmlab]``: a ready executor, shaped like ours: the package
``NAME`` (``-`` written ``_``), holding

``executor.py`` (one Executor class, typed params whose ``Field`` descriptions document them; ``blobs.py``, the
placeholder models' box finder), ``__init__.py``
(the class), ``img-man/`` (the templates generated from the params; ``manifest.yaml`` names the class the image
runs, ``python3 -m ymir_sdk exec``), ``Dockerfile`` (on one of our CUDA bases),
``requirements.txt``, ``README.md`` (the hyper-parameter table generated from the params) and
``test_<name>.py`` (the conformance checks of :mod:`ymir_sdk.tools.conformance` on generated data). Right after
``new``, ``ymir-sdk run`` and ``ymir-sdk verify`` pass on generated data (``minimal``: NumPy only, seconds;
``torch``: a small torch model trained on the CPU in seconds; ``openmmlab``: an mmdet executor on the SDK's
OpenMMLab glue, YOLOX-tiny by default: it needs mmdet and trains for minutes).

:func:`params_table` is the README table of any executor; ``ymir-sdk check-image`` checks a README's table and
the templates against the params.
"""
from __future__ import annotations

import os
import re
from typing import Any, Dict, List

from ..errors import ConfigError

TEMPLATES = ("minimal", "torch", "openmmlab")
#: the bases of our images (dockerfiles/Dockerfile.<cuda>); a test keeps them equal
CUDA_BASES = {"cu111": "pytorch/pytorch:1.8.1-cuda11.1-cudnn8-runtime",
              "cu113": "pytorch/pytorch:1.11.0-cuda11.3-cudnn8-runtime"}
#: the CUDA base and the extra requirements of each template
TEMPLATE_STACK = {
    "minimal": ("cu111", []),
    "torch": ("cu111", []),
    "openmmlab": ("cu111", ["--find-links https://download.openmmlab.com/mmcv/dist/cu111/torch1.8/index.html",
                            "mmcv==2.0.1", "mmengine==0.10.7", "mmdet==3.1.0"]),
}
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
#: the files ``new`` writes are real files in ``templates/`` (linted and tested as our code; ``__NAME__``,
#: ``__CLASS__``, ``__PACKAGE__``, ``__TEMPLATE__`` and ``__BASE__`` are replaced): per template, its executor.py
#: and its test; the placeholder models' box finder goes with the templates that use it
TEMPLATE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
EXECUTOR_FILES = {"minimal": "minimal.py", "torch": "torch_model.py", "openmmlab": "openmmlab.py"}
TEST_FILES = {"minimal": "conformance_test.py", "torch": "conformance_test.py",
              "openmmlab": "conformance_test_openmmlab.py"}
BLOBS_TEMPLATES = ("minimal", "torch")


def _template(name: str) -> str:
    with open(os.path.join(TEMPLATE_DIR, name), encoding="utf-8") as f:
        return f.read()


def test_file(name: str) -> str:
    """The executor's test module: a name of its own, so that pytest collects several executors' tests at once."""
    return "test_" + name.replace("-", "_") + ".py"


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[-_]", name) if part) + "Executor"


def params_table(cls: type) -> str:
    """The README table (``| task | key | default | effect |``) of an executor's params: one row per key and
    task, the effect from the field's ``description``."""
    rows: Dict[tuple, List[str]] = {}
    for task, attr in (("train", "TrainParams"), ("infer", "InferParams"), ("mine", "MineParams")):
        model = getattr(cls, attr)
        for key, default in model.template().items():
            info = model.model_fields.get(key)
            effect = (info.description if info is not None and info.description else "").replace("|", "\\|")
            rows.setdefault((key, _cell(default), effect), []).append(task)
    lines = ["| task | key | default | effect |", "| --- | --- | --- | --- |"]
    for (key, default, effect), tasks in rows.items():
        lines.append(f"| {'/'.join(tasks)} | `{key}` | {default} | {effect} |")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    """A default as a README cell (``''`` for an empty string, YAML's spelling of booleans)."""
    if value == "" or value is None:
        return "''"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def package_name(name: str) -> str:
    """The executor's package (its folder): the name with ``_`` for ``-``."""
    return name.replace("-", "_")


def new(name: str, template: str = "minimal", dest: str = ".") -> str:
    """Write the executor package ``dest/<package_name(name)>``; returns its path. An existing folder is an error
    (nothing is overwritten)."""
    if not NAME.match(name or ""):
        raise ConfigError("NAME", name, "lower-case letters, digits, '-' or '_', starting with a letter")
    if template not in TEMPLATES:
        raise ConfigError("--template", template, "one of " + ", ".join(TEMPLATES))
    package = package_name(name)
    folder = os.path.abspath(os.path.join(dest, package))
    if os.path.exists(folder):
        raise ConfigError("NAME", name, message=f"{folder} exists: choose another name or remove it")
    cls = class_name(name)
    cuda, extra = TEMPLATE_STACK[template]
    files = {"executor.py": _template(EXECUTOR_FILES[template]), "__init__.py": _template("package_init.py"),
             "requirements.txt": "ymir-sdk>=0.1\n" + "".join(line + "\n" for line in extra),
             "Dockerfile": _template("Dockerfile").replace("__BASE__", CUDA_BASES[cuda]),
             test_file(name): _template(TEST_FILES[template]), ".dockerignore": _template("dockerignore")}
    if template in BLOBS_TEMPLATES:
        files["blobs.py"] = _template("blobs.py")
    os.makedirs(folder)
    try:
        for rel, text in files.items():
            with open(os.path.join(folder, rel), "w", encoding="utf-8") as f:
                f.write(text.replace("__NAME__", name).replace("__CLASS__", cls).replace("__TEMPLATE__", template)
                        .replace("__PACKAGE__", package))
        _write_generated(folder, name, template, f"{package}:{cls}")
        write_sdk_wheel(os.path.join(folder, "wheels"))
    except BaseException:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def write_sdk_wheel(folder: str) -> str:
    """A wheel of the running ymir-sdk in ``folder`` (made from its installed files: ``ymir_sdk``, ``ymir_exc``
    and its metadata), for the image to install: ymir-sdk is not on the package index. Returns its path."""
    import base64
    import hashlib
    import importlib.util
    import zipfile
    from importlib import metadata

    dist = metadata.distribution("ymir-sdk")
    info = f"ymir_sdk-{dist.version}.dist-info"
    path = os.path.join(folder, f"ymir_sdk-{dist.version}-py3-none-any.whl")
    os.makedirs(folder, exist_ok=True)
    records: List[str] = []
    with zipfile.ZipFile(f"{path}.tmp", "w", zipfile.ZIP_DEFLATED) as z:
        def add(arcname: str, data: bytes) -> None:
            z.writestr(arcname, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            records.append(f"{arcname},sha256={digest},{len(data)}")

        for package in ("ymir_sdk", "ymir_exc"):
            root = os.path.dirname(importlib.util.find_spec(package).origin)  # found, not imported
            for dirpath, dirs, files in os.walk(root):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__")
                for f in sorted(files):
                    if not f.endswith((".pyc", ".pyo")):
                        with open(os.path.join(dirpath, f), "rb") as fh:
                            add(os.path.relpath(os.path.join(dirpath, f), os.path.dirname(root)).replace(os.sep, "/"),
                                fh.read())
        # an installed wheel's METADATA, or an egg-info's PKG-INFO (a source checkout): the same format
        add(f"{info}/METADATA", (dist.read_text("METADATA") or dist.read_text("PKG-INFO") or "").encode())
        entry_points = dist.read_text("entry_points.txt")
        if entry_points:
            add(f"{info}/entry_points.txt", entry_points.encode())
        add(f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: ymir-sdk new\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "\n".join([*records, f"{info}/RECORD,,"]) + "\n")
    os.replace(f"{path}.tmp", path)
    return path


def _write_generated(folder: str, name: str, template: str, target: str) -> None:
    """img-man/ and README.md, from the class in the new executor.py (the params are their single source);
    ``target``: the class as ``module:Class``."""
    from ..config import write_template
    from ..contract import TEMPLATE_FILES
    from ..executor import MANIFEST_EXECUTOR_KEY, load_executor_class

    img_man = os.path.join(folder, "img-man")
    os.makedirs(img_man)
    cls = load_executor_class(target, os.path.dirname(folder))  # the package imports from the folder above it
    with open(os.path.join(img_man, "manifest.yaml"), "w", encoding="utf-8") as f:
        f.write(f"object_type: {cls.object_types[0]}\n# the class the image runs (python3 -m ymir_sdk exec)\n"
                f"{MANIFEST_EXECUTOR_KEY}: {target}\n")
    for task, attr in (("train", "TrainParams"), ("infer", "InferParams"), ("mine", "MineParams")):
        write_template(getattr(cls, attr), os.path.join(img_man, TEMPLATE_FILES[task]))
    with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as f:
        f.write(_template("README.md").replace("__NAME__", name).replace("__TEMPLATE__", template)
                .replace("__TABLE__", params_table(cls)).replace("__TEST__", test_file(name))
                .replace("__DESCRIPTION__", DESCRIPTIONS[template]))


DESCRIPTIONS = {
    "minimal": "A framework-free placeholder model (each class's mean colour; NumPy only) to replace with yours.",
    "torch": "A small torch model (a per-pixel classifier whose class regions become boxes) to replace with yours.",
    "openmmlab": "Detection on the released mmdet 3.1.0 through ymir-sdk's OpenMMLab glue (YOLOX-tiny by default; "
                 "any mmdet 3.x config by `config_file`).",
}
