"""Training through the released yolov5 package (``yolov5.train.main`` and its callbacks, no patched train
script): options from the task's params and ``args_options``, model stages from the runner's own validation
results, the ONNX export of the best stage."""
from __future__ import annotations

import functools
import os
import shutil
import tempfile
from typing import Any, Dict, List, Mapping

import numpy as np

from ..dist import world
from ..errors import ModelError, YmirError
from ..io import atomic_output, link_or_copy
from ..results import fraction
from .common import parse_args_options


def set_activation(name: str) -> None:
    """``activate``: a torch.nn activation class (validated with the params) for every Conv (yolov5 v7.0's public
    ``Conv.default_act``)."""
    import torch
    import yolov5.models.common as common

    common.Conv.default_act = getattr(torch.nn, name)()


def train_task(ctx, module_name: str, writer: "StageWriter", segments: bool = False, **extra: Any) -> None:
    """A training task of a yolov5 executor (detection: ``yolov5.train``; instance segmentation:
    ``yolov5.segment.train``): the dataset as YOLO labels (with polygons for ``segments``), the model's yaml, the
    initial weights (checked to be that architecture), the activation, the options of the task's params (and
    ``extra``), then :func:`train`."""
    import importlib

    from ..dataset import convert_to_yolo
    from .common import check_architecture, model_yaml, prepare_offline

    p = ctx.params
    data = ctx.training_dataset(convert_to_yolo, segments=segments)
    prepare_offline(ctx.work_dir)  # the dataset is checked and converted: now the framework
    module = importlib.import_module(module_name)
    ctx.progress(1.0, "preprocess")
    cfg = model_yaml(p.model)
    weights = ctx.initial_weights(p.model, (".pt",)) or ""
    if weights:
        check_architecture(weights, cfg)
    if getattr(p, "activate", ""):
        set_activation(p.activate)
    n_gpu = max(1, len(p.gpu_ids))
    settings = dict(data=data, cfg=cfg, weights=weights, epochs=p.epochs, batch_size=p.batch_size_per_gpu * n_gpu,
                    imgsz=p.img_size, workers=p.num_workers_per_gpu, sync_bn=p.sync_bn and n_gpu > 1, **extra)
    train(ctx, module, settings, writer)


def train(ctx, module, settings: Mapping[str, Any], writer: "StageWriter") -> None:
    """Run ``module.main`` (``yolov5.train``) with its options set from ``settings`` then the task's
    ``args_options`` (they win), on the task's devices; ``writer`` turns its callbacks into model stages."""
    from yolov5.utils.callbacks import Callbacks

    p = ctx.params
    opt = module.parse_opt(True)
    # yolov5's own periodic checkpoints off unless the writer asks for them (``settings``)
    for k, v in dict({"save_period": -1, **settings}, device=p.gpu_id or "cpu",
                     project=os.path.join(ctx.work_dir, "yolov5"), name="train", exist_ok=True,
                     noplots=not writer.plots).items():
        setattr(opt, k, v)
    for k, v in parse_args_options(module, p.args_options).items():
        setattr(opt, k, v)
    if os.environ.get("LOCAL_RANK", "-1") != "-1":
        opt.device = p.gpu_id  # DDP: yolov5 picks cuda:LOCAL_RANK itself
    callbacks = Callbacks()
    restore = writer.install(module, callbacks)
    try:
        module.main(opt, callbacks)
    finally:
        restore()
    if world()[0] == 0:
        writer.finish()


class StageWriter:
    """yolov5 training callbacks -> model stages, the training's TensorBoard and progress, from the runner's own
    validation results and checkpoints (no log parsing, no guessing from file names).

    ``KEYS`` name the values yolov5 passes to ``on_fit_epoch_end`` (then the learning rates, and per class the AP
    at 0.5:0.95 and at 0.5); :meth:`stage_metrics` picks the stage's metrics from them (detection: ``mAP`` =
    mAP@0.5, ``mAR``). The TensorBoard (:class:`ymir_sdk.torch.board.TrainingBoard`) gets the scalars in the SDK's
    scheme, the first training batch (``on_train_batch_end``) and each validation's pictures, PR curves and
    confusion matrix (``on_val_batch_end``: the letterboxed images, their labels and the predictions after NMS)."""

    KEYS = ("train/box_loss", "train/obj_loss", "train/cls_loss", "metrics/precision", "metrics/recall",
            "metrics/mAP_0.5", "metrics/mAP_0.5:0.95", "val/box_loss", "val/obj_loss", "val/cls_loss")
    #: yolov5's validation: conf 0.001, NMS IoU 0.6, AP at IoU 0.5
    EVALUATE_CONFIG = {"iou_thr": 0.5, "conf_thr": 0.001}
    #: whether yolov5 draws its own plot files (no: the board draws)
    plots = False

    def __init__(self, ctx):
        from ..torch.board import TrainingBoard

        self.ctx, self.p = ctx, ctx.params
        self.result = ctx.training_result()
        self.metrics: Dict[str, float] = {}
        self.best_map = -1.0
        self.done = False
        self.board = TrainingBoard(ctx.env.output.tensorboard_dir, ctx.class_names)
        self.best_files: List[str] = []

    def stage_metrics(self, values: Mapping[str, float]) -> Dict[str, float]:
        return {"mAP": values["metrics/mAP_0.5"], "mAR": values["metrics/recall"]}

    def install(self, module, callbacks):
        """Hook into the training module (``yolov5.train``: its callbacks); returns what undoes it."""
        callbacks.register_action("on_fit_epoch_end", callback=self.on_fit_epoch_end)
        callbacks.register_action("on_model_save", callback=self.on_model_save)
        callbacks.register_action("on_train_batch_end", callback=self.on_train_batch_end)
        callbacks.register_action("on_val_batch_end", callback=self.on_val_batch_end)
        return lambda: None

    def on_train_batch_end(self, model, ni, imgs, targets, paths, *rest) -> None:
        if not self.board.shown_batch:  # the first batch this run trains on
            self.board.draw("training_batch", self._training_batch, imgs, targets)

    def _training_batch(self, imgs, targets) -> None:
        images = _rgb(imgs)
        h, w = images.shape[1:3]
        t = targets.detach().float().cpu().numpy()
        scale = (w, h, w, h) if t.size and t[:, 2:6].max() <= 1.01 else (1, 1, 1, 1)  # normalised xywh
        self.board.training_batch(list(images), [_xyxy(t[t[:, 0] == i, 1:6], scale) for i in range(len(images))])

    def on_val_batch_end(self, batch_i, im, targets, paths, shapes, preds) -> None:
        if not self.done:
            self.board.draw("validation pictures", self._validation_batch, batch_i, im, targets, preds)

    def _validation_batch(self, batch_i, im, targets, preds) -> None:
        if batch_i == 0:
            self.board.begin_validation()
        t = targets.detach().float().cpu().numpy()
        for i, pred in enumerate(preds):
            image = _rgb(im[i:i + 1])[0] if self.board.wants_image() else None
            self.board.add_validation_image(image, _xyxy(t[t[:, 0] == i, 1:6]), pred.detach().float().cpu().numpy())

    def on_fit_epoch_end(self, log_vals, epoch, best_fitness, fi) -> None:
        if self.done:  # yolov5 re-validates best.pt after the last epoch: not an epoch of its own
            return
        values = {k: float(v) for k, v in zip(self.KEYS, log_vals)}
        # the step is the epochs done, as the stage's name (epoch_<N>) and the OpenMMLab images' steps
        self.board.scalars(epoch + 1, self.scheme(values, [float(v) for v in log_vals[len(self.KEYS):]]))
        self.board.end_validation(epoch + 1)
        self.metrics = self.stage_metrics(values)
        self.ctx.progress((epoch + 1) / self.p.epochs)

    def scheme(self, values: Mapping[str, float], rest: List[float]) -> Dict[str, float]:
        """The epoch's scalars in the SDK's scheme; ``rest``: yolov5 7.0.14's learning rates (3), then per class
        AP@0.5:0.95 and AP@0.5."""
        from ..torch.board import yolov5_scalars

        out = yolov5_scalars({**values, **({"x/lr0": rest[0]} if rest else {})})
        n = len(self.ctx.class_names)
        if len(rest) == 3 + 2 * n:
            out.update({f"val/AP/{name}": ap for name, ap in zip(self.ctx.class_names, rest[3 + n:])})
        return out

    def _write_stage(self, name: str, last, metrics: Mapping[str, float]) -> List[str]:
        from yolov5.utils.general import strip_optimizer

        target = os.path.join(self.ctx.env.output.models_dir, name, f"{name}.pt")
        with atomic_output(target) as tmp:  # result.yaml may list the previous best.pt meanwhile
            strip_optimizer(str(last), tmp)
        self.result.add_stage(name, [target], metrics, evaluate_config=self.EVALUATE_CONFIG)
        return [target]

    def on_model_save(self, last, epoch, final_epoch, best_fitness, fi) -> None:
        metrics = {k: fraction(v, k, f"epoch_{epoch + 1}") for k, v in self.metrics.items()}
        if metrics.get("mAP", -1) > self.best_map:
            self.best_map = metrics["mAP"]
            self.best_files = self._write_stage("best", last, metrics)
        if not self.p.save_best_only and self.p.save_period > 0 and (epoch + 1) % self.p.save_period == 0:
            self._write_stage(f"epoch_{epoch + 1}", last, metrics)
        if final_epoch:
            self.done = True

    def finish(self) -> None:
        self.board.close()
        if not self.best_files:
            raise ModelError("training ended without a validated checkpoint")
        self.ctx.progress(0.5, "postprocess")
        onnx = export_onnx(self.best_files[0], self.p.img_size, self.p.opset)
        best = self.result.stages["best"]
        metrics = {k: v for k, v in best.items() if k in self.metrics}
        self.result.add_stage("best", self.best_files + [onnx], metrics, timestamp=best["timestamp"])
        self.ctx.progress(1.0, "postprocess")


def _rgb(images) -> np.ndarray:
    """A batch tensor (B, 3, H, W) of RGB, 0-255 or 0-1, as (B, H, W, 3) uint8."""
    x = images.detach().float().cpu().numpy()
    if x.size and x.max() <= 1.0 + 1e-6:
        x = x * 255.0
    return np.clip(x, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def _xyxy(rows, scale=(1, 1, 1, 1)) -> np.ndarray:
    """yolov5 labels ``class cx cy w h`` (times ``scale``) as ``class x1 y1 x2 y2``."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
    cx, cy, w, h = (rows[:, 1:5] * np.asarray(scale, dtype=np.float64)).T
    return np.stack([rows[:, 0], cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)


def export_onnx(weights: str, img_size: int, opset: int) -> str:
    """ONNX export of a trained checkpoint with yolov5's own exporter."""
    import torch
    from yolov5 import export

    from ..torch.compat import onnx_export_kwargs

    # yolov5 7.0.14 calls torch.onnx.export without ``dynamo``; since torch 2.9 that means the dynamo exporter
    # (needs onnxscript, ignores opset 11). The version gate says which arguments select the TorchScript one.
    original = torch.onnx.export
    torch.onnx.export = functools.partial(original, **onnx_export_kwargs())
    target = os.path.splitext(weights)[0] + ".onnx"
    work = tempfile.mkdtemp(dir=os.path.dirname(weights), prefix=".export-")  # the exporter writes beside its input
    try:
        source = os.path.join(work, os.path.basename(weights))
        link_or_copy(weights, source)
        files = export.run(weights=source, imgsz=(img_size, img_size), include=("onnx",), opset=opset,
                           device="cpu")
        onnx = next((str(f) for f in files if f and str(f).endswith(".onnx")), None)
        if onnx is None or not os.path.exists(onnx):
            raise YmirError(f"ONNX export of {os.path.basename(weights)} failed (see the log)")
        os.replace(onnx, target)  # whole, or not there
    finally:
        torch.onnx.export = original
        shutil.rmtree(work, ignore_errors=True)
    return target
