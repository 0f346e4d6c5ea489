r"""Where a score becomes a decision: the sign flip, the threshold, the flag.

Every part of anomvae that turns scores into decisions calls this module: the
detectors (``score_samples``, ``decision_function``, ``predict``), the
:class:`~anomvae.ThresholdCalibrator`, :func:`anomvae.batch.score_batch` (and so
``anomvae score``, ``evaluate`` and the Dask engine), the ONNX graph, the PyOD
adapter and the scorers of :mod:`anomvae.model_selection`.

Three conventions meet here:

- **anomaly scores** :math:`s`: higher = more anomalous (``anomaly_score``, the
  ``score`` column of ``anomvae score``, PyOD's ``decision_function``);
- **normality scores**: scikit-learn's ``score_samples``, higher = more normal,
  :math:`-s` (:func:`normality`, the one place the sign flips);
- the **threshold** :math:`t` on anomaly scores, and scikit-learn's ``offset_`` on
  normality scores: :math:`\text{offset\_} = -t`, and
  :math:`\text{decision\_function} = \text{score\_samples} - \text{offset\_} = t - s`.

A row is flagged when :math:`s > t` (:func:`is_anomaly`). A calibrator with
``fdr`` decides over a whole batch instead: Benjamini-Hochberg on the rows'
conformal p-values (:class:`FlagRule`), so the command line and the Dask engine
collect every p-value of their input before flagging any row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "FlagRule",
    "anomaly_scores",
    "decision_values",
    "flag_rule",
    "is_anomaly",
    "normality",
    "offset_from_threshold",
    "outlier_labels",
    "threshold_from_offset",
]


def normality(scores: Any) -> Any:
    """Normality scores (scikit-learn's ``score_samples``) from anomaly scores:
    the one place the sign flips.

    Examples
    --------
    >>> normality(np.array([0.5, 3.0]))
    array([-0.5, -3. ])
    """
    return -scores


def anomaly_scores(estimator: Any, X: Any) -> np.ndarray:
    """Anomaly scores (higher = more anomalous) of any outlier detector with
    scikit-learn's ``score_samples``, as float64."""
    return normality(np.asarray(estimator.score_samples(X), dtype=np.float64))


def threshold_from_offset(offset: float) -> float:
    """The anomaly-score threshold of a detector with scikit-learn's ``offset_``."""
    return -float(offset)


def offset_from_threshold(threshold: float) -> float:
    """scikit-learn's ``offset_`` for an anomaly-score threshold."""
    return -float(threshold)


def decision_values(scores: Any, threshold: float) -> Any:
    """``decision_function``: ``threshold - score``, negative for anomalies
    (equal to ``score_samples - offset_``)."""
    return threshold - scores


def is_anomaly(scores: Any, threshold: Any) -> Any:
    """The per-row flag: ``score > threshold``. Works on numpy arrays and torch
    tensors alike (the ONNX graph calls it too).

    Examples
    --------
    >>> is_anomaly(np.array([0.5, 3.0]), 1.0)
    array([False,  True])
    """
    return scores > threshold


def outlier_labels(flags: np.ndarray) -> np.ndarray:
    """scikit-learn's outlier labels: -1 for flagged rows, +1 for the others."""
    return np.where(np.asarray(flags, dtype=bool), -1, 1)


@dataclass(frozen=True)
class FlagRule:
    """How a model flags rows: ``score > threshold`` row by row, or, with
    ``fdr``, the Benjamini-Hochberg selection of a whole batch of conformal
    p-values (a row's flag then depends on the other rows).

    Attributes
    ----------
    threshold : float
        Anomaly-score threshold of the per-row rule (still reported for BH).
    fdr : float or None
        Target false discovery rate of the batch rule; ``None`` for per-row.
    source : str
        Where the rule came from, for reports (``"model"``, ``"--threshold"``).

    Examples
    --------
    >>> FlagRule(2.0).flags(np.array([1.0, 3.0]))
    array([False,  True])
    >>> rule = FlagRule(2.0, fdr=0.1)
    >>> rule.per_row
    False
    >>> rule.flags(np.array([1.0, 3.0]), p_values=np.array([0.5, 0.01]))
    array([False,  True])
    """

    threshold: float
    fdr: float | None = None
    source: str = "model"

    @property
    def per_row(self) -> bool:
        """Whether a row's flag depends on that row alone."""
        return self.fdr is None

    def flags(self, scores: Any, p_values: Any = None) -> np.ndarray:
        """Flags of a batch: per-row, or BH over every p-value given."""
        if self.per_row:
            return np.asarray(is_anomaly(np.asarray(scores), self.threshold))
        if p_values is None:
            raise ValueError(
                "this model flags by Benjamini-Hochberg over a batch (fdr is set) "
                "and needs the rows' conformal p-values"
            )
        from anomvae.thresholds import benjamini_hochberg

        assert self.fdr is not None
        return benjamini_hochberg(p_values, self.fdr)


def flag_rule(model: Any, threshold: float | None = None) -> FlagRule:
    """The :class:`FlagRule` of a fitted detector or calibrator.

    A calibrator's ``threshold_`` (and ``fdr`` for ``method="conformal"``), or
    :func:`threshold_from_offset` of a bare detector's ``offset_``. An explicit
    ``threshold`` overrides the model's and is always per row.
    """
    if threshold is not None:
        return FlagRule(float(threshold), source="--threshold")
    if hasattr(model, "threshold_") and hasattr(model, "detector_"):
        fdr = getattr(model, "fdr", None)
        if fdr is None or getattr(model, "method", None) != "conformal":
            return FlagRule(float(model.threshold_))
        return FlagRule(float(model.threshold_), float(fdr))
    return FlagRule(threshold_from_offset(model.offset_))
