"""The detectors of the mixed-table benchmark, and which view of a split each takes.

Every entry of :data:`MIXED_REGISTRY` is a :class:`MixedDetector`: a zero-argument
factory of a fresh, unfitted estimator with its library's defaults, and the
``view`` it fits and scores (:mod:`benchmarks.mixed.views`): ``onehot`` or
``numeric`` matrices, or the raw ``frame``. The runner builds each view once per
split, on the training rows only, and hands every detector a copy of its view.

A model that fits mixed tables natively is one more entry, taking the frame::

    MIXED_REGISTRY["vae[native]"] = MixedDetector(
        lambda: VAEDetector(),  # fits and scores DataFrames
        view="frame",
        description="anomvae `VAEDetector()` on the raw table",
        anomvae=True,
        compare_with="vae",  # its fit time is reported against vae's
    )

``compare_with`` names the ``onehot`` entry whose fit time is the reference of the
goal "fit time of the native model ≤ 1.5× the same detector on the one-hot
matrix": the report divides the native fit time by that detector's, with and
without the one-hot encoder's own fit (``prep_fit_s``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from benchmarks.registry import REGISTRY, Factory, knn_estimator, lof_estimator

__all__ = [
    "MIXED_REGISTRY",
    "MixedDetector",
    "detector_groups",
    "factories",
]


@dataclass(frozen=True)
class MixedDetector:
    """One detector of the mixed benchmark.

    Attributes
    ----------
    factory : callable
        Returns a fresh, unfitted estimator (``fit``, and ``score_samples`` or
        PyOD's ``decision_function``); every ``random_state`` is set to the seed.
    view : {"onehot", "numeric", "frame"}
        What it fits and scores.
    description : str
        What it is (rendered into the report).
    anomvae : bool
        One of anomvae's detectors (compared with the baselines in W/T/L).
    compare_with : str or None
        For a ``frame`` detector, the ``onehot`` detector whose fit time its own is
        reported against.
    """

    factory: Factory
    view: str
    description: str
    anomvae: bool = False
    compare_with: str | None = None


_ONEHOT = "one-hot matrix"
_NUMERIC = "numeric columns only"

MIXED_REGISTRY: dict[str, MixedDetector] = {
    # anomvae's detectors with their defaults on the one-hot matrix: what a user
    # does today
    "vae": MixedDetector(
        REGISTRY["vae"], "onehot", "anomvae `VAEDetector()`", anomvae=True
    ),
    "ae": MixedDetector(
        REGISTRY["ae"], "onehot", "anomvae `AutoencoderDetector()`", anomvae=True
    ),
    "dae": MixedDetector(
        REGISTRY["dae"],
        "onehot",
        "anomvae `DenoisingAutoencoderDetector()`",
        anomvae=True,
    ),
    # baselines on the same matrix (its numeric part is already standardised, so
    # no detector gets a scaler of its own)
    "knn": MixedDetector(knn_estimator, "onehot", "PyOD `KNN()`"),
    "iforest": MixedDetector(
        REGISTRY["iforest"], "onehot", "scikit-learn `IsolationForest()`"
    ),
    "lof": MixedDetector(
        lof_estimator, "onehot", "scikit-learn `LocalOutlierFactor(novelty=True)`"
    ),
    "pyod_ae": MixedDetector(
        REGISTRY["pyod_ae"], "onehot", "PyOD `AutoEncoder()` (`preprocessing=True`)"
    ),
    # the categories dropped: the numeric columns alone
    "vae[numeric]": MixedDetector(
        REGISTRY["vae"], "numeric", "anomvae `VAEDetector()`", anomvae=True
    ),
    "knn[numeric]": MixedDetector(knn_estimator, "numeric", "PyOD `KNN()`"),
}

#: The view each kind of entry gets, as the report names it.
VIEW_TEXT = {"onehot": _ONEHOT, "numeric": _NUMERIC, "frame": "raw table"}


def factories(registry: Mapping[str, MixedDetector]) -> dict[str, Factory]:
    """Name to factory, the registry shape of :mod:`benchmarks.runner`."""
    return {name: entry.factory for name, entry in registry.items()}


def detector_groups(registry: Mapping[str, MixedDetector]) -> dict[str, list[str]]:
    """The names ``--detectors`` accepts as groups: ``anomvae`` (anomvae's
    detectors on the one-hot matrix or the raw table), ``baselines`` (the others
    on those views), ``numeric`` (the numeric-only entries) and ``all``."""
    main = [n for n, e in registry.items() if e.view != "numeric"]
    return {
        "anomvae": [n for n in main if registry[n].anomvae],
        "baselines": [n for n in main if not registry[n].anomvae],
        "numeric": [n for n, e in registry.items() if e.view == "numeric"],
        "all": list(registry),
    }
