"""Real tables through the detectors: numbers, categories, flags and blank cells
in one model (the mixed-table path).

A small synthetic table with the structure of network-flow data: a heavy-tailed
byte count that depends on the protocol, a temperature with blanks, a protocol
category, a boolean flag, and a digit-coded rank that is a category.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import anomvae
from anomvae import (
    AutoencoderDetector,
    ConditionalVAEDetector,
    DenoisingAutoencoderDetector,
    ThresholdCalibrator,
    VAEDetector,
)
from anomvae.exceptions import DataError

FAST = {"max_steps": 250, "random_state": 0}
DETECTORS = [AutoencoderDetector, DenoisingAutoencoderDetector, VAEDetector]


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    proto = rng.choice(["tcp", "udp", "icmp"], n, p=[0.6, 0.3, 0.1])
    base = np.where(proto == "tcp", 9.0, np.where(proto == "udp", 6.0, 3.0))
    frame = pd.DataFrame(
        {
            "bytes": np.round(np.exp(base + rng.normal(0, 1.5, n))),
            "temp": rng.normal(20, 2, n),
            "proto": pd.Series(proto, dtype="string"),
            "secure": proto == "tcp",
            "rank": rng.integers(1, 5, n),
        }
    )
    frame.loc[rng.random(n) < 0.1, "temp"] = np.nan
    return frame


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return _table(1500, 0)


@pytest.fixture(scope="module")
def vae(train: pd.DataFrame) -> VAEDetector:
    return VAEDetector(categorical_features=["rank"], **FAST).fit(train)


def _odd_rows(train: pd.DataFrame) -> pd.DataFrame:
    """Normal rows, then one anomaly of each kind."""
    rows = train.iloc[:8].astype(object).reset_index(drop=True)
    rows.loc[0, "proto"] = "XX"  # a level never seen in training
    rows.loc[1, "bytes"] = 5.1e9  # a number far outside training
    rows.loc[2, ["bytes", "temp", "proto", "secure", "rank"]] = None  # all blank
    rows.loc[3, "bytes"] = 1e300  # a broken sensor's sentinel
    rows.loc[4, "secure"] = not bool(rows.loc[4, "secure"])  # flag against proto
    return rows


def test_schema_from_dtypes_and_digit_coded_categories(vae: VAEDetector) -> None:
    kinds = {c.name: c.kind for c in vae.schema_.columns}
    assert kinds == {
        "bytes": "numeric",
        "temp": "numeric",
        "proto": "categorical",
        "secure": "binary",
        "rank": "categorical",
    }
    assert vae.schema_.column("rank").categories == ("1", "2", "3", "4") or set(
        vae.schema_.column("rank").categories
    ) == {"1", "2", "3", "4"}
    assert vae.schema_.column("bytes").transform == "log1p"  # heavy tail
    assert vae.schema_.column("temp").blank_rate == pytest.approx(0.1, abs=0.03)
    assert list(vae.feature_names_in_) == ["bytes", "temp", "proto", "secure", "rank"]


@pytest.mark.parametrize("cls", DETECTORS)
def test_each_kind_of_anomaly_is_flagged(cls: type, train: pd.DataFrame) -> None:
    det = cls(categorical_features=["rank"], **FAST).fit(train)
    rows = _odd_rows(train)
    scores = det.anomaly_score(rows)
    assert np.isfinite(scores).all()
    threshold = -det.offset_
    assert (scores[:4] > threshold).all(), scores  # unseen, huge, blank, sentinel
    assert (scores[5:] <= np.quantile(det.anomaly_score(train), 0.999)).all()


def test_numeric_arrays_keep_the_numeric_path() -> None:
    X = np.random.default_rng(0).normal(size=(200, 4))
    det = VAEDetector(**FAST).fit(X)
    assert det.schema_ is None
    frame = pd.DataFrame(X, columns=list("abcd"))
    assert VAEDetector(**FAST).fit(frame).schema_ is None
    np.testing.assert_allclose(
        VAEDetector(**FAST).fit(frame).anomaly_score(frame),
        det.anomaly_score(X),
        rtol=1e-12,
    )


def test_blank_cells_in_a_float_array_take_the_table_path() -> None:
    X = np.random.default_rng(0).normal(size=(300, 3))
    X[::7, 1] = np.nan
    det = AutoencoderDetector(**FAST).fit(X)
    assert det.schema_ is not None
    assert np.isfinite(det.anomaly_score(X)).all()


def test_unseen_category_is_named_and_handle_unknown_error(
    vae: VAEDetector, train: pd.DataFrame
) -> None:
    rows = _odd_rows(train)
    unseen = vae.out_of_support_cells(rows)
    assert unseen[0].tolist() == [False, False, True, False, False]
    assert unseen[2].any()  # blanks where training never had blanks
    reasons = vae.explain(rows, top=2)
    assert reasons.loc[0, "top1_feature"] == "proto"
    assert reasons.loc[0, "top1_reason"] == "proto='XX' unseen in training"
    strict = clone(vae).set_params(handle_unknown="error").fit(train)
    with pytest.raises(DataError, match=r"'proto'.*row 1.*'XX'"):
        strict.anomaly_score(rows.iloc[:1])


def test_explanations_in_natural_units(vae: VAEDetector, train: pd.DataFrame) -> None:
    rows = _odd_rows(train)
    table = vae.explain(rows, top=3)
    assert list(table.columns[:3]) == ["top1_feature", "top1_share", "top1_reason"]
    assert table.loc[1, "top1_feature"] == "bytes"
    assert table.loc[1, "top1_reason"].startswith("bytes=5.1e9 (expected about ")
    blank = table.loc[2, [f"top{i}_reason" for i in (1, 2, 3)]].tolist()
    assert any("blank (blank in 0% of training rows)" in r for r in blank), blank
    shares = vae.feature_contributions(rows)
    np.testing.assert_allclose(shares.sum(1), 1.0)
    assert (shares >= 0).all()


def test_all_blank_row_is_never_the_most_normal(
    vae: VAEDetector, train: pd.DataFrame
) -> None:
    blank = pd.DataFrame([[None] * 5], columns=train.columns)
    assert vae.anomaly_score(blank)[0] > vae.anomaly_score(train).max()


def test_extreme_numbers_give_finite_flagged_scores(vae: VAEDetector) -> None:
    rows = _table(3, 1).astype(object)
    rows.loc[0, "temp"] = np.finfo(np.float64).max
    rows.loc[1, "bytes"] = 1e300
    scores = vae.anomaly_score(rows)
    assert np.isfinite(scores).all()
    assert (scores[:2] > -vae.offset_).all()


def test_impute_fills_blanks_from_the_rest_of_the_row(
    vae: VAEDetector, train: pd.DataFrame
) -> None:
    rows = _table(200, 2)
    truth = rows["proto"].copy()
    rows["proto"] = pd.Series([None] * len(rows), dtype="string")
    filled = vae.impute(rows)
    assert filled["proto"].notna().all()
    # bytes (and the flag) tell the protocol: the model learned that.
    assert (filled["proto"].astype(str) == truth.astype(str)).mean() > 0.8
    pd.testing.assert_series_equal(filled["bytes"], rows["bytes"])


def test_save_load_round_trip_is_bit_identical(
    vae: VAEDetector, train: pd.DataFrame, tmp_path
) -> None:
    path = tmp_path / "mixed.anomvae"
    anomvae.save(vae, path)
    config = anomvae.persistence.read_config(path)
    assert config["fitted"]["schema"]["columns"][2]["name"] == "proto"
    json.dumps(config)  # plain JSON, no pickle
    loaded = anomvae.load(path)
    rows = _odd_rows(train)
    np.testing.assert_array_equal(loaded.anomaly_score(rows), vae.anomaly_score(rows))
    pd.testing.assert_frame_equal(loaded.explain(rows), vae.explain(rows))


def test_calibrator_on_a_mixed_model(train: pd.DataFrame, tmp_path) -> None:
    cal = ThresholdCalibrator(VAEDetector(**FAST), target_fpr=0.05, random_state=0).fit(
        train
    )
    rows = _odd_rows(train)
    assert (cal.predict(rows)[:4] == -1).all()
    p = cal.p_values(rows)
    assert (p[:4] <= 0.05).all()
    anomvae.save(cal, tmp_path / "cal.anomvae")
    loaded = anomvae.load(tmp_path / "cal.anomvae")
    np.testing.assert_array_equal(loaded.p_values(rows), p)


def test_same_seed_same_scores_and_batch_independence(train: pd.DataFrame) -> None:
    a = VAEDetector(**FAST).fit(train)
    b = VAEDetector(**FAST).fit(train)
    rows = _table(300, 3)
    np.testing.assert_array_equal(a.anomaly_score(rows), b.anomaly_score(rows))
    alone = np.concatenate(
        [a.anomaly_score(rows.iloc[i : i + 7]) for i in range(0, 300, 7)]
    )
    np.testing.assert_allclose(alone, a.anomaly_score(rows), rtol=1e-12, atol=1e-12)


def test_conditional_vae_with_mixed_features() -> None:
    frame = _table(800, 0)
    frame["site"] = np.random.default_rng(0).choice(["north", "south"], len(frame))
    det = ConditionalVAEDetector(condition_columns=("site",), **FAST).fit(frame)
    assert det.schema_ is not None
    assert "site" not in det.schema_.names
    assert np.isfinite(det.anomaly_score(frame)).all()


def test_every_score_type_works_on_a_mixed_model(vae: VAEDetector, train) -> None:
    rows = _odd_rows(train)
    for kind in ("reconstruction", "latent_knn", "elbo", "iw_nll", "kl", "recon_prob"):
        scores = clone(vae).set_params(score_type=kind).fit(train).anomaly_score(rows)
        assert np.isfinite(scores).all(), kind


def test_a_huge_vocabulary_stays_bounded() -> None:
    rng = np.random.default_rng(0)
    n = 5000
    frame = pd.DataFrame(
        {
            "id_like": [f"u{i}" for i in rng.permutation(100_000)[:n]],
            "x": rng.normal(size=n),
            "c": rng.choice(list("abc"), n),
        }
    )
    det = AutoencoderDetector(max_steps=20, random_state=0).fit(frame)
    column = det.schema_.column("id_like")
    assert len(column.categories) <= 1000
    assert len(json.dumps(det.schema_.to_dict())) < 100_000


def test_onnx_export_refuses_a_mixed_model(vae: VAEDetector, tmp_path) -> None:
    from anomvae.onnx import export_onnx

    with pytest.raises(NotImplementedError, match="mixed-table models are not"):
        export_onnx(vae, tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())
