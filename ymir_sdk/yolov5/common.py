"""yolov5 set-up shared by its executors: offline switches and fonts, the checkpoint allow-list, the model yaml
of a model name, the architecture check of pretrained weights, ``args_options`` as yolov5 flags, model loading."""
from __future__ import annotations

import os
import shlex
import shutil
from typing import Optional

from ..errors import ConfigError, ModelError


def prepare_offline(work_dir: Optional[str] = None) -> None:
    """yolov5 7.0.14 and ultralytics look things up on the network unless told otherwise: set the offline
    switch and give them a font (they download Arial.ttf into their config dir otherwise). Before any import.
    Also allow-lists yolov5's model classes for :func:`ymir_sdk.torch.load_checkpoint`. Their config dir is
    in ``work_dir``; without one (a check before any task's folders), in a temporary folder of this process,
    removed when it exits."""
    if work_dir is None:
        work_dir = _process_temp_dir()
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("YOLO_VERBOSE", "False")
    cfg = os.path.join(work_dir, "yolo-config")
    os.makedirs(cfg, exist_ok=True)
    import matplotlib

    font = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf", "DejaVuSans.ttf")
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        if not os.path.exists(os.path.join(cfg, name)):
            shutil.copyfile(font, os.path.join(cfg, name))
    os.environ["YOLOV5_CONFIG_DIR"] = cfg
    os.environ["YOLO_CONFIG_DIR"] = cfg
    _font_getsize()
    import yolov5.models.common as common
    import yolov5.models.experimental as experimental
    import yolov5.models.yolo as yolo

    from ..torch import allow_checkpoint_attributes, allow_checkpoint_classes

    # yolov5.models.yolo puts the package folder on sys.path; the official checkpoints (ultralytics/yolov5
    # releases) name their classes from there (models.yolo.DetectionModel, models.common.Conv, ...)
    import models.common
    import models.experimental
    import models.yolo

    # yolov5 <= 6.x (the reference images' fork of 6.1, the yolov5 package 6.x) pickled its detection model as
    # Model, which 7.0 keeps as an alias of DetectionModel
    allow_checkpoint_classes([common, yolo, experimental, models.common, models.yolo, models.experimental],
                             [(models.yolo.DetectionModel, "models.yolo.Model"),
                              (yolo.DetectionModel, "yolov5.models.yolo.Model")])
    # yolov5-seg's Segment head keeps ``self.detect = Detect.forward`` (pickled as getattr(Detect, 'forward'))
    allow_checkpoint_attributes([(yolo.Detect, "forward"), (models.yolo.Detect, "forward")])


def _font_getsize() -> None:
    """yolov5 7.0.14's plots (``Annotator.box_label``: yolov5-seg's mosaics and validation batches) call
    ``FreeTypeFont.getsize``, which Pillow 10 removed (the images' Pillow 9.5 has it): the same size from
    ``getbbox``, where it is missing."""
    from PIL import ImageFont

    if not hasattr(ImageFont.FreeTypeFont, "getsize"):
        def getsize(font, text, *args, **kwargs):
            left, top, right, bottom = font.getbbox(text, *args, **kwargs)
            return right, bottom  # Pillow 9's getsize: the extent from the origin, offsets included

        ImageFont.FreeTypeFont.getsize = getsize


_TEMP_DIRS = []


def _process_temp_dir() -> str:
    if not _TEMP_DIRS:
        import atexit
        import tempfile

        _TEMP_DIRS.append(tempfile.mkdtemp(prefix="yolov5-config-"))
        atexit.register(shutil.rmtree, _TEMP_DIRS[0], True)
    return _TEMP_DIRS[0]


def model_yaml(name: str) -> str:
    """The package's model definition of a model name (``yolov5s``, ``yolov5n6``, ``yolov5s-seg``)."""
    import yolov5

    root = os.path.join(os.path.dirname(yolov5.__file__), "models")
    for path in (os.path.join(root, f"{name}.yaml"), os.path.join(root, "hub", f"{name}.yaml"),
                 os.path.join(root, "segment", f"{name}.yaml")):
        if os.path.exists(path):
            return path
    raise ConfigError("model", name, "a model of the yolov5 package")


def check_architecture(weights: str, cfg_path: str) -> None:
    """Refuse a checkpoint whose architecture differs from the chosen model (yolov5 would load what matches and
    silently leave the rest random). The file is loaded safely (:func:`ymir_sdk.torch.load_checkpoint`)."""
    import yaml

    from ..torch import load_checkpoint

    ckpt = load_checkpoint(weights)
    model = ckpt.get("ema") or ckpt.get("model") if isinstance(ckpt, dict) else None
    have = getattr(model, "yaml", None)
    if not isinstance(have, dict):
        raise ModelError(f"{weights} is not a yolov5 checkpoint (no model with a yaml inside)")
    with open(cfg_path) as f:
        want = yaml.safe_load(f)
    keys = ("depth_multiple", "width_multiple", "backbone", "head")
    if any(have.get(k) != want.get(k) for k in keys):
        name = os.path.splitext(os.path.basename(cfg_path))[0]
        raise ModelError(f"pretrained weights {os.path.basename(weights)} are not a {name} model "
                         f"(depth {have.get('depth_multiple')}, width {have.get('width_multiple')}); choose the "
                         f"model they were trained with")


#: yolov5's training flags a task may set through ``args_options`` (their own effect, nothing the task relies on)
FREE_FLAGS = frozenset({"hyp", "rect", "noautoanchor", "cache", "image_weights", "multi_scale", "single_cls",
                        "optimizer", "exist_ok", "quad", "cos_lr", "label_smoothing", "patience", "freeze", "seed",
                        "mask_ratio", "no_overlap"})  # the last two: segment/train.py's
#: the flags a task's key or the SDK sets (a flag would silently undo it): each refused, naming its owner
OWNED_FLAGS = {
    "weights": "pretrained_model_params (the model chosen for the task; else the image's weights of 'model')",
    "cfg": "model", "data": "the task's datasets", "epochs": "epochs", "batch_size": "batch_size_per_gpu",
    "imgsz": "img_size", "device": "gpu_id", "workers": "num_workers_per_gpu", "save_period": "save_period",
    "nosave": "save_best_only", "noval": "the model stages (each is validated)", "sync_bn": "sync_bn",
    "project": "the task's output folder", "name": "the task's output folder", "noplots": "the task's TensorBoard",
    "local_rank": "gpu_id (the SDK starts one process per GPU)",
    "resume": "the task (a task trains from its pretrained model; yolov5's --resume reads its own run folder)",
    "evolve": "the task (one training; hyper-parameter evolution is many)",
}


def parse_args_options(module, text: str) -> dict:
    """``args_options`` through the training script's own parser (``module.parse_opt``: its flags, aliases such
    as ``--img`` and ``--img-size``, abbreviations such as ``--batch``, and types), split like a shell would but
    never given to one. Returns the options the flags change. A flag that does not parse, one that a task's key
    owns (:data:`OWNED_FLAGS`) or one with an effect outside the task (uploads, remote loggers) is a 300001
    naming it."""
    import contextlib
    import io
    import sys

    try:
        tokens = shlex.split(text or "")
    except ValueError as e:
        raise ConfigError("args_options", text, f"yolov5 training flags ({e})") from None
    if not tokens:
        return {}
    saved, err = sys.argv, io.StringIO()
    try:
        sys.argv = ["train.py"]
        defaults = vars(module.parse_opt(False))
        sys.argv = ["train.py", *tokens]
        with contextlib.redirect_stderr(err):
            given = vars(module.parse_opt(False))
    except SystemExit:
        reason = (err.getvalue().strip().splitlines() or ["does not parse"])[-1].replace("train.py: error: ", "")
        raise ConfigError("args_options", text, f"yolov5 training flags ({reason})") from None
    finally:
        sys.argv = saved
    changed = {k: v for k, v in given.items() if v != defaults.get(k)}
    for key in changed:
        flag = "--" + key.replace("_", "-")
        if key in OWNED_FLAGS:
            raise ConfigError("args_options", text, message=f"config key 'args_options' = {text!r}: {flag} is set "
                                                            f"by {OWNED_FLAGS[key]}, not by a flag")
        if key not in FREE_FLAGS:
            raise ConfigError("args_options", text, message=f"config key 'args_options' = {text!r}: {flag} is not "
                                                            "offered in a task (it reaches outside the task or "
                                                            "changes what the task writes)")
    return changed


def load_model(weights: str, num_classes: int, device):
    """A trained checkpoint as an eval-mode model on ``device`` (fused), checked safe first (yolov5 itself loads
    with plain pickle on torch < 2.4) and for the task's class count."""
    import torch
    from yolov5.models.experimental import attempt_load

    from ..torch import load_checkpoint

    load_checkpoint(weights)
    try:
        model = attempt_load(weights, device=torch.device("cpu"), fuse=True)
    except ModelError:
        raise
    except Exception as e:  # noqa: BLE001 - anything a broken file raises is a model error
        raise ModelError(f"model file {os.path.basename(weights)} cannot be loaded: {e}") from None
    nc = int(getattr(model, "nc", 0))
    if nc != num_classes:
        raise ModelError(f"the model has {nc} classes, the task's class_names {num_classes}")
    return model.to(device).eval()
