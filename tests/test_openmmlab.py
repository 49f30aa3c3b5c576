"""The OpenMMLab stack of the test set: one pinned set that imports together (constraints.txt), mmcv with its
compiled ops from our cached build, and the stage bookkeeping the mm* executors share."""
import os
import re
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT

pytest.importorskip("mmcv")
PACKAGES = {"mmcv": "mmcv", "mmengine": "mmengine", "mmdet": "mmdet", "mmyolo": "mmyolo", "mmrotate": "mmrotate",
            "mmsegmentation": "mmseg"}


def _pins():
    pins = {}
    for line in open(os.path.join(ROOT, "constraints.txt")):
        m = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


def test_the_pinned_set_imports_together_with_mmcv_ops():
    pins = _pins()
    code = (
        "from ymir_sdk.openmmlab.compat import python310_collections_shim\n"
        "python310_collections_shim()\n"
        "import json, torch\n"
        + "".join(f"import {mod}\n" for mod in PACKAGES.values())
        + "import mmdet.models, mmyolo.models, mmrotate.models, mmseg.models\n"
        "from mmcv.ops import nms, RoIAlign, batched_nms\n"
        "keep = nms(torch.tensor([[0., 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60]]),"
        " torch.tensor([0.9, 0.8, 0.7]), 0.5)[1].tolist()\n"
        "print(json.dumps({'versions': {n: __import__(m).__version__ for n, m in %r.items()}, 'keep': keep,"
        " 'torch': torch.__version__}))\n" % PACKAGES)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = yaml.safe_load(r.stdout.strip().splitlines()[-1])
    assert out["keep"] == [0, 2]  # the compiled CPU op
    assert out["torch"].split("+")[0] == pins["torch"]
    for name, version in out["versions"].items():
        assert version == pins[name], (name, version)


def test_mmrotate_needs_only_the_collections_shim():
    """Without the shim mmrotate 1.0.0rc1 fails on Python >= 3.10 exactly at `from collections import Sequence`."""
    if sys.version_info < (3, 10):
        pytest.skip("the aliases still exist before Python 3.10")
    r = subprocess.run([sys.executable, "-c", "import mmrotate.models"], capture_output=True, text=True,
                       cwd=ROOT, timeout=300)
    assert r.returncode != 0 and "cannot import name 'Sequence' from 'collections'" in r.stderr


def test_mmcv_build_is_cached_and_idempotent():
    """A second run of the build script returns the cached wheel at once (no download, no compiler)."""
    import time

    import mmcv

    start = time.time()
    r = subprocess.run(["bash", os.path.join(ROOT, "scripts", "build_mmcv.sh"), sys.executable], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    wheel = r.stdout.strip().splitlines()[-1]
    assert os.path.isfile(wheel) and os.path.basename(wheel).startswith(f"mmcv-{mmcv.__version__}-")
    assert "building" not in r.stderr and time.time() - start < 60


def test_removing_a_stage_rewrites_result_yaml_before_deleting(tmp_path):
    from ymir_sdk.results import TrainingResult

    models = tmp_path / "models"
    result = TrainingResult(str(models))
    for i, m in ((1, 0.5), (2, 0.4), (3, 0.3)):
        f = tmp_path / f"w{i}.pth"
        f.write_bytes(b"x")
        result.add_stage(f"epoch_{i}", [str(f)], {"mAP": m})
    result.remove_stage("epoch_2")
    data = yaml.safe_load(open(models / "result.yaml"))
    assert set(data["model_stages"]) == {"epoch_1", "epoch_3"} and data["best_stage_name"] == "epoch_1"
    assert not (models / "epoch_2").exists() and (models / "epoch_1" / "w1.pth").exists()


def test_args_options_name_the_owner_of_tools_train_flags():
    """``tools/train.py``'s flags that a task sets another way are refused naming what sets them; the ones that
    apply are read; anything else names the flags that work."""
    from ymir_sdk import ConfigError
    from ymir_sdk.openmmlab.train import parse_train_args

    args = parse_train_args("--seed 3 --deterministic --auto-scale-lr")
    assert (args.seed, args.deterministic, args.auto_scale_lr, args.amp, args.resume) == (3, True, True, False, False)
    assert parse_train_args("--resume").resume
    for text, words in {"--work-dir /tmp/x": "--work-dir is set by the task's output folder",
                        "--cfg-options a=1": "the key cfg_options", "--launcher=slurm": "--launcher is set by gpu_id",
                        "--local_rank 0": "gpu_id",
                        "--epochs 3": "flags among --amp", "--seed x": "invalid int value"}.items():
        with pytest.raises(ConfigError) as e:
            parse_train_args(text)
        assert "'args_options'" in e.value.message and words in e.value.message, (text, e.value.message)
