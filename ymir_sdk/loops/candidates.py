"""The batch loop over the candidate index, streaming: the one loop every inference and mining task runs.

Each rank takes its share of the candidates (:func:`ymir_sdk.dist.shard_batches`: decoded and prepared in
DataLoader workers), turns each batch's model outputs into what the task writes of each candidate (its entry of
infer-result.json, its mining score) as soon as the batch is done, and appends that to its own shard file: one
JSON line per candidate, ``[index, 1, payload]``, or ``[index, 0, reason]`` for an image that could not be read
(skipped and logged); a pass that makes several tasks' results keeps each task's part in a file of its own.
Nothing per candidate stays in memory. When every rank is done, rank 0 reads the shards back merged in candidate
order (:meth:`Shards.records`: every candidate exactly once, checked) and the writers of :mod:`ymir_sdk.results`
stream them into the task's outputs (infer-result.json copies each entry's JSON text as the shard holds it).
"""
from __future__ import annotations

import contextlib
import dataclasses
import heapq
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..dist import all_ranks, shard_batches, world
from ..errors import ImageError, NanError, YmirError
from ..dataset.imagesize import image_size
from ..results import mining_score, write_coco_entries, write_detection_entries, write_ranking

log = logging.getLogger("ymir_sdk")


@dataclass
class Shards:
    """The shard files of a finished loop (rank 0's view): ``folder/rank-<r>.jsonl`` for each of ``ranks``."""

    folder: str
    paths: Sequence[str]
    ranks: int
    found: int
    skipped: int
    #: when the last rank finished its last batch (perf_counter)
    finished: float = 0.0
    #: a loop that wrote one part per task (a pass that infers and mines): the part these records give
    part: Optional[int] = None

    def of(self, part: int) -> "Shards":
        """The same loop's part ``part`` (the files stay until the whole's removal)."""
        return dataclasses.replace(self, part=part)

    def files(self) -> List[str]:
        return [shard_file(self.folder, r, self.part) for r in range(self.ranks)]

    def records(self, raw: bool = False) -> Iterator[Tuple[str, bool, Any]]:
        """(path, found, payload or the reason it was skipped) of every candidate exactly once, in candidate
        order: the ranks' shards merged as they are read (each is in index order). ``raw``: each payload as its
        JSON text, not parsed (for a writer that copies it into its output)."""
        expected = 0
        for i, ok, value in heapq.merge(*(_read(f, raw) for f in self.files()), key=lambda r: r[0]):
            if i != expected:
                raise YmirError(f"the shards of {self.folder} hold candidate {i} where {expected} was due")
            expected += 1
            yield self.paths[i], bool(ok), value
        if expected != len(self.paths):
            raise YmirError(f"the shards of {self.folder} hold {expected} of {len(self.paths)} candidates")

    def remove(self) -> None:
        """Deletes the shards once the output is written (and says how long writing took); a part's view leaves
        them to the whole's."""
        if self.part is not None:
            return
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.finished:
            log.info("written %.1f s after the last batch", time.perf_counter() - self.finished)


def shard_folder(ctx, name: str = "results") -> str:
    """The folder of a loop's shards (under the task's scratch space; removed once its output is written)."""
    folder = os.path.join(ctx.work_dir, f"{ctx.task}-{name}")
    os.makedirs(folder, exist_ok=True)
    return folder


def shard_file(folder: str, rank: int, part: Optional[int] = None) -> str:
    return os.path.join(folder, f"rank-{rank}.jsonl" if part is None else f"rank-{rank}.part-{part}.jsonl")


def _read(path: str, raw: bool = False) -> Iterator[list]:
    """A shard's records; ``raw``: a found candidate's payload as its JSON text (the line is ``[i,1,<payload>]``
    as :func:`_write_batch` wrote it: the text between the second comma and the closing bracket)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            a = line.index(",")
            if raw and line[a + 1] == "1":
                yield [int(line[1:a]), 1, line[a + 3:line.rindex("]")]]
            else:
                yield json.loads(line)


def over_candidates(ctx, fn: Callable[[List[Tuple[str, Any]]], Sequence[Any]], load: Callable[[str], Any],
                    batch_size: int = 1, workers: int = 0, pin_memory: bool = False, name: str = "results",
                    progress: Optional[Callable[[float], None]] = None, parts: int = 0) -> Optional[Shards]:
    """``fn`` over the candidates of the task, in batches, streamed to shard files (see the module docstring).

    ``load(path)`` runs in DataLoader workers; an image it cannot read (an ImageError) is skipped and logged
    (the shard says why). Any other failure of ``load`` is a fault of the run, not of the image: the task fails
    with its code; so does a run in which no candidate could be read. ``fn`` gets a batch's ``(path, loaded)``
    pairs and returns one JSON-ready payload for each (with ``parts``: a sequence of that many payloads, one per
    task, each kept in its own shard files: :meth:`Shards.of`). ``progress`` (rank 0) gets the fraction done
    (default: the task's). Returns the shards on rank 0 (None on the others), once every rank is done."""
    paths = ctx.candidates()
    rank, size = world()
    folder = shard_folder(ctx, name)
    done = found = 0
    total = max(1, len(range(rank, len(paths), size)))
    first = None
    last = (time.perf_counter(), 0)  # the previous tenth's report: (when, done)
    with contextlib.ExitStack() as stack:
        outs = [stack.enter_context(open(shard_file(folder, rank, part), "w", encoding="utf-8"))
                for part in (range(parts) if parts else [None])]
        for batch in shard_batches(paths, batch_size, load, workers, pin_memory):
            found += _write_batch(outs, batch, fn, paths, parts)
            done += len(batch)
            if first is None:
                first = (time.perf_counter(), done)
                age = process_age() if rank == 0 else None
                if age is not None:
                    log.info("first batch done %.1f s after the process started", age)
            if rank == 0:
                (progress or ctx.progress)(min(1.0, done / total))
                if done * 10 // total != (done - len(batch)) * 10 // total:  # a tenth of this rank's share
                    now = time.perf_counter()
                    log.info("%d of %d candidates: %.2f ms each since the last tenth", done, total,
                             1000 * (now - last[0]) / (done - last[1]))
                    last = (now, done)
    if rank == 0 and first is not None and done > first[1]:
        seconds = time.perf_counter() - first[0]
        log.info("%d candidates in %.1f s after the first batch: %.2f ms each", done - first[1], seconds,
                 1000 * seconds / (done - first[1]))
    counts = all_ranks((done, found))  # every rank has finished its shard
    found_all = sum(f for _, f in counts)
    if not found_all:
        raise ImageError(f"none of the {len(paths)} candidates could be decoded (first: {paths[0]}); see the log")
    if rank != 0:
        return None
    return Shards(folder, paths, size, found_all, sum(d for d, _ in counts) - found_all, time.perf_counter())


def _write_batch(outs, batch: List[Tuple[int, Any]], fn, paths: Sequence[str], parts: int = 0) -> int:
    """One batch through ``fn``, each candidate's record appended to the shard (with ``parts``, each part to its
    own file of ``outs``; else the whole payload to the one file); returns how many loaded."""
    good = []
    for i, item in batch:
        if isinstance(item, ImageError):
            log.warning("skipping %s: %s", paths[i], " ".join(str(item).split()))
        elif isinstance(item, Exception):
            raise item
        else:
            good.append((i, item))
    results = list(fn([(paths[i], item) for i, item in good])) if good else []
    if len(results) != len(good):
        raise YmirError(f"a batch of {len(good)} candidates gave {len(results)} results")
    by_index = dict(zip((i for i, _ in good), results))
    for k, out in enumerate(outs):
        for i, item in batch:
            record = [i, 1, by_index[i][k] if parts else by_index[i]] if i in by_index else \
                [i, 0, " ".join(str(item).split())]
            try:
                text = json.dumps(record, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
            except ValueError:  # NaN or infinity: the model's outputs were not finite
                raise NanError(f"the result of {paths[i]} is not finite ({record[2]!r}; the model's outputs are "
                               "not)") from None
            out.write(text + "\n")
        out.flush()  # on disk as the batch is done
    return len(good)


def process_age() -> Optional[float]:
    """Seconds since this process started (Linux's /proc; None elsewhere): the fixed cost before a first batch."""
    try:
        with open("/proc/self/stat") as f:
            started = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - started / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def write_scores(ctx, shards: Optional[Shards], to_score: Optional[Callable[[Any], float]] = None,
                 rerank: Optional[Callable[[np.ndarray, np.ndarray], np.ndarray]] = None) -> None:
    """result.tsv from shards whose payloads are mining scores, or become scores by ``to_score`` (rank 0; the
    others return): the scores are read back into one array (8 bytes a candidate, what ranking needs), the
    unreadable candidates listed last. ``rerank``: the payloads are ``[score, key]`` (key a number or None), and
    the ranked scores are ``rerank(scores, keys)`` of the readable candidates (None: NaN), a ranking's second
    stage over the whole pool (CALD's class balance) at 8 more bytes a candidate."""
    if shards is None:
        return
    found = np.zeros(len(shards.paths), dtype=bool)
    scores = np.zeros(len(shards.paths), dtype=np.float64)
    keys = np.full(len(shards.paths), np.nan) if rerank is not None else None
    for k, (path, ok, value) in enumerate(shards.records()):
        if not ok:
            continue
        if keys is not None:
            value, key = value
            keys[k] = np.nan if key is None else mining_score(path, key)
        found[k], scores[k] = True, mining_score(path, value if to_score is None else to_score(value))
    index = np.flatnonzero(found)
    ranked = scores[index] if keys is None else rerank(scores[index], keys[index])
    write_ranking(ctx.env.output.mining_result_file, _Picked(shards.paths, index), ranked,
                  _Picked(shards.paths, np.flatnonzero(~found)), shards.paths)
    log.info("ranked %d candidates (%d unreadable, listed last)", shards.found, shards.skipped)
    shards.remove()


def write_detections(ctx, shards: Optional[Shards]) -> None:
    """infer-result.json from shards whose payloads are detection entries (rank 0; the others return): every
    candidate once, in candidate order, an unreadable one with no boxes."""
    if shards is None:
        return
    entries = ((path, entry if ok else '{"boxes":[]}') for path, ok, entry in shards.records(raw=True))
    images, boxes = write_detection_entries(ctx.env.output.infer_result_file, entries)
    (log.info if boxes else log.warning)("%d boxes on %d images (%d unreadable)", boxes, images, shards.skipped)
    shards.remove()


def write_segmentation(ctx, shards: Optional[Shards]) -> None:
    """The COCO infer-result.json from shards whose payloads are ``[width, height, annotations]`` (rank 0; the
    others return): every candidate once, in candidate order, an unreadable one with no annotation (width and
    height 0 where its size cannot be read either: the platform reads neither)."""
    if shards is None:
        return

    def entries():
        for path, ok, value in shards.records():
            yield (path, *value) if ok else (path, *_size_or_zero(path), [])

    images, annotations = write_coco_entries(ctx.env.output.infer_result_file, entries, ctx.class_names)
    log.info("%d annotations on %d images (%d unreadable)", annotations, images, shards.skipped)
    shards.remove()


def _size_or_zero(path: str) -> Tuple[int, int]:
    try:
        return image_size(path)
    except ImageError:
        return 0, 0


def mine_randomly(ctx, batch_size: int = 64) -> None:
    """``random`` mining: no model; every readable candidate its reproducible random score
    (:func:`ymir_sdk.mining.random_scores`), streamed like any other algorithm's."""
    from ..mining import random_scores

    def check(path):
        image_size(path)  # an unreadable image is skipped, as with a model
        return None

    write_scores(ctx, over_candidates(ctx, lambda items: random_scores([p for p, _ in items]).tolist(), check,
                                      max(64, batch_size)))


class _Picked(Sequence):
    """``paths[index[k]]`` without a list of the picked paths."""

    def __init__(self, paths: Sequence[str], index: np.ndarray):
        self.paths, self.index = paths, index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k):
        return self.paths[int(self.index[k])]


__all__ = ["Shards", "shard_folder", "over_candidates", "write_scores", "mine_randomly", "write_detections",
           "write_segmentation"]
