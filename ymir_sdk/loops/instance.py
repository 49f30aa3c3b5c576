"""Instance-segmentation inference and mining over the candidate index, written once for every framework.

A framework supplies an :class:`InstanceSegmenter`: a :class:`~ymir_sdk.loops.detection.Detector` (its boxes:
the box-level mining algorithms ``random``, ``entropy``, ``aldd``, ``cald`` run through the detection loop
unchanged) that also gives, per image, its instances with masks at the image's size for inference
(``instances``: RLE per batch, never the pool's full-size masks), its mask probabilities at a bounded size for
``apis`` (``segment``) and Monte-Carlo dropout passes for ``maskal`` (``mc_passes``).
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

from ..dist import world
from ..mining import apis_scores, maskal_scores
from ..mining.base import DETECTION, INSTANCE_SEGMENTATION, algorithm_name
from . import detection
from .detection import Detector


class InstanceSegmenter(Detector):
    """A loaded instance-segmentation model (see the module docstring)."""

    mining_algorithms = INSTANCE_SEGMENTATION

    def instances(self, prepared: Sequence) -> list:
        """Per image its :class:`~ymir_sdk.results.Instance` list (masks at the image's size, RLE-encoded)."""
        raise NotImplementedError

    def segment(self, prepared: Sequence) -> list:
        """Per image an :class:`~ymir_sdk.mining.InstOutput` (mask probabilities at a bounded size)."""
        raise NotImplementedError

    def mc_passes(self, prepared: Sequence, iterations: int) -> list:
        """Per image ``iterations`` InstOutputs of forward passes with dropout active."""
        raise NotImplementedError


def infer(ctx, segmenter: InstanceSegmenter, batch_size: int, workers: int = 0, pin_memory: bool = False) -> None:
    """The instances of every readable candidate (score >= the model's threshold), written as the COCO
    infer-result.json (RLE masks with their own boxes and confidences, contract §5.4)."""
    from ..dataset.imagesize import image_size

    def batch(items):
        prepared = [p for _, p in items]
        return segmenter.instances(prepared)

    found = ctx.map_candidates(batch, segmenter.load, batch_size, workers, pin_memory)
    if world()[0] == 0:
        ctx.write_segmentation({path: (*image_size(path), insts) for path, insts in found.items()})


def mine(ctx, make_segmenter: Callable[[], InstanceSegmenter], algorithm: str, batch_size: int, workers: int = 0,
         pin_memory: bool = False, class_weights: Optional[Sequence[float]] = None, mcd_iterations: int = 10,
         conf_threshold: float = 0.0) -> None:
    """Mining scores of every readable candidate, written best first: ``apis`` and ``maskal`` on the masks,
    the others on the boxes (:func:`ymir_sdk.loops.detection.mine`)."""
    name = algorithm_name(algorithm, 4, INSTANCE_SEGMENTATION)
    if name not in ("apis", "maskal"):
        return detection.mine(ctx, make_segmenter, name, batch_size, workers, pin_memory, class_weights,
                              supported=DETECTION, conf_threshold=conf_threshold)
    segmenter = make_segmenter()
    n = len(ctx.class_names)

    def scores(items):
        prepared = [p for _, p in items]
        if name == "apis":
            return apis_scores(segmenter.segment(prepared)).tolist()
        return maskal_scores(segmenter.mc_passes(prepared, mcd_iterations), n).tolist()

    found = ctx.map_candidates(scores, segmenter.load, batch_size, workers, pin_memory)
    if world()[0] == 0:
        ctx.write_mining(found, ctx.candidates())
    return None


__all__ = ["InstanceSegmenter", "infer", "mine"]
