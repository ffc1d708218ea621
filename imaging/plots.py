"""The plots trials publish, drawn with matplotlib (no computation here).

Each function writes ``<stem>.png`` and ``<stem>.svg`` and returns the paths:
waterfall (best % change of the target sum per patient, bars coloured by best
overall response, -30% and +20% lines), spider (% change over time per
patient), swimmer (time on study per patient with response and progression
markers, arrows for patients still followed) and Kaplan-Meier curves with
the numbers at risk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .endpoints import DAYS_PER_MONTH, PatientOutcome

__all__ = ["RESPONSE_COLOURS", "km_plot", "spider_plot", "swimmer_plot", "waterfall_plot"]

RESPONSE_COLOURS = {
    "CR": "#1b7837", "PR": "#5aae61", "SD": "#f1a340", "NON_CR_NON_PD": "#fdb863",
    "PD": "#b2182b", "UPD": "#d6604d", "CPD": "#b2182b", "NE": "#999999",
}


def colour(code: str) -> str:
    return RESPONSE_COLOURS.get(code.lstrip("i") if code != "iUPD" else "UPD", "#999999")


def _save(fig: plt.Figure, stem: Path) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def _legend(ax: plt.Axes, codes: list[str]) -> None:
    from matplotlib.patches import Patch

    seen = list(dict.fromkeys(codes))
    ax.legend(handles=[Patch(color=colour(c), label=c) for c in seen], title="Best response",
              loc="best", fontsize=8)


def waterfall_plot(outcomes: list[PatientOutcome], stem: Path) -> list[Path]:
    rows = sorted((o for o in outcomes if o.best_pct_change is not None),
                  key=lambda o: -(o.best_pct_change or 0.0))
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(rows) + 2), 4))
    x = range(len(rows))
    ax.bar(x, [o.best_pct_change for o in rows],
           color=[colour(o.best_overall_response) for o in rows], edgecolor="black", lw=0.4)
    ax.axhline(20, ls="--", color="#b2182b", lw=1)
    ax.axhline(-30, ls="--", color="#1b7837", lw=1)
    ax.axhline(0, color="black", lw=0.6)
    ax.text(-0.45, 21, "+20% (PD)", ha="left", va="bottom", fontsize=8, color="#b2182b")
    ax.text(-0.45, -29, "-30% (PR)", ha="left", va="bottom", fontsize=8, color="#1b7837")
    ax.set_xticks(list(x), [o.patient_id for o in rows], rotation=0)
    ax.set_ylabel("Best change of target sum from baseline (%)")
    ax.set_xlabel("Patient")
    ax.set_title("Waterfall plot")
    changes = [o.best_pct_change or 0.0 for o in rows]
    ax.set_ylim(min([-100.0, *changes]) - 5, max([40.0, *changes]) + 10)
    if rows:
        _legend(ax, [o.best_overall_response for o in rows])
    else:  # baseline studies only, so far
        ax.text(0.5, 0.5, "no patient has a follow-up yet", transform=ax.transAxes,
                ha="center", va="center", color="#666666")
    return _save(fig, stem)


def spider_plot(outcomes: list[PatientOutcome], stem: Path) -> list[Path]:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for o in outcomes:
        if not o.changes:
            continue
        weeks = [0.0] + [d / 7 for d, _ in o.changes]
        pct = [0.0] + [c for _, c in o.changes]
        ax.plot(weeks, pct, marker="o", ms=3, color=colour(o.best_overall_response), lw=1.3)
        ax.annotate(o.patient_id, (weeks[-1], pct[-1]), fontsize=7, xytext=(3, 0),
                    textcoords="offset points", va="center")
    ax.axhline(20, ls="--", color="#b2182b", lw=1)
    ax.axhline(-30, ls="--", color="#1b7837", lw=1)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("Weeks from baseline")
    ax.set_ylabel("Change of target sum from baseline (%)")
    ax.set_title("Spider plot")
    _legend(ax, [o.best_overall_response for o in outcomes if o.changes])
    return _save(fig, stem)


def swimmer_plot(outcomes: list[PatientOutcome], stem: Path) -> list[Path]:
    rows = []
    for o in outcomes:
        c = o.clinical
        end = (c.death_date or c.last_followup_date) if c else None
        end = end or o.last_assessment_date
        ongoing = c is None or c.death_date is None
        rows.append((o, (end - o.start).days / DAYS_PER_MONTH, ongoing))
    rows.sort(key=lambda r: r[1])
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.5))
    for y, (o, months, ongoing) in enumerate(rows):
        ax.barh(y, months, color=colour(o.best_overall_response), edgecolor="black", lw=0.4)
        if o.first_response_date is not None:
            ax.plot((o.first_response_date - o.start).days / DAYS_PER_MONTH, y, marker="^",
                    color="black", ms=6, ls="none")
        if o.progression_date is not None:
            ax.plot((o.progression_date - o.start).days / DAYS_PER_MONTH, y, marker="X",
                    color="#b2182b", ms=7, ls="none")
        if o.clinical is not None and o.clinical.death_date is not None:
            ax.plot(months, y, marker="s", color="black", ms=5, ls="none")
        if ongoing:
            ax.annotate("", xy=(months + 1.2, y), xytext=(months, y),
                        arrowprops={"arrowstyle": "->", "lw": 1.2})
    ax.set_yticks(range(len(rows)), [r[0].patient_id for r in rows])
    ax.set_xlim(0, max((r[1] for r in rows), default=1.0) * 1.12 + 1.5)  # room for arrows
    ax.set_xlabel("Months from treatment start")
    ax.set_title("Swimmer plot (^ first response, X progression, ■ death, → ongoing)")
    _legend(ax, [r[0].best_overall_response for r in rows])
    ax.get_legend().set_loc("lower right")
    return _save(fig, stem)


def km_plot(curves: dict[str, dict[str, Any]], stem: Path) -> list[Path]:
    """Kaplan-Meier step curves (from ``cohort_endpoints``) with numbers at risk."""
    fig, (ax, table) = plt.subplots(2, 1, figsize=(7, 5), height_ratios=[4, 1], sharex=True)
    for n, (name, km) in enumerate(curves.items()):
        t, s = km["curve"]["months"], km["curve"]["survival"]
        ax.step(t, s, where="post", label=f"{name} (median {km['median_months']} mo)", lw=1.6)
        censored = [d for d, e in zip(km["durations_months"], km["events_observed"],
                                      strict=True) if not e]
        for d in censored:
            level = min((v for tt, v in zip(t, s, strict=True) if tt <= d), default=1.0)
            ax.plot(d, level, marker="|", color=ax.lines[-1].get_color(), ms=8)
        months, at_risk = km["at_risk"]["months"], km["at_risk"]["n"]
        for m, k in zip(months, at_risk, strict=True):
            table.text(m, n, str(k), ha="center", va="center", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("Probability")
    ax.set_title("Kaplan-Meier")
    ax.legend(loc="lower left", fontsize=8)
    table.set_yticks(range(len(curves)), list(curves))
    table.set_ylim(-0.5, len(curves) - 0.5)
    table.set_xlabel("Months; numbers at risk below")
    for side in ("top", "right", "bottom"):
        table.spines[side].set_visible(False)
    return _save(fig, stem)
