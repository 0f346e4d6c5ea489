"""Errors raised by anomvae.

Every error a user can cause derives from :class:`AnomvaeError`, so a batch job can
catch one type. Each also derives from the built-in type scikit-learn users expect
(``ValueError`` for bad data, ``RuntimeError`` for training failures).
"""

from __future__ import annotations

__all__ = [
    "AnomvaeError",
    "DataError",
    "MissingColumnsError",
    "ModelFileError",
    "TrainingError",
]


class AnomvaeError(Exception):
    """Base class of every anomvae error."""


class DataError(AnomvaeError, ValueError):
    """Input data that anomvae cannot use (wrong columns, invalid cells, ...)."""


class MissingColumnsError(DataError):
    """An input without columns it needs; ``missing`` names them."""

    def __init__(self, message: str, missing: list[str]) -> None:
        super().__init__(message)
        self.missing = list(missing)

    def __reduce__(self) -> tuple[type, tuple[str, list[str]]]:
        # Pickles with its names (dask re-raises a worker's error in the client).
        return type(self), (str(self), self.missing)


class ModelFileError(AnomvaeError, ValueError):
    """A model file that is missing, corrupt, truncated, tampered with or too new."""


class TrainingError(AnomvaeError, RuntimeError):
    """Training that cannot produce a usable model (for example a NaN loss)."""
