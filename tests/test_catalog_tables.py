"""Every named kernel against its matrix, ImageMagick's printouts and Pillow's filters.

Sections:

1. The catalogue and the builders name the same kernels; every kernel builds
   with its documented defaults; the names the catalogue says are equal are.
2. Tables typed in from KERNELS.md section 7 and anchors-features.md sections
   2 and 3 (ImageMagick's and Pillow's matrices as those tools define them),
   extending the section 7 table of ``test_catalog.py``.
3. ImageMagick cross-check: ``tests/data/imagemagick/*.txt`` hold what
   ImageMagick 6.9.11 printed for ``-morphology Convolve NAME`` (see
   ``make_fixtures.sh`` there). ImageMagick convolves, so imgconv's matrix,
   applied as written, must be ImageMagick's rotated 180 degrees.
4. Pillow cross-check: ``image.filter(ImageFilter.X)`` against
   ``filter_image(image, get_builtin("pillow-x"))``.
5. The orientation rule on step edges for every directional kernel and angle.
6. Set expansions (``@``, ``*``, ``>``) and ``freichen:10``.
7. Errors, with their exact messages.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import ArrayLike, NDArray
from PIL import Image, ImageFilter
from scipy import ndimage

from imgconv.core.catalog import BUILTINS, get_builtin
from imgconv.core.convolve import correlate
from imgconv.core.filtering import filter_image
from imgconv.core.kernel_builders import BUILDERS, DIRECTIONS, EXPANSIONS
from imgconv.core.kernels import Kernel, KernelSet
from imgconv.errors import KernelError, UsageError

Matrix = NDArray[np.float64]

ANGLES = tuple(range(0, 360, 45))
H = math.sqrt(2) / 2
R2 = math.sqrt(2)


def only_kernel(spec: str) -> Kernel:
    kernel_set = get_builtin(spec)
    assert len(kernel_set.kernels) == 1
    return kernel_set.kernels[0]


def rot180(matrix: ArrayLike) -> Matrix:
    turned: Matrix = np.array(matrix, dtype=np.float64)[::-1, ::-1]
    return turned


def clockwise(matrix: ArrayLike, quarter_turns: int) -> Matrix:
    """Turn a matrix clockwise as the image is seen (rows grow downwards)."""
    turned: Matrix = np.rot90(np.array(matrix, dtype=np.float64), k=-quarter_turns)
    return turned


# =================================================================================================
# 1. Catalogue and builders
# =================================================================================================

#: Parameters for the kernels that have no default.
REQUIRED_PARAMS = {
    "disk": "disk:2",
    "diamond": "diamond:2",
    "motion": "motion:5",
    "log": "log:1",
    "dog": "dog:1,2",
}


def test_catalogue_and_builders_name_the_same_kernels() -> None:
    assert set(BUILTINS) == set(BUILDERS)
    assert len(BUILTINS) == 42


def test_required_parameters_are_exactly_the_non_optional_grammars() -> None:
    required = {n for n, b in BUILTINS.items() if b.params and not b.params.startswith("[")}
    assert required == set(REQUIRED_PARAMS)


@pytest.mark.parametrize("name", list(BUILTINS))
def test_every_builtin_builds_with_its_documented_defaults(name: str) -> None:
    spec = REQUIRED_PARAMS.get(name, name)
    kernel_set = get_builtin(spec)
    assert kernel_set.name == spec
    assert kernel_set.description == BUILTINS[name].summary
    assert kernel_set.kernels
    for kernel in kernel_set.kernels:
        assert np.isfinite(kernel.matrix).all()
        assert np.abs(kernel.weights).sum() > 0
    if len(kernel_set.kernels) > 1:
        assert kernel_set.combine is not None


@pytest.mark.parametrize("name", list(REQUIRED_PARAMS))
def test_kernels_without_defaults_ask_for_their_grammar(name: str) -> None:
    """The message gives the grammar ``kernels list`` shows."""
    with pytest.raises(KernelError) as caught:
        get_builtin(name)
    assert str(caught.value) == f"{name} takes {BUILTINS[name].params}; got 'nothing'"


#: One parameter too many for each kernel.
TOO_MANY = {
    **{n: f"{n}:1" for n, b in BUILTINS.items() if not b.params},
    "box": "box:3,3",
    "gaussian": "gaussian:1,3,3",
    "binomial": "binomial:3,3",
    "disk": "disk:1,2",
    "diamond": "diamond:1,2",
    "motion": "motion:5,0,1",
    "unsharp": "unsharp:1,1,1",
    "laplacian": "laplacian:1,1",
    "log": "log:1,3,3",
    "dog": "dog:1,2,3",
    "freichen": "freichen:0,0,0",
    **{n: f"{n}:0,0" for n in ("sobel", "prewitt", "scharr", "roberts", "kirsch", "compass")},
}


def test_too_many_covers_every_builtin() -> None:
    assert set(TOO_MANY) == set(BUILTINS)


@pytest.mark.parametrize("name", list(TOO_MANY))
def test_too_many_parameters_name_the_catalogue_grammar(name: str) -> None:
    spec = TOO_MANY[name]
    given = spec.partition(":")[2]
    grammar = BUILTINS[name].params or "no parameters"
    with pytest.raises(KernelError) as caught:
        get_builtin(spec)
    assert str(caught.value) == f"{name} takes {grammar}; got {given!r}"


def same_kernels(a: KernelSet, b: KernelSet) -> None:
    """Equal weights, scales, biases, anchors and combine (names may differ)."""
    assert len(a.kernels) == len(b.kernels)
    assert a.combine == b.combine
    assert a.bias == b.bias
    for ka, kb in zip(a.kernels, b.kernels, strict=True):
        np.testing.assert_array_equal(ka.weights, kb.weights)
        assert (ka.scale, ka.bias, ka.origin) == (kb.scale, kb.bias, kb.origin)


#: Pairs the catalogue (summaries, ``elsewhere``, module docstrings) says are the same kernel.
SAME = [
    ("box", "box:3"),
    ("binomial", "binomial:3"),
    ("gaussian", "binomial:3"),  # "The 3x3 is ImageMagick Binomial / 16"
    ("unsharp", "unsharp:1,1"),
    ("laplacian", "laplacian:1"),
    ("laplacian-8", "laplacian:0"),
    ("pillow-find-edges", "edge-detect"),
    ("freichen", "freichen:0"),
    ("sobel-x", "sobel:0"),
    ("sobel-y", "sobel:90"),
    ("prewitt-x", "prewitt:0"),
    ("prewitt-y", "prewitt:90"),
    ("scharr-x", "scharr:0"),
    ("scharr-y", "scharr:90"),
    ("sobel:e", "sobel:360"),
    ("sobel:ne", "sobel:-45"),
    ("kirsch:N", "kirsch:270"),
    ("compass:Sw", "compass:135"),
    ("motion:5", "motion:5,0"),
    ("motion:5,s", "motion:5,90"),
    ("freichen:1,se", "freichen:1,45"),
    ("freichen:2,0", "freichen:2"),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_names_the_catalogue_calls_equal_are_equal(a: str, b: str) -> None:
    same_kernels(get_builtin(a), get_builtin(b))


def test_edge_detect_is_minus_laplacian_8_and_contour_adds_255() -> None:
    edge = only_kernel("edge-detect")
    np.testing.assert_array_equal(edge.matrix, -only_kernel("laplacian-8").matrix)
    contour = only_kernel("pillow-contour")
    np.testing.assert_array_equal(contour.matrix, edge.matrix)
    assert (edge.bias, contour.bias) == (0, 255)


@pytest.mark.parametrize("family", ["sobel", "prewitt", "scharr", "roberts"])
def test_gradients_without_angle_are_the_magnitude_of_x_and_y(family: str) -> None:
    kernel_set = get_builtin(family)
    assert kernel_set.combine == "magnitude"
    assert [k.name for k in kernel_set.kernels] == [f"{family}-x", f"{family}-y"]


# =================================================================================================
# 2. Tables
# =================================================================================================

# ImageMagick's Laplacian:TYPE as ImageMagick defines it (positive centre;
# anchors-features section 3). imgconv's laplacian:TYPE is -1 times these.
IM_LAPLACIAN_TABLE: dict[int, list[list[float]]] = {
    0: [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    1: [[0, -1, 0], [-1, 4, -1], [0, -1, 0]],
    2: [[-2, 1, -2], [1, 4, 1], [-2, 1, -2]],
    3: [[1, -2, 1], [-2, 4, -2], [1, -2, 1]],
    5: [[-4, -1, 0, -1, -4], [-1, 2, 3, 2, -1], [0, 3, 4, 3, 0], [-1, 2, 3, 2, -1],
        [-4, -1, 0, -1, -4]],
    15: [[0, 0, -1, 0, 0], [0, -1, -2, -1, 0], [-1, -2, 16, -2, -1], [0, -1, -2, -1, 0],
         [0, 0, -1, 0, 0]],
}  # fmt: skip


@pytest.mark.parametrize("kind", list(IM_LAPLACIAN_TABLE))
def test_laplacian_type_is_minus_imagemagicks(kind: int) -> None:
    kernel = only_kernel(f"laplacian:{kind}")
    np.testing.assert_array_equal(kernel.weights, -np.array(IM_LAPLACIAN_TABLE[kind]))
    assert (kernel.scale, kernel.bias, kernel.name) == (1, 0, f"laplacian:{kind}")


@pytest.mark.parametrize(("kind", "side", "corner", "centre"), [(7, 7, 10, -8), (19, 9, 0, -40)])
def test_large_laplacian_types(kind: int, side: int, corner: float, centre: float) -> None:
    """anchors-features gives only these cells: Laplacian:7 corners -10, centre 8; :19 centre 40."""
    weights = only_kernel(f"laplacian:{kind}").weights
    assert weights.shape == (side, side)
    assert weights[0, 0] == weights[-1, -1] == weights[0, -1] == weights[-1, 0] == corner
    assert weights[side // 2, side // 2] == centre == weights.min()
    np.testing.assert_array_equal(weights, weights.T)
    np.testing.assert_array_equal(weights, weights[::-1, :])


@pytest.mark.parametrize("kind", [0, 1, 2, 3, 5, 7, 15, 19])
def test_every_laplacian_type_is_zero_sum(kind: int) -> None:
    assert only_kernel(f"laplacian:{kind}").weights.sum() == 0


# Directional 3x3 kernels in correlation form at 0 degrees (positive where brightness
# rises toward +x) and at 45 degrees (toward +x+y, down-right), typed by hand: ImageMagick's
# stored Sobel, Prewitt, Roberts, Compass, Kirsch and FreiChen (anchors-features section 3)
# rotated 180 degrees, and their 45-degree turns (the outer ring moved one cell clockwise).
# Scharr has no ImageMagick kernel; it is OpenCV's turned the same way.
DIRECTIONAL: dict[str, tuple[list[list[float]], list[list[float]]]] = {
    "sobel": ([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], [[-2, -1, 0], [-1, 0, 1], [0, 1, 2]]),
    "prewitt": ([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]], [[-1, -1, 0], [-1, 0, 1], [0, 1, 1]]),
    "scharr": ([[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]], [[-10, -3, 0], [-3, 0, 3], [0, 3, 10]]),
    "roberts": ([[0, 0, 0], [0, -1, 1], [0, 0, 0]], [[0, 0, 0], [0, -1, 0], [0, 0, 1]]),
    "compass": ([[-1, 1, 1], [-1, -2, 1], [-1, 1, 1]], [[-1, -1, 1], [-1, -2, 1], [1, 1, 1]]),
    "kirsch": ([[-3, -3, 5], [-3, 0, 5], [-3, -3, 5]], [[-3, -3, -3], [-3, 0, 5], [-3, 5, 5]]),
    "freichen:0": (
        [[-1, 0, 1], [-R2, 0, R2], [-1, 0, 1]],
        [[-R2, -1, 0], [-1, 0, 1], [0, 1, R2]],
    ),
    "freichen:1": ([[-H, 0, H], [-1, 0, 1], [-H, 0, H]], [[-1, -H, 0], [-H, 0, H], [0, H, 1]]),
    "freichen:2": ([[-H, -1, 0], [-1, 0, 1], [0, 1, H]], [[-1, -H, -1], [0, 0, 0], [1, H, 1]]),
}


def turned_spec(family: str, turn: str | int) -> str:
    """``sobel:45``, or ``freichen:1,45`` for a Frei-Chen type."""
    return f"{family},{turn}" if family.startswith("freichen") else f"{family}:{turn}"


@pytest.mark.parametrize("angle", ANGLES)
@pytest.mark.parametrize("family", list(DIRECTIONAL))
def test_directional_kernel_at_every_45_degrees(family: str, angle: int) -> None:
    """Multiples of 90 are the 0-degree matrix turned clockwise; the others the 45-degree one."""
    at0, at45 = DIRECTIONAL[family]
    expected = clockwise(at0 if angle % 90 == 0 else at45, angle // 90)
    kernel = only_kernel(turned_spec(family, angle))
    np.testing.assert_array_equal(kernel.weights, expected)
    assert (kernel.scale, kernel.bias, kernel.origin) == (1, 0, (1, 1))


@pytest.mark.parametrize("name", list(DIRECTIONS))
@pytest.mark.parametrize("family", list(DIRECTIONAL))
def test_compass_names_are_their_angles(family: str, name: str) -> None:
    by_name = only_kernel(turned_spec(family, name))
    by_upper_name = only_kernel(turned_spec(family, name.upper()))
    by_angle = only_kernel(turned_spec(family, DIRECTIONS[name]))
    np.testing.assert_array_equal(by_name.weights, by_angle.weights)
    np.testing.assert_array_equal(by_upper_name.weights, by_angle.weights)


@pytest.mark.parametrize("family", list(DIRECTIONAL))
@pytest.mark.parametrize("angle", [-45, -90, 360, 405, 720, -315])
def test_angles_are_taken_modulo_360(family: str, angle: int) -> None:
    np.testing.assert_array_equal(
        only_kernel(turned_spec(family, angle)).weights,
        only_kernel(turned_spec(family, angle % 360)).weights,
    )


# Frei-Chen's published basis (Frei and Chen, 1977) with ImageMagick's scaling, as
# ImageMagick stores it (so imgconv's is this rotated 180 degrees). Types 12 and 17 here
# are the published ones; ImageMagick 6.9.11 prints them with two sign slips (section 3).
IM_FREICHEN_PUBLISHED: dict[int, list[list[float]]] = {
    0: [[1, 0, -1], [R2, 0, -R2], [1, 0, -1]],
    1: [[H, 0, -H], [1, 0, -1], [H, 0, -H]],
    2: [[H, 1, 0], [1, 0, -1], [0, -1, -H]],
    11: [[H, 0, -H], [1, 0, -1], [H, 0, -H]],
    12: [[H, 1, H], [0, 0, 0], [-H, -1, -H]],
    13: [[1, -H, 0], [-H, 0, H], [0, H, -1]],
    14: [[0, H, -1], [-H, 0, H], [1, -H, 0]],
    15: [[0, -1 / 2, 0], [1 / 2, 0, 1 / 2], [0, -1 / 2, 0]],
    16: [[1 / 2, 0, -1 / 2], [0, 0, 0], [-1 / 2, 0, 1 / 2]],
    17: [[1 / 6, -2 / 6, 1 / 6], [-2 / 6, 4 / 6, -2 / 6], [1 / 6, -2 / 6, 1 / 6]],
    18: [[-2 / 6, 1 / 6, -2 / 6], [1 / 6, 4 / 6, 1 / 6], [-2 / 6, 1 / 6, -2 / 6]],
    19: [[1 / 3, 1 / 3, 1 / 3], [1 / 3, 1 / 3, 1 / 3], [1 / 3, 1 / 3, 1 / 3]],
}


@pytest.mark.parametrize("kind", list(IM_FREICHEN_PUBLISHED))
def test_freichen_type(kind: int) -> None:
    kernel = only_kernel(f"freichen:{kind}")
    np.testing.assert_allclose(
        kernel.weights, rot180(IM_FREICHEN_PUBLISHED[kind]), rtol=0, atol=1e-15
    )
    assert (kernel.scale, kernel.bias, kernel.name) == (1, 0, f"freichen:{kind}")


def test_freichen_basis_is_orthogonal() -> None:
    """The nine kernels of freichen:10 are pairwise orthogonal (the point of the basis).

    Their squared norms are ImageMagick's: 4 for the edge kernels 11..14 (twice
    the published unit length) and 1 for 15..19.
    """
    basis = np.stack([k.weights.ravel() for k in get_builtin("freichen:10").kernels])
    gram = basis @ basis.T
    np.testing.assert_allclose(gram, np.diag([4, 4, 4, 4, 1, 1, 1, 1, 1]), rtol=0, atol=1e-14)


@pytest.mark.parametrize("size", range(1, 8))
def test_binomial_is_the_outer_product_of_a_pascal_row(size: int) -> None:
    row = [math.comb(size - 1, k) for k in range(size)]
    kernel = only_kernel(f"binomial:{size}")
    np.testing.assert_array_equal(kernel.weights, np.outer(row, row))
    assert kernel.scale == 4 ** (size - 1)
    assert kernel.matrix.sum() == 1
    assert kernel.origin == (size // 2, size // 2)


def test_binomial_3_is_imagemagick_binomial_1() -> None:
    """IM Binomial:1 is 1 2 1; 2 4 2; 1 2 1 with sum 16 (anchors-features section 2)."""
    kernel = only_kernel("binomial:3")
    np.testing.assert_array_equal(kernel.weights, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    assert kernel.scale == 16


def mask(*rows: str) -> NDArray[np.bool_]:
    return np.array([[c == "#" for c in row] for row in rows])


# Cells of disk:R (x^2 + y^2 <= R^2) and diamond:R (|x| + |y| <= R), drawn by hand.
SHAPES: dict[str, NDArray[np.bool_]] = {
    "disk:0.5": mask("#"),
    "disk:1": mask(".#.", "###", ".#."),
    "disk:1.5": mask("###", "###", "###"),
    "disk:2": mask("..#..", ".###.", "#####", ".###.", "..#.."),
    "disk:2.5": mask(".###.", "#####", "#####", "#####", ".###."),
    "disk:3": mask("...#...", ".#####.", ".#####.", "#######", ".#####.", ".#####.", "...#..."),
    "diamond:0.5": mask("#"),
    "diamond:1": mask(".#.", "###", ".#."),
    "diamond:1.9": mask(".#.", "###", ".#."),
    "diamond:2": mask("..#..", ".###.", "#####", ".###.", "..#.."),
    "diamond:3": mask("...#...", "..###..", ".#####.", "#######", ".#####.", "..###..", "...#..."),
}


def present_cells(kernel: Kernel) -> NDArray[np.bool_]:
    if kernel.present is None:
        return np.ones(kernel.shape, dtype=bool)
    return kernel.present


@pytest.mark.parametrize("spec", list(SHAPES))
def test_flat_shapes_weigh_present_cells_equally(spec: str) -> None:
    cells = SHAPES[spec]
    kernel = only_kernel(spec)
    np.testing.assert_array_equal(present_cells(kernel), cells)
    np.testing.assert_array_equal(kernel.weights, cells.astype(np.float64))
    assert kernel.scale == cells.sum()
    np.testing.assert_array_equal(kernel.matrix[~cells], 0)
    np.testing.assert_array_equal(kernel.matrix[cells], 1 / cells.sum())
    assert kernel.origin == (cells.shape[0] // 2, cells.shape[1] // 2)
    assert (kernel.present is None) == bool(cells.all())


@pytest.mark.parametrize("spec", ["disk:2", "diamond:3"])
def test_flat_shape_filters_to_the_mean_over_its_cells(spec: str) -> None:
    image = np.random.default_rng(3).random((9, 11))
    footprint = SHAPES[spec]
    expected = ndimage.generic_filter(image, np.mean, footprint=footprint, mode="nearest")
    result = filter_image(image, get_builtin(spec), map="raw")
    np.testing.assert_allclose(result.pixels, expected, rtol=0, atol=1e-6)


# Pillow's built-in filters as Pillow defines them (anchors-features section 3, Pillow's
# ImageFilter): matrix, scale, offset. imgconv's are these flipped vertically.
PILLOW_TABLE: dict[str, tuple[list[list[float]], float, float]] = {
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


def test_pillow_table_covers_every_pillow_kernel() -> None:
    assert {f"pillow-{n}" for n in PILLOW_TABLE} == {
        n for n, b in BUILTINS.items() if b.family == "pillow"
    }


@pytest.mark.parametrize("name", list(PILLOW_TABLE))
def test_pillow_kernel_is_pillows_matrix_flipped_vertically(name: str) -> None:
    rows, scale, offset = PILLOW_TABLE[name]
    kernel = only_kernel(f"pillow-{name}")
    np.testing.assert_array_equal(kernel.weights, np.array(rows)[::-1])
    assert (kernel.scale, kernel.bias) == (scale, offset)


@pytest.mark.parametrize("name", list(PILLOW_TABLE))
def test_pillow_table_is_pillows_own(name: str) -> None:
    """The typed table agrees with the installed Pillow's ``filterargs``."""
    rows, scale, offset = PILLOW_TABLE[name]
    size, p_scale, p_offset, values = getattr(ImageFilter, pillow_attribute(name)).filterargs
    assert (size, p_scale, p_offset) == ((len(rows), len(rows)), scale, offset)
    assert list(values) == [v for row in rows for v in row]


def pillow_attribute(name: str) -> str:
    return name.upper().replace("-", "_")


# =================================================================================================
# 3. ImageMagick cross-check (printouts made by tests/data/imagemagick/make_fixtures.sh)
# =================================================================================================

IM_DIR = Path(__file__).parent / "data" / "imagemagick"
IM_VERSION = "ImageMagick 6.9.11-60 Q16"

_HEADER = re.compile(
    r'^Kernel (?:#(?P<index>\d+) )?"(?P<name>[^"]+)" of size '
    r"(?P<w>\d+)x(?P<h>\d+)\+(?P<x>\d+)\+(?P<y>\d+) "
)
_RANGE = re.compile(r"^Forming a output range from \S+ to \S+ \((?P<sum>.*)\)$")
_ROW = re.compile(r"^\s*(?P<row>\d+):(?P<values>.*)$")


@dataclass(frozen=True)
class ImKernel:
    """One kernel as ImageMagick printed it: stored form, ``nan`` for absent cells."""

    name: str
    values: Matrix
    origin: tuple[int, int]  # (row, column)
    total: str  # "Sum 16", "Zero-Summing", ...


def parse_printout(lines: list[str]) -> list[ImKernel]:
    kernels: list[ImKernel] = []
    i = 0
    while i < len(lines):
        header = _HEADER.match(lines[i])
        assert header, lines[i]
        assert int(header["index"] or 0) == len(kernels)
        total = _RANGE.match(lines[i + 1])
        assert total, lines[i + 1]
        h, w = int(header["h"]), int(header["w"])
        rows = []
        for r in range(h):
            row = _ROW.match(lines[i + 2 + r])
            assert row
            assert int(row["row"]) == r
            rows.append([float(v) for v in row["values"].split()])
        values = np.array(rows, dtype=np.float64)
        assert values.shape == (h, w)
        origin = (int(header["y"]), int(header["x"]))
        kernels.append(ImKernel(header["name"], values, origin, total["sum"]))
        i += 2 + h
    return kernels


def read_printouts() -> tuple[dict[str, list[ImKernel]], set[str]]:
    """Every section of every fixture file, by ImageMagick spec; and the version lines."""
    sections: dict[str, list[ImKernel]] = {}
    versions = set()
    for path in sorted(IM_DIR.glob("*.txt")):
        lines = path.read_text().splitlines()
        assert lines[0].startswith("# Version: ")
        versions.add(lines[0].removeprefix("# Version: "))
        starts = [i for i, line in enumerate(lines) if line.startswith("### ")]
        for start, end in zip(starts, [*starts[1:], len(lines)], strict=True):
            spec = lines[start].removeprefix("### ")
            assert spec not in sections
            sections[spec] = parse_printout(lines[start + 1 : end])
    return sections, versions


IM, IM_VERSIONS = read_printouts()

IM_ROTATABLE = ["Sobel", "Prewitt", "Roberts", "Compass", "Kirsch"]
IM_TURNS = [*(str(a) for a in ANGLES), "@", ">"]


def expected_im_specs() -> list[str]:
    specs = [f"Laplacian:{t}" for t in range(20)]
    specs += [f"{name}:{turn}" for name in IM_ROTATABLE for turn in IM_TURNS]
    specs += [f"FreiChen:{t}" for t in (0, 1, 2, 10, *range(11, 20))]
    specs += [f"FreiChen:{t},{turn}" for t in (0, 1, 2) for turn in IM_TURNS]
    specs += [f"Binomial:{r}" for r in range(1, 5)]
    specs += [f"Disk:{r}" for r in range(1, 7)] + [f"Diamond:{r}" for r in range(1, 6)]
    return specs


def test_printouts_hold_every_claimed_name_from_one_imagemagick() -> None:
    assert sorted(IM) == sorted(expected_im_specs())
    assert len(IM_VERSIONS) == 1
    assert next(iter(IM_VERSIONS)).startswith(IM_VERSION)


def imgconv_spec(im_spec: str) -> str:
    """The imgconv name claimed to give ImageMagick's ``-morphology Convolve`` result."""
    name, _, params = im_spec.partition(":")
    if name == "Binomial":
        return f"binomial:{2 * int(params) + 1}"
    return f"{name.lower()}:{params}"


def assert_rotated_back(kernel: Kernel, im: ImKernel, *, exact: bool) -> None:
    """``kernel`` applied as written equals ``im`` convolved: the same matrix turned 180."""
    expected = rot180(im.values)
    if exact:
        np.testing.assert_array_equal(kernel.matrix, expected)
    else:
        np.testing.assert_allclose(kernel.matrix, expected, rtol=0, atol=1e-15)
    h, w = im.values.shape
    assert kernel.origin == (h - 1 - im.origin[0], w - 1 - im.origin[1])


def im_angle(name: str) -> int:
    """``Sobel@45`` -> 45; ``Sobel`` -> 0."""
    return int(name.partition("@")[2] or 0)


def imgconv_angle(name: str) -> int:
    """``sobel:45`` -> 45; ``freichen:1,45`` -> 45."""
    return int(name.replace(",", ":").rpartition(":")[2])


IMGCONV_LAPLACIAN_TYPES = (0, 1, 2, 3, 5, 7, 15, 19)


@pytest.mark.parametrize("kind", IMGCONV_LAPLACIAN_TYPES)
def test_laplacian_is_minus_imagemagick_rotated(kind: int) -> None:
    """laplacian:T = -1 x ImageMagick Laplacian:T (imgconv keeps the negative centre)."""
    (im,) = IM[f"Laplacian:{kind}"]
    kernel = only_kernel(f"laplacian:{kind}")
    np.testing.assert_array_equal(kernel.matrix, -rot180(im.values))
    assert kernel.origin == (im.values.shape[0] // 2, im.values.shape[1] // 2)
    assert im.origin == kernel.origin


@pytest.mark.parametrize("kind", sorted(set(range(20)) - set(IMGCONV_LAPLACIAN_TYPES)))
def test_laplacian_types_imagemagick_lacks_are_refused(kind: int) -> None:
    """ImageMagick silently prints type 0 for them; imgconv says which types exist."""
    (im,) = IM[f"Laplacian:{kind}"]
    (im0,) = IM["Laplacian:0"]
    np.testing.assert_array_equal(im.values, im0.values)
    with pytest.raises(KernelError) as caught:
        get_builtin(f"laplacian:{kind}")
    assert str(caught.value) == (
        f"laplacian: TYPE '{kind}' is not one of ImageMagick's types 0 1 2 3 5 7 15 19"
    )


ROTATABLE_SPECS = [f"{n}:{t}" for n in IM_ROTATABLE for t in IM_TURNS] + [
    f"FreiChen:{t},{turn}" for t in (0, 1, 2) for turn in IM_TURNS
]


@pytest.mark.parametrize("im_spec", ROTATABLE_SPECS)
def test_rotated_kernels_match_imagemagick(im_spec: str) -> None:
    """NAME:ANGLE (and :@, :>) applied as written = ImageMagick -morphology Convolve NAME:ANGLE."""
    im_kernels = IM[im_spec]
    kernel_set = get_builtin(imgconv_spec(im_spec))
    assert len(kernel_set.kernels) == len(im_kernels)
    exact = not im_spec.startswith("FreiChen")
    for kernel, im in zip(kernel_set.kernels, im_kernels, strict=True):
        assert_rotated_back(kernel, im, exact=exact)
    turn = im_spec.rpartition(":")[2].rpartition(",")[2]
    if turn in EXPANSIONS:
        assert kernel_set.combine == "max"
        angles = [imgconv_angle(k.name) for k in kernel_set.kernels]
        assert angles == [im_angle(im.name) for im in im_kernels] == list(EXPANSIONS[turn])


# ImageMagick 6.9.11's two Frei-Chen sign slips against the published basis, in its
# stored (not rotated) form: type 12's bottom row is printed positive, and type 17's
# bottom-left cell is printed -1/6. imgconv uses the published values there.
FREICHEN_CORRECTED_CELLS: dict[int, tuple[tuple[int, int], ...]] = {
    12: ((2, 0), (2, 1), (2, 2)),
    17: ((2, 0),),
}


def corrected(kind: int, im_values: Matrix) -> Matrix:
    values = im_values.copy()
    for cell in FREICHEN_CORRECTED_CELLS.get(kind, ()):
        values[cell] = -values[cell]
    return values


@pytest.mark.parametrize("kind", [0, 1, 2, *range(11, 20)])
def test_freichen_types_match_imagemagick_but_for_types_12_and_17(kind: int) -> None:
    (im,) = IM[f"FreiChen:{kind}"]
    kernel = only_kernel(f"freichen:{kind}")
    np.testing.assert_allclose(kernel.matrix, rot180(corrected(kind, im.values)), atol=1e-15)
    # The cells that differ from ImageMagick's printout are exactly the named ones.
    differs = ~np.isclose(kernel.matrix, rot180(im.values), rtol=0, atol=1e-15)
    expected = np.zeros((3, 3), dtype=bool)
    for y, x in FREICHEN_CORRECTED_CELLS.get(kind, ()):
        expected[2 - y, 2 - x] = True
    np.testing.assert_array_equal(differs, expected)


def test_the_corrections_restore_the_orthogonality_imagemagick_loses() -> None:
    """ImageMagick's printed 12 and 17 are not orthogonal to the rest (19, the mean, for both)."""
    printed = {t: IM[f"FreiChen:{t}"][0].values.ravel() for t in range(11, 20)}
    assert printed[12] @ printed[19] == pytest.approx(2 * (2 * H + 1) / 3)
    assert printed[17] @ printed[19] == pytest.approx(-1 / 9)
    fixed = {t: corrected(t, IM[f"FreiChen:{t}"][0].values).ravel() for t in range(11, 20)}
    for a in fixed:
        for b in fixed:
            if a < b:
                assert fixed[a] @ fixed[b] == pytest.approx(0, abs=1e-15)


def test_freichen_10_is_imagemagicks_list_of_11_to_19_corrected() -> None:
    im_kernels = IM["FreiChen:10"]
    kernel_set = get_builtin("freichen:10")
    assert len(im_kernels) == len(kernel_set.kernels) == 9
    for kind, kernel, im in zip(range(11, 20), kernel_set.kernels, im_kernels, strict=True):
        (single,) = IM[f"FreiChen:{kind}"]
        np.testing.assert_array_equal(im.values, single.values)
        np.testing.assert_allclose(kernel.matrix, rot180(corrected(kind, im.values)), atol=1e-15)


def im_sum(im: ImKernel) -> float:
    assert im.total.startswith("Sum ")
    return float(im.total.removeprefix("Sum "))


@pytest.mark.parametrize("im_spec", [f"Binomial:{r}" for r in range(1, 5)])
def test_binomial_is_imagemagick_binomial_normalised(im_spec: str) -> None:
    """binomial:2R+1 = ImageMagick Binomial:R divided by its sum (4 ** (2R))."""
    (im,) = IM[im_spec]
    kernel = only_kernel(imgconv_spec(im_spec))
    np.testing.assert_array_equal(kernel.weights, rot180(im.values))
    assert kernel.scale == im_sum(im) == 4 ** (2 * int(im_spec.partition(":")[2]))
    assert_rotated_back(kernel.with_values(scale=1), im, exact=True)


@pytest.mark.parametrize(
    "im_spec", [f"Disk:{r}" for r in range(1, 7)] + [f"Diamond:{r}" for r in range(1, 6)]
)
def test_flat_shapes_are_imagemagicks_normalised(im_spec: str) -> None:
    """Present cells are ImageMagick's non-nan cells, weighed 1 / their count."""
    (im,) = IM[im_spec]
    kernel = only_kernel(imgconv_spec(im_spec))
    stored = rot180(im.values)
    cells = ~np.isnan(stored)
    np.testing.assert_array_equal(present_cells(kernel), cells)
    np.testing.assert_array_equal(kernel.weights, np.nan_to_num(stored, nan=0.0))
    assert kernel.scale == cells.sum() == im_sum(im)
    assert kernel.origin == (stored.shape[0] - 1 - im.origin[0], stored.shape[1] - 1 - im.origin[1])


# =================================================================================================
# 4. Pillow cross-check
# =================================================================================================

#: Pillow's divisors that are powers of two: every step of its float arithmetic is exact.
DYADIC = {"blur", "contour", "edge-enhance", "edge-enhance-more", "emboss", "find-edges",
          "sharpen"}  # fmt: skip


@pytest.fixture(scope="module")
def l_image() -> NDArray[np.uint8]:
    return np.random.default_rng(2024).integers(0, 256, (40, 50), dtype=np.uint8)


@pytest.mark.parametrize("name", list(PILLOW_TABLE))
def test_pillow_filters_agree_with_pillow_away_from_its_border(
    name: str, l_image: NDArray[np.uint8]
) -> None:
    """imgconv's pillow-* equals Pillow's own filter but where the exact value is a tie.

    The exact value is ``N / scale + offset`` for an integer ``N``. Away from
    ties (``N mod scale != scale / 2``) both tools round to nearest and agree.
    At a tie Pillow rounds half up (``(UINT8)(v + 0.5)``) and imgconv half to
    even (``numpy.rint``), so for power-of-two divisors, where both compute
    the tie exactly, they differ exactly at the ties with an even floor.
    For the divisors 6 and 100 (DETAIL, SMOOTH_MORE) 1/6 and 1/100 are
    inexact in binary, so each tool's rounding at a tie is decided by its own
    float32 error: either may give the floor or the floor + 1. SMOOTH's 13 is
    odd and has no ties.
    """
    kernel = only_kernel(f"pillow-{name}")
    pillow = np.asarray(
        Image.fromarray(l_image).filter(getattr(ImageFilter, pillow_attribute(name)))
    )
    ours = filter_image(l_image, get_builtin(f"pillow-{name}")).pixels
    assert ours.dtype == pillow.dtype == np.uint8
    border = kernel.shape[0] // 2
    inner = (slice(border, -border), slice(border, -border))
    pillow, ours = pillow[inner].astype(np.int64), ours[inner].astype(np.int64)
    # Exact value: (numerator / scale), in integers.
    scale = int(kernel.scale)
    numerator = (
        ndimage.correlate(
            l_image.astype(np.int64), kernel.weights.astype(np.int64), mode="nearest"
        )[inner]
        + int(kernel.bias) * scale
    )
    floor, remainder = np.divmod(numerator, scale)
    tie = 2 * remainder == scale
    half_up = np.clip(floor + (2 * remainder >= scale), 0, 255)
    half_even = np.clip(floor + ((2 * remainder > scale) | (tie & (floor % 2 == 1))), 0, 255)
    np.testing.assert_array_equal(pillow[~tie], half_up[~tie])
    np.testing.assert_array_equal(ours[~tie], half_up[~tie])
    live_tie = tie & (floor >= 0) & (floor < 255)  # ties the clipping does not hide
    if scale % 2 == 1:
        assert not tie.any()
    else:
        assert live_tie.sum() > 5  # the image exercises the rule
    if name in DYADIC:
        np.testing.assert_array_equal(pillow, half_up)
        np.testing.assert_array_equal(ours, half_even)
        np.testing.assert_array_equal(pillow != ours, live_tie & (floor % 2 == 0))
    else:
        low, high = np.clip(floor, 0, 255), np.clip(floor + 1, 0, 255)
        assert ((pillow[tie] == low[tie]) | (pillow[tie] == high[tie])).all()
        assert ((ours[tie] == low[tie]) | (ours[tie] == high[tie])).all()


# =================================================================================================
# 5. Orientation on step edges
# =================================================================================================

#: Unit steps toward each angle, (dx, dy) with y pointing down.
TOWARD = {0: (1, 0), 45: (1, 1), 90: (0, 1), 135: (-1, 1), 180: (-1, 0), 225: (-1, -1),
          270: (0, -1), 315: (1, -1)}  # fmt: skip


def step_toward(angle: int, size: int = 13) -> Matrix:
    """0 on one side, 1 where brightness has risen toward ``angle`` (clockwise, y down)."""
    dx, dy = TOWARD[angle % 360]
    c = np.arange(size) - size // 2
    y, x = np.meshgrid(c, c, indexing="ij")
    return (dx * x + dy * y > 0).astype(np.float64)


def responses(family: str, image: Matrix) -> dict[int, Matrix]:
    """Each angle's map, without the outermost pixels (they see the replicated border)."""
    return {
        a: correlate(image, only_kernel(turned_spec(family, a)), method="direct")[1:-1, 1:-1]
        for a in ANGLES
    }


@pytest.mark.parametrize("turn", [*ANGLES, *DIRECTIONS])
@pytest.mark.parametrize("family", list(DIRECTIONAL))
def test_kernel_is_positive_on_a_step_rising_toward_its_angle(family: str, turn: int | str) -> None:
    angle = DIRECTIONS[turn] if isinstance(turn, str) else turn
    image = step_toward(angle)
    own = correlate(image, only_kernel(turned_spec(family, turn)), method="direct")[1:-1, 1:-1]
    maps = responses(family, image)
    np.testing.assert_array_equal(own, maps[angle])
    assert own.min() >= -1e-12
    assert own.max() > 0.5
    opposite = maps[(angle + 180) % 360]
    assert opposite.max() <= 1e-12
    assert opposite.min() < -0.5
    # Away from the edge (where the 3x3 neighbourhood is flat) every response is 0.
    flat = ndimage.maximum_filter(image, 3) == ndimage.minimum_filter(image, 3)
    np.testing.assert_allclose(own[flat[1:-1, 1:-1]], 0, atol=1e-12)


@pytest.mark.parametrize("angle", ANGLES)
@pytest.mark.parametrize("family", [f for f in DIRECTIONAL if f != "freichen:2"])
def test_the_strongest_of_the_8_faces_the_edge(family: str, angle: int) -> None:
    """On a step rising toward ANGLE, the kernel for ANGLE responds at least as much as
    any other turn, at every pixel."""
    maps = responses(family, step_toward(angle))
    for other in maps.values():
        assert (maps[angle] >= other - 1e-12).all()


@pytest.mark.parametrize("angle", ANGLES)
def test_freichen_2_is_diagonal(angle: int) -> None:
    """ImageMagick's FreiChen:2 is its diagonal kernel: freichen:2,A is positive toward A
    (above) but responds most to a step rising toward A + 45, with a peak of 2 + sqrt(2)/2
    against at most 1 + sqrt(2)/2 for the other turns, and the largest total."""
    maps = responses("freichen:2", step_toward(angle))
    strongest = (angle - 45) % 360
    peaks = {a: maps[a].max() for a in ANGLES}
    assert peaks[strongest] == pytest.approx(2 + H, abs=1e-12)
    assert max(p for a, p in peaks.items() if a != strongest) == pytest.approx(1 + H, abs=1e-12)
    totals = {a: maps[a].sum() for a in ANGLES}
    assert max(totals, key=totals.__getitem__) == strongest


def principal_angle(matrix: Matrix) -> float:
    """Direction of the weights' principal axis, degrees clockwise from +x (y down), mod 180."""
    h, w = matrix.shape
    y, x = np.mgrid[0:h, 0:w]
    y, x = y - h // 2, x - w // 2
    cxx, cyy, cxy = (matrix * x * x).sum(), (matrix * y * y).sum(), (matrix * x * y).sum()
    return math.degrees(0.5 * math.atan2(2 * cxy, cxx - cyy)) % 180


@pytest.mark.parametrize("length", [5, 9, 15])
@pytest.mark.parametrize("angle", range(0, 360, 15))
def test_motion_line_runs_along_its_angle_clockwise(length: int, angle: int) -> None:
    matrix = only_kernel(f"motion:{length},{angle}").matrix
    error = (principal_angle(matrix) - angle % 180 + 90) % 180 - 90
    assert abs(error) < 1.5
    np.testing.assert_allclose(matrix, matrix[::-1, ::-1], atol=1e-15)


@pytest.mark.parametrize("angle", [22.5, 7.5, -67.5])
def test_motion_takes_fractional_angles(angle: float) -> None:
    """motion's line is drawn at any angle (it took fractional angles before turning clockwise)."""
    matrix = only_kernel(f"motion:9,{angle}").matrix
    error = (principal_angle(matrix) - angle % 180 + 90) % 180 - 90
    assert abs(error) < 1.5


def test_motion_5_45_lies_on_the_diagonal_from_top_left_to_bottom_right() -> None:
    matrix = only_kernel("motion:5,45").matrix
    assert matrix.shape == (5, 5)
    rows, cols = np.indices(matrix.shape)
    np.testing.assert_array_equal(matrix[np.abs(rows - cols) > 1], 0)  # nothing off the band
    diagonal = np.diag(matrix)
    assert (diagonal[1:-1] == matrix[1:-1].max(axis=1)).all()
    assert matrix[0, -1] == matrix[-1, 0] == 0
    np.testing.assert_allclose(matrix, matrix.T, atol=1e-15)
    np.testing.assert_allclose(only_kernel("motion:5,135").matrix, matrix[:, ::-1], atol=1e-15)


# =================================================================================================
# 6. Set expansions
# =================================================================================================

ROTATABLE_FAMILIES = ["sobel", "prewitt", "scharr", "roberts", "kirsch", "compass"]


@pytest.mark.parametrize("expansion", ["@", "*", ">"])
@pytest.mark.parametrize("family", ROTATABLE_FAMILIES)
def test_expansion_is_every_turn_combined_by_max(family: str, expansion: str) -> None:
    kernel_set = get_builtin(f"{family}:{expansion}")
    angles = ANGLES if expansion in "@*" else (0, 90, 180, 270)
    assert kernel_set.name == f"{family}:{expansion}"
    assert kernel_set.combine == "max"
    assert [k.name for k in kernel_set.kernels] == [f"{family}:{a}" for a in angles]
    for kernel, angle in zip(kernel_set.kernels, angles, strict=True):
        np.testing.assert_array_equal(kernel.weights, only_kernel(f"{family}:{angle}").weights)


@pytest.mark.parametrize("family", ["kirsch", "compass"])
def test_compass_kernels_without_parameter_are_the_at_set(family: str) -> None:
    plain, at = get_builtin(family), get_builtin(f"{family}:@")
    assert plain.name == family
    same_kernels(plain, at)
    assert [k.name for k in plain.kernels] == [k.name for k in at.kernels]


@pytest.mark.parametrize("spec", ["sobel:@", "kirsch:>", "freichen:0,@", "freichen:2,>"])
def test_expansion_filters_to_the_maximum_of_its_maps(spec: str) -> None:
    image = np.random.default_rng(7).random((9, 10))
    kernel_set = get_builtin(spec)
    maps = [correlate(image, k) for k in kernel_set.kernels]
    result = filter_image(image, kernel_set, map="raw")
    np.testing.assert_allclose(result.pixels, np.max(maps, axis=0), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "spec", ["sobel:@", "roberts:>", "kirsch", "freichen:10", "freichen:0,@", "freichen:1,>"]
)
def test_kernels_in_a_set_are_named_by_specs_that_build_them(spec: str) -> None:
    """A map's name (``--print csv``, ``kernels show``) can be typed back to get its kernel."""
    for kernel in get_builtin(spec).kernels:
        np.testing.assert_array_equal(only_kernel(kernel.name).weights, kernel.weights)


@pytest.mark.parametrize("family", [*ROTATABLE_FAMILIES, "freichen:1"])
def test_a_single_turn_is_named_by_its_spec(family: str) -> None:
    spec = turned_spec(family, "se")
    assert get_builtin(spec).name == spec
    assert only_kernel(spec).name == spec


def test_freichen_10_is_the_basis_with_no_combine() -> None:
    kernel_set = get_builtin("freichen:10")
    assert kernel_set.combine is None
    assert [k.name for k in kernel_set.kernels] == [f"freichen:{t}" for t in range(11, 20)]
    for kind, kernel in zip(range(11, 20), kernel_set.kernels, strict=True):
        np.testing.assert_array_equal(kernel.weights, only_kernel(f"freichen:{kind}").weights)


def test_freichen_10_needs_a_combine() -> None:
    image = np.random.default_rng(8).random((6, 7))
    with pytest.raises(UsageError) as caught:
        filter_image(image, get_builtin("freichen:10"))
    assert str(caught.value) == (
        "'freichen:10' holds 9 kernels; say how to combine their results with "
        "--combine magnitude|max|min|sum|stack|chain"
    )
    kernel_set = get_builtin("freichen:10")
    result = filter_image(image, kernel_set, combine="sum", map="raw")
    expected = sum(correlate(image, k) for k in kernel_set.kernels)
    np.testing.assert_allclose(result.pixels, expected, rtol=0, atol=1e-6)


# =================================================================================================
# 7. Errors
# =================================================================================================


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("sobel:30", "sobel turns in steps of 45 degrees; got 30"),
        ("kirsch:100", "kirsch turns in steps of 45 degrees; got 100"),
        ("freichen:0,30", "freichen:0 turns in steps of 45 degrees; got 30"),
        (
            "sobel:x",
            "sobel: ANGLE 'x' is not an angle in degrees or a direction (e se s sw w nw n ne)",
        ),
        (
            "sobel:nan",
            "sobel: ANGLE 'nan' is not an angle in degrees or a direction (e se s sw w nw n ne)",
        ),
        (
            "compass:north",
            "compass: ANGLE 'north' is not an angle in degrees or a direction "
            "(e se s sw w nw n ne)",
        ),
        (
            "kirsch:@@",
            "kirsch: ANGLE '@@' is not an angle in degrees or a direction (e se s sw w nw n ne)",
        ),
        ("sobel:45.5", "sobel: ANGLE '45.5' is not a whole number of degrees"),
        ("roberts:0,@", "roberts takes [ANGLE|DIR|@|>]; got '0,@'"),
        ("laplacian:4", "laplacian: TYPE '4' is not one of ImageMagick's types 0 1 2 3 5 7 15 19"),
        (
            "laplacian:1.0",
            "laplacian: TYPE '1.0' is not one of ImageMagick's types 0 1 2 3 5 7 15 19",
        ),
        (
            "freichen:5",
            "freichen: TYPE '5' is not one of ImageMagick's types "
            "0 1 2 10 11 12 13 14 15 16 17 18 19",
        ),
        (
            "freichen:x",
            "freichen: TYPE 'x' is not one of ImageMagick's types "
            "0 1 2 10 11 12 13 14 15 16 17 18 19",
        ),
        ("freichen:0,1,2", "freichen takes [TYPE[,ANGLE|DIR|@|>]]; got '0,1,2'"),
        # Expansions on kernels that do not turn.
        ("freichen:10,@", "freichen:10 takes no angle; got '@'"),
        ("freichen:10,90", "freichen:10 takes no angle; got '90'"),
        ("sobel-x:@", "sobel-x takes no parameters; got '@'"),
        ("roberts-y:>", "roberts-y takes no parameters; got '>'"),
        ("edge-detect:*", "edge-detect takes no parameters; got '*'"),
        ("pillow-emboss:@", "pillow-emboss takes no parameters; got '@'"),
        ("laplacian:@", "laplacian: TYPE '@' is not one of ImageMagick's types 0 1 2 3 5 7 15 19"),
        ("box:@", "box: N '@' is not a whole number >= 1"),
        ("binomial:>", "binomial: N '>' is not a whole number >= 1"),
        ("gaussian:@", "gaussian: SIGMA '@' is not a positive number"),
        ("disk:@", "disk: R '@' is not a positive number"),
        (
            "motion:5,@",
            "motion: ANGLE '@' is not an angle in degrees or a direction (e se s sw w nw n ne)",
        ),
    ],
)
def test_bad_turns_types_and_expansions(spec: str, message: str) -> None:
    with pytest.raises(KernelError) as caught:
        get_builtin(spec)
    assert str(caught.value) == message
