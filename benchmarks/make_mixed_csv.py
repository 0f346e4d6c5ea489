"""A synthetic mixed-type CSV of any length, for throughput benchmarks of the CLI.

``make_mixed_csv(path, n_rows)`` writes an ``id`` column, then numeric columns
(standard normal, and every second one heavy-tailed: lognormal x 1,000),
categorical columns with ``n_levels`` levels of Zipf-like frequencies (the first
categorical column holds zero-padded digit codes ``"000"``, ``"001"``, ... that a
reader must keep as strings; the others ``"cat1_level07"``-style names), and
``true``/``false`` boolean columns. Every cell but the id is blank with
probability ``blank_rate``. Rows are generated and written in chunks of
``chunk_rows`` with pyarrow, so memory does not grow with ``n_rows``; the file
is the same for the same ``seed`` and ``chunk_rows``.
``benchmarks/results/mixed/make_mixed_csv.txt`` holds the output of runs at
100,000 and 1,000,000 rows (time, size and peak memory).

Run ``python -m benchmarks.make_mixed_csv OUT.csv --rows 1000000
[--kinds-json OUT.json]``; the JSON holds the column kinds in the ``columns``
format of ``../shared/datasets/mixed/schema.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

__all__ = ["make_mixed_csv", "mixed_column_kinds"]


def mixed_column_kinds(
    n_numeric: int = 8, n_categorical: int = 4, n_boolean: int = 4
) -> dict[str, str]:
    """The generated file's columns (without ``id``) and their kinds."""
    return {
        **{f"num{i}": "numeric" for i in range(n_numeric)},
        **{f"cat{i}": "categorical" for i in range(n_categorical)},
        **{f"flag{i}": "boolean" for i in range(n_boolean)},
    }


def _levels(column: int, n_levels: int) -> pa.Array:
    if column == 0:
        return pa.array([f"{k:03d}" for k in range(n_levels)])
    return pa.array([f"cat{column}_level{k:02d}" for k in range(n_levels)])


def make_mixed_csv(
    path: str | os.PathLike[str],
    n_rows: int,
    *,
    n_numeric: int = 8,
    n_categorical: int = 4,
    n_boolean: int = 4,
    n_levels: int = 50,
    blank_rate: float = 0.02,
    seed: int = 0,
    chunk_rows: int = 100_000,
) -> dict[str, str]:
    """Write the CSV and return its column kinds (:func:`mixed_column_kinds`).

    Parameters
    ----------
    path : path-like
        Output file (overwritten).
    n_rows : int
        Data rows (plus one header line).
    n_numeric, n_categorical, n_boolean : int
        Columns of each kind.
    n_levels : int
        Levels of each categorical column; level k is drawn with probability
        proportional to 1 / (k + 1).
    blank_rate : float
        Probability that a cell (other than ``id``) is empty.
    seed : int
        Seed of ``numpy.random.default_rng``.
    chunk_rows : int
        Rows generated and written at a time.
    """
    rng = np.random.default_rng(seed)
    kinds = mixed_column_kinds(n_numeric, n_categorical, n_boolean)
    levels = [_levels(j, n_levels) for j in range(n_categorical)]
    weights = 1.0 / np.arange(1, n_levels + 1)
    weights /= weights.sum()
    options = pcsv.WriteOptions(quoting_style="none")
    with pa.OSFile(os.fspath(path), "wb") as sink:
        for start in range(0, max(n_rows, 1), chunk_rows):
            n = min(chunk_rows, n_rows - start)
            if n <= 0:
                break
            columns = [pa.array(np.arange(start, start + n, dtype=np.int64))]
            for i in range(n_numeric):
                values = rng.standard_normal(n)
                if i % 2:
                    values = np.exp(values) * 1_000.0
                blank = rng.random(n) < blank_rate
                columns.append(pa.array(np.round(values, 6), mask=blank))
            for j in range(n_categorical):
                index = rng.choice(n_levels, size=n, p=weights).astype(np.int32)
                blank = rng.random(n) < blank_rate
                coded = pa.DictionaryArray.from_arrays(
                    pa.array(index, mask=blank), levels[j]
                )
                columns.append(coded.dictionary_decode())
            for _ in range(n_boolean):
                values = rng.random(n) < 0.3
                blank = rng.random(n) < blank_rate
                columns.append(pa.array(values, mask=blank))
            table = pa.table(columns, names=["id", *kinds])
            options.include_header = start == 0
            pcsv.write_csv(table, sink, write_options=options)
    return kinds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.make_mixed_csv", description=__doc__.split("\n")[0]
    )
    parser.add_argument("out", type=Path, help="CSV file to write")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--numeric", type=int, default=8)
    parser.add_argument("--categorical", type=int, default=4)
    parser.add_argument("--boolean", type=int, default=4)
    parser.add_argument("--levels", type=int, default=50)
    parser.add_argument("--blank-rate", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument(
        "--kinds-json", type=Path, default=None, help="also write the column kinds"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    kinds = make_mixed_csv(
        args.out,
        args.rows,
        n_numeric=args.numeric,
        n_categorical=args.categorical,
        n_boolean=args.boolean,
        n_levels=args.levels,
        blank_rate=args.blank_rate,
        seed=args.seed,
        chunk_rows=args.chunk_rows,
    )
    if args.kinds_json is not None:
        columns = [{"name": name, "kind": kind} for name, kind in kinds.items()]
        args.kinds_json.write_text(json.dumps({"columns": columns}, indent=1) + "\n")
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    size_mb = args.out.stat().st_size / 2**20
    print(
        f"wrote {args.rows:,} rows x {len(kinds) + 1} columns ({size_mb:,.0f} MiB) "
        f"to {args.out} in {seconds:.1f} s; peak RSS {peak_mb:,.0f} MiB"
    )


if __name__ == "__main__":
    main()
