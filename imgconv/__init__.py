"""imgconv: apply convolution kernels to images, exactly and explainably.

The Python API (imported lazily, so ``import imgconv`` stays cheap):

- :func:`correlate`: one 2-D kernel on an ``(H, W)`` or ``(H, W, C)`` array;
- :func:`filter_image`: channels, alpha, kernel sets and value mapping;
  :func:`filter_stack`: every kernel of a set, each map kept;
- :func:`apply_file`: read an image, filter it, write the result;
  :func:`apply_many`: many files into a directory, an outcome per file;
- :func:`filter_window`: output rows of an image from a window of its rows
  (tiles, bands, Dask blocks), to the whole image's bits;
- :class:`Kernel`, :class:`KernelSet`, :class:`Bank`, :func:`get_builtin`,
  :func:`parse_kernel_text`, :func:`parse_kernel_data`,
  :func:`resolve_kernel`: kernels (text and files give a KernelSet, or a
  Bank for 3-D and 4-D arrays);
- :func:`plan`: the geometry (padding, stride, dilation, output size);
- :func:`conv_layer` and :class:`Pooling`: a bank of deep kernels as a CNN
  layer; :func:`features_file`: the same from files;
- :func:`explain`: a convolution step by step, as numbers;
- :func:`deconvolve`: undo a known blur (Wiener, Richardson-Lucy or the
  inverse filter) on an array; :func:`deconvolve_file` and
  :func:`blur_file`: the same, and a blurred test case, from files.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "correlate": "imgconv.core.convolve",
    "filter_image": "imgconv.core.filtering",
    "filter_stack": "imgconv.core.filtering",
    "Kernel": "imgconv.core.kernels",
    "KernelSet": "imgconv.core.kernels",
    "Bank": "imgconv.core.kernels",
    "get_builtin": "imgconv.core.catalog",
    "parse_kernel_text": "imgconv.core.kernel_text",
    "parse_kernel_data": "imgconv.core.kernel_data",
    "plan": "imgconv.core.geometry",
    "Border": "imgconv.core.vocab",
    "Padding": "imgconv.core.vocab",
    "apply_file": "imgconv.api",
    "apply_many": "imgconv.batch",
    "filter_window": "imgconv.core.filtering",
    "features_file": "imgconv.api",
    "conv_layer": "imgconv.core.layer",
    "explain": "imgconv.core.explain",
    "Pooling": "imgconv.core.layer",
    "resolve_kernel": "imgconv.kernel_source",
    "deconvolve": "imgconv.core.deconvolve",
    "deconvolve_file": "imgconv.restore",
    "blur_file": "imgconv.restore",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from .api import apply_file as apply_file
    from .api import features_file as features_file
    from .batch import apply_many as apply_many
    from .core.catalog import get_builtin as get_builtin
    from .core.convolve import correlate as correlate
    from .core.deconvolve import deconvolve as deconvolve
    from .core.explain import explain as explain
    from .core.filtering import filter_image as filter_image
    from .core.filtering import filter_stack as filter_stack
    from .core.filtering import filter_window as filter_window
    from .core.geometry import plan as plan
    from .core.kernel_data import parse_kernel_data as parse_kernel_data
    from .core.kernel_text import parse_kernel_text as parse_kernel_text
    from .core.kernels import Bank as Bank
    from .core.kernels import Kernel as Kernel
    from .core.kernels import KernelSet as KernelSet
    from .core.layer import Pooling as Pooling
    from .core.layer import conv_layer as conv_layer
    from .core.vocab import Border as Border
    from .core.vocab import Padding as Padding
    from .kernel_source import resolve_kernel as resolve_kernel
    from .restore import blur_file as blur_file
    from .restore import deconvolve_file as deconvolve_file


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    msg = f"module 'imgconv' has no attribute {name!r}"
    raise AttributeError(msg)
