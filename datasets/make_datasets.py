"""Regenerate the bundled datasets in this folder from their source files.

The sources are the shared benchmark copies (``shared/datasets/odds/*.npz`` and
``shared/datasets/mixed/*.csv``, next to the repository checkout by default). Every
source file is checked against the sha256 recorded below before it is converted,
and every output is read back and compared with its source before it is written.

Usage, from the repository root::

    python datasets/make_datasets.py            # rewrite the bundled files
    python datasets/make_datasets.py --check    # exit 1 if a bundled file differs
    python datasets/make_datasets.py --source-root /path/to/shared/datasets

The outputs are gzip-compressed UTF-8 CSV files (``\\n`` line endings, one header
row, the ``label`` column last; 1 = anomaly). The gzip header carries no file name
and a zero timestamp, so a rerun with the same zlib gives the same bytes. ``--check``
compares the decompressed text, which does not depend on the zlib version.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE_ROOT = HERE.parent.parent / "shared" / "datasets"

#: UCI Cardiotocography feature names, in the column order of ODDS ``cardio``
#: (confirmed against the UCI data; see datasets/README.md).
CARDIO_COLUMNS = (
    "LB", "AC", "FM", "UC", "DL", "DS", "DP", "ASTV", "MSTV", "ALTV", "MLTV",
    "Width", "Min", "Max", "Nmax", "Nzeros", "Mode", "Mean", "Median", "Variance",
    "Tendency",
)  # fmt: skip


@dataclass(frozen=True)
class NumericSource:
    """One ``.npz`` file (keys ``X``, ``y``) converted whole to ``<name>.csv.gz``."""

    name: str
    sha256: str
    columns: tuple[str, ...] | None = None  # None: generic x0, x1, ...


@dataclass(frozen=True)
class MixedSource:
    """One mixed-type CSV copied cell for cell, with an ``id`` column added first."""

    name: str
    source_file: str
    sha256: str


NUMERIC_SOURCES = (
    NumericSource(
        "arrhythmia",
        "c7123b50dfc02d6846c571688ad534707e11517025a4feb2758b07ed72e6dfd6",
    ),
    NumericSource(
        "cardio",
        "8534ab4fbd43ea31c85f1c922e3064a25980d71666fde130f194939324cb47ad",
        CARDIO_COLUMNS,
    ),
    NumericSource(
        "mammography",
        "b60b0c3d01a65ef9052056a9596f27f99632c265165cab341337e8fc791173ab",
    ),
    NumericSource(
        "shuttle",
        "e4ecfa50014571721691b6eaf8b22ea95310c2b4896ecab397b916b78a33c2d0",
    ),
    NumericSource(
        "thyroid",
        "0e6596cb048937854c69dd371abd3400a977cc05a21c69be745e4f7b35605e8a",
    ),
)

MIXED_SOURCES = (
    MixedSource(
        "thyroid0387",
        "thyroid0387.csv",
        "1668cf708a1bb7728053f082d22635da158e04ff36e1c4a33eaf1dfb56c99f28",
    ),
)

ID_COLUMN = "id"
LABEL_COLUMN = "label"


def sha256_of(path: Path) -> str:
    """Return the hex sha256 digest of a file.

    Parameters
    ----------
    path : Path
        The file to hash.

    Returns
    -------
    str
        The 64-character lower-case hex digest.
    """
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_source(path: Path, expected_sha256: str) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"source file {path} not found (see --source-root)")
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise ValueError(
            f"{path} has sha256 {actual}, expected {expected_sha256}: the source "
            "changed, so check it and update this script and datasets/README.md"
        )


def numeric_csv_text(spec: NumericSource, odds_dir: Path) -> str:
    """Convert one ODDS/ADBench ``.npz`` file to CSV text.

    Parameters
    ----------
    spec : NumericSource
        The dataset to convert.
    odds_dir : Path
        The folder holding ``<name>.npz``.

    Returns
    -------
    str
        CSV text: the features (float64, written with Python's shortest round-trip
        repr) and an integer ``label`` column, one header row.

    Raises
    ------
    ValueError
        If the source changed or the CSV does not read back to the same bits.
    """
    path = odds_dir / f"{spec.name}.npz"
    _check_source(path, spec.sha256)
    with np.load(path, allow_pickle=False) as npz:
        x = np.asarray(npz["X"], dtype=np.float64)
        y = np.asarray(npz["y"], dtype=np.int64)
    columns = spec.columns or tuple(f"x{j}" for j in range(x.shape[1]))
    if len(columns) != x.shape[1]:
        raise ValueError(f"{spec.name}: {len(columns)} names for {x.shape[1]} columns")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"{spec.name}: labels outside {{0, 1}}")
    frame = pd.DataFrame(x, columns=list(columns))
    frame[LABEL_COLUMN] = y
    text = frame.to_csv(index=False, lineterminator="\n")
    # Read back with the same engine as anomvae.datasets.load: the bits must match.
    back = pd.read_csv(io.BytesIO(text.encode()), engine="pyarrow")
    same_x = np.array_equal(back[list(columns)].to_numpy(np.float64), x)
    if not same_x or not np.array_equal(back[LABEL_COLUMN].to_numpy(np.int64), y):
        raise ValueError(f"{spec.name}: the CSV does not read back bit for bit")
    return text


def mixed_csv_text(spec: MixedSource, mixed_dir: Path) -> str:
    """Copy a mixed-type CSV cell for cell, adding a leading ``id`` column.

    The ``id`` is the 0-based row number in the source file. Every other cell is
    the source string, unchanged (empty cells stay empty).

    Parameters
    ----------
    spec : MixedSource
        The dataset to convert.
    mixed_dir : Path
        The folder holding the source CSV.

    Returns
    -------
    str
        CSV text with ``\\n`` line endings.

    Raises
    ------
    ValueError
        If the source changed, lacks a last ``label`` column, already has an
        ``id`` column, or has ragged rows.
    """
    path = mixed_dir / spec.source_file
    _check_source(path, spec.sha256)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    if header[-1] != LABEL_COLUMN or ID_COLUMN in header:
        raise ValueError(f"{path}: expected a last 'label' column and no 'id' column")
    if any(len(row) != len(header) for row in body):
        raise ValueError(f"{path}: ragged rows")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([ID_COLUMN, *header])
    writer.writerows([str(i), *row] for i, row in enumerate(body))
    text = out.getvalue()
    back = list(csv.reader(io.StringIO(text, newline="")))
    if [row[1:] for row in back] != rows:
        raise ValueError(f"{spec.name}: the CSV does not read back cell for cell")
    return text


def build_all(source_root: Path) -> dict[str, str]:
    """Build the CSV text of every bundled dataset.

    Parameters
    ----------
    source_root : Path
        The folder holding ``odds/`` and ``mixed/``.

    Returns
    -------
    dict of str to str
        Output file name (``<name>.csv.gz``) to uncompressed CSV text.
    """
    texts = {
        f"{spec.name}.csv.gz": numeric_csv_text(spec, source_root / "odds")
        for spec in NUMERIC_SOURCES
    }
    for mixed in MIXED_SOURCES:
        texts[f"{mixed.name}.csv.gz"] = mixed_csv_text(mixed, source_root / "mixed")
    return texts


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        The exit status: 0 on success, 1 when ``--check`` finds a difference.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-root", type=Path, default=DEFAULT_SOURCE_ROOT)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument(
        "--check", action="store_true", help="compare, do not write; exit 1 on change"
    )
    args = parser.parse_args(argv)
    status = 0
    for file_name, text in build_all(args.source_root).items():
        target = args.out / file_name
        data = text.encode("utf-8")
        if args.check:
            current = gzip.decompress(target.read_bytes()) if target.exists() else b""
            same = current == data
            if not same:
                status = 1
            print(f"{'ok     ' if same else 'DIFFERS'} {target}")
        else:
            target.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
            print(f"wrote {target} ({target.stat().st_size:,} bytes)")
    return status


if __name__ == "__main__":
    sys.exit(main())
