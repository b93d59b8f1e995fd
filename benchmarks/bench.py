#!/usr/bin/env python3
"""Time imgconv against the tools it is measured by, and write ``RESULTS.md``.

Four suites, each on one large RGB input made at the start of the run:

``core``
    One 2-D kernel on every channel of an ``H x W x 3`` float32 image:
    ``imgconv.correlate`` against OpenCV ``filter2D``, SciPy
    ``ndimage.correlate`` and ``signal.oaconvolve``, Pillow ``Kernel``,
    pyvips ``conv`` and PyTorch ``conv2d``, all in this process, on the same
    array.
``banks``
    Conv-layer banks (K kernels, F x F x 3, stride S, zero padding F // 2):
    ``imgconv.core.layer.conv_layer`` against PyTorch ``conv2d`` (and a loop
    of OpenCV ``filter2D`` calls).
``commands``
    Whole commands on the PNG: ``imgconv apply sharpen`` against ``vips
    conv``, ImageMagick ``convert -morphology Convolve`` and a five-line
    OpenCV script, each as a subprocess (wall time and peak RSS), plus the
    parts of imgconv's command timed in this process (PNG decode, filter,
    PNG encode).
``startup``
    ``imgconv --help``, against a bare ``python -c pass``.

Times are the best of ``--repeat`` runs after one warm-up run (after a
warm-up over ``SLOW_SECONDS``, the better of it and one more run).
Peak memory of a core or bank measurement is taken in a child process
(``--child``) that repeats one call: the rise of its peak RSS above the RSS
it had just before the call, with the input (in the anchor's own layout)
already loaded. Anchors that are not installed are listed, marked as such.

Run ``python benchmarks/bench.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib
import importlib.util
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_SOURCE = REPO / "sample_images" / "coffee.png"
DEFAULT_OUT = HERE / "RESULTS.md"

#: After a warm-up slower than this, one more call is made, the better of the two kept.
SLOW_SECONDS = 5.0
#: A first call slower than this is the only one: such an anchor is far off
#: every target, and a second call would add minutes to the run (PyTorch's
#: 31x31 kernels took over 4 minutes a call on an EPYC).
VERY_SLOW_SECONDS = 30.0

F32 = NDArray[np.float32]
U8 = NDArray[np.uint8]

SHARPEN = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float32)
SHARPEN_TEXT = "0,-1,0,-1,5,-1,0,-1,0"

#: (K kernels, F x F, stride S); zero padding F // 2, as anchors_bank.py does.
BANKS: tuple[tuple[int, int, int], ...] = ((8, 5, 1), (8, 5, 2), (32, 3, 1), (6, 11, 4))

IMGCONV = "imgconv"
OPENCV = "OpenCV filter2D"
NDIMAGE = "SciPy ndimage.correlate"
OACONV = "SciPy signal.oaconvolve"
PILLOW = "Pillow ImageFilter.Kernel"
PYVIPS = "pyvips conv"
TORCH = "PyTorch conv2d"
OPENCV_BANK = "OpenCV filter2D loop"

#: The order in which anchors serve as the reference outputs are checked against.
CORE_REFERENCES = (OPENCV, NDIMAGE, TORCH, IMGCONV)
BANK_REFERENCES = (TORCH, OPENCV_BANK, IMGCONV)

CMD_IMGCONV = "imgconv apply sharpen"
CMD_VIPS = "vips conv"
CMD_MAGICK = "ImageMagick convert -morphology Convolve"
CMD_OPENCV = "OpenCV script (imread, filter2D, imwrite)"
CMD_VIPS_COPY = "vips copy (PNG decode + encode only)"
COMMAND_ANCHORS = (CMD_VIPS, CMD_MAGICK, CMD_OPENCV)

OPENCV_SCRIPT = """\
import sys, cv2, numpy as np
image = cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED)
kernel = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float32)
cv2.imwrite(sys.argv[2], cv2.filter2D(image, -1, kernel))
"""


# --------------------------------------------------------------------------
# Small helpers


def optional(module: str) -> Any | None:
    """The module, or None when it is not installed (or its library is missing)."""
    try:
        return importlib.import_module(module)
    except Exception:  # pyvips raises OSError without libvips
        return None


def import_imgconv(modules: Sequence[str], tries: int = 10, wait: float = 15.0) -> None:
    """Import imgconv's modules, waiting while someone is in the middle of an edit."""
    for attempt in range(tries):
        try:
            for name in modules:
                importlib.import_module(name)
            return
        except Exception as error:
            if attempt == tries - 1:
                raise
            print(f"imgconv does not import ({error!r}); retrying in {wait:.0f} s", file=sys.stderr)
            for name in [m for m in sys.modules if m == "imgconv" or m.startswith("imgconv.")]:
                del sys.modules[name]
            time.sleep(wait)


def gaussian(size: int, sigma: float) -> F32:
    """A normalised ``size x size`` Gaussian."""
    ax = np.arange(size) - size // 2
    g = np.exp(-(ax**2) / (2 * sigma**2))
    k = np.outer(g, g)
    normalised: F32 = (k / k.sum()).astype(np.float32)
    return normalised


def box(size: int) -> F32:
    """A normalised ``size x size`` box."""
    return np.full((size, size), 1 / size**2, np.float32)


def random_kernel(size: int) -> F32:
    """A dense ``size x size`` kernel of standard normal weights (rank ``size``)."""
    return np.random.default_rng(size).standard_normal((size, size)).astype(np.float32)


def core_kernels() -> dict[str, F32]:
    """The kernels of the core suite, by name."""
    return {
        "3x3 sharpen": SHARPEN,
        "5x5 gaussian": gaussian(5, 1.0),
        "15x15 gaussian": gaussian(15, 3.0),
        "15x15 box": box(15),
        "15x15 random": random_kernel(15),
        "31x31 gaussian": gaussian(31, 6.0),
        "31x31 box": box(31),
        "31x31 random": random_kernel(31),
    }


def kernel_size(name: str) -> int:
    """The side of a core kernel from its name (``"15x15 box"`` -> 15)."""
    return int(name.split("x")[0])


def bank_name(k: int, f: int, s: int) -> str:
    """How tables name a bank configuration."""
    return f"K={k} F={f} S={s}"


def bank_weights(k: int, f: int, channels: int) -> F32:
    """Deterministic standard normal weights ``(K, C, F, F)``."""
    rng = np.random.default_rng(1000 * k + f)
    return rng.standard_normal((k, channels, f, f)).astype(np.float32)


def proc_status_mb(key: str) -> float:
    """A ``VmRSS``/``VmHWM`` line of /proc/self/status, in MB."""
    text = Path("/proc/self/status").read_text()
    match = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else float("nan")


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux 4.0+); False when that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """One call's wall time, and what it returned."""
    gc.collect()
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, str, Any]:
    """Best wall time of ``repeat`` calls after a warm-up, how it was taken, the last result.

    After a warm-up slower than :data:`SLOW_SECONDS`, one more call is made
    and the better of the two kept (a first call can pay one-time costs);
    after one slower than :data:`VERY_SLOW_SECONDS`, none.
    No call's result is alive while the next call runs.
    """
    first, out = timed(fn)
    if first > VERY_SLOW_SECONDS:
        return first, "1 call, very slow", out
    if first > SLOW_SECONDS:
        out = None
        second, out = timed(fn)
        return min(first, second), "best of 2, slow call", out
    times = []
    for _ in range(repeat):
        out = None
        seconds, out = timed(fn)
        times.append(seconds)
    return min(times), f"best of {repeat}" if repeat > 1 else "1 run", out


def fmt_s(seconds: float | None) -> str:
    """Seconds for a table."""
    if seconds is None or not np.isfinite(seconds):
        return "-"
    return f"{seconds:.4f}" if seconds < 10 else f"{seconds:.2f}"


def fmt_num(value: float | None, digits: int = 1) -> str:
    """A number for a table, ``-`` when missing."""
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def fmt_ratio(value: float | None) -> str:
    """A ratio for a table."""
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value:.3f}x" if value < 0.1 else f"{value:.2f}x"


def md_table(header: Sequence[str], rows: Iterator[Sequence[str]] | list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Input


def make_input(source: Path, size: int, cache: Path) -> tuple[Path, Path]:
    """The ``size x size`` RGB PNG upscaled from ``source`` (Pillow LANCZOS), and a .npy copy."""
    cache.mkdir(parents=True, exist_ok=True)
    stem = f"{source.stem}-{size}"
    png, npy = cache / f"{stem}.png", cache / f"{stem}.npy"
    if not (png.exists() and npy.exists()):
        with Image.open(source) as opened:
            image = opened.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
        image.save(png, compress_level=6)
        np.save(npy, np.asarray(image))
    return png, npy


# --------------------------------------------------------------------------
# Anchors of the core and bank suites


@dataclass
class Anchor:
    """One way of computing a measurement, ready to call.

    ``run`` is None when the anchor is unavailable (``note`` says why);
    ``to_array`` turns what ``run`` returns into an array laid out like the
    reference (``(H, W, C)`` for the core suite, ``(K, Ho, Wo)`` for banks);
    ``exact`` is False for anchors that round to 8 bits.
    """

    name: str
    run: Callable[[], Any] | None
    to_array: Callable[[Any], NDArray[Any]] = np.asarray
    note: str = ""
    exact: bool = True


def missing(name: str, what: str) -> Anchor:
    """An anchor that is not installed."""
    return Anchor(name, None, note=f"not installed ({what})")


def imgconv_method(kernel: F32, shape: tuple[int, ...], stride: int = 1) -> str:
    """The method ``imgconv.correlate(method="auto")`` picks, or ``?``."""
    try:
        from imgconv.core.convolve import choose_method
        from imgconv.core.geometry import plan
        from imgconv.core.kernels import Kernel

        k = Kernel(kernel)
        geometry = plan(
            (shape[0], shape[1]), k.shape, padding="same", anchor=k.origin, stride=stride
        )
        return str(choose_method(k.matrix, geometry))
    except Exception:  # the core is being changed; the note is optional
        return "?"


def core_anchors(
    img8: U8, imgf: F32, kernel: F32, threads: int, only: str | None = None
) -> list[Anchor]:
    """Every core anchor for one kernel, on the same input (or just the one named ``only``).

    Each anchor is built, and its library imported, only when it is asked for,
    so that a ``--child`` loads just what it measures.
    """
    h, w, c = imgf.shape
    kh, kw = kernel.shape

    def imgconv_anchor() -> Anchor:
        import_imgconv(["imgconv", "imgconv.core.convolve"])
        import imgconv

        return Anchor(
            IMGCONV,
            lambda: imgconv.correlate(
                imgf, kernel, padding="same", border="reflect101", method="auto"
            ),
            note=f"method auto (chose {imgconv_method(kernel, imgf.shape)})",
        )

    def opencv_anchor() -> Anchor:
        cv2 = optional("cv2")
        if cv2 is None:
            return missing(OPENCV, "opencv-python-headless")
        cv2.setNumThreads(threads)
        return Anchor(
            OPENCV,
            lambda: cv2.filter2D(imgf, cv2.CV_32F, kernel, borderType=cv2.BORDER_REFLECT_101),
            note="float32, BORDER_REFLECT_101",
        )

    def ndimage_anchor() -> Anchor:
        from scipy import ndimage

        kernel3 = np.ascontiguousarray(kernel[:, :, np.newaxis])
        return Anchor(
            NDIMAGE,
            lambda: ndimage.correlate(imgf, kernel3, mode="mirror"),
            note="float32, mode mirror (= reflect101), one thread",
        )

    def oaconvolve_anchor() -> Anchor:
        from scipy import signal

        flipped = np.ascontiguousarray(kernel[::-1, ::-1, np.newaxis])
        widths = ((kh // 2, kh - 1 - kh // 2), (kw // 2, kw - 1 - kw // 2), (0, 0))
        return Anchor(
            OACONV,
            lambda: signal.oaconvolve(
                np.pad(imgf, widths, mode="reflect"), flipped, mode="valid", axes=(0, 1)
            ),
            note="np.pad reflect101 + oaconvolve valid, flipped kernel, one thread",
        )

    def pillow_anchor() -> Anchor:
        if (kh, kw) not in ((3, 3), (5, 5)):
            return Anchor(PILLOW, None, note="Pillow's Kernel takes 3x3 and 5x5 only")
        pil = Image.fromarray(img8)
        pil_kernel = ImageFilter.Kernel((kw, kh), kernel.ravel().tolist(), scale=1, offset=0)
        return Anchor(
            PILLOW,
            lambda: pil.filter(pil_kernel),
            note="uint8 in and out (Pillow filters no float RGB)",
            exact=False,
        )

    def pyvips_anchor() -> Anchor:
        pyvips = optional("pyvips")
        if pyvips is None:
            return missing(PYVIPS, "pyvips")
        pyvips.cache_set_max(0)  # no operation cache: every call computes
        source = pyvips.Image.new_from_memory(imgf.data, w, h, c, "float")
        mask = pyvips.Image.new_from_array(kernel.astype(np.float64).tolist())
        return Anchor(
            PYVIPS,
            lambda: source.conv(mask, precision="float").write_to_memory(),
            to_array=lambda b: np.frombuffer(b, np.float32).reshape(h, w, c),
            note="float, precision float, to memory",
        )

    def torch_anchor() -> Anchor:
        torch = optional("torch")
        if torch is None:
            return missing(TORCH, "torch")
        torch.set_num_threads(threads)
        planes = torch.from_numpy(np.ascontiguousarray(imgf.transpose(2, 0, 1)))[:, None]
        weight = torch.from_numpy(np.ascontiguousarray(kernel))[None, None]
        conv2d = torch.nn.functional.conv2d
        return Anchor(
            TORCH,
            lambda: conv2d(planes, weight, padding=(kh // 2, kw // 2)),
            to_array=lambda t: t[:, 0].numpy().transpose(1, 2, 0),
            note=f"float32, 3 planes as a batch, zero border, {threads} threads",
        )

    builders = {
        IMGCONV: imgconv_anchor,
        OPENCV: opencv_anchor,
        NDIMAGE: ndimage_anchor,
        OACONV: oaconvolve_anchor,
        PILLOW: pillow_anchor,
        PYVIPS: pyvips_anchor,
        TORCH: torch_anchor,
    }
    return [build() for name, build in builders.items() if only in (None, name)]


def bank_anchors(
    imgf: F32, k: int, f: int, s: int, threads: int, only: str | None = None
) -> list[Anchor]:
    """Every bank anchor for one (K, F, S), on the same input (or just the one named ``only``)."""
    h, w, c = imgf.shape
    pad = f // 2
    weights = bank_weights(k, f, c)
    ho, wo = (h + 2 * pad - f) // s + 1, (w + 2 * pad - f) // s + 1

    def imgconv_anchor() -> Anchor:
        import_imgconv(["imgconv", "imgconv.core.layer", "imgconv.core.kernels"])
        from imgconv.core.kernels import Bank
        from imgconv.core.layer import conv_layer

        bank = Bank(weights.astype(np.float64), np.zeros(k))
        return Anchor(
            IMGCONV,
            lambda: conv_layer(imgf, bank, stride=s, padding=pad, border="zero").maps,
            note="conv_layer, float32 volume",
        )

    def torch_anchor() -> Anchor:
        torch = optional("torch")
        if torch is None:
            return missing(TORCH, "torch")
        torch.set_num_threads(threads)
        volume = torch.from_numpy(np.ascontiguousarray(imgf.transpose(2, 0, 1)))[None]
        weight = torch.from_numpy(weights)
        conv2d = torch.nn.functional.conv2d
        return Anchor(
            TORCH,
            lambda: conv2d(volume, weight, stride=s, padding=pad),
            to_array=lambda t: t[0].numpy(),
            note=f"float32 CPU, {threads} threads",
        )

    def opencv_anchor() -> Anchor:
        cv2 = optional("cv2")
        if cv2 is None:
            return missing(OPENCV_BANK, "opencv-python-headless")
        cv2.setNumThreads(threads)
        planes = [np.ascontiguousarray(imgf[:, :, i]) for i in range(c)]

        def opencv_bank() -> F32:
            out = np.empty((k, ho, wo), np.float32)
            for ki in range(k):
                acc = cv2.filter2D(
                    planes[0], cv2.CV_32F, weights[ki, 0], borderType=cv2.BORDER_CONSTANT
                )
                for ci in range(1, c):
                    acc += cv2.filter2D(
                        planes[ci], cv2.CV_32F, weights[ki, ci], borderType=cv2.BORDER_CONSTANT
                    )
                out[ki] = acc[::s, ::s]
            return out

        return Anchor(OPENCV_BANK, opencv_bank, note="K x C full-size filter2D calls, then stride")

    builders = {IMGCONV: imgconv_anchor, TORCH: torch_anchor, OPENCV_BANK: opencv_anchor}
    return [build() for name, build in builders.items() if only in (None, name)]


# --------------------------------------------------------------------------
# Measurements


@dataclass
class Row:
    """One measured (or skipped) line of a table."""

    name: str
    seconds: float | None = None
    runs: str = ""
    peak_mb: float | None = None
    peak_note: str = ""
    check: str = ""
    note: str = ""
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether it has a time."""
        return self.seconds is not None and not self.error


def compare(out: NDArray[Any], ref: NDArray[Any], *, scale: float, margin: int, exact: bool) -> str:
    """Agreement of ``out`` with ``ref`` away from the border, as a table cell.

    Compared a slab at a time along the first axis, so that a bank's maps
    (gigabytes at 4096 x 4096) need no float64 copy of the whole.
    """
    if out.shape != ref.shape:
        return f"DIFFERS: shape {out.shape} vs {ref.shape}"
    if margin:  # (H, W, C) images: leave out the border
        out, ref = out[margin:-margin, margin:-margin], ref[margin:-margin, margin:-margin]
    step = max(1, 4_000_000 // max(1, int(np.prod(out.shape[1:]))))
    worst = 0.0
    for start in range(0, out.shape[0], step):
        a = np.asarray(out[start : start + step], np.float64)
        b = np.asarray(ref[start : start + step], np.float64)
        if not exact:
            b = np.clip(np.rint(b), 0, 255)
        worst = max(worst, float(np.max(np.abs(a - b))))
    if exact:
        rel = worst / scale
        return f"ok ({rel:.0e})" if rel <= 2e-5 else f"DIFFERS ({rel:.1e})"
    return f"ok (u8, {worst:.0f})" if worst <= 1 else f"DIFFERS (u8, {worst:.0f})"


def child_memory(spec: dict[str, Any], timeout: float) -> tuple[float | None, str]:
    """Peak extra RSS of one call of an anchor, measured in a child process."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None, "timed out"
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            result = json.loads(line)
            if "error" in result:
                return None, str(result["error"])[:80]
            return float(result["peak_mb"]), ""
    return None, f"child failed: {done.stderr.strip()[-200:]}"


def run_child(spec: dict[str, Any]) -> None:
    """The ``--child`` mode: one call of one anchor, printing its peak extra RSS as JSON."""
    try:
        img8 = np.load(spec["npy"])
        threads = int(spec["threads"])

        def build(image: U8) -> Anchor:
            imgf = image.astype(np.float32)
            if spec["suite"] == "core":
                kernel = core_kernels()[spec["item"]]
                return core_anchors(image, imgf, kernel, threads, only=spec["anchor"])[0]
            k, f, s = spec["bank"]
            return bank_anchors(imgf, k, f, s, threads, only=spec["anchor"])[0]

        small = build(np.ascontiguousarray(img8[:96, :96]))
        if small.run is not None:
            small.run()  # lazy imports, thread pools, plans
        anchor = build(img8)
        assert anchor.run is not None
        gc.collect()
        before = proc_status_mb("VmRSS")
        if not reset_peak_rss():
            print(json.dumps({"error": "cannot reset the peak RSS"}))
            return
        out = anchor.run()
        peak = proc_status_mb("VmHWM")
        del out
        print(json.dumps({"peak_mb": peak - before, "base_mb": before}))
    except Exception as error:
        print(json.dumps({"error": repr(error)}))


def measure_anchors(
    anchors: list[Anchor],
    references: Sequence[str],
    *,
    repeat: int,
    scale: float,
    margin: int,
    child_spec: dict[str, Any],
    memory: bool,
    mem_max_seconds: float,
    label: str,
) -> list[Row]:
    """Time every anchor in this process, check its output, and take its memory in a child.

    The anchors run references first (in ``references``' order); the first
    that runs is kept as the reference, every later output is compared with
    it and dropped, so that only two outputs are ever held at once. The rows
    come back in the order of ``anchors``.
    """
    rows = {a.name: Row(a.name, note=a.note) for a in anchors}
    rank = {name: i for i, name in enumerate(references)}
    ref_name: str | None = None
    ref: NDArray[Any] | None = None
    for anchor in sorted(anchors, key=lambda a: rank.get(a.name, len(rank))):
        row = rows[anchor.name]
        if anchor.run is None:
            continue
        print(f"  {label}: {anchor.name} ...", end="", flush=True, file=sys.stderr)
        try:
            seconds, runs, out = best_of(anchor.run, repeat)
            row.seconds, row.runs = seconds, runs
            result = np.asarray(anchor.to_array(out))
            del out
        except Exception as error:
            row.error = f"error: {error!r}"[:160]
            print(f" {row.error}", file=sys.stderr)
            continue
        print(f" {seconds:.4f} s", file=sys.stderr)
        if ref is None:
            ref_name, ref = anchor.name, result
            row.check = "reference"
        else:
            assert ref_name is not None
            verdict = compare(result, ref, scale=scale, margin=margin, exact=anchor.exact)
            row.check = f"{verdict} vs {ref_name.split()[0]}"
        del result
        gc.collect()
        if not memory:
            row.peak_note = "not measured"
        elif seconds > mem_max_seconds:
            row.peak_note = f"skipped (> {mem_max_seconds:.0f} s a call)"
        else:
            spec = {**child_spec, "anchor": anchor.name}
            row.peak_mb, row.peak_note = child_memory(spec, timeout=60 + 20 * seconds)
    return [rows[a.name] for a in anchors]


def one_pass_seconds(imgf: F32, repeat: int) -> float:
    """One numpy multiply-add pass over the float32 image (the unit of the direct method)."""
    scratch = np.empty_like(imgf)
    acc = np.zeros_like(imgf)

    def step() -> None:
        np.multiply(imgf, np.float32(0.5), out=scratch)
        acc.__iadd__(scratch)

    return best_of(step, repeat)[0]


def one_tap_seconds(imgf: F32, k: int, s: int, repeat: int) -> float:
    """One ``(Ho*Wo, C) @ (C, K)`` product added into the output (one tap of a bank)."""
    c = imgf.shape[2]
    view = imgf[::s, ::s]
    acc = np.zeros((*view.shape[:2], k), np.float32)
    w = np.ones((c, k), np.float32)

    def step() -> None:
        acc.__iadd__(view @ w)

    return best_of(step, repeat)[0]


def products_seconds(
    shape: tuple[int, ...], k: int, f: int, s: int, args: argparse.Namespace
) -> float:
    """A bank's BLAS products alone: ``(K, F*F*C) @ (F*F*C, n)`` over every output.

    In pieces of about 900 000 multiply-adds (one BLAS thread each, as
    imgconv's layer makes them) from a matrix already in cache, shared by
    ``args.threads`` threads: what any im2col-like layer must at least
    spend on its multiply-adds at this BLAS, before copying anything.
    """
    from concurrent.futures import ThreadPoolExecutor

    h, w, c = shape
    ho, wo = (h - 1) // s + 1, (w - 1) // s + 1
    depth = f * f * c
    part = max(1, min(wo, 900_000 // (k * depth)))
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((k, depth)).astype(np.float32)
    matrix = rng.standard_normal((depth, part)).astype(np.float32)
    calls = ho * -(-wo // part)
    threads = max(1, args.threads)

    def share(count: int) -> None:
        out = np.empty((k, part), np.float32)
        for _ in range(count):
            np.matmul(weights, matrix, out=out)

    counts = [calls // threads + (i < calls % threads) for i in range(threads)]

    def run() -> None:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(share, counts))

    return best_of(run, args.repeat)[0]


# --------------------------------------------------------------------------
# Whole commands


@dataclass
class Command:
    """One whole command, run as a subprocess."""

    name: str
    argv: list[str] | None
    output: Path | None
    note: str = ""


#: Runs argv[2:] and writes the child's peak RSS (kB) to argv[1]: a fallback for GNU time.
LAUNCHER = """\
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""
GNU_TIME = Path("/usr/bin/time")


def run_process(argv: list[str]) -> tuple[float, float, int, str]:
    """Wall seconds, peak RSS (MB), exit code and stderr tail of one subprocess.

    The peak RSS comes from a small launcher (GNU ``time -f %M``, or a few
    lines of Python around ``os.wait4``): a process forked from this big one
    would report this process's RSS as its own peak.
    """
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile() as err:
        rss = Path(tmp) / "rss"
        if GNU_TIME.exists():
            launcher = [str(GNU_TIME), "-f", "%M", "-o", str(rss)]
        else:
            launcher = [sys.executable, "-c", LAUNCHER, str(rss)]
        start = time.perf_counter()
        done = subprocess.run([*launcher, *argv], stdout=subprocess.DEVNULL, stderr=err)
        wall = time.perf_counter() - start
        err.seek(0)
        tail = err.read().decode(errors="replace").strip()[-300:]
        lines = rss.read_text().split() if rss.exists() else []
        peak = int(lines[-1]) / 1024 if lines and lines[-1].isdigit() else float("nan")
    return wall, peak, done.returncode, tail


def measure_command(command: Command, repeat: int, reference: U8 | None) -> Row:
    """Best-of-``repeat`` wall time (after a warm-up run) and peak RSS of a command."""
    row = Row(command.name, note=command.note)
    if command.argv is None:
        return row
    print(f"  command: {command.name} ...", end="", flush=True, file=sys.stderr)
    walls, peaks = [], []
    for attempt in range(repeat + 1):
        if command.output is not None and command.output.exists():
            command.output.unlink()
        wall, peak, code, tail = run_process(command.argv)
        if code != 0:
            row.error = f"exit {code}: {tail}"[:200]
            print(f" {row.error}", file=sys.stderr)
            return row
        if attempt > 0:  # the first run warms the disk cache
            walls.append(wall)
            peaks.append(peak)
    row.seconds, row.peak_mb = min(walls), max(peaks)
    row.runs = f"best of {repeat}" if repeat > 1 else "1 run"
    print(f" {row.seconds:.3f} s, {row.peak_mb:.0f} MB", file=sys.stderr)
    if command.output is not None and command.output.exists():
        row.extra["size_mb"] = command.output.stat().st_size / 1e6
        if reference is not None and "copy" not in command.name:
            with Image.open(command.output) as written:
                out = np.asarray(written.convert("RGB"))
            ref = reference.astype(np.float64)
            row.check = compare(out, ref, scale=1.0, margin=2, exact=False)
    return row


def startup_rows(repeat: int) -> list[Row]:
    """``imgconv --help`` against the interpreter alone and imgconv's CLI import."""
    exe = imgconv_command()
    commands = [
        ("imgconv --help", [*exe, "--help"]),
        ("python -c 'import imgconv.cli'", [sys.executable, "-c", "import imgconv.cli"]),
        ("python -c pass (interpreter alone)", [sys.executable, "-c", "pass"]),
    ]
    rows = []
    for name, argv in commands:
        row = Row(name)
        walls, peaks = [], []
        for attempt in range(max(repeat, 5) + 1):
            wall, peak, code, tail = run_process(argv)
            if code != 0:
                row.error = f"exit {code}: {tail}"[:200]
                break
            if attempt > 0:
                walls.append(wall)
                peaks.append(peak)
        if walls:
            row.seconds, row.runs, row.peak_mb = min(walls), f"best of {len(walls)}", max(peaks)
        rows.append(row)
    return rows


def byte_compile_imgconv() -> None:
    """Write imgconv's bytecode, as ``pip install`` does, before any command is timed.

    An editable install under ``PYTHONDONTWRITEBYTECODE`` (as on the
    reference machine) would otherwise compile imgconv's modules from
    source on every run: some 70 ms that no installed copy spends.
    """
    import compileall

    spec = importlib.util.find_spec("imgconv")
    if spec is None or spec.origin is None:
        return
    compileall.compile_dir(Path(spec.origin).parent, quiet=1)


def imgconv_command() -> list[str]:
    """How to run imgconv's CLI: the console script next to this Python, or ``-m``."""
    local = Path(sys.executable).parent / "imgconv"
    if local.exists():
        return [str(local)]
    found = shutil.which("imgconv")
    return [found] if found else [sys.executable, "-m", "imgconv"]


def imgconv_png_note() -> str:
    """Which PNG writer imgconv uses, for the tables."""
    try:
        from imgconv import png as imgconv_png  # its own writer, when it has one

        return f"imgconv's PNG writer, level {imgconv_png.DEFAULT_LEVEL}"
    except Exception:
        return "Pillow's PNG writer"


def command_parts(png: Path, repeat: int, workdir: Path) -> list[Row]:
    """imgconv's command in parts, in this process, on the same PNG.

    Decode and encode go through imgconv's own reader and writer
    (``imgconv.image_io``), whatever codec they use; Pillow's encoder at
    levels 6 and 1 is timed beside them for scale.
    """
    import_imgconv(["imgconv", "imgconv.core.convolve", "imgconv.api", "imgconv.image_io"])
    import imgconv
    from imgconv import image_io

    rows: list[Row] = []

    def add(name: str, fn: Callable[[], Any], note: str = "") -> Any:
        print(f"  part: {name} ...", end="", flush=True, file=sys.stderr)
        try:
            seconds, runs, out = best_of(fn, repeat)
        except Exception as error:
            rows.append(Row(name, error=f"error: {error!r}"[:160], note=note))
            print(" error", file=sys.stderr)
            return None
        print(f" {seconds:.4f} s", file=sys.stderr)
        rows.append(Row(name, seconds=seconds, runs=runs, note=note))
        return out

    def decode() -> U8:
        return np.asarray(image_io.read_picture(str(png)).pixels)

    def encode(pixels: U8) -> bytes:
        data, _ = image_io.encode_picture(pixels, ("R", "G", "B"), "PNG")
        return bytes(data)  # PNG is bytes already: no copy

    def pillow_encode(pixels: U8, level: int) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG", compress_level=level)
        return buffer.getvalue()

    img8 = add("decode: imgconv.image_io.read_picture", decode, "PNG -> uint8 array")
    if img8 is None:
        return rows
    filtered = add(
        "filter: imgconv.correlate",
        lambda: imgconv.correlate(img8, SHARPEN, padding="same", border="edge"),
        "uint8 in, float32 out, border edge",
    )
    if filtered is not None:
        pixels = add(
            "to 8 bits: clip + round + astype(uint8)",
            lambda: np.clip(np.rint(filtered), 0, 255).astype(np.uint8),
        )
    else:
        pixels = img8
    add("encode: imgconv.image_io.encode_picture", lambda: encode(pixels), imgconv_png_note())
    add(
        "for scale: Pillow PNG encode, compress_level 6",
        lambda: pillow_encode(pixels, 6),
        "one zlib stream, one core",
    )
    add(
        "for scale: Pillow PNG encode, compress_level 1",
        lambda: pillow_encode(pixels, 1),
        "the level OpenCV's imwrite uses by default",
    )
    target = workdir / "parts-apply-file.png"
    add(
        "whole: imgconv.apply_file",
        lambda: imgconv.apply_file("sharpen", str(png), str(target)),
        "decode + filter + encode, no interpreter start-up",
    )
    return rows


# --------------------------------------------------------------------------
# Machine


def run_text(argv: list[str]) -> str:
    """A command's output, or why there is none."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unavailable ({error.__class__.__name__})"
    return (done.stdout or done.stderr).strip()


def machine() -> list[tuple[str, str]]:
    """What the numbers were measured on, as (what, value) pairs."""
    info: list[tuple[str, str]] = []
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    flags = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    simd = [f for f in ("avx2", "fma", "avx512f") if flags and f in flags.group(1).split()]
    info.append(("CPU", model.group(1).strip() if model else platform.processor() or "?"))
    info.append(("SIMD", ", ".join(simd) or "none of avx2/fma/avx512f"))
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info.append(("cores", f"{os.cpu_count()} logical, {usable} usable by this process"))
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    total = re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.MULTILINE)
    info.append(("RAM", f"{int(total.group(1)) / 1024**2:.1f} GiB" if total else "?"))
    info.append(("OS", platform.platform()))
    info.append(("Python", f"{platform.python_version()} ({sys.executable})"))
    import PIL
    import scipy

    info.append(("numpy", np.__version__))
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info.append(("BLAS (numpy)", f"{blas.get('name')} {blas.get('version')}"))
    except Exception:
        info.append(("BLAS (numpy)", "?"))
    info.append(("scipy", scipy.__version__))
    info.append(("Pillow", PIL.__version__))
    cv2 = optional("cv2")
    info.append(("opencv", f"{cv2.__version__}" if cv2 else "not installed"))
    pyvips = optional("pyvips")
    if pyvips is not None:
        libvips = ".".join(str(pyvips.version(i)) for i in range(3))
        info.append(("pyvips", f"{pyvips.__version__} (libvips {libvips})"))
    else:
        info.append(("pyvips", "not installed"))
    torch = optional("torch")
    info.append(("torch", torch.__version__ if torch else "not installed"))
    try:
        import imgconv

        info.append(("imgconv", f"{imgconv.__version__} ({Path(imgconv.__file__).parent})"))
    except Exception as error:
        info.append(("imgconv", f"does not import: {error!r}"))
    convert = shutil.which("convert")
    if convert:
        info.append(("convert -version", run_text([convert, "-version"]).splitlines()[0]))
        resources = run_text([convert, "-list", "resource"])
        limits = [
            " ".join(line.split())
            for line in resources.splitlines()
            if line.strip().split(":")[0] in ("Memory", "Map", "Disk", "Thread")
        ]
        info.append(("ImageMagick resource limits", "; ".join(limits) or "?"))
    else:
        info.append(("convert -version", "not installed"))
    vips = shutil.which("vips")
    info.append(("vips --version", run_text([vips, "--version"]) if vips else "not installed"))
    return info


# --------------------------------------------------------------------------
# Suites


@dataclass
class Results:
    """Everything measured, by suite."""

    core: dict[str, list[Row]] = field(default_factory=dict)
    core_methods: dict[str, str] = field(default_factory=dict)
    one_pass: float | None = None
    banks: dict[str, list[Row]] = field(default_factory=dict)
    bank_taps: dict[str, float] = field(default_factory=dict)
    bank_products: dict[str, float] = field(default_factory=dict)
    commands: list[Row] = field(default_factory=list)
    parts: list[Row] = field(default_factory=list)
    startup: list[Row] = field(default_factory=list)
    #: Core kernel -> stride -> (seconds, method), imgconv alone.
    strides: dict[str, dict[int, tuple[float, str]]] = field(default_factory=dict)
    #: What NumPy's loops cost over every fourth row: names -> seconds.
    stride_loops: dict[str, float] = field(default_factory=dict)
    #: Core kernel -> seconds to read, once and on every core, the input
    #: rows its stride-4 result needs: a floor no implementation goes under.
    stride_floors: dict[str, float] = field(default_factory=dict)


def run_core(npy: Path, args: argparse.Namespace, results: Results) -> None:
    """The core suite."""
    img8 = np.load(npy)
    imgf = img8.astype(np.float32)
    results.one_pass = one_pass_seconds(imgf, args.repeat)
    for name, kernel in core_kernels().items():
        print(f"core {name}", file=sys.stderr)
        anchors = core_anchors(img8, imgf, kernel, args.threads)
        results.core_methods[name] = imgconv_method(kernel, imgf.shape)
        results.core[name] = measure_anchors(
            anchors,
            CORE_REFERENCES,
            repeat=args.repeat,
            scale=255.0 * float(np.abs(kernel).sum()),
            margin=kernel.shape[0],
            child_spec={"suite": "core", "item": name, "npy": str(npy), "threads": args.threads},
            memory=not args.no_memory,
            mem_max_seconds=args.mem_max_seconds,
            label=name,
        )
        del anchors
        gc.collect()


def run_banks(npy: Path, args: argparse.Namespace, results: Results) -> None:
    """The bank suite."""
    img8 = np.load(npy)
    imgf = img8.astype(np.float32)
    for k, f, s in BANKS:
        name = bank_name(k, f, s)
        print(f"bank {name}", file=sys.stderr)
        anchors = bank_anchors(imgf, k, f, s, args.threads)
        weights = bank_weights(k, f, imgf.shape[2])
        results.bank_taps[name] = one_tap_seconds(imgf, k, s, args.repeat)
        results.bank_products[name] = products_seconds(imgf.shape, k, f, s, args)
        results.banks[name] = measure_anchors(
            anchors,
            BANK_REFERENCES,
            repeat=args.repeat,
            scale=255.0 * float(np.abs(weights).sum(axis=(1, 2, 3)).max()),
            margin=0,
            child_spec={
                "suite": "banks",
                "bank": [k, f, s],
                "npy": str(npy),
                "threads": args.threads,
            },
            memory=not args.no_memory,
            mem_max_seconds=args.mem_max_seconds,
            label=name,
        )
        del anchors
        gc.collect()


STRIDES = (1, 2, 4)


def run_strides(npy: Path, args: argparse.Namespace, results: Results) -> None:
    """imgconv's core kernels at strides 1, 2 and 4, and NumPy's loops that bound them."""
    import_imgconv(["imgconv", "imgconv.core.convolve"])
    import imgconv

    imgf = np.load(npy).astype(np.float32)
    for name, kernel in core_kernels().items():
        print(f"stride {name}", file=sys.stderr)
        by_stride: dict[int, tuple[float, str]] = {}
        for stride in STRIDES:

            def call(kernel: F32 = kernel, stride: int = stride) -> Any:
                return imgconv.correlate(
                    imgf, kernel, padding="same", border="reflect101", stride=stride
                )

            seconds = best_of(call, args.repeat)[0]
            by_stride[stride] = (seconds, imgconv_method(kernel, imgf.shape, stride))
        results.strides[name] = by_stride
        results.stride_floors[name] = rows_read_seconds(imgf, kernel_size(name), 4, args.repeat)
    # One add over the rows a stride of 4 keeps: every pixel of them, and every
    # fourth pixel (the sampled ones alone, which NumPy loops over one by one).
    rows = imgf[::4]
    every = np.empty_like(rows)
    sampled = np.empty_like(rows[:, ::4])
    results.stride_loops = {
        "every pixel of every fourth row": best_of(
            lambda: np.add(rows, rows, out=every), args.repeat
        )[0],
        "every fourth pixel of every fourth row": best_of(
            lambda: np.add(rows[:, ::4], rows[:, ::4], out=sampled), args.repeat
        )[0],
        "every pixel of every row": best_of(
            lambda: np.add(imgf, imgf, out=np.empty_like(imgf)), args.repeat
        )[0],
    }


def needed_phases(size: int, stride: int) -> list[int]:
    """The input rows, by remainder mod ``stride``, that a ``size``-tall kernel reads.

    With ``padding='same'``, output row ``i`` reads input rows ``stride*i -
    size//2`` to ``stride*i + size//2``: the same remainders in every period
    of ``stride`` rows (the border's rows are copies of image rows).

    >>> needed_phases(3, 4)
    [0, 1, 3]
    >>> needed_phases(5, 4)
    [0, 1, 2, 3]
    """
    reach = size // 2
    return sorted({offset % stride for offset in range(-reach, reach + 1)})


#: Rows per block read by :func:`rows_read_seconds` (a multiple of every stride timed).
_READ_BLOCK = 256


def rows_read_seconds(imgf: F32, size: int, stride: int, repeat: int) -> float:
    """Seconds to read once, on imgconv's threads, the rows :func:`needed_phases` names.

    Every implementation reads at least these values: the time is a floor
    under any strided filter of the image, whatever it computes. Each core
    reads its share of the image in blocks of rows, with one reduction per
    block and remainder (NumPy's SIMD loop over whole rows, GIL released),
    or per block where every row is needed.
    """
    from concurrent.futures import ThreadPoolExecutor

    from imgconv.core.spatial import workers

    phases = needed_phases(size, stride)
    every = len(phases) == stride
    count = workers()  # as many threads as imgconv's filtering uses
    height = imgf.shape[0]
    tops = list(range(0, height, _READ_BLOCK))
    shares = [tops[n * len(tops) // count : (n + 1) * len(tops) // count] for n in range(count)]

    def read(share: list[int]) -> float:
        total = 0.0
        for top in share:
            stop = min(height, top + _READ_BLOCK)
            if every:
                total += float(np.add.reduce(imgf[top:stop], axis=None))
            else:
                for phase in phases:
                    total += float(np.add.reduce(imgf[top + phase : stop : stride], axis=None))
        return total

    with ThreadPoolExecutor(count) as threads:
        # Cheap, and the floor is worth pinning down: at least 5 calls.
        return best_of(lambda: list(threads.map(read, shares)), max(5, repeat))[0]


def stride_target(results: Results) -> Target:
    """Issue 6: "stride 4 costs about 1/16 of stride 1", taken as at least 12x faster."""
    text = (
        "stride 4 costs about 1/16 of stride 1 (taken as: at least 12x faster), every core kernel"
    )
    ratios = {
        name: times[1][0] / times[4][0]
        for name, times in results.strides.items()
        if 1 in times and 4 in times
    }
    if not ratios:
        return Target(text, None, "not measured")
    detail = (
        "stride 4 takes "
        + ", ".join(
            f"1/{ratio:.1f} ({name}, {results.strides[name][4][1]})"
            for name, ratio in ratios.items()
        )
        + " of stride 1's time"
    )
    met = min(ratios.values()) >= 12
    loops = results.stride_loops
    bound = ""
    if not met and loops:
        every = loops["every pixel of every fourth row"]
        sampled = loops["every fourth pixel of every fourth row"]
        whole = loops["every pixel of every row"]
        bound = (
            f"one NumPy add over every pixel of every fourth row takes {fmt_s(every)} s "
            f"({whole / every:.1f}x less than over the whole image, {fmt_s(whole)} s), but over "
            f"every fourth pixel of those rows, a sixteenth of the image, {fmt_s(sampled)} s "
            f"({whole / sampled:.1f}x less): NumPy's loops over pixels 4 apart are scalar and "
            "read as many cache lines. So the direct and separable methods sum every column of "
            "the sampled rows (a quarter of the work) and keep the sampled columns. Even with "
            "loops as fast over sampled pixels as over all, a separable kernel's column pass "
            "would still cover every column of the sampled rows, which its row pass reads: "
            "F/4 + F/16 passes against 2F at stride 1, 1/6.4 of the work. The FFT method "
            "transforms back only the sampled rows, but its forward transforms cover every "
            "pixel, about 60% of its time at stride 1"
        )
        floors = {
            name: times[1][0] / results.stride_floors[name]
            for name, times in results.strides.items()
            if name in results.stride_floors and 1 in times
        }
        under = {name: ratio for name, ratio in floors.items() if ratio < 12}
        if under:
            bound += (
                ". Below any implementation: reading once, on both cores, the input rows a "
                "stride of 4 needs (every row a kernel's rows reach, 3 in 4 for 3x3) takes "
                + ", ".join(f"1/{ratio:.1f} ({name})" for name, ratio in under.items())
                + " of stride 1's time, so for these kernels no filter that reads its input "
                "could be 12x faster at stride 4 on this machine"
            )
    return Target(text, met, detail, bound)


def stride_table(results: Results) -> str:
    """Seconds at each stride, the ratio to stride 1, the method chosen, and stride 4's floor."""
    body = []
    for name, times in results.strides.items():
        first = times[STRIDES[0]][0]
        cells = [name]
        for stride in STRIDES:
            seconds, method = times[stride]
            ratio = "" if stride == 1 else f" (1/{first / seconds:.1f})"
            cells.append(f"{fmt_s(seconds)}{ratio}, {method}")
        floor = results.stride_floors.get(name)
        cells.append("-" if floor is None else f"{fmt_s(floor)} (1/{first / floor:.1f})")
        body.append(cells)
    header = [f"stride {s}: seconds (of stride 1's), method" for s in STRIDES]
    floor_header = "stride 4's floor: reading its input rows once (of stride 1's)"
    return md_table(["kernel", *header, floor_header], body)


def run_commands(png: Path, workdir: Path, args: argparse.Namespace, results: Results) -> None:
    """The whole-command suite and the parts of imgconv's command."""
    mask = workdir / "sharpen.mat"
    mask.write_text("3 3 1 0\n0 -1 0\n-1 5 -1\n0 -1 0\n")
    script = workdir / "opencv_sharpen.py"
    script.write_text(OPENCV_SCRIPT)
    vips, convert = shutil.which("vips"), shutil.which("convert")
    cv2 = optional("cv2")

    def out(tag: str) -> Path:
        return workdir / f"out-{tag}.png"

    commands = [
        Command(
            CMD_IMGCONV,
            [*imgconv_command(), "apply", "sharpen", str(png), str(out("imgconv"))],
            out("imgconv"),
            imgconv_png_note(),
        ),
        Command(
            CMD_VIPS,
            [vips, "conv", str(png), str(out("vips")), str(mask)] if vips else None,
            out("vips"),
            "integer mask, uchar out; PNG compression 6" if vips else "not installed",
        ),
        Command(
            CMD_MAGICK,
            [convert, str(png), "-morphology", "Convolve", f"3x3:{SHARPEN_TEXT}", str(out("im"))]
            if convert
            else None,
            out("im"),
            "Q16, default policy and quality (zlib 7)" if convert else "not installed",
        ),
        Command(
            CMD_OPENCV,
            [sys.executable, str(script), str(png), str(out("cv"))] if cv2 else None,
            out("cv"),
            "imwrite's default PNG compression (1)" if cv2 else "not installed",
        ),
        Command(
            CMD_VIPS_COPY,
            [vips, "copy", str(png), str(out("vips-copy"))] if vips else None,
            out("vips-copy"),
            "for scale: the PNG codec alone" if vips else "not installed",
        ),
    ]
    with Image.open(png) as opened:
        img8 = np.asarray(opened.convert("RGB"))
    if cv2 is not None:
        reference = cv2.filter2D(img8, -1, SHARPEN)
    else:
        reference = np.clip(np.rint(correlate_numpy(img8, SHARPEN)), 0, 255).astype(np.uint8)
    results.commands = [measure_command(c, args.repeat, reference) for c in commands]
    tiny = workdir / "tiny.png"
    Image.fromarray(np.ascontiguousarray(img8[:16, :16])).save(tiny)
    fixed = measure_command(
        Command(
            "fixed: `imgconv apply sharpen` on a 16 x 16 PNG",
            [*imgconv_command(), "apply", "sharpen", str(tiny), str(workdir / "tiny-out.png")],
            None,
            "a subprocess: interpreter start-up and imports, next to no pixels",
        ),
        args.repeat,
        None,
    )
    results.parts = [fixed, *command_parts(png, args.repeat, workdir)]


def correlate_numpy(img8: U8, kernel: F32) -> F32:
    """A plain numpy 'same' correlation with edge borders (a reference without OpenCV)."""
    kh, kw = kernel.shape
    padded = np.pad(img8.astype(np.float32), ((kh // 2,) * 2, (kw // 2,) * 2, (0, 0)), "edge")
    h, w = img8.shape[:2]
    out = np.zeros(img8.shape, np.float32)
    for (u, v), weight in np.ndenumerate(kernel):
        out += weight * padded[u : u + h, v : v + w]
    return out


# --------------------------------------------------------------------------
# Report


def by_name(rows: Sequence[Row], name: str) -> Row | None:
    """The row of that name that has a time."""
    return next((r for r in rows if r.name == name and r.ok), None)


def fastest_anchor(rows: Sequence[Row], names: Sequence[str] | None = None) -> Row | None:
    """The fastest row other than imgconv's (among ``names`` when given)."""
    timed_rows = [
        r
        for r in rows
        if r.ok and not r.name.startswith(IMGCONV) and (names is None or r.name in names)
    ]
    return min(timed_rows, key=lambda r: r.seconds or 0.0, default=None)


def anchor_table(rows: list[Row], mpx: float) -> str:
    """A table of one kernel or bank: times, throughput, memory, ratio to the fastest anchor."""
    fastest = fastest_anchor(rows)
    body = []
    for r in rows:
        if not r.ok:
            body.append([r.name, "-", "-", "-", "-", "-", r.error or r.note or "not run"])
            continue
        assert r.seconds is not None
        ratio = (fastest.seconds or 0.0) / r.seconds if fastest else None
        peak = fmt_num(r.peak_mb, 0) if r.peak_mb is not None else (r.peak_note or "-")
        body.append(
            [
                f"**{r.name}**" if r.name == IMGCONV else r.name,
                f"{fmt_s(r.seconds)} ({r.runs})",
                fmt_num(mpx / r.seconds),
                peak,
                fmt_ratio(ratio),
                r.check or "-",
                r.note,
            ]
        )
    header = [
        "implementation",
        "seconds",
        "Mpx/s",
        "extra peak MB",
        "x fastest anchor",
        "output check",
        "note",
    ]
    return md_table(header, body)


@dataclass
class Target:
    """One target of the issue, evaluated from the numbers."""

    text: str
    met: bool | None
    detail: str
    bound: str = ""


def throughput_target(
    what: str, rows: list[Row], ref_name: str, minimum: float, bound: Callable[[], str]
) -> Target:
    """imgconv's throughput at least ``minimum`` times ``ref_name``'s."""
    text = f"{what}: imgconv >= {minimum:g}x {ref_name} throughput"
    mine, ref = by_name(rows, IMGCONV), by_name(rows, ref_name)
    if ref is None:
        return Target(text, None, f"not measured ({ref_name} did not run)")
    if mine is None:
        return Target(text, None, "not measured (imgconv did not run)")
    assert mine.seconds is not None
    assert ref.seconds is not None
    ratio = ref.seconds / mine.seconds
    detail = (
        f"imgconv {fmt_s(mine.seconds)} s vs {ref_name} {fmt_s(ref.seconds)} s: {fmt_ratio(ratio)}"
    )
    met = ratio >= minimum
    return Target(text, met, detail, "" if met else bound())


def evaluate(results: Results, size: int) -> list[Target]:
    """Every target, from the measured numbers."""
    targets: list[Target] = []
    mpx = size * size / 1e6
    for name, rows in results.core.items():
        side = kernel_size(name)
        method = results.core_methods.get(name, "?")

        def core_bound(rows: list[Row] = rows, method: str = method) -> str:
            mine = by_name(rows, IMGCONV)
            cv = by_name(rows, OPENCV)
            unit = results.one_pass
            if mine is None or mine.seconds is None or unit is None:
                return ""
            parts = [
                f"imgconv (method {method}) takes as long as {mine.seconds / unit:.1f} numpy "
                f"multiply-add passes over the float32 image (one pass: {fmt_s(unit)} s)"
            ]
            if cv is not None and cv.seconds is not None:
                parts.append(f"OpenCV {cv.seconds / unit:.1f} passes")
            return "; ".join(parts)

        if side <= 5:
            targets.append(throughput_target(f"core {name}", rows, OPENCV, 0.5, core_bound))
        else:
            targets.append(throughput_target(f"core {name}", rows, OPENCV, 1.0, core_bound))
            targets.append(throughput_target(f"core {name}", rows, NDIMAGE, 10.0, core_bound))
    for name, rows in results.banks.items():
        tap = results.bank_taps.get(name)
        products = results.bank_products.get(name)
        f = int(name.split("F=")[1].split()[0])

        def bank_bound(
            rows: list[Row] = rows,
            tap: float | None = tap,
            f: int = f,
            products: float | None = products,
        ) -> str:
            mine, ref = by_name(rows, IMGCONV), by_name(rows, TORCH)
            if mine is None or ref is None or not tap:
                return ""
            assert mine.seconds is not None
            assert ref.seconds is not None
            text = (
                f"one tap, an (Ho*Wo x C) @ (C x K) product added into the output, takes "
                f"{fmt_s(tap)} s; a tap-by-tap layer needs F*F = {f * f} of them "
                f"({fmt_s(f * f * tap)} s); imgconv's time is {mine.seconds / tap:.1f} taps, "
                f"torch's {ref.seconds / tap:.1f}"
            )
            if products:
                text += (
                    f". The BLAS products alone, (K x F*F*C) @ (F*F*C x n) over every output "
                    f"from a matrix already in cache, take {fmt_s(products)} s "
                    f"({products / mine.seconds:.0%} of imgconv's time, "
                    f"{products / ref.seconds:.0%} of torch's): with few kernels each matrix "
                    "value serves only K multiply-adds, and the rest of imgconv's time is "
                    "copying the input into place"
                )
            return text

        targets.append(throughput_target(f"bank {name}", rows, TORCH, 0.7, bank_bound))
    if results.strides:
        targets.append(stride_target(results))
    if results.commands:
        targets += command_targets(results, mpx)
    if results.startup:
        targets.append(startup_target(results.startup))
    return targets


def command_targets(results: Results, mpx: float) -> list[Target]:
    """The whole-command targets, with what bounds imgconv's time when it misses."""
    rows, parts = results.commands, results.parts
    mine = by_name(rows, CMD_IMGCONV)
    part = {r.name.split(":")[0]: r.seconds for r in parts if r.ok}
    decode = part.get("decode")
    encode = part.get("encode")
    filt = part.get("filter")
    to8 = part.get("to 8 bits")
    fixed = part.get("fixed")
    copy = by_name(rows, CMD_VIPS_COPY)

    def time_bound(limit: float) -> str:
        if mine is None or mine.seconds is None:
            return ""
        named = [
            ("fixed cost (start-up and imports, 16 x 16 PNG)", fixed),
            ("decode", decode),
            ("filter", filt),
            ("to 8 bits", to8),
            ("encode", encode),
        ]
        known = [(label, t) for label, t in named if t is not None]
        pieces = [
            f"of imgconv's {fmt_s(mine.seconds)} s, "
            + ", ".join(f"{label} {fmt_s(t)} s" for label, t in known)
            + f" (sum {fmt_s(sum(t for _, t in known))} s)"
        ]
        if decode is not None and encode is not None:
            codec = decode + encode
            verdict = "already exceeds" if codec > limit else "is within"
            pieces.append(
                f"imgconv's PNG decode + encode alone take {fmt_s(codec)} s, which "
                f"{verdict} the limit of {fmt_s(limit)} s"
            )
        if copy is not None:
            pieces.append(
                f"libvips' own decode + encode (`vips copy`) take {fmt_s(copy.seconds)} s"
            )
        return "; ".join(pieces)

    def wall_target(ref_name: str, factor: float) -> Target:
        text = f"whole command: imgconv wall <= {factor:g}x `{ref_name}`"
        ref = by_name(rows, ref_name)
        if ref is None or mine is None:
            return Target(text, None, "not measured")
        assert ref.seconds is not None
        assert mine.seconds is not None
        limit = factor * ref.seconds
        met = mine.seconds <= limit
        detail = (
            f"imgconv {fmt_s(mine.seconds)} s vs {ref_name} {fmt_s(ref.seconds)} s: "
            f"{fmt_ratio(mine.seconds / ref.seconds)} (limit {fmt_s(limit)} s)"
        )
        return Target(text, met, detail, "" if met else time_bound(limit))

    targets = [wall_target(CMD_VIPS, 1.0), wall_target(CMD_MAGICK, 0.25)]
    text = "whole command: imgconv peak RSS <= 2x the OpenCV script's"
    ref = by_name(rows, CMD_OPENCV)
    if ref is None or mine is None or ref.peak_mb is None or mine.peak_mb is None:
        targets.append(Target(text, None, "not measured"))
    else:
        ratio = mine.peak_mb / ref.peak_mb
        met = ratio <= 2.0
        u8 = mpx * 3
        bound = (
            f"one uint8 RGB copy of the image is {u8:.0f} MB and one float32 copy "
            f"{4 * u8:.0f} MB; imgconv's peak is {mine.peak_mb / (4 * u8):.1f} float32 copies, "
            f"the OpenCV script's {ref.peak_mb / (4 * u8):.1f}"
        )
        detail = (
            f"imgconv {mine.peak_mb:.0f} MB vs OpenCV script {ref.peak_mb:.0f} MB: "
            f"{fmt_ratio(ratio)}"
        )
        targets.append(Target(text, met, detail, "" if met else bound))
    return targets


def startup_target(rows: list[Row]) -> Target:
    """``imgconv --help`` under 0.25 s."""
    text = "`imgconv --help` under 0.25 s wall"
    mine = by_name(rows, "imgconv --help")
    if mine is None or mine.seconds is None:
        return Target(text, None, "not measured")
    met = mine.seconds < 0.25
    bare = next((r for r in rows if r.name.startswith("python -c pass") and r.ok), None)
    imp = next((r for r in rows if "import imgconv.cli" in r.name and r.ok), None)
    bound = ""
    if not met:
        bound = "; ".join(
            f"{label} {fmt_s(r.seconds)} s"
            for label, r in (("the interpreter alone", bare), ("importing imgconv.cli", imp))
            if r is not None
        )
    return Target(text, met, f"{fmt_s(mine.seconds)} s", bound)


def report(
    results: Results,
    args: argparse.Namespace,
    png: Path,
    info: list[tuple[str, str]],
    elapsed: float,
    load: tuple[tuple[float, ...], tuple[float, ...]],
) -> str:
    """RESULTS.md."""
    size = args.size
    mpx = size * size / 1e6
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/bench.py " + " ".join(args.argv)
    out = [
        "# imgconv benchmark results",
        "",
        f"Written by `{command.strip()}` on {now}; the run took {elapsed / 60:.1f} minutes.",
        f"Input: `{args.source.name}` upscaled to {size} x {size} RGB with Pillow LANCZOS "
        f"({mpx:.1f} megapixels; PNG {png.stat().st_size / 1e6:.1f} MB).",
        "Ratios come from this one run (absolute times drift between runs and machines).",
        "",
        "## Machine",
        "",
        md_table(["", ""], [[k, v.replace("|", "/")] for k, v in info]),
        "",
        f"Load average (1, 5, 15 min) at the start: {', '.join(f'{x:.2f}' for x in load[0])}; "
        f"at the end: {', '.join(f'{x:.2f}' for x in load[1])}. Other work on the machine "
        "during the run slows whatever ran at that moment.",
        "",
        "## How it is measured",
        "",
        f"- Core and bank times: in one process, on the same arrays; best of {args.repeat} "
        f"calls after a warm-up call (after a warm-up over {SLOW_SECONDS:g} s, one more call, "
        f"and the better of the two: 'best of 2'; after a first call over {VERY_SLOW_SECONDS:g} s, "
        "that call alone: '1 call, very slow'). Mpx/s is input megapixels per second. Threads: "
        f"{args.threads} for OpenCV and PyTorch; libvips uses its default (one per core); "
        "SciPy's ndimage and oaconvolve use one.",
        "- Extra peak MB (core, banks): one call repeated in a child process "
        "(`bench.py --child`) after a warm-up on a 96 x 96 crop: VmHWM after the call minus "
        "VmRSS before it, the peak having been reset (`/proc/self/clear_refs`); the input, "
        "in the layout the anchor takes, is loaded before and not counted. Calls over "
        f"{args.mem_max_seconds:g} s are not repeated for memory.",
        "- x fastest anchor: the fastest anchor's time over this row's (1.00x is the fastest; "
        "imgconv is not an anchor).",
        "- Output check: largest difference from the reference anchor away from the border "
        "(borders differ: reflect101, edge or zero as each tool offers), relative to "
        "255 x sum |kernel| for float outputs, in 8-bit levels for 8-bit outputs.",
        f"- Whole commands: subprocesses, wall time best of {args.repeat} after a warm-up run; "
        "peak RSS (the largest of the runs) from GNU `time -f %M` wrapped around each run "
        "(or, without it, a few lines of Python around `os.wait4`).",
        "- Start-up: best of 5 after a warm-up run.",
        "- imgconv's modules are byte-compiled first, as `pip install` leaves them "
        "(the machine sets `PYTHONDONTWRITEBYTECODE`).",
        "",
    ]
    targets = evaluate(results, size)
    out += ["## Targets", ""]
    if not targets:
        out.append("No suite that has targets was run.")
    for t in targets:
        status = {True: "**met**", False: "**NOT met**", None: "not measured"}[t.met]
        line = f"- {status}: {t.text}. {t.detail}."
        if t.bound:
            line += f" What bounds it: {t.bound}."
        out.append(line)
    out.append("")

    if results.core:
        out += [
            "## Core: one kernel per channel, float32",
            "",
            f"{size} x {size} x 3 float32, `padding='same'`, the kernel applied as written. "
            f"One numpy multiply-add pass over the image takes {fmt_s(results.one_pass)} s.",
            "",
        ]
        for name, rows in results.core.items():
            out += [f"### {name}", "", anchor_table(rows, mpx), ""]
    if results.strides:
        out += [
            "## Stride: imgconv's core at strides 1, 2 and 4",
            "",
            f"The core suite's kernels and input, `padding='same'`, `method='auto'`; best of "
            f"{args.repeat} after a warm-up. The method is the one chosen at that stride.",
            "",
            stride_table(results),
            "",
            md_table(
                ["NumPy add, float32 image", "seconds"],
                [[k, fmt_s(v)] for k, v in results.stride_loops.items()],
            ),
            "",
        ]
    if results.banks:
        out += [
            "## Banks: conv layers",
            "",
            f"{size} x {size} x 3 float32 volume; K kernels F x F x 3, stride S, zero padding "
            "F // 2 (as `torch.nn.functional.conv2d(x, w, stride=S, padding=F // 2)`), "
            "K output maps.",
            "",
        ]
        for name, rows in results.banks.items():
            out += [f"### {name}", "", anchor_table(rows, mpx), ""]
    if results.commands:
        fastest = fastest_anchor(results.commands, COMMAND_ANCHORS)
        body = []
        for r in results.commands:
            if not r.ok:
                body.append([r.name, "-", "-", "-", "-", "-", "-", r.error or r.note])
                continue
            assert r.seconds is not None
            ratio = (fastest.seconds or 0.0) / r.seconds if fastest else None
            body.append(
                [
                    f"**{r.name}**" if r.name == CMD_IMGCONV else r.name,
                    fmt_s(r.seconds),
                    fmt_num(mpx / r.seconds),
                    fmt_num(r.peak_mb, 0),
                    fmt_ratio(ratio),
                    fmt_num(r.extra.get("size_mb"), 1),
                    r.check or "-",
                    r.note,
                ]
            )
        out += [
            "## Whole command: 3x3 sharpen, PNG to PNG",
            "",
            f"`{png.name}` ({size} x {size} RGB, 8 bits) filtered with "
            "`0,-1,0;-1,5,-1;0,-1,0` and written as PNG.",
            "",
            md_table(
                [
                    "command",
                    "wall s",
                    "Mpx/s",
                    "peak RSS MB",
                    "x fastest anchor",
                    "output MB",
                    "output check vs OpenCV",
                    "note",
                ],
                body,
            ),
            "",
            "The commands:",
            "",
            "    imgconv apply sharpen in.png out.png",
            "    vips conv in.png out.png sharpen.mat      # sharpen.mat: '3 3 1 0' + 3 rows",
            f"    convert in.png -morphology Convolve '3x3:{SHARPEN_TEXT}' out.png",
            "    python opencv_sharpen.py in.png out.png   # the script below",
            "",
            *("    " + line for line in OPENCV_SCRIPT.splitlines()),
            "",
        ]
        if results.parts:
            body = [
                [
                    r.name,
                    fmt_s(r.seconds) if r.ok else r.error,
                    r.runs,
                    r.note,
                ]
                for r in results.parts
            ]
            out += [
                "### imgconv's command in parts",
                "",
                "The fixed cost is a subprocess on a 16 x 16 PNG; the other parts run in this "
                "process on the same input as the commands.",
                "",
                md_table(["part", "seconds", "runs", "note"], body),
                "",
            ]
    if results.startup:
        body = [
            [r.name, fmt_s(r.seconds) if r.ok else r.error, fmt_num(r.peak_mb, 0)]
            for r in results.startup
        ]
        out += [
            "## Start-up",
            "",
            md_table(["command", "wall s", "peak RSS MB"], body),
            "",
        ]
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------
# Main


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Benchmark imgconv against OpenCV, SciPy, libvips, Pillow, PyTorch and "
        "ImageMagick, and write a Markdown report.",
    )
    parser.add_argument("--size", type=int, default=4096, help="input side (default 4096)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs, best kept (3)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: --size 1024 --repeat 1")
    parser.add_argument(
        "--only",
        choices=("core", "strides", "banks", "commands", "startup"),
        action="append",
        help="run only this suite (may be repeated); all by default",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the report to write")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="the image to upscale")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "imgconv-bench",
        help="where the input and outputs go (not in the repository)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2,
        help="threads for OpenCV and PyTorch (default: the usable cores)",
    )
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the peak-memory child processes"
    )
    parser.add_argument(
        "--mem-max-seconds",
        type=float,
        default=20.0,
        help="do not repeat calls slower than this in a child for memory (20)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.repeat = 1024, 1
    args.argv = list(argv)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suites asked for and write the report."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.child:
        run_child(json.loads(args.child))
        return 0
    suites = args.only or ["core", "strides", "banks", "commands", "startup"]
    start = time.perf_counter()
    byte_compile_imgconv()
    load_start = os.getloadavg()
    png, npy = make_input(args.source, args.size, args.cache)
    workdir = args.cache / f"work-{args.size}"
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"input {png} ({args.size} x {args.size})", file=sys.stderr)
    results = Results()
    if "startup" in suites:
        results.startup = startup_rows(args.repeat)
    if "core" in suites:
        run_core(npy, args, results)
    if "strides" in suites:
        run_strides(npy, args, results)
    if "banks" in suites:
        run_banks(npy, args, results)
    if "commands" in suites:
        run_commands(png, workdir, args, results)
        if not results.startup:
            results.startup = startup_rows(args.repeat)
    info = machine()
    text = report(
        results, args, png, info, time.perf_counter() - start, (load_start, os.getloadavg())
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
