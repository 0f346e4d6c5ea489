"""Per-row anomaly scores (higher = more anomalous) and the training objectives.

Scores are deterministic. Monte Carlo scores use *common random numbers*: one fixed
set of K standard-normal draws ``eps`` (shape ``(K, latent_dim)``) is shared by every
row, ``z_k = mu + sigma * eps_k``. A row's score therefore depends on that row alone,
not on the batch it arrived in or how often it was scored, and each row still gets an
unbiased K-sample estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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

__all__ = [
    "AUTOENCODER_SCORES",
    "HYBRID_LATENT_WEIGHT",
    "HYBRID_SUPPORT_WEIGHT",
    "SCORES",
    "LatentReference",
    "anomaly_scores",
    "decoded_mean",
    "elbo_objective",
    "latent_knn_distance",
    "log_likelihood",
    "out_of_support",
    "reconstruction_errors",
    "reconstruction_objective",
    "robust_standardize",
]

#: Distances computed at once by :func:`latent_knn_distance` (128 rows against
#: 4,096 reference codes).
_KNN_BLOCK_ELEMENTS = 524_288
#: Extra candidates measured exactly after the float32 ranking of the k-NN search.
_KNN_MARGIN = 1
#: Groups the reference codes are split into for the k-NN search: the row's
#: nearest candidates are looked for only in the groups with the nearest minima.
_KNN_GROUPS = 64

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


def log_likelihood(net: AutoencoderNet, x: Tensor, x_hat: Tensor) -> Tensor:
    """:math:`\\log p(x \\mid z)` per row for the network's likelihood;
    ``x_hat`` may carry leading sample dimensions."""
    if net.spec.likelihood == "bernoulli":
        return bernoulli_log_likelihood(x, x_hat)
    return gaussian_log_likelihood(x, x_hat, net.decoder_logvar())


def decoded_mean(net: AutoencoderNet, x_hat: Tensor) -> Tensor:
    """The decoder output on the data scale (sigmoid of Bernoulli logits)."""
    return torch.sigmoid(x_hat) if net.spec.likelihood == "bernoulli" else x_hat


def reconstruction_errors(
    net: AutoencoderNet, x: Tensor, c: Tensor | None = None
) -> Tensor:
    """Per-feature squared error of the decoded posterior mean, shape ``(n, d)``."""
    mu, _ = net.encode(x, c)
    return squared_error(x, decoded_mean(net, net.decode(mu, c)))


def anomaly_scores(
    net: AutoencoderNet,
    x: Tensor,
    c: Tensor | None,
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

    ``eps`` holds the shared draws ``(K, latent_dim)`` for the Monte Carlo scores,
    ``reference`` the training codes for the latent scores.
    """
    if kind == "reconstruction":
        return reconstruction_errors(net, x, c).mean(-1)
    mu, logvar = net.encode(x, c)
    if kind in ("latent_knn", "hybrid"):
        if reference is None:
            raise ValueError(f"score {kind!r} needs the training rows' latent codes")
        knn = latent_knn_distance(mu, reference.codes, reference.k)
        if kind == "latent_knn":
            return knn
        recon = squared_error(x, decoded_mean(net, net.decode(mu, c))).mean(-1)
        score = robust_standardize(
            recon, reference.recon_center, reference.recon_scale
        ) + reference.latent_weight * robust_standardize(
            knn, reference.knn_center, reference.knn_scale
        )
        off = out_of_support(x, reference)
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
    log_px_z = log_likelihood(net, x, net.decode(z, c))  # (K, n)
    if kind == "elbo":
        return kl - log_px_z.mean(0)
    if kind == "recon_prob":
        return -(torch.logsumexp(log_px_z, dim=0) - math.log(z.shape[0]))
    if kind == "iw_nll":
        log_pz = log_normal_diag(z, torch.zeros_like(z), torch.zeros_like(z))
        log_qz = log_normal_diag(z, mu.unsqueeze(0), logvar.unsqueeze(0))
        return -importance_weighted_log_likelihood(log_px_z + log_pz - log_qz)
    raise ValueError(f"unknown score {kind!r}; use one of {SCORES}")


def latent_knn_distance(
    codes: Tensor, reference: Tensor, k: int, *, exclude_self: bool = False
) -> Tensor:
    r"""Distance from each code to its k-th nearest reference code.

    .. math:: d_k(z) = \lVert z - r_{(k)}(z) \rVert_2

    where :math:`r_{(k)}(z)` is the k-th closest of the reference codes (latent
    means of training rows). A density measure in the latent space: codes far from
    every training code are anomalous even when the decoder reconstructs them well.
    With ``exclude_self`` the nearest reference (the row itself, at distance 0) is
    skipped; used for training rows that belong to the reference set.

    The search ranks the reference codes in float32 and keeps
    :data:`_KNN_MARGIN` more candidates than needed; their distances are then
    computed exactly, in the codes' dtype, from their differences. The result is
    the exact k-th distance unless more than :data:`_KNN_MARGIN` codes tie with
    it to within float32 rounding, and then it is off by no more than that.
    """
    k_eff = min(k + int(exclude_self), reference.shape[0])
    if torch.onnx.is_in_onnx_export() or torch.jit.is_tracing():
        # One block in the reference's dtype: the graph keeps a dynamic batch size.
        exact = _KnnSearch(reference, k_eff, dtype=reference.dtype, groups=1)
        return _knn_block(codes, reference, exact, k_eff)
    search = _KnnSearch(reference, min(k_eff + _KNN_MARGIN, reference.shape[0]))
    # Blocks of ~1 MB of distances stay in cache: several times faster than one
    # large matrix, and memory no longer grows with the batch.
    rows = max(1, _KNN_BLOCK_ELEMENTS // max(reference.shape[0], 1))
    if not len(codes):
        return codes[:, 0]
    return torch.cat(
        [_knn_block(b, reference, search, k_eff) for b in codes.split(rows)]
    )


class _KnnSearch:
    """The reference codes laid out for ranking: centred (so that float32 keeps
    the distances' digits however far the codes sit from the origin), in the
    search dtype, transposed and padded to ``groups`` equal groups (padding at
    infinite distance)."""

    def __init__(
        self,
        reference: Tensor,
        candidates: int,
        *,
        dtype: torch.dtype = torch.float32,
        groups: int = _KNN_GROUPS,
    ) -> None:
        n, d = reference.shape
        self.center = reference.mean(0)
        ref = (reference - self.center).to(dtype)
        self.candidates = candidates
        # Grouping pays when the candidates' groups are a small part of the codes.
        self.groups = (
            groups if groups > 1 and candidates * -(-n // groups) * 2 <= n else 1
        )
        self.size = -(-n // self.groups)
        pad = self.groups * self.size - n
        self.sq = torch.cat([ref.square().sum(-1), ref.new_full((pad,), float("inf"))])
        self.ref_t = torch.cat([ref, ref.new_zeros(pad, d)]).T.contiguous()

    def rank(self, block: Tensor) -> Tensor:
        """Indices of each row's ``candidates`` nearest reference codes (by the
        search dtype's distances), shape ``(rows, candidates)``."""
        # |z - r|^2 = |z|^2 + (|r|^2 - 2 z.r), and |z|^2 is the same for every r,
        # so the bracket alone (one fused matrix product) ranks them.
        partial = torch.addmm(
            self.sq, (block - self.center).to(self.sq.dtype), self.ref_t, alpha=-2.0
        )
        if self.groups == 1:
            return torch.topk(partial, self.candidates, dim=1, largest=False).indices
        # The c nearest codes lie in the c groups with the smallest minima: a code
        # outside them is no nearer than each of those c minima.
        grouped = partial.view(len(block), self.groups, self.size)
        group = torch.topk(grouped.amin(-1), self.candidates, dim=1, largest=False)
        members = grouped.gather(
            1, group.indices.unsqueeze(-1).expand(-1, -1, self.size)
        ).flatten(1)
        pick = torch.topk(members, self.candidates, dim=1, largest=False).indices
        return group.indices.gather(1, pick // self.size) * self.size + pick % self.size


def _knn_block(block: Tensor, reference: Tensor, search: _KnnSearch, k: int) -> Tensor:
    """k-th nearest distance for one block of codes: rank, then measure exactly
    (the expanded form of the ranking cancels badly for near neighbours)."""
    index = search.rank(block)
    found = (block.unsqueeze(1) - reference[index]).square().sum(-1)
    kth = torch.topk(found, k, dim=1, largest=False).values[:, -1]
    return kth.clamp(min=0.0).sqrt()


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
    net: AutoencoderNet, x_in: Tensor, x_target: Tensor, c: Tensor | None = None
) -> Tensor:
    """Mean squared error of reconstructing ``x_target`` from ``x_in`` (the
    deterministic and denoising autoencoders' training loss)."""
    mu, _ = net.encode(x_in, c)
    return squared_error(x_target, net.decode(mu, c)).mean()


def elbo_objective(
    net: AutoencoderNet,
    x_in: Tensor,
    x_target: Tensor,
    c: Tensor | None = None,
    *,
    beta: float = 1.0,
    n_samples: int = 1,
) -> Tensor:
    r"""β-VAE training loss, averaged over the batch and divided by the number of
    features so learning rates transfer across data widths:

    .. math:: \frac1d\Big[-\frac1L\sum_{l}\log p(x\mid z_l)
        + \beta\,\mathrm{KL}(q(z\mid x)\,\|\,p(z))\Big]

    with :math:`z_l = \mu + \sigma\odot\epsilon_l` (reparameterisation trick).
    """
    mu, logvar = net.encode(x_in, c)
    if logvar is None:
        raise ValueError("the ELBO needs a variational model")
    std = torch.exp(0.5 * logvar)
    z = mu.unsqueeze(0) + std.unsqueeze(0) * torch.randn(
        n_samples, *mu.shape, device=mu.device, dtype=mu.dtype
    )
    nll = -log_likelihood(net, x_target, net.decode(z, c)).mean(0)
    kl = gaussian_kl_standard(mu, logvar)
    return (nll + beta * kl).mean() / x_target.shape[-1]
