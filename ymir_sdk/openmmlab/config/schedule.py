"""The param schedulers fitted to a run: epoch-based ones clipped to its epochs, iteration-based ones scaled to
its iterations."""
from __future__ import annotations

from typing import Callable


INF = 10 ** 9


def _edit_schedulers(cfg, by_epoch: bool, edit: Callable[[dict], bool]) -> None:
    """Apply ``edit`` (which changes a scheduler in place and says whether to keep it) to the param schedulers
    that count epochs (``by_epoch``) or iterations; the others stay as they are."""
    sched = cfg.get("param_scheduler")
    if sched is None:
        return
    items = sched if isinstance(sched, list) else [sched]
    keep = [s for s in items if not isinstance(s, dict) or bool(s.get("by_epoch", True)) != by_epoch or edit(s)]
    cfg.param_scheduler = keep if isinstance(sched, list) else (keep[0] if keep else [])


def clip_schedulers(cfg, max_epochs: int) -> None:
    """Epoch-based param schedulers limited to the run: those starting after it or left empty dropped, ends
    clipped."""

    def clip(s: dict) -> bool:
        begin, end = int(s.get("begin", 0)), s.get("end", INF)
        if begin >= max_epochs:
            return False
        if end is not None and end > max_epochs and end < INF:
            s["end"] = max_epochs
        if s.get("end", INF) is not None and s.get("end", INF) <= begin:
            return False  # an empty phase in a short run (e.g. cosine between a 5-epoch warm-up and the last phase)
        if "T_max" in s and s.get("end", INF) < INF:
            s["T_max"] = max(1, min(int(s["T_max"]), int(s["end"]) - begin))
        return True

    _edit_schedulers(cfg, True, clip)


def is_iter_based(cfg) -> bool:
    train_cfg = cfg.get("train_cfg") or {}
    return "max_iters" in train_cfg or "IterBased" in str(train_cfg.get("type", ""))


def scale_iter_schedulers(cfg, ratio: float, max_iters: int) -> None:
    """Iteration-based schedulers: ``begin/end/T_max/milestones`` scaled by the run's length over the base
    config's (rounded, at least 1 iteration), then limited to the run."""

    def scale(s: dict) -> bool:
        for k in ("begin", "end", "T_max"):
            if isinstance(s.get(k), int) and 0 < s[k] < INF:
                s[k] = min(max_iters, max(1, round(s[k] * ratio)))
        if isinstance(s.get("milestones"), (list, tuple)):
            s["milestones"] = [max(1, round(m * ratio)) for m in s["milestones"]]
        return s.get("end", INF) > s.get("begin", 0)

    _edit_schedulers(cfg, False, scale)
