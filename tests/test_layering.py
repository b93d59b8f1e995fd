"""Imports point one way, and start-up stays light.

Each check runs in a fresh interpreter, so what is imported is what the
module itself pulls in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Every module of the core, found rather than listed, so a new one is checked too.
CORE = sorted(
    f"imgconv.core.{path.stem}"
    for path in (Path(__file__).resolve().parent.parent / "imgconv" / "core").glob("*.py")
    if path.stem != "__init__"
)


def imported_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in json.loads(out.stdout)}


@pytest.mark.parametrize("module", CORE)
def test_core_imports_no_cli_rich_or_pil(module: str) -> None:
    assert imported_after(f"import {module}") & {"click", "rich", "PIL"} == set()


def test_image_io_imports_no_cli_or_rich() -> None:
    assert imported_after("import imgconv.image_io") & {"click", "rich"} == set()


def test_help_imports_no_numpy_scipy_pil_or_rich() -> None:
    """``imgconv --help`` parses nothing numeric, so it loads nothing numeric."""
    loaded = imported_after(
        "import contextlib, io\n"
        "from imgconv.cli import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        cli(['--help'], prog_name='imgconv')\n"
        "    except SystemExit:\n        pass"
    )
    assert loaded & {"numpy", "scipy", "PIL", "rich"} == set()


def test_import_imgconv_is_light() -> None:
    assert imported_after("import imgconv") & {"numpy", "scipy", "PIL", "rich", "click"} == set()


def test_every_public_name_resolves() -> None:
    """``imgconv.NAME`` works for every name in ``__all__`` (the lazy API)."""
    import imgconv

    for name in imgconv.__all__:
        assert getattr(imgconv, name) is not None, name
    with pytest.raises(AttributeError):
        _ = imgconv.no_such_name  # type: ignore[attr-defined]
