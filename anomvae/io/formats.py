"""Names, formats and columns: what an input or output is, before any data is read.

Shared by :mod:`anomvae.io.reading` and :mod:`anomvae.io.writing`: the ``-``
convention for stdin/stdout, delimiter names, format detection from names and magic
bytes, and the missing-column messages with their ``--sep`` hints.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from anomvae.exceptions import DataError, MissingColumnsError

__all__ = [
    "STDIO",
    "Format",
    "PathLike",
    "check_columns",
    "input_format",
    "output_format",
    "parse_sep",
]

STDIO = "-"

Format = Literal["csv", "parquet"]
PathLike = str | os.PathLike[str]

_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_COMPRESSION_SUFFIXES = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}
_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\x28\xb5\x2f\xfd": "zstd"}
_SEP_NAMES = {
    "\\t": "\t",
    "tab": "\t",
    "comma": ",",
    "semicolon": ";",
    "pipe": "|",
    "space": " ",
}
_SEP_CANDIDATES = (",", ";", "\t", "|")

# --------------------------------------------------------------------------- names


def _source(path: PathLike) -> str:
    return "<stdin>" if str(path) == STDIO else str(path)


def _quote_list(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _sep_flag(sep: str) -> str:
    return "--sep '\\t'" if sep == "\t" else f"--sep {sep!r}"


def parse_sep(text: str) -> str:
    r"""Turn a ``--sep`` argument into a one-character delimiter.

    Accepts the character itself or ``\t``, ``tab``, ``comma``, ``semicolon``,
    ``pipe``, ``space``.

    Examples
    --------
    >>> parse_sep("\\t") == "\t", parse_sep(";")
    (True, ';')
    """
    sep = _SEP_NAMES.get(text.lower(), text)
    if len(sep) != 1 or sep in '\r\n"':
        raise ValueError(f"--sep must be a single character (or 'tab'), got {text!r}")
    return sep


def _default_sep(path: PathLike) -> str:
    name = str(path).lower()
    for suffix in _COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    return "\t" if name.endswith((".tsv", ".tab")) else ","


def output_format(path: PathLike) -> tuple[Format, str | None]:
    """Return ``(format, compression)`` chosen from an output path's extension.

    ``.parquet``/``.pq``/``.parq`` give Parquet; anything else (and ``-``) CSV,
    compressed when the name ends in ``.gz``, ``.bz2`` or ``.zst``.
    """
    name = str(path).lower()
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet", None
    suffix = os.path.splitext(name)[1]
    return "csv", _COMPRESSION_SUFFIXES.get(suffix)


def _open_raw(path: PathLike) -> Any:
    source = _source(path)
    if os.path.isdir(path):
        raise DataError(f"{source}: is a directory, not a data file")
    try:
        return pa.OSFile(os.fspath(path), "rb")
    except FileNotFoundError:
        raise DataError(f"{source}: no such file") from None
    except PermissionError:
        raise DataError(f"{source}: permission denied") from None
    except OSError as exc:
        raise DataError(f"{source}: cannot open: {exc}") from None


def _magic(path: PathLike) -> bytes:
    if str(path) == STDIO:
        stdin: Any = sys.stdin.buffer  # a BufferedReader, which can peek
        return bytes(stdin.peek(4)[:4]) if hasattr(stdin, "peek") else b""
    with _open_raw(path) as f:
        return bytes(f.read(4))


def input_format(path: PathLike) -> Format:
    """Guess whether an input is CSV or Parquet.

    Parquet when the name ends in ``.parquet``/``.pq``/``.parq`` or the file
    starts with Parquet's magic bytes; CSV otherwise (always for ``-``, stdin).
    Raises :class:`DataError` when the file cannot be opened.
    """
    if str(path).lower().endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if str(path) == STDIO:
        return "csv"
    return "parquet" if _magic(path) == b"PAR1" else "csv"


# ------------------------------------------------------------------------ columns


def check_columns(
    found: Sequence[str],
    required: Sequence[str],
    *,
    source: str = "<input>",
    sep: str | None = None,
    needed_by: str = "the model needs",
) -> None:
    """Check that every required column is present exactly once.

    Parameters
    ----------
    found : sequence of str
        Column names in the input, in file order.
    required : sequence of str
        Names that must be present; extra columns in ``found`` are fine.
    source : str
        File name used in messages.
    sep : str, optional
        Delimiter the header was split with; enables the "try --sep" hint.
    needed_by : str
        Who needs the columns, for the message.

    Raises
    ------
    MissingColumnsError
        Names the missing columns, with a hint when the header looks split with
        the wrong delimiter or names differ only in case or surrounding spaces.
    """
    counts: dict[str, int] = {}
    for name in found:
        counts[name] = counts.get(name, 0) + 1
    missing = [c for c in dict.fromkeys(required) if c not in counts]
    if missing:
        hints = _column_hints(found, required, missing, sep)
        raise MissingColumnsError(
            f"{source}: missing column{'s' if len(missing) > 1 else ''} "
            f"{_quote_list(missing)} ({needed_by}: {_quote_list(list(required))}; "
            f"the file has: {_quote_list(list(found))})" + "".join(hints),
            missing,
        )
    for name in dict.fromkeys(required):
        if counts[name] > 1:
            raise DataError(
                f"{source}: column {name!r} appears {counts[name]} times in the "
                "header; rename the duplicates"
            )


def _column_hints(
    found: Sequence[str], required: Sequence[str], missing: list[str], sep: str | None
) -> list[str]:
    hints = []
    joined = sep.join(found) if sep else ""
    for cand in _SEP_CANDIDATES:
        if cand == sep or cand not in joined:
            continue
        parts = {p.strip().strip('"') for p in joined.split(cand)}
        if parts & set(required) or len(found) == 1:
            hints.append(f". The file looks {cand!r}-separated: try {_sep_flag(cand)}")
            break
    loose = {f.strip().lower(): f for f in found}
    near = [
        (m, loose[m.strip().lower()]) for m in missing if m.strip().lower() in loose
    ]
    if near:
        pairs = ", ".join(f"{f!r} for {m!r}" for m, f in near[:5])
        hints.append(f". Names differ in case or spaces: the file has {pairs}")
    return hints


def _parquet_file(path: PathLike) -> Any:
    source = _source(path)
    if str(path) == STDIO:
        raise DataError(
            "<stdin>: Parquet cannot be read from stdin (it needs random "
            "access); pass a file path"
        )
    _open_raw(path).close()  # uniform messages for missing files and permissions
    if os.path.getsize(path) == 0:
        raise DataError(f"{source}: the file is empty (0 bytes)")
    try:
        return pq.ParquetFile(os.fspath(path))
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{source}: not a valid Parquet file ({exc})") from None
