"""__NAME__: a YMIR executor on ymir-sdk (made by `ymir-sdk new`, template torch).

The model is a small torch network to replace with yours: a per-pixel classifier (background or a class),
trained on masks drawn from the boxes; each class's pixels become a box. It shows the torch parts: the device
from ``gpu_id`` (``ymir_sdk.torch.devices``), a checkpoint that a user's file can never turn into code
(``ymir_sdk.torch.load_checkpoint``), progress, a model stage with its metrics, inference and mining with the
SDK's algorithms on the model's class probabilities.
"""
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
    img_size: int = Field(64, ge=16, description="the network's input size (images are resized to a square)")
    epochs: int = Field(30, ge=1, description="passes over the training images")
    learning_rate: float = Field(0.01, gt=0, description="Adam's learning rate")


class InferParams(HyperParams):
    conf_threshold: float = Field(0.3, description="keep boxes scoring at least this")


class MineParams(InferParams):
    mining_algorithm: str = Field("entropy", description="entropy or random (ymir_sdk.mining)")


def network(num_classes: int):
    import torch.nn as nn

    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(16, num_classes + 1, 1))


def load_image(path: str, size: int):
    """(3, size, size) float tensor in [0, 1] and the image's original (width, height)."""
    import torch

    image = Image.open(path).convert("RGB")
    resized = np.asarray(image.resize((size, size)), dtype=np.float32) / 255.0
    return torch.from_numpy(resized).permute(2, 0, 1), image.size


class __CLASS__(Executor):
    name = "__NAME__"
    object_types = (2,)
    TrainParams, InferParams, MineParams = TrainParams, InferParams, MineParams

    def train(self, ctx):
        import torch

        from ymir_sdk.torch.devices import device_for

        p = ctx.params
        device = device_for(p.gpu_ids)
        torch.manual_seed(0)
        records = load_records(ctx.training_pairs(), ctx.class_names)
        images, targets = [], []
        for rec in records:
            x, (w, h) = load_image(rec.image, p.img_size)
            target = torch.zeros(p.img_size, p.img_size, dtype=torch.long)
            for cls, box in zip(rec.classes, rec.boxes):
                x1, x2 = (int(v * p.img_size / w) for v in (box[0], box[2]))
                y1, y2 = (int(v * p.img_size / h) for v in (box[1], box[3]))
                target[y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)] = int(cls) + 1
            images.append(x)
            targets.append(target)
        data, labels = torch.stack(images).to(device), torch.stack(targets).to(device)
        model = network(len(ctx.class_names)).to(device)
        optimiser = torch.optim.Adam(model.parameters(), lr=p.learning_rate)
        for epoch in range(p.epochs):
            for start in range(0, len(data), 8):
                loss = torch.nn.functional.cross_entropy(model(data[start:start + 8]), labels[start:start + 8])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            ctx.progress((epoch + 1) / p.epochs)
        weights = os.path.join(ctx.work_dir, "model.pt")
        torch.save({"state_dict": model.state_dict(), "classes": len(ctx.class_names), "img_size": p.img_size},
                   weights)
        val = load_records(ctx.validation_pairs(), ctx.class_names)
        found = self._predict(model.eval(), p.img_size, [r.image for r in val], device)
        metrics = detection_metrics(val, {k: self._detections(v, 0.0) for k, v in found.items()}, ctx.class_names)
        ctx.training_result().add_stage("best", [weights], metrics, evaluate_config={"iou_thr": 0.5})

    @staticmethod
    def _predict(model, size: int, paths, device):
        """Per image: DetOutput with, per box, the mean class probabilities over the pixels it covers."""
        import torch

        out = {}
        with torch.no_grad():
            for path in paths:
                x, (w, h) = load_image(path, size)
                probs = torch.softmax(model(x[None].to(device))[0], 0).cpu().numpy()  # (C + 1, size, size)
                owner = probs.argmax(0)
                boxes, scores, labels, class_probs = [], [], [], []
                for cls in range(1, probs.shape[0]):
                    for x1, y1, x2, y2, fill in blobs(owner == cls):
                        if (x2 - x1) * (y2 - y1) * fill < 3:
                            continue
                        ys, xs = np.nonzero(owner[y1:y2, x1:x2] == cls)
                        region = probs[1:, ys + y1, xs + x1].mean(axis=1)  # the blob's mean class probabilities
                        boxes.append([x1 * w / size, y1 * h / size, x2 * w / size, y2 * h / size])
                        scores.append(float(region[cls - 1]))
                        labels.append(cls - 1)
                        class_probs.append(region)
                out[path] = DetOutput(np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(scores),
                                      np.asarray(labels, dtype=np.int64),
                                      np.asarray(class_probs).reshape(len(boxes), probs.shape[0] - 1))
        return out

    @staticmethod
    def _detections(out: DetOutput, threshold: float):
        return [Detection(int(c), float(s), *map(float, b)) for b, s, c in zip(out.boxes, out.scores, out.labels)
                if s >= threshold]

    def _model(self, ctx):
        from ymir_sdk.torch import load_checkpoint
        from ymir_sdk.torch.devices import device_for

        checkpoint = load_checkpoint(next(f for f in ctx.model_files() if f.endswith(".pt")))
        device = device_for(ctx.params.gpu_ids)
        model = network(int(checkpoint["classes"]))
        model.load_state_dict(checkpoint["state_dict"])
        return model.to(device).eval(), int(checkpoint["img_size"]), device

    def infer(self, ctx):
        model, size, device = self._model(ctx)
        found = self._predict(model, size, ctx.readable(ctx.candidates()), device)
        ctx.write_detections({k: self._detections(v, ctx.params.conf_threshold) for k, v in found.items()})

    def mine(self, ctx):
        algorithm = algorithm_name(ctx.params.mining_algorithm, 2, ("entropy", "random"))
        paths = ctx.readable(ctx.candidates())
        if algorithm == "random":
            scores = random_scores(paths)
        else:
            model, size, device = self._model(ctx)
            found = self._predict(model, size, paths, device)
            scores = entropy_scores([found[p] for p in paths], len(ctx.class_names))
        ctx.write_mining(dict(zip(paths, scores)), ctx.candidates())
