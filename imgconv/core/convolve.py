"""The numeric core: apply one 2-D kernel to an (H, W) or (H, W, C) array.

By default the kernel is applied as written (cross-correlation, as OpenCV's
``filter2D``, libvips ``conv`` and CNN layers do)::

    out[i, j] = sum_{u, v} K[u, v] * P[i*s_y + d_y*u, j*s_x + d_x*v]

``flip=True`` rotates the kernel 180 degrees about its anchor first, which
is true convolution (``scipy.ndimage.convolve``, ImageMagick ``-morphology
Convolve``). ``P`` is the input padded as :mod:`imgconv.core.geometry`
plans, with border pixels from :class:`imgconv.core.vocab.Border`.

Three methods compute the same thing; each evaluates only the sampled
output positions, so a stride of 4 costs about a sixteenth of stride 1:

``direct``
    One multiply-add over strided views of the padded input per non-zero
    kernel cell.
``separable``
    For rank-1 kernels (box, Gaussian, Sobel): a column pass on the sampled
    rows, then a row pass on the sampled columns.
``fft``
    ``scipy.signal.fftconvolve`` of the padded input, then sampling; wins
    for large dense kernels.

No click, rich, PIL or file I/O here.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import GeometryError, UsageError
from . import spatial, spectral
from .geometry import Geometry, band_rows, bands, plan
from .kernels import Kernel
from .vocab import Border, Padding, parse_anchor

Method = Literal["auto", "direct", "separable", "fft"]
METHODS: tuple[Method, ...] = ("auto", "direct", "separable", "fft")
FloatArray = NDArray[np.floating]

# The cost model of choose_method, in nanoseconds per sample and channel:
# a multiply-add of the direct method, an add of a weight of +-1, a
# separable tap, and a position of the FFT method (per position of the
# padded input, before the blocks' overlap), plus the FFT's fixed cost.
# `python benchmarks/calibrate.py` measures them; with both cores busy it
# overstated the FFT threefold, so _FFT_POSITION is from the quiet full run
# of benchmarks/RESULTS.md instead (4096 x 4096 RGB: 15x15 random by FFT
# 0.40 s, 15x15 Gaussian separable 0.87 s, 3x3 sharpen direct 0.14 s after
# padding). What they decide: direct up to 5x5 sparse kernels, FFT for dense
# ones from 5x5; separable for rank-1 kernels up to 5x5, FFT beyond.
_DIRECT_TAP = 0.6
_DIRECT_UNIT_TAP = 0.3
_SEPARABLE_TAP = 0.7
_FFT_POSITION = 8.0
_FFT_SETUP = 2e5
# correlate() pads and filters a large image in bands of about this many
# bytes of floats: the padding is then one band's copy, made while in cache.
BAND_BYTES = 4 << 20
# Kernels of higher rank are never split into separable terms.
_MAX_SEPARABLE_RANK = 3


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
        Pad and filter a large image in bands of rows, so that memory holds
        one band's padded copy rather than the whole image's; the same
        numbers. Off by default: one padding pass over the whole image is
        faster (4096 x 4096 RGB, 3x3: 0.21 s whole, 0.25 to 0.48 s banded).

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
    data: NDArray[np.generic], kernel: Kernel, geometry: Geometry, border: Border, method: Method
) -> FloatArray:
    """:func:`correlate` band by band: each band's rows padded and filtered while in cache.

    Gives the whole image's numbers (see :func:`imgconv.core.geometry.bands`)
    with one band's padded copy in memory instead of the whole image's.
    """
    ho, wo = geometry.out_shape
    out = np.empty((ho, wo, *data.shape[2:]), dtype=work_dtype(data.dtype))
    row_bytes = max(1, data[:1].size * out.itemsize)
    height = band_rows(geometry, row_bytes, BAND_BYTES)
    if method == "fft":
        height = spectral.aligned_band(height, geometry)
    for first, stop, rows, pads in bands(geometry, height):
        band = data[rows]
        part = plan(
            (band.shape[0], band.shape[1]),
            kernel.shape,
            padding=pads,
            stride=geometry.stride,
            dilation=geometry.dilation,
        )
        out[first:stop] = correlate_padded(
            pad(band, part, border), kernel.matrix, part, method=method
        )
    return out


def correlate_padded(
    padded: FloatArray,
    matrix: NDArray[np.float64],
    geometry: Geometry,
    *,
    method: Method = "auto",
) -> FloatArray:
    """Correlate an already padded array with ``matrix`` at ``geometry``'s samples.

    This is the step shared by every caller that pads once and applies
    several kernels (alpha weighting, kernel sets).
    """
    if method not in METHODS:
        msg = f"unknown method {method!r}; expected one of {', '.join(METHODS)}"
        raise UsageError(msg)
    chosen = choose_method(matrix, geometry) if method == "auto" else method
    if chosen == "separable":
        factors = separable_factors(matrix)
        if factors is None:
            msg = (
                "the separable method needs a kernel of rank 1 to 3 (a sum of at most three "
                "outer products of two vectors)"
            )
            raise UsageError(msg)
        return spatial.separable(padded, factors, geometry)
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


def choose_method(matrix: NDArray[np.float64], geometry: Geometry) -> Method:
    """Pick the cheapest method for this kernel and geometry by a model of the work.

    Costs are in nanoseconds per channel, from ``benchmarks/calibrate.py`` on
    the 2-core reference machine (see the constants): the direct method pays
    per non-zero cell and sample, the separable method per vector entry and
    sample (its column pass over every padded column), the FFT method per
    position of the padded input whatever the stride.
    """
    (ho, wo), wp = geometry.out_shape, geometry.padded_shape[1]
    samples = float(ho * wo)
    taps = np.count_nonzero(matrix)
    ones = np.count_nonzero(np.abs(matrix) == 1)
    costs: dict[Method, float] = {
        "direct": samples * (_DIRECT_TAP * (taps - ones) + _DIRECT_UNIT_TAP * ones)
    }
    factors = separable_factors(matrix)
    if factors is not None:
        per_term = [
            _SEPARABLE_TAP * (np.count_nonzero(c) * ho * wp + np.count_nonzero(r) * samples)
            for c, r in factors
        ]
        costs["separable"] = float(sum(per_term))
    ry, rx = geometry.reach
    (sy, sx) = geometry.stride
    valid = (sy * (ho - 1) + 1, sx * (wo - 1) + 1)
    positions = float(valid[0] * valid[1])
    by, bx = spectral.block_shape((ry, rx), valid)
    overlap = by * bx / float((by - ry + 1) * (bx - rx + 1))
    costs["fft"] = _FFT_POSITION * positions * overlap + _FFT_SETUP
    return min(costs, key=lambda m: costs[m])


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
    return [(u[:, i] * s[i], vt[i, :]) for i in range(rank)]


def rank_one_factors(
    matrix: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """Column and row vectors whose outer product is ``matrix``, if it has rank 1.

    The factors are taken from the matrix itself (its largest cell's column,
    and its row), so an integer kernel such as Sobel factors exactly.
    """
    peak = np.unravel_index(int(np.argmax(np.abs(matrix))), matrix.shape)
    pivot = matrix[peak]
    if pivot == 0:
        return None
    column = matrix[:, peak[1]] / pivot
    row = matrix[peak[0], :]
    error = np.abs(np.outer(column, row) - matrix).max()
    if error > 1e-12 * abs(pivot):
        return None
    return column, row
