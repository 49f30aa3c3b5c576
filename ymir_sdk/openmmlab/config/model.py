"""The model part of a config: ``num_classes`` everywhere, no init weights that would download, the test-time
NMS IoU and score floor of a task's params, and the config a model stage carries, read for inference and mining."""
from __future__ import annotations

import logging
import os
from typing import Any, Callable, List, Mapping, Optional, Sequence

from ...errors import ModelError
from ..legacy import is_legacy, modern_config
from .files import check_data_only
from .options import check_option_keys, parse_cfg_options

log = logging.getLogger("ymir_sdk")


def walk_dicts(obj: Any, fn: Callable[[dict], None]) -> None:
    if isinstance(obj, dict):
        fn(obj)
        for v in obj.values():
            walk_dicts(v, fn)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            walk_dicts(v, fn)


def set_num_classes(model_cfg: dict, n: int) -> None:
    """``num_classes`` of every component of the model (heads, roi heads, assigners)."""
    walk_dicts(model_cfg, lambda d: d.__setitem__("num_classes", n) if "num_classes" in d else None)


def strip_download_init(cfg: dict) -> List[str]:
    """Remove ``init_cfg`` Pretrained entries (and 2.x-style ``pretrained=``) whose checkpoint is not a local file:
    the model's init must never download. Returns what was removed."""
    removed: List[str] = []

    def fix(d: dict) -> None:
        init = d.get("init_cfg")
        items = init if isinstance(init, list) else [init]
        keep = []
        for item in items:
            if isinstance(item, dict) and item.get("type") == "Pretrained":
                ck = str(item.get("checkpoint", ""))
                if not os.path.isfile(ck):
                    removed.append(ck)
                    continue
            keep.append(item)
        if init is not None and not keep:
            d.pop("init_cfg")  # the class's own default initialisation applies
        elif isinstance(init, list):
            d["init_cfg"] = keep
        p = d.get("pretrained")
        if isinstance(p, str) and not os.path.isfile(p):
            removed.append(p)
            d["pretrained"] = None

    walk_dicts(cfg.get("model"), fix)
    if removed:
        log.info("pretrained init weights removed from the model config (no downloads): %s", ", ".join(removed))
    return removed


def set_nms_iou(cfg, iou: float) -> None:
    """The IoU threshold of the model's test-time NMS (``iou_threshold``); a model without one ignores it."""
    nms = (cfg.model.get("test_cfg") or {}).get("nms")
    if isinstance(nms, dict):
        nms["iou_threshold"] = float(iou)
    else:
        log.warning("iou_threshold %s ignored: the model's test_cfg has no nms", iou)


def test_cfg_parts(model_cfg: Mapping[str, Any], key: str) -> List[Any]:
    """The parts of a model config's test settings that hold ``key`` (``score_thr``, ``max_per_img``):
    ``test_cfg``, and a two-stage detector's ``test_cfg.rcnn``, in that order."""
    test_cfg = (model_cfg or {}).get("test_cfg") or {}
    parts = [test_cfg, test_cfg.get("rcnn") if isinstance(test_cfg, Mapping) else None]
    return [p for p in parts if isinstance(p, Mapping) and key in p]


def score_parts(model_cfg: Mapping[str, Any]) -> List[Any]:
    """The parts of a model config that hold its score floor ``score_thr`` (:func:`test_cfg_parts`)."""
    return test_cfg_parts(model_cfg, "score_thr")


def set_score_floor(cfg, conf: float) -> None:
    """The model's own score floor (``test_cfg[.rcnn].score_thr``, 0.05 in rotated RTMDet's and many detection
    configs) lowered to the task's ``conf_threshold`` where that is lower: otherwise the user's threshold could not
    go below the config's, and a weak model would write no box without a word. Logged when changed."""
    for part in score_parts(cfg.model):
        if isinstance(part["score_thr"], (int, float)) and part["score_thr"] > conf:
            log.info("the model's score_thr %s lowered to conf_threshold %s", part["score_thr"], conf)
            part["score_thr"] = float(conf)


def inference_config(files: Sequence[str], cfg_options: Any = None, key: str = "cfg_options",
                     edit: Optional[Callable[[Any], None]] = None):
    """The config saved with a model stage (the one ``.py`` among the model files), changed by ``edit`` (the
    task's params), then with the task's ``cfg_options`` merged."""
    from mmengine.config import Config

    configs = sorted(f for f in files if f.endswith(".py"))
    if not configs:
        raise ModelError(f"no config file (.py) among the model files {list(files)}")
    if len(configs) > 1:
        log.warning("several config files among the model files; using %s", configs[-1])
    check_data_only(configs[-1])
    try:
        cfg = Config.fromfile(configs[-1])
    except Exception as e:  # noqa: BLE001 - any parse failure of a model's config is a model error
        raise ModelError(f"model config {os.path.basename(configs[-1])} cannot be read: {e}") from None
    if is_legacy(cfg):
        log.info("model config %s is of mmdet 2.x / mmseg 0.x: its model and test input run on today's package",
                 os.path.basename(configs[-1]))
        cfg = Config(modern_config(cfg))
    if edit is not None:
        edit(cfg)
    options = parse_cfg_options(cfg_options, key)
    if options:
        check_option_keys(cfg, options, key)
        cfg.merge_from_dict(options)
    return cfg
