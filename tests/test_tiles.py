"""Images filtered in bands of rows (tiles with halos) equal the whole image, to the bit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray

from imgconv import apply_file, get_builtin
from imgconv.core import spectral
from imgconv.core.convolve import choose_method
from imgconv.core.filtering import Banded, band_height, border_rows, filter_image, filter_window
from imgconv.core.geometry import plan
from imgconv.core.vocab import Border
from imgconv.errors import GeometryError, UsageError

BORDERS = ["edge", "zero", "constant:40", "reflect", "reflect101", "wrap"]


class RowsOnly:
    """A row source that hands out row slices only, and remembers the most rows held at once."""

    def __init__(self, data: NDArray[Any]) -> None:
        self.data = data
        self.shape = data.shape
        self.dtype = data.dtype
        self.most = 0

    def __getitem__(self, rows: slice) -> NDArray[Any]:
        assert isinstance(rows, slice)
        assert rows.step is None
        part = self.data[rows].copy()
        self.most = max(self.most, len(part))
        return part


class Sink:
    """Takes rows top to bottom, in contiguous bands, as a file written by strips does."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
        self.data = np.zeros(shape, dtype)
        self.next = 0

    def __setitem__(self, rows: slice, value: NDArray[Any]) -> None:
        assert rows.start == self.next
        self.data[rows] = value
        self.next = rows.stop


def banded(image: NDArray[Any], kernel: Any, budget: int, **options: Any) -> tuple[Any, RowsOnly]:
    source = RowsOnly(image)
    filtering = Banded(source, kernel, budget=budget, **options)
    planned = filtering.plan()
    sink = Sink(planned.shape, planned.dtype)
    filtering.run(sink)
    assert sink.next == planned.shape[0]
    return sink.data, source


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize(
    ("kernel", "method"),
    [("sharpen", "direct"), ("gaussian:2", "separable"), ("box:9", "fft"), ("kirsch", "auto")],
)
def test_bands_equal_the_whole_image(border: str, stride: int, kernel: str, method: str) -> None:
    # 101 x 37: no band height divides it, and the last band is short.
    image = np.random.default_rng(stride).integers(0, 256, (101, 37, 3), dtype=np.uint8)
    options: dict[str, Any] = {"border": border, "stride": stride, "method": method}
    whole = filter_image(image, get_builtin(kernel), **options)
    tiled, source = banded(image, get_builtin(kernel), 37 * 3 * 4 * 6, **options)
    np.testing.assert_array_equal(tiled, whole.pixels)
    if method != "fft":  # the FFT's bands are as tall as its blocks
        assert source.most < 40  # never the whole image


@pytest.mark.parametrize("border", BORDERS)
def test_bands_with_alpha_floats_and_odd_geometry(border: str) -> None:
    rng = np.random.default_rng(7)
    image = rng.integers(0, 65536, (83, 29, 4), dtype=np.uint16)
    image[10:30, :, 3] = 0  # transparent rows: weighting matters in some bands only
    options: dict[str, Any] = {
        "border": border,
        "padding": (4, 1, 2, 3),
        "stride": (2, 1),
        "dilation": 2,
        "map": "raw",
        "depth": "float",
    }
    kernel = rng.normal(size=(3, 5))
    whole = filter_image(image, kernel, **options)
    tiled, _ = banded(image, kernel, 29 * 4 * 4 * 3, **options)
    np.testing.assert_array_equal(tiled, whole.pixels)


def test_an_opaque_image_is_decided_for_the_whole_image() -> None:
    """Opaque everywhere: no weighting in any band, as for the whole (different rounding)."""
    image = np.random.default_rng(2).integers(0, 256, (70, 20, 2), dtype=np.uint8)
    image[..., 1] = 255
    whole = filter_image(image, get_builtin("gaussian:1.5"), map="raw", depth="float")
    tiled, _ = banded(image, get_builtin("gaussian:1.5"), 20 * 2 * 4 * 5, map="raw", depth="float")
    np.testing.assert_array_equal(tiled, whole.pixels)


@given(
    height=st.integers(1, 60),
    width=st.integers(1, 12),
    budget_rows=st.integers(1, 30),
    border=st.sampled_from(BORDERS),
    stride=st.integers(1, 4),
    size=st.sampled_from([1, 3, 5]),
)
def test_any_band_height_gives_the_whole_image(
    height: int, width: int, budget_rows: int, border: str, stride: int, size: int
) -> None:
    rng = np.random.default_rng(height * 100 + width)
    image = rng.random((height, width)).astype(np.float32)
    kernel = rng.normal(size=(size, size))
    whole = filter_image(image, kernel, border=border, stride=stride)
    tiled, _ = banded(image, kernel, width * 4 * budget_rows, border=border, stride=stride)
    np.testing.assert_array_equal(tiled, whole.pixels)


def test_filter_window_gives_any_rows_from_a_window() -> None:
    image = np.random.default_rng(4).integers(0, 256, (64, 30, 3), dtype=np.uint8)
    for border in BORDERS[:5]:  # wrap reads the far edge: a window there holds none of it
        whole = filter_image(image, get_builtin("gaussian:2"), border=border, stride=2).pixels
        reach = 13  # gaussian:2 is 13 x 13 here
        for first, stop in [(0, 5), (5, 19), (19, 32), (30, 32)]:
            start = max(0, 2 * first - reach)
            window = image[start : min(64, 2 * stop + reach)]
            part = filter_window(
                window,
                start,
                (64, 30),
                get_builtin("gaussian:2"),
                (first, stop),
                border=border,
                stride=2,
            )
            np.testing.assert_array_equal(part.pixels, whole[first:stop])


def test_filter_window_refuses_a_window_without_the_rows_it_needs() -> None:
    image = np.zeros((40, 10), np.uint8)
    with pytest.raises(GeometryError) as caught:
        filter_window(image[10:20], 10, (40, 10), get_builtin("box:5"), (9, 12))
    assert str(caught.value) == (
        "rows 7 to 13 are needed, and the window holds rows 10 to 19; expected a window with "
        "the kernel's reach"
    )
    with pytest.raises(GeometryError, match="outside the result's 40 rows"):
        filter_window(image, 0, (40, 10), get_builtin("box:5"), (30, 41))


def test_jobs_that_need_the_whole_image_cannot_be_banded() -> None:
    image = np.zeros((40, 10), np.uint8)
    with pytest.raises(UsageError) as caught:
        Banded(image, get_builtin("box:3"), map="normalize")
    assert str(caught.value) == (
        "this job cannot be filtered in parts of the image: --map normalize stretches the "
        "whole result at once"
    )


def test_fft_bands_start_on_the_block_grid() -> None:
    kernel = get_builtin("gaussian:10")  # 61 x 61: filtered by FFT
    assert choose_method(kernel.kernels[0].matrix, plan((5000, 300), (61, 61))) == "fft"
    step = spectral.block_shape((61, 61), (5000, 300))[0] - 60  # outputs per block
    for budget in (1 << 14, 1 << 20, 1 << 24):
        height = band_height((5000, 300, 3), np.uint8, kernel, budget)
        assert height >= step  # a whole FFT block's worth of outputs at least
        assert height % step == 0
    small = band_height((5000, 300, 3), np.uint8, get_builtin("sharpen"), 1 << 14)
    assert small < step


@pytest.mark.parametrize("count", [1, 2, 3, 7])
@pytest.mark.parametrize("mode", ["edge", "reflect", "reflect101", "wrap"])
def test_border_rows_are_the_rows_numpy_pads_with(count: int, mode: str) -> None:
    numpy_mode = Border(mode).numpy_mode
    for width in (0, 1, 2, 5, 16):
        expected = np.pad(np.arange(count), width, mode=numpy_mode)  # type: ignore[call-overload]
        index = np.arange(-width, count + width)
        np.testing.assert_array_equal(border_rows(index, count, Border(mode)), expected)


# -- streaming files: .npy (and TIFF with the tiff extra) over --memory-limit --------------------


def test_a_large_npy_is_streamed_to_the_same_numbers(tmp_path: Path) -> None:
    data = np.random.default_rng(5).normal(size=(611, 301, 2)).astype(np.float32)
    np.save(tmp_path / "in.npy", data)
    whole = apply_file(
        "gaussian:3",
        str(tmp_path / "in.npy"),
        str(tmp_path / "whole.npy"),
        memory_limit=None,
        border="reflect",
        stride=2,
    )
    assert not whole.streamed
    streamed = apply_file(
        "gaussian:3",
        str(tmp_path / "in.npy"),
        str(tmp_path / "part.npy"),
        memory_limit=1 << 20,
        border="reflect",
        stride=2,
    )
    assert streamed.streamed
    np.testing.assert_array_equal(np.load(tmp_path / "part.npy"), np.load(tmp_path / "whole.npy"))
    assert streamed.geometry == whole.geometry


def test_a_large_tiff_is_streamed_to_the_same_pixels(tmp_path: Path) -> None:
    pytest.importorskip("tifffile")
    from PIL import Image

    from imgconv.image_io import read_picture

    image = np.random.default_rng(6).integers(0, 256, (523, 217, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "in.tif")
    for border in BORDERS:
        options: dict[str, Any] = {"border": border, "stride": 3}
        whole = apply_file(
            "sobel",
            str(tmp_path / "in.tif"),
            str(tmp_path / "whole.tif"),
            memory_limit=None,
            **options,
        )
        part = apply_file(
            "sobel",
            str(tmp_path / "in.tif"),
            str(tmp_path / "part.tif"),
            memory_limit=1 << 20,
            **options,
        )
        assert part.streamed
        assert not whole.streamed
        np.testing.assert_array_equal(
            read_picture(str(tmp_path / "part.tif")).pixels,
            read_picture(str(tmp_path / "whole.tif")).pixels,
        )


def test_jobs_that_need_the_whole_image_are_not_streamed(tmp_path: Path) -> None:
    np.save(tmp_path / "in.npy", np.arange(600.0).reshape(30, 20))
    applied = apply_file(
        "sobel",
        str(tmp_path / "in.npy"),
        str(tmp_path / "out.npy"),
        memory_limit=1 << 20,
        combine="chain",
    )
    assert not applied.streamed
    assert np.load(tmp_path / "out.npy").shape == (30, 20)


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize(
    ("padding", "stride"),
    [("same", 2), ("valid", 3), ("full", 2), ((7, 2, 1, 0), 3), ("same", 4), ("valid", 14)],
)
def test_fft_bands_over_several_blocks_with_a_stride(
    border: str, padding: Any, stride: int
) -> None:
    """Tall enough for several FFT blocks per band: each band holds its blocks' every row."""
    image = np.random.default_rng(11).integers(0, 256, (1237, 23, 2), dtype=np.uint8)
    kernel = get_builtin("gaussian:3")
    options: dict[str, Any] = {
        "border": border,
        "padding": padding,
        "stride": stride,
        "method": "fft",
        "map": "raw",
        "depth": "float",
    }
    whole = filter_image(image, kernel, **options)
    tiled, _ = banded(image, kernel, 3000, **options)
    np.testing.assert_array_equal(tiled, whole.pixels)


def test_a_first_band_of_only_padding_rows_is_merged() -> None:
    image = np.random.default_rng(8).integers(0, 256, (101, 23), dtype=np.uint8)
    options: dict[str, Any] = {"padding": 5, "border": "zero"}
    whole = filter_image(image, get_builtin("sobel-x"), **options)
    tiled, _ = banded(image, get_builtin("sobel-x"), 23 * 4 * 3, **options)
    np.testing.assert_array_equal(tiled, whole.pixels)
