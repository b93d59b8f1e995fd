"""Dask: batches and one huge image on a real local cluster give what a local run gives.

The cluster is real: two worker processes on the loopback interface,
started once for the module. Skipped when the ``dask`` extra is not
installed (the ``test`` extra installs it, so CI runs these).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

pytest.importorskip("distributed")
pytest.importorskip("dask.array")

import dask.array as da
from distributed import Client, LocalCluster

from imgconv import distributed as imgconv_dask
from imgconv.batch import Outcome, apply_many
from imgconv.cli import cli
from imgconv.core.filtering import filter_image
from imgconv.distributed import filter_dask, quiet_dask, run_on_dask
from imgconv.errors import ImgconvError, UsageError
from imgconv.kernel_source import resolve_kernel

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"
PHOTOS = ("camera.png", "clock_motion.png", "coffee.png", "horse.png", "text.png")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with quiet_dask():
        local = LocalCluster(
            processes=True,
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
        )
    try:
        yield local
    finally:
        with quiet_dask():
            local.close()


@pytest.fixture(scope="module")
def client(cluster: Any) -> Iterator[Any]:
    with quiet_dask(), Client(cluster) as connected:
        yield connected


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def make_batch(folder: Path) -> list[Path]:
    """Eight files: the five sample photographs, two renamed copies and a corrupt one."""
    folder.mkdir()
    paths = [Path(shutil.copy(SAMPLES / name, folder / name)) for name in PHOTOS]
    paths.append(Path(shutil.copy(SAMPLES / "camera.png", folder / "camera-2.png")))
    paths.append(Path(shutil.copy(SAMPLES / "coffee.png", folder / "coffee-2.png")))
    broken = folder / "broken.png"
    broken.write_bytes((SAMPLES / "horse.png").read_bytes()[:80])  # a header, no pixels
    paths.append(broken)
    return paths


def relative(outcomes: list[Outcome], base: Path) -> list[tuple[Any, ...]]:
    """Outcomes without their timings, targets relative to their output directory."""
    return [
        (o.source, Path(o.target).relative_to(base), o.status, o.error, o.exit_code, o.warnings)
        for o in outcomes
    ]


def test_a_batch_on_the_cluster_equals_the_local_batch(tmp_path: Path, cluster: Any) -> None:
    make_batch(tmp_path / "in")
    local_out, dask_out = tmp_path / "local", tmp_path / "dask"
    options: dict[str, Any] = {"keep_going": True, "stride": (2, 2), "border": "reflect"}
    local = apply_many("sobel", [str(tmp_path / "in")], str(local_out), jobs=1, **options)
    seen: list[Outcome] = []
    remote = apply_many(
        "sobel",
        [str(tmp_path / "in")],
        str(dask_out),
        scheduler=cluster.scheduler_address,
        progress=seen.append,
        **options,
    )
    assert relative(remote, dask_out) == relative(local, local_out)
    assert [o.status for o in remote].count("failed") == 1
    assert remote[0].source.endswith("broken.png")
    assert sorted(o.source for o in seen) == sorted(o.source for o in remote)
    names = sorted(p.name for p in local_out.iterdir())
    assert len(names) == 7
    assert sorted(p.name for p in dask_out.iterdir()) == names
    for name in names:
        assert (dask_out / name).read_bytes() == (local_out / name).read_bytes(), name


def test_without_keep_going_no_file_starts_after_a_failure(tmp_path: Path, cluster: Any) -> None:
    make_batch(tmp_path / "in")
    out = tmp_path / "out"
    outcomes = apply_many(
        "box:3",
        [str(tmp_path / "in")],
        str(out),
        scheduler=cluster.scheduler_address,
        keep_going=False,
    )
    statuses = [o.status for o in outcomes]
    assert statuses[0] == "failed"
    # Two worker threads: at most a few files were running when it failed.
    assert statuses.count("not run") >= len(outcomes) - 4
    for outcome in outcomes[1:]:
        # What is reported is what happened: written files exist, the rest do not.
        assert Path(outcome.target).exists() == (outcome.status == "written"), outcome


def test_the_command_line_with_a_local_cluster_reports_as_a_local_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relative paths too: the workers get them absolute, the messages as given."""
    monkeypatch.chdir(tmp_path)
    make_batch(Path("in"))
    here = run("apply", "box:3", "in", "-o", "a", "--keep-going")
    there = run("apply", "box:3", "in", "-o", "b", "--keep-going", "--scheduler", "local")
    assert there.exit_code == here.exit_code == 1
    lines = there.stderr.splitlines()
    assert lines[:-1] == here.stderr.splitlines()[:-1]
    assert len(lines) == 2
    assert lines[0].startswith("Error: 'in/broken.png' ")
    assert re.fullmatch(
        r"imgconv: 7 written, 1 failed \(in/broken.png\) of 8 files in \d+\.\d s", lines[1]
    )
    for path in Path("a").iterdir():
        assert (Path("b") / path.name).read_bytes() == path.read_bytes()


def test_an_unreachable_scheduler_is_one_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imgconv_dask, "CONNECT_TIMEOUT", 1)
    make_batch(tmp_path / "in")
    result = run("apply", "box:3", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                 "--scheduler", "tcp://127.0.0.1:9")  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: cannot reach the Dask scheduler at 'tcp://127.0.0.1:9' (no answer within 1 s); "
        "start one with 'dask scheduler', or use --scheduler local\n"
    )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_malformed_address_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="is not a Dask scheduler address"):
        run_on_dask(None, [object()], "no port here", keep_going=True, progress=None)  # type: ignore[arg-type, list-item]


def test_without_the_extra_the_message_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(name: str) -> Any:
        raise ImportError(name)

    monkeypatch.setattr(imgconv_dask, "_module", missing)
    with pytest.raises(UsageError) as raised:
        run_on_dask(None, [object()], "local", keep_going=True, progress=None)  # type: ignore[arg-type, list-item]
    assert str(raised.value) == "--scheduler needs the dask extra: pip install 'imgconv[dask]'"


def test_a_scheduler_address_is_not_an_imgconv_error_type_for_nothing() -> None:
    assert issubclass(UsageError, ImgconvError)


# --------------------------------------------------------------------------
# One image as a dask.array


def picture(height: int, channels: int, seed: int = 0) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, 29, channels), dtype=np.uint8)
    if channels == 4:  # partly transparent: alpha weighting matters
        pixels[..., 3] = np.where(rng.random((height, 29)) < 0.8, 255, 40)
    return pixels


@pytest.mark.parametrize("border", ["edge", "zero", "constant:9", "reflect", "reflect101", "wrap"])
@pytest.mark.parametrize("height", [53, 100])
def test_map_overlap_equals_the_whole_image(client: Any, border: str, height: int) -> None:
    image = picture(height, 4)
    kernel = resolve_kernel("gaussian:2")
    options: dict[str, Any] = {"border": border, "stride": 2}
    whole = filter_image(image, kernel, **options).pixels
    lazy = filter_dask(da.from_array(image, chunks=(16, 29, 4)), kernel, budget=4000, **options)
    assert lazy.numblocks[0] >= 3  # blocks and their overlaps were really used
    got = client.compute(lazy).result()
    assert got.dtype == whole.dtype
    assert np.array_equal(got, whole)


@pytest.mark.parametrize(
    ("kernel", "options", "height"),
    [
        ("sobel", {"padding": "valid", "stride": 3}, 77),
        ("box:4", {"padding": "full", "flip": True}, 77),
        ("sobel-x", {"padding": "5", "border": "zero", "map": "abs"}, 77),
        ("laplacian", {"dilation": 2, "border": "reflect101", "channels": "gray"}, 77),
        # FFT bands start on the FFT's block grid, which makes them taller.
        ("gaussian:3", {"method": "fft"}, 1100),
    ],
)
def test_map_overlap_equals_the_whole_image_for_other_geometry(
    client: Any, kernel: str, options: dict[str, Any], height: int
) -> None:
    image = picture(height, 3, seed=1)
    whole = filter_image(image, resolve_kernel(kernel), **options).pixels
    lazy = filter_dask(da.from_array(image), resolve_kernel(kernel), budget=3000, **options)
    assert lazy.numblocks[0] >= 3
    assert np.array_equal(client.compute(lazy).result(), whole)


def test_map_overlap_of_a_grey_two_dimensional_image(client: Any) -> None:
    image = picture(61, 1, seed=2)[..., 0]
    whole = filter_image(image, resolve_kernel("sobel-x"), stride=2).pixels
    lazy = filter_dask(da.from_array(image), resolve_kernel("sobel-x"), budget=1000, stride=2)
    assert lazy.shape == whole.shape
    assert np.array_equal(client.compute(lazy).result(), whole)


def test_a_job_that_needs_the_whole_image_is_refused_before_the_cluster_works() -> None:
    image = da.from_array(picture(20, 3))
    with pytest.raises(UsageError, match="normalize"):
        filter_dask(image, resolve_kernel("box:3"), map="normalize")


def test_one_huge_image_from_the_command_line(tmp_path: Path, cluster: Any) -> None:
    """A matrix read by rows on the workers, written by rows here: what apply writes."""
    source = tmp_path / "big.npy"
    np.save(source, picture(700, 3, seed=3))
    for target in ("out.npy", "out.png"):
        here = run("apply", "gaussian:2", str(source), str(tmp_path / f"here-{target}"))
        there = run(
            "apply", "gaussian:2", str(source), str(tmp_path / f"there-{target}"),
            "--scheduler", cluster.scheduler_address,
        )  # fmt: skip
        # A matrix holds numbers, which PNG cannot: the same refusal.
        assert (there.exit_code, there.stderr) == (here.exit_code, here.stderr)
        if here.exit_code == 0:
            produced = (tmp_path / f"there-{target}").read_bytes()
            assert produced == (tmp_path / f"here-{target}").read_bytes()
    assert (tmp_path / "there-out.npy").exists()


def test_the_file_api_in_many_blocks_writes_what_apply_writes(tmp_path: Path, cluster: Any) -> None:
    from imgconv import apply_file
    from imgconv.image_io import read_picture

    source = tmp_path / "in.png"
    shutil.copy(SAMPLES / "coffee.png", source)
    for name in ("out.tif", "out.png"):
        apply_file("sobel", str(source), str(tmp_path / f"here-{name}"), stride=2)
        done = imgconv_dask.apply_file_on_dask(
            "sobel", str(source), str(tmp_path / f"there-{name}"), cluster.scheduler_address,
            budget=20_000, stride=(2, 2),
        )  # fmt: skip
        assert done.blocks >= 3
        here, there = (read_picture(str(tmp_path / f"{w}-{name}")) for w in ("here", "there"))
        assert np.array_equal(there.pixels, here.pixels)
        assert there.bands == here.bands


def test_the_environment_variable_sends_batches_not_single_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMGCONV_SCHEDULER", "tcp://127.0.0.1:9")
    result = run("apply", "box:3", str(SAMPLES / "horse.png"), str(tmp_path / "out.png"))
    assert result.exit_code == 0, result.stderr
