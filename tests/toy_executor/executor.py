"""A toy executor with no framework: it learns the mean colour of each class and detects the pixels of that
colour. It exists to run the SDK's whole path (runner, monitor, results, verifier) in tests."""
import json
import os

import numpy as np
from PIL import Image

from ymir_sdk import Detection, Executor, HyperParams
from ymir_sdk.dataset import load_records
from ymir_sdk.evaluate import detection_metrics
from ymir_sdk.mining import DetOutput, algorithm_name, entropy_scores, random_scores


class TrainParams(HyperParams):
    export_format: str = "ark:raw"
    tolerance: float = 40.0
    fail_with: str = ""  # a test hook: raise this message during training


class InferParams(HyperParams):
    tolerance: float = 40.0


class MineParams(InferParams):
    mining_algorithm: str = "entropy"


def detect(path, colours, tolerance):
    img = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    out = []
    for cls, colour in enumerate(colours):
        near = np.linalg.norm(img - np.asarray(colour), axis=-1) < tolerance
        if near.sum() > 4:
            ys, xs = np.nonzero(near)
            x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
            fill = near.sum() / ((x2 - x1) * (y2 - y1))  # how much of the box has the class colour
            out.append(Detection(cls, float(fill), x1, y1, x2, y2))
    return out


class ToyExecutor(Executor):
    name = "toy"
    TrainParams, InferParams, MineParams = TrainParams, InferParams, MineParams

    def train(self, ctx):
        if ctx.params.fail_with:
            raise RuntimeError(ctx.params.fail_with)
        records = load_records(ctx.training_pairs(), ctx.class_names)
        sums = np.zeros((len(ctx.class_names), 3))
        counts = np.zeros(len(ctx.class_names))
        for i, rec in enumerate(records):
            img = np.asarray(Image.open(rec.image).convert("RGB"), dtype=np.float64)
            for cls, (x1, y1, x2, y2) in zip(rec.classes, rec.boxes.astype(int)):
                cy, cx = (y1 + y2) // 2, (x1 + x2) // 2
                sums[cls] += img[cy, cx]
                counts[cls] += 1
            ctx.progress((i + 1) / len(records))
        colours = (sums / np.maximum(counts, 1)[:, None]).tolist()
        weights = os.path.join(ctx.work_dir, "toy.json")
        with open(weights, "w") as f:
            json.dump({"colours": colours, "class_names": ctx.class_names}, f)
        val = load_records(ctx.validation_pairs(), ctx.class_names)
        dets = {r.image: detect(r.image, colours, ctx.params.tolerance) for r in val}
        metrics = detection_metrics(val, dets, ctx.class_names)
        with open(os.path.join(ctx.env.output.tensorboard_dir, "metrics.json"), "w") as f:
            json.dump(metrics, f)
        ctx.training_result().add_stage("best", [weights], metrics,
                                        evaluate_config={"iou_thr": 0.5, "conf_thr": 0.0})

    def _model(self, ctx):
        with open(next(f for f in ctx.model_files() if f.endswith(".json"))) as f:
            return json.load(f)["colours"]

    def infer(self, ctx):
        colours = self._model(ctx)
        paths = ctx.readable(ctx.candidates())
        ctx.write_detections({p: detect(p, colours, ctx.params.tolerance) for p in paths})

    def mine(self, ctx):
        algorithm = algorithm_name(ctx.params.mining_algorithm, 2, ("random", "entropy"))
        colours = self._model(ctx)
        paths = ctx.readable(ctx.candidates())
        if algorithm == "random":
            ctx.write_mining(dict(zip(paths, random_scores(paths))), ctx.candidates())
            return
        outputs = []
        for i, p in enumerate(paths):
            dets = detect(p, colours, ctx.params.tolerance)
            outputs.append(DetOutput(np.array([[d.x1, d.y1, d.x2, d.y2] for d in dets]).reshape(-1, 4),
                                     np.array([d.score for d in dets]), np.array([d.class_id for d in dets], int)))
            ctx.progress((i + 1) / len(paths))
        ctx.write_mining(dict(zip(paths, entropy_scores(outputs, len(colours)))), ctx.candidates())
