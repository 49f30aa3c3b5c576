"""The launcher of this run (torchrun's environment), and what a multi-process run without a GPU (gloo) needs:
plain BatchNorm and a DDP wrapper for CPU modules."""
from __future__ import annotations

import os

from .model import walk_dicts


def distributed_launch(cfg) -> None:
    """``launcher`` from the torchrun environment; gloo where there is no GPU, and then plain BatchNorm (torch's
    SyncBatchNorm refuses CPU tensors once a process group exists, and mmengine reverts it only in a
    single-process run (mmengine 0.10.7 ``Runner.wrap_model``), while mmyolo 0.6.0's ``YOLODetector`` converts
    to it in every multi-process run (``use_syncbn``)) and a DDP wrapper for CPU modules. The gloo group itself
    is joined by :func:`ymir_sdk.openmmlab.train.run_training` (mmengine's ``init_dist`` selects a CUDA
    device whatever the backend)."""
    import torch

    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        cfg.launcher = "pytorch"
        env_cfg = cfg.get("env_cfg") or {}
        dist_cfg = dict(env_cfg.get("dist_cfg") or {})
        dist_cfg["backend"] = "nccl" if torch.cuda.is_available() else "gloo"
        env_cfg["dist_cfg"] = dist_cfg
        cfg.env_cfg = env_cfg
        if dist_cfg["backend"] == "gloo":
            plain_batchnorm(cfg.model)
            # mmengine 0.10.7 wraps the model in DDP with device_ids=[LOCAL_RANK], which a CPU module refuses
            # (CPU modules take device_ids None); a config's own wrapper settings are kept
            wrapper = dict(cfg.get("model_wrapper_cfg") or {})
            wrapper.setdefault("type", "MMDistributedDataParallel")
            wrapper.setdefault("broadcast_buffers", False)
            wrapper.setdefault("find_unused_parameters", bool(cfg.get("find_unused_parameters", False)))
            wrapper["device_ids"] = None
            cfg.model_wrapper_cfg = wrapper
    else:
        cfg.launcher = "none"


#: detectors that convert themselves to SyncBatchNorm in every multi-process run unless ``use_syncbn=False`` (True
#: by default, and the configs do not write it): mmyolo 0.6.0's YOLODetector, mmdet 3.1.0's RTMDet (also the
#: detector of mmrotate's rotated RTMDet)
SYNCBN_DETECTORS = ("YOLODetector", "RTMDet")


def plain_batchnorm(model_cfg: dict) -> None:
    """Every ``SyncBN`` of a model config as ``BN``, and ``use_syncbn`` off (:data:`SYNCBN_DETECTORS`)."""
    if "use_syncbn" in model_cfg or str(model_cfg.get("type", "")).split(".")[-1] in SYNCBN_DETECTORS:
        model_cfg["use_syncbn"] = False
    walk_dicts(model_cfg, lambda d: d.__setitem__("type", "BN") if d.get("type") in ("SyncBN", "MMSyncBN") else None)
