"""``ymir_exc`` on ymir-sdk: an executor written only against the original SDK's API runs through ``ymir-sdk run``
and passes ``ymir-sdk verify``, and the original's defects (contract §6.2) it would have hit are fixed."""
import json
import os
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

from conftest import ROOT, cli, monitor_line, write_env, write_yaml
from ymir_sdk.errors import ConfigError, ContractError
from ymir_sdk.tools.synthetic import write_broken_image

pytestmark = pytest.mark.images  # the SDK core runs in every image: also on the images' stack

EXECUTOR = os.path.join(ROOT, "tests", "ymir_exc_executor")


@pytest.fixture(scope="module")
def dataset(ark_dataset, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("exc") / "ds")
    shutil.copytree(ark_dataset, root)
    write_broken_image(os.path.join(root, "images", "val", "broken.png"))
    return root


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    work = str(tmp_path_factory.mktemp("exc") / "train")
    r = cli("run", EXECUTOR, "--task", "train", "--dataset", dataset, "--work", work, "--no-progress",
            "--set", "idle_seconds=0")  # kept by the training form, as the number 0
    assert r.returncode == 0, r.stdout + r.stderr
    assert yaml.safe_load(open(os.path.join(work, "in", "config.yaml")))["idle_seconds"] == 0
    return work


def test_training_passes_verify_with_the_originals_failure_cases(trained):
    r = cli("verify", trained, "--task", "train")
    assert r.returncode == 0, r.stdout
    models = os.path.join(trained, "out", "models")
    result = yaml.safe_load(open(os.path.join(models, "result.yaml")))
    # '-' kept in the stage names and their files found in models/<stage>/ (the original: epoch_1, files lost)
    assert sorted(result["model_stages"]) == ["epoch-1", "epoch-2"] and result["best_stage_name"] == "epoch-2"
    assert os.path.isfile(os.path.join(models, "epoch-2", "colours.json"))
    # numpy metrics written as plain numbers (the original crashed yaml.safe_dump), counts as ints
    stage = result["model_stages"]["epoch-2"]
    assert type(stage["mAP"]) is float and type(stage["tp"]) is int and stage["mAR"] == 0.5
    assert result["object_type"] == 2 and result["mAP"] == stage["mAP"]
    # attachments where the platform reads them: models/attachments/<section>/
    assert result["attachments"] == {"curves": ["curve-2.txt"]}
    assert os.path.isfile(os.path.join(models, "attachments", "curves", "curve-2.txt"))
    assert result["evaluate_config"] == {"iou_thr": 0.5, "conf_thr": 0.1}


@pytest.mark.parametrize("task", ["infer", "mine", "mine+infer"])
def test_inference_and_mining_pass_verify(dataset, trained, tmp_path, task):
    work = str(tmp_path / "w")
    # a number-typed template key edited arrives as a number, as from the platform's number box (the public demos
    # compare idle_seconds with 0: a string would fail them); a 0 is dropped by the mining and inference forms
    idle = "0" if task == "mine" else "0.01"
    r = cli("run", EXECUTOR, "--task", task, "--dataset", dataset, "--work", work, "--model", trained,
            "--no-progress", "--set", f"idle_seconds={idle}")
    assert r.returncode == 0, r.stdout + r.stderr
    v = cli("verify", work, "--task", task)
    assert v.returncode == 0, v.stdout
    broken = [ln for ln in open(os.path.join(work, "in", "candidate-index.tsv")).read().split()
              if not ln.endswith(".png")]
    assert len(broken) == 1  # the unreadable candidate the executor filtered out ...
    if task != "infer":  # ... is ranked last in result.tsv
        rows = open(os.path.join(work, "out", "result.tsv")).read().splitlines()
        assert rows[-1].split("\t")[0] == broken[0]
    if task != "mine":  # ... and has an empty entry in infer-result.json; boxes are integers
        det = json.load(open(os.path.join(work, "out", "infer-result.json")))["detection"]
        assert det[os.path.basename(broken[0])]["boxes"] == []
        boxes = [b for v in det.values() for b in v["boxes"]]
        assert boxes and all(isinstance(b["box"][k], int) for b in boxes for k in ("x", "y", "w", "h"))


def test_an_uncaught_exception_reaches_the_monitor(dataset, tmp_path):
    work = str(tmp_path / "w")
    r = cli("run", EXECUTOR, "--task", "train", "--dataset", dataset, "--work", work, "--set", "fail_with=boom",
            "--no-progress")
    assert r.returncode != 0
    fields = monitor_line(work)
    assert fields[3:] == ["4", "160004", "ValueError: boom"]  # the original left the monitor running


# ------------------------------------------------------------------------------------------------ in-process
@pytest.fixture()
def platform(tmp_path, monkeypatch):
    """env.yaml + config.yaml of a mine+infer task with two candidates; ymir_exc pointed at it."""
    from ymir_exc import settings

    images = []
    for name in ("a.png", "b.png"):
        path = str(tmp_path / "in" / "assets" / name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        from PIL import Image

        Image.new("RGB", (40, 30)).save(path)
        images.append(path)
    index = str(tmp_path / "in" / "candidate-index.tsv")
    with open(index, "w") as f:
        f.write("\n".join(images) + "\n")
    env_file = write_env(str(tmp_path), run_mining=True, run_infer=True, candidate_index_file=index,
                         models_dir=str(tmp_path / "in" / "models"))
    write_yaml(str(tmp_path / "in" / "config.yaml"), {"class_names": ["cat", "dog"], "flag": "False",
                                                      "epochs": 3, "nested": {"lr": 0.1}})
    monkeypatch.setattr(settings, "DEFAULT_ENV_FILE_PATH", env_file)
    return str(tmp_path), images


def _monitor(root):
    return open(os.path.join(root, "out", "monitor.txt")).read().rstrip("\n").split("\t")


def test_monitor_compat(platform):
    from ymir_exc import monitor
    from ymir_exc.code import ExecutorReturnCode, ExecutorState
    from ymir_exc.util import YmirStage, get_merged_config, write_ymir_monitor_process

    root, _ = platform
    assert f"{ExecutorState.ES_RUNNING}" == "2" and str(ExecutorReturnCode.RC_EXEC_CONFIG_ERROR) == "300001"
    cfg = get_merged_config()
    monitor.write_monitor_logger_for_multiple_tasks(cfg, "mining", 0.5)
    assert float(_monitor(root)[2]) == pytest.approx(0.25)
    write_ymir_monitor_process(cfg, task=monitor.YmirTask.INFER, naive_stage_percent=0.5, stage=YmirStage.TASK)
    assert float(_monitor(root)[2]) == pytest.approx(0.5 + 0.5 * (1e-5 + 0.99998 * 0.5), abs=1e-4)
    monitor.write_monitor_logger(percent=1.7)  # clamped (the original wrote 1.70)
    assert _monitor(root)[2:] == ["1.0000", "2", "0"]
    monitor.write_monitor_logger(0.3, ExecutorState.ES_ERROR, ExecutorReturnCode.RC_EXEC_DATASET_ERROR)
    fields = _monitor(root)
    assert fields[2:5] == ["1.0000", "4", "300002"]  # never backwards; the error's code in column 5
    with pytest.raises(ValueError):
        monitor.write_monitor_logger_for_multiple_tasks(cfg, "train", 0.5)


def test_merged_config_and_get_bool(platform, tmp_path):
    from ymir_exc.util import get_bool, get_merged_config

    root, _ = platform
    cfg = get_merged_config()
    assert cfg.param.class_names == ["cat", "dog"] and cfg.param.nested.lr == 0.1 and cfg.param.get("x", 7) == 7
    assert cfg.ymir.run_mining and cfg.ymir.input.candidate_index_file.endswith("candidate-index.tsv")
    assert get_bool(cfg, "flag") is False and get_bool(cfg, "missing", True) is True
    with pytest.raises(ConfigError) as e:
        get_bool(cfg, "epochs")
    assert e.value.code == 300001 and "epochs" in e.value.message
    # live code: the code_config file overlaid by config.yaml; an empty file is empty (the original crashed)
    empty = str(tmp_path / "code.yaml")
    open(empty, "w").close()
    write_yaml(os.path.join(root, "in", "config.yaml"), {"git_url": "https://x", "code_config": empty, "epochs": 2})
    assert get_merged_config().param.epochs == 2


def test_stages_keep_the_eleven_cap_and_the_best(platform):
    from ymir_exc import result_writer as rw

    root, _ = platform
    models = os.path.join(root, "out", "models")
    for i in range(13):
        with open(os.path.join(models, f"w{i}.pt"), "w") as f:
            f.write("x")
        rw.write_model_stage(f"stage_{i}", [f"w{i}.pt"], {"mAP": np.float32(0.9 if i == 1 else 0.1 * (i % 5))},
                             timestamp=1000 + i)
    result = yaml.safe_load(open(os.path.join(models, "result.yaml")))
    assert len(result["model_stages"]) == 11 and result["best_stage_name"] == "stage_1"
    assert "stage_0" not in result["model_stages"] and "stage_2" not in result["model_stages"]
    with pytest.raises(ContractError):  # a metric out of [0, 1] is refused, not written
        rw.write_model_stage("bad", ["w0.pt"], {"mAP": 65.0})


def test_weights_saved_files_and_no_shell(platform):
    from ymir_exc.util import format_saved_files, get_merged_config, get_weight_files, write_ymir_training_result

    root, _ = platform
    cfg = get_merged_config()
    os.makedirs(os.path.join(root, "in", "models", "best"))
    open(os.path.join(root, "in", "models", "best", "m.pt"), "w").close()
    write_yaml(os.path.join(root, "in", "config.yaml"), {"model_params_path": ["m.pt", "best/m.pt", "gone.pt",
                                                                               "x.yaml"], "class_names": ["cat"]})
    found = get_weight_files(get_merged_config())
    assert found == [os.path.join(root, "in", "models", "best", "m.pt")] * 2  # found under its stage folder
    odd = os.path.join(root, "elsewhere", "a b;touch pwned.pt")
    os.makedirs(os.path.dirname(odd))
    with open(odd, "w") as f:
        f.write("w")
    assert format_saved_files(cfg, [odd]) == ["a b;touch pwned.pt"]
    assert not os.path.exists(os.path.join(ROOT, "pwned.pt")) and not os.path.exists("pwned.pt")
    write_ymir_training_result(cfg, [odd], "7", evaluation_result={"mAP": np.float64(0.5)})
    result = yaml.safe_load(open(os.path.join(root, "out", "models", "result.yaml")))
    assert result["model_stages"]["stage_7"]["files"] == ["a b;touch pwned.pt"]


def test_a_path_mined_twice_is_kept_once_with_its_best_score(platform, caplog):
    """The original SDK wrote every line, and the platform fails on a repeated path: each path once, with its best
    score, the merge logged; a candidate left out still comes last."""
    import logging

    from ymir_exc import result_writer as rw

    root, images = platform
    with caplog.at_level(logging.WARNING, logger="ymir_exc"):
        rw.write_mining_result(iter([(images[0], 0.2), (images[0], 0.9), (images[0], float("nan")),
                                     (images[0], 0.5)]))
    lines = [line.split("\t") for line in open(os.path.join(root, "out", "result.tsv")).read().splitlines()]
    assert [(p, float(v)) for p, v in lines] == [(images[0], 0.9), (images[1], pytest.approx(-0.1))]
    assert "3 repeated paths merged (each kept once, with its best score)" in caplog.text
    rw.write_mining_result([(images[1], float("nan")), (images[1], 0.3), (images[0], 0.1)])  # a number over NaN
    assert open(os.path.join(root, "out", "result.tsv")).read().split("\n")[0] == f"{images[1]}\t0.3"


def test_infer_results_are_validated(platform):
    from ymir_exc import result_writer as rw

    root, images = platform
    rw.write_infer_result({images[0]: [rw.Annotation(class_name="dog", score=np.float32(0.5),
                                                     box=rw.Box(x=1.6, y=2.2, w=10.5, h=5))]})
    det = json.load(open(os.path.join(root, "out", "infer-result.json")))["detection"]
    assert det["b.png"]["boxes"] == [] and det["a.png"]["boxes"][0]["class_name"] == "dog"
    assert det["a.png"]["boxes"][0]["box"]["x"] == 2  # rounded, not truncated
    with pytest.raises(ContractError):
        rw.write_infer_result({images[0]: [rw.Annotation(class_name="cow", score=0.5, box=rw.Box(x=1, y=2, w=3, h=4))]})
    coco = {"images": [{"id": 1, "file_name": images[0], "width": 40, "height": 30}],
            "categories": [{"id": 0, "name": "cat"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 0, "score": 0.9, "bbox": [1, 1, 4, 4],
                             "area": 16, "segmentation": {"size": [30, 40], "counts": b"PPYo0"}}]}
    rw.write_infer_result(coco, "segmentation")
    written = json.load(open(os.path.join(root, "out", "infer-result.json")))
    assert written["images"][0]["file_name"] == "a.png"  # a path made a basename
    del coco["annotations"][0]["area"]  # the platform needs it
    with pytest.raises(ContractError):
        rw.write_infer_result(coco, "segmentation")


def test_dataset_reader_and_converters(tmp_path, monkeypatch):
    from PIL import Image

    from ymir_exc import dataset_reader as dr
    from ymir_exc import env, settings
    from ymir_exc.dataset_convert import convert_ymir_to_coco, convert_ymir_to_yolov5
    from ymir_exc.util import get_merged_config

    lines = []
    for i in range(2):
        img, ann = str(tmp_path / "in" / "assets" / f"{i}.png"), str(tmp_path / "in" / "annotations" / f"{i}.txt")
        os.makedirs(os.path.dirname(img), exist_ok=True)
        os.makedirs(os.path.dirname(ann), exist_ok=True)
        Image.new("RGB", (64, 48)).save(img)
        with open(ann, "w") as f:
            f.write("1, 10, 10, 19, 29, 0, -1.0\n0, 0, 0, 5, 5, 0, 0.85\n")
        lines.append(f"{img}\t{ann}\n")
    index = str(tmp_path / "in" / "train-index.tsv")
    with open(index, "w") as f:
        f.write("".join(lines) + "\n")
    env_file = write_env(str(tmp_path), run_training=True, training_index_file=index, val_index_file=index,
                         assets_dir=str(tmp_path / "in" / "assets"),
                         annotations_dir=str(tmp_path / "in" / "annotations"))
    write_yaml(str(tmp_path / "in" / "config.yaml"), {"class_names": ["cat", "dog"], "export_format": "ark:raw"})
    monkeypatch.setattr(settings, "DEFAULT_ENV_FILE_PATH", env_file)
    assert list(dr.item_paths(env.DatasetType.TRAINING))[0][1].endswith("0.txt")
    assert dr.items_count(env.DatasetType.TRAINING) == 2 and dr.bboxes_count(None, env.DatasetType.TRAINING) == 4
    info = convert_ymir_to_coco()
    coco = json.load(open(info["train"]["ann_file"]))
    box = next(a for a in coco["annotations"] if a["category_id"] == 2)
    assert box["bbox"] == [10, 10, 10, 20]  # inclusive corners: the original gave 9 x 19
    assert {c["id"] for c in coco["categories"]} == {1, 2}
    assert {c["id"] for c in json.load(open(convert_ymir_to_coco(cat_id_from_zero=True)["val"]["ann_file"]))
            ["categories"]} == {0, 1}
    cfg = get_merged_config()
    data = convert_ymir_to_yolov5(cfg)
    assert convert_ymir_to_yolov5(cfg) == data  # a re-run (the original failed on its existing link)
    assert yaml.safe_load(open(data))["names"] == ["cat", "dog"]


def test_the_modules_public_executors_import_besides_the_documented_api():
    from ymir_exc import executor, sysinfo
    from ymir_exc.dataset_convert import (convert_ymir_to_coco, convert_ymir_to_yolov5, ymir2coco, ymir2mmseg,
                                          ymir2yolov5)

    assert ymir2coco.convert_ymir_to_coco is convert_ymir_to_coco
    assert ymir2yolov5.convert_ymir_to_yolov5 is convert_ymir_to_yolov5
    assert callable(ymir2mmseg.convert_ymir_to_mmseg) and callable(ymir2mmseg.train_with_black_area_or_not)
    assert callable(ymir2mmseg.find_blank_area_in_dataset) and callable(sysinfo.get_gpu_memory)
    assert set(executor.Executor().apps) == {"training", "mining", "infer"}
    with pytest.raises(RuntimeError, match="no CUDA device here"):  # these machines have none
        sysinfo.get_gpu_memory()


def _command(code, *args):
    return " ".join([shlex.quote(sys.executable), "-c", shlex.quote(code), *map(shlex.quote, args)])


def test_the_original_executor_runs_mining_then_inference_without_a_shell(platform, monkeypatch):
    """``ymir_exc.executor.Executor`` (the public demos' start.py): mining then inference, each command split as a
    shell would (a quoted argument with a space stays one) but never given to one (``;`` is an argument)."""
    from ymir_exc.executor import Executor

    root, _ = platform
    log = os.path.join(root, "order log.txt")
    append = "import sys; open(sys.argv[1], 'a').write(' '.join(sys.argv[2:]) + ' ')"
    apps = {"mining": _command(append, log, "mining"), "infer": _command(append, log, "infer") + " ; touch pwned",
            "training": "false"}
    monkeypatch.chdir(root)
    assert Executor(apps).start() == 0
    assert open(log).read() == "mining infer ; touch pwned " and not os.path.exists(os.path.join(root, "pwned"))
    assert _monitor(root)[2:4] == ["1.0000", "2"]


def test_a_failing_command_of_the_original_executor_fails_the_task(platform, monkeypatch):
    """A command's non-zero status ends the task: state 4 and 160004 naming the command (the original raised and
    left the monitor running); a command that reported its own error keeps that error's code and message."""
    from ymir_exc.executor import Executor

    root, _ = platform
    assert Executor({"mining": _command("raise SystemExit(3)"), "infer": "true"}).start() == 3
    fields = _monitor(root)
    assert fields[3:5] == ["4", "160004"] and fields[5].startswith("mining command ") and "status 3" in fields[5]
    os.remove(os.path.join(root, "out", "monitor.txt"))
    from ymir_exc import settings

    monkeypatch.setenv("YMIR_ENV_FILE", settings.DEFAULT_ENV_FILE_PATH)
    own = "import ymir_exc; from ymir_sdk.errors import DatasetError; raise DatasetError('index line 3 is bad')"
    assert Executor({"mining": _command(own), "infer": "true"}).start() == 1
    fields = _monitor(root)
    assert fields[3:5] == ["4", "300002"] and fields[5].splitlines()[0] == "index line 3 is bad", fields


def _semantic_task(root, full):
    """A semantic training task (seg-coco: one COCO json) of two 12 x 8 images: their masks ("a" left, "b"
    right) cover every pixel when ``full``, else the second image keeps a strip no mask covers."""
    from PIL import Image
    from pycocotools import mask as mask_utils

    ann_file = os.path.join(root, "in", "annotations", "coco-annotations.json")
    os.makedirs(os.path.dirname(ann_file), exist_ok=True)
    images, anns, lines = [], [], []
    for i in range(2):
        img = os.path.join(root, "in", "assets", f"{i}.png")
        os.makedirs(os.path.dirname(img), exist_ok=True)
        Image.new("RGB", (12, 8)).save(img)
        images.append({"id": i + 1, "file_name": f"{i}.png", "width": 12, "height": 8})
        for cat, cols in ((1, slice(0, 6)), (2, slice(6, 12 if full or i == 0 else 10))):
            m = np.zeros((8, 12), np.uint8)
            m[:, cols] = 1
            rle = mask_utils.encode(np.asfortranarray(m))
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": cat, "iscrowd": 0,
                         "bbox": [cols.start, 0, cols.stop - cols.start, 8], "area": int(m.sum()),
                         "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}})
        lines.append(f"{img}\t{ann_file}\n")
    with open(ann_file, "w") as f:
        json.dump({"images": images, "annotations": anns,
                   "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}, f)
    index = os.path.join(root, "in", "train-index.tsv")
    with open(index, "w") as f:
        f.write("".join(lines))
    env_file = write_env(root, run_training=True, training_index_file=index, val_index_file=index,
                         candidate_index_file=os.path.join(root, "in", "candidate-index.tsv"))
    write_yaml(os.path.join(root, "in", "config.yaml"), {"class_names": ["a", "b"]})
    return env_file


def test_the_original_semantic_converters(tmp_path, monkeypatch):
    """``ymir2mmseg``: the blank-area answer from the masks' union (the same on every run: the original sampled
    at random and summed overlapping areas), the switches that override it, and the label maps' index files."""
    from ymir_exc import settings
    from ymir_exc.dataset_convert.ymir2mmseg import (convert_ymir_to_mmseg, find_blank_area_in_dataset,
                                                     train_with_black_area_or_not)
    from ymir_exc.util import get_merged_config

    monkeypatch.delenv("WITH_BLANK_AREA", raising=False)
    monkeypatch.setattr(settings, "DEFAULT_ENV_FILE_PATH", _semantic_task(str(tmp_path / "partial"), False))
    cfg = get_merged_config()
    assert find_blank_area_in_dataset(cfg) and not find_blank_area_in_dataset(cfg, max_sample_num=1)
    assert train_with_black_area_or_not(cfg) and os.environ["WITH_BLANK_AREA"] == "TRUE"
    monkeypatch.setenv("WITH_BLANK_AREA", "false")
    assert not train_with_black_area_or_not(cfg)
    monkeypatch.setenv("WITH_BLANK_AREA", "true")
    cfg.param["ignore_blank_area"] = True
    assert not train_with_black_area_or_not(cfg)
    monkeypatch.delenv("WITH_BLANK_AREA")
    monkeypatch.setattr(settings, "DEFAULT_ENV_FILE_PATH", _semantic_task(str(tmp_path / "covered"), True))
    cfg = get_merged_config()
    assert not find_blank_area_in_dataset(cfg)
    index = convert_ymir_to_mmseg(cfg)
    assert index["test"] == cfg.ymir.input.candidate_index_file
    rows = [line.split("\t") for line in open(index["train"]).read().splitlines()]
    assert len(rows) == 2 and all(png.endswith(".png") and os.path.exists(png) for _, png in rows)
    from PIL import Image

    assert sorted(np.unique(np.array(Image.open(rows[0][1]))).tolist()) == [0, 1]  # no background class


def test_ymir_exc_import_does_not_pull_frameworks():
    code = "import sys, ymir_exc.util, ymir_exc.result_writer, ymir_exc.dataset_convert; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize("original", [None, "ymir-exc", "ymir-executor-sdk"])
def test_importing_beside_the_original_sdk_warns(tmp_path, original):
    """Both ship the package ymir_exc: beside an installed original (a distribution's metadata on the path, as
    pip leaves it), importing ours says so once, naming what to uninstall; alone, it says nothing."""
    if original:
        info = tmp_path / f"{original.replace('-', '_')}-2.1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {original}\nVersion: 2.1.0\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, str(tmp_path)]))
    r = subprocess.run([sys.executable, "-W", "always", "-c", "import ymir_exc"], capture_output=True, text=True,
                       env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    if original:
        assert r.stderr.count("is installed beside ymir-sdk") == 1 and f"pip uninstall {original}" in r.stderr
    else:
        assert "installed beside" not in r.stderr, r.stderr
