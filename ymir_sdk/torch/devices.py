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
