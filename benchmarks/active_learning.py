"""A real active-learning simulation (``ymir-sdk simulate``) with the yolov5 executor on generated data, each
mining algorithm against random selection. Prints the summary; the curves (csv, json, png) are in --work.

``--pool uniform`` (the default): yolov5n from scratch at 128 px (40 epochs, batch 16, as the demo) on balanced
shapes, a labelled start set of 64 images, 32 more per round, 3 rounds. (yolov5 from scratch learns after its
100-iteration warm-up, from about 200 iterations on: smaller sets or images left every curve near 0.)

``--pool imbalanced``: the data mining is for (:func:`ymir_sdk.tools.synthetic.write_imbalanced_dataset`): 40 %
background frames, half of the other images hard (small, faint shapes), triangles 15 % of the objects
(``--rare-share``); the validation split balanced. Every round fine-tunes, as on the platform, a starting model the
benchmark trains once (cached in --work) on a disjoint generated source set as imbalanced as the pool, for 50
epochs (``--source-epochs``: it knows triangles a little, AP about 0.8 on its own validation split; 30 epochs
leave it blind to them, 100 leave nothing to learn). The README's table: ``--pool imbalanced --repeats 3``.

    python benchmarks/active_learning.py [--pool uniform|imbalanced] [--work DIR]
                                         [--algorithms random,entropy,aldd,cald] [--repeats 1]

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

#: the repository: its executors folder is where the simulation finds ``yolov5``
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: per pool: training images, validation images, start set, images per round, epochs of a round's training
POOLS = {"uniform": dict(images=224, val=40, initial=64, budget=32, epochs=40),
         "imbalanced": dict(images=480, val=90, initial=32, budget=32, epochs=20)}


def source_model(work: str, sets: dict, epochs: int, rare_share: float = 0.06) -> str:
    """The imbalanced pool's starting model: yolov5n trained once on a disjoint source set (other images, its own
    seed, triangles as rare as in the pool: the model knows them a little, as pretrained weights know a rare
    class), cached in ``work``; returns its work folder."""
    folder = os.path.join(work, "source-model")
    if os.path.exists(model_result_file(folder)):
        return folder
    data = os.path.join(work, "source-dataset")
    if not os.path.exists(os.path.join(data, "classes.txt")):
        write_imbalanced_dataset(data, n_train=320, n_val=40, background=0.2, seed=100, rare_share=rare_share)
    cmd = [sys.executable, "-m", "ymir_sdk", "run", "yolov5", "--task", "train", "--dataset", data, "--work", folder]
    for key, value in {**sets, "epochs": str(epochs)}.items():
        cmd += ["--set", f"{key}={value}"]
    print("training the starting model:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    return folder


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", choices=sorted(POOLS), default="uniform")
    ap.add_argument("--work", help="default: bench-al (uniform), bench-al-imbalanced")
    ap.add_argument("--algorithms", default="random,entropy,aldd,cald")
    ap.add_argument("--images", type=int, help="training images (the start set and the pool)")
    ap.add_argument("--val", type=int)
    ap.add_argument("--initial", type=int)
    ap.add_argument("--budget", type=int)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--epochs", type=int, help="epochs of each round's training")
    ap.add_argument("--source-epochs", type=int, default=50, help="epochs of the starting model (imbalanced)")
    ap.add_argument("--rare-share", type=float, default=0.15, help="the rare class's share of the objects in the "
                    "pool and the source set (imbalanced)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=128, help="image and network size (a multiple of 32)")
    args = ap.parse_args()
    for key, value in POOLS[args.pool].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    work = args.work or os.path.join(ROOT, "bench-al" + ("" if args.pool == "uniform" else "-" + args.pool))
    dataset = os.path.join(work, "dataset")
    if not os.path.exists(os.path.join(dataset, "classes.txt")):
        if args.pool == "uniform":
            write_ark_dataset(dataset, n_train=args.images, n_val=args.val, size=(args.size, args.size), classes=3)
        else:
            write_imbalanced_dataset(dataset, n_train=args.images, n_val=args.val, size=(args.size, args.size),
                                     rare_share=args.rare_share)
    sets = {"model": "yolov5n", "img_size": str(args.size), "epochs": str(args.epochs),
            "batch_size_per_gpu": str(args.batch), "num_workers_per_gpu": "2", "save_period": "1000",
            "conf_thres": "0.1"}
    model = None
    if args.pool == "imbalanced":
        train_sets = {k: v for k, v in sets.items() if k != "conf_thres"}
        model = source_model(work, train_sets, args.source_epochs, args.rare_share)
    settings = Settings("yolov5", dataset, args.initial, args.budget, args.rounds, args.algorithms.split(","),
                        args.repeats, sets=sets, model=model)
    start = time.time()
    os.chdir(ROOT)
    simulate(settings, os.path.join(work, "simulation"))
    with open(os.path.join(work, "simulation", "summary.txt")) as f:
        print(f.read(), end="")
    print(f"{(time.time() - start) / 60:.1f} minutes; curves in {os.path.join(work, 'simulation')}")


if __name__ == "__main__":
    main()
