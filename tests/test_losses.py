"""The maths, tested against closed forms and independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import Normal, kl_divergence

from anomvae import VAEDetector
from anomvae.losses import (
    bernoulli_log_likelihood,
    categorical_log_likelihood,
    gaussian_kl,
    gaussian_kl_standard,
    importance_weighted_log_likelihood,
    log_normal_diag,
    masked_bernoulli_log_density,
    masked_bernoulli_log_likelihood,
    masked_gaussian_log_density,
    masked_gaussian_log_likelihood,
    unknown_cell_surprisal,
)
from anomvae.models import NetworkSpec, build_network
from anomvae.scoring import anomaly_scores


@pytest.fixture(autouse=True)
def _float64_default():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def test_gaussian_kl_standard_matches_hand_computed_value():
    # KL(N(1, 2^2) || N(0, 1)) = 0.5 * (1 + 4 - ln 4 - 1)
    mu = torch.tensor([[1.0]])
    logvar = torch.tensor([[math.log(4.0)]])
    expected = 0.5 * (1.0 + 4.0 - math.log(4.0) - 1.0)
    assert gaussian_kl_standard(mu, logvar).item() == pytest.approx(expected, rel=1e-12)


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu_q, lv_q, mu_p, lv_p = (torch.randn(50, 7, generator=g) for _ in range(4))
    ref = kl_divergence(
        Normal(mu_q, torch.exp(0.5 * lv_q)), Normal(mu_p, torch.exp(0.5 * lv_p))
    ).sum(-1)
    torch.testing.assert_close(gaussian_kl(mu_q, lv_q, mu_p, lv_p), ref)
    zeros = torch.zeros_like(mu_q)
    torch.testing.assert_close(
        gaussian_kl_standard(mu_q, lv_q), gaussian_kl(mu_q, lv_q, zeros, zeros)
    )
    assert (gaussian_kl_standard(mu_q, lv_q) > 0).all()
    assert gaussian_kl_standard(zeros, zeros).abs().max().item() == 0.0


def test_log_normal_diag_matches_scipy():
    rng = np.random.default_rng(1)
    x, mean = rng.normal(size=(20, 4)), rng.normal(size=(20, 4))
    var = rng.uniform(0.2, 3.0, size=4)
    ours = log_normal_diag(
        torch.tensor(x), torch.tensor(mean), torch.tensor(np.log(var))
    )
    ref = [
        stats.multivariate_normal(m, np.diag(var)).logpdf(r)
        for r, m in zip(x, mean, strict=True)
    ]
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-10)


def test_bernoulli_log_likelihood_matches_formula():
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(10, 5))
    logits = rng.normal(size=(10, 5))
    p = 1 / (1 + np.exp(-logits))
    ref = (x * np.log(p) + (1 - x) * np.log(1 - p)).sum(1)
    ours = bernoulli_log_likelihood(torch.tensor(x), torch.tensor(logits))
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-10)


def test_importance_weighted_bound_is_log_mean_exp():
    w = torch.tensor([[0.0, 1.0], [math.log(3.0), 1.0]])
    out = importance_weighted_log_likelihood(w)
    np.testing.assert_allclose(out.numpy(), [math.log(2.0), 1.0], rtol=1e-12)


# --------------------------------------------------------------------------
# Linear-Gaussian VAE against the exact probabilistic-PCA likelihood
# --------------------------------------------------------------------------


def _linear_vae(W: np.ndarray, b: np.ndarray, sigma2: float):
    """A linear VAE whose decoder is x = W z + b + N(0, sigma2 I) and whose encoder
    is the exact posterior (possible because W has orthogonal columns)."""
    d, q = W.shape
    net = build_network(
        NetworkSpec(n_features=d, latent_dim=q, hidden_layer_sizes=(), variational=True)
    ).to(torch.float64)
    M = np.eye(q) + W.T @ W / sigma2  # diagonal by construction
    post_cov = np.linalg.inv(M)
    A = post_cov @ W.T / sigma2  # posterior mean = A (x - b)
    with torch.no_grad():
        dec = net.decoder_mlp[0]
        dec.weight.copy_(torch.tensor(W))
        dec.bias.copy_(torch.tensor(b))
        net.decoder_logvar_raw.fill_(math.log(sigma2))
        net.to_mu.weight.copy_(torch.tensor(A))
        net.to_mu.bias.copy_(torch.tensor(-A @ b))
        net.to_logvar.weight.zero_()
        net.to_logvar.bias.copy_(torch.tensor(np.log(np.diag(post_cov))))
    return net


def _exact_nll(
    x: np.ndarray, W: np.ndarray, b: np.ndarray, sigma2: float
) -> np.ndarray:
    cov = W @ W.T + sigma2 * np.eye(W.shape[0])
    return -stats.multivariate_normal(b, cov).logpdf(x)


def _ppca_problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    d, q, sigma2 = 6, 2, 0.3
    W = np.linalg.qr(rng.normal(size=(d, q)))[0] * np.array([2.0, 1.2])
    b = rng.normal(size=d)
    z = rng.normal(size=(400, q))
    x = z @ W.T + b + rng.normal(scale=math.sqrt(sigma2), size=(400, d))
    return W, b, sigma2, x


def test_scores_of_exact_posterior_linear_vae_equal_ppca_likelihood():
    W, b, sigma2, x = _ppca_problem()
    net = _linear_vae(W, b, sigma2)
    exact = _exact_nll(x[:50], W, b, sigma2)
    xt = torch.tensor(x[:50])
    eps = torch.randn(20000, W.shape[1], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        iw = anomaly_scores(net, xt, None, "iw_nll", eps[:16]).numpy()
        elbo = anomaly_scores(net, xt, None, "elbo", eps).numpy()
    # With the exact posterior every importance weight equals p(x): exact for any K.
    np.testing.assert_allclose(iw, exact, rtol=1e-9)
    # The negative ELBO equals -log p(x) up to Monte Carlo error of its
    # reconstruction term (20,000 draws).
    np.testing.assert_allclose(elbo, exact, rtol=1e-2)


def test_elbo_bounds_and_iw_converges_for_imperfect_encoder():
    W, b, sigma2, x = _ppca_problem(1)
    net = _linear_vae(W, b, sigma2)
    with torch.no_grad():  # widen the posterior: the bound is no longer tight
        net.to_logvar.bias.add_(1.0)
        net.to_mu.bias.add_(0.3)
    exact = _exact_nll(x[:50], W, b, sigma2)
    xt = torch.tensor(x[:50])
    eps = torch.randn(5000, W.shape[1], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        neg_elbo = anomaly_scores(net, xt, None, "elbo", eps).numpy()
        # E[bound with K=2], averaged over 1,000 independent pairs of draws
        iw_small = np.mean(
            [
                anomaly_scores(net, xt, None, "iw_nll", eps[2 * i : 2 * i + 2]).numpy()
                for i in range(1000)
            ],
            axis=0,
        )
        iw_large = anomaly_scores(net, xt, None, "iw_nll", eps).numpy()
    gap_elbo = np.mean(neg_elbo - exact)
    gap_large = np.mean(iw_large - exact)
    assert gap_elbo > 0.05  # the ELBO is a strict bound here
    # In expectation: ELBO gap > K=2 gap > K=5000 gap > 0 (Burda et al., Thm 1).
    assert gap_elbo > np.mean(iw_small - exact) > gap_large
    np.testing.assert_allclose(iw_large, exact, rtol=0.01)


def test_trained_linear_vae_iw_nll_matches_exact_likelihood_of_its_decoder():
    W, b, sigma2, x = _ppca_problem(2)
    det = VAEDetector(
        hidden_layer_sizes=(),
        latent_dim=2,
        scaler=None,
        max_epochs=150,
        patience=None,
        learning_rate=1e-2,
        batch_size=64,
        random_state=0,
        score_type="iw_nll",
        n_score_samples=2000,
        beta=1.0,  # the plain VAE, trained on clean rows: its optimum is PPCA
        noise=None,
    ).fit(x)
    net = det.network_
    Wl = net.decoder_mlp[0].weight.detach().numpy()
    bl = net.decoder_mlp[0].bias.detach().numpy()
    var = np.exp(net.decoder_logvar().detach().numpy())
    cov = Wl @ Wl.T + np.diag(var)
    exact = -stats.multivariate_normal(bl, cov).logpdf(x[:100])
    iw = det.anomaly_score(x[:100])
    np.testing.assert_allclose(iw, exact, rtol=0.01)
    # ...and the trained model is close to the generating PPCA model.
    truth = _exact_nll(x, W, b, sigma2).mean()
    model = -stats.multivariate_normal(bl, cov).logpdf(x).mean()
    assert abs(model - truth) / truth < 0.05
    # The KL term is alive (the competitor's was silently zero).
    det.set_params(score_type="kl")
    assert det.anomaly_score(x).mean() > 0.1


# --------------------------------------------------------------------------
# Masked per-column likelihoods (mixed tables)
# --------------------------------------------------------------------------


def _mixed_problem(seed: int = 3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(30, 4)) * 3
    mean = rng.normal(size=(30, 4))
    logvar = rng.normal(size=4)
    observed = rng.uniform(size=(30, 4)) < 0.7
    return x, mean, logvar, observed


def test_masked_gaussian_matches_scipy_on_observed_cells_only():
    x, mean, logvar, observed = _mixed_problem()
    ours = masked_gaussian_log_likelihood(
        torch.tensor(x),
        torch.tensor(mean),
        torch.tensor(logvar),
        torch.tensor(observed),
    )
    cells = stats.norm.logpdf(x, loc=mean, scale=np.exp(0.5 * logvar))
    np.testing.assert_allclose(ours.numpy(), (cells * observed).sum(1), rtol=1e-12)
    per_cell = masked_gaussian_log_density(
        torch.tensor(x),
        torch.tensor(mean),
        torch.tensor(logvar),
        torch.tensor(observed),
    )
    np.testing.assert_allclose(per_cell.numpy(), np.where(observed, cells, 0.0))


def test_masked_gaussian_ignores_blank_cells_values_and_their_gradients():
    x, mean, logvar, observed = _mixed_problem(4)
    changed = np.where(observed, x, np.nan)  # NaN in every blank cell
    changed[~observed & (np.arange(4) == 0)] = 1e300
    args = [torch.tensor(mean, requires_grad=True), torch.tensor(logvar)]
    a = masked_gaussian_log_likelihood(torch.tensor(x), *args, torch.tensor(observed))
    b = masked_gaussian_log_likelihood(
        torch.tensor(changed), *args, torch.tensor(observed)
    )
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    b.sum().backward()
    grad = args[0].grad.numpy()
    assert np.isfinite(grad).all()
    assert (grad[~observed] == 0).all()
    assert (grad[observed] != 0).all()


def test_categorical_log_likelihood_matches_numpy_softmax():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(40, 6)) * 4
    codes = rng.integers(-2, 6, size=40)
    ours = categorical_log_likelihood(torch.tensor(logits), torch.tensor(codes))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    ref = np.where(codes >= 0, np.log(p[np.arange(40), np.maximum(codes, 0)]), 0.0)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-12, atol=1e-14)
    assert (ours.numpy()[codes < 0] == 0).all()


def test_masked_bernoulli_by_hand_and_mask():
    rng = np.random.default_rng(6)
    x = (rng.uniform(size=(25, 3)) < 0.4).astype(float)
    logits = rng.normal(size=(25, 3)) * 3
    observed = rng.uniform(size=(25, 3)) < 0.8
    p = 1 / (1 + np.exp(-logits))
    cells = np.where(x == 1, np.log(p), np.log(1 - p))
    ours = masked_bernoulli_log_likelihood(
        torch.tensor(x), torch.tensor(logits), torch.tensor(observed)
    )
    np.testing.assert_allclose(ours.numpy(), (cells * observed).sum(1), rtol=1e-12)
    flipped = np.where(observed, x, 1 - x)  # change every blank cell's value
    again = masked_bernoulli_log_likelihood(
        torch.tensor(flipped), torch.tensor(logits), torch.tensor(observed)
    )
    torch.testing.assert_close(ours, again, rtol=0, atol=0)
    nan_blank = np.where(observed, x, np.nan)
    cell = masked_bernoulli_log_density(
        torch.tensor(nan_blank), torch.tensor(logits), torch.tensor(observed)
    )
    np.testing.assert_allclose(cell.numpy(), cells * observed, rtol=1e-12)


@pytest.mark.parametrize("scale", [1e2, 1e4, 1e30])
def test_mixed_likelihood_gradients_finite_at_extreme_logits(scale):
    logits = torch.tensor([[1.0, -1.0, 0.5], [-1.0, 1.0, 0.0]]) * scale
    logits.requires_grad_(True)
    codes = torch.tensor([1, 0])
    cat = categorical_log_likelihood(logits, codes)
    x = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    bern = masked_bernoulli_log_likelihood(x, logits, torch.ones_like(x).bool())
    (cat.sum() + bern.sum()).backward()
    assert torch.isfinite(cat).all()
    assert torch.isfinite(bern).all()
    assert torch.isfinite(logits.grad).all()
    # The wrong level at a huge margin: log p = -(margin), exactly.
    assert cat[0].item() == pytest.approx(-2.0 * scale, rel=1e-12)


def test_unknown_cell_surprisal_is_worst_known_level_or_count_floor():
    p = np.array([[0.7, 0.2, 0.1], [0.98, 0.0199, 0.0001]])
    out = unknown_cell_surprisal(torch.tensor(np.log(p)), 99)
    # row 0: -log 0.1 = 2.30 < log(100) = 4.61; row 1: -log 1e-4 = 9.21
    np.testing.assert_allclose(out.numpy(), [math.log(100), -math.log(1e-4)])
    per_col = unknown_cell_surprisal(torch.tensor(np.log(p)), torch.tensor([1e6, 3.0]))
    np.testing.assert_allclose(
        per_col.numpy(), [math.log1p(1e6), -math.log(1e-4)], rtol=1e-12
    )
    # Never below the surprisal of any known level.
    assert (out.numpy()[:, None] >= -np.log(p) - 1e-12).all()
