"""Batches: many inputs into a directory, names, failures, resuming, worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from imgconv import apply_file
from imgconv.batch import MAX_PIXELS, Outcome, apply_many, expand_inputs, plan_outputs
from imgconv.cli import cli
from imgconv.errors import UsageError
from imgconv.image_io import DEFAULT_MAX_PIXELS, read_picture

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Error:")]


def make_inputs(folder: Path, count: int, corrupt: tuple[int, ...] = ()) -> list[Path]:
    """``count`` small real photographs (crops of the samples), some of them corrupt."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = [np.asarray(Image.open(SAMPLES / name)) for name in ("camera.png", "coffee.png")]
    paths = []
    for index in range(count):
        photo = photos[index % 2]
        top, left = 7 * index % 200, 11 * index % 200
        crop = photo[top : top + 40 + index, left : left + 50]
        suffix = ".tif" if index % 5 == 4 else ".png"
        path = folder / f"p{index:02d}{suffix}"
        Image.fromarray(np.ascontiguousarray(crop)).save(path)
        if index in corrupt:
            path.write_bytes(path.read_bytes()[:60])  # a header and nothing else
        paths.append(path)
    return paths


def test_the_batch_default_pixel_limit_is_image_ios() -> None:
    # Written out in batch.py so that worker processes start without NumPy.
    assert MAX_PIXELS == DEFAULT_MAX_PIXELS


def test_thirty_files_two_corrupt_keep_going(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in", 30, corrupt=(6, 17))
    out = tmp_path / "out"
    result = run("apply", "box:3", str(tmp_path / "in"), "-o", str(out), "--keep-going")
    assert result.exit_code == 1
    bad = [str(inputs[6]), str(inputs[17])]
    assert error_lines(result) == [
        f"Error: {path!r} is truncated or corrupt: image file is truncated" for path in bad
    ]
    summary = result.stderr.splitlines()[-1]
    assert summary.startswith(f"imgconv: 28 written, 2 failed ({bad[0]}, {bad[1]}) of 30 files in ")
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(p.name for p in inputs if p not in (inputs[6], inputs[17]))
    # Each output is exactly what filtering that file alone gives.
    for path in inputs:
        if path in (inputs[6], inputs[17]):
            continue
        alone = tmp_path / f"alone{path.suffix}"
        apply_file("box:3", str(path), str(alone))
        assert (out / path.name).read_bytes() == alone.read_bytes(), path.name


def test_a_batch_stops_at_the_first_failure_without_keep_going(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in", 6, corrupt=(2,))
    out = tmp_path / "out"
    result = run("apply", "sharpen", *map(str, inputs), "-o", str(out), "--jobs", "1")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].endswith(
        "; stopped at the first failure (--keep-going goes on past failures)"
    )
    assert f"2 written, 1 failed ({inputs[2]}), 3 not run of 6 files" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == [inputs[0].name, inputs[1].name]


def test_output_names_from_a_template(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in", 3)
    out = tmp_path / "out"
    result = run(
        "apply", "sobel", *map(str, inputs), "-o", str(out), "--name", "{n}-{stem}-edges.{ext}"
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "1-p00-edges.png",
        "2-p01-edges.png",
        "3-p02-edges.png",
    ]
    result = run("apply", "sobel", str(inputs[0]), "-o", str(out), "--format", "tiff")
    assert result.exit_code == 0
    assert (out / "p00.tif").exists()


def test_colliding_names_are_refused_before_any_work(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for suffix in (".png", ".bmp"):
        Image.new("L", (8, 8), 90).save(folder / f"same{suffix}")
    out = tmp_path / "out"
    result = run("apply", "box:3", str(folder), "-o", str(out), "--name", "{stem}.png")
    assert result.exit_code == 2
    assert error_lines(result) == [
        f"Error: '{folder / 'same.bmp'}' and '{folder / 'same.png'}' would both be written to "
        f"'{out / 'same.png'}'; give --name a field that tells them apart, such as {{ext}} or "
        "{n}"
    ]
    assert not out.exists()


def test_an_output_over_its_own_input_is_refused(tmp_path: Path) -> None:
    (image,) = make_inputs(tmp_path, 1)
    result = run("apply", "box:3", str(image), "-o", str(tmp_path))
    assert result.exit_code == 2
    assert error_lines(result) == [
        f"Error: the output for '{image}' would be '{image}', its own input; choose another -o "
        "directory or a --name such as '{stem}-out.{ext}'"
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "{stem}-{size}.png",
            "--name '{stem}-{size}.png' has an unknown field {size}; expected {stem}, {ext}, "
            "{name}, {parent}, {n}",
        ),
        (
            "../{name}",
            "--name '../{name}' must name a file inside the output directory (no leading '/', "
            "no '..')",
        ),
        (
            "{stem",
            "--name '{stem' is not a valid template (expected '}' before end of string); "
            "expected e.g. '{stem}.png'",
        ),
    ],
)
def test_bad_name_templates(tmp_path: Path, name: str, message: str) -> None:
    (image,) = make_inputs(tmp_path / "in", 1)
    result = run("apply", "box:3", str(image), "-o", str(tmp_path / "out"), "--name", name)
    assert result.exit_code == 2
    assert error_lines(result) == [f"Error: {message}"]


def test_globs_and_directories(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 5)
    make_inputs(tmp_path / "in" / "deeper", 2)
    (tmp_path / "in" / "notes.md").write_text("not an image")
    (tmp_path / "in" / ".hidden.png").write_bytes(b"")
    found = expand_inputs([str(tmp_path / "in" / "*.tif")])
    assert found == [(str(tmp_path / "in" / "p04.tif"), "")]
    shallow = expand_inputs([str(tmp_path / "in")])
    assert [os.path.basename(p) for p, _ in shallow] == [
        f"p0{i}.{'tif' if i == 4 else 'png'}" for i in range(5)
    ]
    deep = expand_inputs([str(tmp_path / "in")], recursive=True)
    assert [(os.path.basename(p), d) for p, d in deep][-2:] == [
        ("p00.png", "deeper"),
        ("p01.png", "deeper"),
    ]
    with pytest.raises(UsageError, match=r"^no files match '.*\*\.jpg'$"):
        expand_inputs([str(tmp_path / "in" / "*.jpg")])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError) as caught:
        expand_inputs([str(empty)])
    assert str(caught.value) == (
        f"directory '{empty}' has no image files (add --recursive to look in its subdirectories)"
    )


def test_recursive_keeps_the_subdirectories(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 2)
    make_inputs(tmp_path / "in" / "a" / "b", 1)
    out = tmp_path / "in" / "out"  # inside the input: never read as input
    for _ in range(2):
        result = run("apply", "box:3", str(tmp_path / "in"), "-r", "-o", str(out), "-q")
        assert result.exit_code == 0, result.output
        assert result.stderr == ""
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.png")) == [
        "a/b/p00.png",
        "p00.png",
        "p01.png",
    ]


def test_skip_existing_and_the_summary(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    out.mkdir()
    (out / inputs[1].name).write_bytes(b"kept as it is")
    result = run("apply", "box:3", *map(str, inputs), "-o", str(out), "--skip-existing")
    assert result.exit_code == 0
    assert result.stderr.startswith("imgconv: 3 written, 1 skipped of 4 files in ")
    assert (out / inputs[1].name).read_bytes() == b"kept as it is"


def test_batch_options_need_an_output_directory(tmp_path: Path) -> None:
    (image,) = make_inputs(tmp_path, 1)
    result = run("apply", "box:3", str(image), str(tmp_path / "o.png"), "--keep-going")
    assert result.exit_code == 2
    help = " (see 'imgconv apply --help')"
    assert error_lines(result) == [f"Error: --keep-going is for batches of files; add -o DIR{help}"]
    result = run("apply", "box:3", str(image), "-o", str(tmp_path / "o"), "--print")
    assert error_lines(result) == [
        f"Error: --print shows one input's maps; it cannot be used with -o{help}"
    ]
    result = run("apply", "box:3", "a.png", "b.png", "c.png")
    assert error_lines(result) == [
        "Error: 3 paths given ('a.png', 'b.png', 'c.png'); expected INPUT and OUTPUT, or "
        f"several inputs with -o DIR{help}"
    ]


def test_apply_many_returns_an_outcome_per_file(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in", 3, corrupt=(1,))
    seen: list[Outcome] = []
    outcomes = apply_many(
        "gaussian:1",
        [str(p) for p in inputs],
        str(tmp_path / "out"),
        jobs=1,
        progress=seen.append,
        depth="16",
    )
    assert [o.status for o in outcomes] == ["written", "failed", "written"]
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].error == f"'{inputs[1]}' is truncated or corrupt: image file is truncated"
    assert outcomes[1].exit_code == 1
    assert outcomes[0].target == str(tmp_path / "out" / "p00.png")
    assert read_picture(outcomes[0].target).pixels.dtype == np.uint16
    assert seen == outcomes


def test_worker_processes_give_the_same_files(tmp_path: Path) -> None:
    inputs = [str(p) for p in make_inputs(tmp_path / "in", 8, corrupt=(3,))]
    one = apply_many("sobel", inputs, str(tmp_path / "one"), jobs=1)
    two = apply_many("sobel", inputs, str(tmp_path / "two"), jobs=2)
    assert [(o.status, o.error) for o in one] == [(o.status, o.error) for o in two]
    for outcome in one:
        if outcome.status == "written":
            name = os.path.basename(outcome.target)
            assert (tmp_path / "two" / name).read_bytes() == Path(outcome.target).read_bytes()


def test_plan_outputs_with_subdirectories(tmp_path: Path) -> None:
    tasks = plan_outputs([("x/a.png", ""), ("x/s/a.png", "s")], "out", name="{parent}-{name}")
    assert [t.target for t in tasks] == ["out/x-a.png", "out/s/s-a.png"]


def test_an_interrupted_batch_finishes_on_a_second_run(tmp_path: Path) -> None:
    """Ctrl-C part-way: whole files and no temporary ones; --skip-existing finishes the rest."""
    folder = tmp_path / "in"
    folder.mkdir()
    count = 8
    for index in range(count):
        (folder / f"p{index}.png").write_bytes((SAMPLES / "coffee.png").read_bytes())
    out = tmp_path / "out"
    # A 31 x 31 kernel tap by tap: some 0.3 s a file, so the batch is still
    # running when the first output appears, however fast the machine.
    command = [sys.executable, "-m", "imgconv", "apply", "gaussian:5", "--method", "direct",
               str(folder), "-o", str(out), "--jobs", "1"]  # fmt: skip
    # Ctrl-C as at a terminal, even where this test runs with SIGINT ignored
    # (a background job of a script, as CI may be), which the child inherits.
    process = subprocess.Popen(
        command,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(out.glob("p*")):
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.decode().splitlines()[-1] == "Error: interrupted"
    done = sorted(p.name for p in out.iterdir())
    assert 1 <= len(done) < count, stderr
    assert all(not name.startswith(".") for name in done)  # no temporary file left
    for name in done:  # every file there is whole
        read_picture(str(out / name))
    again = subprocess.run([*command, "--skip-existing"], capture_output=True, check=False)
    assert again.returncode == 0, again.stderr
    summary = again.stderr.decode().splitlines()[-1]
    assert summary.startswith(
        f"imgconv: {count - len(done)} written, {len(done)} skipped of {count} "
    )
    assert len(list(out.iterdir())) == count


def test_an_output_format_that_cannot_be_is_refused_once(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in", 3)
    out = tmp_path / "out"
    result = run("apply", "box:3", *map(str, inputs), "-o", str(out), "--name", "{stem}")
    assert result.exit_code == 2
    assert error_lines(result) == [
        f"Error: cannot tell the output format of '{out / 'p00'}' from its suffix; use a "
        "suffix such as .png, .jpg, .tif or .npy, or --format"
    ]
    result = run("apply", "box:3", *map(str, inputs), "-o", str(out), "--quality", "50")
    assert error_lines(result) == [
        "Error: --quality applies to JPEG, WebP and AVIF output, not PNG"
    ]
    assert not out.exists()
