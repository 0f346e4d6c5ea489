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
    "categorical_log_likelihood",
    "gaussian_kl",
    "gaussian_kl_standard",
    "gaussian_log_likelihood",
    "importance_weighted_log_likelihood",
    "log_normal_diag",
    "masked_bernoulli_log_density",
    "masked_bernoulli_log_likelihood",
    "masked_gaussian_log_density",
    "masked_gaussian_log_likelihood",
    "squared_error",
    "unknown_cell_surprisal",
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


# --------------------------------------------------------------------------
# Masked per-column likelihoods for mixed tables (blank cells left out)
# --------------------------------------------------------------------------


def masked_gaussian_log_density(
    x: Tensor, mean: Tensor, logvar: Tensor, observed: Tensor
) -> Tensor:
    r"""Per-cell Gaussian log-density, 0 where a cell is not observed.

    .. math::
        \ell_{ij} = m_{ij}\left(-\tfrac12\left[\log 2\pi + \log\sigma_j^2
            + (x_{ij}-\mu_{ij})^2/\sigma_j^2\right]\right)

    with :math:`m_{ij} = 1` for an observed cell. ``x`` may hold anything (even
    NaN) where ``observed`` is false: those cells are replaced by the mean before
    the formula, so neither the value nor its gradient can leak through the mask.
    ``mean`` and ``logvar`` broadcast against ``x``; returns the shape of ``x``.

    Examples
    --------
    >>> x = torch.tensor([[0.0, float("nan")]])
    >>> masked_gaussian_log_density(x, torch.zeros(1, 2), torch.zeros(2),
    ...                             torch.tensor([[True, False]]))
    tensor([[-0.9189,  0.0000]])
    """
    observed = observed.to(torch.bool)
    x, mean, logvar, observed = torch.broadcast_tensors(x, mean, logvar, observed)
    x = torch.where(observed, x, mean.detach())
    ll = -0.5 * (_LOG_2PI + logvar + (x - mean).square() * torch.exp(-logvar))
    return torch.where(observed, ll, torch.zeros_like(ll))


def masked_gaussian_log_likelihood(
    x: Tensor, mean: Tensor, logvar: Tensor, observed: Tensor
) -> Tensor:
    r"""Gaussian log-likelihood per row, summed over the observed cells only.

    .. math::
        \log p(x_{\mathrm{obs}} \mid z) = \sum_{j:\, m_{ij}=1}
            -\tfrac12\left[\log 2\pi + \log\sigma_j^2
            + (x_{ij}-\mu_{ij})^2/\sigma_j^2\right]

    The sum of :func:`masked_gaussian_log_density` over the last dimension; a row
    with no observed cell gets 0.

    Examples
    --------
    >>> masked_gaussian_log_likelihood(torch.tensor([[0.0, 5.0]]),
    ...     torch.zeros(1, 2), torch.zeros(2), torch.tensor([[True, False]]))
    tensor([-0.9189])
    """
    return masked_gaussian_log_density(x, mean, logvar, observed).sum(-1)


def categorical_log_likelihood(logits: Tensor, codes: Tensor) -> Tensor:
    r"""Log-probability of each row's observed level under a softmax, per row.

    .. math::
        \log p(c_i \mid z) = l_{i c_i} - \log \sum_k e^{l_{ik}}
        \quad (c_i \ge 0), \qquad 0 \quad (c_i < 0)

    ``logits`` has shape ``(n, K)``; ``codes`` (integers, shape ``(n,)``) holds
    the observed level, or a negative code for a cell that is blank (``-1``) or
    holds a value never seen in training (``-2``), which contributes 0 here (see
    :func:`unknown_cell_surprisal` for the latter). Stable for any finite logits.

    Examples
    --------
    >>> logits = torch.tensor([[0.0, 0.0], [2.0, 0.0]])
    >>> categorical_log_likelihood(logits, torch.tensor([1, -1]))
    tensor([-0.6931,  0.0000])
    """
    log_p = torch.log_softmax(logits, dim=-1)
    codes = codes.to(torch.int64)
    observed = codes >= 0
    picked = log_p.gather(-1, codes.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return torch.where(observed, picked, torch.zeros_like(picked))


def masked_bernoulli_log_density(x: Tensor, logits: Tensor, observed: Tensor) -> Tensor:
    r"""Per-cell Bernoulli log-probability from logits, 0 where not observed.

    .. math::
        \ell_{ij} = m_{ij}\left[x_{ij}\log\sigma(l_{ij})
            + (1-x_{ij})\log(1-\sigma(l_{ij}))\right]

    ``x`` may hold anything (even NaN) where ``observed`` is false. Computed from
    the logits, so extreme logits give finite values and gradients.

    Examples
    --------
    >>> masked_bernoulli_log_density(torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2),
    ...                              torch.tensor([[True, False]]))
    tensor([[-0.6931,  0.0000]])
    """
    observed = observed.to(torch.bool)
    x, logits, observed = torch.broadcast_tensors(x, logits, observed)
    x = torch.where(observed, x, torch.zeros_like(x))
    ll = -F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return torch.where(observed, ll, torch.zeros_like(ll))


def masked_bernoulli_log_likelihood(
    x: Tensor, logits: Tensor, observed: Tensor
) -> Tensor:
    r"""Bernoulli log-likelihood per row, summed over the observed cells only.

    .. math::
        \log p(x_{\mathrm{obs}} \mid z) = \sum_{j:\, m_{ij}=1}
            x_{ij}\log\sigma(l_{ij}) + (1-x_{ij})\log(1-\sigma(l_{ij}))

    Examples
    --------
    >>> masked_bernoulli_log_likelihood(torch.tensor([[1.0, 0.0]]),
    ...     torch.zeros(1, 2), torch.tensor([[True, True]]))
    tensor([-1.3863])
    """
    return masked_bernoulli_log_density(x, logits, observed).sum(-1)


def unknown_cell_surprisal(log_probs: Tensor, n_train: float | Tensor) -> Tensor:
    r"""Surprisal of a cell holding a value never seen in training, per row.

    .. math::
        s_i = \max\Bigl(\max_k \bigl[-\log p_{ik}\bigr],\;
            \log(n_{\mathrm{train}} + 1)\Bigr)

    ``log_probs`` ``(n, K)`` holds the log-probabilities the decoder gives the
    column's *known* values for each row (log-softmax of a categorical block;
    :math:`\log\sigma(-l), \log\sigma(l)` for a binary column). The result is
    in nats, the unit of every other cell's negative log-likelihood, so an unseen
    value counts as a maximally surprising cell:

    - it is at least as surprising as the rarest value the model knows, given the
      rest of the row (the first term);
    - a value absent from :math:`n` training rows has an empirical probability
      below :math:`1/(n+1)` (the second term is a floor that grows with the
      evidence: the more rows said "never", the more surprising it is now).

    A blank cell in a column that was never blank in training is scored with the
    floor alone, :math:`\log(n_{\mathrm{train}}+1)`.

    Examples
    --------
    >>> log_p = torch.log(torch.tensor([[0.5, 0.5], [0.999999, 0.000001]]))
    >>> unknown_cell_surprisal(log_p, 99)  # log 100 = 4.6; -log 1e-6 = 13.8
    tensor([ 4.6052, 13.8155])
    """
    worst = -log_probs.min(dim=-1).values
    floor = torch.log1p(
        torch.as_tensor(n_train, dtype=worst.dtype, device=worst.device)
    )
    return torch.maximum(worst, floor)
