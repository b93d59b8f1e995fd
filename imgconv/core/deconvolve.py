"""Deconvolution: undo a known blur (a point spread function, PSF).

The blur model is true convolution with a PSF normalised to sum 1,

    blurred[i, j] = sum over u, v of psf[u, v] * image[i - (u - a_y), j - (v - a_x)]

with ``(a_y, a_x)`` the PSF's anchor (its centre, ``(kh // 2, kw // 2)``, by
default): a single bright pixel comes out as the PSF itself. It is what
``imgconv apply PSF --flip`` computes, and what ``imgconv blur`` makes.

Three methods undo it, each on every plane of an ``(H, W)`` or
``(H, W, C)`` array:

:func:`wiener`
    ``X = (1 + balance) conj(H) / (|H|^2 + balance) * Y`` in the frequency
    domain, with ``H`` the PSF's transfer function and ``balance`` the
    noise-to-signal power ratio, taken as constant: small for a clean
    image, larger for a noisy one. The factor ``1 + balance`` keeps the
    gain at zero frequency 1, so a flat area keeps its brightness (the
    textbook filter darkens it by ``1 / (1 + balance)``).
:func:`richardson_lucy`
    the iterative maximum-likelihood method for non-negative images:
    ``x <- x * (psf_flipped * (y / (psf * x)))``; more iterations recover
    more detail and more noise.
:func:`inverse`
    ``X = Y / H`` where ``|H| >= cutoff``, and 0 where the blur has (nearly)
    erased a frequency: the textbook inverse filter, regularised only by
    that cutoff. It shows why the others exist.

The transforms are circular, so the image is first extended beyond each
border by at least the PSF's size (mirrored, the edge pixel repeated) and the
extension faded to the image's mean, so that the far edges meet without a
jump. Blurred light that wraps around lands in the extension, which is cut
off again at the end. All work is in float64 with ``scipy.fft`` on every
core; the result has the input's float type (float64 for integers).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import GeometryError, KernelError, UsageError
from .geometry import rows_by_columns
from .spatial import workers
from .spectral import fast_length

DeconvolveMethod = Literal["wiener", "richardson-lucy", "inverse"]
DECONVOLVE_METHODS: tuple[DeconvolveMethod, ...] = ("wiener", "richardson-lucy", "inverse")

#: Wiener's balance by default. Measured on camera.png blurred by gaussian:2
#: and by motion:15,30, rounded to 8 bits, with Gaussian noise of sigma 0, 1
#: and 2 (8-bit units): 0.01 was best or within 1.4 dB of the best of
#: 0.0001 to 0.03 in all six cases, while 0.003 (near the best without
#: noise) gained only 0.8 dB over the blurred image under motion blur with
#: sigma 2. A ratio rising with frequency (``balance * |Laplacian|``) was
#: tried too: as good on these cases, but on the motion-blurred clock of
#: the README it let the low-frequency zeros of a long motion blur through
#: as stripes.
DEFAULT_BALANCE = 0.01
#: Richardson-Lucy's iterations by default. On the same six cases the PSNR
#: rose at every step from 5 to 50 iterations; from 50 to 100 it rose
#: without noise and fell with sigma 2, where the noise starts to grow.
DEFAULT_ITERATIONS = 50
#: The inverse filter drops frequencies the PSF passes at less than this:
#: on the same cases 0.1 was within 0.8 dB of the best of 0.02..0.3 with
#: noise of sigma 1 and 2.
DEFAULT_CUTOFF = 0.1

#: Richardson-Lucy divides by the re-blurred estimate, clamped below at this
#: share of the image's largest value (so dark areas never divide by zero).
RL_EPSILON = 1e-7

#: ``progress(done, total)``: called after each Richardson-Lucy iteration.
Progress = Callable[[int, int], None]

FloatArray = NDArray[np.floating]


def normalize_psf(psf: ArrayLike, *, name: str = "PSF") -> NDArray[np.float64]:
    """The PSF as float64 weights that sum to 1.

    Parameters
    ----------
    psf : array_like
        A 2-D matrix of finite numbers with a positive sum.
    name : str
        How messages refer to it.

    Returns
    -------
    ndarray
        ``psf / psf.sum()``.

    Raises
    ------
    KernelError
        If the PSF is not a non-empty 2-D matrix, holds NaN or infinite
        values, is all zeros, or sums to zero or less (a blur spreads
        light: its weights sum to a positive amount).

    Examples
    --------
    >>> normalize_psf([[1, 2, 1]]).tolist()
    [[0.25, 0.5, 0.25]]
    """
    try:
        weights = np.array(psf, dtype=np.float64)
    except (TypeError, ValueError):
        msg = f"PSF {name!r} is not a matrix of numbers"
        raise KernelError(msg) from None
    if weights.ndim != 2 or weights.size == 0:
        msg = f"PSF {name!r} has shape {weights.shape}; expected a non-empty 2-D matrix"
        raise KernelError(msg)
    if not np.isfinite(weights).all():
        msg = f"PSF {name!r} holds NaN or infinite values; expected finite numbers"
        raise KernelError(msg)
    if not weights.any():
        msg = f"PSF {name!r} is all zeros; expected a blur whose weights sum to more than 0"
        raise KernelError(msg)
    with np.errstate(over="ignore"):
        total, size = float(weights.sum()), float(np.abs(weights).sum())
    if not math.isfinite(size):
        # Weights near the float range sum past it: divide by the largest
        # first (normalising makes the scale moot).
        weights = weights / np.abs(weights).max()
        total, size = float(weights.sum()), float(np.abs(weights).sum())
    if not total > 1e-12 * size:
        msg = (
            f"PSF {name!r} sums to {total:.6g}; a blur spreads light, so its weights must sum "
            "to more than 0 (it is then normalised to sum 1)"
        )
        raise KernelError(msg)
    normalized: NDArray[np.float64] = weights / total
    return normalized


def check_fits(
    psf_shape: tuple[int, int],
    image_shape: tuple[int, ...],
    *,
    name: str = "PSF",
    where: str = "",
) -> None:
    """Refuse a PSF larger than the image it would blur or undo.

    Parameters
    ----------
    psf_shape : (int, int)
        The PSF's rows and columns.
    image_shape : tuple of int
        The image's shape, ``(H, W)`` or ``(H, W, C)``.
    name : str
        How the message names the PSF.
    where : str
        How the message names the image (``'in.png'``), if at all.

    Raises
    ------
    GeometryError
        Naming both sizes.
    """
    (kh, kw), (h, w) = psf_shape, image_shape[:2]
    if kh > h or kw > w:
        image = f"image {where}" if where else "image"
        msg = (
            f"PSF {name!r} is {kh} x {kw}, larger than the {image} ({rows_by_columns(h, w)}); "
            "expected a PSF that fits inside the image"
        )
        raise GeometryError(msg)


def wiener(
    image: ArrayLike,
    psf: ArrayLike,
    *,
    balance: float = DEFAULT_BALANCE,
    anchor: tuple[int, int] | None = None,
) -> FloatArray:
    """Wiener deconvolution with a constant noise-to-signal ratio.

    Parameters
    ----------
    image : array_like
        The blurred image, ``(H, W)`` or ``(H, W, C)``; each plane is
        restored on its own.
    psf : array_like
        The blur, 2-D; normalised to sum 1 here.
    balance : float
        The noise-to-signal power ratio, > 0: ``1e-8`` nearly inverts a
        clean blur, ``0.01`` and more smooths a noisy one.
    anchor : (int, int), optional
        The PSF cell that is the blur's centre; ``(kh // 2, kw // 2)`` by
        default.

    Returns
    -------
    ndarray
        The restored image, of ``image``'s shape and float type.

    Examples
    --------
    >>> psf = np.array([[1.0, 2.0, 1.0]])
    >>> sharp = np.zeros((5, 9)); sharp[2, 4] = 1.0
    >>> blurred = np.zeros((5, 9)); blurred[2, 3:6] = [0.25, 0.5, 0.25]
    >>> bool(np.abs(wiener(blurred, psf, balance=1e-9) - sharp).max() < 1e-4)
    True
    """
    if not np.isfinite(balance) or balance <= 0:
        msg = f"balance {balance!r} is not a positive number; expected e.g. {DEFAULT_BALANCE}"
        raise UsageError(msg)
    restore = _Spectral(image, psf, anchor)
    otf = restore.otf
    gain = (1 + balance) * np.conj(otf) / (otf.real**2 + otf.imag**2 + balance)
    return restore.apply(gain)


def inverse(
    image: ArrayLike,
    psf: ArrayLike,
    *,
    cutoff: float = DEFAULT_CUTOFF,
    anchor: tuple[int, int] | None = None,
) -> FloatArray:
    """The inverse filter: divide by the blur's transfer function where it is not too small.

    Parameters
    ----------
    image : array_like
        The blurred image, ``(H, W)`` or ``(H, W, C)``.
    psf : array_like
        The blur, 2-D; normalised to sum 1 here.
    cutoff : float
        Frequencies the PSF passes at less than this (``|H| < cutoff``, of
        1 at zero frequency) are set to 0 rather than divided by a number
        near 0. Between 0 (exclusive) and 1.
    anchor : (int, int), optional
        The PSF cell that is the blur's centre.

    Returns
    -------
    ndarray
        The restored image, of ``image``'s shape and float type.
    """
    if not np.isfinite(cutoff) or not 0 < cutoff <= 1:
        msg = f"cutoff {cutoff!r} is not in 0..1; expected e.g. {DEFAULT_CUTOFF}"
        raise UsageError(msg)
    restore = _Spectral(image, psf, anchor)
    otf = restore.otf
    magnitude = np.abs(otf)
    kept = magnitude >= cutoff
    gain = np.where(kept, 1 / np.where(kept, otf, 1), 0)
    return restore.apply(gain)


def richardson_lucy(
    image: ArrayLike,
    psf: ArrayLike,
    *,
    iterations: int = DEFAULT_ITERATIONS,
    anchor: tuple[int, int] | None = None,
    progress: Progress | None = None,
) -> FloatArray:
    """Richardson-Lucy deconvolution: multiplicative updates that keep values >= 0.

    Each iteration re-blurs the estimate, divides the image by it (the
    divisor clamped below at :data:`RL_EPSILON` times the image's largest
    value) and multiplies the estimate by that ratio blurred with the PSF
    turned 180 degrees. Negative input values (noise) are taken as 0.

    Parameters
    ----------
    image : array_like
        The blurred image, ``(H, W)`` or ``(H, W, C)``, non-negative.
    psf : array_like
        The blur, 2-D, with no negative weights; normalised to sum 1 here.
    iterations : int
        How many updates, >= 1. The estimate starts as the image itself.
    anchor : (int, int), optional
        The PSF cell that is the blur's centre.
    progress : callable, optional
        ``progress(done, total)`` after each iteration.

    Returns
    -------
    ndarray
        The restored image, >= 0 everywhere, of ``image``'s shape and float
        type.

    Raises
    ------
    KernelError
        For a PSF with negative weights (the updates would no longer keep
        the estimate non-negative).
    """
    from scipy import fft

    if iterations < 1:
        msg = f"iterations {iterations!r} is fewer than 1; expected e.g. {DEFAULT_ITERATIONS}"
        raise UsageError(msg)
    restore = _Spectral(image, psf, anchor, non_negative=True)
    if (restore.psf < 0).any():
        msg = (
            "richardson-lucy needs a PSF without negative weights (a blur spreads light); "
            "use --method wiener for this one"
        )
        raise KernelError(msg)
    otf = restore.otf[..., None]
    mirrored = np.conj(otf)  # the PSF turned 180 degrees
    observed = restore.extended
    shape, count = observed.shape[:2], workers()
    floor = RL_EPSILON * max(float(observed.max()), np.finfo(np.float64).tiny)
    estimate = observed.copy()
    for done in range(1, iterations + 1):
        spectrum = fft.rfft2(estimate, axes=(0, 1), workers=count)
        reblurred = fft.irfft2(spectrum * otf, s=shape, axes=(0, 1), workers=count)
        ratio = observed / np.maximum(reblurred, floor)
        spectrum = fft.rfft2(ratio, axes=(0, 1), workers=count)
        correction = fft.irfft2(spectrum * mirrored, s=shape, axes=(0, 1), workers=count)
        # Rounding in the transforms can dip a correction below 0 where the
        # ratio is 0; the true value is >= 0.
        estimate *= np.maximum(correction, 0)
        if progress is not None:
            progress(done, iterations)
    return restore.crop(estimate)


def deconvolve(
    image: ArrayLike,
    psf: ArrayLike,
    *,
    method: DeconvolveMethod = "wiener",
    balance: float = DEFAULT_BALANCE,
    iterations: int = DEFAULT_ITERATIONS,
    cutoff: float = DEFAULT_CUTOFF,
    anchor: tuple[int, int] | None = None,
    progress: Progress | None = None,
) -> FloatArray:
    """Undo the blur ``psf`` with ``method``; the other methods' settings are ignored.

    Parameters
    ----------
    image : array_like
        The blurred image, ``(H, W)`` or ``(H, W, C)``.
    psf : array_like
        The blur, 2-D.
    method : {'wiener', 'richardson-lucy', 'inverse'}
        See :func:`wiener`, :func:`richardson_lucy` and :func:`inverse`.
    balance : float
        Wiener's noise-to-signal ratio.
    iterations : int
        Richardson-Lucy's number of iterations.
    cutoff : float
        The inverse filter's cutoff.
    anchor : (int, int), optional
        The PSF cell that is the blur's centre.
    progress : callable, optional
        Richardson-Lucy's ``progress(done, total)``.

    Returns
    -------
    ndarray
        The restored image.
    """
    if method not in DECONVOLVE_METHODS:
        msg = f"unknown method {method!r}; expected one of {', '.join(DECONVOLVE_METHODS)}"
        raise UsageError(msg)
    if method == "wiener":
        return wiener(image, psf, balance=balance, anchor=anchor)
    if method == "inverse":
        return inverse(image, psf, cutoff=cutoff, anchor=anchor)
    return richardson_lucy(image, psf, iterations=iterations, anchor=anchor, progress=progress)


class _Spectral:
    """An image extended for circular transforms, and its PSF's transfer function."""

    def __init__(
        self,
        image: ArrayLike,
        psf: ArrayLike,
        anchor: tuple[int, int] | None,
        *,
        non_negative: bool = False,
    ) -> None:
        data = np.asarray(image)
        if data.ndim not in (2, 3) or data.size == 0:
            msg = f"image has shape {data.shape}; expected (H, W) or (H, W, C)"
            raise GeometryError(msg)
        self.dtype = data.dtype if data.dtype.kind == "f" else np.dtype(np.float64)
        self.flat = data.ndim == 2
        planes = data.astype(np.float64)
        if self.flat:
            planes = planes[..., None]
        if not np.isfinite(planes).all():
            msg = "image holds NaN or infinite values; expected finite numbers"
            raise UsageError(msg)
        if non_negative:
            np.maximum(planes, 0, out=planes)
        self.psf = normalize_psf(psf)
        kh, kw = self.psf.shape
        check_fits((kh, kw), planes.shape)
        ay, ax = (kh // 2, kw // 2) if anchor is None else anchor
        if not (0 <= ay < kh and 0 <= ax < kw):
            msg = f"anchor {ay},{ax} is outside the {kh}x{kw} PSF; expected 0..{kh - 1},0..{kw - 1}"
            raise GeometryError(msg)
        h, w = planes.shape[:2]
        # A margin of at least the PSF's size on every side, grown to a fast
        # transform length.
        th, tw = fast_length(h + 2 * kh), fast_length(w + 2 * kw)
        self.window = (kh, kh + h, kw, kw + w)
        self.extended = _extend(planes, (kh, th - h - kh), (kw, tw - w - kw))
        self.otf = _transfer(self.psf, (ay, ax), (th, tw))

    def apply(self, gain: NDArray[np.generic]) -> FloatArray:
        """Multiply the extended image's spectrum by ``gain`` and return the image's part."""
        from scipy import fft

        shape, count = self.extended.shape[:2], workers()
        spectrum = fft.rfft2(self.extended, axes=(0, 1), workers=count)
        spectrum *= gain[..., None]
        return self.crop(fft.irfft2(spectrum, s=shape, axes=(0, 1), workers=count))

    def crop(self, extended: NDArray[np.float64]) -> FloatArray:
        """The image's window of an extended array, in the input's shape and float type."""
        top, bottom, left, right = self.window
        out = extended[top:bottom, left:right]
        if self.flat:
            out = out[..., 0]
        return np.ascontiguousarray(out, dtype=self.dtype)


def _transfer(
    psf: NDArray[np.float64], anchor: tuple[int, int], shape: tuple[int, int]
) -> NDArray[np.complex128]:
    """The PSF's transfer function on a ``shape`` grid, its anchor at the origin."""
    from scipy import fft

    kh, kw = psf.shape
    placed = np.zeros(shape)
    placed[:kh, :kw] = psf
    placed = np.roll(placed, (-anchor[0], -anchor[1]), axis=(0, 1))
    otf: NDArray[np.complex128] = fft.rfft2(placed, workers=workers())
    return otf


def _extend(
    planes: NDArray[np.float64], rows: tuple[int, int], cols: tuple[int, int]
) -> NDArray[np.float64]:
    """Mirror ``planes`` by ``rows`` (above, below) and ``cols`` (left, right), fading to the mean.

    The mirrored margins fade, on a raised cosine, from the image's edge to
    its mean, so the array's opposite edges meet smoothly under a circular
    transform. Non-negative planes stay non-negative.
    """
    h, w = planes.shape[:2]
    extended = np.pad(planes, (rows, cols, (0, 0)), mode="symmetric")
    mean = planes.mean(axis=(0, 1))
    fade = _fade(h, *rows)[:, None, None] * _fade(w, *cols)[None, :, None]
    extended -= mean
    extended *= fade
    extended += mean
    return extended


def _fade(size: int, before: int, after: int) -> NDArray[np.float64]:
    """1 over ``size`` samples, rising from near 0 over ``before`` and falling over ``after``."""
    weights = np.ones(before + size + after)
    if before:
        weights[:before] = 0.5 - 0.5 * np.cos(np.pi * (np.arange(before) + 0.5) / before)
    if after:
        weights[before + size :] = 0.5 + 0.5 * np.cos(np.pi * (np.arange(after) + 0.5) / after)
    return weights
