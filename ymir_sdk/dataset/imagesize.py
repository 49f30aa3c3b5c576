"""Image sizes from file headers, honouring the EXIF orientation (a 90-degree rotation swaps width and height).

Frameworks load images with the orientation applied (PIL ``exif_transpose``, yolov5 ``exif_size``), so annotation
converters must use the same size. JPEG, PNG, BMP, GIF and WebP are read from their headers; anything else goes
through PIL. A PNG whose data was cut (no end chunk) is unreadable too: training, inference and mining judge an
image alike (the conversion's cache keeps the answer with the dataset).
"""
from __future__ import annotations

import os
import struct
from typing import Optional, Tuple

from ..errors import ImageError

_SWAP_ORIENTATIONS = (5, 6, 7, 8)


def _tiff_orientation(data: bytes) -> Optional[int]:
    """Orientation tag (0x0112) of IFD0 of a TIFF/EXIF block, or None."""
    if len(data) < 8 or data[:2] not in (b"II", b"MM"):
        return None
    endian = "<" if data[:2] == b"II" else ">"
    try:
        offset = struct.unpack(endian + "I", data[4:8])[0]
        count = struct.unpack(endian + "H", data[offset:offset + 2])[0]
        for i in range(count):
            entry = data[offset + 2 + 12 * i: offset + 14 + 12 * i]
            tag, typ = struct.unpack(endian + "HH", entry[:4])
            if tag == 0x0112:
                return struct.unpack(endian + "H", entry[8:10])[0] if typ == 3 else None
    except struct.error:
        return None
    return None


def _bytes(fd: int, head: bytes, pos: int, n: int) -> bytes:
    """``n`` bytes at ``pos``: from the first block read when it holds them, else from the file."""
    end = pos + n
    return head[pos:end] if end <= len(head) else os.pread(fd, n, pos)


_SOF = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))


def _jpeg(fd: int, head: bytes) -> Tuple[int, int, Optional[int]]:
    pos = 2
    orientation = None
    while True:
        marker = _bytes(fd, head, pos, 2)
        pos += 2
        while marker[:1] == b"\xff" and marker[1:2] == b"\xff":  # fill bytes
            marker = marker[1:] + _bytes(fd, head, pos, 1)
            pos += 1
        if len(marker) < 2 or marker[0] != 0xFF:
            raise ValueError("broken JPEG marker")
        code = marker[1]
        if code in (0xD8, 0x01) or 0xD0 <= code <= 0xD7:
            continue
        length = struct.unpack(">H", _bytes(fd, head, pos, 2))[0]
        if code == 0xE1 and orientation is None:
            block = _bytes(fd, head, pos + 2, length - 2)
            if block[:6] == b"Exif\x00\x00":
                orientation = _tiff_orientation(block[6:])
        elif code in _SOF:
            h, w = struct.unpack(">xHH", _bytes(fd, head, pos + 2, 5))
            return w, h, orientation
        elif code == 0xD9:
            raise ValueError("JPEG without a frame header")
        pos += length


def _png(fd: int, head: bytes) -> Tuple[int, int, Optional[int]]:
    ihdr_length, w, h = struct.unpack_from(">I4xII", head, 8)
    pos = 20 + ihdr_length  # the chunk after IHDR
    while True:  # walk the chunks before the image data, looking for eXIf
        chunk = _bytes(fd, head, pos, 8)
        if len(chunk) < 8:
            return w, h, None
        length, kind = struct.unpack(">I4s", chunk)
        if kind == b"IDAT" or kind == b"IEND":
            return w, h, None
        if kind == b"eXIf":
            return w, h, _tiff_orientation(_bytes(fd, head, pos + 8, length))
        pos += length + 12


def _png_complete(fd: int, path: str) -> None:
    """A PNG ends with its IEND chunk: one whose data was cut (its header still reads) does not decode, and
    OpenCV-based loaders return nothing for it. Only the file's last bytes are read."""
    size = os.fstat(fd).st_size
    if b"IEND" not in os.pread(fd, 64, max(0, size - 64)):
        raise ImageError(f"image data is cut (no PNG end chunk): {path}")


def image_size(path: str) -> Tuple[int, int]:
    """(width, height) as the image is displayed (EXIF orientation applied). Raises ImageError if unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise ImageError(f"image not found: {path}") from None
    except OSError as e:
        raise ImageError(f"image unreadable: {path} ({e})") from None
    try:
        head = os.pread(fd, 1024, 0)
        orientation = None
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and len(head) >= 24:
            w, h, orientation = _png(fd, head)
            if w > 0 and h > 0:
                _png_complete(fd, path)
        elif head[:3] == b"\xff\xd8\xff":
            w, h, orientation = _jpeg(fd, head)
        elif head[:2] == b"BM" and len(head) >= 26:
            w, h = struct.unpack("<ii", head[18:26])
            h = abs(h)
        elif head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
            w, h = struct.unpack("<HH", head[6:10])
        else:
            return _pil_size(path)
    except (OSError, ValueError, struct.error) as e:
        raise ImageError(f"image unreadable: {path} ({e})") from None
    finally:
        os.close(fd)
    if w <= 0 or h <= 0:
        raise ImageError(f"image has no pixels: {path}")
    return (h, w) if orientation in _SWAP_ORIENTATIONS else (w, h)


def _pil_size(path: str) -> Tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112)
    except (OSError, UnidentifiedImageError, ValueError, ImportError) as e:
        # ImportError: some packages (ultralytics) patch Image.open to try optional decoders they lack
        raise ImageError(f"image unreadable: {path} ({type(e).__name__}: {e})") from None
    return (h, w) if orientation in _SWAP_ORIENTATIONS else (w, h)


def check_pixels(path: str) -> None:
    """Decode the image's pixels as training will (OpenCV, as yolov5's and OpenCV-based OpenMMLab loaders read
    them; Pillow where OpenCV is not installed), at an eighth of the size where the format allows (JPEG): an
    ImageError when they do not decode - a file whose header reads and whose data is cut short (a PNG that
    declares 10000x10000 and holds a few rows) passes :func:`image_size` and fails here."""
    try:
        import cv2
    except ImportError:  # pragma: no cover - the SDK core without the seg/mining extras
        cv2 = None
    if cv2 is not None:
        if cv2.imread(path, cv2.IMREAD_REDUCED_GRAYSCALE_8) is None:
            raise ImageError(f"image data does not decode (cut short?): {path}")
        return
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.draft("L", (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    except Exception as e:  # noqa: BLE001 - whatever the decoder raises, the pixels do not decode
        raise ImageError(f"image data does not decode ({type(e).__name__}: {e}): {path}") from None


def read_rgb(path: str):
    """The decoded image as RGB (:func:`decode_bgr`'s pixels, channels reversed)."""
    import numpy as np

    return np.ascontiguousarray(decode_bgr(path)[:, :, ::-1])


def decode_bgr(path: str):
    """The decoded image (OpenCV: BGR, EXIF orientation applied, as the frameworks' loaders read it); an
    ImageError when its pixels do not decode."""
    import cv2

    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ImageError(f"image unreadable: {path}")
    return img
