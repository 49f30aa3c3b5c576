"""Lossless multi-process inference and mining over ``torchrun`` ranks.

:func:`shard_batches` gives each rank its share of the items by index (rank r takes items r, r + world, ...), in
batches: each item is handled exactly once, whatever the number of items and ranks - no padding, no per-batch
barriers (the reference executors lost the tail or deadlocked on uneven shards). The candidate loops stream each
batch's results to a file per rank (:mod:`ymir_sdk.loops.candidates`); :func:`distributed_map` gathers small
maps' results onto every rank with ``all_gather_object``. torch is imported lazily; without a process group (a
plain run) both are local.
"""
from __future__ import annotations

import atexit
import datetime
import os
import sys
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple

from .errors import YmirError


def world() -> Tuple[int, int]:
    """(rank, world size) from the torchrun environment; (0, 1) in a plain run."""
    return int(os.environ.get("RANK", "0") or 0), int(os.environ.get("WORLD_SIZE", "1") or 1)


def init_process_group(backend: Optional[str] = None, timeout_minutes: float = 120.0) -> bool:
    """Join the torchrun group if there is one (NCCL with CUDA, else gloo). Returns True when distributed."""
    _, size = world()
    if size <= 1:
        return False
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=timeout_minutes))
        atexit.register(close_process_group, collect=False)
    return True


def close_process_group(collect: bool = True) -> None:
    """Leave the group: at a rank's clean end (:func:`ymir_sdk.executor.run`), and at exit (a gloo group torn
    down by the interpreter's exit aborts). No barrier: a rank that failed must exit, so that torchrun stops the
    others, instead of waiting for them.

    Destroying the group only forgets it while a DDP model still holds it, and a framework's runner keeps its model
    in a reference cycle; ``collect`` frees them, so the group's threads end while the interpreter is alive. Left
    to its teardown, a gloo thread that needs the GIL there is made to exit and the process aborts ("terminate
    called without an active exception": once in CI, mmyolo on torch 1.11 after its training had finished). Not at
    the exit of a failed rank: its group's threads may be waiting in a collective the other ranks never join, and
    freeing the group joins them."""
    dist = sys.modules.get("torch.distributed")  # not imported: no group (an executor without torch)
    if dist is None:
        return
    if dist.is_initialized():
        dist.destroy_process_group()
    if collect and world()[1] > 1:  # (also where a framework destroyed the group itself: its model holds it)
        import gc

        gc.collect()


def shard_indices(n: int, rank: int, size: int) -> Sequence[int]:
    """The indices rank ``rank`` of ``size`` takes of ``n`` items (a range: nothing stored per item)."""
    return range(rank, n, size)


class _Loading:
    """A map-style dataset over this rank's items: ``load(item)`` in DataLoader workers; a failure is passed on
    as the exception (the caller skips the item and says so) instead of ending the run."""

    def __init__(self, items: Sequence[Any], indices: Sequence[int], load: Callable[[Any], Any]):
        self.items, self.indices, self.load = items, indices, load

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int):
        i = self.indices[k]
        try:
            return i, self.load(self.items[i])
        except Exception as e:  # noqa: BLE001 - reported per item
            return i, e


def _opencv_single_threaded() -> None:
    """OpenCV's own thread pool is not fork-safe (opencv/opencv#5150): a DataLoader worker forked from a process
    whose cv2 calls ran on that pool can hang in its first cv2 call, for good. Seen here once: a process that mined
    with RSAL (superpixels and resizes in the main process) hung in CI after it forked RIPU's loader workers. The
    frameworks turn the pool off before they fork theirs: mmengine's Runner (``env_cfg.mp_cfg.opencv_num_threads``
    0), yolov5's ``utils/general.py``. The workers give the parallelism instead."""
    try:
        import cv2
    except ImportError:  # pragma: no cover - every image has it
        return
    cv2.setNumThreads(0)


def _collate(batch):
    return batch


def shard_batches(items: Sequence[Any], batch_size: int = 1, load: Optional[Callable[[Any], Any]] = None,
                  workers: int = 0, pin_memory: bool = False) -> Iterator[List[Tuple[int, Any]]]:
    """This rank's share of ``items`` (joining the torchrun group when there is one), in batches of
    ``(index, item)`` pairs; with ``load``, ``(index, loaded)`` pairs made by a torch DataLoader (``workers``
    processes, ``pin_memory``), ``loaded`` being the exception where loading failed. Nothing is kept: a caller
    that streams its results holds one batch at a time."""
    rank, size = world()
    distributed = init_process_group() if size > 1 else False
    mine = shard_indices(len(items), rank, size) if distributed else range(len(items))
    if load is None:
        for s in range(0, len(mine), max(1, batch_size)):
            yield [(i, items[i]) for i in mine[s:s + batch_size]]
        return
    from torch.utils.data import DataLoader

    if workers > 0:
        _opencv_single_threaded()
    yield from DataLoader(_Loading(items, mine, load), batch_size=max(1, batch_size), num_workers=workers,
                          pin_memory=pin_memory, collate_fn=_collate)


def all_ranks(value: Any) -> List[Any]:
    """``value`` of every rank, in rank order (a small object: counts, not results); ``[value]`` in a plain
    run. Every rank must call it: it is also the point where the ranks wait for each other."""
    if world()[1] <= 1 or not init_process_group():
        return [value]
    import torch.distributed as dist

    gathered: List[Any] = [None] * world()[1]
    dist.all_gather_object(gathered, value)
    return gathered


def distributed_map(fn: Callable[[Sequence[Any]], Sequence[Any]], items: Sequence[Any], batch_size: int = 1,
                    progress: Optional[Callable[[float], None]] = None, load: Optional[Callable[[Any], Any]] = None,
                    workers: int = 0, pin_memory: bool = False) -> List[Any]:
    """``fn`` maps a batch to as many results. Returns the results of all items, in order, on every rank: for
    small maps (every result is gathered onto every rank); the candidate loops stream theirs to disk instead
    (:mod:`ymir_sdk.loops.candidates`).

    With ``load``, ``fn`` gets ``(item, loaded)`` pairs (:func:`shard_batches`). ``progress`` (called on
    rank 0) gets the fraction of this rank's shard done."""
    rank, size = world()
    total = len(shard_indices(len(items), rank, size)) if size > 1 else len(items)
    local: List[Tuple[int, Any]] = []
    for batch in shard_batches(items, batch_size, load, workers, pin_memory):
        idx = [i for i, _ in batch]
        args = [x for _, x in batch] if load is None else [(items[i], x) for i, x in batch]
        results = list(fn(args))
        if len(results) != len(idx):
            raise YmirError(f"a batch of {len(idx)} items gave {len(results)} results")
        local.extend(zip(idx, results))
        if progress is not None and rank == 0:
            progress(min(1.0, len(local) / max(1, total)))
    merged = sorted((pair for part in all_ranks(local) for pair in (part or [])), key=lambda x: x[0])
    if [i for i, _ in merged] != list(range(len(items))):
        raise YmirError(f"distributed map gathered {len(merged)} results for {len(items)} items")
    return [r for _, r in merged]


def this_program() -> List[str]:
    """This process's program as arguments of python: ``-m package ...`` when it runs as ``python -m`` (a
    package's ``__main__.py`` run as a file would put that package's folder first on the path, where ymir_sdk's
    ``io`` and ``torch`` shadow the real ones), else ``sys.argv``."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        name = spec.name[: -len(".__main__")] if spec.name.endswith(".__main__") else spec.name
        return ["-m", name, *sys.argv[1:]]
    return list(sys.argv)


def relaunch_command(nproc: int, argv: Sequence[str]) -> List[str]:
    """The command that runs this same program as ``nproc`` processes on this machine (torchrun, or
    ``torch.distributed.launch`` on torch < 1.9: the version gate is in :mod:`ymir_sdk.torch.compat`)."""
    from .torch.compat import launch_command

    return launch_command(nproc, argv)
