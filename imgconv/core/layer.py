"""A convolutional layer by hand: a bank of deep kernels, bias, activation and pooling.

Each of the K kernels of a :class:`~imgconv.core.kernels.Bank` is as deep as
the input (C channels) and gives one feature map: at output cell ``(i, j)``

    map_k[i, j] = sum_{c, u, v} W[k, c, u, v] * P[i*s + d*u, j*s + d*v, c] + b_k

with ``P`` the padded input (the same geometry as ``apply``, KERNELS.md
section 2), applied as written unless ``flip``. Then an optional activation
and pooling. A layer of K kernels F x F x C has ``K*F*F*C + K`` parameters.

The sum over channels and kernels is one matrix product per kernel cell
(``(H_out*W_out, C) @ (C, K)``, done by BLAS), not a Python loop over
kernels and channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from ..errors import GeometryError, UsageError
from .convolve import pad, work_dtype
from .geometry import Geometry, GeometryOptions, plan
from .kernels import Bank, KernelSet
from .vocab import Border, Padding, parse_anchor, parse_pair

Activation = Literal["relu", "leaky-relu", "sigmoid", "tanh"]
ACTIVATIONS: tuple[str, ...] = get_args(Activation)
Pool = Literal["max", "avg"]
POOLS: tuple[str, ...] = get_args(Pool)

#: The slope of ``leaky-relu`` for negative inputs unless another is given.
DEFAULT_LEAK = 0.01


@dataclass(frozen=True)
class Pooling:
    """Pooling after the activation: ``max`` or ``avg`` over ``size`` windows every ``stride``."""

    kind: Pool
    size: tuple[int, int]
    stride: tuple[int, int]


class LayerOptions(GeometryOptions, total=False):
    """The keyword vocabulary of :func:`conv_layer`: the geometry, then the layer's own."""

    bias: Sequence[float] | float | None
    activation: Activation | None
    leak: float
    pool: Pooling | None


@dataclass(frozen=True)
class LayerResult:
    """The K feature maps of a layer, and how they were made.

    Attributes
    ----------
    maps : ndarray
        ``(K, H_out, W_out)`` floats, after activation and pooling.
    names : tuple of str
        A name per map.
    geometry : Geometry
        The convolution's padding, stride, dilation and sizes.
    conv_shape : tuple of int
        ``(H, W)`` of each map after the convolution, before pooling.
    bank : Bank
        The kernels as applied (flipped if asked, broadcast over channels).
    parameters : int
        ``K*F_h*F_w*C + K``: weights and one bias per kernel.
    """

    maps: NDArray[np.floating]
    names: tuple[str, ...]
    geometry: Geometry
    conv_shape: tuple[int, int]
    bank: Bank
    parameters: int


def bank_for(kernels: KernelSet | Bank, channels: int) -> Bank:
    """The bank that applies ``kernels`` to an input of ``channels`` channels.

    A bank as deep as the input is used as it is; a bank one channel deep,
    and every 2-D kernel of a set, is broadcast: the same weights on every
    channel, summed (so a 2-D kernel on an RGB input responds to R + G + B).
    A kernel's scale is folded into its weights and its bias kept, plus
    the set's bias.

    Raises
    ------
    UsageError
        If the bank's depth is neither 1 nor ``channels``, or the kernels
        of a set differ in size.
    """
    if isinstance(kernels, Bank):
        k, c, h, w = kernels.shape
        if c == channels:
            return kernels
        if c == 1:
            weights = np.broadcast_to(kernels.weights, (k, channels, h, w))
            return Bank(weights, kernels.bias, kernels.name)
        msg = (
            f"the kernels of {kernels.name!r} are {c} channels deep but the input has "
            f"{channels}; a layer's kernels are as deep as its input"
        )
        raise UsageError(msg)
    shapes = {kernel.shape for kernel in kernels.kernels}
    if len(shapes) > 1:
        sizes = ", ".join(f"{k.name} {k.shape[0]}x{k.shape[1]}" for k in kernels.kernels)
        msg = f"the kernels of a layer must be of one size; got {sizes}"
        raise UsageError(msg)
    matrices = np.stack([kernel.matrix for kernel in kernels.kernels])[:, np.newaxis]
    k, _, h, w = matrices.shape
    bias = np.array([kernel.bias + kernels.bias for kernel in kernels.kernels])
    weights = np.broadcast_to(matrices, (k, channels, h, w))
    return Bank(weights, bias, kernels.name)


def kernel_names(kernels: KernelSet | Bank) -> tuple[str, ...]:
    """A name per kernel: the set's kernels' names, or ``BANK[i]``."""
    if isinstance(kernels, KernelSet):
        return tuple(kernel.name for kernel in kernels.kernels)
    count = kernels.shape[0]
    return (kernels.name,) if count == 1 else tuple(f"{kernels.name}[{i}]" for i in range(count))


def parameter_count(bank: Bank) -> int:
    """``K*F_h*F_w*C + K``: every weight and one bias per kernel.

    Examples
    --------
    >>> parameter_count(Bank(np.zeros((8, 3, 5, 5)), None))
    608
    """
    k, c, h, w = bank.shape
    return k * c * h * w + k


def conv_layer(
    volume: ArrayLike,
    kernels: KernelSet | Bank,
    *,
    flip: bool = False,
    padding: str | int | tuple[int, ...] | Padding = 0,
    border: str | Border = "zero",
    stride: int | tuple[int, int] | str = 1,
    dilation: int | tuple[int, int] | str = 1,
    anchor: tuple[int, int] | str | None = None,
    bias: Sequence[float] | float | None = None,
    activation: Activation | None = None,
    leak: float = DEFAULT_LEAK,
    pool: Pooling | None = None,
) -> LayerResult:
    """Apply a bank of K kernels, as deep as the input, like a CNN layer.

    Parameters
    ----------
    volume : array_like
        ``(H, W)`` or ``(H, W, C)`` numbers, used as they are.
    kernels : KernelSet or Bank
        ``K x C x F x F`` weights, or 2-D kernels broadcast over the
        channels (see :func:`bank_for`).
    flip : bool
        Rotate every kernel 180 degrees (true convolution); as written
        (cross-correlation, what CNN layers compute) by default.
    padding, border, stride, dilation
        As in :func:`imgconv.core.convolve.correlate`, with a CNN layer's
        defaults: no padding (``0``), zero border.
    anchor : (int, int), optional
        The kernel cell over the output pixel; it matters only for
        ``same`` padding (the centre by default).
    bias : float or sequence of float, optional
        One per kernel (or one for all), replacing the kernels' own.
    activation : {'relu', 'leaky-relu', 'sigmoid', 'tanh'}, optional
        Applied to every map after the bias.
    leak : float
        The slope of ``leaky-relu`` for negative values.
    pool : Pooling, optional
        ``max`` or ``avg`` pooling after the activation (windows that do
        not fit are dropped, as in PyTorch).

    Returns
    -------
    LayerResult

    Raises
    ------
    UsageError, GeometryError
        A depth that does not match, a bad bias count, an unknown
        activation, or a kernel or pooling window that does not fit.

    Examples
    --------
    >>> volume = np.ones((64, 64, 3))
    >>> bank = Bank(np.ones((8, 3, 5, 5)), None)
    >>> conv_layer(volume, bank).maps.shape
    (8, 60, 60)
    >>> conv_layer(volume, bank, padding=2).maps.shape
    (8, 64, 64)
    """
    data = np.asarray(volume)
    if data.ndim == 2:
        data = data[:, :, np.newaxis]
    if data.ndim != 3:
        msg = f"the input has shape {np.shape(volume)}; expected (H, W) or (H, W, C)"
        raise GeometryError(msg)
    if activation is not None and activation not in ACTIVATIONS:
        msg = f"unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}"
        raise UsageError(msg)
    bank = bank_for(kernels, data.shape[2])
    bank = Bank(bank.weights, _biases(bias, bank), bank.name)
    if flip:
        bank = Bank(bank.weights[:, :, ::-1, ::-1], bank.bias, bank.name)
    k, c, fh, fw = bank.shape
    geometry = plan(
        (data.shape[0], data.shape[1]),
        (fh, fw),
        padding=padding,
        stride=parse_pair(stride, "stride"),
        dilation=parse_pair(dilation, "dilation"),
        anchor=_flipped_anchor(anchor, (fh, fw)) if flip else anchor,
    )
    padded = pad(data, geometry, Border.parse(border))
    dtype = work_dtype(data.dtype)
    ho, wo = geometry.out_shape
    out = np.zeros((ho, wo, k), dtype=dtype)
    weights = bank.weights.astype(dtype)
    for u in range(fh):
        for v in range(fw):
            rows, cols = geometry.tap(u, v)
            # (Ho, Wo, C) @ (C, K): every kernel and channel in one product.
            out += padded[rows, cols, :] @ weights[:, :, u, v].T
    out += bank.bias.astype(dtype)
    maps = np.moveaxis(activate(out, activation, leak), -1, 0)
    if pool is not None:
        maps = pooled(maps, pool)
    return LayerResult(
        maps=np.ascontiguousarray(maps),
        names=kernel_names(kernels),
        geometry=geometry,
        conv_shape=(ho, wo),
        bank=bank,
        parameters=parameter_count(bank),
    )


def _flipped_anchor(
    anchor: tuple[int, int] | str | None, shape: tuple[int, int]
) -> tuple[int, int]:
    """Where the anchor cell (the centre by default) lands when the kernel turns 180 degrees."""
    cell = parse_anchor(anchor) or (shape[0] // 2, shape[1] // 2)
    return shape[0] - 1 - cell[0], shape[1] - 1 - cell[1]


def _biases(bias: Sequence[float] | float | None, bank: Bank) -> NDArray[np.float64]:
    count = bank.shape[0]
    if bias is None:
        return bank.bias
    values = np.atleast_1d(np.asarray(bias, dtype=np.float64))
    if values.size == 1:
        return np.full(count, float(values[0]))
    if values.shape != (count,):
        kernels = "1 kernel" if count == 1 else f"{count} kernels"
        msg = f"--bias gives {values.size} numbers for {kernels}; give one, or one per kernel"
        raise UsageError(msg)
    return values


def activate(
    values: NDArray[np.floating], activation: Activation | None, leak: float = DEFAULT_LEAK
) -> NDArray[np.floating]:
    """``relu``, ``leaky-relu`` (slope ``leak`` below 0), ``sigmoid`` or ``tanh``; None: as is.

    Examples
    --------
    >>> activate(np.array([-2.0, 0.0, 3.0]), "relu").tolist()
    [0.0, 0.0, 3.0]
    >>> activate(np.array([-2.0, 3.0]), "leaky-relu", 0.1).tolist()
    [-0.2, 3.0]
    """
    result: NDArray[np.floating]
    if activation is None:
        result = values
    elif activation == "relu":
        result = np.maximum(values, 0)
    elif activation == "leaky-relu":
        result = np.where(values < 0, values * values.dtype.type(leak), values)
    elif activation == "sigmoid":
        # 1 / (1 + e^-x) written with tanh, which cannot overflow.
        half = values.dtype.type(0.5)
        result = half * (np.tanh(values * half) + 1)
    else:
        result = np.tanh(values)
    return result


def pooled(maps: NDArray[np.floating], pool: Pooling) -> NDArray[np.floating]:
    """``max`` or ``avg`` over each ``size`` window every ``stride`` of ``(K, H, W)`` maps.

    Windows that would run past the edge are dropped (no padding), so the
    size is ``floor((H - size) / stride) + 1``, as PyTorch's pooling.

    Examples
    --------
    >>> maps = np.arange(16.0).reshape(1, 4, 4)
    >>> pooled(maps, Pooling("max", (2, 2), (2, 2))).tolist()
    [[[5.0, 7.0], [13.0, 15.0]]]
    """
    (ph, pw), (sy, sx) = pool.size, pool.stride
    _, h, w = maps.shape
    if ph > h or pw > w:
        msg = f"the pooling window {ph}x{pw} is larger than the {h}x{w} maps"
        raise GeometryError(msg)
    windows = sliding_window_view(maps, (ph, pw), axis=(1, 2))[:, ::sy, ::sx]
    if pool.kind == "max":
        result: NDArray[np.floating] = windows.max(axis=(-2, -1))
    else:
        result = windows.mean(axis=(-2, -1))
    return result


def pooling(
    kind: str,
    size: int | tuple[int, int] | str,
    stride: int | tuple[int, int] | str | None = None,
) -> Pooling:
    """A :class:`Pooling` from user values; the stride defaults to the size.

    Raises
    ------
    UsageError
        For an unknown kind, or a size or stride below 1.
    """
    if kind not in POOLS:
        msg = f"unknown pooling {kind!r}; expected one of {', '.join(POOLS)}"
        raise UsageError(msg)
    window = parse_pair(size, "pool size")
    step = window if stride is None else parse_pair(stride, "pool stride")
    return Pooling("max" if kind == "max" else "avg", window, step)


def volume_text(shape: tuple[int, ...]) -> str:
    """``H x W x C`` for a shape.

    Examples
    --------
    >>> volume_text((60, 60, 8))
    '60 x 60 x 8'
    """
    return " x ".join(str(n) for n in shape)


def formula(bank: Bank) -> str:
    """``K*F*F*C + K = N`` with the bank's numbers, as the slides write it.

    Examples
    --------
    >>> formula(Bank(np.zeros((8, 3, 5, 5)), None))
    '8*5*5*3 + 8 = 608'
    """
    k, c, h, w = bank.shape
    return f"{k}*{h}*{w}*{c} + {k} = {parameter_count(bank)}"
