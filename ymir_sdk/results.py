"""Result writers (contract §5.2-5.5). Each one builds the output, checks it with :mod:`ymir_sdk.contract`
and writes it atomically; an output that would break the platform raises :class:`ContractError` instead."""
from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import yaml

from . import contract
from .errors import ContractError, NanError
from .io import atomic_output, atomic_write_yaml, link_or_copy

log = logging.getLogger("ymir_sdk")


def plain_float(value: Any, name: str = "value") -> float:
    """A Python float from a number, a NumPy scalar/array of one element or a tensor (``.item()``)."""
    if hasattr(value, "item") and not isinstance(value, (int, float)):
        try:
            value = value.item()
        except (ValueError, RuntimeError):
            raise ContractError(f"{name} must be a single number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ContractError(f"{name} must be a number, got {value!r}")
    return float(value)


def fraction(value: Any, key: str, stage: str) -> float:
    """A validation metric as a fraction for a stage: clipped to [0, 1] (a framework's rounding can overshoot);
    NaN or infinite is a NanError naming the stage (a diverged training never becomes a stage scoring 0)."""
    v = plain_float(value, key)
    if not math.isfinite(v):
        raise NanError(f"stage {stage!r}: validation metric {key} is {v} (the training diverged)")
    return min(1.0, max(0.0, v))


def _fail_on(findings: List[str], what: str) -> None:
    errors = contract.errors_only(findings)
    if errors:
        raise ContractError(f"{what} would break the platform contract: " + "; ".join(errors[:5]))


# ------------------------------------------------------------------------------------------------ training
#: the training set's images and objects per class (JSON), written by the SDK's dataset conversion to ``models/``
#: and listed in every stage: what mining's ``class_distribution_scores: auto`` weighs the classes by
CLASS_COUNTS = "class-counts.json"


class TrainingResult:
    """``models/result.yaml`` with model stages.

    * each stage's files end up in ``models/<stage>/`` (absolute paths elsewhere are linked or copied there);
      every stage also carries the files of :attr:`CARRIED` found at the root of ``models/`` (linked into its
      folder);
    * metrics become plain floats, checked to lie in [0, 1]; ``TP/FP/FN`` are written lower-case;
    * the best stage is the one with the highest main metric of the object type (mAP / mIoU / maskAP), the later
      one on a tie;
    * at most ``max_stages`` stages are kept (the oldest non-best goes first), and a stage whose files were
      deleted meanwhile (a framework's checkpoint rotation) is dropped, so the file never points at missing files.
    """

    #: files at the root of ``models/`` that every stage carries when they are there (never replaced in a stage's
    #: folder once there: a listed file is never missing for a moment)
    CARRIED = (CLASS_COUNTS,)

    def __init__(self, models_dir: str, result_file: Optional[str] = None, object_type: int = 2,
                 max_stages: int = 11):
        self.models_dir = models_dir
        self.path = result_file or os.path.join(models_dir, "result.yaml")
        self.object_type = object_type
        self.main_metric = contract.MAIN_METRIC.get(object_type, "mAP")
        self.max_stages = max_stages
        self.stages: Dict[str, dict] = {}
        self.attachments: Dict[str, List[str]] = {}
        self.evaluate_config: Dict[str, float] = {}
        self._load()

    def _load(self) -> None:
        if not os.path.exists(self.path):
            return
        with open(self.path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
        if isinstance(data, dict) and isinstance(data.get("model_stages"), dict):
            self.stages = dict(data["model_stages"])
            self.attachments = dict(data.get("attachments") or {})
            self.evaluate_config = dict(data.get("evaluate_config") or {})

    def _stage_files(self, stage: str, files: Sequence[str]) -> List[str]:
        names = []
        for f in files:
            f = os.fspath(f)
            if os.path.isabs(f):
                link_or_copy(f, os.path.join(self.models_dir, stage, os.path.basename(f)))
                f = os.path.basename(f)
            elif not (os.path.isfile(os.path.join(self.models_dir, stage, f))
                      or os.path.isfile(os.path.join(self.models_dir, f))):
                raise ContractError(f"stage {stage!r}: file {f!r} is neither in models/{stage}/ nor in models/")
            if f not in names:
                names.append(f)
        if not names:
            raise ContractError(f"stage {stage!r} has no files")
        listed, names = set(names), [f for f in names if f not in self.CARRIED]
        for f in self.CARRIED:  # last, whatever the caller's order
            if os.path.isfile(os.path.join(self.models_dir, f)):
                link_or_copy(os.path.join(self.models_dir, f), os.path.join(self.models_dir, stage, f), replace=False)
                names.append(f)
            elif f in listed:
                names.append(f)
        return names

    def add_stage(self, name: str, files: Sequence[str], metrics: Mapping[str, Any],
                  timestamp: Optional[int] = None, attachments: Optional[Mapping[str, Sequence[str]]] = None,
                  evaluate_config: Optional[Mapping[str, Any]] = None) -> str:
        """Add or replace a stage and rewrite result.yaml. Returns the best stage's name."""
        if not contract.STAGE_NAME.match(name or "") or "@" in name:
            raise ContractError(f"stage name {name!r}: use letters, digits, '_', '-', '.' (no '@')")
        stage: Dict[str, Any] = {"stage_name": name, "files": self._stage_files(name, files),
                                 "timestamp": int(timestamp if timestamp is not None else time.time())}
        for key, value in metrics.items():
            low = key.lower()
            if low in contract.COUNT_METRICS:
                v = plain_float(value, key)
                if v < 0 or not v.is_integer():
                    raise ContractError(f"metric {key} must be a count >= 0, got {value!r}")
                stage[low] = int(v)
                continue
            v = plain_float(value, key)
            if not math.isfinite(v):
                raise NanError(f"stage {name!r}: metric {key} is {v} (the training diverged)")
            if not 0 <= v <= 1:
                raise ContractError(f"metric {key} = {v} must lie in [0, 1] (fractions, not percentages)")
            stage[key] = v
        if self.main_metric not in stage:
            raise ContractError(f"stage {name!r} lacks the main metric {self.main_metric}")
        self.stages[name] = stage
        for section, names in (attachments or {}).items():
            placed = []
            for f in names:
                f = os.fspath(f)
                if os.path.isabs(f):
                    link_or_copy(f, os.path.join(self.models_dir, "attachments", section, os.path.basename(f)))
                placed.append(os.path.basename(f))
            self.attachments[section] = placed
        for k, v in (evaluate_config or {}).items():
            self.evaluate_config[str(k)] = plain_float(v, f"evaluate_config[{k}]")
        return self.write()

    def set_files(self, name: str, files: Sequence[str]) -> str:
        """Change a stage's files: result.yaml is rewritten first, then the files it no longer lists are deleted
        from ``models/<name>/`` (the file never points at a deleted one). Returns the best stage's name."""
        if name not in self.stages:
            raise ContractError(f"cannot change the files of stage {name!r}: unknown")
        old = list(self.stages[name]["files"])
        self.stages[name] = {**self.stages[name], "files": self._stage_files(name, files)}
        best = self.write()
        for f in old:
            if f not in self.stages[name]["files"]:
                try:
                    os.remove(os.path.join(self.models_dir, name, f))
                except FileNotFoundError:
                    pass
        return best

    def remove_stage(self, name: str, delete_files: bool = True) -> str:
        """Drop a stage: result.yaml is rewritten without it first, then its folder ``models/<name>/`` is
        deleted, so the file never points at a deleted checkpoint. Returns the best stage's name."""
        if name not in self.stages or len(self.stages) == 1:
            raise ContractError(f"cannot remove stage {name!r} (unknown, or the only one)")
        del self.stages[name]
        best = self.write()
        if delete_files:
            shutil.rmtree(os.path.join(self.models_dir, name), ignore_errors=True)
        return best

    def best(self) -> str:
        order = list(self.stages)
        return max(order, key=lambda n: (self.stages[n].get(self.main_metric, 0.0), self.stages[n]["timestamp"],
                                         order.index(n)))

    def _prune(self) -> None:
        for name in list(self.stages):
            files = self.stages[name]["files"]
            if not all(os.path.isfile(os.path.join(self.models_dir, name, f)) or
                       os.path.isfile(os.path.join(self.models_dir, f)) for f in files):
                log.warning("stage %s dropped from result.yaml: its files were deleted", name)
                del self.stages[name]
        while len(self.stages) > self.max_stages:
            best = self.best()
            oldest = min((n for n in self.stages if n != best), key=lambda n: self.stages[n]["timestamp"])
            del self.stages[oldest]

    def write(self) -> str:
        self._prune()
        if not self.stages:
            raise ContractError("no model stage with existing files to write")
        best = self.best()
        data: Dict[str, Any] = {"best_stage_name": best, "model_stages": self.stages,
                                self.main_metric: self.stages[best][self.main_metric],
                                "object_type": self.object_type}
        if self.attachments:
            data["attachments"] = self.attachments
        if self.evaluate_config:
            data["evaluate_config"] = self.evaluate_config
        _fail_on(contract.check_training_result(data, self.models_dir, self.object_type), "result.yaml")
        atomic_write_yaml(self.path, data)
        return best


# ------------------------------------------------------------------------------------------------ detection
@dataclass
class Detection:
    """One detected box in original-image pixels: ``x1, y1, x2, y2`` (x2/y2 exclusive) and, for rotated boxes,
    ``angle`` in radians about the centre (see :mod:`ymir_sdk.dataset.rotated`)."""

    class_id: int
    score: float
    x1: float
    y1: float
    x2: float
    y2: float
    angle: Optional[float] = None


def clip_detection(d: Detection, width: int, height: int) -> Optional[Detection]:
    """A detection inside its image (``width`` x ``height`` pixels): an upright box clipped to the image, a
    rotated box moved so that its centre lies inside (its size and angle kept); None when nothing of an upright
    box is left (less than a pixel wide or high)."""
    if d.angle is not None:
        cx = min(max((d.x1 + d.x2) / 2, 0.0), float(width))
        cy = min(max((d.y1 + d.y2) / 2, 0.0), float(height))
        hw, hh = (d.x2 - d.x1) / 2, (d.y2 - d.y1) / 2
        return replace(d, x1=cx - hw, y1=cy - hh, x2=cx + hw, y2=cy + hh)
    x1, x2 = min(max(d.x1, 0.0), float(width)), min(max(d.x2, 0.0), float(width))
    y1, y2 = min(max(d.y1, 0.0), float(height)), min(max(d.y2, 0.0), float(height))
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    return replace(d, x1=x1, y1=y1, x2=x2, y2=y2)


def detection_entry(image: str, dets: Sequence[Detection], class_names: Sequence[str],
                    size: Optional[Tuple[int, int]] = None) -> dict:
    """One image's entry of the detection result, ``{"boxes": [...]}``, checked against the contract; with
    ``size`` (width, height) every box is first clipped to the image (:func:`clip_detection`)."""
    boxes = []
    for d in dets:
        if not 0 <= int(d.class_id) < len(class_names):
            raise ContractError(f"{image}: class id {d.class_id} outside class_names")
        if not all(math.isfinite(float(v)) for v in (d.x1, d.y1, d.x2, d.y2, d.score)):
            raise ContractError(f"{image}: a box or score that is not finite ({d})")
        if size is not None:
            d = clip_detection(d, *size)
            if d is None:
                continue
        x, y = int(round(float(d.x1))), int(round(float(d.y1)))
        box = {"x": x, "y": y, "w": max(1, int(round(float(d.x2))) - x), "h": max(1, int(round(float(d.y2))) - y)}
        if d.angle is not None:
            box["rotate_angle"] = plain_float(d.angle, "rotate_angle")
        boxes.append({"box": box, "class_name": class_names[int(d.class_id)], "score": plain_float(d.score, "score")})
    entry = {"boxes": boxes}
    _fail_on(contract.check_detection_result({"detection": {os.path.basename(image): entry}}, class_names),
             "infer-result.json")
    return entry


def detection_json(results: Mapping[str, Sequence[Detection]], class_names: Sequence[str],
                   sizes: Optional[Mapping[str, Tuple[int, int]]] = None) -> dict:
    """The platform's detection result; with ``sizes`` (image -> (width, height)) every box is first clipped to
    its image (:func:`clip_detection`)."""
    return {"detection": {os.path.basename(image): detection_entry(image, dets, class_names,
                                                                   sizes[image] if sizes and dets else None)
                          for image, dets in results.items()}}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _first_of_each_name(entries: Iterable[Tuple[str, Any]]) -> Iterator[Tuple[str, str, Any]]:
    """(basename, path, entry) of each image, once per basename: the platform keys results by basename, so a
    later candidate of the same name (another folder) is left out, with a warning."""
    names = set()
    for image, entry in entries:
        name = os.path.basename(image)
        if name in names:
            log.warning("%s: an earlier candidate has the basename %s; its result is the one written", image, name)
            continue
        names.add(name)
        yield name, image, entry


def write_detection_entries(path: str, entries: Iterable[Tuple[str, Union[dict, str]]]) -> Tuple[int, int]:
    """infer-result.json, ``{"detection": {basename: {"boxes": [...]}}}``, streamed from (image path, entry)
    pairs in the order given (each entry made and checked by :func:`detection_entry`; given as a dict, or as its
    JSON text - a shard's line, copied as it is): nothing but one entry is held, whatever the pool's size.
    Written atomically. Returns (images, boxes)."""
    images = boxes = 0
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write('{"detection":{')
        for name, _, entry in _first_of_each_name(entries):
            text = entry if isinstance(entry, str) else _json(entry)
            f.write(("," if images else "") + _json(name) + ":" + text)
            # a key of each box; never inside a string value (JSON escapes every quote there)
            images, boxes = images + 1, boxes + text.count('"class_name":')
        f.write("}}")
    return images, boxes


def write_detection_result(path: str, results: Mapping[str, Sequence[Detection]],
                           class_names: Sequence[str], sizes: Optional[Mapping[str, Tuple[int, int]]] = None) -> None:
    """``{"detection": {basename: {"boxes": [...]}}}`` with integer boxes (clipped to their image with
    ``sizes``); every image gets an entry."""
    write_detection_entries(path, ((image, detection_entry(image, dets, class_names,
                                                           sizes[image] if sizes and dets else None))
                                   for image, dets in results.items()))


# ------------------------------------------------------------------------------------------------ segmentation
@dataclass
class Instance:
    """One segmented object: a boolean mask at the original resolution, or its RLE (pycocotools' ``encode``,
    :func:`encoded`: what a loop keeps per image instead of full-size masks); ``score`` None for semantic
    results."""

    class_id: int
    mask: Any
    score: Optional[float] = None


def encoded(instances: Sequence[Instance]) -> List[Instance]:
    """The instances with their masks as RLE (empty masks dropped)."""
    from pycocotools import mask as mask_utils

    out = []
    for inst in instances:
        if isinstance(inst.mask, dict):
            out.append(inst)
            continue
        mask = np.asarray(inst.mask, dtype=bool)
        if mask.any():
            out.append(Instance(inst.class_id, mask_utils.encode(np.asfortranarray(mask.astype(np.uint8))),
                                inst.score))
    return out


def coco_annotations(image: str, width: int, height: int, instances: Sequence[Instance],
                     class_names: Sequence[str]) -> List[dict]:
    """One image's annotations of the COCO result, without their ids (given when the file is written), checked
    against the contract: RLE masks (an empty one is left out: an empty segmentation crashes the platform) at
    the image's size, with ``bbox``, ``area`` and the confidence where there is one."""
    from pycocotools import mask as mask_utils

    out = []
    for inst in encoded(instances):
        rle = inst.mask
        if tuple(rle["size"]) != (height, width):
            raise ContractError(f"{image}: mask shape {tuple(rle['size'])} differs from the image ({height}, {width})")
        counts = rle["counts"]
        counts = counts.decode("ascii") if isinstance(counts, bytes) else counts
        x, y, w, h = (float(v) for v in mask_utils.toBbox(rle))
        ann = {"category_id": int(inst.class_id), "bbox": [x, y, w, h], "area": int(mask_utils.area(rle)),
               "iscrowd": 0, "segmentation": {"size": [int(height), int(width)], "counts": counts}}
        if inst.score is not None:
            ann["confidence"] = plain_float(inst.score, "score")
        out.append(ann)
    one = {"images": [_coco_image(1, image, width, height)], "categories": _categories(class_names),
           "annotations": [{"id": k, "image_id": 1, **ann} for k, ann in enumerate(out, 1)]}
    _fail_on(contract.check_coco_result(one, class_names), "infer-result.json")
    return out


def _coco_image(img_id: int, image: str, width: int, height: int) -> dict:
    return {"id": img_id, "file_name": os.path.basename(image), "width": int(width), "height": int(height)}


def _categories(class_names: Sequence[str]) -> List[dict]:
    return [{"id": i, "name": n, "supercategory": "none"} for i, n in enumerate(class_names)]


def write_coco_entries(path: str, entries: Callable[[], Iterable[Tuple[str, int, int, List[dict]]]],
                       class_names: Sequence[str]) -> Tuple[int, int]:
    """COCO infer-result.json streamed from (image path, width, height, annotations) tuples (annotations made
    and checked by :func:`coco_annotations`): ``entries()`` is read twice, once for the images and once for the
    annotations, so nothing but one image's annotations is held. Written atomically. Returns (images,
    annotations)."""
    images = annotations = 0
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write('{"images":[')
        for name, image, (_, width, height, _) in _first_of_each_name((e[0], e) for e in entries()):
            images += 1
            f.write(("," if images > 1 else "") + _json(_coco_image(images, image, width, height)))
        f.write('],"categories":' + _json(_categories(class_names)) + ',"annotations":[')
        img_id = 0
        for _, _, (_, _, _, anns) in _first_of_each_name((e[0], e) for e in entries()):
            img_id += 1
            for ann in anns:
                annotations += 1
                f.write(("," if annotations > 1 else "") + _json({"id": annotations, "image_id": img_id, **ann}))
        f.write("]}")
    return images, annotations


def write_coco_result(path: str, images: Sequence[Tuple[str, int, int, Sequence[Instance]]],
                      class_names: Sequence[str]) -> None:
    """COCO infer-result.json for semantic/instance segmentation: basename ``file_name``, ``bbox`` and ``area`` on
    every annotation, compressed RLE strings, empty masks left out."""
    write_coco_entries(path, lambda: ((p, w, h, coco_annotations(p, w, h, insts, class_names))
                                      for p, w, h, insts in images), class_names)


def semantic_instances(label_map: np.ndarray, n_classes: int, offset: int = 0) -> List[Instance]:
    """One instance per class present in an argmax label map (``offset`` 1 when label 0 is background)."""
    out = []
    for label in np.unique(label_map):
        cls = int(label) - offset
        if 0 <= cls < n_classes:
            out.append(Instance(cls, label_map == label))
    return out


# ------------------------------------------------------------------------------------------------ mining
def mining_score(path: str, score: Any) -> float:
    """A mining score as a finite float; NaN or infinite is a NanError naming the image."""
    v = plain_float(score, f"score of {path}")
    if not math.isfinite(v):
        raise NanError(f"mining score of {path} is {v} (the model's outputs are not finite)")
    return v


def write_ranking(path: str, paths: Sequence[str], scores: np.ndarray, skipped: Iterable[str] = (),
                  candidates: Optional[Sequence[str]] = None) -> None:
    """``result.tsv`` streamed from the scored ``paths`` and their finite ``scores`` (an array: 8 bytes an
    image), best first (stable: equal scores keep the given order), then the ``skipped`` ones with a score below
    all. Each line is checked as it is written (with ``candidates``: every one exactly once); the file is renamed
    into place only when all of it passed."""
    scores = np.asarray(scores, dtype=np.float64)
    last = (float(scores.min()) if len(scores) else 0.0) - 1.0
    tail = dict.fromkeys(skipped)  # a set of the few skipped ones, not of the (many) scored
    also_scored = set(tail).intersection(paths) if tail else set()
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        def lines():
            for k in np.argsort(-scores, kind="stable"):
                yield f"{paths[k]}\t{float(scores[k])!r}"
            for p in tail:
                if p not in also_scored:
                    yield f"{p}\t{last!r}"

        def written():
            for line in lines():
                f.write(line + "\n")
                yield line

        _fail_on(contract.check_mining_lines(written(), candidates), "result.tsv")


def write_mining_result(path: str, scores: Union[Mapping[str, float], Iterable[Tuple[str, float]]],
                        candidates: Optional[Sequence[str]] = None, skipped: Sequence[str] = ()) -> None:
    """``result.tsv``: every candidate once, best (highest score) first. The ``skipped`` candidates (unreadable
    images) come after every scored one, with a score below all of them: the platform and YMIR's executor verifier
    see each candidate exactly once, and no one labels an image nobody can open first."""
    items = list(scores.items()) if isinstance(scores, Mapping) else list(scores)
    write_ranking(path, [p for p, _ in items], np.array([mining_score(p, s) for p, s in items], dtype=np.float64),
                  skipped, candidates)


def read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
