"""The sweep behind the default ``noise_level`` of ``VAEDetector`` and
``DenoisingAutoencoderDetector``: the probability of masking each input cell during
training, measured on the whole ``--quick`` suite (never chosen per dataset).

For each low-contamination quick dataset and seed it fits the detector
(``--detector vae`` or ``dae``) with every level in ``NOISE_LEVELS`` (all other
parameters at their defaults) and scores the test rows with the default score.
Mean AUROC over datasets (each the mean over seeds) is written to
``OUT/noise_sweep[_dae].md`` and the raw rows to ``OUT/noise_sweep[_dae].csv``.

Run ``python -m benchmarks.sweep_noise [--detector dae] [--levels 0.2,0.3]
[--suite heldout] [--out benchmarks/results] [--threads 1]`` (about 20 minutes on
one core for all six levels).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from benchmarks import sweeps
from benchmarks.data import quick_splits
from benchmarks.runner import auroc_ap

__all__ = ["DETECTORS", "NOISE_LEVELS", "main", "sweep", "table"]

NOISE_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
#: ``--detector`` names and the classes they sweep.
DETECTORS = {"vae": "VAEDetector", "dae": "DenoisingAutoencoderDetector"}


def sweep(
    data_dir: Path,
    seeds: int = 3,
    levels: tuple[float, ...] = NOISE_LEVELS,
    detector: str = "vae",
    suite: str = "quick",
) -> pd.DataFrame:
    """One row per dataset, seed and masking level with the test AUROC."""
    import anomvae

    cls = getattr(anomvae, DETECTORS[detector])
    rows = []
    for dataset, seed, split in quick_splits(data_dir, seeds, suite):
        for level in levels:
            det = cls(random_state=seed, noise_level=level)
            det.fit(split.X_train)
            auroc, _ = auroc_ap(split.y_test, det.anomaly_score(split.X_test))
            rows.append(
                {"dataset": dataset.name, "seed": seed, "noise_level": level,
                 "auroc": auroc}
            )  # fmt: skip
        print(f"{dataset.name} seed {seed} done", flush=True)
    return pd.DataFrame(rows)


def table(results: pd.DataFrame, detector: str = "vae", suite: str = "quick") -> str:
    """Markdown: mean AUROC by masking level."""
    return sweeps.caption(
        results,
        f"`{DETECTORS[detector]}(noise_level=...)` (every other parameter at its "
        "default)",
        "by the probability of masking an input cell during training",
        suite,
    ) + sweeps.one_way_table(results, "noise_level", "masking probability")


def main(argv: list[str] | None = None) -> None:
    """Command line of the sweep."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", choices=sorted(DETECTORS), default="vae")
    parser.add_argument(
        "--levels",
        type=lambda text: tuple(float(v) for v in text.split(",")),
        default=NOISE_LEVELS,
        help="comma-separated masking probabilities",
    )
    args = sweeps.parse_args(parser, argv)
    results = sweep(args.data, args.seeds, args.levels, args.detector, args.suite)
    name = "noise_sweep" + ("" if args.detector == "vae" else f"_{args.detector}")
    sweeps.write(
        args.out,
        name,
        "Masking-level sweep",
        results,
        table(results, args.detector, args.suite),
    )


if __name__ == "__main__":
    main()
