r"""The tests behind a run report, as plain functions of counts and arrays.

================================  ===================================================
function                          null hypothesis (what "no drift" means)
================================  ===================================================
:func:`flag_count_test`           the run's rows are exchangeable with the
                                  calibration rows, so the count of scores above a
                                  conformal threshold is Beta-Binomial (exact, over
                                  calibration draws)
:func:`score_drift_test`          the run's scores and the calibration scores come
                                  from one distribution (two-sample KS)
:func:`.numeric_column_test`      a column's run values and the stored training
                                  sample come from one distribution (KS; plus the
                                  median's shift in training IQRs, a size)
:func:`.categorical_column_test`  same level frequencies (chi-square on the 2 x L
                                  table); no level missing from training in many rows
:func:`.blank_rate_test`          same share of blank cells (Fisher's exact test)
:func:`holm_adjust`               one alarm for many tests: family-wise error
                                  at most alpha
================================  ===================================================

Each test returns a small frozen dataclass; ``dataclasses.asdict`` gives the JSON
form used in run reports. :func:`score_checks` runs the two score tests and the
Holm step on bare score arrays (what ``ThresholdCalibrator`` exposes). The column
tests are in :mod:`anomvae.monitoring.columns`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "KS_EXACT_MAX",
    "FlagCountTest",
    "ScoreDriftTest",
    "calibration_rank",
    "flag_count_test",
    "holm_adjust",
    "score_checks",
    "score_drift_test",
]

#: Largest product of the two sample sizes for which KS p-values are computed
#: exactly. Above it the exact computation (quadratic in the sizes) costs
#: milliseconds per column, and scipy's asymptotic p-value keeps the level at the
#: sizes a run uses (~1 % at p < 0.01 for 1,024 against 1,000-8,192 values:
#: ``benchmarks/results/monitoring.md``).
KS_EXACT_MAX = 1_000_000


def _ks_2samp(x: np.ndarray, y: np.ndarray) -> Any:
    method = "exact" if x.size * y.size <= KS_EXACT_MAX else "asymp"
    return stats.ks_2samp(x, y, method=method)


def _finite(x: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64).ravel()
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _two_sided(p_lower: float, p_upper: float) -> float:
    return float(min(1.0, 2.0 * min(p_lower, p_upper)))


# --------------------------------------------------------------- flag count
@dataclass(frozen=True)
class FlagCountTest:
    r"""The observed number of flags against its Beta-Binomial law.

    Attributes
    ----------
    observed, n : int
        Rows with a score above the threshold, and rows scored.
    k, n_calibration : int
        :math:`k = \#\{i : s_i \le t\}` and :math:`m`, the calibration size.
    a, b : int
        Beta-Binomial parameters :math:`a = m + 1 - k`, :math:`b = k`.
    expected_rate, expected : float
        :math:`a / (m + 1)` and :math:`n a / (m + 1)`.
    observed_rate : float
        ``observed / n`` (0 when ``n`` is 0).
    p_lower, p_upper : float
        :math:`P(X \le x)` and :math:`P(X \ge x)`.
    alternative : {"two-sided", "greater"}
        Two-sided when the threshold is exactly one calibration score; else only
        "too many flags" is tested (see :func:`flag_count_test`).
    p_value : float
        Two-sided: :math:`\min(1, 2 \min(p_\text{lower}, p_\text{upper}))`;
        greater: :math:`p_\text{upper}`.
    naive_p_value : float
        The same rule under Binomial(n, expected_rate), which ignores the
        calibration draw (kept for comparison only; it over-alarms when n >> m).
    """

    observed: int
    n: int
    k: int
    n_calibration: int
    a: int
    b: int
    expected_rate: float
    expected: float
    observed_rate: float
    p_lower: float
    p_upper: float
    alternative: str
    p_value: float
    naive_p_value: float


def calibration_rank(calibration_scores: ArrayLike, threshold: float) -> int:
    r"""The rank :math:`k` of a threshold among calibration scores.

    .. math:: k = \#\{i : s_i \le t\}

    For the conformal threshold :math:`t = s_{(k)}` of continuous scores this is
    its order statistic's index. With ties at :math:`t` it is the index of the last
    tied score, and for any other threshold :math:`s_{(k)} \le t < s_{(k+1)}`; in
    both cases the flag probability :math:`1 - F(t)` is stochastically no larger
    than :math:`\mathrm{Beta}(m + 1 - k, k)`, so the upper tail of
    :func:`flag_count_test` stays valid (conservative).

    Examples
    --------
    >>> calibration_rank([1.0, 2.0, 2.0, 3.0], 2.0)
    3
    """
    s = _finite(calibration_scores, "calibration_scores")
    return int(np.count_nonzero(s <= threshold))


def flag_count_test(
    n_flags: int, n: int, calibration_scores: ArrayLike, threshold: float
) -> FlagCountTest:
    r"""Is the number of scores above a conformal threshold in line with it?

    With :math:`t = s_{(k)}`, the :math:`k`-th smallest of :math:`m` calibration
    scores, and :math:`n` new rows exchangeable with the calibration rows
    (continuous scores), the flag probability is
    :math:`1 - F(s_{(k)}) \sim \mathrm{Beta}(m + 1 - k, k)` and the number of
    flags is exactly

    .. math:: X \sim \mathrm{BetaBinomial}(n,\; a = m + 1 - k,\; b = k),

    unconditionally over the calibration draw. A Binomial(n, a / (m + 1)) test
    ignores that draw: with :math:`m = 1000`, :math:`\alpha = 0.01` the flag rate
    itself has a 31 % relative standard deviation, so for :math:`n \gg m` the
    binomial test alarms far more often than its level
    (``benchmarks/results/monitoring.md``). The p-value is two-sided,
    :math:`\min(1, 2\min(P(X \le x), P(X \ge x)))`, which keeps its level for a
    discrete law.

    :math:`k` is counted, :math:`k = \#\{i : s_i \le t\}`
    (:func:`calibration_rank`), so any threshold can be tested. When :math:`t` is
    not exactly one calibration score (``evt`` thresholds, ``--threshold``, ties at
    :math:`t`), the true flag probability is only stochastically *smaller* than
    :math:`\mathrm{Beta}(a, b)`: the upper tail stays valid (conservative) but the
    lower tail would alarm on runs that are fine (an ``evt`` threshold far above
    every calibration score expects almost no flags). Then the test is one-sided,
    ``alternative="greater"``, :math:`p = P(X \ge x)`: too many flags only.

    Parameters
    ----------
    n_flags : int
        Rows of the run with a score above ``threshold``.
    n : int
        Rows scored.
    calibration_scores : array-like of shape (m,)
        Anomaly scores of the held-out normal rows the threshold came from.
    threshold : float
        The threshold in use (rows with ``score > threshold`` are flagged).

    Returns
    -------
    FlagCountTest

    Raises
    ------
    ValueError
        When the threshold is below every calibration score (``k = 0``): such a
        threshold has no conformal guarantee to test.

    Examples
    --------
    >>> cal = np.arange(1.0, 1000.0)  # m = 999; t = s_(990) targets FPR 0.01
    >>> test = flag_count_test(10, 1000, cal, 990.0)
    >>> test.a, test.b, test.expected
    (10, 990, 10.0)
    >>> round(test.p_value, 3)
    1.0
    >>> flag_count_test(60, 1000, cal, 990.0).p_value < 1e-6
    True
    >>> far = flag_count_test(0, 10**6, cal, 5000.0)  # EVT-like: above every score
    >>> far.alternative, far.p_value
    ('greater', 1.0)
    """
    m = int(np.asarray(calibration_scores).size)
    k = calibration_rank(calibration_scores, threshold)
    if not 0 <= n_flags <= n:
        raise ValueError(f"n_flags must be in [0, n={n}], got {n_flags}")
    if k == 0:
        raise ValueError(
            f"threshold {threshold:g} is below every calibration score: it "
            "flags more than any calibration row supports and has no conformal "
            "guarantee to test"
        )
    a, b = m + 1 - k, k
    rate = a / (m + 1)
    exact = int(np.count_nonzero(np.asarray(calibration_scores) == threshold)) == 1
    alternative = "two-sided" if exact else "greater"
    if n == 0:
        p_lower = p_upper = p_naive = 1.0
    else:
        law = stats.betabinom(n, a, b)
        p_lower = min(float(law.cdf(n_flags)), 1.0)
        p_upper = min(float(law.sf(n_flags - 1)), 1.0)
        binom = stats.binom(n, rate)
        naive_upper = min(float(binom.sf(n_flags - 1)), 1.0)
        p_naive = (
            _two_sided(float(binom.cdf(n_flags)), naive_upper) if exact else naive_upper
        )
    return FlagCountTest(
        observed=int(n_flags),
        n=int(n),
        k=k,
        n_calibration=m,
        a=a,
        b=b,
        expected_rate=rate,
        expected=n * rate,
        observed_rate=n_flags / n if n else 0.0,
        p_lower=p_lower,
        p_upper=p_upper,
        alternative=alternative,
        p_value=_two_sided(p_lower, p_upper) if exact else p_upper,
        naive_p_value=p_naive,
    )


# ---------------------------------------------------------------- score KS
@dataclass(frozen=True)
class ScoreDriftTest:
    """Two-sample Kolmogorov–Smirnov test of run scores against calibration scores.

    Attributes
    ----------
    statistic : float
        :math:`D = \\sup_s |F_\\text{cal}(s) - F_\\text{run}(s)|`.
    p_value : float
    location : float
        The score at which the two ECDFs differ most.
    direction : str
        ``"higher"`` when the run's scores are stochastically larger there (more
        anomalous), else ``"lower"``.
    n_calibration, n_scores : int
    """

    statistic: float
    p_value: float
    location: float
    direction: str
    n_calibration: int
    n_scores: int


def score_drift_test(
    calibration_scores: ArrayLike, scores: ArrayLike
) -> ScoreDriftTest:
    r"""Do the run's scores come from the calibration scores' distribution?

    :func:`scipy.stats.ks_2samp`, exact when the product of the sample sizes is at
    most :data:`KS_EXACT_MAX`, asymptotic otherwise.
    When the run's rows (or a sample of them chosen independently of their values)
    are exchangeable with the calibration rows, its level is exact *unconditionally*,
    i.e. averaged over calibration draws. Conditional on one fixed calibration
    set, the run's scores are compared with a fixed empirical distribution that
    differs from the true one by :math:`O(m^{-1/2})`, so for one deployed model
    the false-alarm rate can be above or below the level, more so when the run is
    much larger than the calibration set.

    Parameters
    ----------
    calibration_scores : array-like of shape (m,)
    scores : array-like of shape (n,)
        The run's anomaly scores, or a value-independent sample of them.

    Returns
    -------
    ScoreDriftTest

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> score_drift_test(rng.normal(size=500), rng.normal(size=500)).p_value > 0.01
    True
    >>> shifted = score_drift_test(rng.normal(size=500), rng.normal(1, size=500))
    >>> shifted.p_value < 1e-6, shifted.direction
    (True, 'higher')
    """
    cal = _finite(calibration_scores, "calibration_scores")
    s = _finite(scores, "scores")
    if cal.size == 0 or s.size == 0:
        raise ValueError("score_drift_test needs at least one score in each sample")
    res = _ks_2samp(cal, s)
    return ScoreDriftTest(
        statistic=float(res.statistic),
        p_value=float(res.pvalue),
        location=float(res.statistic_location),
        # sign +1: the calibration ECDF is above the run's, i.e. run scores higher
        direction="higher" if int(res.statistic_sign) > 0 else "lower",
        n_calibration=int(cal.size),
        n_scores=int(s.size),
    )


# --------------------------------------------------------------- one alarm
def holm_adjust(p_values: ArrayLike) -> np.ndarray:
    r"""Holm–Bonferroni adjusted p-values.

    With sorted :math:`p_{(1)} \le \dots \le p_{(m)}`,

    .. math:: \tilde p_{(i)} = \max_{j \le i} \min\{1, (m - j + 1)\, p_{(j)}\}.

    Rejecting every test with :math:`\tilde p < \alpha` keeps the family-wise
    error rate at most :math:`\alpha` under any dependence between the tests; the
    alarm (some test rejected) fires iff :math:`m\,p_{(1)} < \alpha`.

    Examples
    --------
    >>> holm_adjust([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64).ravel()
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def score_checks(
    calibration_scores: ArrayLike,
    threshold: float,
    scores: ArrayLike,
    *,
    alpha: float = 0.01,
) -> dict[str, Any]:
    """The flag-count and score-drift tests on bare scores, with one alarm.

    Parameters
    ----------
    calibration_scores : array-like of shape (m,)
        Anomaly scores of the calibration rows (``calibration_scores_``).
    threshold : float
        The threshold in use (``threshold_``).
    scores : array-like of shape (n,)
        The new rows' anomaly scores (higher = more anomalous).
    alpha : float, default=0.01
        Family-wise false-alarm rate of ``alarm``.

    Returns
    -------
    dict
        ``flag_count_test`` and ``score_drift`` (the tests' fields), ``alpha``,
        ``n_tests``, ``min_adjusted_p``, ``alarm`` and ``fired`` (the tests with
        a Holm-adjusted p-value below ``alpha``), as in a run report.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> cal = rng.normal(size=2000)
    >>> t = float(np.sort(cal)[1979])  # conformal threshold at FPR 0.01
    >>> score_checks(cal, t, rng.normal(size=5000))["alarm"]
    False
    >>> drifted = score_checks(cal, t, rng.normal(0.5, size=5000))
    >>> sorted(f["test"] for f in drifted["fired"])
    ['flag_count', 'score_ks']
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in the open interval (0, 1), got {alpha!r}")
    s = _finite(scores, "scores")
    flag = flag_count_test(
        int(np.count_nonzero(s > threshold)), s.size, calibration_scores, threshold
    )
    drift = score_drift_test(calibration_scores, s)
    names = ["flag_count", "score_ks"]
    p = np.array([flag.p_value, drift.p_value])
    adjusted = holm_adjust(p)
    fired = [
        {"test": names[i], "p_value": float(p[i]), "adjusted_p": float(adjusted[i])}
        for i in np.argsort(adjusted, kind="stable")
        if adjusted[i] < alpha
    ]
    return {
        "flag_count_test": asdict(flag),
        "score_drift": asdict(drift),
        "alpha": alpha,
        "n_tests": 2,
        "min_adjusted_p": float(adjusted.min()),
        "alarm": bool(fired),
        "fired": fired,
    }
