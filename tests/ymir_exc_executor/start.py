"""An executor written only against the ``ymir_exc`` API, in the style of the public executors (one start.py that
dispatches on env.yaml, ``get_merged_config()``, ``write_ymir_monitor_process``, ``write_ymir_training_result``,
``write_infer_result``, ``write_mining_result``). It learns the mean colour of each class, as the toy executor,
and it does what made the original SDK fail: numpy metrics, a stage name with ``-``, an empty result.yaml left
before the first stage, attachments, fractional boxes, an unreadable candidate left out of the scores."""
import json
import logging
import os
import sys
import time

import numpy as np
from PIL import Image

from ymir_exc import dataset_reader as dr
from ymir_exc import env, monitor
from ymir_exc import result_writer as rw
from ymir_exc.util import YmirStage, get_bool, get_merged_config, get_weight_files, write_ymir_monitor_process


def read_ark(path):
    with open(path) as f:
        return [[int(float(v)) for v in line.split(",")[:5]] for line in f if line.strip()]


def detect(path, colours, tolerance):
    img = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    out = []
    for cls, colour in enumerate(colours):
        near = np.linalg.norm(img - np.asarray(colour), axis=-1) < tolerance
        if near.sum() > 4:
            ys, xs = np.nonzero(near)
            out.append((cls, float(near.mean() * 10 % 1), xs.min() + 0.4, ys.min() + 0.6, xs.max() - xs.min() + 1.2,
                        ys.max() - ys.min() + 0.7))
    return out


def _run_training(cfg):
    if cfg.param.get("fail_with"):
        raise ValueError(cfg.param.fail_with)
    names = cfg.param.class_names
    items = list(dr.item_paths(env.DatasetType.TRAINING))
    sums, counts = np.zeros((len(names), 3)), np.zeros(len(names))
    for i, (image, ann) in enumerate(items):
        img = np.asarray(Image.open(image).convert("RGB"), dtype=np.float64)
        for cls, x1, y1, x2, y2 in read_ark(ann):
            sums[cls] += img[(y1 + y2) // 2, (x1 + x2) // 2]
            counts[cls] += 1
        write_ymir_monitor_process(cfg, task="training", naive_stage_percent=(i + 1) / len(items), stage=YmirStage.TASK)
    colours = sums / np.maximum(counts, 1)[:, None]
    models_dir = cfg.ymir.output.models_dir
    open(cfg.ymir.output.training_result_file, "w").close()  # an empty result.yaml: the original crashed on it
    for epoch in (1, 2):
        stage = f"epoch-{epoch}"  # the original renamed it epoch_<n> and then missed its files
        os.makedirs(os.path.join(models_dir, stage), exist_ok=True)
        with open(os.path.join(models_dir, stage, "colours.json"), "w") as f:
            json.dump({"colours": colours.tolist()}, f)
        hits = counts.astype(np.float32) / np.maximum(counts.sum(), 1)
        m_ap = np.float32(0.4 + 0.2 * epoch) * hits.max()  # a numpy metric: the original crashed yaml.safe_dump
        curve = os.path.join(cfg.ymir.output.tensorboard_dir, f"curve-{epoch}.txt")
        with open(curve, "w") as f:
            f.write("precision recall\n")
        rw.write_model_stage(stage, ["colours.json"], evaluation_result={"mAP": m_ap, "mAR": np.float64(0.5),
                                                                           "tp": np.int64(3), "fp": 1, "fn": 0},
                             attachments={"curves": [curve]}, evaluate_config={"iou_thr": 0.5, "conf_thr": 0.1})
    write_ymir_monitor_process(cfg, task="training", naive_stage_percent=1.0, stage=YmirStage.POSTPROCESS)


def _colours(cfg):
    files = get_weight_files(cfg, suffix=(".json",))
    with open(files[0]) as f:
        return json.load(f)["colours"]


def _run_mining(cfg):
    colours = _colours(cfg)
    paths = dr.filter_broken_images([p for p, _ in dr.item_paths(env.DatasetType.CANDIDATE)])
    scores = []
    for i, p in enumerate(paths):
        found = detect(p, colours, 40.0)
        scores.append((p, np.float32(1 - max((d[1] for d in found), default=0.0))))
        write_ymir_monitor_process(cfg, task="mining", naive_stage_percent=(i + 1) / len(paths), stage=YmirStage.TASK)
    rw.write_mining_result(scores)


def _run_infer(cfg):
    colours = _colours(cfg)
    names = cfg.param.class_names
    paths = dr.filter_broken_images([p for p, _ in dr.item_paths(env.DatasetType.CANDIDATE)])
    result = {}
    for i, p in enumerate(paths):
        result[p] = [rw.Annotation(class_name=names[c], score=s, box=rw.Box(x=x, y=y, w=w, h=h))
                     for c, s, x, y, w, h in detect(p, colours, 40.0)]
        write_ymir_monitor_process(cfg, task="infer", naive_stage_percent=(i + 1) / len(paths), stage=YmirStage.TASK)
    rw.write_infer_result(result)


def start():
    cfg = get_merged_config()
    logging.info("merged config: %s", sorted(cfg.param))
    idle_seconds = cfg.param.get("idle_seconds", 0)  # the public demos' number-typed key, compared as a number
    if idle_seconds > 0:
        time.sleep(idle_seconds)
    if cfg.ymir.run_training:
        _run_training(cfg)
    else:
        if cfg.ymir.run_mining:
            _run_mining(cfg)
        if cfg.ymir.run_infer:
            _run_infer(cfg)
    if get_bool(cfg, "report_done", True):
        monitor.write_monitor_logger(percent=1.0)
    return 0


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stdout, level=logging.INFO)
    sys.exit(start())
