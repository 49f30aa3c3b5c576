"""ark -> COCO conversion speed against the floor (merely reading the same annotation files).

Generates N ark annotation files (1-5 boxes each) and N small PNG images in a temporary folder, then times in one
run: (a) reading every annotation file, (b) reading every annotation file plus the header bytes of every image,
(c) reading every annotation file and decoding every image as the conversion's pixel check does (OpenCV at an
eighth of the size, on the same number of threads: all the input a training conversion has to touch - training
drops an image whose pixels do not decode), and (d) ``convert_to_coco`` (parse, image sizes with EXIF, the pixel
check, rules, the cache key, JSON written atomically; the cache is removed before each run). The four run in
interleaved rounds and each keeps its best round. Prints the ratios. Target: (d) within 1.5x of (c).

``--memory N``: conversions at scale instead. Index files of N and 10N lines (64x48 PNGs, 1-5 boxes each) are
converted to COCO and to YOLO, each in a fresh process that reads the index and converts it; prints each one's
peak RSS, the peak of a process that only reads the index, and the slope of the conversion's peak in MB per
1,000 lines between N and 10N (target, as for inference and mining: <= 5).
"""
import argparse
import io
import os
import random
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from ymir_sdk.dataset import convert_to_coco
from timing import best_times


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def generate(root: str, n: int, size=(640, 480)):
    rng = random.Random(0)
    w, h = size
    buf = io.BytesIO()
    Image.new("RGB", size, (90, 90, 90)).save(buf, format="PNG")
    png = buf.getvalue()
    pairs = []
    for i in range(n):
        sub = os.path.join(root, f"{i % 256:02x}")
        os.makedirs(sub, exist_ok=True)
        image, ann = os.path.join(sub, f"{i:08d}.png"), os.path.join(sub, f"{i:08d}.txt")
        with open(image, "wb") as f:
            f.write(png)
        lines = []
        for _ in range(rng.randint(1, 5)):
            x, y = rng.randint(0, w * 25 // 32), rng.randint(0, h * 23 // 32)
            lines.append(f"{rng.randint(0, 2)}, {x}, {y}, {x + rng.randint(1, w // 5)}, {y + rng.randint(1, h // 4)}, "
                         f"-1.0, 0.0\n")
        with open(ann, "w") as f:
            f.write("".join(lines))
        pairs.append((image, ann))
    return pairs


CHILD = """
import resource, sys, time
from ymir_sdk.dataset import convert_to_coco, convert_to_yolo, read_pairs
index, out, kind = sys.argv[1:4]
start = time.perf_counter()
pairs = read_pairs(index)
if kind == "coco":
    convert_to_coco({"train": pairs}, ["a", "b", "c"], out)
elif kind == "yolo":
    convert_to_yolo({"train": pairs}, ["a", "b", "c"], out)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, time.perf_counter() - start)
"""


def memory(n: int):
    """Peak RSS of conversions of n and 10n index lines, each in a fresh process."""
    root = tempfile.mkdtemp(prefix="ymir-bench-")
    try:
        print(f"{'lines':>8} {'converter':>10} {'peak MB':>8} {'s':>7}")
        peaks = {}
        for lines in (n, 10 * n):
            folder = os.path.join(root, str(lines))
            index = os.path.join(folder, "index.tsv")
            os.makedirs(folder)
            with open(index, "w") as f:
                f.writelines(f"{image}\t{ann}\n" for image, ann in generate(folder, lines, (64, 48)))
            for kind in ("index", "coco", "yolo"):
                out = subprocess.run([sys.executable, "-c", CHILD, index, os.path.join(folder, "out"), kind],
                                     check=True, capture_output=True, text=True,
                                     env=dict(os.environ, PYTHONPATH=ROOT)).stdout.split()
                peaks[lines, kind] = float(out[0])
                print(f"{lines:>8} {kind:>10} {float(out[0]):>8.0f} {float(out[1]):>7.1f}", flush=True)
            shutil.rmtree(folder)
        for kind in ("index", "coco", "yolo"):
            slope = (peaks[10 * n, kind] - peaks[n, kind]) / (9 * n / 1000)
            print(f"{kind}: {slope:.2f} MB per 1,000 lines" + ("" if kind == "index" else
                  f" ({slope - (peaks[10 * n, 'index'] - peaks[n, 'index']) / (9 * n / 1000):.2f} above the "
                  f"index's own)"))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--memory", type=int, default=0, metavar="N", help="peak memory of conversions of N and 10N lines")
    args = ap.parse_args()
    if args.memory:
        return memory(args.memory)
    root = tempfile.mkdtemp(prefix="ymir-bench-")
    try:
        pairs = generate(root, args.files)

        def read_annotations():
            for _, ann in pairs:
                with open(ann, encoding="utf-8") as f:
                    f.read()

        def read_all_inputs():
            for image, ann in pairs:
                with open(ann, encoding="utf-8") as f:
                    f.read()
                with open(image, "rb") as f:
                    f.read(64)

        def read_and_decode():
            import cv2

            read_annotations()
            with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
                list(pool.map(lambda image: cv2.imread(image, cv2.IMREAD_REDUCED_GRAYSCALE_8), [i for i, _ in pairs]))

        out = os.path.join(root, "out")

        def convert():
            shutil.rmtree(out, ignore_errors=True)  # no cache reuse: a full conversion every time
            convert_to_coco({"train": pairs}, ["a", "b", "c"], out)

        read_all_inputs()  # warm the page cache for every variant alike
        # interleaved rounds, best of each: the four see the same states of the machine
        floor, inputs, decoded, conv = best_times([read_annotations, read_all_inputs, read_and_decode, convert],
                                                  args.repeat)
        print(f"files: {args.files}")
        print(f"read annotation files:                {floor:.3f} s")
        print(f"read annotations + image headers:     {inputs:.3f} s  ({inputs / floor:.2f}x)")
        print(f"read annotations + decode images:     {decoded:.3f} s  ({decoded / floor:.2f}x; the floor)")
        print(f"ark -> COCO conversion:               {conv:.3f} s  ({conv / decoded:.2f}x the floor)")
        print(f"target: conversion within 1.5x of the floor: {'met' if conv <= 1.5 * decoded else 'NOT met'}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
