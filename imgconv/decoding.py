"""Rows of an image while Pillow is still decoding it, so filtering need not wait.

Pillow decodes a PNG or JPEG on one core, top to bottom, with the GIL
released; filtering could use the other cores meanwhile. :func:`start`
sets Pillow decoding an RGB file on a thread, straight into a NumPy buffer
(as :func:`imgconv.image_io.read_picture` does), and returns a
:class:`DecodingRows`: a row source whose ``rows[a:b]`` waits until those
rows are decoded. :class:`imgconv.core.filtering.Banded` filters band by
band from it, so the first bands are filtered while the last are decoded.

Pillow keeps RGB as four bytes a pixel and sets the fourth to 255 as it
writes each row, left to right. The buffer's last pixel of every row
starts with a 0 there; once row ``r + 1`` shows its 255, row ``r`` is
whole (the decoder finished with it before starting the next row). Files
that are not written top to bottom a row at a time (interlaced PNG,
other formats) are left to the ordinary reader, and so are images whose
rows need turning (EXIF orientation).

On the 4096 x 4096 PNG of ``benchmarks/``, 3x3 sharpen: decoding then
filtering took 0.75 to 0.95 s, overlapped 0.46 to 0.65 s.
"""

from __future__ import annotations

import os
import stat
import struct
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from . import deep
from .image_io import (
    Picture,
    carried_info,
    decode_target,
    packed,
    pillow_quiet,
    pillow_unlimited,
)

#: Formats whose Pillow decoders write rows in order, one call each.
_IN_ORDER = frozenset({"PNG", "JPEG"})
#: How long a reader sleeps between looks at a row not yet decoded.
_POLL_SECONDS = 0.0005


class Unavailable(Exception):
    """The rows cannot be given as decoded: read the file the ordinary way.

    Pillow made its own memory, or the image must be turned upright.
    """


class DecodingRows:
    """An RGB image's rows, ``(H, W, 3)`` uint8, readable while a thread decodes them.

    Made by :func:`start`. ``rows[a:b]`` waits for rows ``a`` to ``b - 1``
    and returns them (a view, not a copy); :meth:`finish` waits for the
    rest and gives the :class:`~imgconv.image_io.Picture`.
    """

    def __init__(
        self, image: Any, label: str, file: BinaryIO, buffer: NDArray[np.uint8], core: Any
    ) -> None:
        self._image = image
        self._file = file
        self._label = label
        self._buffer = buffer
        height, width, _ = buffer.shape
        self.shape = (height, width, 3)
        self.dtype = np.dtype(np.uint8)
        self._done_rows = 0
        self._error: BaseException | None = None
        buffer[:, -1, 3] = 0  # the marker each row's decoding sets to 255
        self._core = core
        self._thread = threading.Thread(target=self._decode, name="imgconv-decode", daemon=True)
        self._thread.start()

    def _decode(self) -> None:
        try:
            with pillow_quiet():  # as read_picture: damage worked around
                self._image.load()
        except BaseException as exc:  # re-raised in the reading thread
            self._error = exc
        finally:
            self._file.close()

    def _wait(self, stop: int) -> None:
        """Return once rows ``0..stop-1`` are decoded; raise what decoding raised."""
        height = self.shape[0]
        if stop <= self._done_rows:
            return
        marks = self._buffer[:, -1, 3]
        while self._thread.is_alive():
            if stop < height and marks[stop] == 255:
                self._done_rows = stop
                return
            time.sleep(_POLL_SECONDS)
        self._thread.join()
        self._check()
        self._done_rows = height

    def _check(self) -> None:
        if self._error is not None:
            with deep.pillow_errors(self._label):
                raise self._error
        if self._image.im is not self._core:
            raise Unavailable

    def __getitem__(self, rows: slice) -> NDArray[np.uint8]:
        start, stop, _ = rows.indices(self.shape[0])
        self._wait(stop)
        return self._buffer[start:stop, :, :3]

    def finish(self, *, pixels: bool = True) -> Picture:
        """The decoded picture, once every row is in.

        Parameters
        ----------
        pixels : bool, optional
            Give the pixels (packed into three bytes a pixel in place); with
            False the picture holds no pixels, only bands and metadata.

        Raises
        ------
        ImageReadError
            The file is damaged.
        Unavailable
            The image must be turned upright (an EXIF orientation found
            after the pixels), or Pillow decoded into memory of its own.
        """
        self._wait(self.shape[0])
        image = self._image
        with deep.pillow_errors(self._label), pillow_quiet():  # as read_picture
            orientation = image.getexif().get(deep.ORIENTATION_TAG, 1)
            info = carried_info(image)
        if orientation != 1:
            raise Unavailable
        rgb = packed(self._buffer, 3) if pixels else np.empty((0, *self.shape[1:]), np.uint8)
        return Picture(rgb, ("R", "G", "B"), image.format, info)


def start(
    name: str,
    *,
    frame: int | None,
    max_pixels: int | None,
    wanted: Callable[[tuple[int, int, int]], bool] = lambda shape: True,
) -> DecodingRows | None:
    """Start decoding the file ``name`` on a thread, if it is an RGB PNG or JPEG.

    Returns None, having decoded nothing, for anything else (other formats
    and modes, interlaced PNG, 16-bit PNG, animations, a frame other than
    the first, an EXIF orientation to apply) and for shapes ``(H, W, 3)``
    that ``wanted`` turns down: the caller reads those with
    :func:`imgconv.image_io.read_picture`, which also gives any error.

    Raises
    ------
    ImageReadError
        The image has more pixels than ``max_pixels``.
    """
    if frame not in (None, 0):
        return None
    try:
        # Not a pipe or a device: opened here, their bytes would be gone.
        if not stat.S_ISREG(os.stat(name).st_mode):
            return None
        file = open(name, "rb")  # closed by the decoding thread, or below
    except OSError:
        return None  # the ordinary reader says why
    label = repr(name)
    try:
        head = file.read(64)
        if not head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")):
            target = None
        elif deep.png_wide_bands(head) is not None:  # 16 bits: Pillow would give 8
            target = None
        elif len(head) >= 24 and head[12:16] == b"IHDR" and not wanted((*_png_size(head), 3)):
            target = None  # too small to be worth a thread, told before Pillow opens it
        else:
            file.seek(0)
            with pillow_quiet():  # a corrupt EXIF block warns as a JPEG opens
                image = _opened(file)  # the header only; the thread reads the rest
                target = None if image is None else _target(image, label, max_pixels, wanted)
    except OSError:  # the ordinary reader tries again, and says why
        target = None
    except BaseException:
        file.close()
        raise
    if target is None:
        file.close()
        return None
    return DecodingRows(image, label, file, *target)


def _png_size(head: bytes) -> tuple[int, int]:
    """A PNG's ``(H, W)`` from its IHDR chunk, which opens the file."""
    width, height = struct.unpack(">II", head[16:24])
    return height, width


def _opened(file: BinaryIO) -> Any:
    """``file`` opened by Pillow, or None if Pillow cannot (the ordinary reader says why)."""
    try:
        with pillow_unlimited():
            return Image.open(file)
    except Exception:
        return None


def _target(
    image: Any,
    label: str,
    max_pixels: int | None,
    wanted: Callable[[tuple[int, int, int]], bool],
) -> tuple[NDArray[np.uint8], Any] | None:
    """The buffer to decode ``image`` into, if the rows can be given as they come."""
    try:
        usable = (
            image.format in _IN_ORDER
            and image.mode == "RGB"
            and not image.info.get("interlace")
            and getattr(image, "n_frames", 1) == 1
            and _orientation(image) == 1
        )
    except Exception:  # damaged metadata: the ordinary reader copes or reports
        return None
    if not usable:
        return None
    deep.check_pixels(label, image.size, max_pixels)
    width, height = image.size
    if width < 1 or height < 2 or not wanted((height, width, 3)):
        return None
    return decode_target(image)


def _orientation(image: Any) -> object:
    """The EXIF orientation known before decoding (Pillow's PNG getexif() would decode)."""
    if image.format != "PNG":
        return image.getexif().get(deep.ORIENTATION_TAG, 1)
    raw = image.info.get("exif")
    if not isinstance(raw, bytes) or not raw:
        return 1
    exif = Image.Exif()
    exif.load(raw)
    return exif.get(deep.ORIENTATION_TAG, 1)
