"""How each built-in kernel is made: matrices, generators and rotations.

Everything here is in correlation form, the way it is applied. Directional
kernels follow one rule: at angle 0 they are positive where brightness rises
toward +x (left to right), and ``NAME:ANGLE`` turns them so they are
positive where brightness rises toward ANGLE, measured from +x toward +y,
that is **clockwise as the image is seen** (ImageMagick's convention, so
``sobel:90`` is ``sobel-y``). Compass names stand for angles: ``e`` 0,
``se`` 45, ``s`` 90, ``sw`` 135, ``w`` 180, ``nw`` 225, ``n`` 270, ``ne`` 315.

ImageMagick stores its kernels rotated 180 degrees and convolves them; the
matrices here are those rotated back, so applying them gives the same
result as ``-morphology Convolve``. Pillow applies its matrices flipped
vertically; the matrices here are Pillow's flipped, with its scale and
offset, so they give Pillow's result (away from the border, which Pillow
leaves unfiltered).

The catalogue of names, parameters and descriptions is
:mod:`imgconv.core.catalog`, which does not need NumPy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from ..errors import KernelError
from .kernels import Combine, Kernel, KernelSet

Weights = NDArray[np.float64]
Builder = Callable[[list[str]], KernelSet]

#: Largest side a generated kernel may have (gaussian:200 would be 1201).
MAX_GENERATED_SIDE = 1025
#: Sides from this up are named as "over" it in messages, not in full.
_HUGE_SIDE = 1_000_000
#: Smallest Gaussian sigma: below it every weight but the centre underflows.
MIN_SIGMA = 0.05
#: Largest Gaussian sigma. Over a window of MAX_GENERATED_SIDE its weights
#: differ by under 1.5e-7 (a box for any purpose); far above it, sigma**2 and
#: sigma**4 (the LoG) overflow.
MAX_SIGMA = 1e6

#: Compass directions and the angles they stand for (clockwise from east).
DIRECTIONS: dict[str, int] = {
    "e": 0,
    "se": 45,
    "s": 90,
    "sw": 135,
    "w": 180,
    "nw": 225,
    "n": 270,
    "ne": 315,
}
#: Set expansions: every 45 degrees (``@``, or ``*``) or every 90 (``>``).
EXPANSIONS: dict[str, tuple[int, ...]] = {
    "@": tuple(range(0, 360, 45)),
    "*": tuple(range(0, 360, 45)),
    ">": (0, 90, 180, 270),
}
# The outer ring of a 3x3 kernel, clockwise from the top-left cell.
_RING = ((0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0))
_SQRT2 = math.sqrt(2)
_HALF_SQRT2 = _SQRT2 / 2

BUILDERS: dict[str, Builder] = {}


def _builder(name: str) -> Callable[[Builder], Builder]:
    def add(build: Builder) -> Builder:
        BUILDERS[name] = build
        return build

    return add


# ---------------------------------------------------------------------------
# Parameters


def arity(name: str, grammar: str, args: Sequence[str], low: int, high: int) -> None:
    """Raise a KernelError unless ``low <= len(args) <= high``."""
    if not low <= len(args) <= high:
        given = ",".join(args) if args else "nothing"
        msg = f"{name} takes {grammar or 'no parameters'}; got {given!r}"
        raise KernelError(msg)


def number(name: str, what: str, text: str, *, positive: bool = False) -> float:
    """A finite number (positive if asked), or a KernelError naming it."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or (positive and value <= 0):
        kind = "a positive number" if positive else "a number"
        msg = f"{name}: {what} {text!r} is not {kind}"
        raise KernelError(msg)
    return value


def whole(name: str, what: str, text: str, *, odd: bool = False) -> int:
    """A whole number >= 1 (odd if asked), or a KernelError naming it."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 or (odd and value % 2 == 0):
        kind = "an odd whole number >= 1" if odd else "a whole number >= 1"
        msg = f"{name}: {what} {text!r} is not {kind}"
        raise KernelError(msg)
    check_side(name, value)
    return value


def sigma(name: str, what: str, text: str) -> float:
    """A Gaussian sigma: a number from MIN_SIGMA to MAX_SIGMA."""
    value = number(name, what, text, positive=True)
    if value < MIN_SIGMA:
        msg = (
            f"{name}: {what} {text!r} is below {MIN_SIGMA}; a Gaussian that narrow is the "
            "identity kernel"
        )
        raise KernelError(msg)
    if value > MAX_SIGMA:
        msg = (
            f"{name}: {what} {text!r} is above {MAX_SIGMA:g}; a Gaussian that wide is a box over "
            "any kernel size"
        )
        raise KernelError(msg)
    return value


def check_side(name: str, side: int) -> None:
    """Refuse generated kernels larger than MAX_GENERATED_SIDE."""
    if side > MAX_GENERATED_SIDE:
        # A side of many digits (gaussian:1e30) says nothing more than "huge".
        size = f"{side}x{side}" if side < _HUGE_SIDE else f"over {_HUGE_SIDE}x{_HUGE_SIDE}"
        msg = (
            f"{name} would be {size}; the largest generated kernel is "
            f"{MAX_GENERATED_SIDE}x{MAX_GENERATED_SIDE}"
        )
        raise KernelError(msg)


def reach_side(name: str, reach: float) -> int:
    """The odd side ``2*ceil(reach)+1`` of a kernel reaching ``reach`` pixels from its centre.

    Refused as :func:`check_side` does; a reach too large for an integer
    (``3 * 1e308`` is infinite) is refused before it is rounded.
    """
    if not reach < _HUGE_SIDE:
        check_side(name, _HUGE_SIDE)
    side = 2 * math.ceil(reach) + 1
    check_side(name, side)
    return side


# ---------------------------------------------------------------------------
# Rotation


def degrees_of(name: str, text: str) -> float:
    """Degrees from a number or a compass name (``e``, ``se``, ...), in [0, 360)."""
    word = text.strip().lower()
    if word in DIRECTIONS:
        return DIRECTIONS[word]
    try:
        value = float(word)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        msg = (
            f"{name}: ANGLE {text!r} is not an angle in degrees or a direction "
            f"({' '.join(DIRECTIONS)})"
        )
        raise KernelError(msg)
    return value % 360


def angle_of(name: str, text: str) -> int:
    """Whole degrees from a number or a compass name, in 0..359."""
    value = degrees_of(name, text)
    if value != int(value):
        msg = f"{name}: ANGLE {text!r} is not a whole number of degrees"
        raise KernelError(msg)
    return int(value)


def rotate(weights: Weights, degrees: int, name: str) -> Weights:
    """Turn a kernel clockwise (as the image is seen) by ``degrees``.

    Multiples of 90 turn any kernel; a 3x3 kernel also turns in steps of 45
    by moving its outer ring one cell per step, as ImageMagick does.
    """
    degrees %= 360
    if degrees % 90 == 0:
        turned: Weights = np.rot90(weights, k=-(degrees // 90))
        return turned.copy()
    if weights.shape == (3, 3) and degrees % 45 == 0:
        steps = degrees // 45
        ring = [weights[cell] for cell in _RING]
        ring = ring[-steps:] + ring[:-steps]
        out = weights.copy()
        for cell, value in zip(_RING, ring, strict=True):
            out[cell] = value
        return out
    step = 45 if weights.shape == (3, 3) else 90
    msg = f"{name} turns in steps of {step} degrees; got {degrees}"
    raise KernelError(msg)


def rotatable(
    name: str,
    base: Weights,
    *,
    scale: float = 1.0,
    bias: float = 0.0,
    combine: Combine = "max",
    prefix: str | None = None,
) -> Callable[[str], KernelSet]:
    """A builder for ``NAME:ANGLE``, ``NAME:DIR``, ``NAME:@`` and ``NAME:>``.

    A set expansion gives one kernel per angle, combined by ``combine``.
    Each kernel is named ``prefix + turn`` (``prefix`` defaults to
    ``NAME:``), a spec that builds that kernel again.
    """
    head = f"{name}:" if prefix is None else prefix

    def build(turn: str) -> KernelSet:
        word = turn.strip().lower()
        if word in EXPANSIONS:
            kernels = tuple(
                Kernel(rotate(base, a, name), scale=scale, bias=bias, name=f"{head}{a}")
                for a in EXPANSIONS[word]
            )
            return KernelSet(f"{head}{word}", kernels, combine)
        degrees = angle_of(name, turn)
        kernel = Kernel(rotate(base, degrees, name), scale=scale, bias=bias, name=f"{head}{turn}")
        return KernelSet.single(kernel)

    return build


# ---------------------------------------------------------------------------
# Generators


def gaussian_weights(sigma: float, size: int | None = None) -> Weights:
    """Sampled 2-D Gaussian normalised to sum 1; ``size`` defaults to ``2*ceil(3*sigma)+1``.

    Examples
    --------
    >>> gaussian_weights(1.0).shape
    (7, 7)
    """
    side = size if size is not None else reach_side("gaussian", 3 * sigma)
    check_side("gaussian", side)
    x = np.arange(side) - (side - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    weights = np.outer(g, g)
    normalised: Weights = weights / weights.sum()
    return normalised


def log_weights(sigma: float, size: int | None = None) -> Weights:
    """Laplacian of Gaussian, negative centre (like ``laplacian``), zero-sum.

    ``size`` defaults to ``2*ceil(4*sigma)+1`` (the LoG's tails reach further
    than the Gaussian's; SciPy's ``gaussian_laplace`` truncates at 4 sigma too).
    """
    side = size if size is not None else reach_side("log", 4 * sigma)
    check_side("log", side)
    x = np.arange(side) - (side - 1) / 2
    r2 = x[:, None] ** 2 + x[None, :] ** 2
    weights = (r2 - 2 * sigma**2) / sigma**4 * np.exp(-r2 / (2 * sigma**2)) / (2 * np.pi * sigma**2)
    # The truncated samples do not sum to zero; remove the residue evenly so
    # that a flat area gives exactly 0.
    centred: Weights = weights - weights.mean()
    return centred


def motion_weights(length: float, angle: float = 0.0) -> Weights:
    """A centred line of ``length`` pixels at ``angle`` degrees, summing to 1.

    The angle is clockwise from horizontal as the image is seen (the same
    convention as every ``NAME:ANGLE``; 90 is vertical). Each cell's weight
    is ``1 - d`` for its distance ``d`` from the segment (0 beyond 1 pixel),
    which anti-aliases oblique lines and gives ``length`` equal cells for
    horizontal ones.
    """
    half = (length - 1) / 2
    theta = math.radians(angle)
    ux, uy = math.cos(theta), math.sin(theta)  # rows grow downwards: +y is down
    side = reach_side("motion", half + 1)
    c = np.arange(side) - side // 2
    ys, xs = np.meshgrid(c, c, indexing="ij")
    along = np.clip(xs * ux + ys * uy, -half, half)
    distance = np.hypot(xs - along * ux, ys - along * uy)
    weights = np.clip(1 - distance, 0, None)
    weights[np.abs(weights) < 1e-12] = 0
    return trim(weights / weights.sum())


def trim(weights: Weights) -> Weights:
    """Drop all-zero outer rows and columns in pairs, keeping the centre."""
    while weights.shape[0] > 1 and not weights[0].any() and not weights[-1].any():
        weights = weights[1:-1]
    while weights.shape[1] > 1 and not weights[:, 0].any() and not weights[:, -1].any():
        weights = weights[:, 1:-1]
    return weights


#: Largest binomial size whose Pascal's-triangle weights sum (4^(N-1)) to a finite float.
_BINOMIAL_WHOLE = 512


def binomial_weights(size: int) -> Weights:
    """Outer product of the binomial row of ``size`` (Pascal's triangle), unnormalised.

    Past :data:`_BINOMIAL_WHOLE` the row is divided by ``2^(size-1)`` (the
    binomial probabilities), or the products and their sum would overflow.
    """
    shift = 0 if size <= _BINOMIAL_WHOLE else size - 1
    row = np.array([math.ldexp(math.comb(size - 1, k), -shift) for k in range(size)])
    outer: Weights = np.outer(row, row)
    return outer


def shape_mask(radius: float, shape: str) -> NDArray[np.bool_]:
    """Cells of a disk (``x^2 + y^2 <= r^2``) or diamond (``|x| + |y| <= r``)."""
    reach = int(math.floor(radius + 1e-9))
    c = np.arange(-reach, reach + 1)
    ys, xs = np.meshgrid(c, c, indexing="ij")
    if shape == "disk":
        inside: NDArray[np.bool_] = xs**2 + ys**2 <= radius**2 + 1e-9
    else:
        inside = np.abs(xs) + np.abs(ys) <= radius + 1e-9
    return inside


# ---------------------------------------------------------------------------
# Fixed matrices


def fixed(
    name: str, rows: Sequence[Sequence[float]], scale: float = 1.0, bias: float = 0.0
) -> None:
    """Register a parameterless kernel given by its matrix."""

    def build(args: list[str]) -> KernelSet:
        arity(name, "", args, 0, 0)
        return KernelSet.single(Kernel(rows, scale=scale, bias=bias, name=name))

    BUILDERS[name] = build


# Seed slides, kernel table (KERNELS.md section 7).
fixed("identity", [[0, 0, 0], [0, 1, 0], [0, 0, 0]])
fixed("sharpen", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
fixed("edge-detect", [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])
fixed("laplacian-8", [[1, 1, 1], [1, -8, 1], [1, 1, 1]])
fixed("edge-cross", [[1, 0, -1], [0, 0, 0], [-1, 0, 1]])
fixed("edge-enhance", [[0, 0, 0], [-1, 1, 0], [0, 0, 0]])
fixed("emboss", [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])

# Derivatives from named separable parts: a central difference along the
# direction and a smoothing vector across it.
_DIFF = np.array([-1.0, 0.0, 1.0])
_SMOOTH = {
    "sobel": np.array([1.0, 2.0, 1.0]),
    "prewitt": np.array([1.0, 1.0, 1.0]),
    "scharr": np.array([3.0, 10.0, 3.0]),  # OpenCV's Scharr
}
for _family, _smooth in _SMOOTH.items():
    fixed(f"{_family}-x", np.outer(_smooth, _DIFF).tolist())
    fixed(f"{_family}-y", np.outer(_DIFF, _smooth).tolist())

# Roberts cross as KERNELS.md gives it: diagonal differences (top-left minus
# bottom-right, top-right minus bottom-left), outside the -x/-y rule.
fixed("roberts-x", [[1, 0], [0, -1]])
fixed("roberts-y", [[0, 1], [-1, 0]])

# Pillow's ImageFilter built-ins (Pillow 13 filterargs), flipped vertically
# because Pillow applies them that way; scale and offset as Pillow's.
_PILLOW: dict[str, tuple[list[list[float]], float, float]] = {
    "blur": ([[1, 1, 1, 1, 1], [1, 0, 0, 0, 1], [1, 0, 0, 0, 1], [1, 0, 0, 0, 1],
              [1, 1, 1, 1, 1]], 16, 0),
    "contour": ([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], 1, 255),
    "detail": ([[0, -1, 0], [-1, 10, -1], [0, -1, 0]], 6, 0),
    "edge-enhance": ([[-1, -1, -1], [-1, 10, -1], [-1, -1, -1]], 2, 0),
    "edge-enhance-more": ([[-1, -1, -1], [-1, 9, -1], [-1, -1, -1]], 1, 0),
    "emboss": ([[-1, 0, 0], [0, 1, 0], [0, 0, 0]], 1, 128),
    "find-edges": ([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], 1, 0),
    "sharpen": ([[-2, -2, -2], [-2, 32, -2], [-2, -2, -2]], 16, 0),
    "smooth": ([[1, 1, 1], [1, 5, 1], [1, 1, 1]], 13, 0),
    "smooth-more": ([[1, 1, 1, 1, 1], [1, 5, 5, 5, 1], [1, 5, 44, 5, 1], [1, 5, 5, 5, 1],
                     [1, 1, 1, 1, 1]], 100, 0),
}  # fmt: skip
for _name, (_rows, _scale, _offset) in _PILLOW.items():
    fixed(f"pillow-{_name}", _rows[::-1], _scale, _offset)


# ---------------------------------------------------------------------------
# Blurs


@_builder("box")
def _box(args: list[str]) -> KernelSet:
    arity("box", "[N]", args, 0, 1)
    n = whole("box", "N", args[0]) if args else 3
    return KernelSet.single(Kernel(np.ones((n, n)), scale=n * n, name="box"))


@_builder("gaussian")
def _gaussian(args: list[str]) -> KernelSet:
    arity("gaussian", "[SIGMA[,SIZE]]", args, 0, 2)
    if not args:  # seed slides: Gaussian blur 3 x 3
        return KernelSet.single(
            Kernel([[1, 2, 1], [2, 4, 2], [1, 2, 1]], scale=16, name="gaussian")
        )
    s = sigma("gaussian", "SIGMA", args[0])
    size = whole("gaussian", "SIZE", args[1], odd=True) if len(args) > 1 else None
    return KernelSet.single(Kernel(gaussian_weights(s, size), name="gaussian"))


@_builder("binomial")
def _binomial(args: list[str]) -> KernelSet:
    arity("binomial", "[N]", args, 0, 1)
    n = whole("binomial", "N", args[0]) if args else 3
    weights = binomial_weights(n)
    return KernelSet.single(Kernel(weights, scale=float(weights.sum()), name="binomial"))


def _flat_shape(shape: str) -> Builder:
    def build(args: list[str]) -> KernelSet:
        arity(shape, "R", args, 1, 1)
        radius = number(shape, "R", args[0], positive=True)
        # floor, not ceil: a disk of radius R holds the cells within R.
        reach_side(shape, math.floor(radius + 1e-9))
        inside = shape_mask(radius, shape)
        weights = inside.astype(np.float64)
        kernel = Kernel(weights, scale=float(inside.sum()), name=shape, present=inside)
        return KernelSet.single(kernel)

    return build


BUILDERS["disk"] = _flat_shape("disk")
BUILDERS["diamond"] = _flat_shape("diamond")


@_builder("motion")
def _motion(args: list[str]) -> KernelSet:
    arity("motion", "LENGTH[,ANGLE|DIR]", args, 1, 2)
    length = number("motion", "LENGTH", args[0], positive=True)
    if length < 1:
        msg = f"motion: LENGTH {args[0]!r} is below 1 pixel"
        raise KernelError(msg)
    angle = degrees_of("motion", args[1]) if len(args) > 1 else 0.0
    return KernelSet.single(Kernel(motion_weights(length, angle), name="motion"))


@_builder("unsharp")
def _unsharp(args: list[str]) -> KernelSet:
    arity("unsharp", "[SIGMA[,AMOUNT]]", args, 0, 2)
    s = sigma("unsharp", "SIGMA", args[0]) if args else 1.0
    amount = number("unsharp", "AMOUNT", args[1]) if len(args) > 1 else 1.0
    reach_side("unsharp", 3 * s)
    blur = gaussian_weights(s)
    identity = np.zeros_like(blur)
    identity[blur.shape[0] // 2, blur.shape[1] // 2] = 1
    return KernelSet.single(Kernel(identity + amount * (identity - blur), name="unsharp"))


# ---------------------------------------------------------------------------
# Laplacians

#: ImageMagick's Laplacian types as IM prints them (positive centre). imgconv
#: keeps the negative-centre sign of ``laplacian`` (OpenCV, SciPy), so
#: ``laplacian:T`` is -1 times these; ``laplacian:1`` is ``laplacian`` and
#: ``laplacian:0`` is ``laplacian-8``.
IM_LAPLACIANS: dict[int, list[list[float]]] = {
    0: [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    1: [[0, -1, 0], [-1, 4, -1], [0, -1, 0]],
    2: [[-2, 1, -2], [1, 4, 1], [-2, 1, -2]],
    3: [[1, -2, 1], [-2, 4, -2], [1, -2, 1]],
    5: [[-4, -1, 0, -1, -4], [-1, 2, 3, 2, -1], [0, 3, 4, 3, 0], [-1, 2, 3, 2, -1],
        [-4, -1, 0, -1, -4]],
    7: [[-10, -5, -2, -1, -2, -5, -10], [-5, 0, 3, 4, 3, 0, -5], [-2, 3, 6, 7, 6, 3, -2],
        [-1, 4, 7, 8, 7, 4, -1], [-2, 3, 6, 7, 6, 3, -2], [-5, 0, 3, 4, 3, 0, -5],
        [-10, -5, -2, -1, -2, -5, -10]],
    15: [[0, 0, -1, 0, 0], [0, -1, -2, -1, 0], [-1, -2, 16, -2, -1], [0, -1, -2, -1, 0],
         [0, 0, -1, 0, 0]],
    19: [[0, -1, -1, -2, -2, -2, -1, -1, 0], [-1, -2, -4, -5, -5, -5, -4, -2, -1],
         [-1, -4, -5, -3, 0, -3, -5, -4, -1], [-2, -5, -3, 12, 24, 12, -3, -5, -2],
         [-2, -5, 0, 24, 40, 24, 0, -5, -2], [-2, -5, -3, 12, 24, 12, -3, -5, -2],
         [-1, -4, -5, -3, 0, -3, -5, -4, -1], [-1, -2, -4, -5, -5, -5, -4, -2, -1],
         [0, -1, -1, -2, -2, -2, -1, -1, 0]],
}  # fmt: skip


@_builder("laplacian")
def _laplacian(args: list[str]) -> KernelSet:
    arity("laplacian", "[TYPE]", args, 0, 1)
    if not args:  # seed slides; OpenCV Laplacian(ksize=1), scipy.ndimage.laplace
        return KernelSet.single(Kernel([[0, 1, 0], [1, -4, 1], [0, 1, 0]], name="laplacian"))
    try:
        kind = int(args[0])
    except ValueError:
        kind = -1
    if kind not in IM_LAPLACIANS:
        types = " ".join(str(t) for t in IM_LAPLACIANS)
        msg = f"laplacian: TYPE {args[0]!r} is not one of ImageMagick's types {types}"
        raise KernelError(msg)
    weights = -np.array(IM_LAPLACIANS[kind], dtype=np.float64)
    return KernelSet.single(Kernel(weights, name=f"laplacian:{kind}"))


@_builder("log")
def _log(args: list[str]) -> KernelSet:
    arity("log", "SIGMA[,SIZE]", args, 1, 2)
    s = sigma("log", "SIGMA", args[0])
    size = whole("log", "SIZE", args[1], odd=True) if len(args) > 1 else None
    return KernelSet.single(Kernel(log_weights(s, size), name="log"))


@_builder("dog")
def _dog(args: list[str]) -> KernelSet:
    arity("dog", "S1,S2", args, 2, 2)
    s1 = sigma("dog", "S1", args[0])
    s2 = sigma("dog", "S2", args[1])
    if s1 == s2:
        msg = f"dog: S1 and S2 are both {args[0]}; a difference of equal Gaussians is all zeros"
        raise KernelError(msg)
    side = reach_side("dog", 3 * max(s1, s2))
    weights = gaussian_weights(s1, side) - gaussian_weights(s2, side)
    return KernelSet.single(Kernel(weights, name="dog"))


# ---------------------------------------------------------------------------
# Gradients and compasses (rotatable)


def _gradient(family: str, base: Weights) -> Builder:
    turn = rotatable(family, base)

    def build(args: list[str]) -> KernelSet:
        arity(family, "[ANGLE|DIR|@|>]", args, 0, 1)
        if not args:  # the magnitude of the x and y derivatives
            parts = BUILDERS[f"{family}-x"]([]).kernels + BUILDERS[f"{family}-y"]([]).kernels
            return KernelSet(family, parts, "magnitude")
        return turn(args[0])

    return build


for _family in ("sobel", "prewitt", "scharr"):
    BUILDERS[_family] = _gradient(_family, np.outer(_SMOOTH[_family], _DIFF))

# ImageMagick's Roberts (a 3x3 forward difference, stored flipped); with no
# angle, `roberts` is the magnitude of the 2x2 roberts-x and roberts-y.
_ROBERTS_IM = np.array([[0.0, 0, 0], [0, -1, 1], [0, 0, 0]])
BUILDERS["roberts"] = _gradient("roberts", _ROBERTS_IM)


def _compass(family: str, base: Weights) -> Builder:
    turn = rotatable(family, base)

    def build(args: list[str]) -> KernelSet:
        arity(family, "[ANGLE|DIR|@|>]", args, 0, 1)
        if not args:  # the strongest of the 8 directions
            return replace_name(turn("@"), family)
        return turn(args[0])

    return build


def replace_name(kernels: KernelSet, name: str) -> KernelSet:
    """The same set under another name."""
    return KernelSet(name, kernels.kernels, kernels.combine, kernels.bias)


# Kirsch, east-facing (ImageMagick's Kirsch rotated back): bright side to +x.
BUILDERS["kirsch"] = _compass("kirsch", np.array([[-3.0, -3, 5], [-3, 0, 5], [-3, -3, 5]]))
# Prewitt compass (ImageMagick's Compass rotated back).
BUILDERS["compass"] = _compass("compass", np.array([[-1.0, 1, 1], [-1, -2, 1], [-1, 1, 1]]))

# Frei-Chen, as ImageMagick 6.9 prints its FreiChen:TYPE (then rotated back).
# Types 12 and 17 correct two sign slips in ImageMagick 6.9.11 against the
# published basis (Frei and Chen, 1977): 12's bottom row is negative, 17's
# bottom-left cell is +1/6.
_H = _HALF_SQRT2
IM_FREICHEN: dict[int, list[list[float]]] = {
    0: [[1, 0, -1], [_SQRT2, 0, -_SQRT2], [1, 0, -1]],
    1: [[_H, 0, -_H], [1, 0, -1], [_H, 0, -_H]],
    2: [[_H, 1, 0], [1, 0, -1], [0, -1, -_H]],
    11: [[_H, 0, -_H], [1, 0, -1], [_H, 0, -_H]],
    12: [[_H, 1, _H], [0, 0, 0], [-_H, -1, -_H]],
    13: [[1, -_H, 0], [-_H, 0, _H], [0, _H, -1]],
    14: [[0, _H, -1], [-_H, 0, _H], [1, -_H, 0]],
    15: [[0, -0.5, 0], [0.5, 0, 0.5], [0, -0.5, 0]],
    16: [[0.5, 0, -0.5], [0, 0, 0], [-0.5, 0, 0.5]],
    17: [[1 / 6, -1 / 3, 1 / 6], [-1 / 3, 2 / 3, -1 / 3], [1 / 6, -1 / 3, 1 / 6]],
    18: [[-1 / 3, 1 / 6, -1 / 3], [1 / 6, 2 / 3, 1 / 6], [-1 / 3, 1 / 6, -1 / 3]],
    19: [[1 / 3, 1 / 3, 1 / 3], [1 / 3, 1 / 3, 1 / 3], [1 / 3, 1 / 3, 1 / 3]],
}
FREICHEN_TYPES = (*IM_FREICHEN, 10)


@_builder("freichen")
def _freichen(args: list[str]) -> KernelSet:
    arity("freichen", "[TYPE[,ANGLE|DIR|@|>]]", args, 0, 2)
    try:
        kind = int(args[0]) if args else 0
    except ValueError:
        kind = -1
    if kind not in FREICHEN_TYPES:
        types = " ".join(str(t) for t in sorted(FREICHEN_TYPES))
        msg = f"freichen: TYPE {args[0]!r} is not one of ImageMagick's types {types}"
        raise KernelError(msg)
    if kind == 10:  # the basis 11..19; how to combine them is the user's call
        arity("freichen:10", "no angle", args[1:], 0, 0)
        kernels = tuple(
            Kernel(np.rot90(np.array(IM_FREICHEN[t]), 2), name=f"freichen:{t}")
            for t in range(11, 20)
        )
        return KernelSet("freichen:10", kernels, None)
    base = np.rot90(np.array(IM_FREICHEN[kind], dtype=np.float64), 2).copy()
    name = f"freichen:{kind}"
    if len(args) > 1:
        return rotatable(name, base, prefix=f"{name},")(args[1])
    return KernelSet.single(Kernel(base, name=name))
