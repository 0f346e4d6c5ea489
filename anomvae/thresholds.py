"""Threshold rules on 1-D anomaly scores, with their guarantees.

Every function here works on *anomaly scores* ``s`` (higher = more anomalous) and a
row is flagged when ``s > threshold``. :class:`anomvae.ThresholdCalibrator` applies
them around a detector.

========================  ============================================================
rule                      what it guarantees
========================  ============================================================
``contamination``         a fraction of the *training* rows is flagged; nothing about
                          new data (the classic rule, kept for comparison)
``fpr`` / ``conformal``   :math:`\\mathbb{E}[\\mathrm{FPR}] \\le \\alpha` on new rows
                          exchangeable with the calibration rows (finite-sample)
``conformal`` + ``fdr``   Benjamini–Hochberg on conformal p-values: the false
                          discovery rate of a batch is at most ``fdr``
``evt``                   approximate: a generalised Pareto tail extrapolates the
                          quantile to risks far below ``1 / n_calibration``
``f1`` / ``precision``    empirical: best F1, or a target precision, on labelled rows
========================  ============================================================
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import false_discovery_control, genpareto

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "GPDTail",
    "anomaly_labels",
    "benjamini_hochberg",
    "best_f1_threshold",
    "conformal_p_values",
    "conformal_threshold",
    "contamination_threshold",
    "evt_threshold",
    "fit_gpd_tail",
    "min_calibration_rows",
    "precision_threshold",
]

#: Fewest tail exceedances a generalised Pareto fit is attempted on. Shape and scale
#: are barely identified below this; 50-100 exceedances are advisable.
MIN_EXCEEDANCES = 10
_EPS = 1e-9  # guards floor/ceil of products such as 0.01 * 1000 against rounding


# ---------------------------------------------------------------- input helpers
def _scores_1d(scores: ArrayLike, name: str = "scores") -> np.ndarray:
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _check_rate(value: float, name: str) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in the open interval (0, 1), got {value!r}")


def anomaly_labels(y: ArrayLike) -> np.ndarray:
    """Boolean mask of anomalies from labels in either convention.

    ``{0, 1}`` (1 = anomaly) or scikit-learn's outlier convention ``{-1, +1}``
    (-1 = anomaly); booleans are read as True = anomaly. A vector of only 1s is
    ambiguous (all anomalies, or all normal) and is refused.
    """
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {arr.shape}")
    if arr.dtype == bool:
        return arr.copy()
    values = set(np.unique(arr).tolist())
    if values <= {0, 1} and values != {1}:
        return arr == 1
    if values <= {-1, 1} and values != {1}:
        return arr == -1
    if values == {1}:
        raise ValueError(
            "labels are all 1, which is ambiguous: all anomalies in the {0, 1} "
            "convention, all normal in scikit-learn's {-1, +1} convention; pass "
            "booleans (True = anomaly) or labels that contain both classes"
        )
    raise ValueError(
        f"labels must be 0/1 (1 = anomaly) or -1/+1 (-1 = anomaly), got values "
        f"{sorted(values)[:5]}"
    )


# ------------------------------------------------------------------ the rules
def contamination_threshold(scores: ArrayLike, contamination: float) -> float:
    r"""Classic rule: the :math:`1 - c` empirical quantile of (training) scores.

    .. math:: t = \hat Q_{1-c}(s_1, \dots, s_n)

    (linear interpolation between order statistics), so about a fraction ``c`` of
    the given scores lie above ``t``. Nothing is promised about new data: when the
    scores are the detector's own training scores they are optimistically biased.

    Parameters
    ----------
    scores : array-like of shape (n,)
        Anomaly scores, higher = more anomalous.
    contamination : float in (0, 1)
        Fraction of the scores to put above the threshold.

    Returns
    -------
    float
        The threshold; rows with ``score > t`` are flagged.
    """
    _check_rate(contamination, "contamination")
    s = _scores_1d(scores)
    if s.size == 0:
        raise ValueError("contamination_threshold needs at least one score")
    return float(np.quantile(s, 1.0 - contamination))


def min_calibration_rows(target_fpr: float) -> int:
    r"""Fewest calibration rows for which a conformal threshold at ``target_fpr``
    exists.

    .. math:: n_{\min} = \lceil 1/\alpha \rceil - 1

    With fewer rows even the largest calibration score is not a high enough
    quantile: the guarantee cannot be met by any threshold the data support.
    """
    _check_rate(target_fpr, "target_fpr")
    return max(math.ceil(1.0 / target_fpr - _EPS) - 1, 1)


def conformal_threshold(cal_scores: ArrayLike, target_fpr: float) -> float:
    r"""Finite-sample conformal threshold for a false-positive rate ``target_fpr``.

    With sorted calibration scores :math:`s_{(1)} \le \dots \le s_{(n)}` and
    :math:`\alpha` = ``target_fpr``,

    .. math::

        t = s_{(k)}, \qquad k = \lceil (n + 1)(1 - \alpha) \rceil,

    and a new score ``s`` is flagged when :math:`s > t`. If the new row and the
    calibration rows are exchangeable (i.i.d. normal data scored by a detector
    that did not see the calibration rows),

    .. math::

        \mathbb{E}[\mathrm{FPR}] = P(s > t)
        = \frac{\lfloor \alpha (n + 1) \rfloor}{n + 1} \le \alpha,

    with equality when :math:`\alpha(n+1)` is an integer. The flags equal
    ``conformal_p_values(cal_scores, s) <= target_fpr``.

    Parameters
    ----------
    cal_scores : array-like of shape (n,)
        Anomaly scores of held-out normal rows.
    target_fpr : float in (0, 1)
        Largest acceptable expected false-positive rate :math:`\alpha`.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        When ``n < ceil(1 / target_fpr) - 1`` (see :func:`min_calibration_rows`).

    References
    ----------
    Vovk, Gammerman & Shafer, *Algorithmic Learning in a Random World* (2005);
    Bates et al., "Testing for outliers with conformal p-values", Ann. Statist. (2023).
    """
    _check_rate(target_fpr, "target_fpr")
    s = _scores_1d(cal_scores, "cal_scores")
    n = s.size
    n_allowed = math.floor(target_fpr * (n + 1) + _EPS)  # calibration rows above t
    if n_allowed < 1:
        raise ValueError(
            f"a conformal threshold at target_fpr={target_fpr:g} needs at least "
            f"{min_calibration_rows(target_fpr)} calibration scores "
            f"(ceil(1/target_fpr) - 1), got {n}; pass more calibration rows or "
            f"raise target_fpr"
        )
    k = n + 1 - n_allowed  # 1-based order statistic
    return float(np.partition(s, k - 1)[k - 1])


def conformal_p_values(cal_scores: ArrayLike, scores: ArrayLike) -> np.ndarray:
    r"""Conformal p-values of new scores against calibration scores.

    .. math:: p(s) = \frac{1 + \#\{i : s_i \ge s\}}{n + 1}

    For a new row exchangeable with the calibration rows, :math:`p` is
    super-uniform, :math:`P(p \le u) \le u` for all :math:`u` (uniform on
    :math:`\{1/(n+1), \dots, 1\}` without ties): small p = evidence of an anomaly.

    Parameters
    ----------
    cal_scores : array-like of shape (n,)
        Anomaly scores of held-out normal rows.
    scores : array-like of shape (m,)
        Anomaly scores to test.

    Returns
    -------
    ndarray of shape (m,)
    """
    cal = np.sort(_scores_1d(cal_scores, "cal_scores"))
    s = np.asarray(scores, dtype=np.float64)
    n_at_least = cal.size - np.searchsorted(cal, s, side="left")
    return (1.0 + n_at_least) / (cal.size + 1.0)


def benjamini_hochberg(p_values: ArrayLike, fdr: float) -> np.ndarray:
    r"""Benjamini–Hochberg selection at false discovery rate ``fdr``.

    With sorted p-values :math:`p_{(1)} \le \dots \le p_{(m)}`, reject the
    :math:`k^\star` smallest, where

    .. math:: k^\star = \max\{k : p_{(k)} \le k\,q / m\}.

    On conformal p-values (which are positively dependent through the shared
    calibration set) this keeps :math:`\mathbb{E}[V / \max(R, 1)] \le q\,m_0/m`.
    Wraps :func:`scipy.stats.false_discovery_control`.

    Parameters
    ----------
    p_values : array-like of shape (m,)
    fdr : float in (0, 1)
        Target false discovery rate :math:`q`.

    Returns
    -------
    ndarray of bool, shape (m,)
        True for the selected (flagged) rows.
    """
    _check_rate(fdr, "fdr")
    p = np.asarray(p_values, dtype=np.float64)
    if p.size == 0:
        return np.zeros(p.shape, dtype=bool)
    return np.asarray(false_discovery_control(p, method="bh") <= fdr)


@dataclass(frozen=True)
class GPDTail:
    r"""A generalised Pareto fit to the top of a score sample (peaks over threshold).

    Attributes
    ----------
    tail_start : float
        :math:`u`, the :math:`(n-k)`-th order statistic; exceedances are
        :math:`s - u` for the top :math:`k` scores.
    shape, scale : float
        :math:`\hat\xi, \hat\sigma` of the GPD fitted to the exceedances (location 0).
    n_exceedances, n : int
        :math:`k` and :math:`n`.
    """

    tail_start: float
    shape: float
    scale: float
    n_exceedances: int
    n: int

    def quantile(self, risk: float) -> float:
        r"""Score exceeded with probability ``risk``:

        .. math::

            q = u + \frac{\hat\sigma}{\hat\xi}
                \left[\left(\frac{k}{n\,p}\right)^{\hat\xi} - 1\right]
            \quad (\to u + \hat\sigma \log\tfrac{k}{n p} \text{ as } \hat\xi \to 0).
        """
        _check_rate(risk, "risk")
        zeta = self.n_exceedances / self.n
        if risk >= zeta:
            raise ValueError(
                f"risk={risk:g} is not below the fitted tail's probability "
                f"{zeta:g} (= n_exceedances / n): EVT extrapolates beyond the data; "
                f"lower risk, raise tail_fraction, or use method='fpr'"
            )
        log_ratio = math.log(zeta / risk)
        xi = self.shape
        growth = log_ratio if abs(xi) < 1e-12 else math.expm1(xi * log_ratio) / xi
        return self.tail_start + self.scale * growth


def fit_gpd_tail(cal_scores: ArrayLike, tail_fraction: float = 0.1) -> GPDTail:
    r"""Fit a generalised Pareto distribution to the top ``tail_fraction`` of scores.

    With :math:`k = \lfloor \text{tail\_fraction} \cdot n \rfloor` and
    :math:`u = s_{(n-k)}`, the exceedances :math:`s_{(n-k+j)} - u` are fitted by
    maximum likelihood (:data:`scipy.stats.genpareto`, location fixed at 0).
    Pickands–Balkema–de Haan: above a high threshold, almost every continuous
    distribution's excesses are approximately GPD.

    Raises
    ------
    ValueError
        With fewer than :data:`MIN_EXCEEDANCES` exceedances, or a tied top.
    """
    _check_rate(tail_fraction, "tail_fraction")
    s = np.sort(_scores_1d(cal_scores, "cal_scores"))
    n = s.size
    k = math.floor(tail_fraction * n + _EPS)
    if k < MIN_EXCEEDANCES or k >= n:
        need = math.ceil(MIN_EXCEEDANCES / tail_fraction - _EPS)
        raise ValueError(
            f"a generalised Pareto tail needs at least {MIN_EXCEEDANCES} exceedances: "
            f"with tail_fraction={tail_fraction:g} that is at least {need} "
            f"calibration scores, got {n}; pass more calibration rows or raise "
            f"tail_fraction"
        )
    u = float(s[n - k - 1])
    excess = s[n - k :] - u
    unit = float(excess.mean())
    if unit <= 0.0:
        raise ValueError("the top calibration scores are all tied; no tail to fit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        shape, _, scale = genpareto.fit(excess / unit, floc=0.0)
    return GPDTail(u, float(shape), float(scale) * unit, k, n)


def evt_threshold(
    cal_scores: ArrayLike, risk: float, *, tail_fraction: float = 0.1
) -> float:
    r"""Peaks-over-threshold estimate of the score exceeded with probability ``risk``.

    :func:`fit_gpd_tail` then :meth:`GPDTail.quantile`:

    .. math::

        t = u + \frac{\hat\sigma}{\hat\xi}
            \left[\left(\frac{k}{n\,p}\right)^{\hat\xi} - 1\right].

    Unlike :func:`conformal_threshold` this reaches risks far below
    :math:`1/(n+1)` (e.g. 1e-4 from a few thousand rows), at the price of an
    asymptotic rather than finite-sample guarantee.
    """
    return fit_gpd_tail(cal_scores, tail_fraction).quantile(risk)


def _require_anomalies(anomalies: np.ndarray) -> None:
    if not anomalies.any():
        raise ValueError(
            "the labels contain no anomalies (1, or -1 in the -1/+1 convention); "
            "choosing a threshold by F1 or precision needs labelled anomalies among "
            "the validation rows. Add some, or calibrate on normal rows alone with "
            "method='fpr'"
        )


def _cutoff_table(
    scores: ArrayLike, y: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Thresholds between distinct scores (descending) with TP/FP counts above each."""
    s = _scores_1d(scores)
    anomalies = anomaly_labels(y)
    if anomalies.shape != s.shape:
        raise ValueError(f"{s.size} scores but {anomalies.size} labels")
    _require_anomalies(anomalies)
    n_anomalies = int(anomalies.sum())
    order = np.argsort(-s, kind="stable")
    s, hit = s[order], anomalies[order]
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    tp, fp = np.cumsum(hit)[last_of_tie], np.cumsum(~hit)[last_of_tie]
    cut = s[last_of_tie]  # flag every score >= cut[i] ...
    below = np.r_[cut[1:], np.nextafter(cut[-1], -np.inf)]
    mid = below + (cut - below) / 2.0
    thresholds = np.where(mid < cut, mid, below)  # ... i.e. every score > thresholds[i]
    return thresholds, tp, fp, n_anomalies


def best_f1_threshold(scores: ArrayLike, y: ArrayLike) -> float:
    r"""Threshold maximising F1 of the flags ``score > t`` on labelled rows.

    .. math:: F_1(t) = \frac{2\,TP(t)}{2\,TP(t) + FP(t) + FN(t)}

    Candidates lie midway between consecutive distinct scores; ties in F1 go to the
    higher threshold (fewer flags).

    Parameters
    ----------
    scores : array-like of shape (n,)
        Anomaly scores, higher = more anomalous.
    y : array-like of shape (n,)
        1 = anomaly, 0 = normal (or -1 = anomaly, +1 = normal).
    """
    thresholds, tp, fp, n_anomalies = _cutoff_table(scores, y)
    f1 = 2.0 * tp / (tp + fp + n_anomalies)
    return float(thresholds[int(np.argmax(f1))])


def precision_threshold(
    scores: ArrayLike, y: ArrayLike, target_precision: float
) -> float:
    r"""Lowest threshold (highest recall) whose flags reach ``target_precision``.

    .. math::

        t = \min\{t : \mathrm{precision}(t) = \tfrac{TP(t)}{TP(t) + FP(t)}
        \ge \pi\}

    Raises a ValueError naming the best achievable precision when none reaches it.
    """
    if not 0.0 < target_precision <= 1.0:
        raise ValueError(f"target_precision must be in (0, 1], got {target_precision}")
    thresholds, tp, fp, _ = _cutoff_table(scores, y)
    precision = tp / (tp + fp)
    ok = np.flatnonzero(precision >= target_precision - _EPS)
    if ok.size == 0:
        raise ValueError(
            f"no threshold reaches precision {target_precision:g} on these labels "
            f"(best achievable: {precision.max():.3g}); lower target_precision or "
            f"use a better detector"
        )
    return float(thresholds[ok[-1]])
