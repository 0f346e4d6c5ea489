"""Mixed tables through the command line: fit on every column (numbers,
categories, flags, digit codes, blank cells), score each column with the type it
was fitted with, explain in natural units, and fail loudly on bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from anomvae.cli import app
from anomvae.io import TEMP_SUFFIX

TINY = ["--hidden", "16", "--max-steps", "150", "--random-state", "0"]
runner = CliRunner()


def run(*args: Any) -> Any:
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result


def _rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    proto = rng.choice(["tcp", "udp", "icmp"], n, p=[0.6, 0.3, 0.1])
    frame = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "bytes": np.round(
                np.exp(np.where(proto == "tcp", 9, 5) + rng.normal(0, 1, n))
            ),
            "temp": rng.normal(20, 2, n).round(3),
            "proto": proto,
            "secure": np.where(proto == "tcp", "true", "false"),
            # digit codes: a category that looks numeric ("07" must stay "07")
            "ward": rng.choice(["07", "12", "31"], n),
            "label": 0,
        }
    )
    frame.loc[rng.random(n) < 0.1, "temp"] = np.nan
    return frame


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mixed")
    _rows(1200, 0).to_csv(folder / "train.csv", index=False)
    test = _rows(200, 1).astype(object)
    test.loc[0, "proto"] = "XX"
    test.loc[1, "bytes"] = 1e300
    test.loc[2, ["bytes", "temp", "proto", "secure", "ward"]] = None
    test.loc[3, "ward"] = "7"  # not the level "07"
    test.loc[:3, "label"] = 1
    test.to_csv(folder / "test.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def model(files: Path) -> Path:
    path = files / "model.anomvae"
    result = run(
        "fit", files / "train.csv", "-o", path, "-i", "id", "--label-column", "label",
        "--categorical", "ward", "--calibrate", "fpr:0.05", *TINY,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert (
        "columns:     2 numeric, 2 categorical (proto, ward), 1 true/false (secure); "
        "blank cells in temp"
    ) in result.stderr
    return path


def test_info_shows_the_schema(model: Path) -> None:
    described = json.loads(run("info", model, "--json").stdout)
    kinds = {f["name"]: f["kind"] for f in described["features"]}
    assert kinds == {
        "bytes": "numeric",
        "temp": "numeric",
        "proto": "categorical",
        "secure": "binary",
        "ward": "categorical",
    }
    text = run("info", model).stdout
    assert "ward (categorical: 3 levels)" in text
    assert "temp (numeric: blank in" in text


def test_score_reads_columns_with_their_fitted_types(
    model: Path, files: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores.parquet"
    result = run("score", files / "test.csv", "-m", model, "-o", out, "--explain", "2")
    assert result.exit_code == 0, result.stderr
    scored = pq.read_table(out).to_pandas()
    assert list(scored.columns[:4]) == ["id", "score", "p_value", "is_anomaly"]
    assert np.isfinite(scored["score"]).all()
    assert scored["is_anomaly"][:4].all()
    assert scored.loc[0, "top1_reason"] == "proto='XX' unseen in training"
    assert scored.loc[3, "top1_reason"] == "ward='7' unseen in training"
    assert scored.loc[0, "unseen_features"] == "proto"
    assert "bytes" in scored.loc[2, "unseen_features"]


def test_evaluate_and_calibrate_a_mixed_model(
    model: Path, files: Path, tmp_path: Path
) -> None:
    result = run("evaluate", files / "test.csv", "-m", model, "-y", "label", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["auroc"] > 0.9
    normal = _rows(300, 2)
    normal.to_csv(tmp_path / "normal.csv", index=False)
    again = tmp_path / "again.anomvae"
    result = run("calibrate", tmp_path / "normal.csv", "-m", model, "-o", again)
    assert result.exit_code == 0, result.stderr


def test_a_label_is_never_a_feature_by_accident(files: Path, tmp_path: Path) -> None:
    path = tmp_path / "leaky.anomvae"
    result = run("fit", files / "train.csv", "-o", path, "-i", "id", *TINY)
    assert result.exit_code == 0, result.stderr
    assert "column 'label' looks like a label and is used as a feature" in result.stderr
    result = run("evaluate", files / "test.csv", "-m", path, "-y", "label")
    assert result.exit_code == 1
    assert "column 'label' is a feature of" in result.stderr
    assert "--label-column label" in result.stderr


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.assign(temp=t["temp"].astype(object).where(t.index != 4, "hot")),
         r"row 5, column 'temp': 'hot' is not a number"),
        (lambda t: t.drop(columns="ward"), r"missing column 'ward'"),
    ],
)  # fmt: skip
def test_bad_input_names_file_row_and_column(
    model: Path, files: Path, tmp_path: Path, edit: Any, message: str
) -> None:
    import re

    bad = tmp_path / "bad.csv"
    edit(pd.read_csv(files / "test.csv", dtype=str, keep_default_na=False)).to_csv(
        bad, index=False
    )
    out = tmp_path / "out.csv"
    result = run("score", bad, "-m", model, "-o", out)
    assert result.exit_code == 1
    assert re.search(message, result.stderr), result.stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(TEMP_SUFFIX)]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.assign(dead=""), r"column 'dead' is blank on every"),
        (lambda t: t.assign(one="same"), r"column 'one' has one level"),
    ],
)
def test_fit_refuses_columns_that_carry_nothing(
    files: Path, tmp_path: Path, edit: Any, message: str
) -> None:
    import re

    bad = tmp_path / "bad.csv"
    edit(pd.read_csv(files / "train.csv", dtype=str, keep_default_na=False)).to_csv(
        bad, index=False
    )
    out = tmp_path / "m.anomvae"
    result = run("fit", bad, "-o", out, "-i", "id", "-x", "label", *TINY)
    assert result.exit_code == 1
    assert re.search(message, result.stderr), result.stderr
    assert not out.exists()


def test_dask_engine_scores_a_mixed_model_like_the_local_one(
    model: Path, files: Path, tmp_path: Path
) -> None:
    pytest.importorskip("distributed")  # an optional extra, not the package
    import dask

    from anomvae.distributed import score_dask

    frame = pd.read_csv(files / "test.csv", dtype=str, keep_default_na=False)
    parts = tmp_path / "in"
    parts.mkdir()
    frame.iloc[:100].to_csv(parts / "a.csv", index=False)
    frame.iloc[100:].to_csv(parts / "b.csv", index=False)
    with dask.config.set(scheduler="synchronous"):
        score_dask(str(parts), model, tmp_path / "out", id_columns=["id"], explain=1)
    dask_out = pq.read_table(tmp_path / "out").to_pandas()
    local = tmp_path / "local.parquet"
    result = run(
        "score", files / "test.csv", "-m", model, "-o", local, "--explain", "1"
    )
    assert result.exit_code == 0, result.stderr
    expected = pq.read_table(local).to_pandas()
    np.testing.assert_array_equal(dask_out["score"], expected["score"])
    assert dask_out["top1_reason"].tolist() == expected["top1_reason"].tolist()


def test_run_report_of_a_mixed_model_tests_categories_and_blanks(
    model: Path, files: Path, tmp_path: Path
) -> None:
    """The report covers a mixed model's categories (level frequencies, new
    levels) and blank rates, with the levels the encoder uses ("true", "07")."""
    normal = _rows(1000, 3)
    normal.to_csv(tmp_path / "normal.csv", index=False)
    report = tmp_path / "normal.json"
    result = run(
        "score", tmp_path / "normal.csv", "-m", model, "-o", tmp_path / "n.csv",
        "--report", report, "--fail-on-drift",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    columns = {c["name"]: c for c in json.loads(report.read_text())["columns"]}
    assert columns["proto"]["kind"] == "categorical"
    assert columns["secure"]["kind"] == "categorical"
    assert columns["ward"]["kind"] == "categorical"
    assert not json.loads(report.read_text())["alarm"]
    # An export that changed the ward codes ("07" -> "7") and lost temperatures.
    drifted = normal.assign(ward=normal["ward"].str.lstrip("0"), temp=np.nan)
    drifted.to_csv(tmp_path / "drifted.csv", index=False)
    report = tmp_path / "drifted.json"
    result = run(
        "score", tmp_path / "drifted.csv", "-m", model, "-o", tmp_path / "d.csv",
        "--report", report, "--fail-on-drift",
    )  # fmt: skip
    assert result.exit_code == 4, result.stderr
    fired = json.loads(report.read_text())
    assert fired["alarm"]
    moved = {c["name"] for c in fired["columns"] if c["adjusted_p"] < 0.01}
    assert {"ward", "temp"} <= moved
