"""``ymir-sdk simulate`` end to end with the framework-free toy executor: the bookkeeping of the active-learning
loop (no image labelled twice, the pool shrinks by the budget, labels never reach a mining task), resuming after
Ctrl-C, the errors raised before any training, and the summary's arithmetic."""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

from conftest import ROOT, TOY, cli
from ymir_sdk.tools.localdata import read_dataset
from ymir_sdk.tools.runner import file_sha1
from ymir_sdk.tools.simulate import Point, Settings, format_summary, images_to_reach, mean_curves, summarise

ARGS = ["--initial", "6", "--budget", "4", "--rounds", "2", "--algorithms", "entropy,random", "--repeats", "2"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from ymir_sdk.tools.synthetic import write_ark_dataset

    root = str(tmp_path_factory.mktemp("sim") / "ds")
    write_ark_dataset(root, n_train=24, n_val=8, seed=3)
    return root


@pytest.fixture(scope="module")
def simulated(dataset, tmp_path_factory):
    work = str(tmp_path_factory.mktemp("sim") / "work")
    r = cli("simulate", TOY, "--dataset", dataset, "--work", work, *ARGS, "--no-progress")
    assert r.returncode == 0, r.stdout + r.stderr
    return work, r.stdout


def _json(path):
    with open(path) as f:
        return json.load(f)


def _index(path):
    with open(path) as f:
        return [ln.split("\t")[0] for ln in f.read().splitlines() if ln]


def test_bookkeeping(dataset, simulated):
    work, stdout = simulated
    plan = _json(os.path.join(work, "plan.json"))
    val = {os.path.abspath(p) for p in glob.glob(os.path.join(dataset, "images", "val", "*"))}
    train = {os.path.abspath(p) for p in glob.glob(os.path.join(dataset, "images", "train", "*"))}
    assert len(plan["repeats"]) == 2 and plan["repeats"][0]["start"] != plan["repeats"][1]["start"]
    reported = {}
    objects = {im.path: {o.class_id for o in im.objects} for im in read_dataset(dataset).split("train")}
    for r, rep in enumerate(plan["repeats"]):
        start, pool = rep["start"], rep["pool"]
        assert len(start) == 6 and set(start) | set(pool) == train and not set(start) & set(pool)
        assert not (set(start) | set(pool)) & val  # the validation split is held out
        assert set().union(*(objects[p] for p in start)) == {0, 1}  # class-stratified: both classes to start
        for algorithm in ("random", "entropy"):
            labelled, remaining = list(start), list(pool)
            for t in range(3):
                folder = os.path.join(work, f"repeat-{r}", f"round-{t}", "shared" if t == 0 else algorithm)
                # the training saw exactly the labelled images (and the validation split)
                trained = _json(os.path.join(folder, "train", "done.json"))
                assert trained["labelled"] == labelled and len(set(labelled)) == 6 + 4 * t
                assert len(_index(os.path.join(folder, "train", "in", "train-index.tsv"))) == len(labelled)
                assert len(_index(os.path.join(folder, "train", "in", "val-index.tsv"))) == len(val)
                holding = [sum(c in objects[p] for p in labelled) for c in (0, 1)]
                reported[(r, t, algorithm)] = holding + [sum(not objects[p] for p in labelled)]
                if t == 2:
                    break
                mine = os.path.join(work, f"repeat-{r}", f"round-{t}", algorithm, "mine")
                if algorithm == "random":  # the simulator's own seeded pick: no mining task
                    assert not os.path.exists(mine)
                    picked = [p for p in _json(os.path.join(work, f"repeat-{r}", f"round-{t + 1}", algorithm,
                                                            "train", "done.json"))["labelled"] if p not in labelled]
                else:
                    done = _json(os.path.join(mine, "done.json"))
                    picked = done["selected"]
                    assert done["pool"] == len(remaining) == 18 - 4 * t
                    # the mining task got the pool as candidates and not one label
                    candidates = _index(os.path.join(mine, "in", "candidate-index.tsv"))
                    assert sorted(os.path.basename(c).split(".")[0] for c in candidates) == \
                        sorted(file_sha1(p) for p in remaining)
                    assert not [f for f in glob.glob(os.path.join(mine, "in", "annotations", "**", "*"),
                                                     recursive=True) if os.path.isfile(f)]
                    config = yaml.safe_load(open(os.path.join(mine, "in", "config.yaml")))
                    assert config["mining_algorithm"] == algorithm and "training_index_file" not in config
                    env = yaml.safe_load(open(os.path.join(mine, "in", "env.yaml")))
                    assert env["input"]["training_index_file"] == "" and env["input"]["val_index_file"] == ""
                assert len(picked) == 4 and set(picked) <= set(remaining)  # never labelled twice
                labelled += picked
                remaining = [p for p in remaining if p not in picked]

    rows = open(os.path.join(work, "curves.csv")).read().splitlines()
    assert rows[0] == "repeat,round,algorithm,labelled,metric" and len(rows) == 1 + 2 * 3 * 2
    # the labelled set's images holding each class (and none), per training: what mining found
    rows = open(os.path.join(work, "labelled-classes.csv")).read().splitlines()
    assert rows[0] == "repeat,round,algorithm,labelled,holding square,holding disc,no object"
    assert {(int(r), int(t), a): [int(v) for v in rest] for r, t, a, _, *rest in (x.split(",") for x in rows[1:])} \
        == reported and len(rows) == 1 + 2 * 3 * 2
    curves = _json(os.path.join(work, "curves.json"))
    assert curves["summary"]["complete"] and curves["algorithms"] == ["random", "entropy"]
    assert curves["summary"]["algorithms"]["random"]["area_vs_random"] == pytest.approx(1.0)
    assert curves["summary"]["algorithms"]["entropy"]["labelled"] == [6, 10, 14]
    with open(os.path.join(work, "curves.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    summary = open(os.path.join(work, "summary.txt")).read()
    assert "area vs random" in summary and summary in stdout
    final = {a: [sum(reported[(r, 2, a)][i] for r in (0, 1)) / 2 for i in range(3)] for a in ("random", "entropy")}
    assert curves["summary"]["labelled_classes"] == {
        a: {"square": v[0], "disc": v[1], "no object": v[2]} for a, v in final.items()}
    assert "labelled images holding each class after round 2" in summary


def _done_files(work):
    return sorted(glob.glob(os.path.join(work, "repeat-*", "round-*", "*", "*", "done.json")))


def _interrupted_simulation(dataset, work):
    """A simulation stopped by Ctrl-C once three of its tasks are done: (exit status, done files seen when the
    signal was sent, whether it had ended by itself before, its output)."""
    # SIGINT as a terminal's Ctrl-C delivers it: a process started in the background of a non-interactive shell
    # (CI's) inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler
    proc = subprocess.Popen([sys.executable, "-m", "ymir_sdk", "simulate", TOY, "--dataset", dataset, "--work", work,
                             *ARGS, "--no-progress"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while len(_done_files(work)) < 3 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    seen, ended = len(_done_files(work)), proc.poll() is not None
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=60)[0].decode(errors="replace")
    return proc.returncode, seen, ended, out


def test_resume_after_ctrl_c_gives_the_same_curves(dataset, simulated, tmp_path):
    """Stopped by Ctrl-C after three tasks, the same command resumes: finished tasks kept, the same curves. Once in
    CI (2026-12-04, three busy test workers) the simulation ended with status 0 after the signal, which this test
    could not explain then: a second attempt in a fresh folder is made in that case, and the failure says what
    was seen (done files when the signal was sent, whether the process had ended, its output)."""
    for attempt in range(2):
        work = str(tmp_path / f"work{attempt}")
        code, seen, ended, out = _interrupted_simulation(dataset, work)
        if code != 0:
            break
    assert code != 0, f"not interrupted: {seen} done files at the signal, ended before it: {ended}\n{out[-2000:]}"
    first = {p: os.path.getmtime(p) for p in _done_files(work)}
    assert 3 <= len(first) < len(_done_files(simulated[0]))
    assert "unfinished" in open(os.path.join(work, "summary.txt")).read()
    r = cli("simulate", TOY, "--dataset", dataset, "--work", work, *ARGS, "--no-progress")
    assert r.returncode == 0, r.stdout + r.stderr
    assert {p: os.path.getmtime(p) for p in first} == first  # finished tasks were kept, not redone
    assert open(os.path.join(work, "curves.csv")).read() == open(os.path.join(simulated[0], "curves.csv")).read()
    for done in _done_files(simulated[0]):
        assert _json(done) == _json(done.replace(simulated[0], work))
    # other arguments in the same folder: refused, nothing changed
    r = cli("simulate", TOY, "--dataset", dataset, "--work", work, *ARGS[:-1], "3", "--no-progress")
    assert r.returncode == 2 and "repeats" in r.stderr


def test_half_finished_task_is_redone(dataset, simulated, tmp_path):
    work = str(tmp_path / "work")
    shutil.copytree(simulated[0], work)
    mine = os.path.join(work, "repeat-1", "round-1", "entropy", "mine")
    os.remove(os.path.join(mine, "done.json"))
    with open(os.path.join(mine, "out", "result.tsv"), "w") as f:
        f.write("half-written")
    r = cli("simulate", TOY, "--dataset", dataset, "--work", work, *ARGS, "--no-progress")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _json(os.path.join(mine, "done.json")) == _json(os.path.join(simulated[0], "repeat-1", "round-1",
                                                                         "entropy", "mine", "done.json"))


@pytest.mark.parametrize("extra,message", [
    (["--budget", "10"], "more than the pool"),
    (["--initial", "30"], "too few training images"),
    (["--algorithms", "entropy,bald"], "--algorithms"),
    (["--set", "mining_algorithm=entropy"], "--algorithms"),
    (["--set", "toleranse=30"], "toleranse"),
    (["--rounds", "0"], "--rounds"),
])
def test_bad_input_fails_before_any_training(dataset, tmp_path, extra, message):
    work = str(tmp_path / "work")
    args = dict(zip(ARGS[::2], ARGS[1::2]))
    args.update(dict(zip(extra[::2], extra[1::2])) if extra[0] != "--set" else {})
    flat = [x for kv in args.items() for x in kv] + (extra if extra[0] == "--set" else [])
    r = cli("simulate", TOY, "--dataset", dataset, "--work", work, *flat, "--no-progress")
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert not glob.glob(os.path.join(work, "repeat-*"))


def test_executor_without_mining_is_refused(dataset, tmp_path):
    folder = str(tmp_path / "toy_executor")  # the package its manifest names
    shutil.copytree(TOY, folder)
    os.remove(os.path.join(folder, "img-man", "mining-template.yaml"))
    r = cli("simulate", folder, "--dataset", dataset, "--work", str(tmp_path / "w"), "--no-progress")
    assert r.returncode == 2 and "does not mine" in r.stderr


def test_a_failing_task_stops_with_its_message(dataset, tmp_path):
    r = cli("simulate", TOY, "--dataset", dataset, "--work", str(tmp_path / "w"), *ARGS, "--set", "fail_with=boom",
            "--no-progress")
    assert r.returncode == 2 and "boom" in r.stderr and "round-0/shared/train" in r.stderr
    # an algorithm the executor refuses fails at its first mining, with the executor's own message
    r = cli("simulate", TOY, "--dataset", dataset, "--work", str(tmp_path / "w2"), "--algorithms", "aldd",
            "--initial", "6", "--budget", "4", "--rounds", "1", "--no-progress")
    assert r.returncode == 2 and "mining_algorithm" in r.stderr and "random, entropy" in r.stderr


def test_summary_arithmetic():
    s = Settings("toy", "ds", initial=10, budget=10, rounds=2, algorithms=["random", "good"], metric="mAP")
    points = [Point(0, 0, a, 10, 0.2) for a in ("random", "good")]
    points += [Point(0, 1, "random", 20, 0.3), Point(0, 2, "random", 30, 0.4),
               Point(0, 1, "good", 20, 0.35), Point(0, 2, "good", 30, 0.5)]
    summary = summarise(points, s)
    good = summary["algorithms"]["good"]
    # random: (0.25 + 0.35) * 10 = 6.0; good: (0.275 + 0.425) * 10 = 7.0
    assert good["area_vs_random"] == pytest.approx(7.0 / 6.0)
    # random's final 0.4: good crosses it between 20 (0.35) and 30 (0.5), at 20 + 10 / 3
    assert good["images_to_reach_random_final"] == pytest.approx(20 + 10 / 3)
    assert summary["algorithms"]["random"]["images_to_reach_random_final"] == pytest.approx(30)
    assert images_to_reach(mean_curves(points, ["good"])["good"], 0.9) is None
    two = points + [Point(1, t, a, 10 + 10 * t, v) for t, a, v in ((0, "random", 0.4), (0, "good", 0.4),
                                                                     (1, "random", 0.5), (2, "random", 0.6))]
    curve = mean_curves(two, ["random"])["random"]
    assert curve[0] == (10, pytest.approx(0.3), pytest.approx(0.1)) and curve[2][1] == pytest.approx(0.5)
    partial = summarise(two, Settings("toy", "ds", 10, 10, 2, ["random", "good"], repeats=2, metric="mAP"))
    assert partial["complete"]  # every round has at least one repeat's point
    assert format_summary(summary, s).startswith("mAP against labelled images (1 repeat, start 10, 10 per round, "
                                                 "2 rounds)\n")
    one = Settings("toy", "ds", 10, 10, 1, ["random", "good"], repeats=2, metric="mAP")
    assert "(2 repeats, start 10, 10 per round, 1 round)" in format_summary(summarise(points[:4], one), one)


def test_warm_start_trains_from_the_previous_rounds_model(dataset, tmp_path):
    work = str(tmp_path / "w")
    r = cli("simulate", TOY, "--dataset", dataset, "--work", work, "--initial", "6", "--budget", "4", "--rounds", "1",
            "--algorithms", "entropy", "--warm-start", "--no-progress")
    assert r.returncode == 0, r.stdout + r.stderr
    for algorithm in ("random", "entropy"):
        train = os.path.join(work, "repeat-0", "round-1", algorithm, "train", "in")
        config = yaml.safe_load(open(os.path.join(train, "config.yaml")))
        assert config["pretrained_model_params"] == [os.path.join(train, "models", "best", "toy.json")]
        previous = os.path.join(work, "repeat-0", "round-0", "shared", "train", "out", "models", "best", "toy.json")
        assert open(config["pretrained_model_params"][0]).read() == open(previous).read()
    shared = yaml.safe_load(open(os.path.join(work, "repeat-0", "round-0", "shared", "train", "in", "config.yaml")))
    assert "pretrained_model_params" not in shared  # round 0 starts as the user's settings say


def test_every_round_starts_from_the_given_model(dataset, simulated, tmp_path):
    """``--model``: every round's training starts from a finished training (as a user's rounds on the platform start
    from the model they chose); a folder that is not one fails before any training, and so does resuming with
    another model."""
    model = os.path.join(simulated[0], "repeat-0", "round-0", "shared", "train")
    work = str(tmp_path / "w")
    args = ["--dataset", dataset, "--work", work, "--initial", "6", "--budget", "4", "--rounds", "1", "--algorithms",
            "entropy", "--no-progress"]
    r = cli("simulate", TOY, *args, "--model", model)
    assert r.returncode == 0, r.stdout + r.stderr
    start = open(os.path.join(model, "out", "models", "best", "toy.json")).read()
    trainings = glob.glob(os.path.join(work, "repeat-0", "round-*", "*", "train", "in"))
    assert len(trainings) == 3  # round 0 shared, round 1 random and entropy
    for train in trainings:
        config = yaml.safe_load(open(os.path.join(train, "config.yaml")))
        assert config["pretrained_model_params"] == [os.path.join(train, "models", "best", "toy.json")]
        assert open(config["pretrained_model_params"][0]).read() == start
    r = cli("simulate", TOY, *args, "--model", os.path.join(simulated[0], "repeat-1", "round-0", "shared", "train"))
    assert r.returncode == 2 and "model" in r.stderr, r.stderr  # another model: not a resume of this run
    r = cli("simulate", TOY, *args[:3], str(tmp_path / "w2"), *args[4:], "--model", dataset)
    assert r.returncode == 2 and "--model" in r.stderr and not glob.glob(str(tmp_path / "w2" / "repeat-*"))
