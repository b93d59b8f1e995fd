"""Fuzz ``imgconv apply`` with damaged images, random kernel text and odd option values.

The command line promises (see ``imgconv/cli.py``) that whatever it is given
it exits 0, 1 or 2, and that a failure is exactly one ``Error:`` line on
stderr: never a traceback nor an "internal error". Outputs are written
atomically, so a failure leaves the output's directory as it was (no partial
output, no temporary file). :func:`run_case` checks all that, and also that
nothing else reaches stderr: no Python warning (pytest's
``filterwarnings = ["error"]`` would make it an exception; a user sees it
printed) and nothing a C library writes to the descriptor itself.

A case is a small directory (an input file, maybe a kernel file, an ``out``
directory), the arguments of ``imgconv apply`` and what standard input holds.
:func:`cases` draws one: a seed image made here in memory (PNG 8 and 16 bits,
JPEG, GIF, TIFF 8, 16 and float bits, WebP, BMP, PPM, ``.npy``, text grids),
mutated (truncated, bytes flipped, runs inserted or deleted, two seeds
spliced, header sizes rewritten, garbage), under a suffix that may lie about
it; a kernel from a grammar (grids, ImageMagick strings, JSON, built-in names
with bad parameters) or arbitrary text, inline, in a file or on stdin; and
valid and invalid option values. Most cases break one of these and keep the
others valid, so that what comes after the broken part is reached too.
:func:`check_case` raises :class:`InvariantError` when a promise is broken.

``tests/test_fuzz.py`` runs a couple of thousand cases in the test suite.
Run as a script, this module runs as many as asked, keeps going after a
failure, groups the failures by cause, saves a few of each (the first one
shrunk) with a ``command.sh`` that reproduces it, and prints a summary::

    python tests/fuzz_cli.py --cases 5000 --seed 1
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import struct
import sys
import tempfile
import time
import warnings
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, AnyStr

import numpy as np
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from PIL import Image

from imgconv.cli import cli
from imgconv.image_io import encode_picture

#: Where the script saves failing cases unless told otherwise.
DEFAULT_FAILURES = Path(tempfile.gettempdir()) / "imgconv-fuzz-failures"

#: Health checks that do not apply: cases are slow-ish (they run the command
#: line) and draw a lot of data (image bytes) on purpose.
SUPPRESSED = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.filter_too_much,
    HealthCheck.large_base_example,
]

# --------------------------------------------------------------------------
# Seed images

_FIXTURES = Path(__file__).resolve().parent / "data"
#: Fixtures worth mutating too: the layouts :mod:`imgconv.deep` decodes itself.
_FIXTURE_SEEDS = tuple(
    "la16.png rgb16_interlaced.png rgb16_planar.tif rgb16_predictor.tif "
    "rgb16_orient6.tif rgba16_associated.tif rgbf32_predictor.tif rgbf32_msb.tif "
    "rgbf32_deflate.tif la16_zip.tif".split()
)


@dataclass(frozen=True)
class Seed:
    """A valid input file to mutate: its bytes and the suffix that names its format."""

    data: bytes
    suffix: str


def _saved(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _npy(array: np.ndarray[Any, Any], *, allow_pickle: bool = False) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=allow_pickle)
    return out.getvalue()


@functools.cache
def seed_images() -> dict[str, Seed]:
    """Small valid inputs of every kind imgconv reads, made once per process.

    Returns
    -------
    dict of str to Seed
        Keyed by a short name (``png-rgb``, ``tiff-f32-rgb``...). Images are
        at most 19 x 29 pixels so that every case stays fast.
    """
    rng = np.random.default_rng(20240601)
    h, w = 12, 16
    grey = rng.integers(0, 256, (h, w), dtype=np.uint8)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    alpha = rng.choice(np.array([0, 128, 255], dtype=np.uint8), (h, w, 1))
    rgba = np.concatenate([rgb, alpha], axis=-1)
    wide = rng.integers(0, 65536, (h, w, 4), dtype=np.uint16)
    floats = rng.uniform(-0.5, 1.5, (h, w, 3)).astype(np.float32)

    grey_image = Image.fromarray(grey)
    rgb_image = Image.fromarray(rgb)
    rgba_image = Image.fromarray(rgba)
    palette = rgb_image.quantize(colors=16)
    frames = [Image.fromarray(np.roll(rgb, k, axis=1)).quantize(colors=8) for k in range(3)]
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: exercises turning the picture upright

    made = {
        "png-l": Seed(_saved(grey_image, "PNG"), ".png"),
        "png-rgb": Seed(_saved(rgb_image, "PNG"), ".png"),
        "png-rgba": Seed(_saved(rgba_image, "PNG"), ".png"),
        "png-la": Seed(_saved(rgba_image.convert("LA"), "PNG"), ".png"),
        "png-1bit": Seed(_saved(grey_image.convert("1"), "PNG"), ".png"),
        "png-palette": Seed(_saved(palette, "PNG", transparency=0), ".png"),
        "png16-l": Seed(encode_picture(wide[:, :, :1], ("L",), "PNG")[0], ".png"),
        "png16-rgb": Seed(encode_picture(wide[:, :, :3], ("R", "G", "B"), "PNG")[0], ".png"),
        "png16-rgba": Seed(encode_picture(wide, ("R", "G", "B", "A"), "PNG")[0], ".png"),
        "jpeg-rgb": Seed(_saved(rgb_image, "JPEG", quality=90), ".jpg"),
        "jpeg-l": Seed(_saved(grey_image, "JPEG"), ".jpeg"),
        "jpeg-cmyk": Seed(_saved(rgb_image.convert("CMYK"), "JPEG"), ".jpg"),
        "jpeg-exif6": Seed(_saved(rgb_image, "JPEG", exif=exif), ".jpg"),
        "gif": Seed(_saved(palette, "GIF"), ".gif"),
        "gif-animated": Seed(
            _saved(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=40),
            ".gif",
        ),
        "tiff-rgb": Seed(_saved(rgb_image, "TIFF"), ".tif"),
        "tiff-rgba-lzw": Seed(_saved(rgba_image, "TIFF", compression="tiff_lzw"), ".tiff"),
        "tiff16-l": Seed(encode_picture(wide[:, :, :1], ("L",), "TIFF")[0], ".tif"),
        "tiff16-rgb": Seed(encode_picture(wide[:, :, :3], ("R", "G", "B"), "TIFF")[0], ".tif"),
        "tiff-f32-l": Seed(encode_picture(floats[:, :, :1], ("L",), "TIFF")[0], ".tif"),
        "tiff-f32-rgb": Seed(encode_picture(floats, ("R", "G", "B"), "TIFF")[0], ".tiff"),
        "webp-rgb": Seed(_saved(rgb_image, "WEBP", lossless=True), ".webp"),
        "webp-rgba": Seed(_saved(rgba_image, "WEBP", quality=80), ".webp"),
        "bmp": Seed(_saved(rgb_image, "BMP"), ".bmp"),
        "ppm": Seed(_saved(rgb_image, "PPM"), ".ppm"),
        "pgm": Seed(_saved(grey_image, "PPM"), ".pgm"),
        "npy-2d": Seed(_npy(rng.normal(size=(5, 7))), ".npy"),
        "npy-3d": Seed(_npy(rgb[:6, :5]), ".npy"),
        "npy-int16": Seed(_npy(rng.integers(-300, 300, (4, 4)).astype(np.int16)), ".npy"),
        "txt": Seed(b"1 2 3 0\n4 5 6 1\n7 8 9 2\n", ".txt"),
        "txt-blocks": Seed(b"# C1\n1 2\n3 4\n\n# C2\n5 6\n7 8\n", ".txt"),
        "csv": Seed(b"0.5,1,-2\n3,4e2,5\n", ".csv"),
    }
    for name in _FIXTURE_SEEDS:
        path = _FIXTURES / name
        if path.is_file():  # the fixtures are a bonus; the generated seeds suffice
            made["fixture-" + path.stem] = Seed(path.read_bytes(), path.suffix)
    return made


# --------------------------------------------------------------------------
# Mutating input bytes


#: Image sizes written into headers: tiny, odd, and far past Pillow's limit.
_SIZES = (0, 1, 2, 3, 255, 256, 4097, 65535, 100_000, 2**31 - 1, 2**32 - 1)


def _png_with_size(data: bytes, width: int, height: int) -> bytes:
    """A PNG whose IHDR says another size, with a valid CRC (so Pillow believes it)."""
    if len(data) < 33 or data[12:16] != b"IHDR":
        return data
    body = bytearray(data[12:29])
    body[4:12] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    crc = zlib.crc32(bytes(body)).to_bytes(4, "big")
    return data[:12] + bytes(body) + crc + data[33:]


def _with_size(data: bytes, width: int, height: int) -> bytes:
    """``data`` with the image size in its header replaced, where the format is known."""
    if data.startswith(b"\x89PNG"):
        return _png_with_size(data, width, height)
    if data.startswith(b"BM") and len(data) > 26:  # BITMAPINFOHEADER: int32 width, height
        size = (width % 2**31).to_bytes(4, "little") + (height % 2**31).to_bytes(4, "little")
        return data[:18] + size + data[26:]
    if data.startswith(b"GIF") and len(data) > 10:  # logical screen: uint16 width, height
        size = (width % 2**16).to_bytes(2, "little") + (height % 2**16).to_bytes(2, "little")
        return data[:6] + size + data[10:]
    if data[:2] in (b"P5", b"P6"):
        return re.sub(rb"\A(P[56]\s+)\d+\s+\d+", b"\\g<1>%d %d" % (width, height), data)
    if data.startswith(b"\x93NUMPY"):
        return re.sub(rb"'shape': \([^)]*\)", b"'shape': (%d, %d)" % (height, width), data)
    if data.startswith(b"\xff\xd8"):  # JPEG: the first start-of-frame marker
        frame = re.search(rb"\xff[\xc0-\xc2]", data)
        if frame is None or len(data) < frame.start() + 9:
            return data
        size = (height % 2**16).to_bytes(2, "big") + (width % 2**16).to_bytes(2, "big")
        return data[: frame.start() + 5] + size + data[frame.start() + 9 :]
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff_with_size(data, width, height)
    return data


def _tiff_with_size(data: bytes, width: int, height: int) -> bytes:
    """A TIFF whose first IFD says another ImageWidth and ImageLength."""
    order = "<" if data[:2] == b"II" else ">"
    buffer = bytearray(data)
    try:
        (ifd,) = struct.unpack_from(order + "I", data, 4)
        (count,) = struct.unpack_from(order + "H", data, ifd)
        for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
            tag, kind = struct.unpack_from(order + "HH", data, entry)
            if tag in (256, 257) and kind in (3, 4):  # SHORT or LONG
                value = width if tag == 256 else height
                bits = 16 if kind == 3 else 32
                struct.pack_into(
                    order + ("H" if kind == 3 else "I"), buffer, entry + 8, value % 2**bits
                )
    except struct.error:  # a truncated or spliced seed: leave it as it is
        return data
    return bytes(buffer)


def _mutated(draw: st.DrawFn, mutation: str, data: bytes, seeds: dict[str, Seed]) -> bytes:
    """Apply one mutation to a seed's bytes."""
    size = len(data)
    if mutation == "truncate":
        return data[: draw(st.integers(0, max(size - 1, 0)))]
    if mutation in ("flip", "flip-header"):
        # Headers hold sizes, offsets and counts: the fields decoders trust.
        last = min(size, 64) - 1 if mutation == "flip-header" else size - 1
        buffer = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            where = draw(st.integers(0, last))
            buffer[where] ^= draw(st.integers(1, 255))
        return bytes(buffer)
    if mutation == "insert":
        where = draw(st.integers(0, size))
        run = draw(
            st.one_of(
                st.binary(min_size=1, max_size=64),
                st.builds(
                    bytes.__mul__, st.sampled_from([b"\x00", b"\xff", b"9"]), st.integers(1, 300)
                ),
            )
        )
        return data[:where] + run + data[where:]
    if mutation == "delete":
        start = draw(st.integers(0, max(size - 1, 0)))
        length = draw(st.integers(1, 64))
        return data[:start] + data[start + length :]
    if mutation == "splice":
        other = seeds[draw(st.sampled_from(sorted(seeds)))].data
        cut = draw(st.integers(0, size))
        return data[:cut] + other[draw(st.integers(0, len(other))) :]
    if mutation == "header-size":
        sizes = st.sampled_from(_SIZES)
        return _with_size(data, draw(sizes), draw(sizes))
    if mutation == "empty":
        return b""
    if mutation == "garbage":
        return draw(
            st.one_of(
                st.binary(max_size=256),
                st.sampled_from([b"\x89PNG\r\n\x1a\n", b"GIF89a", b"II*\x00", b"\x93NUMPY"]).map(
                    lambda magic: magic + b"\x00" * 40
                ),
            )
        )
    return data


# --------------------------------------------------------------------------
# Kernel text

_ODD_NUMBERS = (
    *"0 1/9 1/16 -0 +.5 -2.5e-3 1e308 -1e308 1e400 -1e-400 nan NaN inf -inf Infinity".split(),
    *"1/0 0/0 1//2 0x10 1_000 . - + e5 1e '1' \"2\" x".split(),
    "\u0661\u0662",  # Arabic-Indic digits: int() and float() take them
    "\u22121",  # a Unicode minus sign
    "9" * 400,
    "1" + "0" * 5000,  # longer than Python's int-from-string limit
)

_BUILTINS = tuple(
    "identity box gaussian binomial disk diamond motion sharpen unsharp laplacian "
    "log dog sobel sobel-x prewitt scharr roberts freichen kirsch compass emboss "
    "pillow-blur SOBEL-Y".split()
)

#: Parameters: valid, out of range, malformed. Valid sizes stay small so that
#: cases stay fast; too large ones are refused before any work.
_PARAMETERS = (
    *"0 -1 1 2 3 4 5 8 1.5 0.3 1,3 2,0 1,2,3 3, , 1,,2 45 -45 360 @ > n ne x diagonal".split(),
    *"nan inf -inf 1e308 1e-308 1026 100000 99999999999999999999 3:3".split(),
    "",
    " 3",
    "1" + "0" * 5000,
)

_KEYWORD_LINES = (
    "scale 0",
    "scale 2",
    "scale: nan",
    "factor 1e308",
    "factor 1/0",
    "bias 1e400",
    "bias = -3",
    "offset",
    "anchor 9,9",
    "anchor -1,-1",
    "anchor 0,0",
    "anchor 1",
    "scale 2\nscale 3",
    "1/16",
    "# a comment",
    "---",
)

_JSON_FRAGMENTS = (
    "[[1,2],[3,4]]",
    "[[1,2],[3]]",
    "[]",
    "[[]]",
    "[[],[]]",
    "{}",
    '{"weights": [[1]], "weights": [[2]]}',
    '{"weights": [[0,1],[1,0]], "anchor": [5, 5]}',
    '{"weights": [[1,1],[1,1]], "absent": [[0, 0], [9, 9]]}',
    '{"weights": [[1,0],[0,1]], "absent": [[0, 0]]}',
    '{"kernels": [[[1]], [[1, 2]]], "combine": "magnitude"}',
    '{"kernels": [], "combine": "chain"}',
    '{"weights": [[[1]]], "bias": [1, 2]}',
    "[[1e999]]",
    "[[-1e999, 1]]",
    "[[NaN]]",
    "[[Infinity, 1]]",
    "[[1,2],[3,4]",
    "[[[1]]]",
    "[[[[1]]]]",
    "[[[[[1]]]]]",
    "[[true, false]]",
    '[["1"]]',
    "[[1]]garbage",
    '"text"',
    "1",
    "null",
    "[[" + "9" * 400 + "]]",
    "[" * 3000 + "]" * 3000,  # deeper than Python's recursion limit
    '{"weights": ' * 600 + "[[1]]" + "}" * 600,
)


def _numbers() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(-9, 9).map(str),
        st.sampled_from(_ODD_NUMBERS),
        st.floats(width=64).map(repr),
    )


@st.composite
def grid_kernels(draw: st.DrawFn) -> str:
    """Rows of numbers: imgconv's grid, often ragged or broken, maybe with keyword lines."""
    separator = draw(st.sampled_from([",", " ", ", ", "\t", ",,", " ,", "  "]))
    width = draw(st.integers(0, 5))
    ragged = draw(st.integers(0, 3)) == 0
    rows = []
    for _ in range(draw(st.integers(0, 5))):
        count = draw(st.integers(0, 6)) if ragged else width
        rows.append(separator.join(draw(st.lists(_numbers(), min_size=count, max_size=count))))
    joiner = draw(st.sampled_from([";", "\n", "; ", ";;", "\n\n", "\r\n", "\n---\n"]))
    lines = [joiner.join(rows)]
    for _ in range(draw(st.integers(0, 2))):
        line = draw(st.sampled_from(_KEYWORD_LINES))
        lines.insert(draw(st.integers(0, len(lines))), line)
    return "\n".join(lines)


@st.composite
def imagemagick_kernels(draw: st.DrawFn) -> str:
    """``WxH[+X+Y]:`` strings: sizes that match the values, and ones that do not."""
    sizes = st.one_of(st.integers(0, 5), st.sampled_from([-1, 99_999, 10**12]))
    width, height = draw(sizes), draw(sizes)
    header = draw(
        st.sampled_from(["{w}x{h}:", "{w}:", "{w}x{h}+{x}+{y}:", "{w}X{h}:", "{w}x{h}+{x}:"])
    )
    origin = st.integers(-1, 6)
    text = header.format(w=width, h=height, x=draw(origin), y=draw(origin))
    if 0 < width <= 5 and 0 < height <= 5 and draw(st.booleans()):
        count = width * height if header.startswith("{w}x") else width * width
    else:
        count = draw(st.integers(0, 12))
    values = st.one_of(_numbers(), st.sampled_from(["-", "nan"]))
    separator = draw(st.sampled_from([",", " ", ", ", "\n"]))
    text += " " + separator.join(draw(st.lists(values, min_size=count, max_size=count)))
    if draw(st.integers(0, 4)) == 0:  # a set: kernels separated by ';'
        text += "; " + draw(imagemagick_kernels())
    return text


@st.composite
def builtin_kernels(draw: st.DrawFn) -> str:
    """A built-in name, perhaps with a parameter it does not take."""
    name = draw(st.sampled_from(_BUILTINS))
    form = draw(st.sampled_from(["{n}", "{n}:{p}", "{n}:{p}", "{n}:{p}", "{n}:", "{n}:{p}:{p}"]))
    return form.format(n=name, p=draw(st.sampled_from(_PARAMETERS)))


def _json_leaves() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(-3, 3),
        st.floats(),
        st.none(),
        st.booleans(),
        st.text(max_size=4),
        st.sampled_from([10**400, -(2**64), 1e308]),
    )


def _json_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.sampled_from(["weights", "kernels", "bias", "x"])
    return st.one_of(st.lists(children, max_size=3), st.dictionaries(keys, children, max_size=3))


@st.composite
def json_kernels(draw: st.DrawFn) -> str:
    """JSON kernels: matrices, kernel and set objects, deep lists, fragments, cut short."""
    leaf = _json_leaves()
    number = st.one_of(st.integers(-3, 3), st.floats(), st.sampled_from([10**400]))
    matrix = st.lists(st.lists(number, max_size=4), max_size=4)
    kernel = st.fixed_dictionaries(
        {"weights": matrix},
        optional={
            "scale": leaf,
            "factor": leaf,
            "bias": leaf,
            "offset": leaf,
            "anchor": st.lists(leaf, max_size=3),
            "absent": st.lists(st.lists(leaf, max_size=3), max_size=3),
            "name": leaf,
        },
    )
    combine = st.one_of(st.sampled_from(["magnitude", "max", "chain", "stack", "bogus"]), leaf)
    kernel_set = st.fixed_dictionaries(
        {"kernels": st.lists(st.one_of(kernel, matrix), max_size=3)},
        optional={"combine": combine, "bias": leaf, "name": leaf},
    )
    deep = st.lists(st.lists(st.lists(number, max_size=3), max_size=3), max_size=3)
    free = st.recursive(leaf, _json_containers, max_leaves=12)
    value = draw(st.one_of(matrix, kernel, kernel_set, deep, st.lists(deep, max_size=2), free))
    text = json.dumps(value)
    if draw(st.integers(0, 4)) == 0:
        text = draw(st.sampled_from(_JSON_FRAGMENTS))
    if draw(st.integers(0, 5)) == 0:  # cut short
        text = text[: draw(st.integers(0, len(text)))]
    return text


def _free_text() -> st.SearchStrategy[str]:
    # An argument cannot hold a NUL byte or an unpaired surrogate: no shell can pass one.
    characters = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
    return st.text(characters, max_size=30)


def kernel_texts(kind: str) -> st.SearchStrategy[str]:
    """Kernel text of one kind (see :data:`KERNEL_KINDS`).

    Parameters
    ----------
    kind : str
        ``good`` (one of :data:`GOOD_KERNELS`), ``grid``, ``imagemagick``,
        ``builtin``, ``json`` or ``text`` (arbitrary text).

    Returns
    -------
    SearchStrategy of str
    """
    strategies: dict[str, st.SearchStrategy[str]] = {
        "grid": grid_kernels(),
        "imagemagick": imagemagick_kernels(),
        "builtin": builtin_kernels(),
        "json": json_kernels(),
        "text": _free_text(),
        "good": st.sampled_from(GOOD_KERNELS),
    }
    return strategies[kind]


@st.composite
def npy_kernels(draw: st.DrawFn) -> bytes:
    """A ``.npy`` kernel of any rank and dtype (pickled objects too), small."""
    shape = tuple(draw(st.lists(st.integers(0, 3), max_size=5)))
    count = int(np.prod(shape))
    dtype = draw(st.sampled_from(["<f8", ">f4", "<i2", "|u1", "|b1", "<c8", "<U2", "O", "<m8"]))
    array: np.ndarray[Any, Any]
    if dtype in ("<f8", ">f4", "<c8"):
        values = draw(st.lists(st.floats(width=32), min_size=count, max_size=count))
        array = np.array(values, dtype=dtype)
    elif dtype in ("<U2", "O"):
        array = np.array(draw(st.lists(st.text(max_size=2), min_size=count, max_size=count)))
        array = array.astype(dtype)
    else:
        values = draw(st.lists(st.integers(0, 100), min_size=count, max_size=count))
        array = np.array(values).astype(dtype)
    return _npy(array.reshape(shape), allow_pickle=True)


# --------------------------------------------------------------------------
# Options


def _weighted(weights: dict[str, int]) -> st.SearchStrategy[str]:
    """Draw a key of ``weights`` with probability proportional to its weight."""
    return st.sampled_from([key for key, weight in weights.items() for _ in range(weight)])


#: Option values that are valid (at least for some kernels and images) ...
VALID_OPTIONS: dict[str, tuple[str, ...]] = {
    "--stride": ("1", "2", "3", "1,2", "2,1"),
    "--padding": ("same", "valid", "full", "0", "1", "2", "7", "1,2", "0,1,2,3"),
    "--border": tuple(
        "edge zero reflect reflect101 wrap mirror tile constant constant:0 constant:128 "
        "constant:-5 constant:1e308".split()
    ),
    "--dilation": ("1", "2", "1,3"),
    "--anchor": ("0,0", "1,1", "2,0", "0,2"),
    "--map": ("clip", "abs", "shift", "normalize", "raw"),
    "--depth": ("8", "16", "float"),
    "--format": tuple("png jpeg jpg tiff tif webp gif bmp ppm npy txt csv ico pdf PNG".split()),
    "--alpha": ("weighted", "filter", "plain", "keep"),
    "--channels": ("each", "luma", "gray", "r", "r,g", "a", "b,a", "l"),
    "--scale": ("2", "9", "-1", "1e-308", "1e308"),
    "--bias": ("0", "128", "-1e308", "1e308"),
    "--combine": ("magnitude", "max", "min", "sum", "stack", "chain"),
    "--flip": (),
    "--normalize": (),
    "--verbose": (),
}

#: ... and values that are wrong in every way that comes to mind. Huge
#: paddings and dilations are huge enough to fail at once (MemoryError or the
#: geometry checks): middling ones (5000) would merely be slow.
INVALID_OPTIONS: dict[str, tuple[str, ...]] = {
    "--stride": ("0", "-1", "1,2,3", "", "x", "1.5", "9" * 23),
    "--padding": (
        "-1",
        "1,2,3",
        "x",
        "",
        "1e3",
        "1000000",
        "1" + "0" * 24,
        "0," + "9" * 23,
        "1" + "0" * 5000,
    ),
    "--border": ("constant:nan", "constant:inf", "constant:", "bogus", ""),
    "--dilation": ("0", "-2", "a", "1000000", "9" * 23),
    "--anchor": ("9,9", "-1,0", "0", "a,b", "1,2,3", "9" * 23 + ",0"),
    "--map": ("bogus", ""),
    "--depth": ("32", ""),
    "--format": ("bogus", "", ".png", "jpeg2000", "eps"),
    "--alpha": ("bogus",),
    "--channels": ("c1", "r,r", "x", "", "r,,g"),
    "--scale": ("0", "nan", "inf", "x"),
    "--bias": ("nan", "-inf", "x"),
    "--combine": ("bogus",),
}

#: Kernels that work on any image (a set such as ``sobel`` brings its own
#: combine rule; the two kernels at the end of the matrices need ``--combine``).
GOOD_NAMES = tuple(
    "identity box:3 box:2 gaussian:1.5 gaussian:0.5,5 sobel-x sobel kirsch:@ sharpen emboss "
    "laplacian unsharp motion:5,45 disk:2".split()
)
#: Kernels as data: these can be given in a file or on standard input too.
GOOD_MATRICES = (
    "1,2,1;2,4,2;1,2,1",
    "3x3: 0 -1 0 -1 5 -1 0 -1 0",
    "[[1,2],[3,4]]",
    "-1,0,1",
    "1;0;-1",
    "0.5",
    "1/9 1/9 1/9; 1/9 1/9 1/9; 1/9 1/9 1/9",
    '{"weights": [[0,1],[1,0]], "anchor": [0, 0]}',
    "1 2\n3 4\n---\n4 3\n2 1",
)
GOOD_KERNELS = GOOD_NAMES + GOOD_MATRICES

_OUTPUT_SUFFIXES = {
    **dict.fromkeys([".png", ".tif", ".npy"], 3),
    **dict.fromkeys([".jpg", ".webp", ".txt"], 2),
    **dict.fromkeys([".tiff", ".gif", ".bmp", ".ppm", ".csv", ".pdf", ".PNG", "", ".xyz"], 1),
}
OUTPUT_KINDS = {"file": 6, "stdout": 2, "missing-dir": 1, "directory": 1, "over-input": 1}
_INPUT_SUFFIXES = {"natural": 6, "other": 1, "none": 1, "upper": 1, "matrix": 1}
KERNEL_KINDS = {"good": 4, "builtin": 2, "grid": 2, "imagemagick": 1, "json": 1, "text": 1}
KERNEL_ROUTES = {"inline": 6, "file": 2, "stdin": 1, "input-file": 1, "missing-file": 1}
MUTATIONS = {
    **dict.fromkeys(["truncate", "flip", "flip-header", "header-size"], 2),
    **dict.fromkeys(["intact", "insert", "delete", "splice", "empty", "garbage"], 1),
}
_KERNEL_FILE_SUFFIXES = (".txt", ".json", ".mat", ".npy", "", ".csv")


# --------------------------------------------------------------------------
# Cases


@dataclass(frozen=True)
class Case:
    """One run of ``imgconv apply``.

    Attributes
    ----------
    files : dict of str to bytes
        Files to create (relative paths) before the run.
    options : tuple of tuple of str
        Each option with its value, if it takes one.
    positionals : tuple of str
        KERNEL, INPUT and OUTPUT.
    separator : bool
        Whether ``--`` comes before the positionals (so a kernel starting
        with ``-`` is not read as an option).
    stdin : bytes or None
        Standard input.
    labels : dict of str to str
        What was drawn, for the script's counts (image, mutation, ...).
    """

    files: dict[str, bytes]
    options: tuple[tuple[str, ...], ...]
    positionals: tuple[str, str, str]
    separator: bool = False
    stdin: bytes | None = None
    labels: dict[str, str] = field(default_factory=dict, compare=False)

    #: Directories every case has: where outputs go.
    dirs = ("out",)

    @property
    def args(self) -> list[str]:
        """The arguments after the program name."""
        flat = [part for option in self.options for part in option]
        return ["apply", *flat, *(["--"] if self.separator else []), *self.positionals]

    @property
    def output(self) -> str:
        """The OUTPUT argument."""
        return self.positionals[2]

    def command(self) -> str:
        """A shell command that reproduces the case, run in its directory."""
        line = shlex.join(["imgconv", *self.args])
        return line + (" < stdin.bin" if self.stdin is not None else "")

    def digest(self) -> str:
        """A hash of everything the run sees: equal cases have equal digests."""
        texts = [*self.args, *sorted(self.files)]
        parts = [t.encode("utf-8", "surrogatepass") for t in texts]
        parts += [*self.files.values(), self.stdin or b""]
        hashed = hashlib.sha256()
        for part in parts:
            hashed.update(len(part).to_bytes(8, "big") + part)
        return hashed.hexdigest()

    def __repr__(self) -> str:
        files = ", ".join(f"{name} ({len(data)} bytes)" for name, data in self.files.items())
        return f"Case({self.command()!r}; files: {files or 'none'})"


_INVALID_PAIRS = {(value,) for values in INVALID_OPTIONS.values() for value in values}


def _option(draw: st.DrawFn, name: str, *, wild: bool = False) -> tuple[str, ...]:
    """An option with a value: if ``wild``, an invalid one two times in three."""
    if not VALID_OPTIONS[name]:
        return (name,)
    if wild and draw(st.integers(0, 2)) > 0:
        return (name, draw(st.sampled_from(INVALID_OPTIONS[name])))
    return (name, draw(st.sampled_from(VALID_OPTIONS[name])))


#: What a case breaks. Most break one thing, so that what follows it is
#: reached: a damaged image read with a good kernel, good options and a good
#: output; a bad kernel on an intact image; and so on. "all" breaks any of them.
FOCUSES = {"image": 4, "kernel": 3, "options": 3, "output": 1, "all": 2}
_PLAIN_OUTPUTS = {"file": 4, "stdout": 1, "over-input": 1}
_PLAIN_SUFFIXES = {".png": 3, ".tif": 2, ".npy": 2, ".txt": 1, ".webp": 1, ".jpg": 1}


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A whole case: input bytes, kernel, options and output (see the module docstring)."""
    seeds = seed_images()
    focus = draw(_weighted(FOCUSES))
    labels: dict[str, str] = {"focus": focus}
    files: dict[str, bytes] = {}
    stdin: bytes | None = None

    # The input image.
    image = draw(st.sampled_from(sorted(seeds)))
    if focus in ("image", "all"):
        mutation = draw(_weighted(MUTATIONS))
        naming = draw(_weighted(_INPUT_SUFFIXES))
    else:
        mutation, naming = "intact", "natural"
    data = _mutated(draw, mutation, seeds[image].data, seeds)
    suffix = {
        "natural": seeds[image].suffix,
        "other": seeds[draw(st.sampled_from(sorted(seeds)))].suffix,
        "none": "",
        "upper": seeds[image].suffix.upper(),
        "matrix": draw(st.sampled_from([".txt", ".csv", ".npy"])),
    }[naming]
    labels.update(image=image, mutation=mutation, suffix=naming)

    # The kernel: its text, and how it reaches the command.
    if focus in ("kernel", "all"):
        kind = draw(_weighted(KERNEL_KINDS))
        route = draw(_weighted(KERNEL_ROUTES))
    else:
        kind = "good"
        route = draw(_weighted({"inline": 6, "file": 1, "stdin": 1}))
    if kind == "good" and route in ("file", "stdin"):
        text = draw(st.sampled_from(GOOD_MATRICES))  # a name is no kernel file
    else:
        text = draw(kernel_texts(kind))
    kernel = text
    if route == "file":
        name = "kernel" + draw(st.sampled_from(_KERNEL_FILE_SUFFIXES))
        content = "utf-8"
        if kind != "good":
            content = draw(
                _weighted({"utf-8": 4, "utf-8-sig": 1, "utf-16": 1, "npy": 2, "image": 1})
            )
        if content == "npy":
            files[name] = draw(npy_kernels())
            kind = "npy"
        elif content == "image":
            files[name] = seeds[draw(st.sampled_from(sorted(seeds)))].data
            kind = "image"
        else:
            files[name] = text.encode(content, errors="surrogatepass")
        kernel = name
    elif route == "stdin":
        stdin = text.encode("utf-8")
        if kind != "good" and draw(st.integers(0, 3)) == 0:
            stdin, kind = draw(npy_kernels()), "npy"
        kernel = "-"
    elif route == "missing-file":
        kernel = "no-such-kernel" + draw(st.sampled_from(_KERNEL_FILE_SUFFIXES))
    labels.update(kernel=kind, route=route)

    # The input file, or standard input when the kernel does not use it.
    via_stdin = draw(st.integers(0, 5)) == 0
    if via_stdin and route != "stdin":
        stdin = data
        source = "-"
    elif via_stdin and focus == "all":
        source = "-"  # both on stdin: a usage error
    else:
        source = "input" + suffix
        files[source] = data
    if route == "input-file":
        kernel = source
    labels["input"] = "stdin" if source == "-" else "file"

    # The output.
    if focus in ("output", "all"):
        where = draw(_weighted(OUTPUT_KINDS))
        out_suffix = draw(_weighted(_OUTPUT_SUFFIXES))
    else:
        where = draw(_weighted(_PLAIN_OUTPUTS))
        out_suffix = draw(_weighted(_PLAIN_SUFFIXES))
    output = {
        "file": "out/result" + out_suffix,
        "missing-dir": "missing/result" + out_suffix,
        "stdout": "-",
        "directory": "out",
        "over-input": source if source != "-" else "out/result" + out_suffix,
    }[where]
    labels["output"] = where

    # Options: valid ones, and one that may be invalid when options are what this case breaks.
    names = draw(st.lists(st.sampled_from(sorted(VALID_OPTIONS)), max_size=3, unique=True))
    options = [_option(draw, name) for name in names]
    if focus in ("options", "all"):
        name = draw(st.sampled_from(sorted(set(INVALID_OPTIONS) - set(names))))
        wild = _option(draw, name, wild=True)
        options.insert(draw(st.integers(0, len(options))), wild)
    labels["options"] = "invalid" if any(o[1:] in _INVALID_PAIRS for o in options) else "valid"
    # A kernel like "-1,0,1" is meant to work without "--"; "-h" must not show help.
    separator = kernel.startswith("-") and kernel != "-" and draw(st.booleans())
    return Case(files, tuple(options), (kernel, source, output), separator, stdin, labels)


# --------------------------------------------------------------------------
# Running and checking


@dataclass(frozen=True)
class Violation:
    """A broken promise: its kind and what showed it."""

    kind: str
    detail: str

    @property
    def key(self) -> str:
        """What failures of one cause share: the kind and the detail without its values."""
        detail = re.sub(r"'[^']*'|\"[^\"]*\"", "'...'", self.detail)
        detail = re.sub(r"\d+(\.\d+)?", "N", detail)
        return f"{self.kind}: {detail[:120]}"


@dataclass
class Outcome:
    """What a run did: exit code, streams, time, and the promises it broke."""

    exit_code: int
    stdout: bytes
    stderr: str
    seconds: float
    violations: list[Violation]


class InvariantError(AssertionError):
    """Raised by :func:`check_case` when the command line broke a promise."""


# Messages that tell which kind of failure it is, whatever the wording after them.
_USAGE_MESSAGES = re.compile(
    r"^Error: (Invalid value for|No such option|Missing argument|Got unexpected extra "
    r"argument|Option '[^']*' requires|missing OUTPUT|unknown output format|cannot tell the "
    r"output format)"
)
_RUNTIME_MESSAGES = re.compile(
    r"(is truncated or corrupt|is not an image Pillow can read|larger than Pillow's safety "
    r"limit|not enough memory|^Error: cannot write '|is empty; expected image data)"
)
_TEMPORARY = re.compile(r"(^|/)\.[^/]*\.tmp$")
_HELP = ("-h", "--help")


def _lay_out(case: Case, root: Path) -> None:
    for directory in case.dirs:
        (root / directory).mkdir(parents=True, exist_ok=True)
    for name, data in case.files.items():
        (root / name).write_bytes(data)


def _snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root``: ``dir`` or the size and hash of a file."""
    found: dict[str, str] = {}
    for folder, subfolders, names in os.walk(root):
        for name in subfolders:
            found[os.path.relpath(os.path.join(folder, name), root)] = "dir"
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as file:
                data = file.read()
            digest = hashlib.sha256(data).hexdigest()[:16]
            found[os.path.relpath(path, root)] = f"{len(data)} bytes {digest}"
    return found


@contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


@contextmanager
def _native_stderr() -> Iterator[list[bytes]]:
    """Capture what is written to file descriptor 2 itself; yields a list that then holds it.

    The command line's stderr is ``sys.stderr``, which the click runner
    replaces; a C library writes to the descriptor, which it cannot see.
    """
    found: list[bytes] = []
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield found
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            data = sink.read()
            if data:
                found.append(data)


def run_case(case: Case) -> Outcome:
    """Run ``imgconv apply`` on a case in a fresh directory and judge what it did.

    Parameters
    ----------
    case : Case
        The files, arguments and standard input.

    Returns
    -------
    Outcome
        Exit code, streams, time taken and the broken promises (empty when
        all is well).
    """
    root = Path(tempfile.mkdtemp(prefix="imgconv-fuzz-"))
    try:
        _lay_out(case, root)
        before = _snapshot(root)
        # Warnings are recorded, not shown or raised: a real run prints them
        # to stderr (a promise broken), and pytest's filterwarnings=error would
        # turn them into exceptions the command line would not meet.
        with (
            warnings.catch_warnings(record=True) as caught,
            _working_directory(root),
            _native_stderr() as native,
        ):
            warnings.simplefilter("always")
            start = time.perf_counter()
            result = CliRunner().invoke(
                cli, case.args, input=case.stdin or b"", env={"IMGCONV_DEBUG": None}
            )
            seconds = time.perf_counter() - start
        after = _snapshot(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    noise = [
        Violation(
            "python-warning",
            f"{w.category.__name__}: {w.message} ({os.path.basename(w.filename)}:{w.lineno})",
        )
        for w in caught
        if "click" not in w.filename  # the test runner's own, if any
    ]
    if native:  # C libraries (libtiff, libjpeg) writing past Python's sys.stderr
        text = native[0].decode("utf-8", "replace").strip()
        noise.append(Violation("native-stderr", text.splitlines()[0][:200] if text else "blank"))
    violations = _judge(case, result, noise, before, after)
    return Outcome(result.exit_code, result.stdout_bytes, result.stderr, seconds, violations)


def _judge(
    case: Case,
    result: Result,
    noise: list[Violation],
    before: dict[str, str],
    after: dict[str, str],
) -> list[Violation]:
    """The promises a run broke (see the module docstring); ``noise`` is stderr it missed."""
    found = list(noise)
    code, stderr = result.exit_code, result.stderr
    lines = stderr.splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    if ("--verbose",) in case.options and code == 0:
        # The report that ends a verbose run names the kernel as given, new lines and all.
        report = next((i for i, line in enumerate(lines) if line.startswith("imgconv: ")), None)
        lines = lines[:report]
    stray = [line for line in lines if not line.startswith(("Error: ", "Warning: "))]
    exception = result.exception
    if exception is not None and not isinstance(exception, SystemExit):
        found.append(Violation("uncaught-exception", f"{type(exception).__name__}: {exception}"))
    streams = stderr + result.stdout_bytes.decode("latin-1")
    if "Traceback (most recent call last)" in streams:
        found.append(Violation("traceback", streams.strip().splitlines()[-1][:200]))
    found += [Violation("internal-error", line) for line in errors if "internal error (" in line]
    if stray:
        found.append(Violation("stray-stderr", stray[0][:200]))
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    temporary = [p for p in changed if _TEMPORARY.search(p)]
    if temporary:
        found.append(Violation("leftover-temp", ", ".join(temporary)))
    output = os.path.normpath(case.output)

    if code not in (0, 1, 2):
        found.append(Violation("exit-code", f"exit {code}: {stderr.strip()[:200]}"))
    if code == 0:
        # "-h" as the kernel (without "--") asks for help: exit 0 and no output.
        asked_help = case.positionals[0] in _HELP and not case.separator
        if asked_help and result.stdout.startswith("Usage:"):
            return found
        if errors:
            found.append(Violation("error-lines", f"exit 0 with {errors[0]}"))
        if case.output == "-":
            if not result.stdout_bytes:
                found.append(Violation("empty-output", "exit 0 but nothing on stdout"))
        elif after.get(output, "dir") == "dir" or after[output].startswith("0 bytes"):
            found.append(Violation("empty-output", f"exit 0 but {output!r} is missing or empty"))
        others = [p for p in changed if p != output and p not in temporary]
        if others:
            found.append(Violation("stray-files", "exit 0 and also changed " + ", ".join(others)))
        return found

    # A failure.
    if len(errors) != 1:
        found.append(Violation("error-lines", f"{len(errors)} Error lines: {stderr.strip()[:200]}"))
    rest = [p for p in changed if p not in temporary]
    if rest:
        kind = "partial-output" if output in rest else "stray-files"
        found.append(Violation(kind, f"exit {code} but changed " + ", ".join(rest)))
    if case.output == "-" and result.stdout_bytes:
        found.append(
            Violation("partial-output", f"exit {code} after {len(result.stdout_bytes)} bytes")
        )
    for line in errors[:1]:
        if _USAGE_MESSAGES.search(line) and code != 2:
            found.append(Violation("wrong-exit-code", f"exit {code} (expected 2): {line[:200]}"))
        elif _RUNTIME_MESSAGES.search(line) and code != 1 and "Invalid value" not in line:
            found.append(Violation("wrong-exit-code", f"exit {code} (expected 1): {line[:200]}"))
    return found


def describe(case: Case, outcome: Outcome) -> str:
    """A report of a run: the command, the files, what it printed and what was wrong.

    Parameters
    ----------
    case : Case
        What was run.
    outcome : Outcome
        What :func:`run_case` found.

    Returns
    -------
    str
        Several lines; small files are included in base64, so a case can be
        rebuilt from a test log.
    """
    lines = [f"command: {case.command()}", f"exit: {outcome.exit_code}"]
    for name, data in case.files.items():
        shown = base64.b64encode(data).decode() if len(data) <= 2048 else "(large)"
        lines.append(f"file {name} ({len(data)} bytes): {shown}")
    if case.stdin is not None:
        shown = base64.b64encode(case.stdin).decode() if len(case.stdin) <= 2048 else "(large)"
        lines.append(f"stdin ({len(case.stdin)} bytes): {shown}")
    lines.append("stderr: " + (outcome.stderr.strip() or "(empty)").replace("\n", "\n        "))
    lines += [f"violation: {v.kind}: {v.detail}" for v in outcome.violations]
    return "\n".join(lines)


def check_case(case: Case) -> Outcome:
    """Run a case and raise if the command line broke any promise.

    Parameters
    ----------
    case : Case
        What to run.

    Returns
    -------
    Outcome
        What happened, when all was well.

    Raises
    ------
    InvariantError
        With :func:`describe`'s report, when the run broke a promise.
    """
    outcome = run_case(case)
    if outcome.violations:
        raise InvariantError("\n" + describe(case, outcome))
    return outcome


# --------------------------------------------------------------------------
# Shrinking and saving (the script)


def _still_fails(case: Case, key: str) -> bool:
    return any(v.key == key for v in run_case(case).violations)


def shrink(case: Case, key: str, budget: int = 300) -> Case:
    """A smaller case that still breaks the promise ``key``, found greedily.

    Hypothesis would shrink a failing case itself, but only when the test
    stops at the first failure; the script keeps going, so it shrinks here:
    options are dropped one at a time, then chunks of the kernel text and of
    every file and of standard input are deleted while the failure remains.

    Parameters
    ----------
    case : Case
        A failing case.
    key : str
        The :attr:`Violation.key` to keep.
    budget : int
        At most this many runs.

    Returns
    -------
    Case
    """
    runs = 0

    def keeps(candidate: Case) -> bool:
        nonlocal runs
        if runs >= budget:
            return False
        runs += 1
        return _still_fails(candidate, key)

    for option in list(case.options):
        smaller = replace(case, options=tuple(o for o in case.options if o != option))
        if keeps(smaller):
            case = smaller

    kernel, source, output = case.positionals
    if kernel not in case.files and kernel not in ("-", source):
        kernel = _shrink_sequence(
            kernel, lambda k: keeps(replace(case, positionals=(k, source, output)))
        )
        case = replace(case, positionals=(kernel, source, output))
    for name in list(case.files):
        case = _with_file(
            case, name, _shrink_sequence(case.files[name], _file_keeps(case, name, keeps))
        )
    if case.stdin:
        stdin = _shrink_sequence(case.stdin, lambda d: keeps(replace(case, stdin=d)))
        case = replace(case, stdin=stdin)
    return case


def _with_file(case: Case, name: str, data: bytes) -> Case:
    return replace(case, files={**case.files, name: data})


def _file_keeps(case: Case, name: str, keeps: Callable[[Case], bool]) -> Callable[[bytes], bool]:
    return lambda data: keeps(_with_file(case, name, data))


def _shrink_sequence(value: AnyStr, keeps: Callable[[AnyStr], bool]) -> AnyStr:
    """Delete chunks of ``value``, halving their size, while ``keeps`` says yes."""
    chunk = max(len(value) // 2, 1)
    while value:
        start = 0
        while start < len(value):
            candidate = value[:start] + value[start + chunk :]
            if keeps(candidate):
                value = candidate
            else:
                start += chunk
        if chunk == 1:
            break
        chunk = max(chunk // 2, 1)
    return value


def save_case(case: Case, outcome: Outcome, directory: Path) -> None:
    """Write a case so it can be run again: ``work/``, ``command.sh`` and ``report.txt``.

    Parameters
    ----------
    case : Case
        The case.
    outcome : Outcome
        Its outcome (its stderr and violations go into ``report.txt``).
    directory : Path
        Created; ``command.sh`` runs the case in ``directory/work``.
    """
    work = directory / "work"
    work.mkdir(parents=True, exist_ok=True)
    _lay_out(case, work)
    if case.stdin is not None:
        (work / "stdin.bin").write_bytes(case.stdin)
    script = directory / "command.sh"
    script.write_text(f'#!/bin/sh\ncd "$(dirname "$0")/work" || exit\n{case.command()}\n')
    script.chmod(0o755)
    (directory / "case.json").write_text(
        json.dumps(
            {
                "args": case.args,
                "files": {k: base64.b64encode(v).decode() for k, v in case.files.items()},
                "stdin": None if case.stdin is None else base64.b64encode(case.stdin).decode(),
                "labels": case.labels,
            },
            indent=1,
        )
    )
    (directory / "report.txt").write_text(describe(case, outcome) + "\n")


@dataclass
class Tally:
    """Counts of a fuzzing run, by category and exit code, and its failures by key."""

    tried: int = 0
    distinct: set[str] = field(default_factory=set)
    exits: Counter[int] = field(default_factory=Counter)
    by_label: dict[str, Counter[tuple[str, str]]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    crashed: int = 0
    failures: dict[str, list[tuple[Case, Outcome]]] = field(default_factory=dict)
    slowest: list[tuple[float, str]] = field(default_factory=list)
    slow: list[tuple[Case, Outcome]] = field(default_factory=list)
    slow_seconds: float = 5.0

    def add(self, case: Case, outcome: Outcome) -> None:
        """Count one run."""
        self.tried += 1
        digest = case.digest()
        if digest in self.distinct:  # Hypothesis may draw a case twice: count it, keep it once
            self.exits[outcome.exit_code] += 1
            self.crashed += bool(outcome.violations)
            return
        self.distinct.add(digest)
        self.exits[outcome.exit_code] += 1
        status = "bad" if outcome.violations else f"exit {outcome.exit_code}"
        for label, value in case.labels.items():
            self.by_label[label][(value, status)] += 1
        if outcome.violations:
            self.crashed += 1
        for key in dict.fromkeys(v.key for v in outcome.violations):
            self.failures.setdefault(key, []).append((case, outcome))
        self.slowest = sorted([*self.slowest, (outcome.seconds, case.command())])[-3:]
        if outcome.seconds > self.slow_seconds:
            self.slow.append((case, outcome))

    def summary(self) -> str:
        """``tried N cases (M distinct): A exit 2, B exit 1, C exit 0; D crashes``."""
        codes = ", ".join(f"{n} exit {c}" for c, n in sorted(self.exits.items(), reverse=True))
        plural = "" if self.crashed == 1 else "es"
        return (
            f"tried {self.tried} cases ({len(self.distinct)} distinct): {codes}; "
            f"{self.crashed} crash{plural}"
        )

    def table(self) -> str:
        """Per category: how many cases, and how they ended."""
        lines = []
        for label, counts in sorted(self.by_label.items()):
            lines.append(f"{label}:")
            values = sorted({value for value, _ in counts})
            for value in values:
                ends = {s: n for (v, s), n in counts.items() if v == value}
                total = sum(ends.values())
                shown = "  ".join(f"{s} {n}" for s, n in sorted(ends.items()))
                lines.append(f"  {value:<28} {total:>6}   {shown}")
        return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the fuzzer for a number of cases and report; exit 1 if any case broke a promise.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    int
        0 when no case broke a promise, else 1.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000, help="how many cases (default 1000)")
    parser.add_argument("--seed", type=int, default=None, help="Hypothesis seed (random if none)")
    parser.add_argument(
        "--save-failures",
        type=Path,
        default=DEFAULT_FAILURES,
        metavar="DIR",
        help=f"where failing cases go (default {DEFAULT_FAILURES})",
    )
    parser.add_argument(
        "--keep", type=int, default=3, help="failing cases saved per kind of failure (default 3)"
    )
    parser.add_argument("--no-shrink", action="store_true", help="save failing cases as found")
    parser.add_argument(
        "--memory-gb",
        type=float,
        default=8.0,
        help="address-space limit, so a huge allocation fails fast (default 8; 0: none)",
    )
    parser.add_argument(
        "--slow",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="save cases that take longer than this too (default 5)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    options = parser.parse_args(argv)

    if options.memory_gb > 0:
        import resource

        limit = int(options.memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    tally = Tally(slow_seconds=options.slow)
    started = time.perf_counter()

    @settings(
        max_examples=options.cases,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(cases())
    def explore(case: Case) -> None:
        outcome = run_case(case)
        tally.add(case, outcome)
        if outcome.violations and not options.quiet:
            print(f"case {tally.tried}: {outcome.violations[0].kind}", file=sys.stderr)
        if not options.quiet and tally.tried % 250 == 0:
            elapsed = time.perf_counter() - started
            print(f"... {tally.summary()} ({elapsed:.0f} s)", file=sys.stderr)

    if options.seed is not None:
        explore = seed(options.seed)(explore)
    explore()
    elapsed = time.perf_counter() - started

    report = [tally.table(), "slowest cases:"]
    report += [f"  {seconds:6.2f} s  {command[:160]}" for seconds, command in tally.slowest[::-1]]
    if tally.failures or tally.slow:
        _clear_saved(options.save_failures)
    if tally.slow:
        report.append(f"{len(tally.slow)} cases took more than {options.slow:g} s:")
    for index, (case, outcome) in enumerate(tally.slow[: options.keep], start=1):
        directory = options.save_failures / f"slow-{index}"
        save_case(case, outcome, directory)
        report.append(f"  {outcome.seconds:.1f} s  {directory}/command.sh: {case.command()[:300]}")
    if tally.failures:
        report.append(f"failures, by kind (saved under {options.save_failures}):")
    for number, (key, found) in enumerate(sorted(tally.failures.items()), start=1):
        report.append(f"  [{number}] {len(found)} cases: {key}")
        # The smallest first: easiest to read; the first is also shrunk.
        found = sorted(found, key=lambda pair: len(pair[0].command()) + _size(pair[0]))
        for index, (case, outcome) in enumerate(found[: options.keep]):
            if index == 0 and not options.no_shrink:
                case = shrink(case, key)
                outcome = run_case(case)
            directory = options.save_failures / f"{number:02d}-{index + 1}"
            save_case(case, outcome, directory)
            report.append(f"      {directory}/command.sh: {case.command()[:300]}")
    report.append(f"{tally.summary()} in {elapsed:.0f} s")
    print("\n".join(report))
    if tally.failures or tally.slow:
        (options.save_failures / "summary.txt").write_text("\n".join(report) + "\n")
    return 1 if tally.crashed else 0


def _clear_saved(directory: Path) -> None:
    """Remove the cases an earlier run saved in ``directory`` (and nothing else)."""
    if directory.is_dir():
        for entry in directory.iterdir():
            if re.fullmatch(r"(\d{2,}|slow)-\d+", entry.name) and entry.is_dir():
                shutil.rmtree(entry)


def _size(case: Case) -> int:
    return sum(map(len, case.files.values())) + len(case.stdin or b"")


if __name__ == "__main__":
    sys.exit(main())
