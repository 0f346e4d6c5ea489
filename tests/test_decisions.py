"""The one place where scores become decisions (anomvae.decisions), and the
promise it carries: every way of scoring a file flags the same rows.

A calibrator with ``fdr`` flags by Benjamini-Hochberg over its whole input. The
command line streams its input in batches and the Dask engine scores files in
separate processes; both must still flag exactly the rows that
``ThresholdCalibrator.predict`` flags on the same rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from sklearn.ensemble import IsolationForest
from typer.testing import CliRunner

import anomvae
from anomvae import AutoencoderDetector, ThresholdCalibrator, decisions
from anomvae.batch import score_batch
from anomvae.cli import app
from anomvae.exceptions import DataError
from anomvae.thresholds import benjamini_hochberg

FEATURES = ["x0", "x1", "x2"]


def test_sign_threshold_and_flag_conventions() -> None:
    s = np.array([-1.0, 0.5, 2.0, 3.0])
    assert np.array_equal(decisions.normality(s), -s)
    t = 2.0
    offset = decisions.offset_from_threshold(t)
    assert offset == -2.0
    assert decisions.threshold_from_offset(offset) == t
    # decision_function = score_samples - offset_ = threshold - score
    assert np.array_equal(
        decisions.decision_values(s, t), decisions.normality(s) - offset
    )
    flags = decisions.is_anomaly(s, t)
    assert flags.tolist() == [False, False, False, True]  # strictly above
    assert decisions.outlier_labels(flags).tolist() == [1, 1, 1, -1]
    # the same rule on tensors (the ONNX graph)
    assert decisions.is_anomaly(torch.tensor(s), t).tolist() == flags.tolist()


def test_flag_rule_of_detectors_and_calibrators() -> None:
    X = np.random.default_rng(0).normal(size=(600, 3))
    det = AutoencoderDetector(max_steps=20, random_state=0).fit(X)
    assert decisions.flag_rule(det) == decisions.FlagRule(-det.offset_)
    cal = ThresholdCalibrator(IsolationForest(random_state=0), random_state=0).fit(X)
    assert decisions.flag_rule(cal).per_row
    assert decisions.flag_rule(cal).threshold == cal.threshold_
    bh = ThresholdCalibrator(
        IsolationForest(random_state=0), method="conformal", fdr=0.2, random_state=0
    ).fit(X)
    rule = decisions.flag_rule(bh)
    assert not rule.per_row
    assert rule.fdr == 0.2
    override = decisions.flag_rule(bh, threshold=0.3)
    assert override.per_row
    assert override.threshold == 0.3
    with pytest.raises(ValueError, match="needs the rows' conformal p-values"):
        rule.flags(np.zeros(3))


def test_predict_of_a_detector_agrees_with_its_decision_function() -> None:
    X = np.random.default_rng(1).normal(size=(300, 3))
    det = AutoencoderDetector(max_steps=20, random_state=0).fit(X)
    X_new = np.vstack([X[:50], X[:5] * 8])
    assert np.array_equal(det.predict(X_new) == -1, det.decision_function(X_new) < 0)
    assert np.array_equal(det.score_samples(X_new), -det.anomaly_score(X_new))


# ----------------------------------------------- BH over the whole input
@pytest.fixture(scope="module")
def bh_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A saved BH calibrator and a CSV of 3,000 rows with anomalies spread through
    it, so that no batch of 700 rows sees the p-values the whole file sees."""
    folder = tmp_path_factory.mktemp("bh")
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.normal(size=(2000, 3)), columns=FEATURES)
    cal = ThresholdCalibrator(
        AutoencoderDetector(hidden_layer_sizes=(8,), max_steps=60, random_state=0),
        method="conformal",
        fdr=0.1,
        calibration_size=0.5,
        random_state=0,
    ).fit(train)
    path = folder / "bh.anomvae"
    anomvae.save(cal, path)
    rows = rng.normal(size=(3000, 3))
    shifted = rng.choice(3000, 120, replace=False)
    rows[shifted] += rng.uniform(1.0, 6.0, size=(120, 1))  # a range of evidence
    test = pd.DataFrame(rows.round(6), columns=FEATURES)
    test.insert(0, "id", np.arange(3000))
    test.to_csv(folder / "test.csv", index=False)
    return path, folder / "test.csv"


def _expected_flags(path: Path, csv: Path) -> np.ndarray:
    cal = anomvae.load(path)
    frame = pd.read_csv(csv)[FEATURES]
    return cal.predict(frame) == -1


def test_bh_flags_differ_from_batch_by_batch_selection(
    bh_model: tuple[Path, Path],
) -> None:
    """The test below is not vacuous: selecting per 700-row batch flags other
    rows than the selection over the whole file."""
    path, csv = bh_model
    cal = anomvae.load(path)
    frame = pd.read_csv(csv)[FEATURES]
    p = cal.p_values(frame)
    whole = benjamini_hochberg(p, 0.1)
    per_batch = np.concatenate(
        [benjamini_hochberg(p[i : i + 700], 0.1) for i in range(0, len(p), 700)]
    )
    assert whole.sum() > 0
    assert not np.array_equal(whole, per_batch)


def test_cli_score_flags_the_rows_predict_flags(
    bh_model: tuple[Path, Path], tmp_path: Path
) -> None:
    path, csv = bh_model
    out = tmp_path / "scores.parquet"
    result = CliRunner().invoke(
        app,
        ["score", str(csv), "-m", str(path), "-o", str(out), "-i", "id",
         "--batch-rows", "700", "--block-size", "20000", "--threads", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    scored = pq.read_table(out).to_pandas()
    assert scored["id"].astype(int).tolist() == list(range(3000))
    expected = _expected_flags(path, csv)
    assert np.array_equal(scored["is_anomaly"].to_numpy(), expected)
    assert f"{int(expected.sum()):,} anomalies" in result.stderr
    # no spill file is left beside the output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.parquet"]


def test_cli_evaluate_counts_the_bh_flags(
    bh_model: tuple[Path, Path], tmp_path: Path
) -> None:
    path, csv = bh_model
    frame = pd.read_csv(csv)
    frame["label"] = 0
    labelled = tmp_path / "labelled.csv"
    frame.to_csv(labelled, index=False)
    result = CliRunner().invoke(
        app, ["evaluate", str(labelled), "-m", str(path), "-y", "label", "--json"]
    )
    assert result.exit_code == 0, result.stderr
    import json

    report = json.loads(result.stdout)
    expected = _expected_flags(path, csv)
    assert report["confusion"]["fp"] == int(expected.sum())
    assert report["flag_rule"] == "benjamini-hochberg fdr=0.1"


def test_score_batch_selects_over_the_rows_it_is_given(
    bh_model: tuple[Path, Path],
) -> None:
    path, csv = bh_model
    cal = anomvae.load(path)
    frame = pd.read_csv(csv)[FEATURES]
    out = score_batch(cal, frame)
    assert np.array_equal(out["is_anomaly"].to_numpy(), cal.predict(frame) == -1)


def test_dask_engine_flags_the_rows_predict_flags(
    bh_model: tuple[Path, Path], tmp_path: Path
) -> None:
    pytest.importorskip("distributed")  # an optional extra, not the package
    path, csv = bh_model
    frame = pd.read_csv(csv)
    parts = tmp_path / "in"
    parts.mkdir()
    for i, start in enumerate(range(0, 3000, 1000)):
        frame.iloc[start : start + 1000].to_csv(parts / f"p{i}.csv", index=False)
    import dask

    from anomvae.distributed import score_dask

    with dask.config.set(scheduler="synchronous"):
        score_dask(str(parts), path, tmp_path / "out", id_columns=["id"])
    scored = pq.read_table(tmp_path / "out").to_pandas()
    scored = scored.sort_values("id", key=lambda ids: ids.astype(int))
    assert np.array_equal(scored["is_anomaly"].to_numpy(), _expected_flags(path, csv))


def test_score_partition_refuses_a_batch_rule_without_threshold(
    bh_model: tuple[Path, Path],
) -> None:
    from anomvae.distributed import score_partition

    path, csv = bh_model
    frame = pd.read_csv(csv)
    with pytest.raises(DataError, match="Benjamini-Hochberg over its whole input"):
        score_partition(frame, path, id_columns=["id"])
    out = score_partition(frame, path, id_columns=["id"], threshold=0.5)
    assert np.array_equal(out["is_anomaly"], out["score"] > 0.5)
