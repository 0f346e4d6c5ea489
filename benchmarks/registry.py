"""The detectors under test, and the one adapter that turns each into anomaly scores.

:data:`REGISTRY` maps a name to a zero-argument factory returning a fresh,
unfitted estimator with its library's defaults. The only arguments set are
bookkeeping, not tuning: ``verbose=0`` for PyOD's deep models, and (by
:func:`build`) every ``random_state`` set to the run's seed.

Scaling is decided per detector and documented in :data:`DESCRIPTIONS`: distance-
and kernel-based baselines get ``Pipeline(StandardScaler(), detector)``, fitted on
the training rows only; detectors that standardise internally (PyOD's
``AutoEncoder``, ``VAE`` and ``PCA`` with their defaults ``preprocessing=True`` /
``standardization=True``; every anomvae detector with ``scaler="auto"``) or are
invariant to per-feature scaling (``IsolationForest``, ``ECOD``) get raw rows, so
nothing is scaled twice.

anomvae's detectors are imported inside their factories, so the harness runs (and
reports only the baselines) before or without the core package.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

__all__ = [
    "ANOMVAE",
    "BASELINES",
    "DESCRIPTIONS",
    "REGISTRY",
    "SHARED_FIT",
    "VAE_SCORES",
    "anomaly_scores",
    "build",
    "knn_estimator",
    "lof_estimator",
    "seed_everything",
]

Factory = Callable[[], Any]

#: The ``score_type`` options of ``anomvae.VAEDetector`` besides its default
#: ("hybrid"), each scored from the same fit.
VAE_SCORES = ("reconstruction", "latent_knn", "elbo", "iw_nll", "kl", "recon_prob")


def _scaled(estimator: Any) -> Pipeline:
    return make_pipeline(StandardScaler(), estimator)


def _pyod_autoencoder() -> Any:
    from pyod.models.auto_encoder import AutoEncoder

    return AutoEncoder(verbose=0)


def _pyod_vae() -> Any:
    from pyod.models.vae import VAE

    return VAE(verbose=0)


def _iforest() -> Any:
    from sklearn.ensemble import IsolationForest

    return IsolationForest()


def lof_estimator() -> Any:
    """scikit-learn ``LocalOutlierFactor(novelty=True)``, unscaled."""
    from sklearn.neighbors import LocalOutlierFactor

    return LocalOutlierFactor(novelty=True)


def _lof() -> Any:
    return _scaled(lof_estimator())


def _ocsvm() -> Any:
    from sklearn.svm import OneClassSVM

    return _scaled(OneClassSVM())


def knn_estimator() -> Any:
    """PyOD ``KNN()`` (distance to the 5th neighbour), unscaled."""
    from pyod.models.knn import KNN

    return KNN()


def _knn() -> Any:
    return _scaled(knn_estimator())


def _ecod() -> Any:
    from pyod.models.ecod import ECOD

    return ECOD()


def _pca() -> Any:
    from pyod.models.pca import PCA

    return PCA()


def _anomvae(class_name: str) -> Factory:
    def factory() -> Any:
        import anomvae  # lazily: the harness works without the core

        return getattr(anomvae, class_name)()

    factory.__name__ = f"anomvae_{class_name}"
    return factory


def _anomvae_vae(score: str) -> Factory:
    def factory() -> Any:
        from anomvae import VAEDetector

        return VAEDetector(score_type=score)

    factory.__name__ = f"anomvae_VAEDetector_{score}"
    return factory


#: Baselines, each with its library's defaults.
BASELINES: dict[str, Factory] = {
    "pyod_ae": _pyod_autoencoder,
    "pyod_vae": _pyod_vae,
    "iforest": _iforest,
    "lof": _lof,
    "ocsvm": _ocsvm,
    "knn": _knn,
    "ecod": _ecod,
    "pca": _pca,
}

#: anomvae's detectors with their defaults; ``vae`` is ``VAEDetector()`` and
#: ``vae[score=...]`` the same model scored another way. ConditionalVAEDetector is
#: not benchmarked: these datasets have no condition columns.
ANOMVAE: dict[str, Factory] = {
    "ae": _anomvae("AutoencoderDetector"),
    "dae": _anomvae("DenoisingAutoencoderDetector"),
    "vae": _anomvae("VAEDetector"),
    **{f"vae[score={s}]": _anomvae_vae(s) for s in VAE_SCORES},
}

REGISTRY: dict[str, Factory] = {**ANOMVAE, **BASELINES}

#: Detectors that differ from another only in scoring-time parameters: the runner
#: fits the base once per split, sets the parameters in which the two factories'
#: estimators differ, and scores again (``--refit-variants`` fits each separately).
#: ``VAEDetector.fit`` draws its seeds and trains the same network whatever the
#: score is; ``tests/test_benchmark_protocol.py`` checks that both routes give
#: identical scores.
SHARED_FIT: dict[str, str] = {f"vae[score={s}]": "vae" for s in VAE_SCORES}

#: What each entry is and how its input is scaled (rendered into the report).
DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "ae": ("anomvae `AutoencoderDetector()`", "internal (standard, train rows)"),
    "dae": ("anomvae `DenoisingAutoencoderDetector()`", "internal"),
    "vae": ("anomvae `VAEDetector()` (default score)", "internal"),
    **{
        f"vae[score={s}]": (f'anomvae `VAEDetector(score_type="{s}")`', "internal")
        for s in VAE_SCORES
    },
    "pyod_ae": (
        "PyOD `AutoEncoder()`",
        "internal (`preprocessing=True`: train mean/std)",
    ),
    "pyod_vae": ("PyOD `VAE()`", "internal (`preprocessing=True`)"),
    "iforest": ("scikit-learn `IsolationForest()`", "none (scale-invariant)"),
    "lof": (
        "scikit-learn `LocalOutlierFactor(novelty=True)`",
        "`StandardScaler` on train rows",
    ),
    "ocsvm": ("scikit-learn `OneClassSVM()`", "`StandardScaler` on train rows"),
    "knn": ("PyOD `KNN()`", "`StandardScaler` on train rows"),
    "ecod": (
        "PyOD `ECOD()` (scores a test batch together with the train rows)",
        "none (rank-based)",
    ),
    "pca": ("PyOD `PCA()`", "internal (`standardization=True`)"),
}


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators.

    PyOD's deep models seed these globals in their constructors and then draw from
    them in ``fit`` (weights, batch order) and in scoring (VAE sampling); seeding
    right before ``fit`` makes those draws depend on the run's seed.
    """
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - PyOD draws from the legacy global RNG
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    torch.manual_seed(seed)


def build(name: str, seed: int, registry: Mapping[str, Factory] = REGISTRY) -> Any:
    """A fresh estimator ``name`` with every ``random_state`` set to ``seed``."""
    estimator = registry[name]()
    if hasattr(estimator, "get_params"):
        params = estimator.get_params(deep=True)
        seeds = {
            key: seed
            for key in params
            if key == "random_state" or key.endswith("__random_state")
        }
        if seeds:
            estimator.set_params(**seeds)
    return estimator


def _final_step(estimator: Any) -> Any:
    return estimator[-1] if isinstance(estimator, Pipeline) else estimator


def _is_pyod(estimator: Any) -> bool:
    try:
        from pyod.models.base import BaseDetector
    except ImportError:  # pragma: no cover - pyod is a dependency
        return False
    return isinstance(_final_step(estimator), BaseDetector)


def anomaly_scores(estimator: Any, X: np.ndarray) -> np.ndarray:
    """Scores of a fitted detector on ``X``, oriented higher = more anomalous.

    The one place where the benchmark handles score conventions:

    * PyOD detectors: ``decision_function`` (PyOD: higher = more abnormal).
    * scikit-learn and anomvae detectors: ``-score_samples`` (scikit-learn's
      outlier convention: ``score_samples`` is higher for more normal rows).
    """
    if _is_pyod(estimator):
        scores = estimator.decision_function(X)
    else:
        scores = -np.asarray(estimator.score_samples(X))
    return np.asarray(scores, dtype=np.float64).ravel()
