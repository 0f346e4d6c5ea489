"""Scoring on a Dask cluster: :func:`score_dask` (a glob, a directory or a Dask
DataFrame -> a directory of Parquet parts, written atomically) and the ``dask``
engine of ``anomvae score`` (:func:`score_job`).

Files are scored by one task each, which reads the file
(:func:`~anomvae.distributed.partitions.score_file_table`), writes its part and
returns its row count and, for a run report, the file's
:class:`~anomvae.monitoring.RunMonitor`; the client merges the monitors, so the
report covers the whole input. A Dask DataFrame goes through
``map_partitions`` and ``to_parquet`` (no run report).

dask and dask.distributed are an optional extra (``pip install anomvae[dask]``),
imported only when these functions run.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anomvae.decisions import flag_rule
from anomvae.distributed.cache import load_cached
from anomvae.distributed.files import input_files
from anomvae.distributed.partitions import empty_output, score_file_table, score_frame
from anomvae.exceptions import DataError
from anomvae.io import atomic_directory
from anomvae.jobs import ScoreJob, ScoreStats
from anomvae.runtime import DEFAULT_BATCH_ROWS, available_cores

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from anomvae.monitoring import RunMonitor
    from anomvae.reporting import Reporter

__all__ = ["score_dask", "score_job"]


def _import_dask() -> tuple[Any, Any]:
    try:
        import dask.dataframe as dd
        import distributed
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the dask engine needs dask and distributed: pip install 'anomvae[dask]'"
        ) from None
    return dd, distributed


def _file_schema(
    first: str, model: Any, ids: Sequence[str], explain: int, sep: Any
) -> pa.Schema:
    """Output columns and types, from the first file's schema (no rows scored)."""
    import pyarrow as pa

    from anomvae.batch import model_info, output_schema
    from anomvae.io import read_batches

    info = model_info(model)
    carried = tuple(dict.fromkeys([*ids, *info.other_columns]))
    with read_batches(
        first,
        columns=info.feature_columns,
        passthrough=carried,
        sep=sep,
        batch_rows=1,
        allow_empty=True,
        blank_ok=info.blank_columns,
    ) as reader:
        batch = next(iter(reader), None)
        types = {}
        if batch is not None:
            types = {f.name: f.type for f in batch.passthrough.schema}
        elif reader.format == "parquet":
            import pyarrow.parquet as pq

            schema = pq.read_schema(first)
            types = {c: schema.field(c).type for c in ids}
    fields = [pa.field(c, types.get(c, pa.string())) for c in ids]
    return pa.schema(fields + list(output_schema(model, explain=explain)))


def _file_part(
    path: str,
    number: int,
    directory: str,
    model_path: str,
    schema: pa.Schema,
    **options: Any,
) -> tuple[int, RunMonitor | None]:
    """Score one file into ``directory/part.<number>.parquet``; its row count
    and, with ``report=True``, its run monitor."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table, monitor = score_file_table(path, model_path, **options)
    if table is None:
        table = schema.empty_table()
    try:
        table = table.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise DataError(
            f"{path}: the id columns have other types than in the first file: {exc}"
        ) from None
    pq.write_table(table, os.path.join(directory, f"part.{number}.parquet"))
    return table.num_rows, monitor


def _frame_partition(
    df: pd.DataFrame,
    model_path: str,
    partition_info: dict[str, Any] | None = None,
    key: str | bytes | None = None,
    **options: Any,
) -> pd.DataFrame:
    number = partition_info["number"] if partition_info else "?"
    return score_frame(
        df,
        load_cached(model_path, key),
        source=f"partition {number}",
        batch_rows=DEFAULT_BATCH_ROWS,
        **options,
    )


def score_dask(
    data: str | os.PathLike[str] | Any,
    model_path: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    id_columns: Sequence[str] = (),
    explain: int = 0,
    threshold: float | None = None,
    sep: str | None = None,
    allow_empty: bool = False,
    threads: int | None = 1,
    compute_kwargs: dict[str, Any] | None = None,
    key: str | bytes | None = None,
) -> int:
    """Score a glob, directory or Dask DataFrame and write Parquet parts atomically.

    Runs on the current Dask client (``distributed.Client``), or on Dask's
    default scheduler when there is none.

    Parameters
    ----------
    data : str, path or dask.dataframe.DataFrame
        A CSV/Parquet file, a directory of them or a glob pattern (one partition
        per file, read by :func:`score_file`), or a Dask DataFrame (each
        partition scored by :func:`score_partition`).
    model_path : path
        Model file, readable by every worker.
    output_dir : path
        Directory of the result: ``part.<i>.parquet``, one per input partition in
        input order, with the columns of ``anomvae score``. Written to a
        temporary directory beside it, renamed when every part is written (see
        :func:`atomic_directory`).
    id_columns, explain, threshold, sep, allow_empty
        As ``anomvae score`` (``allow_empty``: accept header-only files).
    threads : int or None, default=1
        torch threads per task (see :func:`score_partition`).
    compute_kwargs : dict, optional
        Passed to the computation (``dask.compute`` for files, ``to_parquet``
        for a Dask DataFrame; e.g. ``{"retries": 2}``).
    key : str or bytes, optional
        The key the model file must be signed with (as :func:`anomvae.load`);
        it travels to the workers with the tasks.

    Returns
    -------
    int
        Number of partitions written.

    See Also
    --------
    anomvae.jobs.ScoreJob : with ``report=True`` and the ``dask`` engine
        (:func:`score_job`), the run's merged
        :class:`~anomvae.monitoring.RunMonitor` too.
    """
    return _score_dask(
        data,
        model_path,
        output_dir,
        id_columns=id_columns,
        explain=explain,
        threshold=threshold,
        sep=sep,
        allow_empty=allow_empty,
        threads=threads,
        compute_kwargs=compute_kwargs,
        key=key,
    ).partitions


@dataclass
class _DaskRun:
    """What :func:`_score_dask` did: partitions written, rows, the merged monitor."""

    partitions: int
    rows: int | None = None  # None for a Dask DataFrame input (not counted)
    monitor: RunMonitor | None = None


def _score_dask(
    data: str | os.PathLike[str] | Any,
    model_path: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    id_columns: Sequence[str],
    explain: int,
    threshold: float | None,
    sep: str | None,
    allow_empty: bool,
    threads: int | None,
    compute_kwargs: dict[str, Any] | None,
    key: str | bytes | None,
    report: bool = False,
    drift_alpha: float | None = None,
) -> _DaskRun:
    """:func:`score_dask`; with ``report``, each file's monitor, merged."""
    _import_dask()  # a clear message when dask is missing
    model_path = os.fspath(model_path)
    model = load_cached(model_path, key)
    ids = list(dict.fromkeys(id_columns))
    options = {
        "id_columns": ids,
        "explain": explain,
        "threshold": threshold,
        "threads": threads,
        "key": key,
    }
    if not isinstance(data, (str, os.PathLike)):
        if report:
            raise ValueError("run reports need file inputs, not a Dask DataFrame")
        return _DaskRun(
            _score_frame(data, model, model_path, output_dir, options, compute_kwargs)
        )
    import dask

    files = input_files(data)
    schema = _file_schema(files[0], model, ids, explain, sep)
    name = f"anomvae-score-{secrets.token_hex(4)}"
    rule = flag_rule(model, threshold)
    with atomic_directory(output_dir) as temp:
        tasks = [
            dask.delayed(_file_part, pure=False)(
                path,
                i,
                str(temp),
                model_path,
                schema,
                sep=sep,
                allow_empty=allow_empty,
                report=report,
                drift_alpha=drift_alpha,
                dask_key_name=(name, i),
                **options,
            )
            for i, path in enumerate(files)
        ]
        parts = dask.compute(*tasks, **(compute_kwargs or {}))
        flags = None if rule.per_row else _flag_whole_input(Path(temp), rule)
    monitor = None
    if report:
        monitor = parts[0][1]
        for _, other in parts[1:]:
            monitor.merge(other)
        if flags is not None:  # the selection over the whole input
            monitor.flags = flags
    return _DaskRun(len(files), sum(rows for rows, _ in parts), monitor)


def _score_frame(
    data: Any,
    model: Any,
    model_path: str,
    output_dir: str | os.PathLike[str],
    options: dict[str, Any],
    compute_kwargs: dict[str, Any] | None,
) -> int:
    """A Dask DataFrame, partition by partition, through ``to_parquet``."""
    ids = options["id_columns"]
    missing = [c for c in ids if c not in data.columns]
    if missing:
        raise DataError(f"missing id column(s) {', '.join(map(repr, missing))}")
    meta = empty_output(
        model,
        {c: _arrow_type(data._meta[c]) for c in ids},
        ids,
        options["explain"],
    )
    frame = data.map_partitions(
        _frame_partition,
        model_path,
        meta=meta,
        enforce_metadata=False,
        **options,
    )
    with atomic_directory(output_dir) as temp:
        frame.to_parquet(
            temp,
            write_index=False,
            write_metadata_file=False,
            compute_kwargs=compute_kwargs or {},
        )
        rule = flag_rule(model, options["threshold"])
        if not rule.per_row:
            _flag_whole_input(Path(temp), rule)
    return int(frame.npartitions)


def _flag_whole_input(directory: Path, rule: Any) -> int:
    """Apply a batch flag rule (Benjamini-Hochberg) to every part at once: read
    the p-values of all parts in order (8 bytes a row), select, and rewrite each
    part's ``is_anomaly``; the number of rows flagged."""
    import numpy as np
    import pyarrow.parquet as pq

    from anomvae.batch import P_VALUE, set_flags

    parts = sorted(directory.glob("part.*.parquet"), key=lambda p: int(p.stem[5:]))
    p_values = [pq.read_table(p, columns=[P_VALUE]).column(0).to_numpy() for p in parts]
    if not p_values:
        return 0
    flags = rule.flags(None, np.concatenate(p_values))
    start = 0
    for path, p in zip(parts, p_values, strict=True):
        table = pq.read_table(path)
        pq.write_table(set_flags(table, flags[start : start + len(p)]), path)
        start += len(p)
    return int(np.count_nonzero(flags))


def _arrow_type(series: pd.Series) -> pa.DataType:
    import pyarrow as pa

    try:
        return pa.Array.from_pandas(series).type
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.string()


# ------------------------------------------------------------------ CLI engine
def score_job(job: ScoreJob, model: Any, reporter: Reporter) -> ScoreStats:
    """The ``dask`` engine of ``anomvae score`` (see :mod:`anomvae.jobs`).

    ``job.engine_options``: ``scheduler`` (address of a running scheduler) or
    ``workers`` (size of the ``LocalCluster`` started for the run, one thread
    each; default: the available cores). With ``job.report``, ``stats.monitor``
    is the merge of every file's monitor (``source`` = the file, row numbers
    within it).
    """
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from anomvae.batch import IS_ANOMALY

    _, distributed = _import_dask()
    address = job.engine_options.get("scheduler")
    workers = job.engine_options.get("workers")
    files = input_files(job.data) if not _is_frame(job.data) else []
    with contextlib.ExitStack() as stack:
        if address:
            client = stack.enter_context(distributed.Client(address, timeout="30s"))
        else:
            n = workers or available_cores()
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                )
            )
            client = stack.enter_context(distributed.Client(cluster))
        reporter.log(
            "score.start",
            input=job.data,
            files=len(files),
            scheduler=client.scheduler.address,
            workers=len(client.scheduler_info(n_workers=-1)["workers"]),
        )
        run = _score_dask(
            job.data,
            job.model_path,
            job.output,
            id_columns=job.id_columns or (),
            explain=job.explain,
            threshold=job.threshold,
            sep=job.sep,
            allow_empty=job.allow_empty,
            threads=job.threads or 1,
            compute_kwargs=None,
            key=job.key,
            report=job.report,
            drift_alpha=job.drift_alpha,
        )
    dataset = ds.dataset(job.output, format="parquet")
    flags = dataset.to_table(columns=[IS_ANOMALY]).column(IS_ANOMALY)
    rows = len(flags)
    return ScoreStats(
        rows_read=rows,
        rows_scored=rows,
        anomalies=int(pc.sum(flags).as_py() or 0),
        monitor=run.monitor,
    )


def _is_frame(data: Any) -> bool:
    return not isinstance(data, (str, os.PathLike))
