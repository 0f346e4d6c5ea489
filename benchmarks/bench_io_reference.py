"""Reference time for ``anomvae score``: read every batch and write it back out.

``anomvae score`` = read + score + write. This module times read + write alone,
with the same reader and writer (:func:`anomvae.io.read_batches`,
:class:`anomvae.io.TableWriter`), writing an id column plus one cheap float
column in place of the score, so ``score time / reference time`` shows what
scoring adds. It never imports torch.

Run ``python -m benchmarks.bench_io_reference --rows 1000000 --cols 20``.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from anomvae.io import TableWriter, read_batches

__all__ = ["feature_names", "make_csv", "reference_time"]


def feature_names(n_features: int) -> list[str]:
    """Names of the synthetic feature columns: ``x0``, ``x1``, ..."""
    return [f"x{j}" for j in range(n_features)]


def make_csv(
    path: str | os.PathLike[str],
    n_rows: int,
    n_features: int,
    *,
    seed: int = 0,
    sep: str = ",",
    chunk_rows: int = 200_000,
) -> Path:
    """Write a synthetic CSV: an ``id`` column and ``n_features`` normal floats.

    Values have 6 decimals (about 9 characters each), like typical sensor data.
    Written in chunks, so memory stays small for any ``n_rows``.

    Returns
    -------
    Path
        ``path``.
    """
    rng = np.random.default_rng(seed)
    names = ["id", *feature_names(n_features)]
    options = pcsv.WriteOptions(delimiter=sep, quoting_style="none")
    with pa.OSFile(os.fspath(path), "wb") as sink:
        for start in range(0, n_rows, chunk_rows):
            stop = min(start + chunk_rows, n_rows)
            values = np.round(rng.standard_normal((stop - start, n_features)), 6)
            table = pa.table([pa.array(np.arange(start, stop)), *values.T], names=names)
            options.include_header = start == 0
            pcsv.write_csv(table, sink, write_options=options)
    return Path(path)


def reference_time(
    path: str | os.PathLike[str],
    columns: list[str],
    *,
    out_path: str | os.PathLike[str] | None = None,
    passthrough: tuple[str, ...] = ("id",),
    sep: str | None = None,
    **read_kwargs: Any,
) -> dict[str, float]:
    """Time reading every batch of ``path`` and writing ``passthrough`` + a score.

    Parameters
    ----------
    path : path-like
        Input, as for :func:`anomvae.io.read_batches`.
    columns : list of str
        Feature columns.
    out_path : path-like, optional
        Output file (format from its extension); a temporary CSV by default,
        deleted afterwards.
    passthrough, sep, **read_kwargs
        Passed to :func:`anomvae.io.read_batches`.

    Returns
    -------
    dict
        ``rows``, ``read_s`` (reading and converting), ``write_s``, ``total_s``,
        ``rows_per_s`` (on ``total_s``) and ``peak_rss_mb`` (of the process).
    """
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp, "reference.csv") if out_path is None else Path(out_path)
        read_s = write_s = 0.0
        rows = 0
        start = time.perf_counter()
        with (
            TableWriter(target) as writer,
            read_batches(
                path, columns=columns, passthrough=passthrough, sep=sep, **read_kwargs
            ) as reader,
        ):
            tick = time.perf_counter()
            for batch in reader:
                tock = time.perf_counter()
                read_s += tock - tick
                score = batch.features.sum(axis=1)  # stands in for the model
                writer.write(batch.passthrough.append_column("score", pa.array(score)))
                rows += len(batch)
                tick = time.perf_counter()
                write_s += tick - tock
        total_s = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "rows": float(rows),
        "read_s": read_s,
        "write_s": write_s,
        "total_s": total_s,
        "rows_per_s": rows / total_s if total_s else float("nan"),
        "peak_rss_mb": peak,
    }


def main(argv: list[str] | None = None) -> None:
    """Command line: generate a CSV (unless ``--input``) and time the reference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=20)
    parser.add_argument("--input", type=Path, help="existing CSV with x0.. columns")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.input or make_csv(Path(tmp, "data.csv"), args.rows, args.cols)
        size_mb = os.path.getsize(path) / 2**20
        result = reference_time(path, feature_names(args.cols))
    print(
        f"{int(result['rows']):,} rows x {args.cols} features ({size_mb:.0f} MB): "
        f"read {result['read_s']:.2f} s + write {result['write_s']:.2f} s = "
        f"{result['total_s']:.2f} s, {result['rows_per_s']:,.0f} rows/s, "
        f"peak RSS {result['peak_rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
