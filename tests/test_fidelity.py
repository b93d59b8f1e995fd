"""Image fidelity through the command line: alpha, metadata, frames, limits, bad input.

What a user sees when they filter the images they have: transparent pixels
that do not bleed, photographs that stay upright and keep their colour
profile, animations that keep their timing, and one clear line (never a
traceback, never a partial file) for anything imgconv cannot do.
"""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image, ImageCms, ImageOps
from PIL.ExifTags import Base

from imgconv import api
from imgconv.cli import cli
from imgconv.image_io import DEFAULT_MAX_PIXELS, encode_picture, read_picture

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture(name="runner")
def _runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str, input: bytes | None = None) -> Result:
    return runner.invoke(cli, list(args), input=input)


def error_line(result: Result) -> str:
    """The one line a failure prints; asserts there is exactly one and no traceback."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output + result.stderr
    return lines[0]


def pixels_of(path: Path | str, mode: str | None = None) -> np.ndarray:
    """The pixels Pillow reads from ``path`` (converted to ``mode``), with the file closed."""
    with Image.open(path) as image:
        return np.asarray(image.convert(mode) if mode else image)


def gradient(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """Smooth content, which lossy formats keep well, with a little noise."""
    h, w, c = shape
    y, x = np.mgrid[0:h, 0:w]
    planes = [(x * 5 + y * 3 + 40 * k) % 256 for k in range(c)]
    noise = np.random.default_rng(seed).integers(0, 3, (h, w, c))
    return np.clip(np.stack(planes, axis=-1) + noise, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------
# Alpha: transparent pixels never darken or tint their opaque neighbours


def white_square_on_transparent_black(tmp_path: Path) -> tuple[str, np.ndarray]:
    pixels = np.zeros((24, 24, 4), np.uint8)
    pixels[8:16, 8:16] = 255  # opaque white; everything else transparent black
    path = tmp_path / "square.png"
    Image.fromarray(pixels, "RGBA").save(path)
    return str(path), pixels


@pytest.mark.parametrize("alpha", [None, "weighted", "filter"])
def test_transparent_neighbours_do_not_darken_a_blur(
    runner: CliRunner, tmp_path: Path, alpha: str | None
) -> None:
    source, pixels = white_square_on_transparent_black(tmp_path)
    options = [] if alpha is None else ["--alpha", alpha]
    result = run(runner, "apply", "box:5", source, str(tmp_path / "out.png"), *options)
    assert result.exit_code == 0, result.stderr
    out = pixels_of(tmp_path / "out.png")
    visible = out[..., 3] > 0
    assert visible.sum() >= 64
    assert np.all(out[visible][:, :3] == 255)
    if alpha == "filter":  # alpha blurred too: the square's edge softens outwards
        assert visible.sum() > 64
        assert out[7, 12, 3] == round(255 * 2 / 5)  # two of the five rows are the square
    else:  # alpha left as it was
        np.testing.assert_array_equal(out[..., 3], pixels[..., 3])


def test_plain_alpha_lets_black_bleed_as_documented(runner: CliRunner, tmp_path: Path) -> None:
    """--alpha plain filters every channel alone: the transparent black bleeds in."""
    source, _ = white_square_on_transparent_black(tmp_path)
    result = run(runner, "apply", "box:5", source, str(tmp_path / "out.png"), "--alpha", "plain")
    assert result.exit_code == 0
    out = pixels_of(tmp_path / "out.png")
    assert out[8, 8, 0] == round(255 * 9 / 25)
    assert out[8, 8, 3] == round(255 * 9 / 25)


def test_keep_alpha_filters_colour_unweighted(runner: CliRunner, tmp_path: Path) -> None:
    source, pixels = white_square_on_transparent_black(tmp_path)
    result = run(runner, "apply", "box:5", source, str(tmp_path / "out.png"), "--alpha", "keep")
    assert result.exit_code == 0
    out = pixels_of(tmp_path / "out.png")
    np.testing.assert_array_equal(out[..., 3], pixels[..., 3])
    assert out[8, 8, 0] == round(255 * 9 / 25)


# --------------------------------------------------------------------------
# Metadata: orientation, ICC profile, DPI, EXIF


def exif_jpeg(path: Path, orientation: int) -> np.ndarray:
    """A JPEG stored sideways with an orientation tag, a camera make and a colour profile."""
    stored = gradient((20, 32, 3))
    exif = Image.Exif()
    exif[Base.Orientation] = orientation
    exif[Base.Make] = "imgconv test camera"
    Image.fromarray(stored).save(path, quality=98, exif=exif, icc_profile=SRGB, dpi=(300, 300))
    with Image.open(path) as opened:
        return np.asarray(ImageOps.exif_transpose(opened))


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_rotated_jpeg_comes_out_upright(
    runner: CliRunner, tmp_path: Path, orientation: int
) -> None:
    upright = exif_jpeg(tmp_path / "in.jpg", orientation)
    for name in ("out.png", "out.jpg"):
        result = run(runner, "apply", "identity", str(tmp_path / "in.jpg"), str(tmp_path / name))
        assert result.exit_code == 0, result.stderr
        with Image.open(tmp_path / name) as out:
            # The pixels are turned; a viewer must not turn them again.
            assert out.getexif().get(Base.Orientation, 1) == 1
            pixels = np.asarray(out)
        assert pixels.shape == upright.shape
        tolerance = 0 if name.endswith(".png") else 3
        assert np.abs(pixels.astype(int) - upright).mean() <= tolerance


def test_exif_icc_and_dpi_are_carried(runner: CliRunner, tmp_path: Path) -> None:
    exif_jpeg(tmp_path / "in.jpg", 6)
    assert run(runner, "apply", "sharpen", str(tmp_path / "in.jpg"), str(tmp_path / "o.jpg"))
    with Image.open(tmp_path / "o.jpg") as out:
        assert out.info["icc_profile"] == SRGB
        assert out.info["dpi"] == pytest.approx((300, 300))
        assert out.getexif()[Base.Make] == "imgconv test camera"
    # Another format gets the profile and resolution, not the JPEG's EXIF block.
    run(runner, "apply", "sharpen", str(tmp_path / "in.jpg"), str(tmp_path / "o.png"))
    with Image.open(tmp_path / "o.png") as out:
        assert out.info["icc_profile"] == SRGB
        assert out.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        assert Base.Make not in out.getexif()


@pytest.mark.parametrize(
    ("dtype", "bands", "suffix"),
    [
        (np.uint8, ("R", "G", "B"), ".png"),
        (np.uint8, ("R", "G", "B", "A"), ".webp"),
        (np.uint8, ("R", "G", "B"), ".tiff"),
        (np.uint16, ("R", "G", "B"), ".png"),
        (np.uint16, ("R", "G", "B", "A"), ".tiff"),
        (np.float32, ("R", "G", "B"), ".tiff"),
    ],
)
def test_icc_profile_is_present_in_the_output(
    runner: CliRunner, tmp_path: Path, dtype: Any, bands: tuple[str, ...], suffix: str
) -> None:
    pixels = gradient((9, 11, len(bands))).astype(dtype)
    data, _ = encode_picture(pixels, bands, suffix[1:], info={"icc_profile": SRGB})
    source, target = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    source.write_bytes(data)
    result = run(runner, "apply", "box:3", str(source), str(target))
    assert result.exit_code == 0, result.stderr
    assert read_picture(target).info["icc_profile"] == SRGB


def test_png_exif_is_carried_and_set_upright(runner: CliRunner, tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[Base.Orientation] = 8
    exif[Base.Artist] = "someone"
    Image.fromarray(gradient((6, 10, 3))).save(tmp_path / "in.png", exif=exif)
    run(runner, "apply", "identity", str(tmp_path / "in.png"), str(tmp_path / "out.png"))
    with Image.open(tmp_path / "out.png") as out:
        assert out.size == (6, 10)
        assert out.getexif()[Base.Artist] == "someone"
        assert out.getexif()[Base.Orientation] == 1


# --------------------------------------------------------------------------
# Quality and compression


def test_jpeg_quality_option(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    Image.fromarray(gradient((64, 64, 3))).save(source)
    sizes = {}
    for quality in ("30", "95"):
        target = tmp_path / f"q{quality}.jpg"
        assert run(runner, "apply", "identity", str(source), str(target), "--quality", quality)
        sizes[quality] = target.stat().st_size
    default = tmp_path / "default.jpg"
    run(runner, "apply", "identity", str(source), str(default))
    assert default.read_bytes() == (tmp_path / "q95.jpg").read_bytes()
    assert sizes["30"] < sizes["95"]


def test_png_compression_option(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    Image.fromarray(gradient((64, 64, 3))).save(source)
    for level in ("0", "9"):
        target = tmp_path / f"c{level}.png"
        assert run(runner, "apply", "identity", str(source), str(target), "--compression", level)
        np.testing.assert_array_equal(read_picture(target).pixels, read_picture(source).pixels)
    stored, packed = ((tmp_path / f"c{level}.png").stat().st_size for level in "09")
    assert stored > 64 * 64 * 3 > 2 * packed


# --------------------------------------------------------------------------
# Frames


def animation(path: Path, fmt: str, durations: list[int], loop: int) -> list[np.ndarray]:
    frames = []
    for index in range(len(durations)):
        pixels = np.zeros((16, 24, 4), np.uint8)
        pixels[4:12, 2 + 4 * index : 10 + 4 * index] = (250, 200, 40 * index, 255)
        frames.append(pixels)
    images = [Image.fromarray(f, "RGBA") for f in frames]
    # Key frames only: libwebp sets the alpha flag Pillow reads from frame data.
    extra = {"lossless": True, "kmin": 1, "kmax": 1} if fmt == "WEBP" else {}
    images[0].save(
        path,
        fmt,
        save_all=True,
        append_images=images[1:],
        duration=durations,
        loop=loop,
        disposal=2,
        **extra,
    )
    return frames


def frame_timing(path: Path) -> tuple[list[np.ndarray], list[Any], Any]:
    frames, durations = [], []
    with Image.open(path) as image:
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            image.load()
            frames.append(np.asarray(image.convert("RGBA")))
            durations.append(image.info.get("duration"))
        return frames, durations, image.info.get("loop")


@pytest.mark.parametrize(("fmt", "suffix"), [("GIF", ".gif"), ("WEBP", ".webp"), ("PNG", ".png")])
def test_animation_keeps_frames_durations_and_loop(
    runner: CliRunner, tmp_path: Path, fmt: str, suffix: str
) -> None:
    source, target = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    frames = animation(source, fmt, [80, 120, 160, 200, 240], loop=3)
    result = run(runner, "apply", "identity", str(source), str(target), "-v")
    assert result.exit_code == 0, result.stderr
    assert "RGBA (5 frames) ->" in result.stderr
    got, durations, loop = frame_timing(target)
    assert len(got) == 5
    assert durations == [80, 120, 160, 200, 240]
    assert loop == 3
    for expected, actual in zip(frames, got, strict=True):
        np.testing.assert_array_equal(actual, expected)


def test_every_frame_is_filtered(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "in.gif"
    frames = animation(source, "GIF", [100, 100, 100], loop=0)
    target = tmp_path / "out.npy"
    assert run(runner, "apply", "box:3", str(source), str(target)).exit_code == 0
    stack = np.load(target)
    assert stack.shape == (3, 16, 24, 4)
    for index, frame in enumerate(frames):
        alone = tmp_path / f"frame{index}.png"
        Image.fromarray(frame, "RGBA").save(alone)
        one = tmp_path / f"one{index}.npy"
        assert run(runner, "apply", "box:3", str(alone), str(one)).exit_code == 0
        np.testing.assert_array_equal(stack[index], np.load(one))


def test_multi_page_tiff_keeps_its_pages_and_frame_picks_one(
    runner: CliRunner, tmp_path: Path
) -> None:
    pages = [gradient((10, 12, 3), seed) for seed in range(3)]
    pages[1] = pages[1][::-1].copy()
    data, _ = encode_picture(pages[0], ("R", "G", "B"), "TIFF", more_frames=pages[1:])
    source = tmp_path / "pages.tif"
    source.write_bytes(data)
    assert run(runner, "apply", "identity", str(source), str(tmp_path / "o.tif")).exit_code == 0
    read = read_picture(tmp_path / "o.tif", frame=None)
    assert len(read.frames) == 3
    for page, got in zip(pages, read.frames, strict=True):
        np.testing.assert_array_equal(got, page)
    result = run(runner, "apply", "identity", str(source), str(tmp_path / "p.png"), "--frame", "1")
    assert result.exit_code == 0
    np.testing.assert_array_equal(pixels_of(tmp_path / "p.png"), pages[1])


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["out.jpg"],
            2,
            "Error: the input has 3 frames, which JPEG cannot hold; write .gif, .webp, .png "
            "(animated), .tiff (a page each) or .npy, or pick one with --frame N",
        ),
        (
            ["out.png", "--frame", "3"],
            2,
            "Error: --frame 3 is out of range: 'in.gif' has 3 frames, 0 to 2",
        ),
        (
            ["out.tiff", "--depth", "16", "--format", "gif"],
            2,
            "Error: GIF animations hold 8-bit frames; use --depth 8, or write .tiff",
        ),
    ],
)
def test_frame_errors(
    runner: CliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    code: int,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    animation(tmp_path / "in.gif", "GIF", [100, 100, 100], loop=0)
    result = run(runner, "apply", "box:3", "in.gif", *args)
    assert result.exit_code == code
    assert error_line(result) == message
    assert sorted(os.listdir(tmp_path)) == ["in.gif"]


def test_combine_stack_takes_one_frame(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    animation(tmp_path / "in.gif", "GIF", [100, 100], loop=0)
    result = run(runner, "apply", "sobel", "in.gif", "o.tiff", "--combine", "stack")
    assert result.exit_code == 2
    assert error_line(result) == (
        "Error: --combine stack writes a map per kernel, and 'in.gif' has 2 frames; pick "
        "one with --frame N"
    )
    result = run(runner, "apply", "sobel", "in.gif", "o.tiff", "--combine", "stack", "--frame", "1")
    assert result.exit_code == 0


def test_features_and_explain_take_one_frame(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "in.gif"
    frames = animation(source, "GIF", [100, 100], loop=0)
    result = run(runner, "features", "box:3", str(source), "--frame", "1", "--print", "npy")
    assert result.exit_code == 0, result.stderr
    maps = np.load(io.BytesIO(result.stdout_bytes))
    assert maps.shape == (14, 22)  # one map; valid padding, as a CNN layer has it
    assert maps[5, 9] == pytest.approx(frames[1][5:8, 9:12].astype(float).sum() / 9)
    result = run(runner, "explain", "box:3", str(source), "--frame", "2", "--at", "0,0")
    assert result.exit_code == 2
    assert error_line(result) == (
        f"Error: --frame 2 is out of range: '{source}' has 2 frames, 0 to 1"
    )


# --------------------------------------------------------------------------
# Limits


def test_max_pixels_guard(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Image.fromarray(gradient((40, 50, 3))).save("in.png")
    result = run(runner, "apply", "box:3", "in.png", "out.png", "--max-pixels", "1999")
    assert result.exit_code == 1
    assert error_line(result) == (
        "Error: 'in.png' is 50 x 40 pixels, more than the limit of 1999 pixels that guards "
        "against decompression bombs; if you trust the file, raise the limit with --max-pixels"
    )
    assert not Path("out.png").exists()
    for limit in ("2000", "2k", "0.002M", "none"):
        result = run(runner, "apply", "box:3", "in.png", "out.png", "--max-pixels", limit)
        assert result.exit_code == 0, limit
    monkeypatch.setenv("IMGCONV_MAX_PIXELS", "1k")
    assert run(runner, "apply", "box:3", "in.png", "out.png").exit_code == 1
    assert run(runner, "features", "box:3", "in.png", "--print").exit_code == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "lots",
            "'lots' is not a number of pixels; expected a count such as 250M, 1.5G or "
            "40000000, or none",
        ),
        ("0", "'0' allows no pixels; expected at least 1, or none"),
        (
            "-5",
            "'-5' is not a number of pixels; expected a count such as 250M, 1.5G or "
            "40000000, or none",
        ),
    ],
)
def test_max_pixels_values(runner: CliRunner, value: str, message: str) -> None:
    result = run(runner, "apply", "box:3", "in.png", "out.png", "--max-pixels", value)
    assert result.exit_code == 2
    assert error_line(result) == f"Error: Invalid value for '--max-pixels': {message}"


def test_default_limit_is_the_documented_one(runner: CliRunner) -> None:
    help_text = run(runner, "apply", "--help").output
    assert "[default: 200M]" in help_text
    assert DEFAULT_MAX_PIXELS == 200 * 10**6


@pytest.mark.parametrize(
    ("shape", "channels"), [((12, 10, 3), "3 channels"), ((12, 10, 1), "1 channel")]
)
def test_out_of_memory_is_one_line(
    runner: CliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    shape: tuple[int, int, int],
    channels: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    pixels = gradient(shape)
    Image.fromarray(pixels[:, :, 0] if shape[2] == 1 else pixels).save("in.png")

    def exhausted(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError

    monkeypatch.setattr(api, "filter_image", exhausted)
    result = run(runner, "apply", "box:3", "in.png", "out.png")
    assert result.exit_code == 1
    assert error_line(result) == (
        f"Error: not enough memory to filter 'in.png' (12 x 10 pixels, {channels}, 1 frame); "
        "try a smaller image, less padding, fewer kernels or a larger --stride"
    )
    assert not Path("out.png").exists()


# --------------------------------------------------------------------------
# Bad input: one line, exit 1 or 2, nothing written


def _png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def _encoded(fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    Image.fromarray(gradient((30, 40, 3))).save(out, fmt, **options)
    return out.getvalue()


BAD_FILES: list[tuple[str, bytes, int, str]] = [
    ("zero-byte.png", b"", 1, "'zero-byte.png' is empty; expected image data"),
    ("notes.png", b"shopping list\n", 1, "'notes.png' is not an image Pillow can read"),
    (
        "header.png",
        _encoded("PNG")[:30],
        1,
        "'header.png' is truncated or corrupt: it starts like a PNG file, but Pillow cannot "
        "open it",
    ),
    (
        "cut.png",
        _encoded("PNG")[:200],
        1,
        "'cut.png' is truncated or corrupt: image file is truncated",
    ),
    (
        "cut.jpg",
        _encoded("JPEG")[:200],
        1,
        "'cut.jpg' is truncated or corrupt: the data ends early",
    ),
    (
        "cut.gif",
        _encoded("GIF")[:12],
        1,
        "'cut.gif' is truncated or corrupt: it starts like a GIF file, but Pillow cannot open it",
    ),
    (
        "cut.tif",
        _encoded("TIFF")[:40],
        1,
        "'cut.tif' is truncated or corrupt: its TIFF directory ends early",
    ),
    (
        "cut.webp",
        _encoded("WEBP")[:60],
        1,
        "'cut.webp' is truncated or corrupt: its WebP data cannot be decoded",
    ),
    ("cut.bmp", _encoded("BMP")[:30], 1, "'cut.bmp' is truncated or corrupt: the data ends early"),
    (
        "png.jpg",
        _encoded("PNG")[:200],
        1,
        "'png.jpg' is truncated or corrupt: image file is truncated",
    ),
]


@pytest.mark.parametrize(
    ("name", "data", "code", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES]
)
def test_bad_files(
    runner: CliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    data: bytes,
    code: int,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path(name).write_bytes(data)
    result = run(runner, "apply", "box:3", name, "out.png")
    assert result.exit_code == code
    assert error_line(result) == f"Error: {message}"
    assert sorted(os.listdir(tmp_path)) == [name]


def test_mismatched_extension_is_read_by_content(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "photo.png").write_bytes(_encoded("JPEG"))
    result = run(runner, "apply", "identity", str(tmp_path / "photo.png"), str(tmp_path / "o.png"))
    assert result.exit_code == 0
    assert read_picture(tmp_path / "o.png").pixels.shape == (30, 40, 3)


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        (b"", "standard input is empty; expected image data"),
        (b"\x00\xffgarbage" * 20, "standard input is not an image Pillow can read"),
        (_encoded("PNG")[:70], "standard input is truncated or corrupt: image file is truncated"),
    ],
)
def test_bad_stdin(runner: CliRunner, stdin: bytes, message: str) -> None:
    result = run(runner, "apply", "box:3", "-", "-", input=stdin)
    assert result.exit_code == 1
    assert error_line(result) == f"Error: {message}"
    assert result.stdout_bytes == b""


def test_directory_as_input(runner: CliRunner, tmp_path: Path) -> None:
    result = run(runner, "apply", "box:3", str(tmp_path), str(tmp_path / "o.png"))
    assert result.exit_code == 2
    assert error_line(result) == (
        f"Error: INPUT '{tmp_path}' is a directory; filter the images in it with -o DIR "
        "(see 'imgconv apply --help')"
    )


def test_missing_output_directory(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "in.png").write_bytes(_encoded("PNG"))
    target = tmp_path / "nowhere" / "o.png"
    result = run(runner, "apply", "box:3", str(tmp_path / "in.png"), str(target))
    assert result.exit_code == 1
    assert error_line(result) == (
        f"Error: cannot write '{target}': directory '{tmp_path / 'nowhere'}' does not exist"
    )


def test_full_disk_simulated(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("in.png").write_bytes(_encoded("PNG"))
    real_write = os.write

    def full(fd: int, data: Any) -> int:
        if len(data) > 100:  # the image, not anything else the test runner writes
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full)
    result = run(runner, "apply", "box:3", "in.png", "out.png")
    assert result.exit_code == 1
    assert error_line(result) == "Error: cannot write 'out.png': no space left on device"
    assert sorted(os.listdir(tmp_path)) == ["in.png"]


@pytest.mark.parametrize(
    ("shape", "args", "code", "expected"),
    [
        ((1, 1), ["box:3"], 0, (1, 1)),
        ((1, 9), ["sobel-x"], 0, (1, 9)),
        ((9, 1), ["gaussian:2"], 0, (9, 1)),
        ((4, 5), ["box:15"], 0, (4, 5)),
        ((4, 5), ["box:3", "--stride", "9"], 0, (1, 1)),
        (
            (4, 5),
            ["box:15", "--padding", "valid"],
            2,
            "the 15x15 kernel (reach 15x15 with dilation 1,1) is larger than the padded "
            "input, 4 rows by 5 columns (4 by 5 before padding valid)",
        ),
        (
            (1, 1),
            ["box:3", "--padding", "valid"],
            2,
            "the 3x3 kernel (reach 3x3 with dilation 1,1) is larger than the padded input, "
            "1 row by 1 column (1 by 1 before padding valid)",
        ),
    ],
)
def test_tiny_images_and_large_kernels(
    runner: CliRunner,
    tmp_path: Path,
    shape: tuple[int, int],
    args: list[str],
    code: int,
    expected: Any,
) -> None:
    source, target = tmp_path / "in.png", tmp_path / "out.png"
    source.write_bytes(_png(np.arange(np.prod(shape), dtype=np.uint8).reshape(shape) * 20))
    result = run(runner, "apply", args[0], str(source), str(target), *args[1:])
    assert result.exit_code == code, result.stderr
    if code == 0:
        assert pixels_of(target).shape == expected
    else:
        assert error_line(result) == f"Error: {expected}"
        assert not target.exists()


# --------------------------------------------------------------------------
# CMYK: filtered per ink


def test_cmyk_is_filtered_per_ink_and_stays_cmyk(runner: CliRunner, tmp_path: Path) -> None:
    inks = gradient((12, 14, 4))
    Image.frombytes("CMYK", (14, 12), inks.tobytes()).save(tmp_path / "in.tif")
    result = run(runner, "apply", "box:3", str(tmp_path / "in.tif"), str(tmp_path / "o.tif"))
    assert result.exit_code == 0
    with Image.open(tmp_path / "o.tif") as out:
        assert out.mode == "CMYK"
        got = np.asarray(out)
    for ink in range(4):
        alone = tmp_path / f"ink{ink}.png"
        Image.fromarray(inks[..., ink]).save(alone)
        run(runner, "apply", "box:3", str(alone), str(tmp_path / f"o{ink}.png"))
        np.testing.assert_array_equal(got[..., ink], pixels_of(tmp_path / f"o{ink}.png"))


def test_cmyk_has_no_luma(runner: CliRunner, tmp_path: Path) -> None:
    Image.new("CMYK", (5, 4)).save(tmp_path / "in.jpg")
    result = run(
        runner,
        "apply",
        "box:3",
        str(tmp_path / "in.jpg"),
        str(tmp_path / "o.jpg"),
        "--channels",
        "luma",
    )
    assert result.exit_code == 2
    assert error_line(result) == (
        "Error: --channels luma works on RGB and grey images; this image is CMYK, filtered per "
        "ink: use each, or some of c,m,y,k"
    )
    result = run(
        runner,
        "apply",
        "box:3",
        str(tmp_path / "in.jpg"),
        str(tmp_path / "o.jpg"),
        "--channels",
        "c,k",
    )
    assert result.exit_code == 0


def test_cmyk_to_png_says_it_was_converted(runner: CliRunner, tmp_path: Path) -> None:
    Image.new("CMYK", (5, 4), (0, 255, 255, 0)).save(tmp_path / "in.tif")
    result = run(runner, "apply", "identity", str(tmp_path / "in.tif"), str(tmp_path / "o.png"))
    assert result.exit_code == 0
    assert result.stderr == (
        "Warning: PNG cannot store CMYK; the inks were converted to RGB without colour "
        "management (write .jpg or .tiff to keep CMYK)\n"
    )
    assert pixels_of(tmp_path / "o.png")[0, 0].tolist() == [255, 0, 0]


def test_gif_says_when_colours_were_reduced(runner: CliRunner, tmp_path: Path) -> None:
    few = np.repeat(np.arange(0, 250, 10, dtype=np.uint8), 3).reshape(5, 5, 3)
    many = np.random.default_rng(3).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    for name, pixels, warned in (("few", few, False), ("many", many, True)):
        Image.fromarray(pixels).save(tmp_path / f"{name}.png")
        target = tmp_path / f"{name}.gif"
        result = run(runner, "apply", "identity", str(tmp_path / f"{name}.png"), str(target))
        assert result.exit_code == 0
        assert (result.stderr != "") == warned
        if warned:
            assert result.stderr == (
                "Warning: GIF holds at most 256 colours per image; Pillow reduced the result's "
                "colours (write .png or .webp to keep them all)\n"
            )
        else:
            np.testing.assert_array_equal(pixels_of(target, "RGB"), pixels)


# --------------------------------------------------------------------------
# Cases the fuzzer (tests/fuzz_cli.py) found, kept as plain regressions


def deflate_tiff_with_a_broken_strip() -> bytes:
    out = io.BytesIO()
    Image.new("L", (4, 4), 9).save(out, "TIFF", compression="tiff_adobe_deflate")
    data = bytearray(out.getvalue())
    start = data.index(b"\x78")  # the zlib header of the only strip
    data[start : start + 2] = b"\x87\x9c"
    return bytes(data)


def test_libtiff_complaints_stay_off_stderr(tmp_path: Path) -> None:
    """libtiff writes to file descriptor 2 itself: only a real process shows it."""
    (tmp_path / "broken.tif").write_bytes(deflate_tiff_with_a_broken_strip())
    done = subprocess.run(
        [sys.executable, "-m", "imgconv", "apply", "box:3", "broken.tif", "out.png"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == (
        "Error: 'broken.tif' is truncated or corrupt: its compressed data cannot be decoded\n"
    )
    assert not (tmp_path / "out.png").exists()


# A 94-byte TIFF the fuzzer made: SamplesPerPixel 32768, its other tags cut off.
FORGED_TIFF = bytes.fromhex(
    "49492a00080000000a0000010400010000001000000001010400010000000c000000020103000300f800"
    "8600280003010300010000000100000006010300010000000200000011010400010000008c0000001501"
    "03000100000000800bea"
)


def test_pillow_log_messages_stay_off_stderr(tmp_path: Path) -> None:
    """Pillow logs some damage besides raising; a script reading the file sees only the error.

    In a process of its own (pytest's log capture would hide the message),
    with ``sys.stderr`` a stream of the script's own, as in a notebook (a
    TIFF decodes with file descriptor 2 pointed elsewhere, for libtiff, and
    that is not where ``sys.stderr`` writes then).
    """
    (tmp_path / "forged.tif").write_bytes(FORGED_TIFF)
    script = (
        "import io, sys\n"
        "from imgconv.errors import ImageReadError\n"
        "from imgconv.image_io import read_picture\n"
        "sys.stderr = captured = io.StringIO()\n"
        "try:\n    read_picture('forged.tif')\n"
        "except ImageReadError as exc:\n    print(exc)\n"
        "print(repr(captured.getvalue()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.stdout.splitlines() == [
        "'forged.tif' is truncated or corrupt: the value of TIFF tag 258 is cut off",
        "''",
    ]


NPY_CUT_HEADER = b"\x93NUMPY\x01\x00\x08\x00{'a': (\n"


@pytest.mark.parametrize(
    ("args", "stdin", "code", "message"),
    [
        (
            ["box:3", "cut.npy", "out.npy"],
            None,
            1,
            "cannot read 'cut.npy' as a NumPy array: its header is cut off or damaged",
        ),
        (
            ["cut.npy", "in.png", "out.png"],
            None,
            2,
            "Invalid value for 'KERNEL': kernel 'cut.npy' is a damaged .npy file: its header "
            "is cut off",
        ),
        (
            ["-", "in.png", "out.png"],
            NPY_CUT_HEADER,
            2,
            "kernel 'stdin' is a damaged .npy file: its header is cut off",
        ),
        (
            ["box:3", "in.png", "out.png", "--padding", "99999999999999999999999"],
            None,
            2,
            "Invalid value for '--padding': padding '99999999999999999999999' is too large; "
            "expected numbers up to 2147483647",
        ),
        (
            ["box:3", "in.png", "out.png", "--dilation", "1,99999999999999999999999"],
            None,
            2,
            "Invalid value for '--dilation': dilation '1,99999999999999999999999' is too "
            "large; expected numbers up to 2147483647",
        ),
        (
            ["box:3", "in.png", "out.png", "--padding", "2147483647"],
            None,
            1,
            "not enough memory to filter 'in.png' (3 x 4 pixels, 3 channels, 1 frame); try a "
            "smaller image, less padding, fewer kernels or a larger --stride",
        ),
        (
            ["[" * 900 + "1" + "]" * 900, "in.png", "out.png"],
            None,
            2,
            "Invalid value for 'KERNEL': kernel '" + "[" * 900 + "1" + "]" * 900 + "': the "
            "JSON list nests lists 900 deep; expected 2 (H x W), 3 (C x H x W) or 4 "
            "(K x C x H x W)",
        ),
        (
            ["sharpen", "in.png", "out.png", "--scale", "1e-308"],
            None,
            2,
            "kernel 'sharpen' divided by --scale 1e-308 has weights beyond the range of a "
            "float; expected a divisor that keeps them finite",
        ),
        *(
            (
                args,
                None,
                2,
                "the result overflows: values beyond 3.4e+38 (the range of float32) came from "
                "the weights, --bias or the border value; expected smaller numbers",
            )
            for args in (
                ["box:3", "in.png", "out.png", "--bias", "1e308"],
                ["sobel-x", "in.png", "out.png", "--border", "constant:1e308"],
                ["3e115", "in.png", "out.png"],
            )
        ),
    ],
)
def test_fuzzer_findings(
    runner: CliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    stdin: bytes | None,
    code: int,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("cut.npy").write_bytes(NPY_CUT_HEADER)
    Image.fromarray(gradient((3, 4, 3))).save("in.png")
    result = run(runner, "apply", *args, input=stdin)
    assert result.exit_code == code
    assert error_line(result) == f"Error: {message}"
    assert sorted(os.listdir(tmp_path)) == ["cut.npy", "in.png"]


def test_a_numeric_matrix_to_tiff_is_a_float_image(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "m.txt").write_text("1 2\n3 4\n")
    result = run(runner, "apply", "box:3", str(tmp_path / "m.txt"), str(tmp_path / "m.tif"))
    assert result.exit_code == 0, result.stderr
    expected = [[2, 7 / 3], [8 / 3, 3]]
    np.testing.assert_allclose(pixels_of(tmp_path / "m.tif"), expected, rtol=1e-6)


def test_combine_stack_with_one_kernel_writes_its_map(runner: CliRunner, tmp_path: Path) -> None:
    Image.fromarray(gradient((5, 6, 3))).save(tmp_path / "in.png")
    result = run(
        runner,
        "apply",
        "0.5",
        str(tmp_path / "in.png"),
        str(tmp_path / "o.tif"),
        "--combine",
        "stack",
    )
    assert result.exit_code == 0, result.stderr
    np.testing.assert_array_equal(
        pixels_of(tmp_path / "o.tif"), np.rint(gradient((5, 6, 3)) * 0.5).astype(np.uint8)
    )
