"""``ymir-sdk new``: a generated executor passes its own conformance test right away (ymir-sdk run + verify on
generated data), its templates and README table are its params, and ``check-image`` catches them drifting."""
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT, cli, only_on_test_stack
from ymir_sdk.tools.scaffold import CUDA_BASES, class_name
from ymir_sdk.tools.scaffold import test_file as scaffold_test_file

pytestmark = pytest.mark.images  # the templates must run on the images' Python 3.8 and torch 1.8.1 too


def _new(tmp_path, name, template):
    r = cli("new", name, "--template", template, "--dest", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    return str(tmp_path / name.replace("-", "_"))  # the executor is the package <name with '_' for '-'>


@pytest.mark.slow(55)
@pytest.mark.parametrize("template", [pytest.param("minimal", marks=only_on_test_stack), "torch"])
def test_a_new_executor_passes_its_conformance_test(tmp_path, template):
    folder = _new(tmp_path, "demo-exec", template)
    assert sorted(os.listdir(folder)) == sorted([".dockerignore", "Dockerfile", "README.md", "__init__.py",
                                                 "blobs.py", "executor.py", "img-man", "requirements.txt",
                                                 "test_demo_exec.py", "wheels"])
    for name in os.listdir(folder):  # every placeholder of the templates is replaced
        if os.path.isfile(os.path.join(folder, name)) and name != ".dockerignore":
            assert not re.search(r"__(NAME|CLASS|PACKAGE|TEMPLATE|BASE|TABLE|TEST|DESCRIPTION)__",
                                 open(os.path.join(folder, name)).read()), name
    # our executors' shape: a package whose manifest names its class, started by the SDK
    manifest = yaml.safe_load(open(os.path.join(folder, "img-man", "manifest.yaml")))
    assert manifest == {"object_type": 2, "executor_class": "demo_exec:DemoExecExecutor"}
    assert re.search(r'^CMD \["python3", "-m", "ymir_sdk", "exec"\]$',
                     open(os.path.join(folder, "Dockerfile")).read(), re.M)
    # the author's first steps: the generated test (check-image, then train/infer/mine/mine+infer on generated
    # data, each verified), run as they would run it
    test = scaffold_test_file("demo-exec")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test], cwd=folder,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    # and by hand: ymir-sdk run + verify, as the README says
    work = str(tmp_path / "work")
    from ymir_sdk.tools.synthetic import write_ark_dataset

    write_ark_dataset(str(tmp_path / "ds"), n_train=16, n_val=6)
    r = cli("run", folder, "--task", "train", "--dataset", str(tmp_path / "ds"), "--work", work, "--no-progress")
    assert r.returncode == 0, r.stdout + r.stderr
    assert cli("verify", work, "--task", "train").returncode == 0
    result = yaml.safe_load(open(os.path.join(work, "out", "models", "result.yaml")))
    assert result["model_stages"]["best"]["mAP"] > 0.3  # the placeholder model does detect the shapes


def test_templates_readme_and_check_image(tmp_path):
    folder = _new(tmp_path, "my_exec", "minimal")
    from ymir_sdk.tools.verify import executor_class, readme_tables

    cls = executor_class(folder)
    assert cls.__name__ == class_name("my_exec") == "MyExecExecutor"
    for task, attr in (("training", "TrainParams"), ("infer", "InferParams"), ("mining", "MineParams")):
        with open(os.path.join(folder, "img-man", f"{task}-template.yaml")) as f:
            assert yaml.safe_load(f) == getattr(cls, attr).template()
    rows = {(tuple(t), tuple(k), d) for t, k, d in readme_tables(os.path.join(folder, "README.md"))[0]}
    assert (("train", "infer", "mine"), ("tolerance",), "60.0") in rows
    assert (("mine",), ("mining_algorithm",), "entropy") in rows
    assert cli("check-image", folder).returncode == 0

    # drift, one kind at a time: each is named
    def drifted(edit_file, old, new, expected):
        path = os.path.join(folder, edit_file)
        text = open(path).read()
        assert old in text
        open(path, "w").write(text.replace(old, new, 1))
        r = cli("check-image", folder)
        open(path, "w").write(text)
        assert r.returncode == 1 and expected in r.stdout, r.stdout

    drifted("img-man/training-template.yaml", "tolerance: 60.0", "tolerance: 50.0", "'tolerance' is 50.0")
    drifted("img-man/mining-template.yaml", "mining_algorithm: entropy\n", "", "'mining_algorithm' is missing")
    drifted("README.md", "| mine | `mining_algorithm` | entropy |", "| mine | `mining_algorithm` | random |",
            "default 'random'")
    drifted("README.md", "| train | `export_format` |", "| train | `export_formats` |", "'export_formats' is not")
    drifted("README.md", "| mine | `mining_algorithm` | entropy", "| x | y | z", "mine keys mining_algorithm")
    drifted("executor.py", 'Field(60.0,', 'Field(70.0,', "'tolerance' is 60.0")
    assert cli("check-image", folder).returncode == 0


def test_openmmlab_template_is_an_openmmlab_executor(tmp_path):
    pytest.importorskip("mmengine")
    folder = _new(tmp_path, "my-mmdet", "openmmlab")
    r = cli("check-image", folder)
    assert r.returncode == 0 and "does not import" not in r.stdout, r.stdout
    from ymir_sdk.openmmlab.executor import OpenMMLabExecutor
    from ymir_sdk.tools.verify import executor_class

    cls = executor_class(folder)
    assert issubclass(cls, OpenMMLabExecutor) and cls.package == "mmdet"
    assert "mmdet==3.1.0" in open(os.path.join(folder, "requirements.txt")).read()


def test_new_refuses_bad_names_and_existing_folders(tmp_path):
    _new(tmp_path, "taken", "minimal")
    r = cli("new", "taken", "--dest", str(tmp_path))
    assert r.returncode == 2 and "exists" in r.stderr
    r = cli("new", "Bad Name;rm", "--dest", str(tmp_path))
    assert r.returncode == 2 and "NAME" in r.stderr and not os.path.exists(tmp_path / "Bad Name;rm")
    _new(tmp_path, "taken_one", "minimal")
    r = cli("new", "taken-one", "--dest", str(tmp_path))  # taken-one and taken_one are one package
    assert r.returncode == 2 and "exists" in r.stderr


def test_dockerfile_uses_our_bases_and_passes_hadolint(tmp_path):
    for cuda, base in CUDA_BASES.items():
        with open(os.path.join(ROOT, "dockerfiles", f"Dockerfile.{cuda}")) as f:
            assert re.search(rf"^FROM {re.escape(base)}$", f.read(), re.M), cuda
    folder = _new(tmp_path, "docked", "torch")
    text = open(os.path.join(folder, "Dockerfile")).read()
    assert "CMD [" in text and not re.search(r"^ENTRYPOINT", text, re.M)
    exe = os.path.join(os.path.dirname(sys.executable), "hadolint")
    exe = exe if os.path.exists(exe) else shutil.which("hadolint")
    if not exe:
        pytest.skip("hadolint is not installed here (the test stack has it)")
    r = subprocess.run([exe, "--failure-threshold", "warning", os.path.join(folder, "Dockerfile")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_new_folder_carries_the_sdk_s_wheel(tmp_path):
    """ymir-sdk is not on the package index: the generated folder holds a wheel of the SDK that made it, which
    pip installs with the requirements (as the Dockerfile does) and which imports and runs."""
    folder = _new(tmp_path, "wheeled", "minimal")
    wheels = os.listdir(os.path.join(folder, "wheels"))
    assert len(wheels) == 1 and wheels[0].startswith("ymir_sdk-") and wheels[0].endswith("-py3-none-any.whl")
    assert "--find-links /app/wheels -r /app/requirements.txt" in open(os.path.join(folder, "Dockerfile")).read()
    target = str(tmp_path / "site")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", target,
                        "--find-links", os.path.join(folder, "wheels"), "ymir-sdk"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.path.isfile(os.path.join(target, "ymir_exc", "result_writer.py"))
    code = "import ymir_sdk, ymir_sdk.cli, sys; print(ymir_sdk.__file__); sys.exit(ymir_sdk.cli.main(['--help']))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(tmp_path),
                       env=dict(os.environ, PYTHONPATH=target))
    assert r.returncode == 0 and r.stdout.startswith(os.path.join(target, "ymir_sdk")), r.stdout + r.stderr

