"""Lossless multi-process mining: real torchrun processes on the gloo backend, uneven shards included."""
import os
import subprocess

import pytest

from ymir_sdk.dist import distributed_map, relaunch_command, shard_indices

pytestmark = pytest.mark.images  # the SDK core runs in every image: also on the images' stack

WORKER = os.path.join(os.path.dirname(__file__), "dist_worker.py")


def test_shards_cover_every_index_once():
    for n in range(0, 13):
        for size in (1, 2, 3, 4):
            got = sorted(i for r in range(size) for i in shard_indices(n, r, size))
            assert got == list(range(n))


def test_local_map_without_process_group():
    assert distributed_map(lambda b: [x * 2 for x in b], list(range(7)), batch_size=3) == [0, 2, 4, 6, 8, 10, 12]


def test_loader_workers_fork_from_a_process_without_opencv_threads(tmp_path):
    """Loading in DataLoader workers (forked) turns OpenCV's thread pool off first: a worker forked from a process
    whose cv2 calls used that pool can hang for good (opencv/opencv#5150; a mining process hung so in CI)."""
    import cv2
    import numpy as np

    path = str(tmp_path / "a.png")
    cv2.imwrite(path, np.zeros((8, 12, 3), np.uint8))
    cv2.setNumThreads(2)
    try:
        got = distributed_map(lambda b: [x.shape for _, x in b], [path, path], load=cv2.imread, workers=1)
        assert got == [(8, 12, 3)] * 2 and cv2.getNumThreads() == 1  # 0 set: the calling thread alone
    finally:
        cv2.setNumThreads(-1)


@pytest.mark.parametrize("n,procs", [(7, 2), (10, 2), (11, 3)])  # shards of 4+3, 5+5, 4+4+3 candidates
def test_torchrun_gloo_every_candidate_once(tmp_path, procs, n):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(relaunch_command(procs, [WORKER, str(n), str(tmp_path)]), capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "world.txt").read_text() == str(procs)
    rows = [ln.split("\t") for ln in (tmp_path / "result.tsv").read_text().splitlines()]
    paths = [p for p, _ in rows]
    assert sorted(paths) == sorted(f"/in/assets/{i:02d}/{i}.jpg" for i in range(n))
    scores = [float(s) for _, s in rows]
    assert scores == sorted(scores, reverse=True)


def test_a_rank_that_finished_leaves_no_thread_of_its_group(tmp_path):
    """A rank's clean end destroys the group and collects the garbage that still holds it (a framework's runner and
    the DDP model in it refer to each other): the group's threads end while the interpreter is alive. Left to the
    interpreter's teardown, a gloo thread that wakes there aborts the process: "terminate called without an active
    exception" (once in CI: mmyolo on torch 1.11, after its training had finished; here, on torch 2.14, in 2 runs of 3
    of a worker like this one that left the group to the exit handler without the collection)."""
    worker = os.path.join(os.path.dirname(__file__), "dist_teardown_worker.py")
    r = subprocess.run(relaunch_command(2, [worker, str(tmp_path)]), capture_output=True, text=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for rank in (0, 1):
        before, after = map(int, (tmp_path / f"threads-{rank}.txt").read_text().split())
        assert after <= before, (rank, before, after)


def test_a_failing_rank_keeps_its_code(tmp_path, monkeypatch):
    """One of two gloo ranks fails (a model error): the launching process reports that rank's code and message in
    monitor.txt (state 4), not a generic one, and the status is non-zero."""
    from conftest import monitor_line, write_env
    from ymir_sdk import Monitor
    from ymir_sdk.executor import launch_group

    index = tmp_path / "candidates.tsv"
    index.write_text("".join(f"/in/{i}.png\n" for i in range(6)))
    env_file = write_env(str(tmp_path), run_mining=True, candidate_index_file=str(index))
    (tmp_path / "in" / "config.yaml").write_text("class_names: [a]\n")
    monkeypatch.setenv("YMIR_ENV_FILE", env_file)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monitor = Monitor(str(tmp_path / "out" / "monitor.txt"), "t-test", ["mine"])
    status = launch_group(2, [os.path.join(os.path.dirname(__file__), "failing_rank_executor.py")], monitor)
    assert status != 0
    line = monitor_line(str(tmp_path))
    assert line[3:5] == ["4", "300004"] and line[5].startswith("rank 1: model file best.pt cannot be loaded"), line
