"""Where the time of scoring a mixed table goes, stage by stage, in one process.

``python -m benchmarks.bench_mixed_stages DATA.csv MODEL.anomvae [--repeats 2]``
reads DATA with the reader call ``anomvae score`` makes for MODEL, then times
each stage of the scoring path separately, in the scoring batches ``score``
uses: the arrow-to-pandas conversion of the text columns (``model_input``), the
table encoder (``TableEncoder.encode``), the conversion to tensors, the
network's encoder and decoder, the per-cell likelihoods (``table_surprise``,
what the reconstruction score averages) and the latent k-NN distance (the
hybrid score's second term). The last repeat is reported, with its shares.
One thread (``torch.set_num_threads(1)``), as ``score --threads 1``.

Used on the file and model of :mod:`benchmarks.bench_cli_mixed` (see
``benchmarks/results/mixed/throughput_stages.txt``) to find the hot spots of
mixed scoring before optimising any of them.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any


def stage_times(data: str, model_path: str, repeats: int = 2) -> dict[str, Any]:
    """Seconds per stage over every row of ``data`` (last of ``repeats``)."""
    import torch

    import anomvae
    from anomvae.batch import model_info, model_input
    from anomvae.devices import rows_tensor
    from anomvae.io import read_batches
    from anomvae.runtime import DEFAULT_BATCH_ROWS
    from anomvae.scoring import latent_knn_distance, table_surprise
    from anomvae.tabular import TableBatch

    torch.set_num_threads(1)
    model = anomvae.load(model_path)
    info = model_info(model)
    times: dict[str, float] = {}

    def lap(stage: str, start: float) -> float:
        now = time.perf_counter()
        times[stage] = times.get(stage, 0.0) + now - start
        return now

    rows = 0
    for _ in range(repeats):
        times.clear()
        t = time.perf_counter()
        with read_batches(
            data,
            columns=info.feature_columns,
            passthrough=("id", *info.other_columns),
            blank_ok=info.blank_columns,
        ) as reader:
            batches = list(reader)
        t = lap("read (pyarrow; part of the floor)", t)
        net = model.network_
        net.train(False)
        param = next(net.parameters())
        reference = model.latent_reference_
        rows = sum(len(b) for b in batches)
        for batch in batches:
            t = time.perf_counter()
            frame = model_input(info, batch.features, batch.passthrough)
            t = lap("model_input (arrow -> pandas)", t)
            encoded = model._encode(frame)
            t = lap("TableEncoder.encode", t)
            x = rows_tensor(encoded.inputs, param)
            table = TableBatch(model._encoder(), encoded.targets(param.dtype), None)
            t = lap("to tensors", t)
            step = 8192  # devices.SCORING_BATCH on the CPU
            with torch.no_grad():
                for s in range(0, len(x), step):
                    xb, tb = x[s : s + step], table[s : s + step]
                    t = time.perf_counter()
                    mu, _ = net.encode(xb, None)
                    t = lap("network: encoder", t)
                    x_hat = net.decode(mu, None)
                    t = lap("network: decoder", t)
                    table_surprise(net, x_hat, tb)
                    t = lap("cell likelihoods (table_surprise)", t)
                    latent_knn_distance(mu, reference.codes, reference.k)
                    t = lap("latent k-NN (hybrid score only)", t)
    return {
        "rows": rows,
        "batch_rows": DEFAULT_BATCH_ROWS,
        "network": str(model.network_spec_),
        "seconds": dict(times),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("model")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    result = stage_times(args.data, args.model, args.repeats)
    total = sum(result["seconds"].values())
    print(f"{result['rows']:,} rows; {result['network']}")
    print(f"load average before: {load:.2f}, after: {os.getloadavg()[0]:.2f}")
    for stage, seconds in result["seconds"].items():
        print(f"{stage:40s} {seconds:6.2f} s  {100 * seconds / total:5.1f} %")
    print(f"{'total':40s} {total:6.2f} s")


if __name__ == "__main__":
    main()
