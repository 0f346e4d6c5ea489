"""What every command shares: exit codes, messages and logs, errors, options.

Nothing here imports torch, pandas or pyarrow, so ``anomvae --help`` stays fast;
commands import the library inside their functions.

Messages go to stderr through :class:`anomvae.reporting.Reporter` (default,
``--quiet`` and ``--verbose`` modes).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from typing import Any, NoReturn

import typer

from anomvae.exceptions import AnomvaeError
from anomvae.reporting import Reporter, utc_now

__all__ = [
    "EXIT_ANOMALIES",
    "EXIT_CODES_HELP",
    "EXIT_DRIFT",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "ID_COLUMNS_KEY",
    "Reporter",
    "Terminated",
    "check_model_output",
    "errors_to_exit",
    "exit_on_sigterm",
    "plural",
    "split_names",
    "stored_id_columns",
    "usage_error",
    "utc_now",
]

# Re-exported for the command modules: the reporter lives in the library.

EXIT_OK = 0
EXIT_ERROR = 1  # data, model or output error
EXIT_USAGE = 2  # bad command line (click/typer use 2 as well)
EXIT_ANOMALIES = 3  # score --fail-on-anomalies found some
EXIT_DRIFT = 4  # score --fail-on-drift: the run report's drift alarm fired
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
EXIT_TERMINATED = 143  # SIGTERM (128 + SIGTERM)

#: Key of the ``--id-column`` names in the metadata ``anomvae fit`` saves.
ID_COLUMNS_KEY = "id_columns"

EXIT_CODES_HELP = """\b
Exit codes:
  0    success
  1    data, model or output error (one line on stderr says what and where)
  2    usage error (unknown option, bad value)
  3    anomalies found (only with score --fail-on-anomalies)
  4    drift: the run is out of line with the model's calibration (only with
       score --fail-on-drift; the output is written)
  130  interrupted (Ctrl-C), 143 terminated (SIGTERM)
Outputs and model files are written to a temporary file and renamed at the end:
a failed or killed run leaves the previous file (or none), never a partial one."""


class Terminated(SystemExit):
    """Raised in the main thread on SIGTERM, so ``with`` blocks discard outputs."""

    def __init__(self) -> None:
        super().__init__(EXIT_TERMINATED)


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


@contextlib.contextmanager
def exit_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into an exception while the block runs, so temporary files
    are removed and the previous output stays (SIGKILL cannot be caught: it
    leaves a ``.*.anomvae.tmp`` file, never a partial output)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def usage_error(message: str, option: str | None = None) -> NoReturn:
    """Exit 2 with a usage message (click's format, like typer's own errors)."""
    raise typer.BadParameter(message, param_hint=option)


def check_model_output(path: str) -> None:
    """Usage error (exit 2) for a model written to ``-``: models are files."""
    if path == "-":
        usage_error("a model is written to a file, not stdout", "'--output'")


@contextlib.contextmanager
def errors_to_exit(reporter: Reporter) -> Iterator[None]:
    """Turn every failure into one line on stderr and an exit code.

    ``AnomvaeError`` (data, model, output) and the library's ``ValueError``s exit
    1; Ctrl-C 130; SIGTERM 143; usage errors pass through to typer (exit 2). An
    unexpected exception is reported as an internal error on one line (with the
    traceback under ``--verbose``), never as a bare traceback.
    """
    try:
        yield
    except (typer.Exit, typer.BadParameter):
        raise
    except Terminated:
        reporter.error("terminated by SIGTERM; no output was written")
        raise typer.Exit(EXIT_TERMINATED) from None
    except KeyboardInterrupt:
        reporter.error("interrupted; no output was written")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout = open("/dev/null", "w")  # noqa: SIM115 - keep exit quiet
        reporter.error("stdout was closed before all rows were written (broken pipe)")
        raise typer.Exit(EXIT_ERROR) from None
    except AnomvaeError as exc:
        reporter.error(str(exc))
        raise typer.Exit(EXIT_ERROR) from None
    except MemoryError:
        reporter.error("out of memory")
        raise typer.Exit(EXIT_ERROR) from None
    except (ValueError, OSError) as exc:
        reporter.error(str(exc) or type(exc).__name__)
        raise typer.Exit(EXIT_ERROR) from None
    except Exception as exc:
        if reporter.verbose:
            traceback.print_exc()
        reporter.error(
            f"internal error: {type(exc).__name__}: {exc} (please report it; "
            "--verbose shows the traceback)"
        )
        raise typer.Exit(EXIT_ERROR) from None


def plural(n: int, word: str) -> str:
    """``"1 row"``, ``"2,000 rows"``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def split_names(values: list[str] | None) -> list[str]:
    """Column names from repeated and/or comma-separated options, in order."""
    names: list[str] = []
    for value in values or ():
        names += [v.strip() for v in value.split(",") if v.strip()]
    return list(dict.fromkeys(names))


def stored_id_columns(metadata: Any) -> list[str]:
    """The ``--id-column`` names ``anomvae fit`` saved in a model file's metadata
    (none for files written by the Python API or before fit stored them)."""
    ids = metadata.get(ID_COLUMNS_KEY) if isinstance(metadata, dict) else None
    return [str(c) for c in ids] if isinstance(ids, list) else []


class Timer:
    """Seconds since creation."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start
