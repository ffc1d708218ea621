"""Lesion masks -> DICOM Segmentation (highdicom), referencing the source CT series.

The SEG's frames lie on the series' acquired slices (in the order of their
positions along the slice normal). It references the source images from the first
to the last slice holding a lesion, with a frame for each slice that holds one. A
mask on a grid the loader changed (tilt correction, equalised spacing), or of one
multi-frame image (an Enhanced CT, its frames in their own order), is first sampled at
the acquired frames' pixels (nearest voxel), given its geometry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes

from ..errors import InputError
from ..geometry import Geometry
from .atomic import atomic_path
from .dicom_writer import uid_from
from .discover import Series

__all__ = ["SegmentSpec", "acquired_planes", "conform_source", "labels_on_sources",
           "source_headers", "write_seg"]

SOFTWARE = "Caliper 0.1"


# the longest value DICOM allows per value of these VRs (PS3.5 6.2)
MAX_LENGTH = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "ST": 1024, "LT": 10240}
# Type 2 patient and study attributes of a CT image (present, possibly empty) that
# highdicom copies into a SEG or an SR from its source without a default
TYPE_2_COPIED = {"PatientName": "PN", "PatientID": "LO", "PatientBirthDate": "DA",
                 "PatientSex": "CS", "AccessionNumber": "SH", "StudyID": "SH",
                 "StudyDate": "DA", "StudyTime": "TM"}


def conform_source(ds: pydicom.Dataset) -> None:
    """Make a source header fit to be copied into a SEG or an SR, which copy its patient
    and study: a Type 2 attribute some anonymisers remove is added empty (dcm_qa_ct's GE
    head CT has no Patient Birth Date: highdicom failed on it), and over-long strings (top
    level) are cut to their VR's length (MIRP's CT: Study ID 'IBSI_1_STS_002_CT', 17
    characters of SH's 16, which would make ours fail validation too)."""
    for keyword, vr in TYPE_2_COPIED.items():
        if keyword not in ds:
            ds.add_new(keyword, vr, "")
    if (ds.get("PatientIdentityRemoved") == "YES" and not ds.get("DeidentificationMethod")
            and not ds.get("DeidentificationMethodCodeSequence")):  # required then (1C):
        ds.DeidentificationMethod = "not recorded in the source"  # the GE CT's is empty
    for elem in ds:
        limit = MAX_LENGTH.get(elem.VR)
        if limit is None or not elem.value:
            continue
        values = list(elem.value) if elem.VM > 1 else [elem.value]
        if any(len(str(v)) > limit for v in values):
            cut = [str(v)[:limit] for v in values]
            elem.value = cut if elem.VM > 1 else cut[0]


@dataclass(frozen=True)
class SegmentSpec:
    """One segment: the label value in the mask, its name and tracking identifiers."""

    label: int
    name: str
    tracking_id: str | None = None
    tracking_uid: str | None = None


def source_headers(series: Series) -> list[pydicom.Dataset]:
    """The series' image headers (no pixel data: a SEG or SR refers to them, it does not
    copy them), in the order of their positions along the slice normal, made fit to be copied
    (:func:`conform_source`).

    Only the first file is read. The others' headers are that one with their own
    identity and place (SOP Class and Instance UIDs, Instance Number, Image Position,
    Frame of Reference), which discovery has read: everything else a reference needs
    (patient, study, series, orientation, pixel spacing, matrix) is the same across a
    series the loader accepts. Reading every header again cost about 1 ms per file.
    """
    first = series.first
    if first.orientation is None:
        raise InputError(f"series {series.series_uid}: no ImageOrientationPatient")
    iop = np.asarray(first.orientation)
    normal = np.cross(iop[:3], iop[3:])
    # (a multi-frame image is one instance: its frames' places are in its functional groups)
    instances = sorted((i for i in series.instances if not i.is_localizer),
                       key=lambda i: float(np.dot(i.position or (0, 0, 0), normal)))
    template = pydicom.dcmread(instances[0].path, stop_before_pixels=True)
    conform_source(template)
    elements = {tag: template[tag] for tag in template.keys()}  # each value parsed once
    headers = [template]
    for instance in instances[1:]:
        ds = pydicom.Dataset(dict(elements))
        ds.file_meta = template.file_meta
        for keyword, vr, value in (
                ("SOPClassUID", "UI", instance.sop_class_uid),
                ("SOPInstanceUID", "UI", instance.sop_instance_uid),
                ("InstanceNumber", "IS", instance.instance_number),
                ("ImagePositionPatient", "DS", list(instance.position or ())),
                ("FrameOfReferenceUID", "UI", instance.frame_of_reference_uid)):
            if keyword in template:
                ds.add_new(keyword, vr, value)  # a new element: the template's is shared
        headers.append(ds)
    return headers


Plane = tuple[np.ndarray, np.ndarray, tuple[float, float]]
"""One acquired frame: its first pixel's LPS position, orientation (six cosines) and
pixel spacing (row, column)."""


def _frame_item(ds: pydicom.Dataset, n: int, sequence: str) -> pydicom.Dataset | None:
    """A multi-frame image's functional group item of frame ``n``, per frame or shared."""
    for groups, at in (("PerFrameFunctionalGroupsSequence", n),
                       ("SharedFunctionalGroupsSequence", 0)):
        items = ds.get(groups)
        if items and len(items) > at and sequence in items[at]:
            return items[at][sequence][0]
    return None


def acquired_planes(sources: list[pydicom.Dataset]) -> list[Plane] | None:
    """Where each acquired frame lies: one per single-frame header, or one per frame of a
    multi-frame image (its functional groups); None when a position is missing."""
    planes: list[Plane] = []
    frames = int(sources[0].get("NumberOfFrames") or 1)
    if len(sources) == 1 and frames > 1:
        ds = sources[0]
        for n in range(frames):
            position = _frame_item(ds, n, "PlanePositionSequence")
            orientation = _frame_item(ds, n, "PlaneOrientationSequence")
            measures = _frame_item(ds, n, "PixelMeasuresSequence")
            if position is None or orientation is None or measures is None:
                return None
            planes.append((np.asarray(position.ImagePositionPatient, dtype=float),
                           np.asarray(orientation.ImageOrientationPatient, dtype=float),
                           tuple(float(v) for v in measures.PixelSpacing)))
        return planes
    for ds in sources:
        if not all(k in ds for k in ("ImagePositionPatient", "ImageOrientationPatient",
                                     "PixelSpacing")):
            return None
        planes.append((np.asarray(ds.ImagePositionPatient, dtype=float),
                       np.asarray(ds.ImageOrientationPatient, dtype=float),
                       tuple(float(v) for v in ds.PixelSpacing)))
    return planes


def labels_on_sources(labels: np.ndarray, geometry: Geometry, planes: list[Plane],
                      shape: tuple[int, int]) -> np.ndarray:
    """A label mask on the loaded grid (``geometry``, array [k, j, i]) sampled at every
    pixel (``shape``: rows, columns) of the acquired frames (``planes``; the nearest voxel,
    0 outside the grid): for a series whose grid the loader changed (a gantry tilt sheared
    back, uneven spacing resampled) or a multi-frame image (its frames in their own order),
    the SEG's frames lie on the images a PACS shows."""
    rows, cols = shape
    out = np.zeros((len(planes), rows, cols), dtype=labels.dtype)
    held = np.argwhere(labels)
    if held.size == 0:
        return out
    # the labels' extent in LPS (its box's corners), to skip frames far from it
    corners = np.array([[i, j, k] for k in held[:, 0][[0, -1]] for j in
                        (held[:, 1].min(), held[:, 1].max()) for i in
                        (held[:, 2].min(), held[:, 2].max())], dtype=float)
    lps = geometry.index_to_lps(corners)
    reach = float(np.linalg.norm(geometry.spacing))  # a voxel's diagonal
    jj, ii = np.mgrid[0:rows, 0:cols]
    size = np.asarray(labels.shape[::-1])
    for n, (origin, iop, (row_mm, col_mm)) in enumerate(planes):
        along = (lps - origin) @ np.cross(iop[:3], iop[3:])
        if along.min() > reach or along.max() < -reach:
            continue
        points = (origin + ii[..., None] * col_mm * iop[:3]
                  + jj[..., None] * row_mm * iop[3:]).reshape(-1, 3)
        index = np.rint(geometry.lps_to_index(points)).astype(int)
        inside = np.all((index >= 0) & (index < size), axis=1)
        frame = np.zeros(rows * cols, dtype=labels.dtype)
        frame[inside] = labels[index[inside, 2], index[inside, 1], index[inside, 0]]
        out[n] = frame.reshape(rows, cols)
    return out


def write_seg(path: Path, series: Series, mask: np.ndarray, segments: list[SegmentSpec], *,
              series_number: int = 300, algorithm: str = "Caliper semi-automatic",
              sources: list[pydicom.Dataset] | None = None,
              geometry: Geometry | None = None) -> Path:
    """Write the label mask (array [k, j, i]) as a binary DICOM SEG next to its source
    (``sources``: the series' :func:`source_headers`, when already read). A mask on a grid
    the loader changed (tilt, spacing), or of a multi-frame image, is sampled onto the
    acquired frames first, given its ``geometry``."""
    sources = sources or source_headers(series)
    shape = (int(sources[0].Rows), int(sources[0].Columns))
    frames = int(sources[0].get("NumberOfFrames") or 1)
    multiframe = len(sources) == 1 and frames > 1
    acquired = (frames if multiframe else len(sources), *shape)
    if multiframe or mask.shape != acquired:  # not on the acquired frames as loaded
        planes = acquired_planes(sources) if geometry is not None else None
        if planes is None:
            raise InputError(
                f"series {series.series_uid}: DICOM SEG needs the mask on the acquired "
                f"frames ({' x '.join(map(str, acquired))}); the loaded volume is "
                f"{mask.shape} (tilt or spacing was corrected, or one multi-frame image) "
                "and no geometry was given to place it there")
        mask = labels_on_sources(mask, geometry, planes, shape)
    first = 0
    if not multiframe:
        # frames only for the slices from the first to the last that hold a lesion: the
        # others would be empty frames, and highdicom's work grows with the source images
        # referenced (about 40 ms per SEG saved on a 100-slice series); a multi-frame
        # source's empty frames highdicom leaves out itself
        held = np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1))
        first, last = (int(held[0]), int(held[-1]) + 1) if held.size else (0, 0)
        mask, sources = mask[first:last], sources[first:last]
    present = sorted(int(v) for v in np.unique(mask) if v != 0)
    specs = [s for s in segments if s.label in present]
    if not specs:
        raise InputError(f"{path}: the mask holds no labelled voxels to export")
    # highdicom wants segment numbers 1..n: renumber the labels in order
    relabel = np.zeros(int(mask.max()) + 1, dtype=np.uint8)
    for n, spec in enumerate(specs, start=1):
        relabel[spec.label] = n
    labels = relabel[mask]
    algorithm_id = hd.AlgorithmIdentificationSequence(
        name=algorithm, family=codes.cid7162.HistogramAnalysis, version=SOFTWARE)
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=n,
            segment_label=spec.name[:64],
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=codes.SCT.Neoplasm,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
            algorithm_identification=algorithm_id,
            tracking_id=spec.tracking_id,
            tracking_uid=spec.tracking_uid,
        )
        for n, spec in enumerate(specs, start=1)
    ]
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=labels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=str(uid_from(series.series_uid, "seg", series_number)),
        series_number=series_number,
        sop_instance_uid=str(uid_from(series.series_uid, "seg", series_number, "sop",
                                      first, hashlib.sha256(labels.tobytes()).hexdigest())),
        instance_number=1,
        manufacturer="Caliper",
        manufacturer_model_name="Caliper",
        software_versions=SOFTWARE,
        device_serial_number="0",
        content_label="LESIONS",
        content_description="Lesion segmentation",
    )
    with atomic_path(path) as tmp:
        seg.save_as(tmp)
    return path
