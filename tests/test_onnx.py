"""ONNX export: onnxruntime reproduces ``anomaly_score`` and ``predict`` on real data
(cardio, digits) for every detector and score, at any batch size, with standard
operators only.

Tolerance. The float32 graph computes what the detector computes in float64, with
the same (float32-trained, so exactly representable) weights. Each score is a sum
of per-feature or per-latent terms, so float32 rounding gives a small relative error
(``benchmarks/results/onnx_errors.md`` measures it). ``rtol=1e-5`` is the bar the issue
sets. A relative bound alone is meaningless for a score at or near zero (a
reconstruction error of a perfectly reconstructed row, an ELBO that crosses zero):
its absolute error is that of the large terms that cancel in it, so each
comparison also allows ``atol = 1e-6 * median(|score|)``, one float32 ulp-scale
error on a typical score, far below the spread of the scores.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator

import anomvae
from anomvae import (
    AutoencoderDetector,
    ConditionalVAEDetector,
    DenoisingAutoencoderDetector,
    ThresholdCalibrator,
    VAEDetector,
)
from anomvae.datasets import load
from anomvae.onnx import export_onnx, scoring_module

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

FAST = {"max_steps": 150, "hidden_layer_sizes": (32, 16), "random_state": 0}
BATCH_SIZES = (1, 7, 1000)
RTOL = 1e-5
VAE_SCORES = ("reconstruction", "kl", "elbo", "iw_nll", "recon_prob")


@pytest.fixture(scope="module")
def cardio():
    X, y = load("cardio", as_frame=False)
    return X, y


@pytest.fixture(scope="module")
def fitted(cardio):
    """One detector of each kind, trained on the normal rows of cardio."""
    X, y = cardio
    normal = X[y == 0]
    return {
        "ae": AutoencoderDetector(**FAST).fit(normal),
        "dae": DenoisingAutoencoderDetector(**FAST).fit(normal),
        "vae": VAEDetector(n_score_samples=16, **FAST).fit(normal),
        "bernoulli_vae": VAEDetector(
            likelihood="bernoulli", scaler="minmax", n_score_samples=16, **FAST
        ).fit(normal),
    }


def _with_score(det, score_type):
    """A view of a fitted VAE that scores with ``score_type`` (shares the network)."""
    return copy.copy(det).set_params(score_type=score_type)


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _run(sess, X):
    dtype = np.float64 if sess.get_inputs()[0].type == "tensor(double)" else np.float32
    outputs = sess.run(None, {"X": np.ascontiguousarray(X, dtype=dtype)})
    return outputs if len(outputs) > 1 else (outputs[0], None)


def _assert_scores_close(got, ref, rtol=RTOL):
    atol = 1e-6 * float(np.median(np.abs(ref))) if rtol >= 1e-7 else 0.0
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol)


def _check_batches(path, det, X, predicted=None, *, threshold=None, X_det=None):
    """Scores (and flags) of batches of every size match the detector's.

    ``X_det`` is what the detector is given when it is not ``X`` itself (a
    DataFrame). A flag may differ from ``predicted`` only for a row whose score
    ties the threshold to within the score tolerance (a conformal threshold *is*
    the score of one calibration row); there must be few such rows.
    """
    sess = _session(path)
    ref = det.anomaly_score(X if X_det is None else X_det)
    if threshold is None:
        threshold = -det.offset_
    tie = np.abs(ref - threshold) <= RTOL * abs(threshold)
    assert tie.sum() <= 2
    for n in sorted({min(b, len(X)) for b in (*BATCH_SIZES, len(X))}):
        score, flag = _run(sess, X[:n])
        assert score.shape == (n,)
        assert score.dtype in (np.float32, np.float64)
        _assert_scores_close(score, ref[:n])
        if predicted is not None:
            assert flag.shape == (n,)
            assert flag.dtype == np.bool_
            np.testing.assert_array_equal(flag[~tie[:n]], predicted[:n][~tie[:n]] == -1)
    return ref


CASES = [
    ("ae", None),
    ("dae", None),
    *[("vae", kind) for kind in VAE_SCORES],
    ("bernoulli_vae", "elbo"),
]


@pytest.mark.parametrize(
    ("name", "score_type"),
    CASES,
    ids=[f"{n}-{s or 'reconstruction'}" for n, s in CASES],
)
def test_onnx_scores_match_detector_at_every_batch_size(
    fitted, cardio, tmp_path, name, score_type
):
    X, _ = cardio
    det = fitted[name] if score_type is None else _with_score(fitted[name], score_type)
    path = export_onnx(det, tmp_path / "model.onnx")
    _check_batches(path, det, X, predicted=det.predict(X))


def test_onnx_flags_are_score_above_threshold_and_find_anomalies(
    fitted, cardio, tmp_path
):
    X, y = cardio
    det = fitted["vae"]
    score, flag = _run(_session(export_onnx(det, tmp_path / "m.onnx")), X)
    np.testing.assert_array_equal(flag, score.astype(np.float64) > -det.offset_)
    assert 0 < flag.sum() < len(X)
    # The graph's flags find the anomalies the detector finds.
    assert flag[y == 1].mean() > flag[y == 0].mean()


def test_float64_export_reproduces_detector_to_rounding(fitted, cardio, tmp_path):
    X, _ = cardio
    for det in (fitted["ae"], _with_score(fitted["vae"], "iw_nll")):
        sess = _session(export_onnx(det, tmp_path / "m64.onnx", dtype="float64"))
        score, flag = _run(sess, X)
        assert score.dtype == np.float64
        ref = det.anomaly_score(X)
        # rtol plus an atol at rounding level of the score's magnitude: centred
        # scores cross zero, where relative error means nothing.
        np.testing.assert_allclose(
            score, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max()
        )
        np.testing.assert_array_equal(flag, det.predict(X) == -1)


def test_out_of_support_cells_count_the_same_in_the_graph(tmp_path, constant_columns):
    X, test = constant_columns
    det = AutoencoderDetector(max_steps=50, random_state=0).fit(X)
    ref = det.anomaly_score(test)
    sess = _session(export_onnx(det, tmp_path / "m64.onnx", dtype="float64"))
    np.testing.assert_allclose(
        _run(sess, test)[0], ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max()
    )
    # A float32 input cannot hold the one-ulp float64 changes (rows 2 and 5 of
    # each 6); every other row keeps its out-of-support count (3 per cell, far
    # above the tolerance).
    keep = ~np.isin(np.arange(len(test)) % 6, [2, 5])
    sess = _session(export_onnx(det, tmp_path / "m32.onnx", dtype="float32"))
    got = _run(sess, test)[0]
    _assert_scores_close(got[keep], ref[keep])


def test_scoring_module_is_the_detector_scoring_path(fitted, cardio):
    """The traced torch module itself (before ONNX) equals anomaly_score."""
    X, _ = cardio
    det = _with_score(fitted["vae"], "recon_prob")
    module = scoring_module(det, include_threshold=False, dtype="float64")
    with torch.no_grad():
        got = module(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(got, det.anomaly_score(X), rtol=1e-13)


def test_calibrated_model_exports_its_threshold(fitted, cardio, tmp_path):
    X, y = cardio
    normal = X[y == 0]
    cal = ThresholdCalibrator(
        FrozenEstimator(fitted["ae"]), target_fpr=0.05, random_state=0
    ).fit(normal[1000:])
    assert cal.threshold_ != -fitted["ae"].offset_
    path = export_onnx(cal, tmp_path / "cal.onnx")
    _check_batches(
        path, cal.detector_, X, predicted=cal.predict(X), threshold=cal.threshold_
    )
    props = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert float(props["threshold"]) == cal.threshold_
    assert props["threshold_source"].startswith("ThresholdCalibrator(method='fpr')")


def test_saved_and_loaded_calibrator_exports_like_the_original(
    fitted, cardio, tmp_path
):
    """What ``anomvae export MODEL -o model.onnx`` does: load, then export."""
    X, y = cardio
    cal = ThresholdCalibrator(FrozenEstimator(fitted["vae"]), target_fpr=0.02).fit(
        X[y == 0][1000:]
    )
    anomvae.save(cal, tmp_path / "model.anomvae")
    loaded = anomvae.load(tmp_path / "model.anomvae")
    a = _run(_session(export_onnx(cal, tmp_path / "a.onnx")), X)
    b = _run(_session(export_onnx(loaded, tmp_path / "b.onnx")), X)
    np.testing.assert_array_equal(a[0], b[0])
    tie = np.isclose(cal.detector_.anomaly_score(X), cal.threshold_, rtol=RTOL)
    np.testing.assert_array_equal(b[1][~tie], cal.predict(X)[~tie] == -1)


def test_graph_is_valid_standard_onnx_with_dynamic_batch(fitted, tmp_path):
    det = _with_score(fitted["vae"], "iw_nll")
    path = export_onnx(det, tmp_path / "m.onnx", opset=17)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    # Standard operators only: every node and opset in the default ONNX domain.
    assert {node.domain for node in model.graph.node} <= {"", "ai.onnx"}
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    (inp,) = model.graph.input
    assert inp.name == "X"
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param == "N"
    assert dims[1].dim_value == det.n_features_in_
    assert [o.name for o in model.graph.output] == ["score", "is_anomaly"]
    for out in model.graph.output:
        assert out.type.tensor_type.shape.dim[0].dim_param == "N"
    props = {p.key: p.value for p in model.metadata_props}
    assert props["estimator"] == "VAEDetector"
    assert props["score_type"] == "iw_nll"
    assert float(props["threshold"]) == -det.offset_
    assert json.loads(props["feature_names"]) is None


def test_export_without_threshold_has_only_the_score(fitted, cardio, tmp_path):
    X, _ = cardio
    path = export_onnx(fitted["ae"], tmp_path / "m.onnx", include_threshold=False)
    sess = _session(path)
    assert [o.name for o in sess.get_outputs()] == ["score"]
    assert "threshold" not in {p.key for p in onnx.load(path).metadata_props}
    _check_batches(path, fitted["ae"], X)


def test_export_replaces_an_existing_file(fitted, tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    assert export_onnx(fitted["ae"], path) == path
    onnx.checker.check_model(onnx.load(path))


def test_conditional_vae_with_numeric_condition_by_name(cardio, tmp_path):
    y = cardio[1]
    frame = load("cardio")[0]
    det = ConditionalVAEDetector(condition_columns=("LB", "DL"), **FAST).fit(
        frame[y == 0]
    )
    path = export_onnx(det, tmp_path / "cvae.onnx")
    # The graph takes the same columns, in the same order, as the detector.
    _check_batches(
        path, det, frame.to_numpy(), predicted=det.predict(frame), X_det=frame
    )
    props = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert json.loads(props["feature_names"]) == list(frame.columns)


def test_conditional_vae_with_numeric_condition_by_position(cardio, tmp_path):
    X, y = cardio
    det = ConditionalVAEDetector(condition_columns=(-1,), score_type="kl", **FAST).fit(
        X[y == 0]
    )
    _check_batches(export_onnx(det, tmp_path / "c.onnx"), det, X, det.predict(X))


def test_categorical_conditions_are_refused_with_a_clear_message(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    frame["machine"] = rng.choice(["m1", "m2"], size=200)
    det = ConditionalVAEDetector(
        condition_columns=("machine",), max_steps=5, random_state=0
    ).fit(frame)
    with pytest.raises(NotImplementedError, match="'machine' is categorical"):
        export_onnx(det, tmp_path / "c.onnx")
    assert not (tmp_path / "c.onnx").exists()


def test_convolutional_autoencoder_on_images(tmp_path):
    digits = load_digits().data
    # Convolutional graphs run in float32 (onnxruntime has no float64 Conv), where
    # the latent k-NN part of the hybrid score loses precision to cancellation;
    # the reconstruction score keeps 1e-5.
    det = AutoencoderDetector(
        architecture="conv",
        image_shape=(8, 8),
        max_steps=30,
        score_type="reconstruction",
        random_state=0,
    ).fit(digits[:1000])
    _check_batches(
        export_onnx(det, tmp_path / "conv.onnx"),
        det,
        digits,
        predicted=det.predict(digits),
    )


def test_unfitted_model_is_refused_before_writing(tmp_path):
    with pytest.raises(NotFittedError):
        export_onnx(AutoencoderDetector(), tmp_path / "m.onnx")
    with pytest.raises(NotFittedError):
        export_onnx(ThresholdCalibrator(AutoencoderDetector()), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_non_anomvae_detector_is_refused(cardio, tmp_path):
    X, _ = cardio
    cal = ThresholdCalibrator(
        IsolationForest(n_estimators=10, random_state=0), random_state=0
    ).fit(X[:600])
    with pytest.raises(TypeError, match="needs an anomvae detector"):
        export_onnx(cal, tmp_path / "m.onnx")


def test_batch_selection_threshold_is_refused(fitted, cardio, tmp_path):
    X, y = cardio
    cal = ThresholdCalibrator(
        FrozenEstimator(fitted["ae"]), method="conformal", fdr=0.1
    ).fit(X[y == 0][1000:])
    with pytest.raises(ValueError, match="Benjamini-Hochberg"):
        export_onnx(cal, tmp_path / "m.onnx")
    # The scores alone are still exportable.
    path = export_onnx(cal, tmp_path / "m.onnx", include_threshold=False)
    _check_batches(path, fitted["ae"], X[:50])


def test_unknown_dtype_and_opset_are_refused(fitted, tmp_path):
    with pytest.raises(ValueError, match="dtype must be one of"):
        export_onnx(fitted["ae"], tmp_path / "m.onnx", dtype="float16")
    with pytest.raises(ValueError, match="opset must be between 11 and 20"):
        export_onnx(fitted["ae"], tmp_path / "m.onnx", opset=21)


@pytest.mark.parametrize("opset", [11, 20])
def test_oldest_and_newest_opset(fitted, cardio, tmp_path, opset):
    det = _with_score(fitted["vae"], "iw_nll")
    path = export_onnx(det, tmp_path / "m.onnx", opset=opset)
    assert onnx.load(path).opset_import[0].version == opset
    _check_batches(path, det, cardio[0][:100], det.predict(cardio[0][:100]))


def test_export_refuses_a_graph_that_would_not_reproduce_the_detector(fitted, tmp_path):
    """A change to the detector's scoring that the graph does not know of (here a
    shifted anomaly_score) is caught at export time, not in production."""
    det = copy.copy(fitted["ae"])
    original = det.anomaly_score
    det.anomaly_score = lambda X: original(X) * 1.01
    with pytest.raises(RuntimeError, match="would not reproduce"):
        export_onnx(det, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
