"""Entry point of the seg-in-one image (the image's CMD runs it; its PYTHONPATH holds executors/). The folder's
name is not an identifier: the package is imported by its path name."""
import importlib
import sys

from ymir_sdk import run

if __name__ == "__main__":
    sys.exit(run(importlib.import_module("executors.seg-in-one").SegInOneExecutor))
