"""A convolutional layer by hand: a bank of deep kernels, bias, activation and pooling.

Each of the K kernels of a :class:`~imgconv.core.kernels.Bank` is as deep as
the input (C channels) and gives one feature map: at output cell ``(i, j)``

    map_k[i, j] = sum_{c, u, v} W[k, c, u, v] * P[i*s + d*u, j*s + d*v, c] + b_k

with ``P`` the padded input (the same geometry as ``apply``, KERNELS.md
section 2), applied as written unless ``flip``. Then an optional activation
and pooling. A layer of K kernels F x F x C has ``K*F*F*C + K`` parameters.

The sum over channels, kernel cells and kernels is a matrix product (im2col):
the ``F*F*C`` input values under each of ``n`` output pixels are copied,
from a strided sliding-window view, into the rows of a ``(F*F*C, n)``
matrix, and ``(K, F*F*C) @ (F*F*C, n)`` (BLAS) writes the ``K`` maps of
those pixels straight into the ``(K, H_out, W_out)`` result. No Python loop
runs over kernels, channels or kernel cells, and the result needs no
transposing copy. (A product per kernel cell, ``(H_out*W_out, C) @ (C, K)``,
is skinny for C = 3, and BLAS does it badly.)

Memory stays bounded: the input is padded (and turned channels-first) a
band of rows at a time into a reused buffer of about ``_BAND_BYTES``, and
im2col'd a chunk of outputs at a time into a reused matrix; besides the
maps, the only full-size array is an input padded with an edge, reflect or
wrap border. With a column stride the band is stored split by column
phase, so that the im2col copies read contiguous memory (see
:class:`_Layout`).

For a layer with few multiply-adds per pixel (an RGB image, a few small
kernels) and no row dilation, the copies cost more than the products, and
im2col copies each input row once for every output row whose kernels
cover it. Such layers copy each input row's windows once instead, and
each output row's matrix is a view of the copies of its input rows
(:class:`_RowWindows`). Either way, each BLAS product of such a layer is
about ``_TILE_MACS``, which BLAS runs on one thread, so bands go to one
worker thread per CPU, and the cores share the copies as well as the
products. A chunk (about
``_CHUNK_BYTES``, the size of a core's L2 cache) is one copy and one
batched product: NumPy releases the GIL for each call, and a thread that
takes it back every few microseconds spends its time waiting for it. A
deeper layer has tiles of about ``_TILE_BYTES`` of matrix, big products
that BLAS spreads over the cores itself.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view
from numpy.typing import ArrayLike, NDArray

from ..errors import GeometryError, UsageError
from .convolve import pad, refuse_overflow, work_dtype
from .geometry import Geometry, GeometryOptions, band_rows, plan, rows_by_columns
from .kernels import Bank, KernelSet
from .spatial import on_threads
from .vocab import Border, Padding, parse_anchor, parse_pair

Activation = Literal["relu", "leaky-relu", "sigmoid", "tanh"]
ACTIVATIONS: tuple[str, ...] = get_args(Activation)
Pool = Literal["max", "avg"]
POOLS: tuple[str, ...] = get_args(Pool)

#: The slope of ``leaky-relu`` for negative inputs unless another is given.
DEFAULT_LEAK = 0.01


@dataclass(frozen=True)
class Pooling:
    """Pooling after the activation: ``max`` or ``avg`` over ``size`` windows every ``stride``."""

    kind: Pool
    size: tuple[int, int]
    stride: tuple[int, int]


class LayerOptions(GeometryOptions, total=False):
    """The keyword vocabulary of :func:`conv_layer`: the geometry, then the layer's own."""

    bias: Sequence[float] | float | None
    activation: Activation | None
    leak: float
    pool: Pooling | None


@dataclass(frozen=True)
class LayerResult:
    """The K feature maps of a layer, and how they were made.

    Attributes
    ----------
    maps : ndarray
        ``(K, H_out, W_out)`` floats, after activation and pooling.
    names : tuple of str
        A name per map.
    geometry : Geometry
        The convolution's padding, stride, dilation and sizes.
    conv_shape : tuple of int
        ``(H, W)`` of each map after the convolution, before pooling.
    bank : Bank
        The kernels as applied (flipped if asked, broadcast over channels).
    parameters : int
        ``K*F_h*F_w*C + K``: weights and one bias per kernel.
    """

    maps: NDArray[np.floating]
    names: tuple[str, ...]
    geometry: Geometry
    conv_shape: tuple[int, int]
    bank: Bank
    parameters: int


def bank_for(kernels: KernelSet | Bank, channels: int) -> Bank:
    """The bank that applies ``kernels`` to an input of ``channels`` channels.

    A bank as deep as the input is used as it is; a bank one channel deep,
    and every 2-D kernel of a set, is broadcast: the same weights on every
    channel, summed (so a 2-D kernel on an RGB input responds to R + G + B).
    A kernel's scale is folded into its weights and its bias kept, plus
    the set's bias.

    Raises
    ------
    UsageError
        If the bank's depth is neither 1 nor ``channels``, or the kernels
        of a set differ in size.
    """
    if isinstance(kernels, Bank):
        k, c, h, w = kernels.shape
        if c == channels:
            return kernels
        if c == 1:
            weights = np.broadcast_to(kernels.weights, (k, channels, h, w))
            return Bank(weights, kernels.bias, kernels.name)
        msg = (
            f"the kernels of {kernels.name!r} are {c} channels deep but the input has "
            f"{channels}; a layer's kernels are as deep as its input"
        )
        raise UsageError(msg)
    shapes = {kernel.shape for kernel in kernels.kernels}
    if len(shapes) > 1:
        sizes = ", ".join(f"{k.name} {k.shape[0]}x{k.shape[1]}" for k in kernels.kernels)
        msg = f"the kernels of a layer must be of one size; got {sizes}"
        raise UsageError(msg)
    matrices = np.stack([kernel.matrix for kernel in kernels.kernels])[:, np.newaxis]
    k, _, h, w = matrices.shape
    bias = np.array([kernel.bias + kernels.bias for kernel in kernels.kernels])
    weights = np.broadcast_to(matrices, (k, channels, h, w))
    return Bank(weights, bias, kernels.name)


def kernel_names(kernels: KernelSet | Bank) -> tuple[str, ...]:
    """A name per kernel: the set's kernels' names, or ``BANK[i]``."""
    if isinstance(kernels, KernelSet):
        return tuple(kernel.name for kernel in kernels.kernels)
    count = kernels.shape[0]
    return (kernels.name,) if count == 1 else tuple(f"{kernels.name}[{i}]" for i in range(count))


def parameter_count(bank: Bank) -> int:
    """``K*F_h*F_w*C + K``: every weight and one bias per kernel.

    Examples
    --------
    >>> parameter_count(Bank(np.zeros((8, 3, 5, 5)), None))
    608
    """
    k, c, h, w = bank.shape
    return k * c * h * w + k


def conv_layer(
    volume: ArrayLike,
    kernels: KernelSet | Bank,
    *,
    flip: bool = False,
    padding: str | int | tuple[int, ...] | Padding = 0,
    border: str | Border = "zero",
    stride: int | tuple[int, int] | str = 1,
    dilation: int | tuple[int, int] | str = 1,
    anchor: tuple[int, int] | str | None = None,
    bias: Sequence[float] | float | None = None,
    activation: Activation | None = None,
    leak: float = DEFAULT_LEAK,
    pool: Pooling | None = None,
) -> LayerResult:
    """Apply a bank of K kernels, as deep as the input, like a CNN layer.

    Parameters
    ----------
    volume : array_like
        ``(H, W)`` or ``(H, W, C)`` numbers, used as they are.
    kernels : KernelSet or Bank
        ``K x C x F x F`` weights, or 2-D kernels broadcast over the
        channels (see :func:`bank_for`).
    flip : bool
        Rotate every kernel 180 degrees (true convolution); as written
        (cross-correlation, what CNN layers compute) by default.
    padding, border, stride, dilation
        As in :func:`imgconv.core.convolve.correlate`, with a CNN layer's
        defaults: no padding (``0``), zero border.
    anchor : (int, int), optional
        The kernel cell over the output pixel; it matters only for
        ``same`` padding (the centre by default).
    bias : float or sequence of float, optional
        One per kernel (or one for all), replacing the kernels' own.
    activation : {'relu', 'leaky-relu', 'sigmoid', 'tanh'}, optional
        Applied to every map after the bias.
    leak : float
        The slope of ``leaky-relu`` for negative values.
    pool : Pooling, optional
        ``max`` or ``avg`` pooling after the activation (windows that do
        not fit are dropped, as in PyTorch).

    Returns
    -------
    LayerResult

    Raises
    ------
    UsageError, GeometryError
        A depth that does not match, a bad bias count, an unknown
        activation, or a kernel or pooling window that does not fit.

    Examples
    --------
    >>> volume = np.ones((64, 64, 3))
    >>> bank = Bank(np.ones((8, 3, 5, 5)), None)
    >>> conv_layer(volume, bank).maps.shape
    (8, 60, 60)
    >>> conv_layer(volume, bank, padding=2).maps.shape
    (8, 64, 64)
    """
    data = np.asarray(volume)
    if data.ndim == 2:
        data = data[:, :, np.newaxis]
    if data.ndim != 3:
        msg = f"the input has shape {np.shape(volume)}; expected (H, W) or (H, W, C)"
        raise GeometryError(msg)
    if activation is not None and activation not in ACTIVATIONS:
        msg = f"unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}"
        raise UsageError(msg)
    bank = bank_for(kernels, data.shape[2])
    bank = Bank(bank.weights, _biases(bias, bank), bank.name)
    if flip:
        bank = Bank(bank.weights[:, :, ::-1, ::-1], bank.bias, bank.name)
    _, _, fh, fw = bank.shape
    geometry = plan(
        (data.shape[0], data.shape[1]),
        (fh, fw),
        padding=padding,
        stride=parse_pair(stride, "stride"),
        dilation=parse_pair(dilation, "dilation"),
        anchor=_flipped_anchor(anchor, (fh, fw)) if flip else anchor,
    )
    edges = Border.parse(border)
    # Overflow is reported once, below, rather than warned about by NumPy.
    with np.errstate(over="ignore", invalid="ignore"):
        maps = _feature_maps(data, bank, geometry, edges, activation, leak)
    if _may_overflow(
        data, maps.size, bank, edges.fill, leak if activation == "leaky-relu" else 1.0
    ):
        refuse_overflow(
            maps, data, "the maps overflow", "the weights, --bias, --leak or the border value"
        )
    ho, wo = geometry.out_shape
    if pool is not None:
        maps = pooled(maps, pool)
    return LayerResult(
        maps=np.ascontiguousarray(maps),
        names=kernel_names(kernels),
        geometry=geometry,
        conv_shape=(ho, wo),
        bank=bank,
        parameters=parameter_count(bank),
    )


def _may_overflow(
    data: NDArray[np.generic], outputs: int, bank: Bank, fill: float, slope: float
) -> bool:
    """Whether ``outputs`` map values could pass the working float type's range.

    By a bound on them: ``|map| <= peak * sum|weights| + |bias|``, times the
    leak's slope if above 1, with ``peak`` the input's (or border's) largest
    magnitude, known from an integer dtype and otherwise found by a pass
    over the input. A pass over the maps costs as much: a float input with
    no more values than the maps is checked by its bound, one with more
    (a layer with stride) is not, and its maps are checked directly. Only a
    layer whose bound is not clear is checked.
    """
    if data.dtype.kind in "ui":
        limits = np.iinfo(data.dtype.str)
        peak = float(max(limits.max, -limits.min))
    elif data.size > outputs:
        return True
    elif data.size:
        peak = float(max(np.max(data), -np.min(data)))
    else:
        return False
    with np.errstate(over="ignore"):
        sums = float(np.abs(bank.weights).sum(axis=(1, 2, 3)).max())
        bound = max(peak, abs(fill)) * sums + float(np.abs(bank.bias).max(initial=0.0))
    bound *= max(1.0, abs(slope))
    return not bound < float(np.finfo(work_dtype(data.dtype)).max) / 2


#: Multiply-adds per product (one BLAS call on a tile of outputs) for a layer
#: with few per pixel: small enough that OpenBLAS runs the call on one
#: thread, so that the layer's own threads share the work. OpenBLAS goes
#: parallel above m*n*k = 65536 * 4 (its SMP threshold); two of our threads
#: each making such threaded calls ran slower than one. Banks on 4096 x 4096
#: RGB, 2 cores (EPYC), with 900K / 400K / 250K / 200K: K=8 F=5 S=2 0.39 /
#: 0.24 / 0.20 / 0.20 s, S=1 1.08 / 0.63 / 0.57 / 0.63 s, K=32 F=3 S=1 3.8 /
#: 0.98 / 0.90 / 1.37 s, K=6 F=11 S=4 0.54 s with each.
_TILE_MACS = 250_000
#: Fewest output pixels for such a tile. A layer with more multiply-adds per
#: pixel (deep input, many kernels) has tiles of ``_TILE_BYTES`` of im2col
#: matrix instead, each product big enough for BLAS to spread over the cores.
_TILE_MIN_PIXELS = 256
_TILE_BYTES = 16 * 2**20
#: Bytes of im2col matrix made at a time for small tiles. The copy, and the
#: products of the chunk's tiles (a batch of BLAS calls), are one NumPy call
#: each: a thread that takes the GIL back every few microseconds waits for
#: it more than it works, so the calls are long, yet the matrix stays about
#: the size of a core's L2 cache.
_CHUNK_BYTES = 2 * 2**20
#: Bytes of padded, channels-first input a worker holds at a time.
_BAND_BYTES = 4 * 2**20
#: Input values copied at a time when padding a band (a few rows of a wide image).
_COPY_ELEMENTS = 2**16
#: Below this many multiply-adds a layer runs on the calling thread alone.
_PARALLEL_MACS = 20_000_000
#: Multiply-adds per output pixel (kernels x F*F*C) above which im2col's
#: large products beat the row copies' one product per output row. Banks,
#: 2 cores (EPYC with AVX-512), row copies against im2col: on 2048 x 4096
#: RGB, K=6 F=11 S=4 0.12 / 0.36 s, K=16 F=7 S=2 0.24 / 0.60 s, K=8 F=15
#: S=4 0.21 / 0.69 s; deep volumes, 512 x 512 x 32 K=16 F=5 0.13 / 0.32 s,
#: 512 x 512 x 64 K=64 F=3 (36864) 0.25 / 0.27 s, 256 x 256 x 128 K=128
#: F=3 (147456) 0.48 / 0.19 s. (This was 976, from tiles of 256 pixels or
#: more; the row copies then never served K=6 F=11 S=4.)
_ROWS_MAX_MACS = 32_768
#: Bytes of a band's row copies (see :class:`_RowWindows`): within a core's
#: share of the L3 cache, so that the products read them from cache.
_ROWS_BYTES = 8 * 2**20
#: Bands per worker thread at least, so that one slow thread delays little.
_BANDS_PER_WORKER = 4


@dataclass(frozen=True)
class _Layout:
    """Where the im2col values come from, and how the output is cut into work.

    The input is padded a band of rows at a time into a ``(C, in_rows,
    phases, columns)`` buffer: padded column ``x`` is at ``(x % phases, x //
    phases)``. With a column stride ``s`` > 1 (and no column dilation) there
    are ``s`` phases, so that the values a kernel column meets along an
    output row are adjacent and the im2col copies read contiguous memory:
    kernel column ``v`` reads phase ``v % s`` from column ``v // s`` on. The
    kernel is then ``width = taps * phases`` columns wide, the columns past
    its own weighted 0 (so that one copy makes a chunk's matrix).

    A band is ``rows`` output rows. Its outputs are im2col'd a ``chunk`` of
    ``(rows, columns)`` at a time: whole rows, or part of one row. A chunk
    is cut into tiles of ``tile = (rows, columns)``, one BLAS product each:
    whole rows, or part of one row (so that a tile is a 2-D slice of the
    maps). The bands go to ``workers`` threads: more than one only if each
    product is too small for BLAS to run it on more than one, and the layer
    is big enough to share.
    """

    rows: int
    in_rows: int
    phases: int
    columns: int
    taps: int
    chunk: tuple[int, int]
    tile: tuple[int, int]
    workers: int

    @property
    def width(self) -> int:
        """Kernel columns in the im2col matrix, the kernel's and the ones weighted 0."""
        return self.taps * self.phases

    @classmethod
    def make(
        cls, geometry: Geometry, channels: int, kernels: int, itemsize: int, cpus: int
    ) -> _Layout:
        """Bands of about ``_BAND_BYTES`` of input; tiles of ``_TILE_MACS`` or ``_TILE_BYTES``."""
        (ho, wo), (sy, sx), (_, dx) = geometry.out_shape, geometry.stride, geometry.dilation
        (fh, fw), reach = geometry.kernel_shape, geometry.reach[0]
        phases = sx if dx == 1 else 1
        taps = -(-fw // phases)
        # The last output column's last tap is the farthest column read.
        columns = max(-(-geometry.padded_shape[1] // phases), (wo - 1) * (sx // phases) + taps)
        row_bytes = channels * phases * columns * itemsize
        rows = min(ho, band_rows(geometry, row_bytes, _BAND_BYTES))
        depth = channels * fh * taps * phases
        pixels = _TILE_MACS // (kernels * depth)
        workers = 1
        if pixels < _TILE_MIN_PIXELS:
            pixels = max(1, _TILE_BYTES // (depth * itemsize))
            chunk = pixels
        else:
            chunk = max(pixels, _CHUNK_BYTES // (depth * itemsize))
            if ho * wo * kernels * depth >= _PARALLEL_MACS:
                workers = max(1, cpus)
                rows = min(rows, -(-ho // (_BANDS_PER_WORKER * workers)))
        if pixels >= wo:
            tile = (min(pixels // wo, rows), wo)
        else:  # equal parts of a row, all of one size if a few more parts allow it
            parts = -(-wo // pixels)
            even = [p for p in range(parts, 2 * parts + 1) if wo % p == 0]
            tile = (1, wo // even[0] if even else -(-wo // parts))
        if chunk >= wo:
            whole = max(tile[0], chunk // wo // tile[0] * tile[0])
            chunks = (min(whole, rows), wo)
        else:
            chunks = (1, max(tile[1], chunk // tile[1] * tile[1]))
        workers = min(workers, -(-ho // rows))
        return cls(rows, (rows - 1) * sy + reach, phases, columns, taps, chunks, tile, workers)

    def chunks(self, rows: int, wo: int) -> list[tuple[slice, slice]]:
        """``(rows, columns)`` of each chunk of a band of ``rows`` x ``wo`` outputs."""
        step_rows, step_columns = self.chunk
        return [
            (slice(i, min(i + step_rows, rows)), slice(j, min(j + step_columns, wo)))
            for i in range(0, rows, step_rows)
            for j in range(0, wo, step_columns)
        ]

    def pieces(
        self, cols: NDArray[np.floating], windows: NDArray[np.floating], maps: NDArray[np.floating]
    ) -> list[tuple[NDArray[np.floating], ...]]:
        """How to compute a chunk: ``(im2col, cells, tiles, results)`` per batch of tiles.

        ``windows`` are the chunk's ``(C, F_h, taps, phases, R, W)`` and
        ``maps`` its ``(K, R, W)`` outputs. A batch is tiles of one shape;
        ``tiles`` holds their ``(depth, n)`` matrices, each contiguous in
        ``cols``, for one ``matmul(weights, tiles, out=results)``, after
        ``copyto(im2col, cells)``: ``im2col`` is ``tiles`` seen as
        ``windows`` are, ``cells`` those windows.
        """
        c, fh, taps, phases, rows, width = windows.shape
        k, depth, used = maps.shape[0], c * fh * taps * phases, 0
        batches: list[tuple[NDArray[np.floating], ...]] = []
        if self.tile[1] < width:  # parts of rows, the last part of each row maybe shorter
            whole = width // self.tile[1] * self.tile[1]
            for cut, n in ((slice(0, whole), self.tile[1]), (slice(whole, width), width - whole)):
                parts = (cut.stop - cut.start) // max(n, 1)
                size = rows * parts * depth * n
                if not size:
                    continue
                tiles = cols[used : used + size].reshape(rows, parts, depth, n)
                used += size
                batches.append(
                    (
                        tiles.transpose(2, 0, 1, 3).reshape(c, fh, taps, phases, rows, parts, n),
                        windows[..., cut].reshape(*windows.shape[:-1], parts, n),
                        tiles,
                        maps[:, :, cut].reshape(k, rows, parts, n).transpose(1, 2, 0, 3),
                    )
                )
            return batches
        # Groups of whole rows, then the rows left.
        whole = rows // self.tile[0] * self.tile[0]
        for cut, m in ((slice(0, whole), self.tile[0]), (slice(whole, rows), rows - whole)):
            groups = (cut.stop - cut.start) // max(m, 1)
            size = groups * depth * m * width
            if not size:
                continue
            tiles = cols[used : used + size].reshape(groups, depth, m, width)
            used += size
            batches.append(
                (
                    tiles.transpose(1, 0, 2, 3).reshape(c, fh, taps, phases, groups, m, width),
                    windows[..., cut, :].reshape(*windows.shape[:-2], groups, m, width),
                    tiles.reshape(groups, depth, m * width),
                    maps[:, cut].reshape(k, groups, m * width).transpose(1, 0, 2),
                )
            )
        return batches

    def windows(
        self, band: NDArray[np.floating], geometry: Geometry, rows: int
    ) -> NDArray[np.floating]:
        """``(C, F_h, taps, phases, rows, W_out)``: what each kernel cell meets at each output.

        Kernel column ``v`` is ``[:, :, v // phases, v % phases]``.
        """
        (_, wo), (sy, sx), (dy, dx) = geometry.out_shape, geometry.stride, geometry.dilation
        c, fh = band.shape[0], geometry.kernel_shape[0]
        s_c, s_row, s_phase, s_col = band.strides
        shape = (c, fh, self.taps, self.phases, rows, wo)
        strides = (s_c, dy * s_row, dx * s_col, s_phase, sy * s_row, sx // self.phases * s_col)
        return as_strided(band, shape, strides, writeable=False)


def _feature_maps(
    data: NDArray[np.generic],
    bank: Bank,
    geometry: Geometry,
    border: Border,
    activation: Activation | None,
    leak: float,
) -> NDArray[np.floating]:
    """The ``(K, H_out, W_out)`` maps of ``bank`` over ``(H, W, C)`` data, biased and activated.

    Bands of output rows go to worker threads; each pads its band's input
    rows channels-first into a reused buffer, then computes the band chunk
    by chunk (im2col into a reused matrix, BLAS products of its tiles into
    the result), then adds the bias and applies the activation.
    """
    dtype = work_dtype(data.dtype)
    if border.mode in ("zero", "constant"):
        source, pads, fill = data, geometry.pads, border.fill
    else:
        # Edge, reflect and wrap borders read the image's far side: pad it all once.
        source, pads, fill = pad(data, geometry, border), (0, 0, 0, 0), 0.0
    k, c, fh, fw = bank.shape
    layout = _Layout.make(geometry, c, k, dtype.itemsize, _cpu_count())
    weights = np.zeros((k, c, fh, layout.width), dtype=dtype)
    weights[..., :fw] = bank.weights
    depth = c * fh * layout.width
    weights = weights.reshape(k, depth)
    bias = bank.bias.astype(dtype).reshape(k, 1, 1) if bank.bias.any() else None
    (ho, wo), sy, reach = geometry.out_shape, geometry.stride[0], geometry.reach[0]
    out = np.empty((k, ho, wo), dtype=dtype)
    by_rows = _RowWindows.make(layout, geometry, c, k, dtype.itemsize, _cpu_count())
    if by_rows is not None:
        layout = by_rows.layout
    bands = [(i, min(i + layout.rows, ho)) for i in range(0, ho, layout.rows)]
    lock = threading.Lock()
    queue = iter(bands)

    if by_rows is not None:  # (kernel row, channel, column): the row copies' order
        weights = bank.weights.astype(dtype).transpose(0, 2, 1, 3).reshape(k, fh * c * fw)

    def work() -> None:
        # Zeros: the cells past the padded width meet only weights of 0.
        band = np.zeros((c, layout.in_rows, layout.phases, layout.columns), dtype=dtype)
        if by_rows is not None:
            copies = by_rows.buffer(dtype)
        else:
            cols = np.empty(depth * layout.chunk[0] * layout.chunk[1], dtype=dtype)
        while True:
            with lock:
                rows = next(queue, None)
            if rows is None:
                return
            count = rows[1] - rows[0]
            needed = (count - 1) * sy + reach
            _pad_band(band[:, :needed], source, rows[0] * sy, pads, fill)
            if by_rows is not None:
                by_rows.compute(band, copies, weights, out[:, rows[0] : rows[1]], needed)
            else:
                windows = layout.windows(band, geometry, count)
                for chunk_rows, chunk_cols in layout.chunks(count, wo):
                    maps = out[
                        :, rows[0] + chunk_rows.start : rows[0] + chunk_rows.stop, chunk_cols
                    ]
                    chunk = windows[..., chunk_rows, chunk_cols]
                    for matrix, cells, tiles, results in layout.pieces(cols, chunk, maps):
                        np.copyto(matrix, cells)
                        np.matmul(weights, tiles, out=results)
            maps = out[:, rows[0] : rows[1]]
            if bias is not None:
                maps += bias
            if activation is not None:
                maps[...] = activate(maps, activation, leak)

    if layout.workers == 1:
        work()
    else:
        on_threads(layout.workers, lambda _: work(), range(layout.workers))
    return out


@dataclass(frozen=True)
class _RowWindows:
    """A band's products without im2col: each input row's windows copied once, then shared.

    With row stride ``s`` < F, an input row lies under the kernels of about
    F / s output rows, and im2col copies it for each of them. Here each
    input row of a band is copied once, as ``(C, taps, phases, W_out)``: the
    values each kernel column meets along an output row (``(C, F, W_out)``).
    Output row ``i`` needs the copies of rows ``i*s .. i*s + F - 1``, which
    lie one after the other in memory: its ``(F*C*F, W_out)`` matrix is a
    view, and one BLAS product per output row (``part`` columns at a time)
    gives its ``K`` maps. The weights are ordered (kernel row, channel,
    column) to match. Banks on 4096 x 4096 RGB, 2 cores (Xeon), against im2col:
    K=8 F=5 S=1 0.25 s (was 0.62), S=2 0.11 s (0.14), K=6 F=11 S=4 0.12 s
    (0.13); K=32 F=3 S=1 0.50 s either way.

    Used for layers without row dilation and up to :data:`_ROWS_MAX_MACS`
    multiply-adds per pixel (beyond, im2col's large products win), in bands
    whose copies fit :data:`_ROWS_BYTES`.
    """

    layout: _Layout
    part: int
    stride: tuple[int, int]
    dilation: int
    shape: tuple[int, int, int, int]  # C, kernel rows, kernel columns, output columns

    @classmethod
    def make(
        cls,
        layout: _Layout,
        geometry: Geometry,
        channels: int,
        kernels: int,
        itemsize: int,
        cpus: int,
    ) -> _RowWindows | None:
        """The plan for this layer, or None where im2col is the better way."""
        (ho, wo), (sy, sx), (dy, dx) = geometry.out_shape, geometry.stride, geometry.dilation
        fh, fw = geometry.kernel_shape
        depth = fh * channels * fw
        if dy != 1 or kernels * depth > _ROWS_MAX_MACS:
            return None
        row_bytes = channels * fw * wo * itemsize
        rows = min((_ROWS_BYTES // row_bytes - fh) // sy + 1, layout.rows)
        if rows < 1:
            return None
        # A large layer goes on a worker per CPU even where im2col would have
        # left it to BLAS's threads (many multiply-adds per pixel): the row
        # copies are most of the work, and only our threads share them. Each
        # product then stays under OpenBLAS's threading threshold, as tiles
        # do. K=6 F=11 S=4 on 4096 x 4096 RGB, 2 cores (EPYC, AVX-512): one
        # worker and 256-column products on BLAS's 2 threads 0.14-0.25 s, two
        # workers and 114-column products 0.13-0.15 s.
        workers = layout.workers
        if ho * wo * kernels * depth >= _PARALLEL_MACS:
            workers = max(1, cpus)
        if workers > 1:
            part = min(wo, max(1, _TILE_MACS // (kernels * depth)))
            rows = min(rows, -(-ho // (_BANDS_PER_WORKER * workers)))
        else:
            part = min(wo, max(_TILE_MIN_PIXELS, _TILE_MACS // (kernels * depth)))
        workers = min(workers, -(-ho // rows))
        planned = replace(layout, rows=rows, in_rows=(rows - 1) * sy + fh, workers=workers)
        return cls(planned, part, (sy, sx), dx, (channels, fh, fw, wo))

    def buffer(self, dtype: np.dtype[Any]) -> NDArray[np.floating]:
        """A worker's reused ``(in_rows, C, F, W_out)`` copies."""
        c, _, fw, wo = self.shape
        return np.empty((self.layout.in_rows, c, fw, wo), dtype=dtype)

    def compute(
        self,
        band: NDArray[np.floating],
        copies: NDArray[np.floating],
        weights: NDArray[np.floating],
        maps: NDArray[np.floating],
        needed: int,
    ) -> None:
        """Write ``maps`` (``(K, rows, W_out)``) from the first ``needed`` rows of ``band``."""
        c, fh, fw, wo = self.shape
        (sy, sx), dx, phases = self.stride, self.dilation, self.layout.phases
        s_c, s_row, s_phase, s_col = band.strides
        # Kernel column v is tap v // phases of phase v % phases (see _Layout):
        # the taps with every phase in one copy, the last one's phases in another.
        full, rest = divmod(fw, phases)
        t_row, t_c, t_column, t_out = copies.strides
        for tap, taps, count in ((0, full, phases), (full, 1, rest)):
            if not taps * count:
                continue
            shape = (needed, c, taps, count, wo)
            target = as_strided(
                copies[:, :, tap * phases :], shape, (t_row, t_c, count * t_column, t_column, t_out)
            )
            windows = as_strided(
                band[:, :, :, tap * dx :],
                shape,
                (s_row, s_c, dx * s_col, s_phase, sx // phases * s_col),
                writeable=False,
            )
            np.copyto(target, windows)
        flat = copies.reshape(len(copies), -1, wo)
        s_in, s_depth, s_out = flat.strides
        rows, depth = maps.shape[1], fh * flat.shape[1]
        for first in range(0, wo, self.part):
            last = min(wo, first + self.part)
            matrices = as_strided(
                flat[:, :, first:last], (rows, depth, last - first), (sy * s_in, s_depth, s_out)
            )
            np.matmul(weights, matrices, out=maps[:, :, first:last].transpose(1, 0, 2))


def _pad_band(
    band: NDArray[np.floating],
    source: NDArray[np.generic],
    first: int,
    pads: tuple[int, int, int, int],
    fill: float,
) -> None:
    """Fill ``band`` with rows ``first ..`` of ``source`` padded by ``pads``, channels first.

    ``band`` is ``(C, rows, phases, columns)`` (see :class:`_Layout`), its
    rows inside the padded image; the padding holds ``fill``, and the cells
    past the padded width (``columns * phases`` may be more) are left as
    they are.
    """
    top, _, left, right = pads
    height, width, channels = source.shape
    count, phases = band.shape[1], band.shape[2]
    # Band rows [start, stop) hold image rows; the others are padding.
    start = min(max(top - first, 0), count)
    stop = max(min(top + height - first, count), start)
    # Image columns [aligned, end) come in whole groups of ``phases``, the first
    # one in phase 0: they are copied a few rows at a time, reading each row once.
    aligned = min(-left % phases, width)
    groups = (width - aligned) // phases
    end, group0 = aligned + groups * phases, (left + aligned) // phases
    by_pixel = band.transpose(1, 3, 2, 0)  # (rows, columns, phases, C)
    step = max(1, _COPY_ELEMENTS // max(1, width * channels))
    for row in range(start, stop, step):
        rows = slice(row, min(row + step, stop))
        image_rows = slice(first + rows.start - top, first + rows.stop - top)
        np.copyto(
            by_pixel[rows, group0 : group0 + groups],
            source[image_rows, aligned:end].reshape(rows.stop - row, groups, phases, channels),
        )
    image_rows = slice(first + start - top, first + stop - top)
    for x in (*range(aligned), *range(end, width)):
        column, phase = divmod(left + x, phases)
        np.copyto(band[:, start:stop, phase, column], source[image_rows, x].T)
    for phase in range(phases):
        # Padded column m * phases + phase holds image column m * phases + phase - left.
        inner = -(-(left - phase) // phases), -(-(left + width - phase) // phases)
        plane = band[:, :, phase, : -(-(left + width + right - phase) // phases)]
        plane[:, start:stop, : inner[0]] = fill
        plane[:, start:stop, inner[1] :] = fill
        plane[:, :start] = fill
        plane[:, stop:] = fill


def _cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _flipped_anchor(
    anchor: tuple[int, int] | str | None, shape: tuple[int, int]
) -> tuple[int, int]:
    """Where the anchor cell (the centre by default) lands when the kernel turns 180 degrees."""
    cell = parse_anchor(anchor) or (shape[0] // 2, shape[1] // 2)
    return shape[0] - 1 - cell[0], shape[1] - 1 - cell[1]


def _biases(bias: Sequence[float] | float | None, bank: Bank) -> NDArray[np.float64]:
    count = bank.shape[0]
    if bias is None:
        return bank.bias
    values = np.atleast_1d(np.asarray(bias, dtype=np.float64))
    if values.size == 1:
        return np.full(count, float(values[0]))
    if values.shape != (count,):
        kernels = "1 kernel" if count == 1 else f"{count} kernels"
        msg = f"--bias gives {values.size} numbers for {kernels}; give one, or one per kernel"
        raise UsageError(msg)
    return values


def activate(
    values: NDArray[np.floating], activation: Activation | None, leak: float = DEFAULT_LEAK
) -> NDArray[np.floating]:
    """``relu``, ``leaky-relu`` (slope ``leak`` below 0), ``sigmoid`` or ``tanh``; None: as is.

    Examples
    --------
    >>> activate(np.array([-2.0, 0.0, 3.0]), "relu").tolist()
    [0.0, 0.0, 3.0]
    >>> activate(np.array([-2.0, 3.0]), "leaky-relu", 0.1).tolist()
    [-0.2, 3.0]
    """
    result: NDArray[np.floating]
    if activation is None:
        result = values
    elif activation == "relu":
        result = np.maximum(values, 0)
    elif activation == "leaky-relu":
        result = np.where(values < 0, values * values.dtype.type(leak), values)
    elif activation == "sigmoid":
        # 1 / (1 + e^-x) written with tanh, which cannot overflow.
        half = values.dtype.type(0.5)
        result = half * (np.tanh(values * half) + 1)
    else:
        result = np.tanh(values)
    return result


def pooled(maps: NDArray[np.floating], pool: Pooling) -> NDArray[np.floating]:
    """``max`` or ``avg`` over each ``size`` window every ``stride`` of ``(K, H, W)`` maps.

    Windows that would run past the edge are dropped (no padding), so the
    size is ``floor((H - size) / stride) + 1``, as PyTorch's pooling.

    Examples
    --------
    >>> maps = np.arange(16.0).reshape(1, 4, 4)
    >>> pooled(maps, Pooling("max", (2, 2), (2, 2))).tolist()
    [[[5.0, 7.0], [13.0, 15.0]]]
    """
    (ph, pw), (sy, sx) = pool.size, pool.stride
    _, h, w = maps.shape
    if ph > h or pw > w:
        msg = (
            f"the pooling window {rows_by_columns(ph, pw)} is larger than the maps, "
            f"{rows_by_columns(h, w)}"
        )
        raise GeometryError(msg)
    windows = sliding_window_view(maps, (ph, pw), axis=(1, 2))[:, ::sy, ::sx]
    if pool.kind == "max":
        result: NDArray[np.floating] = windows.max(axis=(-2, -1))
    else:
        result = windows.mean(axis=(-2, -1))
    return result


def pooling(
    kind: str,
    size: int | tuple[int, int] | str,
    stride: int | tuple[int, int] | str | None = None,
) -> Pooling:
    """A :class:`Pooling` from user values; the stride defaults to the size.

    Raises
    ------
    UsageError
        For an unknown kind, or a size or stride below 1.
    """
    if kind not in POOLS:
        msg = f"unknown pooling {kind!r}; expected one of {', '.join(POOLS)}"
        raise UsageError(msg)
    window = parse_pair(size, "pool size")
    step = window if stride is None else parse_pair(stride, "pool stride")
    return Pooling("max" if kind == "max" else "avg", window, step)


def volume_text(shape: tuple[int, ...]) -> str:
    """``H x W x C`` for a shape.

    Examples
    --------
    >>> volume_text((60, 60, 8))
    '60 x 60 x 8'
    """
    return " x ".join(str(n) for n in shape)


def formula(bank: Bank) -> str:
    """``K*F*F*C + K = N`` with the bank's numbers, as the slides write it.

    Examples
    --------
    >>> formula(Bank(np.zeros((8, 3, 5, 5)), None))
    '8*5*5*3 + 8 = 608'
    """
    k, c, h, w = bank.shape
    return f"{k}*{h}*{w}*{c} + {k} = {parameter_count(bank)}"
