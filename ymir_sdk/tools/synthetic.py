"""Small synthetic datasets with known boxes and masks (coloured shapes on a textured background), for the
demo, the tests and the benchmarks. Nothing is downloaded."""
from __future__ import annotations

import json
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..dataset.annotations import ark_line

CLASSES = ("square", "disc", "triangle")
COLOURS = ((220, 40, 40), (40, 80, 220), (40, 180, 60))


def _shape_mask(kind: int, box: Tuple[int, int, int, int], size: Tuple[int, int]) -> np.ndarray:
    from PIL import Image, ImageDraw

    w, h = size
    x1, y1, x2, y2 = box
    im = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(im)
    if kind == 0:
        d.rectangle([x1, y1, x2 - 1, y2 - 1], fill=1)
    elif kind == 1:
        d.ellipse([x1, y1, x2 - 1, y2 - 1], fill=1)
    else:
        d.polygon([((x1 + x2) / 2, y1), (x2 - 1, y2 - 1), (x1, y2 - 1)], fill=1)
    return np.asarray(im, dtype=bool)


def make_image(rng: np.random.Generator, size: Tuple[int, int] = (96, 96), max_objects: int = 3,
               classes: int = 2, holes: bool = False):
    """One image: (H, W, 3) uint8 array and its objects [(class, (x1, y1, x2, y2) exclusive, mask)]."""
    w, h = size
    img = (rng.normal(128, 12, (h, w, 3))).clip(0, 255).astype(np.uint8)
    objects: List[tuple] = []
    occupied = np.zeros((h, w), bool)
    for _ in range(int(rng.integers(1, max_objects + 1))):
        for _try in range(20):
            bw, bh = int(rng.integers(w // 5, w // 2)), int(rng.integers(h // 5, h // 2))
            x1, y1 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            box = (x1, y1, x1 + bw, y1 + bh)
            if not occupied[y1:y1 + bh, x1:x1 + bw].any():
                break
        else:
            continue
        cls = int(rng.integers(0, classes))
        mask = _shape_mask(cls, box, size)
        if holes and cls == 0 and bw > 12 and bh > 12:  # a square with a square hole: one object, two boundaries
            mask[y1 + bh // 3: y1 + 2 * bh // 3, x1 + bw // 3: x1 + 2 * bw // 3] = False
        occupied[y1:y1 + bh, x1:x1 + bw] = True
        img[mask] = COLOURS[cls]
        objects.append((cls, box, mask))
    return img, objects


def make_rotated_image(rng: np.random.Generator, size: Tuple[int, int] = (96, 96), max_objects: int = 3,
                       classes: int = 2):
    """One image of rotated bars (a class per colour, 2-3 times as long as wide, any angle): (H, W, 3) uint8 and
    its objects [(class, (x1, y1, x2, y2) the un-rotated rectangle, exclusive, angle in radians)] in the SDK's
    convention (:mod:`ymir_sdk.dataset.rotated`)."""
    from PIL import Image, ImageDraw

    from ..dataset.rotated import corners, rboxes_from_boxes

    w, h = size
    img = Image.fromarray((rng.normal(128, 12, (h, w, 3))).clip(0, 255).astype(np.uint8))
    occupied = Image.new("L", (w, h), 0)
    objects: List[tuple] = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        for _try in range(20):
            bw = int(rng.integers(min(w, h) // 4, min(w, h) // 2))
            bh = max(4, int(bw / rng.uniform(2, 3)))
            angle = float(rng.uniform(-np.pi / 2, np.pi / 2))
            x1, y1 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            box = (x1, y1, x1 + bw, y1 + bh)
            poly = corners(rboxes_from_boxes(np.array([box]), np.array([angle])))[0].reshape(4, 2)
            if poly.min() < 0 or poly[:, 0].max() > w or poly[:, 1].max() > h:
                continue
            mask = Image.new("L", (w, h), 0)
            ImageDraw.Draw(mask).polygon([tuple(p) for p in poly.tolist()], fill=1)
            if not (np.asarray(mask) & np.asarray(occupied)).any():
                break
        else:
            continue
        cls = int(rng.integers(0, classes))
        ImageDraw.Draw(img).polygon([tuple(p) for p in poly.tolist()], fill=COLOURS[cls])
        ImageDraw.Draw(occupied).polygon([tuple(p) for p in poly.tolist()], fill=1)
        objects.append((cls, box, angle))
    return np.asarray(img), objects


def make_scene(rng: np.random.Generator, size: Tuple[int, int], class_p: Sequence[float], hard: bool,
               max_objects: int = 3):
    """One image of an imbalanced pool (:func:`write_imbalanced_dataset`): 1 to ``max_objects`` shapes, each of
    class ``c`` with probability ``class_p[c]``. Easy: large shapes (1/4 to 1/2 of the side) in their full colour;
    hard: small ones (1/8 to 1/4) whose colour is blended 45/55 into a noisier background. Returns the image and
    its objects [(class, (x1, y1, x2, y2) exclusive, mask)]."""
    w, h = size
    img = rng.normal(128, 20 if hard else 12, (h, w, 3)).clip(0, 255)
    lo, hi = (8, 4) if hard else (4, 2)
    objects: List[tuple] = []
    occupied = np.zeros((h, w), bool)
    for _ in range(int(rng.integers(1, max_objects + 1))):
        for _try in range(20):
            bw, bh = int(rng.integers(w // lo, w // hi)), int(rng.integers(h // lo, h // hi))
            x1, y1 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            if not occupied[y1:y1 + bh, x1:x1 + bw].any():
                break
        else:
            continue
        cls = int(rng.choice(len(class_p), p=np.asarray(class_p, float) / np.sum(class_p)))
        box = (x1, y1, x1 + bw, y1 + bh)
        mask = _shape_mask(cls, box, size)
        occupied[y1:y1 + bh, x1:x1 + bw] = True
        colour = np.asarray(COLOURS[cls], float)
        img[mask] = 0.45 * colour + 0.55 * img[mask] if hard else colour
        objects.append((cls, box, mask))
    return img.astype(np.uint8), objects


def write_imbalanced_dataset(root: str, n_train: int = 480, n_val: int = 90, size: Tuple[int, int] = (128, 128),
                             rare: Sequence[int] = (2,), rare_share: float = 0.06, background: float = 0.4,
                             hard: float = 0.5, seed: int = 0, absent: Sequence[int] = (),
                             coco: bool = False) -> List[str]:
    """A local dataset whose training split looks like a user's unlabelled pool: a ``background`` share of
    frames without objects, a ``hard`` share of the other images with small, faint shapes, and the ``rare``
    classes drawn for a ``rare_share`` of the objects (the others equally often). The validation split is
    balanced - every class equally often, half hard, no background frames - so its mAP weighs a rare class like
    the others. ``absent``: classes never drawn in either split (a source set for a starting model that has not
    seen them). Ark boxes, or with ``coco`` a COCO dataset with masks (instance and semantic segmentation; the
    same images for the same seed). Three classes (:data:`CLASSES`); returns the class names."""
    rng = np.random.default_rng(seed)
    names = list(CLASSES)
    common = [c for c in range(len(names)) if c not in rare and c not in absent]
    pool_p = np.array([0.0 if c in absent else rare_share / max(1, len(rare)) if c in rare
                       else (1 - (rare_share if set(rare) - set(absent) else 0)) / len(common)
                       for c in range(len(names))])
    val_p = np.array([0.0 if c in absent else 1.0 for c in range(len(names))])

    def scene(split: str):
        if split == "train" and rng.random() < background:
            img = rng.normal(128, 20 if rng.random() < hard else 12, (size[1], size[0], 3))
            return img.clip(0, 255).astype(np.uint8), []
        return make_scene(rng, size, pool_p if split == "train" else val_p, hard=bool(rng.random() < hard))

    counts = {"train": n_train, "val": n_val}
    if coco:
        return _write_coco(root, names, counts, scene)

    def boxes(split: str):
        img, objects = scene(split)
        return img, [(cls, box, 0.0) for cls, box, _ in objects]

    return _write_ark(root, names, counts, boxes)


def write_ark_dataset(root: str, n_train: int = 40, n_val: int = 10, size: Tuple[int, int] = (96, 96),
                      classes: int = 2, seed: int = 0, ext: str = "png", rotated: bool = False) -> List[str]:
    """A local ark dataset (``classes.txt``, ``images/<split>/``, ``annotations/<split>/``); returns class names.
    ``rotated``: bars at any angle (:func:`make_rotated_image`), each line with its ``rotate_angle``."""
    rng = np.random.default_rng(seed)
    names = list(CLASSES[:classes])

    def scene(split: str):
        if rotated:
            return make_rotated_image(rng, size, classes=classes)
        img, objects = make_image(rng, size, classes=classes)
        return img, [(cls, box, 0.0) for cls, box, _ in objects]

    return _write_ark(root, names, {"train": n_train, "val": n_val}, scene, ext)


def _write_ark(root: str, names: List[str], counts: Dict[str, int], scene, ext: str = "png") -> List[str]:
    """A local ark dataset's files: ``classes.txt``, and per split ``counts[split]`` images made by
    ``scene(split)`` (an image and its objects [(class, exclusive box, angle)]) with their ark annotations."""
    from PIL import Image

    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "classes.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
    for split, n in counts.items():
        os.makedirs(os.path.join(root, "images", split), exist_ok=True)
        os.makedirs(os.path.join(root, "annotations", split), exist_ok=True)
        for i in range(n):
            img, objects = scene(split)
            stem = f"{split}_{i:05d}"
            Image.fromarray(img).save(os.path.join(root, "images", split, f"{stem}.{ext}"))
            with open(os.path.join(root, "annotations", split, f"{stem}.txt"), "w") as f:
                f.writelines(ark_line(cls, box, angle) for cls, box, angle in objects)
    return names


def write_coco_dataset(root: str, n_train: int = 20, n_val: int = 6, size: Tuple[int, int] = (96, 96),
                       classes: int = 2, seed: int = 0, holes: bool = True) -> List[str]:
    """A local COCO dataset with RLE masks (``train.json``, ``val.json``, ``images/``)."""
    rng = np.random.default_rng(seed)
    names = list(CLASSES[:classes])
    return _write_coco(root, names, {"train": n_train, "val": n_val},
                       lambda split: make_image(rng, size, classes=classes, holes=holes))


def _write_coco(root: str, names: List[str], counts: Dict[str, int], scene) -> List[str]:
    """A local COCO dataset's files: ``images/`` and per split ``<split>.json`` of ``counts[split]`` images made
    by ``scene(split)`` (an image and its objects [(class, exclusive box, mask)]), masks as RLE."""
    from PIL import Image
    from pycocotools import mask as mask_utils

    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    for split, n in counts.items():
        images, anns = [], []
        for i in range(n):
            img, objects = scene(split)
            h, w = img.shape[:2]
            name = f"{split}_{i:05d}.png"
            Image.fromarray(img).save(os.path.join(root, "images", name))
            images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
            for cls, (x1, y1, x2, y2), mask in objects:
                rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
                anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": cls + 1,
                             "bbox": [x1, y1, x2 - x1, y2 - y1], "area": int(mask.sum()), "iscrowd": 0,
                             "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}})
        cats = [{"id": i + 1, "name": n} for i, n in enumerate(names)]
        with open(os.path.join(root, f"{split}.json"), "w") as f:
            json.dump({"images": images, "annotations": anns, "categories": cats}, f)
    return names


def write_broken_image(path: str) -> None:
    """A file with an image name and no image inside (for the skipping rules)."""
    with open(path, "wb") as f:
        f.write(b"this is not an image")
