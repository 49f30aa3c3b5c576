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
    score threshold, CALD's stage-2 candidates, and the family's own options (instance: ``mcd_iterations``;
    semantic: the superpixels and RSAL/RIPU settings)."""

    algorithm: str
    batching: Batching
    class_weights: Union[None, str, Sequence[float]] = None  # ``auto``: :meth:`weights`
    conf_threshold: float = 0.0
    #: ``cald``'s stage 2: the least consistent images it reorders by class distribution (0: stage 1 only)
    cald_candidates: int = 0
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

        objects = self.class_counts(ctx, "class_distribution_scores", AUTO,
                                    "give one weight per class, or none")["objects"]
        weights = balanced_class_weights(objects, ctx.class_names)
        log.info("class_distribution_scores auto: %s (from the model's training set: %s)",
                 ", ".join(f"{n} {w:.3g}" for n, w in zip(ctx.class_names, weights)),
                 ", ".join(f"{n} {objects.get(n, 0)}" for n in ctx.class_names))
        return weights

    def labelled_mean(self, ctx) -> Optional[Any]:
        """CALD's stage 2 (``cald_candidates`` > 0): the labelled set's objects per image, per class of ``ctx``
        (:func:`~ymir_sdk.mining.detection.labelled_class_mean`, from the class counts the model's training
        wrote; a model without them is a 300001 error naming the key); None for stage 1 only."""
        if self.algorithm != "cald" or self.cald_candidates <= 0:
            return None
        from ..mining.detection import labelled_class_mean

        counts = self.class_counts(ctx, "cald_candidates", self.cald_candidates, "or 0 (stage 1 only)")
        mean = labelled_class_mean(counts, ctx.class_names)
        log.info("cald stage 2 on the %d least consistent images: objects per labelled image %s (%d images)",
                 self.cald_candidates, ", ".join(f"{n} {m:.3g}" for n, m in zip(ctx.class_names, mean)),
                 counts["images"])
        return mean

    @staticmethod
    def class_counts(ctx, key: str, value: Any, otherwise: str) -> Dict[str, Any]:
        """The class counts of the model's training (:func:`~ymir_sdk.models.read_class_counts`); a model whose
        stage has none is a 300001 error naming ``key``, saying what else to give (``otherwise``)."""
        from ..models import read_class_counts
        from ..results import CLASS_COUNTS

        counts = read_class_counts(ctx.model_files())
        if counts is None:
            raise ConfigError(key, value, f"a model whose stage lists {CLASS_COUNTS} (its training's objects per "
                              f"class; this model was trained without): {otherwise}")
        return counts
