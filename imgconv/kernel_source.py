"""Turn a KERNEL argument into kernels: a built-in, a kernel file or an inline matrix.

The order of the checks, so every argument has one meaning:

1. a built-in name, with parameters after a colon (``sobel-x``, ``box:5``);
2. a path to an existing file (to read a file named like a built-in, write
   ``./sobel-x``);
3. an inline matrix (``"0,-1,0;-1,5,-1;0,-1,0"``);
4. otherwise an error that suggests the closest built-ins.
"""

from __future__ import annotations

from pathlib import Path

from .core.catalog import did_you_mean, get_builtin, is_builtin
from .core.kernel_text import looks_like_matrix, parse_kernel_text
from .core.kernels import KernelSet
from .errors import KernelError

#: Largest kernel file read (a kernel is a few numbers; this catches mistakes
#: such as passing an image as the kernel).
MAX_KERNEL_FILE_BYTES = 4 * 1024 * 1024


def resolve_kernel(argument: str) -> KernelSet:
    """The kernels a KERNEL argument names.

    Raises
    ------
    KernelError
        If the argument is empty, a file that cannot be read or parsed, a
        malformed matrix, or names nothing (with did-you-mean suggestions).
    """
    text = argument.strip()
    if not text:
        msg = (
            "the kernel is empty; expected a built-in name (see 'imgconv kernels list'), "
            "a kernel file or a matrix such as '0,-1,0;-1,5,-1;0,-1,0'"
        )
        raise KernelError(msg)
    if is_builtin(text):
        return get_builtin(text)
    path = Path(argument)
    if path.is_dir():
        msg = f"kernel {argument!r} is a directory; expected a kernel file"
        raise KernelError(msg)
    if path.is_file():
        return KernelSet.single(parse_kernel_text(_read_text(path), name=path.name))
    if looks_like_matrix(text):
        return KernelSet.single(parse_kernel_text(text, name=text))
    msg = (
        f"{argument!r} is not a built-in kernel, a kernel file or a matrix"
        f"{did_you_mean(text)} (see 'imgconv kernels list')"
    )
    raise KernelError(msg)


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_KERNEL_FILE_BYTES:
            msg = (
                f"kernel file {str(path)!r} is {size} bytes; a kernel file is a small text "
                "grid (is this an image?)"
            )
            raise KernelError(msg)
        data = path.read_bytes()
    except PermissionError:
        msg = f"cannot read kernel file {str(path)!r}: permission denied"
        raise KernelError(msg) from None
    except OSError as exc:
        msg = f"cannot read kernel file {str(path)!r}: {exc.strerror or exc}"
        raise KernelError(msg) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        msg = f"kernel file {str(path)!r} is not UTF-8 text; expected a grid of numbers"
        raise KernelError(msg) from None
