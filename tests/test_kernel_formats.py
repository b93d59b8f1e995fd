"""Every kernel format reads to the same kernel: grid, ImageMagick, libvips .mat, .npy, JSON.

The same kernel written in each format the format can express parses to the
same weights as applied, anchor, bias and absent cells; multi-kernel files and
lists keep their order and names; every malformed input gets one exact line.
"""

from __future__ import annotations

import io
import json
import pickle
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from imgconv.cli import cli
from imgconv.core.catalog import get_builtin
from imgconv.core.kernel_data import parse_kernel_data, parse_npy
from imgconv.core.kernel_text import (
    looks_like_matrix,
    parse_grid,
    parse_imagemagick,
    parse_json,
    parse_kernel_text,
    parse_number,
    parse_vips_mat,
)
from imgconv.core.kernels import Bank, Kernel, KernelSet
from imgconv.errors import KernelError
from imgconv.kernel_source import MAX_KERNEL_FILE_BYTES, resolve_kernel

GAUSS = [[1, 2, 1], [2, 4, 2], [1, 2, 1]]
LAPLACE = [[0, -1, 0], [-1, 4, -1], [0, -1, 0]]
PLUS = [[0, 1, 0], [1, -4, 1], [0, 1, 0]]
PLUS_PRESENT = [[False, True, False], [True, True, True], [False, True, False]]


def npy(array: object, *, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=allow_pickle)
    return buffer.getvalue()


def show_json(spec: str) -> str:
    """What ``imgconv kernels show SPEC --json`` prints."""
    result = CliRunner().invoke(cli, ["kernels", "show", spec, "--json"])
    assert result.exit_code == 0, result.output
    return result.stdout


def only(kernels: KernelSet | Bank) -> Kernel:
    assert isinstance(kernels, KernelSet)
    assert len(kernels.kernels) == 1
    assert kernels.combine is None
    return kernels.kernels[0]


def assert_same(got: Kernel, want: Kernel) -> None:
    """Same weights as applied (so the same scale as applied), anchor, bias and absent cells."""
    np.testing.assert_array_equal(got.matrix, want.matrix)
    assert got.origin == want.origin
    assert got.bias == want.bias
    got_present = np.ones(got.shape, bool) if got.present is None else got.present
    want_present = np.ones(want.shape, bool) if want.present is None else want.present
    np.testing.assert_array_equal(got_present, want_present)


# --- the same kernel in every format -----------------------------------------------------------

REFERENCE = {
    "gaussian": Kernel(GAUSS, scale=16),
    "anchored": Kernel([[1, 2, 3], [4, 5, 6]], anchor=(0, 2)),
    "biased": Kernel(LAPLACE, bias=128),
    "absent": Kernel(PLUS, present=PLUS_PRESENT),
    "even": Kernel([[1, 2], [3, 4]], anchor=(0, 0)),
}
GAUSS_16 = np.array(GAUSS) / 16

# (reference, how it is given, the source). How: "file.SUFFIX" writes a file,
# "inline" passes the text as the argument, "stdin" pipes the bytes to "-".
SOURCES: list[tuple[str, str, str | bytes]] = [
    ("gaussian", "file.txt", "# gaussian\n1 2 1\n2 4 2\n1 2 1\n1/16\n"),
    ("gaussian", "file.txt", "1/16\n1, 2, 1\n2, 4, 2\n1, 2, 1\n"),
    ("gaussian", "file.txt", "1 2 1\n2 4 2\n1 2 1\n\n1/16\n"),
    ("gaussian", "file.txt", "1 2 1\n2 4 2\n1 2 1\nscale 16\n"),
    ("gaussian", "inline", "1,2,1;2,4,2;1,2,1;scale 16"),
    ("gaussian", "inline", "1 2 1; 2 4 2; 1 2 1; factor 1/16"),
    ("gaussian", "inline", "3x3: .0625,.125,.0625 .125,.25,.125 .0625,.125,.0625"),
    ("gaussian", "inline", "3: 0.0625 0.125 0.0625 0.125 0.25 0.125 0.0625 0.125 0.0625"),
    ("gaussian", "file.mat", "3 3 16 0\n1 2 1\n2 4 2\n1 2 1\n"),
    ("gaussian", "file.mat", '3 3 16 0\n"1","2","1"\n2, 4 ,2\n1\t2\t1\n\n'),
    ("gaussian", "file.npy", npy(GAUSS_16)),
    ("gaussian", "file.json", '{"weights": [[1,2,1],[2,4,2],[1,2,1]], "scale": 16}'),
    ("gaussian", "file.json", '{"weights": [[1,2,1],[2,4,2],[1,2,1]], "factor": 0.0625}'),
    ("gaussian", "inline", json.dumps(GAUSS_16.tolist())),
    ("anchored", "file.txt", "1 2 3\n4 5 6\nanchor 0,2\n"),
    ("anchored", "inline", "1,2,3;4,5,6;anchor=0,2"),
    ("anchored", "inline", "3x2+2+0: 1,2,3 4,5,6"),
    ("anchored", "file.json", '{"weights": [[1,2,3],[4,5,6]], "anchor": [0, 2]}'),
    ("biased", "file.txt", "0 -1 0\n-1 4 -1\n0 -1 0\nbias 128\n"),
    ("biased", "file.txt", "0 -1 0\n-1 4 -1\n0 -1 0\n\noffset: 128\n"),
    ("biased", "file.mat", "3 3 1 128\n0 -1 0\n-1 4 -1\n0 -1 0\n"),
    ("biased", "file.json", '{"weights": [[0,-1,0],[-1,4,-1],[0,-1,0]], "bias": 128}'),
    ("biased", "file.json", '{"weights": [[0,-1,0],[-1,4,-1],[0,-1,0]], "offset": 128}'),
    ("absent", "inline", "3x3: -,1,- 1,-4,1 -,1,-"),
    ("absent", "inline", "3x3: nan 1 NaN 1 -4 1 nan 1 nan"),
    (
        "absent",
        "file.json",
        '{"weights": [[0,1,0],[1,-4,1],[0,1,0]], "absent": [[0,0],[0,2],[2,0],[2,2]]}',
    ),
    ("even", "inline", "2x2: 1 2 3 4"),  # ImageMagick's default origin is (W-1)/2, (H-1)/2
    ("even", "inline", "1,2;3,4;anchor 0,0"),
    ("even", "file.json", '{"weights": [[1,2],[3,4]], "anchor": [0,0]}'),
]


def resolve(how: str, source: str | bytes, tmp_path: Path) -> KernelSet | Bank:
    data = source.encode() if isinstance(source, str) else source
    if how.startswith("file"):
        path = tmp_path / f"k{how[4:]}"
        path.write_bytes(data)
        return resolve_kernel(str(path))
    if how == "stdin":
        return resolve_kernel("-", stdin=io.BytesIO(data))
    assert isinstance(source, str)
    return resolve_kernel(source)


@pytest.mark.parametrize(("reference", "how", "source"), SOURCES)
def test_every_format_gives_the_same_kernel(
    reference: str, how: str, source: str | bytes, tmp_path: Path
) -> None:
    assert_same(only(resolve(how, source, tmp_path)), REFERENCE[reference])


@pytest.mark.parametrize(("reference", "how", "source"), SOURCES)
def test_every_format_is_sniffed_from_standard_input(
    reference: str, how: str, source: str | bytes, tmp_path: Path
) -> None:
    kernels = resolve("stdin", source, tmp_path)
    assert_same(only(kernels), REFERENCE[reference])
    assert isinstance(kernels, KernelSet)
    assert kernels.name == "stdin"


@pytest.mark.parametrize(("reference", "how", "source"), SOURCES)
def test_kernels_show_json_reads_back(
    reference: str, how: str, source: str | bytes, tmp_path: Path
) -> None:
    """What ``kernels show --json`` prints for a kernel reads back as the same kernel."""
    first = only(resolve(how, source, tmp_path))
    spec = str(tmp_path / f"k{how[4:]}") if how.startswith("file") else str(source)
    printed = show_json(spec)
    again = resolve_kernel(printed)
    assert_same(only(again), first)
    assert only(again).scale == 1.0  # the scale is folded into the weights
    (tmp_path / "shown.json").write_text(printed)
    assert_same(only(resolve_kernel(str(tmp_path / "shown.json"))), first)


def test_imagemagick_kernels_are_read_as_written() -> None:
    """Not rotated: the cells are where the text puts them, origin +X+Y is column X, row Y."""
    kernel = only(parse_imagemagick("3x2+2+1: 1 2 3 4 5 6", "im"))
    np.testing.assert_array_equal(kernel.weights, [[1, 2, 3], [4, 5, 6]])
    assert (kernel.origin, kernel.scale, kernel.bias, kernel.name) == ((1, 2), 1.0, 0.0, "im")
    flipped = kernel.flipped()  # what ImageMagick's -morphology Convolve applies
    np.testing.assert_array_equal(flipped.weights, [[6, 5, 4], [3, 2, 1]])
    assert flipped.origin == (0, 0)


def test_default_anchor_is_stored_as_none_in_every_form() -> None:
    """Equal kernels compare equal whichever form, and however the anchor was spelled."""
    for text in ["1,2,1;2,4,2;1,2,1;anchor 1,1", "3x3+1+1: 1 2 1 2 4 2 1 2 1", "[[1,2,1]]"]:
        assert only(parse_kernel_text(text)).anchor is None
    assert only(parse_json('{"weights": [[1,2,1]], "anchor": [0, 1]}')).anchor is None


def test_grid_keeps_weights_as_written_and_the_divisor() -> None:
    kernel = only(parse_kernel_data(b"# blur\n1 2 1\n2 4 2\n1 2 1\n1/16\n", "blur.txt"))
    np.testing.assert_array_equal(kernel.weights, GAUSS)
    assert kernel.scale == 16.0
    mat = only(parse_vips_mat("3 3 16 5\n1 2 1\n2 4 2\n1 2 1\n", "k.mat"))
    np.testing.assert_array_equal(mat.weights, GAUSS)
    assert (mat.scale, mat.bias) == (16.0, 5.0)


# --- names -------------------------------------------------------------------------------------


def test_a_lone_kernel_is_named_by_its_comment_line_or_its_source() -> None:
    named = parse_grid("# soft blur\n1 2 1\n1/4\n", "blur.txt")
    assert (named.name, named.kernels[0].name) == ("blur.txt", "soft blur")
    plain = parse_grid("1 2 1\n# a comment after the first line\n", "blur.txt")
    assert (plain.name, plain.kernels[0].name) == ("blur.txt", "blur.txt")
    headed = parse_grid("# header block\n\n1 2 1\n", "blur.txt")
    assert headed.kernels[0].name == "header block"
    assert only(parse_kernel_text("1,0,-1", "1,0,-1")).name == "1,0,-1"


def test_json_names() -> None:
    single = parse_json('{"name": "edge", "weights": [[1, -1]]}', "k.json")
    assert isinstance(single, KernelSet)
    assert (single.name, single.kernels[0].name) == ("edge", "edge")
    unnamed = parse_json("[[1, -1]]", "k.json")
    assert isinstance(unnamed, KernelSet)
    assert (unnamed.name, unnamed.kernels[0].name) == ("k.json", "k.json")


# --- several kernels ---------------------------------------------------------------------------


def test_kernels_separated_by_dashes_with_names() -> None:
    text = "# sobel x\n-1 0 1\n-2 0 2\n-1 0 1\n---\n# sobel y\n-1 -2 -1\n0 0 0\n1 2 1\n"
    kernels = parse_kernel_text(text, "sobel.txt")
    assert isinstance(kernels, KernelSet)
    assert (kernels.name, kernels.combine) == ("sobel.txt", None)
    assert [k.name for k in kernels.kernels] == ["sobel x", "sobel y"]
    assert_same(kernels.kernels[0], get_builtin("sobel-x").kernels[0])
    assert_same(kernels.kernels[1], get_builtin("sobel-y").kernels[0])


def test_kernels_separated_by_blank_lines_are_numbered() -> None:
    text = "\n1 0 -1\n\n\n1\n0\n-1\n---\n1 2; 3 4\n\n"
    kernels = parse_grid(text, "k.txt")
    assert [k.name for k in kernels.kernels] == ["k.txt[1]", "k.txt[2]", "k.txt[3]"]
    assert [k.shape for k in kernels.kernels] == [(1, 3), (3, 1), (2, 2)]


def test_a_block_without_grid_rows_belongs_to_the_kernel_before() -> None:
    text = "1 2 1\n2 4 2\n1 2 1\n\n1/16\n---\n# edges\n1 0 -1\n\nbias 128\nanchor 0,0\n"
    kernels = parse_grid(text, "k.txt")
    assert len(kernels.kernels) == 2
    first, second = kernels.kernels
    assert_same(first, REFERENCE["gaussian"])
    assert (first.name, second.name) == ("k.txt[1]", "edges")
    assert (second.bias, second.origin, second.scale) == (128.0, (0, 0), 1.0)


def test_a_leading_factor_block_belongs_to_the_first_kernel() -> None:
    kernels = parse_grid("# blur\n1/16\n\n1 2 1\n2 4 2\n1 2 1\n", "k.txt")
    assert_same(only(kernels), REFERENCE["gaussian"])


def test_a_lone_fraction_is_a_kernel_when_there_is_nothing_else() -> None:
    assert only(parse_grid("1/9")).matrix.tolist() == [[1 / 9]]


def test_imagemagick_lists() -> None:
    kernels = parse_kernel_text("3x1: 1,0,-1 ; 1x3+0+2: 1 0 -1;;2: 1 2 3 4;", "im")
    assert isinstance(kernels, KernelSet)
    assert kernels.combine is None
    assert [k.name for k in kernels.kernels] == ["im[1]", "im[2]", "im[3]"]
    assert [k.shape for k in kernels.kernels] == [(1, 3), (3, 1), (2, 2)]
    assert [k.origin for k in kernels.kernels] == [(0, 1), (2, 0), (0, 0)]


def test_json_set_reads_back_a_builtin_set() -> None:
    for name in ["sobel", "kirsch"]:
        builtin = get_builtin(name)
        kernels = resolve_kernel(show_json(name))
        assert isinstance(kernels, KernelSet)
        assert (kernels.name, kernels.combine, kernels.bias) == (
            builtin.name,
            builtin.combine,
            builtin.bias,
        )
        assert [k.name for k in kernels.kernels] == [k.name for k in builtin.kernels]
        for got, want in zip(kernels.kernels, builtin.kernels, strict=True):
            assert_same(got, want)


def test_json_sets_and_lists() -> None:
    text = (
        '{"name": "pair", "combine": "max", "bias": 2, "kernels": '
        '[{"weights": [[1, 0, -1]], "name": "h"}, [[1], [0], [-1]]]}'
    )
    kernels = parse_json(text, "k.json")
    assert isinstance(kernels, KernelSet)
    assert (kernels.name, kernels.combine, kernels.bias) == ("pair", "max", 2.0)
    assert [k.name for k in kernels.kernels] == ["h", "pair[2]"]
    listed = parse_json('[{"weights": [[1]]}, {"weights": [[2, 3]], "bias": 1}]', "k.json")
    assert isinstance(listed, KernelSet)
    assert (listed.name, listed.combine) == ("k.json", None)
    assert [k.name for k in listed.kernels] == ["k.json[1]", "k.json[2]"]
    assert listed.kernels[1].bias == 1.0


# --- banks -------------------------------------------------------------------------------------


def test_npy_2d_is_a_kernel_3d_and_4d_are_banks(tmp_path: Path) -> None:
    weights = np.arange(2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3)
    (tmp_path / "w4.npy").write_bytes(npy(weights))
    bank = resolve_kernel(str(tmp_path / "w4.npy"))
    assert isinstance(bank, Bank)
    assert (bank.shape, bank.name, bank.bias.tolist()) == ((2, 3, 3, 3), "w4.npy", [0.0, 0.0])
    np.testing.assert_array_equal(bank.weights, weights)
    depth = parse_npy(npy(weights[0]), "w3")
    assert isinstance(depth, Bank)
    assert depth.shape == (1, 3, 3, 3)
    flat = parse_npy(npy(np.ones((1, 1, 2, 2))), "w")
    assert isinstance(flat, Bank)  # the caller decides; as_kernels() gives the 2-D kernel
    as_kernels = flat.as_kernels()
    assert as_kernels is not None
    np.testing.assert_array_equal(as_kernels.kernels[0].weights, np.ones((2, 2)))
    ints = only(parse_npy(npy(np.array(GAUSS, dtype=np.uint8)), "k"))
    np.testing.assert_array_equal(ints.weights, GAUSS)


def test_json_banks() -> None:
    bank = parse_json('{"name": "conv", "weights": [[[[1, 2]]], [[[3, 4]]]], "bias": [1, 2]}')
    assert isinstance(bank, Bank)
    assert (bank.name, bank.shape, bank.bias.tolist()) == ("conv", (2, 1, 1, 2), [1.0, 2.0])
    shared = parse_json('{"weights": [[[1, 2]], [[3, 4]]], "bias": 5}', "k.json")
    assert isinstance(shared, Bank)
    assert (shared.name, shared.shape, shared.bias.tolist()) == ("k.json", (1, 2, 1, 2), [5.0])
    bare = parse_kernel_text("[[[[1]]]]", "b")
    assert isinstance(bare, Bank)
    assert bare.shape == (1, 1, 1, 1)


def test_banks_from_standard_input() -> None:
    bank = resolve_kernel("-", stdin=io.BytesIO(npy(np.ones((4, 3, 5, 5)))))
    assert isinstance(bank, Bank)
    assert (bank.shape, bank.name) == ((4, 3, 5, 5), "stdin")
    from_json = resolve_kernel("-", stdin=io.BytesIO(b' \n{"weights": [[[[1]]]], "bias": [3]}'))
    assert isinstance(from_json, Bank)
    assert from_json.bias.tolist() == [3.0]


# --- sniffing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3x3: 0,-1,0 -1,5,-1 0,-1,0", True),
        ("3: 1 2 3 4 5 6 7 8 9", True),
        ("2x1+0+0 : 1 2", True),
        ("[[1, 0, -1]]", True),
        ('  {"weights": [[1]]}', True),
        ("1,0,-1", True),
        ("1 0 -1", True),
        ("sobelx", False),
        ("kernel.txt", False),
        ("", False),
    ],
)
def test_looks_like_matrix(text: str, expected: bool) -> None:
    assert looks_like_matrix(text) is expected


def test_a_ragged_grid_that_is_a_mat_is_read_as_a_mat() -> None:
    kernels = parse_kernel_text("3 3\n1 2 1\n2 4 2\n1 2 1\n", "k")
    assert_same(only(kernels), Kernel(GAUSS))
    # A .mat whose header row is as wide as its rows is a valid grid, and sniffs as one.
    assert only(parse_kernel_text("2 2\n1 2\n3 4\n")).shape == (3, 2)
    assert only(parse_kernel_text("2 2\n1 2\n3 4\n", form="mat")).shape == (2, 2)
    written = "3 3 16\n1 2 1\n2 4 2\n1 2 1\n"
    assert only(parse_kernel_data(written.encode(), "stdin")).shape == (4, 3)
    assert_same(
        only(parse_kernel_data(written.encode(), "k.mat", suffix=".mat")), Kernel(GAUSS, scale=16)
    )


def test_inline_kernels_longer_than_a_file_name() -> None:
    text = json.dumps({"weights": np.ones((15, 15)).tolist(), "scale": 225})
    assert len(text) > 1000
    assert only(resolve_kernel(text)).matrix.sum() == pytest.approx(1.0)


def test_imagemagick_text_may_carry_comments_and_span_lines() -> None:
    text = "# sharpen\n3x3:\n 0 -1  0\n-1  5 -1\n 0 -1  0  # done\n"
    assert_same(only(parse_kernel_data(text.encode(), "s.txt")), Kernel(get_builtin_matrix()))


def get_builtin_matrix() -> np.ndarray:
    return get_builtin("sharpen").kernels[0].matrix


def test_a_forced_form_is_used() -> None:
    assert only(parse_kernel_text("1 2 3", form="grid")).shape == (1, 3)
    with pytest.raises(ValueError, match="unknown kernel form 'csv'"):
        parse_kernel_text("1", form="csv")


def test_byte_order_mark_is_allowed() -> None:
    assert only(parse_kernel_data("\ufeff[[1, 2]]".encode(), "k")).shape == (1, 2)
    assert only(parse_kernel_data("\ufeff1 2\n3 4".encode(), "k")).shape == (2, 2)


def test_resolve_order_builtin_stdin_file_inline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "box").write_text("1 2 3\n")
    assert resolve_kernel("box").name == "box"  # a built-in first
    assert only(resolve_kernel("./box")).shape == (1, 3)
    (tmp_path / "-").write_text("1 2\n")
    assert only(resolve_kernel("-", stdin=io.BytesIO(b"5"))).shape == (1, 1)  # stdin before files


# --- errors: one exact line per mistake ---------------------------------------------------------

TEXT_ERRORS: list[tuple[str, str | None, str]] = [
    # grid
    ("1,a", None, "kernel 'k': 'a' in the row is not a number"),
    ("1 2 1\n2 x 2\n", None, "kernel 'k': 'x' in line 2 is not a number"),
    ("1,nan;0,1", None, "kernel 'k': 'nan' in row 1 is not a finite number"),
    ("1 2\n1 inf\n", None, "kernel 'k': 'inf' in line 2 is not a finite number"),
    ("0 0\n1 1/0\n", None, "kernel 'k': '1/0' in line 2 is not a finite number"),
    (
        "1,2;3",
        None,
        "kernel 'k' has ragged rows: row 1 has 2 numbers but row 2 has 1; "
        "every row needs the same count",
    ),
    (
        "1 2 1\n2 4\n---\n1\n",
        None,
        "kernel 'k' has ragged rows: line 1 has 3 numbers but line 2 has 2; "
        "every row needs the same count",
    ),
    ("", None, "kernel 'k' has no numbers; expected rows such as '0,-1,0;-1,5,-1;0,-1,0'"),
    (
        "# nothing\n\n---\n",
        None,
        "kernel 'k' has no numbers; expected rows such as '0,-1,0;-1,5,-1;0,-1,0'",
    ),
    ("1 2\nscale 0\n", None, "kernel 'k': scale 0 in line 2 would divide by zero"),
    ("1 2\nbias 1\n\nbias 2\n", None, "kernel 'k': bias is given twice (line 2 and line 4)"),
    (
        "1 2\nanchor 1,0\n",
        None,
        "kernel 'k': anchor 1,0 in line 2 is outside the 1x2 kernel; expected 0..0,0..1",
    ),
    ("1 2\nanchor x\n", None, "kernel 'k': anchor 'x' in line 2 is not two whole numbers Y,X"),
    ("0 0\n1 1e999\n", None, "kernel 'k': '1e999' in line 2 is beyond the range of a 64-bit float"),
    # ImageMagick
    ("3x3: 1,2", None, "ImageMagick kernel 'k' has 2 values; its 3x3 header needs 9"),
    ("2: 1 2 3 4 5", None, "ImageMagick kernel 'k' has 5 values; its 2x2 header needs 4"),
    ("1x1:", None, "ImageMagick kernel 'k' has 0 values; its 1x1 header needs 1"),
    (
        "2x1: 1 2; 3x1: 1",
        None,
        "ImageMagick kernel 'k' (kernel 2 of 2) has 1 value; its 3x1 header needs 3",
    ),
    (
        "3x3+3+0: 1 2 3 4 5 6 7 8 9",
        None,
        "ImageMagick kernel 'k': origin +3+0 is outside its 3x3 header; "
        "expected +X+Y with X in 0..2 and Y in 0..2",
    ),
    (
        "2x1-1+0: 1 2",
        None,
        "ImageMagick kernel 'k': origin -1+0 is outside its 2x1 header; "
        "expected +X+Y with X in 0..1 and Y in 0..0",
    ),
    (
        "0x3: 1",
        None,
        "ImageMagick kernel 'k': header '0x3' has a zero size; "
        "expected a width and height of 1 or more",
    ),
    (
        "2x1: nan -",
        None,
        "ImageMagick kernel 'k' has only absent cells ('nan' or '-'); expected at least one number",
    ),
    (
        "2x1: 1 a",
        None,
        "ImageMagick kernel 'k': 'a' is not a number; expected numbers, 'nan' or '-'",
    ),
    (
        "2x1: 1 inf",
        None,
        "ImageMagick kernel 'k': 'inf' is not a finite number; expected numbers, 'nan' or '-'",
    ),
    (
        "2x1: 1 1/2",
        None,
        "ImageMagick kernel 'k': '1/2' is not a number; expected numbers, 'nan' or '-'",
    ),
    (
        "2x1: 1,,2",
        None,
        "ImageMagick kernel 'k' has an empty value between commas; expected a number, 'nan' or '-'",
    ),
    (
        "3x3: 1 2 3 4 5 6 7 8 9; Sobel",
        None,
        "ImageMagick kernel 'k' (kernel 2 of 2) does not start with a W:, WxH: or WxH+X+Y: "
        "header; named ImageMagick kernels are not read, write the values (see 'imgconv "
        "kernels list' for imgconv's built-ins)",
    ),
    (
        "3x3+1: 1 2 3",
        "imagemagick",
        "ImageMagick kernel 'k': header '3x3+1' is not W, WxH or WxH+X+Y "
        "(such as '3', '3x3' or '3x3+1+1')",
    ),
    (
        " ; ",
        "imagemagick",
        "ImageMagick kernel 'k' is empty; expected a kernel such as '3x3: 0,-1,0 -1,5,-1 0,-1,0'",
    ),
    # libvips .mat
    ("3 3\n1 2 1\n2 4 2\n", "mat", "kernel 'k': the header '3 3' (W H) needs 3 rows but it has 2"),
    (
        "3 1\n1 2 1\n4 5 6\n",
        "mat",
        "kernel 'k': the header '3 1' (W H) needs 1 row but it has 2",
    ),
    (
        "3 2\n1 2 1\n1 2\n",
        "mat",
        "kernel 'k': line 3 has 2 numbers but the header '3 2' (W H) needs 3 per row",
    ),
    (
        "3\n1 2 1\n",
        "mat",
        "kernel 'k': the header '3' in line 1 has 1 field; a .mat header is 'W H [scale [offset]]'",
    ),
    (
        "1 1 1 0 9\n1\n",
        "mat",
        "kernel 'k': the header '1 1 1 0 9' in line 1 has 5 fields; "
        "a .mat header is 'W H [scale [offset]]'",
    ),
    (
        "0 1\n\n",
        "mat",
        "kernel 'k': width W '0' in the header is not a positive whole number",
    ),
    (
        "1 2.5\n1\n1\n",
        "mat",
        "kernel 'k': height H '2.5' in the header is not a positive whole number",
    ),
    ("1 1 0\n1\n", "mat", "kernel 'k': scale '0' in the header would divide by zero"),
    ("1 x\n1\n", "mat", "kernel 'k': 'x' in the header is not a number"),
    ("2 1\n1 nan\n", "mat", "kernel 'k': 'nan' in line 2 is not a finite number"),
    ("2 1\n1 1/2\n", "mat", "kernel 'k': '1/2' in line 2 is not a number"),
    ("\n\n", "mat", "kernel 'k' is empty; a .mat file starts with a header 'W H [scale [offset]]'"),
    # JSON
    ("[[1, 2]", None, "kernel 'k' is not valid JSON: Expecting ',' delimiter at line 1 column 8"),
    (
        '{"weights":\n [[1 2]]}',
        None,
        "kernel 'k' is not valid JSON: Expecting ',' delimiter at line 2 column 6",
    ),
    ("[[1, NaN]]", None, "kernel 'k': NaN is not a finite number; expected finite numbers"),
    (
        "[[-Infinity]]",
        None,
        "kernel 'k': -Infinity is not a finite number; expected finite numbers",
    ),
    ("[[1e400]]", None, "kernel 'k': 1e400 is not a finite number; expected finite numbers"),
    (
        "[[1, 2], [3]]",
        None,
        "kernel 'k' has ragged rows: row 1 has 2 numbers but row 2 has 1; "
        "every row needs the same count",
    ),
    (
        '{"weights": [[1, 2], [3]]}',
        None,
        "kernel 'k' has ragged rows: \"weights\" row 1 has 2 numbers but row 2 has 1; "
        "every row needs the same count",
    ),
    (
        '{"weights": [[[1, 2], [3, 4]], [[5, 6]]]}',
        None,
        'kernel \'k\' has ragged rows: "weights"[0] has 2 lists but "weights"[1] has 1; '
        "every row needs the same count",
    ),
    (
        '{"weights": [[1, "a"]]}',
        None,
        'kernel \'k\': "weights" row 1, column 2 is a string "a"; expected a number',
    ),
    ("[[1, true]]", None, "kernel 'k': row 1, column 2 is true; expected a number"),
    ("[[1, 2], 3]", None, "kernel 'k': row 2 is the number 3; expected a list"),
    (
        "[1, 2, 3]",
        None,
        "kernel 'k': the JSON list is a flat list of numbers; expected a list of rows such as "
        "[[0,-1,0],[-1,5,-1],[0,-1,0]]",
    ),
    (
        "[]",
        None,
        "kernel 'k': the JSON list is empty; expected rows of numbers such as "
        "[[0,-1,0],[-1,5,-1],[0,-1,0]]",
    ),
    (
        '{"weights": [[]]}',
        None,
        "kernel 'k': \"weights\" holds an empty list; expected rows of numbers such as "
        "[[0,-1,0],[-1,5,-1],[0,-1,0]]",
    ),
    (
        '{"weights": [[[[[1]]]]]}',
        None,
        "kernel 'k': \"weights\" has 5 dimensions (shape (1, 1, 1, 1, 1)); expected 2 (H x W), "
        "3 (C x H x W) or 4 (K x C x H x W)",
    ),
    (
        '{"weights": [[1]], "sclae": 2}',
        None,
        "kernel 'k': unknown key 'sclae' (did you mean 'scale'?); the keys are weights, scale, "
        "factor, bias, offset, anchor, name, absent",
    ),
    (
        '{"kernels": [{"weights": [[1]], "colour": 2}]}',
        None,
        "kernel 'k': unknown key 'colour' in kernel 1; the keys are weights, scale, factor, "
        "bias, offset, anchor, name, absent",
    ),
    (
        '{"kernels": [[[1]]], "combin": "max"}',
        None,
        "kernel 'k': unknown key 'combin' in the set (did you mean 'combine'?); the keys are "
        "name, combine, bias, kernels",
    ),
    (
        '{"wieghts": [[1]]}',
        None,
        'kernel \'k\': a JSON object needs "weights" (a kernel) or "kernels" (a set); '
        "its keys are 'wieghts'",
    ),
    (
        '{"weights": [[1]], "scale": 1, "scale": 2}',
        None,
        "kernel 'k': key 'scale' is given twice in one object",
    ),
    (
        '{"weights": [[1]], "scale": 0}',
        None,
        "kernel 'k': \"scale\" is 0; expected a finite, non-zero divisor",
    ),
    (
        '{"weights": [[1]], "scale": "16"}',
        None,
        'kernel \'k\': "scale" is a string "16"; expected a number',
    ),
    (
        '{"weights": [[1]], "factor": 0}',
        None,
        "kernel 'k': \"factor\" is 0; a factor of 0 would make every weight zero",
    ),
    (
        '{"weights": [[1]], "bias": 1, "offset": 1}',
        None,
        'kernel \'k\': "bias" and "offset" are the same; give one of them',
    ),
    (
        '{"weights": [[1]], "anchor": [0.5, 0]}',
        None,
        "kernel 'k': \"anchor\" is a list [0.5, 0]; expected [y, x], two whole numbers",
    ),
    (
        '{"weights": [[1, 2]], "anchor": [1, 0]}',
        None,
        "kernel 'k': \"anchor\" [1, 0] is outside the 1x2 kernel; expected 0..0,0..1",
    ),
    (
        '{"weights": [[1, 2]], "absent": [[0, 1]]}',
        None,
        "kernel 'k': \"absent\" cell [0, 1] has weight 2.0; an absent cell's weight must be 0",
    ),
    (
        '{"weights": [[1]], "name": 3}',
        None,
        "kernel 'k': \"name\" is the number 3; expected a string",
    ),
    (
        '{"kernels": [[[1]]], "combine": "mean"}',
        None,
        'kernel \'k\': "combine" is a string "mean"; expected one of magnitude, max, min, sum, '
        "stack, chain or null",
    ),
    (
        '{"kernels": []}',
        None,
        "kernel 'k': \"kernels\" is an empty list; expected a list of kernel objects",
    ),
    (
        '{"kernels": [[[[1]]]]}',
        None,
        "kernel 'k': kernel 1 \"weights\" has 3 dimensions (shape (1, 1, 1)); a kernel of a set "
        "is a list of rows such as [[0,-1,0],[-1,5,-1],[0,-1,0]]",
    ),
    (
        '{"kernels": [3]}',
        None,
        "kernel 'k': kernel 1 of the set is the number 3; expected a kernel object such as "
        '{"weights": [[1, 0, -1]]}',
    ),
    (
        '[{"weights": [[1]]}, [[1]]]',
        None,
        "kernel 'k': the JSON list mixes kernel objects and other values; expected a list of "
        "rows of numbers or a list of kernel objects",
    ),
    (
        '{"weights": [[[1]]], "anchor": [0, 0]}',
        None,
        "kernel 'k': 'anchor' does not apply to a 3-D bank; a bank takes weights, bias, name",
    ),
    (
        '{"weights": [[[[1]]], [[[2]]]], "bias": [1]}',
        None,
        "kernel 'k': \"bias\" is a list [1] of shape (1,); expected 2 numbers, one per kernel, "
        "or one number",
    ),
    (
        "true",
        "json",
        "kernel 'k': the JSON is true; expected a list of rows such as "
        '[[0,-1,0],[-1,5,-1],[0,-1,0]] or an object with "weights"',
    ),
]


@pytest.mark.parametrize(("text", "form", "message"), TEXT_ERRORS)
def test_text_errors(text: str, form: str | None, message: str) -> None:
    with pytest.raises(KernelError) as info:
        parse_kernel_text(text, "k", form=form)
    assert str(info.value) == message


DATA_ERRORS: list[tuple[bytes, str, str]] = [
    (
        npy(np.ones(3)),
        ".npy",
        "kernel 'k' is a float64 array of shape (3,); expected 2 to 4 "
        "dimensions: H x W, C x H x W or K x C x H x W",
    ),
    (
        npy(np.ones((1, 1, 1, 3, 3))),
        ".npy",
        "kernel 'k' is a float64 array of shape "
        "(1, 1, 1, 3, 3); expected 2 to 4 dimensions: H x W, C x H x W or K x C x H x W",
    ),
    (
        npy(np.float64(2)),
        "",
        "kernel 'k' is a float64 array of shape (); expected 2 to 4 "
        "dimensions: H x W, C x H x W or K x C x H x W",
    ),
    (
        npy(np.ones((3, 3), complex)),
        ".npy",
        "kernel 'k' is a complex128 array of shape (3, 3); expected an array of integers or floats",
    ),
    (
        npy(np.array([[{"a": 1}]], dtype=object), allow_pickle=True),
        ".npy",
        "kernel 'k' is an object array of shape (1, 1): Python objects, which are never "
        "unpickled; expected an array of integers or floats",
    ),
    (
        npy(np.array([["a", "b"]])),
        ".npy",
        "kernel 'k' is a <U1 array of shape (1, 2); expected an array of integers or floats",
    ),
    (
        npy(np.zeros((2, 2), dtype=[("a", "f8"), ("b", "i4")])),
        ".npy",
        "kernel 'k' is a [('a', '<f8'), ('b', '<i4')] array of shape (2, 2); expected an array "
        "of integers or floats",
    ),
    (
        npy(np.array([[1.0, np.nan]])),
        ".npy",
        "kernel 'k' has the value nan at index [0, 1] of "
        "its float64 array of shape (1, 2); expected finite numbers",
    ),
    (
        npy(np.array([[1.0], [-np.inf]], np.float32)),
        "",
        "kernel 'k' has the value -inf at index "
        "[1, 0] of its float32 array of shape (2, 1); expected finite numbers",
    ),
    (
        npy(np.zeros((0, 3))),
        ".npy",
        "kernel 'k' is a float64 array of shape (0, 3), which is "
        "empty; expected at least one weight",
    ),
    (
        pickle.dumps(np.ones((3, 3))),
        ".npy",
        "kernel 'k' is not a .npy array (it does not start "
        "with NumPy's \\x93NUMPY header); pickled data is never read",
    ),
    (
        npy(np.ones((3, 3)))[:-8],
        ".npy",
        "kernel 'k' is a damaged .npy file: EOF: reading array data, expected 72 bytes got 64",
    ),
    (
        b"\x89PNG\r\n\x1a\n",
        ".png",
        "kernel 'k' is not UTF-8 text (byte 0 is 0x89); expected a "
        "text kernel (a grid, ImageMagick, .mat or JSON) or a .npy array",
    ),
    (b"[[1, 2]]", ".mat", "kernel 'k': '[[1' in the header is not a number"),
    (b"3 1\n1 2 1\n", ".json", "kernel 'k' is not valid JSON: Extra data at line 1 column 3"),
]


@pytest.mark.parametrize(("data", "suffix", "message"), DATA_ERRORS)
def test_data_errors(data: bytes, suffix: str, message: str) -> None:
    with pytest.raises(KernelError) as info:
        parse_kernel_data(data, "k", suffix=suffix)
    assert str(info.value) == message


@pytest.mark.parametrize("data", [b"", b"  \n\t\n"])
def test_empty_standard_input(data: bytes) -> None:
    with pytest.raises(KernelError) as info:
        resolve_kernel("-", stdin=io.BytesIO(data))
    assert str(info.value) == (
        "no kernel on standard input; expected a kernel in any of imgconv's formats"
    )


def test_oversized_standard_input() -> None:
    with pytest.raises(KernelError) as info:
        resolve_kernel("-", stdin=io.BytesIO(b"1 " * (MAX_KERNEL_FILE_BYTES // 2 + 1)))
    assert str(info.value) == (
        f"standard input holds more than {MAX_KERNEL_FILE_BYTES} bytes; a kernel is a small "
        "text grid or array (is this an image?)"
    )


def test_unreadable_standard_input() -> None:
    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise OSError(5, "Input/output error")

    with pytest.raises(KernelError) as info:
        resolve_kernel("-", stdin=Broken())
    assert str(info.value) == "cannot read the kernel from standard input: Input/output error"


def test_file_errors(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"1" * (MAX_KERNEL_FILE_BYTES + 1))
    with pytest.raises(KernelError) as info:
        resolve_kernel(str(big))
    assert str(info.value) == (
        f"kernel file {str(big)!r} is {MAX_KERNEL_FILE_BYTES + 1} bytes; a kernel file is a "
        "small text grid or array (is this an image?)"
    )
    with pytest.raises(KernelError) as info:
        resolve_kernel(str(tmp_path))
    assert str(info.value) == f"kernel {str(tmp_path)!r} is a directory; expected a kernel file"
    image = tmp_path / "photo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(KernelError) as info:
        resolve_kernel(str(image))
    assert str(info.value).startswith("kernel 'photo.png' is not UTF-8 text (byte 0 is 0x89)")


def test_inline_errors_name_the_text() -> None:
    with pytest.raises(KernelError) as info:
        resolve_kernel("3x3: 1,2")
    assert str(info.value) == "ImageMagick kernel '3x3: 1,2' has 2 values; its 3x3 header needs 9"
    with pytest.raises(KernelError) as info:
        resolve_kernel('{"weights": [[1]], "sclae": 2}')
    assert str(info.value).startswith(
        "kernel '{\"weights\": [[1]], \"sclae\": 2}': unknown key 'sclae'"
    )


# --- through the command line ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "data"),
    [
        ("k.mat", b"3 3 16 2\n1 2 1\n2 4 2\n1 2 1\n"),
        ("k.npy", None),
        ("k.json", b'{"weights": [[1, 2, 1], [2, 4, 2], [1, 2, 1]], "scale": 16, "bias": 2}'),
        ("k.im", b"3x3: 1 2 1 2 4 2 1 2 1\n"),
    ],
)
def test_kernel_files_apply_like_the_inline_grid(
    tmp_path: Path, file_name: str, data: bytes | None
) -> None:
    image = np.random.default_rng(3).integers(0, 256, (7, 9), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "in.png")
    kernel = tmp_path / file_name
    scale, bias = ("1", "0") if file_name == "k.im" else ("16", "2")
    if data is None:
        data = npy(np.array(GAUSS) / 16)
        bias = "0"
    kernel.write_bytes(data)
    runner = CliRunner()
    inline = f"1 2 1; 2 4 2; 1 2 1; scale {scale}; bias {bias}"
    for spec, out in [(str(kernel), "a.png"), (inline, "b.png")]:
        result = runner.invoke(cli, ["apply", spec, str(tmp_path / "in.png"), str(tmp_path / out)])
        assert result.exit_code == 0, result.output
    a = np.asarray(Image.open(tmp_path / "a.png"))
    b = np.asarray(Image.open(tmp_path / "b.png"))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, image)


def test_imagemagick_convolve_is_flip(tmp_path: Path) -> None:
    """Reading as written and ``--flip`` is ImageMagick's ``-morphology Convolve``."""
    runner = CliRunner()
    result = runner.invoke(cli, ["kernels", "show", "3x2+2+0: 1,2,3 4,5,-", "--flip", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["weights"] == [[0.0, 5.0, 4.0], [3.0, 2.0, 1.0]]
    assert shown["anchor"] == [1, 0]


def test_absent_cells_are_shown_and_read_back() -> None:
    printed = show_json("3x3: -,1,- 1,-4,1 -,1,-")
    assert json.loads(printed)["absent"] == [[0, 0], [0, 2], [2, 0], [2, 2]]
    assert_same(only(resolve_kernel(printed)), REFERENCE["absent"])


def test_every_parser_accepts_only_its_form() -> None:
    parsers: list[Callable[[str, str], object]] = [
        parse_grid,
        parse_imagemagick,
        parse_vips_mat,
        parse_json,
    ]
    for parser in parsers:
        with pytest.raises(KernelError):
            parser("this is not a kernel", "k")


@settings(max_examples=300)
@given(
    mantissa=st.from_regex(r"[+-]?(\d{1,25}(\.\d{0,25})?|\.\d{1,25})", fullmatch=True),
    exponent=st.one_of(st.just(""), st.integers(-340, 330).map(lambda e: f"e{e:+d}")),
)
@example(mantissa="-0", exponent="")  # 0, not -0: the exact value has no sign
@example(mantissa="-1", exponent="e-400")  # -0, as the exact value rounds
@example(mantissa="1.8", exponent="e308")  # beyond a float
def test_a_decimal_reads_as_its_exact_value_rounded(mantissa: str, exponent: str) -> None:
    """The quick float() path gives what the exact Fraction gives, to the last bit."""
    token = mantissa + exponent
    exact = Fraction(token)
    try:
        expected = float(exact)
    except OverflowError:
        with pytest.raises(KernelError, match="beyond the range of a 64-bit float"):
            parse_number(token, "line 1", "k")
        return
    assert parse_number(token, "line 1", "k").hex() == expected.hex()
