"""``anomvae export``: write a model's scoring graph to an ONNX file."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from anomvae.cli.common import (
    EXIT_CODES_HELP,
    EXIT_ERROR,
    Reporter,
    errors_to_exit,
    usage_error,
)
from anomvae.cli.options import KeyFile, Quiet, Verbose

__all__ = ["export", "register"]


class Dtype(str, Enum):
    auto = "auto"
    float32 = "float32"
    float64 = "float64"


def export(
    model: Annotated[
        str, typer.Argument(metavar="MODEL", help="Model file written by fit.")
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", metavar="OUT", help="ONNX file to write (not '-')."
        ),
    ],
    no_threshold: Annotated[
        bool,
        typer.Option(
            "--no-threshold",
            help="Leave out the is_anomaly output (score only).",
        ),
    ] = False,
    dtype: Annotated[
        Dtype,
        typer.Option(
            "--dtype",
            help="Type of the input and arithmetic: auto is float64, except "
            "float32 for convolutional models and opsets below 12.",
        ),
    ] = Dtype.auto,
    opset: Annotated[
        int,
        typer.Option("--opset", metavar="N", help="ONNX opset version (11-20)."),
    ] = 17,
    key_file: KeyFile = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Export MODEL's scoring graph (scaler, network, score, threshold) to ONNX.

    The graph takes X (rows x features, in training column order) and returns
    score (higher = more anomalous) and, unless --no-threshold, is_anomaly.

    \b
    Examples:
      anomvae export model.anomvae -o model.onnx
      anomvae export model.anomvae -o model.onnx --dtype float32 --no-threshold
    """
    reporter = Reporter("export", quiet=quiet, verbose=verbose)
    if output == "-":
        usage_error("an ONNX model is binary: give a file path, not '-'", "'--output'")
    with errors_to_exit(reporter):
        from anomvae.decisions import flag_rule
        from anomvae.onnx import export_onnx
        from anomvae.persistence import load

        fitted = load(model, key=key_file)
        try:
            path = export_onnx(
                fitted,
                output,
                include_threshold=not no_threshold,
                opset=opset,
                dtype=dtype.value,
            )
        except (NotImplementedError, TypeError) as exc:
            reporter.error(f"cannot export {model}: {exc}")
            raise typer.Exit(EXIT_ERROR) from None
        except ValueError as exc:  # AnomvaeErrors are ValueErrors too
            reporter.error(str(exc))
            raise typer.Exit(EXIT_ERROR) from None
        threshold = flag_rule(fitted).threshold
        reporter.info(
            f"wrote {path}"
            + ("" if no_threshold else f" (is_anomaly: score > {threshold:.6g})"),
            "export.done",
            output=str(path),
            threshold=None if no_threshold else threshold,
            opset=opset,
            dtype=dtype.value,
        )


def register(app: typer.Typer) -> None:
    app.command("export", epilog=EXIT_CODES_HELP)(export)
