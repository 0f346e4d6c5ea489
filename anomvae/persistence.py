"""Safe model files: one safetensors file holding the tensors, with the JSON
configuration in its metadata header. No pickle anywhere, so loading a model file
never runs code from it.

Layout of a ``.anomvae`` file (a valid safetensors file)::

    tensors   network/<parameter name>, scaler/center, scaler/scale,
              latent/reference (training codes for the latent scores),
              latent/support_columns, latent/support_values (features constant
              in training and their scaled value, for the hybrid score),
              latent/input_rows (scaled training rows, float32, for the
              ensemble score's input k-NN term),
              calibrator/... (when saved from a ThresholdCalibrator),
              monitoring/profile/sample/<i> (the training profile's sampled
              values of column i, for run reports' column tests)
    metadata  format = "anomvae", format_version = "1",
              config = JSON (estimator class, parameters, fitted state, versions,
                       the caller's metadata),
              sha256 = digest of config and every tensor,
              hmac_sha256 = keyed signature of that digest (only when saved
                            with a key)

The sha256 detects corruption (a truncated copy, a flipped bit), not tampering:
whoever can edit the file can recompute it. A file saved with a secret key
(``key=`` or the ``ANOMVAE_MODEL_KEY`` environment variable) also carries an
HMAC-SHA256 of the digest; loading with the key refuses a file whose signature is
missing or wrong.

This module is the one place that knows what a model file holds: the table of
classes that can be rebuilt (:data:`CLASSES`; the config's class name is looked
up there, never imported), the fitted attributes of a detector, and a
calibrator's state. It sits *above* the estimators, which therefore have no
``save`` method: ``anomvae.save(model, path)``, like ``joblib.dump`` or
``skops.io.dump`` for scikit-learn estimators.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.utils.validation import check_is_fitted

from anomvae import detectors
from anomvae._version import __version__
from anomvae.calibration import ThresholdCalibrator
from anomvae.exceptions import ModelFileError
from anomvae.models import NetworkSpec, build_network
from anomvae.monitoring import TrainingProfile
from anomvae.preprocessing import ConditionEncoder, Scaler
from anomvae.schema import TableSchema
from anomvae.scoring import LatentReference
from anomvae.tabular import TableEncoder

__all__ = [
    "CLASSES",
    "FORMAT_VERSION",
    "KEY_ENV",
    "calibrator_from_state",
    "calibrator_state",
    "detector_from_state",
    "detector_state",
    "load",
    "load_with_metadata",
    "read_config",
    "save",
]

#: Environment variable holding the key that signs (``save``) and verifies
#: (``load``) model files when no ``key`` argument is given.
KEY_ENV = "ANOMVAE_MODEL_KEY"

#: The detector classes a model file can hold, by the name stored in it.
CLASSES: dict[str, type[detectors.BaseAutoencoderDetector]] = {
    cls.__name__: cls
    for cls in (
        detectors.AutoencoderDetector,
        detectors.DenoisingAutoencoderDetector,
        detectors.VAEDetector,
        detectors.ConditionalVAEDetector,
    )
}

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
#: Prefix of the training profile's arrays (its JSON part is
#: ``config["fitted"]["training_profile"]``).
_PROFILE_PREFIX = "monitoring/profile/"


def _json_safe_params(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, tuple | np.ndarray):
            value = [v.item() if isinstance(v, np.generic) else v for v in value]
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
    if type(det).__name__ not in CLASSES:
        raise TypeError(
            f"only anomvae detectors can be saved; {type(det).__name__} has no safe "
            f"file format. Persist it with joblib instead (which runs arbitrary "
            f"code on load: trusted files only)"
        )
    check_is_fitted(det, "network_")
    fitted: dict[str, Any] = {k: getattr(det, k) for k in _FITTED_SCALARS}
    fitted.update({k: getattr(det, k, v) for k, v in _FITTED_OPTIONAL.items()})
    fitted["network_spec"] = det.network_spec_.to_dict()
    fitted["scaler_kind"] = det.scaler_.kind
    if hasattr(det, "feature_names_in_"):
        fitted["feature_names_in_"] = [str(n) for n in det.feature_names_in_]
    if hasattr(det, "condition_encoder_"):
        fitted["condition_encoder"] = det.condition_encoder_.to_dict()
    schema = getattr(det, "schema_", None)
    if schema is not None:
        fitted["schema"] = schema.to_dict()
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
    if ref.input_rows is not None:
        fitted["latent_reference"].update(
            input_k=ref.input_k,
            input_center=ref.input_center,
            input_scale=ref.input_scale,
            ensemble_latent_weight=ref.ensemble_latent_weight,
            input_weight=ref.input_weight,
        )
        # The rows the network was trained on are float32: exact in float32.
        arrays["latent/input_rows"] = (
            ref.input_rows.detach().cpu().numpy().astype(np.float32)
        )
    arrays["latent/reference"] = ref.codes.detach().cpu().numpy()
    if ref.support_columns is not None and ref.support_values is not None:
        arrays["latent/support_columns"] = ref.support_columns.cpu().numpy()
        arrays["latent/support_values"] = ref.support_values.cpu().numpy()
    arrays["scaler/center"] = det.scaler_.center
    arrays["scaler/scale"] = det.scaler_.scale
    profile = getattr(det, "training_profile_", None)
    if profile is not None:
        fitted["training_profile"] = profile.to_dict()
        arrays.update(profile.to_arrays(_PROFILE_PREFIX))
    return config, arrays


def detector_from_state(config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    """Rebuild a fitted detector from :func:`detector_state`'s output."""
    name = config.get("estimator")
    if name not in CLASSES:
        raise ModelFileError(
            f"unknown estimator {name!r} in model file (known: {', '.join(CLASSES)})"
        )
    params = dict(config["params"])
    for key in _TUPLE_PARAMS:
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    det = CLASSES[name](**params)
    fitted = config["fitted"]
    for key in _FITTED_SCALARS:
        setattr(det, key, fitted[key])
    for key, default in _FITTED_OPTIONAL.items():
        setattr(det, key, fitted.get(key, default))
    if "feature_names_in_" in fitted:
        det.feature_names_in_ = np.asarray(fitted["feature_names_in_"], dtype=object)
    if "condition_encoder" in fitted:
        det.condition_encoder_ = ConditionEncoder.from_dict(fitted["condition_encoder"])
    # A mixed-table model's column kinds, levels and transforms (files written
    # before mixed tables existed hold numeric models).
    det.schema_ = None
    det.table_encoder_ = None
    if "schema" in fitted:
        det.schema_ = TableSchema.from_dict(fitted["schema"])
        det.table_encoder_ = TableEncoder(det.schema_)
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
    rows = arrays.get("latent/input_rows")
    det.latent_reference_ = LatentReference(
        torch.from_numpy(arrays["latent/reference"].copy()).to(torch.float64),
        **fitted["latent_reference"],
        support_columns=support[0],
        support_values=support[1],
        input_rows=None if rows is None else torch.from_numpy(rows.copy()).double(),
    )
    det.training_profile_ = _profile_from_state(fitted, arrays)
    return det


def _profile_from_state(
    fitted: dict[str, Any], arrays: dict[str, np.ndarray]
) -> TrainingProfile | None:
    """The training profile, or None for files saved before profiles existed
    (their run reports then have no column tests)."""
    if "training_profile" not in fitted:
        return None
    try:
        return TrainingProfile.from_parts(
            fitted["training_profile"], arrays, _PROFILE_PREFIX
        )
    except ValueError as exc:
        raise ModelFileError(
            f"unreadable training profile in model file: {exc}"
        ) from None


def calibrator_state(
    cal: ThresholdCalibrator,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Config and arrays of a fitted calibrator: its detector's state plus the
    threshold, the calibration scores and the calibration report."""
    check_is_fitted(cal)
    config, arrays = detector_state(cal.detector_)
    params = cal.get_params(deep=False)
    del params["detector"]
    if not isinstance(params["random_state"], int):
        params["random_state"] = None  # a RandomState instance is not JSON
    names = getattr(cal, "feature_names_in_", None)
    config["calibrator"] = {
        "params": params,
        "threshold": cal.threshold_,
        "n_calibration": cal.n_calibration_,
        "n_features_in": int(cal.n_features_in_),
        "feature_names_in": None if names is None else [str(c) for c in names],
        "report": cal.calibration_report_,
    }
    arrays["calibrator/calibration_scores"] = cal.calibration_scores_
    return config, arrays


def calibrator_from_state(
    config: dict[str, Any], arrays: dict[str, np.ndarray]
) -> ThresholdCalibrator:
    """Rebuild a calibrator from :func:`calibrator_state`'s output. Its detector
    comes wrapped in a :class:`~sklearn.frozen.FrozenEstimator`, so ``fit`` on it
    (or on its clone) recalibrates without retraining."""
    config, arrays = dict(config), dict(arrays)
    try:
        state = config.pop("calibrator")
        scores = arrays.pop("calibrator/calibration_scores")
        detector = detector_from_state(config, arrays)
        calibrator = ThresholdCalibrator(FrozenEstimator(detector), **state["params"])
        calibrator.detector_ = detector
        calibrator.threshold_ = float(state["threshold"])
        calibrator.n_calibration_ = int(state["n_calibration"])
        calibrator.n_features_in_ = int(state["n_features_in"])
        calibrator.calibration_report_ = dict(state["report"])
    except (KeyError, TypeError) as exc:
        raise ModelFileError(
            f"unreadable calibrator state in model file: {exc!r}"
        ) from exc
    calibrator.calibration_scores_ = np.sort(np.asarray(scores, dtype=np.float64))
    if state.get("feature_names_in") is not None:
        calibrator.feature_names_in_ = np.asarray(
            state["feature_names_in"], dtype=object
        )
    return calibrator


def _state(model: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    if isinstance(model, ThresholdCalibrator):
        return calibrator_state(model)
    return detector_state(model)


def _key(key: str | bytes | None) -> bytes | None:
    """The signing key: ``key``, else :data:`KEY_ENV`, else none."""
    if key is None:
        key = os.environ.get(KEY_ENV) or None
    if key is None:
        return None
    key = key.encode() if isinstance(key, str) else bytes(key)
    if not key:
        raise ValueError("an empty key cannot sign model files")
    return key


def _signature(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()


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
    model: Any,
    path: str | os.PathLike[str],
    *,
    metadata: Mapping[str, Any] | None = None,
    key: str | bytes | None = None,
) -> None:
    """Write a fitted detector or calibrator to ``path`` (JSON config +
    safetensors, no pickle).

    The file is written atomically: to a temporary file beside ``path``, renamed
    at the end, so an interrupted save never leaves a truncated model.

    Parameters
    ----------
    model : anomvae detector or ThresholdCalibrator around one
        Fitted.
    path : str or path-like
    metadata : mapping, optional
        JSON-serialisable values kept in the file and covered by its checksum,
        read back by :func:`load_with_metadata`: what the application around the
        model needs to remember (``anomvae fit`` stores its ``id_columns``).
    key : str or bytes, optional
        Secret that signs the file (HMAC-SHA256); default: the
        ``ANOMVAE_MODEL_KEY`` environment variable, if set. Unsigned otherwise.

    Returns
    -------
    None

    Raises
    ------
    TypeError
        For a model anomvae cannot save (not an anomvae detector).

    Examples
    --------
    >>> import numpy as np, os, tempfile, anomvae
    >>> det = anomvae.AutoencoderDetector(max_steps=5, random_state=0)
    >>> det = det.fit(np.random.default_rng(0).normal(size=(50, 3)))
    >>> path = os.path.join(tempfile.mkdtemp(), "model.anomvae")
    >>> anomvae.save(det, path)
    >>> np.array_equal(anomvae.load(path).anomaly_score([[0.0, 1.0, 2.0]]),
    ...                det.anomaly_score([[0.0, 1.0, 2.0]]))
    True
    """
    from safetensors.numpy import save as st_save

    from anomvae.io import atomic_output

    secret = _key(key)
    config, arrays = _state(model)
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
    digest = _digest(config_json, arrays)
    metadata = {
        "format": "anomvae",
        "format_version": str(FORMAT_VERSION),
        "config": config_json,
        "sha256": digest,
    }
    if secret is not None:
        metadata["hmac_sha256"] = _signature(secret, digest)
    payload = st_save(arrays, metadata=metadata)
    with atomic_output(path) as tmp:
        Path(tmp).write_bytes(payload)


def _read(
    path: str | os.PathLike[str], key: str | bytes | None = None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
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
    digest = _digest(metadata["config"], arrays)
    if digest != metadata.get("sha256"):
        raise ModelFileError(
            f"{p}: checksum mismatch: the file was modified after it was saved"
        )
    secret = _key(key)
    if secret is not None:
        signature = metadata.get("hmac_sha256")
        if signature is None:
            raise ModelFileError(
                f"{p}: the file is not signed, but a key was given ({KEY_ENV} or "
                "key=): refusing an unsigned model"
            )
        if not hmac.compare_digest(signature, _signature(secret, digest)):
            raise ModelFileError(
                f"{p}: signature mismatch: the file was modified after it was "
                "signed, or signed with another key"
            )
    try:
        config = json.loads(metadata["config"])
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{p}: invalid configuration: {exc}") from None
    if not isinstance(config, dict):
        raise ModelFileError(f"{p}: invalid configuration: not a JSON object")
    config["signed"] = "hmac_sha256" in metadata
    return config, arrays


def read_config(
    path: str | os.PathLike[str], *, key: str | bytes | None = None
) -> dict[str, Any]:
    """The verified JSON configuration of a model file, without building the model
    (``key``: as :func:`load`). Adds ``"signed"``: whether the file carries a
    signature."""
    config, _ = _read(path, key)
    return config


def _json_object(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """``metadata`` as a plain JSON object (a copy), or a clear TypeError."""
    value = dict(metadata or {})
    try:
        return dict(json.loads(json.dumps(value, allow_nan=False)))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"model metadata must be plain JSON: {exc}") from None


def load(path: str | os.PathLike[str], *, key: str | bytes | None = None) -> Any:
    """Load a model saved by :func:`save`.

    Never unpickles anything: the config's class name is looked up in
    :data:`CLASSES`, and the tensors are plain arrays.

    Parameters
    ----------
    path : str or path-like
    key : str or bytes, optional
        Secret the file must be signed with (default: the ``ANOMVAE_MODEL_KEY``
        environment variable, if set). Without a key, the checksum is still
        verified, and a signed file loads without its signature being checked.

    Returns
    -------
    detector or ThresholdCalibrator
        A calibrator when the file carries a calibration.

    Raises
    ------
    ModelFileError
        For a missing, corrupt, truncated, modified or too-new file, and with a
        key for an unsigned or wrongly signed one.
    """
    return load_with_metadata(path, key=key)[0]


def load_with_metadata(
    path: str | os.PathLike[str], *, key: str | bytes | None = None
) -> tuple[Any, dict[str, Any]]:
    """:func:`load`, and the ``metadata`` the file was saved with (``{}`` when
    none, as in files written before metadata existed), read in one pass."""
    config, arrays = _read(path, key)
    metadata = config.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: inconsistent model file: metadata is not a map")
    return _build(path, config, arrays), metadata


def _build(
    path: str | os.PathLike[str], config: dict[str, Any], arrays: dict[str, np.ndarray]
) -> Any:
    try:
        if "calibrator" in config:
            return calibrator_from_state(config, arrays)
        return detector_from_state(config, arrays)
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: inconsistent model file: {exc!r}") from None
