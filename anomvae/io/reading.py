"""Streaming CSV/Parquet reading: checked ``float64`` batches with row numbers.

Row numbers in messages and in :class:`Batch` are 1-based *data row* numbers:
the header is not counted and blank lines are skipped, so in a file without
blank lines (or line breaks inside quoted values) row ``n`` is line ``n + 1``.

Notes
-----
CSV is read with :func:`pyarrow.csv.read_csv`, one block of about ``block_size``
bytes at a time, cut at a line break. Feature columns are parsed straight to
``float64`` (the fast path: about as fast as pyarrow's own streaming reader).
Only when pyarrow rejects a block is that block parsed again with every column
as text, to find the exact rows, columns and reasons; an invalid cell therefore
never forces the whole file to be re-read, and stdin works like a file.
Parsing straight to float64 is faster than parsing text and casting it
(``benchmarks/bench_io_reference.py`` times reading and writing a file).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from anomvae.exceptions import DataError
from anomvae.io.cells import Problem, _to_features, cell_message, cell_problems
from anomvae.io.formats import (
    _MAGIC,
    STDIO,
    Format,
    PathLike,
    _default_sep,
    _magic,
    _open_raw,
    _parquet_file,
    _source,
    check_columns,
    input_format,
    parse_sep,
)
from anomvae.runtime import DEFAULT_BATCH_ROWS, DEFAULT_BLOCK_SIZE

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_BLOCK_SIZE",
    "REJECTS_SCHEMA",
    "Batch",
    "BatchReader",
    "InputInfo",
    "describe_input",
    "read_batches",
]


#: Schema of :attr:`Batch.rejects` (one row per rejected data row).
REJECTS_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("column", pa.string()),
        ("value", pa.string()),
        ("reason", pa.string()),
    ]
)


@dataclass(frozen=True)
class Batch:
    """A block of consecutive input rows, converted and checked.

    Attributes
    ----------
    features : ndarray of shape (n_valid, n_features)
        ``float64``, finite, columns in the requested order.
    passthrough : pyarrow.Table
        The passthrough columns of the same ``n_valid`` rows, in requested order.
    rows : ndarray of shape (n_valid,)
        1-based data row number of each valid row.
    first_row : int
        Data row number of the first row this batch covers (valid or rejected).
    n_rows : int
        Number of data rows covered, rejected ones included.
    rejects : pyarrow.Table
        One row per rejected data row, schema :data:`REJECTS_SCHEMA`; always empty
        with ``on_invalid="error"``. ``column`` is ``""`` for malformed lines,
        whose text is in ``value``.
    """

    features: np.ndarray
    passthrough: pa.Table
    rows: np.ndarray
    first_row: int
    n_rows: int
    rejects: pa.Table

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class _Block:
    """Parsed rows of one input block before conversion."""

    table: pa.Table  # needed columns of the rows that parsed
    first_row: int
    n_rows: int
    rel_rows: np.ndarray | None = None  # 0-based offsets of table rows, if gaps
    bad_lines: tuple[tuple[int, int, int, str], ...] = ()  # offset, exp, got, text


class BatchReader:
    """Iterator of :class:`Batch` returned by :func:`read_batches`.

    The header (or Parquet schema) is read and checked when the reader is
    created; data errors surface while iterating. Use it as a context manager,
    or call :meth:`close`, to release the file early.

    Attributes
    ----------
    source, format, compression, sep : str or None
        Input name used in messages, ``"csv"``/``"parquet"``, detected
        compression and the CSV delimiter.
    header : tuple of str
        Every column of the input, in file order.
    columns, passthrough : tuple of str
        Feature and passthrough column names, in output order.
    rows_read, rows_rejected : int
        Running counts of data rows read and rejected.
    bytes_read : int
        Bytes of the CSV file consumed so far (compressed bytes for a compressed
        file); with :attr:`size_bytes`, what a progress bar needs. Stays 0 for
        Parquet, whose progress is ``rows_read`` out of :attr:`num_rows`.
    size_bytes, num_rows : int or None
        Size of the input file (``None`` for stdin) and, for Parquet, its number
        of rows (``None`` for CSV).
    """

    def __init__(
        self,
        path: PathLike,
        columns: Sequence[str] | None,
        passthrough: Sequence[str] | bool,
        sep: str | None,
        on_invalid: Literal["error", "skip"],
        batch_rows: int,
        fmt: Literal["auto", "csv", "parquet"],
        allow_empty: bool,
        block_size: int,
        blank_ok: Sequence[str] = (),
    ) -> None:
        if on_invalid not in ("error", "skip"):
            raise ValueError(
                f"on_invalid must be 'error' or 'skip', got {on_invalid!r}"
            )
        if batch_rows < 1 or block_size < 1:
            raise ValueError("batch_rows and block_size must be positive")
        self.source = _source(path)
        self.format: Format = input_format(path) if fmt == "auto" else fmt
        self.compression: str | None = None
        self.sep: str | None = None
        self.rows_read = 0
        self.rows_rejected = 0
        self.bytes_read = 0
        self.size_bytes: int | None = None
        self.num_rows: int | None = None
        self._raw: Any = None
        self._skip = on_invalid == "skip"
        self._batch_rows = batch_rows
        self._allow_empty = allow_empty
        self._blank_ok = frozenset(blank_ok)
        self._stream: Any = None
        self._parquet: Any = None
        try:
            self._open(path, columns, passthrough, sep, block_size)
        except BaseException:
            self.close()
            raise

    def _open(
        self,
        path: PathLike,
        columns: Sequence[str] | None,
        passthrough: Sequence[str] | bool,
        sep: str | None,
        block_size: int,
    ) -> None:
        first = b""
        if self.format == "parquet":
            self._parquet = _parquet_file(path)
            self.size_bytes = os.path.getsize(path)
            self.num_rows = self._parquet.metadata.num_rows
            header = tuple(self._parquet.schema_arrow.names)
        else:
            self.sep = _default_sep(path) if sep is None else parse_sep(sep)
            header, first = self._open_csv(path, block_size)
        self.header = header
        if isinstance(passthrough, str):
            passthrough = [passthrough]
        extra = header if passthrough is True else tuple(passthrough or ())
        self.passthrough = tuple(dict.fromkeys(extra))
        if columns is None:
            columns = [c for c in header if passthrough is True or c not in extra]
        self.columns = tuple(columns)
        if len(set(self.columns)) != len(self.columns):
            raise ValueError(f"duplicate feature columns in {self.columns}")
        check_columns(header, self.columns, source=self.source, sep=self.sep)
        check_columns(
            header,
            self.passthrough,
            source=self.source,
            sep=self.sep,
            needed_by="to pass through",
        )
        self._needed = list(dict.fromkeys(self.columns + self.passthrough))
        blocks = self._csv_blocks(first) if self.format == "csv" else self._pq_blocks()
        self._batches = self._generate(blocks)

    # -- plumbing ----------------------------------------------------------------
    def __iter__(self) -> BatchReader:
        return self

    def __next__(self) -> Batch:
        return next(self._batches)

    def __enter__(self) -> BatchReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading and release the input."""
        if hasattr(self, "_batches"):
            self._batches.close()
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self._parquet is not None:
            with contextlib.suppress(AttributeError):  # close() is pyarrow >= 17
                self._parquet.close()
            self._parquet = None

    # -- CSV ---------------------------------------------------------------------
    def _open_csv(
        self, path: PathLike, block_size: int
    ) -> tuple[tuple[str, ...], bytes]:
        magic = _magic(path)
        if magic == b"PAR1":
            raise DataError(f"{self.source}: this is a Parquet file, not CSV")
        if magic.startswith(b"PK\x03\x04"):
            raise DataError(
                f"{self.source}: zip/Excel files are not supported; "
                "unzip it or export it as CSV"
            )
        if str(path) == STDIO:
            raw = pa.PythonFile(sys.stdin.buffer, mode="r")
        else:
            raw = self._raw = _open_raw(path)
            self.size_bytes = raw.size()
        self.compression = next(
            (c for m, c in _MAGIC.items() if magic.startswith(m)), None
        )
        self._stream = (
            pa.CompressedInputStream(raw, self.compression) if self.compression else raw
        )
        self._pieces = self._read_pieces(block_size)
        first = next(self._pieces, b"")
        if not first:
            what = "decompressed input" if self.compression else "file"
            raise DataError(
                f"{self.source}: the {what} is empty (0 bytes); "
                "expected a header line with column names"
            )
        ends = [i + 1 for i in (first.find(b"\n"), first.find(b"\r")) if i >= 0]
        end = min(ends, default=len(first))
        line = first[:end]
        if not line.strip(b" \t\r\n\xef\xbb\xbf"):
            raise DataError(
                f"{self.source}: the first line (the header with column names) is empty"
            )
        try:
            names = pcsv.read_csv(
                pa.py_buffer(line),
                read_options=pcsv.ReadOptions(use_threads=False),
                parse_options=pcsv.ParseOptions(delimiter=self.sep),
            ).column_names
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise DataError(
                f"{self.source}: cannot read the header line: {exc}"
            ) from None
        return tuple(names), first[end:]

    def _read_pieces(self, block_size: int) -> Iterator[bytes]:
        """Yield the input in pieces of about ``block_size`` whole lines."""
        rest = b""
        while True:
            try:
                data = self._stream.read(block_size)
            except OSError as exc:
                raise DataError(
                    f"{self.source}: cannot read after row {self.rows_read}: {exc}"
                    + (
                        " (truncated or corrupt compressed file?)"
                        if self.compression
                        else ""
                    )
                ) from None
            self.bytes_read = (
                self._raw.tell() if self._raw else self.bytes_read + len(data)
            )
            if not data:
                if rest:
                    yield rest
                return
            buf = rest + data if rest else data
            cut = buf.rfind(b"\n") + 1 or buf.rfind(b"\r") + 1
            rest = buf[cut:]
            if cut:
                yield buf[:cut]

    def _parse_options(self, handler: Any = None) -> Any:
        return pcsv.ParseOptions(delimiter=self.sep, invalid_row_handler=handler)

    def _csv_blocks(self, first: bytes) -> Iterator[_Block]:
        pieces = [first] if first else []
        for piece in _chain(pieces, self._pieces):
            if piece.isspace():
                continue
            try:
                table = pcsv.read_csv(
                    pa.py_buffer(piece),
                    read_options=pcsv.ReadOptions(column_names=self.header),
                    parse_options=self._parse_options(),
                    convert_options=self._convert_options(numeric=True),
                )
                block = _Block(table, self.rows_read + 1, table.num_rows)
            except pa.ArrowInvalid:
                block = self._parse_slowly(piece)
            self.rows_read += block.n_rows
            yield block

    def _convert_options(self, *, numeric: bool) -> Any:
        types = {c: pa.string() for c in self._needed or self.header[:1]}
        if numeric:
            types.update({c: pa.float64() for c in self.columns})
        return pcsv.ConvertOptions(
            include_columns=self._needed or self.header[:1],  # [] would mean all
            column_types=types,
            null_values=[""],
            strings_can_be_null=False,
        )

    def _parse_slowly(self, piece: bytes) -> _Block:
        """Parse a block that failed, all as text, to locate every problem.

        Malformed lines are numbered by pyarrow only when it parses serially, so
        a block that has some is parsed a second time, without threads.
        """
        bad: list[tuple[int, int, int, str]] = []

        def on_bad_line(row: Any) -> str:
            number = -1 if row.number is None else row.number - 1
            bad.append((number, row.expected_columns, row.actual_columns, row.text))
            return "skip"

        first_row = self.rows_read + 1
        for threads in (True, False):
            bad.clear()
            try:
                table = pcsv.read_csv(
                    pa.py_buffer(piece),
                    read_options=pcsv.ReadOptions(
                        column_names=self.header, use_threads=threads
                    ),
                    parse_options=self._parse_options(on_bad_line),
                    convert_options=self._convert_options(numeric=False),
                )
            except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
                if threads:
                    continue  # serial parsing gives pyarrow's message a row number
                raise DataError(
                    f"{self.source}: {_relocate(str(exc), first_row, self.header)}"
                ) from None
            if all(b[0] >= 0 for b in bad):
                break
        n_rows = table.num_rows + len(bad)
        keep = np.ones(n_rows, dtype=bool)
        keep[[b[0] for b in bad]] = False
        return _Block(table, first_row, n_rows, np.flatnonzero(keep), tuple(bad))

    # -- Parquet -----------------------------------------------------------------
    def _pq_blocks(self) -> Iterator[_Block]:
        try:
            for rb in self._parquet.iter_batches(
                batch_size=self._batch_rows, columns=self._needed or self.header[:1]
            ):
                block = _Block(
                    pa.Table.from_batches([rb]), self.rows_read + 1, rb.num_rows
                )
                self.rows_read += rb.num_rows
                yield block
        except (pa.ArrowException, OSError) as exc:
            raise DataError(
                f"{self.source}: cannot read Parquet data after row "
                f"{self.rows_read}: {exc}"
            ) from None

    # -- conversion --------------------------------------------------------------
    def _generate(self, blocks: Iterator[_Block]) -> Generator[Batch, None, None]:
        for block in blocks:
            yield from self._split(block)
        if self.rows_read == 0 and not self._allow_empty:
            raise DataError(f"{self.source}: no data rows (only a header)")

    def _split(self, block: _Block) -> Iterator[Batch]:
        features, codes, bad_col = _to_features(
            block.table, self.columns, self.source, self._blank_ok
        )
        rel = np.arange(block.n_rows) if block.rel_rows is None else block.rel_rows
        rejects = self._rejects(block, codes, bad_col, rel)
        if codes is not None:
            keep = codes == 0
            features, rel = features[keep], rel[keep]
            table = block.table.filter(pa.array(keep))
        else:
            table = block.table
        passthrough = table.select(list(self.passthrough))
        self.rows_rejected += rejects.num_rows
        rej_rows = rejects.column("row").to_numpy() - block.first_row
        for start in range(0, block.n_rows, self._batch_rows):
            stop = min(start + self._batch_rows, block.n_rows)
            a, b = np.searchsorted(rel, [start, stop])
            ra, rb = np.searchsorted(rej_rows, [start, stop])
            yield Batch(
                features=features[a:b],
                passthrough=passthrough.slice(a, b - a),
                rows=rel[a:b] + block.first_row,
                first_row=block.first_row + start,
                n_rows=stop - start,
                rejects=rejects.slice(ra, rb - ra),
            )

    def _rejects(
        self,
        block: _Block,
        codes: np.ndarray | None,
        bad_col: np.ndarray,
        rel: np.ndarray,
    ) -> pa.Table:
        """Collect problems in row order; raise the first one unless skipping."""
        found: list[Problem] = [
            (
                block.first_row + offset,
                "",
                text,
                f"expected {expected} fields, found {got}",
            )
            for offset, expected, got, text in block.bad_lines
        ]
        if codes is not None:
            rows = block.first_row + rel
            found += cell_problems(block.table, self.columns, codes, bad_col, rows)
        found.sort()
        if found and not self._skip:
            raise DataError(cell_message(self.source, *found[0], fmt=self.format))
        return pa.Table.from_pylist(
            [dict(zip(REJECTS_SCHEMA.names, f, strict=True)) for f in found],
            schema=REJECTS_SCHEMA,
        )


def _chain(first: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from first
    yield from rest


def _relocate(message: str, first_row: int, header: Sequence[str]) -> str:
    """Rewrite pyarrow's block-relative ``Row #n`` and ``column #k`` by name."""
    row = re.search(r"Row #(\d+): ", message)
    col = re.search(r"In CSV column #(\d+): ", message)
    where = []
    if row:
        where.append(f"row {first_row + int(row[1]) - 1}")
    if col and int(col[1]) < len(header):
        where.append(f"column {header[int(col[1])]!r}")
    rest = re.sub(r"(In CSV column #\d+|Row #\d+): ", "", message)
    if "UTF8" in rest:
        rest += " (the file must be UTF-8; convert it, e.g. iconv -f latin1 -t utf-8)"
    return ", ".join(where) + ": " + rest if where else message


def read_batches(
    path: PathLike,
    *,
    columns: Sequence[str] | None = None,
    passthrough: Sequence[str] | bool = (),
    sep: str | None = None,
    on_invalid: Literal["error", "skip"] = "error",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    fmt: Literal["auto", "csv", "parquet"] = "auto",
    allow_empty: bool = False,
    block_size: int = DEFAULT_BLOCK_SIZE,
    blank_ok: Sequence[str] = (),
) -> BatchReader:
    """Stream a CSV or Parquet input as checked ``float64`` batches.

    Parameters
    ----------
    path : str or path-like
        Input file; ``-`` reads CSV from stdin. CSV compressed with gzip, bzip2
        or zstd is recognised by content, whatever the extension.
    columns : sequence of str, optional
        Feature columns, matched by name (file order is irrelevant, extra columns
        are ignored). ``None``: every column not listed in ``passthrough``.
    passthrough : sequence of str or bool
        Columns carried along unchanged (ids...), or ``True`` for every column of
        the input in file order. From CSV they are text, kept verbatim, except
        feature columns, which come as ``float64``.
    sep : str, optional
        CSV delimiter (see :func:`parse_sep`); default ``","``, or tab for
        ``.tsv``/``.tab`` names. There is no guessing: a wrong delimiter gives a
        missing-columns error that suggests the right ``--sep``.
    on_invalid : {"error", "skip"}
        An invalid cell is empty, not a number, NaN or infinite; a malformed line
        has the wrong number of fields. ``"error"`` raises at the first one;
        ``"skip"`` leaves those rows out of ``features`` and lists them in
        :attr:`Batch.rejects`.
    batch_rows : int
        Maximum number of data rows covered by one batch.
    fmt : {"auto", "csv", "parquet"}
        Input format; ``"auto"`` uses :func:`input_format`.
    allow_empty : bool
        Accept an input with a header but no data rows (no batches) instead of
        raising.
    block_size : int
        Bytes of CSV text parsed at once; bounds the memory used.
    blank_ok : sequence of str
        Feature columns where a blank cell is data (a mixed-table model's): an
        empty, null or NaN cell there is NaN in ``features``, not invalid.

    Returns
    -------
    BatchReader
        Iterator of :class:`Batch`, in input order.

    Raises
    ------
    DataError
        For any problem with the input, naming the file and, where it applies,
        the row and column. Problems with the file or its columns are raised by
        this call; problems with the rows while iterating.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "data.csv"
    >>> _ = path.write_text("id,b,a\\nx,1,2\\ny,3,4\\n")
    >>> with read_batches(path, columns=["a", "b"], passthrough=["id"]) as reader:
    ...     batch = next(reader)
    >>> batch.features.tolist(), batch.passthrough["id"].to_pylist()
    ([[2.0, 1.0], [4.0, 3.0]], ['x', 'y'])
    """
    return BatchReader(
        path,
        columns,
        passthrough,
        sep,
        on_invalid,
        batch_rows,
        fmt,
        allow_empty,
        block_size,
        blank_ok,
    )


@dataclass(frozen=True)
class InputInfo:
    """What :func:`describe_input` found out about an input without reading it."""

    source: str
    format: Format
    compression: str | None
    sep: str | None
    columns: tuple[str, ...]
    size_bytes: int | None
    num_rows: int | None  # known for Parquet only (from its footer)


def describe_input(path: PathLike, *, sep: str | None = None) -> InputInfo:
    """Describe an input from its header or footer (does not read the data).

    Not usable on stdin (it would consume the header).
    """
    fmt = input_format(path)
    size = os.stat(path).st_size
    if fmt == "parquet":
        pf = _parquet_file(path)
        return InputInfo(
            _source(path),
            fmt,
            None,
            None,
            tuple(pf.schema_arrow.names),
            size,
            pf.metadata.num_rows,
        )
    with read_batches(path, sep=sep, columns=(), allow_empty=True) as reader:
        return InputInfo(
            reader.source,
            fmt,
            reader.compression,
            reader.sep,
            reader.header,
            size,
            None,
        )
