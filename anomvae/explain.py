"""Why a row was flagged, in the data's own units, and what its blank cells most
likely held.

:func:`explain_rows` is what a detector's ``explain`` returns (and ``anomvae score
--explain`` writes as ``top<i>_reason``): the reasons behind a row's top cells,
for mixed-table models (:func:`explain_cells`) and numeric ones
(:func:`numeric_reasons`), with the number formatting they share.
:func:`impute_rows` is a detector's ``impute``. Both read only a fitted detector's
public results and its encoder, so they live beside the estimator, not in it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from anomvae.schema import as_frame, level_string
from anomvae.tabular import EncodedTable, TableEncoder, _numbers_out

__all__ = [
    "explain_cells",
    "explain_rows",
    "format_number",
    "format_numbers",
    "impute_rows",
    "numeric_reasons",
    "top_cells",
]


def format_numbers(values: Any) -> np.ndarray:
    """Numbers with two significant digits (an object array of strings):
    positional from 1e-4 to 1e4, else in short scientific form.

    Vectorised: the digits and exponent are found with numpy and each distinct
    (sign, digits, exponent) is formatted once, so a million numbers take a
    fraction of a second.

    Examples
    --------
    >>> format_numbers([5.1e9, 32000.0, 0.0004, 0.003, 1234.0, 2.0, -0.51]).tolist()
    ['5.1e9', '3.2e4', '0.0004', '0.003', '1200', '2', '-0.51']
    """
    v = np.asarray(values, dtype=np.float64)
    out = np.empty(v.shape, dtype=object)
    nonzero = np.isfinite(v) & (v != 0.0)
    out[v == 0.0] = "0"
    for i in np.flatnonzero(~np.isfinite(v).reshape(-1)):
        out.reshape(-1)[i] = str(v.reshape(-1)[i])
    a = np.abs(v[nonzero])
    if a.size:
        e = np.floor(np.log10(a)).astype(np.int64)
        half = e // 2  # two steps, so 10**-e neither overflows nor underflows
        d = np.rint(a * 10.0 ** (-half) * 10.0 ** (half - e) * 10.0).astype(np.int64)
        bump = d >= 100
        d[bump], e[bump] = 10, e[bump] + 1
        key = np.where(v[nonzero] < 0, -1, 1) * (d * 4096 + e + 2048)
        uniq, inverse = np.unique(key, return_inverse=True)
        texts = np.array([_two_digits(int(k)) for k in uniq], dtype=object)
        out[nonzero] = texts[inverse.reshape(-1)]
    return out


def _two_digits(key: int) -> str:
    """The text of ``sign * (digits * 4096 + exponent + 2048)``: the number
    ``sign * digits * 10**(exponent - 1)`` with two digits (10-99)."""
    sign = "-" if key < 0 else ""
    d, e = divmod(abs(key), 4096)
    e -= 2048
    head, tail = divmod(d, 10)
    if -4 <= e < 4:
        if e >= 1:
            return f"{sign}{d * 10 ** (e - 1)}"
        text = f"{head}.{tail}" if e == 0 else "0." + "0" * (-e - 1) + str(d)
        return sign + text.rstrip("0").rstrip(".")
    mantissa = f"{head}.{tail}".rstrip("0").rstrip(".")
    return f"{sign}{mantissa}e{e}"


def format_number(value: float) -> str:
    """One number as :func:`format_numbers` writes it.

    Examples
    --------
    >>> format_number(5.1e9), format_number(0.0004)
    ('5.1e9', '0.0004')
    """
    return str(format_numbers(np.array([value]))[0])


def _raw_numbers(values: np.ndarray) -> np.ndarray:
    """Cell values: whole numbers below 1e6 in full, others as
    :func:`format_numbers`."""
    out = format_numbers(values)
    whole = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 1e6)
    if whole.any():
        uniq, inverse = np.unique(values[whole].astype(np.int64), return_inverse=True)
        out[whole] = np.array([str(u) for u in uniq.tolist()], dtype=object)[inverse]
    return out


def top_cells(nll: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's ``k`` largest cells, largest first.

    Examples
    --------
    >>> top_cells(np.array([[0.1, 3.0, 2.0], [5.0, 0.0, 1.0]]), 2).tolist()
    [[1, 2], [0, 2]]
    """
    nll = np.asarray(nll, dtype=np.float64)
    k = min(k, nll.shape[1])
    part = np.argpartition(-nll, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(nll, part, 1), axis=1, kind="stable")
    return np.take_along_axis(part, order, 1)


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def explain_cells(
    encoder: TableEncoder,
    raw: Any,
    encoded: EncodedTable,
    outputs: np.ndarray,
    columns: np.ndarray,
) -> np.ndarray:
    """Short reasons, in the data's own units, for chosen cells of each row.

    Parameters
    ----------
    encoder : TableEncoder
    raw : DataFrame
        The rows as given (for levels outside the kept ones).
    encoded : EncodedTable
        ``encoder.encode(raw)``.
    outputs : ndarray of shape (n, n_outputs)
        Decoder outputs for the rows (from the posterior mean).
    columns : ndarray of shape (n, k), int
        Schema column index of each cell to explain, ``-1`` for none (for example
        :func:`top_cells` of :func:`cell_negative_log_likelihood`).

    Returns
    -------
    ndarray of shape (n, k), object
        Strings such as ``"protocol='icmp' (p=0.0004 given the rest of the
        row)"``, ``"bytes=5.1e9 (expected about 3.2e4)"``, ``"TSH blank (blank in
        0% of training rows)"``, ``"country='XX' unseen in training"``; ``""``
        where ``columns`` is -1. Probabilities come from the decoder outputs; a
        non-blank cell whose blank head says "usually blank" (p > 0.5) says so.

    Notes
    -----
    Work is per column, not per cell: the cells of one column are formatted
    together with :func:`format_numbers`, and only the chosen cells' softmax
    blocks are evaluated.

    Examples
    --------
    >>> from anomvae.schema import TableSchema
    >>> frame = pd.DataFrame({"bytes": [10.0, 30.0], "proto": ["tcp", "udp"]})
    >>> enc = TableEncoder(TableSchema.infer(frame))
    >>> rows = pd.DataFrame({"bytes": [5.1e9], "proto": ["icmp"]})
    >>> out = np.array([[0.0, 2.0, -6.0]])
    >>> explain_cells(enc, rows, enc.encode(rows), out, np.array([[0, 1]])).tolist()
    [['bytes=5.1e9 (expected about 20)', "proto='icmp' unseen in training"]]
    """
    lay = encoder.layout
    cols = np.asarray(columns, dtype=np.int64)
    out = np.asarray(outputs, dtype=np.float64)
    result = np.full(cols.shape, "", dtype=object)
    flat_result = result.reshape(-1)  # a view: filling it fills result
    flat = cols.reshape(-1)
    raw_columns: list[pd.Series] | None = None
    chosen = np.flatnonzero(flat >= 0)
    chosen = chosen[np.argsort(flat[chosen], kind="stable")]  # grouped by column
    starts = np.flatnonzero(np.diff(flat[chosen], prepend=-1))
    for where in np.split(chosen, starts[1:]) if chosen.size else []:
        j = int(flat[where[0]])
        rows = where // cols.shape[1]
        col = encoder.schema.columns[j]
        texts = np.empty(len(rows), dtype=object)
        blank = encoded.blank[rows, j]
        p_blank = None
        if lay.blank_input[j] >= 0:
            p_blank = np.exp(_log_sigmoid(out[rows, lay.blank_input[j]]))
        rate = format_number(100.0 * col.blank_rate)
        hit = np.flatnonzero(blank)
        if p_blank is None:
            texts[hit] = f"{col.name} blank (blank in {rate}% of training rows)"
        else:
            texts[hit] = [
                f"{col.name} blank (p={p} given the rest of the row; blank in "
                f"{rate}% of training rows)"
                for p in format_numbers(p_blank[hit])
            ]
        todo = np.flatnonzero(~blank)
        if col.kind == "numeric":
            texts[todo] = _numeric_reasons(encoder, j, rows[todo], encoded, out)
        else:
            needs_raw = col.infrequent or encoded.unknown[rows[todo], j].any()
            if raw_columns is None and needs_raw:
                raw_columns = encoder.columns_of(raw)
            texts[todo] = _level_reasons(
                encoder, j, rows[todo], encoded, out, raw_columns
            )
        if p_blank is not None:
            odd = todo[p_blank[todo] > 0.5]
            notes = format_numbers(p_blank[odd])
            texts[odd] = [
                f"{t[:-1]}; usually blank here: p(blank)={p})"
                if t.endswith(")")
                else f"{t} (usually blank here: p(blank)={p})"
                for t, p in zip(texts[odd], notes, strict=True)
            ]
        flat_result[where] = texts
    return result


def _numeric_reasons(
    encoder: TableEncoder,
    j: int,
    rows: np.ndarray,
    encoded: EncodedTable,
    out: np.ndarray,
) -> list[str]:
    lay = encoder.layout
    k = lay.numeric_columns.index(j)
    col = encoder.schema.columns[j]
    expected = np.asarray(
        _numbers_out(col, out[rows, lay.numeric.start + k]), dtype=np.float64
    )
    return [
        f"{col.name}={x} (expected about {e})"
        for x, e in zip(
            _raw_numbers(encoded.values[rows, k]),
            format_numbers(expected),
            strict=True,
        )
    ]


def _level_reasons(
    encoder: TableEncoder,
    j: int,
    rows: np.ndarray,
    encoded: EncodedTable,
    out: np.ndarray,
    raw_columns: list[pd.Series] | None,
) -> np.ndarray:
    lay = encoder.layout
    col = encoder.schema.columns[j]
    if col.kind == "categorical":
        k = lay.categorical_columns.index(j)
        logits = out[rows, lay.categorical[k]]
        codes = encoded.codes[rows, k]
        picked = logits[np.arange(len(rows)), np.maximum(codes, 0)]
        top = logits.max(axis=1)
        log_p = picked - top - np.log(np.exp(logits - top[:, None]).sum(axis=1))
    else:
        k = lay.binary_columns.index(j)
        logit = out[rows, lay.binary.start + k]
        codes = encoded.binary[rows, k].astype(np.int64)
        codes[encoded.binary_unknown[rows, k]] = -2
        log_p = _log_sigmoid(np.where(codes == 1, logit, -logit))
    kept = len(col.categories)
    # Categorical values are quoted, binary ones not (flag=true), unseen ones are.
    levels = [repr(c) if col.kind == "categorical" else c for c in col.categories]
    shown = np.empty(len(rows), dtype=object)
    known = (codes >= 0) & (codes < kept)
    shown[known] = np.asarray(levels, dtype=object)[codes[known]]
    if not known.all():
        assert raw_columns is not None
        cells = raw_columns[j].iloc[rows[~known]]
        shown[~known] = [repr(level_string(v)) for v in cells]
    ps = format_numbers(np.exp(log_p))
    reasons = np.empty(len(rows), dtype=object)
    name = col.name
    unseen, rare = codes == -2, codes >= kept
    usual = ~(unseen | rare)
    reasons[unseen] = [f"{name}={v} unseen in training" for v in shown[unseen]]
    reasons[rare] = [
        f"{name}={v} (a rare level; p={p} for rare levels given the rest of the row)"
        for v, p in zip(shown[rare], ps[rare], strict=True)
    ]
    reasons[usual] = [
        f"{name}={v} (p={p} given the rest of the row)"
        for v, p in zip(shown[usual], ps[usual], strict=True)
    ]
    return reasons


def numeric_reasons(
    names: Any,
    values: np.ndarray,
    expected: np.ndarray,
    columns: np.ndarray,
    *,
    constant: dict[int, float] | None = None,
) -> np.ndarray:
    """Reasons for chosen cells of a numeric model, in the data's own units.

    Parameters
    ----------
    names : sequence of str
        Feature names.
    values : ndarray of shape (n, d)
        The rows as given.
    expected : ndarray of shape (n, d)
        The model's reconstruction of each row, in the same units.
    columns : ndarray of shape (n, k), int
        Feature index of each cell to explain (``-1`` for none).
    constant : dict of int to float, optional
        Features that took one value on every training row, and that value: a
        cell holding another value says so instead.

    Returns
    -------
    ndarray of shape (n, k), object

    Examples
    --------
    >>> numeric_reasons(
    ...     ["bytes", "temp"], np.array([[5.1e9, 20.0]]), np.array([[3.2e4, 21.0]]),
    ...     np.array([[0, 1]]), constant={1: 19.5}
    ... ).tolist()
    [['bytes=5.1e9 (expected about 3.2e4)', 'temp=20 (19.5 on every training row)']]
    """
    cols = np.asarray(columns, dtype=np.int64)
    names = [str(n) for n in names]
    out = np.full(cols.shape, "", dtype=object)
    rows, pos = np.nonzero(cols >= 0)
    if not len(rows):
        return out
    j = cols[rows, pos]
    shown = _raw_numbers(np.asarray(values, dtype=np.float64)[rows, j])
    about = format_numbers(np.asarray(expected, dtype=np.float64)[rows, j])
    texts = [
        f"{names[c]}={v} (expected about {e})"
        for c, v, e in zip(j.tolist(), shown, about, strict=True)
    ]
    for i, c in enumerate(j.tolist()):
        if constant and c in constant and values[rows[i], c] != constant[c]:
            texts[i] = f"{names[c]}={shown[i]} ({constant[c]:g} on every training row)"
    out[rows, pos] = texts
    return out


def explain_rows(detector: Any, X: Any, top: int) -> pd.DataFrame:
    """A fitted detector's ``explain(X, top)`` (see there): per row its ``top``
    cells by share of the reconstruction error, unseen values first, with a
    reason in the data's own units."""
    shares = detector.feature_contributions(X)
    unseen = detector.out_of_support_cells(X)
    k = int(min(top, shares.shape[1]))
    # Unseen values first (they may hold little reconstruction error), then by
    # share.
    columns = top_cells(shares + 2.0 * unseen, k)
    names = detector._feature_names(shares.shape[1])
    picked = np.take_along_axis(shares, columns, axis=1)
    reasons = _reasons(detector, X, columns)
    out: dict[str, Any] = {}
    for i in range(k):
        out[f"top{i + 1}_feature"] = np.asarray(names, dtype=object)[columns[:, i]]
        out[f"top{i + 1}_share"] = picked[:, i]
        out[f"top{i + 1}_reason"] = reasons[:, i]
    index = X.index if isinstance(X, pd.DataFrame) else None
    return pd.DataFrame(out, index=index)


def _reasons(detector: Any, X: Any, columns: np.ndarray) -> np.ndarray:
    """Reasons in natural units for the chosen cells of each row of ``X``."""
    features, _ = detector._validate_input(X, reset=False)
    if isinstance(features, pd.DataFrame):
        encoded = detector._encode(features)
        return explain_cells(
            detector._encoder(), features, encoded, detector._decoded(X), columns
        )
    ref = detector.latent_reference_
    constant: dict[int, float] = {}
    if ref.support_columns is not None and ref.support_values is not None:
        scaler = detector.scaler_
        for j, v in zip(
            ref.support_columns.tolist(), ref.support_values.tolist(), strict=True
        ):
            constant[j] = float(v * scaler.scale[j] + scaler.center[j])
    return numeric_reasons(
        detector._feature_names(features.shape[1]),
        features,
        np.asarray(detector.reconstruct(X)),
        columns,
        constant=constant,
    )


def impute_rows(detector: Any, X: Any) -> pd.DataFrame | np.ndarray:
    """A fitted detector's ``impute(X)`` (see there): ``X`` with its blank cells
    filled by the decoder's most likely values given the rest of the row."""
    if detector._table_schema() is None:
        return _impute_numbers(detector, X)
    frame = as_frame(X, detector._column_names(X)).copy()
    values = detector.reconstruct(frame)
    series = detector._encoder().columns_of(frame)
    for name, column in zip(values.columns, series, strict=True):
        blank = np.array(column.isna(), dtype=bool)
        if column.dtype == object or pd.api.types.is_string_dtype(column):
            blank |= column.astype(str).str.strip().eq("").to_numpy()
        if not blank.any():
            continue
        j = int(frame.columns.get_loc(column.name))  # type: ignore[arg-type]
        if column.dtype.kind in "biuf" or pd.api.types.is_extension_array_dtype(column):
            frame[column.name] = column.astype(object)
        frame.iloc[np.flatnonzero(blank), j] = values[name].to_numpy()[blank]
    return frame


def _impute_numbers(detector: Any, X: Any) -> pd.DataFrame | np.ndarray:
    """:func:`impute_rows` for a numeric model: a blank cell enters the encoder as
    the training mean (0 after scaling, which is also how masking corrupts a cell
    in training) and takes its reconstruction."""
    is_frame = isinstance(X, pd.DataFrame)
    values = np.array(X, dtype=np.float64)
    blank = np.isnan(values)
    if not blank.any():
        return X.copy() if is_frame else values
    filled = np.where(blank, detector.scaler_.center, values)
    rebuilt = detector.reconstruct(
        pd.DataFrame(filled, columns=X.columns) if is_frame else filled
    )
    values[blank] = np.asarray(rebuilt)[blank]
    if is_frame:
        return pd.DataFrame(values, columns=X.columns, index=X.index)
    return values
