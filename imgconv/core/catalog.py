"""The built-in kernels by name: families, parameters, descriptions, and names elsewhere.

This index needs no NumPy (``imgconv kernels list`` reads only this); the
matrices are made by :mod:`imgconv.core.kernel_builders` when a kernel is
asked for. A name may carry parameters after a colon: ``box:5``,
``gaussian:1.5,9``, ``sobel:45``, ``kirsch:ne``, ``kirsch:@``,
``laplacian:2``, ``motion:15,30``.

Where tools disagree about a name (the sign of a Laplacian, how Sobel is
stored), imgconv's meaning is KERNELS.md's and ``elsewhere`` says what
other tools call the same thing.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import KernelError

if TYPE_CHECKING:
    from .kernels import KernelSet

_ROTATE = "[ANGLE|DIR|@|>]"
_TURN_NOTE = (
    "ANGLE turns it clockwise from +x (90 points down), DIR is a compass name "
    "(e se s sw w nw n ne), @ gives all 8 turns and > the 4 right-angle turns, combined by "
    "their maximum."
)


@dataclass(frozen=True)
class Builtin:
    """A named kernel in the catalogue.

    Attributes
    ----------
    name : str
        The name typed on the command line.
    params : str
        Parameter grammar (``[N]``, ``SIGMA[,SIZE]``); empty if none.
    summary : str
        One line for ``kernels list``.
    family : str
        The group ``kernels list`` shows it in (a key of FAMILIES).
    elsewhere : str
        What other tools call it, and how they differ.
    """

    name: str
    params: str
    summary: str
    family: str
    elsewhere: str = ""


#: Families in the order ``kernels list`` shows them, with their titles.
FAMILIES: dict[str, str] = {
    "basic": "Identity",
    "blur": "Blur and smoothing",
    "sharpen": "Sharpening and relief",
    "laplacian": "Laplacians (second derivatives)",
    "gradient": "Gradients (first derivatives)",
    "compass": "Compass kernels",
    "pillow": "Pillow's named filters",
}

CATALOGUE: tuple[Builtin, ...] = (
    Builtin(
        "identity",
        "",
        "returns the input unchanged (0 0 0; 0 1 0; 0 0 0)",
        "basic",
        "ImageMagick Unity (1x1); GIMP's default convolution matrix.",
    ),
    Builtin(
        "box",
        "[N]",
        "box blur: the mean of an N x N square (default 3)",
        "blur",
        "OpenCV blur/boxFilter, SciPy uniform_filter; ImageMagick Square:R is the "
        "unnormalised (2R+1) x (2R+1) square.",
    ),
    Builtin(
        "gaussian",
        "[SIGMA[,SIZE]]",
        "Gaussian blur: 1 2 1; 2 4 2; 1 2 1 / 16, or sampled with SIGMA, size "
        "2*ceil(3*SIGMA)+1 unless SIZE (odd) is given, normalised to sum 1",
        "blur",
        "The 3x3 is ImageMagick Binomial / 16 and the outer product of OpenCV "
        "getGaussianKernel(3, 0); with SIGMA, OpenCV GaussianBlur and SciPy gaussian_filter "
        "(which truncate differently).",
    ),
    Builtin(
        "binomial",
        "[N]",
        "binomial blur: Pascal's-triangle weights of size N x N (default 3), normalised",
        "blur",
        "ImageMagick Binomial:R is binomial:2R+1 left unnormalised (add --scale 1 for its "
        "numbers).",
    ),
    Builtin(
        "disk",
        "R",
        "flat disk of radius R (cells with x^2 + y^2 <= R^2), normalised; cells outside are absent",
        "blur",
        "ImageMagick Disk:R (unnormalised there).",
    ),
    Builtin(
        "diamond",
        "R",
        "flat diamond of radius R (cells with |x| + |y| <= R), normalised; cells outside "
        "are absent",
        "blur",
        "ImageMagick Diamond:R (unnormalised there).",
    ),
    Builtin(
        "motion",
        "LENGTH[,ANGLE|DIR]",
        "motion blur along a centred line of LENGTH pixels, turned clockwise by ANGLE",
        "blur",
        "MATLAB fspecial('motion') measures its angle counter-clockwise; GIMP Motion Blur "
        "(linear).",
    ),
    Builtin(
        "sharpen",
        "",
        "sharpen: 5 at the centre, -1 on the four sides (0 -1 0; -1 5 -1; 0 -1 0)",
        "sharpen",
        "Pillow's SHARPEN is pillow-sharpen (a different matrix).",
    ),
    Builtin(
        "unsharp",
        "[SIGMA[,AMOUNT]]",
        "unsharp mask: input + AMOUNT * (input - gaussian:SIGMA); defaults 1 and 1",
        "sharpen",
        "ImageMagick -unsharp, Pillow UnsharpMask and scikit-image unsharp_mask name the "
        "same idea with other parameters.",
    ),
    Builtin(
        "edge-enhance",
        "",
        "edge enhance: the pixel minus its left neighbour (0 0 0; -1 1 0; 0 0 0)",
        "sharpen",
        "GIMP documentation's example; Pillow's EDGE_ENHANCE is pillow-edge-enhance.",
    ),
    Builtin(
        "emboss",
        "",
        "emboss: relief lit from the top left (-2 -1 0; -1 1 1; 0 1 2)",
        "sharpen",
        "GIMP documentation's example; Pillow's EMBOSS (offset 128) is pillow-emboss.",
    ),
    Builtin(
        "edge-detect",
        "",
        "edges in every direction: 8 at the centre, -1 around",
        "laplacian",
        "ImageMagick Laplacian:0 and Pillow FIND_EDGES (pillow-find-edges); -1 times laplacian-8.",
    ),
    Builtin(
        "laplacian",
        "[TYPE]",
        "Laplacian, negative centre: 0 1 0; 1 -4 1; 0 1 0, or ImageMagick's TYPE "
        "(0 1 2 3 5 7 15 19) with the same sign",
        "laplacian",
        "OpenCV Laplacian(ksize=1) and scipy.ndimage.laplace; ImageMagick Laplacian:TYPE "
        "and scikit-image laplace are -1 times laplacian:TYPE (positive centre); OpenCV "
        "Laplacian(ksize=3) is 2 0 2; 0 -8 0; 2 0 2.",
    ),
    Builtin(
        "laplacian-8",
        "",
        "8-neighbour Laplacian, negative centre (1 1 1; 1 -8 1; 1 1 1)",
        "laplacian",
        "laplacian:0; ImageMagick Laplacian:0 is -1 times this (edge-detect).",
    ),
    Builtin(
        "log",
        "SIGMA[,SIZE]",
        "Laplacian of Gaussian, negative centre, zero-sum; size 2*ceil(4*SIGMA)+1 unless "
        "SIZE is given",
        "laplacian",
        "SciPy gaussian_laplace (truncated at 4 sigma too); ImageMagick LoG is -1 times "
        "this (positive centre).",
    ),
    Builtin(
        "dog",
        "S1,S2",
        "difference of Gaussians G(S1) - G(S2), zero-sum; size 2*ceil(3*max(S1,S2))+1",
        "laplacian",
        "ImageMagick DoG:0,S1,S2; scikit-image difference_of_gaussians.",
    ),
    Builtin(
        "edge-cross",
        "",
        "diagonal edges: 1 0 -1; 0 0 0; -1 0 1",
        "gradient",
        "The seed slides' first edge-detection kernel.",
    ),
    Builtin(
        "sobel-x",
        "",
        "Sobel x derivative: positive where brightness rises left to right",
        "gradient",
        "OpenCV Sobel(dx=1) stores the same matrix; ImageMagick stores Sobel as "
        "1 0 -1; 2 0 -2; 1 0 -1 and convolves it (the same result); scikit-image sobel_v "
        "is this / 4.",
    ),
    Builtin(
        "sobel-y",
        "",
        "Sobel y derivative: positive where brightness rises top to bottom",
        "gradient",
        "OpenCV Sobel(dy=1); ImageMagick Sobel:90 (stored flipped); sobel:90.",
    ),
    Builtin(
        "prewitt-x",
        "",
        "Prewitt x derivative: positive where brightness rises left to right",
        "gradient",
        "ImageMagick Prewitt (stored flipped); scipy.ndimage.prewitt along x.",
    ),
    Builtin(
        "prewitt-y",
        "",
        "Prewitt y derivative: positive where brightness rises top to bottom",
        "gradient",
        "ImageMagick Prewitt:90 (stored flipped); prewitt:90.",
    ),
    Builtin(
        "scharr-x",
        "",
        "Scharr x derivative (OpenCV's -3 0 3; -10 0 10; -3 0 3)",
        "gradient",
        "OpenCV Scharr(dx=1) and Sobel(ksize=-1); libvips scharr; scikit-image scharr_v "
        "is this / 16.",
    ),
    Builtin(
        "scharr-y",
        "",
        "Scharr y derivative: positive where brightness rises top to bottom",
        "gradient",
        "OpenCV Scharr(dy=1); scharr:90.",
    ),
    Builtin(
        "roberts-x",
        "",
        "Roberts cross 1 0; 0 -1: top-left minus bottom-right (a diagonal difference)",
        "gradient",
        "scikit-image ROBERTS_PD, which it convolves (so its result has the other sign).",
    ),
    Builtin(
        "roberts-y",
        "",
        "Roberts cross 0 1; -1 0: top-right minus bottom-left (a diagonal difference)",
        "gradient",
        "scikit-image ROBERTS_ND, which it convolves (so its result has the other sign).",
    ),
    Builtin(
        "sobel",
        _ROTATE,
        "gradient magnitude sqrt(x^2 + y^2) of sobel-x and sobel-y; with ANGLE, the "
        "derivative positive toward ANGLE",
        "gradient",
        "OpenCV Sobel + magnitude, SciPy generic_gradient_magnitude(sobel); scikit-image "
        "sobel is this / 4 / sqrt(2); ImageMagick Sobel:ANGLE. " + _TURN_NOTE,
    ),
    Builtin(
        "prewitt",
        _ROTATE,
        "gradient magnitude of prewitt-x and prewitt-y; with ANGLE, the derivative "
        "positive toward ANGLE",
        "gradient",
        "ImageMagick Prewitt:ANGLE; scikit-image prewitt is this / 3 / sqrt(2). " + _TURN_NOTE,
    ),
    Builtin(
        "scharr",
        _ROTATE,
        "gradient magnitude of scharr-x and scharr-y; with ANGLE, the derivative positive "
        "toward ANGLE",
        "gradient",
        "OpenCV Scharr + magnitude. " + _TURN_NOTE,
    ),
    Builtin(
        "roberts",
        _ROTATE,
        "gradient magnitude of roberts-x and roberts-y; with ANGLE, ImageMagick's 3x3 "
        "Roberts difference positive toward ANGLE",
        "gradient",
        "scikit-image roberts is this / sqrt(2); ImageMagick Roberts:ANGLE. " + _TURN_NOTE,
    ),
    Builtin(
        "freichen",
        "[TYPE[,ANGLE|DIR|@|>]]",
        "Frei-Chen kernels: ImageMagick's types 0 1 2 (edges) and 11..19 (the basis); 10 is "
        "the set 11..19 (choose --combine)",
        "gradient",
        "ImageMagick FreiChen:TYPE (stored flipped). ImageMagick 6.9.11 prints type 12 with "
        "a positive bottom row and type 17 with -1/6 at the bottom left; imgconv uses the "
        "published basis (Frei and Chen, 1977) there. " + _TURN_NOTE,
    ),
    Builtin(
        "kirsch",
        _ROTATE,
        "Kirsch compass (5 5 5 on the bright side, -3 elsewhere); with no parameter, the "
        "maximum over the 8 directions",
        "compass",
        "ImageMagick Kirsch:ANGLE (stored flipped); kirsch is ImageMagick Kirsch:@ with "
        "-define morphology:compose=Lighten. " + _TURN_NOTE,
    ),
    Builtin(
        "compass",
        _ROTATE,
        "Prewitt compass (1 1 1 on the bright side, -2 at the centre); with no parameter, "
        "the maximum over the 8 directions",
        "compass",
        "ImageMagick Compass:ANGLE (stored flipped). " + _TURN_NOTE,
    ),
    *(
        Builtin(
            f"pillow-{name}",
            "",
            summary,
            "pillow",
            f"Pillow ImageFilter.{name.upper().replace('-', '_')}. Pillow applies its "
            "matrix flipped vertically, so this is its matrix upside down, with its scale "
            "and offset; Pillow leaves the outermost pixels unfiltered.",
        )
        for name, summary in (
            ("blur", "Pillow's BLUR: a 5 x 5 ring of ones / 16"),
            ("contour", "Pillow's CONTOUR: edge-detect plus 255 (dark lines on white)"),
            ("detail", "Pillow's DETAIL: 0 -1 0; -1 10 -1; 0 -1 0 / 6"),
            ("edge-enhance", "Pillow's EDGE_ENHANCE: 10 at the centre, -1 around, / 2"),
            ("edge-enhance-more", "Pillow's EDGE_ENHANCE_MORE: 9 at the centre, -1 around"),
            ("emboss", "Pillow's EMBOSS: -1 0 0; 0 1 0; 0 0 0 plus 128"),
            ("find-edges", "Pillow's FIND_EDGES: the same matrix as edge-detect"),
            ("sharpen", "Pillow's SHARPEN: 32 at the centre, -2 around, / 16"),
            ("smooth", "Pillow's SMOOTH: 5 at the centre, 1 around, / 13"),
            ("smooth-more", "Pillow's SMOOTH_MORE: a 5 x 5 with 44 at the centre, / 100"),
        )
    ),
)

BUILTINS: dict[str, Builtin] = {entry.name: entry for entry in CATALOGUE}


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
    >>> len(get_builtin("kirsch:@").kernels)
    8
    """
    from .kernel_builders import BUILDERS
    from .kernels import KernelSet

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
    built = BUILDERS[name](args)
    return KernelSet(spec.strip(), built.kernels, built.combine, built.bias, BUILTINS[name].summary)


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
