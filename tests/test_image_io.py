"""Tests of imgconv.image_io and imgconv.deep: reading, encoding and writing images.

The 16-bit and float fixtures under tests/data were made by ImageMagick and
libvips (see tests/data/make_fixtures.sh); the expected arrays are the .npy
files next to them.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import struct
import tempfile
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray
from PIL import Image, ImageCms, ImageOps, JpegImagePlugin

from imgconv import deep, image_io, matrix_io
from imgconv import png as png_module
from imgconv.errors import ImageReadError, ImageWriteError, UsageError
from imgconv.image_io import (
    FLOAT_FORMATS,
    Picture,
    encode_picture,
    is_terminal,
    output_format,
    read_picture,
    write_output,
)
from imgconv.png import encode_png

DATA = Path(__file__).parent / "data"
BANDS = {1: ("L",), 2: ("L", "A"), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def random_pixels(dtype: type, channels: int, shape: tuple[int, int] = (13, 11)) -> NDArray[Any]:
    rng = np.random.default_rng(channels)
    if dtype is np.float32:
        return (rng.random((*shape, channels)) * 3 - 1).astype(np.float32)
    top = np.iinfo(dtype).max
    return rng.integers(0, top + 1, size=(*shape, channels), dtype=dtype)


def smooth_pixels(channels: int, shape: tuple[int, int] = (40, 56)) -> NDArray[np.uint8]:
    """Gradients, which JPEG keeps well."""
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    planes = [x * 2 + y + 20 * c for c in range(channels)]
    return np.stack(planes, axis=-1).astype(np.uint8)


def decode(data: bytes) -> Picture:
    return read_picture("-", stdin=io.BytesIO(data))


def round_trip(pixels: NDArray[Any], fmt: str, **info: Any) -> tuple[Picture, list[str]]:
    data, warnings = encode_picture(pixels, BANDS[pixels.shape[2]], fmt, info=info)
    return decode(data), warnings


def pillow_bytes(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


# --------------------------------------------------------------------------
# Round trips

LOSSLESS_8 = [
    ("PNG", 1),
    ("PNG", 2),
    ("PNG", 3),
    ("PNG", 4),
    ("TIFF", 1),
    ("TIFF", 2),
    ("TIFF", 3),
    ("TIFF", 4),
    ("BMP", 1),
    ("BMP", 3),
    ("WEBP", 3),
    ("WEBP", 4),
    ("PPM", 1),
    ("PPM", 3),
    ("TGA", 1),
    ("TGA", 2),
    ("TGA", 3),
    ("TGA", 4),
]


DIRECT_CASES = [
    ("PNG", "L", {}),
    ("PNG", "RGB", {"optimize": True}),
    ("PNG", "RGBA", {}),
    ("JPEG", "RGB", {"progressive": True, "quality": 80}),
    ("JPEG", "L", {}),
    ("TIFF", "RGB", {"compression": "tiff_lzw"}),
    ("TIFF", "RGBA", {"compression": "tiff_adobe_deflate"}),
    ("WEBP", "RGB", {"quality": 70}),
    ("BMP", "RGB", {}),
]


@pytest.mark.parametrize(("fmt", "mode", "options"), DIRECT_CASES)
def test_pillow_decodes_straight_into_the_array(
    fmt: str, mode: str, options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    pixels = smooth_pixels(len(mode), shape=(61, 47))
    image = Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode)
    data = pillow_bytes(image, fmt, **options)
    taken = []
    direct = image_io._decode_into_array

    def watched(opened: Any) -> Any:
        result = direct(opened)
        taken.append(result is not None)
        return result

    monkeypatch.setattr(image_io, "_decode_into_array", watched)
    picture = decode(data)
    assert taken == [True]
    with Image.open(io.BytesIO(data)) as opened:
        expected = np.asarray(opened)
    np.testing.assert_array_equal(picture.pixels.reshape(expected.shape), expected)
    assert picture.pixels.flags.c_contiguous
    assert picture.pixels.flags.writeable


def test_pillow_making_its_own_memory_falls_back_to_a_copy() -> None:
    pixels = smooth_pixels(3)
    opened = Image.open(io.BytesIO(pillow_bytes(Image.fromarray(pixels), "PNG")))
    real_load = opened.load

    def load_elsewhere() -> Any:
        if opened.tile:  # still to decode: into memory of Pillow's own
            opened.im = Image.core.new(opened.mode, opened.size)
        return real_load()

    opened.load = load_elsewhere  # type: ignore[method-assign]
    assert image_io._decode_into_array(opened) is None
    np.testing.assert_array_equal(np.asarray(opened), pixels)


def test_packing_moves_samples_to_the_front_of_the_buffer() -> None:
    rng = np.random.default_rng(5)
    buffer = rng.integers(0, 256, size=(300, 1000, 4), dtype=np.uint8)  # several pieces
    expected = buffer[..., :3].copy()
    packed = image_io.packed(buffer, 3)
    assert packed.flags.c_contiguous
    assert np.shares_memory(packed, buffer)
    np.testing.assert_array_equal(packed, expected)


@pytest.mark.parametrize(("fmt", "channels"), LOSSLESS_8)
def test_8bit_round_trip_is_exact(fmt: str, channels: int) -> None:
    pixels = random_pixels(np.uint8, channels)
    picture, warnings = round_trip(pixels, fmt)
    assert warnings == []
    assert picture.format == fmt
    assert picture.bands == BANDS[channels]
    assert picture.pixels.dtype == np.uint8
    assert picture.pixels.flags.c_contiguous
    assert picture.pixels.flags.writeable
    np.testing.assert_array_equal(picture.pixels, pixels)


def test_webp_is_lossless_even_under_transparent_pixels() -> None:
    pixels = random_pixels(np.uint8, 4)
    pixels[0, :, 3] = 0
    picture, _ = round_trip(pixels, "WEBP")
    np.testing.assert_array_equal(picture.pixels, pixels)


@pytest.mark.parametrize("channels", [1, 2])
def test_webp_grey_comes_back_as_equal_colour_bands(channels: int) -> None:
    pixels = random_pixels(np.uint8, channels)
    picture, _ = round_trip(pixels, "WEBP")
    assert picture.bands == BANDS[channels + 2]
    for band in range(3):
        np.testing.assert_array_equal(picture.pixels[..., band], pixels[..., 0])
    if channels == 2:
        np.testing.assert_array_equal(picture.pixels[..., 3], pixels[..., 1])


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_round_trip_is_close(channels: int) -> None:
    pixels = smooth_pixels(channels)
    picture, warnings = round_trip(pixels, "JPEG")
    assert warnings == []
    assert picture.bands == BANDS[channels]
    error = np.abs(picture.pixels.astype(int) - pixels.astype(int))
    assert error.mean() < 2.0


@pytest.mark.parametrize(
    ("quality", "pillow_quality", "subsampling"),
    [(None, 95, 0), (90, 90, 0), (89, 89, 2), (40, 40, 2)],
)
def test_jpeg_quality_is_95_with_full_chroma_from_90(
    quality: int | None, pillow_quality: int, subsampling: int
) -> None:
    pixels = random_pixels(np.uint8, 3, (64, 64))
    ours, _ = encode_picture(pixels, ("R", "G", "B"), "JPEG", save={"quality": quality})
    image = Image.frombytes("RGB", (64, 64), pixels.tobytes())
    expected = pillow_bytes(image, "JPEG", quality=pillow_quality, subsampling=subsampling)
    assert ours == expected
    with Image.open(io.BytesIO(ours)) as opened:
        assert JpegImagePlugin.get_sampling(opened) == subsampling


def test_webp_quality_makes_it_lossy() -> None:
    pixels = smooth_pixels(3)
    lossless, _ = encode_picture(pixels, ("R", "G", "B"), "WEBP")
    lossy, _ = encode_picture(pixels, ("R", "G", "B"), "WEBP", save={"quality": 50})
    np.testing.assert_array_equal(decode(lossless).pixels, pixels)
    assert not np.array_equal(decode(lossy).pixels, pixels)
    assert np.abs(decode(lossy).pixels.astype(int) - pixels).mean() < 4


@pytest.mark.parametrize("channels", [3, 4])
def test_png_compression_level(channels: int) -> None:
    """Level 0 stores, 9 packs smallest; both decode to the same pixels (8 and 16 bits)."""
    for dtype in (np.uint8, np.uint16):
        pixels = smooth_pixels(channels).astype(dtype)
        sizes = {}
        for level in (0, 9):
            data, _ = encode_picture(pixels, BANDS[channels], "PNG", save={"compression": level})
            np.testing.assert_array_equal(decode(data).pixels, pixels)
            sizes[level] = len(data)
        assert sizes[0] > pixels.nbytes > sizes[9]


@pytest.mark.parametrize(
    ("fmt", "save", "message"),
    [
        ("PNG", {"quality": 80}, "--quality applies to JPEG, WebP and AVIF output, not PNG"),
        ("TIFF", {"quality": 80}, "--quality applies to JPEG, WebP and AVIF output, not TIFF"),
        ("JPEG", {"compression": 3}, "--compression applies to PNG output, not JPEG"),
    ],
)
def test_save_options_the_format_does_not_take(fmt: str, save: Any, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        encode_picture(random_pixels(np.uint8, 3), ("R", "G", "B"), fmt, save=save)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("fmt", "channels"),
    [("PNG", 1), ("PNG", 2), ("PNG", 3), ("PNG", 4)]
    + [("TIFF", 1), ("TIFF", 2), ("TIFF", 3), ("TIFF", 4)]
    + [("PPM", 1), ("JPEG2000", 1)],
)
def test_16bit_round_trip_is_exact(fmt: str, channels: int) -> None:
    pixels = random_pixels(np.uint16, channels)
    pixels[0, :4, 0] = [0, 255, 256, 65535]
    picture, warnings = round_trip(pixels, fmt)
    assert warnings == []
    assert picture.bands == BANDS[channels]
    assert picture.pixels.dtype == np.uint16
    np.testing.assert_array_equal(picture.pixels, pixels)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_float_tiff_round_trip_is_exact(channels: int) -> None:
    pixels = random_pixels(np.float32, channels)
    pixels[0, :3, 0] = [np.inf, -np.inf, -0.0]
    picture, _ = round_trip(pixels, "TIFF")
    assert picture.bands == BANDS[channels]
    assert picture.pixels.dtype == np.float32
    np.testing.assert_array_equal(picture.pixels, pixels)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_npy_holds_the_array_as_given(dtype: type, channels: int) -> None:
    pixels = random_pixels(dtype, channels)
    data, warnings = encode_picture(pixels, BANDS[channels], "NPY")
    assert warnings == []
    loaded = np.load(io.BytesIO(bytes(data)), allow_pickle=False)
    expected = pixels[:, :, 0] if channels == 1 else pixels
    assert loaded.dtype == dtype
    np.testing.assert_array_equal(loaded, expected)


def test_two_dimensional_pixels_are_one_band() -> None:
    pixels = random_pixels(np.uint8, 1)[:, :, 0]
    picture, _ = round_trip(pixels[:, :, np.newaxis], "PNG")
    data, _ = encode_picture(pixels, ("L",), "PNG")
    np.testing.assert_array_equal(decode(data).pixels[:, :, 0], pixels)
    np.testing.assert_array_equal(picture.pixels[:, :, 0], pixels)


def test_float_formats() -> None:
    assert frozenset({"TIFF", "NPY", "TXT", "CSV"}) == FLOAT_FORMATS


@pytest.mark.parametrize(
    ("fmt", "dtype", "channels", "message"),
    [
        (
            "JPEG",
            np.uint16,
            3,
            "JPEG cannot store 16-bit samples; use --depth 8, or write .png or .tiff",
        ),
        (
            "JPEG",
            np.uint16,
            1,
            "JPEG cannot store 16-bit samples; use --depth 8, or write .png or .tiff",
        ),
        (
            "BMP",
            np.uint16,
            3,
            "BMP cannot store 16-bit samples; use --depth 8, or write .png or .tiff",
        ),
        (
            "WEBP",
            np.uint16,
            4,
            "WEBP cannot store 16-bit samples; use --depth 8, or write .png or .tiff",
        ),
        (
            "PPM",
            np.uint16,
            3,
            "PPM can store 16-bit samples only for grey images, not RGB; "
            "use --depth 8, or write .png or .tiff",
        ),
        (
            "PNG",
            np.float32,
            3,
            "PNG cannot store float samples; write .tiff or .npy, or use --depth 8 or 16",
        ),
        (
            "PNG",
            np.float32,
            1,
            "PNG cannot store float samples; write .tiff or .npy, or use --depth 8 or 16",
        ),
        (
            "JPEG",
            np.float32,
            3,
            "JPEG cannot store float samples; write .tiff or .npy, or use --depth 8",
        ),
        (
            "PPM",
            np.float32,
            1,
            "PPM cannot store float samples; write .tiff or .npy, or use --depth 8 or 16",
        ),
    ],
)
def test_unsupported_depths(fmt: str, dtype: type, channels: int, message: str) -> None:
    pixels = random_pixels(dtype, channels)
    with pytest.raises(UsageError) as caught:
        encode_picture(pixels, BANDS[channels], fmt)
    assert str(caught.value) == message


@pytest.mark.parametrize(("fmt", "channels"), [("JPEG", 4), ("JPEG", 2), ("BMP", 4), ("PPM", 2)])
def test_alpha_is_dropped_with_a_warning_where_it_cannot_be_stored(fmt: str, channels: int) -> None:
    pixels = smooth_pixels(channels)
    picture, warnings = round_trip(pixels, fmt)
    assert warnings == [f"{fmt} cannot store alpha; the alpha channel was dropped"]
    assert picture.bands == BANDS[channels - 1]
    if fmt != "JPEG":
        np.testing.assert_array_equal(picture.pixels, pixels[..., :-1])


def test_pillow_refusal_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"^QOI cannot store an L image: .+"):
        encode_picture(random_pixels(np.uint8, 1), ("L",), "QOI")
    with pytest.raises(UsageError, match=r"^SGI cannot store an LA image: .+"):
        encode_picture(random_pixels(np.uint8, 2), ("L", "A"), "SGI")


def test_encode_rejects_unknown_formats() -> None:
    with pytest.raises(UsageError, match=r"^unknown output format 'XYZ'; expected one of "):
        encode_picture(random_pixels(np.uint8, 1), ("L",), "XYZ")


def test_encode_rejects_programming_errors() -> None:
    with pytest.raises(ValueError, match="do not fit bands"):
        encode_picture(random_pixels(np.uint8, 3), ("L",), "PNG")
    with pytest.raises(ValueError, match="must be uint8, uint16 or float32 alike, not float64"):
        encode_picture(np.zeros((2, 2, 1)), ("L",), "TIFF")


@pytest.mark.parametrize(
    ("fmt", "dtype", "channels"),
    [
        ("PNG", np.uint8, 3),
        ("PNG", np.uint16, 3),
        ("PNG", np.uint16, 4),
        ("PNG", np.uint16, 1),
        ("TIFF", np.uint8, 3),
        ("TIFF", np.uint16, 4),
        ("TIFF", np.float32, 3),
        ("TIFF", np.float32, 1),
        ("JPEG", np.uint8, 3),
    ],
)
def test_dpi_and_icc_profile_are_written(fmt: str, dtype: type, channels: int) -> None:
    pixels = random_pixels(dtype, channels)
    picture, _ = round_trip(pixels, fmt, dpi=(300, 150), icc_profile=SRGB)
    assert picture.info["dpi"] == pytest.approx((300, 150), rel=1e-4)  # PNG stores dots/metre
    if channels > 1:
        assert picture.info["icc_profile"] == SRGB


def test_icc_profile_of_another_colour_space_is_not_written() -> None:
    # An RGB profile in a grey PNG is invalid.
    for dtype in (np.uint8, np.uint16):
        picture, _ = round_trip(random_pixels(dtype, 2), "PNG", icc_profile=SRGB)
        assert "icc_profile" not in picture.info
    picture, _ = round_trip(random_pixels(np.uint8, 3), "PNG", icc_profile=b"junk")
    assert "icc_profile" not in picture.info


def test_bad_metadata_is_ignored() -> None:
    picture, _ = round_trip(random_pixels(np.uint8, 3), "PNG", dpi=(0, -1))
    assert "dpi" not in picture.info
    picture, _ = round_trip(random_pixels(np.uint16, 3), "TIFF", dpi="300")
    assert "dpi" not in picture.info


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_pillow_opens_our_16bit_png_as_its_high_bytes(channels: int) -> None:
    """Pillow's own PNG decoder accepts the file: it is valid PNG."""
    pixels = random_pixels(np.uint16, channels, (37, 53))
    data, _ = encode_picture(pixels, BANDS[channels], "PNG")
    with Image.open(io.BytesIO(data)) as image:
        seen = np.asarray(image)
    high = (pixels >> 8).astype(np.uint8)
    if channels == 2:  # Pillow shows 16-bit LA as RGBA
        high = high[..., [0, 0, 0, 1]]
    np.testing.assert_array_equal(seen, high)


@pytest.mark.parametrize("channels", [3, 4])
def test_pillow_opens_our_16bit_tiff_as_its_high_bytes(channels: int) -> None:
    pixels = random_pixels(np.uint16, channels, (37, 53))
    data, _ = encode_picture(pixels, BANDS[channels], "TIFF")
    with Image.open(io.BytesIO(data)) as image:
        seen = np.asarray(image)
    np.testing.assert_array_equal(seen, pixels >> 8)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(1, 4).flatmap(
        lambda c: hnp.arrays(
            np.uint16,
            st.tuples(st.integers(1, 20), st.integers(1, 20), st.just(c)),
            elements=st.integers(0, 65535) | st.integers(250, 260),
        )
    )
)
def test_16bit_png_and_tiff_writers_round_trip_any_array(pixels: NDArray[np.uint16]) -> None:
    bands = BANDS[pixels.shape[2]]
    png = encode_png(pixels, bands, {})
    tiff = deep.encode_tiff(pixels, bands, {})
    np.testing.assert_array_equal(decode(png).pixels, pixels)
    tiff_image = deep.read_tiff(tiff, "test")
    assert tiff_image is not None
    np.testing.assert_array_equal(tiff_image.pixels, pixels)


def test_png_writer_compresses_smooth_images() -> None:
    y, x = np.mgrid[0:64, 0:64]
    pixels = np.stack([x * 1000, y * 1000, (x + y) * 500], axis=-1).astype(np.uint16)
    data = encode_png(pixels, ("R", "G", "B"), {})
    assert len(data) < pixels.nbytes / 4
    np.testing.assert_array_equal(decode(data).pixels, pixels)


def png_filters(data: bytes, row_bytes: int) -> list[int]:
    """The filter type of each row of a PNG (all IDAT chunks joined and inflated)."""
    stream, at = b"", 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        if data[at + 4 : at + 8] == b"IDAT":
            stream += data[at + 8 : at + 8 + length]
        at += 12 + length
    raw = zlib.decompress(stream)  # also checks the joined stream's Adler-32
    return [raw[r * (row_bytes + 1)] for r in range(len(raw) // (row_bytes + 1))]


def test_png_rows_get_the_filter_that_fits_them() -> None:
    """Alternating values: None; a horizontal ramp: Sub; rows repeating the one above: Up."""
    flat = np.tile(np.array([0, 100], np.uint8), 20).reshape(1, 40, 1)
    rising = np.arange(0, 200, 5, dtype=np.uint8)[None, :, None] * 7
    ramp = np.concatenate([rising, rising[:, ::-1]])  # unlike each other, each a ramp
    noise = np.random.default_rng(1).integers(0, 256, (1, 40, 1), dtype=np.uint8)
    pixels = np.concatenate([flat, ramp, noise, noise])
    filters = png_filters(encode_png(pixels, ("L",), {}), 40)
    assert filters[0] == 0
    assert filters[1:3] == [1, 1]
    assert filters[4] == 2
    np.testing.assert_array_equal(decode(encode_png(pixels, ("L",), {})).pixels, pixels)


@pytest.mark.parametrize("level", [0, 1, 3, 6, 9])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_blocks_deflated_apart_join_into_one_stream(
    monkeypatch: pytest.MonkeyPatch, level: int, channels: int, dtype: type
) -> None:
    """Many small blocks (on threads), each primed with the one before: one valid file."""
    monkeypatch.setattr(png_module, "_BLOCK_BYTES", 500)
    pixels = smooth_pixels(channels, (90, 33)).astype(dtype) * (257 if dtype is np.uint16 else 1)
    pixels[40:50] = random_pixels(dtype, channels, (10, 33))
    data = encode_png(pixels, BANDS[channels], {}, level)
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()  # Pillow checks every chunk's CRC and the stream's Adler-32
    np.testing.assert_array_equal(decode(data).pixels, pixels)
    one_block = encode_png(pixels, BANDS[channels], {}, level)
    assert one_block == data  # the same bytes whatever the thread order


SAMPLES = Path(__file__).parents[1] / "sample_images"


@pytest.mark.parametrize(
    ("name", "chosen"),
    [
        ("camera.png", zlib.Z_RLE),
        ("coffee.png", zlib.Z_RLE),
        ("horse.png", zlib.Z_DEFAULT_STRATEGY),
    ],
)
def test_png_strategy_is_the_smaller_of_runs_and_string_search(
    monkeypatch: pytest.MonkeyPatch, name: str, chosen: int
) -> None:
    """Photographs deflate smaller as runs of residuals; a flat drawing by string search."""
    pixels = read_picture(str(SAMPLES / name)).pixels
    rows = pixels.reshape(pixels.shape[0], -1)
    assert png_module.choose_strategy(rows, pixels.shape[2], 3) == chosen
    assert png_module.choose_strategy(rows, pixels.shape[2], 0) == zlib.Z_DEFAULT_STRATEGY
    bands = BANDS[pixels.shape[2]]
    data = encode_png(pixels, bands, {}, 3)
    np.testing.assert_array_equal(decode(data).pixels, pixels)
    other = zlib.Z_DEFAULT_STRATEGY if chosen == zlib.Z_RLE else zlib.Z_RLE
    monkeypatch.setattr(png_module, "choose_strategy", lambda *_: other)
    forced = encode_png(pixels, bands, {}, 3)
    np.testing.assert_array_equal(decode(forced).pixels, pixels)
    assert len(data) < len(forced)


def test_adler32_combine_matches_zlib() -> None:
    rng = np.random.default_rng(2)
    pieces = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in (0, 1, 5000, 70000)]
    checksum = 1
    for piece in pieces:
        checksum = png_module._adler32_combine(checksum, zlib.adler32(piece), len(piece))
    assert checksum == zlib.adler32(b"".join(pieces))


def test_tiff_writer_splits_large_images_into_strips() -> None:
    pixels = random_pixels(np.float32, 4, (300, 40))  # 640 bytes a row: several strips
    data, _ = encode_picture(pixels, BANDS[4], "TIFF")
    tiff = deep.read_tiff(data, "test")
    assert tiff is not None
    np.testing.assert_array_equal(tiff.pixels, pixels)


@pytest.mark.parametrize(("dtype", "predictor"), [(np.uint16, 2), (np.float32, None)])
@pytest.mark.parametrize("channels", [2, 3, 4])
def test_tiff_writer_predictor_reads_back_everywhere(
    dtype: type, predictor: int | None, channels: int
) -> None:
    """16-bit samples are differenced (predictor 2), floats stored as they are; imgconv,
    tifffile and Pillow (16 bits: its high bytes) read the same samples back."""
    tifffile = pytest.importorskip("tifffile")
    pixels = random_pixels(dtype, channels, (300, 40))  # several strips
    pixels[:, 1::3] = pixels[:, ::3][:, : pixels[:, 1::3].shape[1]]  # runs to difference away
    data, _ = encode_picture(pixels, BANDS[channels], "TIFF")
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
        tags = tif.pages[0].tags
        assert (317 in tags and tags[317].value) == (predictor or False)
        np.testing.assert_array_equal(tif.asarray(), pixels)
    tiff = deep.read_tiff(data, "test")
    assert tiff is not None
    np.testing.assert_array_equal(tiff.pixels, pixels)
    if dtype is np.uint16 and channels in (3, 4):
        with Image.open(io.BytesIO(data)) as image:
            np.testing.assert_array_equal(np.asarray(image), pixels >> 8)


def test_tiff_strips_compressed_on_threads_are_the_ones_one_thread_makes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pages = [random_pixels(np.float32, 3, (700, 300)), random_pixels(np.float32, 3, (700, 300))]
    threaded = deep.encode_tiff_pages(pages, BANDS[3], {}, ["a", "b"])
    monkeypatch.setattr(deep, "workers", lambda: 1)
    assert deep.encode_tiff_pages(pages, BANDS[3], {}, ["a", "b"]) == threaded
    assert len(tiff_strips(threaded)) > 2 * 8  # several tasks' worth of strips a page


def tiff_strips(data: bytes) -> list[int]:
    """The strip offsets of every page of a TIFF imgconv wrote."""
    import tifffile

    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        return [offset for page in tif.pages for offset in page.dataoffsets]


def test_tiff_larger_than_4_gib_is_refused_before_its_offsets_overflow() -> None:
    pieces = deep._Pieces(b"II*\0\0\0\0\0")
    pieces.size = 2**32 - 3
    with pytest.raises(UsageError, match=r"^TIFF cannot store an image this large \(over 4 GiB\)"):
        pieces.append(b"abc")


# --------------------------------------------------------------------------
# 16-bit and float fixtures made by ImageMagick and libvips

EXACT_FIXTURES = [
    ("rgb16.png", "rgb16"),
    ("rgb16_interlaced.png", "rgb16"),
    ("rgba16.png", "rgba16"),
    ("rgba16_interlaced.png", "rgba16"),
    ("la16.png", "la16"),
    ("la16_interlaced.png", "la16"),
    ("rgb16_none.tif", "rgb16"),
    ("rgb16_lzw.tif", "rgb16"),
    ("rgb16_zip.tif", "rgb16"),
    ("rgb16_msb_none.tif", "rgb16"),
    ("rgb16_msb_lzw.tif", "rgb16"),
    ("rgb16_predictor.tif", "rgb16"),
    ("rgb16_planar.tif", "rgb16"),
    ("rgb16_planar_zip.tif", "rgb16"),
    ("rgba16_none.tif", "rgba16"),
    ("rgba16_lzw.tif", "rgba16"),
    ("rgba16_zip.tif", "rgba16"),
    ("rgba16_msb_zip.tif", "rgba16"),
    ("la16_zip.tif", "la16"),
    ("rgbf32_none.tif", "rgbf32"),
    ("rgbf32_deflate.tif", "rgbf32"),
    ("rgbf32_predictor.tif", "rgbf32"),
    ("rgbaf32_none.tif", "rgbaf32"),
    ("rgbaf32_deflate.tif", "rgbaf32"),
]


@pytest.mark.parametrize(("name", "expected"), EXACT_FIXTURES)
def test_fixtures_are_read_bit_exactly(name: str, expected: str) -> None:
    wanted = np.load(DATA / f"{expected}.npy")
    picture = read_picture(DATA / name)
    assert picture.bands == BANDS[wanted.shape[2]]
    assert picture.pixels.dtype == wanted.dtype
    assert picture.format == ("PNG" if name.endswith(".png") else "TIFF")
    assert picture.pixels.flags.c_contiguous
    assert picture.pixels.flags.writeable
    np.testing.assert_array_equal(picture.pixels, wanted)


def test_associated_alpha_is_unpremultiplied_in_16_bits() -> None:
    wanted = np.load(DATA / "rgba16.npy").astype(np.float64)
    picture = read_picture(DATA / "rgba16_associated.tif")
    got = picture.pixels.astype(np.float64)
    np.testing.assert_array_equal(got[..., 3], wanted[..., 3])
    # The file holds colour * alpha rounded to 16 bits, so dividing back is
    # exact to within 65535 / alpha.
    alpha = wanted[..., 3:]
    tolerance = 65535 / np.maximum(alpha, 1) + 1
    assert np.all(np.abs(got[..., :3] - wanted[..., :3]) <= tolerance)
    assert np.abs(got[..., :3] - wanted[..., :3])[alpha[..., 0] > 30000].max() <= 2


def test_big_endian_float_tiff() -> None:
    wanted = np.clip(np.load(DATA / "rgbf32.npy"), 0, 1)  # ImageMagick Q16 clips and quantises
    picture = read_picture(DATA / "rgbf32_msb.tif")
    assert picture.pixels.dtype == np.float32
    assert np.abs(picture.pixels.astype(np.float64) - wanted).max() < 1e-5


def test_16bit_tiff_orientation_is_applied() -> None:
    picture = read_picture(DATA / "rgb16_orient6.tif")
    np.testing.assert_array_equal(picture.pixels, np.rot90(np.load(DATA / "rgb16.npy"), -1))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "la16_lzw.tif",
            "'{path}' is a 16-bit TIFF with LZW compression, which imgconv cannot read; "
            "expected no compression or deflate",
        ),
        (
            "rgbf32_lzw.tif",
            "'{path}' is a float TIFF with LZW compression, which imgconv cannot read; "
            "expected no compression or deflate",
        ),
        (
            "rgbf32_tiled.tif",
            "'{path}' is a float TIFF stored in tiles, which imgconv cannot read; expected strips",
        ),
    ],
)
def test_tiffs_pillow_cannot_open_in_layouts_deep_does_not_read(name: str, message: str) -> None:
    path = str(DATA / name)
    with pytest.raises(ImageReadError) as caught:
        read_picture(path)
    assert str(caught.value) == message.format(path=path)


# --------------------------------------------------------------------------
# The TIFF reader on hand-made files


def tiff_with(tags: dict[int, tuple[int, int, list[int]]], strip: bytes = b"") -> bytes:
    """A little-endian TIFF with one strip and the given (type, count, values) tags."""
    header = 8
    entries = sorted({**tags, 273: (4, 1, [header]), 279: (4, 1, [len(strip)])}.items())
    ifd = header + len(strip)
    out = bytearray(b"II*\0" + ifd.to_bytes(4, "little") + strip)
    out += len(entries).to_bytes(2, "little")
    for tag, (kind, count, values) in entries:
        size = {3: 2, 4: 4}[kind]
        raw = b"".join(v.to_bytes(size, "little") for v in values)
        assert len(raw) <= 4
        out += tag.to_bytes(2, "little") + kind.to_bytes(2, "little")
        out += count.to_bytes(4, "little") + raw.ljust(4, b"\0")
    return bytes(out + b"\0\0\0\0")


def float_tiff_tags(**changes: int) -> dict[int, tuple[int, int, list[int]]]:
    values = {
        "width": 2,
        "height": 1,
        "samples": 2,
        "photometric": 1,
        "compression": 1,
        "predictor": 1,
        "extra": 2,
    }
    values.update(changes)
    n = values["samples"]
    return {
        256: (4, 1, [values["width"]]),
        257: (4, 1, [values["height"]]),
        258: (3, n, [32] * n) if n <= 2 else (3, 1, [32]),
        259: (3, 1, [values["compression"]]),
        262: (3, 1, [values["photometric"]]),
        277: (3, 1, [n]),
        317: (3, 1, [values["predictor"]]),
        338: (3, 1, [values["extra"]]),
        339: (3, n, [3] * n) if n <= 2 else (3, 1, [3]),
    }


def test_tiff_reader_on_a_minimal_float_la_file() -> None:
    pixels = np.array([[[0.25, 1.0], [-2.0, 0.5]]], dtype=np.float32)
    picture = decode(tiff_with(float_tiff_tags(), pixels.astype("<f4").tobytes()))
    assert picture.bands == ("L", "A")
    np.testing.assert_array_equal(picture.pixels, pixels)


def test_tiff_reader_unspecified_extra_sample_is_dropped() -> None:
    pixels = np.array([[[0.25, 1.0], [-2.0, 0.5]]], dtype=np.float32)
    picture = decode(tiff_with(float_tiff_tags(extra=0), pixels.astype("<f4").tobytes()))
    assert picture.bands == ("L",)
    np.testing.assert_array_equal(picture.pixels, pixels[..., :1])


def test_tiff_reader_associated_float_alpha() -> None:
    stored = np.array([[[0.25, 0.5], [0.3, 0.0]]], dtype=np.float32)
    picture = decode(tiff_with(float_tiff_tags(extra=1), stored.astype("<f4").tobytes()))
    np.testing.assert_array_equal(picture.pixels, [[[0.5, 0.5], [0.0, 0.0]]])


@pytest.mark.parametrize(
    ("changes", "strip", "message"),
    [
        (
            {"photometric": 5},
            bytes(16),
            "'-' is a float TIFF with 2 samples per pixel and photometric interpretation 5, "
            "which imgconv cannot read; expected grey or RGB, with or without alpha",
        ),
        (
            {"compression": 5},
            bytes(16),
            "'-' is a float TIFF with LZW compression, which imgconv cannot read; "
            "expected no compression or deflate",
        ),
        (
            {"compression": 8},
            b"not zlib",
            "'-' is truncated or corrupt: strip 0: Error -3 while decompressing data: "
            "incorrect header check",
        ),
        (
            {"predictor": 2},
            bytes(16),
            "'-' is a float TIFF with predictor 2, which imgconv cannot read; "
            "expected none or 3 (floating point)",
        ),
        ({}, bytes(10), "'-' is truncated or corrupt: strip 0 holds 10 of 16 bytes"),
        ({"width": 0}, b"", "'-' is truncated or corrupt: the image is 0x1 pixels"),
    ],
)
def test_tiff_reader_errors(changes: dict[str, int], strip: bytes, message: str) -> None:
    data = tiff_with(float_tiff_tags(**changes), strip)
    with pytest.raises(ImageReadError) as caught:
        deep.read_tiff(data, "'-'")
    assert str(caught.value) == message


def test_tiff_reader_leaves_other_tiffs_alone() -> None:
    tags = float_tiff_tags()
    tags[258] = (3, 2, [8, 8])
    tags[339] = (3, 2, [1, 1])
    assert deep.read_tiff(tiff_with(tags, bytes(4)), "x") is None
    assert deep.read_tiff(b"GIF89a", "x") is None


def test_tiff_reader_rejects_bigtiff_and_cut_headers() -> None:
    with pytest.raises(ImageReadError, match="^'x' is a BigTIFF file, which imgconv cannot read"):
        deep.read_tiff(b"II+\0\x08\0\0\0", "'x'")
    with pytest.raises(ImageReadError, match=r"^'x' is truncated or corrupt: "):
        deep.read_tiff(b"II*\0\xff\0\0\0", "'x'")


def test_tiff_reader_applies_the_bomb_limit() -> None:
    with pytest.raises(ImageReadError) as caught:
        read_picture(DATA / "rgbf32_none.tif", max_pixels=100)
    assert str(caught.value) == (
        f"'{DATA / 'rgbf32_none.tif'}' is 29 x 19 pixels, more than the limit of 100 pixels "
        "that guards against decompression bombs; if you trust the file, raise the limit "
        "with --max-pixels"
    )
    assert read_picture(DATA / "rgbf32_none.tif", max_pixels=551).pixels.shape == (19, 29, 3)


# --------------------------------------------------------------------------
# Mode rules


@pytest.mark.parametrize(
    ("make", "fmt", "bands", "dtype"),
    [
        (lambda: Image.new("1", (5, 4), 1), "PNG", ("L",), np.uint8),
        (lambda: Image.new("L", (5, 4), 7), "PNG", ("L",), np.uint8),
        (lambda: Image.new("LA", (5, 4), (7, 9)), "PNG", ("L", "A"), np.uint8),
        (lambda: Image.new("P", (5, 4), 3), "PNG", ("R", "G", "B"), np.uint8),
        (lambda: Image.new("P", (5, 4), 3), "GIF", ("R", "G", "B"), np.uint8),
        (lambda: Image.new("RGB", (5, 4), (1, 2, 3)), "PNG", ("R", "G", "B"), np.uint8),
        (lambda: Image.new("RGBA", (5, 4), (1, 2, 3, 4)), "PNG", ("R", "G", "B", "A"), np.uint8),
        (lambda: Image.new("CMYK", (5, 4), (9, 0, 200, 3)), "JPEG", tuple("CMYK"), np.uint8),
        (lambda: Image.new("CMYK", (5, 4), (9, 0, 200, 3)), "TIFF", tuple("CMYK"), np.uint8),
        (lambda: Image.new("LAB", (5, 4), (50, 128, 128)), "TIFF", ("R", "G", "B"), np.uint8),
        (lambda: Image.new("I;16", (5, 4), 40000), "PNG", ("L",), np.uint16),
        (lambda: Image.new("I;16", (5, 4), 40000), "TIFF", ("L",), np.uint16),
        (lambda: Image.new("I", (5, 4), 65535), "TIFF", ("L",), np.uint16),
        (lambda: Image.new("F", (5, 4), -1.5), "TIFF", ("L",), np.float32),
    ],
)
def test_mode_rules(make: Any, fmt: str, bands: tuple[str, ...], dtype: type) -> None:
    image = make()
    picture = decode(pillow_bytes(image, fmt))
    assert picture.bands == bands
    assert picture.pixels.dtype == dtype
    assert picture.pixels.shape == (4, 5, len(bands))
    if image.mode not in ("LAB", "P") and fmt != "JPEG":
        expected = np.asarray(image.convert("L") if image.mode == "1" else image)
        np.testing.assert_array_equal(picture.pixels.reshape(expected.shape), expected)


def test_mode_1_becomes_0_and_255() -> None:
    image = Image.new("1", (4, 1))
    image.putpixel((1, 0), 1)
    picture = decode(pillow_bytes(image, "PNG"))
    assert picture.pixels[0, :, 0].tolist() == [0, 255, 0, 0]


def test_palette_with_transparency_becomes_rgba() -> None:
    image = Image.new("P", (3, 2), 1)
    image.putpalette([0, 0, 0, 10, 20, 30])
    picture = decode(pillow_bytes(image, "PNG", transparency=1))
    assert picture.bands == ("R", "G", "B", "A")
    assert picture.pixels[0, 0].tolist() == [10, 20, 30, 0]
    image.putpixel((0, 0), 0)
    picture = decode(pillow_bytes(image, "GIF", transparency=0))
    assert picture.bands == ("R", "G", "B", "A")
    assert picture.pixels[0, 0, 3] == 0
    assert picture.pixels[0, 1].tolist() == [10, 20, 30, 255]


@pytest.mark.parametrize(
    ("mode", "value", "bands", "expected"),
    [
        ("La", (64, 128), ("L", "A"), [127, 128]),
        ("RGBa", (64, 32, 16, 128), ("R", "G", "B", "A"), [127, 63, 31, 128]),
        ("PA", (0, 77), ("R", "G", "B", "A"), [0, 0, 0, 77]),
        ("RGBX", (1, 2, 3, 4), ("R", "G", "B"), [1, 2, 3]),
        ("YCbCr", (128, 128, 128), ("R", "G", "B"), [128, 128, 128]),
        ("HSV", (0, 0, 200), ("R", "G", "B"), [200, 200, 200]),
        ("I;16B", 1000, ("L",), [1000]),
    ],
)
def test_modes_that_files_rarely_give(
    mode: str, value: Any, bands: tuple[str, ...], expected: list[int]
) -> None:
    kept = image_io._normalise_mode(Image.new(mode, (2, 1), value))
    pixels, got_bands = image_io._to_array(kept, "'x'")
    assert got_bands == bands
    assert pixels[0, 0].tolist() == expected


def test_32bit_integers_outside_16_bits_are_refused() -> None:
    image = Image.new("I", (3, 2), 70000)
    with pytest.raises(ImageReadError) as caught:
        decode(pillow_bytes(image, "TIFF"))
    assert str(caught.value) == (
        "standard input is a 32-bit integer image with values outside 0..65535, "
        "which imgconv does not support; expected values within 0..65535"
    )
    image = Image.new("I", (3, 2), -1)
    with pytest.raises(ImageReadError, match="values outside 0..65535"):
        decode(pillow_bytes(image, "TIFF"))


def test_icc_profile_and_dpi_are_carried() -> None:
    image = Image.new("RGB", (3, 2))
    picture = decode(pillow_bytes(image, "PNG", dpi=(200, 200), icc_profile=SRGB))
    assert picture.info == {"dpi": pytest.approx((200, 200), rel=1e-4), "icc_profile": SRGB}
    # Pillow says 1 dpi for a TIFF without resolution tags: not worth carrying.
    assert decode(pillow_bytes(image, "TIFF")).info == {}
    cmyk = Image.new("CMYK", (3, 2))
    picture = decode(pillow_bytes(cmyk, "JPEG", dpi=(72, 72), icc_profile=b"cmyk profile"))
    assert picture.info == {"dpi": (72, 72), "icc_profile": b"cmyk profile"}
    lab = Image.new("LAB", (3, 2))
    picture = decode(pillow_bytes(lab, "TIFF", icc_profile=b"lab profile"))
    assert picture.info == {}


def test_first_frame_of_an_animation() -> None:
    frames = [Image.new("L", (4, 3), v) for v in (10, 200)]
    data = pillow_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:])
    picture = decode(data)
    assert np.all(picture.pixels == 10)


# --------------------------------------------------------------------------
# EXIF orientation


def oriented_jpeg(orientation: int, fmt: str = "JPEG") -> tuple[bytes, Image.Image]:
    image = Image.fromarray(smooth_pixels(3, (20, 30)))
    exif = Image.Exif()
    exif[deep.ORIENTATION_TAG] = orientation
    return pillow_bytes(image, fmt, exif=exif.tobytes()), image


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation_6_turns_the_image(fmt: str) -> None:
    data, image = oriented_jpeg(6, fmt)
    picture = decode(data)
    assert picture.pixels.shape == (30, 20, 3)
    with Image.open(io.BytesIO(data)) as opened:
        upright = np.asarray(ImageOps.exif_transpose(opened))
    np.testing.assert_array_equal(picture.pixels, upright)


@pytest.mark.parametrize("orientation", range(10))
def test_orient_does_what_pillow_does(orientation: int) -> None:
    pixels = random_pixels(np.uint8, 3, (4, 7))
    image = Image.frombytes("RGB", (7, 4), pixels.tobytes())
    exif = image.getexif()
    exif[deep.ORIENTATION_TAG] = orientation
    image.info["exif"] = exif.tobytes()
    expected = np.asarray(ImageOps.exif_transpose(image))
    result = deep.orient(pixels, orientation)
    assert result.flags.c_contiguous
    np.testing.assert_array_equal(result, expected)


# --------------------------------------------------------------------------
# Read errors


def test_read_from_stdin() -> None:
    data = pillow_bytes(Image.new("RGB", (3, 2), (1, 2, 3)), "PNG")
    picture = read_picture("-", stdin=io.BytesIO(data))
    assert picture.format == "PNG"
    assert picture.pixels.shape == (2, 3, 3)


def test_read_a_file_named_dash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("-").write_bytes(pillow_bytes(Image.new("L", (3, 2)), "PNG"))
    assert read_picture(Path("-")).bands == ("L",)


def test_empty_stdin() -> None:
    with pytest.raises(ImageReadError) as caught:
        read_picture("-", stdin=io.BytesIO(b""))
    assert str(caught.value) == "standard input is empty; expected image data"


def test_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ImageReadError) as caught:
        read_picture("x.png")
    assert str(caught.value) == "cannot read 'x.png': no such file"


def test_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    os.mkdir("dir")
    with pytest.raises(ImageReadError) as caught:
        read_picture("dir")
    assert str(caught.value) == "cannot read 'dir': it is a directory"


def test_permission_denied_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(image_io, "open", refuse, raising=False)
    with pytest.raises(ImageReadError) as caught:
        read_picture("x.png")
    assert str(caught.value) == "cannot read 'x.png': permission denied"


def test_other_os_errors_name_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(image_io, "open", fail, raising=False)
    with pytest.raises(ImageReadError) as caught:
        read_picture("x.png")
    assert str(caught.value) == "cannot read 'x.png': Input/output error"


def test_not_an_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("notes.md").write_text("hello\n")
    with pytest.raises(ImageReadError) as caught:
        read_picture("notes.md")
    assert str(caught.value) == "'notes.md' is not an image Pillow can read"
    Path("notes.txt").write_text("hello\n")  # .txt is a numeric matrix
    with pytest.raises(ImageReadError) as caught:
        read_picture("notes.txt")
    assert str(caught.value) == "matrix 'notes.txt': 'hello' in line 1 is not a number"
    with pytest.raises(ImageReadError) as caught:
        read_picture("-", stdin=io.BytesIO(b"hello"))
    assert str(caught.value) == "standard input is not an image Pillow can read"


def test_empty_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("x.png").write_bytes(b"")
    with pytest.raises(ImageReadError) as caught:
        read_picture("x.png")
    assert str(caught.value) == "'x.png' is empty; expected image data"


@pytest.mark.parametrize(
    "data",
    [
        pillow_bytes(Image.fromarray(smooth_pixels(3)), "PNG"),
        pillow_bytes(Image.fromarray(smooth_pixels(3)), "JPEG"),
        pillow_bytes(Image.fromarray(smooth_pixels(3)), "TIFF"),
        (DATA / "rgb16.png").read_bytes(),
        (DATA / "rgba16_zip.tif").read_bytes(),
        (DATA / "rgbf32_deflate.tif").read_bytes(),
    ],
    ids=["png", "jpeg", "tiff", "png16", "tiff16", "tiff-float"],
)
def test_truncated(data: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("cut.img").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ImageReadError) as caught:
        read_picture("cut.img")
    assert str(caught.value).startswith("'cut.img' is truncated or corrupt: ")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size and holds no pixels: what a decompression bomb looks like."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_decompression_bomb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("x.png").write_bytes(pillow_bytes(Image.new("L", (30, 20)), "PNG"))
    with pytest.raises(ImageReadError) as caught:
        read_picture("x.png", max_pixels=599)
    assert str(caught.value) == (
        "'x.png' is 30 x 20 pixels, more than the limit of 599 pixels that guards against "
        "decompression bombs; if you trust the file, raise the limit with --max-pixels"
    )
    assert read_picture("x.png", max_pixels=600).pixels.shape == (20, 30, 1)
    assert read_picture("x.png", max_pixels=None).pixels.shape == (20, 30, 1)
    # Pillow's own limit is left as it was.
    assert Image.MAX_IMAGE_PIXELS == 89478485


def test_a_bomb_is_refused_before_it_is_decoded() -> None:
    """30000 x 30000 claimed (2.7 GB decoded) in 100 bytes: refused by default, at once."""
    assert image_io.DEFAULT_MAX_PIXELS == 200_000_000
    expected = r"^standard input is 30000 x 30000 pixels \(900 megapixels\), more than the limit "
    with pytest.raises(ImageReadError, match=expected + r"of 200 megapixels "):
        decode(png_header_only(30000, 30000))
    with pytest.raises(ImageReadError, match=r"is truncated or corrupt"):
        decode(png_header_only(3000, 3000))  # under the limit: decoding finds no pixels


def test_16bit_colour_that_pillow_decodes_in_an_unknown_way_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = (DATA / "rgb16.png").read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        image.tile = [image.tile[0]._replace(args="RGB;16Q")]
        with pytest.raises(ImageReadError) as caught:
            deep.read_wide(data, "'x.png'", image)
    assert str(caught.value) == (
        "'x.png' is a 16-bit PNG that Pillow decodes as RGB from RGB;16Q, "
        "which imgconv cannot read without losing bits"
    )


CORRUPTIBLE = [
    pillow_bytes(Image.fromarray(smooth_pixels(3, (9, 7))), "PNG"),
    pillow_bytes(Image.fromarray(smooth_pixels(3, (9, 7))), "JPEG"),
    pillow_bytes(Image.fromarray(smooth_pixels(4, (9, 7))), "TIFF"),
    pillow_bytes(Image.fromarray(smooth_pixels(3, (9, 7))), "GIF"),
    pillow_bytes(Image.fromarray(smooth_pixels(3, (9, 7))), "BMP"),
    encode_png(random_pixels(np.uint16, 3, (9, 7)), BANDS[3], {}),
    deep.encode_tiff(random_pixels(np.float32, 3, (9, 7)), BANDS[3], {}),
    deep.encode_tiff(random_pixels(np.uint16, 2, (9, 7)), BANDS[2], {}),
]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(CORRUPTIBLE),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4),
)
def test_corrupt_files_only_raise_image_read_error(
    data: bytes, changes: list[tuple[int, int]]
) -> None:
    damaged = bytearray(data)
    for where, value in changes:
        damaged[where % len(damaged)] = value
    try:
        picture = decode(bytes(damaged))
    except ImageReadError:
        return
    assert picture.pixels.ndim == 3


# --------------------------------------------------------------------------
# Output formats


@pytest.mark.parametrize(
    ("explicit", "expected"),
    [
        ("png", "PNG"),
        ("PNG", "PNG"),
        ("jpg", "JPEG"),
        ("JPEG", "JPEG"),
        ("tif", "TIFF"),
        ("Tiff", "TIFF"),
        ("npy", "NPY"),
        ("NPY", "NPY"),
        ("webp", "WEBP"),
        ("pgm", "PPM"),
    ],
)
def test_explicit_formats(explicit: str, expected: str) -> None:
    assert output_format("out.png", explicit) == expected
    assert output_format("-", explicit) == expected


def test_unknown_explicit_format() -> None:
    with pytest.raises(UsageError) as caught:
        output_format("out.png", "xyz")
    message = str(caught.value)
    prefix = "unknown output format 'xyz'; expected one of "
    assert message.startswith(prefix)
    names = message[len(prefix) :].split(", ")
    assert names == sorted(names)
    assert {"bmp", "gif", "jpeg", "npy", "png", "tiff", "webp"} <= set(names)
    assert "bufr" not in names  # a stub: Pillow cannot save it without a handler
    assert all(name == name.lower() for name in names)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("-", "PNG"),
        ("out.png", "PNG"),
        ("OUT.PNG", "PNG"),
        ("dir.d/out.jpg", "JPEG"),
        ("out.jpeg", "JPEG"),
        ("out.tif", "TIFF"),
        ("out.tiff", "TIFF"),
        ("out.npy", "NPY"),
        ("out.bmp", "BMP"),
        ("out.webp", "WEBP"),
    ],
)
def test_formats_from_suffixes(target: str, expected: str) -> None:
    assert output_format(target) == expected


@pytest.mark.parametrize("target", ["out.xyz", "out", "dir.d/out", "out.bufr", "out.psd"])
def test_unknown_suffixes(target: str) -> None:
    with pytest.raises(UsageError) as caught:
        output_format(target)
    assert str(caught.value) == (
        f"cannot tell the output format of {target!r} from its suffix; use a suffix such as "
        ".png, .jpg, .tif or .npy, or --format"
    )


# --------------------------------------------------------------------------
# Writing


@pytest.fixture
def umask_027() -> Iterator[None]:
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_write_to_stdout() -> None:
    out = io.BytesIO()
    write_output(b"abc", "-", stdout=out)
    assert out.getvalue() == b"abc"


def test_stdout_failure() -> None:
    class Broken(io.BytesIO):
        def write(self, data: Any) -> int:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    with pytest.raises(ImageWriteError) as caught:
        write_output(b"abc", "-", stdout=Broken())
    assert str(caught.value) == "cannot write to standard output: Broken pipe"


def test_new_file_honours_the_umask(tmp_path: Path, umask_027: None) -> None:
    target = tmp_path / "x.png"
    write_output(b"data", str(target))
    assert target.read_bytes() == b"data"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert leftovers(tmp_path) == ["x.png"]


def test_overwriting_keeps_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "x.png"
    target.write_bytes(b"old contents, longer than the new")
    target.chmod(0o604)
    write_output(b"new", str(target))
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o604
    assert leftovers(tmp_path) == ["x.png"]


def test_writing_over_the_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    pixels = random_pixels(np.uint16, 3)
    Path("x.png").write_bytes(encode_picture(pixels, BANDS[3], "PNG")[0])
    picture = read_picture("x.png")
    data, _ = encode_picture(65535 - picture.pixels, picture.bands, "PNG")
    write_output(data, "x.png")
    np.testing.assert_array_equal(read_picture("x.png").pixels, 65535 - pixels)


def test_symbolic_links_are_followed(tmp_path: Path) -> None:
    real = tmp_path / "real.png"
    real.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(real)
    write_output(b"new", str(link))
    assert link.is_symlink()
    assert real.read_bytes() == b"new"


def test_fifo_is_written_into(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_output(b"through the pipe", str(fifo))
    reader.join(timeout=10)
    assert received == [b"through the pipe"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_missing_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ImageWriteError) as caught:
        write_output(b"data", "out/x.png")
    assert str(caught.value) == "cannot write 'out/x.png': directory 'out' does not exist"
    assert leftovers(tmp_path) == []


def test_parent_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("f.txt").write_text("")
    with pytest.raises(ImageWriteError) as caught:
        write_output(b"data", "f.txt/x.png")
    assert str(caught.value) == "cannot write 'f.txt/x.png': 'f.txt' is not a directory"


def test_target_is_a_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    os.mkdir("x.png")
    with pytest.raises(ImageWriteError) as caught:
        write_output(b"data", "x.png")
    assert str(caught.value) == "cannot write 'x.png': it is a directory"
    assert leftovers(tmp_path) == ["x.png"]


def test_permission_denied_on_the_directory_simulated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(ImageWriteError) as caught:
        write_output(b"data", "x.png")
    assert str(caught.value) == "cannot write 'x.png': permission denied"


def test_read_only_target_is_not_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("x.png").write_bytes(b"precious")
    os.chmod("x.png", 0o444)
    # Root may write anything, so simulate the check's answer for everyone.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(ImageWriteError) as caught:
        write_output(b"data", "x.png")
    assert str(caught.value) == "cannot write 'x.png': permission denied"
    assert Path("x.png").read_bytes() == b"precious"


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "no space left on device"),
        (OSError(errno.EIO, "Input/output error"), "Input/output error"),
        (PermissionError(errno.EPERM, "Operation not permitted"), "permission denied"),
    ],
)
@pytest.mark.parametrize("existing", [False, True])
def test_failed_write_leaves_nothing_behind(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    error: OSError,
    message: str,
    existing: bool,
) -> None:
    monkeypatch.chdir(tmp_path)
    if existing:
        Path("x.png").write_bytes(b"the old image")
    real_write = os.write
    calls = []

    def write_then_fail(fd: int, data: Any) -> int:
        calls.append(fd)
        if len(calls) == 1:
            return real_write(fd, bytes(data)[:3])  # a partial write first
        raise error

    monkeypatch.setattr(os, "write", write_then_fail)
    with pytest.raises(ImageWriteError) as caught:
        write_output(b"new image data", "x.png")
    assert str(caught.value) == f"cannot write 'x.png': {message}"
    assert leftovers(tmp_path) == (["x.png"] if existing else [])
    if existing:
        assert Path("x.png").read_bytes() == b"the old image"


def test_failed_rename_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("x.png").write_bytes(b"the old image")

    def fail(*args: Any) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(ImageWriteError) as caught:
        write_output(b"new", "x.png")
    assert str(caught.value) == "cannot write 'x.png': Read-only file system"
    assert leftovers(tmp_path) == ["x.png"]
    assert Path("x.png").read_bytes() == b"the old image"


def test_interrupted_write_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(fd: int, data: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "write", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_output(b"data", str(tmp_path / "x.png"))
    assert leftovers(tmp_path) == []


def test_symbolic_link_to_a_fifo_is_written_into(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "link"
    link.symlink_to(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_output(b"through the link", str(link))
    reader.join(timeout=10)
    assert received == [b"through the link"]
    assert link.is_symlink()


def test_large_writes_are_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write

    def short_writes(fd: int, data: Any) -> int:
        return real_write(fd, bytes(data)[:1000])

    monkeypatch.setattr(os, "write", short_writes)
    payload = bytes(range(256)) * 40
    write_output(payload, str(tmp_path / "x.bin"))
    assert (tmp_path / "x.bin").read_bytes() == payload


# --------------------------------------------------------------------------
# is_terminal


def test_is_terminal() -> None:
    class Terminal(io.BytesIO):
        def isatty(self) -> bool:
            return True

    closed = io.BytesIO()
    closed.close()
    assert is_terminal(Terminal())
    assert not is_terminal(io.BytesIO())
    assert not is_terminal(io.StringIO())
    assert not is_terminal(closed)
    assert not is_terminal(object())  # type: ignore[arg-type]


@pytest.mark.parametrize(("fmt", "side"), [("WEBP", 16383), ("JPEG", 65500), ("GIF", 65535)])
def test_images_larger_than_the_format_holds_are_refused_in_one_line(fmt: str, side: int) -> None:
    """The fuzzer's find: a 16 x 65535 GIF written as WebP failed inside Pillow's encoder."""
    tall = np.zeros((side + 1, 2, 3), np.uint8)
    with pytest.raises(UsageError) as caught:
        encode_picture(tall, BANDS[3], fmt)
    assert str(caught.value) == (
        f"{fmt} holds images up to {side} x {side} pixels, and this one is 2 x {side + 1}; "
        "write .png or .tiff"
    )
    data, _ = encode_picture(tall[:side], BANDS[3], fmt)  # the largest it holds
    assert decode(data).pixels.shape[:2] == (side, 2)


# --- CMYK to RGB ---------------------------------------------------------------------------------


def test_cmyk_to_rgb_is_pillows_at_8_bits_for_every_pair_of_inks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every (ink, black) pair, in strips of a few rows: what Pillow's convert("RGB") gives."""
    monkeypatch.setattr(image_io, "_CMYK_STRIP_BYTES", 1 << 14)
    ink, black = np.meshgrid(np.arange(256), np.arange(256))
    inks = np.stack([ink, 255 - ink, (ink * 7) % 256, black], axis=-1).astype(np.uint8)
    pillow = np.asarray(Image.fromarray(inks, "CMYK").convert("RGB"))
    np.testing.assert_array_equal(image_io._cmyk_to_rgb(inks), pillow)


def test_cmyk_to_rgb_rounds_exactly_at_16_bits() -> None:
    """``(65535 - C)(65535 - K) / 65535`` rounded, by integer arithmetic."""
    rng = np.random.default_rng(12)
    inks = rng.integers(0, 65536, (300, 257, 4), dtype=np.uint16)
    inks[0, :4] = [[0, 0, 0, 0], [65535, 65535, 65535, 65535], [1, 2, 3, 65534], [9, 9, 9, 1]]
    white = 65535 - inks.astype(np.uint64)
    exact = (white[:, :, :3] * white[:, :, 3:] + 32767) // 65535
    got = image_io._cmyk_to_rgb(inks)
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, exact)


# --- .npy output -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12.0).reshape(3, 4),
        np.arange(24, dtype=np.float32).reshape(2, 3, 4),
        np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2],  # not contiguous
        np.array([[-0.0, np.float64(1e-310)]]),
    ],
)
def test_npy_output_is_what_numpy_saves(array: NDArray[Any]) -> None:
    """The header, then the values: the bytes of np.save, to the byte."""
    saved = io.BytesIO()
    np.save(saved, array, allow_pickle=False)
    data = matrix_io.encode_numbers(array, "NPY")
    assert bytes(data) == saved.getvalue()
    assert isinstance(data, matrix_io.Parts)
    assert data.nbytes == len(saved.getvalue())


def test_npy_output_refers_to_the_array_instead_of_copying_it() -> None:
    """A C-ordered array's values are written from its own memory (8 float maps of a
    16-megapixel image are 537 MB: a joined copy doubled the memory of writing them)."""
    maps = np.arange(2 * 5 * 7, dtype=np.float32).reshape(2, 5, 7)
    data = matrix_io.encode_numbers(maps, "NPY")
    assert isinstance(data, matrix_io.Parts)
    header, body = data.parts
    assert np.shares_memory(np.frombuffer(body, np.uint8), maps)
    assert body.nbytes == maps.nbytes


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("shape", [(4, 5), (4, 5, 3)])
def test_npy_of_separate_pages_is_the_stack_without_making_it(
    dtype: type, shape: tuple[int, ...]
) -> None:
    """``--combine stack`` and frames: the bytes of np.save of the stack, each page's values
    written from the page itself (a non-contiguous page is made contiguous first)."""
    rng = np.random.default_rng(4)
    pages = [(rng.random(shape) * 200).astype(dtype) for _ in range(3)]
    pages[1] = np.asfortranarray(pages[1])
    saved = io.BytesIO()
    np.save(saved, np.stack(pages), allow_pickle=False)
    data = image_io.encode_stack(pages, BANDS[shape[-1] if len(shape) == 3 else 1], "NPY")
    assert bytes(data) == saved.getvalue()
    assert isinstance(data, matrix_io.Parts)
    bodies = data.parts[1:]
    assert np.shares_memory(np.frombuffer(bodies[0], np.uint8), pages[0])
    assert not np.shares_memory(np.frombuffer(bodies[1], np.uint8), pages[1])
    with pytest.raises(ValueError, match="share their shape and type"):
        matrix_io.npy_stack_parts([pages[0], pages[0][:2]])


def test_parts_are_written_one_after_another(tmp_path: Path) -> None:
    maps = np.linspace(-1, 1, 3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    data = image_io.encode_stack(maps, ("L",), "NPY")
    target = tmp_path / "maps.npy"
    image_io.write_output(data, str(target))
    np.testing.assert_array_equal(np.load(target), maps)
    stream = io.BytesIO()
    image_io.write_output(data, "-", stdout=stream)
    assert stream.getvalue() == target.read_bytes()
