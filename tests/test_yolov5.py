"""What is special to executors/yolov5 (the conformance suite, tests/test_conformance.py, runs what every executor
must do): its stages and ONNX export, its model names and their official weights, the build-time weight check."""
import os
import pickletools
import zipfile

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
    from ymir_sdk.yolov5.params import DetectionTrainParams as TrainParams

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
    from ymir_sdk.yolov5.params import DetectionTrainParams as TrainParams, InferParams
    from ymir_sdk import ConfigError

    for params in (TrainParams, InferParams) if key == "img_size" and "model" not in raw else (TrainParams,):
        with pytest.raises(ConfigError) as e:
            params.parse(raw)
        assert e.value.key == key, e.value.message


@pytest.fixture(scope="module")
def yolov5_train(tmp_path_factory):
    from ymir_sdk.yolov5.common import prepare_offline

    prepare_offline(str(tmp_path_factory.mktemp("yolo")))
    import yolov5.segment.train as segment
    import yolov5.train as detect

    return detect, segment


def test_args_options_are_yolov5_s_own_flags(yolov5_train):
    """yolov5's own parser reads args_options (its aliases, abbreviations and types); what a task's key owns, or
    what reaches outside the task, is a 300001 naming the flag and its owner."""
    from ymir_sdk import ConfigError
    from ymir_sdk.yolov5.common import parse_args_options

    detect, segment = yolov5_train
    got = parse_args_options(detect, "--cos-lr --label-smoothing 0.1 --optim AdamW --freeze 0 1 --seed=3 --exist-ok")
    assert got == {"cos_lr": True, "label_smoothing": 0.1, "optimizer": "AdamW", "freeze": [0, 1], "seed": 3,
                   "exist_ok": True}
    assert parse_args_options(segment, "--mask-ratio 2 --no-overlap") == {"mask_ratio": 2, "no_overlap": True}
    assert parse_args_options(detect, "") == {}
    refused = {
        "--img 96": "set by img_size", "--img-size 96": "set by img_size", "--batch 8": "set by batch_size_per_gpu",
        "--epochs 3": "set by epochs", "--weights x.pt": "pretrained_model_params", "--cfg a.yaml": "set by model",
        "--save-period 1": "set by save_period", "--noval": "model stages", "--resume": "trains from its pretrained",
        "--evolve": "one training", "--device 0": "set by gpu_id", "--upload_dataset": "not offered in a task",
        "--bucket b": "not offered in a task", "--no-such-flag": "unrecognized arguments",
        "--optimizer Lion": "invalid choice", "--epochs three": "invalid int value",
        "--hyp 'unclosed": "No closing quotation",
    }
    for text, words in refused.items():
        with pytest.raises(ConfigError) as e:
            parse_args_options(detect, text)
        assert "'args_options'" in e.value.message and words in e.value.message, (text, e.value.message)


def test_training_outputs(trained):
    assert cli("verify", trained, "--task", "train").returncode == 0
    result = yaml.safe_load(open(os.path.join(trained, "out", "models", "result.yaml")))
    assert set(result["model_stages"]) == {"best", "epoch_1", "epoch_2"}
    assert result["model_stages"]["best"]["files"] == ["best.pt", "best.onnx", "class-counts.json"]
    assert result["evaluate_config"] == {"iou_thr": 0.5, "conf_thr": 0.001}
    assert os.listdir(os.path.join(trained, "out", "tensorboard"))


# ------------------------------------------------------------------ pretrained weights in the image
def test_every_offered_model_has_its_weights_listed():
    from typing import get_args

    from executors.yolov5 import Yolov5Executor
    from ymir_sdk.yolov5.params import DETECTION_WEIGHTS as WEIGHTS, DetectionModel as ModelName

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




# ------------------------------------------------------------------ models of the reference images
def _as_reference_image_stage(best, path, work):
    """``best.pt`` re-saved the way the reference images' yolov5 (a fork of ultralytics 6.1) saved a stage: the
    model pickled as ``models.yolo.Model`` with its layers from the repository's top-level ``models`` package, in
    half precision, names a list, the optimizer and EMA stripped, ``best_fitness`` a NumPy array."""
    import numpy as np
    import torch

    from ymir_sdk.torch import load_checkpoint
    from ymir_sdk.yolov5.common import model_yaml, prepare_offline

    prepare_offline(work)
    import models.common
    import models.yolo

    trained = load_checkpoint(best)
    trained = (trained.get("ema") or trained["model"]).float()
    names = trained.names
    names = list(names.values()) if isinstance(names, dict) else list(names)
    model = models.yolo.Model(model_yaml("yolov5n"), nc=len(names))
    model.load_state_dict(trained.state_dict())
    for m in model.modules():  # its layers as the repository's models.common (the package builds its own)
        if type(m).__module__ == "yolov5.models.common":
            m.__class__ = getattr(models.common, type(m).__name__)
        if isinstance(getattr(m, "type", None), str):
            m.type = m.type.replace("yolov5.models.", "models.")
    model.nc, model.names, model.hyp = len(names), names, dict(getattr(trained, "hyp", {}))  # as 6.1 train.py
    cls = models.yolo.DetectionModel  # 7.0's Model is this class: 6.1 pickled it under the name Model
    saved = cls.__qualname__, cls.__name__
    cls.__qualname__ = cls.__name__ = "Model"
    try:
        torch.save({"epoch": -1, "best_fitness": np.array([0.5]), "model": model.half(), "ema": None, "updates": None,
                    "optimizer": None, "wandb_id": None, "date": "2022-11-23T10:00:00"}, path)
    finally:
        cls.__qualname__, cls.__name__ = saved


def test_a_model_of_the_reference_image_infers_mines_and_fine_tunes(trained, tmp_path):
    """A stage of the reference images (ultralytics 6.1 layout, made here from the shared training's best.pt)
    passes the safe loader, the architecture check of a fine-tuning, yolov5's own load (what its train.py does
    with pretrained weights) and the task's model load (inference and mining): same outputs as the model it was
    made from."""
    import torch

    from ymir_sdk.torch import load_checkpoint
    from ymir_sdk.yolov5.common import check_architecture, load_model, model_yaml

    old = str(tmp_path / "best.pt")
    _as_reference_image_stage(_best(trained), old, str(tmp_path))
    with zipfile.ZipFile(old) as z:  # torch.save's zip: the pickle is data.pkl
        data = z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))
    names = {arg for op, arg, _ in pickletools.genops(data) if op.name == "GLOBAL"}
    assert "models.yolo Model" in names and not [n for n in names if n.startswith("yolov5")], names  # the old layout
    nc = load_checkpoint(old)["model"].nc
    check_architecture(old, model_yaml("yolov5n"))
    assert torch.load(old, map_location="cpu")["model"].nc == nc  # yolov5's train.py (weights_only on torch >= 2.6)
    x, cpu = torch.rand(1, 3, 64, 64), torch.device("cpu")
    with torch.no_grad():
        got, want = load_model(old, nc, cpu)(x)[0], load_model(_best(trained), nc, cpu)(x)[0]
    assert got.shape == want.shape and torch.allclose(got, want, atol=1e-4)
