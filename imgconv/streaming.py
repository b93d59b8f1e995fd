"""Images larger than memory: read by strips, filter band by band, write by strips.

When an image would take more than the memory limit to filter whole, and
both its format and the output's can be read and written by region (a
``.npy`` file through a memory map; a TIFF by strips or tiles, with the
``tiff`` extra), :func:`stream_file` filters it without ever holding it:
one band of input rows (with the margin its kernel reaches), that band's
floats and its output rows at a time. The core computes each band exactly
as the whole image would (:class:`imgconv.core.filtering.Banded`), so the
result is the in-memory result to the bit.

Other formats (PNG, JPEG, ...) must be decoded whole; the in-memory path
then still filters in bands, so memory holds the decoded image, the output
and a few bands, not float copies of the image.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:
    from .core.geometry import Geometry
    from .core.kernels import KernelSet
    from .core.mapping import DepthName

#: Bytes of floats per band when streaming: small enough that a band's few
#: float arrays stay far below any sensible limit, large enough that the
#: per-band overhead (Python, thread start-up, FFT block edges) is noise.
STREAM_BAND_BYTES = 16 << 20

#: Floats in flight per input sample when an image is filtered whole: the
#: float planes, the padded planes, the maps and the mapped output, about
#: four float32 copies (measured peak on 4096 x 4096 RGB: 3.9 copies).
WHOLE_BYTES_PER_SAMPLE = 16


def default_memory_limit() -> int:
    """A quarter of the machine's memory (2 GiB when it cannot be read)."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2 << 30
    return max(256 << 20, pages * size // 4)


def whole_bytes(shape: tuple[int, ...], itemsize: int) -> int:
    """About how much memory filtering an image of ``shape`` whole takes."""
    samples = 1
    for n in shape:
        samples *= n
    return samples * (itemsize + WHOLE_BYTES_PER_SAMPLE)


@dataclass(frozen=True)
class Streamed:
    """What :func:`stream_file` wrote."""

    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    in_bands: tuple[str, ...]
    out_bands: tuple[str, ...]
    depth: DepthName
    methods: tuple[str, ...]
    numeric: bool
    geometry: Geometry


class _AsFloat64:
    """A numeric matrix's rows as float64, as :mod:`imgconv.matrix_io` reads a whole one."""

    def __init__(self, rows: Any) -> None:
        import numpy as np

        self.rows = rows
        self.shape = tuple(rows.shape)
        self.dtype = np.dtype(np.float64)

    def __getitem__(self, index: slice) -> Any:
        import numpy as np

        return np.asarray(self.rows[index], dtype=np.float64)


def can_stream(source: str, target: str | None, out_format: str | None) -> bool:
    """Whether the formats allow it: a file read and a file written by region."""
    if target is None or source == "-" or target == "-" or out_format not in ("NPY", "TIFF"):
        return False
    return os.path.isfile(source)


def stream_file(
    kernels: KernelSet,
    source: str,
    target: str,
    out_format: str,
    *,
    memory_limit: int | None,
    max_pixels: int | None,
    frame: int | None,
    check_numeric: Callable[[int], None] | None = None,
    **options: Any,
) -> Streamed | None:
    """Filter ``source`` into ``target`` band by band when it is over the limit and can be.

    Returns None, having done nothing, when the image fits the limit or
    cannot be streamed (a format read whole, several frames, a job that
    needs the whole image); the caller then filters it in memory.
    ``check_numeric`` is called with the channel count of a numeric matrix
    (a ``.npy`` file) before anything is written, to refuse what cannot be
    written from numbers.

    Raises
    ------
    UsageError
        The image is over ``max_pixels``.
    ImageReadError, ImageWriteError
        From reading or writing; the target is then left as it was.
    """
    from .core.filtering import Banded
    from .regions import create_rows, open_rows, peek

    # The header says whether the file is large enough to stream, before
    # the row reader (and tifffile) is loaded for it.
    if memory_limit is None:
        return None
    peeked = peek(source)
    if peeked is None or whole_bytes(*peeked) <= memory_limit:
        return None
    source_rows = open_rows(source)
    if source_rows is None:
        return None
    with source_rows:
        if frame not in (None, 0) or (getattr(source_rows, "pages", 1) > 1 and frame is None):
            return None  # other pages of a multi-page TIFF: read whole, as pages
        shape = tuple(source_rows.shape)
        if max_pixels is not None and shape[0] * shape[1] > max_pixels:
            msg = (
                f"{source!r} has {shape[0] * shape[1]} pixels ({shape[1]} x {shape[0]}), over "
                f"the limit of {max_pixels}; raise --max-pixels if it is trusted"
            )
            raise UsageError(msg)
        numeric = bool(source_rows.numeric)
        if numeric and check_numeric is not None:
            check_numeric(shape[2] if len(shape) == 3 else 1)
        rows: Any = source_rows
        if numeric:
            options = {**options, "map": "raw", "depth": "float"}
            rows = _AsFloat64(source_rows)
        try:
            banded = Banded(
                rows,
                kernels,
                budget=STREAM_BAND_BYTES,
                **{**options, "bands": source_rows.bands, "keep_maps": False},
            )
        except UsageError:
            return None  # a job that needs the whole image: filtered in memory
        planned = banded.plan()
        with create_rows(target, planned.shape, planned.dtype, out_format, planned.bands) as sink:
            banded.run(sink)
            sink.commit()
    return Streamed(
        in_shape=shape,
        out_shape=planned.shape,
        in_bands=tuple(source_rows.bands),
        out_bands=planned.bands,
        depth=planned.depth,
        methods=banded.methods,
        numeric=numeric,
        geometry=planned.geometry,
    )
