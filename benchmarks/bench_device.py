"""Training and scoring throughput of anomvae's AE and VAE on whatever device is
present (CPU or CUDA), as JSON and a markdown table.

    python -m benchmarks.bench_device                    # device="auto"
    python -m benchmarks.bench_device --device cuda --out bench-gpu/
    python -m benchmarks.bench_device --quick --threads 2   # a CPU smoke run
    python -m benchmarks.bench_device --precisions float32  # no bfloat16 rows

Data are synthetic (normal rows on a noisy low-rank subspace, float64, seed 0), so
the numbers measure speed only, and every machine runs the same rows. For each
size, detector and training precision (``--precisions``: the detectors'
``precision`` parameter, float32 and bfloat16 autocast by default) it reports:

* **training**: ``fit`` with a fixed step budget (``--steps``, no early stopping).
  ``fit_s`` is its wall time; ``train_s`` is ``fit_s`` less one scoring pass over
  the training rows, which ``fit`` runs at the end to set ``offset_`` (for the
  VAE's 32-sample score that pass can exceed the training itself). Throughput is
  ``steps / train_s`` and ``steps * batch_size / train_s`` rows per second; it
  includes moving the data to the device and the per-epoch validation pass.
  bfloat16 is reported as measured on whatever device is present: on a CPU
  without native bfloat16 matrix units, autocast is usually slower than float32.
* **scoring**: ``anomaly_score`` on the training rows, median of ``--repeats``
  runs, in rows per second. On CUDA it is also measured with the network cast to
  float64 (``score_f64_rows_per_s``), which is what CPU scoring uses: it shows the
  price of CPU-identical, batch-independent scores on that GPU. Scoring never
  autocasts, so the training precision changes only which model is scored.

A small fit and score run first and are not timed (CUDA context, kernel loading,
allocator warm-up). Results are written to ``--out`` as ``bench_device.json`` and
``bench_device.md`` and the table is printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from anomvae import AutoencoderDetector, VAEDetector

__all__ = [
    "PRECISIONS",
    "QUICK_SIZES",
    "SIZES",
    "environment",
    "main",
    "run",
    "synthetic",
]

#: (rows, features) of the default run and of ``--quick``.
SIZES: tuple[tuple[int, int], ...] = ((10_000, 32), (100_000, 64), (200_000, 256))
QUICK_SIZES: tuple[tuple[int, int], ...] = ((2_000, 16), (10_000, 32))

DETECTORS: dict[str, Callable[..., Any]] = {
    "ae": AutoencoderDetector,
    "vae": VAEDetector,
}
#: Training precisions measured by default (the detectors' ``precision`` values).
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")

COLUMNS = (
    ("detector", "detector", "{}"),
    ("precision", "precision", "{}"),
    ("n_rows", "rows", "{:,}"),
    ("n_features", "features", "{}"),
    ("fit_s", "fit s", "{:.2f}"),
    ("train_s", "train s", "{:.2f}"),
    ("steps_per_s", "steps/s", "{:,.0f}"),
    ("train_rows_per_s", "train rows/s", "{:,.0f}"),
    ("score_s", "score s", "{:.3f}"),
    ("score_rows_per_s", "score rows/s", "{:,.0f}"),
    ("score_f64_rows_per_s", "score rows/s (f64)", "{:,.0f}"),
)


def synthetic(n_rows: int, n_features: int, *, seed: int = 0) -> np.ndarray:
    """Rows on a noisy rank-``max(2, d // 4)`` subspace, in mixed units."""
    rng = np.random.default_rng(seed)
    rank = max(2, n_features // 4)
    basis = rng.normal(size=(rank, n_features))
    units = np.logspace(-1, 2, n_features)
    latent = rng.normal(size=(n_rows, rank))
    noise = 0.05 * rng.normal(size=(n_rows, n_features))
    return (latent @ basis + noise) * units


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], Any], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def resolve_device(device: str) -> torch.device:
    """ "auto" -> CUDA when available, else CPU (as the detectors resolve it)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {device}: CUDA is not available on this machine")
    return resolved


def environment(device: torch.device) -> dict[str, Any]:
    """Versions and hardware, recorded next to the numbers."""
    import anomvae
    from anomvae.devices import resolve_precision

    env: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "anomvae": anomvae.__version__,
        "device": str(device),
        "precision_auto": resolve_precision("auto", device),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
            tf32_cudnn=torch.backends.cudnn.allow_tf32,
        )
    return env


def _detector(
    name: str,
    device: torch.device,
    steps: int,
    batch_size: int,
    precision: str = "float32",
) -> Any:
    return DETECTORS[name](
        max_steps=steps,
        max_epochs=10**6,
        patience=None,
        batch_size=batch_size,
        device=str(device),
        precision=precision,
        random_state=0,
    )


def _score_rate(det: Any, X: np.ndarray, device: torch.device, repeats: int) -> float:
    times = [_timed(lambda: det.anomaly_score(X), device) for _ in range(repeats)]
    return statistics.median(times)


def measure(
    name: str,
    X: np.ndarray,
    device: torch.device,
    *,
    steps: int,
    batch_size: int,
    repeats: int,
    precision: str = "float32",
) -> dict[str, Any]:
    """One row of the table: fit ``X`` with detector ``name`` at training
    ``precision``, and score it."""
    det = _detector(name, device, steps, batch_size, precision)
    fit_s = _timed(lambda: det.fit(X), device)
    score_s = _score_rate(det, X, device, repeats)
    train_s = max(fit_s - score_s, 1e-9)
    row: dict[str, Any] = {
        "detector": name,
        "precision": precision,
        "training_precision": det.training_precision_,
        "n_rows": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "device": str(device),
        "batch_size": batch_size,
        "n_steps": int(det.n_steps_),
        "n_epochs": int(det.n_iter_),
        "fit_s": fit_s,
        "train_s": train_s,
        "steps_per_s": det.n_steps_ / train_s,
        "train_rows_per_s": det.n_steps_ * batch_size / train_s,
        "score_s": score_s,
        "score_rows_per_s": X.shape[0] / score_s,
        "score_f64_rows_per_s": None,
    }
    if device.type == "cuda":
        # The latent scores compare against the reference codes: cast them too.
        det.network_ = det.network_.to(torch.float64)
        ref = det.latent_reference_
        det.latent_reference_ = dataclasses.replace(
            ref, codes=ref.codes.to(torch.float64)
        )
        row["score_f64_rows_per_s"] = X.shape[0] / _score_rate(det, X, device, repeats)
    return row


def run(
    device: torch.device,
    sizes: Sequence[tuple[int, int]],
    detectors: Sequence[str],
    *,
    steps: int,
    batch_size: int,
    repeats: int,
    precisions: Sequence[str] = PRECISIONS,
    log: Callable[[str], None] = lambda _: None,
) -> list[dict[str, Any]]:
    """Every (size, detector, precision) row, after an untimed warm-up."""
    warm = synthetic(512, 8, seed=1)
    for name in detectors:
        for precision in precisions:
            _detector(name, device, 5, 64, precision).fit(warm).anomaly_score(warm)
    rows = []
    for n_rows, n_features in sizes:
        X = synthetic(n_rows, n_features)
        for name in detectors:
            for precision in precisions:
                log(f"{name} {precision} on {n_rows:,} x {n_features} ({device}) ...")
                rows.append(
                    measure(
                        name,
                        X,
                        device,
                        steps=steps,
                        batch_size=batch_size,
                        repeats=repeats,
                        precision=precision,
                    )
                )
    return rows


def markdown(rows: Sequence[dict[str, Any]], env: dict[str, Any]) -> str:
    """The results as a markdown table, headed by the device."""
    where = env.get("gpu") or (
        f"CPU, {env['cpu_count']} cores, {env['torch_threads']} torch threads"
    )
    lines = [
        f"Device: {env['device']} - {where}; torch {env['torch']}, "
        f"anomvae {env['anomvae']}",
        "",
        "| " + " | ".join(title for _, title, _ in COLUMNS) + " |",
        "|"
        + "|".join(
            "---" if key in ("detector", "precision") else "--:"
            for key, _, _ in COLUMNS
        )
        + "|",
    ]
    for row in rows:
        cells = [
            "-" if row[key] is None else fmt.format(row[key]) for key, _, fmt in COLUMNS
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _size(text: str) -> tuple[int, int]:
    rows, _, cols = text.lower().partition("x")
    try:
        return int(rows.replace("_", "")), int(cols)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size {text!r}: expected ROWSxFEATURES, e.g. 100000x64"
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_device",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--sizes",
        type=lambda s: [_size(p) for p in s.split(",")],
        default=None,
        help="comma-separated ROWSxFEATURES (default: 10000x32,100000x64,200000x256)",
    )
    parser.add_argument(
        "--detectors",
        type=lambda s: s.split(","),
        default=list(DETECTORS),
        help="comma-separated: ae,vae",
    )
    parser.add_argument(
        "--precisions",
        type=lambda s: s.split(","),
        default=list(PRECISIONS),
        help="comma-separated training precisions: float32,bfloat16 (auto allowed)",
    )
    parser.add_argument("--steps", type=int, default=500, help="gradient steps per fit")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="scoring repeats")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--quick", action="store_true", help="small sizes, 100 steps")
    parser.add_argument("--out", type=Path, default=None, help="folder for JSON + md")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.detectors) - set(DETECTORS))
    if unknown:
        parser.error(f"unknown detector(s) {unknown}; choose from {list(DETECTORS)}")
    choices = [*PRECISIONS, "auto"]
    unknown = sorted(set(args.precisions) - set(choices))
    if unknown:
        parser.error(f"unknown precision(s) {unknown}; choose from {choices}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    steps = 100 if args.quick and args.steps == 500 else args.steps
    env = environment(device)
    rows = run(
        device,
        sizes,
        args.detectors,
        steps=steps,
        batch_size=args.batch_size,
        repeats=args.repeats,
        precisions=args.precisions,
        log=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    table = markdown(rows, env)
    print(table, end="")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        payload: dict[str, Any] = {
            "environment": env,
            "settings": vars(args) | {"steps": steps, "sizes": sizes},
            "results": rows,
        }
        (args.out / "bench_device.json").write_text(
            json.dumps(payload, indent=2, default=str) + "\n"
        )
        (args.out / "bench_device.md").write_text(table)
        print(f"wrote {args.out}/bench_device.json and .md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
