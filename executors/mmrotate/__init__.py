"""mmrotate rotated-box detection executor (see README.md)."""
from .executor import MmrotateExecutor

__all__ = ["MmrotateExecutor"]
