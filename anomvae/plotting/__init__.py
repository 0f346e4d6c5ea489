"""Plots for deciding whether to trust a detector.

Score histograms with the threshold, ROC and precision-recall curves, training
curves, 2-D latent maps, per-feature contributions, and for images: grids of
inputs, reconstructions and error maps, latent traversals and interpolations.

matplotlib (``pip install anomvae[plot]``) and torch are imported only when a
function runs, so importing :mod:`anomvae` never needs matplotlib. Functions that
draw one panel take ``ax=None`` and return the :class:`~matplotlib.axes.Axes`;
functions that draw a grid of images return the :class:`~matplotlib.figure.Figure`.

Two helpers reach into a fitted detector's network: :func:`decode_latent` (latent
codes to rows in input units) and :func:`latent_kl_per_dimension` (how much each
latent unit is used, the measure of posterior collapse).
"""

from anomvae.plotting._base import ACTIVE_KL, SCORE_LABEL
from anomvae.plotting.images import (
    plot_image_grid,
    plot_interpolation,
    plot_latent_traversal,
    plot_reconstructions,
)
from anomvae.plotting.latent import (
    decode_latent,
    latent_kl_per_dimension,
    plot_contribution_heatmap,
    plot_feature_contributions,
    plot_latent_kl,
    plot_latent_map,
)
from anomvae.plotting.monitoring import plot_monitoring_history
from anomvae.plotting.scores import (
    plot_precision_recall,
    plot_roc,
    plot_score_distribution,
    plot_score_histogram,
    plot_training_history,
)

__all__ = [
    "ACTIVE_KL",
    "SCORE_LABEL",
    "decode_latent",
    "latent_kl_per_dimension",
    "plot_contribution_heatmap",
    "plot_feature_contributions",
    "plot_image_grid",
    "plot_interpolation",
    "plot_latent_kl",
    "plot_latent_map",
    "plot_latent_traversal",
    "plot_monitoring_history",
    "plot_precision_recall",
    "plot_reconstructions",
    "plot_roc",
    "plot_score_distribution",
    "plot_score_histogram",
    "plot_training_history",
]
