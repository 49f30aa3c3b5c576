"""Entry point of the mmrotate executor image (the image's CMD runs it; its PYTHONPATH holds executors/)."""
import sys

from executors.mmrotate import MmrotateExecutor
from ymir_sdk import run

if __name__ == "__main__":
    sys.exit(run(MmrotateExecutor))
