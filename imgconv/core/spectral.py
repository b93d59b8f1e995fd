"""The FFT method: correlation as a product of spectra, block by block (overlap-save).

A dense kernel of ``n`` cells costs the direct method ``n`` multiply-adds per
sample; through the FFT a sample costs a few dozen operations whatever the
kernel's size. The padded input is cut into blocks of a fast FFT size; each
block's spectrum is multiplied by the kernel's (computed once) and
transformed back, and its valid part (the outputs whose window lies inside
the block) is kept: overlap-save. Blocks overlap by the kernel's reach, so
memory is a few blocks, not a spectrum of the whole image, and blocks
are transformed on one thread per core (``scipy.fft`` releases the GIL).
Each channel of a block is transformed on its own: a block and its
spectrum are then about the size of a core's L2 cache, and a transform
costs about half as much per position as one of all three channels at
once.

Every output position is computed and the strided ones kept: a stride does
not make this method cheaper, which the cost model knows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
from numpy.typing import NDArray

from .geometry import Geometry
from .spatial import pool, workers

FloatArray = NDArray[np.floating]

#: Outputs per block side, before rounding the block up to a fast FFT length.
#: A block of one channel and its spectrum are then about 0.6 MB (270 x 270
#: for a 15x15 kernel), near the size of a 512 KB L2 cache.
#: 15x15 and 31x31 random kernels on 4096 x 4096 RGB, 2 threads, EPYC: one
#: channel at a time, 0.58 to 0.67 and 0.54 to 0.58 s with 256 or 320
#: outputs, 0.69 and 0.60 s with 192, 0.63 and 0.74 s with 512, 1.09 and
#: 0.84 s with 128; all three channels at once with 512, 0.61 to 1.04 and
#: 0.66 to 1.22 s (it was the best such size on a Xeon: 256 was 12% slower,
#: 1024 6%).
BLOCK_OUTPUTS = 256


# The block size the FFT must use while a part of an image is filtered as
# the whole would be (see :func:`whole_image_blocks`).
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
    shape = block_shape(geometry.reach, whole)
    token = _FIXED_BLOCKS.set((geometry.reach, shape))
    try:
        yield
    finally:
        _FIXED_BLOCKS.reset(token)


def block_shape(reach: tuple[int, int], valid: tuple[int, int]) -> tuple[int, int]:
    """The FFT block size for a kernel of ``reach`` over ``valid`` output positions."""
    fixed = _FIXED_BLOCKS.get()
    if fixed is not None and fixed[0] == reach:
        return fixed[1]
    shape = []
    for r, n in zip(reach, valid, strict=True):
        outputs = min(n, max(BLOCK_OUTPUTS, 2 * r))
        shape.append(fast_length(outputs + r - 1))
    return shape[0], shape[1]


def aligned_band(height: int, geometry: Geometry) -> int:
    """A band height near ``height`` output rows whose bands start on the block grid.

    Filtering band by band then transforms the same blocks the whole image
    would, so the bands give the whole image's numbers.
    """
    (ho, wo), sy, reach = geometry.out_shape, geometry.stride[0], geometry.reach
    step = block_shape(reach, (sy * (ho - 1) + 1, wo))[0] - reach[0] + 1
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


def fft_correlate(
    padded: FloatArray, matrix: NDArray[np.float64], geometry: Geometry
) -> FloatArray:
    """Correlate by overlap-save FFT blocks, then keep the strided samples.

    Returns
    -------
    ndarray
        ``(H_out, W_out[, C])`` in ``padded``'s dtype.
    """
    from scipy import fft

    (dy, dx), (sy, sx), (ho, wo) = geometry.dilation, geometry.stride, geometry.out_shape
    ry, rx = geometry.reach
    # The outputs whose window starts at padded row y, column x: every one
    # up to the last sampled, strided or not.
    vy, vx = sy * (ho - 1) + 1, sx * (wo - 1) + 1
    by, bx = block_shape((ry, rx), (vy, vx))
    step_y, step_x = by - ry + 1, bx - rx + 1
    work = np.float64 if padded.dtype == np.float64 else np.float32
    dilated = np.zeros((ry, rx), dtype=work)
    dilated[::dy, ::dx] = matrix
    # Correlating is convolving with the kernel turned 180 degrees.
    spectrum = fft.rfft2(dilated[::-1, ::-1], s=(by, bx))
    out = np.empty((ho, wo, *padded.shape[2:]), dtype=padded.dtype)

    # A block takes every position the padded input has a whole window for,
    # sampled or not, up to its size: so a band of a larger image whose
    # input runs to its last block's end (see filtering._band) transforms
    # the very blocks the whole image does.
    avail_y, avail_x = padded.shape[0] - ry + 1, padded.shape[1] - rx + 1

    def one_block(block: tuple[int, int, int | None]) -> None:
        top, left, channel = block
        rows, cols = min(step_y, avail_y - top), min(step_x, avail_x - left)
        piece = padded[top : top + rows + ry - 1, left : left + cols + rx - 1]
        target = out
        if channel is not None:
            piece, target = piece[..., channel], out[..., channel]
        # s= pads a block cut short by the image's edge with zeros.
        product = fft.rfft2(piece.astype(work, copy=False), s=(by, bx))
        product *= spectrum
        result = fft.irfft2(product, s=(by, bx))
        valid = result[ry - 1 : ry - 1 + rows, rx - 1 : rx - 1 + cols]
        _store(target, valid, top, left, (sy, sx))

    channels: list[int | None] = list(range(padded.shape[2])) if padded.ndim == 3 else [None]
    blocks = [
        (top, left, channel)
        for top in range(0, vy, step_y)
        for left in range(0, vx, step_x)
        for channel in channels
    ]
    count = workers()
    if count == 1 or len(blocks) == 1:
        for block in blocks:
            one_block(block)
    else:
        # Blocks on threads (scipy.fft releases the GIL): better than splitting
        # each transform, whose rows are too short to share well.
        list(pool(count).map(one_block, blocks))
    return out


def _store(
    out: FloatArray, valid: NDArray[np.floating], top: int, left: int, stride: tuple[int, int]
) -> None:
    """Put the strided samples of one block's valid outputs in their place in ``out``."""
    sy, sx = stride
    # The first sampled row and column at or after this block's corner.
    first_y, first_x = -top % sy, -left % sx
    picked = valid[first_y::sy, first_x::sx]
    if picked.shape[0] == 0 or picked.shape[1] == 0:
        return
    i, j = (top + first_y) // sy, (left + first_x) // sx
    np.copyto(out[i : i + picked.shape[0], j : j + picked.shape[1]], picked, casting="same_kind")
