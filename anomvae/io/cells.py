"""Cell conversion: text or Arrow columns to checked ``float64``, and the messages
that name the row, column and reason of every invalid cell.

An invalid cell is empty (or null), not a number, NaN or infinite. Text is parsed
exactly as pyarrow's CSV reader would parse it, so a value is accepted here if and
only if the fast float64 path would have accepted it. Columns where a blank is
data (those of a mixed-table model, ``blank_ok``) give NaN for an empty, null or
NaN cell instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anomvae.exceptions import DataError

__all__ = ["cell_message", "cell_problems", "convert_features", "numeric_share"]

# The number syntax pyarrow's float parser accepts; anything else is checked one
# value at a time, so the verdict always matches pyarrow's.
_NUMBER_RE = r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|nan|inf|infinity)$"
_EMPTY, _NOT_NUMBER, _NAN, _INF = 1, 2, 3, 4
_REASONS = {
    _EMPTY: "missing value",
    _NOT_NUMBER: "not a number",
    _NAN: "NaN",
    _INF: "infinite",
}


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _to_features(
    table: pa.Table,
    columns: Sequence[str],
    source: str,
    blank_ok: Collection[str] = (),
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Convert to an ``(n, d)`` float64 array.

    Returns the array, the per-row code of the first invalid cell (``None`` when
    all are valid) and the index of that cell's column. In ``blank_ok`` columns an
    empty, null or NaN cell is NaN, not invalid.
    """
    n = table.num_rows
    out = np.empty((n, len(columns)), dtype=np.float64)
    codes: np.ndarray | None = None
    bad_col = np.full(n, -1, dtype=np.int64)
    for j in reversed(range(len(columns))):  # so the first bad column wins
        try:
            out[:, j], col_codes = _to_float(table.column(columns[j]))
        except pa.ArrowException:
            raise DataError(
                f"{source}: column {columns[j]!r} has type "
                f"{table.schema.field(columns[j]).type}, which is not numeric"
            ) from None
        if col_codes is not None and columns[j] in blank_ok:
            blank = (col_codes == _EMPTY) | (col_codes == _NAN)
            out[blank, j] = np.nan
            col_codes = np.where(blank, 0, col_codes).astype(np.int8)
            if not col_codes.any():
                col_codes = None
        if col_codes is not None:
            codes = np.zeros(n, dtype=np.int8) if codes is None else codes
            hit = col_codes > 0
            codes[hit], bad_col[hit] = col_codes[hit], j
    return out, codes, bad_col


def _to_float(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray | None]:
    """Return float64 values and per-cell problem codes (``None``: no problem)."""
    parsed: np.ndarray | None = None
    nulls: Any = None
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        values, parsed = _parse_numbers(col)
    else:
        if col.null_count:
            nulls = col.is_null().to_numpy(zero_copy_only=False)
        if not pa.types.is_float64(col.type):
            col = pc.cast(col, pa.float64(), safe=False)
        values = col.to_numpy()
    finite = np.isfinite(values)
    if parsed is None and finite.all():
        return values, None
    codes = np.where(finite, 0, np.where(np.isnan(values), _NAN, _INF))
    codes = codes.astype(np.int8)
    if nulls is not None:
        codes[nulls] = _EMPTY
    if parsed is not None:
        codes[parsed > 0] = parsed[parsed > 0]
    return values, (codes if codes.any() else None)


def _parse_numbers(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Parse text to float64 exactly as pyarrow's CSV reader would."""
    codes = np.zeros(len(col), dtype=np.int8)
    with contextlib.suppress(pa.ArrowInvalid):  # a clean column: one cast
        values = pc.cast(col, pa.float64()).to_numpy()
        if not col.null_count:
            return values, codes
    trimmed = pc.utf8_trim_whitespace(col)
    empty = pc.fill_null(pc.equal(trimmed, ""), True).to_numpy(zero_copy_only=False)
    looks = pc.fill_null(
        pc.match_substring_regex(trimmed, _NUMBER_RE, ignore_case=True), False
    )
    numbers = pc.if_else(looks, trimmed, pa.scalar(None, pa.string()))
    try:
        values = np.array(pc.cast(numbers, pa.float64()).to_numpy(), dtype=np.float64)
    except pa.ArrowInvalid:  # the pattern was too lenient somewhere
        values = _cast_each(numbers.to_pylist())
    codes[empty] = _EMPTY
    odd = np.flatnonzero(~looks.to_numpy(zero_copy_only=False) & ~empty)
    if len(odd):  # confirm one by one, so the verdict is pyarrow's
        odd_values = _cast_each(trimmed.take(pa.array(odd)).to_pylist())
        values[odd] = odd_values
        codes[odd[np.isnan(odd_values)]] = _NOT_NUMBER
    return values, codes


def _cast_each(texts: list[Any]) -> np.ndarray:
    out = np.full(len(texts), np.nan)
    for i, text in enumerate(texts):
        with contextlib.suppress(pa.ArrowInvalid, TypeError):
            out[i] = pc.cast(pa.scalar(text, pa.string()), pa.float64()).as_py()
    return out


# ------------------------------------------------------------- problems, messages
#: row, column ("" for a malformed line), value, reason
Problem = tuple[int, str, str, str]


def cell_problems(
    table: pa.Table,
    columns: Sequence[str],
    codes: np.ndarray,
    bad_col: np.ndarray,
    rows: np.ndarray,
) -> list[Problem]:
    """One ``(row, column, value, reason)`` per row with an invalid cell.

    ``codes`` and ``bad_col`` come from :func:`_to_features`; ``rows`` holds the
    1-based data row number of each table row.
    """
    found: list[Problem] = []
    for j, name in enumerate(columns):
        idx = np.flatnonzero(bad_col == j)
        if not len(idx):
            continue
        values = table.column(name).take(pa.array(idx)).to_pylist()
        for i, value in zip(idx, values, strict=True):
            found.append(
                (int(rows[i]), name, _cell_text(value), _REASONS[int(codes[i])])
            )
    return found


def cell_message(
    source: str, row: int, column: str, value: str, reason: str, *, fmt: str = "csv"
) -> str:
    """The one-line message of a problem, naming file, row and column."""
    where = f"{source}: row {row}"
    if not column:
        shown = value if len(value) <= 80 else value[:77] + "..."
        return f"{where}: {reason} (check --sep and quoting): {shown!r}"
    text = {
        "missing value": "missing value ("
        + ("empty cell)" if fmt == "csv" else "null)"),
        "not a number": f"{value!r} is not a number",
        "NaN": "NaN is not allowed",
        "infinite": f"infinite value ({value}) is not allowed",
    }[reason]
    return f"{where}, column {column!r}: {text}"


# ------------------------------------------------------------ in-memory tables
def convert_features(
    table: pa.Table,
    columns: Sequence[str],
    *,
    source: str = "<input>",
    first_row: int = 1,
    fmt: str = "csv",
    blank_ok: Collection[str] = (),
) -> np.ndarray:
    """Convert columns of an in-memory table to a checked ``float64`` array.

    The same conversion and messages as :func:`anomvae.io.read_batches`, for a
    table that is already read (for example every column of a training file read
    as text, once the feature columns have been chosen).

    Parameters
    ----------
    table : pyarrow.Table
        Text or numeric columns.
    columns : sequence of str
        Columns to convert, in output order.
    source : str
        File name used in messages.
    first_row : int
        Data row number of the table's first row.
    fmt : {"csv", "parquet"}
        Input format, for the wording of the missing-value message.
    blank_ok : collection of str
        Columns where a blank cell is data: NaN in the output, not an error.

    Returns
    -------
    ndarray of shape (n_rows, len(columns))

    Raises
    ------
    DataError
        At the first invalid cell (in row order), naming row and column.

    Examples
    --------
    >>> table = pa.table({"a": ["1.5", "x"], "b": ["2", "3"]})
    >>> convert_features(table, ["b"]).tolist()
    [[2.0], [3.0]]
    >>> convert_features(table, ["a", "b"], source="t.csv")
    Traceback (most recent call last):
    ...
    anomvae.exceptions.DataError: t.csv: row 2, column 'a': 'x' is not a number
    """
    features, codes, bad_col = _to_features(table, columns, source, blank_ok)
    if codes is not None:
        rows = np.arange(first_row, first_row + table.num_rows)
        problems = sorted(cell_problems(table, columns, codes, bad_col, rows))
        raise DataError(cell_message(source, *problems[0], fmt=fmt))
    return features


def numeric_share(column: pa.ChunkedArray | pa.Array) -> float:
    """Share of a column's non-empty cells that are numbers (1.0 for numeric types).

    Used to pick "the numeric columns" of a table read as text: a column counts
    as numeric when most of its cells are numbers, so a stray ``"n/a"`` in a
    numeric column is reported as an invalid cell instead of silently dropping
    the column. Boolean columns count as numeric (0/1); an all-empty column as 0.

    Examples
    --------
    >>> numeric_share(pa.array(["1", "2.5", "n/a", ""]))
    0.6666666666666666
    """
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return 1.0
    if pa.types.is_boolean(kind) or pa.types.is_decimal(kind):
        return 1.0
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return 0.0
    trimmed = pc.utf8_trim_whitespace(column)
    filled = pc.fill_null(pc.not_equal(trimmed, ""), False)
    non_empty = int(pc.sum(filled).as_py() or 0)
    if not non_empty:
        return 0.0
    looks = pc.match_substring_regex(trimmed, _NUMBER_RE, ignore_case=True)
    numbers = int(pc.sum(pc.fill_null(looks, False)).as_py() or 0)
    return numbers / non_empty
