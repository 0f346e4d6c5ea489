"""Distributed scoring on a real Dask LocalCluster (2 worker processes on loopback).

Models are tiny (30 training steps); the inputs are a few thousand rows in mixed
CSV and Parquet files. The cluster is started once for the module.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

pytest.importorskip("distributed")
import dask.dataframe as dd
from distributed import Client, LocalCluster

from anomvae.cli import app
from anomvae.distributed import (
    input_files,
    model_loads,
    score_dask,
    score_partition,
)
from anomvae.exceptions import DataError
from anomvae.io import TEMP_SUFFIX, OutputError

FEATURES = ["x0", "x1", "x2", "x3"]
N_FILES, ROWS = 4, 1000
runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """model.anomvae and in/: 2 CSV and 2 Parquet files, ids 0..3999."""
    import torch

    from anomvae import AutoencoderDetector
    from anomvae.persistence import save

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("dist")
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.normal(size=(500, 4)), columns=FEATURES)
    save(
        AutoencoderDetector(max_steps=30, random_state=0).fit(train),
        folder / "model.anomvae",
    )
    (folder / "in").mkdir()
    for i in range(N_FILES):
        frame = pd.DataFrame(rng.normal(size=(ROWS, 4)).round(6), columns=FEATURES)
        frame.loc[:4, "x1"] = 30.0  # a few anomalies per file
        frame.insert(0, "id", np.arange(i * ROWS, (i + 1) * ROWS))
        if i % 2:
            frame.to_csv(folder / "in" / f"part{i}.csv", index=False)
        else:
            frame.to_parquet(folder / "in" / f"part{i}.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


def local_scores(files: Path, tmp_path: Path, **cli: Any) -> pd.DataFrame:
    """``anomvae score`` (local engine) on each input file, concatenated."""
    frames = []
    extra = [str(a) for kv in cli.items() for a in kv]
    for path in input_files(files / "in"):
        out = tmp_path / (Path(path).name + ".out.parquet")
        result = runner.invoke(
            app,
            [
                "score",
                path,
                "-m",
                str(files / "model.anomvae"),
                "-o",
                str(out),
                "-i",
                "id",
                "-q",
                *extra,
            ],
        )
        assert result.exit_code == 0, result.stderr
        frames.append(pd.read_parquet(out))
    return by_id(pd.concat(frames))


def by_id(frame: pd.DataFrame) -> pd.DataFrame:
    """Sorted by id; ids as int (from CSV, ``anomvae score`` copies them as text)."""
    frame = frame.assign(id=frame["id"].astype("int64"))
    return frame.sort_values("id").reset_index(drop=True)


def no_temp_dirs(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX)]


# ---------------------------------------------------------------- pandas level
def test_score_partition_matches_score_batch(files: Path) -> None:
    from anomvae.batch import score_batch
    from anomvae.persistence import load

    frame = pd.read_parquet(files / "in" / "part0.parquet")
    out = score_partition(frame, files / "model.anomvae", id_columns=["id"], explain=2)
    # As the local engine does: a C-ordered float64 array. (A DataFrame takes
    # another memory layout into torch and can differ by ~1e-14.)
    features = np.ascontiguousarray(frame[FEATURES].to_numpy(np.float64))
    expected = score_batch(load(files / "model.anomvae"), features, explain=2)
    assert list(out.columns) == ["id", *expected.column_names]
    assert out["id"].tolist() == frame["id"].tolist()
    np.testing.assert_array_equal(out["score"], expected["score"].to_numpy())
    assert out["top1_feature"].tolist() == expected["top1_feature"].to_pylist()


def test_score_partition_loads_the_model_once(files: Path) -> None:
    frame = pd.read_parquet(files / "in" / "part0.parquet")
    score_partition(frame, files / "model.anomvae")
    before = model_loads()
    for _ in range(3):
        score_partition(frame, files / "model.anomvae")
    assert model_loads() == before


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("abc", "'abc' is not a number"),
        (np.nan, r"missing value \(null\)"),  # pandas: NaN = missing
        (np.inf, "infinite value"),
    ],
)
def test_score_partition_names_row_and_column_of_invalid_cell(
    files: Path, value: Any, reason: str
) -> None:
    frame = pd.read_parquet(files / "in" / "part0.parquet").astype({"x2": object})
    frame.loc[6, "x2"] = value
    with pytest.raises(DataError, match=rf"p7: row 7, column 'x2': {reason}"):
        score_partition(frame, files / "model.anomvae", source="p7")


def test_score_partition_missing_column(files: Path) -> None:
    frame = pd.read_parquet(files / "in" / "part0.parquet").drop(columns="x3")
    with pytest.raises(DataError, match=r"p: missing column.*'x3'"):
        score_partition(frame, files / "model.anomvae", source="p")


# ---------------------------------------------------------------- on the cluster
def test_dask_output_identical_to_single_process_score(
    files: Path, client: Client, tmp_path: Path
) -> None:
    out = tmp_path / "scores"
    n = score_dask(
        files / "in", files / "model.anomvae", out, id_columns=["id"], explain=2
    )
    assert n == N_FILES
    assert sorted(p.name for p in out.iterdir()) == [
        f"part.{i}.parquet" for i in range(N_FILES)
    ]
    got = by_id(pd.read_parquet(out))
    expected = local_scores(files, tmp_path, **{"--explain": 2})
    assert len(got) == N_FILES * ROWS
    assert got["id"].is_unique
    # Same reader, same batches, same model: exact equality, no tolerance.
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=0, atol=0)
    assert got["is_anomaly"].sum() >= N_FILES * 5
    # Each worker loaded the model once, however many partitions it scored.
    assert set(client.run(model_loads).values()) <= {0, 1}
    assert no_temp_dirs(tmp_path)


def test_glob_and_dataframe_inputs(files: Path, client: Client, tmp_path: Path) -> None:
    score_dask(
        str(files / "in" / "*.parquet"),
        files / "model.anomvae",
        tmp_path / "a",
        id_columns=["id"],
    )
    got = by_id(pd.read_parquet(tmp_path / "a"))
    assert len(got) == 2 * ROWS
    whole = pd.concat(
        pd.read_parquet(p) for p in sorted((files / "in").glob("*.parquet"))
    )
    ddf = dd.from_pandas(whole, npartitions=3)
    assert (
        score_dask(ddf, files / "model.anomvae", tmp_path / "b", id_columns=["id"]) == 3
    )
    from_frame = by_id(pd.read_parquet(tmp_path / "b"))
    # Other row blocks reach torch (3 partitions instead of 2 files), and a
    # row's score can change in the last bit with the block's size: 1e-12.
    pd.testing.assert_frame_equal(
        from_frame, got, check_dtype=False, atol=0, rtol=1e-12
    )


def test_invalid_cell_fails_with_file_row_column_and_no_output(
    files: Path, client: Client, tmp_path: Path
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.csv").write_text("id,x0,x1,x2,x3\n1,0,0,0,0\n")
    (bad / "b.csv").write_text("id,x0,x1,x2,x3\n1,0,0,0,0\n2,0,oops,0,0\n")
    with pytest.raises(DataError, match=r"b\.csv: row 2, column 'x1': 'oops'"):
        score_dask(bad, files / "model.anomvae", tmp_path / "out", id_columns=["id"])
    assert not (tmp_path / "out").exists()
    assert no_temp_dirs(tmp_path)


def test_existing_output_replaced_only_if_it_is_a_dataset(
    files: Path, client: Client, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "part.9.parquet").write_bytes(b"stale")
    score_dask(files / "in" / "part0.parquet", files / "model.anomvae", out)
    assert sorted(p.name for p in out.iterdir()) == ["part.0.parquet"]
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="other than Parquet parts"):
        score_dask(files / "in", files / "model.anomvae", out)
    assert (out / "notes.txt").exists()
    assert no_temp_dirs(tmp_path)


def test_worker_killed_mid_run_output_complete(
    files: Path, client: Client, tmp_path: Path
) -> None:
    """The worker scoring partition 3 dies (os._exit) the first time; Dask reruns
    the task elsewhere and every row is written exactly once."""
    marker = tmp_path / "killed"
    paths = input_files(files / "in") * 2  # 8 partitions, 8,000 rows

    def read(path: str, number: int) -> pd.DataFrame:
        import os
        import time

        import pandas as pd

        frame = pd.read_csv(path) if path.endswith(".csv") else pd.read_parquet(path)
        frame["id"] = frame["id"] + number * 10_000
        if number == 3 and not os.path.exists(marker):
            open(marker, "w").close()
            time.sleep(0.2)
            os._exit(1)
        return frame

    meta = pd.read_parquet(files / "in" / "part0.parquet").iloc[:0]
    ddf = dd.from_map(
        read, paths, list(range(len(paths))), meta=meta, enforce_metadata=False
    )
    out = tmp_path / "out"
    score_dask(ddf, files / "model.anomvae", out, id_columns=["id"])
    assert marker.exists()
    got = pd.read_parquet(out)
    expected = [
        n * 10_000 + i
        for n, p in enumerate(paths)
        for i in range(int(Path(p).stem[-1]) * ROWS, (int(Path(p).stem[-1]) + 1) * ROWS)
    ]
    assert sorted(got["id"].tolist()) == sorted(expected)
    assert got["id"].is_unique
    client.wait_for_workers(2, timeout=60)


# ---------------------------------------------------------------- command line
def test_cli_dask_engine_with_scheduler(
    files: Path, client: Client, tmp_path: Path
) -> None:
    out = tmp_path / "scores"
    result = runner.invoke(
        app,
        [
            "score",
            str(files / "in"),
            "-m",
            str(files / "model.anomvae"),
            "-o",
            str(out),
            "-i",
            "id",
            "--engine",
            "dask",
            "--scheduler",
            client.scheduler.address,
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert f"scored {N_FILES * ROWS:,} rows" in result.stderr
    got = by_id(pd.read_parquet(out))
    pd.testing.assert_frame_equal(
        got, local_scores(files, tmp_path), check_dtype=False, atol=0, rtol=0
    )
    # A model that remembers its id column (as anomvae fit -i id saves it).
    from anomvae.persistence import load, save

    remembering = tmp_path / "ids.anomvae"
    save(load(files / "model.anomvae"), remembering, metadata={"id_columns": ["id"]})
    result = runner.invoke(
        app,
        ["score", str(files / "in"), "-m", str(remembering), "-o", str(out),
         "--engine", "dask", "--scheduler", client.scheduler.address, "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    pd.testing.assert_frame_equal(by_id(pd.read_parquet(out)), got)


def test_cli_dask_engine_local_cluster(files: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores"
    result = runner.invoke(
        app,
        [
            "score",
            str(files / "in" / "*.csv"),
            "-m",
            str(files / "model.anomvae"),
            "-o",
            str(out),
            "--engine",
            "dask",
            "--workers",
            "1",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert len(pd.read_parquet(out)) == 2 * ROWS


@pytest.mark.parametrize(
    "args",
    [
        ["--workers", "2"],  # local engine
        ["--engine", "dask", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"],
        ["--engine", "dask", "--keep-columns"],
        ["--engine", "dask", "--on-invalid", "skip"],
    ],
)
def test_cli_engine_option_usage_errors(
    files: Path, tmp_path: Path, args: list[str]
) -> None:
    result = runner.invoke(
        app,
        [
            "score",
            str(files / "in"),
            "-m",
            str(files / "model.anomvae"),
            "-o",
            str(tmp_path / "o"),
            *args,
        ],
    )
    assert result.exit_code == 2, result.stderr
    assert not (tmp_path / "o").exists()


def test_cli_dask_engine_refuses_stdout(files: Path) -> None:
    result = runner.invoke(
        app,
        [
            "score",
            str(files / "in"),
            "-m",
            str(files / "model.anomvae"),
            "-o",
            "-",
            "--engine",
            "dask",
        ],
    )
    assert result.exit_code == 2


# ---------------------------------------------------------------- run reports
@pytest.fixture(scope="module")
def calibrated(files: Path) -> Path:
    """A calibrated copy of the autoencoder (fpr:0.01 on 300 held-out rows)."""
    from anomvae import AutoencoderDetector, ThresholdCalibrator
    from anomvae.persistence import save

    train = pd.DataFrame(
        np.random.default_rng(1).normal(size=(1500, 4)), columns=FEATURES
    )
    model = ThresholdCalibrator(
        AutoencoderDetector(max_steps=30, random_state=0), random_state=0
    ).fit(train)
    save(model, files / "calibrated.anomvae")
    return files / "calibrated.anomvae"


def dask_report(
    files: Path, model: Path, client: Client, tmp_path: Path, data: Path
) -> dict[str, Any]:
    report = tmp_path / "run.json"
    result = runner.invoke(
        app,
        ["score", str(data), "-m", str(model), "-o", str(tmp_path / "scores"),
         "-i", "id", "--engine", "dask", "--scheduler", client.scheduler.address,
         "--report", str(report), "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return json.loads(report.read_text())


def test_dask_report_is_the_merge_of_the_local_engines_file_reports(
    files: Path, calibrated: Path, client: Client, tmp_path: Path
) -> None:
    """Equal, not just consistent: each file's monitor is fed the same rows, with
    the same row numbers within the same file, as the local engine's monitor of
    that file, and monitors merge exactly (counts add; the row sample is chosen by
    a hash of file and row number, whatever the order). So the report equals the
    local engine's monitors of the files merged, field for field."""
    from anomvae.jobs import ScoreJob, score_local
    from anomvae.persistence import load
    from anomvae.reporting import Reporter

    got = dask_report(files, calibrated, client, tmp_path, files / "in")
    assert got["rows_scored"] == N_FILES * ROWS
    assert len(got["input"]["files"]) == N_FILES
    model = load(calibrated)
    merged = None
    for i, path in enumerate(input_files(files / "in")):
        job = ScoreJob(
            data=path,
            model_path=str(calibrated),
            output=str(tmp_path / f"local{i}.parquet"),
            id_columns=("id",),
            report=True,
        )
        monitor = score_local(job, model, Reporter("score", quiet=True)).monitor
        assert monitor is not None
        merged = monitor if merged is None else merged.merge(monitor)
    assert merged is not None
    expected = merged.finish()
    assert {k: got[k] for k in expected} == expected
    assert got["flag_count_test"] is not None
    assert len(got["columns"]) == len(FEATURES)

    # One local run over the files concatenated numbers the rows 1..4000 of one
    # source: the same counts and flag-count test, another row sample, so the KS
    # tests are only statistically consistent (here: no alarm either way).
    whole = pd.concat(pd.read_csv(p) if p.endswith(".csv") else pd.read_parquet(p)
                      for p in input_files(files / "in"))  # fmt: skip
    whole.to_csv(tmp_path / "whole.csv", index=False)
    job = ScoreJob(
        data=str(tmp_path / "whole.csv"),
        model_path=str(calibrated),
        output=str(tmp_path / "whole.parquet"),
        report=True,
    )
    single = score_local(job, model, Reporter("score", quiet=True)).monitor
    assert single is not None
    one = single.finish()
    for key in ("rows_scored", "flags", "flag_rate", "flag_count_test", "sample"):
        assert one[key] == got[key], key
    assert one["alarm"] is got["alarm"] is False


def test_dask_report_counts_the_whole_inputs_benjamini_hochberg_flags(
    files: Path, client: Client, tmp_path: Path
) -> None:
    from anomvae import AutoencoderDetector, ThresholdCalibrator
    from anomvae.persistence import save

    # 1,000 calibration rows: p-values down to 1/1001, so BH at 0.3 can select
    # the 20 rows with x1 = 30 among 4,000 (0.3 x 20 / 4000 = 1.5e-3).
    train = pd.DataFrame(
        np.random.default_rng(2).normal(size=(2000, 4)), columns=FEATURES
    )
    bh = ThresholdCalibrator(
        AutoencoderDetector(max_steps=30, random_state=0),
        method="conformal",
        fdr=0.3,
        calibration_size=1000,
        random_state=0,
    ).fit(train)
    save(bh, tmp_path / "bh.anomvae")
    got = dask_report(files, tmp_path / "bh.anomvae", client, tmp_path, files / "in")
    flags = int(pd.read_parquet(tmp_path / "scores")["is_anomaly"].sum())
    assert got["flags"] == flags > 0


def test_dask_report_of_a_failed_run(
    files: Path, calibrated: Path, client: Client, tmp_path: Path
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.csv").write_text("id,x0,x1,x2,x3\n1,0,0,0,0\n2,0,oops,0,0\n")
    report = tmp_path / "run.json"
    result = runner.invoke(
        app,
        ["score", str(bad), "-m", str(calibrated), "-o", str(tmp_path / "scores"),
         "--engine", "dask", "--scheduler", client.scheduler.address,
         "--report", str(report), "--fail-on-drift"],
    )  # fmt: skip
    assert result.exit_code == 1
    got = json.loads(report.read_text())
    assert got["status"] == "error"
    assert "row 2, column 'x1'" in got["error"]
    assert got["input"]["files"][0]["path"] == str(bad / "a.csv")


# ---------------------------------------------------------------- Spark
def test_spark_map_in_pandas(files: Path) -> None:
    """The same function through Spark's mapInPandas (skipped without pyspark)."""
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers: this venv
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    try:
        model = str(files / "model.anomvae")
        frame = pd.read_parquet(files / "in" / "part0.parquet")
        sdf = spark.createDataFrame(frame).repartition(3)

        def score(batches: Any) -> Any:
            from anomvae.distributed import score_partition

            for batch in batches:
                yield score_partition(batch, model, id_columns=["id"])

        got = sdf.mapInPandas(score, "id long, score double, is_anomaly boolean")
        got = by_id(got.toPandas())
    finally:
        spark.stop()
    expected = score_partition(frame, model, id_columns=["id"])
    pd.testing.assert_frame_equal(
        got, by_id(expected), check_dtype=False, atol=1e-12, rtol=0
    )
