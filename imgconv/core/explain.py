"""Explain one convolution step by step, the way course slides do.

:func:`explain` works out everything a learner wants to see about one 2-D
kernel sliding over one plane: the padded input (and which of its cells are
padding), the kernel as applied (rotated when ``flip``), the output-size
arithmetic per axis, and for the first output positions the window under
the kernel, the products, their sum, the scale and bias, and the value
placed in the feature map. It plans with :func:`imgconv.core.geometry.plan`
and pads with :func:`imgconv.core.convolve.pad`, so its numbers are the
ones :func:`imgconv.core.convolve.correlate` (and ``imgconv apply``)
computes::

    out[i, j] = sum_{u, v} K[u, v] * P[i*s_y + d_y*u, j*s_x + d_x*v] / scale + bias

Arithmetic is done in the working type of the input (float32 for 8- and
16-bit images, float64 for numeric matrices), as ``apply`` does it.

No click, rich, PIL or file I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import GeometryError, UsageError
from .convolve import FloatArray, pad, work_dtype
from .geometry import Geometry, plan, rows_by_columns
from .kernels import Kernel
from .vocab import Border, Padding, parse_anchor

#: The largest output, in cells per side, explained whole; a larger one needs ``at``.
MAX_CELLS = 16
#: Output cells per side explained around ``at`` by default.
DEFAULT_WINDOW = 5
#: Output positions spelled out by default.
DEFAULT_STEPS = 3


@dataclass(frozen=True)
class AxisSize:
    """The output-size arithmetic along one axis, with the user's numbers.

    The output length is ``floor((size - reach + before + after) / stride) + 1``:
    the seed slides' ``(W - F + 2P)/S + 1`` when the padding is symmetric and
    the dilation is 1.

    Attributes
    ----------
    axis : str
        ``"height"`` or ``"width"``.
    size : int
        Input length along the axis (``H`` or ``W``).
    kernel : int
        Kernel length along the axis (``F``).
    before, after : int
        Padding on the top and bottom (or left and right).
    stride, dilation : int
        Step between output samples and between kernel taps.
    out : int
        The output length.
    """

    axis: str
    size: int
    kernel: int
    before: int
    after: int
    stride: int
    dilation: int
    out: int

    @property
    def reach(self) -> int:
        """The dilated kernel's extent, ``d*(F - 1) + 1`` (``F`` when ``d = 1``)."""
        return self.dilation * (self.kernel - 1) + 1

    @property
    def symmetric(self) -> bool:
        """Whether both sides have the same padding (so it can be written ``2P``)."""
        return self.before == self.after

    @property
    def numerator(self) -> int:
        """``size - reach + before + after``: what the stride divides."""
        return self.size - self.reach + self.before + self.after

    @property
    def exact(self) -> bool:
        """Whether the stride divides the numerator exactly (no flooring)."""
        return self.numerator % self.stride == 0


@dataclass(frozen=True, eq=False)
class Step:
    """One output position worked out in full.

    Attributes
    ----------
    out_row, out_col : int
        The position in the whole feature map.
    row, col : int
        Input coordinates of the window's top-left tap (negative, or past
        the input's end, in the padding).
    window : ndarray
        ``(kh, kw)`` padded-input values under the kernel's taps.
    padding : ndarray of bool
        ``(kh, kw)``, True where a tap falls on padding.
    products : ndarray
        ``(kh, kw)`` window values times the kernel's weights as written.
    total : float
        The sum of the products.
    value : float
        ``total / scale + bias``: what the feature map holds at the position.
    """

    out_row: int
    out_col: int
    row: int
    col: int
    window: FloatArray
    padding: NDArray[np.bool_]
    products: FloatArray
    total: float
    value: float


@dataclass(frozen=True, eq=False)
class Explanation:
    """Everything :func:`explain` worked out, ready to be shown.

    Attributes
    ----------
    written : Kernel
        The kernel as given (with an ``anchor`` override applied).
    kernel : Kernel
        The kernel as applied: ``written`` rotated 180 degrees about its
        anchor when ``flipped``.
    flipped : bool
        Whether the kernel was flipped (true convolution).
    padding : Padding
        The padding as the user asked for it (``same``, ``valid``, ...).
    border : Border
        What fills the padding cells.
    geometry : Geometry
        Input, kernel and output shapes, pads, stride and dilation.
    sizes : tuple of AxisSize
        The output-size arithmetic for the height and the width.
    region : ndarray
        The shown part of the padded input (all of it unless ``at`` was
        given), in the working type.
    region_padding : ndarray of bool
        Same shape as ``region``: True for padding cells.
    region_origin : tuple of int
        Input coordinates ``(row, col)`` of ``region[0, 0]`` (negative in
        the padding).
    map_origin : tuple of int
        Feature-map coordinates of ``feature_map[0, 0]``.
    feature_map : ndarray
        The feature map for the shown output positions, in the working type.
    steps : tuple of Step
        The first positions of ``feature_map`` in reading order, worked out.
    whole : bool
        Whether ``feature_map`` is the whole output (no ``at``).
    """

    written: Kernel
    kernel: Kernel
    flipped: bool
    padding: Padding
    border: Border
    geometry: Geometry
    sizes: tuple[AxisSize, AxisSize]
    region: FloatArray
    region_padding: NDArray[np.bool_]
    region_origin: tuple[int, int]
    map_origin: tuple[int, int]
    feature_map: FloatArray
    steps: tuple[Step, ...]
    whole: bool

    @property
    def dtype(self) -> np.dtype[np.floating]:
        """The working type the arithmetic was done in."""
        return self.feature_map.dtype

    @property
    def positions(self) -> int:
        """How many output positions are shown."""
        return int(self.feature_map.size)


def explain(
    plane: ArrayLike,
    kernel: Kernel | ArrayLike,
    *,
    flip: bool = False,
    padding: str | int | tuple[int, ...] | Padding = "same",
    border: str | Border = "edge",
    stride: int | tuple[int, int] | str = 1,
    dilation: int | tuple[int, int] | str = 1,
    anchor: tuple[int, int] | str | None = None,
    at: tuple[int, int] | str | None = None,
    window: int = DEFAULT_WINDOW,
    steps: int = DEFAULT_STEPS,
) -> Explanation:
    """Work out one kernel's pass over one plane, position by position.

    Parameters
    ----------
    plane : array_like
        ``(H, W)`` numbers: one channel, in working units.
    kernel : Kernel or array_like
        One 2-D kernel; a :class:`Kernel` brings its scale, bias and anchor.
    flip, padding, border, stride, dilation, anchor
        As in :func:`imgconv.core.convolve.correlate`.
    at : (int, int) or str, optional
        Explain the output positions from feature-map cell ``(row, col)`` on
        (``"ROW,COL"`` is accepted), with the whole image's padding and
        border, showing only the part of the padded input they read. Without
        it the whole output is explained, which must be at most
        :data:`MAX_CELLS` a side.
    window : int
        With ``at``: how many output cells a side to explain (1 to
        :data:`MAX_CELLS`); fewer at the output's bottom and right edges.
    steps : int
        How many positions to work out in full (0 for none).

    Returns
    -------
    Explanation

    Raises
    ------
    GeometryError
        Bad padding, stride, dilation or anchor (as :func:`correlate`), an
        output larger than :data:`MAX_CELLS` a side without ``at``, or
        ``at`` outside the output.
    UsageError
        A plane that is not 2-D, ``window`` outside 1 to :data:`MAX_CELLS`,
        or negative ``steps``.
    KernelError
        A kernel that is not a finite 2-D matrix, or an anchor outside it.

    Examples
    --------
    >>> image = [[1, 2, 3, 2, 1], [3, 2, 2, 1, 3], [2, 1, 3, 2, 3], [2, 3, 3, 1, 2],
    ...          [3, 1, 2, 2, 3]]
    >>> done = explain(image, np.ones((3, 3)), padding="valid", steps=1)
    >>> done.feature_map.astype(int).tolist()
    [[19, 18, 20], [21, 18, 20], [20, 18, 21]]
    >>> done.steps[0].products.astype(int).tolist()
    [[1, 2, 3], [3, 2, 2], [2, 1, 3]]
    """
    data = np.asarray(plane)
    if data.ndim != 2:
        msg = f"the plane has shape {data.shape}; expected one (H, W) channel"
        raise UsageError(msg)
    if steps < 0:
        msg = f"steps {steps} is negative; expected 0 or more positions to spell out"
        raise UsageError(msg)
    written = kernel if isinstance(kernel, Kernel) else Kernel(kernel)
    cell = parse_anchor(anchor)
    if cell is not None:
        written = written.with_values(anchor=cell)
    applied = written.flipped() if flip else written
    pad_spec, border_spec = Padding.parse(padding), Border.parse(border)
    geometry = plan(
        (data.shape[0], data.shape[1]),
        applied.shape,
        padding=pad_spec,
        stride=stride,
        dilation=dilation,
        anchor=applied.origin,
    )
    padded = pad(data, geometry, border_spec)
    dtype = work_dtype(data.dtype)
    (r0, r1), (c0, c1) = _shown_outputs(geometry, at, window)
    (sy, sx), (dy, dx), (kh, kw) = geometry.stride, geometry.dilation, applied.shape
    top, _, left, _ = geometry.pads
    h, w = geometry.in_shape
    reach_y, reach_x = geometry.reach
    if at is None:
        y0, y1, x0, x1 = 0, padded.shape[0], 0, padded.shape[1]
    else:
        y0, y1 = r0 * sy, (r1 - 1) * sy + reach_y
        x0, x1 = c0 * sx, (c1 - 1) * sx + reach_x
    region = np.array(padded[y0:y1, x0:x1], dtype=dtype)
    rows_pad = (np.arange(y0, y1) < top) | (np.arange(y0, y1) >= top + h)
    cols_pad = (np.arange(x0, x1) < left) | (np.arange(x0, x1) >= left + w)
    region_padding = rows_pad[:, None] | cols_pad[None, :]

    # Every shown position's window at once: (rows, cols, kh, kw) of the region.
    rows = (np.arange(r0, r1) * sy - y0)[:, None] + np.arange(kh) * dy
    cols = (np.arange(c0, c1) * sx - x0)[:, None] + np.arange(kw) * dx
    windows = region[rows[:, None, :, None], cols[None, :, None, :]]
    masks = region_padding[rows[:, None, :, None], cols[None, :, None, :]]
    products = windows * applied.weights.astype(dtype)
    totals = products.sum(axis=(2, 3), dtype=dtype)
    values = totals
    if applied.scale != 1:
        values = values / dtype.type(applied.scale)
    if applied.bias:
        values = values + dtype.type(applied.bias)
    feature_map = np.asarray(values, dtype=dtype)

    worked = []
    for index in range(min(steps, feature_map.size)):
        i, j = divmod(index, c1 - c0)
        worked.append(
            Step(
                out_row=r0 + i,
                out_col=c0 + j,
                row=(r0 + i) * sy - top,
                col=(c0 + j) * sx - left,
                window=windows[i, j],
                padding=masks[i, j],
                products=products[i, j],
                total=float(totals[i, j]),
                value=float(feature_map[i, j]),
            )
        )
    bottom, right = geometry.pads[1], geometry.pads[3]
    (ho, wo), sizes = geometry.out_shape, geometry.kernel_shape
    return Explanation(
        written=written,
        kernel=applied,
        flipped=flip,
        padding=pad_spec,
        border=border_spec,
        geometry=geometry,
        sizes=(
            AxisSize("height", h, sizes[0], top, bottom, sy, dy, ho),
            AxisSize("width", w, sizes[1], left, right, sx, dx, wo),
        ),
        region=region,
        region_padding=region_padding,
        region_origin=(y0 - top, x0 - left),
        map_origin=(r0, c0),
        feature_map=feature_map,
        steps=tuple(worked),
        whole=at is None,
    )


def _shown_outputs(
    geometry: Geometry, at: tuple[int, int] | str | None, window: int
) -> tuple[tuple[int, int], tuple[int, int]]:
    """The output rows and columns to explain, as ``((r0, r1), (c0, c1))`` ranges."""
    ho, wo = geometry.out_shape
    if at is None:
        if ho > MAX_CELLS or wo > MAX_CELLS:
            h, w = geometry.in_shape
            # Sizes in words: rows x columns, as --at takes them, would read
            # as width x height, which -v prints.
            msg = (
                f"the output is {rows_by_columns(ho, wo)} (the input {rows_by_columns(h, w)}); "
                f"explain spells out at most {MAX_CELLS} rows and {MAX_CELLS} columns: add "
                f"--at ROW,COL to explain a {DEFAULT_WINDOW}x{DEFAULT_WINDOW} part of it, "
                f"e.g. --at {ho // 2},{wo // 2}"
            )
            raise GeometryError(msg)
        return (0, ho), (0, wo)
    if not 1 <= window <= MAX_CELLS:
        msg = f"window {window} is outside 1..{MAX_CELLS}; expected output cells a side"
        raise UsageError(msg)
    row, col = _parse_at(at)
    if row >= ho or col >= wo:
        msg = (
            f"--at {row},{col} is outside the output of {rows_by_columns(ho, wo)}; "
            f"expected ROW 0..{ho - 1} and COL 0..{wo - 1}"
        )
        raise GeometryError(msg)
    return (row, min(ho, row + window)), (col, min(wo, col + window))


def _parse_at(at: tuple[int, int] | str) -> tuple[int, int]:
    """Read ``ROW,COL``: an output cell, counted from 0 at the top left."""
    if isinstance(at, str):
        try:
            numbers = [int(part) for part in at.split(",")]
        except ValueError:
            numbers = []
        if len(numbers) != 2:
            msg = f"--at {at!r} is not understood; expected ROW,COL (whole numbers from 0)"
            raise UsageError(msg)
        row, col = numbers
    else:
        row, col = (int(n) for n in at)
    if row < 0 or col < 0:
        msg = f"--at {row},{col} is negative; expected ROW,COL (whole numbers from 0)"
        raise GeometryError(msg)
    return row, col
