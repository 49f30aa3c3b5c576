"""monitor.txt: ``write_monitor_logger``, ``write_monitor_logger_for_multiple_tasks``, ``YmirTask``.

Corrected (contract §6.2): every write is atomic (the platform fails a task on a half-written line); the percent
is kept in [0, 1] and never goes back within a process (the original wrote any number); a running state always
carries code 0. A percent outside [0, 1] is clamped instead of failing an assertion.
"""
import logging
import os
import sys
import time
import traceback
from enum import IntEnum
from typing import Dict, Optional, Tuple, Union

from ymir_sdk.errors import ExecutorState as _State
from ymir_sdk.errors import code_for_exception, one_line
from ymir_sdk.monitor import Monitor, read_fields

from . import env
from .code import ExecutorReturnCode, ExecutorState

log = logging.getLogger("ymir_exc")
_MONITORS: Dict[Tuple[str, str], Monitor] = {}


class YmirTask(IntEnum):
    TRAINING = 1
    MINING = 2
    INFER = 3


_TASK_NAMES = {"training": YmirTask.TRAINING, "mining": YmirTask.MINING, "infer": YmirTask.INFER}


def _monitor() -> Monitor:
    """One Monitor per monitor file and task id in this process, starting from the file's percent."""
    cfg = env.get_current_env()
    key = (cfg.output.monitor_file, cfg.task_id)
    if key not in _MONITORS:
        m = Monitor(cfg.output.monitor_file, cfg.task_id)
        fields = read_fields(cfg.output.monitor_file)
        try:
            if fields[0] == cfg.task_id:
                m.percent = min(1.0, max(0.0, float(fields[2])))
        except (IndexError, ValueError):
            pass
        _MONITORS[key] = m
    return _MONITORS[key]


def write_monitor_logger(percent: float, state: ExecutorState = ExecutorState.ES_RUNNING,
                         return_code: ExecutorReturnCode = ExecutorReturnCode.RC_EXEC_NO_ERROR) -> None:
    """Write the task's progress (``percent`` in [0, 1]) to monitor.txt, atomically."""
    m = _monitor()
    if int(state) == int(ExecutorState.ES_ERROR):
        m.write(float(percent), _State.ERROR, int(return_code) or int(ExecutorReturnCode.RC_CMD_CONTAINER_ERROR),
                f"the executor reported error {int(return_code)}")
    else:
        m.write(float(percent))


def write_monitor_logger_for_multiple_tasks(cfg, task: Union[YmirTask, str], percent: float,
                                            order: str = "tmi") -> None:
    """``percent`` of one task mapped into the run: when mining and inference run in one container, mining has
    [0, 0.5] and inference [0.5, 1] (``order="tim"`` swaps them)."""
    if isinstance(task, str):
        if task not in _TASK_NAMES:
            raise ValueError(f"unsupported task {task!r}: training, mining or infer")
        task = _TASK_NAMES[task]
    if order not in ("tmi", "tim"):
        raise ValueError(f"unsupported order {order!r}: tmi or tim")
    percent = min(1.0, max(0.0, float(percent)))
    ymir = cfg.ymir
    if ymir.run_infer and ymir.run_mining:
        first = YmirTask.MINING if order == "tmi" else YmirTask.INFER
        percent = 0.5 * percent if task == first else 0.5 + 0.5 * percent
    write_monitor_logger(percent=percent)


def report_failed_command(message: str) -> None:
    """A task's command failed: monitor.txt gets state 4 with 160004 and ``message`` - unless the command's own
    process reported its error there already (its code and message name the cause better)."""
    cfg = env.get_current_env()
    fields = read_fields(cfg.output.monitor_file)
    if fields[:1] == [cfg.task_id] and fields[3:4] == [str(int(_State.ERROR))]:
        return
    reread()
    _monitor().error(int(ExecutorReturnCode.RC_CMD_CONTAINER_ERROR), message)


def reread() -> None:
    """Forget this process's view of monitor.txt: another process (a task's command) wrote it since; the next
    write starts from the file's percent (a monitor never goes backwards)."""
    cfg = env.get_current_env()
    _MONITORS.pop((cfg.output.monitor_file, cfg.task_id), None)


def write_tensorboard_text(text: str, tag: Optional[str] = None) -> None:
    """Text into the task's tensorboard folder (tensorboardX, else torch's writer; without either, a text file
    ``<tag>.txt`` there)."""
    out = env.get_current_env().output.tensorboard_dir
    tag = tag or "default"
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            os.makedirs(out, exist_ok=True)
            with open(os.path.join(out, f"{tag}.txt"), "a", encoding="utf-8") as f:
                f.write(text + "\n")
            return
    with SummaryWriter(out) as w:
        w.add_text(tag=tag, text_string=f"```\n {text} \n```", global_step=round(time.time() * 1000))


def write_final_executor_log(tag: Optional[str] = None) -> None:
    """Does nothing (corrected): the original copied the console log into tensorboard, but that log is the
    platform's, which images must not touch; the platform copies its tail itself."""
    log.info("write_final_executor_log: the platform copies the console log itself; nothing to do")


def install_error_hook() -> None:
    """An uncaught exception reaches monitor.txt as state 4, the code ymir-sdk maps it to (300001 config, 300002
    dataset, ..., 160004 other) and a one-line message, before Python's own report. Installed once per process
    when ``ymir_exc`` is imported; only the main process (rank 0) writes."""
    previous = sys.excepthook
    if getattr(previous, "_ymir_exc", False):
        return

    def hook(exc_type, exc, tb):
        try:
            if not issubclass(exc_type, (SystemExit,)):
                m = _monitor()
                message = one_line(getattr(exc, "message", None) or f"{exc_type.__name__}: {exc}")
                m.error(code_for_exception(exc), message, "".join(traceback.format_exception(exc_type, exc, tb)))
        except Exception:  # noqa: BLE001 - no env.yaml, no monitor: Python's report still follows
            pass
        previous(exc_type, exc, tb)

    hook._ymir_exc = True  # type: ignore[attr-defined]
    sys.excepthook = hook
