"""``filter_image``: worked examples, derived filters, channels, alpha, scale/bias/normalize, depth.

KERNELS.md sections 4 to 8. Results are compared with ``scipy.ndimage`` or
with hand-computed arrays; exact where the arithmetic is exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray
from scipy import ndimage

from imgconv.core import filtering
from imgconv.core.catalog import get_builtin
from imgconv.core.convolve import correlate
from imgconv.core.filtering import LUMA_WEIGHTS, Settings, filter_image
from imgconv.core.kernel_builders import DIRECTIONS
from imgconv.core.kernels import Kernel, KernelSet
from imgconv.errors import GeometryError, KernelError, UsageError

BOX3 = np.ones((3, 3)) / 9


def rng_image(shape: tuple[int, ...], dtype: type = np.uint8, seed: int = 0) -> NDArray[np.generic]:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "u":
        return rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
    return rng.random(shape).astype(dtype)


# -- 7. the seed slides' worked examples (KERNELS.md section 8) -----------------------------------


def test_seed_example_1_feature_detector() -> None:
    """7x7 binary image, detector 0 0 1; 1 0 0; 0 1 1, valid.

    The slide shows 1 at row 3, column 3 of the feature map; the correct value is 0.
    """
    image = np.array(
        [
            [0, 0, 0, 0, 0, 0, 0],
            [0, 1, 0, 0, 0, 1, 0],
            [0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 1, 0, 0, 0],
            [0, 1, 0, 0, 0, 1, 0],
            [0, 0, 1, 1, 1, 0, 0],
            [0, 0, 0, 0, 0, 0, 0],
        ],
        dtype=np.uint8,
    )
    detector = [[0, 0, 1], [1, 0, 0], [0, 1, 1]]
    expected = [
        [0, 1, 0, 0, 0],
        [0, 1, 1, 1, 0],
        [1, 0, 0, 2, 1],
        [1, 4, 2, 1, 0],
        [0, 0, 1, 2, 1],
    ]
    result = filter_image(image, detector, padding="valid")
    np.testing.assert_array_equal(result.pixels, expected)
    assert result.pixels[2, 2] == 0  # the slide's slip: it shows 1 here
    np.testing.assert_array_equal(result.filtered.maps[..., 0], expected)


def test_seed_example_2_sum_of_3x3() -> None:
    """A 3x3 kernel of ones, valid. The slide shows 20 18 19; 20 18 19; 20 18 21."""
    image = np.array(
        [[1, 2, 3, 2, 1], [3, 2, 2, 1, 3], [2, 1, 3, 2, 3], [2, 3, 3, 1, 2], [3, 1, 2, 2, 3]],
        dtype=np.uint8,
    )
    result = filter_image(image, np.ones((3, 3)), padding="valid")
    np.testing.assert_array_equal(result.pixels, [[19, 18, 20], [21, 18, 20], [20, 18, 21]])


def test_seed_example_3_one_dimensional() -> None:
    """Signal 1 2 3 4 5, filter 2 1, valid: 4 7 10 13 (the slide shows 4 5 10 13)."""
    result = filter_image(np.array([[1, 2, 3, 4, 5]], dtype=np.uint8), [[2, 1]], padding="valid")
    np.testing.assert_array_equal(result.pixels, [[4, 7, 10, 13]])


@pytest.mark.parametrize(("padding", "shape"), [("valid", (60, 60, 3)), (2, (64, 64, 3))])
def test_seed_example_4_volume_arithmetic(padding: str | int, shape: tuple[int, ...]) -> None:
    """64x64x3 input, 5x5 kernel: 60x60 without padding, 64x64 with padding 2."""
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    assert filter_image(image, np.ones((5, 5)), padding=padding).pixels.shape == shape


# -- 4. derived filters ---------------------------------------------------------------------------


def scipy_maps(image: NDArray[np.float64], names: list[str]) -> list[NDArray[np.float64]]:
    """Each built-in correlated by scipy.ndimage with the default edge border."""
    return [
        ndimage.correlate(image, get_builtin(name).kernels[0].matrix, mode="nearest")
        for name in names
    ]


@pytest.mark.parametrize("family", ["sobel", "prewitt", "scharr", "roberts"])
@pytest.mark.parametrize("method", ["auto", "direct", "fft"])
def test_gradient_magnitude(family: str, method: str) -> None:
    """sobel = sqrt(sobel-x^2 + sobel-y^2), and likewise for prewitt, scharr (and roberts)."""
    image = rng_image((17, 21), np.float64, seed=5)
    gx, gy = scipy_maps(image, [f"{family}-x", f"{family}-y"])
    result = filter_image(image, get_builtin(family), map="raw", method=method)
    np.testing.assert_allclose(result.pixels, np.hypot(gx, gy), rtol=0, atol=1e-5 * 40)


@pytest.mark.parametrize("method", ["auto", "direct", "fft"])
def test_kirsch_is_the_maximum_over_eight_directions(method: str) -> None:
    image = rng_image((17, 21), np.float64, seed=6)
    maps = scipy_maps(image, [f"kirsch:{d}" for d in DIRECTIONS])
    result = filter_image(image, get_builtin("kirsch"), map="raw", method=method)
    np.testing.assert_allclose(result.pixels, np.max(maps, axis=0), rtol=0, atol=1e-5 * 40)


def test_derived_filter_on_uint8_rounds_the_magnitude() -> None:
    image = np.zeros((6, 6), dtype=np.uint8)
    image[:, 3:] = 10
    result = filter_image(image, get_builtin("sobel"))
    # sobel-x is 40 on both edge columns and sobel-y is 0: magnitude 40.
    np.testing.assert_array_equal(result.pixels[:, 2:4], 40)
    np.testing.assert_array_equal(result.pixels[:, [0, 1, 4, 5]], 0)


@pytest.mark.parametrize(
    ("combine", "expected"), [("sum", 7.0), ("max", 5.0), ("min", 2.0), ("magnitude", 29**0.5)]
)
def test_kernel_set_combinations(combine: str, expected: float) -> None:
    kernel_set = KernelSet("pair", (Kernel([[2]]), Kernel([[5]])), combine)  # type: ignore[arg-type]
    result = filter_image(np.ones((3, 3)), kernel_set, map="raw")
    np.testing.assert_allclose(result.pixels, expected, rtol=1e-7)


@pytest.mark.parametrize("combine", ["sum", "max", "min", "magnitude"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_kernel_set_combines_as_a_reduction_over_the_stack_of_maps(
    combine: str, dtype: type
) -> None:
    """Combined map by map, the numbers are the reduction's over a stack, to the bit.

    (A float64 image's maps are combined in float64, before the float32
    output, so a set's sum is closer than a sum of separately written maps.)
    """
    rng = np.random.default_rng(17)
    image = (rng.random((23, 31, 3)) * 255).astype(dtype)
    kernels = tuple(Kernel(rng.standard_normal((3, 3)), name=f"k{i}") for i in range(8))
    kernel_set = KernelSet("eight", kernels, combine)  # type: ignore[arg-type]
    combined = filter_image(image, kernel_set, map="raw").pixels
    stack = np.stack([filter_image(image, k, map="raw").pixels for k in kernels])
    reduce = {
        "sum": lambda s: s.sum(axis=0),
        "max": lambda s: s.max(axis=0),
        "min": lambda s: s.min(axis=0),
        "magnitude": lambda s: np.sqrt(np.sum(s * s, axis=0)),
    }[combine]
    expected = reduce(stack)
    assert combined.dtype == expected.dtype
    np.testing.assert_array_equal(combined, expected)


def test_kernels_of_different_sizes_in_one_set() -> None:
    kernels = (Kernel(np.ones((3, 3)), name="a"), Kernel([[1]], name="b"))
    kernel_set = KernelSet("mixed", kernels, "sum")
    result = filter_image(np.ones((5, 5)), kernel_set, map="raw")  # same padding: same size
    np.testing.assert_allclose(result.pixels, 10.0)
    with pytest.raises(GeometryError) as info:
        filter_image(np.ones((5, 5)), kernel_set, padding="valid")
    assert str(info.value) == (
        "the kernels give different output sizes (a 3x3, b 1x1); use kernels of one size"
    )


# -- filter_image agrees with correlate -----------------------------------------------------------


@pytest.mark.parametrize(
    "border", ["edge", "zero", "constant:0.25", "reflect", "reflect101", "wrap"]
)
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"flip": True},
        {"anchor": (0, 1)},
        {"anchor": "2,0", "flip": True},
        {"stride": 2, "padding": "full"},
        {"dilation": (2, 1), "padding": (1, 2, 0, 3)},
    ],
)
def test_filter_image_matches_correlate(border: str, kwargs: dict[str, object]) -> None:
    image = rng_image((9, 11, 3), np.float32, seed=8)
    kernel = np.arange(12.0).reshape(3, 4) - 5
    expected = correlate(image, kernel, border=border, **kwargs)  # type: ignore[arg-type]
    result = filter_image(image, kernel, border=border, map="raw", **kwargs)  # type: ignore[arg-type]
    np.testing.assert_allclose(result.pixels, expected, rtol=1e-6, atol=1e-6)


# -- 8. identity returns the input ----------------------------------------------------------------


@st.composite
def pictures(draw: st.DrawFn) -> NDArray[np.generic]:
    dtype = draw(st.sampled_from([np.uint8, np.uint16, np.float32, np.float64]))
    shape = (draw(st.integers(1, 8)), draw(st.integers(1, 8)), draw(st.integers(1, 4)))
    if np.dtype(dtype).kind == "u":
        elements = st.integers(0, np.iinfo(dtype).max)
    else:
        elements = st.floats(0, 1, width=np.dtype(dtype).itemsize * 8)
    return draw(hnp.arrays(dtype, shape, elements=elements))


@settings(max_examples=120)
@given(
    image=pictures(),
    border=st.sampled_from(["edge", "zero", "constant:3", "reflect", "reflect101", "wrap"]),
    alpha=st.sampled_from(["weighted", "filter", "plain", "keep"]),
    identity=st.sampled_from(["identity", "box:1", "gaussian:1,1"]),
)
def test_identity_returns_the_input(
    image: NDArray[np.generic], border: str, alpha: str, identity: str
) -> None:
    """Exact for 8- and 16-bit (every alpha mode) and for float without weighting.

    Alpha weighting divides a*c by a in float32, which may be 1 ulp off for
    float images; integer outputs round it away.
    """
    result = filter_image(image, get_builtin(identity), border=border, alpha=alpha)
    expected = image.astype(np.float32) if image.dtype.kind == "f" else image
    if image.shape[2] == 1:
        expected = expected[..., 0]
    weighted = image.shape[2] in (2, 4) and alpha in ("weighted", "filter")
    if image.dtype.kind == "f" and weighted:
        np.testing.assert_allclose(result.pixels, expected, rtol=2.5e-7, atol=1e-30)
    else:
        np.testing.assert_array_equal(result.pixels, expected)


# -- 10. channels ---------------------------------------------------------------------------------


def test_each_filters_every_colour_channel_alone() -> None:
    image = rng_image((8, 9, 3), seed=1)
    result = filter_image(image, BOX3, map="raw")
    for c in range(3):
        expected = ndimage.correlate(image[..., c].astype(np.float64), BOX3, mode="nearest")
        np.testing.assert_allclose(result.pixels[..., c], expected, atol=1e-4)
    assert result.bands == ("R", "G", "B")
    assert result.filtered.filtered == (True, True, True)


@pytest.mark.parametrize(
    ("channels", "selected"), [("r,g", (0, 1)), ("B", (2,)), (" b , r ", (0, 2))]
)
def test_subset_leaves_other_bands_exactly_as_they_were(
    channels: str, selected: tuple[int, ...]
) -> None:
    image = rng_image((8, 9, 3), seed=2)
    result = filter_image(image, get_builtin("box"), channels=channels)
    every = filter_image(image, get_builtin("box"))
    for c in range(3):
        if c in selected:
            np.testing.assert_array_equal(result.pixels[..., c], every.pixels[..., c])
        else:
            np.testing.assert_array_equal(result.pixels[..., c], image[..., c])
    assert result.filtered.filtered == tuple(c in selected for c in range(3))


def test_gray_gives_one_band_of_filtered_luma() -> None:
    image = rng_image((8, 9, 3), seed=3)
    result = filter_image(image, BOX3, channels="gray", map="raw")
    luma = image.astype(np.float64) @ np.array(LUMA_WEIGHTS)
    assert result.bands == ("L",)
    assert result.pixels.shape == (8, 9)
    np.testing.assert_allclose(
        result.pixels, ndimage.correlate(luma, BOX3, mode="nearest"), atol=1e-3
    )
    assert filter_image(image, BOX3, channels="grey").pixels.shape == (8, 9)


def test_gray_keeps_alpha_as_a_second_band() -> None:
    image = rng_image((6, 7, 4), seed=4)
    result = filter_image(image, get_builtin("identity"), channels="gray")
    assert result.bands == ("L", "A")
    assert result.pixels.shape == (6, 7, 2)
    np.testing.assert_array_equal(result.pixels[..., 1], image[..., 3])
    luma = image[..., :3].astype(np.float64) @ np.array(LUMA_WEIGHTS)
    np.testing.assert_array_equal(result.pixels[..., 0], np.rint(luma))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_luma_with_identity_returns_the_input(dtype: type) -> None:
    image = rng_image((7, 8, 3), dtype, seed=5)
    result = filter_image(image, get_builtin("identity"), channels="luma")
    np.testing.assert_array_equal(result.pixels, image)
    assert result.bands == ("R", "G", "B")


def test_luma_filters_luminance_and_keeps_chroma() -> None:
    """Colour differences pass through; the luminance of the result is the filtered luminance."""
    image = rng_image((7, 8, 3), np.float64, seed=6)
    result = filter_image(image, BOX3, channels="luma", map="raw")
    out = result.pixels.astype(np.float64)
    weights = np.array(LUMA_WEIGHTS)
    np.testing.assert_allclose(
        out - out @ weights[:, None], image - image @ weights[:, None], atol=1e-6
    )
    blurred_luma = ndimage.correlate(image @ weights, BOX3, mode="nearest")
    np.testing.assert_allclose(out @ weights, blurred_luma, atol=1e-6)


def test_luma_on_a_grey_image_equals_each() -> None:
    """Box 1/9 never lands on a .5 tie, so float32 luma rounding cannot flip a level."""
    grey = rng_image((7, 8), seed=7)
    image = np.stack([grey] * 3, axis=-1)
    luma = filter_image(image, get_builtin("box"), channels="luma")
    each = filter_image(image, get_builtin("box"))
    np.testing.assert_array_equal(luma.pixels, each.pixels)


@pytest.mark.parametrize(
    ("channels", "message"),
    [
        (
            "x",
            "--channels names 'x', which this RGB image does not have; "
            "expected each, luma, gray or some of r,g,b",
        ),
        ("a", "alpha is not a colour channel; use --alpha filter or --alpha plain to filter it"),
        ("", "--channels '' is empty; expected each, luma, gray or names such as r,g"),
    ],
)
def test_bad_channels(channels: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        filter_image(rng_image((4, 4, 3)), BOX3, channels=channels)
    assert str(info.value) == message


def test_channel_count_needs_band_names() -> None:
    with pytest.raises(UsageError) as info:
        filter_image(np.zeros((4, 4, 5), np.uint8), BOX3)
    assert str(info.value) == "image has 5 channels; name them with bands=, e.g. ('R', 'G', 'B')"
    named = filter_image(np.zeros((4, 4, 5), np.uint8), BOX3, bands="CMYKA")
    assert named.bands == ("C", "M", "Y", "K", "A")


@pytest.mark.parametrize(
    ("shape", "bands"), [((4, 4), ("L",)), ((4, 4, 1), ("L",)), ((4, 4, 2), ("L", "A"))]
)
def test_default_band_names(shape: tuple[int, ...], bands: tuple[str, ...]) -> None:
    result = filter_image(np.zeros(shape, np.uint8), BOX3)
    assert result.bands == bands


def test_bad_image_shape() -> None:
    with pytest.raises(GeometryError) as info:
        filter_image(np.zeros(5, np.uint8), BOX3)
    assert str(info.value) == "image has shape (5,); expected (H, W) or (H, W, C)"


# -- 10. alpha ------------------------------------------------------------------------------------


def white_square_on_transparent_black(size: int = 12) -> NDArray[np.uint8]:
    image = np.zeros((size, size, 4), dtype=np.uint8)
    image[4:8, 4:8] = 255  # opaque white; everything else is (0, 0, 0, 0)
    return image


@pytest.mark.parametrize("alpha", ["weighted", "filter"])
def test_transparent_neighbours_do_not_darken(alpha: str) -> None:
    """box:5 over an opaque white square on transparent black: colour 255 wherever alpha > 0."""
    image = white_square_on_transparent_black()
    result = filter_image(image, get_builtin("box:5"), alpha=alpha)
    visible = result.pixels[..., 3] > 0
    assert visible.sum() >= 16
    np.testing.assert_array_equal(result.pixels[..., :3][visible], 255)


def test_weighted_alpha_passes_through() -> None:
    image = white_square_on_transparent_black()
    result = filter_image(image, get_builtin("box:5"))
    np.testing.assert_array_equal(result.pixels[..., 3], image[..., 3])


def test_filter_alpha_is_filtered_with_the_same_kernel() -> None:
    """Soft edges under a blur: alpha is the box-filtered alpha, so it spreads 2 pixels."""
    image = white_square_on_transparent_black()
    result = filter_image(image, get_builtin("box:5"), alpha="filter")
    expected = np.rint(
        ndimage.correlate(image[..., 3].astype(np.float64), np.ones((5, 5)) / 25, mode="nearest")
    )
    np.testing.assert_array_equal(result.pixels[..., 3], expected)
    assert (result.pixels[..., 3] > 0).sum() == 8 * 8


def test_plain_filters_alpha_as_a_channel_and_gives_grey_fringes() -> None:
    image = white_square_on_transparent_black()
    result = filter_image(image, get_builtin("box:5"), alpha="plain")
    box = np.ones((5, 5)) / 25
    for c in range(4):
        expected = np.rint(ndimage.correlate(image[..., c].astype(np.float64), box, mode="nearest"))
        np.testing.assert_array_equal(result.pixels[..., c], expected)
    visible = result.pixels[..., 3] > 0
    fringe = result.pixels[..., 0][visible]
    assert ((fringe > 0) & (fringe < 255)).any()


def test_keep_leaves_alpha_untouched_and_colour_unweighted() -> None:
    image = white_square_on_transparent_black()
    result = filter_image(image, get_builtin("box:5"), alpha="keep")
    np.testing.assert_array_equal(result.pixels[..., 3], image[..., 3])
    plain = filter_image(image[..., :3], get_builtin("box:5"))
    np.testing.assert_array_equal(result.pixels[..., :3], plain.pixels)
    assert (result.pixels[4:8, 4:8, 0] < 255).any()  # transparent black darkens the square's edge


def test_weighted_is_the_alpha_weighted_mean() -> None:
    """sum K a c / sum K a for a blur, computed by hand on one row."""
    image = np.zeros((1, 3, 4), dtype=np.float64)
    image[0, :, 0] = [0.2, 0.4, 0.9]
    image[0, :, 3] = [1.0, 0.5, 0.25]
    result = filter_image(image, [[1, 1, 1]], map="raw", border="zero")
    colour = result.pixels[0, :, 0]
    a, c = image[0, :, 3], image[0, :, 0]
    middle = (a * c).sum() / (a.sum() / 3)
    np.testing.assert_allclose(colour[1], middle, rtol=1e-6)
    np.testing.assert_array_equal(result.pixels[0, :, 3], np.float32(a))


@pytest.mark.parametrize("kernel", ["laplacian", "sobel-x", "edge-detect", "log:1", "sobel"])
@pytest.mark.parametrize("alpha", ["weighted", "filter"])
def test_zero_sum_kernels_stay_finite_under_weighting(kernel: str, alpha: str) -> None:
    rng = np.random.default_rng(11)
    image = rng.random((12, 13, 4))
    image[..., 3] = np.where(rng.random((12, 13)) < 0.5, 0.0, rng.random((12, 13)))
    image[:6, :6, 3] = 0  # a fully transparent block
    result = filter_image(image, get_builtin(kernel), alpha=alpha, map="raw")
    assert np.isfinite(result.filtered.maps).all()
    assert np.isfinite(result.pixels).all()


@pytest.mark.parametrize("kernel", ["box", "gaussian:1", "laplacian", "sharpen"])
def test_colour_under_no_opaque_pixel_is_left_as_it_was(kernel: str) -> None:
    image = np.zeros((16, 16, 4), dtype=np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 50, 60, 70  # colour under alpha 0
    image[12:, 12:] = (200, 10, 20, 255)
    result = filter_image(image, get_builtin(kernel))
    np.testing.assert_array_equal(
        result.pixels[:6, :6, :3], np.broadcast_to([50, 60, 70], (6, 6, 3))
    )
    strided = filter_image(image, get_builtin(kernel), stride=3)
    np.testing.assert_array_equal(
        strided.pixels[:2, :2, :3], np.broadcast_to([50, 60, 70], (2, 2, 3))
    )


@pytest.mark.parametrize("kernel", ["box:5", "laplacian", "sobel", "emboss"])
def test_colour_of_transparent_pixels_never_reaches_visible_ones(kernel: str) -> None:
    rng = np.random.default_rng(12)
    image = rng.integers(0, 256, (12, 12, 4)).astype(np.uint8)
    image[..., 3] = np.where(rng.random((12, 12)) < 0.4, 0, image[..., 3])
    other = image.copy()
    hidden = image[..., 3] == 0
    other[..., :3][hidden] = rng.integers(0, 256, (int(hidden.sum()), 3))
    first = filter_image(image, get_builtin(kernel), map="raw")
    second = filter_image(other, get_builtin(kernel), map="raw")
    visible = ~hidden
    np.testing.assert_allclose(first.pixels[visible], second.pixels[visible], atol=1e-3)


def test_fully_opaque_weighted_equals_no_alpha() -> None:
    image = rng_image((9, 9, 4), seed=13)
    image[..., 3] = 255
    with_alpha = filter_image(image, get_builtin("sharpen"))
    without = filter_image(image[..., :3], get_builtin("sharpen"))
    np.testing.assert_array_equal(with_alpha.pixels[..., :3], without.pixels)


@pytest.mark.parametrize(
    ("border", "colour"),
    [
        ("edge", 128),
        ("reflect", 128),
        ("wrap", 128),
        ("constant:128", 128),
        ("constant:40", 40),
        ("zero", 0),
    ],
)
def test_blur_of_one_colour_stays_that_colour_under_any_alpha(border: str, colour: int) -> None:
    """An image of one colour whose border holds the same colour: a blur cannot change it.

    Whatever weights alpha gives to the pixels under the kernel, they all
    hold ``colour`` (KERNELS.md section 3: a constant:V border holds V), so
    their weighted mean is ``colour``.
    """
    image = np.zeros((6, 6, 4), dtype=np.uint8)
    image[..., :3] = colour
    image[..., 3] = (np.arange(36).reshape(6, 6) * 4 + 100).astype(np.uint8)
    result = filter_image(image, get_builtin("box"), border=border)
    np.testing.assert_array_equal(result.pixels[..., :3], colour)


@pytest.mark.parametrize("border", ["zero", "constant:128", "edge", "reflect101"])
def test_weighting_is_continuous_in_alpha(border: str) -> None:
    """Making every pixel 1/255 less opaque cannot move a blurred colour by more than a level."""
    image = np.zeros((5, 5, 4), dtype=np.uint8)
    image[..., :3] = 200
    image[..., 3] = 255
    opaque = filter_image(image, get_builtin("box"), border=border)
    image[..., 3] = 254
    nearly = filter_image(image, get_builtin("box"), border=border)
    difference = np.abs(opaque.pixels[..., :3].astype(int) - nearly.pixels[..., :3].astype(int))
    assert difference.max() <= 1


def test_unknown_alpha_mode() -> None:
    with pytest.raises(UsageError) as info:
        filter_image(white_square_on_transparent_black(), BOX3, alpha="premultiplied")
    assert str(info.value) == (
        "unknown alpha mode 'premultiplied'; expected one of weighted, filter, plain, keep"
    )


def test_settings_parse_reports_unknown_method() -> None:
    with pytest.raises(UsageError) as info:
        Settings.parse(method="quick")
    assert str(info.value) == "unknown method 'quick'; expected one of auto, direct, separable, fft"


# -- 10. normalize, scale, bias -------------------------------------------------------------------

ROW = np.array([[10, 20, 40, 80, 160]], dtype=np.uint8)


def test_normalize_divides_by_a_positive_sum() -> None:
    normalized = filter_image(ROW, [[1, 2, 1]], normalize=True, map="raw")
    by_hand = filter_image(ROW, np.array([[1, 2, 1]]) / 4, map="raw")
    np.testing.assert_array_equal(normalized.pixels, by_hand.pixels)
    np.testing.assert_array_equal(normalized.pixels, [[12.5, 22.5, 45.0, 90.0, 140.0]])


def test_normalize_of_a_zero_sum_kernel_divides_by_its_positive_sum() -> None:
    result = filter_image(ROW, [[-2, 0, 2]], normalize=True, map="raw")
    np.testing.assert_array_equal(result.pixels, [[10, 30, 60, 120, 80]])


def test_normalize_of_an_all_zero_kernel_is_a_kernel_error() -> None:
    with pytest.raises(KernelError) as info:
        filter_image(ROW, [[0, 0, 0]], normalize=True)
    assert str(info.value) == "kernel 'kernel' is all zeros; it cannot be normalized"


def test_scale_and_normalize_together_are_refused() -> None:
    with pytest.raises(UsageError) as info:
        filter_image(ROW, [[1, 2, 1]], normalize=True, scale=4)
    assert str(info.value) == "--scale and --normalize both set the divisor; use one of them"


def test_scale_replaces_the_divisor() -> None:
    """gaussian is 1 2 1; 2 4 2; 1 2 1 / 16; --scale 4 makes it / 4 (four times brighter)."""
    image = np.full((4, 4), 10, dtype=np.uint8)
    np.testing.assert_array_equal(filter_image(image, get_builtin("gaussian"), scale=4).pixels, 40)
    np.testing.assert_array_equal(filter_image(image, get_builtin("gaussian")).pixels, 10)


def test_bias_is_added_once_after_combining() -> None:
    """On a flat image sobel-x and sobel-y are 0: magnitude plus bias 10 is 10, not sqrt(200)."""
    image = np.full((5, 5), 70, dtype=np.uint8)
    result = filter_image(image, get_builtin("sobel"), bias=10, map="raw")
    np.testing.assert_array_equal(result.pixels, 10.0)


def test_bias_replaces_a_kernels_own_bias() -> None:
    image = np.full((3, 3), 70, dtype=np.uint8)
    kernel = Kernel([[1]], bias=7)
    np.testing.assert_array_equal(filter_image(image, kernel).pixels, 77)
    np.testing.assert_array_equal(filter_image(image, kernel, bias=2).pixels, 72)


def test_bias_is_in_output_units() -> None:
    """8-bit in, 16-bit out: the image is scaled by 257, the bias is not."""
    image = np.full((3, 3), 100, dtype=np.uint8)
    result = filter_image(image, get_builtin("identity"), bias=1000, depth="16")
    np.testing.assert_array_equal(result.pixels, 100 * 257 + 1000)


def test_bias_with_shift_map() -> None:
    image = np.full((3, 3), 10, dtype=np.uint8)
    result = filter_image(image, [[-1]], bias=-5, map="shift")
    np.testing.assert_array_equal(result.pixels, 128 - 15)


# -- 10. depth ------------------------------------------------------------------------------------


def test_8_bit_to_16_bit_multiplies_by_257() -> None:
    image = rng_image((5, 6, 3), seed=14)
    result = filter_image(image, get_builtin("identity"), depth="16")
    assert result.pixels.dtype == np.uint16
    np.testing.assert_array_equal(result.pixels, image.astype(np.uint16) * 257)


def test_depth_conversion_of_a_blur() -> None:
    image = rng_image((5, 6), seed=15)
    result = filter_image(image, get_builtin("box"), depth="16")
    blurred = ndimage.correlate(image.astype(np.float64), BOX3, mode="nearest") * 257
    assert np.abs(result.pixels.astype(np.float64) - blurred).max() <= 0.5 + 1e-3


# -- 10. stride and padding apply to every band ---------------------------------------------------


@pytest.mark.parametrize("alpha", ["weighted", "keep", "filter", "plain"])
@pytest.mark.parametrize(
    ("padding", "stride", "border"),
    [(1, 2, "edge"), ("valid", 1, "edge"), ("full", 3, "wrap"), ((0, 2, 1, 0), (2, 3), "zero")],
)
def test_pass_through_bands_follow_the_geometry(
    alpha: str, padding: object, stride: object, border: str
) -> None:
    """With channels=r, G and B (and alpha, unless filtered) are the input sampled at the anchor."""
    image = rng_image((9, 11, 4), seed=16)
    result = filter_image(
        image,
        get_builtin("box"),
        channels="r",
        alpha=alpha,
        padding=padding,  # type: ignore[arg-type]
        stride=stride,  # type: ignore[arg-type]
        border=border,
    )
    geometry = result.filtered.geometry
    top, bottom, left, right = geometry.pads
    sy, sx = geometry.stride
    ho, wo = geometry.out_shape
    mode = {"edge": "edge", "wrap": "wrap", "zero": "constant"}[border]
    padded = np.pad(image, ((top, bottom), (left, right), (0, 0)), mode=mode)
    sampled = padded[1 : 1 + sy * (ho - 1) + 1 : sy, 1 : 1 + sx * (wo - 1) + 1 : sx]
    assert result.pixels.shape == (ho, wo, 4)
    np.testing.assert_array_equal(result.pixels[..., 1:3], sampled[..., 1:3])
    if alpha in ("weighted", "keep"):
        np.testing.assert_array_equal(result.pixels[..., 3], sampled[..., 3])


def test_luma_chroma_follows_the_geometry() -> None:
    image = rng_image((9, 11, 3), np.float64, seed=17)
    result = filter_image(
        image, get_builtin("identity"), channels="luma", stride=2, padding="valid", map="raw"
    )
    np.testing.assert_allclose(result.pixels, image[1:-1:2, 1:-1:2], atol=1e-6)


def test_result_records_geometry_and_methods() -> None:
    result = filter_image(rng_image((10, 10)), get_builtin("sobel"), stride=2, method="fft")
    assert result.filtered.geometry.out_shape == (5, 5)
    assert result.filtered.methods == ("fft", "fft")
    assert result.depth == "8"


# --- rules settled after review -------------------------------------------------


@pytest.mark.parametrize("border", ["zero", "black", "constant:90"])
def test_zero_and_constant_borders_are_opaque_under_weighting(border: str) -> None:
    """A fully opaque RGBA image filters exactly like the same RGB image."""
    rgb = np.random.default_rng(3).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    rgba = np.concatenate([rgb, np.full((9, 11, 1), 255, np.uint8)], axis=-1)
    for kernel in ("box:5", "sobel", "sharpen"):
        with_alpha = filter_image(rgba, get_builtin(kernel), border=border)
        without = filter_image(rgb, get_builtin(kernel), border=border)
        np.testing.assert_array_equal(with_alpha.pixels[..., :3], without.pixels)


def test_filter_alpha_gets_no_bias() -> None:
    """--alpha filter blurs alpha with the kernel but does not add the colour bias."""
    image = np.full((6, 6, 4), 255, np.uint8)
    image[..., 3] = 200
    result = filter_image(image, get_builtin("box"), alpha="filter", bias=-50)
    np.testing.assert_array_equal(result.pixels[..., 3], 200)
    np.testing.assert_array_equal(result.pixels[..., :3], 205)


def test_plain_alpha_is_an_ordinary_channel() -> None:
    """--alpha plain: alpha gets the bias and a zero border like any channel."""
    image = np.full((6, 6, 4), 200, np.uint8)
    result = filter_image(image, get_builtin("box"), alpha="plain", bias=-50, border="zero")
    expected = np.rint(
        ndimage.correlate(np.full((6, 6), 200.0), np.ones((3, 3)) / 9, mode="constant") - 50
    )
    for band in range(4):
        np.testing.assert_array_equal(result.pixels[..., band], expected)


@pytest.mark.parametrize("stride", [np.int64(2), (np.int32(2), 2)])
def test_numpy_integers_are_accepted_for_geometry(stride: object) -> None:
    image = np.arange(36, dtype=np.float64).reshape(6, 6)
    result = filter_image(image, get_builtin("identity"), stride=stride, padding=np.int64(0))  # type: ignore[arg-type]
    # No padding: the 3x3 kernel's centre starts one pixel in.
    np.testing.assert_array_equal(result.pixels, image[1:-1:2, 1:-1:2])


def test_shift_is_128_in_8_bit_units_at_float_depth() -> None:
    """8-bit in, float out: shift still makes 0 mid-grey 128."""
    image = np.full((3, 3), 7, np.uint8)
    result = filter_image(image, get_builtin("laplacian"), map="shift", depth="float")
    np.testing.assert_array_equal(result.pixels, 128.0)


# -- filtering in bands of rows ------------------------------------------------------------------


@pytest.mark.parametrize("border", ["edge", "zero", "constant:40", "reflect", "reflect101", "wrap"])
@pytest.mark.parametrize(
    ("kernel", "method"),
    [
        (np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], float), "direct"),
        (np.outer([1, 4, 6, 4, 1], [1, 2, 1]) / 64, "separable"),
        (np.random.default_rng(9).normal(size=(9, 7)), "fft"),
    ],
    ids=["direct", "separable", "fft"],
)
@pytest.mark.parametrize(
    ("padding", "stride", "dilation"),
    [("same", 1, 1), ("valid", 2, 1), ("full", 3, 2), ((5, 0, 2, 1), 1, 1)],
    ids=["same", "valid-s2", "full-s3-d2", "explicit"],
)
def test_bands_give_the_whole_image_result(
    monkeypatch: pytest.MonkeyPatch,
    border: str,
    kernel: NDArray[np.float64],
    method: str,
    padding: Any,
    stride: int,
    dilation: int,
) -> None:
    """A large image is filtered band by band, to the same bits; small bands here, so many."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (97, 41, 4), dtype=np.uint8)
    image[20:40, :, 3] = 0  # some transparency: alpha weighting in some bands only
    options: dict[str, Any] = {
        "border": border,
        "padding": padding,
        "stride": stride,
        "dilation": dilation,
        "method": method,
        "map": "raw",
        "depth": "float",
    }
    whole = filter_image(image, kernel, **options)
    monkeypatch.setattr(filtering, "BAND_BYTES", 2000)  # about 3 rows of floats a band
    banded = filter_image(image, kernel, **options)
    assert banded.pixels.shape == whole.pixels.shape
    assert banded.filtered.geometry == whole.filtered.geometry
    # Every method, the FFT's blocks included, computes a band as the whole image.
    np.testing.assert_array_equal(banded.pixels, whole.pixels)
    np.testing.assert_array_equal(banded.filtered.maps, whole.filtered.maps)
    eight = {**options, "map": None, "depth": None}
    exact = filter_image(image, kernel, **eight)
    monkeypatch.setattr(filtering, "BAND_BYTES", 10**12)
    np.testing.assert_array_equal(exact.pixels, filter_image(image, kernel, **eight).pixels)


def test_bands_can_drop_the_float_maps(monkeypatch: pytest.MonkeyPatch) -> None:
    image = np.random.default_rng(4).integers(0, 256, (60, 50, 3), dtype=np.uint8)
    whole = filter_image(image, get_builtin("sharpen"))
    monkeypatch.setattr(filtering, "BAND_BYTES", 3000)
    lean = filter_image(image, get_builtin("sharpen"), keep_maps=False)
    np.testing.assert_array_equal(lean.pixels, whole.pixels)
    assert lean.filtered.maps.size == 0


def test_jobs_that_need_the_whole_image_are_not_banded(monkeypatch: pytest.MonkeyPatch) -> None:
    image = np.random.default_rng(5).integers(0, 256, (60, 50, 3), dtype=np.uint8)
    monkeypatch.setattr(filtering, "BAND_BYTES", 3000)
    for options in ({"map": "normalize"}, {"combine": "chain"}):
        kernel = get_builtin("sobel") if "combine" in options else get_builtin("sharpen")
        result = filter_image(image, kernel, keep_maps=False, **options)  # type: ignore[arg-type]
        assert result.filtered.maps.size > 0  # computed whole: the maps are there


@pytest.mark.parametrize("alpha", [False, True])
def test_a_float_sample_beyond_the_output_units_is_infinite_without_a_warning(
    alpha: bool,
) -> None:
    # 1e38 is a float32, 1e38 * 255 is not: it is taken as the infinite
    # sample it becomes (warnings are errors in the tests). From the fuzzer.
    shape = (8, 8, 2) if alpha else (8, 8)
    huge = np.full(shape, 0.5, np.float32)
    huge[3, 3] = 1e38
    infinite = huge.copy()
    infinite[3, 3] = np.inf
    results = [filter_image(image, get_builtin("sobel-x"), depth="8") for image in (huge, infinite)]
    np.testing.assert_array_equal(results[0].pixels, results[1].pixels)
    assert results[0].pixels.dtype == np.uint8
