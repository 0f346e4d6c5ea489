"""The latent scores: k-NN distance against brute force, the hybrid score against
its definition, and the reference set kept at fit time."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from anomvae import AutoencoderDetector, VAEDetector
from anomvae.scoring import (
    HYBRID_LATENT_WEIGHT,
    HYBRID_SUPPORT_WEIGHT,
    latent_knn_distance,
)


def test_latent_knn_distance_matches_brute_force():
    rng = np.random.default_rng(0)
    codes, ref = rng.normal(size=(30, 4)), rng.normal(size=(50, 4))
    ours = latent_knn_distance(torch.tensor(codes), torch.tensor(ref), 5).numpy()
    brute = np.sort(np.linalg.norm(codes[:, None] - ref[None], axis=-1), axis=1)[:, 4]
    np.testing.assert_allclose(ours, brute, rtol=1e-10)
    # A code that is itself a reference: exclude_self skips the zero distance.
    own = latent_knn_distance(
        torch.tensor(ref), torch.tensor(ref), 1, exclude_self=True
    )
    brute_own = np.sort(np.linalg.norm(ref[:, None] - ref[None], axis=-1), axis=1)[:, 1]
    np.testing.assert_allclose(own.numpy(), brute_own, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("k", [1, 3, 8])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_grouped_float32_search_is_exact(k, dtype):
    # 4,096 codes: the search runs in float32 over 64 groups, keeping only the
    # groups with the nearest minima. Codes far from the origin, exact duplicates
    # (ties across groups) and rows scored in odd-sized batches must still give
    # the exact k-th distance of a brute-force sort.
    rng = np.random.default_rng(k)
    ref = rng.normal(loc=50.0, size=(4096, 10)) * rng.uniform(0.01, 2.0, size=10)
    ref[1000:1040] = ref[7]  # 41 copies of one code, spread over groups
    codes = np.concatenate(
        [ref[:200] + rng.normal(scale=1e-3, size=(200, 10)), ref[5:9], ref[:50] * 1.5]
    )
    # The brute force sees the same (possibly float32-rounded) values.
    ref, codes = (
        a.astype(np.dtype(str(dtype)[6:])).astype(float) for a in (ref, codes)
    )
    brute = np.sort(cdist(codes, ref), axis=1)
    ours = latent_knn_distance(torch.tensor(codes, dtype=dtype),
                               torch.tensor(ref, dtype=dtype), k)  # fmt: skip
    tol = 1e-12 if dtype == torch.float64 else 1e-4
    np.testing.assert_allclose(ours.double().numpy(), brute[:, k - 1], rtol=tol)
    own = latent_knn_distance(torch.tensor(ref, dtype=dtype),
                              torch.tensor(ref, dtype=dtype), k, exclude_self=True)  # fmt: skip
    brute_own = np.sort(cdist(ref, ref), axis=1)
    np.testing.assert_allclose(
        own.double().numpy(), brute_own[:, k], rtol=tol, atol=1e-12
    )
    # A row's distance does not depend on the batch it is scored in.
    t_codes, t_ref = torch.tensor(codes, dtype=dtype), torch.tensor(ref, dtype=dtype)
    alone = torch.cat([latent_knn_distance(t_codes[i : i + 37], t_ref, k)
                       for i in range(0, len(codes), 37)])  # fmt: skip
    assert torch.equal(alone, ours)


def test_latent_knn_distance_is_exact_for_near_neighbours():
    # Far from the origin, |z|^2 + |r|^2 - 2 z.r cancels to rounding noise
    # (~1e-12 here) for a close pair; the found neighbours' distances are
    # recomputed from their differences, so scoring a training row gives exactly
    # 0 and a row 1e-9 away gives 1e-9, in any batch.
    rng = np.random.default_rng(0)
    ref = torch.tensor(rng.normal(loc=1e3, size=(200, 5)))
    assert (latent_knn_distance(ref, ref, 1) == 0).all()
    near = ref[:7] + torch.tensor([1e-9, 0, 0, 0, 0], dtype=torch.float64)
    gap = (near - ref[:7]).norm(dim=1)  # 1e-9 up to the representation of 1e3
    np.testing.assert_allclose(latent_knn_distance(near, ref, 1), gap, rtol=1e-12)
    np.testing.assert_array_equal(
        latent_knn_distance(near[:3], ref, 1), latent_knn_distance(near, ref, 1)[:3]
    )


@pytest.mark.parametrize("cls", [AutoencoderDetector, VAEDetector])
def test_hybrid_is_the_sum_of_standardised_parts(cls):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6))
    det = cls(max_epochs=20, random_state=0).fit(X)
    ref = det.latent_reference_
    recon = det.set_params(score_type="reconstruction").anomaly_score(X)
    knn = det.set_params(score_type="latent_knn").anomaly_score(X)
    hybrid = det.set_params(score_type="hybrid").anomaly_score(X)
    assert ref.latent_weight == HYBRID_LATENT_WEIGHT == 2.0
    expected = (recon - ref.recon_center) / ref.recon_scale + 2.0 * (
        knn - ref.knn_center
    ) / ref.knn_scale
    np.testing.assert_allclose(hybrid, expected, rtol=1e-9, atol=1e-12)
    # With 300 rows every training code is a reference; scales are positive and
    # the training rows' hybrid scores are centred near 0 by construction.
    assert ref.codes.shape == (300, det.network_spec_.latent_dim)
    assert ref.recon_scale > 0
    assert ref.knn_scale > 0
    assert abs(np.median(hybrid)) < 1.0


@pytest.mark.parametrize("cls", [AutoencoderDetector, VAEDetector])
def test_hybrid_adds_a_fixed_amount_per_out_of_support_cell(cls, constant_columns):
    X, test = constant_columns
    det = cls(max_epochs=5, random_state=0).fit(X)
    ref = det.latent_reference_
    assert ref.support_columns.tolist() == [2, 4, 5]
    assert ref.support_weight == HYBRID_SUPPORT_WEIGHT == 3.0
    recon = det.set_params(score_type="reconstruction").anomaly_score(test)
    knn = det.set_params(score_type="latent_knn").anomaly_score(test)
    hybrid = det.set_params(score_type="hybrid").anomaly_score(test)
    off = np.tile([0, 1, 1, 3, 0, 1], 5)
    expected = (
        (recon - ref.recon_center) / ref.recon_scale
        + 2.0 * (knn - ref.knn_center) / ref.knn_scale
        + 3.0 * off
    )
    np.testing.assert_allclose(hybrid, expected, rtol=1e-9, atol=1e-9)
    # Training rows are never out of support, in any batch.
    for rows in (X, X[:7]):
        two_parts = (
            det.set_params(score_type="reconstruction").anomaly_score(rows)
            - ref.recon_center
        ) / ref.recon_scale + 2.0 * (
            det.set_params(score_type="latent_knn").anomaly_score(rows) - ref.knn_center
        ) / ref.knn_scale
        hybrid = det.set_params(score_type="hybrid").anomaly_score(rows)
        np.testing.assert_allclose(hybrid, two_parts, rtol=1e-9, atol=1e-9)


def test_reference_set_is_capped_and_scales_come_from_held_out_rows():
    X = np.random.default_rng(2).normal(size=(5000, 3))
    det = AutoencoderDetector(max_steps=30, random_state=0).fit(X)
    assert det.latent_reference_.codes.shape[0] == 4096


@pytest.mark.parametrize("cls", [AutoencoderDetector, VAEDetector])
def test_scores_do_not_depend_on_the_scoring_batch(cls, monkeypatch):
    # Scoring batches are a speed setting (cache-sized float64 layers): 8,192-
    # and 2,048-row batches score every row to the same bits. Small or odd-sized
    # batches may take other kernels of MKL's float64 matrix product (an edge
    # kernel for the last rows when the size is not a multiple of 4, a small-matrix
    # path): off by ~1e-16, well within scikit-learn's subset-invariance check.
    import anomvae.devices

    X = np.random.default_rng(4).normal(size=(1302, 5))
    det = cls(max_steps=20, random_state=0).fit(X)
    kinds = ["hybrid", "reconstruction", "latent_knn"]
    if cls is VAEDetector:
        kinds += ["elbo", "iw_nll", "recon_prob", "kl"]
    for kind in kinds:
        det.set_params(score_type=kind)
        scores = {}
        for rows in (8192, 2048, 36, 37):
            monkeypatch.setattr(anomvae.devices, "SCORING_BATCH", rows)
            scores[rows] = det.anomaly_score(X)
        assert np.array_equal(scores[8192], scores[2048]), kind
        for rows in (36, 37):
            np.testing.assert_allclose(
                scores[rows], scores[8192], rtol=1e-12, atol=1e-12
            )


def test_n_jobs_sets_torch_threads_for_fit_and_scoring(monkeypatch):
    from anomvae import runtime

    seen = []
    real = runtime.torch_threads

    def spy(threads):
        seen.append(threads)
        return real(threads)

    monkeypatch.setattr("anomvae.base.torch_threads", spy)
    X = np.random.default_rng(5).normal(size=(200, 4))
    det = AutoencoderDetector(max_steps=5, random_state=0).fit(X)
    assert seen == [1, 1]  # fit (its offset_ scored inside), then offset_ scoring
    seen.clear()
    det.set_params(n_jobs=-1).anomaly_score(X)
    assert seen == [runtime.available_cores()]
    with pytest.raises(ValueError, match="n_jobs"):
        AutoencoderDetector(n_jobs=0).fit(X)
    assert runtime.resolve_n_jobs(None) == runtime.DEFAULT_THREADS == 1
    assert runtime.resolve_n_jobs(-2) == max(1, runtime.available_cores() - 1)
