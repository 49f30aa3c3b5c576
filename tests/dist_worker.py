"""Run under torchrun: mines N synthetic candidates with the lossless distributed helper; rank 0 writes
result.tsv. Usage: dist_worker.py N OUT_DIR"""
import os
import sys

import numpy as np

from ymir_sdk.dist import distributed_map, world
from ymir_sdk.mining import DetOutput, entropy_scores
from ymir_sdk.results import write_mining_result


def model(paths):
    """A stand-in forward pass: one detection per image whose class probabilities depend on the image."""
    outs = []
    for p in paths:
        k = int(os.path.basename(p).split(".")[0])
        q = (k % 7 + 1) / 9
        outs.append(DetOutput(np.array([[0, 0, 4, 4.0]]), np.array([q]), np.array([0]), np.array([[q, 1 - q]])))
    return entropy_scores(outs, 2).tolist()


n, out_dir = int(sys.argv[1]), sys.argv[2]
candidates = [f"/in/assets/{i:02d}/{i}.jpg" for i in range(n)]
scores = distributed_map(model, candidates, batch_size=2)
rank, size = world()
if rank == 0:
    write_mining_result(os.path.join(out_dir, "result.tsv"), dict(zip(candidates, scores)), candidates)
    with open(os.path.join(out_dir, "world.txt"), "w") as f:
        f.write(str(size))
