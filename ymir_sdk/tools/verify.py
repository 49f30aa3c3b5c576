"""``ymir-sdk verify`` and ``ymir-sdk check-image``: the contract's acceptance rules applied to a finished run's
``out`` folder and to an image's ``img-man`` folder. One line per violation."""
from __future__ import annotations

import os
import re
from typing import Any, Dict, List, Optional, Tuple

import yaml

from .. import contract
from ..dataset.index import read_candidates
from .outputs import OutputError, TaskOutput

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
        text = TaskOutput(out).mining_text()
        errors += ["result.tsv is missing"] if text is None else contract.check_mining_result(text, candidates)
    return errors


def _verify_monitor(out: str) -> List[str]:
    text = TaskOutput(out).monitor()
    return ["monitor.txt is missing"] if text is None else contract.check_monitor(text, final=True)


def _verify_training(out: str, object_type: int) -> List[str]:
    try:
        data = TaskOutput(out).training_result()
        errors = (["models/result.yaml is missing"] if data is None else
                  contract.check_training_result(data, os.path.join(out, "models"), object_type))
    except OutputError as e:
        errors = [str(e)]
    board = os.path.join(out, "tensorboard")
    if not any(files for _, _, files in os.walk(board)):
        errors.append(contract.warning("tensorboard/ holds no file (the task's TensorBoard link shows nothing)"))
    elif holds_image(board) is False:
        errors.append(contract.warning("tensorboard/ holds no image (the user sees no prediction before mining "
                                       "with the model: ymir_sdk.torch.board draws them)"))
    return errors


def holds_image(folder: str) -> Optional[bool]:
    """Whether the event files under ``folder`` hold an image summary, read with tensorboard's own event loader
    up to the first one (None: tensorboard is not installed)."""
    try:
        from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    except ImportError:
        return None
    for root, _, files in os.walk(folder):
        for name in sorted(f for f in files if "tfevents" in f):
            for event in EventFileLoader(os.path.join(root, name)).Load():
                for value in event.summary.value:
                    if value.HasField("image") or value.metadata.plugin_data.plugin_name == "images":
                        return True
    return False


def _verify_inference(out: str, object_type: Optional[int], class_names,
                      readable: Optional[List[str]]) -> List[str]:
    try:
        data = TaskOutput(out).infer_result()
    except OutputError as e:
        return [str(e)]
    if data is None:
        return ["infer-result.json is missing"]
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
    if not errors:
        errors += check_params(os.path.dirname(os.path.abspath(folder)))
    return errors


# ------------------------------------------------------------------------------------------------ params
TASK_PARAMS = (("train", "TrainParams"), ("infer", "InferParams"), ("mine", "MineParams"))


def executor_class(folder: str) -> Optional[type]:
    """The Executor class an executor folder's ``img-man/manifest.yaml`` names (``executor_class``), imported as
    its image imports it (its package from the folder above it; the path unchanged), or None without the key."""
    from ..executor import load_executor_class, manifest_executor
    from .runner import package_root

    target = manifest_executor(os.path.join(folder, "img-man", "manifest.yaml"), required=False)
    if not target:
        return None
    return load_executor_class(target, package_root(folder) or os.path.abspath(folder))


def _parts(cls: type) -> Dict[int, type]:
    from ..executor import MultiTypeExecutor

    if issubclass(cls, MultiTypeExecutor):
        return dict(cls.executors)
    return {t: cls for t in cls.object_types[:1]}


def check_params(folder: str) -> List[str]:
    """The img-man templates and the README's hyper-parameter table(s) against the executor's params: each
    template holds exactly its params' keys and defaults (``HyperParams.template()``); a README table
    (``| task | key | default | ... |``) lists every key of every task, no key the params lack, and (where a row
    names one default per key) their defaults. Without a manifest naming the class there is nothing to check;
    an executor that does not import here (its framework missing) is a warning."""
    try:
        cls = executor_class(folder)
    except Exception as e:  # noqa: BLE001 - a framework missing on this machine: say so, check the rest
        return [contract.warning(f"{folder}: its executor class does not import here ({type(e).__name__}: {e}); "
                                 "the params were not checked against the templates and the README")]
    if cls is None:
        if os.path.isfile(os.path.join(folder, "executor.py")):
            return [contract.warning(f"{folder}/img-man/manifest.yaml names no executor_class (module:Class): the "
                                     "image cannot start it with `python3 -m ymir_sdk exec`, and its params were "
                                     "not checked against the templates and the README")]
        return []
    img_man = os.path.join(folder, "img-man")
    parts = _parts(cls)
    multi = len(parts) > 1 or isinstance(_manifest_types(img_man), list)
    errors: List[str] = []
    expected: Dict[int, Dict[str, Dict[str, Any]]] = {}
    for otype, part in parts.items():
        sub = os.path.join(img_man, contract.OBJECT_TYPES[otype]) if multi else img_man
        expected[otype] = _check_templates(part, sub, folder, errors)
    return errors + _check_readme(folder, expected, multi)


def _check_templates(part: Any, sub: str, folder: str, errors: List[str]) -> Dict[str, Dict[str, Any]]:
    """One part's templates in ``sub`` against its params (findings appended to ``errors``); returns the
    templates that exist, per task, as the params make them."""
    expected: Dict[str, Dict[str, Any]] = {}
    for task, attr in TASK_PARAMS:
        template = getattr(part, attr).template()
        path = os.path.join(sub, contract.TEMPLATE_FILES[task])
        rel = os.path.relpath(path, folder)
        if not os.path.exists(path):
            if _implements(part, task):
                errors.append(f"{rel} is missing: {part.__name__}.{attr} has {len(template)} keys")
            continue
        expected[task] = template
        written = _yaml(path) or {}
        for key in sorted(set(template) | set(written)):
            if key not in written:
                errors.append(f"{rel}: {key!r} is missing ({part.__name__}.{attr} has it, default "
                              f"{template[key]!r})")
            elif key not in template:
                errors.append(f"{rel}: {key!r} is not a key of {part.__name__}.{attr}")
            elif written[key] != template[key]:
                errors.append(f"{rel}: {key!r} is {written[key]!r}, {part.__name__}.{attr}'s default is "
                              f"{template[key]!r}")
    return expected


def _check_readme(folder: str, expected: Dict[int, Dict[str, Dict[str, Any]]], multi: bool) -> List[str]:
    """The README's hyper-parameter tables against each part's templates."""
    readme = os.path.join(folder, "README.md")
    tables = readme_tables(readme) if os.path.exists(readme) else []
    if not tables:
        return [contract.warning(f"{os.path.relpath(readme, folder)}: no hyper-parameter table "
                                 "(| task | key | default | effect |)")]
    # each table to the object type whose keys it lists most (a multi-type image: a table per part at most)
    pairs = sorted(((_overlap(t, tasks), -i, otype) for i, t in enumerate(tables) for otype, tasks in expected.items()),
                   reverse=True)
    chosen: Dict[int, int] = {}
    for score, neg_i, otype in pairs:
        if score and otype not in chosen and -neg_i not in chosen.values():
            chosen[otype] = -neg_i
    errors: List[str] = []
    for otype, tasks in expected.items():
        if otype not in chosen:
            errors.append(contract.warning(f"README.md: no hyper-parameter table for object type {otype}"))
            continue
        errors += _compare_table(tables[chosen[otype]], tasks, otype if multi else None)
    return errors


def _manifest_types(img_man: str) -> Any:
    path = os.path.join(img_man, "manifest.yaml")
    return (_yaml(path) or {}).get("object_type", 2) if os.path.exists(path) else 2


def _implements(cls: type, task: str) -> bool:
    from ..executor import Executor

    return getattr(cls, task) is not getattr(Executor, task)


#: a README row: tasks ("train", "infer/mine"), keys (backticked names, parenthesised remarks left out), defaults
Row = Tuple[List[str], List[str], str]
TASK_WORDS = {"train": "train", "training": "train", "infer": "infer", "inference": "infer", "mine": "mine",
              "mining": "mine"}


def readme_tables(path: str) -> List[List[Row]]:
    """The README's tables whose header starts ``task | key | default``."""
    tables: List[List[Row]] = []
    current: Optional[List[Row]] = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else None
            if cells is None:
                current = None
                continue
            if [c.lower() for c in cells[:3]] == ["task", "key", "default"]:
                current = []
                tables.append(current)
            elif current is not None and len(cells) >= 3 and not set(cells[0]) <= set("-: "):
                tasks = [TASK_WORDS.get(t.strip().lower(), t.strip().lower()) for t in cells[0].split("/")]
                keys = re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", re.sub(r"\(.*?\)", "", cells[1]))
                current.append((tasks, keys, cells[2]))
    return tables


def _overlap(table: List[Row], tasks: Dict[str, Dict[str, Any]]) -> int:
    return sum(1 for row_tasks, keys, _ in table for t in row_tasks for k in keys if k in tasks.get(t, {}))


def _same_default(cell: str, default: Any) -> bool:
    cell = cell.strip().strip("`")
    if cell in ("''", '""', ""):
        return default in ("", None)
    try:
        if yaml.safe_load(cell) == default:
            return True
    except yaml.YAMLError:
        pass
    return str(default).lower() == cell.lower()


def _compare_table(table: List[Row], tasks: Dict[str, Dict[str, Any]], otype: Optional[int]) -> List[str]:
    where = "README.md" + (f" (object type {otype})" if otype else "")
    errors, listed = [], set()
    for row_tasks, keys, default_cell in table:
        defaults = [d.strip() for d in default_cell.split(", ")]
        for t in row_tasks:
            if t not in tasks:
                errors.append(f"{where}: row {', '.join(keys)} names task {t!r}, which has no template")
                continue
            for i, key in enumerate(keys):
                listed.add((t, key))
                if key not in tasks[t]:
                    errors.append(f"{where}: {t} key {key!r} is not a hyper-parameter of that task")
                elif len(defaults) == len(keys) and not _same_default(defaults[i], tasks[t][key]):
                    errors.append(f"{where}: {t} key {key!r} default {defaults[i]!r}, the params say "
                                  f"{tasks[t][key]!r}")
    for t, template in tasks.items():
        missing = [k for k in template if (t, k) not in listed]
        if missing:
            errors.append(f"{where}: {t} keys {', '.join(missing)} are not in the hyper-parameter table")
    return errors
