"""The built-in catalogue: every matrix of KERNELS.md section 7, parameters, errors, orientation.

The derived filters (sobel, prewitt, scharr, roberts, kirsch) are checked
through ``filter_image`` in ``test_filtering.py``; their structure is here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray

from imgconv.core.catalog import (
    BUILTINS,
    did_you_mean,
    get_builtin,
    is_builtin,
)
from imgconv.core.convolve import correlate
from imgconv.core.kernel_builders import DIRECTIONS
from imgconv.core.kernels import Kernel
from imgconv.errors import KernelError

#: Compass names in clockwise order, starting from east (0 degrees).
CLOCKWISE = sorted(DIRECTIONS, key=DIRECTIONS.__getitem__)


def only_kernel(spec: str) -> Kernel:
    kernel_set = get_builtin(spec)
    assert len(kernel_set.kernels) == 1
    return kernel_set.kernels[0]


# name -> (weights as written, scale). KERNELS.md section 7, typed in from the table.
FIXED: dict[str, tuple[list[list[float]], float]] = {
    "identity": ([[0, 0, 0], [0, 1, 0], [0, 0, 0]], 1),
    "box": ([[1, 1, 1], [1, 1, 1], [1, 1, 1]], 9),
    "box:3": ([[1, 1, 1], [1, 1, 1], [1, 1, 1]], 9),
    "box:1": ([[1]], 1),
    "box:2": ([[1, 1], [1, 1]], 4),
    "gaussian": ([[1, 2, 1], [2, 4, 2], [1, 2, 1]], 16),
    "sharpen": ([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], 1),
    "edge-detect": ([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], 1),
    "laplacian": ([[0, 1, 0], [1, -4, 1], [0, 1, 0]], 1),
    "laplacian-8": ([[1, 1, 1], [1, -8, 1], [1, 1, 1]], 1),
    "edge-cross": ([[1, 0, -1], [0, 0, 0], [-1, 0, 1]], 1),
    "edge-enhance": ([[0, 0, 0], [-1, 1, 0], [0, 0, 0]], 1),
    "emboss": ([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], 1),
    "sobel-x": ([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], 1),
    "sobel-y": ([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], 1),
    "prewitt-x": ([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]], 1),
    "prewitt-y": ([[-1, -1, -1], [0, 0, 0], [1, 1, 1]], 1),
    "scharr-x": ([[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]], 1),
    "scharr-y": ([[-3, -10, -3], [0, 0, 0], [3, 10, 3]], 1),
    "roberts-x": ([[1, 0], [0, -1]], 1),
    "roberts-y": ([[0, 1], [-1, 0]], 1),
    # n as in the table, then rotated 45 degrees (one ring cell) clockwise per step.
    "kirsch:n": ([[5, 5, 5], [-3, 0, -3], [-3, -3, -3]], 1),
    "kirsch:ne": ([[-3, 5, 5], [-3, 0, 5], [-3, -3, -3]], 1),
    "kirsch:e": ([[-3, -3, 5], [-3, 0, 5], [-3, -3, 5]], 1),
    "kirsch:se": ([[-3, -3, -3], [-3, 0, 5], [-3, 5, 5]], 1),
    "kirsch:s": ([[-3, -3, -3], [-3, 0, -3], [5, 5, 5]], 1),
    "kirsch:sw": ([[-3, -3, -3], [5, 0, -3], [5, 5, -3]], 1),
    "kirsch:w": ([[5, -3, -3], [5, 0, -3], [5, -3, -3]], 1),
    "kirsch:nw": ([[5, 5, -3], [5, 0, -3], [-3, -3, -3]], 1),
}


@pytest.mark.parametrize("name", list(FIXED))
def test_fixed_builtin_matrix_and_scale(name: str) -> None:
    weights, scale = FIXED[name]
    kernel = only_kernel(name)
    np.testing.assert_array_equal(kernel.weights, weights)
    assert kernel.scale == scale
    assert kernel.bias == 0.0
    np.testing.assert_array_equal(kernel.matrix, np.array(weights, dtype=np.float64) / scale)
    assert kernel.origin == (kernel.shape[0] // 2, kernel.shape[1] // 2)


@pytest.mark.parametrize("n", [1, 2, 4, 5, 7, 21])
def test_box_n_is_n_by_n_ones_over_n_squared(n: int) -> None:
    kernel = only_kernel(f"box:{n}")
    np.testing.assert_array_equal(kernel.weights, np.ones((n, n)))
    assert kernel.scale == n * n
    np.testing.assert_array_equal(kernel.matrix, np.full((n, n), 1 / (n * n)))


def test_compass_names_are_angles_clockwise_from_east() -> None:
    """e is 0 degrees and each name 45 more, turning clockwise as the image is seen (y down)."""
    assert DIRECTIONS == {
        "e": 0, "se": 45, "s": 90, "sw": 135, "w": 180, "nw": 225, "n": 270, "ne": 315,
    }  # fmt: skip
    assert CLOCKWISE == ["e", "se", "s", "sw", "w", "nw", "n", "ne"]


@pytest.mark.parametrize("direction", CLOCKWISE)
def test_kirsch_direction_names_are_their_angles(direction: str) -> None:
    by_name = get_builtin(f"kirsch:{direction}")
    by_angle = get_builtin(f"kirsch:{DIRECTIONS[direction]}")
    np.testing.assert_array_equal(by_name.kernels[0].weights, by_angle.kernels[0].weights)
    np.testing.assert_array_equal(by_name.kernels[0].weights, FIXED[f"kirsch:{direction}"][0])


@pytest.mark.parametrize("step", range(8))
def test_each_kirsch_direction_is_the_previous_rotated_45_degrees_clockwise(step: int) -> None:
    """Rotating the outer ring one cell clockwise gives the next direction."""
    ring = [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0)]
    this = only_kernel(f"kirsch:{CLOCKWISE[step]}").weights
    following = only_kernel(f"kirsch:{CLOCKWISE[(step + 1) % 8]}").weights
    rotated = np.zeros((3, 3))
    for index, cell in enumerate(ring):
        rotated[ring[(index + 1) % 8]] = this[cell]
    np.testing.assert_array_equal(following, rotated)
    assert following.sum() == 0


def test_kirsch_direction_is_case_insensitive() -> None:
    np.testing.assert_array_equal(only_kernel("kirsch:NE").weights, FIXED["kirsch:ne"][0])


# -- generated kernels ---------------------------------------------------------------------------


def sampled_gaussian(sigma: float, size: int) -> NDArray[np.float64]:
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma**2))
    result: NDArray[np.float64] = g / g.sum()
    return result


def assert_symmetric(matrix: NDArray[np.float64]) -> None:
    """Symmetric under both mirrors and (square) transposition."""
    np.testing.assert_allclose(matrix, matrix[::-1, :], rtol=0, atol=1e-15)
    np.testing.assert_allclose(matrix, matrix[:, ::-1], rtol=0, atol=1e-15)
    np.testing.assert_allclose(matrix, matrix.T, rtol=0, atol=1e-15)


@pytest.mark.parametrize("sigma", [0.3, 0.5, 1.0, 1.5, 2.2, 4.0])
def test_gaussian_sigma(sigma: float) -> None:
    kernel = only_kernel(f"gaussian:{sigma}")
    side = 2 * math.ceil(3 * sigma) + 1
    assert kernel.shape == (side, side)
    assert kernel.matrix.sum() == pytest.approx(1.0, abs=1e-12)
    assert_symmetric(kernel.matrix)
    np.testing.assert_allclose(kernel.matrix, sampled_gaussian(sigma, side), rtol=1e-12, atol=0)
    assert kernel.matrix.argmax() == side * side // 2


@pytest.mark.parametrize(("sigma", "size"), [(1.0, 3), (2.0, 5), (0.5, 9), (1.0, 1)])
def test_gaussian_sigma_size(sigma: float, size: int) -> None:
    kernel = only_kernel(f"gaussian:{sigma},{size}")
    assert kernel.shape == (size, size)
    np.testing.assert_allclose(kernel.matrix, sampled_gaussian(sigma, size), rtol=1e-12, atol=0)


@pytest.mark.parametrize("spec", ["log:1", "log:0.8", "log:2", "log:1.5,7"])
def test_log_is_zero_sum_with_a_negative_centre(spec: str) -> None:
    matrix = only_kernel(spec).matrix
    kh, kw = matrix.shape
    assert kh == kw
    assert kh % 2 == 1
    if spec == "log:1.5,7":
        assert matrix.shape == (7, 7)
    assert abs(matrix.sum()) < 1e-12 * np.abs(matrix).sum()
    centre = matrix[kh // 2, kw // 2]
    assert centre < 0
    assert centre == matrix.min()
    assert_symmetric(matrix)
    assert matrix.max() > 0  # the positive ring of the Mexican hat


@pytest.mark.parametrize("spec", ["dog:1,2", "dog:2,1", "dog:0.5,1.5"])
def test_dog_is_zero_sum_and_symmetric(spec: str) -> None:
    matrix = only_kernel(spec).matrix
    assert abs(matrix.sum()) < 1e-12 * np.abs(matrix).sum()
    assert_symmetric(matrix)
    s1, s2 = (float(s) for s in spec.partition(":")[2].split(","))
    side = matrix.shape[0]
    np.testing.assert_allclose(
        matrix, sampled_gaussian(s1, side) - sampled_gaussian(s2, side), atol=1e-15
    )
    centre = matrix[side // 2, side // 2]
    assert (centre > 0) == (s1 < s2)


def test_motion_5_is_five_equal_weights_in_a_row() -> None:
    kernel = only_kernel("motion:5")
    np.testing.assert_allclose(kernel.matrix, [[0.2] * 5], rtol=1e-15)


@pytest.mark.parametrize(
    ("angle", "shape"), [(90, (5, 1)), (270, (5, 1)), (180, (1, 5)), (0, (1, 5))]
)
def test_motion_angle_90_is_vertical(angle: int, shape: tuple[int, int]) -> None:
    kernel = only_kernel(f"motion:5,{angle}")
    np.testing.assert_allclose(kernel.matrix, np.full(shape, 0.2), rtol=1e-12)


@pytest.mark.parametrize(
    "spec", ["motion:1", "motion:3,45", "motion:7,30", "motion:4", "motion:9,-60"]
)
def test_motion_sums_to_one_and_is_point_symmetric(spec: str) -> None:
    matrix = only_kernel(spec).matrix
    assert matrix.sum() == pytest.approx(1.0, abs=1e-12)
    assert (matrix >= 0).all()
    np.testing.assert_allclose(matrix, matrix[::-1, ::-1], atol=1e-15)


def test_motion_angle_is_clockwise() -> None:
    """45 degrees runs from top-left to bottom-right as seen (y down); 135 is its mirror image."""
    m45 = only_kernel("motion:3,45").matrix
    m135 = only_kernel("motion:3,135").matrix
    assert m45[0, 0] > m45[0, -1]
    assert m45[-1, -1] > m45[-1, 0]
    np.testing.assert_allclose(m135, m45[:, ::-1], atol=1e-12)
    # A line has no direction: -45 (up and to the right) is the same line as 135.
    np.testing.assert_allclose(only_kernel("motion:3,-45").matrix, m135, atol=1e-12)


@pytest.mark.parametrize("direction", CLOCKWISE)
def test_motion_takes_a_compass_name_for_its_angle(direction: str) -> None:
    by_name = only_kernel(f"motion:5,{direction}").matrix
    by_angle = only_kernel(f"motion:5,{DIRECTIONS[direction]}").matrix
    np.testing.assert_array_equal(by_name, by_angle)


@pytest.mark.parametrize(
    ("spec", "sigma", "amount"),
    [("unsharp", 1.0, 1.0), ("unsharp:2", 2.0, 1.0), ("unsharp:0.5,2.5", 0.5, 2.5)],
)
def test_unsharp_is_input_plus_amount_times_input_minus_blur(
    spec: str, sigma: float, amount: float
) -> None:
    matrix = only_kernel(spec).matrix
    side = 2 * math.ceil(3 * sigma) + 1
    identity = np.zeros((side, side))
    identity[side // 2, side // 2] = 1
    expected = identity + amount * (identity - sampled_gaussian(sigma, side))
    np.testing.assert_allclose(matrix, expected, rtol=0, atol=1e-15)
    assert matrix.sum() == pytest.approx(1.0, abs=1e-12)


# -- derived sets -------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["sobel", "prewitt", "scharr", "roberts"])
def test_gradient_magnitude_sets(family: str) -> None:
    kernel_set = get_builtin(family)
    assert kernel_set.combine == "magnitude"
    assert len(kernel_set.kernels) == 2
    for kernel, part in zip(kernel_set.kernels, ("x", "y"), strict=True):
        np.testing.assert_array_equal(kernel.matrix, only_kernel(f"{family}-{part}").matrix)


def test_kirsch_without_direction_is_the_max_over_eight() -> None:
    kernel_set = get_builtin("kirsch")
    assert kernel_set.combine == "max"
    assert [k.name for k in kernel_set.kernels] == [f"kirsch:{a}" for a in range(0, 360, 45)]
    for kernel, direction in zip(kernel_set.kernels, CLOCKWISE, strict=True):
        np.testing.assert_array_equal(kernel.weights, FIXED[f"kirsch:{direction}"][0])


def test_every_required_name_is_in_the_catalogue() -> None:
    required = {
        "identity", "box", "gaussian", "sharpen", "edge-detect", "laplacian", "laplacian-8",
        "edge-cross", "edge-enhance", "emboss", "sobel-x", "sobel-y", "prewitt-x", "prewitt-y",
        "scharr-x", "scharr-y", "roberts-x", "roberts-y", "kirsch", "log", "dog", "motion",
        "unsharp", "sobel", "prewitt", "scharr",
    }  # fmt: skip
    assert required <= set(BUILTINS)


@pytest.mark.parametrize("name", list(BUILTINS))
def test_every_builtin_has_a_summary(name: str) -> None:
    assert BUILTINS[name].summary
    assert BUILTINS[name].name == name


def test_set_is_named_after_the_spec_as_given() -> None:
    kernel_set = get_builtin(" Box:5 ")
    assert kernel_set.name == "Box:5"
    assert kernel_set.description == BUILTINS["box"].summary
    assert kernel_set.kernels[0].shape == (5, 5)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("sobel-x", True), ("box:5", True), ("GAUSSIAN:1", True), ("sobelx", False)],
)
def test_is_builtin(spec: str, expected: bool) -> None:
    assert is_builtin(spec) is expected


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("box:0", "box: N '0' is not a whole number >= 1"),
        ("box:2.5", "box: N '2.5' is not a whole number >= 1"),
        ("box:3,3", "box takes [N]; got '3,3'"),
        ("gaussian:-1", "gaussian: SIGMA '-1' is not a positive number"),
        ("gaussian:0", "gaussian: SIGMA '0' is not a positive number"),
        ("gaussian:abc", "gaussian: SIGMA 'abc' is not a positive number"),
        ("gaussian:1,4", "gaussian: SIZE '4' is not an odd whole number >= 1"),
        ("gaussian:1,0", "gaussian: SIZE '0' is not an odd whole number >= 1"),
        (
            "kirsch:up",
            "kirsch: ANGLE 'up' is not an angle in degrees or a direction (e se s sw w nw n ne)",
        ),
        ("kirsch:10", "kirsch turns in steps of 45 degrees; got 10"),
        ("kirsch:n,e", "kirsch takes [ANGLE|DIR|@|>]; got 'n,e'"),
        ("dog:1,1", "dog: S1 and S2 are both 1; a difference of equal Gaussians is all zeros"),
        ("dog:1", "dog takes S1,S2; got '1'"),
        ("log", "log takes SIGMA[,SIZE]; got 'nothing'"),
        ("identity:3", "identity takes no parameters; got '3'"),
        ("sobel:2", "sobel turns in steps of 45 degrees; got 2"),
        ("sobel:1,2", "sobel takes [ANGLE|DIR|@|>]; got '1,2'"),
        ("motion:0.5", "motion: LENGTH '0.5' is below 1 pixel"),
        (
            "motion:5,east",
            "motion: ANGLE 'east' is not an angle in degrees or a direction (e se s sw w nw n ne)",
        ),
        ("unsharp:1,nan", "unsharp: AMOUNT 'nan' is not a number"),
        ("box:2000", "box would be 2000x2000; the largest generated kernel is 1025x1025"),
        ("gaussian:200", "gaussian would be 1201x1201; the largest generated kernel is 1025x1025"),
        # Sides of many digits.
        *(
            (
                spec,
                f"{spec.split(':')[0]} would be over 1000000x1000000; the largest generated "
                "kernel is 1025x1025",
            )
            for spec in (
                "gaussian:999999",
                "unsharp:999999",
                "log:999999",
                "dog:1,999999",
                "disk:1e308",
                "diamond:1e300",
                "motion:1e308",
                "box:99999999999999999999999",
            )
        ),
        ("diamond:600", "diamond would be 1201x1201; the largest generated kernel is 1025x1025"),
        *(
            (
                spec,
                f"{spec.split(':')[0]}: {what} {text!r} is above 1e+06; a Gaussian that wide is "
                "a box over any kernel size",
            )
            for spec, what, text in (
                ("gaussian:1e200,5", "SIGMA", "1e200"),
                ("gaussian:1e308", "SIGMA", "1e308"),
                ("log:1e200,5", "SIGMA", "1e200"),
                ("unsharp:1.5e6", "SIGMA", "1.5e6"),
                ("dog:1,1e200", "S2", "1e200"),
            )
        ),
        (
            "sobelx",
            "'sobelx' is not a built-in kernel; did you mean 'sobel-x', 'sobel', 'sobel-y'?",
        ),
        ("laplace", "'laplace' is not a built-in kernel; did you mean 'laplacian', 'laplacian-8'?"),
        ("zzzz", "'zzzz' is not a built-in kernel"),
    ],
)
def test_bad_builtin_specs(spec: str, message: str) -> None:
    with pytest.raises(KernelError) as info:
        get_builtin(spec)
    assert str(info.value) == message


def test_did_you_mean() -> None:
    assert did_you_mean("gausian") == "; did you mean 'gaussian'?"
    assert did_you_mean("kirsh:n") == "; did you mean 'kirsch'?"
    assert did_you_mean("qqqq") == ""


# -- 5. orientation -----------------------------------------------------------------------------

XY_DERIVATIVES = [
    n for n in list(BUILTINS) if n.endswith(("-x", "-y")) and not n.startswith("roberts")
]


def test_the_axis_derivatives_are_the_expected_six() -> None:
    assert sorted(XY_DERIVATIVES) == sorted(
        ["sobel-x", "sobel-y", "prewitt-x", "prewitt-y", "scharr-x", "scharr-y"]
    )


def step(direction: str, size: int = 8) -> NDArray[np.float64]:
    """Dark (0) to bright (1): ``right`` brightens left to right, ``down`` top to bottom."""
    image = np.zeros((size, size))
    if direction == "right":
        image[:, size // 2 :] = 1
    else:
        image[size // 2 :, :] = 1
    return image


@pytest.mark.parametrize("name", XY_DERIVATIVES)
@pytest.mark.parametrize("method", ["direct", "fft"])
def test_orientation_rule_on_a_left_to_right_step(name: str, method: str) -> None:
    """*-x is positive where brightness rises left to right; *-y is zero there."""
    out = correlate(step("right"), only_kernel(name), method=method)  # type: ignore[arg-type]
    edge, flat = out[:, 3:5], np.delete(out, [3, 4], axis=1)
    np.testing.assert_allclose(flat, 0, atol=1e-12)
    if name.endswith("-x"):
        assert (edge > 0.5).all()
    else:
        np.testing.assert_allclose(edge, 0, atol=1e-12)
    falling = correlate(1 - step("right"), only_kernel(name), method=method)  # type: ignore[arg-type]
    np.testing.assert_allclose(falling, -out, atol=1e-12)


@pytest.mark.parametrize("name", XY_DERIVATIVES)
def test_orientation_rule_on_a_top_to_bottom_step(name: str) -> None:
    """*-y is positive where brightness rises top to bottom; *-x is zero there."""
    out = correlate(step("down"), only_kernel(name))
    edge, flat = out[3:5, :], np.delete(out, [3, 4], axis=0)
    np.testing.assert_array_equal(flat, 0)
    if name.endswith("-y"):
        assert (edge > 0).all()
    else:
        np.testing.assert_array_equal(edge, 0)


@pytest.mark.parametrize("family", ["sobel", "prewitt", "scharr"])
def test_x_and_y_responses_are_equal_on_matching_ramps(family: str) -> None:
    """On a unit ramp, x on a horizontal ramp equals y on the vertical one (8 for Sobel)."""
    ramp = np.tile(np.arange(8.0), (8, 1))
    gx = correlate(ramp, only_kernel(f"{family}-x"))[2:-2, 2:-2]
    gy = correlate(ramp.T, only_kernel(f"{family}-y"))[2:-2, 2:-2]
    np.testing.assert_array_equal(gx, gy)
    expected = {"sobel": 8.0, "prewitt": 6.0, "scharr": 32.0}[family]
    np.testing.assert_array_equal(gx, expected)


def diagonal_step(bright_towards: str, size: int = 8) -> NDArray[np.float64]:
    """A step whose bright side faces a corner: ``nw``, ``ne``, ``se`` or ``sw``."""
    rows, cols = np.mgrid[0:size, 0:size]
    rows_up = (size - 1) - rows
    score = {
        "se": rows + cols,
        "nw": rows_up + (size - 1 - cols),
        "ne": rows_up + cols,
        "sw": rows + (size - 1 - cols),
    }[bright_towards]
    return (score > size - 1).astype(np.float64)


def test_roberts_orientation() -> None:
    """Roberts kernels are diagonal differences, so the x/y rule does not apply literally.

    With the normative matrices applied as written (anchor (1, 1)),
    ``roberts-x`` = in[i-1, j-1] - in[i, j] (top-left minus bottom-right) and
    ``roberts-y`` = in[i-1, j] - in[i, j-1] (top-right minus bottom-left).
    The sensible reading of the rule for them: each is a derivative along
    one diagonal, responds to steps across that diagonal with a definite
    sign, and is zero on steps along it. The signs pinned here are the ones
    the table's matrices give: roberts-x is positive where brightness rises
    towards the top-left, roberts-y where it rises towards the top-right.
    (That makes roberts-x *negative* on a left-to-right rise, unlike every
    ``*-x`` above; see the report on the section 7 table.)
    """
    rx, ry = only_kernel("roberts-x"), only_kernel("roberts-y")
    for bright, sign_x, sign_y in [("nw", 1, 0), ("se", -1, 0), ("ne", 0, 1), ("sw", 0, -1)]:
        image = diagonal_step(bright)
        for kernel, sign in ((rx, sign_x), (ry, sign_y)):
            out = correlate(image, kernel)[1:, 1:]  # row 0 and column 0 see the edge border
            if sign == 0:
                np.testing.assert_array_equal(out, 0)
            else:
                assert (sign * out >= 0).all()
                assert (sign * out).max() == 1
    # Axis-aligned unit steps: both respond with magnitude 1 at the edge, so the
    # roberts magnitude treats horizontal and vertical edges alike.
    for direction in ("right", "down"):
        out_x = correlate(step(direction), rx)
        out_y = correlate(step(direction), ry)
        assert np.abs(out_x).max() == 1
        assert np.abs(out_y).max() == 1
    np.testing.assert_array_equal(correlate(step("right"), rx)[:, 4], -1)
    np.testing.assert_array_equal(correlate(step("down"), rx)[4, :], -1)


COMPASS = {
    "n": (0, -1), "ne": (1, -1), "e": (1, 0), "se": (1, 1),
    "s": (0, 1), "sw": (-1, 1), "w": (-1, 0), "nw": (-1, -1),
}  # fmt: skip


@pytest.mark.parametrize("direction", CLOCKWISE)
def test_kirsch_responds_most_where_the_bright_side_faces_its_direction(direction: str) -> None:
    """kirsch:e is positive where the bright side is to the east (right), and so on for all 8."""
    dx, dy = COMPASS[direction]
    rows, cols = np.mgrid[0:9, 0:9]
    image = ((dx * (cols - 4) + dy * (rows - 4)) > 0).astype(np.float64)
    responses = np.stack([correlate(image, only_kernel(f"kirsch:{d}")) for d in CLOCKWISE])
    near_edge = np.abs(responses).max(axis=0) > 0
    assert near_edge.any()
    own = responses[CLOCKWISE.index(direction)]
    assert (own[near_edge] > 0).all()
    assert (own[near_edge] >= responses[:, near_edge].max(axis=0)).all()
    opposite = responses[(CLOCKWISE.index(direction) + 4) % 8]
    assert (opposite[near_edge] < 0).all()
    np.testing.assert_array_equal(own[~near_edge], 0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "gaussian:0.01",
            "gaussian: SIGMA '0.01' is below 0.05; a Gaussian that narrow is the identity kernel",
        ),
        (
            "log:1e-200",
            "log: SIGMA '1e-200' is below 0.05; a Gaussian that narrow is the identity kernel",
        ),
        (
            "dog:1,0.01",
            "dog: S2 '0.01' is below 0.05; a Gaussian that narrow is the identity kernel",
        ),
        ("box:", "box: nothing follows ':'; expected [N] (or no colon)"),
        ("sharpen:", "sharpen: nothing follows ':'; expected no parameters (or no colon)"),
    ],
)
def test_tiny_sigmas_and_empty_parameters(spec: str, message: str) -> None:
    with pytest.raises(KernelError) as caught:
        get_builtin(spec)
    assert str(caught.value) == message


@pytest.mark.parametrize("spec", ["gaussian:1e6,5", "log:1e6,5", "disk:512.5", "box:1025"])
def test_limits_are_inclusive(spec: str) -> None:
    # The largest sigma, radius and side are still built, finite and not all zero.
    weights = only_kernel(spec).weights
    assert np.isfinite(weights).all()
    assert weights.any()
    assert max(weights.shape) <= 1025


@pytest.mark.parametrize("size", [512, 513, 1025])
def test_large_binomials_are_finite_and_normalised(size: int) -> None:
    # binomial:1025 overflowed (Pascal's row squared) and was refused as "a weight inf".
    kernel = only_kernel(f"binomial:{size}")
    weights = kernel.weights / kernel.scale
    assert np.isfinite(weights).all()
    assert math.isclose(weights.sum(), 1.0, rel_tol=1e-12)
    middle = math.ldexp(math.comb(size - 1, (size - 1) // 2), 1 - size)
    assert math.isclose(weights[size // 2, size // 2], middle**2, rel_tol=1e-12)
