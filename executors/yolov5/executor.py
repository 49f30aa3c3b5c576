"""yolov5 detection executor: a small adapter over the released ``yolov5`` package (7.0.14, ultralytics/yolov5
v7.0 models). What it says is what is special to yolov5 detection: its model names and their COCO weights, the
dataset as YOLO labels, and the training settings. The yolov5 glue (:mod:`ymir_sdk.yolov5`) trains through
``yolov5.train.main`` with callbacks and provides the model to the SDK's detection loop
(:mod:`ymir_sdk.loops.detection`), which infers and mines with the algorithms of :mod:`ymir_sdk.mining`."""
from __future__ import annotations

from typing import Literal

from ymir_sdk.loops import detection
from ymir_sdk.yolov5 import executor as yolov5_executor, params

MODELS = ("yolov5n", "yolov5s", "yolov5m", "yolov5l", "yolov5x", "yolov5n6", "yolov5s6", "yolov5m6", "yolov5l6")
#: the official COCO weights of each model (ultralytics/yolov5 v7.0), in the images' weights folder
WEIGHTS = {m: f"https://github.com/ultralytics/yolov5/releases/download/v7.0/{m}.pt" for m in MODELS}
ModelName = Literal["yolov5n", "yolov5s", "yolov5m", "yolov5l", "yolov5x", "yolov5n6", "yolov5s6", "yolov5m6",
                    "yolov5l6"]


class TrainParams(params.TrainParams):
    model: ModelName = "yolov5s"


InferParams, MineParams = params.InferParams, params.MineParams


class Yolov5Executor(yolov5_executor.Yolov5Executor):
    name = "yolov5"
    object_types = (2,)
    TrainParams, InferParams, MineParams = TrainParams, InferParams, MineParams
    pretrained_weights = WEIGHTS

    def train(self, ctx) -> None:
        from ymir_sdk.yolov5 import train

        train.train_task(ctx, "yolov5.train", train.StageWriter(ctx))

    def infer(self, ctx) -> None:
        p = ctx.params
        detection.infer(ctx, self.task_model(ctx), p.batch_size_per_gpu, p.num_workers_per_gpu,
                        p.pin_memory and bool(p.gpu_ids))

    def mine(self, ctx) -> None:
        p = ctx.params
        detection.mine(ctx, lambda: self.task_model(ctx), p.mining_algorithm, p.batch_size_per_gpu,
                       p.num_workers_per_gpu, p.pin_memory and bool(p.gpu_ids), p.class_distribution_scores)

    def mine_and_infer(self, mine, infer) -> bool:
        p = mine.params
        return detection.mine_and_infer(mine, infer, lambda: self.task_model(infer), p.mining_algorithm,
                                        p.batch_size_per_gpu, p.num_workers_per_gpu,
                                        p.pin_memory and bool(p.gpu_ids), p.class_distribution_scores)
