"""A patient's RECIST case, parsed and validated from the JSON contract.

``../shared/contracts/recist-json.md`` defines the input. Every rule that
the schema cannot express is checked here (Eisenhauer et al. 2009, "E2009"):
the earliest date is the baseline; targets are measurable at baseline
(>= 10 mm, nodal short axis >= 15 mm, sec. 3.1); at most 5 targets and 2 per
organ, all lymph nodes counting as one organ (sec. 3.3.1); every baseline
target is reported at every later timepoint; follow-up ids are baseline ids
or marked new; dates are unique. A violation raises
:class:`~imaging.errors.CaseValidationError` naming the patient, the
timepoint and the lesion.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from ..errors import CaseValidationError

__all__ = [
    "MAX_TARGETS",
    "MAX_TARGETS_PER_ORGAN",
    "MIN_NODAL_TARGET_MM",
    "MIN_TARGET_MM",
    "Case",
    "LesionInfo",
    "Measurement",
    "Timepoint",
    "parse_case",
]

MIN_TARGET_MM = 10.0  # E2009 sec. 3.1.1
MIN_NODAL_TARGET_MM = 15.0  # E2009 sec. 3.1.1, short axis
MAX_TARGETS = 5  # E2009 sec. 3.3.1
MAX_TARGETS_PER_ORGAN = 2
NODAL_ORGAN = "lymph node"
TOO_SMALL_MM = 5.0  # E2009 Appendix I: "too small to measure" counts 5 mm

TOP_LEVEL = {"patient_id", "criteria", "confirmation", "confirmation_min_days", "sd_min_days",
             "timepoints"}
LESION_FIELDS = {"id", "role", "organ", "nodal", "diameter_mm", "status", "merged_into",
                 "new_target"}
TARGET_STATUSES = {"absent", "too_small", "not_evaluated"}
NONTARGET_STATUSES = {"present", "absent", "unequivocal_progression", "not_evaluated"}
NEW_STATUSES = {"equivocal", "unequivocal"}


@dataclass(frozen=True)
class LesionInfo:
    """What baseline (or a new lesion's first report) says about a lesion."""

    id: str
    role: str  # "target" | "nontarget" | "new"
    organ: str
    nodal: bool

    @property
    def organ_key(self) -> str:
        """The organ for the two-per-organ rule: every node is one organ."""
        return NODAL_ORGAN if self.nodal else self.organ.strip().lower()


@dataclass(frozen=True)
class Measurement:
    """One lesion at one timepoint: a diameter, a status, or a merge."""

    id: str
    diameter_mm: float | None = None
    status: str | None = None
    merged_into: str | None = None
    new_target: bool = False


@dataclass(frozen=True)
class Timepoint:
    date: dt.date
    measurements: dict[str, Measurement]

    @property
    def iso(self) -> str:
        return self.date.isoformat()


@dataclass(frozen=True)
class Case:
    patient_id: str
    criteria: str
    confirmation: bool
    confirmation_min_days: int
    sd_min_days: int
    lesions: dict[str, LesionInfo]
    """Every lesion: baseline ones and new ones (from their first report)."""
    baseline: Timepoint
    followups: tuple[Timepoint, ...]
    targets: tuple[str, ...] = field(default=())
    nontargets: tuple[str, ...] = field(default=())

    def days_after_baseline(self, tp: Timepoint) -> int:
        return (tp.date - self.baseline.date).days


def _fail(case_id: str, where: str, message: str) -> CaseValidationError:
    return CaseValidationError(f"patient {case_id}: {where}: {message}")


def _number(value: Any, case_id: str, where: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(case_id, where, f"{name} must be a number (mm), got {value!r}")
    if value < 0:
        raise _fail(case_id, where, f"{name} must not be negative, got {value!r}")
    return float(value)


def _parse_date(value: Any, case_id: str, where: str) -> dt.date:
    if not isinstance(value, str):
        raise _fail(case_id, where, f"date must be an ISO 8601 string (YYYY-MM-DD), got {value!r}")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _fail(case_id, where, f"date {value!r} is not a valid YYYY-MM-DD date") from None


def parse_case(doc: Any) -> Case:
    """Validate ``doc`` (the decoded JSON of one patient) and build a :class:`Case`."""
    if not isinstance(doc, dict):
        raise CaseValidationError(f"case must be a JSON object, got {type(doc).__name__}")
    pid = doc.get("patient_id")
    if not isinstance(pid, str) or not pid:
        raise CaseValidationError(f"case: patient_id must be a non-empty string, got {pid!r}")
    unknown = sorted(k for k in doc if k not in TOP_LEVEL and not k.startswith("_"))
    if unknown:
        raise _fail(pid, "case", f"unknown field(s) {unknown}")
    criteria = doc.get("criteria", "RECIST1.1")
    if criteria not in ("RECIST1.1", "iRECIST"):
        raise _fail(pid, "criteria", f"must be 'RECIST1.1' or 'iRECIST', got {criteria!r}")
    confirmation = doc.get("confirmation", False)
    if not isinstance(confirmation, bool):
        raise _fail(pid, "confirmation", f"must be true or false, got {confirmation!r}")
    days = {}
    for name, default in (("confirmation_min_days", 28), ("sd_min_days", 42)):
        value = doc.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _fail(pid, name, f"must be a non-negative whole number of days, got {value!r}")
        days[name] = value
    raw_tps = doc.get("timepoints")
    if not isinstance(raw_tps, list) or not raw_tps:
        raise _fail(pid, "timepoints", "must be a non-empty list")

    dated = []
    for n, tp in enumerate(raw_tps):
        if not isinstance(tp, dict):
            raise _fail(pid, f"timepoint #{n + 1}", "must be an object with date and lesions")
        extra = sorted(set(tp) - {"date", "lesions"})
        if extra:
            raise _fail(pid, f"timepoint #{n + 1}", f"unknown field(s) {extra}")
        date = _parse_date(tp.get("date"), pid, f"timepoint #{n + 1}")
        lesions = tp.get("lesions")
        if not isinstance(lesions, list):
            raise _fail(pid, f"timepoint {date}", "lesions must be a list")
        dated.append((date, lesions))
    dated.sort(key=lambda item: item[0])
    for (a, _), (b, _) in pairwise(dated):
        if a == b:
            raise _fail(pid, f"timepoint {a}", "date appears twice (dates must be unique)")

    base_date, base_lesions = dated[0]
    lesions: dict[str, LesionInfo] = {}
    baseline = _parse_baseline(pid, base_date, base_lesions, lesions)
    targets = tuple(i for i, info in lesions.items() if info.role == "target")
    nontargets = tuple(i for i, info in lesions.items() if info.role == "nontarget")
    if not targets and not nontargets:
        raise _fail(pid, f"timepoint {base_date} (baseline)", "no target or non-target lesions")
    followups = tuple(
        _parse_followup(pid, date, entries, lesions, targets, nontargets)
        for date, entries in dated[1:]
    )
    return Case(pid, criteria, confirmation, days["confirmation_min_days"], days["sd_min_days"],
                lesions, baseline, followups, targets, nontargets)


def _lesion_common(pid: str, where: str, entry: Any, seen: set[str]) -> str:
    if not isinstance(entry, dict):
        raise _fail(pid, where, f"lesion must be an object, got {entry!r}")
    lid = entry.get("id")
    if not isinstance(lid, str) or not lid:
        raise _fail(pid, where, f"lesion id must be a non-empty string, got {lid!r}")
    extra = sorted(set(entry) - LESION_FIELDS)
    if extra:
        raise _fail(pid, f"{where}, lesion {lid}", f"unknown field(s) {extra}")
    if lid in seen:
        raise _fail(pid, f"{where}, lesion {lid}", "lesion id appears twice at this timepoint")
    seen.add(lid)
    return lid


def _parse_baseline(
    pid: str, date: dt.date, entries: list, lesions: dict[str, LesionInfo]
) -> Timepoint:
    where = f"timepoint {date} (baseline)"
    seen: set[str] = set()
    measurements: dict[str, Measurement] = {}
    for entry in entries:
        lid = _lesion_common(pid, where, entry, seen)
        at = f"{where}, lesion {lid}"
        role = entry.get("role")
        if role not in ("target", "nontarget"):
            raise _fail(pid, at, f"role at baseline must be 'target' or 'nontarget', got {role!r}")
        organ = entry.get("organ")
        if not isinstance(organ, str) or not organ.strip():
            raise _fail(pid, at, "organ (free text) is required at baseline")
        nodal = entry.get("nodal", None if role == "target" else False)
        if not isinstance(nodal, bool):
            raise _fail(pid, at, f"nodal must be true or false, got {nodal!r}")
        for forbidden in ("merged_into", "new_target"):
            if forbidden in entry:
                raise _fail(pid, at, f"{forbidden} is not allowed at baseline")
        info = LesionInfo(lid, role, organ.strip(), nodal)
        if role == "target":
            if "status" in entry or "diameter_mm" not in entry:
                raise _fail(pid, at, "a baseline target needs diameter_mm (and no status)")
            d = _number(entry["diameter_mm"], pid, at, "diameter_mm")
            limit = MIN_NODAL_TARGET_MM if nodal else MIN_TARGET_MM
            if d < limit:
                kind = "nodal target short axis" if nodal else "non-nodal target"
                raise _fail(pid, at, f"{kind} {d:g} mm is not measurable (needs >= {limit:g} mm; "
                                     f"make it a non-target)")
            measurements[lid] = Measurement(lid, diameter_mm=d)
        else:
            if "diameter_mm" in entry:
                raise _fail(pid, at, "a non-target lesion has no diameter_mm (give status)")
            status = entry.get("status", "present")
            if status not in NONTARGET_STATUSES:
                raise _fail(pid, at, f"unknown non-target status {status!r}")
            measurements[lid] = Measurement(lid, status=status)
        lesions[lid] = info

    targets = [info for info in lesions.values() if info.role == "target"]
    if len(targets) > MAX_TARGETS:
        ids = ", ".join(t.id for t in targets)
        raise _fail(pid, where, f"{len(targets)} target lesions ({ids}); at most {MAX_TARGETS} "
                                f"are allowed")
    per_organ: dict[str, list[str]] = {}
    for t in targets:
        per_organ.setdefault(t.organ_key, []).append(t.id)
    for organ, ids in per_organ.items():
        if len(ids) > MAX_TARGETS_PER_ORGAN:
            raise _fail(pid, f"{where}, lesion {ids[MAX_TARGETS_PER_ORGAN]}",
                        f"{len(ids)} target lesions in organ '{organ}' ({', '.join(ids)}); at most "
                        f"{MAX_TARGETS_PER_ORGAN} per organ (all lymph nodes count as one organ)")
    return Timepoint(date, measurements)


def _parse_followup(
    pid: str,
    date: dt.date,
    entries: list,
    lesions: dict[str, LesionInfo],
    targets: tuple[str, ...],
    nontargets: tuple[str, ...],
) -> Timepoint:
    where = f"timepoint {date}"
    seen: set[str] = set()
    measurements: dict[str, Measurement] = {}
    for entry in entries:
        lid = _lesion_common(pid, where, entry, seen)
        at = f"{where}, lesion {lid}"
        role = entry.get("role")
        known = lesions.get(lid)
        if role == "new" or (known is not None and known.role == "new"):
            measurements[lid] = _parse_new(pid, at, entry, lid, lesions)
            continue
        if known is None:
            raise _fail(pid, at, "id is neither a baseline lesion nor marked \"role\": \"new\"")
        if role is not None and role != known.role:
            raise _fail(pid, at, f"role {role!r} differs from its baseline role {known.role!r}")
        given = [k for k in ("diameter_mm", "status", "merged_into") if k in entry]
        if len(given) != 1:
            raise _fail(pid, at, f"give exactly one of diameter_mm, status, merged_into (got "
                                 f"{given or 'none'})")
        if "new_target" in entry:
            raise _fail(pid, at, "new_target is only for new lesions")
        if known.role == "target":
            measurements[lid] = _parse_target_followup(pid, at, entry, lid, targets)
        else:
            if given != ["status"]:
                raise _fail(pid, at, "a non-target lesion is followed by status only")
            if entry["status"] not in NONTARGET_STATUSES:
                raise _fail(pid, at, f"unknown non-target status {entry['status']!r}")
            measurements[lid] = Measurement(lid, status=entry["status"])
    for tid in targets:
        if tid not in measurements:
            raise _fail(pid, f"{where}, lesion {tid}",
                        "baseline target lesion is missing (give diameter_mm or a status such as "
                        "\"not_evaluated\")")
    for tid, m in measurements.items():
        if m.merged_into is not None:
            into = measurements.get(m.merged_into)
            if m.merged_into == tid or into is None or into.diameter_mm is None:
                raise _fail(pid, f"{where}, lesion {tid}",
                            f"merged_into {m.merged_into!r} must name another target lesion "
                            f"measured at this timepoint (it carries the merged diameter)")
    for nid in nontargets:
        measurements.setdefault(nid, Measurement(nid, status="not_evaluated"))
    return Timepoint(date, measurements)


def _parse_target_followup(
    pid: str, at: str, entry: dict, lid: str, targets: tuple[str, ...]
) -> Measurement:
    if "diameter_mm" in entry:
        return Measurement(lid, diameter_mm=_number(entry["diameter_mm"], pid, at, "diameter_mm"))
    if "merged_into" in entry:
        into = entry["merged_into"]
        if into not in targets:
            raise _fail(pid, at, f"merged_into {into!r} is not a baseline target lesion")
        return Measurement(lid, merged_into=into)
    status = entry["status"]
    if status not in TARGET_STATUSES:
        raise _fail(pid, at, f"target status must be one of {sorted(TARGET_STATUSES)}, got "
                             f"{status!r}")
    return Measurement(lid, status=status)


def _parse_new(
    pid: str, at: str, entry: dict, lid: str, lesions: dict[str, LesionInfo]
) -> Measurement:
    known = lesions.get(lid)
    if known is not None and known.role != "new":
        raise _fail(pid, at, f"a new lesion cannot reuse the baseline id {lid!r}")
    organ = entry.get("organ", known.organ if known else None)
    if not isinstance(organ, str) or not organ.strip():
        raise _fail(pid, at, "a new lesion needs organ")
    status = entry.get("status")
    if status not in NEW_STATUSES:
        raise _fail(pid, at, f"a new lesion's status must be 'equivocal' or 'unequivocal', got "
                             f"{status!r}")
    if "merged_into" in entry:
        raise _fail(pid, at, "merged_into is not allowed for a new lesion")
    diameter = None
    if "diameter_mm" in entry:
        diameter = _number(entry["diameter_mm"], pid, at, "diameter_mm")
    new_target = entry.get("new_target", False)
    if not isinstance(new_target, bool):
        raise _fail(pid, at, f"new_target must be true or false, got {new_target!r}")
    nodal = entry.get("nodal", known.nodal if known else False)
    if not isinstance(nodal, bool):
        raise _fail(pid, at, f"nodal must be true or false, got {nodal!r}")
    if known is None:
        lesions[lid] = LesionInfo(lid, "new", organ.strip(), nodal)
    return Measurement(lid, diameter_mm=diameter, status=status, new_target=new_target)
