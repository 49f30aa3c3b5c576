"""``cfg_options``: parsed as mmengine's ``--cfg-options`` (never by a shell), and checked before the merge: every
key names something the framework takes, every value that would reach an import or a registry names a
registered type or an installed module (a user's string never builds or imports anything else)."""
from __future__ import annotations

import ast
import shlex
from typing import Any, Dict, List, Mapping

from ...errors import ConfigError


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
