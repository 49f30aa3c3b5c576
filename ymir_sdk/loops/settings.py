"""A task's loop settings, built once by the executor from its params (:meth:`Mining.of` validates the mining
algorithm's name, the one place it is checked) and handed to the family loop as they are."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence, Tuple

from ..mining.base import REGISTRY, Algorithm, algorithm_name


@dataclass(frozen=True)
class Batching:
    """How the candidate loop batches: images per forward pass, DataLoader workers, pinned host memory."""

    batch_size: int
    workers: int = 0
    pin_memory: bool = False

    def loader(self) -> Tuple[int, int, bool]:
        """The candidate loop's batching arguments (:func:`ymir_sdk.loops.candidates.over_candidates`)."""
        return self.batch_size, self.workers, self.pin_memory


@dataclass(frozen=True)
class Mining:
    """A mining task: the algorithm (validated), the batching, the class weights (aldd), the box algorithms'
    score threshold, and the family's own options (instance: ``mcd_iterations``; semantic: the superpixels and
    RSAL/RIPU settings)."""

    algorithm: str
    batching: Batching
    class_weights: Optional[Sequence[float]] = None
    conf_threshold: float = 0.0
    options: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, object_type: int, batching: Batching, supported: Optional[Sequence[str]] = None,
           **kw: Any) -> "Mining":
        """The settings of mining by ``name`` in the family ``object_type``; an unknown name, or one the executor
        does not offer (``supported``), is a 300001 error listing the valid ones."""
        return cls(algorithm_name(name, object_type, supported), batching, **kw)

    @property
    def spec(self) -> Algorithm:
        return REGISTRY[self.algorithm]
