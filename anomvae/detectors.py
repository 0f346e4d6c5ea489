"""The public detectors, as scikit-learn estimators.

Each subclass of :class:`~anomvae.base.BaseAutoencoderDetector` only says which
parameters it adds, which network to build, which training objective to minimise
and which scores it offers. Training is :func:`anomvae.training.train`, scoring
:func:`anomvae.scoring.anomaly_scores`.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, validate_data

from anomvae.base import BaseAutoencoderDetector, estimator
from anomvae.exceptions import DataError
from anomvae.models import AutoencoderNet
from anomvae.params import COMMON_PARAMETERS, VARIATIONAL_PARAMETERS, document
from anomvae.preprocessing import ConditionEncoder
from anomvae.scoring import SCORES, elbo_objective
from anomvae.training import Objective, check_noise

__all__ = [
    "AutoencoderDetector",
    "BaseAutoencoderDetector",
    "ConditionalVAEDetector",
    "DenoisingAutoencoderDetector",
    "VAEDetector",
]

_NOISE_LEVEL = {"noise_level": [Interval(Real, 0, None, closed="left")]}


@document(COMMON_PARAMETERS)
@estimator
class AutoencoderDetector(BaseAutoencoderDetector):
    """Deep autoencoder anomaly detector (reconstruction error).

    Trained on normal rows to reconstruct them through a bottleneck; a row the
    network reconstructs badly is anomalous.

    Parameters
    ----------
    {parameters}

    {attributes}

    See Also
    --------
    DenoisingAutoencoderDetector, VAEDetector, anomvae.ThresholdCalibrator

    Examples
    --------
    >>> import numpy as np
    >>> from anomvae import AutoencoderDetector
    >>> X = np.random.default_rng(0).normal(size=(200, 4))
    >>> det = AutoencoderDetector(max_epochs=5, random_state=0).fit(X)
    >>> det.predict([[0.0, 0.0, 0.0, 0.0], [8.0, -8.0, 8.0, -8.0]])
    array([ 1, -1])
    """


@document(
    COMMON_PARAMETERS,
    """\
noise : {"masking", "gaussian"}, default="masking"
    Corruption of the (scaled) input during training: masking features to 0 (the
    training mean), or additive Gaussian noise.
noise_level : float, default=0.2
    Noise standard deviation, or the probability of masking a feature.""",
)
@estimator
class DenoisingAutoencoderDetector(BaseAutoencoderDetector):
    """Denoising autoencoder: trained to reconstruct clean rows from corrupted ones.

    Parameters
    ----------
    {parameters}

    {attributes}

    See Also
    --------
    AutoencoderDetector
    """

    noise: str = "masking"
    noise_level: float = 0.2

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **BaseAutoencoderDetector._parameter_constraints,
        "noise": [StrOptions({"gaussian", "masking"})],
        **_NOISE_LEVEL,
    }

    def _noise(self) -> tuple[str | None, float]:
        return self.noise, self.noise_level


@document(COMMON_PARAMETERS, VARIATIONAL_PARAMETERS)
@estimator
class VAEDetector(BaseAutoencoderDetector):
    """Variational autoencoder (β-VAE) anomaly detector.

    Gaussian latent with the reparameterisation trick, KL warm-up, Gaussian
    (learned variance) or Bernoulli likelihood, and five anomaly scores.

    Parameters
    ----------
    {parameters}

    {attributes}

    References
    ----------
    Kingma & Welling (2014), Auto-Encoding Variational Bayes.
    Higgins et al. (2017), β-VAE. Burda et al. (2016), Importance Weighted
    Autoencoders. An & Cho (2015), Variational Autoencoder based Anomaly Detection
    using Reconstruction Probability.
    """

    beta: float = 0.1
    kl_warmup_epochs: int = 10
    n_samples: int = 1
    likelihood: str = "gaussian"
    score_type: str = "hybrid"
    n_score_samples: int = 32
    noise: str | None = "masking"
    noise_level: float = 0.3

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **BaseAutoencoderDetector._parameter_constraints,
        "beta": [Interval(Real, 0, None, closed="left")],
        "kl_warmup_epochs": [Interval(Integral, 0, None, closed="left")],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "likelihood": [StrOptions({"gaussian", "bernoulli"})],
        "score_type": [StrOptions(set(SCORES))],
        "n_score_samples": [Interval(Integral, 1, None, closed="left")],
        "noise": [StrOptions({"gaussian", "masking"}), None],
        **_NOISE_LEVEL,
    }
    _variational: ClassVar[bool] = True

    def _noise(self) -> tuple[str | None, float]:
        return self.noise, self.noise_level

    def _likelihood_name(self) -> str:
        return self.likelihood

    def _n_score_samples(self) -> int:
        return (
            self.n_score_samples
            if self.score_type in ("elbo", "iw_nll", "recon_prob")
            else 0
        )

    def _warmup_epochs(self) -> int:
        return self.kl_warmup_epochs

    def _objective(self, net: AutoencoderNet) -> Objective:
        check_noise(self.noise, self.noise_level)

        def objective(
            x: torch.Tensor, c: Any, *, warmup: float, training: bool
        ) -> torch.Tensor:
            x_in = self._training_input(x, c, training)
            return elbo_objective(
                net, x_in, x, c, beta=self.beta * warmup, n_samples=self.n_samples
            )

        return objective


@document(
    COMMON_PARAMETERS,
    VARIATIONAL_PARAMETERS,
    """\
condition_columns : sequence of str or int, or None, default=None
    Context columns of X (names for a DataFrame, positions otherwise) that both
    encoder and decoder see. Non-numeric ones are one-hot encoded, numeric ones
    standardised. The remaining columns are the features that are scored. None:
    no conditions (the detector is then a plain VAE).""",
)
@estimator
class ConditionalVAEDetector(VAEDetector):
    """Conditional VAE: scores how anomalous a row is *given its context*.

    A reading that is normal for machine A may be anomalous for machine B: pass the
    machine column as a condition and the model learns each context's normal.

    Parameters
    ----------
    {parameters}

    {attributes}
    condition_encoder_ : anomvae.preprocessing.ConditionEncoder
    """

    condition_columns: tuple[Any, ...] | None = None

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **VAEDetector._parameter_constraints,
        "condition_columns": [tuple, list, None],
    }

    def _condition_names(self) -> list[str]:
        names = [str(n) for n in getattr(self, "feature_names_in_", [])]
        out = []
        for key in self.condition_columns or ():
            if isinstance(key, str):
                out.append(key)
            elif names and -len(names) <= int(key) < len(names):
                out.append(names[int(key)])
        return out

    def _validate_input(
        self, X: Any, *, reset: bool
    ) -> tuple[np.ndarray | pd.DataFrame, np.ndarray | None]:
        if not self.condition_columns:
            return super()._validate_input(X, reset=reset)
        X = self._flatten_images(X)
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, skip_check_array=True)
            frame = X
        else:
            # dtype=None keeps text in object arrays for categorical conditions,
            # while still rejecting sparse, complex, empty, 1-D and NaN input.
            frame = pd.DataFrame(
                validate_data(
                    self, X, reset=reset, dtype=None, ensure_all_finite="allow-nan"
                )
            ).infer_objects()
        cols = list(frame.columns)
        picks = []
        for key in self.condition_columns:
            if key in cols:
                picks.append(key)
            elif isinstance(key, int | np.integer) and -len(cols) <= key < len(cols):
                picks.append(cols[key])
            else:
                raise DataError(
                    f"condition column {key!r} is not in X (columns: "
                    f"{', '.join(map(str, cols))})"
                )
        if len(set(picks)) >= frame.shape[1]:
            raise ValueError(
                f"X has {frame.shape[1]} feature(s), all of them condition_columns; "
                "ConditionalVAEDetector needs at least one feature column to score"
            )
        cond = frame[picks]
        feats = frame.drop(columns=picks)
        table = self._is_table(feats) if reset else self._table_schema() is not None
        features: np.ndarray | pd.DataFrame = feats
        if not table:
            features = check_array(feats.to_numpy(), dtype=np.float64)
        if reset:
            self.condition_encoder_ = ConditionEncoder.fit(cond)
        conditions = self.condition_encoder_.transform(cond)
        return features, conditions
