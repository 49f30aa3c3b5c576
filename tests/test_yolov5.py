"""executors/yolov5 end to end on generated data, on the CPU, through `ymir-sdk run` and `ymir-sdk verify`."""
import os

import pytest
import yaml

from conftest import (ROOT, check_empty_training_set, check_training_from_image_weights,
                      check_two_processes_lose_no_image, cli, monitor_line, run_start, write_payload_checkpoint)

EXECUTOR = os.path.join(ROOT, "executors", "yolov5")
pytest.importorskip("yolov5")
pytestmark = pytest.mark.images  # also on the images' stack
FAST = ["--set", "model=yolov5n", "--set", "img_size=64", "--set", "batch_size_per_gpu=8",
        "--set", "num_workers_per_gpu=0"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from ymir_sdk.synthetic import write_ark_dataset

    root = str(tmp_path_factory.mktemp("y5data"))
    write_ark_dataset(root, n_train=16, n_val=6, size=(64, 64))
    return root


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    work = str(tmp_path_factory.mktemp("y5") / "train")
    r = cli("run", "yolov5", "--task", "train", "--dataset", dataset, "--work", work, "--no-progress", *FAST,
            "--set", "epochs=2", "--set", "save_best_only=false", "--set", "save_period=1")
    assert r.returncode == 0, r.stdout + r.stderr
    return work


def test_templates_are_the_params_models():
    from executors.yolov5.executor import InferParams, MineParams, TrainParams

    for name, model in (("training", TrainParams), ("infer", InferParams), ("mining", MineParams)):
        with open(os.path.join(EXECUTOR, "img-man", f"{name}-template.yaml")) as f:
            assert yaml.safe_load(f) == model.template()
    assert cli("check-image", EXECUTOR).returncode == 0


def test_seed_keys_and_defaults():
    from executors.yolov5.executor import InferParams, MineParams, TrainParams

    assert TrainParams.template() == {
        "shm_size": "128G", "export_format": "ark:raw", "model": "yolov5s", "batch_size_per_gpu": 16,
        "num_workers_per_gpu": 4, "epochs": 100, "img_size": 640, "opset": 11, "args_options": "--exist-ok",
        "save_best_only": True, "save_period": 10, "sync_bn": False, "activate": ""}
    assert InferParams.template() == {"img_size": 640, "conf_thres": 0.25, "iou_thres": 0.45,
                                      "batch_size_per_gpu": 16, "num_workers_per_gpu": 4, "shm_size": "128G",
                                      "pin_memory": False}
    mine = MineParams.template()
    assert mine["mining_algorithm"] == "aldd" and mine["class_distribution_scores"] == ""
    assert TrainParams.parse({"activation": "ReLU"}).activate == "ReLU"


def test_training_outputs(trained):
    assert cli("verify", trained, "--task", "train").returncode == 0
    result = yaml.safe_load(open(os.path.join(trained, "out", "models", "result.yaml")))
    assert set(result["model_stages"]) == {"best", "epoch_1", "epoch_2"}
    assert result["model_stages"]["best"]["files"] == ["best.pt", "best.onnx"]
    assert result["evaluate_config"] == {"iou_thr": 0.5, "conf_thr": 0.001}
    assert os.listdir(os.path.join(trained, "out", "tensorboard"))


@pytest.mark.parametrize("task,algorithm", [("infer", None), ("mine", "aldd"), ("mine", "cald"),
                                            ("mine", "entropy"), ("mine+infer", "random")])
def test_infer_and_mine(dataset, trained, tmp_path, task, algorithm):
    work = str(tmp_path / "w")
    extra = ["--set", f"mining_algorithm={algorithm}"] if algorithm else []
    r = cli("run", "yolov5", "--task", task, "--dataset", dataset, "--work", work, "--model", trained,
            "--no-progress", "--set", "img_size=64", "--set", "conf_thres=0.001", *extra)
    assert r.returncode == 0, r.stdout + r.stderr
    v = cli("verify", work, "--task", task)
    assert v.returncode == 0, v.stdout


def test_two_processes_lose_no_image(dataset, trained, tmp_path):
    """Inference and mining sharded over 2 torchrun processes (gloo, CPU): every candidate exactly once."""
    check_two_processes_lose_no_image(EXECUTOR, dataset, trained, tmp_path,
                                      {"img_size": "64", "mining_algorithm": "entropy", "conf_thres": "0.001"})


# ------------------------------------------------------------------ malformed inputs


def _run_train(dataset, work, *sets):
    return cli("run", "yolov5", "--task", "train", "--dataset", dataset, "--work", work, "--no-progress", *FAST,
               "--set", "epochs=1", *sets)


def test_unknown_model_name(dataset, tmp_path):
    work = str(tmp_path / "w")
    assert _run_train(dataset, work, "--set", "model=yolov9").returncode != 0
    line = monitor_line(work)
    assert line[3:5] == ["4", "300001"] and "'model' = 'yolov9'" in line[5]


def test_args_options_never_reach_a_shell(dataset, tmp_path):
    work = str(tmp_path / "w")
    marker = tmp_path / "pwned"
    r = _run_train(dataset, work, "--set", f"args_options=--exist-ok; touch {marker} && echo $(id)")
    assert r.returncode != 0 and not marker.exists()
    line = monitor_line(work)
    assert line[3:5] == ["4", "300001"] and "args_options" in line[5]


def test_empty_training_set(dataset, tmp_path):
    check_empty_training_set(EXECUTOR, dataset, tmp_path, {"epochs": "1"})


def test_class_id_out_of_range_and_unreadable_image_are_reported(dataset, tmp_path):
    import shutil

    ds = str(tmp_path / "ds")
    shutil.copytree(dataset, ds)
    with open(os.path.join(ds, "annotations", "train", "train_00000.txt"), "a") as f:
        f.write("7, 1, 1, 10, 10, -1.0, 0.0\n")
    with open(os.path.join(ds, "images", "train", "broken.png"), "wb") as f:
        f.write(b"not an image")
    work = str(tmp_path / "w")
    r = _run_train(ds, work)
    assert r.returncode == 0, r.stdout
    logtext = open(os.path.join(work, "out", "ymir-executor-out.log")).read()
    assert "1 objects with a class outside class_names (dropped)" in logtext
    assert "1 unreadable images (dropped)" in logtext


def test_missing_corrupt_and_foreign_weights(dataset, trained, tmp_path):
    from ymir_sdk.localdata import read_dataset
    from ymir_sdk.runner import lay_out

    img_man = os.path.join(EXECUTOR, "img-man")
    # missing: the config names a file that is not there
    work = str(tmp_path / "missing")
    env_file = lay_out(work, read_dataset(dataset), "infer", img_man, {}, model=trained)
    cfg_path = os.path.join(work, "in", "config.yaml")
    cfg = yaml.safe_load(open(cfg_path))
    cfg["model_params_path"] = [os.path.join(work, "in", "models", "best", "nothere.pt")]
    yaml.safe_dump(cfg, open(cfg_path, "w"))
    r = run_start(EXECUTOR, env_file, timeout=300)
    assert r.returncode != 0 and monitor_line(work)[3:5] == ["4", "300004"]
    # corrupt: the weights file is garbage
    work = str(tmp_path / "corrupt")
    env_file = lay_out(work, read_dataset(dataset), "infer", img_man, {}, model=trained)
    cfg = yaml.safe_load(open(os.path.join(work, "in", "config.yaml")))
    weights = next(p for p in cfg["model_params_path"] if p.endswith(".pt"))
    os.unlink(weights)
    open(weights, "wb").write(b"garbage")
    r = run_start(EXECUTOR, env_file, timeout=300)
    assert r.returncode != 0
    line = monitor_line(work)
    assert line[3:5] == ["4", "300004"] and os.path.basename(weights) in line[5]
    # another architecture: a yolov5n checkpoint offered to a yolov5s training
    work = str(tmp_path / "foreign")
    r = cli("run", "yolov5", "--task", "train", "--dataset", dataset, "--work", work, "--model", trained,
            "--no-progress", "--set", "model=yolov5s", "--set", "epochs=1", "--set", "img_size=64")
    assert r.returncode != 0
    line = monitor_line(work)
    assert line[3:5] == ["4", "300004"] and "not a yolov5s model" in line[5]


def test_a_pickle_payload_as_model_never_runs(dataset, trained, tmp_path):
    """A model file that would run a command under plain pickle (what yolov5 itself uses on torch < 2.4): 300004
    in inference and as a training's pretrained model, and the command never runs."""
    from ymir_sdk.localdata import read_dataset
    from ymir_sdk.runner import lay_out

    marker = tmp_path / "pwned"
    for task in ("infer", "train"):
        work = str(tmp_path / task)
        env_file = lay_out(work, read_dataset(dataset), task, os.path.join(EXECUTOR, "img-man"),
                           {"model": "yolov5n", "img_size": "64", "epochs": "1"}, model=trained)
        cfg = yaml.safe_load(open(os.path.join(work, "in", "config.yaml")))
        key = "model_params_path" if task == "infer" else "pretrained_model_params"
        weights = next(p for p in cfg[key] if p.endswith(".pt"))
        os.unlink(weights)
        write_payload_checkpoint(weights, marker)
        r = run_start(EXECUTOR, env_file, timeout=300)
        assert r.returncode != 0
        line = monitor_line(work)
        assert line[3:5] == ["4", "300004"] and os.path.basename(weights) in line[5], line
        assert not marker.exists()


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
    """What the image build runs (`python3 -m ymir_sdk weights /app/executor --fetch`, here without the fetch) on
    checkpoints the test made: the named model passes; another model under its name, a truncated file and a
    missing one fail."""
    import shutil

    folder = tmp_path / "weights"
    folder.mkdir()
    shutil.copy(_best(trained), folder / "yolov5n.pt")
    r = cli("weights", "executors.yolov5", "--dest", str(folder), "--only", "yolov5n")
    assert r.returncode == 0, r.stdout + r.stderr
    shutil.copy(_best(trained), folder / "yolov5s.pt")  # a yolov5n under yolov5s's name
    r = cli("weights", "executors.yolov5", "--dest", str(folder), "--only", "yolov5s")
    assert r.returncode == 1 and "yolov5s: pretrained weights yolov5s.pt are not a yolov5s model" in r.stdout
    data = open(_best(trained), "rb").read()
    (folder / "yolov5n.pt").write_bytes(data[: len(data) // 2])
    r = cli("weights", "executors.yolov5", "--dest", str(folder), "--only", "yolov5n")
    assert r.returncode == 1 and "yolov5n: model file" in r.stdout and "cannot be loaded" in r.stdout
    r = cli("weights", "executors.yolov5", "--dest", str(folder))
    assert r.returncode == 1 and "yolov5m: " in r.stdout and "yolov5m.pt is missing" in r.stdout


def test_training_starts_from_the_image_weights(dataset, trained, tmp_path, monkeypatch):
    """No pretrained model chosen: the image's weights for the model (from $YMIR_WEIGHTS_DIR), said in the log;
    with none there, from scratch with a warning."""
    import shutil

    folder = tmp_path / "weights"
    folder.mkdir()
    shutil.copy(_best(trained), folder / "yolov5n.pt")
    check_training_from_image_weights(lambda work: _run_train(dataset, work), tmp_path, folder / "yolov5n.pt",
                                      monkeypatch, "Transferred")  # yolov5's line for the weights it loaded
