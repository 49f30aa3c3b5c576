"""Datasets: index files, ground-truth parsers and the converters to framework formats."""
from .annotations import ConversionStats, ImageRecord, RecordSet, load_records, parse_ark, parse_ark_batch, parse_voc
from .convert import convert_to_coco, convert_to_mmseg, convert_to_yolo, merge_segments
from .imagesize import image_size
from .index import read_candidates, read_pairs

__all__ = ["ConversionStats", "ImageRecord", "RecordSet", "load_records", "parse_ark", "parse_ark_batch", "parse_voc",
           "convert_to_coco",
           "convert_to_mmseg", "convert_to_yolo", "merge_segments", "image_size", "read_candidates", "read_pairs"]
