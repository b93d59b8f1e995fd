"""Filter a whole image: channels, alpha, kernel sets, scale, bias and mapping.

:func:`filter_image` is the array-level API the command line uses:
pixels in (uint8, uint16 or float; ``(H, W)`` or ``(H, W, C)``), mapped
pixels and the float feature maps out. The steps, in order:

1. pick the planes to filter (``--channels``): every colour channel
   (``each``), the luminance only (``luma``: colour differences pass
   through), a grey conversion (``gray``) or a subset such as ``r,g``;
2. apply each kernel of the set to those planes, alpha-weighted or not
   (``--alpha``, KERNELS.md section 5), and combine the results
   (``magnitude``, ``max``, ``min`` or ``sum``), then add the bias;
3. sample the planes that are not filtered at the same output positions;
4. map the float results to the output depth (:mod:`.mapping`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, Unpack

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import GeometryError, KernelError, UsageError
from .convolve import (
    METHODS,
    Chosen,
    FloatArray,
    Method,
    choose_method,
    correlate_framed,
    correlate_padded,
    pad,
    refuse_overflow,
    sample,
    work_dtype,
)
from .geometry import Geometry, GeometryOptions, band_rows, bands, plan
from .kernels import COMBINES, Combine, Kernel, KernelSet, kernels_of
from .mapping import DEPTHS, DepthName, MapMode, depth_of, map_values, units
from .spectral import aligned_band, whole_image_blocks
from .vocab import Border, Padding, parse_anchor, parse_pair

AlphaMode = Literal["weighted", "filter", "plain", "keep"]
ALPHA_MODES: tuple[AlphaMode, ...] = ("weighted", "filter", "plain", "keep")
CHANNEL_MODES = ("each", "luma", "gray")

#: ITU-R BT.601 luma weights for R, G, B (what Pillow's ``convert("L")`` uses).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

#: Band names by channel count, when an array does not say.
DEFAULT_BANDS: dict[int, tuple[str, ...]] = {
    1: ("L",),
    2: ("L", "A"),
    3: ("R", "G", "B"),
    4: ("R", "G", "B", "A"),
}

#: A whole-plane operation run instead of the kernels (deconvolution): the
#: planes to filter, ``(H, W, c)`` floats in working units, in; the same
#: shape out. See ``transform`` in :class:`FilterOptions`.
PlaneTransform = Callable[[NDArray[np.float64]], NDArray[np.floating]]

# Where less than this share of a kernel's absolute weight falls on opaque
# pixels, alpha weighting leaves the colour as it was instead of dividing
# by a share that is only rounding noise.
_MIN_OPAQUE_SHARE = 1e-6


@dataclass(frozen=True)
class Settings:
    """Where and how kernels are applied, in imgconv's vocabulary.

    Build it with :meth:`parse`, which accepts the same strings as the
    command line (``"reflect-101"``, ``"2,1"``) and reports bad ones.
    """

    flip: bool = False
    padding: Padding = Padding()
    border: Border = Border()
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    anchor: tuple[int, int] | None = None
    channels: str = "each"
    alpha: AlphaMode = "weighted"
    method: Method = "auto"

    @classmethod
    def parse(
        cls,
        *,
        flip: bool = False,
        padding: str | int | tuple[int, ...] | Padding = "same",
        border: str | Border = "edge",
        stride: int | tuple[int, int] | str = 1,
        dilation: int | tuple[int, int] | str = 1,
        anchor: tuple[int, int] | str | None = None,
        channels: str = "each",
        alpha: str = "weighted",
        method: str = "auto",
    ) -> Settings:
        """Settings from user-facing values; raises UsageError naming a bad one."""
        if alpha not in ALPHA_MODES:
            msg = f"unknown alpha mode {alpha!r}; expected one of {', '.join(ALPHA_MODES)}"
            raise UsageError(msg)
        if method not in METHODS:
            msg = f"unknown method {method!r}; expected one of {', '.join(METHODS)}"
            raise UsageError(msg)
        return cls(
            flip=flip,
            padding=Padding.parse(padding),
            border=Border.parse(border),
            stride=parse_pair(stride, "stride"),
            dilation=parse_pair(dilation, "dilation"),
            anchor=parse_anchor(anchor),
            channels=channels.strip().lower(),
            alpha=alpha,
            method=method,
        )


@dataclass(frozen=True)
class Filtered:
    """The result of filtering, before mapping.

    Attributes
    ----------
    maps : ndarray
        ``(H_out, W_out, C)`` floats in working units: filter results for
        the filtered planes, sampled input values for the others.
    bands : tuple of str
        Band names of ``maps`` (``R G B A``, ``L``, ...).
    filtered : tuple of bool
        Per band, whether it holds filter results (mappings such as
        ``shift`` apply to these only; the others are clipped).
    geometry : Geometry
        Padding, stride, dilation and sizes used.
    methods : tuple of str
        The method chosen for each kernel, in order.
    """

    maps: FloatArray
    bands: tuple[str, ...]
    filtered: tuple[bool, ...]
    geometry: Geometry
    methods: tuple[str, ...]


@dataclass(frozen=True)
class Result:
    """Output of :func:`filter_image`.

    Attributes
    ----------
    pixels : ndarray
        Mapped output, ``(H_out, W_out)`` for one band, else
        ``(H_out, W_out, C)``, of the output depth's type.
    bands : tuple of str
        Band names of ``pixels``.
    depth : str
        ``"8"``, ``"16"`` or ``"float"``.
    filtered : Filtered
        The float feature maps and the geometry, before mapping.
    """

    pixels: NDArray[np.generic]
    bands: tuple[str, ...]
    depth: DepthName
    filtered: Filtered


def prepare_kernels(
    kernels: KernelSet,
    *,
    scale: float | None = None,
    bias: float | None = None,
    normalize: bool = False,
) -> KernelSet:
    """Apply ``--scale`` (replaces each divisor), ``--normalize`` and ``--bias``.

    ``--bias`` replaces any bias the kernels carry and is added once, after
    the kernels of a set are combined.
    """
    if normalize and scale is not None:
        msg = "--scale and --normalize both set the divisor; use one of them"
        raise UsageError(msg)
    if scale is not None:
        kernels = kernels.map_kernels(lambda k: k.with_values(scale=scale))
    if normalize:
        kernels = kernels.map_kernels(Kernel.normalized)
    if bias is not None:
        kernels = kernels.with_bias(bias)
    for kernel in kernels.kernels:
        with np.errstate(over="ignore"):  # the check is the report
            finite = np.isfinite(kernel.matrix).all()
        if not finite or not math.isfinite(kernel.bias):
            what = f"--scale {scale:g}" if scale is not None else "its divisor"
            msg = (
                f"kernel {kernel.name!r} divided by {what} has weights beyond the range of a "
                "float; expected a divisor that keeps them finite"
            )
            raise KernelError(msg)
    return kernels


def filter_planes(
    planes: FloatArray,
    bands: Sequence[str],
    kernels: KernelSet,
    settings: Settings,
    *,
    alpha_max: float,
    transform: PlaneTransform | None = None,
    whole: Geometry | None = None,
    opaque: bool | None = None,
) -> Filtered:
    """Filter ``(H, W, C)`` planes in working units with a kernel set.

    Parameters
    ----------
    planes : ndarray
        Float pixels, one plane per band.
    bands : sequence of str
        Band names (``L``, ``LA``, ``RGB``, ``RGBA`` or ``CMYK`` as letters).
    kernels : KernelSet
        Kernels, already scaled (see :func:`prepare_kernels`).
    settings : Settings
        Geometry, border, channel and alpha modes.
    alpha_max : float
        The value of a fully opaque alpha in working units.
    transform : callable, optional
        Run on the planes instead of the kernels (see :class:`FilterOptions`).
    whole : Geometry, optional
        When ``planes`` are a band of a larger image: the whole image's
        geometry, from which the methods are chosen, as for the whole.
    opaque : bool, optional
        When ``planes`` are a band: whether the whole image is fully opaque
        (then alpha weighting is skipped, as it is for the whole image).
    """
    bands = tuple(bands)
    has_alpha = bands[-1] == "A"
    colour = bands[:-1] if has_alpha else bands
    alpha = planes[..., -1] if has_alpha else None
    mode = _channel_mode(settings.channels, colour)

    # 1. The planes to filter; the others are carried to the output positions.
    if mode == "gray" and len(colour) == 3:
        grey = _luma(planes[..., :3])
        planes = np.concatenate([grey[..., None], planes[..., 3:]], axis=-1)
        bands, colour = ("L", "A") if has_alpha else ("L",), ("L",)
    chroma: FloatArray | None = None
    selected = _selected(mode, colour)
    if mode == "luma" and len(colour) == 3:
        luma = _luma(planes[..., :3])
        chroma = planes[..., :3] - luma[..., None]  # R-Y, G-Y, B-Y pass through
        targets = luma[..., None]
    elif len(selected) == len(colour):
        targets = planes[..., : len(colour)]  # a view: no copy when all are filtered
    else:
        targets = planes[..., list(selected)]

    # 2. Filter. An anchor override refers to the kernel as written, so it
    # is set before flipping (the flip rotates about it).
    kernel_list = [_oriented(k, settings) for k in kernels.kernels]
    geometry = _shared_geometry(planes.shape[:2], kernel_list, settings)
    opacity = None if alpha is None else alpha / planes.dtype.type(alpha_max)
    weighting = opacity is not None and settings.alpha in ("weighted", "filter")
    if (
        weighting
        and opacity is not None
        and (opaque if opaque is not None else _fully_opaque(opacity))
    ):
        weighting = False  # fully opaque: weighting changes nothing
    applier = _Applier(kernel_list, kernels, settings, alpha_max, transform, whole)
    result = applier.apply(targets, opacity if weighting else None)

    # 3. Assemble the output bands.
    def carried(data: FloatArray) -> FloatArray:
        return sample(pad(data, geometry, settings.border), geometry)

    if chroma is None and alpha is None and len(selected) == len(colour):
        # Every band filtered: the result is already the output.
        return Filtered(
            result, tuple(bands), (True,) * len(bands), geometry, tuple(applier.methods)
        )
    out_planes: list[FloatArray] = []
    flags: list[bool] = []
    if chroma is not None:
        recomposed = result[..., :1] + carried(chroma)
        out_planes += [recomposed[..., i] for i in range(3)]
        flags += [True] * 3
    else:
        rest = carried(planes[..., : len(colour)]) if len(selected) < len(colour) else None
        for index in range(len(colour)):
            if index in selected:
                out_planes.append(result[..., selected.index(index)])
            elif rest is not None:
                out_planes.append(rest[..., index])
            flags.append(index in selected)
    if alpha is not None:
        if settings.alpha == "filter":
            # Filtered like the colour it weights: opaque zero/constant
            # borders, and no bias (the bias is a colour offset).
            filtered_alpha = applier.apply(
                alpha[..., None], None, border=applier.opaque_border(), bias=False
            )
            out_planes.append(filtered_alpha[..., 0])
        elif settings.alpha == "plain":
            out_planes.append(applier.apply(alpha[..., None], None)[..., 0])
        else:
            out_planes.append(carried(alpha[..., None])[..., 0])
        flags.append(False)
    maps = np.stack(out_planes, axis=-1)
    return Filtered(maps, tuple(bands), tuple(flags), geometry, tuple(applier.methods))


class FilterOptions(GeometryOptions, total=False):
    """The keyword vocabulary of :func:`filter_image` and :func:`filter_stack`.

    Declared once so every layer that passes them on (the file-level API,
    the command line) agrees on names and types.
    """

    bands: Sequence[str] | None
    channels: str
    alpha: str
    scale: float | None
    bias: float | None
    normalize: bool
    combine: Combine | None
    map: MapMode | None
    depth: DepthName | None
    method: str
    keep_maps: bool
    #: Run on the planes to filter instead of the kernels; channels, alpha
    #: (premultiplied, then divided by the transformed alpha) and mapping as
    #: usual. The kernel then only names the job, and the geometry must keep
    #: the image's size (``same`` padding, stride 1).
    transform: PlaneTransform | None


def filter_image(
    image: ArrayLike,
    kernel: KernelSet | Kernel | ArrayLike,
    **options: Unpack[FilterOptions],
) -> Result:
    """Filter an image array with a kernel, a kernel set or a matrix.

    Parameters
    ----------
    image : array_like
        ``(H, W)`` or ``(H, W, C)`` of uint8, uint16 or floats (a float
        image's nominal range is 0..1).
    kernel : KernelSet, Kernel or array_like
        What to apply, as written (see ``flip``).
    bands : sequence of str, optional
        Band names; by channel count ``L``, ``LA``, ``RGB``, ``RGBA``.
    flip, padding, border, stride, dilation, anchor, method
        As in :func:`imgconv.core.convolve.correlate`.
    channels : str
        ``each`` (default), ``luma``, ``gray`` or a subset such as ``r,g``.
    alpha : {'weighted', 'filter', 'plain', 'keep'}
        Alpha handling (KERNELS.md section 5); ``weighted`` by default.
    scale, bias, normalize
        Replace the kernels' divisor, replace their bias (added after
        combining), or divide by the kernel sum (see
        :meth:`Kernel.normalized`).
    combine : {'magnitude', 'max', 'min', 'sum', 'chain'}, optional
        How a set's results become one map; the set's own rule by default
        (``sobel`` is a magnitude). ``chain`` applies the kernels one after
        another. ``stack`` is :func:`filter_stack`'s.
    map : {'clip', 'abs', 'shift', 'normalize', 'raw'}, optional
        Value mapping; ``raw`` for float depth, ``clip`` otherwise.
    depth : {'8', '16', 'float'}, optional
        Output depth; the input's by default (``raw`` implies ``float``).
    keep_maps : bool, optional
        Keep the float maps in ``Result.filtered.maps`` (default). A large
        image is filtered in bands of rows, so that memory holds one band's
        floats; ``False`` then leaves the maps empty rather than gather a
        float copy of the whole output.

    Returns
    -------
    Result

    Examples
    --------
    >>> img = np.array([[0, 0, 255, 255]] * 3, dtype=np.uint8)
    >>> filter_image(img, [[-1, 0, 1]]).pixels.tolist()[0]
    [0, 255, 255, 0]
    >>> filter_image(img, [[-1, 0, 1]], map="raw").pixels.tolist()[0]
    [0.0, 255.0, 255.0, 0.0]
    """
    data = np.asarray(image)
    if data.ndim == 2:
        data = data[..., None]
    job = _job_for(data.shape, data.dtype, kernel, options)
    if _in_bands(data, job):
        return _filter_bands(data, job, options.get("keep_maps", True))
    return _filter_whole(data, job)


def _job_for(
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
    kernel: KernelSet | Kernel | ArrayLike,
    options: FilterOptions,
) -> _Job:
    """What :func:`filter_image` decides from its options, for any part of the image."""
    if len(shape) != 3 or shape[2] < 1:
        msg = f"image has shape {shape}; expected (H, W) or (H, W, C)"
        raise GeometryError(msg)
    bands = options.get("bands")
    band_names = tuple(b.upper() for b in bands) if bands else DEFAULT_BANDS.get(shape[2])
    if band_names is None or len(band_names) != shape[2]:
        msg = f"image has {shape[2]} channels; name them with bands=, e.g. ('R', 'G', 'B')"
        raise UsageError(msg)
    source = depth_of(dtype)
    map_mode = options.get("map")
    target = _output_depth(source.name, options.get("depth"), map_mode)
    mode: MapMode = map_mode or ("raw" if target == "float" else "clip")
    factor, maximum = units(source, DEPTHS[target])

    settings = Settings.parse(
        flip=options.get("flip", False),
        padding=options.get("padding", "same"),
        border=options.get("border", "edge"),
        stride=options.get("stride", 1),
        dilation=options.get("dilation", 1),
        anchor=options.get("anchor"),
        channels=options.get("channels", "each"),
        alpha=options.get("alpha", "weighted"),
        method=options.get("method", "auto"),
    )
    kernel_set = prepare_kernels(
        kernels_of(kernel),
        scale=options.get("scale"),
        bias=options.get("bias"),
        normalize=options.get("normalize", False),
    )
    kernel_set = with_combine(kernel_set, options.get("combine"))
    if kernel_set.combine == "stack":
        msg = "combine 'stack' keeps one map per kernel; use filter_stack() for it"
        raise UsageError(msg)
    return _Job(
        band_names, kernel_set, settings, mode, target, factor, maximum, options.get("transform")
    )


@dataclass(frozen=True)
class _Job:
    """Everything :func:`filter_image` decided, for the whole image or a band of it."""

    bands: tuple[str, ...]
    kernels: KernelSet
    settings: Settings
    mode: MapMode
    target: DepthName
    factor: float
    maximum: float
    transform: PlaneTransform | None = None


def _filter_whole(
    data: NDArray[np.generic],
    job: _Job,
    whole: Geometry | None = None,
    opaque: bool | None = None,
) -> Result:
    planes = data.astype(work_dtype(data.dtype))
    # Overflow is checked once, below, rather than warned about by NumPy. A
    # float sample too large for the output's units (1e38 times 255) becomes
    # infinite, as an infinite sample is.
    with np.errstate(over="ignore", invalid="ignore"):
        if job.factor != 1:
            planes *= planes.dtype.type(job.factor)
        if job.kernels.combine == "chain":
            filtered = _chain(planes, job.bands, job.kernels, job.settings, job.maximum)
        else:
            filtered = filter_planes(
                planes,
                job.bands,
                job.kernels,
                job.settings,
                alpha_max=job.maximum,
                transform=job.transform,
                whole=whole,
                opaque=opaque,
            )
        refuse_overflow(
            filtered.maps, planes, "the result overflows", "the weights, --bias or the border value"
        )
        pixels = map_planes(filtered, job.mode, job.target, job.maximum)
    return Result(pixels, filtered.bands, job.target, filtered)


#: Images whose float planes would take more than twice this are filtered in
#: bands of output rows with about this many bytes of floats each (with the
#: input rows its kernels reach), so memory holds the input, the output and
#: a band's few float arrays, not whole float copies. 4096 x 4096 RGB, 3x3:
#: 8 MB bands peaked at 98 MB beyond the input (32 MB: 255 MB; whole: 700 MB),
#: at the same speed.
BAND_BYTES = 8 << 20


def _in_bands(data: NDArray[np.generic], job: _Job) -> bool:
    """Whether to filter in bands: a large image, and a job whose rows are independent."""
    return fills_bands(data.shape, data.dtype) and _unbandable(job) is None


def fills_bands(shape: tuple[int, ...], dtype: np.dtype[Any]) -> bool:
    """Whether :func:`filter_image` filters an image of ``shape`` and ``dtype`` in bands.

    It does when the image's float planes would take over two bands'
    worth (:data:`BAND_BYTES`), if the job allows.
    """
    return math.prod(shape) * work_dtype(dtype).itemsize > 2 * BAND_BYTES


def _unbandable(job: _Job) -> str | None:
    """Why ``job`` needs the whole image at once, or None if bands of rows will do.

    ``--map normalize`` stretches the whole result at once; a chain's every
    step would need the next one's margin; kernels of several shapes pad
    differently; a transform (deconvolution) works on whole planes.
    """
    if job.mode == "normalize":
        return "--map normalize stretches the whole result at once"
    if job.kernels.combine == "chain":
        return "--combine chain filters each kernel's whole result"
    if len({(k.shape, k.origin) for k in job.kernels.kernels}) > 1:
        return "its kernels have different shapes"
    if job.transform is not None:
        return "the operation works on whole planes"
    return None


@dataclass(frozen=True)
class _BandPlan:
    """How an image of ``shape`` is filtered band by band, each band as the whole would be."""

    job: _Job
    whole: Geometry
    height: int
    fft: bool


def _band_plan(
    shape: tuple[int, ...], dtype: np.dtype[np.generic], job: _Job, budget: int
) -> _BandPlan:
    reason = _unbandable(job)
    if reason is not None:
        msg = f"this job cannot be filtered in parts of the image: {reason}"
        raise UsageError(msg)
    settings = job.settings
    kernels = [_oriented(k, settings) for k in job.kernels.kernels]
    whole = _geometry_for(shape, kernels[0], settings)
    row_bytes = max(1, shape[1] * shape[2] * work_dtype(dtype).itemsize)
    height = band_rows(whole, row_bytes, budget)
    fft = _uses_fft(kernels, settings, whole)
    if fft:
        height = aligned_band(height, whole)
    # The kernels turned once, here; each band applies them as they are.
    oriented = job.kernels.map_kernels(lambda k: _oriented(k, settings))
    return _BandPlan(replace(job, kernels=oriented), whole, height, fft)


def _uses_fft(kernels: list[Kernel], settings: Settings, whole: Geometry) -> bool:
    """Whether a kernel (or its alpha share) goes through the FFT, whose blocks bands must share."""
    if settings.method != "auto":
        return settings.method == "fft"
    for kernel in kernels:
        magnitude = np.abs(kernel.matrix)
        for matrix in (kernel.matrix, magnitude / max(float(magnitude.sum()), 1e-300)):
            if choose_method(matrix, whole) == "fft":
                return True
    return False


RowReader = Callable[[int, int], NDArray[np.generic]]


def _band(plan: _BandPlan, read: RowReader, first: int, stop: int, opaque: bool | None) -> Result:
    """Output rows ``first:stop`` of the whole image's result, from the rows ``read`` gives.

    The band reads the image rows its outputs' windows cover. Past the
    image's top or bottom, an ``edge``, ``reflect``, ``reflect101`` or
    ``wrap`` border is made by reading the rows the border repeats (what
    padding the whole image copies), and a ``zero`` or ``constant`` border
    by padding the band itself. Methods are chosen for the whole image, and
    the FFT uses the whole image's blocks: a band computes its rows to the
    same bits as the whole image does.
    """
    job, whole = plan.job, plan.whole
    (sy, _), (ry, _) = whole.stride, whole.reach
    top, bottom, left, right = whole.pads
    rows = whole.in_shape[0]
    # Image rows under the band's windows (negative or >= rows: padding).
    start, end = first * sy - top, (stop - 1) * sy + ry - top
    if plan.fft:
        # The rows up to its last FFT block's end too, unsampled with a stride,
        # so that the block holds what the whole image's holds.
        end = min(end + sy - 1, rows + bottom)
    border = job.settings.border
    if border.mode in ("zero", "constant"):
        low, high = max(0, start), min(rows, end)
        if low >= high:
            msg = (
                f"output rows {first} to {stop - 1} read only padding, no image row; "
                "filter in larger bands"
            )
            raise GeometryError(msg)
        data = read(low, high)
        pads = Padding("explicit", low - start, end - high, left, right)
    else:
        data = _gather(read, border_rows(np.arange(start, end), rows, border))
        pads = Padding("explicit", 0, 0, left, right)
    settings = replace(job.settings, padding=pads, anchor=None, flip=False)
    with whole_image_blocks(whole):
        return _filter_whole(data, replace(job, settings=settings), whole, opaque)


def border_rows(index: NDArray[np.intp], count: int, border: Border) -> NDArray[np.intp]:
    """The image rows (0..count-1) that padding with ``border`` copies to rows ``index``.

    For the borders that copy image pixels (not ``zero`` or ``constant``);
    the same rows ``np.pad`` copies, however wide the padding.

    Examples
    --------
    >>> border_rows(np.arange(-3, 6), 3, Border("reflect")).tolist()
    [2, 1, 0, 0, 1, 2, 2, 1, 0]
    >>> border_rows(np.arange(-3, 6), 3, Border("reflect101")).tolist()
    [1, 2, 1, 0, 1, 2, 1, 0, 1]
    """
    mode = border.mode
    if mode == "edge":
        return np.clip(index, 0, count - 1)
    if mode == "wrap":
        return np.mod(index, count)
    if mode == "reflect":  # ... c b a | a b c | c b a ...
        folded = np.mod(index, 2 * count)
        return np.where(folded < count, folded, 2 * count - 1 - folded)
    if mode == "reflect101":  # ... c b | a b c | b a ...
        if count == 1:
            return np.zeros_like(index)
        folded = np.mod(index, 2 * count - 2)
        return np.where(folded < count, folded, 2 * count - 2 - folded)
    msg = f"a {mode} border adds new values; it copies no image rows"
    raise ValueError(msg)


def _gather(read: RowReader, index: NDArray[np.intp]) -> NDArray[np.generic]:
    """Rows ``index`` of the image, read as few contiguous runs."""
    breaks = np.flatnonzero(np.diff(index) != 1) + 1
    runs = np.split(index, breaks)
    parts = [read(int(run[0]), int(run[-1]) + 1) for run in runs]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _opaque(read: RowReader, rows: int, job: _Job, step: int) -> bool | None:
    """Whether the whole image is opaque, decided as :func:`filter_planes` does; None if moot."""
    if job.bands[-1] != "A" or job.settings.alpha not in ("weighted", "filter"):
        return None
    for first in range(0, rows, step):
        chunk = read(first, min(rows, first + step))[..., -1]
        alpha = chunk.astype(work_dtype(chunk.dtype))
        if job.factor != 1:
            with np.errstate(over="ignore"):  # as in _filter_whole
                alpha *= alpha.dtype.type(job.factor)
        if not _fully_opaque(alpha / alpha.dtype.type(job.maximum)):
            return False
    return True


def _reader(data: NDArray[np.generic], start: int = 0) -> RowReader:
    """Rows ``a:b`` of an image of which ``data`` holds the rows from ``start``."""

    def read(a: int, b: int) -> NDArray[np.generic]:
        if a < start or b > start + len(data):
            msg = (
                f"rows {a} to {b - 1} are needed, and the window holds rows {start} to "
                f"{start + len(data) - 1}; expected a window with the kernel's reach"
            )
            raise GeometryError(msg)
        return data[a - start : b - start]

    return read


def _filter_bands(data: NDArray[np.generic], job: _Job, keep_maps: bool) -> Result:
    """:func:`filter_image` band by band of output rows; the same numbers, to the bit."""
    plan = _band_plan(data.shape, data.dtype, job, BAND_BYTES)
    read = _reader(data)
    opaque = _opaque(read, data.shape[0], job, plan.height)
    ho = plan.whole.out_shape[0]
    pixels: NDArray[np.generic] | None = None
    maps: FloatArray | None = None
    last: Result | None = None
    for first, stop, _, _ in bands(plan.whole, plan.height):
        last = _band(plan, read, first, stop, opaque)
        if pixels is None:
            pixels = np.empty((ho, *last.pixels.shape[1:]), dtype=last.pixels.dtype)
            if keep_maps:
                maps = np.empty((ho, *last.filtered.maps.shape[1:]), last.filtered.maps.dtype)
        pixels[first:stop] = last.pixels
        if maps is not None:
            maps[first:stop] = last.filtered.maps
    # ho >= 1, so there was at least one band.
    assert pixels is not None
    assert last is not None
    whole = maps if maps is not None else np.empty((0, 0, len(last.bands)), np.float32)
    filtered = Filtered(
        whole, last.filtered.bands, last.filtered.filtered, plan.whole, last.filtered.methods
    )
    return Result(pixels, last.bands, last.depth, filtered)


class RowSource(Protocol):
    """An image read by rows: a NumPy array, a memory map, or a file read by strips."""

    @property
    def shape(self) -> tuple[int, ...]:
        """``(H, W)`` or ``(H, W, C)``."""

    @property
    def dtype(self) -> np.dtype[Any]:
        """The samples' type."""

    def __getitem__(self, rows: slice, /) -> Any:
        """Rows ``rows.start`` to ``rows.stop - 1``, as an array."""


class RowSink(Protocol):
    """Where output rows go, band after band, top to bottom."""

    def __setitem__(self, rows: slice, value: NDArray[Any], /) -> None:
        """Store output rows ``rows.start`` to ``rows.stop - 1``."""


@dataclass(frozen=True)
class Planned:
    """The output :func:`filter_into` will write, known before any row is filtered.

    Attributes
    ----------
    shape : tuple of int
        ``(H_out, W_out)``, or ``(H_out, W_out, C)`` for several bands.
    dtype : numpy.dtype
        The output's sample type.
    bands : tuple of str
        The output's band names.
    depth : str
        ``"8"``, ``"16"`` or ``"float"``.
    geometry : Geometry
        Sizes, padding, stride and dilation.
    band_height : int
        Output rows per band.
    """

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    bands: tuple[str, ...]
    depth: DepthName
    geometry: Geometry
    band_height: int


class Banded:
    """An image filtered band by band from a row source into a row sink.

    :meth:`plan` says what the output will be (so that the sink can be
    made); :meth:`run` filters every band in order. Memory holds one band's
    input, its floats and its output, never the whole image: the source and
    the sink may be files read and written by strips.

    Parameters
    ----------
    source : RowSource
        ``(H, W)`` or ``(H, W, C)``; rows are read as ``source[a:b]``.
    kernel, **options
        As :func:`filter_image` takes them (not ``--map normalize``,
        ``chain``, or kernels of several shapes: those need the whole image).
    budget : int
        About this many bytes of floats per band.
    """

    def __init__(
        self,
        source: RowSource,
        kernel: KernelSet | Kernel | ArrayLike,
        *,
        budget: int = BAND_BYTES,
        **options: Unpack[FilterOptions],
    ) -> None:
        shape = tuple(source.shape)
        self._flat = len(shape) == 2
        self.shape = (*shape[:2], 1) if self._flat else shape
        self.source = source
        job = _job_for(self.shape, np.dtype(source.dtype), kernel, options)
        self._plan = _band_plan(self.shape, np.dtype(source.dtype), job, budget)
        self._bands = [
            (first, stop) for first, stop, _, _ in bands(self._plan.whole, self._plan.height)
        ]
        self._opaque = _opaque(self._read, self.shape[0], self._plan.job, max(1, self._plan.height))
        self._first: Result | None = None
        self.methods: tuple[str, ...] = ()

    def _read(self, a: int, b: int) -> NDArray[np.generic]:
        rows = np.asarray(self.source[a:b])
        return rows[..., None] if self._flat else rows

    def plan(self) -> Planned:
        """The output's shape, type and bands, from filtering the first band (kept for run)."""
        if self._first is None:
            first, stop = self._bands[0]
            self._first = _band(self._plan, self._read, first, stop, self._opaque)
        probe = self._first
        ho, wo = self._plan.whole.out_shape
        channels = probe.pixels.shape[2:] if probe.pixels.ndim == 3 else ()
        return Planned(
            (ho, wo, *channels),
            probe.pixels.dtype,
            probe.bands,
            probe.depth,
            self._plan.whole,
            self._plan.height,
        )

    def run(self, sink: RowSink, progress: Callable[[int, int], None] | None = None) -> None:
        """Filter every band into ``sink`` (``sink[first:stop] = rows``), top to bottom.

        ``progress`` is called with the output rows done and their total.
        """
        ho = self._plan.whole.out_shape[0]
        for index, (first, stop) in enumerate(self._bands):
            result = self._first if index == 0 and self._first is not None else None
            if result is None:
                result = _band(self._plan, self._read, first, stop, self._opaque)
            self._first = None  # a band's rows are held only until written
            sink[first:stop] = result.pixels
            self.methods = result.filtered.methods
            if progress is not None:
                progress(stop, ho)


def filter_window(
    window: ArrayLike,
    start: int,
    shape: tuple[int, int],
    kernel: KernelSet | Kernel | ArrayLike,
    out_rows: tuple[int, int],
    *,
    opaque: bool | None = None,
    **options: Unpack[FilterOptions],
) -> Result:
    """Output rows ``out_rows`` of filtering an image of which ``window`` holds some rows.

    The rows come out as :func:`filter_image` computes them for the whole
    image, to the same bits (the FFT method too, when the band starts on
    the block grid: see :func:`band_height`). This is the function a tile,
    a band or a Dask block calls.

    Parameters
    ----------
    window : array_like
        Rows ``start`` to ``start + len(window) - 1`` of the image,
        ``(rows, W)`` or ``(rows, W, C)``: at least the rows the outputs'
        windows cover (a margin of the kernel's reach around them is
        always enough).
    start : int
        The image row ``window`` begins at.
    shape : tuple of int
        The whole image's ``(H, W)``.
    kernel, **options
        As :func:`filter_image` takes them.
    out_rows : tuple of int
        ``(first, stop)``: the output rows wanted.
    opaque : bool, optional
        Whether the whole image is fully opaque (for images with alpha,
        whose weighting is skipped when it is); decided from the window
        when not given, which can differ from the whole image's decision.

    Returns
    -------
    Result
        ``stop - first`` output rows.
    """
    data = np.asarray(window)
    flat = data.ndim == 2
    if flat:
        data = data[..., None]
    full = (shape[0], shape[1], data.shape[2])
    job = _job_for(full, data.dtype, kernel, options)
    plan = _band_plan(full, data.dtype, job, BAND_BYTES)
    first, stop = out_rows
    ho = plan.whole.out_shape[0]
    if not 0 <= first < stop <= ho:
        msg = f"output rows {first}:{stop} are outside the result's {ho} rows"
        raise GeometryError(msg)
    return _band(plan, _reader(data, start), first, stop, opaque)


@dataclass(frozen=True)
class BandPlan:
    """How an image is cut into bands of output rows that compute as the whole image does.

    Attributes
    ----------
    geometry : Geometry
        The whole image's sizes, padding, stride and dilation.
    height : int
        Output rows per band (a band next to an edge may be taller: it
        holds the rows the padding copies). With the FFT, bands of this
        height start on the whole image's block grid.
    ranges : tuple of (int, int)
        ``(first, stop)`` output rows of every band, top to bottom.
    """

    geometry: Geometry
    height: int
    ranges: tuple[tuple[int, int], ...]


def plan_bands(
    shape: tuple[int, ...],
    dtype: np.dtype[Any] | type,
    kernel: KernelSet | Kernel | ArrayLike,
    budget: int = BAND_BYTES,
    **options: Unpack[FilterOptions],
) -> BandPlan:
    """Bands of about ``budget`` bytes of floats each for an image of ``shape`` and ``dtype``.

    Raises
    ------
    UsageError
        For a job that needs the whole image at once (``--map normalize``,
        a chain, kernels of several shapes), or bad options.
    """
    full = tuple(shape) if len(shape) == 3 else (*shape[:2], 1)
    job = _job_for(full, np.dtype(dtype), kernel, options)
    plan = _band_plan(full, np.dtype(dtype), job, budget)
    ranges = tuple((first, stop) for first, stop, _, _ in bands(plan.whole, plan.height))
    return BandPlan(plan.whole, plan.height, ranges)


def band_height(
    shape: tuple[int, ...],
    dtype: np.dtype[Any] | type,
    kernel: KernelSet | Kernel | ArrayLike,
    budget: int = BAND_BYTES,
    **options: Unpack[FilterOptions],
) -> int:
    """Output rows per band for about ``budget`` bytes of floats a band (see :func:`plan_bands`)."""
    return plan_bands(shape, dtype, kernel, budget, **options).height


def opaque_from(
    lowest_alpha: float,
    shape: tuple[int, ...],
    dtype: np.dtype[Any] | type,
    kernel: KernelSet | Kernel | ArrayLike,
    **options: Unpack[FilterOptions],
) -> bool | None:
    """Whether an image of lowest alpha ``lowest_alpha`` is fully opaque, as filtering decides.

    What :func:`filter_window`'s ``opaque`` wants, computed from one number
    (say, a Dask array's minimum) rather than the whole image. None when it
    does not matter: no alpha band, or an alpha mode that does not weight.
    """
    channels = shape[2] if len(shape) == 3 else 1
    pixel = np.zeros((1, 1, channels), np.dtype(dtype))
    job = _job_for(pixel.shape, pixel.dtype, kernel, options)
    pixel[..., -1] = lowest_alpha
    return _opaque(_reader(pixel), 1, job, 1)


def _chain(
    planes: FloatArray,
    bands: tuple[str, ...],
    kernels: KernelSet,
    settings: Settings,
    alpha_max: float,
) -> Filtered:
    """Each kernel filters the previous one's result, in float (no rounding between).

    Padding, border, dilation, channels and alpha apply at every step; the
    stride only at the last, so a chain samples once, like the single
    kernel it amounts to. Each kernel's own bias is added at its step and
    the set's bias at the end.
    """
    methods: list[str] = []
    steps = kernels.kernels
    filtered: Filtered | None = None
    for index, kernel in enumerate(steps):
        last = index == len(steps) - 1
        step = KernelSet(kernel.name, (kernel,), bias=kernels.bias if last else 0.0)
        step_settings = settings if last else replace(settings, stride=(1, 1))
        filtered = filter_planes(planes, bands, step, step_settings, alpha_max=alpha_max)
        planes, bands = filtered.maps, filtered.bands
        methods += filtered.methods
    assert filtered is not None  # a KernelSet is never empty
    return replace(filtered, methods=tuple(methods))


def filter_stack(
    image: ArrayLike,
    kernel: KernelSet | Kernel | ArrayLike,
    **options: Unpack[FilterOptions],
) -> list[Result]:
    """Each kernel of a set on its own: one :class:`Result` per kernel, in order.

    Takes the same options as :func:`filter_image` (``combine`` is ignored:
    this is the ``stack`` combination). Each map gets the set's bias.
    """
    kernel_set = prepare_kernels(
        kernels_of(kernel),
        scale=options.get("scale"),
        bias=options.get("bias"),
        normalize=options.get("normalize", False),
    )
    single: FilterOptions = {**options, "scale": None, "bias": None, "normalize": False}
    single["combine"] = None
    return [
        filter_image(image, KernelSet(k.name, (k,), bias=kernel_set.bias), **single)
        for k in kernel_set.kernels
    ]


def with_combine(kernels: KernelSet, combine: Combine | None) -> KernelSet:
    """The set with ``combine`` as its rule (or its own); one is needed for several kernels.

    Raises
    ------
    UsageError
        For an unknown rule, or several kernels and no rule at all (a
        user's file of kernels does not say how to combine them).
    """
    if combine is not None and combine not in COMBINES:
        msg = f"unknown combine {combine!r}; expected one of {', '.join(COMBINES)}"
        raise UsageError(msg)
    chosen = combine or kernels.combine
    if len(kernels.kernels) > 1 and chosen is None:
        msg = (
            f"{kernels.name!r} holds {len(kernels.kernels)} kernels; say how to combine "
            f"their results with --combine {'|'.join(COMBINES)}"
        )
        raise UsageError(msg)
    return kernels if chosen == kernels.combine else replace(kernels, combine=chosen)


def map_planes(
    filtered: Filtered, mode: MapMode, depth: DepthName, maximum: float
) -> NDArray[np.generic]:
    """Map ``filtered`` to ``depth``: ``mode`` for filtered bands, clip for the others."""
    target = DEPTHS[depth]
    flags = np.array(filtered.filtered)
    out = np.empty(filtered.maps.shape, dtype=target.dtype)
    if flags.all():
        # Every band filtered (the usual case): no gathered copies of the bands.
        map_values(filtered.maps, mode, target, maximum, out=out)
    elif flags.any():
        out[..., flags] = map_values(filtered.maps[..., flags], mode, target, maximum)
    if not flags.all():
        rest: MapMode = "raw" if mode == "raw" else "clip"
        out[..., ~flags] = map_values(filtered.maps[..., ~flags], rest, target, maximum)
    return out[..., 0] if out.shape[2] == 1 else out


def _output_depth(source: DepthName, depth: DepthName | None, mode: MapMode | None) -> DepthName:
    if depth is not None and depth not in DEPTHS:
        msg = f"unknown depth {depth!r}; expected 8, 16 or float"
        raise UsageError(msg)
    if mode == "raw":
        if depth is not None and depth != "float":
            msg = f"--map raw keeps float values; it cannot be written at depth {depth}"
            raise UsageError(msg)
        return "float"
    return depth or source


def _channel_mode(channels: str, colour: tuple[str, ...]) -> str:
    if channels in ("luma", "gray", "grey") and colour == ("C", "M", "Y", "K"):
        # Inks have no luminance without a colour profile: refuse to guess one.
        msg = (
            f"--channels {channels} works on RGB and grey images; this image is CMYK, "
            "filtered per ink: use each, or some of c,m,y,k"
        )
        raise UsageError(msg)
    if channels in CHANNEL_MODES:
        return channels
    if channels == "grey":
        return "gray"
    names = [c.strip().upper() for c in channels.split(",") if c.strip()]
    if not names:
        msg = f"--channels {channels!r} is empty; expected each, luma, gray or names such as r,g"
        raise UsageError(msg)
    for name in names:
        if name == "A":
            msg = "alpha is not a colour channel; use --alpha filter or --alpha plain to filter it"
            raise UsageError(msg)
        if name not in colour:
            have = ",".join(c.lower() for c in colour)
            msg = (
                f"--channels names {name.lower()!r}, which this {''.join(colour)} image "
                f"does not have; expected each, luma, gray or some of {have}"
            )
            raise UsageError(msg)
    return ",".join(names)


def _selected(mode: str, colour: tuple[str, ...]) -> tuple[int, ...]:
    if mode in CHANNEL_MODES:
        return tuple(range(len(colour)))
    wanted = mode.split(",")
    return tuple(i for i, name in enumerate(colour) if name in wanted)


def _luma(rgb: FloatArray) -> FloatArray:
    # Y = 0.299 R + 0.587 G + 0.114 B, written so that a grey pixel (R = G = B)
    # gives exactly its grey value in any precision.
    r, _, b = LUMA_WEIGHTS
    dt = rgb.dtype.type
    green = rgb[..., 1]
    luma: FloatArray = green + dt(r) * (rgb[..., 0] - green) + dt(b) * (rgb[..., 2] - green)
    return luma


def _oriented(kernel: Kernel, settings: Settings) -> Kernel:
    if settings.anchor is not None:
        kernel = Kernel(
            kernel.weights,
            scale=kernel.scale,
            bias=kernel.bias,
            anchor=settings.anchor,
            name=kernel.name,
        )
    return kernel.flipped() if settings.flip else kernel


def _geometry_for(shape: tuple[int, ...], kernel: Kernel, settings: Settings) -> Geometry:
    return plan(
        (shape[0], shape[1]),
        kernel.shape,
        padding=settings.padding,
        stride=settings.stride,
        dilation=settings.dilation,
        anchor=kernel.origin,
    )


def _shared_geometry(shape: tuple[int, ...], kernels: list[Kernel], settings: Settings) -> Geometry:
    geometries = [_geometry_for(shape, k, settings) for k in kernels]
    if len({g.out_shape for g in geometries}) > 1:
        listed = ", ".join(f"{k.name} {k.shape[0]}x{k.shape[1]}" for k in kernels)
        msg = f"the kernels give different output sizes ({listed}); use kernels of one size"
        raise GeometryError(msg)
    return geometries[0]


def _fully_opaque(opacity: FloatArray) -> bool:
    """Whether every pixel is opaque (alpha weighting would change nothing)."""
    return opacity.size > 0 and float(opacity.min()) >= 1


class _Applier:
    """Applies a kernel set to planes, padding each input once per padding."""

    def __init__(
        self,
        kernels: list[Kernel],
        kernel_set: KernelSet,
        settings: Settings,
        alpha_max: float,
        transform: PlaneTransform | None = None,
        whole: Geometry | None = None,
    ) -> None:
        self.kernels = kernels
        self.kernel_set = kernel_set
        self.settings = settings
        self.alpha_max = alpha_max
        self.transform = transform
        # A band of a larger image chooses methods as the whole image would.
        self.whole = whole
        self.methods: list[str] = []

    def apply(
        self,
        data: FloatArray,
        opacity: FloatArray | None,
        *,
        border: Border | None = None,
        bias: bool = True,
    ) -> FloatArray:
        """Every kernel on ``data`` (H, W, c), combined, plus the biases.

        ``opacity`` (0..1) switches on alpha weighting; ``border`` overrides
        the settings' border; ``bias=False`` leaves the biases out (for an
        alpha channel filtered along with the colour).
        """
        if self.transform is not None:
            return self._transformed(self.transform, data, opacity)
        padded: dict[tuple[int, int, int, int], _Padded] = {}
        results = []
        for kernel in self.kernels:
            geometry = _geometry_for(data.shape, kernel, self.settings)
            method = self._method(kernel.matrix, geometry)
            if opacity is None:
                # No padded copy of the image: its interior is read in place,
                # the frame from small padded strips (the same numbers).
                rule = border or self.settings.border
                out = correlate_framed(data, kernel.matrix, geometry, rule, method=method)
            else:
                if geometry.pads not in padded:
                    padded[geometry.pads] = self._pad(data, opacity, geometry, border)
                out = self._one(kernel, geometry, padded[geometry.pads], method)
            if bias and kernel.bias:
                out += out.dtype.type(kernel.bias)
            results.append(out)
        if len(results) == 1:
            combined = results[0]
        else:
            combined = _combine(results, self.kernel_set.combine)
        if bias and self.kernel_set.bias:
            combined += combined.dtype.type(self.kernel_set.bias)
        return combined

    def _transformed(
        self, transform: PlaneTransform, data: FloatArray, opacity: FloatArray | None
    ) -> FloatArray:
        """``transform(data)``; with ``opacity``, ``transform(a*c) / transform(a)`` if covered."""
        self.methods.append(getattr(transform, "__name__", "transform"))
        if opacity is None:
            return transform(data.astype(np.float64)).astype(data.dtype, copy=False)
        weights = opacity[..., None].astype(np.float64)
        numerator = transform(data * weights)
        share = transform(weights)
        covered = share > _MIN_OPAQUE_SHARE
        out = np.where(covered, numerator / np.where(covered, share, 1), data)
        return out.astype(data.dtype, copy=False)

    def opaque_border(self) -> Border:
        """The border an alpha plane gets under alpha weighting.

        Zero and constant borders are opaque pixels of value V (ImageMagick's
        black virtual pixels are opaque too), so an opaque image is weighted
        exactly like one without alpha. The other borders copy image pixels,
        alpha included.
        """
        border = self.settings.border
        if border.mode in ("zero", "constant"):
            return Border("constant", self.alpha_max)
        return border

    def _pad(
        self,
        data: FloatArray,
        opacity: FloatArray | None,
        geometry: Geometry,
        border: Border | None,
    ) -> _Padded:
        border = border or self.settings.border
        if opacity is None:
            return _Padded(pad(data, geometry, border))
        opacity_border = self.opaque_border()
        if opacity_border.mode == "constant":
            opacity_border = Border("constant", 1.0)
        # Weighted in float64, so that dividing by the alpha undoes multiplying
        # by it to well within float32's precision: an identity kernel returns
        # colour under partial alpha exactly.
        weights = opacity[..., None].astype(np.float64)
        return _Padded(
            pad(data, geometry, border),
            pad(data * weights, geometry, border),
            pad(weights, geometry, opacity_border),
        )

    def _method(self, matrix: NDArray[np.float64], geometry: Geometry) -> Chosen:
        """The method for ``matrix`` (chosen for the whole image, for a band), noted."""
        method = self.settings.method
        chosen = choose_method(matrix, self.whole or geometry) if method == "auto" else method
        self.methods.append(chosen)
        return chosen

    def _one(
        self, kernel: Kernel, geometry: Geometry, padded: _Padded, method: Chosen
    ) -> FloatArray:
        matrix = kernel.matrix
        chooser = self.whole or geometry
        if padded.premultiplied is None or padded.opacity is None:
            out = correlate_padded(padded.plain, matrix, geometry, method=method)
        else:
            # |K| need not factor as K does (a Laplacian of Gaussian does not):
            # the share picks its own method when K's was separable.
            magnitude = np.abs(matrix)
            share_method = method
            if method == "separable":
                share_method = choose_method(magnitude / magnitude.sum(), chooser)
            out = _alpha_weighted(
                padded.plain,
                padded.premultiplied,
                padded.opacity,
                matrix,
                geometry,
                (method, share_method),
            )
        return out


@dataclass(frozen=True)
class _Padded:
    """One input padded for a geometry; with alpha weighting, also a*c and a."""

    plain: FloatArray
    premultiplied: FloatArray | None = None
    opacity: FloatArray | None = None


def _alpha_weighted(
    plain: FloatArray,
    premultiplied: FloatArray,
    opacity: FloatArray,
    matrix: NDArray[np.float64],
    geometry: Geometry,
    methods: tuple[Method, Method],
) -> FloatArray:
    """Alpha-weighted correlation of padded planes (KERNELS.md section 5).

    ``sum K * a * c / share``, where ``share = sum |K| * a / sum |K|`` is the
    part of the kernel's absolute weight on opaque pixels. For a blur that
    is the alpha-weighted mean; fully opaque it is the plain result; where
    no opaque pixel is under the kernel the colour is left as it was.
    ``methods`` are the numerator's and the share's.
    """
    numerator = correlate_padded(premultiplied, matrix, geometry, method=methods[0])
    magnitude = np.abs(matrix)
    share = correlate_padded(opacity, magnitude / magnitude.sum(), geometry, method=methods[1])
    covered = share > _MIN_OPAQUE_SHARE
    # In place (the numerator is a new array, not the padded input that
    # every kernel of a set reads), not through np.where's new arrays: a
    # third of the time of weighting a 4096 x 4096 RGBA image went to them.
    np.divide(numerator, share, out=numerator, where=covered)
    np.copyto(numerator, sample(plain, geometry), where=np.logical_not(covered, out=covered))
    return numerator.astype(plain.dtype, copy=False)


def _combine(results: list[FloatArray], how: Combine | None) -> FloatArray:
    if how is None or how in ("stack", "chain"):
        # with_combine() refuses these before any work is done.
        msg = f"cannot combine {len(results)} maps into one with {how!r}"
        raise UsageError(msg)
    # Map by map into one array, not through a stack of them all: stacking
    # 8 Kirsch maps took a third of `apply kirsch` on a 4096 x 4096 image.
    # The order of the operations is a reduction's over a stack's first
    # axis (one map after another), so the numbers are the same.
    combined: FloatArray = results[0].astype(np.result_type(*results))  # a copy to work in
    if how == "magnitude":
        np.multiply(combined, combined, out=combined)
        for result in results[1:]:
            combined += result * result
        np.sqrt(combined, out=combined)
        return combined
    step = {"max": np.maximum, "min": np.minimum, "sum": np.add}[how]
    for result in results[1:]:
        step(combined, result, out=combined)
    return combined
