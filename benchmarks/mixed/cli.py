"""Command line: ``python -m benchmarks.mixed [OPTIONS]`` runs the mixed-table
benchmark; ``report`` rebuilds its report and ``list`` shows detectors and tables.

All 11 tables with every detector and 3 seeds take about half an hour on 2 busy
cores with ``--threads 1``. Interrupt with Ctrl-C and continue with ``--resume``.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from benchmarks.cli import FULL_MAX_TRAIN_ROWS, QUICK_SEEDS, _fail, _names, _set_threads
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
    names: list[str] = []
    for item in _names(spec) or ["all"]:
        for name in groups.get(item, [item]):
            if name not in MIXED_REGISTRY:
                raise KeyError(
                    f"unknown detector {name!r}; choose from "
                    f"{', '.join(MIXED_REGISTRY)}, {', '.join(groups)}"
                )
            if name not in names:
                names.append(name)
    return names


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
    resume: Annotated[
        bool, typer.Option("--resume", help="Skip rows already in OUT/results.csv.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No per-row log.")
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option(min=1, help="torch threads [default: torch's, one per core]."),
    ] = None,
) -> None:
    """Run the mixed-table benchmark and write the report.

    Writes OUT/results.csv row by row, then OUT/summary.md, auroc.png and
    readme_section.md (and run.json with the settings and versions).
    """
    if ctx.invoked_subcommand is not None:
        return
    _set_threads(threads)
    from benchmarks.mixed.report import write_mixed_report
    from benchmarks.mixed.runner import run_mixed
    from benchmarks.runner import MissingDetectorError, ResumeError

    try:
        names = resolve_mixed_detectors(detectors)
        tables = available(_names(datasets), data)
    except KeyError as exc:
        raise _fail(str(exc.args[0]), code=2) from None
    except FileNotFoundError as exc:
        raise _fail(str(exc), code=2) from None
    settings = {
        "command": "python -m benchmarks.mixed " + shlex.join(sys.argv[1:]),
        "suite": "mixed",
        "data_dir": str(data),
        "datasets": tables,
        "detectors": names,
    }
    try:
        run_mixed(
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
        )
    except ResumeError as exc:
        raise _fail(str(exc), code=2) from None
    except MissingDetectorError as exc:
        raise _fail(str(exc)) from None
    try:
        write_mixed_report(out)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"wrote {out}/results.csv, summary.md, auroc.png, readme_section.md")


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
        raise _fail(f"no results.csv in {out}", code=2)
    try:
        write_mixed_report(out)
    except ValueError as exc:
        raise _fail(str(exc)) from None
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
        raise _fail(str(exc), code=2) from None
    for name, info in read_schema(data).items():
        typer.echo(
            f"{name:<24} {info['n_rows']:>7,} rows  {info['n_numeric']:>2} num "
            f"{info['n_categorical']:>2} cat {info['n_binary_or_boolean']:>2} bin  "
            f"{info['anomaly_pct']:5.2f} % anomalies as published"
        )


def main() -> None:
    app()
