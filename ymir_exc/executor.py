"""``ymir_exc.executor.Executor`` of the original's 2.x releases: a ``start.py`` that runs one command per task
(``apps``: training, mining, infer; for a mining+inference task mining first), as the public demo executors use
it.

Corrected: a command is split like a shell would split it (quotes kept together) but never given to one; a
command that fails ends the task with state 4 in monitor.txt, a 3000xx code and the command's status named in
its message (the original raised CalledProcessError and left the monitor "running"), and ``start`` returns the
non-zero status instead of 0; progress is written through the SDK's monitor (atomic, never backwards)."""
import logging
import shlex
import subprocess
import sys
from typing import Dict, Optional

from . import monitor
from .util import get_bool, get_merged_config

__all__ = ["Executor"]

DEFAULT_APPS = {"training": "python3 ymir/ymir_training.py", "mining": "python3 ymir/ymir_mining.py",
                "infer": "python3 ymir/ymir_infer.py"}


class Executor:
    def __init__(self, apps: Optional[Dict[str, str]] = None):
        self.apps = dict(apps or DEFAULT_APPS)

    def start(self) -> int:
        """Run the task env.yaml asks for; 0 when every command succeeded, else the failing command's status."""
        logging.basicConfig(stream=sys.stdout, format="%(levelname)-8s: [%(asctime)s] %(message)s",
                            datefmt="%Y%m%d-%H:%M:%S", level=logging.INFO)
        cfg = get_merged_config()
        if cfg.ymir.run_training:
            tasks = ["training"]
        else:
            tasks = [t for t, on in (("mining", cfg.ymir.run_mining), ("infer", cfg.ymir.run_infer)) if on]
        if not tasks:
            logging.warning("no task running")
        for index, task in enumerate(tasks):
            status = self._run(task)
            if status:
                return status
            monitor.reread()  # the command's own process wrote progress there
            monitor.write_monitor_logger(percent=(index + 1) / len(tasks))
        if get_bool(cfg, "ymir_debug", False):
            raise Exception("set ymir_debug to True, just for debug")  # the original's debugging switch, kept
        return 0

    def _run(self, task: str) -> int:
        command = self.apps[task]
        logging.info("%s: %s", task, command)
        status = subprocess.run(shlex.split(command)).returncode
        if status:
            logging.error("%s: %r exited with status %d", task, command, status)
            monitor.report_failed_command(f"{task} command {command!r} exited with status {status}")
        return status
