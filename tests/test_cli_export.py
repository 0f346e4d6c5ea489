"""``anomvae export`` through typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from anomvae.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from anomvae import AutoencoderDetector
    from anomvae.persistence import save

    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("export") / "model.anomvae"
    X = pd.DataFrame(
        np.random.default_rng(0).normal(size=(300, 3)), columns=list("abc")
    )
    save(AutoencoderDetector(max_steps=30, random_state=0).fit(X), path)
    return path


def test_export_writes_onnx_and_reports_path_and_threshold(
    model: Path, tmp_path: Path
) -> None:
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    out = tmp_path / "model.onnx"
    result = runner.invoke(app, ["export", str(model), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert str(out) in result.stderr
    assert "score >" in result.stderr
    assert result.stdout == ""
    session = ort.InferenceSession(str(out))
    assert [o.name for o in session.get_outputs()] == ["score", "is_anomaly"]


def test_export_options(model: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    out = tmp_path / "model.onnx"
    result = runner.invoke(
        app,
        [
            "export",
            str(model),
            "-o",
            str(out),
            "--no-threshold",
            "--dtype",
            "float32",
            "--opset",
            "13",
        ],
    )
    assert result.exit_code == 0, result.stderr
    session = ort.InferenceSession(str(out))
    assert [o.name for o in session.get_outputs()] == ["score"]
    assert session.get_inputs()[0].type == "tensor(float)"


def test_export_to_stdout_is_a_usage_error(model: Path) -> None:
    result = runner.invoke(app, ["export", str(model), "-o", "-"])
    assert result.exit_code == 2


@pytest.mark.parametrize(
    "args",
    [["--opset", "3"], ["--dtype", "float16"]],
)
def test_export_bad_values(model: Path, tmp_path: Path, args: list[str]) -> None:
    out = tmp_path / "m.onnx"
    result = runner.invoke(app, ["export", str(model), "-o", str(out), *args])
    assert result.exit_code in (1, 2), result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_export_missing_model_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    result = runner.invoke(app, ["export", str(tmp_path / "nope"), "-o", str(out)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("anomvae export: error: ")
    assert not out.exists()
