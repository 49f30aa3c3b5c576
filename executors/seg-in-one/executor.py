"""The seg-in-one image's executor: config.yaml's ``object_type`` (platform 2.4+), else the export format (a
training) or the model package (inference, mining) chooses the part; anything else is a 300005 error."""
from __future__ import annotations

from executors.yolov5 import Yolov5Executor
from ymir_sdk.executor import MultiTypeExecutor

from .semantic import MmsegExecutor


class SegInOneExecutor(MultiTypeExecutor):
    name = "seg-in-one"
    executors = {2: Yolov5Executor, 3: MmsegExecutor}  # 4 (yolov5-seg, instance.py): in progress
    #: a training without config.yaml's object_type: its export format (the seed's: ark for detection, seg-coco
    #: for segmentation)
    export_formats = {**MultiTypeExecutor.export_formats, "seg-coco": 3}
