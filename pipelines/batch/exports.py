"""The files of one timepoint that people and PACS look at: the label mask (NIfTI, one
stable label per lesion), one thumbnail per lesion, and the DICOM SEG and SR of the
timepoint (``dicom/<patient>/<date>_<study>/``), all written atomically.

The batch task writes them from its results; a review writes them again from the
corrected results, so the SEG holds the corrected masks and the SR the corrected
(or manual) measurements, with the reader as an observer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imaging.errors import InputError
from imaging.io import write_image_file
from imaging.io.discover import Series
from imaging.io.seg_export import SegmentSpec, source_headers, write_seg
from imaging.io.sr_export import LesionReport, tracking_uid, write_sr
from imaging.measure import LesionMeasurement
from imaging.thumbnail import lesion_thumbnail
from imaging.volume import Volume

__all__ = ["TimepointFiles", "measurement_of", "write_timepoint_files"]

_MEASUREMENT_FIELDS = ("long_axis_mm", "short_axis_mm", "slice_z_mm", "volume_ml", "voxels",
                       "recist_diameter_mm", "max_3d_diameter_mm")


@dataclass(frozen=True)
class TimepointFiles:
    """Where a timepoint's files go (relative to OUT) and what the SR calls it."""

    patient_id: str
    date: str
    study_uid: str
    series: Series
    order: int
    """0 at baseline, then 1, 2, ... (the SR's time point order)."""

    @property
    def stem(self) -> str:
        return f"{self.patient_id}/{self.date}"

    @property
    def folder(self) -> str:
        return f"dicom/{self.stem}_{self.study_uid[-12:]}"

    @property
    def time_point(self) -> str:
        return "baseline" if self.order == 0 else self.date


def measurement_of(record: dict[str, Any]) -> LesionMeasurement:
    """A lesion record's measurement (as the task or a reader's correction left it)."""
    ends = tuple(tuple(float(v) for v in p) for p in record["long_axis_endpoints"])
    short = record.get("short_axis_endpoints") or [ends[0], ends[0]]
    return LesionMeasurement(
        long_axis_endpoints=ends, short_axis_endpoints=tuple(tuple(map(float, p))
                                                            for p in short),
        nodal=bool(record.get("nodal")), method=record.get("method", ""),
        **{k: (int if k == "voxels" else float)(record.get(k) or 0) for k in
           _MEASUREMENT_FIELDS})


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"


def write_timepoint_files(out: Path, where: TimepointFiles, volume: Volume,
                          labels: np.ndarray, records: list[dict[str, Any]], *,
                          reader: str | None = None) -> dict[str, Any]:
    """Mask, thumbnails, SEG and SR of one timepoint. ``labels`` holds each record's
    ``label``; a record is reported in the SR when it has a measurement. Sets each record's
    ``thumbnail``; returns the mask path, the exports and any export warnings."""
    out = Path(out)
    mask_rel = f"masks/{where.stem}.nii.gz"
    write_image_file(volume.with_array(labels), out / mask_rel)
    present = set(np.unique(labels[labels > 0]).tolist())  # (bincount: 20x slower)
    for r in records:
        segmented = r["label"] in present
        centre = r.get("centre_lps") or r.get("mapped_lps") or r.get("prompt_lps")
        rel = f"thumbs/{where.stem}/{r['lesion_id']}.png"
        radius = None if segmented else r.get("evidence", {}).get("search_radius_mm")
        lesion_thumbnail(volume, labels == r["label"] if segmented else None, centre,
                         out / rel, organ=r["organ"], axes=r, radius_mm=radius)
        r["thumbnail"] = rel
    exports: dict[str, Any] = {"folder": where.folder}
    warnings: list[str] = []
    specs = [SegmentSpec(r["label"], f"{r['lesion_id']} {r['organ']}", r["lesion_id"],
                         tracking_uid(where.patient_id, r["lesion_id"]))
             for r in records if r["label"] in present]
    measured = [r for r in records if r.get("status") in ("measured", "too_small")
                and r.get("long_axis_endpoints")]
    try:  # read once for both; on a problem each export reports it below
        sources = source_headers(where.series) if specs or measured else []
    except (InputError, OSError):  # (OSError: a review's sources moved since it loaded)
        sources = []
    if specs:
        try:
            write_seg(out / where.folder / "seg.dcm", where.series, labels, specs,
                      sources=sources, geometry=volume.geometry)
            exports["seg"] = f"{where.folder}/seg.dcm"
        except Exception as exc:  # noqa: BLE001 - an export must not lose the measurements:
            # what a source's header makes highdicom refuse is reported, not raised
            warnings.append(f"DICOM SEG not written: {_reason(exc)}")
    if measured:
        reports = [LesionReport(r["lesion_id"], measurement_of(r), organ=r["organ"],
                                nodal=bool(r["nodal"]), manual=r.get("method") == "manual")
                   for r in measured]
        try:
            write_sr(out / where.folder / "sr.dcm", where.series, reports,
                     time_point=where.time_point, time_point_order=where.order,
                     reader=reader, sources=sources)
            exports["sr"] = f"{where.folder}/sr.dcm"
        except Exception as exc:  # noqa: BLE001 - as the SEG's
            warnings.append(f"DICOM SR not written: {_reason(exc)}")
    for kind in ("seg", "sr"):  # one a review's save could not write again, or no longer
        # has lesions for, must not stand as the corrected timepoint's
        if kind not in exports:
            (out / where.folder / f"{kind}.dcm").unlink(missing_ok=True)
    return {"mask": mask_rel, "exports": exports, "export_warnings": warnings}
