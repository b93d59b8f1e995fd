"""The FFT method: correlation as a product of spectra, block by block (overlap-save).

A dense kernel of ``n`` cells costs the direct method ``n`` multiply-adds per
sample; through the FFT a sample costs a few dozen operations whatever the
kernel's size. The padded input is cut into blocks of a fast FFT size; each
block's spectrum is multiplied by the kernel's (computed once) and
transformed back, and its valid part (the outputs whose window lies inside
the block) is kept: overlap-save. Blocks overlap by the kernel's reach, so
memory is a few blocks, not a spectrum of the whole image, and blocks
are transformed on one thread per core (the transforms release the GIL).

The channels are not transformed one by one: each image row, its pixels'
channels interleaved, is read as one row of floats, and the kernel is
spread to match (a tap every ``channels`` floats), so a block covers every
channel of its pixels. Blocks are then read and written as contiguous runs
of memory, and there are fewer of them (408 rather than 867 for a 15x15
kernel on a 4096 x 4096 RGB image).

A row stride ``s`` is taken inside the transforms (for ``s`` with no prime
factor above 5; otherwise its largest divisor that has none, see
:func:`row_step`): blocks are a multiple of ``s`` rows long and start on
sampled rows, and each block's spectrum is folded to ``1/s`` of its rows
before the columns are transformed back, which gives the sampled rows
alone; only they are then transformed back along the rows. The forward
transforms still cover every input position (60% of the time at stride 1),
so a stride of 4 costs about half of stride 1, not a sixteenth. A column
stride is taken from every column's results.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol, cast

import numpy as np
from numpy.typing import NDArray

from .geometry import Geometry
from .spatial import on_threads, workers
from .transforms import Correlator

FloatArray = NDArray[np.floating]

#: Outputs per block: rows, and floats along a row (pixels times channels),
#: before rounding the block up to a fast FFT length. 15x15 and 31x31
#: random kernels on 4096 x 4096 RGB float32, 2 threads, EPYC, medians of 7:
#: blocks of 240 x 480 to 320 x 768 floats all took 0.30 to 0.39 s and
#: 0.36 to 0.42 s (15x15 in 270 x 640 and 31x31 in 320 x 768 the fastest,
#: within the noise); one channel at a time in 270 x 270 blocks, 0.46 to
#: 0.53 s. These give 270 x 576 and 288 x 625.
BLOCK_OUTPUTS = (256, 512)


# The whole image's reach and valid outputs while a part of it is filtered
# as the whole would be (see :func:`whole_image_blocks`).
_FIXED_BLOCKS: ContextVar[tuple[tuple[int, int], tuple[int, int]] | None] = ContextVar(
    "fixed_blocks", default=None
)


@contextmanager
def whole_image_blocks(geometry: Geometry) -> Iterator[None]:
    """Transform in the blocks the whole image of ``geometry`` would use.

    Inside, :func:`block_shape` gives the whole image's block size whatever
    part of it is filtered, so that a band starting on the block grid
    (:func:`aligned_band`) is transformed block for block as the whole
    image is, to the same bits.
    """
    (ho, wo), (sy, sx) = geometry.out_shape, geometry.stride
    whole = (sy * (ho - 1) + 1, sx * (wo - 1) + 1)
    token = _FIXED_BLOCKS.set((geometry.reach, whole))
    try:
        yield
    finally:
        _FIXED_BLOCKS.reset(token)


def block_shape(
    reach: tuple[int, int], valid: tuple[int, int], channels: int = 1, row_step: int = 1
) -> tuple[int, int]:
    """The FFT block size for a kernel of ``reach`` over ``valid`` output positions.

    Rows, and floats along a row of ``channels`` interleaved channels (for
    one channel, pixels). A block holds :data:`BLOCK_OUTPUTS` outputs, or
    twice the kernel's reach if that is more, or the whole image if it is
    smaller, and its kernel's reach, rounded up to a fast FFT length. With
    a ``row_step`` (see :func:`row_step`) its rows are a multiple of it.
    """
    fixed = _FIXED_BLOCKS.get()
    if fixed is not None and fixed[0] == reach:
        valid = fixed[1]
    (ry, rx), (vy, vx) = reach, valid
    span = channels * (rx - 1) + 1  # the kernel's reach along a row of floats
    rows = min(vy, max(BLOCK_OUTPUTS[0], 2 * ry))
    floats = min(channels * vx, max(BLOCK_OUTPUTS[1], 2 * span))
    # Whole row steps of outputs, in a multiple of the step's length (a
    # fast length too, as row_step has no prime factor above 5).
    rows = -(-rows // row_step) * row_step
    height = row_step * fast_length(-(-(rows + ry - 1) // row_step))
    return height, fast_length(floats + span - 1)


def block_rows(reach: tuple[int, int], valid: tuple[int, int], row_step: int = 1) -> int:
    """Output rows each block gives (a multiple of ``row_step``): where the next block starts."""
    height = block_shape(reach, valid, row_step=row_step)[0]
    return (height - reach[0] + 1) // row_step * row_step


def row_step(stride: int) -> int:
    """The rows apart the FFT method transforms back for a row ``stride``: its 5-smooth part.

    The largest divisor of ``stride`` with no prime factor above 5, since a
    fast block length can be a multiple of it: ``stride`` itself for 2, 3,
    4, 5, 6, 8..., 1 for 7, 2 for 14. The sampled rows are among these.
    """
    part = 1
    for prime in (2, 3, 5):
        while stride % (part * prime) == 0:
            part *= prime
    return part


def aligned_band(height: int, geometry: Geometry) -> int:
    """A band height near ``height`` output rows whose bands start on the block grid.

    Filtering band by band then transforms the same blocks the whole image
    would, so the bands give the whole image's numbers.
    """
    (ho, wo), sy, reach = geometry.out_shape, geometry.stride[0], geometry.reach
    step = block_rows(reach, (sy * (ho - 1) + 1, wo), row_step(sy))
    while (height * sy) % step:
        height += 1
    return height


def fast_length(n: int) -> int:
    """The smallest length >= ``n`` whose only prime factors are 2, 3 and 5.

    Those are the lengths ``scipy.fft`` transforms fastest (what its
    ``next_fast_len(n, real=True)`` gives); computed here so that choosing a
    method does not import SciPy.

    Examples
    --------
    >>> fast_length(526), fast_length(1), fast_length(1025)
    (540, 1, 1080)
    """
    best = 1 << max(0, (n - 1).bit_length())  # a power of two always qualifies
    fives = 1
    while fives < best:
        threes = fives
        while threes < best:
            length = threes
            while length < n:
                length *= 2
            best = min(best, length)
            threes *= 3
        fives *= 5
    return best


class Padded(Protocol):
    """The padded input as the FFT method reads it: its shape, dtype and windows.

    An array is one; so is a stand-in that makes each window from the
    unpadded image (see :func:`imgconv.core.convolve.correlate_framed`).
    """

    @property
    def shape(self) -> tuple[int, ...]:
        """``(rows, columns[, channels])`` of the padded input."""

    @property
    def dtype(self) -> np.dtype[Any]:
        """The type of its values."""

    def __getitem__(self, key: tuple[slice, slice], /) -> Any:
        """The window of ``(rows, columns)``, every channel."""


def fft_correlate(padded: Padded, matrix: NDArray[np.float64], geometry: Geometry) -> FloatArray:
    """Correlate by overlap-save FFT blocks, transforming back only the sampled rows.

    Parameters
    ----------
    padded : array or Padded
        The padded input, read a block's window at a time.
    matrix : ndarray
        The kernel, as applied.
    geometry : Geometry
        The planned geometry.

    Returns
    -------
    ndarray
        ``(H_out, W_out[, C])`` in ``padded``'s dtype.
    """
    (dy, dx), (sy, sx), (ho, wo) = geometry.dilation, geometry.stride, geometry.out_shape
    ry, rx = geometry.reach
    channels = padded.shape[2] if len(padded.shape) == 3 else 1
    work = np.float64 if padded.dtype == np.float64 else np.float32
    height, width = padded.shape[:2]
    span = channels * (rx - 1) + 1
    taps = np.zeros((ry, span), dtype=work)
    taps[::dy, :: channels * dx] = matrix
    # The outputs whose window starts at padded row y, column x: every one
    # up to the last sampled, strided or not.
    vy, vx = sy * (ho - 1) + 1, sx * (wo - 1) + 1
    fold = row_step(sy)
    by, bx = block_shape((ry, rx), (vy, vx), channels, fold)
    # Blocks start on whole pixels, so their outputs are whole pixels, and
    # (when folding) on sampled rows.
    step_y, step_x = block_rows((ry, rx), (vy, vx), fold), (bx - span + 1) // channels
    correlator = Correlator(taps, (by, bx), fold)
    out = np.empty((ho, wo, *padded.shape[2:]), dtype=padded.dtype)
    pixels = out.reshape(ho, wo, channels)

    # A block takes every position the padded input has a whole window for,
    # sampled or not, up to its size: so a band of a larger image whose
    # input runs to its last block's end (see filtering._band) transforms
    # the very blocks the whole image does.
    avail_y, avail_x = height - ry + 1, width - rx + 1

    def one_block(corner: tuple[int, int]) -> None:
        top, left = corner
        rows, cols = min(step_y, avail_y - top), min(step_x, avail_x - left)
        window = padded[top : top + rows + ry - 1, left : left + cols + rx - 1]
        # The window's rows, channels interleaved, as rows of floats (a view
        # of a window of a C-ordered array); a kernel column every
        # `channels` floats then reads one channel.
        piece = cast(FloatArray, np.asarray(window, dtype=work).reshape(window.shape[0], -1))
        if fold > 1:
            # Every fold-th row from the block's first (top is one of them).
            result = correlator.sampled(piece, -(-rows // fold))
        else:
            result = correlator.correlate(piece, ry - 1, rows)
        valid = result[:, span - 1 : span - 1 + channels * cols]
        shape = (result.shape[0], cols, channels)
        _store(pixels, valid.reshape(shape), top // fold, left, (sy // fold, sx))

    corners = [(top, left) for top in range(0, vy, step_y) for left in range(0, vx, step_x)]
    count = workers()
    if count == 1 or len(corners) == 1:
        for corner in corners:
            one_block(corner)
    else:
        # Blocks on threads (the transforms release the GIL): better than
        # splitting each transform, whose rows are too short to share well.
        on_threads(count, one_block, corners)
    return out


def _store(
    out: FloatArray, valid: NDArray[np.floating], top: int, left: int, stride: tuple[int, int]
) -> None:
    """Put the strided samples of one block's valid outputs (rows, columns, channels) in ``out``."""
    sy, sx = stride
    # The first sampled row and column at or after this block's corner.
    first_y, first_x = -top % sy, -left % sx
    picked = valid[first_y::sy, first_x::sx]
    if picked.shape[0] == 0 or picked.shape[1] == 0:
        return
    i, j = (top + first_y) // sy, (left + first_x) // sx
    np.copyto(out[i : i + picked.shape[0], j : j + picked.shape[1]], picked, casting="same_kind")
