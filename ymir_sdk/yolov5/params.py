"""The hyper-parameters every yolov5 executor shares (seed 001 for detection; seed 000 gives instance
segmentation the same keys). An executor narrows ``model`` to its model names and may change defaults."""
from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator

from ..config import CALD_CANDIDATES, ClassWeights, HyperParams
from ..errors import ConfigError


#: the largest input size (a letterboxed batch of 16 at 4096 px already takes 3 GiB of host memory)
MAX_IMG_SIZE = 4096


class TrainParams(HyperParams):
    shm_size: str = "128G"
    export_format: str = "ark:raw"
    model: str = "yolov5s"
    batch_size_per_gpu: int = Field(16, ge=1)
    num_workers_per_gpu: int = Field(4, ge=0)
    epochs: int = Field(100, ge=1)
    img_size: int = Field(640, ge=32, le=MAX_IMG_SIZE, multiple_of=32)
    opset: int = Field(11, ge=7)
    args_options: str = "--exist-ok"
    save_best_only: bool = True
    save_period: int = 10
    sync_bn: bool = False
    activate: str = Field("", validation_alias=AliasChoices("activate", "activation"))

    @model_validator(mode="after")
    def _p6_stride(self):
        """The P6 models (``yolov5*6``) have a stride of 64: their input size is a multiple of it."""
        if self.model.endswith("6") and self.img_size % 64:
            raise ConfigError("img_size", self.img_size, f"a multiple of 64 for the P6 model {self.model}")
        return self

    @field_validator("activate")
    @classmethod
    def _activation(cls, value: str) -> str:
        """A torch.nn activation class (checked before any work; '' keeps the model's own)."""
        if value:
            import torch

            act = getattr(torch.nn, value, None)
            if not (isinstance(act, type) and issubclass(act, torch.nn.Module) and
                    act.__module__ == "torch.nn.modules.activation"):
                raise ValueError(f"a torch.nn activation class such as ReLU, SiLU, Hardswish, LeakyReLU; "
                                 f"{value!r} is not one")
            try:
                act()
            except TypeError:
                raise ValueError(f"an activation that needs no arguments; {value} does") from None
        return value


DETECTION_MODELS = ("yolov5n", "yolov5s", "yolov5m", "yolov5l", "yolov5x", "yolov5n6", "yolov5s6", "yolov5m6",
                    "yolov5l6")
#: the official COCO weights of each detection model (ultralytics/yolov5 v7.0), in the images' weights folder
DETECTION_WEIGHTS = {m: f"https://github.com/ultralytics/yolov5/releases/download/v7.0/{m}.pt"
                     for m in DETECTION_MODELS}
DetectionModel = Literal["yolov5n", "yolov5s", "yolov5m", "yolov5l", "yolov5x", "yolov5n6", "yolov5s6", "yolov5m6",
                         "yolov5l6"]


class DetectionTrainParams(TrainParams):
    model: DetectionModel = "yolov5s"


class InferParams(HyperParams):
    img_size: int = Field(640, ge=32, le=MAX_IMG_SIZE, multiple_of=32)
    conf_thres: float = Field(0.25, ge=0, le=1)
    iou_thres: float = Field(0.45, ge=0, le=1)
    batch_size_per_gpu: int = Field(16, ge=1)
    num_workers_per_gpu: int = Field(4, ge=0)
    shm_size: str = "128G"
    pin_memory: bool = False


class MineParams(InferParams):
    mining_algorithm: str = "aldd"
    class_distribution_scores: ClassWeights = []
    cald_candidates: int = Field(0, ge=0, description=CALD_CANDIDATES)
