"""A task's model files: the paths config.yaml names, resolved against the models folder, and the weight file
among them. Used by every executor and framework glue."""
from __future__ import annotations

import logging
import os
import zipfile
from typing import List, Optional, Sequence

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


def check_checkpoint_file(path: str) -> None:
    """A torch checkpoint is a zip archive holding a ``data.pkl`` (``torch.save`` since 1.6) or a pickle stream
    (the legacy format). Anything else - a cut download, an HTML error page, garbage - is a 300004 naming the
    file, found in a few bytes before any framework is imported (the content is still only ever loaded through
    :func:`ymir_sdk.torch.load_checkpoint`)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise ModelError(f"model file {path} cannot be read: {e}") from None
    if head[:2] == b"PK":
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise ModelError(f"model file {path} is not a torch checkpoint (a broken zip archive: {e})") from None
        if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            raise ModelError(f"model file {path} is not a torch checkpoint (a zip archive without data.pkl)")
    elif head[:1] != b"\x80":  # a pickle starts with its PROTO opcode
        raise ModelError(f"model file {path} is not a torch checkpoint (neither a zip archive nor a pickle)")


def check_model_files(paths: Sequence[str], models_dir: str) -> List[str]:
    """:func:`resolve_model_files`, each checkpoint among them checked by :func:`check_checkpoint_file`."""
    files = resolve_model_files(paths, models_dir)
    for path in files:
        if path.lower().endswith(CHECKPOINT_SUFFIXES):
            check_checkpoint_file(path)
    return files


def pick_weight_file(files: Sequence[str], suffixes: Sequence[str] = CHECKPOINT_SUFFIXES, required: bool = True,
                     what: str = "weights") -> Optional[str]:
    """The weight file among a stage's files: one whose name says 'best' first, else the last by name."""
    weights = sorted(f for f in files if f.lower().endswith(tuple(suffixes)))
    if not weights:
        if required:
            raise ModelError(f"no {what} file ({', '.join(suffixes)}) among the model files {list(files)}")
        return None
    best = [f for f in weights if "best" in os.path.basename(f).lower()]
    return (best or weights)[-1]
