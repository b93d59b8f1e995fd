"""Rich renderables for the terminal: kernel matrices, the catalogue, feature maps.

Nothing here computes a filter or decides where output goes: functions build
renderables, and the caller prints them on the console it chose (stdout, or
stderr when stdout carries an image). Colour follows rich's rules: off when
the stream is not a terminal or ``NO_COLOR`` is set.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .core.catalog import FAMILIES, Builtin
from .core.vocab import BORDER_PICTURES

if TYPE_CHECKING:
    # Types only: `imgconv kernels list` renders without NumPy, so it starts fast.
    import numpy as np
    from numpy.typing import NDArray
    from rich.progress import Progress, TaskID

    from .core.explain import AxisSize, Explanation, Step
    from .core.kernels import Bank, Kernel, KernelSet

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


def format_value(value: float, dtype: np.dtype[np.generic] | type | None = None) -> str:
    """A number in the fewest digits that read back as the same ``dtype`` value (float64)."""
    import numpy as np

    from .core.matrix_text import format_number

    return format_number(value, np.float64 if dtype is None else dtype)


def make_console(*, stderr: bool = False) -> Console:
    """A console on stdout or stderr; colour only on a terminal without NO_COLOR."""
    console = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


def render_text(renderable: RenderableType, width: int = PIPE_WIDTH) -> str:
    """``renderable`` as plain text (no colour), for writing to a file."""
    console = Console(
        file=io.StringIO(), width=width, highlight=False, soft_wrap=False, color_system=None
    )
    console.print(renderable)
    text: str = console.file.getvalue()  # type: ignore[attr-defined]
    return text


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


def weight_cell(kernel: Kernel, y: int, x: int, *, dim_zero: bool = False) -> tuple[str, str]:
    """One weight as drawn, and its style: absent cells as a dim dot, negatives red."""
    if kernel.present is not None and not kernel.present[y, x]:
        return ABSENT, "dim"
    value = float(kernel.weights[y, x])
    style = "red" if value < 0 else ("dim" if value == 0 and dim_zero else "")
    return format_weight(value), style


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
            text, style = weight_cell(kernel, y, x, dim_zero=True)
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
    from .core.kernels import Kernel

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
    import numpy as np

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
    import numpy as np

    h, w = values.shape
    row_edges = np.linspace(0, h, rows + 1).astype(int)[:-1]
    col_edges = np.linspace(0, w, columns + 1).astype(int)[:-1]
    sums = np.add.reduceat(np.add.reduceat(values, row_edges, axis=0), col_edges, axis=1)
    counts = np.outer(np.diff(np.append(row_edges, h)), np.diff(np.append(col_edges, w)))
    means: NDArray[np.float64] = sums / counts
    return means


# --------------------------------------------------------------------------
# Explaining a convolution

#: How a feature-map cell that is not computed yet is drawn.
PENDING = "\u00b7"
#: Indent under each numbered heading; a step's details are indented twice.
_INDENT = "  "


def describe_explanation(
    done: Explanation, *, source: str, about: str, notes: Sequence[str] = ()
) -> RenderableType:
    """The whole walk-through: padded input, kernel, output size, steps, feature map.

    Parameters
    ----------
    done : Explanation
        What :func:`imgconv.core.explain.explain` worked out.
    source : str
        How to name the input (``'image.txt'``, ``standard input``).
    about : str
        The input's channel and units, e.g. ``8-bit values 0..255``.
    notes : sequence of str
        Lines to add under the heading (which channel, alpha not used).

    Returns
    -------
    RenderableType
        Plain lines with styles: padding cells are drawn outside ``|`` and
        ``-`` lines (and dim on a colour terminal), so the picture reads the
        same without colour. Rows and columns are numbered as in the input
        (padding has negative numbers, or numbers past the input's end) and
        as in the whole feature map.
    """
    h, w = done.geometry.in_shape
    parts: list[RenderableType] = [
        Text.assemble("Explaining ", (done.kernel.name, "bold"), f" on {source}"),
        Text(f"{_INDENT}{h} x {w}, {about}"),
        *(Text(_INDENT + note) for note in notes),
    ]
    for section in (
        _explain_input(done),
        _explain_kernel(done),
        _explain_size(done),
        _explain_steps(done),
        _explain_map(done),
    ):
        parts += [Text(""), *section]
    return Group(*parts)


def _explain_input(done: Explanation) -> list[RenderableType]:
    geometry, border = done.geometry, done.border
    (h, w), (top, bottom, left, right) = geometry.in_shape, geometry.pads
    lines: list[RenderableType] = [Text("1. The input, padded", style="bold")]
    if not any(geometry.pads):
        lines.append(
            Text(
                f"{_INDENT}No padding (--padding {done.padding}): the kernel stays inside the "
                f"{h} x {w} input."
            )
        )
    else:
        if border.mode == "constant":
            fill = f"every padding cell holds {format_number(border.value)}"
        else:
            fill = BORDER_PICTURES[border.mode]
        lines += [
            Text(
                f"{_INDENT}Padding {done.padding}: {_count(top, 'row')} on top, {bottom} below, "
                f"{_count(left, 'column')} on the left, {right} on the right,"
            ),
            Text(f"{_INDENT}filled by the {border} border ({fill}): the cells outside the lines."),
        ]
    rows, cols = done.region.shape
    y0, x0 = done.region_origin
    if not done.whole:
        (r0, c0), (mh, mw) = done.map_origin, done.feature_map.shape
        lines += [
            Text(
                f"{_INDENT}Shown: input rows {y0}..{y0 + rows - 1}, columns {x0}..{x0 + cols - 1}, "
                "the part of the padded input read by"
            ),
            Text(f"{_INDENT}output rows {r0}..{r0 + mh - 1}, columns {c0}..{c0 + mw - 1}."),
        ]
    lines.append(Text(f"{_INDENT}Rows and columns are numbered as in the input."))
    cells = [
        [
            _cell(float(value), done.dtype, padding=bool(done.region_padding[y, x]))
            for x, value in enumerate(row)
        ]
        for y, row in enumerate(done.region)
    ]
    lines.append(
        _grid(
            cells,
            range(y0, y0 + rows),
            range(x0, x0 + cols),
            row_pad=[bool(done.region_padding[y, :].all()) for y in range(rows)],
            col_pad=[bool(done.region_padding[:, x].all()) for x in range(cols)],
        )
    )
    return lines


def _explain_kernel(done: Explanation) -> list[RenderableType]:
    kernel = done.kernel
    (kh, kw), (ay, ax) = kernel.shape, kernel.origin
    lines: list[RenderableType] = [Text("2. The kernel", style="bold")]
    if done.flipped:
        written = "; ".join(
            " ".join(format_weight(float(v)) for v in row) for row in done.written.weights
        )
        lines += [
            Text(f"{_INDENT}--flip: the kernel as written, {written}, is rotated 180 degrees"),
            Text(f"{_INDENT}about its anchor: true convolution. As applied:"),
        ]
    how = "flipped (true convolution)" if done.flipped else "applied as written (correlation)"
    lines.append(
        Text.assemble(
            _INDENT, (kernel.name, "bold"), f": {kh} x {kw}, anchor ({ay}, {ax}) in brackets, {how}"
        )
    )
    cells = []
    for u in range(kh):
        row = []
        for v in range(kw):
            text, style = weight_cell(kernel, u, v)
            row.append((f"[{text}]" if (u, v) == (ay, ax) else text, style))
        cells.append(row)
    lines.append(_grid(cells, range(kh), range(kw)))
    notes = []
    if kernel.scale != 1:
        notes.append(f"divided by {format_weight(kernel.scale)} (its scale)")
    if kernel.bias:
        notes.append(f"plus {format_number(kernel.bias)} (its bias)")
    total = format_weight(round(float(kernel.matrix.sum()), 12))
    notes.append(f"the weights as applied sum to {total}" if notes else f"weights sum to {total}")
    if kernel.present is not None:
        notes.append(f"{ABSENT} marks absent cells (weight 0)")
    lines.append(Text(_INDENT + "; ".join(notes)))
    dy, dx = done.geometry.dilation
    if (dy, dx) != (1, 1):
        reach_y, reach_x = done.geometry.reach
        lines.append(
            Text(
                f"{_INDENT}Dilation {dy},{dx}: its taps are {dy} row{'s' * (dy != 1)} and "
                f"{dx} column{'s' * (dx != 1)} apart, "
                f"reaching over {reach_y} x {reach_x} cells."
            )
        )
    return lines


def _explain_size(done: Explanation) -> list[RenderableType]:
    (ho, wo), (sy, sx) = done.geometry.out_shape, done.geometry.stride
    lines: list[RenderableType] = [Text("3. The output size", style="bold")]
    for size in done.sizes:
        lines += [Text(_INDENT + line) for line in size_arithmetic(size)]
    stride = f" (stride {sy},{sx})" if (sy, sx) != (1, 1) else ""
    lines.append(Text(f"{_INDENT}so the feature map is {ho} x {wo}{stride}."))
    return lines


def size_arithmetic(size: AxisSize) -> list[str]:
    """One axis of the output-size formula with the user's numbers, as lines.

    The course's ``(W - F + 2P)/S + 1``, in its general form when the
    padding differs on the two sides (``P_left + P_right``) or the kernel
    is dilated (``F' = d*(F - 1) + 1``, on a second line); ``floor`` when
    the stride does not divide exactly.

    Examples
    --------
    >>> size_arithmetic(AxisSize("width", 7, 3, 0, 0, 1, 1, 5))
    ['width: (W - F + 2P)/S + 1 = (7 - 3 + 2*0)/1 + 1 = 5']
    >>> size_arithmetic(AxisSize("height", 8, 3, 1, 0, 2, 1, 4))
    ['height: (H - F + P_top + P_bottom)/S + 1 = (8 - 3 + 1 + 0)/2 + 1 = 4']
    """
    n = "H" if size.axis == "height" else "W"
    f = "F" if size.dilation == 1 else "F'"
    if size.symmetric:
        pad_form, pad_numbers = "2P", f"2*{size.before}"
    else:
        first, second = ("P_top", "P_bottom") if size.axis == "height" else ("P_left", "P_right")
        pad_form, pad_numbers = f"{first} + {second}", f"{size.before} + {size.after}"
    numbers = f"({size.size} - {size.reach} + {pad_numbers})/{size.stride} + 1"
    if size.exact:
        result = f"{numbers} = {size.out}"
    else:
        fraction = f"{size.numerator}/{size.stride}"
        result = f"{numbers} = floor({fraction}) + 1 = {size.out} (rounded down)"
    lines = [f"{size.axis}: ({n} - {f} + {pad_form})/S + 1 = {result}"]
    if size.dilation != 1:
        indent = " " * (len(size.axis) + 2)
        lines.append(
            f"{indent}where F' = d*(F - 1) + 1 = {size.dilation}*({size.kernel} - 1) + 1 = "
            f"{size.reach}, the dilated kernel's reach"
        )
    return lines


def _explain_steps(done: Explanation) -> list[RenderableType]:
    kernel = done.kernel
    then = []
    if kernel.scale != 1:
        then.append(f"divided by the scale {format_number(kernel.scale)}")
    if kernel.bias:
        then.append(f"plus the bias {format_number(kernel.bias)}")
    lines: list[RenderableType] = [
        Text("4. Step by step", style="bold"),
        Text(
            f"{_INDENT}Each feature-map cell is the sum of the window's cells times the kernel's "
            f"weights{',' if then else '.'}"
        ),
    ]
    if then:
        lines.append(Text(f"{_INDENT}{', '.join(then)}."))
    for number, step in enumerate(done.steps, start=1):
        lines += [Text(""), *_explain_step(done, step, number)]
    rest = done.positions - len(done.steps)
    if not done.steps:
        lines.append(Text(f"{_INDENT}No position is spelled out (--steps 0)."))
    elif rest:
        lines += [
            Text(""),
            Text(
                f"{_INDENT}The other {_count(rest, 'position')} are computed the same way "
                "(--steps N spells out more)."
            ),
        ]
    return lines


def _explain_step(done: Explanation, step: Step, number: int) -> list[RenderableType]:
    kernel, dtype, inner = done.kernel, done.dtype, _INDENT * 2
    (kh, kw), (dy, dx) = kernel.shape, done.geometry.dilation
    rows = f"rows {step.row}..{step.row + dy * (kh - 1)}" + (f" step {dy}" if dy > 1 else "")
    cols = f"columns {step.col}..{step.col + dx * (kw - 1)}" + (f" step {dx}" if dx > 1 else "")
    where = f"({step.out_row}, {step.out_col})"
    heading = (
        f"Step {number} of {done.positions}: feature map {where}, window at input {rows}, {cols}"
    )
    cells = [
        [
            _cell(float(value), dtype, padding=bool(step.padding[u, v]))
            for v, value in enumerate(row)
        ]
        for u, row in enumerate(step.window)
    ]
    window = _grid(
        cells,
        range(step.row, step.row + dy * kh, dy),
        range(step.col, step.col + dx * kw, dx),
        row_pad=[bool(step.padding[u, :].all()) for u in range(kh)],
        col_pad=[bool(step.padding[:, v].all()) for v in range(kw)],
        indent=inner,
    )
    present = kernel.present
    taps = [(u, v) for u in range(kh) for v in range(kw) if present is None or bool(present[u, v])]

    def number_text(value: float) -> str:
        return _operand(format_value(float(dtype.type(value)), dtype))

    products = " + ".join(
        f"{number_text(step.window[u, v])}\u00d7{number_text(kernel.weights[u, v])}"
        for u, v in taps
    )
    terms = " + ".join(number_text(step.products[u, v]) for u, v in taps)
    total, value = format_value(step.total, dtype), format_value(step.value, dtype)
    lines: list[RenderableType] = [
        Text(_INDENT + heading, style="bold"),
        window,
        Text(f"{inner}products: {products}"),
        Text(f"{inner}sum: {terms} = {total}"),
    ]
    scale, bias = format_number(kernel.scale), _operand(format_number(kernel.bias))
    if kernel.scale != 1 and kernel.bias:
        lines.append(
            Text(f"{inner}value: sum / scale + bias = {total} / {scale} + {bias} = {value}")
        )
    elif kernel.scale != 1:
        lines.append(Text(f"{inner}value: sum / scale = {total} / {scale} = {value}"))
    elif kernel.bias:
        lines.append(Text(f"{inner}value: sum + bias = {total} + {bias} = {value}"))
    lines.append(Text(f"{inner}placed in the feature map at {where}: {value}"))
    (r0, c0), (mh, mw) = done.map_origin, done.feature_map.shape
    filled = (step.out_row - r0) * mw + (step.out_col - c0)
    partial = [
        [
            _cell(float(done.feature_map[i, j]), dtype, bold=i * mw + j == filled)
            if i * mw + j <= filled
            else (PENDING, "dim")
            for j in range(mw)
        ]
        for i in range(mh)
    ]
    lines += [
        Text(f"{inner}feature map so far ({PENDING}: not computed yet):"),
        _grid(partial, range(r0, r0 + mh), range(c0, c0 + mw), indent=inner),
    ]
    return lines


def _explain_map(done: Explanation) -> list[RenderableType]:
    (r0, c0), (mh, mw) = done.map_origin, done.feature_map.shape
    ho, wo = done.geometry.out_shape
    if done.whole:
        title = f"5. The feature map: {ho} x {wo}"
    else:
        title = (
            f"5. The feature map: rows {r0}..{r0 + mh - 1}, columns {c0}..{c0 + mw - 1} "
            f"of {ho} x {wo}"
        )
    cells = [[_cell(float(v), done.dtype) for v in row] for row in done.feature_map]
    return [Text(title, style="bold"), _grid(cells, range(r0, r0 + mh), range(c0, c0 + mw))]


def _operand(text: str) -> str:
    """A number as a term of a sum or product: negatives in parentheses."""
    return f"({text})" if text.startswith("-") else text


def _cell(
    value: float, dtype: np.dtype[np.floating], *, padding: bool = False, bold: bool = False
) -> tuple[str, str]:
    """A number's text and style: padding dim, negatives red, the newest cell bold."""
    style = "dim" if padding else ("red" if value < 0 else "")
    if bold:
        style = (style + " bold").strip()
    return format_value(value, dtype), style


def _grid(
    cells: Sequence[Sequence[tuple[str, str]]],
    row_labels: Iterable[int],
    col_labels: Iterable[int],
    *,
    row_pad: Sequence[bool] = (),
    col_pad: Sequence[bool] = (),
    indent: str = _INDENT,
) -> Text:
    """``(text, style)`` cells in right-aligned columns, with row and column numbers.

    Where ``row_pad`` (``col_pad``) changes between neighbouring rows
    (columns), a ``-`` (``|``) line separates padding from the input.
    """
    rows, cols = [str(r) for r in row_labels], [str(c) for c in col_labels]
    row_pad = row_pad or [False] * len(rows)
    col_pad = col_pad or [False] * len(cols)
    width = max([len(text) for row in cells for text, _ in row] + [len(c) for c in cols])
    label_width = max(len(r) for r in rows)
    seps = [" "] + [" | " if col_pad[x] != col_pad[x - 1] else " " for x in range(1, len(cols))]
    lead = indent + " " * label_width
    header = "".join(" " * len(s) + c.rjust(width) for s, c in zip(seps, cols, strict=True))
    rule = "".join(s.replace(" ", "-").replace("|", "+") + "-" * width for s in seps)
    lines = [Text(lead + header, style="dim")]
    for y, (label, row) in enumerate(zip(rows, cells, strict=True)):
        if y and row_pad[y] != row_pad[y - 1]:
            lines.append(Text(lead + rule, style="dim"))
        line = Text(indent + label.rjust(label_width), style="dim")
        for sep, (text, style) in zip(seps, row, strict=True):
            line.append(sep, style="dim")
            line.append(text.rjust(width), style=style)
        lines.append(line)
    return Text("\n").join(lines)


class ProgressBar:
    """Progress on stderr: a bar, done of all, the rate, the time gone and left.

    Drawn only when ``enabled`` (the caller's choice: not ``--quiet``) and
    stderr is a terminal, and only once ``delay`` seconds have passed with
    the work not nearly done, so quick runs print nothing. Lines given to
    :meth:`say` are printed above the bar while it is shown, so the two do
    not garble each other; plain lines on stderr otherwise. The bar leaves
    the terminal when done.

    Parameters
    ----------
    label : str
        Shown before the bar (``imgconv``, ``richardson-lucy``).
    unit : str
        What is counted, for the rate (``files``, ``iterations``).
    enabled : bool
        Whether a bar may be drawn at all.
    delay : float
        Seconds before the bar appears.
    """

    def __init__(self, label: str, unit: str, *, enabled: bool, delay: float = 0.0) -> None:
        import time

        self.console = make_console(stderr=True)
        self.label, self.unit = label, unit
        self.enabled = enabled and self.console.is_terminal
        self.delay = delay
        self.started = time.monotonic()
        self.done, self.total = 0, 0
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, done: int, total: int) -> None:
        """``done`` of ``total`` are done."""
        self.done, self.total = done, total
        if not self.enabled:
            return
        if self._progress is None:
            import time

            if time.monotonic() - self.started < self.delay or done >= total:
                return
            self._start()
        assert self._progress is not None
        assert self._task is not None
        self._progress.update(self._task, completed=done, total=total)
        speed = self._progress.tasks[0].speed
        rate = "" if speed is None else f"{speed:.3g} {self.unit}/s"
        self._progress.update(self._task, rate=rate)

    def advance(self) -> None:
        """One more is done."""
        self.update(self.done + 1, self.total)

    def _start(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self._progress = RichProgress(
            TextColumn(f"[bold]{self.label}[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(self.label, total=self.total, rate="")

    def say(self, line: str) -> None:
        """Print one line on stderr, above the bar if it is shown."""
        self.console.print(Text(line), soft_wrap=True)

    def close(self) -> None:
        """Take the bar off the terminal."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
