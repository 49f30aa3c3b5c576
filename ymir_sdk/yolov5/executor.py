"""What every executor on the yolov5 package does the same way: its official weights recognised by their model's
yaml, and the task's trained model loaded (safely, for the task's classes) on this process's device behind the
executor's model class (:class:`~ymir_sdk.yolov5.predict.Yolov5Detector` or its seg subclass)."""
from __future__ import annotations

from ..executor import Executor
from ..models import pick_weight_file


class Yolov5Executor(Executor):
    #: the class that puts the task's model behind the family loop (``Yolov5Detector``, ``Yolov5SegDetector``)
    model_class = None

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
