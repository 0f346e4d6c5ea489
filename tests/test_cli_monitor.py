"""``anomvae monitor`` through typer's CliRunner: the history table, JSON, the plot,
and every way a report can be missing or broken.

Reports are built with :class:`anomvae.monitoring.RunMonitor` on simulated runs
(no model is fitted), written as ``anomvae score --report`` will write them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from anomvae.cli import app
from anomvae.cli.common import EXIT_DRIFT
from anomvae.cli.monitor import render_table
from anomvae.io import TEMP_SUFFIX
from anomvae.monitoring import (
    CalibrationReference,
    RunMonitor,
    TrainingProfile,
    make_report,
)
from anomvae.thresholds import conformal_threshold
from benchmarks.bench_monitoring import apply_scenario, detector_scores, draw_rows

runner = CliRunner()

# (started, scenario): written in this (unsorted) order
RUNS = [
    ("2026-05-03T02:00:00Z", "units"),
    ("2026-05-01T02:00:00Z", "null"),
    ("2026-05-02T02:00:00Z", "null"),
]


def run(*args: Any) -> Any:
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def error_line(result: Any) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("anomvae monitor: error: "), lines[0]
    return lines[0]


def _report(started: str, scenario: str, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    profile = TrainingProfile.from_data(draw_rows(rng, 3000))
    cal = detector_scores(draw_rows(rng, 999))
    ref = CalibrationReference(cal, conformal_threshold(cal, 0.01), "fpr", 0.01)
    monitor = RunMonitor(profile, ref)
    rows = draw_rows(rng, 2000)
    apply_scenario(rows, scenario)
    monitor.update(rows, detector_scores(rows))
    stats = monitor.finish()
    return make_report(
        stats,
        started=started,
        finished=started,
        exit_code=EXIT_DRIFT if stats["alarm"] else 0,
        status="drift" if stats["alarm"] else "ok",
    )


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("reports")
    for i, (started, scenario) in enumerate(RUNS):
        report = _report(started, scenario, i)
        (folder / f"run{i}.json").write_text(json.dumps(report, allow_nan=False))
    failed = make_report(
        None,
        started="2026-05-04T02:00:00Z",
        finished="2026-05-04T02:00:01Z",
        exit_code=1,
        status="error",
        error="today.csv: no such file",
    )
    (folder / "run3.json").write_text(json.dumps(failed))
    (folder / "notes.txt").write_text("not a report")
    return folder


def test_table_lists_runs_oldest_first(reports: Path) -> None:
    result = run("monitor", reports)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["started", "status", "rows"]
    started = [line.split()[0] for line in lines[1:]]
    assert started == sorted(started)
    assert len(started) == 4
    assert "ALARM" in lines[3]
    assert "x0" in lines[3]
    assert "ALARM" not in lines[1] + lines[2]
    assert lines[4].split()[1] == "error(1)"
    assert result.stderr.strip() == "4 runs: 1 with a drift alarm, 1 failed"


def test_json_is_one_array_for_dashboards(reports: Path) -> None:
    result = run("monitor", reports, "--json", "-q")
    assert result.exit_code == 0
    assert result.stderr == ""
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    assert len(rows) == 4
    assert [r["started"][:10] for r in rows] == [
        "2026-05-01",
        "2026-05-02",
        "2026-05-03",
        "2026-05-04",
    ]
    day3 = rows[2]
    assert day3["alarm"]
    assert day3["status"] == "drift"
    assert day3["exit_code"] == 4
    assert day3["top_moved"][0] == "x0"
    assert "x0:ks" in day3["fired"]
    assert rows[0]["rows"] == 2000
    assert rows[0]["expected_rate"] == pytest.approx(10 / 1000)
    assert rows[3]["flag_rate"] is None


def test_files_and_globs_are_accepted(reports: Path) -> None:
    both = run("monitor", reports / "run1.json", reports / "run0.json", "--json")
    assert [r["path"] for r in json.loads(both.stdout)] == [
        str(reports / "run1.json"),
        str(reports / "run0.json"),
    ]
    pattern = run("monitor", str(reports / "run[12].json"), "--json")
    assert pattern.exit_code == 0
    assert len(json.loads(pattern.stdout)) == 2
    twice = run("monitor", reports, reports / "run0.json", "--json")
    assert len(json.loads(twice.stdout)) == 4  # each file once


def test_plot_is_written_atomically(reports: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "history.png"
    result = run("monitor", reports, "--plot", out)
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(TEMP_SUFFIX)]
    assert f"plot -> {out}" in result.stderr
    bad = run("monitor", reports, "--plot", tmp_path / "history.txt")
    assert bad.exit_code == 2
    assert "--plot" in bad.stderr
    missing_dir = run("monitor", reports, "--plot", tmp_path / "no" / "h.png")
    assert missing_dir.exit_code == 1
    assert "does not exist" in error_line(missing_dir)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"report_version": 1, "started": "2026-05-0', "truncated JSON"),
        ("", "empty JSON"),
        ('{"hello": 1}', "'report_version' is missing"),
    ],
)
def test_a_broken_report_is_named_and_exits_1(
    reports: Path, tmp_path: Path, content: str, message: str
) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text(content)
    result = run("monitor", reports / "run0.json", bad)
    assert result.exit_code == 1
    line = error_line(result)
    assert str(bad) in line
    assert message in line
    assert result.stdout == ""


def test_nothing_to_read_exits_1(tmp_path: Path) -> None:
    empty = run("monitor", tmp_path)
    assert empty.exit_code == 1
    assert "no *.json run reports" in error_line(empty)
    missing = run("monitor", tmp_path / "nope.json")
    assert missing.exit_code == 1
    assert "no such file or directory" in error_line(missing)
    pattern = run("monitor", str(tmp_path / "*.json"))
    assert pattern.exit_code == 1
    assert "no file matches" in error_line(pattern)
    assert run("monitor").exit_code == 2


def test_render_table_aligns_columns() -> None:
    row = {
        "started": "2026-05-01T02:00:00Z",
        "status": "ok",
        "exit_code": 0,
        "rows": 1234567,
        "flag_rate": 0.0123,
        "expected_rate": 0.00999,
        "score_ks": 0.0213,
        "min_adjusted_p": 0.5,
        "alarm": False,
        "top_moved": [],
    }
    lines = render_table(
        [row, {**row, "rows": 5, "alarm": True, "top_moved": ["a", "b"]}]
    ).splitlines()
    assert "1,234,567" in lines[1]
    assert "1.23%" in lines[1]
    assert "1.00%" in lines[1]
    assert lines[1].index("1.23%") == lines[2].index("1.23%")  # right-aligned
    assert lines[2].endswith("ALARM  a, b")


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_has_examples_and_exit_codes(flag: str) -> None:
    result = run("monitor", flag)
    assert result.exit_code == 0
    assert "Examples:" in result.stdout
    assert "Exit codes:" in result.stdout
