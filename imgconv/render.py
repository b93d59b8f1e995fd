"""Rich renderables for the terminal: kernel matrices and the kernel catalogue.

Nothing here computes a filter or decides where output goes: functions build
renderables, and the caller prints them on the console it chose (stdout, or
stderr when stdout carries an image). Colour follows rich's rules: off when
the stream is not a terminal or ``NO_COLOR`` is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from .core.catalog import Builtin
from .core.kernels import Kernel, KernelSet

_COMBINE_WORDS = {
    "magnitude": "the gradient magnitude sqrt(a^2 + b^2 + ...) of these kernels' results",
    "max": "the maximum of these kernels' results",
    "min": "the minimum of these kernels' results",
    "sum": "the sum of these kernels' results",
}


#: Width used when the output is not a terminal (a file or a pipe), so that
#: tables are not wrapped at rich's default of 80 columns.
PIPE_WIDTH = 120


def make_console(*, stderr: bool = False) -> Console:
    """A console on stdout or stderr; colour only on a terminal without NO_COLOR."""
    console = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


def format_number(value: float, digits: int = 6) -> str:
    """Integers as integers, other numbers with just enough digits (up to ``digits``).

    Examples
    --------
    >>> format_number(16.0), format_number(-0.0625), format_number(1 / 3)
    ('16', '-0.0625', '0.333333')
    >>> format_number(1 / 3, digits=4)
    '0.3333'
    """
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{digits}g}"


def kernel_matrix(kernel: Kernel) -> Table:
    """The weights as written (4 significant digits), negatives in red.

    The anchor cell is in brackets, which shows without colour too.
    """
    table = Table(show_header=False, show_edge=True, box=None, padding=(0, 1))
    kh, kw = kernel.shape
    for _ in range(kw):
        table.add_column(justify="right")
    ay, ax = kernel.origin
    for y in range(kh):
        cells = []
        for x in range(kw):
            value = float(kernel.weights[y, x])
            style = "red" if value < 0 else ("dim" if value == 0 else "")
            text = format_number(value, digits=4)
            if (y, x) == (ay, ax):
                text = f"[{text}]"
                style = (style + " bold").strip()
            cells.append(Text(text, style=style))
        table.add_row(*cells)
    return table


def describe_kernel(kernel: Kernel, *, flipped: bool = False) -> RenderableType:
    """Heading, matrix, and the scale and bias it is applied with."""
    kh, kw = kernel.shape
    ay, ax = kernel.origin
    how = "flipped (true convolution)" if flipped else "applied as written (correlation)"
    lines: list[RenderableType] = [
        Text.assemble((kernel.name, "bold"), f"  {kh}x{kw}, anchor {ay},{ax} (in brackets), {how}"),
        kernel_matrix(kernel),
    ]
    notes = []
    if kernel.scale != 1:
        notes.append(f"divided by {format_number(kernel.scale)}")
    if kernel.bias:
        notes.append(f"plus {format_number(kernel.bias)} (bias, in output units)")
    total = float(kernel.matrix.sum())
    notes.append(f"applied weights sum to {format_number(round(total, 12))}")
    lines.append(Text("; ".join(notes), style="italic"))
    return Group(*lines)


def describe_set(kernels: KernelSet, *, flipped: bool = False) -> RenderableType:
    """Every kernel of a set, and how their results combine."""
    parts: list[RenderableType] = []
    if len(kernels.kernels) > 1:
        parts.append(Text.assemble((kernels.name, "bold"), f": {_COMBINE_WORDS[kernels.combine]}"))
    for kernel in kernels.kernels:
        parts.append(describe_kernel(kernel, flipped=flipped))
    if kernels.bias:
        parts.append(Text(f"then plus {format_number(kernels.bias)} (bias)", style="italic"))
    return Group(*parts)


def catalogue_table(builtins: Iterable[Builtin]) -> Table:
    """One row per built-in kernel: name, parameters and what it does."""
    table = Table(box=None, padding=(0, 2, 0, 0), show_edge=False)
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("parameters", no_wrap=True)
    table.add_column("description")
    for entry in builtins:
        table.add_row(entry.name, entry.params, entry.summary)
    return table
