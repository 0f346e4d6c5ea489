"""Plots of anomaly scores. matplotlib is imported only when a plot is drawn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike

__all__ = ["plot_score_distribution"]


def plot_score_distribution(
    calibration_scores: ArrayLike,
    new_scores: ArrayLike | None = None,
    *,
    threshold: float | None = None,
    ax: Axes | None = None,
    labels: Sequence[str] = ("calibration", "new"),
    bins: int = 50,
) -> Axes:
    """Histograms of calibration and new anomaly scores, with the threshold marked.

    Both histograms share bins and are normalised to densities, so a shift of the
    new data away from the calibration data (drift) shows directly; the
    threshold is a dashed vertical line, rows to its right are flagged.

    Parameters
    ----------
    calibration_scores : array-like of shape (n,)
        Anomaly scores (higher = more anomalous) of the calibration rows.
    new_scores : array-like of shape (m,), default=None
        Anomaly scores of new rows to compare.
    threshold : float, default=None
        Threshold to mark.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure when None.
    labels : sequence of two str, default=("calibration", "new")
        Legend labels of the two histograms.
    bins : int, default=50
        Number of shared bins.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    samples = [np.asarray(calibration_scores, dtype=np.float64).ravel()]
    if new_scores is not None:
        samples.append(np.asarray(new_scores, dtype=np.float64).ravel())
    edges = np.histogram_bin_edges(np.concatenate(samples), bins=bins)
    for sample, label in zip(samples, labels, strict=False):
        ax.hist(sample, bins=edges.tolist(), density=True, alpha=0.5, label=label)
    if threshold is not None:
        ax.axvline(
            threshold, color="black", linestyle="--", label=f"threshold {threshold:.4g}"
        )
    ax.set_xlabel("anomaly score (higher = more anomalous)")
    ax.set_ylabel("density")
    ax.legend()
    return ax
