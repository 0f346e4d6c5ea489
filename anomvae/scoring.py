"""Per-row anomaly scores (higher = more anomalous), the latent reference the
latent and hybrid scores compare against, and the training objectives.

Scores are deterministic. Monte Carlo scores use *common random numbers*: one fixed
set of K standard-normal draws ``eps`` (shape ``(K, latent_dim)``) is shared by every
row, ``z_k = mu + sigma * eps_k``. A row's score therefore depends on that row alone,
not on the batch it arrived in or how often it was scored, and each row still gets an
unbiased K-sample estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from anomvae.losses import (
    bernoulli_log_likelihood,
    gaussian_kl_standard,
    gaussian_log_likelihood,
    importance_weighted_log_likelihood,
    log_normal_diag,
    squared_error,
)
from anomvae.models import AutoencoderNet
from anomvae.neighbors import latent_knn_distance
from anomvae.tabular import TableBatch, cell_negative_log_likelihood

__all__ = [
    "AUTOENCODER_SCORES",
    "HYBRID_LATENT_WEIGHT",
    "HYBRID_SUPPORT_WEIGHT",
    "SCORES",
    "LatentReference",
    "anomaly_scores",
    "conditions_of",
    "decoded_mean",
    "elbo_objective",
    "fit_latent_reference",
    "fixed_draws",
    "latent_knn_distance",
    "log_likelihood",
    "out_of_support",
    "reconstruction_errors",
    "reconstruction_objective",
    "robust_standardize",
    "table_cells",
    "table_surprise",
    "unexpected_cells",
]

_LOG_2PI = math.log(2.0 * math.pi)

#: Weight of the latent k-NN term in the ``"hybrid"`` score (the reconstruction
#: term has weight 1; both are standardised first). Chosen on the whole quick
#: benchmark suite, never per dataset: weights 1 / 1.5 / 2 / 3 gave mean AUROC
#: 0.857 / 0.860 / 0.861 / 0.863 with k = 3 (``benchmarks/results/hybrid_sweep.md``).
HYBRID_LATENT_WEIGHT = 2.0

#: What the ``"hybrid"`` score adds for each *out-of-support cell*: a value in a
#: feature that took one single value on every training row. The network cannot
#: learn anything from such a feature (it is scaled to a constant), so without this
#: term a row is not penalised for showing a value never seen in training. The unit
#: is the other terms' (training interquartile ranges). Chosen on the whole quick
#: benchmark suite: 1 / 3 / 10 / 10^6 gave mean AUROC 0.860 / 0.861 / 0.861 / 0.860
#: against 0.856 without the term (``benchmarks/results/support_sweep.md``).
HYBRID_SUPPORT_WEIGHT = 3.0

#: k of the latent k-NN distance, and how many training codes the reference keeps
#: to compare against (a random subset beyond that: scoring cost stays bounded).
LATENT_K = 3
MAX_REFERENCE_CODES = 4096
#: Below this many training rows outside the reference set, the training score
#: scales are measured on the reference rows themselves (each skipping its own code).
_MIN_HELD_OUT_ROWS = 100

#: Scores of every detector (``score_type``).
AUTOENCODER_SCORES = ("hybrid", "reconstruction", "latent_knn")
#: Scores of the variational detectors: the above plus the likelihood-based ones.
SCORES = (*AUTOENCODER_SCORES, "elbo", "iw_nll", "kl", "recon_prob")


@dataclass(frozen=True)
class LatentReference:
    """What the latent-space scores compare a row against: the latent means of (up
    to a few thousand) training rows, the k of the k-NN distance, the median and
    interquartile range of the reconstruction and k-NN scores on training rows, and
    the k-NN term's weight in the hybrid score."""

    codes: Tensor
    k: int
    recon_center: float = 0.0
    recon_scale: float = 1.0
    knn_center: float = 0.0
    knn_scale: float = 1.0
    #: Weight of the k-NN term in ``"hybrid"``; 1.0 in model files written before
    #: :data:`HYBRID_LATENT_WEIGHT` existed, so their scores do not change.
    latent_weight: float = 1.0
    #: Features that were constant in training (column indices, int64) and their
    #: scaled value there, for the hybrid score's out-of-support term.
    support_columns: Tensor | None = None
    support_values: Tensor | None = None
    #: What ``"hybrid"`` adds per out-of-support cell; 0.0 in model files written
    #: before :data:`HYBRID_SUPPORT_WEIGHT` existed, so their scores do not change.
    support_weight: float = 0.0


def conditions_of(c: Tensor | TableBatch | None) -> Tensor | None:
    """The condition vectors inside ``c`` (a mixed table carries them in its
    :class:`~anomvae.tabular.TableBatch`)."""
    return c.conditions if isinstance(c, TableBatch) else c


def table_cells(
    net: AutoencoderNet, x_hat: Tensor, batch: TableBatch, *, unknown: str = "surprisal"
) -> Tensor:
    """Per-cell negative log-likelihood of a mixed table's rows under decoder
    outputs ``x_hat`` (:func:`anomvae.tabular.cell_negative_log_likelihood`, with
    the network's numeric decoder variance), shape ``(..., n, n_columns)``;
    ``x_hat`` may carry a leading sample dimension ``(K, n, outputs)``."""
    layout = batch.encoder.layout
    logvar = net.decoder_logvar()[layout.numeric]
    if x_hat.dim() == 2:
        return cell_negative_log_likelihood(
            batch.encoder, x_hat, logvar, batch.targets, unknown=unknown
        )
    k, n = x_hat.shape[:2]
    cells = cell_negative_log_likelihood(
        batch.encoder,
        x_hat.reshape(k * n, -1),
        logvar,
        batch.repeat(k).targets,
        unknown=unknown,
    )
    return cells.reshape(k, n, -1)


def table_surprise(net: AutoencoderNet, x_hat: Tensor, batch: TableBatch) -> Tensor:
    r"""Per-cell surprise of a mixed table's rows, ``(n, n_columns)``: the cell's
    negative log-likelihood less the smallest value it can take, so that every
    cell is :math:`\ge 0` and 0 when the model predicts it exactly. For a number
    that is :math:`(x - \mu)^2 / 2\sigma^2` (the Gaussian's normaliser removed);
    categories, flags, blankness and unseen values keep their full
    :math:`-\log p`. The mixed-table counterpart of the squared error: the
    reconstruction score and the feature contributions."""
    cells = table_cells(net, x_hat, batch)
    layout = batch.encoder.layout
    if not layout.numeric_columns:
        return cells
    logvar = net.decoder_logvar()[layout.numeric]
    floor = 0.5 * (_LOG_2PI + logvar) * batch.targets.numeric_observed.to(cells.dtype)
    index = torch.tensor(layout.numeric_columns, device=cells.device)
    return cells.index_add(1, index, -floor)


def unexpected_cells(batch: TableBatch) -> Tensor:
    """Per row, the cells holding what no training row had there: a level or flag
    value never seen, or a blank in a column never blank in training (the mixed
    table's out-of-support cells)."""
    never_blank = batch.encoder._torch_indices(batch.targets.blank.device)[
        "blank_floor"
    ]
    return batch.targets.unknown | (batch.targets.blank & (never_blank > 0))


def log_likelihood(
    net: AutoencoderNet, x: Tensor, x_hat: Tensor, c: Tensor | TableBatch | None = None
) -> Tensor:
    r""":math:`\log p(x \mid z)` per row for the network's likelihood;
    ``x_hat`` may carry leading sample dimensions. A mixed table (``c`` a
    :class:`~anomvae.tabular.TableBatch`) sums its cells' log-likelihoods."""
    if isinstance(c, TableBatch):
        return -table_cells(net, x_hat, c).sum(-1)
    if net.spec.likelihood == "bernoulli":
        return bernoulli_log_likelihood(x, x_hat)
    return gaussian_log_likelihood(x, x_hat, net.decoder_logvar())


def decoded_mean(net: AutoencoderNet, x_hat: Tensor) -> Tensor:
    """The decoder output on the data scale (sigmoid of Bernoulli logits)."""
    return torch.sigmoid(x_hat) if net.spec.likelihood == "bernoulli" else x_hat


def reconstruction_errors(
    net: AutoencoderNet, x: Tensor, c: Tensor | TableBatch | None = None
) -> Tensor:
    """Per-feature squared error of the decoded posterior mean, shape ``(n, d)``;
    for a mixed table its per-column :func:`table_surprise`, ``(n, n_columns)``."""
    mu, _ = net.encode(x, conditions_of(c))
    if isinstance(c, TableBatch):
        return table_surprise(net, net.decode(mu, c.conditions), c)
    return squared_error(x, decoded_mean(net, net.decode(mu, c)))


def anomaly_scores(
    net: AutoencoderNet,
    x: Tensor,
    c: Tensor | TableBatch | None,
    kind: str,
    eps: Tensor | None = None,
    reference: LatentReference | None = None,
) -> Tensor:
    r"""Anomaly score per row, higher = more anomalous.

    ``kind`` is one of :data:`SCORES`:

    - ``"hybrid"``: reconstruction error plus :data:`HYBRID_LATENT_WEIGHT` times the
      latent k-NN distance, each put on the training rows' scale by
      :func:`robust_standardize` — a row is anomalous when the model cannot rebuild
      it *or* when it encodes far from every training row — plus
      :data:`HYBRID_SUPPORT_WEIGHT` per :func:`out_of_support` cell.
    - ``"latent_knn"``: :func:`latent_knn_distance` of the posterior mean.
    - ``"reconstruction"``: mean squared error of the decoded posterior mean,
      :math:`\frac1d\lVert x - g(\mu(x))\rVert^2`.
    - ``"elbo"``: negative ELBO,
      :math:`-\frac1K\sum_k \log p(x\mid z_k) + \mathrm{KL}(q(z\mid x)\,\|\,p(z))`.
    - ``"iw_nll"``: negative importance-weighted bound, :math:`-\mathcal L_K`.
    - ``"kl"``: :math:`\mathrm{KL}(q(z\mid x)\,\|\,p(z))`.
    - ``"recon_prob"``: negative log reconstruction probability (An & Cho, 2015),
      :math:`-\log\frac1K\sum_k p(x\mid z_k)`.

    For a mixed table (``c`` a :class:`~anomvae.tabular.TableBatch`) the
    reconstruction error is the mean :func:`table_surprise` of the row's cells,
    the likelihood the sum of its cells' (:func:`table_cells`, in nats, unseen
    values and unexpected blanks counted as maximally surprising), and the
    hybrid score's out-of-support cells are its :func:`unexpected_cells`.

    ``eps`` holds the shared draws ``(K, latent_dim)`` for the Monte Carlo scores,
    ``reference`` the training codes for the latent scores.
    """
    table = c if isinstance(c, TableBatch) else None
    cond = conditions_of(c)
    if kind == "reconstruction":
        return reconstruction_errors(net, x, c).mean(-1)
    mu, logvar = net.encode(x, cond)
    if kind in ("latent_knn", "hybrid"):
        if reference is None:
            raise ValueError(f"score {kind!r} needs the training rows' latent codes")
        knn = latent_knn_distance(mu, reference.codes, reference.k)
        if kind == "latent_knn":
            return knn
        x_hat = net.decode(mu, cond)
        if table is None:
            recon = squared_error(x, decoded_mean(net, x_hat)).mean(-1)
            off = out_of_support(x, reference)
        else:
            recon = table_surprise(net, x_hat, table).mean(-1)
            off = unexpected_cells(table)
        score = robust_standardize(
            recon, reference.recon_center, reference.recon_scale
        ) + reference.latent_weight * robust_standardize(
            knn, reference.knn_center, reference.knn_scale
        )
        if off is None or not reference.support_weight:
            return score
        return score + reference.support_weight * off.sum(-1).to(score.dtype)
    if logvar is None:
        raise ValueError(f"score {kind!r} needs a variational model")
    kl = gaussian_kl_standard(mu, logvar)
    if kind == "kl":
        return kl
    if eps is None:
        raise ValueError(f"score {kind!r} needs Monte Carlo draws eps")
    z = mu.unsqueeze(0) + torch.exp(0.5 * logvar).unsqueeze(0) * eps.unsqueeze(1)
    log_px_z = log_likelihood(net, x, net.decode(z, cond), c)  # (K, n)
    if kind == "elbo":
        return kl - log_px_z.mean(0)
    if kind == "recon_prob":
        return -(torch.logsumexp(log_px_z, dim=0) - math.log(z.shape[0]))
    if kind == "iw_nll":
        log_pz = log_normal_diag(z, torch.zeros_like(z), torch.zeros_like(z))
        log_qz = log_normal_diag(z, mu.unsqueeze(0), logvar.unsqueeze(0))
        return -importance_weighted_log_likelihood(log_px_z + log_pz - log_qz)
    raise ValueError(f"unknown score {kind!r}; use one of {SCORES}")


def fixed_draws(seed: int, n: int, latent_dim: int, like: Tensor) -> Tensor:
    """The ``(n, latent_dim)`` standard-normal draws every row shares for the Monte
    Carlo scores (common random numbers), from ``seed``, in ``like``'s dtype and
    device."""
    gen = torch.Generator().manual_seed(seed)
    eps = torch.randn(n, latent_dim, generator=gen)
    return eps.to(device=like.device, dtype=like.dtype)


def _median_iqr(values: np.ndarray) -> tuple[float, float]:
    """Median and interquartile range (the standard deviation when the IQR is 0;
    1 when both are)."""
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    for scale in (float(q3 - q1), float(np.std(values))):
        if scale > 1e-12:
            return float(median), scale
    return float(median), 1.0


def fit_latent_reference(
    net: AutoencoderNet,
    x: Tensor,
    c: Tensor | TableBatch | None,
    rng: np.random.RandomState,
    *,
    support: tuple[np.ndarray, np.ndarray],
    batch_rows: int,
) -> LatentReference:
    """The :class:`LatentReference` of a trained network: up to
    :data:`MAX_REFERENCE_CODES` training codes for the latent scores, the
    training rows' score scales for the hybrid score, and the ``support``
    (constant features' indices and scaled values) for its out-of-support term.

    Scales come from training rows that are *not* reference codes when there are
    enough of them; otherwise every row is a reference and its own code is
    skipped when finding its neighbours. ``x`` is encoded ``batch_rows`` rows at
    a time.
    """
    x = x.to(next(net.parameters()).dtype)
    if isinstance(c, TableBatch):
        c = c.map(lambda t: t.to(x.dtype) if t.is_floating_point() else t)
    elif c is not None:
        c = c.to(x.dtype)
    n = x.shape[0]
    picks = np.sort(rng.permutation(n)[:MAX_REFERENCE_CODES])
    parts = []
    cond = conditions_of(c)
    for s in range(0, n, batch_rows):
        cb = None if cond is None else cond[s : s + batch_rows]
        parts.append(net.encode(x[s : s + batch_rows], cb)[0])
    codes = torch.cat(parts)
    reference = codes[torch.as_tensor(picks)]
    rest = np.setdiff1d(np.arange(n), picks)
    held_out = len(rest) >= _MIN_HELD_OUT_ROWS
    rows = torch.as_tensor(rest if held_out else np.arange(n))
    knn = latent_knn_distance(
        codes[rows], reference, LATENT_K, exclude_self=not held_out
    )
    recon = reconstruction_errors(net, x[rows], None if c is None else c[rows]).mean(-1)
    return LatentReference(
        reference,
        LATENT_K,
        *_median_iqr(recon.cpu().numpy()),
        *_median_iqr(knn.cpu().numpy()),
        latent_weight=HYBRID_LATENT_WEIGHT,
        support_columns=torch.as_tensor(support[0], dtype=torch.int64),
        support_values=torch.as_tensor(support[1], dtype=torch.float64),
        support_weight=HYBRID_SUPPORT_WEIGHT,
    )


def out_of_support(x: Tensor, reference: LatentReference) -> Tensor | None:
    """Per row and feature that was constant in training (``reference.
    support_columns``, in that order): whether the row holds another value there.
    ``None`` when no feature was constant or the reference predates the term.
    Exact comparison: ``x`` is scaled by the same arithmetic as the stored values,
    so a training value gives exactly the stored one."""
    cols, values = reference.support_columns, reference.support_values
    if cols is None or values is None or not len(cols):
        return None
    cols = cols.to(x.device)
    return x[:, cols] != values.to(device=x.device, dtype=x.dtype)


def robust_standardize(scores: Tensor, center: float, scale: float) -> Tensor:
    r"""Put a score on a common scale, :math:`(s - \mathrm{median}) / \mathrm{IQR}`,
    with the median and interquartile range of the training rows' scores, so that
    scores of different kinds can be added."""
    return (scores - center) / scale


def reconstruction_objective(
    net: AutoencoderNet,
    x_in: Tensor,
    x_target: Tensor,
    c: Tensor | TableBatch | None = None,
) -> Tensor:
    """Mean squared error of reconstructing ``x_target`` from ``x_in`` (the
    deterministic and denoising autoencoders' training loss). For a mixed table,
    the mean per-cell negative log-likelihood (unit-variance Gaussian for
    numbers, cross-entropy for categories, flags and blankness) per column."""
    mu, _ = net.encode(x_in, conditions_of(c))
    if isinstance(c, TableBatch):
        x_hat = net.decode(mu, c.conditions)
        cells = table_cells(net, x_hat, c, unknown="ignore")
        return cells.sum(-1).mean() / cells.shape[-1]
    return squared_error(x_target, net.decode(mu, c)).mean()


def elbo_objective(
    net: AutoencoderNet,
    x_in: Tensor,
    x_target: Tensor,
    c: Tensor | TableBatch | None = None,
    *,
    beta: float = 1.0,
    n_samples: int = 1,
) -> Tensor:
    r"""β-VAE training loss, averaged over the batch and divided by the number of
    features (columns, for a mixed table) so learning rates transfer across data
    widths:

    .. math:: \frac1d\Big[-\frac1L\sum_{l}\log p(x\mid z_l)
        + \beta\,\mathrm{KL}(q(z\mid x)\,\|\,p(z))\Big]

    with :math:`z_l = \mu + \sigma\odot\epsilon_l` (reparameterisation trick).
    """
    cond = conditions_of(c)
    mu, logvar = net.encode(x_in, cond)
    if logvar is None:
        raise ValueError("the ELBO needs a variational model")
    std = torch.exp(0.5 * logvar)
    z = mu.unsqueeze(0) + std.unsqueeze(0) * torch.randn(
        n_samples, *mu.shape, device=mu.device, dtype=mu.dtype
    )
    kl = gaussian_kl_standard(mu, logvar)
    if isinstance(c, TableBatch):
        cells = table_cells(net, net.decode(z, cond), c, unknown="ignore")
        return (cells.sum(-1).mean(0) + beta * kl).mean() / cells.shape[-1]
    nll = -log_likelihood(net, x_target, net.decode(z, c)).mean(0)
    return (nll + beta * kl).mean() / x_target.shape[-1]
