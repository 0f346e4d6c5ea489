"""``anomvae calibrate``: re-fit only the threshold on fresh normal data."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from anomvae.cli.common import (
    EXIT_CODES_HELP,
    Reporter,
    Timer,
    check_model_output,
    errors_to_exit,
    exit_on_sigterm,
)
from anomvae.cli.options import (
    CalibrationSpec,
    Data,
    KeyFile,
    Quiet,
    Sep,
    TrainingLabelColumn,
    Verbose,
    calibration_callback,
    parse_calibration,
)

__all__ = ["calibrate", "register"]


def calibrate(
    data: Data,
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m", metavar="MODEL", help="Model file to recalibrate."
        ),
    ],
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="NEW_MODEL",
            help="Write the recalibrated model here instead of replacing MODEL.",
        ),
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            metavar="SPEC",
            help="fpr:RATE, conformal[:ALPHA], evt:RISK or contamination:FRACTION. "
            "Default: the model's own method (fpr:0.01 for an uncalibrated model).",
            callback=calibration_callback,
        ),
    ] = None,
    label_column: TrainingLabelColumn = None,
    sep: Sep = None,
    key_file: KeyFile = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Re-fit the threshold of MODEL on fresh normal rows of DATA.

    The network is not retrained: only the threshold (and the p-value
    reference) follow the new data, for example after drift. Every row of DATA
    is a calibration row, so it should be recent data believed normal that the
    model did not train on. MODEL is replaced atomically (or -o writes a new
    file).

    \b
    Examples:
      anomvae calibrate last_week.csv -m model.anomvae
      anomvae calibrate last_week.csv -m model.anomvae -o new.anomvae \\
          --method fpr:0.001
    """
    reporter = Reporter("calibrate", quiet=quiet, verbose=verbose)
    target = output or model
    check_model_output(target)
    spec: CalibrationSpec | None = method  # type: ignore[assignment]
    with errors_to_exit(reporter), exit_on_sigterm():
        _calibrate(data, model, target, spec, label_column, sep, key_file, reporter)


def _calibrate(
    data: str,
    model_path: str,
    target: str,
    spec: CalibrationSpec | None,
    label: str | None,
    sep: str | None,
    key: bytes | None,
    reporter: Reporter,
) -> None:
    from sklearn.frozen import FrozenEstimator

    from anomvae.batch import model_info
    from anomvae.calibration import ThresholdCalibrator
    from anomvae.cli.data import read_model_rows
    from anomvae.io import check_writable
    from anomvae.persistence import load_with_metadata, save

    timer = Timer()
    model, metadata = load_with_metadata(model_path, key=key)
    check_writable(target)
    before = model_info(model)
    X, anomalies, source = read_model_rows(data, model, sep=sep, label=label)
    if anomalies is not None:
        X = X[~anomalies]
    if isinstance(model, ThresholdCalibrator):
        if spec is not None:
            model.set_params(method=spec.method, **spec.params)
        model.recalibrate(X)
        calibrator: Any = model
    else:
        spec = spec or parse_calibration("fpr:0.01")
        calibrator = ThresholdCalibrator(
            FrozenEstimator(model), method=spec.method, **spec.params
        ).fit(X)
    save(calibrator, target, metadata=metadata, key=key)  # keeps fit's metadata
    after = model_info(calibrator)
    params = {
        k: calibrator.get_params()[k] for k in ("target_fpr", "risk", "contamination")
    }
    what = {
        "fpr": f"target_fpr={params['target_fpr']:g}",
        "conformal": f"target_fpr={params['target_fpr']:g}",
        "evt": f"risk={params['risk']:g}",
        "contamination": f"contamination={params['contamination']:g}",
    }.get(after.method or "", "")
    reporter.info(
        f"recalibrated on {len(X):,} rows of {source} ({after.method} {what}): "
        f"threshold {before.threshold:.6g} -> {after.threshold:.6g}; "
        f"wrote {target} ({timer.seconds:.1f} s)",
        "calibrate.done",
        rows=len(X),
        method=after.method,
        threshold_before=before.threshold,
        threshold=after.threshold,
        model=target,
        seconds=round(timer.seconds, 3),
    )


def register(app: typer.Typer) -> None:
    app.command("calibrate", epilog=EXIT_CODES_HELP)(calibrate)
