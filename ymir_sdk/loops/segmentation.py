"""Semantic-segmentation inference and mining over the candidate index, written once for every framework.

A framework supplies a :class:`Segmenter`: how to decode an image (``read``), its RGB view for the superpixels
(``rgb``), the model's input (``prepare``, in DataLoader workers), and per batch the label maps at the images'
sizes (``labels``) or the class probabilities at a bounded size (``probabilities``). The loops do the rest:
the streaming candidate loop (:mod:`ymir_sdk.loops.candidates`: each image's annotations or score made as its
batch is done; masks as RLE, never full-size masks of the whole pool), the mining algorithm chosen by name
(:mod:`ymir_sdk.mining.semantic`).
"""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..dist import world
from ..mining import ripu_scores, rsal_regions
from ..mining.semantic import region_class_counts, rsal_image_score, rsal_threshold, rsal_weights, superpixels
from ..results import coco_annotations, semantic_instances
from .candidates import mine_randomly, over_candidates, shard_folder, write_scores, write_segmentation
from .settings import Batching, Mining

#: the longer side of the probability maps mining works on: uncertainty of regions, not of single pixels
#: (a 12 MP image's C x H x W map would be gigabytes); RSAL's superpixels are computed at 320 px anyway
MINING_SIDE = 512


class Segmenter:
    """A loaded semantic-segmentation model and its input pipeline (see the module docstring)."""

    #: 1 when the model's class 0 is a background class that is not one of the task's classes
    offset: int = 0

    def read(self, path: str) -> np.ndarray:
        """The decoded image as the model's pipeline expects it; an ImageError when it cannot be read."""
        raise NotImplementedError

    def rgb(self, image: np.ndarray) -> np.ndarray:
        """The decoded image as RGB uint8 (H, W, 3), for the superpixels."""
        return image

    def prepare(self, image: np.ndarray) -> Any:
        raise NotImplementedError

    def labels(self, prepared: Sequence[Any]) -> List[np.ndarray]:
        """Per image the (H, W) predicted class (the model's classes) at the image's size."""
        raise NotImplementedError

    def probabilities(self, prepared: Sequence[Any], max_side: int) -> List[np.ndarray]:
        """Per image the (C, h, w) class probabilities (the model's classes, summing to 1 per pixel), with the
        longer side at most ``max_side``."""
        raise NotImplementedError

    def load(self, path: str, keep_image: bool = False) -> Tuple[Optional[np.ndarray], Any]:
        image = self.read(path)
        return (self.rgb(image) if keep_image else None), self.prepare(image)


def infer(ctx, segmenter: Segmenter, batching: Batching) -> None:
    """One RLE annotation per task class present in each readable candidate, written as the COCO
    infer-result.json (contract §5.4), each image's annotations made as its batch is done."""
    names = ctx.class_names

    def batch(items):
        out = []
        for (path, _), label in zip(items, segmenter.labels([p for _, (_, p) in items])):
            h, w = label.shape
            insts = semantic_instances(label, len(names), segmenter.offset)
            out.append([w, h, coco_annotations(path, w, h, insts, names)])
        return out

    write_segmentation(ctx, over_candidates(ctx, batch, segmenter.load, *batching.loader()))


#: the semantic family's mining options (:attr:`Mining.options <ymir_sdk.loops.settings.Mining.options>`) and
#: their defaults (seed 000's)
OPTIONS = {"superpixel_algorithm": "slico", "max_superpixels": 1024, "max_kept": 5000, "topk": 3,
           "class_balance": True, "radius": 1}


def mine(ctx, make_segmenter: Callable[[], Segmenter], mining: Mining) -> None:
    """Mining scores of every readable candidate, written best first (result.tsv; the unreadable ones last).
    ``rsal``: superpixel regions per image on each rank, kept on disk, then the pool-level class balance and
    threshold over the regions of every rank (:func:`_rsal`); ``ripu``: per image; ``random``: no model.
    ``mining.options``: :data:`OPTIONS`."""
    unknown = sorted(set(mining.options) - set(OPTIONS))
    if unknown:
        raise TypeError(f"unknown semantic mining options {unknown}; known: {sorted(OPTIONS)}")
    o = {**OPTIONS, **mining.options}
    name = mining.algorithm
    if name == "random":
        return mine_randomly(ctx, mining.batching.batch_size)
    segmenter = make_segmenter()
    if name == "ripu":
        def ripu(items):
            return ripu_scores(segmenter.probabilities([p for _, (_, p) in items], MINING_SIDE), o["radius"],
                               o["topk"]).tolist()

        return write_scores(ctx, over_candidates(ctx, ripu, segmenter.load, *mining.batching.loader()))
    superpixels(np.zeros((8, 8, 3), np.uint8), o["superpixel_algorithm"], 4)  # the method checked before any work
    return _rsal(ctx, segmenter, mining.batching, o)


#: region scores read at once in RSAL's pool step (512 KB: the step's memory stays a few MB whatever the pool)
REGION_CHUNK = 1 << 16


def _rsal_regions(ctx, segmenter: Segmenter, folder: str, batching: Batching, method: str, max_superpixels: int):
    """RSAL's first pass: this rank's region scores and classes appended to its two files; the shards hold
    (rank, offset, count) per image."""
    rank = world()[0]
    with open(_region_file(folder, rank, "scores"), "wb") as fs, \
            open(_region_file(folder, rank, "classes"), "wb") as fc:
        written = [0]

        def regions(items):
            out = []
            probs = segmenter.probabilities([p for _, (_, p) in items], MINING_SIDE)
            for pr, (_, (image, _)) in zip(probs, items):
                r = rsal_regions(pr, image, method, max_superpixels)
                r.scores.astype(np.float64).tofile(fs)
                r.classes.astype(np.int64).tofile(fc)
                out.append([rank, written[0], len(r.scores)])
                written[0] += len(r.scores)
            fs.flush(), fc.flush()
            return out

        return over_candidates(ctx, regions, lambda path: segmenter.load(path, keep_image=True), *batching.loader(),
                               name="rsal")


def _region_chunks(folder: str, ranks, kind: str):
    """Every rank's region scores or classes, in chunks of :data:`REGION_CHUNK`."""
    for r in ranks:
        with open(_region_file(folder, r, kind), "rb") as f:
            while True:
                c = np.fromfile(f, np.float64 if kind == "scores" else np.int64, REGION_CHUNK)
                if not len(c):
                    break
                yield c


def _rsal(ctx, segmenter: Segmenter, batching: Batching, o: Dict[str, Any]) -> None:
    """RSAL over the pool in memory that does not grow with it: each rank appends every image's region scores
    and classes to its own two binary files (the shard holds where they are); rank 0 then counts the classes,
    finds the threshold (:func:`~ymir_sdk.mining.semantic.quantile`, bounded) and scores each image from its
    regions, reading the files in chunks."""
    folder = shard_folder(ctx, "rsal")
    shards = _rsal_regions(ctx, segmenter, folder, batching, o["superpixel_algorithm"], o["max_superpixels"])
    if shards is None:
        return
    ranks = range(shards.ranks)
    weights = rsal_weights(region_class_counts(_region_chunks(folder, ranks, "classes"),
                                               len(ctx.class_names) + segmenter.offset), o["class_balance"])

    def weighted():
        for s, c in zip(_region_chunks(folder, ranks, "scores"), _region_chunks(folder, ranks, "classes")):
            yield s * weights[c]

    total = sum(os.path.getsize(_region_file(folder, r, "scores")) // 8 for r in ranks)
    topk = o["topk"]
    threshold = rsal_threshold(weighted, total, topk, o["max_kept"]) if total else 0.0
    files = {r: (open(_region_file(folder, r, "scores"), "rb"), open(_region_file(folder, r, "classes"), "rb"))
             for r in ranks}

    def score(where):
        r, offset, count = where
        fs, fc = files[r]
        fs.seek(8 * offset), fc.seek(8 * offset)
        s, c = np.fromfile(fs, np.float64, count), np.fromfile(fc, np.int64, count)
        return rsal_image_score(s * weights[c], threshold, topk) if count else 0.0

    try:
        write_scores(ctx, shards, score)
    finally:
        for pair in files.values():
            for f in pair:
                f.close()


def _region_file(folder: str, rank: int, kind: str) -> str:
    return os.path.join(folder, f"rank-{rank}.{kind}")


__all__ = ["Segmenter", "infer", "mine", "MINING_SIDE"]
