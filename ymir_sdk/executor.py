"""The executor base class and the entry point that runs it the way the platform expects.

An executor is one class::

    class MyExecutor(Executor):
        name = "my-executor"
        object_types = (2,)
        TrainParams = MyTrainParams      # HyperParams subclasses: keys, types, defaults (= the img-man templates)
        InferParams = MyInferParams
        MineParams = MyMineParams

        def train(self, ctx): ...        # ctx: typed params, paths, progress, result writers
        def infer(self, ctx): ...
        def mine(self, ctx): ...

An executor is an importable package; its image's ``img-man/manifest.yaml`` names the class in
:data:`MANIFEST_EXECUTOR_KEY` (``executor_class: my_executor:MyExecutor``) and the image's CMD is
``python3 -m ymir_sdk exec``, which reads it (``ymir-sdk run`` starts a local executor folder the same way).

:func:`run` reads env.yaml, runs training alone, or mining then inference in one run, reports progress, and turns
any exception into monitor state 4 with the right code, a one-line message and the traceback, a clear log line
and a non-zero exit status.
"""
from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import logging
import os
import subprocess
import sys
import traceback
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Type

from . import results
from .config import HyperParams, load_config
from .dataset.imagesize import image_size
from .dataset.index import read_candidates, read_pairs
from .dist import close_process_group, relaunch_command, this_program
from .env import DEFAULT_OUT_ROOT, EnvConfig, load_env
from .errors import ConfigError, ImageError, ObjectTypeError, ReturnCode, YmirError, code_for_exception, one_line
from .models import CHECKPOINT_SUFFIXES, check_model_files, pick_weight_file
from .monitor import Monitor

log = logging.getLogger("ymir_sdk")
TASKS = ("train", "mine", "infer")


class Context:
    """What one task of a run sees: the env, typed params, progress reporting and the result writers."""

    def __init__(self, executor: "Executor", env: EnvConfig, params: HyperParams, monitor: Monitor, task: str):
        self.executor, self.env, self.params, self.monitor, self.task = executor, env, params, monitor, task
        self.skipped: List[str] = []
        self._model_files: Optional[List[str]] = None

    # ---------------------------------------------------------------- paths
    @property
    def class_names(self) -> List[str]:
        return list(self.params.class_names)

    @property
    def object_type(self) -> int:
        return self.params.object_type or self.executor.object_types[0]

    @property
    def work_dir(self) -> str:
        """Scratch space under the output root (writable, cleaned by the platform after success)."""
        path = os.path.join(self.env.output.root_dir, "work")
        os.makedirs(path, exist_ok=True)
        return path

    def training_pairs(self) -> List[Tuple[str, str]]:
        return read_pairs(self.env.input.training_index_file, "training")

    def validation_pairs(self) -> List[Tuple[str, str]]:
        return read_pairs(self.env.input.val_index_file, "validation")

    def training_dataset(self, convert: Callable[..., Any], train: Optional[List[Tuple[str, str]]] = None,
                         **options: Any) -> Any:
        """A training's splits (``train``: the training pairs when already read) through one of
        :mod:`ymir_sdk.dataset`'s converters (cached in the work folder), and the training split's class counts
        published in the models folder, where every stage lists them (mining's ``class_distribution_scores:
        auto``). Returns what the converter returns."""
        splits = {"train": self.training_pairs() if train is None else train, "val": self.validation_pairs()}
        return convert(splits, self.class_names, self.work_dir, counts_to=self.env.output.models_dir, **options)

    def candidates(self) -> List[str]:
        return read_candidates(self.env.input.candidate_index_file)

    def initial_weights(self, key: str, suffixes: Sequence[str] = CHECKPOINT_SUFFIXES) -> Optional[str]:
        """The weights a training starts from: the user's pretrained model when one was chosen, else the image's
        official pretrained file for ``key`` (the executor's ``pretrained_weights``), else None (from scratch);
        the log says which."""
        if self.params.pretrained_model_params:
            return pick_weight_file(self.model_files(), suffixes)
        from .weights import image_weights, weights_dir

        path = image_weights(self.executor.pretrained_weights, key)
        if path:
            log.info("no pretrained model chosen: starting from the image's pretrained weights %s", path)
        else:
            log.warning("no pretrained model chosen and no pretrained weights for %s in %s: training from scratch",
                        key, weights_dir())
        return path

    def model_files(self) -> List[str]:
        """The model files of this task (``pretrained_model_params`` in training, ``model_params_path`` else),
        resolved against ``input.models_dir`` (a legacy package is extracted flat: looked up by basename) and
        checked (:func:`~ymir_sdk.models.check_model_files`) once a task."""
        if self._model_files is None:
            paths = self.params.pretrained_model_params if self.task == "train" else self.params.model_params_path
            self._model_files = check_model_files(paths, self.env.input.models_dir)
        return list(self._model_files)

    # ---------------------------------------------------------------- progress and skipping
    def progress(self, fraction: float, stage: str = "task") -> None:
        self.monitor.progress(self.task, fraction, stage)

    def skip(self, path: str, reason: str) -> None:
        """Record an unreadable candidate: it is ranked last and has no boxes, and the log says why."""
        self.skipped.append(path)
        log.warning("skipping %s: %s", path, one_line(reason))

    def readable(self, paths: Iterable[str]) -> List[str]:
        """The paths whose image reads (:func:`~ymir_sdk.dataset.image_size`); the others are skipped (and
        logged). Not one readable is not a few bad images but a fault of the run: an ImageError."""
        out, paths = [], list(paths)
        for p in paths:
            try:
                image_size(p)
                out.append(p)
            except ImageError as e:
                self.skip(p, str(e))
        if paths and not out:
            raise ImageError(f"none of the {len(paths)} candidates could be read (first: {paths[0]}); see the log")
        return out

    # ---------------------------------------------------------------- results
    def training_result(self, max_stages: int = 11) -> results.TrainingResult:
        return results.TrainingResult(self.env.output.models_dir, self.env.output.training_result_file,
                                      self.object_type, max_stages)

    def write_detections(self, detections: Dict[str, Sequence[results.Detection]]) -> None:
        """infer-result.json: every candidate once (an unreadable one with no boxes); every box clipped to its
        image (a box partly outside is cut, one wholly outside dropped: the platform stores 32-bit integers and
        shows what is on the image)."""
        sizes = {path: image_size(path) for path, dets in detections.items() if dets}
        every = {**{path: [] for path in self.skipped}, **detections}
        results.write_detection_result(self.env.output.infer_result_file, every, self.class_names, sizes)

    def write_segmentation(self, found: Mapping[str, Tuple[int, int, Sequence[results.Instance]]]) -> None:
        """infer-result.json (COCO, RLE masks) from path -> (width, height, instances): every candidate once, an
        unreadable one with no annotation (and width and height 0 where its size cannot be read either: the
        platform reads neither)."""
        images = [(path, w, h, insts) for path, (w, h, insts) in found.items()]
        for path in dict.fromkeys(self.skipped):
            if path not in found:
                try:
                    w, h = image_size(path)
                except ImageError:
                    w, h = 0, 0
                images.append((path, w, h, []))
        results.write_coco_result(self.env.output.infer_result_file, images, self.class_names)

    def write_mining(self, scores, candidates: Optional[Sequence[str]] = None) -> None:
        results.write_mining_result(self.env.output.mining_result_file, scores, candidates, self.skipped)


class Executor:
    name = "executor"
    object_types: Tuple[int, ...] = (2,)
    TrainParams: Type[HyperParams] = HyperParams
    InferParams: Type[HyperParams] = HyperParams
    MineParams: Type[HyperParams] = HyperParams

    def train(self, ctx: Context) -> None:
        raise ConfigError("run_training", True, message=f"{self.name} does not support training")

    def infer(self, ctx: Context) -> None:
        raise ConfigError("run_infer", True, message=f"{self.name} does not support inference")

    def mine(self, ctx: Context) -> None:
        raise ConfigError("run_mining", True, message=f"{self.name} does not support mining")

    def mine_and_infer(self, mine: Context, infer: Context) -> bool:
        """Mining and inference of one run in one pass over the pool, where the executor can (the mining
        algorithm's scores come from inference's forward passes, e.g.
        :func:`ymir_sdk.loops.detection.mine_and_infer`); False: :meth:`mine`, then :meth:`infer`."""
        return False

    #: the official pretrained weights of each model the templates offer: model key -> URL (the images fetch
    #: and verify them at build time: :mod:`ymir_sdk.weights`)
    pretrained_weights: Dict[str, str] = {}

    def check_weights(self, key: str, path: str) -> None:
        """Raise a ModelError unless ``path`` holds the pretrained weights of model ``key``. The default only
        checks that the file loads as a safe checkpoint; executors confirm the architecture."""
        from .torch import load_checkpoint

        load_checkpoint(path)

    def resolve(self, config: Mapping[str, Any], env: EnvConfig) -> "Executor":
        """The executor that runs this run's tasks: itself. An image holding several executors (one per object
        type) returns the one the task asks for (:class:`MultiTypeExecutor`)."""
        return self

    def params_class(self, task: str) -> Type[HyperParams]:
        return {"train": self.TrainParams, "infer": self.InferParams, "mine": self.MineParams}[task]


class MultiTypeExecutor(Executor):
    """One image with an executor per object type (contract §1.5: a manifest ``object_type`` list, templates per
    type): :meth:`resolve` picks the one config.yaml's ``object_type`` names (platform >= 2.4), else the one
    :meth:`guess_object_type` infers; anything else is a 300005 error naming the supported types."""

    executors: Mapping[int, Type[Executor]] = {}
    #: export formats (before the ``:``) that tell the object type of a training when config.yaml does not
    export_formats: Mapping[str, int] = {"ark": 2, "det-ark": 2, "voc": 2, "det-voc": 2, "coco": 2}

    @property
    def object_types(self) -> Tuple[int, ...]:  # type: ignore[override]
        return tuple(self.executors)

    @property
    def pretrained_weights(self) -> Dict[str, str]:  # type: ignore[override]
        """Every part's weight table (the image fetches them all at build time)."""
        return {k: v for cls in self.executors.values() for k, v in cls.pretrained_weights.items()}

    def check_weights(self, key: str, path: str) -> None:
        """Checked by the part whose table holds ``key``."""
        for cls in self.executors.values():
            if key in cls.pretrained_weights:
                return cls().check_weights(key, path)
        return super().check_weights(key, path)

    def guess_object_type(self, config: Mapping[str, Any], env: EnvConfig) -> Any:
        """The object type when config.yaml does not say it (platform < 2.4): the export format's for a
        training, the model's (its package's ``ymir-info.yaml``) for inference and mining; None when unknown."""
        if env.run_training:
            return self.export_formats.get(str(config.get("export_format") or "").split(":")[0].lower())
        info = os.path.join(env.input.models_dir, "ymir-info.yaml")
        if not os.path.isfile(info):
            return None
        from .io import read_yaml_mapping

        return read_yaml_mapping(info, "ymir-info").get("object_type")

    def resolve(self, config: Mapping[str, Any], env: EnvConfig) -> Executor:
        otype = config.get("object_type")
        otype = self.guess_object_type(config, env) if otype in (None, "") else otype
        try:
            chosen = self.executors.get(int(otype)) if otype is not None else None
        except (TypeError, ValueError):
            chosen = None
        if chosen is None:
            raise ObjectTypeError(f"object_type {otype!r} is not supported by {self.name} (supported: "
                                  f"{sorted(self.executors)})")
        log.info("%s: object_type %s runs %s", self.name, otype, chosen.name)
        return chosen().resolve(config, env)


def setup_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _fallback_monitor() -> Optional[Monitor]:
    """Without a readable env.yaml the monitor path is unknown; the platform's output root is the best guess."""
    path = os.path.join(DEFAULT_OUT_ROOT, "monitor.txt")
    return Monitor(path, "default-task") if os.path.isdir(DEFAULT_OUT_ROOT) and os.access(DEFAULT_OUT_ROOT,
                                                                                         os.W_OK) else None


def launch_group(nproc: int, argv: Sequence[str], monitor: Monitor) -> int:
    """Run ``argv`` (this program) as ``nproc`` processes (torchrun); when the group fails, the first failing
    rank's code and message reach the monitor (state 4). Returns the group's exit status."""
    status = subprocess.call(relaunch_command(nproc, argv), stdin=subprocess.DEVNULL)
    if status != 0:
        monitor.report_group_failure(status)
    return status


def task_context(executor: Executor, task: str, raw: Mapping[str, Any], env: EnvConfig,
                 monitor: Monitor) -> Context:
    """What one task (train, mine or infer) of a run sees: its typed params checked, its model files resolved
    (a missing or broken model file fails in a second, before a framework is imported)."""
    params = executor.params_class(task).parse(dict(raw))
    params.check_task(task)
    if params.object_type is not None and params.object_type not in executor.object_types:
        raise ObjectTypeError(f"object_type {params.object_type} is not supported by {executor.name} "
                              f"(supported: {list(executor.object_types)})")
    ctx = Context(executor, env, params, monitor, task)
    ctx.model_files()
    return ctx


def run_task(executor: Executor, task: str, raw: Mapping[str, Any], env: EnvConfig, monitor: Monitor,
             ctx: Optional[Context] = None) -> None:
    """One task of a run: its context, then the executor's method, reported."""
    log.info("%s: %s starts", executor.name, task)
    monitor.progress(task, 0.0, "preprocess")
    ctx = ctx or task_context(executor, task, raw, env, monitor)
    getattr(executor, task)(ctx)
    monitor.finish(task)
    log.info("%s: %s done", executor.name, task)


def run_mine_and_infer(executor: Executor, raw: Mapping[str, Any], env: EnvConfig, monitor: Monitor) -> None:
    """Mining and inference of one run (both flags in env.yaml): in one pass over the pool where the executor
    can (:meth:`Executor.mine_and_infer`), else mining, then inference."""
    contexts = [task_context(executor, task, raw, env, monitor) for task in ("mine", "infer")]
    log.info("%s: mine and infer start", executor.name)
    for ctx in contexts:
        monitor.progress(ctx.task, 0.0, "preprocess")
    if executor.mine_and_infer(*contexts):
        for ctx in contexts:
            monitor.finish(ctx.task)
        log.info("%s: mine and infer done", executor.name)
        return
    for ctx in contexts:
        run_task(executor, ctx.task, raw, env, monitor, ctx)


def run(executor_cls: Type[Executor] | Callable[[], Executor], env_file: Optional[str] = None) -> int:
    """Run the tasks env.yaml asks for. Returns the exit status (0 on success)."""
    setup_logging()
    monitor: Optional[Monitor] = None
    try:
        env = load_env(env_file)
        if env.before_2_0:
            log.warning(env.before_2_0)
        tasks = env.tasks
        monitor = Monitor(env.output.monitor_file, env.task_id, tasks)
        if not tasks:
            raise ConfigError("run_training/run_mining/run_infer", False,
                              message="env.yaml asks for no task (run_training, run_mining and run_infer are false)")
        raw = load_config(env.input.config_file)
        executor = executor_cls().resolve(raw, env)
        gpus = HyperParams.parse({"gpu_id": raw.get("gpu_id")}).gpu_ids
        if gpus and importlib.util.find_spec("torch") is not None:  # an executor without torch uses no GPU
            from .torch.devices import check_gpus

            check_gpus(gpus)
        if len(gpus) > 1 and "WORLD_SIZE" not in os.environ:
            # several GPUs: the same program as one process per GPU (torchrun); rank 0 reports and writes
            log.info("%s: starting %d processes for GPUs %s", executor.name, len(gpus), gpus)
            return launch_group(len(gpus), this_program(), monitor)
        if tasks == ["mine", "infer"]:
            run_mine_and_infer(executor, raw, env, monitor)
        else:
            for task in tasks:
                run_task(executor, task, raw, env, monitor)
        close_process_group()  # a rank's clean end: the group's threads end before the interpreter does
        return 0
    except BaseException as exc:  # noqa: B036 - every failure must reach the monitor
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            return 0
        code = ReturnCode.CONTAINER_ERROR if isinstance(exc, KeyboardInterrupt) else code_for_exception(exc)
        message = one_line(getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}")
        log.error("failed with code %d: %s", int(code), message)
        log.debug("traceback", exc_info=True)
        traceback.print_exc(file=sys.stderr)
        monitor = monitor or _fallback_monitor()
        if monitor is not None:
            try:
                monitor.record_rank_error(code, message, traceback.format_exc())
                monitor.error(code, message, traceback.format_exc())
            except OSError as e:  # pragma: no cover - nothing more can be done
                log.error("could not write the monitor file: %s", e)
        return 1


# ------------------------------------------------------------------------------------------------ finding it
#: the key of an image's ``img-man/manifest.yaml`` that names its Executor class as ``module:Class`` (the
#: platform reads its own keys only: contract section 1.5)
MANIFEST_EXECUTOR_KEY = "executor_class"


def manifest_executor(manifest_file: str, required: bool = True) -> Optional[str]:
    """The ``module:Class`` an image's manifest names (:data:`MANIFEST_EXECUTOR_KEY`); without the file or the key:
    a 300001 error naming them, or None when not ``required``."""
    import yaml

    data: Any = None
    if os.path.isfile(manifest_file):
        with open(manifest_file, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    target = data.get(MANIFEST_EXECUTOR_KEY) if isinstance(data, dict) else None
    if isinstance(target, str) and target.strip():
        return target.strip()
    if required:
        raise ConfigError(MANIFEST_EXECUTOR_KEY, target, message=f"{manifest_file}: no {MANIFEST_EXECUTOR_KEY} "
                          "(module:Class of the image's Executor) - the image cannot tell which executor to run")
    return None


def import_from(root: str, module: str):
    """Import ``module`` as if the folder ``root`` came first on the path, without changing ``sys.path`` (its
    top-level package found in ``root``; already imported: kept)."""
    top = module.split(".")[0]
    if top not in sys.modules:
        spec = importlib.machinery.PathFinder.find_spec(top, [root])
        if spec is None or spec.loader is None:
            raise ImportError(f"no module {top} in {root}")
        sys.modules[top] = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(sys.modules[top])
        except BaseException:
            del sys.modules[top]
            raise
    return importlib.import_module(module)


def load_executor_class(target: str, root: Optional[str] = None) -> Type[Executor]:
    """An Executor class named ``module:Class``, or the one a module (an executor package) defines; ``root``: the
    folder the module imports from (else the path)."""
    module_name, _, name = target.partition(":")
    module = import_from(root, module_name) if root else importlib.import_module(module_name)
    if name:
        return getattr(module, name)
    found = {c for c in vars(module).values() if isinstance(c, type) and issubclass(c, Executor)
             and c.__module__.startswith(module.__name__)}
    if len(found) != 1:
        raise YmirError(f"{target} defines {len(found)} Executor classes; name one as module:Class")
    return found.pop()
