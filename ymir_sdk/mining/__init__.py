"""Mining algorithms, implemented once, framework-free (NumPy/OpenCV). Executors supply model outputs; the
scores are always "higher = label first".

* detection (and the box part of instance segmentation): ``random``, ``entropy``, ``aldd``, ``cald``
  (:mod:`ymir_sdk.mining.detection`);
* instance segmentation adds ``apis`` and ``maskal`` (:mod:`ymir_sdk.mining.instance`);
* semantic segmentation: ``random``, ``rsal``, ``ripu`` (:mod:`ymir_sdk.mining.semantic`);
* :func:`algorithm_name` validates a user's ``mining_algorithm`` (a 300001 error lists the valid names).
"""
from .base import ALGORITHMS, MAX_DETECTIONS, DetOutput, HeadMaps, algorithm_name, random_scores
from .detection import aldd_scores, cald_scores, entropy_scores
from .instance import InstOutput, apis_scores, maskal_certainty, maskal_scores
from .semantic import Regions, bvsb, ripu_scores, rsal_regions, rsal_scores, superpixels

__all__ = ["ALGORITHMS", "MAX_DETECTIONS", "DetOutput", "HeadMaps", "algorithm_name", "random_scores", "aldd_scores",
           "cald_scores", "entropy_scores", "Regions", "bvsb", "ripu_scores", "rsal_regions", "rsal_scores",
           "superpixels", "InstOutput", "apis_scores", "maskal_certainty", "maskal_scores"]
