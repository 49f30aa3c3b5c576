"""Index files (contract §4.2): ``train/val-index.tsv`` hold ``<image>\\t<annotation>`` per line,
``candidate-index.tsv`` one image path per line. Blank lines, CRLF endings and a UTF-8 byte-order mark are
tolerated."""
from __future__ import annotations

import os
from typing import Iterator, List, Tuple

from ..errors import ConfigError, DatasetError


#: the env.yaml key of each index
ENV_KEYS = {"training": "input.training_index_file", "validation": "input.val_index_file",
            "candidate": "input.candidate_index_file"}


def _lines(path: str, what: str) -> Iterator[str]:
    """The index's lines as they are read (an index of a million lines is never held twice: as text, then as
    paths)."""
    if not path:
        raise ConfigError(ENV_KEYS.get(what, what), path, message=f"env.yaml names no {what} index file "
                          f"({ENV_KEYS.get(what, what)})")
    try:
        with open(path, encoding="utf-8-sig") as f:  # a byte-order mark is not part of the first path
            for ln in f:
                yield ln.strip("\r\n")
    except FileNotFoundError:
        raise DatasetError(f"{what} index file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{what} index file {path} is unreadable: {e}") from None


def read_pairs(path: str, what: str = "training", allow_empty: bool = False) -> List[Tuple[str, str]]:
    """(image, annotation) pairs of a training or validation index."""
    pairs = []
    for no, line in enumerate(_lines(path, what), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2 or not parts[0].strip():
            raise DatasetError(f"{what} index {path} line {no}: expected '<image>\\t<annotation>', got {line!r}")
        pairs.append((parts[0].strip(), parts[1].strip()))
    if not pairs and not allow_empty:
        raise DatasetError(f"{what} dataset is empty: {path} lists no images")
    return pairs


def read_candidates(path: str, allow_empty: bool = False) -> List[str]:
    """Image paths of a candidate index (mining/inference), in file order, duplicates removed."""
    seen, out = set(), []
    for line in _lines(path, "candidate"):
        image = line.split("\t", 1)[0].strip()
        if image and image not in seen:
            seen.add(image)
            out.append(image)
    if not out and not allow_empty:
        raise DatasetError(f"candidate dataset is empty: {path} lists no images")
    return out


def basename_key(path: str) -> str:
    """The key the platform uses for an image in results: its basename."""
    return os.path.basename(path)
