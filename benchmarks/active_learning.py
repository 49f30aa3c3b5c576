"""A real active-learning simulation (``ymir-sdk simulate``) on generated data, each mining algorithm against
random selection: detection with the yolov5 executor, instance and semantic segmentation with seg-in-one. Prints
the summary; the curves (csv, json, png) are in --work.

``--pool uniform`` (the default): yolov5n from scratch at 128 px (40 epochs, batch 16, as the demo) on balanced
shapes, a labelled start set of 64 images, 32 more per round, 3 rounds. (yolov5 from scratch learns after its
100-iteration warm-up, from about 200 iterations on: smaller sets or images left every curve near 0.)

``--pool imbalanced``: the data mining is for (:func:`ymir_sdk.tools.synthetic.write_imbalanced_dataset`): 40 %
background frames, half of the other images hard (small, faint shapes), triangles 15 % of the objects
(``--rare-share``); the validation split balanced. Every round fine-tunes, as on the platform, a starting model the
benchmark trains once (cached in --work) on a disjoint generated source set as imbalanced as the pool, for 50
epochs (``--source-epochs``: it knows triangles a little, AP about 0.8 on its own validation split; 30 epochs
leave it blind to them, 100 leave nothing to learn). The README's table: ``--pool imbalanced --repeats 3``.

``--executor mmdet`` / ``--executor mmyolo`` (detection): the mmdet executor's default model, YOLOX-tiny, at 128 px
as the demo trains it (its image scale, multi-scale range and test resize through ``cfg_options``), or mmyolo's,
YOLOv8-n, at 128 px with a 40-iteration warm-up; validated four times a training; the same pools, rounds and
algorithms.

``--task instance`` / ``--task semantic`` (imbalanced pool only): the same pool as COCO with masks (320 training
images, 60 validation), seg-in-one's yolov5n-seg at 96 px (30 source epochs with the learning test's
hyper-parameters, 20 a round with the image's defaults - ``--round-hyp learning``: the source's) or FastSCNN at
128 px (600 source iterations, 200 a round, batch 4); apis and maskal, or rsal and ripu, against random. Smaller
runs than detection's: the README reports them.

    python benchmarks/active_learning.py [--task detection|instance|semantic] [--pool uniform|imbalanced]
                                         [--executor yolov5|mmdet|mmyolo]
                                         [--work DIR] [--algorithms random,entropy,aldd,cald] [--repeats 1]
                                         [--set KEY=VALUE ...]

The same command resumes an interrupted run (finished trainings and minings, and the starting model, are kept).
"""
import argparse
import os
import subprocess
import sys
import time

from ymir_sdk.tools.runner import model_result_file
from ymir_sdk.tools.simulate import Settings, simulate
from ymir_sdk.tools.synthetic import write_ark_dataset, write_imbalanced_dataset

#: the repository: its executors folder is where the simulation finds ``yolov5`` and ``seg-in-one``
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: per pool: training images, validation images, start set, images per round, a round's training length
POOLS = {"uniform": dict(images=224, val=40, initial=64, budget=32, epochs=40),
         "imbalanced": dict(images=480, val=90, initial=32, budget=32, epochs=20)}

#: per task: the executor, its object type, the algorithms compared by default, what differs from the pool's
#: defaults (image size; semantic segmentation trains in iterations: ``epochs`` is a round's iterations there)
TASKS = {"detection": dict(executor="yolov5", object_type=None, algorithms="random,entropy,aldd,cald"),
         "instance": dict(executor="seg-in-one", object_type=4, algorithms="random,apis,maskal",
                          defaults=dict(images=320, val=60, size=96, source_epochs=30)),
         "semantic": dict(executor="seg-in-one", object_type=3, algorithms="random,rsal,ripu",
                          defaults=dict(images=320, val=60, epochs=200, source_epochs=600))}

#: instance segmentation's hyper-parameters (yolov5's hyp.scratch-low with these changes, as the learning test:
#: without them yolov5n-seg from scratch learns nothing at this size in minutes on a CPU)
INSTANCE_HYP = {"lr0": 0.03, "mosaic": 0.0, "warmup_epochs": 1.0, "scale": 0.2}


def training_length(task: str, executor: str, n: int) -> dict:
    """The ``--set`` values of a training of ``n`` epochs (semantic: iterations) and the validations that go with
    its length: the rounds' (``--epochs``) and the starting model's (``--source-epochs``)."""
    if task == "semantic":
        return {"max_iters": str(n), "interval": str(max(1, n // 2))}
    if executor in ("mmdet", "mmyolo"):
        return {"max_epochs": str(n), "val_interval": str(max(1, n // 4))}
    return {"epochs": str(n)}


def task_sets(task: str, args, work: str) -> dict:
    """The ``--set`` values of every task of the simulation (a round's training length in ``args.epochs``)."""
    length = training_length(task, args.executor, args.epochs)
    if task == "semantic":
        size = args.size
        return {"samples_per_gpu": str(args.batch), "workers_per_gpu": "2", **length,
                "cfg_options": f"crop_size=({size},{size}) train_dataloader.dataset.pipeline.2.scale=({2 * size},"
                               f"{size}) val_dataloader.dataset.pipeline.1.scale=({size},{size}) "
                               f"test_dataloader.dataset.pipeline.1.scale=({size},{size})"}
    if task == "detection" and args.executor in ("mmdet", "mmyolo"):
        size = args.size
        sets = {"samples_per_gpu": str(args.batch), "workers_per_gpu": "2", **length, "args_options": "--seed 0",
                "conf_threshold": "0.1"}
        if args.executor == "mmyolo":  # YOLOv8-n; a 40-iteration warm-up, not the config's 1000
            return {**sets, "model_name": "yolov8_n", "cfg_options": f"img_scale=({size},{size}) "
                    "default_hooks.param_scheduler.warmup_mim_iter=40"}
        return {**sets, "cfg_options": f"img_scale=({size},{size}) model.data_preprocessor.batch_augments.0."
                                       f"random_size_range=({size * 3 // 4},{size * 5 // 4}) "
                                       f"val_dataloader.dataset.pipeline.1.scale=({size},{size}) "
                                       f"test_dataloader.dataset.pipeline.1.scale=({size},{size})"}
    sets = {"img_size": str(args.size), **length, "batch_size_per_gpu": str(args.batch),
            "num_workers_per_gpu": "2", "save_period": "1000", "conf_thres": "0.1"}
    if task == "detection":
        return {"model": "yolov5n", **sets}
    rounds = {"args_options": f"--hyp {instance_hyp(work)}"} if args.round_hyp == "learning" else {}
    return {"model": "yolov5n-seg", **sets, **rounds}


def instance_hyp(work: str) -> str:
    """The learning test's yolov5-seg hyper-parameters (:data:`INSTANCE_HYP`) as a hyp file in ``work``."""
    import yaml
    import yolov5

    base = os.path.join(os.path.dirname(yolov5.__file__), "data", "hyps", "hyp.scratch-low.yaml")
    with open(base) as f:
        hyp = {**yaml.safe_load(f), **INSTANCE_HYP}
    path = os.path.join(work, "hyp.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(hyp, f)
    return path


def source_model(work: str, task: str, executor: str, sets: dict, source_length: int, rare_share: float,
                 size: int) -> str:
    """The imbalanced pool's starting model: trained once on a disjoint source set (other images, its own seed,
    the rare class as rare as in the pool: the model knows it a little, as pretrained weights know a rare class),
    cached in ``work``; returns its work folder."""
    folder = os.path.join(work, "source-model")
    if os.path.exists(model_result_file(folder)):
        return folder
    data = os.path.join(work, "source-dataset")
    if not os.path.exists(os.path.join(data, "classes.txt" if task == "detection" else "val.json")):
        write_imbalanced_dataset(data, n_train=320, n_val=40, size=(size, size), background=0.2, seed=100,
                                 rare_share=rare_share, coco=task != "detection")
    sets = {k: v for k, v in sets.items() if k not in ("conf_thres", "conf_threshold")}
    sets.update(training_length(task, executor, source_length))
    if task == "instance":  # from scratch: the learning test's hyper-parameters
        sets["args_options"] = f"--hyp {instance_hyp(work)}"
    spec = TASKS[task]
    cmd = [sys.executable, "-m", "ymir_sdk", "run", executor, "--task", "train", "--dataset", data,
           "--work", folder, "--no-progress"]
    if spec["object_type"]:
        cmd += ["--object-type", str(spec["object_type"])]
    for key, value in sets.items():
        cmd += ["--set", f"{key}={value}"]
    print("training the starting model:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    return folder


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", choices=sorted(TASKS), default="detection",
                    help="detection (yolov5), instance or semantic segmentation (seg-in-one; imbalanced pool)")
    ap.add_argument("--pool", choices=sorted(POOLS), default="uniform")
    ap.add_argument("--executor", choices=["yolov5", "mmdet", "mmyolo"], help="detection: yolov5 (yolov5n, the "
                    "default), mmdet (its default YOLOX-tiny, at --size as the demo trains it) or mmyolo (YOLOv8-n)")
    ap.add_argument("--work", help="default: bench-al (uniform), bench-al-imbalanced, bench-al-<task>")
    ap.add_argument("--algorithms", help="default: random and the task's algorithms")
    ap.add_argument("--images", type=int, help="training images (the start set and the pool)")
    ap.add_argument("--val", type=int)
    ap.add_argument("--initial", type=int)
    ap.add_argument("--budget", type=int)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--epochs", type=int, help="epochs of each round's training (semantic: iterations)")
    ap.add_argument("--source-epochs", type=int, help="epochs of the starting model (imbalanced; 50, instance 30, "
                    "semantic: 600 iterations)")
    ap.add_argument("--rare-share", type=float, default=0.15, help="the rare class's share of the objects in the "
                    "pool and the source set (imbalanced)")
    ap.add_argument("--batch", type=int, default=16, help="batch size (semantic: 4)")
    ap.add_argument("--size", type=int, help="image and network size (a multiple of 32; 128, instance 96)")
    ap.add_argument("--round-hyp", choices=["package", "learning"], default="package",
                    help="instance: the rounds' hyper-parameters - the image's defaults (yolov5's hyp.scratch-low, "
                    "lr0 0.01, as the platform runs them) or the starting model's (lr0 0.03, no mosaic)")
    ap.add_argument("--warm-start", action="store_true",
                    help="each round fine-tunes the previous round's model (of the same algorithm), not the start")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="another template value for every task (e.g. class_distribution_scores=auto)")
    args = ap.parse_args()
    task = TASKS[args.task]
    if args.executor is not None and args.task != "detection":
        ap.error("--executor is detection's: instance and semantic segmentation run seg-in-one")
    args.executor = args.executor or task["executor"]
    if args.task != "detection":
        if args.pool != "imbalanced":
            ap.error(f"--task {args.task} runs on --pool imbalanced only")
        if args.task == "semantic" and "--batch" not in sys.argv:
            args.batch = 4
    defaults = {**POOLS[args.pool], "size": 128, "source_epochs": 50, **task.get("defaults", {})}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    name = "bench-al" + ("" if args.pool == "uniform" else "-" + args.pool if args.task == "detection"
                         else "-" + args.task) + ("" if args.executor == task["executor"] else "-" + args.executor)
    work = os.path.abspath(args.work or os.path.join(ROOT, name))
    os.makedirs(work, exist_ok=True)
    dataset = os.path.join(work, "dataset")
    coco = args.task != "detection"
    if not os.path.exists(os.path.join(dataset, "val.json" if coco else "classes.txt")):
        if args.pool == "uniform":
            write_ark_dataset(dataset, n_train=args.images, n_val=args.val, size=(args.size, args.size), classes=3)
        else:
            write_imbalanced_dataset(dataset, n_train=args.images, n_val=args.val, size=(args.size, args.size),
                                     rare_share=args.rare_share, coco=coco)
    sets = task_sets(args.task, args, work)
    model = None
    if args.pool == "imbalanced":
        model = source_model(work, args.task, args.executor, sets, args.source_epochs, args.rare_share, args.size)
    extra = dict(item.split("=", 1) for item in args.set)  # not the starting model's: the rounds' tasks
    settings = Settings(args.executor, dataset, args.initial, args.budget, args.rounds,
                        (args.algorithms or task["algorithms"]).split(","), args.repeats, sets={**sets, **extra},
                        model=model, object_type=task["object_type"], warm_start=args.warm_start)
    start = time.time()
    os.chdir(ROOT)
    simulate(settings, os.path.join(work, "simulation"))
    with open(os.path.join(work, "simulation", "summary.txt")) as f:
        print(f.read(), end="")
    print(f"{(time.time() - start) / 60:.1f} minutes; curves in {os.path.join(work, 'simulation')}")


if __name__ == "__main__":
    main()
