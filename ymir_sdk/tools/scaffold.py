"""``ymir-sdk new NAME [--template minimal|torch|openmmlab]``: a ready executor, shaped like ours: the package
``NAME`` (``-`` written ``_``), holding

``executor.py`` (one Executor class, typed params whose ``Field`` descriptions document them), ``__init__.py``
(the class), ``img-man/`` (the templates generated from the params; ``manifest.yaml`` names the class the image
runs, ``python3 -m ymir_sdk exec``), ``Dockerfile`` (on one of our CUDA bases),
``requirements.txt``, ``README.md`` (the hyper-parameter table generated from the params) and
``test_<name>.py`` (the conformance checks of :mod:`ymir_sdk.conformance` on generated data). Right after
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

import yaml

from .errors import ConfigError

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
    files = {
        "executor.py": EXECUTORS[template],
        "__init__.py": INIT,
        "requirements.txt": "ymir-sdk>=0.1\n" + "".join(line + "\n" for line in extra),
        "Dockerfile": DOCKERFILE.replace("__BASE__", CUDA_BASES[cuda]),
        test_file(name): TEST[template],
        ".dockerignore": "__pycache__/\n*.pyc\nwork/\n",
    }
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
    from .config import write_template
    from .contract import TEMPLATE_FILES
    from .executor import MANIFEST_EXECUTOR_KEY
    from .verify import executor_class

    img_man = os.path.join(folder, "img-man")
    os.makedirs(img_man)
    with open(os.path.join(img_man, "manifest.yaml"), "w", encoding="utf-8") as f:
        yaml.safe_dump({MANIFEST_EXECUTOR_KEY: target}, f)
    cls = executor_class(folder)
    with open(os.path.join(img_man, "manifest.yaml"), "w", encoding="utf-8") as f:
        f.write(f"object_type: {cls.object_types[0]}\n# the class the image runs (python3 -m ymir_sdk exec)\n"
                f"{MANIFEST_EXECUTOR_KEY}: {target}\n")
    for task, attr in (("train", "TrainParams"), ("infer", "InferParams"), ("mine", "MineParams")):
        write_template(getattr(cls, attr), os.path.join(img_man, TEMPLATE_FILES[task]))
    with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as f:
        f.write(README.replace("__NAME__", name).replace("__TEMPLATE__", template)
                .replace("__TABLE__", params_table(cls)).replace("__TEST__", test_file(name))
                .replace("__DESCRIPTION__", DESCRIPTIONS[template]))


DESCRIPTIONS = {
    "minimal": "A framework-free placeholder model (each class's mean colour; NumPy only) to replace with yours.",
    "torch": "A small torch model (a per-pixel classifier whose class regions become boxes) to replace with yours.",
    "openmmlab": "Detection on the released mmdet 3.1.0 through ymir-sdk's OpenMMLab glue (YOLOX-tiny by default; "
                 "any mmdet 3.x config by `config_file`).",
}

INIT = '''"""The __NAME__ executor (its image runs the class img-man/manifest.yaml names: python3 -m ymir_sdk exec)."""
from .executor import __CLASS__

__all__ = ["__CLASS__"]
'''

_MINING_IMPORTS = "from ymir_sdk.mining import DetOutput, algorithm_name, entropy_scores, random_scores\n"

#: the placeholder models' box finder, written into both templates that need one
_BLOBS = '''def blobs(mask: np.ndarray, x0: int = 0, y0: int = 0):
    """Boxes (x1, y1, x2, y2) of a mask's separate parts: it is cut along empty columns and rows until no cut is
    left (enough for objects whose boxes do not overlap)."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return []
    x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    part = mask[y1:y2, x1:x2]
    for axis in (0, 1):
        empty = np.nonzero(~part.any(axis=axis))[0]
        if len(empty):
            cut = int(empty[0])
            first, rest = (part[:, :cut], part[:, cut:]) if axis == 0 else (part[:cut], part[cut:])
            dx, dy = (cut, 0) if axis == 0 else (0, cut)
            return blobs(first, x0 + x1, y0 + y1) + blobs(rest, x0 + x1 + dx, y0 + y1 + dy)
    return [(x0 + x1, y0 + y1, x0 + x2, y0 + y2, part.mean())]


'''

MINIMAL = '''"""__NAME__: a YMIR executor on ymir-sdk (made by `ymir-sdk new`, template minimal).

The model is a placeholder to replace with yours: each class's mean colour, read at the centre of its boxes;
detection marks the pixels nearest to a class's colour (within ``tolerance``) and boxes them. It shows every part
an executor has: typed hyper-parameters (their defaults are the img-man templates; ``ymir-sdk check-image``
keeps them, the templates and the README's table in agreement), training with progress and a model stage with
its metrics, inference, and mining with the SDK's algorithms.
"""
import json
import os

import numpy as np
from PIL import Image
from pydantic import Field

from ymir_sdk import Detection, Executor, HyperParams
from ymir_sdk.dataset import load_records
from ymir_sdk.evaluate import detection_metrics
''' + _MINING_IMPORTS + '''

class TrainParams(HyperParams):
    export_format: str = Field("ark:raw", description="the annotation format the platform exports for training")
    tolerance: float = Field(60.0, description="RGB distance within which a pixel takes a class's colour")


class InferParams(HyperParams):
    tolerance: float = Field(60.0, description="RGB distance within which a pixel takes a class's colour")


class MineParams(InferParams):
    mining_algorithm: str = Field("entropy", description="entropy or random (ymir_sdk.mining)")


''' + _BLOBS + '''class ColourModel:
    """Mean colour per class; a box around each blob of the pixels a colour claims."""

    def __init__(self, colours):
        self.colours = np.asarray(colours, dtype=np.float32).reshape(-1, 3)

    def predict(self, path: str, tolerance: float) -> DetOutput:
        rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
        distance = np.linalg.norm(rgb[:, :, None, :] - self.colours[None, None], axis=-1)
        owner = np.where(distance.min(axis=-1) < tolerance, distance.argmin(axis=-1), -1)
        boxes, scores, labels = [], [], []
        for cls in range(len(self.colours)):
            for x1, y1, x2, y2, fill in blobs(owner == cls):
                if (x2 - x1) * (y2 - y1) * fill >= 5:  # at least five pixels
                    boxes.append((x1, y1, x2, y2))
                    scores.append(float(fill))  # how much of its box the blob fills
                    labels.append(cls)
        return DetOutput(np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(scores),
                         np.asarray(labels, dtype=np.int64))


class __CLASS__(Executor):
    name = "__NAME__"
    object_types = (2,)
    TrainParams, InferParams, MineParams = TrainParams, InferParams, MineParams

    def train(self, ctx):
        records = load_records(ctx.training_pairs(), ctx.class_names)
        total = np.zeros((len(ctx.class_names), 3))
        count = np.zeros(len(ctx.class_names))
        for i, rec in enumerate(records):
            rgb = np.asarray(Image.open(rec.image).convert("RGB"), dtype=np.float64)
            for cls, box in zip(rec.classes, rec.boxes.astype(int)):
                total[cls] += rgb[(box[1] + box[3]) // 2, (box[0] + box[2]) // 2]
                count[cls] += 1
            ctx.progress((i + 1) / len(records))
        model_file = os.path.join(ctx.work_dir, "colours.json")
        with open(model_file, "w") as f:
            json.dump({"colours": (total / np.maximum(count, 1)[:, None]).tolist()}, f)  # the model file
        model = ColourModel(total / np.maximum(count, 1)[:, None])
        val = load_records(ctx.validation_pairs(), ctx.class_names)
        predictions = {r.image: self._detections(model.predict(r.image, ctx.params.tolerance)) for r in val}
        metrics = detection_metrics(val, predictions, ctx.class_names)
        ctx.training_result().add_stage("best", [model_file], metrics, evaluate_config={"iou_thr": 0.5})

    @staticmethod
    def _detections(out: DetOutput):
        return [Detection(int(c), float(s), *map(float, b)) for b, s, c in zip(out.boxes, out.scores, out.labels)]

    def _model(self, ctx) -> ColourModel:
        with open(next(f for f in ctx.model_files() if f.endswith(".json"))) as f:
            return ColourModel(json.load(f)["colours"])

    def infer(self, ctx):
        model = self._model(ctx)
        paths = ctx.readable(ctx.candidates())
        ctx.write_detections({p: self._detections(model.predict(p, ctx.params.tolerance)) for p in paths})

    def mine(self, ctx):
        algorithm = algorithm_name(ctx.params.mining_algorithm, 2, ("entropy", "random"))
        paths = ctx.readable(ctx.candidates())
        if algorithm == "random":
            scores = random_scores(paths)
        else:
            model = self._model(ctx)
            outputs = []
            for i, p in enumerate(paths):
                outputs.append(model.predict(p, ctx.params.tolerance))
                ctx.progress((i + 1) / len(paths))
            scores = entropy_scores(outputs, len(model.colours))
        ctx.write_mining(dict(zip(paths, scores)), ctx.candidates())
'''

TORCH = '''"""__NAME__: a YMIR executor on ymir-sdk (made by `ymir-sdk new`, template torch).

The model is a small torch network to replace with yours: a per-pixel classifier (background or a class),
trained on masks drawn from the boxes; each class's pixels become a box. It shows the torch parts: the device
from ``gpu_id`` (``ymir_sdk.torch.devices``), a checkpoint that a user's file can never turn into code
(``ymir_sdk.torch.load_checkpoint``), progress, a model stage with its metrics, inference and mining with the
SDK's algorithms on the model's class probabilities.
"""
import os

import numpy as np
from PIL import Image
from pydantic import Field

from ymir_sdk import Detection, Executor, HyperParams
from ymir_sdk.dataset import load_records
from ymir_sdk.evaluate import detection_metrics
''' + _MINING_IMPORTS + '''

class TrainParams(HyperParams):
    export_format: str = Field("ark:raw", description="the annotation format the platform exports for training")
    img_size: int = Field(64, ge=16, description="the network's input size (images are resized to a square)")
    epochs: int = Field(30, ge=1, description="passes over the training images")
    learning_rate: float = Field(0.01, gt=0, description="Adam's learning rate")


class InferParams(HyperParams):
    conf_threshold: float = Field(0.3, description="keep boxes scoring at least this")


class MineParams(InferParams):
    mining_algorithm: str = Field("entropy", description="entropy or random (ymir_sdk.mining)")


''' + _BLOBS + '''def network(num_classes: int):
    import torch.nn as nn

    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(16, num_classes + 1, 1))


def load_image(path: str, size: int):
    """(3, size, size) float tensor in [0, 1] and the image's original (width, height)."""
    import torch

    image = Image.open(path).convert("RGB")
    resized = np.asarray(image.resize((size, size)), dtype=np.float32) / 255.0
    return torch.from_numpy(resized).permute(2, 0, 1), image.size


class __CLASS__(Executor):
    name = "__NAME__"
    object_types = (2,)
    TrainParams, InferParams, MineParams = TrainParams, InferParams, MineParams

    def train(self, ctx):
        import torch

        from ymir_sdk.torch.devices import device_for

        p = ctx.params
        device = device_for(p.gpu_ids)
        torch.manual_seed(0)
        records = load_records(ctx.training_pairs(), ctx.class_names)
        images, targets = [], []
        for rec in records:
            x, (w, h) = load_image(rec.image, p.img_size)
            target = torch.zeros(p.img_size, p.img_size, dtype=torch.long)
            for cls, box in zip(rec.classes, rec.boxes):
                x1, x2 = (int(v * p.img_size / w) for v in (box[0], box[2]))
                y1, y2 = (int(v * p.img_size / h) for v in (box[1], box[3]))
                target[y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)] = int(cls) + 1
            images.append(x)
            targets.append(target)
        data, labels = torch.stack(images).to(device), torch.stack(targets).to(device)
        model = network(len(ctx.class_names)).to(device)
        optimiser = torch.optim.Adam(model.parameters(), lr=p.learning_rate)
        for epoch in range(p.epochs):
            for start in range(0, len(data), 8):
                loss = torch.nn.functional.cross_entropy(model(data[start:start + 8]), labels[start:start + 8])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            ctx.progress((epoch + 1) / p.epochs)
        weights = os.path.join(ctx.work_dir, "model.pt")
        torch.save({"state_dict": model.state_dict(), "classes": len(ctx.class_names), "img_size": p.img_size},
                   weights)
        val = load_records(ctx.validation_pairs(), ctx.class_names)
        found = self._predict(model.eval(), p.img_size, [r.image for r in val], device)
        metrics = detection_metrics(val, {k: self._detections(v, 0.0) for k, v in found.items()}, ctx.class_names)
        ctx.training_result().add_stage("best", [weights], metrics, evaluate_config={"iou_thr": 0.5})

    @staticmethod
    def _predict(model, size: int, paths, device):
        """Per image: DetOutput with, per box, the mean class probabilities over the pixels it covers."""
        import torch

        out = {}
        with torch.no_grad():
            for path in paths:
                x, (w, h) = load_image(path, size)
                probs = torch.softmax(model(x[None].to(device))[0], 0).cpu().numpy()  # (C + 1, size, size)
                owner = probs.argmax(0)
                boxes, scores, labels, class_probs = [], [], [], []
                for cls in range(1, probs.shape[0]):
                    for x1, y1, x2, y2, fill in blobs(owner == cls):
                        if (x2 - x1) * (y2 - y1) * fill < 3:
                            continue
                        ys, xs = np.nonzero(owner[y1:y2, x1:x2] == cls)
                        region = probs[1:, ys + y1, xs + x1].mean(axis=1)  # the blob's mean class probabilities
                        boxes.append([x1 * w / size, y1 * h / size, x2 * w / size, y2 * h / size])
                        scores.append(float(region[cls - 1]))
                        labels.append(cls - 1)
                        class_probs.append(region)
                out[path] = DetOutput(np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(scores),
                                      np.asarray(labels, dtype=np.int64),
                                      np.asarray(class_probs).reshape(len(boxes), probs.shape[0] - 1))
        return out

    @staticmethod
    def _detections(out: DetOutput, threshold: float):
        return [Detection(int(c), float(s), *map(float, b)) for b, s, c in zip(out.boxes, out.scores, out.labels)
                if s >= threshold]

    def _model(self, ctx):
        from ymir_sdk.torch import load_checkpoint
        from ymir_sdk.torch.devices import device_for

        checkpoint = load_checkpoint(next(f for f in ctx.model_files() if f.endswith(".pt")))
        device = device_for(ctx.params.gpu_ids)
        model = network(int(checkpoint["classes"]))
        model.load_state_dict(checkpoint["state_dict"])
        return model.to(device).eval(), int(checkpoint["img_size"]), device

    def infer(self, ctx):
        model, size, device = self._model(ctx)
        found = self._predict(model, size, ctx.readable(ctx.candidates()), device)
        ctx.write_detections({k: self._detections(v, ctx.params.conf_threshold) for k, v in found.items()})

    def mine(self, ctx):
        algorithm = algorithm_name(ctx.params.mining_algorithm, 2, ("entropy", "random"))
        paths = ctx.readable(ctx.candidates())
        if algorithm == "random":
            scores = random_scores(paths)
        else:
            model, size, device = self._model(ctx)
            found = self._predict(model, size, paths, device)
            scores = entropy_scores([found[p] for p in paths], len(ctx.class_names))
        ctx.write_mining(dict(zip(paths, scores)), ctx.candidates())
'''

OPENMMLAB = '''"""__NAME__: a YMIR executor on ymir-sdk (made by `ymir-sdk new`, template openmmlab).

Detection on the released mmdet 3.1.0, unmodified, through the SDK's OpenMMLab glue
(:class:`ymir_sdk.openmmlab.executor.OpenMMLabExecutor`: training on mmengine's runner with progress and model
stages, batched inference, mining with random, entropy, aldd and cald). What this class says is what is special
to the executor: its package, its default config, its keys. Add ``pretrained_weights`` (config -> URL) for the
image to fetch them at build time.
"""
from pydantic import Field

from ymir_sdk.openmmlab import params
from ymir_sdk.openmmlab.executor import OpenMMLabExecutor


class TrainParams(params.TrainParams):
    config_file: str = Field("configs/yolox/yolox_tiny_8xb8-300e_coco.py",
                             description="an mmdet 3.x config: a path inside the package's configs/ or a file")
    metric: str = Field("bbox", pattern="^bbox$", description="the evaluation (COCO box evaluation)")


class __CLASS__(OpenMMLabExecutor):
    name = "__NAME__"
    package = "mmdet"
    object_types = (2,)
    TrainParams = TrainParams
'''

EXECUTORS = {"minimal": MINIMAL, "torch": TORCH, "openmmlab": OPENMMLAB}

_TEST_HEAD = '''"""The conformance checks on this executor: check-image, then training, inference, each mining
algorithm and mining + inference on generated data, every output verified (pytest)."""
import os

from ymir_sdk.conformance import check_executor

HERE = os.path.dirname(os.path.abspath(__file__))
'''

TEST = {
    "minimal": _TEST_HEAD + '''

def test_conformance(tmp_path):
    assert check_executor(HERE, str(tmp_path), algorithms=["entropy", "random"]) == []
''',
    "torch": _TEST_HEAD + '''

def test_conformance(tmp_path):
    assert check_executor(HERE, str(tmp_path), algorithms=["entropy", "random"]) == []
''',
    "openmmlab": _TEST_HEAD + '''
#: a short training at 96 px on the CPU (a few minutes): YOLOX-tiny for two epochs
FAST = {"train": {"max_epochs": "2", "samples_per_gpu": "4", "workers_per_gpu": "0", "val_interval": "1",
                  "cfg_options": "img_scale=(96,96) "
                                 "model.data_preprocessor.batch_augments.0.random_size_range=(64,128) "
                                 "val_dataloader.dataset.pipeline.1.scale=(96,96) "
                                 "test_dataloader.dataset.pipeline.1.scale=(96,96)"},
        "infer": {"samples_per_gpu": "4", "workers_per_gpu": "0"},
        "mine": {"samples_per_gpu": "4", "workers_per_gpu": "0"}}


def test_conformance(tmp_path):
    assert check_executor(HERE, str(tmp_path), sets=FAST, algorithms=["entropy", "random"]) == []
''',
}

DOCKERFILE = '''# syntax=docker/dockerfile:1
# The __NAME__ image: docker build -t __NAME__ .
FROM __BASE__

ENV LANG=C.UTF-8 \\
    PYTHONUNBUFFERED=1 \\
    PIP_NO_CACHE_DIR=1 \\
    YMIR_WEIGHTS_DIR=/weights

COPY requirements.txt /app/requirements.txt
# ymir-sdk is not on the package index: `ymir-sdk new` put its wheel in wheels/
COPY wheels/ /app/wheels/
RUN python3 -m pip install --no-cache-dir --find-links /app/wheels -r /app/requirements.txt

# the executor, the package __PACKAGE__, importable through PYTHONPATH
COPY . /app/__PACKAGE__
ENV PYTHONPATH=/app
# the platform reads the templates from /img-man
RUN mkdir -p /img-man && cp -r /app/__PACKAGE__/img-man/. /img-man/

WORKDIR /app
# CMD, not ENTRYPOINT: the platform reads /img-man with `docker run <image> cat <file>`; `ymir_sdk exec` runs the
# class /img-man/manifest.yaml names (executor_class)
CMD ["python3", "-m", "ymir_sdk", "exec"]
'''

README = '''# __NAME__

A YMIR executor on ymir-sdk (made by `ymir-sdk new __NAME__ --template __TEMPLATE__`). __DESCRIPTION__
ymir-sdk is not on the package index: `wheels/` holds the wheel of the SDK that made this folder, which the
Dockerfile installs (`pip install --find-links wheels -r requirements.txt` does the same on a machine).

```
ymir-sdk run . --task train --dataset DATASET --work work/train          # DATASET: COCO, YOLO, VOC or ark
ymir-sdk verify work/train --task train
ymir-sdk run . --task mine+infer --dataset DATASET --work work/mine --model work/train
ymir-sdk check-image .          # the templates and the table below against the params in executor.py
pytest __TEST__         # the conformance checks on generated data
docker build -t __NAME__ .
```

The hyper-parameters are the params classes of `executor.py`; `img-man/` holds their templates (regenerate
them and this table when the params change: `ymir-sdk check-image .` says where they differ).

__TABLE__'''
