"""Golden outputs: the sample images filtered by the README's own commands.

The README shows before/after pictures and the commands that made them; this
runs each command again and compares the pixels with the committed result.
The numbers themselves are pinned by the oracle tests; these catch any
change in what a user actually gets.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from imgconv.cli import cli
from imgconv.image_io import read_picture

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"


def readme_commands() -> list[list[str]]:
    found = []
    for line in (ROOT / "README.md").read_text().splitlines():
        words = shlex.split(line.strip()) if line.startswith("    imgconv apply") else []
        if words and words[-1].startswith("sample_images/results/"):
            found.append(words[1:])
    return found


# Other golden cases: alpha weighting on a real RGBA image, stride and
# valid padding, a kernel file, 16-bit output, signed float output, a
# chain of kernels and a convolutional layer.
EXTRA = [
    ["apply", "box:7", "sample_images/horse.png", "horse-box-7.png"],
    ["apply", "box:7", "--alpha", "plain", "sample_images/horse.png", "horse-box-7-plain.png"],
    ["apply", "gaussian:2", "--stride", "4", "--padding", "valid", "sample_images/camera.png",
     "camera-gaussian-2-stride-4.png"],
    ["apply", "edge-detect", "--map", "abs", "--channels", "gray", "sample_images/coffee.png",
     "coffee-edges.png"],
    ["apply", "kirsch", "--depth", "16", "sample_images/text.png", "text-kirsch-16.png"],
    ["apply", "sobel-y", "--map", "raw", "sample_images/text.png", "text-sobel-y.tiff"],
    ["apply", "sample_images/chain.txt", "--combine", "chain", "sample_images/text.png",
     "text-chain.png"],
    ["features", "sobel:>", "--stride", "4", "--activation", "relu", "--pool", "max", "-q",
     "sample_images/coffee.png", "coffee-features.npy"],
]  # fmt: skip


def pixels(path: Path | str) -> np.ndarray:
    return read_picture(path).pixels


def check(args: list[str], expected: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / expected.name
    result = CliRunner().invoke(cli, [*args[:-1], str(out)])
    assert result.exit_code == 0, result.stderr
    np.testing.assert_array_equal(pixels(out), pixels(expected))


@pytest.mark.parametrize("args", readme_commands(), ids=lambda a: Path(a[-1]).name)
def test_readme_pictures(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check(args, ROOT / args[-1], tmp_path, monkeypatch)


def test_readme_shows_pictures() -> None:
    assert len(readme_commands()) == 4


@pytest.mark.parametrize("args", EXTRA, ids=lambda a: a[-1])
def test_golden(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check(args, GOLDEN / args[-1], tmp_path, monkeypatch)


if __name__ == "__main__":
    # Regenerate tests/golden/ (review the pictures before committing them).
    import os

    os.chdir(ROOT)
    GOLDEN.mkdir(exist_ok=True)
    for case in EXTRA:
        CliRunner().invoke(cli, [*case[:-1], str(GOLDEN / case[-1])], catch_exceptions=False)
