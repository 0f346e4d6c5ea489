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

__all__ = ["bench_sizes", "main", "run_measured"]

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
    """Command line of the benchmark."""
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
        "score_args", nargs="*", help="extra arguments for anomvae score (after --)"
    )
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    main()
