"""Semantic segmentation on mmsegmentation 1.x: the family base of an executor whose models label every pixel.

What differs from detection, and nothing else (training is the OpenMMLab executor's, inference and mining the
SDK's semantic loop, :mod:`ymir_sdk.loops.segmentation`):

* **data**: the SDK's PNG label maps and ``<split>.tsv`` index (:func:`ymir_sdk.dataset.convert_to_mmseg`),
  read by :class:`YmirSegDataset` (mmseg's ``BaseSegDataset`` over the index: hash-named assets with mixed
  extensions, which mmseg's own ``img_dir + name + suffix`` cannot express). ``ignore_black_area`` False: the
  unlabelled pixels are a ``background`` class 0 (the model has one class more than the task); True: they are
  255, ignored by the loss and the metric. Decided by the key, never by sampling the data;
* **metric**: ``YmirSegMetric``: mIoU, mAcc over the *task's* classes (the background class excluded) and aAcc,
  as fractions (mmseg's ``IoUMetric`` reports percent, background included); a class neither in the validation
  labels nor predicted counts for nothing (NaN, as in mmseg);
* **config**: training counts iterations (``max_iters``, validation every ``interval``: :class:`TrainingSetup`
  ``max_iters``); validation and test batches of one image (mmseg's ``SegDataPreProcessor`` refuses a test batch
  of mixed sizes); no ``reduce_zero_label`` (the label maps are the SDK's); SyncBN is plain BN on the CPU's gloo
  path (:func:`.config.distributed.plain_batchnorm`);
* **batch size**: a model with a pooled BatchNorm branch (FastSCNN's pyramid pooling, PSP and ASPP heads) cannot
  train on one image per GPU (BatchNorm of a 1x1 map of one sample); ``samples_per_gpu`` 1 is a 300001 error
  naming the minimum, checked before any work, and the framework's own error is turned into the same one;
* **probabilities** for mining: the softmax of the logits, or for a head trained with sigmoid losses
  (FastSCNN's ``CrossEntropyLoss(use_sigmoid=True)``) the sigmoids normalised over the classes: what the model
  learnt to output (the argmax, hence inference, is the same either way).
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..dataset import convert_to_mmseg
from ..dataset.imagesize import decode_bgr
from ..errors import ConfigError
from ..loops import segmentation
from ..models import pick_weight_file
from ..loops.settings import Batching, Mining
from ..mining.base import SEMANTIC_SEGMENTATION
from .config import TrainingSetup, walk_dicts
from . import params
from .executor import OpenMMLabExecutor

log = logging.getLogger("ymir_sdk")

#: validation metrics (YmirSegMetric, prefix ``ymir/``) -> stage metrics
SEGMENTATION_METRICS = {"ymir/mIoU": "mIoU", "ymir/mAcc": "mAcc", "ymir/aAcc": "aAcc"}
#: model parts with a pooled (1x1) BatchNorm branch: training needs at least 2 images per GPU
POOLED_BN_TYPES = ("FastSCNN", "PSPHead", "ASPPHead", "DepthwiseSeparableASPPHead", "DNLHead", "APCHead",
                   "DMHead", "ISAHead", "LRASPPHead", "PSAHead", "UPerHead", "SETRUPHead")
BACKGROUND = "background"

_registered: Dict[str, Any] = {}


def register() -> None:
    """mmseg's modules and this module's dataset and metric types (in mmengine's root registries, found from every
    scope, whichever default scope an earlier task left). Idempotent."""
    if _registered:
        return
    from mmengine.registry import DATASETS, METRICS
    from mmseg.datasets import BaseSegDataset
    from mmseg.evaluation import IoUMetric
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=False)

    class YmirSegDataset(BaseSegDataset):
        """The SDK's mmseg index (``image TAB label.png`` per line, absolute paths) as an mmseg dataset."""

        def load_data_list(self) -> List[dict]:
            data_list = []
            with open(self.ann_file, encoding="utf-8") as f:
                for line in f:
                    if not line.strip():
                        continue
                    image, _, label = line.rstrip("\n").partition("\t")
                    data_list.append(dict(img_path=image, seg_map_path=label, label_map=self.label_map,
                                          reduce_zero_label=False, seg_fields=[]))
            return data_list

    class YmirSegMetric(IoUMetric):
        """mIoU and mAcc over the task's classes (``background`` excluded where the model has one: class 0)
        and aAcc, as fractions in [0, 1]; each task class's IoU as ``IoU/<class>`` (for the TensorBoard; a
        class neither in the labels nor predicted has none)."""

        default_prefix = "ymir"

        def __init__(self, background: bool = False, **kwargs) -> None:
            super().__init__(iou_metrics=["mIoU"], **kwargs)
            self.background = bool(background)

        def compute_metrics(self, results: list) -> Dict[str, float]:
            intersect, union, _, label = (np.asarray(sum(r[i] for r in results), dtype=np.float64)
                                          for i in range(4))
            start = 1 if self.background else 0
            names = list((self.dataset_meta or {}).get("classes") or range(len(union)))
            per_class = {f"IoU/{names[i]}": float(intersect[i] / union[i])
                         for i in range(start, min(len(union), len(names))) if union[i] > 0}
            return {"mIoU": _nanmean(intersect[start:], union[start:]),
                    "mAcc": _nanmean(intersect[start:], label[start:]),
                    "aAcc": float(intersect.sum() / label.sum()) if label.sum() else 0.0, **per_class}

    DATASETS.register_module(module=YmirSegDataset, force=True)
    METRICS.register_module(module=YmirSegMetric, force=True)
    _registered.update(dataset=YmirSegDataset, metric=YmirSegMetric)


def _nanmean(num: np.ndarray, den: np.ndarray) -> float:
    """The mean of num/den over the entries with den > 0 (0.0 when there is none)."""
    ok = den > 0
    return float((num[ok] / den[ok]).mean()) if ok.any() else 0.0


def min_batch(model_cfg) -> Tuple[int, str]:
    """(2, the part) for a model with a pooled BatchNorm branch (:data:`POOLED_BN_TYPES`), else (1, '')."""
    found: List[str] = []
    walk_dicts(model_cfg, lambda d: found.append(str(d.get("type", "")).split(".")[-1])
          if str(d.get("type", "")).split(".")[-1] in POOLED_BN_TYPES else None)
    return (2, found[0]) if found else (1, "")


def check_batch(cfg, batch_size: int, key: str = "samples_per_gpu") -> None:
    least, part = min_batch(cfg.model)
    if batch_size < least:
        raise ConfigError(key, batch_size, f"at least {least}: {part} has a pooled BatchNorm branch, which "
                          "cannot train on one image per GPU")


def set_segmentation_data(cfg, setup: TrainingSetup) -> None:
    """The SDK's label maps: no ``reduce_zero_label`` anywhere, validation and test batches of one image."""
    register()
    walk_dicts(cfg.get("train_dataloader"), _no_zero_reduction)
    for name in ("val_dataloader", "test_dataloader"):
        loader = cfg.get(name)
        if loader:
            walk_dicts(loader, _no_zero_reduction)
            loader["batch_size"] = 1


def _no_zero_reduction(d: dict) -> None:
    if "reduce_zero_label" in d:
        d["reduce_zero_label"] = False


def sigmoid_trained(model_cfg) -> bool:
    """Whether the model's decode head is trained with sigmoid losses (its outputs are independent sigmoids)."""
    head = model_cfg.get("decode_head") or {}
    heads = head if isinstance(head, list) else [head]
    losses = (heads[-1] or {}).get("loss_decode") if heads else None
    losses = losses if isinstance(losses, list) else [losses]
    return any(isinstance(loss, dict) and loss.get("use_sigmoid") for loss in losses)


class MmsegSegmenter(segmentation.Segmenter):
    """An mmseg model and its test pipeline for the SDK's semantic loop."""

    def __init__(self, cfg, model, ndarray_type: str = "LoadImageFromNDArray", fp16: bool = False,
                 background: bool = False):
        from .infer import test_pipeline

        self.cfg, self.model, self.fp16 = cfg, model, fp16
        self.offset = 1 if background else 0
        self.pipeline = test_pipeline(cfg, ndarray_type)
        self.sigmoid = sigmoid_trained(cfg.model)

    def read(self, path: str) -> np.ndarray:
        return decode_bgr(path)

    def rgb(self, image: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(image[:, :, ::-1])

    def prepare(self, image: np.ndarray) -> dict:
        return self.pipeline(dict(img=image, img_id=0))

    def _logits(self, prepared: Sequence[dict]) -> list:
        """Per image the (C, H, W) logits at the image's size, on the model's device; images of one
        post-pipeline size go through the model together (mmseg's test batches must have one size)."""
        import torch
        from mmengine.dataset import pseudo_collate

        from ..torch.compat import cuda_fp16

        groups: Dict[tuple, List[int]] = {}
        for i, p in enumerate(prepared):
            groups.setdefault(tuple(p["inputs"].shape), []).append(i)
        out: List[Any] = [None] * len(prepared)
        device = next(self.model.parameters()).device
        autocast = self.fp16 and device.type == "cuda"
        with torch.no_grad():
            for idx in groups.values():
                batch = pseudo_collate([prepared[i] for i in idx])
                with cuda_fp16(autocast):
                    samples = self.model.test_step(batch)
                for i, s in zip(idx, samples):
                    out[i] = s.seg_logits.data.float()
        return out

    def labels(self, prepared: Sequence[dict]) -> List[np.ndarray]:
        return [(logits.argmax(0) if logits.shape[0] > 1 else (logits[0] > 0).long()).cpu().numpy().astype(np.int32)
                for logits in self._logits(prepared)]

    def probabilities(self, prepared: Sequence[dict], max_side: int) -> List[np.ndarray]:
        import torch.nn.functional as F

        out = []
        for logits in self._logits(prepared):
            h, w = logits.shape[-2:]
            scale = min(1.0, max_side / max(h, w))
            if scale < 1.0:
                logits = F.interpolate(logits[None], size=(max(1, round(h * scale)), max(1, round(w * scale))),
                                       mode="bilinear", align_corners=False)[0]
            if logits.shape[0] == 1:
                probs = logits.sigmoid()
            elif self.sigmoid:
                probs = logits.sigmoid()
                probs = probs / probs.sum(0, keepdim=True).clamp_min(1e-12)
            else:
                probs = logits.softmax(0)
            out.append(probs.cpu().numpy())
        return out


class SemanticOpenMMLabExecutor(OpenMMLabExecutor):
    """The semantic-segmentation family (see the module docstring): an executor over mmseg says its configs,
    weights and params."""

    package = "mmseg"
    object_types = (3,)
    coco_types: Tuple[str, ...] = ("YmirSegDataset",)
    metric_type = "YmirSegMetric"
    metric_map = SEGMENTATION_METRICS
    mining_algorithms: Tuple[str, ...] = SEMANTIC_SEGMENTATION
    TrainParams = params.SemanticTrainParams
    InferParams, MineParams = params.SemanticInferParams, params.SemanticMineParams
    family_steps = (set_segmentation_data,)
    main_metric = "mIoU"
    stage_evaluate_config: Optional[Mapping[str, float]] = {}  # the stages hold no detection evaluation

    def register(self) -> None:
        register()

    def classes(self, class_names: Sequence[str], ignore_unlabelled: bool) -> List[str]:
        """The model's classes: the task's, after a ``background`` class 0 unless unlabelled pixels are
        ignored."""
        return list(class_names) if ignore_unlabelled else [BACKGROUND, *class_names]

    # ------------------------------------------------------------------------------------------- training
    def keep_checkpoints(self, p) -> int:
        return 1 if p.save_least_file else p.max_keep_ckpts

    def training_data(self, ctx) -> Tuple[Sequence[str], str, str, int]:
        """mmseg's index files of the label maps; the model's classes (:meth:`classes`)."""
        ignore = bool(ctx.params.ignore_black_area)
        train_pairs = ctx.training_pairs()
        index = ctx.training_dataset(convert_to_mmseg, train_pairs, with_background=not ignore)
        return self.classes(ctx.class_names, ignore), index["train"], index["val"], len(train_pairs)

    def schedule(self, p) -> Dict[str, Any]:
        return dict(max_epochs=1, max_iters=p.max_iters, val_interval=p.interval)

    def evaluator(self, val_file: str, p) -> dict:
        return dict(type=self.metric_type, background=not bool(p.ignore_black_area))

    def check_config(self, cfg, p) -> None:
        check_batch(cfg, p.samples_per_gpu)

    def run(self, ctx, cfg, config_path: str, setup: TrainingSetup, keep: int) -> None:
        try:
            super().run(ctx, cfg, config_path, setup, keep)
        except ValueError as e:
            if "Expected more than 1 value per channel when training" in str(e):
                raise ConfigError("samples_per_gpu", setup.batch_size, "at least 2: the model has a pooled "
                                  "BatchNorm branch, which cannot train on one image per GPU") from None
            raise

    # ------------------------------------------------------------------------------------------- model use
    def segmenter(self, ctx) -> MmsegSegmenter:
        from ..torch.devices import device_for
        from .infer import build_model

        p = ctx.params
        self.prepare(p.gpu_ids)
        cfg = self.model_config(ctx)
        model = build_model(cfg, pick_weight_file(ctx.model_files(), (".pth",)), device_for(p.gpu_ids))
        classes = list((getattr(model, "dataset_meta", None) or {}).get("classes") or [])
        background = self.background_of(classes, ctx.class_names)
        if getattr(p, "fp16", False) and not p.gpu_ids:
            log.info("fp16 ignored: it applies on a GPU")
        return MmsegSegmenter(cfg, model, self.ndarray_type, fp16=bool(getattr(p, "fp16", False)),
                              background=background)

    @staticmethod
    def background_of(model_classes: Sequence[str], class_names: Sequence[str]) -> bool:
        """Whether the model's class 0 is the background class added in training (its classes are the task's
        after ``background``)."""
        if model_classes and len(model_classes) == len(class_names) + 1 and model_classes[0] == BACKGROUND:
            return True
        if model_classes and len(model_classes) != len(class_names):
            from ..errors import ModelError

            raise ModelError(f"the model has {len(model_classes)} classes ({', '.join(model_classes)}), the task's "
                             f"class_names {len(class_names)}")
        return False

    def mine_and_infer(self, mine, infer) -> bool:
        return False  # label maps for inference, class probabilities for mining: two passes

    def infer(self, ctx) -> None:
        p = ctx.params
        segmentation.infer(ctx, self.segmenter(ctx), Batching(p.samples_per_gpu, p.workers_per_gpu))

    def mine(self, ctx) -> None:
        p = ctx.params
        mining = Mining.of(p.mining_algorithm, 3, Batching(p.samples_per_gpu, p.workers_per_gpu),
                           supported=self.mining_algorithms, options=dict(
                               superpixel_algorithm=p.superpixel_algorithm, max_superpixels=p.max_superpixel_per_image,
                               max_kept=p.max_kept_mining_image, topk=p.topk_superpixel_score,
                               class_balance=p.class_balance, radius=p.ripu_region_radius))
        if str(p.uncertainty_method).lower() != "bvsb":
            raise ConfigError("uncertainty_method", p.uncertainty_method, "BvSB")
        segmentation.mine(ctx, lambda: self.segmenter(ctx), mining)


__all__ = ["SemanticOpenMMLabExecutor", "MmsegSegmenter", "register", "check_batch", "min_batch",
           "set_segmentation_data", "sigmoid_trained"]
