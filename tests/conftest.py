import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = os.path.join(ROOT, "tests", "toy_executor")


#: the images' lanes (``make test-images`` sets YMIR_TEST_EXECUTORS) prove that the images' stacks run each executor
#: end to end: training, inference, each mining algorithm, mining + inference, two processes, checkpoint safety, the
#: weights fallback. What is the same code on every stack - input validation before the framework runs, the SDK's
#: file writing under a kill - runs on the test stack only (it kept CI under its time).
only_on_test_stack = pytest.mark.skipif(bool(os.environ.get("YMIR_TEST_EXECUTORS")),
                                     reason="the same code on every stack: run on the test stack")


#: modules of framework-free SDK code: of the images' stacks, the torch 1.8.1 lane runs them; the cu113 lane
#: (``make test-images`` sets YMIR_TEST_LANE=cu113) has the same Python 3.8 and runs its frameworks' tests
FRAMEWORK_FREE = {"test_contract.py", "test_dataset.py", "test_env_config.py", "test_hardening.py", "test_monitor.py",
                  "test_toy_e2e.py", "test_ymir_exc.py"}


def pytest_collection_modifyitems(config, items):
    # the tests marked slow (``slow(seconds)``: minutes each, no shared fixture) first, longest first:
    # pytest-xdist hands the first tests out in turn, so the workers start with them and none ends the run alone
    # with one
    def seconds(item):
        mark = item.get_closest_marker("slow")
        return -(mark.args[0] if mark and mark.args else 0)

    items.sort(key=seconds)
    if os.environ.get("YMIR_TEST_LANE") != "cu113":
        return
    skip = pytest.mark.skip(reason="framework-free: run on the torch 1.8.1 lane's same Python 3.8")
    for item in items:
        if os.path.basename(str(item.fspath)) in FRAMEWORK_FREE:
            item.add_marker(skip)


#: ``YMIR_TEST_BREAK_LEARNING=1``: every learning test trains with a learning rate of zero and must then fail (a
#: learning test that passes without learning proves nothing): ``YMIR_TEST_BREAK_LEARNING=1 pytest -k learns``
BREAK_LEARNING = os.environ.get("YMIR_TEST_BREAK_LEARNING") == "1"


def learning_rate(value):
    """A learning test's learning rate: ``value``, or 0 where ``YMIR_TEST_BREAK_LEARNING=1`` breaks learning."""
    return 0.0 if BREAK_LEARNING else value


def require_executor(name, *frameworks):
    """Skip (a test or, at module level, a module) unless the executor's frameworks are installed and the lane
    tests it: an images' stack tests its own images' executors (``YMIR_TEST_EXECUTORS``, set by the Makefile:
    the cu113 stack holds mmdet too, as mmyolo's dependency, but the mmdet image is tested on torch 1.8.1)."""
    chosen = os.environ.get("YMIR_TEST_EXECUTORS")
    # the image's name or its package's (seg-in-one, executors/seg_in_one)
    if chosen and name.replace("_", "-") not in [c.replace("_", "-") for c in chosen.split(",")]:
        pytest.skip(f"{name} is tested on its own images' stack", allow_module_level=True)
    for framework in frameworks:
        pytest.importorskip(framework)


def write_env(tmp, run_training=False, run_mining=False, run_infer=False, **input_files):
    """A platform-like env.yaml under tmp (in/ and out/), returning its path."""
    din, dout = os.path.join(tmp, "in"), os.path.join(tmp, "out")
    os.makedirs(os.path.join(dout, "models"), exist_ok=True)
    os.makedirs(os.path.join(dout, "tensorboard"), exist_ok=True)
    os.makedirs(os.path.join(din, "models"), exist_ok=True)
    env = {"input": {"root_dir": din, "config_file": os.path.join(din, "config.yaml"),
                     "models_dir": os.path.join(din, "models"), **input_files},
           "output": {"root_dir": dout}, "task_id": "t-test", "protocol_version": "1.1.0",
           "run_training": run_training, "run_mining": run_mining, "run_infer": run_infer}
    path = os.path.join(din, "env.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(env, f)
    return path


def write_yaml(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        yaml.safe_dump(data, f)
    return path


def _process_group(pgid):
    """The live processes of a process group, oldest first."""
    pids = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            pids.append((int(fields[19]), int(name)))  # start time, pid
    return [pid for _, pid in sorted(pids)]


def run_process(cmd, timeout, env=None, cwd=None):
    """``subprocess.run(cmd)`` with its output captured, and a hang that says where it is: past ``timeout`` every
    process of the run (torchrun's ranks and DataLoader workers too: one process group) gets SIGABRT, on which
    Python's faulthandler (enabled here by PYTHONFAULTHANDLER) prints each thread's stack, and the test fails with
    those stacks instead of a bare TimeoutExpired."""
    env = dict(os.environ if env is None else env, PYTHONFAULTHANDLER="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for pid in _process_group(proc.pid):  # one at a time, parents first: their stacks do not interleave
            try:
                os.kill(pid, signal.SIGABRT)
            except ProcessLookupError:
                pass
            time.sleep(1)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        pytest.fail(f"{' '.join(map(str, cmd))[:300]} ran past {timeout} s; its stacks and last output:\n"
                    f"{(out or '')[-2000:]}\n{(err or '')[-8000:]}", pytrace=False)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def cli(*args, timeout=300, env=None):
    """Run the ymir-sdk command line as a user would (``env``: variables set for this run only)."""
    return run_process([sys.executable, "-m", "ymir_sdk", *args], timeout, dict(os.environ, **(env or {})), ROOT)


def once(tmp_path_factory, key, make):
    """``make(folder)`` run once per test run, across pytest-xdist's worker processes too: the first caller makes
    ``<shared temp>/<key>`` under a lock while the others wait, later callers return it at once. A ``make`` that
    fails leaves no folder behind, so the next caller tries again (and fails with the same message). Used for each
    generated dataset and each trained model (``make test`` runs every lane with ``-n 2``)."""
    import fcntl
    import shutil

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # shared by the run's workers
    folder, done = root / "once" / key, root / "once" / f"{key}.done"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(root / "once" / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            try:
                make(str(folder))
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            done.touch()
    return str(folder)


@pytest.fixture(scope="session")
def ark_dataset(tmp_path_factory):
    from ymir_sdk.tools.synthetic import write_ark_dataset

    return once(tmp_path_factory, "ark", lambda root: write_ark_dataset(root, n_train=24, n_val=8))


class Payload:
    """What a malicious checkpoint pickles: unpickling it calls ``fn(*args)``."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def write_payload_checkpoint(path, marker):
    """A checkpoint that, loaded with plain pickle, creates ``marker`` (with real tensors beside the payload)."""
    import torch

    torch.save({"state_dict": {"w": torch.zeros(2)}, "model": Payload(os.system, f"touch {marker}")}, str(path))


# ------------------------------------------------------------------ each executor's data and trained model, once
def sets_args(sets):
    """``--set key=value`` arguments of a settings mapping."""
    return [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]


@pytest.fixture(scope="session")
def executor_dataset(tmp_path_factory):
    """``executor_dataset(name)``: the generated ark dataset of an executor's spec (made once a session)."""
    from executor_specs import EXECUTORS
    from ymir_sdk.tools.synthetic import write_ark_dataset, write_coco_dataset

    def get(name):
        spec = EXECUTORS[name]
        write = write_coco_dataset if spec.dataset == "coco" else write_ark_dataset
        return once(tmp_path_factory, f"{name}-data",
                    lambda root: write(root, n_train=spec.n_train, n_val=spec.n_val, size=spec.size, **spec.data))

    return get


@pytest.fixture(scope="session")
def trained_model(executor_dataset, tmp_path_factory):
    """``trained_model(name)``: the work folder of the executor's tiny training (trained once a test run, shared by
    the conformance suite and the executor's own tests, on every worker). No model is chosen and the image's
    weights folder is empty: the training starts from scratch (the conformance suite checks that it says so)."""
    from executor_specs import EXECUTORS

    def train(name, work):
        spec = EXECUTORS[name]
        empty = os.path.join(os.path.dirname(work), f"{name}-no-weights")
        os.makedirs(empty, exist_ok=True)
        r = cli("run", spec.folder, *spec.run_args, "--task", "train", "--dataset", executor_dataset(name),
                "--work", work, "--no-progress", *sets_args({**spec.fast, **spec.train}), timeout=spec.timeout,
                env={"YMIR_WEIGHTS_DIR": empty})
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]

    return lambda name: once(tmp_path_factory, f"{name}-trained", lambda work: train(name, work))


# ------------------------------------------------------------------ helpers shared by the executors' tests
def monitor_line(work):
    """The first line of a run's monitor.txt, split into its TAB fields."""
    with open(os.path.join(work, "out", "monitor.txt")) as f:
        return f.readline().rstrip("\n").split("\t")


def best_stage(work):
    """A finished training's result.yaml, its best stage's folder and that stage's entry."""
    models = os.path.join(work, "out", "models")
    result = yaml.safe_load(open(os.path.join(models, "result.yaml")))
    best = result["best_stage_name"]
    return result, os.path.join(models, best), result["model_stages"][best]


def copied_model(trained, work, edit, stage=None):
    """A copy of a trained run's output (``work``) whose best stage (or ``stage``) is changed by
    ``edit(stage_dir, entry)`` (``entry``: its result.yaml entry; what ``edit`` changes in it is written back)."""
    import shutil

    shutil.copytree(os.path.join(trained, "out"), os.path.join(work, "out"))
    result, stage_dir, entry = best_stage(work)
    if stage is not None:
        stage_dir, entry = os.path.join(os.path.dirname(stage_dir), stage), result["model_stages"][stage]
    edit(stage_dir, entry)
    write_yaml(os.path.join(work, "out", "models", "result.yaml"), result)
    return work


def as_legacy_stage(stage_dir, stage, config_name):
    """An OpenMMLab stage re-saved the way the reference images (mmdet 2.x, mmseg 0.x on mmcv 1.x) saved one:
    the config in the old layout, named ``config_name`` - the model without data_preprocessor (and YOLOX's 2.x
    input keys), ``img_norm_cfg``, a ``data`` dict whose test pipeline is ``MultiScaleFlipAug`` over the old steps
    (Resize, RandomFlip, Pad or Normalize, DefaultFormatBundle or ImageToTensor, Collect), the old runtime keys -
    and an mmcv 1.x checkpoint (``meta.CLASSES`` with the semantic image's ``ymir_background``, ``meta.config``,
    an optimizer)."""
    import torch
    from mmengine.config import Config

    from ymir_sdk.models import pick_weight_file
    from ymir_sdk.torch import load_checkpoint

    pth = pick_weight_file([os.path.join(stage_dir, f) for f in stage["files"]], (".pth",))
    config = next(os.path.join(stage_dir, f) for f in stage["files"] if f.endswith(".py"))
    cfg = Config.fromfile(config)
    model = cfg.model.to_dict()
    pre = model.pop("data_preprocessor")
    norm = dict(mean=list(pre.get("mean") or [0.0] * 3), std=list(pre.get("std") or [1.0] * 3),
                to_rgb=bool(pre.get("bgr_to_rgb")))
    resize = next(s for s in cfg.test_dataloader.dataset.pipeline if s["type"] == "Resize")
    scale = tuple(resize["scale"])
    segmentation = model["type"] == "EncoderDecoder"
    if segmentation:
        steps = [dict(type="Resize", keep_ratio=True), dict(type="RandomFlip"), dict(type="Normalize", **norm),
                 dict(type="ImageToTensor", keys=["img"]), dict(type="Collect", keys=["img"])]
    else:
        model.update(input_size=scale, random_size_range=(15, 25), random_size_interval=10)
        steps = [dict(type="Resize", keep_ratio=True), dict(type="RandomFlip"),
                 dict(type="Pad", pad_to_square=True, pad_val=dict(img=(114.0, 114.0, 114.0))),
                 dict(type="DefaultFormatBundle"), dict(type="Collect", keys=["img"])]
    test_pipeline = [dict(type="LoadImageFromFile"),
                     dict(type="MultiScaleFlipAug", img_scale=scale, flip=False, transforms=steps)]
    test = dict(type="CustomDataset" if segmentation else "CocoDataset", ann_file="/out/val.tsv", img_prefix="",
                pipeline=test_pipeline)
    old = dict(model=model, img_norm_cfg=norm, test_pipeline=test_pipeline,
               data=dict(samples_per_gpu=8, workers_per_gpu=4, val=test, test=test),
               evaluation=dict(interval=1), checkpoint_config=dict(interval=1),
               optimizer=dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=0.0005),
               runner=dict(type="EpochBasedRunner", max_epochs=2), work_dir="/out/models", gpu_ids=[0])
    text = "".join(f"{k} = {v!r}\n" for k, v in old.items())
    os.remove(config)
    with open(os.path.join(stage_dir, config_name), "w") as f:
        f.write(text)
    ckpt = load_checkpoint(pth)
    classes = ["ymir_background" if c == "background" else c for c in ckpt["meta"]["dataset_meta"]["classes"]]
    version = {"mmseg_version": "0.27.0"} if segmentation else {"mmdet_version": "2.22.0"}
    torch.save({"meta": {**version, "mmcv_version": "1.6.1", "CLASSES": tuple(classes), "config": text,
                         "epoch": 2, "iter": 10},
                "state_dict": ckpt["state_dict"], "optimizer": {"state": {}, "param_groups": []}}, pth)
    stage["files"] = [os.path.basename(pth), config_name]


def executor_log(work):
    with open(os.path.join(work, "out", "ymir-executor-out.log"), errors="replace") as f:
        return f.read()


def lay_out_task(folder, dataset, work, task, sets, **kw):
    """``ymir-sdk run``'s lay-out of one task of ``executors/<folder>`` on a generated dataset, without running
    it (``kw``: :func:`ymir_sdk.tools.runner.lay_out`'s model, object_type, candidates...). Returns its env.yaml."""
    from ymir_sdk.tools.localdata import read_dataset
    from ymir_sdk.tools.runner import lay_out

    return lay_out(work, read_dataset(dataset), task, os.path.join(ROOT, "executors", folder, "img-man"), sets, **kw)


def run_in_one_process(executor, env_files, timeout=600):
    """Laid-out tasks run one after the other by one process of ``executor`` (``module:Class``), each through
    ``ymir_sdk.run`` with its own env.yaml, outputs and monitor: a test's shortcut where only the tasks' settings
    differ (the platform starts a process per task, as :func:`run_start` does; this pays the framework's imports
    once). The exit status is the worst task's."""
    code = ("import sys; from ymir_sdk import run; from ymir_sdk.executor import load_executor_class; "
            "cls = load_executor_class(sys.argv[1]); sys.exit(max([run(cls, f) for f in sys.argv[2:]]))")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    return run_process([sys.executable, "-c", code, executor, *env_files], timeout, env, ROOT)


def start_command(executor_dir, nproc=1):
    """The command that starts the executor as its image does (``python -m ymir_sdk exec``, the class its
    manifest names), under torchrun for ``nproc`` > 1."""
    from ymir_sdk.dist import relaunch_command
    from ymir_sdk.tools.runner import find_executor

    cmd = find_executor(executor_dir).command
    return cmd if nproc == 1 else relaunch_command(nproc, cmd[1:])


def run_start(executor_dir, env_file, nproc=1, timeout=600):
    """The executor against env.yaml, as the platform runs its image (under torchrun for ``nproc`` > 1)."""
    env = dict(os.environ, YMIR_ENV_FILE=env_file, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)  # as the image's /app
    return run_process(start_command(executor_dir, nproc), timeout, env)


def build_mm_config(tmp_path, config, max_epochs, **kw):
    """The OpenMMLab glue's training config of ``config`` for three classes, without running anything."""
    from ymir_sdk.openmmlab.config import build_config

    return build_config(config, work_dir=str(tmp_path), classes=["a", "b", "c"], train_json="/d/train.json",
                        val_json="/d/val.json", batch_size=2, workers=0, max_epochs=max_epochs, **kw)


def tensorboard_content(folder):
    """A TensorBoard folder read back with tensorboard's own event reader: its tags by kind, and each image tag's
    (step, width, height) in order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(folder, size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    ea.Reload()
    tags = ea.Tags()
    return tags, {t: [(e.step, e.width, e.height) for e in ea.Images(t)] for t in tags["images"]}
