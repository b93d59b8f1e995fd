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
from .geometry import Geometry, plan
from .kernels import Kernel
from .vocab import Border, Padding, parse_anchor

Method = Literal["auto", "direct", "separable", "fft"]
METHODS: tuple[Method, ...] = ("auto", "direct", "separable", "fft")
FloatArray = NDArray[np.floating]

# Relative cost of one FFT "butterfly" per pixel against one multiply-add
# pass of the direct method. The FFT path pays ~4 transforms of the padded
# block (forward and inverse; complex values), each about log2(N) passes.
# Measured on the 2-core reference machine: a 512x512 image crosses over
# from direct to FFT between 9x9 and 11x11 dense kernels.
_FFT_PASS_COST = 1.2
# Below this size the separable path's two passes do not pay for their setup.
_SEPARABLE_MIN_TAPS = 9


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
    padded = pad(data, geometry, Border.parse(border))
    out = correlate_padded(padded, k.matrix, geometry, method=method)
    if k.bias:
        out += k.bias
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
        factors = rank_one_factors(matrix)
        if factors is None:
            msg = "the separable method needs a rank-1 kernel (an outer product of two vectors)"
            raise UsageError(msg)
        return _separable(padded, factors, geometry)
    if chosen == "fft":
        return _fft(padded, matrix, geometry)
    return _direct(padded, matrix, geometry)


def sample(padded: FloatArray, geometry: Geometry) -> FloatArray:
    """The padded input under the anchor at every output position.

    This is what an identity kernel would return: used for channels that
    pass through unfiltered, so they match the filtered ones in size.
    """
    rows, cols = geometry.tap(*geometry.anchor)
    return np.array(padded[rows, cols])


def choose_method(matrix: NDArray[np.float64], geometry: Geometry) -> Method:
    """Pick the cheapest method for this kernel and geometry by counting work.

    The direct method costs one pass over the output per non-zero cell; the
    separable method one pass per row and column of the kernel; the FFT
    method a few transforms of the whole padded input whatever the stride.
    """
    (ho, wo), (hp, wp) = geometry.out_shape, geometry.padded_shape
    out_pixels = ho * wo
    taps = int(np.count_nonzero(matrix))
    direct = taps * out_pixels
    costs: dict[Method, float] = {"direct": float(direct)}
    kh, kw = matrix.shape
    if taps >= _SEPARABLE_MIN_TAPS and rank_one_factors(matrix) is not None:
        costs["separable"] = float(kh * ho * wp + kw * out_pixels)
    reach_y, reach_x = geometry.reach
    fy, fx = hp + reach_y - 1, wp + reach_x - 1
    costs["fft"] = _FFT_PASS_COST * 4 * fy * fx * float(np.log2(fy * fx))
    return min(costs, key=lambda m: costs[m])


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


def _direct(padded: FloatArray, matrix: NDArray[np.float64], geometry: Geometry) -> FloatArray:
    ho, wo = geometry.out_shape
    out = np.zeros((ho, wo, *padded.shape[2:]), dtype=padded.dtype)
    scratch = np.empty_like(out)
    for (u, v), weight in np.ndenumerate(matrix):
        if weight == 0:
            continue
        rows, cols = geometry.tap(u, v)
        np.multiply(padded[rows, cols], padded.dtype.type(weight), out=scratch)
        out += scratch
    return out


def _separable(
    padded: FloatArray,
    factors: tuple[NDArray[np.float64], NDArray[np.float64]],
    geometry: Geometry,
) -> FloatArray:
    column, row = factors
    (ho, wo), (sy, sx), (dy, dx) = geometry.out_shape, geometry.stride, geometry.dilation
    # Column pass: only the sampled rows, every padded column.
    partial = np.zeros((ho, *padded.shape[1:]), dtype=padded.dtype)
    scratch = np.empty_like(partial)
    for u, weight in enumerate(column):
        if weight == 0:
            continue
        np.multiply(padded[u * dy : u * dy + sy * (ho - 1) + 1 : sy], weight, out=scratch)
        partial += scratch
    # Row pass: only the sampled columns.
    out = np.zeros((ho, wo, *padded.shape[2:]), dtype=padded.dtype)
    scratch = np.empty_like(out)
    for v, weight in enumerate(row):
        if weight == 0:
            continue
        np.multiply(partial[:, v * dx : v * dx + sx * (wo - 1) + 1 : sx], weight, out=scratch)
        out += scratch
    return out


def _fft(padded: FloatArray, matrix: NDArray[np.float64], geometry: Geometry) -> FloatArray:
    from scipy import signal

    (dy, dx), (sy, sx), (ho, wo) = geometry.dilation, geometry.stride, geometry.out_shape
    reach_y, reach_x = geometry.reach
    dilated = np.zeros((reach_y, reach_x), dtype=padded.dtype)
    dilated[::dy, ::dx] = matrix
    # fftconvolve convolves; correlating means convolving with the flipped kernel.
    flipped = dilated[::-1, ::-1].reshape(dilated.shape + (1,) * (padded.ndim - 2))
    full = signal.fftconvolve(padded, flipped, mode="valid", axes=(0, 1))
    return np.ascontiguousarray(full[::sy, ::sx][:ho, :wo], dtype=padded.dtype)
