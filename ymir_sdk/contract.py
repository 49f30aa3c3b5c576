"""The platform's acceptance rules for executor outputs (contract §5), written once.

Each ``check_*`` function returns a list of violations (empty = accepted). The result writers call them before
writing (an output that breaks the contract is never written), and ``ymir-sdk verify`` calls them on a finished
run's ``out`` folder.
"""
from __future__ import annotations

import math
import os
import re
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set

OBJECT_TYPES = {2: "det", 3: "semantic-seg", 4: "instance-seg", 50: "multi-modal"}
#: the prefix of a finding the platform accepts (advice, not a failure)
WARNING = "warning: "
#: the range of the platform's integer fields (a box coordinate outside it fails the task: 169999)
INT32 = (-2 ** 31, 2 ** 31 - 1)
#: the img-man template of each task (contract §1.5)
TEMPLATE_FILES = {"train": "training-template.yaml", "mine": "mining-template.yaml", "infer": "infer-template.yaml"}
MAIN_METRIC = {2: "mAP", 3: "mIoU", 4: "maskAP", 50: "mAP"}
FLOAT_METRICS = ("mAP", "mAR", "mIoU", "mAcc", "maskAP", "boxAP")
COUNT_METRICS = ("tp", "fp", "fn")
STAGE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
BOX_KEYS = {"x", "y", "w", "h", "rotate_angle"}


def _is_int_like(v: Any) -> bool:
    """The platform parses box coordinates with pydantic int: 10, 10.0 and "10" pass, 10.5 does not."""
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    if isinstance(v, float):
        return math.isfinite(v) and v.is_integer()
    if isinstance(v, str):
        return bool(re.fullmatch(r"\s*[-+]?\d+\s*", v))
    return False


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# ------------------------------------------------------------------------------------------------ monitor
def check_monitor(text: str, final: bool = False) -> List[str]:
    """monitor.txt: the first line has >= 4 TAB-separated columns that parse (float, float, int in 0..4, int).
    ``final``: the run ended successfully, so the line must say running (2), percent 1 and code 0."""
    if not text.strip():
        return ["monitor.txt is empty"]
    first = text.split("\n", 1)[0]
    cols = first.split("\t")
    errors = []
    if len(cols) < 4:
        return [f"monitor.txt: first line has {len(cols)} TAB-separated columns, at least 4 are needed: {first!r}"]
    try:
        float(cols[1])
    except ValueError:
        errors.append(f"monitor.txt: timestamp {cols[1]!r} is not a float")
    try:
        percent = float(cols[2])
        if not 0 <= percent <= 1:
            errors.append(f"monitor.txt: percent {percent} is outside [0, 1]")
    except ValueError:
        percent = None
        errors.append(f"monitor.txt: percent {cols[2]!r} is not a float")
    try:
        state = int(cols[3])
        if not 0 <= state <= 4:
            errors.append(f"monitor.txt: state {state} is outside 0..4")
        elif state in (1, 3):
            errors.append(f"monitor.txt: state {state} is written by the platform only")
    except ValueError:
        state = None
        errors.append(f"monitor.txt: state {cols[3]!r} is not an integer")
    code = 0
    if len(cols) > 4:
        try:
            code = int(cols[4])
        except ValueError:
            errors.append(f"monitor.txt: error code {cols[4]!r} is not an integer")
    if final and not errors:
        if state != 2 or code != 0 or percent != 1.0:
            errors.append(f"monitor.txt: a successful run must end with percent 1, state 2 and code 0: {first!r}")
    return errors


# ------------------------------------------------------------------------------------------------ training
def warning(text: str) -> str:
    """A finding the platform accepts but we advise against: reported, never a failure (:func:`errors_only`)."""
    return WARNING + text


def errors_only(findings: Iterable[str]) -> List[str]:
    """The findings the platform fails on (not the warnings)."""
    return [f for f in findings if not f.startswith(WARNING)]


def _check_legacy_result(data: dict, models_dir: str) -> List[str]:
    """The 1.x result.yaml (``model`` files + ``map``): still accepted as one stage (contract §5.2.2)."""
    files, score = data.get("model"), data.get("map")
    errors = []
    if not isinstance(files, list) or not files or not all(isinstance(f, str) and f for f in files):
        errors.append("result.yaml: the legacy 'model' must be a list of file names")
    else:
        errors += [f"result.yaml: file {f!r} is not in models/" for f in files
                   if not os.path.isfile(os.path.join(models_dir, f))]
    if not _is_number(score) or not 0 <= score <= 1:
        errors.append(f"result.yaml: the legacy 'map' must be a float in [0, 1], got {score!r}")
    return errors or [warning("result.yaml uses the legacy 'model'/'map' format (accepted as one stage); write "
                              "model_stages")]


def check_training_result(data: Any, models_dir: str, object_type: int = 2) -> List[str]:
    """result.yaml (contract §5.2.1): its object type (YMIR 2.1-2.3 read the model's type there, default 2),
    stages, best stage, files present, metric types and ranges."""
    if not isinstance(data, dict):
        return ["result.yaml is not a mapping"]
    declared = data.get("object_type", 2)
    wrong_type = [] if declared == object_type else [
        f"result.yaml: object_type is {data.get('object_type', 'missing')!r}, not {object_type}: YMIR 2.1-2.3 would "
        f"store a model of object type {object_type} as one of object type {declared!r}"]
    return wrong_type + _check_stages(data, models_dir, object_type)


def _check_stages(data: dict, models_dir: str, object_type: int) -> List[str]:
    if "model_stages" not in data:
        if "model" in data:
            return _check_legacy_result(data, models_dir)
        return ["result.yaml has no model_stages"]
    stages = data["model_stages"]
    errors: List[str] = []
    if not isinstance(stages, dict) or not stages:
        return ["result.yaml: model_stages must be a non-empty mapping"]
    best = data.get("best_stage_name")
    if best not in stages:
        errors.append(f"result.yaml: best_stage_name {best!r} is not a key of model_stages")
    main = MAIN_METRIC.get(object_type, "mAP")
    for name, stage in stages.items():
        where = f"result.yaml: stage {name!r}"
        if not isinstance(name, str) or not STAGE_NAME.match(name) or "@" in name:
            errors.append(f"{where}: stage names must be plain folder names without '@'")
        if not isinstance(stage, dict):
            errors.append(f"{where} is not a mapping")
            continue
        if stage.get("stage_name") != name:
            errors.append(f"{where}: stage_name {stage.get('stage_name')!r} differs from its key")
        files = stage.get("files")
        if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
            errors.append(f"{where}: files must be a list of file names")
        else:
            for f in files:
                if not (os.path.isfile(os.path.join(models_dir, str(name), f))
                        or os.path.isfile(os.path.join(models_dir, f))):
                    errors.append(f"{where}: file {f!r} is neither in models/{name}/ nor in models/")
        ts = stage.get("timestamp")
        if not isinstance(ts, int) or isinstance(ts, bool):
            errors.append(f"{where}: timestamp must be an int, got {ts!r}")
        for key in FLOAT_METRICS:
            if key in stage:
                v = stage[key]
                if not _is_number(v) or not 0 <= v <= 1:
                    errors.append(f"{where}: {key} must be a float in [0, 1], got {v!r}")
        for key in COUNT_METRICS:
            if key in stage and (not isinstance(stage[key], int) or isinstance(stage[key], bool) or stage[key] < 0):
                errors.append(f"{where}: {key} must be an int >= 0, got {stage[key]!r}")
            if key.upper() in stage:
                errors.append(warning(f"{where}: {key.upper()} is ignored by the platform; write lower-case {key}"))
        if main not in stage:
            errors.append(f"{where}: the main metric {main} of object type {object_type} is missing")
    attachments = data.get("attachments")
    if attachments is not None:
        if not isinstance(attachments, dict):
            errors.append("result.yaml: attachments must map a section to a list of file names")
        else:
            for section, names in attachments.items():
                if not isinstance(names, list):
                    errors.append(f"result.yaml: attachments[{section!r}] must be a list")
                    continue
                for f in names:
                    if not os.path.isfile(os.path.join(models_dir, "attachments", str(section), str(f))):
                        errors.append(f"result.yaml: attachment {f!r} is not in models/attachments/{section}/")
    ec = data.get("evaluate_config")
    if ec is not None:
        if not isinstance(ec, dict):
            errors.append("result.yaml: evaluate_config must be a mapping of str to float")
        else:
            for k, v in ec.items():
                if not isinstance(v, float) or not math.isfinite(v):
                    errors.append(f"result.yaml: evaluate_config[{k!r}] must be a float, got {v!r}")
    ot = data.get("object_type")
    if ot is not None and ot not in OBJECT_TYPES:
        errors.append(f"result.yaml: object_type {ot!r} is not one of {sorted(OBJECT_TYPES)}")
    return errors


# ------------------------------------------------------------------------------------------------ inference
def check_detection_result(data: Any, class_names: Optional[Sequence[str]] = None,
                           images: Optional[Iterable[str]] = None) -> List[str]:
    """infer-result.json for detection (contract §5.3)."""
    if not isinstance(data, dict) or not isinstance(data.get("detection"), dict):
        return ["infer-result.json: top-level 'detection' object is missing"]
    names = {n.strip().lower() for n in class_names} if class_names else None
    errors: List[str] = []
    for key, value in data["detection"].items():
        where = f"infer-result.json: image {key!r}"
        if "/" in key:
            errors.append(f"{where}: keys must be image basenames")
        if not isinstance(value, dict):
            errors.append(f"{where}: value must be an object with 'boxes'")
            continue
        boxes = value.get("boxes", value.get("annotations"))
        if not isinstance(boxes, list):
            errors.append(f"{where}: 'boxes' must be a list")
            continue
        for i, item in enumerate(boxes):
            w = f"{where} box {i}"
            if not isinstance(item, dict):
                errors.append(f"{w}: not an object")
                continue
            box = item.get("box")
            if not isinstance(box, dict):
                errors.append(f"{w}: 'box' is missing")
            else:
                extra = set(box) - BOX_KEYS
                if extra:
                    errors.append(f"{w}: box has keys the platform rejects: {sorted(extra)}")
                for k in ("x", "y", "w", "h"):
                    if not _is_int_like(box.get(k)):
                        errors.append(f"{w}: box.{k} must be an integer, got {box.get(k)!r}")
                    elif not INT32[0] <= int(float(box[k])) <= INT32[1]:
                        errors.append(f"{w}: box.{k} = {box[k]} is outside the platform's 32-bit integers")
                    elif not isinstance(box[k], int):
                        errors.append(warning(f"{w}: box.{k} = {box[k]!r} is accepted as an integer; write one"))
                if "rotate_angle" in box and not _is_number(box["rotate_angle"]):
                    errors.append(f"{w}: rotate_angle must be a number")
            cn = item.get("class_name")
            if not isinstance(cn, str) or not cn.strip():
                errors.append(f"{w}: class_name is missing or empty")
            elif names is not None and cn.strip().lower() not in names:
                errors.append(f"{w}: class_name {cn!r} is not one of the model's classes")
            if "score" not in item or not _is_number(item.get("score")):
                errors.append(f"{w}: score must be a finite number, got {item.get('score')!r}")
    if images is not None:
        missing = sorted({os.path.basename(p) for p in images} - set(data["detection"]))
        if missing:
            errors.append(f"infer-result.json: {len(missing)} candidate images have no entry, e.g. {missing[0]}")
    return errors


def check_coco_result(data: Any, class_names: Optional[Sequence[str]] = None,
                      images: Optional[Iterable[str]] = None) -> List[str]:
    """infer-result.json for segmentation (COCO, contract §5.4)."""
    if not isinstance(data, dict):
        return ["infer-result.json: not a COCO object"]
    errors = [f"infer-result.json: top-level '{k}' list is missing" for k in ("images", "categories", "annotations")
              if not isinstance(data.get(k), list)]
    if errors:
        return errors
    image_ids: Set[Any] = set()
    for img in data["images"]:
        fn = img.get("file_name") if isinstance(img, dict) else None
        if not isinstance(fn, str) or not fn or os.path.basename(fn) != fn:
            errors.append(f"infer-result.json: image file_name {fn!r} must be a bare basename")
        if isinstance(img, dict):
            if img.get("id") in image_ids:
                errors.append(f"infer-result.json: duplicate image id {img.get('id')!r}")
            image_ids.add(img.get("id"))
    cat_ids = set()
    names = {n.strip().lower() for n in class_names} if class_names else None
    for cat in data["categories"]:
        if not isinstance(cat, dict) or "id" not in cat or not isinstance(cat.get("name"), str):
            errors.append(f"infer-result.json: category {cat!r} needs an id and a name")
            continue
        cat_ids.add(cat["id"])
        if names is not None and cat["name"].strip().lower() not in names:
            errors.append(f"infer-result.json: category {cat['name']!r} is not one of the model's classes")
    for i, ann in enumerate(data["annotations"]):
        w = f"infer-result.json: annotation {ann.get('id', i) if isinstance(ann, dict) else i}"
        if not isinstance(ann, dict):
            errors.append(f"{w}: not an object")
            continue
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
            errors.append(f"{w}: bbox must be 4 numbers")
        elif bbox[2] <= 0 or bbox[3] <= 0:
            errors.append(f"{w}: bbox width and height must be > 0")
        if "area" not in ann or not _is_number(ann.get("area")):
            errors.append(f"{w}: area is missing")
        if ann.get("image_id") not in image_ids:
            errors.append(f"{w}: image_id {ann.get('image_id')!r} is not in images")
        if ann.get("category_id") not in cat_ids:
            errors.append(f"{w}: category_id {ann.get('category_id')!r} is not in categories")
        if "segmentation" in ann:
            seg = ann["segmentation"]
            if isinstance(seg, dict):
                if not seg:
                    errors.append(f"{w}: empty segmentation (omit the key instead)")
                elif not isinstance(seg.get("counts"), str):
                    errors.append(f"{w}: RLE counts must be a compressed string")
                elif not (isinstance(seg.get("size"), list) and len(seg["size"]) == 2):
                    errors.append(f"{w}: RLE size must be [height, width]")
            elif isinstance(seg, list):
                if not seg:
                    errors.append(f"{w}: empty segmentation (omit the key instead)")
                elif len(seg) != 1:
                    errors.append(f"{w}: {len(seg)} polygons; the platform accepts exactly one")
                elif not isinstance(seg[0], list) or len(seg[0]) < 6 or not all(_is_number(v) for v in seg[0]):
                    errors.append(f"{w}: polygon must be a list of at least 3 x,y pairs")
            else:
                errors.append(f"{w}: segmentation must be an RLE object or one polygon")
        if "confidence" in ann and not _is_number(ann["confidence"]):
            errors.append(f"{w}: confidence must be a finite number")
    if images is not None:
        listed = {img.get("file_name") for img in data["images"] if isinstance(img, dict)}
        missing = sorted({os.path.basename(p) for p in images} - listed)
        if missing:
            errors.append(f"infer-result.json: {len(missing)} candidate images are not in images, e.g. {missing[0]}")
    return errors


# ------------------------------------------------------------------------------------------------ mining
def check_mining_result(text: str, candidates: Optional[Sequence[str]] = None) -> List[str]:
    """result.tsv (contract §5.5): ``path TAB score`` lines, best first; every candidate exactly once (the
    platform accepts fewer, YMIR's executor verifier does not: an unreadable one goes last); the basename without
    extension is the asset name."""
    return check_mining_lines(text.splitlines(), candidates)


def check_mining_lines(lines: Iterable[str], candidates: Optional[Sequence[str]] = None) -> List[str]:
    """:func:`check_mining_result` over the file's lines as they come (a writer streams them through it)."""
    errors: List[str] = []
    seen: Dict[str, int] = {}
    previous = math.inf
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) < 2:
            errors.append(f"result.tsv line {no}: expected 'path TAB score', got {line!r}")
            continue
        path = cols[0]
        if path in seen:
            errors.append(f"result.tsv line {no}: {path} is listed again (first on line {seen[path]})")
        seen[path] = no
        try:
            score = float(cols[1])
        except ValueError:
            errors.append(f"result.tsv line {no}: score {cols[1]!r} is not a number")
            continue
        if score != score:
            errors.append(f"result.tsv line {no}: score is NaN")
        elif score > previous:
            errors.append(f"result.tsv line {no}: not sorted best-first ({score} after {previous}); the platform "
                          "keeps the first K lines")
        else:
            previous = score
    if candidates is not None:
        missing = sorted(set(candidates) - set(seen))
        unknown = sorted(set(seen) - set(candidates))
        if missing:
            errors.append(f"result.tsv: {len(missing)} candidates are missing, e.g. {missing[0]}")
        if unknown:
            errors.append(f"result.tsv: {len(unknown)} paths are not candidates, e.g. {unknown[0]}")
    return errors


# ------------------------------------------------------------------------------------------------ img-man
def check_template(data: Any, name: str) -> List[str]:
    """A template must read as a flat ``key: scalar`` mapping (the web edits only those)."""
    if not isinstance(data, dict):
        return [f"{name}: does not read as a YAML mapping (the platform would treat it as absent)"]
    errors = []
    for k, v in data.items():
        if not isinstance(k, str):
            errors.append(f"{name}: key {k!r} is not a string")
        if isinstance(v, (dict, list)):
            errors.append(f"{name}: {k!r} is nested; templates must be flat key: scalar")
    return errors


def check_manifest(data: Any) -> List[str]:
    if data is None:
        return []
    if not isinstance(data, dict):
        return ["manifest.yaml: not a YAML mapping"]
    ot = data.get("object_type", 2)
    values = ot if isinstance(ot, list) else [ot]
    errors = []
    if isinstance(ot, list) and not ot:
        errors.append("manifest.yaml: object_type list is empty")
    for v in values:
        if not isinstance(v, int) or isinstance(v, bool) or v not in OBJECT_TYPES:
            errors.append(f"manifest.yaml: object_type {v!r} is not one of {sorted(OBJECT_TYPES)}")
    for key in ("enable_livecode", "is_official"):
        if key in data and not isinstance(data[key], bool):
            errors.append(f"manifest.yaml: {key} must be a boolean")
    return errors
