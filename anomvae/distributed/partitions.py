"""Scoring one partition (pandas -> pandas) or one file, exactly as ``anomvae
score`` scores it: the same cell checks, the same batches, the same columns."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from anomvae.decisions import flag_rule
from anomvae.distributed.cache import load_cached
from anomvae.exceptions import DataError
from anomvae.runtime import DEFAULT_BATCH_ROWS, DEFAULT_BLOCK_SIZE, torch_threads

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from anomvae.monitoring import RunMonitor

__all__ = [
    "empty_output",
    "score_file",
    "score_file_table",
    "score_frame",
    "score_partition",
    "whole_input_flags",
]


def _score_rows(
    model: Any,
    features: Any,
    ids: pa.Table,
    *,
    others: pa.Table | None,
    threshold: float | None,
    explain: int,
) -> pa.Table:
    """``id columns + score columns`` of rows already converted and checked."""
    import pyarrow as pa

    from anomvae.batch import score_batch

    scored = score_batch(
        model, features, others=others, threshold=threshold, explain=explain
    )
    return pa.Table.from_arrays(
        list(ids.columns) + list(scored.columns),
        names=list(ids.column_names) + list(scored.column_names),
    )


def score_partition(
    df: pd.DataFrame,
    model_path: str | os.PathLike[str],
    *,
    id_columns: Sequence[str] = (),
    explain: int = 0,
    threshold: float | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    threads: int | None = 1,
    source: str = "<partition>",
    key: str | bytes | None = None,
) -> pd.DataFrame:
    """Score one partition: the columns ``anomvae score`` writes for its rows.

    A plain pandas -> pandas function, for ``dask.dataframe.map_partitions``,
    Spark's ``mapInPandas`` or a loop over chunks.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows holding the model's columns (matched by name; extra columns are
        ignored) and ``id_columns``. Feature columns may be numeric or text;
        text is parsed as ``anomvae score`` parses CSV cells.
    model_path : path
        Model file written by ``anomvae fit`` or :func:`anomvae.save`; loaded
        once per process (:func:`load_cached`).
    id_columns : sequence of str
        Columns copied to the output, before the scores.
    explain, threshold
        As :func:`anomvae.batch.score_batch`.
        A calibrator with ``fdr`` flags by Benjamini-Hochberg over its whole
        input, which one partition cannot see: such a model is refused unless
        ``threshold`` is given (:func:`score_dask` and ``anomvae score`` apply
        the selection to their whole input).
    batch_rows : int
        Rows scored at once (bounds the memory of the network's activations).
    threads : int or None, default=1
        torch threads while scoring; ``None`` leaves the process setting. One
        thread per task is right when a worker runs one task per core.
    source : str
        Name of the partition in error messages.
    key : str or bytes, optional
        The key the model file must be signed with (as :func:`anomvae.load`).

    Returns
    -------
    pandas.DataFrame
        ``id_columns``, then ``score``, ``p_value`` (calibrated models),
        ``is_anomaly`` and the ``top<i>_feature/share`` columns; index 0..n-1.

    Raises
    ------
    DataError
        For a missing column or an invalid cell (empty, not a number, NaN,
        infinite), naming ``source``, the 1-based row within the partition and
        the column; for a Benjamini-Hochberg model without ``threshold``.
    """
    model = load_cached(model_path, key)
    if threshold is None and not flag_rule(model).per_row:
        raise DataError(
            f"{model_path} flags rows by Benjamini-Hochberg over its whole input "
            f"(fdr={flag_rule(model).fdr:g}), which one partition cannot see: use "
            "score_dask or anomvae score, or pass threshold= for a per-row rule"
        )
    return score_frame(
        df,
        model,
        id_columns=id_columns,
        explain=explain,
        threshold=threshold,
        batch_rows=batch_rows,
        threads=threads,
        source=source,
    )


def score_frame(
    df: pd.DataFrame,
    model: Any,
    *,
    id_columns: Sequence[str],
    explain: int,
    threshold: float | None,
    batch_rows: int,
    threads: int | None,
    source: str,
) -> pd.DataFrame:
    """:func:`score_partition` with a loaded model, for any flag rule (a batch
    rule is applied over this frame's rows)."""
    import pyarrow as pa

    from anomvae.batch import model_info
    from anomvae.io.cells import convert_features

    info = model_info(model)
    ids = list(dict.fromkeys(id_columns))
    carried = list(dict.fromkeys([*ids, *info.other_columns]))
    needed = list(dict.fromkeys([*carried, *info.feature_columns]))
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {', '.join(map(repr, missing))}; the model "
            f"needs {', '.join(map(repr, info.input_columns))}"
        )
    table = pa.table(
        {c: _column(df[c], c in info.feature_columns, source) for c in needed}
    )
    features = convert_features(
        table,
        info.feature_columns,
        source=source,
        fmt="parquet",
        blank_ok=info.blank_columns,
    )
    parts = []
    with torch_threads(threads):
        for start in range(0, max(len(table), 1), batch_rows):
            part = table.slice(start, batch_rows)
            parts.append(
                _score_rows(
                    model,
                    features[start : start + batch_rows],
                    part.select(ids),
                    others=part.select(list(info.other_columns))
                    if info.other_columns
                    else None,
                    threshold=threshold,
                    explain=explain,
                )
            )
    return whole_input_flags(parts, model, threshold).to_pandas()


def whole_input_flags(
    parts: list[pa.Table], model: Any, threshold: float | None
) -> pa.Table:
    """The scored parts as one table, flagged by the model's rule over all of its
    rows (only a batch rule changes anything)."""
    import pyarrow as pa

    from anomvae.batch import P_VALUE, set_flags

    table = pa.concat_tables(parts)
    rule = flag_rule(model, threshold)
    if rule.per_row or not table.num_rows:
        return table
    return set_flags(table, rule.flags(None, table.column(P_VALUE).to_numpy()))


def _column(series: pd.Series, feature: bool, source: str) -> pa.Array:
    """A pandas column as Arrow; a mixed feature column (numbers and text) as
    text, so that the cell checks name the offending cell."""
    import pyarrow as pa

    try:
        return pa.Array.from_pandas(series)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        if not feature:
            raise DataError(
                f"{source}: cannot read column {series.name!r}: {exc}"
            ) from None
    return pa.array(
        [
            None if v is None else repr(v) if isinstance(v, float) else str(v)
            for v in series
        ],
        pa.string(),
    )


def score_file(
    path: str | os.PathLike[str],
    model_path: str | os.PathLike[str],
    *,
    id_columns: Sequence[str] = (),
    explain: int = 0,
    threshold: float | None = None,
    sep: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    block_size: int = DEFAULT_BLOCK_SIZE,
    allow_empty: bool = False,
    threads: int | None = 1,
    key: str | bytes | None = None,
) -> pd.DataFrame:
    """Read and score one CSV or Parquet file, batch by batch as ``anomvae score``.

    The same reader (:func:`anomvae.io.read_batches`, with its file/row/column
    errors) and the same batches as the local engine, so the scores are
    bit-for-bit those of ``anomvae score`` on the file. Returns the rows as
    :func:`score_partition` does.
    """
    table, _ = score_file_table(
        path,
        model_path,
        id_columns=id_columns,
        explain=explain,
        threshold=threshold,
        sep=sep,
        batch_rows=batch_rows,
        block_size=block_size,
        allow_empty=allow_empty,
        threads=threads,
        key=key,
    )
    if table is None:
        ids = list(dict.fromkeys(id_columns))
        return empty_output(load_cached(model_path, key), {}, ids, explain)
    return table.to_pandas()


def score_file_table(
    path: str | os.PathLike[str],
    model_path: str | os.PathLike[str],
    *,
    id_columns: Sequence[str] = (),
    explain: int = 0,
    threshold: float | None = None,
    sep: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    block_size: int = DEFAULT_BLOCK_SIZE,
    allow_empty: bool = False,
    threads: int | None = 1,
    key: str | bytes | None = None,
    report: bool = False,
    drift_alpha: float | None = None,
) -> tuple[pa.Table | None, RunMonitor | None]:
    """:func:`score_file` as an Arrow table (None when no row was scored), and
    with ``report`` the file's :class:`~anomvae.monitoring.RunMonitor`
    (:func:`anomvae.jobs.run_monitor`; ``source`` = ``path`` as given, row
    numbers within the file), which the caller merges with the other files'.

    A Benjamini-Hochberg model's flags (and the monitor's flag count) are those
    of this file alone; :func:`score_dask` selects again over the whole input.
    """
    import numpy as np

    from anomvae.batch import IS_ANOMALY, SCORE, model_info
    from anomvae.io import read_batches
    from anomvae.jobs import feed_monitor, run_monitor

    model = load_cached(model_path, key)
    info = model_info(model)
    ids = list(dict.fromkeys(id_columns))
    carried = tuple(dict.fromkeys([*ids, *info.other_columns]))
    monitor = (
        run_monitor(
            model, threshold=threshold, alpha=drift_alpha, source=os.fspath(path)
        )
        if report
        else None
    )
    parts = []
    with (
        torch_threads(threads),
        read_batches(
            path,
            columns=info.feature_columns,
            passthrough=carried,
            sep=sep,
            batch_rows=batch_rows,
            block_size=block_size,
            allow_empty=allow_empty,
            blank_ok=info.blank_columns,
        ) as reader,
    ):
        for batch in reader:
            scores = flags = None
            if len(batch):
                part = _score_rows(
                    model,
                    batch.features,
                    batch.passthrough.select(ids),
                    others=batch.passthrough if info.other_columns else None,
                    threshold=threshold,
                    explain=explain,
                )
                parts.append(part)
                scores = part.column(SCORE).to_numpy()
                flags = part.column(IS_ANOMALY).to_numpy()
            if monitor is not None:
                feed_monitor(monitor, batch, info, scores, flags)
    if not parts:
        return None, monitor
    table = whole_input_flags(parts, model, threshold)
    if monitor is not None and not flag_rule(model, threshold).per_row:
        monitor.flags = int(np.count_nonzero(table.column(IS_ANOMALY).to_numpy()))
    return table, monitor


def empty_output(
    model: Any, id_types: dict[str, Any], ids: Sequence[str], explain: int
) -> pd.DataFrame:
    import pyarrow as pa

    from anomvae.batch import output_schema

    fields = [pa.field(c, id_types.get(c, pa.string())) for c in ids]
    return (
        pa.schema(fields + list(output_schema(model, explain=explain)))
        .empty_table()
        .to_pandas()
    )
