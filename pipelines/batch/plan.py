"""From a folder inventory and a prompt sheet to the job's plan: patients, their
timepoints (one study each, in date order, the first being baseline), the series
measured at each, and the prompts that belong to each timepoint.

Patients and timepoints come from DICOM tags (PatientID, StudyInstanceUID,
StudyDate; when an anonymiser blanked it alone, the measured series' SeriesDate,
AcquisitionDate or ContentDate, with a warning), never from folder names. The
series of a timepoint is chosen by :func:`imaging.io.select.choose_series`
(soft-tissue kernel first by default, so every timepoint of a patient is measured
on comparable images).

Prompts are checked against the images before any work starts: unknown
patient, unknown study date, a point outside the image it belongs to, a new
lesion reusing a baseline id. Every bad row is listed at once (exit 2).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from imaging.errors import InputError
from imaging.io.discover import Inventory, Series
from imaging.io.select import KernelPreference, choose_series

from .prompts import LesionPrompt, PromptSheetError

__all__ = ["PatientPlan", "Timepoint", "make_plan", "series_key"]


@dataclass
class Timepoint:
    patient_id: str
    study_uid: str
    date: str
    series: Series
    choice: str
    key: str
    """Content key of the series (SOP instance UIDs and file sizes)."""
    prompts: list[LesionPrompt] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.patient_id} {self.date}"


@dataclass
class PatientPlan:
    patient_id: str
    timepoints: list[Timepoint]
    warnings: list[str] = field(default_factory=list)
    left_out: list[dict[str, str]] = field(default_factory=list)
    """Studies not measured, each as an ``errors.csv`` row (one without a date, or a
    second on one date)."""

    @property
    def baseline(self) -> Timepoint:
        return self.timepoints[0]

    @property
    def followups(self) -> list[Timepoint]:
        return self.timepoints[1:]


def series_key(series: Series) -> str:
    """A key of the series' content: its instances' SOP UIDs and file sizes."""
    h = hashlib.sha256(series.series_uid.encode())
    for inst in sorted(series.instances, key=lambda i: i.sop_instance_uid):
        size = inst.path.stat().st_size if inst.path.exists() else -1
        h.update(f"{inst.sop_instance_uid}:{size};".encode())
    return h.hexdigest()[:20]


def _contains(series: Series, point: tuple[float, float, float]) -> tuple[bool, str]:
    """Whether an LPS point lies in the series' image block (from headers only)."""
    first = series.first
    if first.orientation is None or first.pixel_spacing is None:
        return True, ""
    iop = np.asarray(first.orientation, dtype=float)
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    positions = np.asarray([i.position for i in series.instances
                            if i.position is not None and not i.is_localizer])
    if positions.size == 0:
        return True, ""
    along = positions @ normal
    origin = positions[np.argmin(along)]
    spacing = series.slice_spacing_mm or first.slice_thickness or 1.0
    d = np.asarray(point) - origin
    i = d @ row / first.pixel_spacing[1]
    j = d @ col / first.pixel_spacing[0]
    k = d @ normal
    depth = float(along.max() - along.min())
    inside = (-0.5 <= i <= first.columns - 0.5 and -0.5 <= j <= first.rows - 0.5
              and -spacing / 2 <= k <= depth + spacing / 2)
    lo = origin
    hi = origin + row * first.pixel_spacing[1] * (first.columns - 1) + col * \
        first.pixel_spacing[0] * (first.rows - 1) + normal * depth
    extent = (f"extent {np.round(np.minimum(lo, hi), 1).tolist()} to "
              f"{np.round(np.maximum(lo, hi), 1).tolist()} mm")
    return bool(inside), extent


def make_plan(inventory: Inventory, prompts: list[LesionPrompt], *,
              kernel: KernelPreference = "soft", source: str = "prompts",
              sheet_problems: list[str] | None = None, unprompted: Collection[str] = ()
              ) -> tuple[list[PatientPlan], list[str]]:
    """The plan of every prompted patient, and warnings (e.g. patients without prompts).

    ``sheet_problems`` (rows that did not parse) are reported with the plan's own,
    so one error lists every bad row. ``unprompted``: patients planned without prompts
    (their timepoints registered, no lesions yet: a reader adds them in review)."""
    studies: dict[str, dict[str, list[Series]]] = {}
    for s in inventory.series:
        if s.is_localizer or s.first.modality != "CT":
            continue
        studies.setdefault(s.first.patient_id, {}).setdefault(s.first.study_uid, []).append(s)
    if not studies:
        raise InputError(f"{inventory.root}: no CT series found "
                         f"({len(inventory.skipped)} file(s) skipped)")
    missing = sorted(set(unprompted) - set(studies))
    if missing:
        raise InputError(f"{inventory.root}: no CT study of patient(s) {', '.join(missing)} "
                         f"(patients found: {', '.join(sorted(studies))})")
    warnings = [f"patient {pid}: CT studies found but no prompts; not measured"
                for pid in sorted(set(studies) - {p.patient_id for p in prompts}
                                  - set(unprompted))]
    problems: list[str] = list(sheet_problems or [])
    plans: list[PatientPlan] = []
    by_patient: dict[str, list[LesionPrompt]] = {}
    for p in prompts:
        by_patient.setdefault(p.patient_id, []).append(p)
    for pid, rows in by_patient.items():
        if pid not in studies:
            known = ", ".join(sorted(studies)) or "none"
            problems += [f"line {r.line}: patient {pid} has no CT study under "
                         f"{inventory.root} (patients found: {known})" for r in rows]
            continue
        plan = _patient_plan(pid, studies[pid], kernel)
        if not plan.timepoints:  # no study it could be measured on: errors.csv says why
            plans.append(plan)
            continue
        by_date = {tp.date: tp for tp in plan.timepoints}
        baseline_ids = {r.lesion_id for r in rows if r.study_date is None}
        for r in rows:
            if r.study_date is None:
                tp = plan.baseline
            elif r.study_date not in by_date:
                problems.append(f"line {r.line}: patient {pid} has no study on {r.study_date} "
                                f"(dates: {', '.join(sorted(by_date))})")
                continue
            else:
                tp = by_date[r.study_date]
            if r.role == "new" and r.lesion_id in baseline_ids:
                problems.append(f"line {r.line}: new lesion {r.lesion_id} of patient {pid} "
                                "reuses the id of a baseline lesion")
                continue
            if r.role != "new" and r.study_date is not None and r.lesion_id not in baseline_ids:
                problems.append(f"line {r.line}: lesion {r.lesion_id} of patient {pid} is "
                                f"prompted on {r.study_date} but has no baseline prompt "
                                "(use role new for a lesion that appears later)")
                continue
            if tp is plan.baseline and r.study_date is not None and r.role == "new":
                problems.append(f"line {r.line}: new lesion {r.lesion_id} is dated at baseline")
                continue
            outside = None
            for what, point in [("point", r.point), *([("point", r.end)] if r.end else []),
                                *[("inside click", c) for c in r.inside],
                                *[("outside click", c) for c in r.outside]]:
                inside, extent = _contains(tp.series, point)
                if not inside:
                    outside = (f"line {r.line}: {what} {list(point)} of lesion {r.lesion_id} "
                               f"is outside series {tp.series.series_uid} of {pid} on "
                               f"{tp.date} ({extent})")
                    break
            if outside:
                problems.append(outside)
                continue
            tp.prompts.append(r)
        if not any(r.study_date is None for r in rows):
            problems.append(f"patient {pid}: no baseline prompt (rows without study_date)")
        plans.append(plan)
    plans += [_patient_plan(pid, studies[pid], kernel) for pid in sorted(set(unprompted))
              if pid not in by_patient]
    if problems:
        def line(problem: str) -> int:
            return int(m.group(1)) if (m := re.match(r"line (\d+)", problem)) else 0

        raise PromptSheetError(Path(source), sorted(problems, key=line))
    return plans, warnings


def _patient_plan(pid: str, studies: dict[str, list[Series]], kernel: KernelPreference
                  ) -> PatientPlan:
    timepoints: list[Timepoint] = []
    warnings: list[str] = []
    left_out: list[dict[str, str]] = []

    def leave_out(date: str, study_uid: str, chosen: Series, error: str) -> None:
        warnings.append(f"patient {pid}: {error}")
        left_out.append({"patient_id": pid, "study_date": date, "study_uid": study_uid,
                         "series_uid": chosen.series_uid, "stage": "plan", "error": error})

    for study_uid, series in studies.items():
        inv = Inventory(root=series[0].first.path.parent, series=series, skipped=[])
        choice = choose_series(inv, study_uid=study_uid, kernel=kernel)
        first = choice.series.first
        date = first.study_date or first.series_date
        if not date:  # anonymised without a date (dcm_qa_ct's GE head CT): it would have
            # sorted first, as the baseline, and named its files ''
            leave_out("", study_uid, choice.series, f"study {study_uid} has no StudyDate "
                      "(0008,0020), nor a SeriesDate, AcquisitionDate or ContentDate in its "
                      "series: a timepoint must be placed in time; not measured")
            continue
        if not first.study_date:  # an anonymiser that blanks StudyDate alone
            warnings.append(f"patient {pid}: study {study_uid} has no StudyDate (0008,0020); "
                            f"placed on {date}, the date of its series {first.series_uid}")
        timepoints.append(Timepoint(pid, study_uid, date, choice.series, choice.describe(),
                                    series_key(choice.series)))
    timepoints.sort(key=lambda t: (t.date, t.study_uid))
    kept: list[Timepoint] = []
    for tp in timepoints:
        if kept and kept[-1].date == tp.date:
            leave_out(tp.date, tp.study_uid, tp.series, f"two studies on {tp.date}: measured "
                      f"{kept[-1].study_uid}, left out {tp.study_uid}")
            continue
        kept.append(tp)
    return PatientPlan(pid, kept, warnings, left_out)
