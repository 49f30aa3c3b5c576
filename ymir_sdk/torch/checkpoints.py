"""Loading a user's checkpoint without running code from it, on every torch the images run.

mmengine and yolov5 checkpoints pickle more than tensors (whole ``nn.Module`` objects, NumPy scalars, the
training options). Rather than trusting the file, :func:`allow_checkpoint_classes` allow-lists exactly the
classes such a checkpoint is built from: the ``nn.Module`` subclasses of the given modules and of ``torch.nn``,
NumPy's array reconstruction and a few standard types. :func:`load_checkpoint` loads with that list and nothing
else; a file that needs any other global (a pickle payload: ``os.system``, ``builtins.eval``, ...) is a
:class:`~ymir_sdk.errors.ModelError` and nothing from it runs:

- torch >= 2.4 (:data:`~ymir_sdk.torch.compat.SAFE_GLOBALS`): ``torch.load(weights_only=True)`` with the list
  given to ``torch.serialization.add_safe_globals``;
- older torch (the images' 1.8.1 and 1.11.0, where ``weights_only`` cannot take a list): ``torch.load`` with
  ``pickle_module`` = an unpickler whose ``find_class`` resolves only the same list plus the globals torch's
  own serialisation writes (tensor rebuild functions, storage classes, dtypes, ``torch.Size``...).

A framework's own loader (yolov5's ``attempt_load``, mmengine's ``load_checkpoint``) uses plain ``pickle`` on
old torch: every user file passes through :func:`load_checkpoint` before a framework sees it.
"""
from __future__ import annotations

import inspect
import pickle
import pkgutil
import re
from types import ModuleType, SimpleNamespace
from typing import Any, Dict, Iterable, List, Sequence, Set, Tuple, Union

from ..models import python3_global
from .compat import SAFE_GLOBAL_NAMES, SAFE_GLOBALS, at_least

#: (module, qualified name) -> the object a checkpoint may name; filled by :func:`allow_checkpoint_classes`
_ALLOWED: Dict[Tuple[str, str], Any] = {}
#: (object, name) pairs given to torch's own allow-list already (by id: NumPy dtype classes do not compare with
#: others; name "" for an object under its own name)
_REGISTERED: Set[Tuple[int, str]] = set()
Allowed = Union[Any, Tuple[Any, str]]


def _module_classes(module: ModuleType) -> List[type]:
    return [obj for _, obj in inspect.getmembers(module, inspect.isclass) if obj.__module__ == module.__name__]


def _standard_allow_list() -> List[Allowed]:
    """nn.Module classes of ``torch.nn``, NumPy array/scalar reconstruction, and the standard types framework
    checkpoints hold."""
    import argparse
    import collections
    import pathlib

    import numpy as np
    import torch
    import torch.nn.modules as nn_modules

    allowed: List[Allowed] = []
    for info in pkgutil.iter_modules(nn_modules.__path__):
        sub = __import__(f"torch.nn.modules.{info.name}", fromlist=["_"])
        allowed += [c for c in _module_classes(sub) if issubclass(c, torch.nn.Module)]
    allowed += [np.ndarray, np.dtype]
    allowed += [type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool", "uint8")]
    allowed += [np.float64, np.float32, np.int64, np.int32, np.bool_, np.uint8]
    # NumPy's reconstruction functions, under the module name of the NumPy that wrote the file and of this one
    multiarray = getattr(np, "_core", None) or np.core
    for fn in (multiarray.multiarray._reconstruct, multiarray.multiarray.scalar):
        allowed += [(fn, f"numpy.core.multiarray.{fn.__name__}"), (fn, f"numpy._core.multiarray.{fn.__name__}")]
    allowed += [argparse.Namespace, collections.OrderedDict, set, pathlib.PosixPath, slice]
    return allowed


def _torch_serialization_globals() -> Dict[Tuple[str, str], Any]:
    """What ``torch.save`` itself writes into a pickle (allowed by torch's ``weights_only`` loader already; the
    unpickler of older torch needs them listed)."""
    import collections

    import torch
    import torch._utils as tu

    out: Dict[Tuple[str, str], Any] = {}
    for name in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter", "_rebuild_parameter_with_state"):
        if hasattr(tu, name):
            out[("torch._utils", name)] = getattr(tu, name)
    for name in dir(torch):
        obj = getattr(torch, name, None)
        if (name.endswith("Storage") and isinstance(obj, type)) or isinstance(obj, (torch.dtype, torch.layout)):
            out[("torch", name)] = obj
    out[("torch", "Size")] = torch.Size
    out[("torch", "device")] = torch.device
    out[("torch.nn.parameter", "Parameter")] = torch.nn.Parameter
    out[("collections", "OrderedDict")] = collections.OrderedDict
    import _codecs

    out[("_codecs", "encode")] = _codecs.encode  # bytes, as pickle protocol 2 writes them
    return out


def _key(obj: Any, name: str = "") -> Tuple[str, str]:
    if name:
        module, _, attr = name.rpartition(".")
        return module, attr
    return obj.__module__, getattr(obj, "__qualname__", obj.__name__)


def allow_checkpoint_classes(modules: Iterable[ModuleType] = (), extra: Sequence[Allowed] = ()) -> None:
    """Allow the ``nn.Module`` classes of ``modules`` (and ``extra`` objects, or ``(object, "module.name")`` for
    an object a checkpoint names under another module path) in the checkpoints :func:`load_checkpoint` loads,
    besides the standard list. Idempotent."""
    import torch

    allowed = _standard_allow_list()
    for module in modules:
        allowed += [c for c in _module_classes(module) if issubclass(c, torch.nn.Module)]
    allowed += list(extra)
    new: List[Any] = []
    for item in allowed:
        obj, name = item if isinstance(item, tuple) else (item, "")
        _ALLOWED[_key(obj, name)] = obj
        if (id(obj), name) not in _REGISTERED:
            _REGISTERED.add((id(obj), name))
            new.append((obj, name) if name and at_least(SAFE_GLOBAL_NAMES) else obj)
    if new and at_least(SAFE_GLOBALS):
        torch.serialization.add_safe_globals(new)  # an object by its own module path, or by the name given


#: (class, attribute) pairs a checkpoint may reach through ``getattr``: pickle protocol 2 (torch.save's) writes a
#: nested name (a class's function stored on a module: yolov5 7.0's ``Segment.detect = Detect.forward``) as
#: ``builtins.getattr(Detect, 'forward')``; the builtin itself would reach anything (``__globals__``...)
_ATTRIBUTES: Set[Tuple[int, str]] = set()


def _checkpoint_getattr(obj: Any, name: str) -> Any:
    """``builtins.getattr`` as a checkpoint sees it: only the pairs of :func:`allow_checkpoint_attributes`."""
    if (id(obj), name) not in _ATTRIBUTES:
        raise pickle.UnpicklingError(f"the file reads attribute {name!r} of {getattr(obj, '__name__', obj)!r}, "
                                     "which a checkpoint may not")
    return getattr(obj, name)


def allow_checkpoint_attributes(pairs: Iterable[Tuple[type, str]]) -> None:
    """Allow a checkpoint to name these (allow-listed class, attribute) pairs (see :data:`_ATTRIBUTES`)."""
    import torch

    _ATTRIBUTES.update((id(cls), name) for cls, name in pairs)
    if ("builtins", "getattr") not in _ALLOWED:
        _ALLOWED[("builtins", "getattr")] = _checkpoint_getattr
        if at_least(SAFE_GLOBAL_NAMES):
            torch.serialization.add_safe_globals([(_checkpoint_getattr, "builtins.getattr")])


_REFUSED = "which a checkpoint may not hold (only tensors, the framework's model classes and plain data load)"


class _AllowListUnpickler(pickle.Unpickler):
    """An unpickler that resolves only allow-listed globals (the module is not even imported otherwise)."""

    allowed: Dict[Tuple[str, str], Any] = {}

    def find_class(self, module: str, name: str) -> Any:
        module, name = python3_global(module, name)  # Python 2's names, as pickle protocol 2 writes them
        obj = self.allowed.get((module, name))
        if obj is None:
            raise pickle.UnpicklingError(f"the file needs {module}.{name}, {_REFUSED}")
        return obj


def _pickle_module() -> SimpleNamespace:
    """A ``pickle_module`` for ``torch.load`` of torch < 2.4: the allow-list unpickler for every object in the
    file (``load`` is what the legacy format reads its header with)."""
    allowed = {**_torch_serialization_globals(), **_ALLOWED}
    unpickler = type("CheckpointUnpickler", (_AllowListUnpickler,), {"allowed": allowed})

    def load(f, **kwargs):
        return unpickler(f, **kwargs).load()

    return SimpleNamespace(Unpickler=unpickler, load=load, __name__="ymir_sdk_checkpoint_pickle")


def load_checkpoint(path: str, map_location: str = "cpu"):
    """Load a checkpoint allowing only tensors, plain data and the allow-listed classes (see the module
    docstring). A missing file, a truncated one, or one that needs anything else is a ModelError naming it."""
    import torch

    from ..errors import ModelError

    if not _ALLOWED:
        allow_checkpoint_classes()
    try:
        if at_least(SAFE_GLOBALS):
            return torch.load(path, map_location=map_location, weights_only=True)
        return torch.load(path, map_location=map_location, pickle_module=_pickle_module())
    except FileNotFoundError:
        raise ModelError(f"model file not found: {path}") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError, ImportError, KeyError,
            IndexError, TypeError, UnicodeDecodeError) as e:
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if text.startswith("Weights only load failed"):  # torch's own text suggests loading it unsafely: say
            refused = re.search(r"GLOBAL ([\w.]+)", str(e))  # what the file needs, as the loader below 2.4 does
            reason = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", str(e))
            text = (f"the file needs {refused.group(1)}, {_REFUSED}" if refused else
                    reason.group(1).strip() if reason else f"it holds what {_REFUSED}")
        raise ModelError(f"model file {path} cannot be loaded: {text}") from None
