"""Pools of any size: memory and time of mine+infer as the pool grows (issue "Pools of any size").

For each executor (and task family): its smallest model from a one-epoch training on generated images at the
conformance suite's size (64-128 px, tests/executor_specs.py), then `mine+infer` (one env.yaml with both flags,
the executor's default mining algorithm, the suite's low thresholds) on generated pools of n0, N and 10N
candidates, as the platform runs it (the image's command; torchrun for two processes). Prints, per pool, the
wall time, the peak RSS of the run's whole process tree (every rank and DataLoader worker, sampled every 50 ms,
shared pages counted in each process), and from the executor's log (rank 0's; the candidate loop logs them):
the time per image of the loops after their first batch (mine and infer summed: two passes over the pool), the
time from the process's start to the first batch, and from the last batch to the written outputs. Then per
executor: the slope of the peak in MB per 1,000 images between N and 10N, the time per image at 10N over N's,
and, within the 10N run, the time per image over its second half over its first half's (the loop reports each
tenth: on one state of these shared machines, where two runs minutes apart differ by tens of percent). Targets:
slope <= 5 MB per 1,000 images, time per image at 10N within 10 % of N's. Absolute times are this machine's;
compare within one run.

``--compare``: each pool also runs as two platform tasks, ``mine`` then ``infer`` (two processes, two model loads,
two passes), right after its ``mine+infer``; the lines say which, and the summary gives mine+infer's wall time and
loop time per image over the two tasks' (where the executor runs mine+infer in one pass, the gain of that pass).

``--random N``: a million candidates and bad input instead. ``random`` mining (no model: each candidate's header
is read, it gets its reproducible score) with the first executor named, on pools of N and 10N tiny PNGs of which
one in 1,000 is not an image, one process; prints the wall time and the peak RSS per pool and the slope, and
checks result.tsv: every candidate exactly once, the unreadable ones last.

    .venv/bin/python benchmarks/scale.py [--executors yolov5,mmdet] [--n 500] [--procs 1,2] [--compare]
        [--random N] [--work bench-scale]
"""
import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _specs():
    """The conformance suite's executor registry (tests/executor_specs.py), loaded from its file."""
    spec = importlib.util.spec_from_file_location("executor_specs", os.path.join(ROOT, "tests", "executor_specs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.EXECUTORS


def _dataset(spec, root, n_train, n_val, seed):
    from ymir_sdk.tools.synthetic import write_ark_dataset, write_coco_dataset

    if not os.path.exists(os.path.join(root, ".done")):
        shutil.rmtree(root, ignore_errors=True)
        if spec.dataset == "coco":
            write_coco_dataset(root, n_train, n_val, spec.size, seed=seed)
        else:
            write_ark_dataset(root, n_train, n_val, spec.size, seed=seed, **spec.data)
        open(os.path.join(root, ".done"), "w").close()
    return root


def _lay_out(spec, dataset, work, task, sets, **kw):
    from ymir_sdk.tools.localdata import read_dataset
    from ymir_sdk.tools.runner import lay_out

    img_man = os.path.join(ROOT, "executors", spec.folder, "img-man")
    return lay_out(work, read_dataset(dataset), task, img_man, sets, object_type=spec.object_type, **kw)


def _peak_rss(proc, stop, out):
    """The largest sum of RSS over ``proc`` and all its descendants, sampled until ``stop`` is set."""
    import psutil

    root = psutil.Process(proc.pid)
    while not stop.is_set():
        try:
            total = 0
            for p in [root] + root.children(recursive=True):
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            out[0] = max(out[0], total)
        except psutil.Error:
            pass
        stop.wait(0.05)


def _start(spec, env_file, procs, log):
    """Runs the executor as its image does against env.yaml (under torchrun for procs > 1); (seconds, peak MB)."""
    from ymir_sdk.dist import relaunch_command
    from ymir_sdk.tools.runner import find_executor

    env = dict(os.environ, YMIR_ENV_FILE=env_file, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    cmd = find_executor(os.path.join(ROOT, "executors", spec.folder)).command
    cmd = cmd if procs == 1 else relaunch_command(procs, cmd[1:])
    with open(log, "w") as f:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
        stop, peak = threading.Event(), [0]
        watcher = threading.Thread(target=_peak_rss, args=(proc, stop, peak), daemon=True)
        watcher.start()
        code = proc.wait()
        seconds = time.perf_counter() - t0
        stop.set()
        watcher.join()
    if code:
        raise SystemExit(f"{spec.name}: the run failed ({code}); see {log}")
    return seconds, peak[0] / 2 ** 20


def _within(log):
    """The loops' time per image over the second half of their candidates against the first half's (without the
    first tenth: the first batch and the warm-up), from the loop's reports at each tenth (summed over the loops
    of the run: two passes add up): how the time per image moves within one pool, on one state of the machine."""
    loops, previous = [], None
    for done, ms in re.findall(r"(\d+) of \d+ candidates: ([\d.]+) ms each since the last tenth", open(log).read()):
        if previous is None or int(done) <= previous:
            loops.append([])
        loops[-1].append(float(ms))
        previous = int(done)
    early = sum(sum(t[1:5]) / len(t[1:5]) for t in loops if len(t) >= 10)
    late = sum(sum(t[5:10]) / len(t[5:10]) for t in loops if len(t) >= 10)
    return late / early if early else float("nan")


def _from_log(log):
    """(ms per image after the first batch, summed over the loops; seconds to the first batch; seconds from the
    last batch to the written outputs, summed), from the candidate loop's log lines."""
    text = open(log, errors="replace").read()
    per_image = sum(float(v) for v in re.findall(r"after the first batch: ([\d.]+) ms each", text))
    first = re.findall(r"first batch done ([\d.]+) s after the process started", text)
    written = sum(float(v) for v in re.findall(r"written ([\d.]+) s after the last batch", text))
    return per_image, float(first[0]) if first else float("nan"), written


def _trained(spec, work):
    """The executor's one-epoch training (its work folder), made once."""
    train = os.path.join(work, "train")
    if not os.path.exists(os.path.join(train, "out", "models", "result.yaml")):
        data = _dataset(spec, os.path.join(work, "train-data"), 16, 4, 0)
        env_file = _lay_out(spec, data, train, "train", {**spec.fast, **spec.short})
        _start(spec, env_file, 1, os.path.join(work, "train.log"))
    return train


def random_pools(spec, n, root):
    """``--random``: see the module docstring."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (90, 90, 90)).save(buf, format="PNG")
    png = buf.getvalue()
    work = os.path.join(root, spec.name)
    train = _trained(spec, work)
    small = _dataset(spec, os.path.join(root, f"pool-{spec.dataset}-{spec.size[0]}-{spec.object_type}-20"), 0, 20, 1)
    print(f"random mining ({spec.name}), pools of {n} and {10 * n} candidates, one in 1,000 not an image")
    print(f"{'pool':>8} {'wall s':>8} {'peak MB':>8} {'unreadable':>10}")
    peaks = []
    for size in (n, 10 * n):
        pool = os.path.join(root, f"random-{size}")
        paths = [os.path.join(pool, f"{i % 1000:03d}", f"{i:08d}.png") for i in range(size)]
        bad = {p for i, p in enumerate(paths) if i % 1000 == 999}
        if not os.path.exists(os.path.join(pool, ".done")):
            shutil.rmtree(pool, ignore_errors=True)
            for i in range(min(size, 1000)):
                os.makedirs(os.path.join(pool, f"{i:03d}"))
            for p in paths:
                with open(p, "wb") as f:
                    f.write(b"not an image" if p in bad else png)
            open(os.path.join(pool, ".done"), "w").close()
        task = os.path.join(work, f"random-{size}")
        env_file = _lay_out(spec, small, task, "mine", {**spec.model_task, "mining_algorithm": "random"}, model=train)
        with open(os.path.join(task, "in", "candidate-index.tsv"), "w") as f:
            f.writelines(p + "\n" for p in paths)
        seconds, peak = _start(spec, env_file, 1, task + ".log")
        with open(os.path.join(task, "out", "result.tsv")) as f:
            ranked = [line.split("\t", 1)[0] for line in f]
        if sorted(ranked) != sorted(paths) or set(ranked[len(ranked) - len(bad):]) != bad:
            raise SystemExit(f"{task}: result.tsv does not list every candidate once with the unreadable ones last")
        shutil.rmtree(task, ignore_errors=True)
        peaks.append(peak)
        print(f"{size:>8} {seconds:>8.1f} {peak:>8.0f} {len(bad):>10}", flush=True)
    print(f"slope: {(peaks[1] - peaks[0]) / (9 * n / 1000):.2f} MB per 1,000 candidates; result.tsv checked")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--executors", default="yolov5,mmdet,mmyolo,mmrotate,seg-in-one-instance,seg-in-one-semantic")
    ap.add_argument("--n", type=int, default=500, help="N: pools of n0, N and 10N candidates")
    ap.add_argument("--n0", type=int, default=20, help="the smallest pool")
    ap.add_argument("--procs", default="1,2")
    ap.add_argument("--work", default=os.path.join(ROOT, "bench-scale"))
    ap.add_argument("--compare", action="store_true", help="also run each pool as two tasks, mine then infer")
    ap.add_argument("--random", type=int, default=0, metavar="N",
                    help="random mining on pools of N and 10N tiny images, one in 1,000 unreadable")
    args = ap.parse_args()
    specs = _specs()
    if args.random:
        return random_pools(specs[args.executors.split(",")[0]], args.random, args.work)
    sizes = (args.n0, args.n, 10 * args.n)
    print(f"mine+infer, pools of {sizes[0]}, {sizes[1]} and {sizes[2]} generated candidates; {os.cpu_count()} cores")
    print(f"{'executor':22} {'procs':>5} {'pool':>6} {'tasks':>10} {'wall s':>8} {'peak MB':>8} {'ms/image':>9} "
          f"{'to 1st batch s':>14} {'last batch to out s':>19}")
    summary, compared = [], []
    for name in args.executors.split(","):
        spec = specs[name]
        work = os.path.join(args.work, name)
        train = _trained(spec, work)
        for procs in map(int, args.procs.split(",")):
            runs = []
            for n in sizes:
                pool = _dataset(spec, os.path.join(args.work, f"pool-{spec.dataset}-{spec.size[0]}-"
                                                              f"{spec.object_type}-{n}"), 0, n, 1)
                variants = [["mine+infer"]] + ([["mine", "infer"]] if args.compare and n != sizes[0] else [])
                measured = []
                for tasks in variants:
                    seconds = peak = per_image = written = 0.0
                    first = float("nan")
                    for t in tasks:
                        task = os.path.join(work, f"task-{procs}-{n}-{t}")
                        env_file = _lay_out(spec, pool, task, t, dict(spec.model_task), model=train)
                        s, m = _start(spec, env_file, procs, task + ".log")
                        p, f, w = _from_log(task + ".log")
                        within = _within(task + ".log") if tasks == ["mine+infer"] else None
                        shutil.rmtree(task, ignore_errors=True)
                        seconds, peak, per_image, written = seconds + s, max(peak, m), per_image + p, written + w
                        first = f if t == tasks[0] else first
                    measured.append((seconds, per_image))
                    label = ",".join(tasks)
                    print(f"{name:22} {procs:>5} {n:>6} {label:>10} {seconds:>8.1f} {peak:>8.0f} {per_image:>9.2f} "
                          f"{first:>14.1f} {written:>19.2f}", flush=True)
                    if tasks == ["mine+infer"]:
                        runs.append((n, peak, per_image, within))
                if len(measured) == 2:
                    (s1, p1), (s2, p2) = measured
                    compared.append((name, procs, n, s1 / s2, p1 / p2))
            (_, _, _, _), (n1, m1, p1, _), (n2, m2, p2, w2) = runs
            summary.append((name, procs, (m2 - m1) / ((n2 - n1) / 1000), p2 / p1, w2))
    print(f"\n{'executor':22} {'procs':>5} {'MB/1000 images':>14} {'ms/image 10N/N':>14} {'10N late/early':>14}")
    for name, procs, slope, ratio, within in summary:
        print(f"{name:22} {procs:>5} {slope:>14.1f} {ratio:>14.2f} {within:>14.2f}")
    if compared:
        print("\nmine+infer against two tasks (mine, then infer), same pool, one after the other")
        print(f"{'executor':22} {'procs':>5} {'pool':>6} {'wall':>8} {'ms/image':>9}")
        for name, procs, n, wall, per_image in compared:
            print(f"{name:22} {procs:>5} {n:>6} {wall:>7.2f}x {per_image:>8.2f}x")

if __name__ == "__main__":
    main()
