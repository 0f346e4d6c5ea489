"""Model selection with labelled validation data: an AUROC scorer and a novelty
cross-validation splitter that trains on normal rows only.

Labels follow the benchmark convention: ``y == 1`` marks an anomaly, ``0`` a
normal row (scikit-learn's outlier labels ``-1`` / ``+1`` are accepted too).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import KFold

from anomvae.decisions import anomaly_scores
from anomvae.thresholds import anomaly_labels

__all__ = ["NoveltySplit", "anomaly_labels", "auroc_scorer", "average_precision_scorer"]


def auroc_scorer(estimator: Any, X: Any, y: Any) -> float:
    """Area under the ROC curve of the estimator's anomaly scores against labels.

    A scikit-learn scorer (``scoring=auroc_scorer`` in ``GridSearchCV`` or
    ``cross_val_score``) for any detector with ``score_samples``.

    Parameters
    ----------
    estimator : fitted detector with ``score_samples``
    X : array-like or DataFrame of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        1 = anomaly, 0 = normal (or scikit-learn's -1 / +1).

    Returns
    -------
    float
        AUROC of ``-score_samples(X)`` (higher = more anomalous) against ``y``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(size=(200, 2)), rng.normal(6, 1, size=(10, 2))])
    >>> y = np.r_[np.zeros(200), np.ones(10)]
    >>> det = IsolationForest(random_state=0).fit(X[:200])
    >>> auroc_scorer(det, X, y) > 0.95
    True
    """
    return float(roc_auc_score(anomaly_labels(y), anomaly_scores(estimator, X)))


def average_precision_scorer(estimator: Any, X: Any, y: Any) -> float:
    """Average precision of the anomaly scores (anomalies as the positive class).

    Parameters
    ----------
    estimator : fitted detector with ``score_samples``
    X : array-like or DataFrame of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        1 = anomaly, 0 = normal (or scikit-learn's -1 / +1).

    Returns
    -------
    float
        Average precision of ``-score_samples(X)`` with anomalies as positives.
    """
    return float(
        average_precision_score(anomaly_labels(y), anomaly_scores(estimator, X))
    )


class NoveltySplit:
    """Cross-validation for detectors trained on normal data.

    K-fold over the *normal* rows: each split trains on K-1 folds of normal rows and
    tests on the held-out normal fold plus every anomaly, so no anomaly is ever
    trained on. Use with ``GridSearchCV(..., cv=NoveltySplit(), scoring=auroc_scorer)``
    and pass the labels as ``y``.

    Parameters
    ----------
    n_splits : int, default=3
    shuffle : bool, default=True
    random_state : int or None, default=None
    """

    def __init__(
        self,
        n_splits: int = 3,
        *,
        shuffle: bool = True,
        random_state: int | None = None,
    ):
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Train on normal folds; test on the held-out normal fold and every
        anomaly.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Only its length matters.
        y : array-like of shape (n_samples,)
            Required: 1 = anomaly, 0 = normal (or -1 / +1).
        groups : None
            Ignored.

        Yields
        ------
        train : ndarray of int
            Indices of normal rows to train on.
        test : ndarray of int
            Indices of the held-out normal rows and of every anomaly, sorted.

        Examples
        --------
        >>> import numpy as np
        >>> y = np.array([0, 0, 0, 0, 0, 0, 1])
        >>> train, test = next(NoveltySplit(3, random_state=0).split(y, y))
        >>> bool(np.isin(6, test)), bool(np.isin(6, train))
        (True, False)
        """
        if y is None:
            raise ValueError(
                "NoveltySplit needs the labels y (1 = anomaly) to keep anomalies out of training"
            )
        anomalous = anomaly_labels(y)
        normal_idx = np.flatnonzero(~anomalous)
        anomaly_idx = np.flatnonzero(anomalous)
        kf = KFold(
            self.n_splits,
            shuffle=self.shuffle,
            random_state=self.random_state if self.shuffle else None,
        )
        for train, test in kf.split(normal_idx):
            yield (
                normal_idx[train],
                np.sort(np.concatenate([normal_idx[test], anomaly_idx])),
            )

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """The number of splits.

        Parameters
        ----------
        X, y, groups : ignored

        Returns
        -------
        int
        """
        return self.n_splits
