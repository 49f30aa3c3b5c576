"""An OpenMMLab executor's loops on the CPU (executors/mmdet, mmyolo, mmrotate, or seg-in-one's semantic part),
measured in one run: inference images/s, and the cost of each mining algorithm as a ratio to the plain batched
detection or segmentation (the config's test pipeline, ``test_step``) of the same images.

The model (--model: a config for mmdet, default YOLOX-s; a model_name for mmyolo, default yolov5_s, and for
mmrotate, default rtmdet_tiny at img_size --size; a config for seg-in-one, default FastSCNN with its test resize
at --size) is built from the package's config through the executor and
the SDK's glue, randomly initialised (nothing downloaded). Targets
of issue "ymir_sdk.mining" on the CPU: entropy <= 1.1x, aldd <= 1.3x, cald <= 5.5x.

    python benchmarks/openmmlab_executor.py --executor mmyolo --model yolov8_s
"""
import argparse
import os
import tempfile

import numpy as np


from ymir_sdk.openmmlab import prepare_openmmlab
from ymir_sdk.tools.synthetic import make_image
from timing import report_mining, report_semantic_mining

#: the executors are the package executors.<name> of the repository root (the images' PYTHONPATH)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = {"mmdet": "yolox/yolox_s_8xb8-300e_coco.py", "mmyolo": "yolov5_s", "mmrotate": "rtmdet_tiny",
                 "seg-in-one": "fastscnn/fast_scnn_8xb4-160k_cityscapes-512x1024.py"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--executor", default="mmdet", choices=sorted(DEFAULT_MODEL))
    ap.add_argument("--model", help="mmdet: a config file; mmyolo: a model_name")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--size", type=int, default=640)
    args = ap.parse_args()
    prepare_openmmlab([])
    import torch
    from mmengine.registry import MODELS, init_default_scope

    from ymir_sdk.executor import load_executor_class
    from ymir_sdk.openmmlab.config import build_config
    from ymir_sdk.openmmlab.infer import Predictor

    if args.executor == "seg-in-one":
        return semantic(args)
    executor = load_executor_class(f"executors.{args.executor}", ROOT)()
    executor.prepare([])
    model_name = args.model or DEFAULT_MODEL[args.executor]
    config = executor.config_file(executor.TrainParams(**{"model_name" if executor.models else "config_file":
                                                          model_name}))
    torch.manual_seed(0)
    work = tempfile.mkdtemp(prefix="ymir-bench-")
    cfg = build_config(config, family_steps=executor.family_steps, input_size=args.size, work_dir=work,
                       classes=["a", "b"], train_json="/t.json", val_json="/v.json", batch_size=args.batch,
                       workers=0, max_epochs=1, coco_types=executor.coco_types,
                       cfg_options={"model.test_cfg.score_thr": 1e-4,  # a random model scores low ...
                                    # ... and every anchor would enter NMS (mmyolo's configs: nms_pre 30000)
                                    "model.test_cfg.nms_pre": 1000, "model.test_cfg.max_per_img": 100})
    init_default_scope(cfg.get("default_scope", executor.package))
    model = MODELS.build(cfg.model)
    model.init_weights()  # the framework's initialisation (as the runner does before training)
    model.eval()
    predictor = Predictor(cfg, model, executor.ndarray_type)
    rng = np.random.default_rng(0)
    images = [np.ascontiguousarray(make_image(rng, (args.size, args.size))[0][:, :, ::-1])
              for _ in range(args.images)]
    report_mining(f"{args.executor} {model_name}, {args.size}px input images, {args.images} images, batch "
                  f"{args.batch}, {torch.get_num_threads()} threads", images, predictor, args.batch,
                  algorithms=executor.mining_algorithms)


def semantic(args) -> None:
    """seg-in-one's semantic part: the mmseg model of a config (5 classes: background and 4), its test resize at
    --size (the Cityscapes configs would up-scale every image to 2048x1024), through the SDK's segmenter."""
    import torch
    from mmengine.registry import MODELS, init_default_scope

    from ymir_sdk.executor import load_executor_class
    from ymir_sdk.openmmlab.config import build_config
    from ymir_sdk.openmmlab.segmentation import MmsegSegmenter

    executor = load_executor_class("executors.seg_in_one.semantic:MmsegExecutor", ROOT)()
    executor.prepare([])
    model_name = args.model or DEFAULT_MODEL[args.executor]
    config = executor.config_file(executor.TrainParams(config_file=model_name))
    torch.manual_seed(0)
    classes = ["background", "a", "b", "c", "d"]
    cfg = build_config(config, family_steps=executor.family_steps, work_dir=tempfile.mkdtemp(prefix="ymir-bench-"),
                       classes=classes, train_json="/t.tsv", val_json="/v.tsv", batch_size=args.batch,
                       workers=0, max_epochs=1, max_iters=1, coco_types=executor.coco_types,
                       cfg_options={"val_dataloader.dataset.pipeline.1.scale": (args.size, args.size)})
    init_default_scope("mmseg")
    model = MODELS.build(cfg.model)
    model.init_weights()
    from mmengine.model.utils import revert_sync_batchnorm

    segmenter = MmsegSegmenter(cfg, revert_sync_batchnorm(model).eval(), executor.ndarray_type)
    rng = np.random.default_rng(0)
    images = [np.ascontiguousarray(make_image(rng, (args.size, args.size))[0][:, :, ::-1])
              for _ in range(args.images)]
    report_semantic_mining(f"seg-in-one {os.path.basename(config)}, {args.size}px input images, {args.images} "
                           f"images, batch {args.batch}, {torch.get_num_threads()} threads", images, segmenter,
                           args.batch, len(classes), algorithms=executor.mining_algorithms)


if __name__ == "__main__":
    main()
