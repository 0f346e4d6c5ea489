"""The ``"ensemble"`` score: reconstruction, latent k-NN and input-space k-NN on
robust training scales, plus the out-of-support term; its reference rows in the
model file, ONNX, determinism and batch invariance."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import save_file
from sklearn.utils.estimator_checks import (
    check_methods_sample_order_invariance,
    check_methods_subset_invariance,
    parametrize_with_checks,
)

import anomvae
from anomvae import AutoencoderDetector, VAEDetector, scoring
from anomvae.persistence import _digest
from anomvae.scoring import (
    ENSEMBLE_INPUT_WEIGHT,
    ENSEMBLE_LATENT_WEIGHT,
    HYBRID_SUPPORT_WEIGHT,
    INPUT_K,
    input_knn_distance,
)

FAST = {"max_steps": 60, "random_state": 0}
DETECTORS = (AutoencoderDetector, VAEDetector)


def _data(n: int = 300, d: int = 6, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    test = np.vstack([X[:20], rng.normal(scale=4.0, size=(20, d))])
    return X, test


def _kth_distance(x: np.ndarray, rows: np.ndarray, k: int, skip_self: bool = False):
    """Brute force: distance to the k-th nearest row (the nearest skipped)."""
    dist = np.sqrt(((x[:, None, :] - rows[None, :, :]) ** 2).sum(-1))
    return np.sort(dist, axis=1)[:, k - 1 + int(skip_self)]


@pytest.mark.parametrize("cls", DETECTORS)
def test_ensemble_is_the_sum_of_standardised_parts(cls, constant_columns):
    X, test = constant_columns
    det = cls(**FAST).fit(X)
    ref = det.latent_reference_
    recon = det.set_params(score_type="reconstruction").anomaly_score(test)
    latent = det.set_params(score_type="latent_knn").anomaly_score(test)
    scaled = det.scaler_.transform(test)
    rows = ref.input_rows.numpy()
    near = _kth_distance(scaled, rows, INPUT_K)
    off = det.out_of_support_cells(test).sum(1)
    expected = (
        (recon - ref.recon_center) / ref.recon_scale
        + ENSEMBLE_LATENT_WEIGHT * (latent - ref.knn_center) / ref.knn_scale
        + ENSEMBLE_INPUT_WEIGHT * (near - ref.input_center) / ref.input_scale
        + HYBRID_SUPPORT_WEIGHT * off
    )
    got = det.set_params(score_type="ensemble").anomaly_score(test)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    assert (ref.input_k, ref.input_weight) == (INPUT_K, ENSEMBLE_INPUT_WEIGHT)
    assert ref.ensemble_latent_weight == ENSEMBLE_LATENT_WEIGHT


def test_input_reference_holds_the_scaled_training_rows_and_their_scale():
    # 300 rows: every training row is a reference row, and the scale is measured
    # on them, each skipping itself.
    X, _ = _data()
    det = AutoencoderDetector(**FAST).fit(X)
    ref = det.latent_reference_
    scaled = det.scaler_.transform(X).astype(np.float32).astype(np.float64)
    np.testing.assert_array_equal(ref.input_rows.numpy(), scaled)
    loo = _kth_distance(scaled, scaled, INPUT_K, skip_self=True)
    q1, median, q3 = np.percentile(loo, [25, 50, 75])
    assert ref.input_center == pytest.approx(median, rel=1e-9)
    assert ref.input_scale == pytest.approx(q3 - q1, rel=1e-9)
    x = torch.from_numpy(scaled[:7])
    np.testing.assert_allclose(
        input_knn_distance(x, ref).numpy(), _kth_distance(scaled[:7], scaled, INPUT_K)
    )


def test_input_reference_is_capped_for_wide_data_and_held_out_rows_scale_it(
    monkeypatch,
):
    # 600 cells at most: 30 rows of 20 features; the other 170 rows measure the
    # scale (at least 100 of them: held out, no self to skip).
    monkeypatch.setattr(scoring, "MAX_INPUT_REFERENCE_CELLS", 600)
    X, _ = _data(n=200, d=20)
    det = AutoencoderDetector(**FAST).fit(X)
    ref = det.latent_reference_
    assert ref.input_rows.shape == (30, 20)
    assert ref.codes.shape[0] == 200  # the latent reference is not capped
    scaled = det.scaler_.transform(X).astype(np.float32).astype(np.float64)
    rows = ref.input_rows.numpy()
    member = (scaled[:, None, :] == rows[None]).all(-1).any(1)
    assert member.sum() == 30
    median = np.median(_kth_distance(scaled[~member], rows, INPUT_K))
    assert ref.input_center == pytest.approx(median, rel=1e-9)


@pytest.mark.parametrize("cls", DETECTORS)
def test_ensemble_scores_are_deterministic_and_batch_invariant(cls):
    X, test = _data()
    det = cls(score_type="ensemble", **FAST).fit(X)
    scores = det.anomaly_score(test)
    np.testing.assert_array_equal(det.anomaly_score(test), scores)
    again = cls(score_type="ensemble", **FAST).fit(X)
    np.testing.assert_array_equal(again.anomaly_score(test), scores)
    pieces = np.concatenate(
        [det.anomaly_score(test[i : i + 7]) for i in range(0, 40, 7)]
    )
    np.testing.assert_allclose(pieces, scores, rtol=1e-12, atol=1e-12)
    check_methods_subset_invariance(type(det).__name__, det)
    check_methods_sample_order_invariance(type(det).__name__, det)


@pytest.mark.parametrize("cls", DETECTORS)
def test_fit_does_not_depend_on_the_score(cls):
    # The benchmark rescores one fit with every score_type; "ensemble" too.
    X, test = _data()
    hybrid = cls(**FAST).fit(X)
    ensemble = cls(score_type="ensemble", **FAST).fit(X)
    np.testing.assert_array_equal(
        hybrid.set_params(score_type="ensemble").anomaly_score(test),
        ensemble.anomaly_score(test),
    )
    # ...and the new reference leaves the hybrid score as it was.
    np.testing.assert_array_equal(
        ensemble.set_params(score_type="hybrid").anomaly_score(test),
        hybrid.set_params(score_type="hybrid").anomaly_score(test),
    )


@pytest.mark.parametrize("cls", DETECTORS)
def test_ensemble_round_trips_through_the_model_file(tmp_path, cls):
    X, test = _data()
    det = cls(score_type="ensemble", **FAST).fit(X)
    path = tmp_path / "m.anomvae"
    anomvae.save(det, path)
    loaded = anomvae.load(path)
    np.testing.assert_array_equal(loaded.anomaly_score(test), det.anomaly_score(test))
    np.testing.assert_array_equal(loaded.predict(test), det.predict(test))
    with safe_open(str(path), framework="numpy") as f:
        rows = f.get_tensor("latent/input_rows")
    assert rows.dtype == np.float32  # exact: the rows were trained on in float32
    assert rows.shape == tuple(det.latent_reference_.input_rows.shape)


def test_files_without_input_rows_refuse_the_ensemble_and_keep_the_hybrid(tmp_path):
    X, test = _data()
    det = VAEDetector(**FAST).fit(X)
    path = tmp_path / "m.anomvae"
    anomvae.save(det, path)
    with safe_open(str(path), framework="numpy") as f:
        meta = dict(f.metadata())
        arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    config = json.loads(meta["config"])
    for key in ("input_k", "input_center", "input_scale", "input_weight",
                "ensemble_latent_weight"):  # fmt: skip
        del config["fitted"]["latent_reference"][key]
    del arrays["latent/input_rows"]
    meta["config"] = json.dumps(config, sort_keys=True)
    meta["sha256"] = _digest(meta["config"], arrays)
    save_file(arrays, str(path), metadata=meta)
    old = anomvae.load(path)
    assert old.latent_reference_.input_rows is None
    np.testing.assert_array_equal(old.anomaly_score(test), det.anomaly_score(test))
    with pytest.raises(ValueError, match="refit"):
        old.set_params(score_type="ensemble").anomaly_score(test)


@pytest.mark.parametrize("cls", DETECTORS)
def test_onnx_graph_reproduces_the_ensemble(tmp_path, cls):
    ort = pytest.importorskip("onnxruntime")
    from anomvae.onnx import export_onnx

    X, test = _data()
    det = cls(score_type="ensemble", **FAST).fit(X)
    path = export_onnx(det, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path))
    score, flag = session.run(None, {session.get_inputs()[0].name: test})
    np.testing.assert_allclose(score, det.anomaly_score(test), rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(flag, det.predict(test) == -1)


@parametrize_with_checks(
    [
        AutoencoderDetector(score_type="ensemble", max_epochs=3, random_state=0),
        VAEDetector(score_type="ensemble", max_epochs=3, random_state=0),
    ]
)
def test_ensemble_detectors_pass_sklearn_checks(estimator, check):
    check(estimator)
