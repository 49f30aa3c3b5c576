"""The seg-in-one image's executor. Its parts: detection, the SDK's yolov5 detection executor (the yolov5 image's
own); semantic and instance segmentation, :mod:`.semantic` and :mod:`.instance`. config.yaml's ``object_type``
(platform 2.4+), else the export format (a training) or the model (inference, mining: its package's
``ymir-info.yaml``, else its files) chooses the part; anything else is a 300005 error."""
from __future__ import annotations

from typing import Any, Mapping

from ymir_sdk.errors import ConfigError
from ymir_sdk.executor import MultiTypeExecutor
from ymir_sdk.yolov5.executor import Yolov5DetectionExecutor

from .instance import YoloSegExecutor
from .semantic import MmsegExecutor


class SegInOneExecutor(MultiTypeExecutor):
    name = "seg-in-one"
    executors = {2: Yolov5DetectionExecutor, 3: MmsegExecutor, 4: YoloSegExecutor}
    #: a training without config.yaml's object_type: its export format (the seed's: ark for detection); seg-coco
    #: is both semantic and instance segmentation's
    export_formats = {"ark": 2, "det-ark": 2, "voc": 2, "det-voc": 2, "det-coco": 2}
    AMBIGUOUS = ("seg-coco", "coco")

    def guess_object_type(self, config: Mapping[str, Any], env) -> Any:
        if env.run_training:
            fmt = str(config.get("export_format") or "").split(":")[0].lower()
            if fmt in self.AMBIGUOUS:
                raise ConfigError("object_type", config.get("object_type"), f"3 (semantic) or 4 (instance "
                                  f"segmentation): the export format {fmt} is both's, and config.yaml does not say")
            return self.export_formats.get(fmt)
        told = super().guess_object_type(config, env)
        return told if told not in (None, "") else self.model_object_type(config, env)

    @staticmethod
    def model_object_type(config: Mapping[str, Any], env) -> Any:
        """The model files': an mmseg stage carries its config (``.py``: 3); a yolov5 checkpoint holds its model,
        a ``SegmentationModel`` (4) or a detection model (2). Loaded safely; None when nothing tells."""
        from ymir_sdk.config import HyperParams
        from ymir_sdk.models import resolve_model_files

        paths = HyperParams.parse({"model_params_path": config.get("model_params_path")}).model_params_path
        if any(p.endswith(".py") for p in paths):
            return 3
        try:
            weights = resolve_model_files([p for p in paths if p.endswith(".pt")], env.input.models_dir)
        except Exception:  # noqa: BLE001 - the part's own task reports missing files with their names
            return None
        if not weights:
            return None
        from ymir_sdk.errors import ModelError
        from ymir_sdk.torch import load_checkpoint
        from ymir_sdk.yolov5.common import prepare_offline

        prepare_offline()
        try:
            ckpt = load_checkpoint(weights[0])
        except ModelError:
            return None
        model = (ckpt.get("ema") or ckpt.get("model")) if isinstance(ckpt, dict) else None
        return 4 if type(model).__name__ == "SegmentationModel" else 2 if model is not None else None
