"""The placeholder models' box finder (``ymir-sdk new``'s minimal and torch templates)."""
import numpy as np


def blobs(mask: np.ndarray, x0: int = 0, y0: int = 0):
    """Boxes (x1, y1, x2, y2) of a mask's separate parts: it is cut along empty columns and rows until no cut is
    left (enough for objects whose boxes do not overlap)."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return []
    x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    part = mask[y1:y2, x1:x2]
    for axis in (0, 1):
        empty = np.nonzero(~part.any(axis=axis))[0]
        if len(empty):
            cut = int(empty[0])
            first, rest = (part[:, :cut], part[:, cut:]) if axis == 0 else (part[:cut], part[cut:])
            dx, dy = (cut, 0) if axis == 0 else (0, cut)
            return blobs(first, x0 + x1, y0 + y1) + blobs(rest, x0 + x1 + dx, y0 + y1 + dy)
    return [(x0 + x1, y0 + y1, x0 + x2, y0 + y2, part.mean())]
