"""Benchmark of ``anomvae score`` on large generated CSV files.

For each input size it runs, each in a fresh process:

* the IO reference (:func:`benchmarks.bench_io_reference.reference_time`): read
  every batch with :func:`anomvae.io.read_batches` and write ``id`` + one float
  with :class:`anomvae.io.TableWriter`, the same reader and writer as ``score``;
* ``anomvae score FILE -m MODEL -o OUT --id-column id`` (the real command line).

It reports rows/s, the ratio of ``score`` time to the reference time (the
target is at most 1.5), and the peak RSS of both processes, whose flatness across
input sizes shows that memory does not grow with the input. Peak RSS is the
process's own (``os.wait4``), not the benchmark's.

Two ratios are given: ``ratio_wall`` compares whole processes (the model load and
torch's import, about 2 s, count against ``score``); ``ratio_loop`` compares the
streaming loops alone (``score``'s loop from its ``--verbose`` log, the reference's
``total_s``), which is what grows with the file.

The model is the default autoencoder scored by reconstruction error
(``--score-type default`` keeps the library's default score instead, whose cost
is then measured too).

Run ``python -m benchmarks.bench_cli --sizes 500000,2000000``; ``--json`` prints
the numbers as JSON; arguments after ``--`` go to ``anomvae score``.

``--report-overhead`` measures instead what ``anomvae score --report`` costs
(:func:`bench_report_overhead`): one calibrated model (``fit --calibrate
fpr:0.01``), one input of ``--rows`` rows (default 1,000,000), then ``score``
without and with ``--report`` in alternating fresh processes (without, with,
without, ...; ``--repeats`` pairs, default 3). It reports each run's wall time,
streaming-loop time and the 1-minute load average before it, the medians, and
the ratio of the medians (the target: at most 1.10). Only ratios within one
invocation are meant to be compared: on a shared machine the absolute times move
with the load, and alternating spreads a load change over both variants.
``--out FILE`` also writes the results as Markdown
(``benchmarks/results/report_overhead.md``), ``--example-report FILE`` the last
run's report (``benchmarks/results/report_example.json``, the example of the
command-line guide).

``--mixed`` measures mixed-type CSV files instead (:mod:`benchmarks.bench_cli_mixed`:
a default-score and a reconstruction model, against the read + write floor and
against the same on a numeric file; ``--sizes``, ``--repeats``, ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_io_reference import make_csv

__all__ = ["bench_report_overhead", "bench_sizes", "main", "run_measured"]

_REFERENCE = (
    "import json, sys\n"
    "from benchmarks.bench_io_reference import reference_time, feature_names\n"
    "result = reference_time(sys.argv[1], feature_names(int(sys.argv[2])), "
    "out_path=sys.argv[3])\n"
    "print(json.dumps(result))\n"
)
_REPO = Path(__file__).resolve().parents[1]


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd``; return its wall time, peak RSS (MB), exit code and output."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=_REPO)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {
            "wall_s": wall,
            "peak_rss_mb": usage.ru_maxrss / 1024,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "returncode": proc.returncode,
            "stdout": out.read(),
            "stderr": err.read(),
        }


def _loop_seconds(stderr: str) -> float | None:
    """Seconds from ``score.start`` to ``score.done`` in a ``--verbose`` log."""
    stamps = {}
    for line in stderr.splitlines():
        match = re.search(r"event=(score\.start|model\.loaded|score\.done)", line)
        if match:
            stamps[match[1]] = line
    done = re.search(
        r"event=score\.done .*?seconds=([\d.]+)", stamps.get("score.done", "")
    )
    loaded = re.search(
        r"event=model\.loaded .*?seconds=([\d.]+)", stamps.get("model.loaded", "")
    )
    if not done or not loaded:
        return None
    return float(done[1]) - float(loaded[1])


def bench_sizes(
    sizes: list[int],
    *,
    n_features: int = 20,
    train_rows: int = 20_000,
    epochs: int = 5,
    score_type: str | None = "reconstruction",
    folder: Path,
    extra: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Fit one model, then time reference and ``score`` for each size."""
    env = {**os.environ}
    python = sys.executable
    train = make_csv(folder / "train.csv", train_rows, n_features, seed=1)
    model = folder / "model.anomvae"
    fit = run_measured(
        [python, "-m", "anomvae", "fit", str(train), "-o", str(model), "-i", "id",
         "--epochs", str(epochs), "--random-state", "0", "-q",
         *(["--score-type", score_type] if score_type else [])],
        env,
    )  # fmt: skip
    if fit["returncode"]:
        raise RuntimeError(f"fit failed: {fit['stderr']}")
    results = []
    for rows in sizes:
        data = make_csv(folder / f"data_{rows}.csv", rows, n_features)
        size_mb = os.path.getsize(data) / 2**20
        ref = run_measured(
            [
                python,
                "-c",
                _REFERENCE,
                str(data),
                str(n_features),
                str(folder / "ref.csv"),
            ],
            env,
        )
        if ref["returncode"]:
            raise RuntimeError(f"reference failed: {ref['stderr']}")
        ref_loop = json.loads(ref["stdout"])["total_s"]
        out = folder / "scores.csv"
        score = run_measured(
            [python, "-m", "anomvae", "score", str(data), "-m", str(model), "-o",
             str(out), "-i", "id", "-v", *(extra or [])],
            env,
        )  # fmt: skip
        if score["returncode"]:
            raise RuntimeError(f"score failed: {score['stderr']}")
        loop = _loop_seconds(score["stderr"])
        results.append(
            {
                "rows": rows,
                "features": n_features,
                "input_mb": round(size_mb, 1),
                "output_mb": round(os.path.getsize(out) / 2**20, 1),
                "reference_wall_s": round(ref["wall_s"], 2),
                "reference_loop_s": round(ref_loop, 2),
                "reference_peak_rss_mb": round(ref["peak_rss_mb"]),
                "reference_cpu_s": round(ref["cpu_s"], 2),
                "score_wall_s": round(score["wall_s"], 2),
                "score_loop_s": None if loop is None else round(loop, 2),
                "score_peak_rss_mb": round(score["peak_rss_mb"]),
                "score_cpu_s": round(score["cpu_s"], 2),
                "rows_per_s_wall": round(rows / score["wall_s"]),
                "rows_per_s_loop": None if not loop else round(rows / loop),
                "ratio_wall": round(score["wall_s"] / ref["wall_s"], 2),
                "ratio_loop": None if loop is None else round(loop / ref_loop, 2),
            }
        )
        for path in (data, out, folder / "ref.csv"):
            path.unlink(missing_ok=True)
    return results


def _threads(stderr: str) -> int | None:
    """torch threads of a ``score`` run, from its ``score.start`` log line."""
    match = re.search(r"event=score\.start .*?threads=(\d+)", stderr)
    return int(match[1]) if match else None


def bench_report_overhead(
    rows: int,
    *,
    n_features: int = 20,
    train_rows: int = 20_000,
    epochs: int = 5,
    score_type: str | None = "reconstruction",
    repeats: int = 3,
    folder: Path,
    extra: list[str] | None = None,
) -> dict[str, Any]:
    """Time ``anomvae score`` without and with ``--report`` on one input.

    Runs alternate (without first), each in a fresh process; each run's wall
    time, loop time (``--verbose`` log), torch threads and the 1-minute load
    average just before it are recorded.

    Returns
    -------
    dict
        ``runs`` (one dict per run), ``median_wall_s`` and ``median_loop_s``
        (per variant), ``ratio_wall`` and ``ratio_loop`` (with / without), and
        the setting: rows, features, input MB, cores, score type.
    """
    import statistics

    env = {**os.environ}
    python = sys.executable
    train = make_csv(folder / "train.csv", train_rows, n_features, seed=1)
    model = folder / "model.anomvae"
    fit = run_measured(
        [python, "-m", "anomvae", "fit", str(train), "-o", str(model), "-i", "id",
         "--epochs", str(epochs), "--random-state", "0", "--calibrate", "fpr:0.01",
         "-q", *(["--score-type", score_type] if score_type else [])],
        env,
    )  # fmt: skip
    if fit["returncode"]:
        raise RuntimeError(f"fit failed: {fit['stderr']}")
    data = make_csv(folder / "data.csv", rows, n_features)
    out, report = folder / "scores.csv", folder / "report.json"
    runs = []
    for i in range(2 * repeats):
        with_report = i % 2 == 1
        load = os.getloadavg()[0]
        score = run_measured(
            [python, "-m", "anomvae", "score", str(data), "-m", str(model), "-o",
             str(out), "-i", "id", "-v",
             *(["--report", str(report)] if with_report else []), *(extra or [])],
            env,
        )  # fmt: skip
        if score["returncode"]:
            raise RuntimeError(f"score failed: {score['stderr']}")
        loop = _loop_seconds(score["stderr"])
        runs.append(
            {
                "run": i + 1,
                "report": with_report,
                "wall_s": round(score["wall_s"], 3),
                "loop_s": None if loop is None else round(loop, 3),
                "cpu_s": round(score["cpu_s"], 2),
                "peak_rss_mb": round(score["peak_rss_mb"]),
                "threads": _threads(score["stderr"]),
                "load_before": round(load, 2),
            }
        )
    example = json.loads(report.read_text())
    if example["rows_scored"] != rows:
        raise RuntimeError("the report does not cover every row")
    medians: dict[str, dict[str, float]] = {"wall_s": {}, "loop_s": {}}
    for key in medians:
        for variant in (False, True):
            values = [r[key] for r in runs if r["report"] is variant and r[key]]
            medians[key]["with" if variant else "without"] = (
                statistics.median(values) if values else float("nan")
            )
    return {
        "rows": rows,
        "features": n_features,
        "input_mb": round(os.path.getsize(data) / 2**20, 1),
        "score_type": score_type or "default",
        "cores": os.cpu_count(),
        "runs": runs,
        "median_wall_s": medians["wall_s"],
        "median_loop_s": medians["loop_s"],
        "ratio_wall": round(
            medians["wall_s"]["with"] / medians["wall_s"]["without"], 3
        ),
        "ratio_loop": round(
            medians["loop_s"]["with"] / medians["loop_s"]["without"], 3
        ),
        "load_after": round(os.getloadavg()[0], 2),
        "example_report": example,
    }


def report_markdown(result: dict[str, Any], command: str) -> str:
    """:func:`bench_report_overhead`'s result as the Markdown of
    ``benchmarks/results/report_overhead.md``."""
    import datetime as dt
    import platform

    cores = result["cores"] or 1
    loads = [r["load_before"] for r in result["runs"]] + [result["load_after"]]
    busy = max(loads) > cores
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# What `anomvae score --report` costs",
        "",
        f"Produced by `{command}` on {when}; Python {platform.python_version()}, "
        f"{cores} CPU cores (`os.cpu_count()`), torch threads of `score`: "
        f"{sorted({r['threads'] for r in result['runs']})}. Input: "
        f"{result['rows']:,} rows x {result['features']} float columns "
        f"({result['input_mb']:.0f} MB CSV); model fitted with `--calibrate "
        f"fpr:0.01` and `--score-type {result['score_type']}` (the cheapest score, "
        "so the largest relative overhead). Each run is a fresh process; runs "
        "alternate without / with `--report`.",
        "",
        "| run | `--report` | wall s | loop s | CPU s | peak RSS MB | load avg before |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["runs"]:
        lines.append(
            f"| {r['run']} | {'yes' if r['report'] else 'no'} | {r['wall_s']:.2f} | "
            f"{r['loop_s'] if r['loop_s'] is not None else 'n/a'} | {r['cpu_s']:.2f} | "
            f"{r['peak_rss_mb']} | {r['load_before']:.2f} |"
        )
    w, lp = result["median_wall_s"], result["median_loop_s"]
    lines += [
        "",
        "| median | without | with `--report` | ratio |",
        "|---|---:|---:|---:|",
        f"| wall time, whole process | {w['without']:.2f} s | {w['with']:.2f} s | "
        f"**{result['ratio_wall']:.3f}** |",
        f"| streaming loop (`score.start` to `score.done`) | {lp['without']:.2f} s | "
        f"{lp['with']:.2f} s | {result['ratio_loop']:.3f} |",
        "",
        f"Load average after the last run: {result['load_after']:.2f}. "
        + (
            f"**The machine was busy** (load average up to {max(loads):.1f} on "
            f"{cores} cores): other processes shared the CPUs, so the absolute "
            "times are inflated and noisy; only the ratio within this run, with "
            "its variants alternating, is meaningful."
            if busy
            else f"The load average stayed at or below the {cores} cores."
        ),
        "",
        "The wall-time ratio is what a scheduled job sees: `--report` adds the "
        "monitor's update of every batch (in the loop), `RunMonitor.finish()` (the "
        "tests on a sample of at most 20,000 rows), the model file's sha256, the "
        "input's fingerprint (size, mtime and the first and last MiB) and writing "
        "the JSON. Target: at most 1.10.",
        "",
    ]
    return "\n".join(lines)


def _table(results: list[dict[str, Any]]) -> str:
    head = (
        f"{'rows':>10} {'MB in':>7} {'ref s':>7} {'score s':>8} {'ratio':>6} "
        f"{'loop ratio':>10} {'rows/s':>10} {'ref RSS':>8} {'score RSS':>9}"
    )
    lines = [head]
    for r in results:
        lines.append(
            f"{r['rows']:>10,} {r['input_mb']:>7.0f} {r['reference_wall_s']:>7.2f} "
            f"{r['score_wall_s']:>8.2f} {r['ratio_wall']:>6.2f} "
            f"{r['ratio_loop'] if r['ratio_loop'] is not None else 'n/a':>10} "
            f"{r['rows_per_s_loop'] or 0:>10,} {r['reference_peak_rss_mb']:>6} MB "
            f"{r['score_peak_rss_mb']:>6} MB"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line of the benchmark (``--mixed``: :mod:`benchmarks.bench_cli_mixed`
    with the other arguments)."""
    given = sys.argv[1:] if argv is None else list(argv)
    if "--mixed" in given:
        from benchmarks.bench_cli_mixed import main as mixed_main

        mixed_main([a for a in given if a != "--mixed"])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="500000,2000000", help="comma-separated row counts"
    )
    parser.add_argument("--cols", type=int, default=20)
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument(
        "--score-type",
        default="reconstruction",
        help="the model's score; 'default' keeps the library's default",
    )
    parser.add_argument("--workdir", type=Path, help="default: a temporary folder")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--report-overhead",
        action="store_true",
        help="time score without and with --report instead (see the docstring)",
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="--report-overhead: Markdown file")
    parser.add_argument(
        "--example-report", type=Path, help="--report-overhead: the last report"
    )
    parser.add_argument(
        "score_args", nargs="*", help="extra arguments for anomvae score (after --)"
    )
    args = parser.parse_args(argv)
    if args.report_overhead:
        _main_report(args, argv)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        results = bench_sizes(
            sizes,
            n_features=args.cols,
            train_rows=args.train_rows,
            epochs=args.epochs,
            score_type=None if args.score_type == "default" else args.score_type,
            folder=Path(tmp),
            extra=args.score_args,
        )
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(_table(results))


def _main_report(args: argparse.Namespace, argv: list[str] | None) -> None:
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        result = bench_report_overhead(
            args.rows,
            n_features=args.cols,
            train_rows=args.train_rows,
            epochs=args.epochs,
            score_type=None if args.score_type == "default" else args.score_type,
            repeats=args.repeats,
            folder=Path(tmp),
            extra=args.score_args,
        )
    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["python -m benchmarks.bench_cli", *given])
    text = report_markdown(result, command)
    if args.out is not None:
        args.out.write_text(text)
    example = result.pop("example_report")
    if args.example_report is not None:
        args.example_report.write_text(json.dumps(example, indent=2) + "\n")
    print(json.dumps(result, indent=2) if args.json else text)


if __name__ == "__main__":
    main()
