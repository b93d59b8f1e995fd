"""The FFT method's transforms: a block correlated with one kernel, in buffers reused per thread.

``scipy.fft`` returns every transform in a new array. The FFT method makes
hundreds of block-sized transforms a second on each thread, and glibc's
allocator hands the freed arrays back to the system and takes them again,
page by page, for the next block: on the 2-core EPYC, 15x15 kernels over a
4096 x 4096 RGB image took 0.70 to 0.77 s that way (0.33 to 0.44 s with
glibc's trim and mmap thresholds raised through ``GLIBC_TUNABLES``) and
0.35 to 0.42 s writing into buffers made once per thread. SciPy's own binding of
pocketfft (the code behind ``scipy.fft``) takes output arrays, but it is
not public: where it is missing, or fails a small check of its results,
the same transforms go through ``scipy.fft``.

No SciPy module is imported before a transform is made.
"""

from __future__ import annotations

import threading
from functools import cache
from importlib import import_module
from typing import Any, Protocol, cast

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.floating]


class _Binding(Protocol):
    """The three calls of SciPy's pocketfft binding used here."""

    def r2c(self, a: Any, axes: Any, forward: bool, inorm: int, out: Any, nthreads: int) -> Any: ...
    def c2c(self, a: Any, axes: Any, forward: bool, inorm: int, out: Any, nthreads: int) -> Any: ...
    def c2r(
        self, a: Any, axes: Any, lastsize: int, forward: bool, inorm: int, out: Any, nthreads: int
    ) -> Any: ...


class Correlator:
    """Circular correlation of ``shape``-sized blocks with one kernel, by the FFT.

    Parameters
    ----------
    taps : ndarray
        The kernel as laid out in a block (dilated, or spread across
        interleaved channels, by the caller), at most ``shape``.
    shape : (int, int)
        The block's size: the transform lengths.
    row_step : int, optional
        With more than 1, results come from :meth:`sampled`: every
        ``row_step``-th row only, which ``shape[0]`` must be a multiple of.

    Notes
    -----
    The spectrum of the kernel turned 180 degrees (a correlation is a
    convolution with the turned kernel) is computed once and scaled by
    ``1 / (rows * columns)``, so neither transform scales.
    """

    def __init__(self, taps: FloatArray, shape: tuple[int, int], row_step: int = 1) -> None:
        from scipy import fft

        self.shape, self.row_step = shape, row_step
        self.dtype = np.dtype(np.float64 if taps.dtype == np.float64 else np.float32)
        turned = np.ascontiguousarray(taps[::-1, ::-1], dtype=self.dtype)
        if row_step > 1:
            if shape[0] % row_step:
                msg = f"a block of {shape[0]} rows cannot be sampled every {row_step} rows"
                raise ValueError(msg)
            # Rolled up by the kernel's reach, so that the first whole
            # window's result is row 0 and the sampled rows are 0, s, 2s...
            placed = np.zeros(shape, dtype=self.dtype)
            placed[: turned.shape[0], : turned.shape[1]] = turned
            turned = np.roll(placed, 1 - taps.shape[0], axis=0)
        spectrum = fft.rfft2(turned, s=shape)
        spectrum *= spectrum.real.dtype.type(1.0 / (shape[0] * shape[1]))
        self.spectrum = spectrum
        self._binding = binding()
        self._local = threading.local()

    def correlate(self, piece: FloatArray, first: int, rows: int) -> FloatArray:
        """Rows ``first:first + rows`` of ``piece``'s circular correlation with the kernel.

        ``piece`` (at most ``shape``) is zero-filled to the block's size.
        The rows returned are valid until this thread's next call. Only for
        a correlator made with ``row_step`` 1.
        """
        if self.row_step != 1:
            msg = "this correlator gives sampled rows: use sampled()"
            raise ValueError(msg)
        if self._binding is None:
            return self._by_scipy_fft(piece)[first : first + rows]
        bind = self._binding
        spectrum, result = self._forward(bind, piece)
        bind.c2c(spectrum, (0,), False, 0, spectrum, 1)
        # Only the rows asked for are transformed back along the rows.
        out = result[:rows]
        bind.c2r(spectrum[first : first + rows], (1,), self.shape[1], False, 0, out, 1)
        return out

    def sampled(self, piece: FloatArray, count: int) -> FloatArray:
        """``count`` rows, ``row_step`` apart, of the correlation from the first whole window.

        Row ``i`` is row ``(taps rows - 1) + i * row_step`` of the circular
        correlation. Only these rows are transformed back: the spectrum's
        rows are folded (summed ``row_step`` at a time, which is what
        sampling every ``row_step``-th row does to a spectrum) and the
        columns transformed back at ``1 / row_step`` of the length.
        """
        step = self.row_step
        if self._binding is None:
            return self._by_scipy_fft(piece)[: step * count : step]
        bind = self._binding
        spectrum, result = self._forward(bind, piece)
        length = self.shape[0] // step
        folded = spectrum[:length]
        for part in range(1, step):
            np.add(folded, spectrum[part * length : (part + 1) * length], out=folded)
        bind.c2c(folded, (0,), False, 0, folded, 1)
        out = result[:count]
        bind.c2r(folded[:count], (1,), self.shape[1], False, 0, out, 1)
        return out

    def _forward(
        self, bind: _Binding, piece: FloatArray
    ) -> tuple[NDArray[np.complexfloating], FloatArray]:
        """The thread's spectrum (``piece``'s times the kernel's) and result buffers."""
        block, spectrum, result = self._buffers()
        if piece.shape != self.shape:
            height, width = piece.shape
            block[:height, :width] = piece
            block[height:] = 0
            block[:height, width:] = 0
            piece = block
        bind.r2c(piece, (0, 1), True, 0, spectrum, 1)
        np.multiply(spectrum, self.spectrum, out=spectrum)
        return spectrum, result

    def _by_scipy_fft(self, piece: FloatArray) -> FloatArray:
        from scipy import fft

        spectrum = fft.rfft2(piece.astype(self.dtype, copy=False), s=self.shape)
        spectrum *= self.spectrum
        return cast(FloatArray, fft.irfft2(spectrum, s=self.shape, norm="forward"))

    def _buffers(self) -> tuple[FloatArray, NDArray[np.complexfloating], FloatArray]:
        """The calling thread's block, spectrum and result buffers, made on its first block."""
        made = getattr(self._local, "buffers", None)
        if made is None:
            rows, columns = self.shape
            complex_type = np.complex128 if self.dtype == np.float64 else np.complex64
            made = (
                np.empty(self.shape, dtype=self.dtype),
                np.empty((rows, columns // 2 + 1), dtype=complex_type),
                np.empty(self.shape, dtype=self.dtype),
            )
            self._local.buffers = made
        return cast(tuple[FloatArray, NDArray[np.complexfloating], FloatArray], made)


@cache
def binding() -> _Binding | None:
    """SciPy's pocketfft binding if it is there and gives ``scipy.fft``'s results, else None."""
    from scipy import fft

    try:
        bind = cast(_Binding, import_module("scipy.fft._pocketfft.pypocketfft"))
    except ImportError:
        return None
    # A check worth a few microseconds, once: a private binding may change.
    sample = np.arange(24, dtype=np.float32).reshape(4, 6) % 7
    spectrum = np.empty((4, 4), dtype=np.complex64)
    back = np.empty((4, 6), dtype=np.float32)
    try:
        bind.r2c(sample, (0, 1), True, 0, spectrum, 1)
        forward_ok = np.allclose(spectrum, fft.rfft2(sample), atol=1e-4)
        bind.c2c(spectrum, (0,), False, 0, spectrum, 1)
        bind.c2r(spectrum, (1,), 6, False, 0, back, 1)
    except Exception:  # any failure means: do not use it
        return None
    if not forward_ok or not np.allclose(back / 24, sample, atol=1e-4):
        return None
    return bind
