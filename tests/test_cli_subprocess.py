"""The command line as a scheduler runs it: real processes, exit codes, pipes,
signals. The model is fitted once, in-process; each test starts ``python -m
anomvae`` (a few seconds each: the process imports torch)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from anomvae.cli import app
from anomvae.io import TEMP_SUFFIX

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
HEADER = "id,x0,x1,x2,x3\n"


def anomvae(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "anomvae", *map(str, args)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
        **kwargs,  # type: ignore[call-overload]
    )


def rows(start: int, stop: int, *, anomalies: bool = False) -> str:
    values = np.random.default_rng(start).normal(size=(stop - start, 4))
    if anomalies:
        values[:3] = 30.0
    return "".join(
        f"r{i}," + ",".join(f"{v:.6f}" for v in row) + "\n"
        for i, row in zip(range(start, stop), values, strict=True)
    )


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX)]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("proc")
    (folder / "train.csv").write_text(HEADER + rows(0, 300))
    path = folder / "model.anomvae"
    result = CliRunner().invoke(
        app,
        ["fit", str(folder / "train.csv"), "-o", str(path), "-i", "id",
         "--hidden", "8", "--epochs", "3", "--random-state", "0", "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return path


def test_version_and_help_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from anomvae.cli import main\n"
        "sys.argv = ['anomvae', 'score', '--help']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code == 0\n"
        "print(sorted(m for m in ('torch', 'pandas', 'sklearn') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().endswith("[]")
    done = anomvae("--version")
    assert done.returncode == 0
    assert done.stdout.startswith("anomvae ")


def test_stdin_to_stdout_and_fail_on_anomalies(model: Path, tmp_path: Path) -> None:
    data = HEADER + rows(1000, 1200, anomalies=True)
    summary = tmp_path / "summary.json"
    args = ["score", "-", "-m", model, "-o", "-", "-i", "id", "--summary-json", summary]
    done = anomvae(*args, "--fail-on-anomalies", input=data)
    assert done.returncode == 3, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "id,score,is_anomaly"
    assert len(lines) == 201
    assert lines[1].startswith("r1000,")
    assert lines[1].endswith(",true")
    assert "anomalies" in done.stderr
    facts = json.loads(summary.read_text())
    assert (facts["exit_code"], facts["input"], facts["output"]) == (
        3,
        "<stdin>",
        "<stdout>",
    )
    done = anomvae(*args, "--threshold", "1e9", "--fail-on-anomalies", input=data)
    assert done.returncode == 0


def test_exit_codes_for_data_and_usage_errors(model: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    out.write_text("yesterday\n")
    (tmp_path / "in.csv").write_text(HEADER + rows(0, 5) + "r5,1,2,oops,4\n")
    done = anomvae("score", tmp_path / "in.csv", "-m", model, "-o", out)
    assert done.returncode == 1
    assert done.stderr == (
        f"anomvae score: error: {tmp_path / 'in.csv'}: row 6, column 'x2': "
        "'oops' is not a number\n"
    )
    assert out.read_text() == "yesterday\n"
    assert temp_files(tmp_path) == []
    done = anomvae("score", tmp_path / "in.csv", "-m", model, "-o", out, "--sep", "::")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "Invalid value for '--sep'" in done.stderr


def test_broken_pipe_is_one_line(model: Path, tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text(HEADER + rows(0, 200_000))
    shell = (
        f"{sys.executable} -m anomvae score {tmp_path / 'in.csv'} -m {model} -o - "
        "| head -n 2"
    )
    done = subprocess.run(
        ["bash", "-c", shell + "; echo rc=${PIPESTATUS[0]} >&2"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert done.stdout.splitlines()[0] == "id,score,is_anomaly"  # id from fit -i id
    assert "Traceback" not in done.stderr
    assert "rc=1" in done.stderr
    assert "broken pipe" in done.stderr.lower()


def start_blocked_score(model: Path, out: Path, *extra: str) -> subprocess.Popen[bytes]:
    """A score run blocked mid-input: stdin gets a few blocks of rows, then
    nothing. Returns once it has scored and written rows (the temporary output
    is not empty) and waits for more input, so a signal lands mid-run every time.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "anomvae", "score", "-", "-m", str(model),
         "-o", str(out), "-i", "id", "--block-size", "65536", *extra],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )  # fmt: skip
    assert proc.stdin is not None
    proc.stdin.write((HEADER + rows(0, 5000)).encode())
    proc.stdin.flush()
    deadline = time.monotonic() + 120
    while not any(p.stat().st_size for p in temp_files(out.parent)):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.05)
    return proc


def stop(proc: subprocess.Popen[bytes], sig: signal.Signals) -> str:
    """Send ``sig``, wait, and return stderr."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        assert proc.stdin is not None
        proc.stdin.close()
    assert proc.stderr is not None
    return proc.stderr.read().decode()


@pytest.mark.parametrize("previous", [True, False])
def test_sigkill_mid_run_leaves_previous_output(
    tmp_path: Path, model: Path, previous: bool
) -> None:
    out = tmp_path / "scores.csv"
    if previous:
        out.write_text("yesterday\n")
    proc = start_blocked_score(model, out)
    stop(proc, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    if previous:
        assert out.read_text() == "yesterday\n"
    else:
        assert not out.exists()
    # SIGKILL cannot be caught: the recognisable temporary file stays behind.
    assert [p.name.startswith(".scores.csv.") for p in temp_files(tmp_path)] == [True]


def test_sigterm_mid_run_cleans_up(tmp_path: Path, model: Path) -> None:
    out = tmp_path / "scores.csv"
    out.write_text("yesterday\n")
    summary = tmp_path / "summary.json"
    proc = start_blocked_score(model, out, "--summary-json", str(summary))
    stderr = stop(proc, signal.SIGTERM)
    assert proc.returncode == 143, stderr
    assert stderr.endswith(
        "anomvae score: error: terminated by SIGTERM; no output was written\n"
    )
    assert "Traceback" not in stderr
    assert out.read_text() == "yesterday\n"
    assert temp_files(tmp_path) == []
    facts = json.loads(summary.read_text())
    assert (facts["status"], facts["exit_code"]) == ("error", 143)
    assert facts["error"].startswith("terminated by SIGTERM")
