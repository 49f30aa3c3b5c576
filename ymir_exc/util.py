"""Helpers of the original ``ymir_exc.util``: ``get_merged_config`` (``.param`` = config.yaml, ``.ymir`` = env.yaml),
``get_bool``, ``get_weight_files``, ``filter_saved_files``, ``format_saved_files``,
``write_ymir_training_result``, ``write_ymir_monitor_process``, ``YmirStage``, ``YmirStageWeight``,
``find_free_port``."""
import glob
import logging
import math
import os
import re
import shutil
import socket
import warnings
from enum import IntEnum
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ymir_sdk.errors import ConfigError
from ymir_sdk.io import read_yaml_mapping

from . import env
from . import result_writer as rw
from .monitor import YmirTask, write_monitor_logger_for_multiple_tasks

log = logging.getLogger("ymir_exc")


class EasyDict(dict):
    """A dict whose keys are attributes too (nested dicts included), as ``easydict.EasyDict`` which the original
    returned: ``cfg.param.class_names`` and ``cfg.param.get('epochs', 10)`` both work."""

    def __init__(self, data: Optional[dict] = None, **kwargs: Any):
        super().__init__()
        for k, v in dict(data or {}, **kwargs).items():
            self[k] = v

    @staticmethod
    def _wrap(value: Any) -> Any:
        if isinstance(value, dict) and not isinstance(value, EasyDict):
            return EasyDict(value)
        if isinstance(value, list):
            return [EasyDict._wrap(v) for v in value]
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, self._wrap(value))

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


def find_free_port() -> int:
    """A free TCP port for a DDP rendezvous (another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


class YmirStage(IntEnum):
    PREPROCESS = 1  # dataset conversion
    TASK = 2  # training / mining / inference
    POSTPROCESS = 3  # export

    def __str__(self) -> str:
        return str(int(self))


class YmirStageWeight:
    """The share of each stage in a task's progress: ``weights`` (three numbers summing to 1), else the
    environment's ``PREPROCESS_WEIGHT``/``TASK_WEIGHT``/``POSTPROCESS_WEIGHT`` (1e-5 / 0.99998 / 1e-5)."""

    def __init__(self, weights: Optional[Sequence[float]] = None):
        from ymir_sdk.monitor import stage_weights_from_env

        self.weights = [float(w) for w in weights] if weights else list(stage_weights_from_env())
        if len(self.weights) != 3 or not math.isclose(sum(self.weights), 1.0):
            raise ConfigError("stage_weights", self.weights, "three numbers summing to 1")

    def get_stage_process(self, stage: Union[YmirStage, str], p: float) -> float:
        names = {"preprocess": YmirStage.PREPROCESS, "task": YmirStage.TASK, "postprocess": YmirStage.POSTPROCESS}
        stage = names.get(stage, stage) if isinstance(stage, str) else stage
        if stage not in tuple(YmirStage):
            raise ValueError(f"unknown stage {stage!r}")
        index = int(stage) - 1
        return sum(self.weights[:index]) + self.weights[index] * min(1.0, max(0.0, float(p)))


def get_ymir_process(stage: Union[YmirStage, str], p: float, task_idx: int = 0, task_num: int = 1,
                     weights: Optional[YmirStageWeight] = None) -> float:
    """Deprecated in the original (use :func:`write_ymir_monitor_process`): the run's percent of a stage's ``p``."""
    warnings.warn("get_ymir_process is deprecated: use write_ymir_monitor_process", DeprecationWarning, stacklevel=2)
    weights = weights or YmirStageWeight()
    return (task_idx + weights.get_stage_process(stage, p)) / task_num


def get_merged_config() -> EasyDict:
    """``.param``: config.yaml (in live-code mode, ``git_url`` set, the YAML ``code_config`` names overlaid by
    config.yaml; an empty or missing file counts as empty: the original crashed); ``.ymir``: env.yaml."""
    param = env.get_executor_config()
    if param.get("git_url"):
        code_config = param.get("code_config") or ""
        base = read_yaml_mapping(code_config, "code_config") if code_config and os.path.exists(code_config) else {}
        param = {**base, **param}
    cfg = EasyDict()
    cfg.param = param
    cfg.ymir = env.get_current_env()  # an EnvConfig, kept as it is (only dicts are wrapped)
    return cfg


def get_bool(cfg: EasyDict, key: str, default_value: bool = True) -> bool:
    """A bool hyper-parameter however the web form sent it (``true``/``False``/``1``/``"f"``...); anything else
    is a 300001 error naming the key (the original raised a bare Exception)."""
    value = cfg.param.get(key, default_value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    word = value.strip().lower() if isinstance(value, str) else None
    if word in ("f", "false", "0", "no", "off", "t", "true", "1", "yes", "on"):
        return word in ("t", "true", "1", "yes", "on")
    raise ConfigError(key, value, "a boolean (true/false)")


def get_weight_files(cfg: EasyDict, suffix: Tuple[str, ...] = (".pt", ".pth")) -> List[str]:
    """The model files named by ``pretrained_model_params`` (training) or ``model_params_path`` (inference,
    mining) with ``suffix``, as absolute paths. Corrected: a name given relative to ``in/models`` or to a stage
    folder under it (``<stage>/best.pt``, the layout of YMIR 2.x) is found either way, and a configured file
    that is missing is logged, not silently dropped."""
    key = "pretrained_model_params" if cfg.ymir.run_training else "model_params_path"
    names = cfg.param.get(key) or []
    names = [names] if isinstance(names, str) else list(names)
    models_dir = cfg.ymir.input.models_dir
    out = []
    for name in names:
        if not str(name).endswith(tuple(suffix)):
            continue
        candidates = [name] if os.path.isabs(name) else [os.path.join(models_dir, name)]
        candidates += glob.glob(os.path.join(models_dir, "*", os.path.basename(name)))
        found = next((c for c in candidates if os.path.isfile(c)), None)
        if found:
            out.append(found)
        else:
            log.warning("%s: %s is not in %s", key, name, models_dir)
    return out


def filter_saved_files(cfg: EasyDict, files: List[str]) -> List[str]:
    """The files to save, relative to ``models/`` (``[]``: every file there), kept when they match one of
    ``ymir_saved_file_patterns`` (comma-separated regular expressions; none: all). Corrected: a bad pattern is
    skipped with a warning without skipping the next one (the original changed the list it was iterating)."""
    root = cfg.ymir.output.models_dir
    if not files:
        files = [os.path.relpath(f, root) for f in sorted(glob.glob(os.path.join(root, "*"))) if os.path.isfile(f)]
    else:
        files = [os.path.relpath(f, root) if os.path.isabs(f) else f for f in files]
    text = str(cfg.param.get("ymir_saved_file_patterns") or "")
    patterns = []
    for pattern in (p.strip() for p in text.split(",") if p.strip()):
        try:
            patterns.append(re.compile(pattern))
        except re.error as e:
            warnings.warn(f"ymir_saved_file_patterns: bad regular expression {pattern!r}: {e}")
    if not patterns:
        return files
    return [f for f in files if any(p.search(f) for p in patterns)]


def format_saved_files(cfg: EasyDict, files: List[str]) -> List[str]:
    """Each file (a link resolved) copied into ``models/`` when it is elsewhere; returns the basenames.
    Corrected: copied with Python, never through a shell (the original ran ``cp`` with unquoted paths)."""
    root = cfg.ymir.output.models_dir
    out = []
    for f in files:
        path = f if os.path.isabs(f) else os.path.join(root, f)
        if not os.path.exists(path):
            raise ConfigError("files", f, f"a file (under {root})")
        src = os.path.realpath(path) if os.path.islink(path) else path
        dest = os.path.join(root, os.path.basename(src))
        if not (os.path.exists(dest) and os.path.samefile(src, dest)):
            shutil.copy2(src, dest)
        out.append(os.path.basename(src))
    return out


def write_ymir_training_result(cfg: EasyDict, files: List[str], id: str, map50: Optional[float] = None,
                               evaluation_result: Optional[Dict[str, Union[float, int]]] = None,
                               evaluate_config: Optional[dict] = None,
                               attachments: Optional[Dict[str, List[str]]] = None) -> None:
    """A model stage named ``id`` (a number becomes ``stage_<id>``) with ``files`` (``[]``: everything in
    ``models/``, filtered by ``ymir_saved_file_patterns``), through :func:`result_writer.write_model_stage`."""
    files = format_saved_files(cfg, filter_saved_files(cfg, files))
    if not files:
        return
    stage = f"stage_{id}" if str(id).isnumeric() else str(id)
    rw.write_model_stage(stage, files, evaluation_result, mAP=map50, attachments=attachments,
                         evaluate_config=evaluate_config)


def write_ymir_monitor_process(cfg: EasyDict, task: Union[YmirTask, str], naive_stage_percent: float,
                               stage: Union[YmirStage, str],
                               stage_weights: Optional[Union[YmirStageWeight, List[float]]] = None,
                               task_order: str = "tmi") -> None:
    """Progress of one stage of one task (``training``, ``mining``, ``infer``), mapped into the run."""
    if not isinstance(stage_weights, YmirStageWeight):
        stage_weights = YmirStageWeight(stage_weights)
    p = stage_weights.get_stage_process(stage, naive_stage_percent)
    write_monitor_logger_for_multiple_tasks(cfg, task, p, task_order)
