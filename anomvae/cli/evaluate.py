"""``anomvae evaluate``: how well a model separates labelled anomalies."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from anomvae.cli.common import (
    EXIT_CODES_HELP,
    Reporter,
    Timer,
    errors_to_exit,
)
from anomvae.cli.options import (
    Data,
    KeyFile,
    ModelFile,
    Quiet,
    Sep,
    Verbose,
)

__all__ = ["evaluate", "metrics", "register"]


def evaluate(
    data: Data,
    model: ModelFile,
    label_column: Annotated[
        str,
        typer.Option(
            "--label-column",
            "-y",
            metavar="COLUMN",
            help="Label column: 1 = anomaly / 0 = normal, or -1 = anomaly / +1 = "
            "normal (true/false also work).",
        ),
    ],
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            metavar="SCORE",
            help="Evaluate flags at this threshold instead of the model's.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the metrics as JSON.")
    ] = False,
    sep: Sep = None,
    key_file: KeyFile = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Score labelled rows of DATA and print detection metrics.

    AUROC and average precision rank the rows by score (no threshold needed);
    precision, recall, F1 and the confusion counts use the model's threshold
    (or --threshold). The input is streamed, so it can be large.

    \b
    Examples:
      anomvae evaluate labelled.csv -m model.anomvae --label-column label
      anomvae evaluate labelled.parquet -m model.anomvae -y is_fraud --json
    """
    reporter = Reporter("evaluate", quiet=quiet, verbose=verbose)
    with errors_to_exit(reporter):
        result = _evaluate(
            data, model, label_column, threshold, sep, key_file, reporter
        )
        if as_json:
            typer.echo(json.dumps(result, indent=2))
        else:
            typer.echo(_render(result))


def _evaluate(
    data: str,
    model_path: str,
    label: str,
    threshold: float | None,
    sep: str | None,
    key: bytes | None,
    reporter: Reporter,
) -> dict[str, Any]:
    import numpy as np

    from anomvae.batch import P_VALUE, model_info, score_batch
    from anomvae.cli.data import anomaly_mask, to_label_values
    from anomvae.decisions import flag_rule
    from anomvae.exceptions import DataError
    from anomvae.io import read_batches
    from anomvae.persistence import load

    timer = Timer()
    model = load(model_path, key=key)
    info = model_info(model)
    rule = flag_rule(model, threshold)
    if label in info.input_columns:
        raise DataError(
            f"column {label!r} is a feature of {model_path}: the model was fitted "
            f"with it as an input, so it has seen the labels and the metrics would "
            f"be meaningless; refit with --label-column {label} (fit leaves labelled "
            "anomalies out and never uses the label as a feature)"
        )
    scores, p_values, labels = [], [], []
    passthrough = list(dict.fromkeys([label, *info.other_columns]))
    with read_batches(
        data,
        columns=info.feature_columns,
        passthrough=passthrough,
        sep=sep,
        blank_ok=info.blank_columns,
    ) as reader:
        for batch in reader:
            out = score_batch(
                model,
                batch.features,
                others=batch.passthrough if info.other_columns else None,
            )
            scores.append(out.column("score").to_numpy())
            if not rule.per_row:
                p_values.append(out.column(P_VALUE).to_numpy())
            labels.append(
                to_label_values(
                    batch.passthrough.column(label),
                    batch.rows,
                    source=reader.source,
                    name=label,
                )
            )
        source = reader.source
    s = np.concatenate(scores)
    y = anomaly_mask(np.concatenate(labels), source=source, name=label)
    flags = rule.flags(s, np.concatenate(p_values) if p_values else None)
    result = {
        "input": source,
        "model": model_path,
        **metrics(s, y, flags, rule.threshold),
        "flag_rule": "per-row"
        if rule.per_row
        else f"benjamini-hochberg fdr={rule.fdr:g}",
        "threshold_source": "model" if threshold is None else "--threshold",
        "method": info.method,
        "seconds": round(timer.seconds, 3),
    }
    if result["auroc"] is None:
        reporter.warning(
            "the labels hold only one class, so AUROC and average precision are "
            "undefined",
            "evaluate.one_class",
        )
    reporter.log("evaluate.done", rows=len(s), auroc=result["auroc"])
    return result


def metrics(
    scores: Any, anomalies: Any, flagged: Any, threshold: float
) -> dict[str, Any]:
    """AUROC and average precision of ``scores``, and the metrics of the
    ``flagged`` rows (the model's flag rule at ``threshold``)."""
    import numpy as np
    from sklearn.metrics import average_precision_score, roc_auc_score

    tp = int(np.sum(flagged & anomalies))
    fp = int(np.sum(flagged & ~anomalies))
    fn = int(np.sum(~flagged & anomalies))
    tn = int(np.sum(~flagged & ~anomalies))
    both = 0 < anomalies.sum() < len(anomalies)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return {
        "rows": len(scores),
        "anomalies": int(anomalies.sum()),
        "auroc": float(roc_auc_score(anomalies, scores)) if both else None,
        "average_precision": (
            float(average_precision_score(anomalies, scores)) if both else None
        ),
        "threshold": float(threshold),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "false_positive_rate": fp / (fp + tn) if fp + tn else 0.0,
        "confusion": {"tp": tp, "fp": fp, "tn": tn, "fn": fn},
    }


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _render(r: dict[str, Any]) -> str:
    c = r["confusion"]
    return "\n".join(
        [
            f"{r['input']}: {r['rows']:,} rows, {r['anomalies']:,} labelled anomalies",
            f"AUROC               {_fmt(r['auroc'])}",
            f"average precision   {_fmt(r['average_precision'])}",
            f"at threshold {r['threshold']:.6g} ({r['threshold_source']}):",
            f"  precision         {_fmt(r['precision'])}",
            f"  recall            {_fmt(r['recall'])}",
            f"  F1                {_fmt(r['f1'])}",
            f"  false pos. rate   {_fmt(r['false_positive_rate'])}",
            f"  confusion         tp={c['tp']:,} fp={c['fp']:,} tn={c['tn']:,} "
            f"fn={c['fn']:,}",
        ]
    )


def register(app: typer.Typer) -> None:
    app.command("evaluate", epilog=EXIT_CODES_HELP)(evaluate)
