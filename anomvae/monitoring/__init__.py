r"""Jobs that watch themselves: flag rate, score drift and moved columns of a run.

A nightly ``anomvae score`` can go wrong without failing: the data drift, an
upstream export changes units, a column goes blank, and the threshold calibrated
months ago flags 30 % of the rows, or none. This package says, for every run,
whether its output can still be trusted, with one alarm whose false-alarm rate is
stated.

=======================  ==============================================================
module                   what it holds
=======================  ==============================================================
:mod:`.checks`           the score tests as pure functions: Beta-Binomial flag count,
                         score KS, Holm's step; :func:`score_checks` on bare scores
:mod:`.columns`          the column tests: KS and median shift, chi-square and new
                         levels, blank rate
:mod:`.profile`          :class:`TrainingProfile`: what a model file stores about its
                         training columns (plain data + float64 samples, no pickle)
:mod:`.monitor`          :class:`RunMonitor`: exact counts and a bounded, mergeable,
                         deterministic row sample, fed batch by batch
:mod:`.report`           :func:`make_report`, :func:`read_report`,
                         :func:`input_fingerprint`, :func:`history_row`
=======================  ==============================================================

No torch, no pandas; nothing here imports :mod:`anomvae.cli` or the detectors.

The tests and the alarm
-----------------------
Under the null hypothesis, the run's rows are exchangeable with the calibration
rows (for the score tests) and with the training rows (for the column tests).

* **Flag count** (:func:`flag_count_test`): the number of run scores above the
  conformal threshold :math:`t = s_{(k)}` is exactly
  :math:`\mathrm{BetaBinomial}(n, m + 1 - k, k)` over calibration draws, two-sided
  p-value :math:`\min(1, 2\min(\text{tails}))` (one-sided, too many flags, for a
  threshold that is not a calibration score).
* **Score drift** (:func:`score_drift_test`): two-sample KS of the calibration
  scores against (a sample of) the run's scores.
* **Columns**: numbers, KS against the stored training sample (and the median's
  shift in training IQRs as the size); categories, chi-square of the level counts
  and a test for levels missing from training; every column, Fisher's exact test
  of its blank rate.
* **Alarm**: Holm–Bonferroni over every test that could be computed; the alarm
  fires when the smallest adjusted p-value is below ``alpha`` (default 0.01), so
  its family-wise false-alarm rate is at most ``alpha``. Measured rates and
  powers: ``benchmarks/results/monitoring.md``
  (``python -m benchmarks.bench_monitoring``).

Run report, version 1
---------------------
One JSON object per run that started (``anomvae score --report run.json``);
``null`` where a value does not apply or the run failed before it was known.

=======================  ==============================================================
field                    meaning
=======================  ==============================================================
``report_version``       1; readers refuse newer versions
``command``              ``"score"``
``started``              UTC ISO 8601 start time (``2026-05-01T02:00:00Z``); runs
                         are ordered by it
``finished``             UTC ISO 8601 end time
``status``               ``"ok"``, ``"anomalies"`` (``--fail-on-anomalies`` hit),
                         ``"drift"`` (``--fail-on-drift`` hit) or ``"error"``
``exit_code``            the process's exit code (0, 1, 3, 4, 130, 143...)
``error``                the one-line error message of a failed run
``rows_read``            data rows read: ``rows_scored + rows_rejected``
``rows_scored``          rows scored (and written)
``rows_rejected``        rows rejected by ``--on-invalid skip``
``flags``                rows flagged (``is_anomaly`` in the output)
``flag_rate``            ``flags / rows_scored``
``threshold``            the threshold in use (model's or ``--threshold``)
``calibration``          ``"uncalibrated"``, or ``method``, ``target_fpr`` (fpr and
                         conformal methods), ``threshold``, ``n_calibration``,
                         ``exchangeable`` (False for ``contamination``)
``flag_count_test``      ``observed`` (scores > threshold), ``n``, ``k``,
                         ``n_calibration``, ``a``, ``b``, ``expected_rate``,
                         ``expected``, ``observed_rate``, ``p_lower``
                         (:math:`P(X\le x)`), ``p_upper`` (:math:`P(X\ge x)`),
                         ``alternative`` (``"two-sided"`` when the threshold is
                         one calibration score, else ``"greater"``), ``p_value``,
                         ``naive_p_value`` (Binomial, for comparison; not used)
``score_drift``          KS of run scores vs calibration scores: ``statistic``,
                         ``p_value``, ``location``, ``direction`` (``"higher"``:
                         run scores larger), ``n_calibration``, ``n_scores``,
                         ``sampled`` (True when the run's sample was used)
``score_tests_skipped``  why the two score tests did not run, or null
``columns``              one object per profiled column, sorted by ``p_value``:
                         ``name``, ``kind``, ``test`` and ``p_value`` (its smallest
                         raw p-value), ``adjusted_p`` (smallest Holm-adjusted),
                         ``blank`` (``train_blank``, ``train_n``, ``run_blank``,
                         ``run_n``, ``train_rate``, ``run_rate``, ``p_value``;
                         the run's counts include rows rejected for a blank cell
                         in this column),
                         ``numeric`` (``median_train``, ``median_run``,
                         ``median_shift``, ``shift_iqr``, KS ``statistic`` and
                         ``p_value``, ``n_train``, ``n_run``) or ``categorical``
                         (chi-square ``statistic``, ``dof``, ``p_value``, ``cells``;
                         ``shares``: levels whose share moved most, with
                         ``train_share`` and ``run_share``; ``new_rows``,
                         ``new_levels`` (level: count), ``new_p_value``)
``top_moved``            up to 5 columns with the smallest p-values: ``column``,
                         ``test``, ``p_value``, ``adjusted_p``, ``shift_iqr``
``alpha``                family-wise false-alarm rate of ``alarm``
``n_tests``              tests in the Holm family
``min_adjusted_p``       smallest Holm-adjusted p-value
``alarm``                True when some test's adjusted p-value is below ``alpha``
``fired``                those tests: ``test`` (``flag_count``, ``score_ks``,
                         ``COLUMN:ks``, ``COLUMN:blank``, ``COLUMN:levels``,
                         ``COLUMN:new_levels``), ``p_value``, ``adjusted_p``
``sample``               the row sample behind the KS tests: ``rows``, ``capacity``
``model``                the model file: ``path``, ``sha256``
``input``                :func:`input_fingerprint` of the input
``anomvae_version``      version that wrote the report
=======================  ==============================================================

Examples
--------
>>> import numpy as np
>>> from anomvae.monitoring import score_checks
>>> rng = np.random.default_rng(0)
>>> cal = rng.normal(size=999)
>>> threshold = float(np.sort(cal)[989])  # conformal threshold, target FPR 0.01
>>> score_checks(cal, threshold, rng.normal(size=10_000))["alarm"]
False
>>> score_checks(cal, threshold, 2 * rng.normal(size=10_000))["alarm"]
True
"""

from __future__ import annotations

from anomvae.monitoring.checks import (
    FlagCountTest,
    ScoreDriftTest,
    calibration_rank,
    flag_count_test,
    holm_adjust,
    score_checks,
    score_drift_test,
)
from anomvae.monitoring.columns import (
    BlankRateTest,
    CategoricalDrift,
    NumericDrift,
    blank_rate_test,
    categorical_column_test,
    new_level_p_value,
    numeric_column_test,
)
from anomvae.monitoring.monitor import (
    DEFAULT_ALPHA,
    RUN_SAMPLE_SIZE,
    CalibrationReference,
    RunMonitor,
)
from anomvae.monitoring.profile import ColumnProfile, TrainingProfile
from anomvae.monitoring.report import (
    REPORT_VERSION,
    ReportError,
    history_row,
    input_fingerprint,
    make_report,
    read_report,
)

__all__ = [
    "DEFAULT_ALPHA",
    "REPORT_VERSION",
    "RUN_SAMPLE_SIZE",
    "BlankRateTest",
    "CalibrationReference",
    "CategoricalDrift",
    "ColumnProfile",
    "FlagCountTest",
    "NumericDrift",
    "ReportError",
    "RunMonitor",
    "ScoreDriftTest",
    "TrainingProfile",
    "blank_rate_test",
    "calibration_rank",
    "categorical_column_test",
    "flag_count_test",
    "history_row",
    "holm_adjust",
    "input_fingerprint",
    "make_report",
    "new_level_p_value",
    "numeric_column_test",
    "read_report",
    "score_checks",
    "score_drift_test",
]
