"""Model stages of the OpenMMLab 1.x-era images (mmdet 2.x, mmseg 0.x: the reference images of seeds 000 and 002)
as configs today's packages (mmdet 3.x, mmseg 1.x) run, for inference and mining.

Such a stage holds its training's dumped config (data only: :func:`ymir_sdk.openmmlab.config.check_data_only`
reads it first) and an mmcv 1.x checkpoint (``state_dict``, ``meta.CLASSES``). The model's own keys (backbone,
neck, heads, ``test_cfg``) kept their names and their weights' names across the two generations for the models
those images offered (YOLOX, FastSCNN); what moved is the input side, rebuilt here from the old config's own
values: the normalisation (``img_norm_cfg`` / the ``Normalize`` step) becomes the model's ``data_preprocessor``,
and the test pipeline's scale, ``keep_ratio`` and padding become a pipeline of today's steps. A model whose keys
today's package does not build is a 300004 naming it (:func:`ymir_sdk.openmmlab.infer.model_of`).
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional

#: model keys of mmdet 2.x's YOLOX (the batch-resize of training, a data_preprocessor's job today) and of the
#: old configs' ``pretrained`` (replaced by ``init_cfg``): no meaning for inference
_OLD_MODEL_KEYS = ("input_size", "random_size_range", "random_size_interval", "pretrained")
#: the model types that make a config a segmentation one (mmseg's segmentors)
_SEGMENTORS = ("EncoderDecoder", "CascadeEncoderDecoder")


def is_legacy(cfg) -> bool:
    """A config of the 1.x era: a ``data`` dict of datasets, and none of today's data loaders."""
    return isinstance(cfg.get("data"), dict) and not any(
        k in cfg for k in ("test_dataloader", "val_dataloader", "train_dataloader"))


def _steps(pipeline: List[dict]) -> List[dict]:
    """The steps of a pipeline with ``MultiScaleFlipAug``'s inner steps in its place (its ``img_scale`` moved
    onto the ``Resize`` inside)."""
    out: List[dict] = []
    for step in pipeline or []:
        if step.get("type") == "MultiScaleFlipAug":
            scale = step.get("img_scale") or step.get("scale")
            for inner in _steps(step.get("transforms") or []):
                if inner.get("type") == "Resize" and scale is not None:
                    inner = {**inner, "img_scale": scale}
                out.append(inner)
        else:
            out.append(dict(step))
    return out


def _scale(value: Any) -> Optional[tuple]:
    if isinstance(value, list) and value and isinstance(value[0], (list, tuple)):
        value = value[0]  # several test scales: the first (one scale at inference, as the old test did)
    return tuple(int(v) for v in value) if isinstance(value, (list, tuple)) and len(value) == 2 else None


def modern_config(cfg) -> Dict[str, Any]:
    """The dict of a today's config for the old config ``cfg`` (see the module docstring)."""
    model = copy.deepcopy(dict(cfg.model))
    for key in _OLD_MODEL_KEYS:
        model.pop(key, None)
    segmentation = str(model.get("type", "")).split(".")[-1] in _SEGMENTORS
    from .config import pipeline_dataset  # (config reads stages through this module)

    data = cfg.get("data") or {}
    test = pipeline_dataset(data.get("test") or data.get("val") or {})
    steps = _steps(test.get("pipeline") or cfg.get("test_pipeline") or [])
    norm = dict(cfg.get("img_norm_cfg") or next((s for s in steps if s.get("type") == "Normalize"), {}))
    resize = next((s for s in steps if s.get("type") == "Resize"), {})
    pad = next((s for s in steps if s.get("type") == "Pad"), None)
    scale = _scale(resize.get("img_scale") or resize.get("scale"))
    preprocessor: Dict[str, Any] = dict(mean=list(norm.get("mean", (0.0, 0.0, 0.0))),
                                        std=list(norm.get("std", (1.0, 1.0, 1.0))),
                                        bgr_to_rgb=bool(norm.get("to_rgb", False)))
    pipeline: List[dict] = [dict(type="LoadImageFromFile")]
    if scale is not None:
        pipeline.append(dict(type="Resize", scale=scale, keep_ratio=bool(resize.get("keep_ratio", True))))
    if segmentation:
        model["data_preprocessor"] = dict(type="SegDataPreProcessor", pad_val=0, seg_pad_val=255, **preprocessor)
        pipeline.append(dict(type="PackSegInputs"))
        scope = "mmseg"
    else:
        model["data_preprocessor"] = dict(type="DetDataPreprocessor", pad_size_divisor=int(
            (pad or {}).get("size_divisor") or 1), **preprocessor)
        if pad is not None and (pad.get("pad_to_square") or pad.get("size")):
            value = pad.get("pad_val", 0)
            value = value.get("img", 0) if isinstance(value, dict) else value
            step = dict(type="Pad", pad_val=dict(img=value))
            step.update(dict(pad_to_square=True) if pad.get("pad_to_square") else dict(size=pad["size"]))
            pipeline.append(step)
        pipeline.append(dict(type="PackDetInputs", meta_keys=("img_id", "img_path", "ori_shape", "img_shape",
                                                              "scale_factor")))
        scope = "mmdet"
    return dict(model=model, default_scope=scope, test_pipeline=pipeline,
                test_dataloader=dict(batch_size=1, dataset=dict(pipeline=pipeline)))


def legacy_classes(meta: Any) -> Optional[List[str]]:
    """The class names an mmcv 1.x checkpoint's meta holds (``CLASSES``), the background class of the reference
    semantic image (``ymir_background``) under today's name."""
    classes = meta.get("CLASSES") if isinstance(meta, dict) else None
    if not isinstance(classes, (list, tuple)):
        return None
    return ["background" if (i == 0 and c == "ymir_background") else str(c) for i, c in enumerate(classes)]


__all__ = ["is_legacy", "modern_config", "legacy_classes"]
