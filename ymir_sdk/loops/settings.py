"""A task's loop settings, built once by the executor from its params (:meth:`Mining.of` validates the mining
algorithm's name, the one place it is checked) and handed to the family loop as they are."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence, Tuple, Union

from ..config import AUTO
from ..errors import ConfigError
from ..mining.base import REGISTRY, Algorithm, algorithm_name

log = logging.getLogger("ymir_sdk")


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
    class_weights: Union[None, str, Sequence[float]] = None  # ``auto``: :meth:`weights`
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

    def weights(self, ctx) -> Optional[Sequence[float]]:
        """The class weights for ``ctx``'s classes: as given, or for ``auto`` computed from the class counts the
        model's training wrote (:func:`~ymir_sdk.mining.detection.balanced_class_weights`); ``auto`` with a model
        that has none is a 300001 error naming the key."""
        if self.class_weights != AUTO:
            return self.class_weights
        from ..mining.detection import balanced_class_weights
        from ..models import read_class_counts
        from ..results import CLASS_COUNTS

        objects = read_class_counts(ctx.model_files())
        if objects is None:
            raise ConfigError("class_distribution_scores", AUTO, f"a model whose stage lists {CLASS_COUNTS} (its "
                              "training's objects per class; this model was trained without): give one weight per "
                              "class, or none")
        weights = balanced_class_weights(objects, ctx.class_names)
        log.info("class_distribution_scores auto: %s (from the model's training set: %s)",
                 ", ".join(f"{n} {w:.3g}" for n, w in zip(ctx.class_names, weights)),
                 ", ".join(f"{n} {objects.get(n, 0)}" for n in ctx.class_names))
        return weights
