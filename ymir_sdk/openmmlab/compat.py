"""Run-time set-up for the released OpenMMLab packages: offline, CPU/GPU selection, checkpoint loading under
PyTorch >= 2.6, and the one Python-version shim the pinned set needs. Nothing here changes a framework's code."""
from __future__ import annotations

import collections
import collections.abc
import logging
import os
from typing import Sequence

log = logging.getLogger("ymir_sdk")


def python310_collections_shim() -> None:
    """mmrotate 1.0.0rc1 does ``from collections import Sequence`` (mmrotate/models/dense_heads/...); the
    aliases were removed in Python 3.10. Restore the ones it uses, pointing at collections.abc."""
    for name in ("Sequence", "Mapping", "Iterable"):
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))


def select_devices(gpu_ids: Sequence[int]) -> None:
    """The platform's ``gpu_id``: '' means CPU even on a machine with GPUs; otherwise only the listed GPUs are
    visible (mmengine then takes cuda:LOCAL_RANK of them). Must run before CUDA is initialised."""
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in gpu_ids)


def allow_mmengine_checkpoints() -> None:
    """Checkpoints written by mmengine's runner hold its message hub (HistoryBuffer, NumPy values) next to the
    tensors; allow exactly those classes for ``torch.load(weights_only=True)`` (the PyTorch >= 2.6 default that
    mmengine 0.10.7 keeps)."""
    from mmengine.logging import HistoryBuffer, MessageHub

    from ..torch import allow_checkpoint_classes

    allow_checkpoint_classes()
    import torch

    extra = [HistoryBuffer, MessageHub]
    try:
        from mmengine.config import ConfigDict

        extra.append(ConfigDict)
    except ImportError:  # pragma: no cover
        pass
    torch.serialization.add_safe_globals(extra)


def prepare_openmmlab(gpu_ids: Sequence[int] = ()) -> None:
    """Call first, before importing mmengine or a framework."""
    select_devices(gpu_ids)
    python310_collections_shim()
    # no hub or dataset downloads at run time: weights come from /in/models only
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    allow_mmengine_checkpoints()
