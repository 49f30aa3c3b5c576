"""Rotated boxes: the one place where the SDK's angle convention is written down.

What the platform carries (contract §4.3/§4.4): an ark line or VOC ``bndbox`` gives the **un-rotated** rectangle
``xmin, ymin, xmax, ymax`` (inclusive corners) and ``rotate_angle``. YMIR does not define the unit or centre; the
SDK uses the convention of the public rotated executor and of mmrotate:

* the angle is in **radians**;
* the rectangle is rotated about its **centre** ``((x1 + x2) / 2, (y1 + y2) / 2)`` (exclusive x2/y2);
* in image coordinates (x right, y down) a **positive angle turns clockwise** on screen;
* the rotated box is ``(cx, cy, w, h, angle)`` with ``w = x2 - x1`` along the rotated x axis; this is mmrotate's
  ``rbox`` layout, and its ``le90`` version is reached by :func:`normalize_le90`.

Corners follow mmrotate's ``rbox2qbox``: with ``v1 = (w/2 cos a, w/2 sin a)`` and ``v2 = (-h/2 sin a, h/2 cos a)``
the corners are ``c + v1 + v2, c + v1 - v2, c - v1 - v2, c - v1 + v2``.
Inference writes the angle back into ``box.rotate_angle`` with ``x, y, w, h`` the un-rotated rectangle.
"""
from __future__ import annotations

import math

import numpy as np


def rboxes_from_boxes(boxes: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """(N,4) exclusive x1y1x2y2 + (N,) radians -> (N,5) cx, cy, w, h, angle."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    angles = np.asarray(angles, dtype=np.float64).reshape(-1)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    return np.stack([cx, cy, boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1], angles], axis=1)


def corners(rboxes: np.ndarray) -> np.ndarray:
    """(N,5) rboxes -> (N,8) corner polygon x1 y1 ... x4 y4 (mmrotate rbox2qbox order)."""
    r = np.asarray(rboxes, dtype=np.float64).reshape(-1, 5)
    cx, cy, w, h, a = r.T
    cos, sin = np.cos(a), np.sin(a)
    v1 = np.stack([w / 2 * cos, w / 2 * sin], axis=1)
    v2 = np.stack([-h / 2 * sin, h / 2 * cos], axis=1)
    c = np.stack([cx, cy], axis=1)
    return np.concatenate([c + v1 + v2, c + v1 - v2, c - v1 - v2, c - v1 + v2], axis=1)


def boxes_from_rboxes(rboxes: np.ndarray):
    """(N,5) rboxes -> (un-rotated exclusive x1y1x2y2 (N,4), angles (N,)): the inverse of rboxes_from_boxes."""
    r = np.asarray(rboxes, dtype=np.float64).reshape(-1, 5)
    cx, cy, w, h, a = r.T
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1), a.copy()


def normalize_le90(rboxes: np.ndarray) -> np.ndarray:
    """The same rectangles with the angle in [-pi/2, pi/2) (mmrotate ``le90``): a turn by pi is the same box."""
    r = np.asarray(rboxes, dtype=np.float64).reshape(-1, 5).copy()
    r[:, 4] = (r[:, 4] + math.pi / 2) % math.pi - math.pi / 2
    return r


def nearest_upright(rboxes: np.ndarray) -> np.ndarray:
    """The same rectangles in the form nearest upright: the angle in [-pi/4, pi/4), width and height swapped for
    every odd quarter turn taken off. YMIR evaluates and shows ``x, y, w, h`` upright and ignores the angle
    (contract 7.2): a tall upright box predicted as le90's wide box turned by -pi/2 is written as the tall box
    with angle 0, not as a wide box."""
    r = np.asarray(rboxes, dtype=np.float64).reshape(-1, 5).copy()
    quarter = math.pi / 2
    turns = np.floor((r[:, 4] + quarter / 2) / quarter)
    r[:, 4] -= turns * quarter
    odd = turns.astype(np.int64) % 2 == 1
    r[odd, 2], r[odd, 3] = r[odd, 3], r[odd, 2].copy()
    return r

