"""A task's model files: the paths config.yaml names, resolved against the models folder, and the weight file
among them. Used by every executor and framework glue."""
from __future__ import annotations

import _compat_pickle
import json
import logging
import os
import pickletools
import zipfile
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from .errors import ModelError

log = logging.getLogger("ymir_sdk")


def resolve_model_files(paths: Sequence[str], models_dir: str) -> List[str]:
    """Existing files for the given model paths. A path that does not exist is looked up by basename under
    ``models_dir`` (the platform extracts legacy packages flat while config.yaml names ``<stage>/<file>``)."""
    out = []
    for p in paths:
        if os.path.isfile(p):
            out.append(p)
            continue
        name = os.path.basename(p)
        found = None
        for root, _, files in os.walk(models_dir):
            if name in files:
                found = os.path.join(root, name)
                break
        if found is None:
            raise ModelError(f"model file not found: {p}")
        log.warning("model file %s not found; using %s", p, found)
        out.append(found)
    return out


#: the suffixes of torch checkpoints (checked by :func:`check_checkpoint_file`)
CHECKPOINT_SUFFIXES = (".pt", ".pth")


#: globals that run code or reach the system, which no checkpoint holds: a file naming one is refused by
#: :func:`check_checkpoint_file` before any framework is imported (a quick answer, not the guarantee: the loader,
#: :func:`ymir_sdk.torch.load_checkpoint`, allows only its own list, so anything missing here is refused there)
CODE_MODULES = frozenset({"os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "runpy", "pty",
                          "code", "codeop", "ctypes", "pickle", "marshal", "types", "webbrowser", "multiprocessing",
                          "signal", "pdb", "timeit", "commands", "operator", "functools", "inspect", "io"})
CODE_BUILTINS = frozenset({"eval", "exec", "compile", "__import__", "open", "breakpoint", "input", "globals",
                           "locals", "vars", "setattr", "delattr", "exit", "quit", "execfile", "apply", "print"})


def python3_global(module: str, name: str) -> Tuple[str, str]:
    """A global a pickle names, under its Python 3 name: pickle protocol 2 (torch.save's) writes Python 2's
    (``__builtin__.set``, ``cPickle``), mapped the way pickle itself does. Used by :func:`pickle_globals` and
    by the checkpoint loader's allow-list."""
    module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def pickle_globals(data: bytes) -> Iterator[Tuple[str, str]]:
    """The (module, name) pairs a pickle stream names (:func:`python3_global`), read from its opcodes (nothing
    is unpickled): ``GLOBAL`` and ``INST`` carry theirs, ``STACK_GLOBAL`` takes the two strings on top of the
    stack (pushed, or fetched from the memo)."""
    memo: dict = {}
    pushed: List[Optional[str]] = []  # what each push put on the stack: the string, or None for anything else
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("GLOBAL", "INST"):
            module, _, name = str(arg).partition(" ")
            yield python3_global(module, name)
            pushed.append(None)
        elif op.name == "STACK_GLOBAL":
            if len(pushed) >= 2 and pushed[-2] is not None and pushed[-1] is not None:
                yield python3_global(pushed[-2], pushed[-1])  # type: ignore[arg-type]
            pushed.append(None)
        elif op.name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif op.name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = pushed[-1] if pushed else None
        elif op.name in ("GET", "BINGET", "LONG_BINGET"):
            pushed.append(memo.get(arg))
        elif op.stack_after and not op.stack_before:  # a push of a constant
            pushed.append(arg if isinstance(arg, str) else None)
        elif op.stack_after:
            pushed.append(None)


def check_checkpoint_file(path: str) -> None:
    """A torch checkpoint is a zip archive holding a ``data.pkl`` (``torch.save`` since 1.6) or a pickle stream
    (the legacy format). Anything else - a cut download, an HTML error page, garbage - is a 300004 naming the
    file, found in a few bytes before any framework is imported; so is a ``data.pkl`` that names a global of
    :data:`CODE_MODULES` or :data:`CODE_BUILTINS` (a pickle payload). The content is still only ever loaded
    through :func:`ymir_sdk.torch.load_checkpoint`, which allows only its own list."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise ModelError(f"model file {path} cannot be read: {e}") from None
    if head[:2] == b"PK":
        try:
            with zipfile.ZipFile(path) as z:
                pickles = [n for n in z.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
                data = z.read(pickles[0]) if pickles else b""
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise ModelError(f"model file {path} is not a torch checkpoint (a broken zip archive: {e})") from None
        if not pickles:
            raise ModelError(f"model file {path} is not a torch checkpoint (a zip archive without data.pkl)")
        try:
            for module, name in pickle_globals(data):
                if module.split(".")[0] in CODE_MODULES or (module == "builtins" and name in CODE_BUILTINS):
                    raise ModelError(f"model file {path} names {module}.{name}, which a checkpoint may not hold "
                                     "(only tensors, the framework's model classes and plain data load)")
        except ValueError as e:  # pickletools: an opcode it does not know, or a cut stream
            raise ModelError(f"model file {path} is not a torch checkpoint (its data.pkl does not parse: {e})") \
                from None
    elif head[:1] != b"\x80":  # a pickle starts with its PROTO opcode
        raise ModelError(f"model file {path} is not a torch checkpoint (neither a zip archive nor a pickle)")


def check_model_files(paths: Sequence[str], models_dir: str) -> List[str]:
    """:func:`resolve_model_files`, each checkpoint among them checked by :func:`check_checkpoint_file`."""
    files = resolve_model_files(paths, models_dir)
    for path in files:
        if path.lower().endswith(CHECKPOINT_SUFFIXES):
            check_checkpoint_file(path)
    return files


#: a stage's training state for ``--resume`` (the latest stage of an OpenMMLab training carries it): never the
#: stage's weights
RESUME_FILE = "resume.pth"


def pick_weight_file(files: Sequence[str], suffixes: Sequence[str] = CHECKPOINT_SUFFIXES, required: bool = True,
                     what: str = "weights") -> Optional[str]:
    """The weight file among a stage's files: one whose name says 'best' first, else the last by name (the
    training state, :data:`RESUME_FILE`, is not a weight file)."""
    weights = sorted(f for f in files if f.lower().endswith(tuple(suffixes)) and os.path.basename(f) != RESUME_FILE)
    if not weights:
        if required:
            raise ModelError(f"no {what} file ({', '.join(suffixes)}) among the model files {list(files)}")
        return None
    best = [f for f in weights if "best" in os.path.basename(f).lower()]
    return (best or weights)[-1]


def read_class_counts(files: Sequence[str]) -> Optional[Dict[str, Any]]:
    """The class counts of the set a model was trained on (its stage's :data:`~ymir_sdk.results.CLASS_COUNTS`:
    ``{"images": n, "objects": {class: objects}}``), or None where the stage has none (a model another image or an
    older one trained); a file that holds no such counts is a :class:`ModelError` naming it."""
    from .results import CLASS_COUNTS

    path = next((f for f in files if os.path.basename(f) == CLASS_COUNTS), None)
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            counts = json.load(f)
        images, objects = counts["images"], counts["objects"]
        if type(images) is int and images >= 0 and isinstance(objects, dict) and all(
                isinstance(k, str) and type(v) is int and v >= 0 for k, v in objects.items()):
            return {"images": images, "objects": dict(objects)}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    raise ModelError(f"model file {path}: not a training's class counts "
                     "({\"images\": n, \"objects\": {class: count}})")
