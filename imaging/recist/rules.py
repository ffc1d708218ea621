"""RECIST 1.1 time-point response: targets, non-targets, new lesions, overall.

References: Eisenhauer EA et al., Eur J Cancer 45:228-247 (2009) ("E2009");
Schwartz LH et al., Eur J Cancer 62:132-137 (2016) ("S2016", the RECIST 1.1
update and clarification).

* Sum of diameters (E2009 sec. 3.2, 4.3.1): targets' longest diameters, with
  the short axis for nodes; ``absent`` counts 0 mm, ``too_small`` 5 mm
  (E2009 Appendix I), a lesion merged into another 0 mm (its partner carries
  the merged diameter), a split lesion the sum of its fragments.
* Target response (E2009 sec. 4.3.1): PD when the sum is >= 20% AND >= 5 mm
  above the nadir (the smallest sum on study, baseline included, before this
  timepoint); CR when every non-nodal target is gone and every nodal target
  is < 10 mm short axis (the sum need not be 0); PR when the sum is >= 30%
  below the baseline sum; SD otherwise. Thresholds apply to unrounded sums.
  A not-evaluated target makes the response NE, unless the lesions that were
  measured already give PD (E2009 sec. 4.3.4 / S2016).
* Non-target response (E2009 sec. 4.3.2): PD on unequivocal progression,
  CR when all are gone (nodes normal, < 10 mm), NE when any was not
  evaluated, otherwise non-CR/non-PD.
* New lesions (E2009 sec. 4.3.3): an unequivocal new lesion is PD; an
  equivocal one is not, but if a later scan confirms it (same id reported
  unequivocal), progression is dated back to the scan where it first appeared.
* Overall response: E2009 Table 1 (targets with or without non-targets) and
  Table 2 (non-target disease only).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .case import TOO_SMALL_MM, Case, Timepoint

__all__ = [
    "PD_ABSOLUTE_MM",
    "PD_RELATIVE",
    "PR_RELATIVE",
    "NoiseBand",
    "TimepointResult",
    "nontarget_response",
    "overall_recist11",
    "pct",
    "target_values",
]

PR_RELATIVE = -0.30  # E2009 sec. 4.3.1: at least a 30% decrease from baseline
PD_RELATIVE = 0.20  # at least a 20% increase over the nadir ...
PD_ABSOLUTE_MM = 5.0  # ... and at least 5 mm absolute
NODE_NORMAL_MM = 10.0  # E2009 sec. 4.3.1: nodes < 10 mm short axis are normal
_EPS = 1e-9


@dataclass(frozen=True)
class NoiseBand:
    """How close to a threshold a call is flagged for a second look."""

    sum_mm: float = 2.0
    percent_points: float = 5.0


@dataclass
class TimepointResult:
    date: str
    days: int
    sum_mm: float | None
    nadir_mm: float | None = None
    change_from_baseline_pct: float | None = None
    change_from_nadir_pct: float | None = None
    target: str = "NA"
    nontarget: str = "NA"
    new_lesions: str = "none"
    overall: str = "BASELINE"
    reasons: list[str] = field(default_factory=list)
    near_threshold: list[str] = field(default_factory=list)
    # facts the iRECIST layer and the best-response step need
    target_pd: bool = False
    nontarget_pd: bool = False
    new_unequivocal: tuple[str, ...] = ()
    new_equivocal: tuple[str, ...] = ()
    new_target_sum_mm: float = 0.0

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"date": self.date, "sum_mm": _round(self.sum_mm)}
        if self.overall != "BASELINE":
            out.update({
                "change_from_baseline_pct": self.change_from_baseline_pct,
                "nadir_mm": _round(self.nadir_mm),
                "change_from_nadir_pct": self.change_from_nadir_pct,
                "target": self.target,
                "nontarget": self.nontarget,
                "new_lesions": self.new_lesions,
            })
        out["overall"] = self.overall
        out["days_from_baseline"] = self.days
        out["reasons"] = list(self.reasons)
        out["near_threshold"] = list(self.near_threshold)
        out["noise_flag"] = bool(self.near_threshold)
        return out


def _round(value: float | None, ndigits: int = 4) -> float | None:
    return None if value is None else round(value, ndigits)


def pct(value: float | None, reference: float | None) -> float | None:
    """Percent change from ``reference``, one decimal; None without a reference."""
    if value is None or reference is None or reference == 0:
        return None
    return round(100.0 * (value - reference) / reference, 1)


def _fmt(mm: float) -> str:
    return f"{mm:.1f} mm"


def target_values(case: Case, tp: Timepoint) -> dict[str, float | None]:
    """Each target's contribution to the sum (mm); None when not evaluated."""
    out: dict[str, float | None] = {}
    for tid in case.targets:
        m = tp.measurements[tid]
        if m.diameter_mm is not None:
            out[tid] = m.diameter_mm
        elif m.merged_into is not None or m.status == "absent":
            out[tid] = 0.0
        elif m.status == "too_small":
            out[tid] = TOO_SMALL_MM
        else:  # not_evaluated
            out[tid] = None
    return out


def is_target_pd(total: float, nadir: float) -> bool:
    """E2009 sec. 4.3.1: >= 20% and >= 5 mm over the nadir (unrounded)."""
    return total - nadir >= PD_ABSOLUTE_MM - _EPS and total >= nadir * (1 + PD_RELATIVE) - _EPS


def target_response(
    case: Case, tp: Timepoint, baseline_sum: float, nadir: float, band: NoiseBand,
    res: TimepointResult,
) -> None:
    """Fill the target part of ``res`` (sum, percentages, category, reasons)."""
    values = target_values(case, tp)
    res.nadir_mm = nadir
    missing = [tid for tid, v in values.items() if v is None]
    if missing:
        partial = sum(v for v in values.values() if v is not None)
        res.sum_mm = None
        if is_target_pd(partial, nadir):
            res.target, res.target_pd = "PD", True
            res.reasons.append(
                f"targets {', '.join(missing)} not evaluated, but the measured ones already sum "
                f"to {_fmt(partial)}, +{partial - nadir:.1f} mm and "
                f"+{100 * (partial - nadir) / nadir:.1f}% over the nadir {_fmt(nadir)}: target PD"
            )
        else:
            res.target = "NE"
            res.reasons.append(f"targets {', '.join(missing)} not evaluated: target NE")
        return

    total = float(sum(v for v in values.values() if v is not None))
    res.sum_mm = total
    res.change_from_baseline_pct = pct(total, baseline_sum)
    res.change_from_nadir_pct = pct(total, nadir)
    nodal = {tid for tid in case.targets if case.lesions[tid].nodal}
    gone = all(values[t] == 0.0 for t in case.targets if t not in nodal)
    nodes_normal = all((values[t] or 0.0) < NODE_NORMAL_MM for t in nodal)
    delta = total - nadir
    rel_nadir = f"{100 * delta / nadir:+.1f}%" if nadir else "n/a"
    if is_target_pd(total, nadir):
        res.target, res.target_pd = "PD", True
        res.reasons.append(
            f"sum {_fmt(total)} is {rel_nadir} and {delta:+.1f} mm from nadir {_fmt(nadir)}: "
            f"target PD (needs >= +20% and >= +5 mm)"
        )
    elif gone and nodes_normal:
        res.target = "CR"
        extra = f"; nodal targets < 10 mm (sum {_fmt(total)})" if nodal else ""
        res.reasons.append(f"all non-nodal targets gone{extra}: target CR")
    elif total <= baseline_sum * (1 + PR_RELATIVE) + _EPS:
        res.target = "PR"
        res.reasons.append(
            f"sum {_fmt(total)} is {100 * (total - baseline_sum) / baseline_sum:+.1f}% from "
            f"baseline {_fmt(baseline_sum)}: target PR (needs <= -30%)"
        )
    else:
        res.target = "SD"
        res.reasons.append(
            f"sum {_fmt(total)} is {100 * (total - baseline_sum) / baseline_sum:+.1f}% from "
            f"baseline and {rel_nadir} / {delta:+.1f} mm from nadir {_fmt(nadir)}: target SD"
        )
    res.near_threshold.extend(_near(total, baseline_sum, nadir, band))


def _near(total: float, baseline: float, nadir: float, band: NoiseBand) -> list[str]:
    """Name the thresholds whose call would flip within the noise band."""
    notes = []
    threshold = baseline * (1 + PR_RELATIVE)
    pr_now = total <= threshold + _EPS
    pr_flips = any((s <= threshold + _EPS) != pr_now
                   for s in (total - band.sum_mm, total + band.sum_mm))
    change = 100 * (total - baseline) / baseline
    if pr_flips or abs(change - 100 * PR_RELATIVE) <= band.percent_points:
        notes.append(
            f"PR threshold: {change:+.1f}% from baseline is within {band.percent_points:g} "
            f"points or {band.sum_mm:g} mm of -30%"
        )
    pd_now = is_target_pd(total, nadir)
    flips = any(is_target_pd(total + d, nadir) != pd_now for d in (-band.sum_mm, band.sum_mm))
    if nadir > 0:
        rel = 100 * (total - nadir) / nadir
        near_pct = abs(rel - 100 * PD_RELATIVE) <= band.percent_points and (
            total - nadir >= PD_ABSOLUTE_MM - band.sum_mm
        )
    else:
        rel, near_pct = float("inf"), False
    if flips or near_pct:
        notes.append(
            f"PD threshold: {total - nadir:+.1f} mm / "
            f"{'n/a' if nadir == 0 else f'{rel:+.1f}%'} over nadir {nadir:.1f} mm is within "
            f"{band.sum_mm:g} mm or {band.percent_points:g} points of +5 mm / +20%"
        )
    return notes


def nontarget_response(case: Case, tp: Timepoint, res: TimepointResult) -> None:
    if not case.nontargets:
        res.nontarget = "NA"
        return
    statuses = {nid: tp.measurements[nid].status for nid in case.nontargets}
    progressed = [n for n, s in statuses.items() if s == "unequivocal_progression"]
    unevaluated = [n for n, s in statuses.items() if s == "not_evaluated"]
    if progressed:
        res.nontarget, res.nontarget_pd = "PD", True
        res.reasons.append(f"unequivocal progression of non-target {', '.join(progressed)}: "
                           f"non-target PD")
    elif unevaluated:
        res.nontarget = "NE"
        res.reasons.append(f"non-target {', '.join(unevaluated)} not evaluated: non-target NE")
    elif all(s == "absent" for s in statuses.values()):
        res.nontarget = "CR"
        res.reasons.append("all non-target lesions gone (nodes normal): non-target CR")
    else:
        res.nontarget = "NON_CR_NON_PD"


def new_lesions(case: Case, tp: Timepoint, res: TimepointResult) -> None:
    unequivocal, equivocal, target_sum = [], [], 0.0
    for lid, m in tp.measurements.items():
        if case.lesions[lid].role != "new":
            continue
        (unequivocal if m.status == "unequivocal" else equivocal).append(lid)
        if m.new_target and m.diameter_mm is not None:
            target_sum += m.diameter_mm
    res.new_unequivocal = tuple(unequivocal)
    res.new_equivocal = tuple(equivocal)
    res.new_target_sum_mm = target_sum
    if unequivocal:
        res.new_lesions = "unequivocal"
        res.reasons.append(f"unequivocal new lesion {', '.join(unequivocal)}: PD")
    elif equivocal:
        res.new_lesions = "equivocal"
        res.reasons.append(f"equivocal new lesion {', '.join(equivocal)}: not PD unless a later "
                           f"scan confirms it")


def overall_recist11(target: str, nontarget: str, new: str) -> str:
    """E2009 Table 1 (with targets) and Table 2 (non-target disease only)."""
    if target == "PD" or nontarget == "PD" or new == "unequivocal":
        return "PD"
    if target == "NA":
        return {"CR": "CR", "NE": "NE", "NON_CR_NON_PD": "NON_CR_NON_PD"}[nontarget]
    if target == "CR":
        return "CR" if nontarget in ("CR", "NA") else "PR"
    return {"PR": "PR", "SD": "SD", "NE": "NE"}[target]


def assess_timepoints(case: Case, band: NoiseBand) -> list[TimepointResult]:
    """Per-timepoint RECIST 1.1 components and overall response, in date order."""
    base_values = target_values(case, case.baseline)
    baseline_sum = float(sum(v or 0.0 for v in base_values.values())) if case.targets else None
    results = [TimepointResult(case.baseline.iso, 0, baseline_sum)]
    results[0].reasons.append(
        f"baseline sum {_fmt(baseline_sum)} over {len(case.targets)} target lesion(s)"
        if case.targets else "no target lesions: non-target disease only"
    )
    nadir = baseline_sum
    for tp in case.followups:
        res = TimepointResult(tp.iso, case.days_after_baseline(tp), None)
        if case.targets:
            target_response(case, tp, baseline_sum or 0.0, nadir or 0.0, band, res)
        nontarget_response(case, tp, res)
        new_lesions(case, tp, res)
        res.overall = overall_recist11(res.target, res.nontarget, res.new_lesions)
        results.append(res)
        if res.sum_mm is not None and nadir is not None:
            nadir = min(nadir, res.sum_mm)
    return results


def date_back_confirmed_new_lesions(results: list[TimepointResult]) -> None:
    """E2009 sec. 4.3.3: a confirmed equivocal new lesion dates PD back to its first scan."""
    first_equivocal: dict[str, int] = {}
    for n, res in enumerate(results):
        for lid in res.new_equivocal:
            first_equivocal.setdefault(lid, n)
        for lid in res.new_unequivocal:
            start = first_equivocal.get(lid)
            if start is not None and start < n and results[start].overall != "PD":
                earlier = results[start]
                earlier.overall = "PD"
                earlier.reasons.append(
                    f"equivocal new lesion {lid} confirmed on {res.date}: progression dated "
                    f"back to {earlier.date}"
                )
