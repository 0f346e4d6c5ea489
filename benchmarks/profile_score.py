"""Where ``anomvae score``'s time goes: CPU time per row of each stage, one thread.

Fits the default ``VAEDetector`` (5 epochs, as ``benchmarks.bench_cli``) on a
generated CSV (an id and 20 float columns), then, on another generated file and
with one torch thread, times each stage on its own, in CPU seconds per row:

* reading (:func:`anomvae.io.read_batches`: parsing and checking, to float64);
* scoring, taken apart: validation and scaling (``_tensors``), the encoder, the
  latent k-NN search, the decoder and reconstruction error, the whole
  ``anomaly_score``, and ``score_batch`` (which adds the output columns);
* writing (:class:`anomvae.io.TableWriter`, id + score + flag to CSV).

Then the ten functions with the most own time under :mod:`cProfile` while
``score_batch`` runs over every batch. Only public functions and the estimator's
fitted attributes are used, so the same script profiles an older checkout
(``PYTHONPATH=old-tree``): that is how ``benchmarks/results/score_profile.md``
shows before and after.

Run ``python -m benchmarks.profile_score [--rows 200000] [--score-type
reconstruction] [--out FILE]``. ``--searches`` instead times the exact k-NN
search against scikit-learn's trees and faiss (:func:`compare_searches`).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.bench_io_reference import feature_names, make_csv

__all__ = ["compare_searches", "main", "profile_stages"]


def _cpu(fn: Callable[[], Any], repeats: int = 3) -> tuple[float, Any]:
    """Smallest CPU time of ``repeats`` calls (the machine is shared) and the
    last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.process_time()
        out = fn()
        best = min(best, time.process_time() - start)
    return best, out


def profile_stages(rows: int, score_type: str, folder: Path) -> dict[str, Any]:
    """CPU microseconds per row of each stage, and the cProfile summary."""
    import pandas as pd
    import pyarrow as pa
    import torch

    from anomvae import VAEDetector
    from anomvae.batch import score_batch
    from anomvae.io import TableWriter, read_batches
    from anomvae.neighbors import latent_knn_distance

    torch.set_num_threads(1)
    names = feature_names(20)
    train = pd.read_csv(make_csv(folder / "train.csv", 20_000, 20, seed=1))[names]
    det = VAEDetector(max_epochs=5, random_state=0, score_type=score_type)
    det.fit(train)
    data = make_csv(folder / "data.csv", rows, 20)
    us: dict[str, float] = {}
    seconds, batches = _cpu(
        lambda: list(read_batches(data, columns=names, passthrough=("id",))), 1
    )
    us["read (parse, check, float64)"] = seconds
    frames = [pd.DataFrame(b.features, columns=names) for b in batches]
    net, ref = det.network_, det.latent_reference_
    with torch.no_grad():
        seconds, tensors = _cpu(lambda: [det._tensors(f)[0] for f in frames])
        us["validate + scale"] = seconds
        seconds, codes = _cpu(lambda: [net.encode(x)[0] for x in tensors])
        us["encoder"] = seconds
        if score_type != "reconstruction":
            us[f"latent k-NN search ({len(ref.codes):,} codes, k={ref.k})"] = _cpu(
                lambda: [latent_knn_distance(z, ref.codes, ref.k) for z in codes]
            )[0]
        us["decoder + squared error"] = _cpu(
            lambda: [
                (net.decode(z) - x).square().mean(-1)
                for z, x in zip(codes, tensors, strict=True)
            ]
        )[0]
    us["anomaly_score (all of scoring)"] = _cpu(
        lambda: [det.anomaly_score(f) for f in frames]
    )[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seconds, tables = _cpu(lambda: [score_batch(det, b.features) for b in batches])
    us["score_batch (+ output columns)"] = seconds
    out = folder / "out.csv"

    def write() -> None:
        with TableWriter(out) as writer:
            for b, t in zip(batches, tables, strict=True):
                columns = b.passthrough.columns + t.columns
                names_out = b.passthrough.column_names + t.column_names
                writer.write(pa.Table.from_arrays(columns, names=names_out))

    us["write (CSV: id, score, flag)"] = _cpu(write, 1)[0]
    profiler = cProfile.Profile()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        profiler.enable()
        for b in batches:
            score_batch(det, b.features)
        profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(10)
    return {
        "rows": rows,
        "score_type": score_type,
        "codes": len(ref.codes),
        "us_per_row": {k: v / rows * 1e6 for k, v in us.items()},
        "cprofile": text.getvalue(),
        "load": os.getloadavg(),
    }


def compare_searches(queries: int = 65_536) -> dict[str, Any]:
    """CPU microseconds per query row of exact 3-nearest-neighbour searches among
    the 4,096 reference codes of the default ``VAEDetector``: anomvae's own
    (:func:`anomvae.neighbors.latent_knn_distance`), scikit-learn's ``KDTree`` and
    ``BallTree``, and faiss's exact ``IndexFlatL2`` where ``faiss`` is importable
    (it is not a dependency: ``pip install faiss-cpu`` beside the project to
    include it). The queries are the codes of generated rows, one torch thread."""
    import numpy as np
    import pandas as pd
    import torch
    from sklearn.neighbors import BallTree, KDTree

    from anomvae import VAEDetector
    from anomvae.neighbors import latent_knn_distance

    torch.set_num_threads(1)
    rng = np.random.default_rng(1)
    names = feature_names(20)
    train = pd.DataFrame(np.round(rng.standard_normal((20_000, 20)), 6), columns=names)
    det = VAEDetector(max_epochs=5, random_state=0).fit(train)
    rows = pd.DataFrame(rng.standard_normal((queries, 20)), columns=names)
    with torch.no_grad():
        codes = det.network_.encode(det._tensors(rows)[0])[0]
    ref = det.latent_reference_.codes
    k = det.latent_reference_.k
    reference = ref.numpy()
    query = codes.numpy()
    us: dict[str, float] = {}
    with torch.no_grad():
        exact = latent_knn_distance(codes, ref, k).numpy()
        us["anomvae latent_knn_distance"] = _cpu(
            lambda: latent_knn_distance(codes, ref, k)
        )[0]
    for name, cls in (
        ("scikit-learn KDTree", KDTree),
        ("scikit-learn BallTree", BallTree),
    ):
        tree = cls(reference)
        seconds, (dist, _) = _cpu(lambda tree=tree: tree.query(query, k=k), 1)
        us[name] = seconds
        np.testing.assert_allclose(dist[:, -1], exact, rtol=1e-9)
    try:
        import faiss  # type: ignore[import-not-found]
    except ImportError:
        faiss = None
    if faiss is not None:
        faiss.omp_set_num_threads(1)
        index = faiss.IndexFlatL2(reference.shape[1])
        index.add(reference.astype(np.float32))
        q32 = query.astype(np.float32)
        us[f"faiss {faiss.__version__} IndexFlatL2 (float32 search only)"] = _cpu(
            lambda: index.search(q32, k)
        )[0]
    return {
        "queries": queries,
        "codes": len(reference),
        "k": k,
        "us_per_row": {name: v / queries * 1e6 for name, v in us.items()},
        "faiss": faiss is not None,
        "load": os.getloadavg(),
    }


def searches_markdown(result: dict[str, Any], command: str) -> str:
    """The search comparison as Markdown."""
    lines = [
        f"### Exact {result['k']}-NN among {result['codes']:,} codes, "
        f"{result['queries']:,} queries (`{command}`)",
        "",
        "Load average (1, 5, 15 min) after the run: "
        + ", ".join(f"{x:.2f}" for x in result["load"])
        + ("" if result["faiss"] else "; faiss not installed, so not measured"),
        "",
        "| search | CPU µs per row |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v:.2f} |" for k, v in result["us_per_row"].items()]
    return "\n".join(lines) + "\n"


def markdown(result: dict[str, Any], command: str) -> str:
    """The result as Markdown."""
    lines = [
        f"### `{result['score_type']}`, {result['rows']:,} rows x 20 (`{command}`)",
        "",
        "Load average (1, 5, 15 min) after the run: "
        + ", ".join(f"{x:.2f}" for x in result["load"]),
        "",
        "| stage | CPU µs per row |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v:.2f} |" for k, v in result["us_per_row"].items()]
    lines += [
        "",
        "cProfile of `score_batch` over every batch (own time):",
        "",
        "```text",
    ]
    body = [
        line.rstrip()
        for line in result["cprofile"].splitlines()
        if line.strip() and "Ordered by" not in line and "List reduced" not in line
    ]
    lines += [line.replace(str(Path.cwd()) + "/", "") for line in body]
    lines += ["```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line of the profile."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--score-type", default="hybrid")
    parser.add_argument(
        "--searches",
        action="store_true",
        help="compare the k-NN search with scikit-learn's trees and faiss instead",
    )
    parser.add_argument("--out", type=Path, help="append the Markdown here")
    args = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["python -m benchmarks.profile_score", *given])
    if args.searches:
        text = searches_markdown(compare_searches(), command)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = profile_stages(args.rows, args.score_type, Path(tmp))
        text = markdown(result, command)
    if args.out is not None:
        with args.out.open("a") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
