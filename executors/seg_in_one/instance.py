"""Instance segmentation of the seg-in-one image: yolov5-seg on the released ``yolov5`` 7.0.14 package
(unmodified). What it says is what is special to this part (seed 000, "instance segmentation"): the seg models,
the seed's keys and defaults. The yolov5 glue (:mod:`ymir_sdk.yolov5`, shared with the detection executor)
trains through ``yolov5.segment.train`` (:class:`ymir_sdk.yolov5.segment.SegStageWriter`)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ymir_sdk.loops import instance
from ymir_sdk.yolov5.executor import Yolov5Base
from ymir_sdk.config import CALD_CANDIDATES, ClassWeights
from ymir_sdk.yolov5 import params

SEG_MODELS = ("yolov5n-seg", "yolov5s-seg", "yolov5m-seg", "yolov5l-seg", "yolov5x-seg")
#: the official COCO weights of each model (ultralytics/yolov5 v7.0), in the image's weights folder
WEIGHTS = {m: f"https://github.com/ultralytics/yolov5/releases/download/v7.0/{m}.pt" for m in SEG_MODELS}
SegModel = Literal["yolov5n-seg", "yolov5s-seg", "yolov5m-seg", "yolov5l-seg", "yolov5x-seg"]


class TrainParams(params.TrainParams):
    export_format: str = "seg-coco:raw"
    model: SegModel = "yolov5s-seg"


class InferParams(params.InferParams):
    pass


class MineParams(params.InferParams):
    mining_algorithm: str = "apis"
    mcd_iterations: int = Field(10, ge=2)
    class_distribution_scores: ClassWeights = []
    cald_candidates: int = Field(0, ge=0, description=CALD_CANDIDATES)


class YoloSegExecutor(Yolov5Base):
    name = "seg-in-one/instance"
    loop = instance
    object_types = (4,)
    TrainParams, InferParams, MineParams = TrainParams, InferParams, MineParams
    pretrained_weights = WEIGHTS

    @property
    def model_class(self):
        from ymir_sdk.yolov5.predict import Yolov5SegDetector

        return Yolov5SegDetector

    def train(self, ctx) -> None:
        from ymir_sdk.yolov5.segment import SegStageWriter
        from ymir_sdk.yolov5.train import train_task

        # a checkpoint every epoch for the writer's hook (it publishes and deletes them)
        train_task(ctx, "yolov5.segment.train", SegStageWriter(ctx), segments=True, save_period=1)

    def mine_and_infer(self, mine, infer) -> bool:
        return False  # instance inference (masks) is another pass than the box mining algorithms'

    def mining_options(self, p) -> dict:
        return {"mcd_iterations": p.mcd_iterations}
