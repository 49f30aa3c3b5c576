"""What mining algorithms take from a model, and the registry of algorithm names per object type.

The SDK's output is always "higher score = label first": the platform keeps the first K lines of result.tsv.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import ConfigError


#: detections kept per image (the best-scored after NMS) for inference and mining: the platform shows at most 50
#: per image, and CALD's box matching is quadratic in the count (a weak model at a low threshold gives thousands)
MAX_DETECTIONS = 300


@dataclass
class DetOutput:
    """Detections of one image (after NMS), in that image's pixels.

    ``boxes`` (N, 4) x1 y1 x2 y2; ``scores`` (N,) confidence of the kept class; ``labels`` (N,) class index;
    ``probs`` (N, C) per-class probabilities of each box when the model has them (YOLO: objectness x class
    sigmoid; softmax heads: the class softmax), else None; ``angles`` (N,) of rotated boxes, radians about the
    centre (``boxes`` then the un-rotated rectangles, :mod:`ymir_sdk.dataset.rotated`), else None.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    probs: Optional[np.ndarray] = None
    angles: Optional[np.ndarray] = None

    @staticmethod
    def empty(num_classes: int = 0) -> "DetOutput":
        return DetOutput(np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros((0, num_classes)))

    def __len__(self) -> int:
        return len(self.scores)

    def above(self, threshold: float) -> "DetOutput":
        """The detections scoring at least ``threshold`` (the executor's confidence threshold)."""
        if threshold <= 0:
            return self
        keep = np.asarray(self.scores) >= threshold
        return DetOutput(self.boxes[keep], self.scores[keep], self.labels[keep],
                         None if self.probs is None else self.probs[keep],
                         None if self.angles is None else self.angles[keep])

    def class_distribution(self, num_classes: int) -> np.ndarray:
        """(N, C + 1) distributions over the classes plus "no object": the per-class probabilities, with the
        remaining mass as background, normalised. Without ``probs`` the box's score goes to its label."""
        n = len(self)
        if self.probs is not None and self.probs.shape == (n, num_classes):
            fg = np.clip(np.asarray(self.probs, dtype=np.float64), 0, None)
        else:
            fg = np.zeros((n, num_classes))
            fg[np.arange(n), np.asarray(self.labels, dtype=np.int64)] = np.asarray(self.scores, dtype=np.float64)
        total = fg.sum(axis=1, keepdims=True)
        scale = np.where(total > 1, 1 / np.maximum(total, 1e-12), 1.0)  # probabilities summing over 1: normalise
        fg = fg * scale
        dist = np.concatenate([fg, np.clip(1 - fg.sum(axis=1, keepdims=True), 0, None)], axis=1)
        return dist / np.maximum(dist.sum(axis=1, keepdims=True), 1e-12)


@dataclass
class HeadMaps:
    """Dense head outputs for ALDD: per scale the per-anchor class probabilities (YOLO: sigmoid(obj) x
    sigmoid(cls)) of a batch, (B, A, h, w, C), or of one image, (A, h, w, C), as torch tensors on the model's
    device (NumPy arrays are taken too), and the network input size (H, W) they cover."""

    maps: List[Any]
    input_hw: Tuple[int, int]


@dataclass(frozen=True)
class Algorithm:
    """A mining algorithm of the registry: the task families (object types) that offer it, what it needs from
    the model, and whether its scores come from inference's own forward pass (mine+infer then runs one pass)."""

    name: str
    object_types: Tuple[int, ...]
    needs: str
    from_inference: bool = False


#: every mining algorithm, by name (a family offers them in this order; an executor may offer fewer, e.g. aldd
#: only with an objectness head, and its template names its default)
REGISTRY: Dict[str, Algorithm] = {a.name: a for a in (
    Algorithm("random", (2, 3, 4), "nothing: no model is loaded", from_inference=True),
    Algorithm("entropy", (2, 4), "the detections (boxes, scores, classes)", from_inference=True),
    Algorithm("aldd", (2, 4), "dense head maps: objectness x class probability per anchor", from_inference=True),
    Algorithm("cald", (2, 4), "the detections of the image and of augmented copies"),
    Algorithm("apis", (4,), "instance masks and their scores"),
    Algorithm("maskal", (4,), "Monte-Carlo dropout passes of the instance model"),
    Algorithm("rsal", (3,), "per-pixel class probabilities, superpixels, the pool's class balance"),
    Algorithm("ripu", (3,), "per-pixel class probabilities"),
)}


def offered_by(object_type: int) -> Tuple[str, ...]:
    """The algorithms a task family (object type) offers."""
    return tuple(name for name, a in REGISTRY.items() if object_type in a.object_types)


DETECTION = offered_by(2)
INSTANCE_SEGMENTATION = offered_by(4)  # the box algorithms apply to instance models too
SEMANTIC_SEGMENTATION = offered_by(3)
ALGORITHMS: Dict[int, Tuple[str, ...]] = {2: DETECTION, 4: INSTANCE_SEGMENTATION, 3: SEMANTIC_SEGMENTATION}


def algorithm_name(name: str, object_type: int = 2, supported: Optional[Sequence[str]] = None) -> str:
    """The canonical (lower-case) name of a mining algorithm; an unknown one is a 300001 error listing the valid
    names for the object type (or for the executor, when it supports only some)."""
    valid = tuple(supported) if supported is not None else ALGORITHMS.get(object_type, DETECTION)
    key = str(name or "").strip().lower()
    if key not in valid:
        raise ConfigError("mining_algorithm", name, "one of " + ", ".join(valid))
    return key


def random_scores(paths: Sequence[str], seed: int = 0) -> np.ndarray:
    """``random``: a uniform score in [0, 1) per image, reproducible (derived from the path and the seed) and
    independent of the order or sharding of the candidates. Needs nothing from the model."""
    out = np.empty(len(paths))
    for i, p in enumerate(paths):
        digest = hashlib.sha1(f"{seed}:{p}".encode()).digest()
        out[i] = int.from_bytes(digest[:8], "big") / 2.0 ** 64
    return out
