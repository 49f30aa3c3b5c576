"""The original's semantic-segmentation converters (``ymir_exc.dataset_convert.ymir2mmseg``, 2.x) on ymir-sdk's:
``convert_ymir_to_mmseg``, ``train_with_black_area_or_not``, ``find_blank_area_in_dataset``.

Corrected (contract §6.2): whether the training set has unlabelled pixels is decided from the first
``max_sample_num`` training images in index order and the union of their masks (the original drew the images at
random and added the areas of overlapping masks, so its answer could change between runs and miss a blank
area); the label maps are ymir-sdk's (:func:`ymir_sdk.dataset.convert_to_mmseg`: larger objects painted first,
written atomically, cached, a bad line a 300002 naming the file), never a class missing from ``class_names``
raising ValueError.
"""
import os
from typing import Dict

from ymir_sdk.dataset import convert_to_mmseg, read_pairs
from ymir_sdk.dataset.annotations import ConversionStats, load_records
from ymir_sdk.dataset.convert import label_map

from ..util import EasyDict, get_bool

__all__ = ["convert_ymir_to_mmseg", "train_with_black_area_or_not", "find_blank_area_in_dataset"]

#: the original's switch between runs of one task (its value wins over looking at the data)
ENV_KEY = "WITH_BLANK_AREA"


def find_blank_area_in_dataset(ymir_cfg: EasyDict, max_sample_num: int = 100) -> bool:
    """Whether some pixel of the first ``max_sample_num`` training images lies in no mask of a task class."""
    pairs = read_pairs(ymir_cfg.ymir.input.training_index_file, "training")[:max(1, int(max_sample_num))]
    records = load_records(pairs, list(ymir_cfg.param.get("class_names") or []), ConversionStats())
    return any((label_map(rec, with_background=False) == 255).any() for rec in records)


def train_with_black_area_or_not(ymir_cfg: EasyDict, max_sample_num: int = 100) -> bool:
    """Whether the training gets a background class for unlabelled pixels: never with ``ignore_blank_area`` (or
    our executors' spelling, ``ignore_black_area``) true; else ``WITH_BLANK_AREA`` (true/false) when set; else
    :func:`find_blank_area_in_dataset`, kept in ``WITH_BLANK_AREA`` for the task's later steps."""
    if get_bool(ymir_cfg, "ignore_blank_area", False) or get_bool(ymir_cfg, "ignore_black_area", False):
        return False
    value = os.environ.get(ENV_KEY, "")
    if value:
        if value.strip().lower() not in ("true", "false"):
            from ymir_sdk.errors import ConfigError

            raise ConfigError(ENV_KEY, value, "true or false (an environment variable)")
        return value.strip().lower() == "true"
    found = find_blank_area_in_dataset(ymir_cfg, max_sample_num)
    os.environ.setdefault(ENV_KEY, "TRUE" if found else "FALSE")
    return found


def convert_ymir_to_mmseg(ymir_cfg: EasyDict) -> Dict[str, str]:
    """PNG label maps of the training and validation sets and their index files (``image TAB png``), under the
    output root; returns ``{"train": ..., "val": ..., "test": the candidate index}``. Class ``i`` is label ``i``
    (``i + 1`` after a background class 0 where :func:`train_with_black_area_or_not` says so); unlabelled
    pixels are 255 (ignored) otherwise."""
    inp = ymir_cfg.ymir.input
    splits = {"train": read_pairs(inp.training_index_file, "training")}
    if inp.val_index_file and os.path.exists(inp.val_index_file):
        splits["val"] = read_pairs(inp.val_index_file, "validation", allow_empty=True)
    index = convert_to_mmseg(splits, list(ymir_cfg.param.get("class_names") or []), ymir_cfg.ymir.output.root_dir,
                             train_with_black_area_or_not(ymir_cfg))
    return {**index, "test": inp.candidate_index_file}
