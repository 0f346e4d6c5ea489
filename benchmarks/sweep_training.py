"""The sweep behind the default training length: early stopping (``patience``)
against training the whole step budget, measured on the low-contamination sets of
both the quick and the held-out suite (never chosen per dataset).

With ``max_steps`` setting the training length, patience counted in epochs can
only fire on small data, where an epoch is one to a few steps and the validation
split a handful of rows. For each dataset and seed the sweep fits the detector
(``--detector vae`` or ``dae``) with every patience in ``PATIENCES`` (``off`` =
``None``; all other parameters at their defaults), scores the test rows with the
default score, and records the gradient steps it trained. Mean AUROC per suite is
written to ``OUT/training_sweep[_dae].md``, with the sets whose training length
changed, and the raw rows to ``OUT/training_sweep[_dae].csv``.

Run ``python -m benchmarks.sweep_training [--detector dae] [--patience 20,off]
[--out benchmarks/results] [--threads 1]`` (about 10 minutes on one core).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from benchmarks import sweeps
from benchmarks.data import quick_splits
from benchmarks.runner import auroc_ap
from benchmarks.sweep_noise import DETECTORS

__all__ = ["PATIENCES", "TRAINING_SUITES", "main", "sweep", "table"]

#: The suites the training length was chosen on; the embeddings suite stays out
#: (no default is chosen on it).
TRAINING_SUITES = ("quick", "heldout")

#: Patience values swept; None (written ``off``) trains the whole budget.
PATIENCES: tuple[int | None, ...] = (20, None)


def _label(patience: int | None) -> str:
    return "off" if patience is None else str(patience)


def sweep(
    data_dir: Path,
    seeds: int = 3,
    patiences: tuple[int | None, ...] = PATIENCES,
    detector: str = "vae",
) -> pd.DataFrame:
    """One row per suite, dataset, seed and patience with the test AUROC and the
    gradient steps trained."""
    import anomvae

    cls = getattr(anomvae, DETECTORS[detector])
    rows = []
    for suite in TRAINING_SUITES:
        for dataset, seed, split in quick_splits(data_dir, seeds, suite):
            for patience in patiences:
                det = cls(random_state=seed, patience=patience).fit(split.X_train)
                auroc, _ = auroc_ap(split.y_test, det.anomaly_score(split.X_test))
                rows.append(
                    {"suite": suite, "dataset": dataset.name, "seed": seed,
                     "n_train": len(split.X_train), "patience": _label(patience),
                     "n_steps": det.n_steps_, "auroc": auroc}
                )  # fmt: skip
            print(f"{suite} {dataset.name} seed {seed} done", flush=True)
    return pd.DataFrame(rows)


def table(results: pd.DataFrame, detector: str = "vae") -> str:
    """Markdown: mean AUROC by patience in each suite and over both, then the sets
    whose training length the patience changed (steps and AUROC averaged over
    seeds)."""
    results = results.assign(patience=results.patience.astype(str))
    order = list(dict.fromkeys(results.patience))
    per_set = results.groupby(["suite", "dataset", "patience"])[
        ["auroc", "n_steps", "n_train"]
    ].mean()
    auroc = per_set.auroc.unstack("patience")[order]
    suites = list(dict.fromkeys(results.suite))
    counts = {s: len(auroc.loc[s]) for s in suites}
    head = " | ".join(f"{s} ({counts[s]} sets)" for s in suites)
    lines = [
        f"| patience | {head} | all ({len(auroc)} sets) |",
        "|---|" + "---:|" * (len(suites) + 1),
    ]
    for p in order:
        cells = [f"{auroc.loc[s, p].mean():.4f}" for s in suites]
        lines.append(f"| {p} | " + " | ".join(cells) + f" | {auroc[p].mean():.4f} |")
    steps = per_set.n_steps.unstack("patience")[order]
    changed = steps[steps.nunique(axis=1) > 1].index
    detail = [
        "| suite | dataset | training rows | "
        + " | ".join(f"steps ({p})" for p in order)
        + " | "
        + " | ".join(f"AUROC ({p})" for p in order)
        + " |",
        "|---|---|" + "---:|" * (1 + 2 * len(order)),
    ]
    for suite, name in changed:
        rows = per_set.n_train.loc[suite, name].iloc[0]
        detail.append(
            f"| {suite} | {name} | {rows:.0f} | "
            + " | ".join(f"{steps.loc[(suite, name), p]:.0f}" for p in order)
            + " | "
            + " | ".join(f"{auroc.loc[(suite, name), p]:.4f}" for p in order)
            + " |"
        )
    return (
        f"Mean AUROC of `{DETECTORS[detector]}(patience=...)` (every other "
        "parameter at its default; `off` trains the whole step budget) on the "
        "low-contamination sets of each suite "
        f"({results.seed.nunique()} seeds each, averaged per dataset first).\n\n"
        + "\n".join(lines)
        + "\n\nSets where the patience changed how long training ran (the others "
        "reach `max_steps` first and do not change):\n\n" + "\n".join(detail) + "\n"
    )


def main(argv: list[str] | None = None) -> None:
    """Command line of the sweep."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", choices=sorted(DETECTORS), default="vae")
    parser.add_argument(
        "--patience",
        type=lambda text: tuple(
            None if v == "off" else int(v) for v in text.split(",")
        ),
        default=PATIENCES,
        help="comma-separated patience values in epochs, 'off' for none",
    )
    args = sweeps.parse_args(parser, argv, suite=False)
    results = sweep(args.data, args.seeds, args.patience, args.detector)
    name = "training_sweep" + ("" if args.detector == "vae" else f"_{args.detector}")
    sweeps.write(
        args.out, name, "Training-length sweep", results, table(results, args.detector)
    )


if __name__ == "__main__":
    main()
