"""What each detector sees of a mixed split: the raw frame, or a matrix made by the
preprocessing a careful user applies today, fitted on the training rows only.

* ``frame``: the split's DataFrames as :func:`benchmarks.mixed.data.load_mixed`
  returns them (for a model that fits mixed tables natively).
* ``onehot``: :func:`onehot_preprocessor`. Numeric columns median-imputed and
  standardised, plus a 0/1 missing indicator for each numeric column with blanks
  among the training rows; categorical, binary and boolean columns one-hot encoded
  with the blank as a level of its own
  (``OneHotEncoder(handle_unknown="ignore", sparse_output=False)``: a level first
  seen in the test rows is all zeros).
* ``numeric``: :func:`numeric_preprocessor`. Only the columns ``schema.json`` marks
  numeric, median-imputed and standardised; categorical, binary and boolean columns
  are dropped. The view does not exist for a table without numeric columns.

Nothing else is done: no log transform of heavy tails, no rare-level grouping.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

__all__ = [
    "VIEWS",
    "View",
    "ViewUnavailableError",
    "as_levels",
    "make_views",
    "numeric_preprocessor",
    "onehot_preprocessor",
]

#: The views a detector can declare, in the order they are built.
VIEWS: tuple[str, ...] = ("frame", "onehot", "numeric")


class ViewUnavailableError(ValueError):
    """The table has no column for this view (``numeric`` on an all-categorical
    table)."""


def as_levels(frame: pd.DataFrame) -> np.ndarray:
    """Categorical, binary or boolean columns as an object array of strings
    (``"True"``/``"False"`` for flags) with ``nan`` for a blank, the missing value
    ``OneHotEncoder`` encodes as a level of its own."""
    text = frame.astype("string")
    return text.astype(object).where(text.notna(), np.nan).to_numpy()


def _columns(kinds: Mapping[str, str], *wanted: str) -> list[str]:
    return [c for c, k in kinds.items() if k in wanted]


def _scaled_numeric() -> Any:
    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler())


def onehot_preprocessor(kinds: Mapping[str, str]) -> ColumnTransformer:
    """The ``onehot`` view's transformer for a table with these column kinds
    (unfitted; output: a dense float matrix)."""
    numeric = _columns(kinds, "numeric")
    levels = _columns(kinds, "categorical", "binary", "boolean")
    parts: list[tuple[str, Any, list[str]]] = []
    if numeric:
        parts += [
            ("numeric", _scaled_numeric(), numeric),
            (
                "missing",
                MissingIndicator(features="missing-only", error_on_new=False),
                numeric,
            ),
        ]
    if levels:
        to_levels = FunctionTransformer(as_levels, feature_names_out="one-to-one")
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        parts.append(("levels", make_pipeline(to_levels, encoder), levels))
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)


def numeric_preprocessor(kinds: Mapping[str, str]) -> ColumnTransformer:
    """The ``numeric`` view's transformer: numeric columns only, imputed and
    standardised.

    Raises
    ------
    ViewUnavailableError
        If no column is numeric.
    """
    numeric = _columns(kinds, "numeric")
    if not numeric:
        raise ViewUnavailableError("no numeric columns")
    return ColumnTransformer(
        [("numeric", _scaled_numeric(), numeric)],
        remainder="drop",
        sparse_threshold=0.0,
    )


_PREPROCESSORS = {"onehot": onehot_preprocessor, "numeric": numeric_preprocessor}


@dataclass(frozen=True)
class View:
    """One view of a split: what its detectors fit on and score, its width, and
    the seconds the preprocessing took to fit and transform the training rows
    (``prep_fit_s``) and to transform the test rows (``prep_score_s``); both are
    0 for the raw frame."""

    X_train: Any
    X_test: Any
    y_test: np.ndarray
    n_features: int
    prep_fit_s: float = 0.0
    prep_score_s: float = 0.0


def make_views(
    split: Any, kinds: Mapping[str, str], names: Collection[str]
) -> dict[str, View | ViewUnavailableError]:
    """The requested views of one split (``X_train``/``X_test`` frames and
    ``y_test``), each preprocessor fitted on the training rows only. A view the
    table cannot have maps to its :class:`ViewUnavailableError`."""
    views: dict[str, View | ViewUnavailableError] = {}
    for name in (v for v in VIEWS if v in names):
        if name == "frame":
            views[name] = View(
                split.X_train, split.X_test, split.y_test, split.X_train.shape[1]
            )
            continue
        try:
            transformer = _PREPROCESSORS[name](kinds)
        except ViewUnavailableError as exc:
            views[name] = exc
            continue
        start = time.perf_counter()
        X_train = np.asarray(transformer.fit_transform(split.X_train), dtype=np.float64)
        fitted = time.perf_counter()
        X_test = np.asarray(transformer.transform(split.X_test), dtype=np.float64)
        views[name] = View(
            X_train,
            X_test,
            split.y_test,
            X_train.shape[1],
            prep_fit_s=fitted - start,
            prep_score_s=time.perf_counter() - fitted,
        )
    return views
