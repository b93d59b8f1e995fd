"""Read kernels written as text: imgconv's grid, ImageMagick strings, libvips ``.mat``, JSON.

Every parser here is pure (text in, values out) and gives the same
:class:`~imgconv.core.kernels.Kernel` for the same kernel, whichever format
it was written in: the weights as written, ``scale`` (the divisor), ``bias``
(added after scaling, in output units), the anchor and the absent cells.
:func:`parse_kernel_text` picks the format; ``form`` forces one.

**Sniffing** (``form=None``): text whose first non-space character is ``[``
or ``{`` is JSON; text whose first line that is not blank or a comment starts
with an ImageMagick header (``3:``, ``3x3:``, ``3x3+1+1:``) is ImageMagick;
anything else is a grid, except that text that fails as a grid (its rows
are ragged because of the header, or its numbers are quoted) and reads as a
libvips ``.mat`` (its first row is a ``W H [scale [offset]]`` header that
matches the rows after it) is read as ``.mat``; when it reads as neither,
the error is the grid's. A ``.mat`` whose header row happens to hold as
many numbers as its other rows (``2 2`` over rows of 2, ``3 3 16`` over
rows of 3) is a valid grid and is read as one: give such files the
``.mat`` suffix or pass ``form="mat"``.

**Grid** (KERNELS.md section 6):

- rows are separated by new lines or ``;``; numbers by commas, spaces or tabs;
- ``#`` starts a comment that runs to the end of the line;
- a number is an integer, a decimal (``0.25``, ``-1e-3``) or a fraction
  (``1/9``);
- a line of just a fraction (``1/16``) first or last, in a grid whose rows
  hold more than one number, is a **factor** that multiplies every weight;
- keyword lines, each at most once per kernel: ``scale X`` divides the
  weights, ``factor F`` multiplies them, ``bias B`` (or ``offset B``) is
  added after scaling in output units, ``anchor Y,X`` sets the anchor (row,
  column). A ``:`` or ``=`` after the keyword is allowed;
- a list with no ``;`` and no new line is one row: ``"1,0,-1"`` is 1 x 3 and
  ``"1;0;-1"`` is 3 x 1;
- **several kernels**: kernels are separated by lines of three or more
  dashes (``---``) or by one or more blank lines. A block of lines that
  holds no grid row, only a factor line and/or keyword lines, belongs to
  the kernel before it (to the kernel after it when it comes first), so a
  blank line before a trailing ``1/16`` does not make a second kernel (a
  lone fraction with no other kernel is a 1 x 1 kernel). A block of
  nothing but comments belongs to the kernel after it;
- **names**: a kernel is named by the comment on the first line of its
  block (``# sobel x`` names it ``sobel x``; a block of only comments names
  the next kernel if that has no such line). Otherwise a lone kernel takes
  the name of its source (the file name, or the inline text) and the
  kernels of a file that holds several are ``NAME[1]``, ``NAME[2]``, ...
  The set is always named after its source. Error messages name the source
  and its line (``kernel 'k.txt': 'x' in line 7 is not a number``).

**ImageMagick** kernel strings, ``"3x3: 0,-1,0 -1,5,-1 0,-1,0"``:

- a header ``W:`` (a square), ``WxH:`` or ``WxH+X+Y:`` where X is the
  origin's column and Y its row (imgconv's anchor is ``(Y, X)``); without
  an origin it is ImageMagick's, ``((H-1)//2, (W-1)//2)``, which differs
  from imgconv's default ``(H//2, W//2)`` only for even sizes;
- then exactly W*H values, row by row, separated by commas and/or white
  space (new lines too); a value is a decimal number, or ``nan`` or ``-``
  for an absent cell (outside the neighbourhood: weight 0, ``present``
  False); at least one cell must hold a number;
- several kernels, each with its own header, are separated by ``;`` and make
  a set whose kernels are named ``NAME[1]``, ``NAME[2]``, ...; ``#``
  comments are allowed as in grids. Named ImageMagick kernels (``Sobel``)
  and the header-less legacy list are not read: a bare ``1,2,3`` is
  imgconv's one-row grid;
- the kernel is read **as written**: the same cells in the same places, so
  ``imgconv kernels show`` shows what was typed, and applying it
  correlates, like ImageMagick's ``-morphology Correlate`` and ``-convolve``.
  ImageMagick's ``-morphology Convolve`` rotates its kernel 180 degrees
  first; to reproduce it use ``--flip`` (which rotates about the anchor as
  ImageMagick does). ImageMagick keeps its scale and bias outside the
  kernel string (``-define convolve:scale``, ``-bias``), so these kernels
  have scale 1 and bias 0.

**libvips** ``.mat`` files:

- the first line is the header ``W H [scale [offset]]``: W and H positive
  whole numbers, ``scale`` a non-zero divisor (default 1), ``offset`` the
  bias (default 0);
- then exactly H lines of exactly W decimal numbers, separated by any mix of
  spaces, tabs, commas and double quotes (as the libvips documentation
  says); blank lines at the end are ignored; nothing else is allowed (no
  comments, no fractions), where libvips would ignore extra numbers.

**JSON**:

- a 2-D list of numbers, ``[[0,-1,0],[-1,5,-1],[0,-1,0]]``: one kernel;
- a kernel object ``{"weights": [[...]], "scale": S, "factor": F,
  "bias": B (or "offset"), "anchor": [y, x], "name": "...",
  "absent": [[y, x], ...]}``: all but ``weights`` optional; ``scale``
  divides and ``factor`` multiplies (KERNELS.md section 6); the weights of
  absent cells must be 0;
- a set object ``{"name": ..., "combine": ..., "bias": ..., "kernels":
  [...]}`` whose kernels are kernel objects or 2-D lists; ``combine`` is one
  of :data:`~imgconv.core.kernels.COMBINES` or null; ``bias`` is added after
  combining;
- a list of kernel objects: a set with no ``combine``;
- a 3-D (``C x H x W``) or 4-D (``K x C x H x W``) list, or an object with
  such ``weights`` and optionally ``bias`` (one number per kernel, or one
  for all) and ``name``: a :class:`~imgconv.core.kernels.Bank`;
- unknown keys, keys given twice, non-finite numbers (Python's ``NaN`` and
  ``Infinity`` extensions) and ragged rows are errors;
- **names**: the top-level ``"name"`` names the set (or the lone kernel and
  its set, or the bank); without one, the source does. The unnamed kernels
  of a set are ``SET[1]``, ``SET[2]``, ... This reads back what
  ``imgconv kernels show NAME --json`` prints, name included.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import KernelError
from .kernels import COMBINES, Bank, Combine, Kernel, KernelSet

#: The text forms :func:`parse_kernel_text` reads.
FORMS = ("grid", "imagemagick", "mat", "json")

_KEYWORDS = ("scale", "factor", "bias", "offset", "anchor")
_KEYWORD_LINE = re.compile(r"^(?P<key>[a-zA-Z]+)\s*[:=]?\s*(?P<value>.*)$")
_SEPARATORS = re.compile(r"[,\s]+")
_BLOCK_SEPARATOR = re.compile(r"^-{3,}$")
# Characters an inline matrix may contain (besides the words nan and inf).
_MATRIX_CHARS = frozenset("0123456789.,;+-eE/ \t")
# The start of an ImageMagick kernel: W:, WxH: or WxH+X+Y: (W+X+Y: too).
_IM_START = re.compile(r"\s*\d+(?:[xX]\d+)?(?:[+-]\d+[+-]\d+)?\s*:")
_IM_GEOMETRY = re.compile(r"(?P<w>\d+)(?:[xX](?P<h>\d+))?(?:(?P<x>[+-]\d+)(?P<y>[+-]\d+))?")
_IM_VALUE_SEPARATORS = re.compile(r"\s*,\s*|\s+")
_MAT_SEPARATORS = re.compile(r'[\s,"]+')
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_SPECIALS = ("nan", "inf", "infinity")
_INFINITY = float("inf")


def looks_like_matrix(text: str) -> bool:
    """Whether ``text`` is meant as an inline kernel rather than a name or path.

    True when it holds ``;`` or ``,``, starts like JSON (``[`` or ``{``) or
    with an ImageMagick header (``3x3:``), or consists only of characters
    that numbers use, so that a malformed kernel gets a precise parse error
    instead of "unknown kernel".
    """
    stripped = text.strip().lstrip("\ufeff")
    if stripped[:1] in ("[", "{") or _IM_START.match(stripped):
        return True
    if ";" in text or "," in text:
        return True
    without_words = re.sub(r"(?i)nan|inf(inity)?", "", text)
    return bool(stripped) and set(without_words) <= _MATRIX_CHARS


def parse_exact(token: str, where: str, name: str) -> Fraction:
    """A decimal or fraction (``0.25``, ``1e-3``, ``1/9``) as an exact Fraction.

    Raises
    ------
    KernelError
        If ``token`` is not a number, or not a finite one (``nan``, ``inf``,
        ``1/0``).
    """
    try:
        return Fraction(token)
    except ZeroDivisionError:
        problem = "not a finite number"
    except ValueError:
        special = token.strip().lower().lstrip("+-") in _SPECIALS
        problem = "not a finite number" if special else "not a number"
    msg = f"kernel {name!r}: {token!r} in {where} is {problem}"
    raise KernelError(msg)


def parse_number(token: str, where: str, name: str) -> float:
    """:func:`parse_exact` as a float.

    Raises
    ------
    KernelError
        As :func:`parse_exact`, and for a number beyond the range of a float.
    """
    if _DECIMAL.fullmatch(token):
        # float() rounds a decimal correctly, as float(Fraction(...)) does,
        # at a twentieth of the cost: a 600x600 grid took 2.1 s through
        # Fraction. Overflow goes the exact way, which names it.
        value = float(token)
        if value not in (_INFINITY, -_INFINITY) and not (value == 0 and token[0] == "-"):
            return value  # (a negative zero goes the exact way too: "-0" is 0)
    return _as_float(parse_exact(token, where, name), f"{token!r} in {where}", name)


def parse_kernel_text(
    text: str, name: str = "kernel", *, form: str | None = None, deep: bool = False
) -> KernelSet | Bank:
    r"""Parse a kernel in any of imgconv's text forms (inline or file contents).

    Parameters
    ----------
    text : str
        The kernel: a grid, an ImageMagick string, a libvips ``.mat`` or JSON,
        in the grammar of this module's documentation.
    name : str
        The source, used to name the set and in messages (a file name, or the
        inline text itself).
    form : {'grid', 'imagemagick', 'mat', 'json'}, optional
        The form to read; sniffed from the text when None (see the module
        documentation).
    deep : bool
        Read a grid's ``---``-separated groups as deep kernels (see
        :func:`parse_grid`).

    Returns
    -------
    KernelSet or Bank
        The kernels, with ``combine`` None unless a JSON set says; a
        :class:`Bank` only for 3-D or 4-D JSON weights.

    Raises
    ------
    KernelError
        Naming the source and the line, row or value: a non-number, a
        non-finite number, ragged rows, no numbers at all, a malformed
        header or keyword, malformed JSON or an unknown JSON key.
    ValueError
        If ``form`` is not one of :data:`FORMS`.

    Examples
    --------
    >>> k = parse_kernel_text("1 2 1\n2 4 2\n1 2 1\n1/16").kernels[0]
    >>> k.scale, k.weights[1].tolist()
    (16.0, [2.0, 4.0, 2.0])
    >>> parse_kernel_text("3x1: 1,0,-1").kernels[0].shape
    (1, 3)
    """
    text = text.lstrip("\ufeff")
    if form is None:
        form = _sniff(text)
        if form == "grid":
            try:
                return parse_grid(text, name, deep=deep)
            except KernelError as not_grid:
                try:
                    return parse_vips_mat(text, name)
                except KernelError:
                    raise not_grid from None
    if form == "grid":
        return parse_grid(text, name, deep=deep)
    if form == "imagemagick":
        return parse_imagemagick(text, name)
    if form == "mat":
        return parse_vips_mat(text, name)
    if form == "json":
        return parse_json(text, name)
    msg = f"unknown kernel form {form!r}; expected one of {', '.join(FORMS)}"
    raise ValueError(msg)


def _sniff(text: str) -> str:
    if text.lstrip()[:1] in ("[", "{"):
        return "json"
    for line in text.splitlines():
        content = line.split("#", 1)[0]
        if content.strip():
            return "imagemagick" if _IM_START.match(content) else "grid"
    return "grid"


# --- grid -----------------------------------------------------------------------------------


#: Deeper JSON lists are refused before building an array (NumPy stops at 64).
_MAX_JSON_DEPTH = 32


@dataclass
class _Block:
    """The lines of one kernel in a grid, split into rows and keyword settings."""

    rows: list[tuple[str, list[str]]] = field(default_factory=list)  # (where, tokens)
    settings: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (value, where)
    factors: list[tuple[str, str]] = field(default_factory=list)  # (token, where) from blocks
    title: str | None = None
    lines: int = 0
    group: int = 0  # how many ``---`` lines came before it

    def is_factor_only(self) -> bool:
        """Whether the block holds no grid row: keywords and at most one lone fraction."""
        if not self.rows:
            return bool(self.settings)
        return len(self.rows) == 1 and _is_lone_fraction(self.rows[0][1])

    def absorb(self, other: _Block, name: str) -> None:
        """Take a factor-only block's factor and settings."""
        self.factors.extend((tokens[0], where) for where, tokens in other.rows)
        for key, (value, where) in other.settings.items():
            _set_once(self.settings, key, value, where, name)


def _is_lone_fraction(tokens: list[str]) -> bool:
    return len(tokens) == 1 and "/" in tokens[0]


def _set_once(
    settings: dict[str, tuple[str, str]], key: str, value: str, where: str, name: str
) -> None:
    if key in settings:
        msg = f"kernel {name!r}: {key} is given twice ({settings[key][1]} and {where})"
        raise KernelError(msg)
    settings[key] = (value, where)


def parse_grid(text: str, name: str = "kernel", *, deep: bool = False) -> KernelSet | Bank:
    r"""Parse imgconv's text grid: one kernel, or several separated by ``---`` or blank lines.

    Parameters
    ----------
    text : str
        The grid (see the module documentation).
    name : str
        The source: names the set, a lone unnamed kernel, and ``NAME[i]``
        for the unnamed kernels of several.
    deep : bool
        Read kernels as deep as an input (for a convolutional layer): when
        ``---`` lines separate groups and blank lines separate the kernels
        within a group, each group is one kernel whose channel slices are
        its kernels, in order. Every group must hold as many slices, all of
        one size; a group's bias is the sum of its slices' biases.

    Returns
    -------
    KernelSet or Bank
        A set with ``combine`` None; a :class:`Bank` ``K x C x H x W`` only
        with ``deep`` and groups of several slices.

    Raises
    ------
    KernelError
        Naming the line or row: a non-number, a non-finite number, ragged
        rows, no numbers at all, a repeated or malformed keyword line, or an
        anchor outside the kernel.

    Examples
    --------
    >>> kernels = parse_grid("# x\n1 0 -1\n---\n# y\n1;0;-1", "sobel.txt").kernels
    >>> [(k.name, k.shape) for k in kernels]
    [('x', (1, 3)), ('y', (3, 1))]
    """
    inline = "\n" not in text.strip()
    blocks: list[_Block] = []
    current = _Block()
    group = 0
    for number, line in enumerate(text.splitlines(), start=1):
        content, hash_mark, comment = line.partition("#")
        if not line.strip() or _BLOCK_SEPARATOR.match(content.strip()):
            if current.lines:
                blocks.append(current)
            if line.strip():
                group += 1
            current = _Block(group=group)
            continue
        if not current.lines and not content.strip() and hash_mark:
            current.title = comment.strip().lstrip("#").strip() or None
        current.lines += 1
        for part in content.split(";"):
            part = part.strip()
            if not part:
                continue
            where = f"row {len(current.rows) + 1}" if inline else f"line {number}"
            if inline and ";" not in content:
                where = "the row"
            keyword = _KEYWORD_LINE.match(part)
            if keyword and keyword["key"].lower() in _KEYWORDS:
                key = keyword["key"].lower()
                key = "bias" if key == "offset" else key
                _set_once(current.settings, key, keyword["value"].strip(), where, name)
                continue
            current.rows.append((where, [t for t in _SEPARATORS.split(part) if t]))
    if current.lines:
        blocks.append(current)

    kernel_blocks = [b for b in blocks if b.rows and not b.is_factor_only()]
    if not kernel_blocks:
        # A lone fraction (``1/9``) is a 1x1 kernel when there is nothing to scale.
        kernel_blocks = [b for b in blocks if b.rows][:1]
    if not kernel_blocks:
        msg = f"kernel {name!r} has no numbers; expected rows such as '0,-1,0;-1,5,-1;0,-1,0'"
        raise KernelError(msg)
    _attach_orphans(blocks, kernel_blocks, name)

    several = len(kernel_blocks) > 1
    kernels = []
    for index, block in enumerate(kernel_blocks, start=1):
        label = block.title or (f"{name}[{index}]" if several else name)
        kernels.append(_grid_kernel(block, name, label))
    groups = [block.group for block in kernel_blocks]
    if deep and len(set(groups)) < len(groups):
        return _grid_bank(kernels, groups, name)
    return KernelSet(name, tuple(kernels))


def _grid_bank(kernels: list[Kernel], groups: list[int], name: str) -> Bank:
    """Groups of channel slices (separated by ``---``) as one deep kernel each."""
    slices: dict[int, list[Kernel]] = {}
    for kernel, group in zip(kernels, groups, strict=True):
        slices.setdefault(group, []).append(kernel)
    depths = [len(members) for members in slices.values()]
    if len(set(depths)) > 1:
        counts = ", ".join(str(d) for d in depths)
        msg = (
            f"kernel {name!r}: the kernels between '---' lines hold {counts} channel slices; "
            "every kernel of a layer needs as many slices as the input has channels"
        )
        raise KernelError(msg)
    shapes = {kernel.shape for kernel in kernels}
    if len(shapes) > 1:
        sizes = ", ".join(sorted(f"{h}x{w}" for h, w in shapes))
        msg = f"kernel {name!r}: the channel slices differ in size ({sizes}); use one size"
        raise KernelError(msg)
    weights = np.array([[k.matrix for k in members] for members in slices.values()])
    bias = np.array([sum(k.bias for k in members) for members in slices.values()])
    return Bank(weights, bias, name)


def _attach_orphans(blocks: list[_Block], kernel_blocks: list[_Block], name: str) -> None:
    """Give factor-only blocks to the kernel before them and titles to the kernel after."""
    previous: _Block | None = None
    waiting: list[_Block] = []  # factor-only blocks before the first kernel
    pending_title: str | None = None
    for block in blocks:
        if any(block is k for k in kernel_blocks):
            if block.title is None:
                block.title = pending_title
            pending_title = None
            for early in waiting:
                block.absorb(early, name)
            waiting = []
            previous = block
        elif block.rows or block.settings:
            if previous is None:
                waiting.append(block)
            else:
                previous.absorb(block, name)
        elif pending_title is None:
            pending_title = block.title


def _grid_kernel(block: _Block, name: str, label: str) -> Kernel:
    rows = list(block.rows)
    factor = Fraction(1)
    if len(rows) > 1:
        widths = [len(tokens) for _, tokens in rows]
        for index in (0, len(rows) - 1):
            where, tokens = rows[index]
            others = widths[:index] + widths[index + 1 :]
            if _is_lone_fraction(tokens) and min(others) > 1:
                factor = parse_exact(tokens[0], where, name)
                del rows[index]
                break
    for token, where in block.factors:
        factor *= parse_exact(token, where, name)

    weights = [[parse_number(t, where, name) for t in tokens] for where, tokens in rows]
    first_where, first = rows[0]
    for where, tokens in rows[1:]:
        if len(tokens) != len(first):
            msg = (
                f"kernel {name!r} has ragged rows: {first_where} has {len(first)} numbers "
                f"but {where} has {len(tokens)}; every row needs the same count"
            )
            raise KernelError(msg)

    settings = block.settings
    scale = Fraction(1)
    if "scale" in settings:
        scale = parse_exact(*settings["scale"], name)
        if scale == 0:
            msg = f"kernel {name!r}: scale 0 in {settings['scale'][1]} would divide by zero"
            raise KernelError(msg)
    if "factor" in settings:
        factor *= parse_exact(*settings["factor"], name)
    if factor == 0:
        msg = f"kernel {name!r}: a factor of 0 would make every weight zero"
        raise KernelError(msg)
    bias = parse_number(*settings["bias"], name) if "bias" in settings else 0.0
    shape = (len(weights), len(first))
    anchor = None
    if "anchor" in settings:
        value, where = settings["anchor"]
        parts = [p for p in _SEPARATORS.split(value) if p]
        try:
            ay, ax = (int(p) for p in parts)
        except ValueError:
            msg = f"kernel {name!r}: anchor {value!r} in {where} is not two whole numbers Y,X"
            raise KernelError(msg) from None
        if not (0 <= ay < shape[0] and 0 <= ax < shape[1]):
            msg = (
                f"kernel {name!r}: anchor {ay},{ax} in {where} is outside the "
                f"{shape[0]}x{shape[1]} kernel; expected 0..{shape[0] - 1},0..{shape[1] - 1}"
            )
            raise KernelError(msg)
        anchor = _plain_anchor((ay, ax), shape)
    divisor = _as_float(scale / factor, "the scale", name)
    return Kernel(weights, scale=divisor, bias=bias, anchor=anchor, name=label)


def _plain_anchor(anchor: tuple[int, int], shape: tuple[int, int]) -> tuple[int, int] | None:
    """None for the default anchor, so equal kernels compare equal whatever the form."""
    return None if anchor == (shape[0] // 2, shape[1] // 2) else anchor


def _as_float(value: Fraction | int, what: str, name: str) -> float:
    try:
        return float(value)
    except OverflowError:
        msg = f"kernel {name!r}: {what} is beyond the range of a 64-bit float"
        raise KernelError(msg) from None


def _decimal(token: str) -> float | None:
    """A decimal number (no fractions, no words), or None; inf for one out of range."""
    if not _DECIMAL.fullmatch(token):
        return None
    return float(token)


def _decimal_problem(token: str) -> str:
    special = token.lower().lstrip("+-") in _SPECIALS
    return "not a finite number" if special else "not a number"


# --- ImageMagick ----------------------------------------------------------------------------


def parse_imagemagick(text: str, name: str = "kernel") -> KernelSet:
    """Parse ImageMagick kernel strings (``"3x3: 0,-1,0 -1,5,-1 0,-1,0"``), ``;``-separated.

    Parameters
    ----------
    text : str
        One or more ``WxH[+X+Y]: values`` kernels (see the module
        documentation); ``#`` comments are allowed.
    name : str
        The source: names the set, a lone kernel, and ``NAME[i]`` for each
        of several.

    Returns
    -------
    KernelSet
        Kernels as written (not rotated), scale 1, bias 0, ``nan``/``-``
        cells absent, ``combine`` None.

    Raises
    ------
    KernelError
        A missing or malformed header, a zero size, an origin outside the
        kernel, a count of values that does not match the header, a value
        that is not a number (or is infinite), or a kernel of only absent
        cells.

    Examples
    --------
    >>> k = parse_imagemagick("2x2+0+1: 1,2 3,-").kernels[0]
    >>> k.weights.tolist(), k.origin, k.present.tolist()
    ([[1.0, 2.0], [3.0, 0.0]], (1, 0), [[True, True], [True, False]])
    """
    body = "\n".join(line.partition("#")[0] for line in text.splitlines())
    segments = [s for s in body.split(";") if s.strip()]
    if not segments:
        msg = (
            f"ImageMagick kernel {name!r} is empty; expected a kernel such as "
            "'3x3: 0,-1,0 -1,5,-1 0,-1,0'"
        )
        raise KernelError(msg)
    several = len(segments) > 1
    kernels = []
    for index, segment in enumerate(segments, start=1):
        subject = f"ImageMagick kernel {name!r}"
        if several:
            subject += f" (kernel {index} of {len(segments)})"
        label = f"{name}[{index}]" if several else name
        kernels.append(_imagemagick_kernel(segment.strip(), subject, label))
    return KernelSet(name, tuple(kernels))


def _imagemagick_kernel(segment: str, subject: str, label: str) -> Kernel:
    geometry, colon, values = segment.partition(":")
    geometry = geometry.strip()
    if not colon:
        hint = ""
        if segment[:1].isalpha():
            hint = (
                "; named ImageMagick kernels are not read, write the values "
                "(see 'imgconv kernels list' for imgconv's built-ins)"
            )
        msg = f"{subject} does not start with a W:, WxH: or WxH+X+Y: header{hint}"
        raise KernelError(msg)
    found = _IM_GEOMETRY.fullmatch(geometry)
    if not found:
        msg = (
            f"{subject}: header {geometry!r} is not W, WxH or WxH+X+Y "
            "(such as '3', '3x3' or '3x3+1+1')"
        )
        raise KernelError(msg)
    width = int(found["w"])
    height = int(found["h"]) if found["h"] else width
    if width == 0 or height == 0:
        msg = (
            f"{subject}: header {geometry!r} has a zero size; "
            "expected a width and height of 1 or more"
        )
        raise KernelError(msg)
    if found["x"] is not None:
        x, y = int(found["x"]), int(found["y"])
        if not (0 <= x < width and 0 <= y < height):
            msg = (
                f"{subject}: origin {found['x']}{found['y']} is outside its {width}x{height} "
                f"header; expected +X+Y with X in 0..{width - 1} and Y in 0..{height - 1}"
            )
            raise KernelError(msg)
    else:
        x, y = (width - 1) // 2, (height - 1) // 2

    tokens = _IM_VALUE_SEPARATORS.split(values.strip()) if values.strip() else []
    if "" in tokens:
        msg = f"{subject} has an empty value between commas; expected a number, 'nan' or '-'"
        raise KernelError(msg)
    if len(tokens) != width * height:
        plural = "value" if len(tokens) == 1 else "values"
        msg = (
            f"{subject} has {len(tokens)} {plural}; its {width}x{height} header "
            f"needs {width * height}"
        )
        raise KernelError(msg)
    weights = np.zeros(width * height)
    present = np.ones(width * height, dtype=bool)
    for i, token in enumerate(tokens):
        if token == "-" or token.lower() == "nan":
            present[i] = False
            continue
        value = _decimal(token)
        if value is None or not np.isfinite(value):
            problem = "not a finite number" if value is not None else _decimal_problem(token)
            msg = f"{subject}: {token!r} is {problem}; expected numbers, 'nan' or '-'"
            raise KernelError(msg)
        weights[i] = value
    if not present.any():
        msg = f"{subject} has only absent cells ('nan' or '-'); expected at least one number"
        raise KernelError(msg)
    shape = (height, width)
    return Kernel(
        weights.reshape(shape),
        anchor=_plain_anchor((y, x), shape),
        name=label,
        present=present.reshape(shape),
    )


# --- libvips .mat ---------------------------------------------------------------------------


def parse_vips_mat(text: str, name: str = "kernel") -> KernelSet:
    r"""Parse a libvips matrix file: a ``W H [scale [offset]]`` header, then H rows of W numbers.

    Parameters
    ----------
    text : str
        The file's text (see the module documentation).
    name : str
        The source: names the set and its kernel.

    Returns
    -------
    KernelSet
        One kernel whose ``scale`` is the header's scale and ``bias`` its
        offset.

    Raises
    ------
    KernelError
        A header that is not 2 to 4 numbers, W or H not positive whole
        numbers, a scale of 0, rows or columns that do not match the header,
        or a value that is not a finite number.

    Examples
    --------
    >>> k = parse_vips_mat("3 1 4 10\n1 2 1\n").kernels[0]
    >>> k.weights.tolist(), k.scale, k.bias
    ([[1.0, 2.0, 1.0]], 4.0, 10.0)
    """
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        msg = f"kernel {name!r} is empty; a .mat file starts with a header 'W H [scale [offset]]'"
        raise KernelError(msg)
    header = _mat_tokens(lines[0])
    if not 2 <= len(header) <= 4:
        plural = "field" if len(header) == 1 else "fields"
        msg = (
            f"kernel {name!r}: the header {lines[0].strip()!r} in line 1 has {len(header)} "
            f"{plural}; a .mat header is 'W H [scale [offset]]'"
        )
        raise KernelError(msg)
    numbers = [_mat_number(token, "the header", name) for token in header]
    for token, value, what in zip(header, numbers, ("width W", "height H"), strict=False):
        if value <= 0 or value != int(value):
            msg = f"kernel {name!r}: {what} {token!r} in the header is not a positive whole number"
            raise KernelError(msg)
    width, height = int(numbers[0]), int(numbers[1])
    scale = numbers[2] if len(numbers) > 2 else 1.0
    offset = numbers[3] if len(numbers) > 3 else 0.0
    if scale == 0:
        msg = f"kernel {name!r}: scale {header[2]!r} in the header would divide by zero"
        raise KernelError(msg)
    size = f"'{header[0]} {header[1]}' (W H)"
    rows = lines[1:]
    if len(rows) != height:
        needs = "1 row" if height == 1 else f"{height} rows"
        msg = f"kernel {name!r}: the header {size} needs {needs} but it has {len(rows)}"
        raise KernelError(msg)
    weights = []
    for number, line in enumerate(rows, start=2):
        tokens = _mat_tokens(line)
        if len(tokens) != width:
            msg = (
                f"kernel {name!r}: line {number} has {len(tokens)} numbers but the header "
                f"{size} needs {width} per row"
            )
            raise KernelError(msg)
        weights.append([_mat_number(t, f"line {number}", name) for t in tokens])
    kernel = Kernel(weights, scale=scale, bias=offset, name=name)
    return KernelSet(name, (kernel,))


def _mat_tokens(line: str) -> list[str]:
    return [t for t in _MAT_SEPARATORS.split(line.strip()) if t]


def _mat_number(token: str, where: str, name: str) -> float:
    value = _decimal(token)
    if value is None or not np.isfinite(value):
        problem = "not a finite number" if value is not None else _decimal_problem(token)
        msg = f"kernel {name!r}: {token!r} in {where} is {problem}"
        raise KernelError(msg)
    return value


# --- JSON -----------------------------------------------------------------------------------

_KERNEL_KEYS = ("weights", "scale", "factor", "bias", "offset", "anchor", "name", "absent")
_SET_KEYS = ("name", "combine", "bias", "kernels")
_BANK_KEYS = ("weights", "bias", "name")
_EXAMPLE = "[[0,-1,0],[-1,5,-1],[0,-1,0]]"


class _NotFiniteError(Exception):
    """A NaN, Infinity or out-of-range number met while decoding JSON."""

    def __init__(self, literal: str) -> None:
        super().__init__(literal)
        self.literal = literal


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not np.isfinite(value):
        raise _NotFiniteError(literal)
    return value


def _no_constant(literal: str) -> float:
    raise _NotFiniteError(literal)


class _DuplicateKeyError(Exception):
    """A key given twice in one JSON object (JSON would keep the last silently)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise _DuplicateKeyError(key)
        data[key] = value
    return data


def parse_json(text: str, name: str = "kernel") -> KernelSet | Bank:
    """Parse a kernel, a set of kernels or a bank written as JSON.

    Parameters
    ----------
    text : str
        A 2-D list, a kernel object, a set object, a list of kernel objects,
        or 3-D/4-D weights (see the module documentation).
    name : str
        The source: names the set, a lone kernel or a bank unless the
        top-level object has a ``"name"``, and ``NAME[i]`` for the unnamed
        kernels of a set.

    Returns
    -------
    KernelSet or Bank
        A :class:`Bank` for 3-D or 4-D weights; otherwise a set whose
        ``combine`` is the JSON's (None if it does not say).

    Raises
    ------
    KernelError
        Malformed JSON (with its line and column), a value of the wrong type,
        ragged rows, a non-finite number, an unknown key (with the known
        ones), or an anchor or absent cell outside the kernel.

    Examples
    --------
    >>> kernels = parse_json('{"weights": [[1, 2, 1]], "scale": 4, "anchor": [0, 0]}')
    >>> k = kernels.kernels[0]
    >>> k.matrix.tolist(), k.origin
    ([[0.25, 0.5, 0.25]], (0, 0))
    """
    try:
        data = json.loads(
            text,
            parse_float=_finite_float,
            parse_constant=_no_constant,
            object_pairs_hook=_unique_keys,
        )
    except _DuplicateKeyError as exc:
        msg = f"kernel {name!r}: key {exc.key!r} is given twice in one object"
        raise KernelError(msg) from None
    except RecursionError:
        msg = (
            f"kernel {name!r} nests JSON lists too deeply; expected at most 4 levels "
            "(K x C x H x W)"
        )
        raise KernelError(msg) from None
    except _NotFiniteError as exc:
        msg = f"kernel {name!r}: {exc.literal} is not a finite number; expected finite numbers"
        raise KernelError(msg) from None
    except json.JSONDecodeError as exc:
        msg = (
            f"kernel {name!r} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        )
        raise KernelError(msg) from None
    except ValueError as exc:  # an integer of more digits than Python converts
        msg = f"kernel {name!r} is not valid JSON: {exc}"
        raise KernelError(msg) from None
    reader = _JsonReader(name)
    if isinstance(data, dict):
        if "kernels" in data:
            return reader.kernel_set(data)
        if "weights" in data:
            return reader.kernel_or_bank(data)
        keys = ", ".join(repr(k) for k in data) or "none"
        msg = (
            f'kernel {name!r}: a JSON object needs "weights" (a kernel) or "kernels" '
            f"(a set); its keys are {keys}"
        )
        raise KernelError(msg)
    if isinstance(data, list):
        if data and all(isinstance(item, dict) for item in data):
            return reader.kernel_list(data)
        if any(isinstance(item, dict) for item in data):
            msg = (
                f"kernel {name!r}: the JSON list mixes kernel objects and other values; "
                "expected a list of rows of numbers or a list of kernel objects"
            )
            raise KernelError(msg)
        return reader.kernel_or_bank({"weights": data}, bare=True)
    msg = (
        f"kernel {name!r}: the JSON is {_json_kind(data)}; expected a list of rows such as "
        f'{_EXAMPLE} or an object with "weights"'
    )
    raise KernelError(msg)


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"a string {_short(value)}"
    if isinstance(value, int | float):
        return f"the number {_short(value)}"
    if isinstance(value, list):
        return f"a list {_short(value)}"
    return f"an object {_short(value)}"


def _short(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _JsonReader:
    """Checks decoded JSON and turns it into kernels, naming the source in messages."""

    def __init__(self, name: str) -> None:
        self.name = name

    def fail(self, message: str) -> KernelError:
        return KernelError(f"kernel {self.name!r}: {message}")

    def check_keys(self, data: dict[str, Any], known: Sequence[str], where: str) -> None:
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                msg = f"unknown key {key!r}{where}{hint}; the keys are {', '.join(known)}"
                raise self.fail(msg)

    def number(self, data: dict[str, Any], key: str, where: str) -> float:
        value = data[key]
        if not _is_number(value):
            msg = f'"{key}"{where} is {_json_kind(value)}; expected a number'
            raise self.fail(msg)
        try:
            return float(value)
        except OverflowError:
            msg = f'"{key}"{where} is beyond the range of a 64-bit float'
            raise self.fail(msg) from None

    def text(self, data: dict[str, Any], key: str, where: str) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            msg = f'"{key}"{where} is {_json_kind(value)}; expected a string'
            raise self.fail(msg)
        return value

    def array(self, value: object, label: str) -> NDArray[np.float64]:
        """A rectangular nested list of numbers as an array (any number of dimensions)."""
        depth = 0
        probe = value
        while isinstance(probe, list) and probe:
            probe = probe[0]
            depth += 1
        subject = label or "the JSON list"
        if not isinstance(value, list):
            msg = f"{subject} is {_json_kind(value)}; expected a list of rows"
            raise self.fail(msg)
        if isinstance(probe, list):
            problem = "is empty" if not value else "holds an empty list"
            msg = f"{subject} {problem}; expected rows of numbers such as {_EXAMPLE}"
            raise self.fail(msg)
        if depth > _MAX_JSON_DEPTH:  # NumPy holds 64 dimensions; a kernel needs 4
            msg = (
                f"{subject} nests lists {depth} deep; expected 2 (H x W), 3 (C x H x W) or "
                "4 (K x C x H x W)"
            )
            raise self.fail(msg)
        out = np.empty(_shape(value, depth), dtype=np.float64)
        self.fill(value, (), depth, label, out)
        return out

    def fill(
        self,
        value: list[Any],
        path: tuple[int, ...],
        depth: int,
        label: str,
        out: NDArray[np.float64],
    ) -> None:
        level = len(path)
        if len(value) != out.shape[level]:
            first = _where(path[:-1] + (0,), depth, label)
            here = _where(path, depth, label if depth > 2 else "")
            noun = "numbers" if level == depth - 1 else "lists"
            msg = (
                f"kernel {self.name!r} has ragged rows: {first} has {out.shape[level]} {noun} "
                f"but {here} has {len(value)}; every row needs the same count"
            )
            raise KernelError(msg)
        for i, item in enumerate(value):
            at = (*path, i)
            if level < depth - 1:
                if not isinstance(item, list):
                    where = _where(at, depth, label)
                    msg = f"{where} is {_json_kind(item)}; expected a list"
                    raise self.fail(msg)
                self.fill(item, at, depth, label, out)
                continue
            if not _is_number(item):
                where = _where(at, depth, label)
                msg = f"{where} is {_json_kind(item)}; expected a number"
                raise self.fail(msg)
            try:
                out[at] = float(item)
            except OverflowError:
                where = _where(at, depth, label)
                msg = f"{where} is beyond the range of a 64-bit float"
                raise self.fail(msg) from None

    def kernel_or_bank(self, data: dict[str, Any], *, bare: bool = False) -> KernelSet | Bank:
        label = "" if bare else '"weights"'
        weights = self.array(data["weights"], label)
        if weights.ndim == 2:
            kernel = self.kernel(data, weights, "", self.name)
            return KernelSet(kernel.name, (kernel,))
        if weights.ndim in (3, 4):
            return self.bank(data, weights)
        what = "the JSON list" if bare else '"weights"'
        if weights.ndim == 1:
            msg = f"{what} is a flat list of numbers; expected a list of rows such as {_EXAMPLE}"
        else:
            msg = (
                f"{what} has {weights.ndim} dimensions (shape {weights.shape}); expected 2 "
                "(H x W), 3 (C x H x W) or 4 (K x C x H x W)"
            )
        raise self.fail(msg)

    def kernel(
        self, data: dict[str, Any], weights: NDArray[np.float64], where: str, default_name: str
    ) -> Kernel:
        """A kernel object with its 2-D weights already read."""
        self.check_keys(data, _KERNEL_KEYS, where)
        kh, kw = weights.shape
        scale = self.number(data, "scale", where) if "scale" in data else 1.0
        if scale == 0:
            msg = f'"scale"{where} is 0; expected a finite, non-zero divisor'
            raise self.fail(msg)
        factor = self.number(data, "factor", where) if "factor" in data else 1.0
        if factor == 0:
            msg = f'"factor"{where} is 0; a factor of 0 would make every weight zero'
            raise self.fail(msg)
        if "bias" in data and "offset" in data:
            msg = f'"bias" and "offset"{where} are the same; give one of them'
            raise self.fail(msg)
        bias_key = "offset" if "offset" in data else "bias"
        bias = self.number(data, bias_key, where) if bias_key in data else 0.0
        anchor = None
        if "anchor" in data:
            ay, ax = self.cell(data["anchor"], '"anchor"', where, (kh, kw))
            anchor = _plain_anchor((ay, ax), (kh, kw))
        present = None
        if "absent" in data:
            cells = data["absent"]
            if not isinstance(cells, list):
                msg = f'"absent"{where} is {_json_kind(cells)}; expected a list of [y, x] cells'
                raise self.fail(msg)
            present = np.ones((kh, kw), dtype=bool)
            for cell in cells:
                ay, ax = self.cell(cell, '"absent" cell', where, (kh, kw))
                if weights[ay, ax] != 0:
                    msg = (
                        f'"absent" cell [{ay}, {ax}]{where} has weight {_short(weights[ay, ax])}; '
                        "an absent cell's weight must be 0"
                    )
                    raise self.fail(msg)
                present[ay, ax] = False
        label = self.text(data, "name", where) or default_name
        try:
            divisor = scale / factor
        except OverflowError:
            divisor = float("inf")
        if not np.isfinite(divisor) or divisor == 0:
            msg = f'"scale" / "factor"{where} is {divisor!r}; expected a finite, non-zero divisor'
            raise self.fail(msg)
        return Kernel(weights, scale=divisor, bias=bias, anchor=anchor, name=label, present=present)

    def cell(self, value: object, what: str, where: str, shape: tuple[int, int]) -> tuple[int, int]:
        kh, kw = shape
        if not (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            msg = f"{what}{where} is {_json_kind(value)}; expected [y, x], two whole numbers"
            raise self.fail(msg)
        ay, ax = value
        if not (0 <= ay < kh and 0 <= ax < kw):
            msg = (
                f"{what} [{ay}, {ax}]{where} is outside the {kh}x{kw} kernel; "
                f"expected 0..{kh - 1},0..{kw - 1}"
            )
            raise self.fail(msg)
        return ay, ax

    def kernel_set(self, data: dict[str, Any]) -> KernelSet:
        self.check_keys(data, _SET_KEYS, " in the set")
        set_name = self.text(data, "name", " of the set") or self.name
        combine = data.get("combine")
        if combine is not None and combine not in COMBINES:
            msg = (
                f'"combine" is {_json_kind(combine)}; expected one of {", ".join(COMBINES)} or null'
            )
            raise self.fail(msg)
        bias = self.number(data, "bias", " of the set") if "bias" in data else 0.0
        items = data["kernels"]
        if not isinstance(items, list) or not items:
            kind = "an empty list" if items == [] else _json_kind(items)
            msg = f'"kernels" is {kind}; expected a list of kernel objects'
            raise self.fail(msg)
        kernels = self.items(items, set_name)
        chosen: Combine | None = combine
        return KernelSet(set_name, kernels, combine=chosen, bias=bias)

    def kernel_list(self, items: list[Any]) -> KernelSet:
        return KernelSet(self.name, self.items(items, self.name))

    def items(self, items: list[Any], set_name: str) -> tuple[Kernel, ...]:
        kernels = []
        several = len(items) > 1
        for index, item in enumerate(items, start=1):
            where = f" in kernel {index}"
            default = f"{set_name}[{index}]" if several else set_name
            if isinstance(item, list):
                item = {"weights": item}
            if not isinstance(item, dict):
                msg = (
                    f"kernel {index} of the set is {_json_kind(item)}; expected a kernel "
                    'object such as {"weights": [[1, 0, -1]]}'
                )
                raise self.fail(msg)
            if "weights" not in item:
                msg = f'kernel {index} of the set has no "weights"; its keys are ' + (
                    ", ".join(repr(k) for k in item) or "none"
                )
                raise self.fail(msg)
            weights = self.array(item["weights"], f'kernel {index} "weights"')
            if weights.ndim != 2:
                msg = (
                    f'kernel {index} "weights" has {weights.ndim} dimension'
                    f"{'' if weights.ndim == 1 else 's'} (shape {weights.shape}); a kernel "
                    f"of a set is a list of rows such as {_EXAMPLE}"
                )
                raise self.fail(msg)
            kernels.append(self.kernel(item, weights, where, default))
        return tuple(kernels)

    def bank(self, data: dict[str, Any], weights: NDArray[np.float64]) -> Bank:
        what = f"{weights.ndim}-D bank"
        for key in data:
            if key not in _BANK_KEYS:
                msg = f"{key!r} does not apply to a {what}; a bank takes {', '.join(_BANK_KEYS)}"
                raise self.fail(msg)
        if weights.ndim == 3:
            weights = weights[np.newaxis]
        count = weights.shape[0]
        bias = np.zeros(count)
        if "bias" in data:
            given = data["bias"]
            if _is_number(given):
                bias[:] = self.number(data, "bias", "")
            else:
                values = self.array(given, '"bias"') if isinstance(given, list) else None
                if values is None or values.shape != (count,):
                    shape = "" if values is None else f" of shape {values.shape}"
                    msg = (
                        f'"bias" is {_json_kind(given)}{shape}; expected {count} '
                        f"number{'s' if count > 1 else ''}, one per kernel, or one number"
                    )
                    raise self.fail(msg)
                bias = values
        label = self.text(data, "name", "") or self.name
        return Bank(weights, bias, name=label)


def _shape(value: list[Any], depth: int) -> tuple[int, ...]:
    shape = []
    probe: Any = value
    for _ in range(depth):
        shape.append(len(probe))
        probe = probe[0]
    return tuple(shape)


def _where(path: tuple[int, ...], depth: int, label: str) -> str:
    """``row 2, column 3`` in 2-D weights (1-based); ``[k][c][y][x]`` (0-based) otherwise."""
    prefix = f"{label} " if label else ""
    if depth == 2 and len(path) <= 2:
        parts = [f"row {path[0] + 1}"] + ([f"column {path[1] + 1}"] if len(path) > 1 else [])
        return prefix + ", ".join(parts)
    if depth == 1 and len(path) == 1:
        return f"{prefix}item {path[0] + 1}"
    return (label or "the list") + "".join(f"[{i}]" for i in path)
