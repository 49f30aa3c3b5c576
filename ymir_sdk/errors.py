"""Executor return codes (contract §1.4) and the typed errors that carry them.

Every failure an executor reports goes through one of these exceptions: the entry point
(:func:`ymir_sdk.executor.run`) turns it into monitor state 4, the code in column 5, a one-line message in
column 6 and a non-zero exit status.
"""
from __future__ import annotations

from enum import IntEnum
from typing import Any, Optional


class ExecutorState(IntEnum):
    """Column 4 of monitor.txt. Executors only ever write RUNNING or ERROR."""

    RUNNING = 2
    ERROR = 4


class ReturnCode(IntEnum):
    """Column 5 of monitor.txt (YMIR >= 2.3 uses it as the task error code)."""

    OK = 0
    CONFIG_ERROR = 300001
    DATASET_ERROR = 300002
    IMAGE_ERROR = 300003
    MODEL_ERROR = 300004
    OBJECT_TYPE_ERROR = 300005
    CUDA_ERROR = 300101
    NO_GPU = 300102
    OUT_OF_MEMORY = 300103
    NAN_ERROR = 300201
    NETWORK_ERROR = 300301
    CONTAINER_ERROR = 160004


class YmirError(Exception):
    """Base class: an error with a YMIR return code and a one-line message."""

    code: ReturnCode = ReturnCode.CONTAINER_ERROR

    def __init__(self, message: str, code: Optional[int] = None):
        super().__init__(message)
        if code is not None:
            self.code = ReturnCode(code)

    @property
    def message(self) -> str:
        return one_line(str(self))


class ConfigError(YmirError):
    """300001: a config/env key is missing or has a bad value. Names the key, the value and what was expected."""

    code = ReturnCode.CONFIG_ERROR

    def __init__(self, key: str, value: Any = None, expected: str = "", *, message: Optional[str] = None):
        self.key, self.value, self.expected = key, value, expected
        if message is None:
            message = f"config key '{key}' = {value!r}: expected {expected}" if expected else f"config key '{key}'"
        super().__init__(message)


class DatasetError(YmirError):
    code = ReturnCode.DATASET_ERROR


class ImageError(YmirError):
    code = ReturnCode.IMAGE_ERROR


class ModelError(YmirError):
    code = ReturnCode.MODEL_ERROR


class ObjectTypeError(YmirError):
    code = ReturnCode.OBJECT_TYPE_ERROR


class NoGpuError(YmirError):
    code = ReturnCode.NO_GPU


class NanError(YmirError):
    code = ReturnCode.NAN_ERROR


class ContractError(YmirError):
    """An output about to be written breaks the platform contract (a bug in the executor, not in the input)."""

    code = ReturnCode.CONTAINER_ERROR


def one_line(text: str, limit: int = 500) -> str:
    """Collapse text to one line (column 6 of monitor.txt must not contain TAB or newline)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: (return code, words of a framework's message) for the failures that carry no type of their own: OpenCV and
#: CUDA report them as cv2.error / RuntimeError with these words
_MESSAGES = (
    (ReturnCode.OUT_OF_MEMORY, ("out of memory", "insufficient memory", "failed to allocate",
                                "cannot allocate memory")),
    (ReturnCode.NO_GPU, ("no cuda gpus are available", "found no nvidia driver", "invalid device ordinal",
                         "invalid cuda", "torch not compiled with cuda", "cuda unavailable")),
    (ReturnCode.CUDA_ERROR, ("cuda driver version is insufficient", "cuda error", "cudnn_status")),
)


def code_for_exception(exc: BaseException) -> ReturnCode:
    """The return code for any exception, in one place for training, inference and mining: typed errors carry
    theirs; memory errors are 300103; well-known framework failures are mapped by their message."""
    if isinstance(exc, YmirError):
        return exc.code
    if isinstance(exc, MemoryError):
        return ReturnCode.OUT_OF_MEMORY
    text = f"{type(exc).__name__}: {exc}".lower()
    for code, words in _MESSAGES:
        if any(w in text for w in words):
            return code
    return ReturnCode.CONTAINER_ERROR
