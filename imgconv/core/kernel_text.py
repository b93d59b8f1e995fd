"""Read a kernel written as text: inline (``"0,-1,0;-1,5,-1;0,-1,0"``) or a file grid.

Grammar (KERNELS.md section 6):

- rows are separated by new lines or ``;``; numbers by commas, spaces or tabs;
- ``#`` starts a comment that runs to the end of the line;
- a number is an integer, a decimal (``0.25``, ``-1e-3``) or a fraction
  (``1/9``);
- a line of just a fraction (``1/16``) first or last, in a grid whose rows
  hold more than one number, is a **factor** that multiplies every weight;
- keyword lines, each at most once: ``scale X`` divides the weights,
  ``factor F`` multiplies them, ``bias B`` (or ``offset B``) is added after
  scaling in output units, ``anchor Y,X`` sets the anchor. A ``:`` or ``=``
  after the keyword is allowed.

A list with no ``;`` and no new line is one row: ``"1,0,-1"`` is 1 x 3 and
``"1;0;-1"`` is 3 x 1.
"""

from __future__ import annotations

import re
from fractions import Fraction

from ..errors import KernelError
from .kernels import Kernel

_KEYWORDS = ("scale", "factor", "bias", "offset", "anchor")
_KEYWORD_LINE = re.compile(r"^(?P<key>[a-zA-Z]+)\s*[:=]?\s*(?P<value>.*)$")
_SEPARATORS = re.compile(r"[,\s]+")
# Characters an inline matrix may contain (besides the words nan and inf).
_MATRIX_CHARS = frozenset("0123456789.,;+-eE/ \t")


def looks_like_matrix(text: str) -> bool:
    """Whether ``text`` is meant as an inline matrix rather than a name or path.

    True when it holds ``;`` or ``,`` or consists only of characters that
    numbers use, so that a malformed matrix gets a precise parse error
    instead of "unknown kernel".
    """
    if ";" in text or "," in text:
        return True
    stripped = re.sub(r"(?i)nan|inf(inity)?", "", text)
    return bool(text.strip()) and set(stripped) <= _MATRIX_CHARS


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
        special = token.strip().lower().lstrip("+-") in ("nan", "inf", "infinity")
        problem = "not a finite number" if special else "not a number"
    msg = f"kernel {name!r}: {token!r} in {where} is {problem}"
    raise KernelError(msg)


def parse_number(token: str, where: str, name: str) -> float:
    """:func:`parse_exact` as a float."""
    return float(parse_exact(token, where, name))


def parse_kernel_text(text: str, name: str = "kernel") -> Kernel:
    r"""Parse a kernel grid (inline string or file contents).

    Parameters
    ----------
    text : str
        The grid, in the grammar of this module's documentation.
    name : str
        Used in messages (a file name, or the inline text itself).

    Returns
    -------
    Kernel
        Weights as written; a factor line and ``scale`` become the divisor.

    Raises
    ------
    KernelError
        Naming the line or row: a non-number, a non-finite number, ragged
        rows, no numbers at all, or a repeated or malformed keyword line.

    Examples
    --------
    >>> k = parse_kernel_text("1 2 1\\n2 4 2\\n1 2 1\\n1/16")
    >>> k.scale, k.weights[1].tolist()
    (16.0, [2.0, 4.0, 2.0])
    >>> parse_kernel_text("1;0;-1").shape
    (3, 1)
    """
    inline = "\n" not in text.strip()
    rows: list[tuple[str, list[str]]] = []  # (where, tokens)
    settings: dict[str, tuple[str, str]] = {}  # keyword -> (value text, where)
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0]
        for part in content.split(";"):
            part = part.strip()
            if not part:
                continue
            where = f"row {len(rows) + 1}" if inline else f"line {number}"
            if inline and ";" not in content:
                where = "the row"
            keyword = _KEYWORD_LINE.match(part)
            if keyword and keyword["key"].lower() in _KEYWORDS:
                key = keyword["key"].lower()
                key = "bias" if key == "offset" else key
                if key in settings:
                    msg = f"kernel {name!r}: {key} is given twice ({settings[key][1]} and {where})"
                    raise KernelError(msg)
                settings[key] = (keyword["value"].strip(), where)
                continue
            rows.append((where, [t for t in _SEPARATORS.split(part) if t]))
    if not rows:
        msg = f"kernel {name!r} has no numbers; expected rows such as '0,-1,0;-1,5,-1;0,-1,0'"
        raise KernelError(msg)

    factor = Fraction(1)
    if len(rows) > 1:
        widths = [len(tokens) for _, tokens in rows]
        for index in (0, len(rows) - 1):
            where, tokens = rows[index]
            others = widths[:index] + widths[index + 1 :]
            if len(tokens) == 1 and "/" in tokens[0] and min(others) > 1:
                factor = parse_exact(tokens[0], where, name)
                del rows[index]
                break

    weights = [[parse_number(t, where, name) for t in tokens] for where, tokens in rows]
    first_where, first = rows[0]
    for where, tokens in rows[1:]:
        if len(tokens) != len(first):
            msg = (
                f"kernel {name!r} has ragged rows: {first_where} has {len(first)} numbers "
                f"but {where} has {len(tokens)}; every row needs the same count"
            )
            raise KernelError(msg)

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
    anchor = None
    if "anchor" in settings:
        value, where = settings["anchor"]
        parts = [p for p in _SEPARATORS.split(value) if p]
        try:
            ay, ax = (int(p) for p in parts)
        except ValueError:
            msg = f"kernel {name!r}: anchor {value!r} in {where} is not two whole numbers Y,X"
            raise KernelError(msg) from None
        anchor = (ay, ax)
    return Kernel(weights, scale=float(scale / factor), bias=bias, anchor=anchor, name=name)
