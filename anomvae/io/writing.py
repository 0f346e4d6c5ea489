"""Atomic, streaming writing: nothing appears at the target until all succeeded.

Writing goes to a temporary file beside the target that is renamed onto it only
when everything succeeded, so a failed or killed job never leaves a truncated
output. Temporary files are named ``.<target name>.<hex>.anomvae.tmp``. A process
killed with SIGKILL (or a power cut) cannot remove its own; such stale files can be
deleted once no job writes to that target any more.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import shutil
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from anomvae.exceptions import AnomvaeError
from anomvae.io.formats import STDIO, Format, PathLike, output_format, parse_sep

__all__ = [
    "TEMP_SUFFIX",
    "OutputError",
    "TableWriter",
    "atomic_directory",
    "atomic_open",
    "atomic_output",
    "check_writable",
]

TEMP_SUFFIX = ".anomvae.tmp"  # temporary files: .<target name>.<hex>.anomvae.tmp
#: Files a Parquet dataset directory may hold beside its parts.
_DATASET_EXTRAS = ("_metadata", "_common_metadata", "_SUCCESS")


class OutputError(AnomvaeError, OSError):
    """An output path that cannot be written (missing directory, permissions...)."""


class _AtomicFile:
    """A temporary file beside ``path`` that can replace it atomically."""

    def __init__(self, path: PathLike) -> None:
        self.shown = str(path)
        target = Path(path)
        if target.is_symlink():
            target = Path(os.path.realpath(target))
        if target.is_dir():
            raise OutputError(f"cannot write {self.shown}: it is a directory")
        parent = target.parent
        if not parent.is_dir():
            what = "is not a directory" if parent.exists() else "does not exist"
            raise OutputError(
                f"cannot write {self.shown}: directory {str(parent)!r} {what}"
            )
        self.target = target
        self.mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else None
        if target.exists() and not os.access(target, os.W_OK):
            raise OutputError(f"cannot write {self.shown}: the file is read-only")
        for _ in range(100):
            self.temp = parent / f".{target.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
            try:
                os.close(
                    os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                )
                return
            except FileExistsError:
                continue
            except PermissionError:
                raise OutputError(
                    f"cannot write {self.shown}: permission denied in "
                    f"directory {str(parent)!r}"
                ) from None
            except OSError as exc:
                raise OutputError(
                    f"cannot write {self.shown}: {exc.strerror}"
                ) from None
        raise OutputError(f"cannot write {self.shown}: no free temporary name")

    def commit(self) -> None:
        """Flush the temporary file to disk and rename it onto the target."""
        try:
            fd = os.open(self.temp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            if self.mode is not None:
                os.chmod(self.temp, self.mode)
            os.replace(self.temp, self.target)
        except OSError as exc:
            self.discard()
            raise OutputError(f"cannot write {self.shown}: {exc.strerror}") from None
        with contextlib.suppress(OSError):  # make the rename itself durable
            dir_fd = os.open(self.target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.temp)


@contextlib.contextmanager
def atomic_output(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path that replaces ``path`` when the block succeeds.

    The temporary file exists (empty) in the target's directory, so the final
    :func:`os.replace` is atomic. On success it is fsynced and renamed onto
    ``path`` (keeping the permissions of a file it replaces); on any exception,
    ``KeyboardInterrupt`` included, it is removed and ``path`` is left as it
    was. Used for model files too.

    Raises
    ------
    OutputError
        When the target cannot be written (missing directory, target is a
        directory, no permission...), before the block runs.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "model.anomvae"
    >>> with atomic_output(path) as tmp:
    ...     _ = tmp.write_bytes(b"weights")
    >>> path.read_bytes()
    b'weights'
    """
    if str(path) == STDIO:
        raise ValueError("atomic_output needs a file path; use atomic_open for '-'")
    atomic = _AtomicFile(path)
    try:
        yield atomic.temp
    except BaseException:
        atomic.discard()
        raise
    atomic.commit()


def check_writable(path: PathLike) -> None:
    """Fail now, with :class:`OutputError`, if ``path`` could not be written later.

    Creates and removes a temporary file beside the target, exactly as
    :func:`atomic_output` would, so a long job (training a model) does not find
    out at its end that its output directory is missing or read-only. ``-``
    (stdout) always passes.
    """
    if str(path) != STDIO:
        _AtomicFile(path).discard()


@contextlib.contextmanager
def atomic_open(path: PathLike) -> Iterator[IO[bytes]]:
    """Like :func:`atomic_output`, but yield the temporary file open for writing.

    ``-`` yields stdout's binary buffer (written directly, so not atomic).
    """
    if str(path) == STDIO:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with atomic_output(path) as temp, open(temp, "wb") as f:
        yield f


class _Stdout(io.RawIOBase):
    """stdout's buffer for pyarrow, flushed but never closed."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return sys.stdout.buffer.write(data)

    def close(self) -> None:
        sys.stdout.buffer.flush()
        super().close()


class TableWriter:
    """Write tables to CSV or Parquet as they come, atomically.

    Parameters
    ----------
    path : str or path-like
        Target; ``-`` writes CSV to stdout (not atomic). The format follows the
        extension (see :func:`output_format`), ``.gz``/``.bz2``/``.zst`` compress.
    fmt : {"auto", "csv", "parquet"}
        Force a format instead.
    sep : str
        CSV delimiter (see :func:`parse_sep`).
    schema : pyarrow.Schema, optional
        Output schema; otherwise the first table's. Needed to write a CSV header
        or a Parquet file when no table is written at all.

    Notes
    -----
    The temporary file is created by the constructor, so an unwritable target
    fails before any input is read. Leaving the ``with`` block normally commits
    (:meth:`close`); an exception discards everything (:meth:`abort`). Later
    tables are cast to the first one's schema. CSV text values are quoted only in
    tables where some value needs it.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "scores.csv"
    >>> with TableWriter(path) as writer:
    ...     writer.write(pa.table({"id": ["a", "b"], "score": [0.5, 2.0]}))
    >>> print(path.read_text(), end="")
    id,score
    a,0.5
    b,2
    """

    def __init__(
        self,
        path: PathLike,
        *,
        fmt: Literal["auto", "csv", "parquet"] = "auto",
        sep: str = ",",
        schema: pa.Schema | None = None,
    ) -> None:
        detected, compression = output_format(path)
        self.path = str(path)
        self.format: Format = detected if fmt == "auto" else fmt
        self.sep = parse_sep(sep)
        self.rows_written = 0
        self._schema: pa.Schema | None = None
        self._parquet: Any = None
        self._atomic: _AtomicFile | None = None
        self._sink: Any = None
        if self.path == STDIO:
            self._sink = pa.PythonFile(_Stdout(), mode="w")
        else:
            self._atomic = _AtomicFile(path)
            self._guard(lambda: pa.OSFile(str(self._atomic.temp), "wb"), "_sink")
        if compression and self.format == "csv":
            self._sink = pa.CompressedOutputStream(self._sink, compression)
        special = re.escape(self.sep) if self.sep != "\t" else "\\t"
        self._needs_quotes = f'[{special}"\r\n]'
        if schema is not None:
            self._start(schema)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _guard(self, action: Any, attr: str | None = None) -> None:
        """Run an I/O action; on failure discard the output, raise OutputError."""
        try:
            result = action()
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {exc}") from None
        if attr is not None:
            setattr(self, attr, result)

    def _start(self, schema: pa.Schema) -> None:
        self._schema = schema
        if self.format == "parquet":
            self._guard(lambda: pq.ParquetWriter(self._sink, schema), "_parquet")
        else:
            self._write_csv(schema.empty_table(), header=True)

    def _write_csv(self, table: pa.Table, *, header: bool = False) -> None:
        quote = any(
            pc.any(pc.match_substring_regex(column, self._needs_quotes)).as_py()
            for column in table.columns
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        )
        plain_names = not any(
            re.search(self._needs_quotes, n) for n in table.column_names
        )
        options = pcsv.WriteOptions(
            include_header=header,
            delimiter=self.sep,
            quoting_style="needed" if quote else "none",
        )
        with contextlib.suppress(AttributeError):  # pyarrow >= 19
            options.quoting_header = "none" if plain_names else "needed"
        self._guard(lambda: pcsv.write_csv(table, self._sink, write_options=options))

    def write(self, data: Any) -> None:
        """Append a ``pyarrow.Table``, ``RecordBatch`` or pandas ``DataFrame``."""
        if self._sink is None:
            raise ValueError(f"{self.path}: the writer is closed")
        if isinstance(data, pa.RecordBatch):
            table = pa.Table.from_batches([data])
        elif isinstance(data, pa.Table):
            table = data
        else:
            table = pa.Table.from_pandas(data, preserve_index=False)
        if self._schema is None:
            self._start(table.schema)
        elif table.schema != self._schema:
            table = table.select(self._schema.names).cast(self._schema)
        if self.format == "parquet":
            self._guard(lambda: self._parquet.write_table(table))
        else:
            self._write_csv(table)
        self.rows_written += table.num_rows

    def close(self) -> None:
        """Finish the file and move it onto the target (no-op once closed)."""
        if self._sink is None:
            return
        if self._schema is None and self.format == "parquet":
            self._start(pa.schema([]))
        self._guard(self._finish)
        if self._atomic is not None:
            self._atomic.commit()

    def _finish(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        self._sink.close()
        self._sink = None

    def abort(self) -> None:
        """Discard everything written; the target is left as it was."""
        if self._sink is not None:
            with contextlib.suppress(Exception):
                self._finish()
        self._sink = None
        if self._atomic is not None:
            self._atomic.discard()


def _is_dataset_dir(path: Path) -> bool:
    """An empty directory, or one holding only Parquet parts (a previous output)."""
    return all(
        p.is_file() and (p.name.endswith(".parquet") or p.name in _DATASET_EXTRAS)
        for p in path.iterdir()
    )


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Any:
    """Yield a temporary directory beside ``path`` that becomes ``path`` at the end.

    On success the temporary directory is renamed onto ``path``. A directory
    cannot be renamed over a non-empty one, so an existing output is first moved
    aside, then removed once the new one is in place: a reader may briefly find
    no ``path`` between the two renames, but never a partial one. An existing
    ``path`` is replaced only if it holds nothing but Parquet parts (a previous
    output); anything else is refused before any work. On failure the temporary
    directory is removed and ``path`` is left as it was.
    """
    target = Path(path)
    shown = os.fspath(path)
    if target.exists() and not target.is_dir():
        raise OutputError(f"cannot write {shown}: it exists and is not a directory")
    if target.is_dir() and not _is_dataset_dir(target):
        raise OutputError(
            f"cannot write {shown}: the directory holds files other than Parquet "
            "parts; remove it or choose another output directory"
        )
    parent = target.absolute().parent
    if not parent.is_dir():
        raise OutputError(
            f"cannot write {shown}: directory {str(parent)!r} does not exist"
        )
    temp = parent / f".{target.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
    try:
        temp.mkdir()
    except OSError as exc:
        raise OutputError(f"cannot write {shown}: {exc.strerror}") from None
    try:
        yield temp
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    old = parent / f".{target.name}.{secrets.token_hex(4)}.old{TEMP_SUFFIX}"
    try:
        if target.exists():
            os.replace(target, old)
        os.replace(temp, target)
    except OSError as exc:
        shutil.rmtree(temp, ignore_errors=True)
        if old.exists() and not target.exists():
            os.replace(old, target)
        raise OutputError(f"cannot write {shown}: {exc.strerror}") from None
    shutil.rmtree(old, ignore_errors=True)
