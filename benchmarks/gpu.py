"""The GPU lane's benchmark (`make test-gpu`), measured in one run on one device: for yolov5 and mmdet, the
executor's inference (the SDK's detector: the framework's letterbox or test pipeline, a batched forward pass, NMS
that keeps each box's class probabilities) against the framework's own batched predict on the same model and
images (images/s, and their ratio: target >= 0.95), then each mining algorithm's cost as a ratio to that
inference (timing.report_mining). Models are built from the packages' configs, randomly initialised (nothing
downloaded). Without CUDA it runs on the CPU (``--device cpu``: a check of the script; absolute figures and the
target are for a GPU).

    .venv/bin/python benchmarks/gpu.py [--frameworks yolov5,mmdet] [--images 64] [--batch 16] [--size 640]
"""
import argparse
import tempfile

import numpy as np

from timing import best_times, report_mining

from ymir_sdk.tools.synthetic import make_image


def _images(n, size):
    rng = np.random.default_rng(0)
    return [make_image(rng, (size, size))[0] for _ in range(n)]


def yolov5(args, device, images):
    """yolov5s: the SDK's Yolov5Detector against yolov5's own letterbox, batched forward, non_max_suppression and
    scale_boxes (its detect.py, batched as ours)."""
    import torch

    from ymir_sdk.yolov5.common import model_yaml, prepare_offline
    from ymir_sdk.yolov5.predict import Yolov5Detector

    prepare_offline(tempfile.mkdtemp(prefix="ymir-bench-"))
    from yolov5.models.yolo import Model
    from yolov5.utils.augmentations import letterbox
    from yolov5.utils.general import non_max_suppression, scale_boxes

    torch.manual_seed(0)
    model = Model(model_yaml("yolov5s"), nc=2).fuse().eval().to(device)
    conf, iou = 1e-4, 0.45  # a random model scores about 5e-4: a low threshold keeps boxes to score
    detector = Yolov5Detector(model, device, args.size, conf, iou)
    batches = [images[i:i + args.batch] for i in range(0, len(images), args.batch)]

    def ours():
        for b in batches:
            detector.detect([detector.prepare(im) for im in b])

    def own():
        for b in batches:
            x = np.stack([letterbox(im, (args.size, args.size), auto=False)[0] for im in b]).transpose(0, 3, 1, 2)
            x = torch.from_numpy(np.ascontiguousarray(x)).to(device).float() / 255
            with torch.no_grad():
                pred = model(x)[0]
            for det, im in zip(non_max_suppression(pred, conf, iou, max_det=300), b):
                det[:, :4] = scale_boxes(x.shape[2:], det[:, :4], im.shape).round()
                det.cpu().numpy()

    return "yolov5s", detector, ours, own


def mmdet(args, device, images):
    """YOLOX-s: the SDK's Predictor against mmdet's inference_detector (the config's test pipeline) on the same
    model and images."""
    import torch
    from mmdet.apis import inference_detector
    from mmengine.registry import MODELS, init_default_scope

    from ymir_sdk.executor import load_executor_class
    from ymir_sdk.openmmlab import prepare_openmmlab
    from ymir_sdk.openmmlab.config import build_config
    from ymir_sdk.openmmlab.infer import Predictor

    prepare_openmmlab([])
    executor = load_executor_class("executors.mmdet")()
    executor.prepare([])
    config = executor.config_file(executor.TrainParams(config_file="yolox/yolox_s_8xb8-300e_coco.py"))
    cfg = build_config(config, family_steps=executor.family_steps, input_size=args.size, work_dir=tempfile.mkdtemp(),
                       classes=["a", "b"], train_json="/t.json", val_json="/v.json", batch_size=args.batch,
                       workers=0, max_epochs=1, coco_types=executor.coco_types,
                       cfg_options={"model.test_cfg.score_thr": 1e-4})
    init_default_scope(cfg.get("default_scope", executor.package))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.cfg = cfg
    model.to(device).eval()
    predictor = Predictor(cfg, model, executor.ndarray_type)
    bgr = [np.ascontiguousarray(im[:, :, ::-1]) for im in images]
    batches = [bgr[i:i + args.batch] for i in range(0, len(bgr), args.batch)]

    def ours():
        for b in batches:
            predictor.detect([predictor.prepare(im) for im in b])

    def own():
        for b in batches:
            for r in inference_detector(model, b):
                r.pred_instances.cpu()

    return "YOLOX-s", predictor, ours, own


FRAMEWORKS = {"yolov5": yolov5, "mmdet": mmdet}


def main():
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--frameworks", default="yolov5,mmdet")
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{name}; torch {torch.__version__}; {args.images} images of {args.size} px, batch {args.batch}")
    images = _images(args.images, args.size)
    for framework in args.frameworks.split(","):
        model, detector, ours, own = FRAMEWORKS[framework](args, device, images)
        ours(), own()  # warm-up (cuDNN's algorithm search, the allocator)
        t_ours, t_own = best_times([ours, own], 3)
        ratio = t_own / t_ours
        verdict = "met" if ratio >= 0.95 else "NOT met"
        print(f"{framework} {model}: executor {len(images) / t_ours:.1f} images/s, framework's own predict "
              f"{len(images) / t_own:.1f} images/s: {ratio:.2f}x (target >= 0.95: {verdict})")
        report_mining(f"{framework} {model} mining, as a ratio to the executor's inference", images, detector,
                      args.batch)


if __name__ == "__main__":
    main()
