"""mmyolo detection executor: a small adapter over the released mmyolo 0.6.0 package (unmodified): YOLOv5-v8,
YOLOX, RTMDet and PP-YOLOE+ by ``model_name``, or any mmyolo config a user names. What it says is what is special
to mmyolo: its model table and their COCO weights, its scope and dataset type, its keys; training, inference and
mining are the SDK's OpenMMLab executor (:class:`ymir_sdk.openmmlab.executor.OpenMMLabExecutor`)."""
from __future__ import annotations

from pydantic import Field

from ymir_sdk.openmmlab import params
from ymir_sdk.openmmlab.executor import OpenMMLabExecutor


def _family(pattern: str, sizes: str) -> dict:
    return {pattern.split("/")[1].split("{")[0] + s: pattern.format(s) for s in sizes.split()}


#: ``model_name`` (case, ``-`` and ``_`` do not matter) -> config in mmyolo's ``.mim/configs``
MODELS = {
    **{f"yolov5_{s}": f"yolov5/yolov5_{s}-v61_syncbn_fast_8xb16-300e_coco.py" for s in "nsmlx"},
    **{f"yolov5_{s}_p6": f"yolov5/yolov5_{s}-p6-v62_syncbn_fast_8xb16-300e_coco.py" for s in "nsmlx"},
    **_family("yolov6/yolov6_{}_syncbn_fast_8xb32-400e_coco.py", "n t s"),
    **_family("yolov6/yolov6_{}_syncbn_fast_8xb32-300e_coco.py", "m l"),
    **_family("yolov7/yolov7_{}_syncbn_fast_8x16b-300e_coco.py", "tiny l x"),
    **_family("yolov8/yolov8_{}_syncbn_fast_8xb16-500e_coco.py", "n s m l x"),
    **_family("yolox/yolox_{}_fast_8xb8-300e_coco.py", "nano tiny s m l x"),
    **_family("rtmdet/rtmdet_{}_syncbn_fast_8xb32-300e_coco.py", "tiny s m l x"),
    **_family("ppyoloe/ppyoloe_plus_{}_fast_8xb8-80e_coco.py", "s m l x"),
}

#: the official COCO weights of the models (mmyolo's model zoo, as its metafiles list them; yolov5_x_p6 and
#: yolox_nano have none), in the image's weights folder; each name ends in its sha256 prefix
_ZOO = "https://download.openmmlab.com/mmyolo/v0"
_STAMPS = {
    "yolov5_n": "20220919_090739-b804c1ad", "yolov5_s": "20220918_084700-86e02187",
    "yolov5_m": "20220917_204944-516a710f", "yolov5_l": "20220917_031007-096ef0eb",
    "yolov5_x": "20230305_152943-00776a4b", "yolov5_n_p6": "20221027_224705-d493c5f3",
    "yolov5_s_p6": "20221027_215044-58865c19", "yolov5_m_p6": "20221027_230453-49564d58",
    "yolov5_l_p6": "20221027_234308-7a2ba6bf", "yolov6_n": "20221030_202726-d99b2e82",
    "yolov6_t": "20221030_143755-cf0d278f", "yolov6_s": "20221102_203035-932e1d91",
    "yolov6_m": "20221109_182658-85bda3f4", "yolov6_l": "20221109_183156-91e3c447",
    "yolov7_tiny": "20221126_102719-0ee5bbdf", "yolov7_l": "20221123_023601-8113c0eb",
    "yolov7_x": "20221124_215331-ef949a68", "yolov8_n": "20230114_131804-88c11cdb",
    "yolov8_s": "20230117_180101-5aa5f0f1", "yolov8_m": "20230115_192200-c22e560a",
    "yolov8_l": "20230217_182526-189611b6", "yolov8_x": "20230218_023338-5674673c",
    "yolox_tiny": "20220919_090908-0e40a6fc", "yolox_s": "20230213_142600-2b224d8b", "yolox_m": "20230213_160218-a71a6b25",
    "yolox_l": "20230213_160715-c731eb1c", "yolox_x": "20230215_133950-1d509fab",
    "rtmdet_tiny": "20230102_140117-dbb1dc83", "rtmdet_s": "20221230_182329-0a8c901a",
    "rtmdet_m": "20230102_135952-40af4fe8", "rtmdet_l": "20230102_135928-ee3abdc4",
    "rtmdet_x": "20221231_100345-b85cd476", "ppyoloe_plus_s": "20230101_154052-9fee7619",
    "ppyoloe_plus_m": "20230104_193132-e4325ada", "ppyoloe_plus_l": "20230102_203825-1864e7b3",
    "ppyoloe_plus_x": "20230104_194921-8c953949",
}
#: the zoo's file stem where it is not the config's (yolox_tiny's weights predate the ``_fast`` config name)
_STEMS = {"yolox_tiny": "yolox_tiny_8xb8-300e_coco"}


def _url(model: str) -> str:
    config = MODELS[model]
    family, stem = config.split("/")[0], _STEMS.get(model, config.split("/")[1][:-len(".py")])
    return f"{_ZOO}/{family}/{stem}/{stem}_{_STAMPS[model]}.pth"


WEIGHTS = {MODELS[m]: _url(m) for m in _STAMPS}


class TrainParams(params.ModelTableTrainParams):
    model_name: str = "yolov8_n"
    metric: str = Field("bbox", pattern="^bbox$")


class MmyoloExecutor(OpenMMLabExecutor):
    name = package = "mmyolo"
    models, pretrained_weights = MODELS, WEIGHTS
    coco_types = ("YOLOv5CocoDataset",)
    # mmyolo's registries are children of mmengine's, not mmdet's: the ndarray loader is mmdet's
    ndarray_type = "mmdet.LoadImageFromNDArray"
    TrainParams, InferParams, MineParams = TrainParams, params.NmsInferParams, params.NmsMineParams
