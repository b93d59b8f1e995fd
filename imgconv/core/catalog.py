"""The built-in kernels, by name, with their parameters.

Matrices are stored in correlation form, the way they are applied (OpenCV,
libvips, GIMP and CNN layers store them so too). Derivative kernels follow
one orientation rule: ``*-x`` is positive where brightness rises from left
to right and ``*-y`` where it rises from top to bottom. Sources are in
``../shared/reference/KERNELS.md`` section 7 and are named per entry.

A name may carry parameters after a colon: ``box:5``, ``gaussian:1.5,9``,
``kirsch:ne``, ``motion:15,30``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..errors import KernelError
from .kernels import Combine, Kernel, KernelSet

#: Largest side a generated kernel may have (gaussian:200 would be 1201).
MAX_GENERATED_SIDE = 1025
#: Smallest Gaussian sigma: below it every weight but the centre underflows.
MIN_SIGMA = 0.05

Builder = Callable[[list[str]], KernelSet]


@dataclass(frozen=True)
class Builtin:
    """A named kernel in the catalogue.

    Attributes
    ----------
    name : str
        The name typed on the command line.
    params : str
        Parameter grammar shown by ``kernels list`` (``[N]``, ``SIGMA[,SIZE]``);
        empty when the kernel takes none.
    summary : str
        One line for ``kernels list``.
    build : callable
        Turns the parameter strings into a :class:`KernelSet`.
    """

    name: str
    params: str
    summary: str
    build: Builder


BUILTINS: dict[str, Builtin] = {}


def _register(name: str, params: str, summary: str) -> Callable[[Builder], Builder]:
    def add(build: Builder) -> Builder:
        BUILTINS[name] = Builtin(name, params, summary, build)
        return build

    return add


def get_builtin(spec: str) -> KernelSet:
    """Build a built-in from ``NAME`` or ``NAME:PARAMS``.

    Raises
    ------
    KernelError
        If the name is unknown (with the closest names) or the parameters
        are not what the kernel takes.

    Examples
    --------
    >>> get_builtin("box:5").kernels[0].shape
    (5, 5)
    """
    name, colon, params = spec.strip().partition(":")
    name = name.lower()
    if name not in BUILTINS:
        msg = f"{spec!r} is not a built-in kernel{did_you_mean(name)}"
        raise KernelError(msg)
    if colon and not params.strip():
        grammar = BUILTINS[name].params or "no parameters"
        msg = f"{name}: nothing follows ':'; expected {grammar} (or no colon)"
        raise KernelError(msg)
    args = [a.strip() for a in params.split(",")] if params.strip() else []
    kernel_set = BUILTINS[name].build(args)
    return KernelSet(
        spec.strip(),
        kernel_set.kernels,
        kernel_set.combine,
        kernel_set.bias,
        BUILTINS[name].summary,
    )


def is_builtin(spec: str) -> bool:
    """Whether ``spec`` names a built-in (parameters are not checked)."""
    return spec.strip().partition(":")[0].lower() in BUILTINS


def did_you_mean(word: str) -> str:
    """``"; did you mean 'a', 'b'?"`` for close built-in names, else ``""``."""
    base = word.partition(":")[0].lower()
    close = difflib.get_close_matches(base, list(BUILTINS), n=3, cutoff=0.6)
    close += [n for n in BUILTINS if base and n.startswith(base) and n not in close][:3]
    if not close:
        return ""
    return "; did you mean " + ", ".join(repr(c) for c in close[:3]) + "?"


# ---------------------------------------------------------------------------
# Parameters


def _arity(name: str, grammar: str, args: list[str], low: int, high: int) -> None:
    if not low <= len(args) <= high:
        given = ",".join(args) if args else "nothing"
        msg = f"{name} takes {grammar or 'no parameters'}; got {given!r}"
        raise KernelError(msg)


def _number(name: str, what: str, text: str, *, positive: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or (positive and value <= 0):
        kind = "a positive number" if positive else "a number"
        msg = f"{name}: {what} {text!r} is not {kind}"
        raise KernelError(msg)
    return value


def _whole(name: str, what: str, text: str, *, odd: bool = False) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 or (odd and value % 2 == 0):
        kind = "an odd whole number >= 1" if odd else "a whole number >= 1"
        msg = f"{name}: {what} {text!r} is not {kind}"
        raise KernelError(msg)
    _check_side(name, value)
    return value


def _check_side(name: str, side: int) -> None:
    if side > MAX_GENERATED_SIDE:
        msg = (
            f"{name} would be {side}x{side}; the largest generated kernel is "
            f"{MAX_GENERATED_SIDE}x{MAX_GENERATED_SIDE}"
        )
        raise KernelError(msg)


def _fixed(name: str, rows: list[list[float]], scale: float = 1.0) -> Builder:
    """A parameterless kernel given by its matrix."""

    def build(args: list[str]) -> KernelSet:
        _arity(name, "", args, 0, 0)
        return KernelSet.single(Kernel(rows, scale=scale, name=name))

    return build


def _register_fixed(name: str, summary: str, rows: list[list[float]], scale: float = 1.0) -> None:
    _register(name, "", summary)(_fixed(name, rows, scale))


# ---------------------------------------------------------------------------
# Generators (shared by several entries)


def gaussian_weights(sigma: float, size: int | None = None) -> NDArray[np.float64]:
    """Sampled 2-D Gaussian normalised to sum 1; ``size`` defaults to ``2*ceil(3*sigma)+1``.

    Examples
    --------
    >>> gaussian_weights(1.0).shape
    (7, 7)
    """
    side = size if size is not None else 2 * math.ceil(3 * sigma) + 1
    _check_side("gaussian", side)
    x = np.arange(side) - (side - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    weights = np.outer(g, g)
    normalised: NDArray[np.float64] = weights / weights.sum()
    return normalised


def _sigma(name: str, what: str, text: str) -> float:
    sigma = _number(name, what, text, positive=True)
    if sigma < MIN_SIGMA:
        msg = (
            f"{name}: {what} {text!r} is below {MIN_SIGMA}; a Gaussian that narrow is the "
            "identity kernel"
        )
        raise KernelError(msg)
    return sigma


def _sigma_size(name: str, args: list[str]) -> tuple[float, int | None]:
    sigma = _sigma(name, "SIGMA", args[0])
    size = _whole(name, "SIZE", args[1], odd=True) if len(args) > 1 else None
    if size is None:
        _check_side(name, 2 * math.ceil(3 * sigma) + 1)
    return sigma, size


def log_weights(sigma: float, size: int | None = None) -> NDArray[np.float64]:
    """Laplacian of Gaussian, negative centre (like ``laplacian``), zero-sum.

    ``size`` defaults to ``2*ceil(4*sigma)+1`` (the LoG's tails reach further
    than the Gaussian's; SciPy's ``gaussian_laplace`` truncates at 4 sigma too).
    """
    side = size if size is not None else 2 * math.ceil(4 * sigma) + 1
    _check_side("log", side)
    x = np.arange(side) - (side - 1) / 2
    r2 = x[:, None] ** 2 + x[None, :] ** 2
    weights = (r2 - 2 * sigma**2) / sigma**4 * np.exp(-r2 / (2 * sigma**2)) / (2 * np.pi * sigma**2)
    # The truncated samples do not sum to zero; remove the residue evenly so
    # that a flat area gives exactly 0.
    centred: NDArray[np.float64] = weights - weights.mean()
    return centred


def motion_weights(length: float, angle: float = 0.0) -> NDArray[np.float64]:
    """A centred line of ``length`` pixels at ``angle`` degrees, summing to 1.

    The angle is counter-clockwise from the x axis as the image is seen
    (0 is horizontal, 90 vertical). Each cell's weight is ``1 - d`` for its
    distance ``d`` from the segment (0 beyond 1 pixel), which anti-aliases
    oblique lines and gives ``length`` equal cells for horizontal ones.
    """
    half = (length - 1) / 2
    theta = math.radians(angle)
    ux, uy = math.cos(theta), -math.sin(theta)  # image rows grow downwards
    side = 2 * math.ceil(half + 1) + 1
    _check_side("motion", side)
    c = np.arange(side) - side // 2
    ys, xs = np.meshgrid(c, c, indexing="ij")
    along = np.clip(xs * ux + ys * uy, -half, half)
    distance = np.hypot(xs - along * ux, ys - along * uy)
    weights = np.clip(1 - distance, 0, None)
    weights[np.abs(weights) < 1e-12] = 0
    return _trim(weights / weights.sum())


def _trim(weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """Drop all-zero outer rows and columns in pairs, keeping the centre."""
    while weights.shape[0] > 1 and not weights[0].any() and not weights[-1].any():
        weights = weights[1:-1]
    while weights.shape[1] > 1 and not weights[:, 0].any() and not weights[:, -1].any():
        weights = weights[:, 1:-1]
    return weights


#: Compass directions, clockwise from north, for kirsch:DIR.
DIRECTIONS = ("n", "ne", "e", "se", "s", "sw", "w", "nw")
# The outer ring of a 3x3 kernel, clockwise from the top-left cell.
_RING = ((0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0))


def kirsch_weights(direction: str) -> NDArray[np.float64]:
    """Kirsch compass kernel responding most where the bright side faces ``direction``.

    ``n`` is ``5 5 5; -3 0 -3; -3 -3 -3``; each step clockwise moves the
    ring of weights one cell (45 degrees) clockwise.
    """
    steps = DIRECTIONS.index(direction)
    ring = [5.0, 5.0, 5.0, -3.0, -3.0, -3.0, -3.0, -3.0]
    ring = ring[-steps:] + ring[:-steps] if steps else ring
    weights = np.zeros((3, 3))
    for (y, x), value in zip(_RING, ring, strict=True):
        weights[y, x] = value
    return weights


# ---------------------------------------------------------------------------
# The catalogue. Order here is the order of `imgconv kernels list`.

# Seed slides, kernel table.
_register_fixed("identity", "returns the input unchanged", [[0, 0, 0], [0, 1, 0], [0, 0, 0]])


@_register("box", "[N]", "box blur: the mean of an N x N square (default 3)")
def _box(args: list[str]) -> KernelSet:
    _arity("box", "[N]", args, 0, 1)
    n = _whole("box", "N", args[0]) if args else 3
    return KernelSet.single(Kernel(np.ones((n, n)), scale=n * n, name="box"))


@_register(
    "gaussian",
    "[SIGMA[,SIZE]]",
    "Gaussian blur: 1 2 1; 2 4 2; 1 2 1 / 16, or sampled with SIGMA (size 2*ceil(3*SIGMA)+1)",
)
def _gaussian(args: list[str]) -> KernelSet:
    _arity("gaussian", "[SIGMA[,SIZE]]", args, 0, 2)
    if not args:  # seed slides: Gaussian blur 3 x 3
        return KernelSet.single(
            Kernel([[1, 2, 1], [2, 4, 2], [1, 2, 1]], scale=16, name="gaussian")
        )
    sigma, size = _sigma_size("gaussian", args)
    return KernelSet.single(Kernel(gaussian_weights(sigma, size), name="gaussian"))


# Seed slides (both decks).
_register_fixed(
    "sharpen",
    "sharpen: 5 at the centre, -1 on the four sides",
    [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
)
# Seed slides; Pillow FIND_EDGES; ImageMagick Laplacian:0.
_register_fixed(
    "edge-detect",
    "edges in every direction: 8 at the centre, -1 around",
    [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
)
# Seed slides ("edge detect"); OpenCV Laplacian(ksize=1), scipy.ndimage.laplace.
_register_fixed(
    "laplacian",
    "4-neighbour Laplacian, negative centre (OpenCV, SciPy)",
    [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
)
_register_fixed(
    "laplacian-8", "8-neighbour Laplacian, negative centre", [[1, 1, 1], [1, -8, 1], [1, 1, 1]]
)
# Seed slides, the first edge-detection kernel.
_register_fixed(
    "edge-cross", "diagonal edges: 1 0 -1; 0 0 0; -1 0 1", [[1, 0, -1], [0, 0, 0], [-1, 0, 1]]
)
# Seed slides (GIMP documentation example).
_register_fixed(
    "edge-enhance",
    "GIMP's edge enhance: the pixel minus its left neighbour",
    [[0, 0, 0], [-1, 1, 0], [0, 0, 0]],
)
_register_fixed(
    "emboss", "GIMP's emboss: relief lit from the top left", [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]
)

# Derivatives, correlation form: *-x positive for dark-to-bright left to
# right, *-y for dark-to-bright top to bottom. Built from named separable
# parts (a derivative and a smoothing vector).
_DIFF = np.array([-1.0, 0.0, 1.0])
_SOBEL_SMOOTH = np.array([1.0, 2.0, 1.0])
_PREWITT_SMOOTH = np.array([1.0, 1.0, 1.0])
_SCHARR_SMOOTH = np.array([3.0, 10.0, 3.0])  # OpenCV's Scharr

_DERIVATIVES: dict[str, tuple[NDArray[np.float64], str]] = {
    "sobel": (_SOBEL_SMOOTH, "Sobel"),
    "prewitt": (_PREWITT_SMOOTH, "Prewitt"),
    "scharr": (_SCHARR_SMOOTH, "Scharr (OpenCV)"),
}
for _family, (_smooth, _label) in _DERIVATIVES.items():
    _register_fixed(
        f"{_family}-x",
        f"{_label} x derivative: positive where brightness rises left to right",
        np.outer(_smooth, _DIFF).tolist(),
    )
    _register_fixed(
        f"{_family}-y",
        f"{_label} y derivative: positive where brightness rises top to bottom",
        np.outer(_DIFF, _smooth).tolist(),
    )

# Roberts cross as KERNELS.md gives it. These are diagonal differences and do
# not follow the -x/-y rule: roberts-x is top-left minus bottom-right,
# roberts-y top-right minus bottom-left.
_register_fixed(
    "roberts-x",
    "Roberts cross 1 0; 0 -1: top-left minus bottom-right (a diagonal difference)",
    [[1, 0], [0, -1]],
)
_register_fixed(
    "roberts-y",
    "Roberts cross 0 1; -1 0: top-right minus bottom-left (a diagonal difference)",
    [[0, 1], [-1, 0]],
)


@_register(
    "kirsch", "[DIR]", "Kirsch compass: DIR in n ne e se s sw w nw; no DIR: the maximum over all 8"
)
def _kirsch(args: list[str]) -> KernelSet:
    _arity("kirsch", "[DIR]", args, 0, 1)
    if not args:
        kernels = tuple(Kernel(kirsch_weights(d), name=f"kirsch:{d}") for d in DIRECTIONS)
        return KernelSet("kirsch", kernels, "max")
    direction = args[0].lower()
    if direction not in DIRECTIONS:
        msg = f"kirsch: DIR {args[0]!r} is not a direction; expected one of {' '.join(DIRECTIONS)}"
        raise KernelError(msg)
    return KernelSet.single(Kernel(kirsch_weights(direction), name=f"kirsch:{direction}"))


def _magnitude(name: str, parts: tuple[str, ...], combine: Combine = "magnitude") -> Builder:
    def build(args: list[str]) -> KernelSet:
        _arity(name, "", args, 0, 0)
        kernels = tuple(k for part in parts for k in get_builtin(part).kernels)
        return KernelSet(name, kernels, combine)

    return build


for _family in ("sobel", "prewitt", "scharr", "roberts"):
    _register(_family, "", f"gradient magnitude sqrt(x^2 + y^2) of {_family}-x and {_family}-y")(
        _magnitude(_family, (f"{_family}-x", f"{_family}-y"))
    )


@_register(
    "log",
    "SIGMA[,SIZE]",
    "Laplacian of Gaussian, negative centre, zero-sum (size 2*ceil(4*SIGMA)+1)",
)
def _log(args: list[str]) -> KernelSet:
    _arity("log", "SIGMA[,SIZE]", args, 1, 2)
    sigma = _sigma("log", "SIGMA", args[0])
    size = _whole("log", "SIZE", args[1], odd=True) if len(args) > 1 else None
    return KernelSet.single(Kernel(log_weights(sigma, size), name="log"))


@_register(
    "dog", "S1,S2", "difference of Gaussians G(S1) - G(S2), zero-sum (size 2*ceil(3*max(S1,S2))+1)"
)
def _dog(args: list[str]) -> KernelSet:
    _arity("dog", "S1,S2", args, 2, 2)
    s1 = _sigma("dog", "S1", args[0])
    s2 = _sigma("dog", "S2", args[1])
    if s1 == s2:
        msg = f"dog: S1 and S2 are both {args[0]}; a difference of equal Gaussians is all zeros"
        raise KernelError(msg)
    side = 2 * math.ceil(3 * max(s1, s2)) + 1
    _check_side("dog", side)
    weights = gaussian_weights(s1, side) - gaussian_weights(s2, side)
    return KernelSet.single(Kernel(weights, name="dog"))


@_register(
    "motion",
    "LENGTH[,ANGLE]",
    "motion blur along a centred line, ANGLE in degrees counter-clockwise from horizontal",
)
def _motion(args: list[str]) -> KernelSet:
    _arity("motion", "LENGTH[,ANGLE]", args, 1, 2)
    length = _number("motion", "LENGTH", args[0], positive=True)
    if length < 1:
        msg = f"motion: LENGTH {args[0]!r} is below 1 pixel"
        raise KernelError(msg)
    angle = _number("motion", "ANGLE", args[1]) if len(args) > 1 else 0.0
    return KernelSet.single(Kernel(motion_weights(length, angle), name="motion"))


@_register(
    "unsharp",
    "[SIGMA[,AMOUNT]]",
    "unsharp mask: input + AMOUNT * (input - gaussian:SIGMA); defaults 1 and 1",
)
def _unsharp(args: list[str]) -> KernelSet:
    _arity("unsharp", "[SIGMA[,AMOUNT]]", args, 0, 2)
    sigma = _sigma("unsharp", "SIGMA", args[0]) if args else 1.0
    amount = _number("unsharp", "AMOUNT", args[1]) if len(args) > 1 else 1.0
    _check_side("unsharp", 2 * math.ceil(3 * sigma) + 1)
    blur = gaussian_weights(sigma)
    identity = np.zeros_like(blur)
    identity[blur.shape[0] // 2, blur.shape[1] // 2] = 1
    return KernelSet.single(Kernel(identity + amount * (identity - blur), name="unsharp"))
