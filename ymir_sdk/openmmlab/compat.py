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


def allow_mmengine_checkpoints() -> None:
    """Checkpoints written by mmengine's runner hold its message hub (HistoryBuffer, NumPy values) and config
    dicts next to the tensors: allow exactly those classes in :func:`ymir_sdk.torch.load_checkpoint` (and in
    ``torch.load(weights_only=True)``, the PyTorch >= 2.6 default that mmengine 0.10.7 keeps)."""
    from mmengine.config import ConfigDict
    from mmengine.logging import HistoryBuffer, MessageHub

    from ..torch import allow_checkpoint_classes

    allow_checkpoint_classes(extra=[HistoryBuffer, MessageHub, ConfigDict])


def prepare_openmmlab(gpu_ids: Sequence[int] = ()) -> None:
    """Call first, before importing mmengine or a framework."""
    from ..torch.devices import select_devices

    select_devices(gpu_ids)
    python310_collections_shim()
    # no hub or dataset downloads at run time: weights come from /in/models only
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    allow_mmengine_checkpoints()
