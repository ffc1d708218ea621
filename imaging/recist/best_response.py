"""Best overall response across timepoints (E2009 sec. 4.4, Table 3).

Only timepoints up to and including the first progression count (PD for
RECIST 1.1, iCPD for iRECIST). SD (and non-CR/non-PD) counts only when it
was measured at least ``sd_min_days`` after baseline (E2009 sec. 4.4.1).
With ``confirmation``, a CR counts only if a later CR at least
``confirmation_min_days`` after it confirms it, and a PR (or a CR that is not
confirmed as CR) only if a later PR or CR does (E2009 sec. 4.4.2, Table 3:
CR then PR gives PR); an unconfirmed CR or PR counts as SD if it was at least
``sd_min_days`` after baseline.
"""

from __future__ import annotations

from collections.abc import Sequence

from .rules import TimepointResult

__all__ = ["best_overall_response"]

# Higher is better. An unconfirmed iUPD still ranks above a confirmed one (iCPD).
_RANK = {"CR": 6, "PR": 5, "SD": 4, "NON_CR_NON_PD": 4, "UPD": 2, "PD": 1, "CPD": 1, "NE": 0}


def _base(code: str, irecist: bool) -> str:
    return code[1:] if irecist and code.startswith("i") else code


def best_overall_response(
    results: Sequence[TimepointResult],
    *,
    irecist: bool,
    confirmation: bool,
    confirmation_min_days: int,
    sd_min_days: int,
) -> tuple[str, list[str]]:
    """Return the best overall response code and the reasons, in words."""
    final = "CPD" if irecist else "PD"
    counted: list[TimepointResult] = []
    for res in results[1:]:
        counted.append(res)
        if _base(res.overall, irecist) == final:
            break
    levels = [_base(r.overall, irecist) for r in counted]
    if irecist and levels and levels[-1] == "CPD":
        # the iUPD that iCPD confirmed is progression too (Seymour 2017, Table 4)
        n = len(levels) - 2
        while n >= 0 and levels[n] in ("UPD", "NE"):
            if levels[n] == "UPD":
                levels[n] = "CPD"
            n -= 1
    prefix = "i" if irecist else ""
    reasons: list[str] = []
    best, best_rank = "NE", 0
    for n, res in enumerate(counted):
        level = levels[n]
        if level in ("CR", "PR") and confirmation:
            confirmed = _confirmed_level(level, res, counted[n + 1:], confirmation_min_days,
                                         irecist)
            if confirmed != level:
                reasons.append(
                    f"{prefix}{level} on {res.date} not confirmed"
                    f"{' as CR' if confirmed == 'PR' else ''} by a later assessment at least "
                    f"{confirmation_min_days} days after it"
                    f"{'' if confirmed == 'PR' else ': counts as SD'}"
                )
            level = confirmed
        if level in ("SD", "NON_CR_NON_PD") and res.days < sd_min_days:
            reasons.append(
                f"{prefix}{level} on {res.date} is {res.days} days after baseline, under the "
                f"{sd_min_days}-day minimum for stable disease: not counted"
            )
            continue
        rank = _RANK.get(level, 0)
        if rank > best_rank:
            best, best_rank = level, rank
    if not counted:
        reasons.append("no assessment after baseline")
    code = best if best == "NE" else f"{prefix}{best}"
    reasons.append(f"best overall response {code}")
    return code, reasons


def _confirmed_level(
    code: str, res: TimepointResult, later: Sequence[TimepointResult], min_days: int,
    irecist: bool,
) -> str:
    """CR confirmed by a later CR; CR or PR confirmed as PR by a later PR or CR; else SD."""
    window = [_base(r.overall, irecist) for r in later if r.days - res.days >= min_days]
    if code == "CR" and "CR" in window:
        return "CR"
    if "CR" in window or "PR" in window:
        return "PR"
    return "SD"
