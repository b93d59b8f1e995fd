"""One vocabulary for borders, padding, stride, dilation and anchors.

The same words are used by the command-line flags, the Python API and the
documentation. This module parses them (with the aliases other tools use)
and is the only place that translates them to NumPy's ``np.pad`` modes and
SciPy's ``ndimage`` modes, which disagree with each other about what
"reflect" means.

Nothing here imports NumPy, so the command line can parse options cheaply.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import GeometryError, UsageError

BorderMode = Literal["edge", "zero", "constant", "reflect", "reflect101", "wrap"]

#: Every accepted border name, mapped to imgconv's own name. ``constant``
#: alone means a zero border; ``constant:V`` is parsed separately.
BORDER_ALIASES: dict[str, BorderMode] = {
    "edge": "edge",
    "replicate": "edge",
    "nearest": "edge",
    "clamp": "edge",
    "extend": "edge",
    "zero": "zero",
    "zeros": "zero",
    "constant": "zero",
    "black": "zero",
    "reflect": "reflect",
    "symmetric": "reflect",
    "mirror-edge": "reflect",
    "reflect101": "reflect101",
    "reflect-101": "reflect101",
    "mirror": "reflect101",
    "wrap": "wrap",
    "circular": "wrap",
    "periodic": "wrap",
    "tile": "wrap",
}

#: What each border puts around ``abcd`` (used by ``--help`` and the docs).
BORDER_PICTURES: dict[BorderMode, str] = {
    "edge": "aa|abcd|dd",
    "zero": "00|abcd|00",
    "constant": "VV|abcd|VV",
    "reflect": "ba|abcd|dc",
    "reflect101": "cb|abcd|cb",
    "wrap": "cd|abcd|ab",
}

# The translation, in one place. NumPy's "reflect" is imgconv's reflect101
# and NumPy's "symmetric" is imgconv's reflect; SciPy's "reflect" is
# imgconv's reflect and SciPy's "mirror" is imgconv's reflect101.
_NUMPY_PAD_MODE: dict[BorderMode, str] = {
    "edge": "edge",
    "zero": "constant",
    "constant": "constant",
    "reflect": "symmetric",
    "reflect101": "reflect",
    "wrap": "wrap",
}
_SCIPY_NDIMAGE_MODE: dict[BorderMode, str] = {
    "edge": "nearest",
    "zero": "constant",
    "constant": "constant",
    "reflect": "reflect",
    "reflect101": "mirror",
    "wrap": "wrap",
}


@dataclass(frozen=True)
class Border:
    """What the pixels outside the image hold.

    Parameters
    ----------
    mode : {'edge', 'zero', 'constant', 'reflect', 'reflect101', 'wrap'}
        imgconv's name for the border (see ``BORDER_PICTURES``).
    value : float
        The fill value of a ``constant`` border (0 for the others).
    """

    mode: BorderMode = "edge"
    value: float = 0.0

    @classmethod
    def parse(cls, text: str | Border) -> Border:
        """Read a border name, an alias, or ``constant:V``.

        Examples
        --------
        >>> Border.parse("replicate")
        Border(mode='edge', value=0.0)
        >>> Border.parse("constant:128")
        Border(mode='constant', value=128.0)
        """
        if isinstance(text, Border):
            return text
        word = text.strip().lower().replace("_", "-")
        if word.startswith("constant:"):
            number = word.partition(":")[2]
            value = _parse_float(number, "constant border value")
            return cls("constant", value)
        if word not in BORDER_ALIASES:
            names = ", ".join(sorted(BORDER_ALIASES)) + ", constant:V"
            msg = f"unknown border {text!r}; expected one of {names}"
            raise UsageError(msg)
        return cls(BORDER_ALIASES[word])

    @property
    def fill(self) -> float:
        """The value a zero or constant border holds."""
        return self.value if self.mode == "constant" else 0.0

    @property
    def numpy_mode(self) -> str:
        """The ``np.pad`` mode with the same meaning."""
        return _NUMPY_PAD_MODE[self.mode]

    @property
    def scipy_mode(self) -> str:
        """The ``scipy.ndimage`` mode with the same meaning (``cval`` is ``fill``)."""
        return _SCIPY_NDIMAGE_MODE[self.mode]

    def __str__(self) -> str:
        if self.mode == "constant":
            return f"constant:{self.value:g}"
        return self.mode


PaddingKind = Literal["same", "valid", "full", "explicit"]


@dataclass(frozen=True)
class Padding:
    """How much border surrounds the input before the kernel slides over it.

    ``same`` keeps the input's size (at stride 1), ``valid`` adds nothing,
    ``full`` keeps every overlap, and ``explicit`` gives the pixels on each
    side, as a convolutional layer does.
    """

    kind: PaddingKind = "same"
    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0

    @classmethod
    def parse(cls, text: str | int | tuple[int, ...] | Padding) -> Padding:
        """Read ``same``, ``valid``, ``full``, ``N``, ``PY,PX`` or ``T,B,L,R``.

        Examples
        --------
        >>> Padding.parse("2")
        Padding(kind='explicit', top=2, bottom=2, left=2, right=2)
        >>> Padding.parse("1,2")
        Padding(kind='explicit', top=1, bottom=1, left=2, right=2)
        """
        if isinstance(text, Padding):
            return text
        if not isinstance(text, str):
            numbers = _whole_numbers(text, "padding")
        else:
            word = text.strip().lower()
            if word in ("same", "valid", "full"):
                return cls(word)  # type: ignore[arg-type]
            numbers = _parse_ints(word, "padding", "same, valid, full, N, PY,PX or T,B,L,R")
        if len(numbers) not in (1, 2, 4):
            msg = (
                f"padding {text!r} has {len(numbers)} numbers; expected same, valid, "
                "full, N, PY,PX or T,B,L,R"
            )
            raise UsageError(msg)
        if any(n < 0 for n in numbers):
            msg = f"padding {text!r} is negative; expected pixels >= 0"
            raise UsageError(msg)
        if len(numbers) == 1:
            numbers = numbers * 4
        elif len(numbers) == 2:
            numbers = [numbers[0], numbers[0], numbers[1], numbers[1]]
        top, bottom, left, right = numbers
        return cls("explicit", top, bottom, left, right)

    def __str__(self) -> str:
        if self.kind != "explicit":
            return self.kind
        return f"{self.top},{self.bottom},{self.left},{self.right}"


def parse_pair(
    value: str | int | tuple[int, int] | list[int], name: str, *, minimum: int = 1
) -> tuple[int, int]:
    """Read a per-axis pair ``N`` or ``Y,X`` of whole numbers >= ``minimum``.

    Used for stride and dilation, so both report bad values the same way.

    Examples
    --------
    >>> parse_pair("2", "stride")
    (2, 2)
    >>> parse_pair("1,3", "dilation")
    (1, 3)
    """
    if isinstance(value, str):
        numbers = _parse_ints(value, name, "N or Y,X")
    else:
        numbers = _whole_numbers(value, name)
    if len(numbers) == 1:
        numbers = numbers * 2
    if len(numbers) != 2:
        msg = f"{name} {value!r} has {len(numbers)} numbers; expected N or Y,X"
        raise UsageError(msg)
    if any(n < minimum for n in numbers):
        msg = f"{name} {value!r} is below {minimum}; expected whole numbers >= {minimum}"
        raise GeometryError(msg)
    return numbers[0], numbers[1]


def parse_anchor(value: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """Read an anchor ``Y,X`` (row and column inside the kernel, from 0)."""
    if value is None or isinstance(value, tuple):
        return value
    numbers = _parse_ints(value, "anchor", "Y,X")
    if len(numbers) != 2:
        msg = f"anchor {value!r} has {len(numbers)} numbers; expected Y,X"
        raise UsageError(msg)
    return numbers[0], numbers[1]


#: The largest size or step the geometry takes: no image is larger (Pillow's
#: dimensions are 32-bit), and larger numbers overflow NumPy's integers.
LARGEST = 2**31 - 1


def _whole_numbers(value: object, name: str) -> list[int]:
    """Whole numbers from an int, a NumPy integer or a sequence of them."""
    items: list[Any] = list(value) if isinstance(value, tuple | list) else [value]
    try:
        return _in_range([operator.index(item) for item in items], value, name)
    except TypeError:
        msg = f"{name} {value!r} is not whole numbers"
        raise UsageError(msg) from None


def _parse_ints(text: str, name: str, expected: str) -> list[int]:
    parts = [p.strip() for p in text.replace(" ", ",").split(",") if p.strip()]
    try:
        numbers = [int(p) for p in parts] if parts else _fail(text, name, expected)
    except ValueError:
        return _fail(text, name, expected)
    return _in_range(numbers, text, name)


def _in_range(numbers: list[int], value: object, name: str) -> list[int]:
    if any(abs(n) > LARGEST for n in numbers):
        msg = f"{name} {value!r} is too large; expected numbers up to {LARGEST}"
        raise UsageError(msg)
    return numbers


def _fail(text: str, name: str, expected: str) -> list[int]:
    msg = f"{name} {text!r} is not understood; expected {expected}"
    raise UsageError(msg)


def _parse_float(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if value != value or value in (float("inf"), float("-inf")):
        msg = f"{name} {text!r} is not a finite number"
        raise UsageError(msg)
    return value
