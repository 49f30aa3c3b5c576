import os
from typing import Literal

import pytest

from conftest import write_env, write_yaml
from ymir_sdk import ConfigError, FloatList, HyperParams, load_env
from ymir_sdk.config import load_config
from ymir_sdk.env import EnvConfig

pytestmark = pytest.mark.images  # the SDK core runs in every image: also on the images' stack

CONTRACT_TRAIN_ENV = {
    "input": {"annotations_dir": "/in/annotations", "assets_dir": "/in/assets", "candidate_index_file": "",
              "config_file": "/in/config.yaml", "models_dir": "/in/models", "root_dir": "/in",
              "training_index_file": "/in/train-index.tsv", "val_index_file": "/in/val-index.tsv"},
    "manifest_file": "/img-man/manifest.yaml",
    "output": {"executor_log_file": "/out/ymir-executor-out.log", "infer_result_file": "/out/infer-result.json",
               "mining_result_file": "/out/result.tsv", "models_dir": "/out/models", "monitor_file": "/out/monitor.txt",
               "root_dir": "/out", "tensorboard_dir": "/out/tensorboard",
               "training_result_file": "/out/models/result.yaml"},
    "protocol_version": "1.1.0", "run_infer": False, "run_mining": False, "run_training": True,
    "task_id": "t0000003000041a2b3c4d5e6f70819",
}


def test_contract_example_env(tmp_path):
    path = write_yaml(str(tmp_path / "env.yaml"), CONTRACT_TRAIN_ENV)
    env = load_env(path)
    assert env.run_training and env.tasks == ["train"]
    assert env.input.training_index_file == "/in/train-index.tsv"
    assert env.output.monitor_file == "/out/monitor.txt"
    assert env.protocol_version == "1.1.0" and env.before_2_0 is None


def test_1x_env_without_new_keys_derives_paths_from_roots(tmp_path):
    data = {"input": {"root_dir": "/data/in", "training_index_file": "/data/in/train-index.tsv"},
            "output": {"root_dir": "/data/out"}, "run_training": True, "task_id": "t1"}
    env = load_env(write_yaml(str(tmp_path / "env.yaml"), data))
    assert env.protocol_version == "0.0.1"
    assert env.output.executor_log_file == "/data/out/ymir-executor-out.log"
    assert env.output.monitor_file == "/data/out/monitor.txt"
    assert env.input.models_dir == "/data/in/models"
    assert env.manifest_file.endswith("manifest.yaml")
    assert "YMIR 1.0/1.1" in env.before_2_0 and "which 1.x does not read" in env.before_2_0


def test_a_run_under_a_1x_env_says_its_outputs_are_2x(tmp_path, caplog):
    from ymir_sdk import Executor, run

    class Noop(Executor):
        name = "noop"

        def train(self, ctx):
            pass

    din = tmp_path / "in"
    din.mkdir()
    write_yaml(str(din / "config.yaml"), {"class_names": ["a"]})
    env = {"input": {"root_dir": str(din), "config_file": str(din / "config.yaml")},
           "output": {"root_dir": str(tmp_path / "out")}, "run_training": True, "task_id": "t1"}
    (tmp_path / "out").mkdir()
    with caplog.at_level("WARNING"):
        run(Noop, write_yaml(str(tmp_path / "env.yaml"), env))
    assert "no protocol_version (YMIR 1.0/1.1)" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        run(Noop, write_yaml(str(tmp_path / "env2.yaml"), {**env, "protocol_version": "1.1.0"}))
    assert "protocol_version" not in caplog.text


def test_env_file_from_variable_and_argument(tmp_path, monkeypatch):
    a = write_env(str(tmp_path / "a"), run_training=True)
    b = write_env(str(tmp_path / "b"), run_mining=True, run_infer=True)
    monkeypatch.setenv("YMIR_ENV_FILE", a)
    assert load_env().run_training
    assert load_env(b).tasks == ["mine", "infer"]
    monkeypatch.delenv("YMIR_ENV_FILE")
    monkeypatch.setenv("DEFAULT_ENV_FILE_PATH", b)  # the older SDK's variable
    assert load_env().run_mining


def test_env_string_booleans_and_null_values():
    env = EnvConfig.model_validate({"run_mining": "true", "run_infer": None, "task_id": 123})
    assert env.run_mining and not env.run_infer and env.task_id == "123"


class Params(HyperParams):
    export_format: str = "ark:raw"
    model: Literal["yolov5n", "yolov5s"] = "yolov5s"
    epochs: int = 100
    conf_thres: float = 0.25
    save_best_only: bool = True
    class_distribution_scores: FloatList = []
    args_options: str = "--exist-ok"


def test_web_strings_are_coerced():
    p = Params.parse({"epochs": "3", "conf_thres": "0.5", "save_best_only": "false",
                      "class_distribution_scores": "1.0, 0.5,0.1", "gpu_id": "0,1", "class_names": ["a", "b"]})
    assert (p.epochs, p.conf_thres, p.save_best_only) == (3, 0.5, False)
    assert p.class_distribution_scores == [1.0, 0.5, 0.1]
    assert p.gpu_ids == [0, 1]


def test_class_weights_are_numbers_or_auto():
    """``class_distribution_scores``: a weight per class, none, or ``auto`` (any case; its count is not checked:
    the weights are made at mining); anything else a 300001 naming the key."""
    from ymir_sdk import ClassWeights

    class Mine(HyperParams):
        class_distribution_scores: ClassWeights = []

    for raw, parsed in (("", []), ("1, 0.5", [1.0, 0.5]), (" Auto ", "auto"), ([2, 1], [2.0, 1.0])):
        p = Mine.parse({"class_distribution_scores": raw, "class_names": ["a", "b"]})
        assert p.class_distribution_scores == parsed
        p.check_task("mine")
    with pytest.raises(ConfigError) as e:
        Mine.parse({"class_distribution_scores": "balanced"})
    assert e.value.key == "class_distribution_scores" and "'auto'" in e.value.message


def test_missing_and_blank_keys_take_defaults():
    p = Params.parse({"epochs": "", "conf_thres": None})
    assert p.epochs == 100 and p.conf_thres == 0.25 and p.gpu_id == "" and p.gpu_ids == []
    assert p.args_options == "--exist-ok"


def test_platform_keys_typed():
    p = Params.parse({"gpu_id": 0, "gpu_count": "1", "object_type": "2", "model_params_path": "/in/models/a.pt",
                      "run_infer": "true"})
    assert p.gpu_id == "0" and p.gpu_count == 1 and p.object_type == 2
    assert p.model_params_path == ["/in/models/a.pt"] and p.run_infer is True


def test_unknown_keys_are_kept_and_logged(caplog):
    p = Params.parse({"epoch": 3})
    assert p.extra_keys == {"epoch": 3}
    assert "epoch" in caplog.text


def test_template_is_the_model_defaults():
    t = Params.template()
    assert t == {"export_format": "ark:raw", "model": "yolov5s", "epochs": 100, "conf_thres": 0.25,
                 "save_best_only": True, "class_distribution_scores": "", "args_options": "--exist-ok"}
    assert Params.parse(t).epochs == 100


def test_bad_value_names_key_value_and_expectation():
    with pytest.raises(ConfigError) as e:
        Params.parse({"epochs": "ten"})
    assert e.value.code == 300001
    assert "'epochs'" in e.value.message and "'ten'" in e.value.message and "an integer" in e.value.message


def test_empty_config_file_is_empty_mapping(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("# nothing\n")
    assert load_config(str(path)) == {}


def test_no_hard_coded_platform_paths_outside_defaults():
    root = os.path.join(os.path.dirname(__file__), "..", "ymir_sdk")
    offenders = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            if name.endswith(".py"):
                text = open(os.path.join(dirpath, name)).read()
                for ln in text.splitlines():
                    if ("'/in/" in ln or '"/in/' in ln or "'/out/" in ln or '"/out/' in ln) and "DEFAULT" not in ln:
                        offenders.append(f"{name}: {ln.strip()}")
    assert offenders == []
