"""Measure the constants of imgconv's method cost model on this machine.

``imgconv.core.convolve.choose_method`` picks direct, separable or FFT by a
model of the work: nanoseconds per sample and channel for an array pass of
the direct method and of the separable method (``spatial.passes`` counts
them: taps of equal weight share a multiply, +-1 weights need none), and
per position for the FFT method. This script times each method through
``correlate`` (no method pads the whole image) on one image and prints the constants to paste
into ``imgconv/core/convolve.py``, then checks the model's choice against
the fastest method for a range of kernels.

    python benchmarks/calibrate.py [--size 4096] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from imgconv.core import convolve, spatial, spectral
from imgconv.core.geometry import plan


def best(run: Callable[[], object], repeat: int) -> float:
    """The shortest of ``repeat`` timed runs, after one warm-up."""
    run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    """Time the methods, print the constants and the model's choices."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    image = (rng.random((args.size, args.size, 3)) * 255).astype(np.float32)
    channels = image.shape[2]

    def timed(matrix: np.ndarray, method: convolve.Method) -> float:
        return best(
            lambda: convolve.correlate(image, matrix, method=method, border="reflect101"),
            args.repeat,
        )

    def passes(weights: np.ndarray, accumulate: bool = False) -> int:
        cells = [(i, float(w)) for i, w in np.ndenumerate(weights) if w != 0]
        return spatial.passes(spatial.sum_plan(cells), accumulate=accumulate)

    samples = image.shape[0] * image.shape[1] * channels
    ns = 1e9 / samples
    dense = rng.normal(size=(7, 7))
    units = np.where(rng.random((7, 7)) < 0.5, 1.0, -1.0)
    direct_pass = timed(dense, "direct") * ns / passes(dense)
    unit_pass = timed(units, "direct") * ns / passes(units)
    row = rng.normal(size=15)
    ((column, across),) = convolve.separable_factors(np.outer(row, row)) or []
    separable_pass = timed(np.outer(row, row), "separable") * ns / (passes(column) + passes(across))
    fft_times, forward_shares = {}, {}
    for size in (15, 31, 63):
        matrix = rng.normal(size=(size, size))
        by, bx = spectral.block_shape((size, size), image.shape[:2])
        overlap = by * bx / ((by - size + 1) * (bx - size + 1))
        fft_times[size] = timed(matrix, "fft") * ns / overlap
        # A row stride of 4 transforms back a quarter of the rows: the
        # forward transforms' share f of the time from t4 / t1 = f + (1 - f) / 4.
        by, bx = spectral.block_shape((size, size), image.shape[:2], row_step=4)
        rows = spectral.block_rows((size, size), image.shape[:2], 4)
        overlap4 = by * bx / (rows * (bx - size + 1))

        def strided_run(m: np.ndarray = matrix) -> object:
            return convolve.correlate(image, m, method="fft", border="reflect101", stride=(4, 1))

        strided = best(strided_run, args.repeat)
        ratio = strided * ns / overlap4 / fft_times[size]
        forward_shares[size] = round((4 * ratio - 1) / 3, 2)
    fft_position = float(np.median(list(fft_times.values())))
    forward = float(np.median(list(forward_shares.values())))
    print(f"_DIRECT_PASS = {direct_pass:.2f}  # passes of +-1 taps: {unit_pass:.2f}")
    print(f"_SEPARABLE_PASS = {separable_pass:.2f}")
    print(f"_FFT_POSITION = {fft_position:.1f}  # per size: {fft_times}")
    print(f"_FFT_FORWARD = {forward:.2f}  # per size: {forward_shares}")

    print("\nkernel          chosen     direct  separable   fft   (seconds)")
    cases = {
        "3x3 sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], float),
        "3x3 gaussian": np.outer([1, 2, 1], [1, 2, 1]) / 16,
        "5x5 gaussian": np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256,
        "5x5 random": rng.normal(size=(5, 5)),
        "9x9 random": rng.normal(size=(9, 9)),
        "11x11 random": rng.normal(size=(11, 11)),
        "15x15 gaussian": np.outer(np.hanning(17)[1:-1], np.hanning(17)[1:-1]),
        "15x15 box": np.full((15, 15), 1 / 225),
        "15x15 random": rng.normal(size=(15, 15)),
        "31x31 box": np.full((31, 31), 1 / 961),
        "31x31 random": rng.normal(size=(31, 31)),
    }
    for name, matrix in cases.items():
        geometry = plan(image.shape[:2], matrix.shape)
        chosen = convolve.choose_method(matrix, geometry)
        times = {}
        for method in ("direct", "separable", "fft"):
            if method == "separable" and convolve.separable_factors(matrix) is None:
                times[method] = float("nan")
            elif method == "direct" and matrix.size > 300:
                times[method] = float("nan")  # minutes; the model never picks it
            else:
                times[method] = timed(matrix, method)
        fastest = min((t, m) for m, t in times.items() if t == t)[1]
        mark = "" if chosen == fastest else f"   (fastest: {fastest})"
        row_text = "  ".join(f"{times[m]:8.3f}" for m in ("direct", "separable", "fft"))
        print(f"{name:15} {chosen:9} {row_text}{mark}")


if __name__ == "__main__":
    main()
