"""Entry point of the yolov5 executor image (the image's CMD runs it; its PYTHONPATH holds executors/)."""
import sys

from executors.yolov5 import Yolov5Executor
from ymir_sdk import run

if __name__ == "__main__":
    sys.exit(run(Yolov5Executor))
