"""result.yaml, infer-result.json and result.tsv, through ymir-sdk's validated, atomic writers.

Corrected (contract §6.2): numpy/tensor metrics are plain floats (the original crashed ``yaml.safe_dump``); a
stage name keeps its ``-`` and its files are found (the original renamed the stage to ``_`` and lost them); an
empty result.yaml is read as empty; metrics are checked to lie in [0, 1] and files to exist; attachments go to
``models/attachments/<section>/`` where the platform reads them; ``object_type`` is written; boxes keep their
fractions until the writer rounds them (the original truncated); segmentation results are validated (basename
``file_name``, ``area``) before they are written; mining results list every candidate, the ones the executor
left out (unreadable images) last.
"""
import json
import logging
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from pydantic import BaseModel

from ymir_sdk import contract, results
from ymir_sdk.dataset.index import read_candidates
from ymir_sdk.errors import ContractError
from ymir_sdk.io import atomic_write_json

from . import env

log = logging.getLogger("ymir_exc")
_MAX_MODEL_STAGES_COUNT_ = 11  # 10 latest stages and the best, as the original
#: the metric that names an object type, in the order the original looked for them in a call's results
_TYPE_OF_METRIC = (("maskAP", 4), ("mIoU", 3), ("mAP", 2))


class Box(BaseModel):
    x: float
    y: float
    w: float
    h: float
    rotate_angle: Optional[float] = None


class Annotation(BaseModel):
    class_name: str
    score: float
    box: Box

    def dict(self, **kwargs: Any) -> dict:  # pydantic 1's name, which executors call
        return self.model_dump(**kwargs)


def multiple_model_stages_supportable() -> bool:
    """True: every YMIR 2.x supports model stages (the original also consulted a ``YMIR_VERSION`` variable that
    the platform never sets)."""
    return True


def _object_type(metrics: Mapping[str, Any]) -> int:
    """config.yaml's ``object_type`` when the platform wrote one, else the one the call's metrics name."""
    try:
        configured = env.get_executor_config().get("object_type")
    except Exception:  # noqa: BLE001 - no config.yaml: tell from the metrics
        configured = None
    if configured in (2, 3, 4):
        return int(configured)
    return next((t for key, t in _TYPE_OF_METRIC if key in metrics), 2)


def write_model_stage(stage_name: str, files: List[str], evaluation_result: Optional[Dict[str, Any]] = None,
                      mAP: Optional[float] = None, timestamp: Optional[int] = None,
                      attachments: Optional[Dict[str, List[str]]] = None,
                      evaluate_config: Optional[Dict[str, Any]] = None) -> None:
    """Add (or replace) a model stage in result.yaml: ``files`` are names under ``models/`` or
    ``models/<stage_name>/`` (absolute paths are linked into ``models/<stage_name>/``); the best stage is the one
    with the highest mAP / mIoU / maskAP (by object type), at most 11 stages are kept."""
    if not stage_name or not files:
        raise ContractError(f"write_model_stage: empty stage_name ({stage_name!r}) or files ({files!r})")
    metrics = dict(evaluation_result or {})
    if mAP is not None:
        metrics.setdefault("mAP", mAP)
    cfg = env.get_current_env()
    writer = results.TrainingResult(cfg.output.models_dir, cfg.output.training_result_file,
                                    object_type=_object_type(metrics), max_stages=_MAX_MODEL_STAGES_COUNT_)
    writer.add_stage(str(stage_name), files, metrics, timestamp=timestamp, attachments=attachments,
                     evaluate_config=evaluate_config)


def write_training_result(model_names: List[str], mAP: Optional[float] = None,
                          evaluation_result: Optional[Dict[str, Any]] = None, stage_name: str = "default_best_stage",
                          **kwargs: Any) -> None:
    """One stage (``default_best_stage``), as the original does on YMIR 2.x; ``classAPs`` and other keyword
    arguments of the 1.x form are ignored."""
    if kwargs:
        log.info("write_training_result: ignoring %s (not part of a 2.x result.yaml)", sorted(kwargs))
    write_model_stage(stage_name, model_names, evaluation_result, mAP=mAP)


def _candidates(cfg, present: Sequence[str], what: str) -> Tuple[Optional[List[str]], List[str]]:
    """The candidate index (None without one) and the candidates missing from ``present``, logged."""
    if not (cfg.input.candidate_index_file and os.path.exists(cfg.input.candidate_index_file)):
        return None, []
    candidates = read_candidates(cfg.input.candidate_index_file, allow_empty=True)
    present = set(present)
    missing = [p for p in candidates if p not in present]
    if missing:
        log.warning("%d candidates have no %s (first: %s; an unreadable image?)", len(missing), what, missing[0])
    return candidates, missing


def write_mining_result(mining_result: Sequence[Tuple[str, float]]) -> None:
    """result.tsv, best first; candidates of the candidate index that are not in ``mining_result`` (images the
    executor could not read) follow, last (the platform expects every candidate). A path listed more than once
    (the original SDK wrote every line; the platform fails on the repeats) is kept once, with its best score,
    and the merge is logged."""
    best: Dict[str, Any] = {}
    pairs = list(mining_result)
    for path, score in pairs:
        if path not in best or _above(score, best[path]):
            best[path] = score
    if len(best) < len(pairs):
        log.warning("write_mining_result: %d repeated paths merged (each kept once, with its best score)",
                    len(pairs) - len(best))
    cfg = env.get_current_env()
    candidates, missing = _candidates(cfg, list(best), "score: ranked last")
    results.write_mining_result(cfg.output.mining_result_file, list(best.items()), candidates, missing)


def _above(a: Any, b: Any) -> bool:
    try:
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        return False  # not a number: the writer names it
    return a > b or (b != b and a == a)  # a number over NaN


def _class_names() -> List[str]:
    return list(env.get_executor_config().get("class_names") or [])


def write_infer_result(infer_result: Mapping[str, Any], algorithm: str = "detection") -> None:
    """infer-result.json. ``detection``: ``{image path: [Annotation, ...]}`` -> ``{"detection": {basename:
    {"boxes": [...]}}}`` with integer boxes (``class_name`` must be one of config.yaml's ``class_names``);
    ``segmentation``: a COCO result dict, its ``file_name`` made basenames and validated. Candidates the
    executor left out (unreadable images) get an empty entry in a detection result."""
    cfg = env.get_current_env()
    if algorithm == "detection":
        names = _class_names()
        dets: Dict[str, List[results.Detection]] = {}
        for path, annotations in infer_result.items():
            out = dets.setdefault(path, [])
            for a in annotations:
                a = a if isinstance(a, Annotation) else Annotation.model_validate(a)
                if a.class_name not in names:
                    raise ContractError(f"infer result of {os.path.basename(path)}: class {a.class_name!r} is not "
                                        f"one of config.yaml's class_names {names}")
                b = a.box
                out.append(results.Detection(names.index(a.class_name), float(a.score), b.x, b.y, b.x + b.w,
                                             b.y + b.h, b.rotate_angle))
        for path in _candidates(cfg, list(dets), "inference result: an empty box list")[1]:
            dets[path] = []
        results.write_detection_result(cfg.output.infer_result_file, dets, names)
    elif algorithm == "segmentation":
        data = json.loads(json.dumps(dict(infer_result), default=_plain))
        for image in data.get("images", []):
            if isinstance(image, dict) and isinstance(image.get("file_name"), str):
                image["file_name"] = os.path.basename(image["file_name"])
        findings = contract.errors_only(contract.check_coco_result(data, _class_names() or None))
        if findings:
            raise ContractError("infer-result.json: " + "; ".join(findings[:5]))
        atomic_write_json(cfg.output.infer_result_file, data)
    else:
        raise ContractError(f"write_infer_result: algorithm {algorithm!r} is not detection or segmentation")


def _plain(value: Any) -> Any:
    """numpy numbers and arrays, and RLE bytes, as JSON values."""
    if isinstance(value, bytes):
        return value.decode("ascii")
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


__all__ = ["Box", "Annotation", "multiple_model_stages_supportable", "write_model_stage", "write_training_result",
           "write_mining_result", "write_infer_result"]
