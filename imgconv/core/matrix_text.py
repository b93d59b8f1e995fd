r"""Numeric matrices as text: the input grids of worked examples, and the numbers printed back.

A matrix file holds numbers, not pixels: they are used as they are, with
no scaling to an image range. The grammar is the kernel grid's, without
its kernel keywords:

- one row per line, or rows separated by ``;``; numbers separated by
  spaces, tabs or commas (so a ``.csv`` file of numbers reads as is);
- ``#`` starts a comment that runs to the end of the line;
- a number is an integer, a decimal (``0.25``, ``-1e-3``) or a fraction
  (``1/3``); NaN and infinities are refused;
- planes separated by a line of ``---`` or by blank lines are the
  channels of one ``H x W x C`` matrix (all of one shape).

Numbers are written back with as few digits as read back to the same
value (:func:`format_number`): integers as integers, ``0.1`` as ``0.1``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from ..errors import UsageError

_SEPARATORS = re.compile(r"[,\s]+")
_PLANE_SEPARATOR = re.compile(r"^-{3,}$")


class MatrixError(UsageError):
    """A numeric matrix is malformed: a non-number, ragged rows, mismatched planes."""


def parse_matrix_text(text: str, name: str = "matrix") -> NDArray[np.float64]:
    r"""Parse numbers written as a grid into an ``(H, W)`` or ``(H, W, C)`` array.

    Parameters
    ----------
    text : str
        The grid (see the module documentation).
    name : str
        The source, for messages.

    Returns
    -------
    ndarray
        float64, ``(H, W)`` for one plane, ``(H, W, C)`` for C planes.

    Raises
    ------
    MatrixError
        Naming the line: a non-number, a non-finite number, ragged rows,
        planes of different shapes, or no numbers at all.

    Examples
    --------
    >>> parse_matrix_text("1 2 3\n4 5 6").tolist()
    [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    >>> parse_matrix_text("1,2;3,4\n---\n5,6;7,8").shape
    (2, 2, 2)
    """
    planes: list[list[list[float]]] = []
    wheres: list[str] = []
    rows: list[list[float]] = []
    first_where = ""
    for number, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        content = line.split("#", 1)[0].strip()
        if not line.strip() or _PLANE_SEPARATOR.match(content):
            if rows:
                planes.append(rows)
                wheres.append(first_where)
                rows = []
            continue
        for part in content.split(";"):
            tokens = [t for t in _SEPARATORS.split(part.strip()) if t]
            if not tokens:
                continue
            where = f"line {number}"
            values = [_number(t, where, name) for t in tokens]
            if rows and len(values) != len(rows[0]):
                msg = (
                    f"matrix {name!r} has ragged rows: {first_where} has {len(rows[0])} "
                    f"numbers but {where} has {len(values)}; every row needs the same count"
                )
                raise MatrixError(msg)
            if not rows:
                first_where = where
            rows.append(values)
    if rows:
        planes.append(rows)
        wheres.append(first_where)
    if not planes:
        msg = f"matrix {name!r} has no numbers; expected rows of numbers such as '1 2 3'"
        raise MatrixError(msg)
    shape = (len(planes[0]), len(planes[0][0]))
    for plane, where in zip(planes[1:], wheres[1:], strict=True):
        if (len(plane), len(plane[0])) != shape:
            msg = (
                f"matrix {name!r}: the plane starting at {where} is {len(plane)}x{len(plane[0])} "
                f"but the first is {shape[0]}x{shape[1]}; every channel needs the same size"
            )
            raise MatrixError(msg)
    array = np.array(planes, dtype=np.float64)
    return array[0] if len(planes) == 1 else np.moveaxis(array, 0, -1)


def _number(token: str, where: str, name: str) -> float:
    try:
        if "/" in token:
            value = float(Fraction(token))
        else:
            value = float(token)
    except (ValueError, ZeroDivisionError):
        msg = f"matrix {name!r}: {token!r} in {where} is not a number"
        raise MatrixError(msg) from None
    if not math.isfinite(value):
        msg = f"matrix {name!r}: {token!r} in {where} is not a finite number"
        raise MatrixError(msg)
    return value


def format_number(value: float, dtype: np.dtype[np.generic] | type = np.float64) -> str:
    """The shortest text that reads back as ``value`` in ``dtype``; integers without a point.

    Examples
    --------
    >>> format_number(4.0), format_number(-0.5), format_number(0.1, np.float32)
    ('4', '-0.5', '0.1')
    >>> format_number(1e20)
    '1e+20'
    """
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value)) if value != 0 else "0"
    kind = np.dtype(dtype)
    typed = np.float32(value) if kind == np.float32 else np.float64(value)
    if abs(value) >= 1e15 or abs(value) < 1e-5:  # scientific is shorter and clearer
        return np.format_float_scientific(typed, unique=True, trim="-")
    return np.format_float_positional(typed, unique=True, trim="-")


def format_matrix_text(
    maps: NDArray[np.generic],
    *,
    separator: str = " ",
    names: Sequence[str] | None = None,
) -> str:
    """Write ``(H, W)`` or ``(K, H, W)`` numbers as a grid that :func:`parse_matrix_text` reads.

    Parameters
    ----------
    maps : ndarray
        One map, or K maps written one after another, each after a
        ``# NAME`` line (when ``names`` is given) and separated by a blank
        line.
    separator : str
        Between numbers: ``" "`` (text) or ``","`` (CSV).
    names : sequence of str, optional
        A label per map.

    Examples
    --------
    >>> print(format_matrix_text(np.array([[1.0, -2.5], [0.0, 4.0]])), end="")
    1 -2.5
    0 4
    """
    array = np.asarray(maps)
    stack = array[np.newaxis] if array.ndim == 2 else array
    if stack.ndim != 3:
        msg = f"maps of shape {array.shape}; expected (H, W) or (K, H, W)"
        raise ValueError(msg)
    blocks = []
    for index, plane in enumerate(stack):
        lines = [f"# {names[index]}"] if names else []
        lines += _formatted_rows(plane, separator)
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def _formatted_rows(plane: NDArray[np.generic], separator: str) -> list[str]:
    """The rows of ``plane`` as text, each distinct value formatted once.

    Maps from 8-bit images hold few distinct values (a Sobel map of a
    4096 x 4096 photo some 2000 among 17 million), and a call of
    :func:`format_number` per cell made writing such a map as text take
    half a minute. Equal values (``-0.0`` and ``0.0``, every NaN) format alike.
    """
    if plane.size == 0:
        return [""] * len(plane)
    values, codes = np.unique(plane, return_inverse=True)
    texts = [format_number(float(v), plane.dtype) for v in values]
    pick = texts.__getitem__
    return [separator.join(map(pick, row)) for row in codes.reshape(plane.shape).tolist()]
