r"""The tests behind a run report, as plain functions of counts and arrays.

=========================  ==========================================================
function                   null hypothesis (what "no drift" means)
=========================  ==========================================================
:func:`flag_count_test`    the run's rows are exchangeable with the calibration rows,
                           so the count of scores above a conformal threshold is
                           Beta-Binomial (exact, over calibration draws)
:func:`score_drift_test`   the run's scores and the calibration scores come from one
                           distribution (two-sample Kolmogorov–Smirnov)
:func:`numeric_column_test`  a column's run values and the stored training sample come
                           from one distribution (KS; plus the median's shift in
                           training-IQR units, a size, not a test)
:func:`categorical_column_test`  same level frequencies (chi-square on the 2 x L
                           table) and no level missing from training in many rows
:func:`blank_rate_test`    same share of blank cells (Fisher's exact test)
:func:`holm_adjust`        one alarm for many tests: family-wise error <= alpha
=========================  ==========================================================

Each test returns a small frozen dataclass; ``dataclasses.asdict`` gives the JSON
form used in run reports. :func:`score_checks` runs the two score tests and the
Holm step on bare score arrays (what ``ThresholdCalibrator`` exposes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "BlankRateTest",
    "CategoricalDrift",
    "FlagCountTest",
    "NumericDrift",
    "ScoreDriftTest",
    "blank_rate_test",
    "calibration_rank",
    "categorical_column_test",
    "flag_count_test",
    "holm_adjust",
    "new_level_p_value",
    "numeric_column_test",
    "score_checks",
    "score_drift_test",
]

#: Levels whose expected count in either sample is below this are pooled into one
#: cell before the chi-square test (Cochran's rule), chosen from the training
#: counts and the run's size only, so the pooling does not look at the run's counts.
MIN_EXPECTED = 5.0


#: Largest product of the two sample sizes for which KS p-values are computed
#: exactly; above it the asymptotic law is accurate to a few 1e-3 and the exact
#: computation (quadratic in the sizes) would cost milliseconds per column.
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
    p_value : float
        Two-sided: :math:`\min(1, 2 \min(p_\text{lower}, p_\text{upper}))`.
    naive_p_value : float
        The same two-sided rule under Binomial(n, expected_rate), which ignores the
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
    if n == 0:
        p_lower = p_upper = p_naive = 1.0
    else:
        law = stats.betabinom(n, a, b)
        p_lower = float(law.cdf(n_flags))
        p_upper = float(law.sf(n_flags - 1))
        binom = stats.binom(n, rate)
        p_naive = _two_sided(float(binom.cdf(n_flags)), float(binom.sf(n_flags - 1)))
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
        p_lower=min(p_lower, 1.0),
        p_upper=min(p_upper, 1.0),
        p_value=_two_sided(p_lower, p_upper),
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


# ------------------------------------------------------------------ columns
@dataclass(frozen=True)
class BlankRateTest:
    """Blank cells in the run against training (Fisher's exact test, two-sided)."""

    train_blank: int
    train_n: int
    run_blank: int
    run_n: int
    train_rate: float
    run_rate: float
    p_value: float


def blank_rate_test(
    train_blank: int, train_n: int, run_blank: int, run_n: int
) -> BlankRateTest:
    r"""Has a column's share of blank cells changed since training?

    Fisher's exact test on the 2 x 2 table (blank, filled) x (training, run):
    given the :math:`B` blank cells among the :math:`N + n` rows, the run's count
    is hypergeometric, and the two-sided p-value doubles the smaller tail,
    :math:`\min(1, 2\min(P(X \le x), P(X \ge x)))` (as :func:`flag_count_test`;
    scipy's minimum-likelihood variant costs ten times more). A column never
    blank in training and blank in :math:`r` of :math:`n` run rows gets
    :math:`p = 2inom{n}{r}/inom{N+n}{r}`: any sizeable blank run alarms.

    Examples
    --------
    >>> blank_rate_test(0, 5000, 1000, 1000).p_value < 1e-100
    True
    >>> blank_rate_test(50, 5000, 10, 1000).p_value
    1.0
    """
    for name, value, total in (
        ("train_blank", train_blank, train_n),
        ("run_blank", run_blank, run_n),
    ):
        if not 0 <= value <= total:
            raise ValueError(f"{name} must be in [0, {total}], got {value}")
    blanks, rows = train_blank + run_blank, train_n + run_n
    if run_n == 0 or train_n == 0 or blanks in (0, rows):
        p = 1.0
    else:
        p_lower = float(stats.hypergeom.cdf(run_blank, rows, blanks, run_n))
        p_upper = float(stats.hypergeom.sf(run_blank - 1, rows, blanks, run_n))
        p = _two_sided(p_lower, p_upper)
    return BlankRateTest(
        train_blank=int(train_blank),
        train_n=int(train_n),
        run_blank=int(run_blank),
        run_n=int(run_n),
        train_rate=train_blank / train_n if train_n else 0.0,
        run_rate=run_blank / run_n if run_n else 0.0,
        p_value=p,
    )


@dataclass(frozen=True)
class NumericDrift:
    """A numeric column's run values against training.

    Attributes
    ----------
    median_train, median_run : float or None
    median_shift : float or None
        ``median_run - median_train``.
    shift_iqr : float or None
        ``median_shift / iqr_train`` (None when the training IQR is 0).
    statistic, p_value : float or None
        Two-sample KS of the run values against the stored training sample (None
        without a value on one side).
    n_train, n_run : int
        Values compared.
    """

    median_train: float | None
    median_run: float | None
    median_shift: float | None
    shift_iqr: float | None
    statistic: float | None
    p_value: float | None
    n_train: int
    n_run: int


def numeric_column_test(
    train_sample: ArrayLike,
    values: ArrayLike,
    *,
    train_median: float | None = None,
    train_iqr: float | None = None,
) -> NumericDrift:
    r"""Has a numeric column moved since training?

    The size of the move is the median's shift in training interquartile ranges,

    .. math:: \Delta = \frac{\operatorname{med}(x_\text{run}) -
              \operatorname{med}(x_\text{train})}{\mathrm{IQR}_\text{train}},

    and the test is :func:`scipy.stats.ks_2samp` of the run's values against the
    stored training sample (both without blanks), sensitive to any change of
    distribution (location, scale, units, a spike). Ties (integer columns) make it
    conservative.

    Parameters
    ----------
    train_sample : array-like
        Non-blank training values (a value-independent sample).
    values : array-like
        The run's values (NaN = blank, dropped).
    train_median, train_iqr : float, optional
        The full training column's median and IQR; default: the sample's.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> moved = numeric_column_test(rng.normal(size=1000), rng.normal(size=1000) * 1000)
    >>> moved.p_value < 1e-6
    True
    """
    train = np.asarray(train_sample, dtype=np.float64).ravel()
    train = train[~np.isnan(train)]
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[~np.isnan(x)]
    if train_median is None and train.size:
        train_median = float(np.median(train))
    if train_iqr is None and train.size:
        q1, q3 = np.percentile(train, [25.0, 75.0])
        train_iqr = float(q3 - q1)
    median_run = float(np.median(x)) if x.size else None
    shift = shift_iqr = None
    if median_run is not None and train_median is not None:
        shift = median_run - train_median
        if train_iqr:
            shift_iqr = shift / train_iqr
    statistic = p = None
    if x.size and train.size:
        res = _ks_2samp(train, x)
        statistic, p = float(res.statistic), float(res.pvalue)
    return NumericDrift(
        median_train=train_median,
        median_run=median_run,
        median_shift=shift,
        shift_iqr=shift_iqr,
        statistic=statistic,
        p_value=p,
        n_train=int(train.size),
        n_run=int(x.size),
    )


@dataclass(frozen=True)
class CategoricalDrift:
    """A categorical column's run levels against training.

    Attributes
    ----------
    statistic, dof, p_value : float, int, float
        Pearson chi-square on the 2 x L table of known levels (rare ones pooled).
    cells : int
        Columns of the table after pooling.
    shares : list of dict
        Up to 10 levels whose share of the rows moved most: ``level``,
        ``train_share``, ``run_share``.
    new_rows : int
        Run rows whose level no training row had.
    new_levels : dict of str to int
        The most frequent of those levels (up to 20) with their run counts.
    new_p_value : float or None
        :func:`new_level_p_value`; None when the training profile kept only some
        levels (then a level outside them may have been seen in training).
    """

    statistic: float
    dof: int
    p_value: float
    cells: int
    shares: list[dict[str, Any]]
    new_rows: int
    new_levels: dict[str, int]
    new_p_value: float | None


def _log_all_in_run(c: np.ndarray, n: int, total: int) -> np.ndarray:
    """log of C(n, c) / C(total, c): all c copies of a level fall in the run."""
    from scipy.special import gammaln

    c = np.asarray(c, dtype=np.float64)
    out = np.full(c.shape, -np.inf)
    ok = c <= n
    cc = c[ok]
    out[ok] = gammaln(n + 1) - gammaln(n - cc + 1) + gammaln(total - cc + 1)
    out[ok] -= gammaln(total + 1)
    return out


def new_level_p_value(
    pooled_counts: ArrayLike, largest_new: int, n_train: int, n_run: int
) -> float:
    r"""p-value of a level missing from training appearing ``largest_new`` times.

    Under exchangeability, given the pooled level counts :math:`c_l` of the
    :math:`N + n` rows, the rows split into training and run uniformly at
    random, and all :math:`c` copies of a level land in the run with probability
    :math:`h(c) = \binom{n}{c} / \binom{N+n}{c}`. With :math:`T` the largest run
    count of a level unseen in training, the union bound

    .. math:: P(T \ge c) \le \sum_{l : c_l \ge c} h(c_l)

    is a valid p-value. An upstream recoding (``"A"`` becoming ``"a"``) puts a new
    level in many rows and gets :math:`p \approx (n/(N+n))^{c}`; a single stray
    value does not alarm by itself (rows are the detector's job), which keeps the
    level for columns with rare levels.

    Examples
    --------
    >>> new_level_p_value([3000, 2000, 50], 50, 5000, 1000) < 1e-30
    True
    >>> new_level_p_value([3000, 2000, 1], 1, 5000, 1000) > 0.1
    True
    """
    if largest_new <= 0:
        return 1.0
    c = np.asarray(pooled_counts, dtype=np.float64)
    c = c[c >= largest_new]
    log_h = _log_all_in_run(c, n_run, n_train + n_run)
    return float(min(1.0, np.exp(log_h).sum()))


def categorical_column_test(
    train_levels: Mapping[str, int],
    run_levels: Mapping[str, int],
    *,
    train_other: int = 0,
    run_unlisted: int = 0,
    min_expected: float = MIN_EXPECTED,
) -> CategoricalDrift:
    r"""Have a categorical column's level frequencies changed since training?

    Levels seen in training keep their own cell when at least ``min_expected``
    rows are expected in it on both sides (from the training share and the run
    size); the others, and training's ``other`` bucket, share one pooled cell.
    The 2 x L table goes to :func:`scipy.stats.chi2_contingency` (no continuity
    correction). Levels no training row had are tested apart
    (:func:`new_level_p_value`) and listed.

    Parameters
    ----------
    train_levels : mapping of str to int
        Training rows per kept level (blanks excluded).
    run_levels : mapping of str to int
        The run's rows per level (blanks excluded).
    train_other : int, default=0
        Training rows of levels the profile did not keep. When > 0, run levels
        outside ``train_levels`` count in the pooled cell, not as new.
    run_unlisted : int, default=0
        Run rows of levels the monitor stopped listing (too many distinct new
        levels); counted as new rows.
    min_expected : float, default=5

    Examples
    --------
    >>> same = categorical_column_test({"a": 700, "b": 300}, {"a": 72, "b": 28})
    >>> same.p_value > 0.05, same.new_rows
    (True, 0)
    >>> recoded = categorical_column_test({"a": 700, "b": 300}, {"A": 70, "b": 30})
    >>> recoded.new_levels, recoded.new_p_value < 1e-30
    ({'A': 70}, True)
    """
    known = {str(k): int(v) for k, v in train_levels.items() if v > 0}
    truncated = train_other > 0
    run_known = {lvl: int(run_levels.get(lvl, 0)) for lvl in known}
    unseen = {str(k): int(v) for k, v in run_levels.items() if k not in known and v > 0}
    new = {} if truncated else unseen
    n_train = sum(known.values()) + train_other
    outside = sum(unseen.values()) + run_unlisted  # run rows of unkept levels
    n_tested = sum(run_known.values()) + (outside if truncated else 0)
    # pooling decided from training counts and the run's size only
    big: list[str] = []
    pooled_train = train_other
    pooled_run = outside if truncated else 0
    for lvl, cnt in known.items():
        if min(cnt, cnt * n_tested / max(n_train, 1)) >= min_expected:
            big.append(lvl)
        else:
            pooled_train += cnt
            pooled_run += run_known[lvl]
    table = [[known[lvl] for lvl in big], [run_known[lvl] for lvl in big]]
    if pooled_train + pooled_run:
        table[0].append(pooled_train)
        table[1].append(pooled_run)
    statistic, dof, p = 0.0, 0, 1.0
    cells = len(table[0])
    if cells >= 2 and n_tested > 0 and n_train > 0:
        res = stats.chi2_contingency(np.array(table), correction=False)
        statistic, dof, p = float(res.statistic), int(res.dof), float(res.pvalue)
    n_run_all = n_tested + (0 if truncated else outside)
    moved = []
    for lvl in set(known) | set(unseen):
        train_share = known.get(lvl, 0) / n_train if n_train else 0.0
        run_share = run_levels.get(lvl, 0) / n_run_all if n_run_all else 0.0
        moved.append((-abs(run_share - train_share), lvl, train_share, run_share))
    moved.sort()
    shares = [
        {"level": lvl, "train_share": train, "run_share": run}
        for _, lvl, train, run in moved[:10]
    ]
    new_rows = sum(new.values()) + (0 if truncated else run_unlisted)
    new_p: float | None = None
    if not truncated:
        largest = max(new.values(), default=0)
        if largest == 0 and run_unlisted:
            largest = 1
        pooled = [known[lvl] + run_known[lvl] for lvl in known] + list(new.values())
        new_p = new_level_p_value(pooled, largest, n_train, n_run_all)
        if run_unlisted and largest:  # unlisted levels: at most run_unlisted/largest
            extra = (run_unlisted // largest) * math.exp(
                float(
                    _log_all_in_run(
                        np.array([largest]), n_run_all, n_train + n_run_all
                    )[0]
                )
            )
            new_p = min(1.0, new_p + extra)
    top_new = dict(sorted(new.items(), key=lambda kv: (-kv[1], kv[0]))[:20])
    return CategoricalDrift(
        statistic=statistic,
        dof=dof,
        p_value=min(p, 1.0),
        cells=cells,
        shares=shares,
        new_rows=new_rows,
        new_levels=top_new,
        new_p_value=new_p,
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
