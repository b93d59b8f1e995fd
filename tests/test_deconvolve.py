"""Deconvolution: the core on analytic images, the round trip, Richardson-Lucy, the commands."""

from __future__ import annotations

import io
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from imgconv.cli import cli
from imgconv.core import deconvolve as core
from imgconv.core.catalog import get_builtin
from imgconv.core.filtering import filter_image
from imgconv.errors import GeometryError, KernelError
from imgconv.image_io import read_picture
from imgconv.kernel_source import resolve_kernel
from imgconv.restore import blur_file, deconvolve_file

ROOT = Path(__file__).resolve().parent.parent
CAMERA = ROOT / "sample_images" / "camera.png"


def run(*args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


def pixels(path: str | Path) -> np.ndarray:
    data = read_picture(path).pixels
    return data[..., 0] if data.shape[2] == 1 else data


def psnr(estimate: np.ndarray, reference: np.ndarray, peak: float = 255.0) -> float:
    error = np.mean((estimate.astype(np.float64) - reference.astype(np.float64)) ** 2)
    return float(10 * np.log10(peak**2 / error))


def convolved(image: np.ndarray, spec: str) -> np.ndarray:
    """``image`` blurred as the blur command blurs: true convolution, edge border, no rounding."""
    kernel = resolve_kernel(spec)
    filtered = filter_image(image, kernel, flip=True, normalize=True, map="raw")
    return filtered.pixels.astype(np.float64)


@pytest.fixture(scope="module", name="crop")
def _crop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 192 x 192 piece of camera.png (the head, the camera and some sky): quick to restore."""
    path = tmp_path_factory.mktemp("deconvolve") / "crop.png"
    Image.fromarray(pixels(CAMERA)[40:232, 140:332]).save(path)
    return path


# --- the core, on analytic images -----------------------------------------


def test_normalize_psf_divides_by_the_sum() -> None:
    assert core.normalize_psf([[1, 2, 1]]).tolist() == [[0.25, 0.5, 0.25]]


def test_a_psf_of_weights_near_the_float_range_is_normalised() -> None:
    # Their sum overflowed: "sums to inf", with NumPy's warning on stderr.
    assert core.normalize_psf([[1e308, 1e308], [1e308, 1e308]]).tolist() == [[0.25] * 2] * 2
    assert core.normalize_psf([[1e308, -1e308, 1e308, 1e308]]).tolist() == [[0.5, -0.5, 0.5, 0.5]]
    with pytest.raises(KernelError, match="sums to 0;"):
        core.normalize_psf([[1e308, -1e308]])


@pytest.mark.parametrize(
    ("psf", "message"),
    [
        (
            [[0, 0], [0, 0]],
            "PSF 'PSF' is all zeros; expected a blur whose weights sum to more than 0",
        ),
        (
            [[-1, -2]],
            "PSF 'PSF' sums to -3; a blur spreads light, so its weights must sum to more than 0 "
            "(it is then normalised to sum 1)",
        ),
        ([[1, np.nan]], "PSF 'PSF' holds NaN or infinite values; expected finite numbers"),
        ([1, 2, 3], "PSF 'PSF' has shape (3,); expected a non-empty 2-D matrix"),
    ],
)
def test_bad_psfs_are_refused(psf: list[list[float]], message: str) -> None:
    with pytest.raises(KernelError) as caught:
        core.normalize_psf(psf)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("shape", "size"), [((5, 9), "5 rows by 9 columns"), ((1, 3), "1 row by 3 columns")]
)
def test_a_psf_larger_than_the_image_is_refused(shape: tuple[int, int], size: str) -> None:
    with pytest.raises(GeometryError) as caught:
        core.wiener(np.zeros(shape), np.ones((7, 7)))
    assert str(caught.value) == (
        f"PSF 'PSF' is 7 x 7, larger than the image ({size}); expected a PSF that fits inside "
        "the image"
    )


@pytest.mark.parametrize("method", core.DECONVOLVE_METHODS)
def test_an_unblurred_image_comes_back_unchanged(method: core.DeconvolveMethod) -> None:
    """A 1 x 1 PSF is no blur: every method returns the image."""
    image = np.random.default_rng(0).uniform(0, 255, (9, 11, 2))
    out = core.deconvolve(image, [[3.0]], method=method)
    assert out.shape == image.shape
    np.testing.assert_allclose(out, image, atol=1e-9)


def test_wiener_recovers_a_blurred_impulse() -> None:
    """A blurred impulse is the PSF, its anchor on the impulse; Wiener undoes it."""
    psf = np.array([[1.0, 2.0], [3.0, 7.0]]) / 13  # 7 > 1 + 2 + 3: |H| >= 1/13, nothing erased
    impulse = np.zeros((16, 16))
    impulse[8, 8] = 1
    blurred = convolved(impulse, "1,2;3,7")
    # True convolution, anchor (1, 1): the PSF lands with its anchor on the impulse.
    np.testing.assert_allclose(blurred[7:9, 7:9], psf, atol=1e-12)
    restored = core.wiener(blurred, psf, balance=1e-12)
    np.testing.assert_allclose(restored, impulse, atol=1e-3)  # measured: 2.5e-4 at the borders
    np.testing.assert_allclose(restored[4:12, 4:12], impulse[4:12, 4:12], atol=1e-4)


def test_wiener_and_inverse_recover_a_blurred_step() -> None:
    """A step blurred by 1,4,1 (|H| >= 1/3) is restored; at the borders to within 0.5%.

    The extension beyond the borders fades to the image's mean, which a flat
    border area does not have: measured 0.35 (of a step of 100) at the
    border itself, falling by a factor of 3.7 a pixel inward.
    """
    step = np.zeros((8, 20))
    step[:, 10:] = 100
    blurred = convolved(step, "1,4,1")
    assert blurred[0, 9:11].tolist() == pytest.approx([100 / 6, 500 / 6])
    for restored in (
        core.wiener(blurred, [[1, 4, 1]], balance=1e-12),
        core.inverse(blurred, [[1, 4, 1]], cutoff=0.1),
    ):
        np.testing.assert_allclose(restored, step, atol=0.5)
        np.testing.assert_allclose(restored[:, 8:-8], step[:, 8:-8], atol=1e-3)


def test_richardson_lucy_sharpens_a_blurred_impulse() -> None:
    impulse = np.zeros((15, 15))
    impulse[7, 7] = 100
    blurred = convolved(impulse, "gaussian")
    peaks = [core.richardson_lucy(blurred, get_builtin("gaussian").kernels[0].matrix,
                                  iterations=n)[7, 7] for n in (1, 5, 25)]  # fmt: skip
    assert blurred[7, 7] == pytest.approx(25)
    assert 25 < peaks[0] < peaks[1] < peaks[2] <= 100


def test_progress_is_called_after_every_iteration() -> None:
    calls: list[tuple[int, int]] = []
    core.richardson_lucy(
        np.ones((6, 6)), [[1, 1]], iterations=4, progress=lambda *a: calls.append(a)
    )
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_richardson_lucy_refuses_negative_weights() -> None:
    with pytest.raises(KernelError, match="richardson-lucy needs a PSF without negative weights"):
        core.richardson_lucy(np.ones((6, 6)), [[-1, 3, -1]])


def test_the_package_exports_the_api() -> None:
    import imgconv

    assert imgconv.deconvolve is core.deconvolve
    assert imgconv.deconvolve_file is deconvolve_file
    assert imgconv.blur_file is blur_file


def test_float_types_are_kept() -> None:
    image = np.ones((6, 6), dtype=np.float32)
    assert core.wiener(image, [[1, 1]]).dtype == np.float32
    assert core.wiener(image.astype(np.uint8), [[1, 1]]).dtype == np.float64


# --- Richardson-Lucy's properties -----------------------------------------


@given(
    image=hnp.arrays(
        np.float64,
        st.tuples(st.integers(4, 12), st.integers(4, 12)),
        elements=st.floats(-20, 255, allow_nan=False),
    ),
    psf=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 4), st.integers(1, 4)),
        elements=st.floats(0, 10, allow_nan=False),
    ),
    iterations=st.integers(1, 8),
)
def test_richardson_lucy_is_never_negative(
    image: np.ndarray, psf: np.ndarray, iterations: int
) -> None:
    if not psf.sum() > 0:
        psf[0, 0] = 1.0
    out = core.richardson_lucy(image, psf, iterations=iterations)
    assert np.isfinite(out).all()
    assert (out >= 0).all()


def test_richardson_lucy_improves_at_each_of_the_first_iterations(crop: Path) -> None:
    """On the round trip's Gaussian case, PSNR rises at every one of the first 12 iterations.

    Measured: 24.83 dB after 1 iteration, 26.46 dB after 12; the smallest
    step was +0.058 dB.
    """
    sharp = pixels(crop).astype(np.float64)
    noise = np.random.default_rng(1).normal(0, 2, sharp.shape)
    blurred = np.clip(np.rint(convolved(sharp, "gaussian:2") + noise), 0, 255)
    psf = get_builtin("gaussian:2").kernels[0].matrix
    scores = [psnr(core.richardson_lucy(blurred, psf, iterations=n), sharp) for n in range(1, 13)]
    assert psnr(blurred, sharp) < scores[0]
    assert all(later > earlier for earlier, later in zip(scores, scores[1:], strict=False))


# --- the round trip --------------------------------------------------------

# PSNR gains (dB) over the blurred image, on the 192 x 192 crop of camera.png
# blurred by `imgconv blur PSF --noise 2 --seed 1` (8-bit), each method with
# its defaults. Measured: gaussian:2, blurred 24.06 dB: wiener 27.03 (+2.97),
# richardson-lucy 27.26 (+3.20), inverse 26.54 (+2.48); motion:15,30,
# blurred 21.32 dB: wiener 24.01 (+2.69), richardson-lucy 25.03 (+3.71),
# inverse 23.37 (+2.06). The test asks for a little less than measured.
ROUND_TRIP = [
    ("gaussian:2", "wiener", 2.7),
    ("gaussian:2", "richardson-lucy", 2.9),
    ("gaussian:2", "inverse", 2.2),
    ("motion:15,30", "wiener", 2.4),
    ("motion:15,30", "richardson-lucy", 3.4),
    ("motion:15,30", "inverse", 1.8),
]


@pytest.mark.parametrize(("psf", "method", "gain"), ROUND_TRIP)
def test_round_trip_raises_psnr(
    crop: Path, tmp_path: Path, psf: str, method: core.DeconvolveMethod, gain: float
) -> None:
    blurred, restored = tmp_path / "blurred.png", tmp_path / "restored.png"
    done = blur_file(psf, str(crop), str(blurred), noise=2.0, seed=1)
    assert done.settings == (("noise", 2.0), ("seed", 1))
    deconvolve_file(psf, str(blurred), str(restored), method=method)
    sharp = pixels(crop)
    before, after = psnr(pixels(blurred), sharp), psnr(pixels(restored), sharp)
    assert after - before >= gain, (before, after)


def test_without_noise_wiener_recovers_the_image_away_from_the_borders(crop: Path) -> None:
    """gaussian:1, float (no rounding), balance 1e-10: within 0.1 of 255 inside a 14-pixel margin.

    Measured: at most 0.054 away from the borders (the blur moved pixels by
    up to 96), 25 at the border itself, where the edge border the blur
    used and the mirrored extension deconvolution assumes differ. A blur
    whose transfer function has zeros or near-zeros (a motion or box blur,
    gaussian:1.5 and wider) has erased some frequencies, which no method
    brings back; there the image is only approached.
    """
    sharp = pixels(crop).astype(np.float64)
    blurred = convolved(sharp, "gaussian:1")
    restored = core.wiener(blurred, get_builtin("gaussian:1").kernels[0].matrix, balance=1e-10)
    inner = (slice(14, -14), slice(14, -14))
    assert np.abs(blurred - sharp)[inner].max() > 90
    assert np.abs(restored - sharp)[inner].max() < 0.1


# --- the file API -----------------------------------------------------------


def test_blur_is_reproducible_with_a_seed_and_noisy_without(crop: Path, tmp_path: Path) -> None:
    outputs = []
    for name, seed in (("a.png", 5), ("b.png", 5), ("c.png", None)):
        blur_file("gaussian:2", str(crop), str(tmp_path / name), noise=3.0, seed=seed)
        outputs.append(pixels(tmp_path / name))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert (outputs[0] != outputs[2]).any()
    blur_file("gaussian:2", str(crop), str(tmp_path / "clean.png"))
    noise = outputs[0].astype(float) - pixels(tmp_path / "clean.png")
    assert 2.5 < noise.std() < 3.5


def test_colour_and_alpha_as_in_apply(tmp_path: Path) -> None:
    """Alpha is passed through unchanged (weighted), colour is restored channel by channel."""
    rng = np.random.default_rng(3)
    blocks = (rng.uniform(0, 1, (10, 10, 3)) > 0.5) * np.array([200, 120, 40])
    rgb = np.kron(blocks, np.ones((4, 4, 1)))
    alpha = np.full((40, 40, 1), 255)
    alpha[:, :8] = 128
    rgba = np.concatenate([rgb, alpha], axis=-1).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "in.png")
    blur_file("gaussian:1", str(tmp_path / "in.png"), str(tmp_path / "blurred.png"))
    done = deconvolve_file("gaussian:1", str(tmp_path / "blurred.png"), str(tmp_path / "out.png"))
    out = pixels(tmp_path / "out.png")
    assert done.out_bands == ("R", "G", "B", "A")
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
    blurred = pixels(tmp_path / "blurred.png")
    assert psnr(out[..., :3], rgba[..., :3]) > psnr(blurred[..., :3], rgba[..., :3]) + 3


def test_progress_counts_every_iteration(crop: Path) -> None:
    calls: list[tuple[int, int]] = []
    deconvolve_file(
        "gaussian:2",
        str(crop),
        None,
        method="richardson-lucy",
        iterations=3,
        progress=lambda *a: calls.append(a),
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]


# --- the commands -----------------------------------------------------------


def test_pipeline_through_standard_input_and_output(crop: Path, tmp_path: Path) -> None:
    blurred = run("blur", "gaussian:2", str(crop), "-")
    assert blurred.exit_code == 0, blurred.output
    assert blurred.stdout_bytes.startswith(b"\x89PNG")
    out = tmp_path / "out.png"
    restored = run("deconvolve", "gaussian:2", "-", str(out), input=blurred.stdout_bytes)
    assert restored.exit_code == 0, restored.output
    sharp = pixels(crop)
    before = psnr(np.asarray(Image.open(io.BytesIO(blurred.stdout_bytes))), sharp)
    assert psnr(pixels(out), sharp) > before + 2


def test_print_shows_the_recovered_map(tmp_path: Path) -> None:
    """A numeric matrix is restored as numbers; --print shows them as apply does."""
    (tmp_path / "m.txt").write_text("0 0 0 0 0 0 0\n0 0 1 4 1 0 0\n0 0 0 0 0 0 0\n")
    table = run("deconvolve", "1,4,1", str(tmp_path / "m.txt"), "--balance", "1e-12", "--print")
    assert table.exit_code == 0, table.output
    assert table.output.startswith("wiener 1,4,1  3 x 7")
    numbers = run("deconvolve", "1,4,1", str(tmp_path / "m.txt"), "--balance", "1e-12",
                  "--print", "csv")  # fmt: skip
    values = np.loadtxt(io.StringIO(numbers.output), delimiter=",")
    expected = np.zeros((3, 7))
    expected[1, 3] = 6
    np.testing.assert_allclose(values, expected, atol=0.01)


def test_sixteen_bit_output_and_verbose(crop: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    done = run("blur", "motion:5,45", str(crop), str(out), "--depth", "16", "-v")
    assert done.exit_code == 0, done.output
    assert pixels(out).dtype == np.uint16
    assert done.stderr == (
        f"imgconv: blur with PSF motion:5,45 (5x5, centre 2,2) on {crop} 192x192 L -> L 16-bit, "
        f"{out} PNG\n"
    )


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (
            ["0,0;0,0"],
            "Invalid value for 'PSF': kernel '0,0;0,0' has only zero weights; expected at least "
            "one non-zero weight",
            2,
        ),
        (
            ["-1,-2,-1"],
            "PSF '-1,-2,-1' sums to -4; a blur spreads light, so its weights must sum to more "
            "than 0 (it is then normalised to sum 1)",
            2,
        ),
        (
            ["1,-1"],
            "PSF '1,-1' sums to 0; a blur spreads light, so its weights must sum to more than 0 "
            "(it is then normalised to sum 1)",
            2,
        ),
        (
            ["box:7"],
            "PSF 'box:7' is 7 x 7, larger than the image '{image}' (6 rows by 5 columns); "
            "expected a PSF that fits inside the image",
            2,
        ),
        (
            ["1,nan;1,1"],
            "Invalid value for 'PSF': kernel '1,nan;1,1': 'nan' in row 1 is not a finite number",
            2,
        ),
        (
            ["sobel"],
            "PSF 'sobel' is a set of 2 kernels (sobel-x, sobel-y); deconvolve takes one 2-D PSF",
            2,
        ),
        (
            ["sharpen", "--method", "richardson-lucy"],
            "PSF 'sharpen' has negative weights, which richardson-lucy cannot use (its updates "
            "keep every value >= 0); use --method wiener or inverse",
            2,
        ),
        (
            ["box:3", "--iterations", "5"],
            "--iterations is a setting of --method richardson-lucy, not of wiener",
            2,
        ),
        (
            ["box:3", "--balance", "0"],
            "--balance 0.0 is not a positive number; expected e.g. 0.01",
            2,
        ),
        (
            ["box:3", "--method", "inverse", "--cutoff", "1.5"],
            "--cutoff 1.5 is not in 0..1; expected e.g. 0.1",
            2,
        ),
    ],
)
def test_bad_psfs_and_settings_are_one_line_errors(
    tmp_path: Path, args: list[str], message: str, code: int
) -> None:
    image = tmp_path / "in.png"
    Image.fromarray(np.full((6, 5), 9, np.uint8)).save(image)
    out = tmp_path / "out.png"
    psf, *options = args
    done = run("deconvolve", psf, str(image), str(out), *options)
    assert done.exit_code == code
    assert done.stderr == f"Error: {message.format(image=image)}\n"
    assert done.stdout == ""
    assert not out.exists()


def test_bad_psf_images_are_one_line_errors(tmp_path: Path) -> None:
    image = tmp_path / "in.png"
    Image.fromarray(np.full((6, 5), 9, np.uint8)).save(image)
    out = tmp_path / "out.png"
    nan = np.zeros((3, 3), np.float32)
    nan[0, 0] = np.nan
    Image.fromarray(nan, "F").save(tmp_path / "nan.tif")
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(tmp_path / "zero.png")
    cases = {
        "nan.tif": f"--psf-image '{tmp_path / 'nan.tif'}' holds NaN or infinite values; "
        "expected finite numbers",
        "zero.png": f"PSF '{tmp_path / 'zero.png'}' is all zeros; expected a blur whose "
        "weights sum to more than 0",
    }
    for name, message in cases.items():
        done = run("deconvolve", "--psf-image", str(tmp_path / name), str(image), str(out))
        assert (done.exit_code, done.stderr) == (2, f"Error: {message}\n")
        assert not out.exists()


def test_a_psf_image_is_normalised_and_centred(crop: Path, tmp_path: Path) -> None:
    psf = np.zeros((5, 5), np.uint8)
    psf[2, 1:4] = [50, 100, 50]
    Image.fromarray(psf).save(tmp_path / "psf.png")
    by_image, by_kernel = tmp_path / "a.png", tmp_path / "b.png"
    assert (
        run("blur", "--psf-image", str(tmp_path / "psf.png"), str(crop), str(by_image)).exit_code
        == 0
    )
    assert run("blur", "1,2,1", str(crop), str(by_kernel)).exit_code == 0
    np.testing.assert_array_equal(pixels(by_image), pixels(by_kernel))


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (
            ["blur", "box:3", "IN", "OUT", "--seed", "1"],
            "--seed makes the noise reproducible; add --noise SIGMA",
            2,
        ),
        (
            ["blur", "box:3", "IN", "OUT", "--noise", "-1"],
            "Invalid value for '--noise': -1.0 is not a standard deviation; expected a number >= 0",
            2,
        ),
        (
            ["blur", "box:3", "IN", "OUT", "--noise", "1", "--seed", "-1"],
            "Invalid value for '--seed': -1 is not in the range x>=0.",
            2,
        ),
        (
            # From hand-fuzzing: the noise overflowed float32 with a RuntimeWarning.
            ["blur", "box:3", "IN", "OUT", "--noise", "1e300"],
            "--noise 1e+300 overflows: the noisy values pass 3.4e+38 (the range of float32); "
            "expected a smaller SIGMA",
            2,
        ),
        (
            ["deconvolve", "--psf-image", "IN", "IN", "OUT", "extra"],
            "--psf-image gives the PSF, so the arguments are INPUT and OUTPUT; got a third, "
            "'extra' (see 'imgconv deconvolve --help')",
            2,
        ),
        (["deconvolve", "box:3"], "Missing argument 'INPUT'. (see 'imgconv deconvolve --help')", 2),
        (
            ["deconvolve", "-", "-", "OUT"],
            "PSF and INPUT cannot both be '-': standard input holds only one of them (see "
            "'imgconv deconvolve --help')",
            2,
        ),
        (
            ["deconvolve", "box:3", "missing.png", "OUT"],
            "cannot read 'missing.png': no such file",
            1,
        ),
    ],
)
def test_usage_errors(tmp_path: Path, args: list[str], message: str, code: int) -> None:
    image = tmp_path / "in.png"
    Image.fromarray(np.full((6, 5), 9, np.uint8)).save(image)
    out = tmp_path / "out.png"
    args = [str(image) if a == "IN" else str(out) if a == "OUT" else a for a in args]
    done = run(*args)
    assert (done.exit_code, done.stderr) == (code, f"Error: {message}\n")
    assert not out.exists()


@pytest.mark.parametrize("command", ["deconvolve", "blur"])
def test_help_loads_no_numeric_modules(command: str) -> None:
    probe = (
        "import sys\nfrom imgconv.cli import main\n"
        f"sys.argv = ['imgconv', '{command}', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'scipy', 'PIL', "
        "'rich'}), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert f"Usage: imgconv {command} [OPTIONS] PSF INPUT [OUTPUT]" in done.stdout
    assert done.stderr.strip() == "[]"


def test_the_readme_clock_picture_is_what_its_command_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    commands = [
        shlex.split(line.strip())
        for line in (ROOT / "README.md").read_text().splitlines()
        if line.startswith("    imgconv deconvolve") and "sample_images/results/clock" in line
    ]
    assert commands
    for words in commands:
        expected = ROOT / words[-1]
        done = run(*words[1:-1], str(tmp_path / expected.name))
        assert done.exit_code == 0, done.output
        difference = pixels(tmp_path / expected.name).astype(int) - pixels(expected)
        assert np.abs(difference).max() <= 1  # FFT rounding may differ by a level elsewhere
