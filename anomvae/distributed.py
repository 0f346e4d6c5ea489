"""Score many files, or a Dask DataFrame, partition by partition on a cluster.

Three layers, each usable on its own:

=========================  ======================================================
function                   what it does
=========================  ======================================================
:func:`score_partition`    pandas -> pandas: checks the feature cells and returns
                           the output columns of ``anomvae score``. Plugs into
                           Dask's ``map_partitions`` and Spark's ``mapInPandas``.
:func:`score_file`         one CSV/Parquet file -> pandas, read with
                           :func:`anomvae.io.read_batches` (row/column-exact
                           errors) and scored batch by batch exactly as the local
                           engine does.
:func:`score_dask`         a glob, a directory or a Dask DataFrame -> a directory
                           of Parquet files, written atomically.
=========================  ======================================================

Every function receives the model's *path*, not the model: each worker process
loads it once (:func:`load_cached`, keyed by path, modification time and size)
and reuses it for every partition it scores, so nothing large is shipped with the
tasks. The path must therefore be readable by every worker.

Files are read one partition per file, by anomvae's own reader rather than
``dask.dataframe.read_csv``: the cells are parsed exactly as ``anomvae score``
parses them (pyarrow's correctly rounded float parser; pandas' CSV parser can
differ in the last bit), an invalid cell is reported with its file, row and
column, and the scores are identical to a single-process run. The price is that
a single file is never split: parallelism is across files.

dask and dask.distributed are an optional extra (``pip install anomvae[dask]``),
imported only by the functions that need them.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anomvae.exceptions import DataError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from anomvae.cli.common import Reporter
    from anomvae.cli.engines import ScoreJob, ScoreStats

__all__ = [
    "input_files",
    "load_cached",
    "model_loads",
    "score_dask",
    "score_file",
    "score_job",
    "score_partition",
]

#: File name endings read from a directory input (compressed CSV included).
INPUT_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv", ".tab", ".txt")
_COMPRESSED = (".gz", ".bz2", ".zst")
_DATASET_EXTRAS = ("_metadata", "_common_metadata", "_SUCCESS")

# ------------------------------------------------------------------ model cache
_MODELS: dict[tuple[str, int, int], Any] = {}
_LOCK = threading.Lock()
_LOADS = 0


def load_cached(model_path: str | os.PathLike[str]) -> Any:
    """:func:`anomvae.load` once per process and model file.

    The key is the resolved path with the file's modification time and size, so
    a model replaced on disk (``anomvae fit`` renames a new file onto it) is
    loaded again, and an unchanged one never is.
    """
    from anomvae.persistence import load

    global _LOADS
    path = os.path.realpath(model_path)
    try:
        st = os.stat(path)
    except OSError as exc:
        from anomvae.exceptions import ModelFileError

        raise ModelFileError(f"cannot read {model_path}: {exc.strerror}") from None
    key = (path, st.st_mtime_ns, st.st_size)
    with _LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = load(path)
            for old in [k for k in _MODELS if k[0] == path]:
                del _MODELS[old]
            _MODELS[key] = model
            _LOADS += 1
    return model


def model_loads() -> int:
    """How many times this process loaded a model file (for tests and logs)."""
    return _LOADS


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Any:
    if threads is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    if previous != threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if previous != threads:
            torch.set_num_threads(previous)


# ------------------------------------------------------------------ partitions
def _score_rows(
    model: Any,
    features: Any,
    ids: pa.Table,
    *,
    conditions: pa.Table | None,
    threshold: float | None,
    explain: int,
) -> pa.Table:
    """``id columns + score columns`` of rows already converted and checked."""
    import pyarrow as pa

    from anomvae.batch import score_batch

    scored = score_batch(
        model, features, conditions=conditions, threshold=threshold, explain=explain
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
    batch_rows: int = 65_536,
    threads: int | None = 1,
    source: str = "<partition>",
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
    batch_rows : int
        Rows scored at once (bounds the memory of the network's activations).
    threads : int or None, default=1
        torch threads while scoring; ``None`` leaves the process setting. One
        thread per task is right when a worker runs one task per core.
    source : str
        Name of the partition in error messages.

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
        the column.
    """
    import pyarrow as pa

    from anomvae.batch import model_info
    from anomvae.io.cells import convert_features

    model = load_cached(model_path)
    info = model_info(model)
    ids = list(dict.fromkeys(id_columns))
    carried = list(dict.fromkeys([*ids, *info.condition_columns]))
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
        table, info.feature_columns, source=source, fmt="parquet"
    )
    parts = []
    with _torch_threads(threads):
        for start in range(0, max(len(table), 1), batch_rows):
            part = table.slice(start, batch_rows)
            parts.append(
                _score_rows(
                    model,
                    features[start : start + batch_rows],
                    part.select(ids),
                    conditions=part.select(list(info.condition_columns))
                    if info.condition_columns
                    else None,
                    threshold=threshold,
                    explain=explain,
                )
            )
    return pa.concat_tables(parts).to_pandas()


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
    batch_rows: int = 65_536,
    block_size: int = 1 << 22,
    allow_empty: bool = False,
    threads: int | None = 1,
) -> pd.DataFrame:
    """Read and score one CSV or Parquet file, batch by batch as ``anomvae score``.

    The same reader (:func:`anomvae.io.read_batches`, with its file/row/column
    errors) and the same batches as the local engine, so the scores are
    bit-for-bit those of ``anomvae score`` on the file. Returns the rows as
    :func:`score_partition` does.
    """
    import pyarrow as pa

    from anomvae.batch import model_info
    from anomvae.io import read_batches

    model = load_cached(model_path)
    info = model_info(model)
    ids = list(dict.fromkeys(id_columns))
    carried = tuple(dict.fromkeys([*ids, *info.condition_columns]))
    parts = []
    with (
        _torch_threads(threads),
        read_batches(
            path,
            columns=info.feature_columns,
            passthrough=carried,
            sep=sep,
            batch_rows=batch_rows,
            block_size=block_size,
            allow_empty=allow_empty,
        ) as reader,
    ):
        for batch in reader:
            if len(batch):
                parts.append(
                    _score_rows(
                        model,
                        batch.features,
                        batch.passthrough.select(ids),
                        conditions=batch.passthrough
                        if info.condition_columns
                        else None,
                        threshold=threshold,
                        explain=explain,
                    )
                )
    if not parts:
        return _empty_output(model, {}, ids, explain)
    return pa.concat_tables(parts).to_pandas()


def _empty_output(
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


# ------------------------------------------------------------------ inputs
def _is_input_name(name: str) -> bool:
    lower = name.lower()
    for suffix in _COMPRESSED:
        lower = lower.removesuffix(suffix)
    return lower.endswith(INPUT_SUFFIXES) and not name.startswith((".", "_"))


def input_files(path: str | os.PathLike[str]) -> list[str]:
    """The files an input names: a file, a directory (its CSV/Parquet files,
    not recursive, hidden and ``_``-prefixed names skipped) or a glob pattern;
    sorted.

    Raises
    ------
    DataError
        When nothing matches.
    """
    text = os.fspath(path)
    if os.path.isdir(text):
        files = [
            str(p)
            for p in sorted(Path(text).iterdir())
            if p.is_file() and _is_input_name(p.name)
        ]
        what = f"directory {text!r} holds no CSV or Parquet file"
    elif glob.has_magic(text):
        files = sorted(p for p in glob.glob(text) if os.path.isfile(p))
        what = f"no file matches {text!r}"
    elif os.path.isfile(text):
        files = [text]
        what = ""
    else:
        raise DataError(f"cannot read {text}: no such file or directory")
    if not files:
        raise DataError(what)
    return files


# ------------------------------------------------------------------ output
def _is_dataset_dir(path: Path) -> bool:
    """An empty directory, or one holding only Parquet parts (a previous output)."""
    return all(
        p.is_file() and (p.name.endswith(".parquet") or p.name in _DATASET_EXTRAS)
        for p in path.iterdir()
    )


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Any:
    """Yield a temporary directory beside ``path`` that becomes ``path`` at the end.

    On success the temporary directory is renamed onto ``path``. A directory
    cannot be renamed over a non-empty one, so an existing output is first moved
    aside, then removed once the new one is in place: a reader may briefly find
    no ``path`` between the two renames, but never a partial one. An existing
    ``path`` is replaced only if it holds nothing but Parquet parts (a previous
    output); anything else is refused before any work. On failure the temporary
    directory is removed and ``path`` is left as it was.
    """
    from anomvae.io import TEMP_SUFFIX, OutputError

    target = Path(path)
    shown = os.fspath(path)
    if target.exists() and not target.is_dir():
        raise OutputError(f"cannot write {shown}: it exists and is not a directory")
    if target.is_dir() and not _is_dataset_dir(target):
        raise OutputError(
            f"cannot write {shown}: the directory holds files other than Parquet "
            "parts; remove it or choose another output directory"
        )
    parent = target.absolute().parent
    if not parent.is_dir():
        raise OutputError(
            f"cannot write {shown}: directory {str(parent)!r} does not exist"
        )
    temp = parent / f".{target.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
    try:
        temp.mkdir()
    except OSError as exc:
        raise OutputError(f"cannot write {shown}: {exc.strerror}") from None
    try:
        yield temp
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    old = parent / f".{target.name}.{secrets.token_hex(4)}.old{TEMP_SUFFIX}"
    try:
        if target.exists():
            os.replace(target, old)
        os.replace(temp, target)
    except OSError as exc:
        shutil.rmtree(temp, ignore_errors=True)
        if old.exists() and not target.exists():
            os.replace(old, target)
        raise OutputError(f"cannot write {shown}: {exc.strerror}") from None
    shutil.rmtree(old, ignore_errors=True)


# ------------------------------------------------------------------ dask
def _import_dask() -> tuple[Any, Any]:
    try:
        import dask.dataframe as dd
        import distributed
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the dask engine needs dask and distributed: pip install 'anomvae[dask]'"
        ) from None
    return dd, distributed


def _file_meta(
    first: str, model: Any, ids: Sequence[str], explain: int, sep: Any
) -> Any:
    """Output columns and types, from the first file's schema (no rows scored)."""
    from anomvae.batch import model_info
    from anomvae.io import read_batches

    info = model_info(model)
    carried = tuple(dict.fromkeys([*ids, *info.condition_columns]))
    with read_batches(
        first,
        columns=info.feature_columns,
        passthrough=carried,
        sep=sep,
        batch_rows=1,
        allow_empty=True,
    ) as reader:
        batch = next(iter(reader), None)
        types = {}
        if batch is not None:
            types = {f.name: f.type for f in batch.passthrough.schema}
        elif reader.format == "parquet":
            import pyarrow.parquet as pq

            schema = pq.read_schema(first)
            types = {c: schema.field(c).type for c in ids}
    return _empty_output(model, types, ids, explain)


def _file_partition(
    path: str, model_path: str, dtypes: dict[str, Any], **options: Any
) -> pd.DataFrame:
    out = score_file(path, model_path, **options)
    try:
        return out.astype(dtypes)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"{path}: the id columns have other types than in the first file: {exc}"
        ) from None


def _frame_partition(
    df: pd.DataFrame,
    model_path: str,
    partition_info: dict[str, Any] | None = None,
    **options: Any,
) -> pd.DataFrame:
    number = partition_info["number"] if partition_info else "?"
    return score_partition(df, model_path, source=f"partition {number}", **options)


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
        Passed to ``to_parquet``'s computation (e.g. ``{"retries": 2}``).

    Returns
    -------
    int
        Number of partitions written.
    """
    dd, _ = _import_dask()
    model_path = os.fspath(model_path)
    model = load_cached(model_path)
    ids = list(dict.fromkeys(id_columns))
    options = {
        "id_columns": ids,
        "explain": explain,
        "threshold": threshold,
        "threads": threads,
    }
    if isinstance(data, (str, os.PathLike)):
        files = input_files(data)
        meta = _file_meta(files[0], model, ids, explain, sep)
        frame = dd.from_map(
            _file_partition,
            files,
            model_path=model_path,
            dtypes=meta.dtypes.to_dict(),
            meta=meta,
            sep=sep,
            allow_empty=allow_empty,
            enforce_metadata=False,
            label="anomvae-score",
            **options,
        )
    else:
        missing = [c for c in ids if c not in data.columns]
        if missing:
            raise DataError(f"missing id column(s) {', '.join(map(repr, missing))}")
        meta = _empty_output(
            model,
            {c: _arrow_type(data._meta[c]) for c in ids},
            ids,
            explain,
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
    return int(frame.npartitions)


def _arrow_type(series: pd.Series) -> pa.DataType:
    import pyarrow as pa

    try:
        return pa.Array.from_pandas(series).type
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.string()


# ------------------------------------------------------------------ CLI engine
def score_job(job: ScoreJob, model: Any, reporter: Reporter) -> ScoreStats:
    """The ``dask`` engine of ``anomvae score`` (see :mod:`anomvae.cli.engines`).

    ``job.engine_options``: ``scheduler`` (address of a running scheduler) or
    ``workers`` (size of the ``LocalCluster`` started for the run, one thread
    each; default: the available cores).
    """
    import pyarrow.dataset as ds

    from anomvae.batch import IS_ANOMALY
    from anomvae.cli.engines import ScoreStats

    _, distributed = _import_dask()
    address = job.engine_options.get("scheduler")
    workers = job.engine_options.get("workers")
    files = input_files(job.data) if not _is_frame(job.data) else []
    with contextlib.ExitStack() as stack:
        if address:
            client = stack.enter_context(distributed.Client(address, timeout="30s"))
        else:
            n = workers or _cores()
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
        score_dask(
            job.data,
            job.model_path,
            job.output,
            id_columns=job.id_columns or (),
            explain=job.explain,
            threshold=job.threshold,
            sep=job.sep,
            allow_empty=job.allow_empty,
            threads=job.threads or 1,
        )
    dataset = ds.dataset(job.output, format="parquet")
    flags = dataset.to_table(columns=[IS_ANOMALY]).column(IS_ANOMALY)
    import pyarrow.compute as pc

    rows = len(flags)
    return ScoreStats(
        rows_read=rows,
        rows_scored=rows,
        anomalies=int(pc.sum(flags).as_py() or 0),
    )


def _is_frame(data: Any) -> bool:
    return not isinstance(data, (str, os.PathLike))


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
