"""Where a kernel sits on the image: padding amounts, output size and taps.

With ``T`` rows of padding on top and ``L`` columns on the left, stride
``s`` and dilation ``d``, output pixel ``(i, j)`` is

    out[i, j] = sum_{u, v} K[u, v] * P[i*s_y + d_y*u, j*s_x + d_x*v]

where ``P`` is the padded input. Along each axis the output length is

    floor((n + before + after - d*(k - 1) - 1) / s) + 1

which is the seed slides' ``(W - F + 2P)/S + 1`` when ``d = 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from ..errors import GeometryError
from .vocab import Border, Padding, parse_anchor, parse_pair


class GeometryOptions(TypedDict, total=False):
    """Where a kernel goes, in the keywords every filtering function takes."""

    flip: bool
    padding: str | int | tuple[int, ...] | Padding
    border: str | Border
    stride: int | tuple[int, int] | str
    dilation: int | tuple[int, int] | str
    anchor: tuple[int, int] | str | None


def output_length(n: int, k: int, before: int, after: int, stride: int, dilation: int) -> int:
    """Output length along one axis (may be < 1 if the kernel does not fit).

    Examples
    --------
    >>> output_length(7, 3, 0, 0, 1, 1)  # the seed slides' 7 x 7 example
    5
    >>> output_length(64, 5, 2, 2, 1, 1)
    64
    """
    return (n + before + after - dilation * (k - 1) - 1) // stride + 1


@dataclass(frozen=True)
class Geometry:
    """A planned application of a kernel of a given shape to an image.

    Attributes
    ----------
    in_shape, kernel_shape, out_shape : tuple of int
        ``(rows, columns)`` of the input, the kernel and the result.
    anchor : tuple of int
        The kernel cell that sits on the output pixel with ``same`` padding.
    stride, dilation : tuple of int
        Per axis, ``(y, x)``.
    pads : tuple of int
        Pixels added on each side, ``(top, bottom, left, right)``.
    """

    in_shape: tuple[int, int]
    kernel_shape: tuple[int, int]
    anchor: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[int, int, int, int]
    out_shape: tuple[int, int]

    @property
    def padded_shape(self) -> tuple[int, int]:
        """Shape of the input once padded."""
        top, bottom, left, right = self.pads
        return self.in_shape[0] + top + bottom, self.in_shape[1] + left + right

    @property
    def reach(self) -> tuple[int, int]:
        """Rows and columns one application of the (dilated) kernel covers."""
        (kh, kw), (dy, dx) = self.kernel_shape, self.dilation
        return dy * (kh - 1) + 1, dx * (kw - 1) + 1

    def tap(self, u: int, v: int) -> tuple[slice, slice]:
        """Slices of the padded input that kernel cell ``(u, v)`` multiplies.

        Only the sampled positions are addressed, so a stride of 4 reads a
        sixteenth of the pixels.
        """
        (ho, wo), (sy, sx), (dy, dx) = self.out_shape, self.stride, self.dilation
        y0, x0 = u * dy, v * dx
        return slice(y0, y0 + sy * (ho - 1) + 1, sy), slice(x0, x0 + sx * (wo - 1) + 1, sx)


def plan(
    in_shape: tuple[int, int],
    kernel_shape: tuple[int, int],
    *,
    padding: str | int | tuple[int, ...] | Padding = "same",
    stride: int | tuple[int, int] | str = 1,
    dilation: int | tuple[int, int] | str = 1,
    anchor: tuple[int, int] | str | None = None,
) -> Geometry:
    """Plan where a kernel of ``kernel_shape`` goes on an image of ``in_shape``.

    Parameters
    ----------
    in_shape : tuple of int
        ``(rows, columns)`` of the input.
    kernel_shape : tuple of int
        ``(rows, columns)`` of the kernel.
    padding : str, int, tuple or Padding
        ``same`` (the output keeps the input's size at stride 1), ``valid``,
        ``full``, ``N``, ``(PY, PX)`` or ``(T, B, L, R)``.
    stride, dilation : int or (int, int)
        Step between output samples, and between kernel taps, per axis.
    anchor : (int, int), optional
        Kernel cell over the output pixel; ``(kh // 2, kw // 2)`` by default.
        It sets the padding split of ``same`` and nothing else.

    Returns
    -------
    Geometry

    Raises
    ------
    GeometryError
        If the stride or dilation is below 1, the anchor is outside the
        kernel, or the kernel does not fit the padded input.

    Examples
    --------
    >>> plan((7, 7), (3, 3), padding="valid").out_shape
    (5, 5)
    >>> plan((64, 64), (5, 5), padding=2, stride=1).out_shape
    (64, 64)
    >>> plan((10, 10), (3, 3), stride=4).out_shape  # same: ceil(10 / 4)
    (3, 3)
    """
    h, w = in_shape
    kh, kw = kernel_shape
    if h < 1 or w < 1:
        msg = f"the input has {rows_by_columns(h, w)}; expected at least one row and one column"
        raise GeometryError(msg)
    if kh < 1 or kw < 1:
        msg = f"the kernel is {kh}x{kw}; expected at least one row and one column"
        raise GeometryError(msg)
    pad = Padding.parse(padding)
    sy, sx = parse_pair(stride, "stride")
    dy, dx = parse_pair(dilation, "dilation")
    ay, ax = parse_anchor(anchor) or (kh // 2, kw // 2)
    if not (0 <= ay < kh and 0 <= ax < kw):
        msg = f"anchor {ay},{ax} is outside the {kh}x{kw} kernel; expected 0..{kh - 1},0..{kw - 1}"
        raise GeometryError(msg)
    if pad.kind == "same":
        pads = (dy * ay, dy * (kh - 1 - ay), dx * ax, dx * (kw - 1 - ax))
    elif pad.kind == "valid":
        pads = (0, 0, 0, 0)
    elif pad.kind == "full":
        pads = (dy * (kh - 1), dy * (kh - 1), dx * (kw - 1), dx * (kw - 1))
    else:
        pads = (pad.top, pad.bottom, pad.left, pad.right)
    top, bottom, left, right = pads
    ho = output_length(h, kh, top, bottom, sy, dy)
    wo = output_length(w, kw, left, right, sx, dx)
    if ho < 1 or wo < 1:
        reach_y, reach_x = dy * (kh - 1) + 1, dx * (kw - 1) + 1
        padded = rows_by_columns(h + top + bottom, w + left + right)
        msg = (
            f"the {kh}x{kw} kernel (reach {reach_y}x{reach_x} with dilation {dy},{dx}) "
            f"is larger than the padded input, {padded} ({h} by {w} before padding {pad})"
        )
        raise GeometryError(msg)
    return Geometry(
        in_shape=(h, w),
        kernel_shape=(kh, kw),
        anchor=(ay, ax),
        stride=(sy, sx),
        dilation=(dy, dx),
        pads=pads,
        out_shape=(ho, wo),
    )


def band_rows(geometry: Geometry, row_bytes: int, budget: int) -> int:
    """Output rows per band, so that a band's input rows take about ``budget`` bytes.

    ``row_bytes`` is what one input row takes; a band reads the kernel's
    reach plus a stride per further output row.

    Examples
    --------
    >>> band_rows(plan((100, 10), (3, 3)), 40, 400)
    8
    """
    return max(1, (budget // max(1, row_bytes) - geometry.reach[0]) // geometry.stride[0] + 1)


def bands(geometry: Geometry, height: int) -> list[tuple[int, int, slice, Padding]]:
    """Cut the output into bands of about ``height`` rows, each computable on its own.

    For each band: its first and end output rows, the input rows it reads
    and the padding those rows need (the image's own top or bottom padding
    at an edge, none where the neighbouring rows are real), so that a band
    filtered with that padding gives exactly those rows of the whole result.
    A band at the top holds the image rows its padding copies (a reflection
    reads ``top + 1`` of them), and so does one at the bottom: short end
    bands are merged into their neighbours.

    Examples
    --------
    >>> g = plan((10, 4), (3, 3))
    >>> [(a, b, r.start, r.stop, (p.top, p.bottom)) for a, b, r, p in bands(g, 4)]
    [(0, 4, 0, 5, (1, 0)), (4, 8, 3, 9, (0, 0)), (8, 10, 7, 10, (0, 1))]
    """
    (ho, _), (sy, _), reach = geometry.out_shape, geometry.stride, geometry.reach[0]
    top, bottom, left, right = geometry.pads
    rows = geometry.in_shape[0]
    bounds = [[first, min(ho, first + height)] for first in range(0, ho, height)]

    def first_row(first: int) -> int:
        return first * sy - top

    def end_row(stop: int) -> int:
        return (stop - 1) * sy + reach - top

    # The first band must reach row top + 1; the next must start inside the image.
    while len(bounds) > 1 and (
        end_row(bounds[0][1]) < min(rows, top + 1) or first_row(bounds[1][0]) < 0
    ):
        bounds[0][1] = bounds.pop(1)[1]
    while len(bounds) > 1 and (
        first_row(bounds[-1][0]) > max(0, rows - bottom - 1) or end_row(bounds[-2][1]) > rows
    ):
        merged = bounds.pop()
        bounds[-1][1] = merged[1]
    planned = []
    for first, stop in bounds:
        start, end = first_row(first), end_row(stop)
        pads = Padding("explicit", max(0, -start), max(0, end - rows), left, right)
        planned.append((first, stop, slice(max(0, start), min(rows, end)), pads))
    return planned


def rows_by_columns(rows: int, columns: int) -> str:
    """``"5 rows by 1 column"``: a size in words, which no reader can take for width x height."""
    return f"{rows} row{'s' * (rows != 1)} by {columns} column{'s' * (columns != 1)}"
