"""Run the mixed-table benchmark: one CSV row per dataset, seed and detector.

The loop of :func:`benchmarks.runner.run_benchmark` over mixed tables: each split
is made once (:func:`benchmarks.mixed.data.make_mixed_split`), each view it needs
once (:func:`benchmarks.mixed.views.make_views`, fitted on the training rows), and
every detector gets a copy of its view. Rows are appended to ``results.csv`` as
they are measured; ``resume`` carries on an interrupted run.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.mixed.data import (
    MIXED_DATA_DIR,
    MIXED_PROTOCOL_VERSION,
    load_mixed_dataset,
    make_mixed_split,
)
from benchmarks.mixed.registry import (
    MIXED_REGISTRY,
    MixedDetector,
    factories,
    shared_fits,
)
from benchmarks.mixed.views import ViewUnavailableError, make_views
from benchmarks.runner import (
    RESULT_COLUMNS,
    Log,
    describe,
    evaluate,
    log_stderr,
    open_results,
    plan_detectors,
    start_run,
    warm_up,
    write_meta,
)

__all__ = ["MIXED_RESULT_COLUMNS", "run_mixed"]

#: :data:`benchmarks.runner.RESULT_COLUMNS` plus the view a detector took, the
#: table's column count (``n_features`` is the view's width) and the seconds the
#: view's preprocessing took on the training rows (fit and transform) and on the
#: test rows (transform).
MIXED_RESULT_COLUMNS: tuple[str, ...] = (
    *RESULT_COLUMNS[:3],
    "view",
    *RESULT_COLUMNS[3:-2],
    "n_columns",
    "prep_fit_s",
    "prep_score_s",
    *RESULT_COLUMNS[-2:],
)


def run_mixed(
    datasets: Sequence[str],
    detectors: Sequence[str],
    seeds: Sequence[int],
    out_dir: str | Path,
    *,
    data_dir: str | Path = MIXED_DATA_DIR,
    max_train_rows: int | None = None,
    resume: bool = False,
    registry: Mapping[str, MixedDetector] = MIXED_REGISTRY,
    settings: Mapping[str, Any] | None = None,
    required: Sequence[str] = (),
    log: Log = log_stderr,
) -> Path:
    """Evaluate ``detectors`` on every dataset and seed; return the CSV's path.

    A detector whose view the table cannot have (``numeric`` without numeric
    columns) gets no row there, and the log says so. ``settings`` (command, ...)
    are stored in ``run.json`` with the environment.
    """
    out_dir = Path(out_dir)
    csv_path = out_dir / "results.csv"
    meta, meta_path = start_run(
        out_dir,
        settings,
        protocol_version=MIXED_PROTOCOL_VERSION,
        max_train_rows=max_train_rows,
        seeds=seeds,
        resume=resume,
    )
    build_from = factories(registry)
    plan = plan_detectors(
        detectors,
        registry=build_from,
        shared_fit=shared_fits(registry),
        required=required,
        log=log,
    )
    meta["skipped_detectors"] = plan.skipped
    meta["views"] = {name: registry[name].view for name in plan.rows}
    write_meta(meta_path, meta)
    warm_up([n for n in plan.fits if registry[n].view != "frame"], build_from)

    handle, done = open_results(csv_path, resume, MIXED_RESULT_COLUMNS)
    writer = csv.DictWriter(handle, fieldnames=MIXED_RESULT_COLUMNS)
    try:
        for name in datasets:
            dataset = load_mixed_dataset(name, data_dir)
            for seed in seeds:
                todo = [
                    base
                    for base, rows in plan.fits.items()
                    if any((name, seed, row) not in done for row, _ in rows)
                ]
                if not todo:
                    continue
                split = make_mixed_split(dataset, seed, max_train_rows)
                views = make_views(
                    split, dataset.kinds, {registry[d].view for d in todo}
                )
                common = {
                    "dataset": name,
                    "seed": seed,
                    "n_train": len(split.X_train),
                    "n_test": len(split.X_test),
                    "n_columns": dataset.frame.shape[1],
                    "anomaly_pct": round(dataset.anomaly_pct, 3),
                    "n_test_anomalies": int(split.y_test.sum()),
                }
                for detector in todo:
                    view_name = registry[detector].view
                    view = views[view_name]
                    if isinstance(view, ViewUnavailableError):
                        log(f"{name:<18} seed {seed}  {detector:<26} n/a ({view})")
                        continue
                    view_info = {
                        "view": view_name,
                        "n_features": view.n_features,
                        "prep_fit_s": round(view.prep_fit_s, 4),
                        "prep_score_s": round(view.prep_score_s, 4),
                    }
                    rows = plan.fits[detector]
                    for row in evaluate(detector, rows, view, seed, build_from):
                        writer.writerow({**common, **view_info, **row})
                        handle.flush()
                        log(describe(name, seed, row))
    finally:
        handle.close()
    write_meta(meta_path, meta, finished=True)
    return csv_path
