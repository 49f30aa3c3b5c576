"""What is special to executors/mmyolo (YOLOv5-v8, YOLOX, RTMDet and PP-YOLOE+ on the released mmyolo 0.6.0; the
conformance suite, tests/test_conformance.py, runs what every executor must do, with YOLOv5-n): the model table and
its official weights, a short YOLOv8-n training whose stage-2 pipeline runs, YOLOv7's validation interval, ALDD
refused for a head without objectness, and one training iteration of every family on the CPU."""
import os

import pytest
import yaml

from conftest import cli, executor_log, monitor_line, once, require_executor, sets_args
from executor_specs import EXECUTORS

require_executor("mmyolo", "mmcv", "mmyolo")
pytestmark = pytest.mark.images  # also on the images' stack
SPEC = EXECUTORS["mmyolo"]
#: every model_name the issue and the seed name, by family
OFFERED = ([f"yolov5_{s}" for s in "nsmlx"] + [f"yolov5_{s}_p6" for s in "nsmlx"]
           + [f"yolov6_{s}" for s in "ntsml"] + [f"yolov7_{s}" for s in ("tiny", "l", "x")]
           + [f"yolov8_{s}" for s in "nsmlx"] + [f"yolox_{s}" for s in ("nano", "tiny", "s", "m", "l", "x")]
           + [f"rtmdet_{s}" for s in ("tiny", "s", "m", "l", "x")] + [f"ppyoloe_plus_{s}" for s in "smlx"])


def _module():
    import executors.mmyolo.executor as module

    return module


@pytest.fixture(scope="module")
def dataset(executor_dataset):
    return executor_dataset("mmyolo")


# ------------------------------------------------------------------ the model table and its weights
def test_every_model_name_resolves_to_a_config_of_the_package():
    from ymir_sdk.errors import ConfigError
    from ymir_sdk.openmmlab.config import package_config_root, resolve_model_name

    models = _module().MODELS
    assert set(OFFERED) == set(models)
    root = package_config_root("mmyolo")
    for name, rel in models.items():
        path = resolve_model_name(name, models, "mmyolo")
        assert path == os.path.join(root, rel) and os.path.isfile(path), name
    # case, '-' and '_' do not matter; the choice never depends on a file listing
    assert resolve_model_name("YOLOv8-N", models, "mmyolo") == resolve_model_name("yolov8_n", models, "mmyolo")
    assert resolve_model_name(" PPYOLOE-plus-S ", models, "mmyolo").endswith("ppyoloe_plus_s_fast_8xb8-80e_coco.py")
    with pytest.raises(ConfigError) as e:
        resolve_model_name("yolov8_nn", models, "mmyolo")
    assert e.value.code == 300001 and "'model_name'" in str(e.value) and "did you mean yolov8_n" in str(e.value)


def test_every_offered_model_has_the_zoo_weights_listed():
    """Every model with COCO weights in mmyolo's own model index (the package's metafiles) has them listed,
    with the index's URL; the default model among them."""
    from ymir_sdk.openmmlab.config import package_config_root

    m = _module()
    root = package_config_root("mmyolo")
    zoo = {}
    for family in sorted({rel.split("/")[0] for rel in m.MODELS.values()}):
        index = yaml.safe_load(open(os.path.join(root, family, "metafile.yml")))
        # lower case: the index spells one config ppyoloe_plus_L_... (the file is ppyoloe_plus_l_...)
        zoo.update({e["Config"].lower(): e["Weights"] for e in index["Models"] if e.get("Weights")})
    listed = {rel for rel in m.MODELS.values() if "configs/" + rel in zoo}
    assert set(m.WEIGHTS) == listed and len(listed) >= 33
    for key, url in m.WEIGHTS.items():
        assert zoo["configs/" + key] == url, key
    assert m.MODELS[m.TrainParams().model_name] in m.WEIGHTS
    assert m.MmyoloExecutor.pretrained_weights is m.WEIGHTS


# ------------------------------------------------------------------ config re-derivation for mmyolo's families
def _build(tmp_path, model, max_epochs, **kw):
    from ymir_sdk.openmmlab.config import build_config, resolve_model_name

    fields = dict(work_dir=str(tmp_path), classes=["a", "b", "c"], train_json="/d/train.json",
                  val_json="/d/val.json", batch_size=2, workers=0, max_epochs=max_epochs,
                  coco_types=_module().MmyoloExecutor.coco_types)
    return build_config(resolve_model_name(model, _module().MODELS, "mmyolo"), **{**fields, **kw})


def test_short_runs_re_derive_every_family_s_last_phase(tmp_path):
    """max_epochs 10: the stage-2 switch of each family falls inside the run, YOLOv7's validation interval holds
    until its last phase (its num_epoch_stage2, singular), and the validation batch follows samples_per_gpu."""
    v7 = _build(tmp_path / "v7", "yolov7_tiny", 10, val_interval=3)
    assert v7.train_cfg.val_interval == 3 and v7.train_cfg.dynamic_intervals == [(5, 1)]
    v8 = _build(tmp_path / "v8", "yolov8_n", 10)
    assert next(h for h in v8.custom_hooks if h["type"].endswith("PipelineSwitchHook"))["switch_epoch"] == 5
    v5 = _build(tmp_path / "v5", "yolov5_n", 10, batch_size=6)
    assert v5.val_dataloader.batch_size == 6 and v5.val_dataloader.dataset.batch_shapes_cfg.batch_size == 6
    v6 = _build(tmp_path / "v6", "yolov6_n", 10)
    assert next(h for h in v6.custom_hooks if h["type"].endswith("PipelineSwitchHook"))["switch_epoch"] == 5
    rtm = _build(tmp_path / "rtm", "rtmdet_tiny", 10)
    assert next(h for h in rtm.custom_hooks if h["type"].endswith("PipelineSwitchHook"))["switch_epoch"] == 5
    yolox = _build(tmp_path / "x", "yolox_s", 10)
    assert next(h for h in yolox.custom_hooks if "ModeSwitch" in h["type"])["num_last_epochs"] == 5
    pp = _build(tmp_path / "pp", "ppyoloe_plus_s", 10)
    assert pp.default_hooks.param_scheduler.total_epochs == 12 and pp.load_from is None


def test_two_process_cpu_training_uses_plain_batchnorm(tmp_path, monkeypatch):
    """SyncBN refuses CPU tensors in a process group: a gloo run builds the model with BN (mmyolo's use_syncbn
    off, every SyncBN of the config BN)."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    cfg = _build(tmp_path, "yolov8_n", 3)
    assert cfg.launcher == "pytorch" and cfg.env_cfg.dist_cfg.backend == "gloo"
    assert cfg.model.use_syncbn is False and "SyncBN" not in cfg.pretty_text


FAMILIES = ["yolov5_n", "yolov5_n_p6", "yolov6_n", "yolov7_tiny", "yolov8_n", "yolox_tiny", "rtmdet_tiny",
            "ppyoloe_plus_s"]


@pytest.mark.parametrize("model", FAMILIES)
def test_every_family_trains_one_iteration_on_the_cpu(model, tmp_path):
    """Each family's config, as the executor builds it, gives a model that takes one training step (its own
    train pipeline, mosaic and albumentations included) and a finite loss."""
    import torch
    from mmengine.runner import Runner

    from ymir_sdk.dataset import convert_to_coco
    from ymir_sdk.openmmlab import prepare_openmmlab
    from ymir_sdk.tools.synthetic import write_ark_dataset

    prepare_openmmlab([])
    root = str(tmp_path / "data")
    names = write_ark_dataset(root, n_train=4, n_val=2, size=(96, 96), classes=3)

    def pairs(split):
        return [(os.path.join(root, "images", split, f), os.path.join(root, "annotations", split, f[:-4] + ".txt"))
                for f in sorted(os.listdir(os.path.join(root, "images", split)))]

    jsons = convert_to_coco({"train": pairs("train"), "val": pairs("val")}, names, str(tmp_path / "coco"))
    size = 256 if model.endswith("_p6") else 128
    cfg = _build(tmp_path / "work", model, 1, classes=names, train_json=jsons["train"], val_json=jsons["val"],
                 cfg_options={"img_scale": (size, size)})
    runner = Runner.from_cfg(cfg)
    batch = next(iter(runner.build_dataloader(cfg.train_dataloader)))
    runner.model.train()
    runner.message_hub.update_info("epoch", 0)  # as mmengine's RuntimeInfoHook does (YOLOv6's assigner reads it)
    runner.message_hub.update_info("iter", 0)
    losses = runner.model.train_step(batch, runner.build_optim_wrapper(cfg.optim_wrapper))
    total = sum(v for v in losses.values() if torch.is_tensor(v))
    assert losses and torch.isfinite(total), losses


# ------------------------------------------------------------------ end to end: YOLOv8-n, anchor-free
@pytest.fixture(scope="module")
def yolov8(dataset, tmp_path_factory):
    def train(work):
        r = cli("run", "mmyolo", "--task", "train", "--dataset", dataset, "--work", work, "--no-progress",
                *sets_args({**SPEC.fast, "model_name": "yolov8_n", "max_epochs": "3", "val_interval": "1"}),
                timeout=SPEC.timeout)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]

    return once(tmp_path_factory, "mmyolo-yolov8", train)


def test_short_yolov8_training_reaches_its_stage_two_pipeline(yolov8):
    assert cli("verify", yolov8, "--task", "train").returncode == 0
    result = yaml.safe_load(open(os.path.join(yolov8, "out", "models", "result.yaml")))
    stage = result["model_stages"][result["best_stage_name"]]
    assert stage["files"][1] == "yolov8_n_syncbn_fast_8xb16-500e_coco.py"
    assert {"mAP", "mAR", "mAP_50_95"} <= set(stage) and 0 <= stage["mAP"] <= 1
    text = executor_log(yolov8)
    # close_mosaic_epochs 10 of 500 becomes 1 of 3: mmdet's PipelineSwitchHook switches before epoch 3
    assert "close_mosaic_epochs=1" in text and "Switch pipeline now!" in text


def test_aldd_is_refused_for_a_head_without_objectness(dataset, yolov8, tmp_path):
    work = str(tmp_path / "w")
    r = cli("run", "mmyolo", "--task", "mine", "--dataset", dataset, "--work", work, "--model", yolov8,
            "--no-progress", "--set", "mining_algorithm=aldd")
    assert r.returncode != 0
    line = monitor_line(work)
    assert line[3:5] == ["4", "300001"] and "'mining_algorithm'" in line[5], line
    assert "random, entropy, cald" in line[5], line


def test_iou_threshold_reaches_the_model_s_nms(yolov8):
    """``iou_threshold`` sets the stage config's test-time NMS; the task's cfg_options still win over it."""
    from ymir_sdk.openmmlab.config import inference_config, set_nms_iou

    stage = os.path.join(yolov8, "out", "models", "epoch_3")
    files = [os.path.join(stage, f) for f in os.listdir(stage)]
    cfg = inference_config(files, "", edit=lambda c: set_nms_iou(c, 0.3))
    assert cfg.model.test_cfg.nms.iou_threshold == 0.3
    cfg = inference_config(files, "model.test_cfg.nms.iou_threshold=0.5", edit=lambda c: set_nms_iou(c, 0.3))
    assert cfg.model.test_cfg.nms.iou_threshold == 0.5
