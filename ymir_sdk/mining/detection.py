"""Mining algorithms for detection (and the box part of instance segmentation). All return one float per
image, higher = label first, finite."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, List, Mapping, Optional, Sequence, Union

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


#: elements of one ALDD chunk (batch x anchors x classes x cells of the working grid): memory stays bounded
#: (about 6 such float32 tensors at once) whatever the class count; classes are taken in chunks
ALDD_CHUNK = 1 << 24


def aldd_scores(heads: Union[HeadMaps, Sequence[HeadMaps]], class_weights: Optional[Sequence[float]] = None,
                pool: int = 3, cell: int = 32) -> np.ndarray:
    """``aldd``: Aghdam et al., "Active Learning for Deep Detection Neural Networks", ICCV 2019 (gitlab
    haghdam/deep_active_learning): the disagreement of each output pixel's prediction with its neighbours'.

    As the paper, on the detector's own output grid. Per scale, each anchor a's probability map p_a of class c
    (h x w, :class:`HeadMaps`); with H(p) = -p ln p - (1 - p) ln(1 - p) and M the ``pool`` x ``pool`` mean of
    the output grid (padding not counted): U = sum_a H(M p_a) - M sum_a H(p_a) (the entropy of the mean minus
    the mean of the entropies, >= 0). The scales' U are summed on the finest grid (nearest upsampling), max-pooled
    over ``cell``-pixel cells of the input and averaged over the cells: s_c. Image score = sum_c w_c s_c with
    w = ``class_distribution_scores`` (one per class; all 1 when none are given).
    Computed with torch where the maps are (the model's device), a whole batch at once, classes in chunks
    (:data:`ALDD_CHUNK`: memory bounded whatever the class count). The reference executors upsampled every map
    to the input size first (a 9 x 9 window, 32 x 32 cells): the same measure at 64 times the cost on stride-8
    grids, and gigabytes at 80 classes.
    Needs: the dense head probabilities. Direction: higher = more disagreement = first.
    """
    import torch

    batches = [heads] if isinstance(heads, HeadMaps) else list(heads)
    out = [_aldd_batch(torch, h, class_weights, pool, cell) for h in batches]
    return np.concatenate(out) if out else np.zeros(0)


def _aldd_batch(torch, head: HeadMaps, class_weights, pool: int, cell: int) -> np.ndarray:
    import torch.nn.functional as F

    maps = [torch.as_tensor(m) for m in head.maps]
    maps = [m.unsqueeze(0) if m.dim() == 4 else m for m in maps]  # one image: (A, h, w, C)
    b, n_classes = maps[0].shape[0], maps[0].shape[-1]
    finest = max(maps, key=lambda m: m.shape[2] * m.shape[3])
    grid = (finest.shape[2], finest.shape[3])
    stride = head.input_hw[0] / grid[0]
    per_class = torch.zeros(b, n_classes, dtype=torch.float32, device=finest.device)
    elements = max(b * m.shape[1] * grid[0] * grid[1] for m in maps)
    step = max(1, ALDD_CHUNK // max(1, elements))
    k = max(1, int(round(cell / stride)))
    for c0 in range(0, n_classes, step):
        u = None
        for m in maps:
            bb, a, h, w, _ = m.shape
            # (B x A, c, h, w) in channels-last memory: the maps' own layout, so pooling runs without a copy
            p = m[..., c0:c0 + step].float().clamp(1e-6, 1 - 1e-6).view(bb * a, h, w, -1).permute(0, 3, 1, 2)
            c = p.shape[1]
            mean_p = F.avg_pool2d(p, pool, 1, pool // 2, count_include_pad=False)
            entropy_of_mean = _entropy_(mean_p).view(bb, a, c, h, w).sum(1)
            sum_entropy = _entropy_(p).view(bb, a, c, h, w).sum(1)
            part = entropy_of_mean - F.avg_pool2d(sum_entropy, pool, 1, pool // 2, count_include_pad=False)
            if (h, w) != grid:
                part = F.interpolate(part, size=grid, mode="nearest")
            u = part if u is None else u + part
        if min(grid) >= k:
            cells = F.max_pool2d(u, k, k)
        else:
            cells = u.amax(dim=(2, 3), keepdim=True)
        per_class[:, c0:c0 + step] = cells.mean(dim=(2, 3))
    weights = torch.ones(n_classes, dtype=torch.float32, device=per_class.device)
    if class_weights:
        given = torch.tensor(list(class_weights)[:n_classes], dtype=torch.float32, device=per_class.device)
        weights[: len(given)] = given
    return (per_class * weights).sum(1).cpu().numpy().astype(np.float64)


def balanced_class_weights(objects: Mapping[str, int], class_names: Sequence[str]) -> List[float]:
    """``class_distribution_scores: auto``: aldd's class weights from the objects per class of the model's training
    set, as scikit-learn's "balanced" class weights, smoothed by one: w_c = (N + C) / (C (n_c + 1)) for C classes,
    n_c objects of class c, N in all. 1 for every class of a balanced set; a class the model saw 10x less often
    than the others weighs about 10x as much; a class it never saw the most (counts are looked up by name: a
    class the training did not have counts 0)."""
    counts = np.array([max(0, int(objects.get(name, 0))) for name in class_names], dtype=np.float64)
    c = len(class_names)
    return ((counts.sum() + c) / (c * (counts + 1))).tolist()


def _entropy_(p):
    """Binary entropy H(p) = -p ln p - (1 - p) ln(1 - p), elementwise (p clamped away from 0 and 1), with as few
    temporaries as possible: the pass over the maps that costs most."""
    q = 1 - p
    h = p.log().mul_(p)
    h.add_(q.log().mul_(q))
    return h.neg_()


# ------------------------------------------------------------------------------------------------ CALD
def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of x1 y1 x2 y2 boxes."""
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
    if not len(boxes):  # nothing to cover part of: the image as it is
        return image, boxes.copy()
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
    augmentation's consistency is min(1, min_boxes c) (NaN where the outputs hold one). Boxes on one side only:
    an augmentation with no detection of the reference's boxes gives 0, and so do detections that appear in an
    augmented view of an image without any; no detection on either side is full agreement, 1."""
    if not len(ref):
        return 0.0 if len(aug) else 1.0
    if not len(aug):
        return 0.0
    iou = box_iou(ref_boxes_aug, aug.boxes)
    best = iou.argmax(axis=1)
    p = ref.class_distribution(num_classes)
    q = aug.class_distribution(num_classes)[best]
    js = _js_divergence(p, q)
    c = np.abs(iou[np.arange(len(best)), best] + 0.5 * (1 - js) * (ref.scores + aug.scores[best]) - beta)
    return float(np.minimum(1.0, c.min()))  # not min(): min(1.0, nan) is 1.0, a NaN must reach the task's check


@dataclass
class CaldOutput:
    """What CALD measures of a batch: ``scores`` = -consistency (stage 1's ranking, in [-1, 0]) and
    ``class_max`` (n, C): per image and class the highest score of a detection of that class, averaged over the
    reference pass and the augmented ones (all zero: no detection in any pass), what stage 2 compares with the
    labelled set (:func:`cald_divergence`)."""

    scores: np.ndarray
    class_max: np.ndarray


def cald_scores(images: Sequence[np.ndarray], refs: Sequence[DetOutput],
                detect: Callable[[List[np.ndarray]], List[DetOutput]], num_classes: int, beta: float = 1.3,
                seed: int = 0, augmentations=CALD_AUGMENTATIONS) -> np.ndarray:
    """``cald``'s stage-1 scores (:func:`cald`)."""
    return cald(images, refs, detect, num_classes, beta, seed, augmentations).scores


def cald(images: Sequence[np.ndarray], refs: Sequence[DetOutput],
         detect: Callable[[List[np.ndarray]], List[DetOutput]], num_classes: int, beta: float = 1.3,
         seed: int = 0, augmentations=CALD_AUGMENTATIONS) -> CaldOutput:
    """``cald``: Yu et al., "Consistency-based Active Learning for Object Detection" (CVPR 2022 workshop),
    as defined by the paper's code (github we1pingyu/CALD ``cald_train.py``): stage 1 (consistency,
    ``get_uncertainty``) and what stage 2 needs (the per-class maxima, ``cls_corrs``).

    Each image is augmented four ways (horizontal flip, cutout, resize x0.8, rotation 5 deg) with its reference
    boxes transformed alike, and re-detected (one batched call of ``detect`` per augmentation: five forward
    passes in all with the reference pass). Image consistency = mean over the augmentations of
    :func:`cald_consistency`; score = ``-consistency`` (CALD labels the lowest consistency first).
    Images without detections (the rule the paper's code leaves open, stated here): an image without any
    detection in the original nor in any augmented view is fully consistent, 1 - nothing to find, labelled last
    (a pool of background frames never fills the top-k); detections that appear only in augmented views are
    inconsistent, 0 for each such view. The paper's code gave an image without reference detections
    consistency 0 (first); the reference executors gave it -beta.
    Stage 2 (class-distribution matching against the labelled set, :func:`cald_class_balance`) reorders the
    ranking's head; it needs the labelled set's class counts and a number of candidates, which the loop has.
    Needs: a ``detect`` callable on images (as ``images`` are) returning boxes with class probabilities.
    """
    rng = np.random.default_rng(seed)
    ref_boxes = [np.asarray(ref.boxes, dtype=np.float64).reshape(-1, 4) for ref in refs]
    consistency = np.zeros((len(images), len(augmentations)))
    class_max = np.stack([_class_max(ref, num_classes) for ref in refs]) if len(refs) else \
        np.zeros((0, num_classes))
    for j, aug in enumerate(augmentations):  # one view of every image at a time: a batch's worth of copies
        views = [aug(image, boxes, rng) for image, boxes in zip(images, ref_boxes)]
        for i, ((_, boxes), det) in enumerate(zip(views, detect([v for v, _ in views]) if views else [])):
            consistency[i, j] = cald_consistency(refs[i], boxes, det, num_classes, beta)
            class_max[i] += _class_max(det, num_classes)
    scores = -consistency.mean(axis=1) if len(augmentations) else -np.ones(len(images))
    return CaldOutput(scores, class_max / (1 + len(augmentations)))


def _class_max(det: DetOutput, num_classes: int) -> np.ndarray:
    """Per class the highest score of the image's detections of that class (0 where none)."""
    out = np.zeros(num_classes)
    if len(det):
        np.maximum.at(out, np.asarray(det.labels, dtype=np.int64), np.asarray(det.scores, dtype=np.float64))
    return out


def labelled_class_mean(counts: Mapping[str, Any], class_names: Sequence[str]) -> np.ndarray:
    """Objects per labelled image, per class, from a training's class counts (``{"images": n, "objects":
    {class: objects}}``; a class it lacks counts 0): the labelled distribution CALD's stage 2 compares with."""
    objects = counts["objects"]
    return np.array([objects.get(name, 0) for name in class_names], dtype=np.float64) / max(1, counts["images"])


def cald_divergence(class_max: np.ndarray, labelled_mean: np.ndarray) -> np.ndarray:
    """CALD's stage-2 measure (``cls_kldiv``): the Jensen-Shannon divergence between softmax(the labelled set's
    objects per image, per class) and softmax(the image's :attr:`CaldOutput.class_max`); NaN for an image with
    no detection in any pass (stage 2 does not lift it: a pool of background frames never fills the top-k; the
    paper's code put such images first)."""
    class_max = np.asarray(class_max, dtype=np.float64).reshape(len(class_max), -1)
    out = _js_divergence(_softmax(np.asarray(labelled_mean, dtype=np.float64))[None], _softmax(class_max))
    return np.where(class_max.any(axis=1), out, np.nan)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def cald_class_balance(scores: np.ndarray, divergence: np.ndarray, candidates: int) -> np.ndarray:
    """CALD's stage 2 on a ranking (``cald_candidates``): of the ``candidates`` best images by stage 1's
    ``scores`` (-consistency, <= 0), those with a ``divergence`` (:func:`cald_divergence`; NaN: no detection)
    are lifted above every other image, largest divergence first: their score becomes 1 + divergence. Every
    other image keeps its stage-1 score and order. As the paper's code, the labelled distribution is the same for
    every image (it is not updated as images are picked): a per-image measure, so the ranking streams. The
    paper takes M = 1.2 x the budget by consistency and labels the budget's worth of them by divergence; the
    platform keeps the first K lines, so ``candidates`` = 1.2 K reproduces it."""
    scores = np.asarray(scores, dtype=np.float64)
    out = scores.copy()
    top = np.argsort(-scores, kind="stable")[:max(0, int(candidates))]
    top = top[~np.isnan(divergence[top])]
    out[top] = 1.0 + divergence[top]
    return out
