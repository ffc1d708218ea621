"""Build small, irregular CT series on disk for the loader tests (pydicom, real files),
and check DICOM files with dciodvfy."""

from __future__ import annotations

import shutil
import subprocess
import zlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from imaging.io.dicom_writer import CTSeriesSpec, ct_slice_dataset, uid_from, write_dataset


def dciodvfy_errors(path: Path) -> list[str]:
    """The Error lines dicom3tools' dciodvfy prints for a DICOM file (none: valid)."""
    import pytest

    exe = shutil.which("dciodvfy")
    if exe is None:
        pytest.fail("dciodvfy is not installed (make test installs Debian's dicom3tools)")
    out = subprocess.run([exe, str(path)], capture_output=True, text=True, check=False)
    return [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("Error")]


# hu(x, y, z) in LPS mm: linear, so linear interpolation reproduces it exactly
Field = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def linear_field(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    return 2.0 * x + 3.0 * y + 10.0 * z


def write_series(
    folder: Path,
    positions: Sequence[Sequence[float]],
    *,
    shape: tuple[int, int] = (24, 20),
    spec: CTSeriesSpec | None = None,
    field: Field = linear_field,
    rng: np.random.Generator | None = None,
    shuffle: bool = True,
    nested: bool = False,
    instance_numbers: Sequence[int] | None = None,
    slopes: Sequence[float] | None = None,
) -> list[Path]:
    """Write one slice per position; pixel values sample ``field`` at each pixel's LPS point.

    Files get random names (and random sub-folders with ``nested``), and
    InstanceNumbers are shuffled unless given.
    """
    spec = spec or CTSeriesSpec(patient_id="P1")
    rng = rng or np.random.default_rng(zlib.crc32(spec.series_uid.encode()))
    iop = np.asarray(spec.orientation, dtype=float)
    row, col = iop[:3], iop[3:]
    ps_row, ps_col = spec.pixel_spacing
    jj, ii = np.mgrid[0 : shape[0], 0 : shape[1]]
    n = len(positions)
    numbers = list(instance_numbers) if instance_numbers is not None else list(
        rng.permutation(n) + 1 if shuffle else np.arange(1, n + 1)
    )
    paths = []
    for k, pos in enumerate(positions):
        pts = (
            np.asarray(pos, dtype=float)[None, None, :]
            + ii[..., None] * ps_col * row
            + jj[..., None] * ps_row * col
        )
        hu = field(pts[..., 0], pts[..., 1], pts[..., 2])
        slope = 1.0 if slopes is None else slopes[k]
        stored = np.round((hu - spec.rescale_intercept) / slope).astype(np.int16)
        ds = ct_slice_dataset(spec, stored, pos, int(numbers[k]), rescale_slope=slope)
        name = f"{rng.integers(1e9):09d}" + ("" if k % 2 else ".dcm")
        sub = folder / f"d{rng.integers(3)}" if nested else folder
        path = sub / name
        write_dataset(ds, path)
        paths.append(path)
    return paths


def axial_positions(n: int, spacing: float = 1.0, origin=(-10.0, -20.0, -50.0)) -> list:
    return [(origin[0], origin[1], origin[2] + k * spacing) for k in range(n)]


def with_spec(**changes) -> CTSeriesSpec:
    return replace(CTSeriesSpec(patient_id="P1"), **changes)


def enhanced_ct_from_series(paths: Sequence[Path], out: Path, *, reverse: bool = False) -> None:
    """Pack single-frame CT files into one Enhanced CT Image object (multi-frame).

    Geometry goes into the functional groups: orientation and pixel measures
    shared, position and rescale per frame. ``reverse`` stores the frames in
    descending z, so the loader must sort them by position.
    """
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    slices = [pydicom.dcmread(p) for p in paths]
    slices.sort(key=lambda d: float(d.ImagePositionPatient[2]), reverse=reverse)
    first = slices[0]
    ds = Dataset()
    ds.file_meta = first.file_meta.__class__()
    ds.file_meta.TransferSyntaxUID = first.file_meta.TransferSyntaxUID
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"
    ds.file_meta.MediaStorageSOPInstanceUID = uid_from(first.SOPInstanceUID, "enhanced")
    for kw in ("PatientID", "PatientName", "StudyInstanceUID", "StudyDate", "SeriesInstanceUID",
               "SeriesNumber", "Modality", "SeriesDescription", "FrameOfReferenceUID",
               "Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation",
               "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
               "ConvolutionKernel", "BodyPartExamined"):
        setattr(ds, kw, getattr(first, kw))
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.NumberOfFrames = len(slices)
    shared = Dataset()
    orient = Dataset()
    orient.ImageOrientationPatient = first.ImageOrientationPatient
    shared.PlaneOrientationSequence = DicomSequence([orient])
    measures = Dataset()
    measures.PixelSpacing = first.PixelSpacing
    measures.SliceThickness = first.SliceThickness
    shared.PixelMeasuresSequence = DicomSequence([measures])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    per_frame = []
    for s in slices:
        item = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = s.ImagePositionPatient
        item.PlanePositionSequence = DicomSequence([pos])
        pvt = Dataset()
        pvt.RescaleSlope = s.RescaleSlope
        pvt.RescaleIntercept = s.RescaleIntercept
        pvt.RescaleType = "HU"
        item.PixelValueTransformationSequence = DicomSequence([pvt])
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    ds.PixelData = b"".join(s.PixelData for s in slices)
    out.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(out, ds, enforce_file_format=True)
