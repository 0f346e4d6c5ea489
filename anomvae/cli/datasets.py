"""``anomvae datasets list|export``: the labelled datasets bundled with anomvae."""

from __future__ import annotations

import json
import shutil
from typing import Annotated

import typer

from anomvae.cli.common import (
    EXIT_CODES_HELP,
    Reporter,
    errors_to_exit,
    exit_on_sigterm,
)
from anomvae.cli.options import (
    Quiet,
    Verbose,
)

__all__ = ["app", "register"]

app = typer.Typer(
    help="List or export the labelled datasets bundled with anomvae.",
    no_args_is_help=True,
)


@app.command("list", epilog=EXIT_CODES_HELP)
def list_(
    as_json: Annotated[
        bool, typer.Option("--json", help="Full descriptions as JSON.")
    ] = False,
) -> None:
    """List the bundled datasets: size, anomalies, what they are.

    \b
    Examples:
      anomvae datasets list
      anomvae datasets list --json | jq '.[].citation'
    """
    from anomvae.datasets import describe, list_datasets

    described = [describe(name) for name in list_datasets()]
    if as_json:
        typer.echo(json.dumps(described, indent=2))
        return
    typer.echo(
        f"{'name':<12} {'kind':<8} {'rows':>6} {'features':>8} {'anomalies':>12}"
    )
    for d in described:
        anomalies = f"{d['n_anomalies']} ({d['anomaly_pct']:g}%)"
        typer.echo(
            f"{d['name']:<12} {d['kind']:<8} {d['n_samples']:>6} "
            f"{d['n_features']:>8} {anomalies:>12}  {d['summary']}"
        )


@app.command("export", epilog=EXIT_CODES_HELP)
def export(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="A name from 'datasets list'.")
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help=".csv, .csv.gz or .parquet; '-' writes CSV to stdout.",
        ),
    ],
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Write dataset NAME to FILE (with its 'label' column, 1 = anomaly).

    \b
    Examples:
      anomvae datasets export cardio -o cardio.csv
      anomvae datasets export thyroid -o thyroid.parquet
    """
    reporter = Reporter("datasets export", quiet=quiet, verbose=verbose)
    with errors_to_exit(reporter), exit_on_sigterm():
        rows = _export(name, output)
        reporter.info(
            f"wrote {name} ({rows:,} rows) to {'stdout' if output == '-' else output}",
            "datasets.export",
            dataset=name,
            rows=rows,
            output=output,
        )


def _export(name: str, output: str) -> int:
    import gzip

    import pyarrow.csv as pcsv

    from anomvae.datasets import dataset_path, describe
    from anomvae.io import TableWriter, atomic_open, output_format

    rows = describe(name)["n_samples"]  # DataError listing the names if unknown
    path = dataset_path(name)
    fmt, compression = output_format(output)
    if fmt == "csv" and output != "-" and compression == "gzip":
        with atomic_open(output) as out, open(path, "rb") as src:
            shutil.copyfileobj(src, out)  # the file as shipped
    elif fmt == "csv" and not compression:
        with atomic_open(output) as out, gzip.open(path, "rb") as src:
            shutil.copyfileobj(src, out)  # the exact text, values bit for bit
    else:
        table = pcsv.read_csv(path)
        with TableWriter(output) as writer:
            writer.write(table)
    return rows


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="datasets")
