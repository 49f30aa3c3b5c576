"""What a training's TensorBoard shows, rendered headless into one PNG (for the README): the last evaluation's
first validation picture and confusion matrix, the training batch, and the main metric's curve, read back from
the event files with tensorboard's own reader.

    python scripts/board_pictures.py WORK_OR_TENSORBOARD_DIR OUT.png [--title TEXT]
"""
import argparse
import io
import os

import numpy as np
from PIL import Image, ImageDraw


def _images(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(folder, size_guidance={"images": 0, "scalars": 0})
    ea.Reload()
    tags = ea.Tags()
    pictures = {t: Image.open(io.BytesIO(ea.Images(t)[-1].encoded_image_string)).convert("RGB")
                for t in tags["images"]}
    scalars = {t: [(e.step, e.value) for e in ea.Scalars(t)] for t in tags["scalars"]}
    return pictures, scalars


def _curve(points, title, size=(320, 200)):
    img = Image.new("RGB", size, (255, 255, 255))
    pen = ImageDraw.Draw(img)
    pen.text((6, 4), title, fill=(0, 0, 0))
    if len(points) > 1:
        steps, values = np.array([p[0] for p in points], float), np.array([p[1] for p in points], float)
        lo, hi = min(0.0, values.min()), max(1.0, values.max())
        xs = 30 + (steps - steps.min()) / max(1e-9, steps.max() - steps.min()) * (size[0] - 40)
        ys = size[1] - 20 - (values - lo) / max(1e-9, hi - lo) * (size[1] - 40)
        pen.line(list(zip(xs.tolist(), ys.tolist())), fill=(230, 25, 75), width=2)
        pen.text((6, size[1] - 16), f"step {int(steps.min())}..{int(steps.max())}, last {values[-1]:.3f}",
                 fill=(0, 0, 0))
    return img


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", help="a task's work folder (its out/tensorboard) or a TensorBoard folder")
    ap.add_argument("out")
    ap.add_argument("--title", default="")
    args = ap.parse_args()
    folder = os.path.join(args.folder, "out", "tensorboard")
    pictures, scalars = _images(folder if os.path.isdir(folder) else args.folder)
    main_metric = next((t for t in ("val/maskAP", "val/mIoU", "val/mAP") if t in scalars), None)
    val = next((pictures[t] for t in sorted(pictures) if t.startswith("val/pictures/")), None)
    tiles = [p for p in (val, pictures.get("val/confusion")) if p is not None]
    bottom = [p.resize((320, round(320 * p.size[1] / p.size[0]))) for p in
              [pictures.get("train/batch")] if p is not None]
    if main_metric:
        bottom.append(_curve(scalars[main_metric], main_metric))
    rows = [tiles, bottom]
    width = max(sum(p.size[0] for p in r) + 8 * len(r) for r in rows if r)
    height = 24 + sum(max(p.size[1] for p in r) + 8 for r in rows if r)
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    ImageDraw.Draw(sheet).text((6, 6), args.title, fill=(0, 0, 0))
    y = 24
    for r in rows:
        x = 0
        for p in r:
            sheet.paste(p, (x, y))
            x += p.size[0] + 8
        y += (max(p.size[1] for p in r) + 8) if r else 0
    sheet.save(args.out)
    print(args.out, sheet.size)


if __name__ == "__main__":
    main()
