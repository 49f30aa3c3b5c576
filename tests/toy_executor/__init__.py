"""The toy executor (the package toy_executor of tests/; its manifest names the class)."""
from .executor import ToyExecutor

__all__ = ["ToyExecutor"]
