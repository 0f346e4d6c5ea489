"""The sweep behind the default ``hybrid`` score: k of the latent k-NN term and its
weight, measured on the whole ``--quick`` suite (never chosen per dataset).

For each low-contamination quick dataset and seed it fits the default
``VAEDetector`` once per k (the network is the same for every k: same data, same
``random_state``; only the reference statistics change), then scores the test rows
with each weight of the k-NN term. Mean AUROC over datasets (each the mean over
seeds) is written to ``OUT/hybrid_sweep.md`` and the raw rows to
``OUT/hybrid_sweep.csv``.

Run ``python -m benchmarks.sweep_hybrid [--suite heldout] [--out benchmarks/results]``
(about 10 minutes on 2 cores with ``--threads 1``).

With ``--reference-sizes`` it instead keeps the weight at its default and varies
the reference codes the k-NN term searches (the search's cost grows with their
number): ``REFERENCE_SIZES`` codes chosen two ways, the library's random subset of
training codes (k = 3, scales measured on the rows left out) and k-means
centroids of every training code, each repeated for up to k = 3 of its members
(every training code up to that many rows; scales measured on every row), writing
``OUT/hybrid_reference_sweep.{md,csv}`` (about 10 minutes).

With ``--check-default`` it fits the library's default ``VAEDetector`` as it is
and compares its mean AUROC with the committed benchmark results of the suite
(``results.csv`` in ``--out``), per dataset, writing ``OUT/default_check.{md,csv}``:
the check that a change of the default score's arithmetic kept its detection.

With ``--support-weights`` it varies what the hybrid score adds per out-of-support
cell (``SUPPORT_WEIGHTS``; 0 is the score without that term), one fit per dataset
and seed, writing ``OUT/support_sweep.{md,csv}`` (about 3 minutes).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any
from unittest import mock

import pandas as pd

from benchmarks import sweeps
from benchmarks.data import quick_splits
from benchmarks.runner import auroc_ap

__all__ = [
    "KS",
    "REFERENCE_SIZES",
    "SUPPORT_WEIGHTS",
    "WEIGHTS",
    "check_default",
    "main",
    "sweep",
    "sweep_reference",
    "sweep_support",
]

KS = (1, 2, 3, 5)
WEIGHTS = (1.0, 1.5, 2.0, 3.0)
REFERENCE_SIZES = (4096, 1024, 512, 256)
SUPPORT_WEIGHTS = (0.0, 1.0, 3.0, 10.0, 1e6)


def _rescored(
    det: Any, split: Any, row: dict[str, Any], field: str, values: tuple[float, ...]
) -> list[dict[str, Any]]:
    """``row`` once per value of the fitted latent reference's ``field`` (a weight,
    read at scoring time: no refit), with that value and the test AUROC."""
    fitted = det.latent_reference_
    rows = []
    for value in values:
        det.latent_reference_ = dataclasses.replace(fitted, **{field: value})
        auroc = auroc_ap(split.y_test, det.anomaly_score(split.X_test))[0]
        rows.append({**row, field: value, "auroc": auroc})
    det.latent_reference_ = fitted
    return rows


def sweep(
    data_dir: Path, seeds: int = 3, ks: tuple[int, ...] = KS, suite: str = "quick"
) -> pd.DataFrame:
    """One row per dataset, seed, k and weight with the test AUROC."""
    import anomvae.base
    from anomvae import VAEDetector

    rows = []
    for dataset, seed, split in quick_splits(data_dir, seeds, suite):
        for k in ks:
            # k is read when the fit builds the latent reference.
            with mock.patch.object(anomvae.base, "_LATENT_K", k):
                det = VAEDetector(random_state=seed).fit(split.X_train)
            row = {"dataset": dataset.name, "seed": seed, "k": k}
            rows += _rescored(det, split, row, "latent_weight", WEIGHTS)
        print(f"{dataset.name} seed {seed} done", flush=True)
    return pd.DataFrame(rows)


def _fit_rng(seed: int) -> Any:
    """The random state ``fit`` hands the latent reference for ``random_state=
    seed`` (after drawing the training and scoring seeds), so that a rebuilt
    reference is the one a fit with that reference would have built."""
    import numpy as np

    rng = np.random.RandomState(seed)
    rng.randint(np.iinfo(np.int32).max, size=2)
    return rng


def _random_reference(det: Any, x: Any, c: Any, size: int, seed: int) -> Any:
    """The library's latent reference with at most ``size`` random training codes
    (:func:`anomvae.scoring.fit_latent_reference`, drawn from ``seed``)."""
    import numpy as np
    import torch

    from anomvae import scoring

    fitted = det.latent_reference_
    assert fitted.support_columns is not None
    assert fitted.support_values is not None
    support = (fitted.support_columns.numpy(), fitted.support_values.numpy())
    with (
        mock.patch.object(scoring, "MAX_REFERENCE_CODES", size),
        torch.no_grad(),
    ):
        return scoring.fit_latent_reference(
            det.network_, x, c, np.random.RandomState(seed),
            support=support, batch_rows=8192,
        )  # fmt: skip


def _kmeans_reference(det: Any, x: Any, c: Any, size: int, seed: int) -> Any:
    """A latent reference of ``size`` k-means centroids of every training code,
    each repeated for up to k = 3 of its members (every code when there are at
    most ``size``), k = 3, the scales measured on every training row."""
    import warnings

    import numpy as np
    import torch
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    from anomvae import scoring

    net, k = det.network_, scoring.LATENT_K
    with torch.no_grad():
        codes = net.encode(x, None if c is None else scoring.conditions_of(c))[0]
        if len(codes) <= size:
            reference = codes
            knn = scoring.latent_knn_distance(codes, codes, k, exclude_self=True)
        else:
            rng = np.random.RandomState(
                int(_fit_rng(seed).randint(np.iinfo(np.int32).max))
            )
            kmeans = KMeans(
                size, n_init=1, max_iter=100,
                random_state=rng.randint(np.iinfo(np.int32).max),
            )  # fmt: skip
            with threadpool_limits(1), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                kmeans.fit(codes.numpy())
            copies = np.minimum(np.bincount(kmeans.labels_, minlength=size), k)
            reference = torch.as_tensor(
                np.repeat(kmeans.cluster_centers_, copies, axis=0)
            )
            knn = scoring.latent_knn_distance(codes, reference, k)
        recon = scoring.reconstruction_errors(net, x, c).mean(-1)
    return dataclasses.replace(
        det.latent_reference_,
        codes=reference,
        k=k,
        recon_center=scoring._median_iqr(recon.numpy())[0],
        recon_scale=scoring._median_iqr(recon.numpy())[1],
        knn_center=scoring._median_iqr(knn.numpy())[0],
        knn_scale=scoring._median_iqr(knn.numpy())[1],
    )


def sweep_reference(
    data_dir: Path,
    seeds: int = 3,
    sizes: tuple[int, ...] = REFERENCE_SIZES,
    suite: str = "quick",
) -> pd.DataFrame:
    """One row per dataset, seed, reference method and size with the test AUROC
    of the default hybrid score (one fit per dataset and seed; only the reference
    set and its scales are rebuilt)."""
    from anomvae import VAEDetector

    rows = []
    for dataset, seed, split in quick_splits(data_dir, seeds, suite):
        det = VAEDetector(random_state=seed).fit(split.X_train)
        x, c = det._tensors(split.X_train)
        fitted = det.latent_reference_
        for method in ("kmeans", "random"):
            build = _kmeans_reference if method == "kmeans" else _random_reference
            for size in sizes:
                det.latent_reference_ = build(det, x, c, size, seed)
                auroc, _ = auroc_ap(split.y_test, det.anomaly_score(split.X_test))
                rows.append(
                    {"dataset": dataset.name, "seed": seed, "method": method,
                     "codes": len(det.latent_reference_.codes),
                     "k": det.latent_reference_.k,
                     "reference_size": size, "auroc": auroc}
                )  # fmt: skip
        det.latent_reference_ = fitted
        print(f"{dataset.name} seed {seed} done", flush=True)
    return pd.DataFrame(rows)


def check_default(data_dir: Path, seeds: int = 3, suite: str = "quick") -> pd.DataFrame:
    """One row per dataset and seed with the test AUROC of ``VAEDetector()``."""
    from anomvae import VAEDetector

    rows = []
    for dataset, seed, split in quick_splits(data_dir, seeds, suite):
        det = VAEDetector(random_state=seed).fit(split.X_train)
        auroc, _ = auroc_ap(split.y_test, det.anomaly_score(split.X_test))
        rows.append({"dataset": dataset.name, "seed": seed, "auroc": auroc})
        print(f"{dataset.name} seed {seed}: {auroc:.4f}", flush=True)
    return pd.DataFrame(rows)


def check_table(results: pd.DataFrame, committed: Path, suite: str = "quick") -> str:
    """Markdown: per dataset and on average, the default's AUROC now and in the
    committed results (detector ``vae``)."""
    old = pd.read_csv(committed)
    old = old[old.detector == "vae"].groupby("dataset").auroc.mean()
    now = results.groupby("dataset").auroc.mean()
    lines = ["| dataset | committed | now | change |", "|---|---:|---:|---:|"]
    for name, value in now.items():
        lines.append(
            f"| {name} | {old[name]:.4f} | {value:.4f} | {value - old[name]:+.4f} |"
        )
    mean_old, mean_now = old[now.index].mean(), now.mean()
    lines.append(
        f"| **mean** | **{mean_old:.4f}** | **{mean_now:.4f}** | "
        f"**{mean_now - mean_old:+.4f}** |"
    )
    return (
        sweeps.caption(
            results,
            "the default `VAEDetector`",
            f"now and in the committed `{committed}` (detector `vae`)",
            suite,
        )
        + "\n".join(lines)
        + "\n"
    )


def sweep_support(
    data_dir: Path,
    seeds: int = 3,
    weights: tuple[float, ...] = SUPPORT_WEIGHTS,
    suite: str = "quick",
) -> pd.DataFrame:
    """One row per dataset, seed and out-of-support weight with the test AUROC of
    the default hybrid score (one fit per dataset and seed), and how many features
    were constant in training."""
    from anomvae import VAEDetector

    rows = []
    for dataset, seed, split in quick_splits(data_dir, seeds, suite):
        det = VAEDetector(random_state=seed).fit(split.X_train)
        cols = det.latent_reference_.support_columns
        row = {"dataset": dataset.name, "seed": seed,
               "constant_features": 0 if cols is None else len(cols)}  # fmt: skip
        rows += _rescored(det, split, row, "support_weight", weights)
        print(f"{dataset.name} seed {seed} done", flush=True)
    return pd.DataFrame(rows)


def support_table(results: pd.DataFrame, suite: str = "quick") -> str:
    """Markdown: mean AUROC by the out-of-support weight, then the sets that have
    features constant in training, one column per weight."""
    affected = results[results.constant_features > 0]
    per_set = affected.groupby(["dataset", "support_weight"]).auroc.mean().unstack()
    counts = affected.groupby("dataset").constant_features.mean()
    head = "| dataset | constant features | " + " | ".join(
        f"{w:g}" for w in per_set.columns
    )
    lines = [head + " |", "|---|---:|" + "---:|" * len(per_set.columns)]
    for name, row in per_set.iterrows():
        values = " | ".join(f"{v:.4f}" for v in row)
        lines.append(f"| {name} | {counts[name]:.0f} | {values} |")
    return (
        sweeps.caption(
            results,
            "the default `VAEDetector`",
            "by what `hybrid` adds per out-of-support cell (0: no such term)",
            suite,
        )
        + sweeps.one_way_table(results, "support_weight", "weight per cell")
        + "\nSets with features constant on the training rows (the others do not "
        "change; constant features averaged over seeds):\n\n" + "\n".join(lines) + "\n"
    )


def reference_table(results: pd.DataFrame, suite: str = "quick") -> str:
    """Markdown: mean AUROC by the largest number of reference codes (down) and
    how they are chosen (across)."""
    per_dataset = results.groupby(["reference_size", "method", "dataset"]).auroc.mean()
    means = per_dataset.groupby(["reference_size", "method"]).mean().unstack("method")
    means = means.sort_index(ascending=False)
    lines = [
        "| reference codes (at most) | k-means centroids, each for up to 3 members "
        "(k = 3) | random training codes, k = 3 (the library's) |",
        "|---:|---:|---:|",
    ]
    for size, row in means.iterrows():
        lines.append(f"| {size:,} | {row['kmeans']:.4f} | {row['random']:.4f} |")
    return (
        sweeps.caption(
            results,
            "the default `VAEDetector` (weight 2)",
            "by how many reference codes its latent k-NN term searches and how "
            "they are chosen (sets with fewer training rows keep them all, k = 3)",
            suite,
        )
        + "\n".join(lines)
        + "\n"
    )


def table(results: pd.DataFrame, suite: str = "quick") -> str:
    """Markdown: mean AUROC over datasets, k down, weight across."""
    per_dataset = results.groupby(["k", "latent_weight", "dataset"]).auroc.mean()
    means = per_dataset.groupby(["k", "latent_weight"]).mean().unstack("latent_weight")
    head = "| k \\ weight | " + " | ".join(f"{w:g}" for w in means.columns) + " |"
    lines = [head, "|---|" + "---:|" * len(means.columns)]
    for k, row in means.iterrows():
        lines.append(f"| {k} | " + " | ".join(f"{v:.4f}" for v in row) + " |")
    return (
        sweeps.caption(
            results,
            "the default `VAEDetector`",
            "by k of the latent k-NN term and its weight in `hybrid` "
            "(reconstruction weight 1)",
            suite,
        )
        + "\n".join(lines)
        + "\n"
    )


def main(argv: list[str] | None = None) -> None:
    """Command line of the sweep."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reference-sizes",
        action="store_true",
        help="sweep the number of reference codes instead of k and the weight",
    )
    parser.add_argument(
        "--check-default",
        action="store_true",
        help="compare the default detector with the committed results instead",
    )
    parser.add_argument(
        "--support-weights",
        action="store_true",
        help="sweep the out-of-support weight instead of k and the weight",
    )
    args = sweeps.parse_args(parser, argv)
    if args.check_default:
        results = check_default(args.data, args.seeds, suite=args.suite)
        name = "default_check"
        text = check_table(results, args.out / "results.csv", args.suite)
    elif args.support_weights:
        results = sweep_support(args.data, args.seeds, suite=args.suite)
        name, text = "support_sweep", support_table(results, args.suite)
    elif args.reference_sizes:
        results = sweep_reference(args.data, args.seeds, suite=args.suite)
        name, text = "hybrid_reference_sweep", reference_table(results, args.suite)
    else:
        results = sweep(args.data, args.seeds, suite=args.suite)
        name, text = "hybrid_sweep", table(results, args.suite)
    title = "Default detector check" if args.check_default else "Hybrid score sweep"
    sweeps.write(args.out, name, title, results, text)


if __name__ == "__main__":
    main()
