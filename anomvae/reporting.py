"""Messages, logs and progress of one command run, all on stderr.

Used by the command line and by the library code it drives (the scoring engines),
so it lives in the library: :mod:`anomvae.cli` is the top floor and nothing below
it imports it. Messages come in three modes: the default (short human lines),
quiet (errors only) and verbose (one ``key=value`` line per event, with a UTC
timestamp, for log collectors)::

    2026-11-21T12:00:00Z level=info cmd=score event=score.done rows=1000 anomalies=3
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

from anomvae.runtime import Progress

__all__ = ["Reporter", "utc_now"]


def utc_now() -> str:
    """The current time as ISO 8601 UTC with a ``Z``, to the second."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _logfmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    text = "" if value is None else str(value)
    if text and not any(ch in text for ch in ' ="\\\n\t'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class Reporter:
    """Messages, logs and progress of one command, all on stderr.

    Parameters
    ----------
    command : str
        Command name, shown in messages and log lines.
    quiet : bool
        Only errors.
    verbose : bool
        ``key=value`` log lines instead of human messages; tracebacks of
        internal errors.
    """

    def __init__(self, command: str, *, quiet: bool = False, verbose: bool = False):
        self.command = command
        self.quiet = quiet and not verbose
        self.verbose = verbose
        self.last_error: str | None = None

    def _write(self, line: str) -> None:
        try:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):  # stderr closed: nothing better to do
            pass

    def log(self, event: str, *, level: str = "info", **fields: Any) -> None:
        """A ``key=value`` line (``--verbose`` only)."""
        if not self.verbose:
            return
        parts = [utc_now(), f"level={level}", f"cmd={self.command}", f"event={event}"]
        parts += [f"{k}={_logfmt(v)}" for k, v in fields.items() if v is not None]
        self._write(" ".join(parts))

    def info(self, message: str, event: str, **fields: Any) -> None:
        """A human message, or with ``--verbose`` a log line carrying it."""
        if self.verbose:
            self.log(event, **fields, msg=message)
        elif not self.quiet:
            self._write(message)

    def warning(self, message: str, event: str = "warning", **fields: Any) -> None:
        if self.verbose:
            self.log(event, level="warning", **fields, msg=message)
        elif not self.quiet:
            self._write(f"anomvae {self.command}: warning: {message}")

    def error(self, message: str, **fields: Any) -> None:
        """Always shown: one line."""
        message = " ".join(message.split("\n"))
        self.last_error = message
        if self.verbose:
            self.log(f"{self.command}.failed", level="error", **fields, error=message)
        else:
            self._write(f"anomvae {self.command}: error: {message}")

    def progress(self, total: float | None) -> Progress:
        """A scoring progress bar when stderr is a terminal (never with
        ``--quiet`` or ``--verbose``); otherwise an object whose methods do
        nothing."""
        enabled = not (self.quiet or self.verbose) and Progress.terminal()
        return Progress(total, description="scoring", enabled=enabled, rows=True)
