"""Batched inference with an OpenMMLab 2.x model over the candidate index: images decoded and transformed by
the config's own test pipeline in DataLoader workers, batches through the model's ``test_step`` (or its head,
for ALDD), run by the SDK's streaming candidate loop (:mod:`ymir_sdk.loops.candidates`)."""
from __future__ import annotations

import copy
import logging
import os
from typing import Optional, Sequence

import numpy as np

from ..dataset.imagesize import decode_bgr
from ..errors import ConfigError, ModelError
from ..loops.detection import Detector
from ..mining import MAX_DETECTIONS, DetOutput, HeadMaps
from .config import pipeline_dataset, strip_download_init, test_cfg_parts
from .legacy import legacy_classes

log = logging.getLogger("ymir_sdk")


def model_of(cfg):
    """The (randomly initialised) model a config describes, built without downloading anything."""
    from mmengine.registry import MODELS, init_default_scope

    init_default_scope(cfg.get("default_scope", "mmdet"))
    model_cfg = copy.deepcopy(cfg.model)
    strip_download_init({"model": model_cfg})
    try:
        return MODELS.build(model_cfg)
    except Exception as e:  # noqa: BLE001 - a config that does not build is the model package's fault
        raise ModelError(f"the model's config does not build: {type(e).__name__}: {e}") from None


def build_model(cfg, checkpoint: str, device, num_classes: Optional[int] = None):
    """The model of ``cfg`` with the weights of ``checkpoint`` (strict: a checkpoint of another architecture is
    a model error, not a half-random model), in eval mode on ``device``."""
    from mmengine.model.utils import revert_sync_batchnorm
    from mmengine.runner import load_state_dict

    from ..torch import load_checkpoint

    model = model_of(cfg)
    ckpt = load_checkpoint(checkpoint)  # not mmengine's loader: plain pickle on torch < 2.4
    try:
        load_state_dict(model, state_dict_of(ckpt, checkpoint), strict=True)
    except Exception as e:  # noqa: BLE001 - anything a broken or foreign file raises
        raise ModelError(f"model file {os.path.basename(checkpoint)} does not fit the model: "
                         f"{str(e).strip().splitlines()[0][:300]}") from None
    meta = ckpt.get("meta", {}) if isinstance(ckpt, dict) else {}
    classes = (meta.get("dataset_meta") or {}).get("classes") or legacy_classes(meta)
    if classes is not None:
        model.dataset_meta = {"classes": tuple(classes)}
        if num_classes is not None and len(classes) != num_classes:
            raise ModelError(f"the model has {len(classes)} classes, the task's class_names {num_classes}")
    model.cfg = cfg
    model = revert_sync_batchnorm(model)
    return model.to(device).eval()


def state_dict_of(ckpt, path: str) -> dict:
    """The tensors of an mmengine checkpoint (or of a bare state dict), without a DDP ``module.`` prefix."""
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ModelError(f"model file {os.path.basename(path)} holds no state_dict")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items() if hasattr(v, "shape")}


def check_pretrained(model, path: str, least: float = 0.5) -> float:
    """The share of the model's weight tensors that ``path`` provides with the right shape. Fine-tuning to other
    classes changes only the class layers; below ``least`` the file is another architecture (mmengine's
    ``load_from`` would load the few matching tensors and leave the rest random, silently): a model error."""
    from ..torch import load_checkpoint

    state = state_dict_of(load_checkpoint(path), path)
    own = model.module.state_dict() if hasattr(model, "module") else model.state_dict()
    if not own:
        return 1.0
    fit = sum(1 for k, v in own.items() if k in state and tuple(state[k].shape) == tuple(v.shape)) / len(own)
    if fit < least:
        raise ModelError(f"pretrained weights {os.path.basename(path)} do not fit the model of the config "
                         f"({fit:.0%} of its tensors match): choose the config they were trained with")
    log.info("pretrained weights %s: %.0f%% of the model's tensors match", os.path.basename(path), 100 * fit)
    return fit


def check_config_weights(config_file: str, path: str, least: float = 0.9) -> None:
    """Raise a ModelError unless ``path`` holds weights of the model ``config_file`` describes (its own class
    count: the official pretrained files): at least ``least`` of the model's tensors with their shapes."""
    from .compat import prepare_openmmlab
    from .config import load_plain_config

    prepare_openmmlab(())
    check_pretrained(model_of(load_plain_config(config_file)), path, least)


def test_pipeline(cfg, ndarray_type: str = "LoadImageFromNDArray"):
    """The config's test pipeline taking a decoded image (``results['img']``) and no annotations."""
    from mmengine.dataset import Compose

    loader = cfg.get("test_dataloader") or cfg.get("val_dataloader")
    if not loader:
        raise ModelError("the model's config has no test_dataloader/val_dataloader pipeline")
    dataset = pipeline_dataset(loader["dataset"])
    steps = []
    for step in copy.deepcopy(list(dataset.get("pipeline") or [])):
        kind = str(step.get("type", ""))
        if "LoadAnnotations" in kind:
            continue
        if kind.split(".")[-1] == "LoadImageFromFile":
            step = {k: v for k, v in step.items() if k in ("to_float32", "color_type", "imdecode_backend")}
            step["type"] = ndarray_type
        steps.append(step)
    return Compose(steps)


class Predictor(Detector):
    """A loaded model and its test pipeline, for the SDK's detection loop: ``load(path)`` runs in DataLoader
    workers, ``detect`` on batches."""

    def __init__(self, cfg, model, ndarray_type: str = "LoadImageFromNDArray"):
        self.cfg, self.model = cfg, model
        self.pipeline = test_pipeline(cfg, ndarray_type)
        self.max_per_img = max_per_img(cfg)

    def read(self, path: str) -> np.ndarray:
        return decode_bgr(path)

    def prepare(self, image: np.ndarray) -> dict:
        return self.pipeline(dict(img=image, img_id=0))

    def detect(self, prepared: Sequence[dict], heads: bool = False):
        """Per image a :class:`DetOutput` (boxes in the image's pixels); with ``heads`` also the dense head
        probabilities (:class:`HeadMaps`) of an objectness head (YOLOX-type), for ALDD."""
        import torch
        from mmengine.dataset import pseudo_collate

        batch = pseudo_collate(list(prepared))
        with torch.no_grad():
            if not heads:
                samples = self.model.test_step(batch)
                return [det_output_instances(s.pred_instances, self.max_per_img) for s in samples], None
            data = self.model.data_preprocessor(batch, False)
            inputs, samples = data["inputs"], data["data_samples"]
            head = getattr(self.model, "bbox_head", None)
            if head is None or not hasattr(head, "predict_by_feat"):
                raise ConfigError("mining_algorithm", "aldd", "a model with a dense bbox_head (YOLOX-type); "
                                  f"{type(self.model).__name__} has none: use entropy, cald or random")
            outs = head(self.model.extract_feat(inputs))
            maps = objectness_maps(outs, type(head).__name__)
            results = head.predict_by_feat(*outs, batch_img_metas=[s.metainfo for s in samples], rescale=True)
            dets = [det_output_instances(r, self.max_per_img) for r in results]
            return dets, HeadMaps(maps, tuple(int(x) for x in inputs.shape[-2:]))


def objectness_maps(outs, head_name: str = "head") -> list:
    """Per scale (B, A, h, w, C) sigmoid(objectness) x sigmoid(class) from a head whose forward returns
    (class scores (B, A*C, h, w), boxes, objectness (B, A, h, w)): YOLOX, YOLOv5-style heads. Any other head is
    a 300001 error for ALDD."""
    if not (isinstance(outs, (tuple, list)) and len(outs) == 3 and all(isinstance(o, (list, tuple)) for o in outs)):
        raise ConfigError("mining_algorithm", "aldd", f"a head with objectness outputs (YOLOX-type); {head_name} "
                          "has none: use entropy, cald or random")
    maps = []
    for cls, obj in zip(outs[0], outs[2]):
        b, ac, h, w = cls.shape
        a = obj.shape[1]
        if obj.dim() != 4 or ac % a:
            raise ConfigError("mining_algorithm", "aldd", f"a head with objectness outputs (YOLOX-type); "
                              f"{head_name}'s outputs do not have that shape")
        p = obj.float().sigmoid().reshape(b, a, 1, h, w) * cls.float().sigmoid().reshape(b, a, ac // a, h, w)
        maps.append(p.permute(0, 1, 3, 4, 2))  # (B, A, h, w, C), on the model's device
    return maps


def max_per_img(cfg) -> int:
    """The detections a model keeps per image: its config's ``max_per_img`` (``test_cfg``, or a two-stage
    model's ``test_cfg.rcnn``; the DOTA configs of mmrotate keep 2000 for dense aerial tiles), else
    :data:`~ymir_sdk.mining.MAX_DETECTIONS` (some heads, mmdet 3.1's YOLOX, have none)."""
    for part in test_cfg_parts(cfg.get("model"), "max_per_img"):
        value = part["max_per_img"]
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return MAX_DETECTIONS


def det_output_instances(inst, limit: int = MAX_DETECTIONS) -> DetOutput:
    """A model's predictions as a :class:`DetOutput`, at most ``limit`` (the best-scored; :func:`max_per_img`
    of the model's config); a box with
    a non-finite coordinate or score (an untrained or diverged model gives them) is not a detection: dropped,
    and logged. Boxes of 4 numbers are x1 y1 x2 y2; of 5, mmrotate's rotated ``cx, cy, w, h, angle`` (a tensor
    or its ``RotatedBoxes``), which become the un-rotated rectangles and their angles, in the form nearest
    upright (:func:`~ymir_sdk.dataset.rotated.nearest_upright`)."""
    from ..dataset.rotated import boxes_from_rboxes, nearest_upright

    bboxes = getattr(inst.bboxes, "tensor", inst.bboxes)  # mmdet/mmrotate box structures hold a tensor
    width = 5 if bboxes.dim() == 2 and bboxes.shape[-1] == 5 else 4
    boxes = bboxes.float().cpu().numpy().reshape(-1, width)
    scores = inst.scores.float().cpu().numpy()
    labels = inst.labels.cpu().numpy().astype(np.int64)
    finite = np.isfinite(boxes).all(axis=1) & np.isfinite(scores)
    if not finite.all():
        log.warning("%d predictions with non-finite boxes or scores dropped", int((~finite).sum()))
        boxes, scores, labels = boxes[finite], scores[finite], labels[finite]
    if len(scores) > limit:  # some heads (mmdet 3.1's YOLOX) have no max_per_img
        top = np.argsort(-scores, kind="stable")[:limit]
        boxes, scores, labels = boxes[top], scores[top], labels[top]
    if width == 5:
        rects, angles = boxes_from_rboxes(nearest_upright(boxes))
        return DetOutput(rects.astype(np.float32), scores, labels, angles=angles)
    return DetOutput(boxes, scores, labels)
