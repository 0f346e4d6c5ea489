"""The ``anomvae`` command line: one typer ``app``, one module per command.

=================  ============================================================
module             what it holds
=================  ============================================================
:mod:`.fit`        ``anomvae fit DATA -o MODEL`` (its work: :mod:`.fitting`)
:mod:`.score`      ``anomvae score DATA -m MODEL -o OUT``
:mod:`.evaluate`   ``anomvae evaluate DATA -m MODEL --label-column y``
:mod:`.calibrate`  ``anomvae calibrate DATA -m MODEL``
:mod:`.info`       ``anomvae info MODEL``
:mod:`.export`     ``anomvae export MODEL -o model.onnx``
:mod:`.monitor`    ``anomvae monitor REPORT...``: the history of run reports
:mod:`.datasets`   ``anomvae datasets list|export``
:mod:`.data`       whole-file reading for fit/calibrate, feature choice, labels
:mod:`.options`    option types, parsers and the options commands share
:mod:`.common`     exit codes, messages and logs, error handling, signals
=================  ============================================================

Each command module has a ``register(app)`` function; a new command (say
``export`` for ONNX) is a new module plus one entry in :data:`COMMANDS`. Commands
are thin: parse, call the library, render. They import the library inside their
functions, so ``anomvae --help`` and ``--version`` never import torch.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from typing import Annotated

import typer

from anomvae._version import __version__
from anomvae.cli.common import (
    EXIT_ANOMALIES,
    EXIT_CODES_HELP,
    EXIT_DRIFT,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
)

__all__ = [
    "EXIT_ANOMALIES",
    "EXIT_DRIFT",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "app",
    "main",
]

#: Command modules, in the order ``--help`` lists them.
COMMANDS = (
    "fit",
    "score",
    "evaluate",
    "calibrate",
    "info",
    "export",
    "monitor",
    "datasets",
)

app = typer.Typer(
    name="anomvae",
    epilog=EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain errors and help: readable in logs
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"anomvae {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            help="Print the version and exit.",
            callback=_show_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Autoencoder and VAE anomaly detection for tabular files.

    Train on normal rows, then score new files in a scheduled job: the scores
    are streamed to a file written atomically, invalid input fails loudly with
    file, row and column, and exit codes tell the scheduler what happened.

    \b
    Examples:
      anomvae fit normal.csv -o model.anomvae --id-column id --calibrate fpr:0.01
      anomvae score today.csv -m model.anomvae -o scores.csv --id-column id
      anomvae evaluate labelled.csv -m model.anomvae --label-column label
      anomvae info model.anomvae

    Run 'anomvae COMMAND -h' for a command's options.
    """


for _name in COMMANDS:
    importlib.import_module(f"anomvae.cli.{_name}").register(app)


def main() -> None:
    """Console-script entry point.

    Once a command that loaded torch has finished (its outputs committed, its
    exit code known), the process ends with ``os._exit`` after flushing stdout
    and stderr: the interpreter's teardown of torch, scikit-learn and pandas
    writes nothing and was a large part of a short ``score``'s time (start-up
    measured in ``benchmarks/results/bench_cli_startup.md``). Light commands (``--help``,
    ``--version``) exit normally. Call ``app`` instead to run a command inside
    a longer-lived Python process.
    """
    try:
        app()
    except SystemExit as exc:
        from anomvae.io.threads import input_thread_stuck

        # A stuck reader thread: a normal shutdown would abort (see there).
        if not (input_thread_stuck() or "torch" in sys.modules):
            raise
        code = exc.code
        if isinstance(code, str):  # sys.exit("message"), as Python prints it
            print(code, file=sys.stderr)
            code = EXIT_ERROR
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code if isinstance(code, int) else int(code is not None))
