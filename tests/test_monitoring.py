"""Tests of anomvae.monitoring: exact small cases against closed forms and scipy,
the determinism and mergeability of the run monitor, the report files, and the
statistical guarantees by simulation (``slow``).

Simulations use fixed seeds and state their Monte Carlo tolerance next to the
assertion. The simulated detector is a fixed function (the squared norm of five
standard-normal features; :mod:`benchmarks.bench_monitoring`), redrawing the
training and calibration rows every repetition: the guarantees are about the
tests, not the network.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats
from scipy.special import betaln, comb

from anomvae.monitoring import (
    CalibrationReference,
    ColumnProfile,
    ReportError,
    RunMonitor,
    TrainingProfile,
    blank_rate_test,
    calibration_rank,
    categorical_column_test,
    flag_count_test,
    history_row,
    holm_adjust,
    input_fingerprint,
    make_report,
    new_level_p_value,
    numeric_column_test,
    read_report,
    score_checks,
    score_drift_test,
)
from anomvae.thresholds import conformal_threshold
from benchmarks.bench_monitoring import (
    draw_rows,
    flag_count_false_alarms,
    simulate,
)


# ------------------------------------------------------------ flag count
def _betabinom_pmf(x: np.ndarray, n: int, a: int, b: int) -> np.ndarray:
    """Closed form: C(n, x) B(x + a, n - x + b) / B(a, b)."""
    return comb(n, x) * np.exp(betaln(x + a, n - x + b) - betaln(a, b))


def test_calibration_rank_counts_scores_at_or_below_with_ties() -> None:
    assert calibration_rank([3.0, 1.0, 2.0, 2.0, 5.0], 2.0) == 3
    assert calibration_rank([3.0, 1.0, 2.0], 2.5) == 2
    assert calibration_rank([3.0, 1.0, 2.0], 0.5) == 0
    # the conformal threshold's rank is its order statistic k = ceil((m+1)(1-a))
    cal = np.random.default_rng(0).normal(size=999)
    t = conformal_threshold(cal, 0.01)
    assert calibration_rank(cal, t) == math.ceil(1000 * 0.99)


def test_flag_count_test_matches_the_closed_form_beta_binomial() -> None:
    cal = np.arange(1.0, 200.0)  # m = 199
    t = 190.0  # k = 190, a = 10, b = 190
    n, x = 300, 25
    test = flag_count_test(x, n, cal, t)
    assert (test.k, test.a, test.b, test.n_calibration) == (190, 10, 190, 199)
    assert test.expected_rate == pytest.approx(10 / 200)
    pmf = _betabinom_pmf(np.arange(n + 1), n, 10, 190)
    assert pmf.sum() == pytest.approx(1.0)
    assert test.p_lower == pytest.approx(pmf[: x + 1].sum(), rel=1e-9)
    assert test.p_upper == pytest.approx(pmf[x:].sum(), rel=1e-9)
    assert test.p_value == pytest.approx(min(1, 2 * min(test.p_lower, test.p_upper)))
    binom = stats.binom(n, 10 / 200)
    naive = min(1.0, 2 * min(binom.cdf(x), binom.sf(x - 1)))
    assert test.naive_p_value == pytest.approx(naive)
    assert test.p_value > 0.05 > test.naive_p_value  # 25 vs 15 expected


def test_flag_count_test_refuses_a_threshold_below_every_calibration_score() -> None:
    with pytest.raises(ValueError, match="below every calibration score"):
        flag_count_test(3, 10, [1.0, 2.0], 0.5)
    with pytest.raises(ValueError, match="n_flags must be in"):
        flag_count_test(11, 10, [1.0, 2.0], 1.5)
    assert flag_count_test(0, 0, [1.0, 2.0], 1.5).p_value == 1.0


def test_flag_count_is_beta_binomial_over_calibration_draws() -> None:
    """The law itself: 40,000 draws of (calibration set, run), m = 99, n = 50."""
    rng = np.random.default_rng(7)
    m, n, reps, alpha = 99, 50, 40_000, 0.1
    cal = rng.random((reps, m))  # continuous scores; F = identity
    k = math.ceil((m + 1) * (1 - alpha))
    t = np.partition(cal, k - 1, axis=1)[:, k - 1]
    flags = rng.binomial(n, 1.0 - t)
    observed = np.bincount(flags, minlength=n + 1)
    expected = reps * stats.betabinom(n, m + 1 - k, k).pmf(np.arange(n + 1))
    keep = expected >= 5  # chi-square goodness of fit on the populated cells
    rest = observed[~keep].sum(), expected[~keep].sum()
    chi2 = ((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    chi2 += (rest[0] - rest[1]) ** 2 / rest[1]
    assert stats.chi2.sf(chi2, keep.sum()) > 0.001


@pytest.mark.slow
def test_beta_binomial_keeps_its_level_where_the_binomial_over_alarms() -> None:
    # 20,000 draws: Monte Carlo sd of a 1% rate is 0.07 points
    result = flag_count_false_alarms(10_000, reps=20_000, seed=3)
    assert result["beta_binomial"] <= 0.01 + 0.003
    assert result["binomial"] > 0.3  # n >> m: the calibration draw dominates
    small = flag_count_false_alarms(1_000, reps=20_000, seed=4)
    assert small["beta_binomial"] <= 0.01 + 0.003
    assert small["binomial"] > small["beta_binomial"]


# ------------------------------------------------------------- score KS
def test_score_drift_test_wraps_ks_2samp_with_a_direction() -> None:
    rng = np.random.default_rng(0)
    cal, run = rng.normal(size=800), rng.normal(0.3, size=3000)
    test = score_drift_test(cal, run)
    ref = stats.ks_2samp(cal, run, method="asymp")
    assert test.statistic == pytest.approx(ref.statistic)
    assert test.p_value == pytest.approx(ref.pvalue)
    assert test.direction == "higher"
    assert score_drift_test(cal, run - 1.0).direction == "lower"
    with pytest.raises(ValueError, match="NaN"):
        score_drift_test(cal, [np.nan])


def test_score_checks_on_bare_scores() -> None:
    rng = np.random.default_rng(2)
    cal = rng.normal(size=1999)
    t = conformal_threshold(cal, 0.01)
    quiet = score_checks(cal, t, rng.normal(size=20_000))
    assert not quiet["alarm"]
    assert quiet["n_tests"] == 2
    assert json.loads(json.dumps(quiet)) == quiet
    few_flags = score_checks(cal, t, rng.normal(size=20_000) * 0.7)
    assert few_flags["alarm"]
    assert few_flags["flag_count_test"]["p_lower"] < 1e-6  # too few flags alarms too


# -------------------------------------------------------------- columns
def test_blank_rate_test_is_fisher_exact_with_doubled_tail() -> None:
    table = [[30, 970], [100, 4900]]  # run 3% blank, training 2%
    test = blank_rate_test(100, 5000, 30, 1000)
    less = stats.fisher_exact(table, alternative="less").pvalue
    greater = stats.fisher_exact(table, alternative="greater").pvalue
    assert test.p_value == pytest.approx(min(1.0, 2 * min(less, greater)))
    assert test.run_rate == 0.03
    # never blank in training, blank in the run: p = 2 C(n, r) / C(N + n, r)
    r = 20
    expected = 2 * comb(1000, r, exact=True) / comb(6000, r, exact=True)
    assert blank_rate_test(0, 5000, r, 1000).p_value == pytest.approx(expected)
    assert blank_rate_test(0, 5000, 1000, 1000).p_value < 1e-300
    assert blank_rate_test(0, 5000, 0, 1000).p_value == 1.0


def test_numeric_column_test_measures_the_median_shift_in_iqr_units() -> None:
    rng = np.random.default_rng(1)
    train = rng.normal(size=1024)
    run = np.r_[rng.normal(0.5, size=2000), [np.nan] * 10]
    test = numeric_column_test(train, run, train_median=0.0, train_iqr=1.349)
    assert test.n_run == 2000
    assert test.shift_iqr == pytest.approx(0.5 / 1.349, abs=0.05)
    assert test.p_value < 1e-10
    blank = numeric_column_test(train, [np.nan] * 5)
    assert blank.p_value is None
    assert blank.median_run is None
    constant = numeric_column_test([1.0] * 10, [2.0] * 10, train_iqr=0.0)
    assert constant.shift_iqr is None
    assert constant.median_shift == 1.0


def test_categorical_test_pools_rare_levels_and_lists_new_ones() -> None:
    train = {"a": 6000, "b": 3000, "c": 990, **{f"r{i}": 1 for i in range(10)}}
    same = categorical_column_test(train, {"a": 610, "b": 290, "c": 100})
    assert same.p_value > 0.01
    assert same.cells == 4  # a, b, c and the pooled rare levels
    assert same.new_rows == 0
    assert same.new_p_value == 1.0
    recoded = categorical_column_test(train, {"A": 600, "b": 300, "c": 100})
    assert recoded.new_levels == {"A": 600}
    assert recoded.new_p_value < 1e-100
    assert recoded.p_value < 1e-10  # the known levels' shares moved as well
    assert recoded.shares[0]["level"] in ("a", "A")
    stray = categorical_column_test(train, {"a": 600, "b": 300, "c": 99, "z": 1})
    assert stray.new_rows == 1
    assert stray.new_p_value > 0.5
    # a truncated profile cannot tell new levels: they join the pooled cell
    cut = categorical_column_test(
        {"a": 600, "b": 300}, {"a": 50, "zz": 50}, train_other=100
    )
    assert cut.new_p_value is None
    assert cut.new_rows == 0
    assert cut.p_value < 1e-6


@pytest.mark.slow
def test_new_level_test_keeps_its_level_on_a_column_with_many_rare_levels() -> None:
    """Zipf-distributed levels: new levels appear in many null runs, yet the union
    bound rejects at most alpha of them (1,000 runs: MC sd 0.3 points at 1 %)."""
    rng = np.random.default_rng(5)
    weights = 1.0 / np.arange(1, 3001) ** 1.1
    weights /= weights.sum()
    rejected = with_new = 0
    for _ in range(1000):
        draws = rng.choice(3000, size=3000, p=weights)
        train, run = np.bincount(draws[:2000], minlength=3000), draws[2000:]
        train_levels = {str(i): int(c) for i, c in enumerate(train) if c}
        run_levels = {
            str(k): int(v)
            for k, v in zip(*np.unique(run, return_counts=True), strict=False)
        }
        test = categorical_column_test(train_levels, run_levels)
        with_new += test.new_rows > 0
        assert test.new_p_value is not None
        rejected += test.new_p_value < 0.01
    assert with_new > 900  # new levels are the rule here
    assert rejected / 1000 <= 0.01 + 0.01


def test_new_level_p_value_union_bound() -> None:
    # h(c) = C(n, c) / C(N + n, c); one pooled level of 3 copies, all in the run
    assert new_level_p_value([100, 3], 3, 100, 10) == pytest.approx(
        comb(10, 3) / comb(110, 3)
    )
    assert new_level_p_value([5, 5], 0, 5, 5) == 1.0


def test_holm_adjust_against_a_step_by_step_reference() -> None:
    rng = np.random.default_rng(4)
    p = rng.random(12) ** 3
    order = np.argsort(p)
    ref = np.empty(12)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (12 - rank) * p[i]))
        ref[i] = running
    np.testing.assert_allclose(holm_adjust(p), ref)
    assert holm_adjust([]).size == 0


# ------------------------------------------------------------- profile
def test_training_profile_round_trips_through_json_and_arrays() -> None:
    rng = np.random.default_rng(0)
    data = draw_rows(rng, 5000)
    profile = TrainingProfile.from_data(data)
    config = json.loads(json.dumps(profile.to_dict()))
    arrays = profile.to_arrays()
    assert set(arrays) == {f"profile/sample/{i}" for i in range(5)}
    assert all(a.dtype == np.float64 and a.size == 1024 for a in arrays.values())
    assert len(json.dumps(config)) < 2000  # small enough for a model header
    again = TrainingProfile.from_parts(config, arrays)
    assert again.to_dict() == profile.to_dict()
    for name in ("x0", "x4"):
        np.testing.assert_array_equal(again[name].sample, profile[name].sample)
    assert profile["x4"].blank == int(np.isnan(data["x4"]).sum()) > 0
    assert profile["site"].kind == "categorical"
    assert sum(profile["site"].levels.values()) == 5000
    with pytest.raises(ValueError, match="newer"):
        TrainingProfile.from_parts({**config, "version": 99}, arrays)
    with pytest.raises(ValueError, match="malformed"):
        TrainingProfile.from_parts({"version": 1, "columns": [{}]}, arrays)


def test_training_profile_is_deterministic_and_accepts_arrow_and_pandas() -> None:
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    data = draw_rows(rng, 3000)
    a = TrainingProfile.from_data(data)
    b = TrainingProfile.from_data(
        pa.table({k: pa.array(v, from_pandas=True) for k, v in data.items()})
    )
    c = TrainingProfile.from_data(pd.DataFrame(data))
    for other in (b, c):
        assert other.to_dict() == a.to_dict()
        np.testing.assert_array_equal(other["x0"].sample, a["x0"].sample)
    reseeded = TrainingProfile.from_data(data, random_state=1)
    assert not np.array_equal(reseeded["x0"].sample, a["x0"].sample)
    codes = TrainingProfile.from_data({"code": np.arange(10) % 3}, categorical=["code"])
    assert codes["code"].levels == {"0": 4, "1": 3, "2": 3}


def test_column_profile_caps_levels_with_an_other_count() -> None:
    values = np.array([f"l{i % 50}" for i in range(1000)] + [None] * 7, dtype=object)
    col = ColumnProfile.from_values("c", values, max_levels=10)
    assert len(col.levels) == 10
    assert col.other == 800
    assert col.blank == 7


# --------------------------------------------------------------- monitor
def _setup(seed: int = 0, n_cal: int = 1000) -> tuple[TrainingProfile, Any]:
    from benchmarks.bench_monitoring import detector_scores

    rng = np.random.default_rng(seed)
    profile = TrainingProfile.from_data(draw_rows(rng, 5000))
    cal = detector_scores(draw_rows(rng, n_cal))
    return profile, CalibrationReference(
        cal, conformal_threshold(cal, 0.01), "fpr", 0.01
    )


def _run(rng: np.random.Generator, n: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    from benchmarks.bench_monitoring import detector_scores

    rows = draw_rows(rng, n)
    return rows, detector_scores(rows)


def test_monitor_result_does_not_depend_on_batching_or_merging() -> None:
    profile, cal = _setup()
    rows, scores = _run(np.random.default_rng(1), 30_000)
    whole = RunMonitor(profile, cal, sample_size=5000, source="day1.csv")
    whole.update(rows, scores)
    batched = RunMonitor(profile, cal, sample_size=5000, source="day1.csv")
    for start in range(0, 30_000, 4096):
        part = {k: v[start : start + 4096] for k, v in rows.items()}
        batched.update(part, scores[start : start + 4096])
    # three "partitions" in reverse order, each with its own row numbers
    parts = []
    for start in (20_000, 10_000, 0):
        m = RunMonitor(profile, cal, sample_size=5000, source="day1.csv")
        sl = slice(start, start + 10_000)
        m.update(
            {k: v[sl] for k, v in rows.items()},
            scores[sl],
            rows=np.arange(start + 1, start + 10_001),
        )
        parts.append(m)
    merged = parts[0].merge(parts[1]).merge(parts[2])
    reference = whole.finish()
    assert reference["sample"] == {"rows": 5000, "capacity": 5000}
    assert batched.finish() == reference
    assert merged.finish() == reference
    other_source = RunMonitor(profile, cal, sample_size=5000, source="day2.csv")
    other_source.update(rows, scores)
    assert other_source.finish()["score_drift"] != reference["score_drift"]


def test_monitor_reads_arrow_tables_like_numpy_columns() -> None:
    profile, cal = _setup()
    rows, scores = _run(np.random.default_rng(2), 5000)
    rows["x1"][:3] = np.nan
    rows["site"][:2] = None
    table = pa.table({k: pa.array(v, from_pandas=True) for k, v in rows.items()})
    a, b = RunMonitor(profile, cal), RunMonitor(profile, cal)
    a.update(rows, scores)
    b.update(table, scores)
    assert a.finish() == b.finish()
    result = a.finish()
    by_name = {c["name"]: c for c in result["columns"]}
    assert by_name["x1"]["blank"]["run_blank"] == 3
    assert by_name["site"]["blank"]["run_blank"] == 2


def test_monitor_counts_rows_flags_and_rejects_exactly() -> None:
    profile, cal = _setup()
    rng = np.random.default_rng(3)
    monitor = RunMonitor(profile, cal, sample_size=1000)
    total = flags = 0
    for size in (100, 5000, 1):
        rows, scores = _run(rng, size)
        monitor.update(rows, scores, rejected=2)
        total += size
        flags += int(np.sum(scores > cal.threshold))
    result = monitor.finish()
    assert (result["rows_scored"], result["rows_rejected"]) == (total, 6)
    assert result["rows_read"] == total + 6
    assert result["flags"] == flags == result["flag_count_test"]["observed"]
    assert result["flag_rate"] == pytest.approx(flags / total)
    assert result["calibration"]["n_calibration"] == 1000
    assert result["n_tests"] == 2 + 5 * 2 + 3  # scores, 5 numbers, 1 category
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    names = [c["name"] for c in result["columns"]]
    assert [t["column"] for t in result["top_moved"]] == names[:5]
    ps = [c["p_value"] for c in result["columns"]]
    assert ps == sorted(ps)


def test_monitor_written_flags_may_differ_from_threshold_exceedances() -> None:
    profile, cal = _setup()
    rows, scores = _run(np.random.default_rng(4), 2000)
    monitor = RunMonitor(profile, cal)
    monitor.update(rows, scores, flags=np.zeros(2000, dtype=bool))  # e.g. BH flags
    result = monitor.finish()
    assert result["flags"] == 0
    assert result["flag_count_test"]["observed"] == int(np.sum(scores > cal.threshold))


def test_monitor_names_what_moved() -> None:
    profile, cal = _setup()
    rows, scores = _run(np.random.default_rng(5), 5000)
    rows["x2"] = rows["x2"] * 1000.0
    rows["x3"] = np.full(5000, np.nan)
    rows["site"] = np.where(rows["site"] == "north", "NORTH", rows["site"])
    monitor = RunMonitor(profile, cal)
    monitor.update(rows, scores)
    result = monitor.finish()
    fired = {f["test"] for f in result["fired"]}
    assert {"x2:ks", "x3:blank", "site:new_levels", "site:levels"} <= fired
    assert result["alarm"]
    top = {t["column"] for t in result["top_moved"][:3]}
    assert top == {"x2", "x3", "site"}
    site = next(c for c in result["columns"] if c["name"] == "site")
    assert "NORTH" in site["categorical"]["new_levels"]


def test_monitor_without_calibration_or_with_contamination_skips_score_tests() -> None:
    profile, cal = _setup()
    rows, scores = _run(np.random.default_rng(6), 1000)
    bare = RunMonitor(profile, threshold=cal.threshold)
    bare.update(rows, scores)
    result = bare.finish()
    assert result["calibration"] == "uncalibrated"
    assert result["flag_count_test"] is None
    assert result["score_drift"] is None
    assert result["flags"] == int(np.sum(scores > cal.threshold))
    contaminated = CalibrationReference(cal.scores, cal.threshold, "contamination")
    m = RunMonitor(profile, contaminated)
    m.update(rows, scores)
    assert "contamination" in m.finish()["score_tests_skipped"]
    scores_only = RunMonitor(calibration=cal)
    scores_only.update(scores=scores)
    assert scores_only.finish()["columns"] == []


def test_monitor_refuses_inconsistent_batches() -> None:
    profile, cal = _setup()
    rows, scores = _run(np.random.default_rng(7), 100)
    monitor = RunMonitor(profile, cal)
    with pytest.raises(ValueError, match="differ in length"):
        monitor.update(rows, scores[:50])
    with pytest.raises(ValueError, match="'x0' of the training profile is missing"):
        monitor.update({k: v for k, v in rows.items() if k != "x0"}, scores)
    with pytest.raises(ValueError, match="NaN"):
        monitor.update(rows, np.full(100, np.nan))
    with pytest.raises(ValueError, match="different thresholds"):
        monitor.merge(RunMonitor(profile, cal, threshold=0.0))


def test_calibration_reference_from_a_fitted_calibrator() -> None:
    from sklearn.ensemble import IsolationForest

    from anomvae.calibration import ThresholdCalibrator

    X = np.random.default_rng(0).normal(size=(1500, 3))
    calibrator = ThresholdCalibrator(
        IsolationForest(n_estimators=10, random_state=0),
        target_fpr=0.05,
        random_state=0,
    ).fit(X)
    ref = CalibrationReference.from_calibrator(calibrator)
    assert ref.threshold == calibrator.threshold_
    assert ref.target_fpr == 0.05
    assert ref.method == "fpr"
    np.testing.assert_array_equal(ref.scores, calibrator.calibration_scores_)
    s = -calibrator.score_samples(X[:500])
    checks = score_checks(ref.scores, ref.threshold, s)
    assert checks["flag_count_test"]["k"] == calibration_rank(ref.scores, ref.threshold)


# ---------------------------------------------------------------- reports
def _report(tmp_path: Path, name: str = "run.json", **facts: Any) -> Path:
    profile, cal = _setup()
    rows, scores = _run(np.random.default_rng(8), 1000)
    monitor = RunMonitor(profile, cal)
    monitor.update(rows, scores)
    report = make_report(
        monitor.finish(),
        started=facts.get("started", "2026-05-01T02:00:00Z"),
        finished="2026-05-01T02:00:09Z",
        exit_code=0,
        status="ok",
        model={"path": "model.anomvae", "sha256": "0" * 64},
        input=input_fingerprint("-"),
    )
    path = tmp_path / name
    path.write_text(json.dumps(report, allow_nan=False))
    return path


def test_report_is_strict_json_and_reads_back(tmp_path: Path) -> None:
    path = _report(tmp_path)
    report = read_report(path)
    assert report["report_version"] == 1
    assert report["status"] == "ok"
    assert report["exit_code"] == 0
    assert report["input"] == {"path": "<stdin>"}
    row = history_row(report, str(path))
    assert row["rows"] == 1000
    assert row["alarm"] is False
    assert row["expected_rate"] == pytest.approx(10 / 1001)


def test_failed_run_still_gets_a_report() -> None:
    report = make_report(
        None,
        started="2026-05-01T02:00:00Z",
        finished="2026-05-01T02:00:00Z",
        exit_code=1,
        status="error",
        error="model.anomvae: no such file",
    )
    assert report["alarm"] is False
    assert report["columns"] == []
    assert history_row(report)["flag_rate"] is None
    with pytest.raises(ValueError, match="status must be one of"):
        make_report(None, started="", finished="", exit_code=0, status="fine")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"report_version": 1, "started": "2026', "truncated JSON"),
        ("[1, 2]", "a JSON object is expected"),
        ('{"report_version": 1}', "'started' is missing"),
        (
            '{"report_version": 2, "started": "x", "status": "ok", "exit_code": 0, '
            '"alarm": false}',
            "newer than this anomvae reads",
        ),
        (
            '{"report_version": true, "started": "x", "status": "ok", '
            '"exit_code": 0, "alarm": false}',
            "'report_version' is missing or not int",
        ),
    ],
)
def test_unreadable_reports_are_named(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ReportError, match=match) as info:
        read_report(path)
    assert str(path) in str(info.value)
    with pytest.raises(ReportError, match="cannot read"):
        read_report(tmp_path / "missing.json")


def test_input_fingerprint_hashes_small_files_whole_and_large_ones_at_the_ends(
    tmp_path: Path,
) -> None:
    small = tmp_path / "small.csv"
    small.write_bytes(b"x0,x1\n1,2\n")
    fp = input_fingerprint(small)
    expected = hashlib.sha256((10).to_bytes(8, "little") + b"x0,x1\n1,2\n")
    assert fp["sha256"] == expected.hexdigest()
    assert fp["hashed"] == "full"
    assert fp["bytes"] == 10
    assert fp["modified"].endswith("Z")
    big = tmp_path / "big.bin"
    data = bytearray(np.random.default_rng(0).bytes(5 << 20))
    big.write_bytes(bytes(data))
    head_tail = input_fingerprint(big)
    assert head_tail["hashed"] == "first and last MiB"
    assert input_fingerprint(big, full=True)["sha256"] != head_tail["sha256"]
    data[-1] ^= 1
    big.write_bytes(bytes(data))
    assert input_fingerprint(big)["sha256"] != head_tail["sha256"]
    both = input_fingerprint([small, big])
    assert both["bytes"] == 10 + (5 << 20)
    assert len(both["files"]) == 2


# ------------------------------------------------- guarantees (simulation)
# 200+ repetitions per case, each redrawing training rows (5,000), calibration rows
# (1,000, target FPR 0.01) and the run; the alarm is Holm over all 15 tests.
@pytest.mark.slow
@pytest.mark.parametrize("n", [1000, 10_000])
def test_alarm_false_alarm_rate_is_at_most_alpha(n: int) -> None:
    result = simulate("null", n, reps=200, seed=11)
    # stated: <= 1 %; allowed +1 point of Monte Carlo error (sd 0.7 points at 1 %)
    assert result.alarm_rate <= 0.01 + 0.01
    # the two score tests on their own are near their level (sd 0.7 points)
    assert result.test_rates["flag_count"] <= 0.01 + 0.02
    assert result.test_rates["score_ks"] <= 0.01 + 0.02


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["shift", "units", "blank"])
def test_alarm_power_at_ten_thousand_rows(scenario: str) -> None:
    result = simulate(scenario, 10_000, reps=200, seed=12)
    assert result.alarm_rate >= 0.9
    column = {
        "shift": "x0:ks",
        "units": "x0:ks",
        "blank": "x0:blank",
    }[scenario]
    assert result.test_rates[column] >= 0.9  # and it is the moved column that fires


def test_monitoring_imports_neither_torch_nor_the_cli_nor_the_detectors() -> None:
    import subprocess
    import sys

    code = (
        "import sys, anomvae.monitoring, anomvae.monitoring.report; "
        "bad = [m for m in ('torch', 'pandas', 'anomvae.cli', 'anomvae.base', "
        "'anomvae.detectors') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_flag_count_is_one_sided_for_thresholds_between_calibration_scores() -> None:
    rng = np.random.default_rng(9)
    cal = rng.normal(size=999)
    # an EVT-like threshold far above every calibration score expects ~no flags:
    # a two-sided Beta-Binomial(n, 1, m) test would call 0 flags "too few"
    far = flag_count_test(0, 1_000_000, cal, 10.0)
    assert far.alternative == "greater"
    assert far.p_lower < 0.01 < far.p_value == 1.0
    # ties at the threshold: one-sided as well
    tied = flag_count_test(5, 1000, np.r_[cal, [cal[0]] * 3], cal[0])
    assert tied.alternative == "greater"
    exact = flag_count_test(5, 1000, cal, conformal_threshold(cal, 0.01))
    assert exact.alternative == "two-sided"


def test_monitor_memory_stays_flat_and_it_pickles_for_dask() -> None:
    import pickle

    profile, cal = _setup()
    rng = np.random.default_rng(10)
    monitor = RunMonitor(profile, cal, sample_size=2000, source="part-0")
    for _ in range(30):
        rows, scores = _run(rng, 3000)
        monitor.update(rows, scores)
        kept = sum(chunk[0].size for chunk in monitor._chunks)
        assert kept <= 2 * 2000 + 2000  # at most twice the sample, plus one batch
    clone = pickle.loads(pickle.dumps(monitor))
    assert clone.finish() == monitor.finish()
    assert clone.finish()["sample"] == {"rows": 2000, "capacity": 2000}


def test_rows_rejected_for_a_blank_cell_count_in_the_blank_test() -> None:
    """Until blanks are scored, a column that goes blank shows up as rejects."""
    profile, cal = _setup()
    rows, scores = _run(np.random.default_rng(11), 1000)
    monitor = RunMonitor(profile, cal)
    monitor.update(rows, scores)
    monitor.update(
        {k: v[:0] for k, v in rows.items()},
        scores[:0],
        rejected=4000,
        rejected_blanks={"x1": 4000},
    )
    result = monitor.finish()
    assert result["rows_read"] == 5000
    assert result["rows_rejected"] == 4000
    x1 = next(c for c in result["columns"] if c["name"] == "x1")
    assert x1["blank"]["run_blank"] == 4000
    assert x1["blank"]["run_n"] == 5000
    assert result["fired"][0]["test"] == "x1:blank"
