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
from ..mining import DetOutput, HeadMaps, aldd_scores, entropy_scores, random_scores
from ..mining.detection import cald, cald_class_balance, cald_divergence
from ..mining.base import REGISTRY
from ..results import Detection, detection_entry
from .candidates import mine_randomly, over_candidates, write_detections, write_scores
from .settings import Batching, Mining

log = logging.getLogger("ymir_sdk")


class Detector:
    """A loaded detection model and its input pipeline (see the module docstring)."""

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


def infer(ctx, detector: Detector, batching: Batching, conf_threshold: float = 0.0) -> None:
    """Detections with score >= ``conf_threshold`` of every readable candidate, written as infer-result.json
    (each image's entry made as its batch is done, :mod:`ymir_sdk.loops.candidates`)."""
    names = ctx.class_names

    def entries(items):
        outputs = detector.detect([p for _, (_, p) in items])[0]
        return [_entry(path, to_detections(d, conf_threshold), names) for (path, _), d in zip(items, outputs)]

    write_detections(ctx, over_candidates(ctx, entries, detector.load, *batching.loader()))


def _entry(path: str, dets: List[Detection], names: Sequence[str]) -> dict:
    return detection_entry(path, dets, names, image_size(path) if dets else None)


def mine(ctx, make_detector: Callable[[], Detector], mining: Mining) -> None:
    """Mining scores of every readable candidate, written best first (result.tsv; the unreadable ones last).
    ``make_detector`` loads the model (random mining needs none); the box-based algorithms (entropy, cald) see
    only the detections scoring at least ``mining.conf_threshold`` (noise boxes of a low test threshold would tie
    many images at the top). CALD with ``mining.cald_candidates`` also runs its stage 2: each image's divergence
    from the labelled set's classes is kept beside its score, and the ranking's head reordered by it once every
    candidate is scored (:func:`~ymir_sdk.mining.detection.cald_class_balance`)."""
    name = mining.algorithm
    if name == "random":
        return mine_randomly(ctx, mining.batching.batch_size)
    weights = mining.weights(ctx) if name == "aldd" else None
    labelled = mining.labelled_mean(ctx)
    detector = make_detector()
    score = functools.partial(_scores, detector, name, len(ctx.class_names), mining.batching.batch_size,
                              weights, mining.conf_threshold, labelled)
    rerank = None if labelled is None else functools.partial(cald_class_balance,
                                                              candidates=mining.cald_candidates)
    write_scores(ctx, over_candidates(ctx, score, functools.partial(detector.load, keep_image=name == "cald"),
                                      *mining.batching.loader()), rerank=rerank)
    return None


def _scores(detector: Detector, name: str, num_classes: int, batch_size: int,
            class_weights: Optional[Sequence[float]], conf_threshold: float, labelled: Optional[np.ndarray],
            items) -> list:
    """One batch's scores by the named algorithm (the one dispatch from names to :mod:`ymir_sdk.mining`); with
    ``labelled`` (CALD's stage 2), each image's ``[score, divergence]`` (None: no detection in any pass)."""
    images, prepared = [im for _, (im, _) in items], [p for _, (_, p) in items]
    dets, heads = detector.detect(prepared, heads=name == "aldd")
    if name != "cald":
        return _scores_of(name, [p for p, _ in items], dets, heads, num_classes, class_weights, conf_threshold)

    def detect(imgs):
        return [d.above(conf_threshold) for d in detector.detect_images(imgs, batch_size)]

    out = cald(images, [d.above(conf_threshold) for d in dets], detect, num_classes)
    if labelled is None:
        return out.scores.tolist()
    divergence = cald_divergence(out.class_max, labelled).tolist()
    return [[s, d if found.any() else None] for s, d, found in zip(out.scores.tolist(), divergence, out.class_max)]


#: the algorithms whose scores come from inference's own forward pass (mine+infer runs them in one pass)
FROM_INFERENCE = tuple(name for name, a in REGISTRY.items() if a.from_inference and 2 in a.object_types)


def _scores_of(name: str, paths: Sequence[str], dets: List[DetOutput], heads: Optional[HeadMaps], num_classes: int,
               class_weights: Optional[Sequence[float]], conf_threshold: float) -> List[float]:
    """Scores of the algorithms of :data:`FROM_INFERENCE` from a batch's detections (and head maps for aldd)."""
    if name == "random":
        return random_scores(paths).tolist()
    if name == "aldd":
        return aldd_scores(heads, class_weights).tolist()
    return entropy_scores([d.above(conf_threshold) for d in dets], num_classes).tolist()


def mine_and_infer(mine_ctx, infer_ctx, make_detector: Callable[[], Detector], mining: Mining,
                   infer_conf: float = 0.0) -> bool:
    """Mining and inference of one run in one pass over the pool, where the algorithm's scores come from the same
    forward pass as the detections (:data:`FROM_INFERENCE`): one model load, each candidate through the model
    once, its entry of infer-result.json and its score made together; result.tsv and infer-result.json as the
    two tasks would write them. Returns False (nothing done) for the other algorithms and where the two tasks'
    settings of the model differ (``mine_ctx.params`` and ``infer_ctx.params`` disagree on a key both have)."""
    name = mining.algorithm
    mine_p, infer_p = mine_ctx.params, infer_ctx.params
    differ = sorted(k for k in set(type(mine_p).model_fields) & set(type(infer_p).model_fields)
                    if getattr(mine_p, k) != getattr(infer_p, k))
    if name not in FROM_INFERENCE or differ:
        log.info("mine+infer: two passes over the pool (%s)", f"the mining and inference settings differ: {differ}"
                 if differ else f"{name} needs its own forward passes")
        return False
    weights = mining.weights(mine_ctx) if name == "aldd" else None
    detector, names = make_detector(), infer_ctx.class_names

    def both(items):
        dets, heads = detector.detect([p for _, (_, p) in items], heads=name == "aldd")
        scores = _scores_of(name, [p for p, _ in items], dets, heads, len(names), weights, mining.conf_threshold)
        return [[_entry(path, to_detections(d, infer_conf), names), s] for (path, _), d, s in zip(items, dets, scores)]

    def progress(fraction):
        mine_ctx.progress(fraction)
        infer_ctx.progress(fraction)

    log.info("mine+infer: one pass over the pool (%s scores come from inference's forward passes)", name)
    shards = over_candidates(mine_ctx, both, detector.load, *mining.batching.loader(), "with-infer", progress,
                             parts=2)
    if shards is not None:
        write_scores(mine_ctx, shards.of(1))
        write_detections(infer_ctx, shards.of(0))
        shards.remove()
    return True

