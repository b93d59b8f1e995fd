"""Geometry planning: padding amounts, the output-size formula and its errors.

KERNELS.md section 2. The same formula is checked against the arrays
``correlate`` actually returns in ``test_convolve.py``.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgconv.core.geometry import output_length, plan
from imgconv.core.vocab import Padding
from imgconv.errors import GeometryError, UsageError


def spec_pads(
    padding: str | int | tuple[int, ...],
    kernel: tuple[int, int],
    dilation: tuple[int, int],
    anchor: tuple[int, int],
) -> tuple[int, int, int, int]:
    """The (T, B, L, R) KERNELS.md section 2 implies, written out independently."""
    (kh, kw), (dy, dx), (ay, ax) = kernel, dilation, anchor
    if padding == "same":
        return dy * ay, dy * (kh - 1 - ay), dx * ax, dx * (kw - 1 - ax)
    if padding == "valid":
        return 0, 0, 0, 0
    if padding == "full":
        return dy * (kh - 1), dy * (kh - 1), dx * (kw - 1), dx * (kw - 1)
    if isinstance(padding, int):
        return padding, padding, padding, padding
    assert isinstance(padding, tuple)
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    top, bottom, left, right = padding
    return top, bottom, left, right


def spec_length(n: int, k: int, before: int, after: int, s: int, d: int) -> int:
    """``floor((H + T + B - d*(kh-1) - 1) / s) + 1``, in exact rational arithmetic."""
    return math.floor((n + before + after - d * (k - 1) - 1) / s) + 1


paddings = st.one_of(
    st.sampled_from(["same", "valid", "full"]),
    st.integers(0, 4),
    st.tuples(st.integers(0, 4), st.integers(0, 4)),
    st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(0, 4), st.integers(0, 4)),
)
pairs = st.tuples(st.integers(1, 4), st.integers(1, 4))


@settings(max_examples=300)
@given(
    in_shape=st.tuples(st.integers(1, 20), st.integers(1, 20)),
    kernel=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    padding=paddings,
    stride=pairs,
    dilation=pairs,
)
def test_output_size_formula(
    in_shape: tuple[int, int],
    kernel: tuple[int, int],
    padding: str | int | tuple[int, ...],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> None:
    """plan's out_shape is the spec's formula, or a GeometryError when it is below 1."""
    anchor = (kernel[0] // 2, kernel[1] // 2)
    top, bottom, left, right = spec_pads(padding, kernel, dilation, anchor)
    expected = (
        spec_length(in_shape[0], kernel[0], top, bottom, stride[0], dilation[0]),
        spec_length(in_shape[1], kernel[1], left, right, stride[1], dilation[1]),
    )
    if min(expected) < 1:
        with pytest.raises(GeometryError, match="is larger than the padded input"):
            plan(in_shape, kernel, padding=padding, stride=stride, dilation=dilation)
        return
    geometry = plan(in_shape, kernel, padding=padding, stride=stride, dilation=dilation)
    assert geometry.out_shape == expected
    assert geometry.pads == (top, bottom, left, right)
    assert geometry.anchor == anchor
    assert geometry.padded_shape == (in_shape[0] + top + bottom, in_shape[1] + left + right)
    if padding == "same":
        assert expected == (-(-in_shape[0] // stride[0]), -(-in_shape[1] // stride[1]))
        assert geometry.out_shape == (
            math.ceil(in_shape[0] / stride[0]),
            math.ceil(in_shape[1] / stride[1]),
        )


@settings(max_examples=100)
@given(
    in_shape=st.tuples(st.integers(1, 20), st.integers(1, 20)),
    kernel=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    dilation=pairs,
    data=st.data(),
)
def test_same_padding_keeps_the_size_for_any_anchor(
    in_shape: tuple[int, int],
    kernel: tuple[int, int],
    dilation: tuple[int, int],
    data: st.DataObject,
) -> None:
    anchor = (
        data.draw(st.integers(0, kernel[0] - 1)),
        data.draw(st.integers(0, kernel[1] - 1)),
    )
    geometry = plan(in_shape, kernel, padding="same", dilation=dilation, anchor=anchor)
    assert geometry.out_shape == in_shape
    assert geometry.pads == spec_pads("same", kernel, dilation, anchor)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((7, 3, 0, 0, 1, 1), 5),  # seed slides, 7 x 7 image, 3 x 3 detector
        ((64, 5, 2, 2, 1, 1), 64),  # section 8 example 4, padding 2
        ((64, 5, 0, 0, 1, 1), 60),  # section 8 example 4, no padding
        ((7, 3, 0, 0, 2, 1), 3),  # (W - F + 2P)/S + 1 = (7 - 3)/2 + 1
        ((10, 3, 1, 1, 3, 1), 4),  # floor(9 / 3) + 1
        ((10, 3, 0, 0, 1, 2), 6),  # dilated reach 5
        ((3, 5, 0, 0, 1, 1), -1),  # does not fit: below 1, reported by plan
    ],
)
def test_output_length_examples(args: tuple[int, ...], expected: int) -> None:
    assert output_length(*args) == expected


@pytest.mark.parametrize(
    ("kwargs", "pads", "out_shape"),
    [
        ({"padding": "valid"}, (0, 0, 0, 0), (6, 7)),
        ({"padding": "full"}, (2, 2, 3, 3), (10, 13)),
        ({"padding": "same"}, (1, 1, 2, 1), (8, 10)),  # 3x4 kernel, anchor (1, 2)
        ({"padding": "same", "anchor": (0, 0)}, (0, 2, 0, 3), (8, 10)),
        ({"padding": "same", "anchor": "2,3"}, (2, 0, 3, 0), (8, 10)),
        ({"padding": "same", "dilation": 2}, (2, 2, 4, 2), (8, 10)),
        ({"padding": "full", "dilation": (2, 1)}, (4, 4, 3, 3), (12, 13)),
        ({"padding": 1, "stride": 2}, (1, 1, 1, 1), (4, 5)),
        ({"padding": "1,2,3,4", "stride": (3, 2)}, (1, 2, 3, 4), (3, 7)),
        ({"padding": "same", "stride": 3}, (1, 1, 2, 1), (3, 4)),
    ],
)
def test_plan_pads_and_sizes(
    kwargs: dict[str, object], pads: tuple[int, ...], out_shape: tuple[int, int]
) -> None:
    """An 8x10 image and a 3x4 kernel (even width: anchor column 4 // 2 = 2)."""
    geometry = plan((8, 10), (3, 4), **kwargs)  # type: ignore[arg-type]
    assert geometry.pads == pads
    assert geometry.out_shape == out_shape


def test_plan_accepts_a_padding_object() -> None:
    assert plan((5, 5), (3, 3), padding=Padding("explicit", 1, 0, 0, 1)).out_shape == (4, 4)


def test_geometry_reach_and_taps() -> None:
    geometry = plan((9, 9), (3, 3), padding="valid", stride=2, dilation=(1, 3))
    assert geometry.reach == (3, 7)
    assert geometry.out_shape == (4, 2)
    rows, cols = geometry.tap(2, 1)
    assert (rows.start, rows.stop, rows.step) == (2, 9, 2)
    assert (cols.start, cols.stop, cols.step) == (3, 6, 2)


# -- errors name the numbers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("in_shape", "kernel", "kwargs", "message"),
    [
        (
            (3, 3),
            (5, 5),
            {"padding": "valid"},
            "the 5x5 kernel (reach 5x5 with dilation 1,1) is larger than the padded input, "
            "3 rows by 3 columns (3 by 3 before padding valid)",
        ),
        (
            (10, 10),
            (3, 3),
            {"padding": "valid", "dilation": 5},
            "the 3x3 kernel (reach 11x11 with dilation 5,5) is larger than the padded input, "
            "10 rows by 10 columns (10 by 10 before padding valid)",
        ),
        (
            (4, 6),
            (7, 3),
            {"padding": (1, 1, 0, 0)},
            "the 7x3 kernel (reach 7x3 with dilation 1,1) is larger than the padded input, "
            "6 rows by 6 columns (4 by 6 before padding 1,1,0,0)",
        ),
    ],
)
def test_kernel_larger_than_padded_input(
    in_shape: tuple[int, int], kernel: tuple[int, int], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(GeometryError) as info:
        plan(in_shape, kernel, **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message
    assert info.value.exit_code == 2


def test_kernel_that_just_fits_gives_one_pixel() -> None:
    assert plan((2, 2), (3, 3), padding=(0, 1, 0, 1)).out_shape == (1, 1)
    assert plan((5, 5), (3, 3), padding="valid", dilation=2).out_shape == (1, 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stride": 0}, "stride 0 is below 1; expected whole numbers >= 1"),
        ({"stride": (1, 0)}, "stride (1, 0) is below 1; expected whole numbers >= 1"),
        ({"dilation": 0}, "dilation 0 is below 1; expected whole numbers >= 1"),
        ({"dilation": "0"}, "dilation '0' is below 1; expected whole numbers >= 1"),
        ({"anchor": (3, 0)}, "anchor 3,0 is outside the 3x3 kernel; expected 0..2,0..2"),
        ({"anchor": (0, -1)}, "anchor 0,-1 is outside the 3x3 kernel; expected 0..2,0..2"),
    ],
)
def test_bad_stride_dilation_anchor(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(GeometryError) as info:
        plan((10, 10), (3, 3), **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("in_shape", "kernel", "message"),
    [
        (
            (0, 10),
            (3, 3),
            "the input has 0 rows by 10 columns; expected at least one row and one column",
        ),
        ((10, 10), (3, 0), "the kernel is 3x0; expected at least one row and one column"),
    ],
)
def test_empty_input_or_kernel(
    in_shape: tuple[int, int], kernel: tuple[int, int], message: str
) -> None:
    with pytest.raises(GeometryError) as info:
        plan(in_shape, kernel)
    assert str(info.value) == message


def test_geometry_errors_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        plan((3, 3), (5, 5), padding="valid")
