"""``auroc.png``: per-dataset AUROC of every detector."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from benchmarks.report import Summary

__all__ = ["plot_auroc", "seeds_text"]


def seeds_text(n: int) -> str:
    """``"1 seed"``, ``"3 seeds"``."""
    return f"{n} seed" + ("" if n == 1 else "s")


def plot_auroc(s: Summary, path: Path) -> None:
    """Box plot of per-dataset mean AUROC per detector (headline datasets), with
    every dataset as a dot and high-contamination datasets as hollow triangles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(s.detectors) + 2), 4.5))
    rng = np.random.default_rng(0)
    positions = np.arange(len(s.detectors))
    data = [s.auroc.loc[s.headline, c].to_numpy() for c in s.detectors]
    if s.headline:
        boxes = ax.boxplot(
            data, positions=positions, widths=0.55, showfliers=False, patch_artist=True
        )
        for box, name in zip(boxes["boxes"], s.detectors, strict=True):
            box.set_facecolor("#9ecae1" if name in s.anomvae else "#e0e0e0")
    for i, c in enumerate(s.detectors):
        jitter = rng.uniform(-0.18, 0.18, size=len(s.headline))
        ax.plot(i + jitter, s.auroc.loc[s.headline, c], "o", ms=3, color="#333333")
        if s.high:
            jitter = rng.uniform(-0.18, 0.18, size=len(s.high))
            ax.plot(
                i + jitter,
                s.auroc.loc[s.high, c],
                "^",
                ms=4,
                mfc="none",
                color="#d95f02",
            )
    ax.set_xticks(positions, s.detectors, rotation=45, ha="right")
    ax.set_ylabel(f"AUROC (mean over {seeds_text(s.n_seeds)})")
    ax.set_title("Per-dataset AUROC; blue: anomvae, triangles: >30 % anomalies")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
