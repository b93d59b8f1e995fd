"""Reading and writing images: files or standard streams to NumPy arrays and back.

Pictures are ``(H, W, C)`` C-contiguous arrays of uint8, uint16 or float32
with named bands. Reading maps each Pillow mode to one of four band layouts:

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
``CMYK``, ``YCbCr``, ``LAB``,   R G B         uint8      converted by Pillow, without
``HSV``                                                  colour management (16-bit
                                                         CMYK too); the ICC profile
                                                         is not carried over
``I;16``, ``I;16B/L/N``         L             uint16
``I``                           L             uint16     values must be in 0..65535
``F``                           L             float32
16-bit RGB/RGBA/LA PNG,         R G B (A),    uint16     all 16 bits (Pillow alone
16-bit RGB/RGBA TIFF            L A                      keeps only the high byte)
float or 16-bit colour TIFF     as stored     float32,   files Pillow cannot open,
Pillow cannot open                            uint16     read by :mod:`imgconv.deep`
==============================  ============  =========  ===========================

The EXIF orientation is applied, multi-frame files give their first frame,
and ``dpi`` and ``icc_profile`` are kept in :attr:`Picture.info`.

Writing encodes fully in memory (:func:`encode_picture`), then writes
atomically (:func:`write_output`): a temporary file in the target's
directory is renamed over the target, so a failed write leaves no partial
file behind and writing over the input file is safe.

This module does no filtering and knows nothing of the command line.
"""

from __future__ import annotations

import errno
import io
import math
import os
import stat
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, TextIO

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFile, UnidentifiedImageError

from . import deep
from .errors import ImageReadError, ImageWriteError, UsageError
from .matrix_io import (
    MATRIX_SUFFIXES,
    NUMBER_FORMATS,
    encode_numbers,
    is_npy,
    looks_like_numbers,
    matrix_bands,
    read_matrix,
)

#: Formats that can hold float samples.
FLOAT_FORMATS: frozenset[str] = frozenset({"TIFF", *NUMBER_FORMATS})

#: Formats that can hold 16-bit grey through Pillow's ``I;16`` mode
#: (each checked by a round trip).
_GREY16_FORMATS = frozenset({"PNG", "TIFF", "PPM", "JPEG2000"})
#: Formats whose Pillow writer cannot store alpha (or stores it where Pillow
#: cannot read it back): alpha is dropped with a warning.
_NO_ALPHA_FORMATS = frozenset({"JPEG", "MPO", "BMP", "DIB", "PCX", "EPS", "PPM"})
#: Extra Pillow save options per format.
_SAVE_OPTIONS: dict[str, dict[str, Any]] = {
    "JPEG": {"quality": 95},
    "MPO": {"quality": 95},
    "WEBP": {"lossless": True, "exact": True},  # exact: keep colour under alpha 0
}
#: Modes Pillow converts to RGB (their colour space differs, so an ICC
#: profile of the source no longer applies).
_CONVERTED_TO_RGB = frozenset({"CMYK", "YCbCr", "LAB", "HSV"})
_MODES = {"L": ("L",), "LA": ("L", "A"), "RGB": ("R", "G", "B"), "RGBA": ("R", "G", "B", "A")}
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
    """

    pixels: NDArray[np.generic]
    bands: tuple[str, ...]
    format: str | None
    info: dict[str, Any]
    numeric: bool = False


# --------------------------------------------------------------------------
# Reading


def read_picture(source: str | os.PathLike[str], *, stdin: BinaryIO | None = None) -> Picture:
    """Read an image file, or standard input for ``"-"``.

    Parameters
    ----------
    source : str or path-like
        A file name, or ``"-"`` for standard input.
    stdin : binary file, optional
        Where ``"-"`` reads from; ``sys.stdin.buffer`` by default.

    Returns
    -------
    Picture
        The first frame, turned upright, with bands and dtype as in the
        module's table.

    Raises
    ------
    ImageReadError
        If the source is missing, unreadable, empty, not an image, truncated
        or corrupt, larger than Pillow's safety limit, or has samples
        imgconv cannot hold.
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
            return _matrix(data, label, "NPY")
        if looks_like_numbers(data) and not _pillow_knows(data):
            return _matrix(data, label, "TXT")
    else:
        name = os.fspath(source)
        label = repr(name)
        data = _read_file(name)
        if not data:
            msg = f"{label} is empty; expected image data"
            raise ImageReadError(msg)
        kind = MATRIX_SUFFIXES.get(os.path.splitext(name)[1].lower())
        if kind is not None:
            return _matrix(data, label, kind)
    return _decode(data, label)


def _matrix(data: bytes, label: str, kind: str) -> Picture:
    pixels = read_matrix(data, label, kind)
    return Picture(pixels, matrix_bands(pixels.shape[2]), kind, {}, numeric=True)


def _pillow_knows(data: bytes) -> bool:
    """Whether Pillow takes ``data`` for an image (a broken one too: decoding reports it)."""
    try:
        return _open(data) is not None
    except Exception:  # any other failure means Pillow recognised a format
        return True


def _read_file(name: str) -> bytes:
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


def _decode(data: bytes, label: str) -> Picture:
    """Decode a whole file's bytes (see the module's table)."""
    with deep.pillow_errors(label):
        image = _open(data)
    if image is None:
        # Pillow has no mode for float or 16-bit colour TIFF: read those here.
        tiff = deep.read_tiff(data, label) if deep.is_tiff(data) else None
        if tiff is None:
            msg = f"{label} is not an image Pillow can read"
            raise ImageReadError(msg)
        pixels = deep.orient(tiff.pixels, tiff.orientation)
        return Picture(pixels, tiff.bands, "TIFF", tiff.info)

    source_format = image.format
    if deep.png_wide_bands(data) is not None or deep.tiff_is_wide(image):
        wide, bands = deep.read_wide(data, label, image)
        with deep.pillow_errors(label):
            info = _carried_info(image)
        return Picture(wide, bands, source_format, info)

    with deep.pillow_errors(label):
        image.load()
        # Recent Pillow turns TIFF upright while loading and drops the tag,
        # so read the orientation after loading: it is what is left to do.
        orientation = image.getexif().get(deep.ORIENTATION_TAG)
        info = _carried_info(image)
        if image.mode in _CONVERTED_TO_RGB:
            info.pop("icc_profile", None)
        kept = _normalise_mode(image)
    pixels, bands = _to_array(kept, label)
    return Picture(deep.orient(pixels, orientation), bands, source_format, info)


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
        pixels: NDArray[np.generic] = np.array(image)  # a copy: writable, like the others
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


def _carried_info(image: Image.Image) -> dict[str, Any]:
    info: dict[str, Any] = {}
    dpi = deep.valid_dpi(image.info)
    tags = getattr(image, "tag_v2", None)
    # Pillow reports 1 dpi for a TIFF without resolution tags.
    if dpi is not None and (tags is None or deep.X_RESOLUTION_TAG in tags):
        info["dpi"] = dpi
    icc = image.info.get("icc_profile")
    if isinstance(icc, bytes) and icc:
        info["icc_profile"] = icc
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
    formats = _savable_formats()
    if explicit is not None:
        # A format name, or a suffix naming one: jpg, tif, pgm, jp2...
        found = formats.get(explicit.lower()) or _suffix_format("." + explicit.lower(), formats)
        if found is None:
            raise _unknown_format(explicit, formats)
        return found
    if target == "-":
        return "PNG"
    found = _suffix_format(os.path.splitext(target)[1].lower(), formats)
    if found is None:
        msg = (
            f"cannot tell the output format of {target!r} from its suffix; use a suffix "
            "such as .png, .jpg, .tif or .npy, or --format"
        )
        raise UsageError(msg)
    return found


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


def encode_picture(
    pixels: NDArray[np.generic],
    bands: tuple[str, ...],
    format: str,
    *,
    info: Mapping[str, Any] | None = None,
) -> tuple[bytes, list[str]]:
    """Encode pixels in a format, in memory.

    Parameters
    ----------
    pixels : ndarray
        ``(H, W)`` or ``(H, W, C)`` of uint8 (depth 8), uint16 (depth 16) or
        float32 (depth float).
    bands : tuple of str
        ``("L",)``, ``("L", "A")``, ``("R", "G", "B")`` or ``("R", "G", "B", "A")``.
    format : str
        A name returned by :func:`output_format`.
    info : mapping, optional
        ``dpi`` and ``icc_profile`` to write where the format takes them (an
        ICC profile only when its colour space matches the bands).

    Returns
    -------
    data : bytes
        The encoded file.
    warnings : list of str
        Lines for standard error, e.g. when alpha had to be dropped.

    Raises
    ------
    UsageError
        If the format cannot hold the samples (16-bit, float, alpha where
        dropping it is not an option, or a band layout Pillow refuses).
    ValueError
        If ``pixels`` and ``bands`` do not match, or the dtype is not one of
        the three above (a programming error, not a user's).
    """
    fmt = format.upper()
    array = np.asarray(pixels)
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    bands = tuple(bands)
    if fmt in NUMBER_FORMATS and array.ndim == 3 and array.shape[2] == len(bands):
        # Numbers as they are, whatever the bands: one map (H, W) or one per band.
        if fmt == "NPY":
            return encode_numbers(array[:, :, 0] if len(bands) == 1 else array, fmt), []
        names = list(bands) if len(bands) > 1 else None
        return encode_numbers(np.moveaxis(array, -1, 0), fmt, names=names), []
    if bands not in _BANDS_TO_MODE or array.ndim != 3 or array.shape[2] != len(bands):
        msg = f"pixels of shape {np.shape(pixels)} do not fit bands {bands}"
        raise ValueError(msg)
    if array.dtype not in (np.uint8, np.uint16, np.float32):
        msg = f"pixels must be uint8, uint16 or float32, not {array.dtype}"
        raise ValueError(msg)
    formats = _savable_formats()
    if fmt.lower() not in formats:
        raise _unknown_format(format, formats)
    metadata = _metadata(info or {}, bands)
    warnings: list[str] = []
    if array.dtype == np.uint16:
        if len(bands) == 1 and fmt in _GREY16_FORMATS:
            image = Image.frombytes("I;16", _size(array), array.astype("<u2").tobytes())
            return _save(image, fmt, bands, metadata), warnings
        if fmt == "PNG":
            return deep.encode_png16(array, bands, metadata), warnings
        if fmt == "TIFF":
            return deep.encode_tiff(array, bands, metadata), warnings
        if fmt in _GREY16_FORMATS:
            msg = (
                f"{fmt} can store 16-bit samples only for grey images, not {''.join(bands)}; "
                "use --depth 8, or write .png or .tiff"
            )
        else:
            msg = f"{fmt} cannot store 16-bit samples; use --depth 8, or write .png or .tiff"
        raise UsageError(msg)

    if array.dtype == np.float32:
        if fmt not in FLOAT_FORMATS:
            msg = f"{fmt} cannot store float samples; write .tiff or .npy, or use --depth 8 or 16"
            raise UsageError(msg)
        if len(bands) == 1:
            image = Image.frombytes("F", _size(array), array.astype(np.float32).tobytes())
            return _save(image, fmt, bands, metadata), warnings
        return deep.encode_tiff(array, bands, metadata), warnings

    if bands[-1] == "A" and fmt in _NO_ALPHA_FORMATS:
        array, bands = array[:, :, :-1], bands[:-1]
        warnings.append(f"{fmt} cannot store alpha; the alpha channel was dropped")
    image = Image.frombytes(
        _BANDS_TO_MODE[bands], _size(array), np.ascontiguousarray(array).tobytes()
    )
    return _save(image, fmt, bands, metadata), warnings


def encode_stack(
    pages: Sequence[NDArray[np.generic]],
    bands: tuple[str, ...],
    format: str,
    *,
    names: Sequence[str] | None = None,
    info: Mapping[str, Any] | None = None,
) -> bytes:
    """Encode several maps of one shape and type: a multi-page TIFF, one ``.npy``, or text.

    Parameters
    ----------
    pages : sequence of ndarray
        ``(H, W)`` or ``(H, W, C)`` arrays, all alike, uint8, uint16 or float32.
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

    Raises
    ------
    UsageError
        For any other format.
    """
    fmt = format.upper()
    arrays = [np.asarray(p) for p in pages]
    if fmt == "NPY":
        return encode_numbers(np.stack(arrays), fmt)
    if fmt in NUMBER_FORMATS:  # text: a block per map and band
        planes = [a if a.ndim == 2 else a[:, :, 0] for a in arrays]
        labels = list(names) if names else [f"map {i + 1}" for i in range(len(arrays))]
        if arrays[0].ndim == 3 and arrays[0].shape[2] > 1:
            planes = [a[:, :, c] for a in arrays for c in range(a.shape[2])]
            labels = [f"{label} {band}" for label in labels for band in bands]
        return encode_numbers(np.stack(planes), fmt, names=labels)
    if fmt != "TIFF":
        msg = (
            f"--combine stack writes one map per kernel, which {fmt} cannot hold; "
            "write .tiff (a page per map), .npy, .txt or .csv"
        )
        raise UsageError(msg)
    cubes = [a[:, :, np.newaxis] if a.ndim == 2 else a for a in arrays]
    return deep.encode_tiff_pages(cubes, bands, _metadata(info or {}, bands), names)


def _size(array: NDArray[np.generic]) -> tuple[int, int]:
    return (array.shape[1], array.shape[0])


def _metadata(info: Mapping[str, Any], bands: tuple[str, ...]) -> dict[str, Any]:
    """The ``dpi`` and ``icc_profile`` of ``info`` that can be written with ``bands``."""
    metadata: dict[str, Any] = {}
    dpi = deep.valid_dpi(info)
    if dpi is not None:
        metadata["dpi"] = dpi
    icc = info.get("icc_profile")
    # An RGB profile in a grey file (or the reverse) is invalid; drop it.
    if isinstance(icc, bytes) and icc and deep.icc_fits(icc, bands):
        metadata["icc_profile"] = icc
    return metadata


def _save(image: Image.Image, fmt: str, bands: tuple[str, ...], metadata: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    try:
        image.save(out, format=fmt, **metadata, **_SAVE_OPTIONS.get(fmt, {}))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        detail = str(exc) or type(exc).__name__
        msg = f"{fmt} cannot store an {''.join(bands)} image: {detail}"
        raise UsageError(msg) from exc
    return out.getvalue()


# --------------------------------------------------------------------------
# Writing


def write_output(data: bytes, target: str, *, stdout: BinaryIO | None = None) -> None:
    """Write encoded data to a file, atomically, or to standard output for ``"-"``.

    A file is written to a temporary file in the same directory, flushed to
    disk, and renamed over ``target``; on failure the temporary file is
    removed and ``target`` is untouched. A new file gets the permissions
    ``0o666`` less the umask; an existing one keeps its mode. A symbolic
    link is followed (the file it points to is replaced), and a target that
    is not a regular file (``/dev/null``, a pipe) is written to directly.

    Parameters
    ----------
    data : bytes
        The encoded image.
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
            stream.write(data)
            stream.flush()
        except OSError as exc:
            msg = f"cannot write to standard output: {exc.strerror or exc}"
            raise ImageWriteError(msg) from exc
        return

    try:
        existing: os.stat_result | None = os.stat(target)  # follows symbolic links
    except OSError:
        existing = None
    if existing is not None and stat.S_ISDIR(existing.st_mode):
        msg = f"cannot write {target!r}: it is a directory"
        raise ImageWriteError(msg)
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        # A device or a pipe (/dev/null, /dev/stdout) cannot be replaced by
        # renaming, and must not be: write into it.
        _write_in_place(data, target)
        return
    # Replace the file a symbolic link points to, not the link.
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
    try:
        fd, temporary = tempfile.mkstemp(
            prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory
        )
    except OSError as exc:
        raise _write_error(target, exc) from exc
    try:
        try:
            view = memoryview(data)
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


def _write_in_place(data: bytes, target: str) -> None:
    try:
        with open(target, "wb") as file:
            file.write(data)
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
    return _save(canvas, fmt, ("L",), {})


def _fit(text: str, width: int, draw: Any, font: Any) -> str:
    """``text``, shortened with an ellipsis to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while len(text) > 1 and draw.textlength(text + "\u2026", font=font) > width:
        text = text[:-1]
    return text + "\u2026"
