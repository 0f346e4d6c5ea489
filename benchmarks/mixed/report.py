"""Turn the mixed benchmark's ``results.csv`` into ``summary.md``, ``auroc.png`` and
``readme_section.md``.

The headline tables, ranks, W/T/L and times are those of :mod:`benchmarks.report`,
over the detectors that take the one-hot matrix or the raw table. Two tables are
the mixed benchmark's own:

* **Drop the categories?** Each ``X[numeric]`` entry (numeric columns only) next to
  ``X`` on the one-hot matrix, on the tables that have numeric columns.
* **Fit time on the one-hot matrix**, per dataset, with the encoder's own fit;
  a ``frame`` detector declaring ``compare_with`` gets its ratio to that
  detector, the reference of the goal "native fit ≤ 1.5× one-hot fit".
* **Native models against the baselines** and **the native VAE's score**
  (:mod:`benchmarks.mixed.goals`): the goals of the issue, and the default
  score against the other scores of the same fits. Score variants
  (``vae[native,score=...]``) appear only there, so the main tables' ranks are
  among detectors, not among scores of one detector.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.data import HIGH_CONTAMINATION_PCT
from benchmarks.mixed.goals import (
    CLEAR_MIN_POINTS,
    GOAL_MARGIN,
    GOAL_MAX_DEFICIT,
    goal_lines,
    native_goal_table,
    score_choice_table,
    score_delta_table,
)
from benchmarks.mixed.registry import (
    MIXED_REGISTRY,
    VIEW_TEXT,
    MixedDetector,
    is_variant,
)
from benchmarks.plot import plot_auroc, seeds_text
from benchmarks.report import (
    TIE_TOLERANCE,
    Summary,
    detector_table,
    format_cell,
    generated_note,
    headline_table,
    markdown_table,
    meta_line,
    problem_sections,
    result_sections,
    standing,
    summarise,
)
from benchmarks.runner import load_results

__all__ = [
    "MIXED_PROTOCOL_TEXT",
    "drop_categories_table",
    "fit_time_table",
    "render_mixed_readme_section",
    "render_mixed_summary",
    "write_mixed_report",
]

MIXED_PROTOCOL_TEXT = """\
* Each CSV is read with the column kinds of `schema.json`
  (`benchmarks.mixed.data.load_mixed`: digit-coded categories stay strings,
  blanks stay blanks). Rows are then **deduplicated**, a blank counting as a
  value: one row per distinct row, an anomaly if any copy is, so no test row
  occurs in training. `anom. %` is the share among the distinct rows.
* Per dataset and seed the normal rows are shuffled (`default_rng(seed)`); the
  first half, cut to its first {cap} rows, is the training set, the other half
  plus every anomaly the test set (`benchmarks.data.split_one_class`).
* Every detector gets a copy of the same split, as the **view** it declares,
  fitted on the training rows only (`benchmarks.mixed.views`):
  * one-hot matrix: numeric columns median-imputed and standardised, plus a 0/1
    missing indicator per numeric column with blanks in training;
    categorical, binary and boolean columns one-hot encoded, blank a level of
    its own, a level first seen in the test rows all zeros
    (`OneHotEncoder(handle_unknown="ignore", sparse_output=False)`);
  * numeric columns only: the numeric columns, median-imputed and
    standardised; categorical, binary and boolean columns dropped;
  * raw table: the DataFrame as loaded (for a model that fits mixed tables).

  No log transform of heavy tails and no grouping of rare levels: the recipe
  a careful user applies today.
* Scores are oriented higher = more anomalous in one adapter
  (`benchmarks.registry.anomaly_scores`); each seed sets every `random_state`
  and the global RNGs. Nothing is tuned per dataset.
* Per dataset: mean ± std over seeds. Headline means and ranks: datasets with
  ≤ {pct:.0f} % anomalies on which every detector ran; those above are in a
  table of their own. Rank 1 = best, ties averaged. W/T/L: per-dataset mean
  AUROC difference, tie = |ΔAUROC| < {tie}.
* Fit and score times are the detector's alone, in seconds per split on the
  view; the view's preprocessing is timed apart (`prep_fit_s`: fit and
  transform of the training rows; `prep_score_s`: transform of the test rows)."""


def _main_results(
    results: pd.DataFrame, registry: Mapping[str, MixedDetector] = MIXED_REGISTRY
) -> pd.DataFrame:
    """The rows of the main tables: neither numeric-only entries nor score
    variants."""
    variant = results["detector"].map(lambda n: is_variant(n, registry))
    main = results[(results["view"] != "numeric") & ~variant].copy()
    # `d` of the tables is the one-hot width, whatever view a row took (a raw
    # table's own width is its column count)
    width = main[main["view"] == "onehot"].groupby("dataset")["n_features"].first()
    main["n_features"] = main["dataset"].map(width).fillna(main["n_features"])
    return main


GOALS_TEXT = (
    "Baselines: every detector on the one-hot matrix. Goals (issue): mean AUROC "
    f"over the headline tables at least {GOAL_MARGIN:.0f} points above the best "
    "baseline's mean, the best mean rank (here among the native model and the "
    f"baselines), and no table more than {GOAL_MAX_DEFICIT:.0f} points below the "
    "best baseline *on that table* without an explanation. Δ: native − best "
    "baseline on that table, in AUROC points."
)

SCORES_TEXT = (
    "`vae[native]` scores with the default `hybrid`; each other column rescores "
    "the same fit of the same split with another `score_type`, so differences "
    "are paired by seed. Second table: the paired difference to `hybrid` in "
    "AUROC points, mean ± sd over seeds; ▲ / ▼ mark a **clear** difference, "
    f"|mean| > max({CLEAR_MIN_POINTS}, 2 sd); anything smaller is seed noise."
)


def native_sections(
    results: pd.DataFrame, registry: Mapping[str, MixedDetector] = MIXED_REGISTRY
) -> list[str]:
    """The markdown blocks of the native models: the goal table and bullets,
    and the native VAE's scores against each other (empty without them)."""
    parts: list[str] = []
    goals = native_goal_table(results, registry)
    if goals is not None:
        parts += [
            "## Native models against the baselines",
            GOALS_TEXT,
            goals,
            "\n".join(goal_lines(results, registry)),
        ]
    choice = score_choice_table(results, registry=registry)
    deltas = score_delta_table(results, registry=registry)
    if choice is not None and deltas is not None:
        parts += [
            "## Which score for the native VAE?",
            SCORES_TEXT,
            choice,
            deltas,
        ]
    return parts


def drop_categories_table(
    results: pd.DataFrame, registry: Mapping[str, MixedDetector] = MIXED_REGISTRY
) -> str | None:
    """Markdown: mean AUROC (± std over seeds) of each ``X[numeric]`` entry and of
    ``X`` on the one-hot matrix, and the difference in AUROC points, on every
    dataset with numeric columns; mean rows over the low- and high-contamination
    ones. None when the run has no such pair."""
    ok = results[results["error"] == ""]
    names = set(ok["detector"])
    pairs = [
        (n[: -len("[numeric]")], n)
        for n in dict.fromkeys(ok["detector"])
        if n.endswith("[numeric]") and n[: -len("[numeric]")] in names
    ]
    if not pairs:
        return None
    grouped = ok.groupby(["dataset", "detector"])["auroc"]
    mean, std = grouped.mean().unstack(), grouped.std().unstack()
    pct = ok.groupby("dataset")["anomaly_pct"].first()
    datasets = sorted(
        {d for _, n in pairs for d in mean.index[mean[n].notna()]},
        key=lambda d: (pct[d] > HIGH_CONTAMINATION_PCT, d),
    )
    header = ["dataset", "anom. %"]
    for onehot, numeric in pairs:
        header += [f"`{onehot}` one-hot", f"`{numeric}`", "Δ points"]
    rows: list[list[str]] = []
    for d in datasets:
        row = [d, f"{pct[d]:.1f}"]
        for onehot, numeric in pairs:
            delta = 100 * (mean.at[d, numeric] - mean.at[d, onehot])
            row += [
                format_cell(mean.at[d, onehot], std.at[d, onehot]),
                format_cell(mean.at[d, numeric], std.at[d, numeric]),
                f"{delta:+.1f}",
            ]
        rows.append(row)
    for label, group in (
        (f"**mean, ≤ {HIGH_CONTAMINATION_PCT:.0f} %**", False),
        (f"**mean, > {HIGH_CONTAMINATION_PCT:.0f} %**", True),
    ):
        chosen = [d for d in datasets if (pct[d] > HIGH_CONTAMINATION_PCT) == group]
        if not chosen:
            continue
        row = [label, ""]
        for onehot, numeric in pairs:
            a, b = mean.loc[chosen, onehot].mean(), mean.loc[chosen, numeric].mean()
            row += [f"{a:.3f}", f"{b:.3f}", f"{100 * (b - a):+.1f}"]
        rows.append(row)
    return markdown_table(header, rows)


def fit_time_table(
    results: pd.DataFrame, registry: Mapping[str, MixedDetector] = MIXED_REGISTRY
) -> str:
    """Markdown: per dataset, the one-hot encoder's fit (``prep_fit_s``) and the
    mean fit seconds per split of anomvae's detectors on the one-hot matrix; for a
    ``frame`` detector with ``compare_with``, its fit time and its ratio to that
    detector's fit, alone and with the encoder's fit added. Last rows: medians,
    and the median over splits of the ratio on the same split."""
    ok = results[results["error"] == ""]
    fit = ok.groupby(["dataset", "detector"])["fit_s"].mean().unstack()
    onehot = ok[ok["view"] == "onehot"]
    prep = onehot.groupby("dataset")["prep_fit_s"].mean()
    width = onehot.groupby("dataset")["n_features"].mean()
    n_train = ok.groupby("dataset")["n_train"].mean()
    present = list(dict.fromkeys(ok["detector"]))
    shown = [
        n
        for n in present
        if (e := registry.get(n)) and e.view == "onehot" and e.anomvae
    ]
    native = [
        (n, e.compare_with)
        for n in present
        if (e := registry.get(n))
        and e.view == "frame"
        and e.compare_with in fit.columns
    ]
    header = ["dataset", "train rows", "one-hot width", "encoder fit s"]
    header += [f"`{n}` fit s" for n in shown]
    for n, ref in native:
        header += [f"`{n}` fit s", f"/ `{ref}`", f"/ (`{ref}` + encoder)"]
    table = pd.DataFrame(index=prep.index)
    table["train rows"] = n_train.reindex(table.index)
    table["one-hot width"] = width
    table["encoder fit s"] = prep
    for n in shown:
        table[n] = fit[n]
    for n, ref in native:
        table[n] = fit[n]
        table[f"{n}/{ref}"] = fit[n] / fit[ref]
        table[f"{n}/{ref}+enc"] = fit[n] / (fit[ref] + prep)
    rows = [
        [d, f"{r.iloc[0]:.0f}", str(int(r.iloc[1])), *(f"{v:.2f}" for v in r.iloc[2:])]
        for d, r in table.iterrows()
    ]
    medians = table.median()
    rows.append(["**median**", "", "", *(f"{v:.2f}" for v in medians.iloc[2:])])
    if native:
        # Each native fit against its reference on the same split, timed minutes
        # apart in the same run: the ratio least moved by the machine's load.
        paired = ok.pivot_table(
            index=["dataset", "seed"], columns="detector", values="fit_s"
        )
        split_prep = onehot.groupby(["dataset", "seed"])["prep_fit_s"].first()
        cells = ["**median of per-split ratios**", "", "", ""]
        cells += [""] * len(shown)
        for n, ref in native:
            pair = paired[[n, ref]].dropna()
            ratio = pair[n] / pair[ref]
            with_enc = pair[n] / (pair[ref] + split_prep.reindex(pair.index))
            cells += ["", f"{ratio.median():.2f}", f"{with_enc.median():.2f}"]
        rows.append(cells)
    return markdown_table(header, rows)


def history_line(meta: dict[str, Any]) -> str | None:
    """The earlier commands and resumptions of a ``results.csv`` built in several
    runs (``run.json``'s ``earlier_commands`` and ``resumed``), or None."""
    earlier = meta.get("earlier_commands") or []
    if not earlier:
        return None
    return (
        "Built in several runs, resumed at "
        + ", ".join(meta.get("resumed", []))
        + "; earlier commands: "
        + "; ".join(f"`{c}`" for c in earlier)
        + "."
    )


def _descriptions(
    detectors: Sequence[str], registry: Mapping[str, MixedDetector]
) -> dict[str, tuple[str, str]]:
    return {
        n: (e.description, VIEW_TEXT.get(e.view, e.view))
        for n in detectors
        if (e := registry.get(n))
    }


def render_mixed_summary(
    s: Summary,
    results: pd.DataFrame,
    meta: dict[str, Any],
    registry: Mapping[str, MixedDetector] = MIXED_REGISTRY,
) -> str:
    """The full ``summary.md``."""
    cap = meta.get("max_train_rows")
    drop = drop_categories_table(results, registry)
    history = history_line(meta)
    parts = [
        "# Mixed-table benchmark",
        meta_line(meta),
        *([history] if history else []),
        "## Protocol",
        MIXED_PROTOCOL_TEXT.format(
            cap=f"{cap:,}" if cap else "all",
            pct=HIGH_CONTAMINATION_PCT,
            tie=TIE_TOLERANCE,
        ),
        detector_table(
            s,
            _descriptions(s.detectors, registry),
            header=("name", "estimator (library defaults)", "view"),
        ),
        *result_sections(s),
        *native_sections(results, registry),
    ]
    if drop is not None:
        parts += [
            "## Drop the categories? Numeric columns only against the one-hot matrix",
            "AUROC, mean ± std over seeds, on the tables with numeric columns; "
            "Δ = numeric only − one-hot, in AUROC points (positive: dropping the "
            "categorical, binary and boolean columns scores higher).",
            drop,
        ]
    parts += [
        "## Fit time on the one-hot matrix (seconds per split, CPU)",
        "The reference for a model that fits the raw table: its fit time over "
        "that of the same detector on the one-hot matrix (goal ≤ 1.5), alone and "
        "with the encoder's fit added.",
        fit_time_table(results, registry),
        *problem_sections(s, meta),
    ]
    return "\n\n".join(parts) + "\n"


def render_mixed_readme_section(
    s: Summary,
    results: pd.DataFrame,
    meta: dict[str, Any],
    out_dir: Path,
    repo_root: Path,
    registry: Mapping[str, MixedDetector] = MIXED_REGISTRY,
) -> str:
    """The README fragment: headline table, standing, high-contamination means
    and the drop-the-categories differences."""
    where, note = generated_note(
        out_dir, repo_root, "python -m benchmarks.mixed report"
    )
    parts = [
        note,
        "### Mixed-table benchmark",
        meta_line(meta),
        *([history] if (history := history_line(meta)) else []),
        f"**What:** AUROC and average precision on {len(s.headline)} of the "
        f"{len(s.auroc)} real tables (those with ≤ {HIGH_CONTAMINATION_PCT:.0f} % "
        f"anomalies on which every detector ran; {seeds_text(s.n_seeds)} each) "
        "of anomvae's detectors and baselines with their defaults on the "
        "one-hot matrix a careful user builds today (numeric columns imputed and "
        "standardised with missing indicators, every other column one-hot with "
        "blank as a level; fitted on training rows only).",
        "**How:** deduplicate, train on half of the shuffled normal rows, test on "
        "the other half plus every anomaly. Full protocol and tables: "
        f"[`{where}/summary.md`]({where}/summary.md).",
        headline_table(s),
        f"![per-dataset AUROC]({where}/auroc.png)",
        "**Where anomvae stands:**",
        "\n".join(standing(s)),
    ]
    goals = native_goal_table(results, registry)
    if goals is not None:
        parts += [
            "**Native models against the baselines** (" + GOALS_TEXT + "):",
            goals,
            "\n".join(goal_lines(results, registry)),
        ]
    choice = score_choice_table(results, registry=registry)
    if choice is not None:
        parts += [
            "**Scores of the native VAE** (the same fits rescored; paired "
            f"differences in [`{where}/summary.md`]({where}/summary.md)):",
            choice,
        ]
    if s.high:
        high = s.auroc.loc[s.high].mean()
        parts.append(
            f"High-contamination tables (> {HIGH_CONTAMINATION_PCT:.0f} % anomalies "
            f"after deduplication, not in the headline): {', '.join(s.high)}; mean "
            "AUROC there: "
            + ", ".join(f"`{c}` {high[c]:.3f}" for c in high.sort_values().index[::-1])
            + "."
        )
    drop = drop_categories_table(results, registry)
    if drop is not None:
        parts += [
            "**Drop the categories?** AUROC on the numeric columns alone against "
            "the one-hot matrix (Δ = numeric only − one-hot, points):",
            drop,
        ]
    if (out_dir / "explanations.md").exists():
        parts.append(
            "**Why the native model trails where it does:** "
            f"[`{where}/explanations.md`]({where}/explanations.md), from the "
            f"diagnoses `{where}/diagnosis_*.md`."
        )
    parts += _throughput_lines(out_dir / "throughput.md", where)
    return "\n\n".join(parts) + "\n"


def _throughput_lines(path: Path, where: str) -> list[str]:
    """The medians table of ``throughput.md`` (:mod:`benchmarks.bench_cli_mixed`),
    if there is one."""
    if not path.exists():
        return []
    blocks = path.read_text().split("\n\n")
    table = next((b for b in blocks if b.startswith("| rows | case |")), None)
    if table is None:
        return []
    return [
        "**`anomvae score` on generated mixed CSVs** (medians of 3 alternating "
        "runs against reading + writing the same file; the scoring threads, the "
        f"load and every run in [`{where}/throughput.md`]({where}/throughput.md)):",
        table,
    ]


def write_mixed_report(
    out_dir: str | Path,
    repo_root: str | Path | None = None,
    registry: Mapping[str, MixedDetector] = MIXED_REGISTRY,
) -> Summary:
    """Write ``summary.md``, ``auroc.png`` and ``readme_section.md`` in ``out_dir``
    from its ``results.csv`` (and ``run.json`` when present)."""
    out_dir = Path(out_dir)
    root = Path(repo_root) if repo_root else Path(__file__).resolve().parents[2]
    meta_path = out_dir / "run.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    results = load_results(out_dir / "results.csv")
    anomvae = [n for n, e in registry.items() if e.anomvae]
    summary = summarise(_main_results(results, registry), anomvae_names=anomvae)
    (out_dir / "summary.md").write_text(
        render_mixed_summary(summary, results, meta, registry)
    )
    plot_auroc(summary, out_dir / "auroc.png")
    (out_dir / "readme_section.md").write_text(
        render_mixed_readme_section(summary, results, meta, out_dir, root, registry)
    )
    return summary
