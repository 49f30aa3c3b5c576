"""Entry point of the mmyolo executor image (the image's CMD runs it; its PYTHONPATH holds executors/)."""
import sys

from executors.mmyolo import MmyoloExecutor
from ymir_sdk import run

if __name__ == "__main__":
    sys.exit(run(MmyoloExecutor))
