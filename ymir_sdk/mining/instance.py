"""Mining algorithms for instance segmentation (besides the box-level ones of :mod:`.detection`).
Higher score = label first."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Sequence

import numpy as np

from .base import DetOutput

EPS = 1e-12


@dataclass
class InstOutput:
    """Instances of one image: the detections and their mask probabilities (N, H, W) in [0, 1] (sigmoid of the
    mask head at the image's or the network's resolution)."""

    det: DetOutput
    masks: np.ndarray

    def __len__(self) -> int:
        return len(self.det)


def apis_scores(outputs: Sequence[InstOutput]) -> np.ndarray:
    """``apis``: Tang et al., "Active Pointly-Supervised Instance Segmentation", ECCV 2022 (github chufengt/APIS,
    entropy point selection).

    APIS asks, for each predicted instance, for the label of its most uncertain mask point: the pixel of highest
    binary entropy H(m) = -m log2 m - (1 - m) log2(1 - m) of the instance's mask probabilities. An instance's
    uncertainty is that maximum (in bits, [0, 1]); the image score is the sum over its instances (the value of
    the points the image would contribute). An image without instances scores 0. The reference executor averaged
    all instances' mask maps per pixel before taking entropies, which dilutes images with several objects.
    Needs: per-instance mask probabilities. Direction: higher = first.
    """
    out = np.zeros(len(outputs))
    for i, o in enumerate(outputs):
        if not len(o):
            continue
        m = np.clip(np.asarray(o.masks, dtype=np.float32).reshape(len(o), -1), 1e-6, 1 - 1e-6)
        h = -(m * np.log2(m) + (1 - m) * np.log2(1 - m))
        out[i] = float(h.max(axis=1).sum())
    return out


def _box_iou_plus_one(mean_box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU with MaskAL's "+1" pixel convention."""
    xa = np.maximum(mean_box[0], boxes[:, 0])
    ya = np.maximum(mean_box[1], boxes[:, 1])
    xb = np.minimum(mean_box[2], boxes[:, 2])
    yb = np.minimum(mean_box[3], boxes[:, 3])
    inter = np.clip(xb - xa + 1, 0, None) * np.clip(yb - ya + 1, 0, None)
    area_a = (mean_box[2] - mean_box[0] + 1) * (mean_box[3] - mean_box[1] + 1)
    area_b = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    return inter / np.maximum(area_a + area_b - inter, EPS)


def maskal_certainty(passes: Sequence[InstOutput], num_classes: int, iou_thr: float = 0.5) -> float:
    """MaskAL's certainty of one image from its Monte-Carlo dropout passes (nan without any instance).

    Instances of all passes are clustered greedily: an instance joins the first cluster holding a member whose
    mask IoU with it exceeds ``iou_thr``, else starts one. Per cluster of n members (I passes in all):
    u_sem = mean over members of 1 - H(q) / log(C + 1) (q: class distribution with background, so one class
    works); u_spl = (sum of mask IoU with the mean mask, values < 0.25 dropped, / n) x (sum of box IoU with the
    mean box / n); u_n = min(1, n / I); u_h = u_sem u_spl u_n. The image's certainty is the minimum u_h over
    its clusters (MaskAL's ``mode: min``).
    """
    members: List[List[tuple]] = []  # per cluster: (box, mask bool, class distribution)
    for o in passes:
        dist = o.det.class_distribution(num_classes)
        masks = np.asarray(o.masks) > 0.5
        for k in range(len(o)):
            m = masks[k]
            placed = False
            for cluster in members:
                for _, other, _ in cluster:
                    union = np.logical_or(m, other).sum()
                    if union and np.logical_and(m, other).sum() / union > iou_thr:
                        cluster.append((o.det.boxes[k], m, dist[k]))
                        placed = True
                        break
                if placed:
                    break
            if not placed:
                members.append([(o.det.boxes[k], m, dist[k])])
    if not members:
        return float("nan")
    iterations = max(1, len(passes))
    max_entropy = math.log(num_classes + 1)
    certainties = []
    for cluster in members:
        n = len(cluster)
        q = np.stack([d for _, _, d in cluster])
        u_sem = float(np.clip(np.mean(1 - (-(q * np.log(np.clip(q, EPS, 1))).sum(1)) / max_entropy), 0, 1))
        mask_stack = np.stack([m for _, m, _ in cluster]).astype(np.float32)
        mean_mask = mask_stack.mean(axis=0)
        mean_mask[mean_mask < 0.25] = 0
        mean_on = mean_mask > 0
        inter = np.logical_and(mask_stack > 0, mean_on).reshape(n, -1).sum(1)
        union = np.logical_or(mask_stack > 0, mean_on).reshape(n, -1).sum(1)
        mask_iou = inter[union > 0] / union[union > 0]
        boxes = np.stack([np.asarray(b, dtype=np.float64) for b, _, _ in cluster])
        box_iou = _box_iou_plus_one(boxes.mean(axis=0), boxes)
        u_spl = float(np.clip(mask_iou.sum() / n, 0, 1) * np.clip(box_iou.sum() / n, 0, 1))
        u_n = min(1.0, n / iterations)
        certainties.append(u_sem * u_spl * u_n)
    return float(min(certainties))


def maskal_scores(passes_per_image: Sequence[Sequence[InstOutput]], num_classes: int, iou_thr: float = 0.5
                  ) -> np.ndarray:
    """``maskal``: Blok et al., "Active learning with MaskAL reduces annotation effort for training Mask R-CNN",
    Computers and Electronics in Agriculture 2022 (github pieterblok/maskal).

    Score = 1 - certainty (:func:`maskal_certainty`): MaskAL labels the *least* certain images first; the
    reference executor handed the certainty itself to a highest-first writer (inverted) and divided by log C = 0
    for one class (NaN for every image). An image without any instance in any pass scores 1 (nothing certain was
    found). Needs: ``mcd_iterations`` forward passes with dropout active, each giving instances with class
    probabilities and masks.
    """
    out = np.zeros(len(passes_per_image))
    for i, passes in enumerate(passes_per_image):
        c = maskal_certainty(passes, num_classes, iou_thr)
        out[i] = 1.0 if c != c else 1.0 - c
    return out
