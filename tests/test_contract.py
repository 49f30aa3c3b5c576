"""The verifier (ymir_sdk.contract) accepts the contract's examples and rejects every defect of its failure table;
the writers refuse to write such outputs."""
import copy
import math
import os

import numpy as np
import pytest

from ymir_sdk import ContractError, Detection, Instance, TrainingResult
from ymir_sdk.errors import NanError
from ymir_sdk import contract, results

pytestmark = pytest.mark.images  # the SDK core runs in every image: also on the images' stack

RESULT_EXAMPLE = {
    "best_stage_name": "epoch_40",
    "model_stages": {
        "epoch_20": {"stage_name": "epoch_20", "files": ["weights_020.pth", "model_cfg.yaml"],
                     "timestamp": 1690010000, "mAP": 0.512, "mAR": 0.603, "tp": 812, "fp": 233, "fn": 301},
        "epoch_40": {"stage_name": "epoch_40", "files": ["weights_040.pth", "model_cfg.yaml"],
                     "timestamp": 1690013600, "mAP": 0.588}},
    "attachments": {"deploy": ["model_040.onnx", "labels.txt"]},
    "evaluate_config": {"iou_thr": 0.5, "conf_thr": 0.005},
    "mAP": 0.588, "object_type": 2,
}
DET_EXAMPLE = {"detection": {
    "0a7d7b5c3e1f8f2d4c9b6a1e2f3d4c5b6a7e8f5e.jpg": {"boxes": [
        {"box": {"x": 52, "y": 118, "w": 150, "h": 268}, "class_name": "person", "score": 0.91},
        {"box": {"x": 300, "y": 212, "w": 151, "h": 119, "rotate_angle": 0.0}, "class_name": "dog", "score": 0.47}]},
    "9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1bc1.png": {"boxes": []}}}
COCO_EXAMPLE = {
    "images": [{"id": 1, "file_name": "0a7d7b5c3e1f8f2d4c9b6a1e2f3d4c5b6a7e8f5e.jpg", "width": 640, "height": 480}],
    "categories": [{"id": 0, "name": "person", "supercategory": "none"},
                   {"id": 1, "name": "bicycle", "supercategory": "none"},
                   {"id": 2, "name": "dog", "supercategory": "none"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 0, "bbox": [48, 120, 160, 270], "area": 31012, "iscrowd": 0,
         "segmentation": {"size": [480, 640], "counts": "abc"}, "confidence": 0.93},
        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [301, 210, 155, 121], "area": 14020, "iscrowd": 0,
         "segmentation": [[301, 210, 455, 210, 455, 330, 301, 330]], "confidence": 0.71}]}
MINING_EXAMPLE = ("/in/assets/c1/9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1bc1.png\t0.9731\n"
                  "/in/assets/5e/0a7d7b5c3e1f8f2d4c9b6a1e2f3d4c5b6a7e8f5e.jpg\t0.4410\n"
                  "/in/assets/7d/4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f7d.jpg\t0.0012\n")
CLASSES = ["person", "bicycle", "dog"]


@pytest.fixture
def models_dir(tmp_path):
    for stage, files in (("epoch_20", ["weights_020.pth", "model_cfg.yaml"]),
                         ("epoch_40", ["weights_040.pth", "model_cfg.yaml"])):
        os.makedirs(tmp_path / stage)
        for f in files:
            (tmp_path / stage / f).write_text("x")
    os.makedirs(tmp_path / "attachments" / "deploy")
    for f in ("model_040.onnx", "labels.txt"):
        (tmp_path / "attachments" / "deploy" / f).write_text("x")
    return str(tmp_path)


def test_contract_examples_are_accepted(models_dir):
    assert contract.check_training_result(RESULT_EXAMPLE, models_dir) == []
    assert contract.check_detection_result(DET_EXAMPLE, CLASSES) == []
    assert contract.check_coco_result(COCO_EXAMPLE, CLASSES) == []
    assert contract.check_mining_result(MINING_EXAMPLE) == []
    assert contract.check_monitor("t0000003000041a2b3c4d5e6f70819\t1690011234.517301\t0.37\t2\t0\n") == []
    assert contract.check_monitor("t1\t1690014321.002144\t1.00\t4\t300103\tCUDA out of memory\nTraceback\n") == []
    assert contract.check_manifest({"object_type": 2, "enable_livecode": False}) == []
    assert contract.check_manifest({"object_type": [3, 4]}) == []


def _mutated(path, value):
    data = copy.deepcopy(RESULT_EXAMPLE)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


@pytest.mark.parametrize("path,value,needle", [
    (("model_stages",), KeyError, "no model_stages"),
    (("model_stages",), {}, "non-empty"),
    (("best_stage_name",), "epoch_99", "best_stage_name"),
    (("best_stage_name",), KeyError, "best_stage_name"),
    (("model_stages", "epoch_40", "mAP"), 58.8, "[0, 1]"),
    (("model_stages", "epoch_40", "mAP"), float("nan"), "[0, 1]"),
    (("model_stages", "epoch_40", "mAP"), "0.5", "[0, 1]"),
    (("model_stages", "epoch_40", "timestamp"), KeyError, "timestamp"),
    (("model_stages", "epoch_40", "timestamp"), "yesterday", "timestamp"),
    (("model_stages", "epoch_40", "files"), "weights_040.pth", "list"),
    (("model_stages", "epoch_40", "files"), ["weights_999.pth"], "weights_999.pth"),
    (("model_stages", "epoch_20", "TP"), 3, "lower-case"),
    (("model_stages", "epoch_20", "tp"), -1, "tp"),
    (("model_stages", "epoch_40", "mAP"), KeyError, "main metric"),
    (("attachments", "deploy"), ["missing.onnx"], "missing.onnx"),
    (("evaluate_config", "iou_thr"), "0.5:0.95:0.05", "evaluate_config"),
    (("object_type",), 7, "object_type"),
])
def test_training_result_defects_rejected(models_dir, path, value, needle):
    errors = contract.check_training_result(_mutated(path, value), models_dir)
    assert errors and any(needle in e for e in errors), errors


def test_a_segmentation_result_names_its_object_type(models_dir):
    """YMIR 2.1-2.3 read the model's type from result.yaml's object_type, default 2: a segmentation result
    without it (or with another) would be stored as a detection model (contract 5.2)."""
    seg = {k: v for k, v in RESULT_EXAMPLE.items() if k != "object_type"}
    for otype in (3, 4):
        metric = contract.MAIN_METRIC[otype]
        data = {**seg, "model_stages": {k: {**v, metric: 0.5} for k, v in seg["model_stages"].items()}}
        errors = contract.check_training_result(data, models_dir, otype)
        assert len(errors) == 1 and "object_type is 'missing', not %d" % otype in errors[0], errors
        assert contract.check_training_result({**data, "object_type": otype}, models_dir, otype) == []
        assert "object_type is 2" in contract.check_training_result({**data, "object_type": 2}, models_dir, otype)[0]
    assert contract.check_training_result({**seg, "object_type": 2}, models_dir) == []  # detection: either way


def test_legacy_results_are_accepted_with_a_warning_and_non_mapping_ones_rejected(models_dir):
    """The 1.x format is still accepted by the platform (one stage): a warning, unless it is broken."""
    open(os.path.join(models_dir, "a.pth"), "w").write("x")
    legacy = contract.check_training_result({"model": ["a.pth"], "map": 0.5}, models_dir)
    assert len(legacy) == 1 and legacy[0].startswith(contract.WARNING) and "legacy" in legacy[0]
    assert contract.errors_only(legacy) == []
    broken = contract.check_training_result({"model": ["gone.pth"], "map": 58.8}, models_dir)
    assert len(contract.errors_only(broken)) == 2 and "gone.pth" in broken[0] and "'map'" in broken[1]
    assert contract.check_training_result(None, models_dir) == ["result.yaml is not a mapping"]
    bad = _mutated(("model_stages",), {"a@b": dict(RESULT_EXAMPLE["model_stages"]["epoch_40"], stage_name="a@b")})
    bad["best_stage_name"] = "a@b"
    assert any("'@'" in e for e in contract.check_training_result(bad, models_dir))


def _det(box=None, **item):
    entry = {"box": box if box is not None else {"x": 1, "y": 2, "w": 3, "h": 4}, "class_name": "dog", "score": 0.5}
    entry.update(item)
    return {"detection": {"a.jpg": {"boxes": [{k: v for k, v in entry.items() if v is not KeyError}]}}}


@pytest.mark.parametrize("data,needle", [
    ({}, "'detection'"),
    ({"detection": []}, "'detection'"),
    (_det({"x": 1.5, "y": 2, "w": 3, "h": 4}), "box.x"),
    (_det({"x": 1, "y": 2, "w": 3, "h": 4, "angle": 0}), "rejects"),
    (_det(box=KeyError), "'box'"),
    (_det(class_name=KeyError), "class_name"),
    (_det(class_name=""), "class_name"),
    (_det(class_name="zebra"), "model's classes"),
    (_det(score=KeyError), "score"),
    (_det(score=float("inf")), "score"),
    ({"detection": {"in/a.jpg": {"boxes": []}}}, "basename"),
    ({"detection": {"a.jpg": {"boxes": {}}}}, "list"),
])
def test_detection_defects_rejected(data, needle):
    errors = contract.check_detection_result(data, CLASSES)
    assert errors and any(needle in e for e in errors), errors


def test_detection_accepts_integer_like_values_with_a_warning():
    findings = contract.check_detection_result(_det({"x": 10.0, "y": "10", "w": 3, "h": 4}))
    assert contract.errors_only(findings) == [] and len(findings) == 2  # accepted by the platform; advice
    assert all(f.startswith(contract.WARNING) for f in findings) and "box.x = 10.0" in findings[0]


@pytest.mark.parametrize("value", [2 ** 31, -2 ** 31 - 1, 10 ** 12])
def test_detection_coordinates_outside_32_bits_are_errors(value):
    """The platform stores box fields as 32-bit integers: a larger one fails its parser (169999)."""
    errors = contract.errors_only(contract.check_detection_result(_det({"x": value, "y": 1, "w": 3, "h": 4})))
    assert len(errors) == 1 and "32-bit" in errors[0]


def _coco(mutate):
    data = copy.deepcopy(COCO_EXAMPLE)
    mutate(data)
    return data


@pytest.mark.parametrize("mutate,needle", [
    (lambda d: d.pop("images"), "'images'"),
    (lambda d: d.pop("categories"), "'categories'"),
    (lambda d: d.pop("annotations"), "'annotations'"),
    (lambda d: d["annotations"][0].pop("area"), "area"),
    (lambda d: d["annotations"][0].pop("bbox"), "bbox"),
    (lambda d: d["annotations"][1].update(segmentation=[[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]]), "exactly one"),
    (lambda d: d["annotations"][0].update(segmentation={}), "empty segmentation"),
    (lambda d: d["annotations"][0].update(segmentation=[]), "empty segmentation"),
    (lambda d: d["annotations"][0].update(segmentation={"size": [480, 640], "counts": [1, 2]}), "compressed"),
    (lambda d: d["images"][0].update(file_name="/in/assets/0a/x.jpg"), "basename"),
    (lambda d: d["annotations"][0].update(image_id=9), "image_id"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, 0, 5]), "> 0"),
])
def test_coco_defects_rejected(mutate, needle):
    errors = contract.check_coco_result(_coco(mutate), CLASSES)
    assert errors and any(needle in e for e in errors), errors


@pytest.mark.parametrize("text,candidates,needle", [
    ("/a.jpg\t0.1\n/b.jpg\t0.9\n", None, "sorted"),
    ("/a.jpg\t0.9\n/a.jpg\t0.1\n", None, "again"),
    ("/a.jpg 0.9\n", None, "TAB"),
    ("/a.jpg\tnan\n", None, "NaN"),
    ("/a.jpg\t0.9\n", ["/a.jpg", "/b.jpg"], "missing"),
    ("/a.jpg\t0.9\n/c.jpg\t0.1\n", ["/a.jpg"], "not candidates"),
])
def test_mining_defects_rejected(text, candidates, needle):
    errors = contract.check_mining_result(text, candidates)
    assert errors and any(needle in e for e in errors), errors


@pytest.mark.parametrize("text,needle", [
    ("", "empty"),
    ("t1 1690011234.5 0.37 2 0\n", "TAB"),
    ("t1\t1690011234.5\t0.37\n", "TAB"),
    ("t1\tnow\t0.37\t2\t0\n", "timestamp"),
    ("t1\t1.0\thalf\t2\t0\n", "percent"),
    ("t1\t1.0\t0.5\t5\t0\n", "state"),
    ("t1\t1.0\t0.5\t2\tbad\n", "error code"),
    ("t1\t1.0\t1.5\t2\t0\n", "[0, 1]"),
])
def test_monitor_defects_rejected(text, needle):
    errors = contract.check_monitor(text)
    assert errors and any(needle in e for e in errors), errors


def test_final_monitor_must_be_complete():
    assert contract.check_monitor("t\t1.0\t0.5\t2\t0\n", final=True)
    assert contract.check_monitor("t\t1.0\t1.00\t1\t0\n", final=True)
    assert contract.check_monitor("t\t1.0\t1.0000\t2\t0\n", final=True) == []


# ------------------------------------------------------------------ writers
def test_training_writer_converts_numpy_and_tensor_metrics(tmp_path):
    import torch

    w = tmp_path / "w.pt"
    w.write_text("x")
    tr = TrainingResult(str(tmp_path / "models"))
    best = tr.add_stage("epoch-1", [str(w)], {"mAP": np.float64(0.3), "mAR": torch.tensor(0.4),
                                              "TP": np.int64(3), "fp": 1, "fn": np.array([2])})
    assert best == "epoch-1"
    data = __import__("yaml").safe_load(open(tmp_path / "models" / "result.yaml"))
    stage = data["model_stages"]["epoch-1"]
    assert stage == {"stage_name": "epoch-1", "files": ["w.pt"], "timestamp": stage["timestamp"], "mAP": 0.3,
                     "mAR": pytest.approx(0.4), "tp": 3, "fp": 1, "fn": 2}
    assert os.path.isfile(tmp_path / "models" / "epoch-1" / "w.pt")  # stage folder keeps the '-'


def test_every_stage_carries_the_training_s_class_counts(tmp_path):
    """models/class-counts.json (the dataset conversion's): listed last in each stage (whatever the caller's
    order) and linked into its folder; a training without it lists only its own files."""
    w = tmp_path / "w.pt"
    w.write_text("x")
    tr = TrainingResult(str(tmp_path / "models"))
    tr.add_stage("epoch_1", [str(w)], {"mAP": 0.1})
    (tmp_path / "models" / "class-counts.json").write_text('{"images": 1, "objects": {"a": 1}}')
    tr.add_stage("epoch_2", [str(w)], {"mAP": 0.2})
    tr.set_files("epoch_2", ["class-counts.json", "w.pt"])  # listed anywhere: last
    assert tr.stages["epoch_1"]["files"] == ["w.pt"]
    assert tr.stages["epoch_2"]["files"] == ["w.pt", "class-counts.json"]
    assert (tmp_path / "models" / "epoch_2" / "class-counts.json").read_text().startswith('{"images": 1')


def test_training_writer_best_bound_and_pruning(tmp_path):
    models = tmp_path / "models"
    tr = TrainingResult(str(models), max_stages=3)
    for i, m in enumerate([0.1, 0.9, 0.2, 0.3, 0.4]):
        f = tmp_path / f"e{i}.pth"
        f.write_text("x")
        tr.add_stage(f"epoch_{i}", [str(f)], {"mAP": m}, timestamp=1000 + i)
    assert sorted(tr.stages) == ["epoch_1", "epoch_3", "epoch_4"] and tr.best() == "epoch_1"
    os.unlink(models / "epoch_3" / "e3.pth")  # a framework rotated this checkpoint away
    assert tr.write() == "epoch_1" and "epoch_3" not in tr.stages
    # a new writer continues from the file on disk; an empty file is tolerated
    assert sorted(TrainingResult(str(models)).stages) == ["epoch_1", "epoch_4"]
    (models / "result.yaml").write_text("")
    assert TrainingResult(str(models)).stages == {}


def test_training_writer_refuses_contract_breaks(tmp_path):
    f = tmp_path / "w.pth"
    f.write_text("x")
    tr = TrainingResult(str(tmp_path / "models"))
    with pytest.raises(ContractError, match="fractions"):
        tr.add_stage("s", [str(f)], {"mAP": 56.8})
    with pytest.raises(ContractError, match="'@'"):
        tr.add_stage("s@1", [str(f)], {"mAP": 0.5})
    with pytest.raises(ContractError, match="main metric"):
        tr.add_stage("s", [str(f)], {"mAR": 0.5})
    with pytest.raises(ContractError, match="neither"):
        tr.add_stage("s", ["nothere.pth"], {"mAP": 0.5})
    assert not os.path.exists(tmp_path / "models" / "result.yaml")


def test_detection_writer(tmp_path):
    out = tmp_path / "infer-result.json"
    results.write_detection_result(str(out), {"/in/assets/aa/x.jpg": [Detection(1, np.float32(0.7), 10.4, 20.6,
                                                                                30.5, 40.2, angle=0.3)],
                                              "/in/assets/bb/y.jpg": []}, ["a", "b"])
    data = results.read_json(str(out))
    box = data["detection"]["x.jpg"]["boxes"][0]
    assert box == {"box": {"x": 10, "y": 21, "w": 20, "h": 19, "rotate_angle": 0.3}, "class_name": "b",
                   "score": pytest.approx(0.7)}
    assert data["detection"]["y.jpg"] == {"boxes": []}
    with pytest.raises(ContractError):
        results.write_detection_result(str(out), {"x.jpg": [Detection(5, 0.1, 0, 0, 1, 1)]}, ["a"])


def test_coco_writer_masks(tmp_path):
    from pycocotools import mask as mask_utils

    m = np.zeros((20, 30), bool)
    m[2:5, 3:9] = True
    out = tmp_path / "infer-result.json"
    results.write_coco_result(str(out), [("/x/a.png", 30, 20, [Instance(0, m, 0.8), Instance(1, np.zeros_like(m))]),
                                         ("/x/b.png", 30, 20, [])], ["a", "b"])
    data = results.read_json(str(out))
    assert [i["file_name"] for i in data["images"]] == ["a.png", "b.png"]
    (ann,) = data["annotations"]  # the empty mask is left out
    assert ann["bbox"] == [3.0, 2.0, 6.0, 3.0] and ann["area"] == 18 and ann["confidence"] == pytest.approx(0.8)
    assert isinstance(ann["segmentation"]["counts"], str)
    assert (mask_utils.decode({"size": [20, 30], "counts": ann["segmentation"]["counts"]}) == m).all()
    sem = results.semantic_instances(np.array([[0, 1], [2, 2]]), 2, offset=1)
    assert [(i.class_id, int(i.mask.sum())) for i in sem] == [(0, 1), (1, 2)]


def test_mining_writer_sorts_best_first_and_checks_coverage(tmp_path):
    out = tmp_path / "result.tsv"
    results.write_mining_result(str(out), {"/a.jpg": 0.1, "/b.jpg": np.float32(0.9), "/c.jpg": -1e3},
                                ["/a.jpg", "/b.jpg", "/c.jpg", "/d.jpg"], skipped=["/d.jpg"])
    rows = [ln.split("\t") for ln in out.read_text().splitlines()]
    assert [p for p, _ in rows] == ["/b.jpg", "/a.jpg", "/c.jpg", "/d.jpg"]  # the unreadable one last, once
    assert float(rows[-1][1]) == -1e3 - 1
    with pytest.raises(ContractError, match="missing"):
        results.write_mining_result(str(out), {"/a.jpg": 0.1}, ["/a.jpg", "/b.jpg"])
    for bad in (float("nan"), math.inf, -math.inf):  # the model's outputs were not finite: 300201, naming the image
        with pytest.raises(NanError, match="/a.jpg"):
            results.write_mining_result(str(out), {"/a.jpg": bad})
