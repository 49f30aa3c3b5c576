"""Pretrained weights inside an image: fetched and verified when the image is built, found at run time.

An executor lists the official pretrained weights of every model its templates offer
(``Executor.pretrained_weights``: model key -> URL) and says how to recognise each (``Executor.check_weights``).
At build time ``python3 -m ymir_sdk weights executors.<name> --fetch`` downloads each into the weights folder and
verifies it: the sha256 prefix where the file name carries one (OpenMMLab names end ``-<sha256[:8]>.pth``), and
for every file a load through :func:`ymir_sdk.torch.load_checkpoint` that confirms it is the named model; a
truncated or wrong file fails the build. At run time a training with no pretrained model chosen starts from the
matching file there (:meth:`ymir_sdk.executor.Context.initial_weights`); nothing is downloaded then.

The folder is ``$YMIR_WEIGHTS_DIR`` (the images set it to ``/weights``), so tests use a folder they fill.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import urllib.parse
import urllib.request
from typing import List, Mapping, Optional

from .errors import ModelError

log = logging.getLogger("ymir_sdk")
WEIGHTS_ENV = "YMIR_WEIGHTS_DIR"
DEFAULT_WEIGHTS_DIR = "/weights"
#: OpenMMLab's file names end in the first 8 hex digits of the file's sha256
_SHA_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.pth?$")


def weights_dir() -> str:
    return os.environ.get(WEIGHTS_ENV) or DEFAULT_WEIGHTS_DIR


def file_name(url: str) -> str:
    """The name a weight file has in the weights folder: the last part of its URL."""
    return os.path.basename(urllib.parse.urlparse(url).path)


def image_weights(table: Mapping[str, str], key: str) -> Optional[str]:
    """The image's pretrained file for ``key`` (a model name or config of the executor's table), if the table
    lists one and the weights folder holds it."""
    url = table.get(key)
    if not url:
        return None
    path = os.path.join(weights_dir(), file_name(url))
    return path if os.path.isfile(path) else None


def sha256_prefix(path: str) -> Optional[str]:
    """The sha256 prefix a file's name promises, if it carries one."""
    m = _SHA_IN_NAME.search(os.path.basename(path))
    return m.group(1) if m else None


def check_sha256(path: str) -> None:
    """A file whose name carries a sha256 prefix must have that hash (a truncated download does not)."""
    want = sha256_prefix(path)
    if want is None:
        return
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if not h.hexdigest().startswith(want):
        raise ModelError(f"{os.path.basename(path)}: sha256 {h.hexdigest()[:len(want)]} does not match the "
                         f"{want} its name promises (truncated or another file)")


def fetch(url: str, folder: str, timeout: float = 600.0) -> str:
    """Download ``url`` into ``folder`` unless it is there already; the file appears whole or not at all."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, file_name(url))
    if os.path.isfile(path):
        return path
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".fetch-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310
            for block in iter(lambda: resp.read(1 << 20), b""):
                out.write(block)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    log.info("fetched %s", path)
    return path


def verify_weights(executor, folder: Optional[str] = None, do_fetch: bool = False,
                   only: Optional[List[str]] = None) -> List[str]:
    """Fetch (optionally) and verify each of the executor's pretrained files in ``folder`` (default: the
    weights folder). Returns one line per problem; empty when every file is the model it is listed for."""
    folder = folder or weights_dir()
    problems: List[str] = []
    table = dict(executor.pretrained_weights)
    unknown = sorted(set(only or ()) - set(table))
    problems += [f"{key}: not in {executor.name}'s weight table" for key in unknown]
    for key, url in sorted(table.items()):
        if only and key not in only:
            continue
        path = os.path.join(folder, file_name(url))
        try:
            if do_fetch:
                fetch(url, folder)
            if not os.path.isfile(path):
                raise ModelError(f"{path} is missing (fetch it from {url})")
            check_sha256(path)
            executor.check_weights(key, path)
        except ModelError as e:
            problems.append(f"{key}: {e.message}")
        except OSError as e:  # a failed download
            problems.append(f"{key}: {url}: {e}")
        else:
            log.info("%s: %s verified", key, path)
    return problems
