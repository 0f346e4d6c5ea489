"""Rows/s of ``anomvae score --engine dask`` with 1 and 2 workers against
single-process ``anomvae score`` on the same multi-file dataset.

    python -m benchmarks.bench_distributed [--files 8] [--rows 50000]

Single process: one ``anomvae score FILE --threads 1`` subprocess per file,
sequentially (what a shell loop does; process start and model load included).
Dask: a LocalCluster of N single-threaded worker processes on loopback; the time
is ``score_dask`` on the whole directory (cluster start excluded, reported apart).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make_data(folder: Path, files: int, rows: int, features: int) -> Path:
    import torch

    from anomvae import AutoencoderDetector
    from anomvae.persistence import save

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    cols = [f"x{j}" for j in range(features)]
    train = pd.DataFrame(rng.normal(size=(2000, features)), columns=cols)
    save(
        AutoencoderDetector(max_steps=30, random_state=0).fit(train),
        folder / "model.anomvae",
    )
    (folder / "in").mkdir()
    for i in range(files):
        frame = pd.DataFrame(rng.normal(size=(rows, features)), columns=cols)
        frame.insert(0, "id", np.arange(i * rows, (i + 1) * rows))
        frame.to_parquet(folder / "in" / f"part{i:03d}.parquet", index=False)
    return folder / "model.anomvae"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--features", type=int, default=16)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    from anomvae.distributed import score_dask

    total = args.files * args.rows
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = make_data(folder, args.files, args.rows, args.features)
        start = time.perf_counter()
        for path in sorted((folder / "in").iterdir()):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "anomvae",
                    "score",
                    str(path),
                    "-m",
                    str(model),
                    "-o",
                    str(folder / f"{path.stem}.out.parquet"),
                    "-i",
                    "id",
                    "--threads",
                    "1",
                    "-q",
                ],
                check=True,
            )
        single = time.perf_counter() - start
        print(
            f"single-process anomvae score: {total:,} rows in {single:.2f} s = "
            f"{total / single:,.0f} rows/s"
        )
        for workers in (1, 2):
            t0 = time.perf_counter()
            with (
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                ) as cluster,
                Client(cluster),
            ):
                up = time.perf_counter() - t0
                start = time.perf_counter()
                score_dask(
                    folder / "in", model, folder / f"dask{workers}", id_columns=["id"]
                )
                took = time.perf_counter() - start
            print(
                f"dask, {workers} worker(s): {total:,} rows in {took:.2f} s = "
                f"{total / took:,.0f} rows/s (cluster start {up:.1f} s)"
            )


if __name__ == "__main__":
    main()
