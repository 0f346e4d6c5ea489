"""The table's column kinds, vocabularies and blank rates: plain data, saved as JSON.

A :class:`TableSchema` says, for every column of a mixed table, how the model
treats it: ``"numeric"`` (a Gaussian likelihood on transformed, standardised
values), ``"categorical"`` (a softmax over the kept levels, plus one bucket for
infrequent levels) or ``"binary"`` (a Bernoulli), and how often it was blank in
training. It is the one place that decides "which columns are categorical"; the
encoder (:mod:`anomvae.tabular`), the estimators and the CLI all read it. It holds
numbers, strings and tuples only, round-trips through JSON and imports neither
torch nor any estimator.

What a cell *means* is also decided here, for inference and encoding alike:

- **blank**: ``None``, ``NaN``, ``pd.NA``, ``NaT`` and, in text columns, strings
  that are empty or only whitespace;
- **level**: the string a categorical cell is compared by (:func:`level_string`):
  text as it is, ``True``/``False`` as ``"true"``/``"false"``, integral numbers
  without a decimal point (``1`` and ``1.0`` are both ``"1"``), other numbers in
  their shortest form (``"2.5"``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from anomvae.exceptions import DataError, ModelFileError

__all__ = [
    "HEAVY_TAIL_RATIO",
    "KINDS",
    "MAX_LEVELS",
    "TRANSFORMS",
    "ColumnSchema",
    "TableSchema",
    "apply_transform",
    "as_frame",
    "factorize_column",
    "invert_transform",
    "level_string",
    "level_strings",
]

KINDS = ("numeric", "categorical", "binary")
TRANSFORMS = ("none", "log1p", "signed_log1p")

#: Most levels a categorical column keeps; the rest share the infrequent bucket.
#: A safety cap, applied whatever ``max_categories`` says: it bounds the schema
#: (a column of 100,000 distinct ids stores 1,000 strings, not 100,000), the
#: one-hot input and the softmax head (at most 1,001 units each per column). A
#: level outside the 1,000 most frequent has a training share below 0.1% or
#: shares its count with more than 1,000 others, so the model can learn little
#: about it individually; the bucket still models how often rare levels occur.
MAX_LEVELS = 1000

#: ``numeric_transform="auto"`` log-transforms a column whose extreme training
#: value lies more than this many robust standard deviations from the median. No
#: Gaussian sample of any practical size gets there (``P(|z| > 10) = 1.5e-23``).
HEAVY_TAIL_RATIO = 10.0

#: IQR / 1.349 and 1.2533 * mean absolute deviation both estimate a Gaussian sd.
_IQR_TO_STD = 1.349
_MAD_TO_STD = math.sqrt(math.pi / 2.0)
_SCHEMA_FORMAT = "anomvae.table_schema"
_SCHEMA_VERSION = 1
_BOOL_DTYPES = ("bool", "boolean")


# ---------------------------------------------------------------- cell meanings
def level_string(value: Any) -> str:
    """The level a categorical or binary cell is compared by.

    Examples
    --------
    >>> [level_string(v) for v in ("a", 1, 1.0, 2.5, True, np.int64(7))]
    ['a', '1', '1', '2.5', 'true', '7']
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        f = float(value)
        if f.is_integer():
            return str(int(f))
        return str(value) if isinstance(value, np.floating) else repr(f)
    return str(value)


def level_strings(values: np.ndarray) -> list[str]:
    """:func:`level_string` of each value (fast when all are already text).

    Examples
    --------
    >>> level_strings(np.array(["a", 2.0, True], dtype=object))
    ['a', '2', 'true']
    """
    if pd.api.types.infer_dtype(values, skipna=False) == "string":
        return list(values.tolist())
    return [level_string(v) for v in values]


def _is_blank_text(value: Any) -> bool:
    return isinstance(value, str) and not value.strip()


def factorize_column(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes and distinct values of a column, with every blank cell coded ``-1``.

    Returns ``(codes, uniques)``: ``codes`` is int64 of the column's length and
    ``uniques`` an object array of the distinct non-blank values, so that work per
    distinct value (stringifying, parsing) is done once, not once per row.

    Examples
    --------
    >>> codes, uniques = factorize_column(pd.Series(["a", None, "", "b", "a"]))
    >>> codes.tolist(), uniques.tolist()
    ([0, -1, -1, 1, 0], ['a', 'b'])
    """
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.int64)
    values = np.asarray(uniques, dtype=object)
    if pd.api.types.infer_dtype(values, skipna=False) == "string":
        blank = np.fromiter((not v or v.isspace() for v in values), bool, len(values))
    else:
        blank = np.fromiter((_is_blank_text(v) for v in values), bool, len(values))
    if blank.any():
        keep = np.flatnonzero(~blank)
        remap = np.full(len(values) + 1, -1, dtype=np.int64)
        remap[keep] = np.arange(len(keep))
        codes = remap[codes]  # code -1 indexes the last slot, which stays -1
        values = values[keep]
    return codes, values


def as_frame(X: Any, names: Sequence[str] | None = None) -> pd.DataFrame:
    """``X`` as a DataFrame; arrays get ``names`` (default ``x0, x1, ...``).

    Examples
    --------
    >>> list(as_frame(np.zeros((2, 3))).columns)
    ['x0', 'x1', 'x2']
    """
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise DataError(f"expected a 2-D table, got an array of shape {arr.shape}")
    if names is None or len(names) != arr.shape[1]:
        names = [f"x{i}" for i in range(arr.shape[1])]
    return pd.DataFrame(arr, columns=list(names))


def _first_row(codes: np.ndarray, k: int) -> int:
    """1-based position of the first row holding distinct value ``k``."""
    return int(np.flatnonzero(codes == k)[0]) + 1


# ---------------------------------------------------------------- the schema
@dataclass(frozen=True)
class ColumnSchema:
    """How one column is modelled; plain data.

    Parameters
    ----------
    name : str
        The column's name (as a string).
    kind : {"numeric", "categorical", "binary"}
        Which likelihood models it.
    dtype : str
        The training column's dtype (``str(dtype)``; for object columns the type
        its values had: ``"bool"``, ``"float64"`` or ``"object"``), used to give
        decoded values back in the column's own type.
    n_train : int
        Training rows (blank ones included).
    blank_rate : float
        Share of training rows in which the cell was blank.
    categories : tuple of str
        Categorical: the kept levels, most frequent first (ties by level). Binary:
        the negative and the positive value, ``("false", "true")`` or
        ``("0", "1")``. Empty for numeric columns.
    counts : tuple of int
        Training rows per code: one per category, then the infrequent bucket's.
    infrequent : bool
        Categorical: levels seen in training but not kept share one bucket, which
        has the last code, ``len(categories)``.
    n_levels : int
        Distinct non-blank values seen in training (categorical and binary).
    transform : {"none", "log1p", "signed_log1p"}
        Numeric: the transform applied before standardising.
    center, scale : float
        Numeric: mean and standard deviation of the transformed training values
        (``scale`` is 1 for a constant column, as in
        :class:`anomvae.preprocessing.Scaler`).
    minimum, maximum : float or None
        Numeric: range of the raw training values.
    integer : bool
        Numeric: every training value was a whole number.

    Examples
    --------
    >>> col = ColumnSchema("colour", "categorical", "str", n_train=3,
    ...                    categories=("red", "blue"), counts=(2, 1))
    >>> col.n_codes
    2
    """

    name: str
    kind: str
    dtype: str
    n_train: int
    blank_rate: float = 0.0
    categories: tuple[str, ...] = ()
    counts: tuple[int, ...] = ()
    infrequent: bool = False
    n_levels: int = 0
    transform: str = "none"
    center: float = 0.0
    scale: float = 1.0
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name!r}: unknown kind {self.kind!r}")
        if self.transform not in TRANSFORMS:
            raise ValueError(
                f"column {self.name!r}: unknown transform {self.transform!r}"
            )
        if self.kind == "binary" and len(self.categories) != 2:
            raise ValueError(f"binary column {self.name!r} needs two categories")
        if self.kind == "categorical" and self.n_codes < 2:
            raise ValueError(f"categorical column {self.name!r} needs two codes")

    @property
    def n_codes(self) -> int:
        """Codes of a categorical column (kept levels + the bucket), 2 for binary,
        0 for numeric."""
        if self.kind == "numeric":
            return 0
        return len(self.categories) + int(self.infrequent)

    @property
    def modelled_blank(self) -> bool:
        """Whether the column had blanks in training (so blankness is modelled)."""
        return self.blank_rate > 0.0


@dataclass(frozen=True)
class TableSchema:
    """Column kinds, vocabularies, transforms and blank rates of a table.

    Build one with :meth:`infer` from training data; save it with
    :meth:`to_dict` (JSON-safe) and load it with :meth:`from_dict`.

    Parameters
    ----------
    columns : tuple of ColumnSchema
        One entry per column, in the table's order.

    Examples
    --------
    >>> frame = pd.DataFrame({"bytes": [10.0, 20.0, None], "proto": ["tcp", "udp",
    ...                       "tcp"], "ok": [True, False, True]})
    >>> schema = TableSchema.infer(frame)
    >>> [(c.name, c.kind) for c in schema.columns]
    [('bytes', 'numeric'), ('proto', 'categorical'), ('ok', 'binary')]
    >>> TableSchema.from_dict(schema.to_dict()) == schema
    True
    """

    columns: tuple[ColumnSchema, ...]

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise DataError(f"duplicate column names: {dupes}")

    @property
    def names(self) -> tuple[str, ...]:
        """The column names, in order."""
        return tuple(c.name for c in self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def column(self, name: str) -> ColumnSchema:
        """The schema of the column called ``name``."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (lists, strings, numbers, booleans, None)."""
        return {
            "format": _SCHEMA_FORMAT,
            "version": _SCHEMA_VERSION,
            "columns": [
                {
                    k: list(v) if isinstance(v, tuple) else v
                    for k, v in asdict(c).items()
                }
                for c in self.columns
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TableSchema:
        """Inverse of :meth:`to_dict`."""
        if data.get("format") != _SCHEMA_FORMAT:
            raise ModelFileError("not a table schema (no 'anomvae.table_schema')")
        if int(data.get("version", 0)) > _SCHEMA_VERSION:
            raise ModelFileError(
                f"table schema version {data['version']} is newer than this anomvae "
                f"reads ({_SCHEMA_VERSION}); upgrade anomvae"
            )
        cols = []
        for c in data["columns"]:
            c = dict(c)
            c["categories"] = tuple(str(v) for v in c.get("categories", ()))
            c["counts"] = tuple(int(v) for v in c.get("counts", ()))
            cols.append(ColumnSchema(**c))
        return cls(tuple(cols))

    def describe(self) -> list[dict[str, Any]]:
        """One summary dictionary per column, for ``anomvae info``.

        Examples
        --------
        >>> frame = pd.DataFrame({"n": [1.0, 2.0, None, 4.0], "c": list("abab")})
        >>> TableSchema.infer(frame).describe()[0]
        {'name': 'n', 'kind': 'numeric', 'levels': None, 'infrequent': False, 'blank_rate': 0.25, 'transform': 'none'}
        """  # noqa: E501
        return [
            {
                "name": c.name,
                "kind": c.kind,
                "levels": None if c.kind == "numeric" else len(c.categories),
                "infrequent": c.infrequent,
                "blank_rate": c.blank_rate,
                "transform": c.transform if c.kind == "numeric" else None,
            }
            for c in self.columns
        ]

    def with_numeric_scaling(
        self, center: Sequence[float], scale: Sequence[float]
    ) -> TableSchema:
        """A copy whose numeric columns (in order) use the given standardisation,
        e.g. that of an :class:`anomvae.preprocessing.Scaler` fitted on the same
        rows, so a numeric-only model's inputs stay bit-identical to the scaler's.

        Examples
        --------
        >>> schema = TableSchema.infer(pd.DataFrame({"a": [1.0, 3.0]}))
        >>> schema.with_numeric_scaling([0.0], [2.0]).columns[0].scale
        2.0
        """
        numeric = [i for i, c in enumerate(self.columns) if c.kind == "numeric"]
        if len(center) != len(numeric) or len(scale) != len(numeric):
            raise ValueError(
                f"need {len(numeric)} centers and scales, got {len(center)} and "
                f"{len(scale)}"
            )
        cols = list(self.columns)
        for k, i in enumerate(numeric):
            cols[i] = replace(cols[i], center=float(center[k]), scale=float(scale[k]))
        return TableSchema(tuple(cols))

    @classmethod
    def infer(
        cls,
        frame: Any,
        *,
        categorical_features: Any = "from_dtype",
        min_frequency: float | None = None,
        max_categories: int | None = None,
        numeric_transform: str | Mapping[str, str] = "auto",
    ) -> TableSchema:
        """Infer each column's kind, levels, transform and blank rate.

        Kinds come from the dtypes: ``bool``/``boolean`` columns are binary;
        integer and float columns are numeric, or binary when every non-blank value
        is 0 or 1; ``object``, ``str``/``string`` and ``category`` columns are
        categorical, except object columns that hold only numbers (numeric, or
        binary when all are 0/1) or only booleans (binary). Text that looks like a
        number (``"007"``) stays text: a reader that wants numbers parses them.

        Parameters
        ----------
        frame : DataFrame or 2-D array
            Training rows (normal data).
        categorical_features : "from_dtype", array-like of str, bool or int
            As in :class:`~sklearn.ensemble.HistGradientBoostingClassifier`:
            ``"from_dtype"`` (or ``None``), column names, a boolean mask over the
            columns, or integer column positions. Columns given here are
            categorical whatever their dtype (digit-coded ranks, hospital codes;
            ``1`` and ``1.0`` become the level ``"1"``); text and ``category``
            columns are categorical in any case.
        min_frequency : int or float, optional
            As in :class:`~sklearn.preprocessing.OneHotEncoder`: levels seen on
            fewer rows (an int) or on a smaller share of the training rows (a
            float in (0, 1)) go to the infrequent bucket.
        max_categories : int, optional
            As in :class:`~sklearn.preprocessing.OneHotEncoder`: at most this many
            codes per categorical column, *counting the infrequent bucket*; the
            least frequent levels go to the bucket (ties: the level first in sort
            order goes). At least 2. :data:`MAX_LEVELS` kept levels is the cap in
            every case.
        numeric_transform : {"auto", "none", "log1p", "signed_log1p"} or dict
            Transform of numeric columns before standardising, or a dictionary
            from column name to one of these (unlisted columns: ``"auto"``).
            ``"log1p"`` applies :math:`\\log(1+x)` to columns whose training
            values are all non-negative (others get none); ``"signed_log1p"``
            applies :math:`\\operatorname{sign}(x)\\log(1+|x|)` to every column.
            ``"auto"`` decides per column, from the training values alone: with
            :math:`m` the median and :math:`s` the robust standard deviation
            (IQR / 1.349, or 1.2533 times the mean absolute deviation from the
            median when the IQR is 0), the tail is *heavy* when
            :math:`\\max(x_{\\max} - m,\\, m - x_{\\min}) / s >`
            :data:`HEAVY_TAIL_RATIO` (10); a heavy column gets ``"log1p"`` if
            its values are non-negative, else ``"signed_log1p"``; other columns
            get ``"none"``. Byte counts up to 5e9 are heavy; Gaussian and uniform
            columns are not. A log transform is close to linear on values far
            from 0 relative to their spread, so a false "heavy" verdict costs
            little, while a heavy tail left alone squeezes the bulk of the column
            into a tiny range after standardising.

        Returns
        -------
        TableSchema

        Raises
        ------
        DataError
            A frame without rows or columns; a column that is blank on every row;
            a categorical column with one level (or whose levels are all
            infrequent); an infinite number; a column of dates or another type
            anomvae cannot model.
        ValueError
            Invalid ``categorical_features``, ``min_frequency``,
            ``max_categories`` or ``numeric_transform``.

        Examples
        --------
        >>> frame = pd.DataFrame({"rank": [1, 2, 2, 3, 1],
        ...                       "bytes": [120, 200, 150, 100, 5e9]})
        >>> schema = TableSchema.infer(frame, categorical_features=["rank"])
        >>> schema.column("rank").categories, schema.column("bytes").transform
        (('1', '2', '3'), 'log1p')
        """
        frame = as_frame(frame)
        if frame.shape[1] == 0:
            raise DataError("the table has no columns")
        if frame.shape[0] == 0:
            raise DataError("the table has no rows")
        names = [str(c) for c in frame.columns]
        forced = _categorical_positions(categorical_features, names)
        _check_level_options(min_frequency, max_categories)
        transforms = _transform_options(numeric_transform, names)
        cols = [
            _infer_column(
                names[j],
                frame.iloc[:, j],
                categorical=j in forced,
                min_frequency=min_frequency,
                max_categories=max_categories,
                transform=transforms[j],
            )
            for j in range(frame.shape[1])
        ]
        return cls(tuple(cols))


# ---------------------------------------------------------------- option checks
def _categorical_positions(spec: Any, names: list[str]) -> set[int]:
    if spec is None or (isinstance(spec, str) and spec == "from_dtype"):
        return set()
    if isinstance(spec, str):
        raise ValueError(
            "categorical_features must be 'from_dtype' or an array-like of column "
            f"names, a boolean mask or integer indices, not {spec!r}"
        )
    arr = np.asarray(list(spec))
    if arr.size == 0:
        return set()
    if arr.dtype.kind == "b":
        if arr.shape != (len(names),):
            raise ValueError(
                f"categorical_features mask has {arr.size} entries for "
                f"{len(names)} columns"
            )
        return set(np.flatnonzero(arr).tolist())
    if arr.dtype.kind in "iu":
        bad = [int(i) for i in arr if not 0 <= i < len(names)]
        if bad:
            raise ValueError(
                f"categorical_features indices {bad} are outside [0, {len(names)})"
            )
        return {int(i) for i in arr}
    if arr.dtype.kind in "UO":
        wanted = [str(v) for v in arr]
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise ValueError(f"categorical_features names unknown columns: {unknown}")
        return {names.index(n) for n in wanted}
    raise ValueError(
        "categorical_features must hold column names, booleans or integers"
    )


def _check_level_options(min_frequency: Any, max_categories: Any) -> None:
    if min_frequency is not None:
        if isinstance(min_frequency, bool) or not isinstance(
            min_frequency, numbers.Real
        ):
            raise ValueError(f"min_frequency must be a number, not {min_frequency!r}")
        if isinstance(min_frequency, numbers.Integral):
            if min_frequency < 1:
                raise ValueError("an integer min_frequency must be at least 1")
        elif not 0.0 < float(min_frequency) < 1.0:
            raise ValueError("a float min_frequency must lie in (0, 1)")
    if max_categories is not None and (
        isinstance(max_categories, bool)
        or not isinstance(max_categories, numbers.Integral)
        or max_categories < 2
    ):
        raise ValueError(
            "max_categories must be an integer >= 2 (it counts the infrequent "
            f"bucket), not {max_categories!r}"
        )


def _transform_options(spec: str | Mapping[str, str], names: list[str]) -> list[str]:
    allowed = ("auto", *TRANSFORMS)
    if isinstance(spec, str):
        per = dict.fromkeys(names, spec)
    else:
        unknown = [n for n in spec if n not in names]
        if unknown:
            raise ValueError(f"numeric_transform names unknown columns: {unknown}")
        per = {n: spec.get(n, "auto") for n in names}
    bad = sorted({v for v in per.values() if v not in allowed})
    if bad:
        raise ValueError(f"numeric_transform must be one of {allowed}, not {bad}")
    return [per[n] for n in names]


# ---------------------------------------------------------------- inference
def _infer_column(
    name: str,
    col: pd.Series,
    *,
    categorical: bool,
    min_frequency: float | None,
    max_categories: int | None,
    transform: str,
) -> ColumnSchema:
    n = len(col)
    hint = _dtype_hint(name, col.dtype)
    out_dtype = str(col.dtype)
    if hint == "number" and not categorical:
        # Numeric dtypes: no need to hash every distinct float.
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
        blank = np.isnan(values)
        if blank.all():
            raise DataError(
                f"column {name!r} is blank on every training row; drop it or fill it"
            )
    else:
        codes, uniques = factorize_column(col)
        if len(uniques) == 0:
            raise DataError(
                f"column {name!r} is blank on every training row; drop it or fill it"
            )
        blank = codes < 0
        if hint == "text" and pd.api.types.is_object_dtype(col.dtype):
            if all(isinstance(v, bool | np.bool_) for v in uniques):
                hint, out_dtype = "bool", "bool"
            elif all(_is_number(v) for v in uniques):
                hint, out_dtype = "number", "float64"
        if categorical or hint == "text":
            common = _common(name, out_dtype, n, blank)
            levels = level_strings(uniques)
            return _categorical_column(
                common, levels, codes, n, min_frequency, max_categories
            )
        mapped = np.array([float(v) for v in uniques], dtype=np.float64)
        values = np.where(blank, np.nan, mapped[np.maximum(codes, 0)])
    common = _common(name, out_dtype, n, blank)
    present = values[~blank]
    if hint == "bool":
        categories = ("false", "true")
    elif np.isin(present, (0.0, 1.0)).all():
        categories = ("0", "1")
    else:
        bad = np.flatnonzero(np.isinf(values))
        if bad.size:
            raise DataError(
                f"column {name!r}, row {int(bad[0]) + 1}: infinite value "
                f"{values[bad[0]]}"
            )
        return _numeric_column(common, present, transform)
    count1 = int(np.count_nonzero(present == 1.0))
    return ColumnSchema(
        kind="binary",
        categories=categories,
        counts=(present.size - count1, count1),
        n_levels=int(count1 > 0) + int(count1 < present.size),
        **common,
    )


def _dtype_hint(name: str, dtype: Any) -> str:
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(
        dtype
    ):
        return "number"
    if (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    ):
        return "text"
    raise DataError(
        f"column {name!r} has dtype {dtype}, which anomvae cannot model; "
        "convert it to numbers or text, or drop it"
    )


def _common(name: str, dtype: str, n: int, blank: np.ndarray) -> dict[str, Any]:
    rate = float(np.count_nonzero(blank)) / n
    return {"name": name, "dtype": dtype, "n_train": n, "blank_rate": rate}


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _categorical_column(
    common: dict[str, Any],
    levels: list[str],
    codes: np.ndarray,
    n: int,
    min_frequency: float | None,
    max_categories: int | None,
) -> ColumnSchema:
    per_unique = np.bincount(codes[codes >= 0], minlength=len(levels))
    order = np.asarray(levels, dtype=object)
    if len(set(levels)) < len(levels):
        # Distinct values with the same level (1 and 1.0) count together.
        counts = pd.Series(per_unique).groupby(order).sum()
        order, per_unique = np.asarray(counts.index, dtype=object), counts.to_numpy()
    # sklearn's order: levels sorted, then a stable sort by count.
    by_level = np.argsort(order, kind="stable")
    order, count = order[by_level], per_unique[by_level].astype(np.int64)
    infrequent = _infrequent_mask(count, n, min_frequency, max_categories)
    kept = sorted(
        zip(order[~infrequent].tolist(), count[~infrequent].tolist(), strict=True),
        key=lambda lc: (-lc[1], lc[0]),
    )
    n_rare = int(count[infrequent].sum())
    name = common["name"]
    if len(kept) + int(infrequent.any()) < 2:
        why = (
            f"has one level ({order[0]!r})"
            if len(order) == 1
            else "has all its levels in the infrequent bucket (min_frequency)"
        )
        raise DataError(
            f"categorical column {name!r} {why} in the training rows, so it carries "
            "no information; drop the column"
        )
    return ColumnSchema(
        kind="categorical",
        categories=tuple(level for level, _ in kept),
        counts=tuple(c for _, c in kept) + ((n_rare,) if infrequent.any() else ()),
        infrequent=bool(infrequent.any()),
        n_levels=len(order),
        **common,
    )


def _infrequent_mask(
    count: np.ndarray,
    n_samples: int,
    min_frequency: float | None,
    max_categories: int | None,
) -> np.ndarray:
    """sklearn's ``OneHotEncoder._identify_infrequent`` rule, with the
    :data:`MAX_LEVELS` cap; ``count`` is in sorted-level order."""
    if isinstance(min_frequency, numbers.Integral):
        mask = count < min_frequency
    elif min_frequency is not None:
        mask = count < n_samples * float(min_frequency)
    else:
        mask = np.zeros(count.shape, dtype=bool)
    cap = (
        MAX_LEVELS + 1
        if max_categories is None
        else min(max_categories, MAX_LEVELS + 1)
    )
    if cap < count.size - mask.sum() + 1:
        smallest = np.argsort(count, kind="mergesort")[: -(cap - 1)]
        mask[smallest] = True
    return mask


def _choose_transform(x: np.ndarray, option: str) -> str:
    nonneg = bool(x.min() >= 0)
    if option == "log1p":
        return "log1p" if nonneg else "none"
    if option != "auto":
        return option
    biggest = float(np.abs(x).max())
    if biggest == 0.0:
        return "none"
    u = x / biggest  # the ratio is scale-free; this keeps 1e308 from overflowing
    q1, med, q3 = np.percentile(u, [25, 50, 75])
    spread = (q3 - q1) / _IQR_TO_STD
    if not spread > 0:
        spread = _MAD_TO_STD * float(np.abs(u - med).mean())
    if not spread > 0:
        return "none"
    ratio = max(u.max() - med, med - u.min()) / spread
    if not ratio > HEAVY_TAIL_RATIO:
        return "none"
    return "log1p" if nonneg else "signed_log1p"


def apply_transform(x: np.ndarray, transform: str) -> np.ndarray:
    """Apply a numeric transform (:data:`TRANSFORMS`) elementwise.

    Both log transforms compute :math:`\\operatorname{sign}(x)\\log(1+|x|)`:
    on the non-negative values ``"log1p"`` is chosen for it *is*
    :math:`\\log(1+x)`, and a negative value met later (where
    :math:`\\log(1+x)` would be NaN) stays finite, far below every training
    value.

    Examples
    --------
    >>> apply_transform(np.array([0.0, np.e - 1, -(np.e - 1)]), "log1p").round(6)
    array([ 0.,  1., -1.])
    """
    if transform in ("log1p", "signed_log1p"):
        return np.sign(x) * np.log1p(np.abs(x))
    return x


def invert_transform(t: np.ndarray, transform: str) -> np.ndarray:
    """Inverse of :func:`apply_transform`, finite for any finite input (values past
    the float64 range are clipped to it).

    Examples
    --------
    >>> invert_transform(np.array([1.0, -1.0, 1e6]), "log1p")
    array([ 1.71828183e+000, -1.71828183e+000,  1.79769313e+308])
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if transform in ("log1p", "signed_log1p"):
            x = np.sign(t) * np.expm1(np.minimum(np.abs(t), 710.0))
        else:
            x = t
    big = np.finfo(np.float64).max
    return np.clip(x, -big, big)


def _numeric_column(common: dict[str, Any], x: np.ndarray, option: str) -> ColumnSchema:
    transform = _choose_transform(x, option)
    t = apply_transform(x, transform)
    with np.errstate(over="ignore", invalid="ignore"):
        center, scale = float(t.mean()), float(t.std())
    if not (math.isfinite(center) and math.isfinite(scale)):
        # Values near 1e308: the mean and sd of t / max|t|, scaled back.
        biggest = float(np.abs(t).max())
        u = t / biggest
        center, scale = float(u.mean()) * biggest, float(u.std()) * biggest
    if not (math.isfinite(scale) and scale > 1e-12 * (1.0 + abs(center))):
        scale = 1.0
    return ColumnSchema(
        kind="numeric",
        transform=transform,
        center=center,
        scale=scale,
        minimum=float(x.min()),
        maximum=float(x.max()),
        integer=bool(np.all(x == np.round(x))),
        **common,
    )
