"""ONNX export of a fitted detector's scoring graph.

The exported graph takes raw feature rows and returns what
:meth:`~anomvae.detectors.BaseAutoencoderDetector.anomaly_score` returns, so a model
can score in any ONNX runtime (C++, Java, C#, JavaScript, ...) without Python or
torch::

    X  [N, n_features_in_]  raw rows, columns in ``feature_names_in_`` order
      -> (X - center) / scale                 the saved scaler
      -> anomaly_scores(network, ...)         the one scoring implementation
      -> score       [N]   higher = more anomalous
      -> is_anomaly  [N]   score > threshold  (optional)

The graph is traced from :class:`ScoringModule`, whose ``forward`` calls
:func:`anomvae.scoring.anomaly_scores` itself: there is no second implementation of
any score to drift out of step. The Monte Carlo scores (``"elbo"``, ``"iw_nll"``,
``"recon_prob"``) use the detector's fixed draws ``eps`` (see
:meth:`~anomvae.detectors.BaseAutoencoderDetector._draws`), which become a constant of
the graph, so the exported scores are as deterministic as the detector's.

Precision: the network was trained in float32, so a float32 graph carries its
weights exactly; only the arithmetic is float32 instead of the detector's float64.
On the bundled data sets the scores agree to a relative error of about 1e-6 (see
``tests/test_onnx.py``). ``dtype="float64"`` reproduces the detector to ~1e-15.

The graph uses only standard ONNX operators (default domain), no custom ops. It is
produced by torch's TorchScript-based exporter (``dynamo=False``): the
``torch.export``-based exporter needs the extra ``onnxscript`` package.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import Tensor, nn

from anomvae import decisions
from anomvae._version import __version__
from anomvae.calibration import ThresholdCalibrator
from anomvae.detectors import BaseAutoencoderDetector
from anomvae.models import AutoencoderNet
from anomvae.scoring import SCORES, LatentReference, anomaly_scores

__all__ = [
    "DTYPES",
    "OPSETS",
    "ConditionSplit",
    "ScoringModule",
    "export_onnx",
    "scoring_module",
]

#: Floating-point types the graph can compute in (its input and ``score`` dtype).
DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: Opsets the TorchScript-based exporter writes (and the tests cover).
OPSETS = range(11, 21)
#: Names of the graph's input and outputs.
INPUT_NAME, SCORE_NAME, FLAG_NAME = "X", "score", "is_anomaly"


class ConditionSplit(nn.Module):
    """Split raw rows into feature columns and standardised numeric condition
    columns, as :class:`~anomvae.detectors.ConditionalVAEDetector` does."""

    feature_index: Tensor
    condition_index: Tensor
    center: Tensor
    scale: Tensor

    def __init__(
        self,
        feature_index: np.ndarray,
        condition_index: np.ndarray,
        center: np.ndarray,
        scale: np.ndarray,
        dtype: torch.dtype,
    ) -> None:
        super().__init__()
        self.register_buffer("feature_index", torch.as_tensor(feature_index).long())
        self.register_buffer("condition_index", torch.as_tensor(condition_index).long())
        self.register_buffer("center", torch.as_tensor(center).to(dtype))
        self.register_buffer("scale", torch.as_tensor(scale).to(dtype))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Features ``(N, d)`` and conditions ``(N, n_conditions)`` of rows ``x``."""
        c = (x.index_select(1, self.condition_index) - self.center) / self.scale
        return x.index_select(1, self.feature_index), c


class ScoringModule(nn.Module):
    """Raw rows -> anomaly score (and flag): a fitted detector's scoring path as
    one self-contained :class:`torch.nn.Module`, ready for tracing.

    Built by :func:`scoring_module`; holds copies of the network and the scaler,
    so later changes to the detector do not leak into it.

    Parameters
    ----------
    network : AutoencoderNet
        The fitted network (copied, moved to the CPU and cast to ``dtype``).
    center, scale : ndarray of shape (n_features,)
        The saved scaler: rows are scaled as ``(x - center) / scale``.
    score_type : str
        One of :data:`anomvae.scoring.SCORES`.
    eps : Tensor of shape (K, latent_dim) or None
        The detector's fixed Monte Carlo draws (None for the non-sampled scores).
    reference : LatentReference or None
        The training codes and score scales of the latent scores ("hybrid",
        "latent_knn"); they become constants of the graph.
    threshold : float or None
        When given, ``forward`` also returns ``score > threshold`` (compared in
        float64).
    conditions : dict or None
        For a conditional VAE with numeric conditions: ``feature_index``,
        ``condition_index`` (input column positions) and the conditions'
        standardisation ``center`` and ``scale`` (see :class:`ConditionSplit`).
    dtype : torch.dtype, default=torch.float32
    """

    network: AutoencoderNet
    center: Tensor
    scale: Tensor
    eps: Tensor | None
    reference_codes: Tensor | None
    input_rows: Tensor | None
    support_columns: Tensor | None
    support_values: Tensor | None
    threshold: Tensor | None

    def __init__(
        self,
        network: AutoencoderNet,
        center: np.ndarray,
        scale: np.ndarray,
        score_type: str,
        eps: Tensor | None,
        threshold: float | None = None,
        *,
        reference: LatentReference | None = None,
        conditions: dict[str, np.ndarray] | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.network = copy.deepcopy(network).to(device="cpu", dtype=dtype)
        self.network.train(False)
        self.score_type = score_type

        def buffer(name: str, value: Any, kind: torch.dtype = dtype) -> None:
            tensor = None if value is None else torch.as_tensor(value).to(kind)
            self.register_buffer(name, tensor)

        buffer("center", center)
        buffer("scale", scale)
        buffer("eps", None if eps is None else eps.detach().cpu())
        buffer("threshold", threshold, torch.float64)
        buffer("reference_codes", None if reference is None else reference.codes)
        self.reference_scales = (
            None
            if reference is None
            else (
                reference.k,
                reference.recon_center,
                reference.recon_scale,
                reference.knn_center,
                reference.knn_scale,
                reference.latent_weight,
            )
        )
        rows = None if reference is None else reference.input_rows
        buffer("input_rows", rows)
        self.input_terms: dict[str, Any] | None = (
            None
            if reference is None
            else {
                "input_k": reference.input_k,
                "input_center": reference.input_center,
                "input_scale": reference.input_scale,
                "ensemble_latent_weight": reference.ensemble_latent_weight,
                "input_weight": reference.input_weight,
            }
        )
        cols = None if reference is None else reference.support_columns
        self.support_weight = 0.0 if reference is None else reference.support_weight
        buffer("support_columns", cols, torch.int64)
        buffer(
            "support_values", None if cols is None else self._support(reference, center)
        )
        self.conditions = (
            None if conditions is None else ConditionSplit(**conditions, dtype=dtype)
        )

    def _support(self, reference: Any, center: np.ndarray) -> Tensor:
        """The constant features' scaled values as this graph computes them: the
        raw value (``center + scaled``, exact since the two are ulps apart) scaled
        in the graph's dtype, so that it compares equal to a scaled input cell
        holding that value."""
        cols = reference.support_columns
        raw = torch.as_tensor(np.asarray(center, np.float64))[cols]
        raw = raw + reference.support_values.to(torch.float64)
        dtype = self.center.dtype
        return (raw.to(dtype) - self.center[cols]) / self.scale[cols]

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """Scores (and flags) of raw rows ``x`` of shape ``(N, n_features_in_)``."""
        c = None
        if self.conditions is not None:
            x, c = self.conditions(x)
        scaled = (x - self.center) / self.scale
        reference = None
        if self.reference_scales is not None:
            assert self.reference_codes is not None
            reference = LatentReference(
                self.reference_codes,
                *self.reference_scales,
                support_columns=self.support_columns,
                support_values=self.support_values,
                support_weight=self.support_weight,
                input_rows=self.input_rows,
                **(self.input_terms or {}),
            )
        score = anomaly_scores(
            self.network, scaled, c, self.score_type, self.eps, reference
        )
        if self.threshold is None:
            return score
        return score, decisions.is_anomaly(score.to(torch.float64), self.threshold)


def _unwrap(
    model: BaseAutoencoderDetector | ThresholdCalibrator,
) -> tuple[BaseAutoencoderDetector, float, str]:
    """The anomvae detector inside ``model``, its threshold and where that came from."""
    if isinstance(model, ThresholdCalibrator):
        check_is_fitted(model)
        det = model.detector_
    else:
        det = model
    if not isinstance(det, BaseAutoencoderDetector):
        raise TypeError(
            f"ONNX export needs an anomvae detector (or a ThresholdCalibrator around "
            f"one), got {type(det).__name__}"
        )
    check_is_fitted(det, "network_")
    if getattr(det, "schema_", None) is not None:
        raise NotImplementedError(
            "mixed-table models are not exported to ONNX: the graph would have to "
            "take text columns and blank cells, encode categories and model each "
            "column's likelihood, which standard ONNX operators on one numeric "
            "input tensor cannot express faithfully; score them with anomvae score, "
            "the Python API or the Dask engine"
        )
    threshold = decisions.flag_rule(model).threshold
    if isinstance(model, ThresholdCalibrator):
        source = f"ThresholdCalibrator(method={model.method!r}).threshold_"
    else:
        source = "the detector's contamination threshold, -offset_"
    return det, threshold, source


def _condition_layout(det: Any) -> dict[str, np.ndarray] | None:
    """Input column positions and standardisation of a conditional VAE's conditions,
    resolved as :class:`~anomvae.detectors.ConditionalVAEDetector` resolves them."""
    keys = getattr(det, "condition_columns", None)
    if not keys:
        return None
    enc = det.condition_encoder_
    categorical = [
        str(k) for k, kind in zip(keys, enc.kinds, strict=True) if kind != "numeric"
    ]
    if categorical:
        raise NotImplementedError(
            f"ONNX export supports numeric condition columns only; "
            f"{', '.join(map(repr, categorical))} is categorical (one-hot encoded from "
            f"text, which the graph cannot do). Encode it as numbers before fitting, "
            f"or export a detector without categorical conditions"
        )
    n = int(det.n_features_in_)
    names = getattr(det, "feature_names_in_", None)
    cols: list[Any] = list(range(n)) if names is None else [str(c) for c in names]
    picks: list[int] = []
    for key in keys:
        if key in cols:
            picks.append(cols.index(key))
        elif isinstance(key, int | np.integer) and -n <= key < n:
            picks.append(int(key) % n)
        else:
            raise ValueError(
                f"condition column {key!r} cannot be located among the detector's "
                f"{n} input columns"
            )
    return {
        "feature_index": np.array([i for i in range(n) if i not in picks], dtype=int),
        "condition_index": np.array(picks, dtype=int),
        "center": np.asarray(enc.centers, dtype=np.float64),
        "scale": np.asarray(enc.scales, dtype=np.float64),
    }


def _torch_dtype(dtype: str, det: Any = None, opset: int = 17) -> torch.dtype:
    if dtype == "auto":
        # float64 reproduces the detector to rounding; onnxruntime has no float64
        # kernels for Conv, nor for Clip before opset 12, so those get float32.
        conv = det is not None and det.network_spec_.architecture == "conv"
        return torch.float32 if conv or opset < 12 else torch.float64
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    return DTYPES[dtype]


def scoring_module(
    model: BaseAutoencoderDetector | ThresholdCalibrator,
    *,
    include_threshold: bool = True,
    dtype: str = "auto",
) -> ScoringModule:
    """The scoring path of a fitted detector as a standalone torch module.

    This is what :func:`export_onnx` traces; see there for the parameters. Its
    ``forward(x)`` returns ``score`` or ``(score, is_anomaly)``.
    """
    det, threshold, _ = _unwrap(model)
    if det.score_type not in SCORES:
        raise NotImplementedError(
            f"ONNX export does not support the score {det.score_type!r} yet "
            f"(supported: {', '.join(SCORES)})"
        )
    eps = det._draws()
    return ScoringModule(
        det.network_,
        det.scaler_.center,
        det.scaler_.scale,
        det.score_type,
        eps,
        threshold if include_threshold else None,
        reference=det.latent_reference_,
        conditions=_condition_layout(det),
        dtype=_torch_dtype(dtype, det),
    )


def _probe_rows(det: Any, n_rows: int = 16) -> tuple[np.ndarray, Any]:
    """Random rows in the detector's raw units (standard normal after its scaling),
    as an array for the graph and in the form the detector was fitted on."""
    rng = np.random.default_rng(0)
    n = int(det.n_features_in_)
    rows = np.empty((n_rows, n))
    layout = _condition_layout(det)
    features = np.arange(n) if layout is None else layout["feature_index"]
    z = rng.standard_normal((n_rows, features.size))
    rows[:, features] = det.scaler_.center + det.scaler_.scale * z
    if layout is not None:
        zc = rng.standard_normal((n_rows, layout["condition_index"].size))
        rows[:, layout["condition_index"]] = layout["center"] + layout["scale"] * zc
    names = getattr(det, "feature_names_in_", None)
    if names is None:
        return rows, rows
    import pandas as pd

    return rows, pd.DataFrame(rows, columns=list(names))


def _check_reproduces(det: Any, module: ScoringModule) -> None:
    """Refuse to export a graph whose scores are not the detector's.

    Guards against a change in the detector's scoring that this module does not
    know of; compares the float64 module with ``anomaly_score`` on probe rows.
    """
    rows, det_rows = _probe_rows(det)
    expected = det.anomaly_score(det_rows)
    with torch.no_grad():
        out = module(torch.from_numpy(rows).to(module.center.dtype))
    got = (out[0] if isinstance(out, tuple) else out).double().numpy()
    scale = float(np.median(np.abs(expected))) or 1.0
    if not np.allclose(got, expected, rtol=1e-4, atol=1e-4 * scale):
        worst = float(np.max(np.abs(got - expected)))
        raise RuntimeError(
            f"the exported graph would not reproduce {type(det).__name__}."
            f"anomaly_score (largest difference {worst:.3g} on probe rows); this is "
            f"a bug in anomvae.onnx, please report it"
        )


def export_onnx(
    model: BaseAutoencoderDetector | ThresholdCalibrator,
    path: str | os.PathLike[str],
    *,
    include_threshold: bool = True,
    opset: int = 17,
    dtype: str = "auto",
) -> Path:
    """Write a fitted detector's scoring graph (scaler, network, score and
    optionally the threshold) to an ONNX file.

    Parameters
    ----------
    model : fitted anomvae detector or ThresholdCalibrator
        A calibrator contributes its ``detector_`` and its ``threshold_``; a bare
        detector its contamination threshold ``-offset_``.
    path : str or path-like
        Output file; written atomically (a temporary file renamed at the end).
    include_threshold : bool, default=True
        Add the output ``is_anomaly`` (bool, ``score > threshold``), which equals
        ``model.predict(X) == -1`` up to rows whose score lies within rounding of
        the threshold.
    opset : int in [11, 20], default=17
        ONNX opset version of the graph.
    dtype : {"auto", "float32", "float64"}, default="auto"
        Type of the input ``X`` and of the arithmetic. float64 agrees with the
        detector's scores to float64 rounding; float32 loses precision (measured
        by ``benchmarks/onnx_errors.py``, ``benchmarks/results/onnx_errors.md``), more
        for scores near zero (reconstruction errors and the centred hybrid score are
        differences of nearly equal numbers). "auto" is float64, except float32
        for convolutional models and opsets below 12 (onnxruntime has no float64
        Conv kernel, nor a float64 Clip before opset 12).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        When the model is not fitted.
    TypeError
        When the model is not an anomvae detector (or a calibrator around one).
    NotImplementedError
        For a conditional VAE with categorical condition columns.
    ValueError
        For ``include_threshold`` with a calibrator using ``fdr`` (a
        Benjamini–Hochberg decision depends on the whole batch, not on a
        per-row threshold), an unknown ``dtype`` or an unsupported ``opset``.
    RuntimeError
        When the graph would not reproduce ``anomaly_score`` on random probe
        rows (checked before anything is written; a bug guard).

    Notes
    -----
    The graph has one input, ``X`` of shape ``(N, n_features_in_)`` with a dynamic
    ``N``, holding the same columns in the same order as the data the detector was
    fitted on (condition columns included for a conditional VAE). Outputs:
    ``score`` of shape ``(N,)`` (same as ``anomaly_score``; higher = more
    anomalous) and, with ``include_threshold``, ``is_anomaly`` of shape ``(N,)``.
    The model's metadata (``metadata_props``) records the estimator, score type,
    threshold, feature names and the anomvae version.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, onnxruntime as ort
    >>> from anomvae import AutoencoderDetector
    >>> X = np.random.default_rng(0).normal(size=(500, 4))
    >>> det = AutoencoderDetector(max_steps=50, random_state=0).fit(X)
    >>> path = export_onnx(det, os.path.join(tempfile.mkdtemp(), "ae.onnx"))
    >>> score, flag = ort.InferenceSession(str(path)).run(None, {"X": X})
    >>> bool(np.allclose(score, det.anomaly_score(X)))
    True
    >>> bool(np.array_equal(flag, det.predict(X) == -1))
    True
    """
    import onnx

    from anomvae.io import atomic_output

    if not isinstance(include_threshold, bool):
        raise TypeError("include_threshold must be True or False")
    if opset not in OPSETS:
        raise ValueError(
            f"opset must be between {OPSETS[0]} and {OPSETS[-1]} (what torch's "
            f"TorchScript-based ONNX exporter writes), got {opset!r}"
        )
    if include_threshold and getattr(model, "fdr", None) is not None:
        raise ValueError(
            "this ThresholdCalibrator flags rows by Benjamini-Hochberg over each "
            "batch (fdr is set), which no per-row threshold reproduces; export with "
            "include_threshold=False and apply the selection to the scores"
        )
    det, threshold, source = _unwrap(model)
    _check_reproduces(
        det, scoring_module(det, include_threshold=False, dtype="float64")
    )
    resolved = _torch_dtype(dtype, det, opset)
    dtype = next(name for name, value in DTYPES.items() if value == resolved)
    module = scoring_module(model, include_threshold=include_threshold, dtype=dtype)
    example = torch.zeros(2, int(det.n_features_in_), dtype=resolved)
    outputs = [SCORE_NAME, FLAG_NAME] if include_threshold else [SCORE_NAME]
    with tempfile.TemporaryDirectory() as tmpdir, warnings.catch_warnings():
        # The tracer warns where a shape becomes a Python number (the number of
        # Monte Carlo draws K, the condition width): those are constants of the
        # fitted model, so the trace is valid for every batch size. The legacy
        # exporter also announces its own deprecation.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            (example,),
            Path(tmpdir) / "graph.onnx",
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=outputs,
            dynamic_axes={name: {0: "N"} for name in [INPUT_NAME, *outputs]},
            opset_version=opset,
            do_constant_folding=True,
        )
        proto = onnx.load(Path(tmpdir) / "graph.onnx")
    names = getattr(det, "feature_names_in_", None)
    props = {
        "producer": f"anomvae {__version__}",
        "estimator": type(det).__name__,
        "wrapper": type(model).__name__,
        "score_type": det.score_type,
        "n_features_in": str(int(det.n_features_in_)),
        "feature_names": json.dumps(None if names is None else [str(n) for n in names]),
        "dtype": dtype,
        "score": "anomaly score, higher = more anomalous (anomaly_score)",
    }
    if include_threshold:
        props["threshold"] = repr(threshold)
        props["threshold_source"] = source
    onnx.helper.set_model_props(proto, props)
    proto.doc_string = (
        f"anomvae {type(det).__name__} scoring graph ({det.score_type} score)"
    )
    onnx.checker.check_model(proto)
    with atomic_output(path) as tmp:
        Path(tmp).write_bytes(proto.SerializeToString())
    return Path(path)
