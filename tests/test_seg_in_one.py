"""What is special to executors/seg_in_one (one image, an executor per object type; the conformance suite runs its
semantic part, tests/test_conformance.py "seg-in-one-semantic", and its detection part is the yolov5 executor's):
the dispatch, the seed's 0.x config names and their weights, the semantic config (iterations, validation batches,
the batch rule), ignore_black_area both ways, the fraction metric, a CPU training that learns, inference on
images of mixed sizes, the probabilities mining sees, and RSAL/RIPU ranking an uncertain image first."""
import importlib
import json
import os

import numpy as np
import pytest
import yaml

from conftest import best_stage, cli, lay_out_task, monitor_line, run_in_one_process, sets_args, write_env, write_yaml
from executor_specs import EXECUTORS
from ymir_sdk.models import pick_weight_file

pytestmark = pytest.mark.images  # also on the images' stack
SPEC = EXECUTORS["seg-in-one-semantic"]
FOLDER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "executors", "seg_in_one")


def _package():
    return importlib.import_module("executors.seg_in_one")


def _semantic():
    return importlib.import_module("executors.seg_in_one.semantic")


def _needs_mmseg():
    from conftest import require_executor

    require_executor("seg-in-one", "mmcv", "mmseg")


# ------------------------------------------------------------------ dispatch (no framework needed)
def test_dispatch_by_object_type_export_format_and_model_files(tmp_path):
    from ymir_sdk import load_env
    from ymir_sdk.errors import ConfigError, ObjectTypeError

    pytest.importorskip("yolov5")
    pytest.importorskip("mmseg")
    from ymir_sdk.yolov5.executor import Yolov5DetectionExecutor

    image, semantic = _package().SegInOneExecutor(), _semantic().MmsegExecutor
    instance = importlib.import_module("executors.seg_in_one.instance").YoloSegExecutor
    assert set(image.object_types) == {2, 3, 4}
    train_env = load_env(write_env(str(tmp_path / "t"), run_training=True))
    assert isinstance(image.resolve({"object_type": 2}, train_env), Yolov5DetectionExecutor)
    assert isinstance(image.resolve({"object_type": "3"}, train_env), semantic)
    assert isinstance(image.resolve({"object_type": 4}, train_env), instance)
    assert isinstance(image.resolve({"export_format": "ark:raw"}, train_env), Yolov5DetectionExecutor)
    with pytest.raises(ConfigError) as e:  # semantic or instance: config.yaml must say
        image.resolve({"export_format": "seg-coco:raw"}, train_env)
    assert e.value.code == 300001 and "object_type" in str(e.value)
    for config in ({"object_type": 5}, {"object_type": "x"}, {"export_format": "xyz:raw"}):
        with pytest.raises(ObjectTypeError) as e:
            image.resolve(config, train_env)
        assert e.value.code == 300005
    # inference and mining: the model package's ymir-info.yaml, else the model files
    infer_env = load_env(write_env(str(tmp_path / "i"), run_infer=True))
    models = infer_env.input.models_dir
    write_yaml(os.path.join(models, "ymir-info.yaml"), {"object_type": 3})
    assert isinstance(image.resolve({}, infer_env), semantic)
    os.unlink(os.path.join(models, "ymir-info.yaml"))
    open(os.path.join(models, "fast_scnn.py"), "w").write("model = dict()\n")
    assert isinstance(image.resolve({"model_params_path": ["fast_scnn.py", "iter_20.pth"]}, infer_env), semantic)
    with pytest.raises(ObjectTypeError):
        image.resolve({}, infer_env)  # no model files named
    # the image's weights: every part's, each checked by its own part
    assert {"yolov5s", "yolov5s-seg", SPEC.weights_key} <= set(image.pretrained_weights)


def test_a_yolov5_checkpoint_tells_detection_from_instance_segmentation(trained_model, tmp_path):
    pytest.importorskip("yolov5")
    from ymir_sdk import load_env

    image = _package().SegInOneExecutor()
    env = load_env(write_env(str(tmp_path / "i"), run_mining=True))
    for name, part in (("yolov5", 2), ("seg-in-one-instance", 4)):
        result = yaml.safe_load(open(os.path.join(trained_model(name), "out", "models", "result.yaml")))
        stage = result["model_stages"]["best"]
        weights = os.path.join(trained_model(name), "out", "models", "best", stage["files"][0])
        config = {"model_params_path": [weights]}
        assert image.model_object_type(config, env) == part
        assert image.resolve(config, env).object_types == (part,)


def test_an_unknown_object_type_fails_the_task_with_300005(tmp_path):
    """config.yaml naming a type the image does not hold: state 4, 300005 naming the supported types, exit status
    non-zero (the reference image ran bare `python3` and reported success)."""
    pytest.importorskip("yolov5")
    _needs_mmseg()
    from conftest import run_start
    from ymir_sdk.tools.localdata import read_dataset
    from ymir_sdk.tools.runner import lay_out
    from ymir_sdk.tools.synthetic import write_coco_dataset

    write_coco_dataset(str(tmp_path / "ds"), n_train=4, n_val=2, size=(64, 64))
    work = str(tmp_path / "w")
    env_file = lay_out(work, read_dataset(str(tmp_path / "ds")), "train", os.path.join(FOLDER, "img-man"), {},
                       object_type=3)
    config = yaml.safe_load(open(os.path.join(work, "in", "config.yaml")))
    write_yaml(os.path.join(work, "in", "config.yaml"), {**config, "object_type": 50})
    r = run_start(FOLDER, env_file, timeout=300)
    assert r.returncode != 0
    line = monitor_line(work)
    assert line[3:5] == ["4", "300005"] and "50" in line[5] and "[2, 3, 4]" in line[5], line


# ------------------------------------------------------------------ the seed's config names and their weights
def test_the_seed_s_0x_names_resolve_and_their_weights_are_the_metafiles():
    _needs_mmseg()
    from ymir_sdk.openmmlab.config import package_config_root, resolve_config_file

    m = _semantic()
    root = package_config_root("mmseg")
    assert len(m.ALIASES) == 10  # FastSCNN and the 9 HRNet rows of the seed's table
    for old, new in m.ALIASES.items():
        path = resolve_config_file("configs/" + old, "mmseg", m.ALIASES)
        assert path == os.path.join(root, new) and os.path.isfile(path), old
    zoo = {}
    for family in ("fastscnn", "hrnet"):
        index = yaml.safe_load(open(os.path.join(root, family, "metafile.yaml")))
        zoo.update({e["Config"]: e["Weights"] for e in index["Models"] if e.get("Weights")})
    assert set(m.WEIGHTS) == set(m.ALIASES.values())
    for key, url in m.WEIGHTS.items():
        assert zoo["configs/" + key] == url, key
    default = resolve_config_file(m.TrainParams().config_file, "mmseg", m.ALIASES)
    assert os.path.relpath(default, root) in m.WEIGHTS


def test_ignore_blank_area_is_read_as_ignore_black_area():
    m = _semantic()
    assert m.TrainParams.parse({"ignore_blank_area": True}).ignore_black_area is True
    assert m.TrainParams.parse({"ignore_black_area": "true"}).ignore_black_area is True
    assert m.TrainParams.parse({}).ignore_black_area is False


# ------------------------------------------------------------------ the training config
def _config(tmp_path, config="configs/fastscnn/fast_scnn_lr0.12_8x4_160k_cityscapes.py", **kw):
    from ymir_sdk.openmmlab.config import TrainingSetup, build_config, resolve_config_file

    executor = _semantic().MmsegExecutor()
    executor.prepare(())
    fields = dict(work_dir=str(tmp_path), classes=["background", "a", "b"], train_json="/d/train.tsv",
                  val_json="/d/val.tsv", batch_size=4, workers=0, max_epochs=1, max_iters=300, val_interval=50,
                  coco_types=executor.coco_types, evaluators=[dict(type="YmirSegMetric", background=True)])
    fields.update(kw)
    return build_config(resolve_config_file(config, "mmseg", executor.aliases), TrainingSetup(**fields),
                        executor.family_steps)


def test_iterations_validation_batches_and_schedule(tmp_path):
    _needs_mmseg()
    cfg = _config(tmp_path)
    assert cfg.train_cfg.type == "IterBasedTrainLoop"
    assert (cfg.train_cfg.max_iters, cfg.train_cfg.val_interval) == (300, 50)
    assert cfg.param_scheduler[0]["end"] == 300  # PolyLR's 160k iterations scaled to the run
    assert cfg.default_hooks.checkpoint.interval == 50 and not cfg.default_hooks.checkpoint.by_epoch
    assert cfg.train_dataloader.batch_size == 4
    assert cfg.val_dataloader.batch_size == 1 and cfg.test_dataloader.batch_size == 1  # mmseg: one size a batch
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        assert loader.dataset.type == "YmirSegDataset" and loader.dataset.ann_file.endswith(".tsv")
    assert cfg.model.decode_head.num_classes == 3 and all(h.num_classes == 3 for h in cfg.model.auxiliary_head)
    assert cfg.val_evaluator[0] == {"type": "YmirSegMetric", "background": True}


def test_cfg_options_win_over_the_seed_keys(tmp_path):
    _needs_mmseg()
    from ymir_sdk.openmmlab.config import parse_cfg_options

    cfg = _config(tmp_path, cfg_options=parse_cfg_options("train_cfg.val_interval=7 crop_size=(96,96)"))
    assert cfg.train_cfg.val_interval == 7 and cfg.train_cfg.max_iters == 300
    assert tuple(cfg.model.data_preprocessor["size"]) == (96, 96)  # a top-level variable, set at its source
    crop = [s for s in cfg.train_dataloader.dataset.pipeline if s["type"] == "RandomCrop"]
    assert tuple(crop[0]["crop_size"]) == (96, 96)


def test_one_image_per_gpu_is_refused_for_models_with_a_pooled_batchnorm_branch(tmp_path):
    _needs_mmseg()
    from ymir_sdk.errors import ConfigError
    from ymir_sdk.openmmlab.segmentation import check_batch, min_batch

    fast = _config(tmp_path / "f")
    assert min_batch(fast.model) == (2, "FastSCNN")
    with pytest.raises(ConfigError) as e:
        check_batch(fast, 1)
    assert e.value.code == 300001 and "samples_per_gpu" in str(e.value) and "at least 2" in str(e.value)
    check_batch(fast, 2)
    hrnet = _config(tmp_path / "h", "configs/hrnet/fcn_hr18s_512x1024_40k_cityscapes.py")
    assert min_batch(hrnet.model) == (1, "")
    check_batch(hrnet, 1)


def test_fastscnn_with_one_image_per_gpu_fails_the_task_with_300001(executor_dataset, tmp_path):
    _needs_mmseg()
    work = str(tmp_path / "w")
    r = cli("run", "seg-in-one", "--object-type", "3", "--task", "train", "--dataset",
            executor_dataset(SPEC.name), "--work", work, "--no-progress",
            *sets_args({**SPEC.fast, **SPEC.short, "samples_per_gpu": "1"}))
    assert r.returncode != 0
    line = monitor_line(work)
    assert line[3:5] == ["4", "300001"] and "samples_per_gpu" in line[5] and "FastSCNN" in line[5], line


def test_the_metric_is_fractions_over_the_task_classes():
    _needs_mmseg()
    import torch
    from mmseg.registry import METRICS

    from ymir_sdk.openmmlab.segmentation import register

    register()
    metric = METRICS.build(dict(type="YmirSegMetric", background=True))
    metric.dataset_meta = {"classes": ("background", "a", "b", "c")}
    gt = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 255, 255], [2, 2, 255, 255]])
    pred = torch.tensor([[0, 0, 1, 0], [0, 0, 1, 0], [2, 2, 1, 1], [1, 2, 0, 0]])
    metric.process({}, [{"pred_sem_seg": {"data": pred[None]}, "gt_sem_seg": {"data": gt[None]}}])
    out = metric.compute_metrics(metric.results)
    # a: 4 labelled, 3 predicted, 2 right: IoU 2/5; b: 4 labelled, 3 predicted, 3 right: IoU 3/4; c: neither
    # labelled nor predicted - not counted; the background is not a task class; 255 is ignored
    assert out["mIoU"] == pytest.approx((2 / 5 + 3 / 4) / 2)
    assert out["mAcc"] == pytest.approx((2 / 4 + 3 / 4) / 2)
    assert out["aAcc"] == pytest.approx((4 + 2 + 3) / 12)
    # per class for the TensorBoard (val/IoU/<class>): c has none, the background is not a task class
    assert {k: v for k, v in out.items() if k.startswith("IoU/")} == pytest.approx({"IoU/a": 2 / 5, "IoU/b": 3 / 4})
    assert all(0 <= v <= 1 for v in out.values())


# ------------------------------------------------------------------ training on generated masks
@pytest.mark.parametrize("key,ignore", [(None, False), ("ignore_black_area", True)])
def test_ignore_black_area_both_ways(key, ignore, executor_dataset, trained_model, tmp_path):
    """False (default): unlabelled pixels are a background class 0, the model has one class more than the task;
    True: they are 255, ignored, and the model's classes are the task's. Inference maps either back to the
    task's classes. (The default: the shared training, which sets neither key. The reference's spelling
    ignore_blank_area parses to the same field: test_ignore_blank_area_is_read_as_ignore_black_area.)"""
    _needs_mmseg()
    import cv2

    if key:
        work = str(tmp_path / "w")
        sets = {**SPEC.fast, **SPEC.short, key: "true"}
        r = cli("run", "seg-in-one", "--object-type", "3", "--task", "train", "--dataset",
                executor_dataset(SPEC.name), "--work", work, "--no-progress", *sets_args(sets), timeout=600)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    else:
        work = trained_model(SPEC.name)
    _, stage_dir, stage = best_stage(work)
    from ymir_sdk.torch import load_checkpoint

    weights = pick_weight_file([os.path.join(stage_dir, f) for f in stage["files"]], (".pth",))
    classes = list(load_checkpoint(weights)["meta"]["dataset_meta"]["classes"])
    task = ["square", "disc"]
    assert classes == (task if ignore else ["background", *task])
    labels = [os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(work, "out", "work")) for f in fs
              if f.endswith(".png") and "labels" in dp]
    values = set(np.unique(np.concatenate([np.unique(cv2.imread(p, cv2.IMREAD_UNCHANGED)) for p in labels])))
    assert values == ({0, 1, 255} if ignore else {0, 1, 2})
    infer = str(tmp_path / "i")
    r = cli("run", "seg-in-one", "--object-type", "3", "--task", "infer", "--dataset", executor_dataset(SPEC.name),
            "--work", infer, "--model", work, "--no-progress", *sets_args(SPEC.model_task), timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert cli("verify", infer, "--task", "infer").returncode == 0
    data = json.load(open(os.path.join(infer, "out", "infer-result.json")))
    assert [c["name"] for c in data["categories"]] == task


def test_inference_batches_images_of_mixed_sizes(trained_model, tmp_path):
    """Two sizes in one batch (mmseg's test batches need one size: the SDK groups them); masks come back at each
    image's own size."""
    _needs_mmseg()
    from ymir_sdk.tools.synthetic import write_coco_dataset

    ds = str(tmp_path / "ds")
    write_coco_dataset(ds, n_train=2, n_val=3, size=(128, 128), seed=5)
    write_coco_dataset(str(tmp_path / "other"), n_train=1, n_val=3, size=(160, 96), seed=6)
    val = json.load(open(os.path.join(ds, "val.json")))
    other = json.load(open(str(tmp_path / "other" / "val.json")))
    for img in other["images"]:
        name = "x" + img["file_name"]
        os.replace(str(tmp_path / "other" / "images" / img["file_name"]), os.path.join(ds, "images", name))
        val["images"].append({**img, "id": img["id"] + 100, "file_name": name})
    json.dump(val, open(os.path.join(ds, "val.json"), "w"))
    work = str(tmp_path / "w")
    r = cli("run", "seg-in-one", "--object-type", "3", "--task", "infer", "--dataset", ds, "--work", work,
            "--model", trained_model(SPEC.name), "--no-progress", "--set", "samples_per_gpu=6",
            "--set", "workers_per_gpu=0", timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert cli("verify", work, "--task", "infer").returncode == 0
    data = json.load(open(os.path.join(work, "out", "infer-result.json")))
    sizes = {(img["width"], img["height"]) for img in data["images"]}
    assert sizes == {(128, 128), (160, 96)} and len(data["images"]) == 6
    by_id = {img["id"]: img for img in data["images"]}
    assert data["annotations"]
    for ann in data["annotations"]:
        img = by_id[ann["image_id"]]
        assert ann["segmentation"]["size"] == [img["height"], img["width"]] and "confidence" not in ann


def test_mining_probabilities_are_what_the_model_learnt(trained_model):
    """FastSCNN's heads are trained with sigmoid losses: normalised sigmoids; the result is a distribution per
    pixel, at a bounded size, whose argmax is the inference label."""
    _needs_mmseg()
    from ymir_sdk.openmmlab.infer import build_model
    from ymir_sdk.openmmlab.config import inference_config
    from ymir_sdk.openmmlab.segmentation import MmsegSegmenter, register, sigmoid_trained
    from ymir_sdk.tools.synthetic import make_image

    register()
    _, stage_dir, stage = best_stage(trained_model(SPEC.name))
    files = [os.path.join(stage_dir, f) for f in stage["files"]]
    cfg = inference_config(files)
    assert sigmoid_trained(cfg.model)
    import torch

    model = build_model(cfg, pick_weight_file(files, (".pth",)), torch.device("cpu"))
    seg = MmsegSegmenter(cfg, model)
    image = make_image(np.random.default_rng(0), (128, 96))[0][:, :, ::-1].copy()
    prepared = [seg.prepare(image)]
    probs = seg.probabilities(prepared, 64)[0]
    assert probs.shape == (3, 48, 64) and np.allclose(probs.sum(0), 1, atol=1e-5) and (probs >= 0).all()
    full = seg.probabilities(prepared, 4096)[0]
    assert np.array_equal(full.argmax(0), seg.labels(prepared)[0])


# ------------------------------------------------------------------ RSAL and RIPU rank the uncertain first
def _stub_executor(paths_uncertain):
    """A framework-free semantic executor whose model is confident on every image but the named ones (there its
    probabilities are near a tie between two classes), for the semantic loop's plumbing."""
    from ymir_sdk import Executor
    from ymir_sdk.dataset.imagesize import decode_bgr
    from ymir_sdk.loops import segmentation
    from ymir_sdk.loops.settings import Batching, Mining

    class Stub(segmentation.Segmenter):
        def read(self, path):
            return decode_bgr(path)

        def rgb(self, image):
            return image[:, :, ::-1].copy()

        def prepare(self, image):
            return image

        def labels(self, prepared):
            return [np.zeros(p.shape[:2], np.int32) for p in prepared]

        def probabilities(self, prepared, max_side):
            out = []
            for p in prepared:
                uncertain = bool(p[0, 0, 0] == 7)  # the marked images
                h, w = p.shape[:2]
                probs = np.full((3, h, w), 0.02, np.float32)
                rng = np.random.default_rng(int(p.sum()) % 1000)
                if uncertain:
                    probs[1], probs[2] = 0.49, 0.49
                    probs[1] += rng.uniform(-0.05, 0.05, (h, w)).astype(np.float32)
                    probs[2] = 0.98 - probs[1]
                else:
                    probs[0] = 0.96
                out.append(probs)
            return out

    class StubExecutor(Executor):
        name, object_types = "stub-semantic", (3,)
        MineParams = _semantic().MmsegExecutor.MineParams

        def mine(self, ctx):
            p = ctx.params
            options = dict(superpixel_algorithm=p.superpixel_algorithm, max_superpixels=p.max_superpixel_per_image,
                           topk=p.topk_superpixel_score, radius=p.ripu_region_radius)
            segmentation.mine(ctx, Stub, Mining.of(p.mining_algorithm, 3, Batching(2), options=options))

    return StubExecutor


@pytest.mark.parametrize("algorithm,superpixels", [("RSAL", "slico"), ("RSAL", "slic"), ("RSAL", "mslic"),
                                                   ("RSAL", "seeds"), ("RIPU", None)])
def test_rsal_and_ripu_rank_an_uncertain_image_above_confident_ones(algorithm, superpixels, tmp_path):
    pytest.importorskip("cv2.ximgproc")
    import cv2

    from ymir_sdk import run

    images = []
    rng = np.random.default_rng(1)
    for i in range(5):
        image = rng.integers(0, 255, (80, 120, 3), dtype=np.uint8)
        image[0, 0, 0] = 7 if i == 3 else 200
        path = str(tmp_path / f"im{i}.png")
        cv2.imwrite(path, image)
        images.append(path)
    index = str(tmp_path / "candidates.tsv")
    open(index, "w").write("\n".join(images) + "\n")
    env_file = write_env(str(tmp_path / "run"), run_mining=True, candidate_index_file=index)
    config = {"class_names": ["a", "b"], "mining_algorithm": algorithm, "max_superpixel_per_image": 64}
    if superpixels:
        config["superpixel_algorithm"] = superpixels
    write_yaml(os.path.join(str(tmp_path / "run"), "in", "config.yaml"), config)
    assert run(_stub_executor(images[3]), env_file) == 0
    ranked = [ln.split("\t")[0] for ln in open(str(tmp_path / "run" / "out" / "result.tsv")).read().splitlines()]
    assert sorted(ranked) == sorted(images) and ranked[0] == images[3]


# ------------------------------------------------------------------ instance segmentation (yolov5-seg)
def _seg_detector(model, img_size=64, conf=0.25, iou=0.45):
    import torch

    from ymir_sdk.yolov5.predict import Yolov5SegDetector

    return Yolov5SegDetector(model, torch.device("cpu"), img_size, conf, iou)


def test_each_box_keeps_its_own_mask():
    """Two boxes whose coefficients select two different prototypes (one covering the left half of the image,
    one the right): each instance's mask lies in its own box and fills it (the reference paired box j with mask
    n-1-j, which here would leave both masks empty)."""
    pytest.importorskip("yolov5")
    import torch
    from pycocotools import mask as mask_utils

    class Fake(torch.nn.Module):
        nc, stride = 2, torch.tensor([8.0, 16.0, 32.0])

        def forward(self, x):
            pred = torch.zeros(x.shape[0], 2, 5 + 2 + 32)
            for j, (cx, cls) in enumerate(((14.0, 0), (50.0, 1))):
                pred[:, j, :5] = torch.tensor([cx, 32.0, 16.0, 20.0, 0.9])
                pred[:, j, 5 + cls] = 0.9
                pred[:, j, 7 + j] = 1.0  # coefficient j selects prototype j
            protos = torch.full((x.shape[0], 32, 16, 16), -10.0)
            protos[:, 0, :, :8], protos[:, 1, :, 8:] = 10.0, 10.0  # left half, right half
            return pred, protos, [torch.zeros(1)]

    det = _seg_detector(Fake().eval())
    image = np.zeros((64, 64, 3), np.uint8)
    (insts,) = det.instances([det.prepare(image)])
    assert sorted(i.class_id for i in insts) == [0, 1]
    for inst in insts:
        mask = mask_utils.decode(inst.mask).astype(bool)
        x1 = 6 if inst.class_id == 0 else 42
        box = np.zeros_like(mask)
        box[22:42, x1:x1 + 16] = True
        assert mask.sum() >= 0.9 * box.sum() and not (mask & ~box).any(), inst.class_id


def test_maskal_passes_differ_and_plain_passes_do_not(trained_model):
    """MaskAL's Monte-Carlo passes run with DropBlock (forward hooks, removed after): two passes differ; without
    them the model is deterministic."""
    pytest.importorskip("yolov5")
    import torch

    from ymir_sdk.tools.synthetic import make_image
    from ymir_sdk.yolov5.common import load_model, prepare_offline

    work = trained_model("seg-in-one-instance")
    prepare_offline(os.path.join(work, "out", "work"))
    models = os.path.join(work, "out", "models")
    model = load_model(os.path.join(models, "best", "best.pt"), 2, torch.device("cpu"))
    det = _seg_detector(model, conf=0.001)
    rng = np.random.default_rng(0)
    prepared = [det.prepare(make_image(rng, (64, 64))[0]) for _ in range(2)]
    def same(a, b):
        return (len(a) == len(b) and np.array_equal(a.det.scores, b.det.scores)
                and np.array_equal(a.det.boxes, b.det.boxes) and np.array_equal(a.masks, b.masks))

    plain = [det.segment(prepared) for _ in range(2)]
    assert all(len(a) for a in plain[0]) and all(same(a, b) for a, b in zip(*plain))
    passes = det.mc_passes(prepared, 3)
    assert len(passes) == 2 and all(len(p) == 3 for p in passes)
    assert not any(same(a, b) for per_image in passes for a, b in zip(per_image, per_image[1:]))
    assert all(not layer._forward_hooks for layer in model.model)
    assert all(same(a, b) for a, b in zip(det.segment(prepared), plain[0]))


def test_apis_and_maskal_on_one_class_give_finite_scores(tmp_path):
    pytest.importorskip("yolov5")
    from ymir_sdk.tools.synthetic import write_coco_dataset

    ds = str(tmp_path / "ds")
    write_coco_dataset(ds, n_train=8, n_val=4, size=(64, 64), classes=1)
    spec = EXECUTORS["seg-in-one-instance"]
    train = str(tmp_path / "train")
    r = cli("run", "seg-in-one", "--object-type", "4", "--task", "train", "--dataset", ds, "--work", train,
            "--no-progress", *sets_args({**spec.fast, **spec.short}), timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    env_files = [lay_out_task("seg_in_one", ds, str(tmp_path / a), "mine", {**spec.model_task, "mining_algorithm": a},
                              object_type=4, model=train) for a in ("apis", "maskal")]
    r = run_in_one_process(spec.module, env_files)  # the two tasks in one process: one import of yolov5
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for algorithm in ("apis", "maskal"):
        work = str(tmp_path / algorithm)
        assert cli("verify", work, "--task", "mine").returncode == 0
        scores = [float(ln.split("\t")[1]) for ln in open(os.path.join(work, "out", "result.tsv"))]
        assert len(scores) == 4 and all(np.isfinite(scores)), (algorithm, scores)


def test_a_training_error_inside_yolov5_fails_the_task(executor_dataset, tmp_path):
    """An error raised inside yolov5's segment training reaches the monitor with its code and the exit status
    (the reference image swallowed the subprocess's failure and reported 100 %)."""
    pytest.importorskip("yolov5")
    spec = EXECUTORS["seg-in-one-instance"]
    work = str(tmp_path / "w")
    r = cli("run", "seg-in-one", "--object-type", "4", "--task", "train", "--dataset",
            executor_dataset(spec.name), "--work", work, "--no-progress",
            *sets_args({**spec.fast, **spec.short, "args_options": "--hyp /nonexistent/hyp.yaml"}), timeout=600)
    assert r.returncode != 0
    line = monitor_line(work)
    assert line[3] == "4" and line[4] != "0" and "hyp.yaml" in line[5], line
    assert not os.path.exists(os.path.join(work, "out", "models", "result.yaml"))


# ------------------------------------------------------------------ models of the reference image (mmseg 0.x)
def test_a_stage_of_the_mmseg_0_image_infers_as_the_model_it_was_made_from(executor_dataset, trained_model, tmp_path):
    """A semantic model stage of the reference image (mmseg 0.x config, mmcv 1.x checkpoint whose classes start
    with its ``ymir_background``; made here from the shared training's best stage) runs inference on today's
    mmseg: the same masks as the stage it was made from (the two tasks in one executor process)."""
    _needs_mmseg()
    from conftest import as_legacy_stage, copied_model

    trained = trained_model(SPEC.name)
    old = copied_model(trained, str(tmp_path / "model"), lambda stage_dir, stage: as_legacy_stage(
        stage_dir, stage, "fast_scnn_lr0.12_8x4_160k_cityscapes.py"))
    envs = [lay_out_task("seg_in_one", executor_dataset(SPEC.name), str(tmp_path / name), "infer", SPEC.model_task,
                         model=model, object_type=SPEC.object_type)
            for name, model in (("new", trained), ("old", old))]
    r = run_in_one_process(SPEC.module, envs)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "fast_scnn_lr0.12_8x4_160k_cityscapes.py is of mmdet 2.x / mmseg 0.x" in r.stderr
    new, got = [json.load(open(tmp_path / name / "out" / "infer-result.json")) for name in ("new", "old")]
    assert got == new and new["annotations"]
