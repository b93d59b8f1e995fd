r"""Numeric matrices as inputs and outputs: ``.txt`` and ``.csv`` grids, ``.npy`` arrays.

A matrix is numbers, not pixels: it is read as float64 and used as it is,
with no scaling to an image range, so a worked example can be typed in and
its feature map checked. Its bands are named ``V`` (one plane) or ``C1``,
``C2``, ... (an ``H x W x C`` matrix); none is an alpha channel.

Results are written back as numbers: a ``.txt`` grid (spaces), a ``.csv``
(commas), or ``.npy``. Several maps (channels, or the kernels of
``--combine stack``) follow one another in a text file, each after a
``# NAME`` line and a blank line, which :func:`read_matrix` reads back as
the channels of one matrix.

This module knows neither Pillow nor the command line.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from tokenize import TokenError
from typing import Any, BinaryIO

import numpy as np
from numpy.lib import format as npy_format
from numpy.typing import NDArray

from .core.matrix_text import format_matrix_text, parse_matrix_text
from .errors import ImageReadError

#: The first bytes of every ``.npy`` file.
NPY_MAGIC = b"\x93NUMPY"
#: Suffixes read as matrices, and the format each names.
MATRIX_SUFFIXES = {".txt": "TXT", ".csv": "CSV", ".npy": "NPY"}
#: Output formats that hold numbers as they are.
NUMBER_FORMATS = frozenset({"TXT", "CSV", "NPY"})

# dtype kinds read as numbers: booleans, signed and unsigned integers, floats.
_REAL_KINDS = "biuf"


def matrix_bands(channels: int) -> tuple[str, ...]:
    """``("V",)`` for one plane, else ``("C1", "C2", ...)``."""
    return ("V",) if channels == 1 else tuple(f"C{i + 1}" for i in range(channels))


def looks_like_numbers(data: bytes) -> bool:
    """Whether ``data`` is text whose first non-comment character starts a number."""
    try:
        text = data[:4096].decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        return False
    for line in text.splitlines():
        content = line.split("#", 1)[0].strip()
        if content:
            return content[0] in "0123456789+-."
    return False


def read_matrix(data: bytes, label: str, kind: str) -> NDArray[np.float64]:
    """Decode a matrix file's bytes into ``(H, W, C)`` float64.

    Parameters
    ----------
    data : bytes
        The file's contents.
    label : str
        How messages name the source (``'in.txt'`` or ``standard input``).
    kind : {'TXT', 'CSV', 'NPY'}
        The format (text and CSV share a grammar).

    Raises
    ------
    ImageReadError
        Text that is not a grid of finite numbers, or an ``.npy`` that is
        not a 2-D or 3-D array of real, finite numbers.
    """
    if kind == "NPY":
        array = _read_npy(data, label)
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            msg = f"{label} is not a text matrix: it is not UTF-8 text"
            raise ImageReadError(msg) from None
        try:
            array = parse_matrix_text(text, label.strip("'"))
        except ValueError as exc:
            raise ImageReadError(str(exc)) from None
    return np.ascontiguousarray(array[:, :, np.newaxis] if array.ndim == 2 else array)


def _read_npy(data: bytes, label: str) -> NDArray[np.float64]:
    try:
        raw = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        reason = "it holds Python objects" if "pickle" in str(exc) else str(exc)
        msg = f"cannot read {label} as a NumPy array: {reason}"
        raise ImageReadError(msg) from None
    except (OSError, EOFError) as exc:
        msg = f"cannot read {label} as a NumPy array: {exc}"
        raise ImageReadError(msg) from None
    except (SyntaxError, TokenError):
        # NumPy parses the header as Python literals: a cut one fails in tokenize.
        msg = f"cannot read {label} as a NumPy array: its header is cut off or damaged"
        raise ImageReadError(msg) from None
    if not isinstance(raw, np.ndarray):
        msg = f"{label} holds several arrays; expected one .npy array"
        raise ImageReadError(msg)
    if raw.dtype.kind not in _REAL_KINDS:
        msg = f"{label} holds {raw.dtype} values; expected real numbers"
        raise ImageReadError(msg)
    if raw.ndim not in (2, 3) or 0 in raw.shape:
        msg = f"{label} has shape {raw.shape}; expected an H x W or H x W x C array"
        raise ImageReadError(msg)
    array = raw.astype(np.float64)
    if not np.isfinite(array).all():
        msg = f"{label} holds NaN or infinite values; expected finite numbers"
        raise ImageReadError(msg)
    return array


def is_npy(data: bytes) -> bool:
    """Whether ``data`` starts like an ``.npy`` file."""
    return data.startswith(NPY_MAGIC)


@dataclass(frozen=True)
class Parts:
    """An encoded file in parts, written one after another rather than joined.

    An ``.npy`` file is a short header and then the array's own memory:
    joining them would copy the array (537 MB for 8 float maps of a 4096 x
    4096 image) only to write it out.
    """

    parts: tuple[bytes | memoryview, ...]

    @property
    def nbytes(self) -> int:
        """The file's length."""
        return sum(memoryview(part).nbytes for part in self.parts)

    def __bytes__(self) -> bytes:
        return b"".join(self.parts)


#: An encoded file: bytes, or the parts of one.
Encoded = bytes | Parts


def encode_numbers(
    maps: NDArray[np.generic], fmt: str, *, names: Sequence[str] | None = None
) -> Encoded:
    """Encode ``(H, W)`` or ``(K, H, W)`` numbers as ``TXT``, ``CSV`` or ``NPY``.

    An ``.npy`` holds the array as given, and comes as :class:`Parts` that
    refer to the array's memory (a C-ordered array is not copied); text
    holds the maps one after another, each after a ``# NAME`` line when
    ``names`` is given.
    """
    array = np.asarray(maps)
    if fmt == "NPY":
        return npy_parts(np.ascontiguousarray(array))
    separator = "," if fmt == "CSV" else " "
    return format_matrix_text(array, separator=separator, names=names).encode("utf-8")


def npy_parts(array: NDArray[np.generic]) -> Parts:
    """A C-ordered ``array`` as an ``.npy`` file: NumPy's header, then the array's memory.

    Neither ``np.save`` to a BytesIO (which copies the values twice, into
    the BytesIO and out of it) nor one joined buffer: the values are
    written straight from the array.
    """
    header = _npy_header(npy_format.header_data_from_array_1_0(array))
    # A byte view of the values; it keeps the array alive.
    return Parts((header, array.reshape(-1).view(np.uint8).data))


def npy_stack_parts(pages: Sequence[NDArray[np.generic]]) -> Parts:
    """Arrays of one shape and type as the ``.npy`` of their stack, ``(K, ...)``.

    A C-ordered stack's values are its pages' one after another, so each
    page is written from its own memory: no stack of them all is made.
    """
    arrays = [np.ascontiguousarray(page) for page in pages]
    first = arrays[0]
    if any(a.shape != first.shape or a.dtype != first.dtype for a in arrays):
        msg = "the pages of a stack must share their shape and type"
        raise ValueError(msg)
    fields = {
        "descr": npy_format.dtype_to_descr(first.dtype),
        "fortran_order": False,
        "shape": (len(arrays), *first.shape),
    }
    bodies = (a.reshape(-1).view(np.uint8).data for a in arrays)
    return Parts((_npy_header(fields), *bodies))


def _npy_header(fields: dict[str, Any]) -> bytes:
    header = io.BytesIO()
    try:
        npy_format.write_array_header_1_0(header, fields)
    except ValueError:  # a header over 64 KB (a very long shape): version 2.0
        header = io.BytesIO()
        npy_format.write_array_header_2_0(header, fields)
    return header.getvalue()


def parts_of(data: Encoded) -> tuple[bytes | memoryview, ...]:
    """The parts to write, one after another, for an encoded file."""
    return data.parts if isinstance(data, Parts) else (data,)


def write_encoded(stream: BinaryIO, data: Encoded) -> None:
    """Write an encoded file's parts to ``stream``, one after another."""
    for part in parts_of(data):
        stream.write(part)
