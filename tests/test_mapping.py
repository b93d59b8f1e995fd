"""Value mapping and depth (KERNELS.md section 4): clip, abs, shift, normalize, raw; units.

Filter results are floats in working units; ``map_values`` turns them into
samples. Integers never wrap: a uint8 result of -10 is 0, 10 or 118, never 246.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray

from imgconv.core.filtering import filter_image
from imgconv.core.mapping import DEPTHS, MAP_MODES, depth_of, map_values, stretch, units
from imgconv.errors import UsageError

D8, D16, DF = DEPTHS["8"], DEPTHS["16"], DEPTHS["float"]


def test_depths() -> None:
    assert (D8.dtype, D8.maximum, D8.is_integer) == (np.dtype(np.uint8), 255.0, True)
    assert (D16.dtype, D16.maximum, D16.is_integer) == (np.dtype(np.uint16), 65535.0, True)
    assert (DF.dtype, DF.maximum, DF.is_integer) == (np.dtype(np.float32), 1.0, False)
    assert MAP_MODES == ("clip", "abs", "shift", "normalize", "raw")


@pytest.mark.parametrize(
    ("dtype", "name"),
    [
        (np.uint8, "8"),
        (np.bool_, "8"),
        (np.uint16, "16"),
        (np.float32, "float"),
        (np.float64, "float"),
    ],
)
def test_depth_of(dtype: type, name: str) -> None:
    assert depth_of(dtype).name == name


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.uint32])
def test_depth_of_other_integers_is_an_error(dtype: type) -> None:
    with pytest.raises(UsageError) as info:
        depth_of(dtype)
    name = np.dtype(dtype).name
    assert str(info.value) == (
        f"arrays of type {name} have no image depth; expected uint8, uint16 or float"
    )


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        ("8", "8", (1.0, 255.0)),
        ("8", "16", (257.0, 65535.0)),
        ("16", "16", (1.0, 65535.0)),
        ("16", "8", (255.0 / 65535.0, 255.0)),
        ("8", "float", (1.0, 255.0)),  # float output keeps the input's units
        ("16", "float", (1.0, 65535.0)),
        ("float", "8", (255.0, 255.0)),  # a float image is 0..1
        ("float", "16", (65535.0, 65535.0)),
        ("float", "float", (1.0, 1.0)),
    ],
)
def test_units(source: str, target: str, expected: tuple[float, float]) -> None:
    assert units(DEPTHS[source], DEPTHS[target]) == expected  # type: ignore[index]


# -- the mappings, exactly ------------------------------------------------------------------------

VALUES = np.array(
    [-300.0, -10.0, -0.6, -0.4, 0.0, 0.4, 0.6, 10.0, 100.4, 100.6, 254.6, 255.0, 300.0]
)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("clip", [0, 0, 0, 0, 0, 0, 1, 10, 100, 101, 255, 255, 255]),
        ("abs", [255, 10, 1, 0, 0, 0, 1, 10, 100, 101, 255, 255, 255]),
        ("shift", [0, 118, 127, 128, 128, 128, 129, 138, 228, 229, 255, 255, 255]),
    ],
)
def test_8_bit_mappings(mode: str, expected: list[int]) -> None:
    """Round to nearest, then clip to 0..255; shift adds 128 first, abs takes |v| first."""
    out = map_values(VALUES, mode, D8, 255.0)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("clip", [0, 0, 0, 0, 0, 0, 1, 10, 100, 101, 255, 255, 300]),
        ("abs", [300, 10, 1, 0, 0, 0, 1, 10, 100, 101, 255, 255, 300]),
        (
            "shift",
            [
                32468,
                32758,
                32767,
                32768,
                32768,
                32768,
                32769,
                32778,
                32868,
                32869,
                33023,
                33023,
                33068,
            ],
        ),
    ],
)
def test_16_bit_mappings(mode: str, expected: list[int]) -> None:
    """Shift adds 32768 for 16-bit."""
    out = map_values(VALUES, mode, D16, 65535.0)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, expected)


def test_16_bit_clip_at_the_top() -> None:
    out = map_values(np.array([65534.6, 65535.0, 70000.0, -1.0]), "clip", D16, 65535.0)
    np.testing.assert_array_equal(out, [65535, 65535, 65535, 0])


def test_float_depth_clip_does_not_round() -> None:
    out = map_values(np.array([-0.5, 0.25, 0.7, 1.5]), "clip", DF, 1.0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.array([0.0, 0.25, 0.7, 1.0], dtype=np.float32))


def test_float_depth_shift_adds_half_the_range() -> None:
    out = map_values(np.array([-0.25, 0.0, 0.25]), "shift", DF, 1.0)
    np.testing.assert_array_equal(out, np.array([0.25, 0.5, 0.75], dtype=np.float32))


def test_raw_keeps_every_value() -> None:
    values = np.array([-300.5, 0.125, 1e6])
    out = map_values(values, "raw", DF, 1.0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, values.astype(np.float32))


@pytest.mark.parametrize("depth", ["8", "16"])
def test_raw_needs_float_depth(depth: str) -> None:
    with pytest.raises(UsageError) as info:
        map_values(np.zeros(3), "raw", DEPTHS[depth], 255.0)  # type: ignore[index]
    assert str(info.value) == (f"--map raw keeps float values; it needs depth float, not {depth}")


def test_unknown_map() -> None:
    with pytest.raises(UsageError) as info:
        map_values(np.zeros(3), "wrap", D8, 255.0)
    assert str(info.value) == "unknown map 'wrap'; expected one of clip, abs, shift, normalize, raw"


def test_normalize_stretches_min_to_0_and_max_to_the_top() -> None:
    values = np.array([-10.0, 0.0, 20.0, 40.0])
    np.testing.assert_array_equal(map_values(values, "normalize", D8, 255.0), [0, 51, 153, 255])
    np.testing.assert_array_equal(
        map_values(values, "normalize", D16, 65535.0), [0, 13107, 39321, 65535]
    )
    np.testing.assert_allclose(
        map_values(values, "normalize", DF, 1.0), [0.0, 0.2, 0.6, 1.0], rtol=1e-6
    )


def test_normalize_of_a_constant_result_is_zero() -> None:
    np.testing.assert_array_equal(map_values(np.full(4, 7.0), "normalize", D8, 255.0), 0)


def test_normalize_ignores_non_finite_values_for_the_range() -> None:
    values = np.array([0.0, 10.0, np.inf, np.nan])
    out = map_values(values, "normalize", D8, 255.0)
    np.testing.assert_array_equal(out, [0, 255, 255, 0])


def test_stretch() -> None:
    np.testing.assert_array_equal(stretch(np.array([2.0, 4.0, 6.0]), 10.0), [0.0, 5.0, 10.0])
    np.testing.assert_array_equal(stretch(np.array([np.nan, np.nan]), 10.0), [0.0, 0.0])


@settings(max_examples=60)
@given(
    values=hnp.arrays(np.float64, st.integers(1, 30), elements=st.floats(-1e5, 1e5)),
    mode=st.sampled_from(["clip", "abs", "shift", "normalize"]),
    depth=st.sampled_from(["8", "16"]),
)
def test_integer_mappings_stay_in_range_and_round_to_nearest(
    values: NDArray[np.float64], mode: str, depth: str
) -> None:
    target = DEPTHS[depth]  # type: ignore[index]
    out = map_values(values, mode, target, target.maximum)
    assert out.dtype == target.dtype
    assert out.min() >= 0
    assert out.max() <= target.maximum
    if mode == "clip":
        expected = np.clip(values, 0, target.maximum)
        assert np.abs(out.astype(np.float64) - expected).max() <= 0.5


# -- through filter_image: integers never wrap -----------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "expected"), [("clip", 0), ("abs", 10), ("shift", 118), ("normalize", 0)]
)
def test_uint8_result_of_minus_10(mode: str, expected: int) -> None:
    """A uint8 result of -10: 0 with clip, 10 with abs, 118 with shift; never 246."""
    image = np.full((3, 4), 10, dtype=np.uint8)
    result = filter_image(image, [[-1]], map=mode)
    assert result.pixels.dtype == np.uint8
    np.testing.assert_array_equal(result.pixels, expected)
    np.testing.assert_array_equal(result.filtered.maps[..., 0], -10.0)


def test_uint8_results_above_255_clip() -> None:
    image = np.full((3, 4), 200, dtype=np.uint8)
    np.testing.assert_array_equal(filter_image(image, [[1, 1]]).pixels, 255)


@pytest.mark.parametrize(("mode", "expected"), [("clip", 0), ("abs", 10), ("shift", 32758)])
def test_uint16_result_of_minus_10(mode: str, expected: int) -> None:
    image = np.full((3, 4), 10, dtype=np.uint16)
    result = filter_image(image, [[-1]], map=mode)
    assert result.pixels.dtype == np.uint16
    np.testing.assert_array_equal(result.pixels, expected)


def test_uint16_results_do_not_wrap() -> None:
    image = np.full((3, 4), 60000, dtype=np.uint16)
    np.testing.assert_array_equal(filter_image(image, [[1, 1]]).pixels, 65535)
    np.testing.assert_array_equal(filter_image(image, [[1, 1]], map="raw").pixels, 120000.0)


def test_normalize_map_through_filter_image() -> None:
    """The stretch covers the result's own min..max (here -4..4 from a Laplacian)."""
    image = np.zeros((5, 5), dtype=np.uint8)
    image[2, 2] = 1
    result = filter_image(image, [[1, 1, 1], [1, -8, 1], [1, 1, 1]], map="normalize")
    maps = result.filtered.maps[..., 0]
    assert (maps.min(), maps.max()) == (-8.0, 1.0)
    expected = np.rint((maps.astype(np.float64) + 8) * 255 / 9)
    np.testing.assert_array_equal(result.pixels, expected)


@pytest.mark.parametrize("depth", ["8", "16"])
def test_raw_map_at_an_integer_depth_is_refused(depth: str) -> None:
    with pytest.raises(UsageError) as info:
        filter_image(np.zeros((3, 3), np.uint8), [[1]], map="raw", depth=depth)
    assert str(info.value) == (
        f"--map raw keeps float values; it cannot be written at depth {depth}"
    )


def test_raw_map_implies_float_depth() -> None:
    result = filter_image(np.full((2, 2), 10, np.uint8), [[-1]], map="raw")
    assert result.depth == "float"
    assert result.pixels.dtype == np.float32
    np.testing.assert_array_equal(result.pixels, -10.0)


def test_unknown_depth() -> None:
    with pytest.raises(UsageError) as info:
        filter_image(np.zeros((3, 3), np.uint8), [[1]], depth="12")
    assert str(info.value) == "unknown depth '12'; expected 8, 16 or float"


@pytest.mark.parametrize(
    ("dtype", "depth", "expected"),
    [
        (np.uint8, "8", 0),
        (np.uint16, "16", 0),
        (np.float32, "float", -1.0),
        (np.float64, "float", -1.0),
    ],
)
def test_default_depth_and_map_follow_the_input(dtype: type, depth: str, expected: float) -> None:
    """Integer inputs clip by default; float inputs keep raw values (a negative stays)."""
    image = np.ones((3, 3), dtype=dtype)
    result = filter_image(image, [[-1]])
    assert result.depth == depth
    assert result.pixels.dtype == DEPTHS[depth].dtype  # type: ignore[index]
    np.testing.assert_array_equal(result.pixels, expected)


@pytest.mark.parametrize(
    ("dtype", "depth", "factor"),
    [
        (np.uint8, "16", 257),
        (np.uint16, "8", 1 / 257),
        (np.float32, "8", 255),
        (np.float32, "16", 65535),
        (np.uint8, "float", 1),  # float output keeps 8-bit units (see units())
    ],
)
def test_depth_conversion(dtype: type, depth: str, factor: float) -> None:
    """8 -> 16 multiplies by 257 (255 -> 65535), 16 -> 8 divides, float scales 0..1 up."""
    if np.dtype(dtype).kind == "f":
        image = np.array([[0.0, 0.25, 0.5, 1.0]], dtype=dtype)
    elif dtype is np.uint8:
        image = np.array([[0, 1, 128, 255]], dtype=dtype)
    else:
        image = np.array([[0, 257, 32896, 65535, 300]], dtype=dtype)
    result = filter_image(image, [[1]], depth=depth)
    target = DEPTHS[depth]  # type: ignore[index]
    expected = image.astype(np.float64) * factor
    if target.is_integer:
        expected = np.clip(np.rint(expected), 0, target.maximum)
    assert result.pixels.dtype == target.dtype
    np.testing.assert_array_equal(result.pixels, expected.astype(target.dtype))


STRIP_CASES = [
    (m, d) for m in MAP_MODES for d in ("8", "16", "float") if m != "raw" or d == "float"
]


@pytest.mark.parametrize(("mode", "depth"), STRIP_CASES)
def test_large_arrays_map_in_strips_as_small_ones_do(mode: str, depth: str) -> None:
    # 3 MB of float32: mapped in strips, on threads where there are cores.
    rng = np.random.default_rng(3)
    top = DEPTHS[depth].maximum if depth != "float" else 255.0
    values = (rng.standard_normal((517, 509, 3)) * top).astype(np.float32)
    values[5, 7] = [np.nan, np.inf, -np.inf]
    before = values.copy()
    out = np.empty(values.shape, DEPTHS[depth].dtype if mode != "raw" else np.float32)
    mapped = map_values(values, mode, DEPTHS[depth], top, out=out)
    assert mapped is out
    np.testing.assert_array_equal(values, before)  # the input is left alone
    if mode == "normalize":  # one stretch over the whole array
        low, high = np.nanmin(values[np.isfinite(values)]), values[np.isfinite(values)].max()
        expected = map_values((values - low) / (high - low) * top, "clip", DEPTHS[depth], top)
        np.testing.assert_allclose(mapped.astype(float), expected.astype(float), atol=1)
        return
    # Row by row, each far too small for strips: the same samples.
    for row in (0, 5, 258, 516):
        one = map_values(values[row : row + 1], mode, DEPTHS[depth], top)
        np.testing.assert_array_equal(mapped[row : row + 1], one)
