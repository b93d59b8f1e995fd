"""Reading and writing images by rows (imgconv.regions): equality, memory, atomicity, errors."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from imgconv import image_io, regions
from imgconv.errors import ImageReadError, ImageWriteError

tifffile = pytest.importorskip("tifffile")

IMAGE_BANDS = [("L",), ("L", "A"), ("R", "G", "B"), ("R", "G", "B", "A"), ("C", "M", "Y", "K")]
IMAGE_DTYPES = [np.uint8, np.uint16, np.float32]


def sample(shape: tuple[int, ...], dtype: Any, seed: int = 0) -> NDArray[Any]:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return (rng.random(shape) * 4 - 1).astype(dtype)
    return rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)


def write_in_pieces(sink: regions.RowSink, pixels: NDArray[Any], sizes: list[int]) -> None:
    """Write ``pixels`` through ``sink`` in slices of the given sizes (the rest at the end)."""
    top = 0
    for size in sizes:
        sink[top : top + size] = pixels[top : top + size]
        top += size
    if top < len(pixels):
        sink[top:] = pixels[top:]


def decoded(data: bytes) -> image_io.Picture:
    return image_io.read_picture("-", stdin=io.BytesIO(data))


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# --------------------------------------------------------------------------
# Round trips: what a sink writes reads back as encode_picture's file does


@pytest.mark.parametrize("compression", [None, "deflate"])
@pytest.mark.parametrize("bands", IMAGE_BANDS, ids="".join)
@pytest.mark.parametrize("dtype", IMAGE_DTYPES, ids=lambda d: np.dtype(d).name)
def test_tiff_sink_reads_back_as_encode_picture(
    tmp_path: Path, dtype: Any, bands: tuple[str, ...], compression: str | None
) -> None:
    pixels = sample((41, 29, len(bands)), dtype)
    target = tmp_path / "out.tif"
    with regions.create_rows(
        str(target), pixels.shape, dtype, "TIFF", bands, compression=compression
    ) as sink:
        write_in_pieces(sink, pixels, [1, 7, 20])
    reference, _ = image_io.encode_picture(pixels, bands, "TIFF")

    ours, theirs = image_io.read_picture(str(target)), decoded(reference)
    assert ours.bands == theirs.bands == bands
    assert ours.pixels.dtype == theirs.pixels.dtype
    np.testing.assert_array_equal(ours.pixels, theirs.pixels)
    np.testing.assert_array_equal(ours.pixels, pixels)
    np.testing.assert_array_equal(tifffile.imread(target), tifffile.imread(io.BytesIO(reference)))
    with regions.open_rows(str(target)) as source:
        assert source is not None
        assert (source.shape, source.dtype, source.bands) == (pixels.shape, pixels.dtype, bands)
        assert not source.numeric
        np.testing.assert_array_equal(source[0 : len(source)], pixels)
        np.testing.assert_array_equal(source[5:33], pixels[5:33])
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("compression", [None, "deflate"])
@pytest.mark.parametrize(
    ("dtype", "bands"),
    [
        (np.uint8, ("L",)),
        (np.uint8, ("R", "G", "B")),
        (np.uint16, ("L", "A")),
        (np.float32, ("R", "G", "B")),
    ],
    ids=["L8", "RGB8", "LA16", "RGBf"],
)
def test_many_strips_of_odd_sizes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dtype: Any,
    bands: tuple[str, ...],
    compression: str | None,
) -> None:
    monkeypatch.setattr(regions, "_STRIP_BYTES", 100)  # a few rows per strip, odd offsets
    pixels = sample((47, 13, len(bands)), dtype, seed=7)
    target = tmp_path / "strips.tif"
    with regions.create_rows(
        str(target), pixels.shape, dtype, "TIFF", bands, compression=compression
    ) as sink:
        write_in_pieces(sink, pixels, [2, 9, 1, 15])
    with tifffile.TiffFile(target) as tiff:
        assert len(tiff.pages.first.dataoffsets) > 5
        np.testing.assert_array_equal(tiff.asarray().reshape(pixels.shape), pixels)
    np.testing.assert_array_equal(image_io.read_picture(str(target)).pixels, pixels)
    with regions.open_rows(str(target)) as source:
        assert source is not None
        np.testing.assert_array_equal(source[3:44], pixels[3:44])


def test_tiff_sink_takes_two_dimensional_grey_rows(tmp_path: Path) -> None:
    pixels = sample((12, 9), np.uint16)
    target = tmp_path / "grey.tif"
    with regions.create_rows(str(target), (12, 9), np.uint16, "TIFF", ("L",)) as sink:
        sink[0:5] = pixels[:5]
        sink[5:12] = pixels[5:, :, np.newaxis]  # (n, W, 1) is the same
    np.testing.assert_array_equal(image_io.read_picture(str(target)).pixels[:, :, 0], pixels)


def test_tiff_sink_carries_dpi_and_icc_profile(tmp_path: Path) -> None:
    pixels = sample((8, 8, 3), np.uint8)
    icc = image_io.read_picture("sample_images/coffee.png").info.get("icc_profile")
    info: dict[str, Any] = {"dpi": (300.0, 150.0)}
    if icc:
        info["icc_profile"] = icc
    target = tmp_path / "meta.tif"
    with regions.create_rows(
        str(target), pixels.shape, np.uint8, "TIFF", ("R", "G", "B"), info=info
    ) as sink:
        sink[0:8] = pixels
    picture = image_io.read_picture(str(target))
    assert picture.info["dpi"] == pytest.approx((300.0, 150.0))
    with regions.open_rows(str(target)) as source:
        assert source is not None
        assert source.info["dpi"] == pytest.approx((300.0, 150.0))
        assert source.info.get("icc_profile") == info.get("icc_profile")


def test_bigtiff_sink_reads_back(tmp_path: Path) -> None:
    pixels = sample((30, 20, 3), np.uint8)
    target = tmp_path / "big.tif"
    sink = regions._TiffSink(
        str(target), pixels.shape, np.dtype(np.uint8), ("R", "G", "B"), {}, False, bigtiff=True
    )
    with sink:
        write_in_pieces(sink, pixels, [4, 4])
    assert target.read_bytes()[:4] == b"II+\0"
    np.testing.assert_array_equal(tifffile.imread(target), pixels)
    np.testing.assert_array_equal(image_io.read_picture(str(target)).pixels, pixels)
    with regions.open_rows(str(target)) as source:
        assert source is not None
        np.testing.assert_array_equal(source[3:27], pixels[3:27])


NPY_CASES = [
    ((17, 11), ("V",)),
    ((17, 11, 1), ("V",)),
    ((17, 11, 2), ("C1", "C2")),
    ((17, 11, 3), ("C1", "C2", "C3")),
    ((17, 11, 3), ("R", "G", "B")),
]


@pytest.mark.parametrize(("shape", "bands"), NPY_CASES, ids=lambda c: str(c))
@pytest.mark.parametrize("dtype", [*IMAGE_DTYPES, np.float64], ids=lambda d: np.dtype(d).name)
def test_npy_sink_writes_what_encode_picture_writes(
    tmp_path: Path, dtype: Any, shape: tuple[int, ...], bands: tuple[str, ...]
) -> None:
    pixels = sample(shape, dtype)
    target = tmp_path / "out.npy"
    with regions.create_rows(str(target), shape, dtype, "NPY", bands) as sink:
        write_in_pieces(sink, pixels, [3, 1, 9])
    reference, _ = image_io.encode_picture(pixels, bands, "NPY")
    assert target.read_bytes() == bytes(reference)
    saved = io.BytesIO()
    np.save(saved, pixels[:, :, 0] if len(bands) == 1 and len(shape) == 3 else pixels)
    assert target.read_bytes() == saved.getvalue()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("shape", [(13, 7), (13, 7, 1), (13, 7, 3)], ids=str)
@pytest.mark.parametrize("dtype", [*IMAGE_DTYPES, np.float64, ">f8", ">u2"], ids=str)
def test_npy_source_gives_what_read_picture_gives(
    tmp_path: Path, dtype: Any, shape: tuple[int, ...]
) -> None:
    values = sample(shape, np.dtype(dtype).newbyteorder("="))
    path = tmp_path / "in.npy"
    np.save(path, values.astype(dtype))
    picture = image_io.read_picture(str(path))
    with regions.open_rows(str(path)) as source:
        assert source is not None
        assert source.numeric
        assert source.shape == shape
        assert source.dtype == np.dtype(dtype).newbyteorder("=")
        assert source.bands == picture.bands
        rows = source[2:11]
        assert rows.flags.c_contiguous
        assert rows.flags.writeable
        whole = source[:].astype(np.float64)
        np.testing.assert_array_equal(whole.reshape(picture.pixels.shape), picture.pixels)
        np.testing.assert_array_equal(rows, values[2:11])
        np.testing.assert_array_equal(source[-1], values[-1])


def test_fortran_order_npy_reads_right(tmp_path: Path) -> None:
    values = np.asfortranarray(sample((20, 6, 3), np.float32))
    path = tmp_path / "f.npy"
    np.save(path, values)
    with regions.open_rows(str(path)) as source:
        assert source is not None
        np.testing.assert_array_equal(source[4:9], values[4:9])


# --------------------------------------------------------------------------
# Reading row ranges of TIFF files made by tifffile


def tiff_layouts() -> list[Any]:
    cases = []
    for layout in ("strips", "tiles"):
        for compression in (None, "zlib", "lzma"):
            for order in ("<", ">"):
                cases.append(
                    pytest.param(layout, compression, order, id=f"{layout}-{compression}-{order}")
                )
    return cases


@pytest.mark.parametrize(("layout", "compression", "order"), tiff_layouts())
@pytest.mark.parametrize(
    ("dtype", "bands"),
    [
        (np.uint8, ("R", "G", "B")),
        (np.uint16, ("L", "A")),
        (np.float32, ("L",)),
        (np.uint8, ("R", "G", "B", "A")),
    ],
    ids=["rgb8", "la16", "f32", "rgba8"],
)
def test_row_ranges_of_tifffile_files(
    tmp_path: Path,
    layout: str,
    compression: str | None,
    order: str,
    dtype: Any,
    bands: tuple[str, ...],
) -> None:
    pixels = sample((53, 70, len(bands)), dtype, seed=3)
    path = tmp_path / "in.tif"
    options: dict[str, Any] = {"tile": (16, 32)} if layout == "tiles" else {"rowsperstrip": 5}
    if len(bands) in (2, 4):
        options["extrasamples"] = ["unassalpha"]
    tifffile.imwrite(
        path,
        pixels if len(bands) > 1 else pixels[:, :, 0],
        photometric="rgb" if bands[0] == "R" else "minisblack",
        compression=compression,
        byteorder=order,
        **options,
    )
    whole = tifffile.imread(path).reshape(pixels.shape)
    np.testing.assert_array_equal(whole, pixels)
    with regions.open_rows(str(path)) as source:
        assert source is not None
        assert source.bands == bands
        assert source.dtype == np.dtype(dtype)
        for start, stop in [
            (0, 1),
            (0, 53),
            (3, 17),
            (15, 16),
            (16, 33),
            (40, 53),
            (52, 53),
            (30, 30),
        ]:
            np.testing.assert_array_equal(source[start:stop], pixels[start:stop])
    if layout == "strips" and compression in (None, "zlib") and dtype == np.uint8:
        # Pillow reads these too: the whole-image path agrees.
        np.testing.assert_array_equal(image_io.read_picture(str(path)).pixels, pixels)


def test_predictor_and_pillow_written_files(tmp_path: Path) -> None:
    pixels = sample((40, 33, 3), np.uint16, seed=5)
    path = tmp_path / "pred.tif"
    tifffile.imwrite(
        path, pixels, photometric="rgb", compression="zlib", predictor=True, rowsperstrip=7
    )
    with regions.open_rows(str(path)) as source:
        assert source is not None
        np.testing.assert_array_equal(source[6:29], pixels[6:29])
    packbits = tmp_path / "packbits.tif"
    rgb = sample((31, 17, 3), np.uint8)
    Image.fromarray(rgb).save(packbits, compression="packbits")
    with regions.open_rows(str(packbits)) as source:
        assert source is not None
        np.testing.assert_array_equal(source[1:30], rgb[1:30])
    for dtype, bands in [
        (np.uint8, ("R", "G", "B", "A")),
        (np.float32, ("L",)),
        (np.uint16, ("L",)),
    ]:
        values = sample((25, 30, len(bands)), dtype)
        data, _ = image_io.encode_picture(values, bands, "TIFF")
        written = tmp_path / f"pillow-{np.dtype(dtype).name}.tif"
        written.write_bytes(data)
        with regions.open_rows(str(written)) as source:
            assert source is not None
            np.testing.assert_array_equal(source[2:24], values[2:24])


def test_files_not_read_by_rows(tmp_path: Path) -> None:
    rgb = sample((10, 12, 3), np.uint8)
    cases: dict[str, Any] = {}
    Image.fromarray(rgb).save(tmp_path / "a.png")
    cases["png"] = tmp_path / "a.png"
    Image.fromarray(rgb).save(tmp_path / "lzw.tif", compression="tiff_lzw")
    cases["planar"] = tmp_path / "planar.tif"
    tifffile.imwrite(cases["planar"], rgb, photometric="rgb", planarconfig="separate")
    cases["turned"] = tmp_path / "turned.tif"
    tifffile.imwrite(cases["turned"], rgb, photometric="rgb", extratags=[(274, 3, 1, 6, True)])
    cases["premultiplied"] = tmp_path / "assoc.tif"
    tifffile.imwrite(
        cases["premultiplied"],
        sample((10, 12, 4), np.uint8),
        photometric="rgb",
        extrasamples=["assocalpha"],
    )
    cases["int16"] = tmp_path / "i16.tif"
    tifffile.imwrite(cases["int16"], rgb[:, :, 0].astype(np.int16))
    cases["palette"] = tmp_path / "p.tif"
    Image.fromarray(rgb).convert("P").save(cases["palette"])
    cases["text"] = tmp_path / "m.txt"
    cases["text"].write_text("1 2\n3 4\n")
    for name, dtype, shape in [
        ("int32", np.int32, (4, 4)),
        ("bool", bool, (4, 4)),
        ("4d", np.uint8, (2, 2, 2, 2)),
    ]:
        cases[name] = tmp_path / f"{name}.npy"
        np.save(cases[name], np.zeros(shape, dtype))
    for name, path in cases.items():
        assert regions.open_rows(str(path)) is None, name
    assert regions.open_rows("-") is None
    lzw = regions.open_rows(str(tmp_path / "lzw.tif"))
    if lzw is not None:  # readable by rows only where imagecodecs is installed
        np.testing.assert_array_equal(lzw[:], rgb)
        lzw.close()


# --------------------------------------------------------------------------
# Memory: a band at a time, never the whole image

MEMORY_CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tifffile  # loaded before the baseline, as the driver would have it
    from imgconv import regions

    def peak():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise SystemExit("no VmHWM")

    mode, path, fmt, size, band = sys.argv[1:3] + [sys.argv[3]] + [int(a) for a in sys.argv[4:]]
    base = peak()
    rows = np.arange(size, dtype=np.uint16)[:, None]
    columns = np.arange(size, dtype=np.uint16)[None, :]
    pixels = np.empty((band, size, 3), np.uint8)
    total = 0
    if mode == "write":
        with regions.create_rows(path, (size, size, 3), np.uint8, fmt, ("R", "G", "B")) as sink:
            for top in range(0, size, band):
                r = rows[top : top + band]
                out = pixels[: len(r)]
                out[:, :, 0] = r + columns  # wraps modulo 256
                out[:, :, 1] = r * 3
                out[:, :, 2] = columns * 7
                sink[top : top + len(r)] = out
                total += int(out.sum(dtype=np.uint64))
    else:
        halo = 8
        with regions.open_rows(path) as source:
            assert source is not None and source.shape == (size, size, 3)
            for top in range(0, size, band):
                block = source[max(0, top - halo) : min(size, top + band + halo)]
                inner = block[top - max(0, top - halo) :][:band]
                total += int(inner.sum(dtype=np.uint64))
    print(total, peak() - base)
    """
)


def run_child(*args: str) -> tuple[int, int]:
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    total, rise = (int(n) for n in result.stdout.split())
    return total, rise


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("fmt", ["TIFF", "NPY"])
def test_memory_stays_near_a_band(tmp_path: Path, fmt: str) -> None:
    size, band = "6000", "256"
    decoded_bytes = 6000 * 6000 * 3  # 108 MB
    target = str(tmp_path / f"big.{fmt.lower()}")
    written, writing = run_child("write", target, fmt, size, band)
    read, reading = run_child("read", target, fmt, size, band)
    print(f"{fmt}: peak RSS rise writing {writing / 1e6:.1f} MB, reading {reading / 1e6:.1f} MB")
    assert read == written
    # A band of 256 rows is 4.6 MB: the rise is a few bands, not the image.
    assert writing < decoded_bytes / 5
    assert reading < decoded_bytes / 5
    assert os.path.getsize(target) >= decoded_bytes


# --------------------------------------------------------------------------
# Atomicity


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    for fmt, name in [("TIFF", "x.tif"), ("NPY", "x.npy")]:
        sink = regions.create_rows(str(tmp_path / name), (10, 4, 3), np.uint8, fmt, ("R", "G", "B"))
        sink[0:5] = sample((5, 4, 3), np.uint8)
        assert len(leftovers(tmp_path)) == 1
        sink.abort()
        sink.abort()  # twice is fine
        assert list(tmp_path.iterdir()) == []


def test_an_exception_keeps_the_old_target(tmp_path: Path) -> None:
    target = tmp_path / "keep.tif"
    target.write_bytes(b"old")

    def fail_midway() -> None:
        with regions.create_rows(str(target), (10, 4), np.uint8, "TIFF", ("L",)) as sink:
            sink[0:3] = sample((3, 4), np.uint8)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail_midway()
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_commit_replaces_and_keeps_mode(tmp_path: Path) -> None:
    target = tmp_path / "mode.npy"
    target.write_bytes(b"old")
    target.chmod(0o604)
    pixels = sample((6, 5), np.float32)
    with regions.create_rows(str(target), (6, 5), np.float32, "NPY", ("V",)) as sink:
        sink[0:6] = pixels
    assert oct(target.stat().st_mode & 0o777) == oct(0o604)
    np.testing.assert_array_equal(np.load(target), pixels)


def test_missing_rows_are_not_committed(tmp_path: Path) -> None:
    target = tmp_path / "short.tif"
    sink = regions.create_rows(str(target), (10, 4), np.uint8, "TIFF", ("L",))
    sink[0:4] = sample((4, 4), np.uint8)
    with pytest.raises(ValueError, match="only 4 of 10 rows"):
        sink.commit()
    assert list(tmp_path.iterdir()) == []


def test_rows_must_arrive_in_order(tmp_path: Path) -> None:
    with regions.create_rows(str(tmp_path / "o.npy"), (10, 4), np.uint8, "NPY", ("V",)) as sink:
        with pytest.raises(ValueError, match="in order"):
            sink[2:4] = sample((2, 4), np.uint8)
        sink[0:4] = sample((4, 4), np.uint8)
        with pytest.raises(ValueError, match="in order"):
            sink[0:4] = sample((4, 4), np.uint8)
        with pytest.raises(ValueError, match="float32"):
            sink[4:6] = sample((2, 4), np.float32)
        with pytest.raises(ValueError, match="shape"):
            sink[4:6] = sample((2, 5), np.uint8)
        sink.abort()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["TIFF", "NPY"])
def test_disk_full_raises_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    target = tmp_path / f"full.{fmt.lower()}"

    def full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if fmt == "TIFF":
        sink = regions.create_rows(str(target), (10, 4, 3), np.uint8, fmt, ("R", "G", "B"))
        monkeypatch.setattr(os, "write", full)
        with pytest.raises(
            ImageWriteError, match=r"cannot write '.*full.tiff?': no space left on device"
        ):
            sink[0:10] = sample((10, 4, 3), np.uint8)  # removes its file, even outside a with
    else:
        monkeypatch.setattr(os, "posix_fallocate", full)
        with pytest.raises(
            ImageWriteError, match=r"cannot write '.*full.npy': no space left on device"
        ):
            regions.create_rows(str(target), (10, 4, 3), np.uint8, fmt, ("R", "G", "B"))
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------
# Errors


def test_write_errors_name_the_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere" / "x.tif"
    with pytest.raises(
        ImageWriteError, match=r"cannot write '.*x.tif': directory '.*nowhere' does not exist"
    ):
        regions.create_rows(str(missing), (4, 4), np.uint8, "TIFF", ("L",))
    with pytest.raises(ImageWriteError, match="it is a directory"):
        regions.create_rows(str(tmp_path), (4, 4), np.uint8, "NPY", ("V",))

    def denied(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", denied)
    with pytest.raises(ImageWriteError, match=r"cannot write '.*y.npy': permission denied"):
        regions.create_rows(str(tmp_path / "y.npy"), (4, 4), np.uint8, "NPY", ("V",))


def test_bad_requests_are_value_errors(tmp_path: Path) -> None:
    target = str(tmp_path / "x.tif")
    with pytest.raises(ValueError, match="bands"):
        regions.create_rows(target, (4, 4, 3), np.uint8, "TIFF", ("L",))
    with pytest.raises(ValueError, match="float64"):
        regions.create_rows(target, (4, 4), np.float64, "TIFF", ("L",))
    with pytest.raises(ValueError, match="PNG"):
        regions.create_rows(target, (4, 4), np.uint8, "PNG", ("L",))
    assert list(tmp_path.iterdir()) == []


def test_corrupt_tiff_strips_raise_one_line(tmp_path: Path) -> None:
    pixels = sample((40, 30, 3), np.uint8)
    path = tmp_path / "bad.tif"
    tifffile.imwrite(path, pixels, photometric="rgb", compression="zlib", rowsperstrip=8)
    with tifffile.TiffFile(path) as tiff:
        offset = tiff.pages.first.dataoffsets[2]
    data = bytearray(path.read_bytes())
    data[offset : offset + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))
    with regions.open_rows(str(path)) as source:
        assert source is not None
        np.testing.assert_array_equal(source[0:16], pixels[:16])  # strips 0 and 1 are sound
        with pytest.raises(
            ImageReadError, match=r"'.*bad.tif' is truncated or corrupt: strip 2"
        ) as caught:
            source[10:20]
    assert "\n" not in str(caught.value)


def test_damaged_headers_and_cut_files_are_left_to_the_whole_file_reader(tmp_path: Path) -> None:
    pixels = sample((40, 30, 3), np.uint8)
    path = tmp_path / "cut.tif"
    # tifffile writes the directory before the strips: a cut keeps it.
    tifffile.imwrite(path, pixels, photometric="rgb", rowsperstrip=4)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    npy = tmp_path / "cut.npy"
    np.save(npy, sample((50, 40), np.float32))
    npy.write_bytes(npy.read_bytes()[:-100])
    header = tmp_path / "header.npy"
    header.write_bytes(b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'sh")
    unfinished = tmp_path / "unfinished.npy"
    unfinished.write_bytes(b"\x93NUMPY\x01\x00\x08\x00{'a': (\n")
    for cut in (path, npy, header, unfinished):
        assert regions.open_rows(str(cut)) is None
        with pytest.raises(ImageReadError):
            image_io.read_picture(str(cut))


def test_missing_files_are_named_as_read_picture_names_them(tmp_path: Path) -> None:
    for name in ("nothing.tif", "nothing.npy"):
        with pytest.raises(ImageReadError) as ours:
            regions.open_rows(str(tmp_path / name))
        with pytest.raises(ImageReadError) as theirs:
            image_io.read_picture(str(tmp_path / name))
        assert str(ours.value) == str(theirs.value)


def test_a_file_cut_while_open_raises_one_line(tmp_path: Path) -> None:
    pixels = sample((40, 30, 3), np.uint8)
    path = tmp_path / "shrinking.tif"
    tifffile.imwrite(path, pixels, photometric="rgb", rowsperstrip=4)
    with regions.open_rows(str(path)) as source:
        assert source is not None
        os.truncate(path, path.stat().st_size - 30 * 3 * 2)  # half of the last strip
        np.testing.assert_array_equal(source[0:20], pixels[:20])
        with pytest.raises(
            ImageReadError, match=r"'.*shrinking.tif' is truncated or corrupt: strip 9 ends early"
        ):
            source[30:40]


def test_pages_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "pages.tif"
    with tifffile.TiffWriter(path) as writer:
        for seed in range(3):
            writer.write(sample((8, 6), np.uint8, seed))
    with regions.open_rows(str(path)) as source:
        assert source is not None
        assert source.pages == 3
        np.testing.assert_array_equal(source[0:8][:, :, 0], sample((8, 6), np.uint8, 0))


def test_non_finite_npy_rows_raise(tmp_path: Path) -> None:
    values = np.zeros((10, 4))
    values[7, 2] = np.nan
    path = tmp_path / "nan.npy"
    np.save(path, values)
    with regions.open_rows(str(path)) as source:
        assert source is not None
        np.testing.assert_array_equal(source[0:5], values[:5])
        with pytest.raises(ImageReadError, match="NaN or infinite"):
            source[5:10]
