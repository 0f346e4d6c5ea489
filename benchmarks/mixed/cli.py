"""Command line: ``python -m benchmarks.mixed [OPTIONS]`` runs the mixed-table
benchmark; ``report`` rebuilds its report and ``list`` shows detectors and tables.

All 11 tables with every detector and 3 seeds take about 25 minutes on 2 busy
cores with ``--threads 1``. Interrupt with Ctrl-C and continue with ``--resume``.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from benchmarks.cli import (
    FULL_MAX_TRAIN_ROWS,
    QUICK_SEEDS,
    Quiet,
    Resume,
    Threads,
    fail,
    resolve_names,
    run_then_report,
    set_threads,
    split_names,
)
from benchmarks.mixed.data import MIXED_DATA_DIR, MIXED_SUITE, available, read_schema
from benchmarks.mixed.registry import MIXED_REGISTRY, VIEW_TEXT, detector_groups

__all__ = ["DEFAULT_MIXED_OUT", "MIXED_MAX_TRAIN_ROWS", "app", "main"]

DEFAULT_MIXED_OUT = Path(__file__).resolve().parents[1] / "results" / "mixed"

#: Training rows kept per split: the full numeric suite's cut. Of the 11 tables only
#: kddcup99_sa's training half (about 44,000 distinct normal rows) is longer.
MIXED_MAX_TRAIN_ROWS = FULL_MAX_TRAIN_ROWS

app = typer.Typer(
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


def resolve_mixed_detectors(spec: str | None) -> list[str]:
    """Comma-separated names; ``anomvae``, ``baselines``, ``numeric`` and ``all``
    are groups (:func:`benchmarks.mixed.registry.detector_groups`)."""
    groups = detector_groups(MIXED_REGISTRY)
    return resolve_names(spec, MIXED_REGISTRY, groups, groups["all"])


@app.callback(invoke_without_command=True)
def run(
    ctx: typer.Context,
    data: Annotated[
        Path, typer.Option(help="Folder of the CSVs and their schema.json.")
    ] = MIXED_DATA_DIR,
    datasets: Annotated[
        str | None,
        typer.Option(
            help=f"Comma-separated table names [default: all {len(MIXED_SUITE)}]."
        ),
    ] = None,
    detectors: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated detector names, or 'anomvae', 'baselines', "
            "'numeric', 'all' [default: all]."
        ),
    ] = None,
    seeds: Annotated[int, typer.Option(min=1, help="Seeds 0..N-1.")] = QUICK_SEEDS,
    max_train_rows: Annotated[
        int,
        typer.Option(
            min=0, help="Cut each training half to this many rows; 0 = no cut."
        ),
    ] = MIXED_MAX_TRAIN_ROWS,
    out: Annotated[Path, typer.Option(help="Output folder.")] = DEFAULT_MIXED_OUT,
    resume: Resume = False,
    quiet: Quiet = False,
    threads: Threads = None,
) -> None:
    """Run the mixed-table benchmark and write the report.

    Writes OUT/results.csv row by row, then OUT/summary.md, auroc.png and
    readme_section.md (and run.json with the settings and versions).
    """
    if ctx.invoked_subcommand is not None:
        return
    set_threads(threads)
    from benchmarks.mixed.report import write_mixed_report
    from benchmarks.mixed.runner import run_mixed

    try:
        names = resolve_mixed_detectors(detectors)
        tables = available(split_names(datasets), data)
    except KeyError as exc:
        raise fail(str(exc.args[0]), code=2) from None
    except FileNotFoundError as exc:
        raise fail(str(exc), code=2) from None
    settings = {
        "command": "python -m benchmarks.mixed " + shlex.join(sys.argv[1:]),
        "suite": "mixed",
        "data_dir": str(data),
        "datasets": tables,
        "detectors": names,
    }
    run_then_report(
        lambda: run_mixed(
            tables,
            names,
            range(seeds),
            out,
            data_dir=data,
            max_train_rows=max_train_rows or None,
            resume=resume,
            settings=settings,
            required=[n for n in names if not MIXED_REGISTRY[n].anomvae],
            log=(lambda _: None) if quiet else _log,
        ),
        lambda: write_mixed_report(out),
        out,
    )


def _log(message: str) -> None:
    typer.echo(message, err=True)


@app.command()
def report(
    out: Annotated[
        Path, typer.Option(help="Folder with results.csv.")
    ] = DEFAULT_MIXED_OUT,
) -> None:
    """Rebuild summary.md, auroc.png and readme_section.md from results.csv."""
    from benchmarks.mixed.report import write_mixed_report

    if not (out / "results.csv").exists():
        raise fail(f"no results.csv in {out}", code=2)
    try:
        write_mixed_report(out)
    except ValueError as exc:
        raise fail(str(exc)) from None
    typer.echo((out / "summary.md").read_text())


@app.command("list")
def list_(
    data: Annotated[
        Path, typer.Option(help="Folder of the CSVs and their schema.json.")
    ] = MIXED_DATA_DIR,
) -> None:
    """List the detectors (with their view) and the tables in DATA."""
    for name, entry in MIXED_REGISTRY.items():
        typer.echo(f"{name:<16} {entry.description}; view: {VIEW_TEXT[entry.view]}")
    typer.echo("")
    try:
        available(None, data)
    except FileNotFoundError as exc:
        raise fail(str(exc), code=2) from None
    for name, info in read_schema(data).items():
        typer.echo(
            f"{name:<24} {info['n_rows']:>7,} rows  {info['n_numeric']:>2} num "
            f"{info['n_categorical']:>2} cat {info['n_binary_or_boolean']:>2} bin  "
            f"{info['anomaly_pct']:5.2f} % anomalies as published"
        )


def main() -> None:
    app()
