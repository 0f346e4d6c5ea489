"""Speed: anomvae's default VAE and AE against PyOD's VAE and AutoEncoder.

Each case fits every detector on the same rows (normal rows of the deduplicated
dataset, shuffled with seed 0, cut to ``max_rows``) and scores those same rows,
one after another in the same process, so the ratios compare like with like on
whatever machine runs it. A ratio below 1 means anomvae is faster.

The ``fit_check`` case is the issue's "≤ ~1 minute to fit 60k x 200 on 2 cores":
backdoor (196 features) cut to 60,000 normal rows, anomvae only.
"""

from __future__ import annotations

import csv
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.data import load_dataset
from benchmarks.registry import (
    REGISTRY,
    Factory,
    anomaly_scores,
    build,
    seed_everything,
)
from benchmarks.runner import environment, warm_up

__all__ = ["FIT_CHECK_SECONDS", "PAIRS", "SPEED_CASES", "SpeedCase", "run_speed"]


@dataclass(frozen=True)
class SpeedCase:
    name: str
    dataset: str
    max_rows: int | None
    detectors: tuple[str, ...] = ("vae", "pyod_vae", "ae", "pyod_ae")


SPEED_CASES: tuple[SpeedCase, ...] = (
    SpeedCase("small", "cardio", None),  # 1,647 x 21
    SpeedCase("medium", "aloi", 50_000),  # 48,026 x 27
    SpeedCase("wide", "w7a", 10_000),  # 10,000 x 300
    SpeedCase("fit_check", "backdoor", 60_000, ("vae", "ae")),  # 60,000 x 196
)

#: anomvae detector -> the PyOD detector it is compared with.
PAIRS = {"vae": "pyod_vae", "ae": "pyod_ae"}

FIT_CHECK_SECONDS = 60.0

COLUMNS = (
    "case",
    "dataset",
    "n_rows",
    "n_features",
    "detector",
    "repeat",
    "fit_s",
    "score_s",
    "error",
)


def _rows(data_dir: Path, case: SpeedCase) -> np.ndarray:
    dataset = load_dataset(data_dir / f"{case.dataset}.npz")
    normal = np.random.default_rng(0).permutation(np.flatnonzero(dataset.y == 0))
    return dataset.X[normal[: case.max_rows]]


def _time(name: str, X: np.ndarray, registry: Mapping[str, Factory]) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            estimator = build(name, 0, registry)
            seed_everything(0)
            start = time.perf_counter()
            estimator.fit(X.copy())
            fit_s = time.perf_counter() - start
            start = time.perf_counter()
            anomaly_scores(estimator, X.copy())
            score_s = time.perf_counter() - start
        except Exception as exc:
            return {
                "fit_s": float("nan"),
                "score_s": float("nan"),
                "error": f"{type(exc).__name__}: {exc}"[:300],
            }
    return {"fit_s": round(fit_s, 3), "score_s": round(score_s, 3), "error": ""}


def run_speed(
    data_dir: str | Path,
    out_dir: str | Path,
    cases: Sequence[SpeedCase] = SPEED_CASES,
    *,
    repeats: int = 1,
    registry: Mapping[str, Factory] = REGISTRY,
    command: str = "python -m benchmarks speed",
    log: Callable[[str], None] = print,
) -> Path:
    """Time every case, write ``speed.csv`` and ``speed.md``; return the ``.md``.

    With ``repeats`` > 1 the detectors take turns (so a burst of load elsewhere
    hits all of them) and the report keeps each one's fastest time, the least
    noisy estimate on a shared machine; ``speed.csv`` keeps every repeat.
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    warm_up(sorted({name for case in cases for name in case.detectors}), registry)
    with (out_dir / "speed.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for case in cases:
            X = _rows(data_dir, case)
            for repeat in range(repeats):
                for name in case.detectors:
                    record = {
                        "case": case.name,
                        "dataset": case.dataset,
                        "n_rows": X.shape[0],
                        "n_features": X.shape[1],
                        "detector": name,
                        "repeat": repeat,
                        **_time(name, X, registry),
                    }
                    writer.writerow(record)
                    handle.flush()
                    records.append(record)
                    status = record["error"] or (
                        f"fit {record['fit_s']:.2f}s score {record['score_s']:.2f}s"
                    )
                    log(
                        f"{case.name:<10} {case.dataset:<10} "
                        f"{X.shape[0]}x{X.shape[1]} {name:<9} {status}"
                    )
    md = out_dir / "speed.md"
    md.write_text(render_speed(records, command))
    return md


def _fastest(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One record per (case, detector): the fastest fit and score over repeats,
    or the first error if every repeat failed."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        key = (r["case"], r["detector"])
        if key not in best or (best[key]["error"] and not r["error"]):
            best[key] = dict(r)
        elif not r["error"]:
            best[key]["fit_s"] = min(best[key]["fit_s"], r["fit_s"])
            best[key]["score_s"] = min(best[key]["score_s"], r["score_s"])
    return list(best.values())


def _ratio(a: float, b: float) -> str:
    if not (np.isfinite(a) and np.isfinite(b)) or b <= 0:
        return "n/a"
    return f"{a / b:.2f}"


def render_speed(records: Sequence[Mapping[str, Any]], command: str) -> str:
    """``speed.md``: the raw times and the anomvae / PyOD ratios per case."""
    env = environment()
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    n_repeats = len({r["repeat"] for r in records}) if records else 0
    records = _fastest(records)
    by = {(r["case"], r["detector"]): r for r in records}
    cases = list(dict.fromkeys(r["case"] for r in records))
    lines = [
        "# Speed: anomvae against PyOD",
        f"Produced by `{command}` on {now}; {env['cpu_count']} CPUs, "
        f"torch threads: {env['torch_threads']}; anomvae {env['anomvae']}, "
        f"pyod {env['pyod']}, torch {env['torch']}. Each detector fits the same rows "
        f"and scores them; fastest of {n_repeats} run(s); "
        "ratio = anomvae seconds / PyOD seconds (< 1: anomvae is "
        "faster; goal for the VAE fit: ≤ 0.5).",
        "",
        "| case | rows × features | VAE fit ratio | VAE score ratio | AE fit ratio "
        "| AE score ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for case in cases:
        if (case, "pyod_vae") not in by and (case, "pyod_ae") not in by:
            continue
        some = next(r for r in records if r["case"] == case)
        cells = []
        for ours, theirs in PAIRS.items():
            a, b = by.get((case, ours)), by.get((case, theirs))
            for key in ("fit_s", "score_s"):
                cells.append(_ratio(a[key], b[key]) if a and b else "n/a")
        lines.append(
            f"| {case} ({some['dataset']}) | {some['n_rows']} × "
            f"{some['n_features']} | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        "| case | dataset | rows × features | detector | fit s | score s |",
        "|---|---|---:|---|---:|---:|",
    ]
    for r in records:
        fit = "failed: " + r["error"] if r["error"] else f"{r['fit_s']:.2f}"
        score = "" if r["error"] else f"{r['score_s']:.2f}"
        lines.append(
            f"| {r['case']} | {r['dataset']} | {r['n_rows']} × "
            f"{r['n_features']} | `{r['detector']}` | {fit} | {score} |"
        )
    checks = [r for r in records if r["case"] == "fit_check" and not r["error"]]
    if checks:
        lines += [
            "",
            f"Fit check ({checks[0]['n_rows']} × {checks[0]['n_features']}, "
            f"backdoor normal rows; goal ≤ {FIT_CHECK_SECONDS:.0f} s): "
            + "; ".join(
                f"`{r['detector']}` {r['fit_s']:.1f} s "
                f"({'met' if r['fit_s'] <= FIT_CHECK_SECONDS else 'missed'})"
                for r in checks
            ),
        ]
    return "\n".join(lines) + "\n"
