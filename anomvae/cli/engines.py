"""Scoring engines behind ``anomvae score --engine NAME``.

An engine takes a :class:`ScoreJob` (everything the command line said) and the
loaded model, writes the output, and returns :class:`ScoreStats`. The command
itself only parses options, loads the model, and reports.

``local`` (here) streams the input in bounded batches through
:func:`anomvae.batch.score_batch` and writes them as they come, reading ahead
(:class:`_Prefetch`) and writing behind (:class:`_WriteBehind`) in background
threads so that reading, scoring and writing overlap on multi-core machines. ``dask``
(:func:`anomvae.distributed.score_job`) scores a glob or directory of files on a
Dask cluster, one partition per file, into a directory of Parquet parts. Adding
an engine takes one entry in :data:`ENGINES`, a function with the signature of
:func:`score_local`; engine-specific options (``--scheduler``, ``--workers``)
go into :attr:`ScoreJob.engine_options` from ``score.py``. Engines are imported
only when chosen, so ``--help`` never imports dask. Every engine must keep the
guarantees of ``score``: outputs written atomically (``anomvae.io.TableWriter``),
the same columns (``anomvae.batch.score_batch``), and errors as
:class:`~anomvae.exceptions.AnomvaeError`.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from anomvae.exceptions import DataError

if TYPE_CHECKING:
    import pyarrow as pa

    from anomvae.batch import ModelInfo
    from anomvae.cli.common import Reporter
    from anomvae.io import Batch, BatchReader, TableWriter

__all__ = [
    "ENGINES",
    "ROW_COLUMN",
    "ScoreJob",
    "ScoreStats",
    "get_engine",
    "score_local",
]

#: Engine name -> "module:function". Add engines here.
ENGINES: dict[str, str] = {
    "local": "anomvae.cli.engines:score_local",
    "dask": "anomvae.distributed:score_job",
}

ROW_COLUMN = "row"  # --row-numbers: 1-based data row number of the input
DEFAULT_BATCH_ROWS = 65_536  # rows per scored batch, at most
DEFAULT_BLOCK_SIZE = 1 << 22  # bytes of CSV parsed at once (as anomvae.io's)


@dataclass
class ScoreJob:
    """What ``anomvae score`` was asked to do."""

    data: str
    model_path: str
    output: str
    rejects: str | None = None
    sep: str | None = None
    output_sep: str = ","
    id_columns: tuple[str, ...] | None = None  # None: those saved with the model
    keep_columns: bool = False
    row_numbers: bool = False
    on_invalid: str = "error"
    allow_empty: bool = False
    threshold: float | None = None
    explain: int = 0
    batch_rows: int = DEFAULT_BATCH_ROWS
    block_size: int = DEFAULT_BLOCK_SIZE
    threads: int | None = None  # torch threads; None: half the available cores
    engine_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScoreStats:
    """What an engine reports back."""

    rows_read: int = 0
    rows_scored: int = 0
    rows_rejected: int = 0
    anomalies: int = 0
    first_reject: str | None = None  # "row 12, column 'x': not a number"


Engine = Callable[["ScoreJob", Any, "Reporter"], ScoreStats]


def get_engine(name: str) -> Engine:
    """The engine function registered under ``name`` (imported now)."""
    module, _, func = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), func)  # type: ignore[no-any-return]


# --------------------------------------------------------------------- local
@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """Run the block with ``threads`` torch threads (default: half the cores
    this process may use, at least 1), then restore the previous setting.

    Reading (pyarrow) and scoring (torch) overlap in ``score``; torch's OpenMP
    threads spin-wait, so letting both claim every core makes each slower. On
    2 shared cores, 2 torch threads scored 2-5x slower than 1.
    """
    import torch

    if threads is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cores = os.cpu_count() or 1
        threads = max(1, cores // 2)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(previous)


class _Prefetch:
    """Read the next batches in a background thread while this one is scored.

    pyarrow's CSV parsing and torch both release the GIL, so reading overlaps
    scoring and writing. At most ``depth`` batches wait in the queue, so memory
    stays bounded. Errors raised while reading are re-raised by the iterator.
    :meth:`close` stops the thread (at the end of the batch it is reading).
    """

    _DONE = object()

    def __init__(self, reader: BatchReader, depth: int = 2) -> None:
        self.reader = reader
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._produce, name="anomvae-reader", daemon=True
        )
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for batch in self.reader:
                if not self._put(batch):
                    return
        except BaseException as exc:  # re-raised in the consuming thread
            self._put(exc)
            return
        self._put(self._DONE)

    def __iter__(self) -> Iterator[Batch]:
        while True:
            try:  # a timeout, so that signal handlers run in this thread
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        deadline = time.monotonic() + 2  # a block is read in well under that
        while self._thread.is_alive() and time.monotonic() < deadline:
            try:  # unblock a producer waiting on a full queue
                self._queue.get_nowait()
            except queue.Empty:
                self._thread.join(0.05)
        if self._thread.is_alive():
            # Stuck in a read (stdin whose writer stalled): a daemon thread that
            # dies with the process. Closing its file under it would block.
            _STUCK.append(self._thread)
        else:
            self.reader.close()


class _WriteBehind:
    """Write tables in a background thread while the next batch is scored.

    The counterpart of :class:`_Prefetch`: pyarrow's CSV and Parquet writers and
    torch both release the GIL, so on two or more cores writing batch *i*
    overlaps scoring batch *i + 1* instead of following it. Tables are written
    in the order given; at most ``depth`` wait in the queue (plus the one being
    written), so memory stays bounded.

    The thread only calls :meth:`TableWriter.write`. Its first exception (disk
    full, broken pipe, a pyarrow error...) stops the writing and is raised again
    here, on the calling thread, by the next :meth:`write`, :meth:`flush` or
    :meth:`close`, so it reaches the user exactly as if the write had failed
    here. Committing (the rename onto the target) only ever happens in
    :meth:`close`, on the calling thread, once every write succeeded; on an
    exception the ``with`` block waits for the write in progress (a file write
    takes well under a second), then discards the output. Waits use timeouts so
    that signal handlers (Ctrl-C, SIGTERM) keep running in the main thread.
    """

    _DONE = object()

    def __init__(self, writer: TableWriter, depth: int = 1) -> None:
        self.writer = writer
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._aborted = False
        self._thread = threading.Thread(
            target=self._consume, name="anomvae-writer", daemon=True
        )
        try:
            self._thread.start()
        except BaseException:
            writer.abort()
            raise

    def _consume(self) -> None:
        while (item := self._queue.get()) is not self._DONE:
            if isinstance(item, threading.Event):  # flush(): all before it written
                item.set()
            elif self._error is None and not self._aborted:
                try:
                    self.writer.write(item)
                except BaseException as exc:  # re-raised in the calling thread
                    self._error = exc

    def _put(self, item: Any) -> None:
        while True:  # the thread always drains the queue, so this ends
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._put(self._DONE)
            while self._thread.is_alive():
                self._thread.join(0.2)

    def write(self, table: pa.Table) -> None:
        """Queue ``table``; raise the error of an earlier write, if any."""
        self._raise()
        self._put(table)

    def flush(self) -> None:
        """Wait until every queued table is written; raise a write error."""
        done = threading.Event()
        self._put(done)
        while not done.wait(0.2):
            continue
        self._raise()

    def close(self) -> None:
        """Write what is queued, then commit the output (or raise, discarding it)."""
        try:
            self._stop()
            self._raise()
        except BaseException:
            self.abort()
            raise
        self.writer.close()

    def abort(self) -> None:
        """Drop what is queued, wait for the write in progress, discard the output."""
        self._aborted = True
        self._stop()
        self.writer.abort()

    def __enter__(self) -> _WriteBehind:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


#: Reader threads abandoned while blocked on input; see input_thread_stuck().
_STUCK: list[threading.Thread] = []


def input_thread_stuck() -> bool:
    """Whether a reader thread was abandoned while blocked reading stdin.

    The interpreter cannot shut down normally then (stdin's buffer is locked
    by that thread), so :func:`anomvae.cli.main` ends the process with
    ``os._exit`` once every output has been cleaned up.
    """
    return any(t.is_alive() for t in _STUCK)


def _output_names(
    job: ScoreJob, passthrough: tuple[str, ...], score: pa.Schema
) -> list[str]:
    names = ([ROW_COLUMN] if job.row_numbers else []) + list(passthrough)
    names += score.names
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(
                f"column {name!r} would appear twice in the output (an input column "
                "clashes with an output column); rename it in the input, or drop "
                "--keep-columns/--row-numbers"
            )
        seen.add(name)
    return names


def _empty_passthrough(reader: BatchReader, data: str) -> pa.Schema:
    """Types of the passthrough columns when no batch arrived (header-only input)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if reader.format == "parquet":
        stored = pq.read_schema(data)
        return pa.schema([stored.field(c) for c in reader.passthrough])
    return pa.schema(
        [
            pa.field(c, pa.float64() if c in reader.columns else pa.string())
            for c in reader.passthrough
        ]
    )


def _assemble(
    job: ScoreJob,
    batch: Batch,
    output_passthrough: list[str],
    scored: pa.Table,
) -> pa.Table:
    import pyarrow as pa

    arrays, names = [], []
    if job.row_numbers:
        arrays.append(pa.array(batch.rows, pa.int64()))
        names.append(ROW_COLUMN)
    for name in output_passthrough:
        arrays.append(batch.passthrough.column(name))
        names.append(name)
    arrays += scored.columns
    names += scored.column_names
    return pa.Table.from_arrays(arrays, names=names)


def score_local(job: ScoreJob, model: Any, reporter: Reporter) -> ScoreStats:
    """Stream ``job.data`` through the model and write ``job.output`` atomically.

    The writers are created before the input is opened, so an unwritable output
    fails before anything is read; any error while reading, scoring or writing
    discards both outputs (the previous files, if any, stay as they were).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from anomvae.batch import IS_ANOMALY, model_info, output_schema, score_batch
    from anomvae.io import REJECTS_SCHEMA, TableWriter, read_batches
    from anomvae.io.cells import cell_message

    info: ModelInfo = model_info(model)
    ids = tuple(job.id_columns or ())
    conditions = info.condition_columns
    passthrough: tuple[str, ...] | bool = (
        True if job.keep_columns else tuple(dict.fromkeys(ids + conditions))
    )
    score_schema = output_schema(model, explain=job.explain)
    stats = ScoreStats()
    with ExitStack() as stack:
        threads = stack.enter_context(torch_threads(job.threads))
        writer = stack.enter_context(
            _WriteBehind(TableWriter(job.output, sep=job.output_sep))
        )
        rejects = (
            stack.enter_context(TableWriter(job.rejects, schema=REJECTS_SCHEMA))
            if job.rejects
            else None
        )
        reader = read_batches(
            job.data,
            columns=info.feature_columns,
            passthrough=passthrough,
            sep=job.sep,
            on_invalid=job.on_invalid,  # type: ignore[arg-type]
            batch_rows=job.batch_rows,
            block_size=job.block_size,
            allow_empty=job.allow_empty,
        )
        try:
            batches = _Prefetch(reader)  # owns the reader from here on
        except BaseException:
            reader.close()
            raise
        stack.callback(batches.close)
        out_passthrough = list(reader.passthrough) if job.keep_columns else list(ids)
        _output_names(job, tuple(out_passthrough), score_schema)
        reporter.log(
            "score.start",
            input=reader.source,
            format=reader.format,
            compression=reader.compression,
            features=len(info.feature_columns),
            bytes=reader.size_bytes,
            threads=threads,
        )
        by_bytes = reader.format == "csv" and reader.size_bytes is not None
        total = reader.size_bytes if by_bytes else reader.num_rows
        progress = stack.enter_context(reporter.progress(total))
        last_log = time.monotonic()
        for batch in batches:
            if batch.rejects.num_rows:
                if stats.first_reject is None:
                    row = batch.rejects.slice(0, 1).to_pylist()[0]
                    stats.first_reject = cell_message(
                        reader.source,
                        row["row"],
                        row["column"],
                        row["value"],
                        row["reason"],
                        fmt=reader.format,
                    )
                if rejects is not None:
                    rejects.write(batch.rejects)
            if len(batch):
                scored = score_batch(
                    model,
                    batch.features,
                    conditions=batch.passthrough if conditions else None,
                    threshold=job.threshold,
                    explain=job.explain,
                )
                writer.write(_assemble(job, batch, out_passthrough, scored))
                stats.rows_scored += len(batch)
                stats.anomalies += pc.sum(scored.column(IS_ANOMALY)).as_py() or 0
            stats.rows_rejected += batch.rejects.num_rows
            progress.update(
                reader.bytes_read if by_bytes else reader.rows_read,
                stats.rows_scored,
            )
            if reporter.verbose and time.monotonic() - last_log > 10:
                last_log = time.monotonic()
                reporter.log(
                    "score.progress",
                    rows=stats.rows_scored,
                    rejected=stats.rows_rejected,
                    anomalies=stats.anomalies,
                )
        if stats.rows_scored == 0:  # header-only input, or every row rejected
            fields = (
                list(_empty_passthrough(reader, job.data)) if out_passthrough else []
            )
            schema = pa.schema(
                ([pa.field(ROW_COLUMN, pa.int64())] if job.row_numbers else [])
                + [f for f in fields if f.name in out_passthrough]
                + list(score_schema)
            )
            writer.write(schema.empty_table())
        writer.flush()  # a failed write fails the job before any output is committed
        stats.rows_read = reader.rows_read
    return stats
