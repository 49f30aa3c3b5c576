"""Run-time set-up for the released OpenMMLab packages: offline, CPU/GPU selection, the classes mmengine's
checkpoints may hold, and the one Python-version shim the pinned set needs. Nothing here changes a framework's
code."""
from __future__ import annotations

import collections
import collections.abc
import logging
import os
import sys
from typing import Sequence

log = logging.getLogger("ymir_sdk")


def python310_collections_shim() -> None:
    """mmrotate 1.0.0rc1 does ``from collections import Sequence`` (mmrotate/models/dense_heads/...); the
    aliases were removed in Python 3.10. Restore the ones it uses, pointing at collections.abc (before 3.10 they
    are still there)."""
    if sys.version_info < (3, 10):
        return
    for name in ("Sequence", "Mapping", "Iterable"):
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))


def _sort_vertices_cpu(vertices, mask):
    """What mmcv's CUDA kernel ``diff_iou_rotated_sort_vertices_forward`` returns, in torch, for CPU tensors:
    per box pair the indices of the valid vertices of the intersection polygon in angular order around their mean
    (a convex polygon), the first repeated to close it and then in every remaining slot (zero-area terms for
    ``calculate_area``); a single index (zero area) where fewer than 3 vertices are valid. Indices carry no
    gradient (the CUDA op marks them non-differentiable too), so the area and its gradient are mmcv's."""
    import torch

    valid = mask.bool()
    num_valid = valid.sum(dim=2, keepdim=True)  # (B, N, 1)
    mean = (vertices * valid.unsqueeze(-1)).sum(dim=2, keepdim=True) / num_valid.clamp(min=1).unsqueeze(-1)
    centred = (vertices - mean).detach()
    angle = torch.atan2(centred[..., 1], centred[..., 0]).masked_fill(~valid, float("inf"))
    order = torch.argsort(angle, dim=2)  # the valid vertices first, by angle
    first = order[..., :1]
    slots = torch.cat([order, first], dim=2)
    position = torch.arange(slots.shape[2], device=slots.device)
    slots = torch.where(position < num_valid, slots, first)
    return torch.where(num_valid >= 3, slots, torch.zeros_like(slots))


def cpu_rotated_iou_loss() -> None:
    """mmcv 2.0.1's differentiable rotated IoU (``mmcv.ops.diff_iou_rotated_2d``, the ``RotatedIoULoss`` of
    mmrotate 1.0.0rc1's rotated RTMDet) sorts the intersection polygon's vertices with a CUDA-only kernel
    (open-mmlab/mmcv#2067, never merged): every CPU training step fails. Shim: ``sort_indices``, the module
    function that ``oriented_box_intersection_2d`` looks up at call time, sorts CPU tensors in torch
    (:func:`_sort_vertices_cpu`); CUDA tensors still go to mmcv's kernel."""
    from mmcv.ops import diff_iou_rotated

    original = diff_iou_rotated.sort_indices
    if getattr(original, "ymir_cpu_shim", False):
        return

    def sort_indices(vertices, mask):
        if vertices.is_cuda:
            return original(vertices, mask)
        return _sort_vertices_cpu(vertices, mask)

    sort_indices.ymir_cpu_shim = True
    diff_iou_rotated.sort_indices = sort_indices


def allow_mmengine_checkpoints() -> None:
    """Checkpoints written by mmengine's runner hold its message hub (HistoryBuffer, NumPy values) and config
    dicts next to the tensors: allow exactly those classes in :func:`ymir_sdk.torch.load_checkpoint` (and in
    ``torch.load(weights_only=True)``, the PyTorch >= 2.6 default that mmengine 0.10.7 keeps)."""
    from mmengine.config import ConfigDict
    from mmengine.logging import HistoryBuffer, MessageHub

    from ..torch import allow_checkpoint_attributes, allow_checkpoint_classes

    allow_checkpoint_classes(extra=[HistoryBuffer, MessageHub, ConfigDict])
    # a HistoryBuffer keeps its statistics methods (mmengine's min, max, mean, current) in each instance: pickled as
    # getattr(HistoryBuffer, name) in a runner's checkpoint (its message hub: what --resume reads)
    allow_checkpoint_attributes([(HistoryBuffer, name) for name in ("min", "max", "mean", "current")
                                 if callable(getattr(HistoryBuffer, name, None))])


def prepare_openmmlab(gpu_ids: Sequence[int] = ()) -> None:
    """Call first, before importing mmengine or a framework."""
    from ..torch.devices import select_devices

    select_devices(gpu_ids)
    python310_collections_shim()
    # no hub or dataset downloads at run time: weights come from /in/models only
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    allow_mmengine_checkpoints()
