"""The command line through typer's CliRunner: every command and error path.

Models are tiny (8 hidden units, 3 epochs) and fitted once per module. Every run
checks that no traceback reaches the user; every failing run checks that no
output appeared and that a previous output is left as it was.
"""

from __future__ import annotations

import errno
import gzip
import io
import json
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from anomvae.cli import app
from anomvae.io import TEMP_SUFFIX

FEATURES = ["x0", "x1", "x2", "x3"]
TINY = ["--hidden", "8", "--epochs", "3", "--random-state", "0"]
N_ROWS = 300
runner = CliRunner()


def run(*args: Any, input: str | bytes | None = None) -> Any:
    """Invoke the app; no run may show a traceback or raise out of the app."""
    result = runner.invoke(app, [str(a) for a in args], input=input)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def error_line(result: Any, command: str = "score") -> str:
    """The failing run's stderr, which must be exactly one error line."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"anomvae {command}: error: "), lines[0]
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train.csv (normal rows) and test.csv (10 labelled anomalies first)."""
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(N_ROWS, 4)).round(6), columns=FEATURES)
    frame.insert(0, "id", [f"r{i}" for i in range(N_ROWS)])
    frame["machine"] = rng.choice(["A", "B"], N_ROWS)
    frame["label"] = 0
    frame.to_csv(folder / "train.csv", index=False)
    test = frame.copy()
    test.loc[:9, "x0"] = 25.0
    test.loc[:9, "label"] = 1
    test.to_csv(folder / "test.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def model(data: Path) -> Path:
    """A calibrated VAE (the default model, fpr:0.05) on the numeric columns,
    fitted through the CLI."""
    path = data / "model.anomvae"
    result = run(
        "fit", data / "train.csv", "-o", path, "-i", "id", "--label-column", "label",
        "-x", "machine", "--calibrate", "fpr:0.05", *TINY,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "trained VAEDetector on 240 rows x 4 features" in result.stderr
    assert "columns:" not in result.stderr  # numbers only: the numeric path
    return path


@pytest.fixture(scope="module")
def bare_model(data: Path) -> Path:
    path = data / "bare.anomvae"
    result = run(
        "fit", data / "train.csv", "-o", path, "-i", "id", "-x", "machine,label",
        *TINY,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return path


def read_csv(path: Path | str) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False)


# ------------------------------------------------------------------ help, version
def test_version() -> None:
    from anomvae import __version__

    result = run("--version")
    assert (result.exit_code, result.stdout.strip()) == (0, f"anomvae {__version__}")


@pytest.mark.parametrize(
    "command",
    [[], ["fit"], ["score"], ["evaluate"], ["calibrate"], ["info"],
     ["datasets"], ["datasets", "list"], ["datasets", "export"]],
)  # fmt: skip
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_everywhere_with_examples_and_exit_codes(
    command: list[str], flag: str
) -> None:
    result = run(*command, flag)
    assert result.exit_code == 0
    assert "Usage: " in result.stdout
    if command != ["datasets"]:
        assert "Examples:" in result.stdout
        assert "Exit codes:" in result.stdout


@pytest.mark.parametrize(
    ("option", "param"),
    [("--epochs", "max_epochs"), ("--max-steps", "max_steps"),
     ("--batch-size", "batch_size"), ("--learning-rate", "learning_rate"),
     ("--patience", "patience"), ("--validation-fraction", "validation_fraction"),
     ("--hidden", "hidden_layer_sizes"), ("--latent-dim", "latent_dim"),
     ("--scaler", "scaler"), ("--device", "device"), ("--precision", "precision")],
)  # fmt: skip
def test_fit_help_states_the_estimators_defaults(option: str, param: str) -> None:
    import typer.main

    from anomvae import VAEDetector

    fit = typer.main.get_command(app).commands["fit"]
    (opt,) = [p for p in fit.params if option in p.opts]
    stated = re.findall(r"\[([^\]]+)\]", opt.help)[-1]
    default = VAEDetector().get_params()[param]
    if default is None:
        assert stated.startswith("off")
    elif isinstance(default, str):
        assert stated.split(":")[0] == default
    else:
        assert float(stated) == default


def test_no_arguments_prints_help() -> None:
    result = run()
    assert "Commands:" in result.stdout + result.stderr


# ----------------------------------------------------------------------------- fit
def test_fit_summary_and_info(model: Path) -> None:
    result = run("info", model)
    assert result.exit_code == 0
    assert "VAEDetector (vae)" in result.stdout
    assert "4 float64: x0, x1, x2, x3" in result.stdout
    assert "calibrated: fpr" in result.stdout
    described = json.loads(run("info", model, "--json").stdout)
    assert [f["name"] for f in described["features"]] == FEATURES
    assert described["method"] == "fpr"
    assert described["training"]["rows"] == 240
    assert described["training"]["epochs"] == 3
    assert described["training"]["precision"] == "float32"  # "auto" on the CPU
    assert set(described["versions"]) >= {"anomvae", "torch", "scikit-learn"}
    assert described["created"]


def test_fit_columns_exclude_and_stdin(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.anomvae"
    text = (data / "train.csv").read_text()
    args = ["-o", out, "-i", "id", "--columns", "x0", "-c", "x2", *TINY, "-q"]
    result = run("fit", "-", *args, input=text)
    assert (result.exit_code, result.stderr) == (0, "")
    features = json.loads(run("info", out, "--json").stdout)["features"]
    assert [f["name"] for f in features] == ["x0", "x2"]
    run(
        "fit",
        data / "train.csv",
        "-o",
        out,
        "-i",
        "id",
        "-x",
        "x3,machine,label",
        *TINY,
    )
    features = json.loads(run("info", out, "--json").stdout)["features"]
    assert [f["name"] for f in features] == ["x0", "x1", "x2"]


def test_fit_precision_is_passed_to_the_detector(data: Path, tmp_path: Path) -> None:
    from anomvae.persistence import read_config

    out = tmp_path / "m.anomvae"
    args = ["-o", out, "-i", "id", "-x", "machine,label", *TINY, "-q"]
    result = run("fit", data / "train.csv", *args, "--precision", "bfloat16")
    assert (result.exit_code, result.stderr) == (0, "")
    config = read_config(out)
    assert config["params"]["precision"] == "bfloat16"
    assert config["fitted"]["training_precision_"] == "bfloat16"
    run("fit", data / "train.csv", *args)
    assert read_config(out)["params"]["precision"] == "auto"


def test_fit_threads_sets_n_jobs(data: Path, tmp_path: Path) -> None:
    from anomvae.persistence import read_config

    out = tmp_path / "m.anomvae"
    args = ["-o", out, "-i", "id", "-x", "machine,label", *TINY, "-q"]
    result = run("fit", data / "train.csv", *args, "--threads", "2")
    assert (result.exit_code, result.stderr) == (0, "")
    assert read_config(out)["params"]["n_jobs"] == 2
    result = run("fit", data / "train.csv", *args, "--threads", "0")
    assert result.exit_code == 2
    assert "--threads" in result.stderr
    run("fit", data / "train.csv", *args)
    assert read_config(out)["params"]["n_jobs"] is None


def test_score_threads_and_precision(data: Path, model: Path, tmp_path: Path) -> None:
    """Several scoring threads write the same bytes as one; float32 scores are
    within 1e-5 of float64 ones (relative), flag the same rows here, and are the
    same on every run."""
    outputs = {}
    for threads, precision in [(1, "float64"), (3, "float64"), (2, "float32"),
                               (3, "float32")]:  # fmt: skip
        out = tmp_path / f"{threads}-{precision}.csv"
        result = run(
            "score", data / "test.csv", "-m", model, "-o", out, *BATCHED,
            "--threads", str(threads), "--precision", precision, "--explain", "1",
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
        outputs[threads, precision] = out.read_bytes()
    assert outputs[1, "float64"] == outputs[3, "float64"]
    assert outputs[2, "float32"] == outputs[3, "float32"]
    exact = pd.read_csv(io.BytesIO(outputs[1, "float64"]))
    fast = pd.read_csv(io.BytesIO(outputs[2, "float32"]))
    np.testing.assert_allclose(fast["score"], exact["score"], rtol=1e-5, atol=1e-5)
    assert (fast["is_anomaly"] == exact["is_anomaly"]).all()


def test_fit_leaves_out_rows_labelled_anomalous(data: Path, tmp_path: Path) -> None:
    result = run(
        "fit", data / "test.csv", "-o", tmp_path / "m.anomvae", "-i", "id",
        "-x", "machine", "--label-column", "label", *TINY,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "left out:    10 rows labelled anomalous" in result.stderr
    assert f"on {N_ROWS - 10} rows" in result.stderr


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("abc", r"row 5, column 'x1': 'abc' is not a number"),
        ("-inf", r"row 5, column 'x1': infinite value \(-inf\) is not allowed"),
    ],
)
def test_fit_invalid_cell_names_row_and_column(
    data: Path, tmp_path: Path, cell: str, message: str
) -> None:
    frame = read_csv(data / "train.csv").astype({"x1": str})
    frame.loc[4, "x1"] = cell
    frame.to_csv(tmp_path / "bad.csv", index=False)
    out = tmp_path / "m.anomvae"
    result = run("fit", tmp_path / "bad.csv", "-o", out, "-i", "id", *TINY)
    assert result.exit_code == 1
    assert re.search(message, error_line(result, "fit"))
    assert not out.exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "args",
    [
        ["--calibrate", "fpr:2"],
        ["--calibrate", "bogus"],
        ["--calibrate", "evt:x"],
        ["--model", "xx"],
        ["--beta", "2"],
        ["--likelihood", "bernoulli"],
        ["--score-type", "bogus"],
        ["--model", "cvae"],
        ["--condition", "machine"],
        ["--sep", "ab"],
        ["--precision", "float16"],
        ["--hidden", "8,a"],
        ["--epochs", "0"],
        ["--learning-rate", "0"],
        ["--calibration-size", "1"],
        ["-o", "-"],
    ],
)
def test_fit_usage_errors_exit_2(data: Path, tmp_path: Path, args: list[str]) -> None:
    out = tmp_path / "m.anomvae"
    # The cases are autoencoder parameters (--beta is a VAE's); "--model" in
    # args overrides the first one.
    result = run("fit", data / "train.csv", "-o", out, "--model", "ae", *args)
    assert result.exit_code == 2
    assert "Error: Invalid value" in result.stderr
    assert not out.exists()


def test_fit_data_errors_exit_1(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.anomvae"
    result = run("fit", data / "train.csv", "-o", out, "-i", "ID")
    assert result.exit_code == 1
    assert "missing column 'ID'" in error_line(result, "fit")
    assert "Names differ in case" in result.stderr
    result = run(
        "fit", data / "train.csv", "-o", out, "-c", "x0,x1", "--categorical", "id",
        "-i", "id", *TINY,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "cannot be both a feature" in error_line(result, "fit")
    result = run(
        "fit", data / "train.csv", "-o", out, "-x", "id,machine,label",
        "--calibrate", "fpr:0.001", *TINY,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "needs at least 999 calibration rows" in error_line(result, "fit")
    assert not out.exists()


def test_fit_unwritable_output_fails_before_training(
    data: Path, tmp_path: Path
) -> None:
    result = run("fit", data / "train.csv", "-o", tmp_path / "no" / "m.anomvae")
    assert result.exit_code == 1
    assert "directory" in error_line(result, "fit")
    assert "does not exist" in result.stderr


def test_fit_and_score_conditional_vae(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "cvae.anomvae"
    result = run(
        "fit", data / "train.csv", "-o", out, "-i", "id", "-x", "label",
        "--model", "cvae", "--condition", "machine", "--score-type", "reconstruction",
        *TINY,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    described = json.loads(run("info", out, "--json").stdout)
    assert described["conditions"] == [
        {"name": "machine", "type": "categorical", "categories": ["A", "B"]}
    ]
    scores = tmp_path / "scores.csv"
    result = run(
        "score",
        data / "test.csv",
        "-m",
        out,
        "-o",
        scores,
        "-i",
        "id",
        "--explain",
        "1",
    )
    assert result.exit_code == 0, result.stderr
    frame = read_csv(scores)
    assert list(frame.columns) == [
        "id",
        "score",
        "is_anomaly",
        "top1_feature",
        "top1_share",
        "top1_reason",
    ]
    assert frame["is_anomaly"].head(10).all()
    assert set(frame["top1_feature"].head(10)) == {"x0"}
    assert frame["top1_reason"][0].startswith("x0=25 (expected about ")


# --------------------------------------------------------------------------- score
def test_score_writes_ids_scores_p_values_and_flags(data: Path, model: Path) -> None:
    from anomvae import load
    from anomvae.thresholds import conformal_p_values

    out = data / "scores.csv"
    result = run(
        "score", data / "test.csv", "-m", model, "-o", out, "--id-column", "id"
    )
    assert result.exit_code == 0, result.stderr
    assert re.match(
        rf"scored {N_ROWS} rows in [\d.]+ s: \d+ anomalies \([\d.]+%\) above "
        rf"threshold [\d.e+-]+ -> {re.escape(str(out))}\n$",
        result.stderr,
    )
    frame = read_csv(out)
    assert list(frame.columns) == ["id", "score", "p_value", "is_anomaly"]
    assert len(frame) == N_ROWS
    assert frame["id"].tolist() == [f"r{i}" for i in range(N_ROWS)]
    cal = load(model)
    test = read_csv(data / "test.csv")[FEATURES]
    # Equal up to rounding: BLAS kernels differ with the memory layout.
    np.testing.assert_allclose(
        frame["score"], -cal.score_samples(test), rtol=1e-9, atol=1e-9
    )
    # p-values and flags follow from the written scores exactly.
    expected = conformal_p_values(cal.calibration_scores_, frame["score"].to_numpy())
    np.testing.assert_array_equal(frame["p_value"], expected)
    assert (frame["is_anomaly"] == (frame["score"] > cal.threshold_)).all()
    assert frame["is_anomaly"].head(10).all()


def test_score_copies_the_id_columns_fit_remembered(
    data: Path, model: Path, tmp_path: Path
) -> None:
    """fit -i id is saved in the model; score passes id through unless told
    otherwise, and says how to when the input lacks it."""
    assert json.loads(run("info", model, "--json").stdout)["id_columns"] == ["id"]
    assert "id columns:   id" in run("info", model).stdout
    given, remembered = tmp_path / "given.csv", tmp_path / "remembered.csv"
    run("score", data / "test.csv", "-m", model, "-o", given, "-i", "id")
    assert run("score", data / "test.csv", "-m", model, "-o", remembered).exit_code == 0
    assert remembered.read_text() == given.read_text()
    none, other = tmp_path / "none.csv", tmp_path / "other.csv"
    assert (
        run("score", data / "test.csv", "-m", model, "-o", none, "-i", "").exit_code
        == 0
    )
    assert list(read_csv(none).columns) == ["score", "p_value", "is_anomaly"]
    run("score", data / "test.csv", "-m", model, "-o", other, "-i", "machine")
    assert list(read_csv(other).columns) == [
        "machine",
        "score",
        "p_value",
        "is_anomaly",
    ]
    read_csv(data / "test.csv").drop(columns="id").to_csv(
        tmp_path / "no_id.csv", index=False
    )
    out = tmp_path / "out.csv"
    result = run("score", tmp_path / "no_id.csv", "-m", model, "-o", out)
    assert result.exit_code == 1
    line = error_line(result)
    assert "no_id.csv: missing column 'id'" in line
    assert f"{model} was fitted with --id-column id" in line
    assert "--id-column '' for none" in line
    assert not out.exists()
    # A column missing that the user named gets the plain message.
    result = run("score", tmp_path / "no_id.csv", "-m", model, "-o", out, "-i", "id")
    assert result.exit_code == 1
    assert "was fitted with" not in error_line(result)


def test_score_column_order_is_irrelevant_and_extras_are_ignored(
    data: Path, model: Path, tmp_path: Path
) -> None:
    frame = read_csv(data / "test.csv")
    frame.assign(extra="zz")[["x3", "extra", "x1", "id", "x0", "x2"]].to_csv(
        tmp_path / "shuffled.csv", index=False
    )
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert run("score", data / "test.csv", "-m", model, "-o", a).exit_code == 0
    assert run("score", tmp_path / "shuffled.csv", "-m", model, "-o", b).exit_code == 0
    assert a.read_text() == b.read_text()


def test_score_explain_keep_columns_row_numbers(
    data: Path, model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.csv"
    result = run(
        "score", data / "test.csv", "-m", model, "-o", out, "--keep-columns",
        "--row-numbers", "--explain", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    frame = read_csv(out)
    assert list(frame.columns) == [
        "row", "id", *FEATURES, "machine", "label", "score", "p_value", "is_anomaly",
        "top1_feature", "top1_share", "top1_reason",
        "top2_feature", "top2_share", "top2_reason",
    ]  # fmt: skip
    assert frame["row"].tolist() == list(range(1, N_ROWS + 1))
    assert (frame["top1_feature"].head(10) == "x0").all()
    assert (frame["top1_share"] >= frame["top2_share"]).all()
    assert frame["machine"].tolist() == read_csv(data / "test.csv")["machine"].tolist()


def test_score_parquet_gzip_and_tab_separated(
    data: Path, model: Path, tmp_path: Path
) -> None:
    reference = tmp_path / "ref.csv"
    run("score", data / "test.csv", "-m", model, "-o", reference, "-i", "id")
    text = (data / "test.csv").read_text()
    (tmp_path / "in.csv.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "in.tsv").write_text(text.replace(",", "\t"))
    (tmp_path / "in.txt").write_text(text.replace(",", "|"))
    read_csv(data / "test.csv").to_parquet(tmp_path / "in.parquet")
    for name, extra in [
        ("in.csv.gz", []),
        ("in.tsv", []),
        ("in.txt", ["--sep", "pipe"]),
        ("in.parquet", []),
    ]:
        out = tmp_path / f"{name}.parquet"
        result = run(
            "score", tmp_path / name, "-m", model, "-o", out, "-i", "id", *extra
        )
        assert result.exit_code == 0, (name, result.stderr)
        table = pq.read_table(out).to_pandas()
        pd.testing.assert_frame_equal(table, read_csv(reference), check_dtype=False)


def test_score_stdin_to_stdout(data: Path, model: Path) -> None:
    text = (data / "test.csv").read_text()
    result = run("score", "-", "-m", model, "-o", "-", "-i", "id", "-q", input=text)
    assert (result.exit_code, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[0] == "id,score,p_value,is_anomaly"
    assert len(lines) == N_ROWS + 1


def test_score_summary_json(data: Path, model: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    result = run(
        "score", data / "test.csv", "-m", model, "-o", tmp_path / "out.csv",
        "--summary-json", summary,
    )  # fmt: skip
    assert result.exit_code == 0
    facts = json.loads(summary.read_text())
    assert facts["status"] == "ok"
    assert facts["exit_code"] == 0
    assert facts["rows_read"] == facts["rows_scored"] == N_ROWS
    assert facts["rows_rejected"] == 0
    assert facts["anomalies"] >= 10
    assert facts["method"] == "fpr"
    assert facts["model"] == str(model)
    assert facts["input"] == str(data / "test.csv")
    assert facts["output"] == str(tmp_path / "out.csv")
    for key in ("started", "finished"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", facts[key])
    assert facts["seconds"] >= 0
    assert facts["anomvae_version"]
    assert isinstance(facts["threshold"], float)


def test_score_summary_json_on_failure(data: Path, model: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    result = run(
        "score", tmp_path / "missing.csv", "-m", model, "-o", tmp_path / "out.csv",
        "--summary-json", summary,
    )  # fmt: skip
    assert result.exit_code == 1
    facts = json.loads(summary.read_text())
    assert (facts["status"], facts["exit_code"]) == ("error", 1)
    assert "no such file" in facts["error"]
    assert facts["rows_scored"] is None
    assert not (tmp_path / "out.csv").exists()


def test_score_fail_on_anomalies_and_threshold(
    data: Path, model: Path, tmp_path: Path
) -> None:
    out, summary = tmp_path / "out.csv", tmp_path / "s.json"
    args = ["score", data / "test.csv", "-m", model, "-o", out, "--fail-on-anomalies"]
    result = run(*args, "--summary-json", summary)
    assert result.exit_code == 3
    assert out.exists()  # the output is written before the exit code says "anomalies"
    facts = json.loads(summary.read_text())
    assert (facts["status"], facts["exit_code"]) == ("anomalies", 3)
    result = run(*args, "--threshold", "1e9")
    assert result.exit_code == 0
    assert not read_csv(out)["is_anomaly"].any()
    assert "above threshold 1e+09" in result.stderr


def bad_file(data: Path, folder: Path, row: int, column: str, cell: str) -> Path:
    frame = read_csv(data / "test.csv").astype({column: str})
    frame.loc[row - 1, column] = cell
    path = folder / "bad.csv"
    frame.to_csv(path, index=False)
    return path


def test_score_skip_writes_valid_rows_and_rejects(
    data: Path, model: Path, tmp_path: Path
) -> None:
    frame = read_csv(data / "test.csv").astype({"x1": str, "x2": str})
    frame.loc[4, "x1"] = "oops"
    frame.loc[6, "x2"] = "inf"
    frame.to_csv(tmp_path / "bad.csv", index=False)
    out, rejects = tmp_path / "out.csv", tmp_path / "rejects.csv"
    result = run(
        "score", tmp_path / "bad.csv", "-m", model, "-o", out, "-i", "id",
        "--on-invalid", "skip", "--rejects", rejects,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "2 rows rejected (in" in result.stderr
    scored = read_csv(out)
    assert len(scored) == N_ROWS - 2
    assert "r4" not in scored["id"].tolist()
    assert "r6" not in scored["id"].tolist()
    assert read_csv(rejects).to_dict("records") == [
        {"row": 5, "column": "x1", "value": "oops", "reason": "not a number"},
        {"row": 7, "column": "x2", "value": "inf", "reason": "infinite"},
    ]
    result = run(
        "score", tmp_path / "bad.csv", "-m", model, "-o", out, "--on-invalid", "skip"
    )
    assert result.exit_code == 0
    assert "warning: 2 rows rejected, the first:" in result.stderr
    assert "row 5, column 'x1': 'oops' is not a number" in result.stderr


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing file", r"missing\.csv: no such file"),
        ("empty file", r"the file is empty \(0 bytes\)"),
        ("header only", r"no data rows \(only a header\)"),
        ("wrong delimiter", r"missing columns 'x0', 'x1'.*try --sep ';'"),
        ("missing columns", r"missing columns 'x2', 'x3' \(the model needs: 'x0'"),
        ("text", r"row 3, column 'x2': 'high' is not a number"),
        ("NaN", r"row 3, column 'x2': NaN is not allowed"),
        ("inf", r"row 3, column 'x2': infinite value \(inf\) is not allowed"),
        ("empty cell", r"row 3, column 'x2': missing value \(empty cell\)"),
        ("malformed line", r"row 3: expected 7 fields, found 8"),
        ("directory", r"is a directory"),
    ],
)
def test_score_data_errors(
    data: Path, model: Path, tmp_path: Path, case: str, message: str
) -> None:
    text = (data / "test.csv").read_text()
    lines = text.splitlines(keepends=True)
    path = tmp_path / "in.csv"
    cells = {"text": "high", "NaN": "NaN", "inf": "inf", "empty cell": ""}
    if case in cells:
        path = bad_file(data, tmp_path, 3, "x2", cells[case])
    elif case == "missing file":
        path = tmp_path / "missing.csv"
    elif case == "directory":
        path = tmp_path
    else:
        path.write_text(
            {
                "empty file": "",
                "header only": lines[0],
                "wrong delimiter": text.replace(",", ";"),
                "missing columns": "".join(",".join(line.split(",")[:3]) + "\n" for line in lines),
                "malformed line": "".join(lines[:3]) + lines[3].rstrip() + ",9\n"
                + "".join(lines[4:]),
            }[case]
        )  # fmt: skip
    out = tmp_path / "out.csv"
    out.write_text("previous output\n")
    summary = tmp_path / "summary.json"
    result = run("score", path, "-m", model, "-o", out, "--summary-json", summary)
    assert result.exit_code == 1
    assert re.search(message, error_line(result))
    assert out.read_text() == "previous output\n"
    assert leftovers(tmp_path) == []
    assert json.loads(summary.read_text())["exit_code"] == 1


def test_score_allow_empty_writes_a_header(
    data: Path, model: Path, tmp_path: Path
) -> None:
    header = (data / "test.csv").read_text().splitlines()[0]
    (tmp_path / "in.csv").write_text(header + "\n")
    out = tmp_path / "out.csv"
    result = run(
        "score", tmp_path / "in.csv", "-m", model, "-o", out, "-i", "id",
        "--allow-empty", "--explain", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert out.read_text() == (
        "id,score,p_value,is_anomaly,top1_feature,top1_share,top1_reason\n"
    )


@pytest.mark.parametrize("case", ["missing", "truncated", "not a model", "tampered"])
def test_score_model_errors(data: Path, model: Path, tmp_path: Path, case: str) -> None:
    path = tmp_path / "model.anomvae"
    blob = model.read_bytes()
    if case == "truncated":
        path.write_bytes(blob[: len(blob) // 2])
    elif case == "not a model":
        path.write_bytes((data / "test.csv").read_bytes())
    elif case == "tampered":
        path.write_bytes(blob[:-8] + bytes([blob[-8] ^ 1]) + blob[-7:])
    out = tmp_path / "out.csv"
    result = run("score", data / "test.csv", "-m", path, "-o", out)
    assert result.exit_code == 1
    line = error_line(result)
    assert str(path) in line
    assert {
        "missing": "model file not found",
        "truncated": "not a readable anomvae model file",
        "not a model": "not a readable anomvae model file",
        "tampered": "checksum mismatch",
    }[case] in line
    assert not out.exists()


def test_score_unwritable_outputs(data: Path, model: Path, tmp_path: Path) -> None:
    for out, message in [
        (tmp_path / "no" / "out.csv", "does not exist"),
        (tmp_path, "it is a directory"),
    ]:
        result = run("score", data / "test.csv", "-m", model, "-o", out)
        assert result.exit_code == 1
        assert message in error_line(result)
    result = run(
        "score", data / "test.csv", "-m", model, "-o", tmp_path / "out.csv",
        "--on-invalid", "skip", "--rejects", tmp_path / "no" / "rejects.csv",
    )  # fmt: skip
    assert result.exit_code == 1
    assert not (tmp_path / "out.csv").exists()
    assert leftovers(tmp_path) == []


class _Inline:
    """The single-threaded path: every call goes straight to the TableWriter."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.writer.__exit__(*exc)

    def write(self, table: Any) -> None:
        self.writer.write(table)

    def flush(self) -> None:
        pass


BATCHED = ["--batch-rows", "7", "-i", "id", "-q"]  # 300 rows: 42 batches of 7, one of 6


@pytest.mark.parametrize("name", ["out.csv", "out.parquet", "-"])
def test_score_write_behind_is_byte_identical(
    data: Path, model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Writing in a background thread changes nothing in the output."""
    from anomvae.io import threads

    outputs = []
    for inline in (False, True):
        if inline:
            monkeypatch.setattr(threads, "WriteBehind", _Inline)
        out = "-" if name == "-" else tmp_path / f"{inline}-{name}"
        result = run(
            "score", data / "test.csv", "-m", model, "-o", out, *BATCHED,
            "--keep-columns", "--row-numbers", "--explain", "2",
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
        outputs.append(result.stdout_bytes if out == "-" else Path(out).read_bytes())
    assert outputs[0] == outputs[1]
    if name.endswith(".parquet"):
        frame = pq.read_table(io.BytesIO(outputs[0])).to_pandas()
    else:
        frame = pd.read_csv(io.BytesIO(outputs[0]), keep_default_na=False)
    assert frame["row"].tolist() == list(range(1, N_ROWS + 1))
    assert frame["id"].tolist() == [f"r{i}" for i in range(N_ROWS)]


@pytest.mark.parametrize("fail_at", ["3rd batch", "last batch"])
@pytest.mark.parametrize(
    ("error", "message"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
        (pa.ArrowInvalid("unwritable value"), "unwritable value"),
    ],
)
def test_score_write_error_in_writer_thread(
    data: Path,
    model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fail_at: str,
    error: Exception,
    message: str,
) -> None:
    """A failed background write fails the run (exit 1, one line), promptly,
    and discards the output; the previous output stays."""
    calls: list[int] = []
    write_csv = pcsv.write_csv

    def failing(table: pa.Table, sink: Any, **kwargs: Any) -> None:
        calls.append(table.num_rows)  # calls[0]: the header (0 rows)
        if len(calls) == 4 if fail_at == "3rd batch" else table.num_rows == 6:
            raise error
        write_csv(table, sink, **kwargs)

    monkeypatch.setattr(pcsv, "write_csv", failing)
    out = tmp_path / "out.csv"
    out.write_text("yesterday\n")
    result = run("score", data / "test.csv", "-m", model, "-o", out, *BATCHED)
    assert result.exit_code == 1
    assert message in error_line(result)
    assert out.read_text() == "yesterday\n"
    assert leftovers(tmp_path) == []
    assert len(calls) == (4 if fail_at == "3rd batch" else 44)  # none after it
    assert not any(t.name == "anomvae-writer" for t in threading.enumerate())


@pytest.mark.parametrize(
    "args",
    [
        ["--rejects", "r.csv"],
        ["--on-invalid", "maybe"],
        ["--explain", "-1"],
        ["--threshold", "nan"],
        ["--engine", "spark"],
        ["--sep", "::"],
        ["--output-sep", ""],
        ["--summary-json", "OUT"],
        ["--bogus"],
    ],
)
def test_score_usage_errors_exit_2(
    data: Path, model: Path, tmp_path: Path, args: list[str]
) -> None:
    out = tmp_path / "out.csv"
    args = [str(out) if a == "OUT" else a for a in args]
    result = run("score", data / "test.csv", "-m", model, "-o", out, *args)
    assert result.exit_code == 2
    assert "Error: " in result.stderr
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_score_verbose_logs_and_quiet(data: Path, model: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    result = run("score", data / "test.csv", "-m", model, "-o", out, "-v")
    lines = result.stderr.strip().splitlines()
    assert lines
    prefix = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ level=(info|warning) cmd=score event=\S+"
    logfmt = r'( [a-z_]+=("([^"\\]|\\.)*"|[^ "]+))*'
    for line in lines:
        assert re.fullmatch(prefix + logfmt, line), line
    assert any(f"event=score.done rows_read={N_ROWS} " in line for line in lines)
    result = run("score", data / "missing.csv", "-m", model, "-o", out, "-v")
    assert result.exit_code == 1
    assert re.search(
        r"level=error cmd=score event=score.failed error=\".*no such file",
        result.stderr,
    )
    result = run("score", data / "test.csv", "-m", model, "-o", out, "-q")
    assert (result.exit_code, result.stderr) == (0, "")


# ------------------------------------------------------------------------ evaluate
def test_evaluate_text_and_json(data: Path, model: Path) -> None:
    from sklearn.metrics import roc_auc_score

    result = run("evaluate", data / "test.csv", "-m", model, "--label-column", "label")
    assert result.exit_code == 0, result.stderr
    assert "10 labelled anomalies" in result.stdout
    assert re.search(r"AUROC\s+[\d.]+", result.stdout)
    assert "confusion         tp=10" in result.stdout
    facts = json.loads(
        run("evaluate", data / "test.csv", "-m", model, "-y", "label", "--json").stdout
    )
    scores = read_csv(data / "scores.csv") if (data / "scores.csv").exists() else None
    assert facts["rows"] == N_ROWS
    assert facts["anomalies"] == 10
    assert facts["confusion"]["tp"] + facts["confusion"]["fn"] == 10
    assert sum(facts["confusion"].values()) == N_ROWS
    assert facts["recall"] == 1.0
    if scores is not None:
        labels = read_csv(data / "test.csv")["label"]
        assert facts["auroc"] == pytest.approx(roc_auc_score(labels, scores["score"]))


def test_evaluate_label_conventions_and_errors(
    data: Path, model: Path, tmp_path: Path
) -> None:
    frame = read_csv(data / "test.csv")
    frame["pm"] = np.where(frame["label"] == 1, -1, 1)
    frame["flag"] = np.where(frame["label"] == 1, "true", "false")
    frame["one"] = 0
    frame["bad"] = frame["label"].astype(str)
    frame.loc[7, "bad"] = "maybe"
    frame.to_csv(tmp_path / "in.csv", index=False)
    base = json.loads(
        run(
            "evaluate", tmp_path / "in.csv", "-m", model, "-y", "label", "--json"
        ).stdout
    )
    for column in ("pm", "flag"):
        facts = json.loads(
            run(
                "evaluate", tmp_path / "in.csv", "-m", model, "-y", column, "--json"
            ).stdout
        )
        assert facts["auroc"] == base["auroc"]
        assert facts["confusion"] == base["confusion"]
    result = run("evaluate", tmp_path / "in.csv", "-m", model, "-y", "one", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["auroc"] is None
    assert "only one class" in result.stderr
    result = run("evaluate", tmp_path / "in.csv", "-m", model, "-y", "bad")
    assert result.exit_code == 1
    assert "row 8, column 'bad': 'maybe' is not a label" in error_line(
        result, "evaluate"
    )
    result = run("evaluate", tmp_path / "in.csv", "-m", model, "-y", "nope")
    assert result.exit_code == 1
    assert "missing column 'nope'" in error_line(result, "evaluate")
    assert run("evaluate", tmp_path / "in.csv", "-m", model).exit_code == 2


# ----------------------------------------------------------------------- calibrate
def test_calibrate_bare_model_in_place(
    data: Path, bare_model: Path, tmp_path: Path
) -> None:
    path = tmp_path / "m.anomvae"
    path.write_bytes(bare_model.read_bytes())
    assert json.loads(run("info", path, "--json").stdout)["calibrated"] is False
    result = run(
        "calibrate", data / "train.csv", "-m", path, "--method", "conformal:0.05"
    )
    assert result.exit_code == 0, result.stderr
    assert f"recalibrated on {N_ROWS} rows" in result.stderr
    facts = json.loads(run("info", path, "--json").stdout)
    assert (facts["calibrated"], facts["method"]) == (True, "conformal")
    scored = tmp_path / "out.csv"
    run("score", data / "test.csv", "-m", path, "-o", scored)
    assert "p_value" in read_csv(scored).columns


def test_calibrate_to_new_file_and_change_method(
    data: Path, model: Path, tmp_path: Path
) -> None:
    before = model.read_bytes()
    new = tmp_path / "new.anomvae"
    result = run(
        "calibrate", data / "test.csv", "-m", model, "-o", new,
        "--label-column", "label", "--method", "contamination:0.1",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert f"recalibrated on {N_ROWS - 10} rows" in result.stderr
    assert model.read_bytes() == before
    described = json.loads(run("info", new, "--json").stdout)
    assert described["method"] == "contamination"
    assert described["id_columns"] == ["id"]  # kept from the fitted model


def test_calibrate_errors_leave_the_model(
    data: Path, model: Path, tmp_path: Path
) -> None:
    path = tmp_path / "m.anomvae"
    path.write_bytes(model.read_bytes())
    result = run("calibrate", data / "train.csv", "-m", path, "--method", "fpr:0.001")
    assert result.exit_code == 1
    assert "needs at least 999" in error_line(result, "calibrate")
    assert path.read_bytes() == model.read_bytes()
    result = run("calibrate", data / "train.csv", "-m", path, "--method", "fpr")
    assert result.exit_code == 0
    bad = bad_file(data, tmp_path, 2, "x0", "x")
    result = run("calibrate", bad, "-m", path)
    assert result.exit_code == 1
    assert "row 2, column 'x0'" in error_line(result, "calibrate")
    assert (
        run("calibrate", data / "train.csv", "-m", path, "--method", "f1").exit_code
        == 2
    )
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------- info, misc
def test_info_errors(tmp_path: Path) -> None:
    (tmp_path / "m.anomvae").write_bytes(b"garbage")
    for path in (tmp_path / "m.anomvae", tmp_path / "missing.anomvae"):
        result = run("info", path)
        assert result.exit_code == 1
        error_line(result, "info")


def test_datasets_list_and_export(tmp_path: Path) -> None:
    from anomvae.datasets import describe, list_datasets

    result = run("datasets", "list")
    assert result.exit_code == 0
    for name in list_datasets():
        assert name in result.stdout
    listed = json.loads(run("datasets", "list", "--json").stdout)
    assert [d["name"] for d in listed] == list_datasets()
    out = tmp_path / "cardio.csv"
    result = run("datasets", "export", "cardio", "-o", out)
    assert result.exit_code == 0, result.stderr
    frame = pd.read_csv(out)
    assert len(frame) == describe("cardio")["n_samples"]
    assert "label" in frame.columns
    result = run("datasets", "export", "thyroid", "-o", tmp_path / "t.parquet", "-q")
    assert (result.exit_code, result.stderr) == (0, "")
    assert (
        pq.read_table(tmp_path / "t.parquet").num_rows
        == describe("thyroid")["n_samples"]
    )
    result = run("datasets", "export", "nope", "-o", tmp_path / "x.csv")
    assert result.exit_code == 1
    assert "available datasets: arrhythmia" in error_line(result, "datasets export")
    assert not (tmp_path / "x.csv").exists()


def test_engine_registry_hook() -> None:
    from anomvae.distributed.engine import score_job
    from anomvae.jobs import ENGINES, get_engine, score_local

    assert ENGINES == {
        "local": "anomvae.jobs:score_local",
        "dask": "anomvae.distributed.engine:score_job",
    }
    assert get_engine("local") is score_local
    assert get_engine("dask") is score_job


def test_key_file_signs_and_verifies_the_model(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANOMVAE_MODEL_KEY", raising=False)
    key, other = tmp_path / "key", tmp_path / "other"
    key.write_text("correct horse\n")
    other.write_text("battery staple\n")
    path = tmp_path / "signed.anomvae"
    fitted = run("fit", data / "train.csv", "-o", path, "-i", "id", *TINY,
                 "--key-file", key)  # fmt: skip
    assert fitted.exit_code == 0, fitted.stderr
    out = tmp_path / "s.csv"
    ok = run("score", data / "test.csv", "-m", path, "-o", out, "--key-file", key)
    assert ok.exit_code == 0, ok.stderr
    bad = run("score", data / "test.csv", "-m", path, "-o", out, "--key-file", other)
    assert bad.exit_code == 1
    assert "signed with another key" in error_line(bad)
    described = run("info", path, "--key-file", key)
    assert "signed)" in described.stdout.splitlines()[0]
    missing = run("info", path, "--key-file", tmp_path / "nope")
    assert missing.exit_code == 2
