"""What any executor must do, written once and run over every executor of tests/executor_specs.py, on both stacks:
training and mining+inference through `ymir-sdk run`, mining with each of its algorithms (the tasks of one
executor in one process), each output checked by `ymir-sdk verify`; two processes train, and rank every candidate
exactly once; an unreadable candidate is skipped and logged; malformed inputs (empty training set, missing,
corrupt, foreign or malicious model files, unknown model, shell metacharacters in options) get the right code and
nothing else happens; the templates are the params and hold the seed; the image's pretrained weights are used
when no model is chosen, in a training that also drops an object of a foreign class and an image cut short.

What is special to one executor stays in its own test module (tests/test_<name>.py)."""
import csv
import json
import os
import shutil

import pytest
import yaml

from conftest import (ROOT, cli, copied_model, executor_log, lay_out_task, monitor_line, only_on_test_stack,
                      require_executor, run_in_one_process, run_start, sets_args, start_command,
                      tensorboard_content, write_payload_checkpoint)
from executor_specs import EXECUTORS

pytestmark = pytest.mark.images  # also on the images' stack
TEMPLATES = ("training", "infer", "mining")
#: the executors whose TensorBoard holds pictures drawn by the SDK at each evaluation (boxes, rotated boxes, label
#: maps, instance masks: yolov5-seg's from each epoch's checkpoint, beside the plots it draws itself)
DRAWN = ("yolov5", "mmdet", "mmyolo", "mmrotate", "seg-in-one-semantic", "seg-in-one-instance")


def _spec(name):
    spec = EXECUTORS[name]
    require_executor(spec.folder, spec.framework)
    return spec


def _executor(name):
    from ymir_sdk.executor import load_executor_class

    return load_executor_class(EXECUTORS[name].module)


def _folder(name):
    return os.path.join(ROOT, "executors", EXECUTORS[name].folder)


def _templates(spec):
    """The folder of the executor's templates (a multi-type image's: its object type's)."""
    from ymir_sdk.contract import OBJECT_TYPES

    img_man = os.path.join(_folder(spec.name), "img-man")
    return img_man if spec.folder == spec.name else os.path.join(img_man, OBJECT_TYPES[spec.object_type])


def _train(spec, dataset, work, *args, sets=None):
    """A short training through `ymir-sdk run` (the spec's fast settings, then ``sets``)."""
    return cli("run", spec.folder, *spec.run_args, "--task", "train", "--dataset", dataset, "--work", work,
               "--no-progress", *sets_args({**spec.fast, **spec.short, **(sets or {})}), *args,
               timeout=spec.timeout)


def _lay_out(spec, dataset, work, task, sets, **kw):
    return lay_out_task(spec.folder, dataset, work, task, sets, object_type=spec.object_type, **kw)


def _main_metric(spec):
    from ymir_sdk.contract import MAIN_METRIC

    return MAIN_METRIC[spec.object_type]


def _predicted(spec, work):
    """basename -> the number of predicted objects, from infer-result.json (detection or COCO)."""
    data = json.load(open(os.path.join(work, "out", "infer-result.json")))
    if spec.object_type == 2:
        return {name: len(d["boxes"]) for name, d in data["detection"].items()}
    ids = {img["id"]: img["file_name"] for img in data["images"]}
    out = dict.fromkeys(ids.values(), 0)
    for ann in data["annotations"]:
        out[ids[ann["image_id"]]] += 1
    return out


def _add_images(spec, ds, split, names, data):
    """Add image files to a generated dataset's split (listed in its COCO json where it has one)."""
    folder = os.path.join(ds, "images", split) if spec.dataset == "ark" else os.path.join(ds, "images")
    for name in names:
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data(name))
    if spec.dataset == "coco":
        path = os.path.join(ds, f"{split}.json")
        coco = json.load(open(path))
        first = coco["images"][0]
        for name in names:
            coco["images"].append({"id": max(i["id"] for i in coco["images"]) + 1, "file_name": name,
                                   "width": first["width"], "height": first["height"]})
        json.dump(coco, open(path, "w"))


def _failed_with(work, code, *words):
    line = monitor_line(work)
    assert line[3:5] == ["4", str(code)], line
    for word in words:
        assert word in line[5], line
    return line


NAMES = sorted(EXECUTORS)


def _tasks(name):
    """Each mining algorithm of the executor alone, and inference after the first (an inference task alone runs
    the same executor method after the same SDK steps: the toy executor's tests run it, tests/test_toy_e2e.py)."""
    algorithms = EXECUTORS[name].algorithms
    return [("mine", a) for a in algorithms] + [("mine+infer", algorithms[0])]


# ------------------------------------------------------------------ templates
@pytest.mark.parametrize("name", NAMES)
def test_templates_are_the_params_and_hold_the_seed(name):
    spec, executor = _spec(name), _executor(name)
    models = dict(zip(TEMPLATES, (executor.TrainParams, executor.InferParams, executor.MineParams)))
    for template, model in models.items():
        with open(os.path.join(_templates(spec), f"{template}-template.yaml")) as f:
            assert yaml.safe_load(f) == model.template(), template
        held = model.template()
        for key, default in spec.seed[template].items():
            assert held.get(key, "<missing>") == default, (template, key)
    r = cli("check-image", _folder(name))
    assert r.returncode == 0, r.stdout


# ------------------------------------------------------------------ the tasks, end to end
@pytest.mark.parametrize("name", NAMES)
def test_training_passes_verify(name, trained_model):
    spec = _spec(name)
    work = trained_model(name)
    v = cli("verify", work, "--task", "train")
    assert v.returncode == 0, v.stdout
    result = yaml.safe_load(open(os.path.join(work, "out", "models", "result.yaml")))
    assert result["best_stage_name"] in result["model_stages"] and result["object_type"] == spec.object_type
    assert 0 <= result["model_stages"][result["best_stage_name"]][_main_metric(spec)] <= 1
    # the TensorBoard, read back: the scheme's scalars, results.csv, and the pictures where they are drawn
    tags, images = tensorboard_content(os.path.join(work, "out", "tensorboard"))
    assert f"val/{_main_metric(spec)}" in tags["scalars"] and "train/loss" in tags["scalars"], tags["scalars"]
    with open(os.path.join(work, "out", "tensorboard", "results.csv")) as f:
        rows = list(csv.DictReader(f))
    assert rows and all(float(r[f"val/{_main_metric(spec)}"]) >= 0 for r in rows)
    assert {"train/batch", "val/confusion"} <= set(images) and any(t.startswith("val/pictures/") for t in images)
    if name in DRAWN:
        assert "val/pictures/0" in images, images
        assert spec.object_type != 2 or any(t.startswith("val/PR/") for t in tags["tensors"])
    # per class: each box detector's AP, each semantic segmenter's IoU (yolov5-seg: its own curves, pictures)
    per_class = {2: "val/AP/", 3: "val/IoU/"}.get(spec.object_type)
    assert not per_class or any(t.startswith(per_class) for t in tags["scalars"]), tags["scalars"]
    # no model chosen and an empty weights folder (the shared training's settings): from scratch, with a warning
    text = executor_log(work)
    assert "no pretrained weights for" in text and "training from scratch" in text
    # the training set's objects per class, at the root of models/ and listed in every stage (mining's auto weights)
    names = yaml.safe_load(open(os.path.join(work, "in", "config.yaml")))["class_names"]
    counts = json.load(open(os.path.join(work, "out", "models", "class-counts.json")))
    assert list(counts["objects"]) == names and sum(counts["objects"].values()) > 0 and counts["images"] > 0
    assert all(stage["files"][-1] == "class-counts.json" for stage in result["model_stages"].values())


def _check_model_task(spec, work, task):
    v = cli("verify", work, "--task", task)
    assert v.returncode == 0, (work, v.stdout)
    if task.startswith("mine"):
        rows = open(os.path.join(work, "out", "result.tsv")).read().splitlines()
        assert len(rows) == spec.n_val, work  # every candidate (the validation split), once
    if task.endswith("infer"):
        predicted = _predicted(spec, work)
        assert len(predicted) == spec.n_val and sum(predicted.values()) > 0, work


@pytest.mark.parametrize("name", NAMES)
def test_every_mining_algorithm_passes_verify(name, executor_dataset, trained_model, tmp_path):
    """Mining with each algorithm, and mining+inference with the first, on the trained model: every output passes
    `ymir-sdk verify`, every candidate ranked once, predictions made. The tasks run one after the other in one
    executor process (they differ only in config.yaml; each reads its own env.yaml and writes its own outputs):
    the framework is imported once, not once per algorithm. The platform's one process per task, through
    `ymir-sdk run` and the image's start command: test_mine_and_infer_through_ymir_sdk_run and the two-process tests."""
    spec = _spec(name)
    works = {(task, a): str(tmp_path / f"{task}-{a}") for task, a in _tasks(name)}
    env_files = [_lay_out(spec, executor_dataset(name), work, task, {**spec.model_task, "mining_algorithm": a},
                          model=trained_model(name)) for (task, a), work in works.items()]
    r = run_in_one_process(spec.module, env_files, timeout=spec.timeout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for (task, _), work in works.items():
        _check_model_task(spec, work, task)


#: the mining options computed from the class counts a model's training lists in its stages: the key, its value,
#: what the log says
FROM_CLASS_COUNTS = {"aldd": ("class_distribution_scores", "auto", "class_distribution_scores auto: "),
                     "cald": ("cald_candidates", "2", "cald stage 2 on the 2 least consistent images")}


@pytest.mark.parametrize("name,algorithm", [(n, a) for n in NAMES for a in FROM_CLASS_COUNTS
                                            if a in EXECUTORS[n].algorithms])
def test_mining_reads_the_class_counts_of_the_model_s_training(name, algorithm, executor_dataset, trained_model,
                                                               tmp_path):
    """``class_distribution_scores: auto`` (aldd's class weights) and ``cald_candidates`` (CALD's stage 2, which
    lifts at most that many images: scores above 1) read the class counts the model's training listed in its
    stages (logged with them); a model whose stage lists none is a 300001 naming the key, nothing written."""
    spec = _spec(name)
    key, value, logged = FROM_CLASS_COUNTS[algorithm]
    sets = {**spec.model_task, "mining_algorithm": algorithm, key: value}
    without = copied_model(trained_model(name), str(tmp_path / "model"),
                           lambda stage_dir, entry: entry["files"].remove("class-counts.json"))
    works = [str(tmp_path / "with"), str(tmp_path / "without")]
    env_files = [_lay_out(spec, executor_dataset(name), work, "mine", sets, model=model)
                 for work, model in zip(works, (trained_model(name), without))]
    r = run_in_one_process(spec.module, env_files, timeout=spec.timeout)
    _check_model_task(spec, works[0], "mine")
    assert logged in r.stdout + r.stderr
    if algorithm == "cald":
        with open(os.path.join(works[0], "out", "result.tsv")) as f:
            assert sum(float(line.split("\t")[1]) > 1 for line in f) <= 2
    _failed_with(works[1], 300001, f"'{key}'", "class-counts.json")
    assert not os.path.exists(os.path.join(works[1], "out", "result.tsv"))


@only_on_test_stack
@pytest.mark.parametrize("name", NAMES)
def test_mine_and_infer_through_ymir_sdk_run(name, executor_dataset, trained_model, tmp_path):
    spec = _spec(name)
    work = str(tmp_path / "w")
    r = cli("run", spec.folder, *spec.run_args, "--task", "mine+infer", "--dataset", executor_dataset(name),
            "--work", work, "--model", trained_model(name), "--no-progress",
            *sets_args({**spec.model_task, "mining_algorithm": "random"}), timeout=spec.timeout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    _check_model_task(spec, work, "mine+infer")


@pytest.mark.parametrize("name", NAMES)
def test_two_process_training_passes_verify(name, executor_dataset, tmp_path):
    """Training under 2 torchrun processes (gloo on the CPU, what several gpu ids run on a GPU machine): the model is
    built for that process group (plain BN where the config asks for SyncBN, which refuses CPU tensors), and one
    finished result passes `ymir-sdk verify`."""
    spec = _spec(name)
    if spec.no_cpu_ddp_training:
        pytest.skip(spec.no_cpu_ddp_training)
    work = str(tmp_path / "w")
    env_file = _lay_out(spec, executor_dataset(name), work, "train", {**spec.fast, **spec.short})
    r = run_start(_folder(name), env_file, nproc=2, timeout=spec.timeout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert monitor_line(work)[2:5] == ["1.0000", "2", "0"], monitor_line(work)
    v = cli("verify", work, "--task", "train")
    assert v.returncode == 0, v.stdout
    result = yaml.safe_load(open(os.path.join(work, "out", "models", "result.yaml")))
    assert result["best_stage_name"] in result["model_stages"]


@pytest.mark.parametrize("name", NAMES)
def test_two_processes_rank_every_candidate_once(name, executor_dataset, trained_model, tmp_path):
    """Inference and mining sharded over 2 torchrun processes (gloo, CPU) on the dataset's images plus two whose
    header reads but whose pixels do not (one per rank): every decodable candidate exactly once, the two skipped
    and logged."""
    spec = _spec(name)
    ds = str(tmp_path / "ds")
    shutil.copytree(executor_dataset(name), ds)
    sub = "val" if spec.dataset == "ark" else ""
    with open(os.path.join(ds, "images", sub, "val_00000.png"), "rb") as f:
        good = f.read()
    # two distinct assets (the asset name is the content's hash) whose header reads
    _add_images(spec, ds, "val", ("val_zz1.png", "val_zz2.png"), lambda n: good[:60] + n.encode())
    work = str(tmp_path / "w")
    algorithm = "entropy" if "entropy" in spec.algorithms else spec.algorithms[0]
    env_file = _lay_out(spec, ds, work, "mine+infer", {**spec.model_task, "mining_algorithm": algorithm},
                        model=trained_model(name), candidates="all")
    r = run_start(_folder(name), env_file, nproc=2, timeout=spec.timeout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert cli("verify", work, "--task", "mine+infer").returncode == 0
    candidates = open(os.path.join(work, "in", "candidate-index.tsv")).read().split()
    n = spec.n_train + spec.n_val
    assert len(candidates) == n + 2  # one undecodable image on each rank
    ranked = [ln.split("\t")[0] for ln in open(os.path.join(work, "out", "result.tsv")).read().splitlines()]
    assert sorted(ranked) == sorted(candidates)  # every candidate, once
    broken = {c for c in candidates if os.path.getsize(c) < 100}  # the two cut copies (assets named by hash)
    assert len(broken) == 2 and set(ranked[-2:]) == broken  # the unreadable last
    predicted = _predicted(spec, work)
    assert set(predicted) == {os.path.basename(c) for c in candidates}
    assert all(predicted[os.path.basename(c)] == 0 for c in broken)
    assert r.stdout.count("skipping") + r.stderr.count("skipping") >= 2


# ------------------------------------------------------------------ malformed inputs
@only_on_test_stack
@pytest.mark.parametrize("name", NAMES)
def test_empty_training_set(name, executor_dataset, tmp_path):
    spec = _spec(name)
    work = str(tmp_path / "w")
    env_file = _lay_out(spec, executor_dataset(name), work, "train", {**spec.fast, **spec.short})
    open(os.path.join(work, "in", "train-index.tsv"), "w").close()
    r = run_start(_folder(name), env_file, timeout=300)
    assert r.returncode != 0
    _failed_with(work, 300002, "training dataset is empty")


@only_on_test_stack
@pytest.mark.parametrize("name", NAMES)
def test_unknown_model(name, executor_dataset, tmp_path):
    spec = _spec(name)
    key, value = spec.unknown_model
    work = str(tmp_path / "w")
    assert _train(spec, executor_dataset(name), work, sets={key: value}).returncode != 0
    _failed_with(work, 300001, f"'{key}'", value)


@only_on_test_stack
@pytest.mark.parametrize("name", NAMES)
def test_options_never_reach_a_shell(name, executor_dataset, tmp_path):
    spec = _spec(name)
    marker = tmp_path / "pwned"
    for key in spec.shell_options:
        work = str(tmp_path / key)
        r = _train(spec, executor_dataset(name), work, sets={key: f"--x; touch {marker} && echo $(id) `id`"})
        assert r.returncode != 0
        _failed_with(work, 300001, f"'{key}'")
    assert not marker.exists()


def _weights_of(spec, task, work):
    """The weight file a laid-out task's config.yaml names (model_params_path, or pretrained_model_params)."""
    cfg = yaml.safe_load(open(os.path.join(work, "in", "config.yaml")))
    key = "pretrained_model_params" if task == "train" else "model_params_path"
    return next(p for p in cfg[key] if p.endswith((".pt", ".pth")))


@pytest.mark.parametrize("name", NAMES)
def test_missing_corrupt_and_malicious_model_files(name, executor_dataset, trained_model, tmp_path):
    """Each gets 300004 naming the file; the malicious one (a pickle payload, loaded with plain pickle by the
    frameworks on torch < 2.4) never runs, in inference as in a training's pretrained model."""
    spec = _spec(name)
    marker = tmp_path / "pwned"

    def missing(path):
        os.unlink(path)

    def corrupt(path):
        os.unlink(path)
        open(path, "wb").write(b"garbage")

    def malicious(path):
        os.unlink(path)
        write_payload_checkpoint(path, marker)

    cases = [("infer", missing), ("infer", corrupt), ("infer", malicious), ("train", malicious)]
    for i, (task, edit) in enumerate(cases):
        work = str(tmp_path / f"{i}-{edit.__name__}")
        sets = {**spec.fast, **spec.short} if task == "train" else spec.model_task
        env_file = _lay_out(spec, executor_dataset(name), work, task, sets, model=trained_model(name))
        weights = _weights_of(spec, task, work)
        edit(weights)
        r = run_start(_folder(name), env_file, timeout=spec.timeout)
        assert r.returncode != 0, (task, edit.__name__)
        _failed_with(work, 300004, os.path.basename(weights))
    assert not marker.exists()


@pytest.mark.parametrize("name", NAMES)
def test_pretrained_weights_of_another_architecture(name, executor_dataset, trained_model, tmp_path):
    """The trained model offered to a training of another model: refused (300004) instead of loading the few
    tensors that happen to match."""
    spec = _spec(name)
    work = str(tmp_path / "w")
    r = _train(spec, executor_dataset(name), work, "--model", trained_model(name), sets=spec.foreign)
    assert r.returncode != 0
    _failed_with(work, 300004, "pretrained weights", *spec.foreign_words)


# ------------------------------------------------------------------ pretrained weights in the image
@pytest.mark.parametrize("name", NAMES)
def test_every_model_key_of_the_weight_table_is_a_model(name):
    """The weight table lists models the executor offers (its own tests check that every offered model is
    listed, with the official URLs)."""
    from ymir_sdk.weights import file_name

    _spec(name)
    table = _executor(name).pretrained_weights
    assert table and EXECUTORS[name].weights_key in table
    assert len({file_name(u) for u in table.values()}) == len(table)  # one file each in /weights


@pytest.mark.parametrize("name", NAMES)
def test_training_from_the_image_weights_drops_a_foreign_class_and_an_unreadable_image(name, executor_dataset,
                                                                                        trained_model, tmp_path,
                                                                                        monkeypatch):
    """No pretrained model chosen: the image's file for the model (from $YMIR_WEIGHTS_DIR: here the trained
    model's weights under the table's name) is loaded and the log says so. (With an empty weights folder the
    training starts from scratch with a warning: test_training_passes_verify checks it on the shared training.)
    In the same training, an object whose class is not one of the task's and an image whose data is cut short
    are dropped, counted and logged, and the training goes on."""
    from ymir_sdk.models import pick_weight_file
    from ymir_sdk.weights import file_name

    spec = _spec(name)
    models = os.path.join(trained_model(name), "out", "models")
    result = yaml.safe_load(open(os.path.join(models, "result.yaml")))
    best = result["best_stage_name"]
    files = [os.path.join(models, best, f) for f in result["model_stages"][best]["files"]]
    folder = tmp_path / "weights"
    folder.mkdir()
    image_file = folder / file_name(_executor(name).pretrained_weights[spec.weights_key])
    shutil.copy(pick_weight_file(files), image_file)
    monkeypatch.setenv("YMIR_WEIGHTS_DIR", str(folder))

    ds = str(tmp_path / "ds")
    shutil.copytree(executor_dataset(name), ds)
    sub = "train" if spec.dataset == "ark" else ""
    good = open(os.path.join(ds, "images", sub, "train_00001.png"), "rb").read()
    # its header reads and it ends with PNG's end chunk; half of its image data is gone: only a decode finds it
    # (the frameworks' loaders fail on it: yolov5's with 'Image Not Found')
    _add_images(spec, ds, "train", ("broken.png",), lambda n: good[: len(good) // 2] + good[-12:])
    work = str(tmp_path / "w")
    if spec.dataset == "ark":
        with open(os.path.join(ds, "annotations", "train", "train_00000.txt"), "a") as f:
            f.write("7, 1, 1, 10, 10, -1.0, 0.0\n")
        r = _train(spec, ds, work)
        text = executor_log(work)
    else:  # the platform's COCO file with an object of a category that is not one of the task's classes
        env_file = _lay_out(spec, ds, work, "train", {**spec.fast, **spec.short})
        path = os.path.join(work, "in", "annotations", "coco-annotations.json")
        coco = json.load(open(path))
        coco["categories"].append({"id": 77, "name": "zebra", "supercategory": "none"})
        coco["annotations"].append({**coco["annotations"][0], "id": 10 ** 6, "category_id": 77})
        json.dump(coco, open(path, "w"))
        r = run_start(_folder(name), env_file, timeout=spec.timeout)
        text = r.stdout + r.stderr
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert f"starting from the image's pretrained weights {image_file}" in text
    assert spec.loaded in text and "from scratch" not in text
    assert "1 objects with a class outside class_names (dropped)" in text
    assert "1 unreadable images (dropped)" in text


# ------------------------------------------------------------------ files result.yaml lists are whole, always
def _listed(work):
    """The files result.yaml lists now (result.yaml itself is written atomically)."""
    models = os.path.join(work, "out", "models")
    try:
        data = yaml.safe_load(open(os.path.join(models, "result.yaml"))) or {}
    except FileNotFoundError:
        return []
    return [os.path.join(models, name, f) for name, stage in (data.get("model_stages") or {}).items()
            for f in stage["files"]]


def _whole(path):
    """A torch checkpoint is a zip archive whose members all check; any other file is not empty. Read through one
    open file (FileNotFoundError: there is none, e.g. a rotated stage's, deleted once result.yaml dropped it)."""
    import zipfile

    with open(path, "rb") as f:
        if path.endswith((".pt", ".pth")):
            if not zipfile.is_zipfile(f):
                return False
            with zipfile.ZipFile(f) as z:
                return z.testzip() is None
        return os.fstat(f.fileno()).st_size > 0


@only_on_test_stack
@pytest.mark.parametrize("name", NAMES)
def test_listed_files_are_whole_while_written_and_after_a_kill(name, executor_dataset, tmp_path):
    """A reader polling result.yaml during a real training never finds a listed file partly written (weights and
    configs are written to a temporary name and renamed, result.yaml after); a kill -9 (the platform's
    `docker rm -f`) in the middle leaves result.yaml listing whole files only."""
    import random
    import signal
    import subprocess
    import time

    spec = _spec(name)
    work = str(tmp_path / "w")
    env_file = _lay_out(spec, executor_dataset(name), work, "train", {**spec.fast, **spec.stages})
    env = dict(os.environ, YMIR_ENV_FILE=env_file, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    proc = subprocess.Popen(start_command(_folder(name)), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    checked, partial, kill_at = 0, [], None
    deadline = time.time() + spec.timeout
    try:
        while proc.poll() is None and time.time() < deadline:
            files = _listed(work)
            for f in files:
                try:
                    whole = _whole(f)
                except FileNotFoundError:  # a rotated stage's files, deleted after result.yaml dropped them
                    continue
                checked += 1
                if not whole:
                    partial.append(f)
            if files and kill_at is None:
                kill_at = time.time() + random.Random(name).uniform(2, 8)
            if kill_at is not None and time.time() > kill_at:
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.005)  # 200 looks a second: a file written in place stays partial for longer; a busy loop
            # would take a core from the training it watches and from the other test worker
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert checked > 0 and partial == []
    after = _listed(work)
    assert after and all(os.path.exists(f) and _whole(f) for f in after), after
