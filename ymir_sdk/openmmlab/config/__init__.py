"""Adapting an OpenMMLab 2.x config (mmengine ``Config``) to a YMIR task, one module per concern:

* :mod:`.files` - where a config is (a user's name, a path in the package, a model name) and whether a saved one
  is data;
* :mod:`.rederive` - step 1 of a training config: the ``_base_`` chain re-derived with the task's variables;
* :mod:`.training` - step 2: :class:`TrainingSetup` and the structural transforms (:data:`STEPS`, a family's own
  at the named point ``family_steps``, the user's options last), :func:`build_config`;
* :mod:`.options` - ``cfg_options`` parsed and checked; :mod:`.datasets` - the SDK's files in the loaders;
  :mod:`.schedule` - schedulers fitted to the run; :mod:`.distributed` - launcher, BatchNorm and DDP for gloo;
* :mod:`.model` - the model part: classes, init weights, the test-time NMS and score floor, and a stage's config
  read for inference (:func:`inference_config`).

The names below are the glue's and the executors' API; each lives once, in its module.
"""
from .datasets import pipeline_dataset
from .files import (check_data_only, config_key, load_plain_config, model_name_key, package_config_root,
                    resolve_config_file, resolve_model_name)
from .model import (inference_config, score_parts, set_nms_iou, set_num_classes, set_score_floor, strip_download_init,
                    test_cfg_parts, walk_dicts)
from .options import check_option_keys, check_option_values, parse_cfg_options
from .rederive import TAIL_EPOCH_VARS, config_chain, load_config, tail_epochs
from .schedule import is_iter_based
from .training import STEPS, Step, TrainingSetup, build_config, merge_options, rederived_config

__all__ = ["STEPS", "Step", "TAIL_EPOCH_VARS", "TrainingSetup", "build_config", "check_data_only",
           "check_option_keys", "check_option_values", "config_chain", "config_key", "inference_config",
           "is_iter_based", "load_config", "load_plain_config", "merge_options", "model_name_key",
           "package_config_root", "parse_cfg_options", "pipeline_dataset", "rederived_config", "resolve_config_file",
           "resolve_model_name", "score_parts", "set_nms_iou", "set_num_classes", "set_score_floor",
           "strip_download_init", "tail_epochs", "test_cfg_parts", "walk_dicts"]
