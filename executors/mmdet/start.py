"""Entry point of the mmdet executor image (the image's CMD runs it)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from executor import MmdetExecutor  # noqa: E402

from ymir_sdk import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run(MmdetExecutor))
