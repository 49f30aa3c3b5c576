"""The OpenMMLab glue's config handling (:mod:`ymir_sdk.openmmlab.config`), on mmdet's released configs: the
``_base_`` chain re-derived for the run's length, cfg_options parsed and checked before anything is merged or
built, a model stage's config read as data, iteration-based schedules and absolute bases."""
import pytest

from conftest import build_mm_config as _build, require_executor

require_executor("mmdet", "mmcv", "mmdet")
pytestmark = pytest.mark.images  # also on the images' stack


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


@pytest.mark.parametrize("options,shown", [
    ("default_scope=no_such_scope", "default_scope='no_such_scope'"),
    ("default_scope=os", "default_scope='os'"),  # installed, but not an OpenMMLab package
    ("model.backbone.type=NoSuchBackbone", "model.backbone.type='NoSuchBackbone'"),
    ("model.backbone.type=os.system", "model.backbone.type='os.system'"),
    ("train_dataloader.dataset=\"{'type':'os.system','command':'touch MARKER'}\"", "train_dataloader.dataset.type="),
    ("train_dataloader.dataset=dict(type='os.system',command='touch MARKER')", "does not parse (RecursionError)"),
    ("train_dataloader.dataset.pipeline.0.type=mmdet.NoSuchTransform", "pipeline.0.type='mmdet.NoSuchTransform'"),
    ("model.type=mmengine.model.BaseModel", "model.type='mmengine.model.BaseModel'"),  # a module path
    ("custom_imports=\"{'imports':['no_such_module']}\"", "'no_such_module' is not one"),
    ("custom_imports.imports=['mmdet.no_such_module']", "'mmdet.no_such_module' is not one"),
])
def test_cfg_options_values_that_reach_an_import_or_a_registry(tmp_path, monkeypatch, options, shown):
    """A value mmengine would import or look up is checked before anything is merged or built: a 300001 naming
    cfg_options, the key and the value. mmengine's Registry.get imports any dotted path and builds what it names:
    a type of 'os.system' would run the user's command."""
    from ymir_sdk import ConfigError
    from ymir_sdk.openmmlab.config import parse_cfg_options, resolve_config_file

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as e:
        _build(tmp_path, resolve_config_file("yolox/yolox_s_8xb8-300e_coco.py", "mmdet"), 4,
               cfg_options=parse_cfg_options(options))
    assert e.value.code == 300001 and e.value.key == "cfg_options" and shown in str(e.value), str(e.value)
    assert not (tmp_path / "MARKER").exists()


def test_cfg_options_values_of_registered_types_and_installed_modules_are_taken(tmp_path):
    from ymir_sdk.openmmlab.config import parse_cfg_options, resolve_config_file

    cfg = _build(tmp_path, resolve_config_file("yolox/yolox_s_8xb8-300e_coco.py", "mmdet"), 4,
                 cfg_options=parse_cfg_options("default_scope=mmdet optim_wrapper.optimizer.type=AdamW "
                                               "train_dataloader.dataset.dataset.pipeline.1.type=mmdet.LoadAnnotations "
                                               "custom_imports=\"{'imports':['mmdet.models']}\""))
    assert cfg.optim_wrapper.optimizer.type == "AdamW" and cfg.custom_imports.imports == ["mmdet.models"]


@pytest.mark.parametrize("code", [
    "import os\nos.system('touch MARKER')\nmodel = dict(type='YOLOX')\n",
    "model = dict(type='YOLOX', x=__import__('os').system('touch MARKER'))\n",
    "model = dict(type='YOLOX')\nif True:\n    open('MARKER', 'w')\n",
    "model = dict(type='YOLOX', x=[1, 2][open('MARKER', 'w') and 0])\n",
])
def test_a_model_config_that_holds_code_never_runs(tmp_path, monkeypatch, code):
    """mmengine executes a config .py: the one saved with a model stage must be data (as Config.dump writes it),
    else 300004 naming the file and line, before anything of it runs."""
    from ymir_sdk import ModelError
    from ymir_sdk.openmmlab.config import inference_config, parse_cfg_options, resolve_config_file

    monkeypatch.chdir(tmp_path)
    cfg = _build(tmp_path, resolve_config_file("yolox/yolox_s_8xb8-300e_coco.py", "mmdet"), 4,
                 cfg_options=parse_cfg_options(""))
    dumped = tmp_path / "stage" / "dumped.py"
    dumped.parent.mkdir()
    cfg.dump(str(dumped))
    assert inference_config([str(dumped)]).model.type == "YOLOX"  # a dumped config is data
    bad = tmp_path / "stage" / "model.py"
    bad.write_text(code)
    with pytest.raises(ModelError, match=r"model config model.py line \d+ is not data") as e:
        inference_config([str(bad)])
    assert e.value.code == 300004 and not (tmp_path / "MARKER").exists()


def test_cfg_options_values():
    from ymir_sdk.openmmlab.config import parse_cfg_options

    assert parse_cfg_options("a.b=1 c=[1,2] d='x y' e=a,b g=true h=None i=1e-3 j=abc") == {
        "a.b": 1, "c": [1, 2], "d": "x y", "e": ["a", "b"], "g": True, "h": None, "i": 0.001, "j": "abc"}


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
