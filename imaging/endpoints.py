"""Cohort end points from per-patient RECIST results: ORR, DCR, PFS, OS.

* ORR = (CR + PR) / N and DCR = (CR + PR + SD + non-CR/non-PD) / N over the
  best overall responses (iRECIST codes count the same way), each with an
  exact Clopper-Pearson 95% interval (beta quantiles).
* PFS: from treatment start (the clinical table; else the baseline scan) to
  the first progression or death, censored at the last tumour assessment.
* OS: from treatment start to death, censored at the last follow-up.
* Survival curves, medians and their 95% intervals come from lifelines'
  Kaplan-Meier estimator; times are in months (days / 30.4375).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from .errors import InputError

__all__ = [
    "DAYS_PER_MONTH",
    "ClinicalRecord",
    "PatientOutcome",
    "clopper_pearson",
    "cohort_endpoints",
    "load_clinical",
    "load_results",
    "outcome_from_result",
]

DAYS_PER_MONTH = 30.4375
RESPONDERS = {"CR", "PR"}
DISEASE_CONTROL = {"CR", "PR", "SD", "NON_CR_NON_PD"}
BOR_ORDER = ["CR", "PR", "SD", "NON_CR_NON_PD", "PD", "NE"]


@dataclass(frozen=True)
class ClinicalRecord:
    patient_id: str
    treatment_start: dt.date
    death_date: dt.date | None
    last_followup_date: dt.date | None


@dataclass
class PatientOutcome:
    """One patient's facts for the end points and the plots."""

    patient_id: str
    best_overall_response: str
    baseline_date: dt.date
    last_assessment_date: dt.date
    progression_date: dt.date | None
    first_response_date: dt.date | None
    best_pct_change: float | None
    changes: list[tuple[int, float]] = field(default_factory=list)
    """(days from baseline, % change of the target sum) per assessment."""
    clinical: ClinicalRecord | None = None

    @property
    def bor(self) -> str:
        """Best response without the iRECIST prefix."""
        code = self.best_overall_response
        return code[1:] if code.startswith("i") and code != "iUPD" else code

    @property
    def start(self) -> dt.date:
        return self.clinical.treatment_start if self.clinical else self.baseline_date


def _date(value: str | None, where: str) -> dt.date | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(f"{where}: {value!r} is not a YYYY-MM-DD date") from None


def outcome_from_result(result: dict[str, Any], source: str = "result") -> PatientOutcome:
    """Build a :class:`PatientOutcome` from one scorer output (``recist-json.md``)."""
    try:
        tps = result["timepoints"]
        pid = str(result["patient_id"])
        bor = str(result["best_overall_response"])
    except (KeyError, TypeError):
        raise InputError(f"{source}: not a RECIST result (needs patient_id, timepoints, "
                         f"best_overall_response)") from None
    baseline = _date(tps[0]["date"], f"{source}, timepoint 1")
    assert baseline is not None
    changes: list[tuple[int, float]] = []
    first_response = None
    progression = _date(result.get("progression_date"), f"{source}, progression_date")
    for tp in tps[1:]:
        date = _date(tp["date"], f"{source}, timepoint {tp.get('date')}")
        assert date is not None
        pct = tp.get("change_from_baseline_pct")
        if pct is not None:
            changes.append(((date - baseline).days, float(pct)))
        code = tp.get("overall", "")
        if first_response is None and code.lstrip("i") in RESPONDERS and (
            progression is None or date <= progression
        ):
            first_response = date
    in_study = [c for d, c in changes if progression is None or
                baseline + dt.timedelta(days=d) <= progression]
    best = min(in_study) if in_study else (min(c for _, c in changes) if changes else None)
    last = _date(tps[-1]["date"], source)
    assert last is not None
    return PatientOutcome(pid, bor, baseline, last, progression, first_response, best, changes)


def load_results(folder: Path) -> list[PatientOutcome]:
    """Every ``*.json`` scorer output in ``folder`` (sorted by patient id)."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder of RECIST results")
    outcomes = []
    for path in sorted(folder.glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
        outcomes.append(outcome_from_result(doc, str(path)))
    if not outcomes:
        raise InputError(f"{folder}: no RECIST result files (*.json)")
    ids = [o.patient_id for o in outcomes]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise InputError(f"{folder}: several result files for patient(s) {dupes}")
    return sorted(outcomes, key=lambda o: o.patient_id)


def load_clinical(path: Path) -> dict[str, ClinicalRecord]:
    """Read the clinical CSV (patient_id, treatment_start, death_date, last_followup_date)."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        reader = csv.DictReader(handle)
        need = {"patient_id", "treatment_start", "death_date", "last_followup_date"}
        missing = need - set(reader.fieldnames or [])
        if missing:
            raise InputError(f"{path}: missing column(s) {sorted(missing)}")
        out: dict[str, ClinicalRecord] = {}
        for n, row in enumerate(reader, start=2):
            where = f"{path}, line {n}"
            pid = (row["patient_id"] or "").strip()
            if not pid:
                raise InputError(f"{where}: empty patient_id")
            start = _date(row["treatment_start"], f"{where}, treatment_start")
            if start is None:
                raise InputError(f"{where}: treatment_start is required")
            death = _date(row["death_date"], f"{where}, death_date")
            follow = _date(row["last_followup_date"], f"{where}, last_followup_date")
            for name, value in (("death_date", death), ("last_followup_date", follow)):
                if value is not None and value < start:
                    raise InputError(f"{where}: {name} {value} is before treatment_start {start}")
            out[pid] = ClinicalRecord(pid, start, death, follow)
    return out


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial confidence interval for k successes out of n."""
    if n <= 0 or not 0 <= k <= n:
        raise InputError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    alpha = 1 - level
    lo = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


def _rate(k: int, n: int) -> dict[str, Any]:
    lo, hi = clopper_pearson(k, n)
    return {"count": k, "n": n, "rate": k / n, "rate_pct": round(100 * k / n, 1),
            "ci95": [lo, hi], "ci95_pct": [round(100 * lo, 1), round(100 * hi, 1)],
            "method": "Clopper-Pearson exact"}


def _km(durations: list[float], events: list[bool], label: str) -> dict[str, Any]:
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    kmf = KaplanMeierFitter(label=label)
    kmf.fit(durations, event_observed=events)
    median = float(kmf.median_survival_time_)
    ci = median_survival_times(kmf.confidence_interval_)
    lo, hi = (float(v) for v in np.asarray(ci).reshape(-1)[:2])
    horizon = max(durations) if durations else 0.0
    grid = list(range(0, math.floor(horizon) + 1, 3)) if horizon >= 3 else [0]
    at_risk = [int(np.sum(np.asarray(durations) >= t)) for t in grid]
    sf = kmf.survival_function_
    return {
        "n": len(durations),
        "events": int(sum(events)),
        "median_months": None if math.isinf(median) else round(median, 2),
        "median_ci95_months": [None if math.isinf(v) or math.isnan(v) else round(v, 2)
                               for v in (lo, hi)],
        "at_risk": {"months": grid, "n": at_risk},
        "curve": {"months": [round(float(t), 4) for t in sf.index],
                  "survival": [round(float(v), 6) for v in sf.iloc[:, 0]]},
        "durations_months": [round(d, 4) for d in durations],
        "events_observed": [bool(e) for e in events],
        "method": "Kaplan-Meier (lifelines), Greenhill log-log 95% CI",
    }


def _iso(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def _months(a: dt.date, b: dt.date) -> float:
    return (b - a).days / DAYS_PER_MONTH


def cohort_endpoints(
    outcomes: list[PatientOutcome], clinical: dict[str, ClinicalRecord] | None = None
) -> dict[str, Any]:
    """Best-response counts, ORR, DCR and (with enough dates) PFS and OS."""
    clinical = clinical or {}
    unknown = sorted(set(clinical) - {o.patient_id for o in outcomes})
    for o in outcomes:
        o.clinical = clinical.get(o.patient_id)
    n = len(outcomes)
    counts = {code: 0 for code in BOR_ORDER}
    for o in outcomes:
        key = o.bor if o.bor in counts else ("PD" if o.bor in ("iCPD", "CPD") else o.bor)
        counts[key] = counts.get(key, 0) + 1
    orr = sum(o.bor in RESPONDERS for o in outcomes)
    dcr = sum(o.bor in DISEASE_CONTROL for o in outcomes)
    pfs_t, pfs_e = [], []
    for o in outcomes:
        death = o.clinical.death_date if o.clinical else None
        events = [d for d in (o.progression_date, death) if d is not None]
        end = min(events) if events else o.last_assessment_date
        pfs_t.append(_months(o.start, end))
        pfs_e.append(bool(events))
    out: dict[str, Any] = {
        "patients": n,
        "best_overall_response_counts": counts,
        "orr": _rate(orr, n),
        "dcr": _rate(dcr, n),
        "pfs": _km(pfs_t, pfs_e, "PFS"),
        "pfs_start": "treatment start" if clinical else "baseline scan (no clinical table)",
        "clinical_without_results": unknown,
    }
    with_clinical = [o for o in outcomes if o.clinical is not None]
    if with_clinical:
        os_t, os_e = [], []
        for o in with_clinical:
            c = o.clinical
            assert c is not None
            end = c.death_date or c.last_followup_date or o.last_assessment_date
            os_t.append(_months(c.treatment_start, end))
            os_e.append(c.death_date is not None)
        out["os"] = _km(os_t, os_e, "OS")
    out["patients_table"] = [
        {
            "patient_id": o.patient_id,
            "best_overall_response": o.best_overall_response,
            "best_pct_change": o.best_pct_change,
            "progression_date": _iso(o.progression_date),
            "first_response_date": _iso(o.first_response_date),
            "pfs_months": round(t, 3),
            "pfs_event": e,
        }
        for o, t, e in zip(outcomes, pfs_t, pfs_e, strict=True)
    ]
    return out
