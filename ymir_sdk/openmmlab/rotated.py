"""Rotated boxes on mmrotate 1.x: the family base of an executor whose models predict ``(cx, cy, w, h, angle)``.

What differs from upright detection, and nothing else (training, inference and mining are the OpenMMLab
executor's):

* **data**: the SDK's COCO json with each box's 4 corners as its ``segmentation`` and its ``rotate_angle``
  (:func:`ymir_sdk.dataset.convert_to_coco` ``segmentation="rotated"``, the one angle convention of
  :mod:`ymir_sdk.dataset.rotated`), read by :class:`YmirRotatedCocoDataset` (mmdet's ``CocoDataset`` with the
  corners as the instance's ``qbox``, so that the configs' own ``LoadAnnotations(box_type='qbox')`` and
  ``ConvertBoxType`` pipelines run unchanged);
* **metric**: ``YmirRotatedMetric``, the SDK's COCO evaluation with rotated IoU (mmcv's ``box_iou_rotated``):
  ``mAP`` = AP at rotated IoU 0.5, like every other image's ``mAP``;
* **config**: the DOTA configs' dataset-only keys dropped (``img_shape``), ``RandomRotate``'s ``rect_obj_labels``
  (DOTA class ids) cleared, ``img_size`` into every resize, pad, crop and mosaic size;
* **CPU**: mmcv's rotated IoU loss gets the CPU sort of :func:`.compat.cpu_rotated_iou_loss`;
* **mining**: ``random`` and ``entropy`` (ALDD's and CALD's measures are defined on upright boxes; the rotated
  head's ``(cls, bbox, angle)`` outputs are not objectness maps).
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, List, Tuple

import numpy as np

from .config import TrainingSetup
from .executor import OpenMMLabExecutor

#: pipeline keys that hold an (h, w) or (w, h) input size
SIZE_KEYS = ("scale", "size", "crop_size", "img_scale")

_registered: Dict[str, Any] = {}


def register() -> None:
    """mmrotate's modules (its registries have no import locations: ``register_all_modules``), the CPU shim of
    the rotated IoU loss, and this module's dataset and metric types (in mmengine's root registries, found from
    every scope). Idempotent."""
    if _registered:
        return
    from mmdet.datasets import CocoDataset
    from mmengine.registry import DATASETS, METRICS
    from mmrotate.utils import register_all_modules

    from .compat import cpu_rotated_iou_loss
    from .hooks import YmirDetMetric

    register_all_modules(init_default_scope=False)
    cpu_rotated_iou_loss()

    class YmirRotatedCocoDataset(CocoDataset):
        """mmdet's CocoDataset over the SDK's rotated COCO json: each instance's ``bbox`` is its 4 corners
        (``segmentation[0]``, 8 numbers: what ``LoadAnnotations(box_type='qbox')`` reads), not the un-rotated
        rectangle."""

        def parse_data_info(self, raw_data_info: dict):
            info = super().parse_data_info(raw_data_info)
            for instance in info["instances"]:
                polygon = (instance.pop("mask", None) or [[]])[0]
                if len(polygon) != 8:
                    raise ValueError(f"{info['img_path']}: a rotated box without its 4 corners")
                instance["bbox"] = [float(v) for v in polygon]
            return info

    class YmirRotatedMetric(YmirDetMetric):
        """:class:`YmirDetMetric` of rotated boxes: predictions ``(cx, cy, w, h, angle)``, matched by rotated
        IoU (mmcv's ``box_iou_rotated``, CPU and CUDA), against the rotated validation json."""

        box_width = 5

        def box_fields(self, box):
            cx, cy, w, h, a = box
            return {"bbox": [cx - w / 2, cy - h / 2, w, h], "rotate_angle": a}

        def coco_evaluate(self, gt, dets):
            from ..evaluate import coco_metrics

            return coco_metrics(gt, dets, 0.0, coco_stats=True, rotated_iou=rotated_iou, per_class=True)

    DATASETS.register_module(module=YmirRotatedCocoDataset, force=True)
    METRICS.register_module(module=YmirRotatedMetric, force=True)
    _registered.update(dataset=YmirRotatedCocoDataset, metric=YmirRotatedMetric)


def rotated_iou(dets: np.ndarray, gts: np.ndarray) -> np.ndarray:
    """(D, G) IoU of rotated boxes ``(cx, cy, w, h, angle)`` (mmcv's ``box_iou_rotated``, the op mmrotate
    evaluates with)."""
    import torch
    from mmcv.ops import box_iou_rotated

    if not len(dets) or not len(gts):
        return np.zeros((len(dets), len(gts)))
    return box_iou_rotated(torch.as_tensor(dets, dtype=torch.float32),
                           torch.as_tensor(gts, dtype=torch.float32)).numpy().astype(np.float64)


def _datasets_of(cfg) -> Iterator[dict]:
    """Every dataset of the config's loaders, wrapped ones (``dataset.dataset``) included."""
    for name in ("train_dataloader", "val_dataloader", "test_dataloader"):
        ds = (cfg.get(name) or {}).get("dataset") or {}
        while isinstance(ds, dict):
            yield ds
            ds = ds.get("dataset")


def _steps_of(cfg) -> List[dict]:
    """Every pipeline step of the config: the loaders' (nested datasets included) and the pipeline-switch
    hooks' stage-2 pipelines."""
    steps = [s for ds in _datasets_of(cfg) for s in ds.get("pipeline") or [] if isinstance(s, dict)]
    for hook in cfg.get("custom_hooks") or []:
        if isinstance(hook, dict):
            steps += [s for s in hook.get("switch_pipeline") or [] if isinstance(s, dict)]
    return steps


def _native_size(cfg) -> int:
    """The config's own input size: the largest size in its validation pipeline (DOTA configs: 1024), else in
    any of its pipelines."""
    val = (cfg.get("val_dataloader") or {}).get("dataset") or {}
    for steps in ([s for s in val.get("pipeline") or [] if isinstance(s, dict)], _steps_of(cfg)):
        sizes = [max(s[k]) for s in steps for k in SIZE_KEYS if _is_size(s.get(k))]
        if sizes:
            return int(max(sizes))
    return 0


def _is_size(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value)


def set_rotated_data(cfg, setup: TrainingSetup) -> None:
    """The rotated datasets and pipelines: DOTA's dataset-only ``img_shape`` dropped, ``RandomRotate`` for
    every class (its ``rect_obj_labels`` are DOTA class ids), and ``input_size`` (the params' ``img_size``) for
    the config's native size in every resize, pad, crop and mosaic size (other sizes scaled alike, e.g. a
    2x multi-scale range)."""
    register()
    for ds in _datasets_of(cfg):
        ds.pop("img_shape", None)
    native = _native_size(cfg)
    ratio = setup.input_size / native if setup.input_size and native else None
    for step in _steps_of(cfg):
        if str(step.get("type", "")).split(".")[-1] == "RandomRotate":
            step["rect_obj_labels"] = None
        if ratio is None:
            continue
        for key in SIZE_KEYS:
            if _is_size(step.get(key)):
                step[key] = tuple(max(1, int(round(v * ratio))) for v in step[key])


class RotatedOpenMMLabExecutor(OpenMMLabExecutor):
    """The rotated-box family (see the module docstring): an executor over mmrotate says its models, weights
    and params."""

    package = "mmrotate"
    coco_types: Tuple[str, ...] = ("YmirRotatedCocoDataset",)
    coco_segmentation = "rotated"
    metric_type = "YmirRotatedMetric"
    ndarray_type = "mmdet.LoadImageFromNDArray"  # mmrotate's registries are children of mmengine's, not mmdet's
    mining_algorithms: Tuple[str, ...] = ("random", "entropy")
    family_steps = (set_rotated_data,)

    def register(self) -> None:
        register()

    def rotated_iou(self):
        return rotated_iou


__all__ = ["RotatedOpenMMLabExecutor", "register", "rotated_iou", "set_rotated_data"]
