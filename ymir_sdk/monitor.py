"""Progress and error reporting through ``monitor.txt`` (contract §5.1, §7.3).

Line grammar: ``task_id TAB timestamp TAB percent TAB state TAB code [TAB message]``, then optional free text.
Writes are atomic (temp file + rename), the percent is clamped to [0, 1] and never goes backwards, the timestamp
string always changes (the platform only reacts to a new one), and only the main process of a multi-process run
writes.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Dict, List, Optional, Sequence, Tuple

from .errors import ExecutorState, ReturnCode, one_line
from .io import atomic_write_text

log = logging.getLogger("ymir_sdk")

STAGES = ("preprocess", "task", "postprocess")
DEFAULT_STAGE_WEIGHTS = (1e-5, 0.99998, 1e-5)
STAGE_WEIGHT_VARIABLES = ("PREPROCESS_WEIGHT", "TASK_WEIGHT", "POSTPROCESS_WEIGHT")
MAX_TRACE_LINES = 99  # the platform keeps lines 2..100 as "stack error info"


def read_fields(path: str) -> List[str]:
    """The fields of monitor.txt's first line (task id, timestamp, percent, state, code, message); [] when the
    file is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().rstrip("\n").split("\t")
    except (OSError, UnicodeDecodeError):
        return []


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a torchrun/launch group."""
    return os.environ.get("RANK", "0") in ("", "0")


def stage_weights_from_env() -> Tuple[float, float, float]:
    values = [os.environ.get(v) for v in STAGE_WEIGHT_VARIABLES]
    if not all(values):
        return DEFAULT_STAGE_WEIGHTS
    weights = tuple(float(v) for v in values)  # type: ignore[arg-type]
    total = sum(weights)
    if total <= 0 or min(weights) < 0:
        return DEFAULT_STAGE_WEIGHTS
    return tuple(w / total for w in weights)  # type: ignore[return-value]


def task_spans(tasks: Sequence[str]) -> Dict[str, Tuple[float, float]]:
    """Share [0, 1] between the tasks of one run: mining then inference each get half when both run."""
    n = max(1, len(tasks))
    return {task: (i / n, (i + 1) / n) for i, task in enumerate(tasks)}


class Monitor:
    def __init__(self, path: str, task_id: str, tasks: Sequence[str] = ("task",),
                 stage_weights: Optional[Sequence[float]] = None):
        self.path = path
        self.task_id = "_".join(str(task_id).split()) or "default-task"  # no TAB or newline in column 1
        if self.task_id != task_id:
            log.warning("task_id %r written as %r (the monitor line's columns are TAB-separated)", task_id,
                        self.task_id)
        self.spans = task_spans(tasks)
        self.weights = tuple(stage_weights) if stage_weights else stage_weights_from_env()
        self.percent = 0.0
        self._last_stamp = ""
        self._lock = threading.Lock()

    def _stamp(self) -> str:
        stamp = f"{time.time():.6f}"
        if stamp <= self._last_stamp:
            stamp = f"{float(self._last_stamp) + 1e-6:.6f}"
        self._last_stamp = stamp
        return stamp

    def write(self, percent: float, state: ExecutorState = ExecutorState.RUNNING, code: int = ReturnCode.OK,
              message: str = "", details: str = "") -> None:
        if not is_main_process():
            return
        with self._lock:
            if percent != percent:  # NaN
                percent = self.percent
            self.percent = max(self.percent, min(1.0, max(0.0, float(percent))))
            if state == ExecutorState.RUNNING:
                code, message, details = ReturnCode.OK, "", ""
            fields = [self.task_id, self._stamp(), f"{self.percent:.4f}", str(int(state)), str(int(code))]
            if message:
                fields.append(one_line(message))
            text = "\t".join(fields) + "\n"
            if details:
                lines = [ln.replace("\t", "    ") for ln in details.rstrip("\n").splitlines()]
                text += "\n".join(lines[-MAX_TRACE_LINES:]) + "\n"
            atomic_write_text(self.path, text)

    def progress(self, task: str, fraction: float, stage: str = "task") -> None:
        """Report ``fraction`` (0..1) of ``stage`` of ``task``, mapped onto the whole run's [0, 1]."""
        start, end = self.spans.get(task, (0.0, 1.0))
        index = STAGES.index(stage)
        done = sum(self.weights[:index]) + self.weights[index] * min(1.0, max(0.0, fraction))
        self.write(start + (end - start) * done)

    def finish(self, task: str) -> None:
        self.write(self.spans.get(task, (0.0, 1.0))[1])

    def error(self, code: int, message: str, details: str = "") -> None:
        self.write(self.percent, ExecutorState.ERROR, code, message or "executor failed", details)

    # ---------------------------------------------------------------- the ranks of a multi-process run
    # Only rank 0 writes monitor.txt. Every rank that fails records its error beside it; the launching process
    # reports the first one (the cause: the others often fail because it did) once the group has ended.
    @property
    def ranks_dir(self) -> str:
        return os.path.join(os.path.dirname(os.path.abspath(self.path)), ".ymir-ranks")

    def record_rank_error(self, code: int, message: str, details: str = "") -> None:
        """This rank's failure, for the launching process (a no-op outside a process group)."""
        rank = os.environ.get("RANK", "")
        if rank in ("",) or int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1:
            return
        record = {"time": time.time(), "rank": int(rank), "code": int(code), "message": one_line(message),
                  "details": details[-20000:]}
        atomic_write_text(os.path.join(self.ranks_dir, f"rank{rank}.json"), json.dumps(record))

    def report_group_failure(self, status: int) -> None:
        """After a process group ended with ``status`` != 0: the first failing rank's code and message (state
        4), or a generic error naming the status when no rank could record one (killed)."""
        records = []
        for name in sorted(os.listdir(self.ranks_dir)) if os.path.isdir(self.ranks_dir) else []:
            try:
                with open(os.path.join(self.ranks_dir, name), encoding="utf-8") as f:
                    records.append(json.load(f))
            except (OSError, ValueError):
                continue
        if records:
            first = min(records, key=lambda r: r["time"])
            self.error(first["code"], f"rank {first['rank']}: {first['message']}", first.get("details", ""))
        else:
            code = ReturnCode.OUT_OF_MEMORY if status in (-9, 137) else ReturnCode.CONTAINER_ERROR
            self.error(code, f"the process group ended with status {status} and no rank reported an error")
