"""``anomvae info``: what a model file is, read from its verified configuration."""

from __future__ import annotations

import json
import math
import os
from typing import Annotated, Any

import typer

from anomvae.cli.common import (
    EXIT_CODES_HELP,
    Reporter,
    errors_to_exit,
    stored_id_columns,
)
from anomvae.cli.options import (
    KeyFile,
    Quiet,
    Verbose,
)

__all__ = ["describe_model", "info", "register"]

_KINDS = {
    "AutoencoderDetector": "ae",
    "DenoisingAutoencoderDetector": "dae",
    "VAEDetector": "vae",
    "ConditionalVAEDetector": "cvae",
}
_SHOWN_PARAMS = (
    "hidden_layer_sizes",
    "latent_dim",
    "activation",
    "scaler",
    "batch_size",
    "max_epochs",
    "max_steps",
    "learning_rate",
    "patience",
    "random_state",
    "beta",
    "likelihood",
    "score_type",
    "n_score_samples",
    "noise",
    "noise_level",
)


def info(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="Model file.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the description as JSON.")
    ] = False,
    key_file: KeyFile = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Describe MODEL: type, features, training, threshold, versions.

    The file's checksum (and with a key its signature) is verified; nothing in
    it is executed.

    \b
    Examples:
      anomvae info model.anomvae
      anomvae info model.anomvae --json | jq .threshold
    """
    reporter = Reporter("info", quiet=quiet, verbose=verbose)
    with errors_to_exit(reporter):
        from anomvae.persistence import read_config

        described = describe_model(read_config(model, key=key_file), model)
        typer.echo(json.dumps(described, indent=2) if as_json else _render(described))


def describe_model(config: dict[str, Any], path: str) -> dict[str, Any]:
    """A JSON-ready description of a model file's configuration."""
    from anomvae.decisions import threshold_from_offset

    fitted = config.get("fitted", {})
    params = config.get("params", {})
    estimator = config.get("estimator", "?")
    names = list(fitted.get("feature_names_in_") or [])
    conditions = [str(c) for c in params.get("condition_columns") or []]
    encoder = fitted.get("condition_encoder") or {}
    condition_info = []
    for i, name in enumerate(conditions):
        kinds = encoder.get("kinds") or []
        kind = kinds[i] if i < len(kinds) else "?"
        entry: dict[str, Any] = {"name": name, "type": kind}
        if kind == "categorical":
            entry["categories"] = encoder["categories"][i]
        condition_info.append(entry)
    history = fitted.get("history_") or {}
    val = history.get("val_loss") or []
    best = int(fitted.get("best_epoch_") or 0)
    val_loss = val[best - 1] if 0 < best <= len(val) else None
    if val_loss is not None and not math.isfinite(val_loss):
        val_loss = None
    cal = config.get("calibrator")
    if cal:
        method = cal["params"]["method"]
        threshold = cal["threshold"]
        report = cal.get("report") or {}
    else:
        method = None
        threshold = threshold_from_offset(fitted.get("offset_", math.nan))
        report = {}
    return {
        "path": path,
        "file_bytes": os.path.getsize(path),
        "format_version": config.get("format_version"),
        "signed": bool(config.get("signed")),
        "estimator": estimator,
        "model": _KINDS.get(estimator),
        "score_type": params.get("score_type", "reconstruction"),
        "network": {
            k: (fitted.get("network_spec") or {}).get(k)
            for k in (
                "n_features",
                "hidden_layer_sizes",
                "latent_dim",
                "activation",
                "likelihood",
            )
        },
        "features": _features(fitted, names, conditions),
        "n_features": len(names) - len(conditions)
        if names
        else fitted.get("n_features_in_"),
        "conditions": condition_info,
        "id_columns": stored_id_columns(config.get("metadata")),
        "training": {
            "rows": fitted.get("n_train_samples_"),
            "epochs": fitted.get("n_iter_"),
            "best_epoch": best,
            "steps": fitted.get("n_steps_"),
            "val_loss": val_loss,
            # Files older than the precision parameter trained in float32.
            "precision": fitted.get("training_precision_", "float32"),
        },
        "calibrated": bool(cal),
        "method": method,
        "threshold": threshold,
        "calibration": {
            k: report[k]
            for k in ("guarantee", "calibrated_on", "n_calibration", "expected_fpr")
            if k in report
        },
        "params": {k: params[k] for k in _SHOWN_PARAMS if k in params},
        "versions": config.get("versions", {}),
        "created": config.get("created"),
    }


def _features(
    fitted: dict[str, Any], names: list[str], conditions: list[str]
) -> list[dict[str, Any]]:
    """One entry per scored feature: ``float64`` for a numeric model; a mixed
    table's kind, levels, blank rate and transform from its schema."""
    schema = fitted.get("schema")
    if not schema:
        return [{"name": n, "dtype": "float64"} for n in names if n not in conditions]
    from anomvae.schema import TableSchema

    return [
        {k: v for k, v in column.items() if v is not None}
        for column in TableSchema.from_dict(schema).describe()
    ]


def _column_line(c: dict[str, Any]) -> str:
    """``proto (categorical, 3 levels + infrequent; blank in 4.2% of rows)``."""
    kind = c.get("kind", c.get("dtype", "?"))
    extra = []
    if c.get("levels"):
        extra.append(
            f"{c['levels']} levels" + (" + infrequent" if c.get("infrequent") else "")
        )
    if c.get("transform") not in (None, "none"):
        extra.append(str(c["transform"]))
    if c.get("blank_rate"):
        extra.append(f"blank in {100 * c['blank_rate']:.3g}% of rows")
    return f"{c['name']} ({kind}{': ' + ', '.join(extra) if extra else ''})"


def _render(d: dict[str, Any]) -> str:
    names = [f["name"] for f in d["features"]]
    shown = ", ".join(names[:12]) + (
        f", ... ({len(names)} in all)" if len(names) > 12 else ""
    )
    t = d["training"]
    lines = [
        f"{d['path']} ({d['file_bytes']:,} bytes, format {d['format_version']}, "
        + ("signed" if d["signed"] else "unsigned: checksum only")
        + ")",
        f"  model:        {d['estimator']} ({d['model']}), score {d['score_type']}",
        f"  network:      {d['network'].get('n_features') or d['n_features']} -> "
        + " -> ".join(map(str, d["network"]["hidden_layer_sizes"] or []))
        + f" -> latent {d['network']['latent_dim']} (decoder mirrored), "
        f"{d['network']['activation']}",
    ]
    if d["features"] and "kind" in d["features"][0]:
        lines.append(f"  features:     {len(d['features'])} columns of a mixed table:")
        lines += [f"    {_column_line(c)}" for c in d["features"][:40]]
        if len(d["features"]) > 40:
            lines.append(f"    ... ({len(d['features'])} in all)")
    else:
        lines.append(f"  features:     {d['n_features']} float64: {shown or 'unnamed'}")
    for c in d["conditions"]:
        cats = c.get("categories")
        extra = f": {', '.join(map(str, cats[:10]))}" if cats else ""
        lines.append(f"  condition:    {c['name']} ({c['type']}{extra})")
    if d["id_columns"]:
        lines.append(
            f"  id columns:   {', '.join(d['id_columns'])} (score copies them to "
            "its output)"
        )
    val = "n/a" if t["val_loss"] is None else f"{t['val_loss']:.6g}"
    lines += [
        f"  training:     {t['rows']:,} rows, {t['epochs']} epochs (best "
        f"{t['best_epoch']}), validation loss {val}, {t['precision']}",
        f"  threshold:    {d['threshold']:.6g} ("
        + (f"calibrated: {d['method']}" if d["calibrated"] else "uncalibrated detector")
        + ")",
    ]
    if d["calibration"].get("guarantee"):
        lines.append(f"  guarantee:    {d['calibration']['guarantee']}")
    if d["calibration"].get("calibrated_on"):
        lines.append(f"  calibrated on {d['calibration']['calibrated_on']}")
    params = ", ".join(f"{k}={v}" for k, v in d["params"].items())
    versions = ", ".join(f"{k} {v}" for k, v in d["versions"].items())
    lines += [
        f"  parameters:   {params}",
        f"  created:      {d['created']}",
        f"  versions:     {versions}",
    ]
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    app.command("info", epilog=EXIT_CODES_HELP)(info)
