"""executors/mmdet (YOLOX on released mmdet 3.x) end to end on generated data, on the CPU, through
`ymir-sdk run` and `ymir-sdk verify`; the shared OpenMMLab glue (config re-derivation, cfg_options, hooks)."""
import json
import os
import shutil

import pytest
import yaml

from conftest import (ROOT, check_empty_training_set, check_training_from_image_weights,
                      check_two_processes_lose_no_image, cli, executor_log, monitor_line, write_payload_checkpoint)

EXECUTOR = os.path.join(ROOT, "executors", "mmdet")
IMG_MAN = os.path.join(EXECUTOR, "img-man")
pytest.importorskip("mmcv")
pytest.importorskip("mmdet")
pytestmark = pytest.mark.images  # also on the images' stack

# YOLOX-tiny at 128 px: the mosaic canvas, the multi-scale range and the test resize follow img_scale
SMALL = ("img_scale=(128,128) model.data_preprocessor.batch_augments.0.random_size_range=(96,160) "
         "val_dataloader.dataset.pipeline.1.scale=(128,128) test_dataloader.dataset.pipeline.1.scale=(128,128)")
FAST = ["--set", "samples_per_gpu=4", "--set", "workers_per_gpu=0", "--set", f"cfg_options={SMALL}"]


def _executor_module():
    import executors.mmdet.executor as module

    return module


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from ymir_sdk.synthetic import write_ark_dataset

    root = str(tmp_path_factory.mktemp("mmdet-data"))
    write_ark_dataset(root, n_train=16, n_val=6, size=(128, 128))
    return root


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    work = str(tmp_path_factory.mktemp("mmdet") / "train")
    r = cli("run", "mmdet", "--task", "train", "--dataset", dataset, "--work", work, "--no-progress", *FAST,
            "--set", "max_epochs=24", "--set", "val_interval=8", "--set", "max_keep_checkpoints=1",
            "--set", "args_options=--seed 0 --deterministic",
            timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return work


# ------------------------------------------------------------------ templates
def test_templates_are_the_params_models_and_the_seed():
    m = _executor_module()
    ex = m.MmdetExecutor
    for name, model in (("training", ex.TrainParams), ("infer", ex.InferParams), ("mining", ex.MineParams)):
        with open(os.path.join(IMG_MAN, f"{name}-template.yaml")) as f:
            assert yaml.safe_load(f) == model.template()
    train = ex.TrainParams.template()
    assert {k: train[k] for k in ("shm_size", "export_format", "config_file", "samples_per_gpu", "workers_per_gpu",
                                  "max_epochs", "args_options", "cfg_options", "metric", "val_interval",
                                  "max_keep_checkpoints")} == {
        "shm_size": "128G", "export_format": "ark:raw", "config_file": "configs/yolox/yolox_tiny_8x8_300e_coco.py",
        "samples_per_gpu": 16, "workers_per_gpu": 4, "max_epochs": 100, "args_options": "", "cfg_options": "",
        "metric": "bbox", "val_interval": 1, "max_keep_checkpoints": 1}
    infer = ex.InferParams.template()
    assert infer["conf_threshold"] == 0.2 and infer["cfg_options"] == "" and infer["shm_size"] == "128G"
    mine = ex.MineParams.template()
    assert mine["mining_algorithm"] == "aldd" and mine["cfg_options"] == "" and mine["shm_size"] == "128G"
    assert cli("check-image", EXECUTOR).returncode == 0


def test_yolox_config_names():
    from ymir_sdk.openmmlab.config import resolve_config_file

    m = _executor_module()
    for size in ("tiny", "s", "l", "x"):
        for name in (f"configs/yolox/yolox_{size}_8x8_300e_coco.py", f"configs/yolox/yolox_{size}_8xb8-300e_coco.py",
                     f"yolox/yolox_{size}_8xb8-300e_coco.py"):
            path = resolve_config_file(name, "mmdet", m.ALIASES)
            assert path.endswith(f"yolox_{size}_8xb8-300e_coco.py") and os.path.isfile(path)
    other = resolve_config_file("configs/rtmdet/rtmdet_tiny_8xb32-300e_coco.py", "mmdet", m.ALIASES)
    assert os.path.isfile(other)


# ------------------------------------------------------------------ glue: config re-derivation
def _build(tmp_path, config, max_epochs, **kw):
    from ymir_sdk.openmmlab.config import build_config

    return build_config(config, work_dir=str(tmp_path), classes=["a", "b", "c"], train_json="/d/train.json",
                        val_json="/d/val.json", batch_size=2, workers=0, max_epochs=max_epochs, **kw)


def test_short_run_still_reaches_the_stage_two_pipeline(tmp_path):
    """max_epochs below the base config's switch epoch (YOLOX 285/300, RTMDet 280/300): the last phase is
    re-derived at the source so that it starts inside the run, and the schedulers fit the run."""
    from ymir_sdk.openmmlab.config import resolve_config_file

    yolox = _build(tmp_path / "a", resolve_config_file("yolox/yolox_s_8xb8-300e_coco.py", "mmdet"), 4)
    switch = next(h for h in yolox.custom_hooks if h["type"] == "YOLOXModeSwitchHook")
    assert switch["num_last_epochs"] == 2  # half of a 4-epoch run (the base's 15 does not fit)
    assert all(s.get("end", 0) <= 4 for s in yolox.param_scheduler)
    assert any(s["type"] == "ConstantLR" and s["begin"] == 2 for s in yolox.param_scheduler)
    assert yolox.model.bbox_head.num_classes == 3 and yolox.train_cfg.max_epochs == 4

    rtm = _build(tmp_path / "b", resolve_config_file("rtmdet/rtmdet_tiny_8xb32-300e_coco.py", "mmdet"), 6)
    pipe = next(h for h in rtm.custom_hooks if h["type"] == "PipelineSwitchHook")
    assert pipe["switch_epoch"] == 3  # max_epochs - stage2_num_epochs, with stage2 = 3 of 6
    assert rtm.train_cfg.dynamic_intervals == [(3, 1)]
    cosine = next(s for s in rtm.param_scheduler if s["type"] == "CosineAnnealingLR")
    assert cosine["begin"] == 3 and cosine["end"] == 6 and cosine["T_max"] == 3
    # the base's backbone init downloads a checkpoint: removed, nothing is fetched
    assert not rtm.model.backbone.get("init_cfg")
    # a long run keeps the base's last phase
    long = _build(tmp_path / "c", resolve_config_file("yolox/yolox_s_8xb8-300e_coco.py", "mmdet"), 100)
    assert next(h for h in long.custom_hooks if h["type"] == "YOLOXModeSwitchHook")["num_last_epochs"] == 15


def test_cfg_options_win_and_top_level_variables_are_re_derived(tmp_path):
    from ymir_sdk.openmmlab.config import parse_cfg_options, resolve_config_file

    opts = parse_cfg_options("num_last_epochs=5 model.test_cfg.score_thr=0.05 train_dataloader.batch_size=3")
    cfg = _build(tmp_path, resolve_config_file("yolox/yolox_s_8xb8-300e_coco.py", "mmdet"), 20, cfg_options=opts)
    assert next(h for h in cfg.custom_hooks if h["type"] == "YOLOXModeSwitchHook")["num_last_epochs"] == 5
    cosine = next(s for s in cfg.param_scheduler if s["type"] == "CosineAnnealingLR")
    assert cosine["end"] == 15  # max_epochs - num_last_epochs, recomputed by the config itself
    assert cfg.model.test_cfg.score_thr == 0.05 and cfg.train_dataloader.batch_size == 3


@pytest.mark.parametrize("text", ["a", "a=1 b", "a='x", "x=[1,2", "m=(1,2", "=3", ".a=1"])
def test_cfg_options_that_do_not_parse(text):
    from ymir_sdk import ConfigError
    from ymir_sdk.openmmlab.config import parse_cfg_options

    with pytest.raises(ConfigError) as e:
        parse_cfg_options(text)
    assert e.value.key == "cfg_options" and repr(text) in str(e.value)


def test_cfg_options_values():
    from ymir_sdk.openmmlab.config import parse_cfg_options

    assert parse_cfg_options("a.b=1 c=[1,2] d='x y' e=a,b g=true h=None i=1e-3 j=abc") == {
        "a.b": 1, "c": [1, 2], "d": "x y", "e": ["a", "b"], "g": True, "h": None, "i": 0.001, "j": "abc"}


# ------------------------------------------------------------------ end to end
def test_training_outputs(trained):
    v = cli("verify", trained, "--task", "train")
    assert v.returncode == 0, v.stdout
    result = yaml.safe_load(open(os.path.join(trained, "out", "models", "result.yaml")))
    stages = result["model_stages"]
    # validated at epochs 8, 16, 24; max_keep_checkpoints 1: the latest and the best remain, and nothing
    # points at deleted files
    assert "epoch_24" in stages and 1 <= len(stages) <= 2
    assert result["best_stage_name"] in stages
    for name, stage in stages.items():
        assert stage["files"] == [f"{name}.pth", "yolox_tiny_8xb8-300e_coco.py"]
        for f in stage["files"]:
            assert os.path.isfile(os.path.join(trained, "out", "models", name, f))
        assert {"mAP", "mAR", "tp", "fp", "fn", "mAP_50_95"} <= set(stage)
    removed = {f"epoch_{i}" for i in (8, 16, 24)} - set(stages)
    assert len(removed) >= 1
    for name in removed:
        assert not os.path.exists(os.path.join(trained, "out", "models", name))
    assert result["evaluate_config"] == {"iou_thr": 0.5, "conf_thr": 0.01}
    assert os.listdir(os.path.join(trained, "out", "tensorboard"))
    text = executor_log(trained)
    assert "No mosaic and mixup aug now!" in text  # the stage-2 pipeline ran in a 24-epoch run
    assert "config variables set at their source" in text and "num_last_epochs=12" in text


@pytest.mark.parametrize("task,algorithm", [("infer", None), ("mine", "aldd"), ("mine", "cald"),
                                            ("mine", "entropy"), ("mine+infer", "random"), ("mine+infer", "aldd")])
def test_infer_and_mine(dataset, trained, tmp_path, task, algorithm):
    work = str(tmp_path / "w")
    extra = ["--set", f"mining_algorithm={algorithm}"] if algorithm else []
    r = cli("run", "mmdet", "--task", task, "--dataset", dataset, "--work", work, "--model", trained,
            "--no-progress", "--set", "conf_threshold=0.01", "--set", "samples_per_gpu=4", "--set", "workers_per_gpu=1",
            *extra, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    v = cli("verify", work, "--task", task)
    assert v.returncode == 0, v.stdout
    if task == "infer":
        detections = json.load(open(os.path.join(work, "out", "infer-result.json")))["detection"]
        assert len(detections) == 6 and sum(len(d["boxes"]) for d in detections.values()) > 0


def test_two_processes_lose_no_image(dataset, trained, tmp_path):
    """Inference and mining sharded over 2 torchrun processes (gloo, CPU): every candidate exactly once."""
    check_two_processes_lose_no_image(EXECUTOR, dataset, trained, tmp_path,
                                      {"mining_algorithm": "entropy", "conf_threshold": "0.01",
                                       "samples_per_gpu": "3", "workers_per_gpu": "0"})


# ------------------------------------------------------------------ malformed inputs
def _train(dataset, work, *sets):
    return cli("run", "mmdet", "--task", "train", "--dataset", dataset, "--work", work, "--no-progress", *FAST,
               "--set", "max_epochs=1", *sets)


@pytest.mark.parametrize("sets,key", [
    (["--set", "cfg_options=model.test_cfg.score_thr=[0.1"], "cfg_options"),
    (["--set", "cfg_options=model.x"], "cfg_options"),
    (["--set", "cfg_options=load_from=https://download.openmmlab.com/x.pth"], "cfg_options"),
    (["--set", "config_file=configs/yolox/yolox_huge.py"], "config_file"),
    (["--set", "args_options=--launcher slurm; touch /tmp/ymir-pwned"], "args_options"),
    (["--set", "metric=segm"], "metric"),
    (["--set", "max_keep_checkpoints=0"], "max_keep_checkpoints"),
    (["--set", "max_epochs=zero"], "max_epochs"),
])
def test_bad_training_settings(dataset, tmp_path, sets, key):
    work = str(tmp_path / "w")
    r = _train(dataset, work, *sets)
    assert r.returncode != 0
    line = monitor_line(work)
    assert line[3:5] == ["4", "300001"] and f"'{key}'" in line[5], line
    assert not os.path.exists("/tmp/ymir-pwned")


def test_bad_inference_cfg_options(dataset, trained, tmp_path):
    work = str(tmp_path / "w")
    r = cli("run", "mmdet", "--task", "infer", "--dataset", dataset, "--work", work, "--model", trained,
            "--no-progress", "--set", "cfg_options=model.test_cfg.score_thr='0.1")
    assert r.returncode != 0
    line = monitor_line(work)
    assert line[3:5] == ["4", "300001"] and "'cfg_options'" in line[5]


def _model_package(trained, tmp_path, edit):
    """A copy of the trained run's output whose best stage is changed by ``edit(stage_dir, stage)``."""
    work = str(tmp_path / "model")
    shutil.copytree(os.path.join(trained, "out"), os.path.join(work, "out"))
    result = yaml.safe_load(open(os.path.join(work, "out", "models", "result.yaml")))
    stage = result["best_stage_name"]
    edit(os.path.join(work, "out", "models", stage), result["model_stages"][stage])
    return work


def test_corrupt_and_foreign_weights(dataset, trained, tmp_path):
    def corrupt(stage_dir, stage):
        with open(os.path.join(stage_dir, stage["files"][0]), "wb") as f:
            f.write(b"garbage")

    def foreign(stage_dir, stage):  # the weights of yolox-tiny under the config of yolox-s
        from ymir_sdk.openmmlab.config import resolve_config_file

        cfg_file = os.path.join(stage_dir, stage["files"][1])
        text = open(cfg_file).read()
        s_cfg = resolve_config_file("yolox/yolox_s_8xb8-300e_coco.py", "mmdet")
        assert "widen_factor=0.375" in text
        open(cfg_file, "w").write(text.replace("widen_factor=0.375", "widen_factor=0.5"))
        assert os.path.isfile(s_cfg)

    def payload(stage_dir, stage):  # runs a command when loaded with plain pickle (mmengine's loader on torch 1.x)
        write_payload_checkpoint(os.path.join(stage_dir, stage["files"][0]), tmp_path / "pwned")

    for name, edit in (("corrupt", corrupt), ("foreign", foreign), ("payload", payload)):
        model = _model_package(trained, tmp_path / name, edit)
        work = str(tmp_path / name / "w")
        r = cli("run", "mmdet", "--task", "infer", "--dataset", dataset, "--work", work, "--model", model,
                "--no-progress")
        assert r.returncode != 0, name
        line = monitor_line(work)
        assert line[3:5] == ["4", "300004"] and ".pth" in line[5], (name, line)
    assert not (tmp_path / "pwned").exists()


def test_a_pickle_payload_as_pretrained_model_never_runs(dataset, trained, tmp_path):
    def payload(stage_dir, stage):
        write_payload_checkpoint(os.path.join(stage_dir, stage["files"][0]), tmp_path / "pwned")

    model = _model_package(trained, tmp_path, payload)
    work = str(tmp_path / "w")
    r = cli("run", "mmdet", "--task", "train", "--dataset", dataset, "--work", work, "--model", model,
            "--no-progress", *FAST, "--set", "max_epochs=1")
    assert r.returncode != 0
    line = monitor_line(work)
    assert line[3:5] == ["4", "300004"] and ".pth" in line[5], line
    assert not (tmp_path / "pwned").exists()


def test_aldd_on_a_head_without_objectness(dataset, tmp_path):
    """ALDD needs objectness maps (YOLOX-type heads): an RTMDet model is refused with a 300001 naming
    mining_algorithm, before any image is scored."""
    from mmengine.registry import MODELS, init_default_scope

    from ymir_sdk.openmmlab import prepare_openmmlab
    from ymir_sdk.openmmlab.config import resolve_config_file
    from ymir_sdk.openmmlab.hooks import save_weights
    from ymir_sdk.results import TrainingResult

    prepare_openmmlab([])
    cfg = _build(tmp_path / "cfg", resolve_config_file("rtmdet/rtmdet_tiny_8xb32-300e_coco.py", "mmdet"), 2)
    cfg.model.bbox_head.num_classes = 2
    init_default_scope("mmdet")
    model = MODELS.build(cfg.model)
    out = tmp_path / "model" / "out" / "models"
    stage = out / "epoch_1"
    stage.mkdir(parents=True)
    save_weights(model, str(stage / "epoch_1.pth"), {"dataset_meta": {"classes": ("square", "disc")}})
    cfg.dump(str(stage / "rtmdet.py"))
    TrainingResult(str(out)).add_stage("epoch_1", [str(stage / "epoch_1.pth"), str(stage / "rtmdet.py")],
                                      {"mAP": 0.0})
    work = str(tmp_path / "w")
    r = cli("run", "mmdet", "--task", "mine", "--dataset", dataset, "--work", work, "--model",
            str(tmp_path / "model"), "--no-progress", "--set", "mining_algorithm=aldd")
    assert r.returncode != 0
    line = monitor_line(work)
    assert line[3:5] == ["4", "300001"] and "'mining_algorithm'" in line[5] and "entropy" in line[5], line


def test_iteration_based_config_and_absolute_bases(tmp_path):
    """An iteration-counting config (mmseg-style schedule) runs max_epochs passes over the training set, its
    schedule scaled to that length; a config whose _base_ is an absolute path is re-derived too."""
    from ymir_sdk.openmmlab.config import build_config, resolve_config_file

    base = resolve_config_file("yolox/yolox_s_8xb8-300e_coco.py", "mmdet")
    child = tmp_path / "user" / "my_config.py"
    child.parent.mkdir()
    child.write_text(f"_base_ = {base!r}\n"
                     "train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=1000, val_interval=100)\n"
                     "param_scheduler = [\n"
                     "    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),\n"
                     "    dict(type='PolyLR', eta_min=0.0, power=0.9, by_epoch=False, begin=100, end=1000)]\n")
    cfg = build_config(str(child), work_dir=str(tmp_path / "w"), classes=["a"], train_json="/t.json",
                       val_json="/v.json", batch_size=4, workers=0, max_epochs=5, val_interval=2, train_size=40)
    # 40 images / batch 4 = 10 iterations per epoch; 5 epochs = 50 iterations, validation every 2 epochs
    assert cfg.train_cfg == {"type": "IterBasedTrainLoop", "max_iters": 50, "val_interval": 20}
    assert [(s["begin"], s["end"]) for s in cfg.param_scheduler] == [(0, 5), (5, 50)]
    assert cfg.default_hooks.checkpoint.by_epoch is False and cfg.log_processor.by_epoch is False
    # the absolute base was copied and re-derived as well: its num_last_epochs follows max_epochs
    assert next(h for h in cfg.custom_hooks if h["type"] == "YOLOXModeSwitchHook")["num_last_epochs"] == 2


def test_empty_training_set(dataset, tmp_path):
    check_empty_training_set(EXECUTOR, dataset, tmp_path, {"max_epochs": "1"})



def test_pretrained_weights_of_another_architecture(dataset, trained, tmp_path):
    """yolox-tiny weights offered to a yolox-s training: refused (300004) instead of loading the few tensors
    that happen to match."""
    work = str(tmp_path / "w")
    r = cli("run", "mmdet", "--task", "train", "--dataset", dataset, "--work", work, "--model", trained,
            "--no-progress", *FAST, "--set", "max_epochs=1",
            "--set", "config_file=configs/yolox/yolox_s_8xb8-300e_coco.py")
    assert r.returncode != 0
    line = monitor_line(work)
    assert line[3:5] == ["4", "300004"] and "do not fit" in line[5], line


def test_fine_tuning_from_a_trained_model(dataset, trained, tmp_path):
    work = str(tmp_path / "w")
    r = cli("run", "mmdet", "--task", "train", "--dataset", dataset, "--work", work, "--model", trained,
            "--no-progress", *FAST, "--set", "max_epochs=1")
    assert r.returncode == 0, r.stdout[-3000:]
    assert "100% of the model's tensors match" in executor_log(work)
    assert cli("verify", work, "--task", "train").returncode == 0


def test_options_cannot_bring_downloads(tmp_path):
    """cfg_options win, but not to fetch weights: a URL init_cfg they add is removed like the base's."""
    from ymir_sdk.openmmlab.config import parse_cfg_options, resolve_config_file

    opts = parse_cfg_options("model.backbone.init_cfg.type=Pretrained "
                             "model.backbone.init_cfg.checkpoint=https://download.openmmlab.com/x.pth")
    cfg = _build(tmp_path, resolve_config_file("yolox/yolox_s_8xb8-300e_coco.py", "mmdet"), 4, cfg_options=opts)
    assert not cfg.model.backbone.get("init_cfg")


def test_max_epochs_in_cfg_options_drives_the_loop_and_the_derived_values(tmp_path):
    from ymir_sdk.openmmlab.config import parse_cfg_options, resolve_config_file

    cfg = _build(tmp_path, resolve_config_file("yolox/yolox_s_8xb8-300e_coco.py", "mmdet"), 100,
                 cfg_options=parse_cfg_options("max_epochs=6"))
    assert cfg.train_cfg.max_epochs == 6 and cfg.max_epochs == 6
    assert next(h for h in cfg.custom_hooks if h["type"] == "YOLOXModeSwitchHook")["num_last_epochs"] == 3


# ------------------------------------------------------------------ pretrained weights in the image
TINY = "yolox/yolox_tiny_8xb8-300e_coco.py"


def test_every_offered_model_has_its_weights_listed():
    """The default config and the seed's YOLOX sizes have their official COCO weights listed, with the URLs of
    mmdet's own model index (the package's metafile)."""
    from ymir_sdk.openmmlab.config import config_key, package_config_root, resolve_config_file

    m = _executor_module()
    default = config_key(resolve_config_file(m.TrainParams().config_file, "mmdet", m.ALIASES), "mmdet")
    assert default == TINY
    assert set(m.WEIGHTS) == {f"yolox/yolox_{s}_8xb8-300e_coco.py" for s in ("tiny", "s", "l", "x")}
    assert m.MmdetExecutor.pretrained_weights is m.WEIGHTS
    index = yaml.safe_load(open(os.path.join(package_config_root("mmdet"), "yolox", "metafile.yml")))
    zoo = {entry["Config"]: entry["Weights"] for entry in index["Models"]}
    for key, url in m.WEIGHTS.items():
        assert zoo["configs/" + key] == url


def _coco_tiny_checkpoint(path):
    """A checkpoint shaped like the official YOLOX-tiny COCO weights (80 classes), made here."""
    from mmengine.runner.checkpoint import save_checkpoint

    from ymir_sdk.openmmlab import prepare_openmmlab
    from ymir_sdk.openmmlab.config import load_plain_config, resolve_config_file
    from ymir_sdk.openmmlab.infer import model_of

    prepare_openmmlab([])
    model = model_of(load_plain_config(resolve_config_file(TINY, "mmdet")))
    save_checkpoint({"state_dict": model.state_dict(), "meta": {}}, str(path))
    return str(path)


def test_build_time_verification_of_the_weights(tmp_path):
    from ymir_sdk import ModelError
    from ymir_sdk.weights import file_name, sha256_prefix

    m = _executor_module()
    folder = tmp_path / "weights"
    folder.mkdir()
    made = _coco_tiny_checkpoint(folder / file_name(m.WEIGHTS[TINY]))
    # the file is a YOLOX-tiny, but not the published one: its sha256 is not the one its name promises
    r = cli("weights", "executors.mmdet", "--dest", str(folder), "--only", TINY)
    assert r.returncode == 1 and "does not match the b4047906 its name promises" in r.stdout, r.stdout + r.stderr
    assert sha256_prefix(made) == "b4047906"
    # the model check itself: YOLOX-tiny weights are the tiny model, not the s one
    m.MmdetExecutor().check_weights(TINY, made)
    with pytest.raises(ModelError, match="do not fit"):
        m.MmdetExecutor().check_weights("yolox/yolox_s_8xb8-300e_coco.py", made)


def test_training_starts_from_the_image_weights(dataset, tmp_path, monkeypatch):
    m = _executor_module()
    folder = tmp_path / "weights"
    folder.mkdir()
    made = _coco_tiny_checkpoint(folder / os.path.basename(m.WEIGHTS[TINY]))
    text = check_training_from_image_weights(lambda work: _train(dataset, work), tmp_path, made, monkeypatch,
                                             "Load checkpoint from")
    assert "of the model's tensors match" in text  # the 80-class head does not fit the task's classes
