"""Mixed tables to arrays and back, driven by a :class:`~anomvae.schema.TableSchema`.

:class:`TableEncoder` turns a DataFrame with numeric, categorical and binary
columns and blank cells into the arrays a joint VAE needs (:class:`EncodedTable`):
the encoder's input, the per-type targets, and which cells are blank or hold a
value never seen in training. :class:`TableLayout` says where each column sits in
the network's input and output.

Input and output share one layout, column group by column group::

    [ numeric (one per numeric column) | categorical (one block of n_codes per
      categorical column) | binary (one per binary column) | blank (one per column
      that had blanks in training) ]

Inputs hold standardised numbers, one-hot levels, 0/1 flags and blank
indicators; outputs hold Gaussian means, softmax logits, Bernoulli logits and
blank logits. A blank cell is 0 in its value inputs and left out of its value's
likelihood; where the column had blanks in training, its blank indicator is 1 and
its blank head models *whether* it is blank.

:func:`cell_negative_log_likelihood` scores each cell in nats (torch, imported
lazily inside the function, so encoding needs no torch); :class:`TableBatch` carries
the targets of a block of rows beside the network input through training and
scoring; :mod:`anomvae.explain` turns the worst cells into reasons in the data's
own units.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from anomvae.exceptions import DataError, MissingColumnsError
from anomvae.schema import (
    ColumnSchema,
    TableSchema,
    apply_transform,
    as_frame,
    factorize_column,
    invert_transform,
    level_strings,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "NUMERIC_CLIP",
    "EncodedTable",
    "TableBatch",
    "TableEncoder",
    "TableLayout",
    "TableTargets",
    "cell_negative_log_likelihood",
    "mask_cells",
]

#: Bound on standardised numeric inputs and targets. A value of 1e300 (or the
#: float64 maximum) would otherwise overflow the squared error to inf in float32;
#: at 1e6 standard deviations a cell is already far beyond any training value, and
#: its squared error (1e12) stays finite in float32 and bfloat16. The raw value is
#: kept in ``EncodedTable.values`` for explanations.
NUMERIC_CLIP = 1e6

#: ``handle_unknown`` choices of :meth:`TableEncoder.encode`.
HANDLE_UNKNOWN = ("infrequent_if_exist", "error")


@dataclass(frozen=True)
class TableLayout:
    """Where each column sits in the network's input and output (same widths).

    Attributes
    ----------
    n_columns, n_inputs, n_outputs : int
        Table columns; input and output widths (always equal).
    numeric : slice
        Decoder means of the numeric columns (also their inputs).
    categorical : tuple of slice
        One logit block (one-hot input block) per categorical column.
    binary : slice
        Bernoulli logits (0/1 inputs) of the binary columns.
    blank : slice
        Blank logits (blank-indicator inputs) of the columns with training blanks.
    numeric_columns, categorical_columns, binary_columns, blank_columns : tuple
        The schema column index behind each of the above, in order.
    column_of_input : tuple of int
        The schema column of each input (and output) position.
    input_groups : tuple of tuple of int
        Per schema column, all its input positions: value inputs, then its blank
        indicator if it has one.
    blank_input : tuple of int
        Per schema column, the position of its blank indicator, or -1.

    Examples
    --------
    >>> frame = pd.DataFrame({"x": [2.5, None, 4.0], "c": ["a", "b", "a"]})
    >>> lay = TableLayout.from_schema(TableSchema.infer(frame))
    >>> lay.numeric, lay.categorical, lay.blank
    (slice(0, 1, None), (slice(1, 3, None),), slice(3, 4, None))
    >>> lay.input_groups, lay.blank_input
    (((0, 3), (1, 2)), (3, -1))
    """

    n_columns: int
    n_inputs: int
    n_outputs: int
    numeric: slice
    categorical: tuple[slice, ...]
    binary: slice
    blank: slice
    numeric_columns: tuple[int, ...]
    categorical_columns: tuple[int, ...]
    binary_columns: tuple[int, ...]
    blank_columns: tuple[int, ...]
    column_of_input: tuple[int, ...]
    input_groups: tuple[tuple[int, ...], ...]
    blank_input: tuple[int, ...]

    @classmethod
    def from_schema(cls, schema: TableSchema) -> TableLayout:
        """The layout of a schema's columns."""
        cols = schema.columns
        num = tuple(i for i, c in enumerate(cols) if c.kind == "numeric")
        cat = tuple(i for i, c in enumerate(cols) if c.kind == "categorical")
        bins = tuple(i for i, c in enumerate(cols) if c.kind == "binary")
        blank = tuple(i for i, c in enumerate(cols) if c.modelled_blank)
        owner: list[int] = list(num)
        blocks = []
        for i in cat:
            blocks.append(slice(len(owner), len(owner) + cols[i].n_codes))
            owner += [i] * cols[i].n_codes
        start = len(owner)
        owner += list(bins)
        blank_start = len(owner)
        owner += list(blank)
        groups: list[list[int]] = [[] for _ in cols]
        for p, o in enumerate(owner[:blank_start]):
            groups[o].append(p)
        blank_input = [-1] * len(cols)
        for k, i in enumerate(blank):
            blank_input[i] = blank_start + k
            groups[i].append(blank_start + k)
        return cls(
            n_columns=len(cols),
            n_inputs=len(owner),
            n_outputs=len(owner),
            numeric=slice(0, len(num)),
            categorical=tuple(blocks),
            binary=slice(start, start + len(bins)),
            blank=slice(blank_start, len(owner)),
            numeric_columns=num,
            categorical_columns=cat,
            binary_columns=bins,
            blank_columns=blank,
            column_of_input=tuple(owner),
            input_groups=tuple(tuple(g) for g in groups),
            blank_input=tuple(blank_input),
        )

    def _masking_tensors(self, device: Any) -> tuple[torch.Tensor, ...]:
        """Index and mask tensors of :func:`mask_cells` on ``device``, built once
        per device: :attr:`column_of_input`, the value inputs (not the blank
        indicators) and :attr:`blank_columns`."""
        import torch

        cache: dict[str, tuple[torch.Tensor, ...]] = self.__dict__.setdefault(
            "_tensor_cache", {}
        )
        key = str(device)
        if key not in cache:
            owner = torch.tensor(self.column_of_input, dtype=torch.int64, device=device)
            value = torch.ones(self.n_inputs, dtype=torch.bool, device=device)
            value[self.blank] = False
            blank = torch.tensor(self.blank_columns, dtype=torch.int64, device=device)
            cache[key] = (owner, value, blank)
        return cache[key]

    def mask_columns(self, inputs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Inputs with the cells in ``mask`` (``(n, n_columns)`` bool) made blank:
        their value inputs set to 0 and their blank indicators (where the column
        has one) to 1, as the encoder sees a real blank. For denoising.

        Examples
        --------
        >>> frame = pd.DataFrame({"x": [2.5, None, 4.0], "c": ["a", "b", "a"]})
        >>> lay = TableLayout.from_schema(TableSchema.infer(frame))
        >>> lay.mask_columns(np.array([[0.5, 1.0, 0.0, 0.0]]), np.array([[True, False]]))
        array([[0., 1., 0., 1.]])
        """
        out = np.array(inputs, dtype=np.float64, copy=True)
        owner = np.asarray(self.column_of_input, dtype=np.int64)
        is_value = np.ones(self.n_inputs, dtype=bool)
        is_value[self.blank] = False
        out[:, is_value] *= ~mask[:, owner[is_value]]
        ind = np.asarray(self.blank_columns, dtype=np.int64)
        out[:, self.blank] = np.maximum(out[:, self.blank], mask[:, ind])
        return out


class TableTargets(NamedTuple):
    """The tensors of an :class:`EncodedTable` that the likelihoods need
    (:meth:`EncodedTable.targets`); a NamedTuple, so ``type(t)(*(a[idx] for a in
    t))`` selects a minibatch."""

    numeric: torch.Tensor
    numeric_observed: torch.Tensor
    codes: torch.Tensor
    binary: torch.Tensor
    binary_observed: torch.Tensor
    binary_unknown: torch.Tensor
    blank: torch.Tensor
    unknown: torch.Tensor


@dataclass
class EncodedTable:
    """Arrays for ``n`` rows of a mixed table (see :meth:`TableEncoder.encode`).

    Attributes
    ----------
    inputs : ndarray of shape (n, n_inputs), float64
        The encoder's input (see the module docstring for its layout).
    numeric : ndarray of shape (n, n_numeric), float64
        Transformed, standardised numbers, clipped to :data:`NUMERIC_CLIP`; 0
        where blank.
    numeric_observed : ndarray of shape (n, n_numeric), bool
    values : ndarray of shape (n, n_numeric), float64
        The raw numbers as parsed (NaN where blank), for explanations.
    codes : ndarray of shape (n, n_categorical), int64
        Level codes; the infrequent bucket is ``n_codes - 1``; ``-1`` blank,
        ``-2`` a level never seen in training.
    binary : ndarray of shape (n, n_binary), float64
        1 for the positive value, 0 for the negative one, blank or unknown.
    binary_observed, binary_unknown : ndarray of shape (n, n_binary), bool
    blank : ndarray of shape (n, n_columns), bool
        Blank cells (None, NaN, pd.NA, NaT, empty or whitespace-only text).
    unknown : ndarray of shape (n, n_columns), bool
        Cells holding a value their column never had in training.

    Examples
    --------
    >>> enc = TableEncoder(TableSchema.infer(pd.DataFrame({"c": ["a", "b", None]})))
    >>> e = enc.encode(pd.DataFrame({"c": ["b", None, "z"]}))
    >>> e.codes.ravel().tolist(), e.blank.ravel().tolist(), e.unknown.ravel().tolist()
    ([1, -1, -2], [False, True, False], [False, False, True])
    >>> e.targets().codes.ravel()
    tensor([ 1, -1, -2])
    """

    inputs: np.ndarray
    numeric: np.ndarray
    numeric_observed: np.ndarray
    values: np.ndarray
    codes: np.ndarray
    binary: np.ndarray
    binary_observed: np.ndarray
    binary_unknown: np.ndarray
    blank: np.ndarray
    unknown: np.ndarray

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.inputs.shape[0])

    def targets(
        self, dtype: torch.dtype | None = None, device: Any = None
    ) -> TableTargets:
        """The likelihood targets as tensors (floats in ``dtype``, default float64)."""
        import torch

        dtype = torch.float64 if dtype is None else dtype

        def t(a: np.ndarray, kind: Any) -> torch.Tensor:
            return torch.as_tensor(a, device=device).to(kind)

        return TableTargets(
            numeric=t(self.numeric, dtype),
            numeric_observed=t(self.numeric_observed, torch.bool),
            codes=t(self.codes, torch.int64),
            binary=t(self.binary, dtype),
            binary_observed=t(self.binary_observed, torch.bool),
            binary_unknown=t(self.binary_unknown, torch.bool),
            blank=t(self.blank, torch.bool),
            unknown=t(self.unknown, torch.bool),
        )


@dataclass(frozen=True)
class TableEncoder:
    """Encodes DataFrames for a mixed-table model and decodes its outputs.

    Parameters
    ----------
    schema : TableSchema
        The column kinds, levels and transforms (from training data).

    Attributes
    ----------
    layout : TableLayout
        Where each column sits in the network's input and output.

    Examples
    --------
    >>> frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", None]})
    >>> enc = TableEncoder(TableSchema.infer(frame))
    >>> enc.layout.n_inputs  # x, one-hot a/b, blank indicator of c
    4
    >>> enc.encode(frame).inputs.round(3).tolist()
    [[-1.225, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [1.225, 0.0, 0.0, 1.0]]
    """

    schema: TableSchema
    layout: TableLayout = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layout", TableLayout.from_schema(self.schema))
        object.__setattr__(self, "_index_cache", {})

    def _torch_indices(self, device: Any) -> dict[str, torch.Tensor]:
        """Index and constant tensors of the layout on ``device`` (built once per
        device), for :func:`cell_negative_log_likelihood`."""
        import torch

        key = str(device)
        cache: dict[str, dict[str, torch.Tensor]] = self._index_cache  # type: ignore[attr-defined]
        if key not in cache:
            lay, sch = self.layout, self.schema.columns
            blocks = lay.categorical
            first = blocks[0].start if blocks else 0
            segment = [k for k, b in enumerate(blocks) for _ in range(b.stop - b.start)]

            def t(values: Any, dtype: torch.dtype = torch.int64) -> torch.Tensor:
                return torch.tensor(values, dtype=dtype, device=device)

            f64 = torch.float64
            cache[key] = {
                "numeric": t(lay.numeric_columns),
                "categorical": t(lay.categorical_columns),
                "binary": t(lay.binary_columns),
                "blank": t(lay.blank_columns),
                "segment": t(segment),
                "block_start": t([b.start - first for b in blocks]),
                "categorical_floor": t(
                    [math.log1p(sch[i].n_train) for i in lay.categorical_columns], f64
                ),
                "binary_n_train": t(
                    [float(sch[i].n_train) for i in lay.binary_columns], f64
                ),
                "blank_floor": t(
                    [0.0 if c.modelled_blank else math.log1p(c.n_train) for c in sch],
                    f64,
                ),
            }
        return cache[key]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the schema; the layout follows from it)."""
        return {"schema": self.schema.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableEncoder:
        """Inverse of :meth:`to_dict`."""
        return cls(TableSchema.from_dict(data["schema"]))

    # ------------------------------------------------------------ encoding
    def columns_of(self, frame: Any) -> list[pd.Series]:
        """The schema's columns of ``frame``, in schema order (extra columns are
        ignored; missing ones raise :class:`~anomvae.exceptions.MissingColumnsError`)."""
        frame = as_frame(frame, self.schema.names)
        by_name = {str(c): j for j, c in enumerate(frame.columns)}
        missing = [n for n in self.schema.names if n not in by_name]
        if missing:
            raise MissingColumnsError(
                f"the table lacks columns the model was trained on: {missing}", missing
            )
        return [frame.iloc[:, by_name[n]] for n in self.schema.names]

    def encode(
        self,
        frame: Any,
        *,
        handle_unknown: str = "infrequent_if_exist",
        dtype: Any = np.float64,
    ) -> EncodedTable:
        """Encode rows of a table.

        Parameters
        ----------
        frame : DataFrame or 2-D array
            Rows with (at least) the schema's columns.
        handle_unknown : {"infrequent_if_exist", "error"}
            A categorical level never seen in training goes to the infrequent
            bucket where the column has one (as in
            :class:`~sklearn.preprocessing.OneHotEncoder`: the schema does not keep
            every rare level, so "rare" and "never seen" cannot be told apart
            there); otherwise it is marked unknown (code ``-2``, all-zero one-hot
            input). A binary cell that is neither of the two values is always
            unknown. With ``"error"`` an unknown cell raises instead.
        dtype : numpy dtype, default float64
            Of ``inputs`` only (targets stay float64). One-hot blocks make the
            input wide (a 1,001-level column is 8 kB per row in float64), so a
            caller that feeds float32 networks can halve it.

        Returns
        -------
        EncodedTable

        Raises
        ------
        DataError
            Text that is not a number in a numeric column, an infinite number, or
            (with ``handle_unknown="error"``) an unknown cell; the message names
            the column, the row (1-based position in ``frame``) and the value.
        """
        if handle_unknown not in HANDLE_UNKNOWN:
            raise ValueError(f"handle_unknown must be one of {HANDLE_UNKNOWN}")
        cols = self.columns_of(frame)
        lay, sch = self.layout, self.schema.columns
        n = len(cols[0]) if cols else 0
        inputs = np.zeros((n, lay.n_inputs), dtype=dtype)
        blank = np.zeros((n, lay.n_columns), dtype=bool)
        unknown = np.zeros((n, lay.n_columns), dtype=bool)
        values = np.zeros((n, len(lay.numeric_columns)))
        for k, i in enumerate(lay.numeric_columns):
            values[:, k] = _read_numbers(sch[i], cols[i])
            blank[:, i] = np.isnan(values[:, k])
        with np.errstate(over="ignore", invalid="ignore"):
            center = np.array([sch[i].center for i in lay.numeric_columns])
            scale = np.array([sch[i].scale for i in lay.numeric_columns])
            t = values.copy()
            for k, i in enumerate(lay.numeric_columns):
                if sch[i].transform != "none":
                    t[:, k] = apply_transform(values[:, k], sch[i].transform)
            numeric = (t - center) / scale
        numeric = np.clip(numeric, -NUMERIC_CLIP, NUMERIC_CLIP)
        numeric_observed = ~np.isnan(values)
        numeric[~numeric_observed] = 0.0
        inputs[:, lay.numeric] = numeric
        codes = np.zeros((n, len(lay.categorical_columns)), dtype=np.int64)
        for k, (i, block) in enumerate(
            zip(lay.categorical_columns, lay.categorical, strict=True)
        ):
            codes[:, k] = _read_codes(sch[i], cols[i], handle_unknown)
            hit = np.flatnonzero(codes[:, k] >= 0)
            inputs[hit, block.start + codes[hit, k]] = 1.0
            blank[:, i], unknown[:, i] = codes[:, k] == -1, codes[:, k] == -2
        binary = np.zeros((n, len(lay.binary_columns)))
        bin_unknown = np.zeros(binary.shape, dtype=bool)
        for k, i in enumerate(lay.binary_columns):
            binary[:, k], blank[:, i], bin_unknown[:, k] = _read_flags(
                sch[i], cols[i], handle_unknown
            )
            unknown[:, i] = bin_unknown[:, k]
        inputs[:, lay.binary] = binary
        inputs[:, lay.blank] = blank[:, list(lay.blank_columns)]
        return EncodedTable(
            inputs=inputs,
            numeric=numeric,
            numeric_observed=numeric_observed,
            values=values,
            codes=codes,
            binary=binary,
            binary_observed=~(blank[:, list(lay.binary_columns)] | bin_unknown),
            binary_unknown=bin_unknown,
            blank=blank,
            unknown=unknown,
        )

    # ------------------------------------------------------------ decoding
    def decode_values(self, outputs: np.ndarray) -> pd.DataFrame:
        """The most likely value of every column, in natural units.

        ``outputs`` ``(n, n_outputs)`` are decoder outputs. Numbers are
        inverse-standardised and inverse-transformed (rounded when every training
        value was whole, and cast back to an integer dtype); categories are the
        most likely *kept* level (never the infrequent bucket), as strings, or as
        numbers/booleans where the training column was numeric or boolean; binary
        columns give the more likely of their two values in the column's dtype.
        Blank heads are ignored: this is the value a blank cell most likely had.

        Examples
        --------
        >>> frame = pd.DataFrame({"x": [1.0, 3.0], "c": ["a", "b"], "f": [0, 1]})
        >>> enc = TableEncoder(TableSchema.infer(frame))
        >>> enc.decode_values(np.array([[0.0, -1.0, 2.0, 3.0]]))
             x  c  f
        0  2.0  b  1
        """
        out = np.asarray(outputs, dtype=np.float64)
        lay, sch = self.layout, self.schema.columns
        if out.ndim != 2 or out.shape[1] != lay.n_outputs:
            raise ValueError(
                f"outputs must have shape (n, {lay.n_outputs}), got {out.shape}"
            )
        result: dict[str, Any] = {}
        for k, i in enumerate(lay.numeric_columns):
            result[sch[i].name] = _numbers_out(sch[i], out[:, lay.numeric][:, k])
        for i, block in zip(lay.categorical_columns, lay.categorical, strict=True):
            kept = len(sch[i].categories)
            best = out[:, block][:, :kept].argmax(1)
            result[sch[i].name] = _levels_out(sch[i], best)
        for k, i in enumerate(lay.binary_columns):
            result[sch[i].name] = _levels_out(
                sch[i], (out[:, lay.binary][:, k] > 0).astype(np.int64)
            )
        return pd.DataFrame({n: result[n] for n in self.schema.names})


# ---------------------------------------------------------------- cell readers
def _bad_cell(col: ColumnSchema, codes: np.ndarray, k: int, what: str) -> DataError:
    row = int(np.flatnonzero(codes == k)[0]) + 1
    return DataError(f"column {col.name!r}, row {row}: {what}")


def _read_numbers(col: ColumnSchema, series: pd.Series) -> np.ndarray:
    dtype = series.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(
        dtype
    ):
        x = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        codes, uniques = factorize_column(series)
        parsed = np.empty(len(uniques) + 1)
        parsed[-1] = np.nan  # code -1, blank
        for k, v in enumerate(uniques):
            number = _parse_number(v)
            if number is None:
                raise _bad_cell(col, codes, k, f"{v!r} is not a number")
            parsed[k] = number  # text "nan" parses to NaN: a blank
        x = parsed[codes]
    bad = np.flatnonzero(np.isinf(x))
    if bad.size:
        raise DataError(
            f"column {col.name!r}, row {int(bad[0]) + 1}: infinite value {x[bad[0]]}"
        )
    return x


def _parse_number(v: Any) -> float | None:
    """A number, or a number written as text; ``None`` for anything else."""
    if isinstance(v, numbers.Real):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return None
    return None


def _read_codes(
    col: ColumnSchema, series: pd.Series, handle_unknown: str
) -> np.ndarray:
    codes, uniques = factorize_column(series)
    lookup = {level: k for k, level in enumerate(col.categories)}
    other = len(col.categories) if col.infrequent else -2
    mapped = np.fromiter(
        (lookup.get(level, other) for level in level_strings(uniques)),
        np.int64,
        len(uniques),
    )
    if handle_unknown == "error" and (mapped == -2).any():
        k = int(np.flatnonzero(mapped == -2)[0])
        raise _bad_cell(col, codes, k, f"{uniques[k]!r} was never seen in training")
    return np.append(mapped, -1)[codes]


_TRUE = frozenset(("true", "1"))
_FALSE = frozenset(("false", "0"))


def _flag(v: Any) -> int:
    """1, 0, or -2 for a value that is neither truth value."""
    if isinstance(v, bool | np.bool_):
        return int(v)
    if isinstance(v, numbers.Real):
        f = float(v)
        return 1 if f == 1.0 else 0 if f == 0.0 else -2
    if isinstance(v, str):
        s = v.strip().lower()
        if s in _TRUE:
            return 1
        if s in _FALSE:
            return 0
        number = _parse_number(s)
        return 1 if number == 1.0 else 0 if number == 0.0 else -2
    return -2


def _read_flags(
    col: ColumnSchema, series: pd.Series, handle_unknown: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if pd.api.types.is_bool_dtype(series.dtype) and not series.hasnans:
        x = series.to_numpy(dtype=np.float64)
        return x, np.zeros(len(x), dtype=bool), np.zeros(len(x), dtype=bool)
    codes, uniques = factorize_column(series)
    mapped = np.fromiter((_flag(v) for v in uniques), np.int64, len(uniques))
    if handle_unknown == "error" and (mapped == -2).any():
        k = int(np.flatnonzero(mapped == -2)[0])
        raise _bad_cell(
            col, codes, k, f"{uniques[k]!r} is neither of {list(col.categories)}"
        )
    full = np.append(mapped, -1)[codes]
    return (full == 1).astype(np.float64), full == -1, full == -2


# ---------------------------------------------------------------- decoded values
def _numbers_out(col: ColumnSchema, standardised: np.ndarray) -> Any:
    with np.errstate(over="ignore", invalid="ignore"):
        t = standardised * col.scale + col.center
    x = invert_transform(t, col.transform)
    if not col.integer:
        return x
    x = np.round(x)
    dtype = pd.api.types.pandas_dtype(col.dtype)
    if pd.api.types.is_integer_dtype(dtype):
        info = np.iinfo(getattr(dtype, "numpy_dtype", dtype))
        ints = np.clip(x, max(info.min, -(2**63)), min(info.max, 2**63 - 1024))
        return pd.array(ints.astype(np.int64)).astype(dtype)
    return x


def _levels_out(col: ColumnSchema, codes: np.ndarray) -> Any:
    levels = np.asarray(col.categories, dtype=object)[codes]
    if col.dtype in ("bool", "boolean"):
        return pd.array(levels == "true").astype(col.dtype)
    dtype = pd.api.types.pandas_dtype(col.dtype)
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        numbers_ = pd.to_numeric(pd.Series(levels, dtype=object))
        return numbers_.astype(dtype).array
    return levels


# ---------------------------------------------------------------- likelihoods
def cell_negative_log_likelihood(
    encoder: TableEncoder,
    outputs: torch.Tensor,
    numeric_logvar: torch.Tensor,
    targets: TableTargets,
    *,
    unknown: str = "surprisal",
) -> torch.Tensor:
    r"""Negative log-likelihood of every cell, shape ``(n, n_columns)``, in nats.

    For column :math:`j` of row :math:`i` the cell's value term is

    - numeric: :math:`-\log\mathcal N(x_{ij};\mu_{ij},\sigma_j^2)` with the
      decoder's per-feature log-variance ``numeric_logvar``;
    - categorical: :math:`-\log\operatorname{softmax}(l_i)_{c_{ij}}`;
    - binary: :math:`-[x\log\sigma(l) + (1-x)\log(1-\sigma(l))]`;

    and 0 for a blank cell. A column with blanks in training adds its blank head's
    Bernoulli term, :math:`-\log\sigma(b_{ij})` when blank and
    :math:`-\log(1-\sigma(b_{ij}))` when not. With ``unknown="surprisal"`` a cell
    holding a value never seen in training gets
    :func:`~anomvae.losses.unknown_cell_surprisal` as its value term, and a blank
    cell in a column never blank in training gets :math:`\log(n_{train}+1)`; with
    ``"ignore"`` both contribute 0. Summing over columns gives the row's negative
    log-likelihood :math:`-\log p(x_{obs}, \text{blankness} \mid z)`.

    Numeric densities are those of the transformed, standardised value (as in the
    numeric-only models): another unit would shift a column's cells by the same
    constant in every row, so rankings and score differences do not depend on it.
    ``outputs`` and ``numeric_logvar`` should be in the same dtype as the float
    targets (``encoded.targets(dtype=...)``); gradients flow to both. Training rows
    hold no unknown cells and no unexpected blanks, so there ``unknown="ignore"``
    gives the same values with fewer operations.
    All categorical columns are handled together (one scatter per quantity), so
    the cost grows with the number of cells, not with a Python loop per column.

    Examples
    --------
    >>> import torch
    >>> frame = pd.DataFrame({"x": [0.0, 2.0], "c": ["a", "b"]})
    >>> enc = TableEncoder(TableSchema.infer(frame))
    >>> t = enc.encode(frame).targets()
    >>> out = torch.tensor([[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    >>> cell_negative_log_likelihood(enc, out, torch.zeros(1), t)
    tensor([[0.9189, 0.6931],
            [0.9189, 0.6931]], dtype=torch.float64)
    """
    import torch
    from torch.nn import functional as F

    from anomvae import losses

    if unknown not in ("surprisal", "ignore"):
        raise ValueError("unknown must be 'surprisal' or 'ignore'")
    lay = encoder.layout
    ix = encoder._torch_indices(outputs.device)
    surprise = unknown == "surprisal"
    dtype = outputs.dtype
    result = outputs.new_zeros(outputs.shape[0], lay.n_columns)
    if lay.numeric_columns:
        ll = losses.masked_gaussian_log_density(
            targets.numeric,
            outputs[:, lay.numeric],
            numeric_logvar,
            targets.numeric_observed,
        )
        result = result.index_add(1, ix["numeric"], -ll)
    if lay.categorical_columns:
        region = outputs[:, lay.categorical[0].start : lay.categorical[-1].stop]
        log_p, worst = _block_log_softmax(region, targets.codes, ix)
        cell = -log_p
        if surprise:  # unknown_cell_surprisal, for all blocks at once
            s = torch.maximum(worst, ix["categorical_floor"].to(dtype))
            cell = torch.where(targets.codes == -2, s, cell)
        result = result.index_add(1, ix["categorical"], cell)
    if lay.binary_columns:
        logits = outputs[:, lay.binary]
        ll = losses.masked_bernoulli_log_density(
            targets.binary, logits, targets.binary_observed
        )
        if surprise:
            both = torch.stack([F.logsigmoid(-logits), F.logsigmoid(logits)], -1)
            s = losses.unknown_cell_surprisal(both, ix["binary_n_train"].to(dtype))
            ll = torch.where(targets.binary_unknown, -s, ll)
        result = result.index_add(1, ix["binary"], -ll)
    if lay.blank_columns:
        logits = outputs[:, lay.blank]
        blank_ll = losses.masked_bernoulli_log_density(
            targets.blank.index_select(1, ix["blank"]).to(dtype),
            logits,
            torch.ones_like(logits, dtype=torch.bool),
        )
        result = result.index_add(1, ix["blank"], -blank_ll)
    if surprise:  # blank where training never was: log(n_train + 1)
        result = result + targets.blank.to(dtype) * ix["blank_floor"].to(dtype)
    return result


def _block_log_softmax(
    region: torch.Tensor, codes: torch.Tensor, ix: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per categorical block (the columns of ``region`` that ``ix["segment"]``
    assigns to it): the log-softmax of the observed code (0 where ``code < 0``)
    and :math:`\\max_k -\\log p_k`, each ``(n, n_categorical)``, with one
    scatter per quantity instead of a Python loop over columns."""
    import torch

    n, width = region.shape
    segment = ix["segment"]
    n_blocks = ix["categorical"].shape[0]
    seg = segment.expand(n, width)
    plain = region.detach()
    top = plain.new_full((n, n_blocks), -math.inf).scatter_reduce(
        1, seg, plain, "amax", include_self=True
    )
    total = region.new_zeros(n, n_blocks).scatter_add(
        1, seg, torch.exp(region - top.index_select(1, segment))
    )
    lse = top + torch.log(total)
    picked = region.gather(1, ix["block_start"] + codes.clamp(min=0))
    log_p = torch.where(codes >= 0, picked - lse, torch.zeros_like(lse))
    low = plain.new_full((n, n_blocks), math.inf).scatter_reduce(
        1, seg, plain, "amin", include_self=True
    )
    return log_p, lse.detach() - low


@dataclass(frozen=True)
class TableBatch:
    """What a mixed-table model needs beside its input rows: the likelihood
    targets of the same rows, the encoder that lays them out, and the condition
    vectors (conditional VAEs; ``None`` otherwise).

    It travels where a plain model's condition tensor travels (the training loop
    and batched scoring slice it like a tensor: ``batch[idx]``), so one training
    loop and one scoring path serve both kinds of model.
    """

    encoder: TableEncoder
    targets: TableTargets
    conditions: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.targets.blank.shape[0])

    def __getitem__(self, index: Any) -> TableBatch:
        """The same rows of every tensor (an index tensor, slice or mask)."""
        targets = TableTargets(*(t[index] for t in self.targets))
        conditions = None if self.conditions is None else self.conditions[index]
        return TableBatch(self.encoder, targets, conditions)

    def map(self, fn: Any) -> TableBatch:
        """Every tensor through ``fn`` (a move to another device)."""
        targets = TableTargets(*(fn(t) for t in self.targets))
        conditions = None if self.conditions is None else fn(self.conditions)
        return TableBatch(self.encoder, targets, conditions)

    def repeat(self, k: int) -> TableBatch:
        """The rows ``k`` times over (for ``k`` Monte Carlo draws stacked as
        ``k * n`` rows)."""
        targets = TableTargets(
            *(t.repeat(k, *([1] * (t.dim() - 1))) for t in self.targets)
        )
        return TableBatch(self.encoder, targets, self.conditions)


def mask_cells(x: torch.Tensor, layout: TableLayout, level: float) -> torch.Tensor:
    """Training-time corruption of a mixed table's inputs: each cell is made
    blank with probability ``level`` (its value inputs 0, its blank indicator 1,
    as the encoder sees a real blank), whole columns at a time (a one-hot block is
    masked as one cell). Draws from torch's global generator, like
    :func:`anomvae.training.corrupt`."""
    import torch

    if level <= 0:
        return x
    owner, value_inputs, blank_cols = layout._masking_tensors(x.device)
    masked = torch.rand(x.shape[0], layout.n_columns, device=x.device) < level
    value = masked.index_select(1, owner)
    out = x.masked_fill(value & value_inputs, 0.0)
    if layout.blank_columns:
        hit = masked.index_select(1, blank_cols).to(x.dtype)
        out = torch.cat(
            [out[:, : layout.blank.start], torch.maximum(out[:, layout.blank], hit)], 1
        )
    return out
