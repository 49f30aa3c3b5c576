"""``ymir_exc.dataset_convert.ymir2yolov5`` as the original's 2.x releases spell it (public executors import the
converter from here): the converter itself is :func:`ymir_exc.dataset_convert.convert_ymir_to_yolov5`."""
from . import convert_ymir_to_yolov5

__all__ = ["convert_ymir_to_yolov5"]
