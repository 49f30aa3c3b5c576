"""PyTorch glue (optional: import only where torch is installed)."""
from .checkpoints import allow_checkpoint_attributes, allow_checkpoint_classes, load_checkpoint

__all__ = ["allow_checkpoint_attributes", "allow_checkpoint_classes", "load_checkpoint"]
