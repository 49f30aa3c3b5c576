"""A real active-learning simulation (``ymir-sdk simulate``) with the yolov5 executor on generated data: yolov5n
from scratch at 128 px (40 epochs, batch 16, as the demo), a labelled start set of 64 images, 32 more per round,
3 rounds, each mining algorithm against random selection. (yolov5 from scratch learns after its 100-iteration
warm-up, from about 200 iterations on: smaller sets or images left every curve near 0.) Prints the summary; the curves (csv, json, png) are in --work.

    python benchmarks/active_learning.py [--work bench-al] [--algorithms random,entropy,aldd,cald] [--repeats 1]

The same command resumes an interrupted run (finished trainings and minings are kept).
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from ymir_sdk.simulate import Settings, simulate  # noqa: E402
from ymir_sdk.synthetic import write_ark_dataset  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=os.path.join(ROOT, "bench-al"))
    ap.add_argument("--algorithms", default="random,entropy,aldd,cald")
    ap.add_argument("--images", type=int, default=224, help="training images (the start set and the pool)")
    ap.add_argument("--val", type=int, default=40)
    ap.add_argument("--initial", type=int, default=64)
    ap.add_argument("--budget", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=128, help="image and network size (a multiple of 32)")
    args = ap.parse_args()
    dataset = os.path.join(args.work, "dataset")
    if not os.path.exists(os.path.join(dataset, "classes.txt")):
        write_ark_dataset(dataset, n_train=args.images, n_val=args.val, size=(args.size, args.size), classes=3)
    sets = {"model": "yolov5n", "img_size": str(args.size), "epochs": str(args.epochs),
            "batch_size_per_gpu": str(args.batch), "num_workers_per_gpu": "2", "save_period": "1000",
            "conf_thres": "0.1"}
    settings = Settings("yolov5", dataset, args.initial, args.budget, args.rounds, args.algorithms.split(","),
                        args.repeats, sets=sets)
    start = time.time()
    os.chdir(ROOT)
    simulate(settings, os.path.join(args.work, "simulation"))
    with open(os.path.join(args.work, "simulation", "summary.txt")) as f:
        print(f.read(), end="")
    print(f"{(time.time() - start) / 60:.1f} minutes; curves in {os.path.join(args.work, 'simulation')}")


if __name__ == "__main__":
    main()
