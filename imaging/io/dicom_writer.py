"""Write CT Image Storage series as a scanner does (one file per slice).

Used by the sample cohort generator and by the tests that build irregular
series (shuffled files, oblique, tilted, gaps, duplicates, compressed).
Every slice is a complete CT Image object: Patient, General Study, General
Series, Frame of Reference, General Equipment, General Image, Image Plane,
Image Pixel, CT Image and SOP Common modules.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)

__all__ = ["CTSeriesSpec", "ct_slice_dataset", "uid_from"]

UID_ROOT = "1.2.826.0.1.3680043.10.1452."  # Caliper's prefix under pydicom's UID root


def uid_from(*parts: object) -> UID:
    """A deterministic UID derived from ``parts`` (same parts, same UID)."""
    return generate_uid(prefix=UID_ROOT, entropy_srcs=[str(p) for p in parts])


@dataclass
class CTSeriesSpec:
    """Header fields shared by every slice of one series."""

    patient_id: str
    patient_name: str = "Anonymous^Patient"
    patient_sex: str = "O"
    patient_birth_date: str = ""
    patient_age: str = ""
    study_uid: str = field(default_factory=lambda: str(generate_uid()))
    study_date: str = "20240101"
    study_time: str = "090000"
    study_id: str = "1"
    accession: str = ""
    study_description: str = "CT NECK CHEST"
    series_uid: str = field(default_factory=lambda: str(generate_uid()))
    series_number: int = 2
    series_description: str = "SOFT TISSUE 1.0"
    frame_of_reference_uid: str = field(default_factory=lambda: str(generate_uid()))
    manufacturer: str = "Caliper"
    model: str = "Synthetic CT"
    kernel: str = "B30f"
    body_part: str = "CHEST"
    contrast: str = ""
    kvp: float = 120.0
    slice_thickness: float = 1.0
    pixel_spacing: tuple[float, float] = (0.7, 0.7)
    """(row spacing, column spacing) in mm, DICOM order."""
    orientation: Sequence[float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "AXIAL")
    gantry_tilt: float = 0.0
    rescale_intercept: float = -1024.0
    rescale_slope: float = 1.0
    acquisition_number: int = 1


def _fmt(value: float) -> str:
    """A DS value (at most 16 characters)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text[:16]


def ct_slice_dataset(
    spec: CTSeriesSpec,
    pixels: np.ndarray,
    position: Sequence[float],
    instance_number: int,
    *,
    sop_instance_uid: str | None = None,
    rescale_slope: float | None = None,
    rescale_intercept: float | None = None,
    acquisition_number: int | None = None,
) -> Dataset:
    """One CT Image Storage dataset holding ``pixels`` (stored values, int16/uint16)."""
    if pixels.ndim != 2:
        raise ValueError(f"pixels must be 2D (rows, columns), got shape {pixels.shape}")
    signed = pixels.dtype.kind == "i"
    pixels = np.ascontiguousarray(pixels.astype(np.int16 if signed else np.uint16))
    sop_uid = sop_instance_uid or str(uid_from(spec.series_uid, instance_number))
    now = _dt.datetime(2024, 1, 1)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "CALIPER_0_1"

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = list(spec.image_type)
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = spec.study_date
    ds.SeriesDate = spec.study_date
    ds.AcquisitionDate = spec.study_date
    ds.ContentDate = spec.study_date
    ds.StudyTime = spec.study_time
    ds.SeriesTime = spec.study_time
    ds.AcquisitionTime = spec.study_time
    ds.ContentTime = spec.study_time
    ds.AccessionNumber = spec.accession
    ds.Modality = "CT"
    ds.Manufacturer = spec.manufacturer
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = spec.study_description
    ds.SeriesDescription = spec.series_description
    ds.ManufacturerModelName = spec.model
    ds.PatientName = spec.patient_name
    ds.PatientID = spec.patient_id
    ds.PatientBirthDate = spec.patient_birth_date
    ds.PatientSex = spec.patient_sex
    if spec.patient_age:
        ds.PatientAge = spec.patient_age
    if spec.contrast:
        ds.ContrastBolusAgent = spec.contrast
    ds.BodyPartExamined = spec.body_part
    ds.ScanOptions = "HELICAL MODE"
    ds.SliceThickness = _fmt(spec.slice_thickness)
    ds.KVP = _fmt(spec.kvp)
    ds.DataCollectionDiameter = "500"
    ds.ReconstructionDiameter = _fmt(spec.pixel_spacing[1] * pixels.shape[1])
    ds.GantryDetectorTilt = _fmt(spec.gantry_tilt)
    ds.TableHeight = "150"
    ds.RotationDirection = "CW"
    ds.ConvolutionKernel = spec.kernel
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = spec.study_uid
    ds.SeriesInstanceUID = spec.series_uid
    ds.StudyID = spec.study_id
    ds.SeriesNumber = spec.series_number
    ds.AcquisitionNumber = spec.acquisition_number if acquisition_number is None else (
        acquisition_number
    )
    ds.InstanceNumber = instance_number
    ds.ImagePositionPatient = [_fmt(v) for v in position]
    ds.ImageOrientationPatient = [_fmt(v) for v in spec.orientation]
    ds.FrameOfReferenceUID = spec.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    normal = np.cross(np.asarray(spec.orientation[:3]), np.asarray(spec.orientation[3:]))
    ds.SliceLocation = _fmt(float(np.asarray(position, dtype=float) @ normal))
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = (int(n) for n in pixels.shape)
    ds.PixelSpacing = [_fmt(v) for v in spec.pixel_spacing]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if signed else 0
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.RescaleIntercept = _fmt(spec.rescale_intercept if rescale_intercept is None
                               else rescale_intercept)
    ds.RescaleSlope = _fmt(spec.rescale_slope if rescale_slope is None else rescale_slope)
    ds.RescaleType = "HU"
    ds.PixelData = pixels.tobytes()
    return ds


def write_dataset(ds: Dataset, path: Path) -> None:
    """Write ``ds`` as a DICOM Part 10 file (preamble and file meta included)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
