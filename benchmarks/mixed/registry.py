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

The native models are registered: ``vae[native]``, ``ae[native]`` and
``dae[native]`` (anomvae's defaults on the raw table, so the VAE scores with
``"hybrid"``), and ``vae[native,score=S]`` for the other scores ``S`` of
:data:`NATIVE_VAE_SCORES`. A score variant names its base in ``shared_fit``: the
runner fits the base once per split, sets the parameters in which the two
estimators differ (``score_type``) and scores again, as the numeric harness does
with ``vae[score=...]`` (:data:`benchmarks.registry.SHARED_FIT`); it reports the
base's fit time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from benchmarks.registry import REGISTRY, Factory, knn_estimator, lof_estimator

__all__ = [
    "MIXED_REGISTRY",
    "NATIVE_VAE_SCORES",
    "MixedDetector",
    "detector_groups",
    "factories",
    "is_variant",
    "native_name",
    "shared_fits",
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
    shared_fit : str or None
        A scoring variant: the entry whose fit it rescores (it differs from that
        entry only in scoring-time parameters, such as ``score_type``).
    """

    factory: Factory
    view: str
    description: str
    anomvae: bool = False
    compare_with: str | None = None
    shared_fit: str | None = None


_ONEHOT = "one-hot matrix"

#: The scores of the native VAE besides its default (``"hybrid"``), each
#: rescored from the ``vae[native]`` fit of the same split.
NATIVE_VAE_SCORES = (
    "elbo",
    "reconstruction",
    "iw_nll",
    "recon_prob",
    "latent_knn",
    "kl",
)


def _native_vae(**params: Any) -> Factory:
    """A factory of ``VAEDetector(**params)`` on the raw table."""

    def factory() -> Any:
        from anomvae import VAEDetector  # lazily: the harness works without it

        return VAEDetector(**params)

    label = "_".join(f"{k}_{v}" for k, v in params.items()) or "default"
    factory.__name__ = f"native_VAEDetector_{label}"
    return factory


def native_name(score: str) -> str:
    """The registry name of the native VAE scored with ``score``."""
    return f"vae[native,score={score}]"


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
    # anomvae's detectors on the raw table: one likelihood per column over one
    # latent code (fit time reported against the same detector on the one-hot
    # matrix)
    "vae[native]": MixedDetector(
        _native_vae(),
        "frame",
        "anomvae `VAEDetector()` (default score, `hybrid`)",
        anomvae=True,
        compare_with="vae",
    ),
    "ae[native]": MixedDetector(
        REGISTRY["ae"],
        "frame",
        "anomvae `AutoencoderDetector()`",
        anomvae=True,
        compare_with="ae",
    ),
    "dae[native]": MixedDetector(
        REGISTRY["dae"],
        "frame",
        "anomvae `DenoisingAutoencoderDetector()`",
        anomvae=True,
        compare_with="dae",
    ),
    # the numeric transform of heavy tails, measured: none and log1p everywhere
    # against the default "auto"
    **{
        f"vae[native-{t}]": MixedDetector(
            _native_vae(numeric_transform=t),
            "frame",
            f'anomvae `VAEDetector(numeric_transform="{t}")`',
            anomvae=True,
        )
        for t in ("none", "log1p")
    },
    **{
        native_name(score): MixedDetector(
            _native_vae(score_type=score),
            "frame",
            f'anomvae `VAEDetector(score_type="{score}")`, the `vae[native]` fit',
            anomvae=True,
            shared_fit="vae[native]",
        )
        for score in NATIVE_VAE_SCORES
    },
}

#: The view each kind of entry gets, as the report names it.
VIEW_TEXT = {"onehot": _ONEHOT, "numeric": _NUMERIC, "frame": "raw table"}


def factories(registry: Mapping[str, MixedDetector]) -> dict[str, Factory]:
    """Name to factory, the registry shape of :mod:`benchmarks.runner`."""
    return {name: entry.factory for name, entry in registry.items()}


def shared_fits(registry: Mapping[str, MixedDetector]) -> dict[str, str]:
    """Scoring variant to the entry whose fit it rescores, the ``shared_fit``
    shape of :func:`benchmarks.runner.plan_detectors`."""
    return {n: e.shared_fit for n, e in registry.items() if e.shared_fit}


def is_variant(name: str, registry: Mapping[str, MixedDetector]) -> bool:
    """Whether ``name`` is a scoring variant of another entry's fit."""
    entry = registry.get(name)
    return entry is not None and entry.shared_fit is not None


def detector_groups(registry: Mapping[str, MixedDetector]) -> dict[str, list[str]]:
    """The names ``--detectors`` accepts as groups: ``anomvae`` (anomvae's
    detectors on the one-hot matrix or the raw table), ``baselines`` (the others
    on those views), ``numeric`` (the numeric-only entries), ``native`` (the
    entries on the raw table, score variants included) and ``all``."""
    main = [n for n, e in registry.items() if e.view != "numeric"]
    return {
        "anomvae": [n for n in main if registry[n].anomvae],
        "baselines": [n for n in main if not registry[n].anomvae],
        "numeric": [n for n, e in registry.items() if e.view == "numeric"],
        "native": [n for n, e in registry.items() if e.view == "frame"],
        "all": list(registry),
    }
