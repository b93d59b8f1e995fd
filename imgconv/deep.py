"""Samples Pillow cannot hold: 16-bit colour and float colour.

Pillow has no 16-bit colour mode. It opens 16-bit RGB, RGBA and LA PNG files
and 16-bit RGB and RGBA TIFF files, but keeps only the high byte of every
sample; it cannot open float RGB TIFF files at all. This module fills those
gaps for :mod:`imgconv.image_io`:

Reading 16-bit colour with Pillow's own decoders
    The file is decoded twice. The first time as Pillow normally does: its
    raw mode (``RGB;16B``, ``RGBA;16L``, ``RGB;16N``...) yields the high
    byte of each sample. The second time with the raw mode's byte order
    swapped, which makes the same unpacker pick the low bytes. Then
    ``high * 256 + low``. Decompression, PNG filters, Adam7 interlacing,
    TIFF strips and predictors all stay Pillow's (and libtiff's) job.
    16-bit LA PNG is decoded once with the 8-bit ``RGBA`` raw mode, which
    has the same 32 bits per pixel and so hands over all four bytes.

Reading TIFF files Pillow cannot open or decode correctly
    :func:`read_tiff` reads baseline strip TIFF files with 16-bit integer
    or 32-bit float samples itself: either byte order, chunky or planar
    layout, no compression or deflate, no predictor or the one meant for
    the sample type (horizontal differencing for 16-bit integers, the
    floating-point predictor for floats). That covers everything
    :func:`encode_tiff` writes, and planar 16-bit files, which Pillow
    decodes wrongly.

Writing
    :func:`encode_tiff` writes 16-bit or float TIFF straight from NumPy
    arrays, its strips deflated on every core, 16-bit samples with
    predictor 2 (PNG, 8 or 16 bits, is :mod:`imgconv.png`'s).

Every function that decodes data from a file raises
:class:`~imgconv.errors.ImageReadError` for bad data; see
:func:`pillow_errors`.
"""

from __future__ import annotations

import io
import math
import struct
import sys
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFile

from .core.spatial import pool, workers
from .errors import ImageReadError, ImgconvError, UsageError

#: EXIF (and TIFF) tag holding the orientation, 1..8.
ORIENTATION_TAG = 0x0112
#: TIFF tag holding the horizontal resolution.
X_RESOLUTION_TAG = 282

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour types whose 16-bit samples Pillow reduces to 8 bits.
_PNG_WIDE_COLOUR_TYPES: dict[int, tuple[str, ...]] = {
    2: ("R", "G", "B"),
    4: ("L", "A"),
    6: ("R", "G", "B", "A"),
}

_NATIVE_ORDER = "L" if sys.byteorder == "little" else "B"
_OPPOSITE_ORDER = {"B": "L", "L": "B"}

# TIFF tags, types and values used here.
_WIDTH, _LENGTH, _BITS, _COMPRESSION, _PHOTOMETRIC = 256, 257, 258, 259, 262
_STRIP_OFFSETS, _SAMPLES, _ROWS_PER_STRIP, _STRIP_COUNTS = 273, 277, 278, 279
_X_RES, _Y_RES, _PLANAR, _RES_UNIT, _PREDICTOR = X_RESOLUTION_TAG, 283, 284, 296, 317
_TILE_WIDTH, _EXTRA_SAMPLES, _SAMPLE_FORMAT, _ICC_PROFILE = 322, 338, 339, 34675
_SHORT, _LONG, _RATIONAL, _UNDEFINED, _ASCII = 3, 4, 5, 7, 2
_PAGE_NAME = 285
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
_TYPE_CODES = {3: "H", 4: "I", 5: "II", 8: "h", 9: "i", 10: "ii", 11: "f", 12: "d"}
_DEFLATE = (8, 32946)
_COMPRESSION_NAMES = {
    2: "CCITT RLE",
    3: "CCITT fax 3",
    4: "CCITT fax 4",
    5: "LZW",
    6: "old-style JPEG",
    7: "JPEG",
    32773: "PackBits",
    34925: "LZMA",
    50000: "Zstandard",
    50001: "WebP",
}
#: Extra-sample meanings (tag 338).
_UNSPECIFIED, _ASSOCIATED, _UNASSOCIATED = 0, 1, 2

# Uncompressed bytes per TIFF strip.
_STRIP_BYTES = 1 << 16
#: The deflate level of the TIFF strips written. Per core, on a 4096 x 4096
#: photograph: float maps (Sobel, Kirsch, a 5x5 blur) deflate at 57 to 99
#: MB/s at level 1 and 9 to 17 MB/s at level 6 (8 Kirsch maps took 57 s to
#: write), into files 3 to 27% larger (0.24, 0.40 and 0.55 of the raw size,
#: against 0.19, 0.35 and 0.53); 16-bit samples of a blur, differenced
#: (predictor 2), at 61 MB/s into 0.42 of the raw size, against 38 MB/s and
#: 0.72 at level 6 without the predictor.
_DEFLATE_LEVEL = 1
# Uncompressed bytes of strips given to one thread at a time.
_TASK_BYTES = 1 << 20


@contextmanager
def pillow_errors(label: str) -> Iterator[None]:
    """Turn exceptions raised while decoding ``label`` into ImageReadError.

    Wrap calls into Pillow that decode file data (and only those): a bad
    file can make Pillow's plugins raise nearly anything. imgconv's own
    errors and MemoryError pass through unchanged.

    Parameters
    ----------
    label : str
        How messages name the input: ``'x.png'`` or ``standard input``.

    Raises
    ------
    ImageReadError
        ``<label> is larger than Pillow's safety limit: ...`` for a
        decompression bomb, else ``<label> is truncated or corrupt: ...``.
    """
    try:
        yield
    except (ImgconvError, MemoryError):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        msg = f"{label} is larger than Pillow's safety limit: {exc}"
        raise ImageReadError(msg) from exc
    except Exception as exc:
        detail = _pillow_detail(exc)
        msg = f"{label} is truncated or corrupt" + (f": {detail}" if detail else "")
        raise ImageReadError(msg) from exc


#: Pillow's messages for data that ends early, in words a user reads.
_ENDS_EARLY = ("Truncated File Read", "buffer of at least", "unpack requires", "not enough data")


def _pillow_detail(exc: Exception) -> str:
    """What Pillow said about a bad file, if it is worth reading."""
    text = str(exc)
    if any(phrase in text for phrase in _ENDS_EARLY) or isinstance(exc, EOFError):
        return "the data ends early"
    if "could not create decoder object" in text:  # libwebp's only word on bad data
        return "its WebP data cannot be decoded"
    if text.startswith("decoder error"):  # Pillow's code for a decompressor's failure
        return "its compressed data cannot be decoded"
    if isinstance(exc, OSError | SyntaxError) and text:
        # Pillow's own messages ("image file is truncated", "broken PNG
        # file"); other exceptions come from deep inside a plugin.
        return text[0].lower() + text[1:]
    return ""


def orient(pixels: NDArray[Any], orientation: object) -> NDArray[Any]:
    """Turn ``(H, W, C)`` pixels upright according to an EXIF orientation.

    Does what :func:`PIL.ImageOps.exif_transpose` does to an image, so
    16-bit arrays come out as their 8-bit counterparts would.

    Parameters
    ----------
    pixels : ndarray
        ``(H, W, C)`` samples as stored in the file.
    orientation : object
        The EXIF orientation, 1..8; anything else leaves the pixels alone.

    Returns
    -------
    ndarray
        C-contiguous ``(H, W, C)`` or ``(W, H, C)`` pixels.
    """
    flips: dict[object, Callable[[NDArray[Any]], NDArray[Any]]] = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
        8: lambda a: np.rot90(a, 1),
    }
    flip = flips.get(orientation) if isinstance(orientation, int) else None
    return np.ascontiguousarray(pixels if flip is None else flip(pixels))


def unpremultiply(pixels: NDArray[Any]) -> NDArray[Any]:
    """Divide the colour samples of ``(H, W, C)`` pixels by their last (alpha) band.

    Used for TIFF files with associated (premultiplied) alpha. Integer
    samples are rounded and clipped; where alpha is 0 the colour is 0.
    """
    if pixels.dtype.kind == "f":
        alpha = pixels[..., -1:].astype(np.float64)
        colour = pixels[..., :-1].astype(np.float64)
        out = np.divide(colour, alpha, out=np.zeros_like(colour), where=alpha != 0)
    else:
        top = float(np.iinfo(pixels.dtype).max)
        alpha = pixels[..., -1:].astype(np.float64)
        colour = pixels[..., :-1].astype(np.float64) * top
        out = np.divide(colour, alpha, out=np.zeros_like(colour), where=alpha != 0)
        out = np.clip(np.rint(out), 0, top)
    result = pixels.copy()
    result[..., :-1] = out
    return result


# --------------------------------------------------------------------------
# 16-bit colour through Pillow's decoders


def png_wide_bands(data: bytes) -> tuple[str, ...] | None:
    """The bands of a 16-bit colour PNG, or None for any other data.

    Reads the IHDR chunk, which a PNG file must start with: bit depth 16
    with colour type 2 (RGB), 4 (LA) or 6 (RGBA).
    """
    if len(data) < 33 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    depth, colour_type = data[24], data[25]
    return _PNG_WIDE_COLOUR_TYPES.get(colour_type) if depth == 16 else None


def tiff_is_wide(image: Image.Image) -> bool:
    """Whether Pillow opened ``image`` as a TIFF with 16-bit RGB(A) or CMYK samples.

    True when BitsPerSample is 16 for each of 2 or more samples and the
    photometric interpretation is RGB or separated (CMYK). 16-bit YCbCr and
    Lab files are left to Pillow, which converts them to 8-bit RGB anyway.
    """
    tags = getattr(image, "tag_v2", None)
    if image.format != "TIFF" or tags is None:
        return False
    bits = tags.get(_BITS)
    bits = tuple(bits) if isinstance(bits, tuple | list) else (bits,)
    samples = tags.get(_SAMPLES, 1)
    return (
        tags.get(_PHOTOMETRIC) in (2, 5)
        and isinstance(samples, int)
        and samples >= 2
        and all(b == 16 for b in bits)
    )


def tiff_is_planar(image: Image.Image) -> bool:
    """Whether a TIFF opened by Pillow stores its samples in separate planes."""
    tags = getattr(image, "tag_v2", None)
    return tags is not None and tags.get(_PLANAR, 1) == 2


def read_wide(
    data: bytes, label: str, image: ImageFile.ImageFile
) -> tuple[NDArray[np.uint16], tuple[str, ...]]:
    """Decode a 16-bit colour PNG or TIFF without losing the low bytes.

    Parameters
    ----------
    data : bytes
        The whole file.
    label : str
        How messages name the file.
    image : PIL.ImageFile.ImageFile
        ``data`` opened (not loaded) by Pillow, for which :func:`png_wide_bands`
        or :func:`tiff_is_wide` is true.

    Returns
    -------
    pixels : ndarray
        ``(H, W, C)`` uint16 samples, turned upright by the EXIF orientation.
    bands : tuple of str
        ``("L", "A")``, ``("R", "G", "B")`` or ``("R", "G", "B", "A")``.

    Raises
    ------
    ImageReadError
        For corrupt data, or a layout that this Pillow version decodes in a
        way the byte-order trick cannot undo.
    """
    if image.format == "TIFF" and tiff_is_planar(image):
        # Pillow decodes planar 16-bit strips with 8-bit unpackers (or
        # through libtiff in a way the byte swap cannot undo): read them here.
        tiff = read_tiff(data, label)
        if tiff is None:  # pragma: no cover - tiff_is_wide said it is ours
            msg = f"{label} is a 16-bit planar TIFF that imgconv cannot read"
            raise ImageReadError(msg)
        return orient(tiff.pixels.astype(np.uint16, copy=False), tiff.orientation), tiff.bands
    rawmodes = sorted({_rawmode(tile) for tile in image.tile})
    layout = f"16-bit {image.format} that Pillow decodes as {image.mode} from {', '.join(rawmodes)}"
    unsupported = f"{label} is a {layout}, which imgconv cannot read without losing bits"
    rawmode = rawmodes[0] if len(rawmodes) == 1 else ""
    expected = png_wide_bands(data) if image.format == "PNG" else None

    if image.format == "PNG" and expected == ("L", "A") and rawmode == "LA;16B":
        # No unpacker gives LA's low bytes, but 8-bit RGBA reads the same
        # 32 bits per pixel: L high, L low, A high, A low.
        raw = _decode_as(data, label, image.tile, "RGBA").astype(np.uint16)
        return ((raw[..., 0::2] << 8) | raw[..., 1::2]).astype(np.uint16), ("L", "A")

    base, _, suffix = rawmode.partition(";")
    known = {"PNG": {"RGB", "RGBA"}, "TIFF": {"RGB", "RGBA", "RGBX", "RGBa", "CMYK"}}
    if (
        base not in known.get(image.format or "", set())
        or suffix not in ("16B", "16L", "16N")
        or (image.format == "PNG" and suffix != "16B")
    ):
        raise ImageReadError(unsupported)
    # Pillow's RGBa unpackers un-premultiply in 8 bits; take the stored
    # samples as they are and un-premultiply in 16 bits below.
    straight = "RGBA;" + suffix if base == "RGBa" else rawmode
    high = _decode_as(data, label, image.tile, straight).astype(np.uint16)
    low = _decode_as(data, label, image.tile, _swap_order(straight))
    pixels = ((high << 8) | low).astype(np.uint16)
    bands = ("R", "G", "B", "A") if pixels.shape[2] == 4 else ("R", "G", "B")
    if base == "CMYK":
        bands = ("C", "M", "Y", "K")
    if expected is not None and expected != bands:
        raise ImageReadError(unsupported)
    if base == "RGBa":
        pixels = unpremultiply(pixels)
    return pixels, bands


def _swap_order(rawmode: str) -> str:
    order = rawmode[-1]
    if order == "N":
        order = _NATIVE_ORDER
    return rawmode[:-1] + _OPPOSITE_ORDER[order]


def _rawmode(tile: Any) -> str:
    args = tuple(tile)[3]
    return str(args if isinstance(args, str) else args[0])


def _with_rawmode(tile: Any, rawmode: str) -> Any:
    codec, extents, offset, args = tuple(tile)[:4]
    new_args = rawmode if isinstance(args, str) else (rawmode, *tuple(args)[1:])
    if hasattr(tile, "_replace"):  # ImageFile._Tile, Pillow >= 11
        return tile._replace(args=new_args)
    return (codec, extents, offset, new_args)


def _decode_as(data: bytes, label: str, tiles: Sequence[Any], rawmode: str) -> NDArray[np.uint8]:
    """Decode ``data`` with ``tiles`` (as Pillow set them up), but in ``rawmode``.

    Returns ``(H, W, C)`` bytes, upright: Pillow turns TIFF images upright
    while loading them (recent versions), so the orientation is read after
    loading and applied only if it is still there.
    """
    tiles = [_with_rawmode(tile, rawmode) for tile in tiles]
    with pillow_errors(label):
        image = Image.open(io.BytesIO(data))
        image.tile = tiles
        image.load()
        pixels = np.asarray(image)
        orientation = image.getexif().get(ORIENTATION_TAG)
    pixels = pixels if pixels.ndim == 3 else pixels[:, :, np.newaxis]
    return orient(pixels, orientation)


# --------------------------------------------------------------------------
# TIFF reading


@dataclass(frozen=True)
class TiffImage:
    """A TIFF image read by :func:`read_tiff`.

    Attributes
    ----------
    pixels : ndarray
        ``(H, W, C)`` uint16 or float32, as stored (not yet oriented).
    bands : tuple of str
        Band names.
    orientation : int
        The Orientation tag (1 when absent).
    info : dict
        ``dpi`` and ``icc_profile`` when the file has them.
    """

    pixels: NDArray[Any]
    bands: tuple[str, ...]
    orientation: int = 1
    info: dict[str, Any] = field(default_factory=dict)


TagValue = tuple[float, ...] | bytes


def is_tiff(data: bytes) -> bool:
    """Whether ``data`` starts like a TIFF (or BigTIFF) file."""
    return data[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")


def read_tiff(
    data: bytes, label: str, max_pixels: int | None = None, page: int = 0
) -> TiffImage | None:
    """Read an image (the first by default) of a TIFF file with 16-bit or float samples.

    Parameters
    ----------
    data : bytes
        The whole file.
    label : str
        How messages name the file.
    max_pixels : int, optional
        Refuse an image of more pixels than this (see
        :func:`check_pixels`).
    page : int, optional
        Which image: an index into :func:`tiff_pages`.

    Returns
    -------
    TiffImage or None
        None when the first image does not have 16-bit integer or 32-bit
        float samples (the caller reports what Pillow said about it).

    Raises
    ------
    ImageReadError
        If the file is corrupt, or it is of that kind but in a layout this
        reader does not handle (tiles, LZW or other compression...).
    """
    if data[:4] in (b"II+\0", b"MM\0+"):
        msg = f"{label} is a BigTIFF file, which imgconv cannot read; expected a classic TIFF"
        raise ImageReadError(msg)
    if not is_tiff(data):
        return None
    order: Literal["<", ">"] = "<" if data[:2] == b"II" else ">"
    tags = _read_ifd(data, order, label, tiff_pages(data)[page] if page else None)

    def ints(tag: int, default: tuple[int, ...]) -> tuple[int, ...]:
        value = tags.get(tag)
        if value is None or isinstance(value, bytes) or not value:
            return default
        return tuple(int(v) for v in value)

    samples = ints(_SAMPLES, (1,))[0]
    bits = ints(_BITS, (1,))
    formats = ints(_SAMPLE_FORMAT, (1,))
    bits = bits * samples if len(bits) == 1 else bits
    formats = formats * samples if len(formats) == 1 else formats
    dtype: np.dtype[Any]
    if all(b == 16 for b in bits) and all(f == 1 for f in formats):
        kind, dtype = "16-bit", np.dtype(np.uint16)
    elif all(b == 32 for b in bits) and all(f == 3 for f in formats):
        kind, dtype = "float", np.dtype(np.float32)
    else:
        return None
    if len(bits) != samples or len(formats) != samples:
        msg = (
            f"{label} is truncated or corrupt: BitsPerSample or SampleFormat "
            "does not match SamplesPerPixel"
        )
        raise ImageReadError(msg)

    width, height = ints(_WIDTH, (0,))[0], ints(_LENGTH, (0,))[0]
    photometric = ints(_PHOTOMETRIC, (-1,))[0]
    bands, keep, alpha_kind = _tiff_bands(samples, photometric, ints(_EXTRA_SAMPLES, ()))
    what = f"{label} is a {kind} TIFF"
    if bands is None:
        msg = (
            f"{what} with {samples} samples per pixel and photometric interpretation "
            f"{photometric}, which imgconv cannot read; expected grey or RGB, with or "
            "without alpha"
        )
        raise ImageReadError(msg)
    compression = ints(_COMPRESSION, (1,))[0]
    predictor = ints(_PREDICTOR, (1,))[0]
    planar = ints(_PLANAR, (1,))[0]
    if compression not in (1, *_DEFLATE):
        name = _COMPRESSION_NAMES.get(compression, f"number {compression}")
        msg = (
            f"{what} with {name} compression, which imgconv cannot read; "
            "expected no compression or deflate"
        )
        raise ImageReadError(msg)
    if predictor not in ((1, 3) if kind == "float" else (1, 2)):
        expected_predictor = "none or 3 (floating point)" if kind == "float" else "none or 2"
        msg = (
            f"{what} with predictor {predictor}, which imgconv cannot read; "
            f"expected {expected_predictor}"
        )
        raise ImageReadError(msg)
    if _TILE_WIDTH in tags:
        msg = f"{what} stored in tiles, which imgconv cannot read; expected strips"
        raise ImageReadError(msg)
    if planar not in (1, 2):
        msg = f"{label} is truncated or corrupt: PlanarConfiguration is {planar}"
        raise ImageReadError(msg)
    if width <= 0 or height <= 0:
        msg = f"{label} is truncated or corrupt: the image is {width}x{height} pixels"
        raise ImageReadError(msg)
    check_pixels(label, (width, height), max_pixels)

    rows_per_strip = min(ints(_ROWS_PER_STRIP, (height,))[0], height) or height
    planes = samples if planar == 2 else 1
    row_bytes = width * dtype.itemsize * (1 if planar == 2 else samples)
    strips_per_plane = -(-height // rows_per_strip)
    offsets = ints(_STRIP_OFFSETS, ())
    default_counts = (row_bytes * rows_per_strip,) * len(offsets) if compression == 1 else ()
    counts = ints(_STRIP_COUNTS, default_counts)
    if len(offsets) != strips_per_plane * planes or len(counts) != len(offsets):
        msg = (
            f"{label} is truncated or corrupt: it has {len(offsets)} strip offsets and "
            f"{len(counts)} strip sizes; expected {strips_per_plane * planes}"
        )
        raise ImageReadError(msg)

    chunks = []
    for index, (offset, count) in enumerate(zip(offsets, counts, strict=True)):
        first_row = (index % strips_per_plane) * rows_per_strip
        expected = row_bytes * min(rows_per_strip, height - first_row)
        stored = data[offset : offset + count]
        if compression == 1:
            chunk = stored[:expected]
        else:
            try:
                chunk = zlib.decompressobj().decompress(stored, expected)
            except zlib.error as exc:
                msg = f"{label} is truncated or corrupt: strip {index}: {exc}"
                raise ImageReadError(msg) from exc
        if len(chunk) != expected:
            msg = (
                f"{label} is truncated or corrupt: "
                f"strip {index} holds {len(chunk)} of {expected} bytes"
            )
            raise ImageReadError(msg)
        chunks.append(chunk)

    raw = b"".join(chunks)
    if predictor == 3:
        if planar == 2:
            flat = _undo_float_predictor(raw, samples * height, width, 1)
        else:
            flat = _undo_float_predictor(raw, height, width * samples, samples)
    else:
        flat = np.frombuffer(raw, dtype=dtype.newbyteorder(order))
    if planar == 2:
        pixels = flat.reshape(samples, height, width).transpose(1, 2, 0)
    else:
        pixels = flat.reshape(height, width, samples)
    pixels = pixels.astype(dtype)  # native order, and a writable copy
    if predictor == 2:
        # Horizontal differencing: each sample is stored as the difference
        # to its left neighbour, modulo 2**16.
        pixels = np.cumsum(pixels, axis=1, dtype=np.uint16)
    pixels = pixels[:, :, list(keep)]
    if alpha_kind == _ASSOCIATED:
        pixels = unpremultiply(pixels)

    info: dict[str, Any] = {}
    dpi = _tiff_dpi(tags)
    if dpi is not None:
        info["dpi"] = dpi
    icc = tags.get(_ICC_PROFILE)
    if isinstance(icc, bytes) and icc:
        info["icc_profile"] = icc
    orientation = ints(ORIENTATION_TAG, (1,))[0]
    return TiffImage(np.ascontiguousarray(pixels), bands, orientation, info)


def _undo_float_predictor(raw: bytes, rows: int, per_row: int, stride: int) -> NDArray[Any]:
    """Undo TIFF predictor 3 on rows of ``per_row`` float32 samples.

    Each row is stored as byte planes (the most significant byte of every
    sample first, whatever the file's byte order), then differenced byte by
    byte with ``stride`` (samples per pixel, or 1 for planar data).
    """
    planes = np.frombuffer(raw, dtype=np.uint8).reshape(rows, per_row * 4 // stride, stride)
    planes = np.cumsum(planes, axis=1, dtype=np.uint8).reshape(rows, 4, per_row)
    return np.ascontiguousarray(planes.transpose(0, 2, 1)).view(">f4").reshape(rows, per_row)


def _tiff_bands(
    samples: int, photometric: int, extra: tuple[int, ...]
) -> tuple[tuple[str, ...] | None, tuple[int, ...], int]:
    """Band names, indices of the samples to keep, and the alpha kind."""
    colour = {1: ("L",), 2: ("R", "G", "B"), 5: ("C", "M", "Y", "K")}.get(photometric)
    if colour is None or not len(colour) <= samples <= len(colour) + 1:
        return None, (), _UNSPECIFIED
    keep = tuple(range(len(colour)))
    if samples == len(colour):
        return colour, keep, _UNSPECIFIED
    alpha_kind = extra[0] if extra else _UNSPECIFIED
    if alpha_kind in (_ASSOCIATED, _UNASSOCIATED):
        return (*colour, "A"), (*keep, len(colour)), alpha_kind
    return colour, keep, _UNSPECIFIED  # an unspecified extra sample: not alpha


def _tiff_dpi(tags: Mapping[int, TagValue]) -> tuple[float, float] | None:
    x, y, unit = tags.get(_X_RES), tags.get(_Y_RES), tags.get(_RES_UNIT, (2,))
    if not x or not y or isinstance(x, bytes) or isinstance(y, bytes) or isinstance(unit, bytes):
        return None
    per_inch = {2: 1.0, 3: 2.54}.get(int(unit[0]))
    if per_inch is None or not (x[0] > 0 and y[0] > 0):
        return None
    return (float(x[0]) * per_inch, float(y[0]) * per_inch)


def tiff_pages(data: bytes) -> list[int]:
    """The offsets of the IFDs (pages) of a classic TIFF, in order; stops at a bad link."""
    order = "<" if data[:2] == b"II" else ">"
    offsets: list[int] = []
    try:
        (ifd,) = struct.unpack_from(order + "I", data, 4)
        while ifd and ifd not in offsets and len(offsets) < 100_000:
            offsets.append(ifd)
            (count,) = struct.unpack_from(order + "H", data, ifd)
            (ifd,) = struct.unpack_from(order + "I", data, ifd + 2 + 12 * count)
    except struct.error:
        pass  # a cut chain: the pages before the cut are what there is
    return offsets or [0]


def _read_ifd(data: bytes, order: str, label: str, ifd: int | None = None) -> dict[int, TagValue]:
    """The tags of an IFD (the first by default): numbers as tuples, byte-like types as bytes."""
    tags: dict[int, TagValue] = {}
    try:
        if ifd is None:
            (ifd,) = struct.unpack_from(order + "I", data, 4)
        (count,) = struct.unpack_from(order + "H", data, ifd)
        for index in range(count):
            tag, kind, n, inline = struct.unpack_from(order + "HHI4s", data, ifd + 2 + 12 * index)
            size = _TYPE_SIZES.get(kind, 0) * n
            if size == 0:
                continue  # unknown type: skip the tag, as TIFF readers should
            if size <= 4:
                raw = inline[:size]
            else:
                (where,) = struct.unpack_from(order + "I", inline)
                raw = data[where : where + size]
                if len(raw) != size:
                    msg = f"{label} is truncated or corrupt: the value of TIFF tag {tag} is cut off"
                    raise ImageReadError(msg)
            code = _TYPE_CODES.get(kind)
            if code is None:
                tags[tag] = raw  # BYTE, ASCII, SBYTE, UNDEFINED
            elif kind in (5, 10):
                pairs = struct.unpack(order + code * n, raw)
                tags[tag] = tuple(
                    pairs[i] / pairs[i + 1] if pairs[i + 1] else 0.0
                    for i in range(0, len(pairs), 2)
                )
            else:
                tags[tag] = struct.unpack(order + code * n, raw)
    except struct.error as exc:
        msg = f"{label} is truncated or corrupt: its TIFF directory ends early"
        raise ImageReadError(msg) from exc
    # BYTE-typed numeric tags (rare, but legal for a few) read as numbers.
    for tag in (_BITS, _SAMPLES, _COMPRESSION, _PHOTOMETRIC, _PLANAR, _PREDICTOR):
        value = tags.get(tag)
        if isinstance(value, bytes):
            tags[tag] = tuple(value)
    return tags


def check_pixels(label: str, size: tuple[int, int], max_pixels: int | None) -> None:
    """Refuse an image of ``size`` (width, height) with more than ``max_pixels`` pixels.

    Raises
    ------
    ImageReadError
        Naming the size, the limit and how to raise it.
    """
    width, height = size
    if max_pixels is None or width * height <= max_pixels:
        return
    msg = (
        f"{label} is {width} x {height} pixels{_megapixels(width * height)}, more than the "
        f"limit of {_pixels(max_pixels)} that guards against decompression bombs; "
        "if you trust the file, raise the limit with --max-pixels"
    )
    raise ImageReadError(msg)


def _pixels(count: int) -> str:
    return f"{count / 1e6:.4g} megapixels" if count >= 10**6 else f"{count} pixels"


def _megapixels(count: int) -> str:
    return f" ({_pixels(count)})" if count >= 10**6 else ""


# --------------------------------------------------------------------------
# Writing


def icc_fits(profile: bytes, bands: Sequence[str]) -> bool:
    """Whether an ICC profile's colour space matches the bands (grey, RGB or CMYK)."""
    space = profile[16:20] if len(profile) >= 128 else b""
    return space == {"L": b"GRAY", "R": b"RGB ", "C": b"CMYK"}.get(bands[0])


def exif_upright(exif: bytes) -> bytes:
    """EXIF bytes with the orientation set to 1 (upright), everything else as it was.

    The value is patched in place rather than re-encoding the block, so
    maker notes and other tags Pillow does not parse are kept. Bytes that
    do not parse are returned unchanged.
    """
    head = 6 if exif.startswith(b"Exif\0\0") else 0
    order = {b"II": "<", b"MM": ">"}.get(exif[head : head + 2])
    if order is None or len(exif) < head + 8:
        return exif
    (ifd,) = struct.unpack_from(order + "I", exif, head + 4)
    start = head + ifd
    if start + 2 > len(exif):
        return exif
    (count,) = struct.unpack_from(order + "H", exif, start)
    for entry in range(start + 2, min(start + 2 + 12 * count, len(exif) - 11), 12):
        tag, kind = struct.unpack_from(order + "HH", exif, entry)
        if tag == ORIENTATION_TAG and kind == 3:  # SHORT, stored in the entry itself
            patched = bytearray(exif)
            struct.pack_into(order + "H", patched, entry + 8, 1)
            return bytes(patched)
    return exif


def encode_tiff(pixels: NDArray[Any], bands: Sequence[str], info: Mapping[str, Any]) -> bytes:
    """Encode ``(H, W, C)`` uint8, uint16 or float32 pixels as a baseline TIFF.

    Little-endian, chunky, deflate-compressed strips, compressed on every
    core; 16-bit samples with horizontal differencing (predictor 2), others
    without a predictor. Alpha is written as an unassociated extra sample.

    Parameters
    ----------
    pixels : ndarray
        ``(H, W, C)`` uint8, uint16 or float32 with C = 1, 2, 3 or 4.
    bands : sequence of str
        The band names, matching C.
    info : mapping
        Optional ``dpi`` and ``icc_profile``.

    Returns
    -------
    bytes
        The TIFF file.

    Raises
    ------
    UsageError
        If the file would exceed the 4 GiB a classic TIFF can address.
    """
    return encode_tiff_pages([pixels], bands, info)


def encode_tiff_pages(
    pages: Sequence[NDArray[Any]],
    bands: Sequence[str],
    info: Mapping[str, Any],
    names: Sequence[str] | None = None,
) -> bytes:
    """Encode several ``(H, W, C)`` images of one type as a multi-page TIFF.

    Each page is written as :func:`encode_tiff` writes one; ``names`` (one
    per page) go in each page's PageName tag, so a reader can tell which
    kernel made which page.
    """
    out = _Pieces(b"II*\0\0\0\0\0")
    link = (0, 4)  # where the offset of the next IFD goes
    for index, pixels in enumerate(pages):
        name = names[index] if names is not None else None
        ifd_offset, next_link = _append_tiff_page(out, pixels, bands, info, name)
        out.patch(link, struct.pack("<I", ifd_offset))
        link = next_link
    return b"".join(out.pieces)


def _too_large() -> UsageError:
    msg = "TIFF cannot store an image this large (over 4 GiB); write .npy, or a smaller image"
    return UsageError(msg)


class _Pieces:
    """A file as a list of pieces, joined once at the end.

    Appending every strip to one bytearray reallocated and copied it as it
    grew: 1.5 s of the 9 s that 8 float maps (216 MB of TIFF) took.
    """

    def __init__(self, first: bytes) -> None:
        self.pieces: list[bytes | bytearray] = [bytearray(first)]
        self.size = len(first)

    def append(self, piece: bytes | bytearray) -> int:
        """Add ``piece`` at the end; return its offset in the file."""
        offset = self.size
        self.pieces.append(piece)
        self.size += len(piece)
        if self.size >= 2**32:
            raise _too_large()
        return offset

    def patch(self, where: tuple[int, int], value: bytes) -> None:
        """Overwrite bytes at ``(piece index, offset in the piece)``, a bytearray piece."""
        index, at = where
        piece = self.pieces[index]
        assert isinstance(piece, bytearray)  # only IFDs and the header are patched
        piece[at : at + len(value)] = value


def _append_tiff_page(
    out: _Pieces,
    pixels: NDArray[Any],
    bands: Sequence[str],
    info: Mapping[str, Any],
    name: str | None,
) -> tuple[int, tuple[int, int]]:
    """Write one page's strips and IFD at the end of ``out``.

    Returns the IFD's offset in the file, and where its next-IFD link (left
    0) is, as ``(piece index, offset in the piece)``.
    """
    height, width, channels = pixels.shape
    kind = pixels.dtype.kind
    bits = pixels.dtype.itemsize * 8
    stored = np.ascontiguousarray(
        pixels, dtype={"f": "<f4", "u": "<u2" if bits == 16 else "u1"}[kind]
    )
    row_bytes = width * channels * bits // 8
    rows_per_strip = max(1, _STRIP_BYTES // row_bytes)
    tops = range(0, height, rows_per_strip)
    per_task = max(1, _TASK_BYTES // (rows_per_strip * row_bytes))

    def task(first: int) -> list[bytes]:
        return [
            zlib.compress(_predicted(stored[top : top + rows_per_strip]), _DEFLATE_LEVEL)
            for top in tops[first : first + per_task]
        ]

    # zlib releases the GIL: strips compress on every core.
    firsts = range(0, len(tops), per_task)
    threads = workers()
    groups = [task(i) for i in firsts] if threads == 1 else pool(threads).map(task, firsts)
    offsets, counts = [], []
    for group in groups:
        for strip in group:
            offsets.append(out.append(strip))
            counts.append(len(strip))
            if out.size % 2:
                out.append(b"\0")

    entries: list[tuple[int, int, Sequence[int] | bytes]] = [
        (_WIDTH, _LONG, [width]),
        (_LENGTH, _LONG, [height]),
        (_BITS, _SHORT, [bits] * channels),
        (_COMPRESSION, _SHORT, [8]),
        (_PHOTOMETRIC, _SHORT, [{"L": 1, "R": 2, "C": 5}[bands[0]]]),
        (_STRIP_OFFSETS, _LONG, offsets),
        (_SAMPLES, _SHORT, [channels]),
        (_ROWS_PER_STRIP, _LONG, [rows_per_strip]),
        (_STRIP_COUNTS, _LONG, counts),
        (_PLANAR, _SHORT, [1]),
        (_SAMPLE_FORMAT, _SHORT, [3 if kind == "f" else 1] * channels),
    ]
    predictor = _PREDICTORS.get(stored.dtype.str)
    if predictor is not None:
        entries.append((_PREDICTOR, _SHORT, [predictor]))
    if bands[-1] == "A":
        entries.append((_EXTRA_SAMPLES, _SHORT, [_UNASSOCIATED]))
    if name:
        entries.append((_PAGE_NAME, _ASCII, name.encode("ascii", "replace") + b"\0"))
    dpi = valid_dpi(info)
    if dpi is not None:
        x, y = (_rational(d) for d in dpi)
        entries += [(_X_RES, _RATIONAL, x), (_Y_RES, _RATIONAL, y), (_RES_UNIT, _SHORT, [2])]
    icc = info.get("icc_profile")
    if isinstance(icc, bytes) and icc:
        entries.append((_ICC_PROFILE, _UNDEFINED, icc))
    entries.sort()

    ifd_offset = out.size
    values_offset = ifd_offset + 2 + 12 * len(entries) + 4
    if values_offset + sum(len(v) * 8 + 1 for _, _, v in entries) >= 2**32:
        raise _too_large()  # an IFD past 4 GiB: its offsets could not be written
    table, values = io.BytesIO(), io.BytesIO()
    table.write(struct.pack("<H", len(entries)))
    for tag, field_type, value in entries:
        if isinstance(value, bytes):
            raw, count = value, len(value)
        else:
            code = {_SHORT: "H", _LONG: "I", _RATIONAL: "I"}[field_type]
            raw = struct.pack("<" + code * len(value), *value)
            count = len(value) // 2 if field_type == _RATIONAL else len(value)
        if len(raw) <= 4:
            field_bytes = raw.ljust(4, b"\0")
        else:
            field_bytes = struct.pack("<I", values_offset + values.tell())
            values.write(raw)
            if values.tell() % 2:
                values.write(b"\0")
        table.write(struct.pack("<HHI", tag, field_type, count) + field_bytes)
    link_at = table.tell()
    table.write(b"\0\0\0\0")  # no further IFD, unless the caller links one
    index = len(out.pieces)
    out.append(bytearray(table.getvalue() + values.getvalue()))
    return ifd_offset, (index, link_at)


# The predictor written for each sample type: horizontal differencing (2)
# for 16 bits. Not the floating-point predictor (3) for floats, though
# imgconv reads it: tifffile (the `tiff` extra, for reading by regions)
# cannot without imagecodecs.
_PREDICTORS = {"<u2": 2}


def _predicted(rows: NDArray[Any]) -> bytes:
    """The bytes of ``(rows, W, C)`` samples as a strip stores them, predictor applied.

    With predictor 2 (16 bits), each sample less its left neighbour's,
    modulo 2**16, which :func:`read_tiff` undoes.
    """
    if _PREDICTORS.get(rows.dtype.str) is None:
        return rows.tobytes()
    count, width, channels = rows.shape
    values = rows.reshape(count, width * channels)
    diff = np.empty_like(values)
    diff[:, :channels] = values[:, :channels]
    np.subtract(values[:, channels:], values[:, :-channels], out=diff[:, channels:])
    return diff.tobytes()


def _rational(value: float) -> list[int]:
    """A TIFF RATIONAL (numerator, denominator) close to ``value``."""
    denominator = 10000
    numerator = round(value * denominator)
    while numerator >= 2**32 and denominator > 1:
        denominator //= 10
        numerator = round(value * denominator)
    divisor = math.gcd(numerator, denominator) or 1
    return [min(numerator // divisor, 2**32 - 1), denominator // divisor]


def valid_dpi(info: Mapping[Any, Any]) -> tuple[float, float] | None:
    """``info["dpi"]`` as two floats when it is two positive finite numbers, else None.

    Parameters
    ----------
    info : mapping
        Image metadata, as Pillow's ``Image.info``.

    Returns
    -------
    tuple of float or None
    """
    dpi = info.get("dpi")
    if not isinstance(dpi, tuple | list) or len(dpi) != 2:
        return None
    try:
        x, y = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError):
        return None
    return (x, y) if all(math.isfinite(v) and v > 0 for v in (x, y)) else None
