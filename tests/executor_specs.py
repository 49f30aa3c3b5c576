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
    #: the executor folder under executors/ (default: the name), and its Executor (module or module:Class)
    folder: str = ""
    module: str = ""
    #: the object type it runs (a part of a multi-type image: its templates are img-man/<type folder>/)
    object_type: int = 2
    #: the generated dataset: "ark" (boxes) or "coco" (RLE masks)
    dataset: str = "ark"
    #: further arguments of the dataset generator (ymir_sdk.tools.synthetic.write_ark_dataset), e.g. rotated boxes
    data: Dict[str, Any] = field(default_factory=dict)
    #: why the framework cannot train in several CPU processes (gloo), where it cannot
    no_cpu_ddp_training: str = ""
    timeout: int = 600
    extra: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.folder = self.folder or self.name
        self.module = self.module or f"executors.{self.folder}"

    @property
    def run_args(self) -> Tuple[str, ...]:
        """`ymir-sdk run` arguments that choose the part of a multi-type image."""
        return ("--object-type", str(self.object_type)) if self.folder != self.name else ()


YOLOX_128 = ("img_scale=(128,128) model.data_preprocessor.batch_augments.0.random_size_range=(96,160) "
             "val_dataloader.dataset.pipeline.1.scale=(128,128) test_dataloader.dataset.pipeline.1.scale=(128,128)")

#: what the OpenMMLab executors' runs share (the glue's settings and messages)
OPENMMLAB = dict(
    size=(128, 128), short={"max_epochs": "1"},
    stages={"max_epochs": "8", "val_interval": "1", "max_keep_checkpoints": "2"},
    algorithms=("aldd", "cald", "entropy", "random"), shell_options=("args_options", "cfg_options"),
    foreign_words=("do not fit",), loaded="Load checkpoint from")


#: mmseg's Cityscapes configs at 128 px: the crop (and the data preprocessor's pad size) at its source, the
#: training resize range and the test resize (which would up-scale every image to 2048x1024)
SEG_128 = ("crop_size=(128,128) train_dataloader.dataset.pipeline.2.scale=(256,128) "
           "val_dataloader.dataset.pipeline.1.scale=(128,128) test_dataloader.dataset.pipeline.1.scale=(128,128)")


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
    "seg-in-one-semantic": Spec(
        name="seg-in-one-semantic", framework="mmseg", folder="seg_in_one",
        module="executors.seg_in_one.semantic:MmsegExecutor", object_type=3, dataset="coco", size=(128, 128),
        # FastSCNN (the default) at 128 px: crop, pad and the resize scales of the Cityscapes pipelines
        fast={"samples_per_gpu": "2", "workers_per_gpu": "0", "cfg_options": SEG_128},
        # 40 iterations of FastSCNN from scratch already separate the shapes from the background
        train={"max_iters": "40", "interval": "20", "args_options": "--seed 0 --deterministic"},
        short={"max_iters": "4", "interval": "4"},
        stages={"max_iters": "80", "interval": "10", "save_least_file": "false", "max_keep_ckpts": "2"},
        model_task={"samples_per_gpu": "2", "workers_per_gpu": "1"},
        algorithms=("rsal", "ripu", "random"),
        seed={"training": {"shm_size": "128G", "export_format": "seg-coco:raw",
                           "config_file": "configs/fastscnn/fast_scnn_lr0.12_8x4_160k_cityscapes.py",
                           "samples_per_gpu": 2, "workers_per_gpu": 2, "max_iters": 20000, "interval": 2000,
                           "args_options": "", "cfg_options": "", "save_least_file": True, "max_keep_ckpts": -1,
                           "ignore_black_area": False},
              "infer": {"shm_size": "128G", "samples_per_gpu": 2, "workers_per_gpu": 2},
              "mining": {"mining_algorithm": "RSAL", "superpixel_algorithm": "slico", "uncertainty_method": "BvSB",
                         "shm_size": "128G", "max_superpixel_per_image": 1024, "max_kept_mining_image": 5000,
                         "topk_superpixel_score": 3, "class_balance": True, "fp16": True, "samples_per_gpu": 2,
                         "workers_per_gpu": 2, "ripu_region_radius": 1}},
        shell_options=("args_options", "cfg_options"),
        unknown_model=("config_file", "configs/fastscnn/fast_scnn_huge.py"),
        foreign={"config_file": "configs/hrnet/fcn_hr18s_4xb2-40k_cityscapes-512x1024.py"},
        foreign_words=("do not fit",),
        weights_key="fastscnn/fast_scnn_8xb4-160k_cityscapes-512x1024.py",
        loaded="Load checkpoint from"),
    "seg-in-one-instance": Spec(
        name="seg-in-one-instance", framework="yolov5", folder="seg_in_one",
        module="executors.seg_in_one.instance:YoloSegExecutor", object_type=4, dataset="coco", size=(64, 64),
        fast={"model": "yolov5n-seg", "img_size": "64", "batch_size_per_gpu": "8", "num_workers_per_gpu": "0"},
        train={"epochs": "2", "save_best_only": "false", "save_period": "1"},
        short={"epochs": "1"},
        stages={"epochs": "8", "save_best_only": "false", "save_period": "1"},
        model_task={"img_size": "64", "conf_thres": "0.001", "mcd_iterations": "3"},
        algorithms=("apis", "maskal", "aldd", "cald", "entropy", "random"),
        seed={"training": {"shm_size": "128G", "export_format": "seg-coco:raw", "model": "yolov5s-seg",
                           "batch_size_per_gpu": 16, "num_workers_per_gpu": 4, "epochs": 100, "img_size": 640,
                           "opset": 11, "args_options": "--exist-ok", "save_best_only": True, "save_period": 10,
                           "sync_bn": False},
              "infer": {"shm_size": "128G", "batch_size_per_gpu": 16, "num_workers_per_gpu": 4, "img_size": 640,
                        "conf_thres": 0.25, "iou_thres": 0.45, "pin_memory": False},
              "mining": {"shm_size": "128G", "mining_algorithm": "apis", "batch_size_per_gpu": 16,
                         "num_workers_per_gpu": 4, "img_size": 640, "conf_thres": 0.25, "iou_thres": 0.45,
                         "pin_memory": False}},
        shell_options=("args_options",),
        unknown_model=("model", "yolov5z-seg"),
        foreign={"model": "yolov5s-seg"}, foreign_words=("are not a yolov5s-seg model",),
        weights_key="yolov5n-seg",
        loaded="Transferred",
        no_cpu_ddp_training="yolov5 7.0.14's segment/train.py asserts a CUDA device per DDP rank"),
}
