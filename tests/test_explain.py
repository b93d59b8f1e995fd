"""``imgconv explain``: the core's numbers are apply's, and the transcript shows them."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from hypothesis import assume, given
from hypothesis import strategies as st
from PIL import Image

from imgconv.cli import cli
from imgconv.core.convolve import correlate
from imgconv.core.explain import MAX_CELLS, explain
from imgconv.core.kernels import Kernel
from imgconv.core.matrix_text import format_number
from imgconv.errors import GeometryError, UsageError

BORDERS = ["edge", "zero", "constant:7", "reflect", "reflect101", "wrap"]
PADDINGS: list[str | int | tuple[int, ...]] = ["same", "valid", "full", 1, (2, 0, 1, 3)]

SLIDE_1 = """\
0 0 0 0 0 0 0
0 1 0 0 0 1 0
0 0 0 0 0 0 0
0 0 0 1 0 0 0
0 1 0 0 0 1 0
0 0 1 1 1 0 0
0 0 0 0 0 0 0
"""
SLIDE_2 = """\
1 2 3 2 1
3 2 2 1 3
2 1 3 2 3
2 3 3 1 2
3 1 2 2 3
"""
SLIDE_3 = "1 2 3 4 5\n"


@pytest.fixture(name="runner")
def _runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str, input: bytes | None = None) -> Result:
    return runner.invoke(cli, list(args), input=input)


def lines_of(result: Result) -> list[str]:
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert "\x1b[" not in result.output, "no ANSI codes when not on a terminal"
    return result.stdout.splitlines()


def final_map(lines: list[str]) -> list[str]:
    """The last section: its title, column numbers and rows."""
    start = max(i for i, line in enumerate(lines) if line.startswith("5. The feature map"))
    return lines[start:]


def typed(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# --- the core against correlate -------------------------------------------


def check_against_correlate(
    plane: np.ndarray,
    kernel: Kernel,
    *,
    at: tuple[int, int] | None = None,
    window: int = 5,
    **geometry: object,
) -> None:
    done = explain(plane, kernel, at=at, window=window, steps=4, **geometry)  # type: ignore[arg-type]
    full = correlate(plane, kernel, **geometry)  # type: ignore[arg-type]
    (r0, c0), (mh, mw) = done.map_origin, done.feature_map.shape
    assert done.geometry.out_shape == full.shape
    expected = full[r0 : r0 + mh, c0 : c0 + mw]
    tolerance = 1e-9 if plane.dtype == np.float64 else 1e-3
    np.testing.assert_allclose(done.feature_map, expected, rtol=1e-6, atol=tolerance)
    weights = kernel.flipped().weights if geometry.get("flip") else kernel.weights
    for step in done.steps:
        assert step.value == done.feature_map[step.out_row - r0, step.out_col - c0]
        np.testing.assert_array_equal(step.products, step.window * weights.astype(done.dtype))
        np.testing.assert_allclose(step.total, step.products.sum(), rtol=1e-6)


def test_every_border_padding_flip_stride_dilation_and_anchor() -> None:
    rng = np.random.default_rng(3)
    plane = rng.uniform(-5, 5, (7, 6))
    kernel = Kernel(rng.integers(-3, 4, (3, 2)), scale=3, bias=0.5, name="k")
    for border, padding, flip, stride, dilation, anchor in itertools.product(
        BORDERS, PADDINGS, [False, True], [1, (2, 3)], [1, (2, 1)], [None, (0, 0), (2, 1)]
    ):
        geometry = {
            "border": border,
            "padding": padding,
            "flip": flip,
            "stride": stride,
            "dilation": dilation,
            "anchor": anchor,
        }
        try:
            check_against_correlate(plane, kernel, **geometry)
        except GeometryError:  # the kernel does not fit: correlate refuses it too
            with pytest.raises(GeometryError):
                correlate(plane, kernel, **geometry)  # type: ignore[arg-type]


@given(
    data=st.data(),
    shape=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    kshape=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    border=st.sampled_from(BORDERS),
    padding=st.sampled_from(PADDINGS),
    flip=st.booleans(),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    eight_bit=st.booleans(),
)
def test_map_equals_correlate_at_every_shown_position(
    data: st.DataObject,
    shape: tuple[int, int],
    kshape: tuple[int, int],
    border: str,
    padding: str | int | tuple[int, ...],
    flip: bool,
    stride: tuple[int, int],
    dilation: tuple[int, int],
    eight_bit: bool,
) -> None:
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    plane = rng.integers(0, 256, shape, dtype=np.uint8) if eight_bit else rng.normal(0, 10, shape)
    weights = rng.integers(-4, 5, kshape)
    assume(weights.any())
    anchor = data.draw(
        st.none() | st.tuples(st.integers(0, kshape[0] - 1), st.integers(0, kshape[1] - 1))
    )
    kernel = Kernel(weights, scale=data.draw(st.sampled_from([1, 2, 16])), bias=1.5)
    geometry = {
        "border": border,
        "padding": padding,
        "flip": flip,
        "stride": stride,
        "dilation": dilation,
        "anchor": anchor,
    }
    try:
        out_shape = correlate(plane, kernel, **geometry).shape  # type: ignore[arg-type]
    except GeometryError:
        assume(False)
        return
    at = None
    if max(out_shape) > MAX_CELLS or data.draw(st.booleans()):
        at = (
            data.draw(st.integers(0, out_shape[0] - 1)),
            data.draw(st.integers(0, out_shape[1] - 1)),
        )
    check_against_correlate(plane, kernel, at=at, window=data.draw(st.integers(1, 6)), **geometry)


def test_padding_mask_and_origin() -> None:
    done = explain(np.arange(12.0).reshape(3, 4), np.ones((3, 3)), padding=(1, 0, 2, 1))
    assert done.region.shape == (4, 7)
    assert done.region_origin == (-1, -2)
    assert done.region_padding[0].all()
    assert done.region_padding[:, :2].all()
    assert done.region_padding[:, -1].all()
    assert not done.region_padding[1:, 2:6].any()


def test_at_shows_only_the_part_read() -> None:
    plane = np.arange(400.0).reshape(20, 20)
    done = explain(plane, np.ones((3, 3)), at=(18, 0), window=4)
    assert done.feature_map.shape == (2, 4)  # clipped at the bottom
    assert done.region_origin == (17, -1)
    assert done.region.shape == (4, 6)
    np.testing.assert_array_equal(done.feature_map, correlate(plane, np.ones((3, 3)))[18:, :4])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {},
            GeometryError,
            "the output is 20 rows by 20 columns (the input 20 rows by 20 columns); explain "
            "spells out at most 16 rows and 16 columns: add --at ROW,COL to explain a 5x5 part "
            "of it, e.g. --at 10,10",
        ),
        ({"at": (20, 0)}, GeometryError, "--at 20,0 is outside the output of 20 rows by 20 "),
        ({"at": "3"}, UsageError, "--at '3' is not understood; expected ROW,COL"),
        ({"at": (0, 0), "window": 0}, UsageError, "window 0 is outside 1..16"),
        ({"steps": -1}, UsageError, "steps -1 is negative"),
    ],
)
def test_core_errors(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        explain(np.zeros((20, 20)), np.ones((3, 3)), **kwargs)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)


def test_size_errors_of_a_wide_image_name_rows_and_columns() -> None:
    """Not "18x30", which reads as width x height where -v prints 30x18 for the same image."""
    with pytest.raises(GeometryError) as caught:
        explain(np.zeros((18, 30)), np.ones((3, 3)))
    assert str(caught.value) == (
        "the output is 18 rows by 30 columns (the input 18 rows by 30 columns); explain spells "
        "out at most 16 rows and 16 columns: add --at ROW,COL to explain a 5x5 part of it, "
        "e.g. --at 9,15"
    )
    with pytest.raises(GeometryError) as caught:
        explain(np.zeros((18, 30)), np.ones((3, 3)), at=(3, 30))
    assert str(caught.value) == (
        "--at 3,30 is outside the output of 18 rows by 30 columns; expected ROW 0..17 and COL 0..29"
    )


# --- the seed slides' worked examples through the command line ------------


def test_slide_example_1(runner: CliRunner, tmp_path: Path) -> None:
    image = typed(tmp_path, "image.txt", SLIDE_1)
    lines = lines_of(run(runner, "explain", "0,0,1;1,0,0;0,1,1", image, "--padding", "valid"))
    assert "  height: (H - F + 2P)/S + 1 = (7 - 3 + 2*0)/1 + 1 = 5" in lines
    assert "  width: (W - F + 2P)/S + 1 = (7 - 3 + 2*0)/1 + 1 = 5" in lines
    assert "    products: 0×0 + 0×0 + 0×1 + 0×1 + 1×0 + 0×0 + 0×0 + 0×1 + 0×1" in lines
    assert "    sum: 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 = 0" in lines
    assert "  Step 3 of 25: feature map (0, 2), window at input rows 0..2, columns 2..4" in lines
    assert (
        "  The other 22 positions are computed the same way (--steps N spells out more)." in lines
    )
    assert final_map(lines) == [
        "5. The feature map: 5 x 5",
        "    0 1 2 3 4",
        "  0 0 1 0 0 0",
        "  1 0 1 1 1 0",
        "  2 1 0 0 2 1",
        "  3 1 4 2 1 0",
        "  4 0 0 1 2 1",
    ]


def test_slide_example_2(runner: CliRunner, tmp_path: Path) -> None:
    image = typed(tmp_path, "image.txt", SLIDE_2)
    args = ["explain", "1,1,1;1,1,1;1,1,1", image, "--padding", "valid", "--steps", "1"]
    lines = lines_of(run(runner, *args))
    assert lines[:2] == [
        f"Explaining 1,1,1;1,1,1;1,1,1 on {image!r}",
        "  5 x 5, numbers used as they are",
    ]
    assert "  width: (W - F + 2P)/S + 1 = (5 - 3 + 2*0)/1 + 1 = 3" in lines
    step = lines.index("  Step 1 of 9: feature map (0, 0), window at input rows 0..2, columns 0..2")
    assert lines[step + 1 : step + 14] == [
        "      0 1 2",
        "    0 1 2 3",
        "    1 3 2 2",
        "    2 2 1 3",
        "    products: 1×1 + 2×1 + 3×1 + 3×1 + 2×1 + 2×1 + 2×1 + 1×1 + 3×1",
        "    sum: 1 + 2 + 3 + 3 + 2 + 2 + 2 + 1 + 3 = 19",
        "    placed in the feature map at (0, 0): 19",
        "    feature map so far (·: not computed yet):",
        "       0  1  2",
        "    0 19  ·  ·",
        "    1  ·  ·  ·",
        "    2  ·  ·  ·",
        "",
    ]
    assert "Step 2 of 9" not in result_text(lines)
    assert final_map(lines) == [
        "5. The feature map: 3 x 3",
        "     0  1  2",
        "  0 19 18 20",
        "  1 21 18 20",
        "  2 20 18 21",
    ]


def result_text(lines: list[str]) -> str:
    return "\n".join(lines)


def test_slide_example_3_one_dimensional(runner: CliRunner, tmp_path: Path) -> None:
    signal = typed(tmp_path, "signal.txt", SLIDE_3)
    lines = lines_of(run(runner, "explain", "2,1", signal, "--padding", "valid"))
    assert "  height: (H - F + 2P)/S + 1 = (1 - 1 + 2*0)/1 + 1 = 1" in lines
    assert "  width: (W - F + 2P)/S + 1 = (5 - 2 + 2*0)/1 + 1 = 4" in lines
    assert "    products: 1×2 + 2×1" in lines
    assert "    sum: 2 + 2 = 4" in lines
    assert "    products: 3×2 + 4×1" in lines  # step 3
    assert final_map(lines) == ["5. The feature map: 1 x 4", "     0  1  2  3", "  0  4  7 10 13"]


def test_the_same_numbers_as_apply_print(runner: CliRunner, tmp_path: Path) -> None:
    image = typed(tmp_path, "image.txt", SLIDE_1)
    printed = run(runner, "apply", "0,0,1;1,0,0;0,1,1", image, "--padding", "valid", "--print")
    explained = lines_of(run(runner, "explain", "0,0,1;1,0,0;0,1,1", image, "--padding", "valid"))
    rows = [line.split()[1:] for line in printed.stdout.splitlines()[2:]]
    assert rows == [line.split()[1:] for line in final_map(explained)[2:]]


# --- options ----------------------------------------------------------------


def test_flip_shows_the_flipped_kernel(runner: CliRunner, tmp_path: Path) -> None:
    impulse = typed(
        tmp_path, "impulse.txt", "0 0 0 0 0\n0 0 0 0 0\n0 0 1 0 0\n0 0 0 0 0\n0 0 0 0 0\n"
    )
    lines = lines_of(run(runner, "explain", "1,2,3;4,5,6;7,8,9", impulse, "--flip", "--steps", "0"))
    assert "  --flip: the kernel as written, 1 2 3; 4 5 6; 7 8 9, is rotated 180 degrees" in lines
    kernel = lines.index(
        "  1,2,3;4,5,6;7,8,9: 3 x 3, anchor (1, 1) in brackets, flipped (true convolution)"
    )
    assert lines[kernel + 1 : kernel + 5] == [
        "      0   1   2",
        "  0   9   8   7",
        "  1   6 [5]   4",
        "  2   3   2   1",
    ]
    assert "  No position is spelled out (--steps 0)." in lines
    # True convolution: the impulse response is the kernel as written.
    assert final_map(lines)[3:6] == ["  1 0 1 2 3 0", "  2 0 4 5 6 0", "  3 0 7 8 9 0"]
    unflipped = lines_of(run(runner, "explain", "1,2,3;4,5,6;7,8,9", impulse, "--steps", "0"))
    assert "applied as written (correlation)" in result_text(unflipped)
    assert final_map(unflipped)[3:6] == ["  1 0 9 8 7 0", "  2 0 6 5 4 0", "  3 0 3 2 1 0"]


def test_padding_border_and_arithmetic_forms(runner: CliRunner, tmp_path: Path) -> None:
    image = typed(tmp_path, "image.txt", SLIDE_2)
    args = ["explain", "1,2;3,4", image, "--padding", "1,2,0,3", "--border", "wrap"]
    lines = lines_of(run(runner, *args, "--dilation", "2", "--stride", "2", "--steps", "1"))
    assert (
        "  Padding 1,2,0,3: 1 row on top, 2 below, 0 columns on the left, 3 on the right," in lines
    )
    assert "  filled by the wrap border (cd|abcd|ab): the cells outside the lines." in lines
    assert lines[lines.index("  -1 3 1 2 2 3 | 3 1 2") + 1] == "    -----------+------"
    assert (
        "  height: (H - F' + P_top + P_bottom)/S + 1 = (5 - 3 + 1 + 2)/2 + 1 = floor(5/2) + 1 = 3 "
        "(rounded down)"
    ) in lines
    assert (
        "          where F' = d*(F - 1) + 1 = 2*(2 - 1) + 1 = 3, the dilated kernel's reach"
    ) in lines
    assert (
        "  Step 1 of 9: feature map (0, 0), window at input rows -1..1 step 2, columns 0..2 step 2"
        in (lines)
    )
    assert "    products: 3×1 + 2×2 + 3×3 + 2×4" in lines
    assert (
        "  Dilation 2,2: its taps are 2 rows and 2 columns apart, reaching over 3 x 3 cells."
        in (lines)
    )
    single = lines_of(run(runner, "explain", "1,2;3,4", image, "--dilation", "1,2"))
    assert "  Dilation 1,2: its taps are 1 row and 2 columns apart, reaching over 2 x 3 cells." in (
        single
    )


def test_same_padding_marks_the_padding(runner: CliRunner, tmp_path: Path) -> None:
    image = typed(tmp_path, "image.txt", SLIDE_2)
    lines = lines_of(run(runner, "explain", "sobel-x", image, "--steps", "1"))
    assert "  filled by the edge border (aa|abcd|dd): the cells outside the lines." in lines
    top = lines.index("     -1    0  1  2  3  4    5")
    assert lines[top + 1 : top + 4] == [
        "  -1  1 |  1  2  3  2  1 |  1",
        "    ----+----------------+---",
        "   0  1 |  1  2  3  2  1 |  1",
    ]
    assert "  width: (W - F + 2P)/S + 1 = (5 - 3 + 2*1)/1 + 1 = 5" in lines
    assert "    products: 1×(-1) + 1×0 + 2×1 + 1×(-2) + 1×0 + 2×2 + 3×(-1) + 3×0 + 2×1" in lines
    assert "    sum: (-1) + 0 + 2 + (-2) + 0 + 4 + (-3) + 0 + 2 = 2" in lines


def test_scale_and_bias_are_spelled_out(runner: CliRunner, tmp_path: Path) -> None:
    image = typed(tmp_path, "image.txt", SLIDE_2)
    args = ["explain", "box:3", image, "--padding", "valid", "--steps", "1"]
    lines = lines_of(run(runner, *args, "--bias", "10"))
    assert "    value: sum / scale + bias = 19 / 9 + 10 = 12.11111111111111" in lines
    assert "    placed in the feature map at (0, 0): 12.11111111111111" in lines
    lines = lines_of(run(runner, "explain", "1,2,1", image, "--normalize", "--steps", "1"))
    assert "  divided by 4 (its scale); the weights as applied sum to 1" in lines
    assert "    value: sum / scale = 5 / 4 = 1.25" in lines
    lines = lines_of(run(runner, "explain", "1,2,1", image, "--scale", "2", "--steps", "1"))
    assert "    value: sum / scale = 5 / 2 = 2.5" in lines
    lines = lines_of(run(runner, "explain", "1,2,1", image, "--bias", "-1", "--steps", "1"))
    assert "    value: sum + bias = 5 + (-1) = 4" in lines


def test_at_on_a_large_image(runner: CliRunner, tmp_path: Path) -> None:
    pixels = np.random.default_rng(5).integers(0, 256, (64, 64), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "big.png")
    source = str(tmp_path / "big.png")
    lines = lines_of(run(runner, "explain", "gaussian", source, "--at", "30,40"))
    assert lines[:2] == [f"Explaining gaussian on {source!r}", "  64 x 64, 8-bit values 0..255"]
    assert (
        "  Shown: input rows 29..35, columns 39..45, the part of the padded input read by" in lines
    )
    assert (
        "  Step 1 of 25: feature map (30, 40), window at input rows 29..31, columns 39..41" in lines
    )
    table = final_map(lines)
    assert table[0] == "5. The feature map: rows 30..34, columns 40..44 of 64 x 64"
    assert table[1].split() == ["40", "41", "42", "43", "44"]
    expected = correlate(pixels, Kernel(np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]), scale=16))
    for offset, line in enumerate(table[2:]):
        label, *values = line.split()
        assert int(label) == 30 + offset
        assert values == [format_number(float(v), np.float32) for v in expected[30 + offset, 40:45]]
    # At the corner: fewer cells, and the padding is shown.
    corner = lines_of(run(runner, "explain", "gaussian", source, "--at", "62,0", "--window", "3"))
    assert final_map(corner)[0] == "5. The feature map: rows 62..63, columns 0..2 of 64 x 64"
    assert (
        "  Shown: input rows 61..64, columns -1..3, the part of the padded input read by" in corner
    )


def test_channel(runner: CliRunner, tmp_path: Path) -> None:
    rgba = np.random.default_rng(9).integers(0, 256, (6, 6, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    source = str(tmp_path / "rgba.png")
    lines = lines_of(run(runner, "explain", "sobel-x", source, "--steps", "0"))
    assert lines[:4] == [
        f"Explaining sobel-x on {source!r}",
        "  6 x 6, channel R of R G B A, 8-bit values 0..255",
        "  --channel picks another of r, g, b, a.",
        "  Alpha is not used: the channel is filtered alone, as apply --alpha plain.",
    ]
    lines = lines_of(run(runner, "explain", "sobel-x", source, "--channel", "b", "--steps", "0"))
    assert lines[1] == "  6 x 6, channel B of R G B A, 8-bit values 0..255"
    expected = correlate(rgba[..., 2], Kernel([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]))
    rows = [line.split()[1:] for line in final_map(lines)[2:]]
    assert rows == [[format_number(float(v), np.float32) for v in row] for row in expected]


def test_standard_input(runner: CliRunner) -> None:
    lines = lines_of(run(runner, "explain", "1,1", "-", "--padding", "valid", input=b"1 2 3\n"))
    assert lines[:2] == ["Explaining 1,1 on standard input", "  1 x 3, numbers used as they are"]
    assert final_map(lines)[2] == "  0 3 5"


def test_help_lists_the_options(runner: CliRunner) -> None:
    result = run(runner, "explain", "--help")
    assert result.exit_code == 0
    for option in ("--flip", "--padding", "--border", "--stride", "--dilation", "--anchor"):
        assert option in result.stdout
    for option in ("--scale", "--bias", "--normalize", "--channel", "--at", "--window", "--steps"):
        assert option in result.stdout


# --- errors -------------------------------------------------------------------


def test_errors(runner: CliRunner, tmp_path: Path) -> None:
    image = typed(tmp_path, "image.txt", SLIDE_2)
    pixels = np.zeros((64, 64), np.uint8)
    Image.fromarray(pixels).save(tmp_path / "big.png")
    big = str(tmp_path / "big.png")
    np.save(tmp_path / "deep.npy", np.ones((3, 3, 3)))
    deep = str(tmp_path / "deep.npy")
    cases = [
        (
            ["sobel", image],
            2,
            "kernel 'sobel' is a set of 2 kernels (sobel-x, sobel-y); explain takes one 2-D "
            "kernel, such as sobel-x",
        ),
        (
            [deep, image],
            2,
            "kernel 'deep.npy' is a kernel 3 channels deep (1 x 3 x 3 x 3); explain takes one 2-D "
            "kernel (H x W, or 1 x 1 x H x W)",
        ),
        (
            ["sobel-x", big],
            2,
            "the output is 64 rows by 64 columns (the input 64 rows by 64 columns); explain "
            "spells out at most 16 rows and 16 columns: add --at ROW,COL to explain a 5x5 part "
            "of it, e.g. --at 32,32",
        ),
        (
            ["sobel-x", big, "--at", "64,3"],
            2,
            "--at 64,3 is outside the output of 64 rows by 64 columns; expected ROW 0..63 and "
            "COL 0..63",
        ),
        (
            ["sobel-x", big, "--at", "1;2"],
            2,
            "--at '1;2' is not understood; expected ROW,COL (whole numbers from 0)",
        ),
        (
            ["sobel-x", big, "--at", "-1,2"],
            2,
            "--at -1,2 is negative; expected ROW,COL (whole numbers from 0)",
        ),
        (
            ["sobel-x", big, "--window", "3"],
            2,
            "--window 3 sets how much --at explains; add --at ROW,COL",
        ),
        (
            ["sobel-x", big, "--at", "0,0", "--window", "17"],
            2,
            "Invalid value for '--window': 17 is not in the range 1<=x<=16.",
        ),
        (
            ["sobel-x", image, "--steps", "-1"],
            2,
            "Invalid value for '--steps': -1 is not in the range x>=0.",
        ),
        (
            ["sobel-x", image, "--channel", "g"],
            2,
            f"--channel 'g' is not a band of {image!r} (V); expected one of v",
        ),
        (
            ["box:7", image, "--padding", "valid"],
            2,
            "the 7x7 kernel (reach 7x7 with dilation 1,1) is larger than the padded input, "
            "5 rows by 5 columns (5 by 5 before padding valid)",
        ),
        (
            ["-", "-"],
            2,
            "KERNEL and INPUT cannot both be '-': standard input holds only one of them",
        ),
        (
            ["sobel-x", str(tmp_path / "missing.png")],
            1,
            f"cannot read '{tmp_path / 'missing.png'}': no such file",
        ),
    ]
    for args, code, message in cases:
        result = run(runner, "explain", *args)
        assert (result.exit_code, result.stderr) == (code, f"Error: {message}\n"), args
        assert result.stdout == ""


# --- layering -------------------------------------------------------------------


def imported_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in json.loads(out.stdout)}


def test_core_explain_imports_no_cli_rich_or_pil() -> None:
    assert imported_after("import imgconv.core.explain") & {"click", "rich", "PIL"} == set()


def test_explain_help_imports_nothing_numeric() -> None:
    loaded = imported_after(
        "import contextlib, io\n"
        "from imgconv.cli import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        cli(['explain', '--help'], prog_name='imgconv')\n"
        "    except SystemExit:\n        pass"
    )
    assert loaded & {"numpy", "scipy", "PIL", "rich"} == set()
