"""What the training's TensorBoard pictures cost (issue: "drawing never slows training by more than 2%"): the same
training on generated data with the board's pictures (``val/pictures``, PR curves, confusion matrix, the
training batch) and without (``YMIR_BOARD_PICTURES=0``: scalars and results.csv only), run in turn in one run;
prints each wall time (with the board's own count of its drawing time), the ratio and the event files' bytes
per evaluation. ``--task detection``: yolov5n;
``--task instance``: seg-in-one's yolov5n-seg, whose pictures each epoch's checkpoint draws (and yolov5-seg's own
plots, which it draws either way).

    python benchmarks/board.py [--task detection|instance] [--epochs 10] [--images 320] [--size 128] [--repeats 2]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from ymir_sdk.tools.synthetic import write_ark_dataset, write_coco_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train(dataset: str, work: str, args, pictures: bool) -> float:
    env = dict(os.environ, YMIR_BOARD_PICTURES="1" if pictures else "0")
    executor = ["yolov5"] if args.task == "detection" else ["seg-in-one", "--object-type", "4"]
    cmd = [sys.executable, "-m", "ymir_sdk", "run", *executor, "--task", "train", "--dataset", dataset,
           "--work", work, "--no-progress"]
    model = "yolov5n" if args.task == "detection" else "yolov5n-seg"
    for key, value in {"model": model, "img_size": args.size, "epochs": args.epochs, "batch_size_per_gpu": 16,
                       "num_workers_per_gpu": 2}.items():
        cmd += ["--set", f"{key}={value}"]
    start = time.perf_counter()
    run = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - start
    if run.returncode:
        sys.exit(run.stdout[-4000:])
    with open(os.path.join(work, "out", "ymir-executor-out.log"), errors="replace") as f:
        clock = re.search(r"TensorBoard: (\d+) evaluations drawn, ([\d.]+) s of drawing", f.read())
    if clock:  # the board's own count of its drawing time
        print(f"  with pictures: {seconds:.1f} s, {clock[1]} evaluations drawn, {clock[2]} s of drawing", flush=True)
    else:
        print(f"  without pictures: {seconds:.1f} s", flush=True)
    return seconds


def board_bytes(work: str) -> int:
    folder = os.path.join(work, "out", "tensorboard")
    return sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder) if "tfevents" in f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", choices=["detection", "instance"], default="detection")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--images", type=int, default=320)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ymir-bench-board-")
    try:
        dataset = os.path.join(tmp, "data")
        write = write_ark_dataset if args.task == "detection" else write_coco_dataset
        write(dataset, n_train=args.images, n_val=40, size=(args.size, args.size), classes=3)
        times = {True: [], False: []}
        sizes = {}
        for r in range(args.repeats):
            for pictures in (False, True) if r % 2 == 0 else (True, False):  # alternate: drift hits both
                work = os.path.join(tmp, f"w-{r}-{int(pictures)}")
                times[pictures].append(train(dataset, work, args, pictures))
                sizes[pictures] = board_bytes(work)
                shutil.rmtree(work)
        with_, without = sum(times[True]), sum(times[False])
        print(f"{args.task} {args.size} px, {args.images} images, {args.epochs} epochs, {args.repeats} repeats")
        print(f"without pictures {without / args.repeats:.1f} s, with {with_ / args.repeats:.1f} s: "
              f"ratio {with_ / without:.3f}")
        print(f"event files: {sizes[True] / 1e6:.2f} MB with pictures ({sizes[True] / args.epochs / 1e6:.2f} MB per "
              f"evaluation), {sizes[False] / 1e3:.0f} kB without")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
