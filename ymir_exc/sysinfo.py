"""``ymir_exc.sysinfo`` of the original's 2.x releases: a GPU's memory, for executors that size their batches
by it.

Corrected: the free memory is the driver's (``torch.cuda.mem_get_info`` where the torch has it, 1.10 and later;
on the images' 1.8.1 the total less what this process's allocator reserved), never the total less reserved *and*
allocated memory, which counted the allocated part twice; a machine without that device is a RuntimeError that
names it."""
from typing import Tuple

__all__ = ["get_gpu_memory"]

GIB = float(1 << 30)


def get_gpu_memory(device: str = "cuda:0") -> Tuple[float, float]:
    """(total, free) memory of ``device`` in GiB."""
    import torch

    from ymir_sdk.torch.compat import MEM_GET_INFO, at_least

    if not torch.cuda.is_available():
        raise RuntimeError(f"no CUDA device here ({device}): get_gpu_memory needs a GPU")
    total = torch.cuda.get_device_properties(device).total_memory
    if at_least(MEM_GET_INFO):
        free, total = torch.cuda.mem_get_info(device)
    else:
        free = total - torch.cuda.memory_reserved(device)
    return total / GIB, free / GIB
