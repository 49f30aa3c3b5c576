"""__NAME__: a YMIR executor on ymir-sdk (made by `ymir-sdk new`, template minimal).

The model is a placeholder to replace with yours: each class's mean colour, read at the centre of its boxes;
detection marks the pixels nearest to a class's colour (within ``tolerance``) and boxes them. It shows every part
an executor has: typed hyper-parameters (their defaults are the img-man templates; ``ymir-sdk check-image``
keeps them, the templates and the README's table in agreement), training with progress and a model stage with
its metrics, inference, and mining with the SDK's algorithms.
"""
import json
import os

import numpy as np
from PIL import Image
from pydantic import Field

from ymir_sdk import Detection, Executor, HyperParams
from ymir_sdk.dataset import load_records
from ymir_sdk.evaluate import detection_metrics
from ymir_sdk.mining import DetOutput, algorithm_name, entropy_scores, random_scores

from .blobs import blobs


class TrainParams(HyperParams):
    export_format: str = Field("ark:raw", description="the annotation format the platform exports for training")
    tolerance: float = Field(60.0, description="RGB distance within which a pixel takes a class's colour")


class InferParams(HyperParams):
    tolerance: float = Field(60.0, description="RGB distance within which a pixel takes a class's colour")


class MineParams(InferParams):
    mining_algorithm: str = Field("entropy", description="entropy or random (ymir_sdk.mining)")


class ColourModel:
    """Mean colour per class; a box around each blob of the pixels a colour claims."""

    def __init__(self, colours):
        self.colours = np.asarray(colours, dtype=np.float32).reshape(-1, 3)

    def predict(self, path: str, tolerance: float) -> DetOutput:
        rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
        distance = np.linalg.norm(rgb[:, :, None, :] - self.colours[None, None], axis=-1)
        owner = np.where(distance.min(axis=-1) < tolerance, distance.argmin(axis=-1), -1)
        boxes, scores, labels = [], [], []
        for cls in range(len(self.colours)):
            for x1, y1, x2, y2, fill in blobs(owner == cls):
                if (x2 - x1) * (y2 - y1) * fill >= 5:  # at least five pixels
                    boxes.append((x1, y1, x2, y2))
                    scores.append(float(fill))  # how much of its box the blob fills
                    labels.append(cls)
        return DetOutput(np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(scores),
                         np.asarray(labels, dtype=np.int64))


class __CLASS__(Executor):
    name = "__NAME__"
    object_types = (2,)
    TrainParams, InferParams, MineParams = TrainParams, InferParams, MineParams

    def train(self, ctx):
        records = load_records(ctx.training_pairs(), ctx.class_names)
        total = np.zeros((len(ctx.class_names), 3))
        count = np.zeros(len(ctx.class_names))
        for i, rec in enumerate(records):
            rgb = np.asarray(Image.open(rec.image).convert("RGB"), dtype=np.float64)
            for cls, box in zip(rec.classes, rec.boxes.astype(int)):
                total[cls] += rgb[(box[1] + box[3]) // 2, (box[0] + box[2]) // 2]
                count[cls] += 1
            ctx.progress((i + 1) / len(records))
        model_file = os.path.join(ctx.work_dir, "colours.json")
        with open(model_file, "w") as f:
            json.dump({"colours": (total / np.maximum(count, 1)[:, None]).tolist()}, f)  # the model file
        model = ColourModel(total / np.maximum(count, 1)[:, None])
        val = load_records(ctx.validation_pairs(), ctx.class_names)
        predictions = {r.image: self._detections(model.predict(r.image, ctx.params.tolerance)) for r in val}
        metrics = detection_metrics(val, predictions, ctx.class_names)
        ctx.training_result().add_stage("best", [model_file], metrics, evaluate_config={"iou_thr": 0.5})

    @staticmethod
    def _detections(out: DetOutput):
        return [Detection(int(c), float(s), *map(float, b)) for b, s, c in zip(out.boxes, out.scores, out.labels)]

    def _model(self, ctx) -> ColourModel:
        with open(next(f for f in ctx.model_files() if f.endswith(".json"))) as f:
            return ColourModel(json.load(f)["colours"])

    def infer(self, ctx):
        model = self._model(ctx)
        paths = ctx.readable(ctx.candidates())
        ctx.write_detections({p: self._detections(model.predict(p, ctx.params.tolerance)) for p in paths})

    def mine(self, ctx):
        algorithm = algorithm_name(ctx.params.mining_algorithm, 2, ("entropy", "random"))
        paths = ctx.readable(ctx.candidates())
        if algorithm == "random":
            scores = random_scores(paths)
        else:
            model = self._model(ctx)
            outputs = []
            for i, p in enumerate(paths):
                outputs.append(model.predict(p, ctx.params.tolerance))
                ctx.progress((i + 1) / len(paths))
            scores = entropy_scores(outputs, len(model.colours))
        ctx.write_mining(dict(zip(paths, scores)), ctx.candidates())
