"""The shared vocabulary: border names and aliases, padding, stride, dilation, anchor.

KERNELS.md section 3 (borders) and section 2 (padding, stride, dilation).
What the borders actually put in the padded pixels is pinned through
``correlate`` in ``test_convolve.py``; this file pins the parsing.
"""

from __future__ import annotations

import pytest

from imgconv.core.vocab import (
    BORDER_ALIASES,
    BORDER_PICTURES,
    Border,
    Padding,
    parse_anchor,
    parse_pair,
)
from imgconv.errors import GeometryError, UsageError

# KERNELS.md section 3: canonical name -> the aliases its table lists.
SPEC_ALIASES = {
    "edge": ["replicate", "nearest", "clamp", "extend"],
    "zero": ["zeros", "constant", "black"],
    "reflect": ["symmetric", "mirror-edge"],
    "reflect101": ["reflect-101", "mirror"],
    "wrap": ["circular", "periodic", "tile"],
}
ALIAS_PAIRS = [(alias, name) for name, aliases in SPEC_ALIASES.items() for alias in aliases]

SPEC_PICTURES = {
    "edge": "aa|abcd|dd",
    "zero": "00|abcd|00",
    "constant": "VV|abcd|VV",
    "reflect": "ba|abcd|dc",
    "reflect101": "cb|abcd|cb",
    "wrap": "cd|abcd|ab",
}

# The SciPy ndimage modes KERNELS.md's oracle names for each border.
SPEC_SCIPY_MODES = {
    "edge": "nearest",
    "zero": "constant",
    "constant": "constant",
    "reflect": "reflect",
    "reflect101": "mirror",
    "wrap": "wrap",
}
# np.pad has the two reflections the other way round from SciPy.
SPEC_NUMPY_MODES = {
    "edge": "edge",
    "zero": "constant",
    "constant": "constant",
    "reflect": "symmetric",
    "reflect101": "reflect",
    "wrap": "wrap",
}


@pytest.mark.parametrize("name", list(SPEC_ALIASES))
def test_canonical_border_names_parse_to_themselves(name: str) -> None:
    assert Border.parse(name) == Border(name)  # type: ignore[arg-type]
    assert str(Border.parse(name)) == name


@pytest.mark.parametrize(("alias", "name"), ALIAS_PAIRS)
def test_every_alias_in_the_table_parses_to_its_canonical_name(alias: str, name: str) -> None:
    assert Border.parse(alias) == Border(name)  # type: ignore[arg-type]


def test_alias_table_is_exactly_the_spec_table() -> None:
    """No alias missing, none extra, none pointing elsewhere."""
    expected = {name: name for name in SPEC_ALIASES} | dict(ALIAS_PAIRS)
    assert expected == BORDER_ALIASES


def test_border_pictures_are_the_spec_pictures() -> None:
    assert SPEC_PICTURES == BORDER_PICTURES


@pytest.mark.parametrize("text", ["EDGE", " Reflect-101 ", "reflect_101", "Mirror_Edge"])
def test_border_names_ignore_case_spaces_and_underscores(text: str) -> None:
    expected = text.strip().lower().replace("_", "-")
    assert Border.parse(text) == Border.parse(expected)


def test_default_border_is_edge() -> None:
    assert Border() == Border("edge", 0.0)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("constant:128", 128.0),
        ("constant:0", 0.0),
        ("constant:-3.5", -3.5),
        ("CONSTANT:1e3", 1000.0),
    ],
)
def test_constant_border_with_a_value(text: str, value: float) -> None:
    border = Border.parse(text)
    assert border == Border("constant", value)
    assert border.fill == value
    assert str(border) == f"constant:{value:g}"


def test_constant_without_a_value_is_a_zero_border() -> None:
    assert Border.parse("constant") == Border("zero")
    assert Border.parse("constant").fill == 0.0


def test_fill_of_non_constant_borders_is_zero() -> None:
    assert Border("edge", 7.0).fill == 0.0


def test_border_passes_through_a_border() -> None:
    border = Border("wrap")
    assert Border.parse(border) is border


@pytest.mark.parametrize("mode", list(SPEC_SCIPY_MODES))
def test_scipy_and_numpy_mode_translation(mode: str) -> None:
    border = Border(mode)  # type: ignore[arg-type]
    assert border.scipy_mode == SPEC_SCIPY_MODES[mode]
    assert border.numpy_mode == SPEC_NUMPY_MODES[mode]


def test_unknown_border_names_every_accepted_word() -> None:
    expected = (
        "unknown border 'sideways'; expected one of black, circular, clamp, constant, edge, "
        "extend, mirror, mirror-edge, nearest, periodic, reflect, reflect-101, reflect101, "
        "replicate, symmetric, tile, wrap, zero, zeros, constant:V"
    )
    with pytest.raises(UsageError) as info:
        Border.parse("sideways")
    assert str(info.value) == expected
    assert info.value.exit_code == 2


@pytest.mark.parametrize("value", ["abc", "inf", "-inf", "nan", ""])
def test_constant_border_value_must_be_a_finite_number(value: str) -> None:
    with pytest.raises(UsageError) as info:
        Border.parse(f"constant:{value}")
    assert str(info.value) == f"constant border value {value!r} is not a finite number"


# -- padding -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("same", Padding("same")),
        ("VALID", Padding("valid")),
        (" full ", Padding("full")),
        ("2", Padding("explicit", 2, 2, 2, 2)),
        (2, Padding("explicit", 2, 2, 2, 2)),
        ("0", Padding("explicit", 0, 0, 0, 0)),
        ("1,2", Padding("explicit", 1, 1, 2, 2)),
        ((1, 2), Padding("explicit", 1, 1, 2, 2)),
        ("1,2,3,4", Padding("explicit", 1, 2, 3, 4)),
        ("1 2 3 4", Padding("explicit", 1, 2, 3, 4)),
        ((1, 2, 3, 4), Padding("explicit", 1, 2, 3, 4)),
    ],
)
def test_padding_forms(text: str | int | tuple[int, ...], expected: Padding) -> None:
    assert Padding.parse(text) == expected


def test_padding_default_is_same() -> None:
    assert Padding() == Padding("same")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "1,2,3",
            "padding '1,2,3' has 3 numbers; expected same, valid, full, N, PY,PX or T,B,L,R",
        ),
        ("-1", "padding '-1' is negative; expected pixels >= 0"),
        ((0, -2), "padding (0, -2) is negative; expected pixels >= 0"),
        (
            "lots",
            "padding 'lots' is not understood; expected same, valid, full, N, PY,PX or T,B,L,R",
        ),
    ],
)
def test_bad_padding(text: str | tuple[int, ...], message: str) -> None:
    with pytest.raises(UsageError) as info:
        Padding.parse(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("padding", "text"),
    [(Padding("same"), "same"), (Padding("explicit", 1, 2, 3, 4), "1,2,3,4")],
)
def test_padding_str(padding: Padding, text: str) -> None:
    assert str(padding) == text


# -- stride, dilation, anchor -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2", (2, 2)), (3, (3, 3)), ("1,3", (1, 3)), ("1 3", (1, 3)), ((2, 1), (2, 1)), ([4], (4, 4))],
)
def test_parse_pair(value: str | int | tuple[int, int], expected: tuple[int, int]) -> None:
    assert parse_pair(value, "stride") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "stride 0 is below 1; expected whole numbers >= 1"),
        ("0", "stride '0' is below 1; expected whole numbers >= 1"),
        ("2,-1", "stride '2,-1' is below 1; expected whole numbers >= 1"),
    ],
)
def test_stride_below_one_is_a_geometry_error(value: str | int, message: str) -> None:
    with pytest.raises(GeometryError) as info:
        parse_pair(value, "stride")
    assert str(info.value) == message


def test_dilation_below_one_names_dilation() -> None:
    with pytest.raises(GeometryError) as info:
        parse_pair("1,0", "dilation")
    assert str(info.value) == "dilation '1,0' is below 1; expected whole numbers >= 1"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1,2,3", "stride '1,2,3' has 3 numbers; expected N or Y,X"),
        ("x", "stride 'x' is not understood; expected N or Y,X"),
        ("", "stride '' is not understood; expected N or Y,X"),
    ],
)
def test_malformed_pair_is_a_usage_error(value: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_pair(value, "stride")
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), ((0, 2), (0, 2)), ("1,0", (1, 0)), ("2 3", (2, 3))]
)
def test_parse_anchor(
    value: str | tuple[int, int] | None, expected: tuple[int, int] | None
) -> None:
    assert parse_anchor(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1,2,3", "anchor '1,2,3' has 3 numbers; expected Y,X"),
        ("a,b", "anchor 'a,b' is not understood; expected Y,X"),
    ],
)
def test_bad_anchor(value: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_anchor(value)
    assert str(info.value) == message
