"""OpenMMLab 2.x glue (mmengine runner): the executor base (:mod:`.executor`), config adaptation (:mod:`.config`),
training hooks (progress, TensorBoard, model stages: :mod:`.hooks`) and the model behind the SDK's detection
loop (:mod:`.infer`). Optional: mmengine, mmcv and the framework are imported only by the functions that use
them, so ``import ymir_sdk.openmmlab`` works without them.

Used by the mmdet, mmyolo, mmrotate and mmseg executors; one implementation for all of them.
"""
from .compat import prepare_openmmlab
from .config import (build_config, load_config, parse_cfg_options, resolve_config_file, tail_epochs)

__all__ = ["prepare_openmmlab", "build_config", "load_config", "parse_cfg_options", "resolve_config_file",
           "tail_epochs"]
