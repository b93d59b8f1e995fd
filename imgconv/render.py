"""Rich renderables for the terminal: kernel matrices, the catalogue, feature maps.

Nothing here computes a filter or decides where output goes: functions build
renderables, and the caller prints them on the console it chose (stdout, or
stderr when stdout carries an image). Colour follows rich's rules: off when
the stream is not a terminal or ``NO_COLOR`` is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray
from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .core.catalog import FAMILIES, Builtin
from .core.kernels import Bank, Kernel, KernelSet
from .core.matrix_text import format_number as format_value

_COMBINE_WORDS = {
    "magnitude": "the gradient magnitude sqrt(a^2 + b^2 + ...) of these kernels' results",
    "max": "the maximum of these kernels' results",
    "min": "the minimum of these kernels' results",
    "sum": "the sum of these kernels' results",
    "stack": "each of these kernels' results, kept as a separate map",
    None: "these kernels, with no rule to combine them: apply needs --combine",
}


#: Width used when the output is not a terminal (a file or a pipe), so that
#: tables are not wrapped at rich's default of 80 columns.
PIPE_WIDTH = 120


def make_console(*, stderr: bool = False, record: bool = False) -> Console:
    """A console on stdout or stderr; colour only on a terminal without NO_COLOR.

    ``record`` makes a console whose output is captured and exported as
    plain text (for ``--print-to FILE``), at :data:`PIPE_WIDTH`.
    """
    console = Console(stderr=stderr, highlight=False, soft_wrap=False, record=record)
    if record or (not console.is_terminal and "COLUMNS" not in os.environ):
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


def format_weight(value: float) -> str:
    """A kernel weight: an integer, an exact small fraction (``1/9``), or 4 digits.

    Examples
    --------
    >>> format_weight(-2.0), format_weight(1 / 9), format_weight(0.0297)
    ('-2', '1/9', '0.0297')
    """
    if value == int(value):
        return format_number(value)
    fraction = Fraction(value).limit_denominator(64)
    if abs(float(fraction) - value) <= 1e-12 * max(1.0, abs(value)):
        return f"{fraction.numerator}/{fraction.denominator}"
    return format_number(value, digits=4)


#: How an absent cell (outside the kernel's neighbourhood) is drawn.
ABSENT = "\u00b7"


def kernel_matrix(kernel: Kernel) -> Table:
    """The weights as written: negatives red, zeros dim, absent cells as a dot.

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
            if kernel.present is not None and not kernel.present[y, x]:
                text, style = ABSENT, "dim"
            else:
                text = format_weight(value)
                style = "red" if value < 0 else ("dim" if value == 0 else "")
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
        notes.append(f"divided by {format_weight(kernel.scale)}")
    if kernel.bias:
        notes.append(f"plus {format_number(kernel.bias)} (bias, in output units)")
    total = float(kernel.matrix.sum())
    notes.append(f"applied weights sum to {format_weight(round(total, 12))}")
    if kernel.present is not None:
        notes.append(f"{ABSENT} marks absent cells (weight 0)")
    lines.append(Text("; ".join(notes), style="italic"))
    return Group(*lines)


def describe_set(
    kernels: KernelSet, *, flipped: bool = False, elsewhere: str = ""
) -> RenderableType:
    """Every kernel of a set, how their results combine, and names elsewhere."""
    parts: list[RenderableType] = []
    if len(kernels.kernels) > 1:
        parts.append(Text.assemble((kernels.name, "bold"), f": {_COMBINE_WORDS[kernels.combine]}"))
    for kernel in kernels.kernels:
        parts.append(describe_kernel(kernel, flipped=flipped))
    if kernels.bias:
        parts.append(Text(f"then plus {format_number(kernels.bias)} (bias)", style="italic"))
    if elsewhere:
        parts.append(Text(f"Elsewhere: {elsewhere}", style="dim"))
    return Group(*parts)


def describe_bank(bank: Bank) -> RenderableType:
    """A convolutional layer's kernels, channel by channel, with their biases."""
    k, c, h, w = bank.shape
    parts: list[RenderableType] = [
        Text.assemble(
            (bank.name, "bold"),
            f"  a bank of {_count(k, 'kernel')}, each {_count(c, 'channel')} deep, {h}x{w}: "
            f"{k} x {c} x {h} x {w} weights + {_count(k, 'bias', 'biases')} = "
            f"{k * c * h * w + k} parameters",
        )
    ]
    for i in range(k):
        for j in range(c):
            parts.append(Text(f"kernel {i}, channel {j}", style="italic"))
            parts.append(kernel_matrix(Kernel(bank.weights[i, j], name=f"{bank.name}[{i}]")))
        parts.append(Text(f"kernel {i} bias {format_number(float(bank.bias[i]))}", style="italic"))
    return Group(*parts)


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def catalogue_table(builtins: Iterable[Builtin]) -> RenderableType:
    """The built-in kernels by family: name, parameters and what each does.

    One title and table per family, with the same column widths throughout.
    """
    entries = list(builtins)
    name_width = max(len(e.name) for e in entries) + 2
    params_width = max(len(e.params) for e in entries)
    parts: list[RenderableType] = []
    for family, title in FAMILIES.items():
        members = [e for e in entries if e.family == family]
        if not members:
            continue
        table = Table(box=None, padding=(0, 2, 0, 0), show_edge=False, show_header=False)
        table.add_column(no_wrap=True, min_width=name_width)
        table.add_column(no_wrap=True, min_width=params_width)
        table.add_column()
        for entry in members:
            table.add_row(Text("  " + entry.name, style="bold"), entry.params, entry.summary)
        parts += [Text(title, style="bold underline"), table]
    return Group(*parts)


# --------------------------------------------------------------------------
# Feature maps

#: Maps with at most this many rows (and that fit the width) print every number.
SMALL_MAP_ROWS = 40
#: Characters of the heat map, from the lowest value to the highest.
HEAT_RAMP = " .:-=+*#%@"
#: Most rows a heat map takes.
HEAT_ROWS = 32


def feature_maps(maps: Sequence[tuple[str, NDArray[np.floating]]], width: int) -> RenderableType:
    """Every map: its numbers when small enough, else a summary and a heat map.

    Parameters
    ----------
    maps : sequence of (str, ndarray)
        Labelled 2-D maps.
    width : int
        The console's width: a map whose table would be wider is summarised.
    """
    parts: list[RenderableType] = []
    for label, values in maps:
        if values.shape[0] <= SMALL_MAP_ROWS and _table_width(values) <= width:
            parts.append(map_table(label, values))
        else:
            parts.append(map_summary(label, values, width))
    return Group(*parts)


def _cells(values: NDArray[np.floating]) -> list[list[str]]:
    return [[format_value(float(v), values.dtype) for v in row] for row in values]


def _table_width(values: NDArray[np.floating]) -> int:
    cells = _cells(values) if values.size <= 4096 else [["0" * 12]]
    widest = max(len(c) for row in cells for c in row)
    rows, columns = int(values.shape[0]), int(values.shape[1])
    index = len(str(rows - 1))
    return index + 1 + columns * (max(widest, len(str(columns - 1))) + 1)


def map_table(label: str, values: NDArray[np.floating]) -> RenderableType:
    """Every number of a small map, with row and column indices.

    Integers print as integers and other numbers with just enough digits to
    read back the same; negative numbers are red and zeros dim (the minus
    sign shows without colour).
    """
    h, w = values.shape
    table = Table(box=None, padding=(0, 0, 0, 1), show_edge=False, header_style="dim")
    table.add_column("", justify="right", style="dim")
    for x in range(w):
        table.add_column(str(x), justify="right")
    for y, row in enumerate(_cells(values)):
        cells = [Text(str(y))]
        for text, value in zip(row, values[y], strict=True):
            style = "red" if value < 0 else ("dim" if value == 0 else "")
            cells.append(Text(text, style=style))
        table.add_row(*cells)
    heading = Text.assemble((label, "bold"), f"  {h} x {w}")
    return Group(heading, table)


def map_summary(label: str, values: NDArray[np.floating], width: int) -> RenderableType:
    """Shape, min, max and mean, and a heat map downsampled to fit ``width``.

    Each character is the mean of a block of the map, drawn from
    :data:`HEAT_RAMP`, from the lowest block to the highest; a map with
    negative and positive values is drawn by magnitude, with negative blocks
    blue and positive red on a colour terminal.
    """
    h, w = values.shape
    data = values.astype(np.float64)
    low, high, mean = float(data.min()), float(data.max()), float(data.mean())
    dt = values.dtype
    stats = (
        f"  {h} x {w}  min {format_value(low, dt)}  max {format_value(high, dt)}  "
        f"mean {format_number(mean, 6)}"
    )
    # Terminal cells are about twice as tall as wide: half as many rows as
    # columns keeps the map's shape.
    columns = max(1, min(w, width - 2))
    rows = max(1, min(h, round(h * columns / w / 2)))
    if rows > HEAT_ROWS:
        rows = HEAT_ROWS
        columns = max(1, min(w, width - 2, round(rows * 2 * w / h)))
    signed = low < 0 < high
    # Signed maps (edges) are drawn by magnitude: block means of the values
    # themselves would cancel a +/- edge pair out.
    blocks = block_means(np.abs(data) if signed else data, rows, columns)
    signs = np.sign(block_means(data, rows, columns)) if signed else None
    lowest, highest = (
        (0.0, float(blocks.max())) if signed else (float(blocks.min()), float(blocks.max()))
    )
    spread = highest - lowest
    levels = (blocks - lowest) / spread if spread > 0 else np.zeros_like(blocks)
    top = len(HEAT_RAMP) - 1
    indices = np.clip(np.rint(levels * top), 0, top).astype(int)
    lines = []
    for y in range(rows):
        line = Text()
        for x in range(columns):
            style = ""
            if signs is not None and indices[y, x]:
                style = "blue" if signs[y, x] < 0 else "red"
            line.append(HEAT_RAMP[indices[y, x]], style=style)
        lines.append(line)
    block_h, block_w = -(-h // rows), -(-w // columns)
    ends = (
        f"'{HEAT_RAMP[0]}' is {format_number(lowest, 4)} and '{HEAT_RAMP[-1]}' is "
        f"{format_number(highest, 4)}"
    )
    legend = (
        f"heat map {rows} x {columns}, each character the mean magnitude of a block of up to "
        f"{block_h} x {block_w}: {ends} (blue where the block is negative on the whole)"
        if signed
        else f"heat map {rows} x {columns}, each character the mean of a block of up to "
        f"{block_h} x {block_w}: {ends}"
    )
    return Group(
        Text.assemble((label, "bold"), stats),
        Panel(Group(*lines), expand=False, padding=0, box=box.SQUARE),
        Text(legend, style="dim"),
    )


def block_means(values: NDArray[np.float64], rows: int, columns: int) -> NDArray[np.float64]:
    """``values`` reduced to ``rows x columns`` by the mean of each block.

    Examples
    --------
    >>> block_means(np.arange(16.0).reshape(4, 4), 2, 2).tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """
    h, w = values.shape
    row_edges = np.linspace(0, h, rows + 1).astype(int)[:-1]
    col_edges = np.linspace(0, w, columns + 1).astype(int)[:-1]
    sums = np.add.reduceat(np.add.reduceat(values, row_edges, axis=0), col_edges, axis=1)
    counts = np.outer(np.diff(np.append(row_edges, h)), np.diff(np.append(col_edges, w)))
    means: NDArray[np.float64] = sums / counts
    return means
