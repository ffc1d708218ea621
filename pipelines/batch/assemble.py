"""From the tasks' results (and readers' corrections) to what the job reports: one
record per lesion per timepoint, each patient's RECIST case, the measurement table.

Corrections (see :class:`~pipelines.batch.state.StateStore`) are applied in the
order they were made. Fields:

* ``status``: a target's status (``measured``, ``absent``, ``too_small``,
  ``not_evaluated``) or a non-target's (``present``, ``absent``,
  ``unequivocal_progression``, ``not_evaluated``);
* ``manual_measurement``: ``{long_axis_mm, short_axis_mm, long_axis_endpoints,
  short_axis_endpoints}`` drawn by the reader (method becomes ``manual``);
* ``role``, ``organ``, ``nodal``: the lesion's attributes (every timepoint);
* ``lesion``: a whole lesion record (a lesion the reader added, or re-segmented
  with correction clicks);
* ``accepted``: the reader signed off the timepoint (lesion id ``*``).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["CaseError", "apply_corrections", "build_case", "enforce_measurability",
           "measurement_rows"]

ATTRIBUTES = ("role", "organ", "nodal")
TARGET_STATUSES = ("measured", "absent", "too_small", "not_evaluated")
NONTARGET_STATUSES = ("present", "absent", "unequivocal_progression", "not_evaluated")


class CaseError(ValueError):
    """A patient whose RECIST case cannot be built (e.g. a baseline target unmeasured)."""


def _recist(record: dict[str, Any]) -> None:
    if record.get("long_axis_mm") is None:
        return
    record["recist_diameter_mm"] = (record["short_axis_mm"] if record.get("nodal")
                                    else record["long_axis_mm"])


def apply_corrections(timepoints: list[dict[str, Any]], corrections: list[dict[str, Any]]
                      ) -> list[dict[str, Any]]:
    """Copies of the timepoints (``{"date", "lesions": [...], ...}``) with corrections,
    less those a reader withdrew (undid)."""
    tps = copy.deepcopy(timepoints)
    by_date = {tp["date"]: tp for tp in tps}
    withdrawn = {i for c in corrections if c["field"] == "withdrawn" for i in c["new"]}
    for c in corrections:
        tp = by_date.get(c["date"])
        if tp is None or c["field"] == "withdrawn" or c.get("id") in withdrawn:
            continue
        if c["field"] == "removed":  # at every timepoint; noted at the one it was made at
            for other in tps:
                other["lesions"] = [r for r in other["lesions"]
                                    if r["lesion_id"] != c["lesion_id"]]
            tp.setdefault("removed", []).append({"lesion_id": c["lesion_id"], "by": c["who"],
                                                 "at": c["at"]})
            continue
        note = {k: c[k] for k in ("id", "field", "old", "new", "who", "at")}
        if c["field"] == "accepted":
            tp["accepted"] = {"by": c["who"], "at": c["at"], "value": bool(c["new"])}
            continue
        if c["field"] in ATTRIBUTES:
            for other in tps:
                for r in other["lesions"]:
                    if r["lesion_id"] == c["lesion_id"]:
                        r[c["field"]] = c["new"]
                        _recist(r)
                        r.setdefault("corrections", []).append(note)
            continue
        lesions = tp["lesions"]
        record = next((r for r in lesions if r["lesion_id"] == c["lesion_id"]), None)
        if c["field"] == "lesion":
            new = dict(c["new"], corrections=[*(record or {}).get("corrections", []), note])
            if record is None:
                lesions.append(new)
            else:
                lesions[lesions.index(record)] = new
            continue
        if record is None:
            continue
        record.setdefault("corrections", []).append(note)
        if c["field"] == "manual_measurement":
            record.update(c["new"], status="measured", method="manual")
            _recist(record)
        elif c["field"] == "status":
            if record.get("role") == "nontarget":
                record["nontarget_status"] = c["new"]
            else:
                record["status"] = c["new"]
        else:
            record[c["field"]] = c["new"]
    return tps


def enforce_measurability(timepoints: list[dict[str, Any]]) -> list[str]:
    """Baseline targets RECIST does not accept as measurable (a node under 15 mm short
    axis, another lesion under 10 mm) are scored as non-targets and flagged for the
    reader, instead of making the whole patient unscorable. Returns what was changed."""
    if not timepoints:
        return []
    changed = []
    for r in timepoints[0]["lesions"]:
        if r.get("role") != "target" or r.get("status") != "measured":
            continue
        limit = 15.0 if r.get("nodal") else 10.0
        value = float(r["recist_diameter_mm"])
        if round(value, 1) >= limit:
            continue
        note = (f"baseline {'short' if r.get('nodal') else 'long'} axis {value:.1f} mm is under "
                f"{limit:.0f} mm: not measurable, scored as a non-target")
        changed.append(f"{r['lesion_id']}: {note}")
        for tp in timepoints:
            for other in tp["lesions"]:
                if other["lesion_id"] == r["lesion_id"]:
                    other["role"] = "nontarget"
                    other.setdefault("review_flags", []).append("target_not_measurable")
                    other.setdefault("notes", []).append(note)
    return changed


def _target_entry(r: dict[str, Any]) -> dict[str, Any]:
    status = r.get("status")
    if status == "measured":
        return {"diameter_mm": round(float(r["recist_diameter_mm"]), 1)}
    if status in ("absent", "too_small", "not_evaluated"):
        return {"status": status}
    return {"status": "not_evaluated"}


def nontarget_status(r: dict[str, Any]) -> str:
    return r.get("nontarget_status") or r.get("suggested_status") or (
        "present" if r.get("status") in ("measured", "error") else "not_evaluated")


def build_case(patient_id: str, timepoints: list[dict[str, Any]], criteria: str = "RECIST1.1"
               ) -> dict[str, Any]:
    """The RECIST case (``recist-json.md``) of one patient's corrected timepoints."""
    if not timepoints:
        raise CaseError(f"patient {patient_id}: no timepoint was measured")
    out = []
    for n, tp in enumerate(timepoints):
        lesions = []
        for r in tp["lesions"]:
            role = r.get("role")
            if n == 0:
                if role == "new":
                    continue
                entry: dict[str, Any] = {"id": r["lesion_id"], "role": role,
                                         "organ": r.get("organ") or "unspecified",
                                         "nodal": bool(r.get("nodal"))}
                if role == "target":
                    if r.get("status") != "measured":
                        raise CaseError(
                            f"patient {patient_id}: baseline target {r['lesion_id']} has no "
                            f"measurement ({r.get('error') or r.get('status')})")
                    entry["diameter_mm"] = round(float(r["recist_diameter_mm"]), 1)
                else:
                    entry["status"] = "present"
            elif role == "target":
                entry = {"id": r["lesion_id"], **_target_entry(r)}
            elif role == "nontarget":
                entry = {"id": r["lesion_id"], "status": nontarget_status(r)}
            elif role == "new":
                if r.get("status") in ("absent", "error", "not_evaluated"):
                    continue
                entry = {"id": r["lesion_id"], "role": "new",
                         "organ": r.get("organ") or "unspecified",
                         "status": r.get("new_status", "unequivocal")}
            else:
                continue
            lesions.append(entry)
        out.append({"date": tp["date"], "lesions": lesions})
    return {"patient_id": patient_id, "criteria": criteria, "timepoints": out}


def _xyz(prefix: str, points: Any) -> dict[str, Any]:
    cols = {}
    for n, point in enumerate(points or [None, None], start=1):
        for axis, v in zip("xyz", point or (None, None, None), strict=True):
            cols[f"{prefix}{n}_{axis}_mm"] = None if v is None else round(float(v), 2)
    return cols


def _num(value: Any, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def measurement_rows(patient_id: str, timepoints: list[dict[str, Any]]
                     ) -> list[dict[str, Any]]:
    """One row per lesion per timepoint (the columns of ``measurements.csv``)."""
    rows = []
    for tp in timepoints:
        for r in tp["lesions"]:
            status = (nontarget_status(r) if r.get("role") == "nontarget" else r.get("status"))
            rows.append({
                "patient_id": patient_id, "study_date": tp["date"],
                "study_uid": tp["study_uid"], "series_uid": tp["series_uid"],
                "lesion_id": r["lesion_id"], "role": r.get("role"), "organ": r.get("organ"),
                "nodal": bool(r.get("nodal")), "status": status,
                "long_axis_mm": _num(r.get("long_axis_mm"), 2),
                "short_axis_mm": _num(r.get("short_axis_mm"), 2),
                "recist_diameter_mm": _num(r.get("recist_diameter_mm"), 2),
                "volume_ml": _num(r.get("volume_ml"), 4),
                "slice_z_mm": _num(r.get("slice_z_mm"), 2),
                **_xyz("long_axis_end", r.get("long_axis_endpoints")),
                **_xyz("short_axis_end", r.get("short_axis_endpoints")),
                "method": r.get("method"),
                "registration_residual_mm": r.get("registration_residual_mm"),
                "review_flags": ";".join(r.get("review_flags", [])),
                "corrected": bool(r.get("corrections")),
                "error": r.get("error", ""),
            })
    return rows
