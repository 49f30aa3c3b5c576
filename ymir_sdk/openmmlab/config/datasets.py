"""The SDK's dataset files in a config's loaders, whatever wrappers (RepeatDataset, MultiImageMixDataset,
ConcatDataset) hold them."""
from __future__ import annotations

import copy
from typing import Any, Mapping, Sequence


def pipeline_dataset(ds: Mapping[str, Any]) -> Mapping[str, Any]:
    """The dataset of a loader that holds its pipeline: ``ds`` itself, or the one a wrapper (RepeatDataset,
    MultiImageMixDataset, ...) holds, however deep."""
    while "pipeline" not in ds and isinstance(ds.get("dataset"), Mapping):
        ds = ds["dataset"]
    return ds


def _inner_dataset(ds: dict) -> dict:
    while isinstance(ds.get("dataset"), dict):  # MultiImageMixDataset, RepeatDataset, ClassBalancedDataset
        ds = ds["dataset"]
    return ds


def replace_dataset(loader: dict, ann_file: str, classes: Sequence[str], test_mode: bool, coco_types) -> None:
    ds = loader["dataset"]
    if isinstance(ds.get("datasets"), list):  # ConcatDataset: our one dataset in the first one's place
        ds = loader["dataset"] = copy.deepcopy(ds["datasets"][0])
    inner = _inner_dataset(ds)
    if inner.get("type") not in coco_types:
        inner["type"] = coco_types[0]
    inner.update(ann_file=ann_file, data_root="", data_prefix=dict(img=""), metainfo=dict(classes=tuple(classes)),
                 test_mode=test_mode)
    if not test_mode:
        inner["filter_cfg"] = dict(filter_empty_gt=False, min_size=0)
    inner.pop("indices", None)


def set_loader(loader: dict, batch_size: int, workers: int) -> None:
    loader["batch_size"] = batch_size
    loader["num_workers"] = workers
    loader["persistent_workers"] = workers > 0 and bool(loader.get("persistent_workers", False))
    if workers == 0:
        loader.pop("prefetch_factor", None)
