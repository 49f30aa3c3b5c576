"""yolov5 detection executor: the released ``yolov5`` package (7.0.14, ultralytics/yolov5 v7.0 models), unmodified.
Everything it does is yolov5 detection as the SDK's yolov5 glue has it
(:class:`ymir_sdk.yolov5.executor.Yolov5DetectionExecutor`: the model names and their COCO weights, the dataset as
YOLO labels, training through ``yolov5.train.main`` with callbacks, inference and mining through the SDK's
detection loop); seg-in-one's detection part is the same class."""
from __future__ import annotations

from ymir_sdk.yolov5.executor import Yolov5DetectionExecutor


class Yolov5Executor(Yolov5DetectionExecutor):
    """The yolov5 image: yolov5 detection, nothing added."""
