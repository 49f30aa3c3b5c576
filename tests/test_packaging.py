"""The SDK's core is framework-free: importing it (and the framework glue's entry modules) loads no torch,
mmengine, mmcv or framework; those load only when a function that needs them runs."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.images  # the SDK core runs in every image: also on the images' stack

MODULES = ["ymir_sdk", "ymir_sdk.dataset", "ymir_sdk.mining", "ymir_sdk.results", "ymir_sdk.contract",
           "ymir_sdk.tools.runner", "ymir_sdk.tools.verify", "ymir_sdk.cli", "ymir_sdk.dist", "ymir_sdk.openmmlab",
           "ymir_sdk.openmmlab.config", "ymir_sdk.openmmlab.compat", "ymir_sdk.weights", "ymir_sdk.torch.compat"]
HEAVY = ["torch", "torchvision", "mmengine", "mmcv", "mmdet", "mmyolo", "mmrotate", "mmseg", "yolov5"]


def test_core_imports_no_framework():
    code = ("import json, sys\n" + "".join(f"import {m}\n" for m in MODULES)
            + f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == []


def test_sources_parse_with_the_python_3_8_grammar():
    """pyproject says Python >= 3.8 (the cu102/cu111 images run 3.8): no newer syntax in the SDK or executors."""
    import ast
    import os

    sources = [os.path.join(d, f) for top in ("ymir_sdk", "executors")
               for d, _, files in os.walk(os.path.join(ROOT, top)) for f in files if f.endswith(".py")]
    assert len(sources) > 30
    for path in sources:
        with open(path, encoding="utf-8") as f:
            ast.parse(f.read(), path, feature_version=(3, 8))  # raises SyntaxError on 3.9+ syntax


def test_an_image_task_imports_no_tool():
    """What an image's task imports (``python3 -m ymir_sdk exec``: the cli, the executor's module and its glue,
    the loops) never reaches the developer's wing, ``ymir_sdk.tools``."""
    task = ["ymir_sdk.cli", "ymir_sdk.executor", "ymir_sdk.loops.detection",
            "ymir_sdk.loops.instance", "ymir_sdk.loops.segmentation", "ymir_sdk.yolov5.executor",
            "ymir_sdk.openmmlab.executor", "ymir_sdk.openmmlab.segmentation", "ymir_sdk.openmmlab.rotated",
            "executors.yolov5", "executors.mmdet", "executors.mmyolo", "executors.mmrotate", "executors.seg_in_one"]
    code = ("import importlib, json, sys\nsys.argv = ['ymir-sdk']\n"
            + "".join(f"importlib.import_module({m!r})\n" for m in task)
            + "print(json.dumps(sorted(m for m in sys.modules if m.startswith('ymir_sdk.tools'))))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == []
