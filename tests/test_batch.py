"""Tests of anomvae.batch: the output columns every scoring engine writes."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import anomvae
from anomvae import (
    AutoencoderDetector,
    ConditionalVAEDetector,
    ThresholdCalibrator,
)
from anomvae.batch import (
    UNSEEN,
    model_info,
    model_input,
    output_schema,
    score_batch,
)
from anomvae.exceptions import DataError

FEATURES = ["a", "b", "c", "d"]
TINY = {"hidden_layer_sizes": (8,), "max_epochs": 3, "random_state": 0}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(300, 4)), columns=FEATURES)


@pytest.fixture(scope="module")
def detector(frame: pd.DataFrame) -> AutoencoderDetector:
    return AutoencoderDetector(**TINY).fit(frame)


@pytest.fixture(scope="module")
def calibrator(frame: pd.DataFrame) -> ThresholdCalibrator:
    return ThresholdCalibrator(
        AutoencoderDetector(**TINY), method="fpr", target_fpr=0.05, random_state=0
    ).fit(frame)


@pytest.fixture(scope="module")
def new_rows() -> np.ndarray:
    rows = np.random.default_rng(1).normal(size=(50, 4))
    rows[:5] *= 10  # a few clear anomalies
    return rows


def test_bare_detector_columns_and_flags(
    detector: AutoencoderDetector, new_rows: np.ndarray
) -> None:
    out = score_batch(detector, new_rows)
    assert out.column_names == ["score", "is_anomaly"]
    frame = pd.DataFrame(new_rows, columns=FEATURES)
    np.testing.assert_allclose(out["score"].to_numpy(), detector.anomaly_score(frame))
    expected = detector.predict(frame) == -1
    assert out["is_anomaly"].to_pylist() == expected.tolist()
    assert model_info(detector).threshold == -detector.offset_


def test_calibrated_model_adds_p_values_from_the_same_scores(
    calibrator: ThresholdCalibrator, new_rows: np.ndarray
) -> None:
    out = score_batch(calibrator, new_rows)
    assert out.column_names == ["score", "p_value", "is_anomaly"]
    frame = pd.DataFrame(new_rows, columns=FEATURES)
    np.testing.assert_allclose(out["p_value"].to_numpy(), calibrator.p_values(frame))
    expected = calibrator.predict(frame) == -1
    assert out["is_anomaly"].to_pylist() == expected.tolist()
    assert model_info(calibrator).threshold == calibrator.threshold_


def test_contamination_calibration_has_no_p_values(frame: pd.DataFrame) -> None:
    cal = ThresholdCalibrator(
        AutoencoderDetector(**TINY), method="contamination", contamination=0.05
    ).fit(frame)
    assert not model_info(cal).p_values
    assert "p_value" not in score_batch(cal, frame.to_numpy()).column_names


def test_threshold_override(
    detector: AutoencoderDetector, new_rows: np.ndarray
) -> None:
    assert not any(
        score_batch(detector, new_rows, threshold=1e12)["is_anomaly"].to_pylist()
    )
    assert all(
        score_batch(detector, new_rows, threshold=-1e12)["is_anomaly"].to_pylist()
    )


def test_explain_ranks_features_by_share(
    detector: AutoencoderDetector, new_rows: np.ndarray
) -> None:
    out = score_batch(detector, new_rows, explain=2)
    assert out.column_names[-6:] == [
        "top1_feature",
        "top1_share",
        "top1_reason",
        "top2_feature",
        "top2_share",
        "top2_reason",
    ]
    shares = detector.feature_contributions(pd.DataFrame(new_rows, columns=FEATURES))
    top1 = np.array(FEATURES)[shares.argmax(axis=1)]
    assert out["top1_feature"].to_pylist() == top1.tolist()
    np.testing.assert_allclose(out["top1_share"].to_numpy(), shares.max(axis=1))
    assert np.all(out["top1_share"].to_numpy() >= out["top2_share"].to_numpy())


def test_explain_is_capped_at_the_number_of_features(
    detector: AutoencoderDetector, new_rows: np.ndarray
) -> None:
    out = score_batch(detector, new_rows, explain=10)
    assert out.column_names[-3:] == ["top4_feature", "top4_share", "top4_reason"]
    assert out.schema == output_schema(detector, explain=10)


def test_frames_are_matched_by_name(
    detector: AutoencoderDetector, new_rows: np.ndarray
) -> None:
    frame = pd.DataFrame(new_rows, columns=FEATURES)
    shuffled = frame[["d", "b", "a", "c"]].assign(extra="ignored")
    a = score_batch(detector, frame)
    b = score_batch(detector, shuffled)
    assert a.equals(b)
    with pytest.raises(DataError, match=r"missing column.*'c'"):
        score_batch(detector, frame.drop(columns="c"))


def test_scores_do_not_depend_on_the_batch(
    calibrator: ThresholdCalibrator, new_rows: np.ndarray
) -> None:
    whole = score_batch(calibrator, new_rows)
    parts = pa.concat_tables(
        [score_batch(calibrator, new_rows[:17]), score_batch(calibrator, new_rows[17:])]
    )
    assert whole.schema == parts.schema
    for name in ("score", "p_value"):
        np.testing.assert_allclose(whole[name], parts[name], rtol=1e-12, atol=1e-12)


def test_no_warnings_when_scoring_arrays(
    detector: AutoencoderDetector, new_rows: np.ndarray
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        score_batch(detector, new_rows, explain=1)


def test_wrong_width_is_refused(detector: AutoencoderDetector) -> None:
    with pytest.raises(ValueError, match=r"shape \(n_rows, 4\)"):
        score_batch(detector, np.zeros((3, 5)))


def test_conditional_model_takes_conditions(frame: pd.DataFrame) -> None:
    rng = np.random.default_rng(2)
    data = frame.assign(machine=rng.choice(["A", "B"], len(frame)))
    cvae = ConditionalVAEDetector(condition_columns=("machine",), **TINY).fit(data)
    info = model_info(cvae)
    assert info.condition_columns == ("machine",)
    assert info.feature_columns == tuple(FEATURES)
    conditions = pa.table({"machine": data["machine"].tolist()})
    from_array = score_batch(
        cvae, data[FEATURES].to_numpy(), others=conditions, explain=1
    )
    from_frame = score_batch(cvae, data, explain=1)
    assert from_array.equals(from_frame)
    np.testing.assert_allclose(from_array["score"].to_numpy(), cvae.anomaly_score(data))
    assert set(from_array["top1_feature"].to_pylist()) <= set(FEATURES)
    with pytest.raises(ValueError, match="others="):
        score_batch(cvae, data[FEATURES].to_numpy())


def test_model_fitted_without_names_scores_arrays(new_rows: np.ndarray) -> None:
    det = AutoencoderDetector(**TINY).fit(
        np.random.default_rng(0).normal(size=(200, 4))
    )
    info = model_info(det)
    assert info.input_columns == ()
    assert info.n_features == 4
    out = score_batch(det, new_rows, explain=1)
    assert set(out["top1_feature"].to_pylist()) <= {"x0", "x1", "x2", "x3"}
    assert isinstance(model_input(info, new_rows, None), np.ndarray)


def test_model_info_of_a_calibrator(calibrator: ThresholdCalibrator) -> None:
    info: Any = model_info(calibrator)
    assert (info.estimator, info.calibrated, info.method) == (
        "AutoencoderDetector",
        True,
        "fpr",
    )
    assert info.input_columns == tuple(FEATURES)
    assert info.threshold == calibrator.threshold_


def test_explanations_name_features_holding_unseen_values(
    constant_columns: tuple[np.ndarray, np.ndarray], tmp_path: Any
) -> None:
    X, test = constant_columns
    names = [f"f{j}" for j in range(X.shape[1])]
    det = AutoencoderDetector(max_epochs=3, random_state=0).fit(
        pd.DataFrame(X, columns=names)
    )
    cells = det.out_of_support_cells(pd.DataFrame(test, columns=names))
    assert cells.shape == test.shape
    expected = ["", "f2", "f4", "f2;f4;f5", "", "f5"] * 5
    assert [";".join(np.array(names)[row]) for row in cells] == expected
    out = score_batch(det, test, explain=2)
    assert out.column_names[-1] == UNSEEN
    assert out[UNSEEN].to_pylist() == expected
    assert UNSEEN not in score_batch(det, test).column_names  # only with explain
    # A calibrated model, saved and loaded, explains the same way.
    cal = ThresholdCalibrator(det, method="contamination")
    cal.fit(pd.DataFrame(X, columns=names))
    anomvae.save(cal, tmp_path / "m.anomvae")
    loaded = anomvae.load(tmp_path / "m.anomvae")
    assert score_batch(loaded, test, explain=1)[UNSEEN].to_pylist() == expected
    # "ensemble" adds the same out-of-support term, so it explains the same way.
    det.set_params(score_type="ensemble")
    assert score_batch(det, test, explain=1)[UNSEEN].to_pylist() == expected
    # Scores without the term, and models with no constant feature: no column.
    det.set_params(score_type="reconstruction")
    assert UNSEEN not in score_batch(det, test, explain=2).column_names
    plain = AutoencoderDetector(max_epochs=3, random_state=0).fit(test)
    assert UNSEEN not in score_batch(plain, test, explain=2).column_names
