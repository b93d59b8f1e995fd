"""The identity kernel through the command line: input kind x output format x --depth.

``imgconv apply identity IN OUT [--depth D]`` must give the input back, as far
as OUT's format can hold it, and refuse (exit code 2, one ``Error:`` line, no
file written) what the format cannot hold. The tables in this module are the
rule, written once; every expectation of the grid is derived from them:

- :data:`INPUTS`: each kind of input file and how imgconv reads it;
- :data:`DEPTH_CHANGES`: what ``--depth`` does to the values;
- :data:`FORMATS`: what each output format holds, and how faithfully;
- :data:`PILLOW_MODES`: the mode Pillow opens the written file in.

Pixel values are read back with :func:`imgconv.image_io.read_picture` (Pillow
keeps only the high byte of 16-bit colour), ``.npy`` files with
:func:`numpy.load`. The stored bit depth is read from the file's own header.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
from click.testing import CliRunner, Result
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from imgconv.cli import cli
from imgconv.image_io import encode_picture, read_picture

Array = NDArray[Any]

# --------------------------------------------------------------------------
# Content: small (5 x 7), smooth (so JPEG stays close), fewer than 256 colours
# (so GIF can be exact), every value distinct enough to catch swapped bands.

H, W = 5, 7
Y, X = np.mgrid[0:H, 0:W]

BILEVEL = np.where(X + Y >= 5, 255, 0).astype(np.uint8)
GREY8 = (20 + 30 * X + 7 * Y).astype(np.uint8)
RGB8 = np.dstack([20 + 30 * X + 5 * Y, 230 - 25 * X - 8 * Y, 60 + 10 * X + 20 * Y]).astype(np.uint8)
#: 0 in the first column, 255 in most of the last, partly transparent between.
ALPHA8 = np.clip(45 * X - 20 + 5 * Y, 0, 255).astype(np.uint8)
GREY_ALPHA8 = np.dstack([GREY8, ALPHA8])
RGBA8 = np.dstack([RGB8, ALPHA8])
CMYK8 = np.dstack(
    [20 + 30 * X + 5 * Y, 200 - 20 * X - 8 * Y, 40 + 10 * X + 15 * Y, 10 + 8 * X + 4 * Y]
).astype(np.uint8)
#: Sixteen colours; palette entry 0 is the transparent one of the tRNS variant.
PALETTE = np.array([(16 * i + 10, 200 - 10 * i, 60 + 8 * i) for i in range(16)], np.uint8)
INDICES = (2 * X + Y // 2).astype(np.uint8)
PALETTE_RGB = PALETTE[INDICES]
PALETTE_RGBA = np.dstack([PALETTE_RGB, np.where(INDICES == 0, 0, 255).astype(np.uint8)])

#: Low bytes vary too, so dropping them would show.
GREY16 = (300 + 9000 * X + 1234 * Y).astype(np.uint16)
RGB16 = np.dstack([GREY16, 65535 - GREY16, 20077 + 5000 * X - 2000 * Y]).astype(np.uint16)
ALPHA16 = np.clip(12000 * X - 5000 + 1000 * Y, 0, 65535).astype(np.uint16)
GREY_ALPHA16 = np.dstack([GREY16, ALPHA16])
RGBA16 = np.dstack([RGB16, ALPHA16])


def unit_floats(levels: Array) -> Array:
    """Floats a quarter level above 8-bit levels: no ties when scaled to 8 or 16 bits."""
    return ((levels.astype(np.float64) + 0.25) / 255).astype(np.float32)


#: Nominal range 0..1, with values beyond it at two corners.
GREYF = unit_floats(GREY8)
GREYF[0, 0], GREYF[-1, -1] = -0.25, 1.5
RGBF = unit_floats(RGB8)
RGBF[0, 0, 0], RGBF[-1, -1, 2] = -0.5, 2.0


# --------------------------------------------------------------------------
# The rule: input kinds.


class Kind(NamedTuple):
    """An input file: how it is made, and what imgconv must read from it."""

    file: str
    made_as: str  # the Pillow mode it is saved from, or "encode" (imgconv's encode_picture)
    content: Array
    bands: str  # the bands imgconv reads, as letters
    depth: str  # "8" (uint8), "16" (uint16) or "float" (float32)


#: Every kind of input and how it is read. CMYK is filtered per ink.
# fmt: off
INPUTS: dict[str, Kind] = {
    # id             file                made as   content       bands   depth
    "1":         Kind("bilevel.png",      "1",      BILEVEL,      "L",    "8"),  # 0 and 255
    "L":         Kind("grey.png",         "L",      GREY8,        "L",    "8"),
    "LA":        Kind("grey-alpha.png",   "LA",     GREY_ALPHA8,  "LA",   "8"),
    "P":         Kind("palette.png",      "P",      PALETTE_RGB,  "RGB",  "8"),
    "P+tRNS":    Kind("palette-trns.png", "P+tRNS", PALETTE_RGBA, "RGBA", "8"),
    "RGB":       Kind("rgb.png",          "RGB",    RGB8,         "RGB",  "8"),
    "RGBA":      Kind("rgba.png",         "RGBA",   RGBA8,        "RGBA", "8"),
    "CMYK-tiff": Kind("cmyk.tif",         "CMYK",   CMYK8,        "CMYK", "8"),
    "CMYK-jpeg": Kind("cmyk.jpg",         "CMYK",   CMYK8,        "CMYK", "8"),  # lossy
    "I16":       Kind("grey16.png",       "I;16",   GREY16,       "L",    "16"),
    "I":         Kind("int32.tif",        "I",      GREY16,       "L",    "16"),  # 32-bit
    "F":         Kind("float.tif",        "F",      GREYF,        "L",    "float"),
    "RGB16":     Kind("rgb16.png",        "encode", RGB16,        "RGB",  "16"),
    "RGBA16":    Kind("rgba16.png",       "encode", RGBA16,       "RGBA", "16"),
    "LA16":      Kind("grey-alpha16.png", "encode", GREY_ALPHA16, "LA",   "16"),
    "RGBF":      Kind("rgb-float.tif",    "encode", RGBF,         "RGB",  "float"),
}
# fmt: on

#: A 32-bit integer image with values outside 0..65535 is refused on reading (exit 1).
OUT_OF_RANGE_MESSAGE = (
    "Error: {path!r} is a 32-bit integer image with values outside 0..65535, which imgconv "
    "does not support; expected values within 0..65535\n"
)

# --------------------------------------------------------------------------
# The rule: depth.

DTYPES = {"8": np.dtype(np.uint8), "16": np.dtype(np.uint16), "float": np.dtype(np.float32)}

#: (input depth, output depth) -> (the rule in words, the rule in code). The output
#: depth is --depth, or the input's. Float output keeps the input's own units.
DEPTH_CHANGES: dict[tuple[str, str], tuple[str, Callable[[Array], Array]]] = {
    ("8", "8"): ("as they are", lambda v: v),
    ("8", "16"): ("v * 257, exactly", lambda v: v.astype(np.uint16) * 257),
    ("8", "float"): ("float32, still 0..255", lambda v: v.astype(np.float32)),
    ("16", "8"): ("round(v / 257)", lambda v: np.rint(v / 257).astype(np.uint8)),
    ("16", "16"): ("as they are", lambda v: v),
    ("16", "float"): ("float32, still 0..65535", lambda v: v.astype(np.float32)),
    ("float", "8"): (
        "round(v * 255), clipped to 0..255",
        lambda v: np.clip(np.rint(v.astype(np.float64) * 255), 0, 255).astype(np.uint8),
    ),
    ("float", "16"): (
        "round(v * 65535), clipped to 0..65535",
        lambda v: np.clip(np.rint(v.astype(np.float64) * 65535), 0, 65535).astype(np.uint16),
    ),
    ("float", "float"): ("as they are", lambda v: v),
}

# --------------------------------------------------------------------------
# The rule: output formats.


class Holds(NamedTuple):
    """What an output format holds.

    ``depths`` lists the depths it holds (``16:L``: 16 bits for grey images
    only). The five layout columns give the bands written for each band
    layout read: ``RGB!alpha`` means the alpha channel is dropped with a
    warning, ``RGB!cmyk`` that the inks are converted to RGB (Pillow's
    formula, no colour management) with a warning.
    """

    name: str  # the format's name in imgconv's messages
    depths: str
    L: str
    LA: str
    RGB: str
    RGBA: str
    CMYK: str
    fidelity: str  # see FIDELITY


#: Every output format (by OUTPUT's suffix) and what it holds.
# fmt: off
FORMATS: dict[str, Holds] = {
    #   suffix     name    depths        L      LA         RGB    RGBA         CMYK        fidelity
    "png":  Holds("PNG",  "8 16",       "L",   "LA",      "RGB", "RGBA",      "RGB!cmyk", "exact"),
    "tif":  Holds("TIFF", "8 16 float", "L",   "LA",      "RGB", "RGBA",      "CMYK",     "exact"),
    "jpg":  Holds("JPEG", "8",          "L",   "L!alpha", "RGB", "RGB!alpha", "CMYK",     "close"),
    "webp": Holds("WEBP", "8",          "RGB", "RGBA",    "RGB", "RGBA",      "RGB!cmyk", "exact"),
    "bmp":  Holds("BMP",  "8",          "L",   "L!alpha", "RGB", "RGB!alpha", "RGB!cmyk", "exact"),
    "gif":  Holds("GIF",  "8",          "RGB", "RGBA",    "RGB", "RGBA",      "RGB!cmyk", "on/off"),
    "ppm":  Holds("PPM",  "8 16:L",     "L",   "L!alpha", "RGB", "RGB!alpha", "RGB!cmyk", "exact"),
    "pgm":  Holds("PPM",  "8 16:L",     "L",   "L!alpha", "RGB", "RGB!alpha", "RGB!cmyk", "exact"),
    "npy":  Holds("NPY",  "8 16 float", "L",   "LA",      "RGB", "RGBA",      "CMYK",     "array"),
}
# fmt: on

#: How close the written values must be to the input's (after --depth and the layout change).
FIDELITY = {
    "exact": "bit-exact (CMYK made RGB: exactly Pillow's CMYK-to-RGB of the inks)",
    "close": "lossy: mean absolute error below 3 levels on this smooth content",
    "on/off": "colour exact where opaque; alpha exact where 0 or 255; partial alpha "
    "cannot be kept and must be reported by a 'Warning: GIF ... alpha ...' line",
    "array": "numpy.load gives the exact array: (H, W) for one band, else (H, W, C)",
}
MEAN_ERROR_LIMIT = 3.0

#: Warnings on stderr, one line each, for the ``!`` marks of FORMATS.
WARNINGS = {
    "alpha": "Warning: {name} cannot store alpha; the alpha channel was dropped",
    "cmyk": "Warning: {name} cannot store CMYK; the inks were converted to RGB without colour "
    "management (write .jpg or .tiff to keep CMYK)",
}
PARTIAL_ALPHA_WARNING = re.compile(
    re.escape(
        "Warning: GIF pixels are either opaque or fully transparent; alpha was rounded to one "
        "or the other (write .png or .webp to keep it)"
    )
)

#: The refusals (exit code 2, nothing written), as imgconv words them: float output asked
#: for with --depth float, float output by default (float input), 16-bit output.
REFUSALS = {
    "--depth float": "Error: --depth float keeps float values, which {name} cannot store; "
    "write .tiff or .npy, or use {depths}\n",
    "float": "Error: {name} cannot store float samples; write .tiff or .npy, or use {depths}\n",
    "16-bit": "Error: {name} cannot store 16-bit samples; use --depth 8, or write .png or .tiff\n",
    "16-bit colour": "Error: {name} can store 16-bit samples only for grey images, not {bands}; "
    "use --depth 8, or write .png or .tiff\n",
}

#: The mode Pillow opens a written image in, by (bands written, depth); None where Pillow
#: cannot open it (float or 16-bit LA TIFF, which imgconv writes and reads itself).
#: Pillow opens 16-bit colour as its 8-bit mode of the same name (keeping the high byte).
# fmt: off
PILLOW_MODES: dict[tuple[str, str], str | None] = {
    ("L", "8"): "L",        ("L", "16"): "I;16",    ("L", "float"): "F",
    ("LA", "8"): "LA",      ("LA", "16"): None,     ("LA", "float"): None,
    ("RGB", "8"): "RGB",    ("RGB", "16"): "RGB",   ("RGB", "float"): None,
    ("RGBA", "8"): "RGBA",  ("RGBA", "16"): "RGBA", ("RGBA", "float"): None,
    ("CMYK", "8"): "CMYK",  ("CMYK", "16"): "CMYK", ("CMYK", "float"): None,
}
# fmt: on
#: Where a format differs from PILLOW_MODES. Besides: GIF is always a palette ("P"), and
#: Pillow cannot open .npy.
PILLOW_MODE_EXCEPTIONS: dict[tuple[str, str, str], str] = {
    ("png", "LA", "16"): "RGBA",
    ("ppm", "L", "16"): "I",
    ("pgm", "L", "16"): "I",
}

# --------------------------------------------------------------------------
# Expectations derived from the rule.


class Refused(NamedTuple):
    """The command must exit with 2 and this stderr, writing nothing."""

    stderr: str


class Written(NamedTuple):
    """The command must succeed and write these bands at this depth."""

    bands: str
    depth: str
    warnings: tuple[str | re.Pattern[str], ...]
    pillow_mode: str | None


def expect(kind: str, fmt: str, depth_option: str | None) -> Refused | Written:
    """What the rule says ``apply identity`` does with this input, format and --depth."""
    read = INPUTS[kind]
    holds = FORMATS[fmt]
    depth = depth_option or read.depth
    depths = holds.depths.split()
    if depth == "float" and "float" not in depths:
        refusal = "--depth float" if depth_option == "float" else "float"
        hint = "--depth 8 or 16" if {"16", "16:L"} & set(depths) else "--depth 8"
        return Refused(REFUSALS[refusal].format(name=holds.name, depths=hint))
    if depth == "16" and not {"16", "16:L"} & set(depths):
        return Refused(REFUSALS["16-bit"].format(name=holds.name))
    if depth == "16" and "16:L" in depths and read.bands != "L":
        return Refused(REFUSALS["16-bit colour"].format(name=holds.name, bands=read.bands))
    bands, _, mark = getattr(holds, read.bands).partition("!")
    warnings: list[str | re.Pattern[str]] = []
    if mark:
        warnings.append(WARNINGS[mark].format(name=holds.name))
    if holds.fidelity == "on/off" and has_partial_alpha(kind):
        warnings.append(PARTIAL_ALPHA_WARNING)
    mode = PILLOW_MODE_EXCEPTIONS.get((fmt, bands, depth), PILLOW_MODES[bands, depth])
    if fmt == "gif":
        mode = "P"
    if fmt == "npy":
        mode = None  # numbers, not an image
    return Written(bands, depth, tuple(warnings), mode)


def has_partial_alpha(kind: str) -> bool:
    read = INPUTS[kind]
    if not read.bands.endswith("A"):
        return False
    alpha = read.content[..., -1]
    return bool(((alpha > 0) & (alpha < np.iinfo(alpha.dtype).max)).any())


def as_written(values: Array, read: str, written: str) -> Array:
    """The values of bands ``written`` made from filtered values of bands ``read``."""
    if written == read:
        return values
    if read == "CMYK":
        return cmyk_to_rgb(values)
    if written == read[:-1]:  # alpha dropped
        return values[..., :-1]
    if read.startswith("L") and written.startswith("RGB"):  # grey made colour
        grey = values[..., :1].repeat(3, axis=2)
        return np.concatenate([grey, values[..., 1:]], axis=2)
    raise AssertionError(f"the rule has no way from {read} to {written}")


def cmyk_to_rgb(values: Array) -> Array:
    """Pillow's CMYK to RGB (no colour management); at 16 bits, the same formula as floats."""
    if values.dtype == np.uint8:
        return np.asarray(pillow_image(values, "CMYK").convert("RGB"))
    inks = values.astype(np.float64) / 65535
    return 65535 * (1 - inks[..., :3]) * (1 - inks[..., 3:])


# --------------------------------------------------------------------------
# Making inputs, running the command, reading the results.


def make_input(kind: Kind, path: Path) -> None:
    if kind.made_as == "encode":
        path.write_bytes(encode_picture(kind.content, tuple(kind.bands), image_format(path))[0])
    elif kind.made_as == "1":
        Image.fromarray(kind.content).convert("1", dither=Image.Dither.NONE).save(path)
    elif kind.made_as.startswith("P"):
        image = pillow_image(INDICES, "P")
        image.putpalette(PALETTE.tobytes())
        options: dict[str, Any] = {"transparency": 0} if kind.made_as == "P+tRNS" else {}
        image.save(path, **options)
    elif kind.made_as == "I":
        Image.fromarray(kind.content.astype(np.int32)).save(path)
    else:
        image = pillow_image(kind.content, kind.made_as)
        jpeg: dict[str, Any] = {"quality": 95} if path.suffix == ".jpg" else {}
        image.save(path, **jpeg)


def pillow_image(values: Array, mode: str) -> Image.Image:
    """An image of ``values`` in ``mode`` (Pillow no longer takes a mode in ``fromarray``)."""
    return Image.frombytes(mode, (values.shape[1], values.shape[0]), values.tobytes())


def image_format(path: Path) -> str:
    return {".png": "PNG", ".tif": "TIFF"}[path.suffix]


@pytest.fixture(scope="module", name="inputs")
def _inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    paths = {}
    for name, kind in INPUTS.items():
        paths[name] = folder / kind.file
        make_input(kind, paths[name])
    return paths


def apply_identity(source: Path, target: Path, depth: str | None) -> Result:
    args = ["apply", "identity", str(source), str(target)]
    if depth is not None:
        args += ["--depth", depth]
    return CliRunner().invoke(cli, args)


def pillow_view(path: Path) -> tuple[str, tuple[int, int]] | None:
    """Pillow's mode and size of the file, or None if Pillow cannot open it."""
    try:
        with Image.open(path) as image:
            return image.mode, image.size
    except UnidentifiedImageError:
        return None


def stored_depth(path: Path) -> str:
    """The sample depth the file's header declares: ``8``, ``16`` or ``float``."""
    data = path.read_bytes()
    if path.suffix == ".npy":
        return {v: k for k, v in DTYPES.items()}[np.load(path).dtype]
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return str(data[24])  # IHDR bit depth
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        bits = set(tiff_tag(data, 258))
        assert len(bits) == 1, f"mixed BitsPerSample {bits}"
        return "float" if 3 in tiff_tag(data, 339) else str(bits.pop())
    if data[:2] in (b"P5", b"P6"):
        return {b"255": "8", b"65535": "16"}[data.split()[3]]  # maxval
    return "8"  # JPEG, WebP, BMP and GIF hold 8-bit samples only


def tiff_tag(data: bytes, tag: int) -> tuple[int, ...]:
    """The values of a SHORT or LONG tag of a TIFF's first page; () if it is absent."""
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    (count,) = struct.unpack_from(order + "H", data, ifd)
    for index in range(count):
        entry = ifd + 2 + 12 * index
        number, kind, n = struct.unpack_from(order + "HHI", data, entry)
        if number == tag:
            code = {3: "H", 4: "I"}[kind]
            inline = struct.calcsize(code) * n <= 4
            where = entry + 8 if inline else struct.unpack_from(order + "I", data, entry + 8)[0]
            return struct.unpack_from(order + code * n, data, where)
    return ()


# --------------------------------------------------------------------------
# The grid.


def case_id(kind: str, fmt: str, depth: str | None) -> str:
    return f"{kind}-to-{fmt}-depth-{depth or 'default'}"


DEPTH_OPTIONS = [None, "8", "16", "float"]
GRID = [
    pytest.param(kind, fmt, depth, id=case_id(kind, fmt, depth))
    for kind in INPUTS
    for fmt in FORMATS
    for depth in DEPTH_OPTIONS
]


@pytest.mark.parametrize(("kind", "fmt", "depth"), GRID)
def test_identity_keeps_what_the_format_holds(
    inputs: dict[str, Path], tmp_path: Path, kind: str, fmt: str, depth: str | None
) -> None:
    source = inputs[kind]
    target = tmp_path / f"out.{fmt}"
    result = apply_identity(source, target, depth)
    want = expect(kind, fmt, depth)

    if isinstance(want, Refused):
        assert (result.exit_code, result.stderr) == (2, want.stderr)
        assert list(tmp_path.iterdir()) == [], "a refused command wrote a file"
        return

    assert result.exit_code == 0, result.stderr
    # Bands, bit depth, warnings and Pillow mode at once, so a failure shows them all.
    view = pillow_view(target)
    observed = Written(
        bands=written_bands(target, want),
        depth=stored_depth(target),
        warnings=recognised(result.stderr.splitlines(), want.warnings),
        pillow_mode=None if view is None else view[0],
    )
    assert observed == want
    if view is not None:
        assert view[1] == (W, H)

    # Values.
    picture = read_picture(source)
    read = INPUTS[kind]
    assert "".join(picture.bands) == read.bands  # the input is read as the rule says
    rule, change = DEPTH_CHANGES[read.depth, want.depth]
    values = change(picture.pixels)
    expected = as_written(values, read.bands, want.bands)
    fidelity = FORMATS[fmt].fidelity
    if fidelity == "array":
        numbers = np.load(target)
        assert numbers.dtype == DTYPES[want.depth]
        assert numbers.shape == ((H, W) if len(want.bands) == 1 else (H, W, len(want.bands)))
        numbers = numbers.reshape(expected.shape)
        assert np.array_equal(numbers, expected), f"{differences(numbers, expected)} ({rule})"
        return
    got = read_picture(target).pixels
    assert got.dtype == DTYPES[want.depth]
    assert got.shape == (H, W, len(want.bands))
    if read.bands == "CMYK" and want.bands == "RGB" and want.depth == "16":
        # Converted at 16 bits: within one 8-bit level of the formula.
        assert np.abs(got - expected).max() <= 257
    elif fidelity == "exact":
        assert np.array_equal(got, expected), f"{differences(got, expected)} ({rule})"
    elif fidelity == "close":
        error = np.abs(got.astype(np.float64) - expected).mean()
        assert error < MEAN_ERROR_LIMIT, f"mean absolute error {error:.2f}"
    else:  # on/off
        assert_on_off_alpha(got, expected, alpha=want.bands.endswith("A"))


def written_bands(target: Path, want: Written) -> str:
    """The bands of the written file: as imgconv reads them, or counted in an array."""
    if target.suffix != ".npy":
        return "".join(read_picture(target).bands)
    numbers = np.load(target)
    count = 1 if numbers.ndim == 2 else numbers.shape[-1]
    return want.bands if count == len(want.bands) else f"{count} bands"


def recognised(
    lines: list[str], wanted: tuple[str | re.Pattern[str], ...]
) -> tuple[str | re.Pattern[str], ...]:
    """The stderr lines, each replaced by the wanted pattern it matches."""
    patterns = [w for w in wanted if isinstance(w, re.Pattern)]
    return tuple(next((p for p in patterns if p.match(line)), line) for line in lines)


def assert_on_off_alpha(got: Array, expected: Array, *, alpha: bool) -> None:
    if not alpha:
        assert np.array_equal(got, expected), differences(got, expected)
        return
    colour, opacity = got[..., :-1], got[..., -1]
    want_colour, want_opacity = expected[..., :-1], expected[..., -1]
    opaque = want_opacity == 255
    assert np.array_equal(colour[opaque], want_colour[opaque]), "opaque colours changed"
    on_off = (want_opacity == 0) | opaque
    assert np.array_equal(opacity[on_off], want_opacity[on_off]), "on/off alpha changed"


def differences(got: Array, expected: Array) -> str:
    wrong = np.argwhere(got != expected)
    shown = ", ".join(
        f"{tuple(int(i) for i in at)}: {got[tuple(at)]!r} not {expected[tuple(at)]!r}"
        for at in wrong[:4]
    )
    return f"{len(wrong)} samples differ, e.g. {shown}"


# --------------------------------------------------------------------------
# Reading: the INPUTS table itself, and the refused kind.


@pytest.mark.parametrize("kind", list(INPUTS))
def test_inputs_are_read_as_the_rule_says(inputs: dict[str, Path], kind: str) -> None:
    read = INPUTS[kind]
    picture = read_picture(inputs[kind])
    assert "".join(picture.bands) == read.bands
    assert picture.pixels.dtype == DTYPES[read.depth]
    content = read.content if read.content.ndim == 3 else read.content[..., np.newaxis]
    if kind == "CMYK-jpeg":
        error = np.abs(picture.pixels.astype(np.float64) - content).mean()
        assert error < MEAN_ERROR_LIMIT
    else:
        assert np.array_equal(picture.pixels, content)


@pytest.mark.parametrize("fmt", ["png", "tif", "npy"])
@pytest.mark.parametrize(
    "values",
    [GREY16.astype(np.int32) - 301, GREY16.astype(np.int32) + 10_000],
    ids=["negative", "above-65535"],
)
def test_32_bit_values_beyond_16_bits_are_refused_on_reading(
    tmp_path: Path, fmt: str, values: Array
) -> None:
    source = tmp_path / "in" / "int32.tif"
    source.parent.mkdir()
    Image.fromarray(values).save(source)
    target = tmp_path / "out" / f"out.{fmt}"
    target.parent.mkdir()
    result = apply_identity(source, target, None)
    assert (result.exit_code, result.stderr) == (1, OUT_OF_RANGE_MESSAGE.format(path=str(source)))
    assert list(target.parent.iterdir()) == []


# --------------------------------------------------------------------------
# Float output: the other suffixes that hold it.


@pytest.mark.parametrize("suffix", [".tiff", ".tif", ".npy", ".txt", ".csv"])
@pytest.mark.parametrize("kind", ["L", "I16", "F"])
def test_every_float_suffix_takes_depth_float(
    inputs: dict[str, Path], tmp_path: Path, kind: str, suffix: str
) -> None:
    target = tmp_path / f"out{suffix}"
    result = apply_identity(inputs[kind], target, "float")
    assert (result.exit_code, result.stderr) == (0, "")
    source = read_picture(inputs[kind]).pixels
    expected = DEPTH_CHANGES[INPUTS[kind].depth, "float"][1](source)
    # .txt and .csv hold the shortest text of each float32, and come back as float64.
    written = read_picture(target).pixels.astype(np.float32)
    assert np.array_equal(written, expected)
