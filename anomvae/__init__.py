"""anomvae: autoencoder and VAE anomaly detectors as scikit-learn estimators.

Names are imported on first use, so ``import anomvae.io`` (and the CLI's ``--help``)
does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from anomvae._version import __version__
from anomvae.exceptions import AnomvaeError, DataError, ModelFileError, TrainingError

if TYPE_CHECKING:
    from anomvae.calibration import ThresholdCalibrator
    from anomvae.detectors import (
        AutoencoderDetector,
        ConditionalVAEDetector,
        DenoisingAutoencoderDetector,
        VAEDetector,
    )
    from anomvae.model_selection import (
        NoveltySplit,
        auroc_scorer,
        average_precision_scorer,
    )
    from anomvae.persistence import load, save

_LAZY = {
    "AutoencoderDetector": "anomvae.detectors",
    "ConditionalVAEDetector": "anomvae.detectors",
    "DenoisingAutoencoderDetector": "anomvae.detectors",
    "VAEDetector": "anomvae.detectors",
    "ThresholdCalibrator": "anomvae.calibration",
    "NoveltySplit": "anomvae.model_selection",
    "auroc_scorer": "anomvae.model_selection",
    "average_precision_scorer": "anomvae.model_selection",
    "load": "anomvae.persistence",
    "save": "anomvae.persistence",
}

__all__ = [
    "AnomvaeError",
    "AutoencoderDetector",
    "ConditionalVAEDetector",
    "DataError",
    "DenoisingAutoencoderDetector",
    "ModelFileError",
    "NoveltySplit",
    "ThresholdCalibrator",
    "TrainingError",
    "VAEDetector",
    "__version__",
    "auroc_scorer",
    "average_precision_scorer",
    "load",
    "save",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'anomvae' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
