"""What is special to executors/mmrotate (rotated RTMDet on the released mmrotate 1.0.0rc1; the conformance suite,
tests/test_conformance.py, runs what every executor must do, with rotated RTMDet-tiny at 128 px on rotated bars):
the model table and its DOTA weights, the angle's round trip from an ark line through the training data and back
through an inference result, the config (img_size in every resize and pad, RandomRotate for every class), the
CPU rotated IoU loss against mmcv's rotated IoU, a CPU training that learns, and the mining algorithms that are
refused."""
import glob
import json
import math
import os

import numpy as np
import pytest
import yaml

from conftest import cli, executor_log, learning_rate, monitor_line, require_executor
from executor_specs import EXECUTORS

require_executor("mmrotate", "mmcv", "mmrotate")
pytestmark = pytest.mark.images  # also on the images' stack
SPEC = EXECUTORS["mmrotate"]


def _module():
    import executors.mmrotate.executor as module

    return module


def _executor():
    executor = _module().MmrotateExecutor()
    executor.prepare(())
    return executor


# ------------------------------------------------------------------ the model table and its weights
def test_every_model_name_resolves_to_a_rotated_rtmdet_config():
    from ymir_sdk.errors import ConfigError
    from ymir_sdk.openmmlab.config import package_config_root, resolve_model_name

    models = _module().MODELS
    sizes = ("tiny", "s", "m", "l")
    assert {f"rtmdet_{s}" for s in sizes} | {f"rtmdet_{s}_ms" for s in sizes} <= set(models)
    root = package_config_root("mmrotate")
    for name, rel in models.items():
        path = resolve_model_name(name, models, "mmrotate")
        assert path == os.path.join(root, rel) and os.path.isfile(path), name
        assert os.path.basename(rel).startswith("rotated_rtmdet_"), name
    assert resolve_model_name("Rotated-RTMDet-Tiny", models, "mmrotate").endswith("rotated_rtmdet_tiny-3x-dota.py")
    with pytest.raises(ConfigError) as e:
        resolve_model_name("rtmdet_xs", models, "mmrotate")
    assert e.value.code == 300001 and "did you mean" in str(e.value)


def test_every_offered_model_has_the_zoo_weights_listed():
    """The DOTA weights of mmrotate's own model index (its metafile) for every model of the table; the
    default among them."""
    from ymir_sdk.openmmlab.config import package_config_root

    m = _module()
    index = yaml.safe_load(open(os.path.join(package_config_root("mmrotate"), "rotated_rtmdet", "metafile.yml")))
    zoo = {e["Config"]: e["Weights"] for e in index["Models"] if e.get("Weights")}
    assert set(m.WEIGHTS) == set(m.MODELS.values())
    for key, url in m.WEIGHTS.items():
        assert zoo["configs/" + key] == url, key
    assert m.MODELS[m.TrainParams().model_name] in m.WEIGHTS


def test_img_size_must_be_a_multiple_of_32():
    from pydantic import ValidationError

    assert _module().TrainParams(img_size=640).img_size == 640
    with pytest.raises(ValidationError):
        _module().TrainParams(img_size=100)


# ------------------------------------------------------------------ the training config
def _config(tmp_path, model="rtmdet_tiny", img_size=256, **kw):
    from ymir_sdk.openmmlab.config import TrainingSetup, build_config, resolve_model_name

    executor = _executor()
    setup = TrainingSetup(work_dir=str(tmp_path), classes=["a", "b", "c"], train_json="/d/train.json",
                          val_json="/d/val.json", batch_size=2, workers=0, max_epochs=12,
                          coco_types=executor.coco_types, input_size=img_size,
                          evaluators=[executor.evaluator("/d/val.json", _module().TrainParams())], **kw)
    return build_config(resolve_model_name(model, executor.models, "mmrotate"), setup, executor.family_steps)


def _sizes(cfg):
    from ymir_sdk.openmmlab.rotated import SIZE_KEYS, _steps_of

    sizes = {}
    for step in _steps_of(cfg):
        for key in SIZE_KEYS:
            if key in step:
                sizes.setdefault((step["type"], key), set()).add(tuple(step[key]))
    return sizes


@pytest.mark.parametrize("model", ["rtmdet_tiny", "rtmdet_l_ms"])
def test_img_size_reaches_every_resize_and_pad_and_every_class_rotates(model, tmp_path):
    cfg = _config(tmp_path, model, 256)
    sizes = _sizes(cfg)
    assert ("mmdet.Resize", "scale") in sizes and ("mmdet.Pad", "size") in sizes
    assert set().union(*sizes.values()) == {(256, 256)}, sizes  # the DOTA configs' 1024 nowhere
    rotate = [s for s in cfg.train_dataloader.dataset.pipeline if s["type"] == "RandomRotate"]
    assert rotate and all(s["rect_obj_labels"] is None for s in rotate)  # DOTA's class ids 9 and 11: not ours
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        assert loader.dataset.type == "YmirRotatedCocoDataset" and "img_shape" not in loader.dataset
    assert cfg.val_evaluator[0]["type"] == "YmirRotatedMetric"
    assert cfg.model.bbox_head.num_classes == 3


def test_an_augmented_config_scales_its_multi_scale_range(tmp_path):
    """A config_file with large-scale jitter (RandomResize 2x the native size) keeps the ratio at img_size."""
    from ymir_sdk.openmmlab.config import TrainingSetup, build_config, resolve_config_file

    executor = _executor()
    setup = TrainingSetup(work_dir=str(tmp_path), classes=["a"], train_json="/t.json", val_json="/v.json",
                          batch_size=2, workers=0, max_epochs=12, coco_types=executor.coco_types, input_size=512)
    cfg = build_config(resolve_config_file("rotated_rtmdet/rotated_rtmdet_l-100e-aug-dota.py", "mmrotate"), setup,
                       executor.family_steps)
    sizes = _sizes(cfg)
    assert sizes[("mmdet.Pad", "size")] == {(512, 512)} and sizes[("mmdet.CachedMosaic", "img_scale")] == {(512, 512)}
    assert sizes[("mmdet.RandomResize", "scale")] == {(1024, 1024), (512, 512)}  # 2x jitter stays 2x


# ------------------------------------------------------------------ the angle, there and back
def test_the_angle_goes_from_an_ark_line_to_the_model_s_targets_and_back_to_infer_result(tmp_path):
    """An ark line's rotated box becomes the model's le90 target through the config's own validation pipeline
    (the SDK's COCO json, YmirRotatedCocoDataset, LoadAnnotations(qbox), ConvertBoxType(rbox)); a prediction
    equal to that target writes back the ark line's rectangle and angle into infer-result.json."""
    import torch
    from mmengine.registry import DATASETS, init_default_scope
    from mmengine.structures import InstanceData

    from ymir_sdk.dataset import convert_to_coco
    from ymir_sdk.dataset.rotated import corners, rboxes_from_boxes
    from ymir_sdk.loops.detection import to_detections
    from ymir_sdk.openmmlab.infer import det_output_instances
    from ymir_sdk.results import detection_json
    from ymir_sdk.tools.synthetic import write_ark_dataset

    root = str(tmp_path / "ds")
    names = write_ark_dataset(root, n_train=1, n_val=4, size=(160, 128), rotated=True)
    images = sorted(glob.glob(os.path.join(root, "images", "val", "*.png")))
    pairs = [(im, im.replace("images", "annotations").replace(".png", ".txt")) for im in images]
    val_json = convert_to_coco({"val": pairs}, names, str(tmp_path / "coco"), segmentation="rotated")["val"]
    cfg = _config(tmp_path / "cfg", img_size=160)
    init_default_scope("mmrotate")
    ds_cfg = cfg.val_dataloader.dataset
    ds_cfg.ann_file, ds_cfg.metainfo = val_json, dict(classes=tuple(names))
    dataset = DATASETS.build(ds_cfg)
    assert len(dataset) == len(images)
    for i, (image, ann) in enumerate(pairs):
        lines = [[float(v) for v in ln.split(",")] for ln in open(ann).read().splitlines()]
        ark = np.array([[x1, y1, x2 + 1, y2 + 1] for _, x1, y1, x2, y2, _, _ in lines])
        angles = np.array([ln[6] for ln in lines])
        assert np.abs(angles).max() > 0.05  # rotated bars, not upright boxes
        sample = dataset[i]["data_samples"]
        assert os.path.basename(sample.img_path) == os.path.basename(image)
        target = sample.gt_instances.bboxes
        target = target.regularize_boxes("le90") if hasattr(target, "regularize_boxes") else target
        expected = rboxes_from_boxes(ark, angles)  # the bars' long side is w, angles in [-pi/2, pi/2): le90
        scale = sample.scale_factor[0]  # 160 px wide images at img_size 160: 1.0
        got = target.numpy().astype(np.float64)
        got[:, :4] /= scale
        assert np.allclose(got, expected, atol=1e-3), (got, expected)
        # back: the model predicts its target (in the original image's pixels)
        pred = InstanceData(bboxes=torch.as_tensor(expected, dtype=torch.float32),
                            scores=torch.ones(len(expected)), labels=torch.as_tensor([int(ln[0]) for ln in lines]))
        result = detection_json({image: to_detections(det_output_instances(pred))}, names, {image: (160, 128)})
        boxes = result["detection"][os.path.basename(image)]["boxes"]
        for b, (x1, y1, x2, y2), a in zip(boxes, ark, angles):
            # the same rectangle, in the form nearest upright (an angle beyond pi/4 is a quarter turn off with
            # width and height swapped)
            box, got_a = b["box"], b["box"]["rotate_angle"]
            assert -math.pi / 4 - 1e-6 <= got_a < math.pi / 4 + 1e-6
            if abs(a) < math.pi / 4:
                assert (box["x"], box["y"], box["w"], box["h"]) == (x1, y1, x2 - x1, y2 - y1)
                assert math.isclose(got_a, a, abs_tol=1e-6)
            written = rboxes_from_boxes(np.array([[box["x"], box["y"], box["x"] + box["w"], box["y"] + box["h"]]]),
                                        np.array([got_a]))
            assert np.allclose(sorted(map(tuple, corners(written).reshape(4, 2))),
                               sorted(map(tuple, corners(rboxes_from_boxes(np.array([[x1, y1, x2, y2]]),
                                                                           np.array([a]))).reshape(4, 2))),
                               atol=1.0)  # integer pixels: x, y, w and h are rounded


def test_inference_keeps_as_many_boxes_as_the_config_does(tmp_path):
    """The DOTA configs keep 2000 boxes per image (dense aerial tiles): inference follows the config's
    max_per_img instead of the SDK's 300 for heads that have none."""
    import torch
    from mmengine.structures import InstanceData

    from ymir_sdk.mining import MAX_DETECTIONS
    from ymir_sdk.openmmlab.infer import det_output_instances, max_per_img

    cfg = _config(tmp_path)
    assert max_per_img(cfg) == cfg.model.test_cfg.max_per_img == 2000
    assert max_per_img({"model": {"test_cfg": {"rcnn": {"max_per_img": 100}}}}) == 100
    assert max_per_img({"model": {"test_cfg": {"nms": {}}}}) == MAX_DETECTIONS
    n = 1500
    boxes = torch.cat([torch.rand(n, 2) * 100, torch.rand(n, 2) * 10 + 2, torch.rand(n, 1) - 0.5], dim=1)
    pred = InstanceData(bboxes=boxes, scores=torch.rand(n), labels=torch.zeros(n, dtype=torch.long))
    assert len(det_output_instances(pred, max_per_img(cfg)).scores) == n
    kept = det_output_instances(pred)
    assert len(kept.scores) == MAX_DETECTIONS and kept.scores.min() >= np.sort(pred.scores.numpy())[-MAX_DETECTIONS]


# ------------------------------------------------------------------ the CPU loss
def test_the_cpu_rotated_iou_loss_is_mmcv_s_rotated_iou():
    """The CPU sort of mmcv's differentiable rotated IoU (RotatedIoULoss) against mmcv's own CPU rotated IoU,
    on random pairs including nested and parallel-edge boxes; the gradient is finite."""
    import torch
    from mmcv.ops import box_iou_rotated, diff_iou_rotated_2d

    _executor()  # installs the shim
    g = torch.Generator().manual_seed(0)
    n = 1000
    a = torch.cat([torch.rand(n, 2, generator=g) * 50, torch.rand(n, 2, generator=g) * 30 + 1,
                   (torch.rand(n, 1, generator=g) - 0.5) * math.pi], 1)
    b = a + torch.cat([torch.randn(n, 2, generator=g) * 5, torch.randn(n, 2, generator=g),
                       torch.randn(n, 1, generator=g) * 0.3], 1)
    b[:, 2:4] = b[:, 2:4].abs() + 1
    b[:50] = a[:50] * torch.tensor([1, 1, 0.5, 0.5, 1])  # nested: a quarter of the area
    b[50:100] = a[50:100] + torch.tensor([3.0, 0, 0, 0, 0])  # the same angle, moved: parallel edges
    a.requires_grad_(True)
    iou = diff_iou_rotated_2d(a[None], b[None])[0]
    reference = box_iou_rotated(a.detach(), b, aligned=True)
    assert torch.allclose(iou, reference, atol=1e-4), (iou - reference).abs().max()
    assert torch.allclose(iou[:50], torch.full((50,), 0.25), atol=1e-4)
    (1 - iou).sum().backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0


def test_the_rotated_metric_matches_by_rotated_iou():
    """A prediction equal to a rotated ground truth is a hit; the same rectangle turned by 90 degrees about its
    centre (its upright enclosing box unchanged for a square, a large upright IoU for a bar) is a miss."""
    from ymir_sdk.evaluate import coco_metrics
    from ymir_sdk.openmmlab.rotated import rotated_iou

    _executor()
    gt = {"images": [{"id": 1, "file_name": "a.png", "width": 200, "height": 200}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 0, "bbox": [50, 90, 100, 20], "area": 2000,
                           "iscrowd": 0, "rotate_angle": 0.3}],
          "categories": [{"id": 0, "name": "bar"}]}
    hit = {"image_id": 1, "category_id": 0, "score": 0.9, "bbox": [50, 90, 100, 20], "rotate_angle": 0.3}
    assert coco_metrics(gt, [hit], rotated_iou=rotated_iou)["mAP"] == pytest.approx(1.0)
    turned = dict(hit, rotate_angle=0.3 + math.pi / 2)
    assert coco_metrics(gt, [turned], rotated_iou=rotated_iou)["mAP"] == 0.0
    assert coco_metrics(gt, [turned])["mAP"] == pytest.approx(1.0)  # what an upright evaluation would have said


# ------------------------------------------------------------------ training and mining
@pytest.mark.slow(70)
def test_a_short_cpu_training_learns_rotated_bars(tmp_path):
    """Two epochs on 320 generated images of rotated bars (one class, 128 px, rotated RTMDet-tiny from scratch,
    the config's own RotatedIoULoss through the CPU sort): rotated mAP@0.5 well above chance (0.97 measured
    2026-12-03; 0.0 with a zero learning rate; 0.35 with 160 images, 0.53 with 640 for one epoch)."""
    from ymir_sdk.tools.synthetic import write_ark_dataset

    data = str(tmp_path / "bars")
    write_ark_dataset(data, n_train=320, n_val=24, size=(128, 128), classes=1, rotated=True)
    work = str(tmp_path / "w")
    sets = {**SPEC.fast, "samples_per_gpu": "8", "max_epochs": "2", "val_interval": "1",
            "cfg_options": f"param_scheduler.0.end=20 optim_wrapper.optimizer.lr={learning_rate(0.004)}",
            "args_options": "--seed 0 --deterministic"}
    r = cli("run", "mmrotate", "--task", "train", "--dataset", data, "--work", work, "--no-progress",
            *[a for k, v in sets.items() for a in ("--set", f"{k}={v}")], timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    result = yaml.safe_load(open(os.path.join(work, "out", "models", "result.yaml")))
    assert result["mAP"] >= 0.3, result


@pytest.mark.parametrize("algorithm", ["aldd", "cald"])
def test_aldd_and_cald_are_refused(algorithm, executor_dataset, trained_model, tmp_path):
    """ALDD's and CALD's measures are defined on upright boxes (and the rotated head's angle map is no
    objectness): a 300001 naming the algorithms that work, before any image is scored."""
    work = str(tmp_path / "w")
    r = cli("run", "mmrotate", "--task", "mine", "--dataset", executor_dataset("mmrotate"), "--work", work,
            "--model", trained_model("mmrotate"), "--no-progress", "--set", f"mining_algorithm={algorithm}")
    assert r.returncode != 0
    line = monitor_line(work)
    assert line[3:5] == ["4", "300001"] and "'mining_algorithm'" in line[5] and "random, entropy" in line[5], line


def test_inference_writes_the_angles(executor_dataset, trained_model, tmp_path):
    """The trained toy model's infer-result.json carries rotate_angle on its boxes (the reference image dropped
    it), and the stage's config keeps img_size and the rotated NMS with the task's iou_threshold. conf_threshold
    goes below the config's own score_thr (0.05): the boxes the user asked for are there, and the log says so."""
    from ymir_sdk.openmmlab.config import inference_config, set_nms_iou

    work = str(tmp_path / "w")
    r = cli("run", "mmrotate", "--task", "infer", "--dataset", executor_dataset("mmrotate"), "--work", work,
            "--model", trained_model("mmrotate"), "--no-progress", "--set", "conf_threshold=0.001")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    boxes = [b for d in json.load(open(os.path.join(work, "out", "infer-result.json")))["detection"].values()
             for b in d["boxes"]]
    assert boxes and all("rotate_angle" in b["box"] for b in boxes)
    assert min(b["score"] for b in boxes) < 0.05
    assert "the model's score_thr 0.05 lowered to conf_threshold 0.001" in executor_log(work)
    stage = glob.glob(os.path.join(trained_model("mmrotate"), "out", "models", "epoch_*"))[0]
    cfg = inference_config([os.path.join(stage, f) for f in os.listdir(stage)], "",
                           edit=lambda c: set_nms_iou(c, 0.3))
    assert cfg.model.test_cfg.nms.type == "nms_rotated" and cfg.model.test_cfg.nms.iou_threshold == 0.3
    assert cfg.test_dataloader.dataset.pipeline[1]["scale"] == (128, 128)
