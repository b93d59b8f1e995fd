"""Beyond one machine: batches and huge images on a Dask cluster (the ``dask`` extra).

:func:`run_on_dask` runs a batch (:mod:`imgconv.batch`) on a
``dask.distributed`` cluster, one task per file, with the same outcomes,
progress and failure rules as the local batch. :func:`filter_dask` filters
one image held as a ``dask.array`` in bands of rows with ``map_overlap``, each
block computed by the same core function as a local run, so a cluster can
filter an image that no single worker could hold; :func:`filter_file_on_dask`
is ``imgconv apply KERNEL IN OUT --scheduler ...`` for such an image.

Workers read the inputs and write the outputs themselves: every path must
mean the same file on every worker (a shared file system), and imgconv must
be installed on each worker.

Dask is imported inside the functions, so importing this module (and
``imgconv --help``) costs nothing when the extra is not installed.
"""

from __future__ import annotations

import importlib
import logging
import os
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, BinaryIO, Unpack

import numpy as np

from .batch import BatchJob, Outcome, Task, default_jobs, run_task
from .core.vocab import Border, Padding
from .errors import GeometryError, ImgconvError, UsageError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from .core.filtering import FilterOptions
    from .core.geometry import Geometry
    from .core.kernels import Bank, Kernel, KernelSet
    from .image_io import SaveOptions

#: Seconds to wait for a scheduler to answer, and for it to have a worker.
CONNECT_TIMEOUT = 10

#: ``--scheduler`` value that starts a cluster on this machine.
LOCAL = "local"

#: What to install when Dask is missing.
INSTALL_HINT = "pip install 'imgconv[dask]'"

# Loggers whose chatter (connections, heartbeats, shutdown) would spill onto
# stderr, where the command line promises one line per failure.
_NOISY_LOGGERS = ("distributed", "dask", "tornado", "asyncio")


def _module(name: str) -> Any:
    """A Dask module, typed as Any: Dask's own annotations stop at this boundary."""
    return importlib.import_module(name)


def _dask_distributed() -> Any:
    """``distributed``, or a usage error saying which extra to install."""
    try:
        _module("dask.array")  # the extra brings both; check both at once
        return _module("distributed")
    except ImportError as exc:
        msg = f"--scheduler needs the dask extra: {INSTALL_HINT}"
        raise UsageError(msg) from exc


@contextmanager
def quiet_dask() -> Iterator[None]:
    """Silence Dask's logging and warnings in this process while a block runs."""
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextmanager
def dask_client(scheduler: str, *, workers: int | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` on ``scheduler``, closed (with its local cluster) afterwards.

    Parameters
    ----------
    scheduler : str
        A scheduler address (``tcp://host:8786``), or ``"local"`` to start a
        cluster of worker processes on this machine, on the loopback
        interface only.
    workers : int, optional
        Worker processes of a local cluster: one per core by default.

    Raises
    ------
    UsageError
        Dask is not installed, or ``scheduler`` is not an address.
    ImgconvError
        The scheduler cannot be reached within :data:`CONNECT_TIMEOUT`
        seconds, or has no workers.
    """
    distributed = _dask_distributed()
    with quiet_dask():
        if scheduler.strip().lower() == LOCAL:
            # One thread per worker process: filtering holds the GIL for much
            # of its work, and a process per core uses them all.
            cluster = distributed.LocalCluster(
                processes=True,
                n_workers=workers or default_jobs(),
                threads_per_worker=1,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.CRITICAL,
            )
            try:
                with distributed.Client(cluster) as client:
                    _share_cores(client)
                    yield client
            finally:
                cluster.close()
            return
        client = _connect(distributed, scheduler.strip())
        try:
            _wait_for_workers(client, scheduler)
            yield client
        finally:
            client.close()


def _share_cores(client: Any) -> None:
    """Give each local worker its share of the cores, as ``--jobs`` workers get theirs.

    Filtering runs a thread per core the process may use: without this, N
    workers would each run a thread per core of the machine.
    """
    from .batch import core_share, pin_to, usable_cores

    addresses = sorted(client.scheduler_info()["workers"])
    cores = sorted(usable_cores())
    for number, address in enumerate(addresses):
        client.run(pin_to, core_share(cores, len(addresses), number), workers=[address])


def _connect(distributed: Any, address: str) -> Any:
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT)
    except ValueError as exc:  # no port, unknown scheme
        msg = (
            f"--scheduler {address!r} is not a Dask scheduler address ({exc}); expected one "
            "such as tcp://host:8786, or local"
        )
        raise UsageError(msg) from exc
    except (OSError, TimeoutError) as exc:
        msg = (
            f"cannot reach the Dask scheduler at {address!r} (no answer within "
            f"{CONNECT_TIMEOUT} s); start one with 'dask scheduler', or use --scheduler local"
        )
        raise ImgconvError(msg) from exc


def _wait_for_workers(client: Any, address: str) -> None:
    """Refuse a scheduler without workers, where the tasks would wait for ever."""
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        msg = (
            f"the Dask scheduler at {address!r} has no workers (none joined within "
            f"{CONNECT_TIMEOUT} s); start some with 'dask worker {address}'"
        )
        raise ImgconvError(msg) from exc


def run_on_dask(
    job: BatchJob,
    tasks: Sequence[Task],
    scheduler: str,
    *,
    keep_going: bool,
    progress: Callable[[Outcome], None] | None,
) -> list[Outcome]:
    """Run a batch's tasks on a Dask cluster, one task per file; outcomes in task order.

    Each file is :func:`imgconv.batch.run_task` on a worker, which reads the
    input and writes the output itself (so the paths must be shared by the
    workers). Without ``keep_going`` no file starts after a failure: those
    running finish, and the rest are ``not run`` (as in
    :func:`imgconv.batch.run_tasks`).

    Parameters
    ----------
    job : BatchJob
        What every task needs besides its paths; sent to the cluster once.
    tasks : sequence of Task
        The files, from :func:`imgconv.batch.plan_outputs`.
    scheduler : str
        A scheduler address, or ``"local"`` (see :func:`dask_client`).
    keep_going : bool
        Go on past a failed file.
    progress : callable, optional
        Called with each outcome as its file ends, in the order they end.

    Returns
    -------
    list of Outcome

    Raises
    ------
    UsageError
        Dask is not installed, or the address is malformed.
    ImgconvError
        The scheduler cannot be reached, or has no workers.
    """
    if not tasks:
        return []
    with dask_client(scheduler, workers=min(default_jobs(), len(tasks))) as client:
        outcomes = _run(client, job, tasks, keep_going, progress)
    return [outcomes.get(t.index, Outcome(t.source, t.target, "not run")) for t in tasks]


def _run(
    client: Any,
    job: BatchJob,
    tasks: Sequence[Task],
    keep_going: bool,
    progress: Callable[[Outcome], None] | None,
) -> dict[int, Outcome]:
    as_completed = _module("distributed").as_completed

    # Keys name the batch, so two batches on one cluster never share results.
    batch = uuid.uuid4().hex[:12]
    # The job (a kernel can be large) goes to the cluster once, not per file.
    shared = client.scatter(job, hash=False)
    threads = max(1, sum(client.nthreads().values()))
    pending: dict[Any, Task] = {}

    def submit(task: Task) -> Any:
        key = f"imgconv-{batch}-{task.index}"
        # Absolute paths: a worker's working directory is not this one's.
        where = replace(
            task, source=os.path.abspath(task.source), target=os.path.abspath(task.target)
        )
        future = client.submit(run_task, shared, where, pure=False, key=key)
        pending[future] = task
        return future

    # As many tasks in flight as the workers have threads, so each one sent
    # starts at once: after a failure the files running finish and are
    # reported as they are, and no other file starts. A huge batch then
    # does not crowd the scheduler either.
    queue = iter(tasks)
    first = [submit(task) for _, task in zip(range(threads), queue, strict=False)]
    outcomes: dict[int, Outcome] = {}
    stopped = False
    completed = as_completed(first)
    for future in completed:
        task = pending.pop(future)
        outcome = _outcome(future, task)
        outcomes[task.index] = outcome
        if progress is not None:
            progress(outcome)
        stopped = stopped or (outcome.status == "failed" and not keep_going)
        following = None if stopped else next(queue, None)
        if following is not None:
            completed.add(submit(following))
    return outcomes


def _outcome(future: Any, task: Task) -> Outcome:
    """The task's outcome; a task that could not run at all (a lost worker) is a failure."""
    try:
        outcome: Outcome = future.result()
    except ModuleNotFoundError as exc:
        message = f"a Dask worker cannot import {exc.name or 'a module'}: install imgconv there"
    except Exception as exc:  # a worker that died, a task the scheduler gave up on
        message = f"the Dask task failed ({type(exc).__name__}: {exc})"
    else:
        return _as_given(outcome, task)
    return Outcome(task.source, task.target, "failed", " ".join(message.split()), 1)


def _as_given(outcome: Outcome, task: Task) -> Outcome:
    """The outcome of a task sent with absolute paths, told with the paths as given."""
    error = outcome.error
    if error is not None:
        for path in (task.source, task.target):
            error = error.replace(repr(os.path.abspath(path)), repr(path))
    return replace(outcome, source=task.source, target=task.target, error=error)


# --------------------------------------------------------------------------
# One huge image as a dask.array

#: Bytes of floats per block of :func:`filter_dask` by default: larger than a
#: local band (``filtering.BAND_BYTES``), since each block is a task with its
#: own scheduling and transfer costs.
DASK_BAND_BYTES = 64 << 20


def filter_dask(
    image: Any,
    kernel: KernelSet | Kernel | ArrayLike,
    *,
    budget: int = DASK_BAND_BYTES,
    **options: Unpack[FilterOptions],
) -> Any:
    """Filter an image held as a ``dask.array``: the same pixels as ``filter_image``, lazily.

    The image is cut into blocks of whole rows, and each block, with the
    rows its kernel reaches above and below it (``map_overlap``, depth =
    the kernel's reach), computes whole bands of output rows with
    :func:`imgconv.core.filtering.filter_window`, the function a local band
    uses. So no worker holds more than a block, and the result equals
    :func:`~imgconv.core.filtering.filter_image` on the whole image, to the
    bit.

    Parameters
    ----------
    image : dask.array.Array
        ``(H, W)`` or ``(H, W, C)`` of uint8, uint16 or floats; rechunked
        here (rows in bands, columns and channels whole).
    kernel : KernelSet, Kernel or array_like
        As ``filter_image`` takes it.
    budget : int
        About this many bytes of floats per block.
    **options
        As ``filter_image`` takes them, except what needs the whole image
        at once (``map="normalize"``, ``combine="chain"``, kernels of
        several shapes).

    Returns
    -------
    dask.array.Array
        The output pixels, ``(H_out, W_out[, C])``, a block per band.

    Raises
    ------
    UsageError, GeometryError
        As ``filter_image`` raises them, and for a job that needs the whole
        image at once, before anything is computed on the cluster.

    Notes
    -----
    Planning reads the first rows of the image, and for an image with alpha
    (weighted) one pass finds whether all of it is opaque, as the whole
    image's filtering decides.
    """
    return _filter_dask(image, kernel, budget, options)[0]


def _filter_dask(
    image: Any, kernel: KernelSet | Kernel | ArrayLike, budget: int, options: FilterOptions
) -> tuple[Any, _Plan]:
    """:func:`filter_dask`, and what it planned."""
    da = _module("dask.array")

    from .core.filtering import border_rows

    if image.ndim not in (2, 3):
        msg = f"image has shape {image.shape}; expected (H, W) or (H, W, C)"
        raise GeometryError(msg)
    planned = _Plan.make(image, kernel, budget, options)
    top, bottom, left, right = planned.geometry.pads
    if Border.parse(options.get("border", "edge")).mode == "wrap" and (top or bottom):
        # A wrap border's rows come from the far edge, which no block beside
        # it holds: they are added to the image, as padding would add them,
        # and the rows are then not padded again.
        rows = image.shape[0]
        before = border_rows(np.arange(-top, 0), rows, Border("wrap"))
        after = border_rows(np.arange(rows, rows + bottom), rows, Border("wrap"))
        parts = [image[before], image, image[after]]
        image = da.concatenate([part for part in parts if part.shape[0]], axis=0)
        options = {**options, "padding": Padding("explicit", 0, 0, left, right)}
        planned = _Plan.make(image, kernel, budget, options)
        top = bottom = 0
    rows = image.shape[0]
    geometry = planned.geometry
    (ho, _), (sy, _), (reach, _) = geometry.out_shape, geometry.stride, geometry.reach
    # Every block must hold the rows its first and last outputs read, and
    # the rows an edge's border repeats.
    depth = max(reach, top, bottom)
    # Input blocks start on band boundaries (band height x row stride), so
    # each block computes whole bands, and are at least `depth` rows tall,
    # as map_overlap wants.
    step = planned.height * sy
    step *= -(-depth // step)
    bounds = [*range(0, rows, step), rows]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < depth:
        del bounds[-2]
    starts = tuple(bounds[:-1])
    firsts = [min(start // sy, ho) for start in starts] + [ho]
    out_rows = tuple(zip(firsts[:-1], firsts[1:], strict=True))
    if len(starts) == 1:
        depth = 0  # one block: the whole image, no neighbours
    tail = planned.tail
    sizes = tuple(b - a for a, b in zip(bounds[:-1], bounds[1:], strict=True))
    blocks = image.rechunk({0: sizes, **dict.fromkeys(range(1, image.ndim), -1)})
    opaque = _whole_opaque(blocks, kernel, options)

    chunks = (tuple(b - a for a, b in out_rows), *((n,) for n in tail))
    # A single band out of (H, W, C) in, or several out of (H, W) in.
    axes: dict[str, Any] = {}
    if len(tail) < image.ndim - 1:
        axes["drop_axis"] = list(range(1 + len(tail), image.ndim))
    elif len(tail) > image.ndim - 1:
        axes["new_axis"] = list(range(image.ndim, 1 + len(tail)))
    # Only what a block needs goes with each task (not the image's graph).
    block = partial(
        _filter_block,
        kernel=kernel,
        options=options,
        shape=(rows, image.shape[1]),
        starts=starts,
        out_rows=out_rows,
        depth=depth,
        empty=np.empty((0, *tail), planned.dtype),
        opaque=opaque,
    )
    filtered = blocks.map_overlap(
        block,
        depth={axis: depth if axis == 0 else 0 for axis in range(image.ndim)},
        boundary="none",
        trim=False,
        allow_rechunk=False,
        chunks=chunks,
        dtype=planned.dtype,
        meta=np.empty((0,) * (1 + len(tail)), planned.dtype),
        **axes,
    )
    return filtered, planned


def _filter_block(
    window: NDArray[Any],
    *,
    kernel: KernelSet | Kernel | ArrayLike,
    options: FilterOptions,
    shape: tuple[int, int],
    starts: tuple[int, ...],
    out_rows: tuple[tuple[int, int], ...],
    depth: int,
    empty: NDArray[Any],
    opaque: bool | None,
    block_id: tuple[int, ...] | None = None,
) -> NDArray[Any]:
    """The output rows of one block of :func:`filter_dask`, from its rows and overlap."""
    from .core.filtering import filter_window

    assert block_id is not None  # map_blocks passes it
    index = block_id[0]
    first, stop = out_rows[index]
    if first >= stop:  # past the last output row (valid padding)
        return empty
    # boundary="none": the first block has no rows above it.
    start = max(0, starts[index] - depth)
    return filter_window(
        window, start, shape, kernel, (first, stop), opaque=opaque, **options
    ).pixels


@dataclass(frozen=True)
class _Plan:
    """What :func:`filter_dask` needs to know before it builds the graph."""

    geometry: Geometry
    height: int
    dtype: np.dtype[Any]
    tail: tuple[int, ...]
    bands: tuple[str, ...]

    @classmethod
    def make(
        cls, image: Any, kernel: KernelSet | Kernel | ArrayLike, budget: int, options: FilterOptions
    ) -> _Plan:
        """The whole image's geometry and band height, and the output's type and row shape.

        Raises the core's errors for bad options, or for a job that needs
        the whole image at once, before the cluster does any work.
        """
        from .core import filtering

        shape = (*image.shape[:2], image.shape[2] if image.ndim == 3 else 1)
        dtype = np.dtype(image.dtype)
        plan = filtering.plan_bands(shape, dtype, kernel, budget, **options)
        geometry = plan.geometry
        (sy, _), (reach, _) = geometry.stride, geometry.reach
        top, bottom = geometry.pads[:2]
        # The output's type and bands, from its first row that reads an
        # image row (a row of only zero padding cannot be filtered alone),
        # computed from the first rows of the image (as if the border were
        # edge: a wrap border would read the last rows too, and the border
        # changes neither).
        first = min(geometry.out_shape[0] - 1, max(0, -(-(top - reach + 1) // sy)))
        window = np.asarray(image[: 2 * max(reach, top, bottom) + sy + 1])
        edge: FilterOptions = {**options, "border": "edge"}
        probe = filtering.filter_window(window, 0, shape[:2], kernel, (first, first + 1), **edge)
        pixels = probe.pixels
        return cls(geometry, plan.height, pixels.dtype, pixels.shape[1:], probe.bands)


def _whole_opaque(
    image: Any, kernel: KernelSet | Kernel | ArrayLike, options: FilterOptions
) -> bool | None:
    """Whether the whole image is opaque, as ``filter_image`` decides it; None when moot.

    Alpha weighting is skipped for a fully opaque image, and each block must
    make the whole image's choice, not its own.
    """
    from .core import filtering

    if image.ndim != 3:
        return None
    # Moot (None) without alpha weighting: then the image need not be read.
    if filtering.opaque_from(0, image.shape, image.dtype, kernel, **options) is None:
        return None
    # The lowest alpha decides.
    lowest = image[..., -1].min().compute()
    return filtering.opaque_from(lowest, image.shape, image.dtype, kernel, **options)


@dataclass(frozen=True)
class DaskApplied:
    """What :func:`apply_file_on_dask` did, for messages.

    Attributes
    ----------
    source, target : str
        The input and the output, as given.
    format : str
        The output format.
    in_shape, out_shape : tuple of int
        The input's ``(H, W)`` and the output's.
    blocks : int
        How many blocks (tasks) the image was filtered in.
    warnings : tuple of str
        What writing the output warned about.
    """

    source: str
    target: str
    format: str
    in_shape: tuple[int, int]
    out_shape: tuple[int, int]
    blocks: int
    warnings: tuple[str, ...] = ()


def apply_file_on_dask(
    kernel: str | KernelSet | Kernel | Bank,
    source: str,
    target: str,
    scheduler: str,
    *,
    format: str | None = None,
    save: SaveOptions | None = None,
    frame: int | None = None,
    max_pixels: int | None = None,
    budget: int = DASK_BAND_BYTES,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
    **options: Unpack[FilterOptions],
) -> DaskApplied:
    """Filter one image on a Dask cluster, in blocks of rows, and write the output.

    ``imgconv apply KERNEL INPUT OUTPUT --scheduler ...``. An ``.npy`` or
    TIFF input that :func:`imgconv.regions.open_rows` reads by rows is read
    by the workers, each the rows of its block (the path must be the same
    file on every worker); any other input is read here, whole, and sent.
    An ``.npy`` or TIFF output is written here by rows as the blocks arrive,
    so no machine holds the whole output; other formats are encoded whole.

    Parameters
    ----------
    kernel : str, KernelSet, Kernel or Bank
        As :func:`imgconv.api.apply_file` takes it.
    source, target : str
        The input and the output (``-``: standard input, standard output).
    scheduler : str
        A scheduler address, or ``"local"``.
    format, save, frame, max_pixels, **options
        As :func:`imgconv.api.apply_file` takes them (one frame: the first
        by default); not what needs the whole image at once
        (``map="normalize"``, ``combine="chain"`` or ``"stack"``).
    budget : int
        About this many bytes of floats per block.

    Returns
    -------
    DaskApplied

    Raises
    ------
    UsageError, ImgconvError
        As :func:`imgconv.api.apply_file` and :func:`dask_client` raise them.
    """
    from .api import as_kernel_set, check_format, check_numeric
    from .image_io import check_save_options, output_format
    from .matrix_io import NUMBER_FORMATS

    _dask_distributed()
    if kernel == "-" and source == "-":
        msg = "KERNEL and INPUT cannot both be '-': standard input holds only one of them"
        raise UsageError(msg)
    kernels = as_kernel_set(kernel, stdin)
    out_format = output_format(target, format)
    # The same checks, in the same order, as apply_file makes them.
    check_format(out_format, options, stacked=False)
    check_save_options(out_format, save)
    with dask_client(scheduler) as client:
        image, bands, info, numeric = _dask_input(source, frame, max_pixels, budget, stdin)
        settings: FilterOptions = {**options, "bands": bands}
        written = None
        if numeric:  # numbers are kept as numbers, as apply_file keeps them
            check_numeric(source, out_format, len(bands), options)
            settings["map"], settings["depth"] = "raw", "float"
            # One map of numbers is a grey float image to TIFF.
            written = ("L",) if out_format not in NUMBER_FORMATS else None
        filtered, plan = _filter_dask(image, kernels, budget, settings)
        warnings = _write_dask(
            client,
            filtered,
            plan,
            target,
            out_format,
            bands=written or plan.bands,
            info=info,
            save=save,
            stdout=stdout,
        )
    return DaskApplied(
        source,
        target,
        out_format,
        (image.shape[0], image.shape[1]),
        (filtered.shape[0], filtered.shape[1]),
        filtered.numblocks[0],
        tuple(warnings),
    )


def _dask_input(
    source: str, frame: int | None, max_pixels: int | None, budget: int, stdin: BinaryIO | None
) -> tuple[Any, tuple[str, ...], dict[str, Any], bool]:
    """The input as a dask array, with its bands, metadata and whether it holds numbers."""
    da, delayed = _module("dask.array"), _module("dask").delayed

    from .deep import check_pixels
    from .image_io import read_picture

    rows = _open_rows(source) if frame in (None, 0) else None
    if rows is None:
        picture = read_picture(source, stdin=stdin, frame=frame or 0, max_pixels=max_pixels)
        pixels = picture.pixels
        height = max(1, budget // max(1, pixels[:1].nbytes))
        image = da.from_array(pixels, chunks=(height, *pixels.shape[1:]))
        return image, picture.bands, picture.info, picture.numeric
    with rows:
        shape, dtype = tuple(rows.shape), np.dtype(rows.dtype)
        bands, info, numeric, label = rows.bands, dict(rows.info), rows.numeric, rows.label
    check_pixels(label, (shape[1], shape[0]), max_pixels)
    # Each block is read by the worker that filters it, from the shared path
    # (absolute: a worker's working directory is not this one's).
    path = os.path.abspath(source)
    row_bytes = max(1, int(np.prod(shape[1:])) * dtype.itemsize)
    height = max(1, budget // row_bytes)
    parts = [
        da.from_delayed(
            delayed(_read_rows, pure=True)(path, a, min(shape[0], a + height)),
            shape=(min(shape[0], a + height) - a, *shape[1:]),
            dtype=dtype,
        )
        for a in range(0, shape[0], height)
    ]
    image = da.concatenate(parts, axis=0)
    if numeric:  # as read_picture gives a matrix
        image = image.astype(np.float64)
    return image, bands, info, numeric


def _open_rows(source: str) -> Any:
    """A row source for ``source`` if :mod:`imgconv.regions` can read it by rows, else None."""
    try:
        from .regions import open_rows
    except ImportError:  # pragma: no cover - the module ships with imgconv
        return None
    return open_rows(source) if source != "-" else None


def _read_rows(path: str, first: int, stop: int) -> NDArray[Any]:
    """Rows ``first:stop`` of the image at ``path``; run on a worker."""
    source = _open_rows(path)
    if source is None:
        msg = f"{path!r} can no longer be read by rows"
        raise ImgconvError(msg)
    with source:
        return np.asarray(source[first:stop])


def _write_dask(
    client: Any,
    filtered: Any,
    plan: _Plan,
    target: str,
    out_format: str,
    *,
    bands: tuple[str, ...],
    info: dict[str, Any],
    save: SaveOptions | None,
    stdout: BinaryIO | None,
) -> list[str]:
    """Compute the blocks and write them: by rows to ``.npy``/TIFF, else encoded whole."""
    from .image_io import encode_picture, write_output

    create_rows = _row_sinks() if target != "-" and out_format in ("NPY", "TIFF") else None
    if create_rows is None:
        pixels = np.asarray(client.compute(filtered).result())
        data, warnings = encode_picture(pixels, bands, out_format, info=info, save=save)
        write_output(data, target, stdout=stdout)
        return warnings
    sink = create_rows(target, filtered.shape, plan.dtype, out_format, bands, info=info)
    # One graph for all the blocks (sent once); each block is written, in
    # order, as soon as it and those before it are done, then released, so
    # the cluster holds only the blocks waiting their turn.
    futures = client.compute(list(filtered.to_delayed().ravel()))
    with sink:
        first = 0
        for index in range(len(futures)):
            rows = np.asarray(futures[index].result())
            futures[index] = None
            if len(rows):
                sink[first : first + len(rows)] = rows
                first += len(rows)
    return []


def _row_sinks() -> Any:
    try:
        from .regions import create_rows
    except ImportError:  # pragma: no cover - the module ships with imgconv
        return None
    return create_rows
