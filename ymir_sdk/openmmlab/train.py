"""Training with mmengine's runner, the pieces every OpenMMLab executor shares: ``args_options`` as
``tools/train.py`` flags, the config written for the stages, the runner with our hooks."""
from __future__ import annotations

import argparse
import os
import shlex
from typing import Any, Callable, Mapping, Optional, Sequence

from ..dist import world
from ..errors import ConfigError, ModelError


class _RaisingParser(argparse.ArgumentParser):
    """argparse that raises instead of exiting (``exit_on_error`` needs Python 3.9; the images run 3.8)."""

    def error(self, message: str):
        raise ValueError(message)


def parse_train_args(text: Any) -> argparse.Namespace:
    """``args_options``: the flags of OpenMMLab's ``tools/train.py`` that apply here (``--amp``,
    ``--auto-scale-lr``, ``--seed N``, ``--deterministic``, ``--resume``: see :func:`resume_file`), split like a
    shell would, never given to one."""
    parser = _RaisingParser(prog="args_options", add_help=False)
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--auto-scale-lr", action="store_true")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--deterministic", action="store_true")
    parser.add_argument("--resume", action="store_true")
    text = "" if text is None else str(text)
    expected = "flags among --amp, --auto-scale-lr, --seed N, --deterministic, --resume"
    try:
        args, unknown = parser.parse_known_args(shlex.split(text))
    except (ValueError, argparse.ArgumentError) as e:
        raise ConfigError("args_options", text, f"{expected} ({e})") from None
    for token in unknown:
        flag = token.split("=", 1)[0]
        owner = OWNED_TRAIN_FLAGS.get(flag.replace("_", "-"))
        if owner:
            raise ConfigError("args_options", text, message=f"config key 'args_options' = {text!r}: {flag} is set "
                                                            f"by {owner}, not by a flag")
    if unknown:
        raise ConfigError("args_options", text, f"{expected}; {' '.join(unknown)!r} is not")
    return args


#: the other flags of OpenMMLab's ``tools/train.py``: what a task sets them with
OWNED_TRAIN_FLAGS = {
    "--work-dir": "the task's output folder", "--cfg-options": "the key cfg_options",
    "--launcher": "gpu_id (the SDK starts one process per GPU)", "--local-rank": "gpu_id (the SDK's launcher)",
}


def score_thr(model_cfg: Mapping[str, Any]) -> float:
    from .config import score_parts

    parts = score_parts(model_cfg)
    return float(parts[0]["score_thr"]) if parts else 0.0


def apply_train_args(cfg, args: argparse.Namespace, text: Any, gpu_ids, model_files: Sequence[str] = ()) -> None:
    """``args_options`` (parsed by :func:`parse_train_args`) applied as OpenMMLab's ``tools/train.py`` does;
    ``--resume`` continues the training whose state is among ``model_files`` (the task's pretrained model)."""
    import torch

    if args.resume:
        cfg.resume, cfg.load_from = True, resume_file(model_files)

    if args.amp:
        if not torch.cuda.is_available() or not gpu_ids:
            raise ConfigError("args_options", text, "--amp only with a GPU (gpu_id)")
        cfg.optim_wrapper.type = "AmpOptimWrapper"
        cfg.optim_wrapper.setdefault("loss_scale", "dynamic")
    if args.auto_scale_lr:
        if "auto_scale_lr" not in cfg or "base_batch_size" not in cfg.auto_scale_lr:
            raise ConfigError("args_options", text, "--auto-scale-lr only with a config that has "
                              "auto_scale_lr.base_batch_size")
        cfg.auto_scale_lr.enable = True
    if args.seed is not None or args.deterministic:
        cfg.randomness = dict(seed=args.seed, deterministic=args.deterministic)


def resume_file(model_files: Sequence[str]) -> str:
    """``--resume``: the training state among the pretrained model's files (the latest stage of a training
    carries it: :class:`~ymir_sdk.openmmlab.hooks.YmirResumeHook`); a 300001 naming what to choose when the
    chosen model has none."""
    from ..models import RESUME_FILE

    found = [f for f in model_files if os.path.basename(f) == RESUME_FILE]
    if not found:
        raise ConfigError("args_options", "--resume", message=(
            "config key 'args_options' = '--resume': the chosen model (pretrained_model_params) carries no "
            f"training state ({RESUME_FILE}); choose the latest stage of the training to continue"))
    return found[0]


def check_keep(max_keep_checkpoints: int) -> None:
    if max_keep_checkpoints == 0 or max_keep_checkpoints < -1:
        raise ConfigError("max_keep_checkpoints", max_keep_checkpoints, "-1 (keep all) or a count >= 1")


def dump_config(cfg, work_dir: str, config_file: str) -> str:
    """The training config as the stages will carry it, written atomically (every rank writes the same text)."""
    path = os.path.join(work_dir, os.path.basename(config_file))
    tmp = f"{path}.{os.getpid()}.tmp.py"
    cfg.dump(tmp)
    os.replace(tmp, path)
    return path


def run_training(ctx, cfg, config_path: str, metric_map: Mapping[str, str],
                 keep: int, main_metric: str = "mAP", classes: Optional[Sequence[str]] = None,
                 evaluate_config: Optional[Mapping[str, float]] = None, val_file: Optional[str] = None,
                 rotated_iou: Optional[Callable[[Any, Any], Any]] = None) -> None:
    """mmengine's runner on ``cfg`` with our progress, stage and TensorBoard hooks (:mod:`.hooks`); pretrained
    weights that do not fit the model are refused before training starts. ``classes``: the model's (default the
    task's), saved with each stage; ``evaluate_config``: the stages' (default: detection's IoU 0.5 and the model's
    score threshold); ``val_file``: the validation COCO json the pictures' ground truth comes from;
    ``rotated_iou``: how the TensorBoard's PR curves match rotated boxes."""
    from mmengine.runner import Runner

    from ..dist import init_process_group
    from ..torch.board import TrainingBoard
    from .hooks import YmirBoardHook, YmirProgressHook, YmirResumeHook, YmirStageHook

    backend = ((cfg.get("env_cfg") or {}).get("dist_cfg") or {}).get("backend")
    if cfg.get("launcher") == "pytorch" and backend == "gloo":
        # joined here: mmengine 0.10.7's init_dist calls torch.cuda.set_device for every backend (no GPU: fails);
        # the runner then finds the group and uses it
        init_process_group("gloo")
    runner = Runner.from_cfg(cfg)
    if cfg.get("load_from"):  # (with cfg.resume, the training state: the same check, and the safe loader first)
        from .infer import check_pretrained

        check_pretrained(runner.model, cfg.load_from)
    result = ctx.training_result()
    runner.register_hook(YmirProgressHook(ctx.progress))
    runner.register_hook(YmirResumeHook(result, is_main=lambda: world()[0] == 0))
    runner.register_hook(YmirStageHook(result, config_path, metric_map, keep,
                                       evaluate_config=({"iou_thr": 0.5, "conf_thr": score_thr(cfg.model)}
                                                        if evaluate_config is None else evaluate_config),
                                       classes=ctx.class_names if classes is None else classes,
                                       main_metric=main_metric, is_main=lambda: world()[0] == 0))
    board = TrainingBoard(ctx.env.output.tensorboard_dir, ctx.class_names if classes is None else classes,
                          rotated_iou=rotated_iou)
    runner.register_hook(YmirBoardHook(board, metric_map, val_file, is_main=lambda: world()[0] == 0))
    runner.train()
    if world()[0] == 0 and not result.stages:
        raise ModelError("training ended without a validated checkpoint")
