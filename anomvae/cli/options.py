"""Option types, parsers and the options several commands share.

Parameter callbacks raise ``typer.BadParameter``, so a bad value is a usage
error (exit 2) reported in typer's usual format, before any data is read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any

import typer

__all__ = [
    "CalibrationSpec",
    "Data",
    "KeyFile",
    "ModelFile",
    "ModelKind",
    "OnInvalid",
    "PrecisionKind",
    "Quiet",
    "ScalerKind",
    "Sep",
    "Verbose",
    "calibration_callback",
    "check_finite",
    "check_sep",
    "hidden_callback",
    "id_column_option",
    "open_interval",
    "parse_calibration",
]


class ModelKind(str, Enum):
    ae = "ae"
    dae = "dae"
    vae = "vae"
    cvae = "cvae"


class OnInvalid(str, Enum):
    error = "error"
    skip = "skip"


class PrecisionKind(str, Enum):
    auto = "auto"
    float32 = "float32"
    bfloat16 = "bfloat16"


class ScalerKind(str, Enum):
    auto = "auto"
    standard = "standard"
    robust = "robust"
    minmax = "minmax"
    none = "none"


@dataclass(frozen=True)
class CalibrationSpec:
    """A parsed ``--calibrate`` value: the calibrator's method and its target."""

    method: str
    params: dict[str, float]

    def describe(self) -> str:
        return self.method + "".join(f" {k}={v:g}" for k, v in self.params.items())


# method -> (parameter of ThresholdCalibrator, default)
_CALIBRATION_METHODS = {
    "fpr": ("target_fpr", 0.01),
    "conformal": ("target_fpr", 0.01),
    "evt": ("risk", 1e-4),
    "contamination": ("contamination", 0.05),
}


def parse_calibration(text: str) -> CalibrationSpec:
    """Parse ``fpr:0.01``, ``conformal[:alpha]``, ``evt:1e-4``, ``contamination:0.05``.

    Raises ``typer.BadParameter`` (exit 2) for anything else.
    """
    method, _, value = text.strip().partition(":")
    method = method.lower()
    if method not in _CALIBRATION_METHODS:
        raise typer.BadParameter(
            f"{text!r}: use fpr:RATE, conformal[:ALPHA], evt:RISK or "
            "contamination:FRACTION (e.g. fpr:0.01)"
        )
    name, default = _CALIBRATION_METHODS[method]
    try:
        target = float(value) if value else default
    except ValueError:
        raise typer.BadParameter(f"{text!r}: {value!r} is not a number") from None
    upper = 0.5 if method == "contamination" else 1.0
    if not (0.0 < target < upper or (method == "contamination" and target == 0.5)):
        raise typer.BadParameter(
            f"{text!r}: {name} must be in (0, {upper:g}{']' if upper == 0.5 else ')'}"
        )
    return CalibrationSpec(method, {name: target})


def calibration_callback(value: str | None) -> CalibrationSpec | None:
    return None if value is None else parse_calibration(value)


def hidden_callback(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        sizes = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{value!r}: comma-separated layer widths, e.g. 64,32"
        ) from None
    if not sizes or min(sizes) < 1:
        raise typer.BadParameter(f"{value!r}: widths must be positive integers")
    return sizes


def check_sep(value: str | None) -> str | None:
    """Parameter callback: validate ``--sep`` (usage error, exit 2)."""
    if value is None:
        return None
    from anomvae.io.formats import parse_sep

    try:
        return parse_sep(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc).removeprefix("--sep ")) from None


def open_interval(
    low: float, high: float, *, closed_low: bool = False
) -> Callable[[float | None], float | None]:
    """Parameter callback: the value must lie in ``(low, high)`` (exit 2 if not)."""

    def check(value: float | None) -> float | None:
        if value is None:
            return None
        if not (low <= value if closed_low else low < value) or not value < high:
            bracket = "[" if closed_low else "("
            raise typer.BadParameter(f"{value:g} is not in {bracket}{low:g}, {high:g})")
        return value

    return check


def read_key_file(path: str | None) -> bytes | None:
    """Parameter callback of ``--key-file``: the file's bytes, without a final
    newline (exit 2 when it cannot be read or is empty)."""
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            key = f.read().rstrip(b"\r\n")
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror}") from None
    if not key:
        raise typer.BadParameter(f"{path} is empty")
    return key


def check_finite(value: float | None) -> float | None:
    """Parameter callback: a finite number (exit 2 for nan/inf)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


# ----------------------------------------------------------- shared options
Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print only errors (on stderr).")
]
Verbose = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Timestamped key=value log lines on stderr, for log collectors.",
    ),
]
TrainingLabelColumn = Annotated[
    str | None,
    typer.Option(
        "--label-column",
        metavar="COLUMN",
        help="Label column (1 = anomaly / 0 = normal, or -1/+1): never a "
        "feature; rows labelled anomalous are left out.",
    ),
]

Sep = Annotated[
    str | None,
    typer.Option(
        "--sep",
        metavar="CHAR",
        help="CSV delimiter of the input: one character, or tab, comma, "
        "semicolon, pipe, space. Default: ',' (tab for .tsv).",
        callback=check_sep,
        show_default=False,
    ),
]
Data = Annotated[
    str,
    typer.Argument(
        metavar="DATA",
        help="CSV (any delimiter, .gz/.bz2/.zst) or Parquet file; '-' reads CSV "
        "from stdin.",
        show_default=False,
    ),
]
ModelFile = Annotated[
    str,
    typer.Option("--model", "-m", metavar="MODEL", help="Model file written by fit."),
]


def id_column_option(help: str) -> Any:
    """``--id-column``/``-i COLUMN`` (repeatable): the flags are the same in every
    command, what the columns are for is each command's own ``help``."""
    return typer.Option("--id-column", "-i", metavar="COLUMN", help=help)


KeyFile = Annotated[
    Any,
    typer.Option(
        "--key-file",
        metavar="PATH",
        help="File holding the secret key that signs the model file (fit, "
        "calibrate) or that it must be signed with (the other commands). "
        "Default: the ANOMVAE_MODEL_KEY environment variable; none: unsigned, "
        "checksum only.",
        callback=read_key_file,
        show_default=False,
    ),
]
