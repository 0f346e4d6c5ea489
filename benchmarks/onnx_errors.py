"""How closely an exported ONNX graph reproduces ``anomaly_score``: the figures of
the deployment guide.

    python -m benchmarks.onnx_errors [--out benchmarks/results/onnx_errors.md]

Fits the models that ``tests/test_onnx.py`` exports besides the plain detectors
(the same small settings: 150 gradient steps, hidden widths 32 and 16,
``random_state=0``), exports each with :func:`anomvae.onnx.export_onnx` in the
dtype it gets by default (``dtype="auto"``: float64, float32 for convolutional
models) and in float32, runs the graph with onnxruntime on every row of the data,
and reports the largest relative error against the detector's own
``anomaly_score`` in float64:

* a ``ConditionalVAEDetector`` conditioned on two numeric columns of the bundled
  cardio data (``LB`` and ``DL``), fitted on its normal rows, scored on all rows;
* a Bernoulli ``VAEDetector`` (min-max scaling, ELBO score) on cardio;
* a convolutional ``AutoencoderDetector`` (8x8 images, reconstruction score, 30
  steps as in the test) fitted on the first 1,000 of scikit-learn's digits and
  scored on all 1,797.

The relative error of a row is ``|onnx - detector| / |detector|``; the table gives
its maximum over rows, and ``max |error| / median |score|``, which stays meaningful
for a score that crosses zero. One torch thread; the figures are deterministic for
a given platform and library versions.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main", "measure"]

FAST = {"max_steps": 150, "hidden_layer_sizes": (32, 16), "random_state": 0}
OUT = Path(__file__).resolve().parent / "results" / "onnx_errors.md"


def _models() -> list[tuple[str, Any, Any, np.ndarray]]:
    """(case, fitted detector, what the detector scores, the graph's input)."""
    from sklearn.datasets import load_digits

    from anomvae import AutoencoderDetector, ConditionalVAEDetector, VAEDetector
    from anomvae.datasets import load

    frame, y = load("cardio")
    normal = frame[y == 0]
    cvae = ConditionalVAEDetector(condition_columns=("LB", "DL"), **FAST).fit(normal)
    bernoulli = VAEDetector(
        likelihood="bernoulli",
        scaler="minmax",
        score_type="elbo",
        n_score_samples=16,
        **FAST,
    ).fit(normal.to_numpy())
    digits = load_digits().data
    conv = AutoencoderDetector(
        architecture="conv",
        image_shape=(8, 8),
        max_steps=30,
        score_type="reconstruction",
        random_state=0,
    ).fit(digits[:1000])
    X = frame.to_numpy()
    return [
        ("conditional VAE, numeric conditions (cardio)", cvae, frame, X),
        ("Bernoulli VAE, ELBO score (cardio)", bernoulli, X, X),
        ("convolutional autoencoder (digits)", conv, digits, digits),
    ]


def measure() -> list[dict[str, Any]]:
    """One row per model and export dtype: the errors described above."""
    import onnxruntime as ort
    import torch

    from anomvae.onnx import export_onnx

    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case, det, X_det, X in _models():
            ref = det.anomaly_score(X_det)
            graphs: set[str] = set()
            for dtype in ("auto", "float32"):
                path = Path(tmp) / "model.onnx"
                try:
                    export_onnx(det, path, dtype=dtype)
                except ValueError as err:  # the graph's own reproduction check
                    rows.append({"case": case, "dtype": dtype, "error": str(err)})
                    continue
                options = ort.SessionOptions()
                options.intra_op_num_threads = 1
                sess = ort.InferenceSession(
                    str(path), options, providers=["CPUExecutionProvider"]
                )
                kind = sess.get_inputs()[0].type
                np_dtype = np.float64 if kind == "tensor(double)" else np.float32
                if kind in graphs:  # "auto" is already float32 (convolutions)
                    continue
                graphs.add(kind)
                got = sess.run(None, {"X": np.ascontiguousarray(X, dtype=np_dtype)})[0]
                err = np.abs(got.astype(np.float64) - ref)
                rows.append(
                    {
                        "case": case,
                        "dtype": dtype,
                        "graph": "float64" if np_dtype is np.float64 else "float32",
                        "rows": len(ref),
                        "max_rel": float(np.max(err / np.abs(ref))),
                        "max_over_median": float(err.max() / np.median(np.abs(ref))),
                    }
                )
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    """The Markdown report."""
    import onnxruntime
    import torch

    import anomvae

    lines = [
        "# ONNX export: how closely the graph reproduces `anomaly_score`",
        "",
        "Produced by `python -m benchmarks.onnx_errors`; "
        f"anomvae {anomvae.__version__}, torch {torch.__version__}, onnxruntime "
        f"{onnxruntime.__version__}, Python {platform.python_version()}, one thread. "
        "Design in the script's docstring: 150 gradient steps, `random_state=0`, "
        "every row of the data scored by the detector (float64) and by the "
        "exported graph. A convolutional model's `auto` graph is float32 "
        "(onnxruntime has no float64 convolution), so it has one row.",
        "",
        "| model | export `dtype` | graph | rows | max relative error "
        "| max abs. error / median abs. score |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['case']} | `{r['dtype']}` | refused: {r['error']} |||")
            continue
        lines.append(
            f"| {r['case']} | `{r['dtype']}` | {r['graph']} | {r['rows']:,} "
            f"| {r['max_rel']:.1e} | {r['max_over_median']:.1e} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Command line: measure and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    text = render(measure())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text, end="")


if __name__ == "__main__":
    main()
