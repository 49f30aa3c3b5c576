"""A yolov5 detection model behind the SDK's detection loop (:class:`ymir_sdk.loops.detection.Detector`): images
letterboxed like yolov5's own inference, class-aware NMS that keeps each box's class probabilities, and the raw
head maps (sigmoid(objectness) x sigmoid(class)) for ALDD."""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

from ..dataset.imagesize import decode_bgr
from ..errors import ConfigError
from ..loops.detection import Detector
from ..mining import MAX_DETECTIONS, DetOutput, HeadMaps


def read_rgb(path: str) -> np.ndarray:
    return np.ascontiguousarray(decode_bgr(path)[:, :, ::-1])


def letterbox_one(img: np.ndarray, size: int):
    """The letterboxed CHW uint8 tensor of one RGB image and (ratio, padding, original shape)."""
    import torch
    from yolov5.utils.augmentations import letterbox

    boxed, ratio, pad = letterbox(img, (size, size), auto=False)
    return torch.from_numpy(np.ascontiguousarray(boxed.transpose(2, 0, 1))), (ratio, pad, img.shape[:2])


def nms_with_probs(pred, conf_thres: float, iou_thres: float, metas) -> List[DetOutput]:
    """Class-aware NMS that keeps each box's class probabilities (obj x cls), boxes scaled back to the image."""
    import torch
    import torchvision

    out = []
    for x, (ratio, (pw, ph), (h, w)) in zip(pred, metas):
        probs = x[:, 5:] * x[:, 4:5]
        score, label = probs.max(1)
        keep = score > conf_thres
        x, probs, score, label = x[keep], probs[keep], score[keep], label[keep]
        boxes = torch.cat([x[:, :2] - x[:, 2:4] / 2, x[:, :2] + x[:, 2:4] / 2], 1)
        idx = torchvision.ops.batched_nms(boxes, score, label, iou_thres)[:MAX_DETECTIONS]
        b = boxes[idx].clone()
        b[:, [0, 2]] = ((b[:, [0, 2]] - pw) / ratio[0]).clamp(0, w)
        b[:, [1, 3]] = ((b[:, [1, 3]] - ph) / ratio[1]).clamp(0, h)
        out.append(DetOutput(b.numpy(), score[idx].numpy(), label[idx].numpy(), probs[idx].numpy()))
    return out


class Yolov5Detector(Detector):
    """A loaded yolov5 model (:func:`ymir_sdk.yolov5.common.load_model`) at an input size and thresholds."""

    def __init__(self, model, device, img_size: int, conf_thres: float, iou_thres: float):
        stride = int(max(getattr(model, "stride", [32])))
        if img_size % stride:
            raise ConfigError("img_size", img_size, f"a multiple of the model's stride {stride}")
        self.model, self.device = model, device
        self.img_size, self.conf_thres, self.iou_thres = img_size, conf_thres, iou_thres

    def read(self, path: str) -> np.ndarray:
        return read_rgb(path)

    def prepare(self, image: np.ndarray):
        return letterbox_one(image, self.img_size)

    def forward(self, prepared: Sequence[Tuple]):
        """The raw outputs of a batch: (decoded predictions, per-scale head maps) and the letterbox metas."""
        import torch

        x = torch.stack([t for t, _ in prepared]).float() / 255
        with torch.no_grad():
            pred, raw = self.model(x.to(self.device, non_blocking=True))
        return pred, raw, [m for _, m in prepared]

    def detect(self, prepared, heads: bool = False):
        pred, raw, metas = self.forward(prepared)
        dets = nms_with_probs(pred.float().cpu(), self.conf_thres, self.iou_thres, metas)
        if not heads:
            return dets, None
        maps = [r[..., 4:5].sigmoid() * r[..., 5:].sigmoid() for r in raw]  # (B, A, h, w, C), on the device
        return dets, HeadMaps(maps, (self.img_size, self.img_size))
