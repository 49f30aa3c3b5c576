"""What is special to executors/mmdet (YOLOX on released mmdet 3.x; the conformance suite, tests/test_conformance.py,
runs what every executor must do): config names, training outputs and settings, model checks, the official weights
and their build-time check (the OpenMMLab glue's config handling: tests/test_openmmlab_config.py)."""
import os

import pytest
import yaml

from conftest import (as_legacy_stage, build_mm_config, cli, copied_model, executor_log, lay_out_task, monitor_line,
                      require_executor, run_in_one_process, sets_args)
from executor_specs import EXECUTORS

require_executor("mmdet", "mmcv", "mmdet")
pytestmark = pytest.mark.images  # also on the images' stack
FAST = sets_args(EXECUTORS["mmdet"].fast)  # YOLOX-tiny at 128 px, batch 4, no DataLoader workers


def _executor_module():
    import executors.mmdet.executor as module

    return module


@pytest.fixture(scope="module")
def dataset(executor_dataset):
    return executor_dataset("mmdet")


@pytest.fixture(scope="module")
def trained(trained_model):
    """The conformance suite's YOLOX-tiny training: 24 epochs at 128 px, validated every 8, seed 0."""
    return trained_model("mmdet")


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
    for name, stage in stages.items():  # the latest stage carries the training state (--resume)
        resume = ["resume.pth"] * (name == "epoch_24")
        assert stage["files"] == [f"{name}.pth", "yolox_tiny_8xb8-300e_coco.py", *resume, "class-counts.json"]
        for f in stage["files"]:
            assert os.path.isfile(os.path.join(trained, "out", "models", name, f))
        # the state moved on with each stage: result.yaml rewritten first, then the older stage's file deleted
        assert os.path.exists(os.path.join(trained, "out", "models", name, "resume.pth")) == (name == "epoch_24")
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


# ------------------------------------------------------------------ malformed inputs
def _train(dataset, work, *sets):
    return cli("run", "mmdet", "--task", "train", "--dataset", dataset, "--work", work, "--no-progress", *FAST,
               "--set", "max_epochs=1", *sets)


BAD_TRAINING_SETTINGS = [
    ("cfg_options", "model.test_cfg.score_thr=[0.1"),
    ("cfg_options", "model.x"),
    ("cfg_options", "model.backbone.no_such_argument=1"),  # parses, names nothing
    ("cfg_options", "train_dataloader.dataset.pipeline.99.scale=(1,1)"),
    ("cfg_options", "train_dataloader.batch_size=many"),  # a value of another kind
    ("cfg_options", "load_from=https://download.openmmlab.com/x.pth"),
    ("cfg_options", "default_scope=no_such_scope"),  # reaches an import: checked first
    ("args_options", "--launcher slurm"),
    ("metric", "segm"),
    ("max_keep_checkpoints", "0"),
    ("max_epochs", "zero"),
]


def test_bad_training_settings(dataset, tmp_path):
    """Each bad setting fails its training with 300001 naming its key. The trainings run one after the other in
    one executor process (tests/conftest.py's run_in_one_process: mmdet is imported once, not eleven times)."""
    works = [str(tmp_path / str(i)) for i in range(len(BAD_TRAINING_SETTINGS))]
    fast = {**EXECUTORS["mmdet"].fast, "max_epochs": "1"}
    env_files = [lay_out_task("mmdet", dataset, work, "train", {**fast, key: value})
                 for work, (key, value) in zip(works, BAD_TRAINING_SETTINGS)]
    r = run_in_one_process(EXECUTORS["mmdet"].module, env_files)
    assert r.returncode != 0
    for work, (key, value) in zip(works, BAD_TRAINING_SETTINGS):
        line = monitor_line(work)
        assert line[3:5] == ["4", "300001"] and f"'{key}'" in line[5], (key, value, line)


@pytest.mark.parametrize("options", ["model.test_cfg.score_thr='0.1", "model.test_cfg.no_such_key.x=1"])
def test_bad_inference_cfg_options(dataset, trained, tmp_path, options):
    work = str(tmp_path / "w")
    r = cli("run", "mmdet", "--task", "infer", "--dataset", dataset, "--work", work, "--model", trained,
            "--no-progress", "--set", f"cfg_options={options}")
    assert r.returncode != 0
    line = monitor_line(work)
    assert line[3:5] == ["4", "300001"] and "'cfg_options'" in line[5]


def test_weights_under_the_config_of_another_model(dataset, trained, tmp_path):
    """The weights of yolox-tiny with the config changed to yolox-s's width: the strict load refuses them."""
    def foreign(stage_dir, stage):
        cfg_file = os.path.join(stage_dir, stage["files"][1])
        text = open(cfg_file).read()
        assert "widen_factor=0.375" in text
        open(cfg_file, "w").write(text.replace("widen_factor=0.375", "widen_factor=0.5"))

    model = copied_model(trained, str(tmp_path / "model"), foreign)
    work = str(tmp_path / "w")
    r = cli("run", "mmdet", "--task", "infer", "--dataset", dataset, "--work", work, "--model", model,
            "--no-progress")
    assert r.returncode != 0
    line = monitor_line(work)
    assert line[3:5] == ["4", "300004"] and ".pth" in line[5] and "does not fit" in line[5], line


def test_aldd_on_a_head_without_objectness(dataset, tmp_path):
    """ALDD needs objectness maps (YOLOX-type heads): an RTMDet model is refused with a 300001 naming
    mining_algorithm, before any image is scored."""
    from mmengine.registry import MODELS, init_default_scope

    from ymir_sdk.openmmlab import prepare_openmmlab
    from ymir_sdk.openmmlab.config import resolve_config_file
    from ymir_sdk.openmmlab.hooks import save_weights
    from ymir_sdk.results import TrainingResult

    prepare_openmmlab([])
    cfg = build_mm_config(tmp_path / "cfg", resolve_config_file("rtmdet/rtmdet_tiny_8xb32-300e_coco.py", "mmdet"), 2)
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


def test_fine_tuning_from_a_trained_model(dataset, trained, tmp_path):
    work = str(tmp_path / "w")
    r = cli("run", "mmdet", "--task", "train", "--dataset", dataset, "--work", work, "--model", trained,
            "--no-progress", *FAST, "--set", "max_epochs=1")
    assert r.returncode == 0, r.stdout[-3000:]
    assert "100% of the model's tensors match" in executor_log(work)
    assert cli("verify", work, "--task", "train").returncode == 0


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


def test_training_from_the_official_weights_of_another_class_count(dataset, tmp_path, monkeypatch):
    """The image's COCO weights (80 classes) for a task of 3 classes: everything but the class layers loads."""
    m = _executor_module()
    folder = tmp_path / "weights"
    folder.mkdir()
    made = _coco_tiny_checkpoint(folder / os.path.basename(m.WEIGHTS[TINY]))
    monkeypatch.setenv("YMIR_WEIGHTS_DIR", str(folder))
    work = str(tmp_path / "w")
    r = _train(dataset, work)
    assert r.returncode == 0, r.stdout[-3000:]
    text = executor_log(work)
    assert f"starting from the image's pretrained weights {made}" in text and "Load checkpoint from" in text
    fit = float(text.split("% of the model's tensors match")[0].rsplit(" ", 1)[-1])
    assert 90 <= fit < 100  # the class layers do not fit the task's classes


# ------------------------------------------------------------------ models of the reference image (mmdet 2.x)
def test_a_stage_of_the_mmdet_2_image_infers_as_the_model_it_was_made_from(dataset, trained, tmp_path):
    """A model stage of the reference image (mmdet 2.x config and mmcv 1.x checkpoint, made here from the shared
    training's best stage) runs inference on today's mmdet: the same predictions as the stage it was made from
    (the two tasks in one executor process)."""
    import json

    spec = EXECUTORS["mmdet"]
    old = copied_model(trained, str(tmp_path / "model"),
                       lambda stage_dir, stage: as_legacy_stage(stage_dir, stage, "yolox_tiny_8x8_300e_coco.py"))
    envs = [lay_out_task("mmdet", dataset, str(tmp_path / name), "infer", spec.model_task, model=model)
            for name, model in (("new", trained), ("old", old))]
    r = run_in_one_process(spec.module, envs)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "yolox_tiny_8x8_300e_coco.py is of mmdet 2.x" in r.stderr
    new, got = [json.load(open(tmp_path / name / "out" / "infer-result.json")) for name in ("new", "old")]
    assert got == new and sum(len(d["boxes"]) for d in new["detection"].values()) > 0


# ------------------------------------------------------------------ --resume
def test_resume_continues_the_latest_stage_s_training(dataset, trained, tmp_path):
    """``--resume`` with the shared training's latest stage (24 epochs; its resume.pth holds the weights, EMA,
    optimizer, schedulers and epoch): the run continues at epoch 25 and its first stage is epoch_26 (max_epochs
    26), carrying the state in turn. The same flag with a stage that has no training state is a 300001 that says
    which stage to choose. (The two tasks in one executor process.)"""
    spec = EXECUTORS["mmdet"]
    stateless = copied_model(trained, str(tmp_path / "model"), lambda stage_dir, entry: entry["files"].remove(
        "resume.pth"), stage="epoch_24")
    sets = {**spec.fast, "max_epochs": "26", "val_interval": "2", "args_options": "--resume"}
    envs = [lay_out_task("mmdet", dataset, str(tmp_path / name), "train", sets, model=model, stage="epoch_24")
            for name, model in (("resumed", trained), ("stateless", stateless))]
    r = run_in_one_process(spec.module, envs)
    assert r.returncode != 0
    assert "resumed epoch: 24" in r.stdout + r.stderr
    work = str(tmp_path / "resumed")
    assert cli("verify", work, "--task", "train").returncode == 0
    result = yaml.safe_load(open(os.path.join(work, "out", "models", "result.yaml")))
    assert list(result["model_stages"]) == ["epoch_26"]
    assert result["model_stages"]["epoch_26"]["files"][-2:] == ["resume.pth", "class-counts.json"]
    line = monitor_line(str(tmp_path / "stateless"))
    assert line[3:5] == ["4", "300001"] and "carries no training state" in line[5], line
