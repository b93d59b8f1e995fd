"""Many inputs, one kernel: name the outputs, run the files on processes, report each.

:func:`apply_many` is the batch behind ``imgconv apply IN1 IN2 ... -o DIR``.
It expands the inputs (globs, directories, ``--recursive``), plans every
output name from a template before any work, refuses two inputs that would
write one file, and runs one task per file: in this process, on worker
processes (``jobs``), or on a Dask cluster (``scheduler``, see
:mod:`imgconv.distributed`). Each file's outcome is reported as it ends;
one bad file does not stop the others unless asked to.

Each output is written atomically by :func:`imgconv.api.apply_file`, so an
interrupted batch leaves whole files and no partial ones: a second run with
``skip_existing`` finishes the rest.
"""

from __future__ import annotations

import glob
import os
import string
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Unpack

from .errors import ImgconvError, UsageError

if TYPE_CHECKING:
    from .core.filtering import FilterOptions
    from .core.kernels import Bank, Kernel, KernelSet
    from .image_io import SaveOptions

#: The output name when none is given: the input's own name in the directory.
DEFAULT_NAME = "{stem}.{ext}"

#: What a ``--name`` template may hold.
NAME_FIELDS = {
    "stem": "the input's name without its suffix",
    "ext": "the output's suffix without the dot: the input's, or --format's",
    "name": "the input's whole file name",
    "parent": "the name of the input's directory",
    "n": "the input's position in the batch, from 1",
}

#: ``image_io.DEFAULT_MAX_PIXELS``, written out so that importing this module
#: (as each worker process does first) does not import NumPy and Pillow.
MAX_PIXELS = 200_000_000

Status = Literal["written", "skipped", "failed", "not run"]


@dataclass(frozen=True)
class Task:
    """One file of a batch: where it is read from and written to."""

    source: str
    target: str
    index: int


@dataclass(frozen=True)
class Outcome:
    """What became of one file of a batch.

    Attributes
    ----------
    source, target : str
        The input, and the output it was (or would have been) written to.
    status : {'written', 'skipped', 'failed', 'not run'}
        ``skipped``: the output existed (``skip_existing``); ``not run``:
        the batch stopped at an earlier failure.
    error : str or None
        The one-line message of a failure.
    exit_code : int
        The command line's exit code for this file alone (0, 1 or 2).
    seconds : float
        Wall time spent on the file.
    warnings : tuple of str
        What the file's filtering warned about.
    """

    source: str
    target: str
    status: Status
    error: str | None = None
    exit_code: int = 0
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the file was written or rightly skipped."""
        return self.status in ("written", "skipped")


@dataclass(frozen=True)
class BatchJob:
    """Everything each task needs besides its paths; picklable, for worker processes."""

    kernel: KernelSet | Kernel | Bank | str
    format: str | None = None
    save: SaveOptions | None = None
    frame: int | None = None
    max_pixels: int | None = None
    memory_limit: int | None = None
    skip_existing: bool = False
    options: dict[str, Any] = field(default_factory=dict)


def expand_inputs(
    inputs: Sequence[str], *, recursive: bool = False, exclude: str | None = None
) -> list[tuple[str, str]]:
    """Every input file, with the directory its output goes to (relative to the output).

    A file is taken as it is (and kept in the list even if it does not exist:
    reading it then fails on its own). A name with glob characters that is
    not a file is expanded (``**`` matches directories too). A directory
    gives its image files (by suffix; hidden files skipped), and with
    ``recursive`` those of its subdirectories, each keeping its
    subdirectory below the output directory.

    Parameters
    ----------
    inputs : sequence of str
        Files, globs and directories, as given.
    recursive : bool
        Descend into the subdirectories of directory inputs.
    exclude : str, optional
        A directory whose files are never inputs (the output directory,
        when it lies inside an input directory).

    Returns
    -------
    list of (str, str)
        ``(path, subdirectory)`` pairs, the subdirectory ``""`` for files
        given directly.

    Raises
    ------
    UsageError
        A glob that matches nothing, or a directory with no image files.
    """
    found: list[tuple[str, str]] = []
    skip = os.path.realpath(exclude) if exclude else None
    for item in inputs:
        if item == "-":
            msg = "INPUT '-' (standard input) cannot be one of several inputs; give files"
            raise UsageError(msg)
        if os.path.isdir(item):
            files = list(_directory_images(item, recursive, skip))
            if not files:
                deeper = "" if recursive else " (add --recursive to look in its subdirectories)"
                msg = f"directory {item!r} has no image files{deeper}"
                raise UsageError(msg)
            found.extend(files)
        elif not os.path.lexists(item) and glob.has_magic(item):
            matches = sorted(m for m in glob.glob(item, recursive=True) if os.path.isfile(m))
            if not matches:
                msg = f"no files match {item!r}"
                raise UsageError(msg)
            found.extend((m, "") for m in matches)
        else:
            found.append((item, ""))
    return found


def _directory_images(top: str, recursive: bool, skip: str | None) -> Iterator[tuple[str, str]]:
    suffixes = image_suffixes()
    for directory, subdirectories, files in os.walk(top):
        # Sorted in place: os.walk then descends in name order too.
        subdirectories[:] = sorted(
            d
            for d in subdirectories
            if not d.startswith(".") and os.path.realpath(os.path.join(directory, d)) != skip
        )
        relative = os.path.relpath(directory, top)
        for name in sorted(files):
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in suffixes:
                continue
            yield os.path.join(directory, name), "" if relative == "." else relative
        if not recursive:
            return


def image_suffixes() -> frozenset[str]:
    """The file suffixes a directory input is searched for: Pillow's readable ones and .npy."""
    from PIL import Image

    readable = {
        suffix for suffix, format in Image.registered_extensions().items() if format in Image.OPEN
    }
    return frozenset(readable | {".npy"})


def check_name(template: str) -> None:
    """Refuse a ``--name`` template with an unknown field or an escape from the directory.

    Raises
    ------
    UsageError
        Naming the template and what it may hold.
    """
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        msg = f"--name {template!r} is not a valid template ({exc}); expected e.g. '{{stem}}.png'"
        raise UsageError(msg) from exc
    allowed = ", ".join("{" + f + "}" for f in NAME_FIELDS)
    for name in fields:
        if name not in NAME_FIELDS:
            msg = f"--name {template!r} has an unknown field {{{name}}}; expected {allowed}"
            raise UsageError(msg)
    parts = template.replace("\\", "/").split("/")
    if template.startswith(("/", "~")) or ".." in parts or not template.strip():
        msg = (
            f"--name {template!r} must name a file inside the output directory (no leading "
            "'/', no '..')"
        )
        raise UsageError(msg)


def plan_outputs(
    inputs: Sequence[tuple[str, str]],
    outdir: str,
    *,
    name: str = DEFAULT_NAME,
    format: str | None = None,
) -> list[Task]:
    """Name every output before any work, and refuse names that collide.

    Parameters
    ----------
    inputs : sequence of (str, str)
        From :func:`expand_inputs`.
    outdir : str
        The output directory (it need not exist yet).
    name : str
        The template: ``{stem}``, ``{ext}``, ``{name}``, ``{parent}``,
        ``{n}``.
    format : str, optional
        The output format (``--format``); ``{ext}`` is then its usual
        suffix instead of the input's.

    Raises
    ------
    UsageError
        Two inputs that would write the same file, or an output that would
        replace its own input.
    """
    check_name(name)
    ext = _format_suffix(format) if format else None
    tasks: list[Task] = []
    claimed: dict[str, str] = {}
    for index, (source, subdirectory) in enumerate(inputs):
        base = os.path.basename(source)
        stem, suffix = os.path.splitext(base)
        parent = os.path.basename(os.path.dirname(os.path.abspath(source)))
        filled = name.format(
            stem=stem, ext=ext or suffix.lstrip("."), name=base, parent=parent, n=index + 1
        )
        target = os.path.join(outdir, subdirectory, filled)
        key = os.path.realpath(target)
        if key == os.path.realpath(source):
            msg = (
                f"the output for {source!r} would be {target!r}, its own input; choose another "
                "-o directory or a --name such as '{stem}-out.{ext}'"
            )
            raise UsageError(msg)
        if key in claimed:
            msg = (
                f"{claimed[key]!r} and {source!r} would both be written to {target!r}; give "
                "--name a field that tells them apart, such as {ext} or {n}"
            )
            raise UsageError(msg)
        claimed[key] = source
        tasks.append(Task(source, target, index))
    return tasks


def _format_suffix(format: str) -> str:
    """The usual suffix (no dot) of an output format named as ``--format`` takes it."""
    from .image_io import output_format

    chosen = output_format("-", format)
    preferred = {"JPEG": "jpg", "TIFF": "tif", "JPEG2000": "jp2"}
    return preferred.get(chosen, chosen.lower())


def run_task(job: BatchJob, task: Task) -> Outcome:
    """Filter one file of a batch; every failure becomes an :class:`Outcome`, not an exception.

    Top-level and given only picklable values, so worker processes and Dask
    workers can run it.
    """
    from .api import apply_file

    started = time.perf_counter()
    if job.skip_existing and os.path.exists(task.target):
        return Outcome(task.source, task.target, "skipped")
    try:
        directory = os.path.dirname(task.target)
        if directory:
            os.makedirs(directory, exist_ok=True)
        applied = apply_file(
            job.kernel,
            task.source,
            task.target,
            format=job.format,
            save=job.save,
            frame=job.frame,
            max_pixels=job.max_pixels,
            memory_limit=job.memory_limit,
            **job.options,
        )
    except ImgconvError as exc:
        return _failed(task, str(exc), exc.exit_code, started)
    except MemoryError:
        return _failed(task, "not enough memory for this image and kernel", 1, started)
    except OSError as exc:  # making the output's directory
        return _failed(task, f"cannot write {task.target!r}: {exc.strerror or exc}", 1, started)
    except Exception as exc:  # one file's bug must not take the batch down
        return _failed(task, f"internal error ({type(exc).__name__}: {exc})", 1, started)
    return Outcome(
        task.source,
        task.target,
        "written",
        seconds=time.perf_counter() - started,
        warnings=applied.warnings,
    )


def _failed(task: Task, message: str, code: int, started: float) -> Outcome:
    message = " ".join(message.split())
    seconds = time.perf_counter() - started
    return Outcome(task.source, task.target, "failed", message, code, seconds)


def default_jobs() -> int:
    """Worker processes by default: one per core this process may use."""
    return max(1, len(usable_cores()))


def run_tasks(
    job: BatchJob,
    tasks: Sequence[Task],
    *,
    jobs: int = 1,
    keep_going: bool = True,
    progress: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run tasks here (``jobs=1``) or on worker processes; outcomes in task order.

    Without ``keep_going`` no new file starts after a failure; files already
    running finish, and the rest are ``not run``.
    """
    outcomes: dict[int, Outcome] = {}

    def record(outcome: Outcome, task: Task) -> bool:
        outcomes[task.index] = outcome
        if progress is not None:
            progress(outcome)
        return keep_going or outcome.status != "failed"

    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            if not record(run_task(job, task), task):
                break
    else:
        _run_on_processes(job, tasks, min(jobs, len(tasks)), record)
    return [outcomes.get(t.index, Outcome(t.source, t.target, "not run")) for t in tasks]


def _run_on_processes(
    job: BatchJob, tasks: Sequence[Task], jobs: int, record: Callable[[Outcome, Task], bool]
) -> None:
    import multiprocessing

    # forkserver: workers start from a clean process, not a copy of this
    # one's threads (NumPy's, the filtering pool's).
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    cores = sorted(usable_cores())
    executor = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=context,
        initializer=_share_cores,
        initargs=(cores, jobs, context.Value("i", 0)),
    )
    pending: dict[Future[Outcome], Task] = {}
    queue = iter(tasks)
    stopped = False
    try:
        # A few tasks ahead per worker, not all: stopping early then
        # cancels little, and a huge batch does not sit in a queue.
        for task in _take(queue, 2 * jobs):
            pending[executor.submit(run_task, job, task)] = task
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                task = pending.pop(future)
                if not record(future.result(), task):
                    stopped = True
            if not stopped:
                for task in _take(queue, len(done)):
                    pending[executor.submit(run_task, job, task)] = task
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _take(tasks: Iterator[Task], count: int) -> Iterable[Task]:
    for _ in range(count):
        task = next(tasks, None)
        if task is None:
            return
        yield task


def usable_cores() -> set[int]:
    """The cores this process may run on."""
    try:
        return os.sched_getaffinity(0)
    except AttributeError:
        return set(range(os.cpu_count() or 1))


def _share_cores(cores: list[int], jobs: int, counter: Any) -> None:
    """Give each worker process its share of the cores, so N workers do not run N x cores threads.

    Filtering uses one thread per core the process may run on, and BLAS reads
    its thread count from the environment at import; both are set here,
    before the worker imports NumPy.
    """
    with counter.get_lock():  # each worker takes the next number
        number = counter.value
        counter.value += 1
    mine = core_share(cores, jobs, number)
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(len(mine))
    pin_to(mine)


def core_share(cores: Sequence[int], workers: int, number: int) -> set[int]:
    """The cores worker ``number`` of ``workers`` runs on: an equal share, round the cores."""
    share = max(1, len(cores) // workers)
    start = (number * share) % len(cores)
    return {cores[(start + i) % len(cores)] for i in range(share)}


def pin_to(cores: set[int]) -> None:
    """Run this process on ``cores`` only (filtering then uses a thread per core of them)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)


def apply_many(
    kernel: KernelSet | Kernel | Bank | str,
    inputs: Sequence[str],
    outdir: str,
    *,
    name: str = DEFAULT_NAME,
    recursive: bool = False,
    jobs: int | None = None,
    keep_going: bool = True,
    skip_existing: bool = False,
    scheduler: str | None = None,
    format: str | None = None,
    save: SaveOptions | None = None,
    frame: int | None = None,
    max_pixels: int | None = MAX_PIXELS,
    memory_limit: int | Literal["auto"] | None = "auto",
    progress: Callable[[Outcome], None] | None = None,
    planned: Callable[[int], None] | None = None,
    stdin: BinaryIO | None = None,
    **options: Unpack[FilterOptions],
) -> list[Outcome]:
    """Filter many files with one kernel into a directory; one outcome per file.

    Parameters
    ----------
    kernel : str, KernelSet, Kernel or Bank
        As :func:`imgconv.api.apply_file` takes it; resolved once, here.
    inputs : sequence of str
        Files, globs and directories (see :func:`expand_inputs`).
    outdir : str
        Where the outputs go; made if missing, and subdirectories for
        ``recursive`` inputs.
    name : str
        The output name template (see :data:`NAME_FIELDS`).
    recursive : bool
        Take the images of directory inputs' subdirectories too.
    jobs : int, optional
        Worker processes; one per core by default.
    keep_going : bool
        Go on past a failed file (default); otherwise stop starting files.
    skip_existing : bool
        Leave outputs that already exist as they are (to finish an
        interrupted batch).
    scheduler : str, optional
        A Dask scheduler address, or ``"local"`` for a cluster on this
        machine: one task per file there (needs the ``dask`` extra).
    format, save, frame, max_pixels, **options
        As :func:`imgconv.api.apply_file` takes them.
    memory_limit : int, "auto" or None
        As :func:`imgconv.api.apply_file` takes it, for the batch: ``"auto"``
        (a quarter of the machine's memory) is shared by the worker
        processes.
    progress : callable, optional
        Called with each :class:`Outcome` as its file ends.
    planned : callable, optional
        Called with the number of files once they are known, before any
        is filtered.
    stdin : binary file, optional
        Where a kernel ``"-"`` is read from.

    Returns
    -------
    list of Outcome
        In input order.

    Raises
    ------
    UsageError
        Before any file is filtered: a bad kernel or option, a glob that
        matches nothing, colliding output names.
    """
    from .api import as_kernel_set
    from .image_io import check_save_options, output_format

    resolved = as_kernel_set(kernel, stdin) if isinstance(kernel, str) else kernel
    found = expand_inputs(inputs, recursive=recursive, exclude=outdir)
    tasks = plan_outputs(found, outdir, name=name, format=format)
    # An output name whose format is unknown fails every file: say so once.
    for suffix in sorted({os.path.splitext(t.target)[1].lower() for t in tasks}):
        target = next(t.target for t in tasks if t.target.lower().endswith(suffix))
        check_save_options(output_format(target, format), save)
    if planned is not None:
        planned(len(tasks))
    workers = jobs or default_jobs()
    if memory_limit == "auto":
        from .streaming import default_memory_limit

        memory_limit = default_memory_limit() // max(1, min(workers, len(tasks)))
    job = BatchJob(
        resolved,
        format=format,
        save=save,
        frame=frame,
        max_pixels=max_pixels,
        memory_limit=memory_limit,
        skip_existing=skip_existing,
        # Outcomes carry no maps: do not keep a float copy of each result.
        options={**options, "keep_maps": False},
    )
    if scheduler is not None:
        from .distributed import run_on_dask

        return run_on_dask(job, tasks, scheduler, keep_going=keep_going, progress=progress)
    return run_tasks(job, tasks, jobs=workers, keep_going=keep_going, progress=progress)
