"""The PyOD adapter, exercised through PyOD's own API on real data (cardio).

PyOD's setting is unsupervised: detectors are fitted on all rows, anomalies
included, and ``contamination`` of them are labelled 1. The tests follow it.

``pyod.models.combination``, ``FeatureBagging`` and ``SUOD`` import the optional
packages ``combo`` / ``suod``; their tests are skipped where those are missing.
"""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest
from pyod.models.base import BaseDetector
from pyod.models.knn import KNN
from pyod.models.lscp import LSCP
from pyod.utils.data import evaluate_print
from pyod.utils.utility import check_detector, standardizer
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from anomvae import AutoencoderDetector, VAEDetector
from anomvae.datasets import load
from anomvae.pyod import PyODAdapter, as_pyod

FAST = {"max_steps": 150, "hidden_layer_sizes": (32, 16), "random_state": 0}
CONTAMINATION = 0.1

needs_combo = pytest.mark.skipif(
    importlib.util.find_spec("combo") is None,
    reason="pyod.models.combination needs the optional package 'combo'",
)


@pytest.fixture(scope="module")
def cardio():
    return load("cardio", as_frame=False)


@pytest.fixture(scope="module")
def split(cardio):
    """A random 60/40 train/test split (both contain anomalies)."""
    X, y = cardio
    order = np.random.default_rng(0).permutation(len(X))
    train, test = order[:1100], order[1100:]
    return X[train], y[train], X[test], y[test]


@pytest.fixture(scope="module")
def vae_clf(split):
    X_train = split[0]
    return PyODAdapter(VAEDetector(**FAST), contamination=CONTAMINATION).fit(X_train)


def test_adapter_is_a_pyod_detector(vae_clf):
    assert isinstance(vae_clf, BaseDetector)
    check_detector(vae_clf)
    assert vae_clf.n_features_in_ == 21


def test_training_attributes_follow_pyod_conventions(vae_clf, split):
    X_train, y_train = split[:2]
    scores, labels = vae_clf.decision_scores_, vae_clf.labels_
    assert scores.shape == labels.shape == (len(X_train),)
    assert set(np.unique(labels)) == {0, 1}
    assert labels.dtype.kind == "i"
    # PyOD's threshold: the (1 - contamination) percentile of the training scores.
    assert abs(labels.mean() - CONTAMINATION) <= 1 / len(X_train)
    assert vae_clf.threshold_ == pytest.approx(np.percentile(scores, 90))
    np.testing.assert_array_equal(labels, (scores > vae_clf.threshold_).astype(int))
    # Higher = more abnormal: the decision scores rank the real anomalies high
    # (reversed scores would give about 0.2). A tenth of these training rows are
    # anomalies, and the latent k-NN term finds their anomalous neighbours among
    # them, so the bar is lower than on clean training data.
    assert roc_auc_score(y_train, scores) > 0.7


def test_decision_function_is_the_anomvae_anomaly_score(vae_clf, split):
    X_train, _, X_test, y_test = split
    got = vae_clf.decision_function(X_test)
    np.testing.assert_array_equal(got, vae_clf.detector_.anomaly_score(X_test))
    np.testing.assert_array_equal(
        vae_clf.decision_function(X_train), vae_clf.decision_scores_
    )
    assert roc_auc_score(y_test, got) > 0.8


def test_predict_and_predict_proba(vae_clf, split):
    X_train, _, X_test, _ = split
    np.testing.assert_array_equal(vae_clf.predict(X_train), vae_clf.labels_)
    pred = vae_clf.predict(X_test)
    assert set(np.unique(pred)) <= {0, 1}
    for method in ("linear", "unify"):
        proba = vae_clf.predict_proba(X_test, method=method)
        assert proba.shape == (len(X_test), 2)
        assert ((proba >= 0) & (proba <= 1)).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # The outlier probability increases with the anomaly score.
    proba = vae_clf.predict_proba(X_test)[:, 1]
    order = np.argsort(vae_clf.decision_function(X_test))
    assert (np.diff(proba[order]) >= 0).all()
    labels, confidence = vae_clf.predict(X_test[:50], return_confidence=True)
    assert labels.shape == confidence.shape == (50,)
    assert ((confidence >= 0) & (confidence <= 1)).all()


def test_evaluate_print_reports_auroc_above_0_8(vae_clf, split, capsys):
    _, _, X_test, y_test = split
    evaluate_print("anomvae-VAE", y_test, vae_clf.decision_function(X_test))
    roc = float(re.search(r"ROC:([0-9.]+)", capsys.readouterr().out).group(1))
    assert roc > 0.8


def test_clone_and_nested_params():
    clf = as_pyod(AutoencoderDetector(max_steps=10), contamination=0.05)
    params = clf.get_params(deep=True)
    assert params["contamination"] == 0.05
    assert params["detector__max_steps"] == 10
    twin = clone(clf)
    assert twin is not clf
    assert twin.detector is not clf.detector
    assert twin.get_params(deep=False).keys() == {"contamination", "detector"}
    twin.set_params(detector__max_steps=20, contamination=0.2)
    assert twin.detector.max_steps == 20
    assert clf.detector.max_steps == 10
    assert "PyODAdapter(contamination=0.2" in repr(twin)


def test_fit_trains_a_clone_not_the_given_detector(split):
    det = AutoencoderDetector(max_steps=20, random_state=0)
    clf = PyODAdapter(det).fit(split[0][:300])
    assert clf.detector_ is not det
    assert isinstance(clf.detector_, AutoencoderDetector)
    assert not hasattr(det, "network_")


def test_default_detector_is_an_autoencoder(split):
    clf = PyODAdapter().fit(split[0][:100])  # few rows: the defaults train long
    assert type(clf.detector_) is AutoencoderDetector
    assert clf.get_params()["detector"] is None


def test_prefit_detector_is_not_retrained(vae_clf, split):
    X_test = split[2]
    fitted = vae_clf.detector_
    clf = as_pyod(fitted, contamination=0.05, prefit=True).fit(X_test)
    assert clf.detector_.estimator is fitted
    np.testing.assert_array_equal(clf.decision_scores_, fitted.anomaly_score(X_test))
    assert abs(clf.labels_.mean() - 0.05) <= 1 / len(X_test)
    with pytest.raises(NotFittedError):
        as_pyod(AutoencoderDetector(), prefit=True)


def test_unfitted_adapter_refuses_to_score(split):
    with pytest.raises(NotFittedError):
        PyODAdapter(AutoencoderDetector()).decision_function(split[0])


def test_contamination_is_validated_the_pyod_way():
    with pytest.raises(ValueError, match="contamination must be in"):
        PyODAdapter(AutoencoderDetector(), contamination=0.7)


def test_y_is_ignored_with_pyods_warning(split):
    X_train, y_train = split[0][:300], split[1][:300]
    with pytest.warns(UserWarning, match="y should not be presented"):
        PyODAdapter(AutoencoderDetector(max_steps=10, random_state=0)).fit(
            X_train, y_train
        )


@needs_combo
def test_score_combination_with_pyod_knn(vae_clf, split):
    from pyod.models.combination import average, maximization

    X_train, _, X_test, y_test = split
    knn = KNN(n_neighbors=10).fit(X_train)
    train = np.column_stack([vae_clf.decision_scores_, knn.decision_scores_])
    test = np.column_stack(
        [vae_clf.decision_function(X_test), knn.decision_function(X_test)]
    )
    train_norm, test_norm = standardizer(train, test)
    assert train_norm.shape == train.shape
    for combine in (average, maximization):
        combined = combine(test_norm)
        assert combined.shape == (len(X_test),)
        assert roc_auc_score(y_test, combined) > 0.8


def test_score_standardization_without_combo(vae_clf, split):
    """The same combination by hand, for environments without ``combo``."""
    X_train, _, X_test, y_test = split
    knn = KNN(n_neighbors=10).fit(X_train)
    test = np.column_stack(
        [vae_clf.decision_function(X_test), knn.decision_function(X_test)]
    )
    _, test_norm = standardizer(
        np.column_stack([vae_clf.decision_scores_, knn.decision_scores_]), test
    )
    assert roc_auc_score(y_test, test_norm.mean(axis=1)) > 0.8


@pytest.mark.filterwarnings("ignore:Local region size")
def test_lscp_ensemble_with_knn(split):
    X_train, _, X_test, y_test = split
    lscp = LSCP(
        [KNN(n_neighbors=10), PyODAdapter(VAEDetector(**FAST))],
        n_bins=2,
        random_state=0,
    ).fit(X_train)
    assert set(np.unique(lscp.labels_)) == {0, 1}
    # LSCP picks a detector per local region; it does not beat its best member.
    assert roc_auc_score(y_test, lscp.decision_function(X_test)) > 0.7


@needs_combo
def test_feature_bagging_clones_and_reseeds_the_adapter(split):
    from pyod.models.feature_bagging import FeatureBagging

    X_train, _, X_test, y_test = split
    fb = FeatureBagging(
        PyODAdapter(VAEDetector(max_steps=100, hidden_layer_sizes=(32, 16))),
        n_estimators=2,
        random_state=0,
    ).fit(X_train)
    seeds = [e.get_params()["detector__random_state"] for e in fb.estimators_]
    assert len(set(seeds)) == 2
    # Two members on random feature subsets of contaminated rows after 100 steps:
    # over FeatureBagging seeds 0-5 the AUROC ranged 0.75-0.91, so 0.7 (as for
    # LSCP above) checks that the ensemble detects, not which subsets it drew.
    assert roc_auc_score(y_test, fb.decision_function(X_test)) > 0.7


@pytest.mark.skipif(
    importlib.util.find_spec("suod") is None
    or importlib.util.find_spec("combo") is None,
    reason="pyod.models.suod needs the optional packages 'suod' and 'combo'",
)
@pytest.mark.filterwarnings("ignore")
def test_suod_ensemble_with_knn(split):
    from pyod.models.suod import SUOD

    X_train, _, X_test, y_test = split
    suod = SUOD(
        base_estimators=[KNN(n_neighbors=10), PyODAdapter(VAEDetector(**FAST))],
        n_jobs=1,
        rp_flag_global=False,
        approx_flag_global=False,
        bps_flag=False,
    ).fit(X_train)
    assert set(np.unique(suod.labels_)) == {0, 1}
    assert roc_auc_score(y_test, suod.decision_function(X_test)) > 0.8
