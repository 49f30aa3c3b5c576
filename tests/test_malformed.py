"""Malformed inputs: each one gets the right return code and a message that says what is wrong."""
import json

import pytest
from PIL import Image

from ymir_sdk import (ConfigError, ContractError, DatasetError, HyperParams, ImageError, ModelError, ReturnCode,
                      TrainingResult, YmirError, load_env, pick_weight_file, resolve_model_files)
from ymir_sdk.config import FloatList, load_config
from ymir_sdk.dataset import image_size, parse_ark, parse_voc, read_candidates, read_pairs
from ymir_sdk.dataset.annotations import CocoSource
from ymir_sdk.tools.localdata import read_dataset
from ymir_sdk.models import check_model_files
from ymir_sdk.results import Detection, fraction, write_detection_result, write_mining_result
from ymir_sdk.tools.runner import parse_sets
from typing import Literal

pytestmark = pytest.mark.images  # the SDK core runs in every image: also on the images' stack


class P(HyperParams):
    model: Literal["yolov5n", "yolov5s"] = "yolov5s"
    epochs: int = 10
    lr: float = 0.01
    sync_bn: bool = False
    scores: FloatList = []


def _file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def _zip(tmp_path, member="archive/data.pkl"):
    import zipfile

    path = tmp_path / "z.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, b"\x80\x02}q\x00.")
    return path.read_bytes()


def _png(tmp_path, name="ok.png"):
    path = tmp_path / name
    Image.new("RGB", (20, 20)).save(path)
    return str(path)


CASES = {
    # env.yaml
    "env missing": (lambda t: load_env(str(t / "none.yaml")), 300001, "env file not found"),
    "env is a list": (lambda t: load_env(_file(t, "e.yaml", "- a\n- b\n")), 300001, "not a YAML mapping"),
    "env bad yaml": (lambda t: load_env(_file(t, "e.yaml", "a: [b\n")), 300001, "unreadable"),
    "env bad bool": (lambda t: load_env(_file(t, "e.yaml", "run_training: maybe\n")), 300001, "run_training"),
    "env input not a mapping": (lambda t: load_env(_file(t, "e.yaml", "input: 3\n")), 300001, "input"),
    # config.yaml
    "config missing": (lambda t: load_config(str(t / "c.yaml")), 300001, "config file not found"),
    "config is a list": (lambda t: load_config(_file(t, "c.yaml", "- 1\n")), 300001, "not a YAML mapping"),
    "config bad yaml": (lambda t: load_config(_file(t, "c.yaml", "{a: 1\n")), 300001, "unreadable"),
    "int as text": (lambda t: P.parse({"epochs": "ten"}), 300001, "'epochs' = 'ten': expected an integer"),
    "float as text": (lambda t: P.parse({"lr": "fast"}), 300001, "'lr' = 'fast': expected a number"),
    "bool as text": (lambda t: P.parse({"sync_bn": "perhaps"}), 300001, "'sync_bn' = 'perhaps': expected a boolean"),
    "unknown choice": (lambda t: P.parse({"model": "yolov9"}), 300001, "'model' = 'yolov9': expected one of"),
    "bad gpu id": (lambda t: P.parse({"gpu_id": "a,b"}), 300001, "'gpu_id' = 'a,b'"),
    "bad list item": (lambda t: P.parse({"scores": "1,x"}), 300001, "'scores"),
    "class_names not a list": (lambda t: P.parse({"class_names": {"a": 1}}), 300001, "'class_names'"),
    "set without =": (lambda t: parse_sets(["epochs"]), 300001, "key=value"),
    # index files
    "index missing": (lambda t: read_pairs(str(t / "x.tsv")), 300002, "training index file not found"),
    "index empty": (lambda t: read_pairs(_file(t, "x.tsv", "\n\n")), 300002, "training dataset is empty"),
    "index without TAB": (lambda t: read_pairs(_file(t, "x.tsv", "/a.jpg /a.txt\n")), 300002, "line 1"),
    "candidates empty": (lambda t: read_candidates(_file(t, "c.tsv", "")), 300002, "candidate dataset is empty"),
    "no index in env": (lambda t: read_pairs(""), 300001, "input.training_index_file"),
    # ark / voc / coco
    "ark 3 fields": (lambda t: parse_ark("0, 1, 2\n", "a.txt"), 300002, "a.txt line 1: expected 5 or 7"),
    "ark 9 fields": (lambda t: parse_ark("0,1,2,3,4,5,6,7,8\n", "a.txt"), 300002, "expected 5 or 7"),
    "ark text field": (lambda t: parse_ark("0, 1, two, 3, 4\n", "a.txt"), 300002, "non-numeric"),
    "ark fractional class": (lambda t: parse_ark("1.5, 1, 2, 3, 4\n", "a.txt"), 300002, "class id must be an integer"),
    "voc not xml": (lambda t: parse_voc("<annotation>", {}, "a.xml"), 300002, "a.xml: not valid XML"),
    "voc no bndbox": (lambda t: parse_voc("<a><object><name>x</name></object></a>", {}, "a.xml"), 300002,
                      "no bndbox"),
    "voc text coordinate": (lambda t: parse_voc("<a><object><name>x</name><bndbox><xmin>a</xmin></bndbox></object></a>",
                                                {}, "a.xml"), 300002, "non-numeric"),
    "voc angle in degrees": (lambda t: parse_voc("<a><object><name>x</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
                                                 "<xmax>9</xmax><ymax>9</ymax><rotate_angle>45</rotate_angle>"
                                                 "</bndbox></object></a>", {}, "a.xml"), 300002,
                             "a.xml: object 1 ('x') has a rotate angle of 45, beyond 2*pi"),
    "coco angle in degrees": (lambda t: CocoSource(_file(t, "c.json", json.dumps(
        {"images": [{"id": 1, "file_name": "ok.png"}], "annotations": [
            {"id": 7, "image_id": 1, "bbox": [1, 1, 5, 5], "category_id": 1, "rotate_angle": -90}]})), ["a"])
        .objects("/x/ok.png", 20, 20, None), 300002, "annotation 7 of image ok.png has a rotate angle of -90"),
    "coco not json": (lambda t: CocoSource(_file(t, "c.json", "{"), ["a"]), 300002, "not valid JSON"),
    "coco no images": (lambda t: CocoSource(_file(t, "c.json", "{}"), ["a"]), 300002, "no 'images' list"),
    "coco annotation without bbox": (lambda t: CocoSource(_file(t, "c.json", json.dumps(
        {"images": [{"id": 1, "file_name": "ok.png"}], "annotations": [{"id": 7, "image_id": 1}]})), ["a"])
        .objects("/x/ok.png", 20, 20, None), 300002, "annotation 7 has no 4-number bbox"),
    "all training images unreadable": (lambda t: __import__("ymir_sdk.dataset.convert", fromlist=["x"])._load(
        {"train": [(_file(t, "b.png", b"junk"), _file(t, "b.txt", ""))]}, ["a"], True), 300002,
        "train dataset has no readable image"),
    "training set without objects": (lambda t: __import__("ymir_sdk.dataset.convert", fromlist=["x"])._load(
        {"train": [(_png(t), _file(t, "b.txt", ""))]}, ["a"], True), 300002, "no annotated object"),
    "unknown dataset folder": (lambda t: read_dataset(str(t)), 300002, "not a COCO, YOLO, VOC or ark"),
    # images
    "image missing": (lambda t: image_size(str(t / "none.jpg")), 300003, "image not found"),
    "image garbage": (lambda t: image_size(_file(t, "x.jpg", b"garbage")), 300003, "image unreadable"),
    "jpeg without frame": (lambda t: image_size(_file(t, "x.jpg", b"\xff\xd8\xff\xd9")), 300003, "image unreadable"),
    "png zero size": (lambda t: image_size(_file(t, "x.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(8))),
                      300003, "no pixels"),
    # models
    "model file missing": (lambda t: resolve_model_files([str(t / "m" / "best.pt")], str(t)), 300004,
                           "model file not found"),
    "no weight file": (lambda t: pick_weight_file(["/in/models/s/cfg.py"]), 300004, "no weights file"),
    "checkpoint of garbage": (lambda t: check_model_files([_file(t, "best.pth", b"garbage")], str(t)), 300004,
                              "best.pth is not a torch checkpoint (neither a zip archive nor a pickle)"),
    "checkpoint an HTML page": (lambda t: check_model_files([_file(t, "w.pt", "<html>404</html>")], str(t)), 300004,
                                "w.pt is not a torch checkpoint"),
    "checkpoint zip cut short": (lambda t: check_model_files([_file(t, "w.pt", _zip(t)[:60])], str(t)), 300004,
                                 "w.pt is not a torch checkpoint (a broken zip archive"),
    "checkpoint zip without data.pkl": (lambda t: check_model_files([_file(t, "w.pt", _zip(t, "a/x.txt"))], str(t)),
                                        300004, "a zip archive without data.pkl"),
    # outputs our writers refuse
    "metric as percent": (lambda t: TrainingResult(str(t)).add_stage("s", [_png(t)], {"mAP": 57.0}), 160004,
                          "fractions, not percentages"),
    "NaN mining score": (lambda t: write_mining_result(str(t / "r.tsv"), {"/a.jpg": float("nan")}), 300201, "/a.jpg"),
    "inf mining score": (lambda t: write_mining_result(str(t / "r.tsv"), {"/a.jpg": float("inf")}), 300201, "/a.jpg"),
    "NaN validation metric": (lambda t: TrainingResult(str(t)).add_stage("epoch_3", [_png(t)], {"mAP": float("nan")}),
                              300201, "'epoch_3'"),
    "NaN metric before clipping": (lambda t: fraction(float("nan"), "mAP", "epoch_3"), 300201, "epoch_3"),
    "box outside 32 bits": (lambda t: write_detection_result(str(t / "r.json"), {"/a.jpg": [
        Detection(0, 0.5, 0, 0, 2.0 ** 40, 10)]}, ["a"]), 160004, "32-bit"),
    "png data cut": (lambda t: image_size(_file(t, "cut.png", open(_png(t), "rb").read()[:-20])), 300003,
                     "data is cut"),
    # what config.yaml must hold for the task, checked before any work
    "training without class_names": (lambda t: P.parse({}).check_task("train"), 300001, "'class_names'"),
    "class_names twice": (lambda t: P.parse({"class_names": ["cat", "dog", "Cat "]}).check_task("train"), 300001,
                          "'Cat ' is there twice"),
    "class weights beyond the classes": (lambda t: W.parse({"class_names": ["a"], "class_distribution_scores": "1,2"})
                                         .check_task("mine"), 300001, "'class_distribution_scores'"),
}


class W(HyperParams):
    class_distribution_scores: FloatList = []


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_input(tmp_path, name):
    call, code, needle = CASES[name]
    with pytest.raises(YmirError) as e:
        call(tmp_path)
    assert e.value.code == code, e.value.message
    assert needle in e.value.message, e.value.message
    assert "\n" not in e.value.message


def test_there_are_at_least_thirty_distinct_cases():
    assert len(CASES) >= 30


def test_error_classes_carry_their_codes():
    assert (ConfigError("k").code, DatasetError("x").code, ImageError("x").code, ModelError("x").code,
            ContractError("x").code) == (300001, 300002, 300003, 300004, 160004)
    assert ReturnCode.OBJECT_TYPE_ERROR == 300005


def test_a_checkpoint_zip_and_a_legacy_pickle_pass_the_container_check(tmp_path):
    """What torch.save writes, both formats (no torch needed: the check reads a few bytes)."""
    zipped = _file(tmp_path, "a.pth", _zip(tmp_path))
    legacy = _file(tmp_path, "b.pt", b"\x80\x02\x8a\x0alZ\xfc\x9cF\xf9 j\xa8P\x19.")
    assert check_model_files([zipped, legacy], str(tmp_path)) == [zipped, legacy]
