"""The toy executor (no framework) through `ymir-sdk run` and `ymir-sdk verify`, as a third-party author would."""
import json
import os

import pytest
import yaml

from conftest import TOY, cli
from ymir_sdk.tools.synthetic import write_broken_image

pytestmark = pytest.mark.images  # the SDK core runs in every image: also on the images' stack


@pytest.fixture(scope="module")
def trained(ark_dataset, tmp_path_factory):
    work = str(tmp_path_factory.mktemp("toy") / "train")
    r = cli("run", TOY, "--task", "train", "--dataset", ark_dataset, "--work", work, "--no-progress")
    assert r.returncode == 0, r.stdout + r.stderr
    return work


def test_train_outputs_pass_verify(trained):
    r = cli("verify", trained, "--task", "train")
    assert r.returncode == 0, r.stdout
    result = yaml.safe_load(open(os.path.join(trained, "out", "models", "result.yaml")))
    assert result["best_stage_name"] == "best" and 0 < result["model_stages"]["best"]["mAP"] <= 1
    # the platform's layout: hash-named assets, ark annotations with inclusive corners, template + platform keys
    config = yaml.safe_load(open(os.path.join(trained, "in", "config.yaml")))
    assert config["class_names"] == ["square", "disc"] and config["export_format"] == "ark:raw"
    assert "pretrained_model_params" not in config and config["gpu_id"] == ""
    image, ann = open(os.path.join(trained, "in", "train-index.tsv")).readline().rstrip("\n").split("\t")
    name = os.path.basename(image)
    assert len(name.split(".")[0]) == 40 and os.path.dirname(image).endswith(name[38:40])


@pytest.mark.parametrize("task", ["infer", "mine", "mine+infer"])
def test_infer_and_mine_pass_verify(ark_dataset, trained, tmp_path, task):
    work = str(tmp_path / "w")
    r = cli("run", TOY, "--task", task, "--dataset", ark_dataset, "--work", work, "--model", trained,
            "--no-progress")
    assert r.returncode == 0, r.stdout + r.stderr
    v = cli("verify", work, "--task", task)
    assert v.returncode == 0, v.stdout
    config = yaml.safe_load(open(os.path.join(work, "in", "config.yaml")))
    assert config["run_mining"] == task.startswith("mine") and config["run_infer"] == task.endswith("infer")
    assert config["model_params_path"][0].endswith("/models/best/toy.json")
    if task == "mine+infer":
        assert "mining:" in r.stdout and "inference:" in r.stdout


def test_unreadable_candidate_is_ranked_last_and_has_no_boxes(ark_dataset, trained, tmp_path):
    """Every candidate exactly once in both files (YMIR's executor verifier asks it): the unreadable one after
    every readable one, with the lowest score, and with an empty box list; both logged."""
    import shutil

    ds = str(tmp_path / "ds")
    shutil.copytree(ark_dataset, ds)
    write_broken_image(os.path.join(ds, "images", "val", "broken.png"))
    work = str(tmp_path / "w")
    r = cli("run", TOY, "--task", "mine+infer", "--dataset", ds, "--work", work, "--model", trained,
            "--no-progress")
    assert r.returncode == 0, r.stdout
    assert cli("verify", work, "--task", "mine+infer").returncode == 0
    rows = [ln.split("\t") for ln in open(os.path.join(work, "out", "result.tsv")).read().splitlines()]
    candidates = open(os.path.join(work, "in", "candidate-index.tsv")).read().split()
    assert sorted(p for p, _ in rows) == sorted(candidates)
    broken = next(c for c in candidates if open(c, "rb").read() == b"this is not an image")
    assert rows[-1][0] == broken and float(rows[-1][1]) < min(float(s) for _, s in rows[:-1])
    detections = json.load(open(os.path.join(work, "out", "infer-result.json")))["detection"]
    assert set(detections) == {os.path.basename(c) for c in candidates}
    assert detections[os.path.basename(broken)]["boxes"] == []
    assert "skipping" in open(os.path.join(work, "out", "ymir-executor-out.log")).read()


def test_failure_reaches_the_monitor_with_code_and_exit_status(ark_dataset, tmp_path):
    work = str(tmp_path / "w")
    r = cli("run", TOY, "--task", "train", "--dataset", ark_dataset, "--work", work, "--no-progress",
            "--set", "fail_with=disk on fire")
    assert r.returncode != 0
    first = open(os.path.join(work, "out", "monitor.txt")).read().splitlines()[0].split("\t")
    assert first[3:] == ["4", "160004", "RuntimeError: disk on fire"]
    bad = cli("run", TOY, "--task", "train", "--dataset", ark_dataset, "--work", work, "--no-progress",
              "--set", "tolerance=wide")
    assert bad.returncode != 0
    line = open(os.path.join(work, "out", "monitor.txt")).readline().rstrip("\n").split("\t")
    assert line[3:5] == ["4", "300001"] and "'tolerance' = 'wide'" in line[5]
    assert cli("verify", work, "--task", "train").returncode != 0


def test_web_form_semantics_for_mining(ark_dataset, trained, tmp_path):
    """Mining/infer forms drop falsy values and send a number-typed template value as a number, anything else
    typed in as a string."""
    work = str(tmp_path / "w")
    r = cli("run", TOY, "--task", "mine", "--dataset", ark_dataset, "--work", work, "--model", trained,
            "--no-progress", "--set", "tolerance=35", "--set", "flag=", "--set", "note=7")
    assert r.returncode == 0, r.stdout
    config = yaml.safe_load(open(os.path.join(work, "in", "config.yaml")))
    assert config["tolerance"] == 35 and config["note"] == "7" and "flag" not in config


def test_web_config_filters():
    from ymir_sdk.tools.runner import web_config

    template = {"flip": False, "n": 0, "t": 1.0, "s": ""}
    # a typed-in "0" is a non-empty string, which the web keeps; template falsy values are dropped
    assert web_config(template, {"x": "0", "y": ""}, "mine") == {"t": 1.0, "x": "0"}
    assert web_config(template, {"x": "0", "y": ""}, "train") == {"flip": False, "n": 0, "t": 1.0, "x": "0"}
    # the number box: a number-typed template value edited arrives as a number (an int or a float as typed), and a
    # number 0 is falsy to the mining and inference forms; a bool or string template value edited is a string
    edits = {"n": "3", "t": "0.25", "flip": "true", "s": "1e-3"}
    assert web_config(template, edits, "train") == {"n": 3, "t": 0.25, "flip": "true", "s": "1e-3"}
    assert web_config(template, {"n": "0", "t": "-2e-1"}, "infer") == {"t": -0.2}
    assert web_config(template, {"n": "many", "t": " 7 "}, "train") == {"flip": False, "n": "many", "t": 7}


def test_check_image(tmp_path):
    ok = cli("check-image", TOY)
    assert ok.returncode == 0, ok.stdout
    man = tmp_path / "img-man"
    (man / "instance-seg").mkdir(parents=True)
    (man / "manifest.yaml").write_text("object_type: [2, 4]\n")
    (man / "instance-seg" / "training-template.yaml").write_text("epochs: 10\nnested: {a: 1}\ngpu_id: '0'\n")
    r = cli("check-image", str(man))
    assert r.returncode == 1
    for needle in ("det: no template for object type 2", "nested", "'gpu_id' is written by the platform",
                   "no export_format"):
        assert needle in r.stdout, r.stdout
    (man / "manifest.yaml").write_text("object_type: detection\n")
    assert "object_type 'detection'" in cli("check-image", str(man)).stdout


def test_runner_reads_coco_yolo_and_voc(tmp_path):
    from ymir_sdk.tools.localdata import read_dataset
    from ymir_sdk.tools.synthetic import write_coco_dataset

    names = write_coco_dataset(str(tmp_path / "coco"), 5, 2)
    ds = read_dataset(str(tmp_path / "coco"))
    assert ds.class_names == names and len(ds.split("train")) == 5 and len(ds.split("val")) == 2
    assert ds.split("train")[0].objects[0].segmentation["counts"]
    # YOLO
    y = tmp_path / "yolo"
    (y / "images" / "train").mkdir(parents=True)
    (y / "labels" / "train").mkdir(parents=True)
    from PIL import Image

    Image.new("RGB", (100, 50)).save(y / "images" / "train" / "a.png")
    (y / "labels" / "train" / "a.txt").write_text("1 0.5 0.5 0.2 0.4\n")
    (y / "data.yaml").write_text(json.dumps({"names": ["x", "y"], "train": "images/train"}))
    ds = read_dataset(str(y))
    assert ds.class_names == ["x", "y"]
    o = ds.all_images()[0].objects[0]
    assert o.class_id == 1 and o.box == pytest.approx((40, 15, 60, 35))
    # VOC
    v = tmp_path / "voc"
    (v / "Annotations").mkdir(parents=True)
    (v / "JPEGImages").mkdir()
    Image.new("RGB", (40, 40)).save(v / "JPEGImages" / "a.jpg")
    (v / "Annotations" / "a.xml").write_text("<annotation><object><name>cat</name><bndbox><xmin>1</xmin><ymin>2</ymin>"
                                             "<xmax>10</xmax><ymax>20</ymax></bndbox></object></annotation>")
    ds = read_dataset(str(v))
    assert ds.class_names == ["cat"] and ds.all_images()[0].objects[0].box == (1, 2, 11, 21)


@pytest.mark.parametrize("fmt", ["voc:raw", "seg-coco:raw", "none:raw"])
def test_export_formats_laid_out_as_the_platform_does(ark_dataset, tmp_path, fmt):
    from ymir_sdk.tools.localdata import read_dataset
    from ymir_sdk.tools.runner import lay_out

    env_file = lay_out(str(tmp_path / "w"), read_dataset(ark_dataset), "train",
                       os.path.join(TOY, "img-man"), {"export_format": fmt})
    env = yaml.safe_load(open(env_file))
    rows = open(env["input"]["training_index_file"]).read().splitlines()
    if fmt == "none:raw":
        assert rows == []  # the platform writes no pairs for an unknown format
        return
    ann = rows[0].split("\t")[1]
    if fmt == "voc:raw":
        assert ann.endswith(".xml") and "<bndbox>" in open(ann).read()
    else:
        data = json.load(open(ann))
        assert ann.endswith("coco-annotations.json") and all(r.split("\t")[1] == ann for r in rows)
        assert data["images"][0]["file_name"] == os.path.basename(data["images"][0]["file_name"])
        assert {c["id"] for c in data["categories"]} <= {0, 1}


# ------------------------------------------------------------------ one image, an executor per object type
def test_multi_type_executor_dispatch(tmp_path):
    """A MultiTypeExecutor runs the executor config.yaml's object_type names; without it (platform < 2.4), the
    model's ymir-info.yaml (inference, mining) or the export format (training) says; else 300005."""
    from conftest import write_env, write_yaml
    from ymir_sdk import Executor, MultiTypeExecutor, ObjectTypeError, load_env

    class Det(Executor):
        name, object_types = "det", (2,)

    class Sem(Executor):
        name, object_types = "sem", (3,)

    class Both(MultiTypeExecutor):
        name = "both"
        executors = {2: Det, 3: Sem}

    train_env = load_env(write_env(str(tmp_path / "t"), run_training=True))
    assert isinstance(Both().resolve({"object_type": 3}, train_env), Sem)
    assert isinstance(Both().resolve({"object_type": "2"}, train_env), Det)
    assert isinstance(Both().resolve({"export_format": "ark:raw"}, train_env), Det)
    for config in ({"object_type": 4}, {"export_format": "seg-coco:raw"}, {}):
        with pytest.raises(ObjectTypeError, match=r"supported: \[2, 3\]"):
            Both().resolve(config, train_env)
    infer_env = load_env(write_env(str(tmp_path / "i"), run_infer=True))
    with pytest.raises(ObjectTypeError):
        Both().resolve({}, infer_env)
    write_yaml(os.path.join(infer_env.input.models_dir, "ymir-info.yaml"), {"object_type": 3})
    assert isinstance(Both().resolve({}, infer_env), Sem)
    assert Both().object_types == (2, 3)
