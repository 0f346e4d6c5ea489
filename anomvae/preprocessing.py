"""Input scaling and condition encoding, kept with the model.

Both are plain numpy with state that fits in a model file (arrays for the scaler,
JSON for the condition encoder), so a saved model rescales new data exactly as it
did in training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from anomvae.exceptions import DataError

__all__ = ["SCALERS", "ConditionEncoder", "Scaler"]

SCALERS = ("standard", "robust", "minmax", "none")

#: A robust scale from the interquartile range: IQR / 1.349 equals the standard
#: deviation for Gaussian data.
_IQR_TO_STD = 1.349


@dataclass
class Scaler:
    """Per-feature affine scaling ``(x - center) / scale``, safe with constant
    columns (their scale is set to 1, so they map to 0)."""

    kind: str
    center: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, kind: str, x: np.ndarray) -> Scaler:
        d = x.shape[1]
        if kind == "none":
            return cls(kind, np.zeros(d), np.ones(d))
        if kind == "standard":
            center, scale = x.mean(0), x.std(0)
        elif kind == "robust":
            q1, center, q3 = np.percentile(x, [25, 50, 75], axis=0)
            scale = (q3 - q1) / _IQR_TO_STD
            # Columns with a zero IQR (mostly one value) fall back to the std.
            scale = np.where(scale > 0, scale, x.std(0))
        elif kind == "minmax":
            center, scale = x.min(0), x.max(0) - x.min(0)
        else:
            raise ValueError(f"unknown scaler {kind!r}; use one of {SCALERS}")
        scale = np.where(
            np.isfinite(scale) & (scale > 1e-12 * (1 + np.abs(center))), scale, 1.0
        )
        return cls(kind, np.asarray(center, float), np.asarray(scale, float))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (x - self.center) / self.scale

    def inverse_transform(self, x: np.ndarray) -> np.ndarray:
        return x * self.scale + self.center


@dataclass
class ConditionEncoder:
    """Encodes condition (context) columns: categorical ones one-hot over the
    categories seen in training, numeric ones standardised.

    A category not seen in training encodes as all zeros: the model then scores the
    row as if its context were unknown. A blank context cell is data too: in a
    categorical column it is the level ``"<blank>"``, in a numeric one the training
    mean (0 after standardising).
    """

    kinds: list[str] = field(default_factory=list)  # "categorical" | "numeric"
    categories: list[list[str]] = field(default_factory=list)
    centers: list[float] = field(default_factory=list)
    scales: list[float] = field(default_factory=list)

    @staticmethod
    def _is_numeric(col: pd.Series) -> bool:
        return bool(
            pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        )

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> ConditionEncoder:
        enc = cls()
        for name in frame.columns:
            col = frame[name]
            if cls._is_numeric(col):
                values = col.to_numpy(float)
                if np.isinf(values).any():
                    raise DataError(f"condition column {name!r} has infinite values")
                seen = values[~np.isnan(values)]
                std = float(seen.std()) if len(seen) else 0.0
                enc.kinds.append("numeric")
                enc.categories.append([])
                enc.centers.append(float(seen.mean()) if len(seen) else 0.0)
                enc.scales.append(std if std > 0 else 1.0)
            else:
                odd = [
                    v
                    for v in col
                    if not isinstance(v, str | bool | int | float | np.generic)
                ]
                if odd:
                    raise TypeError(
                        f"condition column {name!r}: argument must be a string or a "
                        f"number, not {type(odd[0]).__name__!r}"
                    )
                enc.kinds.append("categorical")
                enc.categories.append(sorted(set(_levels(col))))
                enc.centers.append(0.0)
                enc.scales.append(1.0)
        return enc

    @property
    def n_outputs(self) -> int:
        return sum(
            len(c) if k == "categorical" else 1
            for k, c in zip(self.kinds, self.categories, strict=True)
        )

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        parts: list[np.ndarray] = []
        for i, name in enumerate(frame.columns):
            col = frame[name]
            if self.kinds[i] == "numeric":
                try:
                    values = col.to_numpy(float)
                except (TypeError, ValueError):
                    raise DataError(
                        f"condition column {name!r} must be numeric"
                    ) from None
                scaled = (values - self.centers[i]) / self.scales[i]
                parts.append(np.nan_to_num(scaled, nan=0.0)[:, None])
            else:
                cats = pd.Index(self.categories[i])
                codes = cats.get_indexer(pd.Index(_levels(col)))
                onehot = np.zeros((len(col), len(cats)))
                known = codes >= 0
                onehot[np.flatnonzero(known), codes[known]] = 1.0
                parts.append(onehot)
        if not parts:
            return np.zeros((len(frame), 0))
        return np.hstack(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kinds": self.kinds,
            "categories": self.categories,
            "centers": self.centers,
            "scales": self.scales,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConditionEncoder:
        return cls(
            list(data["kinds"]),
            [list(c) for c in data["categories"]],
            [float(v) for v in data["centers"]],
            [float(v) for v in data["scales"]],
        )


#: The level of a blank cell in a categorical condition column.
BLANK_LEVEL = "<blank>"


def _levels(col: pd.Series) -> list[str]:
    """A condition column's cells as level strings, blanks as :data:`BLANK_LEVEL`."""
    blank = col.isna().to_numpy()
    return [BLANK_LEVEL if b else str(v) for v, b in zip(col, blank, strict=True)]
