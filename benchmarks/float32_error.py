"""How far ``anomvae score --precision float32`` moves the scores.

Fits the default ``VAEDetector`` (5 epochs, ``random_state=0``) with a
``ThresholdCalibrator`` at a 1% false-positive rate on 20,000 rows of the data
:mod:`benchmarks.bench_cli` generates (20 standard normal floats, 6 decimals),
for the reconstruction and the default hybrid score, and scores 100,000 further
rows the way ``anomvae score`` does (:func:`anomvae.batch.score_batch`), in
float64 (the library's scores) and in float32 (:func:`anomvae.jobs.in_precision`).
Reports the largest and median absolute difference, the largest relative one,
how many flags changed, and how much a row's score moves when the same rows are
scored in smaller batches instead of one call::

    python -m benchmarks.float32_error --out benchmarks/results/float32_error.md
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

#: Rows rescored in small batches (the first of the test rows).
ACROSS_ROWS = 10_000


def _scores(
    model: object, X: np.ndarray, batch: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    from anomvae.batch import score_batch

    parts = (
        [X] if batch is None else [X[i : i + batch] for i in range(0, len(X), batch)]
    )
    tables = [score_batch(model, part) for part in parts]
    score = np.concatenate([t["score"].to_numpy() for t in tables])
    flags = np.concatenate(
        [t["is_anomaly"].to_numpy(zero_copy_only=False) for t in tables]
    )
    return score, flags


def measure(
    n_train: int, n_test: int, epochs: int, batches: list[int]
) -> list[dict[str, Any]]:
    import torch

    from anomvae import ThresholdCalibrator, VAEDetector
    from anomvae.jobs import in_precision

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    train = np.round(rng.standard_normal((n_train, 20)), 6)
    test = np.round(rng.standard_normal((n_test, 20)), 6)
    rows = []
    for score_type in ("reconstruction", "hybrid"):
        detector = VAEDetector(max_epochs=epochs, random_state=0, score_type=score_type)
        model = ThresholdCalibrator(
            detector, method="fpr", target_fpr=0.01, random_state=0
        ).fit(train)
        exact, exact_flags = _scores(model, test)
        fast_model = in_precision(model, "float32")
        fast, fast_flags = _scores(fast_model, test)
        diff = np.abs(fast - exact)
        across = {"float32": 0.0, "float64": 0.0}
        for batch in batches:
            for name, m, whole in (
                ("float32", fast_model, fast),
                ("float64", model, exact),
            ):
                part, _ = _scores(m, test[:ACROSS_ROWS], batch=batch)
                gap = np.abs(part - whole[:ACROSS_ROWS]).max()
                across[name] = max(across[name], float(gap))
        rows.append(
            {
                "score": score_type,
                "max_abs": float(diff.max()),
                "median_abs": float(np.median(diff)),
                # relative only where scores are positive (the hybrid score is
                # standardised, so it crosses zero)
                "max_rel": float((diff / exact).max()) if (exact > 0).all() else None,
                "flags_changed": int((fast_flags != exact_flags).sum()),
                "flagged": int(exact_flags.sum()),
                "batch_float32": across["float32"],
                "batch_float64": across["float64"],
            }
        )
    return rows


def report(
    rows: list[dict[str, Any]], command: str, n_test: int, batches: list[int]
) -> str:
    import torch

    lines = [
        "# `--precision float32` against the library's float64 scores",
        "",
        f"Produced by `{command}` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; "
        f"torch {torch.__version__}, one torch thread. {n_test:,} rows scored by "
        "`score_batch` as `anomvae score` does; flags from a `ThresholdCalibrator` "
        "at a 1% false-positive rate; relative differences only for a score that "
        "is positive (the hybrid score is standardised and crosses zero). *Across "
        "batches*: the largest change of the first {ACROSS_ROWS:,} rows' scores "
        f"between one call and batches of {' or '.join(f'{b:,}' for b in batches)} rows.",
        "",
        "| score | max abs diff | median abs diff | max rel diff | flags changed "
        "(of flagged) | across batches, float32 | across batches, float64 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['score']}` | {r['max_abs']:.2g} | {r['median_abs']:.2g} | "
            f"{'—' if r['max_rel'] is None else format(r['max_rel'], '.2g')} | "
            f"{r['flags_changed']} ({r['flagged']}) | "
            f"{r['batch_float32']:.2g} | {r['batch_float64']:.2g} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument(
        "--batches", default="1000,100,7", help="batch sizes compared with one call"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    rows = measure(args.train_rows, args.rows, args.epochs, batches)
    command = "python -m benchmarks.float32_error" + (
        f" --out {args.out}" if args.out else ""
    )
    text = report(rows, command, args.rows, batches)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
