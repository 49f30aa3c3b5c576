"""The demo: generate a small synthetic detection dataset (coloured shapes with known boxes), run
train -> infer -> mine+infer through `ymir-sdk run`, check every output with `ymir-sdk verify`, print the
validation mAP@0.5 and the top mined images.

The executor is EXECUTOR (default: yolov5, with hyper-parameters sized for a 2-core CPU: yolov5n at 128 px,
40 epochs). EXECUTOR=mmdet trains YOLOX-tiny at 128 px for 40 epochs (about 3 minutes, mAP@0.5 about 0.99);
EXECUTOR=mmrotate trains rotated RTMDet-tiny on rotated bars (their ark lines carry rotate_angle) at 128 px for 8
epochs (rotated mAP@0.5); EXECUTOR=seg-in-one trains its semantic part (FastSCNN, 128 px, 300 iterations: about
1 minute) on generated masks (COCO with RLE) and prints the mIoU; EXECUTOR=tests/toy_executor runs the
framework-free toy. Work folders go to demo-work/.
"""
import os
import subprocess
import sys

import yaml

from ymir_sdk.tools.synthetic import write_ark_dataset, write_coco_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sdk(*args):
    print("$ ymir-sdk " + " ".join(args), flush=True)
    r = subprocess.run([sys.executable, "-m", "ymir_sdk", *args], cwd=ROOT)
    if r.returncode != 0:
        sys.exit(f"ymir-sdk {args[0]} failed with status {r.returncode}")


DEMO_SETTINGS = {
    "yolov5": {"train": ["model=yolov5n", "img_size=128", "epochs=40", "batch_size_per_gpu=16",
                         "num_workers_per_gpu=2"],
               "infer": ["img_size=128"]},
    # YOLOX-tiny at 128 px: the mosaic canvas, the multi-scale range and the test resize follow img_scale
    "mmdet": {"train": ["samples_per_gpu=16", "workers_per_gpu=2", "max_epochs=40", "val_interval=10",
                        "args_options=--seed 0",
                        "cfg_options=img_scale=(128,128) model.data_preprocessor.batch_augments.0.random_size_range="
                        "(96,160) val_dataloader.dataset.pipeline.1.scale=(128,128) "
                        "test_dataloader.dataset.pipeline.1.scale=(128,128)"],
              "infer": ["conf_threshold=0.3", "samples_per_gpu=16", "workers_per_gpu=2"]},
    # rotated RTMDet-tiny at 128 px from scratch: a 20-iteration warm-up (not the config's 1000) and a higher lr
    "mmrotate": {"train": ["img_size=128", "samples_per_gpu=8", "workers_per_gpu=2", "max_epochs=8",
                           "val_interval=4", "args_options=--seed 0",
                           "cfg_options=param_scheduler.0.end=20 optim_wrapper.optimizer.lr=0.004"],
                 "infer": ["conf_threshold=0.3", "samples_per_gpu=8", "workers_per_gpu=2"]},
    # the semantic part, FastSCNN from scratch at 128 px (the Cityscapes crop and resizes set by cfg_options)
    "seg-in-one": {"train": ["samples_per_gpu=4", "workers_per_gpu=2", "max_iters=300", "interval=100",
                             "args_options=--seed 0",
                             "cfg_options=crop_size=(128,128) train_dataloader.dataset.pipeline.2.scale=(256,128) "
                             "val_dataloader.dataset.pipeline.1.scale=(128,128) "
                             "test_dataloader.dataset.pipeline.1.scale=(128,128)"],
                   "infer": ["samples_per_gpu=4", "workers_per_gpu=2"]},
}
#: executors whose demo data are rotated boxes
ROTATED = ("mmrotate",)
#: executors (a part of a multi-type image: its object type) whose demo is semantic segmentation
SEMANTIC = {"seg-in-one": "3"}


def sets(executor, task):
    return [arg for s in DEMO_SETTINGS.get(executor, {}).get(task, []) for arg in ("--set", s)]


def main():
    executor = os.environ.get("EXECUTOR", "yolov5")
    base = os.path.join(ROOT, "demo-work")
    rotated, semantic = executor in ROTATED, executor in SEMANTIC
    part = ["--object-type", SEMANTIC[executor]] if semantic else []
    dataset = os.path.join(base, "dataset-rotated" if rotated else "dataset-masks" if semantic else "dataset")
    if semantic and not os.path.exists(os.path.join(dataset, "val.json")):
        write_coco_dataset(dataset, n_train=48, n_val=12, size=(128, 128))
    if not semantic and not os.path.exists(os.path.join(dataset, "classes.txt")):
        write_ark_dataset(dataset, n_train=160, n_val=40, size=(128, 128), rotated=rotated)
    train = os.path.join(base, "train")
    sdk("run", executor, *part, "--task", "train", "--dataset", dataset, "--work", train, *sets(executor, "train"))
    sdk("verify", train, "--task", "train")
    for task in ("infer", "mine+infer"):
        work = os.path.join(base, task.replace("+", "-"))
        sdk("run", executor, *part, "--task", task, "--dataset", dataset, "--work", work, "--model", train,
            *sets(executor, "infer"))
        sdk("verify", work, "--task", task)
    result = yaml.safe_load(open(os.path.join(train, "out", "models", "result.yaml")))
    best = result["model_stages"][result["best_stage_name"]]
    metric, label = ("mIoU", "mIoU") if semantic else ("mAP", "mAP@0.5")
    print(f"\nvalidation {label} of stage {result['best_stage_name']}: {best[metric]:.3f} "
          f"(target >= 0.5: {'met' if best[metric] >= 0.5 else 'NOT met'})")
    print("top mined images (most valuable to label first):")
    with open(os.path.join(base, "mine-infer", "out", "result.tsv")) as f:
        for line in list(f)[:5]:
            path, score = line.rstrip("\n").split("\t")
            print(f"  {score:>22}  {path}")


if __name__ == "__main__":
    main()
