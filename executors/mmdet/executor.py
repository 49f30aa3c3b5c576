"""mmdet detection executor: a small adapter over the released mmdet 3.x package (unmodified), YOLOX by default
and any mmdet 3.x detection config a user names. Training, inference and mining loops are the SDK's shared
OpenMMLab glue (``ymir_sdk.openmmlab.detection``)."""
from __future__ import annotations

from pydantic import Field

from ymir_sdk import Executor, HyperParams
from ymir_sdk.config import FloatList
from ymir_sdk.openmmlab.config import resolve_config_file
from ymir_sdk.openmmlab.detection import infer_detection, mine_detection, train_detection

#: the mmdet 2.x file names the reference image's templates use -> mmdet 3.x's own YOLOX configs
ALIASES = {f"yolox/yolox_{size}_8x8_300e_coco.py": f"yolox/yolox_{size}_8xb8-300e_coco.py"
           for size in ("nano", "tiny", "s", "m", "l", "x")}


class TrainParams(HyperParams):
    shm_size: str = "128G"
    export_format: str = "ark:raw"
    config_file: str = "configs/yolox/yolox_tiny_8x8_300e_coco.py"
    samples_per_gpu: int = Field(16, ge=1)
    workers_per_gpu: int = Field(4, ge=0)
    max_epochs: int = Field(100, ge=1)
    args_options: str = ""
    cfg_options: str = ""
    metric: str = Field("bbox", pattern="^bbox$")
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
    cfg_options: str = ""
    class_distribution_scores: FloatList = []
    samples_per_gpu: int = Field(8, ge=1)
    workers_per_gpu: int = Field(4, ge=0)


class MmdetExecutor(Executor):
    name = "mmdet"
    object_types = (2,)
    TrainParams, InferParams, MineParams = TrainParams, InferParams, MineParams

    def train(self, ctx) -> None:
        p = ctx.params
        train_detection(ctx, resolve_config_file(p.config_file, "mmdet", ALIASES), batch_size=p.samples_per_gpu,
                        workers=p.workers_per_gpu, max_epochs=p.max_epochs, val_interval=p.val_interval,
                        max_keep_checkpoints=p.max_keep_checkpoints, cfg_options=p.cfg_options,
                        args_options=p.args_options, metric=p.metric)

    def infer(self, ctx) -> None:
        p = ctx.params
        infer_detection(ctx, conf_threshold=p.conf_threshold, cfg_options=p.cfg_options,
                        batch_size=p.samples_per_gpu, workers=p.workers_per_gpu)

    def mine(self, ctx) -> None:
        p = ctx.params
        mine_detection(ctx, algorithm=p.mining_algorithm, cfg_options=p.cfg_options, batch_size=p.samples_per_gpu,
                       workers=p.workers_per_gpu, class_weights=p.class_distribution_scores)
