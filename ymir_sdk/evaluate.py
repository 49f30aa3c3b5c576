"""Detection metrics with pycocotools (the reference COCO evaluation): AP@0.5 as ``mAP``, recall@0.5 as
``mAR``, and tp/fp/fn at IoU 0.5 for a score threshold."""
from __future__ import annotations

import contextlib
import io
from typing import Dict, Mapping, Sequence

from .dataset.annotations import ImageRecord
from .dataset.convert import coco_dict
from .results import Detection


def detection_metrics(records: Sequence[ImageRecord], detections: Mapping[str, Sequence[Detection]],
                      class_names: Sequence[str], conf_thr: float = 0.0) -> Dict[str, float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = coco_dict(records, class_names)
    dets = []
    ids = {img["file_name"]: img["id"] for img in gt["images"]}
    for path, items in detections.items():
        for d in items:
            if path in ids and d.score >= conf_thr:
                dets.append({"image_id": ids[path], "category_id": int(d.class_id), "score": float(d.score),
                             "bbox": [float(d.x1), float(d.y1), float(d.x2 - d.x1), float(d.y2 - d.y1)]})
    n_gt = len(gt["annotations"])
    if not dets or not n_gt:
        return {"mAP": 0.0, "mAR": 0.0, "tp": 0, "fp": len(dets), "fn": n_gt}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dets)
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.catIds = sorted({a["category_id"] for a in gt["annotations"]})
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"][0, :, :, 0, -1]  # IoU 0.5, all recalls, classes, all areas, 100 dets
    recall = ev.eval["recall"][0, :, 0, -1]
    valid_p = precision[precision > -1]
    valid_r = recall[recall > -1]
    tp = sum(int((e["dtMatches"][0, :] > 0).sum()) for e in ev.evalImgs if e and e["aRng"] == [0, 1e10])
    n_dt = len(dets)
    return {"mAP": float(valid_p.mean()) if valid_p.size else 0.0,
            "mAR": float(valid_r.mean()) if valid_r.size else 0.0,
            "tp": tp, "fp": n_dt - tp, "fn": n_gt - tp}
