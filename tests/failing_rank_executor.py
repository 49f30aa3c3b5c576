"""Run under a process group: an executor whose mining fails on rank 1 only (a model error), while rank 0 waits
for the other ranks' results. Used by the test of what reaches the monitor when one rank fails."""
import sys

from ymir_sdk import Executor, ModelError, run
from ymir_sdk.dist import distributed_map, world


class FailsOnRankOne(Executor):
    name = "fails-on-rank-1"

    def mine(self, ctx):
        def score(batch):
            if world()[0] == 1:
                raise ModelError("model file best.pt cannot be loaded: rank 1 says so")
            return [0.5] * len(batch)

        distributed_map(score, ctx.candidates(), batch_size=2)


if __name__ == "__main__":
    sys.exit(run(FailsOnRankOne))
