"""Errors raised by anomvae.

Every error a user can cause derives from :class:`AnomvaeError`, so a batch job can
catch one type. Each also derives from the built-in type scikit-learn users expect
(``ValueError`` for bad data, ``RuntimeError`` for training failures).
"""

from __future__ import annotations

__all__ = ["AnomvaeError", "DataError", "ModelFileError", "TrainingError"]


class AnomvaeError(Exception):
    """Base class of every anomvae error."""


class DataError(AnomvaeError, ValueError):
    """Input data that anomvae cannot use (wrong columns, invalid cells, ...)."""


class ModelFileError(AnomvaeError, ValueError):
    """A model file that is missing, corrupt, truncated, tampered with or too new."""


class TrainingError(AnomvaeError, RuntimeError):
    """Training that cannot produce a usable model (for example a NaN loss)."""
