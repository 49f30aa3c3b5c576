"""One reader of what an executor wrote for the platform (the inverse of :mod:`ymir_sdk.results`): monitor.txt,
models/result.yaml, infer-result.json and result.tsv in a task's out folder, read as the platform reads them.
``ymir-sdk verify``, ``run``'s summary, ``simulate`` and ``conformance`` read them here. A reader returns None when
its file is missing; a file that does not parse raises :class:`OutputError` naming it."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

import yaml

from ..errors import YmirError
from ..monitor import read_fields

MONITOR, TRAINING_RESULT, INFER_RESULT, MINING_RESULT = ("monitor.txt", "models/result.yaml", "infer-result.json",
                                                         "result.tsv")


class OutputError(YmirError):
    """An output file that does not parse (its message names the file)."""


class TaskOutput:
    """A task's out folder: ``TaskOutput(out_dir)``, or :meth:`of_work` for a ``ymir-sdk run`` work folder."""

    def __init__(self, root: str):
        self.root = root

    @classmethod
    def of_work(cls, work: str) -> "TaskOutput":
        return cls(os.path.join(work, "out"))

    def path(self, name: str) -> str:
        return os.path.join(self.root, *name.split("/"))

    def _text(self, name: str) -> Optional[str]:
        try:
            with open(self.path(name), encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return None

    # -------------------------------------------------------------------------------------------- monitor
    def monitor(self) -> Optional[str]:
        return self._text(MONITOR)

    def monitor_fields(self) -> List[str]:
        """The first line's fields (task id, timestamp, percent, state, code, message); [] when missing."""
        return read_fields(self.path(MONITOR))

    def failure(self) -> Tuple[int, str]:
        """The error code and message of a failed task's monitor.txt (0 and '' where it names none)."""
        fields = self.monitor_fields()
        code = int(fields[4]) if len(fields) > 4 and fields[4].isdigit() else 0
        return code, fields[5] if len(fields) > 5 else ""

    # -------------------------------------------------------------------------------------------- training
    def training_result(self) -> Optional[Dict[str, Any]]:
        text = self._text(TRAINING_RESULT)
        if text is None:
            return None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise OutputError(f"{TRAINING_RESULT} is not YAML: {e}") from None
        return data if isinstance(data, dict) else {}

    # -------------------------------------------------------------------------------------------- inference
    def infer_result(self) -> Optional[Any]:
        text = self._text(INFER_RESULT)
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError as e:
            raise OutputError(f"{INFER_RESULT} is not valid JSON: {e}") from None

    # -------------------------------------------------------------------------------------------- mining
    def mining_text(self) -> Optional[str]:
        return self._text(MINING_RESULT)

    def mining_rows(self) -> Iterator[Tuple[str, str]]:
        """result.tsv's (asset, score) rows in rank order, streamed (a million-image pool is not held); a missing
        file yields none (:meth:`has` tells)."""
        try:
            f = open(self.path(MINING_RESULT), encoding="utf-8")
        except FileNotFoundError:
            return
        with f:
            for line in f:
                if line.strip():
                    asset, _, score = line.rstrip("\n").partition("\t")
                    yield asset, score

    def has(self, name: str) -> bool:
        return os.path.exists(self.path(name))


def best_stage(result: Dict[str, Any]) -> Tuple[Optional[str], Dict[str, Any]]:
    """A result.yaml's best stage: its name and its entry ({} where the stage is missing)."""
    best = result.get("best_stage_name")
    return best, (result.get("model_stages") or {}).get(best) or {}


def numeric_metrics(stage: Dict[str, Any]) -> Dict[str, float]:
    """A result.yaml stage's metrics (its numbers but the timestamp)."""
    return {k: v for k, v in stage.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
            and k != "timestamp"}
