"""What each executor registers for the conformance suite (tests/test_conformance.py): its tiny settings, the
mining algorithms its outputs support, the keys and defaults of its seed document, and the few names that differ.
A new executor adds one entry here; what is special to it stays in its own test module."""
from dataclasses import dataclass, field
from typing import Any, Dict, Tuple


@dataclass
class Spec:
    name: str
    #: the module the executor's framework installs (the suite skips the executor without it)
    framework: str
    #: generated images (width, height) and split sizes
    size: Tuple[int, int]
    #: settings of every training (tiny model, small images, no DataLoader workers)
    fast: Dict[str, str]
    #: the shared trained model: its further settings (each executor's own tests assert on that run too)
    train: Dict[str, str]
    #: a short training (malformed-input cases)
    short: Dict[str, str]
    #: a training that writes a stage every epoch for several epochs (files polled while they are written)
    stages: Dict[str, str]
    #: inference and mining settings (low thresholds: an hour-old toy model scores low)
    model_task: Dict[str, str]
    #: mining algorithms the executor's default model supports
    algorithms: Tuple[str, ...]
    #: the seed document's keys and defaults, per template (training, infer, mining)
    seed: Dict[str, Dict[str, Any]]
    #: keys a shell would have interpreted, were they given to one
    shell_options: Tuple[str, ...]
    #: (key, value): a model name that names nothing
    unknown_model: Tuple[str, str]
    #: a training whose model the trained checkpoint is not (another architecture), and words of its message
    foreign: Dict[str, str]
    foreign_words: Tuple[str, ...]
    #: the trained model's key in the executor's weight table
    weights_key: str
    #: the framework's own log line when it loaded initial weights
    loaded: str
    n_train: int = 16
    n_val: int = 6
    #: further arguments of the dataset generator (ymir_sdk.synthetic.write_ark_dataset), e.g. rotated boxes
    data: Dict[str, Any] = field(default_factory=dict)
    #: why the framework cannot train in several CPU processes (gloo), where it cannot
    no_cpu_ddp_training: str = ""
    timeout: int = 900
    extra: Dict[str, Any] = field(default_factory=dict)


YOLOX_128 = ("img_scale=(128,128) model.data_preprocessor.batch_augments.0.random_size_range=(96,160) "
             "val_dataloader.dataset.pipeline.1.scale=(128,128) test_dataloader.dataset.pipeline.1.scale=(128,128)")

#: what the OpenMMLab executors' runs share (the glue's settings and messages)
OPENMMLAB = dict(
    size=(128, 128), short={"max_epochs": "1"},
    stages={"max_epochs": "8", "val_interval": "1", "max_keep_checkpoints": "2"},
    algorithms=("aldd", "cald", "entropy", "random"), shell_options=("args_options", "cfg_options"),
    foreign_words=("do not fit",), loaded="Load checkpoint from")


def _train(epochs: int, interval: int) -> Dict[str, str]:
    return {"max_epochs": str(epochs), "val_interval": str(interval), "max_keep_checkpoints": "1",
            "args_options": "--seed 0 --deterministic"}


EXECUTORS = {
    "yolov5": Spec(
        name="yolov5", framework="yolov5", size=(64, 64),
        fast={"model": "yolov5n", "img_size": "64", "batch_size_per_gpu": "8", "num_workers_per_gpu": "0"},
        train={"epochs": "2", "save_best_only": "false", "save_period": "1"},
        short={"epochs": "1"},
        stages={"epochs": "8", "save_best_only": "false", "save_period": "1"},
        model_task={"img_size": "64", "conf_thres": "0.001"},
        algorithms=("aldd", "cald", "entropy", "random"),
        seed={"training": {"shm_size": "128G", "export_format": "ark:raw", "model": "yolov5s",
                           "batch_size_per_gpu": 16, "num_workers_per_gpu": 4, "epochs": 100, "img_size": 640,
                           "opset": 11, "args_options": "--exist-ok", "save_best_only": True, "save_period": 10,
                           "sync_bn": False, "activate": ""},
              "infer": {"img_size": 640, "conf_thres": 0.25, "iou_thres": 0.45, "batch_size_per_gpu": 16,
                        "num_workers_per_gpu": 4, "shm_size": "128G", "pin_memory": False},
              "mining": {"mining_algorithm": "aldd", "class_distribution_scores": ""}},
        shell_options=("args_options",),
        unknown_model=("model", "yolov9"),
        foreign={"model": "yolov5s"}, foreign_words=("are not a yolov5s model",),
        weights_key="yolov5n",
        loaded="Transferred",
        no_cpu_ddp_training="yolov5 7.0.14's train.py asserts a CUDA device per DDP rank"),
    "mmdet": Spec(
        name="mmdet", framework="mmdet", **OPENMMLAB,
        fast={"samples_per_gpu": "4", "workers_per_gpu": "0", "cfg_options": YOLOX_128},
        train=_train(24, 8),
        model_task={"conf_threshold": "0.01", "samples_per_gpu": "4", "workers_per_gpu": "1"},
        seed={"training": {"shm_size": "128G", "export_format": "ark:raw",
                           "config_file": "configs/yolox/yolox_tiny_8x8_300e_coco.py", "samples_per_gpu": 16,
                           "workers_per_gpu": 4, "max_epochs": 100, "args_options": "", "cfg_options": "",
                           "metric": "bbox", "val_interval": 1, "max_keep_checkpoints": 1},
              "infer": {"shm_size": "128G", "conf_threshold": 0.2, "cfg_options": ""},
              "mining": {"shm_size": "128G", "mining_algorithm": "aldd", "cfg_options": ""}},
        unknown_model=("config_file", "configs/yolox/yolox_huge.py"),
        foreign={"config_file": "configs/yolox/yolox_s_8xb8-300e_coco.py"},
        weights_key="yolox/yolox_tiny_8xb8-300e_coco.py"),
    "mmyolo": Spec(
        name="mmyolo", framework="mmyolo", **OPENMMLAB,
        # YOLOv5-n (an objectness head: every mining algorithm) at 128 px: img_scale is set at its source, so
        # every pipeline and the batch-shape policy follow; a warm-up of 10 iterations, not the base's 1000
        fast={"model_name": "yolov5_n", "samples_per_gpu": "4", "workers_per_gpu": "0",
              "cfg_options": "img_scale=(128,128) default_hooks.param_scheduler.warmup_mim_iter=10"},
        # from scratch: 30 epochs of 4 iterations reach mAP@0.5 ~0.13, with scores of ~0.01 (hence the low
        # thresholds of model_task)
        train=_train(30, 10),
        model_task={"conf_threshold": "0.001", "samples_per_gpu": "4", "workers_per_gpu": "1"},
        seed={"training": {"shm_size": "128G", "export_format": "ark:raw", "model_name": "yolov8_n",
                           "samples_per_gpu": 8, "workers_per_gpu": 4, "max_epochs": 100, "args_options": "",
                           "cfg_options": "", "metric": "bbox", "val_interval": 1, "max_keep_checkpoints": 1,
                           "config_file": ""},
              "infer": {"shm_size": "128G", "conf_threshold": 0.2},
              "mining": {"mining_algorithm": "entropy", "conf_threshold": 0.1}},
        unknown_model=("model_name", "yolov9_n"),
        foreign={"model_name": "yolov8_s"},
        weights_key="yolov5/yolov5_n-v61_syncbn_fast_8xb16-300e_coco.py"),
    "mmrotate": Spec(
        name="mmrotate", framework="mmrotate", **{**OPENMMLAB, "algorithms": ("entropy", "random")},
        data={"rotated": True},
        # rotated RTMDet-tiny at 128 px (img_size reaches every resize and pad), a warm-up of 10 iterations, not
        # the base's 1000
        fast={"model_name": "rtmdet_tiny", "img_size": "128", "samples_per_gpu": "4", "workers_per_gpu": "0",
              "cfg_options": "param_scheduler.0.end=10"},
        train=_train(24, 8),
        model_task={"conf_threshold": "0.001", "samples_per_gpu": "4", "workers_per_gpu": "1"},
        # the seed's model_name row ("yolov8_n") is a copy of the mmyolo seed's: the models are rotated RTMDet
        seed={"training": {"shm_size": "128G", "export_format": "ark:raw", "model_name": "rtmdet_tiny",
                           "samples_per_gpu": 8, "workers_per_gpu": 4, "max_epochs": 100, "args_options": "",
                           "cfg_options": "", "img_size": 512, "val_interval": 1, "max_keep_checkpoints": 1},
              "infer": {"conf_threshold": 0.2, "iou_threshold": 0.65},
              "mining": {"mining_algorithm": "entropy", "conf_threshold": 0.1, "iou_threshold": 0.65}},
        unknown_model=("model_name", "rtmdet_xl"),
        foreign={"model_name": "rtmdet_s"},
        weights_key="rotated_rtmdet/rotated_rtmdet_tiny-3x-dota.py"),
}
