"""Run reports as files: assembling, fingerprinting inputs, reading them back.

The fields are documented in :mod:`anomvae.monitoring`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from anomvae.exceptions import AnomvaeError

__all__ = [
    "FINGERPRINT_BYTES",
    "REPORT_VERSION",
    "ReportError",
    "history_row",
    "input_fingerprint",
    "make_report",
    "read_report",
]

REPORT_VERSION = 1
#: Bytes hashed at each end of an input file by :func:`input_fingerprint`.
FINGERPRINT_BYTES = 1 << 20
_STATUSES = ("ok", "anomalies", "drift", "error")
_REQUIRED = {
    "report_version": int,
    "started": str,
    "status": str,
    "exit_code": int,
    "alarm": bool,
}


class ReportError(AnomvaeError, ValueError):
    """A run report that cannot be read: missing, truncated, invalid or too new."""


def _utc(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def _file_fingerprint(path: Path, full: bool) -> dict[str, Any]:
    info = path.stat()
    digest = hashlib.sha256(info.st_size.to_bytes(8, "little"))
    with path.open("rb") as f:
        if full or info.st_size <= 2 * FINGERPRINT_BYTES:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
            hashed = "full"
        else:
            digest.update(f.read(FINGERPRINT_BYTES))
            f.seek(info.st_size - FINGERPRINT_BYTES)
            digest.update(f.read(FINGERPRINT_BYTES))
            hashed = "first and last MiB"
    return {
        "path": str(path),
        "bytes": info.st_size,
        "modified": _utc(info.st_mtime),
        "sha256": digest.hexdigest(),
        "hashed": hashed,
    }


def input_fingerprint(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    full: bool = False,
) -> dict[str, Any]:
    """Identify the input of a run cheaply: size, mtime and a sha256.

    The sha256 covers the file size and the first and last MiB (the whole file
    when it is at most 2 MiB, or with ``full=True``). That costs milliseconds
    whatever the size, where a full hash reads the whole file once more, a
    large share of what ``--report`` may add to scoring it. It tells a
    re-delivered or truncated file from the original; an edit in the middle
    that keeps the size is caught only by the mtime (or ``full``).

    Parameters
    ----------
    paths : path or sequence of paths
        The input file, or the files of a partitioned input; ``"-"`` is stdin.

    Returns
    -------
    dict
        One file: ``path``, ``bytes``, ``modified`` (UTC), ``sha256``, ``hashed``.
        Several: ``files`` (those dicts), ``bytes`` (total) and ``sha256`` over the
        files' fingerprints in the given order.

    Examples
    --------
    >>> input_fingerprint("-")
    {'path': '<stdin>'}
    """
    if isinstance(paths, str | os.PathLike):
        if str(paths) == "-":
            return {"path": "<stdin>"}
        return _file_fingerprint(Path(paths), full)
    files = [_file_fingerprint(Path(p), full) for p in paths]
    combined = hashlib.sha256()
    for f in files:
        combined.update(f"{f['bytes']}:{f['sha256']}\n".encode())
    return {
        "files": files,
        "bytes": sum(f["bytes"] for f in files),
        "sha256": combined.hexdigest(),
    }


def make_report(
    statistics: dict[str, Any] | None,
    *,
    started: str,
    finished: str,
    exit_code: int,
    status: str,
    error: str | None = None,
    model: dict[str, Any] | None = None,
    input: dict[str, Any] | None = None,
    command: str = "score",
) -> dict[str, Any]:
    """The whole run report: the monitor's statistics and the run's facts.

    Parameters
    ----------
    statistics : dict or None
        :meth:`RunMonitor.finish`'s result; None when the run failed before
        anything was scored (the counts and tests are then null).
    started, finished : str
        UTC ISO 8601 times (``2026-05-01T02:00:00Z``).
    exit_code : int
    status : {"ok", "anomalies", "drift", "error"}
    error : str, optional
        The error message of a failed run.
    model, input : dict, optional
        Fingerprints: the model file (``path``, ``sha256``) and
        :func:`input_fingerprint`.

    Examples
    --------
    >>> r = make_report(None, started="2026-05-01T02:00:00Z",
    ...                 finished="2026-05-01T02:00:01Z", exit_code=1,
    ...                 status="error", error="model.anomvae: no such file")
    >>> r["report_version"], r["alarm"], r["rows_scored"]
    (1, False, None)
    """
    from anomvae._version import __version__

    if status not in _STATUSES:
        raise ValueError(f"status must be one of {_STATUSES}, got {status!r}")
    empty: dict[str, Any] = {
        "rows_read": None,
        "rows_scored": None,
        "rows_rejected": None,
        "flags": None,
        "flag_rate": None,
        "threshold": None,
        "calibration": None,
        "flag_count_test": None,
        "score_drift": None,
        "score_tests_skipped": "the run failed before scoring",
        "columns": [],
        "top_moved": [],
        "alpha": None,
        "n_tests": 0,
        "min_adjusted_p": None,
        "alarm": False,
        "fired": [],
        "sample": None,
    }
    return {
        "report_version": REPORT_VERSION,
        "command": command,
        "started": started,
        "finished": finished,
        "status": status,
        "exit_code": int(exit_code),
        "error": error,
        **(empty if statistics is None else statistics),
        "model": model,
        "input": input,
        "anomvae_version": __version__,
    }


def read_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check one run report.

    Raises
    ------
    ReportError
        Naming the file: unreadable, not JSON (truncated), not a report, or a
        newer ``report_version``.
    """
    shown = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise ReportError(f"{shown}: cannot read the report: {why}") from None
    try:
        report = json.loads(text)
    except json.JSONDecodeError as exc:
        ended = text.rstrip().endswith(("}", "]"))
        what = "invalid" if ended else "truncated" if text.strip() else "empty"
        raise ReportError(
            f"{shown}: not a run report: {what} JSON ({exc.msg}: line "
            f"{exc.lineno} column {exc.colno})"
        ) from None
    if not isinstance(report, dict):
        raise ReportError(f"{shown}: not a run report: a JSON object is expected")
    for key, kind in _REQUIRED.items():
        value = report.get(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ReportError(
                f"{shown}: not a run report: {key!r} is missing or not {kind.__name__}"
            )
    if report["report_version"] > REPORT_VERSION:
        raise ReportError(
            f"{shown}: report_version {report['report_version']} is newer than this "
            f"anomvae reads ({REPORT_VERSION}); upgrade anomvae"
        )
    return report


def history_row(report: dict[str, Any], path: str = "") -> dict[str, Any]:
    """One run's line of ``anomvae monitor``: the fields a table or dashboard needs.

    Examples
    --------
    >>> r = make_report(None, started="2026-05-01T02:00:00Z",
    ...                 finished="2026-05-01T02:00:01Z", exit_code=1, status="error")
    >>> history_row(r)["status"]
    'error'
    """
    cal = report.get("calibration")
    drift = report.get("score_drift") or {}
    flag = report.get("flag_count_test") or {}
    target = cal.get("target_fpr") if isinstance(cal, dict) else None
    expected = flag.get("expected_rate", target)
    return {
        "path": path,
        "started": report["started"],
        "status": report["status"],
        "exit_code": report["exit_code"],
        "rows": report.get("rows_scored"),
        "flags": report.get("flags"),
        "flag_rate": report.get("flag_rate"),
        "expected_rate": expected,
        "flag_p": flag.get("p_value"),
        "score_ks": drift.get("statistic"),
        "score_ks_p": drift.get("p_value"),
        "min_adjusted_p": report.get("min_adjusted_p"),
        "alarm": report["alarm"],
        "fired": [f.get("test") for f in report.get("fired") or []],
        "top_moved": [t.get("column") for t in report.get("top_moved") or []][:3],
    }
