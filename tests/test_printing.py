"""Numbers in and out: matrix inputs, --print in every form and destination, --combine chain."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from rich.console import Console

from imgconv.cli import cli
from imgconv.core.filtering import filter_image
from imgconv.core.kernels import Kernel, KernelSet
from imgconv.core.matrix_text import format_matrix_text, format_number, parse_matrix_text
from imgconv.errors import UsageError
from imgconv.image_io import read_picture
from imgconv.render import block_means, feature_maps, map_summary, map_table

EXAMPLE_1 = """\
0 0 0 0 0 0 0
0 1 0 0 0 1 0
0 0 0 0 0 0 0
0 0 0 1 0 0 0
0 1 0 0 0 1 0
0 0 1 1 1 0 0
0 0 0 0 0 0 0
"""
EXAMPLE_2 = "1 2 3 2 1\n3 2 2 1 3\n2 1 3 2 3\n2 3 3 1 2\n3 1 2 2 3\n"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return CliRunner()


def typed(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# --- the seed slides' worked examples, typed in and printed (KERNELS.md section 8) ---------------


def test_example_1_feature_detector(runner: CliRunner, tmp_path: Path) -> None:
    image = typed(tmp_path, "image.txt", EXAMPLE_1)
    result = runner.invoke(
        cli, ["apply", "0,0,1;1,0,0;0,1,1", image, "--padding", "valid", "--print"]
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "0,0,1;1,0,0;0,1,1  5 x 5",
        "   0 1 2 3 4",
        " 0 0 1 0 0 0",
        " 1 0 1 1 1 0",
        " 2 1 0 0 2 1",  # the slide shows 1 at row 3, column 3; it is 0
        " 3 1 4 2 1 0",
        " 4 0 0 1 2 1",
    ]


def test_example_2_box_of_ones(runner: CliRunner, tmp_path: Path) -> None:
    image = typed(tmp_path, "image.csv", EXAMPLE_2.replace(" ", ","))
    ones = typed(tmp_path, "ones.txt", "1 1 1\n1 1 1\n1 1 1\n")
    result = runner.invoke(cli, ["apply", ones, image, "--padding", "valid", "--print", "csv"])
    assert (result.exit_code, result.stdout) == (0, "19,18,20\n21,18,20\n20,18,21\n")


def test_example_3_one_dimensional(runner: CliRunner, tmp_path: Path) -> None:
    signal = typed(tmp_path, "signal.txt", "1 2 3 4 5\n")
    result = runner.invoke(cli, ["apply", "2,1", signal, "--padding", "valid", "--print"])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == " 0 4 7 10 13"
    written = tmp_path / "out.txt"
    runner.invoke(cli, ["apply", "2,1", signal, str(written), "--padding", "valid"])
    assert written.read_text() == "4 7 10 13\n"


# --- matrices as input ---------------------------------------------------------------------------


def test_matrix_text_grammar() -> None:
    array = parse_matrix_text("# a comment\n1, 2;3 4\n\n1/2 -1e1\n0.25 0\n")
    assert array.shape == (2, 2, 2)
    assert array[..., 1].tolist() == [[0.5, -10], [0.25, 0]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 2\n3\n", "matrix 'm': ragged rows: line 1 has 2 numbers but line 2 has 1"),
        ("1 x\n", "matrix 'm': 'x' in line 1 is not a number"),
        ("1 nan\n", "matrix 'm': 'nan' in line 1 is not a finite number"),
        ("1/0\n", "matrix 'm': '1/0' in line 1 is not a number"),
        ("# nothing\n", "matrix 'm' has no numbers; expected rows of numbers such as '1 2 3'"),
        (
            "1 2\n\n1 2 3\n",
            "matrix 'm': the plane starting at line 3 is 1x3 but the first is 1x2; every channel "
            "needs the same size",
        ),
    ],
)
def test_matrix_text_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_matrix_text(text, "m")
    assert (
        str(caught.value)
        .replace(" has ragged rows:", ": ragged rows:")
        .startswith(message.split(" every row")[0])
    )


def test_format_number_is_shortest_and_reads_back() -> None:
    assert [format_number(v) for v in (0.0, -0.0, 4.0, -3.0, 0.1, 2.5e-7, 1e16)] == [
        "0",
        "0",
        "4",
        "-3",
        "0.1",
        "2.5e-07",
        "1e+16",
    ]
    for value in np.random.default_rng(1).standard_normal(50):
        assert float(format_number(float(value))) == value
        single = np.float32(value)
        assert np.float32(format_number(float(single), np.float32)) == single


def test_matrix_text_round_trip() -> None:
    maps = np.random.default_rng(2).standard_normal((2, 3, 4))
    text = format_matrix_text(maps, separator=",", names=["a", "b"])
    np.testing.assert_array_equal(np.moveaxis(parse_matrix_text(text), -1, 0), maps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_matrix_text_is_every_cell_formatted_alone(dtype: type) -> None:
    # Cells are formatted once per distinct value; the text must be what
    # formatting each cell by itself gives, -0.0, NaN and infinities included.
    rng = np.random.default_rng(3)
    cells = np.concatenate([rng.standard_normal(40) * 1e3, rng.integers(-9, 9, 40)])
    if np.dtype(dtype).kind == "f":
        cells[:6] = [-0.0, 0.0, np.nan, -np.inf, np.inf, 1e-30]
    maps = cells.astype(dtype).reshape(2, 5, 8)
    expected = "\n".join(
        "\n".join(",".join(format_number(float(v), maps.dtype) for v in row) for row in plane)
        + "\n"
        for plane in maps
    )
    assert format_matrix_text(maps, separator=",") == expected
    assert format_matrix_text(np.zeros((3, 0), dtype)) == "\n\n\n"


def test_npy_input_is_used_as_is(tmp_path: Path) -> None:
    np.save(tmp_path / "m.npy", np.arange(12, dtype=np.int16).reshape(2, 3, 2) - 5)
    picture = read_picture(str(tmp_path / "m.npy"))
    assert picture.numeric
    assert picture.bands == ("C1", "C2")
    assert picture.pixels.dtype == np.float64
    assert picture.pixels[0, 0].tolist() == [-5, -4]


def test_matrix_on_standard_input_is_sniffed() -> None:
    assert read_picture("-", stdin=io.BytesIO(b"1 2\n3 4\n")).numeric
    buffer = io.BytesIO()
    np.save(buffer, np.eye(3))
    assert read_picture("-", stdin=io.BytesIO(buffer.getvalue())).pixels.shape == (3, 3, 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["out.png"],
            "INPUT {m} is a numeric matrix, which has no pixel range to make PNG pixels from; "
            "write .txt, .csv, .npy or .tiff, or use --print",
        ),
        (
            ["out.txt", "--map", "clip"],
            "--map clip maps pixels to an image range; INPUT {m} is a numeric matrix, whose "
            "results are kept as numbers",
        ),
    ],
)
def test_matrices_stay_numbers(
    runner: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    matrix = typed(tmp_path, "m.txt", "1 2\n3 4\n")
    target = str(tmp_path / args[0])
    result = runner.invoke(cli, ["apply", "box", matrix, target, *args[1:]])
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: " + message.format(m=repr(matrix)) + "\n",
    )
    assert not Path(target).exists()


def test_channels_of_a_matrix_are_written_as_blocks(runner: CliRunner, tmp_path: Path) -> None:
    matrix = typed(tmp_path, "m.txt", "1 2\n3 4\n---\n10 20\n30 40\n")
    out = tmp_path / "o.csv"
    result = runner.invoke(cli, ["apply", "0,1", matrix, str(out), "--padding", "valid"])
    assert result.exit_code == 0
    assert out.read_text() == "# C1\n2\n4\n\n# C2\n20\n40\n"


# --- where --print goes --------------------------------------------------------------------------


def grey_png(tmp_path: Path) -> str:
    path = tmp_path / "in.png"
    Image.fromarray(np.array([[0, 0, 255, 255]] * 3, dtype=np.uint8)).save(path)
    return str(path)


def test_print_table_to_stdout_when_the_image_goes_to_a_file(
    runner: CliRunner, tmp_path: Path
) -> None:
    source = grey_png(tmp_path)
    # a kernel starting with a minus sign is a kernel, not an option
    result = runner.invoke(cli, ["apply", "-1,0,1", source, str(tmp_path / "o.png"), "--print"])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "-1,0,1  3 x 4"
    assert result.stdout.splitlines()[2] == " 0 0 255 255 0"  # raw: before mapping
    assert result.stderr == ""
    assert (tmp_path / "o.png").exists()


@pytest.mark.parametrize(
    ("words", "heading"),
    [
        # the product brief's example: imgconv apply gaussian:2 --stride 2 --print small.png out.png
        (
            ["apply", "gaussian:2", "--stride", "2", "--print", "{src}", "{out}"],
            "gaussian:2  2 x 2",
        ),
        (["apply", "sobel-x", "--print", "{src}", "{out}", "--stride", "2"], "sobel-x  2 x 2"),
        (["apply", "--print", "-1,0,1", "{src}", "{out}"], "-1,0,1  3 x 4"),
        (["apply", "sobel-x", "{src}", "{out}", "--print", "--stride", "2"], "sobel-x  2 x 2"),
    ],
    ids=["before-input", "before-input-then-options", "before-a-matrix", "before-an-option"],
)
def test_print_with_no_format_before_the_arguments_is_a_table(
    runner: CliRunner, tmp_path: Path, words: list[str], heading: str
) -> None:
    """--print takes table, csv or npy; any other word after it is the next argument."""
    source, target = grey_png(tmp_path), tmp_path / "o.png"
    result = runner.invoke(cli, [w.format(src=source, out=target) for w in words])
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.splitlines()[0] == heading
    assert target.exists()


def test_print_before_standard_input_is_a_table(runner: CliRunner, tmp_path: Path) -> None:
    data = Path(grey_png(tmp_path)).read_bytes()
    result = runner.invoke(
        cli, ["apply", "-1,0,1", "--print", "-", str(tmp_path / "o.png")], input=data
    )
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.splitlines()[0] == "-1,0,1  3 x 4"


def test_print_with_a_format_still_takes_it(runner: CliRunner, tmp_path: Path) -> None:
    source = grey_png(tmp_path)
    result = runner.invoke(
        cli, ["apply", "-1,0,1", "--print", "csv", source, str(tmp_path / "o.png")]
    )
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "0,255,255,0\n0,255,255,0\n0,255,255,0\n"


def test_print_goes_to_stderr_when_the_image_goes_to_stdout(
    runner: CliRunner, tmp_path: Path
) -> None:
    source = grey_png(tmp_path)
    result = runner.invoke(cli, ["apply", "-1,0,1", source, "-", "--print", "csv"])
    assert result.exit_code == 0
    assert result.stdout_bytes.startswith(b"\x89PNG")
    assert result.stderr == "0,255,255,0\n0,255,255,0\n0,255,255,0\n"
    table = runner.invoke(cli, ["apply", "-1,0,1", source, "-", "--print"])
    assert table.stdout_bytes.startswith(b"\x89PNG")
    assert table.stderr.startswith("-1,0,1  3 x 4\n")


def test_print_csv_with_an_output_file_goes_to_stderr(runner: CliRunner, tmp_path: Path) -> None:
    source = grey_png(tmp_path)
    result = runner.invoke(
        cli, ["apply", "-1,0,1", source, str(tmp_path / "o.png"), "--print", "csv"]
    )
    assert (result.stdout, result.stderr) == ("", "0,255,255,0\n0,255,255,0\n0,255,255,0\n")


def test_print_to_a_file(runner: CliRunner, tmp_path: Path) -> None:
    source = grey_png(tmp_path)
    target = tmp_path / "maps.npy"
    result = runner.invoke(
        cli, ["apply", "sobel-x", source, "--print", "npy", "--print-to", str(target)]
    )
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    np.testing.assert_array_equal(np.load(target)[0], [0, 1020, 1020, 0])
    text = tmp_path / "maps.txt"
    runner.invoke(cli, ["apply", "sobel-x", source, "--print", "--print-to", str(text)])
    assert text.read_text().startswith("sobel-x  3 x 4\n")


def test_print_npy_of_a_stack_and_of_colour(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "rgb.png"
    Image.fromarray(np.full((4, 5, 3), 9, dtype=np.uint8)).save(path)
    result = runner.invoke(cli, ["apply", "identity", str(path), "--print", "npy"])
    assert np.load(io.BytesIO(result.stdout_bytes)).shape == (3, 4, 5)  # R, G, B
    stack = runner.invoke(
        cli, ["apply", "sobel", str(path), "--combine", "stack", "--print", "npy"]
    )
    assert np.load(io.BytesIO(stack.stdout_bytes)).shape == (6, 4, 5)  # 2 kernels x 3 bands


def test_print_and_output_errors(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = grey_png(tmp_path)
    result = runner.invoke(cli, ["apply", "box", source, "--print-to", "x.txt", "o.png"])
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: --print-to names where --print writes; add --print (see 'imgconv apply --help')\n",
    )
    monkeypatch.setattr("imgconv.image_io.is_terminal", lambda stream: True)
    refused = runner.invoke(cli, ["apply", "box", source, "--print", "npy"])
    assert (refused.exit_code, refused.stderr) == (
        2,
        "Error: refusing to write .npy data to a terminal (standard output); redirect it or "
        "use --print-to FILE (see 'imgconv apply --help')\n",
    )


# --- rendering, on a recording console -----------------------------------------------------------


def recording(width: int = 80, *, terminal: bool = False) -> Console:
    """A console on a string: rich's own choice of colour (none), or a colour terminal."""
    if terminal:
        return Console(
            width=width, force_terminal=True, color_system="standard", file=io.StringIO()
        )
    return Console(record=True, width=width, file=io.StringIO())


def test_small_map_table_shows_every_number() -> None:
    console = recording()
    console.print(map_table("m", np.array([[1.0, -2.5], [0.1, 1e-7]], dtype=np.float32)))
    assert console.export_text().splitlines() == [
        "m  2 x 2",
        "     0     1",
        " 0   1  -2.5",
        " 1 0.1 1e-07",
    ]


def test_colour_only_on_a_terminal() -> None:
    values = [("m", np.array([[1.0, -2.0]]))]
    plain = recording()
    plain.print(feature_maps(values, 80))
    assert "\x1b[" not in plain.file.getvalue()  # type: ignore[attr-defined]
    coloured = recording(terminal=True)
    coloured.print(feature_maps(values, 80))
    assert "\x1b[31m" in coloured.file.getvalue()  # type: ignore[attr-defined]  # red for -2


def test_no_color_turns_colour_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    console = Console(force_terminal=True, file=io.StringIO())
    console.print(feature_maps([("m", np.array([[1.0, -2.0]]))], 80))
    assert "\x1b[31m" not in console.file.getvalue()  # type: ignore[attr-defined]


def test_large_map_summary_and_heat_map() -> None:
    values = np.zeros((200, 300))
    values[:, 150:] = 255  # a step: dark left half, bright right half
    console = recording(width=62)
    console.print(feature_maps([("step", values)], 62))
    lines = console.export_text().splitlines()
    assert lines[0] == "step  200 x 300  min 0  max 255  mean 127.5"
    bottom = next(i for i, line in enumerate(lines) if line.startswith("\u2514"))
    inner = [line[1:-1] for line in lines[2:bottom]]
    assert len(inner[0]) == 60  # fits the width: 60 columns inside the frame
    assert len(inner) == 20  # 200 x 300 at 60 columns is 20 rows (cells are 2:1)
    assert all(row == " " * 30 + "@" * 30 for row in inner)
    assert " ".join(" ".join(lines[bottom + 1 :]).split()) == (
        "heat map 20 x 60, each character the mean of a block of up to 10 x 5: ' ' is 0 and "
        "'@' is 255"
    )


def test_signed_heat_map_is_by_magnitude() -> None:
    values = np.zeros((40, 40))
    values[:, 10] = -100
    values[:, 30] = 100
    console = recording(width=42)
    console.print(map_summary("edges", values, 42))
    body = console.export_text().splitlines()[2]
    assert body[1:-1][10] == body[1:-1][30] == "@"


def test_block_means_cover_uneven_blocks() -> None:
    values = np.arange(35.0).reshape(5, 7)
    means = block_means(values, 2, 3)
    assert means.shape == (2, 3)
    assert means[0, 0] == values[:2, :2].mean()
    assert means[1, 2] == values[2:, 4:].mean()


# --- --combine chain -----------------------------------------------------------------------------


def test_chain_applies_kernels_one_after_another() -> None:
    image = np.random.default_rng(3).random((12, 14))
    pair = KernelSet("pair", (Kernel([[1, 1]]), Kernel([[1, 1]])), "chain")
    chained = filter_image(image, pair, map="raw", padding="valid").pixels
    direct = filter_image(image, [[1, 2, 1]], map="raw", padding="valid").pixels
    np.testing.assert_allclose(chained, direct, rtol=1e-6)


def test_chain_strides_once_at_the_end() -> None:
    image = np.random.default_rng(4).random((16, 16))
    pair = KernelSet("pair", (Kernel(np.ones((3, 3))), Kernel(np.ones((3, 3)))), "chain")
    strided = filter_image(image, pair, map="raw", stride=2).pixels
    full = filter_image(image, pair, map="raw").pixels
    np.testing.assert_allclose(strided, full[::2, ::2], rtol=1e-6)


def test_chain_through_the_cli(runner: CliRunner, tmp_path: Path) -> None:
    signal = typed(tmp_path, "s.txt", "0 0 0 1 0 0 0\n")
    pair = typed(tmp_path, "pair.txt", "1 1\n---\n1 1\n")
    result = runner.invoke(
        cli, ["apply", pair, signal, "--combine", "chain", "--border", "zero", "--print", "csv"]
    )
    # [1 1] anchored at its right cell: out[j] = in[j-1] + in[j]; twice spreads 1 to 1 2 1
    assert (result.exit_code, result.stdout) == (0, "0,0,0,1,2,1,0\n")
