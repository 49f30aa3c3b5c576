"""Semantic segmentation of the seg-in-one image: a small adapter over the released mmsegmentation 1.2.2
(unmodified). What it says is what is special to this part of the image (seed 000, "sementic segmentation"): the
seed's keys and defaults, the 0.x config names of the seed's table and their Cityscapes weights. The semantic
family (:class:`ymir_sdk.openmmlab.segmentation.SemanticOpenMMLabExecutor`) trains through mmengine, infers and
mines (RSAL, RIPU) with the SDK's semantic loop; the glue declares the seed's other keys
(:mod:`ymir_sdk.openmmlab.params`)."""
from __future__ import annotations

from pydantic import Field

from ymir_sdk.openmmlab import params
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


class TrainParams(params.SemanticTrainParams):
    config_file: str = Field("configs/fastscnn/fast_scnn_lr0.12_8x4_160k_cityscapes.py",
                             description="the model's config (the seed's 0.x names are read as their 1.x files)")


class MmsegExecutor(SemanticOpenMMLabExecutor):
    name = "seg-in-one/semantic"
    aliases, pretrained_weights = ALIASES, WEIGHTS
    TrainParams = TrainParams
