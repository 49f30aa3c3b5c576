"""The base of every executor over a released OpenMMLab 2.x package (mmdet, mmyolo, mmrotate, mmseg).

An executor says what is special about its framework as class attributes: the package whose configs it reads
(``package``), the names it accepts for them (``aliases``), the official weights of the models it offers
(``pretrained_weights``), its params; a family (rotated boxes, semantic segmentation) replaces the dataset types,
metric, config steps or the detector. Training (mmengine's runner with the SDK's config re-derivation and
hooks), inference and mining (the SDK's detection loop) are written here once::

    class MmdetExecutor(OpenMMLabExecutor):
        name, package = "mmdet", "mmdet"
        aliases = {...}
        pretrained_weights = {...}
        TrainParams = ...
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from ..dataset import convert_to_coco
from ..executor import Executor
from ..models import pick_weight_file
from ..loops import detection
from ..loops.settings import Batching, Mining
from ..mining.base import DETECTION
from . import params
from .config import (Step, TrainingSetup, build_config, config_key, inference_config, parse_cfg_options,
                     resolve_config_file, resolve_model_name, set_nms_iou, set_score_floor)
from .train import apply_train_args, check_keep, dump_config, parse_train_args, run_training

#: validation metrics (YmirDetMetric, prefix ``ymir/``) -> stage metrics. ``mAP`` is COCO AP at IoU 0.5.
DETECTION_METRICS = {"ymir/mAP": "mAP", "ymir/mAR": "mAR", "ymir/tp": "tp", "ymir/fp": "fp", "ymir/fn": "fn",
                     "ymir/mAP_50_95": "mAP_50_95", "ymir/mAP_75": "mAP_75", "ymir/mAP_s": "mAP_s",
                     "ymir/mAP_m": "mAP_m", "ymir/mAP_l": "mAP_l", "ymir/AR_100": "AR_100"}


class OpenMMLabExecutor(Executor):
    #: the package whose ``.mim/configs`` the ``config_file`` names (and the registry scope's default)
    package = "mmdet"
    #: other names of configs (e.g. the 2.x file names of the reference images) -> paths in the package
    aliases: Mapping[str, str] = {}
    #: ``model_name`` -> config in the package, for an executor whose params name models (a non-empty
    #: ``config_file`` wins over it)
    models: Mapping[str, str] = {}
    #: the heads whose outputs carry objectness (ALDD needs it; other models mine with the other algorithms)
    objectness_heads: Tuple[str, ...] = ("YOLOXHead", "YOLOv5Head", "YOLOv7Head")
    #: dataset types that read the SDK's COCO json (the first replaces any other type in a config)
    coco_types: Tuple[str, ...] = ("CocoDataset",)
    #: the validation metric (registered by :mod:`.hooks`) and how its results become stage metrics
    metric_type = "YmirDetMetric"
    metric_map: Mapping[str, str] = DETECTION_METRICS
    #: the family's own config transforms, run after the common ones (:data:`ymir_sdk.openmmlab.config.STEPS`)
    #: and before the user's ``cfg_options`` (:func:`ymir_sdk.openmmlab.config.build_config`)
    family_steps: Tuple[Step, ...] = ()
    #: the stage metric that ranks the stages, and how a stage's evaluation config is written (None: detection's,
    #: IoU 0.5 and the model's score threshold: :func:`.train.run_training`)
    main_metric = "mAP"
    stage_evaluate_config: Optional[Mapping[str, float]] = None
    #: the pipeline step that takes a decoded image, in place of the config's LoadImageFromFile
    ndarray_type = "LoadImageFromNDArray"
    #: how the training data's boxes are written (:func:`ymir_sdk.dataset.convert_to_coco` ``segmentation``)
    coco_segmentation = "none"
    #: the mining algorithms the family's outputs support (ALDD also needs an objectness head: :meth:`algorithms`)
    mining_algorithms: Tuple[str, ...] = DETECTION
    TrainParams, InferParams, MineParams = params.TrainParams, params.InferParams, params.MineParams

    def config_file(self, p) -> str:
        """The config a training's params name: ``config_file`` when given, else ``model_name`` in the table."""
        if getattr(p, "config_file", "") or not self.models:
            return resolve_config_file(p.config_file, self.package, self.aliases)
        return resolve_model_name(p.model_name, self.models, self.package)

    def register(self) -> None:
        """Import what the framework's registries need before a config is built (a package whose registries
        have no import locations); called by :meth:`prepare`."""

    def prepare(self, gpu_ids) -> None:
        """The run-time set-up before any model or config is built (:func:`.compat.prepare_openmmlab`)."""
        from .compat import prepare_openmmlab

        prepare_openmmlab(gpu_ids)
        self.register()

    def check_weights(self, key: str, path: str) -> None:
        from .infer import check_config_weights

        self.prepare(())
        check_config_weights(resolve_config_file(key, self.package, self.aliases), path)

    # ------------------------------------------------------------------------------------------- training
    def train(self, ctx) -> None:
        """Training, one procedure for every family. A family overrides its named steps - what it keeps
        (:meth:`keep_checkpoints`), its data and classes (:meth:`training_data`), the run's length
        (:meth:`schedule`), its metric (:meth:`evaluator`), a check of the built config (:meth:`check_config`),
        the run itself (:meth:`run`) - and adds config transforms at :attr:`family_steps`."""
        p = ctx.params
        config = self.config_file(p)
        args = parse_train_args(p.args_options)
        keep = self.keep_checkpoints(p)
        check_keep(keep)
        setup = self.training_setup(ctx, config)
        self.prepare(p.gpu_ids)  # the inputs are checked and converted: now the framework
        cfg = build_config(config, setup, self.family_steps)
        self.check_config(cfg, p)
        apply_train_args(cfg, args, p.args_options, p.gpu_ids, ctx.model_files())
        config_path = dump_config(cfg, ctx.work_dir, config)
        ctx.progress(1.0, "preprocess")
        self.run(ctx, cfg, config_path, setup, keep)

    def keep_checkpoints(self, p) -> int:
        """How many model stages to keep (-1: all)."""
        return p.max_keep_checkpoints

    def training_data(self, ctx) -> Tuple[Sequence[str], str, str, int]:
        """The model's classes, the training and validation files the family's datasets read (the SDK's COCO
        json), and the number of training images."""
        train_pairs = ctx.training_pairs()
        jsons = ctx.training_dataset(convert_to_coco, train_pairs, segmentation=self.coco_segmentation)
        return ctx.class_names, jsons["train"], jsons["val"], len(train_pairs)

    def schedule(self, p) -> Dict[str, Any]:
        """The run's length and validation interval, as :class:`TrainingSetup` fields."""
        return dict(max_epochs=p.max_epochs, val_interval=p.val_interval)

    def evaluator(self, val_file: str, p) -> dict:
        """The validation metric's config."""
        return dict(type=self.metric_type, ann_file=val_file, iou_type=getattr(p, "metric", "bbox"))

    def training_setup(self, ctx, config: str) -> TrainingSetup:
        """The task's data (:meth:`training_data`), initial weights and params, for :func:`build_config`."""
        p = ctx.params
        classes, train_file, val_file, n_train = self.training_data(ctx)
        ctx.progress(0.8, "preprocess")
        return TrainingSetup(
            work_dir=ctx.work_dir, classes=classes, train_json=train_file, val_json=val_file,
            batch_size=p.samples_per_gpu, workers=p.workers_per_gpu, **self.schedule(p),
            load_from=ctx.initial_weights(config_key(config, self.package), (".pth",)),
            cfg_options=parse_cfg_options(p.cfg_options),
            evaluators=[self.evaluator(val_file, p)], coco_types=self.coco_types, train_size=n_train,
            input_size=getattr(p, "img_size", None))

    def check_config(self, cfg, p) -> None:
        """A check of the built config against the params, before anything trains (none here)."""

    def run(self, ctx, cfg, config_path: str, setup: TrainingSetup, keep: int) -> None:
        """mmengine's runner with the SDK's hooks (:func:`.train.run_training`)."""
        run_training(ctx, cfg, config_path, self.metric_map, keep, main_metric=self.main_metric,
                     classes=setup.classes, evaluate_config=self.stage_evaluate_config, val_file=setup.val_json,
                     rotated_iou=self.rotated_iou())

    def rotated_iou(self):
        """The IoU of rotated boxes ``(D, 5), (G, 5) -> (D, G)`` where the family predicts them (None: upright)."""
        return None

    # ------------------------------------------------------------------------------------------- model use
    def model_config(self, ctx):
        """The task's model config: the stage's own, the NMS IoU of ``iou_threshold`` and the score floor of
        ``conf_threshold`` (where the params have them), then the task's ``cfg_options``."""
        p = ctx.params
        iou, conf = getattr(p, "iou_threshold", None), getattr(p, "conf_threshold", None)

        def edit(cfg) -> None:
            if iou is not None:
                set_nms_iou(cfg, iou)
            if conf is not None:
                set_score_floor(cfg, conf)

        return inference_config(ctx.model_files(), p.cfg_options, edit=edit)

    def algorithms(self, ctx) -> Tuple[str, ...]:
        """The mining algorithms the task's model allows: the family's, ALDD only with an objectness head."""
        if "aldd" not in self.mining_algorithms:
            return tuple(self.mining_algorithms)
        head = str(((self.model_config(ctx).model.get("bbox_head") or {}).get("type", ""))).split(".")[-1]
        return tuple(a for a in self.mining_algorithms if a != "aldd" or head in self.objectness_heads)

    def detector(self, ctx):
        """The task's model (the config and weights of ``model_params_path``) and its test pipeline."""
        from ..torch.devices import device_for
        from .infer import Predictor, build_model

        p = ctx.params
        self.prepare(p.gpu_ids)
        files = ctx.model_files()
        cfg = self.model_config(ctx)
        model = build_model(cfg, pick_weight_file(files, (".pth",)), device_for(p.gpu_ids), len(ctx.class_names))
        return Predictor(cfg, model, self.ndarray_type)

    def infer(self, ctx) -> None:
        p = ctx.params
        detection.infer(ctx, self.detector(ctx), Batching(p.samples_per_gpu, p.workers_per_gpu),
                        conf_threshold=p.conf_threshold)

    def mining(self, ctx) -> Mining:
        """The mining task's settings, built once: the algorithm's name validated against what the task's model
        offers (aldd: only with an objectness head, :meth:`algorithms`)."""
        p = ctx.params
        aldd = str(p.mining_algorithm or "").strip().lower() == "aldd" and "aldd" in self.mining_algorithms
        return Mining.of(p.mining_algorithm, 2, Batching(p.samples_per_gpu, p.workers_per_gpu),
                         supported=self.algorithms(ctx) if aldd else self.mining_algorithms,
                         class_weights=getattr(p, "class_distribution_scores", None), conf_threshold=p.conf_threshold,
                         cald_candidates=getattr(p, "cald_candidates", 0))

    def mine(self, ctx) -> None:
        detection.mine(ctx, lambda: self.detector(ctx), self.mining(ctx))

    def mine_and_infer(self, mine, infer) -> bool:
        return detection.mine_and_infer(mine, infer, lambda: self.detector(infer), self.mining(mine),
                                        infer_conf=infer.params.conf_threshold)
