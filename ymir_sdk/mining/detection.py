"""Mining algorithms for detection (and the box part of instance segmentation). All return one float per
image, higher = label first, finite."""
from __future__ import annotations

import math
import os
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from .base import DetOutput, HeadMaps

EPS = 1e-12


def entropy_scores(outputs: Sequence[DetOutput], num_classes: int) -> np.ndarray:
    """``entropy``: the most uncertain detection of each image.

    Per box, the class distribution q over the C classes plus "no object" (:meth:`DetOutput.class_distribution`);
    its entropy H(q) = -sum q log q, divided by log(C + 1) to lie in [0, 1]; image score = max over the boxes
    (max aggregation of per-box entropy, as in Haussmann et al., "Scalable Active Learning for Object Detection",
    IV 2020). An image without detections scores 0.
    Needs: post-NMS boxes with per-class probabilities (or scores). Direction: higher = more uncertain = first.
    The reference executor summed -p log2 p of the objectness of every anchor before NMS, which measures how many
    anchors are half-on, not the uncertainty of any detection.
    """
    out = np.zeros(len(outputs))
    norm = math.log(num_classes + 1)
    for i, det in enumerate(outputs):
        if len(det):
            q = det.class_distribution(num_classes)
            out[i] = float((-(q * np.log(np.clip(q, EPS, 1))).sum(axis=1) / norm).max())
    return out


def _binary_entropy(p: np.ndarray) -> np.ndarray:
    """H(p) = -p ln p - (1 - p) ln(1 - p), elementwise, in the input's precision (float32 stays float32), with p
    clipped to [1e-6, 1 - 1e-6] in place (plain log: it vectorises where log1p does not)."""
    np.clip(p, 1e-6, 1 - 1e-6, out=p)
    q = 1 - p
    out = np.log(p)
    out *= p
    lq = np.log(q)
    lq *= q
    out += lq
    np.negative(out, out=out)
    return out


_THREADS = max(1, min(8, os.cpu_count() or 1))
_POOL = None


def _pool():
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(_THREADS, thread_name_prefix="ymir-mining")
    return _POOL


def _box_sum(x: np.ndarray, k: int) -> np.ndarray:
    """k x k sums over the first two axes (stride 1, zero padding)."""
    import cv2

    if x.ndim == 3 and x.shape[2] > 256:  # OpenCV filters take at most 512 channels
        return np.concatenate([_box_sum(x[:, :, i:i + 256], k) for i in range(0, x.shape[2], 256)], axis=2)
    return cv2.boxFilter(x, -1, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT).reshape(x.shape)


def _window_counts(h: int, w: int, k: int) -> np.ndarray:
    """How many real (not padded) pixels each k x k window holds: the divisor of count_include_pad=False."""
    pad = k // 2
    rows = np.minimum(np.arange(h) + pad, h - 1) - np.maximum(np.arange(h) - pad, 0) + 1
    cols = np.minimum(np.arange(w) + pad, w - 1) - np.maximum(np.arange(w) - pad, 0) + 1
    return (rows[:, None] * cols[None, :]).astype(np.float32)[:, :, None]


def aldd_scores(heads: Sequence[HeadMaps], class_weights: Optional[Sequence[float]] = None, pool: int = 9,
                cell: int = 32) -> np.ndarray:
    """``aldd``: Aghdam et al., "Active Learning for Deep Detection Neural Networks", ICCV 2019.

    For each class c, every anchor channel k of every scale is resized (bilinear) to the network input (H, W):
    p_k. With H(p) = -p ln p - (1 - p) ln(1 - p) and M the 9 x 9 mean (padding not counted):
    U = sum_k H(M p_k) - sum_k M H(p_k)  (entropy of the mean minus mean of the entropies: disagreement between
    neighbouring predictions, >= 0); U is max-pooled over 32 x 32 cells and averaged over the cells: s_c.
    Image score = sum_c w_c s_c with w = ``class_distribution_scores`` (missing weights are 1).
    Needs: the dense head probabilities (:class:`HeadMaps`). Direction: higher = more disagreement = first.
    (M is linear, so sum_k M H(p_k) is computed as M sum_k H(p_k).)
    """
    out = np.zeros(len(heads))
    for i, head in enumerate(heads):
        H, W = head.input_hw
        n_classes = head.maps[0].shape[-1]
        count = _window_counts(H, W, pool)
        channels = [(np.asarray(m[a], dtype=np.float32), H, W, pool, count) for m in head.maps
                    for a in range(m.shape[0])]
        # each anchor channel is independent: NumPy and OpenCV release the GIL, so threads use every core
        parts = list(_pool().map(_aldd_channel, channels))
        entropy_sum = np.sum([e for e, _ in parts], axis=0)  # sum_k H(p_k), (H, W, C)
        u = np.sum([m for _, m in parts], axis=0)  # sum_k H(M p_k)
        u -= _box_sum(entropy_sum, pool) / count
        hh, ww = (H // cell) * cell, (W // cell) * cell
        if hh == 0 or ww == 0:
            cells = u.reshape(1, -1, n_classes).max(axis=1)
        else:
            cells = u[:hh, :ww].reshape(hh // cell, cell, ww // cell, cell, n_classes).max(axis=(1, 3))
        per_class = cells.reshape(-1, n_classes).mean(axis=0)
        weights = np.ones(n_classes)
        if class_weights:
            given = np.asarray(list(class_weights)[:n_classes], dtype=np.float64)
            weights[: len(given)] = given
        out[i] = float((per_class * weights).sum())
    return out


def _aldd_channel(args):
    """One anchor channel (h, w, C): upsampled to (H, W), its entropy H(p) and the entropy of its mean H(M p)."""
    import cv2

    m, H, W, pool, count = args
    p = cv2.resize(m, (W, H), interpolation=cv2.INTER_LINEAR).reshape(H, W, -1)
    mean_p = _box_sum(p, pool)
    mean_p /= count
    return _binary_entropy(p), _binary_entropy(mean_p)


# ------------------------------------------------------------------------------------------------ CALD
def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, EPS)


def aug_flip(image: np.ndarray, boxes: np.ndarray, rng: np.random.Generator):
    w = image.shape[1]
    b = boxes.copy()
    b[:, [0, 2]] = w - boxes[:, [2, 0]]
    return np.ascontiguousarray(image[:, ::-1]), b


def aug_cutout(image: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, holes: int = 2):
    """Black rectangles of 5-20 % of the image sides, each kept only if the largest share of a reference box it
    covers is in [0.1, 0.4] (up to 50 tries); boxes unchanged (CALD's ``cutout``)."""
    img = image.copy()
    h, w = img.shape[:2]
    areas = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), EPS)
    for _ in range(holes):
        for _try in range(50):
            ch, cw = int(rng.uniform(0.05, 0.2) * h), int(rng.uniform(0.05, 0.2) * w)
            y, x = int(rng.integers(0, max(1, h - ch))), int(rng.integers(0, max(1, w - cw)))
            ix = np.clip(np.minimum(boxes[:, 2], x + cw) - np.maximum(boxes[:, 0], x), 0, None)
            iy = np.clip(np.minimum(boxes[:, 3], y + ch) - np.maximum(boxes[:, 1], y), 0, None)
            share = (ix * iy / areas).max() if len(boxes) else 0.0
            if 0.1 <= share <= 0.4:
                img[y:y + ch, x:x + cw] = 0
                break
    return img, boxes.copy()


def aug_resize(image: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, ratio: float = 0.8):
    """Shrink by ``ratio`` and paste top-left on black at the original size (CALD's ``smaller_resize``)."""
    import cv2

    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, int(w * ratio)), max(1, int(h * ratio))), interpolation=cv2.INTER_LINEAR)
    out = np.zeros_like(image)
    out[: small.shape[0], : small.shape[1]] = small
    return out, boxes * ratio


def aug_rotate(image: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, degrees: float = 5.0):
    """Rotate by ``degrees`` about the centre; each box becomes the upright hull of its rotated corners."""
    import cv2

    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    out = cv2.warpAffine(image, m, (w, h))
    if not len(boxes):
        return out, boxes.copy()
    x1, y1, x2, y2 = boxes.T
    corners = np.stack([np.stack([x1, y1], 1), np.stack([x2, y1], 1), np.stack([x2, y2], 1),
                        np.stack([x1, y2], 1)], axis=1)  # (N, 4, 2)
    moved = corners @ m[:, :2].T + m[:, 2]
    b = np.concatenate([moved.min(axis=1), moved.max(axis=1)], axis=1)
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
    return out, b


CALD_AUGMENTATIONS = (aug_flip, aug_cutout, aug_resize, aug_rotate)


def _js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    p = p / np.maximum(p.sum(-1, keepdims=True), EPS)
    q = q / np.maximum(q.sum(-1, keepdims=True), EPS)
    m = (p + q) / 2

    def kl(a, b):
        return np.where(a > 0, a * np.log(np.clip(a, EPS, None) / np.clip(b, EPS, None)), 0).sum(-1)

    return np.clip(0.5 * kl(p, m) + 0.5 * kl(q, m), 0, None)


def cald_consistency(ref: DetOutput, ref_boxes_aug: np.ndarray, aug: DetOutput, num_classes: int,
                     beta: float = 1.3) -> float:
    """Consistency of one augmentation, as CALD's code defines it: for each reference box, the best-IoU
    detection of the augmented image gives c = |IoU + 0.5 (1 - JS(p, q)) (s_ref + s_aug) - beta|; the
    augmentation's consistency is min(1, min_boxes c); an augmentation with no detection gives 0."""
    if not len(aug):
        return 0.0
    iou = _iou_matrix(ref_boxes_aug, aug.boxes)
    best = iou.argmax(axis=1)
    p = ref.class_distribution(num_classes)
    q = aug.class_distribution(num_classes)[best]
    js = _js_divergence(p, q)
    c = np.abs(iou[np.arange(len(best)), best] + 0.5 * (1 - js) * (ref.scores + aug.scores[best]) - beta)
    return float(min(1.0, c.min()))


def cald_scores(images: Sequence[np.ndarray], refs: Sequence[DetOutput],
                detect: Callable[[List[np.ndarray]], List[DetOutput]], num_classes: int, beta: float = 1.3,
                seed: int = 0, augmentations=CALD_AUGMENTATIONS) -> np.ndarray:
    """``cald``: Yu et al., "Consistency-based Active Learning for Object Detection" (CVPR 2022 workshop),
    stage 1 (consistency), as defined by the paper's code (github we1pingyu/CALD ``get_uncertainty``).

    Each image with detections is augmented four ways (horizontal flip, cutout, resize x0.8, rotation 5 deg)
    with its reference boxes transformed alike, and re-detected (one batched call of ``detect`` for the whole
    batch: five forward passes in all with the reference pass). Image consistency = mean over the augmentations
    of :func:`cald_consistency`. CALD labels the *lowest* consistency first and gives an image without any
    detection consistency 0 (so it comes first); the SDK's score is therefore ``-consistency`` (0 for an image
    without detections, the highest possible). The reference executors ranked the other way round (and gave
    such images -beta); this follows the paper's code. Stage 2 of the paper (class-distribution matching against
    the labelled set) picks a set, not a ranking, and is not part of the score.
    Needs: a ``detect`` callable on RGB uint8 images returning boxes with class probabilities.
    """
    rng = np.random.default_rng(seed)
    out = np.zeros(len(images))
    jobs: List[Tuple[int, int, np.ndarray]] = []  # (image index, augmentation index, transformed ref boxes)
    batch: List[np.ndarray] = []
    for i, (image, ref) in enumerate(zip(images, refs)):
        if not len(ref):
            continue
        for j, aug in enumerate(augmentations):
            aug_image, aug_boxes = aug(image, np.asarray(ref.boxes, dtype=np.float64), rng)
            jobs.append((i, j, aug_boxes))
            batch.append(aug_image)
    if not batch:
        return out
    results = detect(batch)
    per_image: dict = {}
    for (i, _, boxes), det in zip(jobs, results):
        per_image.setdefault(i, []).append(cald_consistency(refs[i], boxes, det, num_classes, beta))
    for i, values in per_image.items():
        out[i] = -float(np.mean(values))
    return out
