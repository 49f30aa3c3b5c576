import os
import subprocess
import sys
import time

import pytest
import yaml

from ymir_sdk import Monitor, contract
from ymir_sdk.monitor import task_spans

pytestmark = pytest.mark.images  # the SDK core runs in every image: also on the images' stack

WRITER = r"""
import numpy as np
from ymir_sdk import Monitor, TrainingResult
m = Monitor({monitor!r}, "t1")
tr = TrainingResult({models!r}, max_stages=5)
open({weights!r}, "w").write("x" * 100000)
for i in range(400):
    m.write(i / 400)
    if i % 4 == 0:
        tr.add_stage("epoch_%d" % i, [{weights!r}], {{"mAP": np.float64(i / 400), "mAR": 0.5, "tp": i}},
                     evaluate_config={{"iou_thr": 0.5}})
"""


def test_monitor_line_grammar_and_monotonic_percent(tmp_path):
    path = str(tmp_path / "monitor.txt")
    m = Monitor(path, "t0000003000041a2b3c4d5e6f70819", tasks=["mine", "infer"])
    m.progress("mine", 0.5)
    first = open(path).read()
    assert contract.check_monitor(first) == [] and first.count("\t") == 4
    assert float(first.split("\t")[2]) == pytest_approx(0.25)
    m.progress("mine", 0.1)  # never backwards
    assert float(open(path).read().split("\t")[2]) >= 0.25
    m.progress("infer", 0.0)
    assert float(open(path).read().split("\t")[2]) >= 0.5
    m.write(7.0)  # clamped
    assert float(open(path).read().split("\t")[2]) == 1.0


def pytest_approx(v):
    import pytest

    return pytest.approx(v, abs=1e-3)


def test_timestamps_always_change(tmp_path):
    path = str(tmp_path / "monitor.txt")
    m = Monitor(path, "t")
    stamps = set()
    for _ in range(50):
        m.write(0.5)
        stamps.add(open(path).read().split("\t")[1])
    assert len(stamps) == 50


def test_error_line_has_code_one_line_message_and_trace(tmp_path):
    path = str(tmp_path / "monitor.txt")
    m = Monitor(path, "t")
    m.write(0.3)
    m.error(300103, "CUDA out of memory\nwhile training\tepoch 3", "Traceback (most recent call last):\n  x\n")
    lines = open(path).read().splitlines()
    cols = lines[0].split("\t")
    assert cols[3:] == ["4", "300103", "CUDA out of memory while training epoch 3"]
    assert lines[1].startswith("Traceback") and contract.check_monitor("\n".join(lines)) == []


def test_task_spans_split_mining_and_inference():
    assert task_spans(["mine", "infer"]) == {"mine": (0.0, 0.5), "infer": (0.5, 1.0)}
    assert task_spans(["train"]) == {"train": (0.0, 1.0)}


def test_non_main_rank_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    Monitor(str(tmp_path / "monitor.txt"), "t").write(0.5)
    assert not os.path.exists(tmp_path / "monitor.txt")


def test_a_poller_never_sees_a_half_written_file(tmp_path):
    """A reader polling monitor.txt and result.yaml in a tight loop while another process writes them."""
    monitor = str(tmp_path / "monitor.txt")
    models = str(tmp_path / "models")
    result = os.path.join(models, "result.yaml")
    code = WRITER.format(monitor=monitor, models=models, weights=str(tmp_path / "w.pth"))
    proc = subprocess.Popen([sys.executable, "-c", code])
    reads = bad = 0
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        for path in (monitor, result):
            try:
                with open(path) as f:
                    text = f.read()
            except FileNotFoundError:
                continue
            reads += 1
            if path == monitor:
                bad += bool(contract.check_monitor(text))
            else:
                data = yaml.safe_load(text)
                bad += bool(contract.check_training_result(data, models))
    assert proc.wait() == 0
    assert reads > 100 and bad == 0
