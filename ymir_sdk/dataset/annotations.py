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
* an unreadable image, or one whose pixels do not decode (its data cut short; checked by training conversions):
  the image is dropped from the split (training frameworks could not load it either);
* an object whose mask is empty (a polygon of fewer than three points, an RLE without one set pixel): kept as a
  box-only object (``{}``), counted and named in the log: instance segmentation trains it as its box's
  rectangle, semantic segmentation paints nothing for it.

A line that does not parse (wrong field count, text where a number belongs, a rotate angle beyond a full turn:
radians are read, so it is degrees or garbage) is a dataset error (300002) naming the file and line: it means
the export itself is broken. So is a segmentation that does not decode (an RLE
whose ``counts`` is not an RLE, whose ``size`` is not the image's, whose runs do not cover the image; a polygon
of something else than numbers): the error names the annotation file, the image and the annotation id - the
decoders (pycocotools) would crash on it, some by corrupting memory.
"""
from __future__ import annotations

import json
import logging
import math
import os
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Sequence as SequenceABC
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


class RecordSet(SequenceABC):
    """The records of a split as arrays over all its objects (what converters format in bulk, without a Python
    object per image); indexing or iterating gives :class:`ImageRecord` views into those arrays.

    ``offsets[i]:offsets[i + 1]`` are the objects of image ``i``; ``segmentations`` is empty or has one entry per
    object; ``areas`` is None or one value per object."""

    def __init__(self, images: List[str], widths: List[int], heights: List[int], offsets: np.ndarray,
                 boxes: np.ndarray, classes: np.ndarray, quality: np.ndarray, angles: np.ndarray,
                 segmentations: Optional[list] = None, areas: Optional[np.ndarray] = None):
        self.images, self.widths, self.heights = images, widths, heights
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.boxes, self.classes, self.quality, self.angles = boxes, classes, quality, angles
        self.segmentations = segmentations or []
        self.areas = areas

    @classmethod
    def of(cls, records: Sequence[ImageRecord]) -> "RecordSet":
        """Any sequence of ImageRecords as a RecordSet (a RecordSet is returned as it is)."""
        if isinstance(records, RecordSet):
            return records
        records = list(records)
        counts = [len(r) for r in records]

        def cat(arrays, shape):
            return np.concatenate(arrays) if arrays else np.zeros(shape)

        segs = [seg for r in records for seg in (r.segmentations or [None] * len(r))]
        areas = None
        if any(r.areas is not None for r in records):
            areas = cat([r.areas if r.areas is not None else np.zeros(len(r)) for r in records], (0,))
        return cls([r.image for r in records], [r.width for r in records], [r.height for r in records],
                   np.concatenate(([0], np.cumsum(counts, dtype=np.int64))),
                   cat([r.boxes for r in records], (0, 4)).reshape(-1, 4),
                   cat([r.classes for r in records], (0,)).astype(np.int64),
                   cat([r.quality for r in records], (0,)), cat([r.angles for r in records], (0,)),
                   segs if any(s is not None for s in segs) else [], areas)

    def __len__(self) -> int:
        return len(self.images)

    def _record(self, i: int) -> ImageRecord:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return ImageRecord(self.images[i], self.widths[i], self.heights[i], self.boxes[a:b], self.classes[a:b],
                           self.quality[a:b], self.angles[a:b], self.segmentations[a:b],
                           self.areas[a:b] if self.areas is not None else None)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._record(k) for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._record(i)

    def __iter__(self):
        for i in range(len(self)):
            yield self._record(i)

    @property
    def object_count(self) -> int:
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
    empty_masks: List[str] = field(default_factory=list)  # "annotation <id> of <image>", kept as boxes

    def problems(self) -> Dict[str, int]:
        items = {"objects with a class outside class_names (dropped)": self.unknown_class,
                 "zero-size boxes (dropped)": self.degenerate,
                 "boxes clipped to the image": self.clipped,
                 "boxes wholly outside the image (dropped)": self.outside,
                 "images without an annotation file (kept as background)": self.missing_annotation,
                 "unreadable images (dropped)": len(self.unreadable_images),
                 "objects with an empty mask (kept as boxes only)": len(self.empty_masks)}
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
        for name in self.empty_masks[:20]:
            log.warning("empty mask, kept as a box only: %s", name)


def _num(text: str) -> float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def angle_problem(angle: float) -> str:
    """Why a box's rotate angle is not one (the SDK reads radians, :mod:`ymir_sdk.dataset.rotated`): beyond a
    full turn it is degrees or garbage, which would turn the box silently. '' when it is fine."""
    if not math.isfinite(angle):
        return f"a rotate angle that is not a number ({angle!r})"
    if abs(angle) > 2 * math.pi:
        return f"a rotate angle of {angle:g}, beyond 2*pi: rotate angles are radians (degrees?)"
    return ""


def inclusive_corners(x1: float, y1: float, x2: float, y2: float) -> Tuple[int, int, int, int]:
    """An exclusive box (x2 = x1 + width) as YMIR's ark and VOC files write it: whole pixels, inclusive corners
    (``xmax = x + w - 1``; the inverse of what :func:`parse_ark` and :func:`parse_voc` read)."""
    x, y = int(round(x1)), int(round(y1))
    return x, y, x + int(round(x2 - x1)) - 1, y + int(round(y2 - y1)) - 1


def ark_line(class_id: int, box: Sequence[float], angle: float = 0.0, quality: float = -1.0) -> str:
    """One ark line (``class, xmin, ymin, xmax, ymax, quality, angle``) of an exclusive box."""
    xmin, ymin, xmax, ymax = inclusive_corners(*box)
    return f"{class_id}, {xmin}, {ymin}, {xmax}, {ymax}, {float(quality)!r}, {float(angle)!r}\n"


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
        if angle_problem(a):
            raise DatasetError(f"{source} line {no}: {angle_problem(a)} in {line.strip()!r}")
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
        if angle_problem(angle):
            raise DatasetError(f"{source}: object {i} ({name!r}) has {angle_problem(angle)}")
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

    def objects(self, image_path: str, width: int, height: int, stats: ConversionStats):
        """The objects of one image (of ``width`` x ``height`` pixels, as it is read) as lists; each segmentation
        checked (:func:`segmentation_problem`): one that does not decode is a DatasetError, an empty mask becomes
        None (box only) and is counted in ``stats``."""
        name = os.path.basename(image_path)
        img = self.images.get(name)
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
            if angle_problem(angles[-1]):
                raise DatasetError(f"{self.path}: annotation {ann.get('id', k)} of image {name} has "
                                   f"{angle_problem(angles[-1])}")
            seg = ann.get("segmentation") or None  # {} / [] mean "box only"
            if seg is not None:
                problem, empty = segmentation_problem(seg, height, width)
                if problem:
                    raise DatasetError(f"{self.path}: annotation {ann.get('id', k)} of image {name} has {problem}")
                if empty:
                    stats.empty_masks.append(f"annotation {ann.get('id', k)} of {name}")
                    seg = None
            segs.append(seg)
            areas.append(float(ann.get("area", w * h)))
        return img, classes, boxes, quality, angles, segs, areas


def rle_runs(counts: str) -> Optional[np.ndarray]:
    """The run lengths a compressed COCO RLE string encodes (pycocotools' ``rleFrString``, vectorised), or None
    when the string is not one: a character outside '0'..'o', a number cut at the string's end, a number of more
    than 7 characters (beyond 32 bits), or a negative run."""
    raw = np.frombuffer(counts.encode("latin-1", "replace"), dtype=np.uint8).astype(np.int64) - 48
    if raw.size == 0:
        return np.zeros(0, dtype=np.int64)
    if ((raw < 0) | (raw > 63)).any() or raw[-1] & 0x20:
        return None
    last = np.flatnonzero((raw & 0x20) == 0)  # each number's last character
    first = np.concatenate(([0], last[:-1] + 1))
    place = np.arange(raw.size) - np.repeat(first, last - first + 1)  # a character's place within its number
    if place.max() >= 7:
        return None
    values = np.add.reduceat((raw & 0x1F) << (5 * place), first)
    negative = (raw[last] & 0x10) != 0
    values[negative] -= np.left_shift(1, 5 * (place[last][negative] + 1))  # sign-extend
    runs = values.copy()  # from the third number on, each is the difference to the one two before
    runs[2::2] = np.cumsum(values[2::2])
    runs[3::2] = values[1] + np.cumsum(values[3::2]) if len(values) > 3 else runs[3::2]
    return None if (runs < 0).any() else runs


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def segmentation_problem(seg: Any, height: int, width: int) -> Tuple[Optional[str], bool]:
    """What is wrong with one COCO segmentation on an image of ``height`` x ``width`` pixels (None when it
    decodes), and whether its mask is empty. RLE: ``size`` is the image's ``[height, width]``, ``counts`` a
    compressed RLE string or a list of run lengths, the runs covering the image exactly. Polygons: lists of an even
    number of finite numbers; a mask is empty when no polygon has three points, or no RLE run is set."""
    if isinstance(seg, dict):
        size, counts = seg.get("size"), seg.get("counts")
        if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) for v in size)):
            return f"an RLE without a [height, width] size (size: {size!r})"[:200], False
        if list(size) != [height, width]:
            return f"an RLE of size {list(size)} on an image of [height, width] [{height}, {width}]", False
        if isinstance(counts, str):
            runs = rle_runs(counts)
            if runs is None:
                return f"an RLE whose counts is not a compressed RLE string ({counts[:40]!r})", False
        elif isinstance(counts, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                              for v in counts):
            runs = np.asarray(counts, dtype=np.int64)
        else:
            return f"an RLE whose counts is neither an RLE string nor a list of run lengths ({counts!r})"[:200], \
                False
        if int(runs.sum()) != height * width:
            return f"an RLE whose runs cover {int(runs.sum())} pixels, not the image's {height * width}", False
        return None, not runs[1::2].any()
    if isinstance(seg, list):
        for part in seg:
            if not isinstance(part, list):
                return f"a polygon that is not a list of [x1, y1, x2, y2, ...] lists ({part!r})"[:200], False
            bad = next((v for v in part if not _is_number(v)), None)
            if bad is not None or any(isinstance(v, bool) for v in part):
                return f"a polygon with a value that is not a finite number ({bad!r})"[:200], False
            if len(part) % 2:
                return f"a polygon of an odd number of coordinates ({len(part)})", False
        return None, not any(len(part) >= 6 for part in seg)
    return f"a segmentation that is neither an RLE dict nor a list of polygons ({seg!r})"[:200], False


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


_CHUNK = 1 << 16


def read_bytes(path: str) -> Optional[bytes]:
    """A whole small file with the least overhead (annotation files are read by the ten thousand: open, one read,
    close); None when it does not exist. A read of a regular file returns fewer bytes than asked only at its end,
    so one short read is the whole file."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise DatasetError(f"annotation file {path} is unreadable: {e}") from None
    try:
        data = os.read(fd, _CHUNK)
        if len(data) == _CHUNK:
            chunks = [data]
            while chunks[-1]:
                chunks.append(os.read(fd, _CHUNK))
            data = b"".join(chunks)
        return data
    except OSError as e:
        raise DatasetError(f"annotation file {path} is unreadable: {e}") from None
    finally:
        os.close(fd)


def _decode(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetError(f"annotation file {path} is not UTF-8 text: {e}") from None


def _ark_slow(datas: Sequence[bytes], sources: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`parse_ark` file by file: the reference behaviour, and the precise error (file and line)."""
    pieces, counts = [], []
    for data, source in zip(datas, sources):
        classes, boxes, quality, angles = parse_ark(_decode(data, source), source)
        pieces.append(_rows(classes, boxes, quality, angles))
        counts.append(len(classes))
    rows = np.concatenate(pieces) if pieces else np.zeros((0, 7))
    return rows, np.asarray(counts, dtype=np.int64)


#: ark files parsed at once: enough for numpy's vectorised parse to pay (a split parsed in batches of 4096 takes
#: about the time of one batch of the whole split), few enough that its temporaries stay a few MB however large
ARK_BATCH = 4096


def parse_ark_batch(datas: Sequence[bytes], sources: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
    """Parse many ark files at once (the hot path of dataset conversion): returns (N, 7) rows ``class, x1, y1,
    x2, y2, quality, angle`` (x2/y2 exclusive, as :func:`parse_ark`) in file order, and the object count of each
    file. Lines are split, blank lines dropped, field counts checked and numbers parsed over the whole batch with
    numpy; anything the vectorised checks do not accept goes through :func:`parse_ark` file by file, which gives
    the same result or the error naming the file and line."""
    if not datas:
        return np.zeros((0, 7)), np.zeros(0, dtype=np.int64)
    buf = b"\n".join(datas)
    arr = np.frombuffer(buf, dtype=np.uint8)
    newlines = np.flatnonzero(arr == 10)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.append(newlines, len(arr))
    commas = np.flatnonzero(arr == 44)
    fields = np.searchsorted(commas, ends) - np.searchsorted(commas, starts) + 1
    blank = ends == starts
    for i in np.flatnonzero((fields == 1) & ~blank).tolist():  # lines without a comma: blank if only whitespace
        blank[i] = not buf[starts[i]:ends[i]].strip()
    if (~blank & ((fields < 5) | (fields > 7))).any():
        return _ark_slow(datas, sources)
    file_starts = np.cumsum([0] + [len(d) + 1 for d in datas[:-1]])
    owner = np.searchsorted(file_starts, starts, side="right") - 1
    keep = ~blank
    spans = ends - starts + 1  # each line with its newline (the last line has none: its span overruns by one)
    text = arr[np.repeat(keep, spans)[: len(arr)]]
    text[text == 13] = 32  # CRLF: the CR is whitespace
    text[text == 10] = 44  # each line's newline separates its last field from the next line's first
    if keep[-1]:  # the last line has no newline: give it the same closing separator as every other line
        text = np.append(text, np.uint8(44))
    # numpy reads a whitespace-only field as -1 without complaint: every field must hold a non-blank byte
    solid = text[text > 32]
    if len(solid) and (solid[0] == 44 or ((solid[1:] == 44) & (solid[:-1] == 44)).any()):
        return _ark_slow(datas, sources)
    k = fields[keep]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            values = np.fromstring(text.tobytes(), dtype=np.float64, sep=",")
    except (ValueError, DeprecationWarning):
        return _ark_slow(datas, sources)
    if len(values) != int(k.sum()):
        return _ark_slow(datas, sources)
    if (k == 7).all():
        rows = values.reshape(-1, 7)
    else:
        rows = np.empty((len(k), 7))
        rows[:, 5], rows[:, 6] = -1.0, 0.0
        line = np.repeat(np.arange(len(k)), k)
        rows[line, np.arange(len(values)) - np.repeat(np.cumsum(k) - k, k)] = values
    if not np.isfinite(rows).all() or not np.array_equal(rows[:, 0], np.floor(rows[:, 0])) \
            or (np.abs(rows[:, 6]) > 2 * math.pi).any():
        return _ark_slow(datas, sources)
    rows[:, 3:5] += 1  # inclusive xmax/ymax -> exclusive
    return rows, np.bincount(owner[keep], minlength=len(datas)).astype(np.int64)


def _rows(classes, boxes, quality, angles) -> np.ndarray:
    if not classes:
        return np.zeros((0, 7))
    return np.column_stack([np.asarray(classes, dtype=np.float64), np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
                            np.asarray(quality, dtype=np.float64), np.asarray(angles, dtype=np.float64)])


def load_records(pairs: Sequence[Tuple[str, str]], class_names: Sequence[str],
                 stats: Optional[ConversionStats] = None,
                 contents: Optional[Dict[str, Optional[bytes]]] = None) -> RecordSet:
    """Parse every (image, annotation) pair of a split into a :class:`RecordSet` (a sequence of ImageRecords),
    applying the rules.

    The annotation format is told by the file name: ``.xml`` VOC, ``.json`` the shared COCO file, anything else
    ark. Objects are gathered for the whole split; ark files are parsed in batches (:func:`parse_ark_batch`) and
    the rules run once, vectorised. ``contents``, when given, receives the bytes of every ark/VOC file as they were
    read (None: missing), so that :mod:`.convert` keys its cache on them without a second pass over the files.
    """
    split = _Split(class_names, stats if stats is not None else ConversionStats(), contents)
    for image, ann in pairs:
        split.add(image, ann)
    return split.records()


class _Split:
    """The objects of one split, gathered image by image in image order (see :func:`load_records`)."""

    def __init__(self, class_names: Sequence[str], stats: ConversionStats,
                 contents: Optional[Dict[str, Optional[bytes]]]):
        self.class_names, self.stats, self.contents = class_names, stats, contents
        self.class_index = {c.strip().lower(): i for i, c in enumerate(class_names)}
        self.coco_sources: Dict[str, CocoSource] = {}
        self.paths: List[str] = []  # the readable images, with their sizes
        self.widths: List[int] = []
        self.heights: List[int] = []
        self.counts: List[int] = []  # objects per image (an ark batch's counts arrive when it is parsed)
        self.pieces: List[np.ndarray] = []  # (k, 7) rows: class, x1, y1, x2, y2, quality, angle - in image order
        self.ark_datas: List[bytes] = []
        self.ark_sources: List[str] = []
        self.extras: List[Optional[Tuple[list, list]]] = []  # per image: (segmentations, areas) of a COCO file
        self.with_segs = False

    def flush_ark(self) -> None:
        if self.ark_datas:
            rows, n = parse_ark_batch(self.ark_datas, self.ark_sources)
            self.pieces.append(rows)
            self.counts.extend(n.tolist())
            self.ark_datas.clear()
            self.ark_sources.clear()

    def add(self, image: str, ann: str) -> None:
        extra = data = None
        if ann.endswith(".json"):
            src = self.coco_sources.get(ann) or self.coco_sources.setdefault(ann, CocoSource(ann, self.class_names))
            try:
                size = image_size(image)
            except ImageError:
                self.stats.unreadable_images.append(image)
                return
            img, classes, boxes, quality, angles, segs, areas = src.objects(image, *size, self.stats)
            if img is None:
                self.stats.missing_annotation += 1
            extra, self.with_segs = (segs, areas), True
        else:
            data = read_bytes(ann) if ann else None
            if self.contents is not None and ann:
                self.contents[ann] = data
            if data is None:
                self.stats.missing_annotation += 1
                data = b""  # a background image
            elif ann.endswith(".xml"):
                classes, boxes, quality, angles = parse_voc(_decode(data, ann), self.class_index, ann)
                data = None
        try:
            width, height = size if extra is not None else image_size(image)
        except ImageError:
            self.stats.unreadable_images.append(image)
            return
        self.paths.append(image)
        self.widths.append(width)
        self.heights.append(height)
        self.extras.append(extra)
        if data is not None:
            self.ark_datas.append(data)
            self.ark_sources.append(ann)
            if len(self.ark_datas) >= ARK_BATCH:
                self.flush_ark()
        else:
            self.flush_ark()
            self.pieces.append(_rows(classes, boxes, quality, angles))
            self.counts.append(len(classes))

    def records(self) -> RecordSet:
        """The gathered objects with the rules applied, as arrays over the split."""
        self.flush_ark()
        paths, counts = self.paths, np.array(self.counts, dtype=np.int64)
        rows = np.concatenate(self.pieces) if self.pieces else np.zeros((0, 7))
        keep, clipped = apply_rules(rows[:, 0], rows[:, 1:5], rows[:, 5], rows[:, 6], np.repeat(self.widths, counts),
                                    np.repeat(self.heights, counts), len(self.class_names), self.stats)
        all_segs: list = []
        areas_k = None
        if self.with_segs:
            all_areas: list = []
            for extra, n in zip(self.extras, self.counts):
                all_segs += extra[0] if extra is not None else [None] * n
                all_areas += extra[1] if extra is not None else [0.0] * n
            areas_k = np.asarray(all_areas, dtype=np.float64).reshape(-1)[keep]
            all_segs = [all_segs[k] for k in keep.tolist()]
        owner = np.repeat(np.arange(len(paths)), counts)[keep]
        offsets = np.searchsorted(owner, np.arange(len(paths) + 1), side="left")
        self.stats.images += len(paths)
        return RecordSet(paths, self.widths, self.heights, offsets, clipped[keep], rows[keep, 0].astype(np.int64),
                         rows[keep, 5], rows[keep, 6], all_segs, areas_k)
