"""Ground-truth parsers (ark txt, VOC xml, the shared seg-coco json; contract §4.3-4.5) and the rules applied to
every parsed object.

Box convention inside the SDK: ``x1, y1, x2, y2`` in pixels with ``x2``/``y2`` *exclusive*. The platform's ark and
VOC corners are inclusive (``xmax = x + w - 1``), so ``x2 = xmax + 1``; COCO ``[x, y, w, h]`` gives ``x2 = x + w``.
Rotated boxes keep the un-rotated rectangle plus ``angle`` (see :mod:`ymir_sdk.dataset.rotated`).

The rules, one each, counted in :class:`ConversionStats` and reported in the log (an image is never dropped
silently):

* a class id outside ``class_names`` (or a COCO category whose name is not in ``class_names``): the object is
  dropped;
* a box with zero or negative size: the object is dropped;
* an axis-aligned box partly outside the image: clipped to the image; wholly outside: dropped. Rotated boxes
  (``angle != 0``) are not clipped (their corners may legitimately leave the un-rotated rectangle);
* a missing annotation file (ark/voc): the image is kept as a background image;
* an unreadable image: the image is dropped from the split (training frameworks could not load it either).

A line that does not parse (wrong field count, text where a number belongs) is a dataset error (300002) naming
the file and line: it means the export itself is broken.
"""
from __future__ import annotations

import json
import logging
import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import DatasetError, ImageError
from .imagesize import image_size

log = logging.getLogger("ymir_sdk")


@dataclass(eq=False)
class ImageRecord:
    image: str
    width: int
    height: int
    boxes: np.ndarray  # (N, 4) float64, x1 y1 x2 y2, x2/y2 exclusive
    classes: np.ndarray  # (N,) int64, index into class_names
    quality: np.ndarray  # (N,) float64, -1.0 when unknown
    angles: np.ndarray  # (N,) float64, radians (see rotated.py)
    segmentations: List[Any] = field(default_factory=list)  # per object: None, [[poly]] lists, or an RLE dict
    areas: Optional[np.ndarray] = None  # (N,) stored mask area (COCO), else None

    def __len__(self) -> int:
        return len(self.classes)


@dataclass
class ConversionStats:
    images: int = 0
    objects: int = 0
    unknown_class: int = 0
    degenerate: int = 0
    clipped: int = 0
    outside: int = 0
    missing_annotation: int = 0
    unreadable_images: List[str] = field(default_factory=list)

    def problems(self) -> Dict[str, int]:
        items = {"objects with a class outside class_names (dropped)": self.unknown_class,
                 "zero-size boxes (dropped)": self.degenerate,
                 "boxes clipped to the image": self.clipped,
                 "boxes wholly outside the image (dropped)": self.outside,
                 "images without an annotation file (kept as background)": self.missing_annotation,
                 "unreadable images (dropped)": len(self.unreadable_images)}
        return {k: v for k, v in items.items() if v}

    def report(self, what: str) -> str:
        text = f"{what}: {self.images} images, {self.objects} objects"
        problems = self.problems()
        if problems:
            text += "; " + "; ".join(f"{v} {k}" for k, v in problems.items())
        return text

    def log(self, what: str) -> None:
        (log.warning if self.problems() else log.info)(self.report(what))
        for path in self.unreadable_images[:20]:
            log.warning("unreadable image skipped: %s", path)


def _num(text: str) -> float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def parse_ark(text: str, source: str = "<ark>") -> Tuple[list, list, list, list]:
    """Parse ark txt: ``class, xmin, ymin, xmax, ymax[, quality[, angle]]`` per line (comma + space separated,
    inclusive corners). Returns lists (classes, boxes as exclusive x1y1x2y2, qualities, angles)."""
    classes, boxes, quality, angles = [], [], [], []
    for no, line in enumerate(text.splitlines(), 1):
        parts = line.split(",")
        if len(parts) < 5:
            if not line.strip():
                continue
            raise DatasetError(f"{source} line {no}: expected 5 or 7 comma-separated fields, got {line.strip()!r}")
        if len(parts) > 7:
            raise DatasetError(f"{source} line {no}: expected 5 or 7 comma-separated fields, got {line.strip()!r}")
        try:
            cls = _num(parts[0])
            x1, y1, x2, y2 = _num(parts[1]), _num(parts[2]), _num(parts[3]), _num(parts[4])
            q = float(parts[5]) if len(parts) > 5 else -1.0
            a = float(parts[6]) if len(parts) > 6 else 0.0
        except ValueError:
            raise DatasetError(f"{source} line {no}: non-numeric field in {line.strip()!r}") from None
        if not all(math.isfinite(v) for v in (cls, x1, y1, x2, y2, q, a)):
            raise DatasetError(f"{source} line {no}: non-finite value in {line.strip()!r}")
        if cls != int(cls):
            raise DatasetError(f"{source} line {no}: class id must be an integer, got {parts[0].strip()!r}")
        classes.append(int(cls))
        boxes.append((x1, y1, x2 + 1, y2 + 1))
        quality.append(q)
        angles.append(a)
    return classes, boxes, quality, angles


def parse_voc(text: str, class_index: Dict[str, int], source: str = "<voc>") -> Tuple[list, list, list, list]:
    """Parse a YMIR VOC xml (inclusive corners; ``rotate_angle`` inside ``bndbox``; ``box_quality``).
    A name not in class_names gets class -1 (dropped and counted by the rules)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise DatasetError(f"{source}: not valid XML ({e})") from None
    classes, boxes, quality, angles = [], [], [], []
    for i, obj in enumerate(root.iter("object"), 1):
        name = (obj.findtext("name") or "").strip().lower()
        bnd = obj.find("bndbox")
        if bnd is None:
            raise DatasetError(f"{source}: object {i} ({name!r}) has no bndbox")
        try:
            x1, y1, x2, y2 = (float(bnd.findtext(k) or "nan") for k in ("xmin", "ymin", "xmax", "ymax"))
            angle = float(bnd.findtext("rotate_angle") or 0.0)
            q = float(obj.findtext("box_quality") or -1.0)
        except ValueError:
            raise DatasetError(f"{source}: object {i} ({name!r}) has a non-numeric coordinate") from None
        if any(v != v for v in (x1, y1, x2, y2)):
            raise DatasetError(f"{source}: object {i} ({name!r}) lacks one of xmin/ymin/xmax/ymax")
        classes.append(class_index.get(name, -1))
        boxes.append((x1, y1, x2 + 1, y2 + 1))
        quality.append(q)
        angles.append(angle)
    return classes, boxes, quality, angles


class CocoSource:
    """The platform's single ``coco-annotations.json`` (all splits), looked up by image basename."""

    def __init__(self, path: str, class_names: Sequence[str]):
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise DatasetError(f"annotation file not found: {path}") from None
        except (OSError, ValueError) as e:
            raise DatasetError(f"annotation file {path} is not valid JSON ({e})") from None
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            raise DatasetError(f"annotation file {path} is not a COCO json (no 'images' list)")
        index = {n.strip().lower(): i for i, n in enumerate(class_names)}
        self.category_class: Dict[Any, int] = {}
        for cat in data.get("categories") or []:
            name = str(cat.get("name", "")).strip().lower()
            cid = cat.get("id")
            if name in index:
                self.category_class[cid] = index[name]
            elif isinstance(cid, int) and 0 <= cid < len(class_names) and not name:
                self.category_class[cid] = cid
            else:
                self.category_class[cid] = -1
        self.images: Dict[str, dict] = {}
        for img in data["images"]:
            self.images[os.path.basename(str(img.get("file_name", "")))] = img
        self.annotations: Dict[Any, List[dict]] = {}
        for ann in data.get("annotations") or []:
            self.annotations.setdefault(ann.get("image_id"), []).append(ann)
        self.path = path

    def objects(self, image_path: str):
        img = self.images.get(os.path.basename(image_path))
        if img is None:
            return None, [], [], [], [], [], []
        classes, boxes, quality, angles, segs, areas = [], [], [], [], [], []
        for k, ann in enumerate(self.annotations.get(img.get("id"), []), 1):
            bbox = ann.get("bbox")
            if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
                raise DatasetError(f"{self.path}: annotation {ann.get('id', k)} has no 4-number bbox")
            x, y, w, h = (float(v) for v in bbox)
            classes.append(self.category_class.get(ann.get("category_id"), -1))
            boxes.append((x, y, x + w, y + h))
            quality.append(float(ann.get("confidence", -1.0)))
            angles.append(float(ann.get("rotate_angle", 0.0)))
            seg = ann.get("segmentation")
            segs.append(seg if seg else None)  # {} / [] mean "box only"
            areas.append(float(ann.get("area", w * h)))
        return img, classes, boxes, quality, angles, segs, areas


def apply_rules(classes, boxes, quality, angles, width, height, n_classes: int, stats: ConversionStats):
    """The per-object rules of this module's docstring, vectorised over any number of objects (``width`` and
    ``height`` per object or scalar). Returns the kept index and the clipped boxes of all objects."""
    cls = np.asarray(classes, dtype=np.int64).reshape(-1)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    a = np.asarray(angles, dtype=np.float64).reshape(-1)
    w = np.broadcast_to(np.asarray(width, dtype=np.float64), cls.shape)
    h = np.broadcast_to(np.asarray(height, dtype=np.float64), cls.shape)
    known = (cls >= 0) & (cls < n_classes)
    sized = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    stats.unknown_class += int((~known).sum())
    stats.degenerate += int((known & ~sized).sum())
    keep = known & sized
    upright = (a == 0)[:, None]
    clipped = np.where(upright, np.clip(b, 0, np.stack([w, h, w, h], axis=1)), b)
    inside = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    stats.outside += int((keep & ~inside).sum())
    keep &= inside
    stats.clipped += int((keep & (clipped != b).any(axis=1)).sum())
    stats.objects += int(keep.sum())
    return np.flatnonzero(keep), clipped


def read_bytes(path: str) -> Optional[bytes]:
    """A whole small file with the least overhead (annotation files are read by the ten thousand)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise DatasetError(f"annotation file {path} is unreadable: {e}") from None
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def _read_text(path: str) -> Optional[str]:
    data = read_bytes(path)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetError(f"annotation file {path} is not UTF-8 text: {e}") from None


def _ark_lines(text: str, source: str) -> List[str]:
    """The non-blank lines of an ark file, padded to 7 fields; a malformed line raises parse_ark's error."""
    out = []
    for line in text.split("\n"):
        commas = line.count(",")
        if commas == 6:
            out.append(line)
        elif commas == 4:
            out.append(line + ",-1.0,0.0")
        elif commas == 5:
            out.append(line + ",0.0")
        elif line.strip():
            parse_ark(text, source)  # raises the precise error
            raise DatasetError(f"{source}: malformed line {line.strip()!r}")  # pragma: no cover
    return out


def _ark_rows(lines: List[str], files: List[Tuple[str, str]]) -> np.ndarray:
    """Parse many ark lines at once into (N, 7) rows; on any bad value the per-line parser names the file/line."""
    try:
        rows = np.array(",".join(lines).split(","), dtype=np.float64).reshape(-1, 7) if lines else np.zeros((0, 7))
        bad = not np.isfinite(rows).all() or not np.array_equal(rows[:, 0], np.floor(rows[:, 0]))
    except ValueError:
        bad = True
    if bad:
        for source, text in files:
            parse_ark(text, source)
        raise DatasetError(f"malformed ark files among {files[0][0]} ...")  # pragma: no cover
    rows[:, 3:5] += 1  # inclusive xmax/ymax -> exclusive
    return rows


def _rows(classes, boxes, quality, angles) -> np.ndarray:
    if not classes:
        return np.zeros((0, 7))
    return np.column_stack([np.asarray(classes, dtype=np.float64), np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
                            np.asarray(quality, dtype=np.float64), np.asarray(angles, dtype=np.float64)])


def load_records(pairs: Sequence[Tuple[str, str]], class_names: Sequence[str],
                 stats: Optional[ConversionStats] = None) -> List[ImageRecord]:
    """Parse every (image, annotation) pair of a split into ImageRecords, applying the rules.

    The annotation format is told by the file name: ``.txt`` ark, ``.xml`` VOC, ``.json`` the shared COCO file.
    Objects are gathered for the whole split; ark lines are parsed in one batch and the rules run once, vectorised.
    """
    stats = stats if stats is not None else ConversionStats()
    class_index = {c.strip().lower(): i for i, c in enumerate(class_names)}
    coco_sources: Dict[str, CocoSource] = {}
    images: List[Tuple[str, int, int, int]] = []  # path, width, height, object count
    pieces: List[np.ndarray] = []  # (k, 7) rows: class, x1, y1, x2, y2, quality, angle - in image order
    ark_lines: List[str] = []
    ark_files: List[Tuple[str, str]] = []
    all_segs: list = []
    all_areas: list = []
    with_segs = False

    def flush_ark() -> None:
        if ark_files:
            pieces.append(_ark_rows(ark_lines, ark_files))
            ark_lines.clear()
            ark_files.clear()

    for image, ann in pairs:
        segs = areas = None
        lines = None
        if ann.endswith(".json"):
            src = coco_sources.get(ann) or coco_sources.setdefault(ann, CocoSource(ann, class_names))
            img, classes, boxes, quality, angles, segs, areas = src.objects(image)
            if img is None:
                stats.missing_annotation += 1
            with_segs = True
        else:
            text = _read_text(ann) if ann else None
            classes = boxes = quality = angles = []
            if text is None:
                stats.missing_annotation += 1
            elif ann.endswith(".xml"):
                classes, boxes, quality, angles = parse_voc(text, class_index, ann)
            else:
                lines = _ark_lines(text, ann)
        try:
            width, height = image_size(image)
        except ImageError:
            stats.unreadable_images.append(image)
            continue
        if lines is not None:
            ark_lines.extend(lines)
            ark_files.append((ann, text))
            count = len(lines)
        else:
            flush_ark()
            pieces.append(_rows(classes, boxes, quality, angles))
            count = len(classes)
        images.append((image, width, height, count))
        if with_segs:
            all_segs += segs if segs is not None else [None] * count
            all_areas += areas if areas is not None else [0.0] * count
    flush_ark()
    rows = np.concatenate(pieces) if pieces else np.zeros((0, 7))
    counts = np.array([n for *_, n in images], dtype=np.int64)
    widths = np.repeat(np.array([w for _, w, _, _ in images], dtype=np.float64), counts)
    heights = np.repeat(np.array([h for _, _, h, _ in images], dtype=np.float64), counts)
    keep, clipped = apply_rules(rows[:, 0], rows[:, 1:5], rows[:, 5], rows[:, 6], widths, heights,
                                len(class_names), stats)
    cls = rows[keep, 0].astype(np.int64)
    boxes_k, quality_k, angles_k = clipped[keep], rows[keep, 5], rows[keep, 6]
    areas_k = np.asarray(all_areas, dtype=np.float64).reshape(-1)[keep] if with_segs else None
    owner = np.repeat(np.arange(len(images)), counts)[keep]
    ends = np.searchsorted(owner, np.arange(len(images)), side="right").tolist()
    records = []
    start = 0
    for i, (image, width, height, _) in enumerate(images):
        end = ends[i]
        segs = [all_segs[k] for k in keep[start:end]] if with_segs else []
        records.append(ImageRecord(image, width, height, boxes_k[start:end], cls[start:end], quality_k[start:end],
                                   angles_k[start:end], segs, areas_k[start:end] if areas_k is not None else None))
        start = end
    stats.images += len(records)
    return records
