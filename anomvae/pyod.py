"""PyOD interoperability: any anomvae detector as a PyOD ``BaseDetector``.

PyOD's conventions differ from scikit-learn's, and :class:`PyODAdapter` translates:

=========================  ===================================  =====================
quantity                   anomvae / scikit-learn               PyOD (this adapter)
=========================  ===================================  =====================
anomaly score              ``anomaly_score`` (higher = worse)   ``decision_function``
                           ``score_samples`` (higher = normal)
labels                     ``predict``: +1 normal, -1 anomaly   ``predict``: 0 / 1
training scores            (recomputed on demand)               ``decision_scores_``
threshold                  ``offset_`` on ``score_samples``     ``threshold_`` on the
                                                                anomaly score
=========================  ===================================  =====================

With it, anomvae models take part in PyOD's score combination
(:mod:`pyod.models.combination`), its ensembles (LSCP, SUOD, FeatureBagging) and its
evaluation helpers (:func:`pyod.utils.data.evaluate_print`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pyod.models.base import BaseDetector
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils.validation import check_is_fitted

from anomvae import decisions
from anomvae.detectors import AutoencoderDetector

__all__ = ["PyODAdapter", "as_pyod"]

_FITTED = ["decision_scores_", "threshold_", "labels_"]


class PyODAdapter(BaseDetector):
    """An anomvae detector behind PyOD's ``BaseDetector`` interface.

    ``fit`` trains ``clone(detector)`` as ``detector_`` and thresholds its training
    scores PyOD's way (the ``1 - contamination`` percentile); ``decision_function``
    is the detector's anomaly score, higher = more abnormal. ``predict``,
    ``predict_proba``, ``predict_confidence`` and ``predict_with_rejection`` are
    PyOD's own, inherited from ``BaseDetector``.

    Parameters
    ----------
    detector : estimator with ``fit`` and ``score_samples``, default=None
        The detector to train, usually an anomvae detector (any scikit-learn
        outlier detector works). None means ``AutoencoderDetector()``. A
        pre-fitted detector wrapped in :class:`sklearn.frozen.FrozenEstimator` is
        not retrained: ``fit`` then only computes ``decision_scores_`` and the
        threshold.
    contamination : float in (0, 0.5], default=0.1
        PyOD's contamination: the share of ``fit`` rows labelled 1. Independent of
        the wrapped detector's own ``contamination`` (which only sets its
        ``offset_`` and its +1/-1 ``predict``).

    Attributes
    ----------
    detector_ : estimator
        The fitted detector.
    decision_scores_ : ndarray of shape (n_samples,)
        Anomaly scores of the training rows (higher = more abnormal).
    threshold_ : float
        Rows with ``decision_function(X) > threshold_`` are labelled 1.
    labels_ : ndarray of int of shape (n_samples,)
        0 = inlier, 1 = outlier, for the training rows.
    n_features_in_ : int
        Number of columns of the training data.

    See Also
    --------
    as_pyod : The same adapter from a function call.

    Notes
    -----
    PyOD fits on unlabelled data that may contain anomalies and flags a fixed share
    of it. To flag new rows with a stated false-positive rate instead, use
    :class:`anomvae.ThresholdCalibrator`.

    Examples
    --------
    >>> import numpy as np
    >>> from anomvae import AutoencoderDetector
    >>> from anomvae.pyod import PyODAdapter
    >>> X = np.random.default_rng(0).normal(size=(300, 4))
    >>> clf = PyODAdapter(
    ...     AutoencoderDetector(max_steps=50, random_state=0), contamination=0.05
    ... ).fit(X)
    >>> int(clf.labels_.sum())
    15
    >>> clf.predict(np.array([[0.0, 0.0, 0.0, 0.0], [8.0, -8.0, 8.0, -8.0]]))
    array([0, 1])
    """

    def __init__(self, detector: Any = None, contamination: float = 0.1) -> None:
        super().__init__(contamination=contamination)
        self.detector = detector

    def fit(self, X: Any, y: Any = None) -> PyODAdapter:
        """Fit ``clone(detector)`` on ``X`` and threshold its training scores.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows (may contain anomalies: ``contamination`` of them are
            labelled 1).
        y : Ignored
            Not used (PyOD warns when it is given).

        Returns
        -------
        self : PyODAdapter
        """
        self._set_n_classes(y)
        if self.detector is None:
            detector: Any = AutoencoderDetector()
        else:
            detector = clone(self.detector)
        # PyOD's contract: y is ignored (given positionally, as FrozenEstimator's
        # fit requires it).
        self.detector_ = detector.fit(X, None)
        self.decision_scores_ = decisions.anomaly_scores(self.detector_, X)
        n_features = getattr(self.detector_, "n_features_in_", None)
        if n_features is not None:
            self.n_features_in_ = int(n_features)
        self._process_decision_scores()
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Anomaly score of each row: higher = more abnormal.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, _FITTED)
        return decisions.anomaly_scores(self.detector_, X)


def as_pyod(
    detector: Any, contamination: float = 0.1, *, prefit: bool = False
) -> PyODAdapter:
    """Wrap ``detector`` as a PyOD detector (:class:`PyODAdapter`).

    Parameters
    ----------
    detector : estimator with ``fit`` and ``score_samples``
        Usually an anomvae detector.
    contamination : float in (0, 0.5], default=0.1
        PyOD's share of training rows labelled 1.
    prefit : bool, default=False
        The detector is already fitted: ``fit`` on the adapter must not retrain
        it, only score the given rows and set the threshold (wraps the detector in
        :class:`sklearn.frozen.FrozenEstimator`).

    Returns
    -------
    PyODAdapter
        Unfitted; call ``fit(X)`` as with any PyOD detector.
    """
    if prefit:
        check_is_fitted(detector)
        detector = FrozenEstimator(detector)
    return PyODAdapter(detector, contamination=contamination)
