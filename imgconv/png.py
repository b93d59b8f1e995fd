"""Writing PNG files: 8 or 16 bits, rows filtered with NumPy, deflated on every core.

Pillow writes PNG through one zlib stream on one core, and its filter
choice (the smallest sum of residuals, as libpng does) mostly picks Paeth,
which compresses photographs worse than the plain "Up" filter does. On a
4096 x 4096 RGB photograph (see ``benchmarks/RESULTS.md``) Pillow's level 6
took 5 s; this writer takes a fraction of that:

- **Filters.** Each row gets None, Sub or Up, whichever leaves the smallest
  residuals (estimated on every fourth byte); all three are one NumPy
  expression over a block of rows, since PNG filters read unfiltered bytes.
- **Deflate in parallel.** The filtered data is cut into blocks of about a
  megabyte; each block is compressed on its own thread (zlib releases the
  GIL) as raw deflate, primed with the last 32 KB of the block before it as
  its dictionary, and ended with a sync flush, so the blocks join into one
  valid zlib stream that compresses nearly as well as a single one (as
  ``pigz`` does). The Adler-32 checksums of the blocks are combined.
- **Runs or strings.** Deflate's run-length strategy compresses filtered
  photographs as small as its string search, or smaller, in half the time;
  drawings need the search. Samples of the image are compressed both ways
  and the smaller wins (:func:`choose_strategy`).

The default level is 3 (it matters for the string search: on photographs,
files about 7% larger than level 6 for a third of the time).
``--compression`` chooses another.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .core.spatial import pool, workers

#: The zlib level used unless ``--compression`` says otherwise.
DEFAULT_LEVEL = 3
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> grey, grey+alpha, RGB, RGBA
_BLOCK_BYTES = 1 << 20  # uncompressed bytes per deflate block (and per filtering pass)
_WINDOW = 1 << 15  # deflate's history: the dictionary each block is primed with
_IDAT_BYTES = 1 << 20
_SAMPLES = 8  # samples compressed both ways to choose the strategy
_SAMPLE_BYTES = 1 << 16
_ADLER_BASE = 65521


def encode_png(
    pixels: NDArray[Any],
    bands: Sequence[str],
    info: Mapping[str, Any],
    level: int = DEFAULT_LEVEL,
) -> bytes:
    """Encode ``(H, W, C)`` uint8 or uint16 pixels as a PNG file.

    Parameters
    ----------
    pixels : ndarray
        ``(H, W, C)`` uint8 or uint16, C = 1 to 4 (grey, grey and alpha,
        RGB, RGBA).
    bands : sequence of str
        The band names (for the colour type's sake they must match C).
    info : mapping
        Optional ``dpi`` (written as pHYs), ``icc_profile`` (iCCP) and
        ``exif`` (eXIf).
    level : int, optional
        The zlib level, 0 (stored) to 9 (smallest, slowest).

    Returns
    -------
    bytes
        The PNG file.
    """
    from .deep import valid_dpi

    height, width, channels = pixels.shape
    depth = 16 if pixels.dtype == np.uint16 else 8
    if len(bands) != channels or channels not in _COLOUR_TYPES:
        msg = f"a PNG holds 1 to 4 bands, not {tuple(bands)} of {channels} channels"
        raise ValueError(msg)
    out = io.BytesIO()
    out.write(_SIGNATURE)
    header = struct.pack(">IIBBBBB", width, height, depth, _COLOUR_TYPES[channels], 0, 0, 0)
    _chunk(out, b"IHDR", header)
    icc = info.get("icc_profile")
    if isinstance(icc, bytes) and icc:
        _chunk(out, b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc))
    dpi = valid_dpi(info)
    if dpi is not None:
        per_metre = [round(d / 0.0254) for d in dpi]
        if all(0 < p < 2**31 for p in per_metre):
            _chunk(out, b"pHYs", struct.pack(">IIB", per_metre[0], per_metre[1], 1))
    exif = info.get("exif")
    if isinstance(exif, bytes) and exif:
        _chunk(out, b"eXIf", exif.removeprefix(b"Exif\0\0"))
    if depth == 16:
        rows = pixels.astype(">u2").view(np.uint8).reshape(height, width * channels * 2)
    else:
        rows = np.ascontiguousarray(pixels).reshape(height, width * channels)
    stream = _deflate(rows, channels * depth // 8, level)
    for start in range(0, len(stream), _IDAT_BYTES):
        _chunk(out, b"IDAT", stream[start : start + _IDAT_BYTES])
    _chunk(out, b"IEND", b"")
    return out.getvalue()


def _deflate(rows: NDArray[np.uint8], step: int, level: int) -> bytes:
    """The zlib stream of the filtered rows, compressed block by block on threads."""
    height, row_bytes = rows.shape
    per_block = max(1, _BLOCK_BYTES // (row_bytes + 1))
    tops = list(range(0, height, per_block))
    history = -(-_WINDOW // (row_bytes + 1))  # rows whose filtered bytes fill the window
    strategy = choose_strategy(rows, step, level)

    def block(index: int) -> tuple[bytes, int, int]:
        top = tops[index]
        stop = min(height, top + per_block)
        data = filter_rows(rows[top:stop], _above(rows, top), step).tobytes()
        if top and strategy != zlib.Z_RLE:  # runs only look one byte back: no need
            start = max(0, top - history)
            primer = filter_rows(rows[start:top], _above(rows, start), step).tobytes()
            compressor = zlib.compressobj(
                level, zlib.DEFLATED, -15, 9, strategy, zdict=primer[-_WINDOW:]
            )
        else:
            compressor = zlib.compressobj(level, zlib.DEFLATED, -15, 9, strategy)
        last = index == len(tops) - 1
        ending = zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH
        return compressor.compress(data) + compressor.flush(ending), zlib.adler32(data), len(data)

    count = workers()
    if count == 1 or len(tops) == 1:
        pieces = [block(i) for i in range(len(tops))]
    else:
        pieces = list(pool(count).map(block, range(len(tops))))
    checksum = 1
    for _, adler, length in pieces:
        checksum = _adler32_combine(checksum, adler, length)
    # CMF 0x78: deflate, 32 KB window; FLG with the level's FLEVEL and FCHECK.
    flevel = 0 if level < 2 else 1 if level < 6 else 2 if level == 6 else 3
    flags = flevel << 6
    flags += 31 - (0x78 * 256 + flags) % 31
    head = bytes([0x78, flags])
    return head + b"".join(p for p, _, _ in pieces) + struct.pack(">I", checksum)


def choose_strategy(rows: NDArray[np.uint8], step: int, level: int) -> int:
    """The deflate strategy for these rows: run lengths or string search, the smaller.

    Filtered photographs hold few repeated strings but many small residuals:
    deflate's run-length strategy (matches one byte back only) compresses
    them as well or better than its string search, in about half the time.
    Drawings, text and flat areas repeat strings, which only the search
    finds. Samples of the rows spread over the image, about
    :data:`_SAMPLE_BYTES` each, are compressed both ways at ``level``; run
    lengths are kept unless the search's samples come out smaller.

    4096 x 4096 RGB photograph sharpened, level 3: 21.5 MB in 1.0 s of CPU
    by string search, 20.1 MB in 0.41 s by runs; a 328 x 400 drawing with
    alpha, 15 KB by search, 21 KB by runs.

    Parameters
    ----------
    rows : ndarray
        ``(n, row_bytes)`` unfiltered bytes, the whole image.
    step : int
        Bytes per pixel.
    level : int
        The zlib level (0 stores: no choice to make).

    Returns
    -------
    int
        ``zlib.Z_RLE`` or ``zlib.Z_DEFAULT_STRATEGY``.
    """
    if level == 0:
        return zlib.Z_DEFAULT_STRATEGY
    height, row_bytes = rows.shape
    per_sample = max(1, _SAMPLE_BYTES // (row_bytes + 1))
    if height <= per_sample * _SAMPLES:
        starts = [0]
        per_sample = height
    else:
        spacing = (height - per_sample) / (_SAMPLES - 1)
        starts = [round(i * spacing) for i in range(_SAMPLES)]
    sizes = {zlib.Z_RLE: 0, zlib.Z_DEFAULT_STRATEGY: 0}
    for start in starts:
        data = filter_rows(rows[start : start + per_sample], _above(rows, start), step).tobytes()
        for strategy in sizes:
            compressor = zlib.compressobj(level, zlib.DEFLATED, -15, 9, strategy)
            sizes[strategy] += len(compressor.compress(data) + compressor.flush())
    return (
        zlib.Z_RLE
        if sizes[zlib.Z_RLE] <= sizes[zlib.Z_DEFAULT_STRATEGY]
        else zlib.Z_DEFAULT_STRATEGY
    )


def _above(rows: NDArray[np.uint8], top: int) -> NDArray[np.uint8]:
    return rows[top - 1 : top] if top else np.zeros_like(rows[:1])


def filter_rows(rows: NDArray[np.uint8], above: NDArray[np.uint8], step: int) -> NDArray[np.uint8]:
    """Rows with their PNG filter byte: None, Sub or Up, the smallest residuals per row.

    Parameters
    ----------
    rows : ndarray
        ``(n, row_bytes)`` unfiltered bytes.
    above : ndarray
        ``(1, row_bytes)``: the row before the first (zeros for the image's first).
    step : int
        Bytes per pixel, the distance of the "left" neighbour.

    Returns
    -------
    ndarray
        ``(n, row_bytes + 1)``: each row's filter type, then its bytes.
    """
    sub = rows.copy()
    sub[:, step:] -= rows[:, :-step]  # uint8 arithmetic wraps, as PNG's does
    up = rows - np.concatenate([above, rows[:-1]])
    costs = np.stack([_cost(rows), _cost(sub), _cost(up)])
    choice = costs.argmin(axis=0)
    out = np.empty((rows.shape[0], rows.shape[1] + 1), dtype=np.uint8)
    out[:, 0] = choice  # PNG's codes: 0 None, 1 Sub, 2 Up
    out[:, 1:] = np.where((choice == 0)[:, None], rows, np.where((choice == 1)[:, None], sub, up))
    return out


def _cost(residuals: NDArray[np.uint8]) -> NDArray[np.int64]:
    """Sum of |residual| (as signed bytes) over every fourth byte of each row."""
    sample = residuals[:, ::4].view(np.int8)
    total: NDArray[np.int64] = np.abs(sample.astype(np.int16)).sum(axis=1, dtype=np.int64)
    return total


def _adler32_combine(first: int, second: int, second_length: int) -> int:
    """The Adler-32 of two pieces of data joined, from theirs (zlib's adler32_combine)."""
    base = _ADLER_BASE
    remainder = second_length % base
    low = first & 0xFFFF
    high = (remainder * low) % base
    low += (second & 0xFFFF) + base - 1
    high += ((first >> 16) & 0xFFFF) + ((second >> 16) & 0xFFFF) + base - remainder
    low %= base
    high %= base
    return low | (high << 16)


def _chunk(out: io.BytesIO, kind: bytes, payload: bytes) -> None:
    out.write(struct.pack(">I", len(payload)))
    out.write(kind + payload)
    out.write(struct.pack(">I", zlib.crc32(kind + payload)))
