"""How many torch threads a fit should use: the evidence behind ``n_jobs=None``.

Fits the default ``VAEDetector`` (1,000 steps) on a small table (2,000 x 21)
and a large one (50,000 x 200) with ``n_jobs`` 1 and 2, alone and beside one
competing process (a Python busy loop, as a scheduled job may meet), each in a
fresh process. Records the wall time, the CPU time and the 1-minute load average
before each fit; configurations alternate so that a change of load spreads over
all of them.

Run ``python -m benchmarks.bench_threads [--out benchmarks/results/threads.md]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.bench_cli import run_measured

__all__ = ["main", "measure"]

SHAPES = {"small": (2_000, 21), "large": (50_000, 200)}
_FIT = (
    "import json, sys, time, numpy as np\n"
    "from anomvae import VAEDetector\n"
    "rows, cols, n_jobs = map(int, sys.argv[1:4])\n"
    "rng = np.random.default_rng(0)\n"
    "X = rng.normal(size=(rows, 8)) @ rng.normal(size=(8, cols))\n"
    "X += 0.1 * rng.normal(size=X.shape)\n"
    "start = time.perf_counter()\n"
    "VAEDetector(random_state=0, n_jobs=n_jobs).fit(X)\n"
    "print(json.dumps({'fit_s': time.perf_counter() - start}))\n"
)
_BUSY = "while True: pass"


def measure(repeats: int = 1) -> list[dict[str, Any]]:
    """One row per fit: shape, threads, competing process, times, load."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    results = []
    for _ in range(repeats):
        for busy in (False, True):
            for shape, (rows, cols) in SHAPES.items():
                for threads in (1, 2):
                    load = os.getloadavg()[0]
                    rival = (
                        subprocess.Popen([sys.executable, "-c", _BUSY])
                        if busy
                        else None
                    )
                    try:
                        run = run_measured(
                            [sys.executable, "-c", _FIT, str(rows), str(cols),
                             str(threads)],
                            env,
                        )  # fmt: skip
                    finally:
                        if rival is not None:
                            rival.kill()
                            rival.wait()
                    if run["returncode"]:
                        raise RuntimeError(run["stderr"])
                    fit_s = json.loads(run["stdout"])["fit_s"]
                    results.append(
                        {
                            "shape": shape,
                            "rows": rows,
                            "features": cols,
                            "threads": threads,
                            "competing": busy,
                            "fit_s": round(fit_s, 2),
                            "cpu_s": round(run["cpu_s"], 2),
                            "load_before": round(load, 2),
                        }
                    )
                    print(json.dumps(results[-1]), flush=True)
    return results


def markdown(results: list[dict[str, Any]], command: str) -> str:
    """The table of ``benchmarks/results/threads.md``."""
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# torch threads of a fit",
        "",
        f"Produced by `{command}` on {when}; {os.cpu_count()} CPU cores "
        "(`os.cpu_count()`), each fit in a fresh process: the default "
        "`VAEDetector` (1,000 steps of 128 rows) on random low-rank data. "
        "'competing' runs one Python busy loop beside the fit. The load average "
        "is the machine's 1-minute load before the fit (other agents' jobs "
        "included: this machine is shared).",
        "",
        "| data | threads (`n_jobs`) | competing process | fit s | CPU s | "
        "load avg before |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['shape']} ({r['rows']:,} x {r['features']}) | {r['threads']} | "
            f"{'yes' if r['competing'] else 'no'} | {r['fit_s']:.1f} | "
            f"{r['cpu_s']:.1f} | {r['load_before']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Command line of the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    results = measure(args.repeats)
    given = sys.argv[1:] if argv is None else argv
    text = markdown(results, " ".join(["python -m benchmarks.bench_threads", *given]))
    if args.out is not None:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
