"""Instance segmentation of the seg-in-one image: yolov5-seg on the released ``yolov5`` 7.0.14 package
(unmodified). What it says is what is special to this part (seed 000, "instance segmentation"): the seg models,
the seed's keys and defaults. The yolov5 glue (:mod:`ymir_sdk.yolov5`, shared with the detection executor)
trains through ``yolov5.segment.train`` (:class:`ymir_sdk.yolov5.segment.SegStageWriter`)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ymir_sdk import Executor, pick_weight_file
from ymir_sdk.loops import instance
from ymir_sdk.config import FloatList
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
    class_distribution_scores: FloatList = []


class YoloSegExecutor(Executor):
    name = "seg-in-one/instance"
    object_types = (4,)
    TrainParams, InferParams, MineParams = TrainParams, InferParams, MineParams
    pretrained_weights = WEIGHTS

    def check_weights(self, key: str, path: str) -> None:
        import tempfile

        from ymir_sdk.yolov5.common import check_architecture, model_yaml, prepare_offline

        prepare_offline(tempfile.mkdtemp(prefix="yolov5-check-"))
        check_architecture(path, model_yaml(key))

    def train(self, ctx) -> None:
        from ymir_sdk.yolov5.segment import SegStageWriter
        from ymir_sdk.yolov5.train import train_task

        # a checkpoint every epoch for the writer's hook (it publishes and deletes them)
        train_task(ctx, "yolov5.segment.train", SegStageWriter(ctx), segments=True, save_period=1)

    def segmenter(self, ctx):
        """The task's model (``model_params_path``) for the instance loop, on this process's device."""
        from ymir_sdk.torch.devices import device_for, select_devices
        from ymir_sdk.yolov5.common import load_model, prepare_offline
        from ymir_sdk.yolov5.predict import Yolov5SegDetector

        p = ctx.params
        select_devices(p.gpu_ids)
        prepare_offline(ctx.work_dir)
        device = device_for(p.gpu_ids)
        model = load_model(pick_weight_file(ctx.model_files(), (".pt",)), len(ctx.class_names), device)
        return Yolov5SegDetector(model, device, p.img_size, p.conf_thres, p.iou_thres)

    def infer(self, ctx) -> None:
        p = ctx.params
        instance.infer(ctx, self.segmenter(ctx), p.batch_size_per_gpu, p.num_workers_per_gpu,
                       p.pin_memory and bool(p.gpu_ids))

    def mine(self, ctx) -> None:
        p = ctx.params
        instance.mine(ctx, lambda: self.segmenter(ctx), p.mining_algorithm, p.batch_size_per_gpu,
                      p.num_workers_per_gpu, p.pin_memory and bool(p.gpu_ids), p.class_distribution_scores,
                      p.mcd_iterations)
