"""The GPU lane (`make test-gpu`): every executor of tests/executor_specs.py on a CUDA device, as the platform runs
it with `gpu_id: '0'`. Skipped where torch sees no CUDA device (CI and the developers' machines have none): the
lane is written to run unchanged on a GPU machine. Each test trains one short epoch on the GPU (the frameworks'
own mixed precision where they use it on a GPU: yolov5's AMP), checks the stage's files (yolov5's ONNX export),
then mines with every algorithm the executor offers and runs mine+infer on the GPU in one executor process, every
output verified; and the GPU-trained checkpoint infers on a CPU-only task (a stage made on a GPU machine is used
on any machine)."""
import os

import pytest

from conftest import run_in_one_process, run_start
from test_conformance import NAMES, _check_model_task, _folder, _lay_out, _spec, _tasks


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not _cuda(), reason="no CUDA device: the GPU lane runs on a GPU "
                                                                      "machine (make test-gpu)")]


@pytest.mark.parametrize("name", NAMES)
def test_train_infer_and_every_mining_algorithm_on_the_gpu(name, executor_dataset, tmp_path):
    spec = _spec(name)
    train = str(tmp_path / "train")
    env_file = _lay_out(spec, executor_dataset(name), train, "train", {**spec.fast, **spec.short}, gpus="0")
    r = run_start(_folder(name), env_file, timeout=spec.timeout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    _check_model_task(spec, train, "train")
    assert "cuda" in (r.stdout + r.stderr).lower(), "the training's log never names the CUDA device"
    if name == "yolov5":
        assert any(f.endswith(".onnx") for _, _, fs in os.walk(os.path.join(train, "out", "models")) for f in fs)

    works = {(task, a): str(tmp_path / f"{task}-{a}") for task, a in _tasks(name)}
    env_files = [_lay_out(spec, executor_dataset(name), work, task, {**spec.model_task, "mining_algorithm": a},
                          model=train, gpus="0") for (task, a), work in works.items()]
    cpu = str(tmp_path / "infer-on-cpu")
    env_files.append(_lay_out(spec, executor_dataset(name), cpu, "infer", dict(spec.model_task), model=train))
    r = run_in_one_process(spec.module, env_files, timeout=spec.timeout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for (task, _), work in works.items():
        _check_model_task(spec, work, task)
    _check_model_task(spec, cpu, "infer")

