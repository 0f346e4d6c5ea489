"""The sweep behind ``VAEDetector``'s default ``noise_level``: the probability of
masking each input cell during training, measured on the whole ``--quick`` suite
(never chosen per dataset).

For each low-contamination quick dataset and seed it fits ``VAEDetector`` with
every level in ``NOISE_LEVELS`` (all other parameters at their defaults) and
scores the test rows with the default score. Mean AUROC over datasets (each the
mean over seeds) is written to ``OUT/noise_sweep.md`` and the raw rows to
``OUT/noise_sweep.csv``.

Run ``python -m benchmarks.sweep_noise [--out benchmarks/results] [--threads 1]``
(about 20 minutes on one core).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from benchmarks.data import DEFAULT_DATA_DIR, quick_splits
from benchmarks.runner import auroc_ap
from benchmarks.sweep_hybrid import one_way_table

__all__ = ["NOISE_LEVELS", "main", "sweep", "table"]

NOISE_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


def sweep(
    data_dir: Path, seeds: int = 3, levels: tuple[float, ...] = NOISE_LEVELS
) -> pd.DataFrame:
    """One row per dataset, seed and masking level with the test AUROC."""
    from anomvae import VAEDetector

    rows = []
    for dataset, seed, split in quick_splits(data_dir, seeds):
        for level in levels:
            det = VAEDetector(random_state=seed, noise_level=level)
            det.fit(split.X_train)
            auroc, _ = auroc_ap(split.y_test, det.anomaly_score(split.X_test))
            rows.append(
                {"dataset": dataset.name, "seed": seed, "noise_level": level,
                 "auroc": auroc}
            )  # fmt: skip
        print(f"{dataset.name} seed {seed} done", flush=True)
    return pd.DataFrame(rows)


def table(results: pd.DataFrame) -> str:
    """Markdown: mean AUROC by masking level."""
    n = results.dataset.nunique()
    return (
        f"Mean AUROC of `VAEDetector(noise_level=...)` (every other parameter at its "
        f"default) over {n} low-contamination quick datasets "
        f"({results.seed.nunique()} seeds each) by the probability of masking an "
        "input cell during training.\n\n"
        + one_way_table(results, "noise_level", "masking probability")
    )


def main(argv: list[str] | None = None) -> None:
    """Command line of the sweep."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    results = sweep(args.data, args.seeds)
    args.out.mkdir(parents=True, exist_ok=True)
    results.to_csv(args.out / "noise_sweep.csv", index=False)
    text = "# Masking-level sweep\n\n" + table(results)
    (args.out / "noise_sweep.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
