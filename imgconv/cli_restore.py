"""The ``deconvolve`` and ``blur`` commands: undo a known blur, or make a test case.

Registered on the ``imgconv`` group at the end of :mod:`imgconv.cli`. The
work is :mod:`imgconv.restore`'s; this module parses and reports, and
shows Richardson-Lucy's progress with :class:`imgconv.render.ProgressBar`.
NumPy, SciPy, Pillow and rich are imported inside the commands, so
``imgconv --help`` stays quick.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .options import (
    CONTEXT_SETTINGS,
    KERNEL,
    FiniteFloat,
    KernelCommand,
    channel_options,
    frame_option,
    limit_option,
    output_options,
    print_options,
)

if TYPE_CHECKING:
    from .restore import Restored

F = TypeVar("F", bound=Callable[..., Any])


def _shared_options(command: F) -> F:
    """``apply``'s options for channels, alpha, values, output, frames and printing."""
    options = [
        click.option(
            "--psf-image",
            default=None,
            metavar="FILE",
            help="An image of the PSF (grey, or colour taken as its luminance; alpha is "
            "ignored), used instead of the PSF argument: give only INPUT and OUTPUT.",
        ),
        channel_options,
        output_options,
        frame_option(every=True),
        limit_option,
        print_options,
        click.option("-v", "--verbose", is_flag=True, help="Say on stderr what was done."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _psf_arguments(command: F) -> F:
    """``PSF INPUT [OUTPUT]``; with ``--psf-image`` the first two are INPUT and OUTPUT."""
    command = click.argument("output", metavar="[OUTPUT]", required=False)(command)
    command = click.argument("input", metavar="INPUT", required=False)(command)
    return click.argument("psf", metavar="PSF")(command)


@click.command(
    "deconvolve",
    cls=KernelCommand,
    context_settings=CONTEXT_SETTINGS,
    short_help="Undo a known blur (PSF): Wiener, Richardson-Lucy or inverse filter.",
)
@_psf_arguments
@click.option(
    "--method",
    type=click.Choice(["wiener", "richardson-lucy", "inverse"]),
    default="wiener",
    show_default=True,
    help="wiener: one pass in the frequency domain, with --balance; richardson-lucy: "
    "iterative, never negative, with --iterations; inverse: divide by the blur's spectrum "
    "where it is at least --cutoff (for teaching: it shows why the others exist).",
)
@click.option(
    "--balance",
    type=FiniteFloat(),
    default=None,
    metavar="NSR",
    help="wiener: the noise-to-signal power ratio, > 0; 0.01 by default. Smaller recovers "
    "more detail from a clean image (0.001), larger smooths a noisy one (0.05).",
)
@click.option(
    "--iterations",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="richardson-lucy: how many updates; 50 by default. More recover more detail, and "
    "more noise.",
)
@click.option(
    "--cutoff",
    type=FiniteFloat(),
    default=None,
    metavar="C",
    help="inverse: drop the frequencies the PSF passes at less than C (of 1), 0 < C <= 1; "
    "0.1 by default.",
)
@_shared_options
@click.option(
    "-q", "--quiet", is_flag=True, help="No progress bar (shown on a terminal for long runs)."
)
def deconvolve(
    psf: str,
    input: str | None,
    output: str | None,
    method: Any,
    balance: float | None,
    iterations: int | None,
    cutoff: float | None,
    quiet: bool,
    **shared: Any,
) -> None:
    """Undo the blur PSF in INPUT and write OUTPUT (and --print the recovered maps).

    \b
    The blur is true convolution with PSF (what 'imgconv blur' makes);
    channels, alpha, depth, --map, frames and '-' for standard input and
    output work as in apply. The image is extended beyond its borders
    (mirrored, fading to its mean) before the transforms, so its edges do
    not wrap around.

    PSF is the blur, in any kernel form apply takes: a built-in (gaussian:2,
    motion:15,30, box:5, disk:4), a kernel file, an inline matrix, or '-' for
    standard input; or give an image of it with --psf-image FILE and leave PSF
    out. It is normalised to sum 1.

    \b
    Examples:
      imgconv deconvolve gaussian:2 blurred.png sharp.png
      imgconv deconvolve motion:15,30 --method richardson-lucy --iterations 30 in.png out.png
      imgconv deconvolve --psf-image star.png photo.jpg restored.png --balance 0.05
      imgconv blur gaussian:2 in.png - | imgconv deconvolve gaussian:2 - out.png
    """  # noqa: D301 (click keeps a paragraph after a backspace line unwrapped)
    from .cli import format_hint
    from .render import ProgressBar
    from .restore import deconvolve_file

    psf_arg, source, target = _arguments(psf, input, output, shared["psf_image"])
    _check(target, shared)
    bar = ProgressBar("richardson-lucy", "iterations", enabled=not quiet, delay=0.5)
    try:
        with format_hint(target, shared["out_format"]):
            done = deconvolve_file(
                psf_arg,
                source,
                target,
                method=method,
                balance=balance,
                iterations=iterations,
                cutoff=cutoff,
                progress=bar.update,
                **_file_options(shared),
            )
    finally:
        bar.close()
    _report(done, shared)


@click.command(
    "blur",
    cls=KernelCommand,
    context_settings=CONTEXT_SETTINGS,
    short_help="Blur an image with a PSF, with optional noise: a deconvolution test case.",
)
@_psf_arguments
@click.option(
    "--noise",
    type=FiniteFloat(),
    default=0.0,
    metavar="SIGMA",
    help="Add Gaussian noise of this standard deviation after the blur, in the output's "
    "units (0..255 for 8-bit, 0..65535 for 16-bit, 0..1 for a float image); none by default.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Seed the noise, so the same command gives the same image; a fresh seed by default.",
)
@_shared_options
def blur(
    psf: str,
    input: str | None,
    output: str | None,
    noise: float,
    seed: int | None,
    **shared: Any,
) -> None:
    """Blur INPUT with PSF (and add noise): a known blur, to try deconvolve on.

    \b
    True convolution with PSF normalised to sum 1 ('imgconv apply PSF --flip'
    with the edge border): a single bright pixel becomes the PSF. Then
    --noise adds Gaussian noise before rounding. Channels, alpha, depth,
    frames and '-' work as in apply.

    PSF is the blur, in any kernel form apply takes: a built-in (gaussian:2,
    motion:15,30, box:5, disk:4), a kernel file, an inline matrix, or '-' for
    standard input; or give an image of it with --psf-image FILE and leave PSF
    out.

    \b
    Examples:
      imgconv blur motion:15,30 camera.png blurred.png --noise 2 --seed 1
      imgconv blur gaussian:2 in.png - | imgconv deconvolve gaussian:2 - out.png
    """  # noqa: D301 (click keeps a paragraph after a backspace line unwrapped)
    from .cli import format_hint
    from .restore import blur_file

    if noise < 0:
        message = f"{noise!r} is not a standard deviation; expected a number >= 0"
        raise click.BadParameter(message, param_hint="'--noise'")
    psf_arg, source, target = _arguments(psf, input, output, shared["psf_image"])
    _check(target, shared)
    with format_hint(target, shared["out_format"]):
        done = blur_file(psf_arg, source, target, noise=noise, seed=seed, **_file_options(shared))
    _report(done, shared)


def _arguments(
    first: str, second: str | None, third: str | None, psf_image: str | None
) -> tuple[Any, str, str | None]:
    """``(PSF, INPUT, OUTPUT)`` from the positional arguments, the PSF resolved."""
    ctx = click.get_current_context()
    if psf_image is not None:
        if third is not None:
            message = (
                f"--psf-image gives the PSF, so the arguments are INPUT and OUTPUT; got a "
                f"third, {third!r}"
            )
            raise click.UsageError(message, ctx=ctx)
        return None, first, second
    if second is None:
        raise click.MissingParameter(ctx=ctx, param=_param(ctx, "input"))
    if first == "-" and second == "-":
        message = "PSF and INPUT cannot both be '-': standard input holds only one of them"
        raise click.UsageError(message, ctx=ctx)
    return KERNEL.convert(first, _param(ctx, "psf"), ctx), second, third


def _param(ctx: click.Context, name: str) -> click.Parameter:
    return next(p for p in ctx.command.params if p.name == name)


def _check(target: str | None, shared: dict[str, Any]) -> None:
    from .cli import _check_outputs

    _check_outputs(target, shared["print_as"], shared["print_to"])


def _file_options(shared: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of deconvolve_file and blur_file from the shared options."""
    return {
        "psf_image": shared["psf_image"],
        "channels": shared["channels"],
        "alpha": shared["alpha"],
        "map": shared["map_mode"],
        "depth": shared["depth"],
        "format": shared["out_format"],
        "save": {"quality": shared["quality"], "compression": shared["compression"]},
        "frame": shared["frame"],
        "max_pixels": shared["max_pixels"],
        "keep_maps": shared["print_as"] is not None,
        "stdin": sys.stdin.buffer,
        "stdout": sys.stdout.buffer,
    }


def _report(done: Restored, shared: dict[str, Any]) -> None:
    """Warnings, --print and --verbose, after the work."""
    from .cli import _print_maps

    for warning in done.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if shared["print_as"] is not None:
        _print_maps(done.maps, shared["print_as"], done.target, shared["print_to"])
    if shared["verbose"]:
        kh, kw = done.psf.shape
        ay, ax = done.psf.origin
        settings = ", ".join(f"{name} {value:g}" for name, value in done.settings)
        what = "blur" if done.method == "blur" else f"deconvolve {done.method}"
        written = "nothing written" if done.target is None else f"{done.target} {done.format}"
        depth = "numbers" if done.numeric else f"{done.depth}-bit"
        frames = f" ({done.frames} frames)" if done.frames > 1 else ""
        click.echo(
            f"imgconv: {what}{f' ({settings})' if settings else ''} with PSF {done.psf.name} "
            f"({kh}x{kw}, centre {ay},{ax}) on {done.source} {done.in_shape[1]}x"
            f"{done.in_shape[0]} {''.join(done.in_bands)}{frames} "
            f"-> {''.join(done.out_bands)} {depth}, {written}",
            err=True,
        )
