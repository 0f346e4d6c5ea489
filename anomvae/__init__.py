"""anomvae: autoencoder and VAE anomaly detectors as scikit-learn estimators."""

from anomvae._version import __version__
from anomvae.detectors import (
    AutoencoderDetector,
    ConditionalVAEDetector,
    DenoisingAutoencoderDetector,
    VAEDetector,
)
from anomvae.exceptions import AnomvaeError, DataError, ModelFileError, TrainingError
from anomvae.model_selection import NoveltySplit, auroc_scorer, average_precision_scorer
from anomvae.persistence import load

__all__ = [
    "AnomvaeError",
    "AutoencoderDetector",
    "ConditionalVAEDetector",
    "DataError",
    "DenoisingAutoencoderDetector",
    "ModelFileError",
    "NoveltySplit",
    "TrainingError",
    "VAEDetector",
    "__version__",
    "auroc_scorer",
    "average_precision_scorer",
    "load",
]
