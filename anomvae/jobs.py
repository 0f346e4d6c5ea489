"""Scoring jobs: what ``anomvae score`` was asked to do (:class:`ScoreJob`), what
an engine reports back (:class:`ScoreStats`), the engine registry, and the
streaming ``local`` engine.

An engine takes a :class:`ScoreJob` and the loaded model, writes the output, and
returns :class:`ScoreStats`. The command line only parses options, loads the
model and reports. ``local`` (here) streams the input in bounded batches through
:func:`anomvae.batch.score_batch` and writes them as they come, reading ahead
(:class:`~anomvae.io.threads.Prefetch`) and writing behind
(:class:`~anomvae.io.threads.WriteBehind`) in background threads so that reading,
scoring and writing overlap on multi-core machines. ``dask``
(:func:`anomvae.distributed.engine.score_job`) scores a glob or directory of
files on a Dask cluster, one partition per file, into a directory of Parquet
parts.

With :attr:`ScoreJob.report` an engine also feeds a
:class:`~anomvae.monitoring.RunMonitor` (:func:`run_monitor`, :func:`feed_monitor`)
with every batch it scores, and returns it in :attr:`ScoreStats.monitor`: the
statistics of ``anomvae score --report`` (flag rate against the calibration, score
drift, the columns that moved). The ``dask`` engine feeds one monitor per file and
merges them, so the report covers the whole input.

Adding an engine takes one entry in :data:`ENGINES`, a function with the
signature of :func:`score_local`; engine-specific options go into
:attr:`ScoreJob.engine_options`. Engines are imported only when chosen, so
``anomvae score --help`` never imports dask. Every engine keeps the guarantees of
``score``: outputs written atomically (:class:`anomvae.io.TableWriter`), the same
columns (:func:`anomvae.batch.score_batch`), the model's flag rule applied to the
whole input (a Benjamini-Hochberg model flags only once every p-value of the
input is known: :func:`anomvae.decisions.flag_rule`), and errors as
:class:`~anomvae.exceptions.AnomvaeError`.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import time
import warnings
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from anomvae.exceptions import DataError
from anomvae.runtime import (
    DEFAULT_BATCH_ROWS,
    DEFAULT_BLOCK_SIZE,
    default_score_threads,
    torch_threads,
)

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from anomvae.batch import ModelInfo
    from anomvae.io import Batch, BatchReader
    from anomvae.monitoring import RunMonitor
    from anomvae.reporting import Reporter

__all__ = [
    "BLANK_REASONS",
    "ENGINES",
    "ROW_COLUMN",
    "ScoreJob",
    "ScoreStats",
    "feed_monitor",
    "get_engine",
    "in_precision",
    "run_monitor",
    "score_local",
]

#: Engine name -> "module:function". Add engines here.
ENGINES: dict[str, str] = {
    "local": "anomvae.jobs:score_local",
    "dask": "anomvae.distributed.engine:score_job",
}

ROW_COLUMN = "row"  # --row-numbers: 1-based data row number of the input
#: Reasons in the rejects (``--on-invalid skip``) that make a cell blank for the
#: run report's blank-rate test: an empty (null) cell, or NaN.
BLANK_REASONS = ("missing value", "NaN")


@dataclass
class ScoreJob:
    """What ``anomvae score`` was asked to do."""

    data: str
    model_path: str
    output: str
    rejects: str | None = None
    sep: str | None = None
    output_sep: str = ","
    id_columns: tuple[str, ...] = ()
    keep_columns: bool = False
    row_numbers: bool = False
    on_invalid: str = "error"
    allow_empty: bool = False
    threshold: float | None = None
    explain: int = 0
    batch_rows: int = DEFAULT_BATCH_ROWS
    block_size: int = DEFAULT_BLOCK_SIZE
    threads: int | None = None  # scoring threads; None: default_score_threads()
    #: "float64" (the library's scores) or "float32": the network and reference
    #: codes cast to float32 for speed; scores then differ by ~1e-7 relative and
    #: may depend on the batch at that level (see :func:`in_precision`).
    precision: str = "float64"
    key: bytes | None = None  # the model file's signing key, if any
    engine_options: dict[str, Any] = field(default_factory=dict)
    report: bool = False  # feed a RunMonitor, returned in ScoreStats.monitor
    drift_alpha: float | None = None  # its alarm's rate; None: DEFAULT_ALPHA


@dataclass
class ScoreStats:
    """What an engine reports back."""

    rows_read: int = 0
    rows_scored: int = 0
    rows_rejected: int = 0
    anomalies: int = 0
    first_reject: str | None = None  # "row 12, column 'x': not a number"
    monitor: RunMonitor | None = None  # with ScoreJob.report: the whole input's


Engine = Callable[["ScoreJob", Any, "Reporter"], ScoreStats]


def get_engine(name: str) -> Engine:
    """The engine function registered under ``name`` (imported now)."""
    module, _, func = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), func)  # type: ignore[no-any-return]


# ---------------------------------------------------------------- monitoring
def run_monitor(
    model: Any,
    *,
    threshold: float | None = None,
    alpha: float | None = None,
    source: str = "",
) -> RunMonitor:
    """The :class:`~anomvae.monitoring.RunMonitor` of one run (or one partition)
    of a loaded model.

    Parameters
    ----------
    model : fitted detector or ThresholdCalibrator
        Its detector's ``training_profile_`` (None in files saved before
        profiles existed: no column tests) and, for a calibrator, its
        calibration scores and threshold (a bare detector has no calibration:
        no score tests).
    threshold : float, optional
        The threshold in use when it overrides the model's (``--threshold``).
    alpha : float, optional
        Family-wise false-alarm rate of the alarm; default
        :data:`~anomvae.monitoring.DEFAULT_ALPHA`.
    source : str, default=""
        The input the row numbers refer to (a file; a partition's file).

    Returns
    -------
    RunMonitor
    """
    from anomvae.batch import model_info
    from anomvae.monitoring import DEFAULT_ALPHA, CalibrationReference, RunMonitor

    info = model_info(model)
    detector = model.detector_ if info.calibrated else model
    calibration = (
        CalibrationReference.from_calibrator(model, threshold)
        if info.calibrated
        else None
    )
    return RunMonitor(
        getattr(detector, "training_profile_", None),
        calibration,
        threshold=info.threshold if threshold is None else threshold,
        source=source,
        alpha=DEFAULT_ALPHA if alpha is None else alpha,
    )


def feed_monitor(
    monitor: RunMonitor,
    batch: Batch,
    info: ModelInfo,
    scores: np.ndarray | None,
    flags: np.ndarray | None,
) -> None:
    """Add one read batch to ``monitor``: its feature columns by name (numbers,
    and a mixed-table model's text columns, blanks as missing), the scores and
    flags of its valid rows, and its rejected rows.

    Rows rejected for an empty cell or NaN (:data:`BLANK_REASONS`) count as
    blank in that column's blank-rate test, so a column that goes blank alarms
    even when its rows are skipped. A rejected row names only its first invalid
    cell, so a row with several blank cells counts for the first one.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    features = batch.features
    columns: dict[str, Any] = {
        name: features[:, j] for j, name in enumerate(info.feature_columns)
    }
    for name in info.text_columns:
        text = batch.passthrough.column(name)
        if pa.types.is_string(text.type) or pa.types.is_large_string(text.type):
            text = pc.utf8_trim_whitespace(text)
            empty = pc.equal(text, "")
            text = pc.if_else(empty, pa.scalar(None, text.type), text)
            if name in info.flag_columns:  # "True", "TRUE" and "true" alike
                text = pc.utf8_lower(text)
        elif pa.types.is_boolean(text.type):
            text = pc.utf8_lower(pc.cast(text, pa.string()))
        columns[name] = text
    monitor.update(
        columns,
        np.empty(0) if scores is None else scores,
        flags,
        rows=batch.rows,
        rejected=batch.rejects.num_rows,
        rejected_blanks=_rejected_blanks(batch.rejects),
    )


def _rejected_blanks(rejects: pa.Table) -> dict[str, int]:
    """Rejected rows whose (first) invalid cell is blank, per column."""
    if not rejects.num_rows:
        return {}
    import pyarrow as pa
    import pyarrow.compute as pc

    blank = pc.is_in(rejects.column("reason"), value_set=pa.array(BLANK_REASONS))
    counts = pc.value_counts(rejects.column("column").filter(blank))
    return {
        str(name): int(count)
        for name, count in zip(
            counts.field("values").to_pylist(),
            counts.field("counts").to_pylist(),
            strict=True,
        )
    }


# --------------------------------------------------------------------- local
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

    A model that flags by Benjamini-Hochberg (a calibrator with ``fdr``) needs
    every p-value of the input before it can flag any row: its scored batches go
    to a temporary spill file (next to the output) while the p-values are kept
    (8 bytes a row), then the spill is written out with the flags of the whole
    input.

    With ``job.report``, every batch also goes to a
    :class:`~anomvae.monitoring.RunMonitor` (``stats.monitor``); a
    Benjamini-Hochberg model's flag count is set once its flags are known.
    """
    import numpy as np
    import pyarrow.compute as pc

    from anomvae.batch import IS_ANOMALY, P_VALUE, SCORE, model_info, output_schema
    from anomvae.batch import score_batch as score_rows
    from anomvae.decisions import flag_rule
    from anomvae.io import REJECTS_SCHEMA, TableWriter, read_batches
    from anomvae.io.cells import cell_message
    from anomvae.io.threads import Prefetch, WriteBehind

    info: ModelInfo = model_info(model)
    rule = flag_rule(model, job.threshold)
    ids = tuple(job.id_columns)
    others = info.other_columns
    passthrough: tuple[str, ...] | bool = (
        True if job.keep_columns else tuple(dict.fromkeys(ids + others))
    )
    score_schema = output_schema(model, explain=job.explain)
    stats = ScoreStats()
    monitor = (
        run_monitor(
            model, threshold=job.threshold, alpha=job.drift_alpha, source=job.data
        )
        if job.report
        else None
    )
    threads = default_score_threads() if job.threads is None else job.threads
    workers = _score_workers(model, threads)
    model = in_precision(model, job.precision)

    def score_one(batch: Batch) -> tuple[pa.Table, pa.Table] | None:
        if not len(batch):
            return None
        scored = score_rows(
            model,
            batch.features,
            others=batch.passthrough if others else None,
            threshold=job.threshold,
            explain=job.explain,
        )
        return scored, _assemble(job, batch, out_passthrough, scored)

    with ExitStack() as stack:
        # Several batches at once: one torch thread each (no OpenMP team whose
        # spinning threads compete with the reader); one batch: all threads on it.
        per_batch = 1 if workers > 1 else threads
        stack.enter_context(torch_threads(per_batch))
        _use_threads(model, per_batch, stack)
        # Scoring threads share the warning filters: batch.score_batch's own
        # catch_warnings would race; one filter for the whole run instead.
        stack.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("ignore", message="X does not have valid feature")
        writer = stack.enter_context(
            WriteBehind(TableWriter(job.output, sep=job.output_sep))
        )
        spill = None if rule.per_row else stack.enter_context(_Spill(job.output))
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
            blank_ok=info.blank_columns,
        )
        try:
            batches = Prefetch(reader)  # owns the reader from here on
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
            features=info.n_features,
            bytes=reader.size_bytes,
            threads=threads,
            flag_rule="per-row" if rule.per_row else f"bh(fdr={rule.fdr:g})",
        )
        by_bytes = reader.format == "csv" and reader.size_bytes is not None
        total = reader.size_bytes if by_bytes else reader.num_rows
        progress = stack.enter_context(reporter.progress(total))
        last_log = time.monotonic()
        scored_batches = stack.enter_context(
            closing(_scored(batches, score_one, workers))
        )
        for batch, result in scored_batches:
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
            scores = flags = None
            if result is not None:
                scored, table = result
                if spill is None:
                    writer.write(table)
                    stats.anomalies += pc.sum(scored.column(IS_ANOMALY)).as_py() or 0
                    flags = scored.column(IS_ANOMALY).to_numpy()
                else:
                    spill.write(table, scored.column(P_VALUE).to_numpy())
                    flags = np.zeros(len(batch), dtype=bool)  # counted at the end
                scores = scored.column(SCORE).to_numpy()
                stats.rows_scored += len(batch)
            if monitor is not None:
                feed_monitor(monitor, batch, info, scores, flags)
            stats.rows_rejected += batch.rejects.num_rows
            progress.update(
                reader.bytes_read if by_bytes else reader.rows_read,
                rows=stats.rows_scored,
            )
            if reporter.verbose and time.monotonic() - last_log > 10:
                last_log = time.monotonic()
                reporter.log(
                    "score.progress",
                    rows=stats.rows_scored,
                    rejected=stats.rows_rejected,
                    anomalies=stats.anomalies,
                )
        if spill is not None and stats.rows_scored:
            selected = rule.flags(None, spill.p_values())
            stats.anomalies = int(selected.sum())
            if monitor is not None:  # the flags are known only now
                monitor.flags = stats.anomalies
            for table in spill.replay(selected):
                writer.write(table)
        if stats.rows_scored == 0:  # header-only input, or every row rejected
            writer.write(
                _empty_output(job, reader, out_passthrough, score_schema).empty_table()
            )
        writer.flush()  # a failed write fails the job before any output is committed
        stats.rows_read = reader.rows_read
    stats.monitor = monitor
    return stats


def in_precision(model: Any, precision: str) -> Any:
    """``model`` scoring in ``precision``: itself for "float64" (or a model on a
    GPU, which scores in float32 already); for "float32" a copy whose network and
    latent reference codes are float32 (the scaler and the scales stay float64).

    The float32 path is opt-in (``anomvae score --precision float32``): it breaks
    two promises of the default. Scores move by about 1e-7 relative
    (``benchmarks/results/bench_cli.md`` measures it), and float32 matrix kernels
    round differently with the batch size, so a row's score may differ at that
    level between batches; the same file scored twice still gives the same
    output.
    """
    import copy
    import dataclasses

    import torch

    if precision == "float64":
        return model
    if precision != "float32":
        raise ValueError(f"precision must be 'float64' or 'float32', got {precision!r}")
    calibrated = hasattr(model, "detector_")
    detector = model.detector_ if calibrated else model
    if next(detector.network_.parameters()).device.type != "cpu":
        return model
    fast = copy.copy(detector)
    fast.network_ = copy.deepcopy(detector.network_).to(torch.float32)
    ref = getattr(detector, "latent_reference_", None)
    if ref is not None:
        fast.latent_reference_ = dataclasses.replace(
            ref, codes=ref.codes.to(torch.float32)
        )
    if not calibrated:
        return fast
    wrapper = copy.copy(model)
    wrapper.detector_ = fast
    return wrapper


def _score_workers(model: Any, threads: int) -> int:
    """How many batches ``score_local`` scores at once: ``threads`` for a model on
    the CPU (one torch thread each), 1 on a GPU (its ``threads`` then go to the
    one batch)."""
    detector = getattr(model, "detector_", model)
    network = getattr(detector, "network_", None)
    if network is not None and next(network.parameters()).device.type != "cpu":
        return 1
    return max(1, threads)


def _use_threads(model: Any, threads: int, stack: ExitStack) -> None:
    """Score with ``threads`` torch threads per batch, whatever ``n_jobs`` the
    model was saved with (restored when ``stack`` closes)."""
    detector = getattr(model, "detector_", model)
    if hasattr(detector, "n_jobs"):
        stack.callback(setattr, detector, "n_jobs", detector.n_jobs)
        detector.n_jobs = threads


def _one_torch_thread() -> None:
    """Initialise a scoring thread: torch's thread count is per thread (OpenMP)."""
    import torch

    torch.set_num_threads(1)


def _scored(
    batches: Iterable[Batch], score: Callable[[Batch], Any], workers: int
) -> Generator[tuple[Batch, Any], None, None]:
    """``(batch, score(batch))`` in input order. With ``workers`` > 1 that many
    batches are scored at once in threads (torch releases the GIL), one more waits
    queued, and the results still come back in order: a row's score depends on
    the row alone, so the output is the same as scoring one batch at a time.
    Waits use timeouts so that signal handlers keep running in this thread."""
    if workers <= 1:
        for batch in batches:
            yield batch, score(batch)
        return
    from concurrent.futures import Future, ThreadPoolExecutor

    def result(future: Future[Any]) -> Any:
        while True:
            try:
                return future.result(timeout=0.2)
            except TimeoutError:
                continue

    pending: deque[tuple[Batch, Future[Any]]] = deque()
    pool = ThreadPoolExecutor(
        workers, thread_name_prefix="anomvae-score", initializer=_one_torch_thread
    )
    try:
        for batch in batches:
            pending.append((batch, pool.submit(score, batch)))
            if len(pending) > workers:
                done, future = pending.popleft()
                yield done, result(future)
        while pending:
            done, future = pending.popleft()
            yield done, result(future)
    finally:
        for _, future in pending:
            future.cancel()
        pool.shutdown(wait=True)


def _empty_output(
    job: ScoreJob, reader: BatchReader, out_passthrough: list[str], score: pa.Schema
) -> pa.Schema:
    """The output schema of a run that scored no row."""
    import pyarrow as pa

    fields = list(_empty_passthrough(reader, job.data)) if out_passthrough else []
    return pa.schema(
        ([pa.field(ROW_COLUMN, pa.int64())] if job.row_numbers else [])
        + [f for f in fields if f.name in out_passthrough]
        + list(score)
    )


class _Spill:
    """Scored tables held on disk until the whole input's flags are known.

    An Arrow IPC file in a temporary directory beside ``output`` (the system's
    temporary directory for stdout), removed on exit. The p-values stay in memory
    (8 bytes a row) for the Benjamini-Hochberg selection.
    """

    def __init__(self, output: str) -> None:
        self._output = output
        self._p: list[np.ndarray] = []
        self._writer: Any = None
        self._path = ""
        self._dir: Any = None

    def __enter__(self) -> _Spill:
        parent = None
        if self._output != "-":
            parent = os.path.dirname(os.path.abspath(self._output))
        self._dir = tempfile.TemporaryDirectory(prefix=".anomvae-spill-", dir=parent)
        self._path = os.path.join(self._dir.name, "scored.arrow")
        return self

    def write(self, table: pa.Table, p_values: np.ndarray) -> None:
        import pyarrow as pa

        if self._writer is None:
            self._writer = pa.ipc.new_file(self._path, table.schema)
        self._writer.write_table(table)
        self._p.append(p_values)

    def p_values(self) -> np.ndarray:
        import numpy as np

        return np.concatenate(self._p)

    def replay(self, flags: np.ndarray) -> Iterator[pa.Table]:
        """The spilled tables again, in order, with their rows' final flags."""
        import pyarrow as pa

        from anomvae.batch import set_flags

        self._writer.close()
        self._writer = None
        start = 0
        # Read (copied), not memory-mapped: the writer thread may still hold a
        # table when the file is closed.
        with pa.OSFile(self._path, "rb") as source:
            spilled = pa.ipc.open_file(source)
            for i in range(spilled.num_record_batches):
                table = pa.Table.from_batches([spilled.get_batch(i)])
                yield set_flags(table, flags[start : start + table.num_rows])
                start += table.num_rows

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
        self._dir.cleanup()
