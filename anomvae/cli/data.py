"""Reading whole inputs for the commands that need them in memory (fit, calibrate),
choosing feature columns, and parsing label columns.

Everything goes through :mod:`anomvae.io`, so every command reports invalid cells,
missing columns and wrong delimiters with the same messages as ``score``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anomvae.exceptions import DataError
from anomvae.io import check_columns, convert_features, numeric_share, read_batches

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "InputTable",
    "anomaly_mask",
    "choose_features",
    "read_model_rows",
    "read_table",
    "to_label_values",
]

#: A text column counts as numeric when more than this share of its non-empty
#: cells are numbers (so one stray "n/a" is reported, not silently dropped).
NUMERIC_SHARE = 0.5


@dataclass
class InputTable:
    """A whole input held in memory: every column, as text for CSV."""

    table: pa.Table
    source: str
    format: str
    sep: str | None
    header: tuple[str, ...]


def read_table(path: str, *, sep: str | None) -> InputTable:
    """Read every column of ``path`` (CSV as text, Parquet as stored).

    The input must fit in memory (training data does); malformed lines, a
    missing header and header-only files raise :class:`DataError`.
    """
    with read_batches(path, columns=(), passthrough=True, sep=sep) as reader:
        tables = [batch.passthrough for batch in reader]
        info = InputTable(
            pa.concat_tables(tables),
            reader.source,
            reader.format,
            reader.sep,
            reader.header,
        )
    return info


@dataclass
class FeatureChoice:
    """The feature columns picked from a table, and what was left out."""

    features: list[str]
    ignored: list[str] = field(default_factory=list)  # non-numeric, not named


def choose_features(
    data: InputTable,
    *,
    columns: Sequence[str],
    exclude: Sequence[str],
    reserved: Sequence[str],
) -> FeatureChoice:
    """Pick the feature columns: ``columns`` if given, else every numeric column
    that is neither ``reserved`` (ids, label, conditions) nor excluded.

    Every name given on the command line must exist (a typo must not silently
    turn an id column into a feature).
    """
    named = [*columns, *exclude, *reserved]
    check_columns(
        data.header,
        named,
        source=data.source,
        sep=data.sep,
        needed_by="named on the command line",
    )
    clash = [c for c in columns if c in reserved]
    if clash:
        raise DataError(
            f"column(s) {', '.join(map(repr, clash))} cannot be both a feature "
            "(--columns) and an id, label or condition column"
        )
    if columns:
        features = [c for c in columns if c not in exclude]
        ignored: list[str] = []
    else:
        candidates = [c for c in data.header if c not in exclude and c not in reserved]
        features = [
            c for c in candidates if numeric_share(data.table[c]) > NUMERIC_SHARE
        ]
        ignored = [c for c in candidates if c not in features]
    if not features:
        raise DataError(
            f"{data.source}: no numeric feature columns to train on (columns: "
            f"{', '.join(map(repr, data.header))}); name them with --columns"
        )
    check_columns(data.header, features, source=data.source, sep=data.sep)
    return FeatureChoice(features, ignored)


def feature_array(data: InputTable, features: Sequence[str]) -> np.ndarray:
    """The feature columns as checked float64 (errors name row and column)."""
    return convert_features(data.table, features, source=data.source, fmt=data.format)


# ------------------------------------------------------------------- labels
_TRUE = {"true", "yes", "anomaly"}
_FALSE = {"false", "no", "normal"}


def to_label_values(
    column: pa.ChunkedArray | pa.Array, rows: np.ndarray, *, source: str, name: str
) -> np.ndarray:
    """Label cells as float values (1/0, -1/+1, true/false), checked per row.

    ``rows`` holds the data row number of each cell, for messages.
    """
    if pa.types.is_boolean(column.type):
        values = column.cast(pa.float64())
    elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        text = pc.utf8_lower(pc.utf8_trim_whitespace(column))
        words = pc.if_else(
            pc.is_in(text, pa.array(sorted(_TRUE))),
            "1",
            pc.if_else(pc.is_in(text, pa.array(sorted(_FALSE))), "0", text),
        )
        values = pc.cast(
            pc.if_else(
                pc.match_substring_regex(words, r"^[+-]?\d+(\.0*)?$"),
                words,
                pa.scalar(None, pa.string()),
            ),
            pa.float64(),
        )
    else:
        values = pc.cast(column, pa.float64(), safe=False)
    out = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(out) | ~np.isin(out, (-1.0, 0.0, 1.0)))
    if len(bad):
        i = int(bad[0])
        cell = column[i].as_py()
        raise DataError(
            f"{source}: row {int(rows[i])}, column {name!r}: {cell!r} is not a "
            "label (use 1 = anomaly / 0 = normal, or -1 = anomaly / +1 = normal)"
        )
    return out


def anomaly_mask(values: np.ndarray, *, source: str, name: str) -> np.ndarray:
    """True for anomalies: labels 0/1 (1 = anomaly) or -1/+1 (-1 = anomaly)."""
    seen = set(np.unique(values).tolist())
    if seen <= {0.0, 1.0}:
        return values == 1.0
    if seen <= {-1.0, 1.0}:
        return values == -1.0
    raise DataError(
        f"{source}: column {name!r} mixes the label conventions (values "
        f"{sorted(int(v) for v in seen)}); use 1/0 (1 = anomaly) or -1/+1 "
        "(-1 = anomaly)"
    )


# -------------------------------------------------------- model-shaped rows
def read_model_rows(
    path: str, model: Any, *, sep: str | None, label: str | None = None
) -> tuple[np.ndarray | pd.DataFrame, np.ndarray | None, str]:
    """Read every row of ``path`` the way ``model`` wants it (columns matched by
    name), for commands that need all rows at once (calibrate).

    Returns the model input, the anomaly mask of ``label`` (if given) and the
    input's name.
    """
    from anomvae.batch import model_info, model_input

    info = model_info(model)
    passthrough = list(
        dict.fromkeys([*info.condition_columns, *([label] if label else [])])
    )
    features, extra, rows = [], [], []
    with read_batches(
        path,
        columns=info.feature_columns,
        passthrough=passthrough,
        sep=sep,
    ) as reader:
        for batch in reader:
            features.append(batch.features)
            extra.append(batch.passthrough)
            rows.append(batch.rows)
        source = reader.source
    X = np.concatenate(features)
    table = pa.concat_tables(extra)
    mask = None
    if label:
        values = to_label_values(
            table[label], np.concatenate(rows), source=source, name=label
        )
        mask = anomaly_mask(values, source=source, name=label)
    conditions = table if info.condition_columns else None
    return model_input(info, X, conditions), mask, source
