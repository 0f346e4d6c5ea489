"""``anomvae score``: stream a file through a model and write per-row scores."""

from __future__ import annotations

import hashlib
import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from anomvae.cli.common import (
    EXIT_ANOMALIES,
    EXIT_CODES_HELP,
    EXIT_DRIFT,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    Reporter,
    Timer,
    errors_to_exit,
    exit_on_sigterm,
    plural,
    split_names,
    stored_id_columns,
    usage_error,
    utc_now,
)
from anomvae.cli.options import (
    Data,
    KeyFile,
    ModelFile,
    OnInvalid,
    Quiet,
    Sep,
    Verbose,
    check_finite,
    check_sep,
    id_column_option,
)
from anomvae.jobs import ENGINES, ScoreJob, ScoreStats, get_engine
from anomvae.runtime import DEFAULT_BATCH_ROWS, DEFAULT_BLOCK_SIZE

__all__ = ["register", "score"]

#: The drift alarm's default false-alarm rate (``anomvae.monitoring.DEFAULT_ALPHA``,
#: spelled out so that ``--help`` does not import the statistics).
DEFAULT_DRIFT_ALPHA = 0.01
#: ``status`` of a summary or report, by exit code (any other code is "error").
_STATUS = {EXIT_OK: "ok", EXIT_ANOMALIES: "anomalies", EXIT_DRIFT: "drift"}


class ScorePrecision(str, Enum):
    float64 = "float64"
    float32 = "float32"


def _check_alpha(value: float | None) -> float | None:
    if value is not None and not 0.0 < value < 1.0:
        raise typer.BadParameter(f"{value:g} is not in the open interval (0, 1)")
    return value


def _check_engine(value: str) -> str:
    if value not in ENGINES:
        raise typer.BadParameter(
            f"unknown engine {value!r}; available: {', '.join(sorted(ENGINES))}"
        )
    return value


def score(
    data: Data,
    model: ModelFile,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar="OUT",
            help="Output: .csv (.gz/.bz2/.zst compress) or .parquet; '-' writes "
            "CSV to stdout.",
        ),
    ],
    id_column: Annotated[
        list[str] | None,
        id_column_option(
            "Column copied to the output before the scores (repeat, or "
            "comma-separate). Default: the --id-column given to fit, saved in "
            "the model; '' for none."
        ),
    ] = None,
    keep_columns: Annotated[
        bool,
        typer.Option("--keep-columns", help="Copy every input column to the output."),
    ] = False,
    row_numbers: Annotated[
        bool,
        typer.Option(
            "--row-numbers",
            help="Add a 'row' column: the 1-based data row of the input.",
        ),
    ] = False,
    explain: Annotated[
        int,
        typer.Option(
            "--explain",
            metavar="K",
            min=0,
            help="Add the K features contributing most to each row's error, "
            "with their shares: top1_feature, top1_share, ...; and, for a "
            "hybrid-score model with features constant in training, "
            "unseen_features: those holding a value no training row had.",
        ),
    ] = 0,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            metavar="SCORE",
            help="Flag rows with score above this instead of the model's threshold.",
            callback=check_finite,
        ),
    ] = None,
    on_invalid: Annotated[
        OnInvalid,
        typer.Option(
            "--on-invalid",
            help="Invalid cell (text, empty, NaN, inf) or malformed line: 'error' "
            "stops with no output; 'skip' scores the valid rows.",
        ),
    ] = OnInvalid.error,
    rejects: Annotated[
        str | None,
        typer.Option(
            "--rejects",
            metavar="PATH",
            help="With --on-invalid skip: write rejected rows (row, column, "
            "value, reason) here.",
        ),
    ] = None,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty",
            help="Accept an input with a header but no rows (writes a header-only "
            "output) instead of failing.",
        ),
    ] = False,
    summary_json: Annotated[
        str | None,
        typer.Option(
            "--summary-json",
            metavar="PATH",
            help="Also write the run's summary as JSON here (also on failure), "
            "for monitoring.",
        ),
    ] = None,
    fail_on_anomalies: Annotated[
        bool,
        typer.Option(
            "--fail-on-anomalies",
            help=f"Exit with code {EXIT_ANOMALIES} when any row is flagged (after "
            "writing the output).",
        ),
    ] = False,
    report: Annotated[
        str | None,
        typer.Option(
            "--report",
            metavar="PATH",
            help="Also write the run report here (JSON, also on failure): rows, "
            "flags, the flag rate against the calibrated rate, the drift of the "
            "scores and of the input columns, and one drift alarm. Read a folder "
            "of them with 'anomvae monitor'.",
        ),
    ] = None,
    fail_on_drift: Annotated[
        bool,
        typer.Option(
            "--fail-on-drift",
            help=f"Exit with code {EXIT_DRIFT} when the drift alarm fires (after "
            f"writing the output); with --fail-on-anomalies, {EXIT_DRIFT} wins over "
            f"{EXIT_ANOMALIES}.",
        ),
    ] = False,
    drift_alpha: Annotated[
        float | None,
        typer.Option(
            "--drift-alpha",
            metavar="P",
            help="False-alarm rate of the drift alarm: it fires when a test's "
            "Holm-adjusted p-value is below P. [default: "
            f"{DEFAULT_DRIFT_ALPHA:g}]",
            callback=_check_alpha,
        ),
    ] = None,
    sep: Sep = None,
    output_sep: Annotated[
        str,
        typer.Option(
            "--output-sep",
            metavar="CHAR",
            help="CSV delimiter of the output.",
            callback=check_sep,
        ),
    ] = ",",
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            metavar="NAME",
            help=f"Where to score: {', '.join(sorted(ENGINES))}.",
            callback=_check_engine,
        ),
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            metavar="ADDRESS",
            help="--engine dask: address of a running Dask scheduler "
            "(tcp://host:8786). Default: start a local cluster.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            metavar="N",
            min=1,
            help="--engine dask without --scheduler: worker processes of the "
            "local cluster (one thread each). Default: the available cores.",
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            metavar="N",
            min=1,
            help="Batches scored at once, one CPU thread each, beside the "
            "threads that parse and write the files. Default: the available "
            "cores.",
        ),
    ] = None,
    precision: Annotated[
        ScorePrecision,
        typer.Option(
            "--precision",
            help="Arithmetic of the model. float64 gives the library's scores, "
            "a function of the row alone. float32 scores about twice as fast "
            "(the reconstruction score) but moves scores by ~1e-7 relative, and "
            "a row's score may then differ at that level between batches.",
        ),
    ] = ScorePrecision.float64,
    batch_rows: Annotated[
        int, typer.Option("--batch-rows", min=1, hidden=True)
    ] = DEFAULT_BATCH_ROWS,
    block_size: Annotated[
        int, typer.Option("--block-size", min=1024, hidden=True)
    ] = DEFAULT_BLOCK_SIZE,
    key_file: KeyFile = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Score every row of DATA and write the scores to OUT.

    Columns are matched by name against the model's (order does not matter,
    extra columns are ignored). The input is streamed in bounded batches, so
    memory stays flat whatever its size. Each output row has the --id-column
    values (by default the id columns the model was fitted with), then score
    (higher = more anomalous), p_value (calibrated models), is_anomaly
    (score > threshold) and, with --explain K, the top K features (and any
    features holding a value never seen in training).
    A summary goes to stderr, and with --summary-json to a file. With
    --report, a run report (flag rate, score and column drift, one alarm) goes
    to a file and a one-line drift summary to stderr.

    \b
    Examples:
      anomvae score today.csv -m model.anomvae -o scores.csv
      anomvae score today.csv -m model.anomvae -o scores.csv \\
          --report reports/today.json --fail-on-drift
      anomvae score big.csv.gz -m model.anomvae -o scores.parquet --explain 3
      zcat big.csv.gz | anomvae score - -m model.anomvae -o - -q > scores.csv
      anomvae score today.csv -m model.anomvae -o scores.csv \\
          --on-invalid skip --rejects rejects.csv \\
          --summary-json summary.json --fail-on-anomalies
      anomvae score 'data/*.parquet' -m model.anomvae -o scores/ \\
          --engine dask --workers 4 --id-column id

    With --engine dask, DATA is a file, a directory or a quoted glob of
    CSV/Parquet files (one partition per file) and OUT a directory of Parquet
    parts, replaced as a whole when every part is written.
    """
    reporter = Reporter("score", quiet=quiet, verbose=verbose)
    job = ScoreJob(
        data=data,
        model_path=model,
        output=output,
        rejects=rejects,
        sep=sep,
        output_sep=output_sep,
        keep_columns=keep_columns,
        row_numbers=row_numbers,
        on_invalid=on_invalid.value,
        allow_empty=allow_empty,
        threshold=threshold,
        explain=explain,
        batch_rows=batch_rows,
        block_size=block_size,
        threads=threads,
        precision=precision.value,
        key=key_file,
        engine_options={
            k: v
            for k, v in (("scheduler", scheduler), ("workers", workers))
            if v is not None
        },
        report=report is not None or fail_on_drift,
        drift_alpha=drift_alpha,
    )
    started, timer = utc_now(), Timer()
    facts: dict[str, Any] = {"report": report}
    fail_on = (fail_on_anomalies, fail_on_drift)
    code = EXIT_ERROR
    try:
        with errors_to_exit(reporter), exit_on_sigterm():
            _check_engine_options(job, engine)
            if drift_alpha is not None and not job.report:
                usage_error(
                    "only meaningful with --report or --fail-on-drift",
                    "'--drift-alpha'",
                )
            _check_paths(job, summary_json, report)
            ids = None if id_column is None else tuple(split_names(id_column))
            code = _run(job, ids, engine, fail_on, reporter, facts)
    except typer.BadParameter:
        code = EXIT_USAGE
        raise
    except typer.Exit as exc:
        code = exc.exit_code
        raise
    finally:
        # Exit 2 means the run never started (like typer's own usage errors,
        # which cannot reach this point): no summary, no report. The report goes
        # first, so that the summary tells when it could not be written.
        if report and code != EXIT_USAGE:
            code = _write_report(report, job, engine, facts, code, reporter, started)
        if summary_json and code != EXIT_USAGE:
            code = _write_summary(
                summary_json, job, facts, code, reporter, started, timer.seconds
            )
    if code != EXIT_OK:
        raise typer.Exit(code)


def _check_engine_options(job: ScoreJob, engine: str) -> None:
    """Usage checks of the options only some engines take."""
    options = job.engine_options
    if engine != "dask":
        for name in options:
            usage_error("only meaningful with --engine dask", f"'--{name}'")
        return
    if "scheduler" in options and "workers" in options:
        usage_error("give either --scheduler or --workers, not both")
    if job.data == "-" or job.output == "-":
        usage_error("--engine dask reads files and writes a directory, not '-'")
    unsupported = {
        "--keep-columns": job.keep_columns,
        "--row-numbers": job.row_numbers,
        "--on-invalid skip": job.on_invalid != "error",
        "--rejects": job.rejects is not None,
    }
    for name, given in unsupported.items():
        if given:
            usage_error("not supported with --engine dask", f"'{name}'")


def _check_paths(job: ScoreJob, summary_json: str | None, report: str | None) -> None:
    """Usage checks on the paths, then fail early if an output is unwritable."""
    from anomvae.io import check_writable

    if job.rejects and job.on_invalid != "skip":
        usage_error("only meaningful with --on-invalid skip", "'--rejects'")
    named = (job.output, job.rejects, summary_json, report)
    outputs = [p for p in named if p and p != "-"]
    if len({str(Path(p).resolve()) for p in outputs}) < len(outputs):
        usage_error(
            "--output, --rejects, --summary-json and --report must be different files"
        )
    if job.rejects == "-" or [job.output, summary_json, report].count("-") > 1:
        usage_error("only one output can go to stdout ('-')")
    for path in (summary_json, report):
        if path and path != "-":
            check_writable(path)


def _run(
    job: ScoreJob,
    given_ids: tuple[str, ...] | None,
    engine: str,
    fail_on: tuple[bool, bool],
    reporter: Reporter,
    facts: dict[str, Any],
) -> int:
    """Load, score, report; the exit code. ``fail_on``: (--fail-on-anomalies,
    --fail-on-drift)."""
    from anomvae.batch import model_info
    from anomvae.exceptions import DataError, MissingColumnsError
    from anomvae.persistence import load_with_metadata

    timer = Timer()
    model, metadata = load_with_metadata(job.model_path, key=job.key)
    if job.report:
        facts["model_sha256"] = _sha256(job.model_path)
    remembered = given_ids is None
    ids = tuple(stored_id_columns(metadata)) if given_ids is None else given_ids
    job.id_columns = ids
    info = model_info(model)
    if not info.input_columns:
        raise DataError(
            f"{job.model_path}: the model was fitted without column names, so "
            "columns cannot be matched by name; refit it with anomvae fit or on "
            "a pandas DataFrame"
        )
    facts["threshold"] = info.threshold if job.threshold is None else job.threshold
    facts["threshold_source"] = "model" if job.threshold is None else "--threshold"
    facts["method"] = info.method
    reporter.log(
        "model.loaded",
        model=job.model_path,
        estimator=info.estimator,
        method=info.method,
        threshold=facts["threshold"],
        seconds=round(timer.seconds, 3),
    )
    try:
        stats: ScoreStats = get_engine(engine)(job, model, reporter)
    except MissingColumnsError as exc:
        if not (remembered and set(exc.missing) & set(ids)):
            raise
        raise DataError(
            f"{exc}; {job.model_path} was fitted with --id-column "
            f"{','.join(ids)}: pass --id-column to copy other columns, "
            "or --id-column '' for none"
        ) from None
    facts["stats"] = stats
    rate = stats.anomalies / stats.rows_scored if stats.rows_scored else 0.0
    where = "stdout" if job.output == "-" else job.output
    message = (
        f"scored {plural(stats.rows_scored, 'row')} in {timer.seconds:.1f} s: "
        f"{stats.anomalies:,} {'anomaly' if stats.anomalies == 1 else 'anomalies'} "
        f"({rate:.2%}) above threshold {facts['threshold']:.6g} -> {where}"
    )
    if stats.rows_rejected:
        message += f"; {plural(stats.rows_rejected, 'row')} rejected"
        message += f" (in {job.rejects})" if job.rejects else ""
    reporter.info(
        message,
        "score.done",
        rows_read=stats.rows_read,
        rows_scored=stats.rows_scored,
        rows_rejected=stats.rows_rejected,
        anomalies=stats.anomalies,
        threshold=facts["threshold"],
        output=where,
        seconds=round(timer.seconds, 3),
    )
    if stats.rows_rejected and not job.rejects:
        reporter.warning(
            f"{plural(stats.rows_rejected, 'row')} rejected, the first: "
            f"{stats.first_reject}; list them all with --rejects PATH",
            "score.rejected",
            rows=stats.rows_rejected,
        )
    alarm = False
    if job.report:
        if stats.monitor is None:
            raise DataError(f"the {engine!r} engine does not produce run reports")
        statistics = stats.monitor.finish()
        facts["statistics"] = statistics
        alarm = statistics["alarm"]
        _report_drift(statistics, facts["report"], reporter)
    fail_on_anomalies, fail_on_drift = fail_on
    if fail_on_drift and alarm:  # drift wins: flags of a drifted run mislead
        return EXIT_DRIFT
    if fail_on_anomalies and stats.anomalies:
        return EXIT_ANOMALIES
    return EXIT_OK


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _report_drift(
    statistics: dict[str, Any], report: str | None, reporter: Reporter
) -> None:
    """The one-line drift summary on stderr (a ``score.drift`` event with
    ``--verbose``)."""
    alpha, n_tests = statistics["alpha"], statistics["n_tests"]
    fired = statistics["fired"]
    if fired:
        shown = ", ".join(f"{f['test']} (p={f['adjusted_p']:.2g})" for f in fired[:3])
        more = f" and {len(fired) - 3} more" if len(fired) > 3 else ""
        head = (
            f"drift alarm: {len(fired)} of {n_tests} tests below {alpha:g} after "
            f"Holm's adjustment: {shown}{more}"
        )
    elif n_tests:
        head = (
            f"no drift: smallest Holm-adjusted p-value "
            f"{statistics['min_adjusted_p']:.2g} over {n_tests} tests "
            f"(alarm below {alpha:g})"
        )
    else:
        head = "no drift test could run"
    parts = [head]
    flag = statistics.get("flag_count_test") or {}
    rate, expected = statistics.get("flag_rate"), flag.get("expected_rate")
    if rate is not None and expected is not None:
        parts.append(f"flag rate {rate:.2%}, calibrated {expected:.2%}")
    skipped = statistics.get("score_tests_skipped")
    if skipped:
        parts.append(f"score tests skipped: {skipped}")
    if report:
        parts.append(f"report -> {'stdout' if report == '-' else report}")
    fields = {
        "alarm": statistics["alarm"],
        "n_tests": n_tests,
        "min_adjusted_p": statistics["min_adjusted_p"],
        "alpha": alpha,
        "fired": ",".join(f["test"] for f in fired) or None,
        "flag_rate": rate,
        "expected_rate": expected,
        "flag_p": flag.get("p_value"),
        "score_ks_p": (statistics.get("score_drift") or {}).get("p_value"),
        "top_moved": ",".join(t["column"] for t in statistics["top_moved"]) or None,
        "report": report,
    }
    if fired:
        reporter.warning("; ".join(parts), "score.drift", **fields)
    else:
        reporter.info("; ".join(parts), "score.drift", **fields)


def _input_fingerprint(job: ScoreJob, engine: str) -> dict[str, Any]:
    """The input's fingerprint; only its path when it cannot be read."""
    from anomvae.exceptions import AnomvaeError
    from anomvae.monitoring import input_fingerprint

    try:
        if engine == "dask":
            from anomvae.distributed.files import input_files

            return input_fingerprint(input_files(job.data))
        return input_fingerprint(job.data)
    except (OSError, AnomvaeError):
        return {"path": job.data}


def _write_report(
    path: str,
    job: ScoreJob,
    engine: str,
    facts: dict[str, Any],
    code: int,
    reporter: Reporter,
    started: str,
) -> int:
    """Write the run report atomically; returns the exit code to use."""
    from anomvae.monitoring import make_report

    status = _STATUS.get(code, "error")
    report = make_report(
        facts.get("statistics"),
        started=started,
        finished=utc_now(),
        exit_code=code,
        status=status,
        error=reporter.last_error if status == "error" else None,
        model={"path": job.model_path, "sha256": facts.get("model_sha256")},
        input=_input_fingerprint(job, engine),
    )
    return _write_json(path, report, "report", code, reporter)


def _write_json(
    path: str, content: dict[str, Any], what: str, code: int, reporter: Reporter
) -> int:
    """Write ``content`` as JSON to ``path`` (``-``: stdout), atomically; the
    exit code to use (an error when it could not be written)."""
    from anomvae.io import atomic_output

    try:
        text = json.dumps(content, indent=2, allow_nan=False) + "\n"
        if path == "-":
            typer.echo(text, nl=False)
        else:
            with atomic_output(path) as tmp:
                Path(tmp).write_text(text)
    except (OSError, ValueError) as exc:  # ValueError: NaN, which JSON cannot hold
        reporter.error(f"cannot write the {what}: {exc}")
        return code if code != EXIT_OK else EXIT_ERROR
    return code


def _write_summary(
    path: str,
    job: ScoreJob,
    facts: dict[str, Any],
    code: int,
    reporter: Reporter,
    started: str,
    seconds: float,
) -> int:
    """Write the JSON summary atomically; returns the exit code to use."""
    from anomvae._version import __version__

    stats: ScoreStats | None = facts.get("stats")
    status = _STATUS.get(code, "error")
    counts = {
        "rows_read": stats.rows_read if stats else None,
        "rows_scored": stats.rows_scored if stats else None,
        "rows_rejected": stats.rows_rejected if stats else None,
        "anomalies": stats.anomalies if stats else None,
    }
    summary = {
        "command": "score",
        "status": status,
        "exit_code": code,
        "error": reporter.last_error if status == "error" else None,
        **counts,
        "anomaly_rate": (
            stats.anomalies / stats.rows_scored if stats and stats.rows_scored else None
        ),
        "threshold": facts.get("threshold"),
        "threshold_source": facts.get("threshold_source"),
        "method": facts.get("method"),
        "model": job.model_path,
        "input": "<stdin>" if job.data == "-" else job.data,
        "output": "<stdout>" if job.output == "-" else job.output,
        "rejects": job.rejects,
        "started": started,
        "finished": utc_now(),
        "seconds": round(seconds, 3),
        "anomvae_version": __version__,
    }
    return _write_json(path, summary, "summary", code, reporter)


def register(app: typer.Typer) -> None:
    app.command("score", epilog=EXIT_CODES_HELP)(score)
