"""Score a block of rows with a loaded model: the output columns of ``anomvae score``.

One function, :func:`score_batch`, turns a fitted model (a detector or a
:class:`~anomvae.ThresholdCalibrator`) and a block of rows into the columns that
``anomvae score`` writes for them. The command line's local engine calls it once per
streamed batch, and a distributed engine calls it once per partition, so every
engine writes the same columns with the same values. It knows nothing about files,
options or terminals.

========================  ====================================================
column                    meaning
========================  ====================================================
``score``                 anomaly score, higher = more anomalous
                          (the detector's :meth:`anomaly_score`)
``p_value``               conformal p-value against the calibration scores; only
                          for a calibrated model whose method has held-out
                          calibration rows (not ``"contamination"``)
``is_anomaly``            the model's flag rule (:func:`anomvae.decisions.flag_rule`):
                          ``score > threshold``, or for a calibrator with
                          ``fdr`` the Benjamini-Hochberg selection of the rows
                          given (streaming engines apply it to the whole input)
``top<i>_feature``        with ``explain=k``, for ``i = 1..k``: the feature with
``top<i>_share``          the i-th largest share of the row's reconstruction
``top<i>_reason``         error, that share (the shares of a row sum to 1) and
                          why, in the data's own units (``bytes=5.1e9 (expected
                          about 3.2e4)``, ``proto='icmp' (p=0.0004 given the
                          rest of the row)``; the detector's ``explain``)
``unseen_features``       with ``explain=k``, for a mixed-table model, or one scored
                          by ``"hybrid"`` or ``"ensemble"`` that saw constant
                          features in training:
                          the features (``;``-separated, empty when none) whose
                          value the training rows never had (an unseen level, a
                          blank where training had none)
========================  ====================================================

Only public methods and fitted attributes of the model are used:
``anomaly_score``, ``feature_contributions``, ``feature_names_in_``,
``out_of_support_cells``, ``n_features_in_``, ``condition_columns``, ``offset_``,
``score_type`` and ``latent_reference_`` and, for a calibrator,
``detector_``, ``threshold_``, ``method`` and ``calibration_scores_`` (with
:func:`anomvae.calibration.conformal_p_values`). Each row is scored once: the
p-values reuse the scores instead of calling ``p_values`` (which would score again).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from anomvae.decisions import FlagRule, flag_rule
from anomvae.exceptions import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "IS_ANOMALY",
    "P_VALUE",
    "SCORE",
    "UNSEEN",
    "ModelInfo",
    "model_info",
    "model_input",
    "output_schema",
    "score_batch",
    "set_flags",
]

SCORE = "score"
P_VALUE = "p_value"
IS_ANOMALY = "is_anomaly"
UNSEEN = "unseen_features"


@dataclass(frozen=True)
class ModelInfo:
    """What a scoring engine needs to know about a loaded model.

    Attributes
    ----------
    estimator : str
        Class name of the detector (``"VAEDetector"``...).
    calibrated : bool
        Whether the model is a :class:`~anomvae.ThresholdCalibrator`.
    method : str or None
        The calibration method, ``None`` for a bare detector.
    rule : FlagRule
        How rows are flagged (:func:`anomvae.decisions.flag_rule`): above the
        calibrator's ``threshold_`` or a bare detector's ``-offset_``, or by
        Benjamini-Hochberg for a calibrator with ``fdr``.
    input_columns : tuple of str
        Every column the model reads, in training order (``feature_names_in_``);
        empty when the model was fitted on an array without column names.
    feature_columns : tuple of str
        The columns read as numbers (``float64``): every feature of a numeric
        model, the numeric columns of a mixed-table model.
    text_columns : tuple of str
        The columns of a mixed-table model read as text (categories and flags:
        ``"007"`` stays ``"007"``); none for a numeric model.
    blank_ok : bool
        Whether a blank cell is data (a mixed-table model) rather than an
        invalid cell.
    flag_columns : tuple of str
        The true/false columns among ``text_columns``.
    condition_columns : tuple of str
        Context columns of a conditional VAE, read as values, not as features.
    n_features : int
        Number of scored features (the width of ``feature_contributions``).
    p_values : bool
        Whether :func:`score_batch` writes a ``p_value`` column.
    unseen : bool
        Whether its explanations include ``unseen_features``: the model scores
        with ``"hybrid"`` or ``"ensemble"`` (the scores with an out-of-support
        term) and features were constant in training.
    """

    estimator: str
    calibrated: bool
    method: str | None
    rule: FlagRule
    input_columns: tuple[str, ...]
    feature_columns: tuple[str, ...]
    condition_columns: tuple[str, ...]
    n_features: int
    p_values: bool
    unseen: bool = False
    text_columns: tuple[str, ...] = ()
    blank_ok: bool = False
    flag_columns: tuple[str, ...] = ()

    @property
    def threshold(self) -> float:
        """The anomaly-score threshold of the model's flag rule."""
        return self.rule.threshold

    @property
    def other_columns(self) -> tuple[str, ...]:
        """The columns read as they are, beside the numbers: conditions and a
        mixed-table model's text columns (``others`` of :func:`score_batch`)."""
        return tuple(dict.fromkeys([*self.condition_columns, *self.text_columns]))

    @property
    def blank_columns(self) -> tuple[str, ...]:
        """The numeric columns where a blank cell is data (``blank_ok`` of
        :func:`anomvae.io.read_batches`)."""
        return self.feature_columns if self.blank_ok else ()


def _is_calibrator(model: Any) -> bool:
    return hasattr(model, "detector_") and hasattr(model, "threshold_")


def _detector(model: Any) -> Any:
    return model.detector_ if _is_calibrator(model) else model


def model_info(model: Any) -> ModelInfo:
    """Describe a fitted detector or calibrator for scoring (see :class:`ModelInfo`)."""
    detector = _detector(model)
    names = tuple(str(c) for c in getattr(detector, "feature_names_in_", ()))
    conditions: list[str] = []
    for key in getattr(detector, "condition_columns", None) or ():
        if isinstance(key, str):
            conditions.append(key)
        elif names and -len(names) <= int(key) < len(names):
            conditions.append(names[int(key)])
    calibrated = _is_calibrator(model)
    method = str(model.method) if calibrated else None
    features = tuple(c for c in names if c not in conditions)
    schema = getattr(detector, "schema_", None)
    text: tuple[str, ...] = ()
    if schema is not None:
        text = tuple(c.name for c in schema.columns if c.kind != "numeric")
        features = tuple(c for c in features if c not in text)
    return ModelInfo(
        estimator=type(detector).__name__,
        calibrated=calibrated,
        method=method,
        rule=flag_rule(model),
        input_columns=names,
        feature_columns=features,
        condition_columns=tuple(conditions),
        n_features=int(detector.n_features_in_) - len(conditions),
        p_values=calibrated and method != "contamination",
        unseen=schema is not None or _has_support_term(detector),
        text_columns=text,
        blank_ok=schema is not None,
        flag_columns=tuple(
            c.name for c in (schema.columns if schema else ()) if c.kind == "binary"
        ),
    )


def _has_support_term(detector: Any) -> bool:
    """Whether the detector scores with ``"hybrid"`` or ``"ensemble"`` and their
    out-of-support term has features to watch."""
    ref = getattr(detector, "latent_reference_", None)
    cols = getattr(ref, "support_columns", None)
    weight = getattr(ref, "support_weight", 0.0)
    supported = getattr(detector, "score_type", None) in ("hybrid", "ensemble")
    return bool(supported and cols is not None and len(cols) and weight)


def _explain_fields(k: int) -> list[pa.Field]:
    fields = []
    for i in range(1, k + 1):
        fields += [
            pa.field(f"top{i}_feature", pa.string()),
            pa.field(f"top{i}_share", pa.float64()),
            pa.field(f"top{i}_reason", pa.string()),
        ]
    return fields


def output_schema(model: Any, *, explain: int = 0) -> pa.Schema:
    """Schema of :func:`score_batch`'s output for this model (e.g. for an empty
    input, or a distributed engine's metadata)."""
    info = model_info(model)
    fields = [pa.field(SCORE, pa.float64())]
    if info.p_values:
        fields.append(pa.field(P_VALUE, pa.float64()))
    fields.append(pa.field(IS_ANOMALY, pa.bool_()))
    fields += _explain_fields(min(explain, info.n_features))
    if explain > 0 and info.unseen:
        fields.append(pa.field(UNSEEN, pa.string()))
    return pa.schema(fields)


def model_input(
    info: ModelInfo, features: Any, others: Any
) -> np.ndarray | pd.DataFrame:
    """The rows as the detector wants them: a DataFrame named as in training.

    ``features`` is an array of ``info.feature_columns`` (plus ``others``: the
    condition columns of a conditional VAE, the text columns of a mixed-table
    model) or a DataFrame matched by name. Models fitted without column names get
    a plain array.
    """
    import pandas as pd

    if isinstance(features, pd.DataFrame):
        if not info.input_columns:
            return features.to_numpy(dtype=np.float64)
        missing = [c for c in info.input_columns if c not in features.columns]
        if missing:
            raise DataError(
                f"missing column(s) {', '.join(map(repr, missing))}; the model "
                f"needs {', '.join(map(repr, info.input_columns))}"
            )
        return features[list(info.input_columns)]
    values = np.asarray(features, dtype=np.float64)
    width = len(info.feature_columns) if info.input_columns else info.n_features
    if values.ndim != 2 or values.shape[1] != width:
        raise ValueError(
            f"features must have shape (n_rows, {width}), got {values.shape}"
        )
    if not info.input_columns:
        return values
    frame = pd.DataFrame(values, columns=list(info.feature_columns), copy=False)
    wanted = [*info.condition_columns, *info.text_columns]
    if not wanted:
        return frame
    if others is None:
        raise ValueError(
            f"the model also reads {', '.join(wanted)}: pass them as others="
        )
    if isinstance(others, pa.Table):
        others = others.select(wanted).to_pandas()
    others = others.reset_index(drop=True)
    for name in wanted:
        frame[name] = others[name].to_numpy()
    return frame[list(info.input_columns)]


def score_batch(
    model: Any,
    features: np.ndarray | pd.DataFrame,
    *,
    others: pd.DataFrame | pa.Table | None = None,
    threshold: float | None = None,
    explain: int = 0,
) -> pa.Table:
    """Score rows and return the output columns of ``anomvae score``.

    Parameters
    ----------
    model : detector or ThresholdCalibrator
        A fitted anomvae model, e.g. from :func:`anomvae.load`.
    features : ndarray of shape (n_rows, n_features) or DataFrame
        An array holds ``ModelInfo.feature_columns`` in that order (as
        :func:`anomvae.io.read_batches` delivers them); a DataFrame is matched by
        column name (extra columns ignored) and holds every column the model
        reads.
    others : DataFrame or pyarrow.Table, optional
        When ``features`` is an array: the model's other columns for the same
        rows (the conditions of a conditional VAE, the categories and flags of a
        mixed-table model, read as text).
    threshold : float, optional
        Overrides the model's flag rule: ``is_anomaly`` is ``score > threshold``.
    explain : int, default=0
        Number of top contributing features to add per row (capped at the number
        of features).

    Returns
    -------
    pyarrow.Table
        ``n_rows`` rows with the columns of :func:`output_schema`.

    Raises
    ------
    DataError
        When columns are missing or the rows cannot be scored (for example
        non-finite values or unseen types).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from anomvae import AutoencoderDetector
    >>> X = pd.DataFrame(np.random.default_rng(0).normal(size=(200, 3)),
    ...                  columns=["a", "b", "c"])
    >>> det = AutoencoderDetector(max_epochs=3, random_state=0).fit(X)
    >>> out = score_batch(det, np.array([[0.0, 0.0, 0.0], [9.0, -9.0, 9.0]]),
    ...                   explain=1)
    >>> out.column_names
    ['score', 'is_anomaly', 'top1_feature', 'top1_share', 'top1_reason']
    >>> out["is_anomaly"].to_pylist()
    [False, True]
    >>> out["top1_reason"][1].as_py().startswith("c=9 (expected about")
    True
    """
    info = model_info(model)
    detector = _detector(model)
    X = model_input(info, features, others)
    try:
        with warnings.catch_warnings():
            # Arrays are only passed for models fitted without column names.
            warnings.filterwarnings("ignore", message="X does not have valid feature")
            scores = np.asarray(detector.anomaly_score(X), dtype=np.float64)
            why = detector.explain(X, top=explain) if explain > 0 else None
            unseen = (
                detector.out_of_support_cells(X)
                if explain > 0 and info.unseen
                else None
            )
    except DataError:
        raise
    except (ValueError, TypeError) as exc:
        raise DataError(f"cannot score these rows: {exc}") from None
    rule = flag_rule(model, threshold)
    columns: dict[str, Any] = {SCORE: scores}
    if info.p_values:
        from anomvae.thresholds import conformal_p_values

        columns[P_VALUE] = conformal_p_values(model.calibration_scores_, scores)
    columns[IS_ANOMALY] = rule.flags(scores, columns.get(P_VALUE))
    if why is not None:
        columns.update({name: why[name].to_numpy() for name in why.columns})
    if unseen is not None:
        columns[UNSEEN] = _unseen_names(
            unseen, detector._feature_names(unseen.shape[1])
        )
    return pa.table(columns, schema=output_schema(model, explain=explain))


def _unseen_names(cells: np.ndarray, names: list[str]) -> list[str]:
    """Per row, the ``;``-joined names of its out-of-support features."""
    out = [""] * len(cells)
    for row in np.flatnonzero(cells.any(axis=1)):  # usually few rows
        out[row] = ";".join(names[j] for j in np.flatnonzero(cells[row]))
    return out


def set_flags(table: pa.Table, flags: np.ndarray) -> pa.Table:
    """``table`` with its ``is_anomaly`` column replaced by ``flags`` (the flags of
    a batch rule, known once the whole input is scored)."""
    i = table.schema.get_field_index(IS_ANOMALY)
    return table.set_column(i, table.schema.field(i), pa.array(flags, pa.bool_()))
