"""The executors on the released ``yolov5`` package: :class:`Yolov5Base`, what every one does the same way (its
official weights recognised by their model's yaml; the task's trained model loaded, safely, for the task's
classes, on this process's device, behind the executor's model class), and :class:`Yolov5DetectionExecutor`,
yolov5 detection (seed 001) - the yolov5 image's executor and seg-in-one's detection part: its model names and
their COCO weights, the dataset as YOLO labels, training through ``yolov5.train.main`` with callbacks, inference
and mining through the SDK's detection loop (:mod:`ymir_sdk.loops.detection`)."""
from __future__ import annotations

from ..executor import Executor
from ..loops import detection
from ..loops.settings import Batching, Mining
from ..models import pick_weight_file
from . import params


class Yolov5Base(Executor):
    #: the class that puts the task's model behind the family loop (``Yolov5Detector``, ``Yolov5SegDetector``)
    model_class = None
    #: the task family's loop (:mod:`ymir_sdk.loops.detection`, :mod:`ymir_sdk.loops.instance`)
    loop = detection

    @staticmethod
    def loader(p) -> Batching:
        """The family loop's batching from a task's params (every yolov5 template has the same keys)."""
        return Batching(p.batch_size_per_gpu, p.num_workers_per_gpu, p.pin_memory and bool(p.gpu_ids))

    def mining_options(self, p) -> dict:
        """The family loop's mining options (:attr:`ymir_sdk.loops.settings.Mining.options`)."""
        return {}

    def mining(self, p) -> Mining:
        """The mining task's settings, built once (the algorithm's name validated here)."""
        return Mining.of(p.mining_algorithm, self.object_types[0], self.loader(p),
                         class_weights=p.class_distribution_scores, cald_candidates=p.cald_candidates,
                         options=self.mining_options(p))

    def infer(self, ctx) -> None:
        self.loop.infer(ctx, self.task_model(ctx), self.loader(ctx.params))

    def mine(self, ctx) -> None:
        self.loop.mine(ctx, lambda: self.task_model(ctx), self.mining(ctx.params))

    def check_weights(self, key: str, path: str) -> None:
        from .common import check_architecture, model_yaml, prepare_offline

        prepare_offline()
        check_architecture(path, model_yaml(key))

    def task_model(self, ctx):
        """The task's model (``model_params_path``) behind :attr:`model_class`, on this process's device."""
        from ..torch.devices import device_for, select_devices
        from .common import load_model, prepare_offline
        from .predict import Yolov5Detector

        p = ctx.params
        select_devices(p.gpu_ids)
        prepare_offline(ctx.work_dir)
        device = device_for(p.gpu_ids)
        model = load_model(pick_weight_file(ctx.model_files(), (".pt",)), len(ctx.class_names), device)
        return (self.model_class or Yolov5Detector)(model, device, p.img_size, p.conf_thres, p.iou_thres)


class Yolov5DetectionExecutor(Yolov5Base):
    name = "yolov5"
    object_types = (2,)
    TrainParams, InferParams, MineParams = params.DetectionTrainParams, params.InferParams, params.MineParams
    pretrained_weights = params.DETECTION_WEIGHTS

    def train(self, ctx) -> None:
        from . import train

        train.train_task(ctx, "yolov5.train", train.StageWriter(ctx))

    def mine_and_infer(self, mine, infer) -> bool:
        return detection.mine_and_infer(mine, infer, lambda: self.task_model(infer), self.mining(mine.params))
