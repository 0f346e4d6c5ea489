"""Which files an input names: a file, a directory of CSV/Parquet files or a glob."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from anomvae.exceptions import DataError

__all__ = ["INPUT_SUFFIXES", "input_files"]

#: File name endings read from a directory input (compressed CSV included).
INPUT_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv", ".tab", ".txt")
_COMPRESSED = (".gz", ".bz2", ".zst")


def _is_input_name(name: str) -> bool:
    lower = name.lower()
    for suffix in _COMPRESSED:
        lower = lower.removesuffix(suffix)
    return lower.endswith(INPUT_SUFFIXES) and not name.startswith((".", "_"))


def input_files(path: str | os.PathLike[str]) -> list[str]:
    """The files an input names: a file, a directory (its CSV/Parquet files,
    not recursive, hidden and ``_``-prefixed names skipped) or a glob pattern;
    sorted.

    Raises
    ------
    DataError
        When nothing matches.
    """
    text = os.fspath(path)
    if os.path.isdir(text):
        files = [
            str(p)
            for p in sorted(Path(text).iterdir())
            if p.is_file() and _is_input_name(p.name)
        ]
        what = f"directory {text!r} holds no CSV or Parquet file"
    elif glob.has_magic(text):
        files = sorted(p for p in glob.glob(text) if os.path.isfile(p))
        what = f"no file matches {text!r}"
    elif os.path.isfile(text):
        files = [text]
        what = ""
    else:
        raise DataError(f"cannot read {text}: no such file or directory")
    if not files:
        raise DataError(what)
    return files
