"""mmengine training hooks and the detection metric: progress to the monitor, and model stages written from the
runner's own evaluation results and model (no log parsing, no guessing epochs from file names).

The hooks are registered on a built runner (``runner.register_hook``): they hold Python objects (the task
context) that do not belong in a config. :class:`YmirDetMetric` is a registered metric (config-buildable).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.registry import METRICS

from ..dataset.imagesize import read_rgb
from ..evaluate import coco_metrics
from ..io import atomic_output
from ..models import RESUME_FILE
from ..results import fraction

log = logging.getLogger("ymir_sdk")


@METRICS.register_module(force=True)
class YmirDetMetric(BaseMetric):
    """COCO evaluation (pycocotools) of box predictions against the validation COCO json the SDK wrote:
    ``mAP`` (AP at IoU 0.5), ``mAR`` (recall at IoU 0.5), ``tp/fp/fn`` and the COCO summary numbers, from one
    COCOeval. Predictions are gathered over ranks by mmengine (the val sampler pads, the metric de-pads)."""

    default_prefix = "ymir"
    #: numbers per predicted box (x1 y1 x2 y2)
    box_width = 4

    def __init__(self, ann_file: str, iou_type: str = "bbox", collect_device: str = "cpu",
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if iou_type != "bbox":
            raise ValueError(f"{type(self).__name__} evaluates boxes (iou_type 'bbox'), not {iou_type!r}")
        self.ann_file = ann_file

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            pred = sample["pred_instances"]
            bboxes = getattr(pred["bboxes"], "tensor", pred["bboxes"])  # a tensor or mmdet's box structure
            self.results.append((int(sample["img_id"]), bboxes.float().cpu().numpy().reshape(-1, self.box_width),
                                 pred["scores"].cpu().numpy(), pred["labels"].cpu().numpy()))

    def box_fields(self, box: List[float]) -> Dict[str, Any]:
        """A predicted box as COCO result fields."""
        x1, y1, x2, y2 = box
        return {"bbox": [x1, y1, x2 - x1, y2 - y1]}

    def coco_evaluate(self, gt: dict, dets: List[dict]) -> Dict[str, float]:
        """The COCO evaluation of the gathered predictions (not BaseMetric.evaluate, which gathers them), with
        each class's AP (``AP/<class>``, for the TensorBoard)."""
        return coco_metrics(gt, dets, 0.0, coco_stats=True, per_class=True)

    def compute_metrics(self, results: List[Any]) -> Dict[str, float]:
        with open(self.ann_file, encoding="utf-8") as f:
            gt = json.load(f)
        cat_ids = sorted(c["id"] for c in gt["categories"])
        dets = []
        for img_id, boxes, scores, labels in results:
            for box, s, c in zip(boxes.tolist(), scores.tolist(), labels.tolist()):
                dets.append({"image_id": img_id, "category_id": cat_ids[int(c)], "score": float(s),
                             **self.box_fields(box)})
        return self.coco_evaluate(gt, dets)


class YmirProgressHook(Hook):
    """Training progress (iterations done / all) to ``report(fraction)``, at most every half percent."""

    priority = "LOW"

    def __init__(self, report: Callable[[float], None]) -> None:
        self.report = report
        self.last = -1.0

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        fraction = min(1.0, (runner.iter + 1) / max(1, runner.max_iters))
        if fraction - self.last >= 0.005 or fraction >= 1.0:
            self.last = fraction
            self.report(fraction)


def _unwrap(model):
    from mmengine.model import is_model_wrapper

    return model.module if is_model_wrapper(model) else model


def save_weights(model, path: str, meta: Mapping[str, Any]) -> None:
    """The model's current weights (CPU tensors) and plain metadata, loadable with ``weights_only=True``;
    written to a temporary name and renamed."""
    from mmengine.runner.checkpoint import get_state_dict, save_checkpoint, weights_to_cpu

    with atomic_output(path) as tmp:
        save_checkpoint({"meta": dict(meta), "state_dict": weights_to_cpu(get_state_dict(_unwrap(model)))}, tmp)


def stage_step(runner) -> Tuple[str, int]:
    """Where a validation during training is: ``("epoch", epochs done)``, or ``("iter", iterations done)`` for an
    iteration loop (the stage's name and the TensorBoard's step)."""
    from mmengine.runner import IterBasedTrainLoop

    by_iter = isinstance(runner.train_loop, IterBasedTrainLoop)
    return ("iter", int(runner.iter)) if by_iter else ("epoch", int(runner.epoch))


def stage_name(runner) -> str:
    """The stage a validation during training makes: ``epoch_<N>``, or ``iter_<N>`` for an iteration loop."""
    return "%s_%d" % stage_step(runner)


class YmirStageHook(Hook):
    """After each validation (rank 0): the evaluated weights become model stage ``epoch_<N>`` (``iter_<N>`` for
    an iteration-based loop; weights + the
    config that builds them), with the metrics of that validation. ``keep`` >= 1 keeps the ``keep`` latest and
    the ``keep`` best stages (others are removed from result.yaml, then deleted); -1 keeps every stage.

    Runs before EMAHook swaps the training weights back (priority 40 < 49), so the saved weights are the ones
    that were evaluated (the EMA weights when the config uses EMA).
    """

    priority = 40

    def __init__(self, result, config_file: str, metric_map: Mapping[str, str], keep: int = 1,
                 evaluate_config: Optional[Mapping[str, float]] = None, classes: Sequence[str] = (),
                 main_metric: str = "mAP", is_main: Callable[[], bool] = lambda: True) -> None:
        self.result, self.config_file, self.metric_map = result, config_file, dict(metric_map)
        self.keep, self.evaluate_config, self.classes = keep, dict(evaluate_config or {}), tuple(classes)
        self.main_metric, self.is_main = main_metric, is_main
        self.written: List[str] = []

    def stage_metrics(self, metrics: Mapping[str, Any], stage: str) -> Dict[str, float]:
        out: Dict[str, float] = {}
        for src, dst in self.metric_map.items():
            if src in metrics:
                value = float(metrics[src])
                if dst == self.main_metric:
                    out[dst] = fraction(value, dst, stage)
                elif value >= 0:
                    out[dst] = value
        return out

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        if not self.is_main():
            return
        epoch = int(runner.epoch)
        name = stage_name(runner)
        stage_metrics = self.stage_metrics(metrics or {}, name)
        if self.main_metric not in stage_metrics:
            raise KeyError(f"validation gave no {self.main_metric} ({sorted(metrics or {})})")
        stage_dir = os.path.join(self.result.models_dir, name)
        weights = os.path.join(stage_dir, f"{name}.pth")
        meta = {"epoch": epoch, "iter": int(runner.iter), "dataset_meta": {"classes": self.classes}}
        save_weights(runner.model, weights, meta)
        cfg_copy = os.path.join(stage_dir, os.path.basename(self.config_file))
        with atomic_output(cfg_copy) as tmp:
            shutil.copyfile(self.config_file, tmp)
        self.result.add_stage(name, [weights, cfg_copy], stage_metrics, evaluate_config=self.evaluate_config)
        if name not in self.written:
            self.written.append(name)
        self._rotate()

    def _rotate(self) -> None:
        if self.keep < 0:
            return
        mine = [n for n in self.written if n in self.result.stages]
        latest = mine[-self.keep:]
        ranked = sorted(mine, key=lambda n: (self.result.stages[n][self.main_metric], mine.index(n)))
        keep = set(latest) | set(ranked[-self.keep:])
        for name in mine:
            if name not in keep:
                self.result.remove_stage(name)
                log.info("model stage %s removed (max_keep_checkpoints %d)", name, self.keep)
        self.written = [n for n in self.written if n in self.result.stages]


class YmirBoardHook(Hook):
    """The training's TensorBoard (:class:`ymir_sdk.torch.board.TrainingBoard`, rank 0) from the runner's own
    data: after each validation its scalars in the SDK's scheme - the stage metrics as ``val/<name>``, each
    class's AP (``ymir/AP/<class>``) as ``val/AP/<class>`` or its IoU (``ymir/IoU/<class>``) as
    ``val/IoU/<class>``, the training losses averaged since the previous validation as ``train/loss*``,
    ``train/lr`` - and its pictures, PR curves and confusion matrix (upright boxes,
    and rotated boxes against the validation COCO json ``val_file``, label maps against the validation's own) and
    the first training batch as the model sees it. In a multi-process run the pictures are rank 0's share of the
    validation images."""

    priority = "LOW"

    def __init__(self, board, metric_map: Mapping[str, str], val_file: Optional[str] = None,
                 is_main: Callable[[], bool] = lambda: True) -> None:
        self.board, self.metric_map, self.val_file, self.is_main = board, dict(metric_map), val_file, is_main
        self.losses: Dict[str, List[float]] = {}
        self.truth: Optional[Dict[int, Any]] = None

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        # before the model's data preprocessor, which changes the batch in place (mmyolo 0.6.0's YOLOv5 one turns
        # the boxes into normalised cx cy w h)
        if self.is_main() and not self.board.shown_batch and data_batch is not None:
            self.board.draw("training_batch", self._training_batch, data_batch)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.is_main():
            return
        for key, value in (outputs or {}).items():
            head, _, name = key.rpartition(".")  # mmseg's: decode.loss_ce, aux.loss_ce
            if name.startswith("loss"):
                self.losses.setdefault(f"{name}_{head}" if head else name, []).append(float(value))

    def _training_batch(self, data_batch) -> None:
        import numpy as np

        inputs, samples = data_batch["inputs"], data_batch["data_samples"]
        images = [np.ascontiguousarray(im.detach().cpu().numpy().transpose(1, 2, 0)[..., ::-1]) for im in inputs]
        if isinstance(samples, dict):  # mmyolo's yolov5_collate: (batch index, label, x1, y1, x2, y2) rows
            rows = samples["bboxes_labels"].detach().cpu().numpy().astype(np.float64)
            truths = [rows[rows[:, 0] == i, 1:6] for i in range(len(images))]
        else:
            truths = []
            for s in samples:
                if "gt_sem_seg" in s:  # a label map
                    truths.append(s.gt_sem_seg.data[0].cpu().numpy())
                    continue
                g = s.gt_instances  # boxes, or rotated boxes (cx cy w h angle)
                boxes = getattr(g.bboxes, "tensor", g.bboxes).detach().cpu().numpy().reshape(len(g.labels), -1)
                truths.append(np.concatenate([g.labels.cpu().numpy()[:, None], boxes], 1))
        self.board.training_batch(images, truths)

    def before_val_epoch(self, runner) -> None:
        if self.is_main():
            self.board.begin_validation()

    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.is_main():
            self.board.draw("validation pictures", self._validation_batch, outputs or ())

    def _validation_batch(self, outputs) -> None:
        import numpy as np

        for sample in outputs:
            wanted = self.board.wants_image()
            if "pred_sem_seg" in sample:  # label maps at the image's size (mmseg loads the truth after resizing)
                truth = sample.gt_sem_seg.data[0].cpu().numpy() if "gt_sem_seg" in sample else None
                if truth is None:
                    return
                self.board.add_validation_map(read_rgb(sample.img_path) if wanted else None, truth,
                                              sample.pred_sem_seg.data[0].cpu().numpy())
                continue
            pred = sample.get("pred_instances")
            if pred is None or "bboxes" not in pred or not self.val_file:
                return
            boxes = getattr(pred.bboxes, "tensor", pred.bboxes).float().cpu().numpy()
            boxes = boxes.reshape(len(pred.scores), -1)
            rows = np.concatenate([boxes, pred.scores.cpu().numpy()[:, None], pred.labels.cpu().numpy()[:, None]], 1)
            truth = self._truth(boxes.shape[1]).get(int(sample.img_id), np.zeros((0, boxes.shape[1] + 1)))
            self.board.add_validation_image(read_rgb(sample.img_path) if wanted else None, truth, rows)

    def _truth(self, width: int) -> Dict[int, Any]:
        """The validation COCO json's boxes per image id, as ``class x1 y1 x2 y2`` rows (``width`` 4) or rotated
        ``class cx cy w h angle`` rows (5; the json's ``bbox`` and ``rotate_angle``); classes in category id
        order, as :class:`YmirDetMetric` reads them."""
        import numpy as np

        from ..evaluate import rotated_boxes

        if self.truth is None:
            with open(str(self.val_file), encoding="utf-8") as f:
                gt = json.load(f)
            index = {c: i for i, c in enumerate(sorted(c["id"] for c in gt["categories"]))}
            anns: Dict[int, List[dict]] = {}
            for a in gt["annotations"]:
                anns.setdefault(int(a["image_id"]), []).append(a)
            self.truth = {}
            for image_id, items in anns.items():
                classes = np.asarray([[index[a["category_id"]]] for a in items], dtype=np.float64)
                xywh = np.asarray([a["bbox"] for a in items], dtype=np.float64).reshape(-1, 4)
                boxes = (rotated_boxes(items) if width == 5 else
                         np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1))
                self.truth[image_id] = np.concatenate([classes, boxes], 1)
        return self.truth

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        if not self.is_main():
            return
        metrics = metrics or {}
        step = stage_step(runner)[1]
        values = {f"val/{dst}": float(metrics[src]) for src, dst in self.metric_map.items() if src in metrics}
        values.update({f"val/{part}/" + k.split(f"/{part}/", 1)[1]: float(v) for k, v in metrics.items()
                       for part in ("AP", "IoU") if f"/{part}/" in k})
        values.update({f"train/{k}": sum(v) / len(v) for k, v in self.losses.items() if v})
        self.losses = {}
        lr = self.board.attempt("learning rate", lambda: float(runner.message_hub.get_scalar("train/lr").current()))
        if lr is not None:
            values["train/lr"] = lr
        self.board.scalars(step, values)
        self.board.end_validation(step)

    def after_run(self, runner) -> None:
        self.board.close()


class YmirResumeHook(Hook):
    """After each validation (rank 0), once the EMA weights are swapped back (priority 60 > EMAHook's 49): the
    runner's whole state - the training weights, the EMA weights, the optimizer, the schedulers, the message hub,
    the epoch and iteration - as mmengine's own checkpoint, ``resume.pth``, in the stage just written. Only the
    latest stage carries it: the previous one's is removed (result.yaml rewritten first). It costs two (SGD's
    momentum) to three (with an EMA copy) times the weights file, once per training: YOLOX-tiny 20.4 MB of
    weights, 61.1 MB of state; FastSCNN 6.0 and 11.9 MB."""

    priority = 60

    def __init__(self, result, is_main: Callable[[], bool] = lambda: True) -> None:
        self.result, self.is_main = result, is_main
        self.carrier: Optional[str] = None

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        if not self.is_main():
            return
        name = stage_name(runner)
        if name not in self.result.stages:
            return
        stage_dir = os.path.join(self.result.models_dir, name)
        tmp = f".{RESUME_FILE}.{os.getpid()}.tmp"
        # the loop has counted this epoch (iteration) already: mmengine's default meta assumes a call before that
        runner.save_checkpoint(stage_dir, tmp, save_optimizer=True, save_param_scheduler=True,
                               meta={"epoch": int(runner.epoch), "iter": int(runner.iter)})
        os.replace(os.path.join(stage_dir, tmp), os.path.join(stage_dir, RESUME_FILE))
        files = [f for f in self.result.stages[name]["files"] if f != RESUME_FILE]
        self.result.set_files(name, files + [RESUME_FILE])
        previous, self.carrier = self.carrier, name
        if previous and previous != name and previous in self.result.stages:
            self.result.set_files(previous, [f for f in self.result.stages[previous]["files"] if f != RESUME_FILE])
