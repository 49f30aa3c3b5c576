"""``ymir-sdk verify`` and ``ymir-sdk check-image``: the contract's acceptance rules applied to a finished run's
``out`` folder and to an image's ``img-man`` folder. One line per violation."""
from __future__ import annotations

import json
import os
from typing import List, Optional

import yaml

from . import contract
from .dataset.index import read_candidates

RESERVED_TEMPLATE_KEYS = ("task_id", "class_names", "gpu_id", "gpu_count", "pretrained_model_params",
                          "model_params_path", "object_type", "run_infer", "run_mining")


def _yaml(path: str):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def verify_work(work: str, task: str, object_type: Optional[int] = None) -> List[str]:
    """Check ``work/out`` after a successful run of ``task`` (train, infer, mine or mine+infer). Returns the
    findings, one line each: what the platform fails on, and warnings (``contract.WARNING``) for what it accepts
    but we advise against. The object type is ``object_type``, else config.yaml's, else told by the inference
    result's shape (``detection`` or COCO), else detection."""
    env_file = os.path.join(work, "in", "env.yaml")
    env = _yaml(env_file) if os.path.exists(env_file) else {}
    out = (env.get("output") or {}).get("root_dir") or os.path.join(work, "out")
    config_file = (env.get("input") or {}).get("config_file") or os.path.join(work, "in", "config.yaml")
    config = (_yaml(config_file) or {}) if os.path.exists(config_file) else {}
    object_type = object_type or (int(config["object_type"]) if config.get("object_type") else None)
    errors = _verify_monitor(out)
    if task == "train":
        return errors + _verify_training(out, object_type or 2)
    candidates: Optional[List[str]] = None
    cand_file = (env.get("input") or {}).get("candidate_index_file")
    if cand_file and os.path.exists(cand_file):
        candidates = read_candidates(cand_file, allow_empty=True)
    if task.endswith("infer"):
        errors += _verify_inference(out, object_type, config.get("class_names") or None, candidates)
    if task.startswith("mine"):
        path = os.path.join(out, "result.tsv")
        if not os.path.exists(path):
            errors.append("result.tsv is missing")
        else:
            with open(path, encoding="utf-8") as f:
                errors += contract.check_mining_result(f.read(), candidates)
    return errors


def _verify_monitor(out: str) -> List[str]:
    monitor = os.path.join(out, "monitor.txt")
    if not os.path.exists(monitor):
        return ["monitor.txt is missing"]
    with open(monitor, encoding="utf-8") as f:
        return contract.check_monitor(f.read(), final=True)


def _verify_training(out: str, object_type: int) -> List[str]:
    errors: List[str] = []
    result = os.path.join(out, "models", "result.yaml")
    if not os.path.exists(result):
        errors.append("models/result.yaml is missing")
    else:
        try:
            data = _yaml(result)
        except yaml.YAMLError as e:
            errors.append(f"models/result.yaml is not YAML: {e}")
        else:
            errors += contract.check_training_result(data, os.path.join(out, "models"), object_type)
    if not any(files for _, _, files in os.walk(os.path.join(out, "tensorboard"))):
        errors.append(contract.warning("tensorboard/ holds no file (the task's TensorBoard link shows nothing)"))
    return errors


def _verify_inference(out: str, object_type: Optional[int], class_names,
                      readable: Optional[List[str]]) -> List[str]:
    path = os.path.join(out, "infer-result.json")
    if not os.path.exists(path):
        return ["infer-result.json is missing"]
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except ValueError as e:
        return [f"infer-result.json is not valid JSON: {e}"]
    if object_type is None:  # told by the shape: the detection result, or a COCO one (segmentation)
        object_type = 3 if isinstance(data, dict) and "detection" not in data and "images" in data else 2
    check = contract.check_detection_result if object_type == 2 else contract.check_coco_result
    return check(data, class_names, readable)


def check_image(folder: str) -> List[str]:
    """Check an image's ``img-man`` folder (or an executor folder holding one)."""
    if os.path.isdir(os.path.join(folder, "img-man")):
        folder = os.path.join(folder, "img-man")
    if not os.path.isdir(folder):
        return [f"{folder}: no such folder"]
    manifest_path = os.path.join(folder, "manifest.yaml")
    manifest = None
    errors: List[str] = []
    if os.path.exists(manifest_path):
        try:
            manifest = _yaml(manifest_path)
        except yaml.YAMLError as e:
            return [f"manifest.yaml is not YAML: {e}"]
        errors += contract.check_manifest(manifest)
        if errors:
            return errors
    declared = (manifest or {}).get("object_type", 2)
    folders = {t: os.path.join(folder, contract.OBJECT_TYPES[t]) for t in declared} if isinstance(declared, list) \
        else {declared: folder}
    for otype, sub in folders.items():
        found = 0
        for task, name in contract.TEMPLATE_FILES.items():
            path = os.path.join(sub, name)
            rel = os.path.relpath(path, folder)
            if not os.path.exists(path):
                continue
            try:
                data = _yaml(path)
            except yaml.YAMLError as e:
                errors.append(f"{rel}: not YAML ({e})")
                continue
            errors += contract.check_template(data, rel)
            if isinstance(data, dict):
                found += 1
                errors += [f"{rel}: {k!r} is written by the platform; remove it from the template"
                           for k in RESERVED_TEMPLATE_KEYS if k in data]
                if task == "train" and "export_format" not in data:
                    errors.append(f"{rel}: no export_format (the platform would export voc:raw)")
        if not found:
            errors.append(f"{os.path.relpath(sub, folder) if sub != folder else '.'}: no template for object type "
                          f"{otype}: the platform would register no task for it")
    return errors
