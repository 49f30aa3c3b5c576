"""Atomic file writes: every output goes to a temporary file in the same folder and is renamed into place,
so a reader (the platform's monitor polls every 20 s) never sees a half-written file."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from typing import Any, Iterator, Union

import yaml

PathLike = Union[str, "os.PathLike[str]"]


@contextlib.contextmanager
def atomic_output(path: PathLike, mode: int = 0o666) -> Iterator[str]:
    """A temporary path in ``path``'s folder for any writer (``torch.save``, a copy, an exporter): when the block
    ends without error the file is renamed to ``path`` (readable by the platform's uid), else removed. A reader
    sees the old file or the new one, never a part: the rule for every file result.yaml lists."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        # mkstemp creates 0600; the platform (another uid in some deployments) must read our outputs.
        os.chmod(tmp, mode & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_bytes(path: PathLike, data: bytes, mode: int = 0o666) -> None:
    with atomic_output(path, mode) as tmp, open(tmp, "wb") as f:
        f.write(data)


def atomic_write_text(path: PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_yaml(path: PathLike, data: Any) -> None:
    atomic_write_text(path, yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


def atomic_write_json(path: PathLike, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")))


def read_yaml_mapping(path: PathLike, what: str) -> dict:
    """A YAML file that must hold a mapping (``what``: 'env' or 'config'); an empty file is an empty mapping.
    Anything else is a 300001 error naming the file."""
    from .errors import ConfigError

    key = f"{what}.yaml"
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(key, path, message=f"{what} file not found: {path}") from None
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(key, path, message=f"{what} file {path} is unreadable: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(key, path, message=f"{what} file {path} is not a YAML mapping")
    return data


def _read_umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


_UMASK = _read_umask()


def link_or_copy(src: str, dest: str, replace: bool = True) -> None:
    """Hard-link ``src`` at ``dest``, or copy it where a link cannot be made (another file system); the folder is
    made. An existing ``dest`` is replaced (``replace``) or kept. No shell involved."""
    if os.path.abspath(src) == os.path.abspath(dest):
        return
    if os.path.lexists(dest):
        if not replace:
            return
        os.unlink(dest)
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)
