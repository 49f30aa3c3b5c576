"""mmyolo detection executor (see README.md)."""
from .executor import MmyoloExecutor

__all__ = ["MmyoloExecutor"]
