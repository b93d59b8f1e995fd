"""Images read and written by rows, for pictures too large to hold whole.

The band-by-band filter of an image larger than its memory budget reads the
input's rows as it needs them and writes the output's rows as they are
ready. This module is its I/O side, for the formats that allow it:

Row sources (:func:`open_rows`)
    ``.npy`` arrays, mapped into memory (``np.load(mmap_mode='r')``), and
    TIFF files (first page) in strips or tiles, of which only the strips or
    tiles a row range touches are decoded (with ``tifffile``, an optional
    dependency). Any other file gives None: the caller reads it whole, as
    :func:`imgconv.image_io.read_picture` does.
Row sinks (:func:`create_rows`)
    ``.npy`` (a mapped temporary file) and baseline TIFF (strips written as
    rows arrive; needs no ``tifffile``). Rows arrive in order; ``commit``
    renames the finished temporary file over the target, so the target is
    never left partial, as with :func:`imgconv.image_io.write_output`.

What a source gives is what :func:`~imgconv.image_io.read_picture` gives for
the same file, and a sink writes files that read back to what
:func:`~imgconv.image_io.encode_picture` writes. Files whose reading would
differ (a turned image, premultiplied alpha, palettes, planes...) are left
to the whole-image path.

Pages of a memory map that have been copied out or written are given back
to the system as soon as possible (``madvise``), so the resident size stays
near the size of a band rather than growing to the size of the file.

This module knows neither Pillow nor the command line.
"""

from __future__ import annotations

import errno
import logging
import math
import mmap
import operator
import os
import struct
import tempfile
import zlib
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from types import TracebackType
from typing import Any

import numpy as np
from numpy.lib import format as npy_format
from numpy.typing import DTypeLike, NDArray

from . import deep
from .errors import ImageReadError, ImageWriteError
from .image_io import (
    _fsync,
    _sync_directory,
    _write_error,
    pillow_quiet,
    pillow_unlimited,
    replaced_file,
)
from .matrix_io import NPY_MAGIC, matrix_bands

__all__ = ["RowSink", "RowSource", "create_rows", "open_rows"]

#: Band layouts of images by sample count (TIFF photometric interpretation).
_GREY = ("L",)
_GREY_ALPHA = ("L", "A")
_RGB = ("R", "G", "B")
_RGBA = ("R", "G", "B", "A")
_CMYK = ("C", "M", "Y", "K")
_IMAGE_BANDS = (_GREY, _GREY_ALPHA, _RGB, _RGBA, _CMYK)
#: Sample types a TIFF row source gives and a TIFF sink writes.
_TIFF_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))
#: Sample types an ``.npy`` row source gives.
_NPY_DTYPES = (*_TIFF_DTYPES, np.dtype(np.float64))

#: Decoded strips or tile rows kept for the next reads (bands overlap by their
#: halos), in bytes; the two most recent are kept whatever their size.
_CACHE_BYTES = 32 << 20
#: Uncompressed bytes per strip of a written TIFF (at least one row).
_STRIP_BYTES = 1 << 18
#: Above this many bytes of samples a TIFF sink writes BigTIFF (64-bit
#: offsets): a classic TIFF addresses 4 GiB.
_CLASSIC_LIMIT = 2**32 - 2**26

_PAGE = mmap.PAGESIZE


# --------------------------------------------------------------------------
# Sources


class RowSource(ABC):
    """Rows of an image or matrix, read on demand.

    Index with a row slice, ``source[start:stop]``, for a new array of those
    rows (``(rows, W)`` or ``(rows, W, C)``), or with an int for one row.
    Close it when done, or use it as a context manager.

    Attributes
    ----------
    shape : tuple of int
        ``(H, W)`` or ``(H, W, C)``. Images (TIFF) are always ``(H, W, C)``,
        as :attr:`imgconv.image_io.Picture.pixels`; an ``.npy`` keeps its
        own number of dimensions.
    dtype : numpy.dtype
        The sample type of the rows given, in native byte order: uint8,
        uint16 or float32 (and float64 for ``.npy``).
    bands : tuple of str
        ``("L",)``, ``("L", "A")``, ``("R", "G", "B")``, ``("R", "G", "B", "A")``
        or ``("C", "M", "Y", "K")`` for images; ``("V",)`` or ``("C1", ...)``
        for ``.npy`` matrices, as :mod:`imgconv.matrix_io` names them.
    numeric : bool
        True for a matrix (``.npy``): its numbers are used as they are.
        :func:`~imgconv.image_io.read_picture` gives them as float64.
    info : dict
        ``dpi`` and ``icc_profile`` when a TIFF has them.
    label : str
        How messages name the file.
    pages : int
        How many pages (images) a TIFF holds; the source reads the first.
        1 for ``.npy``.
    """

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    bands: tuple[str, ...]
    numeric: bool
    info: dict[str, Any]
    label: str
    pages: int = 1

    @property
    def ndim(self) -> int:
        """The number of dimensions, 2 or 3."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """The number of samples in the whole image."""
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: slice | int) -> NDArray[Any]:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if step != 1:
                msg = f"row sources read contiguous rows, not every {step}th"
                raise ValueError(msg)
            return self._rows(start, max(start, stop))
        try:
            index = operator.index(key)  # an int, or a NumPy integer
        except TypeError:
            msg = f"row sources take a row slice or an int, not {type(key).__name__}"
            raise TypeError(msg) from None
        if index < 0:
            index += self.shape[0]
        if not 0 <= index < self.shape[0]:
            msg = f"row {key} is out of range for {self.shape[0]} rows"
            raise IndexError(msg)
        row: NDArray[Any] = self._rows(index, index + 1)[0]
        return row

    @abstractmethod
    def _rows(self, start: int, stop: int) -> NDArray[Any]:
        """Image rows ``start`` to ``stop - 1``, read from the file: each format's own."""

    @abstractmethod
    def close(self) -> None:
        """Release the file; the source cannot be read afterwards."""

    def __enter__(self) -> RowSource:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_rows(path: str) -> RowSource | None:
    """Open an image file for reading by rows, if its format allows it.

    Parameters
    ----------
    path : str
        A file name. A ``.npy`` suffix makes it a matrix (as
        :func:`~imgconv.image_io.read_picture` decides); otherwise a file
        starting like a TIFF is read as one.

    Returns
    -------
    RowSource or None
        None when the file is not one this module reads by rows: any other
        format, ``"-"``, an ``.npy`` of another shape or type (or with a
        header NumPy cannot parse), a TIFF whose first page is not 8-bit,
        16-bit or float grey, grey and alpha, RGB, RGBA or CMYK in chunky
        strips or tiles (or needs a codec that is not installed, or turns
        or premultiplies its pixels), or any TIFF when ``tifffile`` is not
        installed. The caller then reads the file whole, which reports any
        problem in its usual words.

    Raises
    ------
    ImageReadError
        If the file cannot be opened (``cannot read 'x': no such file``, as
        :func:`~imgconv.image_io.read_picture` says it). A damaged header,
        or data cut short of what it describes, gives None, so the whole-file
        reader reports it in its usual words; damage inside a strip or tile
        is raised by the read that meets it.
    """
    if path == "-":
        return None
    label = repr(path)
    try:
        with open(path, "rb") as file:
            head = file.read(8)
    except OSError as exc:
        msg = f"cannot read {label}: {_reason(exc)}"
        raise ImageReadError(msg) from exc
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".npy":
        return _NpyRows.open(path, label) if head.startswith(NPY_MAGIC) else None
    if suffix in (".txt", ".csv"):
        return None  # text matrices are read whole
    if deep.is_tiff(head):
        return _TiffRows.open(path, label)
    return None


def peek(path: str) -> tuple[tuple[int, ...], int] | None:
    """The shape and bytes per sample of a ``.npy`` or TIFF file, from its header alone.

    Cheap (no ``tifffile``, no pixel data), so that a caller can decide
    whether a file is large enough to be worth :func:`open_rows`. None for
    other files and for headers that cannot be read; the first page of a
    TIFF, with as many bands as it has samples per pixel.
    """
    suffix = os.path.splitext(path)[1].lower()
    try:
        if suffix == ".npy":
            header = _npy_header(path)
            return None if header is None else (header[0], header[1].itemsize)
        with open(path, "rb") as file:
            if not deep.is_tiff(file.read(8)):
                return None
        from PIL import Image

        # Reads the header, not the pixels; our --max-pixels check comes later,
        # and the whole-file reader reports what Pillow would warn about.
        with pillow_quiet(), pillow_unlimited(), Image.open(path) as image:
            tags = getattr(image, "tag_v2", {})
            samples = int(tags.get(277, len(image.getbands())))
            bits = tags.get(258, (8,))
            depth = max(bits) if isinstance(bits, tuple) else int(bits)
            return (image.height, image.width, samples), max(1, depth // 8)
    except Exception:  # a damaged header: the whole-file reader says what is wrong
        return None


def _reason(exc: OSError) -> str:
    reasons = {
        FileNotFoundError: "no such file",
        IsADirectoryError: "it is a directory",
        PermissionError: "permission denied",
    }
    return reasons.get(type(exc)) or exc.strerror or str(exc)


class _NpyRows(RowSource):
    """Rows of an ``.npy`` array through a read-only memory map."""

    def __init__(self, array: np.memmap[Any, Any], label: str) -> None:
        self._array: np.memmap[Any, Any] | None = array
        self._map = _mapping_of(array)
        self._offset = int(array.offset)
        self._row_bytes = array.dtype.itemsize * int(np.prod(array.shape[1:], dtype=np.int64))
        self._fortran = array.ndim > 1 and not array.flags.c_contiguous
        self.shape = tuple(int(n) for n in array.shape)
        self.dtype = array.dtype.newbyteorder("=")
        channels = self.shape[2] if len(self.shape) == 3 else 1
        self.bands = matrix_bands(channels)
        self.numeric = True
        self.info = {}
        self.label = label

    @classmethod
    def open(cls, path: str, label: str) -> _NpyRows | None:
        header = _npy_header(path)
        if header is None:
            return None  # the whole-file reader says what is wrong with it
        shape, dtype, data_offset = header
        if len(shape) not in (2, 3) or 0 in shape or dtype.newbyteorder("=") not in _NPY_DTYPES:
            return None
        # Python's integers: a forged header's shape overflows int64.
        needed = data_offset + dtype.itemsize * math.prod(shape)
        try:
            if os.path.getsize(path) < needed:
                return None  # cut short: the whole-file reader reports it in its words
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except Exception:
            return None
        if not isinstance(array, np.memmap):
            return None
        return cls(array, label)

    def _rows(self, start: int, stop: int) -> NDArray[Any]:
        if self._array is None:
            msg = f"{self.label} is closed"
            raise ValueError(msg)
        rows = np.array(self._array[start:stop], dtype=self.dtype, order="C")
        if self._fortran:
            # Rows of a Fortran-order array are spread over the whole file.
            _release(self._map, 0, None)
        else:
            at = self._offset + start * self._row_bytes
            _release(self._map, at, at + (stop - start) * self._row_bytes)
        if rows.dtype.kind == "f" and not np.isfinite(rows).all():
            msg = f"{self.label} holds NaN or infinite values; expected finite numbers"
            raise ImageReadError(msg)
        return rows

    def close(self) -> None:
        """Unmap the file."""
        self._array = None
        self._map = None


def _npy_header(path: str) -> tuple[tuple[int, ...], np.dtype[Any], int] | None:
    """Shape, dtype and data offset of an ``.npy`` file; None if NumPy cannot parse them."""
    try:
        with open(path, "rb") as file:
            version = npy_format.read_magic(file)
            if version == (1, 0):
                shape, fortran, dtype = npy_format.read_array_header_1_0(file)
            elif version == (2, 0):
                shape, fortran, dtype = npy_format.read_array_header_2_0(file)
            else:
                return None  # newer versions: left to np.load in the whole-file path
            offset = file.tell()
    except Exception:  # a cut or damaged header fails deep in NumPy's parser
        return None
    if dtype.hasobject:
        return None
    return tuple(int(n) for n in shape), dtype, offset


def _mapping_of(array: np.memmap[Any, Any]) -> mmap.mmap | None:
    # NumPy keeps the mmap object of a memmap here; without it pages are
    # simply not released early (still correct, only more resident memory).
    found = getattr(array, "_mmap", None)
    return found if isinstance(found, mmap.mmap) else None


def _release(mapping: mmap.mmap | None, start: int, stop: int | None) -> None:
    """Drop the pages of ``mapping[start:stop]`` from this process's resident set.

    The data stays in the file (and the page cache): a shared mapping's
    pages are the file's, so a later access reads them back. Best effort:
    where ``madvise`` is missing, nothing is released.
    """
    if mapping is None or not hasattr(mapping, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return
    end = len(mapping) if stop is None else min(stop, len(mapping))
    first = start // _PAGE * _PAGE
    if end <= first:
        return
    try:
        mapping.madvise(mmap.MADV_DONTNEED, first, end - first)
    except (OSError, ValueError):
        pass  # an optimisation only


class _TiffRows(RowSource):
    """Rows of a TIFF's first page, decoding only the strips or tiles they touch."""

    def __init__(self, path: str, label: str, tiff: Any, page: Any, layout: _TiffLayout) -> None:
        self._tiff: Any = tiff
        self._decode: Any = page.decode
        self._file = open(path, "rb")  # held open until close()
        self._layout = layout
        self._cache: OrderedDict[int, NDArray[Any]] = OrderedDict()
        self.shape = (layout.height, layout.width, layout.samples)
        self.dtype = layout.dtype.newbyteorder("=")
        self.bands = layout.bands
        self.numeric = False
        self.info = layout.info
        self.label = label

    @classmethod
    def open(cls, path: str, label: str) -> _TiffRows | None:
        try:
            import tifffile
        except ImportError:
            return None
        _quiet(tifffile)
        try:
            tiff = tifffile.TiffFile(path)
        except Exception:
            return None  # Pillow, reading it whole, names the damage
        try:
            page = tiff.pages.first
            layout = _tiff_layout(page, os.path.getsize(path))
            if layout is None:
                tiff.close()
                return None
            source = cls(path, label, tiff, page, layout)
            source.pages = len(tiff.pages)
        except Exception:
            tiff.close()
            return None
        return source

    def _rows(self, start: int, stop: int) -> NDArray[Any]:
        if self._tiff is None:
            msg = f"{self.label} is closed"
            raise ValueError(msg)
        layout = self._layout
        out = np.empty((stop - start, layout.width, layout.samples), self.dtype)
        if layout.direct:
            self._read_direct(start, stop, out)
            return out
        block_rows = layout.block_rows
        for block in range(start // block_rows, -(-stop // block_rows)):
            top = block * block_rows
            data = self._block(block)
            first, last = max(start, top), min(stop, top + data.shape[0])
            out[first - start : last - start] = data[first - top : last - top]
        return out

    def _read_direct(self, start: int, stop: int, out: NDArray[Any]) -> None:
        """Read uncompressed rows straight from the file into ``out``."""
        layout = self._layout
        row_bytes = layout.row_bytes
        view = out.reshape(-1).view(np.uint8).data
        stored = layout.dtype
        for strip in range(start // layout.block_rows, -(-stop // layout.block_rows)):
            top = strip * layout.block_rows
            first, last = max(start, top), min(stop, top + layout.block_rows)
            where = layout.offsets[strip] + (first - top) * row_bytes
            part = view[(first - start) * row_bytes : (last - start) * row_bytes]
            self._file.seek(where)
            got = self._file.readinto(part)
            if got != len(part):
                msg = f"{self.label} is truncated or corrupt: strip {strip} ends early"
                raise ImageReadError(msg)
        if stored != self.dtype:
            out.byteswap(inplace=True)  # samples stored in the other byte order

    def _block(self, block: int) -> NDArray[Any]:
        """Rows ``block * block_rows`` onwards, one strip or one row of tiles, decoded."""
        cached = self._cache.get(block)
        if cached is not None:
            self._cache.move_to_end(block)
            return cached
        layout = self._layout
        top = block * layout.block_rows
        rows = min(layout.block_rows, layout.height - top)
        data = np.empty((rows, layout.width, layout.samples), self.dtype)
        across = -(-layout.width // layout.block_width)
        for column in range(across):
            index = block * across + column
            segment = self._segment(index)
            left = column * layout.block_width
            right = min(layout.width, left + layout.block_width)
            if segment.shape[0] < rows or segment.shape[1] < right - left:
                kind = "tile" if layout.tiled else "strip"
                msg = (
                    f"{self.label} is truncated or corrupt: {kind} {index} holds "
                    f"{segment.shape[0]} x {segment.shape[1]} pixels, fewer than its place"
                )
                raise ImageReadError(msg)
            data[:, left:right] = segment[:rows, : right - left]
        self._cache[block] = data
        while len(self._cache) > 2 and sum(a.nbytes for a in self._cache.values()) > _CACHE_BYTES:
            self._cache.popitem(last=False)
        return data

    def _segment(self, index: int) -> NDArray[Any]:
        """Strip or tile ``index``, decoded, as ``(rows, columns, samples)``."""
        layout = self._layout
        kind = "tile" if layout.tiled else "strip"
        self._file.seek(layout.offsets[index])
        raw = self._file.read(layout.counts[index])
        if len(raw) != layout.counts[index]:
            msg = f"{self.label} is truncated or corrupt: {kind} {index} ends early"
            raise ImageReadError(msg)
        try:
            decoded = np.asarray(self._decode(raw, index, jpegtables=layout.jpegtables)[0])
            # (depth, rows, columns, samples); a last tile may come cut to the image.
            segment = decoded.reshape(decoded.shape[-3:])
        except MemoryError:
            raise
        except Exception as exc:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            msg = (
                f"{self.label} is truncated or corrupt: {kind} {index} cannot be decoded ({detail})"
            )
            raise ImageReadError(msg) from exc
        return segment

    def close(self) -> None:
        """Close the file and forget decoded strips and tiles."""
        if self._tiff is not None:
            self._tiff.close()
            self._tiff = None
        self._file.close()
        self._cache.clear()


@dataclass(frozen=True)
class _TiffLayout:
    """Where a TIFF page's rows are, as :class:`_TiffRows` reads them."""

    height: int
    width: int
    samples: int
    dtype: np.dtype[Any]  # as stored, byte order included
    bands: tuple[str, ...]
    tiled: bool
    block_rows: int  # rows per strip, or per tile
    block_width: int  # the image's width for strips
    offsets: tuple[int, ...]
    counts: tuple[int, ...]
    direct: bool  # uncompressed strips: rows are read in place
    jpegtables: bytes | None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def row_bytes(self) -> int:
        """Bytes of one stored row."""
        return self.width * self.samples * self.dtype.itemsize


#: TIFF tags read here.
_ORIENTATION, _INK_SET, _JPEG_TABLES = 274, 332, 347
_X_RES, _Y_RES, _RES_UNIT, _ICC = 282, 283, 296, 34675
#: Extra-sample meanings: unassociated alpha is the only one read by rows.
_UNASSOCIATED_ALPHA = 2


def _tiff_layout(page: Any, file_size: int) -> _TiffLayout | None:
    """The layout of a tifffile page, or None when it is not one read by rows."""
    from tifffile import TIFF

    tags = page.tags
    if getattr(page, "is_subsampled", False) or int(page.planarconfig) != 1:
        return None
    if page.imagedepth != 1 or page.dtype is None:
        return None
    dtype = np.dtype(page.parent.byteorder + np.dtype(page.dtype).char)
    if dtype.newbyteorder("=") not in _TIFF_DTYPES or page.bitspersample != dtype.itemsize * 8:
        return None
    orientation = tags.valueof(_ORIENTATION)
    if orientation not in (None, 1):
        return None  # read_picture turns it upright: leave that to it
    samples = int(page.samplesperpixel)
    photometric = int(page.photometric)
    extras = tuple(int(e) for e in page.extrasamples)
    bands: tuple[str, ...] | None = None
    if photometric == 1 and samples == 1 + len(extras):
        bands = _GREY if not extras else _GREY_ALPHA
    elif photometric == 2 and samples == 3 + len(extras):
        bands = _RGB if not extras else _RGBA
    elif photometric == 5 and samples == 4 and not extras and tags.valueof(_INK_SET, 1) == 1:
        bands = _CMYK
    if bands is None or len(extras) > 1 or any(e != _UNASSOCIATED_ALPHA for e in extras):
        return None
    compression, predictor = int(page.compression), int(page.predictor)
    try:
        if compression != 1:
            TIFF.DECOMPRESSORS[compression]
        if predictor != 1:
            TIFF.UNPREDICTORS[predictor]
    except KeyError:
        return None  # a codec tifffile lacks here (imagecodecs is not installed)
    height, width = int(page.imagelength), int(page.imagewidth)
    tiled = bool(page.is_tiled)
    block_rows = int(page.tilelength) if tiled else min(int(page.rowsperstrip) or height, height)
    block_width = int(page.tilewidth) if tiled else width
    offsets = tuple(int(o) for o in page.dataoffsets)
    counts = tuple(int(c) for c in page.databytecounts)
    expected = -(-height // block_rows) * -(-width // block_width)
    if height <= 0 or width <= 0 or block_rows <= 0 or block_width <= 0:
        return None
    if len(offsets) != expected or len(counts) != expected or 0 in counts:
        return None  # sparse or inconsistent: the whole-file reader decides
    if any(offset + count > file_size for offset, count in zip(offsets, counts, strict=True)):
        return None  # cut short: the whole-file reader reports it in its words
    direct = compression == 1 and predictor == 1 and not tiled and int(page.fillorder) == 1
    row_bytes = width * samples * dtype.itemsize
    if direct and any(
        count < row_bytes * min(block_rows, height - index * block_rows)
        for index, count in enumerate(counts)
    ):
        return None
    tables = tags.valueof(_JPEG_TABLES)
    return _TiffLayout(
        height=height,
        width=width,
        samples=samples,
        dtype=dtype,
        bands=bands,
        tiled=tiled,
        block_rows=block_rows,
        block_width=block_width,
        offsets=offsets,
        counts=counts,
        direct=direct,
        jpegtables=tables if isinstance(tables, bytes) else None,
        info=_tiff_info(tags, bands),
    )


def _quiet(tifffile: Any) -> None:
    """Keep tifffile's log messages about odd files off standard error.

    tifffile logs through ``logging`` without a handler of its own, so
    Python's last-resort handler would print its warnings beside imgconv's
    one ``Error:`` line. A null handler stops that; an application that
    configures logging still gets the messages.
    """
    logger = logging.getLogger(tifffile.__name__)
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


def _tiff_info(tags: Any, bands: tuple[str, ...]) -> dict[str, Any]:
    """``dpi`` and ``icc_profile`` of a page's tags, as image_io keeps them."""
    info: dict[str, Any] = {}
    x, y, unit = tags.valueof(_X_RES), tags.valueof(_Y_RES), tags.valueof(_RES_UNIT, 2)
    per_inch = {2: 1.0, 3: 2.54}.get(int(unit))
    if isinstance(x, tuple) and isinstance(y, tuple) and per_inch and x[1] and y[1]:
        dpi = deep.valid_dpi({"dpi": (x[0] / x[1] * per_inch, y[0] / y[1] * per_inch)})
        if dpi is not None:
            info["dpi"] = dpi
    icc = tags.valueof(_ICC)
    if isinstance(icc, bytes) and icc and deep.icc_fits(icc, bands):
        info["icc_profile"] = icc
    return info


# --------------------------------------------------------------------------
# Sinks


class RowSink(ABC):
    """An image file written by rows, in order, then committed.

    ``sink[first:stop] = rows`` writes rows ``first`` to ``stop``; each
    slice must start where the last ended, the first at row 0. Rows are
    ``(n, W)`` or ``(n, W, C)`` of the sink's dtype (byte order aside).
    :meth:`commit` finishes the file and renames it over the target;
    :meth:`abort` removes it. As a context manager, a sink is committed on a
    normal exit (if not already committed or aborted) and aborted on an
    exception.

    Attributes
    ----------
    path : str
        The target file.
    shape : tuple of int
        ``(H, W)`` or ``(H, W, C)``, as given to :func:`create_rows`.
    dtype : numpy.dtype
        The sample type.
    bands : tuple of str
        The band names.
    format : str
        ``"NPY"`` or ``"TIFF"``.
    rows_written : int
        How many rows have been written so far.
    """

    path: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    bands: tuple[str, ...]
    format: str

    def __init__(self, path: str, shape: Sequence[int], dtype: DTypeLike) -> None:
        self.path = path
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self.rows_written = 0
        self._target = ""
        self._directory = ""
        self._temporary: str | None = None
        self._mode = 0o644
        self._done = False

    # Subclasses write rows and finish the temporary file.
    @abstractmethod
    def _write(self, rows: NDArray[Any]) -> None:
        """Append rows to the temporary file: each format's own."""

    @abstractmethod
    def _finish(self) -> None:
        """Complete the temporary file (headers, directory, flush): each format's own."""

    @abstractmethod
    def _discard(self) -> None:
        """Release open handles of the temporary file, without finishing it."""

    def __len__(self) -> int:
        return self.shape[0]

    def __setitem__(self, key: slice, rows: NDArray[Any]) -> None:
        if self._done:
            msg = f"the output {self.path!r} is already committed or aborted"
            raise ValueError(msg)
        if not isinstance(key, slice) or key.step not in (None, 1):
            msg = "row sinks take contiguous row slices, sink[first:stop] = rows"
            raise TypeError(msg)
        first, stop, _ = key.indices(self.shape[0])
        if first != self.rows_written or stop <= first:
            msg = (
                f"rows must arrive in order: expected rows from {self.rows_written}, "
                f"got {first}:{stop}"
            )
            raise ValueError(msg)
        array = np.asarray(rows)
        width_shape = self.shape[1:]
        width = width_shape[0]
        alike = {width_shape}
        if width_shape in ((width,), (width, 1)):
            alike |= {(width,), (width, 1)}  # one band: (n, W) and (n, W, 1) are alike
        if array.shape[1:] not in alike:
            msg = f"rows of shape {array.shape} do not fit an output of shape {self.shape}"
            raise ValueError(msg)
        if array.shape[0] != stop - first:
            msg = f"{array.shape[0]} rows given for rows {first}:{stop}"
            raise ValueError(msg)
        if not np.can_cast(array.dtype, self.dtype, casting="equiv"):
            msg = f"rows of {array.dtype} given to an output of {self.dtype}"
            raise ValueError(msg)
        try:
            self._write(array.reshape((stop - first, *width_shape)))
        except OSError as exc:
            self.abort()  # the file cannot be finished: remove it now
            raise _write_error(self.path, exc) from exc
        self.rows_written = stop

    def commit(self) -> None:
        """Finish the file, flush it to disk and rename it over the target.

        Raises
        ------
        ValueError
            If rows are missing (nothing is written then: the temporary
            file is removed).
        ImageWriteError
            If the file cannot be finished or renamed (``cannot write 'x':
            <reason>``); the target is then untouched.
        """
        if self._done:
            msg = f"the output {self.path!r} is already committed or aborted"
            raise ValueError(msg)
        if self.rows_written != self.shape[0]:
            self.abort()
            msg = f"only {self.rows_written} of {self.shape[0]} rows were written"
            raise ValueError(msg)
        temporary = self._temporary
        assert temporary is not None
        try:
            self._finish()
            os.replace(temporary, self._target)
        except BaseException as exc:  # an interrupt too: leave no temporary file
            self.abort()
            if isinstance(exc, OSError):
                raise _write_error(self.path, exc) from exc
            raise
        self._temporary = None
        self._done = True
        _sync_directory(self._directory)

    def abort(self) -> None:
        """Remove the temporary file; the target is left as it was. Safe to repeat."""
        self._done = True
        try:
            self._discard()
        except OSError:
            pass  # the file goes away all the same
        if self._temporary is not None:
            try:
                os.unlink(self._temporary)
            except OSError:
                pass  # already gone, or the directory became unwritable
            self._temporary = None

    def __enter__(self) -> RowSink:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is not None:
            self.abort()
        elif not self._done:
            self.commit()

    def _open_temporary(self) -> int:
        """Create the temporary file next to the target; its descriptor.

        Checks the target as :func:`imgconv.image_io.write_output` does: a
        symbolic link is followed, a directory or a read-only file is
        refused, and the new file gets the old one's mode (or ``0o666`` less
        the umask).
        """
        target = self.path
        replaced = replaced_file(target)
        if replaced is None:
            msg = (
                f"cannot write {target!r}: it is not a regular file, and a large image is "
                "written by rows to a file that replaces it; write to a file"
            )
            raise ImageWriteError(msg)
        path, directory, self._mode = replaced
        try:
            fd, temporary = tempfile.mkstemp(
                prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory
            )
        except OSError as exc:
            raise _write_error(target, exc) from exc
        self._target, self._directory, self._temporary = path, directory, temporary
        return fd


def create_rows(
    path: str,
    shape: Sequence[int],
    dtype: DTypeLike,
    format: str,
    bands: Sequence[str],
    *,
    info: Mapping[str, Any] | None = None,
    compression: str | None = None,
) -> RowSink:
    """Start writing an image file by rows.

    Parameters
    ----------
    path : str
        The target file; a temporary file next to it is written, and renamed
        over it by :meth:`RowSink.commit`.
    shape : sequence of int
        ``(H, W)`` or ``(H, W, C)``.
    dtype : dtype-like
        ``NPY``: uint8, uint16, float32 or float64. ``TIFF``: uint8, uint16
        or float32.
    format : str
        ``"NPY"`` or ``"TIFF"`` (any case).
    bands : sequence of str
        The band names. For ``TIFF``: ``("L",)``, ``("L", "A")``,
        ``("R", "G", "B")``, ``("R", "G", "B", "A")`` or ``("C", "M", "Y", "K")``.
        For ``NPY`` any names: one band makes an ``(H, W)`` array, as
        :func:`~imgconv.image_io.encode_picture` writes it.
    info : mapping, optional
        ``dpi`` and ``icc_profile`` for a TIFF (a profile only when its
        colour space fits the bands).
    compression : {None, "deflate"}, optional
        TIFF strips uncompressed (the default, and the fastest) or deflated.

    Returns
    -------
    RowSink

    Raises
    ------
    ImageWriteError
        If the target cannot be written (missing directory, permission
        denied, no space left on device...), in the words of
        :func:`~imgconv.image_io.write_output`.
    ValueError
        If the shape, dtype, bands or format do not fit one another.
    """
    fmt = format.upper()
    size = tuple(int(n) for n in shape)
    kind = np.dtype(dtype)
    names = tuple(bands)
    if len(size) not in (2, 3) or min(size) <= 0:
        msg = f"an output of shape {size}; expected (H, W) or (H, W, C) of positive sizes"
        raise ValueError(msg)
    channels = size[2] if len(size) == 3 else 1
    if channels != len(names):
        msg = f"an output of shape {size} does not fit bands {names}"
        raise ValueError(msg)
    if fmt == "NPY":
        if kind.newbyteorder("=") not in _NPY_DTYPES:
            msg = f"row sinks write uint8, uint16, float32 or float64 .npy, not {kind}"
            raise ValueError(msg)
        return _NpySink(path, size, kind, names)
    if fmt == "TIFF":
        if kind.newbyteorder("=") not in _TIFF_DTYPES or names not in _IMAGE_BANDS:
            msg = (
                f"row sinks write uint8, uint16 or float32 TIFF of known bands, not {kind} {names}"
            )
            raise ValueError(msg)
        if compression not in (None, "deflate"):
            msg = f"TIFF compression {compression!r}; expected None or 'deflate'"
            raise ValueError(msg)
        return _TiffSink(path, size, kind, names, info or {}, compression == "deflate")
    msg = f"row sinks write NPY or TIFF, not {format}"
    raise ValueError(msg)


class _NpySink(RowSink):
    """An ``.npy`` written through a memory map of its temporary file."""

    def __init__(
        self, path: str, shape: tuple[int, ...], dtype: np.dtype[Any], bands: tuple[str, ...]
    ) -> None:
        super().__init__(path, shape, dtype)
        self.bands = bands
        self.format = "NPY"
        # One band is stored as (H, W), as encode_picture stores it.
        stored = shape[:2] if len(bands) == 1 else shape
        fd = self._open_temporary()
        temporary = self._temporary
        assert temporary is not None
        self._array: np.memmap[Any, Any] | None = None
        self._map: mmap.mmap | None = None
        try:
            try:
                self._array = npy_format.open_memmap(
                    temporary, mode="w+", dtype=dtype, shape=stored
                )
                self._map = _mapping_of(self._array)
                self._offset = int(self._array.offset)
                self._row_bytes = dtype.itemsize * int(np.prod(stored[1:], dtype=np.int64))
                # Claim the space now: writing into a mapped hole of a full
                # disk kills the process (SIGBUS) instead of raising.
                _claim(fd, self._offset + self._row_bytes * stored[0])
            finally:
                os.close(fd)
        except OSError as exc:
            self.abort()
            raise _write_error(path, exc) from exc
        except BaseException:
            self.abort()
            raise

    def _write(self, rows: NDArray[Any]) -> None:
        assert self._array is not None
        first = self.rows_written
        stop = first + rows.shape[0]
        self._array[first:stop] = rows.reshape((rows.shape[0], *self._array.shape[1:]))
        at = self._offset + first * self._row_bytes
        _release(self._map, at, at + (stop - first) * self._row_bytes)

    def _finish(self) -> None:
        assert self._array is not None
        assert self._temporary is not None
        self._array.flush()
        self._discard()
        fd = os.open(self._temporary, os.O_RDWR)
        try:
            os.fchmod(fd, self._mode)  # mkstemp creates files as 0600
            _fsync(fd)
        finally:
            os.close(fd)

    def _discard(self) -> None:
        array, self._array, self._map = self._array, None, None
        mapping = _mapping_of(array) if array is not None else None
        del array
        if mapping is not None and not mapping.closed:
            try:
                mapping.close()
            except BufferError:
                pass  # a view of it is still alive: the map goes with the view


def _claim(fd: int, size: int) -> None:
    """Allocate ``size`` bytes of the file on disk, where the system can say if it has room."""
    if not hasattr(os, "posix_fallocate"):
        return
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        # Some file systems cannot allocate ahead; writing will tell.
        if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS):
            raise


class _TiffSink(RowSink):
    """A baseline TIFF of one page in strips, written as rows arrive.

    The layout is the one :func:`imgconv.deep.encode_tiff` writes (chunky,
    little-endian, unassociated alpha, no predictor), uncompressed or
    deflated: the header, the strips in order, then the directory, whose
    offset is patched into the header at the end.
    """

    def __init__(
        self,
        path: str,
        shape: tuple[int, ...],
        dtype: np.dtype[Any],
        bands: tuple[str, ...],
        info: Mapping[str, Any],
        deflate: bool,
        *,
        bigtiff: bool | None = None,
    ) -> None:
        super().__init__(path, shape, dtype)
        self.bands = bands
        self.format = "TIFF"
        self._info = dict(info)
        self._deflate = deflate
        height, width = shape[:2]
        self._stored = dtype.newbyteorder("<")
        self._row_bytes = width * len(bands) * dtype.itemsize
        self._rows_per_strip = max(1, min(height, _STRIP_BYTES // self._row_bytes))
        data_bytes = height * self._row_bytes
        self._big = data_bytes + (data_bytes >> 8) > _CLASSIC_LIMIT if bigtiff is None else bigtiff
        self._offsets: list[int] = []
        self._counts: list[int] = []
        self._pending: list[NDArray[Any]] = []  # rows of a deflated strip not yet complete
        self._pending_rows = 0
        self._fd: int | None = self._open_temporary()
        # The header, with the directory's offset still 0.
        header = b"II+\0\x08\0\0\0" + bytes(8) if self._big else b"II*\0" + bytes(4)
        self._position = 0
        try:
            self._put(header)
        except OSError as exc:
            self.abort()
            raise _write_error(path, exc) from exc

    def _put(self, data: bytes | memoryview) -> None:
        assert self._fd is not None
        view = memoryview(data).cast("B")
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
            self._position += written

    def _write(self, rows: NDArray[Any]) -> None:
        stored = np.ascontiguousarray(rows, dtype=self._stored)
        if not self._deflate:
            # Strips follow one another without gaps: their offsets are
            # known from the row count, so rows go straight to the file.
            self._put(stored.reshape(-1).view(np.uint8).data)
            return
        self._pending.append(stored)
        self._pending_rows += stored.shape[0]
        last = self.rows_written + stored.shape[0] == self.shape[0]
        while self._pending_rows >= self._rows_per_strip or (last and self._pending_rows):
            block = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
            take = min(self._rows_per_strip, block.shape[0])
            strip = zlib.compress(block[:take].tobytes(), 6)
            self._offsets.append(self._position)
            self._counts.append(len(strip))
            self._put(strip)
            rest = block[take:]
            self._pending = [rest] if rest.shape[0] else []
            self._pending_rows = rest.shape[0]

    def _finish(self) -> None:
        assert self._fd is not None
        height, width = self.shape[:2]
        if not self._deflate:
            start = 16 if self._big else 8
            strip_bytes = self._rows_per_strip * self._row_bytes
            for top in range(0, height, self._rows_per_strip):
                self._offsets.append(start + top // self._rows_per_strip * strip_bytes)
                self._counts.append(min(self._rows_per_strip, height - top) * self._row_bytes)
        if self._position % 2:
            self._put(b"\0")  # the directory starts on a word boundary
        directory = _tiff_directory(
            self._position,
            self._big,
            width=width,
            height=height,
            dtype=self.dtype,
            bands=self.bands,
            deflate=self._deflate,
            rows_per_strip=self._rows_per_strip,
            offsets=self._offsets,
            counts=self._counts,
            info=self._info,
        )
        where = self._position
        self._put(directory)
        link = struct.pack("<Q", where) if self._big else struct.pack("<I", where)
        os.pwrite(self._fd, link, 8 if self._big else 4)
        os.fchmod(self._fd, self._mode)  # mkstemp creates files as 0600
        _fsync(self._fd)
        self._discard()

    def _discard(self) -> None:
        fd, self._fd = self._fd, None
        self._pending = []
        if fd is not None:
            os.close(fd)


# TIFF field types.
_SHORT, _LONG, _RATIONAL, _UNDEFINED, _LONG8 = 3, 4, 5, 7, 16


def _tiff_directory(offset: int, big: bool, **page: Any) -> bytes:
    """The IFD of one page, to be written at ``offset``, with its out-of-line values."""
    width, height, dtype = page["width"], page["height"], page["dtype"]
    bands: tuple[str, ...] = page["bands"]
    channels = len(bands)
    bits = dtype.itemsize * 8
    where_type = _LONG8 if big else _LONG
    entries: list[tuple[int, int, Sequence[int] | bytes]] = [
        (256, _LONG, [width]),
        (257, _LONG, [height]),
        (258, _SHORT, [bits] * channels),
        (259, _SHORT, [8 if page["deflate"] else 1]),
        (262, _SHORT, [{"L": 1, "R": 2, "C": 5}[bands[0]]]),
        (273, where_type, page["offsets"]),
        (277, _SHORT, [channels]),
        (278, _LONG, [page["rows_per_strip"]]),
        (279, where_type, page["counts"]),
        (284, _SHORT, [1]),
        (339, _SHORT, [3 if dtype.kind == "f" else 1] * channels),
    ]
    if bands[-1] == "A":
        entries.append((338, _SHORT, [_UNASSOCIATED_ALPHA]))
    info: Mapping[str, Any] = page["info"]
    dpi = deep.valid_dpi(info)
    if dpi is not None:
        x, y = (_fraction(value) for value in dpi)
        entries += [(_X_RES, _RATIONAL, x), (_Y_RES, _RATIONAL, y), (_RES_UNIT, _SHORT, [2])]
    icc = info.get("icc_profile")
    if isinstance(icc, bytes) and icc and deep.icc_fits(icc, bands):
        entries.append((_ICC, _UNDEFINED, icc))
    entries.sort()

    count_code, slot = ("Q", 8) if big else ("I", 4)
    entry_size = 4 + 2 * slot
    head = struct.pack("<Q" if big else "<H", len(entries))
    values_at = offset + len(head) + entry_size * len(entries) + slot
    table, values = bytearray(head), bytearray()
    codes = {_SHORT: "H", _LONG: "I", _RATIONAL: "I", _LONG8: "Q"}
    for tag, field_type, value in entries:
        if isinstance(value, bytes):
            raw, count = value, len(value)
        else:
            raw = struct.pack(f"<{len(value)}{codes[field_type]}", *value)
            count = len(value) // 2 if field_type == _RATIONAL else len(value)
        table += struct.pack(f"<HH{count_code}", tag, field_type, count)
        if len(raw) <= slot:
            table += raw.ljust(slot, b"\0")
        else:
            table += struct.pack(f"<{count_code}", values_at + len(values))
            values += raw
            if len(values) % 2:
                values += b"\0"
    table += bytes(slot)  # no next page
    return bytes(table + values)


def _fraction(value: float) -> list[int]:
    """A TIFF RATIONAL near ``value``: numerator and denominator below 2**32."""
    fraction = Fraction(value).limit_denominator(10000)
    while fraction.numerator >= 2**32:
        fraction = Fraction(value).limit_denominator(max(1, fraction.denominator // 10))
        if fraction.denominator == 1:
            break
    return [min(fraction.numerator, 2**32 - 1), fraction.denominator]
