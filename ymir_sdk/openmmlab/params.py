"""The hyper-parameters every OpenMMLab executor shares (seeds 002-004 and the semantic part of 000: the same
keys with the same effects). An executor adds what is its own (``config_file``, ``model_name``, ``metric``) and
may change a default (e.g. ``samples_per_gpu``)."""
from __future__ import annotations

from pydantic import Field, model_validator

from ..config import CALD_CANDIDATES, ClassWeights, HyperParams


SHM = "read by the platform (the container's shared memory)"
BATCH = "images per GPU in a batch"
WORKERS = "data-loading processes per GPU"
CFG = "mmengine --cfg-options (key=value ...), merged into the config last; never given to a shell"


class _TrainParams(HyperParams):
    """The training keys of every OpenMMLab family (box families count epochs, the semantic one iterations)."""
    shm_size: str = Field("128G", description=SHM)
    export_format: str = Field("ark:raw", description="the annotation format the platform exports for training")
    samples_per_gpu: int = Field(16, ge=1, description=BATCH + " (training and validation)")
    workers_per_gpu: int = Field(4, ge=0, description=WORKERS)
    args_options: str = Field("", description="--amp (GPU), --auto-scale-lr, --seed N, --deterministic, --resume")
    cfg_options: str = Field("", description=CFG)


class TrainParams(_TrainParams):
    max_epochs: int = Field(100, ge=1, description="epochs; what the config derives from them is recomputed")
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
    class_distribution_scores: ClassWeights = Field([], description="aldd class weights, one per class, auto or none")
    cald_candidates: int = Field(0, ge=0, description=CALD_CANDIDATES)


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


# The semantic family's keys (seed 000, "sementic segmentation": mmseg counts iterations, not epochs), read by
# :class:`ymir_sdk.openmmlab.segmentation.SemanticOpenMMLabExecutor`; an executor adds its ``config_file``.
class SemanticTrainParams(_TrainParams):
    export_format: str = Field("seg-coco:raw", description="the annotation format the platform exports")
    samples_per_gpu: int = Field(2, ge=1, description=BATCH + " (training)")
    workers_per_gpu: int = Field(2, ge=0, description=WORKERS)
    max_iters: int = Field(20000, ge=1, description="training iterations (batches)")
    interval: int = Field(2000, ge=1, description="validate (and write a stage) every N iterations")
    save_least_file: bool = Field(True, description="keep only the best and the latest weights")
    max_keep_ckpts: int = Field(-1, ge=-1, description="without save_least_file: the k best and k latest; -1: all")
    ignore_black_area: bool = Field(False, description="ignore unlabelled pixels (else they train as background)")

    @model_validator(mode="before")
    @classmethod
    def _blank_area(cls, data):
        """``ignore_blank_area`` (the reference image's code read that spelling) is the same key: either one true
        ignores the unlabelled pixels (the template holds the seed's spelling, a user may add the other)."""
        if isinstance(data, dict) and "ignore_blank_area" in data:
            data = dict(data)
            blank = data.pop("ignore_blank_area")
            if "ignore_black_area" not in data or str(blank).strip().lower() in ("true", "1", "yes", "on"):
                data["ignore_black_area"] = blank
        return data


class SemanticInferParams(HyperParams):
    shm_size: str = Field("128G", description=SHM)
    samples_per_gpu: int = Field(2, ge=1, description=BATCH)
    workers_per_gpu: int = Field(2, ge=0, description=WORKERS)
    cfg_options: str = Field("", description="merged into the model's saved config before it is built")


class SemanticMineParams(SemanticInferParams):
    mining_algorithm: str = Field("RSAL", description="RSAL, RIPU, random")
    superpixel_algorithm: str = Field("slico", description="slico, slic, mslic, seeds")
    uncertainty_method: str = Field("BvSB", description="BvSB (best versus second best)")
    max_superpixel_per_image: int = Field(1024, ge=2, description="the superpixels of an image at the most")
    max_kept_mining_image: int = Field(5000, ge=1, description="the images kept by the mining at the most")
    topk_superpixel_score: int = Field(3, ge=1, description="the superpixels whose scores make an image's")
    class_balance: bool = Field(True, description="weigh the scores by the labelled set's class balance")
    fp16: bool = Field(True, description="half precision on a GPU")
    ripu_region_radius: int = Field(1, ge=0, description="RIPU's region radius (superpixels)")
