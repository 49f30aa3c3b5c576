"""yolov5 detection executor: a small adapter over the released ``yolov5`` package (7.0.14, ultralytics/yolov5
v7.0 models). What it says is what is special to yolov5 detection: its model names and their COCO weights, the
dataset as YOLO labels, and the training settings. The yolov5 glue (:mod:`ymir_sdk.yolov5`) trains through
``yolov5.train.main`` with callbacks and provides the model to the SDK's detection loop
(:mod:`ymir_sdk.loops.detection`), which infers and mines with the algorithms of :mod:`ymir_sdk.mining`."""
from __future__ import annotations

from typing import Literal

from ymir_sdk import Executor, pick_weight_file
from ymir_sdk.loops import detection
from ymir_sdk.yolov5 import params

MODELS = ("yolov5n", "yolov5s", "yolov5m", "yolov5l", "yolov5x", "yolov5n6", "yolov5s6", "yolov5m6", "yolov5l6")
#: the official COCO weights of each model (ultralytics/yolov5 v7.0), in the images' weights folder
WEIGHTS = {m: f"https://github.com/ultralytics/yolov5/releases/download/v7.0/{m}.pt" for m in MODELS}
ModelName = Literal["yolov5n", "yolov5s", "yolov5m", "yolov5l", "yolov5x", "yolov5n6", "yolov5s6", "yolov5m6",
                    "yolov5l6"]


class TrainParams(params.TrainParams):
    model: ModelName = "yolov5s"


InferParams, MineParams = params.InferParams, params.MineParams


class Yolov5Executor(Executor):
    name = "yolov5"
    object_types = (2,)
    TrainParams, InferParams, MineParams = TrainParams, InferParams, MineParams
    pretrained_weights = WEIGHTS

    def check_weights(self, key: str, path: str) -> None:
        import tempfile

        from ymir_sdk.yolov5.common import check_architecture, model_yaml, prepare_offline

        prepare_offline(tempfile.mkdtemp(prefix="yolov5-check-"))
        check_architecture(path, model_yaml(key))

    def train(self, ctx) -> None:
        from ymir_sdk.yolov5 import train

        train.train_task(ctx, "yolov5.train", train.StageWriter(ctx))

    def detector(self, ctx):
        """The task's model (``model_params_path``) for the detection loop, on this process's device."""
        from ymir_sdk.torch.devices import device_for, select_devices
        from ymir_sdk.yolov5.common import load_model, prepare_offline
        from ymir_sdk.yolov5.predict import Yolov5Detector

        p = ctx.params
        select_devices(p.gpu_ids)
        prepare_offline(ctx.work_dir)
        device = device_for(p.gpu_ids)
        model = load_model(pick_weight_file(ctx.model_files(), (".pt",)), len(ctx.class_names), device)
        return Yolov5Detector(model, device, p.img_size, p.conf_thres, p.iou_thres)

    def infer(self, ctx) -> None:
        p = ctx.params
        detection.infer(ctx, self.detector(ctx), p.batch_size_per_gpu, p.num_workers_per_gpu,
                        p.pin_memory and bool(p.gpu_ids))

    def mine(self, ctx) -> None:
        p = ctx.params
        detection.mine(ctx, lambda: self.detector(ctx), p.mining_algorithm, p.batch_size_per_gpu,
                       p.num_workers_per_gpu, p.pin_memory and bool(p.gpu_ids), p.class_distribution_scores)
