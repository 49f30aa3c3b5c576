"""``ymir_exc.dataset_convert.ymir2coco`` as the original's 2.x releases spell it (public executors import the
converter from here): the converter itself is :func:`ymir_exc.dataset_convert.convert_ymir_to_coco`."""
from . import convert_ymir_to_coco

__all__ = ["convert_ymir_to_coco"]
