"""Which device a process uses: the platform's ``gpu_id`` ('' = the CPU, even on a machine with GPUs; '0,1' = those
GPUs, one process each under torchrun). One policy for every framework."""
from __future__ import annotations

import os
from typing import Sequence


def select_devices(gpu_ids: Sequence[int]) -> None:
    """Only the task's GPUs are visible (none for ''). Must run before CUDA is initialised."""
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in gpu_ids)


def device_for(gpu_ids: Sequence[int]):
    """This process's device: cuda:LOCAL_RANK among the visible (= the task's) GPUs, or the CPU when ``gpu_id``
    is empty."""
    import torch

    if not gpu_ids or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())


def check_gpus(gpu_ids: Sequence[int]) -> None:
    """The task's GPUs exist (before any work, for every task alike): a 300102 error naming ``gpu_id`` when
    CUDA is unavailable or an id is beyond the GPUs the container sees."""
    import torch

    from ..errors import NoGpuError

    if not gpu_ids:
        return
    if not torch.cuda.is_available():
        raise NoGpuError(f"gpu_id {','.join(map(str, gpu_ids))} asks for GPUs, but CUDA sees none")
    count = torch.cuda.device_count()
    missing = [g for g in gpu_ids if not 0 <= g < count]
    if missing:
        raise NoGpuError(f"gpu_id {','.join(map(str, gpu_ids))}: GPU {missing[0]} does not exist (the container "
                         f"sees {count})")
