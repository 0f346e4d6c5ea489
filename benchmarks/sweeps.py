"""What the sweeps behind anomvae's defaults (``benchmarks.sweep_hybrid``,
``benchmarks.sweep_noise``, ``benchmarks.sweep_training``) share: their
command-line options, the caption and one-way table of their results, and where
the results are written.

Every sweep measures on :func:`benchmarks.data.quick_splits` (the quick suite, or
the held-out one with ``--suite heldout``) and returns one row per dataset, seed and
setting with an ``auroc`` column; its tables average the seeds of each dataset
first, then the datasets.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from benchmarks.data import DEFAULT_DATA_DIR, SUITE_DATA_DIRS, SUITES

__all__ = ["caption", "one_way_table", "parse_args", "write"]


def parse_args(
    parser: argparse.ArgumentParser, argv: list[str] | None, *, suite: bool = True
) -> argparse.Namespace:
    """Add the options every sweep takes (``--data``, ``--seeds``, ``--out``,
    ``--threads``, and ``--suite`` unless ``suite`` is False) to ``parser`` (which
    holds the sweep's own), parse ``argv`` and apply ``--threads``. ``--data``
    defaults to the suite's folder (:data:`benchmarks.data.SUITE_DATA_DIRS`),
    ``--out`` to ``benchmarks/results``, or its folder named after the suite for
    any other suite than the quick one."""
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=None)
    if suite:
        parser.add_argument("--suite", choices=sorted(SUITES), default="quick")
    args = parser.parse_args(argv)
    chosen = getattr(args, "suite", "quick")
    if args.data is None:
        args.data = SUITE_DATA_DIRS.get(chosen, DEFAULT_DATA_DIR)
    if args.out is None:
        args.out = Path("benchmarks/results")
        if chosen != "quick":
            args.out /= chosen
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    return args


def caption(results: pd.DataFrame, what: str, by: str, suite: str = "quick") -> str:
    """ "Mean AUROC of WHAT over N low-contamination quick (or held-out) datasets
    (S seeds each) BY.", then a blank line."""
    name = "held-out" if suite == "heldout" else suite
    return (
        f"Mean AUROC of {what} over {results.dataset.nunique()} low-contamination "
        f"{name} datasets ({results.seed.nunique()} seeds each) {by}.\n\n"
    )


def one_way_table(results: pd.DataFrame, column: str, heading: str) -> str:
    """Markdown lines: mean AUROC for each value of ``column``, in descending order
    of the value."""
    per_dataset = results.groupby([column, "dataset"]).auroc.mean()
    means = per_dataset.groupby(column).mean().sort_index(ascending=False)
    lines = [f"| {heading} | mean AUROC |", "|---:|---:|"]
    lines += [f"| {value:,} | {auroc:.4f} |" for value, auroc in means.items()]
    return "\n".join(lines) + "\n"


def write(out: Path, name: str, title: str, results: pd.DataFrame, text: str) -> None:
    """``OUT/NAME.csv`` (the raw rows) and ``OUT/NAME.md`` (``# TITLE`` and
    ``text``); the markdown is also printed."""
    out.mkdir(parents=True, exist_ok=True)
    results.to_csv(out / f"{name}.csv", index=False)
    markdown = f"# {title}\n\n{text}"
    (out / f"{name}.md").write_text(markdown)
    print(markdown)
