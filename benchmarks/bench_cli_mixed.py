"""Throughput of ``anomvae score`` on generated mixed-type CSV files.

``python -m benchmarks.bench_cli --mixed`` (or ``python -m
benchmarks.bench_cli_mixed``) fits, on a generated mixed table of
``--train-rows`` rows (:func:`benchmarks.make_mixed_csv.make_mixed_csv`: 8
numeric columns, half heavy-tailed; 4 categorical columns of 50 Zipf-like levels,
the first zero-padded digit codes, named with ``--categorical``; 4 ``true``/
``false`` columns; 2 % blank cells), two ``VAEDetector`` models: the default
score (``hybrid``) and ``--score-type reconstruction``. For comparison it fits
the same two on a numeric CSV of as many feature columns (16 standard-normal
floats, :func:`benchmarks.bench_io_reference.make_csv`).

Then, for each size, it runs in fresh processes, alternating, ``--repeats`` rounds
of:

* the mixed **floor** (:func:`benchmarks.bench_io_reference.reference_time`): the
  same reader call as ``score`` makes for the mixed model (numeric columns as
  ``float64`` with blanks allowed, the text columns and ``id`` passed through as
  text) and writing ``id`` + one float with the same writer;
* ``anomvae score DATA -m MODEL -o OUT.csv -i id -v`` for each mixed model
  (with ``--threads N`` given ``--threads N``; by default ``score``'s own, one
  scoring thread per core);
* the numeric floor and the two numeric models, the same way.

It reports, per case, the medians of wall time, streaming-loop time
(``score.start`` to ``score.done`` in the ``--verbose`` log; the floor's
``total_s``), rows/s on each, the ratio to the floor of the same input, and
the process's peak RSS (``os.wait4``) with its maximum over the rounds, and
records the 1-minute load average before every run. Absolute times move with
the load on a shared machine; the ratios, measured in the same round, are what
to compare.

``--out FILE`` writes Markdown (``benchmarks/results/mixed/throughput.md``),
``--json`` prints the raw runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.bench_cli import _loop_seconds, run_measured
from benchmarks.bench_io_reference import feature_names, make_csv
from benchmarks.make_mixed_csv import make_mixed_csv

__all__ = ["CASES", "bench_mixed", "main", "mixed_markdown"]

#: (case, input kind, model or None for the floor), in the order of a round.
CASES: tuple[tuple[str, str, str | None], ...] = (
    ("mixed floor (read + write)", "mixed", None),
    ("mixed, default score (hybrid)", "mixed", "mixed_hybrid"),
    ("mixed, reconstruction", "mixed", "mixed_reconstruction"),
    ("numeric floor (read + write)", "numeric", None),
    ("numeric, default score (hybrid)", "numeric", "numeric_hybrid"),
    ("numeric, reconstruction", "numeric", "numeric_reconstruction"),
)

_REFERENCE = (
    "import json, sys\n"
    "from benchmarks.bench_io_reference import reference_time\n"
    "numeric, text = json.loads(sys.argv[2]), json.loads(sys.argv[3])\n"
    "result = reference_time(sys.argv[1], numeric, out_path=sys.argv[4], "
    "passthrough=('id', *text), blank_ok=numeric)\n"
    "print(json.dumps(result))\n"
)


def _fit(python: str, train: Path, model: Path, extra: list[str], epochs: int) -> None:
    fit = run_measured(
        [python, "-m", "anomvae", "fit", str(train), "-o", str(model), "-i", "id",
         "--epochs", str(epochs), "--random-state", "0", "-q", *extra],
    )  # fmt: skip
    if fit["returncode"]:
        raise RuntimeError(f"fit failed: {fit['stderr']}")


def bench_mixed(
    sizes: list[int],
    *,
    folder: Path,
    train_rows: int = 20_000,
    epochs: int = 5,
    repeats: int = 3,
    numeric: bool = True,
    threads: int | None = None,
) -> dict[str, Any]:
    """Fit the models, then time every case of :data:`CASES` ``repeats`` times
    per size, alternating (``score --threads threads``; None: its default, one
    scoring thread per core). Returns the settings and one dict per run."""
    python = sys.executable
    kinds = make_mixed_csv(folder / "train_mixed.csv", train_rows, seed=1)
    num_cols = [c for c, k in kinds.items() if k == "numeric"]
    text_cols = [c for c, k in kinds.items() if k != "numeric"]
    categorical = ["--categorical", "cat0"]  # zero-padded digit codes
    models = {
        "mixed_hybrid": (folder / "train_mixed.csv", categorical),
        "mixed_reconstruction": (
            folder / "train_mixed.csv",
            [*categorical, "--score-type", "reconstruction"],
        ),
    }
    n_numeric_features = len(kinds)
    if numeric:
        make_csv(folder / "train_numeric.csv", train_rows, n_numeric_features, seed=1)
        models["numeric_hybrid"] = (folder / "train_numeric.csv", [])
        models["numeric_reconstruction"] = (
            folder / "train_numeric.csv",
            ["--score-type", "reconstruction"],
        )
    for name, (train, extra) in models.items():
        _fit(python, train, folder / f"{name}.anomvae", extra, epochs)
    cases = [c for c in CASES if numeric or c[1] == "mixed"]
    runs: list[dict[str, Any]] = []
    sizes_mb: dict[int, dict[str, float]] = {}
    for rows in sizes:
        data = {"mixed": folder / f"mixed_{rows}.csv"}
        make_mixed_csv(data["mixed"], rows, seed=0)
        if numeric:
            data["numeric"] = make_csv(
                folder / f"numeric_{rows}.csv", rows, n_numeric_features
            )
        sizes_mb[rows] = {k: os.path.getsize(p) / 2**20 for k, p in data.items()}
        for round_ in range(1, repeats + 1):
            for case, kind, model in cases:
                runs.append(
                    _run_case(
                        python,
                        (case, kind, model),
                        data[kind],
                        rows,
                        round_,
                        folder,
                        (num_cols, text_cols, n_numeric_features),
                        threads,
                    )
                )
        for path in data.values():
            path.unlink(missing_ok=True)
    return {
        "sizes": sizes,
        "input_mb": sizes_mb,
        "train_rows": train_rows,
        "epochs": epochs,
        "repeats": repeats,
        "cores": os.cpu_count(),
        "threads": threads,
        "kinds": kinds,
        "runs": runs,
        "load_after": round(os.getloadavg()[0], 2),
    }


def _run_case(
    python: str,
    which: tuple[str, str, str | None],
    data: Path,
    rows: int,
    round_: int,
    folder: Path,
    columns: tuple[list[str], list[str], int],
    threads: int | None = None,
) -> dict[str, Any]:
    """One timed run of a case of :data:`CASES` on ``data``, in a fresh process."""
    case, kind, model = which
    num_cols, text_cols, n_numeric_features = columns
    load = os.getloadavg()[0]
    out = folder / "out.csv"
    if model is None:
        if kind == "mixed":
            args = [json.dumps(num_cols), json.dumps(text_cols)]
        else:
            args = [json.dumps(feature_names(n_numeric_features)), "[]"]
        result = run_measured([python, "-c", _REFERENCE, str(data), *args, str(out)])
        if result["returncode"]:
            raise RuntimeError(f"reference failed: {result['stderr']}")
        loop = json.loads(result["stdout"])["total_s"]
    else:
        result = run_measured(
            [python, "-m", "anomvae", "score", str(data), "-m",
             str(folder / f"{model}.anomvae"), "-o", str(out), "-i", "id", "-v",
             *([] if threads is None else ["--threads", str(threads)])],
        )  # fmt: skip
        if result["returncode"]:
            raise RuntimeError(f"score failed: {result['stderr']}")
        loop = _loop_seconds(result["stderr"])
    out.unlink(missing_ok=True)
    return {
        "rows": rows,
        "round": round_,
        "case": case,
        "kind": kind,
        "model": model,
        "wall_s": round(result["wall_s"], 3),
        "loop_s": None if loop is None else round(loop, 3),
        "cpu_s": round(result["cpu_s"], 2),
        "peak_rss_mb": round(result["peak_rss_mb"]),
        "load_before": round(load, 2),
    }


def _medians(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per size and case: median wall and loop seconds, rows/s, peak RSS, and
    the ratio of the medians to the floor of the same input."""
    table = []
    for rows in dict.fromkeys(r["rows"] for r in runs):
        mine = [r for r in runs if r["rows"] == rows]
        cases = dict.fromkeys((r["case"], r["kind"], r["model"]) for r in mine)
        med: dict[str, tuple[float, float]] = {}
        for case, _, _ in cases:
            these = [r for r in mine if r["case"] == case]
            med[case] = (
                statistics.median(r["wall_s"] for r in these),
                statistics.median(r["loop_s"] for r in these),
            )
        for case, kind, model in cases:
            these = [r for r in mine if r["case"] == case]
            floor = next(c for c, k, m in cases if k == kind and m is None)
            wall, loop = med[case]
            table.append(
                {
                    "rows": rows,
                    "case": case,
                    "kind": kind,
                    "model": model,
                    "wall_s": wall,
                    "loop_s": loop,
                    "rows_per_s_wall": rows / wall,
                    "rows_per_s_loop": rows / loop,
                    "ratio_wall": wall / med[floor][0],
                    "ratio_loop": loop / med[floor][1],
                    "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in these),
                    "max_rss_mb": max(r["peak_rss_mb"] for r in these),
                }
            )
    return table


def mixed_markdown(result: dict[str, Any], command: str) -> str:
    """:func:`bench_mixed`'s result as Markdown."""
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cores = result["cores"] or 1
    loads = [r["load_before"] for r in result["runs"]] + [result["load_after"]]
    lines = [
        "# `anomvae score` on mixed tables: throughput against the read + write floor",
        "",
        f"Produced by `{command}` on {when}; Python {platform.python_version()}, "
        f"{cores} CPU cores, "
        + (
            "`score` with its default threads (one per core)"
            if result.get("threads") is None
            else f"`score --threads {result['threads']}`"
        )
        + ", `OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', 'unset')}`. Models: `anomvae fit "
        f"--model vae` (the default) on {result['train_rows']:,} generated rows, "
        f"{result['epochs']} epochs, `--random-state 0`. Mixed input: "
        "`benchmarks.make_mixed_csv` (id, 8 numeric columns, half heavy-tailed; 4 "
        "categorical columns of 50 Zipf-like levels, `cat0` zero-padded digit "
        "codes given as `--categorical`; 4 true/false columns; 2 % blank cells). "
        "Numeric input: id and 16 standard-normal columns (as many features). "
        f"Each case ran {result['repeats']} times in fresh processes, the cases "
        "alternating within each round; medians below. The floor reads every "
        "batch with the reader call `score` makes for that model and writes id + "
        "one float with the same writer (`benchmarks.bench_io_reference`).",
        "",
        "| rows | case | wall s | loop s | rows/s (wall) | rows/s (loop) | "
        "/ floor (wall) | / floor (loop) | peak RSS MB (median, max) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in _medians(result["runs"]):
        lines.append(
            f"| {r['rows']:,} | {r['case']} | {r['wall_s']:.2f} | {r['loop_s']:.2f} "
            f"| {r['rows_per_s_wall']:,.0f} | {r['rows_per_s_loop']:,.0f} | "
            f"{r['ratio_wall']:.2f} | {r['ratio_loop']:.2f} | "
            f"{r['peak_rss_mb']:.0f}, {r['max_rss_mb']:.0f} |"
        )
    lines += [
        "",
        "Input sizes: "
        + "; ".join(
            f"{rows:,} rows: " + ", ".join(f"{k} {mb:.0f} MiB" for k, mb in per.items())
            for rows, per in result["input_mb"].items()
        )
        + ".",
        "",
        f"Load average (1 min) before the runs: {min(loads):.2f} to "
        f"{max(loads):.2f} on {cores} cores"
        + (
            " — **the machine was shared and busy**: absolute times are inflated "
            "and noisy; compare the ratios within one size."
            if max(loads) > cores
            else "."
        ),
        "",
        "## Runs",
        "",
        "| rows | round | case | wall s | loop s | CPU s | peak RSS MB | load before |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["runs"]:
        lines.append(
            f"| {r['rows']:,} | {r['round']} | {r['case']} | {r['wall_s']:.2f} | "
            f"{r['loop_s']:.2f} | {r['cpu_s']:.2f} | {r['peak_rss_mb']} | "
            f"{r['load_before']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Command line of the mixed throughput benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--no-numeric", action="store_true", help="skip the numeric comparison"
    )
    parser.add_argument(
        "--threads", type=int, help="score --threads (default: score's own)"
    )
    parser.add_argument("--workdir", type=Path, help="default: a temporary folder")
    parser.add_argument("--out", type=Path, help="write the Markdown here")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        result = bench_mixed(
            [int(s) for s in args.sizes.split(",")],
            folder=Path(tmp),
            train_rows=args.train_rows,
            epochs=args.epochs,
            repeats=args.repeats,
            numeric=not args.no_numeric,
            threads=args.threads,
        )
    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["python -m benchmarks.bench_cli_mixed", *given])
    text = mixed_markdown(result, command)
    if args.out is not None:
        args.out.write_text(text)
    print(json.dumps(result, indent=2) if args.json else text)


if __name__ == "__main__":
    main()
