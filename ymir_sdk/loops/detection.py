"""Detection inference and mining over the candidate index, written once for every framework.

A framework supplies a :class:`Detector`: how to decode an image (``read``), how to turn it into the model's
input (``prepare``, in DataLoader workers) and how to run a batch (``detect``: per image a
:class:`~ymir_sdk.mining.DetOutput` in the image's pixels, and for ALDD the dense head probabilities). The loops
do the rest, the same for yolov5 and OpenMMLab, through the streaming candidate loop
(:mod:`ymir_sdk.loops.candidates`): batched forward passes, each image's outputs turned into its entry or score
as its batch is done, the mining algorithm chosen by name (:mod:`ymir_sdk.mining`).
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np

from ..dataset.imagesize import image_size
from ..mining import DetOutput, HeadMaps, aldd_scores, algorithm_name, cald_scores, entropy_scores
from ..mining.base import DETECTION
from ..results import Detection, detection_entry
from .candidates import mine_randomly, over_candidates, write_detections, write_scores

log = logging.getLogger("ymir_sdk")


class Detector:
    """A loaded detection model and its input pipeline (see the module docstring)."""

    #: the mining algorithms its outputs support (``aldd`` needs a head with objectness)
    mining_algorithms: Tuple[str, ...] = DETECTION

    def read(self, path: str) -> np.ndarray:
        """The decoded image as the model's pipeline expects it; an ImageError when it cannot be read."""
        raise NotImplementedError

    def prepare(self, image: np.ndarray) -> Any:
        """The model's input for one decoded image (runs in DataLoader workers)."""
        raise NotImplementedError

    def detect(self, prepared: Sequence[Any], heads: bool = False) -> Tuple[List[DetOutput], Optional[HeadMaps]]:
        """Detections of a batch of prepared inputs; with ``heads`` also the batch's dense head probabilities
        (kept on the model's device)."""
        raise NotImplementedError

    def load(self, path: str, keep_image: bool = False) -> Tuple[Optional[np.ndarray], Any]:
        """What a DataLoader worker makes of one candidate: (the decoded image when asked for, its input)."""
        image = self.read(path)
        return (image if keep_image else None), self.prepare(image)

    def detect_images(self, images: Sequence[np.ndarray], batch_size: int) -> List[DetOutput]:
        """Detections of decoded images (CALD's augmented copies), in batches."""
        out: List[DetOutput] = []
        for i in range(0, len(images), max(1, batch_size)):
            out += self.detect([self.prepare(im) for im in images[i:i + batch_size]])[0]
        return out


def to_detections(d: DetOutput, conf_threshold: float = 0.0) -> List[Detection]:
    """The detections scoring at least ``conf_threshold``, with their angles where the boxes are rotated."""
    angles = [None] * len(d.scores) if d.angles is None else [float(a) for a in d.angles]
    return [Detection(int(c), float(s), *b, angle=a) for b, s, c, a in zip(d.boxes, d.scores, d.labels, angles)
            if s >= conf_threshold]


def infer(ctx, detector: Detector, batch_size: int, workers: int = 0, pin_memory: bool = False,
          conf_threshold: float = 0.0) -> None:
    """Detections with score >= ``conf_threshold`` of every readable candidate, written as infer-result.json
    (each image's entry made as its batch is done, :mod:`ymir_sdk.loops.candidates`)."""
    names = ctx.class_names

    def entries(items):
        outputs = detector.detect([p for _, (_, p) in items])[0]
        return [_entry(path, to_detections(d, conf_threshold), names) for (path, _), d in zip(items, outputs)]

    write_detections(ctx, over_candidates(ctx, entries, detector.load, batch_size, workers, pin_memory))


def _entry(path: str, dets: List[Detection], names: Sequence[str]) -> dict:
    return detection_entry(path, dets, names, image_size(path) if dets else None)


def mine(ctx, make_detector: Callable[[], Detector], algorithm: str, batch_size: int, workers: int = 0,
         pin_memory: bool = False, class_weights: Optional[Sequence[float]] = None,
         supported: Sequence[str] = DETECTION, conf_threshold: float = 0.0) -> None:
    """Mining scores of every readable candidate, written best first (result.tsv; the unreadable ones last).
    ``make_detector`` loads the model (random mining needs none); ``supported``: the algorithms the executor's
    models allow; ``conf_threshold``: the box-based algorithms (entropy, cald) see only the detections scoring at
    least this (noise boxes of a low test threshold would tie many images at the top)."""
    name = algorithm_name(algorithm, 2, supported)
    if name == "random":
        return mine_randomly(ctx, batch_size)
    detector = make_detector()
    score = functools.partial(_scores, detector, name, len(ctx.class_names), batch_size, class_weights,
                              conf_threshold)
    write_scores(ctx, over_candidates(ctx, score, functools.partial(detector.load, keep_image=name == "cald"),
                                      batch_size, workers, pin_memory))
    return None


def _scores(detector: Detector, name: str, num_classes: int, batch_size: int,
            class_weights: Optional[Sequence[float]], conf_threshold: float, items) -> List[float]:
    """One batch's scores by the named algorithm (the one dispatch from names to :mod:`ymir_sdk.mining`)."""
    images, prepared = [im for _, (im, _) in items], [p for _, (_, p) in items]
    dets, heads = detector.detect(prepared, heads=name == "aldd")
    if name == "aldd":
        return aldd_scores(heads, class_weights).tolist()
    dets = [d.above(conf_threshold) for d in dets]
    if name == "entropy":
        return entropy_scores(dets, num_classes).tolist()

    def detect(imgs):
        return [d.above(conf_threshold) for d in detector.detect_images(imgs, batch_size)]

    return cald_scores(images, dets, detect, num_classes).tolist()
