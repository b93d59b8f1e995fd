"""Shared command-line options and the parameter types behind them.

Each ``ParamType`` turns a string into a core value and reports a bad one
with ``self.fail`` (exit 2, naming the option). Option groups used by more
than one command are decorators (``geometry_options``), so a command's
decorator stack reads as its specification.

This module imports only click and the pure-Python vocabulary at start-up;
kernel parsing (NumPy) is imported when a kernel argument is converted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .core.vocab import BORDER_ALIASES, BORDER_PICTURES, Border, Padding, parse_anchor, parse_pair
from .errors import ImgconvError

if TYPE_CHECKING:
    from .core.kernels import Bank, KernelSet

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT_SETTINGS: dict[str, Any] = {
    "help_option_names": ["-h", "--help"],
    "max_content_width": 100,
}


class KernelType(click.ParamType["KernelSet | Bank | str"]):
    """A built-in name (with parameters), a kernel file or an inline kernel.

    ``-`` stays ``-``: the command reads the kernel from standard input once
    it knows the image is not there too.
    """

    name = "kernel"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Resolve the argument to a KernelSet or Bank (or keep ``-``)."""
        if not isinstance(value, str) or value == "-":
            return value
        from .kernel_source import resolve_kernel

        try:
            kernels: KernelSet | Bank = resolve_kernel(value)
        except ImgconvError as exc:
            self.fail(str(exc), param, ctx)
        return kernels


class PaddingType(click.ParamType[Padding]):
    """``same``, ``valid``, ``full``, ``N``, ``PY,PX`` or ``T,B,L,R``."""

    name = "padding"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse to a Padding."""
        try:
            return Padding.parse(value)
        except ImgconvError as exc:
            self.fail(str(exc), param, ctx)


class BorderType(click.ParamType[Border]):
    """A border name or alias, or ``constant:V``."""

    name = "border"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse to a Border."""
        try:
            return Border.parse(value)
        except ImgconvError as exc:
            self.fail(str(exc), param, ctx)


class PairType(click.ParamType[tuple[int, int]]):
    """``N`` or ``Y,X`` whole numbers >= 1 (stride, dilation)."""

    name = "n|y,x"

    def __init__(self, what: str) -> None:
        self.what = what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse to a (y, x) pair."""
        try:
            return parse_pair(value, self.what)
        except ImgconvError as exc:
            self.fail(str(exc), param, ctx)


class AnchorType(click.ParamType[tuple[int, int] | None]):
    """``Y,X``: a kernel cell, counted from 0 at the top left."""

    name = "y,x"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse to a (y, x) pair."""
        try:
            return parse_anchor(value)
        except ImgconvError as exc:
            self.fail(str(exc), param, ctx)


class FiniteFloat(click.ParamType[float]):
    """A finite number (``nan`` and ``inf`` are refused); optionally non-zero."""

    name = "number"

    def __init__(self, *, nonzero: bool = False) -> None:
        self.nonzero = nonzero

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse to a float."""
        if isinstance(value, float):
            return value
        try:
            number = float(value)
        except ValueError:
            self.fail(f"{value!r} is not a number", param, ctx)
        if number != number or number in (float("inf"), float("-inf")):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.nonzero and number == 0:
            self.fail(f"{value!r} would divide by zero; expected a non-zero number", param, ctx)
        return number


class PixelCount(click.ParamType[int | None]):
    """A number of pixels: ``250000000``, ``250M``, ``1.5G`` or ``40k``; ``none`` for no limit."""

    name = "pixels"
    _UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse to an int, or None for ``none``."""
        if value is None or isinstance(value, int):
            return value
        text = str(value).strip()
        if text.lower() in ("none", "unlimited"):
            return None
        match = re.fullmatch(r"(\d+(?:\.\d*)?)\s*([kKmMgG]?)", text)
        if match is None:
            self.fail(
                f"{value!r} is not a number of pixels; expected a count such as 250M, "
                "1.5G or 40000000, or none",
                param,
                ctx,
            )
        count = int(float(match[1]) * self._UNITS[match[2].upper()])
        if count < 1:
            self.fail(f"{value!r} allows no pixels; expected at least 1, or none", param, ctx)
        return count


KERNEL = KernelType()
PADDING = PaddingType()
BORDER = BorderType()
ANCHOR = AnchorType()

_BORDER_NOTES = {
    "edge": "default",
    "reflect": "the edge pixel is repeated, as in SciPy",
    "reflect101": "not repeated, as NumPy's and PyTorch's 'reflect'",
}
_BORDER_HELP = (
    "What the pixels beyond the edge hold: "
    + ", ".join(
        f"{'constant:V' if mode == 'constant' else mode} "
        f"({picture}{': ' + _BORDER_NOTES[mode] if mode in _BORDER_NOTES else ''})"
        for mode, picture in BORDER_PICTURES.items()
    )
    + ". Aliases: "
    + ", ".join(f"{a}={m}" for a, m in BORDER_ALIASES.items() if a != m)
    + "."
)


def geometry_options(*, padding: str = "same", border: str = "edge") -> Callable[[F], F]:
    """``--flip --padding --border --stride --dilation --anchor``, with these defaults."""

    def decorate(command: F) -> F:
        options = [
            click.option(
                "--flip",
                is_flag=True,
                help="Rotate the kernel 180 degrees about its anchor first: true convolution "
                "(scipy.ndimage.convolve, ImageMagick -morphology Convolve). Without it the "
                "kernel is applied as written (cross-correlation, like OpenCV filter2D).",
            ),
            click.option(
                "--padding",
                type=PADDING,
                default=padding,
                show_default=True,
                help="same (output keeps the input's size), valid (no padding), full (every "
                "overlap), N, PY,PX or T,B,L,R pixels.",
            ),
            click.option(
                "--border", type=BORDER, default=border, show_default=True, help=_BORDER_HELP
            ),
            click.option(
                "--stride",
                type=PairType("stride"),
                default="1",
                show_default=True,
                help="Step between output samples, N or SY,SX; only sampled positions are "
                "computed.",
            ),
            click.option(
                "--dilation",
                type=PairType("dilation"),
                default="1",
                show_default=True,
                help="Step between kernel taps, N or DY,DX.",
            ),
            click.option(
                "--anchor",
                type=ANCHOR,
                default=None,
                help="Kernel cell Y,X over the output pixel (from 0 at the top left); the "
                "centre by default, (kh//2, kw//2) for even sizes.",
            ),
        ]
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def frame_option(*, every: bool) -> Callable[[F], F]:
    """``--frame N``: one frame of a multi-frame input; every frame by default if ``every``."""
    if every:
        return click.option(
            "--frame",
            type=click.IntRange(min=0),
            default=None,
            metavar="N",
            help="Filter only frame N (from 0) of a multi-page TIFF or an animated GIF, WebP "
            "or PNG; every frame by default.",
        )
    return click.option(
        "--frame",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        metavar="N",
        help="Which frame (from 0) of a multi-page TIFF or an animated image to use.",
    )


def limit_option(command: F) -> F:
    """``--max-pixels`` (also ``IMGCONV_MAX_PIXELS``): the decompression-bomb guard."""
    return click.option(
        "--max-pixels",
        type=PixelCount(),
        default="200M",
        show_default=True,
        envvar="IMGCONV_MAX_PIXELS",
        help="Refuse images of more pixels than this before decoding them (a guard against "
        "decompression bombs): a count such as 500M or 1.5G, or none. Also IMGCONV_MAX_PIXELS.",
    )(command)


class ByteSize(click.ParamType[int | str | None]):
    """A size in bytes: ``512M``, ``2G``, ``1.5GB`` (powers of 1024); ``auto``; ``none``."""

    name = "size"
    _UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse to an int, ``"auto"``, or None for ``none``."""
        if value is None or isinstance(value, int):
            return value
        text = str(value).strip()
        if text.lower() in ("none", "unlimited"):
            return None
        if text.lower() == "auto":
            return "auto"
        match = re.fullmatch(r"(\d+(?:\.\d*)?)\s*([kKmMgGtT]?)(?:i?[bB])?", text)
        if match is None:
            self.fail(
                f"{value!r} is not a size; expected bytes such as 512M, 2G or 1.5GB, auto or none",
                param,
                ctx,
            )
        size = int(float(match[1]) * self._UNITS[match[2].upper()])
        if size < 1 << 20:
            self.fail(f"{value!r} is below 1M; expected a size such as 512M or 2G", param, ctx)
        return size


def channel_options(command: F) -> F:
    """``--channels`` and ``--alpha``: which planes are processed, and how alpha weighs them."""
    options = [
        click.option(
            "--channels",
            default="each",
            show_default=True,
            metavar="each|luma|gray|LIST",
            help="each: every colour channel; luma: the luminance only, colour kept; gray: "
            "convert to grey first; or a list such as r,g (the others pass through).",
        ),
        click.option(
            "--alpha",
            type=click.Choice(["weighted", "filter", "plain", "keep"]),
            default="weighted",
            show_default=True,
            help="weighted: colour processed alpha-weighted, alpha unchanged (transparent "
            "pixels never bleed into opaque ones); filter: weighted, and alpha processed too; "
            "plain: every channel alone; keep: colour processed unweighted, alpha unchanged.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def output_options(command: F) -> F:
    """``--map --depth --format --quality --compression``: from results to a written file."""
    options = [
        click.option(
            "--map",
            "map_mode",
            type=click.Choice(["clip", "abs", "shift", "normalize", "raw"]),
            default=None,
            help="From results to pixels: clip (round, clip to the range; default), abs, "
            "shift (0 becomes mid-grey), normalize (stretch min..max to the range), raw (keep "
            "floats: .tiff or .npy).",
        ),
        click.option(
            "--depth",
            type=click.Choice(["8", "16", "float"]),
            default=None,
            help="Output sample depth; the input's by default (8-bit in, 8-bit out).",
        ),
        click.option(
            "--format",
            "out_format",
            default=None,
            metavar="FMT",
            help="Output format (png, jpeg, tiff, webp, bmp, npy, txt, csv, ...); from "
            "OUTPUT's suffix by default, PNG for '-'.",
        ),
        click.option(
            "--quality",
            type=click.IntRange(1, 100),
            default=None,
            help="JPEG, WebP or AVIF quality, 1..100. JPEG: 95 by default; WebP: lossless "
            "unless this is given.",
        ),
        click.option(
            "--compression",
            type=click.IntRange(0, 9),
            default=None,
            help="PNG compression level, 0 (fastest) to 9 (smallest); 3 by default.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def memory_option(command: F) -> F:
    """``--memory-limit``: over it, an image is streamed by strips (see imgconv.streaming)."""
    return click.option(
        "--memory-limit",
        type=ByteSize(),
        default="auto",
        show_default=True,
        metavar="SIZE",
        envvar="IMGCONV_MEMORY_LIMIT",
        help="An image that would take more memory than this to filter whole (a size such as "
        "512M or 2G; auto: a quarter of the machine's memory, shared by --jobs) is read, "
        "filtered and written band by band, when it is read from and written to .npy or "
        "TIFF; the result is the same. Also IMGCONV_MEMORY_LIMIT.",
    )(command)


def batch_options(command: F) -> F:
    """``-o DIR`` and the options of a batch of files: names, processes, failures, resuming."""
    options = [
        click.option(
            "-o",
            "--output-dir",
            "output_dir",
            default=None,
            metavar="DIR",
            help="Filter every INPUT into this directory (made if missing); INPUTs may be "
            "files, quoted globs such as 'photos/*.jpg', and directories.",
        ),
        click.option(
            "--name",
            default=None,
            metavar="TEMPLATE",
            help="Output names in DIR: {stem}, {ext} (the input's suffix, or --format's), "
            "{name}, {parent}, {n}; '{stem}.{ext}' by default. Two inputs that would get one "
            "name are refused before any work.",
        ),
        click.option(
            "-r",
            "--recursive",
            is_flag=True,
            help="Take the images in the subdirectories of directory INPUTs too, keeping "
            "the subdirectories in DIR.",
        ),
        click.option(
            "-j",
            "--jobs",
            type=click.IntRange(min=1),
            default=None,
            metavar="N",
            help="Worker processes for a batch; one per core by default.",
        ),
        click.option(
            "--keep-going",
            is_flag=True,
            help="Report a file that fails and go on with the rest (the exit status still "
            "says something failed); by default a batch stops at the first failure.",
        ),
        click.option(
            "--skip-existing",
            is_flag=True,
            help="Leave outputs that already exist as they are: run a batch again to finish "
            "it after an interruption.",
        ),
        click.option(
            "--scheduler",
            default=None,
            metavar="ADDRESS|local",
            envvar="IMGCONV_SCHEDULER",
            help="Send the batch to a Dask cluster, a task per file (the dask extra): a "
            "scheduler address such as tcp://host:8786, or local for a cluster on this "
            "machine. Also IMGCONV_SCHEDULER.",
        ),
        click.option(
            "-q",
            "--quiet",
            is_flag=True,
            help="No progress bar and no closing summary (failures are still reported).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def print_options(command: F) -> F:
    """``--print [table|csv|npy]`` and ``--print-to FILE``."""
    command = click.option(
        "--print-to",
        "print_to",
        default=None,
        metavar="FILE",
        help="Write what --print prints to FILE instead of the terminal.",
    )(command)
    return click.option(
        "--print",
        "print_as",
        type=click.Choice(["table", "csv", "npy"]),
        is_flag=False,
        flag_value="table",
        default=None,
        help="Print every computed map before value mapping: table (the default: every "
        "number of a small map; a summary and heat map of a large one), csv, or npy. To "
        "stdout when there is no OUTPUT, else tables to stdout and csv/npy to stderr; to "
        "stderr whenever the image goes to stdout.",
    )(command)


# An inline kernel that starts with a minus sign: -1,0,1 or "-1 0 1; ...".
_NEGATIVE_MATRIX = re.compile(r"^-\.?\d[\d.eE+-]*[,;\s]")


class KernelCommand(click.Command):
    """A command whose KERNEL may be an inline matrix starting with a minus sign.

    Click would read ``-1,0,1`` as an unknown option ``-1``. Such an argument,
    where no option waits for a value, is given a leading space (which the
    kernel parser ignores), so ``imgconv apply -1,0,1 in.png out.png`` works.
    ``--`` turns this off for the arguments after it.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Protect negative inline matrices from option parsing, then parse."""
        options = [param for param in self.params if isinstance(param, click.Option)]
        # Options whose value is optional (--print), with the values they take.
        bare = {
            name: (str(param.flag_value), _choices(param))
            for param in options
            if getattr(param, "_flag_needs_value", False)
            for name in param.opts
        }
        takes_value = {
            name
            for param in options
            if not param.is_flag and not getattr(param, "_flag_needs_value", False)
            for name in (*param.opts, *param.secondary_opts)
        }
        fixed: list[str] = []
        for index, arg in enumerate(args):
            if arg == "--":
                fixed += args[index:]
                break
            previous = args[index - 1] if index else ""
            if previous in bare:
                flag_value, choices = bare[previous]
                # `--print in.png out.png`: the option's own value where the
                # next word is not one of its values (an image, '-', a matrix).
                if choices is not None and arg not in choices and not arg.startswith("--"):
                    fixed.append(flag_value)
            if _NEGATIVE_MATRIX.match(arg) and previous not in takes_value:
                arg = " " + arg
            fixed.append(arg)
        return super().parse_args(ctx, fixed)


def _choices(param: click.Option) -> tuple[str, ...] | None:
    """The values a Choice option takes; None for any other type."""
    if isinstance(param.type, click.Choice):
        return tuple(str(choice) for choice in param.type.choices)
    return None
