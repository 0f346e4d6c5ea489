"""``anomvae fit``: train a detector on normal data and save it."""

from __future__ import annotations

import math
from typing import Annotated, Any

import typer

from anomvae.cli.common import (
    EXIT_CODES_HELP,
    Reporter,
    check_model_output,
    errors_to_exit,
    exit_on_sigterm,
    split_names,
    usage_error,
)
from anomvae.cli.fitting import train_and_save
from anomvae.cli.options import (
    CalibrationSpec,
    Data,
    KeyFile,
    ModelKind,
    PrecisionKind,
    Quiet,
    ScalerKind,
    Sep,
    TrainingLabelColumn,
    Verbose,
    calibration_callback,
    hidden_callback,
    id_column_option,
    open_interval,
)

__all__ = ["fit", "register"]


def fit(
    data: Data,
    output: Annotated[
        str,
        typer.Option("--output", "-o", metavar="MODEL", help="Model file to write."),
    ],
    model: Annotated[
        ModelKind,
        typer.Option(
            "--model",
            help="ae: autoencoder; dae: denoising autoencoder; vae: variational "
            "autoencoder; cvae: conditional VAE (needs --condition).",
        ),
    ] = ModelKind.vae,
    columns: Annotated[
        list[str] | None,
        typer.Option(
            "--columns",
            "-c",
            metavar="COLUMN",
            help="Feature columns (repeat, or comma-separate). Default: every "
            "column not named by another option.",
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            "-x",
            metavar="COLUMN",
            help="Columns never to use as features.",
        ),
    ] = None,
    categorical: Annotated[
        list[str] | None,
        typer.Option(
            "--categorical",
            metavar="COLUMN",
            help="Columns that hold categories although they look numeric (digit "
            "codes: ranks, hospital or product codes): their values are levels, "
            "'1' is not less than '2'. Text columns are categories anyway.",
        ),
    ] = None,
    id_column: Annotated[
        list[str] | None, id_column_option("Identifier column(s): never a feature.")
    ] = None,
    label_column: TrainingLabelColumn = None,
    condition: Annotated[
        list[str] | None,
        typer.Option(
            "--condition",
            metavar="COLUMN",
            help="cvae: context column(s) the model is conditioned on; text "
            "values are categories.",
        ),
    ] = None,
    calibrate: Annotated[
        str | None,
        typer.Option(
            "--calibrate",
            metavar="SPEC",
            help="Calibrate the threshold on held-out rows: fpr:RATE (expected "
            "false-positive rate), conformal[:ALPHA] (adds p-values), evt:RISK "
            "(extreme-value tail), contamination:FRACTION. Default: the "
            "detector's own 1%-of-training threshold, no p-values.",
            callback=calibration_callback,
        ),
    ] = None,
    calibration_size: Annotated[
        float,
        typer.Option(
            "--calibration-size",
            metavar="FRACTION",
            help="Share of rows held out for --calibrate.",
            callback=open_interval(0.0, 1.0),
        ),
    ] = 0.2,
    hidden: Annotated[
        str | None,
        typer.Option(
            "--hidden",
            metavar="W1,W2,...",
            help="Hidden layer widths of the encoder (decoder mirrors) [auto: "
            "two layers, w and w/2, w the next power of two at or above the number "
            "of features, clipped to 64-256].",
            callback=hidden_callback,
        ),
    ] = None,
    latent_dim: Annotated[
        int | None,
        typer.Option(
            "--latent-dim",
            metavar="N",
            min=1,
            help="Bottleneck size [auto: as many as the features, at most 16; "
            "half of that for --model ae].",
        ),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", metavar="N", min=1, help="Maximum epochs [500]."),
    ] = None,
    max_steps: Annotated[
        int | None,
        typer.Option(
            "--max-steps",
            metavar="N",
            min=0,
            help="Maximum gradient steps, 0 = no cap [1000].",
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", metavar="N", min=1, help="Minibatch size [128]."),
    ] = None,
    learning_rate: Annotated[
        float | None,
        typer.Option(
            "--learning-rate",
            metavar="RATE",
            help="Adam's learning rate [1e-3].",
            callback=open_interval(0.0, math.inf),
        ),
    ] = None,
    patience: Annotated[
        int | None,
        typer.Option(
            "--patience",
            metavar="N",
            min=1,
            help="Stop after N epochs without validation improvement [off: train the "
            "whole step budget].",
        ),
    ] = None,
    validation_fraction: Annotated[
        float | None,
        typer.Option(
            "--validation-fraction",
            metavar="FRACTION",
            help="Share of training rows for the validation loss (best weights are "
            "restored) [0.1].",
            callback=open_interval(0.0, 1.0, closed_low=True),
        ),
    ] = None,
    scaler: Annotated[
        ScalerKind | None,
        typer.Option(
            "--scaler",
            help="Feature scaling, fitted on the training rows and saved with the "
            "model [auto: standard; none for --likelihood bernoulli].",
        ),
    ] = None,
    score_type: Annotated[
        str | None,
        typer.Option(
            "--score-type",
            metavar="NAME",
            help="The anomaly score: reconstruction, or what the model offers "
            "(see the detector's score_type; vae/cvae add elbo, iw_nll, kl, "
            "recon_prob).",
        ),
    ] = None,
    beta: Annotated[
        float | None,
        typer.Option("--beta", metavar="X", min=0.0, help="vae/cvae: KL weight."),
    ] = None,
    likelihood: Annotated[
        str | None,
        typer.Option(
            "--likelihood", metavar="NAME", help="vae/cvae: gaussian or bernoulli."
        ),
    ] = None,
    noise: Annotated[
        str | None,
        typer.Option(
            "--noise",
            metavar="NAME",
            help="Input corruption in training (dae, and models that offer it): "
            "masking or gaussian.",
        ),
    ] = None,
    noise_level: Annotated[
        float | None,
        typer.Option(
            "--noise-level",
            metavar="X",
            min=0.0,
            help="Masking probability or Gaussian noise std.",
        ),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            "--device", metavar="DEVICE", help="auto, cpu, cuda, cuda:1... [auto]."
        ),
    ] = None,
    precision: Annotated[
        PrecisionKind | None,
        typer.Option(
            "--precision",
            help="Training arithmetic: bfloat16 autocast, or float32; auto is "
            "bfloat16 on a CUDA GPU that supports it natively [auto].",
        ),
    ] = None,
    random_state: Annotated[
        int | None,
        typer.Option(
            "--random-state",
            metavar="SEED",
            help="Seed: same seed + data = same model.",
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            metavar="N",
            help="CPU threads for training (the detector's n_jobs): -1 for every "
            "core. Default: 1, which beside other busy processes trained many "
            "times faster than more threads.",
        ),
    ] = None,
    sep: Sep = None,
    key_file: KeyFile = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Train a detector on normal rows of DATA and save it to MODEL.

    The whole file is read into memory (training data is expected to fit).
    Features are every column except --id-column, --label-column, --condition
    and --exclude columns, or exactly --columns. Number columns are numeric,
    true/false columns flags, text columns categories (and --categorical names
    digit-coded ones); blank cells are data, modelled per column. A column of
    numbers with a stray text cell stops with its row and column. Prints a
    summary: rows, features, column kinds, epochs, validation loss, threshold.

    \b
    Examples:
      anomvae fit normal.csv -o model.anomvae --id-column id
      anomvae fit normal.parquet -o model.anomvae --model vae \\
          --calibrate fpr:0.01 --random-state 0
      anomvae fit sensors.csv -o model.anomvae --model cvae --condition machine \\
          --columns temp,pressure,rpm --epochs 50
      anomvae fit claims.csv -o model.anomvae --id-column claim_id \\
          --categorical hospital_code,rank
    """
    reporter = Reporter("fit", quiet=quiet, verbose=verbose)
    spec: CalibrationSpec | None = calibrate  # type: ignore[assignment]
    kind = model.value
    params = _given(
        hidden_layer_sizes=hidden,
        latent_dim=latent_dim,
        max_epochs=epochs,
        max_steps=None if max_steps is None else (max_steps or "none"),
        batch_size=batch_size,
        learning_rate=learning_rate,
        patience=patience,
        validation_fraction=validation_fraction,
        scaler=scaler.value if scaler else None,
        beta=beta,
        score_type=score_type,
        likelihood=likelihood,
        noise=noise,
        noise_level=noise_level,
        device=device,
        precision=precision.value if precision else None,
        random_state=random_state,
        n_jobs=threads,
    )
    if threads == 0:
        usage_error("0 threads; use a count, or -1 for every core", "'--threads'")
    conditions = split_names(condition)
    if kind == "cvae" and not conditions:
        usage_error("--model cvae needs --condition COLUMN", "'--condition'")
    if conditions and kind != "cvae":
        usage_error("only --model cvae takes condition columns", "'--condition'")
    check_model_output(output)
    with errors_to_exit(reporter), exit_on_sigterm():
        train_and_save(
            data,
            output,
            kind,
            params,
            spec,
            calibration_size,
            columns=split_names(columns),
            exclude=split_names(exclude),
            categorical=split_names(categorical),
            ids=split_names(id_column),
            label=label_column,
            conditions=conditions,
            sep=sep,
            key=key_file,
            reporter=reporter,
        )


def _given(**options: Any) -> dict[str, Any]:
    """The hyperparameters given on the command line (the rest keep the
    library's defaults, which ``--help`` therefore does not repeat)."""
    params = {k: v for k, v in options.items() if v is not None}
    if params.get("max_steps") == "none":
        params["max_steps"] = None
    return params


def register(app: typer.Typer) -> None:
    app.command("fit", epilog=EXIT_CODES_HELP)(fit)
