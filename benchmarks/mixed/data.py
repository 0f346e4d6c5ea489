"""Mixed tables: the loader, and the one-class split of the numeric suites.

The 11 CSVs of ``../shared/datasets/mixed`` hold numbers, string categories, 0/1
flags, ``true``/``false`` booleans and blank cells. Which column is which comes from
the folder's ``schema.json``, never from the dtype pandas would infer: digit-coded
categories (chess ranks, cmc's and solar_flare's codes) look numeric.

The protocol, for one dataset and one seed, is that of :mod:`benchmarks.data`:

1. :func:`load_mixed` reads the table with the schema's kinds.
   :func:`load_mixed_dataset` then keeps **one row per distinct row** (a blank is a
   value like any other; a row is an anomaly if any copy is), by the same rule as
   :func:`benchmarks.data.deduplicate`.
2. :func:`make_mixed_split` shuffles the normal rows with ``default_rng(seed)``,
   trains on the first half (cut to ``max_train_rows``) and tests on the other half
   plus every anomaly (:func:`benchmarks.data.split_one_class`).

Every detector then gets the same rows, as a raw frame or as one of the matrices
of :mod:`benchmarks.mixed.views`, fitted on the training rows only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from benchmarks.data import AnomalyShare, distinct_rows, split_one_class

__all__ = [
    "KINDS",
    "MIXED_DATA_DIR",
    "MIXED_PROTOCOL_VERSION",
    "MIXED_SUITE",
    "Kind",
    "MixedDataset",
    "MixedSplit",
    "deduplicate_frame",
    "load_mixed",
    "load_mixed_dataset",
    "make_mixed_split",
    "read_schema",
]

#: Bumped whenever a change here or in :mod:`benchmarks.mixed.views` changes what
#: a detector sees; ``--resume`` refuses to mix results of different versions.
MIXED_PROTOCOL_VERSION = 1

#: ``../shared/datasets/mixed`` seen from the repository root.
MIXED_DATA_DIR = (
    Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "mixed"
)

Kind = Literal["numeric", "categorical", "binary", "boolean"]
KINDS: tuple[str, ...] = ("numeric", "categorical", "binary", "boolean")

#: The 11 sets, in the order of the folder's README. Distinct rows x columns
#: (numeric / categorical / binary-or-boolean), anomaly share after deduplication.
MIXED_SUITE: tuple[str, ...] = (
    # numeric and categorical columns mixed
    "kddcup99_sa",  # 100,655 rows (89k distinct), 34 / 3 / 4, 3.4 %
    "bank_marketing",  # 41,188, 10 / 10 / 0, 11.3 %: ODDS `campaign` as strings
    "adult",  # 26,021, 6 / 8 / 0, 5 %: high income, down-sampled; blanks
    "thyroid0387",  # 7,658, 7 / 2 / 20, 11.6 %: blanks in most rows
    # all categorical (Pang et al.): ODDS' one-hot sets as strings
    "kddcup99_probe_nominal",  # 64,759 rows, about 110 distinct
    "kddcup99_u2r_nominal",  # 60,821 rows, about 55 distinct
    "chess_krkopt",  # 28,056, digit-coded ranks, 0.1 %
    "cmc",  # 1,473, digit codes, 2 %
    "solar_flare",  # 1,066, digit codes, 4 %
    # high contamination (> 30 %), reported separately
    "nsl_kdd_train20",  # 25,192, 34 / 3 / 4, 46.6 %
    "unsw_nb15",  # 82,332, 38 / 3 / 1, 55 %
)

#: How a binary (0/1) or boolean (true/false) cell reads; anything else is an error.
_FLAGS = {"0": False, "1": True, "false": False, "true": True}


@cache
def read_schema(data_dir: Path = MIXED_DATA_DIR) -> dict[str, dict]:
    """The folder's ``schema.json``: per dataset its counts, source and columns."""
    return json.loads((Path(data_dir) / "schema.json").read_text())


def _kinds(name: str, data_dir: Path) -> dict[str, Kind]:
    schema = read_schema(Path(data_dir))
    if name not in schema:
        raise FileNotFoundError(
            f"no dataset {name!r} in {data_dir}/schema.json; choose from "
            f"{', '.join(schema)}"
        )
    return {c["name"]: c["kind"] for c in schema[name]["columns"]}


def load_mixed(
    name: str, data_dir: str | Path = MIXED_DATA_DIR
) -> tuple[pd.DataFrame, np.ndarray]:
    """Read ``NAME.csv`` with the column kinds of ``schema.json``.

    Returns
    -------
    frame : DataFrame
        The feature columns in file order. ``numeric``: float64, blanks NaN.
        ``categorical``: pandas ``string`` dtype, cells exactly as written (``"007"``
        stays ``"007"``, a digit code stays a string), blanks ``<NA>``. ``binary``
        (0/1) and ``boolean`` (true/false): pandas nullable ``boolean``, blanks
        ``<NA>``. ``frame.attrs["kinds"]`` maps each column to its kind.
    y : ndarray of shape (n_rows,)
        The ``label`` column: 1 = anomaly, 0 = normal.

    Raises
    ------
    FileNotFoundError
        If the schema has no such dataset.
    ValueError
        If a column is not where the schema says, or a flag is not 0/1/true/false.
    """
    data_dir = Path(data_dir)
    kinds = _kinds(name, data_dir)
    # Every cell is read as text and only the empty field is a blank: a category
    # "NA" or "None" stays a category.
    raw = pd.read_csv(
        data_dir / f"{name}.csv",
        dtype="string",
        keep_default_na=False,
        na_values=[""],
    )
    if list(raw.columns) != [*kinds, "label"]:
        raise ValueError(f"{name}.csv: columns differ from schema.json")
    columns: dict[str, pd.Series] = {}
    for column, kind in kinds.items():
        cells = raw[column]
        if kind == "numeric":
            columns[column] = cells.astype("float64")
        elif kind == "categorical":
            columns[column] = cells
        else:
            unknown = set(cells.dropna().unique()) - set(_FLAGS)
            if unknown:
                raise ValueError(f"{name}.csv: {column} holds {sorted(unknown)[:5]}")
            columns[column] = cells.map(_FLAGS, na_action="ignore").astype("boolean")
    frame = pd.DataFrame(columns)
    frame.attrs["kinds"] = dict(kinds)
    y = raw["label"].astype("int64").to_numpy()
    return frame, y


def deduplicate_frame(
    frame: pd.DataFrame, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the first copy of each distinct row (in order of first
    occurrence) and its label, 1 if any copy is an anomaly.

    Cells are compared by value, a blank equal to a blank of the same column
    (``-0.0`` equals ``0.0``); the rule is :func:`benchmarks.data.deduplicate`'s.
    """
    codes = np.empty(frame.shape, dtype=np.int64)
    for j, column in enumerate(frame.columns):
        values = frame[column]
        if pd.api.types.is_float_dtype(values):
            values = values + 0.0
        codes[:, j], _ = pd.factorize(values, use_na_sentinel=False)
    return distinct_rows(codes, y)


@dataclass(frozen=True)
class MixedDataset(AnomalyShare):
    """One mixed table after deduplication.

    Attributes
    ----------
    name : str
    frame : DataFrame
        Distinct rows in order of first appearance, index reset; dtypes as
        :func:`load_mixed` returns them.
    y : ndarray of shape (n_distinct,)
        1 for anomalies, 0 for normal rows.
    kinds : dict
        Column name to kind (``numeric``, ``categorical``, ``binary``,
        ``boolean``), from ``schema.json``.
    n_published : int
        Rows in the file before deduplication.
    """

    name: str
    frame: pd.DataFrame
    y: np.ndarray
    kinds: Mapping[str, Kind]
    n_published: int

    def columns_of(self, *kinds: str) -> list[str]:
        """The columns of the given kinds, in table order."""
        return [c for c, k in self.kinds.items() if k in kinds]


def load_mixed_dataset(
    name: str, data_dir: str | Path = MIXED_DATA_DIR
) -> MixedDataset:
    """:func:`load_mixed` and :func:`deduplicate_frame`."""
    frame, y = load_mixed(name, data_dir)
    keep, label = deduplicate_frame(frame, y)
    distinct = frame.iloc[keep].reset_index(drop=True)
    distinct.attrs = dict(frame.attrs)
    return MixedDataset(name, distinct, label, frame.attrs["kinds"], len(frame))


@dataclass(frozen=True)
class MixedSplit:
    """The rows every detector receives for one dataset and seed, as raw frames."""

    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_test: np.ndarray
    train_index: np.ndarray
    test_index: np.ndarray


def make_mixed_split(
    dataset: MixedDataset, seed: int, max_train_rows: int | None = None
) -> MixedSplit:
    """The rows of :func:`benchmarks.data.split_one_class` for ``dataset``."""
    train, test = split_one_class(dataset.y, seed, max_train_rows)
    return MixedSplit(
        X_train=dataset.frame.iloc[train].reset_index(drop=True),
        X_test=dataset.frame.iloc[test].reset_index(drop=True),
        y_test=dataset.y[test],
        train_index=train,
        test_index=test,
    )


def available(
    names: Sequence[str] | None = None, data_dir: str | Path = MIXED_DATA_DIR
) -> list[str]:
    """The requested names (all of :data:`MIXED_SUITE` by default) after checking
    that each has a schema entry and a CSV in ``data_dir``.

    Raises
    ------
    FileNotFoundError
        If the folder, its schema or a requested file is missing.
    """
    data_dir = Path(data_dir)
    if not (data_dir / "schema.json").is_file():
        raise FileNotFoundError(f"no schema.json in {data_dir}")
    wanted = list(names) if names is not None else list(MIXED_SUITE)
    schema = read_schema(data_dir)
    missing = [
        n for n in wanted if n not in schema or not (data_dir / f"{n}.csv").is_file()
    ]
    if missing:
        raise FileNotFoundError(
            f"no {', '.join(m + '.csv' for m in missing)} in {data_dir}"
        )
    return wanted
