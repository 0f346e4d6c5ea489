"""Training precision: bfloat16 autocast of the forward pass (``precision=``), exact
float32 on the CPU by default, full-precision scoring. The bfloat16 path runs on the
CPU here; the CUDA tests skip without a GPU."""

from __future__ import annotations

import dataclasses
from contextlib import nullcontext

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sklearn.utils._param_validation import InvalidParameterError

import anomvae.devices
from anomvae import AutoencoderDetector, VAEDetector
from anomvae.datasets import load
from anomvae.devices import resolve_precision
from anomvae.models import NetworkSpec, build_network
from anomvae.scoring import elbo_objective, reconstruction_objective
from anomvae.training import TrainConfig, train

CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def cardio() -> tuple[np.ndarray, np.ndarray]:
    X, y = load("cardio")
    return np.asarray(X, dtype=np.float64), np.asarray(y)


def test_auto_is_exactly_float32_on_the_cpu(cardio):
    """The default changes nothing on the CPU: the same weights, losses and scores,
    bit for bit."""
    X, y = cardio
    fits = {
        p: VAEDetector(random_state=0, max_steps=50, precision=p).fit(X[y == 0])
        for p in ("auto", "float32")
    }
    auto, f32 = fits["auto"], fits["float32"]
    assert auto.training_precision_ == f32.training_precision_ == "float32"
    assert auto.history_ == f32.history_
    np.testing.assert_array_equal(auto.anomaly_score(X), f32.anomaly_score(X))
    for a, b in zip(auto.network_.parameters(), f32.network_.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("cls", [VAEDetector, AutoencoderDetector])
def test_bfloat16_on_the_cpu_trains_as_well_as_float32(cls, cardio):
    X, y = cardio
    aurocs = {}
    for precision in ("float32", "bfloat16"):
        det = cls(random_state=0, max_steps=150, precision=precision).fit(X[y == 0])
        assert det.training_precision_ == precision
        assert np.isfinite(det.history_["train_loss"]).all()
        assert np.isfinite(det.history_["val_loss"]).all()
        # Scoring is full precision whatever the training arithmetic.
        assert next(det.network_.parameters()).dtype == torch.float64
        scores = det.anomaly_score(X)
        assert np.isfinite(scores).all()
        aurocs[precision] = roc_auc_score(y, scores)
    assert aurocs["float32"] > 0.85
    assert abs(aurocs["bfloat16"] - aurocs["float32"]) < 0.03


def _spec(variational: bool) -> NetworkSpec:
    return NetworkSpec(
        n_features=6, latent_dim=2, hidden_layer_sizes=(16, 8), variational=variational
    )


@pytest.mark.parametrize("variational", [False, True])
def test_autocast_covers_the_layers_and_losses_stay_float32(variational):
    """Under bfloat16 autocast the linear layers compute in bfloat16, while the
    network's outputs, the likelihood/KL terms and the loss are float32."""
    net = build_network(_spec(variational))
    x = torch.randn(32, 6)
    layer_dtypes: list[torch.dtype] = []
    hook = net.encoder_mlp[0].register_forward_hook(
        lambda m, i, o: layer_dtypes.append(o.dtype)
    )
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mu, logvar = net.encode(x)
        x_hat = net.decode(mu)
        loss = (
            elbo_objective(net, x, x, beta=0.5)
            if variational
            else reconstruction_objective(net, x, x)
        )
    hook.remove()
    assert layer_dtypes
    assert set(layer_dtypes) == {torch.bfloat16}
    assert mu.dtype == x_hat.dtype == loss.dtype == torch.float32
    assert logvar is None or logvar.dtype == torch.float32
    loss.backward()
    assert all(
        p.grad is None or p.grad.dtype == torch.float32 for p in net.parameters()
    )


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_train_autocasts_only_with_bfloat16(precision):
    torch.manual_seed(0)
    net = build_network(_spec(True))
    x = torch.randn(200, 6)
    seen: list[tuple[torch.dtype, bool]] = []

    def objective(xb, cb, *, warmup, training):
        seen.append((net.encoder_mlp[0](xb).dtype, training))
        return elbo_objective(net, xb, xb, cb, beta=warmup)

    result = train(
        net,
        objective,
        x,
        None,
        TrainConfig(max_epochs=3, batch_size=50, precision=precision),
        generator=torch.Generator().manual_seed(0),
    )
    expected = torch.bfloat16 if precision == "bfloat16" else torch.float32
    # Training steps and validation passes alike.
    assert {dtype for dtype, _ in seen} == {expected}
    assert {training for _, training in seen} == {True, False}
    assert np.isfinite(result.history["train_loss"]).all()
    assert np.isfinite(result.history["val_loss"]).all()
    # Weights stay float32; no autocast state leaks out of training.
    assert all(p.dtype == torch.float32 for p in net.parameters())
    assert not torch.is_autocast_enabled("cpu")


def test_float32_training_ignores_a_callers_autocast(cardio):
    """precision="float32" never autocasts, not even inside the caller's own
    autocast region."""
    X, y = cardio
    plain = AutoencoderDetector(random_state=0, max_steps=30, precision="float32")
    plain.fit(X[y == 0])
    inside = AutoencoderDetector(random_state=0, max_steps=30, precision="float32")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside.fit(X[y == 0])
        scores = inside.anomaly_score(X)
    assert inside.history_ == plain.history_
    np.testing.assert_array_equal(scores, plain.anomaly_score(X))


def test_bfloat16_training_inside_a_callers_autocast_uses_fresh_weights():
    """The weights change every step: a cached bfloat16 copy kept alive by an
    enclosing autocast region would train on stale weights."""
    X = np.random.default_rng(0).normal(size=(400, 6))
    params = {"random_state": 0, "max_steps": 30, "precision": "bfloat16"}
    plain = AutoencoderDetector(**params).fit(X)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = AutoencoderDetector(**params).fit(X)
    assert inside.history_ == plain.history_


def test_unknown_precision_is_rejected():
    X = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(InvalidParameterError, match="'precision' parameter"):
        VAEDetector(precision="float16").fit(X)
    with pytest.raises(ValueError, match="precision must be one of"):
        train(
            build_network(_spec(False)),
            lambda *a, **k: torch.zeros(()),
            torch.zeros(4, 6),
            None,
            TrainConfig(precision="auto"),
            generator=torch.Generator(),
        )


@pytest.mark.parametrize(
    ("precision", "device", "native", "expected"),
    [
        ("auto", "cpu", True, "float32"),
        ("auto", "cuda", True, "bfloat16"),
        ("auto", "cuda", False, "float32"),
        ("float32", "cuda", True, "float32"),
        ("bfloat16", "cpu", False, "bfloat16"),
    ],
)
def test_auto_means_bfloat16_only_on_cuda_with_native_support(
    monkeypatch, precision, device, native, expected
):
    asked = []

    def is_bf16_supported(including_emulation=True):
        asked.append(including_emulation)
        return native

    monkeypatch.setattr(torch.cuda, "device", lambda device: nullcontext())
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    assert resolve_precision(precision, torch.device(device)) == expected
    # Emulated bfloat16 (pre-Ampere GPUs) is slower than float32: never "auto".
    assert all(flag is False for flag in asked)


def test_cuda_scoring_batches_grow_within_a_memory_budget(cardio):
    X, y = cardio
    cuda = torch.device("cuda")
    det = VAEDetector(random_state=0, max_steps=5).fit(X[y == 0])
    assert det._scoring_rows(torch.device("cpu")) == anomvae.devices.SCORING_BATCH
    assert det._scoring_rows(cuda) == anomvae.devices.CUDA_SCORING_BATCH
    # 32 Monte Carlo samples per row: back to the smallest CUDA batch, not fewer.
    det.set_params(score_type="iw_nll")
    assert det._scoring_rows(cuda) == anomvae.devices.CUDA_MIN_SCORING_BATCH == 8192


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_auto_on_cuda_trains_under_autocast_and_scores_in_float32(cardio, monkeypatch):
    if not anomvae.devices.native_bf16(torch.device("cuda")):
        pytest.skip("this GPU has no native bfloat16")
    X, y = cardio
    layer_dtypes: set[torch.dtype] = set()
    build = anomvae.base.build_network

    def recording_build(spec):
        net = build(spec)
        net.encoder_mlp[0].register_forward_hook(
            lambda m, i, o: layer_dtypes.add(o.dtype)
        )
        return net

    monkeypatch.setattr(anomvae.base, "build_network", recording_build)
    auto = VAEDetector(random_state=0, max_steps=150, device="cuda").fit(X[y == 0])
    assert auto.training_precision_ == "bfloat16"
    assert torch.bfloat16 in layer_dtypes
    layer_dtypes.clear()
    scores = auto.anomaly_score(X)
    # Scoring never autocasts: float32 on the GPU.
    assert layer_dtypes == {torch.float32}
    f32 = VAEDetector(
        random_state=0, max_steps=150, device="cuda", precision="float32"
    ).fit(X[y == 0])
    assert f32.training_precision_ == "float32"
    assert abs(roc_auc_score(y, scores) - roc_auc_score(y, f32.anomaly_score(X))) < 0.03
    # The bfloat16-trained model's GPU scores are its float64 CPU scores to float32
    # rounding, batch boundaries and pinned-memory copies included.
    rows = np.concatenate([X] * 40)  # > 65,536 rows: several CUDA batches
    gpu = auto.anomaly_score(rows)
    auto.network_ = auto.network_.to("cpu", torch.float64)
    ref = auto.latent_reference_
    auto.latent_reference_ = dataclasses.replace(
        ref, codes=ref.codes.to("cpu", torch.float64)
    )
    np.testing.assert_allclose(gpu, auto.anomaly_score(rows), rtol=1e-3, atol=1e-3)
