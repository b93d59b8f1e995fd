"""``Kernel`` and ``KernelSet`` as values: validation, flip, normalize, scale and bias.

KERNELS.md sections 1 (flip about the anchor), 4 (normalize) and 6 (a scale
divides, a bias is added after scaling).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from imgconv.core.catalog import get_builtin
from imgconv.core.kernels import COMBINES, Kernel, KernelSet, kernels_of
from imgconv.errors import KernelError, UsageError

K123 = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_weights_are_kept_as_written_and_divided_by_scale() -> None:
    kernel = Kernel([[1, 2, 1], [2, 4, 2], [1, 2, 1]], scale=16, bias=3, name="gaussian")
    np.testing.assert_array_equal(kernel.weights, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    np.testing.assert_array_equal(kernel.matrix, np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16)
    assert kernel.matrix.sum() == 1.0
    assert (kernel.scale, kernel.bias, kernel.name, kernel.shape) == (16.0, 3.0, "gaussian", (3, 3))
    assert repr(kernel) == "Kernel('gaussian', 3x3, scale=16, bias=3)"


def test_weights_are_read_only() -> None:
    kernel = Kernel(K123)
    with pytest.raises(ValueError, match="read-only"):
        kernel.weights[0, 0] = 100


def test_weights_are_copied() -> None:
    source = np.array(K123, dtype=np.float64)
    kernel = Kernel(source)
    source[0, 0] = 100
    assert kernel.weights[0, 0] == 1


@pytest.mark.parametrize(
    ("shape", "origin"), [((3, 3), (1, 1)), ((2, 2), (1, 1)), ((4, 2), (2, 1)), ((1, 5), (0, 2))]
)
def test_default_origin_is_kh_over_2_kw_over_2(
    shape: tuple[int, int], origin: tuple[int, int]
) -> None:
    assert Kernel(np.ones(shape)).origin == origin
    assert Kernel(np.ones(shape)).anchor is None


def test_flipped_rotates_180_degrees_about_the_anchor() -> None:
    kernel = Kernel(K123, scale=2, bias=1, name="k")
    flipped = kernel.flipped()
    np.testing.assert_array_equal(flipped.weights, [[9, 8, 7], [6, 5, 4], [3, 2, 1]])
    assert flipped.origin == (1, 1)
    assert (flipped.scale, flipped.bias, flipped.name) == (2.0, 1.0, "k")


@pytest.mark.parametrize(
    ("shape", "anchor", "flipped_anchor"),
    [
        ((2, 2), None, (0, 0)),
        ((4, 2), None, (1, 0)),
        ((3, 3), (0, 0), (2, 2)),
        ((2, 5), (1, 1), (0, 3)),
    ],
)
def test_flipped_anchor(
    shape: tuple[int, int], anchor: tuple[int, int] | None, flipped_anchor: tuple[int, int]
) -> None:
    """The anchor cell moves with the rotation: (a_y, a_x) -> (kh-1-a_y, kw-1-a_x)."""
    assert Kernel(np.ones(shape), anchor=anchor).flipped().origin == flipped_anchor


def test_flipping_twice_is_the_original() -> None:
    kernel = Kernel(np.arange(8.0).reshape(4, 2), anchor=(3, 0))
    twice = kernel.flipped().flipped()
    np.testing.assert_array_equal(twice.weights, kernel.weights)
    assert twice.origin == kernel.origin


@pytest.mark.parametrize(
    ("weights", "divisor"),
    [
        ([[1, 2, 1]], 4.0),  # positive sum: divide by the sum
        ([[1, 1], [1, 1]], 4.0),
        ([[-1, -1]], -2.0),  # a negative sum too, so a flat area keeps its brightness
        ([[-2, 0, 2]], 2.0),  # zero-sum: divide by the positive part
        ([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], 8.0),
        ([[0, 1, 0], [1, -4, 1], [0, 1, 0]], 4.0),
        ([[1, 0, -1], [0, 0, 0], [-1, 0, 1]], 2.0),
    ],
)
def test_normalized(weights: list[list[float]], divisor: float) -> None:
    kernel = Kernel(weights, scale=7, bias=5).normalized()
    np.testing.assert_array_equal(kernel.weights, weights)
    assert kernel.scale == divisor
    assert kernel.bias == 5.0
    if sum(map(sum, weights)) != 0:
        assert kernel.matrix.sum() == pytest.approx(1.0)
    else:
        assert kernel.matrix[kernel.matrix > 0].sum() == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["log:1", "log:2.5", "dog:1,2", "laplacian", "sobel-x"])
def test_normalizing_zero_sum_builtins_scales_the_positive_part_to_one(name: str) -> None:
    """Generated zero-sum kernels carry a ~1e-17 residue; it must not be divided by."""
    kernel = get_builtin(name).kernels[0].normalized()
    assert np.isfinite(kernel.matrix).all()
    assert kernel.matrix[kernel.matrix > 0].sum() == pytest.approx(1.0, rel=1e-12)


def test_normalizing_an_all_zero_kernel_is_an_error() -> None:
    with pytest.raises(KernelError) as info:
        Kernel([[0, 0], [0, 0]], name="blank").normalized()
    assert str(info.value) == "kernel 'blank' is all zeros; it cannot be normalized"


@pytest.mark.parametrize(
    ("weights", "divisor"),
    [
        ([[1e308, 1e308, -1e308]], 1e308),  # the pairs overflow, the sum does not
        ([[1e308, 0, -1e308]], 1e308),  # zero sum (|weights| overflow): the positive part
    ],
)
def test_normalizing_weights_near_the_largest_float(
    weights: list[list[float]], divisor: float
) -> None:
    """Found by the fuzzer: NumPy's sum overflowed (a warning on stderr) though the sum fits."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Kernel(weights).normalized().scale == divisor


@pytest.mark.parametrize("weights", [[[1e308, 1e308]], [[-1e308, -1e308, 5]]])
def test_normalizing_weights_that_sum_beyond_a_float_is_an_error(
    weights: list[list[float]],
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(KernelError) as info:
            Kernel(weights, name="huge").normalized()
    assert str(info.value) == (
        "kernel 'huge' cannot be normalized: its weights sum beyond the range of a 64-bit float"
    )


def test_with_values_replaces_only_what_is_given() -> None:
    kernel = Kernel(K123, scale=3, bias=2, anchor=(0, 1), name="k")
    changed = kernel.with_values(scale=9)
    assert (changed.scale, changed.bias, changed.anchor, changed.name) == (9.0, 2.0, (0, 1), "k")
    renamed = kernel.with_values(bias=0, name="j")
    assert (renamed.scale, renamed.bias, renamed.name) == (3.0, 0.0, "j")
    np.testing.assert_array_equal(renamed.weights, K123)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": [1, 2, 3]}, "kernel 'kernel' has shape (3,); expected a non-empty 2-D matrix"),
        (
            {"weights": np.zeros((0, 3))},
            "kernel 'kernel' has shape (0, 3); expected a non-empty 2-D matrix",
        ),
        (
            {"weights": np.zeros((2, 2, 2))},
            "kernel 'kernel' has shape (2, 2, 2); expected a non-empty 2-D matrix",
        ),
        (
            {"weights": [[1]], "scale": 0},
            "kernel 'kernel' has scale 0; expected a finite, non-zero divisor",
        ),
        (
            {"weights": [[1]], "scale": float("inf"), "name": "k"},
            "kernel 'k' has scale inf; expected a finite, non-zero divisor",
        ),
        (
            {"weights": [[1]], "bias": float("nan")},
            "kernel 'kernel' has bias nan; expected a finite number",
        ),
        (
            {"weights": [[1, 2]], "anchor": (1, 0)},
            "anchor 1,0 is outside the 1x2 kernel 'kernel'; expected 0..0,0..1",
        ),
        (
            {"weights": [[1, 2]], "anchor": (0, -1)},
            "anchor 0,-1 is outside the 1x2 kernel 'kernel'; expected 0..0,0..1",
        ),
    ],
)
def test_bad_kernels(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(KernelError) as info:
        Kernel(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weight_is_named_plainly(bad: float) -> None:
    """The message names the value as a user would write it, not as a NumPy repr."""
    with pytest.raises(KernelError) as info:
        Kernel([[1.0, bad]])
    assert str(info.value) == f"kernel 'kernel' has a weight {bad}; expected finite numbers"


@pytest.mark.parametrize("weights", [[["a"]], [[1, 2], [3]]])
def test_non_numeric_weights(weights: object) -> None:
    with pytest.raises(KernelError, match=r"^kernel 'kernel' is not a matrix of numbers: "):
        Kernel(weights)  # type: ignore[arg-type]


def test_kernel_errors_are_usage_errors() -> None:
    assert issubclass(KernelError, UsageError)
    assert KernelError("x").exit_code == 2


# -- KernelSet ------------------------------------------------------------------------------------


def test_single_set() -> None:
    kernel = Kernel(K123, name="k")
    kernel_set = KernelSet.single(kernel, "one")
    assert kernel_set.name == "k"
    assert kernel_set.kernels == (kernel,)
    assert (kernel_set.combine, kernel_set.bias, kernel_set.description) == (None, 0.0, "one")


def test_empty_set_and_unknown_combine() -> None:
    with pytest.raises(KernelError) as info:
        KernelSet("nothing", ())
    assert str(info.value) == "kernel set 'nothing' is empty"
    with pytest.raises(KernelError) as info:
        KernelSet("x", (Kernel([[1]]),), combine="mean")  # type: ignore[arg-type]
    assert (
        str(info.value)
        == "unknown combine 'mean'; expected one of magnitude, max, min, sum, stack, chain"
    )
    assert COMBINES == ("magnitude", "max", "min", "sum", "stack", "chain")


def test_with_bias_moves_every_bias_to_the_set() -> None:
    kernel_set = KernelSet("s", (Kernel([[1]], bias=4), Kernel([[2]], bias=6)), "max", bias=1)
    moved = kernel_set.with_bias(10)
    assert moved.bias == 10.0
    assert [k.bias for k in moved.kernels] == [0.0, 0.0]
    assert moved.combine == "max"


def test_map_kernels() -> None:
    kernel_set = KernelSet("s", (Kernel([[1]]), Kernel([[2]])))
    scaled = kernel_set.map_kernels(lambda k: k.with_values(scale=4))
    assert [k.scale for k in scaled.kernels] == [4.0, 4.0]
    assert [k.scale for k in kernel_set.kernels] == [1.0, 1.0]


def test_kernels_of_accepts_sets_kernels_and_matrices() -> None:
    kernel_set = KernelSet("s", (Kernel([[1]]),))
    assert kernels_of(kernel_set) is kernel_set
    kernel = Kernel(K123)
    assert kernels_of(kernel).kernels == (kernel,)
    from_matrix = kernels_of(K123)
    assert len(from_matrix.kernels) == 1
    np.testing.assert_array_equal(from_matrix.kernels[0].weights, K123)
