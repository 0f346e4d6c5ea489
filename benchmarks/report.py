"""Turn ``results.csv`` into ``summary.md``, ``auroc.png`` and ``readme_section.md``.

Definitions used throughout (and stated in the outputs):

* A detector's score on a dataset is its AUROC (or AP) averaged over seeds.
* Headline means and ranks are over the datasets with at most 30 % anomalies on
  which every detector produced a result; high-contamination datasets get their own
  table and are **not** in the headline.
* Rank: per dataset, 1 = highest mean AUROC, ties share the average rank.
* Win / tie / loss of A against B on a dataset: A's mean AUROC minus B's is at
  least ``TIE_TOLERANCE`` / within it / at most minus it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.data import HIGH_CONTAMINATION_PCT
from benchmarks.plot import plot_auroc, seeds_text
from benchmarks.registry import ANOMVAE, DESCRIPTIONS
from benchmarks.runner import load_results

__all__ = [
    "TIE_TOLERANCE",
    "Summary",
    "detector_table",
    "embed_in_readme",
    "format_cell",
    "generated_note",
    "headline_table",
    "markdown_table",
    "mean_ranks",
    "meta_line",
    "metric_table",
    "problem_sections",
    "render_readme_section",
    "render_summary",
    "result_sections",
    "standing",
    "summarise",
    "time_table",
    "win_tie_loss",
    "write_report",
    "wtl_table",
]

#: |ΔAUROC| below this is a tie (half a point of AUROC).
TIE_TOLERANCE = 0.005

README_START = "<!-- benchmarks:start -->"
README_END = "<!-- benchmarks:end -->"


def mean_ranks(table: pd.DataFrame) -> pd.Series:
    """Mean rank of each column over the rows of a dataset x detector table.

    Within a row the highest value gets rank 1 and ties share the average rank.
    """
    return table.rank(axis=1, ascending=False, method="average").mean(axis=0)


def win_tie_loss(
    table: pd.DataFrame, a: str, b: str, tolerance: float = TIE_TOLERANCE
) -> tuple[int, int, int]:
    """Datasets (rows) on which column ``a`` beats, ties or loses to column ``b``."""
    delta = (table[a] - table[b]).dropna()
    wins = int((delta >= tolerance).sum())
    losses = int((delta <= -tolerance).sum())
    return wins, len(delta) - wins - losses, losses


@dataclass
class Summary:
    """Per-dataset means and the dataset groups the report is built from."""

    auroc: pd.DataFrame  # dataset x detector, mean over seeds
    auroc_std: pd.DataFrame
    ap: pd.DataFrame
    ap_std: pd.DataFrame
    fit_s: pd.DataFrame  # dataset x detector, mean fit seconds per split
    score_s: pd.DataFrame
    info: pd.DataFrame  # per dataset: n_train, n_test, n_features, anomaly_pct
    headline: list[str]  # low-contamination datasets with every detector
    high: list[str]  # high-contamination datasets with every detector
    incomplete: dict[str, list[str]]  # dataset -> detectors without a result
    failures: pd.DataFrame
    notes: pd.DataFrame  # successful rows with a note (e.g. infinite scores)
    detectors: list[str]  # by headline mean rank
    anomvae: list[str]
    baselines: list[str]
    n_seeds: int

    def ranks(self, datasets: Sequence[str]) -> pd.Series:
        return mean_ranks(self.auroc.loc[list(datasets), self.detectors])


def summarise(
    results: pd.DataFrame, anomvae_names: Sequence[str] = tuple(ANOMVAE)
) -> Summary:
    """Aggregate raw result rows (one per dataset, seed and detector)."""
    failures = results[results["error"] != ""]
    ok = results[results["error"] == ""]
    if ok.empty:
        raise ValueError("no successful result rows to summarise")
    grouped = ok.groupby(["dataset", "detector"])

    def pivot(column: str, how: str) -> pd.DataFrame:
        return grouped[column].agg(how).unstack("detector")

    auroc = pivot("auroc", "mean")
    info = (
        ok.groupby("dataset")[["n_train", "n_test", "n_features", "anomaly_pct"]]
        .mean()
        .round({"n_train": 0, "n_test": 0})
    )
    present = list(dict.fromkeys(results["detector"]))
    complete = auroc.reindex(columns=present).notna().all(axis=1)
    high_mask = info["anomaly_pct"] > HIGH_CONTAMINATION_PCT
    headline = sorted(d for d in auroc.index if complete[d] and not high_mask[d])
    high = sorted(d for d in auroc.index if complete[d] and high_mask[d])
    incomplete = {
        d: [c for c in present if pd.isna(auroc.reindex(columns=present).at[d, c])]
        for d in auroc.index
        if not complete[d]
    }
    ranked = headline or high or list(auroc.index)
    ranks = mean_ranks(auroc.loc[ranked, present].dropna(axis=1, how="all"))
    detectors = sorted(present, key=lambda c: (ranks.get(c, np.inf), present.index(c)))
    return Summary(
        auroc=auroc.reindex(columns=detectors),
        auroc_std=pivot("auroc", "std").reindex(columns=detectors),
        ap=pivot("ap", "mean").reindex(columns=detectors),
        ap_std=pivot("ap", "std").reindex(columns=detectors),
        fit_s=pivot("fit_s", "mean").reindex(columns=detectors),
        score_s=pivot("score_s", "mean").reindex(columns=detectors),
        info=info,
        headline=headline,
        high=high,
        incomplete=incomplete,
        failures=failures,
        notes=ok[ok["note"] != ""],
        detectors=detectors,
        anomvae=[d for d in detectors if d in set(anomvae_names)],
        baselines=[d for d in detectors if d not in set(anomvae_names)],
        n_seeds=int(ok["seed"].nunique()),
    )


# ----------------------------------------------------------------- markdown


def _code(name: str) -> str:
    return f"`{name}`"


def format_cell(mean: float, std: float, bold: bool = False) -> str:
    """``"0.812 ± 0.004"`` (``"0.812"`` without a std, ``"—"`` without a mean),
    in bold if told."""
    if pd.isna(mean):
        return "—"
    text = f"{mean:.3f}" if pd.isna(std) else f"{mean:.3f} ± {std:.3f}"
    return f"**{text}**" if bold else text


def _numeric(cell: Any) -> bool:
    text = str(cell).strip("*").split(" ± ")[0].replace("/", "")
    try:
        float(text)
    except ValueError:
        return text in ("", "—")
    return True


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; columns whose cells are all numbers are right-aligned."""
    align = [
        "---:" if i > 0 and all(_numeric(row[i]) for row in rows) else "---"
        for i in range(len(header))
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def metric_table(
    s: Summary, datasets: Sequence[str], metric: str, footer: bool = True
) -> str:
    mean, std = (s.auroc, s.auroc_std) if metric == "auroc" else (s.ap, s.ap_std)
    header = ["dataset", "train", "test", "d", "anom. %", *map(_code, s.detectors)]
    rows: list[list[Any]] = []
    for d in datasets:
        best = mean.loc[d].max()
        info = s.info.loc[d]
        rows.append(
            [
                d,
                int(info["n_train"]),
                int(info["n_test"]),
                int(info["n_features"]),
                f"{info['anomaly_pct']:.1f}",
                *(
                    format_cell(mean.at[d, c], std.at[d, c], mean.at[d, c] == best)
                    for c in s.detectors
                ),
            ]
        )
    if footer and datasets:
        sub_auroc = s.auroc.loc[list(datasets), s.detectors]
        sub_ap = s.ap.loc[list(datasets), s.detectors]
        footers = (
            [
                ("mean AUROC", sub_auroc.mean()),
                ("mean AP", sub_ap.mean()),
                ("mean rank", mean_ranks(sub_auroc)),
            ]
            if metric == "auroc"
            else [("mean AP", sub_ap.mean()), ("mean rank (AP)", mean_ranks(sub_ap))]
        )
        for label, values in footers:
            fmt = "{:.2f}" if label.startswith("mean rank") else "{:.3f}"
            rows.append(
                [f"**{label}**", "", "", "", ""]
                + [fmt.format(values[c]) for c in s.detectors]
            )
    return markdown_table(header, rows)


def wtl_table(s: Summary, datasets: Sequence[str]) -> str:
    table = s.auroc.loc[list(datasets)]
    header = ["anomvae \\ baseline", *map(_code, s.baselines), "rank vs baselines"]
    rows = []
    for a in s.anomvae:
        cells = ["{}/{}/{}".format(*win_tie_loss(table, a, b)) for b in s.baselines]
        rank = mean_ranks(table[[a, *s.baselines]])[a]
        rows.append([_code(a), *cells, f"{rank:.2f}"])
    return markdown_table(header, rows)


def time_table(s: Summary) -> str:
    header = ["detector", "median fit s", "median score s", "total fit s", "max fit s"]
    rows = [
        [
            _code(c),
            f"{s.fit_s[c].median():.2f}",
            f"{s.score_s[c].median():.2f}",
            f"{s.fit_s[c].sum() * s.n_seeds:.1f}",
            f"{s.fit_s[c].max():.1f}",
        ]
        for c in s.detectors
    ]
    return markdown_table(header, rows)


def detector_table(
    s: Summary,
    descriptions: Mapping[str, tuple[str, str]] = DESCRIPTIONS,
    header: Sequence[str] = ("name", "estimator (library defaults)", "input scaling"),
) -> str:
    """One row per detector of the run: its name and ``descriptions[name]``."""
    rows = [[_code(c), *descriptions.get(c, ("custom", "?"))] for c in s.detectors]
    return markdown_table(header, rows)


PROTOCOL_TEXT = """\
* Every `.npz` holds `X` (raw as published) and `y` (1 = anomaly). Rows are first
  **deduplicated**: one row per distinct feature vector, an anomaly if any copy
  is, so no test row can occur in training
  (`benchmarks.data.deduplicate` explains why this beats dropping overlapping
  training rows after the split).
* Per dataset and seed the normal rows are shuffled; the first half is the training
  set (cut to `max_train_rows` rows if set), the other half plus every anomaly the
  test set. Every detector receives a copy of the same raw arrays; those that need
  scaling get a `StandardScaler` fitted on the training rows (table below).
* Scores are oriented higher = more anomalous in one adapter
  (`benchmarks.registry.anomaly_scores`): PyOD `decision_function`, scikit-learn
  and anomvae `-score_samples`. Each seed also sets every `random_state` and the
  global RNGs.
* Per dataset: mean ± std over seeds. Headline means and ranks: datasets with
  ≤ {pct:.0f} % anomalies on which every detector ran; the high-contamination
  datasets (> {pct:.0f} %) are in a table of their own and not in the headline.
  Rank 1 = best, ties averaged. W/T/L: per-dataset mean AUROC difference,
  tie = |ΔAUROC| < {tie}.
* `vae[score=...]` rows score the `vae` fit of the same split another way, so they
  report that fit's time. Nothing is tuned per dataset."""


def meta_line(meta: dict[str, Any]) -> str:
    env = meta.get("environment", {})
    versions = ", ".join(
        f"{k} {env[k]}"
        for k in ("anomvae", "pyod", "scikit-learn", "torch")
        if env.get(k)
    )
    return (
        f"Produced by `{meta.get('command', '?')}` (started {meta.get('started', '?')},"
        f" finished {meta.get('finished', 'not yet')}); {versions}; "
        f"{env.get('cpu_count', '?')} CPUs, {env.get('torch_threads', '?')} torch "
        "threads."
    )


def render_summary(s: Summary, meta: dict[str, Any]) -> str:
    """The full ``summary.md``."""
    parts = [
        f"# Benchmark results ({meta.get('suite', 'custom')} suite)",
        meta_line(meta),
        "## Protocol",
        PROTOCOL_TEXT.format(pct=HIGH_CONTAMINATION_PCT, tie=TIE_TOLERANCE),
        detector_table(s),
        *result_sections(s),
        *problem_sections(s, meta),
    ]
    return "\n\n".join(parts) + "\n"


def result_sections(s: Summary) -> list[str]:
    """The markdown blocks of the results: AUROC and AP of the headline datasets,
    the high-contamination table, anomvae's W/T/L against each baseline and the
    time table."""
    return [
        f"## AUROC, datasets with ≤ {HIGH_CONTAMINATION_PCT:.0f} % anomalies "
        f"({len(s.headline)} datasets, {seeds_text(s.n_seeds)})",
        "Best per dataset in bold. `train`/`test`: rows per split, `d`: features, "
        "`anom. %`: anomalies among the distinct rows.",
        metric_table(s, s.headline, "auroc"),
        "## Average precision, same datasets",
        metric_table(s, s.headline, "ap"),
        f"## High-contamination datasets (> {HIGH_CONTAMINATION_PCT:.0f} % anomalies),"
        " not in the headline",
        metric_table(s, s.high, "auroc") if s.high else "None in this run.",
        f"## anomvae against each baseline: wins/ties/losses (tie = |ΔAUROC| < "
        f"{TIE_TOLERANCE}), headline datasets",
        "`rank vs baselines`: mean rank of that detector among itself and the "
        "baselines only.",
        (
            wtl_table(s, s.headline)
            if s.anomvae and s.baselines and s.headline
            else "Needs anomvae and baseline rows."
        ),
        "## Time per split (seconds, CPU)",
        time_table(s),
    ]


def problem_sections(s: Summary, meta: dict[str, Any]) -> list[str]:
    """The markdown blocks of what did not go to plan: datasets left out of the
    means, failed rows, notes (infinite scores) and skipped detectors."""
    parts: list[str] = []
    if s.incomplete:
        parts += [
            "## Datasets left out of the means (a detector has no result there)",
            metric_table(s, sorted(s.incomplete), "auroc", footer=False),
        ]
    if s.incomplete or not s.failures.empty:
        lines = [
            f"* {d}: no result for {', '.join(c)}" for d, c in s.incomplete.items()
        ]
        lines += [
            f"* {r.dataset} seed {r.seed} `{r.detector}`: {r.error}"
            for r in s.failures.itertuples()
        ]
        parts += ["## Failures", *lines]
    notes = s.notes
    if not notes.empty:
        parts += [
            "## Notes",
            "Infinite scores count as the most anomalous; a detector whose scores "
            "are all infinite ranks nothing (AUROC 0.5).",
            *(
                f"* {r.dataset} seed {r.seed} `{r.detector}`: {r.note}"
                for r in notes.itertuples()
            ),
        ]
    skipped = meta.get("skipped_detectors") or {}
    if skipped:
        parts += [
            "## Skipped detectors",
            *(f"* `{k}`: {v}" for k, v in skipped.items()),
        ]
    return parts


def standing(s: Summary) -> list[str]:
    """Bullets: where anomvae stands against the issue's goals."""
    if not s.anomvae or not s.headline:
        return ["* No anomvae detector in this run (not requested or not importable)."]
    if not s.baselines:
        return ["* No baseline in this run to compare with."]
    table = s.auroc.loc[s.headline]
    means = table.mean()
    ranks = mean_ranks(table)
    strongest = means[s.baselines].idxmax()
    best = means[s.anomvae].idxmax()
    lines = []
    for name in dict.fromkeys([n for n in ("vae", best) if n in s.anomvae]):
        delta = 100 * (means[name] - means[strongest])
        wtl = {
            b: win_tie_loss(table, name, b)
            for b in ("pyod_ae", "pyod_vae")
            if b in s.baselines
        }
        beat = "; ".join(
            f"beats `{b}` on {w}/{len(s.headline)} datasets "
            f"({100 * w / len(s.headline):.0f} %, {t} ties)"
            for b, (w, t, _) in wtl.items()
        )
        lines.append(
            f"* `{name}`: mean AUROC {means[name]:.3f}, {delta:+.1f} points against "
            f"the strongest baseline (`{strongest}`, {means[strongest]:.3f}); mean "
            f"rank {ranks[name]:.2f} (best of all: `{ranks.idxmin()}`, "
            f"{ranks.min():.2f})" + (f"; {beat}." if beat else ".")
        )
    name = "vae" if "vae" in s.anomvae else best
    best_other = table[s.baselines].max(axis=1)
    lost = table[name] <= best_other - TIE_TOLERANCE
    if lost.any():
        losses = ", ".join(
            f"{d} ({table.at[d, name]:.3f} vs `{table.loc[d, s.baselines].idxmax()}` "
            f"{best_other[d]:.3f})"
            for d in table.index[lost]
        )
        lines.append(f"* Datasets where `{name}` trails the best baseline: {losses}.")
    else:
        lines.append(
            f"* `{name}` is within {TIE_TOLERANCE} of the best baseline or "
            "ahead on every headline dataset."
        )
    return lines


def _speed_lines(speed_md: Path, where: str) -> list[str]:
    """The ratio table and the fit check of ``speed.md``, if there is one."""
    if not speed_md.exists():
        return []
    blocks = speed_md.read_text().split("\n\n")
    keep = [b for b in blocks if b.startswith(("| case | rows", "Fit check"))]
    if not keep:
        return []
    intro = (
        "#### Speed (anomvae seconds / PyOD seconds, same rows, same run; "
        f"details in [`{where}/speed.md`]({where}/speed.md))"
    )
    return [intro, *keep]


def generated_note(out_dir: Path, repo_root: Path, command: str) -> tuple[str, str]:
    """Where the results are (relative to the repository if inside it) and the
    "generated, do not edit" comment that opens a README fragment."""
    try:
        where = out_dir.resolve().relative_to(repo_root.resolve()).as_posix()
    except ValueError:
        where = out_dir.as_posix()
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return where, (
        f"<!-- Generated from {where}/results.csv by `{command}` on {now}; do not "
        "edit by hand. -->"
    )


def headline_table(s: Summary) -> str:
    """Markdown: mean AUROC, mean AP, mean rank and median fit time of each
    detector over the headline datasets (all datasets if there are none)."""
    table = s.auroc.loc[s.headline, s.detectors] if s.headline else s.auroc
    ranks = mean_ranks(table)
    rows = [
        [
            _code(c),
            f"{table[c].mean():.3f}",
            f"{s.ap.loc[table.index, c].mean():.3f}",
            f"{ranks[c]:.2f}",
            f"{s.fit_s[c].median():.2f}",
        ]
        for c in s.detectors
    ]
    return markdown_table(
        ["detector", "mean AUROC", "mean AP", "mean rank", "median fit s"], rows
    )


def render_readme_section(
    s: Summary, meta: dict[str, Any], out_dir: Path, repo_root: Path
) -> str:
    """The README's benchmark section (a generated fragment)."""
    where, note = generated_note(out_dir, repo_root, "python -m benchmarks report")
    high = "none in this run"
    if s.high:
        high_means = s.auroc.loc[s.high].mean()
        best_high = [high_means[s.anomvae].idxmax()] if s.anomvae else []
        shown = [c for c in ("vae", *best_high) if c in s.anomvae]
        if s.baselines:
            shown.append(high_means[s.baselines].idxmax())
        high = (
            ", ".join(s.high)
            + "; mean AUROC there: "
            + ", ".join(f"`{c}` {high_means[c]:.3f}" for c in dict.fromkeys(shown))
        )
    parts = [
        note,
        "### Benchmark",
        meta_line(meta),
        f"**What:** AUROC and average precision of anomvae's detectors with their "
        f"defaults against {len(s.baselines)} baselines with their libraries' "
        f"defaults, on {len(s.headline)} datasets with "
        f"≤ {HIGH_CONTAMINATION_PCT:.0f} % anomalies ({seeds_text(s.n_seeds)} each), "
        "plus fit and score time.",
        "**How:** train on half of the (deduplicated, shuffled) normal rows, test on "
        "the other half plus every anomaly; the same raw rows for every detector, "
        "scaling fitted on training rows only where a detector needs it; nothing "
        f"tuned per dataset. Full protocol and per-dataset tables: "
        f"[`{where}/summary.md`]({where}/summary.md).",
        headline_table(s),
        f"![per-dataset AUROC]({where}/auroc.png)",
        "**Where anomvae stands:**",
        "\n".join(standing(s)),
        f"High-contamination datasets (> {HIGH_CONTAMINATION_PCT:.0f} % anomalies, "
        f"reported separately): {high}.",
        *_speed_lines(out_dir / "speed.md", where),
    ]
    return "\n\n".join(parts) + "\n"


def write_report(out_dir: str | Path, repo_root: str | Path | None = None) -> Summary:
    """Write ``summary.md``, ``auroc.png`` and ``readme_section.md`` in ``out_dir``
    from its ``results.csv`` (and ``run.json``, ``speed.md`` when present)."""
    out_dir = Path(out_dir)
    root = Path(repo_root) if repo_root else Path(__file__).resolve().parent.parent
    meta_path = out_dir / "run.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    summary = summarise(load_results(out_dir / "results.csv"))
    (out_dir / "summary.md").write_text(render_summary(summary, meta))
    plot_auroc(summary, out_dir / "auroc.png")
    (out_dir / "readme_section.md").write_text(
        render_readme_section(summary, meta, out_dir, root)
    )
    return summary


def embed_in_readme(readme: str | Path, section: str | Path) -> None:
    """Replace the text between ``<!-- benchmarks:start -->`` and
    ``<!-- benchmarks:end -->`` in ``readme`` with the generated section."""
    readme = Path(readme)
    text = readme.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"{readme} has no {README_START} ... {README_END} markers")
    body = Path(section).read_text()
    readme.write_text(text[: start + len(README_START)] + "\n" + body + text[end:])
