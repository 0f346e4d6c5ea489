"""The run monitor: exact counts and a bounded, mergeable sample of a scored run.

:class:`RunMonitor` is fed every batch a job scores (``update``), can be merged
with the monitors of other partitions (``merge``), and produces the statistics of
a run report (``finish``). Memory is flat: counts per column and level, and a
sample of at most ``sample_size`` rows chosen by the smallest hash of (source, row
number). The sample is the same however the rows were batched, partitioned or
merged, and it is independent of the values, so tests on it keep their level.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from anomvae.monitoring._columns import (
    as_categories,
    level_counts,
    numeric_blanks_and_take,
    row_priority,
    source_key,
)
from anomvae.monitoring.checks import (
    flag_count_test,
    holm_adjust,
    score_drift_test,
)
from anomvae.monitoring.columns import (
    blank_rate_test,
    categorical_column_test,
    numeric_column_test,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from anomvae.monitoring.profile import TrainingProfile

__all__ = [
    "DEFAULT_ALPHA",
    "MAX_NEW_LEVELS",
    "RUN_SAMPLE_SIZE",
    "CalibrationReference",
    "RunMonitor",
]

#: Family-wise false-alarm rate of a run's drift alarm.
DEFAULT_ALPHA = 0.01
#: Rows kept for the KS tests: 20,000 rows of 20 columns are 3.5 MB.
RUN_SAMPLE_SIZE = 20_000
#: Distinct levels missing from training that a monitor lists per column; more
#: are counted (exactly) but not listed, and which are listed may then depend on
#: the order of merges.
MAX_NEW_LEVELS = 1000
#: Rows of the sample (the first, in priority order: a value-independent subset)
#: compared with a column's 1,024 training values. More barely helps: the KS test's
#: effective size is 1024 n / (1024 + n), 910 at 8,192 rows and 974 at 20,000,
#: while the cost of the test (mostly sorting) grows with n.
COLUMN_KS_ROWS = 8192
#: Columns shown in a report's ``top_moved``.
TOP_MOVED = 5


@dataclass(frozen=True, eq=False)
class CalibrationReference:
    """What the run's scores are compared with: the calibration scores and the
    threshold in use.

    Attributes
    ----------
    scores : ndarray of shape (m,)
        Anomaly scores of the calibration rows (``calibration_scores_``).
    threshold : float
        Rows with ``score > threshold`` count as flags in the flag-count test.
    method : str
        The calibration method; ``"contamination"`` calibrates on the detector's
        own training scores, which are not exchangeable with new rows, so the score
        tests are skipped for it.
    target_fpr : float or None
    """

    scores: np.ndarray
    threshold: float
    method: str = "fpr"
    target_fpr: float | None = None

    @property
    def exchangeable(self) -> bool:
        """Whether the calibration rows were held out from training."""
        return self.method != "contamination"

    @classmethod
    def from_calibrator(
        cls, calibrator: Any, threshold: float | None = None
    ) -> CalibrationReference:
        """From a fitted ``ThresholdCalibrator`` (``threshold`` overrides its own)."""
        return cls(
            scores=np.asarray(calibrator.calibration_scores_, dtype=np.float64),
            threshold=float(calibrator.threshold_ if threshold is None else threshold),
            method=str(calibrator.method),
            target_fpr=getattr(calibrator, "target_fpr", None)
            if calibrator.method in ("fpr", "conformal")
            else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "target_fpr": self.target_fpr,
            "threshold": float(self.threshold),
            "n_calibration": int(self.scores.size),
            "exchangeable": self.exchangeable,
        }


def _clean(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunMonitor:
    """Accumulates what a run report needs, batch by batch.

    Parameters
    ----------
    profile : TrainingProfile, optional
        The model's training profile; without it no column is tested.
    calibration : CalibrationReference, optional
        Calibration scores and threshold; without it the score tests are skipped.
    threshold : float, optional
        Threshold counting as a flag when ``flags`` are not given to ``update``;
        default ``calibration.threshold``.
    source : str, default=""
        Name of the input (file or partition) the row numbers refer to; part of
        the hash that chooses the sample.
    sample_size : int, default=20_000
        Rows kept for the KS tests.
    alpha : float, default=0.01
        Family-wise false-alarm rate of the alarm.

    Examples
    --------
    >>> from anomvae.monitoring import TrainingProfile
    >>> rng = np.random.default_rng(0)
    >>> train = {"x": rng.normal(size=5000), "y": rng.normal(size=5000)}
    >>> cal = rng.chisquare(2, size=999)
    >>> ref = CalibrationReference(cal, float(np.sort(cal)[989]), target_fpr=0.01)
    >>> monitor = RunMonitor(TrainingProfile.from_data(train), ref)
    >>> for _ in range(4):  # four batches of new normal rows
    ...     x, y = rng.normal(size=(2, 2500))
    ...     monitor.update({"x": x, "y": y}, x**2 + y**2)
    >>> report = monitor.finish()
    >>> report["rows_scored"], report["alarm"]
    (10000, False)
    >>> blanked = RunMonitor(TrainingProfile.from_data(train), ref)
    >>> blanked.update({"x": x, "y": np.full(2500, np.nan)}, x**2)
    >>> blanked.finish()["fired"][0]["test"]
    'y:blank'
    """

    def __init__(
        self,
        profile: TrainingProfile | None = None,
        calibration: CalibrationReference | None = None,
        *,
        threshold: float | None = None,
        source: str = "",
        sample_size: int = RUN_SAMPLE_SIZE,
        alpha: float = DEFAULT_ALPHA,
    ) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(
                f"alpha must be in the open interval (0, 1), got {alpha!r}"
            )
        if sample_size < 1:
            raise ValueError(f"sample_size must be positive, got {sample_size}")
        self.profile = profile
        self.calibration = calibration
        if threshold is None and calibration is not None:
            threshold = calibration.threshold
        self.threshold = threshold
        self.source = source
        self.sample_size = int(sample_size)
        self.alpha = float(alpha)
        cols = profile.columns if profile is not None else ()
        self._numeric = [c.name for c in cols if c.kind == "numeric"]
        self._categorical = [c.name for c in cols if c.kind == "categorical"]
        self.rows_scored = 0
        self.rows_rejected = 0
        self.flags = 0
        self.exceedances = 0  # scores > threshold, what the flag-count test counts
        self.n_scores = 0
        self.blank = {c.name: 0 for c in cols}
        self.rejected_blanks = {c.name: 0 for c in cols}
        self.levels: dict[str, dict[str, int]] = {n: {} for n in self._categorical}
        self.unlisted = dict.fromkeys(self._categorical, 0)
        self._n_new = dict.fromkeys(self._categorical, 0)
        self._next_row = 1
        self._key = source_key(source)
        # sample: chunks of (priority, score, values[column, row]); compacted to
        # the sample_size smallest priorities when more than twice that pile up
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._pending = 0
        self._cutoff: np.uint64 | None = None
        self._pri_of = np.empty(0, dtype=np.uint64)

    # -------------------------------------------------------------- update
    def update(
        self,
        columns: Mapping[str, Any] | pa.Table | None = None,
        scores: ArrayLike | None = None,
        flags: ArrayLike | None = None,
        *,
        rows: ArrayLike | None = None,
        rejected: int = 0,
        rejected_blanks: Mapping[str, int] | None = None,
    ) -> None:
        """Add one batch of scored rows.

        Parameters
        ----------
        columns : mapping of str to array, or pyarrow Table
            The model's input columns as read for the scored rows: numbers as
            float64 with NaN for blank, categories as strings with None for blank
            (other dtypes are converted). Only the profile's columns are read.
        scores : array-like of shape (n,), optional
            The rows' anomaly scores (finite).
        flags : array-like of bool, shape (n,), optional
            The rows' flags as written; default ``scores > threshold``.
        rows : array-like of int, shape (n,), optional
            Row numbers within ``source`` (the reader's 1-based data rows); default
            a running count. They choose the sample: pass them when batches may
            come in any order, or partitions are merged.
        rejected : int, default=0
            Rows of this batch rejected before scoring (not in ``columns``).
        rejected_blanks : mapping of str to int, optional
            Of those, the rows rejected for a blank cell, per column (the reader's
            rejects). They count in the column's blank-rate test as blank rows, so
            a column that goes blank alarms even when its rows are skipped.
        """
        n = self._batch_size(columns, scores, flags)
        self.rows_rejected += int(rejected)
        for name, count in (rejected_blanks or {}).items():
            if name in self.rejected_blanks:
                self.rejected_blanks[name] += int(count)
        if n == 0:
            return
        row_numbers = (
            np.arange(self._next_row, self._next_row + n, dtype=np.int64)
            if rows is None
            else np.asarray(rows, dtype=np.int64).ravel()
        )
        if row_numbers.size != n:
            raise ValueError(f"{row_numbers.size} row numbers for {n} rows")
        self._next_row = int(row_numbers.max()) + 1
        self.rows_scored += n
        s = None
        if scores is not None:
            s = np.asarray(scores, dtype=np.float64).ravel()
            if not np.isfinite(s).all():
                raise ValueError("scores contain NaN or infinite values")
            self.n_scores += n
            if self.threshold is not None:
                self.exceedances += int(np.count_nonzero(s > self.threshold))
        if flags is not None:
            self.flags += int(np.count_nonzero(np.asarray(flags)))
        elif s is not None and self.threshold is not None:
            self.flags += int(np.count_nonzero(s > self.threshold))
        take = self._candidates(row_numbers)
        picked = []
        for name in self._numeric:
            blanks, values = numeric_blanks_and_take(
                self._column(columns, name), take, name
            )
            self.blank[name] += blanks
            picked.append(values)
        for name in self._categorical:
            counts, blanks = level_counts(as_categories(self._column(columns, name)))
            self.blank[name] += blanks
            self._add_levels(name, counts)
        if take.size:
            self._chunks.append(
                (
                    self._pri_of[take],
                    np.full(take.size, np.nan) if s is None else s[take],
                    np.stack(picked) if picked else np.empty((0, take.size)),
                )
            )
            self._pending += take.size
            full = self._pending >= self.sample_size
            if self._pending > 2 * self.sample_size or (full and self._cutoff is None):
                self._compact()

    def _batch_size(self, columns: Any, scores: Any, flags: Any) -> int:
        sizes = set()
        if columns is not None:
            if isinstance(columns, pa.Table):
                sizes.add(columns.num_rows)
            else:
                sizes |= {len(v) for v in columns.values()}
        for arr in (scores, flags):
            if arr is not None:
                sizes.add(int(np.asarray(arr).size))
        if len(sizes) > 1:
            raise ValueError(
                f"columns, scores and flags differ in length: {sorted(sizes)}"
            )
        if not sizes:
            raise ValueError("update needs columns or scores")
        if self.profile is not None and columns is None:
            raise ValueError("this monitor has a training profile: pass the columns")
        return sizes.pop()

    @staticmethod
    def _column(columns: Any, name: str) -> Any:
        try:
            return (
                columns.column(name) if isinstance(columns, pa.Table) else columns[name]
            )
        except KeyError:
            raise ValueError(
                f"column {name!r} of the training profile is missing"
            ) from None

    def _add_levels(self, name: str, counts: Mapping[str, int]) -> None:
        assert self.profile is not None
        known = self.profile[name].levels or {}
        mine = self.levels[name]
        for level, count in counts.items():
            if level in mine:
                mine[level] += count
            elif level in known:
                mine[level] = count
            elif self._n_new[name] < MAX_NEW_LEVELS:
                mine[level] = count
                self._n_new[name] += 1
            else:
                self.unlisted[name] += count

    # -------------------------------------------------------------- sample
    def _candidates(self, rows: np.ndarray) -> np.ndarray:
        """Indices of the batch's rows that may belong to the sample (sorted)."""
        pri = row_priority(rows, self._key)
        self._pri_of = pri
        cutoff = self._cutoff
        take = np.arange(pri.size) if cutoff is None else np.flatnonzero(pri < cutoff)
        if take.size > self.sample_size:
            best = np.argpartition(pri[take], self.sample_size - 1)
            take = np.sort(take[best[: self.sample_size]])
        return take

    def _compact(self) -> None:
        """Keep the ``sample_size`` rows of smallest priority."""
        if not self._chunks:
            return
        pri = np.concatenate([c[0] for c in self._chunks])
        scores = np.concatenate([c[1] for c in self._chunks])
        values = np.concatenate([c[2] for c in self._chunks], axis=1)
        if pri.size > self.sample_size:
            keep = np.argpartition(pri, self.sample_size - 1)[: self.sample_size]
            keep.sort()  # gather in memory order
            pri, scores, values = pri[keep], scores[keep], values.take(keep, axis=1)
        self._chunks = [(pri, scores, values)]
        self._pending = pri.size
        if pri.size >= self.sample_size:
            self._cutoff = pri.max()

    def _sample_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The sample in priority order (so it does not depend on batching)."""
        self._compact()
        if not self._chunks:
            return (
                np.empty(0, np.uint64),
                np.empty(0),
                np.empty((len(self._numeric), 0)),
            )
        pri, scores, values = self._chunks[0]
        order = np.argsort(pri, kind="stable")
        return pri[order], scores[order], values[:, order]

    # --------------------------------------------------------------- merge
    def merge(self, other: RunMonitor) -> RunMonitor:
        """Add another monitor's counts and sample (another partition); in place.

        The result does not depend on the order of merges, except which levels
        are listed beyond :data:`MAX_NEW_LEVELS` new levels of one column.
        """
        if (self._numeric, self._categorical) != (other._numeric, other._categorical):
            raise ValueError("cannot merge monitors of different training profiles")
        if self.threshold != other.threshold or self.sample_size != other.sample_size:
            raise ValueError("cannot merge monitors with different thresholds or sizes")
        for attr in (
            "rows_scored",
            "rows_rejected",
            "flags",
            "exceedances",
            "n_scores",
        ):
            setattr(self, attr, getattr(self, attr) + getattr(other, attr))
        for name in self.blank:
            self.blank[name] += other.blank[name]
            self.rejected_blanks[name] += other.rejected_blanks[name]
        for name in self._categorical:
            self._add_levels(name, other.levels[name])
            self.unlisted[name] += other.unlisted[name]
        # chunks are never modified in place, so sharing other's arrays is safe
        self._chunks += other._chunks
        self._pending += other._pending
        self._compact()
        return self

    # -------------------------------------------------------------- finish
    def finish(self) -> dict[str, Any]:
        """The run's statistics: counts, the tests and the alarm (JSON-safe).

        See :mod:`anomvae.monitoring` for every field.
        """
        pri, sample_scores, values = self._sample_arrays()
        sample_scores = sample_scores[~np.isnan(sample_scores)]
        family: list[tuple[str, float]] = []
        cal = self.calibration
        flag_test = drift = None
        skipped = None
        if cal is None:
            skipped = "no calibration scores"
        elif not cal.exchangeable:
            skipped = "method='contamination' calibrates on training scores"
        elif self.n_scores == 0:
            skipped = "no scores"
        else:
            assert self.threshold is not None
            try:
                counted = flag_count_test(
                    self.exceedances, self.n_scores, cal.scores, self.threshold
                )
                flag_test = asdict(counted)
                family.append(("flag_count", counted.p_value))
            except ValueError as exc:
                skipped = str(exc)
            if sample_scores.size:
                drift = asdict(score_drift_test(cal.scores, sample_scores))
                drift["sampled"] = sample_scores.size < self.n_scores
                family.append(("score_ks", drift["p_value"]))
        columns = self._column_results(values, family)
        names = [name for name, _ in family]
        p = np.array([pv for _, pv in family])
        adjusted = holm_adjust(p)
        adj_of = dict(zip(names, adjusted.tolist(), strict=True))
        fired = [
            {"test": names[i], "p_value": float(p[i]), "adjusted_p": float(adjusted[i])}
            for i in np.argsort(adjusted, kind="stable")
            if adjusted[i] < self.alpha
        ]
        for col in columns:
            tests = [t for t in adj_of if t.rsplit(":", 1)[0] == col["name"]]
            col["adjusted_p"] = min((adj_of[t] for t in tests), default=None)
        columns.sort(key=_column_order)
        top = [
            {
                "column": c["name"],
                "test": c["test"],
                "p_value": c["p_value"],
                "adjusted_p": c["adjusted_p"],
                "shift_iqr": c.get("numeric", {}).get("shift_iqr"),
            }
            for c in columns[:TOP_MOVED]
            if c["p_value"] is not None
        ]
        rate = self.flags / self.rows_scored if self.rows_scored else None
        return _clean(
            {
                "rows_read": self.rows_scored + self.rows_rejected,
                "rows_scored": self.rows_scored,
                "rows_rejected": self.rows_rejected,
                "flags": self.flags,
                "flag_rate": rate,
                "threshold": self.threshold,
                "calibration": "uncalibrated" if cal is None else cal.to_dict(),
                "flag_count_test": flag_test,
                "score_drift": drift,
                "score_tests_skipped": skipped,
                "columns": columns,
                "top_moved": top,
                "alpha": self.alpha,
                "n_tests": len(family),
                "min_adjusted_p": float(adjusted.min()) if adjusted.size else None,
                "alarm": bool(fired),
                "fired": fired,
                "sample": {"rows": int(pri.size), "capacity": self.sample_size},
            }
        )

    def _column_results(
        self, values: np.ndarray, family: list[tuple[str, float]]
    ) -> list[dict[str, Any]]:
        if self.profile is None:
            return []
        out = []
        for col in self.profile.columns:
            filled = self.rows_scored - self.blank[col.name]
            skipped = self.rejected_blanks[col.name]
            blank = blank_rate_test(
                col.blank,
                col.n,
                self.blank[col.name] + skipped,
                self.rows_scored + skipped,
            )
            entry: dict[str, Any] = {"name": col.name, "kind": col.kind}
            tests = {"blank": blank.p_value}
            entry["blank"] = asdict(blank)
            if col.kind == "numeric":
                j = self._numeric.index(col.name)
                x = values[j]
                num = numeric_column_test(
                    col.sample if col.sample is not None else [],
                    x[:COLUMN_KS_ROWS],
                    train_median=col.median,
                    train_iqr=col.iqr,
                )
                entry["numeric"] = asdict(num)
                _with_full_sample_median(entry["numeric"], x, col.iqr)
                if num.p_value is not None:
                    tests["ks"] = num.p_value
            else:
                cat = categorical_column_test(
                    col.levels or {},
                    self.levels[col.name],
                    train_other=col.other,
                    run_unlisted=self.unlisted[col.name],
                )
                entry["categorical"] = asdict(cat)
                if filled > 0:
                    tests["levels"] = cat.p_value
                    if cat.new_p_value is not None:
                        tests["new_levels"] = cat.new_p_value
            family.extend((f"{col.name}:{t}", p) for t, p in tests.items())
            best = min(tests, key=lambda t: tests[t])
            entry["test"], entry["p_value"] = best, tests[best]
            out.append(entry)
        return out


def _with_full_sample_median(
    result: dict[str, Any], x: np.ndarray, iqr: float | None
) -> None:
    """The run's median from the whole sample (the KS test uses a prefix)."""
    filled = x[~np.isnan(x)]
    if filled.size == 0 or result["median_train"] is None:
        return
    result["median_run"] = float(np.median(filled))
    result["median_shift"] = result["median_run"] - result["median_train"]
    result["shift_iqr"] = result["median_shift"] / iqr if iqr else None


def _column_order(col: dict[str, Any]) -> tuple[float, float, str]:
    shift = (col.get("numeric") or {}).get("shift_iqr")
    p = col["p_value"]
    return (1.0 if p is None else p, -abs(shift or 0.0), col["name"])
