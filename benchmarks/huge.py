#!/usr/bin/env python3
"""Filter one huge image under a memory limit: wall time and peak memory (issue 7).

Makes (or reuses) a 20000 x 20000 RGB 8-bit image, 1.2 GB decoded, in
``--dir``: a TIFF in strips, or with ``--npy`` an ``.npy`` array. It is
written band by band through :mod:`imgconv.regions`, so making it never
holds the whole image; the content is ``sample_images/coffee.png`` tiled
(mirrored, so the tiles join without seams), a photograph rather than a
flat pattern.

Then it runs the command (by default ``imgconv apply sharpen IN OUT
--memory-limit 256M --max-pixels none``) as a child process and reports its wall time and its
peak resident memory (``ru_maxrss`` from ``os.wait4``, which is what GNU
``time -f %M`` reports too). The output is removed afterwards unless
``--keep`` is given. Examples::

    python benchmarks/huge.py
    python benchmarks/huge.py --npy --size 10000
    python benchmarks/huge.py --command "imgconv apply box:5 {input} {output}"
    python benchmarks/huge.py --command "vips sharpen {input} {output}"

``{input}`` and ``{output}`` in ``--command`` are replaced by the paths.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from imgconv import regions

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent / "sample_images" / "coffee.png"
# 400 megapixels is over the default --max-pixels (200M): the file is trusted.
DEFAULT_COMMAND = "imgconv apply sharpen {input} {output} --memory-limit {limit} --max-pixels none"
#: Rows made and written at a time while making the input.
BAND_ROWS = 256


def mirrored_tile() -> NDArray[np.uint8]:
    """The sample photograph beside and above its mirror images: a tile that repeats seamlessly."""
    with Image.open(SAMPLE) as image:
        photo = np.asarray(image.convert("RGB"))
    top = np.concatenate([photo, photo[:, ::-1]], axis=1)
    return np.ascontiguousarray(np.concatenate([top, top[::-1]], axis=0))


def make_input(path: Path, size: int, fmt: str) -> None:
    """Write a ``size`` x ``size`` RGB image band by band (never whole)."""
    tile = mirrored_tile()
    columns = np.arange(size) % tile.shape[1]
    started = time.perf_counter()
    with regions.create_rows(str(path), (size, size, 3), np.uint8, fmt, ("R", "G", "B")) as sink:
        for top in range(0, size, BAND_ROWS):
            rows = np.arange(top, min(size, top + BAND_ROWS)) % tile.shape[0]
            sink[top : top + len(rows)] = tile[rows][:, columns]
    seconds = time.perf_counter() - started
    print(f"made {path} ({path.stat().st_size / 1e6:.0f} MB) in {seconds:.1f} s")


def input_fits(path: Path, size: int) -> bool:
    """Whether ``path`` is an image made earlier by this script at this size."""
    if not path.exists():
        return False
    try:
        source = regions.open_rows(str(path))
    except Exception:
        return False
    if source is None:
        return False
    with source:
        return source.shape[:2] == (size, size) and source.dtype == np.uint8


def run(command: list[str]) -> tuple[int, float, float, str]:
    """Run ``command``: its exit status, wall seconds, peak RSS in MB and standard error's end."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        errors.seek(0)
        tail = errors.read()[-2000:].decode("utf-8", "replace")
    # ru_maxrss is in kilobytes on Linux, in bytes on macOS.
    peak = usage.ru_maxrss / (1e6 if sys.platform == "darwin" else 1e3)
    return child.returncode, seconds, peak, tail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path("/tmp"),
        help="where the input is made or reused (default /tmp)",
    )
    parser.add_argument(
        "--size", type=int, default=20000, help="width and height in pixels (default 20000)"
    )
    parser.add_argument(
        "--npy", action="store_true", help="use .npy input and output instead of TIFF"
    )
    parser.add_argument(
        "--limit", default="256M", help="the --memory-limit of the default command (default 256M)"
    )
    parser.add_argument(
        "--command",
        default=DEFAULT_COMMAND,
        help=f"the command to measure (default {DEFAULT_COMMAND!r})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the output file")
    parser.add_argument(
        "--remake", action="store_true", help="make the input again even if it exists"
    )
    args = parser.parse_args()

    fmt, suffix = ("NPY", ".npy") if args.npy else ("TIFF", ".tif")
    args.dir.mkdir(parents=True, exist_ok=True)
    source = args.dir / f"imgconv-huge-{args.size}{suffix}"
    target = args.dir / f"imgconv-huge-{args.size}-out{suffix}"
    decoded = args.size * args.size * 3
    if args.remake or not input_fits(source, args.size):
        free = shutil.disk_usage(args.dir).free
        if free < 2 * decoded:
            print(
                f"not enough space in {args.dir}: {free / 1e9:.1f} GB free, "
                f"need about {2 * decoded / 1e9:.1f}"
            )
            return 1
        make_input(source, args.size, fmt)
    else:
        print(f"reusing {source}")

    words = [
        word.format(input=source, output=target, limit=args.limit)
        for word in shlex.split(args.command)
    ]
    if words and words[0] == "imgconv" and shutil.which("imgconv") is None:
        words = [sys.executable, "-m", "imgconv", *words[1:]]  # not on PATH: this Python's
    print("running:", shlex.join(words))
    status, seconds, peak, errors = run(words)
    print(f"exit status {status}")
    print(f"wall time   {seconds:.1f} s")
    print(f"peak RSS    {peak:.0f} MB (the image is {decoded / 1e6:.0f} MB decoded)")
    if target.exists():
        print(f"output      {target} ({target.stat().st_size / 1e6:.0f} MB)")
        if not args.keep:
            target.unlink()
    if status != 0:
        print("standard error (end):", errors.strip(), sep="\n")
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
