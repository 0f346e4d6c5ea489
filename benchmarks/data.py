"""Datasets and the train/test split of the benchmark protocol.

The protocol, in order, for one dataset and one seed:

1. :func:`load_dataset` reads ``X`` (raw, as published) and ``y`` (1 = anomaly) from
   an ``.npz`` file and keeps **one row per distinct feature vector**
   (:func:`deduplicate`).
2. :func:`split_one_class` shuffles the normal rows with the seed, trains on the
   first half and tests on the other half plus every anomaly.
3. If ``max_train_rows`` is set, the training half is cut to its first
   ``max_train_rows`` (already shuffled) rows. The test set is never subsampled.

Every detector then gets exactly these raw arrays.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_DATA_DIR",
    "EMBEDDINGS_DATA_DIR",
    "EMBEDDINGS_SUITE",
    "HELDOUT_SUITE",
    "HIGH_CONTAMINATION_PCT",
    "PROTOCOL_VERSION",
    "QUICK_MAX_TRAIN_ROWS",
    "QUICK_SUITE",
    "SUITES",
    "SUITE_DATA_DIRS",
    "AnomalyShare",
    "Dataset",
    "Split",
    "deduplicate",
    "distinct_rows",
    "find_datasets",
    "load_dataset",
    "make_split",
    "quick_splits",
    "split_one_class",
]

#: Bumped whenever a change to this module changes which rows a detector sees;
#: ``--resume`` refuses to mix results of different protocol versions.
PROTOCOL_VERSION = 1

#: ``../shared/datasets/odds`` seen from the repository root.
_REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = _REPO_ROOT.parent / "shared" / "datasets" / "odds"
#: ``../shared/datasets/embeddings``: the embedding suite's own folder.
EMBEDDINGS_DATA_DIR = _REPO_ROOT.parent / "shared" / "datasets" / "embeddings"

#: Datasets with more anomalies than this (in % of their distinct rows) are not
#: "rare anomaly" problems; the report puts them in a table of their own.
HIGH_CONTAMINATION_PCT = 30.0

#: The ``--quick`` suite: 13 datasets chosen for variety, not for any detector's
#: sake. Sizes are distinct rows x features, anomaly share after deduplication.
QUICK_SUITE: tuple[str, ...] = (
    # small, low-dimensional classics
    "cardio",  # 1.8k x 21, 9.6 %
    "thyroid",  # 3.7k x 6, 2.5 %
    "wbc",  # 377 x 30, 5.3 % (tiny test set: 179 normal rows, 20 anomalies)
    "mammography",  # 7.8k x 6, 3.2 %, one vector with both labels
    # high-dimensional
    "arrhythmia",  # 452 x 274: wide and tiny
    "mnist",  # 7.6k x 100, image features
    "internetads",  # 2.0k x 1555, binary, the widest set
    "apascal",  # 3.5k x 64 one-hot (12.7k rows before deduplication)
    # large: training halves above QUICK_MAX_TRAIN_ROWS are subsampled
    "shuttle",  # 49k x 9, 7.2 %
    "aloi",  # 50k x 27, 3.0 %, local anomalies: hard for global models
    "campaign",  # 41k x 62, 11.3 %, mixed numeric / one-hot
    # high contamination (> 30 %), reported separately
    "satellite",  # 6.4k x 36, 31.6 %
    "breastw",  # 449 x 9, 52.6 % after deduplication (35 % as published)
)

#: The ``--heldout`` suite: every dataset of the folder outside :data:`QUICK_SUITE`
#: (on which the sweeps behind anomvae's defaults measure), except the seven with over
#: 90,000 rows (backdoor, celeba, cover, donors, http, skin, smtp), whose test
#: halves are never cut and would take hours. It checks that the defaults carry
#: over to data they were not picked on (the latent-size rule and the training
#: length were since chosen with it too). Run with the quick suite's seeds and cut.
#: Sizes: rows as published x features, anomaly share.
HELDOUT_SUITE: tuple[str, ...] = (
    # low contamination (<= 30 %): the headline
    "cardiotocography",  # 2.1k x 21, 22 %
    "chess",  # 28k x 40, 0.1 % (about 30 anomalies: noisy)
    "cmc",  # 1.5k x 22, 2 %
    "glass",  # 214 x 9, 4 %
    "glass_adbench",  # 214 x 7, 4 %
    "hepatitis",  # 80 x 19, 16 %
    "kddcup99_probe",  # 65k x 64, 6 %
    "kddcup99_u2r",  # 61k x 37, 0.4 %
    "lympho",  # 148 x 18, 4 %
    "lympho_adbench",  # 148 x 18, 4 %
    "optdigits",  # 5.2k x 64, 3 %
    "reuters_corn",  # 13k x 100, 2 %
    "solarflare",  # 1.1k x 41, 4 %
    "vertebral",  # 240 x 6, 12.5 %
    "w7a",  # 50k x 300, 3 %, sparse binary
    "wbc_adbench",  # 223 x 9, 4.5 %
    "wilt",  # 4.8k x 5, 5 %
    "wine",  # 129 x 13, 8 %
    "wpbc",  # 198 x 33, 24 %
    # high contamination (> 30 %), reported separately
    "fault",
    "ionosphere",
    "ionosphere_adbench",
    "magic_gamma",
    "pima",
    "spambase",
    "yeast",
)

#: The ``--embeddings`` suite: every file of ``../shared/datasets/embeddings``,
#: pretrained-network embeddings of images (ResNet-18) and text (BERT) as published
#: by ADBench. No anomvae default was chosen on these sets, and none should be: it
#: is the check of the defaults on data of a kind the other two suites lack (wide,
#: dense, small). Run with the quick suite's seeds and cut (no set is cut: the
#: largest training half is 2,500 rows). Sizes: rows x features, anomaly share.
EMBEDDINGS_SUITE: tuple[str, ...] = (
    # MVTec AD, one object or texture per set, 512-d ResNet-18 embeddings of
    # good (normal) and defective (anomalous) parts: 35-215 training rows
    "mvtec_bottle_resnet18",  # 292, 21.6 %
    "mvtec_cable_resnet18",  # 374, 24.6 %
    "mvtec_carpet_resnet18",  # 397, 22.4 %
    "mvtec_grid_resnet18",  # 342, 16.7 %
    "mvtec_hazelnut_resnet18",  # 501, 14.0 %
    "mvtec_leather_resnet18",  # 369, 24.9 %
    "mvtec_metal_nut_resnet18",  # 335, 27.8 %
    "mvtec_screw_resnet18",  # 480, 24.8 %
    "mvtec_tile_resnet18",  # 347, 24.2 %
    "mvtec_toothbrush_resnet18",  # 102, 29.4 %: 36 training rows
    "mvtec_transistor_resnet18",  # 313, 12.8 %
    "mvtec_wood_resnet18",  # 326, 18.4 %
    # CIFAR-10, one class normal, 5 % of the others as anomalies, 512-d ResNet-18
    "cifar10_0_resnet18",  # 5.3k, 5 % (airplane normal)
    "cifar10_4_resnet18",  # 5.3k, 5 % (deer)
    "cifar10_6_resnet18",  # 5.3k, 5 % (frog)
    # 20 Newsgroups, one topic group normal, 768-d BERT embeddings
    "20news_3_bert",  # 615 (602 distinct), 5 %
    # high contamination (> 30 %), reported separately
    "mvtec_capsule_resnet18",  # 351, 31.1 %
    "mvtec_pill_resnet18",  # 434, 32.5 %
    "mvtec_zipper_resnet18",  # 391, 30.4 %
)

#: The suites the sweeps measure on (``--suite``), by name.
SUITES: dict[str, tuple[str, ...]] = {
    "quick": QUICK_SUITE,
    "heldout": HELDOUT_SUITE,
    "embeddings": EMBEDDINGS_SUITE,
}

#: Where each suite's files are unless ``--data`` says otherwise.
SUITE_DATA_DIRS: dict[str, Path] = {
    "quick": DEFAULT_DATA_DIR,
    "heldout": DEFAULT_DATA_DIR,
    "embeddings": EMBEDDINGS_DATA_DIR,
}

#: Training rows kept per split in ``--quick`` (affects shuttle, aloi, campaign).
QUICK_MAX_TRAIN_ROWS = 10_000


class AnomalyShare:
    """``anomaly_pct`` and ``high_contamination`` of a dataset with labels ``y``."""

    y: np.ndarray

    @property
    def anomaly_pct(self) -> float:
        """Share of anomalies among the distinct rows, in percent."""
        return float(100.0 * self.y.mean())

    @property
    def high_contamination(self) -> bool:
        return self.anomaly_pct > HIGH_CONTAMINATION_PCT


@dataclass(frozen=True)
class Dataset(AnomalyShare):
    """One benchmark dataset after deduplication.

    Attributes
    ----------
    name : str
        File name without ``.npz``.
    X : ndarray of shape (n_distinct, n_features)
        Distinct feature vectors, raw values, in order of first appearance.
    y : ndarray of shape (n_distinct,)
        1 for anomalies, 0 for normal rows.
    n_published : int
        Rows in the file before deduplication.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    n_published: int


@dataclass(frozen=True)
class Split:
    """The arrays every detector receives for one dataset and seed."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    train_index: np.ndarray
    test_index: np.ndarray


def deduplicate(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep one row per distinct feature vector; it is an anomaly if any copy is.

    This is how the benchmark keeps test rows out of training ("no row of the test
    set duplicated into training"): once every feature vector occurs exactly once,
    no split of the rows can put the same vector on both sides.

    Why deduplicate *before* splitting rather than drop, after splitting, the
    training rows whose vector also occurs in the test set:

    * Dropping after the split removes exactly the most frequent normal vectors from
      training (a vector with k copies lands on both sides with probability
      1 - 2**(1 - k)) while their copies stay in the test set. On heavily
      duplicated sets (donors, http, smtp, skin, celeba, kddcup99_*) the normal test
      rows would then come from a different distribution than the training rows,
      which penalises every detector for a shift the protocol itself made.
    * After deduplication the training and test normal rows are exchangeable
      samples of the same set of distinct vectors, and every distinct vector counts
      once in AUROC and AP instead of once per copy (http: 2,092 of its 2,211
      anomaly rows are one vector).

    The price: the anomaly share changes on duplicated sets (donors 5.9 % -> 21.7 %,
    breastw 35 % -> 53 %, kddcup99_probe 6.4 % -> 67 % with 37 normal vectors);
    results record the share actually evaluated. A vector published with both
    labels (a label conflict) is kept once, as an anomaly: it is tested, never
    trained on, and caps the achievable AUROC as the published labels do.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        1 = anomaly, 0 = normal.

    Returns
    -------
    X_distinct : ndarray of shape (n_distinct, n_features)
        Rows in the order of their first occurrence.
    y_distinct : ndarray of shape (n_distinct,)
    """
    # +0.0 maps -0.0 to 0.0 so that equal vectors compare equal however stored.
    X = np.asarray(X, dtype=np.float64) + 0.0
    keep, label = distinct_rows(X, y)
    return X[keep], label


def distinct_rows(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rule of :func:`deduplicate` as indices: the first row of each distinct
    row of ``X``, in order of first occurrence, and its label (1 if any copy is 1).

    ``X`` is compared value by value (``numpy.unique(axis=0)``); mixed tables pass
    integer codes of their cells (``benchmarks.mixed.data``).
    """
    y = np.asarray(y, dtype=np.int64)
    _, first, inverse = np.unique(X, axis=0, return_index=True, return_inverse=True)
    label = np.zeros(len(first), dtype=np.int64)
    np.maximum.at(label, inverse.ravel(), y)
    order = np.argsort(first)
    return first[order], label[order]


def load_dataset(path: str | Path) -> Dataset:
    """Read an ``.npz`` with keys ``X`` and ``y`` and deduplicate its rows.

    Raises
    ------
    ValueError
        If the file lacks ``X`` or ``y``, ``X`` is not a finite 2-D array, or ``y``
        is not 0/1 with both classes present.
    """
    path = Path(path)
    with np.load(path, allow_pickle=False) as data:
        if "X" not in data or "y" not in data:
            raise ValueError(f"{path}: expected arrays 'X' and 'y'")
        X = np.asarray(data["X"], dtype=np.float64)
        y = np.asarray(data["y"]).ravel()
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"{path}: X must be 2-D with one row per label")
    if not np.isfinite(X).all():
        raise ValueError(f"{path}: X holds NaN or infinite values")
    if set(np.unique(y).tolist()) != {0, 1}:
        raise ValueError(f"{path}: y must hold both 0 (normal) and 1 (anomaly)")
    X_distinct, y_distinct = deduplicate(X, y)
    return Dataset(path.stem, X_distinct, y_distinct, n_published=len(X))


def split_one_class(
    y: np.ndarray, seed: int, max_train_rows: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and test rows for one seed.

    The normal rows are shuffled with ``numpy.random.default_rng(seed)``; the first
    ``n_normal // 2`` are the training rows (cut to ``max_train_rows`` if given),
    the rest plus every anomaly are the test rows. Training indices stay in their
    shuffled order; test indices are sorted. Rows cut by ``max_train_rows`` are not
    used at all, so the test set does not depend on it.
    """
    y = np.asarray(y)
    normal = np.random.default_rng(seed).permutation(np.flatnonzero(y == 0))
    half = len(normal) // 2
    train = normal[:half]
    if max_train_rows is not None and max_train_rows > 0:
        train = train[:max_train_rows]
    test = np.sort(np.concatenate([normal[half:], np.flatnonzero(y == 1)]))
    return train, test


def make_split(dataset: Dataset, seed: int, max_train_rows: int | None = None) -> Split:
    """The raw arrays of :func:`split_one_class` for ``dataset``."""
    train, test = split_one_class(dataset.y, seed, max_train_rows)
    return Split(
        X_train=dataset.X[train],
        X_test=dataset.X[test],
        y_test=dataset.y[test],
        train_index=train,
        test_index=test,
    )


def find_datasets(
    data_dir: str | Path, names: Sequence[str] | None = None
) -> list[Path]:
    """The ``.npz`` files of ``data_dir`` (sorted by name), or those in ``names``.

    Raises
    ------
    FileNotFoundError
        If ``data_dir`` does not exist or a requested name has no file.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data folder {data_dir} does not exist")
    available = {p.stem: p for p in sorted(data_dir.glob("*.npz"))}
    if names is None:
        return list(available.values())
    missing = [n for n in names if n not in available]
    if missing:
        raise FileNotFoundError(
            f"no {', '.join(m + '.npz' for m in missing)} in {data_dir}"
        )
    return [available[n] for n in names]


def quick_splits(
    data_dir: str | Path, seeds: int, suite: str = "quick"
) -> Iterator[tuple[Dataset, int, Split]]:
    """``(dataset, seed, split)`` for the low-contamination sets of a suite of
    :data:`SUITES` (the quick one unless told), training halves cut to
    :data:`QUICK_MAX_TRAIN_ROWS`: what the sweeps behind anomvae's defaults
    (``benchmarks.sweep_*``) measure on."""
    for path in find_datasets(data_dir, list(SUITES[suite])):
        dataset = load_dataset(path)
        if dataset.high_contamination:
            continue
        for seed in range(seeds):
            yield dataset, seed, make_split(dataset, seed, QUICK_MAX_TRAIN_ROWS)
