"""imgconv features: a bank of deep kernels as a CNN layer, against a plain loop and PyTorch."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from PIL import Image

import imgconv.core.layer as layer_module
from imgconv.cli import cli
from imgconv.core.geometry import plan
from imgconv.core.kernels import Bank, Kernel, KernelSet
from imgconv.core.layer import (
    Activation,
    Pooling,
    activate,
    bank_for,
    conv_layer,
    formula,
    parameter_count,
    pooled,
    pooling,
)
from imgconv.core.vocab import Border
from imgconv.errors import GeometryError, UsageError
from imgconv.kernel_source import resolve_kernel

# --- the oracle: the layer's formula, one output cell at a time ----------------------------------


def loop_layer(
    volume: NDArray[np.float64],
    weights: NDArray[np.float64],
    bias: NDArray[np.float64],
    *,
    pads: tuple[int, int, int, int] = (0, 0, 0, 0),
    stride: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    fill: float = 0.0,
) -> NDArray[np.float64]:
    """map_k[i, j] = sum_{c,u,v} W[k,c,u,v] * P[i*s + d*u, j*s + d*v, c] + b_k, zero-padded."""
    top, bottom, left, right = pads
    h, w, c = volume.shape
    padded = np.full((h + top + bottom, w + left + right, c), fill)
    padded[top : top + h, left : left + w] = volume
    k, _, fh, fw = weights.shape
    (sy, sx), (dy, dx) = stride, dilation
    ho = (padded.shape[0] - dy * (fh - 1) - 1) // sy + 1
    wo = (padded.shape[1] - dx * (fw - 1) - 1) // sx + 1
    out = np.zeros((k, ho, wo))
    for kk in range(k):
        for i in range(ho):
            for j in range(wo):
                total = bias[kk]
                for ch in range(c):
                    for u in range(fh):
                        for v in range(fw):
                            total += (
                                weights[kk, ch, u, v] * padded[i * sy + dy * u, j * sx + dx * v, ch]
                            )
                out[kk, i, j] = total
    return out


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    k=st.integers(1, 3),
    c=st.integers(1, 3),
    f=st.integers(1, 3),
    pad=st.integers(0, 2),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
)
def test_bank_equals_the_loop(
    seed: int, k: int, c: int, f: int, pad: int, stride: int, dilation: int
) -> None:
    rng = np.random.default_rng(seed)
    volume = rng.standard_normal((7, 8, c))
    weights = rng.standard_normal((k, c, f, f))
    bias = rng.standard_normal(k)
    reach = dilation * (f - 1) + 1
    if reach > 7 + 2 * pad:
        return
    result = conv_layer(volume, Bank(weights, bias), padding=pad, stride=stride, dilation=dilation)
    expected = loop_layer(
        volume, weights, bias, pads=(pad,) * 4, stride=(stride, stride), dilation=(dilation,) * 2
    )
    np.testing.assert_allclose(result.maps, expected, rtol=1e-10, atol=1e-10)


def test_flip_is_the_loop_with_each_kernel_turned() -> None:
    rng = np.random.default_rng(3)
    volume = rng.standard_normal((6, 5, 2))
    weights = rng.standard_normal((2, 2, 3, 2))
    result = conv_layer(volume, Bank(weights, None), flip=True, padding=1)
    expected = loop_layer(volume, weights[:, :, ::-1, ::-1], np.zeros(2), pads=(1, 1, 1, 1))
    np.testing.assert_allclose(result.maps, expected, atol=1e-12)


def test_other_borders_and_asymmetric_padding() -> None:
    rng = np.random.default_rng(4)
    volume = rng.standard_normal((5, 6, 2))
    weights = rng.standard_normal((1, 2, 3, 3))
    result = conv_layer(volume, Bank(weights, None), padding=(1, 0, 2, 1), border="constant:0.5")
    expected = loop_layer(volume, weights, np.zeros(1), pads=(1, 0, 2, 1), fill=0.5)
    np.testing.assert_allclose(result.maps, expected, atol=1e-12)
    edge = conv_layer(volume, Bank(weights, None), padding=1, border="edge").maps
    manual = np.pad(volume, ((1, 1), (1, 1), (0, 0)), mode="edge")
    np.testing.assert_allclose(edge, loop_layer(manual, weights, np.zeros(1)), atol=1e-12)


def test_integer_images_do_not_wrap() -> None:
    volume = np.full((4, 4, 3), 255, dtype=np.uint8)
    result = conv_layer(volume, Bank(np.ones((1, 3, 3, 3)), None))
    np.testing.assert_array_equal(result.maps, 255 * 27)


# --- PyTorch, where it is installed --------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "f", "stride", "padding", "dilation"),
    [(8, 5, 1, 0, 1), (8, 5, 2, 2, 1), (4, 3, 1, 1, 2), (6, 11, 4, 0, 1)],
)
def test_bank_equals_torch_conv2d(k: int, f: int, stride: int, padding: int, dilation: int) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(k * f)
    volume = rng.standard_normal((40, 37, 3))
    weights = rng.standard_normal((k, 3, f, f))
    bias = rng.standard_normal(k)
    ours = conv_layer(
        volume, Bank(weights, bias), padding=padding, stride=stride, dilation=dilation
    ).maps
    theirs = torch.nn.functional.conv2d(
        torch.from_numpy(np.moveaxis(volume, -1, 0)[None]),
        torch.from_numpy(weights),
        torch.from_numpy(bias),
        stride=stride,
        padding=padding,
        dilation=dilation,
    )[0].numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)


# --- the seed slides' example 4 and the parameter count ------------------------------------------


def test_slide_example_4_volumes_and_parameters() -> None:
    volume = np.zeros((64, 64, 3))
    bank = Bank(np.ones((8, 3, 5, 5)), None)
    assert conv_layer(volume, bank).maps.shape == (8, 60, 60)
    assert conv_layer(volume, bank, padding=2).maps.shape == (8, 64, 64)
    assert parameter_count(bank) == 8 * 5 * 5 * 3 + 8 == 608
    assert formula(bank) == "8*5*5*3 + 8 = 608"


def test_slide_example_4_through_the_cli(runner: CliRunner, tmp_path: Path) -> None:
    np.save(tmp_path / "in.npy", np.zeros((64, 64, 3)))
    np.save(tmp_path / "bank.npy", np.ones((8, 3, 5, 5)))
    for padding, size in (("0", 60), ("2", 64)):
        out = tmp_path / f"maps{padding}.npy"
        result = runner.invoke(
            cli,
            ["features", str(tmp_path / "bank.npy"), str(tmp_path / "in.npy"), str(out)]
            + ["--padding", padding],
        )
        assert result.exit_code == 0, result.stderr
        assert result.stderr == (
            f"features: 64 x 64 x 3 input, 8 kernels 5 x 5 x 3 -> {size} x {size} x 8 "
            f"(padding {padding}, border zero, stride 1,1, dilation 1,1); "
            "parameters 8*5*5*3 + 8 = 608\n"
        )
        assert np.load(out).shape == (8, size, size)


# --- banks from every source ---------------------------------------------------------------------


def test_a_2d_kernel_is_broadcast_over_the_channels() -> None:
    kernel = Kernel([[1, 2], [3, 4]], scale=2, bias=1)
    bank = bank_for(KernelSet("k", (kernel,)), 3)
    assert bank.shape == (1, 3, 2, 2)
    np.testing.assert_array_equal(bank.weights[0, 2], [[0.5, 1], [1.5, 2]])
    assert bank.bias.tolist() == [1.0]
    volume = np.random.default_rng(5).random((5, 5, 3))
    summed = conv_layer(volume.sum(axis=2), KernelSet("k", (kernel,))).maps
    np.testing.assert_allclose(conv_layer(volume, KernelSet("k", (kernel,))).maps, summed)


def test_a_bank_one_channel_deep_is_broadcast_and_others_must_match() -> None:
    bank = Bank(np.ones((2, 1, 3, 3)), [1, 2])
    assert bank_for(bank, 4).shape == (2, 4, 3, 3)
    with pytest.raises(UsageError) as caught:
        bank_for(Bank(np.ones((2, 2, 3, 3)), None, "b.npy"), 3)
    assert str(caught.value) == (
        "the kernels of 'b.npy' are 2 channels deep but the input has 3; a layer's kernels "
        "are as deep as its input"
    )


def test_kernels_of_a_layer_are_of_one_size() -> None:
    kernels = KernelSet("two", (Kernel(np.ones((3, 3)), name="a"), Kernel([[1]], name="b")))
    with pytest.raises(UsageError) as caught:
        bank_for(kernels, 1)
    assert str(caught.value) == "the kernels of a layer must be of one size; got a 3x3, b 1x1"


def test_deep_text_grid(tmp_path: Path) -> None:
    path = tmp_path / "deep.txt"
    path.write_text(
        "# edge, red slice\n1 0\n0 -1\n\n# edge, green slice\n2 0\n0 -2\nbias 0.5\n"
        "---\n0 1\n1 0\n\n0 3\n3 0\n"
    )
    bank = resolve_kernel(str(path), deep=True)
    assert isinstance(bank, Bank)
    assert bank.shape == (2, 2, 2, 2)
    np.testing.assert_array_equal(bank.weights[0, 1], [[2, 0], [0, -2]])
    assert bank.bias.tolist() == [0.5, 0.0]
    flat = resolve_kernel(str(path))  # apply reads four 2-D kernels
    assert isinstance(flat, KernelSet)
    assert len(flat.kernels) == 4


def test_deep_text_grid_needs_groups_of_one_depth(tmp_path: Path) -> None:
    path = tmp_path / "ragged.txt"
    path.write_text("1\n\n2\n---\n3\n")
    with pytest.raises(UsageError) as caught:
        resolve_kernel(str(path), deep=True)
    assert str(caught.value) == (
        "kernel 'ragged.txt': the kernels between '---' lines hold 2, 1 channel slices; every "
        "kernel of a layer needs as many slices as the input has channels"
    )


# --- bias, activation, pooling -------------------------------------------------------------------


def test_bias_per_kernel_or_one_for_all() -> None:
    volume = np.zeros((3, 3, 1))
    bank = Bank(np.ones((2, 1, 1, 1)), [1, 2])
    assert conv_layer(volume, bank).maps[:, 0, 0].tolist() == [1, 2]
    assert conv_layer(volume, bank, bias=[5, 6]).maps[:, 0, 0].tolist() == [5, 6]
    assert conv_layer(volume, bank, bias=7).maps[:, 0, 0].tolist() == [7, 7]
    with pytest.raises(UsageError) as caught:
        conv_layer(volume, bank, bias=[1, 2, 3])
    assert str(caught.value) == (
        "--bias gives 3 numbers for 2 kernels; give one, or one per kernel"
    )


def test_activations() -> None:
    x = np.array([-1000.0, -2.0, 0.0, 3.0, 1000.0])
    assert activate(x, "relu").tolist() == [0, 0, 0, 3, 1000]
    assert activate(x, "leaky-relu", 0.1).tolist() == [-100, -0.2, 0, 3, 1000]
    sigmoid = activate(x, "sigmoid")
    np.testing.assert_allclose(sigmoid, 1 / (1 + np.exp(-np.clip(x, -700, 700))), atol=1e-15)
    assert np.isfinite(sigmoid).all()
    np.testing.assert_allclose(activate(x, "tanh"), np.tanh(x))
    assert activate(x, None) is x
    with pytest.raises(UsageError) as caught:
        conv_layer(np.zeros((2, 2)), Bank(np.ones((1, 1, 1, 1)), None), activation="gelu")  # type: ignore[arg-type]
    assert (
        str(caught.value)
        == "unknown activation 'gelu'; expected one of relu, leaky-relu, sigmoid, tanh"
    )


def test_pooling_against_a_loop() -> None:
    maps = np.random.default_rng(6).standard_normal((2, 7, 9))
    result = pooled(maps, Pooling("max", (3, 2), (2, 3)))
    assert result.shape == (2, 3, 3)  # floor((7-3)/2)+1, floor((9-2)/3)+1
    for k in range(2):
        for i in range(3):
            for j in range(3):
                window = maps[k, 2 * i : 2 * i + 3, 3 * j : 3 * j + 2]
                assert result[k, i, j] == window.max()
    average = pooled(maps, pooling("avg", 2))
    np.testing.assert_allclose(average[0, 1, 2], maps[0, 2:4, 4:6].mean())


def test_pooling_errors() -> None:
    with pytest.raises(UsageError) as caught:
        pooling("median", 2)
    assert str(caught.value) == "unknown pooling 'median'; expected one of max, avg"
    with pytest.raises(GeometryError) as caught_geometry:
        pooled(np.zeros((1, 2, 2)), Pooling("max", (3, 3), (3, 3)))
    assert str(caught_geometry.value) == (
        "the pooling window 3 rows by 3 columns is larger than the maps, 2 rows by 2 columns"
    )
    with pytest.raises(GeometryError) as caught_geometry:
        pooled(np.zeros((1, 1, 5)), Pooling("max", (2, 2), (2, 2)))
    assert str(caught_geometry.value) == (
        "the pooling window 2 rows by 2 columns is larger than the maps, 1 row by 5 columns"
    )


def test_layer_order_is_conv_bias_activation_pool() -> None:
    volume = np.arange(16.0).reshape(4, 4, 1) - 8
    bank = Bank(np.ones((1, 1, 1, 1)), [1])
    result = conv_layer(volume, bank, activation="relu", pool=Pooling("max", (2, 2), (2, 2)))
    expected = pooled(np.maximum(volume[..., 0] + 1, 0)[None], Pooling("max", (2, 2), (2, 2)))
    np.testing.assert_array_equal(result.maps, expected)
    assert result.conv_shape == (4, 4)


# --- the command ---------------------------------------------------------------------------------


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def rgb_image(tmp_path: Path) -> Path:
    pixels = np.random.default_rng(7).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    path = tmp_path / "in.png"
    Image.fromarray(pixels).save(path)
    return path


def test_tiff_pages_are_the_maps_in_image_units(runner: CliRunner, tmp_path: Path) -> None:
    source = rgb_image(tmp_path)
    kernels = tmp_path / "k.txt"
    kernels.write_text("# dx\n-1 0 1\n-1 0 1\n-1 0 1\n---\n# dy\n-1 -1 -1\n0 0 0\n1 1 1\n")
    out = tmp_path / "maps.tiff"
    result = runner.invoke(cli, ["features", str(kernels), str(source), str(out), "-q"])
    assert (result.exit_code, result.stderr) == (0, "")
    pixels = np.asarray(Image.open(source)).astype(np.float64)
    bank = resolve_kernel(str(kernels), deep=True)
    expected = conv_layer(pixels, bank).maps
    with Image.open(out) as tiff:
        assert tiff.n_frames == 2
        for page in range(2):
            tiff.seek(page)
            assert tiff.mode == "F"
            np.testing.assert_allclose(np.asarray(tiff), expected[page], rtol=1e-6)
            assert tiff.tag_v2.get(285) == ("dx", "dy")[page]


def test_writing_the_maps_to_npy_keeps_one_copy_of_them(tmp_path: Path) -> None:
    """The maps are written from their own memory: not converted, stacked and joined anew.

    Each of those copies is the size of all the maps (537 MB for 8 maps of a
    16-megapixel image); with them, tracing saw 4.1 times the maps' size.
    """
    import tracemalloc

    from imgconv.api import features_file

    source = tmp_path / "in.png"
    pixels = np.random.default_rng(3).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(source)
    target = tmp_path / "maps.npy"
    maps_bytes = 8 * 510 * 510 * 4  # the 8 float32 Kirsch maps, valid padding
    tracemalloc.start()
    try:
        features_file("kirsch", str(source), str(target))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    maps = np.load(target)
    assert (maps.shape, maps.dtype) == ((8, 510, 510), np.float32)
    expected = conv_layer(pixels, resolve_kernel("kirsch", deep=True)).maps
    np.testing.assert_array_equal(maps, expected)
    assert peak < 2 * maps_bytes


def test_montage_is_a_labelled_grid(runner: CliRunner, tmp_path: Path) -> None:
    np.save(tmp_path / "in.npy", np.random.default_rng(8).random((10, 10, 2)))
    np.save(tmp_path / "bank.npy", np.random.default_rng(9).standard_normal((5, 2, 3, 3)))
    out = tmp_path / "maps.png"
    result = runner.invoke(
        cli,
        ["features", str(tmp_path / "bank.npy"), str(tmp_path / "in.npy"), str(out), "--montage"],
    )
    assert result.exit_code == 0, result.stderr
    with Image.open(out) as picture:
        assert picture.mode == "L"
        grid = np.asarray(picture)
    # 5 maps of 8 x 8 enlarged 12 times to 96 x 96, in 3 columns and 2 rows
    assert grid.shape[1] > 3 * 96
    assert grid.shape[0] > 2 * 96
    # each tile is stretched to its own range
    assert grid.max() == 255
    assert grid.min() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["out.png"],
            "features writes float maps, which PNG cannot store; write .tiff (a page per map), "
            ".npy, .txt or .csv, or draw them with --montage",
        ),
        (
            ["out.npy", "--pool-size", "3"],
            "--pool-size and --pool-stride shape the pooling; add --pool max or --pool avg",
        ),
        (
            ["out.npy", "--bias", "1,x"],
            "Invalid value for '--bias': --bias '1,x' is not a number or a list such as 0.5,-1,0",
        ),
        (
            ["out.npy", "--pool", "max", "--pool-size", "0"],
            "pool size '0' is below 1; expected whole numbers >= 1",
        ),
        (
            ["out.txt", "--montage"],
            "--montage draws a picture; TXT holds numbers: write .png, or drop --montage",
        ),
        ([], "missing OUTPUT; give an output file, '-', or --print"),
    ],
)
def test_usage_errors(runner: CliRunner, tmp_path: Path, args: list[str], message: str) -> None:
    source = rgb_image(tmp_path)
    result = runner.invoke(
        cli,
        [
            "features",
            "sobel-x",
            str(source),
            *[str(tmp_path / a) if a.startswith("out") else a for a in args],
        ],
    )
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {message}")
    assert not list(tmp_path.glob("out*"))


def test_print_csv_to_stdout_without_output(runner: CliRunner, tmp_path: Path) -> None:
    matrix = tmp_path / "m.txt"
    matrix.write_text("1 2 3\n4 5 6\n7 8 9\n")
    result = runner.invoke(cli, ["features", "1,0;0,-1", str(matrix), "--print", "csv", "-q"])
    assert (result.exit_code, result.stdout) == (0, "-4,-4\n-4,-4\n")


def test_negative_kernels_and_biases_on_the_command_line(runner: CliRunner, tmp_path: Path) -> None:
    matrix = tmp_path / "m.txt"
    matrix.write_text("1 2 3\n")
    kernels = tmp_path / "k.txt"
    kernels.write_text("1\n---\n-1\n")
    result = runner.invoke(
        cli, ["features", str(kernels), str(matrix), "--bias", "-0.5,1", "--print", "csv", "-q"]
    )
    assert (result.exit_code, result.stdout) == (
        0,
        "# k.txt[1]\n0.5,1.5,2.5\n\n# k.txt[2]\n0,-1,-2\n",
    )
    inline = runner.invoke(cli, ["features", "-1,1", str(matrix), "--print", "csv", "-q"])
    assert (inline.exit_code, inline.stdout) == (0, "1,1\n")


def test_print_npy_of_all_maps(runner: CliRunner, tmp_path: Path) -> None:
    matrix = tmp_path / "m.txt"
    matrix.write_text("1 2 3\n4 5 6\n7 8 9\n")
    kernels = tmp_path / "k.txt"
    kernels.write_text("1 0\n0 0\n---\n0 0\n0 1\n")
    result = runner.invoke(cli, ["features", str(kernels), str(matrix), "--print", "npy", "-q"])
    assert result.exit_code == 0
    maps = np.load(io.BytesIO(result.stdout_bytes))
    np.testing.assert_array_equal(maps, [[[1, 2], [4, 5]], [[5, 6], [8, 9]]])


# --- im2col in bands and tiles, against the per-tap formula --------------------------------------


def tap_layer(
    volume: NDArray[np.generic],
    weights: NDArray[np.float64],
    bias: NDArray[np.float64],
    *,
    pads: tuple[int, int, int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    border: str = "zero",
) -> NDArray[np.float64]:
    """out[k] = b_k + sum_{u,v} P[tap(u, v)] @ W[:, :, u, v].T: one product per kernel cell."""
    top, bottom, left, right = pads
    data = volume.astype(np.float64)
    if data.ndim == 2:
        data = data[:, :, np.newaxis]
    widths = ((top, bottom), (left, right), (0, 0))
    mode = Border.parse(border)
    if mode.mode in ("zero", "constant"):
        padded = np.pad(data, widths, constant_values=mode.fill)
    else:
        padded = np.pad(data, widths, mode=mode.numpy_mode)  # type: ignore[call-overload]
    k, _, fh, fw = weights.shape
    (sy, sx), (dy, dx) = stride, dilation
    ho = (padded.shape[0] - dy * (fh - 1) - 1) // sy + 1
    wo = (padded.shape[1] - dx * (fw - 1) - 1) // sx + 1
    out = np.zeros((ho, wo, k))
    for u in range(fh):
        for v in range(fw):
            rows = slice(dy * u, dy * u + sy * (ho - 1) + 1, sy)
            cols = slice(dx * v, dx * v + sx * (wo - 1) + 1, sx)
            out += padded[rows, cols] @ weights[:, :, u, v].T
    return np.moveaxis(out + bias, -1, 0)


def small_blocks(
    monkeypatch: pytest.MonkeyPatch,
    *,
    tile_macs: int,
    min_pixels: int,
    tile_bytes: int = 16 * 2**20,
    chunk_bytes: int = 1,
    band_bytes: int,
    copy_elements: int = 2**16,
    cpus: int = 3,
    rows_bytes: int = 8 * 2**20,
) -> None:
    """Cut the work as small as asked, and on ``cpus`` threads however small the layer.

    ``rows_bytes`` bounds the row copies of :class:`layer_module._RowWindows`
    (too small for one output row: im2col instead).
    """
    monkeypatch.setattr(layer_module, "_ROWS_BYTES", rows_bytes)
    monkeypatch.setattr(layer_module, "_TILE_MACS", tile_macs)
    monkeypatch.setattr(layer_module, "_TILE_MIN_PIXELS", min_pixels)
    monkeypatch.setattr(layer_module, "_TILE_BYTES", tile_bytes)
    monkeypatch.setattr(layer_module, "_CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(layer_module, "_BAND_BYTES", band_bytes)
    monkeypatch.setattr(layer_module, "_COPY_ELEMENTS", copy_elements)
    monkeypatch.setattr(layer_module, "_PARALLEL_MACS", 0)
    monkeypatch.setattr(layer_module, "_BANDS_PER_WORKER", 1)
    monkeypatch.setattr(layer_module, "_cpu_count", lambda: cpus)


def layout_of(
    volume: NDArray[np.float64],
    weights: NDArray[np.float64],
    *,
    pads: tuple[int, int, int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
) -> layer_module._Layout:
    """How ``conv_layer`` cuts the work for float64 ``volume`` and ``weights`` now."""
    (h, w, c), (k, _, fh, fw) = volume.shape, weights.shape
    geometry = plan((h, w), (fh, fw), padding=pads, stride=stride, dilation=dilation)
    cpus = layer_module._cpu_count()
    return layer_module._Layout.make(geometry, c, k, volume.itemsize, cpus)


@settings(max_examples=120, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    size=st.tuples(st.integers(1, 13), st.integers(1, 13)),
    c=st.sampled_from([1, 2, 3, 4]),
    k=st.integers(1, 4),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 5)),
    pads=st.tuples(*[st.integers(0, 3)] * 4),
    stride=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    border=st.sampled_from(["zero", "constant:2.5", "edge", "reflect", "wrap"]),
    blocks=st.tuples(
        st.sampled_from([0, 1, 40, 300, 2000, 900_000]),
        st.sampled_from([1, 2, 5, 256]),
        st.sampled_from([1, 8, 100, 16 * 2**20]),
        st.sampled_from([1, 500, 3000, 2 * 2**20]),
        st.sampled_from([1, 300, 1000, 4000, 4 * 2**20]),
        st.sampled_from([1, 7, 2**16]),
        st.sampled_from([1, 2, 3]),
        st.sampled_from([1, 600, 2000, 20_000, 8 * 2**20]),
    ),
)
def test_im2col_in_blocks_equals_the_per_tap_formula(
    seed: int,
    size: tuple[int, int],
    c: int,
    k: int,
    kernel: tuple[int, int],
    pads: tuple[int, int, int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    border: str,
    blocks: tuple[int, int, int, int, int, int, int, int],
) -> None:
    (fh, fw), (dy, dx) = kernel, dilation
    if dy * (fh - 1) + 1 > size[0] + pads[0] + pads[1]:
        return
    if dx * (fw - 1) + 1 > size[1] + pads[2] + pads[3]:
        return
    rng = np.random.default_rng(seed)
    volume = rng.standard_normal((*size, c))
    weights = rng.standard_normal((k, c, fh, fw))
    bias = rng.standard_normal(k)
    expected = tap_layer(
        volume, weights, bias, pads=pads, stride=stride, dilation=dilation, border=border
    )
    tile_macs, min_pixels, tile_bytes, chunk_bytes, band_bytes, copy_elements, cpus, rows = blocks
    with pytest.MonkeyPatch.context() as monkeypatch:
        small_blocks(
            monkeypatch,
            tile_macs=tile_macs,
            min_pixels=min_pixels,
            tile_bytes=tile_bytes,
            chunk_bytes=chunk_bytes,
            band_bytes=band_bytes,
            copy_elements=copy_elements,
            cpus=cpus,
            rows_bytes=rows,
        )
        bank = Bank(weights, bias)
        result = conv_layer(
            volume, bank, padding=pads, stride=stride, dilation=dilation, border=border
        )
    assert result.maps.shape == expected.shape
    assert result.maps.flags.c_contiguous
    np.testing.assert_allclose(result.maps, expected, rtol=1e-10, atol=1e-10)


# A 23 x 29 x 3 input, 2 kernels 3 x 3, padding (1, 2, 0, 1), stride 2: 12 x 14 outputs. With
# 2 column phases the kernel is 2 x 2 columns wide (one weighted 0): 36 cells, 72 multiply-adds
# a pixel. Band rows of 3 channels x 2 phases x 15 columns of float64: 11 rows, 5 output rows.
CELL = 36 * 8


@pytest.mark.parametrize(
    ("tile_macs", "tile_bytes", "chunk_bytes", "chunk", "tile", "workers"),
    [
        # Tiles of 5 pixels, a row in 5 + 5 + 4; chunks of 2 rows (the band's last one 1).
        (72 * 5, 0, CELL * 28, (2, 14), (1, 5), 2),
        # Chunks of 2 tiles: a row in 10 + 4.
        (72 * 5, 0, CELL * 10, (1, 10), (1, 5), 2),
        # Tiles of 2 rows; chunks of the band's 5 rows: 2 + 2 + 1.
        (72 * 30, 0, CELL * 84, (5, 14), (2, 14), 2),
        # Too small for threads (0 multiply-adds): tiles and chunks of 30 pixels, 2 rows.
        (0, CELL * 30, 1, (2, 14), (2, 14), 1),
    ],
)
def test_bands_chunks_and_partial_tiles_on_threads(
    monkeypatch: pytest.MonkeyPatch,
    tile_macs: int,
    tile_bytes: int,
    chunk_bytes: int,
    chunk: tuple[int, int],
    tile: tuple[int, int],
    workers: int,
) -> None:
    rng = np.random.default_rng(11)
    volume = rng.standard_normal((23, 29, 3))
    weights = rng.standard_normal((2, 3, 3, 3))
    bias = rng.standard_normal(2)
    small_blocks(
        monkeypatch,
        tile_macs=tile_macs,
        min_pixels=1,
        tile_bytes=tile_bytes,
        chunk_bytes=chunk_bytes,
        band_bytes=3 * 2 * 15 * 8 * 11,
        copy_elements=40,
        cpus=2,
    )
    layout = layout_of(volume, weights, pads=(1, 2, 0, 1), stride=(2, 2))
    assert (layout.rows, layout.in_rows, layout.phases, layout.taps) == (5, 11, 2, 2)
    assert (layout.chunk, layout.tile, layout.workers) == (chunk, tile, workers)
    result = conv_layer(volume, Bank(weights, bias), padding=(1, 2, 0, 1), stride=2)
    expected = tap_layer(volume, weights, bias, pads=(1, 2, 0, 1), stride=(2, 2), dilation=(1, 1))
    assert result.maps.shape == (2, 12, 14)
    np.testing.assert_allclose(result.maps, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("stride", "dilation", "phases"),
    [((1, 4), (1, 1), 4), ((3, 3), (2, 1), 3), ((2, 3), (1, 2), 1)],
)
def test_a_column_stride_splits_the_band_by_phase(
    monkeypatch: pytest.MonkeyPatch,
    stride: tuple[int, int],
    dilation: tuple[int, int],
    phases: int,
) -> None:
    """Kernels wider than, and not a multiple of, the stride; image columns not in whole groups."""
    small_blocks(monkeypatch, tile_macs=4 * 2 * 40, min_pixels=1, band_bytes=1, copy_elements=5)
    rng = np.random.default_rng(12)
    volume = rng.standard_normal((11, 14, 4))
    weights = rng.standard_normal((4, 4, 2, 5))
    pads = (1, 2, 3, 0)
    layout = layout_of(volume, weights, pads=pads, stride=stride, dilation=dilation)
    assert layout.phases == phases
    assert layout.rows == 1
    result = conv_layer(
        volume, Bank(weights, None), padding=pads, stride=stride, dilation=dilation, border="wrap"
    )
    expected = tap_layer(
        volume, weights, np.zeros(4), pads=pads, stride=stride, dilation=dilation, border="wrap"
    )
    np.testing.assert_allclose(result.maps, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("dtype", "work"),
    [
        (np.uint8, np.float32),
        (np.uint16, np.float32),
        (np.float16, np.float32),
        (np.float32, np.float32),
        (np.int32, np.float64),
        (np.float64, np.float64),
    ],
)
def test_maps_are_in_the_work_dtype(
    monkeypatch: pytest.MonkeyPatch, dtype: type[np.generic], work: type[np.floating]
) -> None:
    small_blocks(monkeypatch, tile_macs=3 * 12 * 10, min_pixels=1, band_bytes=500)
    volume = np.random.default_rng(13).integers(0, 200, (15, 17, 1)).astype(dtype)
    weights = np.random.default_rng(14).standard_normal((3, 1, 3, 4))
    result = conv_layer(volume, Bank(weights, [1, 2, 3]), padding=1, border="constant:7")
    bias = np.array([1.0, 2, 3])
    one = (1, 1)
    expected = tap_layer(
        volume, weights, bias, pads=(1,) * 4, stride=one, dilation=one, border="constant:7"
    )
    assert result.maps.dtype == work
    tolerance = 1e-4 if work == np.float32 else 1e-12
    np.testing.assert_allclose(result.maps, expected, rtol=tolerance, atol=tolerance * 200)


@pytest.mark.parametrize("activation", ["relu", "leaky-relu", "sigmoid", "tanh"])
def test_bias_activation_and_pooling_per_tile(
    monkeypatch: pytest.MonkeyPatch, activation: Activation
) -> None:
    small_blocks(monkeypatch, tile_macs=5 * 18 * 4, min_pixels=1, band_bytes=300)
    rng = np.random.default_rng(15)
    volume = rng.standard_normal((12, 10, 2))
    weights = rng.standard_normal((5, 2, 3, 3))
    bias = rng.standard_normal(5)
    pool = Pooling("max", (2, 2), (2, 2))
    bank = Bank(weights, bias)
    result = conv_layer(volume, bank, padding=1, activation=activation, leak=0.2, pool=pool)
    maps = tap_layer(volume, weights, bias, pads=(1,) * 4, stride=(1, 1), dilation=(1, 1))
    expected = pooled(activate(maps, activation, 0.2), pool)
    assert result.conv_shape == (12, 10)
    np.testing.assert_allclose(result.maps, expected, rtol=1e-12, atol=1e-12)


def test_threads_only_for_big_layers_of_small_products(monkeypatch: pytest.MonkeyPatch) -> None:
    """A big RGB layer is shared by threads, a few bands each; a small or a deep one is not."""
    monkeypatch.setattr(layer_module, "_cpu_count", lambda: 2)
    one = (1, 1)
    rgb = layout_of(np.zeros((300, 300, 3)), np.zeros((8, 3, 5, 5)), pads=(2,) * 4, stride=one)
    assert rgb.workers == 2
    assert rgb.rows == 38  # 300 rows in 8 bands
    assert rgb.tile == (1, 300)  # 416 pixels of 8 x 75 multiply-adds: a row
    assert rgb.chunk == (11, 300)  # 2 MiB of 75 float64 cells a pixel: 11 rows
    small = layout_of(np.zeros((30, 30, 3)), np.zeros((8, 3, 5, 5)), pads=(2,) * 4, stride=one)
    assert small.workers == 1
    deep = layout_of(np.zeros((300, 300, 64)), np.zeros((64, 64, 3, 3)), pads=(1,) * 4, stride=one)
    assert deep.workers == 1
    assert deep.tile == deep.chunk == (12, 300)  # 16 MiB of 64 x 9 float64 cells a pixel


@pytest.mark.parametrize(
    ("k", "f", "s", "layout_workers", "part"),
    [
        (6, 11, 4, 1, 114),  # im2col would leave it to BLAS's threads
        (8, 5, 1, 2, 416),
        (32, 3, 1, 2, 289),
    ],
)
def test_row_copies_of_a_big_layer_run_on_a_thread_per_cpu(
    monkeypatch: pytest.MonkeyPatch, k: int, f: int, s: int, layout_workers: int, part: int
) -> None:
    """Our threads share the row copies; each product stays under OpenBLAS's threading threshold."""
    monkeypatch.setattr(layer_module, "_cpu_count", lambda: 2)
    geometry = plan((4096, 4096), (f, f), padding=f // 2, stride=(s, s), dilation=(1, 1))
    layout = layer_module._Layout.make(geometry, 3, k, 4, 2)
    assert layout.workers == layout_workers
    rows = layer_module._RowWindows.make(layout, geometry, 3, k, 4, 2)
    assert rows is not None
    assert (rows.layout.workers, rows.part) == (2, part)
    assert k * f * f * 3 * rows.part <= 65536 * 4
    assert rows.layout.rows <= -(-geometry.out_shape[0] // 8)  # 4 bands a worker at least
    one = layer_module._RowWindows.make(layout, geometry, 3, k, 4, 1)
    assert one is not None
    assert one.layout.workers == 1


@pytest.mark.parametrize(
    ("kernel", "stride", "dilation", "taken"),
    [
        ((5, 5), (1, 1), (1, 1), True),
        ((11, 11), (4, 4), (1, 1), True),  # kernel columns 11 of 3 taps x 4 phases
        ((3, 4), (2, 3), (1, 2), True),  # column dilation: one phase
        ((3, 3), (1, 1), (2, 1), False),  # row dilation: the copies would not be adjacent
    ],
)
def test_row_copies_shared_by_output_rows_give_the_im2col_result(
    monkeypatch: pytest.MonkeyPatch,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    taken: bool,
) -> None:
    rng = np.random.default_rng(21)
    volume = rng.standard_normal((61, 47, 3))
    weights = rng.standard_normal((5, 3, *kernel))
    pads = (kernel[0] // 2, kernel[0] // 2, kernel[1] // 2, 1)
    small_blocks(monkeypatch, tile_macs=900_000, min_pixels=16, band_bytes=40_000, cpus=2)
    made = []
    real = layer_module._RowWindows.make

    def watched(*args: Any) -> Any:
        plan = real(*args)
        made.append(plan is not None)
        return plan

    monkeypatch.setattr(layer_module._RowWindows, "make", watched)
    options: dict[str, Any] = {"padding": pads, "stride": stride, "dilation": dilation}
    rowwise = conv_layer(volume, Bank(weights, None), **options).maps
    assert made
    assert all(m == taken for m in made)
    monkeypatch.setattr(layer_module, "_ROWS_BYTES", 0)  # im2col
    im2col = conv_layer(volume, Bank(weights, None), **options).maps
    np.testing.assert_allclose(rowwise, im2col, rtol=1e-12, atol=1e-12)
    expected = tap_layer(volume, weights, np.zeros(5), pads=pads, stride=stride, dilation=dilation)
    np.testing.assert_allclose(rowwise, expected, rtol=1e-12, atol=1e-12)


OVERFLOW = (
    "the maps overflow: values beyond 3.4e+38 (the range of float32) came from the weights, "
    "--bias, --leak or the border value; expected smaller numbers"
)


@pytest.mark.parametrize(
    "args",
    [
        ["[[1e308,1e308],[1e308,1e308]]"],
        ["--bias", "1e308", "sobel-x"],
        ["--leak", "1e308", "--activation", "leaky-relu", "sobel-x"],
        ["--border", "constant:1e38", "--padding", "1", "[[10,10],[10,10]]"],
    ],
)
def test_maps_past_float32_are_one_usage_error(
    runner: CliRunner, tmp_path: Path, args: list[str]
) -> None:
    # From hand-fuzzing: NumPy's warnings, then an internal error as the maps printed.
    source = rgb_image(tmp_path)
    out = tmp_path / "maps.tiff"
    result = runner.invoke(cli, ["features", *args, str(source), str(out), "-q"])
    assert (result.exit_code, result.stderr) == (2, f"Error: {OVERFLOW}\n")
    assert not out.exists()


def test_the_overflow_bound_passes_ordinary_layers_and_catches_large_ones() -> None:
    bank = Bank(np.ones((2, 3, 3, 3)), np.array([1.0, -2.0]))
    u8, f32 = np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 1e3, np.float32)
    maps = 2 * 4 * 4  # as many as the input's values, or fewer: the bound is found
    assert not layer_module._may_overflow(u8, maps, bank, 0.0, 1.0)
    assert not layer_module._may_overflow(u8, 4, bank, 0.0, 1.0)
    assert not layer_module._may_overflow(f32, 2 * maps, bank, 0.0, 0.01)
    assert layer_module._may_overflow(f32, maps, bank, 0.0, 1.0)  # fewer maps: checked
    assert layer_module._may_overflow(f32, 2 * maps, bank, 1e37, 1.0)  # 27 * 1e37 > 1.7e38
    assert layer_module._may_overflow(f32 * np.float32(1e34), 2 * maps, bank, 0.0, 1.0)
    assert layer_module._may_overflow(u8, maps, bank, 0.0, 1e36)  # 255 * 27 * 1e36
    infinite = f32.copy()
    infinite[0, 0, 0] = np.inf
    assert layer_module._may_overflow(infinite, 2 * maps, bank, 0.0, 1.0)
    # An infinite input is not refused: its maps are what it makes them.
    maps = conv_layer(infinite, bank).maps
    assert np.isinf(maps[:, 0, 0]).all()
