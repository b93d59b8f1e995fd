"""Start-up: a shell tool is run often, so help and listings must not load the numeric stack.

``imgconv --help`` and ``imgconv kernels list`` import neither SciPy nor
NumPy (nor Pillow): they build no arrays. Timing is the benchmarks' job
(``benchmarks/bench.py`` times ``imgconv --help``); this checks what is
imported, which does not depend on the machine's load.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

PROBE = """
import sys
from imgconv.cli import main
sys.argv = ["imgconv", *{args!r}]
try:
    main()
except SystemExit:
    pass
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & {{"numpy", "scipy", "PIL"}})
print("HEAVY", heavy, file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args", [["--help"], ["kernels", "list"], ["apply", "--help"], ["--version"]]
)
def test_no_numeric_imports(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout  # the command printed its help or its table
    assert "HEAVY []" in done.stderr


def test_the_probe_sees_imports() -> None:
    """The same probe on a command that filters does report NumPy: the test can fail."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=["kernels", "show", "sobel-x"])],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "numpy" in done.stderr


PLUGINS = """
import sys
from imgconv.cli import main
sys.argv = ["imgconv", "apply", "sharpen", {source!r}, {target!r}]
try:
    main()
except SystemExit as done:
    assert not done.code, done.code
plugins = sorted(m for m in sys.modules if m.startswith("PIL.") and m.endswith("ImagePlugin"))
print("PLUGINS", plugins, file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("suffix", "loads_all"), [(".png", False), (".jpg", False), (".webp", True)]
)
def test_common_formats_do_not_load_every_pillow_plugin(
    tmp_path: Path, suffix: str, loads_all: bool
) -> None:
    """PNG and JPEG in and out need Pillow's five preloaded plugins, not its fifty (20 ms)."""
    source = tmp_path / "in.png"
    Image.new("RGB", (8, 8), (10, 200, 30)).save(source)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PLUGINS.format(source=str(source), target=str(tmp_path / f"out{suffix}")),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "PIL.PngImagePlugin" in done.stderr
    assert ("PIL.TiffImagePlugin" in done.stderr) is loads_all
    assert (tmp_path / f"out{suffix}").stat().st_size > 0
