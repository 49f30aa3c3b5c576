"""executors/yolov5 on the CPU, measured in one run: inference images/s, and the cost of each mining algorithm
as a ratio to the plain batched forward pass (letterbox, forward, NMS) on the same images.

The model is yolov5s (or --model) built from the package's yaml, randomly initialised (nothing downloaded).
Targets of issue "ymir_sdk.mining" on the CPU: entropy <= 1.1x, aldd <= 1.3x, cald <= 5.5x.
"""
import argparse
import tempfile

import numpy as np

from timing import report_mining

from ymir_sdk.tools.synthetic import make_image
from ymir_sdk.yolov5.common import model_yaml, prepare_offline


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="yolov5s")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--size", type=int, default=640)
    args = ap.parse_args()
    prepare_offline(tempfile.mkdtemp(prefix="ymir-bench-"))
    import torch
    from yolov5.models.yolo import Model

    torch.manual_seed(0)
    model = Model(model_yaml(args.model), nc=2).fuse().eval()
    rng = np.random.default_rng(0)
    images = [make_image(rng, (args.size, args.size))[0] for _ in range(args.images)]
    from ymir_sdk.yolov5.predict import Yolov5Detector

    # a random model scores about 5e-4: a low threshold keeps boxes to score
    detector = Yolov5Detector(model, torch.device("cpu"), args.size, 1e-4, 0.45)
    report_mining(f"model {args.model}, {args.size}px, {args.images} images, batch {args.batch}, "
                  f"{torch.get_num_threads()} threads", images, detector, args.batch)

if __name__ == "__main__":
    main()
