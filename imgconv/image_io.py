"""Reading and writing images: files or standard streams to NumPy arrays and back.

Pictures are ``(H, W, C)`` C-contiguous arrays of uint8, uint16 or float32
with named bands. Reading maps each Pillow mode to one of five band layouts:

==============================  ============  =========  ===========================
Pillow mode of the file         bands         dtype      notes
==============================  ============  =========  ===========================
``1``                           L             uint8      0 and 255
``L``                           L             uint8
``LA``, ``La``                  L A           uint8      ``La`` is un-premultiplied
``P`` without transparency      R G B         uint8
``P`` with transparency, ``PA`` R G B A       uint8
``RGB``, ``RGBX``               R G B         uint8
``RGBA``, ``RGBa``              R G B A       uint8      ``RGBa`` is un-premultiplied
``CMYK``                        C M Y K       uint8      filtered per ink; written
                                                         as CMYK to JPEG and TIFF
``YCbCr``, ``LAB``, ``HSV``     R G B         uint8      converted by Pillow, without
                                                         colour management; the ICC
                                                         profile is not carried over
``I;16``, ``I;16B/L/N``         L             uint16
``I``                           L             uint16     values must be in 0..65535
``F``                           L             float32
16-bit RGB/RGBA/LA PNG,         R G B (A),    uint16     all 16 bits (Pillow alone
16-bit RGB/RGBA TIFF            L A                      keeps only the high byte)
float or 16-bit colour TIFF     as stored     float32,   files Pillow cannot open,
Pillow cannot open                            uint16     read by :mod:`imgconv.deep`
==============================  ============  =========  ===========================

The EXIF orientation is applied. Multi-frame files (TIFF pages, GIF, WebP
and APNG frames) give one frame or all of them, with each frame's display
time and the loop count. ``dpi``, ``icc_profile`` and ``exif`` (of JPEG, PNG
and WebP, with the orientation reset to upright) are kept in
:attr:`Picture.info` for the writer. Images of more pixels than a limit are
refused before they are decoded (the guard against decompression bombs).

Writing encodes fully in memory (:func:`encode_picture`), then writes
atomically (:func:`write_output`): a temporary file in the target's
directory is renamed over the target, so a failed write leaves no partial
file behind and writing over the input file is safe.

This module does no filtering and knows nothing of the command line.
"""

from __future__ import annotations

import errno
import io
import logging
import math
import os
import stat
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, TextIO, TypedDict

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFile, UnidentifiedImageError

# Pillow logs what it finds wrong in a damaged file (through logging's
# last-resort handler: on stderr, beside imgconv's own error line). A handler
# that drops the records keeps them off stderr; an application that sets up
# logging still receives them through the root logger.
if not any(isinstance(h, logging.NullHandler) for h in logging.getLogger("PIL").handlers):
    logging.getLogger("PIL").addHandler(logging.NullHandler())

from . import deep, png
from .errors import FormatError, ImageReadError, ImageWriteError, UsageError
from .matrix_io import (
    MATRIX_SUFFIXES,
    NUMBER_FORMATS,
    Encoded,
    encode_numbers,
    is_npy,
    looks_like_numbers,
    matrix_bands,
    npy_stack_parts,
    parts_of,
    read_matrix,
    write_encoded,
)

#: Formats that can hold float samples.
FLOAT_FORMATS: frozenset[str] = frozenset({"TIFF", *NUMBER_FORMATS})

#: Formats that can hold 16-bit grey through Pillow's ``I;16`` mode
#: (each checked by a round trip).
_GREY16_FORMATS = frozenset({"PNG", "TIFF", "PPM", "JPEG2000"})
#: Formats whose Pillow writer cannot store alpha (or stores it where Pillow
#: cannot read it back): alpha is dropped with a warning.
_NO_ALPHA_FORMATS = frozenset({"JPEG", "MPO", "BMP", "DIB", "PCX", "EPS", "PPM"})
#: Formats whose Pillow writer stores CMYK.
_CMYK_FORMATS = frozenset({"JPEG", "TIFF", "PDF", "EPS"})
#: Modes Pillow converts to RGB (their colour space differs, so an ICC
#: profile of the source no longer applies).
_CONVERTED_TO_RGB = frozenset({"YCbCr", "LAB", "HSV"})
_MODES = {
    "L": ("L",),
    "LA": ("L", "A"),
    "RGB": ("R", "G", "B"),
    "RGBA": ("R", "G", "B", "A"),
    "CMYK": ("C", "M", "Y", "K"),
}
_BANDS_TO_MODE = {bands: mode for mode, bands in _MODES.items()}


@dataclass(frozen=True)
class Picture:
    """An image read from a file or standard input.

    Attributes
    ----------
    pixels : ndarray
        ``(H, W, C)``, C-contiguous, of uint8, uint16 or float32.
    bands : tuple of str
        ``("L",)``, ``("L", "A")``, ``("R", "G", "B")`` or ``("R", "G", "B", "A")``.
    format : str or None
        Pillow's name of the source format (``"PNG"``, ``"JPEG"``, ``"TIFF"``...).
    info : dict
        Metadata worth carrying to the output: ``dpi`` and ``icc_profile``
        when the source had them.
    numeric : bool
        True for a numeric matrix (``.txt``, ``.csv``, ``.npy``): float64
        numbers used as they are, bands ``V`` or ``C1 C2 ...``
        (see :mod:`imgconv.matrix_io`).
    more_frames : tuple of ndarray
        The frames after the first when every frame of a multi-frame file
        was read (pages of a TIFF, frames of a GIF, WebP or APNG), each like
        ``pixels``; ``info["duration"]`` then holds each frame's display
        time in milliseconds where the format has one, and ``info["loop"]``
        the loop count (0: forever).
    """

    pixels: NDArray[np.generic]
    bands: tuple[str, ...]
    format: str | None
    info: dict[str, Any]
    numeric: bool = False
    more_frames: tuple[NDArray[np.generic], ...] = ()

    @property
    def frames(self) -> tuple[NDArray[np.generic], ...]:
        """Every frame read, the first being :attr:`pixels`."""
        return (self.pixels, *self.more_frames)


# --------------------------------------------------------------------------
# Reading


#: The default largest image, in pixels, that reading accepts (200 megapixels):
#: more than any camera gives, far less than a decompression bomb claims.
DEFAULT_MAX_PIXELS = 200_000_000


def read_picture(
    source: str | os.PathLike[str],
    *,
    stdin: BinaryIO | None = None,
    frame: int | None = 0,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> Picture:
    """Read an image file, or standard input for ``"-"``.

    Parameters
    ----------
    source : str or path-like
        A file name, or ``"-"`` for standard input.
    stdin : binary file, optional
        Where ``"-"`` reads from; ``sys.stdin.buffer`` by default.
    frame : int or None, optional
        Which frame (page) of a multi-frame file to read, counting from 0;
        None reads every frame (see :attr:`Picture.more_frames`).
    max_pixels : int or None, optional
        Refuse images (frames) of more pixels than this, before decoding
        them: the guard against decompression bombs. None: no limit.

    Returns
    -------
    Picture
        The frame or frames, turned upright, with bands and dtype as in the
        module's table.

    Raises
    ------
    ImageReadError
        If the source is missing, unreadable, empty, not an image, truncated
        or corrupt, larger than ``max_pixels``, or has samples imgconv
        cannot hold.
    UsageError
        If ``frame`` is not a frame of the file.
    """
    if isinstance(source, str) and source == "-":
        label = "standard input"
        stream = stdin if stdin is not None else sys.stdin.buffer
        try:
            data = stream.read()
        except OSError as exc:
            msg = f"cannot read standard input: {exc.strerror or exc}"
            raise ImageReadError(msg) from exc
        if not data:
            msg = "standard input is empty; expected image data"
            raise ImageReadError(msg)
        if is_npy(data):
            return _matrix(data, label, "NPY", frame)
        if looks_like_numbers(data) and not _pillow_knows(data):
            return _matrix(data, label, "TXT", frame)
    else:
        name = os.fspath(source)
        label = repr(name)
        data = _read_file(name)
        if not data:
            msg = f"{label} is empty; expected image data"
            raise ImageReadError(msg)
        kind = MATRIX_SUFFIXES.get(os.path.splitext(name)[1].lower())
        if kind is not None:
            return _matrix(data, label, kind, frame)
    with pillow_quiet(), _libtiff_muted(deep.is_tiff(data)):
        return _decode(data, label, frame, max_pixels)


def _matrix(data: bytes, label: str, kind: str, frame: int | None) -> Picture:
    if frame:
        raise _no_such_frame(label, frame, 1)
    pixels = read_matrix(data, label, kind)
    return Picture(pixels, matrix_bands(pixels.shape[2]), kind, {}, numeric=True)


def _pillow_knows(data: bytes) -> bool:
    """Whether Pillow takes ``data`` for an image (a broken one too: decoding reports it)."""
    try:
        with pillow_unlimited():
            return _open(data) is not None
    except Exception:  # any other failure means Pillow recognised a format
        return True


def _read_file(name: str) -> bytes:
    """The bytes of the file ``name``; ImageReadError (one line) if it cannot be read."""
    try:
        with open(name, "rb") as file:
            return file.read()
    except FileNotFoundError as exc:
        msg = f"cannot read {name!r}: no such file"
        raise ImageReadError(msg) from exc
    except IsADirectoryError as exc:
        msg = f"cannot read {name!r}: it is a directory"
        raise ImageReadError(msg) from exc
    except PermissionError as exc:
        msg = f"cannot read {name!r}: permission denied"
        raise ImageReadError(msg) from exc
    except OSError as exc:
        msg = f"cannot read {name!r}: {exc.strerror or exc}"
        raise ImageReadError(msg) from exc


@contextmanager
def _libtiff_muted(active: bool) -> Iterator[None]:
    """Keep libtiff's own complaints off standard error while it decodes.

    libtiff writes lines such as "ZIPDecode: Decoding error" straight to file
    descriptor 2, beside imgconv's one ``Error:`` line (which says the same in
    words). Descriptor 2 is pointed at a scratch file meanwhile.
    """
    if not active:
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:  # no standard error to protect
        yield
        return
    try:
        with tempfile.TemporaryFile() as scratch:
            if sys.stderr is not None:
                sys.stderr.flush()
            os.dup2(scratch.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


@contextmanager
def pillow_quiet() -> Iterator[None]:
    """Silence Pillow's Python warnings while it opens, decodes or reads metadata.

    Pillow warns of damage it works around (corrupt EXIF, a short palette);
    the pixels it gives are what there is, and a warning on stderr would
    only clutter a pipeline.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@contextmanager
def pillow_unlimited() -> Iterator[None]:
    """Lift Pillow's pixel limit: :func:`deep.check_pixels` applies ours, more clearly."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _no_such_frame(label: str, frame: int, count: int) -> UsageError:
    if count == 1:
        msg = f"--frame {frame} is out of range: {label} has one frame, 0"
    else:
        msg = f"--frame {frame} is out of range: {label} has {count} frames, 0 to {count - 1}"
    return UsageError(msg)


def _decode(data: bytes, label: str, frame: int | None, max_pixels: int | None) -> Picture:
    """Decode a whole file's bytes (see the module's table)."""
    with deep.pillow_errors(label), pillow_unlimited():
        image = _open(data)
    if image is None:
        if deep.is_tiff(data):
            # Pillow has no mode for float or 16-bit colour TIFF: read those here.
            return _decode_tiff(data, label, frame, max_pixels)
        kind = _looks_like(data)
        if kind is not None:
            msg = (
                f"{label} is truncated or corrupt: it starts like a {kind} file, but Pillow "
                "cannot open it"
            )
            raise ImageReadError(msg)
        msg = f"{label} is not an image Pillow can read"
        raise ImageReadError(msg)

    deep.check_pixels(label, image.size, max_pixels)
    source_format = image.format
    with deep.pillow_errors(label):
        count = _frame_count(image)  # a TIFF's pages are counted by reading them
    if frame is not None and not 0 <= frame < count:
        raise _no_such_frame(label, frame, count)
    wanted = range(count) if frame is None else range(frame, frame + 1)
    if deep.png_wide_bands(data) is not None or deep.tiff_is_wide(image):
        return _decode_wide(data, label, image, wanted, max_pixels)
    frames: list[tuple[NDArray[np.generic], tuple[str, ...]]] = []
    durations: list[int] = []
    with deep.pillow_errors(label):
        for index in wanted:
            if index:
                image.seek(index)
                deep.check_pixels(label, image.size, max_pixels)
            direct = _decode_into_array(image) if len(wanted) == 1 else None
            if direct is None:
                image.load()
            if not frames:
                # Recent Pillow turns TIFF upright while loading and drops the
                # tag, so read the orientation after loading: it is what is left.
                orientation = image.getexif().get(deep.ORIENTATION_TAG)
                info = carried_info(image)
                if image.mode in _CONVERTED_TO_RGB:
                    info.pop("icc_profile", None)
            duration = image.info.get("duration")
            if isinstance(duration, int | float) and duration >= 0:
                durations.append(round(duration))
            if direct is not None:
                frames.append((direct, _MODES[image.mode]))
            else:
                # Convert now: seeking reuses the image, so its pixels must be copied first.
                frames.append(_to_array(_normalise_mode(image), label))
    if len(frames) > 1:
        loop = image.info.get("loop")
        if len(durations) == len(frames):
            info["duration"] = tuple(durations)
        if isinstance(loop, int) and loop >= 0:
            info["loop"] = loop
    arrays, bands = _same_layout(frames, label)
    turned = [deep.orient(pixels, orientation) for pixels in arrays]
    return Picture(turned[0], bands, source_format, info, more_frames=tuple(turned[1:]))


#: The first bytes of formats Pillow reads, to tell a broken file from a stranger.
_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
    b"\0\0\0\x0cjP  ": "JPEG 2000",
}


def _looks_like(data: bytes) -> str | None:
    """The format ``data`` starts like, if it is one Pillow reads."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return next((kind for magic, kind in _SIGNATURES.items() if data.startswith(magic)), None)


def _decode_tiff(data: bytes, label: str, frame: int | None, max_pixels: int | None) -> Picture:
    """Pages of a TIFF that Pillow cannot open, read by :func:`deep.read_tiff`."""
    first = deep.read_tiff(data, label, max_pixels)
    if first is None:
        msg = (
            f"{label} is truncated or corrupt: it starts like a TIFF file, but Pillow "
            "cannot open it"
        )
        raise ImageReadError(msg)
    count = len(deep.tiff_pages(data))
    if frame is not None and not 0 <= frame < count:
        raise _no_such_frame(label, frame, count)
    pages = []
    for index in range(count) if frame is None else (frame,):
        tiff = deep.read_tiff(data, label, max_pixels, index) if index else first
        if tiff is None:
            msg = f"{label} has pages of different kinds; pick one with --frame N"
            raise ImageReadError(msg)
        pages.append((deep.orient(tiff.pixels, tiff.orientation), tiff.bands))
    arrays, bands = _same_layout(pages, label)
    return Picture(arrays[0], bands, "TIFF", first.info, more_frames=tuple(arrays[1:]))


def _decode_wide(
    data: bytes,
    label: str,
    image: ImageFile.ImageFile,
    wanted: range,
    max_pixels: int | None,
) -> Picture:
    """16-bit colour frames, decoded by :func:`deep.read_wide` (pages of a TIFF)."""
    one_page = image.format != "TIFF" or deep.tiff_is_planar(image)
    if one_page and (len(wanted) > 1 or wanted[0] > 0):
        msg = (
            f"{label} is a 16-bit colour {image.format} of {_frame_count(image)} frames, of "
            "which imgconv reads only the first; expected --frame 0"
        )
        raise UsageError(msg)
    first_size = image.size
    frames = []
    with deep.pillow_errors(label):
        info = carried_info(image)
        for index in wanted:
            if index:
                image.seek(index)  # its strips are decoded into a fresh first page
                deep.check_pixels(label, image.size, max_pixels)
            if image.size != first_size:
                msg = f"{label} has frames of different sizes; pick one with --frame N"
                raise ImageReadError(msg)
            frames.append(deep.read_wide(data, label, image))
    arrays, bands = _same_layout(frames, label)
    return Picture(arrays[0], bands, image.format, info, more_frames=tuple(arrays[1:]))


def _frame_count(image: Image.Image) -> int:
    count = getattr(image, "n_frames", 1)
    return count if isinstance(count, int) and count > 0 else 1


def _same_layout(
    frames: Sequence[tuple[NDArray[Any], tuple[str, ...]]], label: str
) -> tuple[list[NDArray[np.generic]], tuple[str, ...]]:
    """Frames in one band layout: grey made colour and alpha added where any frame has them.

    GIF frames after the first come as RGB or RGBA while the first is a
    palette. TIFF pages may differ more: 8-bit grey, colour and alpha are
    reconciled, other differences (of depth, or of size) are refused.
    """
    arrays = [pixels for pixels, _ in frames]
    layouts = {bands for _, bands in frames}
    sizes = {pixels.shape[:2] for pixels in arrays}
    if len(sizes) > 1:
        shown = ", ".join(f"{w} x {h}" for h, w in sorted(sizes))
        msg = f"{label} has frames of different sizes ({shown}); pick one with --frame N"
        raise ImageReadError(msg)
    if len(layouts) == 1:
        return arrays, frames[0][1]
    eight_bit = all(pixels.dtype == np.uint8 for pixels in arrays)
    if not eight_bit or not layouts <= set(_MODES.values()):
        shown = ", ".join(sorted("".join(b) for b in layouts))
        msg = f"{label} has frames of different kinds ({shown}); pick one with --frame N"
        raise ImageReadError(msg)
    colour = any(len(bands) >= 3 for bands in layouts)
    alpha = any(bands[-1] == "A" for bands in layouts)
    target: tuple[str, ...] = ("R", "G", "B") if colour else ("L",)
    target += ("A",) if alpha else ()
    unified = []
    for pixels, bands in frames:
        body = pixels[:, :, :1].repeat(3, axis=2) if colour and bands[0] == "L" else pixels
        body = body[:, :, : len(target) - alpha] if bands[-1] == "A" else body
        if alpha:
            opaque = np.full(pixels.shape[:2] + (1,), 255, np.uint8)
            body = np.concatenate([body, pixels[:, :, -1:] if bands[-1] == "A" else opaque], 2)
        unified.append(np.ascontiguousarray(body))
    return unified, target


def _open(data: bytes) -> ImageFile.ImageFile | None:
    """``data`` opened by Pillow (not yet decoded), or None if Pillow does not know it."""
    try:
        return Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        return None


def _normalise_mode(image: Image.Image) -> Image.Image:
    """Convert a loaded image whose mode is not one imgconv keeps (see the table)."""
    mode = image.mode
    if mode in ("1", "La"):
        return image.convert("L" if mode == "1" else "LA")
    if mode == "P":
        return image.convert("RGBA" if image.has_transparency_data else "RGB")
    if mode in ("PA", "RGBa"):
        return image.convert("RGBA")
    if mode in ("RGBX", *_CONVERTED_TO_RGB):
        return image.convert("RGB")
    return image


def _to_array(image: Image.Image, label: str) -> tuple[NDArray[np.generic], tuple[str, ...]]:
    """Pixels and bands of a loaded image in one of the modes imgconv keeps."""
    if image.mode in _MODES:
        pixels: NDArray[np.generic] = _copied(image)
        bands = _MODES[image.mode]
    elif image.mode.startswith("I;16"):
        pixels = np.asarray(image).astype(np.uint16)  # native byte order
        bands = ("L",)
    elif image.mode == "I":
        values = np.asarray(image)
        if values.size and (values.min() < 0 or values.max() > 65535):
            msg = (
                f"{label} is a 32-bit integer image with values outside 0..65535, "
                "which imgconv does not support; expected values within 0..65535"
            )
            raise ImageReadError(msg)
        pixels = values.astype(np.uint16)
        bands = ("L",)
    elif image.mode == "F":
        pixels = np.asarray(image).astype(np.float32)
        bands = ("L",)
    else:
        msg = f"{label} has Pillow mode {image.mode}, which imgconv cannot read"
        raise ImageReadError(msg)
    if pixels.ndim == 2:
        pixels = pixels[:, :, np.newaxis]
    return np.ascontiguousarray(pixels), bands


#: Pillow's layout of a mode's pixels in memory: the raw mode a NumPy buffer
#: of ``(H, W, bytes)`` is mapped as, and how many of the bytes are samples.
#: Pillow keeps RGB as four bytes a pixel (the fourth is padding).
_MAPPED_LAYOUTS = {"L": ("L", 1, 1), "RGB": ("RGBX", 4, 3), "RGBA": ("RGBA", 4, 4)}


def _decode_into_array(image: ImageFile.ImageFile) -> NDArray[np.uint8] | None:
    """Decode ``image`` straight into a NumPy array, its pixels; None if Pillow cannot.

    Copying a decoded image out of Pillow costs about half as long as PNG
    decoding itself (0.24 s for 4096 x 4096 RGB). Instead, the decoder is
    given an image whose memory is a NumPy buffer. Pillow may make its own
    memory after all (a plugin with its own way of loading, a mode it
    converts while reading): then the caller copies as usual.
    """
    target = decode_target(image)
    if target is None:
        return None
    buffer, core = target
    image.load()
    if image.im is not core or image.mode not in _MAPPED_LAYOUTS:
        return None
    samples = _MAPPED_LAYOUTS[image.mode][2]
    return buffer if buffer.shape[2] == samples else packed(buffer, samples)


def decode_target(image: ImageFile.ImageFile) -> tuple[NDArray[np.uint8], Any] | None:
    """A NumPy buffer that ``image`` (opened, not loaded) will decode into, and its core.

    The buffer is ``(H, W, bytes)`` in Pillow's layout of the mode (RGB as
    four bytes a pixel); Pillow's image is given the buffer as its memory.
    None for modes without a plain layout, or an image already loaded.
    Whether Pillow kept to the buffer shows after loading: ``image.im`` is
    still the core returned.
    """
    layout = _MAPPED_LAYOUTS.get(image.mode)
    if layout is None or getattr(image, "_im", True) is not None:
        return None
    rawmode, stored, _ = layout
    width, height = image.size
    buffer = np.empty((height, width, stored), dtype=np.uint8)
    core = Image.frombuffer(image.mode, image.size, buffer, "raw", rawmode, 0, 1).im
    image.im = core
    return buffer, core


def packed(buffer: NDArray[np.uint8], samples: int) -> NDArray[np.uint8]:
    """The first ``samples`` bytes of each pixel, moved to the front of ``buffer``.

    Row by row from the top, a row's packed place ends before the next
    unread row begins, so each piece only needs its own rows held aside.
    """
    height, width, stored = buffer.shape
    front = buffer.reshape(-1)[: height * width * samples].reshape(height, width, samples)
    rows = max(1, (1 << 18) // (width * stored))
    for top in range(0, height, rows):
        held = buffer[top : top + rows].copy()
        target = front[top : top + rows]
        for sample in range(samples):  # one long strided loop each: 2.5x faster
            target[..., sample] = held[..., sample]
    return front


#: Bytes per piece when a decoded image is copied out of Pillow.
_COPY_BYTES = 8 << 20


def _copied(image: Image.Image) -> NDArray[np.generic]:
    """``np.array(image)``, a writable copy, made a band of rows at a time.

    NumPy's conversion goes through a bytes copy of the whole image, so it
    would hold the image three times at once (Pillow's, the bytes, the
    array); piece by piece, the peak is Pillow's and the array's.
    """
    width, height = image.size
    first = np.asarray(image.crop((0, 0, width, 1)))
    pixels = np.empty((height, *first.shape[1:]), dtype=first.dtype)
    rows = max(1, _COPY_BYTES // max(1, first.nbytes))
    for top in range(0, height, rows):
        stop = min(height, top + rows)
        pixels[top:stop] = np.asarray(image.crop((0, top, width, stop)))
    return pixels


def carried_info(image: Image.Image) -> dict[str, Any]:
    """What :attr:`Picture.info` keeps of a loaded image's metadata: dpi, ICC profile, EXIF."""
    info: dict[str, Any] = {}
    dpi = deep.valid_dpi(image.info)
    tags = getattr(image, "tag_v2", None)
    # Pillow reports 1 dpi for a TIFF without resolution tags.
    if dpi is not None and (tags is None or deep.X_RESOLUTION_TAG in tags):
        info["dpi"] = dpi
    icc = image.info.get("icc_profile")
    if isinstance(icc, bytes) and icc:
        info["icc_profile"] = icc
    exif = image.info.get("exif")
    if isinstance(exif, bytes) and exif and image.format in _EXIF_FORMATS:
        # The pixels are turned upright as they are read: say so in the copy.
        info["exif"] = deep.exif_upright(exif)
        info["exif_from"] = image.format
    return info


# --------------------------------------------------------------------------
# Formats


def _savable_formats() -> dict[str, str]:
    """Formats imgconv can write, lowercase name to Pillow's name."""
    Image.init()
    formats = {"npy": "NPY", "txt": "TXT", "csv": "CSV"}
    for name in Image.SAVE:
        opener = Image.OPEN.get(name)
        factory = opener[0] if opener else None
        # Stub plugins (BUFR, GRIB, HDF5, WMF) only save through a handler
        # that the application must install.
        if isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile):
            continue
        formats[name.lower()] = name
    return formats


#: The format of standard output (``-``, which has no suffix) unless --format names another.
STDOUT_FORMAT = "PNG"


def output_format(target: str, explicit: str | None = None) -> str:
    """The format to write ``target`` in.

    Parameters
    ----------
    target : str
        The output file name, or ``"-"`` for standard output.
    explicit : str, optional
        A format name given by the user, in any case: a Pillow format name
        (``png``, ``jpeg``, ``tiff``...), ``npy``, or a file suffix such as
        ``jpg`` or ``tif``.

    Returns
    -------
    str
        Pillow's format name (``"PNG"``, ``"JPEG"``...) or ``"NPY"``.

    Raises
    ------
    UsageError
        If ``explicit`` is not a format imgconv can write, or the format
        cannot be told from the suffix of ``target``.
    """
    quick = _preinit_format(target, explicit)
    if quick is not None:
        return quick
    formats = _savable_formats()
    if explicit is not None:
        # A format name, or a suffix naming one: jpg, tif, pgm, jp2...
        found = formats.get(explicit.lower()) or _suffix_format("." + explicit.lower(), formats)
        if found is None:
            raise _unknown_format(explicit, formats)
        return found
    if target == "-":
        return STDOUT_FORMAT
    found = _suffix_format(os.path.splitext(target)[1].lower(), formats)
    if found is None:
        msg = (
            f"cannot tell the output format of {target!r} from its suffix; use a suffix "
            "such as .png, .jpg, .tif or .npy, or --format"
        )
        raise UsageError(msg)
    return found


def _preinit_format(target: str, explicit: str | None) -> str | None:
    """The format of a common name or suffix (PNG, JPEG, GIF, BMP, PPM), else None.

    Pillow knows these after loading five plugins; the rest of its plugins
    take another 20 ms to load, which a shell tool's start-up can spare.
    """
    if explicit is None and target == "-":
        return None
    Image.preinit()
    if explicit is not None:
        key = explicit.lower()
        name = key.upper() if key.upper() in Image.SAVE else Image.EXTENSION.get("." + key)
    else:
        name = Image.EXTENSION.get(os.path.splitext(target)[1].lower())
    return name if name in _PREINIT_FORMATS and name in Image.SAVE else None


#: The formats of the plugins :func:`PIL.Image.preinit` loads.
_PREINIT_FORMATS = frozenset({"BMP", "GIF", "JPEG", "PPM", "PNG"})


def _unknown_format(name: str, formats: Mapping[str, str]) -> UsageError:
    msg = f"unknown output format {name!r}; expected one of {', '.join(sorted(formats))}"
    return UsageError(msg)


def _suffix_format(suffix: str, formats: Mapping[str, str]) -> str | None:
    if suffix in MATRIX_SUFFIXES:
        return MATRIX_SUFFIXES[suffix]
    name = Image.registered_extensions().get(suffix)
    return name if name is not None and name.lower() in formats else None


# --------------------------------------------------------------------------
# Encoding


class SaveOptions(TypedDict, total=False):
    """How to encode, where the format has a choice.

    Attributes
    ----------
    quality : int or None
        1..100 for lossy formats: JPEG (95 by default, chroma kept at full
        resolution from 90 up), WebP (lossless by default; a quality makes
        it lossy) and AVIF.
    compression : int or None
        The PNG compression level, 0 (none, fastest) to 9 (smallest); 3 by
        default (see :mod:`imgconv.png`).
    """

    quality: int | None
    compression: int | None


#: Formats that take ``quality``.
QUALITY_FORMATS = frozenset({"JPEG", "MPO", "WEBP", "AVIF"})
#: Formats that take ``compression``.
COMPRESSION_FORMATS = frozenset({"PNG"})
#: Formats that hold several frames with display times (animations).
_ANIMATED_FORMATS = frozenset({"GIF", "WEBP", "PNG"})
#: Formats that can carry EXIF metadata from a file of the same format.
_EXIF_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP"})
_DEFAULT_JPEG_QUALITY = 95


def check_save_options(format: str, save: SaveOptions | None) -> None:
    """Refuse save options the format does not take.

    Raises
    ------
    UsageError
        For ``quality`` on a lossless-only format or ``compression`` on a
        format other than PNG.
    """
    fmt = format.upper()
    save = save or {}
    if save.get("quality") is not None and fmt not in QUALITY_FORMATS:
        msg = f"--quality applies to JPEG, WebP and AVIF output, not {fmt}"
        raise UsageError(msg)
    if save.get("compression") is not None and fmt not in COMPRESSION_FORMATS:
        msg = f"--compression applies to PNG output, not {fmt}"
        raise UsageError(msg)


def depth_hint(format: str) -> str:
    """The ``--depth`` choices that ``format`` holds, for messages: ``--depth 8 or 16``."""
    return "--depth 8 or 16" if format.upper() in _GREY16_FORMATS else "--depth 8"


def check_frames(format: str, count: int) -> None:
    """Refuse to write ``count`` frames where the format holds one.

    Raises
    ------
    UsageError
        Naming the formats that hold several frames, and ``--frame``.
    """
    fmt = format.upper()
    if count > 1 and fmt not in _ANIMATED_FORMATS | NUMBER_FORMATS | {"TIFF"}:
        msg = (
            f"the input has {count} frames, which {fmt} cannot hold; write .gif, .webp, "
            ".png (animated), .tiff (a page each) or .npy, or pick one with --frame N"
        )
        raise UsageError(msg)


def _pillow_options(fmt: str, save: SaveOptions) -> dict[str, Any]:
    """Pillow's save arguments for ``fmt``: imgconv's defaults, then the user's choices."""
    quality = save.get("quality")
    if fmt in ("JPEG", "MPO"):
        quality = _DEFAULT_JPEG_QUALITY if quality is None else quality
        # As ImageMagick does: full-resolution chroma for high qualities, so
        # filtered colour edges are not smeared; 4:2:0 below.
        return {"quality": quality, "subsampling": 0 if quality >= 90 else 2}
    if fmt == "WEBP":
        if quality is None:  # exact: keep the colour under fully transparent pixels
            return {"lossless": True, "exact": True}
        return {"quality": quality, "lossless": False}
    if fmt == "AVIF" and quality is not None:
        return {"quality": quality}
    if fmt == "PNG":
        level = save.get("compression")
        return {"compress_level": png.DEFAULT_LEVEL if level is None else level}
    return {}


def encode_picture(
    pixels: NDArray[np.generic],
    bands: tuple[str, ...],
    format: str,
    *,
    info: Mapping[str, Any] | None = None,
    save: SaveOptions | None = None,
    more_frames: Sequence[NDArray[np.generic]] = (),
) -> tuple[Encoded, list[str]]:
    """Encode pixels in a format, in memory.

    Parameters
    ----------
    pixels : ndarray
        ``(H, W)`` or ``(H, W, C)`` of uint8 (depth 8), uint16 (depth 16) or
        float32 (depth float).
    bands : tuple of str
        ``("L",)``, ``("L", "A")``, ``("R", "G", "B")``, ``("R", "G", "B", "A")``
        or ``("C", "M", "Y", "K")``.
    format : str
        A name returned by :func:`output_format`.
    info : mapping, optional
        ``dpi``, ``icc_profile`` and ``exif`` to write where the format takes
        them (an ICC profile only when its colour space matches the bands);
        ``duration`` (a time per frame, in milliseconds) and ``loop`` for
        animations.
    save : SaveOptions, optional
        Quality and compression (see :func:`check_save_options`).
    more_frames : sequence of ndarray, optional
        Frames after ``pixels``, alike: written as pages of a TIFF, frames
        of a GIF, WebP or APNG animation, or stacked in ``.npy`` and text.

    Returns
    -------
    data : bytes or Parts
        The encoded file (an ``.npy`` in parts that refer to ``pixels``).
    warnings : list of str
        Lines for standard error, e.g. when alpha had to be dropped.

    Raises
    ------
    UsageError
        If the format cannot hold the samples (16-bit, float, alpha where
        dropping it is not an option, several frames, or a band layout
        Pillow refuses).
    ValueError
        If ``pixels`` and ``bands`` do not match, or the dtype is not one of
        the three above (a programming error, not a user's).
    """
    fmt = format.upper()
    arrays = [_three_d(pixels), *(_three_d(f) for f in more_frames)]
    array = arrays[0]
    bands = tuple(bands)
    if fmt in NUMBER_FORMATS and array.shape[2] == len(bands):
        # Numbers as they are, whatever the bands: one map (H, W) or one per band.
        if len(arrays) > 1:
            frame_names = [f"frame {index}" for index in range(len(arrays))]
            return encode_stack(arrays, bands, fmt, names=frame_names), []
        if fmt == "NPY":
            return encode_numbers(array[:, :, 0] if len(bands) == 1 else array, fmt), []
        names = list(bands) if len(bands) > 1 else None
        return encode_numbers(np.moveaxis(array, -1, 0), fmt, names=names), []
    for frame in arrays:
        if bands not in _BANDS_TO_MODE or frame.shape[2] != len(bands):
            msg = f"pixels of shape {frame.shape} do not fit bands {bands}"
            raise ValueError(msg)
        if frame.dtype not in (np.uint8, np.uint16, np.float32) or frame.dtype != array.dtype:
            msg = f"pixels must be uint8, uint16 or float32 alike, not {frame.dtype}"
            raise ValueError(msg)
    if _preinit_format("", fmt) != fmt:
        formats = _savable_formats()
        if fmt.lower() not in formats:
            raise _unknown_format(format, formats)
    check_save_options(fmt, save)
    _check_size(fmt, array.shape)
    options = _pillow_options(fmt, save or {})
    warnings: list[str] = []
    # Formats that hold RGB but not CMYK get RGB, at 8 bits, or 16 in PNG.
    rgb_fits = array.dtype == np.uint8 or (array.dtype == np.uint16 and fmt == "PNG")
    if bands == _MODES["CMYK"] and fmt not in _CMYK_FORMATS and rgb_fits:
        arrays, bands = [_cmyk_to_rgb(a) for a in arrays], _MODES["RGB"]
        array = arrays[0]
        warnings.append(
            f"{fmt} cannot store CMYK; the inks were converted to RGB without colour "
            "management (write .jpg or .tiff to keep CMYK)"
        )
    metadata = _metadata(info or {}, bands, fmt)
    if len(arrays) > 1:
        return _encode_frames(arrays, bands, fmt, metadata, options, info or {}, warnings)

    if fmt == "PNG" and array.dtype != np.float32:
        level = options.get("compress_level", png.DEFAULT_LEVEL)
        return png.encode_png(array, bands, metadata, level), warnings
    if array.dtype == np.uint16 and not (len(bands) == 1 and fmt in _GREY16_FORMATS):
        if fmt == "TIFF":
            return deep.encode_tiff(array, bands, metadata), warnings
    if array.dtype == np.float32 and len(bands) > 1 and fmt == "TIFF":
        return deep.encode_tiff(array, bands, metadata), warnings
    image, kept = _pillow_image(array, bands, fmt, warnings)
    if kept != bands:
        metadata = _metadata(info or {}, kept, fmt)
    return _save(image, fmt, kept, {**metadata, **options}), warnings


def _three_d(pixels: NDArray[np.generic]) -> NDArray[np.generic]:
    array = np.asarray(pixels)
    return array[:, :, np.newaxis] if array.ndim == 2 else array


def _pillow_image(
    array: NDArray[np.generic], bands: tuple[str, ...], fmt: str, warnings: list[str]
) -> tuple[Image.Image, tuple[str, ...]]:
    """A Pillow image of one frame, for formats Pillow writes; the bands it keeps."""
    if array.dtype == np.uint16:
        if len(bands) == 1 and fmt in _GREY16_FORMATS:
            image = Image.frombytes("I;16", _size(array), array.astype("<u2").tobytes())
            return image, bands
        if fmt in _GREY16_FORMATS:
            msg = (
                f"{fmt} can store 16-bit samples only for grey images, not {''.join(bands)}; "
                "use --depth 8, or write .png or .tiff"
            )
        else:
            msg = f"{fmt} cannot store 16-bit samples; use --depth 8, or write .png or .tiff"
        raise UsageError(msg)
    if array.dtype == np.float32:
        if fmt not in FLOAT_FORMATS or len(bands) > 1:
            msg = f"{fmt} cannot store float samples; write .tiff or .npy, or use {depth_hint(fmt)}"
            raise FormatError(msg, ("tiff", "npy"))
        return Image.frombytes("F", _size(array), array.astype(np.float32).tobytes()), bands
    if bands[-1] == "A" and fmt in _NO_ALPHA_FORMATS:
        array, bands = array[:, :, :-1], bands[:-1]
        warnings.append(f"{fmt} cannot store alpha; the alpha channel was dropped")
    if fmt == "GIF":
        return _gif_image(array, bands, warnings), bands
    mode = _BANDS_TO_MODE[bands]
    # frombuffer reads the array in place: no bytes copy of a large image.
    image = Image.frombuffer(mode, _size(array), np.ascontiguousarray(array), "raw", mode, 0, 1)
    return image, bands


#: Bytes of float values converted from CMYK at a time.
_CMYK_STRIP_BYTES = 1 << 21


def _cmyk_to_rgb(array: NDArray[Any]) -> NDArray[Any]:
    """Inks to RGB by Pillow's plain formula, ``R = (1 - C)(1 - K)``, at 8 or 16 bits.

    ``(top - C)(top - K) / top``, rounded: the product is exact in float32
    at 8 bits and float64 at 16, and never lies halfway between two
    integers (``top`` is odd), so the rounding is exact too. Strips of
    rows, one plane per ink: a 4097 x 4097 image took 4.6 s and several
    GB as whole-image float64 arrays of interleaved inks, 0.16 s this way.
    """
    top = np.iinfo(array.dtype).max
    work = np.float32 if array.dtype == np.uint8 else np.float64
    height, width = array.shape[:2]
    out = np.empty((height, width, 3), array.dtype)
    step = max(1, _CMYK_STRIP_BYTES // (width * 4 * np.dtype(work).itemsize))
    for start in range(0, height, step):
        part = array[start : start + step]
        white = np.empty((4, *part.shape[:2]), work)
        np.subtract(top, part.transpose(2, 0, 1), out=white, dtype=work)
        rgb = white[:3]
        rgb *= white[3]
        rgb *= work(1 / top)
        np.rint(rgb, out=rgb)
        np.copyto(out[start : start + step].transpose(2, 0, 1), rgb, casting="unsafe")
    return out


def _gif_image(array: NDArray[Any], bands: tuple[str, ...], warnings: list[str]) -> Image.Image:
    """A palette image for GIF: exact for up to 256 colours, transparency at index 0.

    Pillow's own conversion quantises RGBA in four dimensions, merging
    colours even when there are few, and turns LA into L; GIF holds a
    palette and one fully transparent index, so build that directly.
    """
    colour = array[:, :, :3] if bands[0] == "R" else np.repeat(array[:, :, :1], 3, axis=2)
    alpha = array[:, :, -1] if bands[-1] == "A" else None
    clear = np.zeros(array.shape[:2], bool) if alpha is None else alpha < 128
    if alpha is not None and np.any((alpha > 0) & (alpha < 255)):
        warnings.append(
            "GIF pixels are either opaque or fully transparent; alpha was rounded to one "
            "or the other (write .png or .webp to keep it)"
        )
    reserved = 1 if alpha is not None else 0  # index 0: transparent
    packed = colour.astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1], np.uint32)
    shown, indices = np.unique(packed[~clear], return_inverse=True)
    palette_size = 256 - reserved
    if len(shown) <= palette_size:
        index = np.zeros(array.shape[:2], np.uint8)
        index[~clear] = indices.astype(np.uint8) + reserved
        palette = np.stack([(shown >> 16) & 255, (shown >> 8) & 255, shown & 255], axis=-1)
    else:
        warnings.append(
            "GIF holds at most 256 colours per image; Pillow reduced the result's colours "
            "(write .png or .webp to keep them all)"
        )
        rgb = Image.frombytes("RGB", _size(colour), np.ascontiguousarray(colour).tobytes())
        reduced = rgb.quantize(palette_size)
        index = np.asarray(reduced, np.uint8) + np.uint8(reserved)
        palette = np.asarray(reduced.getpalette() or [], np.uint8).reshape(-1, 3)[:palette_size]
        index[clear] = 0
    entries = np.zeros((256, 3), np.uint8)
    entries[reserved : reserved + len(palette)] = palette
    image = Image.frombytes("P", _size(index), np.ascontiguousarray(index).tobytes())
    image.putpalette(entries.tobytes())
    if alpha is not None:
        image.info["transparency"] = 0
    return image


def _encode_frames(
    arrays: list[NDArray[np.generic]],
    bands: tuple[str, ...],
    fmt: str,
    metadata: dict[str, Any],
    options: dict[str, Any],
    info: Mapping[str, Any],
    warnings: list[str],
) -> tuple[bytes, list[str]]:
    """Encode several frames: TIFF pages, or a GIF, WebP or APNG animation."""
    count = len(arrays)
    check_frames(fmt, count)
    if fmt == "TIFF":
        return deep.encode_tiff_pages(arrays, bands, metadata), warnings
    if arrays[0].dtype != np.uint8:
        msg = f"{fmt} animations hold 8-bit frames; use --depth 8, or write .tiff"
        raise UsageError(msg)
    images = [_pillow_image(frame, bands, fmt, warnings)[0] for frame in arrays]
    animation: dict[str, Any] = {"save_all": True, "append_images": images[1:]}
    durations = info.get("duration")
    if isinstance(durations, tuple | list) and len(durations) == count:
        animation["duration"] = list(durations)
    loop = info.get("loop")
    if isinstance(loop, int):
        animation["loop"] = loop
    if fmt == "GIF" and bands[-1] == "A":
        # Clear each frame before the next: transparent pixels of a later
        # frame must show the background, not the frame before.
        animation.update(disposal=2, transparency=0)
    if fmt == "WEBP" and bands[-1] == "A":
        # Every frame a key frame: libwebp sets the file's alpha flag only
        # from frame data, and opaque difference frames would leave it
        # unset, so readers (Pillow among them) would drop the alpha.
        animation.update(kmin=1, kmax=1)
    if fmt == "PNG":
        animation["default_image"] = False
    return _save(images[0], fmt, bands, {**metadata, **options, **animation}), sorted(set(warnings))


def stack_refusal(fmt: str) -> FormatError:
    """The error for ``--combine stack`` (a map per kernel) into a format of one image."""
    msg = (
        f"--combine stack writes one map per kernel, which {fmt} cannot hold; "
        "write .tiff (a page per map), .npy, .txt or .csv"
    )
    return FormatError(msg, ("tiff", "npy", "txt", "csv"))


def encode_stack(
    pages: NDArray[np.generic] | Sequence[NDArray[np.generic]],
    bands: tuple[str, ...],
    format: str,
    *,
    names: Sequence[str] | None = None,
    info: Mapping[str, Any] | None = None,
) -> Encoded:
    """Encode several maps of one shape and type: a multi-page TIFF, one ``.npy``, or text.

    Parameters
    ----------
    pages : ndarray or sequence of ndarray
        ``(H, W)`` or ``(H, W, C)`` arrays, all alike, uint8, uint16 or
        float32; or one array of them, ``(K, H, W[, C])``. ``.npy`` writes
        each from its own memory, not copied into a new stack.
    bands : tuple of str
        Band names of every page.
    format : str
        ``TIFF`` (one page per map, named in its PageName tag), ``NPY``
        (one array of shape ``(K, H, W)`` or ``(K, H, W, C)``), or ``TXT``
        and ``CSV`` (a block per map and band, each after a ``# NAME`` line).
    names : sequence of str, optional
        A name per page (the kernel that made it).
    info : mapping, optional
        ``dpi`` and ``icc_profile`` for TIFF pages.

    Returns
    -------
    bytes or Parts
        The encoded file.

    Raises
    ------
    UsageError
        For any other format.
    """
    fmt = format.upper()
    if fmt == "NPY":
        return (
            encode_numbers(pages, fmt) if isinstance(pages, np.ndarray) else npy_stack_parts(pages)
        )
    arrays = [np.asarray(p) for p in pages]
    if fmt in NUMBER_FORMATS:  # text: a block per map and band
        planes = [a if a.ndim == 2 else a[:, :, 0] for a in arrays]
        labels = list(names) if names else [f"map {i + 1}" for i in range(len(arrays))]
        if arrays[0].ndim == 3 and arrays[0].shape[2] > 1:
            planes = [a[:, :, c] for a in arrays for c in range(a.shape[2])]
            labels = [f"{label} {band}" for label in labels for band in bands]
        return encode_numbers(np.stack(planes), fmt, names=labels)
    if fmt != "TIFF":
        raise stack_refusal(fmt)
    cubes = [a[:, :, np.newaxis] if a.ndim == 2 else a for a in arrays]
    return deep.encode_tiff_pages(cubes, bands, _metadata(info or {}, bands, fmt), names)


def _size(array: NDArray[np.generic]) -> tuple[int, int]:
    return (array.shape[1], array.shape[0])


def _metadata(info: Mapping[str, Any], bands: tuple[str, ...], fmt: str) -> dict[str, Any]:
    """The ``dpi``, ``icc_profile`` and ``exif`` of ``info`` that ``fmt`` takes with ``bands``."""
    metadata: dict[str, Any] = {}
    exif = info.get("exif")
    # EXIF goes only to the format it came from: its thumbnails and maker
    # notes are made for that format.
    if isinstance(exif, bytes) and exif and _same_format(info.get("exif_from"), fmt):
        metadata["exif"] = exif
    dpi = deep.valid_dpi(info)
    if dpi is not None:
        metadata["dpi"] = dpi
    icc = info.get("icc_profile")
    # An RGB profile in a grey file (or the reverse) is invalid; drop it.
    if isinstance(icc, bytes) and icc and deep.icc_fits(icc, bands):
        metadata["icc_profile"] = icc
    return metadata


def _same_format(source: object, fmt: str) -> bool:
    kinds = {"MPO": "JPEG"}  # a camera's multi-picture JPEG is read as MPO
    return isinstance(source, str) and kinds.get(source, source) == kinds.get(fmt, fmt)


#: The largest width and height each format can record.
_MAX_SIDES = {"WEBP": 16383, "JPEG": 65500, "GIF": 65535}  # libjpeg: 65500


def _check_size(fmt: str, shape: tuple[int, ...]) -> None:
    """Refuse an image larger than ``fmt`` can hold, before Pillow fails on it."""
    side = _MAX_SIDES.get(fmt)
    height, width = shape[:2]
    if side is not None and max(height, width) > side:
        msg = (
            f"{fmt} holds images up to {side} x {side} pixels, and this one is {width} x "
            f"{height}; write .png or .tiff"
        )
        raise UsageError(msg)


def _save(image: Image.Image, fmt: str, bands: tuple[str, ...], options: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    try:
        image.save(out, format=fmt, **options)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        detail = str(exc) or type(exc).__name__
        msg = f"{fmt} cannot store an {''.join(bands)} image: {detail}"
        raise UsageError(msg) from exc
    return out.getvalue()


# --------------------------------------------------------------------------
# Writing


def write_output(data: Encoded, target: str, *, stdout: BinaryIO | None = None) -> None:
    """Write encoded data to a file, atomically, or to standard output for ``"-"``.

    A file is written to a temporary file in the same directory, flushed to
    disk, and renamed over ``target``; on failure the temporary file is
    removed and ``target`` is untouched. A new file gets the permissions
    ``0o666`` less the umask; an existing one keeps its mode. A symbolic
    link is followed (the file it points to is replaced), and a target that
    is not a regular file (``/dev/null``, a pipe) is written to directly.

    Parameters
    ----------
    data : bytes or Parts
        The encoded image; parts are written one after another.
    target : str
        A file name, or ``"-"`` for standard output.
    stdout : binary file, optional
        Where ``"-"`` writes to; ``sys.stdout.buffer`` by default.

    Raises
    ------
    ImageWriteError
        ``cannot write 'x.png': <reason>`` (missing directory, permission
        denied, a directory, no space left on device, ...).
    """
    if target == "-":
        stream = stdout if stdout is not None else sys.stdout.buffer
        try:
            write_encoded(stream, data)
            stream.flush()
        except OSError as exc:
            msg = f"cannot write to standard output: {exc.strerror or exc}"
            raise ImageWriteError(msg) from exc
        return

    replaced = replaced_file(target)
    if replaced is None:
        # A device or a pipe (/dev/null, /dev/stdout) cannot be replaced by
        # renaming, and must not be: write into it.
        _write_in_place(data, target)
        return
    path, directory, mode = replaced
    try:
        fd, temporary = tempfile.mkstemp(
            prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory
        )
    except OSError as exc:
        raise _write_error(target, exc) from exc
    try:
        try:
            for part in parts_of(data):
                view = memoryview(part)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
            os.fchmod(fd, mode)  # mkstemp creates files as 0600
            _fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException as exc:  # an interrupt too: leave no temporary file behind
        try:
            os.unlink(temporary)
        except OSError:
            pass  # already gone, or the directory became unwritable: nothing more to do
        if isinstance(exc, OSError):
            raise _write_error(target, exc) from exc
        raise
    _sync_directory(directory)


def replaced_file(target: str) -> tuple[str, str, int] | None:
    """Where an atomic write of ``target`` goes: the file, its directory, and the new mode.

    A symbolic link is followed (the file it points to is replaced); an
    existing file's mode is kept, a new one gets ``0o666`` less the umask.
    None for an existing target that is not a regular file (a device or a
    pipe), which renaming must not replace.

    Raises
    ------
    ImageWriteError
        A directory as the target, a missing directory, a read-only file.
    """
    try:
        existing: os.stat_result | None = os.stat(target)  # follows symbolic links
    except OSError:
        existing = None
    if existing is not None and stat.S_ISDIR(existing.st_mode):
        msg = f"cannot write {target!r}: it is a directory"
        raise ImageWriteError(msg)
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        return None
    path = os.path.realpath(target) if os.path.islink(target) else target
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        shown = os.path.dirname(target) or "."
        if os.path.exists(directory):
            msg = f"cannot write {target!r}: {shown!r} is not a directory"
        else:
            msg = f"cannot write {target!r}: directory {shown!r} does not exist"
        raise ImageWriteError(msg)
    if existing is not None and not os.access(path, os.W_OK):
        # Renaming would replace a read-only file; refuse, as writing into it would.
        msg = f"cannot write {target!r}: permission denied"
        raise ImageWriteError(msg)
    mode = stat.S_IMODE(existing.st_mode) if existing is not None else 0o666 & ~_umask()
    return path, directory, mode


def _write_in_place(data: Encoded, target: str) -> None:
    try:
        with open(target, "wb") as file:
            write_encoded(file, data)
    except OSError as exc:
        raise _write_error(target, exc) from exc


def _write_error(target: str, exc: OSError) -> ImageWriteError:
    reasons = {
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EISDIR: "it is a directory",
        errno.ENOSPC: "no space left on device",
    }
    reason = reasons.get(exc.errno or 0) or exc.strerror or str(exc)
    msg = f"cannot write {target!r}: {reason}"
    return ImageWriteError(msg)


def _umask() -> int:
    # The only portable way to read the umask is to set it and set it back.
    current = os.umask(0o022)
    os.umask(current)
    return current


def _fsync(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError as exc:
        # Some file systems cannot sync; the data is written all the same.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise


def _sync_directory(directory: str) -> None:
    """Make the rename durable; best effort (not every system allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def is_terminal(stream: BinaryIO | TextIO) -> bool:
    """Whether ``stream`` is a terminal; False when it cannot tell (no ``isatty``, closed).

    Parameters
    ----------
    stream : file
        A binary or text stream such as ``sys.stdin`` or ``sys.stdout.buffer``.

    Returns
    -------
    bool
    """
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


# --------------------------------------------------------------------------
# Montage

#: Tiles of a montage are enlarged (by whole pixels) to at least this size.
MONTAGE_MIN_TILE = 96
_MONTAGE_GAP = 6
_MONTAGE_BACKGROUND = 40
_MONTAGE_TEXT = 235


def encode_montage(maps: NDArray[np.floating], names: Sequence[str], format: str) -> bytes:
    """A labelled grid of grey images, one per map, each stretched to its own range.

    Parameters
    ----------
    maps : ndarray
        ``(K, H, W)`` floats.
    names : sequence of str
        A label per map; each tile is labelled ``NAME: MIN to MAX``, the
        values black and white stand for.
    format : str
        An 8-bit image format (``PNG``, ``JPEG``, ...).

    Raises
    ------
    UsageError
        If ``format`` holds numbers rather than pixels.
    """
    from PIL import ImageDraw, ImageFont

    from .core.mapping import stretch

    fmt = format.upper()
    if fmt in NUMBER_FORMATS:
        msg = f"--montage draws a picture; {fmt} holds numbers: write .png, or drop --montage"
        raise UsageError(msg)
    count, h, w = maps.shape
    zoom = max(1, -(-MONTAGE_MIN_TILE // max(h, w)))
    tile_h, tile_w = h * zoom, w * zoom
    font = ImageFont.load_default()
    low, high = maps.min(axis=(1, 2)), maps.max(axis=(1, 2))
    labels = [
        f"{name}: {float(a):.4g} to {float(b):.4g}"
        for name, a, b in zip(names, low, high, strict=True)
    ]
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    text_h = max(int(probe.textbbox((0, 0), "Hg", font=font)[3]), 8) + 4
    cell_w = max(tile_w, min(max(int(probe.textlength(t, font=font)) for t in labels), 4 * tile_w))
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    width = columns * (cell_w + _MONTAGE_GAP) + _MONTAGE_GAP
    height = rows * (tile_h + text_h + _MONTAGE_GAP) + _MONTAGE_GAP
    canvas = Image.new("L", (width, height), _MONTAGE_BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for index, (label, values) in enumerate(zip(labels, maps, strict=True)):
        row, column = divmod(index, columns)
        x = _MONTAGE_GAP + column * (cell_w + _MONTAGE_GAP)
        y = _MONTAGE_GAP + row * (tile_h + text_h + _MONTAGE_GAP)
        draw.text((x, y), _fit(label, cell_w, draw, font), fill=_MONTAGE_TEXT, font=font)
        grey = np.rint(stretch(values, 255)).astype(np.uint8)
        tile = np.repeat(np.repeat(grey, zoom, axis=0), zoom, axis=1)
        canvas.paste(Image.fromarray(tile), (x, y + text_h))
    return _save(canvas, fmt, ("L",), _pillow_options(fmt, {}))


def _fit(text: str, width: int, draw: Any, font: Any) -> str:
    """``text``, shortened with an ellipsis to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while len(text) > 1 and draw.textlength(text + "\u2026", font=font) > width:
        text = text[:-1]
    return text + "\u2026"
