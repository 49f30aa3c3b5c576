"""Where a config is and whether it may be read: a config named by a user (a file, a path inside the package's
own configs, an alias, an executor's model name), its key in the weight tables, and the check that a model's saved
config is data before mmengine executes it."""
from __future__ import annotations

import ast
import difflib
import glob
import os
from typing import Any, Mapping, Optional

from ...errors import ConfigError, ModelError


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


def load_plain_config(path: str):
    from mmengine.config import Config

    try:
        return Config.fromfile(path)
    except Exception as e:  # noqa: BLE001 - any failure to read the config is a config error
        raise ConfigError("config_file", path, f"a loadable mmengine config ({type(e).__name__}: {e})") from None


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
