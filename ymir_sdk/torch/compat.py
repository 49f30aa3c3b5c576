"""What differs between the PyTorch versions we run: the images' 1.8.1 (cu102, cu111) and 1.11.0 (cu113), and
the test stack's 2.x. Each difference is gated here, once, by version - never by trying one API and catching the
error of the other, which would also hide a real failure.

Nothing here imports torch at module level; the gates ask ``torch.__version__`` when they are used.
"""
from __future__ import annotations

import re
import socket
import sys
import uuid
from typing import Any, Dict, List, Sequence, Tuple

#: ``torch.serialization.add_safe_globals`` (and ``torch.load(weights_only=True)`` with it): torch >= 2.4
SAFE_GLOBALS = (2, 4)
#: ``add_safe_globals`` of ``(object, "module.name")`` pairs (an object under another name): torch >= 2.5
SAFE_GLOBAL_NAMES = (2, 5)
#: ``python -m torch.distributed.run`` (torchrun): torch >= 1.9; before it ``torch.distributed.launch --use_env``
TORCHRUN = (1, 9)
#: ``torch.cuda.mem_get_info`` (the driver's free and total memory of a device): torch >= 1.10
MEM_GET_INFO = (1, 10)
#: ``torch.onnx.export(dynamo=...)``: torch >= 2.5 (its default became True in 2.9: the TorchScript exporter,
#: which honours ``opset_version``, must be asked for)
ONNX_DYNAMO = (2, 5)


def parse_version(text: str) -> Tuple[int, int]:
    """(major, minor) of a version string such as ``1.8.1+cu111`` or ``2.14.1``."""
    m = re.match(r"(\d+)\.(\d+)", str(text))
    if not m:
        raise ValueError(f"not a version: {text!r}")
    return int(m.group(1)), int(m.group(2))


def torch_version() -> Tuple[int, int]:
    import torch

    return parse_version(torch.__version__)


def at_least(version: Tuple[int, int]) -> bool:
    return torch_version() >= version


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch_command(nproc: int, argv: Sequence[str]) -> List[str]:
    """The command that runs ``argv`` (a script and its arguments) as ``nproc`` processes on this machine, with
    RANK, LOCAL_RANK and WORLD_SIZE in each one's environment."""
    if at_least(TORCHRUN):
        # a one-node rendezvous on a free port: what --standalone does since torch 2.0; before it (the cu113
        # image's torch 1.11) --standalone binds port 29400, and two groups on one machine collide
        return [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc_per_node={nproc}",
                "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{_free_port()}", f"--rdzv_id={uuid.uuid4()}",
                *argv]
    return [sys.executable, "-m", "torch.distributed.launch", "--use_env", f"--nproc_per_node={nproc}",
            "--master_addr=127.0.0.1", f"--master_port={_free_port()}", *argv]


def onnx_export_kwargs() -> Dict[str, Any]:
    """Extra keyword arguments of ``torch.onnx.export`` that select the TorchScript exporter."""
    return {"dynamo": False} if at_least(ONNX_DYNAMO) else {}


#: ``torch.autocast(device_type, ...)``: torch >= 1.10; before it ``torch.cuda.amp.autocast`` (deprecated in 2.4)
AUTOCAST = (1, 10)


def cuda_fp16(enabled: bool):
    """The context that runs CUDA ops in float16 (``enabled`` False: a no-op context)."""
    import torch

    if at_least(AUTOCAST):
        return torch.autocast("cuda", dtype=torch.float16, enabled=enabled)
    return torch.cuda.amp.autocast(enabled=enabled)
