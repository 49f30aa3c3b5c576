"""Run under torchrun: joins the group, keeps it in a reference cycle (as a framework's runner keeps its DDP model,
which holds the group), leaves it as a rank that finished does, and writes how many threads this process had before
it joined and has after. Usage: dist_teardown_worker.py OUT_DIR"""
import os
import sys

import torch
import torch.distributed as dist

from ymir_sdk.dist import close_process_group, init_process_group, world


def threads() -> int:
    return len(os.listdir("/proc/self/task"))


class Runner:
    """A runner that refers to itself and holds the group: freed by the garbage collector only."""

    def __init__(self):
        self.me, self.group = self, dist.distributed_c10d._get_default_group()


torch.ones(2).sum()  # any pool torch starts on its first op belongs to the baseline
before = threads()
assert init_process_group("gloo")
runner = Runner()
dist.all_reduce(torch.ones(3), group=runner.group)
del runner
close_process_group()
with open(os.path.join(sys.argv[1], f"threads-{world()[0]}.txt"), "w") as f:
    f.write(f"{before} {threads()}")
