"""Why the native model trails on one table: a diagnosis, never a tuning.

``python -m benchmarks.mixed.diagnose TABLE [--seeds 3] [--out FILE.md]`` takes the
benchmark's own splits of one table (:func:`benchmarks.mixed.data.make_mixed_split`,
the same deduplication, seeds and training cut) and reports:

* **the table**: columns by kind, distinct rows, the split sizes;
* **what separates the anomalies**, column by column and without any model: the
  AUROC of a numeric column's value (and of its distance from the training
  median), and of a categorical or binary cell's rarity, :math:`-\\log` of its
  level's training frequency (a blank is a level; an unseen level is the rarest);
  0.5 is no signal, 1 (or 0) a perfect one;
* **the obvious knobs** of ``VAEDetector`` on this table, one at a time:
  ``numeric_transform="none"``, ``min_frequency=0.01``, ``latent_dim`` 4 and 32,
  no input masking (``noise=None``), and the numeric columns alone; each fit
  scored with ``hybrid`` (the default), ``elbo``, ``reconstruction`` and
  ``latent_knn``; mean ± std AUROC over seeds.

The knobs are tried on the table that trails *only to explain it*: the defaults
are chosen on whole suites, and nothing found here changes them.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from benchmarks.mixed.cli import MIXED_MAX_TRAIN_ROWS
from benchmarks.mixed.data import MIXED_DATA_DIR, load_mixed_dataset, make_mixed_split
from benchmarks.registry import anomaly_scores, seed_everything
from benchmarks.report import format_cell, markdown_table

__all__ = ["KNOBS", "SCORES", "column_signal", "diagnose", "main"]

#: The scores each fit is rescored with (the default first).
SCORES = ("hybrid", "elbo", "reconstruction", "latent_knn")

#: Knob name to ``VAEDetector`` parameters; ``numeric only`` also drops the
#: non-numeric columns.
KNOBS: dict[str, dict[str, Any]] = {
    "defaults": {},
    'numeric_transform="none"': {"numeric_transform": "none"},
    "min_frequency=0.01": {"min_frequency": 0.01},
    "latent_dim=4": {"latent_dim": 4},
    "latent_dim=32": {"latent_dim": 32},
    "noise=None (no masking)": {"noise": None},
    "numeric columns only": {},
}


def _rarity(train: pd.Series, test: pd.Series) -> np.ndarray:
    """-log of each test cell's level frequency among the training cells
    (blank a level; an unseen level gets half a count)."""
    key_train = train.astype("string").fillna("<blank>")
    key_test = test.astype("string").fillna("<blank>")
    freq = key_train.value_counts(normalize=True)
    floor = 0.5 / len(train)
    return -np.log(key_test.map(freq).astype(float).fillna(floor).to_numpy())


def column_signal(
    X_train: pd.DataFrame, X_test: pd.DataFrame, y: np.ndarray, kinds: dict[str, str]
) -> pd.DataFrame:
    """Per column: its kind, blank share, levels (non-numeric), and the AUROC
    of a model-free score of the test cells (see the module docstring)."""
    rows = []
    for name, kind in kinds.items():
        train, test = X_train[name], X_test[name]
        row: dict[str, Any] = {
            "column": name,
            "kind": kind,
            "blank %": 100.0 * float(test.isna().mean()),
        }
        if kind == "numeric":
            values = test.to_numpy(dtype=float, na_value=np.nan)
            filled = np.where(np.isnan(values), np.nanmedian(values), values)
            median = float(np.nanmedian(train.to_numpy(dtype=float, na_value=np.nan)))
            row["levels"] = ""
            row["AUROC of value"] = roc_auc_score(y, filled)
            row["AUROC of distance to train median"] = roc_auc_score(
                y, np.abs(filled - median)
            )
            row["AUROC of rarity"] = np.nan
        else:
            row["levels"] = int(train.nunique(dropna=True))
            row["AUROC of value"] = np.nan
            row["AUROC of distance to train median"] = np.nan
            row["AUROC of rarity"] = roc_auc_score(y, _rarity(train, test))
        rows.append(row)
    return pd.DataFrame(rows)


def _fit_scores(
    make: Callable[[], Any], X_train: pd.DataFrame, X_test: pd.DataFrame, seed: int
) -> tuple[dict[str, np.ndarray], float]:
    estimator = make()
    estimator.set_params(random_state=seed)
    seed_everything(seed)
    start = time.perf_counter()
    estimator.fit(X_train.copy())
    fit_s = time.perf_counter() - start
    scores = {}
    for score in SCORES:
        estimator.set_params(score_type=score)
        scores[score] = anomaly_scores(estimator, X_test.copy())
    return scores, fit_s


def diagnose(
    name: str,
    seeds: int = 3,
    data_dir: str | Path = MIXED_DATA_DIR,
    knobs: dict[str, dict[str, Any]] | None = None,
    log: Callable[[str], None] = print,
) -> str:
    """The Markdown report of one table (see the module docstring)."""
    from anomvae import VAEDetector

    knobs = KNOBS if knobs is None else knobs
    dataset = load_mixed_dataset(name, data_dir)
    kinds = dict(dataset.kinds)
    numeric = [c for c, k in kinds.items() if k == "numeric"]
    auroc: dict[str, dict[str, list[float]]] = {}
    fit_times: dict[str, list[float]] = {}
    signal = None
    for seed in range(seeds):
        split = make_mixed_split(dataset, seed, MIXED_MAX_TRAIN_ROWS)
        if signal is None:
            signal = column_signal(split.X_train, split.X_test, split.y_test, kinds)
        for knob, params in knobs.items():
            if knob == "numeric columns only" and not numeric:
                continue
            columns = numeric if knob == "numeric columns only" else list(kinds)
            scores, fit_s = _fit_scores(
                lambda p=params: VAEDetector(**p),
                split.X_train[columns],
                split.X_test[columns],
                seed,
            )
            fit_times.setdefault(knob, []).append(fit_s)
            for score, values in scores.items():
                value = float(roc_auc_score(split.y_test, values))
                auroc.setdefault(knob, {}).setdefault(score, []).append(value)
            log(
                f"{name} seed {seed} {knob}: "
                + ", ".join(f"{s} {v[-1]:.3f}" for s, v in auroc[knob].items())
            )
    assert signal is not None
    split = make_mixed_split(dataset, 0, MIXED_MAX_TRAIN_ROWS)
    counts = pd.Series(kinds).value_counts().to_dict()
    lines = [
        f"# Diagnosis: `{name}`",
        "",
        f"Produced by `python -m benchmarks.mixed.diagnose {name} --seeds {seeds}` "
        "(the benchmark's splits; see the module docstring). "
        f"{dataset.n_published:,} rows, {len(dataset.y):,} distinct, "
        f"{dataset.anomaly_pct:.1f} % anomalies among them; columns: "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
        + f"; split (seed 0): {len(split.X_train):,} training rows, "
        f"{len(split.X_test):,} test rows of which {int(split.y_test.sum()):,} "
        "anomalies.",
        "",
        "## What separates the anomalies (no model; seed 0's test rows)",
        "",
        "AUROC of one column's cells alone: a number's value (and its distance "
        "from the training median); a category's or flag's rarity, −log of its "
        "level's training frequency. Below 0.5: the anomalies sit at the other "
        "end (low values, *common* levels).",
        "",
        _signal_table(signal),
        "",
        f"## `VAEDetector` knobs on this table ({seeds} seeds, AUROC mean ± std)",
        "",
        _knob_table(auroc, fit_times),
        "",
    ]
    return "\n".join(lines)


def _signal_table(signal: pd.DataFrame) -> str:
    header = list(signal.columns)
    rows = []
    for r in signal.itertuples(index=False):
        rows.append(
            [
                f"`{r[0]}`",
                r[1],
                f"{r[2]:.1f}",
                r[3],
                *("" if pd.isna(v) else f"{v:.3f}" for v in r[4:]),
            ]
        )
    return markdown_table(header, rows)


def _knob_table(
    auroc: dict[str, dict[str, list[float]]], fit_times: dict[str, list[float]]
) -> str:
    header = ["knob", *(f"`{s}`" for s in SCORES), "mean fit s"]
    rows = []
    for knob, per in auroc.items():
        rows.append(
            [
                knob,
                *(
                    format_cell(float(np.mean(per[s])), float(np.std(per[s], ddof=1)))
                    if len(per[s]) > 1
                    else f"{per[s][0]:.3f}"
                    for s in SCORES
                ),
                f"{np.mean(fit_times[knob]):.1f}",
            ]
        )
    return markdown_table(header, rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data", type=Path, default=MIXED_DATA_DIR)
    parser.add_argument("--out", type=Path, help="write the Markdown here")
    parser.add_argument(
        "--knobs", help="comma-separated knob names (default: all)", default=None
    )
    args = parser.parse_args(argv)
    knobs = (
        None
        if args.knobs is None
        else {k: KNOBS[k] for k in (s.strip() for s in args.knobs.split(","))}
    )
    text = diagnose(args.table, args.seeds, args.data, knobs)
    if args.out is not None:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
