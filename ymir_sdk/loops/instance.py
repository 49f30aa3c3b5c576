"""Instance-segmentation inference and mining over the candidate index, written once for every framework.

A framework supplies an :class:`InstanceSegmenter`: a :class:`~ymir_sdk.loops.detection.Detector` (its boxes:
the box-level mining algorithms ``random``, ``entropy``, ``aldd``, ``cald`` run through the detection loop
unchanged) that also gives, per image, its instances with masks at the image's size for inference
(``instances``: RLE per batch, never the pool's full-size masks), its mask probabilities at a bounded size for
``apis`` (``segment``) and Monte-Carlo dropout passes for ``maskal`` (``mc_passes``).
"""
from __future__ import annotations

from typing import Callable, Sequence

from ..dataset.imagesize import image_size
from ..mining import apis_scores, maskal_scores
from ..results import coco_annotations
from . import detection
from .candidates import over_candidates, write_scores, write_segmentation
from .detection import Detector
from .settings import Batching, Mining


class InstanceSegmenter(Detector):
    """A loaded instance-segmentation model (see the module docstring)."""


    def instances(self, prepared: Sequence) -> list:
        """Per image its :class:`~ymir_sdk.results.Instance` list (masks at the image's size, RLE-encoded)."""
        raise NotImplementedError

    def segment(self, prepared: Sequence) -> list:
        """Per image an :class:`~ymir_sdk.mining.InstOutput` (mask probabilities at a bounded size)."""
        raise NotImplementedError

    def mc_passes(self, prepared: Sequence, iterations: int) -> list:
        """Per image ``iterations`` InstOutputs of forward passes with dropout active."""
        raise NotImplementedError


def infer(ctx, segmenter: InstanceSegmenter, batching: Batching) -> None:
    """The instances of every readable candidate (score >= the model's threshold), written as the COCO
    infer-result.json (RLE masks with their own boxes and confidences, contract §5.4), each image's annotations
    made as its batch is done."""
    names = ctx.class_names

    def batch(items):
        out = []
        for (path, _), insts in zip(items, segmenter.instances([p for _, (_, p) in items])):
            width, height = image_size(path)
            out.append([width, height, coco_annotations(path, width, height, insts, names)])
        return out

    write_segmentation(ctx, over_candidates(ctx, batch, segmenter.load, *batching.loader()))


def mine(ctx, make_segmenter: Callable[[], InstanceSegmenter], mining: Mining) -> None:
    """Mining scores of every readable candidate, written best first: ``apis`` and ``maskal`` on the masks
    (MaskAL: ``mining.options["mcd_iterations"]`` passes, default 10), the others on the boxes
    (:func:`ymir_sdk.loops.detection.mine`)."""
    name = mining.algorithm
    if name not in ("apis", "maskal"):
        return detection.mine(ctx, make_segmenter, mining)
    segmenter = make_segmenter()
    n, iterations = len(ctx.class_names), int(mining.options.get("mcd_iterations", 10))

    def scores(items):
        prepared = [p for _, (_, p) in items]
        if name == "apis":
            return apis_scores(segmenter.segment(prepared)).tolist()
        return maskal_scores(segmenter.mc_passes(prepared, iterations), n).tolist()

    write_scores(ctx, over_candidates(ctx, scores, segmenter.load, *mining.batching.loader()))
    return None


__all__ = ["InstanceSegmenter", "infer", "mine"]
