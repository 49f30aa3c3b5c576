"""Timing shared by the benchmark scripts."""
import time


def best_time(fn, repeat: int = 2) -> float:
    """The best wall time of ``repeat`` calls (the least disturbed by the rest of the machine)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
