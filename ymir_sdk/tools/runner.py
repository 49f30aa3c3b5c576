"""``ymir-sdk run``: lay out a work folder exactly as the platform would, run an executor on it, summarise.

``WORKDIR/in`` gets hash-named assets, index files, annotations in the template's ``export_format``, env.yaml,
and a config.yaml built from the image's template the way the web form and the controller build it (typed
values stay typed, values given with ``--set`` arrive as strings, mining/infer forms drop falsy values, the
platform keys are added). ``WORKDIR/out`` starts as the platform leaves it: a pending monitor line, empty
``models/`` and ``tensorboard/``. The executor runs as its own process with the console going to
``out/ymir-executor-out.log``, while a progress bar follows monitor.txt.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from ..contract import OBJECT_TYPES, TEMPLATE_FILES
from ..dataset.annotations import ark_line, inclusive_corners
from ..dataset.imagesize import image_size
from ..errors import ConfigError, DatasetError, ImageError, ModelError
from ..io import link_or_copy
from ..monitor import read_fields
from .localdata import LocalDataset, LocalImage
from .outputs import MINING_RESULT, MONITOR, TaskOutput, best_stage, numeric_metrics

RUN_TASKS = ("train", "infer", "mine", "mine+infer")


@dataclass
class ExecutorSpec:
    command: List[str]
    img_man: str
    cwd: str
    #: the folder holding the executor's top-level package (as the image's PYTHONPATH holds it), or ''
    pythonpath: str = ""


def package_root(folder: str) -> str:
    """The folder from which a Python package folder imports by name: the parent of its topmost package (''
    when ``folder`` is not a package)."""
    folder = os.path.abspath(folder)
    if not os.path.isfile(os.path.join(folder, "__init__.py")):
        return ""
    while os.path.isfile(os.path.join(os.path.dirname(folder), "__init__.py")):
        folder = os.path.dirname(folder)
    return os.path.dirname(folder)


def find_executor(spec: str, img_man: Optional[str] = None) -> ExecutorSpec:
    """EXECUTOR is an executor folder, or its name under ``executors/`` (looked up in ``YMIR_EXECUTORS_DIR``, then
    the current folder; ``seg-in-one`` finds ``seg_in_one``), whose ``img-man/manifest.yaml`` names its class
    (``executor_class``): it runs as its image runs it, ``python -m ymir_sdk exec`` with its package importable.
    A start command (a file, or a folder holding ``start.py``: the original executors' shape) runs as it is."""
    from ..executor import manifest_executor

    candidates = [spec]
    if not os.path.exists(spec):
        roots = [os.environ.get("YMIR_EXECUTORS_DIR", ""), os.path.join(os.getcwd(), "executors")]
        names = dict.fromkeys([spec, spec.replace("-", "_")])
        candidates = [os.path.join(r, n) for r in roots if r for n in names]
    for cand in candidates:
        folder = os.path.abspath(cand)
        target = os.path.isdir(folder) and manifest_executor(os.path.join(folder, "img-man", "manifest.yaml"),
                                                            required=False)
        if target:
            root = package_root(folder) or folder
            return ExecutorSpec([sys.executable, "-m", "ymir_sdk", "exec", target],
                                os.path.abspath(img_man or os.path.join(folder, "img-man")), root, root)
        if os.path.isdir(cand) and os.path.isfile(os.path.join(cand, "start.py")):
            cand = os.path.join(cand, "start.py")
        if os.path.isfile(cand):
            cand = os.path.abspath(cand)
            folder = os.path.dirname(cand)
            command = [sys.executable, cand] if cand.endswith(".py") else [cand]
            return ExecutorSpec(command, os.path.abspath(img_man or os.path.join(folder, "img-man")), folder,
                                package_root(folder))
    raise ConfigError("EXECUTOR", spec, "an executor folder or name (its img-man/manifest.yaml names the class), "
                      "a start command, or a folder with start.py")


# ------------------------------------------------------------------------------------------------ config
def read_templates(img_man: str, object_type: Optional[int]) -> Tuple[Dict[str, dict], int]:
    """The image's templates for one object type (flat files, or the per-type folder of a list manifest)."""
    if not os.path.isdir(img_man):
        raise ConfigError("img-man", img_man, message=f"{img_man}: no such folder (the image's templates)")
    manifest_path = os.path.join(img_man, "manifest.yaml")
    manifest = {}
    if os.path.exists(manifest_path):
        with open(manifest_path, encoding="utf-8") as f:
            manifest = yaml.safe_load(f) or {}
    declared = manifest.get("object_type", 2)
    folder = img_man
    if isinstance(declared, list):
        object_type = object_type or declared[0]
        if object_type not in declared:
            raise ConfigError("object_type", object_type, f"one of the image's types {declared}")
        folder = os.path.join(img_man, OBJECT_TYPES[object_type])
    else:
        object_type = object_type or declared
    templates = {}
    for task, name in TEMPLATE_FILES.items():
        path = os.path.join(folder, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f)
            if isinstance(data, dict):
                templates[task] = data
    return templates, object_type


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def form_value(template_value: Any, text: str) -> Any:
    """A user's edit as the web form sends it (contract 3.1): a number-typed template value is edited in a number
    box and arrives as a number; everything else typed arrives as a string. (Text that is no number stays a
    string, which the platform's number box could not send: the executor's own check then names the key.)"""
    number = text.strip()
    if isinstance(template_value, (int, float)) and not isinstance(template_value, bool) \
            and _NUMBER.fullmatch(number):
        return int(number) if number.lstrip("+-").isdigit() else float(number)
    return text


def web_config(template: dict, sets: Dict[str, str], task: str) -> dict:
    """What the web form submits: the template, the user's edits (:func:`form_value`), then its filter (training
    keeps everything but '' values; mining and inference drop every falsy value, a number 0 too)."""
    config = dict(template)
    config.update({k: form_value(template.get(k), v) for k, v in sets.items()})
    if task == "train":
        return {k: v for k, v in config.items() if k != "" and v != ""}
    return {k: v for k, v in config.items() if k and v}


def parse_sets(items: Sequence[str]) -> Dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError("--set", item, "key=value")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out


# ------------------------------------------------------------------------------------------------ assets
def file_sha1(path: str) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _asset_ext(path: str) -> str:
    with open(path, "rb") as f:
        head = f.read(8)
    if head[:3] == b"\xff\xd8\xff":
        return "jpg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:2] == b"BM":
        return "bmp"
    return "unknown"


def _ark_text(image: LocalImage) -> str:
    return "".join(ark_line(o.class_id, o.box, o.angle) for o in image.objects)


def _voc_text(image: LocalImage, asset: str, class_names: Sequence[str]) -> str:
    w, h = image_size(asset)
    objs = []
    for o in image.objects:
        x, y, xmax, ymax = inclusive_corners(*o.box)
        objs.append(f"<object><name>{class_names[o.class_id]}</name><pose>Unspecified</pose><truncated>0</truncated>"
                    f"<occluded>0</occluded><bndbox><xmin>{x}</xmin><ymin>{y}</ymin><xmax>{xmax}</xmax>"
                    f"<ymax>{ymax}</ymax><rotate_angle>{o.angle:.4f}</rotate_angle></bndbox><difficult>0</difficult>"
                    f"<box_quality>-1.0000</box_quality><confidence>-1.0000</confidence></object>")
    return (f"<annotation><folder>folder</folder><filename>{asset}</filename><source><database>Unknown</database>"
            f"</source><size><width>{w}</width><height>{h}</height><depth>3</depth></size><segmented>0</segmented>"
            + "".join(objs) + "</annotation>")


def _coco_export(entries: List[Tuple[str, LocalImage]], class_names: Sequence[str]) -> dict:
    """The platform's single COCO file: images sorted by hash, basename file_name, 0-based category ids listing
    only classes that occur, int bbox, RLE/polygon or {} segmentation."""
    images, annotations, used = [], [], set()
    for img_id, (asset, image) in enumerate(sorted(entries, key=lambda e: os.path.basename(e[0])), 1):
        try:
            w, h = image_size(asset)
        except ImageError:  # exported as the platform does; the executor finds out (and skips it)
            w, h = 0, 0
        images.append({"id": img_id, "file_name": os.path.basename(asset), "width": w, "height": h,
                       "date_captured": "", "license": 1, "coco_url": "", "flickr_url": ""})
        for o in image.objects:
            x1, y1, x2, y2 = o.box
            bbox = [int(round(x1)), int(round(y1)), int(round(x2 - x1)), int(round(y2 - y1))]
            seg = o.segmentation or {}
            area = 0
            if seg and w and h:
                from ..dataset.convert import decode_segmentation

                area = int(decode_segmentation(seg, h, w).sum())
            used.add(o.class_id)
            annotations.append({"id": len(annotations) + 1, "image_id": img_id, "category_id": o.class_id,
                                "iscrowd": 0, "bbox": bbox, "confidence": -1.0, "area": area, "segmentation": seg})
    categories = [{"id": i, "name": class_names[i], "supercategory": "object"} for i in sorted(used)]
    return {"images": images, "licenses": [{"id": 1, "name": "", "url": ""}], "categories": categories,
            "annotations": annotations}


# ------------------------------------------------------------------------------------------------ layout
def task_id() -> str:
    return "t" + hashlib.sha1(str(time.time_ns()).encode()).hexdigest()[:29]


def model_result_file(source: str) -> str:
    """result.yaml of a finished training given as its work folder or its out/models (``--model``)."""
    models_out = os.path.join(source, "out", "models") if os.path.isdir(os.path.join(source, "out")) else source
    return os.path.join(models_out, "result.yaml")


def _copy_model(source: str, models_in: str, stage: Optional[str]) -> Tuple[List[str], dict]:
    """Copy one stage of a finished training (a work folder, or its out/models) into ``in/models/<stage>/``,
    as the platform unpacks a model package; returns the copied paths and the ymir-info.yaml content."""
    result_file = model_result_file(source)
    models_out = os.path.dirname(result_file)
    result = TaskOutput(os.path.dirname(models_out)).training_result()
    if result is None:
        raise ModelError(f"no result.yaml in {models_out}: not a finished training")
    stage = stage or result.get("best_stage_name")
    stages = result.get("model_stages") or {}
    if stage not in stages:
        raise ModelError(f"stage {stage!r} is not in {result_file} (stages: {sorted(stages)})")
    copied = []
    for name in stages[stage]["files"]:
        src = next(p for p in (os.path.join(models_out, stage, name), os.path.join(models_out, name))
                   if os.path.exists(p))
        dest = os.path.join(models_in, stage, name)
        link_or_copy(src, dest, replace=False)
        copied.append(dest)
    train_config = {}
    cfg_path = os.path.join(os.path.dirname(models_out), "..", "in", "config.yaml")
    if os.path.exists(cfg_path):
        with open(cfg_path, encoding="utf-8") as f:
            train_config = yaml.safe_load(f) or {}
    info = {"executor_config": train_config, "stages": stages, "best_stage_name": result.get("best_stage_name"),
            "object_type": result.get("object_type", 2), "package_version": "2.0.0", "stage_name": stage}
    return copied, info


def lay_out(work: str, dataset: LocalDataset, task: str, img_man: str, sets: Dict[str, str], *, gpus: str = "",
            model: Optional[str] = None, stage: Optional[str] = None, object_type: Optional[int] = None,
            candidates: str = "val") -> str:
    """Create ``work/in`` and ``work/out`` for one platform task; returns the env.yaml path. The task's options
    (``gpus``, the ``model`` folder and ``stage`` it starts from, the ``object_type``, the split whose images are
    the ``candidates`` of inference and mining) are named."""
    if task not in RUN_TASKS:
        raise ConfigError("--task", task, f"one of {RUN_TASKS}")
    work = os.path.abspath(work)
    for sub in ("in", "out"):
        shutil.rmtree(os.path.join(work, sub), ignore_errors=True)
    din, dout = os.path.join(work, "in"), os.path.join(work, "out")
    for d in (os.path.join(din, "assets"), os.path.join(din, "annotations"), os.path.join(din, "models"),
              os.path.join(dout, "models"), os.path.join(dout, "tensorboard")):
        os.makedirs(d)
    config = _task_config(img_man, task, sets, gpus, object_type)
    if task == "train":
        index = _lay_out_training(din, dataset, config, model, stage)
    else:
        index = _lay_out_model_task(din, dataset, config, task, model, stage, candidates)
    _dump(os.path.join(din, "config.yaml"), dict(sorted(config.items())))
    env_file = os.path.join(din, "env.yaml")
    _dump(env_file, _env(din, dout, img_man, index, task, config["task_id"]))
    _write(os.path.join(dout, "monitor.txt"), f"{config['task_id']}\t{time.time():.6f}\t0.00\t1\t0\n")
    return env_file


def _task_config(img_man: str, task: str, sets: Dict[str, str], gpus: str, object_type: Optional[int]) -> dict:
    """config.yaml as the web form and the controller make it: the template, the user's values, platform keys."""
    templates, object_type = read_templates(img_man, object_type)
    template_task = "mine" if task.startswith("mine") else task
    if template_task not in templates:
        raise ConfigError(TEMPLATE_FILES[template_task], img_man, message=f"the image has no "
                          f"{TEMPLATE_FILES[template_task]} for object type {object_type}: it does not support {task}")
    config = web_config(templates[template_task], sets, template_task)
    config.update({"task_id": task_id(), "gpu_id": gpus, "gpu_count": len(gpus.split(",")) if gpus else 0,
                   "object_type": object_type})
    return config


def _asset(din: str, image: LocalImage) -> str:
    """The image in the platform's asset store (``assets/<last 2 hex>/<sha1>.<ext>``)."""
    digest = file_sha1(image.path)
    dest = os.path.join(din, "assets", digest[-2:], f"{digest}.{_asset_ext(image.path)}")
    link_or_copy(image.path, dest, replace=False)
    return dest


def _annotation(din: str, fmt: str, asset: str, image: LocalImage, class_names: Sequence[str],
                coco_file: str) -> Optional[str]:
    """The annotation file of one training asset in the export format (None: the format writes no pairs)."""
    digest = os.path.splitext(os.path.basename(asset))[0]
    if fmt in ("ark", "det-ark"):
        ann = os.path.join(din, "annotations", digest[-2:], digest + ".txt")
        _write(ann, _ark_text(image))
        return ann
    if fmt in ("voc", "det-voc"):
        ann = os.path.join(din, "annotations", digest[-2:], digest + ".xml")
        _write(ann, _voc_text(image, asset, class_names))
        return ann
    if fmt in ("coco", "seg-coco"):
        return coco_file
    return None  # 'none' or a typo: the platform writes no pairs at all


def _lay_out_training(din: str, dataset: LocalDataset, config: dict, model: Optional[str],
                      stage: Optional[str]) -> Dict[str, str]:
    """Index files, assets and annotations of a training; the pretrained model when one is given."""
    config["class_names"] = list(dataset.class_names)
    if model:
        config["pretrained_model_params"], info = _copy_model(model, os.path.join(din, "models"), stage)
        _dump(os.path.join(din, "models", "ymir-info.yaml"), info)
    else:
        config.pop("pretrained_model_params", None)  # the platform deletes it when no model is chosen
    fmt = str(config.get("export_format") or "voc:raw").split(":")[0].lower()
    split_assets = {split: [(_asset(din, im), im) for im in dataset.split(split)] for split in ("train", "val")}
    if not split_assets["train"]:
        raise DatasetError("the dataset has no training images")
    coco_file = os.path.join(din, "annotations", "coco-annotations.json")
    if fmt in ("coco", "seg-coco"):
        _dump_json(coco_file, _coco_export(split_assets["train"] + split_assets["val"], dataset.class_names))
    index = {"training_index_file": "", "val_index_file": "", "candidate_index_file": ""}
    for split, key, fname in (("train", "training_index_file", "train-index.tsv"),
                              ("val", "val_index_file", "val-index.tsv")):
        pairs = [(asset, _annotation(din, fmt, asset, im, dataset.class_names, coco_file))
                 for asset, im in split_assets[split]]
        index[key] = os.path.join(din, fname)
        _write(index[key], "".join(f"{asset}\t{ann}\n" for asset, ann in pairs if ann is not None))
    _write(os.path.join(din, "test-index.tsv"), "")
    return index


def _lay_out_model_task(din: str, dataset: LocalDataset, config: dict, task: str, model: Optional[str],
                        stage: Optional[str], candidates: str) -> Dict[str, str]:
    """The model and the candidate index of an inference or mining task."""
    if not model:
        raise ModelError(f"--task {task} needs --model (a finished training's work folder)")
    config["model_params_path"], info = _copy_model(model, os.path.join(din, "models"), stage)
    _dump(os.path.join(din, "models", "ymir-info.yaml"), info)
    config["class_names"] = list(info["executor_config"].get("class_names") or dataset.class_names)
    config["run_mining"] = task.startswith("mine")
    config["run_infer"] = task.endswith("infer")
    images = dataset.all_images() if candidates == "all" else (dataset.split(candidates) or dataset.all_images())
    index = {"training_index_file": "", "val_index_file": "", "candidate_index_file": ""}
    index["candidate_index_file"] = os.path.join(din, "candidate-index.tsv")
    _write(index["candidate_index_file"], "".join(_asset(din, im) + "\n" for im in images))
    return index


def _env(din: str, dout: str, img_man: str, index: Dict[str, str], task: str, tid: str) -> dict:
    """env.yaml as the platform writes it (protocol 1.1.0, every path)."""
    return {
        "input": {"annotations_dir": os.path.join(din, "annotations"), "assets_dir": os.path.join(din, "assets"),
                  "config_file": os.path.join(din, "config.yaml"), "models_dir": os.path.join(din, "models"),
                  "root_dir": din, **index},
        "manifest_file": os.path.join(img_man, "manifest.yaml"),
        "output": {"executor_log_file": os.path.join(dout, "ymir-executor-out.log"),
                   "infer_result_file": os.path.join(dout, "infer-result.json"),
                   "mining_result_file": os.path.join(dout, "result.tsv"),
                   "models_dir": os.path.join(dout, "models"), "monitor_file": os.path.join(dout, "monitor.txt"),
                   "root_dir": dout, "tensorboard_dir": os.path.join(dout, "tensorboard"),
                   "training_result_file": os.path.join(dout, "models", "result.yaml")},
        "protocol_version": "1.1.0",
        "run_infer": task.endswith("infer"), "run_mining": task.startswith("mine"), "run_training": task == "train",
        "task_id": tid,
    }


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _dump(path: str, data: dict) -> None:
    _write(path, yaml.safe_dump(data, allow_unicode=True, sort_keys=True))


def _dump_json(path: str, data: dict) -> None:
    _write(path, json.dumps(data))


# ------------------------------------------------------------------------------------------------ run
def read_percent(monitor_file: str) -> Optional[float]:
    try:
        return float(read_fields(monitor_file)[2])
    except (IndexError, ValueError):
        return None


def execute(spec: ExecutorSpec, env_file: str, progress: bool = True, timeout: Optional[float] = None) -> int:
    """Run the executor as its own process (arguments as a list: no shell), following its monitor."""
    work_out = os.path.join(os.path.dirname(os.path.dirname(env_file)), "out")
    env = dict(os.environ, YMIR_ENV_FILE=env_file, PYTHONUNBUFFERED="1")
    if spec.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (spec.pythonpath, env.get("PYTHONPATH", "")) if p)
    with open(os.path.join(work_out, "ymir-executor-out.log"), "ab") as logf:
        proc = subprocess.Popen(spec.command, stdout=logf, stderr=subprocess.STDOUT, cwd=spec.cwd, env=env,
                                stdin=subprocess.DEVNULL)
        bar = None
        last_shown = -1.0
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=100, desc="executor", unit="%", bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}]",
                       disable=not sys.stderr.isatty())
        start = time.time()
        try:
            while proc.poll() is None:
                if timeout and time.time() - start > timeout:
                    proc.kill()
                    break
                p = read_percent(os.path.join(work_out, MONITOR)) if progress else None
                if p is not None and p != last_shown:
                    if bar is not None and not bar.disable:
                        bar.n = round(100 * p, 1)
                        bar.refresh()
                    elif int(p * 10) != int(last_shown * 10):  # no terminal: a line every 10 %
                        print(f"executor: {100 * p:.0f}%", file=sys.stderr, flush=True)
                    last_shown = p
                time.sleep(0.2)
        except BaseException:  # Ctrl-C (or any error here): the executor does not outlive its runner
            proc.kill()
            proc.wait()
            raise
        finally:
            if bar is not None:
                bar.close()
        return proc.wait()


def summary(work: str, task: str, rc: int) -> str:
    out = TaskOutput.of_work(work)
    lines = [f"task {task}: exit status {rc}"]
    fields = out.monitor_fields()
    lines.append("monitor: " + (" | ".join(fields) if fields else "(missing)"))
    result = out.training_result() if task == "train" else None
    if result is not None:
        best, stage = best_stage(result)
        lines.append(f"best stage: {best} {numeric_metrics(stage)}; stages: {sorted(result.get('model_stages') or {})}")
    data = out.infer_result() if task.endswith("infer") else None
    if isinstance(data, dict) and "detection" in data:
        n = sum(len(v.get("boxes", [])) for v in data["detection"].values())
        lines.append(f"inference: {len(data['detection'])} images, {n} boxes")
    elif isinstance(data, dict):
        lines.append(f"inference: {len(data.get('images', []))} images, {len(data.get('annotations', []))} annotations")
    if task.startswith("mine") and out.has(MINING_RESULT):
        count, top = 0, []
        for asset, score in out.mining_rows():
            count += 1
            if len(top) < 5:
                top.append(f"{os.path.basename(asset)[:12]} ({float(score):.4g})")
        lines.append(f"mining: {count} images ranked; top: " + ", ".join(top))
    if rc != 0:
        try:
            with open(out.path("ymir-executor-out.log"), encoding="utf-8", errors="replace") as f:
                tail = f.read().splitlines()[-15:]
            lines.append("executor log tail:\n  " + "\n  ".join(tail))
        except OSError:
            pass
    return "\n".join(lines)
