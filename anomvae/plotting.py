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

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from numpy.typing import ArrayLike

__all__ = [
    "decode_latent",
    "latent_kl_per_dimension",
    "plot_contribution_heatmap",
    "plot_feature_contributions",
    "plot_image_grid",
    "plot_interpolation",
    "plot_latent_kl",
    "plot_latent_map",
    "plot_latent_traversal",
    "plot_precision_recall",
    "plot_reconstructions",
    "plot_roc",
    "plot_score_distribution",
    "plot_score_histogram",
    "plot_training_history",
]

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
def _feature_array(detector: Any, X: Any) -> np.ndarray:
    """The scored features of ``X`` as a float array (condition columns dropped)."""
    import pandas as pd

    conditions = list(getattr(detector, "condition_columns", None) or ())
    if isinstance(X, pd.Series):
        X = X.to_frame().T.infer_objects()
    if isinstance(X, pd.DataFrame):
        X = X.drop(columns=[c for c in conditions if c in X.columns])
    arr = np.asarray(X, dtype=np.float64)
    return arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr.reshape(1, -1)


def plot_latent_map(
    source: Any,
    X: Any = None,
    y: ArrayLike | None = None,
    *,
    ax: Axes | None = None,
    max_classes: int = 20,
    s: float = 8.0,
) -> Axes:
    """Scatter plot of latent codes in 2-D, coloured by label.

    Two-dimensional codes are drawn as they are, larger ones projected onto
    their first two principal components (the axis labels say how much of the
    codes' variance each keeps), one-dimensional ones against a small jitter.

    Parameters
    ----------
    source : fitted detector or array-like of shape (n, latent_dim)
        A detector (its ``transform(X)`` gives the codes) or the codes.
    X : array-like, default=None
        Rows to encode when ``source`` is a detector.
    y : array-like of shape (n,), default=None
        Colours: up to ``max_classes`` distinct values are classes with a
        legend, more are a continuous colour scale.
    ax : matplotlib Axes, default=None
    max_classes : int, default=20
    s : float, default=8.0
        Marker size.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    if hasattr(source, "fit") and hasattr(source, "transform"):  # an estimator
        if X is None:
            raise ValueError("pass the rows X to encode with the detector")
        source = source.transform(X)
    codes = np.asarray(source, dtype=np.float64)
    if codes.ndim != 2:
        raise ValueError(f"latent codes must be 2-D (n, latent_dim), got {codes.shape}")
    d = codes.shape[1]
    if d == 1:
        jitter = np.random.default_rng(0).uniform(-0.5, 0.5, len(codes))
        xy = np.c_[codes[:, 0], jitter]
        labels: tuple[str, ...] = ("z[0]", "(jitter)")
    elif d == 2:
        xy, labels = codes, ("z[0]", "z[1]")
    else:
        centred = codes - codes.mean(0)
        _, sv, vt = np.linalg.svd(centred, full_matrices=False)
        share = sv**2 / max(float((sv**2).sum()), np.finfo(float).tiny)
        xy = centred @ vt[:2].T
        labels = tuple(
            f"PC{i + 1} of the {d}-D latent ({share[i]:.0%} of variance)"
            for i in range(2)
        )
    if y is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=s, alpha=0.7)
    else:
        values = np.asarray(y).ravel()
        if values.shape[0] != xy.shape[0]:
            raise ValueError(f"{xy.shape[0]} codes but {values.shape[0]} labels")
        classes, counts = np.unique(values, return_counts=True)
        if classes.size <= max_classes:
            import matplotlib as mpl

            cmap = mpl.colormaps["tab10" if classes.size <= 10 else "tab20"]
            handles = {}
            for i in np.argsort(-counts, kind="stable"):  # rare classes drawn on top
                m = values == classes[i]
                handles[classes[i]] = ax.scatter(
                    xy[m, 0], xy[m, 1], s=s, alpha=0.7, color=cmap(i % cmap.N)
                )
            ax.legend(
                [handles[c] for c in classes],
                [str(c) for c in classes],
                markerscale=2,
                fontsize="small",
            )
        else:
            points = ax.scatter(xy[:, 0], xy[:, 1], c=values, s=s, alpha=0.7)
            ax.figure.colorbar(points, ax=ax)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    return ax


def _torch_input(detector: Any, arr: np.ndarray) -> Any:
    import torch

    param = next(detector.network_.parameters())
    return torch.as_tensor(arr, dtype=param.dtype, device=param.device)


def _encoded_conditions(detector: Any, conditions: Any) -> np.ndarray | None:
    import pandas as pd

    if conditions is None:
        return None
    if isinstance(conditions, pd.DataFrame):
        columns = list(getattr(detector, "condition_columns", None) or ())
        if columns and all(c in conditions.columns for c in columns):
            conditions = conditions[columns]
        return np.asarray(detector.condition_encoder_.transform(conditions))
    return np.atleast_2d(np.asarray(conditions, dtype=np.float64))


def decode_latent(detector: Any, z: ArrayLike, conditions: Any = None) -> np.ndarray:
    """Decode latent codes into rows in the detector's input units.

    The decoder's mean (Bernoulli: the pixel probabilities), unscaled with the
    detector's ``scaler_``: the inverse of :meth:`transform` up to what the model
    cannot reconstruct.

    Parameters
    ----------
    detector : fitted anomvae detector
    z : array-like of shape (n, latent_dim) or (latent_dim,)
    conditions : DataFrame or array-like, default=None
        Conditional VAE only, and required there: a DataFrame of the condition
        columns (encoded with ``condition_encoder_``) or already-encoded vectors;
        one row is used for every code.

    Returns
    -------
    ndarray of shape (n, n_features)
    """
    import torch
    from sklearn.utils.validation import check_is_fitted

    from anomvae.scoring import decoded_mean

    check_is_fitted(detector, "network_")
    net = detector.network_
    codes = np.asarray(z, dtype=np.float64).reshape(-1, net.spec.latent_dim)
    c = _encoded_conditions(detector, conditions)
    if net.spec.n_conditions and c is None:
        raise ValueError("a conditional detector needs conditions to decode")
    if c is not None:
        if c.shape[1] != net.spec.n_conditions:
            raise ValueError(
                f"conditions encode to {c.shape[1]} values, the network expects "
                f"{net.spec.n_conditions}"
            )
        if c.shape[0] not in (1, codes.shape[0]):
            raise ValueError(f"{c.shape[0]} condition rows for {codes.shape[0]} codes")
        c = np.broadcast_to(c, (codes.shape[0], c.shape[1])).copy()
    net.train(False)
    with torch.no_grad():
        ct = None if c is None else _torch_input(detector, c)
        out = decoded_mean(net, net.decode(_torch_input(detector, codes), ct))
    return np.asarray(detector.scaler_.inverse_transform(out.double().cpu().numpy()))


def latent_kl_per_dimension(detector: Any, X: Any) -> np.ndarray:
    r"""Mean KL divergence of each latent unit's posterior from the prior.

    .. math:: \mathrm{KL}_j = \frac1n \sum_i \tfrac12
        \left[\mu_{ij}^2 + \sigma_{ij}^2 - \log\sigma_{ij}^2 - 1\right]

    A unit with :math:`\mathrm{KL}_j \approx 0` encodes nothing about the input
    (its posterior equals the prior for every row): posterior collapse.

    Parameters
    ----------
    detector : fitted variational detector
    X : array-like
        Rows to encode.

    Returns
    -------
    ndarray of shape (latent_dim,)
    """
    import torch

    net = detector.network_
    if not net.variational:
        raise ValueError("the KL per latent unit needs a variational detector")

    def kl(x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        mu, logvar = net.encode(x, c)
        return 0.5 * (mu.square() + logvar.exp() - logvar - 1.0)

    return np.asarray(detector._batched(X, kl).mean(axis=0))


def plot_latent_kl(
    detector: Any,
    X: Any,
    *,
    active_threshold: float = ACTIVE_KL,
    ax: Axes | None = None,
) -> Axes:
    """Bars of the mean KL per latent unit (log scale), with the activity line.

    The title counts the active units, those above ``active_threshold`` nats.

    Parameters
    ----------
    detector : fitted variational detector
    X : array-like
    active_threshold : float, default=0.01
    ax : matplotlib Axes, default=None

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    kl = latent_kl_per_dimension(detector, X)
    ax.bar(np.arange(kl.size), np.maximum(kl, 1e-6))
    ax.axhline(active_threshold, color="black", linestyle="--")
    ax.set_yscale("log")
    ax.set_xlabel("latent unit (index, as in plot_latent_traversal)")
    ax.set_ylabel("mean KL from the prior (nats)")
    n_active = int((kl > active_threshold).sum())
    ax.set_title(f"{n_active} of {kl.size} units active (KL > {active_threshold:g})")
    return ax


# ----------------------------------------------------------- contributions
def _feature_names(detector: Any, d: int, names: Sequence[str] | None) -> list[str]:
    if names is not None:
        if len(names) != d:
            raise ValueError(f"{len(names)} feature names for {d} features")
        return [str(n) for n in names]
    conditions = set(getattr(detector, "condition_columns", None) or ())
    seen = [str(n) for n in getattr(detector, "feature_names_in_", [])]
    seen = [n for n in seen if n not in conditions]
    return seen if len(seen) == d else [f"x{i}" for i in range(d)]


def plot_feature_contributions(
    detector: Any,
    row: Any,
    *,
    top: int = 10,
    feature_names: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Horizontal bars: the features that make up one row's reconstruction error.

    The ``top`` largest shares of :meth:`feature_contributions`, largest on top;
    each tick label gives the feature's value in the row.

    Parameters
    ----------
    detector : fitted anomvae detector
    row : one row (1-D array, Series, or one-row array / DataFrame)
    top : int, default=10
    feature_names : sequence of str, default=None
        Defaults to the detector's ``feature_names_in_`` (condition columns
        excluded), else ``x0, x1, ...``.
    ax : matplotlib Axes, default=None

    Returns
    -------
    matplotlib.axes.Axes
    """
    import pandas as pd

    ax = _axes(ax)
    if isinstance(row, pd.Series):
        row = row.to_frame().T.infer_objects()
    elif not isinstance(row, pd.DataFrame):
        row = np.asarray(row).reshape(1, -1)
    if len(row) != 1:
        raise ValueError(f"pass one row, got {len(row)}")
    shares = np.asarray(detector.feature_contributions(row))[0]
    values = _feature_array(detector, row)[0]
    names = _feature_names(detector, shares.size, feature_names)
    order = np.argsort(-shares, kind="stable")[:top][::-1]
    ticks = [f"{names[i]} = {values[i]:.4g}" for i in order]
    bars = ax.barh(np.arange(order.size), shares[order])
    ax.bar_label(bars, labels=[f"{v:.0%}" for v in shares[order]], padding=2)
    ax.set_yticks(np.arange(order.size), ticks)
    ax.set_xlim(0, min(1.0, float(shares.max()) * 1.2 + 0.02))
    ax.set_xlabel("share of the row's reconstruction error")
    return ax


def plot_contribution_heatmap(
    detector: Any,
    X: Any,
    *,
    feature_names: Sequence[str] | None = None,
    row_labels: Sequence[Any] | None = None,
    top_features: int | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Heat map of the feature contributions of many rows (rows x features).

    Parameters
    ----------
    detector : fitted anomvae detector
    X : array-like or DataFrame of shape (n, n_features)
    feature_names : sequence of str, default=None
    row_labels : sequence, default=None
        Defaults to the DataFrame's index, else ``0, 1, ...``.
    top_features : int, default=None
        Keep only the features with the largest mean share over the rows,
        in descending order.
    ax : matplotlib Axes, default=None

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    shares = np.asarray(detector.feature_contributions(X))
    names = _feature_names(detector, shares.shape[1], feature_names)
    columns = np.arange(shares.shape[1])
    if top_features is not None:
        columns = np.argsort(-shares.mean(axis=0), kind="stable")[:top_features]
    if row_labels is None:
        row_labels = list(X.index) if hasattr(X, "index") else range(len(shares))
    image = ax.imshow(shares[:, columns], aspect="auto", cmap="viridis", vmin=0)
    ax.figure.colorbar(image, ax=ax, label="share of the row's reconstruction error")
    ax.set_xticks(np.arange(columns.size), [names[i] for i in columns], rotation=90)
    ax.set_yticks(np.arange(len(shares)), [str(r) for r in row_labels])
    ax.set_xlabel("feature")
    ax.set_ylabel("row")
    return ax


# ------------------------------------------------------------------- images
def _image_shape(
    detector: Any, image_shape: Sequence[int] | None, sample: Any = None
) -> tuple[int, ...]:
    if image_shape is not None:
        return tuple(int(v) for v in image_shape)
    spec = getattr(detector, "network_spec_", None)
    if spec is not None and spec.image_shape is not None:
        c, h, w = spec.image_shape
        return (h, w) if c == 1 else (c, h, w)
    if sample is not None and np.ndim(sample) >= 3:
        return tuple(np.shape(sample)[1:])
    raise ValueError("pass image_shape=(height, width) to draw rows as images")


def _as_images(arr: ArrayLike, shape: Sequence[int]) -> np.ndarray:
    """Rows to an array of images (n, h, w) or, for 3-4 channels, (n, h, w, c)."""
    a = np.asarray(arr, dtype=np.float64)
    images = a.reshape(-1, *shape)
    if len(shape) == 3:
        if shape[0] == 1:
            return images[:, 0]
        if shape[0] not in (3, 4):
            raise ValueError(f"cannot draw images with {shape[0]} channels")
        return images.transpose(0, 2, 3, 1)
    return images


def _per_row(value: Any, n: int) -> list[Any]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [value] * n
    if len(value) != n:
        raise ValueError(f"{len(value)} settings for {n} rows of images")
    return list(value)


def plot_image_grid(
    rows: Sequence[ArrayLike] | np.ndarray,
    *,
    image_shape: Sequence[int] | None = None,
    row_labels: Sequence[str] | None = None,
    titles: Sequence[str] | None = None,
    cmap: str | Sequence[str] = "gray",
    vmin: float | Sequence[float | None] | None = None,
    vmax: float | Sequence[float | None] | None = None,
    scale: float = 1.0,
    title: str | None = None,
) -> Figure:
    """A grid of images: one grid row per array of images.

    Parameters
    ----------
    rows : sequence of array-like, or one array
        Each of shape ``(n_i, h, w)``, ``(n_i, c, h, w)`` or flat ``(n_i, h * w)``
        with ``image_shape``. A single array is one row. Columns: the longest row.
    image_shape : (h, w) or (c, h, w), default=None
        Needed for flat rows.
    row_labels : sequence of str, default=None
        Drawn left of each row.
    titles : sequence of str, default=None
        Column titles above the first row.
    cmap, vmin, vmax : one value or one per row, default="gray", None, None
        Colour map and range; None scales each row to its own range.
    scale : float, default=1.0
        Inches per image.
    title : str, default=None
        Title of the figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if isinstance(rows, np.ndarray):
        rows = [rows]
    grids = []
    for r in rows:
        arr = np.asarray(r, dtype=np.float64)
        shape = image_shape if image_shape is not None else arr.shape[1:]
        if len(shape) not in (2, 3):
            raise ValueError("pass image_shape=(height, width) for flat rows")
        grids.append(_as_images(arr, shape))
    n_rows, n_cols = len(grids), max(len(g) for g in grids)
    cmaps = _per_row(cmap, n_rows)
    lows, highs = _per_row(vmin, n_rows), _per_row(vmax, n_rows)
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(scale * n_cols, scale * n_rows + (0.7 if title else 0.3)),
        squeeze=False,
    )
    for i, images in enumerate(grids):
        lo = float(images.min()) if lows[i] is None else lows[i]
        hi = float(images.max()) if highs[i] is None else highs[i]
        for j, ax in enumerate(axes[i]):
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(images):
                ax.set_axis_off()
                continue
            ax.imshow(images[j], cmap=cmaps[i], vmin=lo, vmax=hi)
        if row_labels is not None:
            axes[i, 0].set_ylabel(row_labels[i])
    for j, column_title in enumerate(titles or ()):
        axes[0, j].set_title(column_title, fontsize="small")
    if title is not None:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_reconstructions(
    detector: Any,
    X: Any,
    *,
    n: int = 8,
    image_shape: Sequence[int] | None = None,
    titles: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Inputs, their reconstructions and the absolute error maps, for images.

    Parameters
    ----------
    detector : fitted anomvae detector
    X : array-like of images (n, h, w) or flat rows, or DataFrame
        The first ``n`` rows are drawn.
    n : int, default=8
    image_shape : (h, w) or (c, h, w), default=None
        Defaults to the detector's ``image_shape`` or the shape of ``X``.
    titles : sequence of str, default=None
        Column titles, e.g. each image's anomaly score.
    title : str, default=None
        Title of the figure.

    Returns
    -------
    matplotlib.figure.Figure
        Three rows: input, reconstruction, |error| (inputs and reconstructions
        share a grey scale, the errors run from 0 to their maximum).
    """
    shape = _image_shape(detector, image_shape, X)
    head = X.iloc[:n] if hasattr(X, "iloc") else np.asarray(X)[:n]
    if isinstance(head, np.ndarray) and head.ndim > 2:  # images: MLPs need flat rows
        head = head.reshape(len(head), -1)
    inputs = _feature_array(detector, head)
    recon = np.asarray(detector.reconstruct(head)).reshape(inputs.shape)
    error = np.abs(inputs - recon)
    lo, hi = (
        float(min(inputs.min(), recon.min())),
        float(max(inputs.max(), recon.max())),
    )
    return plot_image_grid(
        [inputs, recon, error],
        image_shape=shape,
        row_labels=["input", "reconstruction", "|error|"],
        titles=titles,
        cmap=["gray", "gray", "magma"],
        vmin=[lo, lo, 0.0],
        vmax=[hi, hi, float(error.max()) or 1.0],
        title=title,
    )


def plot_latent_traversal(
    detector: Any,
    *,
    dims: int | Sequence[int] = 0,
    values: ArrayLike = (-2.5, -1.5, -0.5, 0.5, 1.5, 2.5),
    base: Any = None,
    conditions: Any = None,
    image_shape: Sequence[int] | None = None,
    title: str | None = None,
) -> Figure:
    """Decode codes that vary one latent dimension at a time (one row per dim).

    Parameters
    ----------
    detector : fitted anomvae detector with image rows
    dims : int or sequence of int, default=0
        Latent dimensions to traverse (0-based).
    values : array-like, default=(-2.5, ..., 2.5)
        Values the traversed dimension takes; for a VAE in prior standard
        deviations.
    base : one row, default=None
        The code the others dimensions keep: the encoding of this row, or the
        prior mean (zeros) when None.
    conditions : DataFrame or array-like, default=None
        Conditional VAE: the condition for every decoded image.
    image_shape : (h, w) or (c, h, w), default=None
    title : str, default=None
        Title of the figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    shape = _image_shape(detector, image_shape, None)
    latent_dim = int(detector.network_spec_.latent_dim)
    start = (
        np.zeros(latent_dim)
        if base is None
        else np.asarray(detector.transform(_one_row(base)))[0]
    )
    grid = np.asarray(values, dtype=np.float64)
    dim_list = [dims] if isinstance(dims, int | np.integer) else list(dims)
    rows = []
    for dim in dim_list:
        codes = np.tile(start, (grid.size, 1))
        codes[:, dim] = grid
        rows.append(decode_latent(detector, codes, conditions))
    return plot_image_grid(
        rows,
        image_shape=shape,
        row_labels=[f"z[{d}]" for d in dim_list],
        titles=[f"{v:+.2g}" for v in grid],
        vmin=float(np.min(rows)),
        vmax=float(np.max(rows)),
        title=title,
    )


def _one_row(x: Any) -> Any:
    import pandas as pd

    if isinstance(x, pd.Series):
        return x.to_frame().T.infer_objects()
    if isinstance(x, pd.DataFrame):
        return x
    return np.asarray(x).reshape(1, -1)


def plot_interpolation(
    detector: Any,
    a: Any,
    b: Any,
    *,
    steps: int = 8,
    conditions: Any = None,
    image_shape: Sequence[int] | None = None,
    title: str | None = None,
) -> Figure:
    """Decode the straight line between the latent codes of two rows.

    One row of images: input ``a``, ``steps`` decoded points from
    ``transform(a)`` to ``transform(b)``, input ``b``.

    Parameters
    ----------
    detector : fitted anomvae detector with image rows
    a, b : one row each (an image, a flat row, a Series or one-row DataFrame)
    steps : int, default=8
    conditions : DataFrame or array-like, default=None
        Conditional VAE: the condition of every decoded image; when None, the
        encoded conditions of ``a`` and ``b`` (DataFrame rows) are interpolated
        along with the codes.
    image_shape : (h, w) or (c, h, w), default=None
        Defaults to the detector's ``image_shape`` or the shape of ``a``.
    title : str, default=None
        Title of the figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import pandas as pd

    sample = np.asarray(a)[None] if not hasattr(a, "iloc") else None
    shape = _image_shape(detector, image_shape, sample)
    ends = [_one_row(a), _one_row(b)]
    t = np.linspace(0.0, 1.0, steps)[:, None]
    if conditions is None and detector.network_.spec.n_conditions:
        if not all(isinstance(e, pd.DataFrame) for e in ends):
            raise ValueError("pass conditions, or a and b as DataFrame rows")
        c = np.vstack([np.asarray(_encoded_conditions(detector, e)) for e in ends])
        conditions = (1.0 - t) * c[0] + t * c[1]
    codes = np.vstack([np.asarray(detector.transform(e)) for e in ends])
    path = (1.0 - t) * codes[0] + t * codes[1]
    decoded = decode_latent(detector, path, conditions)
    inputs = np.vstack([_feature_array(detector, e) for e in ends])
    images = np.vstack([inputs[:1], decoded, inputs[1:]])
    titles = ["a", *(f"t={v:.2f}" for v in t[:, 0]), "b"]
    return plot_image_grid(
        [images],
        image_shape=shape,
        titles=titles,
        vmin=float(images.min()),
        vmax=float(images.max()),
        title=title,
    )
