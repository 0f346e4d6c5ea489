"""Latent maps, latent usage (KL per unit), decoding, and per-feature
contributions that explain a flag."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike

from anomvae.plotting._base import ACTIVE_KL, _axes


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
