"""The hyper-parameters every OpenMMLab executor shares (seeds 002-004 and the semantic part of 000: the same
keys with the same effects). An executor adds what is its own (``config_file``, ``model_name``, ``metric``) and
may change a default (e.g. ``samples_per_gpu``)."""
from __future__ import annotations

from pydantic import Field

from ..config import FloatList, HyperParams


class TrainParams(HyperParams):
    shm_size: str = "128G"
    export_format: str = "ark:raw"
    samples_per_gpu: int = Field(16, ge=1)
    workers_per_gpu: int = Field(4, ge=0)
    max_epochs: int = Field(100, ge=1)
    args_options: str = ""
    cfg_options: str = ""
    val_interval: int = Field(1, ge=1)
    max_keep_checkpoints: int = Field(1, ge=-1)


class InferParams(HyperParams):
    shm_size: str = "128G"
    conf_threshold: float = Field(0.2, ge=0, le=1)
    cfg_options: str = ""
    samples_per_gpu: int = Field(8, ge=1)
    workers_per_gpu: int = Field(4, ge=0)


class MineParams(HyperParams):
    shm_size: str = "128G"
    mining_algorithm: str = "aldd"
    conf_threshold: float = Field(0.1, ge=0, le=1)
    cfg_options: str = ""
    class_distribution_scores: FloatList = []
    samples_per_gpu: int = Field(8, ge=1)
    workers_per_gpu: int = Field(4, ge=0)


# The keys the mmyolo and mmrotate seeds (003, 004) share beyond these: a model table, ``iou_threshold`` for the
# model's NMS, entropy mining by default.
class ModelTableTrainParams(TrainParams):
    model_name: str = ""
    config_file: str = ""
    samples_per_gpu: int = Field(8, ge=1)


class NmsInferParams(InferParams):
    iou_threshold: float = Field(0.65, ge=0, le=1)


class NmsMineParams(MineParams):
    mining_algorithm: str = "entropy"
    iou_threshold: float = Field(0.65, ge=0, le=1)
