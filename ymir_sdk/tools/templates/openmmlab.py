"""__NAME__: a YMIR executor on ymir-sdk (made by `ymir-sdk new`, template openmmlab).

Detection on the released mmdet 3.1.0, unmodified, through the SDK's OpenMMLab glue
(:class:`ymir_sdk.openmmlab.executor.OpenMMLabExecutor`: training on mmengine's runner with progress and model
stages, batched inference, mining with random, entropy, aldd and cald). What this class says is what is special
to the executor: its package, its default config, its keys. Add ``pretrained_weights`` (config -> URL) for the
image to fetch them at build time.
"""
from pydantic import Field

from ymir_sdk.openmmlab import params
from ymir_sdk.openmmlab.executor import OpenMMLabExecutor


class TrainParams(params.TrainParams):
    config_file: str = Field("configs/yolox/yolox_tiny_8xb8-300e_coco.py",
                             description="an mmdet 3.x config: a path inside the package's configs/ or a file")
    metric: str = Field("bbox", pattern="^bbox$", description="the evaluation (COCO box evaluation)")


class __CLASS__(OpenMMLabExecutor):
    name = "__NAME__"
    package = "mmdet"
    object_types = (2,)
    TrainParams = TrainParams
