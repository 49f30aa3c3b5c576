"""mmdet detection executor (see README.md)."""
from .executor import MmdetExecutor

__all__ = ["MmdetExecutor"]
