"""Tests of single input columns against the training profile.

Numbers: KS against the stored training sample, with the median's shift in
training IQRs as the size. Categories: chi-square of the level counts (rare levels
pooled), and a union-bound test for levels missing from training. Every column:
Fisher's exact test of the blank rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from anomvae.monitoring.checks import _ks_2samp, _two_sided

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "MIN_EXPECTED",
    "BlankRateTest",
    "CategoricalDrift",
    "NumericDrift",
    "blank_rate_test",
    "categorical_column_test",
    "new_level_p_value",
    "numeric_column_test",
]

#: Levels whose expected count in either sample is below this are pooled into one
#: cell before the chi-square test (Cochran's rule), chosen from the training
#: counts and the run's size only, so the pooling does not look at the run's counts.
MIN_EXPECTED = 5.0


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
    :math:`p = 2\binom{n}{r}/\binom{N+n}{r}`: any sizeable blank run alarms.

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
