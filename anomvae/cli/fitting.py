"""What ``anomvae fit`` does once its options are parsed: check the
hyperparameters against the library, read and select the training data, train,
save atomically, and print the summary."""

from __future__ import annotations

import math
import re
import sys
from typing import Any

from anomvae.cli.common import ID_COLUMNS_KEY, Reporter, Timer, usage_error
from anomvae.cli.options import CalibrationSpec

__all__ = ["train_and_save"]

_CLASSES = {
    "ae": "AutoencoderDetector",
    "dae": "DenoisingAutoencoderDetector",
    "vae": "VAEDetector",
    "cvae": "ConditionalVAEDetector",
}


def _flag(param: str) -> str:
    return {
        "hidden_layer_sizes": "'--hidden'",
        "max_epochs": "'--epochs'",
        "condition_columns": "'--condition'",
        "n_jobs": "'--threads'",
    }.get(param, "'--" + param.replace("_", "-") + "'")


def train_and_save(
    data: str,
    output: str,
    kind: str,
    params: dict[str, Any],
    spec: CalibrationSpec | None,
    calibration_size: float,
    *,
    columns: list[str],
    exclude: list[str],
    categorical: list[str],
    ids: list[str],
    label: str | None,
    conditions: list[str],
    sep: str | None,
    key: bytes | None,
    reporter: Reporter,
) -> None:
    """Build the estimator (usage errors first), read, train, save, report."""
    import numpy as np

    import anomvae
    from anomvae.cli.data import (
        LABEL_LIKE,
        anomaly_mask,
        choose_features,
        feature_frame,
        read_table,
        to_label_values,
    )
    from anomvae.io import check_writable

    timer = Timer()
    estimator = _build(kind, params, spec, calibration_size, reporter, conditions)
    check_writable(output)  # before spending minutes on training
    table = read_table(data, sep=sep)
    reserved = [*ids, *([label] if label else []), *conditions]
    choice = choose_features(
        table,
        columns=columns,
        exclude=exclude,
        reserved=reserved,
        categorical=categorical,
    )
    features = feature_frame(table, choice)
    reporter.log(
        "fit.read",
        input=table.source,
        rows=len(features),
        features=len(choice.features),
        categorical=",".join(choice.categorical),
        flags=",".join(choice.flags),
        seconds=round(timer.seconds, 3),
    )
    for name in choice.features:
        if name.strip().lower() in LABEL_LIKE:
            reporter.warning(
                f"column {name!r} looks like a label and is used as a feature; "
                f"pass --label-column {name} (or --exclude {name}) if it is one",
                "fit.label_like",
                column=name,
            )
    keep = np.ones(len(features), dtype=bool)
    if label:
        rows = np.arange(1, len(features) + 1)
        values = to_label_values(
            table.table[label], rows, source=table.source, name=label
        )
        keep = ~anomaly_mask(values, source=table.source, name=label)
    frame = _training_frame(features, table, conditions, keep)
    if choice.categorical and isinstance(estimator, anomvae.ThresholdCalibrator):
        estimator.detector.set_params(categorical_features=choice.categorical)
    elif choice.categorical:
        estimator.set_params(categorical_features=choice.categorical)
    estimator.fit(frame)
    anomvae.save(estimator, output, metadata={ID_COLUMNS_KEY: ids}, key=key)
    _report(estimator, output, choice, int((~keep).sum()), spec, reporter, timer)


def _training_frame(features: Any, table: Any, conditions: list[str], keep: Any) -> Any:
    """The training rows (labelled anomalies left out), with the conditions."""
    frame = features[keep].reset_index(drop=True)
    if conditions:
        values = table.table.select(conditions).to_pandas()
        for name in conditions:
            frame[name] = values[name].to_numpy()[keep]
    return frame


def _build(
    kind: str,
    params: dict[str, Any],
    spec: CalibrationSpec | None,
    calibration_size: float,
    reporter: Reporter,
    conditions: list[str],
) -> Any:
    from sklearn.utils._param_validation import InvalidParameterError

    import anomvae

    cls = getattr(anomvae, _CLASSES[kind])
    accepted = cls().get_params()
    for name in params:
        if name not in accepted:
            usage_error(f"does not apply to --model {kind}", _flag(name))
    if conditions:
        params = {**params, "condition_columns": tuple(conditions)}
    if not reporter.quiet and not reporter.verbose and sys.stderr.isatty():
        params["verbose"] = 1  # the training loop's progress bar
    detector = cls(**params)
    try:  # the library's own checks: choices and ranges, before any data is read
        detector._validate_params()
    except InvalidParameterError as exc:
        found = re.search(r"The '(\w+)' parameter", str(exc))
        usage_error(str(exc), _flag(found[1]) if found else None)
    if spec is None:
        return detector
    return anomvae.ThresholdCalibrator(
        detector,
        method=spec.method,
        calibration_size=calibration_size,
        random_state=params.get("random_state"),
        **spec.params,
    )


def _report(
    estimator: Any,
    output: str,
    choice: Any,
    dropped: int,
    spec: CalibrationSpec | None,
    reporter: Reporter,
    timer: Timer,
) -> None:
    from anomvae.decisions import flag_rule

    det = estimator.detector_ if spec is not None else estimator
    val = det.history_.get("val_loss", [])
    best = det.best_epoch_
    val_loss = val[best - 1] if 0 < best <= len(val) else math.nan
    threshold = flag_rule(estimator).threshold
    if spec is not None:
        how = f"{spec.describe()}, on {estimator.n_calibration_:,} held-out rows"
    else:
        how = "uncalibrated: 1% of training rows above it; see --calibrate"
    lines = [
        f"trained {type(det).__name__} on {det.n_train_samples_:,} rows x "
        f"{len(choice.features)} features in {timer.seconds:.1f} s",
        f"  epochs:      {det.n_iter_} (best {best}), validation loss "
        + ("n/a (no validation rows)" if math.isnan(val_loss) else f"{val_loss:.6g}"),
        f"  threshold:   {threshold:.6g} ({how})",
        f"  model:       {output}",
    ]
    if dropped:
        lines.insert(1, f"  left out:    {dropped:,} rows labelled anomalous")
    if choice.mixed:
        kinds = [f"{len(choice.numeric)} numeric"]
        if choice.categorical:
            kinds.append(
                f"{len(choice.categorical)} categorical ({_names(choice.categorical)})"
            )
        if choice.flags:
            kinds.append(f"{len(choice.flags)} true/false ({_names(choice.flags)})")
        blanks = "" if not choice.blank else f"; blank cells in {_names(choice.blank)}"
        lines.insert(1, f"  columns:     {', '.join(kinds)}{blanks}")
    reporter.info(
        "\n".join(lines),
        "fit.done",
        estimator=type(det).__name__,
        rows=det.n_train_samples_,
        features=len(choice.features),
        epochs=det.n_iter_,
        best_epoch=best,
        val_loss=val_loss,
        threshold=threshold,
        method=spec.method if spec else "detector",
        model=output,
        seconds=round(timer.seconds, 3),
    )


def _names(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
