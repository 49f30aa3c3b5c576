"""Lossless multi-process inference and mining over ``torchrun`` ranks.

:func:`distributed_map` shards the items by index (rank r takes items r, r + world, ...), runs ``fn`` on
batches of its shard, and gathers every (index, result) pair on every rank with ``all_gather_object``: each
item appears exactly once, in input order, whatever the number of items and ranks - no padding, no per-batch
barriers (the reference executors lost the tail or deadlocked on uneven shards). torch is imported lazily;
without a process group (a plain run) it is a local map.
"""
from __future__ import annotations

import atexit
import datetime
import os
from typing import Any, Callable, List, Optional, Sequence, Tuple

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
        atexit.register(_close_process_group)
    return True


def _close_process_group() -> None:
    """Destroy the group before the interpreter exits (a gloo group torn down by exit aborts). No barrier: a
    rank that failed must exit, so that torchrun stops the others, instead of waiting for them."""
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def shard_indices(n: int, rank: int, size: int) -> List[int]:
    return list(range(rank, n, size))


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


def distributed_map(fn: Callable[[Sequence[Any]], Sequence[Any]], items: Sequence[Any], batch_size: int = 1,
                    progress: Optional[Callable[[float], None]] = None, load: Optional[Callable[[Any], Any]] = None,
                    workers: int = 0, pin_memory: bool = False) -> List[Any]:
    """``fn`` maps a batch to as many results. Returns the results of all items, in order, on every rank.

    With ``load``, items are loaded by a torch DataLoader (``workers`` processes, ``pin_memory``) and ``fn``
    gets ``(item, loaded)`` pairs, where ``loaded`` is the exception if loading failed. ``progress`` (called on
    rank 0) gets the fraction of this rank's shard done."""
    rank, size = world()
    distributed = init_process_group() if size > 1 else False
    mine = shard_indices(len(items), rank, size) if distributed else list(range(len(items)))
    if load is None:
        batches = ([(i, items[i]) for i in mine[s:s + batch_size]] for s in range(0, len(mine), max(1, batch_size)))
    else:
        from torch.utils.data import DataLoader

        if workers > 0:
            _opencv_single_threaded()
        batches = DataLoader(_Loading(items, mine, load), batch_size=max(1, batch_size), num_workers=workers,
                             pin_memory=pin_memory, collate_fn=_collate)
    local: List[Tuple[int, Any]] = []
    for batch in batches:
        idx = [i for i, _ in batch]
        args = [x for _, x in batch] if load is None else [(items[i], x) for i, x in batch]
        results = list(fn(args))
        if len(results) != len(idx):
            raise YmirError(f"a batch of {len(idx)} items gave {len(results)} results")
        local.extend(zip(idx, results))
        if progress is not None and rank == 0:
            progress(min(1.0, len(local) / max(1, len(mine))))
    if not distributed:
        return [r for _, r in sorted(local, key=lambda x: x[0])]
    import torch.distributed as dist

    gathered: List[Optional[List[Tuple[int, Any]]]] = [None] * size
    dist.all_gather_object(gathered, local)
    merged = sorted((pair for part in gathered for pair in (part or [])), key=lambda x: x[0])
    if [i for i, _ in merged] != list(range(len(items))):
        raise YmirError(f"distributed map gathered {len(merged)} results for {len(items)} items")
    return [r for _, r in merged]


def relaunch_command(nproc: int, argv: Sequence[str]) -> List[str]:
    """The command that runs this same program as ``nproc`` processes on this machine (torchrun, or
    ``torch.distributed.launch`` on torch < 1.9: the version gate is in :mod:`ymir_sdk.torch.compat`)."""
    from .torch.compat import launch_command

    return launch_command(nproc, argv)
