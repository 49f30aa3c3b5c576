import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = os.path.join(ROOT, "tests", "toy_executor", "start.py")
sys.path.insert(0, ROOT)


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
