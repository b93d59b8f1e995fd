"""The numeric core: pure NumPy/SciPy on arrays, usable as a Python API.

Nothing in this package imports click, rich or PIL, or touches files.
"""
