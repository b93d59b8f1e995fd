"""File-level Python API: read an image, filter it, write the result.

The command line's ``apply`` is a thin adapter over :func:`apply_file`;
scripts can call it directly. Array-level work is in :mod:`imgconv.core`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from .core.filtering import filter_image, prepare_kernels
from .core.geometry import Geometry
from .core.kernels import Kernel, KernelSet, kernels_of
from .core.mapping import DepthName, MapMode
from .core.vocab import Border, Padding
from .errors import UsageError
from .image_io import FLOAT_FORMATS, encode_picture, output_format, read_picture, write_output
from .kernel_source import resolve_kernel


@dataclass(frozen=True)
class Applied:
    """What :func:`apply_file` did, for messages and scripts.

    Attributes
    ----------
    source, target : str
        Input and output as given (``-`` for the standard streams).
    format : str
        Output format (``PNG``, ``TIFF``, ``NPY``, ...).
    kernels : KernelSet
        The kernels applied (after ``scale``/``normalize``/``bias``).
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
    """

    source: str
    target: str
    format: str
    kernels: KernelSet
    in_bands: tuple[str, ...]
    out_bands: tuple[str, ...]
    depth: DepthName
    geometry: Geometry
    methods: tuple[str, ...]
    warnings: tuple[str, ...]


def apply_file(
    kernel: str | KernelSet | Kernel,
    source: str,
    target: str,
    *,
    format: str | None = None,
    flip: bool = False,
    padding: str | int | tuple[int, ...] | Padding = "same",
    border: str | Border = "edge",
    stride: int | tuple[int, int] | str = 1,
    dilation: int | tuple[int, int] | str = 1,
    anchor: tuple[int, int] | str | None = None,
    channels: str = "each",
    alpha: str = "weighted",
    scale: float | None = None,
    bias: float | None = None,
    normalize: bool = False,
    map: MapMode | None = None,
    depth: DepthName | None = None,
    method: str = "auto",
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
) -> Applied:
    """Filter the image at ``source`` and write it to ``target``.

    Parameters
    ----------
    kernel : str, KernelSet or Kernel
        A built-in name, kernel file or inline matrix, or kernel objects.
    source, target : str
        Paths, or ``-`` for standard input/output (``stdin``/``stdout``
        streams may be given; the process's binary streams by default).
    format : str, optional
        Output format; from ``target``'s suffix by default (PNG for ``-``).
    flip, padding, border, stride, dilation, anchor, channels, alpha, scale, \
bias, normalize, map, depth, method
        As in :func:`imgconv.core.filtering.filter_image`.

    Returns
    -------
    Applied

    Raises
    ------
    UsageError
        Bad options, or an output format that cannot hold the result.
    ImageReadError, ImageWriteError
        The input cannot be read or the output written; the output is then
        left as it was (writes are atomic).
    """
    kernel_set = resolve_kernel(kernel) if isinstance(kernel, str) else kernels_of(kernel)
    kernel_set = prepare_kernels(kernel_set, scale=scale, bias=bias, normalize=normalize)
    out_format = output_format(target, format)
    if (map == "raw" or depth == "float") and out_format not in FLOAT_FORMATS:
        wanted = "--map raw" if map == "raw" else "--depth float"
        msg = (
            f"{wanted} keeps float values, which {out_format} cannot store; "
            "write .tiff or .npy, or use --depth 8 or 16 with another --map"
        )
        raise UsageError(msg)
    picture = read_picture(source, stdin=stdin)
    result = filter_image(
        picture.pixels,
        kernel_set,
        bands=picture.bands,
        flip=flip,
        padding=padding,
        border=border,
        stride=stride,
        dilation=dilation,
        anchor=anchor,
        channels=channels,
        alpha=alpha,
        map=map,
        depth=depth,
        method=method,
    )
    data, warnings = encode_picture(result.pixels, result.bands, out_format, info=picture.info)
    write_output(data, target, stdout=stdout)
    return Applied(
        source=source,
        target=target,
        format=out_format,
        kernels=kernel_set,
        in_bands=picture.bands,
        out_bands=result.bands,
        depth=result.depth,
        geometry=result.filtered.geometry,
        methods=result.filtered.methods,
        warnings=tuple(warnings),
    )
