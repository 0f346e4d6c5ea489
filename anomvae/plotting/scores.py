"""Score distributions, ROC and precision-recall curves, training curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike

from anomvae.plotting._base import _axes, _histograms


def plot_score_distribution(
    calibration_scores: ArrayLike,
    new_scores: ArrayLike | None = None,
    *,
    threshold: float | None = None,
    ax: Axes | None = None,
    labels: Sequence[str] = ("calibration", "new"),
    bins: int = 50,
    log: bool = False,
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
    log : bool, default=False
        Logarithmic score axis for heavy tails (see :func:`plot_score_histogram`).

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    samples = [np.asarray(calibration_scores, dtype=np.float64).ravel()]
    if new_scores is not None:
        samples.append(np.asarray(new_scores, dtype=np.float64).ravel())
    _histograms(ax, samples, labels, threshold, bins, log)
    return ax


def _anomaly_mask(y: ArrayLike) -> np.ndarray:
    """True = anomaly, from labels 0/1 (1 = anomaly), -1/+1 (-1 = anomaly) or bool."""
    from anomvae.thresholds import anomaly_labels

    return anomaly_labels(np.asarray(y).ravel())


def plot_score_histogram(
    scores: ArrayLike,
    y: ArrayLike | None = None,
    *,
    threshold: float | None = None,
    ax: Axes | None = None,
    bins: int = 50,
    log: bool = False,
) -> Axes:
    """Histograms of the anomaly scores of normal and anomalous rows.

    Densities on shared bins (anomalies are usually rare; their histogram stays
    visible), the threshold as a dashed line. The overlap of the two histograms
    is what no threshold can separate.

    Parameters
    ----------
    scores : array-like of shape (n,)
        Anomaly scores, higher = more anomalous.
    y : array-like of shape (n,), default=None
        1 = anomaly, 0 = normal (or -1 = anomaly, +1 = normal); None draws one
        histogram of all rows.
    threshold : float, default=None
    ax : matplotlib Axes, default=None
    bins : int, default=50
    log : bool, default=False
        Logarithmic score axis with geometric bins, for heavy-tailed scores such
        as the negative ELBO (an ``asinh`` axis, logarithmic on both sides of 0,
        when some scores are not positive); bars are then each group's share of
        rows per bin rather than densities.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y is None:
        samples, labels = [s], [f"all rows (n={s.size})"]
    else:
        anomalous = _anomaly_mask(y)
        if anomalous.shape != s.shape:
            raise ValueError(f"{s.size} scores but {anomalous.size} labels")
        samples, labels = [], []
        for mask, name in ((~anomalous, "normal"), (anomalous, "anomaly")):
            if mask.any():
                samples.append(s[mask])
                labels.append(f"{name} (n={int(mask.sum())})")
    _histograms(ax, samples, labels, threshold, bins, log)
    return ax


def _named_scores(scores: ArrayLike | Mapping[str, ArrayLike]) -> dict[str, np.ndarray]:
    if isinstance(scores, Mapping):
        return {
            str(k): np.asarray(v, dtype=np.float64).ravel() for k, v in scores.items()
        }
    return {"": np.asarray(scores, dtype=np.float64).ravel()}


def _curve_label(name: str, metric: str, value: float) -> str:
    return f"{name} ({metric} {value:.3f})" if name else f"{metric} {value:.3f}"


def plot_roc(
    y: ArrayLike,
    scores: ArrayLike | Mapping[str, ArrayLike],
    *,
    ax: Axes | None = None,
) -> Axes:
    """ROC curves, one per score, with the AUROC in the legend.

    Parameters
    ----------
    y : array-like of shape (n,)
        1 = anomaly, 0 = normal (or -1 = anomaly, +1 = normal).
    scores : array-like of shape (n,) or dict of str to array-like
        Anomaly scores (higher = more anomalous); a dict compares several scores
        or detectors on the same rows, one curve per entry.
    ax : matplotlib Axes, default=None

    Returns
    -------
    matplotlib.axes.Axes
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    ax = _axes(ax)
    anomalous = _anomaly_mask(y)
    for name, s in _named_scores(scores).items():
        fpr, tpr, _ = roc_curve(anomalous, s)
        label = _curve_label(name, "AUROC", float(roc_auc_score(anomalous, s)))
        ax.plot(fpr, tpr, label=label)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false-positive rate")
    ax.set_ylabel("true-positive rate (recall)")
    ax.legend(loc="lower right")
    return ax


def plot_precision_recall(
    y: ArrayLike,
    scores: ArrayLike | Mapping[str, ArrayLike],
    *,
    ax: Axes | None = None,
) -> Axes:
    """Precision-recall curves, one per score, with the average precision (AP).

    The dotted line is the share of anomalies, the precision of a random ranking;
    with rare anomalies this curve says more than the ROC curve.

    Parameters
    ----------
    y : array-like of shape (n,)
        1 = anomaly, 0 = normal (or -1 = anomaly, +1 = normal).
    scores : array-like of shape (n,) or dict of str to array-like
    ax : matplotlib Axes, default=None

    Returns
    -------
    matplotlib.axes.Axes
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve

    ax = _axes(ax)
    anomalous = _anomaly_mask(y)
    for name, s in _named_scores(scores).items():
        precision, recall, _ = precision_recall_curve(anomalous, s)
        ap = float(average_precision_score(anomalous, s))
        label = _curve_label(name, "AP", ap)
        ax.plot(recall, precision, drawstyle="steps-post", label=label)
    prevalence = float(anomalous.mean())
    ax.axhline(
        prevalence, color="grey", linestyle=":", label=f"chance ({prevalence:.3f})"
    )
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="recall", ylabel="precision")
    ax.legend(loc="upper right")
    return ax


# ----------------------------------------------------------------- training
def plot_training_history(history: Any, *, ax: Axes | None = None) -> Axes:
    """Training and validation loss per epoch, the KL warm-up and the best epoch.

    During warm-up the training loss uses the reduced KL weight and the
    validation loss the full one, so the two are only comparable after it.

    Parameters
    ----------
    history : dict of list or fitted detector
        A detector's ``history_`` (``train_loss``, ``val_loss``, ``beta_factor``)
        or the detector itself, which also marks ``best_epoch_``.
    ax : matplotlib Axes, default=None

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    best = getattr(history, "best_epoch_", None)
    hist = history.history_ if hasattr(history, "history_") else history
    train = np.asarray(hist["train_loss"], dtype=np.float64)
    epochs = np.arange(1, train.size + 1)
    ax.plot(epochs, train, label="training")
    val = np.asarray(hist.get("val_loss", []), dtype=np.float64)
    if val.size and np.isfinite(val).any():
        ax.plot(epochs[: val.size], val, label="validation")
    warm = np.asarray(hist.get("beta_factor", []), dtype=np.float64)
    if warm.size and (warm < 1).any():
        last = int(np.flatnonzero(warm < 1)[-1]) + 1
        ax.axvspan(0.5, last + 0.5, color="grey", alpha=0.15, label="KL warm-up")
    if best:
        ax.axvline(best, color="black", linestyle="--", label=f"best epoch ({best})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (per feature)")
    ax.legend()
    return ax


# ------------------------------------------------------------------- latent
