"""Loading framework checkpoints under PyTorch >= 2.6 (``weights_only=True`` by default).

mmengine and yolov5 checkpoints pickle more than tensors (whole ``nn.Module`` objects, NumPy scalars). Rather
than turning the safety off globally, :func:`allow_checkpoint_classes` allow-lists exactly the classes such a
checkpoint is built from: the ``nn.Module`` subclasses of the given modules and of ``torch.nn``, and NumPy's
array reconstruction.
"""
from __future__ import annotations

import inspect
import pkgutil
from types import ModuleType
from typing import Iterable, List, Set

_REGISTERED: Set[type] = set()


def _module_classes(module: ModuleType) -> List[type]:
    return [obj for _, obj in inspect.getmembers(module, inspect.isclass) if obj.__module__ == module.__name__]


def allow_checkpoint_classes(modules: Iterable[ModuleType] = ()) -> None:
    import numpy as np
    import torch
    import torch.nn.modules as nn_modules

    allowed: List[object] = []
    for info in pkgutil.iter_modules(nn_modules.__path__):
        sub = __import__(f"torch.nn.modules.{info.name}", fromlist=["_"])
        allowed += [c for c in _module_classes(sub) if issubclass(c, torch.nn.Module)]
    for module in modules:
        allowed += [c for c in _module_classes(module) if issubclass(c, torch.nn.Module)]
    allowed += [np.ndarray, np.dtype]
    allowed += [type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool", "uint8")]
    allowed += [np.float64, np.float32, np.int64, np.int32, np.bool_, np.uint8]
    try:
        from numpy._core.multiarray import _reconstruct, scalar
        allowed += [_reconstruct, scalar]
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar  # type: ignore
        allowed += [_reconstruct, scalar]
    import argparse
    import collections
    import pathlib

    allowed += [argparse.Namespace, collections.OrderedDict, set, pathlib.PosixPath, slice]
    new = [a for a in allowed if a not in _REGISTERED]
    torch.serialization.add_safe_globals(new)
    _REGISTERED.update(new)


def load_checkpoint(path: str, map_location: str = "cpu"):
    """``torch.load`` with ``weights_only=True`` and the allow-list above; a file that needs anything else is a
    ModelError naming it."""
    import pickle

    import torch

    from ..errors import ModelError

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"model file not found: {path}") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError) as e:
        raise ModelError(f"model file {path} cannot be loaded: {str(e).splitlines()[0]}") from None
