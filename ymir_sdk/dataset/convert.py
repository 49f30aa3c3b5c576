"""Converters from the platform's datasets to what frameworks read, with a safe cache.

* :func:`convert_to_coco` - COCO json (detection; optional masks or rotated-box polygons) for OpenMMLab.
* :func:`convert_to_yolo` - YOLO txt labels + ``data.yaml`` (boxes, or polygons for YOLO-seg).
* :func:`convert_to_mmseg` - PNG label maps for mmsegmentation (with or without a background class).

Every converter goes through :func:`cached`: the output is built in a temporary place, renamed into place, and
only then is a key file written. A half-written output (a killed run) has no matching key and is rebuilt.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import yaml

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
    fcntl = None  # type: ignore

from ..errors import DatasetError
from ..io import atomic_write_bytes, atomic_write_text
from . import rotated
from .annotations import ConversionStats, ImageRecord, load_records

log = logging.getLogger("ymir_sdk")
CONVERTER_VERSION = "1"
Pairs = Sequence[Tuple[str, str]]


# ----------------------------------------------------------------------------------------------- cache
def dataset_key(splits: Dict[str, Pairs], class_names: Sequence[str], *extra: object) -> str:
    """A key that changes when the index, the class list, the options or any annotation file changes."""
    parts = [repr((CONVERTER_VERSION, list(class_names), extra))]
    stamps: Dict[str, str] = {}
    for split in sorted(splits):
        parts.append(split)
        for image, ann in splits[split]:
            if ann and ann not in stamps:
                try:
                    st = os.stat(ann)
                    stamps[ann] = f"{st.st_size}:{st.st_mtime_ns}"
                except OSError:
                    stamps[ann] = "-"
            parts.append(f"{image}\t{ann}\t{stamps.get(ann, '')}")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def cached(out_path: str, key: str, build: Callable[[str], None]) -> bool:
    """Build ``out_path`` (a file or a folder) with ``build(tmp_path)`` unless a complete build with ``key``
    exists. Returns True when the cached output was reused.

    Safe across processes (the ranks of a multi-GPU run convert the same dataset at the same time): one builds
    under a file lock while the others wait, then reuse its output; a half-written output is never reused."""
    parent = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(parent, exist_ok=True)
    with open(out_path.rstrip("/") + ".lock", "a") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _cached_locked(out_path, key, build, parent)
        finally:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _cached_locked(out_path: str, key: str, build: Callable[[str], None], parent: str) -> bool:
    marker = out_path.rstrip("/") + ".key"
    if os.path.exists(out_path) and os.path.exists(marker):
        with open(marker, encoding="utf-8") as f:
            if f.read() == key:
                log.info("reusing converted dataset %s", out_path)
                return True
    if os.path.exists(marker):
        os.unlink(marker)
    tmp = tempfile.mkdtemp(dir=parent, prefix="." + os.path.basename(out_path) + ".")
    try:
        target = os.path.join(tmp, "out")
        build(target)
        if os.path.isdir(out_path) and not os.path.islink(out_path):
            shutil.rmtree(out_path)
        os.replace(target, out_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    atomic_write_text(marker, key)
    return False


def _load(splits: Dict[str, Pairs], class_names: Sequence[str], require_objects: bool
          ) -> Dict[str, Tuple[List[ImageRecord], ConversionStats]]:
    out = {}
    for split, pairs in splits.items():
        stats = ConversionStats()
        records = load_records(pairs, class_names, stats)
        stats.log(f"{split} set")
        if not records:
            raise DatasetError(f"{split} dataset has no readable image ({len(pairs)} listed)")
        if require_objects and split == "train" and stats.objects == 0:
            raise DatasetError(f"{split} dataset has no annotated object of the classes {list(class_names)}")
        out[split] = (records, stats)
    return out


# ----------------------------------------------------------------------------------------------- COCO
def coco_json(records: Sequence[ImageRecord], class_names: Sequence[str], segmentation: str = "none") -> str:
    """COCO json text; ``file_name`` is the absolute image path; category ids are 0-based class indices.
    ``segmentation``: ``none`` (boxes), ``masks`` (the source polygons/RLE), ``rotated`` (4-corner polygons of
    the rotated boxes, plus ``rotate_angle``). Written as text from arrays concatenated over the split: it is the
    hot path of dataset conversion (tens of thousands of objects)."""
    dumps = json.dumps
    counts = [len(rec) for rec in records]
    boxes = np.concatenate([rec.boxes for rec in records]) if records else np.zeros((0, 4))
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    area = xywh[:, 2] * xywh[:, 3]
    classes = np.concatenate([rec.classes for rec in records]).tolist() if records else []
    extra = [""] * len(classes)
    if segmentation == "masks":
        stored = np.concatenate([rec.areas if rec.areas is not None else np.zeros(len(rec)) for rec in records])
        area = np.where(stored > 0, stored, area)
        segs = [seg for rec in records for seg in (rec.segmentations or [None] * len(rec))]
        for k, ((x, y, w, h), seg) in enumerate(zip(xywh.tolist(), segs)):
            extra[k] = ',"segmentation":' + dumps(seg or [[x, y, x + w, y, x + w, y + h, x, y + h]])
    elif segmentation == "rotated":
        angles = np.concatenate([rec.angles for rec in records])
        polys = rotated.corners(rotated.rboxes_from_boxes(boxes, angles)).tolist()
        extra = [f',"segmentation":[{poly}],"rotate_angle":{a!r}' for poly, a in zip(polys, angles.tolist())]
    rows = iter(zip(xywh.tolist(), area.tolist(), classes, extra))
    images, annotations = [], []
    ann_id = 0
    for img_id, (rec, n) in enumerate(zip(records, counts), 1):
        images.append(f'{{"id":{img_id},"file_name":{dumps(rec.image)},"width":{rec.width},"height":{rec.height}}}')
        for _ in range(n):
            (x, y, w, h), a, c, e = next(rows)
            ann_id += 1
            annotations.append(f'{{"id":{ann_id},"image_id":{img_id},"category_id":{c},'
                               f'"bbox":[{x!r},{y!r},{w!r},{h!r}],"area":{a!r},"iscrowd":0{e}}}')
    categories = dumps([{"id": i, "name": n, "supercategory": "none"} for i, n in enumerate(class_names)])
    return (f'{{"images":[{",".join(images)}],"annotations":[{",".join(annotations)}],'
            f'"categories":{categories}}}')


def coco_dict(records: Sequence[ImageRecord], class_names: Sequence[str], segmentation: str = "none") -> dict:
    """The same COCO content as :func:`coco_json`, as a dict (for pycocotools)."""
    return json.loads(coco_json(records, class_names, segmentation))


def convert_to_coco(splits: Dict[str, Pairs], class_names: Sequence[str], out_dir: str,
                    segmentation: str = "none") -> Dict[str, str]:
    """One COCO json per split (``<out_dir>/<split>.json``); returns split -> json path."""
    key = dataset_key(splits, class_names, "coco", segmentation)
    out = os.path.join(out_dir, f"coco-{segmentation}")

    def build(target: str) -> None:
        os.makedirs(target)
        for split, (records, _) in _load(splits, class_names, require_objects=True).items():
            atomic_write_text(os.path.join(target, f"{split}.json"), coco_json(records, class_names, segmentation))

    cached(out, key, build)
    return {split: os.path.join(out, f"{split}.json") for split in splits}


# ----------------------------------------------------------------------------------------------- YOLO
def merge_segments(segments: Sequence[np.ndarray]) -> np.ndarray:
    """Join several closed polygons (the parts of one object and the boundaries of its holes) into one polygon,
    by cutting in from the nearest points (a zero-width bridge): YOLO-seg has one polygon per instance."""
    segments = [p for p in (np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in segments) if len(p) >= 3]
    if not segments:
        return np.zeros((0, 2))
    merged = segments[0]
    for seg in segments[1:]:
        d = ((merged[:, None, :] - seg[None, :, :]) ** 2).sum(-1)
        i, j = np.unravel_index(int(np.argmin(d)), d.shape)
        loop = np.concatenate([np.roll(seg, -j, axis=0), seg[j:j + 1]])
        merged = np.concatenate([merged[: i + 1], loop, merged[i:]])
    return merged


def mask_polygons(mask: np.ndarray) -> List[np.ndarray]:
    """Outer boundaries and hole boundaries of a binary mask, as (k,2) float arrays (OpenCV contours)."""
    import cv2

    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1, 2).astype(np.float64) for c in contours if len(c) >= 3]


def decode_segmentation(seg, height: int, width: int) -> np.ndarray:
    """A COCO segmentation (RLE dict, compressed or not, or polygon lists) -> (H, W) uint8 mask."""
    from pycocotools import mask as mask_utils

    if isinstance(seg, dict):
        rle = seg
        if isinstance(seg.get("counts"), list):
            rle = mask_utils.frPyObjects(seg, height, width)
        return mask_utils.decode(rle).astype(np.uint8)
    rles = mask_utils.frPyObjects([list(map(float, p)) for p in seg if len(p) >= 6], height, width)
    return mask_utils.decode(mask_utils.merge(rles)).astype(np.uint8)


def object_polygon(seg, height: int, width: int) -> np.ndarray:
    """One polygon for one object: polygons are joined directly; an RLE mask is traced first."""
    if isinstance(seg, list):
        parts = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in seg if len(p) >= 6]
    else:
        parts = mask_polygons(decode_segmentation(seg, height, width))
    return merge_segments(parts)


def yolo_lines(rec: ImageRecord, segments: bool) -> List[str]:
    lines = []
    w, h = float(rec.width), float(rec.height)
    for k in range(len(rec)):
        seg = rec.segmentations[k] if rec.segmentations else None
        if segments:
            if seg:
                poly = object_polygon(seg, rec.height, rec.width)
            else:
                x1, y1, x2, y2 = rec.boxes[k]
                poly = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
            if len(poly) < 3:
                continue
            xy = np.clip(poly / [w, h], 0, 1).reshape(-1)
            lines.append(f"{int(rec.classes[k])} " + " ".join(f"{v:.6f}" for v in xy))
        else:
            x1, y1, x2, y2 = rec.boxes[k]
            lines.append(f"{int(rec.classes[k])} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} "
                         f"{(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}")
    return lines


def convert_to_yolo(splits: Dict[str, Pairs], class_names: Sequence[str], out_dir: str,
                    segments: bool = False) -> str:
    """YOLO layout under ``out_dir/yolo[-seg]``: ``images/<split>/<name>`` (links to the assets),
    ``labels/<split>/<stem>.txt`` and ``data.yaml``; returns the data.yaml path."""
    key = dataset_key(splits, class_names, "yolo", segments)
    out = os.path.join(out_dir, "yolo-seg" if segments else "yolo")

    def build(target: str) -> None:
        loaded = _load(splits, class_names, require_objects=True)
        data = {"path": out, "nc": len(class_names), "names": list(class_names)}
        for split, (records, _) in loaded.items():
            img_dir = os.path.join(target, "images", split)
            lab_dir = os.path.join(target, "labels", split)
            os.makedirs(img_dir)
            os.makedirs(lab_dir)
            listing = []
            for n, rec in enumerate(records):
                name = os.path.basename(rec.image)
                if os.path.exists(os.path.join(img_dir, name)):
                    name = f"{n}_{name}"
                os.symlink(os.path.abspath(rec.image), os.path.join(img_dir, name))
                with open(os.path.join(lab_dir, os.path.splitext(name)[0] + ".txt"), "w") as f:
                    f.write("\n".join(yolo_lines(rec, segments)))
                listing.append(os.path.join(out, "images", split, name))
            with open(os.path.join(target, f"{split}.txt"), "w") as f:
                f.write("\n".join(listing) + "\n")
            data[split] = os.path.join(out, f"{split}.txt")
        with open(os.path.join(target, "data.yaml"), "w") as f:
            yaml.safe_dump(data, f, sort_keys=False)

    cached(out, key, build)
    return os.path.join(out, "data.yaml")


# ----------------------------------------------------------------------------------------------- mmseg
def label_map(rec: ImageRecord, with_background: bool) -> np.ndarray:
    """uint8 label map. With a background class: 0 = background, class i -> i + 1. Without: unlabelled pixels
    are 255 (ignored by the loss) and class i -> i. Larger objects are painted first, so a small object lying on
    a larger one stays visible."""
    fill = 0 if with_background else 255
    out = np.full((rec.height, rec.width), fill, dtype=np.uint8)
    order = np.argsort(-(rec.boxes[:, 2] - rec.boxes[:, 0]) * (rec.boxes[:, 3] - rec.boxes[:, 1]), kind="stable") \
        if len(rec) else []
    for k in order:
        seg = rec.segmentations[k] if rec.segmentations else None
        if not seg:
            continue
        mask = decode_segmentation(seg, rec.height, rec.width).astype(bool)
        out[mask] = int(rec.classes[k]) + (1 if with_background else 0)
    return out


def convert_to_mmseg(splits: Dict[str, Pairs], class_names: Sequence[str], out_dir: str,
                     with_background: bool) -> Dict[str, str]:
    """PNG label maps under ``out_dir/mmseg[-bg]/labels/<split>/<stem>.png`` and ``<split>.tsv`` index files
    (``image TAB png``); returns split -> index file."""
    import cv2

    key = dataset_key(splits, class_names, "mmseg", with_background)
    out = os.path.join(out_dir, "mmseg-bg" if with_background else "mmseg")

    def build(target: str) -> None:
        for split, (records, _) in _load(splits, class_names, require_objects=False).items():
            lab_dir = os.path.join(target, "labels", split)
            os.makedirs(lab_dir)
            rows = []
            for rec in records:
                png = os.path.join(lab_dir, os.path.splitext(os.path.basename(rec.image))[0] + ".png")
                ok, buf = cv2.imencode(".png", label_map(rec, with_background))
                if not ok:
                    raise DatasetError(f"could not encode the label map of {rec.image}")
                atomic_write_bytes(png, buf.tobytes())
                rows.append(f"{rec.image}\t{os.path.join(out, 'labels', split, os.path.basename(png))}")
            atomic_write_text(os.path.join(target, f"{split}.tsv"), "\n".join(rows) + "\n")

    cached(out, key, build)
    return {split: os.path.join(out, f"{split}.tsv") for split in splits}
