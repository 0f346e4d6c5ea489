"""The benchmark's protocol: no leakage, the same rows for every detector, score
orientation, and the rank / win-tie-loss arithmetic of the report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# `benchmarks` lives at the repository root, next to `tests`; plain `pytest`
# (unlike `python -m pytest`) does not put the root on sys.path.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.data import (  # noqa: E402
    DEFAULT_DATA_DIR,
    EMBEDDINGS_DATA_DIR,
    deduplicate,
    load_dataset,
    make_split,
    split_one_class,
)
from benchmarks.registry import anomaly_scores  # noqa: E402
from benchmarks.report import (  # noqa: E402
    embed_in_readme,
    mean_ranks,
    summarise,
    win_tie_loss,
)
from benchmarks.runner import (  # noqa: E402
    MissingDetectorError,
    auroc_ap,
    load_results,
    plan_detectors,
    run_benchmark,
)

# ---------------------------------------------------------------- fixtures


def _duplicated_dataset(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows drawn from few distinct vectors, so most rows are duplicates, with
    anomalies that partly share their vector with normal rows (label conflicts)."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 4, size=(600, 3)).astype(float)  # at most 64 vectors
    y = np.zeros(600, dtype=np.int64)
    y[rng.choice(600, size=20, replace=False)] = 1
    X_anom = np.full((10, 3), 9.0)  # a separate anomaly vector, 10 copies
    return np.vstack([X, X_anom]), np.concatenate([y, np.ones(10, dtype=np.int64)])


@pytest.fixture
def npz_dir(tmp_path: Path) -> Path:
    X, y = _duplicated_dataset()
    np.savez(tmp_path / "dups.npz", X=X, y=y)
    rng = np.random.default_rng(1)
    X2 = rng.normal(size=(200, 4))
    y2 = (rng.random(200) < 0.1).astype(np.int64)
    X2[y2 == 1] += 4.0
    np.savez(tmp_path / "gauss.npz", X=X2, y=y2)
    return tmp_path


def _rows(X: np.ndarray) -> set[tuple[float, ...]]:
    return {tuple(r) for r in X}


# ------------------------------------------------------------------ splitting


def test_deduplicate_keeps_one_row_per_vector_and_any_anomaly_wins() -> None:
    X = np.array([[1.0, 2.0], [1.0, 2.0], [3.0, 4.0], [-0.0, 1.0], [0.0, 1.0]])
    y = np.array([0, 1, 0, 0, 0])
    X_d, y_d = deduplicate(X, y)
    np.testing.assert_array_equal(X_d, [[1.0, 2.0], [3.0, 4.0], [0.0, 1.0]])
    np.testing.assert_array_equal(y_d, [1, 0, 0])


@pytest.mark.parametrize("seed", range(5))
def test_split_puts_no_test_row_in_training(npz_dir: Path, seed: int) -> None:
    dataset = load_dataset(npz_dir / "dups.npz")
    split = make_split(dataset, seed)
    assert not _rows(split.X_train) & _rows(split.X_test)
    assert len(np.unique(split.X_test, axis=0)) == len(split.X_test)
    # training rows are normal; the test set holds every anomaly vector
    assert (dataset.y[split.train_index] == 0).all()
    X_raw, y_raw = _duplicated_dataset()
    assert _rows(X_raw[y_raw == 1]) <= _rows(split.X_test[split.y_test == 1])
    n_normal = int((dataset.y == 0).sum())
    assert len(split.train_index) == n_normal // 2
    assert len(split.test_index) == len(dataset.y) - n_normal // 2


def test_split_is_deterministic_per_seed_and_differs_across_seeds() -> None:
    y = np.r_[np.zeros(100, dtype=int), np.ones(10, dtype=int)]
    train_a, test_a = split_one_class(y, seed=3)
    train_b, test_b = split_one_class(y, seed=3)
    np.testing.assert_array_equal(train_a, train_b)
    np.testing.assert_array_equal(test_a, test_b)
    trains = [frozenset(split_one_class(y, seed=s)[0]) for s in range(5)]
    assert len(set(trains)) == 5


def test_max_train_rows_cuts_only_the_training_half() -> None:
    y = np.r_[np.zeros(100, dtype=int), np.ones(10, dtype=int)]
    train, test = split_one_class(y, seed=0)
    train_cut, test_cut = split_one_class(y, seed=0, max_train_rows=20)
    np.testing.assert_array_equal(train_cut, train[:20])
    np.testing.assert_array_equal(test_cut, test)


@pytest.mark.skipif(
    not (DEFAULT_DATA_DIR / "breastw.npz").exists(),
    reason="shared ODDS datasets not available",
)
def test_real_duplicated_dataset_has_no_leakage() -> None:
    dataset = load_dataset(DEFAULT_DATA_DIR / "breastw.npz")  # 234 duplicate rows
    assert len(dataset.y) < dataset.n_published
    for seed in range(3):
        split = make_split(dataset, seed)
        assert not _rows(split.X_train) & _rows(split.X_test)


# ----------------------------------------------- every detector, same rows


CALLS: list[tuple[str, str, np.ndarray]] = []
WARM_UP_FEATURES = 8  # runner.warm_up's array; the test datasets have 3 or 4


def benchmark_calls() -> list[tuple[str, str, np.ndarray]]:
    """Recorded calls, without those of the runner's untimed warm-up."""
    return [c for c in CALLS if c[2].shape[1] != WARM_UP_FEATURES]


class Recorder(OutlierMixin, BaseEstimator):
    """Records every array it is given; scores rows by their first feature."""

    def __init__(self, tag: str = "", mutate: bool = False) -> None:
        self.tag = tag
        self.mutate = mutate

    def fit(self, X: np.ndarray, y: None = None) -> Recorder:
        CALLS.append((self.tag, "fit", np.array(X, copy=True)))
        if self.mutate:
            X[:] = 0.0  # a misbehaving detector must not affect the next one
        self.fitted_ = True
        return self

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        CALLS.append((self.tag, "score", np.array(X, copy=True)))
        scores = -np.asarray(X)[:, 0].copy()
        if self.mutate:
            X[:] = 0.0
        return scores


def test_every_detector_receives_identical_arrays(npz_dir: Path) -> None:
    CALLS.clear()
    registry = {
        "first": lambda: Recorder("first"),
        "mutant": lambda: Recorder("mutant", mutate=True),
        "scaled": lambda: make_pipeline(StandardScaler(), Recorder("scaled")),
        "last": lambda: Recorder("last"),
    }
    run_benchmark(
        [npz_dir / "dups.npz"],
        list(registry),
        [0, 1],
        npz_dir / "out",
        registry=registry,
        shared_fit={},
        log=lambda _: None,
    )
    dataset = load_dataset(npz_dir / "dups.npz")
    for seed in (0, 1):
        split = make_split(dataset, seed)
        seen = [c for c in benchmark_calls() if c[0] in ("first", "mutant", "last")]
        fits = [x for tag, kind, x in seen if kind == "fit"][seed * 3 : seed * 3 + 3]
        scores = [x for tag, kind, x in seen if kind == "score"][
            seed * 3 : seed * 3 + 3
        ]
        for X in fits:
            np.testing.assert_array_equal(X, split.X_train)
        for X in scores:
            np.testing.assert_array_equal(X, split.X_test)
    results = load_results(npz_dir / "out" / "results.csv")
    assert set(results["detector"]) == set(registry)
    assert (results["error"] == "").all()
    # the same rows give the same scores, so every column has the same AUROC
    assert results.groupby("seed")["auroc"].nunique().eq(1).all()


def test_resume_skips_finished_rows(npz_dir: Path) -> None:
    CALLS.clear()
    registry = {"a": lambda: Recorder("a"), "b": lambda: Recorder("b")}
    out = npz_dir / "out"
    kwargs = {"registry": registry, "shared_fit": {}, "log": lambda _: None}
    run_benchmark([npz_dir / "gauss.npz"], ["a"], [0, 1], out, **kwargs)
    n_calls = len(benchmark_calls())
    run_benchmark(
        [npz_dir / "gauss.npz"], ["a", "b"], [0, 1], out, resume=True, **kwargs
    )
    new = {tag for tag, _, _ in benchmark_calls()[n_calls:]}
    assert new == {"b"}
    assert len(load_results(out / "results.csv")) == 4


def test_unavailable_detectors_are_skipped() -> None:
    def missing() -> None:
        raise ImportError("no module named 'anomvae'")

    plan = plan_detectors(
        ["x", "y"],
        registry={"x": missing, "y": lambda: Recorder()},
        shared_fit={},
        log=lambda _: None,
    )
    assert plan.rows == ["y"]
    assert "x" in plan.skipped
    with pytest.raises(MissingDetectorError, match="x is unavailable"):
        plan_detectors(
            ["x", "y"],
            registry={"x": missing, "y": lambda: Recorder()},
            shared_fit={},
            required=["x"],
            log=lambda _: None,
        )


def test_scoring_variants_rescore_one_fit(npz_dir: Path) -> None:
    CALLS.clear()
    registry = {
        "base": lambda: Recorder("base"),
        "variant": lambda: Recorder("variant"),
        "same": lambda: Recorder("base"),
    }
    shared_fit = {"variant": "base", "same": "base"}
    plan = plan_detectors(
        list(registry), registry=registry, shared_fit=shared_fit, log=lambda _: None
    )
    assert plan.fits == {"base": [("base", None), ("variant", {"tag": "variant"})]}
    assert plan.skipped == {"same": "identical to base (its default)"}
    run_benchmark(
        [npz_dir / "gauss.npz"],
        ["base", "variant"],
        [0, 1],
        npz_dir / "out",
        registry=registry,
        shared_fit=shared_fit,
        log=lambda _: None,
    )
    assert [(tag, kind) for tag, kind, _ in benchmark_calls()] == 2 * [
        ("base", "fit"),
        ("base", "score"),
        ("variant", "score"),
    ]
    refit = plan_detectors(
        ["base", "variant"],
        registry=registry,
        shared_fit=shared_fit,
        refit_variants=True,
        log=lambda _: None,
    )
    assert refit.fits == {"base": [("base", None)], "variant": [("variant", None)]}


# ------------------------------------------------------- score orientation


class SklearnPerfect(OutlierMixin, BaseEstimator):
    """scikit-learn convention: score_samples is higher for normal rows."""

    def fit(self, X: np.ndarray, y: None = None) -> SklearnPerfect:
        self.fitted_ = True
        return self

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        return -np.asarray(X)[:, 0]


def _pyod_perfect() -> object:
    from pyod.models.base import BaseDetector

    class PyodPerfect(BaseDetector):
        """PyOD convention: decision_function is higher for anomalies."""

        def __init__(self) -> None:
            super().__init__(contamination=0.1)

        def fit(self, X: np.ndarray, y: None = None) -> PyodPerfect:
            self.decision_scores_ = self.decision_function(X)
            return self

        def decision_function(self, X: np.ndarray) -> np.ndarray:
            return np.asarray(X)[:, 0]

    return PyodPerfect()


@pytest.mark.parametrize(
    "make",
    [
        SklearnPerfect,
        _pyod_perfect,
        lambda: make_pipeline(StandardScaler(), SklearnPerfect()),
        lambda: make_pipeline(StandardScaler(), _pyod_perfect()),
    ],
    ids=["sklearn", "pyod", "sklearn-pipeline", "pyod-pipeline"],
)
def test_a_perfect_score_gets_auroc_one_through_the_adapter(make: Any) -> None:
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(50, dtype=int), np.ones(5, dtype=int)]
    X = np.c_[y + rng.uniform(0, 0.5, size=55), rng.normal(size=55)]
    estimator = make().fit(X[y == 0])
    auroc, ap = auroc_ap(y, anomaly_scores(estimator, X))
    assert auroc == 1.0
    assert ap == 1.0


def test_infinite_scores_rank_as_most_anomalous_and_nan_fails() -> None:
    y = np.array([0, 0, 1, 1])
    assert auroc_ap(y, np.array([0.0, 1.0, np.inf, np.inf]))[0] == 1.0
    assert auroc_ap(y, np.full(4, np.inf))[0] == 0.5
    with pytest.raises(ValueError, match="NaN"):
        auroc_ap(y, np.array([0.0, np.nan, 1.0, 2.0]))


# ----------------------------------------------------- ranks and W/T/L


@pytest.fixture
def hand_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "A": [0.90, 0.800, 0.70, 0.60],
            "B": [0.80, 0.803, 0.90, 0.60],
            "C": [0.70, 0.600, 0.70, 0.61],
        },
        index=["d1", "d2", "d3", "d4"],
    )


def test_mean_ranks_by_hand(hand_table: pd.DataFrame) -> None:
    # d1: A1 B2 C3; d2: B1 A2 C3; d3: B1, A and C tie on 2.5; d4: C1, A and B 2.5
    expected = {"A": 2.0, "B": 1.625, "C": 2.375}  # e.g. C: (3 + 3 + 2.5 + 1) / 4
    ranks = mean_ranks(hand_table)
    for name, value in expected.items():
        assert ranks[name] == pytest.approx(value)


def test_win_tie_loss_by_hand(hand_table: pd.DataFrame) -> None:
    # A - B: +0.10 win, -0.003 tie, -0.20 loss, 0.00 tie
    assert win_tie_loss(hand_table, "A", "B") == (1, 2, 1)
    # A - C: +0.20 win, +0.20 win, 0.00 tie, -0.01 loss
    assert win_tie_loss(hand_table, "A", "C") == (2, 1, 1)
    assert win_tie_loss(hand_table, "C", "A") == (1, 1, 2)


def _results_rows(table: pd.DataFrame, pct: float, dataset_suffix: str) -> list:
    rows = []
    for dataset, row in table.iterrows():
        for detector, auroc in row.items():
            for seed in (0, 1):
                rows.append(
                    {
                        "dataset": f"{dataset}{dataset_suffix}",
                        "seed": seed,
                        "detector": detector,
                        "auroc": auroc + (0.01 if seed else -0.01),
                        "ap": auroc / 2,
                        "fit_s": 1.0,
                        "score_s": 0.1,
                        "n_train": 100,
                        "n_test": 60,
                        "n_features": 3,
                        "anomaly_pct": pct,
                        "n_test_anomalies": 10,
                        "error": "",
                        "note": "",
                    }
                )
    return rows


def test_summary_separates_high_contamination_and_incomplete(
    hand_table: pd.DataFrame,
) -> None:
    rows = _results_rows(hand_table, 5.0, "") + _results_rows(
        hand_table.iloc[:1], 40.0, "_high"
    )
    rows.append({**rows[0], "dataset": "broken", "detector": "A"})
    rows.append({**rows[0], "dataset": "broken", "detector": "B"})
    rows.append({**rows[0], "dataset": "broken", "detector": "C", "error": "boom"})
    results = pd.DataFrame(rows)
    summary = summarise(results, anomvae_names=["A"])
    assert summary.headline == ["d1", "d2", "d3", "d4"]
    assert summary.high == ["d1_high"]
    assert summary.incomplete == {"broken": ["C"]}
    assert summary.detectors == ["B", "A", "C"]  # by headline mean rank
    assert summary.anomvae == ["A"]
    assert summary.auroc.at["d1", "A"] == pytest.approx(0.90)
    assert summary.auroc_std.at["d1", "A"] == pytest.approx(
        np.std([0.89, 0.91], ddof=1)
    )


def test_embed_in_readme_replaces_only_the_marked_section(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "intro\n<!-- benchmarks:start -->\nold\n<!-- benchmarks:end -->\noutro\n"
    )
    section = tmp_path / "section.md"
    section.write_text("new table\n")
    embed_in_readme(readme, section)
    assert readme.read_text() == (
        "intro\n<!-- benchmarks:start -->\nnew table\n<!-- benchmarks:end -->\noutro\n"
    )


# ------------------------------------------------------------------- CLI


def test_cli_runs_and_writes_every_output(npz_dir: Path) -> None:
    from typer.testing import CliRunner

    from benchmarks.cli import app

    out = npz_dir / "cli-out"
    result = CliRunner().invoke(
        app,
        [
            "--data",
            str(npz_dir),
            "--detectors",
            "iforest,ecod",
            "--seeds",
            "2",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    for name in ("results.csv", "summary.md", "auroc.png", "readme_section.md"):
        assert (out / name).exists()
    results = load_results(out / "results.csv")
    assert len(results) == 2 * 2 * 2  # datasets x seeds x detectors
    assert "tie = |ΔAUROC| < 0.005" in (out / "summary.md").read_text()


def test_cli_rejects_unknown_names(npz_dir: Path) -> None:
    from typer.testing import CliRunner

    from benchmarks.cli import app

    runner = CliRunner()
    bad_detector = runner.invoke(app, ["--data", str(npz_dir), "--detectors", "nope"])
    assert bad_detector.exit_code == 2
    bad_dataset = runner.invoke(app, ["--data", str(npz_dir), "--datasets", "nope"])
    assert bad_dataset.exit_code == 2


def test_cli_heldout_runs_only_the_heldout_datasets(npz_dir: Path) -> None:
    """``--heldout`` picks the held-out suite's files (here ``wine``) and skips
    the quick suite's (``cardio``) and any other file."""
    from typer.testing import CliRunner

    from benchmarks.cli import app

    (npz_dir / "gauss.npz").rename(npz_dir / "wine.npz")
    (npz_dir / "dups.npz").rename(npz_dir / "cardio.npz")
    out = npz_dir / "heldout-out"
    args = ["--data", str(npz_dir), "--detectors", "ecod", "--out", str(out), "-q"]
    result = CliRunner().invoke(app, [*args, "--heldout"])
    assert result.exit_code == 0, result.output
    results = load_results(out / "results.csv")
    assert set(results.dataset) == {"wine"}
    assert sorted(results.seed.unique()) == [0, 1, 2]
    assert "held-out suite" in (out / "summary.md").read_text()
    for clash in (["--quick"], ["--datasets", "wine"]):
        refused = CliRunner().invoke(app, [*args, "--heldout", *clash])
        assert refused.exit_code == 2
        assert "--heldout" in refused.output


def test_heldout_suite_is_disjoint_from_the_quick_suite() -> None:
    from benchmarks.data import HELDOUT_SUITE, QUICK_SUITE

    assert len(set(HELDOUT_SUITE)) == len(HELDOUT_SUITE)
    assert not set(HELDOUT_SUITE) & set(QUICK_SUITE)


@pytest.mark.skipif(not DEFAULT_DATA_DIR.is_dir(), reason="no ../shared datasets")
def test_heldout_suite_leaves_out_only_the_largest_datasets() -> None:
    """Every dataset of the shared folder is in one of the two suites unless it
    has over 90,000 rows, as the held-out suite's comment says."""
    from benchmarks.data import HELDOUT_SUITE, QUICK_SUITE

    sizes = {
        p.stem: int(np.load(p)["y"].shape[0]) for p in DEFAULT_DATA_DIR.glob("*.npz")
    }
    assert set(HELDOUT_SUITE) <= set(sizes)
    left_out = set(sizes) - set(HELDOUT_SUITE) - set(QUICK_SUITE)
    assert left_out == {name for name, n in sizes.items() if n > 90_000}


def test_embeddings_suite_is_disjoint_from_the_other_suites() -> None:
    from benchmarks.data import (
        EMBEDDINGS_DATA_DIR,
        EMBEDDINGS_SUITE,
        HELDOUT_SUITE,
        QUICK_SUITE,
        SUITE_DATA_DIRS,
        SUITES,
    )

    assert SUITES["embeddings"] == EMBEDDINGS_SUITE
    assert len(set(EMBEDDINGS_SUITE)) == len(EMBEDDINGS_SUITE) == 19
    assert not set(EMBEDDINGS_SUITE) & (set(QUICK_SUITE) | set(HELDOUT_SUITE))
    assert SUITE_DATA_DIRS["embeddings"] == EMBEDDINGS_DATA_DIR != DEFAULT_DATA_DIR


@pytest.mark.skipif(
    not EMBEDDINGS_DATA_DIR.is_dir(), reason="no ../shared embedding datasets"
)
def test_embeddings_suite_is_every_file_of_its_folder() -> None:
    """Every .npz of the folder (and of its index.json) is in the suite, none of
    them is a file of the ODDS folder, and the three sets the suite's comment
    puts last are exactly those with over 30 % anomalies after deduplication."""
    import hashlib
    import json

    from benchmarks.data import EMBEDDINGS_SUITE

    files = sorted(EMBEDDINGS_DATA_DIR.glob("*.npz"))
    assert {p.stem for p in files} == set(EMBEDDINGS_SUITE)
    index = json.loads((EMBEDDINGS_DATA_DIR / "index.json").read_text())
    assert {entry["name"] for entry in index} == set(EMBEDDINGS_SUITE)
    if DEFAULT_DATA_DIR.is_dir():
        odds = {
            hashlib.sha256(p.read_bytes()).digest()
            for p in DEFAULT_DATA_DIR.glob("*.npz")
        }
        assert not odds & {hashlib.sha256(p.read_bytes()).digest() for p in files}
    high = {p.stem for p in files if load_dataset(p).high_contamination}
    assert high == set(EMBEDDINGS_SUITE[-3:])


def test_cli_embeddings_runs_only_the_embedding_sets(
    npz_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--embeddings`` reads its own folder unless ``--data`` says otherwise,
    picks the suite's files and refuses the other suite options."""
    from typer.testing import CliRunner

    from benchmarks import cli
    from benchmarks.cli import app

    (npz_dir / "gauss.npz").rename(npz_dir / "20news_3_bert.npz")
    (npz_dir / "dups.npz").rename(npz_dir / "cardio.npz")
    monkeypatch.setattr(cli, "EMBEDDINGS_DATA_DIR", npz_dir)
    out = npz_dir / "embeddings-out"
    args = ["--detectors", "ecod", "--out", str(out), "-q"]
    result = CliRunner().invoke(app, [*args, "--embeddings"])
    assert result.exit_code == 0, result.output
    assert "warning: suite datasets missing" in result.output
    results = load_results(out / "results.csv")
    assert set(results.dataset) == {"20news_3_bert"}
    assert sorted(results.seed.unique()) == [0, 1, 2]
    assert "embeddings suite" in (out / "summary.md").read_text()
    meta = (out / "run.json").read_text()
    assert f'"data_dir": "{npz_dir}"' in meta
    assert '"max_train_rows": 10000' in meta
    for clash in (["--quick"], ["--datasets", "cardio"], ["--heldout"]):
        refused = CliRunner().invoke(app, [*args, "--embeddings", *clash])
        assert refused.exit_code == 2
        assert "drop" in refused.output


def test_sweeps_find_the_embeddings_suite_in_its_own_folder() -> None:
    import argparse

    from benchmarks import sweeps
    from benchmarks.data import EMBEDDINGS_DATA_DIR

    args = sweeps.parse_args(argparse.ArgumentParser(), ["--suite", "embeddings"])
    assert args.data == EMBEDDINGS_DATA_DIR
    assert args.out == Path("benchmarks/results/embeddings")
    heldout = sweeps.parse_args(argparse.ArgumentParser(), ["--suite", "heldout"])
    assert heldout.data == DEFAULT_DATA_DIR


# ------------------------------------------------ anomvae's scoring variants


def test_vae_score_variants_share_one_fit() -> None:
    """The runner rescores one VAEDetector fit for every ``score=``: that must
    equal fitting VAEDetector(score=...) itself."""
    anomvae = pytest.importorskip("anomvae")
    if not hasattr(anomvae, "VAEDetector"):
        pytest.skip("anomvae.VAEDetector not available yet")
    X = np.random.default_rng(0).normal(size=(120, 4))
    params = {"max_epochs": 2, "random_state": 0, "n_score_samples": 4}
    names = anomvae.VAEDetector().get_params()
    key = "score_type" if "score_type" in names else "score"
    shared = anomvae.VAEDetector(**params).fit(X)
    for score in ("reconstruction", "iw_nll", "kl", "recon_prob"):
        own = anomvae.VAEDetector(**{key: score}, **params).fit(X)
        shared.set_params(**{key: score})
        np.testing.assert_allclose(shared.score_samples(X), own.score_samples(X))


def test_speed_reports_fastest_repeat_as_ratios(npz_dir: Path) -> None:
    from benchmarks.speed import SpeedCase, run_speed

    registry = {
        name: (lambda: SklearnPerfect())
        for name in ("vae", "pyod_vae", "ae", "pyod_ae")
    }
    md = run_speed(
        npz_dir,
        npz_dir / "speed",
        [SpeedCase("small", "gauss", 50)],
        repeats=2,
        registry=registry,
        log=lambda _: None,
    )
    speed = pd.read_csv(npz_dir / "speed" / "speed.csv")
    assert len(speed) == 2 * 4
    assert (speed["n_rows"] == 50).all()
    assert "| small (gauss) | 50 × 4 |" in md.read_text()


def test_hybrid_sweep_table_averages_seeds_then_datasets() -> None:
    from benchmarks.sweep_hybrid import table

    rows = [
        # dataset a: seeds average to 0.8 (k=1, w=1); dataset b: 0.6 -> mean 0.7
        ("a", 0, 1, 1.0, 0.7), ("a", 1, 1, 1.0, 0.9), ("b", 0, 1, 1.0, 0.6),
        ("b", 1, 1, 1.0, 0.6), ("a", 0, 1, 2.0, 1.0), ("a", 1, 1, 2.0, 1.0),
        ("b", 0, 1, 2.0, 0.5), ("b", 1, 1, 2.0, 0.5),
    ]  # fmt: skip
    results = pd.DataFrame(
        rows, columns=["dataset", "seed", "k", "latent_weight", "auroc"]
    )
    text = table(results)
    assert "over 2 low-contamination quick datasets (2 seeds each)" in text
    assert "| k \\ weight | 1 | 2 |" in text
    assert "| 1 | 0.7000 | 0.7500 |" in text


def test_reference_sweep_table_averages_seeds_then_datasets() -> None:
    from benchmarks.sweep_hybrid import reference_table

    rows = [
        # 4096 codes: a -> 0.9, b -> 0.7 (mean 0.8); 256 codes: a -> 0.8, b -> 0.5
        ("a", 0, 4096, 0.8), ("a", 1, 4096, 1.0), ("b", 0, 4096, 0.7),
        ("b", 1, 4096, 0.7), ("a", 0, 256, 0.8), ("a", 1, 256, 0.8),
        ("b", 0, 256, 0.4), ("b", 1, 256, 0.6),
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["dataset", "seed", "reference_size", "auroc"])
    # The same numbers for k-means centroids and (0.1 lower) for random codes.
    results = pd.concat(
        [
            frame.assign(method="kmeans"),
            frame.assign(method="random", auroc=frame.auroc - 0.1),
        ]
    )
    text = reference_table(results)
    assert "over 2 low-contamination quick datasets (2 seeds each)" in text
    # Largest reference first, one line per size, one column per method.
    assert text.index("| 4,096 | 0.8000 | 0.7000 |") < text.index(
        "| 256 | 0.6500 | 0.5500 |"
    )


def test_support_sweep_table_lists_weights_and_the_sets_they_touch() -> None:
    from benchmarks.sweep_hybrid import support_table

    rows = [
        # a has 2 constant features: 0.7 / 0.9 by weight; b has none: 0.8 / 0.8
        ("a", 0, 0.0, 2, 0.6), ("a", 1, 0.0, 2, 0.8), ("a", 0, 3.0, 2, 0.9),
        ("a", 1, 3.0, 2, 0.9), ("b", 0, 0.0, 0, 0.8), ("b", 0, 3.0, 0, 0.8),
    ]  # fmt: skip
    columns = ["dataset", "seed", "support_weight", "constant_features", "auroc"]
    text = support_table(pd.DataFrame(rows, columns=columns))
    assert "over 2 low-contamination quick datasets (2 seeds each)" in text
    assert "| 3.0 | 0.8500 |\n| 0.0 | 0.7500 |" in text
    assert "| a | 2 | 0.7000 | 0.9000 |" in text
    assert "| b |" not in text  # no constant feature: not listed


def test_noise_sweep_table_lists_every_level() -> None:
    from benchmarks.sweep_noise import table

    rows = [
        ("a", 0, 0.2, 0.8), ("a", 1, 0.2, 0.6), ("b", 0, 0.2, 0.9),
        ("a", 0, 0.3, 0.9), ("a", 1, 0.3, 0.9), ("b", 0, 0.3, 0.8),
    ]  # fmt: skip
    results = pd.DataFrame(rows, columns=["dataset", "seed", "noise_level", "auroc"])
    text = table(results)
    assert "over 2 low-contamination quick datasets (2 seeds each)" in text
    # seeds first (a: 0.7 at 0.2, 0.9 at 0.3), then datasets; highest level first
    assert "| 0.3 | 0.8500 |\n| 0.2 | 0.8000 |" in text


def test_training_sweep_table_by_suite_and_the_sets_whose_length_changed() -> None:
    from benchmarks.sweep_training import table

    rows = [
        # quick set q stops early at patience 20 (40 steps) and not when off;
        # held-out set h reaches the step budget either way.
        ("quick", "q", 0, 90, "20", 40, 0.6), ("quick", "q", 1, 90, "20", 60, 0.8),
        ("quick", "q", 0, 90, "off", 500, 0.9), ("quick", "q", 1, 90, "off", 500, 0.9),
        ("heldout", "h", 0, 5000, "20", 1000, 0.7),
        ("heldout", "h", 0, 5000, "off", 1000, 0.7),
    ]  # fmt: skip
    columns = ["suite", "dataset", "seed", "n_train", "patience", "n_steps", "auroc"]
    text = table(pd.DataFrame(rows, columns=columns))
    assert "| patience | quick (1 sets) | heldout (1 sets) | all (2 sets) |" in text
    # seeds first (q: 0.7 at 20), then datasets (all: (0.7 + 0.7) / 2)
    assert "| 20 | 0.7000 | 0.7000 | 0.7000 |" in text
    assert "| off | 0.9000 | 0.7000 | 0.8000 |" in text
    assert "| quick | q | 90 | 50 | 500 | 0.7000 | 0.9000 |" in text
    assert "| heldout | h |" not in text  # same length both ways: not listed


def test_sweeps_take_the_heldout_suite_and_write_beside_its_results() -> None:
    import argparse

    from benchmarks import sweeps
    from benchmarks.data import HELDOUT_SUITE, SUITES
    from benchmarks.sweep_noise import table

    args = sweeps.parse_args(argparse.ArgumentParser(), ["--suite", "heldout"])
    assert SUITES[args.suite] == HELDOUT_SUITE
    assert args.out == Path("benchmarks/results/heldout")
    quick = sweeps.parse_args(argparse.ArgumentParser(), [])
    assert (quick.suite, quick.out) == ("quick", Path("benchmarks/results"))
    assert not hasattr(
        sweeps.parse_args(argparse.ArgumentParser(), [], suite=False), "suite"
    )
    rows = [("a", 0, 0.2, 0.8), ("a", 0, 0.3, 0.9)]
    results = pd.DataFrame(rows, columns=["dataset", "seed", "noise_level", "auroc"])
    assert "over 1 low-contamination held-out datasets" in table(
        results, suite="heldout"
    )
