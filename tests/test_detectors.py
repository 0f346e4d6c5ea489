"""Behaviour of the detectors: detection quality, determinism, explanations,
scikit-learn integration, images, conditions and every bad input."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from anomvae import (
    AutoencoderDetector,
    ConditionalVAEDetector,
    DataError,
    DenoisingAutoencoderDetector,
    NoveltySplit,
    TrainingError,
    VAEDetector,
    auroc_scorer,
)

FAST = {"max_epochs": 200, "random_state": 0}
ALL = [
    AutoencoderDetector,
    DenoisingAutoencoderDetector,
    VAEDetector,
    ConditionalVAEDetector,
]


def low_rank_data(n: int = 600, d: int = 10, rank: int = 3, seed: int = 0):
    """Normal rows on a noisy low-rank subspace (in mixed units), plus anomalies
    off it. Returns train, test and test labels (1 = anomaly)."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(rank, d))
    units = np.logspace(-2, 3, d)  # raw, unscaled features

    def normal(m):
        return (
            rng.normal(size=(m, rank)) @ basis + 0.05 * rng.normal(size=(m, d))
        ) * units

    anomalies = (rng.normal(size=(40, rank)) @ basis + rng.normal(size=(40, d))) * units
    x_test = np.vstack([normal(200), anomalies])
    y_test = np.r_[np.zeros(200), np.ones(40)]
    return normal(n), x_test, y_test


@pytest.mark.parametrize("cls", ALL)
def test_detects_planted_anomalies_on_raw_unscaled_data(cls):
    x_train, x_test, y_test = low_rank_data()
    det = cls(**FAST).fit(x_train)
    assert roc_auc_score(y_test, det.anomaly_score(x_test)) > 0.95
    assert det.fit(x_train) is det


@pytest.mark.parametrize(
    "score_type", ["reconstruction", "elbo", "iw_nll", "kl", "recon_prob"]
)
def test_every_vae_score_separates_anomalies(score_type):
    x_train, x_test, y_test = low_rank_data(seed=1)
    det = VAEDetector(score_type=score_type, **FAST).fit(x_train)
    auc = roc_auc_score(y_test, det.anomaly_score(x_test))
    # The KL term alone only sees how far a row's code sits from the prior; it is
    # the weakest score, but must still rank anomalies above chance.
    assert auc > (0.6 if score_type == "kl" else 0.95)


@pytest.mark.parametrize("cls", ALL)
def test_same_random_state_same_scores_and_repeat_scoring_is_stable(cls):
    x_train, x_test, _ = low_rank_data(200)
    a = cls(**FAST).fit(x_train)
    b = cls(**FAST).fit(x_train)
    np.testing.assert_array_equal(a.score_samples(x_test), b.score_samples(x_test))
    np.testing.assert_array_equal(a.score_samples(x_test), a.score_samples(x_test))
    c = cls(max_epochs=200, random_state=1).fit(x_train)
    assert not np.array_equal(a.score_samples(x_test), c.score_samples(x_test))


def test_monte_carlo_scores_do_not_depend_on_batch_composition():
    x_train, x_test, _ = low_rank_data(200)
    det = VAEDetector(score_type="iw_nll", **FAST).fit(x_train)
    full = det.anomaly_score(x_test)
    # Equal up to float64 rounding (matrix kernels may sum in another order).
    np.testing.assert_allclose(full[5:9], det.anomaly_score(x_test[5:9]), rtol=1e-12)
    np.testing.assert_allclose(full[::-1], det.anomaly_score(x_test[::-1]), rtol=1e-12)


def test_outlier_api_is_consistent():
    x_train, x_test, _ = low_rank_data(300)
    det = VAEDetector(contamination=0.1, **FAST).fit(x_train)
    np.testing.assert_allclose(
        det.decision_function(x_test), det.score_samples(x_test) - det.offset_
    )
    np.testing.assert_array_equal(det.score_samples(x_test), -det.anomaly_score(x_test))
    assert set(np.unique(det.predict(x_test))) <= {-1, 1}
    flagged = np.mean(det.predict(x_train) == -1)
    assert flagged == pytest.approx(0.1, abs=0.01)
    assert (
        len(det.history_["train_loss"]) == det.n_iter_ == len(det.history_["val_loss"])
    )
    assert 1 <= det.best_epoch_ <= det.n_iter_
    # Warm-up: beta rises from a small value to 1 over kl_warmup_epochs.
    assert det.history_["beta_factor"][0] == pytest.approx(0.1)
    assert det.history_["beta_factor"][-1] == 1.0


def test_feature_contributions_point_at_the_broken_feature():
    x_train, x_test, _ = low_rank_data(400, seed=3)
    det = AutoencoderDetector(**FAST).fit(x_train)
    broken = x_test[:20].copy()
    broken[:, 4] += 40 * x_train[:, 4].std()
    shares = det.feature_contributions(broken)
    assert shares.shape == (20, 10)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert (shares.argmax(axis=1) == 4).mean() >= 0.9


def test_transform_and_reconstruct():
    x_train, x_test, _ = low_rank_data(400)
    det = VAEDetector(latent_dim=3, **FAST).fit(x_train)
    assert det.transform(x_test).shape == (240, 3)
    rec = det.reconstruct(x_train[:50])
    assert rec.shape == (50, 10)
    rel_err = np.abs(rec - x_train[:50]).mean(0) / x_train.std(0)
    assert rel_err.max() < 0.5  # in the input's units, close to the input
    assert list(det.get_feature_names_out()) == [f"vaedetector{i}" for i in range(3)]


@pytest.mark.parametrize(
    ("cls", "params", "latent"),
    [
        (AutoencoderDetector, {}, {5: 2, 40: 16, 1: 1}),
        (DenoisingAutoencoderDetector, {}, {5: 5, 40: 16, 1: 1}),
        (VAEDetector, {}, {5: 5, 40: 16, 1: 1}),
        (VAEDetector, {"noise": None}, {5: 5, 40: 16, 1: 1}),
    ],
)
def test_auto_latent_dim_halves_only_the_plain_autoencoders_input(cls, params, latent):
    """The KL term or the input corruption regularises the VAE and the DAE, so
    their code may be as wide as the input (up to 16); the plain autoencoder
    needs the bottleneck and gets half the features."""
    rng = np.random.default_rng(0)
    for d, expected in latent.items():
        det = cls(max_steps=1, random_state=0, **params).fit(rng.normal(size=(20, d)))
        assert det.network_spec_.latent_dim == expected
        assert det.transform(rng.normal(size=(3, d))).shape == (3, expected)


def test_works_with_fewer_rows_than_a_batch_and_constant_columns():
    rng = np.random.default_rng(0)
    x = np.c_[rng.normal(size=(5, 3)), np.full(5, 7.0)]
    for cls in ALL:
        det = cls(max_epochs=3, random_state=0).fit(x)
        assert np.isfinite(det.score_samples(x)).all()
        assert (
            det.history_["val_loss"][0] != det.history_["val_loss"][0]
        )  # NaN: no split


def test_diverging_training_raises_a_clear_error():
    x = np.random.default_rng(0).normal(size=(50, 3)) * 1e30
    with pytest.raises(TrainingError, match="diverged"):
        AutoencoderDetector(scaler=None, max_epochs=3, random_state=0).fit(x)


def test_verbose_progress_is_written_to_stderr(capsys):
    x_train, _, _ = low_rank_data(100)
    AutoencoderDetector(max_epochs=2, verbose=2, random_state=0).fit(x_train)
    assert "epoch 2" in capsys.readouterr().err


# ----------------------------------------------------------- scikit-learn use


def test_pipeline_clone_pickle_and_column_transformer():
    x_train, x_test, y_test = low_rank_data(300)
    pipe = Pipeline([("scale", StandardScaler()), ("det", VAEDetector(**FAST))]).fit(
        x_train
    )
    assert roc_auc_score(y_test, -pipe.score_samples(x_test)) > 0.9
    restored = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(
        restored.score_samples(x_test), pipe.score_samples(x_test)
    )
    assert clone(pipe).get_params()["det__max_epochs"] == 200

    frame = pd.DataFrame(x_train[:, :3], columns=["a", "b", "c"]).assign(
        kind=["x", "y"] * 150
    )
    ct = ColumnTransformer(
        [("num", StandardScaler(), ["a", "b", "c"]), ("cat", OneHotEncoder(), ["kind"])]
    )
    pipe2 = Pipeline([("prep", ct), ("det", AutoencoderDetector(**FAST))]).fit(frame)
    assert pipe2.predict(frame).shape == (300,)


def test_grid_search_with_auroc_scorer_and_novelty_split():
    x_train, x_test, y_test = low_rank_data(300)
    X = np.vstack([x_train, x_test])
    y = np.r_[np.zeros(len(x_train)), y_test]
    search = GridSearchCV(
        AutoencoderDetector(max_epochs=15, score_type="reconstruction", random_state=0),
        {"latent_dim": [1, 3]},
        scoring=auroc_scorer,
        cv=NoveltySplit(3, random_state=0),
    ).fit(X, y)
    assert search.best_params_ == {"latent_dim": 3}  # the true rank
    assert search.best_score_ > 0.9
    for train, test in NoveltySplit(3, random_state=0).split(X, y):
        assert y[train].sum() == 0
        assert y[test].sum() == y.sum()


# ------------------------------------------------------- images, conditions


def test_convolutional_vae_on_digits_detects_other_digits():
    digits = load_digits()
    images = digits.images / 16.0
    train = images[digits.target == 1][:150]
    test = images[np.isin(digits.target, [1, 7])][-120:]
    y = (digits.target[np.isin(digits.target, [1, 7])][-120:] != 1).astype(int)
    det = VAEDetector(
        architecture="conv",
        image_shape=(8, 8),
        likelihood="bernoulli",
        max_epochs=60,
        random_state=0,
    ).fit(train)  # (n, 8, 8) images are accepted
    assert det.network_spec_.image_shape == (1, 8, 8)
    assert roc_auc_score(y, det.anomaly_score(test.reshape(len(test), -1))) > 0.9
    assert det.reconstruct(test).shape == (120, 64)


def test_bernoulli_likelihood_rejects_data_outside_unit_interval():
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        VAEDetector(likelihood="bernoulli", max_epochs=1).fit(
            np.array([[0.0, 2.0], [1.0, 0.5]])
        )


def test_conditional_vae_scores_a_row_given_its_context():
    rng = np.random.default_rng(0)
    n = 600
    machine = rng.choice(["A", "B"], size=n)
    temp = np.where(machine == "A", 20.0, 60.0) + rng.normal(size=n)
    load = rng.normal(size=n)
    train = pd.DataFrame({"machine": machine, "temp": temp, "load": load})
    # Test: 60 degrees is normal for B but anomalous for A.
    test = pd.DataFrame(
        {
            "machine": ["A"] * 50 + ["B"] * 50,
            "temp": 60.0 + rng.normal(size=100),
            "load": rng.normal(size=100),
        }
    )
    y = np.r_[np.ones(50), np.zeros(50)]
    cvae = ConditionalVAEDetector(condition_columns=("machine",), **FAST).fit(train)
    assert roc_auc_score(y, cvae.anomaly_score(test)) > 0.95
    assert list(cvae.feature_names_in_) == ["machine", "temp", "load"]
    assert cvae.condition_encoder_.categories == [["A", "B"]]
    # Without the context a plain VAE cannot tell them apart.
    plain = VAEDetector(**FAST).fit(train[["temp", "load"]])
    assert roc_auc_score(y, plain.anomaly_score(test[["temp", "load"]])) < 0.7
    # Numeric conditions by position work too.
    num = ConditionalVAEDetector(condition_columns=(0,), **FAST).fit(
        np.c_[np.where(machine == "A", 0.0, 1.0), temp, load]
    )
    assert num.condition_encoder_.kinds == ["numeric"]
    with pytest.raises(DataError, match="'site' is not in X"):
        ConditionalVAEDetector(condition_columns=("site",), max_epochs=1).fit(train)


# ------------------------------------------------------------------ bad input


@pytest.fixture(scope="module")
def fitted_frame_model():
    frame = pd.DataFrame(
        np.random.default_rng(0).normal(size=(60, 3)), columns=["a", "b", "c"]
    )
    return AutoencoderDetector(max_epochs=2, random_state=0).fit(frame), frame


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.array([[np.nan, 1.0, 2.0]]), "NaN"),
        (np.array([[np.inf, 1.0, 2.0]]), "infinity"),
        (np.ones((2, 4)), "4 features, but AutoencoderDetector is expecting 3"),
        (np.empty((0, 3)), "0 sample"),
        (np.ones(3), "Expected 2D array"),
    ],
)
def test_bad_input_at_scoring_names_the_problem(fitted_frame_model, bad, message):
    det, _ = fitted_frame_model
    with pytest.raises(ValueError, match=message):
        det.score_samples(bad)


def test_wrong_column_names_and_text_columns(fitted_frame_model):
    det, frame = fitted_frame_model
    with pytest.raises(ValueError, match="feature names"):
        det.score_samples(frame.rename(columns={"a": "z"}))
    text = frame.assign(b=["x"] * len(frame))
    with pytest.raises(DataError, match=r"column 'b', row 1: 'x' is not a number"):
        det.score_samples(text)
    # Fitted on text, the column is a category (the mixed-table path).
    levels = frame.assign(b=["x", "y"] * (len(frame) // 2))
    mixed = AutoencoderDetector(max_epochs=2, random_state=0).fit(levels)
    assert mixed.schema_.column("b").kind == "categorical"
    with pytest.raises(DataError, match="one level"):
        AutoencoderDetector().fit(text)
    # Column order is checked, not silently permuted.
    with pytest.raises(ValueError, match="feature names"):
        det.score_samples(frame[["c", "b", "a"]])


@pytest.mark.parametrize("cls", ALL)
def test_bad_training_input(cls):
    with pytest.raises(ValueError, match="infinity"):
        cls().fit(np.array([[1.0, np.inf], [2.0, 3.0]]))
    with pytest.raises(ValueError, match="0 sample"):
        cls().fit(np.empty((0, 2)))
    with pytest.raises(ValueError, match="Expected 2D"):
        cls().fit(np.ones(4))


# ------------------------------------------------------------------ real data


def test_real_dataset_cardio():
    """On the bundled cardio data (the ODDS file's rows), so it runs on a fresh
    clone without the shared datasets."""
    from anomvae.datasets import load

    X, y = load("cardio", as_frame=False)
    rng = np.random.default_rng(0)
    normal = rng.permutation(np.flatnonzero(y == 0))
    train = X[normal[: len(normal) // 2]]
    test_idx = np.r_[normal[len(normal) // 2 :], np.flatnonzero(y == 1)]
    for det, floor in (
        (VAEDetector(random_state=0), 0.85),
        (AutoencoderDetector(random_state=0), 0.8),
    ):
        det.fit(train)
        assert roc_auc_score(y[test_idx], det.anomaly_score(X[test_idx])) > floor


def test_early_stopping_stops_after_patience_and_keeps_the_best_epoch():
    x_train, _, _ = low_rank_data(300, seed=5)
    det = AutoencoderDetector(max_epochs=500, patience=5, random_state=0).fit(x_train)
    val = det.history_["val_loss"]
    assert det.n_iter_ < 500
    assert det.n_iter_ - det.best_epoch_ == 5
    assert val[det.best_epoch_ - 1] == min(val)


def test_default_training_runs_the_whole_budget_and_keeps_the_best_epoch():
    # 300 rows: 270 train in 3 steps an epoch, so patience counted in epochs would
    # have stopped within a few dozen steps; by default the budget decides.
    x_train, _, _ = low_rank_data(300, seed=5)
    det = AutoencoderDetector(max_steps=240, random_state=0).fit(x_train)
    val = det.history_["val_loss"]
    assert det.patience is None
    assert det.n_steps_ == 240
    assert det.n_iter_ == 80
    assert len(val) == 80
    assert val[det.best_epoch_ - 1] == min(val)
    stopped = AutoencoderDetector(max_steps=240, patience=2, random_state=0)
    assert stopped.fit(x_train).n_steps_ < 240


def test_step_budget_ending_mid_epoch_keeps_the_last_loss_a_true_average():
    x_train, _, _ = low_rank_data(600, seed=6)
    det = AutoencoderDetector(max_steps=6, batch_size=128, random_state=0).fit(x_train)
    assert det.n_steps_ == 6
    assert det.n_iter_ == 2  # 540 training rows: 5 steps, then 1 step of epoch 2
    losses = det.history_["train_loss"]
    assert losses[1] > 0.5 * losses[0]  # not divided by rows the epoch never saw
