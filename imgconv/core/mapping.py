"""From filter results (floats) to output values: depth, units and mapping.

Depths and their nominal ranges:

=========  ==========  ================================================
depth      type        range
=========  ==========  ================================================
``8``      uint8       0..255
``16``     uint16      0..65535
``float``  float32     0..1 for float inputs; otherwise the input's
                       own range (0..255 for 8-bit), see :func:`units`
=========  ==========  ================================================

Filtering is done in *working units*: the input's own values, rescaled to
the output depth only when an integer input is written at another integer
depth (8-bit in, 16-bit out multiplies by 257). Because convolution is
linear, rescaling before or after gives the same numbers; doing it before
means ``--bias`` and constant borders are always in output units.

Mappings (KERNELS.md section 4):

``clip``
    round to nearest, clip to the range (default for integer outputs);
``abs``
    absolute value, then as ``clip``;
``shift``
    add half the range (128 for 8-bit) so 0 is mid-grey, then as ``clip``;
``normalize``
    stretch the result's min..max to the full range (one stretch for all
    filtered channels, so colours keep their balance; a constant result
    maps to 0);
``raw``
    keep the float values (default for float outputs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ..errors import UsageError
from .spatial import in_strips

DepthName = Literal["8", "16", "float"]
MapMode = Literal["clip", "abs", "shift", "normalize", "raw"]
MAP_MODES: tuple[MapMode, ...] = ("clip", "abs", "shift", "normalize", "raw")


@dataclass(frozen=True)
class Depth:
    """A sample type with its nominal range ``0..maximum``."""

    name: DepthName
    dtype: np.dtype[np.generic]
    maximum: float

    @property
    def is_integer(self) -> bool:
        """Whether samples are whole numbers (8 or 16 bit)."""
        return self.name != "float"


DEPTHS: dict[DepthName, Depth] = {
    "8": Depth("8", np.dtype(np.uint8), 255.0),
    "16": Depth("16", np.dtype(np.uint16), 65535.0),
    "float": Depth("float", np.dtype(np.float32), 1.0),
}


def depth_of(dtype: np.dtype[np.generic] | type) -> Depth:
    """The depth an array of ``dtype`` has (bool counts as 8-bit).

    Raises
    ------
    UsageError
        For integer types wider than 16 bits, which have no depth of their own.
    """
    dt = np.dtype(dtype)
    if dt in (np.dtype(np.uint8), np.dtype(np.bool_)):
        return DEPTHS["8"]
    if dt == np.dtype(np.uint16):
        return DEPTHS["16"]
    if dt.kind == "f":
        return DEPTHS["float"]
    msg = f"arrays of type {dt} have no image depth; expected uint8, uint16 or float"
    raise UsageError(msg)


def units(source: Depth, target: Depth) -> tuple[float, float]:
    """Factor from input to working units, and the working range's maximum.

    Examples
    --------
    >>> units(DEPTHS["8"], DEPTHS["16"])
    (257.0, 65535.0)
    >>> units(DEPTHS["8"], DEPTHS["float"])  # float output keeps 8-bit units
    (1.0, 255.0)
    >>> units(DEPTHS["float"], DEPTHS["8"])  # a float image is 0..1
    (255.0, 255.0)
    """
    if not target.is_integer:
        return 1.0, source.maximum
    return target.maximum / source.maximum, target.maximum


def map_values(
    values: NDArray[np.floating],
    mode: MapMode,
    depth: Depth,
    maximum: float,
    out: NDArray[np.generic] | None = None,
) -> NDArray[np.generic]:
    """Map filter results to samples of ``depth`` with range ``0..maximum``.

    Parameters
    ----------
    values : ndarray
        Filter results in working units; left unchanged.
    mode : {'clip', 'abs', 'shift', 'normalize', 'raw'}
        See the module documentation.
    depth : Depth
        Output sample type.
    maximum : float
        Top of the working range (from :func:`units`).
    out : ndarray, optional
        Where to write the samples: ``values``' shape, ``depth``'s type.

    Returns
    -------
    ndarray
        ``out``, or a new array of ``depth``'s type.

    Raises
    ------
    UsageError
        For ``raw`` with an integer depth (integers cannot keep signed or
        fractional results).

    Examples
    --------
    >>> v = np.array([-20.0, 0.4, 100.5, 300.0])
    >>> map_values(v, "clip", DEPTHS["8"], 255).tolist()
    [0, 0, 100, 255]
    >>> map_values(v, "shift", DEPTHS["8"], 255).tolist()
    [108, 128, 228, 255]
    """
    if mode not in MAP_MODES:
        msg = f"unknown map {mode!r}; expected one of {', '.join(MAP_MODES)}"
        raise UsageError(msg)
    if mode == "raw" and depth.is_integer:
        msg = f"--map raw keeps float values; it needs depth float, not {depth.name}"
        raise UsageError(msg)
    if out is None:
        out = np.empty(values.shape, dtype=np.float32 if mode == "raw" else depth.dtype)
    if mode == "normalize":
        # The stretch needs the whole result's range before any value is mapped.
        _finish(stretch(values, maximum), mode, depth, maximum, out)
    elif values.ndim == 0:
        _finish(values, mode, depth, maximum, out)
    else:
        # Strips of rows, on threads for large arrays: the few passes then
        # run over cached memory, and on every core.
        def strip(top: int, stop: int) -> None:
            _finish(values[top:stop], mode, depth, maximum, out[top:stop])

        row_bytes = values[:1].nbytes
        in_strips(len(values), row_bytes, strip)
    return out


def _finish(
    values: NDArray[np.floating],
    mode: MapMode,
    depth: Depth,
    maximum: float,
    out: NDArray[np.generic],
) -> None:
    """:func:`map_values` for one piece: ``values`` mapped into ``out``."""
    if mode == "raw":
        np.copyto(out, values, casting="unsafe")
        return
    # One working copy, changed in place; float32 holds every 8- and 16-bit
    # level exactly, so there is no need to widen it.
    work = np.array(values, dtype=np.result_type(values.dtype, np.float32))
    if mode == "abs":
        np.abs(work, out=work)
    elif mode == "shift":
        work += work.dtype.type(mid_grey(maximum))
    if depth.is_integer:
        np.rint(work, out=work)
    # fmax/fmin rather than clip: they also send NaN to 0 and infinities to
    # the ends of the range.
    np.fmax(work, 0, out=work)
    np.fmin(work, maximum, out=work)
    np.copyto(out, work, casting="unsafe")


def mid_grey(maximum: float) -> float:
    """Half the range: 128 for 0..255, 32768 for 0..65535, 0.5 for 0..1.

    Integer ranges have an even number of levels, so "half" is the first
    level of the upper half, as in ImageMagick's ``-bias 50%``.
    """
    if maximum > 1 and float(maximum).is_integer():
        return (maximum + 1) / 2
    return maximum / 2


def stretch(values: NDArray[np.floating], maximum: float) -> NDArray[np.float64]:
    """Linearly map ``min..max`` of ``values`` onto ``0..maximum`` (constant: 0)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(values.shape)
    low, high = float(finite.min()), float(finite.max())
    if high == low:
        return np.zeros(values.shape)
    # Divide first: maximum / (high - low) overflows for a subnormal spread.
    return (values.astype(np.float64) - low) / (high - low) * maximum
