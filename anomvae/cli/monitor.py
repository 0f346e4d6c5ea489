"""``anomvae monitor REPORTS...``: the history of monitored runs as a table."""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from anomvae.cli.common import (
    EXIT_CODES_HELP,
    Reporter,
    errors_to_exit,
    plural,
    usage_error,
)
from anomvae.cli.options import Quiet, Verbose

__all__ = ["find_reports", "monitor", "register", "render_table"]

_GLOB_CHARS = frozenset("*?[")


def find_reports(arguments: list[str]) -> list[str]:
    """Files named by the arguments: files, directories (their ``*.json``) and
    globs (expanded here when the shell did not), each listed once."""
    from anomvae.exceptions import DataError

    found: list[str] = []
    for arg in arguments:
        path = Path(arg)
        if path.is_dir():
            matches = sorted(str(p) for p in path.glob("*.json") if p.is_file())
            if not matches:
                raise DataError(f"{arg}: no *.json run reports in this directory")
        elif path.exists():
            matches = [arg]
        elif _GLOB_CHARS & set(arg):
            matches = sorted(glob.glob(arg))
            if not matches:
                raise DataError(f"{arg}: no file matches this pattern")
        else:
            raise DataError(f"{arg}: no such file or directory")
        found += matches
    return list(dict.fromkeys(found))


def monitor(
    reports: Annotated[
        list[str],
        typer.Argument(
            metavar="REPORT",
            help="Run reports (score --report): files, directories of *.json "
            "files, or quoted globs.",
            show_default=False,
        ),
    ],
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the history as one JSON array."),
    ] = False,
    plot: Annotated[
        str | None,
        typer.Option(
            "--plot",
            metavar="PNG",
            help="Also draw the history (flag rate, drift) to this image "
            "(.png, .pdf, .svg); needs matplotlib.",
        ),
    ] = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Show the history of monitored runs, oldest first.

    One line per run report: when it started, its status, rows scored, the flag
    rate against the rate its calibration expects, the drift of its scores
    (Kolmogorov-Smirnov statistic), the smallest Holm-adjusted p-value of all
    its tests, whether the alarm fired, and the columns that moved most. A
    report that cannot be read stops the command with its file named (exit 1).

    \b
    Examples:
      anomvae monitor reports/
      anomvae monitor 'reports/2026-*.json' --plot history.png
      anomvae monitor reports/ --json | jq '.[] | select(.alarm)'
    """
    reporter = Reporter("monitor", quiet=quiet, verbose=verbose)
    if plot is not None and Path(plot).suffix.lower() not in (".png", ".pdf", ".svg"):
        usage_error("the image must be .png, .pdf or .svg", "'--plot'")
    with errors_to_exit(reporter):
        from anomvae.monitoring import history_row, read_report

        paths = find_reports(reports)
        rows = [history_row(read_report(p), p) for p in paths]
        rows.sort(key=lambda r: (r["started"], r["path"]))
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
        else:
            typer.echo(render_table(rows))
        if plot is not None:
            _write_plot(rows, plot)
        alarms = sum(r["alarm"] for r in rows)
        failed = sum(r["status"] == "error" for r in rows)
        reporter.info(
            f"{plural(len(rows), 'run')}: {alarms} with a drift alarm, "
            f"{failed} failed" + (f"; plot -> {plot}" if plot else ""),
            "monitor.done",
            runs=len(rows),
            alarms=alarms,
            failed=failed,
        )


def _percent(x: Any) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _number(x: Any, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def render_table(rows: list[dict[str, Any]]) -> str:
    """The history as a plain-text table (readable in logs and e-mails)."""
    header = (
        "started",
        "status",
        "rows",
        "flag rate",
        "expected",
        "score KS",
        "min adj p",
        "alarm",
        "top moved",
    )
    lines = [header]
    for r in rows:
        lines.append(
            (
                r["started"],
                f"{r['status']}({r['exit_code']})",
                _number(r["rows"], ","),
                _percent(r["flag_rate"]),
                _percent(r["expected_rate"]),
                _number(r["score_ks"], ".3f"),
                _number(r["min_adjusted_p"], ".2g"),
                "ALARM" if r["alarm"] else "-",
                ", ".join(r["top_moved"]) or "-",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = {2, 3, 4, 5, 6}
    out = []
    for line in lines:
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def _write_plot(rows: list[dict[str, Any]], path: str) -> None:
    from anomvae.exceptions import DataError
    from anomvae.io import atomic_output

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise DataError(
            "--plot needs matplotlib: pip install 'anomvae[plot]'"
        ) from None
    from anomvae.plotting.monitoring import plot_monitoring_history

    fig = plot_monitoring_history(rows)
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lower().lstrip("."), dpi=120)
    finally:
        plt.close(fig)


def register(app: typer.Typer) -> None:
    app.command("monitor", epilog=EXIT_CODES_HELP)(monitor)
