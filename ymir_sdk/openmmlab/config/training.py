"""A task's training config: step 1, the config re-derived with the task's variables (:mod:`.rederive`), then
step 2, the **structure**, one transform per concern (:data:`STEPS`): classes and ``num_classes`` everywhere in the
model, the SDK's datasets, batch size and workers, epochs and evaluation interval, checkpointing into scratch space
(model stages and the TensorBoard are written by :mod:`ymir_sdk.openmmlab.hooks`), ``load_from`` from
``pretrained_model_params`` only, ``init_cfg`` pretrained weights that would be downloaded removed, schedulers
clipped to the run; then a family's own transforms (the named point ``family_steps``); and last the user's
``cfg_options`` (:func:`merge_options`: they win)."""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

from ...errors import ConfigError
from .datasets import replace_dataset, set_loader
from .distributed import distributed_launch
from .files import load_plain_config
from .model import set_num_classes, strip_download_init
from .options import check_option_keys, check_option_values
from .rederive import TAIL_EPOCH_VARS, fix_literal_switches, load_config, tail_epochs
from .schedule import clip_schedulers, is_iter_based, scale_iter_schedulers


@dataclass
class TrainingSetup:
    """What a task gives a training config (:func:`build_config`)."""

    work_dir: str
    classes: Sequence[str]
    train_json: str
    val_json: str
    batch_size: int
    workers: int
    max_epochs: int
    val_interval: int = 1
    load_from: Optional[str] = None
    cfg_options: Mapping[str, Any] = field(default_factory=dict)
    #: replace the config's val/test evaluator (none: keep the config's)
    evaluators: Sequence[dict] = ()
    #: the dataset types that read the SDK's COCO json (the first replaces any other type)
    coco_types: Sequence[str] = ("CocoDataset",)
    #: hooks appended to the config's custom_hooks
    custom_hooks: Sequence[dict] = ()
    #: training images (an iteration-based config needs it to count its iterations)
    train_size: int = 0
    #: the model's square input size where the params set one (``img_size``), for the family's config steps
    input_size: Optional[int] = None
    #: a run counted in iterations (mmseg's seed: ``max_iters``): ``max_epochs`` is then unused and
    #: ``val_interval`` counts iterations
    max_iters: Optional[int] = None

    def __post_init__(self) -> None:
        self.cfg_options = dict(self.cfg_options or {})
        top = self.cfg_options.get("max_epochs")
        if isinstance(top, int) and top >= 1:
            self.max_epochs = top  # the user's options win, for the loop and the derived values alike

    @property
    def per_epoch(self) -> int:
        """Iterations per epoch on this run's ranks (0 when the training-set size is unknown)."""
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        return max(1, -(-int(self.train_size) // (self.batch_size * world))) if self.train_size else 0


def rederived_config(config_file: str, setup: TrainingSetup):
    """Step 1 (see the module docstring): the config loaded with the task's top-level variables set at their
    source, and the switch epochs it wrote as literals moved."""
    n, max_epochs = len(setup.classes), setup.max_epochs
    # the batch and worker variables are mmyolo's (its batch-shape policy reads the validation batch size)
    variables: Dict[str, Any] = {"max_epochs": max_epochs, "num_classes": n,
                                 "train_batch_size_per_gpu": setup.batch_size, "train_num_workers": setup.workers,
                                 "val_batch_size_per_gpu": setup.batch_size, "val_num_workers": setup.workers}
    for name in TAIL_EPOCH_VARS:
        variables[name] = (lambda old: tail_epochs(old, max_epochs) if isinstance(old, int) else None)
    variables.update({k: v for k, v in setup.cfg_options.items() if "." not in k})
    cfg = load_config(config_file, variables, setup.work_dir)
    fix_literal_switches(cfg, load_plain_config(config_file), max_epochs)
    if "model" not in cfg or "train_dataloader" not in cfg:
        raise ConfigError("config_file", config_file, "an mmengine (OpenMMLab 2.x) training config with model and "
                          "train_dataloader")
    if "val_dataloader" not in cfg or cfg.val_dataloader is None:
        raise ConfigError("config_file", config_file, "a config with a val_dataloader (evaluation is how model "
                          "stages are chosen)")
    if is_iter_based(cfg) and not setup.per_epoch and not setup.max_iters:
        raise ConfigError("config_file", config_file, "an epoch-based config (an iteration-based one needs the "
                          "training-set size)")
    return cfg


#: a structural transform: takes (cfg, setup) and edits cfg in place
Step = Callable[[Any, TrainingSetup], None]


# Step 2, one transform per concern (see :data:`STEPS`).
def set_classes(cfg, setup: TrainingSetup) -> None:
    """``num_classes`` everywhere in the model (and at the top level); no init weights that would download."""
    set_num_classes(cfg.model, len(setup.classes))
    if "num_classes" in cfg:
        cfg.num_classes = len(setup.classes)
    strip_download_init(cfg)


def set_datasets(cfg, setup: TrainingSetup) -> None:
    """The SDK's COCO json as training and validation data; the test loader validates like the val loader."""
    types = tuple(setup.coco_types)
    replace_dataset(cfg.train_dataloader, setup.train_json, setup.classes, False, types)
    set_loader(cfg.train_dataloader, setup.batch_size, setup.workers)
    replace_dataset(cfg.val_dataloader, setup.val_json, setup.classes, True, types)
    set_loader(cfg.val_dataloader, setup.batch_size, setup.workers)
    cfg.test_dataloader = copy.deepcopy(cfg.val_dataloader)
    if setup.evaluators:
        cfg.val_evaluator = [dict(e) for e in setup.evaluators]
        cfg.test_evaluator = [dict(e) for e in setup.evaluators]


def set_loop(cfg, setup: TrainingSetup) -> None:
    """``max_epochs`` and the validation interval; schedulers and dynamic intervals fitted to the run; resumable
    checkpoints every validation (in scratch space: model stages are written by the stage hook)."""
    from mmengine.config import ConfigDict

    max_epochs, per_epoch = setup.max_epochs, setup.per_epoch
    interval = max(1, min(int(setup.val_interval), setup.max_iters or max_epochs))
    train_cfg = cfg.get("train_cfg") or ConfigDict(type="EpochBasedTrainLoop")
    if setup.max_iters or is_iter_based(cfg):
        # iterations (mmseg's configs and seed): max_iters, or max_epochs passes over the training set, and the
        # schedule's iteration bounds scaled to that length (its literal 160k-iteration plan would not fit)
        max_iters, step = ((setup.max_iters, interval) if setup.max_iters
                           else (max_epochs * per_epoch, interval * per_epoch))
        base_iters = int(train_cfg.get("max_iters") or max_iters)
        train_cfg = ConfigDict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=step)
        scale_iter_schedulers(cfg, max_iters / max(1, base_iters), max_iters)
        cfg.log_processor = dict(cfg.get("log_processor") or {}, by_epoch=False)
        by_epoch = False
    else:
        train_cfg.update(type=train_cfg.get("type", "EpochBasedTrainLoop"), max_epochs=max_epochs,
                         val_interval=interval)
        if train_cfg.get("dynamic_intervals"):
            train_cfg["dynamic_intervals"] = [(int(e), max(1, int(i))) for e, i in train_cfg["dynamic_intervals"]
                                              if int(e) < max_epochs]
            if not train_cfg["dynamic_intervals"]:
                train_cfg.pop("dynamic_intervals")
        clip_schedulers(cfg, max_epochs)
        step, by_epoch = interval, True
    cfg.train_cfg = train_cfg
    cfg.val_cfg = cfg.get("val_cfg") or dict(type="ValLoop")
    cfg.test_cfg = cfg.get("test_cfg") or dict(type="TestLoop")
    hooks = cfg.get("default_hooks") or ConfigDict()
    hooks["checkpoint"] = dict(type="CheckpointHook", interval=step, by_epoch=by_epoch, max_keep_ckpts=1,
                               save_best=None, save_last=True)
    cfg.default_hooks = hooks


def set_hooks(cfg, setup: TrainingSetup) -> None:
    """A log line at most every 50 iterations (and at least once an epoch); the task's custom hooks appended."""
    if setup.per_epoch:
        logger = dict(cfg.default_hooks.get("logger") or dict(type="LoggerHook"))
        logger["interval"] = max(1, min(50, setup.per_epoch))
        cfg.default_hooks["logger"] = logger
    cfg.custom_hooks = list(cfg.get("custom_hooks") or []) + [dict(h) for h in setup.custom_hooks]


def set_runtime(cfg, setup: TrainingSetup) -> None:
    """Weights only from the task (``load_from``), no resuming, scratch work dir, the launcher of this run."""
    cfg.load_from = setup.load_from
    cfg.resume = False
    cfg.work_dir = os.path.join(setup.work_dir, "mmengine")
    distributed_launch(cfg)


def merge_options(cfg, setup: TrainingSetup) -> None:
    """The user's ``cfg_options`` last (they win), but not to fetch anything: a non-local ``load_from`` is a
    300001 error and URL init weights they add are removed."""
    options = setup.cfg_options
    if not options:
        return
    check_option_keys(cfg, options)
    cfg.merge_from_dict(options)
    if cfg.get("load_from") and not os.path.isfile(str(cfg.load_from)):
        raise ConfigError("cfg_options", options.get("load_from"), "a load_from that is a local file (weights "
                          "come from pretrained_model_params; nothing is downloaded)")
    strip_download_init(cfg)


#: the structural transforms every training config gets, in order; a family's own run after them and before
#: :func:`merge_options` (:func:`build_config`'s ``family_steps``)
STEPS: Tuple[Step, ...] = (set_classes, set_datasets, set_loop, set_hooks, set_runtime)


def build_config(config_file: str, setup: Optional[TrainingSetup] = None, family_steps: Sequence[Step] = (),
                 **fields: Any):
    """The training config of a task (see the module docstring): :func:`rederived_config`, then each of
    :data:`STEPS`, then the family's ``family_steps`` (e.g. mmrotate's sizes, mmseg's data), then the user's
    ``cfg_options`` (:func:`merge_options`). ``setup`` or its fields as keywords."""
    setup = setup or TrainingSetup(**fields)
    check_option_values(setup.cfg_options)  # before the config's source gets the top-level values
    cfg = rederived_config(config_file, setup)
    for step in (*STEPS, *family_steps, merge_options):
        step(cfg, setup)
    return cfg
