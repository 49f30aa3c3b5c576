"""yolov5 detection executor: a small adapter over the released ``yolov5`` package (7.0.14, ultralytics/yolov5
v7.0 models). Training goes through ``yolov5.train.main`` with callbacks (no patched train script); inference and
mining use the model's own forward pass; mining algorithms come from ``ymir_sdk.mining``."""
from __future__ import annotations

import functools
import logging
import os
import shlex
import shutil
from typing import Dict, List, Literal, Optional, Sequence

import numpy as np
from pydantic import AliasChoices, Field

from ymir_sdk import ConfigError, Executor, HyperParams, ImageError, ModelError, YmirError, pick_weight_file
from ymir_sdk.config import FloatList
from ymir_sdk.dataset import convert_to_yolo
from ymir_sdk.dist import world
from ymir_sdk.mining import (MAX_DETECTIONS, DetOutput, HeadMaps, aldd_scores, algorithm_name, cald_scores,
                             entropy_scores, random_scores)
from ymir_sdk.results import Detection

log = logging.getLogger("ymir_sdk")
MODELS = ("yolov5n", "yolov5s", "yolov5m", "yolov5l", "yolov5x", "yolov5n6", "yolov5s6", "yolov5m6", "yolov5l6")
ModelName = Literal["yolov5n", "yolov5s", "yolov5m", "yolov5l", "yolov5x", "yolov5n6", "yolov5s6", "yolov5m6",
                    "yolov5l6"]


class TrainParams(HyperParams):
    shm_size: str = "128G"
    export_format: str = "ark:raw"
    model: ModelName = "yolov5s"
    batch_size_per_gpu: int = Field(16, ge=1)
    num_workers_per_gpu: int = Field(4, ge=0)
    epochs: int = Field(100, ge=1)
    img_size: int = Field(640, ge=32)
    opset: int = Field(11, ge=7)
    args_options: str = "--exist-ok"
    save_best_only: bool = True
    save_period: int = 10
    sync_bn: bool = False
    activate: str = Field("", validation_alias=AliasChoices("activate", "activation"))


class InferParams(HyperParams):
    img_size: int = Field(640, ge=32)
    conf_thres: float = Field(0.25, ge=0, le=1)
    iou_thres: float = Field(0.45, ge=0, le=1)
    batch_size_per_gpu: int = Field(16, ge=1)
    num_workers_per_gpu: int = Field(4, ge=0)
    shm_size: str = "128G"
    pin_memory: bool = False


class MineParams(InferParams):
    mining_algorithm: str = "aldd"
    class_distribution_scores: FloatList = []


# ------------------------------------------------------------------------------------------------ set-up
def prepare_offline(work_dir: str) -> None:
    """yolov5 7.0.14 and ultralytics look things up on the network unless told otherwise: set the offline
    switch and give them a font (they download Arial.ttf into their config dir otherwise). Before any import."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("YOLO_VERBOSE", "False")
    cfg = os.path.join(work_dir, "yolo-config")
    os.makedirs(cfg, exist_ok=True)
    import matplotlib

    font = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf", "DejaVuSans.ttf")
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        if not os.path.exists(os.path.join(cfg, name)):
            shutil.copyfile(font, os.path.join(cfg, name))
    os.environ["YOLOV5_CONFIG_DIR"] = cfg
    os.environ["YOLO_CONFIG_DIR"] = cfg
    import yolov5.models.common as common
    import yolov5.models.experimental as experimental
    import yolov5.models.yolo as yolo

    from ymir_sdk.torch import allow_checkpoint_classes

    allow_checkpoint_classes([common, yolo, experimental])


def model_yaml(name: str) -> str:
    import yolov5

    root = os.path.join(os.path.dirname(yolov5.__file__), "models")
    path = os.path.join(root, f"{name}.yaml")
    return path if os.path.exists(path) else os.path.join(root, "hub", f"{name}.yaml")


def check_architecture(weights: str, cfg_path: str) -> None:
    """Refuse a checkpoint whose architecture differs from the chosen model (yolov5 would load what matches and
    silently leave the rest random)."""
    import yaml

    from ymir_sdk.torch import load_checkpoint

    ckpt = load_checkpoint(weights)
    model = ckpt.get("ema") or ckpt.get("model") if isinstance(ckpt, dict) else None
    have = getattr(model, "yaml", None)
    if not isinstance(have, dict):
        raise ModelError(f"{weights} is not a yolov5 checkpoint (no model with a yaml inside)")
    with open(cfg_path) as f:
        want = yaml.safe_load(f)
    keys = ("depth_multiple", "width_multiple", "backbone", "head")
    if any(have.get(k) != want.get(k) for k in keys):
        name = os.path.splitext(os.path.basename(cfg_path))[0]
        raise ModelError(f"pretrained weights {os.path.basename(weights)} are not a {name} model "
                         f"(depth {have.get('depth_multiple')}, width {have.get('width_multiple')}); choose the "
                         f"model they were trained with")


def apply_args_options(opt, text: str) -> None:
    """``args_options`` as yolov5 command-line flags, split like a shell would but never given to one; each
    flag must be one of yolov5's training options."""
    tokens = shlex.split(text or "")
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--"):
            raise ConfigError("args_options", text, f"yolov5 training flags (--name [value]); {tok!r} is not one")
        key = tok[2:].replace("-", "_")
        value: Optional[str] = None
        if "=" in key:
            key, value = key.split("=", 1)
        if not hasattr(opt, key):
            raise ConfigError("args_options", text, f"yolov5 training flags; --{key} is not one")
        current = getattr(opt, key)
        if value is None and isinstance(current, bool):
            setattr(opt, key, True)
            i += 1
            continue
        if value is None:
            if i + 1 >= len(tokens):
                raise ConfigError("args_options", text, f"a value after --{key}")
            value = tokens[i + 1]
            i += 1
        try:
            setattr(opt, key, type(current)(value) if current is not None and not isinstance(current, (list, bool))
                    else value)
        except ValueError:
            raise ConfigError("args_options", text, f"--{key} as {type(current).__name__}") from None
        i += 1


# ------------------------------------------------------------------------------------------------ model use
def letterbox_one(img: np.ndarray, size: int):
    """The letterboxed CHW uint8 tensor of one RGB image and (ratio, padding, original shape)."""
    import torch
    from yolov5.utils.augmentations import letterbox

    boxed, ratio, pad = letterbox(img, (size, size), auto=False)
    return torch.from_numpy(np.ascontiguousarray(boxed.transpose(2, 0, 1))), (ratio, pad, img.shape[:2])


def letterbox_batch(images: Sequence[np.ndarray], size: int):
    """Letterboxed float batch in [0, 1] and, per image, (ratio, padding, original shape)."""
    import torch

    done = [letterbox_one(img, size) for img in images]
    return torch.stack([t for t, _ in done]).float() / 255, [m for _, m in done]


def nms_with_probs(pred, conf_thres: float, iou_thres: float, metas) -> List[DetOutput]:
    """Class-aware NMS that keeps each box's class probabilities (obj x cls), boxes scaled back to the image."""
    import torch
    import torchvision

    out = []
    for x, (ratio, (pw, ph), (h, w)) in zip(pred, metas):
        probs = x[:, 5:] * x[:, 4:5]
        score, label = probs.max(1)
        keep = score > conf_thres
        x, probs, score, label = x[keep], probs[keep], score[keep], label[keep]
        boxes = torch.cat([x[:, :2] - x[:, 2:4] / 2, x[:, :2] + x[:, 2:4] / 2], 1)
        idx = torchvision.ops.batched_nms(boxes, score, label, iou_thres)[:MAX_DETECTIONS]
        b = boxes[idx].clone()
        b[:, [0, 2]] = ((b[:, [0, 2]] - pw) / ratio[0]).clamp(0, w)
        b[:, [1, 3]] = ((b[:, [1, 3]] - ph) / ratio[1]).clamp(0, h)
        out.append(DetOutput(b.numpy(), score[idx].numpy(), label[idx].numpy(), probs[idx].numpy()))
    return out


def forward(model, device, images, size: int, conf: float, iou: float, heads: bool = False, prepared=None):
    """Detections (with class probabilities) of a batch, and for ``heads`` the dense head probabilities ALDD
    needs. ``prepared``: the letterboxed batch and its metas when a DataLoader made them already."""
    import torch

    x, metas = prepared if prepared is not None else letterbox_batch(images, size)
    with torch.no_grad():
        pred, raw = model(x.to(device, non_blocking=True))
    dets = nms_with_probs(pred.float().cpu(), conf, iou, metas)
    if not heads:
        return dets, None
    maps = [(r[..., 4:5].sigmoid() * r[..., 5:].sigmoid()).float().cpu().numpy() for r in raw]
    return dets, [HeadMaps([m[i] for m in maps], (size, size)) for i in range(len(images))]


def load_item(path: str, size: int):
    """What a DataLoader worker prepares for one image: the RGB image, its letterboxed CHW uint8 tensor, and
    (ratio, padding, original shape) to map boxes back."""
    img = read_rgb(path)
    return (img, *letterbox_one(img, size))


def read_rgb(path: str) -> np.ndarray:
    import cv2

    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ImageError(f"image unreadable: {path}")
    return np.ascontiguousarray(img[:, :, ::-1])


class Yolov5Executor(Executor):
    name = "yolov5"
    object_types = (2,)
    TrainParams, InferParams, MineParams = TrainParams, InferParams, MineParams

    # ------------------------------------------------------------------------------------------- training
    def train(self, ctx) -> None:
        p = ctx.params
        prepare_offline(ctx.work_dir)
        import torch
        import yolov5.models.common as common
        import yolov5.train as yolo_train
        from yolov5.utils.callbacks import Callbacks

        data = convert_to_yolo({"train": ctx.training_pairs(), "val": ctx.validation_pairs()}, ctx.class_names,
                               ctx.work_dir)
        ctx.progress(1.0, "preprocess")
        cfg = model_yaml(p.model)
        weights = ""
        if p.pretrained_model_params:
            weights = pick_weight_file(ctx.model_files(), (".pt",))
            check_architecture(weights, cfg)
        if p.activate:
            act = getattr(torch.nn, p.activate, None)
            if not (isinstance(act, type) and issubclass(act, torch.nn.Module)):
                raise ConfigError("activate", p.activate, "a torch.nn activation class such as ReLU, SiLU, "
                                  "Hardswish, LeakyReLU")
            common.Conv.default_act = act()  # public class attribute of yolov5 v7.0's Conv
        n_gpu = max(1, len(p.gpu_ids))
        opt = yolo_train.parse_opt(True)
        for k, v in dict(data=data, cfg=cfg, weights=weights, epochs=p.epochs, batch_size=p.batch_size_per_gpu * n_gpu,
                         imgsz=p.img_size, device=p.gpu_id or "cpu", workers=p.num_workers_per_gpu,
                         project=os.path.join(ctx.work_dir, "yolov5"), name="train", exist_ok=True, noplots=True,
                         sync_bn=p.sync_bn and n_gpu > 1, save_period=-1).items():
            setattr(opt, k, v)
        apply_args_options(opt, p.args_options)
        if os.environ.get("LOCAL_RANK", "-1") != "-1":
            opt.device = p.gpu_id  # DDP: yolov5 picks cuda:LOCAL_RANK itself
        stages = StageWriter(ctx, p)
        callbacks = Callbacks()
        callbacks.register_action("on_fit_epoch_end", callback=stages.on_fit_epoch_end)
        callbacks.register_action("on_model_save", callback=stages.on_model_save)
        yolo_train.main(opt, callbacks)
        if world()[0] == 0:
            stages.finish()

    # ------------------------------------------------------------------------------------------- model use
    def _load(self, ctx):
        prepare_offline(ctx.work_dir)
        import torch
        from yolov5.models.experimental import attempt_load

        weights = pick_weight_file(ctx.model_files(), (".pt",))
        try:
            model = attempt_load(weights, device=torch.device("cpu"), fuse=True)
        except ModelError:
            raise
        except Exception as e:  # noqa: BLE001 - anything a broken file raises is a model error
            raise ModelError(f"model file {os.path.basename(weights)} cannot be loaded: {e}") from None
        nc = int(getattr(model, "nc", 0))
        if nc != len(ctx.class_names):
            raise ModelError(f"the model has {nc} classes, the task's class_names {len(ctx.class_names)}")
        device = self._device(ctx)
        return model.to(device).eval(), device

    @staticmethod
    def _device(ctx):
        import torch

        if not ctx.params.gpu_ids:
            return torch.device("cpu")
        local = int(os.environ.get("LOCAL_RANK", "0"))
        return torch.device("cuda", ctx.params.gpu_ids[local % len(ctx.params.gpu_ids)])

    def _map(self, ctx, fn):
        """fn(images, (batch tensor, metas)) -> per-image results over the readable candidates: images are read
        and letterboxed by DataLoader workers (``num_workers_per_gpu``, ``pin_memory``), sharded over ranks."""
        import torch

        def batch(items):
            prepared = (torch.stack([it[1] for it in items]).float() / 255, [it[2] for it in items])
            return fn([it[0] for it in items], prepared)

        return ctx.map_candidates(batch, functools.partial(load_item, size=ctx.params.img_size),
                                  ctx.params.batch_size_per_gpu, ctx.params.num_workers_per_gpu,
                                  ctx.params.pin_memory and bool(ctx.params.gpu_ids))

    # ------------------------------------------------------------------------------------------- inference
    def infer(self, ctx) -> None:
        p = ctx.params
        model, device = self._load(ctx)
        found = self._map(ctx, lambda images, prep: forward(model, device, images, p.img_size, p.conf_thres,
                                                            p.iou_thres, prepared=prep)[0])
        if world()[0] == 0:
            ctx.write_detections({p: [Detection(int(c), float(s), *b) for b, s, c in zip(d.boxes, d.scores, d.labels)]
                                  for p, d in found.items()})

    # ------------------------------------------------------------------------------------------- mining
    def mine(self, ctx) -> None:
        p = ctx.params
        algorithm = algorithm_name(p.mining_algorithm, 2)
        n = len(ctx.class_names)
        if algorithm == "random":
            paths = ctx.readable(ctx.candidates())
            scores = dict(zip(paths, random_scores(paths).tolist()))
        else:
            model, device = self._load(ctx)

            def score(images, prep):
                dets, heads = forward(model, device, images, p.img_size, p.conf_thres, p.iou_thres,
                                      heads=algorithm == "aldd", prepared=prep)
                if algorithm == "entropy":
                    return entropy_scores(dets, n).tolist()
                if algorithm == "aldd":
                    return aldd_scores(heads, p.class_distribution_scores).tolist()
                detect = lambda imgs: [d for i in range(0, len(imgs), p.batch_size_per_gpu)  # noqa: E731
                                       for d in forward(model, device, imgs[i:i + p.batch_size_per_gpu],
                                                        p.img_size, p.conf_thres, p.iou_thres)[0]]
                return cald_scores(images, dets, detect, n).tolist()

            scores = self._map(ctx, score)
        if world()[0] == 0:
            ctx.write_mining(scores, ctx.candidates())


class StageWriter:
    """yolov5 training callbacks -> model stages, TensorBoard scalars and progress, from the runner's own
    validation results and checkpoints (no log parsing, no guessing from file names)."""

    def __init__(self, ctx, params: TrainParams):
        self.ctx, self.p = ctx, params
        self.result = ctx.training_result()
        self.metrics: Dict[str, float] = {}
        self.best_map = -1.0
        self.done = False
        self.writer = None
        self.best_files: List[str] = []

    def _tb(self, tag: str, value: float, step: int) -> None:
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(self.ctx.env.output.tensorboard_dir)
        self.writer.add_scalar(tag, value, step)

    def on_fit_epoch_end(self, log_vals, epoch, best_fitness, fi) -> None:
        if self.done:  # yolov5 re-validates best.pt after the last epoch: not an epoch of its own
            return
        keys = ("train/box_loss", "train/obj_loss", "train/cls_loss", "metrics/precision", "metrics/recall",
                "metrics/mAP_0.5", "metrics/mAP_0.5:0.95", "val/box_loss", "val/obj_loss", "val/cls_loss")
        values = [float(v) for v in log_vals[: len(keys)]]
        for k, v in zip(keys, values):
            self._tb(k, v, epoch)
        self.metrics = {"mAP": values[5], "mAR": values[4]}
        self.ctx.progress((epoch + 1) / self.p.epochs)

    def on_model_save(self, last, epoch, final_epoch, best_fitness, fi) -> None:
        from yolov5.utils.general import strip_optimizer

        models = self.ctx.env.output.models_dir
        metrics = {k: min(1.0, max(0.0, v)) for k, v in self.metrics.items()}
        if metrics.get("mAP", -1) > self.best_map:
            self.best_map = metrics["mAP"]
            target = os.path.join(models, "best", "best.pt")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            strip_optimizer(str(last), target)
            self.best_files = [target]
            self.result.add_stage("best", self.best_files, metrics, evaluate_config=self._eval_config())
        if not self.p.save_best_only and self.p.save_period > 0 and (epoch + 1) % self.p.save_period == 0:
            name = f"epoch_{epoch + 1}"
            target = os.path.join(models, name, f"{name}.pt")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            strip_optimizer(str(last), target)
            self.result.add_stage(name, [target], metrics, evaluate_config=self._eval_config())
        if final_epoch:
            self.done = True

    def _eval_config(self) -> Dict[str, float]:
        # yolov5's validation: conf 0.001, NMS IoU 0.6, AP at IoU 0.5
        return {"iou_thr": 0.5, "conf_thr": 0.001}

    def finish(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if not self.best_files:
            raise ModelError("training ended without a validated checkpoint")
        self.ctx.progress(0.5, "postprocess")
        onnx = export_onnx(self.best_files[0], self.p.img_size, self.p.opset)
        best = self.result.stages["best"]
        metrics = {k: v for k, v in best.items() if k in ("mAP", "mAR")}
        self.result.add_stage("best", self.best_files + [onnx], metrics, timestamp=best["timestamp"])
        self.ctx.progress(1.0, "postprocess")


def export_onnx(weights: str, img_size: int, opset: int) -> str:
    """ONNX export of a trained checkpoint with yolov5's own exporter."""
    import functools

    import torch
    from yolov5 import export

    # Shim: yolov5 7.0.14 calls torch.onnx.export without ``dynamo``; since torch 2.9 that means the dynamo
    # exporter (needs onnxscript, ignores opset 11). Pass dynamo=False for the duration of the call.
    original = torch.onnx.export
    torch.onnx.export = functools.partial(original, dynamo=False)
    try:
        files = export.run(weights=weights, imgsz=(img_size, img_size), include=("onnx",), opset=opset,
                           device="cpu")
    finally:
        torch.onnx.export = original
    onnx = next((str(f) for f in files if f and str(f).endswith(".onnx")), None)
    if onnx is None or not os.path.exists(onnx):
        raise YmirError(f"ONNX export of {os.path.basename(weights)} failed (see the log)")
    return onnx
