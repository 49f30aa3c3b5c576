"""The __NAME__ executor (its image runs the class img-man/manifest.yaml names: python3 -m ymir_sdk exec)."""
from .executor import __CLASS__

__all__ = ["__CLASS__"]
