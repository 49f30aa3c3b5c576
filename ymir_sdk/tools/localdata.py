"""Readers for datasets on a developer's disk (COCO, YOLO, VOC, ark), used by the local runner to lay out a
work folder exactly as the platform would.

Every reader returns a :class:`LocalDataset`: class names and, per split, images with their objects (boxes in
exclusive x1y1x2y2 pixels, an optional rotation angle and an optional COCO segmentation).
"""
from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import yaml

from ..dataset.annotations import parse_ark, parse_voc
from ..dataset.imagesize import image_size
from ..errors import DatasetError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass
class LocalObject:
    class_id: int
    box: tuple  # x1, y1, x2, y2 (exclusive)
    angle: float = 0.0
    segmentation: Any = None


@dataclass
class LocalImage:
    path: str
    objects: List[LocalObject] = field(default_factory=list)


@dataclass
class LocalDataset:
    class_names: List[str]
    splits: Dict[str, List[LocalImage]]

    def split(self, name: str) -> List[LocalImage]:
        return self.splits.get(name) or []

    def all_images(self) -> List[LocalImage]:
        seen, out = set(), []
        for images in self.splits.values():
            for im in images:
                if im.path not in seen:
                    seen.add(im.path)
                    out.append(im)
        return out


def _images_in(folder: str) -> List[str]:
    return sorted(p for p in glob.glob(os.path.join(folder, "**", "*"), recursive=True)
                  if p.lower().endswith(IMAGE_EXTS))


def _split_of(name: str) -> str:
    low = name.lower()
    return "val" if ("val" in low or "test" in low) else "train"


def _ensure_val(splits: Dict[str, List[LocalImage]]) -> Dict[str, List[LocalImage]]:
    """Without a validation split, every fifth image (by name) becomes validation."""
    if splits.get("val") or not splits.get("train"):
        return splits
    images = sorted(splits["train"], key=lambda im: im.path)
    return {"train": [im for i, im in enumerate(images) if i % 5 != 4],
            "val": [im for i, im in enumerate(images) if i % 5 == 4]}


def _read_names(path: str) -> List[str]:
    with open(path, encoding="utf-8") as f:
        return [ln.strip() for ln in f if ln.strip()]


def read_coco(root: str) -> LocalDataset:
    files = sorted(glob.glob(os.path.join(root, "*.json")) + glob.glob(os.path.join(root, "annotations", "*.json")))
    class_names: List[str] = []
    splits: Dict[str, List[LocalImage]] = {}
    for jf in files:
        with open(jf, encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, dict) or "images" not in data:
            continue
        cats = sorted(data.get("categories", []), key=lambda c: c["id"])
        for c in cats:
            if c["name"] not in class_names:
                class_names.append(c["name"])
        cat_class = {c["id"]: class_names.index(c["name"]) for c in cats}
        by_image: Dict[Any, List[LocalObject]] = {}
        for a in data.get("annotations", []):
            x, y, w, h = a["bbox"]
            by_image.setdefault(a["image_id"], []).append(
                LocalObject(cat_class[a["category_id"]], (x, y, x + w, y + h), float(a.get("rotate_angle", 0.0)),
                            a.get("segmentation") or None))
        split = _split_of(os.path.basename(jf))
        for img in data["images"]:
            path = _find_image(root, img["file_name"], split)
            splits.setdefault(split, []).append(LocalImage(path, by_image.get(img["id"], [])))
    if not splits:
        raise DatasetError(f"{root}: no COCO json with an 'images' list")
    return LocalDataset(class_names, _ensure_val(splits))


def _find_image(root: str, name: str, split: str) -> str:
    for cand in (name, os.path.join("images", name), os.path.join(split, name), os.path.join("images", split, name),
                 os.path.join("images", os.path.basename(name))):
        p = os.path.join(root, cand)
        if os.path.isfile(p):
            return p
    raise DatasetError(f"{root}: image {name} not found")


def read_yolo(root: str) -> LocalDataset:
    data_yaml = next(iter(glob.glob(os.path.join(root, "*.yaml"))), None)
    names: List[str] = []
    split_dirs: Dict[str, str] = {}
    if data_yaml:
        with open(data_yaml, encoding="utf-8") as f:
            cfg = yaml.safe_load(f) or {}
        raw = cfg.get("names", [])
        names = [raw[k] for k in sorted(raw)] if isinstance(raw, dict) else list(raw)
        base = os.path.join(root, cfg.get("path", "") or "")
        for split in ("train", "val"):
            if cfg.get(split):
                split_dirs[split] = os.path.join(base, cfg[split])
    elif os.path.exists(os.path.join(root, "classes.txt")):
        names = _read_names(os.path.join(root, "classes.txt"))
    if not split_dirs:
        for split in ("train", "val"):
            if os.path.isdir(os.path.join(root, "images", split)):
                split_dirs[split] = os.path.join(root, "images", split)
        if not split_dirs:
            split_dirs["train"] = os.path.join(root, "images")
    splits: Dict[str, List[LocalImage]] = {}
    for split, folder in split_dirs.items():
        for path in _images_in(folder):
            label = os.path.splitext(path.replace(f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"))[0] + ".txt"
            w, h = image_size(path)
            objs = []
            if os.path.exists(label):
                for line in open(label, encoding="utf-8").read().splitlines():
                    parts = line.split()
                    if len(parts) == 5:
                        c, cx, cy, bw, bh = int(parts[0]), *(float(v) for v in parts[1:])
                        objs.append(LocalObject(c, ((cx - bw / 2) * w, (cy - bh / 2) * h,
                                                    (cx + bw / 2) * w, (cy + bh / 2) * h)))
                    elif len(parts) > 6:  # YOLO-seg polygon
                        xy = [float(v) * (w if i % 2 == 0 else h) for i, v in enumerate(parts[1:])]
                        xs, ys = xy[0::2], xy[1::2]
                        objs.append(LocalObject(int(parts[0]), (min(xs), min(ys), max(xs), max(ys)), 0.0, [xy]))
            splits.setdefault(split, []).append(LocalImage(path, objs))
    if not names:
        top = max((o.class_id for ims in splits.values() for im in ims for o in im.objects), default=-1)
        names = [f"class{i}" for i in range(top + 1)]
    return LocalDataset(names, _ensure_val(splits))


def read_voc(root: str) -> LocalDataset:
    xmls = sorted(glob.glob(os.path.join(root, "Annotations", "*.xml")))
    names_file = next((p for p in (os.path.join(root, n) for n in ("labels.txt", "classes.txt")) if os.path.exists(p)),
                      None)
    if names_file:
        names = _read_names(names_file)
    else:
        import xml.etree.ElementTree as ET

        found = set()
        for x in xmls:
            found.update((o.findtext("name") or "").strip().lower() for o in ET.parse(x).getroot().iter("object"))
        names = sorted(found - {""})
    index = {n.lower(): i for i, n in enumerate(names)}
    split_of: Dict[str, str] = {}
    for split in ("train", "val"):
        listing = os.path.join(root, "ImageSets", "Main", f"{split}.txt")
        if os.path.exists(listing):
            split_of.update({stem: split for stem in _read_names(listing)})
    splits: Dict[str, List[LocalImage]] = {}
    for x in xmls:
        stem = os.path.splitext(os.path.basename(x))[0]
        image = next((p for p in glob.glob(os.path.join(root, "JPEGImages", stem + ".*"))
                      if p.lower().endswith(IMAGE_EXTS)), None)
        if image is None:
            continue
        with open(x, encoding="utf-8") as f:
            classes, boxes, _, angles = parse_voc(f.read(), index, x)
        objs = [LocalObject(c, tuple(b), a) for c, b, a in zip(classes, boxes, angles) if c >= 0]
        splits.setdefault(split_of.get(stem, "train"), []).append(LocalImage(image, objs))
    return LocalDataset(names, _ensure_val(splits))


def read_ark(root: str) -> LocalDataset:
    """``classes.txt``, ``images/[split/]*`` and ``annotations/[split/]<stem>.txt`` in ark txt."""
    names = _read_names(os.path.join(root, "classes.txt"))
    splits: Dict[str, List[LocalImage]] = {}
    for path in _images_in(os.path.join(root, "images")):
        rel = os.path.relpath(path, os.path.join(root, "images"))
        ann = os.path.join(root, "annotations", os.path.splitext(rel)[0] + ".txt")
        objs = []
        if os.path.exists(ann):
            with open(ann, encoding="utf-8") as f:
                classes, boxes, _, angles = parse_ark(f.read(), ann)
            objs = [LocalObject(c, tuple(b), a) for c, b, a in zip(classes, boxes, angles)]
        split = rel.split(os.sep)[0] if os.sep in rel else "train"
        splits.setdefault(_split_of(split), []).append(LocalImage(path, objs))
    return LocalDataset(names, _ensure_val(splits))


def read_dataset(root: str, fmt: Optional[str] = None) -> LocalDataset:
    """Read a local dataset, telling its format from its layout unless ``fmt`` names it."""
    if not os.path.isdir(root):
        raise DatasetError(f"dataset folder not found: {root}")
    if fmt is None:
        if os.path.isdir(os.path.join(root, "Annotations")):
            fmt = "voc"
        elif os.path.isdir(os.path.join(root, "labels")) or glob.glob(os.path.join(root, "*.yaml")):
            fmt = "yolo"
        elif glob.glob(os.path.join(root, "*.json")) or glob.glob(os.path.join(root, "annotations", "*.json")):
            fmt = "coco"
        elif os.path.exists(os.path.join(root, "classes.txt")) and os.path.isdir(os.path.join(root, "annotations")):
            fmt = "ark"
        else:
            raise DatasetError(f"{root}: not a COCO, YOLO, VOC or ark dataset folder")
    readers = {"coco": read_coco, "yolo": read_yolo, "voc": read_voc, "ark": read_ark}
    if fmt not in readers:
        raise DatasetError(f"unknown dataset format {fmt!r}; expected one of {sorted(readers)}")
    return readers[fmt](root)
