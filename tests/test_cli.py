"""The command line: every option, pipelines, exact errors and exit codes."""

from __future__ import annotations

import base64
import errno
import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from imgconv.cli import cli
from imgconv.core.catalog import BUILTINS, FAMILIES, get_builtin
from imgconv.core.filtering import filter_image
from imgconv.image_io import read_picture
from imgconv.kernel_source import resolve_kernel


@pytest.fixture(name="runner")
def _runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str, input: bytes | None = None) -> Result:
    return runner.invoke(cli, list(args), input=input)


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def save(path: Path, array: np.ndarray) -> str:
    Image.fromarray(array).save(path)
    return str(path)


def load(path: str | Path) -> np.ndarray:
    """Pixels as imgconv reads them (all 16 bits of 16-bit colour; Pillow keeps 8)."""
    picture = read_picture(path)
    return picture.pixels[..., 0] if picture.pixels.shape[2] == 1 else picture.pixels


RNG = np.random.default_rng(7)
GREY = RNG.integers(0, 256, (23, 31), dtype=np.uint8)
RGB = RNG.integers(0, 256, (23, 31, 3), dtype=np.uint8)
RGBA = np.concatenate([RGB, RNG.choice([0, 128, 255], (23, 31, 1)).astype(np.uint8)], axis=-1)


# --- help, version, entry points ------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-h"],
        ["apply", "--help"],
        ["apply", "-h"],
        ["kernels", "--help"],
        ["kernels", "list", "-h"],
        ["kernels", "show", "-h"],
    ],
)
def test_every_command_has_help(runner: CliRunner, args: list[str]) -> None:
    result = run(runner, *args)
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: ")
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("args", "example"),
    [
        ([], "imgconv kernels show gaussian:1.5"),
        (["apply"], "imgconv apply kirsch:@ --combine stack camera.png compass.tiff"),
        (["kernels", "show"], 'imgconv kernels show "3x3: 0,-1,0 -1,5,-1 0,-1,0"'),
    ],
)
def test_help_examples_keep_one_command_a_line(
    runner: CliRunner, args: list[str], example: str
) -> None:
    """Click's no-rewrap marker works: each example is a line of its own."""
    lines = [line.strip() for line in run(runner, *args, "--help").stdout.splitlines()]
    assert example in lines
    assert "\\b" not in run(runner, *args, "--help").stdout


def test_version(runner: CliRunner) -> None:
    import imgconv

    result = run(runner, "--version")
    assert (result.exit_code, result.stdout) == (0, f"imgconv {imgconv.__version__}\n")


def test_apply_help_explains_reflect(runner: CliRunner) -> None:
    """--help says which 'reflect' imgconv means (SciPy's, not NumPy's)."""
    text = " ".join(run(runner, "apply", "--help").stdout.split())
    assert "reflect (ba|abcd|dc: the edge pixel is repeated, as in SciPy)" in text
    assert "reflect101 (cb|abcd|cb: not repeated, as NumPy's and PyTorch's 'reflect')" in text


# --- apply: every option reaches the core ---------------------------------


OPTION_CASES: list[tuple[list[str], dict[str, Any]]] = [
    ([], {}),
    (["--flip"], {"flip": True}),
    (["--padding", "valid"], {"padding": "valid"}),
    (["--padding", "full"], {"padding": "full"}),
    (["--padding", "2"], {"padding": 2}),
    (["--padding", "1,2,3,4"], {"padding": (1, 2, 3, 4)}),
    (["--border", "wrap"], {"border": "wrap"}),
    (["--border", "mirror"], {"border": "reflect101"}),
    (["--border", "constant:50"], {"border": "constant:50"}),
    (["--stride", "2"], {"stride": 2}),
    (["--stride", "2,3"], {"stride": (2, 3)}),
    (["--dilation", "2"], {"dilation": 2}),
    (["--dilation", "1,2"], {"dilation": (1, 2)}),
    (["--anchor", "0,0"], {"anchor": (0, 0)}),
    (["--anchor", "2,1", "--flip"], {"anchor": (2, 1), "flip": True}),
    (["--channels", "luma"], {"channels": "luma"}),
    (["--channels", "gray"], {"channels": "gray"}),
    (["--channels", "r,b"], {"channels": "r,b"}),
    (["--scale", "4"], {"scale": 4.0}),
    (["--bias", "128"], {"bias": 128.0}),
    (["--normalize"], {"normalize": True}),
    (["--map", "abs"], {"map": "abs"}),
    (["--map", "shift"], {"map": "shift"}),
    (["--map", "normalize"], {"map": "normalize"}),
    (["--depth", "16"], {"depth": "16"}),
]


@pytest.mark.parametrize(("args", "kwargs"), OPTION_CASES)
@pytest.mark.parametrize("kernel", ["sobel-x", "0,1,2;3,4,5;6,7,-8"])
def test_option_reaches_core(
    runner: CliRunner, tmp_path: Path, kernel: str, args: list[str], kwargs: dict[str, Any]
) -> None:
    source = save(tmp_path / "in.png", RGB)
    target = tmp_path / "out.png"
    result = run(runner, "apply", kernel, source, str(target), *args)
    assert result.exit_code == 0, result.stderr
    expected = filter_image(RGB, resolve_kernel(kernel), **kwargs).pixels
    np.testing.assert_array_equal(load(target), expected)


@pytest.mark.parametrize("mode", ["weighted", "filter", "plain", "keep"])
def test_alpha_option(runner: CliRunner, tmp_path: Path, mode: str) -> None:
    source = save(tmp_path / "in.png", RGBA)
    target = tmp_path / "out.png"
    result = run(runner, "apply", "box:3", source, str(target), "--alpha", mode)
    assert result.exit_code == 0, result.stderr
    expected = filter_image(RGBA, get_builtin("box:3"), alpha=mode).pixels
    np.testing.assert_array_equal(load(target), expected)


def test_alpha_default_is_weighted(runner: CliRunner, tmp_path: Path) -> None:
    """An opaque white square on transparent black stays white under a blur."""
    image = np.zeros((20, 20, 4), np.uint8)
    image[6:14, 6:14] = 255
    source = save(tmp_path / "in.png", image)
    assert run(runner, "apply", "box:5", source, str(tmp_path / "out.png")).exit_code == 0
    out = load(tmp_path / "out.png")
    assert (out[..., :3][out[..., 3] > 0] == 255).all()
    np.testing.assert_array_equal(out[..., 3], image[..., 3])


@pytest.mark.parametrize("kernel", ["sobel", "kirsch", "gaussian:1.5", "motion:7,30"])
def test_derived_and_generated_kernels(runner: CliRunner, tmp_path: Path, kernel: str) -> None:
    source = save(tmp_path / "in.png", GREY)
    result = run(runner, "apply", kernel, source, str(tmp_path / "out.png"))
    assert result.exit_code == 0, result.stderr
    np.testing.assert_array_equal(
        load(tmp_path / "out.png"), filter_image(GREY, get_builtin(kernel)).pixels
    )


def test_kernel_file(runner: CliRunner, tmp_path: Path) -> None:
    """A text grid with comments and a factor line is read as written."""
    kernel = tmp_path / "blur.txt"
    kernel.write_text("# a 3x3 Gaussian\n1 2 1\n2, 4, 2\n1 2 1  # last row\n1/16\n")
    source = save(tmp_path / "in.png", GREY)
    result = run(runner, "apply", str(kernel), source, str(tmp_path / "out.png"))
    assert result.exit_code == 0, result.stderr
    np.testing.assert_array_equal(
        load(tmp_path / "out.png"), filter_image(GREY, get_builtin("gaussian")).pixels
    )


def test_map_raw_writes_float_tiff(runner: CliRunner, tmp_path: Path) -> None:
    source = save(tmp_path / "in.png", GREY)
    target = tmp_path / "out.tiff"
    result = run(runner, "apply", "sobel-x", source, str(target), "--map", "raw")
    assert result.exit_code == 0, result.stderr
    out = np.asarray(Image.open(target))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, filter_image(GREY, get_builtin("sobel-x"), map="raw").pixels)
    assert out.min() < 0  # signed values survive


def test_map_raw_npy_keeps_signed_values(runner: CliRunner, tmp_path: Path) -> None:
    source = save(tmp_path / "in.png", RGB)
    target = tmp_path / "out.npy"
    assert run(runner, "apply", "sobel-y", source, str(target), "--map", "raw").exit_code == 0
    expected = filter_image(RGB, get_builtin("sobel-y"), map="raw").pixels
    np.testing.assert_array_equal(np.load(target), expected)


@pytest.mark.parametrize(
    ("suffix", "option", "pil_format"),
    [
        (".png", [], "PNG"),
        (".tif", [], "TIFF"),
        (".bmp", [], "BMP"),
        (".out", ["--format", "png"], "PNG"),
    ],
)
def test_output_format(
    runner: CliRunner, tmp_path: Path, suffix: str, option: list[str], pil_format: str
) -> None:
    source = save(tmp_path / "in.png", RGB)
    target = tmp_path / f"out{suffix}"
    assert run(runner, "apply", "identity", source, str(target), *option).exit_code == 0
    with Image.open(target) as image:
        assert image.format == pil_format
        np.testing.assert_array_equal(np.asarray(image), RGB)


def test_grey_stays_grey_and_16_bit_stays_16_bit(runner: CliRunner, tmp_path: Path) -> None:
    deep = GREY.astype(np.uint16) * 257 + 3
    source = tmp_path / "in.png"
    Image.fromarray(deep).save(source)
    target = tmp_path / "out.png"
    assert run(runner, "apply", "box", str(source), str(target)).exit_code == 0
    with Image.open(target) as image:
        assert image.mode == "I;16"
        np.testing.assert_array_equal(
            np.asarray(image), filter_image(deep, get_builtin("box")).pixels
        )


def test_overwriting_the_input_is_safe(runner: CliRunner, tmp_path: Path) -> None:
    source = save(tmp_path / "img.png", GREY)
    assert run(runner, "apply", "sharpen", source, source).exit_code == 0
    np.testing.assert_array_equal(load(source), filter_image(GREY, get_builtin("sharpen")).pixels)


def test_verbose_says_what_was_computed(runner: CliRunner, tmp_path: Path) -> None:
    source = save(tmp_path / "in.png", GREY)
    result = run(runner, "apply", "sobel", source, str(tmp_path / "o.png"), "--stride", "2", "-v")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == (
        f"imgconv: sobel (3x3, 3x3) on {source} 31x23 L -> 16x12 L 8-bit, "
        f"{tmp_path / 'o.png'} PNG; padding same (1, 1, 1, 1), border edge, stride 2,2, "
        "dilation 1,1, method separable, separable\n"
    )


# --- pipelines ---------------------------------------------------------------


def test_stdin_to_stdout_round_trip(runner: CliRunner) -> None:
    """Bytes in, bytes out; the identity kernel returns the same pixels."""
    result = run(runner, "apply", "identity", "-", "-", input=png_bytes(RGB))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout_bytes.startswith(b"\x89PNG\r\n\x1a\n")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(result.stdout_bytes))), RGB)


def test_stdin_format_is_sniffed(runner: CliRunner) -> None:
    buffer = io.BytesIO()
    Image.fromarray(RGB).save(buffer, "BMP")
    result = run(runner, "apply", "sharpen", "-", "-", input=buffer.getvalue())
    assert result.exit_code == 0
    expected = filter_image(RGB, get_builtin("sharpen")).pixels
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(result.stdout_bytes))), expected)


def test_stdout_format_option(runner: CliRunner) -> None:
    result = run(runner, "apply", "sobel-x", "-", "-", "--format", "npy", "--map", "raw",
                 input=png_bytes(GREY))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = np.load(io.BytesIO(result.stdout_bytes))
    np.testing.assert_array_equal(out, filter_image(GREY, get_builtin("sobel-x"), map="raw").pixels)


def test_warnings_go_to_stderr_when_image_goes_to_stdout(runner: CliRunner) -> None:
    result = run(runner, "apply", "box", "-", "-", "--format", "jpeg", input=png_bytes(RGBA))
    assert result.exit_code == 0
    assert result.stdout_bytes.startswith(b"\xff\xd8")
    assert result.stderr == "Warning: JPEG cannot store alpha; the alpha channel was dropped\n"


def test_refuses_binary_to_a_terminal(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("imgconv.image_io.is_terminal", lambda stream: True)
    result = run(runner, "apply", "box", "-", "-", input=png_bytes(GREY))
    assert result.exit_code == 2
    assert result.stdout_bytes == b""
    assert result.stderr == (
        "Error: refusing to write binary image data to a terminal; redirect standard output "
        "or give an OUTPUT file (see 'imgconv apply --help')\n"
    )


# --- errors: one line, exact text, exit code ---------------------------------


USAGE_ERRORS = [
    (
        ["sobelx"],
        "Invalid value for 'KERNEL': 'sobelx' is not a built-in kernel, a kernel file or a "
        "matrix; did you mean 'sobel-x', 'sobel', 'sobel-y'? (see 'imgconv kernels list')",
    ),
    (["1,a"], "Invalid value for 'KERNEL': kernel '1,a': 'a' in the row is not a number"),
    (
        ["1,2;3"],
        "Invalid value for 'KERNEL': kernel '1,2;3' has ragged rows: row 1 has 2 numbers but "
        "row 2 has 1; every row needs the same count",
    ),
    (
        ["1,nan;0,1"],
        "Invalid value for 'KERNEL': kernel '1,nan;0,1': 'nan' in row 1 is not a finite number",
    ),
    (
        ["1,inf"],
        "Invalid value for 'KERNEL': kernel '1,inf': 'inf' in the row is not a finite number",
    ),
    (
        ["0,0;0,0"],
        "Invalid value for 'KERNEL': kernel '0,0;0,0' has only zero weights; expected at least "
        "one non-zero weight",
    ),
    (
        ["3x3: 0,0,0 0,-,0 0,0,0", "--normalize"],
        "Invalid value for 'KERNEL': kernel '3x3: 0,0,0 0,-,0 0,0,0' has only zero weights; "
        "expected at least one non-zero weight",
    ),
    (
        ["box", "--stride", "0"],
        "Invalid value for '--stride': stride '0' is below 1; expected whole numbers >= 1",
    ),
    (
        ["box", "--dilation", "0,1"],
        "Invalid value for '--dilation': dilation '0,1' is below 1; expected whole numbers >= 1",
    ),
    (
        ["box", "--stride", "x"],
        "Invalid value for '--stride': stride 'x' is not understood; expected N or Y,X",
    ),
    (
        ["box", "--padding", "-1"],
        "Invalid value for '--padding': padding '-1' is negative; expected pixels >= 0",
    ),
    (
        ["box", "--border", "mirrored"],
        "Invalid value for '--border': unknown border 'mirrored'; expected one of black, "
        "circular, clamp, constant, edge, extend, mirror, mirror-edge, nearest, periodic, "
        "reflect, reflect-101, reflect101, replicate, symmetric, tile, wrap, zero, zeros, "
        "constant:V",
    ),
    (["box", "--anchor", "3,0"], "anchor 3,0 is outside the 3x3 kernel 'box'; expected 0..2,0..2"),
    (
        ["box", "--scale", "0"],
        "Invalid value for '--scale': '0' would divide by zero; expected a non-zero number",
    ),
    (
        ["box", "--scale", "2", "--normalize"],
        "--scale and --normalize both set the divisor; use one of them",
    ),
    (
        ["box", "--channels", "a"],
        "alpha is not a colour channel; use --alpha filter or --alpha plain to filter it",
    ),
    (
        ["box", "--channels", "r"],
        "--channels names 'r', which this L image does not have; expected each, luma, gray "
        "or some of l",
    ),
    (
        ["box:9", "--padding", "valid"],
        "the 9x9 kernel (reach 9x9 with dilation 1,1) is larger than the padded input, 5 rows by 6 "
        "columns (5 by 6 before padding valid)",
    ),
    (
        ["box", "--padding", "valid", "--dilation", "3"],
        "the 3x3 kernel (reach 7x7 with dilation 3,3) is larger than the padded input, 5 rows by 6 "
        "columns (5 by 6 before padding valid)",
    ),
    (
        ["box", "--map", "raw", "--depth", "8"],
        "--map raw keeps float values; it cannot be written at depth 8",
    ),
    (
        ["box", "--bogus"],
        "No such option '--bogus'. (Did you mean one of: '--bias', '--jobs', '--verbose'?) "
        "(see 'imgconv apply --help')",
    ),
]


@pytest.mark.parametrize(("args", "message"), USAGE_ERRORS)
def test_usage_errors(runner: CliRunner, tmp_path: Path, args: list[str], message: str) -> None:
    source = save(tmp_path / "in.png", GREY[:5, :6])
    target = tmp_path / "out.tiff"
    kernel, *options = args
    result = run(runner, "apply", kernel, source, str(target), *options)
    assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")
    assert result.stdout == ""
    assert not target.exists()


def test_missing_argument(runner: CliRunner) -> None:
    result = run(runner, "apply", "box", "in.png")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: missing OUTPUT; give an output file, '-', or --print "
        "(see 'imgconv apply --help')\n",
    )


def test_float_output_needs_a_float_format(runner: CliRunner, tmp_path: Path) -> None:
    source = save(tmp_path / "in.png", GREY)
    result = run(runner, "apply", "box", source, str(tmp_path / "out.png"), "--map", "raw")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: --map raw keeps float values, which PNG cannot store; write .tiff or .npy, "
        "or use another --map\n",
    )


@pytest.mark.parametrize(
    ("args", "refusal", "choices"),
    [
        (
            ["apply", "box", "{grey}", "-", "--map", "raw"],
            "--map raw keeps float values, which PNG cannot store; write .tiff or .npy, or use "
            "another --map",
            "tiff or npy",
        ),
        (
            ["apply", "sobel", "{grey}", "-", "--combine", "stack"],
            "--combine stack writes one map per kernel, which PNG cannot hold; write .tiff (a "
            "page per map), .npy, .txt or .csv",
            "tiff, npy, txt or csv",
        ),
        (
            ["apply", "box", "{matrix}", "-"],
            "INPUT '{matrix}' is a numeric matrix, which has no pixel range to make PNG pixels "
            "from; write .txt, .csv, .npy or .tiff, or use --print",
            "txt, csv, npy or tiff",
        ),
        (
            ["apply", "identity", "{float}", "-"],
            "PNG cannot store float samples; write .tiff or .npy, or use --depth 8 or 16",
            "tiff or npy",
        ),
        (
            ["features", "sobel-x", "{grey}", "-"],
            "features writes float maps, which PNG cannot store; write .tiff (a page per map), "
            ".npy, .txt or .csv, or draw them with --montage",
            "tiff, npy, txt or csv",
        ),
        (
            ["deconvolve", "box:3", "{grey}", "-", "--depth", "float"],
            "--depth float keeps float values, which PNG cannot store; write .tiff or .npy, or "
            "use --depth 8 or 16",
            "tiff or npy",
        ),
        (
            ["blur", "box:3", "{grey}", "-", "--depth", "float"],
            "--depth float keeps float values, which PNG cannot store; write .tiff or .npy, or "
            "use --depth 8 or 16",
            "tiff or npy",
        ),
    ],
)
def test_format_refusals_on_standard_output_name_format(
    runner: CliRunner, tmp_path: Path, args: list[str], refusal: str, choices: str
) -> None:
    # Standard output has no suffix to change: the refusal says how to pick
    # a format there, and only there (not for a file, not after --format).
    paths = {"grey": save(tmp_path / "in.png", GREY), "matrix": str(tmp_path / "m.txt")}
    Path(paths["matrix"]).write_text("1 2 3\n4 5 6\n7 8 9\n")
    paths["float"] = str(tmp_path / "f.tiff")
    Image.fromarray(GREY.astype(np.float32)).save(paths["float"])
    filled = [arg.format(**paths) for arg in args]
    expected = refusal.format(**paths)
    result = run(runner, *filled)
    assert (result.exit_code, result.stdout_bytes) == (2, b"")
    assert result.stderr == (
        f"Error: {expected}; standard output is PNG unless --format names another ({choices})\n"
    )
    named = run(runner, *filled, "--format", "png")
    assert (named.exit_code, named.stderr) == (2, f"Error: {expected}\n")
    to_file = [str(tmp_path / "out.png") if arg == "-" else arg for arg in filled]
    assert run(runner, *to_file).stderr == f"Error: {expected}\n"
    assert not (tmp_path / "out.png").exists()


def test_unknown_output_suffix(runner: CliRunner, tmp_path: Path) -> None:
    source = save(tmp_path / "in.png", GREY)
    result = run(runner, "apply", "box", source, str(tmp_path / "out.xyz"))
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: cannot tell the output format of '{tmp_path / 'out.xyz'}' from its suffix; use "
        "a suffix such as .png, .jpg, .tif or .npy, or --format\n"
    )


def test_kernel_file_errors_name_the_line(runner: CliRunner, tmp_path: Path) -> None:
    kernel = tmp_path / "k.txt"
    kernel.write_text("1 2 1\n2 x 2\n1 2 1\n")
    source = save(tmp_path / "in.png", GREY)
    result = run(runner, "apply", str(kernel), source, str(tmp_path / "o.png"))
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: Invalid value for 'KERNEL': kernel 'k.txt': 'x' in line 2 is not a number\n",
    )


def test_empty_stdin(runner: CliRunner) -> None:
    result = run(runner, "apply", "box", "-", "-", input=b"")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: standard input is empty; expected image data\n",
    )
    assert result.stdout_bytes == b""


def test_missing_input(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    result = run(runner, "apply", "box", str(missing), str(tmp_path / "o.png"))
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: cannot read '{missing}': no such file\n",
    )


def test_not_an_image(runner: CliRunner, tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("hello")
    result = run(runner, "apply", "box", str(text), str(tmp_path / "o.png"))
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: '{text}' is not an image Pillow can read\n",
    )


def test_corrupt_image(runner: CliRunner, tmp_path: Path) -> None:
    data = png_bytes(RGB)
    broken = tmp_path / "broken.png"
    broken.write_bytes(data[: len(data) // 2])
    target = tmp_path / "o.png"
    result = run(runner, "apply", "box", str(broken), str(target))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: '{broken}' is truncated or corrupt: ")
    assert result.stderr.count("\n") == 1
    assert not target.exists()


def test_a_jpeg_with_corrupt_exif_gives_one_line_and_no_python_warning(
    runner: CliRunner, tmp_path: Path
) -> None:
    """Found by the fuzzer: Pillow warned of the EXIF block as the JPEG was opened."""
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(base64.b64decode("/9j/AP/hACJFeGlmAABNTSoAAH1XfV9dH6/hpa5Tr0Yr2tvea7aXeg=="))
    target = tmp_path / "o.npy"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run(runner, "apply", "sobel", str(broken), str(target))
    assert [str(w.message) for w in caught] == []
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: '{broken}' is truncated or corrupt: it starts like a JPEG file, "
        "but Pillow cannot open it\n"
    )
    assert not target.exists()


def test_garbage_stdin(runner: CliRunner) -> None:
    result = run(runner, "apply", "box", "-", "-", input=b"\x00garbage" * 10)
    assert result.exit_code == 1
    assert result.stderr == "Error: standard input is not an image Pillow can read\n"


def test_unwritable_output_directory(runner: CliRunner, tmp_path: Path) -> None:
    source = save(tmp_path / "in.png", GREY)
    target = tmp_path / "missing" / "out.png"
    result = run(runner, "apply", "box", source, str(target))
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: cannot write '{target}': directory '{target.parent}' does not exist\n",
    )


def test_failed_write_leaves_nothing_behind(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk mid-write: exit 1, the old output untouched, no temporary file."""
    source = save(tmp_path / "in.png", GREY)
    target = tmp_path / "out.png"
    target.write_bytes(b"previous contents")

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full)
    result = run(runner, "apply", "box", source, str(target))
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: cannot write '{target}': no space left on device\n",
    )
    assert target.read_bytes() == b"previous contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "out.png"]


def test_unexpected_errors_are_one_line(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even a bug reports one line, not a traceback."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("imgconv.api.filter_image", broken)
    source = save(tmp_path / "in.png", GREY)
    result = run(runner, "apply", "box", source, str(tmp_path / "o.png"))
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: internal error (RuntimeError: boom); set IMGCONV_DEBUG=1 for details\n",
    )


# --- kernels list / show ------------------------------------------------------


def test_kernels_list_names_every_builtin(runner: CliRunner) -> None:
    result = run(runner, "kernels", "list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    # a name starts its row; wrapped descriptions continue on indented lines
    names = [line.split()[0] for line in lines if line.startswith("  ") and line[2] != " "]
    titles = [line.strip() for line in lines if line[:1].strip()]
    assert sorted(names) == sorted(BUILTINS)
    assert titles == list(FAMILIES.values())


@pytest.mark.parametrize("name", list(BUILTINS))
def test_kernels_show_json_matches_the_kernel(runner: CliRunner, name: str) -> None:
    required = {"log": "log:1", "dog": "dog:1,2", "motion": "motion:5", "disk": "disk:2"}
    spec = {**required, "diamond": "diamond:2"}.get(name, name)
    result = run(runner, "kernels", "show", spec, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    kernels = get_builtin(spec)
    assert data["name"] == spec
    listed = data["kernels"] if len(kernels.kernels) > 1 else [data]
    for entry, kernel in zip(listed, kernels.kernels, strict=True):
        np.testing.assert_array_equal(np.array(entry["weights"]), kernel.matrix)
        assert entry["anchor"] == list(kernel.origin)


def test_kernels_show_json_folds_the_scale(runner: CliRunner) -> None:
    result = run(runner, "kernels", "show", "gaussian", "--json")
    assert json.loads(result.stdout) == {
        "name": "gaussian",
        "weights": [[0.0625, 0.125, 0.0625], [0.125, 0.25, 0.125], [0.0625, 0.125, 0.0625]],
        "anchor": [1, 1],
        "bias": 0.0,
    }


def test_kernels_show_parameters_and_flip(runner: CliRunner) -> None:
    result = run(runner, "kernels", "show", "1,2;3,4", "--flip", "--json")
    assert json.loads(result.stdout) == {
        "name": "1,2;3,4",
        "weights": [[4.0, 3.0], [2.0, 1.0]],
        "anchor": [0, 0],
        "bias": 0.0,
    }
    shown = run(runner, "kernels", "show", "gaussian:1.5")
    assert shown.exit_code == 0
    assert shown.stdout.startswith("gaussian  11x11, anchor 5,5 (in brackets), applied as written")


def test_kernels_show_draws_matrix_and_scale(runner: CliRunner) -> None:
    result = run(runner, "kernels", "show", "gaussian")
    assert result.exit_code == 0
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert lines[:5] == [
        "gaussian  3x3, anchor 1,1 (in brackets), applied as written (correlation)",
        " 1    2  1",
        " 2  [4]  2",
        " 1    2  1",
        "divided by 16; applied weights sum to 1",
    ]
    assert lines[5].startswith("Elsewhere: The 3x3 is ImageMagick Binomial / 16")


def test_kernels_show_unknown(runner: CliRunner) -> None:
    result = run(runner, "kernels", "show", "gausian")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: Invalid value for 'KERNEL': 'gausian' is not a built-in kernel, a kernel file "
        "or a matrix; did you mean 'gaussian'? (see 'imgconv kernels list')\n",
    )


def test_depth_float_writes_float_tiff(runner: CliRunner, tmp_path: Path) -> None:
    """--depth float keeps the signed result in 8-bit units (map raw by default)."""
    source = save(tmp_path / "in.png", GREY)
    target = tmp_path / "out.tiff"
    assert run(runner, "apply", "laplacian", source, str(target), "--depth", "float").exit_code == 0
    expected = filter_image(GREY, get_builtin("laplacian"), depth="float").pixels
    np.testing.assert_array_equal(np.asarray(Image.open(target)), expected)
    assert expected.dtype == np.float32
    assert expected.min() < 0


def test_python_dash_m(tmp_path: Path) -> None:
    """``python -m imgconv`` is the same command, exit codes included."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "imgconv", "apply", "nope", "a.png", "b.png"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("Error: Invalid value for 'KERNEL': 'nope' is not a built-in")
    version = subprocess.run([sys.executable, "-m", "imgconv", "--version"], capture_output=True)
    assert version.stdout.decode().startswith("imgconv ")


# --- combining several kernels -------------------------------------------------


@pytest.mark.parametrize("combine", ["magnitude", "max", "min", "sum"])
def test_combine_overrides_a_sets_rule(runner: CliRunner, tmp_path: Path, combine: str) -> None:
    source = save(tmp_path / "in.png", GREY)
    target = tmp_path / "out.png"
    result = run(runner, "apply", "kirsch:>", source, str(target), "--combine", combine)
    assert result.exit_code == 0, result.stderr
    expected = filter_image(GREY, get_builtin("kirsch:>"), combine=combine).pixels  # type: ignore[typeddict-item]
    np.testing.assert_array_equal(load(target), expected)


def test_combine_stack_writes_every_map_to_npy(runner: CliRunner, tmp_path: Path) -> None:
    source = save(tmp_path / "in.png", RGB)
    target = tmp_path / "maps.npy"
    result = run(
        runner, "apply", "sobel:>", source, str(target), "--combine", "stack", "--map", "raw"
    )
    assert result.exit_code == 0, result.stderr
    expected = [
        filter_image(RGB, get_builtin(f"sobel:{a}"), map="raw").pixels for a in (0, 90, 180, 270)
    ]
    np.testing.assert_array_equal(np.load(target), np.stack(expected))


def test_combine_stack_writes_a_page_per_map_to_tiff(runner: CliRunner, tmp_path: Path) -> None:
    source = save(tmp_path / "in.png", RGB)
    target = tmp_path / "maps.tiff"
    result = run(runner, "apply", "kirsch:@", source, str(target), "--combine", "stack")
    assert result.exit_code == 0, result.stderr
    with Image.open(target) as image:
        assert image.n_frames == 8
        for index, angle in enumerate(range(0, 360, 45)):
            image.seek(index)
            assert image.tag_v2[285] == f"kirsch:{angle}"  # PageName
            expected = filter_image(RGB, get_builtin(f"kirsch:{angle}")).pixels
            np.testing.assert_array_equal(np.asarray(image), expected)


def test_combine_stack_needs_a_multi_map_format(runner: CliRunner, tmp_path: Path) -> None:
    source = save(tmp_path / "in.png", GREY)
    result = run(runner, "apply", "kirsch:@", source, str(tmp_path / "o.png"), "--combine", "stack")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: --combine stack writes one map per kernel, which PNG cannot hold; write .tiff "
        "(a page per map), .npy, .txt or .csv\n",
    )


def test_a_file_of_kernels_needs_a_combine(runner: CliRunner, tmp_path: Path) -> None:
    kernels = tmp_path / "pair.txt"
    kernels.write_text("-1 0 1\n---\n1 0 -1\n")
    source = save(tmp_path / "in.png", GREY)
    result = run(runner, "apply", str(kernels), source, str(tmp_path / "o.png"))
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: 'pair.txt' holds 2 kernels; say how to combine their results with --combine "
        "magnitude|max|min|sum|stack|chain\n",
    )
    done = run(runner, "apply", str(kernels), source, str(tmp_path / "o.png"), "--combine", "max")
    assert done.exit_code == 0, done.stderr
