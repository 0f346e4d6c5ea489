"""The native models against the issue's goals, and the choice of the native VAE's
score: tables of the mixed report computed from ``results.csv``.

* :func:`native_goal_table` and :func:`goal_lines`: each native model (an entry on
  the raw table that is not a score variant) against the **baselines**, every
  entry on the one-hot matrix (PyOD's and scikit-learn's detectors and anomvae's
  own on the matrix). The goals: mean AUROC over the low-contamination tables at
  least :data:`GOAL_MARGIN` points above the best baseline's mean, the best mean
  rank among itself and the baselines, and no table more than
  :data:`GOAL_MAX_DEFICIT` points below the best baseline *on that table*.
* :func:`score_choice_table` and :func:`score_delta_table`: the native VAE's
  default score (``vae[native]``, ``"hybrid"``) against its score variants, all
  from the same fits. The differences are paired by seed (same fit, same split),
  so a difference counts as **clear** when its mean exceeds both
  :data:`CLEAR_MIN_POINTS` and twice the standard deviation of the three paired
  differences (:func:`paired_deltas`); anything smaller is seed noise.

Means and ranks are over the *headline* tables (≤ 30 % anomalies, every detector
ran; the report's own rule) and, as a second view, over all tables on which the
compared entries ran.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmarks.data import HIGH_CONTAMINATION_PCT
from benchmarks.mixed.registry import MIXED_REGISTRY, MixedDetector
from benchmarks.report import format_cell, markdown_table, mean_ranks

__all__ = [
    "CLEAR_MIN_POINTS",
    "GOAL_MARGIN",
    "GOAL_MAX_DEFICIT",
    "GoalCheck",
    "baselines_of",
    "check_goals",
    "goal_lines",
    "native_goal_table",
    "natives_of",
    "paired_deltas",
    "score_choice_table",
    "score_delta_table",
    "score_variants_of",
]

#: Points of mean AUROC a native model must gain over the best baseline.
GOAL_MARGIN = 2.0
#: Points below the best baseline on one table that need an explanation.
GOAL_MAX_DEFICIT = 5.0
#: A paired score difference smaller than this (AUROC points) is never clear.
CLEAR_MIN_POINTS = 0.5


def _ok(results: pd.DataFrame) -> pd.DataFrame:
    return results[results["error"] == ""]


def baselines_of(
    results: pd.DataFrame, registry: Mapping[str, MixedDetector] = MIXED_REGISTRY
) -> list[str]:
    """The entries on the one-hot matrix that have results, in results order."""
    present = dict.fromkeys(_ok(results)["detector"])
    return [n for n in present if (e := registry.get(n)) and e.view == "onehot"]


def natives_of(
    results: pd.DataFrame, registry: Mapping[str, MixedDetector] = MIXED_REGISTRY
) -> list[str]:
    """The native models (raw-table entries that are not score variants)."""
    present = dict.fromkeys(_ok(results)["detector"])
    return [
        n
        for n in present
        if (e := registry.get(n)) and e.view == "frame" and e.shared_fit is None
    ]


def score_variants_of(
    base: str,
    results: pd.DataFrame,
    registry: Mapping[str, MixedDetector] = MIXED_REGISTRY,
) -> list[str]:
    """The score variants of ``base`` that have results."""
    present = dict.fromkeys(_ok(results)["detector"])
    return [n for n in present if (e := registry.get(n)) and e.shared_fit == base]


def _means(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    ok = _ok(results)
    grouped = ok.groupby(["dataset", "detector"])["auroc"]
    pct = ok.groupby("dataset")["anomaly_pct"].first()
    return grouped.mean().unstack(), grouped.std().unstack(), pct


def _ordered(datasets: Sequence[str], pct: pd.Series) -> list[str]:
    return sorted(datasets, key=lambda d: (pct[d] > HIGH_CONTAMINATION_PCT, d))


def _headline(mean: pd.DataFrame, pct: pd.Series, columns: Sequence[str]) -> list[str]:
    complete = mean.reindex(columns=list(columns)).notna().all(axis=1)
    return sorted(
        d for d in mean.index if complete[d] and pct[d] <= HIGH_CONTAMINATION_PCT
    )


@dataclass(frozen=True)
class GoalCheck:
    """One native model against the goals over the headline tables.

    ``margin``: its mean AUROC minus the best baseline mean, in points;
    ``rank`` / ``best_rank``: its mean rank among itself and the baselines and
    the best baseline's; ``deficits``: tables more than
    :data:`GOAL_MAX_DEFICIT` points below the best baseline there, with the
    deficit in points.
    """

    name: str
    datasets: tuple[str, ...]
    mean: float
    best_baseline: str
    best_baseline_mean: float
    rank: float
    best_rank_baseline: str
    best_rank: float
    deficits: dict[str, float]

    @property
    def margin(self) -> float:
        return 100.0 * (self.mean - self.best_baseline_mean)

    @property
    def margin_met(self) -> bool:
        return self.margin >= GOAL_MARGIN

    @property
    def rank_met(self) -> bool:
        return self.rank < self.best_rank


def check_goals(
    results: pd.DataFrame,
    native: str,
    registry: Mapping[str, MixedDetector] = MIXED_REGISTRY,
    datasets: Sequence[str] | None = None,
) -> GoalCheck:
    """:class:`GoalCheck` of ``native`` over ``datasets`` (default: the
    low-contamination tables on which it and every baseline ran)."""
    mean, _, pct = _means(results)
    baselines = baselines_of(results, registry)
    if datasets is None:
        datasets = _headline(mean, pct, [native, *baselines])
    table = mean.loc[list(datasets), [native, *baselines]]
    means = table[baselines].mean()
    ranks = mean_ranks(table)
    best = str(means.idxmax())
    best_ranked = str(ranks[baselines].idxmin())
    per_set_best = table[baselines].max(axis=1)
    deficit = 100.0 * (per_set_best - table[native])
    return GoalCheck(
        name=native,
        datasets=tuple(datasets),
        mean=float(table[native].mean()),
        best_baseline=best,
        best_baseline_mean=float(means[best]),
        rank=float(ranks[native]),
        best_rank_baseline=best_ranked,
        best_rank=float(ranks[best_ranked]),
        deficits={d: float(v) for d, v in deficit.items() if v > GOAL_MAX_DEFICIT},
    )


def native_goal_table(
    results: pd.DataFrame, registry: Mapping[str, MixedDetector] = MIXED_REGISTRY
) -> str | None:
    """Markdown: per table (low contamination first), the AUROC of each native
    model, the best baseline there and each native model's difference to it in
    points; footers: mean AUROC, mean rank among the native models and the
    baselines, and the strongest baseline's, over the headline tables. None
    without a native model or a baseline."""
    natives, baselines = natives_of(results, registry), baselines_of(results, registry)
    if not natives or not baselines:
        return None
    mean, std, pct = _means(results)
    datasets = _ordered(
        [d for d in mean.index if mean.loc[d, natives].notna().all()], pct
    )
    header = ["dataset", "anom. %", *(f"`{n}`" for n in natives)]
    header += ["best baseline", "its AUROC", *(f"Δ `{n}`" for n in natives)]
    rows: list[list[str]] = []
    for d in datasets:
        there = mean.loc[d, baselines].dropna()
        best = str(there.idxmax())
        row = [d, f"{pct[d]:.1f}"]
        row += [format_cell(mean.at[d, n], std.at[d, n]) for n in natives]
        row += [f"`{best}`", format_cell(there[best], std.at[d, best])]
        row += [f"{100 * (mean.at[d, n] - there[best]):+.1f}" for n in natives]
        rows.append(row)
    headline = _headline(mean, pct, [*natives, *baselines])
    if headline:
        table = mean.loc[headline, [*natives, *baselines]]
        means, ranks = table.mean(), mean_ranks(table)
        strongest = str(means[baselines].idxmax())
        rows.append(
            [f"**mean AUROC, {len(headline)} headline**", ""]
            + [f"{means[n]:.3f}" for n in natives]
            + [f"`{strongest}`", f"{means[strongest]:.3f}"]
            + [f"{100 * (means[n] - means[strongest]):+.1f}" for n in natives]
        )
        rows.append(
            ["**mean rank (natives + baselines)**", ""]
            + [f"{ranks[n]:.2f}" for n in natives]
            + [
                f"`{ranks[baselines].idxmin()}`",
                f"{ranks[baselines].min():.2f}",
            ]
            + [""] * len(natives)
        )
    return markdown_table(header, rows)


def goal_lines(
    results: pd.DataFrame, registry: Mapping[str, MixedDetector] = MIXED_REGISTRY
) -> list[str]:
    """Bullets: each native model against the goals (met or not, with numbers),
    over the headline tables; the rank is among itself and the baselines."""
    lines = []
    for native in natives_of(results, registry):
        c = check_goals(results, native, registry)
        deficits = (
            ", ".join(f"{d} ({-v:+.1f})" for d, v in sorted(c.deficits.items()))
            or "none"
        )
        lines.append(
            f"* `{native}` over {len(c.datasets)} headline tables: mean AUROC "
            f"{c.mean:.3f}, {c.margin:+.1f} points against the best baseline "
            f"(`{c.best_baseline}`, {c.best_baseline_mean:.3f}; goal "
            f"+{GOAL_MARGIN:.0f}: {'met' if c.margin_met else 'not met'}); mean "
            f"rank {c.rank:.2f} against the best baseline's {c.best_rank:.2f} "
            f"(`{c.best_rank_baseline}`; best rank: "
            f"{'met' if c.rank_met else 'not met'}); tables more than "
            f"{GOAL_MAX_DEFICIT:.0f} points below the best baseline there: "
            f"{deficits}."
        )
    return lines


# ----------------------------------------------------------- score variants
def paired_deltas(results: pd.DataFrame, base: str, variant: str) -> pd.DataFrame:
    """Per table: mean and standard deviation over seeds of ``variant``'s AUROC
    minus ``base``'s on the same split, in AUROC points (columns ``delta``,
    ``sd``, ``n``), and ``clear``: +1 / -1 where the mean exceeds
    :data:`CLEAR_MIN_POINTS` and twice the sd, else 0."""
    ok = _ok(results)
    wide = ok.pivot_table(
        index=["dataset", "seed"], columns="detector", values="auroc"
    )[[base, variant]].dropna()
    diff = 100.0 * (wide[variant] - wide[base])
    grouped = diff.groupby(level="dataset")
    out = pd.DataFrame(
        {"delta": grouped.mean(), "sd": grouped.std(), "n": grouped.size()}
    )
    sd = out["sd"].fillna(0.0)
    big = (out["delta"].abs() > np.maximum(CLEAR_MIN_POINTS, 2.0 * sd)) & (out["n"] > 1)
    out["clear"] = np.where(big, np.sign(out["delta"]), 0).astype(int)
    return out


def score_choice_table(
    results: pd.DataFrame,
    base: str = "vae[native]",
    registry: Mapping[str, MixedDetector] = MIXED_REGISTRY,
) -> str | None:
    """Markdown: per table, the AUROC (mean ± std over seeds) of ``base`` and of
    each of its score variants; footers: mean AUROC and mean rank among these
    scores over the headline tables and over every table. None without
    variants."""
    variants = score_variants_of(base, results, registry)
    if not variants:
        return None
    mean, std, pct = _means(results)
    names = [base, *variants]
    datasets = _ordered(
        [d for d in mean.index if mean.loc[d, names].notna().all()], pct
    )
    header = ["dataset", "anom. %", *(f"`{_short(n)}`" for n in names)]
    rows: list[list[str]] = []
    for d in datasets:
        best = mean.loc[d, names].max()
        rows.append(
            [d, f"{pct[d]:.1f}"]
            + [
                format_cell(mean.at[d, n], std.at[d, n], mean.at[d, n] == best)
                for n in names
            ]
        )
    low = [d for d in datasets if pct[d] <= HIGH_CONTAMINATION_PCT]
    for label, chosen in (
        (f"≤ {HIGH_CONTAMINATION_PCT:.0f} % ({len(low)})", low),
        (f"all ({len(datasets)})", datasets),
    ):
        if not chosen:
            continue
        table = mean.loc[chosen, names]
        means, ranks = table.mean(), mean_ranks(table)
        rows.append(
            [f"**mean AUROC, {label}**", ""] + [f"{means[n]:.3f}" for n in names]
        )
        rows.append(
            [f"**mean rank, {label}**", ""] + [f"{ranks[n]:.2f}" for n in names]
        )
    return markdown_table(header, rows)


def score_delta_table(
    results: pd.DataFrame,
    base: str = "vae[native]",
    registry: Mapping[str, MixedDetector] = MIXED_REGISTRY,
) -> str | None:
    """Markdown: per table and variant, the paired difference to ``base`` in
    AUROC points (mean ± sd over seeds, :func:`paired_deltas`), marked ▲ / ▼
    where clear; last row: clear wins / noise / clear losses."""
    variants = score_variants_of(base, results, registry)
    if not variants:
        return None
    _, _, pct = _means(results)
    deltas = {v: paired_deltas(results, base, v) for v in variants}
    datasets = _ordered(
        sorted(set.intersection(*(set(t.index) for t in deltas.values()))), pct
    )
    header = ["dataset", "anom. %"]
    header += [f"`{_short(v)}` − `{_short(base)}`" for v in variants]
    rows: list[list[str]] = []
    for d in datasets:
        row = [d, f"{pct[d]:.1f}"]
        for v in variants:
            r = deltas[v].loc[d]
            mark = {1: " ▲", -1: " ▼"}.get(int(r["clear"]), "")
            row.append(f"{r['delta']:+.1f} ± {r['sd']:.1f}{mark}")
        rows.append(row)
    low = [d for d in datasets if pct[d] <= HIGH_CONTAMINATION_PCT]
    for label, chosen in (
        (f"≤ {HIGH_CONTAMINATION_PCT:.0f} %", low),
        ("all", datasets),
    ):
        row = [f"**clear wins / noise / losses, {label}**", ""]
        for v in variants:
            c = deltas[v].loc[chosen, "clear"]
            row.append(f"{(c > 0).sum()}/{(c == 0).sum()}/{(c < 0).sum()}")
        rows.append(row)
    return markdown_table(header, rows)


def _short(name: str) -> str:
    """``vae[native,score=elbo]`` → ``elbo``; ``vae[native]`` → ``hybrid``."""
    if ",score=" in name:
        return name.split(",score=")[1].rstrip("]")
    return "hybrid" if name == "vae[native]" else name
