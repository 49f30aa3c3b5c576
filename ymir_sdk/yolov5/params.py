"""The hyper-parameters every yolov5 executor shares (seed 001 for detection; seed 000 gives instance
segmentation the same keys). An executor narrows ``model`` to its model names and may change defaults."""
from __future__ import annotations

from pydantic import AliasChoices, Field

from ..config import FloatList, HyperParams


class TrainParams(HyperParams):
    shm_size: str = "128G"
    export_format: str = "ark:raw"
    model: str = "yolov5s"
    batch_size_per_gpu: int = Field(16, ge=1)
    num_workers_per_gpu: int = Field(4, ge=0)
    epochs: int = Field(100, ge=1)
    img_size: int = Field(640, ge=32)
    opset: int = Field(11, ge=7)
    args_options: str = "--exist-ok"
    save_best_only: bool = True
    save_period: int = 10
    sync_bn: bool = False
    activate: str = Field("", validation_alias=AliasChoices("activate", "activation"))


class InferParams(HyperParams):
    img_size: int = Field(640, ge=32)
    conf_thres: float = Field(0.25, ge=0, le=1)
    iou_thres: float = Field(0.45, ge=0, le=1)
    batch_size_per_gpu: int = Field(16, ge=1)
    num_workers_per_gpu: int = Field(4, ge=0)
    shm_size: str = "128G"
    pin_memory: bool = False


class MineParams(InferParams):
    mining_algorithm: str = "aldd"
    class_distribution_scores: FloatList = []
