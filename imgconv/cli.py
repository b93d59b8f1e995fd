"""The ``imgconv`` command line: parse, call one function, report.

Exit codes: 0 success; 1 runtime failure (an image cannot be read or
written); 2 usage error (a bad option, kernel or geometry). Every failure is
one ``Error:`` line on stderr, never a traceback (set ``IMGCONV_DEBUG=1`` to
see one). Standard output carries exactly one product: the image when
OUTPUT is ``-``, or what a ``kernels`` command prints.

NumPy, SciPy, Pillow and rich are imported inside the commands that need
them, so ``imgconv --help`` starts quickly.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import click

from . import __version__
from .errors import FormatError, ImgconvError
from .options import (
    CONTEXT_SETTINGS,
    KERNEL,
    FiniteFloat,
    KernelCommand,
    batch_options,
    channel_options,
    frame_option,
    geometry_options,
    limit_option,
    memory_option,
    output_options,
    print_options,
)

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from .core.kernels import Bank, KernelSet
    from .core.vocab import Border, Padding
    from .image_io import Picture


class ImgconvGroup(click.Group):
    """A click group that reports every failure as one line and an exit code."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; exit with 0, 1 or 2 (or return when not standalone)."""
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.UsageError as exc:
            code = _report(_usage_message(exc), 2)
        except click.exceptions.ClickException as exc:
            code = _report(exc.format_message(), exc.exit_code)
        except click.exceptions.Abort:
            code = _report("interrupted", 130)
        except ImgconvError as exc:
            code = _report(str(exc), exc.exit_code)
        except BrokenPipeError:
            # The reader went away (`| head`); nothing useful can be said.
            code = 1
        except MemoryError:
            code = _report("not enough memory for this image and kernel", 1)
        except Exception as exc:  # the promise is: never a traceback
            if os.environ.get("IMGCONV_DEBUG"):
                raise
            message = (
                f"internal error ({type(exc).__name__}: {exc}); set IMGCONV_DEBUG=1 for details"
            )
            code = _report(message, 1)
        if not isinstance(code, int):
            code = 0
        if standalone_mode:
            sys.exit(code)
        return code


def _usage_message(exc: click.exceptions.UsageError) -> str:
    message = exc.format_message()
    # A bad value's message says what was expected; a missing argument or an
    # unknown option is better answered by the command's help.
    from_value = isinstance(exc, click.BadParameter) and not isinstance(exc, click.MissingParameter)
    if not from_value and exc.ctx is not None:
        message += f" (see '{exc.ctx.command_path} --help')"
    return message


@contextmanager
def format_hint(output: str | None, out_format: str | None) -> Iterator[None]:
    """Refusals of OUTPUT's format also say how to choose one when OUTPUT is ``-``.

    Standard output has no suffix: it is written as PNG unless --format
    names another, and "write .tiff" is no help there.
    """
    try:
        yield
    except FormatError as exc:
        if output != "-" or out_format is not None:
            raise
        from .image_io import STDOUT_FORMAT

        names = exc.formats
        choices = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        msg = f"{exc}; standard output is {STDOUT_FORMAT} unless --format names another ({choices})"
        raise FormatError(msg, names) from exc


def _report(message: str, code: int) -> int:
    click.echo("Error: " + " ".join(message.split()), err=True)
    return code


@click.group(name="imgconv", cls=ImgconvGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="imgconv", message="%(prog)s %(version)s")
def cli() -> None:
    """Apply convolution kernels to images: exactly, explainably, in pipelines.

    \b
    Examples:
      imgconv apply sobel-x in.png out.png
      imgconv apply "0,-1,0;-1,5,-1;0,-1,0" photo.jpg - | other-tool
      imgconv kernels list
      imgconv kernels show gaussian:1.5
    """


@cli.command(
    cls=KernelCommand,
    context_settings=CONTEXT_SETTINGS,
    short_help="Filter an image or a matrix with a kernel; print the maps.",
)
@click.argument("kernel", type=KERNEL)
@click.argument("paths", metavar="INPUT [OUTPUT] | INPUT... -o DIR", nargs=-1)
@geometry_options(padding="same", border="edge")
@channel_options
@click.option(
    "--scale",
    type=FiniteFloat(nonzero=True),
    default=None,
    help="Divide the weights by this number (replaces the kernel's own divisor).",
)
@click.option(
    "--bias",
    type=FiniteFloat(),
    default=None,
    help="Add this after scaling, in output units (128 is mid-grey for 8-bit); replaces the "
    "kernel's own bias.",
)
@click.option(
    "--normalize",
    is_flag=True,
    help="Divide the weights by their sum; a zero-sum kernel is divided by the sum of its "
    "positive weights instead.",
)
@click.option(
    "--combine",
    type=click.Choice(["magnitude", "max", "min", "sum", "stack", "chain"]),
    default=None,
    help="How the results of several kernels (a set such as sobel or kirsch:@, or a file "
    "of kernels) become one: magnitude sqrt(a^2+b^2+...), max, min, sum, stack (keep "
    "every map: a page each in .tiff, one .npy, a block each in .txt/.csv), or chain "
    "(each kernel filters the previous result, as ImageMagick does). Sets have their own "
    "rule; a file of kernels needs this.",
)
@output_options
@click.option(
    "--method",
    type=click.Choice(["auto", "direct", "separable", "fft"]),
    default="auto",
    show_default=True,
    help="How to compute: auto picks the cheapest by a model of the work (-v says which); "
    "direct (a multiply-add per kernel cell), separable (kernels of rank 1 to 3), fft. All "
    "give the same numbers to float precision.",
)
@frame_option(every=True)
@limit_option
@memory_option
@print_options
@batch_options
@click.option("-v", "--verbose", is_flag=True, help="Say on stderr what was computed, and how.")
def apply(
    kernel: KernelSet | Bank | str,
    paths: tuple[str, ...],
    flip: bool,
    padding: Padding,
    border: Border,
    stride: tuple[int, int],
    dilation: tuple[int, int],
    anchor: tuple[int, int] | None,
    channels: str,
    alpha: str,
    scale: float | None,
    bias: float | None,
    normalize: bool,
    combine: Any,
    map_mode: Any,
    depth: Any,
    out_format: str | None,
    method: Any,
    quality: int | None,
    compression: int | None,
    frame: int | None,
    max_pixels: int | None,
    memory_limit: int | Literal["auto"] | None,
    print_as: str | None,
    print_to: str | None,
    output_dir: str | None,
    name: str | None,
    recursive: bool,
    jobs: int | None,
    keep_going: bool,
    skip_existing: bool,
    scheduler: str | None,
    quiet: bool,
    verbose: bool,
) -> None:
    """Filter INPUT with KERNEL and write OUTPUT (and --print the maps); or many files into DIR.

    KERNEL is a built-in name (see 'imgconv kernels list'), with parameters
    after a colon (box:5, gaussian:1.5, sobel:45, kirsch:@), a kernel file
    (text grid, ImageMagick string, libvips .mat, .npy or .json), an inline
    kernel (rows separated by ';', numbers by ',' or spaces; or
    "3x3: ..."; or JSON), or '-' to read the kernel from standard input.
    INPUT is an image, or a numeric matrix (.txt or .csv grid, .npy) whose
    numbers are used as they are. INPUT and OUTPUT may be '-' for standard
    input and output; OUTPUT may be left out with --print.

    With -o DIR every INPUT (files, quoted globs, directories; --recursive
    for their subdirectories) is filtered into DIR, named by --name, on
    --jobs worker processes, with a progress bar on a terminal.

    \b
    Examples:
      imgconv apply sobel-x camera.png edges.png
      imgconv apply "0,0,1;1,0,0;0,1,1" image.txt --padding valid --print
      imgconv apply gaussian:2 --stride 2 photo.jpg small.png
      imgconv apply sobel-x --map raw camera.png gradient.tiff
      imgconv apply kirsch:@ --combine stack camera.png compass.tiff
      cat photo.png | imgconv apply sharpen - - > sharp.png
      imgconv apply sobel photos/*.jpg -o edges/ --name '{stem}-edges.png'
      imgconv apply box:5 scans/ --recursive -o blurred/ --keep-going --jobs 4
    """
    from .api import apply_file
    from .core.filtering import FilterOptions

    # Everything filter_image takes, for each of the three ways this runs.
    filtering: FilterOptions = {
        "flip": flip,
        "padding": padding,
        "border": border,
        "stride": stride,
        "dilation": dilation,
        "anchor": anchor,
        "channels": channels,
        "alpha": alpha,
        "scale": scale,
        "bias": bias,
        "normalize": normalize,
        "combine": combine,
        "map": map_mode,
        "depth": depth,
        "method": method,
    }
    batch = {
        "--name": name is not None,
        "--recursive": recursive,
        "--jobs": jobs is not None,
        "--keep-going": keep_going,
        "--skip-existing": skip_existing,
        "--scheduler": scheduler is not None,
        "-q": quiet,
    }
    if output_dir is not None:
        if print_as is not None:
            message = "--print shows one input's maps; it cannot be used with -o"
            raise click.UsageError(message)
        _apply_batch(
            kernel,
            paths,
            output_dir,
            name=name,
            recursive=recursive,
            jobs=jobs,
            keep_going=keep_going,
            skip_existing=skip_existing,
            scheduler=scheduler,
            quiet=quiet,
            verbose=verbose,
            format=out_format,
            save={"quality": quality, "compression": compression},
            frame=frame,
            max_pixels=max_pixels,
            memory_limit=memory_limit,
            options=filtering,
        )
        return
    source = click.get_current_context().get_parameter_source("scheduler")
    if source is click.core.ParameterSource.ENVIRONMENT:
        # IMGCONV_SCHEDULER sends batches; a single file stays here unless asked.
        scheduler, batch["--scheduler"] = None, False
    given = [option for option, used in batch.items() if used]
    if given == ["--scheduler"] and scheduler and len(paths) == 2 and print_as is None:
        # One (huge) image, in blocks of rows on the cluster.
        from .distributed import apply_file_on_dask

        with format_hint(paths[1], out_format):
            done = apply_file_on_dask(
                kernel,
                paths[0],
                paths[1],
                scheduler,
                format=out_format,
                save={"quality": quality, "compression": compression},
                frame=frame,
                max_pixels=max_pixels,
                stdin=sys.stdin.buffer,
                stdout=sys.stdout.buffer,
                **filtering,
            )
        for warning in done.warnings:
            click.echo(f"Warning: {warning}", err=True)
        if verbose:
            (h, w), (ho, wo) = done.in_shape, done.out_shape
            click.echo(
                f"imgconv: {kernel if isinstance(kernel, str) else kernel.name} on {done.source} "
                f"{w}x{h} -> {wo}x{ho}, {done.target} {done.format}; {done.blocks} blocks on "
                f"Dask ({scheduler})",
                err=True,
            )
        return
    if given:
        message = f"{given[0]} is for batches of files; add -o DIR"
        raise click.UsageError(message)
    input, output = _input_and_output(paths)
    _check_outputs(output, print_as, print_to)
    single: FilterOptions = {**filtering, "keep_maps": print_as is not None}
    with format_hint(output, out_format):
        applied = apply_file(
            kernel,
            input,
            output,
            format=out_format,
            **single,
            save={"quality": quality, "compression": compression},
            frame=frame,
            max_pixels=max_pixels,
            # Printing needs the maps, which a streamed image never holds.
            memory_limit=None if print_as is not None else memory_limit,
            stdin=sys.stdin.buffer,
            stdout=sys.stdout.buffer,
        )
    for warning in applied.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if print_as is not None:
        _print_maps(applied.maps, print_as, output, print_to)
    if verbose:
        # Images by width x height, as image tools give them; kernels, as
        # matrices, by rows x columns.
        geometry = applied.geometry
        (h, w), (ho, wo) = geometry.in_shape, geometry.out_shape
        shapes = ", ".join(f"{k.shape[0]}x{k.shape[1]}" for k in applied.kernels.kernels)
        written = "nothing written" if output is None else f"{output} {applied.format}"
        depth = "numbers" if applied.numeric else f"{applied.depth}-bit"
        frames = f" ({applied.frames} frames)" if applied.frames > 1 else ""
        click.echo(
            f"imgconv: {applied.kernels.name} ({shapes}{', flipped' if flip else ''}) on "
            f"{input} {w}x{h} {''.join(applied.in_bands)}{frames} -> {wo}x{ho} "
            f"{''.join(applied.out_bands)} {depth}, {written}; padding "
            f"{padding} {geometry.pads}, border {border}, stride {stride[0]},{stride[1]}, "
            f"dilation {dilation[0]},{dilation[1]}, method {', '.join(applied.methods)}"
            f"{', streamed in bands' if applied.streamed else ''}",
            err=True,
        )


@cli.command(
    cls=KernelCommand,
    context_settings=CONTEXT_SETTINGS,
    short_help="Apply a bank of deep kernels like a CNN layer: K feature maps.",
)
@click.argument("bank", metavar="BANK")
@click.argument("input", metavar="INPUT")
@click.argument("output", metavar="[OUTPUT]", required=False)
@geometry_options(padding="0", border="zero")
@click.option(
    "--bias",
    "biases",
    default=None,
    metavar="B|B1,B2,...",
    help="A bias per kernel (or one for all), added to each map; replaces the bank's own.",
)
@click.option(
    "--activation",
    type=click.Choice(["relu", "leaky-relu", "sigmoid", "tanh"]),
    default=None,
    help="Applied to every map after the bias.",
)
@click.option(
    "--leak",
    type=FiniteFloat(),
    default=0.01,
    show_default=True,
    help="The slope of leaky-relu below 0.",
)
@click.option(
    "--pool",
    type=click.Choice(["max", "avg"]),
    default=None,
    help="Pool every map after the activation (windows that do not fit are dropped).",
)
@click.option(
    "--pool-size",
    default="2",
    show_default=True,
    metavar="N|PY,PX",
    help="The pooling window.",
)
@click.option(
    "--pool-stride",
    default=None,
    metavar="N|SY,SX",
    help="Step between pooling windows; the window size by default.",
)
@click.option(
    "--montage",
    is_flag=True,
    help="Write the maps as a labelled grid of grey images (each stretched to its own "
    "min..max) in an image format such as .png.",
)
@click.option(
    "--format",
    "out_format",
    default=None,
    metavar="FMT",
    help="Output format (tiff, npy, txt, csv; png and others with --montage); from OUTPUT's "
    "suffix by default.",
)
@frame_option(every=False)
@limit_option
@print_options
@click.option("-q", "--quiet", is_flag=True, help="Do not report the volumes and parameters.")
def features(
    bank: str,
    input: str,
    output: str | None,
    flip: bool,
    padding: Padding,
    border: Border,
    stride: tuple[int, int],
    dilation: tuple[int, int],
    anchor: tuple[int, int] | None,
    biases: str | None,
    activation: Any,
    leak: float,
    pool: str | None,
    pool_size: str,
    pool_stride: str | None,
    montage: bool,
    out_format: str | None,
    frame: int,
    max_pixels: int | None,
    print_as: str | None,
    print_to: str | None,
    quiet: bool,
) -> None:
    """Apply a bank of K kernels to INPUT like a convolutional layer: K feature maps.

    BANK holds K kernels as deep as INPUT: a K x C x F x F .npy (or C x F x F
    for one kernel), a JSON list of that shape, or a text grid whose kernels
    are separated by '---' lines and whose channel slices by blank lines. A
    2-D kernel (a built-in, or each kernel of a file of 2-D kernels) is
    broadcast over the channels. The defaults are a CNN layer's: no padding,
    zero border, applied as written (cross-correlation). The K maps go to
    OUTPUT as a multi-page float .tiff, a K x H x W .npy, .txt/.csv, or a
    labelled picture with --montage. The output volume and the parameter
    count K*F*F*C + K are reported on stderr.

    \b
    Examples:
      imgconv features bank.npy photo.png maps.tiff
      imgconv features edges.txt camera.png maps.png --montage --activation relu
      imgconv features sobel-x image.txt --padding 1 --print
    """
    from .api import features_file
    from .core.layer import formula, pooling, volume_text

    _check_outputs(output, print_as, print_to)
    pooled = None
    if pool is not None:
        pooled = pooling(pool, pool_size, pool_stride)
    elif pool_stride is not None or pool_size != "2":
        message = "--pool-size and --pool-stride shape the pooling; add --pool max or --pool avg"
        raise click.UsageError(message)
    with format_hint(output, out_format):
        done = features_file(
            bank,
            input,
            output,
            format=out_format,
            montage=montage,
            flip=flip,
            padding=padding,
            border=border,
            stride=stride,
            dilation=dilation,
            anchor=anchor,
            bias=_bias_list(biases),
            activation=activation,
            leak=leak,
            pool=pooled,
            frame=frame,
            max_pixels=max_pixels,
            stdin=sys.stdin.buffer,
            stdout=sys.stdout.buffer,
        )
    result = done.result
    k, c, fh, fw = result.bank.shape
    if not quiet:
        (ho, wo), maps = result.conv_shape, result.maps
        kernels_text = f"{k} kernel{'s' if k > 1 else ''} {fh} x {fw} x {c}"
        steps = [f"{volume_text(done.in_shape)} input", kernels_text]
        pads = result.geometry.pads
        padded = str(pads[0]) if len(set(pads)) == 1 else ",".join(map(str, pads)) + " (T,B,L,R)"
        conv = (
            f"-> {volume_text((ho, wo, k))} (padding {padded}, border {border}, stride "
            f"{stride[0]},{stride[1]}, dilation {dilation[0]},{dilation[1]})"
        )
        if pooled is not None:
            conv += (
                f", {pooled.kind} pool {pooled.size[0]}x{pooled.size[1]} stride "
                f"{pooled.stride[0]},{pooled.stride[1]} -> "
                f"{volume_text((maps.shape[1], maps.shape[2], k))}"
            )
        click.echo(
            f"features: {', '.join(steps)} {conv}; parameters {formula(result.bank)}", err=True
        )
    if print_as is not None:
        labelled = list(zip(result.names, result.maps, strict=True))
        _print_maps(labelled, print_as, output, print_to)


def _bias_list(text: str | None) -> list[float] | None:
    """``--bias`` as numbers; a bad list is a usage error naming it."""
    if text is None:
        return None
    try:
        values = [float(part) for part in text.replace(" ", "").split(",")]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) for v in values):
        message = f"--bias {text!r} is not a number or a list such as 0.5,-1,0"
        raise click.BadParameter(message, param_hint="'--bias'")
    return values


def _input_and_output(paths: tuple[str, ...]) -> tuple[str, str | None]:
    """INPUT and OUTPUT of a one-file apply, from the paths given."""
    context = click.get_current_context()
    if not paths:
        message = "missing INPUT; give an image file or '-'"
        raise click.UsageError(message, ctx=context)
    if len(paths) > 2:
        listed = ", ".join(repr(p) for p in paths[:4]) + (", ..." if len(paths) > 4 else "")
        message = (
            f"{len(paths)} paths given ({listed}); expected INPUT and OUTPUT, or several "
            "inputs with -o DIR"
        )
        raise click.UsageError(message)
    if os.path.isdir(paths[0]):
        message = f"INPUT {paths[0]!r} is a directory; filter the images in it with -o DIR"
        raise click.UsageError(message)
    return paths[0], paths[1] if len(paths) == 2 else None


def _apply_batch(
    kernel: KernelSet | Bank | str,
    paths: tuple[str, ...],
    output_dir: str,
    *,
    name: str | None,
    recursive: bool,
    jobs: int | None,
    keep_going: bool,
    skip_existing: bool,
    scheduler: str | None,
    quiet: bool,
    verbose: bool,
    **settings: Any,
) -> None:
    """``apply ... -o DIR``: every input into DIR, a progress bar, failures and a summary."""
    import time

    from .batch import DEFAULT_NAME, Outcome, apply_many
    from .render import ProgressBar

    if not paths:
        message = "missing INPUT; give the files to filter into -o DIR"
        raise click.UsageError(message)
    started = time.perf_counter()
    bar = ProgressBar("imgconv", "files", enabled=not quiet)

    def report(outcome: Outcome) -> None:
        if outcome.status == "failed":
            # Most messages name the file already; the others get its name.
            error = outcome.error or ""
            named = outcome.source in error
            bar.say(f"Error: {error}" if named else f"Error: {outcome.source}: {error}")
        elif outcome.status == "written":
            for warning in outcome.warnings:
                bar.say(f"Warning: {outcome.source}: {warning}")
            if verbose:
                bar.say(f"imgconv: {outcome.source} -> {outcome.target} ({outcome.seconds:.2f} s)")
        bar.advance()

    with bar:
        outcomes = apply_many(
            kernel,
            paths,
            output_dir,
            name=name or DEFAULT_NAME,
            recursive=recursive,
            jobs=jobs,
            keep_going=keep_going,
            skip_existing=skip_existing,
            scheduler=scheduler,
            stdin=sys.stdin.buffer,
            planned=lambda total: bar.update(0, total),
            progress=report,
            format=settings["format"],
            save=settings["save"],
            frame=settings["frame"],
            max_pixels=settings["max_pixels"],
            memory_limit=settings["memory_limit"],
            **settings["options"],
        )
    failed = [o for o in outcomes if o.status == "failed"]
    if not quiet or failed:
        click.echo(_batch_summary(outcomes, time.perf_counter() - started), err=True)
    if failed:
        click.get_current_context().exit(max(o.exit_code for o in failed))


def _batch_summary(outcomes: list[Any], seconds: float) -> str:
    """``imgconv: 28 written, 2 failed (a.png, b.png) of 30 files in 4.1 s``."""
    counts: dict[str, list[str]] = {}
    for outcome in outcomes:
        counts.setdefault(outcome.status, []).append(outcome.source)
    parts = []
    for status in ("written", "skipped", "failed", "not run"):
        sources = counts.get(status, [])
        if not sources and status != "written":
            continue
        part = f"{len(sources)} {status}"
        if status == "failed":
            part += " (" + ", ".join(sources) + ")"
        parts.append(part)
    noun = "file" if len(outcomes) == 1 else "files"
    summary = f"imgconv: {', '.join(parts)} of {len(outcomes)} {noun} in {seconds:.1f} s"
    if "not run" in counts:
        summary += "; stopped at the first failure (--keep-going goes on past failures)"
    return summary


def _check_outputs(output: str | None, print_as: str | None, print_to: str | None) -> None:
    """Refuse, before any work, output that has nowhere to go or would reach a terminal."""
    from .image_io import is_terminal

    if output is None and print_as is None:
        message = "missing OUTPUT; give an output file, '-', or --print"
        raise click.UsageError(message)
    if print_to is not None and print_as is None:
        message = "--print-to names where --print writes; add --print"
        raise click.UsageError(message)
    if output == "-" and is_terminal(sys.stdout):
        message = (
            "refusing to write binary image data to a terminal; "
            "redirect standard output or give an OUTPUT file"
        )
        raise click.UsageError(message)
    if print_as == "npy" and print_to is None:
        stream = sys.stdout if output is None else sys.stderr
        if is_terminal(stream):
            where = "standard output" if output is None else "standard error"
            message = (
                f"refusing to write .npy data to a terminal ({where}); "
                "redirect it or use --print-to FILE"
            )
            raise click.UsageError(message)


def _print_maps(
    maps: Sequence[tuple[str, NDArray[np.floating]]],
    how: str,
    output: str | None,
    print_to: str | None,
) -> None:
    """Print the maps where the rules say: see ``--print``'s help."""
    from .image_io import write_output
    from .matrix_io import Encoded, encode_numbers, write_encoded
    from .render import PIPE_WIDTH, feature_maps, make_console, render_text

    if how == "table" and print_to is None:
        console = make_console(stderr=output == "-")
        console.print(feature_maps(maps, console.width))
        return
    data: Encoded
    if how == "table":
        data = render_text(feature_maps(maps, PIPE_WIDTH)).encode("utf-8")
    elif len(maps) == 1:
        data = encode_numbers(maps[0][1], how.upper())
    elif how == "csv":  # a block per map, each after its name
        blocks = [encode_numbers(values, "CSV", names=[label]) for label, values in maps]
        data = b"\n".join(bytes(block) for block in blocks)
    else:
        import numpy

        data = encode_numbers(numpy.stack([values for _, values in maps]), "NPY")
    if print_to is not None:
        write_output(data, print_to)
    else:
        stream = sys.stdout.buffer if output is None else sys.stderr.buffer
        write_encoded(stream, data)
        stream.flush()


@cli.group(context_settings=CONTEXT_SETTINGS)
def kernels() -> None:
    """List the built-in kernels, or show one as it will be applied."""


@kernels.command("list", context_settings=CONTEXT_SETTINGS)
def kernels_list() -> None:
    """Every built-in kernel with its parameters and a one-line description."""
    from .core.catalog import BUILTINS
    from .render import catalogue_table, make_console

    make_console().print(catalogue_table(BUILTINS.values()))


@kernels.command("show", cls=KernelCommand, context_settings=CONTEXT_SETTINGS)
@click.argument("kernel", type=KERNEL)
@click.option(
    "--flip", is_flag=True, help="Show the kernel rotated 180 degrees, as --flip applies it."
)
@click.option(
    "--scale",
    type=FiniteFloat(nonzero=True),
    default=None,
    help="Show it with this divisor, as apply --scale would use it.",
)
@click.option(
    "--bias", type=FiniteFloat(), default=None, help="Show it with this bias, as apply --bias."
)
@click.option("--normalize", is_flag=True, help="Show it normalised, as apply --normalize.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print {"name", "weights", "anchor", "bias"} with the weights as applied (scale '
    "folded in); a set prints its kernels and how they combine.",
)
def kernels_show(
    kernel: KernelSet | Bank | str,
    flip: bool,
    scale: float | None,
    bias: float | None,
    normalize: bool,
    as_json: bool,
) -> None:
    """Draw KERNEL exactly as apply would use it (a built-in, a file or an inline kernel).

    The matrix is shown as written, with its scale, bias and anchor; the
    applied weights are the matrix divided by the scale. '-' reads the
    kernel from standard input.

    \b
    Examples:
      imgconv kernels show sobel-x
      imgconv kernels show gaussian:1.5 --json
      imgconv kernels show my-kernel.txt --flip
      imgconv kernels show "3x3: 0,-1,0 -1,5,-1 0,-1,0"
    """
    import json

    from .core.catalog import BUILTINS
    from .core.filtering import prepare_kernels
    from .core.kernels import Bank

    if isinstance(kernel, str):
        from .kernel_source import resolve_kernel

        kernel = resolve_kernel(kernel, stdin=sys.stdin.buffer)
    if isinstance(kernel, Bank):
        if as_json:
            click.echo(json.dumps(_bank_json(kernel)))
            return
        from .render import describe_bank, make_console

        make_console().print(describe_bank(kernel))
        return
    kernel = prepare_kernels(kernel, scale=scale, bias=bias, normalize=normalize)
    if flip:
        kernel = kernel.map_kernels(lambda k: k.flipped())
    if as_json:
        click.echo(json.dumps(_kernel_json(kernel)))
        return
    from .render import describe_set, make_console

    entry = BUILTINS.get(kernel.name.partition(":")[0].lower())
    make_console().print(
        describe_set(kernel, flipped=flip, elsewhere=entry.elsewhere if entry else "")
    )


def _kernel_json(kernels: KernelSet) -> dict[str, Any]:
    def one(k: Any) -> dict[str, Any]:
        data = {
            "name": k.name,
            "weights": k.matrix.tolist(),
            "anchor": list(k.origin),
            "bias": k.bias,
        }
        if k.present is not None:
            data["absent"] = [
                [int(y), int(x)] for y, x in zip(*(~k.present).nonzero(), strict=True)
            ]
        return data

    if len(kernels.kernels) == 1:
        return one(kernels.kernels[0]) | {"name": kernels.name}
    return {
        "name": kernels.name,
        "combine": kernels.combine,
        "bias": kernels.bias,
        "kernels": [one(k) for k in kernels.kernels],
    }


def _bank_json(bank: Bank) -> dict[str, Any]:
    return {"name": bank.name, "weights": bank.weights.tolist(), "bias": bank.bias.tolist()}


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="imgconv")


@cli.command(
    "explain",
    cls=KernelCommand,
    context_settings=CONTEXT_SETTINGS,
    short_help="Show a convolution step by step: windows, products, sums.",
)
@click.argument("kernel", type=KERNEL)
@click.argument("input", metavar="INPUT")
@geometry_options(padding="same", border="edge")
@click.option(
    "--scale",
    type=FiniteFloat(nonzero=True),
    default=None,
    help="Divide the weights by this number (replaces the kernel's own divisor), as apply.",
)
@click.option(
    "--bias",
    type=FiniteFloat(),
    default=None,
    help="Add this after scaling, in the input's units; replaces the kernel's own bias.",
)
@click.option(
    "--normalize",
    is_flag=True,
    help="Divide the weights by their sum (a zero-sum kernel by the sum of its positive "
    "weights), as apply.",
)
@click.option(
    "--channel",
    default=None,
    metavar="NAME",
    help="The band of a multi-band INPUT to explain: r, g, b, a or l for an image, c1, c2, "
    "... for a numeric matrix; the first by default.",
)
@click.option(
    "--at",
    default=None,
    metavar="ROW,COL",
    help="Explain the output cells from ROW,COL of the whole feature map on (from 0), with "
    "the whole image's padding and border, showing only the part of the padded input they "
    "read. Needed when the output is larger than 16x16.",
)
@click.option(
    "--window",
    type=click.IntRange(1, 16),
    default=None,
    metavar="N",
    help="With --at: explain N x N output cells (default 5; fewer at the edges).",
)
@click.option(
    "--steps",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    metavar="N",
    help="How many output positions to spell out (window, products, sum, value); 0 for none.",
)
@frame_option(every=False)
@limit_option
def explain(
    kernel: KernelSet | Bank | str,
    input: str,
    frame: int,
    max_pixels: int | None,
    flip: bool,
    padding: Padding,
    border: Border,
    stride: tuple[int, int],
    dilation: tuple[int, int],
    anchor: tuple[int, int] | None,
    scale: float | None,
    bias: float | None,
    normalize: bool,
    channel: str | None,
    at: str | None,
    window: int | None,
    steps: int,
) -> None:
    """Show step by step how KERNEL turns INPUT into a feature map, as course slides do.

    The padded input (padding outside the lines), the kernel as applied, the
    output-size arithmetic (W - F + 2P)/S + 1 with your numbers, then for the
    first --steps output positions the window under the kernel, the products,
    their sum and the value placed in the feature map, and finally the whole
    feature map. The numbers are the ones apply computes. KERNEL is one 2-D
    kernel, in any form apply takes; INPUT an image (explained in its units:
    0..255 for 8-bit) or a numeric matrix (.txt, .csv, .npy), or '-'.

    \b
    Examples:
      imgconv explain "1,1,1;1,1,1;1,1,1" image.txt --padding valid
      imgconv explain "0,0,1;1,0,0;0,1,1" image.txt --padding 1 --border zero --stride 2
      imgconv explain sobel-x camera.png --at 100,200 --window 3 --steps 1
    """
    from .api import single_kernel
    from .core.explain import DEFAULT_WINDOW
    from .core.explain import explain as explain_plane
    from .errors import UsageError
    from .image_io import read_picture
    from .render import describe_explanation, make_console

    if kernel == "-" and input == "-":
        message = "KERNEL and INPUT cannot both be '-': standard input holds only one of them"
        raise UsageError(message)
    if window is not None and at is None:
        message = f"--window {window} sets how much --at explains; add --at ROW,COL"
        raise UsageError(message)
    one = single_kernel(kernel, sys.stdin.buffer, scale=scale, bias=bias, normalize=normalize)
    picture = read_picture(input, stdin=sys.stdin.buffer, frame=frame, max_pixels=max_pixels)
    source = "standard input" if input == "-" else repr(input)
    index, about, notes = _explained_band(picture, channel, source)
    done = explain_plane(
        picture.pixels[:, :, index],
        one,
        flip=flip,
        padding=padding,
        border=border,
        stride=stride,
        dilation=dilation,
        anchor=anchor,
        at=at,
        window=DEFAULT_WINDOW if window is None else window,
        steps=steps,
    )
    make_console().print(describe_explanation(done, source=source, about=about, notes=notes))


def _explained_band(
    picture: Picture, channel: str | None, source: str
) -> tuple[int, str, list[str]]:
    """The index of the band --channel names, and what to say about the input."""
    from .errors import UsageError

    bands = picture.bands
    index = 0
    if channel is not None:
        wanted = channel.strip().upper()
        if wanted not in bands:
            message = (
                f"--channel {channel!r} is not a band of {source} ({' '.join(bands)}); "
                f"expected one of {', '.join(b.lower() for b in bands)}"
            )
            raise UsageError(message)
        index = bands.index(wanted)
    kind = picture.pixels.dtype.kind
    if picture.numeric:
        units = "numbers used as they are"
    elif kind == "f":
        units = "float values (0..1 nominal)"
    else:
        top = int(2 ** (8 * picture.pixels.dtype.itemsize) - 1)
        units = f"{8 * picture.pixels.dtype.itemsize}-bit values 0..{top}"
    if len(bands) == 1:
        return index, units, []
    about = f"channel {bands[index]} of {' '.join(bands)}, {units}"
    notes = [f"--channel picks another of {', '.join(b.lower() for b in bands)}."]
    if "A" in bands and bands[index] != "A":
        notes.append("Alpha is not used: the channel is filtered alone, as apply --alpha plain.")
    return index, about, notes


# deconvolve and blur live in their own module, which imports helpers from this one.
from .cli_restore import blur, deconvolve  # noqa: E402

cli.add_command(deconvolve)
cli.add_command(blur)
