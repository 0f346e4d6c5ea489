"""The defaults sweep's arithmetic: candidates from cached components, ranks
against a committed table, and the choice on one suite."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.defaults_report import choose, standing
from benchmarks.report import summarise
from benchmarks.sweep_defaults import CANDIDATES, candidate_scores


def _arrays(n_train: float = 100.0, d: float = 10.0) -> dict[str, object]:
    rng = np.random.default_rng(0)
    arrays: dict[str, object] = {"n_train": n_train, "d": d, "binary_share": 0.0}
    for name in ("ae_recon", "ae_latent", "input_1"):
        arrays[f"train:{name}"] = rng.gamma(2.0, size=50)
        arrays[f"test:{name}"] = rng.gamma(2.0, size=8)
    arrays["test:support"] = np.array([0, 1, 0, 2, 0, 0, 0, 0], dtype=float)
    return arrays


def _z(arrays, name):
    q1, median, q3 = np.percentile(arrays[f"train:{name}"], [25, 50, 75])
    return (arrays[f"test:{name}"] - median) / (q3 - q1)


def test_candidates_are_weighted_sums_on_robust_training_scales():
    arrays = _arrays()
    names = ["ae: recon + 2·latent + 2·input_1", "ae: recon (no support)"]
    scores = candidate_scores(arrays, [c for c in CANDIDATES if c.name in names])
    expected = (
        _z(arrays, "ae_recon")
        + 2 * _z(arrays, "ae_latent")
        + 2 * _z(arrays, "input_1")
        + 3 * arrays["test:support"]
    )
    np.testing.assert_allclose(scores[names[0]], expected)
    np.testing.assert_allclose(scores[names[1]], _z(arrays, "ae_recon"))


def test_a_rule_reads_the_training_rows_width():
    name = "ae: recon + 2·latent; recon + 2·input_1 if n < 1·d"
    (rule,) = [c for c in CANDIDATES if c.name == name]
    small = candidate_scores(_arrays(n_train=5.0), [rule])[name]
    large = candidate_scores(_arrays(n_train=50.0), [rule])[name]
    arrays = _arrays()
    support = 3 * arrays["test:support"]
    np.testing.assert_allclose(
        small, _z(arrays, "ae_recon") + 2 * _z(arrays, "input_1") + support
    )
    np.testing.assert_allclose(
        large, _z(arrays, "ae_recon") + 2 * _z(arrays, "ae_latent") + support
    )


def _summary():
    rows = [
        {"dataset": d, "seed": 0, "detector": det, "auroc": auc, "ap": auc / 2,
         "fit_s": 1.0, "score_s": 0.1, "n_train": 10, "n_test": 10,
         "n_features": 3, "anomaly_pct": 5.0, "n_test_anomalies": 1,
         "error": "", "note": ""}
        for d, values in {"a": (0.9, 0.8, 0.7), "b": (0.6, 0.7, 0.8)}.items()
        for det, auc in zip(("knn", "vae", "ae"), values, strict=True)
    ]  # fmt: skip
    return summarise(pd.DataFrame(rows))


def test_standing_ranks_the_candidate_among_the_committed_detectors():
    auroc = pd.Series({"a": 0.95, "b": 0.75})
    st = standing(_summary(), auroc, auroc / 2)
    # a: 1st of 4; b: 2nd (ae 0.8 above it). knn drops to 2nd / 4th.
    assert st.rank == pytest.approx(1.5)
    assert st.best_other == "ae"  # ae: 4th and 1st -> 2.5; knn: 2nd and 4th -> 3
    assert st.best_other_rank == pytest.approx(2.5)
    assert st.wtl == (2, 0, 0)
    assert st.delta == pytest.approx(0.85 - 0.75)
    assert st.best_rank
    assert st.meets


def test_the_choice_is_the_best_mean_rank_on_the_choosing_suite_alone():
    first, second = CANDIDATES[0].name, CANDIDATES[1].name
    table = pd.DataFrame(
        [
            {"suite": "quick", "candidate": first, "rank": 3.0, "auroc": 0.9},
            {"suite": "quick", "candidate": second, "rank": 2.0, "auroc": 0.8},
            {"suite": "heldout", "candidate": first, "rank": 1.0, "auroc": 0.9},
            {"suite": "heldout", "candidate": second, "rank": 9.0, "auroc": 0.5},
        ]
    )
    family = CANDIDATES[0].family
    assert choose(table, "quick", (family,)) == second
    assert choose(table, "heldout", (family,)) == first
