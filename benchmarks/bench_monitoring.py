"""False-alarm rates and powers of the run monitor's alarm, and its cost.

    python -m benchmarks.bench_monitoring [--reps 400] [--quick]

writes ``benchmarks/results/monitoring.md`` and ``monitoring.csv``.

The simulation is the monitor's null hypothesis made concrete. A fixed detector
(the squared norm of five standard-normal features, a blank cell counting 0) scores
rows; each repetition draws new training rows (5,000: the profile), new calibration
rows (1,000: the conformal threshold at target FPR 0.01) and a run of n rows, fed
to :class:`~anomvae.monitoring.RunMonitor` in batches of 4,096. Besides the five
numbers (``x4`` blank in 2 % of rows) there is a categorical column ``site``. The
alarm's family is every test of the report: flag count, score KS, and per column
KS or chi-square + new levels, and blank rate (14 tests).

Scenarios: ``null`` (new rows like the old), ``shift`` (x0 + 0.5 sd), ``units``
(x0 x 1000), ``blank`` (x0 blank in every row), and ``small_shift`` (x0 + 0.1 sd),
where power is limited by the 1,024 training values a profile keeps.

The flag-count comparison with the naive Binomial(n, alpha) test simulates only
the count (vectorised, 20,000 calibration draws per row of the table): the flag
probability of the drawn threshold is exact (chi-square(5) tail).

``update()`` throughput: a 1,000,000-row run in 65,536-row batches of 20 float64
columns (2 % NaN) with scores, as numpy arrays and as a pyarrow Table; CPU time
(``time.process_time``, one thread: robust to other jobs on the machine), best of
5.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from anomvae.monitoring import CalibrationReference, RunMonitor, TrainingProfile
from anomvae.thresholds import conformal_threshold

__all__ = [
    "SCENARIOS",
    "SimulationResult",
    "flag_count_false_alarms",
    "simulate",
    "update_throughput",
]

FEATURES = ("x0", "x1", "x2", "x3", "x4")
LEVELS = np.array(["north", "south", "east", "west"])
LEVEL_P = (0.4, 0.3, 0.2, 0.1)
SCENARIOS = ("null", "shift", "units", "blank", "small_shift")
N_TRAIN, N_CAL, TARGET_FPR, ALPHA, BATCH = 5000, 1000, 0.01, 0.01, 4096
RESULTS = Path(__file__).resolve().parent / "results"


def draw_rows(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """n normal rows: five N(0, 1) features (x4 blank in 2 %) and a site."""
    x = rng.standard_normal((len(FEATURES), n))
    x[4, rng.random(n) < 0.02] = np.nan
    columns: dict[str, np.ndarray] = dict(zip(FEATURES, x, strict=True))
    columns["site"] = LEVELS[rng.choice(len(LEVELS), n, p=LEVEL_P)].astype(object)
    return columns


def detector_scores(columns: dict[str, np.ndarray]) -> np.ndarray:
    """The fixed detector: squared norm of the features, a blank cell counting 0."""
    x = np.stack([columns[f] for f in FEATURES])
    return np.nansum(x * x, axis=0)


def apply_scenario(columns: dict[str, np.ndarray], scenario: str) -> None:
    if scenario == "shift":
        columns["x0"] = columns["x0"] + 0.5
    elif scenario == "units":
        columns["x0"] = columns["x0"] * 1000.0
    elif scenario == "blank":
        columns["x0"] = np.full(columns["x0"].size, np.nan)
    elif scenario == "small_shift":
        columns["x0"] = columns["x0"] + 0.1
    elif scenario != "null":
        raise ValueError(f"unknown scenario {scenario!r}")


def one_run(rng: np.random.Generator, scenario: str, n: int) -> dict[str, Any]:
    """One repetition: fresh training and calibration draws, one monitored run."""
    profile = TrainingProfile.from_data(draw_rows(rng, N_TRAIN))
    cal_scores = detector_scores(draw_rows(rng, N_CAL))
    threshold = conformal_threshold(cal_scores, TARGET_FPR)
    monitor = RunMonitor(
        profile,
        CalibrationReference(cal_scores, threshold, "fpr", TARGET_FPR),
        alpha=ALPHA,
    )
    for start in range(0, n, BATCH):
        batch = draw_rows(rng, min(BATCH, n - start))
        apply_scenario(batch, scenario)
        monitor.update(batch, detector_scores(batch))
    return monitor.finish()


@dataclass
class SimulationResult:
    scenario: str
    n: int
    reps: int
    alarm_rate: float
    #: share of runs in which each test's own (unadjusted) p-value was < alpha
    test_rates: dict[str, float]
    naive_flag_rate: float
    n_tests: int
    seconds: float

    def alarm_ci(self) -> tuple[float, float]:
        """Clopper–Pearson 95 % interval of the alarm rate."""
        k = round(self.alarm_rate * self.reps)
        ci = stats.binomtest(k, self.reps).proportion_ci(0.95)
        return float(ci.low), float(ci.high)


def simulate(scenario: str, n: int, reps: int, seed: int = 0) -> SimulationResult:
    """Alarm rate (and each test's rejection rate at ``alpha``) over ``reps`` runs."""
    rng = np.random.default_rng([seed, SCENARIOS.index(scenario), n])
    start = time.perf_counter()
    alarms = naive = 0
    rejections: dict[str, int] = {}
    n_tests = 0
    for _ in range(reps):
        report = one_run(rng, scenario, n)
        alarms += report["alarm"]
        n_tests = report["n_tests"]
        naive += report["flag_count_test"]["naive_p_value"] < ALPHA
        tests = {
            "flag_count": report["flag_count_test"]["p_value"],
            "score_ks": report["score_drift"]["p_value"],
        }
        for col in report["columns"]:
            tests[f"{col['name']}:blank"] = col["blank"]["p_value"]
            if col["kind"] == "numeric":
                tests[f"{col['name']}:ks"] = col["numeric"]["p_value"]
            else:
                tests[f"{col['name']}:levels"] = col["categorical"]["p_value"]
                tests[f"{col['name']}:new_levels"] = col["categorical"]["new_p_value"]
        for name, p in tests.items():
            rejections[name] = rejections.get(name, 0) + int(
                p is not None and p < ALPHA
            )
    return SimulationResult(
        scenario=scenario,
        n=n,
        reps=reps,
        alarm_rate=alarms / reps,
        test_rates={k: v / reps for k, v in sorted(rejections.items())},
        naive_flag_rate=naive / reps,
        n_tests=n_tests,
        seconds=time.perf_counter() - start,
    )


def flag_count_false_alarms(
    n: int,
    m: int = N_CAL,
    target_fpr: float = TARGET_FPR,
    alpha: float = ALPHA,
    reps: int = 20_000,
    seed: int = 0,
) -> dict[str, float]:
    """False-alarm rates of the Beta-Binomial and the naive Binomial flag tests.

    Scores are chi-square(5) (the simulated detector on normal rows); each
    repetition draws m calibration scores and the run's flag count from the
    drawn threshold's exact flag probability.
    """
    rng = np.random.default_rng([seed, n, m])
    k = math.ceil((m + 1) * (1 - target_fpr) - 1e-9)
    a, b = m + 1 - k, k
    cal = rng.chisquare(5, size=(reps, m))
    t = np.partition(cal, k - 1, axis=1)[:, k - 1]
    flags = rng.binomial(n, stats.chi2.sf(t, 5))
    rate = a / (m + 1)

    def two_sided(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        return np.minimum(1.0, 2.0 * np.minimum(lower, upper))

    bb = stats.betabinom(n, a, b)
    p_bb = two_sided(bb.cdf(flags), bb.sf(flags - 1))
    bi = stats.binom(n, rate)
    p_bi = two_sided(bi.cdf(flags), bi.sf(flags - 1))
    return {
        "n": n,
        "m": m,
        "reps": reps,
        "beta_binomial": float(np.mean(p_bb < alpha)),
        "binomial": float(np.mean(p_bi < alpha)),
        "flag_rate_sd_relative": float(math.sqrt(b / (a * (m + 2)))),
    }


def update_throughput(
    rows: int = 1_000_000, batch: int = 65_536, n_columns: int = 20, repeats: int = 5
) -> dict[str, float]:
    """rows/s of ``RunMonitor.update`` (numpy and Arrow batches) and finish()'s time."""
    import pyarrow as pa

    rng = np.random.default_rng(0)
    names = [f"f{j}" for j in range(n_columns)]
    x = rng.standard_normal((n_columns, batch))
    x[rng.random(x.shape) < 0.02] = np.nan
    columns = dict(zip(names, x, strict=True))
    table = pa.table({k: pa.array(v, from_pandas=True) for k, v in columns.items()})
    scores = rng.chisquare(5, size=batch)
    profile = TrainingProfile.from_data(
        dict(zip(names, rng.standard_normal((n_columns, 5000)), strict=True))
    )
    cal = CalibrationReference(rng.chisquare(5, size=1000), 15.0)
    out: dict[str, float] = {"rows": rows, "batch": batch, "columns": n_columns}
    for kind, data in (("numpy", columns), ("arrow", table)):
        best = best_finish = math.inf
        for _ in range(repeats):
            monitor = RunMonitor(profile, cal)
            start = time.process_time()
            for first in range(0, rows, batch):
                size = min(batch, rows - first)
                part = data if size == batch else _head(data, size)
                monitor.update(
                    part, scores[:size], rows=np.arange(first, first + size) + 1
                )
            best = min(best, time.process_time() - start)
            start = time.process_time()
            monitor.finish()
            best_finish = min(best_finish, time.process_time() - start)
        out[f"{kind}_rows_per_s"] = rows / best
        out[f"{kind}_finish_s"] = best_finish
    out["load_average"] = os.getloadavg()[0]
    out["cpus"] = os.cpu_count() or 0
    return out


def _head(data: Any, size: int) -> Any:
    if isinstance(data, dict):
        return {k: v[:size] for k, v in data.items()}
    return data.slice(0, size)


# ------------------------------------------------------------------ report
def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def write_results(
    sims: list[SimulationResult],
    naive: list[dict[str, float]],
    speed: dict[str, float],
    command: str,
) -> None:
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / "monitoring.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "scenario",
                "n",
                "reps",
                "alarm_rate",
                "ci_low",
                "ci_high",
                "n_tests",
                "naive_binomial_rate",
                "seconds",
            ]
        )
        for s in sims:
            low, high = s.alarm_ci()
            writer.writerow(
                [
                    s.scenario,
                    s.n,
                    s.reps,
                    f"{s.alarm_rate:.4f}",
                    f"{low:.4f}",
                    f"{high:.4f}",
                    s.n_tests,
                    f"{s.naive_flag_rate:.4f}",
                    f"{s.seconds:.1f}",
                ]
            )
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "# Run monitoring: false-alarm rates, powers and cost",
        f"Produced by `{command}` on {stamp}; Python {platform.python_version()}, "
        f"one process. Design: `benchmarks/bench_monitoring.py` (docstring); the "
        f"alarm is Holm–Bonferroni over every test at alpha = {ALPHA}, training "
        f"{N_TRAIN:,} rows, calibration {N_CAL:,} rows at target FPR {TARGET_FPR}, "
        "all redrawn every repetition. 95 % Clopper–Pearson intervals.",
        "",
        "## The alarm",
        "",
        "| scenario | n | repetitions | alarm rate | 95 % CI | tests |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for s in sims:
        low, high = s.alarm_ci()
        lines.append(
            f"| {s.scenario} | {s.n:,} | {s.reps} | {_pct(s.alarm_rate)} | "
            f"{_pct(low)} – {_pct(high)} | {s.n_tests} |"
        )
    lines += [
        "",
        "`null`: the false-alarm rate (stated: at most 1 %). `shift`: x0 + 0.5 sd; "
        "`units`: x0 × 1000; `blank`: x0 blank in every row; `small_shift`: "
        "x0 + 0.1 sd, where the KS test against the profile's 1,024 training "
        "values runs out of power (power).",
        "",
        "## Each test on its own under the null (rejections at p < 0.01)",
        "",
    ]
    nulls = [s for s in sims if s.scenario == "null"]
    if nulls:
        names = list(nulls[0].test_rates)
        lines.append("| test | " + " | ".join(f"n = {s.n:,}" for s in nulls) + " |")
        lines.append("|---|" + "---:|" * len(nulls))
        for name in names:
            lines.append(
                f"| {name} | "
                + " | ".join(_pct(s.test_rates.get(name, 0.0)) for s in nulls)
                + " |"
            )
        lines.append(
            "| naive Binomial flag test (not used) | "
            + " | ".join(_pct(s.naive_flag_rate) for s in nulls)
            + " |"
        )
    lines += [
        "",
        "Blank and new-level tests are conservative (discrete, and x0-x3 are never "
        "blank); KS on scores and columns and the Beta-Binomial count are close "
        "to their level.",
        "",
        "## Flag count: Beta-Binomial against the naive Binomial",
        "",
        f"m = {N_CAL:,} calibration rows, target FPR {TARGET_FPR}, test level "
        f"{ALPHA}; the flag rate of one calibration draw has a relative sd of "
        f"{_pct(naive[0]['flag_rate_sd_relative'])}.",
        "",
        "| run rows n | repetitions | Beta-Binomial false alarms | Binomial false alarms |",
        "|---:|---:|---:|---:|",
    ]
    for r in naive:
        lines.append(
            f"| {r['n']:,} | {r['reps']:,} | {_pct(r['beta_binomial'])} | "
            f"{_pct(r['binomial'])} |"
        )
    lines += [
        "",
        "## Cost of `RunMonitor.update`",
        "",
        f"{speed['rows']:,} rows in batches of {speed['batch']:,}, "
        f"{speed['columns']} float64 columns (2 % NaN) and scores, CPU time, best of 5 "
        f"(load average {speed['load_average']:.1f} on {speed['cpus']} CPUs while "
        "measuring):",
        "",
        "| batch type | update rows/s | finish() s | added to scoring "
        "1M rows at 150k rows/s | at 800k rows/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind in ("numpy", "arrow"):
        rate = speed[f"{kind}_rows_per_s"]
        finish = speed[f"{kind}_finish_s"]
        cost = speed["rows"] / rate + finish  # seconds added to the run
        added = [cost / (speed["rows"] / score_rate) for score_rate in (150e3, 800e3)]
        lines.append(
            f"| {kind} | {rate:,.0f} | {finish:.3f} | {_pct(added[0])} | "
            f"{_pct(added[1])} |"
        )
    lines += [
        "",
        "Added = (update time of all batches + finish()) / scoring time of the "
        "same rows at the rates `anomvae score` reaches (150k rows/s with the "
        "hybrid score, 800k with reconstruction error); process start and model "
        "loading not counted.",
    ]
    lines.append("")
    (RESULTS / "monitoring.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=400)
    parser.add_argument("--quick", action="store_true", help="50 reps, no files")
    args = parser.parse_args(argv)
    reps = 50 if args.quick else args.reps
    sims = []
    for scenario in SCENARIOS:
        for n in (1000, 10_000):
            sim = simulate(
                scenario, n, reps if scenario == "null" else max(reps // 2, 50)
            )
            print(
                f"{scenario:6} n={n:>6}: alarm {sim.alarm_rate:.3f} "
                f"({sim.seconds:.1f} s)",
                flush=True,
            )
            sims.append(sim)
    naive = [flag_count_false_alarms(n) for n in (1000, 10_000, 100_000)]
    for r in naive:
        print(
            f"flag count n={r['n']}: beta-binomial {r['beta_binomial']:.4f}, "
            f"binomial {r['binomial']:.4f}"
        )
    speed = update_throughput()
    print(speed)
    if not args.quick:
        command = "python -m benchmarks.bench_monitoring" + (
            f" --reps {args.reps}" if args.reps != 400 else ""
        )
        write_results(sims, naive, speed, command)


if __name__ == "__main__":
    main()
