"""What a model file remembers about its training columns, for drift checks.

A :class:`TrainingProfile` is plain data: per column its kind, row and blank
counts, and for numbers the median, the interquartile range and a deterministic
sample of at most 1,024 training values; for categories the level counts (the
1,000 most frequent levels, the rest counted as ``other``). It is saved as a small
JSON-safe dict (:meth:`TrainingProfile.to_dict`) plus one float64 array per numeric
column (:meth:`TrainingProfile.to_arrays`): no pickle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from anomvae.monitoring._columns import (
    ColumnKind,
    as_categories,
    as_numbers,
    infer_kind,
    iter_columns,
    level_counts,
    row_priority,
    source_key,
)

__all__ = [
    "MAX_LEVELS",
    "PROFILE_VERSION",
    "SAMPLE_SIZE",
    "ColumnProfile",
    "TrainingProfile",
]

PROFILE_VERSION = 1
#: Training values kept per numeric column for the KS tests. 1,024 values find a
#: 0.5-sd shift with power ~1 (``benchmarks/results/monitoring.md``) and cost 8 KiB.
SAMPLE_SIZE = 1024
#: Levels kept per categorical column; rarer levels are summed into ``other``.
MAX_LEVELS = 1000


@dataclass(frozen=True, eq=False)
class ColumnProfile:
    """One training column, summarised.

    Attributes
    ----------
    name : str
    kind : {"numeric", "categorical"}
    n : int
        Training rows.
    blank : int
        Blank cells (NaN or null).
    median, iqr : float or None
        Of the non-blank values (numeric columns).
    sample : ndarray of float64 or None
        Sorted non-blank training values chosen by a hash of the row number
        (numeric columns), at most :data:`SAMPLE_SIZE`.
    levels : dict of str to int or None
        Rows per level, the :data:`MAX_LEVELS` most frequent (categorical columns).
    other : int
        Non-blank rows of the levels not kept.
    """

    name: str
    kind: ColumnKind
    n: int
    blank: int
    median: float | None = None
    iqr: float | None = None
    sample: np.ndarray | None = None
    levels: dict[str, int] | None = None
    other: int = 0

    @classmethod
    def from_values(
        cls,
        name: str,
        values: Any,
        *,
        kind: ColumnKind | None = None,
        sample_size: int = SAMPLE_SIZE,
        max_levels: int = MAX_LEVELS,
        random_state: int = 0,
    ) -> ColumnProfile:
        """Summarise one training column (numpy, pandas or Arrow values).

        Examples
        --------
        >>> col = ColumnProfile.from_values("x", np.array([1.0, 2.0, np.nan, 4.0]))
        >>> col.kind, col.n, col.blank, col.median
        ('numeric', 4, 1, 2.0)
        """
        kind = kind or infer_kind(values)
        if kind == "numeric":
            x = as_numbers(values, name)
            blank = np.isnan(x)
            filled = np.flatnonzero(~blank)
            median = iqr = None
            if filled.size:
                q1, q2, q3 = np.percentile(x[filled], [25.0, 50.0, 75.0])
                median, iqr = float(q2), float(q3 - q1)
            if filled.size > sample_size:
                pri = row_priority(filled, source_key(random_state))
                filled = filled[np.argpartition(pri, sample_size - 1)[:sample_size]]
            sample = np.sort(x[filled])
            return cls(name, kind, int(x.size), int(blank.sum()), median, iqr, sample)
        if kind != "categorical":
            raise ValueError(f"kind must be 'numeric' or 'categorical', got {kind!r}")
        arr = as_categories(values)
        counts, blanks = level_counts(arr)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        kept = dict(ranked[:max_levels])
        other = sum(c for _, c in ranked[max_levels:])
        return cls(name, kind, len(arr), blanks, levels=kept, other=other)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (the sample travels in :meth:`TrainingProfile.to_arrays`)."""
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "n": self.n,
            "blank": self.blank,
        }
        if self.kind == "numeric":
            out.update(median=self.median, iqr=self.iqr)
        else:
            out.update(levels=dict(self.levels or {}), other=self.other)
        return out


@dataclass(frozen=True, eq=False)
class TrainingProfile:
    """The training columns a model was fitted on, as the monitor needs them.

    Attributes
    ----------
    columns : tuple of ColumnProfile
    n_rows : int
    version : int

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> profile = TrainingProfile.from_data(
    ...     {"x": rng.normal(size=3000), "site": rng.choice(["a", "b"], 3000)}
    ... )
    >>> profile.names, profile["x"].sample.size
    (('x', 'site'), 1024)
    >>> again = TrainingProfile.from_parts(profile.to_dict(), profile.to_arrays())
    >>> np.array_equal(again["x"].sample, profile["x"].sample)
    True
    """

    columns: tuple[ColumnProfile, ...]
    n_rows: int
    version: int = PROFILE_VERSION
    _by_name: dict[str, ColumnProfile] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_name = {c.name: c for c in self.columns}
        if len(by_name) != len(self.columns):
            raise ValueError("duplicate column names in the training profile")
        object.__setattr__(self, "_by_name", by_name)

    @classmethod
    def from_data(
        cls,
        data: Any,
        *,
        categorical: Iterable[str] | None = None,
        sample_size: int = SAMPLE_SIZE,
        max_levels: int = MAX_LEVELS,
        random_state: int = 0,
    ) -> TrainingProfile:
        """Profile the model's input columns from the training rows.

        Parameters
        ----------
        data : mapping of str to array, pyarrow Table or pandas DataFrame
            The model's input columns as read: numbers with NaN/null for blank,
            categories as strings with None/null for blank.
        categorical : iterable of str, optional
            Columns to profile as categories whatever their dtype (integer codes);
            by default numbers are numeric and everything else categorical.
        sample_size, max_levels : int
            See :data:`SAMPLE_SIZE`, :data:`MAX_LEVELS`.
        random_state : int, default=0
            Seed of the row hash that chooses the numeric samples.
        """
        forced = set(categorical or ())
        columns = []
        n_rows = None
        for name, values in iter_columns(data):
            kind: ColumnKind | None = "categorical" if name in forced else None
            col = ColumnProfile.from_values(
                name,
                values,
                kind=kind,
                sample_size=sample_size,
                max_levels=max_levels,
                random_state=random_state,
            )
            if n_rows is not None and col.n != n_rows:
                raise ValueError(f"column {name!r} has {col.n} rows, not {n_rows}")
            n_rows = col.n
            columns.append(col)
        missing = forced - {c.name for c in columns}
        if missing:
            raise ValueError(f"categorical columns not in the data: {sorted(missing)}")
        return cls(tuple(columns), n_rows or 0)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def __getitem__(self, name: str) -> ColumnProfile:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: a few hundred bytes per numeric column, the level
        counts of categorical ones."""
        return {
            "version": self.version,
            "n_rows": self.n_rows,
            "columns": [c.to_dict() for c in self.columns],
        }

    def to_arrays(self, prefix: str = "profile/") -> dict[str, np.ndarray]:
        """The numeric samples, keyed ``f"{prefix}sample/{i}"`` by column index."""
        return {
            f"{prefix}sample/{i}": np.ascontiguousarray(c.sample, dtype=np.float64)
            for i, c in enumerate(self.columns)
            if c.sample is not None
        }

    @classmethod
    def from_parts(
        cls,
        config: Mapping[str, Any],
        arrays: Mapping[str, np.ndarray],
        prefix: str = "profile/",
    ) -> TrainingProfile:
        """Rebuild from :meth:`to_dict` and :meth:`to_arrays`.

        Raises
        ------
        ValueError
            On a newer profile version or a malformed entry.
        """
        version = int(config.get("version", 0))
        if version > PROFILE_VERSION:
            raise ValueError(
                f"training profile version {version} is newer than this anomvae "
                f"reads ({PROFILE_VERSION}); upgrade anomvae"
            )
        columns = []
        try:
            for i, c in enumerate(config["columns"]):
                sample = arrays.get(f"{prefix}sample/{i}")
                levels = c.get("levels")
                columns.append(
                    ColumnProfile(
                        name=str(c["name"]),
                        kind=c["kind"],
                        n=int(c["n"]),
                        blank=int(c["blank"]),
                        median=c.get("median"),
                        iqr=c.get("iqr"),
                        sample=None
                        if sample is None
                        else np.asarray(sample, dtype=np.float64),
                        levels=None
                        if levels is None
                        else {str(k): int(v) for k, v in levels.items()},
                        other=int(c.get("other", 0)),
                    )
                )
            return cls(tuple(columns), int(config["n_rows"]), version)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed training profile: {exc!r}") from None
