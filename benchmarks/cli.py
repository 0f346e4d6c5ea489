"""Command line: ``python -m benchmarks [OPTIONS]`` runs the benchmark; the
``speed``, ``report`` and ``list`` commands do the rest.

Expected duration on 2 CPU cores: ``--quick`` (13 datasets, 3 seeds, training
halves cut to 10,000 rows) about 20 minutes, most of it in the neural detectors
and OneClassSVM on shuttle, aloi and campaign; the full suite (every dataset, 5
seeds, training halves cut to 20,000 rows) several hours; ``--heldout`` (the 26
datasets outside the quick suite, quick settings) about 10 minutes; ``--embeddings``
(the 19 embedding sets, quick settings) about 20 minutes. There is no per-fit
timeout (on 2 shared cores one would measure the machine's load, not the
detector); interrupt with Ctrl-C and continue with ``--resume``.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Annotated

import typer

from benchmarks.data import (
    DEFAULT_DATA_DIR,
    EMBEDDINGS_DATA_DIR,
    EMBEDDINGS_SUITE,
    HELDOUT_SUITE,
    QUICK_MAX_TRAIN_ROWS,
    QUICK_SUITE,
    find_datasets,
)
from benchmarks.registry import ANOMVAE, BASELINES, DESCRIPTIONS, REGISTRY

__all__ = [
    "app",
    "fail",
    "main",
    "resolve_detectors",
    "resolve_names",
    "run_then_report",
    "set_threads",
    "split_names",
]

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
FULL_MAX_TRAIN_ROWS = 20_000
FULL_SEEDS = 5
QUICK_SEEDS = 3

#: Options shared by the benchmark commands (here and in ``benchmarks.mixed``).
Resume = Annotated[
    bool, typer.Option("--resume", help="Skip rows already in OUT/results.csv.")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No per-row log.")]
Threads = Annotated[
    int | None,
    typer.Option(min=1, help="torch threads [default: torch's, one per core]."),
]

app = typer.Typer(
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: MESSAGE`` on stderr; the exit (code 1, or 2 for usage
    errors) to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=code)


def split_names(value: str | None) -> list[str] | None:
    """``"a, b,"`` -> ``["a", "b"]``; None stays None."""
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def resolve_names(
    spec: str | None,
    known: Collection[str],
    groups: Mapping[str, Sequence[str]],
    default: Sequence[str],
) -> list[str]:
    """Comma-separated names (``default`` if none), each a ``known`` name or a
    group of ``groups``; the result has each name once, in the order given.

    Raises
    ------
    KeyError
        For a name that is neither.
    """
    names: list[str] = []
    for item in split_names(spec) or list(default):
        for name in groups.get(item, [item]):
            if name not in known:
                raise KeyError(
                    f"unknown detector {name!r}; choose from "
                    f"{', '.join([*known, *groups])}"
                )
            if name not in names:
                names.append(name)
    return names


def resolve_detectors(spec: str | None) -> list[str]:
    """Comma-separated detector names; ``anomvae`` and ``baselines`` are groups."""
    groups = {"anomvae": list(ANOMVAE), "baselines": list(BASELINES)}
    return resolve_names(spec, REGISTRY, groups, [*ANOMVAE, *BASELINES])


@app.callback(invoke_without_command=True)
def run(
    ctx: typer.Context,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help=f"{len(QUICK_SUITE)} varied datasets, {QUICK_SEEDS} seeds, "
            f"training halves cut to {QUICK_MAX_TRAIN_ROWS} rows.",
        ),
    ] = False,
    heldout: Annotated[
        bool,
        typer.Option(
            "--heldout",
            help=f"The {len(HELDOUT_SUITE)} datasets outside the quick suite, with "
            "--quick's seeds and cut; writes to OUT/heldout.",
        ),
    ] = False,
    embeddings: Annotated[
        bool,
        typer.Option(
            "--embeddings",
            help=f"The {len(EMBEDDINGS_SUITE)} image and text embedding sets (their "
            "own folder), with --quick's seeds and cut; writes to OUT/embeddings.",
        ),
    ] = False,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Folder of .npz files (X raw, y == 1 anomaly) [default: "
            f"{DEFAULT_DATA_DIR}, {EMBEDDINGS_DATA_DIR} with --embeddings]."
        ),
    ] = None,
    datasets: Annotated[
        str | None, typer.Option(help="Comma-separated dataset names (file stems).")
    ] = None,
    detectors: Annotated[
        str | None,
        typer.Option(help="Comma-separated detector names, or 'anomvae', 'baselines'."),
    ] = None,
    seeds: Annotated[
        int | None,
        typer.Option(
            min=1, help=f"Seeds 0..N-1 [default: {FULL_SEEDS}, {QUICK_SEEDS} quick]"
        ),
    ] = None,
    max_train_rows: Annotated[
        int | None,
        typer.Option(
            min=0,
            help=f"Cut each training half to this many rows; 0 = no cut "
            f"[default: {FULL_MAX_TRAIN_ROWS}, {QUICK_MAX_TRAIN_ROWS} quick].",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help=f"Output folder [default: {DEFAULT_OUT}, /heldout or /embeddings "
            "added with --heldout or --embeddings]."
        ),
    ] = None,
    resume: Resume = False,
    refit_variants: Annotated[
        bool,
        typer.Option(
            "--refit-variants",
            help="Fit each vae[score=...] separately instead of rescoring vae's fit.",
        ),
    ] = False,
    quiet: Quiet = False,
    threads: Threads = None,
) -> None:
    """Run the benchmark (the full suite unless --quick) and write the report.

    Writes OUT/results.csv row by row, then OUT/summary.md, auroc.png and
    readme_section.md. On 2 CPU cores --quick takes about 20 minutes, the full
    suite several hours; there is no per-fit timeout: interrupt with Ctrl-C and
    continue with --resume.
    """
    if ctx.invoked_subcommand is not None:
        return
    set_threads(threads)
    from benchmarks.report import write_report
    from benchmarks.runner import run_benchmark

    try:
        names = resolve_detectors(detectors)
    except KeyError as exc:
        raise fail(str(exc.args[0]), code=2) from None
    suite_flags = [
        f for f, on in (("--heldout", heldout), ("--embeddings", embeddings)) if on
    ]
    if suite_flags and (quick or datasets is not None or len(suite_flags) > 1):
        flag = suite_flags[0]
        others = ", ".join(
            f
            for f in ("--quick", "--datasets", "--heldout", "--embeddings")
            if f != flag
        )
        raise fail(f"{flag} chooses its datasets and settings: drop {others}", code=2)
    if data is None:
        data = EMBEDDINGS_DATA_DIR if embeddings else DEFAULT_DATA_DIR
    wanted = split_names(datasets)
    if wanted is None and (quick or heldout or embeddings):
        suite = QUICK_SUITE if quick else HELDOUT_SUITE if heldout else EMBEDDINGS_SUITE
        available = {p.stem for p in Path(data).glob("*.npz")}
        missing = [n for n in suite if n not in available]
        if missing:
            typer.echo(f"warning: suite datasets missing: {missing}", err=True)
        wanted = [n for n in suite if n in available]
        if not wanted:
            raise fail(f"none of the suite's datasets is in {data}", code=2)
    if out is None:
        out = DEFAULT_OUT
        if heldout or embeddings:
            out /= "heldout" if heldout else "embeddings"
    try:
        paths = find_datasets(data, wanted)
    except FileNotFoundError as exc:
        raise fail(str(exc), code=2) from None
    # the held-out and embedding suites run with quick's settings
    quick_settings = quick or heldout or embeddings
    n_seeds = seeds or (QUICK_SEEDS if quick_settings else FULL_SEEDS)
    cap = max_train_rows
    if cap is None:
        cap = QUICK_MAX_TRAIN_ROWS if quick_settings else FULL_MAX_TRAIN_ROWS
    settings = {
        "command": "python -m benchmarks " + shlex.join(sys.argv[1:]),
        "suite": (
            "held-out"
            if heldout
            else "embeddings"
            if embeddings
            else _suite_name(quick, datasets)
        ),
        "data_dir": str(data),
        "datasets": [p.stem for p in paths],
        "detectors": names,
    }
    run_then_report(
        lambda: run_benchmark(
            paths,
            names,
            range(n_seeds),
            out,
            max_train_rows=cap or None,
            resume=resume,
            refit_variants=refit_variants,
            settings=settings,
            required=[n for n in names if n in BASELINES],
            log=(lambda _: None) if quiet else _log,
        ),
        lambda: write_report(out),
        out,
    )


def run_then_report(
    run: Callable[[], object], report: Callable[[], object], out: Path
) -> None:
    """Run a benchmark, then write its report; a domain error becomes a one-line
    message and exit code 1 (2 for a ``--resume`` that does not fit)."""
    from benchmarks.runner import MissingDetectorError, ResumeError

    try:
        run()
    except ResumeError as exc:
        raise fail(str(exc), code=2) from None
    except MissingDetectorError as exc:
        raise fail(str(exc)) from None
    try:
        report()
    except ValueError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"wrote {out}/results.csv, summary.md, auroc.png, readme_section.md")


def _suite_name(quick: bool, datasets: str | None) -> str:
    if datasets is not None:
        return "custom (quick settings)" if quick else "custom"
    return "quick" if quick else "full"


def set_threads(threads: int | None) -> None:
    """Set torch's thread count. On a loaded machine the default (one per core)
    can make small networks many times slower than one thread, so timings are
    only comparable at the same setting, which ``run.json`` records."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def _log(message: str) -> None:
    typer.echo(message, err=True)


@app.command()
def speed(
    data: Annotated[
        Path, typer.Option(help="Folder of .npz files.")
    ] = DEFAULT_DATA_DIR,
    out: Annotated[Path, typer.Option(help="Output folder.")] = DEFAULT_OUT,
    cases: Annotated[
        str | None,
        typer.Option(help="Comma-separated: small, medium, wide, fit_check."),
    ] = None,
    threads: Threads = None,
    repeats: Annotated[
        int, typer.Option(min=1, help="Runs per detector; the fastest counts.")
    ] = 1,
) -> None:
    """Fit and score time of anomvae's VAE and AE against PyOD's, as ratios.

    Cases: small (cardio, 1,647 x 21), medium (aloi, 48,026 x 27), wide (w7a,
    10,000 x 300) and fit_check (backdoor, 60,000 x 196, anomvae only, goal
    <= 60 s). All four take roughly 10-15 minutes on 2 cores per repeat.
    """
    set_threads(threads)
    from benchmarks.speed import SPEED_CASES, run_speed

    wanted = split_names(cases)
    chosen = [c for c in SPEED_CASES if wanted is None or c.name in wanted]
    if not chosen:
        raise fail(f"no speed case among {wanted}", code=2)
    command = "python -m benchmarks speed " + shlex.join(sys.argv[2:])
    try:
        md = run_speed(
            data, out, chosen, repeats=repeats, command=command.strip(), log=_log
        )
    except FileNotFoundError as exc:
        raise fail(str(exc), code=2) from None
    typer.echo(md.read_text())


@app.command()
def report(
    out: Annotated[Path, typer.Option(help="Folder with results.csv.")] = DEFAULT_OUT,
    readme: Annotated[
        Path | None,
        typer.Option(
            help="Also replace the section between <!-- benchmarks:start --> and "
            "<!-- benchmarks:end --> in this file."
        ),
    ] = None,
) -> None:
    """Rebuild summary.md, auroc.png and readme_section.md from results.csv."""
    from benchmarks.report import embed_in_readme, write_report

    if not (out / "results.csv").exists():
        raise fail(f"no results.csv in {out}", code=2)
    try:
        write_report(out)
        if readme is not None:
            embed_in_readme(readme, out / "readme_section.md")
    except ValueError as exc:
        raise fail(str(exc)) from None
    typer.echo((out / "summary.md").read_text())


@app.command("list")
def list_(
    data: Annotated[
        Path, typer.Option(help="Folder of .npz files.")
    ] = DEFAULT_DATA_DIR,
) -> None:
    """List the detectors and the datasets found in DATA."""
    for name, (what, scaling) in DESCRIPTIONS.items():
        typer.echo(f"{name:<24} {what}; scaling: {scaling}")
    typer.echo("")
    try:
        paths = find_datasets(data)
    except FileNotFoundError as exc:
        raise fail(str(exc), code=2) from None
    quick = set(QUICK_SUITE)
    for p in paths:
        typer.echo(f"{p.stem}{'  (quick)' if p.stem in quick else ''}")


def main() -> None:
    app()
