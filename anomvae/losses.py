"""Likelihoods, KL divergences and likelihood bounds as pure tensor functions.

Every function here is per sample: it takes batched tensors and returns one value
per row (shape ``(n,)``) or per row and feature, never a batch mean. Training takes
the mean; scoring keeps the rows apart. Each formula is tested against a closed form
or an independent computation in ``tests/test_losses.py``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = [
    "bernoulli_log_likelihood",
    "gaussian_kl",
    "gaussian_kl_standard",
    "gaussian_log_likelihood",
    "importance_weighted_log_likelihood",
    "log_normal_diag",
    "squared_error",
]

_LOG_2PI = math.log(2.0 * math.pi)


def squared_error(x: Tensor, x_hat: Tensor) -> Tensor:
    r"""Per-feature squared reconstruction error.

    .. math:: e_{ij} = (x_{ij} - \hat x_{ij})^2

    Returns a tensor of the same shape as ``x``.
    """
    return (x - x_hat).square()


def log_normal_diag(x: Tensor, mean: Tensor, logvar: Tensor) -> Tensor:
    r"""Log-density of a diagonal Gaussian, summed over the last dimension.

    .. math::
        \log \mathcal N(x; \mu, \operatorname{diag}\sigma^2)
        = -\tfrac12 \sum_j \left[\log 2\pi + \log\sigma_j^2
          + (x_j-\mu_j)^2 / \sigma_j^2\right]

    ``mean`` and ``logvar`` broadcast against ``x``.
    """
    return -0.5 * (_LOG_2PI + logvar + (x - mean).square() * torch.exp(-logvar)).sum(-1)


def gaussian_log_likelihood(x: Tensor, mean: Tensor, logvar: Tensor) -> Tensor:
    r"""Log-likelihood :math:`\log p(x \mid z)` of a diagonal Gaussian decoder.

    Same formula as :func:`log_normal_diag`; named for its role in the ELBO.
    """
    return log_normal_diag(x, mean, logvar)


def bernoulli_log_likelihood(x: Tensor, logits: Tensor) -> Tensor:
    r"""Log-likelihood of a Bernoulli decoder given logits, summed over features.

    .. math::
        \log p(x \mid z) = \sum_j x_j \log \sigma(l_j) + (1-x_j)\log(1-\sigma(l_j))

    ``x`` may hold any values in [0, 1] (the continuous relaxation used for
    grey-level images).
    """
    x, logits = torch.broadcast_tensors(x, logits)
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def gaussian_kl_standard(mu: Tensor, logvar: Tensor) -> Tensor:
    r"""KL divergence of :math:`q = \mathcal N(\mu, \operatorname{diag}\sigma^2)` from
    the standard normal prior, per row.

    .. math::
        \mathrm{KL}(q \,\|\, \mathcal N(0, I))
        = \tfrac12 \sum_j \left[\mu_j^2 + \sigma_j^2 - \log\sigma_j^2 - 1\right]
    """
    return 0.5 * (mu.square() + torch.exp(logvar) - logvar - 1.0).sum(-1)


def gaussian_kl(
    mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor
) -> Tensor:
    r"""KL divergence between two diagonal Gaussians, per row.

    .. math::
        \mathrm{KL}(q\,\|\,p) = \tfrac12 \sum_j \left[
            \log\frac{\sigma_{p,j}^2}{\sigma_{q,j}^2}
            + \frac{\sigma_{q,j}^2 + (\mu_{q,j}-\mu_{p,j})^2}{\sigma_{p,j}^2} - 1\right]
    """
    return 0.5 * (
        logvar_p
        - logvar_q
        + (torch.exp(logvar_q) + (mu_q - mu_p).square()) * torch.exp(-logvar_p)
        - 1.0
    ).sum(-1)


def importance_weighted_log_likelihood(log_weights: Tensor) -> Tensor:
    r"""Importance-weighted lower bound on :math:`\log p(x)` from K samples.

    ``log_weights`` has shape ``(K, n)`` and holds
    :math:`\log w_k = \log p(x\mid z_k) + \log p(z_k) - \log q(z_k\mid x)` for
    :math:`z_k \sim q(z\mid x)`. Returns, per row,

    .. math:: \mathcal L_K = \log \frac1K \sum_{k=1}^K w_k

    which is the ELBO for K = 1 and tends to :math:`\log p(x)` as K grows
    (Burda et al., 2016).
    """
    k = log_weights.shape[0]
    return torch.logsumexp(log_weights, dim=0) - math.log(k)
