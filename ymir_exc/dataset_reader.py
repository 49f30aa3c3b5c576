"""The index files: ``item_paths(DatasetType)`` yields ``(image, annotation or '')`` per line,
``items_count``, ``images_count``, ``bboxes_count``, ``filter_broken_images``."""
import logging
from typing import Iterator, List, Tuple

from ymir_sdk.dataset.imagesize import image_size
from ymir_sdk.errors import ConfigError, ImageError

from . import env

log = logging.getLogger("ymir_exc")


def _index_file(dataset_type: env.DatasetType) -> str:
    cfg = env.get_current_env().input
    path = {env.DatasetType.TRAINING: cfg.training_index_file, env.DatasetType.VALIDATION: cfg.val_index_file,
            env.DatasetType.CANDIDATE: cfg.candidate_index_file}.get(dataset_type, "")
    if not path:
        raise ConfigError("index file", str(dataset_type), message=f"env.yaml names no index file for {dataset_type!r}")
    return path


def item_paths(dataset_type: env.DatasetType) -> Iterator[Tuple[str, str]]:
    with open(_index_file(dataset_type), encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\r\n").split("\t")
            if parts[0].strip():
                yield parts[0].strip(), (parts[1].strip() if len(parts) > 1 else "")


def items_count(dataset_type: env.DatasetType) -> int:
    """The lines that name an image (the original also counted blank lines)."""
    return sum(1 for _ in item_paths(dataset_type))


def images_count(cfg=None, split: env.DatasetType = env.DatasetType.TRAINING) -> int:
    return items_count(split)


def bboxes_count(cfg=None, split: env.DatasetType = env.DatasetType.TRAINING) -> int:
    """Objects in a split's annotation files (ark, VOC or the COCO file), parsed as ymir-sdk parses them."""
    from ymir_sdk.dataset import load_records

    names = env.get_executor_config().get("class_names") or []
    return sum(len(r.classes) for r in load_records(list(item_paths(split)), names))


def filter_broken_images(image_files: List[str]) -> List[str]:
    """The images whose header reads (EXIF-aware size); the others are logged and left out."""
    out = []
    for path in image_files:
        try:
            image_size(path)
            out.append(path)
        except ImageError as e:
            log.warning("bad image %s: %s", path, e)
    return out
