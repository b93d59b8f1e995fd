r"""Read a kernel from bytes: a NumPy ``.npy`` array, or text in any of imgconv's forms.

Pure (bytes in, values out; no file access). The format comes from the
suffix, then from the content:

- ``.npy``, or bytes that start with NumPy's magic ``\x93NUMPY``: an array of
  real numbers (integers or floats; never pickled objects), read with
  ``allow_pickle=False``. A 2-D ``H x W`` array is one kernel; a 3-D
  ``C x H x W`` array is a :class:`~imgconv.core.kernels.Bank` of one kernel
  C channels deep; a 4-D ``K x C x H x W`` array is a bank of K kernels
  (bias 0). A ``(1, 1, H, W)`` array stays a bank; the caller decides
  (:meth:`Bank.as_kernels`);
- ``.json``: JSON, ``.mat``: a libvips matrix file (both UTF-8 text);
- anything else: UTF-8 text (a byte-order mark is allowed) whose form is
  sniffed by :func:`~imgconv.core.kernel_text.parse_kernel_text`.
"""

from __future__ import annotations

import io
from tokenize import TokenError

import numpy as np
from numpy.lib import format as npy_format

from ..errors import KernelError
from .kernel_text import parse_kernel_text
from .kernels import Bank, Kernel, KernelSet

#: The first bytes of every ``.npy`` file.
NPY_MAGIC = b"\x93NUMPY"

_TEXT_FORMS = {".json": "json", ".mat": "mat"}
# dtype kinds read as weights: booleans, signed and unsigned integers, floats.
_REAL_KINDS = "biuf"


def parse_kernel_data(
    data: bytes, name: str, *, suffix: str = "", deep: bool = False
) -> KernelSet | Bank:
    r"""Parse a kernel file's bytes.

    Parameters
    ----------
    data : bytes
        The whole file (or standard input).
    name : str
        The source, used to name the kernels and in messages.
    suffix : str
        The file's suffix (``".npy"``, ``".json"``, ``".mat"``; any case), or
        ``""`` to tell the format from the content alone.
    deep : bool
        Read a text grid's ``---``-separated groups as deep kernels.

    Returns
    -------
    KernelSet or Bank
        A :class:`Bank` for a 3-D or 4-D array (``.npy`` or JSON).

    Raises
    ------
    KernelError
        For a ``.npy`` that is damaged, pickled, of another rank than 2 to 4,
        of a dtype that is not real numbers, or with non-finite values; for
        bytes that are not UTF-8 text; and for any error of the text forms.

    Examples
    --------
    >>> parse_kernel_data(b"3 1 4\n1 2 1\n", "k.mat", suffix=".mat").kernels[0].scale
    4.0
    """
    suffix = suffix.lower()
    if suffix == ".npy" or data.startswith(NPY_MAGIC):
        return parse_npy(data, name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = (
            f"kernel {name!r} is not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x}); "
            "expected a text kernel (a grid, ImageMagick, .mat or JSON) or a .npy array"
        )
        raise KernelError(msg) from None
    return parse_kernel_text(text, name, form=_TEXT_FORMS.get(suffix), deep=deep)


def parse_npy(data: bytes, name: str) -> KernelSet | Bank:
    """Parse a NumPy ``.npy`` array of real numbers: 2-D a kernel, 3-D or 4-D a bank.

    Parameters
    ----------
    data : bytes
        The ``.npy`` file.
    name : str
        Names the kernel or bank, and used in messages.

    Returns
    -------
    KernelSet or Bank
        One kernel (scale 1, bias 0, default anchor) for ``H x W``; a bank
        for ``C x H x W`` (one kernel) or ``K x C x H x W`` (bias 0).

    Raises
    ------
    KernelError
        If the bytes are not a ``.npy`` array (a pickle, a damaged file), or
        the array is not 2-D to 4-D, empty, not real numbers (complex,
        object, strings, structured, dates) or not finite.
    """
    if not data.startswith(NPY_MAGIC):
        msg = (
            f"kernel {name!r} is not a .npy array (it does not start with NumPy's "
            "\\x93NUMPY header); pickled data is never read"
        )
        raise KernelError(msg)
    stream = io.BytesIO(data)
    try:
        version = npy_format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = npy_format.read_array_header_1_0(stream)
        else:
            shape, _, dtype = npy_format.read_array_header_2_0(stream)
    except (ValueError, EOFError, SyntaxError, TokenError) as exc:
        # NumPy parses the header as Python literals: a cut one fails in tokenize.
        detail = "its header is cut off" if isinstance(exc, TokenError) else str(exc)
        msg = f"kernel {name!r} is a damaged .npy file: {detail}"
        raise KernelError(msg) from None
    article = "an" if str(dtype)[:1] in "aeioAEIO" else "a"
    described = f"{article} {dtype} array of shape {tuple(shape)}"
    if dtype.kind not in _REAL_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        why = ": Python objects, which are never unpickled" if dtype.hasobject else ""
        msg = f"kernel {name!r} is {described}{why}; expected an array of integers or floats"
        raise KernelError(msg)
    if len(shape) not in (2, 3, 4):
        msg = (
            f"kernel {name!r} is {described}; expected 2 to 4 dimensions: "
            "H x W, C x H x W or K x C x H x W"
        )
        raise KernelError(msg)
    if 0 in shape:
        msg = f"kernel {name!r} is {described}, which is empty; expected at least one weight"
        raise KernelError(msg)
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        msg = f"kernel {name!r} is a damaged .npy file: {exc}"
        raise KernelError(msg) from None
    weights = np.asarray(array, dtype=np.float64)
    finite = np.isfinite(weights)
    if not finite.all():
        at = tuple(int(i) for i in np.argwhere(~finite)[0])
        msg = (
            f"kernel {name!r} has the value {weights[at]!s} at index {list(at)} of its "
            f"{dtype} array of shape {tuple(shape)}; expected finite numbers"
        )
        raise KernelError(msg)
    if weights.ndim == 2:
        return KernelSet(name, (Kernel(weights, name=name),))
    if weights.ndim == 3:
        weights = weights[np.newaxis]
    return Bank(weights, np.zeros(weights.shape[0]), name=name)
