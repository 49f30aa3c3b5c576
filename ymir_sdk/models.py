"""A task's model files: the paths config.yaml names, resolved against the models folder, and the weight file
among them. Used by every executor and framework glue."""
from __future__ import annotations

import logging
import os
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


def pick_weight_file(files: Sequence[str], suffixes: Sequence[str] = (".pt", ".pth"), required: bool = True,
                     what: str = "weights") -> Optional[str]:
    """The weight file among a stage's files: one whose name says 'best' first, else the last by name."""
    weights = sorted(f for f in files if f.lower().endswith(tuple(suffixes)))
    if not weights:
        if required:
            raise ModelError(f"no {what} file ({', '.join(suffixes)}) among the model files {list(files)}")
        return None
    best = [f for f in weights if "best" in os.path.basename(f).lower()]
    return (best or weights)[-1]
