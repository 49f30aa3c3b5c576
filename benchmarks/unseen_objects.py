"""Where each mining algorithm ranks the pool images whose objects the model does not see (issue 30's trap: an
image holding only objects the model misses - a rare class it has barely seen - has no detection, so entropy
scores it 0, like a background frame).

Reads a finished ``benchmarks/active_learning.py --pool imbalanced`` (detection) run: for each repeat, round 0's
shared model (the starting model fine-tuned on the start set) and the mining tasks' ``result.tsv`` over the same
pool. The model's detections of each pool image are made again here (the mining confidence floor, 0.1); the
ground truth is the dataset's. Per algorithm it prints, for three groups of pool images, the mean rank
percentile (0 = mined first, 100 = last) and how many of them are in the round's top ``budget``:

* ``background``: frames without objects;
* ``unseen``: images with objects and no detection at all (what entropy cannot tell from a background frame);
* ``rare missed``: images holding the rare class (triangles) with no detection of it.

    python benchmarks/unseen_objects.py [--work bench-al-imbalanced] [--rare triangle]
"""
import argparse
import csv
import hashlib
import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: the lowest detection score looked at (yolov5's validation floor)
FLOOR = 0.001


def sha1(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()


def ranks(result_tsv: str):
    """{asset sha1: rank percentile} of a mining task's result.tsv (rows in score order, highest first)."""
    with open(result_tsv) as f:
        rows = [r for r in csv.reader(f, delimiter="\t") if r]
    rows.sort(key=lambda r: -float(r[1]))
    n = max(1, len(rows) - 1)
    return {os.path.splitext(os.path.basename(r[0]))[0]: 100.0 * i / n for i, r in enumerate(rows)}


def detections(model_dir: str, paths, num_classes: int, size: int, conf: float):
    import torch

    from ymir_sdk.dataset.imagesize import read_rgb
    from ymir_sdk.yolov5.common import load_model, prepare_offline
    from ymir_sdk.yolov5.predict import Yolov5Detector

    prepare_offline()
    device = torch.device("cpu")
    detector = Yolov5Detector(load_model(os.path.join(model_dir, "best.pt"), num_classes, device), device, size,
                              conf, 0.45)
    return detector.detect_images([read_rgb(p) for p in paths], 16)


def main():
    from ymir_sdk.tools.localdata import read_dataset

    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=os.path.join(ROOT, "bench-al-imbalanced"))
    ap.add_argument("--rare", default="triangle")
    ap.add_argument("--conf", type=float, default=0.1, help="the mining tasks' conf_thres")
    args = ap.parse_args()
    dataset = read_dataset(os.path.join(args.work, "dataset"))
    rare = dataset.class_names.index(args.rare)
    truth = {sha1(im.path): (im.path, [o.class_id for o in im.objects]) for im in dataset.split("train")}
    sim = os.path.join(args.work, "simulation")
    with open(os.path.join(sim, "plan.json")) as f:
        plan = json.load(f)
    budget, size = plan["arguments"]["budget"], int(plan["arguments"]["sets"].get("img_size", 128))
    totals: dict = {}
    separation: list = []
    for repeat in sorted(d for d in os.listdir(sim) if d.startswith("repeat-")):
        round0 = os.path.join(sim, repeat, "round-0")
        algorithms = sorted(a for a in os.listdir(round0) if a != "shared")
        order = {a: ranks(os.path.join(round0, a, "mine", "out", "result.tsv")) for a in algorithms}
        pool = sorted(next(iter(order.values())))
        faint = detections(os.path.join(round0, "shared", "train", "out", "models", "best"),
                           [truth[h][0] for h in pool], len(dataset.class_names), size, FLOOR)
        dets = [d.above(args.conf) for d in faint]
        strongest = {h: float(np.max(d.scores, initial=0.0)) for h, d in zip(pool, faint)}
        groups = {"background": [], "unseen": [], "rare missed": []}
        for h, d in zip(pool, dets):
            classes = truth[h][1]
            if not classes:
                groups["background"].append(h)
            elif not len(d):
                groups["unseen"].append(h)
            if rare in classes and rare not in set(np.asarray(d.labels).tolist()):
                groups["rare missed"].append(h)
        pairs = [(strongest[u], strongest[b]) for u in groups["unseen"] for b in groups["background"]]
        separation.extend(float(u > b) + 0.5 * float(u == b) for u, b in pairs)
        top = int(budget) / len(pool) * 100
        for a in algorithms:
            for g, members in groups.items():
                t = totals.setdefault((a, g), [0, 0.0, 0])
                t[0] += len(members)
                t[1] += sum(order[a][h] for h in members)
                t[2] += sum(order[a][h] < top for h in members)
    print(f"pool images by group, summed over the repeats; rank percentile 0 = mined first; top = in the round's "
          f"first {budget}")
    print("algorithm | group | images | mean rank percentile | in the top")
    for (a, g), (n, s, k) in totals.items():
        print(f"{a} | {g} | {n} | {s / n if n else float('nan'):.1f} | {k}")
    if separation:
        print(f"the strongest detection below the floor ({FLOOR} to {args.conf}) ranks an unseen image above a "
              f"background frame in {100 * np.mean(separation):.0f} % of the pairs (AUC)")


if __name__ == "__main__":
    main()
