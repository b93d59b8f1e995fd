"""File-level Python API: read an image, filter it, write the result.

The command line's ``apply`` is a thin adapter over :func:`apply_file`;
scripts can call it directly. Array-level work is in :mod:`imgconv.core`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import BinaryIO, Literal, Unpack

import numpy as np
from numpy.typing import NDArray

from .core.filtering import (
    FilterOptions,
    Result,
    filter_image,
    filter_stack,
    prepare_kernels,
    with_combine,
)
from .core.geometry import Geometry
from .core.kernels import Bank, Kernel, KernelSet, kernels_of
from .core.layer import LayerOptions, LayerResult, conv_layer
from .core.mapping import DepthName
from .errors import FormatError, ImgconvError, KernelError, UsageError
from .image_io import (
    DEFAULT_MAX_PIXELS,
    FLOAT_FORMATS,
    Picture,
    SaveOptions,
    check_frames,
    check_save_options,
    depth_hint,
    encode_montage,
    encode_picture,
    encode_stack,
    output_format,
    read_picture,
    stack_refusal,
    write_output,
)
from .kernel_source import resolve_kernel
from .matrix_io import NUMBER_FORMATS, Encoded
from .streaming import can_stream, default_memory_limit, stream_file

#: Formats that hold a stack of maps (``--combine stack``).
STACK_FORMATS = frozenset({"TIFF", "NPY", "TXT", "CSV"})


@dataclass(frozen=True)
class Applied:
    """What :func:`apply_file` did, for messages and scripts.

    Attributes
    ----------
    source : str
        Input as given (``-`` for standard input).
    target : str or None
        Output as given (``-`` for standard output); None when nothing
        was written (the maps were only wanted for printing).
    format : str or None
        Output format (``PNG``, ``TIFF``, ``NPY``, ``TXT``, ...).
    kernels : KernelSet
        The kernels applied (after ``scale``/``normalize``/``bias``, with
        the combine rule used).
    in_bands, out_bands : tuple of str
        Band names of the input and of the output.
    depth : str
        Output depth (``8``, ``16`` or ``float``).
    geometry : Geometry
        Sizes, padding, stride and dilation used.
    methods : tuple of str
        The convolution method chosen per kernel.
    warnings : tuple of str
        Things the user should know (e.g. alpha dropped for JPEG).
    frames : int
        How many frames were filtered (pages of a TIFF, frames of an
        animation).
    maps : tuple of (str, ndarray)
        Every computed feature map before value mapping, in working units
        (0..255 for 8-bit input; as given for a numeric matrix), labelled:
        one per output band, for each kernel with ``stack``.
    numeric : bool
        Whether the input was a numeric matrix rather than an image.
    streamed : bool
        Whether the image was streamed band by band from file to file
        (over ``memory_limit``) rather than held whole.
    """

    source: str
    target: str | None
    format: str | None
    kernels: KernelSet
    in_bands: tuple[str, ...]
    out_bands: tuple[str, ...]
    depth: DepthName
    geometry: Geometry
    methods: tuple[str, ...]
    warnings: tuple[str, ...]
    frames: int = 1
    maps: tuple[tuple[str, NDArray[np.floating]], ...] = ()
    numeric: bool = False
    streamed: bool = False


def as_kernel_set(
    kernel: str | KernelSet | Kernel | Bank,
    stdin: BinaryIO | None,
    *,
    takes: str = "apply takes 2-D kernels (H x W, or K x 1 x H x W), each applied to every "
    "channel on its own",
) -> KernelSet:
    """The 2-D kernels that ``apply`` can use, from any kernel source.

    Raises
    ------
    KernelError
        For a bank whose kernels are more than one channel deep: those mix
        channels, as a convolutional layer does; ``takes`` says what the
        command takes instead.
    """
    spec = resolve_kernel(kernel, stdin=stdin) if isinstance(kernel, str) else kernel
    if isinstance(spec, Bank):
        kernels = spec.as_kernels()
        if kernels is None:
            k, c, h, w = spec.shape
            what = (
                f"a kernel {c} channels deep"
                if k == 1
                else f"a bank of {k} kernels {c} channels deep"
            )
            msg = f"kernel {spec.name!r} is {what} ({k} x {c} x {h} x {w}); {takes}"
            raise KernelError(msg)
        return kernels
    return kernels_of(spec)


def single_kernel(
    kernel: str | KernelSet | Kernel | Bank,
    stdin: BinaryIO | None,
    *,
    scale: float | None = None,
    bias: float | None = None,
    normalize: bool = False,
) -> Kernel:
    """The one 2-D kernel ``explain`` takes, with ``scale``, ``bias`` and ``normalize`` applied.

    Raises
    ------
    KernelError
        For a deep kernel, or a set of several kernels (naming the first).
    """
    kernels = as_kernel_set(
        kernel, stdin, takes="explain takes one 2-D kernel (H x W, or 1 x 1 x H x W)"
    )
    if len(kernels.kernels) > 1:
        names = [k.name for k in kernels.kernels]
        listed = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        msg = (
            f"kernel {kernels.name!r} is a set of {len(names)} kernels ({listed}); explain "
            f"takes one 2-D kernel, such as {names[0]}"
        )
        raise KernelError(msg)
    prepared = prepare_kernels(kernels, scale=scale, bias=bias, normalize=normalize)
    only = prepared.kernels[0]
    return only.with_values(name=prepared.name, bias=only.bias + prepared.bias)


def apply_file(
    kernel: str | KernelSet | Kernel | Bank,
    source: str,
    target: str | None,
    *,
    format: str | None = None,
    save: SaveOptions | None = None,
    frame: int | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    memory_limit: int | Literal["auto"] | None = "auto",
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
    **options: Unpack[FilterOptions],
) -> Applied:
    """Filter the image or numeric matrix at ``source`` and write it to ``target``.

    Parameters
    ----------
    kernel : str, KernelSet, Kernel or Bank
        A built-in name, kernel file, inline kernel or ``-`` (standard
        input), or kernel objects.
    source : str
        A path, or ``-`` for standard input (``stdin`` may be given; the
        process's binary stream by default). An image, or a numeric matrix
        (``.txt``, ``.csv``, ``.npy``) whose numbers are used as they are.
    target : str or None
        A path, ``-`` for standard output (``stdout``), or None to write
        nothing and only compute (see :attr:`Applied.maps`).
    format : str, optional
        Output format; from ``target``'s suffix by default (PNG for ``-``).
    save : SaveOptions, optional
        JPEG/WebP/AVIF ``quality`` and PNG ``compression``.
    frame : int or None, optional
        The frame of a multi-frame input to filter (from 0); None filters
        every frame, and writes them all (TIFF pages, an animation, or a
        stack in ``.npy``), keeping display times and the loop count.
    max_pixels : int or None, optional
        Refuse inputs of more pixels than this (the decompression-bomb
        guard); None for no limit.
    memory_limit : int, "auto" or None, optional
        Bytes. An image that would take more to filter whole, read from a
        ``.npy`` or TIFF file and written to one, is streamed: read,
        filtered and written band by band, never held whole (see
        :mod:`imgconv.streaming`); the result is the same to the bit.
        ``"auto"``: a quarter of the machine's memory; None: never stream.
    **options
        As :func:`imgconv.core.filtering.filter_image` takes them
        (``keep_maps=False`` leaves :attr:`Applied.maps` empty, which saves
        a float copy of the output on large images). With
        ``combine="stack"`` each kernel's map is written: one page each in
        a TIFF, one ``(K, H, W[, C])`` array in ``.npy``, or a block each in
        ``.txt`` and ``.csv``.

    Returns
    -------
    Applied

    Raises
    ------
    UsageError
        Bad options, or an output format that cannot hold the result (a
        numeric matrix has no pixel range: it is written as numbers only).
    ImageReadError, ImageWriteError
        The input cannot be read or the output written; the output is then
        left as it was (writes are atomic).
    """
    if kernel == "-" and source == "-":
        msg = "KERNEL and INPUT cannot both be '-': standard input holds only one of them"
        raise UsageError(msg)
    prepared = prepare_kernels(
        as_kernel_set(kernel, stdin),
        scale=options.get("scale"),
        bias=options.get("bias"),
        normalize=options.get("normalize", False),
    )
    prepared = with_combine(prepared, options.get("combine"))
    stacked = prepared.combine == "stack" and len(prepared.kernels) > 1
    out_format = None if target is None else output_format(target, format)
    if out_format is not None:
        check_format(out_format, options, stacked=stacked)
        check_save_options(out_format, save)
    rest: FilterOptions = {**options, "scale": None, "bias": None, "normalize": False}
    rest["combine"] = prepared.combine
    single = prepared  # what filter_image applies when the kernels are not stacked
    if not stacked and prepared.combine == "stack":  # one kernel: its map is the stack
        rest["combine"] = None
        single = replace(prepared, combine=None)
    if not stacked and out_format is not None and can_stream(source, target, out_format):
        limit = default_memory_limit() if memory_limit == "auto" else memory_limit
        assert target is not None  # can_stream() says so
        streamed = stream_file(
            prepared,
            source,
            target,
            out_format,
            memory_limit=limit,
            max_pixels=max_pixels,
            frame=frame,
            check_numeric=lambda channels: check_numeric(source, out_format, channels, options),
            **rest,
        )
        if streamed is not None:
            return Applied(
                source=source,
                target=target,
                format=out_format,
                kernels=prepared,
                in_bands=streamed.in_bands,
                out_bands=streamed.out_bands,
                depth=streamed.depth,
                geometry=streamed.geometry,
                methods=streamed.methods,
                warnings=(),
                numeric=streamed.numeric,
                streamed=True,
            )
    picture: Picture | None = None
    if not stacked and target is not None and out_format is not None and source != "-":
        if not options.get("keep_maps", True):
            overlapped = _apply_while_decoding(
                prepared, single, source, target, out_format, save, frame, max_pixels, stdout, rest
            )
            if isinstance(overlapped, Applied):
                return overlapped
            picture = overlapped
    if picture is None:
        picture = read_picture(source, stdin=stdin, frame=frame, max_pixels=max_pixels)
    where = "standard input" if source == "-" else repr(source)
    frames = picture.frames
    if out_format is not None:
        check_frames(out_format, len(frames))
    if stacked and len(frames) > 1:
        msg = (
            f"--combine stack writes a map per kernel, and {where} has {len(frames)} frames; "
            "pick one with --frame N"
        )
        raise UsageError(msg)
    rest["bands"] = picture.bands
    if picture.numeric:
        check_numeric(source, out_format, len(picture.bands), options)
        rest["map"], rest["depth"] = "raw", "float"
    warnings: list[str] = []
    with memory_guard(where, picture.pixels.shape, len(frames)):
        if stacked:
            results = filter_stack(picture.pixels, prepared, **rest)
            names = [k.name for k in prepared.kernels]
        else:
            results = [filter_image(pixels, single, **rest) for pixels in frames]
            names = [prepared.name]
            if len(frames) > 1:
                names = [f"{prepared.name} frame {index}" for index in range(len(frames))]
        # The input's pixels are done with: let them go before encoding,
        # which needs memory of its own.
        count = len(frames)
        del frames
        empty = np.empty((0, *picture.pixels.shape[1:]), picture.pixels.dtype)  # not a view
        picture = replace(picture, pixels=empty, more_frames=())
        if target is not None and out_format is not None:
            if stacked:
                data = encode_stack(
                    [r.pixels for r in results],
                    results[0].bands,
                    out_format,
                    names=names,
                    info=picture.info,
                )
                write_output(data, target, stdout=stdout)
            else:
                warnings = write_frames(
                    results, picture, out_format, target, save=save, stdout=stdout
                )
    result = results[0]
    return Applied(
        source=source,
        target=target,
        format=out_format,
        kernels=prepared,
        in_bands=picture.bands,
        out_bands=result.bands,
        depth=result.depth,
        geometry=result.filtered.geometry,
        methods=tuple(m for r in (results if stacked else results[:1]) for m in r.filtered.methods),
        warnings=tuple(warnings),
        frames=count,
        maps=tuple(labelled_maps(names, results)) if options.get("keep_maps", True) else (),
        numeric=picture.numeric,
    )


def _apply_while_decoding(
    prepared: KernelSet,
    single: KernelSet,
    source: str,
    target: str,
    out_format: str,
    save: SaveOptions | None,
    frame: int | None,
    max_pixels: int | None,
    stdout: BinaryIO | None,
    rest: FilterOptions,
) -> Applied | Picture | None:
    """Filter an RGB PNG or JPEG band by band while a thread decodes it (:mod:`.decoding`).

    The same numbers as filtering the decoded image (bands compute what the
    whole image does), sooner: the decoder uses one core, the filter the
    others. Returns the result, or what to filter the ordinary way: the
    decoded picture when the job needs the whole image at once, or None
    (nothing decoded, or Pillow could not give the rows as they came).
    """
    from .core.filtering import Banded, fills_bands
    from .decoding import Unavailable, start

    def large(shape: tuple[int, int, int]) -> bool:  # small images: one band, nothing to overlap
        return fills_bands(shape, np.dtype(np.uint8))

    decoding = start(source, frame=frame, max_pixels=max_pixels, wanted=large)
    if decoding is None:
        return None
    options: FilterOptions = {**rest, "bands": ("R", "G", "B"), "keep_maps": False}
    try:
        with memory_guard(repr(source), decoding.shape, 1):
            try:
                banded = Banded(decoding, single, **options)
            except UsageError:  # a job that needs the whole image
                return decoding.finish()
            planned = banded.plan()
            pixels = np.empty(planned.shape, planned.dtype)
            banded.run(pixels)
        picture = decoding.finish(pixels=False)
    except Unavailable:
        return None
    methods = banded.methods
    del banded, decoding  # the decoded rows, before encoding needs memory
    warnings = _write_pixels([pixels], planned.bands, picture, out_format, target, save, stdout)
    return Applied(
        source=source,
        target=target,
        format=out_format,
        kernels=prepared,
        in_bands=picture.bands,
        out_bands=planned.bands,
        depth=planned.depth,
        geometry=planned.geometry,
        methods=methods,
        warnings=tuple(warnings),
    )


def write_frames(
    results: list[Result],
    picture: Picture,
    out_format: str,
    target: str,
    *,
    save: SaveOptions | None,
    stdout: BinaryIO | None,
) -> list[str]:
    """Encode the filtered frames of ``picture`` as one ``out_format`` file and write it.

    Metadata comes from ``picture``; a numeric matrix's one map goes to an
    image format as a grey float image (TIFF). Returns the encoder's warnings.
    """
    return _write_pixels(
        [r.pixels for r in results], results[0].bands, picture, out_format, target, save, stdout
    )


def _write_pixels(
    frames: list[NDArray[np.generic]],
    bands: tuple[str, ...],
    picture: Picture,
    out_format: str,
    target: str,
    save: SaveOptions | None,
    stdout: BinaryIO | None,
) -> list[str]:
    """:func:`write_frames` for frames of pixels with their bands."""
    numbers_as_grey = picture.numeric and out_format not in NUMBER_FORMATS
    data, warnings = encode_picture(
        frames[0],
        ("L",) if numbers_as_grey else bands,
        out_format,
        info=picture.info,
        save=save,
        more_frames=frames[1:],
    )
    write_output(data, target, stdout=stdout)
    return warnings


@contextmanager
def memory_guard(where: str, shape: tuple[int, ...], frames: int) -> Iterator[None]:
    """Report running out of memory (or NumPy refusing an impossible array) in one line."""
    try:
        yield
    except (MemoryError, ValueError) as exc:
        if isinstance(exc, ValueError) and "array is too big" not in str(exc):
            raise
        h, w, c = shape
        channels = f"{c} channel{'s' if c > 1 else ''}"
        msg = (
            f"not enough memory to filter {where} ({h} x {w} pixels, {channels}, "
            f"{frames} frame{'s' if frames > 1 else ''}); try a smaller image, less "
            "padding, fewer kernels or a larger --stride"
        )
        raise ImgconvError(msg) from exc


def labelled_maps(
    names: list[str], results: list[Result]
) -> list[tuple[str, NDArray[np.floating]]]:
    """One map per kernel and band, named ``KERNEL`` or ``KERNEL BAND``."""
    labelled = []
    for name, result in zip(names, results, strict=True):
        maps, bands = result.filtered.maps, result.filtered.bands
        for index, band in enumerate(bands):
            label = name if len(bands) == 1 else f"{name} {band}"
            labelled.append((label, maps[:, :, index]))
    return labelled


def check_numeric(
    source: str, out_format: str | None, channels: int, options: FilterOptions
) -> None:
    """A numeric matrix has no pixel range: its results are numbers, written as numbers."""
    where = "standard input" if source == "-" else repr(source)
    if out_format == "TIFF" and channels > 1:
        msg = (
            f"INPUT {where} is a numeric matrix of {channels} channels; a float TIFF holds "
            "one here: write .txt, .csv or .npy"
        )
        raise FormatError(msg, ("txt", "csv", "npy"))
    if out_format is not None and out_format not in NUMBER_FORMATS | {"TIFF"}:
        msg = (
            f"INPUT {where} is a numeric matrix, which has no pixel range to make {out_format} "
            "pixels from; write .txt, .csv, .npy or .tiff, or use --print"
        )
        raise FormatError(msg, ("txt", "csv", "npy", "tiff"))
    for option, value in (("--map", options.get("map")), ("--depth", options.get("depth"))):
        if value is not None and value not in ("raw", "float"):
            msg = (
                f"{option} {value} maps pixels to an image range; INPUT {where} is a numeric "
                "matrix, whose results are kept as numbers"
            )
            raise UsageError(msg)


def check_format(out_format: str, options: FilterOptions, *, stacked: bool) -> None:
    """Refuse, before any work, outputs the format cannot hold."""
    map_mode, depth = options.get("map"), options.get("depth")
    if (map_mode == "raw" or depth == "float") and out_format not in FLOAT_FORMATS:
        wanted = "--map raw" if map_mode == "raw" else "--depth float"
        instead = "another --map" if map_mode == "raw" else depth_hint(out_format)
        msg = (
            f"{wanted} keeps float values, which {out_format} cannot store; "
            f"write .tiff or .npy, or use {instead}"
        )
        raise FormatError(msg, ("tiff", "npy"))
    if stacked and out_format not in STACK_FORMATS:
        raise stack_refusal(out_format)


@dataclass(frozen=True)
class LayerApplied:
    """What :func:`features_file` did.

    Attributes
    ----------
    source : str
        Input as given.
    target : str or None
        Output as given; None when nothing was written.
    format : str or None
        Output format.
    in_shape : tuple of int
        ``(H, W, C)`` of the input volume.
    result : LayerResult
        The maps, geometry, bank as applied and parameter count.
    """

    source: str
    target: str | None
    format: str | None
    in_shape: tuple[int, int, int]
    result: LayerResult


def features_file(
    bank: str | KernelSet | Bank,
    source: str,
    target: str | None,
    *,
    format: str | None = None,
    montage: bool = False,
    frame: int = 0,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
    **layer: Unpack[LayerOptions],
) -> LayerApplied:
    """Apply a bank of kernels to the image or matrix at ``source``, like a CNN layer.

    Parameters
    ----------
    bank : str, KernelSet or Bank
        A kernel argument (``.npy`` ``K x C x F x F``, a deep text grid, a
        file of 2-D kernels or a built-in, broadcast over the channels), or
        kernel objects.
    source : str
        An image (its samples in their own units: 0..255 for 8-bit) or a
        numeric matrix, or ``-``.
    target : str or None
        Where the K maps go: a multi-page float ``.tiff``, ``.npy``
        (``K x H x W``), ``.txt``/``.csv``, or with ``montage`` a labelled
        grid of grey images (``.png``, ...); None to write nothing.
    format : str, optional
        Output format; from ``target``'s suffix by default.
    montage : bool
        Draw the maps as a labelled grid instead of writing their numbers.
    frame : int, optional
        Which frame of a multi-frame input to use (from 0).
    max_pixels : int or None, optional
        The decompression-bomb guard, as :func:`apply_file` has it.
    **layer
        As :func:`imgconv.core.layer.conv_layer` takes them.

    Returns
    -------
    LayerApplied
    """
    if bank == "-" and source == "-":
        msg = "BANK and INPUT cannot both be '-': standard input holds only one of them"
        raise UsageError(msg)
    spec = resolve_kernel(bank, stdin=stdin, deep=True) if isinstance(bank, str) else bank
    out_format = None if target is None else output_format(target, format)
    if out_format is not None and not montage and out_format not in FLOAT_FORMATS:
        msg = (
            f"features writes float maps, which {out_format} cannot store; write .tiff (a page "
            "per map), .npy, .txt or .csv, or draw them with --montage"
        )
        raise FormatError(msg, ("tiff", "npy", "txt", "csv"))
    picture = read_picture(source, stdin=stdin, frame=frame, max_pixels=max_pixels)
    where = "standard input" if source == "-" else repr(source)
    with memory_guard(where, picture.pixels.shape, 1):
        result = conv_layer(picture.pixels, spec, **layer)
    if target is not None and out_format is not None:
        # The maps as they are (float32 already): a copy of K full-size
        # maps, and another in a new stack, cost as much as computing them.
        maps = np.asarray(result.maps, dtype=np.float32)
        data: Encoded
        if montage:
            data = encode_montage(maps, result.names, out_format)
        else:
            data = encode_stack(maps, ("L",), out_format, names=list(result.names))
        write_output(data, target, stdout=stdout)
    h, w, c = picture.pixels.shape
    return LayerApplied(source, target, out_format, (h, w, c), result)
