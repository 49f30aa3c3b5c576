"""yolov5-seg (instance segmentation) training through the released yolov5 7.0.14 package, unpatched.

``yolov5.segment.train`` runs no training callback (every ``callbacks.run`` of 7.0.14's file is commented out);
the hook points it leaves are its ``GenericLogger`` calls. :class:`SegStageWriter` replaces the module attribute
``yolov5.segment.train.GenericLogger`` for the run (restored after) by a logger that turns them into progress,
TensorBoard scalars and model stages:

* ``log_metrics(KEYS..., epoch)`` after each epoch's validation: progress, TensorBoard; the epoch's fitness
  (yolov5's own ``fitness``: the weights ``best.pt`` follows) decides whether it is the new best. Its
  ``best.pt`` is saved right after that call, so the ``best`` stage is written from it at the next call: a
  crash later still leaves a stage;
* ``log_model(epoch<N>.pt)`` after a periodic save (the run saves every epoch; ``save_period`` decides which
  are published when ``save_best_only`` is false; the others are deleted); the checkpoint draws the epoch's
  validation pictures first (:meth:`SegStageWriter.validation_pictures`);
* after training, yolov5 re-validates ``best.pt`` (``log_metrics`` of the metric keys only), then
  ``log_model(best.pt)``: the ``best`` stage with those metrics, then its ONNX export.

Stage metrics: ``maskAP`` = mask mAP@0.5, ``boxAP`` = box mAP@0.5 (``metrics/mAP_0.5(M)``, ``(B)``). Not
``--nosave`` (yolov5 then writes ``best.pt`` only if the last epoch is the best).
"""
from __future__ import annotations

import glob
import os
from typing import Any, Dict, Mapping, Optional

import numpy as np

from ..results import fraction
from ..torch.board import yolov5_scalars
from .train import StageWriter

#: yolov5 7.0.14's segment metric keys (``yolov5.utils.segment.metrics.KEYS``), validation results 4..15
MASK_AP, BOX_AP = "metrics/mAP_0.5(M)", "metrics/mAP_0.5(B)"


class SegStageWriter(StageWriter):
    """yolov5-seg's logger calls -> model stages (see the module docstring)."""

    #: yolov5-seg draws its pictures (training mosaics with masks, the final validation's batches, confusion matrix
    #: and curves): :meth:`log_images` puts them on the board
    plots = True

    def __init__(self, ctx):
        super().__init__(ctx)
        self.best_fitness = -1.0
        self.pending: Optional[Dict[str, float]] = None
        self.final: Optional[Dict[str, float]] = None
        self.save_dir: Optional[str] = None
        self.val_records: Optional[list] = None

    def stage_metrics(self, values: Mapping[str, float]) -> Dict[str, float]:
        return {"maskAP": values[MASK_AP], "boxAP": values[BOX_AP]}

    def install(self, module, callbacks):
        writer, original = self, module.GenericLogger

        class StageLogger(original):
            """What ``yolov5.segment.train`` calls on its ``GenericLogger`` (rank 0 only). yolov5's own logger
            keeps only its results.csv (its plot of the results reads it); no TensorBoard, wandb or neptune of its
            own (7.0.14's logger without them has no such attributes: set to None)."""

            def __init__(self, opt, console_logger=None, include=()):
                super().__init__(opt, console_logger, include=())
                self.tb = self.wandb = self.neptune = None
                writer.save_dir = str(getattr(opt, "save_dir", "") or "")

            def log_metrics(self, metrics, epoch):
                super().log_metrics(metrics, epoch)
                writer.log_metrics(dict(metrics), int(epoch))

            def log_model(self, model_path, epoch=0, metadata=None):
                writer.log_model(str(model_path), int(epoch))

            def update_params(self, params):
                pass

            def log_images(self, files, name="Images", epoch=0):
                writer.board.draw("pictures", writer.log_images, [str(f) for f in files], str(name), int(epoch))

            def log_graph(self, model, imgsz=(640, 640)):
                pass

        module.GenericLogger = StageLogger

        def restore() -> None:
            module.GenericLogger = original

        return restore

    def _best_pt(self) -> str:
        return os.path.join(self.save_dir or "", "weights", "best.pt")

    def log_metrics(self, metrics: Dict[str, Any], epoch: int) -> None:
        from yolov5.utils.segment.metrics import KEYS, fitness

        if "train/box_loss" not in metrics:  # after training: best.pt re-validated
            self.final = {k: fraction(float(v), k, "best") for k, v in self.stage_metrics(metrics).items()}
            return
        if self.pending is not None and os.path.exists(self._best_pt()):
            self.best_files = self._write_stage("best", self._best_pt(), self.pending)
            self.pending = None
        values = {k: float(v) for k, v in metrics.items()}
        self.board.scalars(epoch + 1, yolov5_scalars(values))  # epochs done, as the stage names
        self.metrics = {k: fraction(v, k, f"epoch_{epoch + 1}") for k, v in self.stage_metrics(values).items()}
        fi = float(fitness(np.array([values[k] for k in KEYS[4:16]]).reshape(1, -1))[0])
        if fi >= self.best_fitness:  # yolov5 saves best.pt when its best fitness equals this epoch's
            self.best_fitness, self.pending = fi, dict(self.metrics)
        self.ctx.progress((epoch + 1) / self.p.epochs)

    def log_images(self, files, name: str, epoch: int) -> None:
        """yolov5-seg's plot files on the board: its first mosaic as ``train/batch``, the final validation's
        batches as ``val/pictures/<file>``, its confusion matrix as ``val/confusion``, its curves under ``val/``."""
        from ..dataset.imagesize import read_rgb

        if name == "Mosaics":
            self.board.shown_batch = True
        for path in files[:1] if name == "Mosaics" else files:
            stem = os.path.splitext(os.path.basename(path))[0]
            tag = ("train/batch" if name == "Mosaics" else "val/confusion" if stem == "confusion_matrix" else
                   f"val/pictures/{stem}" if stem.startswith("val_batch") else f"val/{stem}")
            self.board.picture(tag, read_rgb(path), epoch, photo=tag == "train/batch" or stem.startswith("val_batch"))

    def log_model(self, path: str, epoch: int) -> None:
        name = os.path.basename(path)
        if name == "best.pt":
            self.best_files = self._write_stage("best", path, self.final or self.pending or self.metrics)
            self.pending = None
            return
        if name.startswith("epoch") and name.endswith(".pt"):
            done = int(name[len("epoch"):-len(".pt")]) + 1
            if self.board.affordable():
                self.board.draw("validation pictures", self.validation_pictures, path, done)
            if not self.p.save_best_only and self.p.save_period > 0 and done % self.p.save_period == 0:
                self._write_stage(f"epoch_{done}", path, self.metrics)
            os.unlink(path)  # saved every epoch for this hook; the published ones are copies

    def validation_pictures(self, weights: str, step: int) -> None:
        """The board's ``val/pictures/<i>`` of an evaluation: the first validation images' masks and boxes,
        truth | the epoch's checkpoint ``weights`` (yolov5-seg 7.0.14's validation hands out no predictions:
        they are made here, as the inference task makes them, from the scores the pictures draw)."""
        import torch

        from ..dataset.annotations import load_records
        from ..dataset.convert import decode_segmentation
        from ..dataset.imagesize import read_rgb
        from ..torch import load_checkpoint
        from ..torch.board import CONFUSION_SCORE
        from ..torch.devices import device_for
        from .predict import Yolov5SegDetector

        if self.val_records is None:
            self.val_records = list(load_records(self.ctx.validation_pairs()[:self.board.pictures],
                                                 self.ctx.class_names))
        device = device_for(self.p.gpu_ids)
        ckpt = load_checkpoint(weights)  # the run's own checkpoint, read once (yolov5's EMA weights, as validated)
        model = (ckpt.get("ema") or ckpt["model"]).float().to(device).eval()
        detector = Yolov5SegDetector(model, device, self.p.img_size, CONFUSION_SCORE, 0.6)
        items = []
        for rec in self.val_records:
            image = read_rgb(rec.image)
            h, w = image.shape[:2]
            truth = np.concatenate([rec.classes[:, None].astype(np.float64), rec.boxes], 1)
            truth_masks = np.stack([decode_segmentation(seg, h, w) if seg else np.zeros((h, w), np.uint8)
                                    for seg in rec.segmentations]) if rec.segmentations else np.zeros((0, h, w))
            pred, masks = np.zeros((0, 6)), [np.zeros((0, h, w), bool)]
            with torch.no_grad():
                for _, det, i, chunk in detector.mask_chunks([detector.prepare(image)]):
                    if not i:  # the model's boxes, scores and classes, as the inference task writes them
                        pred = np.concatenate([det.boxes, det.scores[:, None], det.labels[:, None]], 1)
                    masks.append(chunk)
            items.append((image, truth, truth_masks, pred, np.concatenate(masks)))
        self.board.instance_pictures(step, items)

    def finish(self) -> None:
        if self.pending is not None and os.path.exists(self._best_pt()):
            self.best_files = self._write_stage("best", self._best_pt(), self.pending)
        if not self.board.shown_batch and self.save_dir:  # yolov5-seg logs its mosaics at iteration 10 only
            mosaics = sorted(glob.glob(os.path.join(self.save_dir, "train_batch*.jpg")))
            self.board.draw("pictures", self.log_images, mosaics, "Mosaics", 0)
        super().finish()

