"""The batch job's units of work, one per timepoint; they run in worker processes
(local or on a Dask cluster) and return plain JSON-able dicts.

* :func:`baseline_task`: segment and measure every baseline prompt.
* :func:`followup_task`: register the timepoint to baseline, follow every known
  lesion (:func:`imaging.follow.follow_lesion`), and segment the lesions a
  reader prompted at this timepoint (new lesions, corrections).

Each task also writes the timepoint's files under OUT (label mask, thumbnails,
DICOM SEG and SR: :mod:`pipelines.batch.exports`); paths in the result are
relative to OUT.
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from imaging.errors import CaliperError, InputError, PromptError
from imaging.follow import LesionReference, follow_lesion, reference_of
from imaging.io.dicom_series import load_series
from imaging.segment import LinePrompt, Prompt, Segmentation, segment
from imaging.tracking import Registration, register, transform_to_dict
from imaging.volume import Volume

from .exports import TimepointFiles, write_timepoint_files
from .plan import Timepoint
from .prompts import LesionPrompt

__all__ = ["TaskSpec", "baseline_task", "followup_task", "run_task", "track"]

NT_GROWTH_VOLUME = 1.728  # a 20% larger diameter: a suggestion of non-target progression


@dataclass
class TaskSpec:
    """Everything a worker needs for one timepoint (picklable)."""

    key: str
    out: str
    kind: str  # baseline | followup
    timepoint: Timepoint
    labels: dict[str, int]
    """Lesion id -> label value in the masks (stable across the patient's timepoints)."""
    order: int
    """0 at baseline, then 1, 2, ... (the SR's time point order)."""
    baseline: Timepoint | None = None
    references: list[dict[str, Any]] = field(default_factory=list)
    """Known lesions to follow: role, organ, nodal and a LesionReference (baseline LPS)."""
    threads: int = 1


def run_task(spec: TaskSpec) -> dict[str, Any]:
    """Run one task; an input error becomes ``{"error": ...}`` instead of an exception."""
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(max(1, spec.threads))
    start = time.perf_counter()
    try:
        result = (baseline_task if spec.kind == "baseline" else followup_task)(spec)
    except CaliperError as exc:
        result = {"error": str(exc), "error_kind": type(exc).__name__}
    except Exception as exc:  # noqa: BLE001 - one bad study never stops the batch
        result = {"error": f"{type(exc).__name__}: {exc}", "error_kind": "internal",
                  "traceback": traceback.format_exc(limit=6)}
    tp = spec.timepoint
    result.update({"key": spec.key, "kind": spec.kind, "patient_id": tp.patient_id,
                   "study_uid": tp.study_uid, "date": tp.date,
                   "series_uid": tp.series.series_uid, "series_choice": tp.choice,
                   "files": [str(i.path) for i in tp.series.instances],
                   "seconds": round(time.perf_counter() - start, 2), "worker_pid": os.getpid()})
    return result


_BASELINE: dict[str, Volume] = {}
"""This worker's last baseline volume, by its series' content key: a patient's follow-ups
mostly run one after another and each needs it. Its array is read-only."""


def _load(tp: Timepoint, *, baseline: bool = False) -> Volume:
    if baseline and tp.key in _BASELINE:
        return _BASELINE[tp.key]
    try:
        volume = load_series(tp.series)
    except InputError as exc:
        raise type(exc)(f"{tp.patient_id} {tp.date} (study {tp.study_uid}): {exc}") from exc
    if baseline:
        volume.array.flags.writeable = False
        _BASELINE.clear()
        _BASELINE[tp.key] = volume
    return volume


LONGER_THAN_DRAWN = 1.2  # a long axis past this times the drawn line is flagged for review


def _measured(seg: Segmentation) -> dict[str, Any]:
    m = seg.measurement.to_dict()
    keep = ("long_axis_mm", "short_axis_mm", "recist_diameter_mm", "volume_ml", "voxels",
            "slice_z_mm", "long_axis_endpoints", "short_axis_endpoints", "max_3d_diameter_mm")
    return {k: m[k] for k in keep}


def clicks_record(inside, outside) -> dict[str, list[list[float]]]:
    """A lesion's correction clicks as its record keeps them (the prompt sheet's, or a
    reader's in the review): LPS mm, inside and outside."""
    return {"inside": [[float(v) for v in c] for c in inside],
            "outside": [[float(v) for v in c] for c in outside]}


def _prompt_record(p: LesionPrompt, volume: Volume, method: str
                   ) -> tuple[dict[str, Any], Segmentation | None]:
    prompt = p.prompt()
    record: dict[str, Any] = {"lesion_id": p.lesion_id, "role": p.role, "organ": p.organ,
                              "nodal": p.nodal, "method": method, "prompt": p.kind,
                              "prompt_lps": list(prompt.point), "review_flags": []}
    if p.end is not None:  # the review re-segments with it
        record[f"prompt_{p.kind}_lps"] = [list(p.point), list(p.end)]
    if p.inside or p.outside:
        record["clicks"] = clicks_record(p.inside, p.outside)
    try:
        seg = segment(volume, prompt, nodal=p.nodal)
    except PromptError as exc:
        record.update(status="error", error=f"lesion {p.lesion_id} (line {p.line}): {exc}",
                      review_flags=["segmentation_failed"])
        return record, None
    record.update(status="measured", **_measured(seg),
                  segmentation={k: v for k, v in seg.details.items() if k != "method"})
    record["review_flags"] += drawn_flags(seg, prompt, p.nodal)
    return record, seg


def drawn_flags(seg: Segmentation, prompt: Prompt, nodal: bool) -> list[str]:
    """What a lesion measured from a drawn line or box asks of its reviewer:
    ``bounded_by_line`` or ``bounded_by_box`` (the image gave no edge: what was drawn is
    its extent), or ``longer_than_drawn`` (the reader drew the longest diameter: a long
    axis well past it is a leak, or a line drawn short; a box bounds the lesion itself,
    and a node's line is its short axis)."""
    if seg.bounded_by:
        return [f"bounded_by_{seg.bounded_by}"]
    if (isinstance(prompt, LinePrompt) and not nodal
            and seg.measurement.long_axis_mm > LONGER_THAN_DRAWN * prompt.expected_diameter_mm):
        return ["longer_than_drawn"]
    return []


def baseline_task(spec: TaskSpec) -> dict[str, Any]:
    tp = spec.timepoint
    clock = time.perf_counter()
    volume = _load(tp, baseline=True)
    load = round(time.perf_counter() - clock, 3)
    records, segs = [], {}
    clock = time.perf_counter()
    for p in tp.prompts:
        record, seg = _prompt_record(p, volume, "prompt")
        if seg is not None:
            record["reference"] = asdict(reference_of(p.lesion_id, seg, volume, nodal=p.nodal))
            record["centre_lps"] = list(record["reference"]["centre_lps"])
            segs[p.lesion_id] = seg
        records.append(record)
    timings = {"segment": round(time.perf_counter() - clock, 3)}
    return {"lesions": records, "warnings": list(volume.warnings), "timings": timings,
            **_write_outputs(spec, volume, records, segs, load)}


def followup_task(spec: TaskSpec) -> dict[str, Any]:
    tp = spec.timepoint
    assert spec.baseline is not None
    clock = time.perf_counter()
    baseline, volume = _load(spec.baseline, baseline=True), _load(tp)
    load = round(time.perf_counter() - clock, 3)
    clock = time.perf_counter()
    reg = register(baseline, volume)
    timings = {"register": round(time.perf_counter() - clock, 3)}
    clock = time.perf_counter()
    to_baseline = reg.inverse()
    prompted = {p.lesion_id: p for p in tp.prompts}
    records, segs = [], {}
    for known in spec.references:
        lesion_id = known["lesion_id"]
        base = {k: known[k] for k in ("lesion_id", "role", "organ", "nodal")}
        if lesion_id in prompted:  # a reader's correction of where the lesion is
            continue
        record, seg = track(baseline, volume, reg, base, known["reference"])
        if seg is not None:
            segs[lesion_id] = seg
        records.append(record)
    for p in tp.prompts:
        record, seg = _prompt_record(p, volume, "reader-prompt")
        if seg is not None:
            segs[p.lesion_id] = seg
            record["centre_lps"] = list(map(float, seg.centre_lps))
            if p.role == "new":
                record["reference"] = asdict(reference_of(p.lesion_id, seg, volume,
                                                          nodal=p.nodal,
                                                          to_baseline=to_baseline))
        records.append(record)
    timings["follow_and_segment"] = round(time.perf_counter() - clock, 3)
    return {"lesions": records, "registration": transform_to_dict(reg), "timings": timings,
            "warnings": list(volume.warnings),
            **_write_outputs(spec, volume, records, segs, load)}


def track(baseline: Volume, volume: Volume, reg: Registration, lesion: dict[str, Any],
          reference: dict[str, Any]) -> tuple[dict[str, Any], Segmentation | None]:
    """Follow one known lesion (``lesion``: its id, role, organ and nodal; ``reference``:
    its :class:`LesionReference` as a dict) into ``volume``: its record at this timepoint
    (measurement or the evidence of its absence) and its segmentation, if found."""
    ref = LesionReference(**{**reference, "centre_lps": tuple(reference["centre_lps"])})
    found = follow_lesion(baseline, volume, reg, ref)
    record = {**lesion, "method": "tracked", "status": found.status,
              "mapped_lps": list(found.mapped_lps), "evidence": found.evidence,
              "review_flags": list(found.flags),
              "registration_residual_mm": (None if found.residual_mm is None
                                           else round(found.residual_mm, 2))}
    if found.segmentation is not None:
        record.update(_measured(found.segmentation))
        record["centre_lps"] = list(map(float, found.segmentation.centre_lps))
    if lesion["role"] == "nontarget":
        record["suggested_status"] = _suggest_nontarget(record, ref)
        record["review_flags"].append("suggested_status")
    return record, found.segmentation


def _suggest_nontarget(record: dict[str, Any], ref: LesionReference) -> str:
    status = record["status"]
    if status == "absent":
        return "absent"
    if status == "not_evaluated":
        return "not_evaluated"
    if ref.nodal and record.get("short_axis_mm", 99.0) < 10.0:
        return "absent"  # a normalised node
    if status == "measured" and record.get("volume_ml", 0.0) > NT_GROWTH_VOLUME * ref.volume_ml:
        record["review_flags"].append("possible_progression")
    return "present"


def _write_outputs(spec: TaskSpec, volume: Volume, records: list[dict[str, Any]],
                   segs: dict[str, Segmentation], load_seconds: float) -> dict[str, Any]:
    """Label mask, thumbnails, DICOM SEG and SR of the timepoint (paths relative to OUT),
    and the seconds spent loading and writing (``overheads``)."""
    clock = time.perf_counter()
    tp = spec.timepoint
    labels = np.zeros(volume.array.shape, dtype=np.uint8)
    for lesion_id, seg in segs.items():
        labels[seg.full_mask(volume.geometry) > 0] = spec.labels[lesion_id]
    for r in records:
        r["label"] = spec.labels[r["lesion_id"]]
    where = TimepointFiles(tp.patient_id, tp.date, tp.study_uid, tp.series, spec.order)
    files = write_timepoint_files(Path(spec.out), where, volume, labels, records)
    files["overheads"] = {"load": load_seconds,
                          "export": round(time.perf_counter() - clock, 3)}
    return files
