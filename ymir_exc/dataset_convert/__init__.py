"""The dataset converters of the original, on ymir-sdk's: ``convert_ymir_to_coco`` and ``convert_ymir_to_yolov5``.

Corrected (contract §6.2): ark lines are read as ark is written (comma and space, inclusive corners: a box's
width is ``x2 - x1 + 1``; the quality field kept when it is ``-1.0`` or ``0.85``), VOC and COCO exports are read
too, a half-written conversion is never reused, a re-run does not fail on an existing link, and bad lines are
300002 errors naming the file and line.
"""
import json
import os
from typing import Dict, Optional

from ymir_sdk.dataset.convert import convert_to_coco, convert_to_yolo
from ymir_sdk.dataset.index import read_pairs
from ymir_sdk.io import atomic_write_json

from ..util import EasyDict, get_merged_config

__all__ = ["convert_ymir_to_coco", "convert_ymir_to_yolov5"]


def _splits(cfg) -> Dict[str, list]:
    out = {}
    for split, path in (("train", cfg.ymir.input.training_index_file), ("val", cfg.ymir.input.val_index_file)):
        if path and os.path.exists(path):
            out[split] = read_pairs(path, split, allow_empty=split == "val")
    return out


def convert_ymir_to_coco(cat_id_from_zero: bool = False) -> Dict[str, Dict[str, str]]:
    """COCO json per split in ``<out>/ymir_dataset/ymir_{train,val}.json`` (category ids from 1, or from 0 with
    ``cat_id_from_zero``); returns ``{split: {"img_dir": assets_dir, "ann_file": json}}``."""
    cfg = get_merged_config()
    names = list(cfg.param.get("class_names") or [])
    converted = convert_to_coco(_splits(cfg), names, os.path.join(cfg.ymir.output.root_dir, ".ymir_sdk_cache"))
    target = os.path.join(cfg.ymir.output.root_dir, "ymir_dataset")
    os.makedirs(target, exist_ok=True)
    info = {}
    for split, path in converted.items():
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if not cat_id_from_zero:
            for c in data["categories"]:
                c["id"] += 1
            for a in data["annotations"]:
                a["category_id"] += 1
        out = os.path.join(target, f"ymir_{split}.json")
        atomic_write_json(out, data)
        info[split] = {"img_dir": cfg.ymir.input.assets_dir, "ann_file": out}
    return info


def convert_ymir_to_yolov5(cfg: EasyDict, out_dir: Optional[str] = None) -> str:
    """The YOLO layout (links to the assets, labels, ``train.txt``/``val.txt``) and its data.yaml under
    ``out_dir`` (default: the output root); returns the data.yaml path."""
    out_dir = out_dir or cfg.ymir.output.root_dir
    return convert_to_yolo(_splits(cfg), list(cfg.param.get("class_names") or []), out_dir)
