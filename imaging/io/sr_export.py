"""Lesion measurements -> DICOM SR (TID 1500 measurement report, highdicom).

One planar ROI measurement group per lesion, with:
* a tracking identifier whose UID stays the same across timepoints (derived
  from the patient and lesion ids), so a viewer can follow the lesion;
* the long axis as a 3D polyline (SCOORD3D, LPS mm, in the series' frame of
  reference);
* long axis and short axis (mm) and volume (ml) with UCUM units, and the
  algorithm that produced them;
* the time point (e.g. "week 12") as TID 1502 context;
* Caliper as the observing device, and the reader as an observing person when a
  reader corrected the report; a reader's manual measurement carries no algorithm.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from ..errors import InputError
from ..measure import LesionMeasurement
from .atomic import atomic_path
from .dicom_writer import uid_from
from .discover import Series
from .seg_export import source_headers

__all__ = ["LesionReport", "tracking_uid", "write_sr"]

SOFTWARE = "Caliper 0.1"
MILLILITER = Code("mL", "UCUM", "milliliter")
LYMPH_NODE = Code("59441001", "SCT", "Lymph node")


def tracking_uid(patient_id: str, lesion_id: str) -> str:
    """The lesion's tracking UID: the same at every timepoint of the patient."""
    return str(uid_from("caliper-tracking", patient_id, lesion_id))


@dataclass(frozen=True)
class LesionReport:
    lesion_id: str
    measurement: LesionMeasurement
    organ: str = ""
    nodal: bool = False
    manual: bool = False
    """Drawn by a reader (no algorithm identification)."""


def write_sr(path: Path, series: Series, lesions: list[LesionReport], *, time_point: str,
             time_point_order: int | None = None, series_number: int = 400,
             reader: str | None = None, sources: list[pydicom.Dataset] | None = None
             ) -> Path:
    """Write a TID 1500 measurement report of ``lesions`` measured on ``series``
    (``reader``: the person who corrected it, if anyone did; ``sources``: the series'
    image headers, when already read)."""
    if not lesions:
        raise InputError(f"{path}: no lesion measurements to report")
    first = series.first
    if not first.frame_of_reference_uid:
        raise InputError(f"series {series.series_uid}: no FrameOfReferenceUID to refer to")
    evidence = sources or source_headers(series)
    algorithm = hd.sr.AlgorithmIdentification(name="Caliper RECIST measurement",
                                              version=SOFTWARE)
    context = hd.sr.TimePointContext(time_point=time_point, time_point_order=time_point_order)
    groups = []
    for lesion in lesions:
        m = lesion.measurement
        algorithm_id = None if lesion.manual else algorithm
        ends = np.asarray(m.long_axis_endpoints, dtype=float)
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(
                uid=tracking_uid(first.patient_id, lesion.lesion_id),
                identifier=lesion.lesion_id),
            referenced_region=hd.sr.ImageRegion3D(
                graphic_type=hd.sr.GraphicTypeValues3D.POLYLINE, graphic_data=ends,
                frame_of_reference_uid=first.frame_of_reference_uid),
            finding_type=LYMPH_NODE if lesion.nodal else codes.SCT.Neoplasm,
            time_point_context=context,
            measurements=[
                hd.sr.Measurement(name=codes.SCT.LongAxis, value=round(m.long_axis_mm, 2),
                                  unit=codes.UCUM.Millimeter, algorithm_id=algorithm_id),
                hd.sr.Measurement(name=codes.SCT.ShortAxis, value=round(m.short_axis_mm, 2),
                                  unit=codes.UCUM.Millimeter, algorithm_id=algorithm_id),
                hd.sr.Measurement(name=codes.SCT.Volume, value=round(m.volume_ml, 3),
                                  unit=MILLILITER, algorithm_id=algorithm),
            ],
        ))
    observer = hd.sr.ObserverContext(
        observer_type=codes.cid270.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=str(uid_from("caliper-device")), name="Caliper", manufacturer_name="Caliper"))
    person = None if reader is None else hd.sr.ObserverContext(
        observer_type=codes.cid270.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
            name=reader))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer,
                                                     observer_person_context=person),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=groups,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report,
        series_instance_uid=str(uid_from(series.series_uid, "sr", series_number)),
        series_number=series_number,
        sop_instance_uid=str(uid_from(series.series_uid, "sr", series_number, time_point,
                                      reader or "",
                                      *[(r.lesion_id, round(r.measurement.long_axis_mm, 2),
                                         round(r.measurement.short_axis_mm, 2))
                                        for r in lesions])),
        instance_number=1,
        manufacturer="Caliper",
        is_complete=True,
    )
    with atomic_path(path) as tmp:
        sr.save_as(tmp)
    return path
