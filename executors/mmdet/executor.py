"""mmdet detection executor: a small adapter over the released mmdet 3.x package (unmodified), YOLOX by default
and any mmdet 3.x detection config a user names. What it says is what is special to mmdet: its config names and
their COCO weights, and its keys; training, inference and mining are the SDK's OpenMMLab executor
(:class:`ymir_sdk.openmmlab.executor.OpenMMLabExecutor`)."""
from __future__ import annotations

from pydantic import Field

from ymir_sdk.openmmlab import params
from ymir_sdk.openmmlab.executor import OpenMMLabExecutor

#: the mmdet 2.x file names the reference image's templates use -> mmdet 3.x's own YOLOX configs
ALIASES = {f"yolox/yolox_{size}_8x8_300e_coco.py": f"yolox/yolox_{size}_8xb8-300e_coco.py"
           for size in ("nano", "tiny", "s", "m", "l", "x")}
#: the official COCO weights of the seed's YOLOX models (mmdet's model zoo; nano and m have none), in the image's
#: weights folder; each name ends in its sha256 prefix
_ZOO = "https://download.openmmlab.com/mmdetection/v2.0/yolox"
STAMPS = {"tiny": "20211124_171234-b4047906", "s": "20211121_095711-4592a793", "l": "20211126_140236-d3bd2b23",
          "x": "20211126_140254-1ef88d67"}
WEIGHTS = {f"yolox/yolox_{size}_8xb8-300e_coco.py":
           f"{_ZOO}/yolox_{size}_8x8_300e_coco/yolox_{size}_8x8_300e_coco_{stamp}.pth"
           for size, stamp in STAMPS.items()}


class TrainParams(params.TrainParams):
    config_file: str = "configs/yolox/yolox_tiny_8x8_300e_coco.py"
    metric: str = Field("bbox", pattern="^bbox$")


class MmdetExecutor(OpenMMLabExecutor):
    name = "mmdet"
    package = "mmdet"
    object_types = (2,)
    aliases = ALIASES
    pretrained_weights = WEIGHTS
    TrainParams = TrainParams
