"""What a training shows in YMIR's TensorBoard link (the task's ``tensorboard_dir``), written once for every image:
the yolov5 callbacks (:mod:`ymir_sdk.yolov5.train`) and the OpenMMLab hook (:mod:`ymir_sdk.openmmlab.hooks`) feed
one :class:`TrainingBoard`.

* **Scalars, one naming scheme across images** (:data:`SCHEME`): ``train/loss`` (the sum) and its parts
  ``train/loss_<part>`` (the framework's part names), ``train/lr``; ``val/mAP`` (AP at IoU 0.5), ``val/mAR``,
  ``val/mIoU``, ``val/maskAP`` ...; per class ``val/AP/<class>`` (boxes) or ``val/IoU/<class>`` (label maps).
  Steps are epochs (iterations for a run counted in iterations).
* **results.csv** beside the event files: one row per evaluation, every scalar of that evaluation (rewritten
  whole and atomically, columns in first-seen order).
* **Pictures at each evaluation**: the first :data:`PICTURES` validation images, ground truth and prediction side
  by side (``val/pictures/<i>``, at most :data:`PICTURE_SIDE` px), a precision-recall curve per class
  (``val/PR/<class>``, TensorBoard's PR plugin) and a confusion matrix at IoU 0.5 and score 0.25
  (``val/confusion``); the first training batch as the model sees it, augmentation included, once
  (``train/batch``); instance masks painted under their boxes. Photographs are JPEG, charts PNG. Pictures stop
  when they have used :data:`PICTURE_BUDGET` bytes (scalars and results.csv go on); after the first evaluation's,
  an evaluation gets them only while the drawing has taken at most :data:`TIME_SHARE` (2 %) of the training's time
  so far.
* **Never fails the training**: any error while writing or drawing is logged once per kind and the training goes
  on.
* ``YMIR_BOARD_PICTURES=0`` in the environment: scalars and results.csv only (the drawing benchmark's "without",
  ``benchmarks/board.py``).

Boxes are ``(n, 5)`` ``class x1 y1 x2 y2`` arrays for ground truth and ``(n, 6)`` ``x1 y1 x2 y2 score class`` for
predictions, in the picture's pixels; rotated boxes ``(n, 6)`` ``class cx cy w h angle`` and ``(n, 7)`` ``cx cy w h
angle score class`` (angle in radians, as :mod:`ymir_sdk.dataset.rotated`; matched with the ``rotated_iou`` the
board is given); label maps ``(h, w)`` class ids (255: ignored), their confusion matrix counted in pixels; images
``(h, w, 3)`` uint8 RGB.
"""
from __future__ import annotations

import csv
import functools
import io
import contextlib
import logging
import os
import time
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..io import atomic_write_text
from ..mining.detection import box_iou

log = logging.getLogger("ymir_sdk")

#: the tags every image writes (the parts of ``train/loss_*`` are the framework's own)
SCHEME = ("train/loss", "train/loss_<part>", "train/lr", "val/mAP", "val/mAR", "val/mIoU", "val/maskAP",
          "val/AP/<class>", "val/IoU/<class>", "val/PR/<class>", "val/confusion", "val/pictures/<i>", "train/batch")
#: validation images drawn at each evaluation, the longest side of a picture, the bytes pictures may use in all
PICTURES = 4
PICTURE_SIDE = 640
PICTURE_BUDGET = 32 * 2 ** 20
#: photographs (validation pictures, training batches) are written as JPEG at this quality, charts as PNG
JPEG_QUALITY = 90
#: the share of the training's wall time the pictures may take: an evaluation gets pictures only while the drawing
#: so far stays within it (every evaluation when epochs are long; every few on a CPU's seconds-long epochs)
TIME_SHARE = 0.02
#: the confusion matrix's matching: IoU and the lowest score that counts as a prediction
MATCH_IOU = 0.5
CONFUSION_SCORE = 0.25
#: predictions per image kept for the PR curves, and drawn in a picture (the highest scores)
PR_TOP = 100
DRAWN_BOXES = 50


def _guarded(fn: Callable) -> Callable:
    """A board method whose failure is logged once (per method) and never reaches the training."""

    @functools.wraps(fn)
    def run(self, *args, **kwargs):
        return self.attempt(fn.__name__, fn, self, *args, **kwargs)

    return run


def _drawing(fn: Callable) -> Callable:
    """A drawing method of the board: run through :meth:`TrainingBoard.draw` (guarded, its time counted as drawing
    time, nothing done when the pictures are off)."""

    @functools.wraps(fn)
    def run(self, *args, **kwargs):
        return self.draw(fn.__name__, fn, self, *args, **kwargs)

    return run


def colour(class_id: int) -> Tuple[int, int, int]:
    """A distinct colour per class (the same in every picture)."""
    palette = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
               (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40), (128, 0, 0))
    return palette[int(class_id) % len(palette)]


def rotated_corners(box: Sequence[float]) -> np.ndarray:
    """The 4 corners of a rotated box ``cx cy w h angle`` (radians, the rectangle turned about its centre)."""
    cx, cy, w, h, a = (float(v) for v in box)
    c, s = np.cos(a), np.sin(a)
    local = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
    return local @ np.array([[c, s], [-s, c]]) + (cx, cy)


def overlay(image: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """A label map's class colours over its image (a class named ``background``, ignored and unknown labels
    clear)."""
    labels = np.asarray(labels).astype(np.int64)
    n_classes = len(names)
    shown = (labels >= 0) & (labels < n_classes)
    for i, name in enumerate(names):
        if name == "background":
            shown &= labels != i
    out = np.asarray(image, dtype=np.float64).copy()
    palette = np.array([colour(i) for i in range(max(1, n_classes))], dtype=np.float64)
    out[shown] = 0.4 * out[shown] + 0.6 * palette[labels[shown]]
    return out.astype(np.uint8)


def paint(image: np.ndarray, masks: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """Instance masks ``(n, h, w)`` in their classes' colours over the image (later masks over earlier)."""
    out = np.asarray(image, dtype=np.float64).copy()
    for mask, cls in zip(np.asarray(masks, dtype=bool).reshape(-1, *out.shape[:2]), classes):
        out[mask] = 0.5 * out[mask] + 0.5 * np.asarray(colour(int(cls)), dtype=np.float64)
    return out.astype(np.uint8)


def label_picture(image: np.ndarray, truth: np.ndarray, pred: np.ndarray, names: Sequence[str],
                  side: int = PICTURE_SIDE) -> np.ndarray:
    """Image, ground truth and prediction label maps (class colours over the image, ignored pixels clear) side by
    side, scaled so the picture is ``side`` px wide, with a legend of the classes below; (h, w, 3) uint8."""
    from PIL import Image, ImageDraw

    image = np.asarray(image, dtype=np.uint8)
    h, w = image.shape[:2]
    scale = side / (3 * w + 8)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    panels = [Image.fromarray(p).resize(size, Image.NEAREST)
              for p in (image, overlay(image, truth, names), overlay(image, pred, names))]
    rows = int(np.ceil(len(names) / 4))
    out = Image.new("RGB", (3 * size[0] + 8, size[1] + 14 * rows + 4), (255, 255, 255))
    for i, p in enumerate(panels):
        out.paste(p, (i * (size[0] + 4), 0))
    pen = ImageDraw.Draw(out)
    for i, name in enumerate(names):
        x, y = (i % 4) * (out.size[0] // 4) + 2, size[1] + 4 + 14 * (i // 4)
        pen.rectangle([x, y, x + 10, y + 10], fill=colour(i))
        pen.text((x + 14, y), name[:20], fill=(0, 0, 0))
    return np.asarray(out)


def draw(image: np.ndarray, truth: Optional[np.ndarray], pred: Optional[np.ndarray], names: Sequence[str],
         scale: float = 1.0, min_score: float = CONFUSION_SCORE):
    """The image, resized by ``scale``, with its ground truth (``truth``) or predictions (``pred``, those scoring
    ``min_score`` or more) drawn in their classes' colours, labelled; a PIL image."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).convert("RGB")
    if scale != 1.0:
        img = img.resize((max(1, round(img.size[0] * scale)), max(1, round(img.size[1] * scale))))
    pen = ImageDraw.Draw(img)
    width = max(1, round(max(img.size) / 320))
    rows = []
    if truth is not None:
        truth = np.asarray(truth, dtype=np.float64)
        k = truth.shape[-1] - 1 if truth.ndim == 2 and truth.shape[-1] in (5, 6) else 4
        rows = [(int(r[0]), r[1:1 + k], None) for r in truth.reshape(-1, k + 1)]
    if pred is not None:
        pred = np.asarray(pred, dtype=np.float64)
        k = pred.shape[-1] - 2 if pred.ndim == 2 and pred.shape[-1] in (6, 7) else 4
        pred = pred.reshape(-1, k + 2)
        rows = [(int(r[k + 1]), r[:k], float(r[k])) for r in pred[drawn_predictions(pred[:, k], min_score)]]
    for cls, box, score in rows:
        c = colour(cls)
        if len(box) == 5:  # rotated: its corners
            corners = [(float(x) * scale, float(y) * scale) for x, y in rotated_corners(box)]
            pen.polygon(corners, outline=c, width=width)
            x1, y1 = min(x for x, _ in corners), min(y for _, y in corners)
        else:
            x1, y1, x2, y2 = (float(v) * scale for v in box)
            pen.rectangle([x1, y1, max(x1, x2), max(y1, y2)], outline=c, width=width)
        name = names[cls] if 0 <= cls < len(names) else str(cls)
        label = name if score is None else f"{name} {score:.2f}"
        pen.rectangle(pen.textbbox((x1, y1), label), fill=c)
        pen.text((x1, y1), label, fill=(255, 255, 255))
    return img


def drawn_predictions(scores: np.ndarray, min_score: float = CONFUSION_SCORE) -> np.ndarray:
    """The indices of the predictions a picture draws, best first: the :data:`DRAWN_BOXES` highest scores, those
    of ``min_score`` or more."""
    scores = np.asarray(scores)
    keep = np.argsort(-scores, kind="stable")[:DRAWN_BOXES]
    return keep[scores[keep] >= min_score]


def side_by_side(image: np.ndarray, truth: np.ndarray, pred: np.ndarray, names: Sequence[str],
                 side: int = PICTURE_SIDE, painted: Optional[Tuple[np.ndarray, np.ndarray]] = None) -> np.ndarray:
    """Ground truth (left) and prediction (right) of one image, scaled (up or down) so the picture's longest side
    is ``side``; (h, w, 3) uint8. ``painted``: the two sides' images to draw the boxes on (masks painted)."""
    from PIL import Image

    h, w = np.asarray(image).shape[:2]
    scale = side / max(2 * w + 4, h)
    under = painted or (image, image)
    left, right = draw(under[0], truth, None, names, scale), draw(under[1], None, pred, names, scale)
    out = Image.new("RGB", (2 * left.size[0] + 4, left.size[1]), (255, 255, 255))
    out.paste(left, (0, 0))
    out.paste(right, (left.size[0] + 4, 0))
    return np.asarray(out)


def grid(images: Sequence[np.ndarray], truths: Sequence[np.ndarray], names: Sequence[str],
         side: int = PICTURE_SIDE) -> np.ndarray:
    """Images with their boxes (or label maps) in a square-ish grid whose longest side is ``side`` px (a
    training batch)."""
    from PIL import Image

    cols = int(np.ceil(np.sqrt(len(images))))
    rows = int(np.ceil(len(images) / cols))
    h = max(np.asarray(im).shape[0] for im in images)
    w = max(np.asarray(im).shape[1] for im in images)
    scale = side / max(cols * w, rows * h)
    drawn = [draw(overlay(im, t, names), None, None, names, scale)
             if np.ndim(t) == 2 and np.shape(t) == np.shape(im)[:2] else draw(im, t, None, names, scale)
             for im, t in zip(images, truths)]  # label maps, or boxes
    cw, ch = max(d.size[0] for d in drawn), max(d.size[1] for d in drawn)
    out = Image.new("RGB", (cols * cw, rows * ch), (255, 255, 255))
    for i, d in enumerate(drawn):
        out.paste(d, ((i % cols) * cw, (i // cols) * ch))
    return np.asarray(out)


def confusion_picture(matrix: np.ndarray, names: Sequence[str], side: int = PICTURE_SIDE) -> np.ndarray:
    """A confusion matrix (rows: predicted, columns: true; for boxes the last of each is background) as a
    picture: each column normalised to the true class's count, the count written in each cell."""
    from PIL import Image, ImageDraw

    labels = list(names) + ["background"] * (len(matrix) - len(names))
    n = len(labels)
    cell = max(16, min(48, (side - 80) // max(1, n)))
    margin = 80
    img = Image.new("RGB", (margin + n * cell, margin + n * cell), (255, 255, 255))
    pen = ImageDraw.Draw(img)
    totals = matrix.sum(0)
    for r in range(n):
        for c in range(n):
            v = matrix[r, c] / totals[c] if totals[c] else 0.0
            shade = int(255 - 200 * v)
            x, y = margin + c * cell, margin + r * cell
            pen.rectangle([x, y, x + cell - 1, y + cell - 1], fill=(shade, shade, 255), outline=(200, 200, 200))
            if matrix[r, c]:
                text = str(int(matrix[r, c])) if matrix.max() < 1000 else f"{v:.2f}"  # pixels: the fraction
                pen.text((x + 2, y + cell // 3), text, fill=(0, 0, 0))
    for i, name in enumerate(labels):
        pen.text((2, margin + i * cell + cell // 3), name[:12], fill=(0, 0, 0))
        pen.text((margin + i * cell + 2, margin - 14 - 10 * (i % 2)), name[:6], fill=(0, 0, 0))
    pen.text((2, 2), "predicted (rows) / true (columns)", fill=(0, 0, 0))
    out = img if max(img.size) <= side else img.resize((side, side))
    return np.asarray(out)


class Matches:
    """A validation's predictions matched to its ground truth at IoU :data:`MATCH_IOU`, image by image: per class
    the scores of its predictions and whether each found an object (missed objects count as score 0: the PR
    curve's recall is over all objects), and the confusion matrix of the predictions scoring
    :data:`CONFUSION_SCORE` or more (rows predicted, columns true, index ``n`` background)."""

    def __init__(self, n_classes: int, rotated_iou: Optional[Callable[[np.ndarray, np.ndarray], np.ndarray]] = None):
        self.n, self.rotated_iou = n_classes, rotated_iou
        self.scores: List[List[float]] = [[] for _ in range(n_classes)]
        self.found: List[List[bool]] = [[] for _ in range(n_classes)]
        self.matrix = np.zeros((n_classes + 1, n_classes + 1), dtype=np.int64)

    def _iou(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if not len(a) or not len(b):
            return np.zeros((len(a), len(b)))
        return box_iou(a, b) if a.shape[1] == 4 else self.rotated_iou(a, b)

    def add(self, truth: np.ndarray, pred: np.ndarray) -> None:
        pred = np.asarray(pred, dtype=np.float64)
        k = pred.shape[1] - 2 if pred.ndim == 2 and pred.shape[1] == 7 else 4  # box numbers: 4, rotated 5
        truth = np.asarray(truth, dtype=np.float64).reshape(-1, k + 1)
        pred = pred.reshape(-1, k + 2)
        pred = pred[np.argsort(-pred[:, k], kind="stable")][:PR_TOP]
        for c in range(self.n):
            t, p = truth[truth[:, 0] == c, 1:], pred[pred[:, k + 1] == c]
            iou = self._iou(p[:, :k], t)
            taken = np.zeros(len(t), dtype=bool)
            for i in range(len(p)):
                free = np.where(~taken & (iou[i] >= MATCH_IOU))[0] if len(t) else []
                hit = len(free) > 0
                if hit:
                    taken[free[np.argmax(iou[i, free])]] = True
                self.scores[c].append(float(p[i, k]))
                self.found[c].append(bool(hit))
            self.scores[c] += [0.0] * int((~taken).sum())
            self.found[c] += [True] * int((~taken).sum())
        self._confuse(truth, pred[pred[:, k] >= CONFUSION_SCORE], k)

    def _confuse(self, truth: np.ndarray, pred: np.ndarray, k: int) -> None:
        iou = self._iou(truth[:, 1:], pred[:, :k])
        used = np.zeros(len(pred), dtype=bool)
        for j in range(len(truth)):
            cands = np.where(~used & (iou[j] >= MATCH_IOU))[0] if len(pred) else []
            if len(cands):
                m = cands[np.argmax(iou[j, cands])]
                used[m] = True
                self.matrix[int(pred[m, -1]), int(truth[j, 0])] += 1
            else:
                self.matrix[self.n, int(truth[j, 0])] += 1
        for i in np.where(~used)[0]:
            self.matrix[int(pred[i, -1]), self.n] += 1


class TrainingBoard:
    """The training's TensorBoard and results.csv (see the module docstring); rank 0's only. A validation is
    :meth:`begin_validation`, :meth:`add_validation_image` per image, :meth:`end_validation`; the evaluation's
    scalars go to :meth:`scalars` with the same step."""

    def __init__(self, folder: str, class_names: Sequence[str], pictures: int = PICTURES,
                 budget: int = PICTURE_BUDGET,
                 rotated_iou: Optional[Callable[[np.ndarray, np.ndarray], np.ndarray]] = None,
                 time_share: float = TIME_SHARE) -> None:
        self.folder, self.names, self.rotated_iou = folder, list(class_names), rotated_iou
        self.time_share = time_share
        self.pictures, self.budget, self.spent = pictures, budget, 0
        self.drawing = os.environ.get("YMIR_BOARD_PICTURES", "1") != "0"
        self.failed: set = set()
        self.writer = None
        self.rows: List[Dict[str, float]] = []
        self.columns: List[str] = []
        self.shown_batch = False
        self.matches: Optional[Matches] = None
        self.pixels: Optional[np.ndarray] = None
        self.drawn: List[Tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.started, self.drawing_seconds, self.picturing, self.nesting = time.monotonic(), 0.0, True, 0
        self.pictured = 0  # evaluations drawn

    def attempt(self, what: str, fn: Callable, *args, **kwargs):
        """``fn(*args, **kwargs)``; an error is logged once per ``what`` and never reaches the training (a caller's
        conversion of its framework's data for the board runs this way too)."""
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - a picture or a scalar must never fail a training
            if what not in self.failed:
                self.failed.add(what)
                log.warning("TensorBoard: %s not written (%s: %s); the training goes on", what, type(e).__name__, e)
            return None

    def _writer(self):
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(self.folder)
        return self.writer

    @_guarded
    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        """Scalars named in :data:`SCHEME`, at ``step``; an evaluation's (any ``val/`` tag) also become a row of
        results.csv."""
        writer = self._writer()
        clean = {k: float(v) for k, v in values.items() if v is not None and np.isfinite(float(v))}
        for tag, value in clean.items():
            writer.add_scalar(tag, value, step)
        writer.flush()
        if any(k.startswith("val/") for k in clean):
            self._row(step, clean)

    def _row(self, step: int, values: Mapping[str, float]) -> None:
        row = dict(values, step=step)
        if self.rows and self.rows[-1]["step"] == step:  # the training scalars of the same epoch, merged
            row = {**self.rows.pop(), **row}
        self.rows.append(row)
        for k in row:
            if k not in self.columns:
                self.columns.append(k)
        columns = ["step", *[c for c in self.columns if c != "step"]]
        text = io.StringIO()
        out = csv.DictWriter(text, fieldnames=columns, restval="", lineterminator="\n")
        out.writeheader()
        for r in self.rows:
            out.writerow({k: (int(v) if k == "step" else f"{v:.6g}") for k, v in r.items()})
        atomic_write_text(os.path.join(self.folder, "results.csv"), text.getvalue())

    def _image(self, tag: str, picture: np.ndarray, step: int, photo: bool = True) -> bool:
        """Add a (h, w, 3) picture unless the budget is spent (then say so once): a photograph (images drawn on)
        as JPEG, a chart (``photo=False``: flat colours, text) as PNG."""
        if self.spent >= self.budget:
            if "budget" not in self.failed:
                self.failed.add("budget")
                log.info("TensorBoard: pictures stop here (%d MiB written); scalars go on", self.spent >> 20)
            return False
        encoded = encode(picture, photo)
        self.spent += len(encoded)
        self._writer()._get_file_writer().add_summary(_image_summary(tag, picture.shape, encoded), step)
        return True

    @_drawing
    def picture(self, tag: str, image: np.ndarray, step: int, photo: bool = True) -> None:
        """A picture the framework drew itself (e.g. yolov5-seg's mosaics; ``photo=False``: its charts), at most
        :data:`PICTURE_SIDE` px."""
        from PIL import Image

        img = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
        scale = min(1.0, PICTURE_SIDE / max(img.size))
        if scale < 1.0:
            img = img.resize((max(1, round(img.size[0] * scale)), max(1, round(img.size[1] * scale))))
        self._image(tag, np.asarray(img), step, photo)

    @_drawing
    def training_batch(self, images: Sequence[np.ndarray], truths: Sequence[np.ndarray], step: int = 0) -> None:
        """The first training batch, as the model sees it (augmented), once."""
        if self.shown_batch or not len(images):
            return
        self.shown_batch = True
        self._image("train/batch", grid(images[:16], truths[:16], self.names), step)

    def draw(self, what: str, fn: Callable, *args, **kwargs):
        """A caller's preparation of what the board draws (converting its framework's batches, predicting the
        instance pictures): :meth:`attempt`, counted as drawing time; nothing when the pictures are off."""
        if not self.drawing:
            return None
        with self.timed():
            return self.attempt(what, fn, *args, **kwargs)

    def affordable(self) -> bool:
        """Whether an evaluation's pictures drawn now keep the drawing within :data:`TIME_SHARE` of the training's
        time so far (the first evaluation's always: a user sees the pictures once whatever they cost)."""
        return not self.pictured or self.drawing_seconds <= self.time_share * (time.monotonic() - self.started)

    @contextlib.contextmanager
    def timed(self):
        """Count the enclosed work as drawing time (once, where timed work nests)."""
        self.nesting += 1
        start = time.monotonic()
        try:
            yield
        finally:
            self.nesting -= 1
            if not self.nesting:
                self.drawing_seconds += time.monotonic() - start

    def begin_validation(self) -> None:
        self.matches, self.pixels, self.drawn = None, None, []
        self.picturing = self.affordable()

    @_drawing
    def add_validation_image(self, image: Optional[np.ndarray], truth: np.ndarray, pred: np.ndarray) -> None:
        """One validation image's ground truth and predictions (``image`` only needed for the first ones: None
        for the others spares the caller converting it)."""
        if self.matches is None:
            self.matches = Matches(len(self.names), self.rotated_iou)
        self.matches.add(truth, pred)
        if image is not None and self.wants_image():
            self.drawn.append((np.asarray(image), np.asarray(truth), np.asarray(pred)))

    @_drawing
    def add_validation_map(self, image: Optional[np.ndarray], truth: np.ndarray, pred: np.ndarray) -> None:
        """One validation image's ground-truth and predicted label maps (semantic segmentation): counted into
        the pixel confusion matrix, drawn for the first images."""
        n = len(self.names)
        truth, pred = np.asarray(truth).astype(np.int64), np.asarray(pred).astype(np.int64)
        valid = (truth >= 0) & (truth < n) & (pred >= 0) & (pred < n)
        counts = np.bincount(n * pred[valid] + truth[valid], minlength=n * n).reshape(n, n)
        self.pixels = counts if self.pixels is None else self.pixels + counts
        if image is not None and self.wants_image():
            self.drawn.append((np.asarray(image), truth, pred))

    @_drawing
    def instance_pictures(self, step: int, items: Sequence[tuple]) -> None:
        """Instance segmentation's ``val/pictures/<i>`` at ``step``, for a loop whose validation hands out no
        predictions (yolov5-seg): per image ``(image, truth, truth masks, pred, pred masks)``, masks ``(n, h, w)``
        beside their boxes' rows; the predictions scoring :data:`CONFUSION_SCORE` or more drawn (the highest
        :data:`DRAWN_BOXES`), masks under their boxes. The caller makes its predictions through :meth:`draw` and
        asks :meth:`affordable` first."""
        self.pictured += bool(len(items))
        for i, (image, truth, truth_masks, pred, pred_masks) in enumerate(items[:self.pictures]):
            truth, pred = np.asarray(truth, dtype=np.float64).reshape(-1, 5), np.asarray(pred).reshape(-1, 6)
            keep = drawn_predictions(pred[:, 4])
            painted = (paint(image, truth_masks, truth[:, 0]), paint(image, np.asarray(pred_masks)[keep],
                                                                     pred[keep, 5]))
            if not self._image(f"val/pictures/{i}", side_by_side(image, truth, pred[keep], self.names,
                                                                 painted=painted), step):
                break
        self._writer().flush()

    def wants_image(self) -> bool:
        """Whether the next validation image's picture is drawn (so the caller converts it only then)."""
        return self.drawing and self.picturing and len(self.drawn) < self.pictures

    @_drawing
    def end_validation(self, step: int) -> None:
        """The validation's pictures, PR curves and confusion matrix, at ``step``."""
        matches, pixels, drawn = self.matches, self.pixels, self.drawn
        self.begin_validation()
        if matches is None and pixels is None:
            return
        self._validation_pictures(step, matches, pixels, drawn)

    def _validation_pictures(self, step: int, matches: Optional["Matches"], pixels: Optional[np.ndarray],
                             drawn: List[Tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        writer = self._writer()
        self.pictured += bool(drawn)
        for i, (image, truth, pred) in enumerate(drawn):
            picture = (label_picture if truth.ndim == 2 and truth.shape == image.shape[:2] else side_by_side)(
                image, truth, pred, self.names)
            if not self._image(f"val/pictures/{i}", picture, step):
                break
        if matches is not None:
            for c, name in enumerate(self.names):
                if matches.scores[c]:
                    writer.add_pr_curve(f"val/PR/{name}", np.asarray(matches.found[c], dtype=bool),
                                        np.clip(np.asarray(matches.scores[c], dtype=np.float64), 0, 1), step)
        self._image("val/confusion", confusion_picture(matches.matrix if matches is not None else pixels,
                                                       self.names), step, photo=False)
        writer.flush()

    def close(self) -> None:
        if self.drawing:
            log.info("TensorBoard: %d evaluations drawn, %.1f s of drawing in %.1f s", self.pictured,
                     self.drawing_seconds, time.monotonic() - self.started)
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception as e:  # noqa: BLE001
                log.warning("TensorBoard: closing the event file failed (%s)", e)


def encode(picture: np.ndarray, photo: bool = True) -> bytes:
    """A picture's file bytes: JPEG at :data:`JPEG_QUALITY` for a photograph, PNG for a chart. For a photograph JPEG
    is about 15x faster to encode than PNG and a third of its size (and of the event bytes tensorboard 2.x, without
    tensorflow, checksums in pure Python: about 8 MB/s on this project's CPUs)."""
    from PIL import Image

    buf = io.BytesIO()
    img = Image.fromarray(np.ascontiguousarray(picture, dtype=np.uint8))
    img.save(buf, format="JPEG", quality=JPEG_QUALITY) if photo else img.save(buf, format="PNG")
    return buf.getvalue()


def _image_summary(tag: str, shape: Tuple[int, ...], encoded: bytes):
    """An image summary of an encoded JPEG or PNG (TensorBoard shows either), as ``SummaryWriter.add_image`` writes
    one (encoded once: its size is what the budget counts)."""
    from tensorboard.compat.proto.summary_pb2 import Summary

    image = Summary.Image(height=int(shape[0]), width=int(shape[1]), colorspace=3, encoded_image_string=encoded)
    return Summary(value=[Summary.Value(tag=tag, image=image)])


#: yolov5's metric names -> (box, mask) names in :data:`SCHEME`
_YOLOV5_METRICS = {"mAP_0.5": ("mAP", "maskAP"), "recall": ("mAR", "maskAR"),
                   "precision": ("precision", "maskPrecision"), "mAP_0.5:0.95": ("mAP_50_95", "maskAP_50_95")}


def yolov5_scalars(values: Mapping[str, float]) -> Dict[str, float]:
    """yolov5's (and yolov5-seg's) epoch values in :data:`SCHEME`: ``train/box_loss`` -> ``train/loss_box``
    (and their sum ``train/loss``), ``metrics/mAP_0.5`` -> ``val/mAP``, ``metrics/recall`` -> ``val/mAR``,
    ``(M)`` mask metrics -> ``val/mask...``, ``x/lr0`` -> ``train/lr``."""
    out: Dict[str, float] = {}
    for key, value in values.items():
        group, _, name = key.partition("/")
        if group in ("train", "val") and name.endswith("_loss"):
            out[f"{group}/loss_{name[:-len('_loss')]}"] = value
        elif group == "metrics":
            mask = name.endswith("(M)")
            base = name[:-3] if name.endswith(("(M)", "(B)")) else name
            if base in _YOLOV5_METRICS:
                out["val/" + _YOLOV5_METRICS[base][mask]] = value
        elif key == "x/lr0":
            out["train/lr"] = value
    losses = [v for k, v in out.items() if k.startswith("train/loss_")]
    if losses:
        out["train/loss"] = float(sum(losses))
    return out


__all__ = ["Matches", "SCHEME", "TrainingBoard", "confusion_picture", "draw", "grid", "label_picture",
           "overlay", "rotated_corners", "side_by_side", "yolov5_scalars"]
