"""Entry point of the mmdet executor image (the image's CMD runs it; its PYTHONPATH holds executors/)."""
import sys

from executors.mmdet import MmdetExecutor
from ymir_sdk import run

if __name__ == "__main__":
    sys.exit(run(MmdetExecutor))
