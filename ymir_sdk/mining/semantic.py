"""Mining algorithms for semantic segmentation. Input per image: per-pixel class probabilities (C, H, W) (the
softmax of the model, at the image's resolution or any other) and, for RSAL, the image itself (H, W, 3 RGB uint8)
for the superpixels. Higher score = label first.

Both algorithms select *regions* in their papers; the platform ranks *images*, so each has an image-level
aggregation, documented below. RSAL needs the whole pool (class balance, threshold): it is split into a
per-image map step (:func:`rsal_regions`, shardable over ranks) and a pool-level step (:func:`rsal_scores`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from ..errors import ConfigError

SUPERPIXELS = ("slic", "slico", "mslic", "seeds")
EPS = 1e-12


@dataclass
class Regions:
    """Per-superpixel BvSB uncertainty and majority predicted class of one image."""

    scores: np.ndarray
    classes: np.ndarray


def superpixels(image: np.ndarray, method: str = "slico", max_superpixels: int = 1024, iterations: int = 10
                ) -> np.ndarray:
    """(H, W) int32 superpixel labels 0..R-1 with R <= ``max_superpixels`` (OpenCV ximgproc: SLIC, SLICO,
    MSLIC, SEEDS). The region size is chosen for about ``max_superpixels`` regions (the reference executor's
    factor 2 gave a quarter of them) and grown until the bound holds."""
    import cv2

    method = str(method).lower()
    if method not in SUPERPIXELS:
        raise ConfigError("superpixel_algorithm", method, "one of " + ", ".join(SUPERPIXELS))
    if not hasattr(cv2, "ximgproc"):
        raise ConfigError("superpixel_algorithm", method, message="superpixels need opencv-contrib "
                          "(pip install opencv-contrib-python-headless)")
    h, w = image.shape[:2]
    lab = cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2LAB)
    if method == "seeds":
        sp = cv2.ximgproc.createSuperpixelSEEDS(w, h, 3, int(max_superpixels), 5, 3, 5, True)
        sp.iterate(lab, iterations)
        labels = sp.getLabels()
    else:
        algorithm = {"slic": cv2.ximgproc.SLIC, "slico": cv2.ximgproc.SLICO, "mslic": cv2.ximgproc.MSLIC}[method]
        size = max(2, int(math.ceil(math.sqrt(h * w / max(1, max_superpixels)))))
        while True:
            sp = cv2.ximgproc.createSuperpixelSLIC(lab, algorithm, size)
            sp.iterate(iterations)
            if sp.getNumberOfSuperpixels() <= max_superpixels:
                break
            size += 1
        labels = sp.getLabels()
    _, dense = np.unique(labels, return_inverse=True)  # 0..R-1 without gaps
    return dense.reshape(h, w).astype(np.int32)


def bvsb(probs: np.ndarray) -> np.ndarray:
    """Best-versus-second-best per pixel: p_second / p_best in [0, 1] (1 = a tie = most uncertain). One class:
    the binary case (p vs 1 - p)."""
    p = np.asarray(probs, dtype=np.float32)
    if p.shape[0] == 1:
        p = np.concatenate([p, 1 - p])
    top2 = np.partition(p, p.shape[0] - 2, axis=0)[-2:]
    return top2[0] / np.maximum(top2[1], EPS)


SUPERPIXEL_SIDE = 320


def rsal_regions(probs: np.ndarray, image: np.ndarray, method: str = "slico", max_superpixels: int = 1024
                 ) -> Regions:
    """Map step of ``rsal``: superpixels of the image, each scored by the mean BvSB of its pixels and labelled
    with its majority predicted class (every superpixel, the reference executor skipped the last one).
    Superpixels are computed with the image's longer side at most 320 px (a 1024-superpixel grid is still ~10 px
    there) and their labels scaled back to the probability map: it keeps mining cheap next to the forward pass."""
    import cv2

    c, h, w = probs.shape
    scale = min(1.0, SUPERPIXEL_SIDE / max(h, w))
    sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
    if image.shape[:2] != (sh, sw):
        image = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
    labels = superpixels(image, method, max_superpixels)
    if (sh, sw) != (h, w):
        labels = cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
        _, labels = np.unique(labels, return_inverse=True)
    labels = labels.ravel()
    n = int(labels.max()) + 1
    count = np.bincount(labels, minlength=n).astype(np.float64)
    score = np.bincount(labels, weights=bvsb(probs).ravel(), minlength=n) / np.maximum(count, 1)
    pred = probs.argmax(axis=0).ravel() if c > 1 else (probs[0] > 0.5).ravel().astype(np.int64)
    votes = np.bincount(labels * max(c, 2) + pred, minlength=n * max(c, 2)).reshape(n, max(c, 2))
    return Regions(score, votes.argmax(axis=1))


def region_class_counts(classes: Iterable[np.ndarray], num_classes: int) -> np.ndarray:
    """How many regions of each majority class (at least ``num_classes`` and 2 entries), from chunks of
    region classes."""
    counts = np.zeros(max(num_classes, 2), dtype=np.int64)
    for c in classes:
        found = np.bincount(np.asarray(c, dtype=np.int64))
        if len(found) > len(counts):
            counts = np.concatenate([counts, np.zeros(len(found) - len(counts), dtype=np.int64)])
        counts[: len(found)] += found
    return counts


def rsal_weights(class_counts: np.ndarray, class_balance: bool = True) -> np.ndarray:
    """RSAL's class balance: w_c = exp(-n_c / sum n), n_c the number of regions of majority class c in the pool
    (all 1 without ``class_balance``)."""
    n_c = np.asarray(class_counts, dtype=np.float64)
    return np.exp(-n_c / max(n_c.sum(), 1.0)) if class_balance else np.ones(len(n_c))


def rsal_threshold(weighted: Callable[[], Iterable[np.ndarray]], total: int, topk: int = 3,
                   max_kept: int = 5000) -> float:
    """RSAL's pool threshold: the q-th percentile of every region's weighted score (``weighted()`` yields them
    in chunks, ``total`` in all), q = 100 max(0.8, 1 - max_kept * topk / total)."""
    return quantile(weighted, 100 * max(0.8, 1 - max_kept * topk / total), total)


def rsal_image_score(weighted: np.ndarray, threshold: float, topk: int = 3) -> float:
    """One image's RSAL score from its regions' weighted scores: its ``topk`` best plus every further one
    scoring at least the pool's threshold."""
    s = np.sort(weighted)[::-1]
    return float(s[:topk].sum() + s[topk:][s[topk:] >= threshold].sum())


def rsal_scores(regions: Sequence[Regions], num_classes: int, topk: int = 3, class_balance: bool = True,
                max_kept: int = 5000) -> np.ndarray:
    """``rsal``: Cai et al., "Revisiting Superpixels for Active Learning in Semantic Segmentation With Realistic
    Annotation Costs", CVPR 2021 - superpixel regions scored by BvSB uncertainty, with class balance.

    Class balance (:func:`rsal_weights`): w_c = exp(-n_c / sum n), n_c = the number of regions of majority
    class c in the whole pool; a region's score is multiplied by the weight of its class. Image score
    (:func:`rsal_image_score`, the image-level adaptation of the region selection, as in the reference
    executor): the sum of the image's ``topk`` best region scores plus every further region scoring at least
    the pool threshold t (:func:`rsal_threshold`), the q-th percentile of all region scores with
    q = 100 max(0.8, 1 - max_kept * topk / #regions) (the regions that would be picked if ``max_kept`` images
    were labelled). Needs: per-pixel softmax and the image. Direction: higher = more uncertain regions = first.
    This is the pool held in memory; the mining loop keeps the regions on disk and composes the same steps
    (:mod:`ymir_sdk.loops.segmentation`).
    """
    weights = rsal_weights(region_class_counts((r.classes for r in regions), num_classes), class_balance)
    weighted = [r.scores * weights[r.classes] for r in regions]
    total = sum(len(w) for w in weighted)
    if not total:
        return np.zeros(len(regions))
    threshold = rsal_threshold(lambda: iter(weighted), total, topk, max_kept)
    return np.array([rsal_image_score(w, threshold, topk) for w in weighted])


#: values :func:`quantile` holds at most at once (2 MB of float64; each histogram pass over a pool of a hundred
#: million region scores leaves about 1/1024 of them in range)
QUANTILE_BUFFER = 1 << 18


def quantile(chunks: Callable[[], Iterable[np.ndarray]], q: float, n: int) -> float:
    """The ``q``-th percentile (linear interpolation, as ``np.percentile``) of the ``n`` values ``chunks()``
    yields, exactly, holding at most :data:`QUANTILE_BUFFER` of them: a pool's worth of region scores never sits
    in memory. ``chunks`` is called once per pass (a few passes over a large pool)."""
    pos = (n - 1) * q / 100
    k = int(math.floor(pos))
    a = _kth(chunks, k)
    t = pos - k
    if t <= 0 or k + 1 >= n:
        return a
    b = _kth(chunks, k + 1)
    return a + (b - a) * t


def _kth(chunks: Callable[[], Iterable[np.ndarray]], k: int) -> float:
    """The k-th smallest (from 0) value: narrowed to a value range holding at most QUANTILE_BUFFER values by
    histograms of 1024 bins, then sorted."""
    low, high, below = -np.inf, np.inf, 0  # the k-th lies in [low, high); `below` values lie under low

    def inside():
        for c in chunks():
            c = np.asarray(c, dtype=np.float64)
            yield c[(c >= low) & (c < high)]

    while True:
        count, lo, hi = 0, np.inf, -np.inf
        for c in inside():
            if len(c):
                count, lo, hi = count + len(c), min(lo, c.min()), max(hi, c.max())
        if count <= QUANTILE_BUFFER:
            values = np.sort(np.concatenate(list(inside()) or [np.zeros(0)]))
            return float(values[k - below])
        if lo == hi:
            return float(lo)
        edges = np.linspace(lo, hi, 1025)
        edges[-1] = np.nextafter(hi, np.inf)
        hist = np.zeros(1024, dtype=np.int64)
        for c in inside():
            hist += np.bincount(np.searchsorted(edges, c, side="right") - 1, minlength=1024)[:1024]
        cumulative = np.cumsum(hist)
        b = int(np.searchsorted(cumulative, k - below, side="right"))
        below += int(cumulative[b] - hist[b])
        low, high = edges[b], edges[b + 1]


def _entropy(probs: np.ndarray) -> np.ndarray:
    c = probs.shape[0]
    p = np.clip(probs, EPS, 1)
    if c == 1:
        p = np.concatenate([p, np.clip(1 - probs, EPS, 1)])
    return -(p * np.log(p)).sum(axis=0) / math.log(max(c, 2))


def ripu_scores(probs_list: Sequence[np.ndarray], radius: int = 1, topk: int = 3) -> np.ndarray:
    """``ripu``: Xie et al., "Towards Fewer Annotations: Active Learning via Region Impurity and Prediction
    Uncertainty for Domain Adaptive Semantic Segmentation", CVPR 2022.

    With the square region of side k = 2 r + 1 around each pixel (r = ``ripu_region_radius``; padded pixels not
    counted): region impurity RI = entropy of the histogram of predicted labels in the region / log C; prediction
    uncertainty PU = mean over the region of the pixel entropy -sum p log p / log C; pixel score = RI x PU.
    Image score: the sum of the ``topk`` best *regions*, picked greedily with each pick suppressing its
    neighbourhood (the paper selects distinct regions; the reference executor summed the top-k pixels, which are
    usually adjacent copies of one maximum). Needs: per-pixel softmax. Direction: higher = first.
    """
    import cv2

    k = 2 * int(radius) + 1
    out = np.zeros(len(probs_list))
    for i, probs in enumerate(probs_list):
        probs = np.asarray(probs, dtype=np.float32)
        c, h, w = probs.shape
        counts = cv2.boxFilter(np.ones((h, w), np.float32), -1, (k, k), normalize=False,
                               borderType=cv2.BORDER_CONSTANT)
        pu = cv2.boxFilter(_entropy(probs).astype(np.float32), -1, (k, k), normalize=False,
                           borderType=cv2.BORDER_CONSTANT) / counts
        n_cls = max(c, 2)
        pred = probs.argmax(axis=0) if c > 1 else (probs[0] > 0.5).astype(np.int64)
        onehot = (pred[None] == np.arange(n_cls)[:, None, None]).astype(np.float32)
        hist = np.stack([cv2.boxFilter(o, -1, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT)
                         for o in onehot]) / counts
        ri = _entropy_of_hist(hist) / math.log(n_cls)
        score = (ri * pu).astype(np.float64)
        total = 0.0
        for _ in range(max(1, topk)):
            y, x = np.unravel_index(int(score.argmax()), score.shape)
            total += max(0.0, float(score[y, x]))
            score[max(0, y - k + 1): y + k, max(0, x - k + 1): x + k] = -np.inf  # regions may not overlap
            if not np.isfinite(score).any():
                break
        out[i] = total
    return out


def _entropy_of_hist(hist: np.ndarray) -> np.ndarray:
    h = np.clip(hist, EPS, 1)
    return -(hist * np.log(h)).sum(axis=0)
