"""Safe model files: one safetensors file holding the tensors, with the JSON
configuration in its metadata header. No pickle anywhere, so loading a model file
never runs code from it.

Layout of a ``.anomvae`` file (a valid safetensors file)::

    tensors   network/<parameter name>, scaler/center, scaler/scale,
              latent/reference (training codes for the latent scores),
              latent/support_columns, latent/support_values (features constant
              in training and their scaled value, for the hybrid score),
              calibrator/... (when saved from a ThresholdCalibrator)
    metadata  format = "anomvae", format_version = "1",
              config = JSON (estimator class, parameters, fitted state, versions,
                       the caller's metadata),
              sha256 = digest of config and every tensor (detects tampering)

Only the estimator classes listed in :data:`_DETECTORS` can be rebuilt; the
config's class name is looked up there, never imported.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from anomvae._version import __version__
from anomvae.exceptions import ModelFileError
from anomvae.models import NetworkSpec, build_network
from anomvae.preprocessing import ConditionEncoder, Scaler
from anomvae.scoring import LatentReference

__all__ = [
    "FORMAT_VERSION",
    "detector_from_state",
    "detector_state",
    "load",
    "load_with_metadata",
    "read_config",
    "save",
]

FORMAT_VERSION = 1
_TUPLE_PARAMS = ("hidden_layer_sizes", "image_shape", "condition_columns")
_FITTED_SCALARS = (
    "n_features_in_",
    "offset_",
    "history_",
    "n_iter_",
    "n_steps_",
    "best_epoch_",
    "n_train_samples_",
    "score_seed_",
)
#: Fitted values newer than format version 1's first files, with the value an
#: older file implies (models trained before ``precision`` existed were float32).
_FITTED_OPTIONAL = {"training_precision_": "float32"}


def _detector_classes() -> dict[str, type]:
    from anomvae import detectors

    return {
        name: getattr(detectors, name)
        for name in detectors.__all__
        if name != "BaseAutoencoderDetector"
    }


def _json_safe_params(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, np.integer):
            value = int(value)
        elif isinstance(value, np.floating):
            value = float(value)
        elif key == "random_state" and not (value is None or isinstance(value, int)):
            value = None  # a RandomState instance cannot be stored; fitting is done
        out[key] = value
    return out


def detector_state(det: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Config (JSON-ready) and arrays of a fitted anomvae detector."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(det, "network_")
    fitted: dict[str, Any] = {k: getattr(det, k) for k in _FITTED_SCALARS}
    fitted.update({k: getattr(det, k, v) for k, v in _FITTED_OPTIONAL.items()})
    fitted["network_spec"] = det.network_spec_.to_dict()
    fitted["scaler_kind"] = det.scaler_.kind
    if hasattr(det, "feature_names_in_"):
        fitted["feature_names_in_"] = [str(n) for n in det.feature_names_in_]
    if hasattr(det, "condition_encoder_"):
        fitted["condition_encoder"] = det.condition_encoder_.to_dict()
    config = {
        "estimator": type(det).__name__,
        "params": _json_safe_params(det.get_params(deep=False)),
        "fitted": fitted,
    }
    arrays = {
        f"network/{k}": v.detach().cpu().numpy()
        for k, v in det.network_.state_dict().items()
    }
    ref = det.latent_reference_
    fitted["latent_reference"] = {
        "k": ref.k,
        "recon_center": ref.recon_center,
        "recon_scale": ref.recon_scale,
        "knn_center": ref.knn_center,
        "knn_scale": ref.knn_scale,
        "latent_weight": ref.latent_weight,
        "support_weight": ref.support_weight,
    }
    arrays["latent/reference"] = ref.codes.detach().cpu().numpy()
    if ref.support_columns is not None and ref.support_values is not None:
        arrays["latent/support_columns"] = ref.support_columns.cpu().numpy()
        arrays["latent/support_values"] = ref.support_values.cpu().numpy()
    arrays["scaler/center"] = det.scaler_.center
    arrays["scaler/scale"] = det.scaler_.scale
    return config, arrays


def detector_from_state(config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    """Rebuild a fitted detector from :func:`detector_state`'s output."""
    classes = _detector_classes()
    name = config.get("estimator")
    if name not in classes:
        raise ModelFileError(
            f"unknown estimator {name!r} in model file (known: {', '.join(classes)})"
        )
    params = dict(config["params"])
    for key in _TUPLE_PARAMS:
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    det = classes[name](**params)
    fitted = config["fitted"]
    for key in _FITTED_SCALARS:
        setattr(det, key, fitted[key])
    for key, default in _FITTED_OPTIONAL.items():
        setattr(det, key, fitted.get(key, default))
    if "feature_names_in_" in fitted:
        det.feature_names_in_ = np.asarray(fitted["feature_names_in_"], dtype=object)
    if "condition_encoder" in fitted:
        det.condition_encoder_ = ConditionEncoder.from_dict(fitted["condition_encoder"])
    det.scaler_ = Scaler(
        fitted["scaler_kind"], arrays["scaler/center"], arrays["scaler/scale"]
    )
    det.network_spec_ = NetworkSpec.from_dict(fitted["network_spec"])
    net = build_network(det.network_spec_).to(torch.float64)  # scoring precision
    state = {
        k.removeprefix("network/"): torch.from_numpy(v.copy())
        for k, v in arrays.items()
        if k.startswith("network/")
    }
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelFileError(
            f"network weights do not match the saved configuration: {exc}"
        ) from None
    net.train(False)
    det.network_ = net
    support = [
        torch.from_numpy(arrays[key].copy()) if key in arrays else None
        for key in ("latent/support_columns", "latent/support_values")
    ]
    det.latent_reference_ = LatentReference(
        torch.from_numpy(arrays["latent/reference"].copy()).to(torch.float64),
        **fitted["latent_reference"],
        support_columns=support[0],
        support_values=support[1],
    )
    return det


def _digest(config_json: str, arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(config_json.encode())
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(key.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _versions() -> dict[str, str]:
    import sklearn

    return {
        "anomvae": __version__,
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def save(
    obj: Any,
    path: str | os.PathLike[str],
    *,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Write a fitted detector or calibrator to ``path`` atomically (a temporary
    file beside it, renamed at the end: an interrupted save never leaves a
    truncated model).

    ``metadata`` is stored as JSON in the configuration, covered by its checksum,
    and read back by :func:`load_with_metadata`: what the application around the
    model needs to remember (``anomvae fit`` stores its ``id_columns``).
    """
    from safetensors.numpy import save as st_save

    from anomvae.io import atomic_output

    config, arrays = obj._to_state()
    config = {
        "format": "anomvae",
        "format_version": FORMAT_VERSION,
        **config,
        "metadata": _json_object(metadata),
        "versions": _versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    config_json = json.dumps(config, sort_keys=True, allow_nan=True)
    metadata = {
        "format": "anomvae",
        "format_version": str(FORMAT_VERSION),
        "config": config_json,
        "sha256": _digest(config_json, arrays),
    }
    payload = st_save(arrays, metadata=metadata)
    with atomic_output(path) as tmp:
        Path(tmp).write_bytes(payload)


def _read(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"{p}: model file not found")
    try:
        with safe_open(str(p), framework="numpy") as f:
            metadata = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own error types
        raise ModelFileError(
            f"{p}: not a readable anomvae model file (corrupt, truncated or another "
            f"format): {exc}"
        ) from None
    if metadata.get("format") != "anomvae" or "config" not in metadata:
        raise ModelFileError(f"{p}: a safetensors file, but not an anomvae model")
    version = metadata.get("format_version", "?")
    if not version.isdigit() or int(version) > FORMAT_VERSION:
        raise ModelFileError(
            f"{p}: model file format {version} is newer than this anomvae reads "
            f"({FORMAT_VERSION}); upgrade anomvae"
        )
    if _digest(metadata["config"], arrays) != metadata.get("sha256"):
        raise ModelFileError(
            f"{p}: checksum mismatch: the file was modified after it was saved"
        )
    try:
        config = json.loads(metadata["config"])
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{p}: invalid configuration: {exc}") from None
    return config, arrays


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The verified JSON configuration of a model file, without building the model."""
    return _read(path)[0]


def _json_object(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """``metadata`` as a plain JSON object (a copy), or a clear TypeError."""
    value = dict(metadata or {})
    try:
        return dict(json.loads(json.dumps(value, allow_nan=False)))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"model metadata must be plain JSON: {exc}") from None


def load(path: str | os.PathLike[str]) -> Any:
    """Load a model saved by ``save``: a detector, or a
    :class:`~anomvae.ThresholdCalibrator` when the file carries a calibration.

    Raises :class:`~anomvae.exceptions.ModelFileError` for a missing, corrupt,
    truncated, tampered-with or too-new file. Never unpickles anything.
    """
    return load_with_metadata(path)[0]


def load_with_metadata(path: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """:func:`load`, and the ``metadata`` the file was saved with (``{}`` when
    none, as in files written before metadata existed), read in one pass."""
    config, arrays = _read(path)
    metadata = config.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: inconsistent model file: metadata is not a map")
    return _build(path, config, arrays), metadata


def _build(
    path: str | os.PathLike[str], config: dict[str, Any], arrays: dict[str, np.ndarray]
) -> Any:
    try:
        if "calibrator" in config:
            from anomvae.calibration import ThresholdCalibrator

            return ThresholdCalibrator._from_state(config, arrays)
        return detector_from_state(config, arrays)
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: inconsistent model file: {exc!r}") from None
