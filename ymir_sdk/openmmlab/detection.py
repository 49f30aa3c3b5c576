"""Training, inference and mining of an OpenMMLab 2.x box detector (mmdet, mmyolo): the loops every such
executor shares. An executor resolves its config file and hyper-parameters and calls these."""
from __future__ import annotations

import argparse
import logging
import os
import shlex
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ..dataset import convert_to_coco
from ..dist import world
from ..errors import ConfigError, ModelError
from ..executor import pick_weight_file
from ..mining import aldd_scores, algorithm_name, cald_scores, entropy_scores, random_scores
from ..results import Detection
from .compat import prepare_openmmlab
from .config import build_config, inference_config, parse_cfg_options

log = logging.getLogger("ymir_sdk")

#: validation metrics (YmirDetMetric, prefix ``ymir/``) -> stage metrics. ``mAP`` is COCO AP at IoU 0.5.
DETECTION_METRICS = {"ymir/mAP": "mAP", "ymir/mAR": "mAR", "ymir/tp": "tp", "ymir/fp": "fp", "ymir/fn": "fn",
                     "ymir/mAP_50_95": "mAP_50_95", "ymir/mAP_75": "mAP_75", "ymir/mAP_s": "mAP_s",
                     "ymir/mAP_m": "mAP_m", "ymir/mAP_l": "mAP_l", "ymir/AR_100": "AR_100"}


class _RaisingParser(argparse.ArgumentParser):
    """argparse that raises instead of exiting (``exit_on_error`` needs Python 3.9; the images run 3.8)."""

    def error(self, message: str):
        raise ValueError(message)


def parse_train_args(text: Any) -> argparse.Namespace:
    """``args_options``: the flags of OpenMMLab's ``tools/train.py`` that apply here (``--amp``,
    ``--auto-scale-lr``, ``--seed N``, ``--deterministic``), split like a shell would, never given to one."""
    parser = _RaisingParser(prog="args_options", add_help=False)
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--auto-scale-lr", action="store_true")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--deterministic", action="store_true")
    text = "" if text is None else str(text)
    expected = "flags among --amp, --auto-scale-lr, --seed N, --deterministic"
    try:
        args, unknown = parser.parse_known_args(shlex.split(text))
    except (ValueError, argparse.ArgumentError) as e:
        raise ConfigError("args_options", text, f"{expected} ({e})") from None
    if unknown:
        raise ConfigError("args_options", text, f"{expected}; {' '.join(unknown)!r} is not")
    return args


def _score_thr(model_cfg: Mapping[str, Any]) -> float:
    test_cfg = (model_cfg or {}).get("test_cfg") or {}
    for part in (test_cfg, test_cfg.get("rcnn") or {}):
        if isinstance(part, Mapping) and "score_thr" in part:
            return float(part["score_thr"])
    return 0.0


def train_detection(ctx, config_file: str, *, batch_size: int, workers: int, max_epochs: int, val_interval: int,
                    max_keep_checkpoints: int, cfg_options: Any = "", args_options: Any = "", metric: str = "bbox",
                    coco_types: Sequence[str] = ("CocoDataset",)) -> None:
    """Train with mmengine's runner: the SDK's COCO json as data, stages from our hooks (see the modules
    :mod:`.config` and :mod:`.hooks`); ``metric`` is the evaluation's IoU type (boxes: ``bbox``)."""
    prepare_openmmlab(ctx.params.gpu_ids)
    args = parse_train_args(args_options)
    options = parse_cfg_options(cfg_options)
    if max_keep_checkpoints == 0 or max_keep_checkpoints < -1:
        raise ConfigError("max_keep_checkpoints", max_keep_checkpoints, "-1 (keep all) or a count >= 1")
    train_pairs = ctx.training_pairs()
    jsons = convert_to_coco({"train": train_pairs, "val": ctx.validation_pairs()}, ctx.class_names, ctx.work_dir)
    ctx.progress(0.8, "preprocess")
    load_from = pick_weight_file(ctx.model_files(), (".pth",)) if ctx.params.pretrained_model_params else None

    import torch
    from mmengine.runner import Runner

    from .hooks import YmirProgressHook, YmirStageHook

    cfg = build_config(config_file, work_dir=ctx.work_dir, classes=ctx.class_names, train_json=jsons["train"],
                       val_json=jsons["val"], batch_size=batch_size, workers=workers, max_epochs=max_epochs,
                       val_interval=val_interval, load_from=load_from, cfg_options=options,
                       tensorboard_dir=ctx.env.output.tensorboard_dir,
                       evaluators=[dict(type="YmirDetMetric", ann_file=jsons["val"], iou_type=metric)],
                       coco_types=coco_types, train_size=len(train_pairs))
    if args.amp:
        if not torch.cuda.is_available() or not ctx.params.gpu_ids:
            raise ConfigError("args_options", args_options, "--amp only with a GPU (gpu_id)")
        cfg.optim_wrapper.type = "AmpOptimWrapper"
        cfg.optim_wrapper.setdefault("loss_scale", "dynamic")
    if args.auto_scale_lr:
        if "auto_scale_lr" not in cfg or "base_batch_size" not in cfg.auto_scale_lr:
            raise ConfigError("args_options", args_options, "--auto-scale-lr only with a config that has "
                              "auto_scale_lr.base_batch_size")
        cfg.auto_scale_lr.enable = True
    if args.seed is not None or args.deterministic:
        cfg.randomness = dict(seed=args.seed, deterministic=args.deterministic)
    config_path = os.path.join(ctx.work_dir, os.path.basename(config_file))
    tmp = f"{config_path}.{os.getpid()}.tmp.py"  # every rank writes the same text: atomically
    cfg.dump(tmp)
    os.replace(tmp, config_path)
    ctx.progress(1.0, "preprocess")

    runner = Runner.from_cfg(cfg)
    if load_from:
        from .infer import check_pretrained

        check_pretrained(runner.model, load_from)
    result = ctx.training_result()
    runner.register_hook(YmirProgressHook(ctx.progress))
    runner.register_hook(YmirStageHook(result, config_path, DETECTION_METRICS, max_keep_checkpoints,
                                       evaluate_config={"iou_thr": 0.5, "conf_thr": _score_thr(cfg.model)},
                                       classes=ctx.class_names, is_main=lambda: world()[0] == 0))
    runner.train()
    if world()[0] == 0 and not result.stages:
        raise ModelError("training ended without a validated checkpoint")


def load_predictor(ctx, cfg_options: Any = "", ndarray_type: str = "LoadImageFromNDArray"):
    """The task's model (config + weights from ``model_params_path``) and its test pipeline."""
    prepare_openmmlab(ctx.params.gpu_ids)
    from .infer import Predictor, build_model, device_for

    files = ctx.model_files()
    cfg = inference_config(files, cfg_options)
    weights = pick_weight_file(files, (".pth",))
    model = build_model(cfg, weights, device_for(ctx.params.gpu_ids), len(ctx.class_names))
    return Predictor(cfg, model, ndarray_type)


def infer_detection(ctx, *, conf_threshold: float, cfg_options: Any = "", batch_size: int = 8,
                    workers: int = 4, ndarray_type: str = "LoadImageFromNDArray") -> None:
    """Boxes with score >= ``conf_threshold`` (on top of the config's own test_cfg) for every readable
    candidate."""
    predictor = load_predictor(ctx, cfg_options, ndarray_type)
    found = ctx.map_candidates(lambda items: predictor.detect([it[1] for it in items])[0], predictor.load,
                               batch_size, workers)
    if world()[0] == 0:
        ctx.write_detections({p: [Detection(int(c), float(s), *b) for b, s, c in zip(d.boxes, d.scores, d.labels)
                                  if s >= conf_threshold] for p, d in found.items()})


def mine_detection(ctx, *, algorithm: str, cfg_options: Any = "", batch_size: int = 8, workers: int = 4,
                   class_weights: Optional[Sequence[float]] = None,
                   ndarray_type: str = "LoadImageFromNDArray") -> None:
    """Mining scores (``ymir_sdk.mining``: random, entropy, aldd for objectness heads, cald) of every readable
    candidate, written best-first."""
    import functools

    name = algorithm_name(algorithm, 2)
    n = len(ctx.class_names)
    if name == "random":
        paths = ctx.readable(ctx.candidates())
        scores: Dict[str, float] = dict(zip(paths, random_scores(paths).tolist()))
    else:
        predictor = load_predictor(ctx, cfg_options, ndarray_type)

        def score(items) -> List[float]:
            images, prepared = [it[0] for it in items], [it[1] for it in items]
            dets, heads = predictor.detect(prepared, heads=name == "aldd")
            if name == "entropy":
                return entropy_scores(dets, n).tolist()
            if name == "aldd":
                return aldd_scores(heads, class_weights).tolist()
            return cald_scores(images, dets, lambda imgs: predictor.detect_images(imgs, batch_size), n).tolist()

        scores = ctx.map_candidates(score, functools.partial(predictor.load, keep_image=name == "cald"),
                                    batch_size, workers)
    if world()[0] == 0:
        ctx.write_mining(scores, ctx.candidates())
