"""seg-in-one: one image for detection (2, yolov5), semantic segmentation (3, mmsegmentation) and instance
segmentation (4, yolov5-seg) - see README.md. The executor of each object type is its own class; this
one dispatches (:class:`ymir_sdk.executor.MultiTypeExecutor`)."""
from .executor import SegInOneExecutor

__all__ = ["SegInOneExecutor"]
