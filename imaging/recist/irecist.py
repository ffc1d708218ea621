"""iRECIST on top of the RECIST 1.1 components (Seymour L et al., Lancet Oncol
18:e143-e152, 2017, "S2017").

* Progression by RECIST 1.1 (targets, non-targets or new lesions) is first
  *unconfirmed*: iUPD. The categories that triggered it are remembered.
* At a later assessment iUPD is confirmed as iCPD (S2017, "confirming
  progression") when a triggering category increases further -- the target
  sum by >= 5 mm over its iUPD value; new lesions by more lesions or a >= 5 mm
  larger sum of new-lesion targets -- or when a category that had not
  progressed now does: targets meet RECIST PD, new lesions appear, or any
  non-target lesion is reported as unequivocal progression (which the
  contract also counts as a further increase in non-target disease).
* If the triggering findings are no longer met (sum back below the PD bar,
  new lesions gone, non-target progression no longer reported), the iUPD is
  reset and the response is iCR / iPR / iSD / iNON_CR_NON_PD as usual; the
  next progression needs a new iUPD. Otherwise iUPD persists.
* The progression date is that of the iUPD that iCPD confirmed. Assessments
  after iCPD stay iCPD.
"""

from __future__ import annotations

from dataclasses import dataclass

from .rules import PD_ABSOLUTE_MM, TimepointResult, overall_recist11

__all__ = ["apply_irecist"]

_EPS = 1e-9


@dataclass(frozen=True)
class _Pending:
    index: int
    triggers: frozenset[str]
    sum_mm: float | None
    new_count: int
    new_target_sum_mm: float


def _triggers(res: TimepointResult) -> frozenset[str]:
    out = set()
    if res.target_pd:
        out.add("target")
    if res.nontarget_pd:
        out.add("non-target")
    if res.new_lesions == "unequivocal":
        out.add("new lesions")
    return frozenset(out)


def _i(code: str) -> str:
    return code if code == "NE" else f"i{code}"


def apply_irecist(results: list[TimepointResult]) -> str | None:
    """Rewrite each follow-up's ``overall`` with iRECIST codes; return the progression date."""
    pending: _Pending | None = None
    progression_date: str | None = None
    for n, res in enumerate(results[1:], start=1):
        if progression_date is not None:
            res.overall = "iCPD"
            res.reasons.append(f"after progression confirmed (iCPD) from {progression_date}")
            continue
        recist = overall_recist11(res.target, res.nontarget, res.new_lesions)
        if pending is None:
            if recist == "PD":
                trig = _triggers(res)
                pending = _Pending(n, trig, res.sum_mm, len(res.new_unequivocal),
                                   res.new_target_sum_mm)
                res.overall = "iUPD"
                res.reasons.append(
                    f"RECIST 1.1 progression ({', '.join(sorted(trig))}) is unconfirmed under "
                    f"iRECIST: iUPD, to be confirmed at the next assessment"
                )
            else:
                res.overall = _i(recist)
            continue

        why = _confirmation(pending, res)
        if why:
            res.overall = "iCPD"
            progression_date = results[pending.index].date
            res.reasons.append(f"{'; '.join(why)}: iUPD of {progression_date} confirmed, iCPD")
            continue
        if _still_progressing(pending, res):
            res.overall = "iUPD"
            res.reasons.append(
                f"no further increase since iUPD of {results[pending.index].date}: iUPD persists"
            )
            continue
        res.overall = _i(recist)
        res.reasons.append(
            f"iUPD of {results[pending.index].date} not confirmed and its findings are no longer "
            f"met: reset, {res.overall}"
        )
        pending = None
    return progression_date


def _confirmation(p: _Pending, res: TimepointResult) -> list[str]:
    why = []
    if res.nontarget_pd:
        why.append("unequivocal progression of non-target disease after iUPD")
    if "target" in p.triggers:
        if res.sum_mm is not None and p.sum_mm is not None and (
            res.sum_mm - p.sum_mm >= PD_ABSOLUTE_MM - _EPS
        ):
            why.append(f"target sum up {res.sum_mm - p.sum_mm:.1f} mm since iUPD (>= 5 mm)")
    elif res.target_pd:
        why.append("target lesions now meet RECIST 1.1 progression")
    if "new lesions" in p.triggers:
        if len(res.new_unequivocal) > p.new_count:
            why.append(f"more new lesions ({len(res.new_unequivocal)} vs {p.new_count} at iUPD)")
        if res.new_target_sum_mm - p.new_target_sum_mm >= PD_ABSOLUTE_MM - _EPS:
            why.append(f"new-lesion target sum up {res.new_target_sum_mm - p.new_target_sum_mm:.1f}"
                       f" mm (>= 5 mm)")
    elif res.new_unequivocal:
        why.append(f"new lesion(s) {', '.join(res.new_unequivocal)} after iUPD")
    return why


def _still_progressing(p: _Pending, res: TimepointResult) -> bool:
    """True while any triggering finding persists (or cannot be judged: NE)."""
    if "target" in p.triggers and (res.target_pd or res.target == "NE"):
        return True
    if "non-target" in p.triggers and res.nontarget == "NE":
        return True
    return "new lesions" in p.triggers and bool(res.new_unequivocal)
