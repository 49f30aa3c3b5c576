"""The hyper-parameters every OpenMMLab executor shares (seeds 002-004 and the semantic part of 000: the same
keys with the same effects). An executor adds what is its own (``config_file``, ``model_name``, ``metric``) and
may change a default (e.g. ``samples_per_gpu``)."""
from __future__ import annotations

from pydantic import Field

from ..config import FloatList, HyperParams


SHM = "read by the platform (the container's shared memory)"
BATCH = "images per GPU in a batch"
WORKERS = "data-loading processes per GPU"
CFG = "mmengine --cfg-options (key=value ...), merged into the config last; never given to a shell"


class TrainParams(HyperParams):
    shm_size: str = Field("128G", description=SHM)
    export_format: str = Field("ark:raw", description="the annotation format the platform exports for training")
    samples_per_gpu: int = Field(16, ge=1, description=BATCH + " (training and validation)")
    workers_per_gpu: int = Field(4, ge=0, description=WORKERS)
    max_epochs: int = Field(100, ge=1, description="epochs; what the config derives from them is recomputed")
    args_options: str = Field("", description="--amp (GPU), --auto-scale-lr, --seed N, --deterministic, --resume")
    cfg_options: str = Field("", description=CFG)
    val_interval: int = Field(1, ge=1, description="validate (and write a stage) every N epochs, and after the last")
    max_keep_checkpoints: int = Field(1, ge=-1, description="the k latest and the k best stages are kept; -1: all")


class InferParams(HyperParams):
    shm_size: str = Field("128G", description=SHM)
    conf_threshold: float = Field(0.2, ge=0, le=1, description="keep boxes scoring at least this")
    cfg_options: str = Field("", description="merged into the model's saved config before it is built")
    samples_per_gpu: int = Field(8, ge=1, description=BATCH)
    workers_per_gpu: int = Field(4, ge=0, description=WORKERS)


class BoxMineParams(HyperParams):
    """The mining keys of every OpenMMLab box executor; aldd's class weights only where aldd is offered
    (:class:`MineParams`): a template key does what its text says."""
    shm_size: str = Field("128G", description=SHM)
    mining_algorithm: str = Field("entropy", description="cald, entropy, random")
    conf_threshold: float = Field(0.1, ge=0, le=1, description="the box algorithms see boxes scoring at least this")
    cfg_options: str = Field("", description="merged into the model's saved config before it is built")
    samples_per_gpu: int = Field(8, ge=1, description=BATCH)
    workers_per_gpu: int = Field(4, ge=0, description=WORKERS)


class MineParams(BoxMineParams):
    mining_algorithm: str = Field("aldd", description="aldd (objectness heads), cald, entropy, random")
    class_distribution_scores: FloatList = Field([], description="aldd class weights, one per class (or none)")


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


class NmsBoxMineParams(BoxMineParams):
    """:class:`NmsMineParams` of an executor without aldd (rotated boxes: its measures are defined on upright
    boxes, and the rotated heads have no objectness; CALD's consistency matches upright boxes)."""
    mining_algorithm: str = Field("entropy", description="entropy, random")
    iou_threshold: float = Field(0.65, ge=0, le=1)
