"""``correlate``: orientation, anchors, borders, geometry and the SciPy oracle.

KERNELS.md sections 1 to 3. Items pinned here: the impulse test with and
without ``flip`` (odd and even kernels, anchor override), every border and
alias on a 1-D ramp, wide borders, the output-size formula on real arrays,
stride and dilation as sampling and zero insertion, agreement with
``scipy.ndimage`` for every border, dtype, layout and method, and the
identity and linearity properties.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray
from scipy import ndimage

from imgconv.core import convolve, spatial
from imgconv.core.convolve import correlate, rank_one_factors, separable_factors, work_dtype
from imgconv.core.kernels import Kernel
from imgconv.errors import GeometryError, KernelError, UsageError

K123 = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=np.float64)

# imgconv border -> (scipy.ndimage mode, cval), as KERNELS.md prescribes.
ORACLE_MODES = {
    "edge": ("nearest", 0.0),
    "zero": ("constant", 0.0),
    "constant:0.75": ("constant", 0.75),
    "reflect": ("reflect", 0.0),
    "reflect101": ("mirror", 0.0),
    "wrap": ("wrap", 0.0),
}
ALL_BORDERS = list(ORACLE_MODES)

# KERNELS.md section 3 with a, b, c, d = 1, 2, 3, 4 and V = 9: two pixels each side.
RAMP = [1.0, 2.0, 3.0, 4.0]
PADDED_RAMP = {
    "edge": [1, 1, 1, 2, 3, 4, 4, 4],
    "zero": [0, 0, 1, 2, 3, 4, 0, 0],
    "constant:9": [9, 9, 1, 2, 3, 4, 9, 9],
    "reflect": [2, 1, 1, 2, 3, 4, 4, 3],
    "reflect101": [3, 2, 1, 2, 3, 4, 3, 2],
    "wrap": [3, 4, 1, 2, 3, 4, 1, 2],
}
ALIASES = {
    "edge": ["edge", "replicate", "nearest", "clamp", "extend"],
    "zero": ["zero", "zeros", "constant", "black"],
    "constant:9": ["constant:9", "constant:9.0", "CONSTANT:9"],
    "reflect": ["reflect", "symmetric", "mirror-edge"],
    "reflect101": ["reflect101", "reflect-101", "mirror"],
    "wrap": ["wrap", "circular", "periodic", "tile"],
}
BORDER_WORDS = [(word, canonical) for canonical, words in ALIASES.items() for word in words]


def impulse(size: int = 7) -> NDArray[np.float64]:
    image = np.zeros((size, size))
    image[size // 2, size // 2] = 1.0
    return image


# -- 1. orientation: the impulse test --------------------------------------------------------------


@pytest.mark.parametrize("method", ["auto", "direct", "fft"])
def test_impulse_as_written_gives_the_kernel_rotated(method: str) -> None:
    """Cross-correlation: the response around an impulse is K rotated 180 degrees."""
    out = correlate(impulse(), K123, border="zero", method=method)  # type: ignore[arg-type]
    expected = np.zeros((7, 7))
    expected[2:5, 2:5] = [[9, 8, 7], [6, 5, 4], [3, 2, 1]]
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)
    if method != "fft":
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("method", ["auto", "direct", "fft"])
def test_impulse_with_flip_gives_the_kernel_as_written(method: str) -> None:
    """True convolution: the response around an impulse is K itself."""
    out = correlate(impulse(), K123, flip=True, border="zero", method=method)  # type: ignore[arg-type]
    expected = np.zeros((7, 7))
    expected[2:5, 2:5] = K123
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)
    if method != "fft":
        np.testing.assert_array_equal(out, expected)


EVEN_KERNELS = {
    "2x2": [[1.0, 2.0], [3.0, 4.0]],
    "4x2": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]],
    "2x3": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
    "4x4": np.arange(1.0, 17.0).reshape(4, 4).tolist(),
}


@pytest.mark.parametrize("name", list(EVEN_KERNELS))
@pytest.mark.parametrize("method", ["direct", "fft"])
def test_even_kernel_impulse_matches_scipy(name: str, method: str) -> None:
    """Anchor (kh//2, kw//2) is SciPy's origin=0: as written = correlate, flip = convolve."""
    kernel = np.array(EVEN_KERNELS[name])
    image = impulse(9)
    plain = correlate(image, kernel, border="zero", method=method)  # type: ignore[arg-type]
    flipped = correlate(image, kernel, flip=True, border="zero", method=method)  # type: ignore[arg-type]
    np.testing.assert_allclose(plain, ndimage.correlate(image, kernel, mode="constant"), atol=1e-12)
    np.testing.assert_allclose(
        flipped, ndimage.convolve(image, kernel, mode="constant"), atol=1e-12
    )


def test_even_kernel_default_anchor_is_the_lower_middle_cell() -> None:
    """For 2x2 the anchor is (1, 1): the impulse at (4, 4) lands at out[3:5, 3:5] rotated."""
    out = correlate(impulse(9), EVEN_KERNELS["2x2"], border="zero")
    expected = np.zeros((9, 9))
    expected[4:6, 4:6] = [[4, 3], [2, 1]]
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("anchor", [(0, 0), "0,0"])
def test_anchor_override_on_an_impulse(anchor: tuple[int, int] | str) -> None:
    """Anchor (0, 0): out[i, j] = sum K[u, v] in[i + u, j + v], so the response moves up-left."""
    expected = np.zeros((5, 5))
    expected[0:3, 0:3] = [[9, 8, 7], [6, 5, 4], [3, 2, 1]]
    out = correlate(impulse(5), K123, border="zero", anchor=anchor)
    np.testing.assert_array_equal(out, expected)


def test_anchor_override_with_flip_rotates_about_that_anchor() -> None:
    """True convolution about (0, 0): out[i, j] = sum K[u, v] in[i - u, j - v]."""
    expected = np.zeros((5, 5))
    expected[2:5, 2:5] = K123
    out = correlate(impulse(5), K123, border="zero", anchor=(0, 0), flip=True)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    ("anchor", "flip", "expected"),
    [
        # x = 1 2 4 8 16, kernel [1, 10], edge border; hand-computed.
        (None, False, [11, 21, 42, 84, 168]),  # anchor 1: x[j-1] + 10 x[j]
        ((0, 0), False, [21, 42, 84, 168, 176]),  # anchor 0: x[j] + 10 x[j+1]
        ((0, 1), False, [11, 21, 42, 84, 168]),  # the default, spelled out
        (None, True, [12, 24, 48, 96, 176]),  # 10 x[j] + x[j+1]
        ((0, 0), True, [11, 12, 24, 48, 96]),  # x[j] + 10 x[j-1]
    ],
)
def test_anchor_on_a_row(anchor: tuple[int, int] | None, flip: bool, expected: list[float]) -> None:
    row = np.array([[1.0, 2.0, 4.0, 8.0, 16.0]])
    out = correlate(row, [[1, 10]], anchor=anchor, flip=flip)
    np.testing.assert_array_equal(out, [expected])


def test_anchor_of_a_kernel_object_is_used_and_overridable() -> None:
    row = np.array([[1.0, 2.0, 4.0, 8.0, 16.0]])
    kernel = Kernel([[1, 10]], anchor=(0, 0))
    np.testing.assert_array_equal(correlate(row, kernel), [[21, 42, 84, 168, 176]])
    np.testing.assert_array_equal(correlate(row, kernel, anchor=(0, 1)), [[11, 21, 42, 84, 168]])


def test_anchor_outside_the_kernel_is_a_kernel_error() -> None:
    with pytest.raises(KernelError) as info:
        correlate(impulse(5), K123, anchor=(3, 3))
    assert str(info.value) == "anchor 3,3 is outside the 3x3 kernel 'kernel'; expected 0..2,0..2"


# -- 2. borders -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("word", "canonical"), BORDER_WORDS)
def test_border_on_a_ramp_row(word: str, canonical: str) -> None:
    """A 1x1 kernel [[1]] with padding 2 left and right returns the padded row itself."""
    out = correlate(np.array([RAMP]), [[1]], padding=(0, 0, 2, 2), border=word)
    np.testing.assert_array_equal(out, [PADDED_RAMP[canonical]])


@pytest.mark.parametrize(("word", "canonical"), BORDER_WORDS)
def test_border_on_a_ramp_column(word: str, canonical: str) -> None:
    out = correlate(np.array([RAMP]).T, [[1]], padding=(2, 2, 0, 0), border=word)
    np.testing.assert_array_equal(out, np.array([PADDED_RAMP[canonical]]).T)


@pytest.mark.parametrize(("word", "canonical"), BORDER_WORDS)
def test_border_seen_through_a_picking_kernel(word: str, canonical: str) -> None:
    """With ``same`` padding, [[1,0,0,0,0]] reads two to the left and [[0,0,0,0,1]] two right."""
    row = np.array([RAMP])
    padded = PADDED_RAMP[canonical]
    left = correlate(row, [[1, 0, 0, 0, 0]], border=word)
    right = correlate(row, [[0, 0, 0, 0, 1]], border=word)
    np.testing.assert_array_equal(left, [padded[0:4]])
    np.testing.assert_array_equal(right, [padded[4:8]])


@pytest.mark.parametrize(("word", "canonical"), BORDER_WORDS)
def test_alias_gives_the_same_result_as_its_canonical_name(word: str, canonical: str) -> None:
    rng = np.random.default_rng(3)
    image = rng.random((6, 7))
    kernel = rng.random((3, 5))
    np.testing.assert_array_equal(
        correlate(image, kernel, border=word), correlate(image, kernel, border=canonical)
    )


@pytest.mark.parametrize(
    ("border", "expected"),
    [
        # abcd = 1 2 3 4 padded by 6 on each side (wider than the image).
        ("reflect", [3, 4, 4, 3, 2, 1, 1, 2, 3, 4, 4, 3, 2, 1, 1, 2]),
        ("reflect101", [1, 2, 3, 4, 3, 2, 1, 2, 3, 4, 3, 2, 1, 2, 3, 4]),
        ("wrap", [3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2]),
        ("edge", [1] * 7 + [2, 3] + [4] * 7),
    ],
)
def test_wide_border_repeats_the_pattern(border: str, expected: list[float]) -> None:
    out = correlate(np.array([RAMP]), [[1]], padding=(0, 0, 6, 6), border=border)
    np.testing.assert_array_equal(out, [expected])


@pytest.mark.parametrize("border", ALL_BORDERS)
@pytest.mark.parametrize(
    ("image_shape", "kernel_shape"),
    [((1, 4), (1, 15)), ((3, 4), (9, 11)), ((1, 1), (5, 5)), ((2, 3), (13, 13)), ((5, 2), (4, 9))],
)
def test_wide_borders_match_scipy(
    border: str, image_shape: tuple[int, int], kernel_shape: tuple[int, int]
) -> None:
    """Kernels much larger than the image: the padding is wider than the image."""
    rng = np.random.default_rng(sum(image_shape) * 31 + sum(kernel_shape))
    image = rng.random(image_shape)
    kernel = rng.random(kernel_shape)
    mode, cval = ORACLE_MODES[border]
    expected = ndimage.correlate(image, kernel, mode=mode, cval=cval)
    for method in ("direct", "fft"):
        out = correlate(image, kernel, border=border, method=method)  # type: ignore[arg-type]
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_unknown_border_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"^unknown border 'mirrored'; expected one of black, "):
        correlate(impulse(5), K123, border="mirrored")


# -- 3. geometry on real arrays --------------------------------------------------------------------


def spec_length(n: int, k: int, before: int, after: int, s: int, d: int) -> int:
    return math.floor((n + before + after - d * (k - 1) - 1) / s) + 1


@settings(max_examples=150)
@given(
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    channels=st.sampled_from([0, 1, 3]),
    kh=st.integers(1, 5),
    kw=st.integers(1, 5),
    padding=st.one_of(
        st.sampled_from(["same", "valid", "full"]),
        st.integers(0, 3),
        st.tuples(*[st.integers(0, 3)] * 4),
    ),
    stride=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    method=st.sampled_from(["direct", "fft", "auto"]),
)
def test_correlate_shape_is_the_size_formula(
    h: int,
    w: int,
    channels: int,
    kh: int,
    kw: int,
    padding: str | int | tuple[int, ...],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    method: str,
) -> None:
    (sy, sx), (dy, dx) = stride, dilation
    if padding == "same":
        top, bottom = dy * (kh // 2), dy * (kh - 1 - kh // 2)
        left, right = dx * (kw // 2), dx * (kw - 1 - kw // 2)
    elif padding == "valid":
        top = bottom = left = right = 0
    elif padding == "full":
        top = bottom = dy * (kh - 1)
        left = right = dx * (kw - 1)
    elif isinstance(padding, int):
        top = bottom = left = right = padding
    else:
        assert isinstance(padding, tuple)
        top, bottom, left, right = padding
    ho = spec_length(h, kh, top, bottom, sy, dy)
    wo = spec_length(w, kw, left, right, sx, dx)
    image = np.ones((h, w, channels) if channels else (h, w), dtype=np.float32)
    kwargs = {"padding": padding, "stride": stride, "dilation": dilation, "method": method}
    if ho < 1 or wo < 1:
        with pytest.raises(GeometryError, match="is larger than the padded input"):
            correlate(image, np.ones((kh, kw)), **kwargs)  # type: ignore[arg-type]
        return
    out = correlate(image, np.ones((kh, kw)), **kwargs)  # type: ignore[arg-type]
    assert out.shape == ((ho, wo, channels) if channels else (ho, wo))
    if padding == "same":
        assert (ho, wo) == (math.ceil(h / sy), math.ceil(w / sx))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stride": 0}, "stride 0 is below 1; expected whole numbers >= 1"),
        ({"dilation": (2, 0)}, "dilation (2, 0) is below 1; expected whole numbers >= 1"),
        (
            {"padding": "valid"},
            "the 5x5 kernel (reach 5x5 with dilation 1,1) is larger than the padded input, "
            "4 rows by 6 columns (4 by 6 before padding valid)",
        ),
        (
            {"padding": 1, "dilation": 2},
            "the 5x5 kernel (reach 9x9 with dilation 2,2) is larger than the padded input, "
            "6 rows by 8 columns (4 by 6 before padding 1,1,1,1)",
        ),
    ],
)
def test_correlate_geometry_errors_name_the_numbers(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(GeometryError) as info:
        correlate(np.zeros((4, 6)), np.ones((5, 5)), **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_image_of_the_wrong_rank_is_a_geometry_error() -> None:
    with pytest.raises(GeometryError) as info:
        correlate(np.zeros((2, 2, 2, 2)), K123)
    assert str(info.value) == "image has shape (2, 2, 2, 2); expected (H, W) or (H, W, C)"


small_images = hnp.arrays(
    np.float64,
    st.tuples(st.integers(3, 11), st.integers(3, 11)),
    elements=st.integers(-50, 50).map(float),
)
small_kernels = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 4), st.integers(1, 4)),
    elements=st.integers(-5, 5).map(float),
)


@settings(max_examples=80)
@given(
    image=small_images,
    kernel=small_kernels,
    padding=st.one_of(st.just("same"), st.tuples(*[st.integers(0, 3)] * 4)),
    stride=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    border=st.sampled_from(ALL_BORDERS),
    method=st.sampled_from(["direct", "fft"]),
)
def test_strided_result_is_the_stride_one_result_sampled(
    image: NDArray[np.float64],
    kernel: NDArray[np.float64],
    padding: str | tuple[int, ...],
    stride: tuple[int, int],
    border: str,
    method: str,
) -> None:
    kwargs = {"padding": padding, "border": border, "method": method}
    try:
        dense = correlate(image, kernel, **kwargs)  # type: ignore[arg-type]
    except GeometryError:
        return  # the kernel does not fit this explicit padding at all
    strided = correlate(image, kernel, stride=stride, **kwargs)  # type: ignore[arg-type]
    np.testing.assert_allclose(strided, dense[:: stride[0], :: stride[1]], atol=1e-9)


def dilate(kernel: NDArray[np.float64], dy: int, dx: int) -> NDArray[np.float64]:
    kh, kw = kernel.shape
    out = np.zeros((dy * (kh - 1) + 1, dx * (kw - 1) + 1))
    out[::dy, ::dx] = kernel
    return out


@settings(max_examples=80)
@given(
    image=small_images,
    kernel=small_kernels,
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.one_of(st.sampled_from(["same", "full"]), st.tuples(*[st.integers(0, 6)] * 4)),
    border=st.sampled_from(ALL_BORDERS),
    method=st.sampled_from(["direct", "fft"]),
)
def test_dilated_result_is_correlation_with_zeros_inserted(
    image: NDArray[np.float64],
    kernel: NDArray[np.float64],
    dilation: tuple[int, int],
    padding: str | tuple[int, ...],
    border: str,
    method: str,
) -> None:
    """The anchor of the zero-inserted kernel is d times the original anchor."""
    dy, dx = dilation
    (kh, kw), big = kernel.shape, dilate(kernel, dy, dx)
    anchor = (dy * (kh // 2), dx * (kw // 2))
    kwargs = {"padding": padding, "border": border, "method": method}
    try:
        expected = correlate(image, big, anchor=anchor, **kwargs)  # type: ignore[arg-type]
    except GeometryError:
        with pytest.raises(GeometryError):
            correlate(image, kernel, dilation=dilation, **kwargs)  # type: ignore[arg-type]
        return
    out = correlate(image, kernel, dilation=dilation, **kwargs)  # type: ignore[arg-type]
    np.testing.assert_allclose(out, expected, atol=1e-9)


def test_dilation_by_hand() -> None:
    """Row 0..9, kernel [1, 0, -1] dilated by 2 and valid: x[j] - x[j + 4] = -4."""
    row = np.arange(10.0)[None, :]
    out = correlate(row, [[1, 0, -1]], padding="valid", dilation=(1, 2))
    np.testing.assert_array_equal(out, [[-4.0] * 6])


def test_stride_by_hand() -> None:
    """Row 0..9, kernel [1, 1], valid, stride 3: x[j] + x[j+1] at j = 0, 3, 6."""
    row = np.arange(10.0)[None, :]
    out = correlate(row, [[1, 1]], padding="valid", stride=3)
    np.testing.assert_array_equal(out, [[1.0, 7.0, 13.0]])


@settings(max_examples=60)
@given(
    image=small_images,
    column=hnp.arrays(np.float64, st.integers(1, 4), elements=st.integers(-4, 4).map(float)),
    row=hnp.arrays(np.float64, st.integers(1, 4), elements=st.integers(-4, 4).map(float)),
    padding=st.sampled_from(["same", "full", 1]),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    border=st.sampled_from(ALL_BORDERS),
)
def test_all_methods_agree_under_any_geometry(
    image: NDArray[np.float64],
    column: NDArray[np.float64],
    row: NDArray[np.float64],
    padding: str | int,
    stride: tuple[int, int],
    dilation: tuple[int, int],
    border: str,
) -> None:
    """direct, fft and separable (rank-1 kernels) give the same numbers with stride and dilation."""
    kernel = np.outer(column, row)
    kwargs = {"padding": padding, "stride": stride, "dilation": dilation, "border": border}
    try:
        direct = correlate(image, kernel, method="direct", **kwargs)  # type: ignore[arg-type]
    except GeometryError:
        return
    fft = correlate(image, kernel, method="fft", **kwargs)  # type: ignore[arg-type]
    np.testing.assert_allclose(fft, direct, atol=1e-8)
    if rank_one_factors(kernel) is not None:
        sep = correlate(image, kernel, method="separable", **kwargs)  # type: ignore[arg-type]
        np.testing.assert_allclose(sep, direct, atol=1e-9)
    else:
        assert not kernel.any()  # an outer product fails to factor only when it is all zeros
        assert separable_factors(kernel) is None


# -- 6. the SciPy oracle ---------------------------------------------------------------------------


def _kernels() -> dict[str, NDArray[np.float64]]:
    rng = np.random.default_rng(2024)
    return {
        "3x3": rng.normal(size=(3, 3)),
        "5x5": rng.normal(size=(5, 5)),
        "4x2": rng.normal(size=(4, 2)),
        "15x15": rng.normal(size=(15, 15)),
        "rank1-5x3": np.outer(rng.normal(size=5), rng.normal(size=3)),
        "rank1-sobel": np.outer([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0]),
    }


ORACLE_KERNELS = _kernels()
RANK_ONE = {"rank1-5x3", "rank1-sobel"}


def _image(dtype: str, channels: int) -> NDArray[np.generic]:
    rng = np.random.default_rng(7 + channels)
    shape = (23, 19, channels) if channels else (23, 19)
    if dtype == "uint8":
        return rng.integers(0, 256, shape).astype(np.uint8)
    return rng.random(shape).astype(dtype)


def oracle(
    image: NDArray[np.generic], kernel: NDArray[np.float64], border: str, flip: bool
) -> NDArray[np.float64]:
    """scipy.ndimage per channel, in float64 (uint8 is cast first: SciPy would wrap)."""
    mode, cval = ORACLE_MODES[border]
    data = image.astype(np.float64)
    apply = ndimage.convolve if flip else ndimage.correlate
    if data.ndim == 2:
        return apply(data, kernel, mode=mode, cval=cval)  # type: ignore[no-any-return]
    planes = [apply(data[..., c], kernel, mode=mode, cval=cval) for c in range(data.shape[2])]
    return np.stack(planes, axis=-1)


ORACLE_CASES = [
    (name, method)
    for name in ORACLE_KERNELS
    for method in ("auto", "direct", "fft") + (("separable",) if name in RANK_ONE else ())
]


@pytest.mark.parametrize(("kernel_name", "method"), ORACLE_CASES)
@pytest.mark.parametrize("border", ALL_BORDERS)
@pytest.mark.parametrize("dtype", ["float32", "float64", "uint8"])
@pytest.mark.parametrize("channels", [0, 3])
@pytest.mark.parametrize("flip", [False, True])
def test_matches_scipy_ndimage(
    kernel_name: str, method: str, border: str, dtype: str, channels: int, flip: bool
) -> None:
    """Correlate (or convolve with flip) like scipy.ndimage with the matching mode."""
    kernel = ORACLE_KERNELS[kernel_name]
    image = _image(dtype, channels)
    out = correlate(image, kernel, border=border, flip=flip, method=method)  # type: ignore[arg-type]
    expected = oracle(image, kernel, border, flip)
    assert out.shape == image.shape
    assert out.dtype == (np.float64 if dtype == "float64" else np.float32)
    scale = float(np.abs(image.astype(np.float64)).max()) * float(np.abs(kernel).sum())
    precision = 1e-11 if dtype == "float64" else 1e-5  # float32 work for 8-bit and float32
    np.testing.assert_allclose(out, expected, rtol=0, atol=precision * scale)


def test_separable_needs_a_kernel_of_rank_three_at_most() -> None:
    with pytest.raises(UsageError) as info:
        correlate(impulse(5), np.eye(4), method="separable")
    assert str(info.value) == (
        "the separable method needs a kernel of rank 1 to 3 (a sum of at most three outer "
        "products of two vectors)"
    )


@settings(max_examples=60)
@given(
    image=small_images,
    terms=st.lists(
        st.tuples(
            hnp.arrays(np.float64, 4, elements=st.integers(-4, 4).map(float)),
            hnp.arrays(np.float64, 3, elements=st.integers(-4, 4).map(float)),
        ),
        min_size=2,
        max_size=3,
    ),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    border=st.sampled_from(ALL_BORDERS),
)
def test_low_rank_kernels_split_into_separable_terms(
    image: NDArray[np.float64],
    terms: list[tuple[NDArray[np.float64], NDArray[np.float64]]],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    border: str,
) -> None:
    """A sum of two or three outer products: separable terms from the SVD, same numbers."""
    kernel = sum(np.outer(c, r) for c, r in terms)
    factors = separable_factors(kernel)
    rank = np.linalg.matrix_rank(kernel)
    if rank == 0:
        assert factors is None
        return
    assert factors is not None
    assert len(factors) == rank
    kwargs = {"stride": stride, "dilation": dilation, "border": border, "padding": "full"}
    direct = correlate(image, kernel, method="direct", **kwargs)  # type: ignore[arg-type]
    split = correlate(image, kernel, method="separable", **kwargs)  # type: ignore[arg-type]
    scale = float(np.abs(image).max()) * float(np.abs(kernel).sum()) + 1
    np.testing.assert_allclose(split, direct, atol=1e-12 * scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "kernel",
    [
        np.full((15, 15), 1 / 225),
        np.random.default_rng(4).normal(size=(15, 15)),
        np.random.default_rng(5).normal(size=(31, 9)),
        np.outer([1, 4, 6, 4, 1], [1, 2, 1]),
        np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    ],
    ids=["box15", "random15", "random31x9", "gauss5x3", "sharpen"],
)
@pytest.mark.parametrize("stride", [1, 3])
def test_every_method_agrees_to_float32_tolerance(
    dtype: type, kernel: NDArray[np.float64], stride: int
) -> None:
    """On an image larger than a strip and an FFT block, with threads: as SciPy computes it."""
    image = (np.random.default_rng(6).random((700, 610, 3)) * 255).astype(dtype)
    reference = np.stack(
        [
            ndimage.correlate(image[..., c].astype(np.float64), kernel, mode="nearest")
            for c in range(3)
        ],
        axis=-1,
    )[::stride, ::stride]
    tolerance = (1e-5 if dtype == np.float32 else 1e-10) * 255 * float(np.abs(kernel).sum())
    methods = ["auto", "direct", "fft"]
    if separable_factors(kernel) is not None:
        methods.append("separable")
    for method in methods:
        out = correlate(image, kernel, method=method, stride=stride)  # type: ignore[arg-type]
        assert out.dtype == dtype
        np.testing.assert_allclose(out, reference, rtol=0, atol=tolerance, err_msg=method)


def test_unknown_method() -> None:
    with pytest.raises(UsageError) as info:
        correlate(impulse(5), K123, method="magic")  # type: ignore[arg-type]
    assert str(info.value) == "unknown method 'magic'; expected one of auto, direct, separable, fft"


@pytest.mark.parametrize(
    ("matrix", "factors"),
    [
        ([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], True),
        ([[1, 2, 1], [2, 4, 2], [1, 2, 1]], True),
        ([[0, 0], [0, 3]], True),
        ([[1, 2], [3, 4]], False),
        ([[0, 0], [0, 0]], False),
        ([[1, 0, -1], [0, 0, 0], [-1, 0, 1]], True),  # edge-cross is an outer product
        ([[0, 1], [1, 0]], False),
    ],
)
def test_rank_one_factors(matrix: list[list[float]], factors: bool) -> None:
    array = np.array(matrix, dtype=np.float64)
    result = rank_one_factors(array)
    assert (result is not None) == factors
    if result is not None:
        np.testing.assert_array_equal(np.outer(*result), array)


# -- values: dtypes, no wrapping, scale and bias, no mutation -------------------------------------


@pytest.mark.parametrize(
    ("dtype", "work"),
    [
        (np.uint8, np.float32),
        (np.uint16, np.float32),
        (np.int16, np.float32),
        (np.bool_, np.float32),
        (np.float16, np.float32),
        (np.float32, np.float32),
        (np.int32, np.float64),
        (np.uint32, np.float64),
        (np.int64, np.float64),
        (np.float64, np.float64),
    ],
)
def test_work_dtype(dtype: type, work: type) -> None:
    assert work_dtype(dtype) == np.dtype(work)
    assert correlate(np.ones((3, 3), dtype=dtype), [[1]]).dtype == np.dtype(work)


def test_complex_images_are_refused() -> None:
    with pytest.raises(UsageError) as info:
        correlate(np.zeros((3, 3), dtype=np.complex128), [[1]])
    assert str(info.value) == (
        "images of type complex128 cannot be filtered; expected integers or floats"
    )


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_integer_inputs_never_wrap(method: str) -> None:
    """uint8 10 times -1 is -10 (SciPy on uint8 would give 246); 65535 * 2 stays 131070."""
    small = np.full((4, 4), 10, dtype=np.uint8)
    np.testing.assert_allclose(
        correlate(small, [[-1]], method=method),  # type: ignore[arg-type]
        np.full((4, 4), -10.0),
        atol=1e-4,
    )
    large = np.full((4, 4), 65535, dtype=np.uint16)
    np.testing.assert_allclose(
        correlate(large, [[1, 1]], method=method),  # type: ignore[arg-type]
        np.full((4, 4), 131070.0),
        rtol=1e-6,
    )


def test_kernel_scale_divides_and_bias_adds() -> None:
    row = np.array([[4.0, 8.0, 12.0, 16.0]])
    kernel = Kernel([[1, 2, 1]], scale=4, bias=100)
    np.testing.assert_array_equal(correlate(row, kernel), [[105.0, 108.0, 112.0, 115.0]])


@pytest.mark.parametrize("method", ["direct", "fft", "separable"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_input_is_not_modified(method: str, dtype: type) -> None:
    image = np.arange(30, dtype=dtype).reshape(5, 6)
    before = image.copy()
    correlate(image, Kernel([[1.0, 2.0, 1.0]], bias=5), padding="valid", method=method)  # type: ignore[arg-type]
    correlate(image, Kernel([[1.0]], bias=5), padding="valid", method=method)  # type: ignore[arg-type]
    np.testing.assert_array_equal(image, before)


# -- 8. properties --------------------------------------------------------------------------------

IDENTITY_3x3 = [[0, 0, 0], [0, 1, 0], [0, 0, 0]]


@st.composite
def images_of_any_dtype(draw: st.DrawFn) -> NDArray[np.generic]:
    dtype = draw(st.sampled_from([np.uint8, np.uint16, np.float32, np.float64]))
    shape = draw(st.tuples(st.integers(1, 9), st.integers(1, 9), st.sampled_from([0, 1, 2, 3, 4])))
    shape = shape[:2] if shape[2] == 0 else shape
    if np.dtype(dtype).kind == "u":
        elements = st.integers(0, np.iinfo(dtype).max)
    else:
        elements = st.floats(-1e6, 1e6, allow_nan=False, width=np.dtype(dtype).itemsize * 8)
    return draw(hnp.arrays(dtype, shape, elements=elements))


@settings(max_examples=120)
@given(
    image=images_of_any_dtype(),
    border=st.sampled_from(ALL_BORDERS + ["constant:7"]),
    kernel=st.sampled_from([IDENTITY_3x3, [[1]], [[0, 0], [0, 1]], [[0, 0, 0, 1, 0, 0, 0]]]),
)
def test_identity_kernel_returns_the_input_exactly(
    image: NDArray[np.generic], border: str, kernel: list[list[int]]
) -> None:
    """Every delta kernel whose 1 sits on the default anchor, any border, any dtype."""
    out = correlate(image, kernel, border=border)
    assert out.shape == image.shape
    np.testing.assert_array_equal(out, image.astype(out.dtype))
    np.testing.assert_array_equal(out.astype(np.float64), image.astype(np.float64))


@settings(max_examples=80)
@given(
    x=hnp.arrays(np.float64, (7, 8), elements=st.floats(-100, 100)),
    y=hnp.arrays(np.float64, (7, 8), elements=st.floats(-100, 100)),
    a=st.integers(-40, 40).map(lambda v: v / 4),  # no subnormal factors: they lose precision
    b=st.integers(-40, 40).map(lambda v: v / 4),
    kernel=hnp.arrays(
        np.float64, st.tuples(st.integers(1, 5), st.integers(1, 5)), elements=st.floats(-3, 3)
    ),
    border=st.sampled_from(["edge", "zero", "reflect", "reflect101", "wrap"]),
    method=st.sampled_from(["direct", "fft"]),
    flip=st.booleans(),
)
def test_linearity(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    a: float,
    b: float,
    kernel: NDArray[np.float64],
    border: str,
    method: str,
    flip: bool,
) -> None:
    """correlate(a x + b y) = a correlate(x) + b correlate(y) (constant:V with V != 0 is affine)."""
    kwargs = {"border": border, "method": method, "flip": flip}
    left = correlate(a * x + b * y, kernel, **kwargs)  # type: ignore[arg-type]
    right = a * correlate(x, kernel, **kwargs) + b * correlate(y, kernel, **kwargs)  # type: ignore[arg-type]
    scale = (abs(a) + abs(b)) * 100 * (float(np.abs(kernel).sum()) + 1)
    np.testing.assert_allclose(left, right, rtol=0, atol=1e-9 * scale)


@pytest.mark.parametrize("border", ["edge", "zero", "constant:3", "reflect", "reflect101", "wrap"])
@pytest.mark.parametrize("method", ["direct", "separable", "fft"])
@pytest.mark.parametrize(
    ("padding", "stride", "dilation"),
    [("same", 1, 1), ("valid", 2, 1), ("full", 3, 2), ((4, 0, 1, 2), 1, 1)],
)
def test_correlate_in_bands_gives_the_whole_result(
    monkeypatch: pytest.MonkeyPatch,
    border: str,
    method: str,
    padding: Any,
    stride: int,
    dilation: int,
) -> None:
    """A large image is padded and filtered band by band; small bands here, so many of them."""
    image = np.random.default_rng(8).random((83, 29, 3)).astype(np.float32)
    kernel = np.outer([1.0, 2, 1], [1.0, -1, 3, 1])
    options: dict[str, Any] = {
        "border": border,
        "padding": padding,
        "stride": stride,
        "dilation": dilation,
        "method": method,
    }
    whole = correlate(image, kernel, **options)
    monkeypatch.setattr(convolve, "BAND_BYTES", 1000)  # about two rows a band
    assert correlate(image, kernel, **options).tobytes() == whole.tobytes()  # off by default
    banded = correlate(image, kernel, banded=True, **options)
    # Every method, the FFT too: bands transform the whole image's blocks.
    np.testing.assert_array_equal(banded, whole)


# -- bit-exact partitions: bands, tiles, interior and frame ----------------------------------------

PARTITION_KERNELS = {
    "sharpen3": np.array([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "random3": np.random.default_rng(11).normal(size=(3, 3)),
    "binomial5": np.outer([1.0, 4, 6, 4, 1], [1.0, 4, 6, 4, 1]) / 256,
    "random5": np.random.default_rng(12).normal(size=(5, 5)),
    "prewitt-y": np.array([[-1.0, -1, -1], [0, 0, 0], [1, 1, 1]]),
}
PARTITION_BORDERS = ["edge", "zero", "constant:0.75", "reflect", "reflect101", "wrap"]


def _whole_by_padding(
    image: NDArray[np.generic], kernel: NDArray[np.float64], method: str, **options: Any
) -> NDArray[np.floating]:
    """The result computed the plain way: the whole image padded, then filtered."""
    rule = convolve.Border.parse(options.pop("border", "edge"))
    geometry = convolve.plan(image.shape[:2], kernel.shape, **options)
    padded = convolve.pad(image, geometry, rule)
    return convolve.correlate_padded(padded, kernel, geometry, method=method)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["direct", "separable"])
@pytest.mark.parametrize("stride", [(1, 2), (2, 3), (3, 8), (1, 9)])
def test_column_strides_summed_over_every_column_give_the_same_bits(
    monkeypatch: pytest.MonkeyPatch, method: str, stride: tuple[int, int]
) -> None:
    """Summing every column and copying out the sampled ones (strides up to 8) is
    the same arithmetic as summing the sampled columns alone."""
    image = np.random.default_rng(15).random((29, 61, 3)).astype(np.float32)
    kernel = np.outer([1.0, 4, 6, 4, 1], [1.0, -2, 3, 1])
    options: dict[str, Any] = {"stride": stride, "dilation": (1, 2), "border": "reflect"}
    summed = correlate(image, kernel, method=method, **options)  # type: ignore[arg-type]
    monkeypatch.setattr(spatial, "_EVERY_COLUMN_UP_TO", 1)
    sampled = correlate(image, kernel, method=method, **options)  # type: ignore[arg-type]
    assert summed.tobytes() == sampled.tobytes()


def test_summed_columns_are_every_column_up_to_the_last_sample_for_strides_up_to_8() -> None:
    assert [spatial.summed_columns(61, s) for s in (1, 2, 8, 9)] == [61, 121, 481, 61]


@pytest.mark.parametrize("border", PARTITION_BORDERS)
def test_window_is_the_padded_window_in_c_order(border: str) -> None:
    """window() copies what pad() puts there, in C order (the spatial passes are slow on others)."""
    image = np.random.default_rng(14).random((13, 11, 3)).astype(np.float32)
    geometry = convolve.plan(image.shape[:2], (7, 5))
    rule = convolve.Border.parse(border)
    padded = convolve.pad(image, geometry, rule)
    assert padded.shape[:2] == (19, 15)
    for rows, columns in [
        (slice(0, 9), slice(0, 15)),  # across the top, both sides
        (slice(2, 15), slice(0, 4)),  # the left edge
        (slice(5, 19), slice(12, 15)),  # the right and bottom edges
        (slice(0, 19), slice(0, 15)),  # everything
        (slice(4, 9), slice(3, 8)),  # inside
    ]:
        piece = convolve.window(image, geometry, rule, rows, columns)
        assert piece.flags.c_contiguous
        np.testing.assert_array_equal(piece, padded[rows, columns])


@pytest.mark.parametrize("border", PARTITION_BORDERS)
@pytest.mark.parametrize(
    ("kernel_name", "method"),
    [
        (name, method)
        for name, kernel in PARTITION_KERNELS.items()
        for method in ("direct", "separable")
        if method == "direct" or separable_factors(kernel) is not None
    ],
)
@pytest.mark.parametrize("stride", [1, 2])
def test_bands_and_frame_give_the_whole_result_bit_for_bit(
    monkeypatch: pytest.MonkeyPatch, border: str, kernel_name: str, stride: int, method: str
) -> None:
    """Row bands with halos, the unpadded interior with its padded frame, and the whole
    padded image give identical numbers: each output is the same sequence of operations."""
    kernel = PARTITION_KERNELS[kernel_name]
    image = np.random.default_rng(13).random((67, 41, 3)).astype(np.float32)
    options: dict[str, Any] = {"border": border, "stride": stride}
    whole = correlate(image, kernel, method=method, **options)  # type: ignore[arg-type]
    padded = _whole_by_padding(image, kernel, method, **options)
    assert np.array_equal(whole, padded)
    monkeypatch.setattr(convolve, "BAND_BYTES", 1500)  # a few rows a band: many bands
    banded = correlate(image, kernel, method=method, banded=True, **options)  # type: ignore[arg-type]
    assert np.array_equal(banded, whole)
    # Strips of a row or two, so that strips cut the interior and the frame.
    for name in ("STRIP_BYTES", "SEPARABLE_STRIP_BYTES"):
        monkeypatch.setattr(spatial, name, 100)
        monkeypatch.setattr(spatial, f"THREADED_{name}", 300)
    stripped = correlate(image, kernel, method=method, **options)  # type: ignore[arg-type]
    assert np.array_equal(stripped, whole)
    monkeypatch.setattr(spatial, "_THREADED_BYTES", 0)  # the same strips, on threads
    threaded = correlate(image, kernel, method=method, **options)  # type: ignore[arg-type]
    assert np.array_equal(threaded, whole)


@settings(max_examples=150, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 19), st.integers(1, 19), st.sampled_from([0, 1, 3])),
    kernel_name=st.sampled_from(list(PARTITION_KERNELS)),
    border=st.sampled_from(PARTITION_BORDERS),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=st.one_of(
        st.sampled_from(["same", "valid", "full"]), st.tuples(*[st.integers(0, 9)] * 4)
    ),
    anchor=st.one_of(st.none(), st.tuples(st.integers(0, 2), st.integers(0, 2))),
    method=st.sampled_from(["direct", "separable"]),
    tile=st.tuples(*[st.floats(0, 1)] * 4),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_any_tile_gives_the_whole_result_bit_for_bit(
    shape: tuple[int, int, int],
    kernel_name: str,
    border: str,
    stride: tuple[int, int],
    dilation: tuple[int, int],
    padding: str | tuple[int, ...],
    anchor: tuple[int, int] | None,
    method: str,
    tile: tuple[float, float, float, float],
    dtype: type,
) -> None:
    """A tile of outputs filtered from its window of the padded input (made by
    ``convolve.window``, no whole-image padding) equals that tile of the whole result."""
    kernel = PARTITION_KERNELS[kernel_name]
    if method == "separable" and separable_factors(kernel) is None:
        method = "direct"
    h, w, c = shape
    image = np.random.default_rng(h * 31 + w).random((h, w, c) if c else (h, w))
    image = image.astype(dtype)
    options: dict[str, Any] = {
        "border": border,
        "stride": stride,
        "dilation": dilation,
        "padding": padding,
        "anchor": anchor,
    }
    try:
        whole = correlate(image, kernel, method=method, **options)  # type: ignore[arg-type]
    except GeometryError:
        return
    assert np.array_equal(whole, _whole_by_padding(image, kernel, method, **options))
    geometry = convolve.plan(
        image.shape[:2],
        kernel.shape,
        padding=padding,
        stride=stride,
        dilation=dilation,
        anchor=anchor,
    )
    (ho, wo), (sy, sx), (ry, rx) = geometry.out_shape, geometry.stride, geometry.reach
    first, left = int(tile[0] * (ho - 1)), int(tile[1] * (wo - 1))
    end, right = (
        first + 1 + int(tile[2] * (ho - 1 - first)),
        left + 1 + int(tile[3] * (wo - 1 - left)),
    )
    rows, columns = slice(first * sy, (end - 1) * sy + ry), slice(left * sx, (right - 1) * sx + rx)
    piece = convolve.window(image, geometry, convolve.Border.parse(border), rows, columns)
    part = correlate(
        piece,
        kernel,
        method=method,
        padding="valid",
        stride=stride,
        dilation=dilation,
        anchor=anchor,  # type: ignore[arg-type]
    )
    assert np.array_equal(part, whole[first:end, left:right])


@pytest.mark.parametrize("border", PARTITION_BORDERS)
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_window_holds_what_pad_puts_there(border: str, n: int) -> None:
    """Any window of the padded input, even with borders many times wider than the image."""
    image = np.arange(1.0, 1 + n * 4, dtype=np.float32).reshape(n, 4)
    geometry = convolve.plan((n, 4), (1, 1), padding=(13, 11, 9, 10))
    rule = convolve.Border.parse(border)
    padded = convolve.pad(image, geometry, rule)
    for start in range(0, padded.shape[0], 3):
        for stop in range(start + 1, padded.shape[0] + 1, 4):
            rows, columns = slice(start, stop), slice(stop % 7, padded.shape[1] - start % 5)
            piece = convolve.window(image, geometry, rule, rows, columns)
            assert np.array_equal(piece, padded[rows, columns])


@pytest.mark.parametrize(
    ("matrix", "passes"),
    [
        ([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], 5),  # 5 x c, then four subtractions
        ([[1, 2, 1], [2, 4, 2], [1, 2, 1]], 10),  # corners summed, edges summed, centre
        ((np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16).tolist(), 11),  # and a multiply
        ([[1, 1, 1], [1, 1, 1], [1, 1, 1]], 8),  # a sum of nine
        ([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], 6),  # Sobel: a +-1 group, then a +-2 one
        ([[1.5, 2.5], [3.5, 4.5]], 7),  # all different: a product and add per tap
    ],
)
def test_equal_weights_share_a_multiply(matrix: list[list[float]], passes: int) -> None:
    """``spatial.passes`` counts the ufunc calls, and the sum is the kernel's."""
    weights = np.array(matrix, dtype=np.float64)
    groups = spatial.sum_plan([(cell, float(w)) for cell, w in np.ndenumerate(weights) if w != 0])
    assert spatial.passes(groups) == passes
    source = np.random.default_rng(14).random((6, 7)) + 1
    calls = []

    def fetch(cell: tuple[int, ...]) -> NDArray[np.float64]:
        calls.append(cell)
        u, v = cell
        return source[u : u + 6 - weights.shape[0] + 1, v : v + 7 - weights.shape[1] + 1]

    target = np.empty((6 - weights.shape[0] + 1, 7 - weights.shape[1] + 1))
    spatial.weighted_sum(target, groups, fetch, lambda: np.empty_like(target))
    assert len(calls) == np.count_nonzero(weights)
    np.testing.assert_allclose(
        target,
        ndimage.correlate(source, weights)[
            tuple(
                slice(a // 2, a // 2 + n) for a, n in zip(weights.shape, target.shape, strict=True)
            )
        ],
        rtol=1e-12,
    )


@pytest.mark.parametrize(
    ("text", "size"),
    [("32768K\n", 32 << 20), ("1M", 1 << 20), ("512k", 512 << 10), ("4096", 4096), ("2G", 2 << 30)],
)
def test_cache_sizes_read_as_sysfs_writes_them(text: str, size: int) -> None:
    assert spatial.parse_cache_size(text) == size


@pytest.mark.parametrize(
    ("l3", "count", "separable", "expected"),
    [
        (None, 2, False, spatial.THREADED_STRIP_BYTES),  # unknown: the cap
        (None, 2, True, spatial.THREADED_SEPARABLE_STRIP_BYTES),
        (32 << 20, 2, False, 4 << 20),  # an EPYC's 32 MB over 2 threads x 4 arrays
        (32 << 20, 2, True, (32 << 20) // 12),  # 2 threads x 6 arrays
        (1 << 30, 2, False, spatial.THREADED_STRIP_BYTES),  # a huge L3: the cap
        (4 << 20, 8, True, 1 << 20),  # a small one: never below 1 MB
    ],
)
def test_threaded_strips_share_the_l3_cache(
    monkeypatch: pytest.MonkeyPatch, l3: int | None, count: int, separable: bool, expected: int
) -> None:
    monkeypatch.setattr(spatial, "shared_cache_bytes", lambda: l3)
    assert spatial.threaded_strip_bytes(count, separable=separable) == expected


def test_cache_sizes_are_read_from_sysfs_folders(tmp_path: Path) -> None:
    for index, (level, size) in enumerate(
        [("1", "32K"), ("1", "32K"), ("2", "512K"), ("3", "32768K")]
    ):
        folder = tmp_path / f"index{index}"
        folder.mkdir()
        (folder / "level").write_text(f"{level}\n")
        (folder / "size").write_text(f"{size}\n")
    (tmp_path / "uevent").write_text("")  # not a cache
    assert spatial.cache_bytes(str(tmp_path), level=3) == 32 << 20
    assert spatial.cache_bytes(str(tmp_path), level=2) == 512 << 10
    assert spatial.cache_bytes(str(tmp_path), level=4) is None
    assert spatial.cache_bytes(str(tmp_path / "missing"), level=3) is None
    (tmp_path / "index3" / "size").write_text("a lot\n")
    assert spatial.cache_bytes(str(tmp_path), level=3) is None


@pytest.mark.parametrize("method", ["direct", "separable", "fft"])
def test_filtering_threads_keep_the_callers_error_state(
    monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """np.errstate is per thread: a caller that silences overflow is not warned from the pool.

    Warnings are errors in the tests, so a pool thread's RuntimeWarning fails
    the call. From the fuzzer: ``--scale 1e-308`` on a large image.
    """
    monkeypatch.setattr(spatial, "workers", lambda: 2)
    image = np.full((600, 1200), 3e38, np.float32)  # 2.9 MB: threaded strips
    kernel = np.full((3, 3), 10.0)
    with np.errstate(over="ignore", invalid="ignore"):
        out = correlate(image, kernel, method=method)
    assert not np.isfinite(out[5:-5, 5:-5]).any()
    with pytest.raises(RuntimeWarning, match="overflow"):  # and without it, NumPy warns
        correlate(image, kernel, method="direct")
