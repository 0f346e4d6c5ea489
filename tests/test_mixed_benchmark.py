"""The mixed-table benchmark: the loader's dtypes, deduplication with blanks, the
one-class split, the same rows for every detector of a view, preprocessing fitted
on training rows only, the report's own tables and the CSV generator."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, OutlierMixin

# `benchmarks` lives at the repository root, next to `tests`.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.mixed.data import (  # noqa: E402
    MIXED_DATA_DIR,
    MIXED_SUITE,
    deduplicate_frame,
    load_mixed,
    load_mixed_dataset,
    make_mixed_split,
    read_schema,
)
from benchmarks.mixed.registry import MixedDetector  # noqa: E402
from benchmarks.mixed.report import (  # noqa: E402
    drop_categories_table,
    fit_time_table,
)
from benchmarks.mixed.runner import run_mixed  # noqa: E402
from benchmarks.mixed.views import (  # noqa: E402
    ViewUnavailableError,
    make_views,
    onehot_preprocessor,
)
from benchmarks.runner import load_results  # noqa: E402

KINDS = {
    "amount": "numeric",
    "code": "categorical",
    "colour": "categorical",
    "flag": "binary",
    "active": "boolean",
}

CSV = """\
amount,code,colour,flag,active,label
1.5,007,red,0,true,0
,1,blue,1,false,0
2.0,007,,0,,0
1.5,007,red,0,true,1
-0.0,NA,red,,true,0
0.0,NA,red,,true,0
,1,blue,1,false,0
9.0,99,green,1,false,1
"""


def _write_table(folder: Path, name: str, csv: str, kinds: dict[str, str]) -> None:
    (folder / f"{name}.csv").write_text(csv)
    schema_path = folder / "schema.json"
    schema = json.loads(schema_path.read_text()) if schema_path.exists() else {}
    schema[name] = {"columns": [{"name": c, "kind": k} for c, k in kinds.items()]}
    schema_path.write_text(json.dumps(schema))
    read_schema.cache_clear()


@pytest.fixture
def mixed_dir(tmp_path: Path) -> Path:
    """``tiny``: the hand-made table above; ``synth``: 300 random rows with blanks
    and a level that occurs only among the anomalies; ``cats``: no numeric
    column."""
    _write_table(tmp_path, "tiny", CSV, KINDS)
    rng = np.random.default_rng(0)
    n = 300
    y = (rng.random(n) < 0.1).astype(int)
    frame = pd.DataFrame(
        {
            "amount": np.round(rng.normal(size=n) + 3 * y, 3),
            "code": rng.choice(["01", "02", "03"], size=n),
            "colour": rng.choice(["red", "blue"], size=n),
            "flag": rng.integers(0, 2, size=n).astype(str),
            "active": rng.choice(["true", "false"], size=n),
        }
    )
    frame.loc[y == 1, "code"] = "99"
    frame.loc[rng.random(n) < 0.1, "amount"] = np.nan
    frame.loc[rng.random(n) < 0.1, "colour"] = ""
    frame["label"] = y
    _write_table(tmp_path, "synth", frame.to_csv(index=False), KINDS)
    cats = frame.drop(columns=["amount"])
    kinds = {k: v for k, v in KINDS.items() if k != "amount"}
    _write_table(tmp_path, "cats", cats.to_csv(index=False), kinds)
    return tmp_path


# ------------------------------------------------------------------ loader


def test_loader_keeps_digit_codes_as_strings_and_blanks_as_missing(
    mixed_dir: Path,
) -> None:
    frame, y = load_mixed("tiny", mixed_dir)
    assert frame.dtypes["amount"] == np.float64
    assert isinstance(frame.dtypes["code"], pd.StringDtype)
    assert isinstance(frame.dtypes["colour"], pd.StringDtype)
    assert frame.dtypes["flag"] == "boolean"
    assert frame.dtypes["active"] == "boolean"
    assert frame["code"].tolist()[:3] == ["007", "1", "007"]  # not 7, 1, 7
    assert frame["code"].iloc[4] == "NA"  # a category, not a blank
    assert np.isnan(frame["amount"].iloc[1])
    assert frame["colour"].isna().tolist() == [0, 0, 1, 0, 0, 0, 0, 0]
    assert frame["flag"].isna().sum() == 2
    assert not frame["active"].iloc[1]
    assert frame.attrs["kinds"] == KINDS
    np.testing.assert_array_equal(y, [0, 0, 0, 1, 0, 0, 0, 1])
    assert y.dtype == np.int64


def test_loader_rejects_a_flag_that_is_not_a_flag(tmp_path: Path) -> None:
    _write_table(tmp_path, "bad", "flag,label\n0,0\n2,1\n", {"flag": "binary"})
    with pytest.raises(ValueError, match="flag holds"):
        load_mixed("bad", tmp_path)
    _write_table(tmp_path, "moved", "a,b,label\n1,2,0\n", {"b": "numeric"})
    with pytest.raises(ValueError, match="columns differ"):
        load_mixed("moved", tmp_path)


@pytest.mark.skipif(
    not (MIXED_DATA_DIR / "schema.json").exists(),
    reason="shared mixed datasets not available",
)
def test_real_tables_load_with_their_schema() -> None:
    read_schema.cache_clear()
    schema = read_schema(MIXED_DATA_DIR)
    assert set(schema) == set(MIXED_SUITE)
    frame, y = load_mixed("cmc")
    assert frame["Wifes_education"].isin(["1", "2", "3", "4"]).all()
    assert len(frame) == schema["cmc"]["n_rows"]
    assert int(y.sum()) == schema["cmc"]["n_anomalies"]
    frame, _ = load_mixed("thyroid0387")
    for column in schema["thyroid0387"]["columns"]:
        assert frame[column["name"]].isna().sum() == column["n_missing"]


# ------------------------------------------------------- dedup and split


def test_deduplicate_frame_treats_blanks_as_values_and_any_anomaly_wins(
    mixed_dir: Path,
) -> None:
    frame, y = load_mixed("tiny", mixed_dir)
    keep, label = deduplicate_frame(frame, y)
    # rows 3 (= 0, an anomaly), 5 (= 4: -0.0 == 0.0) and 6 (= 1, blanks in the
    # same cells) are copies
    np.testing.assert_array_equal(keep, [0, 1, 2, 4, 7])
    np.testing.assert_array_equal(label, [1, 0, 0, 0, 1])
    dataset = load_mixed_dataset("tiny", mixed_dir)
    assert len(dataset.frame) == 5
    assert dataset.n_published == 8
    assert dataset.frame.dtypes.equals(frame.dtypes)


def _row_set(frame: pd.DataFrame) -> set[tuple[Any, ...]]:
    return {
        tuple("<blank>" if pd.isna(v) else v for v in row)
        for row in frame.itertuples(index=False)
    }


@pytest.mark.parametrize("seed", range(3))
def test_mixed_split_is_disjoint_and_holds_every_anomaly(
    mixed_dir: Path, seed: int
) -> None:
    dataset = load_mixed_dataset("synth", mixed_dir)
    split = make_mixed_split(dataset, seed)
    assert not _row_set(split.X_train) & _row_set(split.X_test)
    assert (dataset.y[split.train_index] == 0).all()
    assert split.y_test.sum() == dataset.y.sum()
    n_normal = int((dataset.y == 0).sum())
    assert len(split.X_train) == n_normal // 2
    assert len(split.X_test) == len(dataset.y) - n_normal // 2
    cut = make_mixed_split(dataset, seed, max_train_rows=10)
    pd.testing.assert_frame_equal(cut.X_train, split.X_train.iloc[:10])
    pd.testing.assert_frame_equal(cut.X_test, split.X_test)


# ------------------------------------------------------------ the views


def test_onehot_view_is_fitted_on_training_rows_only() -> None:
    kinds = {"x": "numeric", "z": "numeric", "c": "categorical", "b": "boolean"}
    train = pd.DataFrame(
        {
            "x": [1.0, 2.0, 3.0, np.nan],
            "z": [5.0, 5.0, 7.0, 7.0],
            "c": pd.array(["a", "b", None, "a"], dtype="string"),
            "b": pd.array([True, False, True, True], dtype="boolean"),
        }
    )
    test = pd.DataFrame(
        {
            "x": [np.nan, 4.0],
            "z": [np.nan, 6.0],
            "c": pd.array(["new", None], dtype="string"),
            "b": pd.array([None, False], dtype="boolean"),
        }
    )
    pre = onehot_preprocessor(kinds).fit(train)
    names = list(pre.get_feature_names_out())
    # x and z standardised, one indicator (only x has blanks in training), levels
    # of c: a, b, blank; of b: False, True (no blank level: none in training)
    assert names == [
        "numeric__x", "numeric__z", "missing__missingindicator_x",
        "levels__c_a", "levels__c_b", "levels__c_nan",
        "levels__b_False", "levels__b_True",
    ]  # fmt: skip
    out = pre.transform(test)
    x_scaled = (np.array([2.0, 4.0]) - 2.0) / np.std([1.0, 2.0, 3.0, 2.0])
    np.testing.assert_allclose(out[:, 0], x_scaled)  # median 2 from training rows
    np.testing.assert_allclose(out[:, 1], [0.0, 0.0])  # median 6 = mean 6
    np.testing.assert_array_equal(out[:, 2], [1, 0])
    np.testing.assert_array_equal(out[0, 3:6], [0, 0, 0])  # unseen level "new"
    np.testing.assert_array_equal(out[1, 3:6], [0, 0, 1])  # blank: its own level
    np.testing.assert_array_equal(out[:, 6:], [[0, 0], [1, 0]])  # unseen blank


def test_numeric_view_drops_other_columns_and_needs_a_numeric_one(
    mixed_dir: Path,
) -> None:
    dataset = load_mixed_dataset("synth", mixed_dir)
    split = make_mixed_split(dataset, 0)
    views = make_views(split, dataset.kinds, {"numeric", "onehot", "frame"})
    assert views["numeric"].n_features == 1
    assert views["onehot"].n_features == 1 + 1 + 3 + 3 + 2 + 2  # no "99" in train
    assert views["frame"].X_train is split.X_train
    cats = load_mixed_dataset("cats", mixed_dir)
    no_numeric = make_views(make_mixed_split(cats, 0), cats.kinds, {"numeric"})
    assert isinstance(no_numeric["numeric"], ViewUnavailableError)


# ------------------------------------------- every detector, same rows


CALLS: list[tuple[str, str, Any]] = []


class Recorder(OutlierMixin, BaseEstimator):
    """Records what it is given (arrays or frames); scores by the row sum of its
    numeric view, and mutates its input when told."""

    def __init__(self, tag: str = "", mutate: bool = False) -> None:
        self.tag = tag
        self.mutate = mutate

    def _record(self, kind: str, X: Any) -> None:
        CALLS.append((self.tag, kind, X.copy()))
        if self.mutate:
            if isinstance(X, pd.DataFrame):
                X.iloc[:, :] = X.iloc[0].to_numpy()
            else:
                X[:] = 0.0

    def fit(self, X: Any, y: None = None) -> Recorder:
        self._record("fit", X)
        self.fitted_ = True
        return self

    def score_samples(self, X: Any) -> np.ndarray:
        scores = -np.arange(len(X), dtype=float)
        self._record("score", X)
        return scores


def _recording_registry() -> dict[str, MixedDetector]:
    def entry(tag: str, view: str, mutate: bool = False) -> MixedDetector:
        return MixedDetector(lambda: Recorder(tag, mutate), view, tag)

    return {
        "a": entry("a", "onehot", mutate=True),
        "b": entry("b", "onehot"),
        "n": entry("n", "numeric"),
        "f1": entry("f1", "frame", mutate=True),
        "f2": entry("f2", "frame"),
    }


def test_every_detector_of_a_view_gets_the_same_rows(mixed_dir: Path) -> None:
    CALLS.clear()
    registry = _recording_registry()
    run_mixed(
        ["synth", "cats"],
        list(registry),
        [0, 1],
        mixed_dir / "out",
        data_dir=mixed_dir,
        registry=registry,
        log=lambda _: None,
    )
    # leave out the runner's untimed warm-up on 256 x 8 random rows
    calls = [c for c in CALLS if getattr(c[2], "shape", None) != (256, 8)]
    for name in ("synth", "cats"):
        dataset = load_mixed_dataset(name, mixed_dir)
        for seed in (0, 1):
            split = make_mixed_split(dataset, seed)
            views = make_views(split, dataset.kinds, {"onehot", "numeric", "frame"})
            seen = calls[: 2 * (5 if name == "synth" else 4)]  # fit + score each
            calls = calls[len(seen) :]
            for tag, kind, X in seen:
                view = views[
                    {"a": "onehot", "b": "onehot", "n": "numeric"}.get(tag, "frame")
                ]
                expected = view.X_train if kind == "fit" else view.X_test
                if isinstance(X, pd.DataFrame):
                    pd.testing.assert_frame_equal(X, expected)
                else:
                    np.testing.assert_array_equal(X, expected)
    results = load_results(mixed_dir / "out" / "results.csv")
    assert (results["error"] == "").all()
    # no numeric view on "cats": no row for "n" there, every other row present
    assert set(results[results.dataset == "cats"].detector) == {"a", "b", "f1", "f2"}
    assert len(results) == 2 * (5 + 4)
    by_view = results.groupby("detector")["view"].first().to_dict()
    assert by_view == {
        "a": "onehot",
        "b": "onehot",
        "n": "numeric",
        "f1": "frame",
        "f2": "frame",
    }
    # the same rows give the same scores, so every detector has the same AUROC
    assert results.groupby(["dataset", "seed"])["auroc"].nunique().eq(1).all()


# ------------------------------------------------------------- the report


def _rows(specs: list[tuple[str, str, str, float, float]]) -> pd.DataFrame:
    rows = []
    for dataset, detector, view, auroc, fit_s in specs:
        for seed, shift in ((0, -0.01), (1, 0.01)):
            rows.append(
                {"dataset": dataset, "seed": seed, "detector": detector, "view": view,
                 "auroc": auroc + shift, "ap": 0.5, "fit_s": fit_s, "score_s": 0.1,
                 "n_train": 100, "n_test": 60, "n_features": 12,
                 "anomaly_pct": 40.0 if dataset == "hi" else 5.0,
                 "n_test_anomalies": 5, "n_columns": 4, "prep_fit_s": 0.5,
                 "prep_score_s": 0.1, "error": "", "note": ""}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_drop_categories_table_by_hand() -> None:
    results = _rows(
        [
            ("lo", "vae", "onehot", 0.80, 1.0), ("lo", "vae[numeric]", "numeric", 0.90, 1.0),
            ("hi", "vae", "onehot", 0.70, 1.0), ("hi", "vae[numeric]", "numeric", 0.60, 1.0),
            ("cat", "vae", "onehot", 0.50, 1.0),
        ]
    )  # fmt: skip
    text = drop_categories_table(results)
    assert text is not None
    assert "| lo | 5.0 | 0.800 ± 0.014 | 0.900 ± 0.014 | +10.0 |" in text
    assert "| hi | 40.0 | 0.700 ± 0.014 | 0.600 ± 0.014 | -10.0 |" in text
    assert "| cat |" not in text  # no numeric view there
    assert text.index("| lo |") < text.index("| hi |")  # low contamination first
    assert "| **mean, ≤ 30 %** |  | 0.800 | 0.900 | +10.0 |" in text
    assert drop_categories_table(results[results.view == "onehot"]) is None


def test_fit_time_table_reports_a_native_detector_against_its_reference() -> None:
    results = _rows(
        [("lo", "vae", "onehot", 0.8, 2.0), ("lo", "vae[native]", "frame", 0.8, 3.0)]
    )
    registry = {
        "vae": MixedDetector(Recorder, "onehot", "vae", anomvae=True),
        "vae[native]": MixedDetector(
            Recorder, "frame", "native", anomvae=True, compare_with="vae"
        ),
    }
    text = fit_time_table(results, registry)
    assert (
        "| `vae` fit s | `vae[native]` fit s | / `vae` | / (`vae` + encoder) |" in text
    )
    # 3.0 / 2.0 = 1.50; 3.0 / (2.0 + 0.5) = 1.20
    assert "| lo | 100 | 12 | 0.50 | 2.00 | 3.00 | 1.50 | 1.20 |" in text
    assert "| **median of per-split ratios** |  |  |  |  |  | 1.50 | 1.20 |" in text


# --------------------------------------------------------------------- CLI


def test_cli_runs_and_writes_every_output(mixed_dir: Path) -> None:
    from typer.testing import CliRunner

    from benchmarks.mixed.cli import app

    out = mixed_dir / "cli-out"
    args = ["--data", str(mixed_dir), "--datasets", "synth,cats", "--seeds", "2"]
    result = CliRunner().invoke(
        app, [*args, "--detectors", "iforest,knn,knn[numeric]", "--out", str(out), "-q"]
    )
    assert result.exit_code == 0, result.output
    for name in (
        "results.csv",
        "run.json",
        "summary.md",
        "auroc.png",
        "readme_section.md",
    ):
        assert (out / name).exists()
    results = load_results(out / "results.csv")
    assert len(results) == 2 * 2 * 2 + 2  # knn[numeric] only on synth
    summary = (out / "summary.md").read_text()
    assert "## Drop the categories?" in summary
    assert "| synth |" in summary
    bad = CliRunner().invoke(app, [*args, "--detectors", "nope"])
    assert bad.exit_code == 2
    missing = CliRunner().invoke(app, ["--data", str(mixed_dir), "--datasets", "nope"])
    assert missing.exit_code == 2


# ---------------------------------------------------------- the generator


def test_make_mixed_csv_writes_kinds_blanks_and_digit_codes(tmp_path: Path) -> None:
    from benchmarks.make_mixed_csv import make_mixed_csv

    path = tmp_path / "gen.csv"
    kinds = make_mixed_csv(path, 1_000, blank_rate=0.05, chunk_rows=300)
    frame = pd.read_csv(path, dtype="string", keep_default_na=False, na_values=[""])
    assert list(frame.columns) == ["id", *kinds]
    assert len(frame) == 1_000
    assert frame["id"].astype(int).tolist() == list(range(1_000))
    cat0 = frame["cat0"].dropna()
    assert cat0.str.fullmatch(r"\d{3}").all()  # zero-padded codes
    assert 30 <= frame["cat1"].nunique() <= 50
    assert set(frame["flag0"].dropna()) == {"true", "false"}
    blanks = frame.drop(columns="id").isna().to_numpy().mean()
    assert 0.03 < blanks < 0.07
    assert frame["id"].notna().all()
    again = tmp_path / "again.csv"
    make_mixed_csv(again, 1_000, blank_rate=0.05, chunk_rows=300)
    assert again.read_bytes() == path.read_bytes()


# ---------------------------------------------------------- native models


class Scorer(BaseEstimator, OutlierMixin):
    """Counts its fits; scores by the first numeric column, with the sign that
    ``score_type`` picks, so variants give different scores."""

    fits = 0

    def __init__(self, score_type: str = "first") -> None:
        self.score_type = score_type

    def fit(self, X: Any, y: None = None) -> Scorer:
        if np.shape(X) != (256, 8):  # not the runner's untimed warm-up
            type(self).fits += 1
        self.fitted_ = True
        return self

    def score_samples(self, X: Any) -> np.ndarray:
        values = (
            X.select_dtypes("number").to_numpy(na_value=0.0)
            if isinstance(X, pd.DataFrame)
            else np.asarray(X)
        )
        sign = 1.0 if self.score_type == "first" else -1.0
        return -sign * np.nan_to_num(values[:, 0].astype(float))


def _variant_registry() -> dict[str, MixedDetector]:
    return {
        "s": MixedDetector(Scorer, "onehot", "baseline"),
        "s[native]": MixedDetector(
            Scorer, "frame", "native", anomvae=True, compare_with="s"
        ),
        "s[native,score=last]": MixedDetector(
            lambda: Scorer(score_type="last"),
            "frame",
            "variant",
            anomvae=True,
            shared_fit="s[native]",
        ),
    }


def test_score_variants_rescore_the_base_fit_and_resume(mixed_dir: Path) -> None:
    registry = _variant_registry()
    Scorer.fits = 0
    out = mixed_dir / "out"
    run_mixed(["synth"], list(registry), [0, 1], out, data_dir=mixed_dir,
              registry=registry, log=lambda _: None)  # fmt: skip
    assert Scorer.fits == 2 * 2  # s and s[native], per seed; no fit for the variant
    results = load_results(out / "results.csv").set_index(["seed", "detector"])
    for seed in (0, 1):
        base = results.loc[(seed, "s[native]")]
        variant = results.loc[(seed, "s[native,score=last]")]
        assert variant["fit_s"] == base["fit_s"]  # the base's fit
        assert variant["view"] == "frame"
        assert variant["auroc"] != base["auroc"]  # scored another way
    # a run that lacks only the variant fits the base again and adds it
    frame = load_results(out / "results.csv")
    keep = frame[~((frame.seed == 1) & (frame.detector == "s[native,score=last]"))]
    keep.to_csv(out / "results.csv", index=False)
    Scorer.fits = 0
    run_mixed(["synth"], list(registry), [0, 1], out, data_dir=mixed_dir,
              registry=registry, resume=True, log=lambda _: None)  # fmt: skip
    assert Scorer.fits == 1
    again = load_results(out / "results.csv")
    assert len(again) == 2 * 3
    meta = json.loads((out / "run.json").read_text())
    assert set(meta["views"]) == set(registry)


def test_native_entries_are_registered_with_their_references() -> None:
    from benchmarks.mixed.registry import (
        MIXED_REGISTRY,
        NATIVE_VAE_SCORES,
        detector_groups,
        native_name,
        shared_fits,
    )
    from benchmarks.runner import plan_detectors

    for name, ref in (("vae[native]", "vae"), ("ae[native]", "ae"),
                      ("dae[native]", "dae")):  # fmt: skip
        entry = MIXED_REGISTRY[name]
        assert (entry.view, entry.compare_with, entry.anomvae) == ("frame", ref, True)
    variants = [native_name(s) for s in NATIVE_VAE_SCORES]
    assert shared_fits(MIXED_REGISTRY) == dict.fromkeys(variants, "vae[native]")
    transforms = ["vae[native-none]", "vae[native-log1p]"]  # own fits each
    assert set(detector_groups(MIXED_REGISTRY)["native"]) == {
        "vae[native]", "ae[native]", "dae[native]", *variants, *transforms,
    }  # fmt: skip
    for name, transform in zip(transforms, ("none", "log1p"), strict=True):
        model = MIXED_REGISTRY[name].factory()
        assert model.get_params()["numeric_transform"] == transform
    from benchmarks.mixed.registry import factories

    plan = plan_detectors(
        ["vae[native]", *variants],
        registry=factories(MIXED_REGISTRY),
        shared_fit=shared_fits(MIXED_REGISTRY),
        log=lambda _: None,
    )
    assert list(plan.fits) == ["vae[native]"]  # one fit, every score from it
    rows = dict(plan.fits["vae[native]"])
    assert rows["vae[native]"] is None
    for score in NATIVE_VAE_SCORES:
        assert rows[native_name(score)] == {"score_type": score}
    # the native VAE's default is the hybrid score, like VAEDetector()'s
    assert MIXED_REGISTRY["vae[native]"].factory().score_type == "hybrid"


def _goal_results() -> pd.DataFrame:
    # lo1, lo2: low contamination; hi: high. Per seed AUROC: mean +- 0.01.
    return _rows(
        [
            ("lo1", "knn", "onehot", 0.80, 1.0),
            ("lo1", "vae", "onehot", 0.70, 2.0),
            ("lo1", "vae[native]", "frame", 0.90, 3.0),
            ("lo1", "vae[native,score=elbo]", "frame", 0.93, 3.0),
            ("lo2", "knn", "onehot", 0.90, 1.0),
            ("lo2", "vae", "onehot", 0.60, 2.0),
            ("lo2", "vae[native]", "frame", 0.80, 3.0),
            ("lo2", "vae[native,score=elbo]", "frame", 0.80, 3.0),
            ("hi", "knn", "onehot", 0.70, 1.0),
            ("hi", "vae", "onehot", 0.70, 2.0),
            ("hi", "vae[native]", "frame", 0.75, 3.0),
            ("hi", "vae[native,score=elbo]", "frame", 0.70, 3.0),
        ]
    )


def test_goals_against_the_best_baseline_by_hand() -> None:
    from benchmarks.mixed.goals import check_goals, goal_lines, native_goal_table

    results = _goal_results()
    registry = {
        "knn": MixedDetector(Recorder, "onehot", "knn"),
        "vae": MixedDetector(Recorder, "onehot", "vae", anomvae=True),
        "vae[native]": MixedDetector(
            Recorder, "frame", "native", anomvae=True, compare_with="vae"
        ),
        "vae[native,score=elbo]": MixedDetector(
            Recorder, "frame", "elbo", anomvae=True, shared_fit="vae[native]"
        ),
    }
    check = check_goals(results, "vae[native]", registry)
    assert check.datasets == ("lo1", "lo2")
    assert check.best_baseline == "knn"
    # native mean 0.85, knn 0.85: +0.0 points; ranks: native 1.5, knn 1.5
    assert check.margin == pytest.approx(0.0)
    assert not check.margin_met
    assert check.rank == pytest.approx(1.5)
    assert not check.rank_met
    assert check.deficits == pytest.approx({"lo2": 10.0})
    text = native_goal_table(results, registry)
    assert text is not None
    assert "| lo1 | 5.0 | 0.900 ± 0.014 | `knn` | 0.800 ± 0.014 | +10.0 |" in text
    assert "| lo2 | 5.0 | 0.800 ± 0.014 | `knn` | 0.900 ± 0.014 | -10.0 |" in text
    assert "| hi | 40.0 | 0.750 ± 0.014 | `knn` | 0.700 ± 0.014 | +5.0 |" in text
    assert "vae[native,score=elbo]" not in text  # variants are not natives
    (line,) = goal_lines(results, registry)
    assert "+0.0 points" in line
    assert "lo2 (-10.0)" in line
    assert "not met" in line


def test_score_tables_pair_differences_by_seed() -> None:
    from benchmarks.mixed.goals import (
        paired_deltas,
        score_choice_table,
        score_delta_table,
    )

    results = _goal_results()
    deltas = paired_deltas(results, "vae[native]", "vae[native,score=elbo]")
    # the same +-0.01 per seed on both: paired sd 0
    assert deltas.loc["lo1", "delta"] == pytest.approx(3.0)
    assert deltas.loc["lo1", "sd"] == pytest.approx(0.0)
    assert deltas["clear"].to_dict() == {"hi": -1, "lo1": 1, "lo2": 0}
    noisy = results.copy()
    elbo = noisy["detector"] == "vae[native,score=elbo]"
    noisy.loc[elbo & (noisy.seed == 0), "auroc"] -= 0.05  # paired sd now 3.5
    assert (
        paired_deltas(noisy, "vae[native]", "vae[native,score=elbo]").loc[
            "lo1", "clear"
        ]
        == 0
    )
    choice = score_choice_table(results)
    assert choice is not None
    assert "| `hybrid` | `elbo` |" in choice
    assert "| **mean AUROC, ≤ 30 % (2)** |  | 0.850 | 0.865 |" in choice
    assert "| **mean rank, ≤ 30 % (2)** |  | 1.75 | 1.25 |" in choice
    assert "| **mean rank, all (3)** |  | 1.50 | 1.50 |" in choice
    table = score_delta_table(results)
    assert table is not None
    assert "| lo1 | 5.0 | +3.0 ± 0.0 ▲ |" in table
    assert "| **clear wins / noise / losses, all** |  | 1/1/1 |" in table


def test_throughput_medians_and_ratios_to_the_floor_by_hand() -> None:
    from benchmarks.bench_cli_mixed import _medians, mixed_markdown

    runs = []
    for round_, (floor, score) in enumerate(((2.0, 9.0), (4.0, 5.0), (3.0, 6.0)), 1):
        for case, kind, model, wall in (
            ("mixed floor (read + write)", "mixed", None, floor),
            ("mixed, default score (hybrid)", "mixed", "mixed_hybrid", score),
        ):
            runs.append({"rows": 1000, "round": round_, "case": case, "kind": kind,
                         "model": model, "wall_s": wall, "loop_s": wall / 2,
                         "cpu_s": 1.0, "peak_rss_mb": 100 + round_,
                         "load_before": 0.5})  # fmt: skip
    floor_row, hybrid = _medians(runs)
    assert floor_row["ratio_wall"] == 1.0
    assert hybrid["wall_s"] == 6.0  # median of 9, 5, 6
    assert hybrid["ratio_wall"] == pytest.approx(6.0 / 3.0)
    assert hybrid["rows_per_s_loop"] == pytest.approx(1000 / 3.0)
    assert (hybrid["peak_rss_mb"], hybrid["max_rss_mb"]) == (102, 103)
    result = {"runs": runs, "cores": 2, "load_after": 0.4, "train_rows": 10,
              "epochs": 1, "repeats": 3, "input_mb": {1000: {"mixed": 0.1}}}  # fmt: skip
    text = mixed_markdown(result, "python -m benchmarks.bench_cli_mixed")
    assert (
        "| 1,000 | mixed, default score (hybrid) | 6.00 | 3.00 | 167 | 333 | 2.00 | "
        "2.00 | 102, 103 |" in text
    )
    assert "busy" not in text


def test_readme_section_takes_the_throughput_medians_table(tmp_path: Path) -> None:
    from benchmarks.mixed.report import _throughput_lines

    assert _throughput_lines(tmp_path / "throughput.md", "x") == []
    table = "| rows | case | wall s |\n|---:|---|---:|\n| 10 | floor | 1.00 |"
    (tmp_path / "throughput.md").write_text(f"# T\n\nintro\n\n{table}\n\n## Runs\n")
    lines = _throughput_lines(tmp_path / "throughput.md", "x")
    assert lines[-1] == table
    assert "x/throughput.md" in lines[0]
