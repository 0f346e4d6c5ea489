"""Small real anomaly-detection datasets bundled with anomvae.

Six labelled tables ship with the package (under 1 MB in all), so examples, the demo
and the notebooks run offline: five numeric benchmark sets from ODDS/ADBench and one
mixed-type table (strings, booleans, missing cells, an ``id`` column). Provenance,
citations and licences are in ``datasets/README.md``, which ships with the data.

>>> from anomvae.datasets import list_datasets, load
>>> list_datasets()
['arrhythmia', 'cardio', 'mammography', 'shuttle', 'thyroid', 'thyroid0387']
>>> X, y = load("cardio")
>>> X.shape, int(y.sum())
((1831, 21), 176)
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal, TypedDict, overload

import numpy as np
import pandas as pd

from anomvae.exceptions import DataError

__all__ = ["DatasetDescription", "dataset_path", "describe", "list_datasets", "load"]

LABEL_COLUMN = "label"

_ODDS = (
    "Shebuti Rayana (2016). ODDS Library [http://odds.cs.stonybrook.edu]. "
    "Stony Brook, NY: Stony Brook University, Department of Computer Science."
)
_ADBENCH = (
    "S. Han, X. Hu, H. Huang, M. Jiang, Y. Zhao (2022). ADBench: Anomaly Detection "
    "Benchmark. NeurIPS 2022 Datasets and Benchmarks Track."
)
_ADBENCH_SOURCE = "Minqi824/ADBench adbench/datasets/Classical/{} @3dac822"
_UCI_LICENCE = (
    "No licence stated by ODDS or ADBench (ADBench's repository is BSD-2-Clause for "
    "its code). The UCI original is listed under CC BY 4.0 by the UCI repository."
)


class DatasetDescription(TypedDict):
    """What :func:`describe` returns: plain JSON-ready metadata of one dataset."""

    name: str
    file: str
    kind: Literal["numeric", "mixed"]
    n_samples: int
    n_features: int
    n_anomalies: int
    anomaly_pct: float
    summary: str
    anomaly: str
    feature_names: Literal["source", "generic"]
    id_column: str | None
    categorical_columns: list[str]
    boolean_columns: list[str]
    source: str
    original: str
    citation: str
    licence: str
    preprocessing: str


@dataclass(frozen=True)
class _Info:
    name: str
    kind: Literal["numeric", "mixed"]
    n_samples: int
    n_features: int
    n_anomalies: int
    summary: str
    anomaly: str
    feature_names: Literal["source", "generic"]
    source: str
    original: str
    citation: str
    licence: str
    preprocessing: str
    id_column: str | None = None
    categorical_columns: tuple[str, ...] = ()
    boolean_columns: tuple[str, ...] = ()

    @property
    def file(self) -> str:
        return f"{self.name}.csv.gz"


#: The ODDS sets taken from ADBench's "Classical" folder: numeric, cited to both,
#: and (unless an entry says otherwise) UCI-licensed and unmodified.
_adbench_numeric = partial(
    _Info,
    kind="numeric",
    citation=f"{_ODDS} {_ADBENCH}",
    licence=_UCI_LICENCE,
    preprocessing="none: all rows, values as published by ODDS/ADBench",
)

_THYROID0387_BOOLEANS = (
    "on_thyroxine", "query_on_thyroxine", "on_antithyroid_medication", "sick",
    "pregnant", "thyroid_surgery", "I131_treatment", "query_hypothyroid",
    "query_hyperthyroid", "lithium", "goiter", "tumor", "hypopituitary", "psych",
    "TSH_measured", "T3_measured", "TT4_measured", "T4U_measured", "FTI_measured",
    "TBG_measured",
)  # fmt: skip

_REGISTRY: dict[str, _Info] = {
    info.name: info
    for info in (
        _Info(
            name="arrhythmia",
            kind="numeric",
            n_samples=452,
            n_features=274,
            n_anomalies=66,
            summary="ECG measurements and patient data (UCI Arrhythmia).",
            anomaly="the 8 rarest arrhythmia classes (3, 4, 5, 7, 8, 9, 14, 15)",
            feature_names="generic",
            source="yzhao062/pyod notebooks/data/arrhythmia.mat @34f7996 (ODDS file)",
            original=(
                "H. A. Guvenir, B. Acar, G. Demiroz, A. Cekin (1997). A supervised "
                "machine learning algorithm for arrhythmia analysis. Computers in "
                "Cardiology. UCI ML Repository: Arrhythmia."
            ),
            citation=_ODDS,
            licence=(
                "No licence stated by ODDS or pyod (pyod's repository is "
                "BSD-2-Clause for its code). The UCI original is listed under "
                "CC BY 4.0 by the UCI repository."
            ),
            preprocessing="none: all rows, values as published by ODDS",
        ),
        _adbench_numeric(
            name="cardio",
            n_samples=1831,
            n_features=21,
            n_anomalies=176,
            summary="Fetal cardiotocogram features (UCI Cardiotocography), z-scored.",
            anomaly="fetal state 'pathologic' (NSP = 3); 'suspect' rows are dropped",
            feature_names="source",
            source=_ADBENCH_SOURCE.format("6_cardio.npz"),
            original=(
                "D. Ayres de Campos, J. Bernardes, A. Garrido, J. Marques de Sa, "
                "L. Pereira-Leite (2000). SisPorto 2.0: a program for automated "
                "analysis of cardiotocograms. J. Matern. Fetal Med. 5:311-318. UCI "
                "ML Repository: Cardiotocography."
            ),
        ),
        _adbench_numeric(
            name="mammography",
            n_samples=11183,
            n_features=6,
            n_anomalies=260,
            summary="Features of mammogram image regions, z-scored.",
            anomaly="calcification (the minority class)",
            feature_names="generic",
            source=_ADBENCH_SOURCE.format("23_mammography.npz"),
            original=(
                "K. S. Woods, C. C. Doss, K. W. Bowyer, J. L. Solka, C. E. Priebe, "
                "W. P. Kegelmeyer (1993). Comparative evaluation of pattern "
                "recognition techniques for detection of microcalcifications in "
                "mammography. IJPRAI 7(6)."
            ),
            licence=(
                "Not stated upstream: ODDS names no licence (it says the data is "
                "public on OpenML) and the original is not a UCI dataset."
            ),
        ),
        _adbench_numeric(
            name="shuttle",
            n_samples=49097,
            n_features=9,
            n_anomalies=3511,
            summary="NASA space shuttle sensor readings (UCI Statlog Shuttle).",
            anomaly="classes 2, 3, 5, 6, 7; class 1 is normal, class 4 is dropped",
            feature_names="generic",
            source=_ADBENCH_SOURCE.format("32_shuttle.npz"),
            original=(
                "Statlog (Shuttle), UCI ML Repository, donated by J. Catlett; "
                "D. Michie, D. J. Spiegelhalter, C. C. Taylor (1994). Machine "
                "Learning, Neural and Statistical Classification."
            ),
            preprocessing=(
                "none: all rows (train and test sets together), integer values "
                "stored as float64 as in the source"
            ),
        ),
        _adbench_numeric(
            name="thyroid",
            n_samples=3772,
            n_features=6,
            n_anomalies=93,
            summary="Six continuous thyroid test attributes (UCI ann-train), in [0,1].",
            anomaly="hyperthyroid (ann-thyroid class 1)",
            feature_names="generic",
            source=_ADBENCH_SOURCE.format("38_thyroid.npz"),
            original=(
                "R. Quinlan (1987). Thyroid Disease, UCI ML Repository "
                "(Garvan Institute, Sydney), file ann-train.data."
            ),
        ),
        _Info(
            name="thyroid0387",
            kind="mixed",
            n_samples=7658,
            n_features=29,
            n_anomalies=887,
            summary=(
                "Thyroid patient records with their original types: 7 numeric, "
                "20 boolean, 2 categorical columns, 12,289 missing cells."
            ),
            anomaly=(
                "a hyperthyroid (A-D) or hypothyroid (E-H) diagnosis; normal is "
                "diagnosis '-'; records with only other diagnoses are dropped"
            ),
            feature_names="source",
            source=(
                "pannakarn/pannakarn.github.io thyroid0387.data @7933128, converted "
                "in shared/datasets/mixed/thyroid0387.csv"
            ),
            original=(
                "R. Quinlan (1987). Thyroid Disease, UCI ML Repository "
                "(Garvan Institute, Sydney), file thyroid0387.data."
            ),
            citation=(
                "R. Quinlan (1987). Thyroid Disease. UCI Machine Learning Repository."
            ),
            licence=(
                "The UCI repository lists Thyroid Disease under CC BY 4.0; the "
                "hosting GitHub repository has no licence file."
            ),
            preprocessing=(
                "all 7,658 rows of the shared CSV, cells unchanged; an 'id' column "
                "(0-based source row number) is added"
            ),
            id_column="id",
            categorical_columns=("sex", "referral_source"),
            boolean_columns=_THYROID0387_BOOLEANS,
        ),
    )
}


def list_datasets() -> list[str]:
    """Return the names of the bundled datasets, sorted.

    Returns
    -------
    list of str
        Names accepted by :func:`load`, :func:`describe` and :func:`dataset_path`.

    Examples
    --------
    >>> from anomvae.datasets import list_datasets
    >>> "cardio" in list_datasets()
    True
    """
    return sorted(_REGISTRY)


def _info(name: str) -> _Info:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        available = ", ".join(list_datasets())
        raise DataError(
            f"unknown dataset {name!r}; available datasets: {available}"
        ) from None


def describe(name: str) -> DatasetDescription:
    """Return the metadata of a bundled dataset.

    Parameters
    ----------
    name : str
        A name from :func:`list_datasets`.

    Returns
    -------
    DatasetDescription
        A plain dict: ``n_samples``, ``n_features`` (excluding the ``id`` and
        ``label`` columns), ``n_anomalies``, ``anomaly_pct``, what an anomaly is,
        whether the feature names are the source's or generic ``x0, x1, ...``,
        the id/categorical/boolean columns of mixed tables, source, original
        reference, citation, licence and any preprocessing.

    Raises
    ------
    DataError
        If ``name`` is not a bundled dataset; the message lists the names.

    Examples
    --------
    >>> from anomvae.datasets import describe
    >>> describe("thyroid")["n_anomalies"]
    93
    """
    info = _info(name)
    return DatasetDescription(
        name=info.name,
        file=info.file,
        kind=info.kind,
        n_samples=info.n_samples,
        n_features=info.n_features,
        n_anomalies=info.n_anomalies,
        anomaly_pct=round(100.0 * info.n_anomalies / info.n_samples, 2),
        summary=info.summary,
        anomaly=info.anomaly,
        feature_names=info.feature_names,
        id_column=info.id_column,
        categorical_columns=list(info.categorical_columns),
        boolean_columns=list(info.boolean_columns),
        source=info.source,
        original=info.original,
        citation=info.citation,
        licence=info.licence,
        preprocessing=info.preprocessing,
    )


def _data_dirs() -> list[Path]:
    """Where the data files may be: in the installed package, then the checkout."""
    # A wheel install: hatch's force-include maps datasets/ to anomvae/_datasets.
    packaged = importlib.resources.files("anomvae") / "_datasets"
    if not isinstance(packaged, Path):  # e.g. a namespace package's MultiplexedPath
        packaged = Path(__file__).resolve().parent / "_datasets"
    dirs = [packaged]
    repo_root = Path(__file__).resolve().parents[1]
    if (repo_root / "pyproject.toml").is_file():  # a source checkout / editable
        dirs.append(repo_root / "datasets")
    return dirs


def dataset_path(name: str) -> Path:
    """Return the path of a bundled dataset's file.

    The file is a gzip-compressed CSV (``<name>.csv.gz``) with one header row and
    the ``label`` column last (1 = anomaly); mixed tables start with an ``id``
    column. ``pandas.read_csv`` reads it directly.

    Parameters
    ----------
    name : str
        A name from :func:`list_datasets`.

    Returns
    -------
    Path
        The file inside the installed package (``anomvae/_datasets``) or, in a
        source checkout, the repository's ``datasets/`` folder.

    Raises
    ------
    DataError
        If ``name`` is not a bundled dataset; the message lists the names.
    FileNotFoundError
        If the installation lacks the file.
    """
    info = _info(name)
    dirs = _data_dirs()
    for folder in dirs:
        path = folder / info.file
        if path.is_file():
            return path
    searched = ", ".join(str(d) for d in dirs) or "no data folder"
    raise FileNotFoundError(
        f"bundled file {info.file} not found (searched {searched}); reinstall "
        "anomvae or run datasets/make_datasets.py in a source checkout"
    )


def _read_frame(info: _Info) -> pd.DataFrame:
    path = dataset_path(info.name)
    if info.kind == "numeric":
        # pyarrow parses floats with correct rounding on every pandas version, so
        # the values are bit-identical to the source (pandas 2's C parser is not
        # guaranteed to be).
        frame = pd.read_csv(path, engine="pyarrow")
        features = [c for c in frame.columns if c != LABEL_COLUMN]
        return frame.astype(dict.fromkeys(features, "float64"))
    dtypes: dict[str, str | type] = dict.fromkeys(info.categorical_columns, str)
    dtypes.update(dict.fromkeys(info.boolean_columns, "bool"))
    # Only an empty cell is missing: a category never turns into NaN by accident.
    return pd.read_csv(
        path,
        dtype=dtypes,
        keep_default_na=False,
        na_values=[""],
        index_col=info.id_column,
    )


@overload
def load(
    name: str, *, as_frame: Literal[True] = ...
) -> tuple[pd.DataFrame, pd.Series]: ...
@overload
def load(name: str, *, as_frame: Literal[False]) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def load(
    name: str, *, as_frame: bool
) -> tuple[pd.DataFrame, pd.Series] | tuple[np.ndarray, np.ndarray]: ...


def load(
    name: str, *, as_frame: bool = True
) -> tuple[pd.DataFrame, pd.Series] | tuple[np.ndarray, np.ndarray]:
    """Load a bundled dataset as features and labels.

    Parameters
    ----------
    name : str
        A name from :func:`list_datasets`.
    as_frame : bool, default=True
        Return a DataFrame and a Series when True, numpy arrays when False.

    Returns
    -------
    X : DataFrame or ndarray of shape (n_samples, n_features)
        The features. Numeric datasets are float64. In a mixed table the
        categorical columns are strings, the boolean ones ``bool`` and missing
        cells NaN; its ``id`` column becomes the DataFrame's index (it is not a
        feature) and is dropped with ``as_frame=False``, which then returns an
        object array.
    y : Series or ndarray of shape (n_samples,)
        int64 labels named ``label``: 1 = anomaly, 0 = normal.

    Raises
    ------
    DataError
        If ``name`` is not a bundled dataset; the message lists the names.

    See Also
    --------
    describe : The size, source, citation and licence of a dataset.
    dataset_path : The file itself, for exporting or reading it yourself.

    Notes
    -----
    The numeric datasets are whole and unmodified: their values match the ODDS /
    ADBench source files bit for bit. They are not shuffled and some keep their
    anomalies in one block, so shuffle before splitting.

    Examples
    --------
    >>> from anomvae.datasets import load
    >>> X, y = load("thyroid0387")
    >>> X.index.name, X.shape, int(y.sum())
    ('id', (7658, 29), 887)
    >>> X, y = load("shuttle", as_frame=False)
    >>> X.dtype, y.dtype
    (dtype('float64'), dtype('int64'))
    """
    info = _info(name)
    frame = _read_frame(info)
    y = frame.pop(LABEL_COLUMN).astype("int64")
    if as_frame:
        return frame, y
    dtype = np.float64 if info.kind == "numeric" else object
    return frame.to_numpy(dtype=dtype), y.to_numpy(dtype=np.int64)
