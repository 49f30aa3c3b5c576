"""Semantic segmentation of the seg-in-one image: a small adapter over the released mmsegmentation 1.2.2
(unmodified). What it says is what is special to this part of the image (seed 000, "sementic segmentation"): the
seed's keys and defaults, the 0.x config names of the seed's table and their Cityscapes weights. The semantic
family (:class:`ymir_sdk.openmmlab.segmentation.SemanticOpenMMLabExecutor`) trains through mmengine, infers and
mines (RSAL, RIPU) with the SDK's semantic loop."""
from __future__ import annotations

from pydantic import Field, model_validator

from ymir_sdk.config import HyperParams
from ymir_sdk.openmmlab.segmentation import SemanticOpenMMLabExecutor

_HRNET = ("hr18s", "hr18", "hr48")
_SCHEDULES = ("40k", "80k", "160k")
#: the seed's (mmseg 0.x) config names -> the 1.x files of the released package
ALIASES = {"fastscnn/fast_scnn_lr0.12_8x4_160k_cityscapes.py": "fastscnn/fast_scnn_8xb4-160k_cityscapes-512x1024.py",
           **{f"hrnet/fcn_{m}_512x1024_{s}_cityscapes.py": f"hrnet/fcn_{m}_4xb2-{s}_cityscapes-512x1024.py"
              for m in _HRNET for s in _SCHEDULES}}

#: the official Cityscapes weights of the seed's table (mmseg's metafiles list the same v0.5 files for 1.x);
#: each name ends in its sha256 prefix
_ZOO = "https://download.openmmlab.com/mmsegmentation/v0.5"
_FILES = {
    "fastscnn/fast_scnn_lr0.12_8x4_160k_cityscapes.py": "fast_scnn/fast_scnn_lr0.12_8x4_160k_cityscapes/"
    "fast_scnn_lr0.12_8x4_160k_cityscapes_20210630_164853-0cec9937.pth",
    **{f"hrnet/fcn_{m}_512x1024_{s}_cityscapes.py": f"hrnet/fcn_{m}_512x1024_{s}_cityscapes/"
       f"fcn_{m}_512x1024_{s}_cityscapes_{stamp}.pth"
       for (m, s), stamp in {
           ("hr18s", "40k"): "20200601_014216-93db27d0", ("hr18", "40k"): "20200601_014216-f196fb4e",
           ("hr48", "40k"): "20200601_014240-a989b146", ("hr18s", "80k"): "20200601_202700-1462b75d",
           ("hr18", "80k"): "20200601_223255-4e7b345e", ("hr48", "80k"): "20200601_202606-58ea95d6",
           ("hr18s", "160k"): "20200602_190901-4a0797ea", ("hr18", "160k"): "20200602_190822-221e4a4f",
           ("hr48", "160k"): "20200602_190946-59b7973e"}.items()}}
WEIGHTS = {ALIASES[name]: f"{_ZOO}/{path}" for name, path in _FILES.items()}


class TrainParams(HyperParams):
    shm_size: str = "128G"
    export_format: str = "seg-coco:raw"
    config_file: str = "configs/fastscnn/fast_scnn_lr0.12_8x4_160k_cityscapes.py"
    samples_per_gpu: int = Field(2, ge=1)
    workers_per_gpu: int = Field(2, ge=0)
    max_iters: int = Field(20000, ge=1)
    interval: int = Field(2000, ge=1)
    args_options: str = ""
    cfg_options: str = ""
    save_least_file: bool = True
    max_keep_ckpts: int = Field(-1, ge=-1)
    ignore_black_area: bool = False

    @model_validator(mode="before")
    @classmethod
    def _blank_area(cls, data):
        """``ignore_blank_area`` (the reference image's code read that spelling) is the same key: either one true
        ignores the unlabelled pixels (the template holds the seed's spelling, a user may add the other)."""
        if isinstance(data, dict) and "ignore_blank_area" in data:
            data = dict(data)
            blank = data.pop("ignore_blank_area")
            if "ignore_black_area" not in data or str(blank).strip().lower() in ("true", "1", "yes", "on"):
                data["ignore_black_area"] = blank
        return data


class InferParams(HyperParams):
    shm_size: str = "128G"
    samples_per_gpu: int = Field(2, ge=1)
    workers_per_gpu: int = Field(2, ge=0)
    cfg_options: str = ""


class MineParams(HyperParams):
    mining_algorithm: str = "RSAL"
    superpixel_algorithm: str = "slico"
    uncertainty_method: str = "BvSB"
    shm_size: str = "128G"
    max_superpixel_per_image: int = Field(1024, ge=2)
    max_kept_mining_image: int = Field(5000, ge=1)
    topk_superpixel_score: int = Field(3, ge=1)
    class_balance: bool = True
    fp16: bool = True
    samples_per_gpu: int = Field(2, ge=1)
    workers_per_gpu: int = Field(2, ge=0)
    ripu_region_radius: int = Field(1, ge=0)
    cfg_options: str = ""


class MmsegExecutor(SemanticOpenMMLabExecutor):
    name = "seg-in-one/semantic"
    aliases, pretrained_weights = ALIASES, WEIGHTS
    TrainParams, InferParams, MineParams = TrainParams, InferParams, MineParams
