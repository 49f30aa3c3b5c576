"""Semantic-segmentation inference and mining over the candidate index, written once for every framework.

A framework supplies a :class:`Segmenter`: how to decode an image (``read``), its RGB view for the superpixels
(``rgb``), the model's input (``prepare``, in DataLoader workers), and per batch the label maps at the images'
sizes (``labels``) or the class probabilities at a bounded size (``probabilities``). The loops do the rest:
candidates sharded losslessly over the torchrun ranks, decoded and prepared in DataLoader workers, unreadable
images skipped and logged, masks kept as RLE (never full-size masks of the whole pool), the mining algorithm
chosen by name (:mod:`ymir_sdk.mining.semantic`), results written by rank 0.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..dist import world
from ..mining import random_scores, ripu_scores, rsal_regions, rsal_scores
from ..mining.base import SEMANTIC_SEGMENTATION, algorithm_name
from ..results import encoded, semantic_instances

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


def infer(ctx, segmenter: Segmenter, batch_size: int, workers: int = 0, pin_memory: bool = False) -> None:
    """One RLE annotation per task class present in each readable candidate, written as the COCO
    infer-result.json (contract §5.4)."""
    n = len(ctx.class_names)

    def batch(items):
        out = []
        for label in segmenter.labels([p for _, p in items]):
            h, w = label.shape
            out.append((w, h, encoded(semantic_instances(label, n, segmenter.offset))))
        return out

    found = ctx.map_candidates(batch, segmenter.load, batch_size, workers, pin_memory)
    if world()[0] == 0:
        ctx.write_segmentation(found)


def mine(ctx, make_segmenter: Callable[[], Segmenter], algorithm: str, batch_size: int, workers: int = 0,
         pin_memory: bool = False, superpixel_algorithm: str = "slico", max_superpixels: int = 1024,
         max_kept: int = 5000, topk: int = 3, class_balance: bool = True, radius: int = 1) -> None:
    """Mining scores of every readable candidate, written best first (result.tsv; the unreadable ones last).
    ``rsal``: superpixel regions per image on each rank, then the pool-level class balance and threshold over
    the regions of every rank; ``ripu``: per image; ``random``: no model."""
    name = algorithm_name(algorithm, 3, SEMANTIC_SEGMENTATION)
    if name == "random":
        paths = ctx.readable(ctx.candidates())
        scores: Dict[str, float] = dict(zip(paths, random_scores(paths).tolist()))
    elif name == "ripu":
        segmenter = make_segmenter()
        scores = ctx.map_candidates(
            lambda items: ripu_scores(segmenter.probabilities([p for _, p in items], MINING_SIDE), radius,
                                      topk).tolist(),
            segmenter.load, batch_size, workers, pin_memory)
    else:
        segmenter = make_segmenter()
        from ..mining.semantic import superpixels

        superpixels(np.zeros((8, 8, 3), np.uint8), superpixel_algorithm, 4)  # the method checked before any work

        def regions(items):
            probs = segmenter.probabilities([p for _, p in items], MINING_SIDE)
            return [rsal_regions(pr, image, superpixel_algorithm, max_superpixels)
                    for pr, (image, _) in zip(probs, items)]

        found = ctx.map_candidates(regions, lambda path: segmenter.load(path, keep_image=True), batch_size,
                                   workers, pin_memory)
        paths = list(found)
        num_classes = max((int(r.classes.max()) + 1 for r in found.values() if len(r.classes)), default=1)
        num_classes = max(num_classes, len(ctx.class_names) + segmenter.offset)
        scores = dict(zip(paths, rsal_scores([found[p] for p in paths], num_classes, topk, class_balance,
                                             max_kept).tolist()))
    if world()[0] == 0:
        ctx.write_mining(scores, ctx.candidates())


__all__ = ["Segmenter", "infer", "mine", "MINING_SIDE"]
