import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = os.path.join(ROOT, "tests", "toy_executor", "start.py")


def write_env(tmp, run_training=False, run_mining=False, run_infer=False, **input_files):
    """A platform-like env.yaml under tmp (in/ and out/), returning its path."""
    din, dout = os.path.join(tmp, "in"), os.path.join(tmp, "out")
    os.makedirs(os.path.join(dout, "models"), exist_ok=True)
    os.makedirs(os.path.join(dout, "tensorboard"), exist_ok=True)
    os.makedirs(os.path.join(din, "models"), exist_ok=True)
    env = {"input": {"root_dir": din, "config_file": os.path.join(din, "config.yaml"),
                     "models_dir": os.path.join(din, "models"), **input_files},
           "output": {"root_dir": dout}, "task_id": "t-test", "protocol_version": "1.1.0",
           "run_training": run_training, "run_mining": run_mining, "run_infer": run_infer}
    path = os.path.join(din, "env.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(env, f)
    return path


def write_yaml(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        yaml.safe_dump(data, f)
    return path


def cli(*args, timeout=300):
    """Run the ymir-sdk command line as a user would."""
    return subprocess.run([sys.executable, "-m", "ymir_sdk", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


@pytest.fixture(scope="session")
def ark_dataset(tmp_path_factory):
    from ymir_sdk.synthetic import write_ark_dataset

    root = str(tmp_path_factory.mktemp("ark"))
    write_ark_dataset(root, n_train=24, n_val=8)
    return root


class Payload:
    """What a malicious checkpoint pickles: unpickling it calls ``fn(*args)``."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def write_payload_checkpoint(path, marker):
    """A checkpoint that, loaded with plain pickle, creates ``marker`` (with real tensors beside the payload)."""
    import torch

    torch.save({"state_dict": {"w": torch.zeros(2)}, "model": Payload(os.system, f"touch {marker}")}, str(path))


# ------------------------------------------------------------------ helpers shared by the executors' tests
def monitor_line(work):
    """The first line of a run's monitor.txt, split into its TAB fields."""
    with open(os.path.join(work, "out", "monitor.txt")) as f:
        return f.readline().rstrip("\n").split("\t")


def executor_log(work):
    with open(os.path.join(work, "out", "ymir-executor-out.log"), errors="replace") as f:
        return f.read()


def run_start(executor_dir, env_file, nproc=1, timeout=600):
    """The executor's start.py against env.yaml, as the platform runs it (under torchrun for ``nproc`` > 1)."""
    from ymir_sdk.dist import relaunch_command

    env = dict(os.environ, YMIR_ENV_FILE=env_file, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)  # as the image's /app
    start = os.path.join(executor_dir, "start.py")
    cmd = [sys.executable, start] if nproc == 1 else relaunch_command(nproc, [start])
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def check_two_processes_lose_no_image(executor_dir, dataset, trained, tmp_path, sets):
    """Inference and mining sharded over 2 torchrun processes (gloo, CPU) on the dataset's 22 images plus two
    whose header reads but whose pixels do not (one per rank): every decodable candidate exactly once."""
    import json
    import shutil

    from ymir_sdk.localdata import read_dataset
    from ymir_sdk.runner import lay_out

    ds = str(tmp_path / "ds")
    shutil.copytree(dataset, ds)
    with open(os.path.join(ds, "images", "val", "val_00000.png"), "rb") as f:
        good = f.read()
    for name in ("val_zz1.png", "val_zz2.png"):
        with open(os.path.join(ds, "images", "val", name), "wb") as f:
            f.write(good[:60] + bytes([len(name)]))
    work = str(tmp_path / "w")
    env_file = lay_out(work, read_dataset(ds), "mine+infer", os.path.join(executor_dir, "img-man"), sets,
                       model=trained, candidates="all")
    r = run_start(executor_dir, env_file, nproc=2)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert cli("verify", work, "--task", "mine+infer").returncode == 0
    candidates = open(os.path.join(work, "in", "candidate-index.tsv")).read().split()
    assert len(candidates) == 24  # 16 train + 6 val + 2 undecodable: 12 per rank, one undecodable on each
    ranked = [ln.split("\t")[0] for ln in open(os.path.join(work, "out", "result.tsv")).read().splitlines()]
    assert len(ranked) == 22 and set(ranked) < set(candidates)  # every decodable candidate, once
    detections = json.load(open(os.path.join(work, "out", "infer-result.json")))["detection"]
    assert set(detections) == {os.path.basename(c) for c in ranked}
    assert r.stdout.count("skipping") + r.stderr.count("skipping") >= 2


def check_empty_training_set(executor_dir, dataset, tmp_path, sets):
    """An empty training index: monitor state 4, code 300002, a message saying so, a non-zero exit."""
    from ymir_sdk.localdata import read_dataset
    from ymir_sdk.runner import lay_out

    work = str(tmp_path / "w")
    env_file = lay_out(work, read_dataset(dataset), "train", os.path.join(executor_dir, "img-man"), sets)
    open(os.path.join(work, "in", "train-index.tsv"), "w").close()
    r = run_start(executor_dir, env_file, timeout=300)
    assert r.returncode != 0
    line = monitor_line(work)
    assert line[3:5] == ["4", "300002"] and "training dataset is empty" in line[5]


def check_training_from_image_weights(train, tmp_path, weights_file, monkeypatch, loaded):
    """No pretrained model chosen: ``train(work)`` starts from the image's file (``$YMIR_WEIGHTS_DIR`` holds
    ``weights_file``), says so, and the framework's own log line ``loaded`` shows it was loaded; with an empty
    weights folder it trains from scratch with a warning. Returns the first run's log."""
    monkeypatch.setenv("YMIR_WEIGHTS_DIR", os.path.dirname(str(weights_file)))
    work = str(tmp_path / "from-weights")
    r = train(work)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    text = executor_log(work)
    assert f"starting from the image's pretrained weights {weights_file}" in text
    assert loaded in text and "from scratch" not in text
    monkeypatch.setenv("YMIR_WEIGHTS_DIR", str(tmp_path / "empty"))
    work = str(tmp_path / "from-scratch")
    r = train(work)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "no pretrained weights for" in executor_log(work) and "training from scratch" in executor_log(work)
    return text
