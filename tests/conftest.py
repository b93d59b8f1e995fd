"""Shared test settings.

Hypothesis runs without per-example deadlines: the first call into NumPy or
SciPy in a process is slow, and timing is the benchmarks' job, not the tests'.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("imgconv", deadline=None, max_examples=60)
settings.load_profile("imgconv")
