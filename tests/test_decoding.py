"""Filtering while Pillow decodes (imgconv.decoding): the same bits, sooner, or not at all.

``apply`` on a large RGB PNG or JPEG filters band by band from rows that a
thread is still decoding. These tests check that the rows are Pillow's,
that the results equal those of the decoded image for jobs that read rows
in every order (edge, wrap, stride, FFT), that whatever the path cannot do
goes the ordinary way, and that damage is reported as before.
"""

from __future__ import annotations

import io
import os
import struct
import threading
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from imgconv import api, decoding
from imgconv.core.filtering import filter_image
from imgconv.errors import ImageReadError
from imgconv.image_io import read_picture

SHAPE = (1400, 1300)  # over two bands' worth of floats: the overlapped path's size


def photo(shape: tuple[int, int] = SHAPE) -> NDArray[np.uint8]:
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    rng = np.random.default_rng(7)
    planes = [(x * (c + 1) + y * 3 + rng.integers(0, 40, shape)) % 256 for c in range(3)]
    return np.stack(planes, axis=2).astype(np.uint8)


@pytest.fixture(scope="module")
def png_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("decoding") / "photo.png"
    Image.fromarray(photo()).save(path)
    return path


def large(shape: tuple[int, int, int]) -> bool:
    return True


@pytest.mark.parametrize(("fmt", "options"), [("PNG", {}), ("JPEG", {"quality": 90})])
def test_rows_are_pillows_rows_as_they_come(
    tmp_path: Path, fmt: str, options: dict[str, Any]
) -> None:
    path = tmp_path / f"in.{fmt.lower()}"
    Image.fromarray(photo()).save(path, format=fmt, **options)
    with Image.open(path) as opened:
        expected = np.asarray(opened)
    rows = decoding.start(str(path), frame=None, max_pixels=None, wanted=large)
    assert rows is not None
    assert rows.shape == (*SHAPE, 3)
    # Asked for at once: the first rows wait for the decoder, no longer.
    np.testing.assert_array_equal(rows[0:3], expected[0:3])
    np.testing.assert_array_equal(rows[700:705], expected[700:705])
    np.testing.assert_array_equal(rows[SHAPE[0] - 2 : SHAPE[0]], expected[-2:])
    picture = rows.finish()
    np.testing.assert_array_equal(picture.pixels, expected)
    assert picture.pixels.flags.c_contiguous
    assert (picture.bands, picture.format) == (("R", "G", "B"), fmt)


@pytest.mark.parametrize(
    "options",
    [
        {"border": "edge"},
        {"border": "wrap"},  # the first band reads the image's last rows
        {"border": "reflect", "stride": 3},
        {"border": "zero", "padding": "valid", "dilation": 2},
        {"method": "fft"},
    ],
)
@pytest.mark.parametrize("kernel", ["sharpen", "gaussian:4", "sobel"])
def test_apply_while_decoding_gives_the_decoded_images_result(
    png_file: Path, tmp_path: Path, kernel: str, options: dict[str, Any]
) -> None:
    overlapped = tmp_path / "overlapped.png"
    applied = api.apply_file(kernel, str(png_file), str(overlapped), keep_maps=False, **options)
    assert applied.maps == ()
    whole = filter_image(
        read_picture(str(png_file)).pixels, api.as_kernel_set(kernel, None), **options
    )
    np.testing.assert_array_equal(read_picture(str(overlapped)).pixels, whole.pixels)
    assert applied.geometry == whole.filtered.geometry


def test_the_overlapped_path_is_taken(
    png_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tests above would pass by the ordinary path too: check that they do not."""
    started = []
    real = decoding.start

    def watched(*args: Any, **kwargs: Any) -> Any:
        rows = real(*args, **kwargs)
        started.append(rows is not None)
        return rows

    monkeypatch.setattr(decoding, "start", watched)
    monkeypatch.setattr(api, "read_picture", None)  # would fail if called
    api.apply_file("sharpen", str(png_file), str(tmp_path / "out.png"), keep_maps=False)
    assert started == [True]


def test_jobs_that_need_the_whole_image_finish_decoding_first(
    png_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.png"
    api.apply_file("sobel-x", str(png_file), str(out), keep_maps=False, map="normalize")
    whole = filter_image(
        read_picture(str(png_file)).pixels, api.as_kernel_set("sobel-x", None), map="normalize"
    )
    np.testing.assert_array_equal(read_picture(str(out)).pixels, whole.pixels)


def save(pixels: NDArray[np.uint8], path: Path, **options: Any) -> Path:
    mode = "L" if pixels.ndim == 2 else ("RGBA" if pixels.shape[2] == 4 else "RGB")
    Image.fromarray(pixels, mode).save(path, **options)
    return path


@pytest.mark.parametrize(
    "make",
    [
        lambda p: save(photo()[..., 0], p / "grey.png"),
        lambda p: save(np.dstack([photo(), photo()[..., :1]]), p / "alpha.png"),
        lambda p: interlaced(photo((61, 53)), p / "interlaced.png"),
        lambda p: save(photo(), p / "photo.tiff"),
        lambda p: save(photo(), p / "photo.bmp"),  # written bottom row first
        lambda p: save(photo(), p / "photo.gif"),
    ],
    ids=["grey", "alpha", "interlaced", "tiff", "bmp", "gif"],
)
def test_what_the_path_does_not_take(tmp_path: Path, make: Any) -> None:
    path = make(tmp_path)
    assert decoding.start(str(path), frame=None, max_pixels=None, wanted=large) is None
    assert decoding.start(str(path), frame=1, max_pixels=None, wanted=large) is None


def test_small_images_and_later_frames_are_not_overlapped(png_file: Path) -> None:
    """One band has nothing to overlap; api's predicate says which images fill bands."""
    small = decoding.start(str(png_file), frame=None, max_pixels=None, wanted=lambda s: False)
    assert small is None
    assert decoding.start(str(png_file), frame=1, max_pixels=None, wanted=large) is None
    with pytest.raises(ImageReadError, match="over the limit|more than|pixels"):
        decoding.start(str(png_file), frame=None, max_pixels=1000, wanted=large)


def test_an_orientation_is_left_to_the_ordinary_reader(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "turned.jpg"
    Image.fromarray(photo()).save(path, exif=exif.tobytes())
    assert decoding.start(str(path), frame=None, max_pixels=None, wanted=large) is None
    # An eXIf chunk after the pixels is only seen once they are decoded.
    late = tmp_path / "late.png"
    data = io.BytesIO()
    Image.fromarray(photo()).save(data, format="PNG")
    raw = data.getvalue()
    chunk = _chunk(b"eXIf", exif.tobytes().removeprefix(b"Exif\0\0"))
    late.write_bytes(raw[:-12] + chunk + raw[-12:])
    rows = decoding.start(str(late), frame=None, max_pixels=None, wanted=large)
    assert rows is not None
    with pytest.raises(decoding.Unavailable):
        rows.finish()
    out = tmp_path / "out.png"
    api.apply_file("sharpen", str(late), str(out), keep_maps=False)
    expected = filter_image(read_picture(str(late)).pixels, api.as_kernel_set("sharpen", None))
    np.testing.assert_array_equal(read_picture(str(out)).pixels, expected.pixels)
    assert read_picture(str(late)).pixels.shape == (SHAPE[1], SHAPE[0], 3)  # turned


#: Adam7's passes: first column and row, then steps across and down.
ADAM7 = [
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
]


def interlaced(pixels: NDArray[np.uint8], path: Path) -> Path:
    """An Adam7-interlaced RGB PNG (Pillow writes none): rows are not decoded in order."""
    height, width, _ = pixels.shape
    data = b""
    for x0, y0, dx, dy in ADAM7:
        part = pixels[y0::dy, x0::dx]
        if part.size:
            data += b"".join(b"\0" + row.tobytes() for row in part)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(data))
        + _chunk(b"IEND", b"")
    )
    return path


def test_interlaced_png_is_read_whole(tmp_path: Path) -> None:
    pixels = photo((61, 53))
    path = interlaced(pixels, tmp_path / "interlaced.png")
    with Image.open(path) as opened:
        assert opened.info.get("interlace")
    np.testing.assert_array_equal(read_picture(str(path)).pixels, pixels)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def test_a_truncated_file_is_one_error_and_no_output(png_file: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.png"
    cut.write_bytes(png_file.read_bytes()[: png_file.stat().st_size * 2 // 3])
    out = tmp_path / "out.png"
    with pytest.raises(ImageReadError) as overlapped:
        api.apply_file("sharpen", str(cut), str(out), keep_maps=False)
    with pytest.raises(ImageReadError) as ordinary:
        read_picture(str(cut))
    assert str(overlapped.value) == str(ordinary.value)
    assert not out.exists()


@pytest.mark.parametrize("size", [12, 16, 20, 23, 24, 30])
def test_a_png_cut_inside_its_header_is_the_ordinary_error(
    png_file: Path, tmp_path: Path, size: int
) -> None:
    # The fuzzer's 16-byte PNG: the size was unpacked from an IHDR cut short.
    cut = tmp_path / "cut.png"
    cut.write_bytes(png_file.read_bytes()[:size])
    assert decoding.start(str(cut), frame=None, max_pixels=None, wanted=large) is None
    with pytest.raises(ImageReadError) as overlapped:
        api.apply_file("sharpen", str(cut), str(tmp_path / "out.png"), keep_maps=False)
    with pytest.raises(ImageReadError) as ordinary:
        read_picture(str(cut))
    assert str(overlapped.value) == str(ordinary.value)
    assert not (tmp_path / "out.png").exists()


def test_pillow_making_its_own_memory_is_read_the_ordinary_way(
    png_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = decoding.DecodingRows.__init__

    def elsewhere(self: Any, image: Any, label: str, file: Any, buffer: Any, core: Any) -> None:
        image.im = Image.core.new(image.mode, image.size)
        real(self, image, label, file, buffer, core)

    monkeypatch.setattr(decoding.DecodingRows, "__init__", elsewhere)
    out = tmp_path / "out.png"
    api.apply_file("sharpen", str(png_file), str(out), keep_maps=False)
    expected = filter_image(read_picture(str(png_file)).pixels, api.as_kernel_set("sharpen", None))
    np.testing.assert_array_equal(read_picture(str(out)).pixels, expected.pixels)


def test_a_pipe_is_left_whole_for_the_ordinary_reader(png_file: Path, tmp_path: Path) -> None:
    """A named pipe's bytes can be read once: the overlapped path must not open it."""
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    data = png_file.read_bytes()

    def feed() -> None:
        with open(fifo, "wb") as writer:
            writer.write(data)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    out = tmp_path / "out.png"
    api.apply_file("sharpen", str(fifo), str(out), keep_maps=False)
    feeder.join(timeout=30)
    expected = filter_image(read_picture(str(png_file)).pixels, api.as_kernel_set("sharpen", None))
    np.testing.assert_array_equal(read_picture(str(out)).pixels, expected.pixels)
