"""Reading whole inputs for the commands that need them in memory (fit, calibrate),
choosing feature columns and their kinds, and parsing label columns.

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
    "LABEL_LIKE",
    "FeatureChoice",
    "InputTable",
    "anomaly_mask",
    "choose_features",
    "feature_frame",
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
    """The feature columns picked from a table, and how each is read."""

    features: list[str]
    categorical: list[str] = field(default_factory=list)  # read as text levels
    flags: list[str] = field(default_factory=list)  # true/false text
    blank: list[str] = field(default_factory=list)  # numeric, with empty cells

    @property
    def numeric(self) -> list[str]:
        """The features read as numbers."""
        other = set(self.categorical) | set(self.flags)
        return [c for c in self.features if c not in other]

    @property
    def mixed(self) -> bool:
        """Whether the table needs the mixed-table path (a category, a flag or a
        blank cell)."""
        return bool(self.categorical or self.flags or self.blank)


#: Names that usually hold a label: warned about when they become features.
LABEL_LIKE = frozenset(
    {"label", "labels", "y", "target", "class", "anomaly", "is_anomaly", "outlier"}
)


def choose_features(
    data: InputTable,
    *,
    columns: Sequence[str],
    exclude: Sequence[str],
    reserved: Sequence[str],
    categorical: Sequence[str] = (),
) -> FeatureChoice:
    """Pick the feature columns and how to read each: ``columns`` if given, else
    every column that is neither ``reserved`` (ids, label, conditions) nor
    excluded.

    A column is numeric when every non-empty cell is a number, a flag when every
    non-empty cell is true/false, and a category when it is named in
    ``categorical`` (digit codes: ranks, hospital codes) or holds text. A column
    of mostly numbers with some text is an error naming the first text cell (a
    stray ``n/a`` must not silently turn a measurement into categories); name it
    in ``categorical`` if it really is categorical. Every name given on the
    command line must exist (a typo must not silently turn an id column into a
    feature).
    """
    named = [*columns, *exclude, *reserved, *categorical]
    check_columns(
        data.header,
        named,
        source=data.source,
        sep=data.sep,
        needed_by="named on the command line",
    )
    clash = [c for c in [*columns, *categorical] if c in reserved]
    if clash:
        raise DataError(
            f"column(s) {', '.join(map(repr, clash))} cannot be both a feature "
            "(--columns, --categorical) and an id, label or condition column"
        )
    if columns:
        features = [c for c in columns if c not in exclude]
    else:
        features = [c for c in data.header if c not in exclude and c not in reserved]
    if not features:
        raise DataError(
            f"{data.source}: no feature columns to train on (columns: "
            f"{', '.join(map(repr, data.header))}); name them with --columns"
        )
    choice = FeatureChoice(features)
    for name in features:
        column = data.table[name]
        if name in categorical:
            choice.categorical.append(name)
        elif _is_flag_column(column):
            choice.flags.append(name)
        elif numeric_share(column) > NUMERIC_SHARE:
            if column.null_count or _has_empty_text(column):
                choice.blank.append(name)
        else:
            choice.categorical.append(name)
    return choice


def _has_empty_text(column: pa.ChunkedArray) -> bool:
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return False
    empty = pc.equal(pc.utf8_trim_whitespace(column), "")
    return bool(pc.any(pc.fill_null(empty, False)).as_py())


def _is_flag_column(column: pa.ChunkedArray) -> bool:
    """Boolean values, or text that is only true/false (any case) and blanks."""
    if pa.types.is_boolean(column.type):
        return True
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return False
    text = pc.utf8_lower(pc.utf8_trim_whitespace(column))
    values = set(pc.unique(pc.drop_null(text)).to_pylist()) - {""}
    return bool(values) and values <= {"true", "false"}


def feature_frame(data: InputTable, choice: FeatureChoice) -> pd.DataFrame:
    """The feature columns as the detector wants them: float64 numbers (checked;
    errors name row and column; NaN where a numeric column is blank), text
    levels (``"007"`` stays ``"007"``, blanks as missing) and true/false flags."""
    import pandas as pd

    numeric = choice.numeric
    values = convert_features(
        data.table,
        numeric,
        source=data.source,
        fmt=data.format,
        blank_ok=choice.blank,
    )
    frame = pd.DataFrame(values, columns=numeric)
    for name in [*choice.categorical, *choice.flags]:
        column = data.table[name]
        if pa.types.is_boolean(column.type):
            frame[name] = column.to_pandas().astype("boolean")
            continue
        text = (
            column.cast(pa.string()) if not pa.types.is_string(column.type) else column
        )
        text = pc.utf8_trim_whitespace(text)
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        series = text.to_pandas().astype("string")
        if name in choice.flags:
            series = series.str.lower().map({"true": True, "false": False})
            series = series.astype("boolean")
        frame[name] = series
    return frame[choice.features]


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
        dict.fromkeys([*info.other_columns, *([label] if label else [])])
    )
    features, extra, rows = [], [], []
    with read_batches(
        path,
        columns=info.feature_columns,
        passthrough=passthrough,
        sep=sep,
        blank_ok=info.blank_columns,
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
    others = table if info.other_columns else None
    return model_input(info, X, others), mask, source
