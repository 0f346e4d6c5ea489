"""``anomvae score --report``: the run report's fields, the drift exit code, reports
of failed runs, and ``anomvae monitor`` over reports written by real runs.

Models are tiny (8 hidden units, 3 epochs) and fitted once per module through the
command line. The inputs are fresh draws from the training distribution
("normal") and the same rows with one column in other units (x1 x 1000).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import anomvae.monitoring
from anomvae.cli import app
from anomvae.cli.common import EXIT_ANOMALIES, EXIT_DRIFT
from anomvae.io import TEMP_SUFFIX

FEATURES = ["x0", "x1", "x2", "x3"]
TINY = ["--hidden", "8", "--epochs", "3", "--random-state", "0"]
runner = CliRunner()


def run(*args: Any) -> Any:
    """Invoke the app; no run may show a traceback or raise out of the app."""
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _rows(rng: np.random.Generator, n: int, start: int = 0) -> pd.DataFrame:
    frame = pd.DataFrame(rng.normal(size=(n, 4)).round(6), columns=FEATURES)
    frame.insert(0, "id", np.arange(start, start + n))
    return frame


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train.csv, normal.csv, normal2.csv and drifted.csv (x1 in other units)."""
    folder = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    _rows(rng, 1500).to_csv(folder / "train.csv", index=False)
    normal = _rows(rng, 2000, start=10_000)
    normal.to_csv(folder / "normal.csv", index=False)
    _rows(rng, 2000, start=20_000).to_csv(folder / "normal2.csv", index=False)
    normal.assign(x1=normal["x1"] * 1000).to_csv(folder / "drifted.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def model(data: Path) -> Path:
    """A calibrated VAE (fpr:0.01 on 300 held-out rows), fitted through the CLI."""
    path = data / "model.anomvae"
    result = run(
        "fit", data / "train.csv", "-o", path, "-i", "id", "--calibrate", "fpr:0.01",
        *TINY,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return path


@pytest.fixture(scope="module")
def bare_model(data: Path) -> Path:
    path = data / "bare.anomvae"
    result = run("fit", data / "train.csv", "-o", path, "-i", "id", *TINY)
    assert result.exit_code == 0, result.stderr
    return path


def score(data: Path, model: Path, name: str, out: Path, *extra: Any) -> Any:
    return run("score", data / name, "-m", model, "-o", out / "scores.csv", *extra)


def documented_fields() -> list[str]:
    """The field names of the report table in anomvae.monitoring's docstring."""
    doc = inspect.getdoc(anomvae.monitoring) or ""
    table = doc.split("Run report, version 1")[1].split("Examples")[0]
    return re.findall(r"^``(\w+)``  ", table, flags=re.MULTILINE)


# ----------------------------------------------------------------- the report
def test_report_has_every_documented_field_with_its_type(
    data: Path, model: Path, tmp_path: Path
) -> None:
    report_path = tmp_path / "run.json"
    result = score(data, model, "normal.csv", tmp_path, "--report", report_path)
    assert result.exit_code == 0, result.stderr
    report = read(report_path)
    assert list(report) == documented_fields()
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert report["report_version"] == 1
    assert (report["command"], report["status"], report["exit_code"]) == (
        "score",
        "ok",
        0,
    )
    assert report["error"] is None
    for key in ("started", "finished"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", report[key])
    assert report["rows_read"] == report["rows_scored"] == 2000
    assert report["rows_rejected"] == 0
    assert report["flags"] == int(scores["is_anomaly"].sum())
    assert report["flag_rate"] == pytest.approx(report["flags"] / 2000)
    assert isinstance(report["threshold"], float)
    assert report["calibration"] == {
        "method": "fpr",
        "target_fpr": 0.01,
        "threshold": report["threshold"],
        "n_calibration": 300,
        "exchangeable": True,
    }
    flag = report["flag_count_test"]
    assert flag["observed"] == int((scores["score"] > report["threshold"]).sum())
    assert (flag["n"], flag["n_calibration"], flag["alternative"]) == (
        2000,
        300,
        "two-sided",
    )
    assert 0 < flag["p_value"] <= 1
    drift = report["score_drift"]
    assert drift["n_scores"] == 2000
    assert drift["sampled"] is False
    assert 0 <= drift["statistic"] <= 1
    assert 0 < drift["p_value"] <= 1
    assert report["score_tests_skipped"] is None
    assert sorted(c["name"] for c in report["columns"]) == FEATURES
    for column in report["columns"]:
        assert column["kind"] == "numeric"
        assert column["test"] in ("ks", "blank")
        assert column["numeric"]["n_train"] == 1024
        assert column["numeric"]["n_run"] == 2000
        assert column["blank"]["run_blank"] == column["blank"]["train_blank"] == 0
    p = [c["p_value"] for c in report["columns"]]
    assert p == sorted(p)  # sorted by p-value
    assert [t["column"] for t in report["top_moved"]] == [
        c["name"] for c in report["columns"]
    ]
    assert report["alpha"] == 0.01
    assert report["n_tests"] == 2 + 2 * len(FEATURES)  # score tests, KS + blank
    assert 0 < report["min_adjusted_p"] <= 1
    assert (report["alarm"], report["fired"]) == (False, [])
    assert report["sample"] == {"rows": 2000, "capacity": 20_000}
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    assert report["model"] == {"path": str(model), "sha256": digest}
    data_file = data / "normal.csv"
    assert report["input"]["path"] == str(data_file)
    assert report["input"]["bytes"] == data_file.stat().st_size
    assert report["input"]["hashed"] == "full"
    assert report["anomvae_version"] == anomvae.__version__
    # One line on stderr says it, after the scoring summary.
    drift_line = result.stderr.strip().splitlines()[-1]
    assert drift_line.startswith("no drift: smallest Holm-adjusted p-value")
    assert f"report -> {report_path}" in drift_line
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(TEMP_SUFFIX)]


def test_drifted_input_exits_4_after_writing_the_output(
    data: Path, model: Path, tmp_path: Path
) -> None:
    report_path = tmp_path / "run.json"
    summary = tmp_path / "summary.json"
    result = score(
        data, model, "drifted.csv", tmp_path, "--report", report_path,
        "--fail-on-drift", "--summary-json", summary,
    )  # fmt: skip
    assert result.exit_code == EXIT_DRIFT, result.stderr
    assert len(pd.read_csv(tmp_path / "scores.csv")) == 2000  # written all the same
    report = read(report_path)
    assert (report["status"], report["exit_code"], report["alarm"]) == (
        "drift",
        4,
        True,
    )
    fired = {f["test"] for f in report["fired"]}
    assert "x1:ks" in fired
    assert report["top_moved"][0]["column"] == "x1"
    # x 1000 keeps a centred column's median and moves its spread: KS about 0.5
    assert report["columns"][0]["numeric"]["statistic"] > 0.4
    assert all(f["adjusted_p"] < 0.01 for f in report["fired"])
    assert read(summary)["status"] == "drift"
    assert read(summary)["exit_code"] == 4
    assert read(summary)["error"] is None
    warning = result.stderr.strip().splitlines()[-1]
    assert warning.startswith("anomvae score: warning: drift alarm: ")
    assert "x1:ks" in warning

    # Without --fail-on-drift the alarm is reported, and the run succeeds.
    result = score(data, model, "drifted.csv", tmp_path, "--report", report_path)
    assert result.exit_code == 0
    assert read(report_path)["alarm"] is True
    assert "drift alarm" in result.stderr


def test_normal_input_exits_0_with_fail_on_drift(
    data: Path, model: Path, tmp_path: Path
) -> None:
    result = score(data, model, "normal2.csv", tmp_path, "--fail-on-drift")
    assert result.exit_code == 0, result.stderr
    assert "no drift" in result.stderr  # --fail-on-drift alone: no file, one line


def test_drift_wins_over_anomalies(data: Path, model: Path, tmp_path: Path) -> None:
    """Both alarms: exit 4. Flags counted against a threshold the data have moved
    away from mislead; the drift is what to look at first."""
    report_path = tmp_path / "run.json"
    both = ("--fail-on-anomalies", "--fail-on-drift", "--report", report_path)
    result = score(data, model, "drifted.csv", tmp_path, *both)
    assert result.exit_code == EXIT_DRIFT
    assert read(report_path)["status"] == "drift"
    assert read(report_path)["flags"] > 0  # the anomalies are still counted
    # Anomalies without drift: 3, and the report says so.
    result = score(data, model, "normal.csv", tmp_path, *both)
    assert read(report_path)["alarm"] is False
    assert result.exit_code == EXIT_ANOMALIES, result.stderr
    assert (read(report_path)["status"], read(report_path)["exit_code"]) == (
        "anomalies",
        3,
    )


def test_verbose_logs_a_drift_event(data: Path, model: Path, tmp_path: Path) -> None:
    result = score(
        data, model, "drifted.csv", tmp_path, "--fail-on-drift", "--verbose",
        "--drift-alpha", "0.001",
    )  # fmt: skip
    assert result.exit_code == EXIT_DRIFT
    (line,) = [x for x in result.stderr.splitlines() if "event=score.drift" in x]
    assert "level=warning" in line
    assert "alarm=true" in line
    assert "alpha=0.001" in line
    assert "fired=" in line
    assert "top_moved=x1" in line


def test_report_to_stdout(data: Path, model: Path, tmp_path: Path) -> None:
    result = score(data, model, "normal.csv", tmp_path, "--report", "-", "-q")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["rows_scored"] == 2000
    assert result.stderr == ""


# ------------------------------------------------------------------- failures
def test_report_is_written_when_the_run_fails(
    data: Path, model: Path, tmp_path: Path
) -> None:
    report_path = tmp_path / "run.json"
    report_path.write_text("yesterday's report")
    missing = tmp_path / "missing.csv"
    pd.read_csv(data / "normal.csv").drop(columns="x3").to_csv(missing, index=False)
    result = run(
        "score", missing, "-m", model, "-o", tmp_path / "out.csv",
        "--report", report_path, "--fail-on-drift",
    )  # fmt: skip
    assert result.exit_code == 1
    report = read(report_path)
    assert list(report) == documented_fields()
    assert (report["status"], report["exit_code"], report["alarm"]) == (
        "error",
        1,
        False,
    )
    assert "missing column 'x3'" in report["error"]
    assert report["rows_scored"] is None
    assert report["columns"] == []
    assert report["score_tests_skipped"] == "the run failed before scoring"
    assert report["model"]["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert report["input"]["path"] == str(missing)
    assert not (tmp_path / "out.csv").exists()

    # A model that cannot be loaded: the report says so, without its digest.
    result = run(
        "score", data / "normal.csv", "-m", tmp_path / "nope.anomvae",
        "-o", tmp_path / "out.csv", "--report", report_path,
    )  # fmt: skip
    assert result.exit_code == 1
    report = read(report_path)
    assert "model file not found" in report["error"]
    assert report["model"] == {"path": str(tmp_path / "nope.anomvae"), "sha256": None}


@pytest.mark.parametrize(
    "args",
    [
        ["--report", "{out}"],
        ["--report", "{tmp}/r.json", "--summary-json", "{tmp}/r.json"],
        ["--report", "-", "-o", "-"],
        ["--drift-alpha", "0.05"],
        ["--report", "{tmp}/r.json", "--drift-alpha", "0"],
        ["--report", "{tmp}/r.json", "--drift-alpha", "1"],
    ],
)
def test_report_usage_errors_exit_2_without_a_report(
    data: Path, model: Path, tmp_path: Path, args: list[str]
) -> None:
    out = tmp_path / "out.csv"
    args = [a.format(out=out, tmp=tmp_path) for a in args]
    result = run("score", data / "normal.csv", "-m", model, "-o", out, *args)
    assert result.exit_code == 2, result.stderr
    assert not list(tmp_path.iterdir())


def test_unwritable_report_fails_before_scoring(
    data: Path, model: Path, tmp_path: Path
) -> None:
    result = score(
        data, model, "normal.csv", tmp_path, "--report", tmp_path / "no" / "r.json"
    )
    assert result.exit_code == 1
    assert not (tmp_path / "scores.csv").exists()


# --------------------------------------------------------- what feeds the tests
def test_rows_rejected_for_a_blank_cell_count_as_blank(
    data: Path, model: Path, tmp_path: Path
) -> None:
    """An upstream export drops a column's values: with --on-invalid skip the rows
    are rejected, and the column's blank-rate test still sees them."""
    frame = pd.read_csv(data / "normal.csv")
    frame.loc[::4, "x2"] = np.nan  # 500 empty cells
    blanked = tmp_path / "blanked.csv"
    frame.to_csv(blanked, index=False)
    report_path = tmp_path / "run.json"
    result = run(
        "score", blanked, "-m", model, "-o", tmp_path / "out.csv",
        "--on-invalid", "skip", "--report", report_path, "--fail-on-drift",
    )  # fmt: skip
    assert result.exit_code == EXIT_DRIFT, result.stderr
    report = read(report_path)
    assert (report["rows_read"], report["rows_scored"], report["rows_rejected"]) == (
        2000,
        1500,
        500,
    )
    x2 = next(c for c in report["columns"] if c["name"] == "x2")
    assert (x2["blank"]["run_blank"], x2["blank"]["run_n"]) == (500, 2000)
    assert "x2:blank" in {f["test"] for f in report["fired"]}


def test_uncalibrated_model_has_column_tests_only(
    data: Path, bare_model: Path, tmp_path: Path
) -> None:
    report_path = tmp_path / "run.json"
    result = score(
        data, bare_model, "drifted.csv", tmp_path, "--report", report_path,
        "--fail-on-drift",
    )  # fmt: skip
    assert result.exit_code == EXIT_DRIFT, result.stderr
    report = read(report_path)
    assert report["calibration"] == "uncalibrated"
    assert report["score_tests_skipped"] == "no calibration scores"
    assert report["flag_count_test"] is None
    assert report["score_drift"] is None
    assert report["n_tests"] == 2 * len(FEATURES)
    assert "score tests skipped: no calibration scores" in result.stderr


def test_model_files_without_a_profile_have_score_tests_only(
    data: Path, model: Path, tmp_path: Path
) -> None:
    import anomvae
    from anomvae.persistence import load_with_metadata

    old = tmp_path / "old.anomvae"
    loaded, metadata = load_with_metadata(model)
    loaded.detector_.training_profile_ = None  # as a file saved before profiles
    anomvae.save(loaded, old, metadata=metadata)
    assert "training_profile" not in anomvae.persistence.read_config(old)["fitted"]
    report_path = tmp_path / "run.json"
    result = score(data, old, "drifted.csv", tmp_path, "--report", report_path)
    assert result.exit_code == 0, result.stderr
    report = read(report_path)
    assert report["columns"] == []
    assert report["n_tests"] == 2
    assert report["alarm"] is True  # the scores moved: the score tests see it


def test_benjamini_hochberg_flags_are_those_written(data: Path, tmp_path: Path) -> None:
    """A BH model flags only after the whole input: the report counts the final
    flags (the output's is_anomaly), the flag-count test the threshold's
    exceedances."""
    import anomvae
    from anomvae import ThresholdCalibrator, VAEDetector

    train = pd.read_csv(data / "train.csv").drop(columns="id")
    bh = ThresholdCalibrator(
        VAEDetector(hidden_layer_sizes=(8,), max_epochs=3, random_state=0),
        method="conformal",
        fdr=0.2,
        random_state=0,
    ).fit(train)
    path = tmp_path / "bh.anomvae"
    anomvae.save(bh, path)
    report_path = tmp_path / "run.json"
    result = run(
        "score", data / "drifted.csv", "-m", path, "-o", tmp_path / "out.csv",
        "--report", report_path, "--batch-rows", "300",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = pd.read_csv(tmp_path / "out.csv")
    report = read(report_path)
    assert report["flags"] == int(out["is_anomaly"].sum()) > 0
    exceed = int((out["score"] > bh.threshold_).sum())
    assert report["flag_count_test"]["observed"] == exceed


def test_score_job_returns_the_monitor(data: Path, model: Path, tmp_path: Path) -> None:
    from anomvae.jobs import ScoreJob, get_engine
    from anomvae.persistence import load
    from anomvae.reporting import Reporter

    loaded = load(model)
    job = ScoreJob(
        data=str(data / "normal.csv"),
        model_path=str(model),
        output=str(tmp_path / "a.csv"),
        report=True,
        drift_alpha=0.05,
    )
    stats = get_engine("local")(job, loaded, Reporter("score", quiet=True))
    assert stats.monitor is not None
    statistics = stats.monitor.finish()
    assert statistics["rows_scored"] == stats.rows_scored == 2000
    assert statistics["flags"] == stats.anomalies
    assert statistics["alpha"] == 0.05
    job.report = False
    assert get_engine("local")(job, loaded, Reporter("score")).monitor is None


def test_cli_default_alpha_is_the_librarys() -> None:
    from anomvae.cli.score import DEFAULT_DRIFT_ALPHA

    assert DEFAULT_DRIFT_ALPHA == anomvae.monitoring.DEFAULT_ALPHA


# -------------------------------------------------------------------- monitor
def test_monitor_reads_the_reports_of_real_runs(
    data: Path, model: Path, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    days = ["normal.csv", "normal2.csv", "drifted.csv", "missing.csv"]
    codes = []
    for i, name in enumerate(days):
        result = run(
            "score", data / name, "-m", model, "-o", tmp_path / f"day{i}.csv",
            "--report", reports / f"day{i}.json", "--fail-on-drift",
        )  # fmt: skip
        codes.append(result.exit_code)
    assert codes == [0, 0, EXIT_DRIFT, 1]

    result = run("monitor", reports)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 + len(days)
    by_status = {line.split()[1]: line for line in lines[1:]}
    assert set(by_status) == {"ok(0)", "drift(4)", "error(1)"}
    assert "ALARM" in by_status["drift(4)"]
    assert "x1" in by_status["drift(4)"]
    assert "2,000" in by_status["ok(0)"]
    assert "4 runs: 1 with a drift alarm, 1 failed" in result.stderr

    result = run("monitor", reports, "--json")
    history = json.loads(result.stdout)
    assert [r["status"] for r in history].count("ok") == 2
    drifted = next(r for r in history if r["alarm"])
    assert drifted["path"].endswith("day2.json")
    assert drifted["expected_rate"] == pytest.approx(0.01, rel=0.1)
    assert "x1:ks" in drifted["fired"]

    # A report cut short (a full disk, a copy interrupted): named, exit 1.
    text = (reports / "day1.json").read_text()
    (reports / "day1.json").write_text(text[: len(text) // 2])
    result = run("monitor", reports)
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("anomvae monitor: error: ")
    assert "day1.json" in line
    assert "truncated JSON" in line
