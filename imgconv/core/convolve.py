"""The numeric core: apply one 2-D kernel to an (H, W) or (H, W, C) array.

By default the kernel is applied as written (cross-correlation, as OpenCV's
``filter2D``, libvips ``conv`` and CNN layers do)::

    out[i, j] = sum_{u, v} K[u, v] * P[i*s_y + d_y*u, j*s_x + d_x*v]

``flip=True`` rotates the kernel 180 degrees about its anchor first, which
is true convolution (``scipy.ndimage.convolve``, ImageMagick ``-morphology
Convolve``). ``P`` is the input padded as :mod:`imgconv.core.geometry`
plans, with border pixels from :class:`imgconv.core.vocab.Border`.

Three methods compute the same thing. The direct and separable methods
compute only the sampled rows, and along a row every column up to a
stride of 8 (then copy out the sampled ones), so a stride of 4 costs
about a quarter of stride 1; the FFT transforms every input position, and
back only the sampled rows, so a stride of 4 costs it about half:

``direct``
    One multiply-add over strided views of the padded input per non-zero
    kernel cell.
``separable``
    For rank-1 kernels (box, Gaussian, Sobel): a column pass on the sampled
    rows, then a row pass on the sampled columns.
``fft``
    Overlap-save FFT blocks of the padded input, whose spectra are folded
    to the sampled rows before the inverse transforms; wins for large
    dense kernels.

No method pads the whole image: the outputs whose taps all fall inside it
read the image itself, and only a frame of outputs near the edges (for the
FFT, the blocks that cross an edge) reads padded copies of just what it
needs (:func:`correlate_framed`). Every output is computed by the same
sequence of operations wherever it lies and however the work is cut into
strips, bands or tiles, so those give the whole image's numbers to the bit
(the FFT's bands start on the whole image's block grid for this).

No click, rich, PIL or file I/O here.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import GeometryError, UsageError
from . import spatial, spectral
from .geometry import Geometry, band_rows, bands, plan
from .kernels import Kernel
from .vocab import Border, Padding, parse_anchor

Method = Literal["auto", "direct", "separable", "fft"]
#: A method as chosen: what "auto" becomes.
Chosen = Literal["direct", "separable", "fft"]
METHODS: tuple[Method, ...] = ("auto", "direct", "separable", "fft")
FloatArray = NDArray[np.floating]

# The cost model of choose_method, in nanoseconds per sample and channel:
# one array pass of the direct method and of the separable method (see
# spatial.passes: taps of equal weight share a multiply, +-1 weights have
# none), and a position of the FFT method (per position of the padded
# input and channel, before the overlap of one channel's blocks), plus the
# FFT's fixed cost. No method pads the whole image (see correlate_framed).
# `python benchmarks/calibrate.py` measures them. These are from the
# reference machine (2-core EPYC, 32 MB L3), 4096 x 4096 RGB float32:
# separable 15x15 Gaussian 0.31 s (43 passes, 0.14 each), 15x15 box 0.19
# s, 5x5 Gaussian 0.20 s; 3x3 sharpen direct 0.084 s (5 passes, 0.20 each
# with the fixed cost of reading the image and making the output); and the
# FFT 8.0 (calibrate.py, 7.8 to 8.4 for 15x15 to 63x63 random kernels;
# 15x15 and 31x31 take 0.34 to 0.44 s). Before blocks of interleaved
# channels in reused buffers it was 10.5, and on a Xeon the three were
# 8.0, 0.26 and 0.3. What they decide: direct for 3x3 and sparse 5x5
# kernels, FFT for dense ones from 5x5; separable for rank-1 kernels up
# to 15x15 Gaussians and 31x31 boxes, FFT for 31x31 Gaussians.
_DIRECT_PASS = 0.2
_SEPARABLE_PASS = 0.14
_FFT_POSITION = 8.0
_FFT_SETUP = 2e5
# The forward transforms' share of the FFT method's time, which a row
# stride does not reduce (the inverse ones shrink by it): calibrate.py,
# 0.5 to 0.71 for 15x15 to 63x63 random kernels at a row stride of 4
# (31x31: 0.37 s at stride 1, 0.20 s at stride 4).
_FFT_FORWARD = 0.6
# Separable must beat direct by this factor: within the model's error
# (calibrations vary by 20%), direct keeps no column-pass buffer.
_SEPARABLE_MARGIN = 1.25
# correlate() pads and filters a large image in bands of about this many
# bytes of floats: the padding is then one band's copy, made while in cache.
BAND_BYTES = 4 << 20
# Kernels of higher rank are never split into separable terms.
_MAX_SEPARABLE_RANK = 3


def refuse_overflow(
    values: NDArray[np.floating], source: NDArray[np.generic], overflowed: str, causes: str
) -> None:
    """Refuse ``values`` that overflowed their float type, from a ``source`` with none.

    ``overflowed`` starts the message ("the result overflows") and
    ``causes`` lists what can be too large. A source that already holds NaN
    or infinity passes: its results are what it makes them.

    Raises
    ------
    UsageError
        Some value is NaN or infinite and no source value is.
    """
    if np.isfinite(values).all() or not np.isfinite(source).all():
        return
    largest = float(np.finfo(values.dtype).max)
    msg = (
        f"{overflowed}: values beyond {largest:.3g} (the range of {values.dtype}) came from "
        f"{causes}; expected smaller numbers"
    )
    raise UsageError(msg)


def work_dtype(dtype: np.dtype[np.generic] | type) -> np.dtype[np.floating]:
    """The floating type arithmetic is done in for an input of ``dtype``.

    8- and 16-bit integers and float16/float32 work in float32 (exact for
    every 8- and 16-bit value); wider integers and float64 work in float64,
    so no input loses precision and integers never wrap.

    Examples
    --------
    >>> work_dtype(np.uint8), work_dtype(np.int32)
    (dtype('float32'), dtype('float64'))
    """
    dt = np.dtype(dtype)
    if dt.kind == "f" and dt.itemsize >= 8:
        return np.dtype(np.float64)
    if dt.kind in "iu" and dt.itemsize >= 4:
        return np.dtype(np.float64)
    if dt.kind not in "biuf":
        msg = f"images of type {dt} cannot be filtered; expected integers or floats"
        raise UsageError(msg)
    return np.dtype(np.float32)


def pad(image: NDArray[np.generic], geometry: Geometry, border: Border) -> FloatArray:
    """Pad ``image`` (H, W[, C]) as ``geometry`` says, in its working dtype.

    Border pixels follow ``border`` however wide the padding is (a wrap or
    reflect border wider than the image repeats the pattern).
    """
    top, bottom, left, right = geometry.pads
    data = image.astype(work_dtype(image.dtype), copy=False)
    widths = [(top, bottom), (left, right)] + [(0, 0)] * (data.ndim - 2)
    if not any(geometry.pads):
        return data
    if border.mode in ("zero", "constant"):
        return np.pad(data, widths, mode="constant", constant_values=border.fill)
    return np.pad(data, widths, mode=border.numpy_mode)  # type: ignore[call-overload, no-any-return]


def correlate(
    image: ArrayLike,
    kernel: Kernel | ArrayLike,
    *,
    flip: bool = False,
    padding: str | int | tuple[int, ...] | Padding = "same",
    border: str | Border = "edge",
    stride: int | tuple[int, int] | str = 1,
    dilation: int | tuple[int, int] | str = 1,
    anchor: tuple[int, int] | str | None = None,
    method: Method = "auto",
    banded: bool = False,
) -> FloatArray:
    """Apply one 2-D kernel to every channel of an image array.

    Parameters
    ----------
    image : array_like
        ``(H, W)`` or ``(H, W, C)`` numbers; the same kernel is applied to
        each channel on its own.
    kernel : Kernel or array_like
        The kernel; a :class:`Kernel` contributes its scale, bias and anchor.
    flip : bool
        Rotate the kernel 180 degrees about its anchor (true convolution).
    padding : str, int or tuple
        ``same`` (default), ``valid``, ``full``, ``N``, ``(PY, PX)`` or
        ``(T, B, L, R)``.
    border : str or Border
        What padded pixels hold: ``edge`` (default), ``zero``,
        ``constant:V``, ``reflect`` (``ba|abcd|dc``), ``reflect101``
        (``cb|abcd|cb``), ``wrap`` or any alias.
    stride, dilation : int or (int, int)
        Per-axis step between output samples and between kernel taps.
    anchor : (int, int), optional
        Overrides the kernel's anchor (``(kh // 2, kw // 2)`` by default).
    method : {'auto', 'direct', 'separable', 'fft'}
        How to compute; all agree to floating-point precision.
    banded : bool
        Filter a large image in bands of rows, each converted to floats
        while in cache, so that memory holds one band's float copy rather
        than the whole image's; the same numbers, to the bit, for every
        method. Off by default: unbanded, no method pads more than the
        frame of outputs near the edges, or the FFT blocks that cross an
        edge (see :func:`correlate_framed`), and a float image is read
        where it lies, which is faster. An 8-bit image, which must be
        converted anyway, filters as fast banded as not.

    Returns
    -------
    ndarray
        ``(H_out, W_out[, C])`` in float32, or float64 for float64 and
        32/64-bit integer inputs. ``H_out = floor((H + T + B - d*(kh-1) - 1)
        / s) + 1``; with ``same`` padding that is ``ceil(H / s)``.

    Raises
    ------
    GeometryError
        If the kernel does not fit, or stride or dilation is below 1.
    KernelError
        If the kernel is not a finite 2-D matrix.

    Examples
    --------
    >>> impulse = np.zeros((5, 5)); impulse[2, 2] = 1
    >>> k = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    >>> correlate(impulse, k)[1:4, 1:4].astype(int).tolist()
    [[9, 8, 7], [6, 5, 4], [3, 2, 1]]
    >>> correlate(impulse, k, flip=True)[1:4, 1:4].astype(int).tolist()
    [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    """
    data = np.asarray(image)
    if data.ndim not in (2, 3):
        msg = f"image has shape {data.shape}; expected (H, W) or (H, W, C)"
        raise GeometryError(msg)
    k = kernel if isinstance(kernel, Kernel) else Kernel(kernel)
    if anchor is not None:
        k = Kernel(k.weights, scale=k.scale, bias=k.bias, anchor=parse_anchor(anchor), name=k.name)
    if flip:
        k = k.flipped()
    geometry = plan(
        (data.shape[0], data.shape[1]),
        k.shape,
        padding=padding,
        stride=stride,
        dilation=dilation,
        anchor=k.origin,
    )
    rule = Border.parse(border)
    if method not in METHODS:
        msg = f"unknown method {method!r}; expected one of {', '.join(METHODS)}"
        raise UsageError(msg)
    chosen = choose_method(k.matrix, geometry) if method == "auto" else method
    if bands_wanted(data, rule, banded):
        out = _in_bands(data, k, geometry, rule, chosen)
    elif chosen == "fft" or interior(geometry) is not None:
        out = correlate_framed(data, k.matrix, geometry, rule, method=chosen)
    else:
        out = correlate_padded(pad(data, geometry, rule), k.matrix, geometry, method=chosen)
    if k.bias:
        out += k.bias
    return out


def bands_wanted(data: NDArray[np.generic], border: Border, banded: bool) -> bool:
    """Whether :func:`correlate` works in bands: asked to, large, and not a wrap border."""
    floats = data.size * work_dtype(data.dtype).itemsize
    return banded and floats > 2 * BAND_BYTES and border.mode != "wrap"


def _in_bands(
    data: NDArray[np.generic], kernel: Kernel, geometry: Geometry, border: Border, method: Chosen
) -> FloatArray:
    """:func:`correlate` band by band: each band's rows converted and filtered while in cache.

    Gives the whole image's numbers (see :func:`imgconv.core.geometry.bands`)
    with one band's float copy in memory instead of the whole image's.
    """
    ho, wo = geometry.out_shape
    out = np.empty((ho, wo, *data.shape[2:]), dtype=work_dtype(data.dtype))
    row_bytes = max(1, data[:1].size * out.itemsize)
    height = band_rows(geometry, row_bytes, BAND_BYTES)
    if method == "fft":
        height = spectral.aligned_band(height, geometry)
    # The FFT transforms in the whole image's blocks (see _to_block_end).
    blocks = spectral.whole_image_blocks(geometry) if method == "fft" else nullcontext()
    with blocks:
        for first, stop, rows, pads in bands(geometry, height):
            if method == "fft":
                rows, pads = _to_block_end(rows, pads, geometry)
            band = data[rows]
            part = plan(
                (band.shape[0], band.shape[1]),
                kernel.shape,
                padding=pads,
                stride=geometry.stride,
                dilation=geometry.dilation,
            )
            # Framed, not padded, and into the output itself: the band's
            # inside is read where it lies (a view), only its border rows and
            # columns are made, and no band-sized result is copied. A padded
            # copy of each band, filtered and copied, took 0.40 s against
            # 0.09 s unbanded (3x3 on 4096 x 4096 RGB).
            region = out[first:stop]
            correlate_framed(band, kernel.matrix, part, border, method=method, out=region)
    return out


def _to_block_end(rows: slice, pads: Padding, geometry: Geometry) -> tuple[slice, Padding]:
    """A band's input rows, and padding, run on to its last FFT block's end.

    With a row stride, a band's windows end up to ``stride - 1`` rows before
    the block the whole image transforms does: those rows (or the padding
    past the image's last row) make the band's blocks hold what the whole
    image's hold, so they give the same bits. They add no output row.
    """
    sy, total, bottom = geometry.stride[0], geometry.in_shape[0], geometry.pads[1]
    end = min(rows.stop + pads.bottom + sy - 1, total + bottom)
    return slice(rows.start, min(total, end)), replace(pads, bottom=max(0, end - total))


def interior(geometry: Geometry) -> tuple[int, int, int, int] | None:
    """The output rows and columns whose taps all fall inside the image, if any.

    Returns
    -------
    tuple of int or None
        ``(first_row, end_row, first_column, end_column)`` of the outputs
        that need no padding, or None where there are none.

    Examples
    --------
    >>> interior(plan((10, 8), (3, 3)))
    (1, 9, 1, 7)
    >>> interior(plan((10, 8), (3, 3), stride=2, padding="full"))
    (1, 4, 1, 3)
    """
    ranges = []
    for n, before, reach, step, size in zip(
        geometry.in_shape,
        geometry.pads[::2],
        geometry.reach,
        geometry.stride,
        geometry.out_shape,
        strict=True,
    ):
        # Output i reads padded positions i*step ... i*step + reach - 1,
        # which are image positions once ``before`` is taken off.
        first = -(-before // step)
        end = min(size, (n - reach + before) // step + 1)
        if end <= first:
            return None
        ranges += [first, end]
    return ranges[0], ranges[1], ranges[2], ranges[3]


def window(
    data: FloatArray, geometry: Geometry, border: Border, rows: slice, columns: slice
) -> FloatArray:
    """Rows and columns of the padded input (in its coordinates), made from the image alone.

    The same values :func:`pad` puts there, for a small part of the padded
    input (an edge strip) without padding the whole image.
    """
    top, _, left, _ = geometry.pads
    (h, w), mode = geometry.in_shape, border.mode
    y = np.arange(rows.start, rows.stop) - top
    x = np.arange(columns.start, columns.stop) - left
    rows_from, columns_from = _source_index(y, h, mode), _source_index(x, w, mode)
    # Runs of a row copied whole (an index on one axis and a slice on the
    # other), not pixel by pixel (one 2-D index): twice as fast for FFT
    # blocks. take() keeps the copy in C order, as the spatial methods'
    # passes need (an index after a slice puts the rows innermost).
    low, high = int(columns_from.min()), int(columns_from.max()) + 1
    piece: FloatArray = data[rows_from, low:high]
    if not np.array_equal(columns_from, np.arange(low, high)):
        piece = piece.take(columns_from - low, axis=1)
    if mode in ("zero", "constant"):
        piece[(y < 0) | (y >= h)] = border.fill
        piece[:, (x < 0) | (x >= w)] = border.fill
    return piece


def _source_index(index: NDArray[np.intp], n: int, mode: str) -> NDArray[np.intp]:
    """Where in an axis of ``n`` pixels each (possibly outside) index takes its value.

    Wide borders repeat the pattern as :func:`numpy.pad` does; a zero or
    constant border clamps here, and :func:`window` overwrites those cells.
    """
    if mode == "wrap":
        return index % n
    if mode == "reflect":  # ba|abcd|dc: period 2n
        folded = index % (2 * n)
        return np.where(folded < n, folded, 2 * n - 1 - folded)
    if mode == "reflect101" and n > 1:  # cb|abcd|cb: period 2n - 2
        folded = index % (2 * n - 2)
        return np.where(folded < n, folded, 2 * n - 2 - folded)
    return np.clip(index, 0, n - 1)


def correlate_framed(
    data: NDArray[np.generic],
    matrix: NDArray[np.float64],
    geometry: Geometry,
    border: Border,
    *,
    method: Chosen = "direct",
    out: FloatArray | None = None,
) -> FloatArray:
    """:func:`correlate_padded` of the padded image, without padding the whole image.

    The interior (see :func:`interior`) reads the image itself through
    views; only the frame around it, the outputs within the kernel's reach
    of an edge, is computed from small padded copies of the edge strips
    (see :func:`window`). The FFT method reads each block's window the
    same way: a view inside the image, a padded copy where it crosses an
    edge. Each output is computed by the same operations as from the padded
    image, so the numbers are the same to the bit. This saves the padding
    pass (a third of the time of a 3x3 kernel on a large image) and the
    padded copy's memory.

    Parameters
    ----------
    data : ndarray
        The unpadded ``(H, W[, C])`` image, in any dtype :func:`work_dtype`
        takes.
    matrix : ndarray
        The kernel, as applied (already flipped if convolving).
    geometry : Geometry
        The planned geometry.
    border : Border
        What the padding holds.
    method : {'direct', 'separable', 'fft'}
        Which method computes.
    out : ndarray, optional
        Where the result goes (a part of a larger array, say): the output's
        shape, in the working dtype. A new array by default.

    Returns
    -------
    ndarray
        ``(H_out, W_out[, C])`` in the working dtype: ``out`` when given.
    """
    work = data.astype(work_dtype(data.dtype), copy=False)
    if method == "fft":
        return _into(out, spectral.fft_correlate(_Framed(work, geometry, border), matrix, geometry))
    inside = interior(geometry)
    if inside is None:
        padded_work = pad(work, geometry, border)
        return _into(out, correlate_padded(padded_work, matrix, geometry, method=method))
    factors = _factors(matrix) if method == "separable" else None
    (ho, wo), (sy, sx), (ry, rx) = geometry.out_shape, geometry.stride, geometry.reach
    if out is None:
        out = np.empty((ho, wo, *work.shape[2:]), dtype=work.dtype)
    result = out

    def fill(first: int, end: int, left: int, right: int, source: FloatArray) -> None:
        region = result[first:end, left:right]
        if factors is None:
            spatial.direct_into(region, source, matrix, geometry.stride, geometry.dilation)
        else:
            spatial.separable_into(region, source, factors, geometry.stride, geometry.dilation)

    def padded(first: int, end: int, left: int, right: int) -> tuple[slice, slice]:
        return slice(first * sy, (end - 1) * sy + ry), slice(left * sx, (right - 1) * sx + rx)

    i0, i1, j0, j1 = inside
    top, _, left_pad, _ = geometry.pads
    # The interior straight from the image: its window is a view.
    rows, columns = padded(i0, i1, j0, j1)
    view = work[
        rows.start - top : rows.stop - top, columns.start - left_pad : columns.stop - left_pad
    ]
    fill(i0, i1, j0, j1, view)
    # The frame: bands above and below, strips left and right, each from a
    # padded copy of just the input it reads.
    frame = ((0, i0, 0, wo), (i1, ho, 0, wo), (i0, i1, 0, j0), (i0, i1, j1, wo))
    for first, end, left, right in frame:
        if first < end and left < right:
            piece = window(work, geometry, border, *padded(first, end, left, right))
            fill(first, end, left, right, piece)
    return result


def _into(out: FloatArray | None, made: FloatArray) -> FloatArray:
    """``made``, copied into ``out`` when there is one."""
    if out is None:
        return made
    out[...] = made
    return out


class _Framed:
    """The padded input of :func:`pad`, made a window at a time from the unpadded image.

    A window inside the image is a view of it; one that crosses an edge is
    a padded copy of just that window (:func:`window`).
    """

    def __init__(self, data: FloatArray, geometry: Geometry, border: Border) -> None:
        self.data, self.geometry, self.border = data, geometry, border
        self.shape = (*geometry.padded_shape, *data.shape[2:])
        self.dtype = data.dtype

    def __getitem__(self, key: tuple[slice, slice], /) -> FloatArray:
        rows, columns = key
        top, _, left, _ = self.geometry.pads
        (h, w) = self.geometry.in_shape
        y0, y1, x0, x1 = (
            rows.start - top,
            rows.stop - top,
            columns.start - left,
            columns.stop - left,
        )
        if 0 <= y0 and y1 <= h and 0 <= x0 and x1 <= w:
            return self.data[y0:y1, x0:x1]
        return window(self.data, self.geometry, self.border, rows, columns)


def _factors(matrix: NDArray[np.float64]) -> list[tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """:func:`separable_factors`, or the error the separable method gives without them."""
    factors = separable_factors(matrix)
    if factors is None:
        msg = (
            "the separable method needs a kernel of rank 1 to 3 (a sum of at most three "
            "outer products of two vectors)"
        )
        raise UsageError(msg)
    return factors


def correlate_padded(
    padded: FloatArray,
    matrix: NDArray[np.float64],
    geometry: Geometry,
    *,
    method: Method = "auto",
) -> FloatArray:
    """Correlate an already padded array with ``matrix`` at ``geometry``'s samples.

    This is the step shared by every caller that pads once and applies
    several kernels (alpha weighting, kernel sets). The result is a new
    array, never a view of ``padded``.
    """
    if method not in METHODS:
        msg = f"unknown method {method!r}; expected one of {', '.join(METHODS)}"
        raise UsageError(msg)
    chosen = choose_method(matrix, geometry) if method == "auto" else method
    if chosen == "separable":
        return spatial.separable(padded, _factors(matrix), geometry)
    if chosen == "fft":
        return spectral.fft_correlate(padded, matrix, geometry)
    return spatial.direct(padded, matrix, geometry)


def sample(padded: FloatArray, geometry: Geometry) -> FloatArray:
    """The padded input under the anchor at every output position.

    This is what an identity kernel would return: used for channels that
    pass through unfiltered, so they match the filtered ones in size.
    """
    rows, cols = geometry.tap(*geometry.anchor)
    return np.array(padded[rows, cols])


def choose_method(matrix: NDArray[np.float64], geometry: Geometry) -> Chosen:
    """Pick the cheapest method for this kernel and geometry by a model of the work.

    Costs are in nanoseconds per channel, from ``benchmarks/calibrate.py`` on
    the 2-core reference machine (see the constants): the direct method pays
    per array pass and sample (:func:`imgconv.core.spatial.passes`), the
    separable method per pass of its column pass over the sampled rows and
    every column read, and of its row pass over the samples, the FFT method
    per position of the padded input, less what a row stride saves its
    inverse transforms. A column stride
    of up to 8 saves the spatial methods nothing along a row: they sum
    every column (see :func:`imgconv.core.spatial.summed_columns`).
    """
    (ho, wo), (sy, sx) = geometry.out_shape, geometry.stride
    ry, rx = geometry.reach
    summed = float(ho * spatial.summed_columns(wo, sx))
    direct_passes = spatial.passes(spatial.sum_plan(_cells(matrix)))
    costs: dict[Chosen, float] = {"direct": _DIRECT_PASS * direct_passes * summed}
    factors = separable_factors(matrix)
    if factors is not None:
        width = min(geometry.padded_shape[1], sx * (wo - 1) + rx)
        total = 0.0
        for term, (column, row) in enumerate(factors):
            down = spatial.passes(spatial.sum_plan(_cells(column)))
            across = spatial.passes(spatial.sum_plan(_cells(row)), accumulate=term > 0)
            total += down * ho * width + across * summed
        if _SEPARABLE_PASS * total * _SEPARABLE_MARGIN < costs["direct"]:
            costs["separable"] = _SEPARABLE_PASS * total
    valid = (sy * (ho - 1) + 1, sx * (wo - 1) + 1)
    positions = float(valid[0] * valid[1])
    fold = spectral.row_step(sy)
    by, bx = spectral.block_shape((ry, rx), valid, row_step=fold)
    overlap = by * bx / float(spectral.block_rows((ry, rx), valid, fold) * (bx - rx + 1))
    # A row stride folded into the inverse transforms saves on them alone.
    share = _FFT_FORWARD + (1 - _FFT_FORWARD) / fold
    costs["fft"] = _FFT_POSITION * positions * overlap * share + _FFT_SETUP
    return min(costs, key=lambda m: costs[m])


def _cells(weights: NDArray[np.float64]) -> list[tuple[tuple[int, ...], float]]:
    """The non-zero cells of ``weights`` and their values, as the spatial methods take them."""
    return [(index, float(w)) for index, w in np.ndenumerate(weights) if w != 0]


def separable_factors(
    matrix: NDArray[np.float64],
) -> list[tuple[NDArray[np.float64], NDArray[np.float64]]] | None:
    """Up to three (column, row) pairs whose outer products sum to ``matrix``.

    A rank-1 matrix is factored from its own cells where it can be, so an
    integer kernel such as Sobel factors exactly; otherwise the terms come
    from the singular value decomposition. None for a matrix of rank above
    3 (or all zeros).
    """
    one = rank_one_factors(matrix)
    if one is not None:
        return [one]
    if min(matrix.shape) < 2:
        return None
    u, s, vt = np.linalg.svd(matrix)
    # Relative to the largest, at float32's precision: a kernel made as an
    # outer product (a normalised Gaussian, perhaps stored in float32) has
    # rank 1 up to rounding, which the cell test misses. Dropping terms this
    # small changes results by less than float32 arithmetic does.
    rank = int(np.count_nonzero(s > s[0] * 1e-6)) if s[0] > 0 else 0
    if not 1 <= rank <= _MAX_SEPARABLE_RANK:
        return None
    return [_tidy(u[:, i] * s[i], vt[i, :]) for i in range(rank)]


def _tidy(
    column: NDArray[np.float64], row: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Singular vectors made exactly (anti)symmetric where they nearly are; column peak 1.

    The product changes by rounding alone, and the spatial methods then
    share a multiply between mirrored taps and skip it for the 1 (a
    normalised Gaussian stored in float32 factors only through the SVD).
    """
    column, row = _mirrored(column), _mirrored(row)
    peak = column[np.argmax(np.abs(column))]
    return column / peak, row * peak


def _mirrored(vector: NDArray[np.float64]) -> NDArray[np.float64]:
    """``vector`` made exactly symmetric or antisymmetric if it is so to 1e-9 of its size."""
    reverse = vector[::-1]
    tolerance = 1e-9 * float(np.abs(vector).max())
    if np.abs(vector - reverse).max() <= tolerance:
        return (vector + reverse) / 2
    if np.abs(vector + reverse).max() <= tolerance:
        return (vector - reverse) / 2
    return vector


def rank_one_factors(
    matrix: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """Column and row vectors whose outer product is ``matrix``, if it has rank 1.

    The factors are taken from the matrix itself (its largest cell's column,
    and its row), so an integer kernel such as Sobel factors exactly, into
    whole numbers.
    """
    peak = np.unravel_index(int(np.argmax(np.abs(matrix))), matrix.shape)
    pivot = matrix[peak]
    if pivot == 0:
        return None
    column = matrix[:, peak[1]] / pivot
    row = matrix[peak[0], :]
    # Where the column is whole numbers, or whole multiples of its smallest
    # cell, divide by their greatest common divisor instead: both factors
    # are then exact (Scharr is [3, 10, 3] x [-1, 0, 1], not [0.3, 1, 0.3] x
    # [-10, 0, 10]; the binomial [1, 4, 6, 4, 1] / 16 outer product keeps its
    # whole numbers), and integer images give exact results.
    cells = matrix[:, peak[1]]
    for unit in (1.0, float(np.abs(cells[cells != 0]).min())):
        counts = cells / unit
        if np.all(counts == np.round(counts)) and np.abs(counts).max() < 2**31:
            divisor = unit * int(np.gcd.reduce(np.abs(counts).astype(np.int64)))
            column = cells / (divisor * np.sign(pivot))
            row = matrix[peak[0], :] / column[peak[0]]
            break
    error = np.abs(np.outer(column, row) - matrix).max()
    if error > 1e-12 * abs(pivot):
        return None
    return column, row
