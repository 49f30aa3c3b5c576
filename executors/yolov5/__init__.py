"""yolov5 detection executor (see README.md)."""
from .executor import Yolov5Executor

__all__ = ["Yolov5Executor"]
