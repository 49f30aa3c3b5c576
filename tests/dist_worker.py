"""Run under torchrun: mines N synthetic candidates with the streaming candidate loop; each rank writes its own
shard, rank 0 checks that each shard holds exactly its rank's candidates and writes result.tsv.
Usage: dist_worker.py N OUT_DIR"""
import json
import os
import sys
from types import SimpleNamespace

import numpy as np

from ymir_sdk.dist import world
from ymir_sdk.loops.candidates import over_candidates, write_scores
from ymir_sdk.mining import DetOutput, entropy_scores


def model(items):
    """A stand-in forward pass: one detection per image whose class probabilities depend on the image."""
    outs = []
    for p, _ in items:
        k = int(os.path.basename(p).split(".")[0])
        q = (k % 7 + 1) / 9
        outs.append(DetOutput(np.array([[0, 0, 4, 4.0]]), np.array([q]), np.array([0]), np.array([[q, 1 - q]])))
    return entropy_scores(outs, 2).tolist()


class Task:
    """What the loop needs of a task's context."""

    task = "mine"

    def __init__(self, out_dir, candidates):
        self.work_dir, self._candidates = out_dir, candidates
        self.env = SimpleNamespace(output=SimpleNamespace(mining_result_file=os.path.join(out_dir, "result.tsv")))

    def candidates(self):
        return list(self._candidates)

    def progress(self, fraction):
        pass


n, out_dir = int(sys.argv[1]), sys.argv[2]
candidates = [f"/in/assets/{i:02d}/{i}.jpg" for i in range(n)]
task = Task(out_dir, candidates)
shards = over_candidates(task, model, load=lambda path: None, batch_size=2)
rank, size = world()
if rank == 0:
    for r, shard in enumerate(shards.files()):  # nothing gathered: each rank's results in its own file only
        assert [json.loads(line)[0] for line in open(shard)] == list(range(r, n, size)), shard
    write_scores(task, shards)
    with open(os.path.join(out_dir, "world.txt"), "w") as f:
        f.write(str(size))
else:
    assert shards is None
