"""Turn a KERNEL argument into kernels: a built-in, standard input, a kernel file or inline text.

The order of the checks, so every argument has one meaning:

1. a built-in name, with parameters after a colon (``sobel-x``, ``box:5``);
2. ``-``: the kernel is read from standard input, its format told from the
   bytes (a ``.npy`` by its magic, JSON, an ImageMagick string, a grid or a
   libvips ``.mat``);
3. a path to an existing file (to read a file named like a built-in, write
   ``./sobel-x``), its format from its suffix (``.npy``, ``.json``,
   ``.mat``) or else from its content;
4. an inline kernel: a grid (``"0,-1,0;-1,5,-1;0,-1,0"``), an ImageMagick
   string (``"3x3: 0,-1,0 -1,5,-1 0,-1,0"``) or JSON (``'[[1,0,-1]]'``);
5. otherwise an error that suggests the closest built-ins.

The formats are described in :mod:`imgconv.core.kernel_text` and
:mod:`imgconv.core.kernel_data`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import BinaryIO

from .core.catalog import did_you_mean, get_builtin, is_builtin
from .core.kernel_data import parse_kernel_data
from .core.kernel_text import looks_like_matrix, parse_kernel_text
from .core.kernels import Bank, KernelSet
from .errors import KernelError

#: Largest kernel file read (a kernel is a few numbers; this catches mistakes
#: such as passing an image as the kernel).
MAX_KERNEL_FILE_BYTES = 4 * 1024 * 1024

#: The name of a kernel read from standard input.
STDIN_NAME = "stdin"


def resolve_kernel(
    argument: str, *, stdin: BinaryIO | None = None, deep: bool = False
) -> KernelSet | Bank:
    """The kernels a KERNEL argument names.

    Parameters
    ----------
    argument : str
        A built-in name, ``-``, a kernel file or an inline kernel (see the
        module documentation for the order).
    stdin : binary file, optional
        Where ``-`` reads from; ``sys.stdin.buffer`` by default.
    deep : bool
        For a convolutional layer: a text grid whose ``---``-separated
        groups hold several channel slices is a :class:`Bank`.

    Returns
    -------
    KernelSet or Bank
        A built-in set, or the kernels of a file, of standard input or of
        inline text (``combine`` None unless a JSON set says); a
        :class:`Bank` for a 3-D or 4-D array (``.npy`` or JSON), or a deep
        grid.

    Raises
    ------
    KernelError
        If the argument is empty, a file or standard input that cannot be
        read or parsed, a malformed inline kernel, a kernel whose weights
        are all zero, or names nothing (with did-you-mean suggestions).
    """
    return _refuse_all_zero(_resolve(argument, stdin, deep))


def _resolve(argument: str, stdin: BinaryIO | None, deep: bool) -> KernelSet | Bank:
    text = argument.strip()
    if not text:
        msg = (
            "the kernel is empty; expected a built-in name (see 'imgconv kernels list'), "
            "a kernel file or a matrix such as '0,-1,0;-1,5,-1;0,-1,0'"
        )
        raise KernelError(msg)
    if is_builtin(text):
        return get_builtin(text)
    if text == "-":
        return parse_kernel_data(_read_stdin(stdin), STDIN_NAME, deep=deep)
    path = Path(argument)
    kind = _file_kind(path)
    if kind == "directory":
        msg = f"kernel {argument!r} is a directory; expected a kernel file"
        raise KernelError(msg)
    if kind == "file":
        return parse_kernel_data(_read_file(path), path.name, suffix=path.suffix, deep=deep)
    if looks_like_matrix(text):
        return parse_kernel_text(text, name=text, deep=deep)
    msg = (
        f"{argument!r} is not a built-in kernel, a kernel file or a matrix"
        f"{did_you_mean(text)} (see 'imgconv kernels list')"
    )
    raise KernelError(msg)


def _refuse_all_zero(kernels: KernelSet | Bank) -> KernelSet | Bank:
    """A user's kernel with only zero weights is a mistake: it flattens every image.

    A bank is left alone: a layer may hold a kernel that is all zeros.
    """
    if isinstance(kernels, KernelSet):
        for kernel in kernels.kernels:
            if not kernel.weights.any():
                msg = (
                    f"kernel {kernel.name!r} has only zero weights; expected at least one "
                    "non-zero weight"
                )
                raise KernelError(msg)
    return kernels


def _file_kind(path: Path) -> str | None:
    """``"file"``, ``"directory"`` or None (nothing there, or not a possible path).

    Inline kernels can be longer than a file name may be (ENAMETOOLONG), so
    a path that cannot be looked up is not a file.
    """
    try:
        if path.is_dir():
            return "directory"
        if path.is_file():
            return "file"
    except (OSError, ValueError):
        return None
    return None


def _read_file(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_KERNEL_FILE_BYTES:
            msg = (
                f"kernel file {str(path)!r} is {size} bytes; a kernel file is a small text "
                "grid or array (is this an image?)"
            )
            raise KernelError(msg)
        return path.read_bytes()
    except PermissionError:
        msg = f"cannot read kernel file {str(path)!r}: permission denied"
        raise KernelError(msg) from None
    except OSError as exc:
        msg = f"cannot read kernel file {str(path)!r}: {exc.strerror or exc}"
        raise KernelError(msg) from None


def _read_stdin(stdin: BinaryIO | None) -> bytes:
    stream = sys.stdin.buffer if stdin is None else stdin
    try:
        data = stream.read(MAX_KERNEL_FILE_BYTES + 1)
    except OSError as exc:
        msg = f"cannot read the kernel from standard input: {exc.strerror or exc}"
        raise KernelError(msg) from None
    if len(data) > MAX_KERNEL_FILE_BYTES:
        msg = (
            f"standard input holds more than {MAX_KERNEL_FILE_BYTES} bytes; a kernel is a "
            "small text grid or array (is this an image?)"
        )
        raise KernelError(msg)
    if not data.strip():
        msg = "no kernel on standard input; expected a kernel in any of imgconv's formats"
        raise KernelError(msg)
    return data
