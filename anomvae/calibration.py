"""The :class:`ThresholdCalibrator` meta-estimator: thresholds with stated
guarantees around any detector with ``score_samples``.

The rules themselves are plain functions on 1-D scores in
:mod:`anomvae.thresholds`; scores, the threshold and the flags go through
:mod:`anomvae.decisions` like everywhere else. Model files (the calibration saved
with its detector) are :mod:`anomvae.persistence`'s business.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from scipy.stats import beta
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context, clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils import _safe_indexing, check_random_state, get_tags
from sklearn.utils._param_validation import HasMethods, Interval, RealNotInt, StrOptions
from sklearn.utils.validation import (
    _num_samples,
    check_is_fitted,
    indexable,
    validate_data,
)

from anomvae import decisions
from anomvae.monitoring import DEFAULT_ALPHA, score_checks

if TYPE_CHECKING:
    from matplotlib.axes import Axes

from anomvae.thresholds import (
    _EPS,
    MIN_EXCEEDANCES,
    _require_anomalies,
    anomaly_labels,
    best_f1_threshold,
    conformal_p_values,
    conformal_threshold,
    contamination_threshold,
    fit_gpd_tail,
    min_calibration_rows,
    precision_threshold,
)

__all__ = ["ThresholdCalibrator"]


# ------------------------------------------------------------ meta-estimator
def _split_rows(
    n: int, calibration_size: float, rng: np.random.RandomState, strata: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Random (stratified when ``strata`` is given) fit / calibration row indices."""
    is_int = isinstance(calibration_size, Integral)
    n_cal = int(calibration_size) if is_int else math.ceil(calibration_size * n)
    if n < 2 or n_cal >= n:
        raise ValueError(
            f"calibration_size={calibration_size!r} with n_samples={n} leaves no "
            f"rows to fit the detector; pass more rows or a smaller calibration_size"
        )
    groups = (
        [np.arange(n)]
        if strata is None
        else [np.flatnonzero(strata == v) for v in (False, True)]
    )
    cal = [rng.permutation(g)[: math.ceil(n_cal * g.size / n - _EPS)] for g in groups]
    cal_idx = np.sort(np.concatenate(cal))
    return np.setdiff1d(np.arange(n), cal_idx), cal_idx


_GUARANTEES = {
    "contamination": "about a fraction {contamination:g} of the calibration rows is "
    "flagged; no guarantee on new data",
    "fpr": "E[false-positive rate] <= {target_fpr:g} on new rows exchangeable with "
    "the calibration rows (finite-sample)",
    "conformal": "P(p <= {target_fpr:g}) <= {target_fpr:g} for new normal rows "
    "(finite-sample)",
    "conformal+fdr": "predict() on a batch: Benjamini-Hochberg selection, false "
    "discovery rate <= {fdr:g}; per row P(p <= {target_fpr:g}) <= {target_fpr:g}",
    "evt": "P(score > threshold) ~= {risk:g} (asymptotic, generalised Pareto tail)",
    "f1": "maximal F1 on the labelled calibration rows (empirical)",
    "precision": "precision >= {target_precision:g} on the labelled calibration rows "
    "(empirical)",
}
_SUPERVISED = ("f1", "precision")


class ThresholdCalibrator(OutlierMixin, BaseEstimator):
    r"""Calibrate the alarm threshold of any detector with ``score_samples``.

    A meta-estimator in the manner of
    :class:`~sklearn.model_selection.FixedThresholdClassifier`: ``fit`` holds out a
    random calibration split of ``X``, fits ``clone(detector)`` as ``detector_`` on
    the rest, and sets ``threshold_`` from the calibration rows' anomaly scores
    :math:`s = -\text{score\_samples}(X)`. A row is an anomaly when
    :math:`s > \text{threshold\_}`. A pre-fitted detector wrapped in
    :class:`~sklearn.frozen.FrozenEstimator` is not refitted: every row of ``X`` is
    a calibration row.

    Parameters
    ----------
    detector : estimator with ``fit`` and ``score_samples``
        Any outlier detector (higher ``score_samples`` = more normal): anomvae's,
        or scikit-learn's such as :class:`~sklearn.ensemble.IsolationForest`.
    method : {"fpr", "conformal", "evt", "contamination", "f1", "precision"}, default="fpr"
        ``"fpr"``: conformal quantile of the calibration scores,
        :math:`\mathbb{E}[\mathrm{FPR}] \le` ``target_fpr``
        (:func:`conformal_threshold`). ``"conformal"``: flag rows whose conformal
        p-value is ``<= target_fpr`` (the same flags as ``"fpr"``), or, with
        ``fdr``, the Benjamini–Hochberg selection of each batch. ``"evt"``:
        generalised Pareto tail, threshold exceeded with probability ``risk``.
        ``"contamination"``: the classic ``1 - contamination`` quantile of the
        training scores (no split; no guarantee). ``"f1"`` / ``"precision"``:
        labelled calibration rows (``fit(X, y)`` or :meth:`calibrate`), best F1
        or at least ``target_precision``.
    target_fpr : float in (0, 1), default=0.01
        Expected false-positive rate :math:`\alpha` for ``"fpr"``, significance
        level of the p-values for ``"conformal"``. Needs at least
        ``ceil(1 / target_fpr) - 1`` calibration rows.
    fdr : float in (0, 1) or None, default=None
        ``"conformal"`` only: if set, :meth:`predict` flags the BH selection of the
        batch it is given (a batch decision: a row's flag depends on the other rows).
    calibration_size : float in (0, 1) or int, default=0.2
        Fraction (rounded up) or number of ``fit`` rows held out for calibration.
    risk : float in (0, 1), default=1e-4
        ``"evt"``: tail probability of the threshold; must be below
        ``tail_fraction``.
    tail_fraction : float in (0, 1), default=0.1
        ``"evt"``: share of the calibration scores that form the fitted tail (at
        least :data:`MIN_EXCEEDANCES` rows).
    contamination : float in (0, 0.5], default=0.05
        ``"contamination"``: fraction of training rows flagged.
    target_precision : float in (0, 1], default=0.9
        ``"precision"``: precision to reach with the highest recall.
    random_state : int, RandomState instance or None, default=None
        Seeds the fit / calibration split.

    Attributes
    ----------
    detector_ : estimator
        The fitted detector (the wrapped estimator itself for a FrozenEstimator).
    threshold_ : float
        Anomaly-score threshold: rows with ``-score_samples(X) > threshold_`` are
        anomalies.
    offset_ : float
        ``-threshold_``, so that ``decision_function = score_samples - offset_``.
    calibration_scores_ : ndarray of shape (n,)
        Sorted anomaly scores of the normal calibration rows (the training rows
        for ``"contamination"``); the reference of :meth:`p_values`.
    n_calibration_ : int
        Rows the threshold was calibrated on (labelled anomalies included).
    calibration_report_ : dict
        JSON-serialisable facts: method, target, rows, threshold, guarantee, and
        the fitted tail (``"evt"``) or achieved F1 / precision / recall.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Only when ``X`` had string column names.

    See Also
    --------
    conformal_threshold, conformal_p_values, benjamini_hochberg, evt_threshold

    Notes
    -----
    The finite-sample guarantees hold when new normal rows are exchangeable with
    the calibration rows and the detector never saw the calibration rows; call
    :meth:`recalibrate` on fresh normal data when the data drift.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from anomvae.calibration import ThresholdCalibrator
    >>> X = np.random.default_rng(0).normal(size=(2000, 3))
    >>> cal = ThresholdCalibrator(
    ...     IsolationForest(random_state=0), target_fpr=0.01, random_state=0
    ... ).fit(X)
    >>> cal.n_calibration_
    400
    >>> cal.predict([[0.0, 0.0, 0.0], [6.0, -6.0, 6.0]])
    array([ 1, -1])
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "detector": [HasMethods(["fit", "score_samples"])],
        "method": [
            StrOptions({"fpr", "conformal", "evt", "contamination", *_SUPERVISED})
        ],
        "target_fpr": [Interval(Real, 0, 1, closed="neither")],
        "fdr": [Interval(Real, 0, 1, closed="neither"), None],
        "calibration_size": [
            Interval(RealNotInt, 0, 1, closed="neither"),
            Interval(Integral, 1, None, closed="left"),
        ],
        "risk": [Interval(Real, 0, 1, closed="neither")],
        "tail_fraction": [Interval(Real, 0, 1, closed="neither")],
        "contamination": [Interval(Real, 0, 0.5, closed="right")],
        "target_precision": [Interval(Real, 0, 1, closed="right")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        detector: Any,
        *,
        method: str = "fpr",
        target_fpr: float = 0.01,
        fdr: float | None = None,
        calibration_size: float = 0.2,
        risk: float = 1e-4,
        tail_fraction: float = 0.1,
        contamination: float = 0.05,
        target_precision: float = 0.9,
        random_state: Any = None,
    ) -> None:
        self.detector = detector
        self.method = method
        self.target_fpr = target_fpr
        self.fdr = fdr
        self.calibration_size = calibration_size
        self.risk = risk
        self.tail_fraction = tail_fraction
        self.contamination = contamination
        self.target_precision = target_precision
        self.random_state = random_state

    # ------------------------------------------------------------- fitting
    @_fit_context(prefer_skip_nested_validation=False)  # detector validated later
    def fit(self, X: Any, y: Any = None) -> ThresholdCalibrator:
        """Fit ``clone(detector)`` on part of ``X`` and calibrate on the rest.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Normal training data (for ``"f1"`` / ``"precision"``: labelled data).
        y : array-like of shape (n_samples,), default=None
            ``"f1"`` / ``"precision"`` only, required there: 1 = anomaly, 0 =
            normal (or -1 / +1). The split is stratified and known anomalies are
            kept out of the detector's training rows. Ignored by the other
            methods, which assume every row of ``X`` is normal.

        Returns
        -------
        self : ThresholdCalibrator
        """
        self._check_options()
        (X,) = indexable(X)
        validate_data(self, X, skip_check_array=True, reset=True)
        n = _num_samples(X)
        anomalies = self._labels(y, n) if self.method in _SUPERVISED else None
        frozen = isinstance(self.detector, FrozenEstimator)
        if frozen or self.method == "contamination":
            fit_idx = cal_idx = np.arange(n)
        else:
            rng = check_random_state(self.random_state)
            fit_idx, cal_idx = _split_rows(n, self.calibration_size, rng, anomalies)
        if anomalies is not None:
            fit_idx = fit_idx[~anomalies[fit_idx]]
        self._check_rows(cal_idx.size, "the calibration split", n)

        if frozen:
            check_is_fitted(self.detector.estimator)
            self.detector_ = self.detector.estimator
            source = f"all {n} rows passed to fit() (frozen, pre-fitted detector)"
        else:
            self.detector_ = clone(self.detector).fit(_safe_indexing(X, fit_idx))
            source = (
                f"the {n} training rows themselves"
                if self.method == "contamination"
                else f"{cal_idx.size} held-out rows of the {n} passed to fit(); "
                f"detector fitted on {fit_idx.size}"
            )
        if hasattr(self.detector_, "n_features_in_"):
            self.n_features_in_ = self.detector_.n_features_in_
        cal_y = None if anomalies is None else anomalies[cal_idx]
        self._calibrate(_safe_indexing(X, cal_idx), cal_y, source)
        return self

    def calibrate(self, X: Any, y: Any = None) -> ThresholdCalibrator:
        """Recompute the threshold on new rows with the fitted ``detector_``.

        The detector is not retrained. Parameters may have been changed with
        ``set_params`` since ``fit`` (for example a new ``target_fpr``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Validation rows the detector did not train on.
        y : array-like of shape (n_samples,), default=None
            1 = anomaly, 0 = normal (or -1 / +1). Required for ``"f1"`` /
            ``"precision"``; for the other methods, rows labelled anomalous are
            dropped before calibrating.

        Returns
        -------
        self : ThresholdCalibrator
        """
        return self._recompute(X, y, "calibrate()")

    def recalibrate(self, X_normal: Any) -> ThresholdCalibrator:
        """Re-fit only the threshold on fresh normal rows (no retraining).

        For drifting data in scheduled jobs: the network stays as it is, the
        threshold and the p-value reference follow the new normal data, and the
        new calibration is saved with the model. Not for ``"f1"`` / ``"precision"``,
        which need labels: use :meth:`calibrate` there.

        Parameters
        ----------
        X_normal : array-like of shape (n_samples, n_features)
            Recent rows believed normal, unseen by the detector.

        Returns
        -------
        self : ThresholdCalibrator
        """
        if self.method in _SUPERVISED:
            raise ValueError(
                f"method={self.method!r} chooses the threshold from labelled rows; "
                f"call calibrate(X_val, y_val) instead of recalibrate()"
            )
        return self._recompute(X_normal, None, "recalibrate()")

    def _recompute(self, X: Any, y: Any, caller: str) -> ThresholdCalibrator:
        check_is_fitted(self)
        self._validate_params()
        self._check_options()
        self._check_features(X)
        anomalies = None
        if self.method in _SUPERVISED:
            anomalies = self._labels(y, _num_samples(X))
        elif y is not None:
            normal_rows = ~anomaly_labels(y)
            if normal_rows.size != _num_samples(X):
                raise ValueError(f"X has {_num_samples(X)} rows, y {normal_rows.size}")
            X = _safe_indexing(X, np.flatnonzero(normal_rows))
        self._check_rows(_num_samples(X), caller, None)
        self._calibrate(X, anomalies, f"{_num_samples(X)} rows passed to {caller}")
        return self

    def _check_options(self) -> None:
        if self.fdr is not None and self.method != "conformal":
            raise ValueError(
                f"fdr={self.fdr} applies only to method='conformal'; got "
                f"method={self.method!r}"
            )
        if self.method == "evt" and self.risk >= self.tail_fraction:
            raise ValueError(
                f"risk={self.risk:g} must be below tail_fraction="
                f"{self.tail_fraction:g}: EVT extrapolates beyond the empirical tail. "
                f"For risks the data resolve, use method='fpr'"
            )

    def _check_rows(self, n_rows: int, where: str, n_total: int | None) -> None:
        """Refuse too few calibration rows, before any training happens."""
        if self.method in ("fpr", "conformal"):
            need = min_calibration_rows(self.target_fpr)
            what = f"target_fpr={self.target_fpr:g} needs at least {need}"
            why, knob = "ceil(1/target_fpr) - 1", "target_fpr"
        elif self.method == "evt":
            need = math.ceil(MIN_EXCEEDANCES / self.tail_fraction - _EPS)
            what = f"tail_fraction={self.tail_fraction:g} needs at least {need}"
            why, knob = f"{MIN_EXCEEDANCES} tail exceedances", "tail_fraction"
        else:
            return
        if n_rows >= need:
            return
        if n_total is None:
            fix = f"pass at least {need} rows"
            has = f"{n_rows} rows"
        else:
            has = f"{n_rows} of the {n_total} rows"
            fix = f"set calibration_size to an int >= {need}"
            if not isinstance(self.calibration_size, Integral):
                total = math.ceil(need / self.calibration_size - _EPS)
                fix = f"pass at least {total} rows, {fix}"
        raise ValueError(
            f"method={self.method!r} with {what} calibration rows ({why}), but "
            f"{where} has {has}; {fix}, or raise {knob}"
        )

    def _labels(self, y: Any, n: int) -> np.ndarray:
        if y is None:
            raise ValueError(
                f"method={self.method!r} needs labels: fit(X, y) with y = 1 for known "
                f"anomalies and 0 for normal rows, or a FrozenEstimator detector and "
                f"calibrate(X_val, y_val)"
            )
        anomalies = anomaly_labels(y)
        if anomalies.size != n:
            raise ValueError(f"X has {n} rows but y has {anomalies.size} labels")
        _require_anomalies(anomalies)
        return anomalies

    def _calibrate(self, X: Any, anomalies: np.ndarray | None, source: str) -> None:
        """Set threshold_, calibration_scores_ and the report from calibration rows."""
        s = decisions.anomaly_scores(self.detector_, X)
        normal = s if anomalies is None else s[~anomalies]
        extra: dict[str, Any] = {}
        if self.method == "contamination":
            threshold = contamination_threshold(normal, self.contamination)
            extra["flagged_fraction"] = float(np.mean(normal > threshold))
        elif self.method in ("fpr", "conformal"):
            threshold = conformal_threshold(normal, self.target_fpr)
            extra.update(_conformal_fpr_facts(normal.size, self.target_fpr))
            if self.fdr is not None:
                extra["fdr"] = self.fdr
        elif self.method == "evt":
            tail = fit_gpd_tail(normal, self.tail_fraction)
            threshold = tail.quantile(self.risk)
            extra["tail"] = asdict(tail)
        else:
            assert anomalies is not None
            threshold = (
                best_f1_threshold(s, anomalies)
                if self.method == "f1"
                else precision_threshold(s, anomalies, self.target_precision)
            )
            extra.update(_flag_stats(s, anomalies, threshold))
        self.threshold_ = float(threshold)
        self.calibration_scores_ = np.sort(normal)
        self.n_calibration_ = int(s.size)
        params = self.get_params(deep=False)
        self.calibration_report_ = {
            "method": self.method,
            "detector": type(self.detector_).__name__,
            "guarantee": _GUARANTEES[
                "conformal+fdr" if self.fdr is not None else self.method
            ].format(**params),
            "calibrated_on": source,
            "n_calibration": self.n_calibration_,
            "n_calibration_normal": int(normal.size),
            "threshold": self.threshold_,
            **extra,
        }

    # ------------------------------------------------------------- scoring
    @property
    def offset_(self) -> float:
        """``-threshold_``: ``decision_function = score_samples - offset_``."""
        return decisions.offset_from_threshold(self.threshold_)

    def _anomaly_score(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        self._check_features(X)
        return decisions.anomaly_scores(self.detector_, X)

    def _check_features(self, X: Any) -> None:
        """Column checks are the detector's job; ours only where it keeps none."""
        if not hasattr(self.detector_, "n_features_in_"):
            validate_data(self, X, skip_check_array=True, reset=False)

    def score_samples(self, X: Any) -> np.ndarray:
        """The detector's ``score_samples`` (higher = more normal).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return decisions.normality(self._anomaly_score(X))

    def decision_function(self, X: Any) -> np.ndarray:
        """``threshold_ - s`` with ``s = -score_samples(X)``: negative = anomaly.

        Equals ``score_samples(X) - offset_``.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return decisions.decision_values(self._anomaly_score(X), self.threshold_)

    def p_values(self, X: Any) -> np.ndarray:
        """Conformal p-values of the rows of ``X`` (:func:`conformal_p_values`).

        Small = anomalous; super-uniform for new normal rows. Not available for
        ``"contamination"``, whose calibration scores are the detector's own
        (optimistically biased) training scores.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            Values in ``{1/(n+1), ..., 1}``, ``n = calibration_scores_.size``.
        """
        return self._p_values_of(self._anomaly_score(X))

    def _p_values_of(self, scores: np.ndarray) -> np.ndarray:
        """Conformal p-values of anomaly scores already computed."""
        if self.method == "contamination":
            raise ValueError(
                "p-values need held-out calibration rows, but method='contamination' "
                "calibrates on the detector's own training rows (biased p-values); "
                "use method='fpr' or 'conformal'"
            )
        check_is_fitted(self)
        return conformal_p_values(self.calibration_scores_, scores)

    def check_drift(self, X: Any, *, alpha: float = DEFAULT_ALPHA) -> dict[str, Any]:
        """Test whether new rows still look like the calibration rows.

        Two tests on the anomaly scores of ``X``, with one alarm
        (:func:`anomvae.monitoring.score_checks`): the number of rows above
        ``threshold_`` against its exact distribution under the calibration
        (Beta-Binomial: the calibration draw's own randomness included), and a
        two-sample Kolmogorov-Smirnov test of the scores against
        ``calibration_scores_``. The alarm fires when a Holm-adjusted p-value is
        below ``alpha``: on rows exchangeable with the calibration rows it fires
        with probability at most ``alpha``. These are the score tests of
        ``anomvae score --report``; the column tests there need the model's
        training profile and the input's columns.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            New rows, e.g. a day's batch.
        alpha : float in (0, 1), default=0.01
            False-alarm rate of ``alarm``.

        Returns
        -------
        dict
            ``flag_count_test`` (``observed``, ``expected``, ``p_value``, ...),
            ``score_drift`` (KS ``statistic``, ``p_value``, ``direction``),
            ``alpha``, ``n_tests``, ``min_adjusted_p``, ``alarm`` and ``fired``
            (the tests behind the alarm), as in a run report.

        Raises
        ------
        ValueError
            For ``method="contamination"``, whose calibration scores are the
            detector's own training scores (biased low), and for a threshold
            below every calibration score.

        See Also
        --------
        anomvae.monitoring.score_checks, anomvae.monitoring.RunMonitor

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.ensemble import IsolationForest
        >>> rng = np.random.default_rng(0)
        >>> cal = ThresholdCalibrator(
        ...     IsolationForest(random_state=0), target_fpr=0.01, random_state=0
        ... ).fit(rng.normal(size=(5000, 3)))
        >>> cal.check_drift(rng.normal(size=(2000, 3)))["alarm"]
        False
        >>> moved = cal.check_drift(rng.normal(1.0, size=(2000, 3)))
        >>> moved["alarm"], [f["test"] for f in moved["fired"]]
        (True, ['score_ks', 'flag_count'])
        """
        scores = self._anomaly_score(X)  # checks that the calibrator is fitted
        if self.method == "contamination":
            raise ValueError(
                "drift checks need held-out calibration rows, but "
                "method='contamination' calibrates on the detector's own training "
                "rows (biased scores); use method='fpr' or 'conformal'"
            )
        return score_checks(
            self.calibration_scores_, self.threshold_, scores, alpha=alpha
        )

    def predict(self, X: Any) -> np.ndarray:
        """+1 for normal rows, -1 for anomalies (``decision_function < 0``).

        With ``method="conformal"`` and ``fdr`` set, the rows selected by
        Benjamini–Hochberg among the rows of ``X``: a batch decision.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        ndarray of int, shape (n_samples,)
        """
        scores = self._anomaly_score(X)  # checks that the calibrator is fitted
        rule = decisions.flag_rule(self)
        p_values = None if rule.per_row else self._p_values_of(scores)
        return decisions.outlier_labels(rule.flags(scores, p_values))

    # ----------------------------------------------------------- reporting
    def report(self) -> str:
        """A short human-readable account of what was calibrated on what.

        Returns
        -------
        str
            The method and its guarantee, the calibration rows, the threshold,
            and the facts of the method (the FPR bound, the fitted tail, or the
            achieved F1 / precision / recall).
        """
        check_is_fitted(self)
        r = self.calibration_report_
        lines = [
            f"ThresholdCalibrator(method={r['method']!r}) around {r['detector']}",
            f"  guarantee: {r['guarantee']}",
            f"  calibrated on: {r['calibrated_on']}",
            f"  threshold: {r['threshold']:.6g} (anomaly score = -score_samples; "
            f"higher is flagged)",
        ]
        if "expected_fpr" in r:
            lines.append(
                f"  FPR on new normal rows: {r['expected_fpr']:.4g} in expectation, "
                f"<= {r['fpr_upper_95']:.4g} with 95% probability over the "
                f"calibration draw"
            )
        if "tail" in r:
            t = r["tail"]
            lines.append(
                f"  GPD tail: shape={t['shape']:.3g}, scale={t['scale']:.3g} over "
                f"{t['n_exceedances']} exceedances above {t['tail_start']:.4g}"
            )
        if "f1" in r:
            lines.append(
                f"  on calibration rows: F1={r['f1']:.3f}, precision="
                f"{r['precision']:.3f}, recall={r['recall']:.3f}"
            )
        return "\n".join(lines)

    def plot(self, X_new: Any = None, ax: Axes | None = None) -> Axes:
        """Histogram of calibration scores (and of ``X_new``) with the threshold.

        Needs matplotlib (``pip install anomvae[plot]``).

        Parameters
        ----------
        X_new : array-like of shape (n_samples, n_features), default=None
            New rows whose scores are drawn over the calibration scores.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from anomvae.plotting import plot_score_distribution

        check_is_fitted(self)
        new = None if X_new is None else self._anomaly_score(X_new)
        return plot_score_distribution(
            self.calibration_scores_, new, threshold=self.threshold_, ax=ax
        )

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        inner = get_tags(self.detector)
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        tags.non_deterministic = inner.non_deterministic
        tags.target_tags.required = self.method in _SUPERVISED
        return tags


def _conformal_fpr_facts(n: int, target_fpr: float) -> dict[str, float]:
    r"""Expected FPR of the conformal threshold and its 95% upper bound.

    Given the calibration draw, the FPR of :math:`t = s_{(k)}` on continuous
    scores is :math:`1 - F(s_{(k)}) \sim \mathrm{Beta}(m, n + 1 - m)` with
    :math:`m = n + 1 - k = \lfloor \alpha (n+1) \rfloor`.
    """
    m = math.floor(target_fpr * (n + 1) + _EPS)
    return {
        "expected_fpr": m / (n + 1),
        "fpr_upper_95": float(beta.ppf(0.95, m, n + 1 - m)),
    }


def _flag_stats(
    scores: np.ndarray, anomalies: np.ndarray, threshold: float
) -> dict[str, float]:
    """Precision, recall and F1 of the flags ``scores > threshold``."""
    flagged = scores > threshold
    tp = int(np.sum(flagged & anomalies))
    precision = tp / max(int(flagged.sum()), 1)
    recall = tp / max(int(anomalies.sum()), 1)
    f1 = 2 * tp / max(int(flagged.sum()) + int(anomalies.sum()), 1)
    return {"precision": precision, "recall": recall, "f1": f1}
