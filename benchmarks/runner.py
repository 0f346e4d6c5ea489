"""Run the benchmark: one CSV row per dataset, seed and detector.

Datasets run one after another, and each row is appended (and flushed) to
``results.csv`` as soon as it is measured, so an interrupted run keeps what it has
done and ``--resume`` carries on from there.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, roc_auc_score

from benchmarks.data import PROTOCOL_VERSION, Split, load_dataset, make_split
from benchmarks.registry import REGISTRY, SHARED_FIT, Factory, anomaly_scores, build
from benchmarks.registry import seed_everything as _seed_everything

__all__ = [
    "RESULT_COLUMNS",
    "MissingDetectorError",
    "ResumeError",
    "RunPlan",
    "auroc_ap",
    "describe",
    "environment",
    "evaluate",
    "load_results",
    "log_stderr",
    "open_results",
    "plan_detectors",
    "run_benchmark",
    "start_run",
    "warm_up",
    "write_meta",
]

RESULT_COLUMNS = (
    "dataset",
    "seed",
    "detector",
    "auroc",
    "ap",
    "fit_s",
    "score_s",
    "n_train",
    "n_test",
    "n_features",
    "anomaly_pct",
    "n_test_anomalies",
    "error",
    "note",
)

Log = Callable[[str], None]


class ResumeError(RuntimeError):
    """``--resume`` on results produced under different settings."""


class MissingDetectorError(RuntimeError):
    """A detector the run cannot do without (a baseline) fails to import."""


def log_stderr(message: str) -> None:
    """The default log: one line on stderr."""
    print(message, file=sys.stderr, flush=True)


def auroc_ap(y_true: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """AUROC and average precision of anomaly scores (higher = more anomalous).

    Both depend only on the order of the scores, so infinite scores are replaced
    by their ranks; NaN scores are an error.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if np.isnan(scores).any():
        raise ValueError(f"{int(np.isnan(scores).sum())} NaN scores")
    if not np.isfinite(scores).all():
        scores = rankdata(scores)
    return (
        float(roc_auc_score(y_true, scores)),
        float(average_precision_score(y_true, scores)),
    )


@dataclass
class RunPlan:
    """Which estimators to fit, and which result rows each fit produces.

    ``fits[base]`` lists ``(row name, scoring-time params or None)``.
    """

    fits: dict[str, list[tuple[str, dict[str, Any] | None]]] = field(
        default_factory=dict
    )
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> list[str]:
        return [name for rows in self.fits.values() for name, _ in rows]


def plan_detectors(
    names: Sequence[str],
    *,
    registry: Mapping[str, Factory] = REGISTRY,
    shared_fit: Mapping[str, str] = SHARED_FIT,
    refit_variants: bool = False,
    required: Collection[str] = (),
    log: Log = log_stderr,
) -> RunPlan:
    """Group the requested detectors into fits, dropping those that cannot run.

    A detector whose factory fails to import (anomvae before the core exists) is
    skipped with a warning. A scoring variant (``shared_fit``) becomes the
    parameters in which its estimator differs from its base's, set on the base's
    fit before scoring; a variant that does not differ (``vae[score=elbo]`` when
    ``VAEDetector()`` scores with the ELBO) is skipped when the base is also
    requested: it would be the same column twice.

    Raises
    ------
    MissingDetectorError
        If a detector in ``required`` cannot be built.
    """
    plan = RunPlan()
    params_of: dict[str, dict[str, Any] | None] = {}

    def params(name: str) -> dict[str, Any] | None:
        if name not in params_of:
            try:
                estimator = registry[name]()
            except (ImportError, AttributeError) as exc:
                plan.skipped[name] = f"unavailable ({type(exc).__name__}: {exc})"
                params_of[name] = None
            else:
                params_of[name] = dict(getattr(estimator, "get_params", dict)())
        return params_of[name]

    for name in names:
        if name not in registry:
            raise KeyError(f"unknown detector {name!r}")
        base = shared_fit.get(name, name)
        own, base_params = params(name), params(base)
        if own is None or base_params is None:
            plan.skipped.setdefault(name, plan.skipped.get(base, "unavailable"))
            continue
        if refit_variants or base == name:
            plan.fits.setdefault(name, []).append((name, None))
            continue
        diff = {k: v for k, v in own.items() if base_params.get(k, v) != v}
        if not diff and base in names:
            plan.skipped[name] = f"identical to {base} (its default)"
            continue
        plan.fits.setdefault(base, []).append((name, diff))
    missing = [n for n in required if plan.skipped.get(n, "").startswith("unavail")]
    if missing:
        raise MissingDetectorError(
            "; ".join(f"{n} is {plan.skipped[n]}" for n in missing)
            + " (is it installed? PyOD's deep models also need tqdm, which pyod "
            "does not declare)"
        )
    for name, why in plan.skipped.items():
        log(f"skipping {name}: {why}")
    return plan


def warm_up(names: Sequence[str], registry: Mapping[str, Factory] = REGISTRY) -> None:
    """Fit and score each detector once on a small random array, untimed.

    The first fit of a torch model in a process pays one-off costs (lazy imports,
    kernel initialisation: about 5 s for PyOD's AutoEncoder on one thread) that
    would otherwise be charged to whichever detector and dataset come first.
    """
    X = np.random.default_rng(0).normal(size=(256, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            try:
                estimator = build(name, 0, registry)
                if "max_epochs" in estimator.get_params():
                    estimator.set_params(max_epochs=2)
                elif "epoch_num" in estimator.get_params():
                    estimator.set_params(epoch_num=2)
                anomaly_scores(estimator.fit(X), X)
            except Exception:  # a broken detector fails, and is recorded, later
                continue


def environment() -> dict[str, Any]:
    """Versions and hardware, recorded next to the results."""
    import pyod
    import sklearn
    import torch

    try:
        import anomvae

        anomvae_version: str | None = anomvae.__version__
    except ImportError:
        anomvae_version = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "pyod": pyod.__version__,
        "torch": torch.__version__,
        "anomvae": anomvae_version,
    }


def load_results(path: str | Path) -> pd.DataFrame:
    """Read ``results.csv``; a row measured twice (a resumed retry) keeps the last."""
    frame = pd.read_csv(path, dtype={"error": "string", "note": "string"})
    for column in ("error", "note"):
        frame[column] = frame[column].fillna("").astype(str)
    return frame.drop_duplicates(["dataset", "seed", "detector"], keep="last")


def open_results(
    path: Path, resume: bool, columns: Sequence[str] = RESULT_COLUMNS
) -> tuple[Any, set[tuple[str, int, str]]]:
    """Open ``results.csv`` for appending rows (a new file with a header unless
    resuming) and return it with the ``(dataset, seed, detector)`` rows it already
    holds without an error."""
    done: set[tuple[str, int, str]] = set()
    if resume and path.exists() and path.stat().st_size > 0:
        previous = load_results(path)
        ok = previous[previous["error"] == ""]
        done = set(
            zip(ok["dataset"], ok["seed"].astype(int), ok["detector"], strict=True)
        )
        handle = path.open("a", newline="")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("w", newline="")
        csv.writer(handle).writerow(columns)
    return handle, done


def _check_resume(meta_path: Path, settings: dict[str, Any]) -> dict[str, Any]:
    if not meta_path.exists():
        return {}
    previous: dict[str, Any] = json.loads(meta_path.read_text())
    for key in ("protocol_version", "max_train_rows"):
        if previous.get(key) != settings.get(key):
            raise ResumeError(
                f"{meta_path.parent} holds results with {key}={previous.get(key)!r}, "
                f"this run has {settings.get(key)!r}; use another --out or drop "
                "--resume"
            )
    return previous


def start_run(
    out_dir: Path,
    settings: Mapping[str, Any] | None,
    *,
    protocol_version: int,
    max_train_rows: int | None,
    seeds: Sequence[int],
    resume: bool,
) -> tuple[dict[str, Any], Path]:
    """Create ``out_dir`` and return the run's ``run.json`` contents (the
    settings, protocol version, cut and seeds, the start time, the earlier starts
    and commands when resuming, and the environment) and path.

    Raises
    ------
    ResumeError
        If resuming on results of another protocol version or training cut.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    meta_path = out_dir / "run.json"
    meta: dict[str, Any] = {
        **dict(settings or {}),
        "protocol_version": protocol_version,
        "max_train_rows": max_train_rows,
        "seeds": list(seeds),
    }
    if resume:
        previous = _check_resume(meta_path, meta)
        meta["started"] = previous.get("started", _now())
        meta["resumed"] = [*previous.get("resumed", []), _now()]
        earlier = [*previous.get("earlier_commands", []), previous.get("command")]
        meta["earlier_commands"] = [c for c in earlier if c]
    else:
        meta["started"] = _now()
    meta["environment"] = environment()
    return meta, meta_path


def write_meta(
    meta_path: Path, meta: Mapping[str, Any], finished: bool = False
) -> None:
    """Write ``run.json``; with ``finished`` stamp the finishing time first."""
    if finished:
        meta = {**meta, "finished": _now()}
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _timed_scores(estimator: Any, X: np.ndarray) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    scores = anomaly_scores(estimator, X.copy())
    return scores, time.perf_counter() - start


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]


def run_benchmark(
    dataset_paths: Sequence[str | Path],
    detectors: Sequence[str],
    seeds: Sequence[int],
    out_dir: str | Path,
    *,
    max_train_rows: int | None = None,
    resume: bool = False,
    refit_variants: bool = False,
    registry: Mapping[str, Factory] = REGISTRY,
    shared_fit: Mapping[str, str] = SHARED_FIT,
    settings: Mapping[str, Any] | None = None,
    required: Collection[str] = (),
    log: Log = log_stderr,
) -> Path:
    """Evaluate ``detectors`` on every dataset and seed; return the CSV's path.

    Every detector of a (dataset, seed) gets its own copy of the same raw training
    and test arrays (:func:`benchmarks.data.make_split`); a failing fit or score
    becomes a row with an ``error`` and no metrics. ``settings`` (suite, command,
    ...) are stored in ``run.json`` with the environment.
    """
    out_dir = Path(out_dir)
    csv_path = out_dir / "results.csv"
    meta, meta_path = start_run(
        out_dir,
        settings,
        protocol_version=PROTOCOL_VERSION,
        max_train_rows=max_train_rows,
        seeds=seeds,
        resume=resume,
    )
    plan = plan_detectors(
        detectors,
        registry=registry,
        shared_fit=shared_fit,
        refit_variants=refit_variants,
        required=required,
        log=log,
    )
    meta["skipped_detectors"] = plan.skipped
    write_meta(meta_path, meta)
    warm_up(list(plan.fits), registry)

    handle, done = open_results(csv_path, resume)
    writer = csv.DictWriter(handle, fieldnames=RESULT_COLUMNS)
    try:
        for path in dataset_paths:
            dataset = load_dataset(path)
            for seed in seeds:
                todo = {
                    base: rows
                    for base, rows in plan.fits.items()
                    if any((dataset.name, seed, name) not in done for name, _ in rows)
                }
                if not todo:
                    continue
                split = make_split(dataset, seed, max_train_rows)
                common = {
                    "dataset": dataset.name,
                    "seed": seed,
                    "n_train": len(split.X_train),
                    "n_test": len(split.X_test),
                    "n_features": dataset.X.shape[1],
                    "anomaly_pct": round(dataset.anomaly_pct, 3),
                    "n_test_anomalies": int(split.y_test.sum()),
                }
                for base, rows in todo.items():
                    for row in evaluate(base, rows, split, seed, registry):
                        writer.writerow({**common, **row})
                        handle.flush()
                        log(describe(dataset.name, seed, row))
    finally:
        handle.close()
    write_meta(meta_path, meta, finished=True)
    return csv_path


def evaluate(
    base: str,
    rows: list[tuple[str, dict[str, Any] | None]],
    split: Split | Any,
    seed: int,
    registry: Mapping[str, Factory],
) -> list[dict[str, Any]]:
    """Fit ``base`` once on a copy of ``split.X_train``, score a copy of
    ``split.X_test`` and produce the result rows it stands for (``rows``, as in
    :class:`RunPlan`). ``split`` is anything with ``X_train``, ``X_test`` and
    ``y_test`` whose inputs have ``.copy()``: arrays or DataFrames."""
    results: list[dict[str, Any]] = []
    with warnings.catch_warnings():
        # Library chatter (deprecations, convergence notes) is not a result;
        # anomvae's own warnings still show.
        warnings.simplefilter("ignore")
        warnings.filterwarnings("default", module="anomvae")
        try:
            estimator = build(base, seed, registry)
            _seed_everything(seed)
            start = time.perf_counter()
            estimator.fit(split.X_train.copy())
            fit_s = time.perf_counter() - start
            base_scores, base_score_s = _timed_scores(estimator, split.X_test)
        except Exception as exc:
            return [_row(name, error=_error(exc)) for name, _ in rows]
        for name, params in rows:
            try:
                if params is None:
                    scores, score_s = base_scores, base_score_s
                else:
                    estimator.set_params(**params)
                    scores, score_s = _timed_scores(estimator, split.X_test)
                auroc, ap = auroc_ap(split.y_test, scores)
            except Exception as exc:
                results.append(_row(name, error=_error(exc)))
                continue
            n_inf = int(np.isinf(scores).sum())
            note = f"{n_inf}/{len(scores)} scores infinite" if n_inf else ""
            results.append(
                _row(name, auroc=auroc, ap=ap, fit_s=fit_s, score_s=score_s, note=note)
            )
    return results


def _row(
    detector: str,
    *,
    auroc: float = float("nan"),
    ap: float = float("nan"),
    fit_s: float = float("nan"),
    score_s: float = float("nan"),
    error: str = "",
    note: str = "",
) -> dict[str, Any]:
    return {
        "detector": detector,
        "auroc": round(auroc, 6),
        "ap": round(ap, 6),
        "fit_s": round(fit_s, 4),
        "score_s": round(score_s, 4),
        "error": error,
        "note": note,
    }


def describe(dataset: str, seed: int, row: Mapping[str, Any]) -> str:
    """The log line of one result row."""
    head = f"{dataset:<18} seed {seed}  {row['detector']:<26}"
    if row["error"]:
        return f"{head} FAILED {row['error']}"
    return (
        f"{head} AUROC {row['auroc']:.3f}  AP {row['ap']:.3f}  "
        f"fit {row['fit_s']:.2f}s  score {row['score_s']:.2f}s"
        + (f"  ({row['note']})" if row["note"] else "")
    )
