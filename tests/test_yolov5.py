"""What is special to executors/yolov5 (the conformance suite, tests/test_conformance.py, runs what every executor
must do): its stages and ONNX export, its model names and their official weights, the build-time weight check."""
import os

import pytest
import yaml

from conftest import cli, require_executor

require_executor("yolov5", "yolov5")
pytestmark = pytest.mark.images  # also on the images' stack


@pytest.fixture(scope="module")
def trained(trained_model):
    """The conformance suite's yolov5n training (2 epochs at 64 px, a stage every epoch)."""
    return trained_model("yolov5")


def test_activation_is_also_read_as_activation():
    from executors.yolov5.executor import TrainParams

    assert TrainParams.parse({"activation": "ReLU"}).activate == "ReLU"


@pytest.mark.parametrize("raw,key", [
    ({"activate": "Linear"}, "activate"),  # a torch.nn class, not an activation
    ({"activate": "Threshold"}, "activate"),  # an activation that needs arguments
    ({"activate": "os.system"}, "activate"),
    ({"img_size": "100"}, "img_size"),  # not a multiple of the stride
    ({"img_size": "100000"}, "img_size"),  # beyond what memory allows
    ({"model": "yolov5s6", "img_size": "672"}, "img_size"),  # P6 models: multiples of 64
])
def test_hyper_parameters_have_the_bounds_the_models_accept(raw, key):
    """Checked when config.yaml is read, before any work: a 300001 error naming the key."""
    from executors.yolov5.executor import InferParams, TrainParams
    from ymir_sdk import ConfigError

    for params in (TrainParams, InferParams) if key == "img_size" and "model" not in raw else (TrainParams,):
        with pytest.raises(ConfigError) as e:
            params.parse(raw)
        assert e.value.key == key, e.value.message


def test_training_outputs(trained):
    assert cli("verify", trained, "--task", "train").returncode == 0
    result = yaml.safe_load(open(os.path.join(trained, "out", "models", "result.yaml")))
    assert set(result["model_stages"]) == {"best", "epoch_1", "epoch_2"}
    assert result["model_stages"]["best"]["files"] == ["best.pt", "best.onnx"]
    assert result["evaluate_config"] == {"iou_thr": 0.5, "conf_thr": 0.001}
    assert os.listdir(os.path.join(trained, "out", "tensorboard"))


# ------------------------------------------------------------------ pretrained weights in the image
def test_every_offered_model_has_its_weights_listed():
    from typing import get_args

    from executors.yolov5.executor import WEIGHTS, ModelName, Yolov5Executor

    assert set(get_args(ModelName)) == set(WEIGHTS) and Yolov5Executor.pretrained_weights is WEIGHTS
    for model, url in WEIGHTS.items():
        assert url == f"https://github.com/ultralytics/yolov5/releases/download/v7.0/{model}.pt"


def _best(trained):
    return os.path.join(trained, "out", "models", "best", "best.pt")


def test_build_time_verification_of_the_weights(trained, tmp_path):
    """What the image build runs (`python3 -m ymir_sdk weights executors.yolov5 --fetch`, here without the fetch) on
    checkpoints the test made: the named model passes; another model under its name, a truncated file and a
    missing one fail."""
    import shutil

    folder = tmp_path / "weights"
    folder.mkdir()
    shutil.copy(_best(trained), folder / "yolov5n.pt")
    r = cli("weights", "executors.yolov5", "--dest", str(folder), "--only", "yolov5n")
    assert r.returncode == 0, r.stdout + r.stderr
    # one run reports every problem: another model under a name, a cut file, a missing one - and not the good one
    shutil.copy(_best(trained), folder / "yolov5s.pt")  # a yolov5n under yolov5s's name
    data = open(_best(trained), "rb").read()
    (folder / "yolov5m.pt").write_bytes(data[: len(data) // 2])
    r = cli("weights", "executors.yolov5", "--dest", str(folder), *[a for k in ("n", "s", "m", "l")
                                                                    for a in ("--only", f"yolov5{k}")])
    assert r.returncode == 1
    problems = [line for line in r.stdout.splitlines() if line.startswith("yolov5")]
    assert len(problems) == 3 and not [p for p in problems if p.startswith("yolov5n:")], r.stdout
    assert "yolov5s: pretrained weights yolov5s.pt are not a yolov5s model" in r.stdout
    assert "yolov5m: model file" in r.stdout and "cannot be loaded" in r.stdout
    assert "yolov5l: " in r.stdout and "yolov5l.pt is missing" in r.stdout


