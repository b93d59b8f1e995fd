"""imgconv: apply convolution kernels to images, exactly and explainably."""

__version__ = "0.1.0"
