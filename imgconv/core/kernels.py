"""Kernels as values: a weight matrix with its scale, bias and anchor.

A :class:`Kernel` holds the weights *as written* (``1 2 1; 2 4 2; 1 2 1``)
and a ``scale`` that divides them (16), so a kernel can be shown the way it
was given and applied exactly. ``bias`` is added after scaling, in output
units. Cells may be *absent* (ImageMagick's ``nan`` or ``-``): they weigh 0,
and are kept only so the kernel can be shown and written back as given.

A :class:`KernelSet` holds several kernels whose results are combined into
one map (``sobel`` is the magnitude of ``sobel-x`` and ``sobel-y``), kept
as separate maps (``stack``), or applied one after another (``chain``). A
:class:`Bank` is a convolutional layer's ``K x C x H x W`` weights, each
kernel as deep as the input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import KernelError

Combine = Literal["magnitude", "max", "min", "sum", "stack", "chain"]
COMBINES: tuple[Combine, ...] = ("magnitude", "max", "min", "sum", "stack", "chain")

# Relative size below which a kernel's sum counts as zero (LoG and DoG are
# made zero-sum in floating point and keep a residue of about 1e-17).
_ZERO_SUM_TOLERANCE = 1e-9


@dataclass(frozen=True, eq=False, init=False, repr=False)
class Kernel:
    """One 2-D kernel, applied as written (cross-correlation) by default.

    Parameters
    ----------
    weights : array_like
        2-D matrix of finite numbers, as written.
    scale : float
        Divisor of the weights (GIMP's divisor, libvips' scale). Not zero.
    bias : float
        Added to the result after scaling, in output units (0..255 for 8-bit).
    anchor : (int, int), optional
        Kernel cell that sits on the output pixel; ``(kh // 2, kw // 2)`` by
        default.
    name : str
        How messages and ``kernels show`` refer to it.
    present : array_like of bool, optional
        False for absent cells (outside the neighbourhood); their weight
        must be 0. All cells are present by default.

    Raises
    ------
    KernelError
        If the weights are not a non-empty 2-D matrix of finite numbers, the
        scale is zero or not finite, the anchor is outside the matrix, or an
        absent cell has a weight.

    Examples
    --------
    >>> k = Kernel([[1, 2, 1], [2, 4, 2], [1, 2, 1]], scale=16, name="gaussian")
    >>> k.matrix.sum()
    np.float64(1.0)
    """

    weights: NDArray[np.float64]
    scale: float = 1.0
    bias: float = 0.0
    anchor: tuple[int, int] | None = None
    name: str = "kernel"
    present: NDArray[np.bool_] | None = None

    def __init__(
        self,
        weights: ArrayLike,
        *,
        scale: float = 1.0,
        bias: float = 0.0,
        anchor: tuple[int, int] | None = None,
        name: str = "kernel",
        present: ArrayLike | None = None,
    ) -> None:
        try:
            array = np.array(weights, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            msg = f"kernel {name!r} is not a matrix of numbers: {exc}"
            raise KernelError(msg) from None
        if array.ndim != 2 or array.size == 0:
            msg = f"kernel {name!r} has shape {array.shape}; expected a non-empty 2-D matrix"
            raise KernelError(msg)
        if not np.isfinite(array).all():
            bad = float(array[~np.isfinite(array)][0])
            msg = f"kernel {name!r} has a weight {bad!r}; expected finite numbers"
            raise KernelError(msg)
        if not np.isfinite(scale) or scale == 0:
            msg = f"kernel {name!r} has scale {scale!r}; expected a finite, non-zero divisor"
            raise KernelError(msg)
        if not np.isfinite(bias):
            msg = f"kernel {name!r} has bias {bias!r}; expected a finite number"
            raise KernelError(msg)
        if anchor is not None:
            ay, ax = anchor
            kh, kw = array.shape
            if not (0 <= ay < kh and 0 <= ax < kw):
                msg = (
                    f"anchor {ay},{ax} is outside the {kh}x{kw} kernel {name!r}; "
                    f"expected 0..{kh - 1},0..{kw - 1}"
                )
                raise KernelError(msg)
            anchor = (int(ay), int(ax))
        mask = None
        if present is not None:
            mask = np.array(present, dtype=bool)
            if mask.shape != array.shape:
                msg = f"kernel {name!r}: the mask of present cells does not match its shape"
                raise KernelError(msg)
            if (array[~mask] != 0).any():
                msg = f"kernel {name!r}: an absent cell has a non-zero weight"
                raise KernelError(msg)
            if mask.all():
                mask = None
            else:
                mask.setflags(write=False)
        array.setflags(write=False)
        object.__setattr__(self, "present", mask)
        object.__setattr__(self, "weights", array)
        object.__setattr__(self, "scale", float(scale))
        object.__setattr__(self, "bias", float(bias))
        object.__setattr__(self, "anchor", anchor)
        object.__setattr__(self, "name", name)

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)`` of the matrix."""
        kh, kw = self.weights.shape
        return kh, kw

    @property
    def origin(self) -> tuple[int, int]:
        """The anchor, with the default ``(kh // 2, kw // 2)`` filled in."""
        if self.anchor is not None:
            return self.anchor
        kh, kw = self.shape
        return kh // 2, kw // 2

    @property
    def matrix(self) -> NDArray[np.float64]:
        """The weights as applied: divided by ``scale``."""
        return self.weights / self.scale

    def flipped(self) -> Kernel:
        """Rotate 180 degrees about the anchor (true convolution).

        Correlating with the flipped kernel computes
        ``sum K[u, v] * in[i - (u - a_y), j - (v - a_x)]``.
        """
        kh, kw = self.shape
        ay, ax = self.origin
        return Kernel(
            self.weights[::-1, ::-1],
            scale=self.scale,
            bias=self.bias,
            anchor=(kh - 1 - ay, kw - 1 - ax),
            name=self.name,
            present=None if self.present is None else self.present[::-1, ::-1],
        )

    def normalized(self) -> Kernel:
        """Rescale so the weights as applied sum to 1.

        A kernel with a non-zero sum is divided by that sum (a negative sum
        flips the kernel's sign, so a flat area keeps its brightness). A
        zero-sum kernel (an edge detector) cannot be divided by its sum;
        instead it is divided by the sum of its positive weights, so its
        positive part sums to 1, as ImageMagick's ``!`` does.

        Raises
        ------
        KernelError
            If every weight is zero, or the sum is beyond a float's range.
        """
        weights, peak = self.weights, 1.0
        with np.errstate(over="ignore"):
            total, magnitude = float(weights.sum()), float(np.abs(weights).sum())
        if not (np.isfinite(total) and np.isfinite(magnitude)):
            # Weights near the largest float: sum them scaled to at most 1.
            peak = float(np.abs(weights).max())
            weights = weights / peak
            total, magnitude = float(weights.sum()), float(np.abs(weights).sum())
        if magnitude == 0:
            msg = f"kernel {self.name!r} is all zeros; it cannot be normalized"
            raise KernelError(msg)
        if abs(total) > _ZERO_SUM_TOLERANCE * magnitude:
            divisor = total * peak
        else:
            divisor = float(weights[weights > 0].sum()) * peak
        if not np.isfinite(divisor):
            msg = (
                f"kernel {self.name!r} cannot be normalized: its weights sum beyond the "
                "range of a 64-bit float"
            )
            raise KernelError(msg)
        return self.with_values(scale=divisor)

    def with_values(
        self,
        *,
        scale: float | None = None,
        bias: float | None = None,
        name: str | None = None,
        anchor: tuple[int, int] | None = None,
    ) -> Kernel:
        """A copy with the given scale, bias, name or anchor replaced."""
        return Kernel(
            self.weights,
            scale=self.scale if scale is None else scale,
            bias=self.bias if bias is None else bias,
            anchor=self.anchor if anchor is None else anchor,
            name=self.name if name is None else name,
            present=self.present,
        )

    def __repr__(self) -> str:
        kh, kw = self.shape
        return f"Kernel({self.name!r}, {kh}x{kw}, scale={self.scale:g}, bias={self.bias:g})"


@dataclass(frozen=True)
class KernelSet:
    """One or more kernels whose results are combined into one map.

    Parameters
    ----------
    name : str
        The name the user gave (``sobel``, ``gaussian:2``, a file name).
    kernels : tuple of Kernel
        Applied one by one to the same input (to the previous result for
        ``chain``).
    combine : {'magnitude', 'max', 'min', 'sum', 'stack', 'chain'}, optional
        How the results of several kernels become one: the root of the sum
        of squares, the largest, the smallest, the sum, ``stack`` to keep
        each map, or ``chain``: each kernel filters the previous one's
        result, as ImageMagick applies a list of kernels. None when nobody
        said (kernels from a user's file): applying such a set needs a
        ``combine`` then.
    bias : float
        Added after combining, in output units.
    description : str
        One line for ``kernels list``.
    """

    name: str
    kernels: tuple[Kernel, ...]
    combine: Combine | None = None
    bias: float = 0.0
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.kernels:
            msg = f"kernel set {self.name!r} is empty"
            raise KernelError(msg)
        if self.combine is not None and self.combine not in COMBINES:
            msg = f"unknown combine {self.combine!r}; expected one of {', '.join(COMBINES)}"
            raise KernelError(msg)

    @classmethod
    def single(cls, kernel: Kernel, description: str = "") -> KernelSet:
        """A set holding one kernel, named after it."""
        return cls(kernel.name, (kernel,), description=description)

    def map_kernels(self, change: Callable[[Kernel], Kernel]) -> KernelSet:
        """A copy with ``change`` applied to every kernel."""
        return replace(self, kernels=tuple(change(k) for k in self.kernels))

    def with_bias(self, bias: float) -> KernelSet:
        """A copy whose only bias is ``bias``, added after combining."""
        return replace(
            self, kernels=tuple(k.with_values(bias=0.0) for k in self.kernels), bias=bias
        )


@dataclass(frozen=True, eq=False)
class Bank:
    """Weights of a convolutional layer: K kernels, each C channels deep.

    Parameters
    ----------
    weights : ndarray
        ``(K, C, H, W)`` finite floats (a 2-D kernel is ``(1, 1, H, W)``).
    bias : ndarray
        ``(K,)``, added to each kernel's map.
    name : str
        How messages refer to it.
    """

    weights: NDArray[np.float64]
    bias: NDArray[np.float64]
    name: str = "bank"

    def __post_init__(self) -> None:
        weights = np.array(self.weights, dtype=np.float64)
        if weights.ndim != 4 or 0 in weights.shape:
            msg = f"bank {self.name!r} has shape {weights.shape}; expected K x C x H x W"
            raise KernelError(msg)
        if not np.isfinite(weights).all():
            msg = f"bank {self.name!r} has weights that are not finite numbers"
            raise KernelError(msg)
        bias = np.zeros(weights.shape[0]) if self.bias is None else np.array(self.bias, float)
        if bias.shape != (weights.shape[0],) or not np.isfinite(bias).all():
            msg = (
                f"bank {self.name!r} has a bias of shape {bias.shape}; expected "
                f"{weights.shape[0]} finite numbers, one per kernel"
            )
            raise KernelError(msg)
        weights.setflags(write=False)
        bias.setflags(write=False)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "bias", bias)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(K, C, H, W)``."""
        k, c, h, w = self.weights.shape
        return k, c, h, w

    def as_kernels(self) -> KernelSet | None:
        """The bank as 2-D kernels when each is one channel deep, else None."""
        k, c, _, _ = self.shape
        if c != 1:
            return None
        kernels = tuple(
            Kernel(
                self.weights[i, 0],
                bias=float(self.bias[i]),
                name=self.name if k == 1 else f"{self.name}[{i}]",
            )
            for i in range(k)
        )
        return KernelSet(self.name, kernels)


def kernels_of(spec: Kernel | KernelSet | ArrayLike) -> KernelSet:
    """Accept a Kernel, a KernelSet or a bare matrix where the API takes a kernel."""
    if isinstance(spec, KernelSet):
        return spec
    if isinstance(spec, Kernel):
        return KernelSet.single(spec)
    return KernelSet.single(Kernel(spec))
