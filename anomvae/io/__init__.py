"""Chunked CSV/Parquet reading and atomic, streaming writing.

This package is the data boundary of the command-line tool. Reading streams the
input in bounded chunks (memory stays flat however large the file), matches
columns by name, converts the feature columns to ``float64`` and reports every
invalid cell with file, row and column. Writing goes to a temporary file beside
the target that is renamed onto it only when everything succeeded, so a failed
or killed job never leaves a truncated output. It does not import torch.

=====================  ==========================================================
module                 what it holds
=====================  ==========================================================
:mod:`.formats`        ``-`` for stdin/stdout, ``--sep`` names, format detection,
                       missing-column messages with their hints
:mod:`.cells`          text/Arrow cells to checked ``float64``; invalid-cell
                       messages naming row and column
:mod:`.reading`        :func:`read_batches` and its :class:`Batch` stream
:mod:`.writing`        :class:`TableWriter`, :func:`atomic_output`,
                       :func:`atomic_directory`
:mod:`.threads`        reading ahead and writing behind in background threads
=====================  ==========================================================

Every public name is importable from ``anomvae.io`` itself.
"""

from __future__ import annotations

from anomvae.io.cells import convert_features, numeric_share
from anomvae.io.formats import (
    STDIO,
    check_columns,
    input_format,
    output_format,
    parse_sep,
)
from anomvae.io.reading import (
    DEFAULT_BATCH_ROWS,
    DEFAULT_BLOCK_SIZE,
    REJECTS_SCHEMA,
    Batch,
    BatchReader,
    InputInfo,
    describe_input,
    read_batches,
)
from anomvae.io.writing import (
    TEMP_SUFFIX,
    OutputError,
    TableWriter,
    atomic_directory,
    atomic_open,
    atomic_output,
    check_writable,
)

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_BLOCK_SIZE",
    "REJECTS_SCHEMA",
    "STDIO",
    "TEMP_SUFFIX",
    "Batch",
    "BatchReader",
    "InputInfo",
    "OutputError",
    "TableWriter",
    "atomic_directory",
    "atomic_open",
    "atomic_output",
    "check_columns",
    "check_writable",
    "convert_features",
    "describe_input",
    "input_format",
    "numeric_share",
    "output_format",
    "parse_sep",
    "read_batches",
]
