"""Step 1 of a training config: **re-derivation**. Base configs compute values from their top-level variables
when the file is read (``switch_epoch = max_epochs - num_last_epochs``, ``dynamic_intervals``, stage-2 pipelines,
the param schedulers' ``begin/end/T_max``, ``base_lr * batch``, ...). Setting ``train_cfg.max_epochs`` afterwards
leaves them stale (the reference executors' stage-2 pipeline never ran). So the config's local ``_base_`` chain is
copied to the work dir with the top-level assignments of the task's variables rewritten (``max_epochs``, the
last-phase length, ``num_classes``, batch size, workers, and any top-level variable a user names in
``cfg_options``), then loaded: every value derived from them is computed by the config itself.

The last phase (YOLOX ``num_last_epochs``, YOLOv5/v8 ``close_mosaic_epochs``, RTMDet ``stage2_num_epochs``) keeps
its length when it fits in half the run, else it becomes half the run (at least one epoch), so the stage-2
pipeline always runs (see :func:`tail_epochs`); switch epochs a config wrote as literals are moved the same way
(:func:`fix_literal_switches`)."""
from __future__ import annotations

import ast
import logging
import os
import tempfile
from typing import Any, Callable, Dict, List, Mapping

from ...errors import ConfigError

log = logging.getLogger("ymir_sdk")


#: a base config's last-phase lengths (YOLOX, YOLOv5/v8, RTMDet, mmyolo YOLOv7's singular ``num_epoch_stage2``)
TAIL_EPOCH_VARS = ("num_last_epochs", "close_mosaic_epochs", "stage2_num_epochs", "num_epochs_stage2",
                   "num_epoch_stage2")


def tail_epochs(tail: int, max_epochs: int) -> int:
    """Length of a base config's last training phase (no mosaic/mix-up) in a run of ``max_epochs``: the base
    value when it fits in half the run, else half the run, and at least one epoch."""
    return max(1, min(int(tail), int(max_epochs) // 2))


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


def fix_literal_switches(cfg, base, max_epochs: int) -> None:
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
