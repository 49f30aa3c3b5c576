"""Mining cost against a plain batched forward pass, measured in one run on the CPU.

The model is a YOLO-style detector (ResNet-18 backbone, 3 anchors on strides 8/16/32, sigmoid objectness and
classes, NMS) of about yolov5s' compute at 640 px, randomly initialised (no download). For each algorithm the
time covers everything mining needs (forward passes, head maps, scoring) on the same images, and is printed as a
ratio to the plain forward pass (forward + NMS, what inference does) measured in the same process (the median over
rounds of the algorithm's time against the forward passes just before and after it), with the time
per image and the peak resident memory, at each class count of ``--classes`` (default 2, 20 and 80; 640 px,
batch 16). Targets on the CPU: entropy <= 1.1x, aldd <= 1.3x, cald <= 5.5x (five forward passes), at every
class count. Semantic segmentation: a ResNet-18 segmenter (stride-8
features, bilinear upsampling, softmax at full resolution); rsal (SLICO superpixels) and ripu should be
dominated by its forward pass.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys

import numpy as np
import torch
import torchvision


from ymir_sdk.mining import (DetOutput, HeadMaps, aldd_scores, cald_scores, entropy_scores,
                             random_scores, ripu_scores, rsal_regions, rsal_scores)
from ymir_sdk.tools.synthetic import make_image
from timing import best_time, paired_ratio

STRIDES = (8, 16, 32)
ANCHORS = ((10, 13, 16, 30, 33, 23), (30, 61, 62, 45, 59, 119), (116, 90, 156, 198, 373, 326))


class TinyYolo(torch.nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        r = torchvision.models.resnet18(weights=None)
        self.stem = torch.nn.Sequential(r.conv1, r.bn1, r.relu, r.maxpool, r.layer1, r.layer2)
        self.c4, self.c5 = r.layer3, r.layer4
        self.nc = num_classes
        self.heads = torch.nn.ModuleList(torch.nn.Conv2d(c, 3 * (5 + num_classes), 1) for c in (128, 256, 512))

    def forward(self, x):
        c3 = self.stem(x)
        c4 = self.c4(c3)
        c5 = self.c5(c4)
        outs = []
        for head, f in zip(self.heads, (c3, c4, c5)):
            b, _, h, w = f.shape
            outs.append(head(f).view(b, 3, 5 + self.nc, h, w).permute(0, 1, 3, 4, 2).contiguous())
        return outs  # per scale (B, A, h, w, 5 + C) raw logits


class TinySeg(torch.nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        r = torchvision.models.resnet18(weights=None)
        self.stem = torch.nn.Sequential(r.conv1, r.bn1, r.relu, r.maxpool, r.layer1, r.layer2)
        self.head = torch.nn.Conv2d(128, num_classes, 1)

    def forward(self, x):
        logits = self.head(self.stem(x))
        return torch.nn.functional.interpolate(logits, size=x.shape[-2:], mode="bilinear").softmax(1)


def decode(raw, conf=0.25, iou=0.45, max_det=100, nms_pre=1000):
    """Boxes above ``conf``, the best ``nms_pre`` of them into class-aware NMS (as mmdet's and YOLOX's ``nms_pre``:
    a random model puts thousands of anchors just above any threshold, and NMS time would dominate)."""
    dets = []
    b = raw[0].shape[0]
    boxes_all, scores_all = [], []
    for s, (out, stride) in enumerate(zip(raw, STRIDES)):
        _, a, h, w, _ = out.shape
        p = out.sigmoid()
        gy, gx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        anchor = torch.tensor(ANCHORS[s], dtype=torch.float32).view(1, 3, 1, 1, 2)
        xy = (p[..., :2] * 2 - 0.5 + torch.stack([gx, gy], -1)) * stride
        wh = (p[..., 2:4] * 2) ** 2 * anchor
        boxes_all.append(torch.cat([xy - wh / 2, xy + wh / 2], -1).view(b, -1, 4))
        scores_all.append((p[..., 4:5] * p[..., 5:]).view(b, -1, p.shape[-1] - 5))
    boxes, probs = torch.cat(boxes_all, 1), torch.cat(scores_all, 1)
    for i in range(b):
        score, label = probs[i].max(1)
        keep = torch.nonzero(score > conf).flatten()
        keep = keep[score[keep].argsort(descending=True)[:nms_pre]]
        bx, sc, lb, pr = boxes[i][keep], score[keep], label[keep], probs[i][keep]
        k = torchvision.ops.batched_nms(bx, sc, lb, iou)[:max_det]
        dets.append(DetOutput(bx[k].numpy(), sc[k].numpy(), lb[k].numpy(), pr[k].numpy()))
    return dets


def to_tensor(images):
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255


def detection_runs(args, classes: int):
    """The plain forward pass and each detection algorithm on the same images, as functions to time."""
    torch.manual_seed(0)
    model = TinyYolo(classes).eval()
    rng = np.random.default_rng(0)
    images = [make_image(rng, (args.size, args.size))[0] for _ in range(args.images)]
    batches = [images[i:i + args.batch] for i in range(0, len(images), args.batch)]
    paths = [f"/in/assets/{i}.png" for i in range(len(images))]

    @torch.no_grad()
    def detect(imgs):
        out = []
        for i in range(0, len(imgs), args.batch):
            out += decode(model(to_tensor(imgs[i:i + args.batch])))
        return out

    @torch.no_grad()
    def forward():
        return [d for b in batches for d in decode(model(to_tensor(b)))]

    @torch.no_grad()
    def entropy():
        return np.concatenate([entropy_scores(decode(model(to_tensor(b))), classes) for b in batches])

    @torch.no_grad()
    def aldd():
        out = []
        for b in batches:
            raw = model(to_tensor(b))
            decode(raw)  # the detections (mining + inference runs reuse them)
            probs = [r[..., 4:5].sigmoid() * r[..., 5:].sigmoid() for r in raw]
            out.append(aldd_scores(HeadMaps(probs, (args.size, args.size))))
        return np.concatenate(out)

    @torch.no_grad()
    def cald():
        return np.concatenate([cald_scores(b, decode(model(to_tensor(b))), detect, classes) for b in batches])

    return {"forward": forward, "random": lambda: random_scores(paths), "entropy": entropy, "aldd": aldd,
            "cald": cald}


def worker(args):
    """One (class count, algorithm) measurement in a process of its own: ``--repeat`` rounds of forward pass,
    algorithm, forward pass (:func:`timing.paired_ratio`: the ratio of each round, against the passes around it,
    and the medians); prints JSON with the times, the ratio and the peak resident memory after the forward pass
    alone and after the algorithm."""
    torch.set_num_threads(os.cpu_count() or 1)
    runs = detection_runs(args, args.worker_classes)
    runs["forward"]()  # warm-up
    peak_forward = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    base, t, ratio = paired_ratio(runs["forward"], runs[args.worker], args.repeat)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"forward": base, "time": t, "ratio": ratio, "peak_forward_mb": peak_forward, "peak_mb": peak,
                      "threads": torch.get_num_threads()}))


def detection_report(args) -> None:
    targets = {"random": None, "entropy": 1.1, "aldd": 1.3, "cald": 5.5}
    for classes in [int(c) for c in str(args.classes).split(",")]:
        rows = {}
        for name in targets:
            cmd = [sys.executable, __file__, "--worker", name, "--worker-classes", str(classes), "--images",
                   str(args.images), "--batch", str(args.batch), "--size", str(args.size), "--repeat",
                   str(args.repeat)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            rows[name] = json.loads(out.strip().splitlines()[-1])
        base = statistics.median(r["forward"] for r in rows.values())
        print(f"model: YOLO-style ResNet-18, {classes} classes, {args.size}px, {args.images} images, batch "
              f"{args.batch}, {rows['random']['threads']} threads")
        print(f"plain forward pass (+NMS): {base:.3f} s  ({base / args.images * 1000:.0f} ms/image, peak "
              f"{max(r['peak_forward_mb'] for r in rows.values()):.0f} MB)")
        for name, target in targets.items():
            r = rows[name]
            ratio = r["ratio"]  # against the forward passes around it, in the same process
            verdict = "" if target is None else f"  target <= {target}x: {'met' if ratio <= target else 'NOT met'}"
            print(f"{name:8s} {r['time']:.3f} s  {ratio:.2f}x forward{verdict}  ({r['time'] / args.images * 1000:.0f}"
                  f" ms/image, peak {r['peak_mb']:.0f} MB)")


def segmentation_report(args) -> None:
    classes = int(str(args.classes).split(",")[0])
    rng = np.random.default_rng(0)
    images = [make_image(rng, (args.size, args.size))[0] for _ in range(args.images)]
    batches = [images[i:i + args.batch] for i in range(0, len(images), args.batch)]
    seg = TinySeg(classes + 1).eval()

    @torch.no_grad()
    def seg_forward():
        return [p for b in batches for p in seg(to_tensor(b)).numpy()]

    def rsal():
        probs = seg_forward()
        return rsal_scores([rsal_regions(p, img, "slico", 1024) for p, img in zip(probs, images)], classes + 1)

    def ripu():
        return ripu_scores(seg_forward(), radius=1, topk=3)

    seg_forward()  # warm-up
    seg_base = best_time(seg_forward)
    print(f"segmenter forward pass: {seg_base:.3f} s  ({seg_base / args.images * 1000:.0f} ms/image)")
    for name, fn in (("rsal", rsal), ("ripu", ripu)):
        t = best_time(fn)
        print(f"{name:8s} {t:.3f} s  {t / seg_base:.2f}x forward  (mining share {(t - seg_base) / t:.0%})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--classes", default="2,20,80", help="class counts, comma-separated")
    ap.add_argument("--repeat", type=int, default=3, help="rounds per measurement (the medians are reported)")
    ap.add_argument("--no-segmentation", action="store_true")
    ap.add_argument("--segmentation-only", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--worker-classes", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if not args.segmentation_only:
        detection_report(args)
    if not args.no_segmentation:
        torch.set_num_threads(os.cpu_count() or 1)
        segmentation_report(args)


if __name__ == "__main__":
    main()
