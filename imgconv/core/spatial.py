"""The direct and separable methods: multiply-adds over strips of output rows, on threads.

Both compute only the sampled output positions of

    out[i, j] = sum_{u, v} K[u, v] * S[i*s_y + d_y*u, j*s_x + d_x*v]

from a source ``S``: the whole padded input (:func:`direct`,
:func:`separable`) or, through :func:`direct_into` and
:func:`separable_into`, any window of it, such as a view of the unpadded
image for the outputs whose taps all fall inside it. Stride and dilation
are slice steps. A row stride skips rows; a column stride of up to 8 is
taken after the sums, which cover every column (NumPy's loops over every
fourth pixel of a row are slower than over all of them), so a stride of 4
costs about a quarter of stride 1.

Speed comes from three things NumPy alone does not do for us:

- **Fewer passes.** Taps of equal weight (or of opposite weights) are
  summed first and multiplied once, and weights of 1 and -1 are added or
  subtracted without a multiply: a 3x3 binomial blur is 11 passes instead
  of 17. :func:`sum_plan` fixes the order of the operations.
- **Cache blocking.** The output is cut into strips of rows small enough
  that a strip, its scratch and the input rows it reads stay in cache
  while every pass goes over them; a pass over the whole image would
  stream it from memory each time.
- **Threads.** NumPy's ufuncs release the GIL on large arrays, so strips
  run on a pool of one thread per core. Threads take strips large enough
  (L3- rather than L2-sized) for hand-offs of the GIL to be rare.

Every output value is computed by the same sequence of floating-point
operations, with the same weights in the same order, whatever the strip,
band or window it falls in: results do not depend on how the work is cut.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from .geometry import Geometry

FloatArray = NDArray[np.floating]
Key = TypeVar("Key", bound=Hashable)
Item = TypeVar("Item")
Done = TypeVar("Done")

#: Bytes of output per strip of the direct method when one thread does the
#: work: with its scratch and the input rows it reads, a strip stays within
#: a 2 MB L2 cache while every pass goes over it.
STRIP_BYTES = 1 << 19
#: The same for the separable method, which keeps two more strip-sized
#: buffers (the column pass's result and a scratch). 5x5 Gaussian, 4096 x
#: 4096 RGB float32, one thread: 144 or 192 KB strips 0.19 s of CPU, 240 KB
#: and more 0.28 to 0.31 s (out of cache).
SEPARABLE_STRIP_BYTES = 3 << 16
#: Bytes of output per strip when threads share the work, at most. Each
#: thread takes the GIL back after every ufunc call, and a hand-off between
#: threads costs some 15 us: with passes over L2-sized strips (10 to 30 us
#: each) two threads ran slower than one. Larger strips, served from the
#: shared L3 cache, make the hand-offs rare, until the threads' strips no
#: longer fit in it (:func:`threaded_strip_bytes`). 3x3 sharpen, 4096 x 4096
#: RGB float32, two threads: on a Xeon, 0.15 s with 512 KB strips, 0.11 s
#: with 2 MB, 0.093 s with 4 to 8 MB and 0.10 to 0.11 s with 16 to 32 MB
#: (one thread with 512 KB strips 0.12 s); on an EPYC with a 32 MB L3,
#: 0.093 s with 512 KB, 0.067 s with 2 to 4 MB, 0.084 s with 8 MB and
#: 0.096 s with 16 MB.
THREADED_STRIP_BYTES = 1 << 23
#: The same for the separable method. 5x5 Gaussian: on the Xeon 0.41 s
#: with 192 KB strips, 0.24 s with 1.5 MB, 0.18 s with 6 MB, 0.19 to 0.23 s
#: with 12 to 24 MB (one thread with 192 KB strips 0.21 s); on the EPYC,
#: 0.16 s with 512 KB, 0.12 s with 1 to 3 MB, 0.13 s with 4 MB and 0.17 s
#: with 6 MB.
THREADED_SEPARABLE_STRIP_BYTES = 6 << 20
#: Strip-sized arrays a thread keeps busy at once: its output strip, the
#: input rows it reads and a scratch (direct), plus the column pass's
#: result and a second scratch-sized buffer (separable). A strip is small
#: enough for every thread's arrays to share the L3 cache.
_DIRECT_ARRAYS, _SEPARABLE_ARRAYS = 4, 6
#: Threaded strips are never cut below this for the L3's sake.
_MIN_THREADED_STRIP = 1 << 20
#: Column strides up to this are taken after the sums: every column of the
#: sampled rows is summed, then the sampled ones copied out. Passes over
#: every column run at full (SIMD) speed; NumPy's loops over every fourth
#: pixel of an RGB row are scalar and read as many cache lines: one add
#: took 13 ms over 1024 x 1024 of them against 7 ms over all 1024 x 4096.
#: Copying the input's column phases out first (polyphase, so that each
#: tap reads a contiguous row) loses too: the copy is as slow as those
#: loops (5 ms, one thread, for every fourth pixel of 1024 rows, each
#: pixel copied whole), as long as an add over all the rows' pixels. On 2
#: threads, 3x3 sharpen at stride 4 took 0.052 s that way against 0.018 s;
#: separable 15x15 and 31x31 kernels at strides 2 to 4, 0 to 15% less,
#: within the noise of medians of 7. Summing a window view sampled at the
#: stride (``sliding_window_view(...)[::4, ::4]``) with einsum or
#: tensordot, so that only the sampled outputs are computed: 0.11 to
#: 0.17 s for that 3x3 case.
_EVERY_COLUMN_UP_TO = 8


def summed_columns(width: int, stride: int) -> int:
    """Columns a strip's passes cover for ``width`` outputs ``stride`` columns apart.

    Every column up to the last sampled one for strides up to
    :data:`_EVERY_COLUMN_UP_TO` (the sampled ones are copied out after),
    else the sampled ones alone.
    """
    return stride * (width - 1) + 1 if 1 < stride <= _EVERY_COLUMN_UP_TO else width


#: Below this many bytes of output, threads cost more than they save.
_THREADED_BYTES = 1 << 20


def workers() -> int:
    """How many threads filtering uses: one per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@cache
def shared_cache_bytes() -> int | None:
    """The size of the CPU's level-3 cache as Linux reports it, or None where it does not."""
    return cache_bytes("/sys/devices/system/cpu/cpu0/cache", level=3)


def cache_bytes(base: str, level: int) -> int | None:
    """The size of the ``level`` cache described under ``base`` (sysfs ``indexN`` folders).

    None where there is no such folder, no cache of that level, or its
    files cannot be read.
    """
    try:
        entries = sorted(e for e in os.listdir(base) if e.startswith("index"))
    except OSError:
        return None
    for entry in entries:
        try:
            with open(os.path.join(base, entry, "level"), encoding="ascii") as found:
                if found.read().strip() != str(level):
                    continue
            with open(os.path.join(base, entry, "size"), encoding="ascii") as size:
                return parse_cache_size(size.read())
        except (OSError, ValueError):
            return None
    return None


def parse_cache_size(text: str) -> int:
    """Bytes in a cache size as sysfs writes it: ``32768K``, ``1M``, or a plain number.

    Examples
    --------
    >>> parse_cache_size("32768K")
    33554432
    """
    text = text.strip().upper()
    factor = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * factor


def threaded_strip_bytes(count: int, *, separable: bool = False) -> int:
    """Bytes of output per strip for ``count`` threads: the cap, or less to share the L3.

    Where the L3 cache's size is known, each thread's strip-sized arrays
    (:data:`_DIRECT_ARRAYS` or :data:`_SEPARABLE_ARRAYS` of them) together
    fit in it, down to :data:`_MIN_THREADED_STRIP`.
    """
    cap = THREADED_SEPARABLE_STRIP_BYTES if separable else THREADED_STRIP_BYTES
    l3 = shared_cache_bytes()
    if l3 is None:
        return cap
    share = l3 // (count * (_SEPARABLE_ARRAYS if separable else _DIRECT_ARRAYS))
    return min(cap, max(_MIN_THREADED_STRIP, share))


@cache
def pool(count: int) -> ThreadPoolExecutor:
    """The process's pool of ``count`` filtering threads, made once."""
    return ThreadPoolExecutor(max_workers=count, thread_name_prefix="imgconv")


def on_threads(count: int, work: Callable[[Item], Done], items: Iterable[Item]) -> list[Done]:
    """``[work(item) for item in items]`` on :func:`pool`, under the caller's NumPy error state.

    ``np.errstate`` holds for the thread that set it only: without this, a
    pool thread would warn of an overflow that the caller checks for itself
    and has silenced. The first exception a call raised is raised here.
    """
    state = np.geterr()

    def run(item: Item) -> Done:
        with np.errstate(**state):
            return work(item)

    return list(pool(count).map(run, items))


def in_strips(
    rows: int, row_bytes: int, work: Callable[[int, int], None], *, separable: bool = False
) -> None:
    """Call ``work(start, stop)`` over strips of ``rows`` output rows, on threads if large.

    Each call must write only its own rows, so strips can run in any order
    and at once. Strips hold about :data:`STRIP_BYTES` of output on one
    thread, :func:`threaded_strip_bytes` on several (the ``SEPARABLE_``
    sizes for the separable method), and every thread gets one at least.
    """
    count, row_bytes = workers(), max(1, row_bytes)
    if count > 1 and rows * row_bytes >= _THREADED_BYTES:
        size = threaded_strip_bytes(count, separable=separable)
        height = max(1, min(size // row_bytes, -(-rows // count)))
        bounds = [(top, min(rows, top + height)) for top in range(0, rows, height)]
        if len(bounds) > 1:
            on_threads(count, lambda b: work(*b), bounds)
            return
    height = max(1, (SEPARABLE_STRIP_BYTES if separable else STRIP_BYTES) // row_bytes)
    for top in range(0, rows, height):
        work(top, min(rows, top + height))


@dataclass(frozen=True)
class Group(Generic[Key]):
    """Taps that share one weight magnitude: summed (with signs) first, multiplied once.

    Attributes
    ----------
    magnitude : float
        ``|weight|`` of every member.
    members : tuple of (key, sign)
        The taps, the first of which has the group's ``sign``; the others
        are added where their sign matches it and subtracted where not.
    """

    magnitude: float
    members: tuple[tuple[Key, int], ...]

    @property
    def sign(self) -> int:
        """The sign of the first member: the group adds ``sign * magnitude * sum``."""
        return self.members[0][1]


def sum_plan(taps: Sequence[tuple[Key, float]]) -> list[Group[Key]]:
    """The order in which :func:`weighted_sum` adds up ``taps`` (key, non-zero weight).

    Taps are grouped by ``|weight|`` in the order of their first appearance,
    each group led by a positive tap where it has one. The group that goes
    first is built in the output itself, which saves a pass unless it is a
    single tap of weight 1, so the first group that is not is moved first.
    The plan depends on the weights alone, so every output value is
    computed by the same operations.
    """
    by_magnitude: dict[float, list[tuple[Key, int]]] = {}
    for key, weight in taps:
        by_magnitude.setdefault(abs(weight), []).append((key, 1 if weight > 0 else -1))
    groups = []
    for magnitude, members in by_magnitude.items():
        positive = [m for m in members if m[1] > 0]
        lead = positive[0] if positive else members[0]
        ordered = (lead, *(m for m in members if m is not lead))
        groups.append(Group(magnitude, ordered))
    for index, group in enumerate(groups):
        # Built in the output, a group saves its scratch pass unless it is
        # one tap of weight 1 or a sum whose factor is -1 (a negation).
        size, factor = len(group.members), group.sign * group.magnitude
        if (size == 1 and group.magnitude != 1) or (size > 1 and factor != -1):
            groups.insert(0, groups.pop(index))
            break
    return groups


def passes(groups: Sequence[Group[Key]], *, accumulate: bool = False) -> int:
    """How many array passes :func:`weighted_sum` makes for ``groups`` (the cost model's unit)."""
    count = 0
    for index, group in enumerate(groups):
        size, scaled = len(group.members), group.magnitude != 1
        if index == 0 and not accumulate:
            # Built in the output: one pass for a single tap (a copy or a
            # product), else its adds and one multiply unless the factor is 1.
            count += 1 if size == 1 else size - 1 + (group.sign * group.magnitude != 1)
        else:
            count += size if not scaled else size + 1
    return count


def weighted_sum(
    target: FloatArray,
    groups: Sequence[Group[Key]],
    fetch: Callable[[Key], FloatArray],
    scratch: Callable[[], FloatArray],
    *,
    accumulate: bool = False,
) -> None:
    """``target = sum(weight * fetch(key))`` over the planned taps, in the plan's order.

    ``scratch()`` gives a buffer of ``target``'s shape, asked for only when
    a group needs one. With ``accumulate`` the sum is added to ``target``.
    """
    kind = target.dtype.type
    for index, group in enumerate(groups):
        lead = group.members[0][0]
        if index == 0 and not accumulate:
            single, factor = len(group.members) == 1, group.sign * group.magnitude
            if single and factor == 1:
                np.copyto(target, fetch(lead))
            elif single:
                np.multiply(fetch(lead), kind(factor), out=target)
            else:
                _group_sum(target, group, fetch)
                if factor != 1:
                    # Not np.negative for -1: NumPy 2.4's in place on a
                    # one-column float64 view (a frame strip) reads the
                    # wrong elements. A product by -1 is the same numbers.
                    np.multiply(target, kind(factor), out=target)
            continue
        if group.magnitude == 1:
            # Each tap straight into the target: as many passes, no scratch.
            for key, sign in group.members:
                (np.add if sign > 0 else np.subtract)(target, fetch(key), out=target)
            continue
        add = np.add if group.sign > 0 else np.subtract
        buffer = scratch()
        if len(group.members) == 1:
            np.multiply(fetch(lead), kind(group.magnitude), out=buffer)
        else:
            _group_sum(buffer, group, fetch)
            if group.magnitude != 1:
                np.multiply(buffer, kind(group.magnitude), out=buffer)
        add(target, buffer, out=target)


def _group_sum(out: FloatArray, group: Group[Key], fetch: Callable[[Key], FloatArray]) -> None:
    """``out`` = the group's first tap, plus or minus each other one (by sign relative to it)."""
    source = fetch(group.members[0][0])
    for key, sign in group.members[1:]:
        combine = np.add if sign == group.sign else np.subtract
        combine(source, fetch(key), out=out)
        source = out


def _taps(weights: NDArray[np.float64]) -> list[tuple[tuple[int, ...], float]]:
    return [(index, float(w)) for index, w in np.ndenumerate(weights) if w != 0]


def _scratch_of(like: FloatArray) -> Callable[[], FloatArray]:
    """A function giving one buffer shaped like ``like``, made on first use."""
    made: list[FloatArray] = []

    def scratch() -> FloatArray:
        if not made:
            made.append(np.empty_like(like))
        return made[0]

    return scratch


def direct(padded: FloatArray, matrix: NDArray[np.float64], geometry: Geometry) -> FloatArray:
    """Correlate the padded input with ``matrix`` at ``geometry``'s samples, tap by tap.

    Returns
    -------
    ndarray
        ``(H_out, W_out[, C])`` in ``padded``'s dtype.
    """
    out = np.empty((*geometry.out_shape, *padded.shape[2:]), dtype=padded.dtype)
    direct_into(out, padded, matrix, geometry.stride, geometry.dilation)
    return out


def direct_into(
    out: FloatArray,
    source: FloatArray,
    matrix: NDArray[np.float64],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> None:
    """``out[i, j] = sum K[u, v] * source[i*s_y + d_y*u, j*s_x + d_x*v]``, strip by strip.

    One pass per non-zero cell at most (see :func:`sum_plan`).

    Parameters
    ----------
    out : ndarray
        ``(H_out, W_out[, C])``, written in place; may be a view.
    source : ndarray
        The (padded) input the taps read, at least as large as the taps reach.
    matrix : ndarray
        The kernel.
    stride, dilation : (int, int)
        Per axis.
    """
    (ho, wo), (sy, sx), (dy, dx) = out.shape[:2], stride, dilation
    groups = sum_plan(_taps(matrix))
    if not groups:
        out.fill(0)
        return

    # A column stride is taken after the sums (see _EVERY_COLUMN_UP_TO).
    span = summed_columns(wo, sx)
    every, step = span != wo, 1 if span != wo else sx

    def strip(start: int, stop: int) -> None:
        target = out[start:stop]
        rows, columns = sy * (stop - start - 1) + 1, sx * (wo - 1) + 1
        sums = np.empty((stop - start, span, *out.shape[2:]), out.dtype) if every else target

        def fetch(cell: tuple[int, ...]) -> FloatArray:
            y0, x0 = cell[0] * dy + start * sy, cell[1] * dx
            return source[y0 : y0 + rows : sy, x0 : x0 + columns : step]

        weighted_sum(sums, groups, fetch, _scratch_of(sums))
        if every:
            np.copyto(target, sums[:, ::sx])

    in_strips(ho, out[:1].nbytes * span // wo, strip)


def separable(
    padded: FloatArray,
    factors: Sequence[tuple[NDArray[np.float64], NDArray[np.float64]]],
    geometry: Geometry,
) -> FloatArray:
    """The sum of column-then-row passes over the padded input, one pair of vectors per term.

    A rank-1 kernel (box, Gaussian, Sobel) is one term: ``kh + kw`` taps per
    sample instead of ``kh * kw``. A rank-2 or 3 kernel is two or three
    terms, worth it when that is still fewer taps than its non-zero cells.

    Parameters
    ----------
    padded : ndarray
        The padded input.
    factors : sequence of (column, row)
        ``matrix == sum(outer(column, row))`` over the terms.
    geometry : Geometry
        The planned geometry.

    Returns
    -------
    ndarray
        ``(H_out, W_out[, C])`` in ``padded``'s dtype.
    """
    out = np.empty((*geometry.out_shape, *padded.shape[2:]), dtype=padded.dtype)
    separable_into(out, padded, factors, geometry.stride, geometry.dilation)
    return out


def separable_into(
    out: FloatArray,
    source: FloatArray,
    factors: Sequence[tuple[NDArray[np.float64], NDArray[np.float64]]],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> None:
    """:func:`direct_into` for ``sum(outer(column, row))``: a column pass, then a row pass.

    The column pass covers the sampled rows of a strip and every column
    the row pass reads; the row pass only the sampled columns.
    """
    (ho, wo), (sy, sx), (dy, dx) = out.shape[:2], stride, dilation
    terms = [(sum_plan(_taps(column)), sum_plan(_taps(row))) for column, row in factors]
    terms = [(c, r) for c, r in terms if c and r]
    if not terms:
        out.fill(0)
        return
    width = min(source.shape[1], sx * (wo - 1) + dx * (len(factors[0][1]) - 1) + 1)
    # A column stride is taken after the row pass (see _EVERY_COLUMN_UP_TO).
    span = summed_columns(wo, sx)
    every, step = span != wo, 1 if span != wo else sx

    def strip(start: int, stop: int) -> None:
        target = out[start:stop]
        count = stop - start
        partial = np.empty((count, width, *source.shape[2:]), dtype=source.dtype)
        sums = np.empty((count, span, *out.shape[2:]), out.dtype) if every else target
        # One scratch for both passes (the row pass uses its first columns):
        # a buffer less to keep in cache.
        shared = _scratch_of(partial)

        def sums_scratch() -> FloatArray:
            return shared()[:, :span]

        def column_tap(cell: tuple[int, ...]) -> FloatArray:
            y0 = cell[0] * dy + start * sy
            return source[y0 : y0 + sy * (count - 1) + 1 : sy, :width]

        def row_tap(cell: tuple[int, ...]) -> FloatArray:
            x0 = cell[0] * dx
            return partial[:, x0 : x0 + sx * (wo - 1) + 1 : step]

        for term, (column, row) in enumerate(terms):
            weighted_sum(partial, column, column_tap, shared)
            weighted_sum(sums, row, row_tap, sums_scratch, accumulate=term > 0)
        if every:
            np.copyto(target, sums[:, ::sx])

    in_strips(ho, out[:1].nbytes * span // wo, strip, separable=True)
