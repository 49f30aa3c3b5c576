"""Detection metrics with pycocotools (the reference COCO evaluation): AP@0.5 as ``mAP``, recall@0.5 as
``mAR``, and tp/fp/fn at IoU 0.5 for a score threshold."""
from __future__ import annotations

import contextlib
import io
from typing import Callable, Dict, Mapping, Optional, Sequence

import numpy as np

from .dataset.annotations import ImageRecord
from .dataset.convert import coco_dict
from .results import Detection


COCO_STATS = ("mAP_50_95", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l", "AR_1", "AR_10", "AR_100", "AR_s",
              "AR_m", "AR_l")


def detection_metrics(records: Sequence[ImageRecord], detections: Mapping[str, Sequence[Detection]],
                      class_names: Sequence[str], conf_thr: float = 0.0) -> Dict[str, float]:
    """Metrics of detections keyed by image path against the records' boxes (see :func:`coco_metrics`)."""
    gt = coco_dict(records, class_names)
    dets = []
    ids = {img["file_name"]: img["id"] for img in gt["images"]}
    for path, items in detections.items():
        for d in items:
            if path in ids:
                dets.append({"image_id": ids[path], "category_id": int(d.class_id), "score": float(d.score),
                             "bbox": [float(d.x1), float(d.y1), float(d.x2 - d.x1), float(d.y2 - d.y1)]})
    return coco_metrics(gt, dets, conf_thr)


def coco_metrics(gt: dict, dets: Sequence[dict], conf_thr: float = 0.0, coco_stats: bool = False,
                 rotated_iou: Optional[Callable[[np.ndarray, np.ndarray], np.ndarray]] = None,
                 per_class: bool = False) -> Dict[str, float]:
    """pycocotools evaluation of COCO-format detections (``image_id``, ``category_id``, ``score``, ``bbox``
    xywh) with score >= ``conf_thr`` against a COCO dict: ``mAP`` (AP at IoU 0.5, 101-point, all areas, 100
    detections: COCO's AP50), ``mAR`` (recall at IoU 0.5), ``tp/fp/fn`` at IoU 0.5; with ``coco_stats`` also the
    standard COCO summary numbers that are defined for this set (``mAP_50_95``, ``mAP_75``, ``mAP_s`` ...;
    a size range without ground truth is left out rather than reported as -1). ``rotated_iou``: the boxes are
    rotated (``bbox`` the un-rotated rectangle, ``rotate_angle`` in radians about its centre, as the SDK's COCO
    json and :mod:`ymir_sdk.dataset.rotated` write them) and matched by this (D, G) IoU of ``(cx, cy, w, h,
    angle)`` arrays. ``per_class``: also ``AP/<category name>``, each class's AP at IoU 0.5 (classes with
    ground truth)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    dets = [d for d in dets if d["score"] >= conf_thr]
    n_gt = len(gt["annotations"])
    if not dets or not n_gt:
        out = {"mAP": 0.0, "mAR": 0.0, "tp": 0, "fp": len(dets), "fn": n_gt}
        if coco_stats and n_gt:  # nothing detected: every AP/AR over the whole set is 0
            out.update(mAP_50_95=0.0, mAP_75=0.0, AR_1=0.0, AR_10=0.0, AR_100=0.0)
        if per_class:
            out.update(_class_aps(gt, lambda k: 0.0))
        return out
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(list(dets))
        ev = COCOeval(coco_gt, coco_dt, "bbox") if rotated_iou is None else \
            _rotated_cocoeval(COCOeval, rotated_iou)(coco_gt, coco_dt, "bbox")
        ev.params.catIds = sorted({a["category_id"] for a in gt["annotations"]})
        ev.params.imgIds = sorted(img["id"] for img in gt["images"])
        ev.evaluate()
        ev.accumulate()
        if coco_stats:
            ev.summarize()
    precision = ev.eval["precision"][0, :, :, 0, -1]  # IoU 0.5, all recalls, classes, all areas, 100 dets
    recall = ev.eval["recall"][0, :, 0, -1]
    valid_p = precision[precision > -1]
    valid_r = recall[recall > -1]
    tp = sum(int((e["dtMatches"][0, :] > 0).sum()) for e in ev.evalImgs if e and e["aRng"] == [0, 1e10])
    n_dt = len(dets)
    out: Dict[str, float] = {"mAP": float(valid_p.mean()) if valid_p.size else 0.0,
                             "mAR": float(valid_r.mean()) if valid_r.size else 0.0,
                             "tp": tp, "fp": n_dt - tp, "fn": n_gt - tp}
    if coco_stats:
        for name, value in zip(COCO_STATS, ev.stats):
            if name != "mAP_50" and value >= 0:
                out[name] = float(value)
    if per_class:  # the evaluated categories (ev.params.catIds) are _class_aps' order
        out.update(_class_aps(gt, lambda k: float(precision[:, k][precision[:, k] > -1].mean())
                              if (precision[:, k] > -1).any() else 0.0))
    return out


def _class_aps(gt: dict, ap: Callable[[int], float]) -> Dict[str, float]:
    """``AP/<category name>`` of each category with ground truth, in category-id order; ``ap(k)`` of the k-th."""
    names = {c["id"]: c["name"] for c in gt.get("categories", [])}
    cats = sorted({a["category_id"] for a in gt["annotations"]})
    return {f"AP/{names.get(c, c)}": ap(k) for k, c in enumerate(cats)}


def rotated_boxes(anns: Sequence[dict]) -> np.ndarray:
    """(N, 5) ``cx, cy, w, h, angle`` of COCO annotations with an un-rotated ``bbox`` and a ``rotate_angle``."""
    from .dataset.rotated import rboxes_from_boxes

    xywh = np.asarray([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
    angles = [float(a.get("rotate_angle", 0.0)) for a in anns]
    return rboxes_from_boxes(np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1), angles)


def _rotated_cocoeval(cocoeval, iou: Callable[[np.ndarray, np.ndarray], np.ndarray]):
    """pycocotools' COCOeval with the IoU of rotated boxes in ``computeIoU`` (the rest, matching and
    accumulation, is COCO's; areas are the rectangles' w x h, which a rotation keeps)."""

    class RotatedCOCOeval(cocoeval):
        def computeIoU(self, imgId, catId):  # noqa: N802 - pycocotools' name
            p = self.params
            if p.useCats:
                gt, dt = self._gts[imgId, catId], self._dts[imgId, catId]
            else:
                gt = [g for c in p.catIds for g in self._gts[imgId, c]]
                dt = [d for c in p.catIds for d in self._dts[imgId, c]]
            if not gt and not dt:
                return []
            order = np.argsort([-d["score"] for d in dt], kind="mergesort")
            dt = [dt[i] for i in order][:p.maxDets[-1]]
            return iou(rotated_boxes(dt), rotated_boxes(gt))

    return RotatedCOCOeval
