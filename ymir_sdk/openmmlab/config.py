"""Adapting an OpenMMLab 2.x config (mmengine ``Config``) to a YMIR task.

Two steps, in this order:

1. **Re-derivation.** Base configs compute values from their top-level variables when the file is read
   (``switch_epoch = max_epochs - num_last_epochs``, ``dynamic_intervals``, stage-2 pipelines, the param
   schedulers' ``begin/end/T_max``, ``base_lr * batch``, ...). Setting ``train_cfg.max_epochs`` afterwards leaves
   them stale (the reference executors' stage-2 pipeline never ran). So the config's local ``_base_`` chain is
   copied to the work dir with the top-level assignments of the task's variables rewritten (``max_epochs``, the
   last-phase length, ``num_classes``, batch size, workers, and any top-level variable a user names in
   ``cfg_options``), then loaded: every value derived from them is computed by the config itself.
   The last phase (YOLOX ``num_last_epochs``, YOLOv5/v8 ``close_mosaic_epochs``, RTMDet ``stage2_num_epochs``)
   keeps its length when it fits in half the run, else it becomes half the run (at least one epoch), so the
   stage-2 pipeline always runs (see :func:`tail_epochs`).
2. **Structure.** Datasets (the SDK's COCO json), classes and ``num_classes`` everywhere in the model, batch
   size and workers, epochs and evaluation interval, checkpointing into scratch space (model stages are written
   by :mod:`ymir_sdk.openmmlab.hooks`), TensorBoard, ``load_from`` from ``pretrained_model_params`` only,
   ``init_cfg`` pretrained weights that would be downloaded removed, schedulers clipped to the run, and finally
   the user's ``cfg_options`` merged last (they win).
"""
from __future__ import annotations

import ast
import copy
import difflib
import glob
import logging
import os
import shlex
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ..errors import ConfigError, ModelError
from .legacy import is_legacy, modern_config

log = logging.getLogger("ymir_sdk")

#: a base config's last-phase lengths (YOLOX, YOLOv5/v8, RTMDet, mmyolo YOLOv7's singular ``num_epoch_stage2``)
TAIL_EPOCH_VARS = ("num_last_epochs", "close_mosaic_epochs", "stage2_num_epochs", "num_epochs_stage2",
                   "num_epoch_stage2")
INF = 10 ** 9


def tail_epochs(tail: int, max_epochs: int) -> int:
    """Length of a base config's last training phase (no mosaic/mix-up) in a run of ``max_epochs``: the base
    value when it fits in half the run, else half the run, and at least one epoch."""
    return max(1, min(int(tail), int(max_epochs) // 2))


# ------------------------------------------------------------------------------------------------ files
def package_config_root(package: str) -> str:
    """The configs folder a released OpenMMLab package installs (``<package>/.mim/configs``)."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the framework package {package} is not installed")
    return os.path.join(list(spec.submodule_search_locations)[0], ".mim", "configs")


def resolve_config_file(name: str, package: str, aliases: Optional[Mapping[str, str]] = None,
                        key: str = "config_file") -> str:
    """A config named by a user: an existing file, or a path inside the package's own configs (with or without
    the leading ``configs/``), or an alias (e.g. the mmdet 2.x file names of the reference images). Else a 300001
    error naming close matches."""
    text = str(name or "").strip()
    if not text:
        raise ConfigError(key, name, f"a config file of {package}")
    if os.path.isfile(text):
        return os.path.abspath(text)
    root = package_config_root(package)
    rel = text[len("configs/"):] if text.startswith("configs/") else text
    rel = (aliases or {}).get(rel, (aliases or {}).get(text, rel))
    if rel.startswith("configs/"):
        rel = rel[len("configs/"):]
    path = os.path.join(root, rel)
    if os.path.isfile(path):
        return path
    known = [os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "*", "*.py"))
             if "_base_" not in p]
    close = difflib.get_close_matches(rel, known + list(aliases or {}), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join('configs/' + c for c in close)}?" if close else ""
    raise ConfigError(key, name, f"an existing file or a config of {package} (configs/<family>/<file>.py){hint}")


def model_name_key(name: Any) -> str:
    """A model name as a table key: case, ``-`` and ``_`` do not matter (``YOLOv8-n`` is ``yolov8_n``)."""
    return str(name or "").strip().lower().replace("-", "_")


def resolve_model_name(name: Any, models: Mapping[str, str], package: str, key: str = "model_name") -> str:
    """The config of a ``model_name`` in an executor's table (model name -> config inside the package),
    deterministically; an unknown name is a 300001 error naming close matches."""
    rel = models.get(model_name_key(name))
    if rel is None:
        close = difflib.get_close_matches(model_name_key(name), list(models), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(key, name, f"one of the {package} models {', '.join(sorted(models))}{hint}")
    return resolve_config_file(rel, package, key=key)


def config_key(path: str, package: str) -> str:
    """A config's name inside its package (``yolox/yolox_tiny_8xb8-300e_coco.py``), the key of an executor's
    weight table; a config outside the package is its own path."""
    root = package_config_root(package)
    path = os.path.abspath(path)
    return os.path.relpath(path, root) if path.startswith(root + os.sep) else path


def _local_bases(path: str) -> List[str]:
    """The ``_base_`` files of a config that live next to it (package-scoped ``pkg::`` bases are left to
    mmengine)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    bases: List[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_base_" for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            bases += [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)]
    return [os.path.normpath(os.path.join(os.path.dirname(path), b)) for b in bases if "::" not in b]


def config_chain(path: str) -> List[str]:
    """The config file and its local base files, recursively (each once)."""
    out: List[str] = []
    todo = [os.path.abspath(path)]
    while todo:
        p = todo.pop(0)
        if p in out:
            continue
        if not os.path.isfile(p):
            raise ConfigError("config_file", path, f"a config whose base files exist ({p} is missing)")
        out.append(p)
        todo += _local_bases(p)
    return out


def _rewrite(text: str, values: Mapping[str, Callable[[Any], Any]], found: Dict[str, Any]) -> str:
    """Replace the right-hand side of top-level ``name = ...`` assignments for the names in ``values`` (each
    a function of the old literal value, None when it is not a literal; returning None leaves it)."""
    tree = ast.parse(text)
    data = text.encode("utf-8")
    starts = [0]
    for line in data.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    edits = []
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        name = node.targets[0].id
        if name not in values:
            continue
        try:
            old = ast.literal_eval(node.value)
        except ValueError:
            old = None
        new = values[name](old)
        if new is None:
            continue
        found[name] = new
        v = node.value
        edits.append((starts[v.lineno - 1] + v.col_offset, starts[v.end_lineno - 1] + v.end_col_offset,
                      repr(new).encode("utf-8")))
    for begin, end, new in sorted(edits, reverse=True):
        data = data[:begin] + new + data[end:]
    return data.decode("utf-8")


def load_config(path: str, variables: Mapping[str, Any], work_dir: str):
    """``Config.fromfile`` of ``path`` with the top-level variables re-assigned at their source (see the module
    docstring). A variable maps to a value or to a function of the base value. Returns the Config."""
    from mmengine.config import Config

    chain = config_chain(path)
    root = os.path.commonpath([os.path.dirname(p) for p in chain])
    os.makedirs(work_dir, exist_ok=True)
    target = tempfile.mkdtemp(dir=work_dir, prefix="config-src-")  # one per process: ranks load concurrently
    funcs = {k: (v if callable(v) else (lambda _old, v=v: v)) for k, v in variables.items()}
    found: Dict[str, Any] = {}
    copy_of = {p: os.path.join(target, os.path.relpath(p, root)) for p in chain}
    for p in chain:
        dest = copy_of[p]

        def relink(old: Any, dest: str = dest) -> Any:
            """absolute ``_base_`` paths point at the rewritten copies too (relative ones do by layout)"""
            items = [old] if isinstance(old, str) else list(old or [])
            out = [os.path.relpath(copy_of[os.path.normpath(b)], os.path.dirname(dest))
                   if isinstance(b, str) and os.path.isabs(b) and os.path.normpath(b) in copy_of else b for b in items]
            return None if out == items else (out[0] if isinstance(old, str) else out)

        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(p, encoding="utf-8") as f:
            text = f.read()
        with open(dest, "w", encoding="utf-8") as f:
            f.write(_rewrite(text, {**funcs, "_base_": relink}, found))
    found.pop("_base_", None)
    if found:
        log.info("config variables set at their source: %s", ", ".join(f"{k}={v!r}" for k, v in found.items()))
    try:
        return Config.fromfile(os.path.join(target, os.path.relpath(os.path.abspath(path), root)))
    except (SyntaxError, NameError, KeyError, TypeError, ValueError, ImportError, AttributeError) as e:
        raise ConfigError("config_file", path, f"a loadable mmengine config ({type(e).__name__}: {e})") from None


# ------------------------------------------------------------------------------------------------ cfg_options
def parse_cfg_options(text: Any, key: str = "cfg_options") -> Dict[str, Any]:
    """``cfg_options`` as mmengine's ``--cfg-options`` takes them (``a.b=1 c=[1,2] d=x,y e='a b'``), split like a
    shell would (never given to one). Values are Python literals where they parse as one, else mmengine's
    ``DictAction`` rules (``a,b`` and ``[a,b]`` lists, true/false/none); unlike ``DictAction``, a quoted string
    keeps its spaces. Anything that does not parse is a 300001 error naming the key."""
    if isinstance(text, dict):
        return dict(text)
    text = "" if text is None else str(text)
    if not text.strip():
        return {}
    try:
        tokens = shlex.split(text)
    except ValueError as e:
        raise ConfigError(key, text, f"key=value pairs separated by spaces ({e})") from None
    out: Dict[str, Any] = {}
    for tok in tokens:
        name, sep, value = tok.partition("=")
        if not sep or not name or any(c.isspace() for c in name) or name.startswith(".") or name.endswith("."):
            raise ConfigError(key, text, f"key=value pairs separated by spaces; {tok!r} is not one")
        try:
            out[name] = _option_value(value)
        except (ValueError, SyntaxError, AssertionError, IndexError, RecursionError) as e:
            # RecursionError: mmengine 0.10.7's DictAction._parse_iterable on ``k=dict(a=1,b=2)``
            raise ConfigError(key, text, f"key=value pairs; the value of {name} does not parse "
                              f"({type(e).__name__ if isinstance(e, RecursionError) else e})") from None
    return out


def check_option_keys(cfg, options: Mapping[str, Any], key: str = "cfg_options") -> None:
    """Every dotted key of ``options`` names something the framework takes, checked before the merge (after it,
    a key that names nothing fails deep in a constructor, as an unexplained error): each part but the last exists
    in the config (dict keys, list indices), and the last exists too or is an argument of the registered class
    its dict builds (``type``), as is a new part under such a dict (what it holds is then the component's own);
    a value replacing one of the config's is of the same kind. Top-level keys (no dot) are the config's
    variables: accepted. Values that reach an import or a registry are checked too (:func:`check_option_values`)."""
    import importlib

    registries = importlib.import_module(f"{cfg.get('default_scope', 'mmdet')}.registry")  # the framework's
    check_option_values(options, registries, key)
    for dotted in options:
        parts = dotted.split(".")
        node: Any = cfg
        for i, part in enumerate(parts[:-1]):
            child = _child(node, part)
            if child is _MISSING and i and _takes(node, part, registries):
                break  # a new argument of the component (e.g. its init_cfg): what it holds is its own
            if child is _MISSING:
                raise ConfigError(key, dotted, f"keys of the config; {'.'.join(parts[:i + 1])} is not one")
            node = child
        else:
            _check_last(node, parts, options[dotted], dotted, key, registries)


def check_option_values(options: Mapping[str, Any], registries=None, key: str = "cfg_options") -> None:
    """The values of ``options`` that mmengine would import or look up, checked without importing anything: each
    ``type`` (an option ending in ``.type``, or a ``type`` inside a dict value) is a name registered in the
    framework's registries - mmengine's ``Registry.get`` would otherwise import any dotted path and build what it
    names (``type='os.system'``); ``default_scope`` names an installed OpenMMLab package (one with a ``registry``
    module); each of ``custom_imports.imports`` an installed module. Anything else is a 300001 naming the key.
    Without ``registries`` (before the config is loaded: top-level values are set at their source) the types
    wait for the check that has them."""
    def check_types(value: Any, where: str) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                at = f"{where}.{k}" if where else str(k)
                if k == "type" and isinstance(v, str) and not _registered(v, registries):
                    raise ConfigError(key, f"{at}={v!r}", "a type registered in the framework's registries")
                check_types(v, at)
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                check_types(v, f"{where}.{i}")

    for dotted, value in options.items():
        if registries is not None:
            parent, _, last = dotted.rpartition(".")
            check_types({last: value}, parent)  # ``a.b.type=X`` is the ``type`` of the dict at ``a.b``
        if dotted == "default_scope" and not (isinstance(value, str) and _module_exists(f"{value}.registry")):
            raise ConfigError(key, f"default_scope={value!r}", "an installed OpenMMLab package (mmdet, mmyolo, "
                              "mmrotate, mmseg...)")
        if dotted.split(".")[0] == "custom_imports":
            imports = value.get("imports") if isinstance(value, Mapping) else value
            for name in [imports] if isinstance(imports, str) else imports or []:
                if not (isinstance(name, str) and _module_exists(name)):
                    raise ConfigError(key, f"{dotted}={value!r}", f"installed modules; {name!r} is not one")


def _module_exists(name: str) -> bool:
    """Whether ``name`` (dotted) is an installed module, found without importing it or its packages."""
    from importlib.machinery import PathFinder

    parts = name.split(".")
    if not all(p.isidentifier() for p in parts):
        return False
    path = None
    for i, part in enumerate(parts):
        spec = PathFinder.find_spec(part, path)
        if spec is None:
            return False
        path = spec.submodule_search_locations
        if path is None and i < len(parts) - 1:
            return False
    return True


def _registered(name: str, registries) -> bool:
    """Whether ``name`` (``Name`` or ``scope.Name``) is registered in one of the registries of the framework's
    ``registries`` module, looked up in their tables only (with their parents for an unscoped name, as mmengine
    looks up; never ``Registry.get``, which imports any dotted path it is given)."""
    import importlib

    from mmengine.registry import Registry

    scope, real = Registry.split_scope_key(name)
    if scope is not None and _module_exists(f"{scope}.registry"):
        importlib.import_module(f"{scope}.registry")  # an installed OpenMMLab package's, as mmengine imports it
    for reg in (r for r in vars(registries).values() if isinstance(r, Registry)):
        node = reg
        if scope is not None and scope != reg.scope:
            node = _scoped(reg._get_root_registry(), scope)
        while node is not None:
            node.import_from_location()
            if real in node.module_dict:
                return True
            node = node.parent if scope is None else None
    return False


def _scoped(root, scope: str):
    """The registry of ``scope`` among ``root``'s descendants (or ``root``), or None."""
    todo = [root]
    while todo:
        node = todo.pop()
        if node.scope == scope:
            return node
        todo.extend(node._children.values())
    return None


def _check_last(node: Any, parts: List[str], value: Any, dotted: str, key: str, registries) -> None:
    """The last part of an option's key: in its dict (with a value of the same kind), or taken by its type."""
    current = _child(node, parts[-1]) if len(parts) > 1 else _MISSING
    if len(parts) > 1 and current is _MISSING and not _takes(node, parts[-1], registries):
        raise ConfigError(key, dotted, f"keys of the config; {'.'.join(parts[:-1])} has no {parts[-1]!r} and its "
                          f"type does not take one")
    if current is not _MISSING and not _same_kind(current, value):
        shown = repr(current) if len(repr(current)) <= 40 else repr(current)[:37] + "..."
        raise ConfigError(key, f"{dotted}={value!r}", f"{_kind(current)}, like the config's {shown}")


_MISSING = object()


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if hasattr(value, "keys"):
        return "a dict"
    return type(value).__name__


def _same_kind(current: Any, new: Any) -> bool:
    """A value may replace the config's own when it is of the same kind (a number for a number, a list for a
    list, a dict for a component...); anything replaces None, and None anything."""
    return current is None or new is None or _kind(current) == _kind(new)


def _child(node: Any, part: str) -> Any:
    if hasattr(node, "keys"):  # a dict, a ConfigDict or the Config itself
        return node.get(part, _MISSING)
    if isinstance(node, (list, tuple)) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
        return node[int(part)]
    return _MISSING


def _takes(node: Any, name: str, registries) -> bool:
    """Whether the class a config dict builds (its ``type``, looked up in the framework's registries module)
    accepts ``name``: a parameter of its constructor, or ``**kwargs``. Unknown types get the benefit of the
    doubt."""
    import inspect

    from mmengine.registry import Registry

    if not hasattr(node, "keys") or "type" not in node:
        return False
    kind = node["type"]
    if isinstance(kind, str):
        found = [r.get(kind) for r in vars(registries).values() if isinstance(r, Registry)]
        found = [c for c in found if c is not None]
        if not found:
            return True
        kind = found[0]
    try:
        params = inspect.signature(kind).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _option_value(value: str) -> Any:
    from mmengine.config import DictAction

    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        pass
    if value[:1] in "[(" or value[-1:] in "])" or "," in value:
        if value.count("[") != value.count("]") or value.count("(") != value.count(")"):
            raise ValueError(f"unbalanced brackets in {value!r}")
        return DictAction._parse_iterable(value)
    return DictAction._parse_int_float_bool(value)


# ------------------------------------------------------------------------------------------------ structure
def _walk(obj: Any, fn: Callable[[dict], None]) -> None:
    if isinstance(obj, dict):
        fn(obj)
        for v in obj.values():
            _walk(v, fn)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _walk(v, fn)


def set_num_classes(model_cfg: dict, n: int) -> None:
    """``num_classes`` of every component of the model (heads, roi heads, assigners)."""
    _walk(model_cfg, lambda d: d.__setitem__("num_classes", n) if "num_classes" in d else None)


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

    _walk(cfg.get("model"), fix)
    if removed:
        log.info("pretrained init weights removed from the model config (no downloads): %s", ", ".join(removed))
    return removed


def pipeline_dataset(ds: Mapping[str, Any]) -> Mapping[str, Any]:
    """The dataset of a loader that holds its pipeline: ``ds`` itself, or the one a wrapper (RepeatDataset,
    MultiImageMixDataset, ...) holds, however deep."""
    while "pipeline" not in ds and isinstance(ds.get("dataset"), Mapping):
        ds = ds["dataset"]
    return ds


def _inner_dataset(ds: dict) -> dict:
    while isinstance(ds.get("dataset"), dict):  # MultiImageMixDataset, RepeatDataset, ClassBalancedDataset
        ds = ds["dataset"]
    return ds


def _replace_dataset(loader: dict, ann_file: str, classes: Sequence[str], test_mode: bool, coco_types) -> None:
    ds = loader["dataset"]
    if isinstance(ds.get("datasets"), list):  # ConcatDataset: our one dataset in the first one's place
        ds = loader["dataset"] = copy.deepcopy(ds["datasets"][0])
    inner = _inner_dataset(ds)
    if inner.get("type") not in coco_types:
        inner["type"] = coco_types[0]
    inner.update(ann_file=ann_file, data_root="", data_prefix=dict(img=""), metainfo=dict(classes=tuple(classes)),
                 test_mode=test_mode)
    if not test_mode:
        inner["filter_cfg"] = dict(filter_empty_gt=False, min_size=0)
    inner.pop("indices", None)


def _edit_schedulers(cfg, by_epoch: bool, edit: Callable[[dict], bool]) -> None:
    """Apply ``edit`` (which changes a scheduler in place and says whether to keep it) to the param schedulers
    that count epochs (``by_epoch``) or iterations; the others stay as they are."""
    sched = cfg.get("param_scheduler")
    if sched is None:
        return
    items = sched if isinstance(sched, list) else [sched]
    keep = [s for s in items if not isinstance(s, dict) or bool(s.get("by_epoch", True)) != by_epoch or edit(s)]
    cfg.param_scheduler = keep if isinstance(sched, list) else (keep[0] if keep else [])


def _clip_schedulers(cfg, max_epochs: int) -> None:
    """Epoch-based param schedulers limited to the run: those starting after it or left empty dropped, ends
    clipped."""

    def clip(s: dict) -> bool:
        begin, end = int(s.get("begin", 0)), s.get("end", INF)
        if begin >= max_epochs:
            return False
        if end is not None and end > max_epochs and end < INF:
            s["end"] = max_epochs
        if s.get("end", INF) is not None and s.get("end", INF) <= begin:
            return False  # an empty phase in a short run (e.g. cosine between a 5-epoch warm-up and the last phase)
        if "T_max" in s and s.get("end", INF) < INF:
            s["T_max"] = max(1, min(int(s["T_max"]), int(s["end"]) - begin))
        return True

    _edit_schedulers(cfg, True, clip)


def is_iter_based(cfg) -> bool:
    train_cfg = cfg.get("train_cfg") or {}
    return "max_iters" in train_cfg or "IterBased" in str(train_cfg.get("type", ""))


def _scale_iter_schedulers(cfg, ratio: float, max_iters: int) -> None:
    """Iteration-based schedulers: ``begin/end/T_max/milestones`` scaled by the run's length over the base
    config's (rounded, at least 1 iteration), then limited to the run."""

    def scale(s: dict) -> bool:
        for k in ("begin", "end", "T_max"):
            if isinstance(s.get(k), int) and 0 < s[k] < INF:
                s[k] = min(max_iters, max(1, round(s[k] * ratio)))
        if isinstance(s.get("milestones"), (list, tuple)):
            s["milestones"] = [max(1, round(m * ratio)) for m in s["milestones"]]
        return s.get("end", INF) > s.get("begin", 0)

    _edit_schedulers(cfg, False, scale)


def _set_loader(loader: dict, batch_size: int, workers: int) -> None:
    loader["batch_size"] = batch_size
    loader["num_workers"] = workers
    loader["persistent_workers"] = workers > 0 and bool(loader.get("persistent_workers", False))
    if workers == 0:
        loader.pop("prefetch_factor", None)


@dataclass
class TrainingSetup:
    """What a task gives a training config (:func:`build_config`)."""

    work_dir: str
    classes: Sequence[str]
    train_json: str
    val_json: str
    batch_size: int
    workers: int
    max_epochs: int
    val_interval: int = 1
    load_from: Optional[str] = None
    cfg_options: Mapping[str, Any] = field(default_factory=dict)
    tensorboard_dir: Optional[str] = None
    #: replace the config's val/test evaluator (none: keep the config's)
    evaluators: Sequence[dict] = ()
    #: the dataset types that read the SDK's COCO json (the first replaces any other type)
    coco_types: Sequence[str] = ("CocoDataset",)
    #: hooks appended to the config's custom_hooks
    custom_hooks: Sequence[dict] = ()
    #: training images (an iteration-based config needs it to count its iterations)
    train_size: int = 0
    #: the model's square input size where the params set one (``img_size``), for the family's config steps
    input_size: Optional[int] = None
    #: a run counted in iterations (mmseg's seed: ``max_iters``): ``max_epochs`` is then unused and
    #: ``val_interval`` counts iterations
    max_iters: Optional[int] = None

    def __post_init__(self) -> None:
        self.cfg_options = dict(self.cfg_options or {})
        top = self.cfg_options.get("max_epochs")
        if isinstance(top, int) and top >= 1:
            self.max_epochs = top  # the user's options win, for the loop and the derived values alike

    @property
    def per_epoch(self) -> int:
        """Iterations per epoch on this run's ranks (0 when the training-set size is unknown)."""
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        return max(1, -(-int(self.train_size) // (self.batch_size * world))) if self.train_size else 0


def rederived_config(config_file: str, setup: TrainingSetup):
    """Step 1 (see the module docstring): the config loaded with the task's top-level variables set at their
    source, and the switch epochs it wrote as literals moved."""
    n, max_epochs = len(setup.classes), setup.max_epochs
    # the batch and worker variables are mmyolo's (its batch-shape policy reads the validation batch size)
    variables: Dict[str, Any] = {"max_epochs": max_epochs, "num_classes": n,
                                 "train_batch_size_per_gpu": setup.batch_size, "train_num_workers": setup.workers,
                                 "val_batch_size_per_gpu": setup.batch_size, "val_num_workers": setup.workers}
    for name in TAIL_EPOCH_VARS:
        variables[name] = (lambda old: tail_epochs(old, max_epochs) if isinstance(old, int) else None)
    variables.update({k: v for k, v in setup.cfg_options.items() if "." not in k})
    cfg = load_config(config_file, variables, setup.work_dir)
    _fix_literal_switches(cfg, load_plain_config(config_file), max_epochs)
    if "model" not in cfg or "train_dataloader" not in cfg:
        raise ConfigError("config_file", config_file, "an mmengine (OpenMMLab 2.x) training config with model and "
                          "train_dataloader")
    if "val_dataloader" not in cfg or cfg.val_dataloader is None:
        raise ConfigError("config_file", config_file, "a config with a val_dataloader (evaluation is how model "
                          "stages are chosen)")
    if is_iter_based(cfg) and not setup.per_epoch and not setup.max_iters:
        raise ConfigError("config_file", config_file, "an epoch-based config (an iteration-based one needs the "
                          "training-set size)")
    return cfg


# Step 2, one transform per concern: each takes (cfg, setup) and edits cfg in place. A family replaces the ones
# that differ for it (see :data:`STEPS`).
def set_classes(cfg, setup: TrainingSetup) -> None:
    """``num_classes`` everywhere in the model (and at the top level); no init weights that would download."""
    set_num_classes(cfg.model, len(setup.classes))
    if "num_classes" in cfg:
        cfg.num_classes = len(setup.classes)
    strip_download_init(cfg)


def set_datasets(cfg, setup: TrainingSetup) -> None:
    """The SDK's COCO json as training and validation data; the test loader validates like the val loader."""
    types = tuple(setup.coco_types)
    _replace_dataset(cfg.train_dataloader, setup.train_json, setup.classes, False, types)
    _set_loader(cfg.train_dataloader, setup.batch_size, setup.workers)
    _replace_dataset(cfg.val_dataloader, setup.val_json, setup.classes, True, types)
    _set_loader(cfg.val_dataloader, setup.batch_size, setup.workers)
    cfg.test_dataloader = copy.deepcopy(cfg.val_dataloader)
    if setup.evaluators:
        cfg.val_evaluator = [dict(e) for e in setup.evaluators]
        cfg.test_evaluator = [dict(e) for e in setup.evaluators]


def set_loop(cfg, setup: TrainingSetup) -> None:
    """``max_epochs`` and the validation interval; schedulers and dynamic intervals fitted to the run; resumable
    checkpoints every validation (in scratch space: model stages are written by the stage hook)."""
    from mmengine.config import ConfigDict

    max_epochs, per_epoch = setup.max_epochs, setup.per_epoch
    interval = max(1, min(int(setup.val_interval), setup.max_iters or max_epochs))
    train_cfg = cfg.get("train_cfg") or ConfigDict(type="EpochBasedTrainLoop")
    if setup.max_iters or is_iter_based(cfg):
        # iterations (mmseg's configs and seed): max_iters, or max_epochs passes over the training set, and the
        # schedule's iteration bounds scaled to that length (its literal 160k-iteration plan would not fit)
        max_iters, step = ((setup.max_iters, interval) if setup.max_iters
                           else (max_epochs * per_epoch, interval * per_epoch))
        base_iters = int(train_cfg.get("max_iters") or max_iters)
        train_cfg = ConfigDict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=step)
        _scale_iter_schedulers(cfg, max_iters / max(1, base_iters), max_iters)
        cfg.log_processor = dict(cfg.get("log_processor") or {}, by_epoch=False)
        by_epoch = False
    else:
        train_cfg.update(type=train_cfg.get("type", "EpochBasedTrainLoop"), max_epochs=max_epochs,
                         val_interval=interval)
        if train_cfg.get("dynamic_intervals"):
            train_cfg["dynamic_intervals"] = [(int(e), max(1, int(i))) for e, i in train_cfg["dynamic_intervals"]
                                              if int(e) < max_epochs]
            if not train_cfg["dynamic_intervals"]:
                train_cfg.pop("dynamic_intervals")
        _clip_schedulers(cfg, max_epochs)
        step, by_epoch = interval, True
    cfg.train_cfg = train_cfg
    cfg.val_cfg = cfg.get("val_cfg") or dict(type="ValLoop")
    cfg.test_cfg = cfg.get("test_cfg") or dict(type="TestLoop")
    hooks = cfg.get("default_hooks") or ConfigDict()
    hooks["checkpoint"] = dict(type="CheckpointHook", interval=step, by_epoch=by_epoch, max_keep_ckpts=1,
                               save_best=None, save_last=True)
    cfg.default_hooks = hooks


def set_hooks(cfg, setup: TrainingSetup) -> None:
    """A log line at most every 50 iterations (and at least once an epoch); the task's custom hooks appended."""
    if setup.per_epoch:
        logger = dict(cfg.default_hooks.get("logger") or dict(type="LoggerHook"))
        logger["interval"] = max(1, min(50, setup.per_epoch))
        cfg.default_hooks["logger"] = logger
    cfg.custom_hooks = list(cfg.get("custom_hooks") or []) + [dict(h) for h in setup.custom_hooks]


def set_visualizer(cfg, setup: TrainingSetup) -> None:
    """TensorBoard scalars into the platform's tensorboard folder."""
    from mmengine.config import ConfigDict

    if not setup.tensorboard_dir:
        return
    vis = cfg.get("visualizer") or ConfigDict(type="Visualizer")
    backends = [b for b in (vis.get("vis_backends") or []) if "Tensorboard" not in str(b.get("type", ""))]
    backends.append(dict(type="TensorboardVisBackend", save_dir=setup.tensorboard_dir))
    vis["vis_backends"] = backends
    cfg.visualizer = vis


def set_runtime(cfg, setup: TrainingSetup) -> None:
    """Weights only from the task (``load_from``), no resuming, scratch work dir, the launcher of this run."""
    cfg.load_from = setup.load_from
    cfg.resume = False
    cfg.work_dir = os.path.join(setup.work_dir, "mmengine")
    _distributed(cfg)


def merge_options(cfg, setup: TrainingSetup) -> None:
    """The user's ``cfg_options`` last (they win), but not to fetch anything: a non-local ``load_from`` is a
    300001 error and URL init weights they add are removed."""
    options = setup.cfg_options
    if not options:
        return
    check_option_keys(cfg, options)
    cfg.merge_from_dict(options)
    if cfg.get("load_from") and not os.path.isfile(str(cfg.load_from)):
        raise ConfigError("cfg_options", options.get("load_from"), "a load_from that is a local file (weights "
                          "come from pretrained_model_params; nothing is downloaded)")
    strip_download_init(cfg)


#: the structural transforms of a training config, in order
STEPS: Tuple[Callable[[Any, TrainingSetup], None], ...] = (
    set_classes, set_datasets, set_loop, set_hooks, set_visualizer, set_runtime, merge_options)


def build_config(config_file: str, setup: Optional[TrainingSetup] = None,
                 steps: Sequence[Callable[[Any, TrainingSetup], None]] = STEPS, **fields: Any):
    """The training config of a task (see the module docstring): :func:`rederived_config`, then each of
    ``steps``. ``setup`` or its fields as keywords."""
    setup = setup or TrainingSetup(**fields)
    check_option_values(setup.cfg_options)  # before the config's source gets the top-level values
    cfg = rederived_config(config_file, setup)
    for step in steps:
        step(cfg, setup)
    return cfg


def load_plain_config(path: str):
    from mmengine.config import Config

    try:
        return Config.fromfile(path)
    except Exception as e:  # noqa: BLE001 - any failure to read the config is a config error
        raise ConfigError("config_file", path, f"a loadable mmengine config ({type(e).__name__}: {e})") from None


def _fix_literal_switches(cfg, base, max_epochs: int) -> None:
    """Switch epochs a config wrote as literals (e.g. mmdet's rtmdet_s: ``switch_epoch=280``) do not follow
    ``max_epochs``: where a hook's ``switch_epoch`` or a ``dynamic_intervals`` epoch is still the base's value,
    it is moved to the same last phase as the re-derived ones (:func:`tail_epochs`); ``num_last_epochs``-style
    hook arguments get :func:`tail_epochs` directly."""
    base_max = (base.get("train_cfg") or {}).get("max_epochs") or base.get("max_epochs")
    if not isinstance(base_max, int) or base_max == max_epochs:
        return

    def moved(epoch: int) -> int:
        return max_epochs - tail_epochs(base_max - epoch, max_epochs) if 0 < epoch < base_max else epoch

    hooks, base_hooks = cfg.get("custom_hooks") or [], base.get("custom_hooks") or []
    for i, hook in enumerate(hooks):
        if not isinstance(hook, dict):
            continue
        for key in TAIL_EPOCH_VARS:
            if isinstance(hook.get(key), int):
                hook[key] = tail_epochs(hook[key], max_epochs)
        same = i < len(base_hooks) and base_hooks[i].get("type") == hook.get("type")
        if same and isinstance(hook.get("switch_epoch"), int) and hook["switch_epoch"] == base_hooks[i]["switch_epoch"]:
            hook["switch_epoch"] = moved(hook["switch_epoch"])
    train_cfg, base_train = cfg.get("train_cfg") or {}, base.get("train_cfg") or {}
    if train_cfg.get("dynamic_intervals") and train_cfg["dynamic_intervals"] == base_train.get("dynamic_intervals"):
        train_cfg["dynamic_intervals"] = [(moved(int(e)), i) for e, i in train_cfg["dynamic_intervals"]]


def _distributed(cfg) -> None:
    """``launcher`` from the torchrun environment; gloo where there is no GPU, and then plain BatchNorm (torch's
    SyncBatchNorm refuses CPU tensors once a process group exists, and mmengine reverts it only in a
    single-process run (mmengine 0.10.7 ``Runner.wrap_model``), while mmyolo 0.6.0's ``YOLODetector`` converts
    to it in every multi-process run (``use_syncbn``)) and a DDP wrapper for CPU modules. The gloo group itself
    is joined by :func:`ymir_sdk.openmmlab.train.run_training` (mmengine's ``init_dist`` selects a CUDA
    device whatever the backend)."""
    import torch

    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        cfg.launcher = "pytorch"
        env_cfg = cfg.get("env_cfg") or {}
        dist_cfg = dict(env_cfg.get("dist_cfg") or {})
        dist_cfg["backend"] = "nccl" if torch.cuda.is_available() else "gloo"
        env_cfg["dist_cfg"] = dist_cfg
        cfg.env_cfg = env_cfg
        if dist_cfg["backend"] == "gloo":
            plain_batchnorm(cfg.model)
            # mmengine 0.10.7 wraps the model in DDP with device_ids=[LOCAL_RANK], which a CPU module refuses
            # (CPU modules take device_ids None); a config's own wrapper settings are kept
            wrapper = dict(cfg.get("model_wrapper_cfg") or {})
            wrapper.setdefault("type", "MMDistributedDataParallel")
            wrapper.setdefault("broadcast_buffers", False)
            wrapper.setdefault("find_unused_parameters", bool(cfg.get("find_unused_parameters", False)))
            wrapper["device_ids"] = None
            cfg.model_wrapper_cfg = wrapper
    else:
        cfg.launcher = "none"


#: detectors that convert themselves to SyncBatchNorm in every multi-process run unless ``use_syncbn=False`` (True
#: by default, and the configs do not write it): mmyolo 0.6.0's YOLODetector, mmdet 3.1.0's RTMDet (also the
#: detector of mmrotate's rotated RTMDet)
SYNCBN_DETECTORS = ("YOLODetector", "RTMDet")


def plain_batchnorm(model_cfg: dict) -> None:
    """Every ``SyncBN`` of a model config as ``BN``, and ``use_syncbn`` off (:data:`SYNCBN_DETECTORS`)."""
    if "use_syncbn" in model_cfg or str(model_cfg.get("type", "")).split(".")[-1] in SYNCBN_DETECTORS:
        model_cfg["use_syncbn"] = False
    _walk(model_cfg, lambda d: d.__setitem__("type", "BN") if d.get("type") in ("SyncBN", "MMSyncBN") else None)


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


def _data_only(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id in ("True", "False", "None")
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(_data_only(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _data_only(k) for k in node.keys) and all(map(_data_only, node.values))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _data_only(node.operand)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        return not node.args and all(k.arg is not None and _data_only(k.value) for k in node.keywords)
    return False


def check_data_only(path: str) -> None:
    """A model's config (the ``.py`` saved with a stage, which mmengine's ``Config.fromfile`` executes) must be
    data, as mmengine's ``Config.dump`` writes it: top-level ``name = value`` lines whose values are literals,
    lists, tuples, dicts and ``dict(...)`` calls. Anything else - an import, another call, an attribute - is a
    300004 naming the file and line: a user's model never runs code."""
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), filename=path)
    except (OSError, SyntaxError, ValueError) as e:
        raise ModelError(f"model config {os.path.basename(path)} cannot be read: {e}") from None
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets)
                and _data_only(node.value)):
            raise ModelError(f"model config {os.path.basename(path)} line {node.lineno} is not data (a model's "
                             f"config holds name = literal lines only, as mmengine dumps them)")


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
