"""File-level deconvolution: undo a known blur, or make a blurred test case.

:func:`deconvolve_file` and :func:`blur_file` are what the command line's
``deconvolve`` and ``blur`` run, in the style of
:func:`imgconv.api.apply_file`: read an image (or every frame, or a numeric
matrix), treat its channels, alpha and depth as ``apply`` does
(:func:`imgconv.core.filtering.filter_image`), write the result atomically,
and say what was done. The numbers are :mod:`imgconv.core.deconvolve`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import BinaryIO, TypedDict, Unpack

import numpy as np
from numpy.typing import NDArray

from .api import (
    as_kernel_set,
    check_format,
    check_numeric,
    labelled_maps,
    memory_guard,
    write_frames,
)
from .core import deconvolve as core
from .core.filtering import (
    LUMA_WEIGHTS,
    FilterOptions,
    Result,
    filter_image,
    map_planes,
)
from .core.kernels import Bank, Kernel, KernelSet
from .core.mapping import DEPTHS, DepthName, MapMode, depth_of, units
from .errors import KernelError, UsageError
from .image_io import (
    DEFAULT_MAX_PIXELS,
    Picture,
    SaveOptions,
    check_frames,
    check_save_options,
    output_format,
    read_picture,
)

#: ``progress(done, total)``: Richardson-Lucy iterations done over all the
#: planes and frames, and how many there will be.
Progress = Callable[[int, int], None]


class RestoreOptions(TypedDict, total=False):
    """What :func:`deconvolve_file` and :func:`blur_file` take from ``apply``'s vocabulary.

    ``channels``, ``alpha``, ``map``, ``depth`` and ``keep_maps`` mean what
    they mean for :func:`imgconv.core.filtering.filter_image`.
    """

    channels: str
    alpha: str
    map: MapMode | None
    depth: DepthName | None
    keep_maps: bool


@dataclass(frozen=True)
class Restored:
    """What :func:`deconvolve_file` or :func:`blur_file` did.

    Attributes
    ----------
    source : str
        Input as given (``-`` for standard input).
    target : str or None
        Output as given (``-`` for standard output); None when nothing was
        written.
    format : str or None
        Output format (``PNG``, ``TIFF``, ``NPY``...).
    psf : Kernel
        The PSF as used: normalised to sum 1, with its anchor and name.
    method : str
        ``wiener``, ``richardson-lucy``, ``inverse``, or ``blur``.
    settings : tuple of (str, float)
        The method's settings as used: ``balance``, ``iterations`` or
        ``cutoff``; ``noise`` and ``seed`` for a blur with noise.
    in_shape : (int, int)
        Rows and columns of the input (and of the output).
    in_bands, out_bands : tuple of str
        Band names of the input and of the output.
    depth : str
        Output depth (``8``, ``16`` or ``float``).
    warnings : tuple of str
        Things the user should know (e.g. alpha dropped for JPEG).
    frames : int
        How many frames were processed.
    maps : tuple of (str, ndarray)
        The results before value mapping, in working units, labelled as
        ``apply`` labels them (empty with ``keep_maps=False``).
    numeric : bool
        Whether the input was a numeric matrix rather than an image.
    """

    source: str
    target: str | None
    format: str | None
    psf: Kernel
    method: str
    settings: tuple[tuple[str, float], ...]
    in_shape: tuple[int, int]
    in_bands: tuple[str, ...]
    out_bands: tuple[str, ...]
    depth: DepthName
    warnings: tuple[str, ...]
    frames: int = 1
    maps: tuple[tuple[str, NDArray[np.floating]], ...] = ()
    numeric: bool = False


def load_psf(
    psf: str | KernelSet | Kernel | Bank | None,
    *,
    psf_image: str | None = None,
    stdin: BinaryIO | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    command: str = "deconvolve",
) -> Kernel:
    """The PSF a command takes, normalised to sum 1.

    Parameters
    ----------
    psf : str, KernelSet, Kernel, Bank or None
        Any kernel form (a built-in such as ``gaussian:2``, a kernel file,
        an inline matrix, ``-`` for standard input) holding one 2-D kernel;
        None with ``psf_image``. A kernel's bias is not used.
    psf_image : str, optional
        An image of the PSF instead (``-`` for standard input): a grey
        image, or a colour one taken as its luminance (alpha is ignored),
        or a one-channel numeric matrix; its values are the weights.
    stdin : binary file, optional
        Where ``-`` reads from.
    max_pixels : int or None, optional
        The decompression-bomb guard for ``psf_image``.
    command : str
        The command named in messages.

    Returns
    -------
    Kernel
        Weights summing to 1, the anchor (the centre unless the kernel
        says otherwise) and the name used in messages.

    Raises
    ------
    KernelError
        For several kernels, a kernel several channels deep, NaN or infinite
        values, all zeros, or a sum of zero or less.
    UsageError
        For both ``psf`` and ``psf_image``, or neither.
    """
    if (psf is None) == (psf_image is None):
        msg = f"{command} takes the PSF as PSF or as --psf-image FILE; give one of them"
        raise UsageError(msg)
    if psf_image is not None:
        weights, name, anchor = _psf_from_image(psf_image, stdin, max_pixels), psf_image, None
    else:
        assert psf is not None
        kernels = as_kernel_set(
            psf, stdin, takes=f"{command} takes one 2-D PSF (H x W, or 1 x 1 x H x W)"
        )
        if len(kernels.kernels) > 1:
            names = [k.name for k in kernels.kernels]
            listed = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
            msg = (
                f"PSF {kernels.name!r} is a set of {len(names)} kernels ({listed}); {command} "
                "takes one 2-D PSF"
            )
            raise KernelError(msg)
        kernel = kernels.kernels[0]
        weights, name, anchor = kernel.matrix, kernels.name, kernel.origin
    normalised = core.normalize_psf(weights, name=name)
    return Kernel(normalised, anchor=anchor, name=name)


def _psf_from_image(
    source: str, stdin: BinaryIO | None, max_pixels: int | None
) -> NDArray[np.float64]:
    picture = read_picture(source, stdin=stdin, frame=0, max_pixels=max_pixels)
    where = "standard input" if source == "-" else repr(source)
    bands = picture.bands[:-1] if picture.bands[-1] == "A" else picture.bands
    pixels = picture.pixels[..., : len(bands)].astype(np.float64)
    if bands == ("R", "G", "B"):
        weights: NDArray[np.float64] = pixels @ np.array(LUMA_WEIGHTS)
    elif len(bands) == 1:
        weights = pixels[..., 0]
    else:
        msg = (
            f"--psf-image {where} has {len(bands)} channels ({' '.join(bands)}); expected a "
            "grey or colour image, or a one-channel matrix"
        )
        raise KernelError(msg)
    if not np.isfinite(weights).all():
        msg = f"--psf-image {where} holds NaN or infinite values; expected finite numbers"
        raise KernelError(msg)
    return weights


def deconvolve_file(
    psf: str | KernelSet | Kernel | Bank | None,
    source: str,
    target: str | None,
    *,
    method: core.DeconvolveMethod = "wiener",
    balance: float | None = None,
    iterations: int | None = None,
    cutoff: float | None = None,
    psf_image: str | None = None,
    format: str | None = None,
    save: SaveOptions | None = None,
    frame: int | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
    progress: Progress | None = None,
    **options: Unpack[RestoreOptions],
) -> Restored:
    """Undo the blur ``psf`` in the image at ``source`` and write the result to ``target``.

    Parameters
    ----------
    psf : str, KernelSet, Kernel, Bank or None
        The blur, in any kernel form (see :func:`load_psf`); None with
        ``psf_image``.
    source : str
        An image or numeric matrix, or ``-`` for standard input.
    target : str or None
        A path, ``-`` for standard output, or None to write nothing (see
        :attr:`Restored.maps`).
    method : {'wiener', 'richardson-lucy', 'inverse'}
        See :mod:`imgconv.core.deconvolve`.
    balance : float, optional
        Wiener's noise-to-signal ratio (:data:`~imgconv.core.deconvolve.DEFAULT_BALANCE`
        by default); only with ``wiener``.
    iterations : int, optional
        Richardson-Lucy's iterations (:data:`~imgconv.core.deconvolve.DEFAULT_ITERATIONS`
        by default); only with ``richardson-lucy``.
    cutoff : float, optional
        The inverse filter's cutoff (:data:`~imgconv.core.deconvolve.DEFAULT_CUTOFF`
        by default); only with ``inverse``.
    psf_image : str, optional
        An image of the PSF instead of ``psf``.
    format, save, frame, max_pixels, stdin, stdout
        As :func:`imgconv.api.apply_file` takes them.
    progress : callable, optional
        ``progress(done, total)`` after each Richardson-Lucy iteration.
    **options
        ``channels``, ``alpha``, ``map``, ``depth`` and ``keep_maps``, as
        ``apply`` takes them.

    Returns
    -------
    Restored

    Raises
    ------
    UsageError, KernelError, GeometryError
        Bad options, a bad PSF (all zeros, NaN, a sum of zero or less, a
        set of kernels) or one larger than the image; nothing is written.
    ImageReadError, ImageWriteError
        The input cannot be read or the output written; the output is then
        left as it was (writes are atomic).
    """
    if method not in core.DECONVOLVE_METHODS:
        msg = f"unknown method {method!r}; expected one of {', '.join(core.DECONVOLVE_METHODS)}"
        raise UsageError(msg)
    settings = _method_settings(method, balance, iterations, cutoff)
    _check_stdin(psf, psf_image, source)
    kernel = load_psf(psf, psf_image=psf_image, stdin=stdin, max_pixels=max_pixels)
    if method == "richardson-lucy" and (kernel.weights < 0).any():
        msg = (
            f"PSF {kernel.name!r} has negative weights, which richardson-lucy cannot use "
            "(its updates keep every value >= 0); use --method wiener or inverse"
        )
        raise KernelError(msg)
    values = dict(settings)
    counter = _Counter(progress, int(values.get("iterations", 0)))

    def restore(planes: NDArray[np.float64]) -> NDArray[np.floating]:
        return core.deconvolve(
            planes,
            kernel.weights,
            method=method,
            balance=values.get("balance", core.DEFAULT_BALANCE),
            iterations=int(values.get("iterations", core.DEFAULT_ITERATIONS)),
            cutoff=values.get("cutoff", core.DEFAULT_CUTOFF),
            anchor=kernel.origin,
            progress=counter.step if method == "richardson-lucy" else None,
        )

    restore.__name__ = method
    return _run(
        kernel,
        source,
        target,
        method=method,
        settings=settings,
        transform=restore,
        counter=counter,
        format=format,
        save=save,
        frame=frame,
        max_pixels=max_pixels,
        stdin=stdin,
        stdout=stdout,
        options=options,
    )


def blur_file(
    psf: str | KernelSet | Kernel | Bank | None,
    source: str,
    target: str | None,
    *,
    noise: float = 0.0,
    seed: int | None = None,
    psf_image: str | None = None,
    format: str | None = None,
    save: SaveOptions | None = None,
    frame: int | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
    **options: Unpack[RestoreOptions],
) -> Restored:
    """Blur the image at ``source`` with ``psf`` (and add noise): a test case for deconvolution.

    The blur is true convolution with the PSF normalised to sum 1 (what
    ``imgconv apply PSF --flip`` computes, with the ``edge`` border), so a
    single bright pixel becomes the PSF. Then Gaussian noise of standard
    deviation ``noise``, in the output's units (0..255 for 8-bit, 0..65535
    for 16-bit, 0..1 for a float image), is added to the blurred channels
    before they are rounded.

    Parameters
    ----------
    psf : str, KernelSet, Kernel, Bank or None
        The blur, in any kernel form (see :func:`load_psf`); None with
        ``psf_image``.
    source : str
        An image or numeric matrix, or ``-`` for standard input.
    target : str or None
        A path, ``-`` for standard output, or None to write nothing.
    noise : float
        Standard deviation of the noise, >= 0 (0: none).
    seed : int, optional
        Seed of the noise, for a reproducible result; a fresh one each
        time by default.
    psf_image : str, optional
        An image of the PSF instead of ``psf``.
    format, save, frame, max_pixels, stdin, stdout
        As :func:`imgconv.api.apply_file` takes them.
    **options
        ``channels``, ``alpha``, ``map``, ``depth`` and ``keep_maps``, as
        ``apply`` takes them.

    Returns
    -------
    Restored
    """
    if not np.isfinite(noise) or noise < 0:
        msg = f"noise {noise!r} is not a standard deviation; expected a number >= 0"
        raise UsageError(msg)
    if seed is not None and noise == 0:
        msg = "--seed makes the noise reproducible; add --noise SIGMA"
        raise UsageError(msg)
    _check_stdin(psf, psf_image, source)
    kernel = load_psf(psf, psf_image=psf_image, stdin=stdin, max_pixels=max_pixels, command="blur")
    settings: tuple[tuple[str, float], ...] = ()
    if noise:
        settings = (("noise", noise),) + ((("seed", seed),) if seed is not None else ())
    rng = np.random.default_rng(seed) if noise else None
    return _run(
        kernel,
        source,
        target,
        method="blur",
        settings=settings,
        transform=None,
        counter=_Counter(None, 0),
        noise=(noise, rng),
        format=format,
        save=save,
        frame=frame,
        max_pixels=max_pixels,
        stdin=stdin,
        stdout=stdout,
        options=options,
    )


def _method_settings(
    method: str, balance: float | None, iterations: int | None, cutoff: float | None
) -> tuple[tuple[str, float], ...]:
    """The one setting ``method`` uses, its default filled in; the others are refused."""
    given = {"balance": balance, "iterations": iterations, "cutoff": cutoff}
    owner = {"balance": "wiener", "iterations": "richardson-lucy", "cutoff": "inverse"}
    for name, value in given.items():
        if value is not None and owner[name] != method:
            msg = f"--{name} is a setting of --method {owner[name]}, not of {method}"
            raise UsageError(msg)
    if method == "wiener":
        value = core.DEFAULT_BALANCE if balance is None else balance
        if not np.isfinite(value) or value <= 0:
            msg = f"--balance {value!r} is not a positive number; expected e.g. 0.01"
            raise UsageError(msg)
        return (("balance", value),)
    if method == "richardson-lucy":
        count = core.DEFAULT_ITERATIONS if iterations is None else iterations
        if count < 1:
            msg = f"--iterations {count!r} is fewer than 1; expected e.g. 50"
            raise UsageError(msg)
        return (("iterations", count),)
    value = core.DEFAULT_CUTOFF if cutoff is None else cutoff
    if not np.isfinite(value) or not 0 < value <= 1:
        msg = f"--cutoff {value!r} is not in 0..1; expected e.g. 0.1"
        raise UsageError(msg)
    return (("cutoff", value),)


def _check_stdin(psf: object, psf_image: str | None, source: str) -> None:
    if source == "-" and "-" in (psf, psf_image):
        what = "PSF" if psf == "-" else "--psf-image"
        msg = f"{what} and INPUT cannot both be '-': standard input holds only one of them"
        raise UsageError(msg)


class _Counter:
    """Adds up Richardson-Lucy's iterations over every run, for one progress bar."""

    def __init__(self, progress: Progress | None, iterations: int) -> None:
        self.progress = progress
        self.iterations = iterations
        self.done = 0
        self.total = 0

    def expect(self, picture: Picture, alpha: str) -> None:
        """Count the runs ahead: colour, and alpha-weighted or filtered alpha, per frame."""
        for pixels in picture.frames:
            runs = 1
            if picture.bands[-1] == "A":
                top = DEPTHS[depth_of(pixels.dtype).name].maximum
                opaque = float(pixels[..., -1].min()) >= top
                runs += alpha in ("weighted", "filter") and not opaque
                runs += alpha in ("filter", "plain")
            self.total += runs * self.iterations

    def step(self, done: int, total: int) -> None:
        """One iteration of a run is done."""
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, max(self.total, self.done))


def _run(
    kernel: Kernel,
    source: str,
    target: str | None,
    *,
    method: str,
    settings: tuple[tuple[str, float], ...],
    transform: Callable[[NDArray[np.float64]], NDArray[np.floating]] | None,
    counter: _Counter,
    format: str | None,
    save: SaveOptions | None,
    frame: int | None,
    max_pixels: int | None,
    stdin: BinaryIO | None,
    stdout: BinaryIO | None,
    options: RestoreOptions,
    noise: tuple[float, np.random.Generator | None] = (0.0, None),
) -> Restored:
    """Read, process every frame as ``apply`` would, write: the two commands' common path."""
    filter_options: FilterOptions = {
        "channels": options.get("channels", "each"),
        "alpha": options.get("alpha", "weighted"),
        "map": options.get("map"),
        "depth": options.get("depth"),
    }
    out_format = None if target is None else output_format(target, format)
    if out_format is not None:
        check_format(out_format, filter_options, stacked=False)
        check_save_options(out_format, save)
    picture = read_picture(source, stdin=stdin, frame=frame, max_pixels=max_pixels)
    where = "standard input" if source == "-" else repr(source)
    core.check_fits(kernel.shape, picture.pixels.shape, name=kernel.name, where=where)
    frames = picture.frames
    if out_format is not None:
        check_frames(out_format, len(frames))
    filter_options["bands"] = picture.bands
    if picture.numeric:
        check_numeric(source, out_format, len(picture.bands), filter_options)
        filter_options["map"], filter_options["depth"] = "raw", "float"
    if transform is None:
        filter_options["flip"] = True  # a PSF is convolved: an impulse becomes the PSF
    else:
        filter_options["transform"] = transform
        counter.expect(picture, filter_options["alpha"])
    keep_maps = options.get("keep_maps", True)
    sigma, rng = noise
    filter_options["keep_maps"] = keep_maps or sigma > 0
    warnings: list[str] = []
    with memory_guard(where, picture.pixels.shape, len(frames)):
        results = []
        for pixels in frames:
            result = filter_image(pixels, kernel, **filter_options)
            if rng is not None:
                result = _noisy(result, pixels.dtype, sigma, rng, filter_options.get("map"))
            results.append(result)
        if target is not None and out_format is not None:
            warnings = write_frames(results, picture, out_format, target, save=save, stdout=stdout)
    label = kernel.name if method == "blur" else f"{method} {kernel.name}"
    names = [label]
    if len(frames) > 1:
        names = [f"{label} frame {index}" for index in range(len(frames))]
    return Restored(
        source=source,
        target=target,
        format=out_format,
        psf=kernel,
        method=method,
        settings=settings,
        in_shape=(picture.pixels.shape[0], picture.pixels.shape[1]),
        in_bands=picture.bands,
        out_bands=results[0].bands,
        depth=results[0].depth,
        warnings=tuple(warnings),
        frames=len(frames),
        maps=tuple(labelled_maps(names, results)) if keep_maps else (),
        numeric=picture.numeric,
    )


def _noisy(
    result: Result,
    dtype: np.dtype[np.generic],
    sigma: float,
    rng: np.random.Generator,
    map_mode: MapMode | None,
) -> Result:
    """``result`` with Gaussian noise on its filtered bands, mapped again."""
    filtered = result.filtered
    maps = filtered.maps.copy()
    flags = np.array(filtered.filtered)
    shape = (*maps.shape[:2], int(flags.sum()))
    with np.errstate(over="ignore", invalid="ignore"):
        maps[..., flags] += rng.normal(0.0, sigma, shape).astype(maps.dtype)
    if not np.isfinite(maps).all() and np.isfinite(filtered.maps).all():
        largest = float(np.finfo(maps.dtype).max)
        msg = (
            f"--noise {sigma:g} overflows: the noisy values pass {largest:.3g} (the range of "
            f"{maps.dtype}); expected a smaller SIGMA"
        )
        raise UsageError(msg)
    noisy = replace(filtered, maps=maps)
    mode: MapMode = map_mode or ("raw" if result.depth == "float" else "clip")
    _, maximum = units(depth_of(dtype), DEPTHS[result.depth])
    return replace(result, pixels=map_planes(noisy, mode, result.depth, maximum), filtered=noisy)
