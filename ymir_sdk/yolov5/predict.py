"""A yolov5 detection model behind the SDK's detection loop (:class:`ymir_sdk.loops.detection.Detector`): images
letterboxed like yolov5's own inference, class-aware NMS that keeps each box's class probabilities, and the raw
head maps (sigmoid(objectness) x sigmoid(class)) for ALDD."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..dataset.imagesize import read_rgb
from ..errors import ConfigError
from ..loops.detection import Detector
from ..loops.instance import InstanceSegmenter
from ..mining import MAX_DETECTIONS, DetOutput, HeadMaps


def letterbox_one(img: np.ndarray, size: int):
    """The letterboxed CHW uint8 tensor of one RGB image and (ratio, padding, original shape)."""
    import torch
    from yolov5.utils.augmentations import letterbox

    boxed, ratio, pad = letterbox(img, (size, size), auto=False)
    return torch.from_numpy(np.ascontiguousarray(boxed.transpose(2, 0, 1))), (ratio, pad, img.shape[:2])


def nms_with_probs(pred, conf_thres: float, iou_thres: float, metas, nc: Optional[int] = None,
                   coefficients: Optional[list] = None) -> List[DetOutput]:
    """Class-aware NMS that keeps each box's class probabilities (obj x cls), boxes scaled back to the image.
    ``nc``: the class count, when the predictions carry more columns (yolov5-seg: 32 mask coefficients after the
    classes), whose rows of the kept boxes are appended to ``coefficients`` (with the boxes in the network's
    input pixels), one ``(coefficients, input boxes)`` pair per image."""
    import torch
    import torchvision

    out = []
    for x, (ratio, (pw, ph), (h, w)) in zip(pred, metas):
        end = 5 + (nc if nc is not None else x.shape[1] - 5)
        probs = x[:, 5:end] * x[:, 4:5]
        score, label = probs.max(1)
        keep = score > conf_thres
        x, probs, score, label = x[keep], probs[keep], score[keep], label[keep]
        boxes = torch.cat([x[:, :2] - x[:, 2:4] / 2, x[:, :2] + x[:, 2:4] / 2], 1)
        idx = torchvision.ops.batched_nms(boxes, score, label, iou_thres)[:MAX_DETECTIONS]
        if coefficients is not None:
            coefficients.append((x[idx, end:], boxes[idx]))
        b = boxes[idx].clone()
        b[:, [0, 2]] = ((b[:, [0, 2]] - pw) / ratio[0]).clamp(0, w)
        b[:, [1, 3]] = ((b[:, [1, 3]] - ph) / ratio[1]).clamp(0, h)
        out.append(DetOutput(b.cpu().numpy(), score[idx].cpu().numpy(), label[idx].cpu().numpy(),
                             probs[idx].cpu().numpy()))
    return out


class Yolov5Detector(Detector):
    """A loaded yolov5 model (:func:`ymir_sdk.yolov5.common.load_model`) at an input size and thresholds."""

    def __init__(self, model, device, img_size: int, conf_thres: float, iou_thres: float):
        stride = int(max(getattr(model, "stride", [32])))
        if img_size % stride:
            raise ConfigError("img_size", img_size, f"a multiple of the model's stride {stride}")
        self.model, self.device = model, device
        self.img_size, self.conf_thres, self.iou_thres = img_size, conf_thres, iou_thres
        self.nc = int(getattr(model, "nc", 0)) or None

    def read(self, path: str) -> np.ndarray:
        return read_rgb(path)

    def prepare(self, image: np.ndarray):
        return letterbox_one(image, self.img_size)

    def forward(self, prepared: Sequence[Tuple]):
        """The raw outputs of a batch: (decoded predictions, per-scale head maps) and the letterbox metas."""
        import torch

        x = torch.stack([t for t, _ in prepared]).float() / 255
        with torch.no_grad():
            out = self.model(x.to(self.device, non_blocking=True))
        self.protos = out[1] if len(out) == 3 else None  # yolov5-seg: (predictions, protos, raw maps)
        return out[0], out[-1], [m for _, m in prepared]

    def detect(self, prepared, heads: bool = False):
        pred, raw, metas = self.forward(prepared)
        dets = nms_with_probs(pred.float().cpu(), self.conf_thres, self.iou_thres, metas, self.nc)
        if not heads:
            return dets, None
        end = 5 + (self.nc or raw[0].shape[-1] - 5)
        maps = [r[..., 4:5].sigmoid() * r[..., 5:end].sigmoid() for r in raw]  # (B, A, h, w, C), on the device
        return dets, HeadMaps(maps, (self.img_size, self.img_size))


#: instances whose full-resolution masks are made at once (a 12 MP image: 48 MB of float each)
MASK_CHUNK = 8
#: MaskAL's Monte-Carlo DropBlock (yolov5 models have no dropout): on the outputs of these layers
MCD_LAYERS, MCD_P, MCD_BLOCK = (3, 5, 7), 0.1, 7


class Yolov5SegDetector(Yolov5Detector, InstanceSegmenter):
    """A yolov5-seg model for the instance loop (:class:`ymir_sdk.loops.instance.InstanceSegmenter`): the boxes
    of :class:`Yolov5Detector` (so the box-level mining algorithms apply unchanged) and each box's own mask
    (its row's coefficients on the image's prototypes: box j keeps mask j)."""

    def _instances(self, prepared):
        """Per image (DetOutput, coefficients (N, 32), boxes in input pixels, protos (32, h, w)), on the device."""
        pred, _, metas = self.forward(prepared)
        pairs: list = []
        dets = nms_with_probs(pred.float(), self.conf_thres, self.iou_thres, metas, self.nc, pairs)
        return [(d, c, b, p) for d, (c, b), p in zip(dets, pairs, self.protos.float())], metas

    def instances(self, prepared) -> list:
        """Per image its Instances (class, RLE mask at the image's size, score), masks made a few at a time."""
        import torch

        from ..results import Instance, encoded

        out: list = [[] for _ in prepared]
        with torch.no_grad():
            for n, det, i, masks in self.mask_chunks(prepared):
                out[n] += encoded([Instance(int(c), m, float(s)) for c, m, s in
                                   zip(det.labels[i:i + MASK_CHUNK], masks, det.scores[i:i + MASK_CHUNK])])
        return out

    def mask_chunks(self, prepared):
        """``(image index, its DetOutput, first detection j, masks of detections j.. (n, h, w) bool at the image's
        size)``, :data:`MASK_CHUNK` masks at a time; an image without detections yields nothing. Call it under
        ``torch.no_grad()``."""
        import torch
        from yolov5.utils.segment.general import process_mask_native

        items, metas = self._instances(prepared)
        for n, ((det, coeffs, _, protos), (_, _, (h, w))) in enumerate(zip(items, metas)):
            boxes = torch.as_tensor(det.boxes, dtype=torch.float32, device=protos.device)
            for i in range(0, len(det), MASK_CHUNK):
                masks = process_mask_native(protos, coeffs[i:i + MASK_CHUNK], boxes[i:i + MASK_CHUNK], (h, w))
                yield n, det, i, masks.bool().cpu().numpy()

    def segment(self, prepared) -> list:
        """Per image an InstOutput: the detections and their mask probabilities at the prototypes' resolution
        (the network input / 4, letterbox padding included), cropped to each box: bounded memory for mining."""
        import torch
        from yolov5.utils.segment.general import crop_mask

        from ..mining import InstOutput

        out = []
        with torch.no_grad():
            items, _ = self._instances(prepared)
            for det, coeffs, boxes, protos in items:
                c, mh, mw = protos.shape
                masks = (coeffs.float() @ protos.reshape(c, -1)).sigmoid().reshape(-1, mh, mw)
                scale = torch.tensor([mw, mh, mw, mh], device=boxes.device, dtype=boxes.dtype) / self.img_size
                out.append(InstOutput(det, crop_mask(masks, boxes * scale).cpu().numpy()))
        return out

    def mc_passes(self, prepared, iterations: int) -> list:
        """MaskAL's passes: per image ``iterations`` InstOutputs with DropBlock (p 0.1, block 7) on the outputs of
        layers 3, 5 and 7 (forward hooks: the package's model is not changed; it was trained without dropout,
        unlike MaskAL's Mask R-CNN)."""
        def drop(module, inputs, output):
            side = min(MCD_BLOCK, *output.shape[-2:])  # an odd block that fits a small map
            return drop_block(output, MCD_P, side - (1 - side % 2))

        layers = [self.model.model[i] for i in MCD_LAYERS if i < len(self.model.model)]
        handles = [layer.register_forward_hook(drop) for layer in layers]
        try:
            passes = [self.segment(prepared) for _ in range(iterations)]
        finally:
            for h in handles:
                h.remove()
        return [list(per_image) for per_image in zip(*passes)]


def drop_block(x, p: float, block: int):
    """DropBlock (Ghiasi et al. 2018), as torchvision's ``drop_block2d`` (torchvision >= 0.12; the images' 0.9.1
    has none): blocks of ``block`` x ``block`` (odd) zeroed per channel with a rate that drops about ``p`` of the
    map, the rest rescaled."""
    import torch
    import torch.nn.functional as F

    n, c, h, w = x.shape
    gamma = (p * h * w) / ((block ** 2) * ((h - block + 1) * (w - block + 1)))
    noise = torch.empty((n, c, h - block + 1, w - block + 1), dtype=x.dtype, device=x.device).bernoulli_(gamma)
    noise = F.pad(noise, [block // 2] * 4, value=0)
    noise = F.max_pool2d(noise, stride=(1, 1), kernel_size=(block, block), padding=block // 2)
    keep = 1 - noise
    return x * keep * (keep.numel() / (1e-6 + keep.sum()))
