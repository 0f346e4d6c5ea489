"""Column conversion and row hashing shared by the profile and the run monitor.

Numbers become ``float64`` with NaN for a blank cell; categories become an Arrow
string array with null for a blank cell. Row priorities are a fixed 64-bit hash of
(source, row number), so a sample chosen by them does not depend on how the rows
were batched, partitioned or merged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "ColumnKind",
    "as_categories",
    "as_numbers",
    "infer_kind",
    "iter_columns",
    "level_counts",
    "row_priority",
    "source_key",
]

ColumnKind = Literal["numeric", "categorical"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def source_key(source: str | int) -> int:
    """A 64-bit key of a source name (file, partition) or an integer seed."""
    digest = hashlib.blake2b(str(source).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def row_priority(rows: np.ndarray, key: int) -> np.ndarray:
    """splitmix64 of ``row + key``: a uniform-looking ``uint64`` per row number."""
    z = np.asarray(rows).astype(np.uint64)  # a copy, updated in place below
    with np.errstate(over="ignore"):
        z += np.uint64(key)
        z *= _GOLDEN
        z ^= z >> np.uint64(30)
        z *= _MIX1
        z ^= z >> np.uint64(27)
        z *= _MIX2
        z ^= z >> np.uint64(31)
    return z


def _arrow(values: Any) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    return pa.array(values, from_pandas=True)


def _is_numeric_type(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
    )


def infer_kind(values: Any) -> ColumnKind:
    """``"numeric"`` for integer, float and decimal columns, else ``"categorical"``."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        return "numeric"
    arr = _arrow(values)
    t = arr.type.value_type if pa.types.is_dictionary(arr.type) else arr.type
    return "numeric" if _is_numeric_type(t) else "categorical"


def as_numbers(values: Any, name: str = "column") -> np.ndarray:
    """``float64`` copy-free where possible; NaN (or Arrow null) = blank."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        return values.astype(np.float64, copy=False)
    arr = _arrow(values)
    if pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, arr.type.value_type)
    try:
        arr = pc.cast(arr, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise ValueError(
            f"column {name!r} is numeric in the training profile but holds "
            f"{arr.type} values that are not numbers"
        ) from None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)


def as_categories(values: Any) -> pa.Array:
    """An Arrow string array; null = blank. Numbers become their text."""
    arr = _arrow(values)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    return arr


def level_counts(arr: pa.Array) -> tuple[dict[str, int], int]:
    """Counts of each non-blank level, and the number of blank cells."""
    counts = pc.value_counts(arr)
    values = counts.field("values").to_pylist()
    numbers = counts.field("counts").to_pylist()
    levels = {v: int(c) for v, c in zip(values, numbers, strict=True) if v is not None}
    return levels, int(arr.null_count)


def iter_columns(data: Any) -> Iterator[tuple[str, Any]]:
    """(name, values) of a mapping, a pyarrow Table or a pandas DataFrame."""
    if isinstance(data, pa.Table):
        for name in data.column_names:
            yield name, data.column(name)
    elif isinstance(data, Mapping):
        for name, values in data.items():
            yield str(name), values
    elif hasattr(data, "columns") and hasattr(data, "__getitem__"):
        for name in list(data.columns):
            yield str(name), data[name]
    else:
        raise TypeError(
            "columns must be a mapping of name to array, a pyarrow Table or a "
            f"pandas DataFrame, got {type(data).__name__}"
        )


def n_rows_of(columns: Iterable[Any]) -> int | None:
    """The common length of the columns (None when there are none)."""
    sizes = {len(c) for c in columns}
    if len(sizes) > 1:
        raise ValueError(f"columns of different lengths: {sorted(sizes)}")
    return sizes.pop() if sizes else None


def numeric_blanks_and_take(
    values: Any, take: np.ndarray, name: str = "column"
) -> tuple[int, np.ndarray]:
    """Blank cells of a numeric column and its ``float64`` values at ``take``.

    Arrow columns are counted and gathered without converting the whole column.
    """
    if isinstance(values, pa.Array | pa.ChunkedArray) and _is_numeric_type(values.type):
        arr = (
            values
            if pa.types.is_float64(values.type)
            else pc.cast(values, pa.float64())
        )
        blanks = arr.null_count
        if arr.null_count < len(arr):
            blanks += int(pc.sum(pc.is_nan(arr)).as_py() or 0)
        picked = arr.take(pa.array(take, type=pa.int64())) if take.size else arr[:0]
        return blanks, np.asarray(
            picked.to_numpy(zero_copy_only=False), dtype=np.float64
        )
    x = as_numbers(values, name)
    return int(np.count_nonzero(np.isnan(x))), x[take]
