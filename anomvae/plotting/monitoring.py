"""The history of monitored runs: flag rate and drift over time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure


#: Smaller p-values are drawn at this floor (they underflow to 0 anyway).
P_FLOOR = 1e-16


def _when(started: str) -> dt.datetime:
    return dt.datetime.fromisoformat(started.replace("Z", "+00:00"))


def plot_monitoring_history(
    history: Sequence[Mapping[str, Any]],
    *,
    alpha: float | None = None,
    figsize: tuple[float, float] = (8.0, 5.0),
) -> Figure:
    """Flag rate and drift of a series of runs, one point per run report.

    Top panel: each run's flag rate (share of rows flagged) and the rate its
    calibration expects (dashed). Bottom panel: the smallest Holm-adjusted p-value
    of the run's drift tests on a log scale, with the alarm level ``alpha``
    (dotted): points below it are runs whose alarm fired, drawn as red crosses in
    both panels; p-values below :data:`P_FLOOR` are drawn at it. Failed runs are
    grey lines across the time axis.

    Parameters
    ----------
    history : sequence of dict
        :func:`anomvae.monitoring.history_row` of each report (what
        ``anomvae monitor --json`` prints), or whole reports.
    alpha : float, optional
        The alarm level to draw; default the reports' own (``alpha``), else 0.01.
    figsize : (float, float), default=(8, 5)

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    rows = [_as_row(r) for r in history]
    if not rows:
        raise ValueError("no runs to plot")
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=figsize)
    when = [_when(r["started"]) for r in rows]
    done = [i for i, r in enumerate(rows) if r["flag_rate"] is not None]
    alarm = [i for i in done if rows[i]["alarm"]]
    failed = [i for i, r in enumerate(rows) if r["status"] == "error"]
    rate = np.array([rows[i]["flag_rate"] for i in done], dtype=float)
    top.plot([when[i] for i in done], rate, marker="o", label="flag rate")
    expected = [(when[i], rows[i]["expected_rate"]) for i in done]
    expected = [(t, e) for t, e in expected if e is not None]
    if expected:
        top.plot(*zip(*expected, strict=True), "k--", label="expected (calibration)")
    if alarm:
        top.plot(
            [when[i] for i in alarm],
            [rows[i]["flag_rate"] for i in alarm],
            "rx",
            markersize=10,
            label="alarm",
        )
    top.set_ylabel("share of rows flagged")
    top.legend(loc="best")
    tested = [i for i in done if rows[i]["min_adjusted_p"] is not None]
    p = np.array([rows[i]["min_adjusted_p"] for i in tested], dtype=float)
    bottom.semilogy(
        [when[i] for i in tested], np.maximum(p, P_FLOOR), marker="o", label="drift"
    )
    level = alpha or next((r["alpha"] for r in rows if r.get("alpha")), None) or 0.01
    bottom.axhline(level, color="black", linestyle=":", label=f"alarm level {level:g}")
    if alarm:
        bottom.plot(
            [when[i] for i in alarm],
            [max(rows[i]["min_adjusted_p"] or 0.0, P_FLOOR) for i in alarm],
            "rx",
            markersize=10,
        )
    for i in failed:
        for ax in (top, bottom):
            ax.axvline(when[i], color="grey", alpha=0.4)
    bottom.set_ylim(P_FLOOR / 3, 3.0)
    bottom.set_ylabel("smallest adjusted p-value")
    bottom.set_xlabel("run started (UTC)")
    bottom.legend(loc="best")
    fig.autofmt_xdate()
    return fig


def _as_row(r: Mapping[str, Any]) -> dict[str, Any]:
    if "report_version" in r:  # a whole report
        from anomvae.monitoring import history_row

        return history_row(dict(r))
    return dict(r)
