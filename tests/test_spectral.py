"""The FFT method's blocks and transforms.

Blocks read each row's interleaved channels as one row of floats and are
transformed in buffers each thread reuses, through SciPy's pocketfft binding
or, without it, ``scipy.fft``. Small blocks here (``BLOCK_OUTPUTS``
monkeypatched), so that small images make many blocks: full ones, ones cut
short by the image's edge, and ones that cross the padding.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from imgconv.core import convolve, spectral, transforms
from imgconv.core.convolve import correlate

BORDERS = ["edge", "zero", "constant:0.75", "reflect", "reflect101", "wrap"]


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 8 rows and 24 floats of outputs (before the kernel's reach)."""
    monkeypatch.setattr(spectral, "BLOCK_OUTPUTS", (8, 24))


def _image(channels: int, dtype: type = np.float32) -> NDArray[np.floating]:
    rng = np.random.default_rng(40 + channels)
    shape = (37, 29, channels) if channels else (37, 29)
    return rng.random(shape).astype(dtype)


KERNEL = np.random.default_rng(41).normal(size=(5, 4))


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("channels", [0, 1, 2, 3, 4])
@pytest.mark.parametrize(
    ("padding", "stride", "dilation"),
    [
        ("same", 1, 1),
        ("valid", (2, 3), 1),
        ("full", 1, (2, 1)),
        ((6, 0, 1, 7), 3, 2),
        ("same", (4, 1), 1),
        ("full", (5, 2), (1, 2)),
        ("same", (7, 4), 1),
    ],
)
def test_fft_agrees_with_direct_for_any_channel_count(
    channels: int, padding: Any, stride: Any, dilation: Any
) -> None:
    """Kernel taps spread across interleaved channels read each channel alone."""
    image = _image(channels)
    options: dict[str, Any] = {
        "padding": padding,
        "stride": stride,
        "dilation": dilation,
        "border": "reflect",
    }
    direct = correlate(image, KERNEL, method="direct", **options)
    fft = correlate(image, KERNEL, method="fft", **options)
    assert fft.shape == direct.shape
    np.testing.assert_allclose(fft, direct, rtol=0, atol=2e-5)


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("stride", [1, 2, 4, 7, 14])
@pytest.mark.parametrize("channels", [0, 3])
def test_fft_without_padding_the_image_gives_the_padded_result_bit_for_bit(
    monkeypatch: pytest.MonkeyPatch, border: str, stride: int, channels: int
) -> None:
    """Block windows read from the image (views inside, padded copies across an edge)
    hold what the padded image holds: the same numbers to the bit, on one thread or two."""
    image = _image(channels)
    rule = convolve.Border.parse(border)
    geometry = convolve.plan(image.shape[:2], KERNEL.shape, stride=stride)
    padded = convolve.pad(image, geometry, rule)
    whole = convolve.correlate_padded(padded, KERNEL, geometry, method="fft")
    framed = correlate(image, KERNEL, method="fft", border=border, stride=stride)
    assert framed.tobytes() == whole.tobytes()
    for count in (1, 2):
        monkeypatch.setattr(spectral, "workers", lambda count=count: count)
        again = correlate(image, KERNEL, method="fft", border=border, stride=stride)
        assert again.tobytes() == whole.tobytes()


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [0, 3])
@pytest.mark.parametrize("stride", [(1, 2), (3, 1)])
def test_scipy_fft_does_the_same_without_the_binding(
    monkeypatch: pytest.MonkeyPatch, dtype: type, channels: int, stride: tuple[int, int]
) -> None:
    """Without SciPy's pocketfft binding, scipy.fft makes the same transforms."""
    image = _image(channels, dtype)
    with_binding = correlate(image, KERNEL, method="fft", stride=stride)
    monkeypatch.setattr(transforms, "binding", lambda: None)
    without = correlate(image, KERNEL, method="fft", stride=stride)
    assert without.dtype == with_binding.dtype == np.dtype(dtype)
    tolerance = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(without, with_binding, rtol=0, atol=tolerance)
    direct = correlate(image, KERNEL, method="direct", stride=stride)
    np.testing.assert_allclose(without, direct, rtol=0, atol=tolerance)


def test_correlator_zero_fills_a_short_block_after_a_full_one() -> None:
    """A thread's block buffer is reused: a short block must not see the last block's values."""
    rng = np.random.default_rng(42)
    taps = rng.normal(size=(3, 3)).astype(np.float32)
    correlator = transforms.Correlator(taps, (8, 12))
    full = rng.random((8, 12)).astype(np.float32) + 5
    correlator.correlate(full, 0, 8)
    short = rng.random((5, 7)).astype(np.float32)
    got = correlator.correlate(short, 2, 3).copy()
    # The circular correlation of the zero-filled block, by NumPy's FFT.
    block = np.zeros((8, 12))
    block[:5, :7] = short
    spectrum = np.fft.rfft2(block) * np.fft.rfft2(taps[::-1, ::-1].astype(np.float64), s=(8, 12))
    expected = np.fft.irfft2(spectrum, s=(8, 12))[2:5]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("binding", ["pocketfft", "scipy.fft"])
@pytest.mark.parametrize("step", [2, 3, 4])
def test_sampled_rows_are_every_row_step_th_row_of_the_correlation(
    monkeypatch: pytest.MonkeyPatch, binding: str, step: int
) -> None:
    """Folding the spectrum gives rows first, first + step, ... of the full inverse."""
    if binding == "scipy.fft":
        monkeypatch.setattr(transforms, "binding", lambda: None)
    rng = np.random.default_rng(43)
    taps = rng.normal(size=(5, 4))
    shape = (12 * step, 20)
    piece = rng.random((shape[0] - 3, 17))
    every = transforms.Correlator(taps, shape).correlate(piece, 4, shape[0] - 4)
    sampled = transforms.Correlator(taps, shape, row_step=step).sampled(piece, 6)
    assert sampled.shape == (6, 20)
    np.testing.assert_allclose(sampled, every[: 6 * step : step], rtol=0, atol=1e-12)


def test_a_row_step_must_divide_the_block() -> None:
    with pytest.raises(ValueError, match="a block of 10 rows cannot be sampled every 4 rows"):
        transforms.Correlator(np.ones((3, 3)), (10, 8), row_step=4)
    with pytest.raises(ValueError, match="use sampled"):
        transforms.Correlator(np.ones((3, 3)), (12, 8), row_step=4).correlate(np.ones((4, 4)), 2, 2)


@pytest.mark.parametrize(
    ("stride", "step"), [(1, 1), (2, 2), (4, 4), (6, 6), (7, 1), (14, 2), (90, 90), (84, 12)]
)
def test_row_step_is_the_five_smooth_part_of_the_stride(stride: int, step: int) -> None:
    assert spectral.row_step(stride) == step


@pytest.mark.parametrize("step", [2, 3, 4, 5])
def test_blocks_hold_whole_row_steps(step: int) -> None:
    """Folded blocks are a multiple of the step long and give a multiple of it in rows."""
    height, _ = spectral.block_shape((15, 15), (4096, 4096), 3, step)
    rows = spectral.block_rows((15, 15), (4096, 4096), step)
    assert height % step == 0
    assert rows % step == 0
    assert height == spectral.fast_length(height)
    assert rows + 14 <= height
    assert rows >= spectral.BLOCK_OUTPUTS[0]


def test_binding_is_not_used_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scipy.fft._pocketfft.pypocketfft", None)
    assert transforms.binding.__wrapped__() is None


def _broken(kind: str) -> Any:
    def call(*args: Any) -> Any:
        if kind == "raises":
            raise TypeError("incompatible function arguments")
        args[4][...] = 0  # the output argument, filled with wrong numbers
        return args[4]

    return call


@pytest.mark.parametrize("kind", ["raises", "wrong"])
def test_binding_is_not_used_when_it_fails_its_check(
    monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A changed private binding (other arguments, other results) is left for scipy.fft."""
    from scipy.fft._pocketfft import pypocketfft

    assert transforms.binding.__wrapped__() is pypocketfft
    monkeypatch.setattr(pypocketfft, "r2c", _broken(kind))
    assert transforms.binding.__wrapped__() is None


@pytest.mark.parametrize("channels", [1, 3])
def test_block_shape_counts_floats_along_a_row(channels: int) -> None:
    """A block's columns hold its outputs' channels and the kernel spread across them."""
    rows, floats = spectral.block_shape((15, 15), (4096, 4096), channels)
    assert rows == spectral.fast_length(spectral.BLOCK_OUTPUTS[0] + 14)
    assert floats == spectral.fast_length(spectral.BLOCK_OUTPUTS[1] + channels * 14)
    # A small image is one block, whatever its channels.
    assert spectral.block_shape((3, 3), (5, 7), channels) == (
        spectral.fast_length(7),
        spectral.fast_length(channels * 7 + channels * 2),
    )
