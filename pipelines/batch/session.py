"""A reader's review of one patient of a batch job's output: the model behind
``caliper review`` (no GUI here; the napari widget drives it).

It reads the job's results from OUT's state store, applies the corrections made
so far, and records every new correction at once (who, when, old and new value),
so nothing is lost if the viewer is closed. ``save()`` writes the corrected
timepoints' files again (mask, thumbnails, DICOM SEG and SR with the reader as an
observer) and regenerates the job's outputs (tables, RECIST results, cohort,
report) from the corrected results.
"""

from __future__ import annotations

import getpass
import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from imaging.errors import InputError
from imaging.follow import reference_of
from imaging.io import discover
from imaging.io.atomic import atomic_path
from imaging.io.dicom_series import load_series
from imaging.io.discover import Series
from imaging.io.image_files import read_image_file
from imaging.recist import score
from imaging.segment import BoxPrompt, LinePrompt, PointPrompt, segment
from imaging.tracking import Registration, transform_from_dict
from imaging.volume import Volume

from .assemble import CaseError, apply_corrections, build_case, enforce_measurability
from .exports import TimepointFiles, write_timepoint_files
from .state import StateStore
from .tasks import clicks_record, drawn_flags, track

__all__ = ["ReviewSession", "export_corrected_again"]


class ReviewSession:
    def __init__(self, out: Path, patient_id: str, *, who: str | None = None) -> None:
        self.out = Path(out)
        job = self.out / "job.json"
        if not job.is_file():
            raise InputError(f"{self.out}: not a batch job's output (no job.json)")
        self.job = json.loads(job.read_text())
        if patient_id not in self.job["patients"]:
            raise InputError(f"{self.out}: no patient {patient_id} (patients: "
                             f"{', '.join(sorted(self.job['patients']))})")
        self.patient_id = patient_id
        self.who = who or getpass.getuser()
        self.state = StateStore(self.out / "state.sqlite")
        self._raw = [r for tp in self.job["patients"][patient_id]
                     if tp["key"] and (r := self.state.result(tp["key"])) and "error" not in r]
        if not self._raw:
            raise InputError(f"{self.out}: patient {patient_id} has no measured timepoint")
        self._volumes: dict[str, Volume] = {}
        self._actions: list[list[int]] = []  # this session's changes, for undo: their ids
        self._series: dict[str, Series] = {}
        self.refresh()

    # reading ---------------------------------------------------------------
    def refresh(self) -> None:
        self._history = self.state.corrections(self.patient_id)  # (segmentation off the
        # GUI thread reads this copy: the store belongs to the thread that opened it)
        self.timepoints = apply_corrections(self._raw, self._history)
        self.notes = enforce_measurability(self.timepoints)

    @property
    def dates(self) -> list[str]:
        return [tp["date"] for tp in self.timepoints]

    def timepoint(self, date: str) -> dict[str, Any]:
        for tp in self.timepoints:
            if tp["date"] == date:
                return tp
        raise InputError(f"patient {self.patient_id}: no timepoint on {date}")

    def lesion(self, date: str, lesion_id: str) -> dict[str, Any]:
        for r in self.timepoint(date)["lesions"]:
            if r["lesion_id"] == lesion_id:
                return r
        raise InputError(f"patient {self.patient_id} {date}: no lesion {lesion_id}")

    def series(self, date: str) -> Series:
        if date not in self._series:
            files = self.timepoint(date)["files"]
            self._series[date] = discover([Path(f) for f in files]).series[0]
        return self._series[date]

    def volume(self, date: str) -> Volume:
        if date not in self._volumes:
            self._volumes[date] = load_series(self.series(date))
        return self._volumes[date]

    def labels(self, date: str) -> np.ndarray:
        """The timepoint's label mask (corrected lesions pasted over the job's; a removed
        lesion's gone)."""
        tp = self.timepoint(date)
        batch = self._batch_mask(date)
        labels = read_image_file(batch if batch.is_file() else self.out / tp["mask"]
                                 ).array.astype(np.uint8)
        labels[~np.isin(labels, [0, *(r["label"] for r in tp["lesions"] if "label" in r)])] = 0
        for r in tp["lesions"]:
            if r.get("mask_rle"):
                labels[labels == r["label"]] = 0
                labels[_decode(r["mask_rle"], labels.shape)] = r["label"]
            elif r.get("status") in ("absent", "not_evaluated") and r.get("corrections"):
                labels[labels == r["label"]] = 0
        return labels

    def _batch_mask(self, date: str) -> Path:
        """Where the job's own mask of ``date`` is kept once a save has written the
        corrected one in its place (an undone correction needs the job's outline back),
        per task: a rerun that computes the timepoint afresh writes a new one."""
        name = Path(self.timepoint(date)["mask"]).name.removesuffix(".nii.gz")
        return self.out / "masks" / "batch" / f"{name}.{self._outline(date)['key'][:16]}.nii.gz"

    def _outline(self, date: str) -> dict[str, Any]:
        """``job.json``'s entry for the timepoint: its UIDs and task key."""
        return next(t for t in self.job["patients"][self.patient_id] if t["date"] == date)

    def lesion_ids(self) -> list[str]:
        ids: list[str] = []
        for tp in self.timepoints:
            ids += [r["lesion_id"] for r in tp["lesions"] if r["lesion_id"] not in ids]
        return ids

    def label_of(self, lesion_id: str) -> int:
        for tp in self.timepoints:
            for r in tp["lesions"]:
                if r["lesion_id"] == lesion_id and "label" in r:
                    return int(r["label"])
        return 0

    def table(self) -> list[dict[str, Any]]:
        """One row per lesion: attributes, diameter and status at each timepoint, flags."""
        from .assemble import nontarget_status

        rows = []
        for lesion_id in self.lesion_ids():
            row: dict[str, Any] = {"lesion_id": lesion_id, "diameters": {}, "statuses": {},
                                   "flags": []}
            for tp in self.timepoints:
                r = next((x for x in tp["lesions"] if x["lesion_id"] == lesion_id), None)
                if r is None:
                    continue
                row.update({k: r.get(k) for k in ("role", "organ", "nodal")})
                row["diameters"][tp["date"]] = r.get("recist_diameter_mm")
                row["statuses"][tp["date"]] = (nontarget_status(r) if r.get("role") ==
                                               "nontarget" else r.get("status"))
                row["flags"] += [f for f in r.get("review_flags", []) if f not in row["flags"]]
                if r.get("method") == "manual":
                    row["flags"].append(f"manual {tp['date']}")
            rows.append(row)
        return rows

    def recist(self) -> dict[str, Any]:
        """The RECIST result of the corrected timepoints, or ``{"error": ...}``."""
        try:
            return score(build_case(self.patient_id, self.timepoints,
                                    self.job.get("criteria", "RECIST1.1")))
        except (CaseError, InputError) as exc:
            return {"error": str(exc)}

    # corrections -----------------------------------------------------------
    def _correct(self, date: str, lesion_id: str, field: str, old: Any, new: Any, *,
                 part_of_last: bool = False) -> None:
        """Record one correction; ``part_of_last``: it belongs to the reader's last action
        (a lesion followed into later timepoints), which :meth:`undo` withdraws whole."""
        made = self.state.correct(self.patient_id, date, lesion_id, field, old, new, self.who)
        if part_of_last and self._actions:
            self._actions[-1].append(made)
        else:
            self._actions.append([made])
        self.refresh()

    def remove_lesion(self, lesion_id: str) -> None:
        """Take a lesion out at every timepoint (added by mistake, or not a lesion): its
        records and its mask go; the correction is kept, and :meth:`undo` brings it back."""
        records = [r for tp in self.timepoints for r in tp["lesions"]
                   if r["lesion_id"] == lesion_id]
        if not records:
            raise InputError(f"patient {self.patient_id}: no lesion {lesion_id}")
        self._correct(self.dates[0], lesion_id, "removed", _brief(records[0]), True)

    def undo(self) -> dict[str, Any] | None:
        """Withdraw this session's last action (every correction it made: a lesion added
        and followed, a re-segmentation, a measurement, a status, a removal, a sign-off),
        last first; the withdrawal is recorded too (who, when, which corrections). Returns
        the first withdrawn correction (its field, lesion and date), or None when this
        session has made no change left to undo (another session's are not undone)."""
        if not self._actions:
            return None
        ids = self._actions.pop()
        first = next(c for c in self._history if c["id"] == ids[0])
        self.state.correct(self.patient_id, first["date"], first["lesion_id"], "withdrawn",
                           None, ids, self.who)
        self.refresh()
        return {k: first[k] for k in ("field", "lesion_id", "date", "old", "new")}

    def add_lesion(self, date: str, point_lps, **options: Any) -> dict[str, Any]:
        """Segment at a click and add (or replace) the lesion at ``date``."""
        return self.commit(self.prepare_lesion(date, point_lps, **options))

    def commit(self, prepared: tuple[str, str, Any, dict[str, Any]]) -> dict[str, Any]:
        """Record a lesion made by :meth:`prepare_lesion` (on the thread owning the store),
        and where it was followed into later timepoints, its records there."""
        date, lesion_id, old, record = prepared
        followed = record.pop("followed", {})
        self._correct(date, lesion_id, "lesion", old, record)
        for later, tracked in followed.items():
            self._correct(later, lesion_id, "lesion", None, tracked, part_of_last=True)
        return self.lesion(date, lesion_id)

    def prepare_lesion(self, date: str, point_lps, *, lesion_id: str | None = None,
                       role: str | None = None, organ: str = "unspecified", nodal: bool = False,
                       positive=(), negative=(), box=None, line=None
                       ) -> tuple[str, str, Any, dict[str, Any]]:
        """Segment at a click, in a ``box`` drawn around the lesion (two opposite corners,
        LPS mm; its centre is the click), or from a ``line`` drawn across it (its longest
        diameter, or a node's short axis: two ends, LPS mm, on one axial slice); nothing is
        stored yet (safe off the GUI thread)."""
        volume = self.volume(date)
        baseline = date == self.dates[0]
        role = role or ("target" if baseline else "new")
        lesion_id = lesion_id or self._new_id("N" if role == "new" else "L")
        extra = {"positive": tuple(positive), "negative": tuple(negative)}
        drawn = "box" if box is not None else "line" if line is not None else None
        prompt = (BoxPrompt(*box, **extra) if drawn == "box" else
                  LinePrompt(*line, **extra) if drawn == "line" else
                  PointPrompt(point_lps, **extra))
        point_lps = prompt.point
        seg = segment(volume, prompt, nodal=nodal)
        m = seg.measurement.to_dict()
        mask = seg.full_mask(volume.geometry) > 0
        label = self.label_of(lesion_id) or (max([self.label_of(i) for i in self.lesion_ids()]
                                                 or [0]) + 1)
        record = {"lesion_id": lesion_id, "role": role, "organ": organ, "nodal": nodal,
                  "method": f"reader-{drawn or 'click'}",
                  "status": "measured", "label": label,
                  "prompt_lps": [float(v) for v in point_lps],
                  "review_flags": drawn_flags(seg, prompt, nodal),
                  **{k: m[k] for k in ("long_axis_mm", "short_axis_mm", "recist_diameter_mm",
                                       "volume_ml", "voxels", "slice_z_mm",
                                       "long_axis_endpoints", "short_axis_endpoints")},
                  "mask_rle": _encode(mask)}
        if drawn:  # a correction re-segments with it
            record[f"prompt_{drawn}_lps"] = [list(map(float, c)) for c in (box or line)]
        if positive or negative:
            record["clicks"] = clicks_record(positive, negative)
        if baseline or role == "new":  # a lesion to look for later: where it is at baseline
            reg = None if baseline else self._registration(date)
            to_baseline = None if reg is None else reg.inverse()
            record["reference"] = asdict(reference_of(lesion_id, seg, volume, nodal=nodal,
                                                      to_baseline=to_baseline))
            record["followed"] = self._follow(record, after=date)
        old = next((r for r in self.timepoint(date)["lesions"] if r["lesion_id"] == lesion_id),
                   None)
        return date, lesion_id, _brief(old), record

    def _registration(self, date: str) -> Registration | None:
        """The job's registration of ``date`` (baseline LPS -> its LPS), if it has one."""
        raw = next((r for r in self._raw if r["date"] == date), {})
        if "registration" not in raw:
            return None
        return Registration(transform_from_dict(raw["registration"]),
                            raw["registration"]["metric"])

    def _follow(self, record: dict[str, Any], *, after: str) -> dict[str, dict[str, Any]]:
        """A lesion the reader added, followed (as the batch follows a prompted one) into
        every timepoint after ``after`` that does not have it yet: date -> its record."""
        lesion = {k: record[k] for k in ("lesion_id", "role", "organ", "nodal")}
        baseline = self.volume(self.dates[0])
        followed = {}
        for tp in self.timepoints[1:]:
            reg = self._registration(tp["date"])
            if tp["date"] <= after or reg is None or any(
                    r["lesion_id"] == lesion["lesion_id"] for r in tp["lesions"]):
                continue
            volume = self.volume(tp["date"])
            tracked, seg = track(baseline, volume, reg, lesion, record["reference"])
            tracked["label"] = record["label"]
            if seg is not None:
                tracked["mask_rle"] = _encode(seg.full_mask(volume.geometry) > 0)
            followed[tp["date"]] = tracked
        return followed

    def prepare_clicks(self, date: str, lesion_id: str, positive=(), negative=(),
                       keep: bool = True) -> tuple[str, str, Any, dict[str, Any]]:
        """Segment the lesion again with extra positive/negative clicks (not stored yet),
        from the line or in the box it was drawn with, if any (a lesion without an edge
        has only the line's extent), and with ``keep`` the clicks it was made with (a
        correction before, or the prompt sheet's): corrections add up. Without, the clicks
        given are all it has (the review passes those it shows, so that a click the reader
        deleted goes)."""
        r = self.lesion(date, lesion_id)
        seed = r.get("prompt_lps") or r.get("centre_lps") or r.get("mapped_lps")
        made = r.get("clicks", {}) if keep else {}

        def merged(kept, given) -> list[tuple[float, ...]]:  # in order, each once
            return list(dict.fromkeys(tuple(map(float, c)) for c in (*kept, *given)))

        positive = merged(made.get("inside", []), positive)
        negative = merged(made.get("outside", []), negative)
        return self.prepare_lesion(date, seed, lesion_id=lesion_id, role=r["role"],
                                   organ=r["organ"], nodal=bool(r["nodal"]),
                                   positive=positive, negative=negative,
                                   box=r.get("prompt_box_lps"), line=r.get("prompt_line_lps"))

    def correct_clicks(self, date: str, lesion_id: str, positive=(), negative=()
                       ) -> dict[str, Any]:
        return self.commit(self.prepare_clicks(date, lesion_id, positive, negative))

    def set_axes(self, date: str, lesion_id: str, long_axis, short_axis=None) -> None:
        """A manual measurement: the reader's own axis endpoints (LPS mm)."""
        r = self.lesion(date, lesion_id)
        long_axis = [[float(v) for v in p] for p in long_axis]
        new = {"long_axis_endpoints": long_axis,
               "long_axis_mm": round(float(np.linalg.norm(np.subtract(*long_axis))), 2)}
        if short_axis is not None:
            short_axis = [[float(v) for v in p] for p in short_axis]
            new.update(short_axis_endpoints=short_axis,
                       short_axis_mm=round(float(np.linalg.norm(np.subtract(*short_axis))), 2))
        old = {k: r.get(k) for k in new}
        self._correct(date, lesion_id, "manual_measurement", old, new)

    def set_status(self, date: str, lesion_id: str, status: str) -> None:
        r = self.lesion(date, lesion_id)
        old = r.get("nontarget_status") or r.get("suggested_status") or r.get("status")
        self._correct(date, lesion_id, "status", old, status)

    def set_attribute(self, lesion_id: str, field: str, value: Any, *,
                      part_of_last: bool = False) -> None:
        """A lesion's role, organ or whether it is a node, at every timepoint
        (``part_of_last``: one action with the change before, for undo)."""
        if field not in ("role", "organ", "nodal"):
            raise InputError(f"cannot set {field!r} of a lesion (role, organ or nodal)")
        r = self.lesion(self.dates[0], lesion_id) if any(
            x["lesion_id"] == lesion_id for x in self.timepoints[0]["lesions"]) else None
        self._correct(self.dates[0], lesion_id, field, r.get(field) if r else None, value,
                      part_of_last=part_of_last)

    def accept(self, date: str) -> None:
        self._correct(date, "*", "accepted", None, True)

    def history(self) -> list[dict[str, Any]]:
        return self.state.corrections(self.patient_id)

    def save(self) -> dict[str, Any]:
        """Write the corrected timepoints' files again, then regenerate the job's
        outputs from the corrected results; the summary lists what was re-exported
        (``reexported``) and, each with its date, what could not be
        (``export_warnings``: a SEG or SR not written)."""
        from .job import assemble_outputs

        exported = [self.export(date) for date in self.corrected_dates()]
        clinical = self.job.get("clinical")
        summary = assemble_outputs(self.out, self.state, self.job["patients"],
                                   self.job.get("criteria", "RECIST1.1"),
                                   Path(clinical) if clinical else None,
                                   self.job.get("left_out", []))
        warnings = [f"{e['date']}: {w}" for e in exported for w in e["export_warnings"]]
        return {**summary, "reexported": exported, "export_warnings": warnings}

    def corrected_dates(self) -> list[str]:
        """Timepoints whose lesions a reader changed (a role, organ or nodal change, or a
        removal, applies to every timepoint)."""
        changed = [c for c in self.history() if c["field"] != "accepted"]
        if any(c["field"] in ("role", "organ", "nodal", "removed") for c in changed):
            return self.dates
        return [d for d in self.dates if any(c["date"] == d for c in changed)]

    def export(self, date: str) -> dict[str, Any]:
        """Mask, thumbnails, SEG and SR of ``date`` from its corrected lesions."""
        tp = self.timepoint(date)
        outline = self._outline(date)
        where = TimepointFiles(self.patient_id, date, outline["study_uid"], self.series(date),
                               self.job["patients"][self.patient_id].index(outline))
        records = [dict(r) for r in tp["lesions"]]
        labels, batch = self.labels(date), self._batch_mask(date)
        if not batch.is_file():  # the job's own, before the corrected one replaces it
            with atomic_path(batch) as tmp:
                shutil.copyfile(self.out / tp["mask"], tmp)
        files = write_timepoint_files(self.out, where, self.volume(date), labels, records,
                                      reader=self.who)
        self.state.record_export(self.patient_id, date, outline["key"], files, self.who)
        return {"date": date, **files}

    def close(self) -> None:
        self.state.close()

    def _new_id(self, prefix: str) -> str:
        ids = {*self.lesion_ids(), *(c["lesion_id"] for c in self._history)}  # a removed
        # lesion's id is not given again: the SR's tracking UID follows the id
        return next(f"{prefix}{n}" for n in range(1, 1000) if f"{prefix}{n}" not in ids)


def export_corrected_again(out: Path, state: StateStore, progress: bool = True
                           ) -> list[dict[str, Any]]:
    """A rerun that computed a reviewed timepoint afresh (a new version of Caliper, or
    changed prompts) wrote its files from the uncorrected lesions, while the tables and
    RECIST results apply the reader's corrections: write the files of each such
    timepoint again from its corrected lesions, as the review's save did, with the
    last reader who corrected the patient as the SR's observer. Timepoints a save
    already wrote for the current task are left alone. Returns what was written (each
    with its patient and date); a timepoint that cannot be written is reported on
    stderr and left as the rerun wrote it."""
    job = json.loads((Path(out) / "job.json").read_text())
    written = []
    for pid, outline in job["patients"].items():
        changed = [c for c in state.corrections(pid) if c["field"] != "accepted"]
        if not changed:  # (most patients: their results are not read here)
            continue
        stale = {tp["date"] for tp in outline if tp["key"] and state.done(tp["key"])
                 and state.export_of(pid, tp["date"], tp["key"]) is None}
        if not stale:
            continue
        session = ReviewSession(out, pid, who=changed[-1]["who"])
        try:
            for date in stale.intersection(session.corrected_dates()):
                if progress:
                    print(f"caliper: {pid} {date}: computed afresh; writing its mask, SEG "
                          "and SR again from the reader's corrections", file=sys.stderr)
                try:
                    written.append({"patient_id": pid, **session.export(date)})
                except (InputError, OSError) as exc:
                    print(f"caliper: warning: {pid} {date}: the reader's corrections could "
                          f"not be exported again: {exc}", file=sys.stderr)
        finally:
            session.close()
    return written


def _brief(record: dict[str, Any] | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {k: record.get(k) for k in ("status", "long_axis_mm", "short_axis_mm", "method")}


def _encode(mask: np.ndarray) -> dict[str, Any]:
    """A mask as flat run lengths (JSON-able, small for one lesion)."""
    flat = mask.ravel().astype(np.int8)
    change = np.flatnonzero(np.diff(np.concatenate([[0], flat, [0]])))
    return {"shape": list(mask.shape), "starts": change[::2].tolist(),
            "ends": change[1::2].tolist()}


def _decode(rle: dict[str, Any], shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(int(np.prod(shape)), dtype=bool)
    for start, end in zip(rle["starts"], rle["ends"], strict=True):
        out[start:end] = True
    return out.reshape(shape)
