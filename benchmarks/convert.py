"""ark -> COCO conversion speed against the floor (merely reading the same annotation files).

Generates N ark annotation files (1-5 boxes each) and N small PNG images in a temporary folder, then times in one
run: (a) reading every annotation file, (b) reading every annotation file plus the header bytes of every image
(all the input the conversion has to touch), and (c) ``convert_to_coco`` (parse, image sizes with EXIF, rules,
the cache key, JSON written atomically; the cache is removed before each run). The three run in interleaved
rounds and each keeps its best round. Prints the ratios. Target: (c) within 2x of (a).
"""
import argparse
import io
import os
import random
import shutil
import tempfile


from PIL import Image

from ymir_sdk.dataset import convert_to_coco
from timing import best_times


def generate(root: str, n: int):
    rng = random.Random(0)
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (90, 90, 90)).save(buf, format="PNG")
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
            x, y = rng.randint(0, 500), rng.randint(0, 350)
            lines.append(f"{rng.randint(0, 2)}, {x}, {y}, {x + rng.randint(5, 130)}, {y + rng.randint(5, 120)}, "
                         f"-1.0, 0.0\n")
        with open(ann, "w") as f:
            f.write("".join(lines))
        pairs.append((image, ann))
    return pairs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
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

        out = os.path.join(root, "out")

        def convert():
            shutil.rmtree(out, ignore_errors=True)  # no cache reuse: a full conversion every time
            convert_to_coco({"train": pairs}, ["a", "b", "c"], out)

        read_all_inputs()  # warm the page cache for every variant alike
        # interleaved rounds, best of each: the three see the same states of the machine
        floor, inputs, conv = best_times([read_annotations, read_all_inputs, convert], args.repeat)
        print(f"files: {args.files}")
        print(f"read annotation files (floor):        {floor:.3f} s")
        print(f"read annotations + image headers:     {inputs:.3f} s  ({inputs / floor:.2f}x floor)")
        print(f"ark -> COCO conversion:               {conv:.3f} s  ({conv / floor:.2f}x floor, "
              f"{conv / inputs:.2f}x all inputs)")
        print(f"target: conversion within 2x of the floor: {'met' if conv <= 2 * floor else 'NOT met'}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
