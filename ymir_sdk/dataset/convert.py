"""Converters from the platform's datasets to what frameworks read, with a safe cache.

* :func:`convert_to_coco` - COCO json (detection; optional masks or rotated-box polygons) for OpenMMLab.
* :func:`convert_to_yolo` - YOLO txt labels + ``data.yaml`` (boxes, or polygons for YOLO-seg).
* :func:`convert_to_mmseg` - PNG label maps for mmsegmentation (with or without a background class).

Every converter goes through :func:`cached`: the output is built in a temporary place, renamed into place, and
only then is a key file written. A half-written output (a killed run) has no matching key and is rebuilt. Beside
each output lies the training split's :func:`class_counts`; a converter given ``counts_to`` (a training's models
folder) publishes them there as :data:`~ymir_sdk.results.CLASS_COUNTS`, which every model stage lists.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import shutil
import tempfile
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import yaml

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
    fcntl = None  # type: ignore

from ..errors import DatasetError, ImageError
from ..io import atomic_output, atomic_write_bytes, atomic_write_json, atomic_write_text
from ..results import CLASS_COUNTS
from . import rotated
from .annotations import ConversionStats, ImageRecord, RecordSet, load_records, read_bytes
from .imagesize import check_pixels

log = logging.getLogger("ymir_sdk")
CONVERTER_VERSION = "2"  # 2: the class counts beside the output
Pairs = Sequence[Tuple[str, str]]


# ----------------------------------------------------------------------------------------------- cache
def dataset_key(splits: Dict[str, Pairs], class_names: Sequence[str], *extra: object,
                contents: Optional[Dict[str, Optional[bytes]]] = None) -> str:
    """A key that changes when the index, the class list, the options or the content of any annotation file
    changes. Ark/VOC files are keyed on their bytes (taken from ``contents`` when the conversion has just read
    them, else read here), so a file rewritten within one mtime tick, or a copy with new mtimes, is judged by
    what it holds; the shared COCO json (one possibly large file) on its size and mtime."""
    contents = contents if contents is not None else {}
    digest = hashlib.sha1(repr((CONVERTER_VERSION, list(class_names), extra)).encode())
    done: Dict[str, int] = {}  # annotation file -> its length (-1: absent), hashed at its first appearance
    for split in sorted(splits):
        pairs = splits[split]
        digest.update(f"\n{split}\n".encode())
        digest.update("\n".join(map("\t".join, pairs)).encode())  # index lines cannot hold a newline or a tab
        lengths, blobs = [], []
        for _, ann in pairs:
            n = done.get(ann)
            if n is None:
                if ann.endswith(".json"):
                    try:
                        st = os.stat(ann)
                        data: Optional[bytes] = f"{st.st_size}:{st.st_mtime_ns}".encode()
                    except OSError:
                        data = None
                else:
                    data = contents[ann] if ann in contents else read_bytes(ann) if ann else None
                n = done[ann] = -1 if data is None else len(data)
                if data:
                    blobs.append(data)
            lengths.append(n)
        # unambiguous: every file's length is listed, and its bytes follow in the order of first appearance
        digest.update(np.asarray(lengths, dtype=np.int64).tobytes())
        digest.update(b"".join(blobs))
    return digest.hexdigest()


def cached(out_path: str, key: Union[str, Callable[[], str]], build: Callable[[str], None]) -> bool:
    """Build ``out_path`` (a file or a folder) with ``build(tmp_path)`` unless a complete build with ``key``
    exists. Returns True when the cached output was reused. ``key`` may be a function: it is called to check an
    existing output, and after the build for the key to store (the build may have gathered what makes it cheap).

    Safe across processes (the ranks of a multi-GPU run convert the same dataset at the same time): one builds
    under a file lock while the others wait, then reuse its output; a half-written output is never reused."""
    parent = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(parent, exist_ok=True)
    key_fn = key if callable(key) else (lambda: key)
    with open(out_path.rstrip("/") + ".lock", "a") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _cached_locked(out_path, key_fn, build, parent)
        finally:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _cached_locked(out_path: str, key_fn: Callable[[], str], build: Callable[[str], None], parent: str) -> bool:
    marker = out_path.rstrip("/") + ".key"
    if os.path.exists(out_path) and os.path.exists(marker):
        with open(marker, encoding="utf-8") as f:
            if f.read() == key_fn():
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
    atomic_write_text(marker, key_fn())
    return False


def _load(splits: Dict[str, Pairs], class_names: Sequence[str], require_objects: bool,
          contents: Optional[Dict[str, Optional[bytes]]] = None
          ) -> Dict[str, Tuple[List[ImageRecord], ConversionStats]]:
    out = {}
    for split, pairs in splits.items():
        stats = ConversionStats()
        records = load_records(decodable(pairs, stats), class_names, stats, contents)
        stats.log(f"{split} set")
        if not records:
            raise DatasetError(f"{split} dataset has no readable image ({len(pairs)} listed)")
        if require_objects and split == "train" and stats.objects == 0:
            raise DatasetError(f"{split} dataset has no annotated object of the classes {list(class_names)}")
        out[split] = (records, stats)
    return out


Loaded = Dict[str, Tuple[List[ImageRecord], ConversionStats]]


#: images checked at once by :func:`decodable` (its thread pool's queue)
DECODE_BATCH = 1024


def decodable(pairs: Pairs, stats: ConversionStats) -> Pairs:
    """The pairs whose image's pixels decode (:func:`~.imagesize.check_pixels`, as training will read them; on
    threads - the decoders release the GIL); the others are dropped and counted as unreadable images, as
    inference and mining skip them. Paid once per dataset: the conversion is cached."""
    from concurrent.futures import ThreadPoolExecutor

    def ok(image: str) -> bool:
        try:
            check_pixels(image)
        except ImageError:
            return False
        return True

    images = list(dict.fromkeys(image for image, _ in pairs))
    bad = set()
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for i in range(0, len(images), DECODE_BATCH):  # a future per image in flight, not per image of the split
            batch = images[i:i + DECODE_BATCH]
            bad.update(image for image, good in zip(batch, pool.map(ok, batch)) if not good)
    if not bad:
        return pairs
    stats.unreadable_images.extend(image for image in images if image in bad)
    return [(image, ann) for image, ann in pairs if image not in bad]


def class_counts(records: Sequence[ImageRecord], class_names: Sequence[str]) -> dict:
    """``{"images": n, "objects": {class name: objects}}`` of a split (every class named, 0 where it has none)."""
    counts = np.zeros(len(class_names), dtype=np.int64)
    for rec in records:
        counts += np.bincount(np.asarray(rec.classes, dtype=np.int64), minlength=len(class_names))[:len(class_names)]
    return {"images": len(records), "objects": {name: int(n) for name, n in zip(class_names, counts)}}


def _convert(splits: Dict[str, Pairs], class_names: Sequence[str], out: str, options: tuple,
             require_objects: bool, write: Callable[[str, Loaded], None], counts_to: Optional[str] = None) -> bool:
    """Load every split and ``write(target, loaded)`` under :func:`cached`, keyed on the index, the class list,
    ``options`` and the annotation bytes the load has just read; the training split's :func:`class_counts` beside
    it, copied into the folder ``counts_to`` when given."""
    contents: Dict[str, Optional[bytes]] = {}

    def build(target: str) -> None:
        loaded = _load(splits, class_names, require_objects, contents)
        write(target, loaded)
        if "train" in loaded:
            atomic_write_json(os.path.join(target, CLASS_COUNTS), class_counts(loaded["train"][0], class_names))

    reused = cached(out, lambda: dataset_key(splits, class_names, *options, contents=contents), build)
    if counts_to and os.path.isfile(os.path.join(out, CLASS_COUNTS)):
        os.makedirs(counts_to, exist_ok=True)
        with open(os.path.join(out, CLASS_COUNTS), "rb") as f:
            atomic_write_bytes(os.path.join(counts_to, CLASS_COUNTS), f.read())
    return reused


# ----------------------------------------------------------------------------------------------- COCO
def _number_format(values: np.ndarray) -> str:
    """The %-format of ``values``: integers as ``%d`` when every value is integral (ark/VOC pixel boxes: the
    common case, and the cheapest to format), else ``%r`` (the shortest text that reads back the same float)."""
    if values.size == 0 or (np.array_equal(values, np.round(values)) and np.abs(values).max() < 2 ** 53):
        return "%d"
    return "%r"


#: images per piece of a COCO json being written: what is formatted at once (a few MB of text), so a split of a
#: million images is written in pieces instead of held whole as text and Python numbers
COCO_CHUNK = 20000


def coco_json(records: Sequence[ImageRecord], class_names: Sequence[str], segmentation: str = "none") -> str:
    """COCO json text; ``file_name`` is the absolute image path; category ids are 0-based class indices.
    ``segmentation``: ``none`` (boxes), ``masks`` (the source polygons/RLE), ``rotated`` (4-corner polygons of
    the rotated boxes, plus ``rotate_angle``). The text of :func:`coco_json_parts`, joined."""
    return "".join(coco_json_parts(records, class_names, segmentation))


def coco_json_parts(records: Sequence[ImageRecord], class_names: Sequence[str], segmentation: str = "none",
                    chunk: int = COCO_CHUNK) -> Iterator[str]:
    """:func:`coco_json`'s text in pieces of at most ``chunk`` images (their rows, then their objects' rows): the
    hot path of dataset conversion, each piece formatted by one %-operation over the split's arrays
    (:class:`RecordSet`); the whole text is never held."""
    rs = RecordSet.of(records)
    boxes = rs.boxes.reshape(-1, 4)
    counts = np.diff(rs.offsets)
    # one number format for the whole split (the same text whatever the chunk): integers where every value is one
    fmt = _number_format(np.concatenate([boxes.ravel(), _areas(rs, boxes, segmentation, 0, len(boxes))]))
    yield '{"images":['
    for i in range(0, len(rs), chunk):
        yield ("," if i else "") + _coco_images(rs, i, min(i + chunk, len(rs)))
    yield '],"annotations":['
    sep = ""
    for i in range(0, len(rs), chunk):
        j = min(i + chunk, len(rs))
        if rs.offsets[j] > rs.offsets[i]:
            yield sep + _coco_annotations(rs, boxes, counts, segmentation, fmt, i, j)
            sep = ","
    yield '],"categories":' + json.dumps([{"id": i, "name": n, "supercategory": "none"}
                                         for i, n in enumerate(class_names)]) + "}"


def _areas(rs: RecordSet, boxes: np.ndarray, segmentation: str, a: int, b: int) -> np.ndarray:
    """The COCO areas of objects ``a:b``: the box's, or a mask's stored area where it has one."""
    area = (boxes[a:b, 2] - boxes[a:b, 0]) * (boxes[a:b, 3] - boxes[a:b, 1])
    if segmentation == "masks" and rs.areas is not None:
        area = np.where(rs.areas[a:b] > 0, rs.areas[a:b], area)
    return area


def _coco_images(rs: RecordSet, i: int, j: int) -> str:
    names = rs.images[i:j]
    if json.dumps(names, separators=(",", ":")) != '["' + '","'.join(names) + '"]':  # some name needs escaping
        names = [json.dumps(name)[1:-1] for name in names]
    sizes = np.column_stack([np.asarray(rs.widths[i:j], dtype=np.int64), np.asarray(rs.heights[i:j], dtype=np.int64)])
    rows = zip(range(i + 1, j + 1), names, *sizes.T.tolist())
    return ",".join(['{"id":%d,"file_name":"%s","width":%d,"height":%d}'] * (j - i)) % \
        tuple(itertools.chain.from_iterable(rows))


def _coco_annotations(rs: RecordSet, boxes: np.ndarray, counts: np.ndarray, segmentation: str, fmt: str, i: int,
                      j: int) -> str:
    """The annotation rows of images ``i:j`` (ids continue the split's numbering)."""
    a, b = int(rs.offsets[i]), int(rs.offsets[j])
    part = boxes[a:b]
    xywh = np.concatenate([part[:, :2], part[:, 2:] - part[:, :2]], axis=1)
    extra = None
    if segmentation == "masks":
        segs = rs.segmentations[a:b] if rs.segmentations else [None] * (b - a)
        extra = [',"segmentation":' + json.dumps(seg or [[x, y, x + w, y, x + w, y + h, x, y + h]])
                 for (x, y, w, h), seg in zip(xywh.tolist(), segs)]
    elif segmentation == "rotated":
        angles = rs.angles[a:b]
        polys = rotated.corners(rotated.rboxes_from_boxes(part, angles)).tolist()
        extra = [f',"segmentation":[{poly}],"rotate_angle":{t!r}' for poly, t in zip(polys, angles.tolist())]
    values = np.column_stack([xywh, _areas(rs, boxes, segmentation, a, b)])
    if fmt == "%d":
        values = values.astype(np.int64)
    columns = np.column_stack([np.arange(a + 1, b + 1), np.repeat(np.arange(i + 1, j + 1), counts[i:j]),
                               rs.classes[a:b].astype(np.int64)])
    template = ('{"id":%d,"image_id":%d,"category_id":%d,"bbox":[' + ",".join([fmt] * 4) + '],"area":' + fmt +
                ',"iscrowd":0' + ("%s}" if extra is not None else "}"))
    if fmt == "%d" and extra is None:
        flat = tuple(np.column_stack([columns, values]).ravel().tolist())
    else:
        cols = columns.T.tolist() + values.T.tolist() + ([extra] if extra is not None else [])
        flat = tuple(itertools.chain.from_iterable(zip(*cols)))
    return ",".join([template] * (b - a)) % flat


def coco_dict(records: Sequence[ImageRecord], class_names: Sequence[str], segmentation: str = "none") -> dict:
    """The same COCO content as :func:`coco_json`, as a dict (for pycocotools)."""
    return json.loads(coco_json(records, class_names, segmentation))


def convert_to_coco(splits: Dict[str, Pairs], class_names: Sequence[str], out_dir: str,
                    segmentation: str = "none", counts_to: Optional[str] = None) -> Dict[str, str]:
    """One COCO json per split (``<out_dir>/<split>.json``); returns split -> json path."""
    out = os.path.join(out_dir, f"coco-{segmentation}")

    def write(target: str, loaded: Loaded) -> None:
        os.makedirs(target)
        for split, (records, _) in loaded.items():
            with atomic_output(os.path.join(target, f"{split}.json")) as tmp, open(tmp, "w", encoding="utf-8") as f:
                f.writelines(coco_json_parts(records, class_names, segmentation))

    _convert(splits, class_names, out, ("coco", segmentation), True, write, counts_to)
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
            poly = object_polygon(seg, rec.height, rec.width) if seg else np.zeros((0, 2))
            if len(poly) < 3:  # box only, or a mask too thin to trace (a pixel or two): the box's rectangle
                x1, y1, x2, y2 = rec.boxes[k]
                poly = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
            xy = np.clip(poly / [w, h], 0, 1).reshape(-1)
            lines.append(f"{int(rec.classes[k])} " + " ".join(f"{v:.6f}" for v in xy))
        else:
            x1, y1, x2, y2 = rec.boxes[k]
            lines.append(f"{int(rec.classes[k])} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} "
                         f"{(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}")
    return lines


def convert_to_yolo(splits: Dict[str, Pairs], class_names: Sequence[str], out_dir: str,
                    segments: bool = False, counts_to: Optional[str] = None) -> str:
    """YOLO layout under ``out_dir/yolo[-seg]``: ``images/<split>/<name>`` (links to the assets),
    ``labels/<split>/<stem>.txt`` and ``data.yaml``; returns the data.yaml path."""
    out = os.path.join(out_dir, "yolo-seg" if segments else "yolo")

    def write(target: str, loaded: Loaded) -> None:
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

    _convert(splits, class_names, out, ("yolo", segments), True, write, counts_to)
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
                     with_background: bool, counts_to: Optional[str] = None) -> Dict[str, str]:
    """PNG label maps under ``out_dir/mmseg[-bg]/labels/<split>/<stem>.png`` and ``<split>.tsv`` index files
    (``image TAB png``); returns split -> index file."""
    import cv2

    out = os.path.join(out_dir, "mmseg-bg" if with_background else "mmseg")

    def write(target: str, loaded: Loaded) -> None:
        for split, (records, _) in loaded.items():
            lab_dir = os.path.join(target, "labels", split)
            os.makedirs(lab_dir)
            rows, blank = [], 0
            for rec in records:
                png = os.path.join(lab_dir, os.path.splitext(os.path.basename(rec.image))[0] + ".png")
                labels = label_map(rec, with_background)
                blank += not (labels != (0 if with_background else 255)).any()
                ok, buf = cv2.imencode(".png", labels)
                if not ok:
                    raise DatasetError(f"could not encode the label map of {rec.image}")
                atomic_write_bytes(png, buf.tobytes())
                rows.append(f"{rec.image}\t{os.path.join(out, 'labels', split, os.path.basename(png))}")
            if blank and blank == len(records) and split == "train":
                raise DatasetError(f"{split} dataset has no labelled pixel of any class: the masks of all its "
                                   f"{blank} images are empty (a semantic training needs labelled pixels)")
            if blank:
                log.warning("%s set: %d of %d images have no labelled pixel (every mask empty or none)", split,
                            blank, len(records))
            atomic_write_text(os.path.join(target, f"{split}.tsv"), "\n".join(rows) + "\n")

    _convert(splits, class_names, out, ("mmseg", with_background), False, write, counts_to)
    return {split: os.path.join(out, f"{split}.tsv") for split in splits}
