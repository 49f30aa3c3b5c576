"""``ymir-sdk simulate``: an offline active-learning loop that shows which mining algorithm pays, on the user's own
data.

The dataset's training images are split (seeded) into a labelled start set and an unlabelled pool; the
validation split stays held out. Each round, for each algorithm: a training task on the labelled set, run
exactly as the platform would run it (:mod:`ymir_sdk.tools.runner`: index files, the export format, env.yaml, the
template's config.yaml), its validation metric read from result.yaml; then a mining task over the pool with that
model, the pool's labels withheld (its images are laid out as candidates without annotations), and the top
``budget`` images "labelled": moved, with their ground truth, into the labelled set. ``random`` - picking
``budget`` pool images uniformly, seeded - is always included as the baseline; it needs no mining task.

Rules where the issue is silent (chosen here, documented for users):

* the start set is the same for every algorithm of a repeat (repeat ``s`` draws it with seed ``seed + s``), so
  round 0's training is run once per repeat and shared by every algorithm; the training settings (``--set``)
  are the same for every task of the simulation;
* the start set is class-stratified where boxes allow: first, for each class from the rarest, one image holding
  it, until every class is covered or the start set is full; then images drawn at random;
* images with the same bytes are one asset on the platform: the pool keeps one of them;
* ``--set KEY=VALUE`` goes to each task whose template has KEY (a key of neither template is an error: a typo);
  ``mining_algorithm`` is the simulator's own;
* training starts from scratch (or the image's pretrained weights) every round; ``--model TRAINED_WORKDIR`` (a
  finished training's work folder, its best stage) starts every round's training from that model instead, as a
  user's first rounds on the platform start from a model they chose; ``--warm-start`` starts round ``t``'s
  training from the same algorithm's model of round ``t - 1`` (round 0 from ``--model`` where given).

State lives in WORKDIR: ``plan.json`` (arguments, start sets, pools), one folder per task with a ``done.json``
written (atomically) only once the task has finished and its outputs were read. Running the same command again
resumes: finished tasks are kept, a task without ``done.json`` (interrupted half-way) is laid out again and
redone. ``curves.csv``, ``curves.json``, ``curves.png`` and ``summary.txt`` are rewritten atomically after
every training, so an interrupted run leaves complete files describing what finished.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import ConfigError, DatasetError, ReturnCode, YmirError
from ..io import atomic_output, atomic_write_json, atomic_write_text
from ..mining.base import ALGORITHMS
from .localdata import LocalDataset, LocalImage, read_dataset
from .outputs import TRAINING_RESULT, TaskOutput, best_stage, numeric_metrics
from .runner import ExecutorSpec, file_sha1, execute, find_executor, lay_out, model_result_file, read_templates

log = logging.getLogger(__name__)

#: the validation metric read from result.yaml's best stage, per object type
DEFAULT_METRIC = {2: "mAP", 3: "mIoU", 4: "maskAP"}
PLAN_KEYS = ("executor", "dataset", "initial", "budget", "rounds", "algorithms", "repeats", "seed", "sets",
             "metric", "object_type", "warm_start")


class SimulationError(YmirError):
    """A task of the simulation failed (its code is the task's own when monitor.txt names one)."""


@dataclass
class Settings:
    executor: str
    dataset: str
    initial: int = 20
    budget: int = 10
    rounds: int = 3
    algorithms: List[str] = field(default_factory=list)  # empty: random + the template's default algorithm
    repeats: int = 1
    seed: int = 0
    sets: Dict[str, str] = field(default_factory=dict)
    metric: str = ""  # empty: DEFAULT_METRIC of the object type
    object_type: Optional[int] = None
    warm_start: bool = False
    gpus: str = ""
    dataset_format: Optional[str] = None
    img_man: Optional[str] = None
    model: Optional[str] = None


@dataclass
class Point:
    repeat: int
    round: int
    algorithm: str
    labelled: int
    metric: float


# ------------------------------------------------------------------------------------------------ checks
def check(settings: Settings, spec: ExecutorSpec, dataset: LocalDataset,
          train: Sequence[LocalImage]) -> Tuple[Settings, dict, dict]:
    """Every error that needs no training, raised before the first task (``train``: the distinct training
    images); returns the settings with their defaults filled in, and the task sets of training and mining."""
    templates, object_type = read_templates(spec.img_man, settings.object_type)
    if "train" not in templates:
        raise ConfigError("EXECUTOR", settings.executor, message=f"{settings.executor} has no training template "
                          f"for object type {object_type}: it cannot train")
    if "mine" not in templates:
        raise ConfigError("EXECUTOR", settings.executor, message=f"{settings.executor} has no mining template for "
                          f"object type {object_type}: it does not mine, there is nothing to compare")
    mine_template = templates["mine"]
    known = ALGORITHMS.get(object_type, ALGORITHMS[2])
    algorithms = [a.strip().lower() for a in settings.algorithms if a.strip()]
    if not algorithms:
        algorithms = [str(mine_template.get("mining_algorithm") or "random").lower()]
    unknown = [a for a in algorithms if a not in known]
    if unknown:
        raise ConfigError("--algorithms", ",".join(unknown), f"names of object type {object_type}'s mining "
                          f"algorithms: {', '.join(known)}")
    if any(a != "random" for a in algorithms) and "mining_algorithm" not in mine_template:
        raise ConfigError("--algorithms", ",".join(algorithms), message=f"{settings.executor}'s mining template has "
                          "no mining_algorithm key: it mines one fixed way, the simulation cannot choose one")
    algorithms = ["random"] + [a for a in dict.fromkeys(algorithms) if a != "random"]
    train_sets, mine_sets = {}, {}
    for key, value in settings.sets.items():
        if key == "mining_algorithm":
            raise ConfigError("--set", key, "not mining_algorithm (the simulation sets it: use --algorithms)")
        if key not in templates["train"] and key not in mine_template:
            raise ConfigError("--set", key, "a key of the executor's training or mining template")
        if key in templates["train"]:
            train_sets[key] = value
        if key in mine_template:
            mine_sets[key] = value
    if settings.model and not os.path.exists(model_result_file(settings.model)):
        raise ConfigError("--model", settings.model, "a finished training's work folder (its "
                          "out/models/result.yaml)")
    for name, value, low in (("--initial", settings.initial, 1), ("--budget", settings.budget, 1),
                             ("--rounds", settings.rounds, 1), ("--repeats", settings.repeats, 1)):
        if value < low:
            raise ConfigError(name, value, f"an integer >= {low}")
    if not dataset.split("val"):
        raise DatasetError(f"{settings.dataset}: no validation images (the metric of every round is measured on "
                           "them)")
    if settings.initial > len(train):
        raise DatasetError(f"{settings.dataset}: too few training images for the start set: --initial "
                           f"{settings.initial}, {len(train)} distinct images")
    pool = len(train) - settings.initial
    if settings.budget * settings.rounds > pool:
        raise ConfigError("--budget", settings.budget, message=f"--budget {settings.budget} x --rounds "
                          f"{settings.rounds} = {settings.budget * settings.rounds} images is more than the pool "
                          f"({len(train)} training images - {settings.initial} to start = {pool})")
    filled = Settings(**{**asdict(settings), "algorithms": algorithms, "object_type": object_type,
                         "metric": settings.metric or DEFAULT_METRIC.get(object_type, "mAP")})
    return filled, train_sets, mine_sets


def _unique(images: Sequence[LocalImage], digests: Dict[str, str]) -> List[LocalImage]:
    """One image per asset (the platform stores equal bytes once: ``digests``, path -> sha1), in name order."""
    seen, out = set(), []
    for im in sorted(images, key=lambda im: im.path):
        digest = digests[im.path]
        if digest not in seen:
            seen.add(digest)
            out.append(im)
    if len(out) < len(images):
        log.warning("%d training images repeat another's bytes: one of each is kept", len(images) - len(out))
    return out


def start_set(images: Sequence[LocalImage], n: int, seed: int) -> List[str]:
    """``n`` image paths: one per class from the rarest (while there is room), then at random; seeded."""
    rng = np.random.default_rng(seed)
    order = [images[i] for i in rng.permutation(len(images))]
    holders: Dict[int, List[LocalImage]] = {}
    for im in order:
        for cls in sorted({o.class_id for o in im.objects}):
            holders.setdefault(cls, []).append(im)
    chosen: List[str] = []
    covered: set = set()
    for cls in sorted(holders, key=lambda c: (len(holders[c]), c)):
        if len(chosen) >= n:
            break
        if cls in covered:
            continue
        im = holders[cls][0]
        chosen.append(im.path)
        covered |= {o.class_id for o in im.objects}
    taken = set(chosen)
    chosen += [im.path for im in order if im.path not in taken][: n - len(chosen)]
    return chosen


# ------------------------------------------------------------------------------------------------ the loop
class Simulation:
    def __init__(self, settings: Settings, work: str, progress: bool = True):
        self.work = os.path.abspath(work)
        self.spec = find_executor(settings.executor, settings.img_man)
        self.dataset = read_dataset(settings.dataset, settings.dataset_format)
        #: each training image's sha1: its asset name in every task's layout (read once)
        self.digests = {im.path: file_sha1(im.path) for im in self.dataset.split("train")}
        self.distinct = _unique(self.dataset.split("train"), self.digests)
        self.settings, self.train_sets, self.mine_sets = check(settings, self.spec, self.dataset, self.distinct)
        self.progress = progress
        self.by_path = {im.path: im for im in self.dataset.split("train")}
        self.points: List[Point] = []
        #: per training: (repeat, round, algorithm, labelled images holding each class, labelled images without any)
        self.holding: List[Tuple[int, int, str, List[int], int]] = []

    # -- the plan: what a resumed run must agree with
    def plan(self) -> dict:
        s = self.settings
        args = {k: getattr(s, k) for k in PLAN_KEYS}
        args["executor"] = self.spec.command[-1]
        args["dataset"] = os.path.abspath(s.dataset)
        if s.model:  # the starting model, by place and by what its training wrote (a plan without one: as before)
            with open(model_result_file(s.model), "rb") as f:
                args["model"] = [os.path.abspath(s.model), hashlib.sha1(f.read()).hexdigest()]
        repeats = []
        for r in range(s.repeats):
            start = start_set(self.distinct, s.initial, s.seed + r)
            taken = set(start)
            repeats.append({"start": start, "pool": [im.path for im in self.distinct if im.path not in taken]})
        return {"arguments": args, "repeats": repeats}

    def load_plan(self) -> dict:
        plan = self.plan()
        path = os.path.join(self.work, "plan.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                old = json.load(f)
            if old.get("arguments") != plan["arguments"] or old.get("repeats") != plan["repeats"]:
                before = old.get("arguments", {})
                changed = sorted(k for k in plan["arguments"] if before.get(k) != plan["arguments"][k])
                raise ConfigError("--work", self.work, message=f"{self.work} holds a simulation with other arguments "
                                  f"({', '.join(changed) or 'the dataset changed'}): resume it with the same "
                                  "command, or give a new --work")
            log.info("resuming the simulation in %s", self.work)
        else:
            os.makedirs(self.work, exist_ok=True)
            atomic_write_json(path, plan)
        return plan

    def tasks_total(self) -> int:
        s = self.settings
        n_alg = len(s.algorithms)
        trainings = (s.rounds + 1) * n_alg  # round 0's shared training counted per algorithm: run once
        minings = s.rounds * (n_alg - 1)
        return s.repeats * (trainings + minings)

    def run(self) -> dict:
        plan = self.load_plan()
        s = self.settings
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=self.tasks_total(), desc="simulate", unit="task")
        try:
            for r, rep in enumerate(plan["repeats"]):
                labelled = {a: list(rep["start"]) for a in s.algorithms}
                pool = {a: list(rep["pool"]) for a in s.algorithms}
                models: Dict[str, str] = {}
                for t in range(s.rounds + 1):
                    for a in s.algorithms:
                        folder = os.path.join(self.work, f"repeat-{r}", f"round-{t}", "shared" if t == 0 else a)
                        previous = models.get(a) if s.warm_start and t > 0 else s.model
                        metric = self.train(os.path.join(folder, "train"), labelled[a], previous, bar,
                                            f"repeat {r} round {t} {'start' if t == 0 else a}")
                        models[a] = os.path.join(folder, "train")
                        self.points.append(Point(r, t, a, len(labelled[a]), metric))
                        self.holding.append((r, t, a, *self.class_counts(labelled[a])))
                        self.write_outputs()
                        if t == s.rounds:
                            continue
                        if a == "random":
                            rng = np.random.default_rng([s.seed, r, t])
                            picked = [pool[a][i] for i in sorted(rng.choice(len(pool[a]), s.budget, replace=False))]
                        else:
                            picked = self.mine(os.path.join(self.work, f"repeat-{r}", f"round-{t}", a, "mine"),
                                               models[a], pool[a], a, bar, f"repeat {r} round {t} {a}")
                        chosen = set(picked)
                        labelled[a] += picked
                        pool[a] = [p for p in pool[a] if p not in chosen]
        finally:
            if bar is not None:
                bar.close()
        return self.write_outputs()

    # -- one task
    def _done(self, folder: str) -> Optional[dict]:
        path = os.path.join(folder, "done.json")
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def _run_task(self, folder: str, dataset: LocalDataset, task: str, sets: dict, model: Optional[str],
                  extra: Optional[dict] = None) -> None:
        env_file = lay_out(folder, dataset, task, self.spec.img_man, {**sets, **(extra or {})},
                           gpus=self.settings.gpus, model=model, object_type=self.settings.object_type,
                           candidates="train")
        rc = execute(self.spec, env_file, progress=False)
        if rc != 0:
            code, message = TaskOutput(os.path.join(folder, "out")).failure()
            message = message or "see out/ymir-executor-out.log"
            text = f"the {task} task in {folder} failed (exit status {rc}): {message}"
            raise SimulationError(text, code) if code in set(map(int, ReturnCode)) - {0} else SimulationError(text)

    def train(self, folder: str, images: Sequence[str], model: Optional[str], bar, what: str) -> float:
        done = self._done(folder)
        if done is None:
            if bar is not None:
                bar.set_postfix_str(what + " train")
            labelled = [self.by_path[p] for p in images]
            ds = LocalDataset(self.dataset.class_names, {"train": labelled, "val": self.dataset.split("val")})
            self._run_task(folder, ds, "train", self.train_sets, model)
            metric = self.read_metric(folder)
            atomic_write_json(os.path.join(folder, "done.json"), {"metric": metric, "labelled": list(images)})
            done = {"metric": metric}
        if bar is not None:
            bar.update(1)
        return float(done["metric"])

    def read_metric(self, folder: str) -> float:
        out = TaskOutput(os.path.join(folder, "out"))
        stage = best_stage(out.training_result() or {})[1]
        key = self.settings.metric
        if not isinstance(stage.get(key), (int, float)):
            raise ConfigError("--metric", key, f"a metric of the best stage in {out.path(TRAINING_RESULT)}: "
                              + ", ".join(sorted(numeric_metrics(stage))))
        return float(stage[key])

    def mine(self, folder: str, model: str, pool: Sequence[str], algorithm: str, bar, what: str) -> List[str]:
        done = self._done(folder)
        if done is None:
            if bar is not None:
                bar.set_postfix_str(what + " mine")
            # the pool without its labels: candidates only, no annotation reaches the mining task
            ds = LocalDataset(self.dataset.class_names, {"train": [LocalImage(p) for p in pool]})
            self._run_task(folder, ds, "mine", self.mine_sets, model, {"mining_algorithm": algorithm})
            picked = self.read_selection(folder, pool)
            atomic_write_json(os.path.join(folder, "done.json"), {"pool": len(pool), "selected": picked})
            done = {"selected": picked}
        if bar is not None:
            bar.update(1)
        return list(done["selected"])

    def read_selection(self, folder: str, pool: Sequence[str]) -> List[str]:
        """The best ``budget`` pool images of result.tsv (asset names are the images' sha1)."""
        by_digest = {self.digests[p]: p for p in pool}
        picked: List[str] = []
        for asset, _ in TaskOutput(os.path.join(folder, "out")).mining_rows():
            path = by_digest.pop(os.path.splitext(os.path.basename(asset))[0], None)
            if path is not None:
                picked.append(path)
            if len(picked) == self.settings.budget:
                return picked
        raise SimulationError(f"{folder}/out/result.tsv ranks {len(picked)} of the pool's {len(pool)} images; "
                              f"{self.settings.budget} were needed")

    def class_counts(self, images: Sequence[str]) -> Tuple[List[int], int]:
        """The labelled images holding each class, and those holding no object (did mining find the rare class,
        did it spend labels on empty frames?)."""
        holding = [0] * len(self.dataset.class_names)
        empty = 0
        for p in images:
            classes = {o.class_id for o in self.by_path[p].objects}
            empty += not classes
            for c in classes:
                if 0 <= c < len(holding):
                    holding[c] += 1
        return holding, empty

    # -- outputs
    def write_outputs(self) -> dict:
        s = self.settings
        rows = [asdict(p) for p in self.points]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=["repeat", "round", "algorithm", "labelled", "metric"],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(os.path.join(self.work, "curves.csv"), buf.getvalue())
        names = list(self.dataset.class_names)
        lines = [",".join(["repeat", "round", "algorithm", "labelled"] + [f"holding {n}" for n in names] +
                          ["no object"])]
        for (r, t, a, holding, empty), p in zip(self.holding, self.points):
            lines.append(",".join(map(str, [r, t, a, p.labelled, *holding, empty])))
        atomic_write_text(os.path.join(self.work, "labelled-classes.csv"), "\n".join(lines) + "\n")
        summary = summarise(self.points, s)
        summary["labelled_classes"] = final_class_counts(self.holding, s, names)
        atomic_write_json(os.path.join(self.work, "curves.json"),
                          {"metric": s.metric, "algorithms": s.algorithms, "initial": s.initial, "budget": s.budget,
                           "rounds": s.rounds, "repeats": s.repeats, "points": rows, "summary": summary})
        atomic_write_text(os.path.join(self.work, "summary.txt"), format_summary(summary, s))
        plot(self.points, s, os.path.join(self.work, "curves.png"))
        return summary


# ------------------------------------------------------------------------------------------------ summary
def mean_curves(points: Sequence[Point], algorithms: Sequence[str]) -> Dict[str, Dict[int, Tuple[float, float, float]]]:
    """Per algorithm: round -> (labelled images, mean metric, standard deviation) over the repeats that reached
    it (round 0's shared training is listed under every algorithm)."""
    out: Dict[str, Dict[int, Tuple[float, float, float]]] = {}
    for a in algorithms:
        by_round: Dict[int, List[Point]] = {}
        for p in points:
            if p.algorithm == a:
                by_round.setdefault(p.round, []).append(p)
        out[a] = {t: (float(ps[0].labelled), float(np.mean([p.metric for p in ps])),
                      float(np.std([p.metric for p in ps]))) for t, ps in sorted(by_round.items())}
    return out


def images_to_reach(curve: Dict[int, Tuple[float, float, float]], target: float) -> Optional[float]:
    """The labelled images at which a mean curve first reaches ``target`` (linear between rounds)."""
    prev = None
    for t in sorted(curve):
        x, y, _ = curve[t]
        if y >= target:
            if prev is None or y == prev[1]:
                return x
            return prev[0] + (target - prev[1]) / (y - prev[1]) * (x - prev[0])
        prev = (x, y)
    return None


def area(curve: Dict[int, Tuple[float, float, float]]) -> float:
    """The area under a mean curve against labelled images (trapezoids; a single point: its value)."""
    x = np.array([curve[t][0] for t in sorted(curve)])
    y = np.array([curve[t][1] for t in sorted(curve)])
    if len(x) < 2:
        return float(y.sum())
    return float(((y[1:] + y[:-1]) / 2 * np.diff(x)).sum())


def summarise(points: Sequence[Point], s: Settings) -> dict:
    curves = mean_curves(points, s.algorithms)
    complete = all(len(curves.get(a, {})) == s.rounds + 1 for a in s.algorithms)
    out = {"complete": complete, "metric": s.metric, "algorithms": {}}
    random_curve = curves.get("random", {})
    random_final = random_curve.get(s.rounds)
    random_area = area(random_curve) if complete and random_curve else None
    for a in s.algorithms:
        c = curves.get(a, {})
        entry = {"labelled": [c[t][0] for t in sorted(c)], "mean": [c[t][1] for t in sorted(c)],
                 "std": [c[t][2] for t in sorted(c)]}
        if complete:
            entry["area_vs_random"] = area(c) / random_area if random_area else None
            entry["images_to_reach_random_final"] = images_to_reach(c, random_final[1])
        out["algorithms"][a] = entry
    if complete:
        out["random_final"] = random_final[1]
        out["random_final_labelled"] = random_final[0]
    return out


def format_summary(summary: dict, s: Settings) -> str:
    algs = summary["algorithms"]
    counts = next(iter(algs.values()))["labelled"] if algs else []
    head = (f"{s.metric} against labelled images ({s.repeats} repeat{'s' if s.repeats > 1 else ''}, start "
            f"{s.initial}, {s.budget} per round, {s.rounds} round{'s' if s.rounds > 1 else ''})")
    if not summary["complete"]:
        head += " - unfinished: rerun the same command to resume"
    header = ["algorithm"] + [str(int(c)) for c in counts]
    if summary["complete"]:
        header += ["area vs random", f"images to reach random's final {summary['random_final']:.3f}"]
    lines = [head, " | ".join(header)]
    for a, e in algs.items():
        cells = [a] + [f"{m:.3f}" + (f"±{d:.3f}" if s.repeats > 1 else "") for m, d in zip(e["mean"], e["std"])]
        if summary["complete"]:
            area = e.get("area_vs_random")
            need = e.get("images_to_reach_random_final")
            cells += ["-" if area is None else f"{area:.3f}",
                      "not reached" if need is None else f"{need:.0f}"]
        lines.append(" | ".join(cells))
    final = summary.get("labelled_classes") or {}
    if final:
        lines.append(f"labelled images holding each class after round {s.rounds} (mean of the repeats that reached "
                     "it): " + "; ".join(f"{a} " + ", ".join(f"{k} {v:.1f}" for k, v in counts.items())
                                         for a, counts in final.items()))
    return "\n".join(lines) + "\n"


def final_class_counts(holding: Sequence[Tuple[int, int, str, List[int], int]], s: Settings,
                       names: Sequence[str]) -> Dict[str, Dict[str, float]]:
    """Per algorithm, the mean over repeats of the labelled images holding each class (and none) at the last
    round's training (the labelled set mining built)."""
    out: Dict[str, Dict[str, float]] = {}
    for a in s.algorithms:
        rows = [(h, e) for r, t, alg, h, e in holding if alg == a and t == s.rounds]
        if rows:
            mean = np.mean([h + [e] for h, e in rows], axis=0)
            out[a] = {**{n: float(v) for n, v in zip(names, mean[:-1])}, "no object": float(mean[-1])}
    return out


def plot(points: Sequence[Point], s: Settings, path: str) -> None:
    """curves.png: the metric against labelled images, one line per algorithm, mean +- std shaded."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed (pip install ymir-sdk[simulate]): no curves.png")
        return
    curves = mean_curves(points, s.algorithms)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for a in s.algorithms:
        c = curves.get(a)
        if not c:
            continue
        x = np.array([c[t][0] for t in sorted(c)])
        y = np.array([c[t][1] for t in sorted(c)])
        d = np.array([c[t][2] for t in sorted(c)])
        ax.plot(x, y, marker="o", label=a, linestyle="--" if a == "random" else "-")
        if s.repeats > 1:
            ax.fill_between(x, y - d, y + d, alpha=0.2)
    ax.set_xlabel("labelled images")
    ax.set_ylabel(s.metric)
    name = os.path.basename(os.path.dirname(s.executor)) if s.executor.endswith(".py") else s.executor
    ax.set_title(f"{os.path.basename(name.rstrip('/'))}: {s.repeats} repeat{'s' if s.repeats > 1 else ''}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def simulate(settings: Settings, work: str, progress: bool = True) -> dict:
    """Run (or resume) a simulation; returns the summary (also in WORKDIR/summary.txt and curves.json)."""
    return Simulation(settings, work, progress).run()


__all__ = ["Settings", "Simulation", "SimulationError", "simulate", "start_set", "summarise", "images_to_reach"]
