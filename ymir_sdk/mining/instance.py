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
    """``apis``: Tang et al., "Active Pointly-Supervised Instance Segmentation", ECCV 2022 (github chufengt/APIS).

    APIS spends its labelling budget on the mask points a model is least sure of: an instance's value is the
    uncertainty of its mask. Per instance k (score s_k, mask probabilities m): u_k = sum_p m_p H(m_p) / sum_p m_p,
    the mean binary entropy (bits) of its pixels, each weighted by how much it belongs to the instance; the image
    score is sum_k s_k u_k (the points the image would contribute, trusted as much as its instances). A sharp mask
    (m near 0 or 1) scores near 0 and a blurred one near s_k, whatever the number of instances; an image without
    instances scores 0. (The SDK's first version took the most uncertain pixel of each instance: about 1 bit for
    any mask that crosses 0.5, so the score counted the instances.) Computed with torch where the masks are.
    Needs: per-instance mask probabilities (any resolution). Direction: higher = first.
    """
    import torch

    out = np.zeros(len(outputs))
    for i, o in enumerate(outputs):
        if not len(o):
            continue
        m = torch.as_tensor(o.masks).float().reshape(len(o), -1).clamp(1e-6, 1 - 1e-6)
        h = -(m * m.log2() + (1 - m) * (1 - m).log2())
        u = (m * h).sum(1) / m.sum(1)
        scores = torch.as_tensor(np.asarray(o.det.scores, dtype=np.float32), device=m.device)
        out[i] = float((scores * u).sum())
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


#: MaskAL compares masks at most this many pixels on their long side, and at most this many instances of each
#: pass (the best-scored): clustering is quadratic in the instances and linear in the pixels
MASKAL_SIZE = 96
MASKAL_INSTANCES = 50


def _bounded_masks(torch, masks, size: int):
    """(N, H, W) mask probabilities as booleans (> 0.5) at most ``size`` pixels on the long side (area-averaged
    probabilities when they are larger: the same masks, compared at a bounded cost)."""
    import torch.nn.functional as F

    m = torch.as_tensor(masks).float()
    if m.dim() == 3 and max(m.shape[1:]) > size:
        scale = size / max(m.shape[1:])
        hw = (max(1, int(round(m.shape[1] * scale))), max(1, int(round(m.shape[2] * scale))))
        m = F.interpolate(m[None], size=hw, mode="area")[0]
    return m > 0.5


def maskal_certainty(passes: Sequence[InstOutput], num_classes: int, iou_thr: float = 0.5,
                     size: int = MASKAL_SIZE, max_instances: int = MASKAL_INSTANCES) -> float:
    """MaskAL's certainty of one image from its Monte-Carlo dropout passes (nan without any instance).

    Instances of all passes are clustered greedily: an instance joins the first cluster holding a member whose
    mask IoU with it exceeds ``iou_thr``, else starts one. Per cluster of n members (I passes in all):
    u_sem = mean over members of 1 - H(q) / log(C + 1) (q: class distribution with background, so one class
    works); u_spl = (sum of mask IoU with the mean mask, values < 0.25 dropped, / n) x (sum of box IoU with the
    mean box / n); u_n = min(1, n / I); u_h = u_sem u_spl u_n. The image's certainty is the minimum u_h over
    its clusters (MaskAL's ``mode: min``). Masks are compared at most ``size`` pixels on their long side and at
    most ``max_instances`` per pass are clustered (the best-scored): masks within the bound give exactly the
    full-resolution result; computed with torch where the masks are.
    """
    import torch

    boxes, masks, dists = [], [], []
    for o in passes:
        if not len(o):
            continue
        # the best-scored max_instances, in the pass's own order (the greedy clustering depends on the order)
        top = np.sort(np.argsort(-np.asarray(o.det.scores), kind="stable")[:max_instances])
        boxes.append(np.asarray(o.det.boxes, dtype=np.float64)[top])
        dists.append(o.det.class_distribution(num_classes)[top])
        masks.append(_bounded_masks(torch, o.masks, size)[torch.as_tensor(top, dtype=torch.long)])
    if not masks:
        return float("nan")
    m = torch.cat(masks).reshape(sum(len(b) for b in boxes), -1).float()
    inter = m @ m.T
    area = m.sum(1)
    union = area[:, None] + area[None, :] - inter
    iou = torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter)).cpu().numpy()
    clusters: List[List[int]] = []
    for j in range(len(iou)):
        home = next((c for c in clusters if (iou[j, c] > iou_thr).any()), None)
        if home is None:
            clusters.append([j])
        else:
            home.append(j)
    box_all, dist_all = np.concatenate(boxes), np.concatenate(dists)
    iterations, max_entropy = max(1, len(passes)), math.log(num_classes + 1)
    certainties = []
    for members in clusters:
        n = len(members)
        q = dist_all[members]
        u_sem = float(np.clip(np.mean(1 - (-(q * np.log(np.clip(q, EPS, 1))).sum(1)) / max_entropy), 0, 1))
        stack = m[members]
        mean_on = stack.mean(0) >= 0.25  # the mean mask, values < 0.25 dropped
        inter_m = (stack * mean_on).sum(1)
        union_m = ((stack + mean_on.float()) > 0).float().sum(1)
        mask_iou = (inter_m[union_m > 0] / union_m[union_m > 0]).sum().item()
        member_boxes = box_all[members]
        box_iou = _box_iou_plus_one(member_boxes.mean(axis=0), member_boxes)
        u_spl = float(np.clip(mask_iou / n, 0, 1) * np.clip(box_iou.sum() / n, 0, 1))
        certainties.append(u_sem * u_spl * min(1.0, n / iterations))
    return float(min(certainties))


def maskal_scores(passes_per_image: Sequence[Sequence[InstOutput]], num_classes: int, iou_thr: float = 0.5
                  ) -> np.ndarray:
    """``maskal``: Blok et al., "Active learning with MaskAL reduces annotation effort for training Mask R-CNN",
    Computers and Electronics in Agriculture 2022 (github pieterblok/maskal).

    Score = 1 - certainty (:func:`maskal_certainty`): MaskAL labels the *least* certain images first; the
    reference executor handed the certainty itself to a highest-first writer (inverted) and divided by log C = 0
    for one class (NaN for every image). An image without any instance in any pass (MaskAL's code: NaN) scores 0,
    the least: every pass agrees there is nothing, as certain as the measure gets (u_n = min(1, n / I) calls an
    instance uncertain when only some passes find it), and a pool of background frames never fills the top-k -
    CALD's and APIS's rule for such images too. Needs: ``mcd_iterations`` forward passes with dropout active, each
    giving instances with class probabilities and masks.
    """
    out = np.zeros(len(passes_per_image))
    for i, passes in enumerate(passes_per_image):
        c = maskal_certainty(passes, num_classes, iou_thr)
        out[i] = 0.0 if c != c else 1.0 - c
    return out
