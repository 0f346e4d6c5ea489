"""Every public detector passes scikit-learn's estimator checks."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from anomvae import (
    AutoencoderDetector,
    ConditionalVAEDetector,
    DenoisingAutoencoderDetector,
    VAEDetector,
)

# Small epochs keep the ~50 checks per estimator fast; defaults are exercised by
# check_parameters_default_constructible and the rest of the suite.
_FAST = {"max_epochs": 3, "hidden_layer_sizes": (8,), "random_state": 0}

ESTIMATORS = [
    AutoencoderDetector(**_FAST),
    DenoisingAutoencoderDetector(**_FAST),
    DenoisingAutoencoderDetector(noise="masking", **_FAST),
    VAEDetector(**_FAST),
    VAEDetector(score_type="iw_nll", n_score_samples=8, **_FAST),
    VAEDetector(score_type="recon_prob", n_score_samples=8, **_FAST),
    VAEDetector(score_type="kl", **_FAST),
    VAEDetector(score_type="reconstruction", **_FAST),
    ConditionalVAEDetector(**_FAST),
    ConditionalVAEDetector(condition_columns=(0,), **_FAST),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
