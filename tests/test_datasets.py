"""Tests of the bundled datasets (anomvae.datasets and the files in datasets/)."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomvae.datasets import dataset_path, describe, list_datasets, load
from anomvae.exceptions import AnomvaeError, DataError

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared" / "datasets"
ODDS_DIR = SHARED / "odds"
MIXED_DIR = SHARED / "mixed"

#: The documented contents (datasets/README.md): rows, features, anomalies.
EXPECTED = {
    "arrhythmia": (452, 274, 66),
    "cardio": (1831, 21, 176),
    "mammography": (11183, 6, 260),
    "shuttle": (49097, 9, 3511),
    "thyroid": (3772, 6, 93),
    "thyroid0387": (7658, 29, 887),
}
NUMERIC = ["arrhythmia", "cardio", "mammography", "shuttle", "thyroid"]
MIXED = ["thyroid0387"]

#: Everything in datasets/ (data, README, generator) must stay under this.
SIZE_BUDGET_BYTES = 5 * 1024 * 1024

CARDIO_UCI_NAMES = [
    "LB", "AC", "FM", "UC", "DL", "DS", "DP", "ASTV", "MSTV", "ALTV", "MLTV",
    "Width", "Min", "Max", "Nmax", "Nzeros", "Mode", "Mean", "Median", "Variance",
    "Tendency",
]  # fmt: skip


def test_list_datasets_names_the_documented_datasets() -> None:
    assert list_datasets() == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_load_returns_documented_shape_and_binary_labels(name: str) -> None:
    n_samples, n_features, n_anomalies = EXPECTED[name]
    X, y = load(name)
    assert isinstance(X, pd.DataFrame)
    assert isinstance(y, pd.Series)
    assert X.shape == (n_samples, n_features)
    assert "label" not in X.columns
    assert y.name == "label"
    assert y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1}
    assert int(y.sum()) == n_anomalies
    assert X.index.equals(y.index)


@pytest.mark.parametrize("name", NUMERIC)
def test_numeric_dataset_features_are_finite_float64(name: str) -> None:
    X, _ = load(name)
    assert (X.dtypes == np.float64).all()
    assert np.isfinite(X.to_numpy()).all()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_load_as_frame_false_returns_the_same_data_as_numpy(name: str) -> None:
    X_frame, y_frame = load(name)
    X, y = load(name, as_frame=False)
    assert isinstance(X, np.ndarray)
    assert isinstance(y, np.ndarray)
    assert X.shape == X_frame.shape
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, y_frame.to_numpy())
    if name in NUMERIC:
        assert X.dtype == np.float64
        np.testing.assert_array_equal(X, X_frame.to_numpy())
    else:
        assert X.dtype == object


@pytest.mark.parametrize("function", [load, describe, dataset_path])
def test_unknown_name_raises_data_error_listing_every_name(
    function: Callable[[str], object],
) -> None:
    with pytest.raises(DataError, match="unknown dataset 'cardiology'") as info:
        function("cardiology")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, AnomvaeError)
    for name in EXPECTED:
        assert name in str(info.value)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_describe_agrees_with_the_file(name: str) -> None:
    meta = describe(name)
    X, y = load(name)
    path = dataset_path(name)
    assert meta["name"] == name
    assert meta["file"] == path.name
    assert meta["kind"] == ("numeric" if name in NUMERIC else "mixed")
    assert (meta["n_samples"], meta["n_features"]) == X.shape
    assert meta["n_anomalies"] == int(y.sum())
    assert meta["anomaly_pct"] == round(100 * y.mean(), 2)
    for key in ("summary", "anomaly", "source", "original", "citation", "licence"):
        assert meta[key], key
    generic = [f"x{j}" for j in range(X.shape[1])]
    assert (list(X.columns) == generic) == (meta["feature_names"] == "generic")
    assert X.index.name == meta["id_column"]
    for column in meta["categorical_columns"]:
        assert pd.api.types.is_string_dtype(X[column]), column
    for column in meta["boolean_columns"]:
        assert X[column].dtype == bool, column


def test_mixed_table_keeps_types_missing_cells_and_ids() -> None:
    X, _ = load("thyroid0387")
    meta = describe("thyroid0387")
    assert X.index.name == "id"
    np.testing.assert_array_equal(X.index.to_numpy(), np.arange(len(X)))
    assert int(X.isna().sum().sum()) == 12289
    assert set(X["referral_source"]) == {"other", "SVI", "SVHC", "STMW", "SVHD", "WEST"}
    assert int(X["sex"].isna().sum()) == 253
    assert len(meta["boolean_columns"]) == 20
    numeric = X.drop(columns=meta["categorical_columns"] + meta["boolean_columns"])
    assert list(numeric.columns) == ["age", "TSH", "T3", "TT4", "T4U", "FTI", "TBG"]
    assert all(pd.api.types.is_numeric_dtype(numeric[c]) for c in numeric)


def test_cardio_columns_carry_the_uci_feature_names_in_order() -> None:
    X, _ = load("cardio")
    assert list(X.columns) == CARDIO_UCI_NAMES


def test_load_returns_fresh_objects() -> None:
    X, y = load("thyroid")
    X.iloc[0, 0] = -1.0
    y.iloc[0] = 7
    X_again, y_again = load("thyroid")
    assert X_again.iloc[0, 0] != -1.0
    assert y_again.iloc[0] in (0, 1)


def test_bundled_files_stay_within_the_size_budget() -> None:
    folder = dataset_path("cardio").parent
    files = [p for p in folder.iterdir() if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    assert total < SIZE_BUDGET_BYTES, f"datasets/ holds {total:,} bytes"
    data_files = {p.name for p in files if p.name.endswith(".csv.gz")}
    assert data_files == {describe(name)["file"] for name in list_datasets()}


def test_pyproject_maps_datasets_into_the_wheel() -> None:
    tomllib = pytest.importorskip("tomllib")
    pyproject = REPO_ROOT / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("not a source checkout")
    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    wheel = config["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["force-include"]["datasets"] == "anomvae/_datasets"


@pytest.mark.parametrize("name", NUMERIC)
def test_numeric_datasets_match_the_source_npz_bit_for_bit(name: str) -> None:
    source = ODDS_DIR / f"{name}.npz"
    if not source.is_file():
        pytest.skip(f"source {source} not available")
    with np.load(source, allow_pickle=False) as npz:
        X_source, y_source = npz["X"], npz["y"]
    X, y = load(name, as_frame=False)
    assert X.dtype == X_source.dtype == np.float64
    np.testing.assert_array_equal(X.view(np.uint64), X_source.view(np.uint64))
    np.testing.assert_array_equal(y, y_source)


def test_mixed_table_matches_the_source_csv_cell_for_cell() -> None:
    source = MIXED_DIR / "thyroid0387.csv"
    if not source.is_file():
        pytest.skip(f"source {source} not available")
    with source.open(newline="", encoding="utf-8") as handle:
        expected = list(csv.reader(handle))
    text = gzip.decompress(dataset_path("thyroid0387").read_bytes()).decode()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0][0] == "id"
    assert [row[0] for row in rows[1:]] == [str(i) for i in range(len(rows) - 1)]
    assert [row[1:] for row in rows] == expected


def test_generator_reproduces_the_bundled_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not (ODDS_DIR.is_dir() and MIXED_DIR.is_dir()):
        pytest.skip(f"sources under {SHARED} not available")
    script = REPO_ROOT / "datasets" / "make_datasets.py"
    spec = importlib.util.spec_from_file_location("make_datasets", script)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "make_datasets", module)  # for dataclasses
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # keep datasets/ clean
    spec.loader.exec_module(module)
    assert module.main(["--check", "--source-root", str(SHARED)]) == 0
