"""Shared helpers of the plotting functions (axes, labels, constants)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes


SCORE_LABEL = "anomaly score (higher = more anomalous)"
#: Latent units whose mean KL from the prior is below this (nats) count as inactive.
ACTIVE_KL = 0.01


def _axes(ax: Axes | None) -> Axes:
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    return ax


# ------------------------------------------------------------------- scores
def _histograms(
    ax: Axes,
    samples: Sequence[np.ndarray],
    labels: Sequence[str],
    threshold: float | None,
    bins: int,
    log: bool = False,
) -> None:
    pooled = np.concatenate(samples)
    if log and (pooled > 0).all():
        edges = np.geomspace(pooled.min(), pooled.max(), bins + 1)
        ax.set_xscale("log")
    elif log:  # asinh: linear around 0, logarithmic far out on either side
        width = float(np.median(np.abs(pooled))) or 1.0
        ends = np.arcsinh(np.array([pooled.min(), pooled.max()]) / width)
        edges = width * np.sinh(np.linspace(ends[0], ends[1], bins + 1))
        ax.set_xscale("asinh", linear_width=width)
        # matplotlib's asinh ticks crowd around 0: 0 and powers of ten beyond width
        reach = np.log10(np.abs(edges).max())
        powers = 10.0 ** np.arange(np.ceil(np.log10(width)), np.floor(reach) + 1)
        ticks = np.r_[-powers[::-1], 0.0, powers]
        ax.set_xticks(ticks[(ticks >= edges[0]) & (ticks <= edges[-1])])
        ax.xaxis.set_major_formatter("{x:g}")
        ax.minorticks_off()
    else:
        edges = np.histogram_bin_edges(pooled, bins=bins)
    for sample, label in zip(samples, labels, strict=False):
        # Geometric bins differ in width: there each bar is its share of the rows.
        shares = {"weights": np.full(sample.size, 1.0 / max(sample.size, 1))}
        style = shares if log else {"density": True}
        ax.hist(sample, bins=edges.tolist(), alpha=0.5, label=label, **style)
    if threshold is not None:
        ax.axvline(
            threshold, color="black", linestyle="--", label=f"threshold {threshold:.4g}"
        )
    ax.set_xlabel(SCORE_LABEL)
    ax.set_ylabel("share of rows per bin" if log else "density")
    ax.legend()
