"""mmrotate executor: a small adapter over the released mmrotate 1.0.0rc1 package (unmodified): rotated RTMDet
by ``model_name``, or any mmrotate config a user names. What it says is what is special to mmrotate: its model
table and their DOTA weights, its keys; rotated boxes are the SDK's family
(:class:`ymir_sdk.openmmlab.rotated.RotatedOpenMMLabExecutor`), training, inference and mining the SDK's
OpenMMLab executor."""
from __future__ import annotations

from pydantic import Field

from ymir_sdk.openmmlab import params
from ymir_sdk.openmmlab.rotated import RotatedOpenMMLabExecutor

_SIZES = ("tiny", "s", "m", "l")
#: ``model_name`` (case, ``-`` and ``_`` do not matter; ``rotated_rtmdet_*`` too) -> config in mmrotate's
#: ``.mim/configs``; ``_ms``: the multi-scale DOTA variants (the same model; their weights differ)
_CONFIGS = {**{f"rtmdet_{s}": f"rotated_rtmdet/rotated_rtmdet_{s}-3x-dota.py" for s in _SIZES},
            **{f"rtmdet_{s}_ms": f"rotated_rtmdet/rotated_rtmdet_{s}-3x-dota_ms.py" for s in _SIZES}}
MODELS = {**_CONFIGS, **{f"rotated_{name}": config for name, config in _CONFIGS.items()}}

#: the official DOTA weights (mmrotate's model zoo, as its metafile lists them), in the image's weights folder;
#: each name ends in its sha256 prefix
_ZOO = "https://download.openmmlab.com/mmrotate/v1.0/rotated_rtmdet"
_HASHES = {"rtmdet_tiny": "9d821076", "rtmdet_tiny_ms": "f12286ff", "rtmdet_s": "11f6ccf5",
           "rtmdet_s_ms": "20ead048", "rtmdet_m": "beeadda6", "rtmdet_m_ms": "c71eb375", "rtmdet_l": "23992372",
           "rtmdet_l_ms": "2738da34"}


def _url(model: str) -> str:
    stem = _CONFIGS[model].split("/")[1][:-len(".py")]
    return f"{_ZOO}/{stem}/{stem}-{_HASHES[model]}.pth"


WEIGHTS = {_CONFIGS[m]: _url(m) for m in _HASHES}


class TrainParams(params.ModelTableTrainParams):
    model_name: str = "rtmdet_tiny"
    img_size: int = Field(512, ge=32, multiple_of=32)


class MmrotateExecutor(RotatedOpenMMLabExecutor):
    name = "mmrotate"
    models, pretrained_weights = MODELS, WEIGHTS
    TrainParams, InferParams, MineParams = TrainParams, params.NmsInferParams, params.NmsBoxMineParams
