"""Find DICOM image series in any folder tree, from headers only.

Files are grouped Patient -> Study -> Series by their UIDs, never by folder
or file names. Pixel data is not read: each file's header is parsed with the
pixel data deferred, and the byte offset and length of the pixel data are
recorded so that the loader can read uncompressed slices directly.

Files that are not DICOM, are truncated, or hold non-image objects (SR, SEG,
RTSTRUCT, presentation states, DICOMDIR) are skipped and reported with the
reason; localizer (scout) images are kept in the inventory but flagged so that
they are never chosen as the volume.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.errors import InvalidDicomError
from pydicom.tag import Tag

from ..errors import DicomReadError, NoSeriesError

__all__ = [
    "Instance",
    "Inventory",
    "Series",
    "SkippedFile",
    "discover",
    "read_instance",
]

PIXEL_DATA = 0x7FE00010
FLOAT_PIXEL_DATA = 0x7FE00008
UNDEFINED_LENGTH = 0xFFFFFFFF
_SEQ_DELIMITER = b"\xfe\xff\xdd\xe0"

# Storage SOP classes that hold no image volume, by UID prefix -> name.
_NON_IMAGE_SOP = {
    "1.2.840.10008.5.1.4.1.1.88.": "structured report (SR)",
    "1.2.840.10008.5.1.4.1.1.66.4": "segmentation (SEG)",
    "1.2.840.10008.5.1.4.1.1.481.3": "RT structure set (RTSTRUCT)",
    "1.2.840.10008.5.1.4.1.1.481.": "radiotherapy object (RT)",
    "1.2.840.10008.5.1.4.1.1.11.": "presentation state",
    "1.2.840.10008.5.1.4.1.1.104.": "encapsulated document",
    "1.2.840.10008.5.1.4.1.1.66": "raw data / registration",
    "1.2.840.10008.1.3.10": "DICOMDIR (media directory)",
    "1.2.840.10008.5.1.4.1.1.9.": "waveform",
    "1.2.840.10008.5.1.4.1.1.7": "secondary capture",
}


@dataclass(frozen=True)
class SkippedFile:
    """A file that discovery did not take as part of an image series."""

    path: Path
    reason: str


@dataclass(frozen=True, eq=False)
class Instance:
    """Header facts of one DICOM image file (one or more frames)."""

    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    patient_id: str
    patient_name: str
    study_uid: str
    study_date: str
    series_date: str
    """The series' own date (SeriesDate, else AcquisitionDate, else ContentDate; ISO):
    what places a study in time when its StudyDate was removed."""
    series_uid: str
    series_number: int | None
    modality: str
    description: str
    image_type: tuple[str, ...]
    rows: int
    columns: int
    frames: int
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, float] | None
    slice_thickness: float | None
    instance_number: int | None
    acquisition_number: int | None
    acquisition_time: str
    kernel: str
    contrast: str
    body_part: str
    frame_of_reference_uid: str
    manufacturer: str
    gantry_tilt_deg: float
    rescale_slope: float
    rescale_intercept: float
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    samples_per_pixel: int
    transfer_syntax: str
    pixel_offset: int | None
    """Byte offset of the pixel data value in the file (uncompressed only)."""
    pixel_length: int | None

    @property
    def is_localizer(self) -> bool:
        return "LOCALIZER" in self.image_type

    @property
    def is_multiframe(self) -> bool:
        return self.frames > 1


@dataclass(eq=False)
class Series:
    """All image instances sharing one SeriesInstanceUID."""

    series_uid: str
    instances: list[Instance] = field(default_factory=list)

    @property
    def first(self) -> Instance:
        return self.instances[0]

    @property
    def slices(self) -> int:
        return sum(inst.frames for inst in self.instances)

    @property
    def is_localizer(self) -> bool:
        return any(inst.is_localizer for inst in self.instances)

    @property
    def slice_spacing_mm(self) -> float | None:
        """Median distance between consecutive slice positions along the normal."""
        normal = _normal(self.first.orientation)
        positions = [i.position for i in self.instances if i.position is not None]
        if normal is None or len(positions) < 2:
            return self.first.slice_thickness
        dist = np.unique(np.round(np.asarray(positions) @ normal, 4))
        if dist.size < 2:
            return self.first.slice_thickness
        return float(np.median(np.diff(dist)))

    def to_dict(self) -> dict[str, object]:
        """The inventory row of the CLI contract (``caliper ls --json``)."""
        first = self.first
        spacing = self.slice_spacing_mm
        return {
            "patient_id": first.patient_id,
            "study_date": first.study_date,
            "series_date": first.series_date,
            "study_uid": first.study_uid,
            "series_uid": self.series_uid,
            "series_number": first.series_number,
            "modality": first.modality,
            "description": first.description,
            "slices": self.slices,
            "rows": first.rows,
            "columns": first.columns,
            "slice_spacing_mm": None if spacing is None else round(spacing, 4),
            "pixel_spacing_mm": None if first.pixel_spacing is None else list(first.pixel_spacing),
            "slice_thickness_mm": first.slice_thickness,
            "kernel": first.kernel,
            "contrast": first.contrast,
            "body_part": first.body_part,
            "localizer": self.is_localizer,
            "multiframe": any(i.is_multiframe for i in self.instances),
            "transfer_syntax": first.transfer_syntax,
            "folder": str(first.path.parent),
        }


@dataclass(eq=False)
class Inventory:
    """What a folder tree holds: image series, and the files skipped and why."""

    root: Path
    series: list[Series]
    skipped: list[SkippedFile]

    def get(self, series_uid: str) -> Series:
        for s in self.series:
            if s.series_uid == series_uid:
                return s
        known = ", ".join(s.series_uid for s in self.series) or "none"
        from ..errors import SeriesSelectionError

        raise SeriesSelectionError(
            f"{self.root}: no series with SeriesInstanceUID {series_uid} (found: {known})"
        )

    def by_study(self) -> dict[tuple[str, str], list[Series]]:
        """Series grouped by (patient id, study UID), in date order."""
        out: dict[tuple[str, str], list[Series]] = {}
        for s in sorted(self.series, key=lambda s: (s.first.patient_id, s.first.study_date)):
            out.setdefault((s.first.patient_id, s.first.study_uid), []).append(s)
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "root": str(self.root),
            "series": [s.to_dict() for s in self.series],
            "skipped": [{"path": str(f.path), "reason": f.reason} for f in self.skipped],
        }


def _normal(orientation: tuple[float, ...] | None) -> np.ndarray | None:
    if orientation is None or len(orientation) != 6:
        return None
    iop = np.asarray(orientation, dtype=float)
    n = np.cross(iop[:3], iop[3:])
    norm = np.linalg.norm(n)
    return None if norm == 0 else n / norm


def _list(value: object) -> list:
    """A multi-valued attribute's values (a single value comes back bare)."""
    if value is None:
        return []
    return [value] if isinstance(value, (str, bytes, int, float)) else list(value)


def _str(ds: pydicom.Dataset | _Header, keyword: str) -> str:
    value = ds.get(keyword, "")
    if value is None:
        return ""
    if isinstance(value, (list, pydicom.multival.MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _int(ds: _Header, keyword: str) -> int | None:
    value = ds.get(keyword)
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        try:  # "12.0" or " 12 " in an IS
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        return int(number) if number.is_integer() else None


def _float(ds: _Header, keyword: str, default: float | None = None) -> float | None:
    value = ds.get(keyword)
    try:
        return default if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return default


def _floats(ds: _Header, keyword: str, n: int) -> tuple[float, ...] | None:
    return _as_floats(ds.get(keyword), n)


def _iso_date(value: str) -> str:
    value = value.strip()
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


def _shared_frame_value(ds: pydicom.Dataset, seq: str, keyword: str) -> object | None:
    """A per-frame attribute of an enhanced multi-frame object (shared or frame 1)."""
    for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        items = ds.get(group)
        if not items:
            continue
        inner = items[0].get(seq)
        if inner and keyword in inner[0]:
            return inner[0].get(keyword)
    return None


# Only these elements are parsed during discovery (the rest are skipped unread).
# (as tags: pydicom would look each keyword up again on every read, 0.2 ms per file)
_HEADER_TAGS = [Tag(keyword) for keyword in (
    "SpecificCharacterSet", "ImageType", "SOPClassUID", "SOPInstanceUID", "StudyDate",
    "SeriesDate", "AcquisitionDate", "ContentDate", "AcquisitionTime", "Modality",
    "Manufacturer", "SeriesDescription", "PatientName",
    "PatientID", "ContrastBolusAgent", "BodyPartExamined", "SliceThickness",
    "GantryDetectorTilt", "ConvolutionKernel", "StudyInstanceUID", "SeriesInstanceUID",
    "SeriesNumber", "AcquisitionNumber", "InstanceNumber", "ImagePositionPatient",
    "ImageOrientationPatient", "FrameOfReferenceUID", "SamplesPerPixel", "NumberOfFrames",
    "Rows", "Columns", "PixelSpacing", "BitsAllocated", "BitsStored", "PixelRepresentation",
    "RescaleIntercept", "RescaleSlope", "SharedFunctionalGroupsSequence",
    "PerFrameFunctionalGroupsSequence", "PixelData", "FloatPixelData",
)]


_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI"})
_CHARSET_VRS = frozenset({"LO", "SH", "PN"})  # plain ASCII bytes are the same in any charset
_FAST = {keyword: (Tag(keyword), dictionary_VR(keyword)) for keyword in (
    "PatientID", "PatientName", "SeriesDescription", "Manufacturer", "ContrastBolusAgent",
    "ConvolutionKernel",
    "SOPClassUID", "SOPInstanceUID", "StudyDate", "SeriesDate", "AcquisitionDate",
    "ContentDate", "AcquisitionTime", "Modality", "ImageType",
    "StudyInstanceUID", "SeriesInstanceUID", "SeriesNumber", "AcquisitionNumber",
    "InstanceNumber", "ImagePositionPatient", "ImageOrientationPatient", "FrameOfReferenceUID",
    "SliceThickness", "GantryDetectorTilt", "PixelSpacing", "RescaleIntercept",
    "RescaleSlope", "BodyPartExamined", "NumberOfFrames", "Rows", "Columns",
    "SamplesPerPixel", "BitsAllocated", "BitsStored", "PixelRepresentation")}


class _Header:
    """``get(keyword)`` on a header read by pydicom, with the plain values (ASCII text
    such as UIDs, codes, dates and numbers; names and descriptions whose bytes are plain
    ASCII, the same in every character set; little-endian US) decoded straight from
    their bytes: pydicom's general conversion of each element was most of the time of
    a header's read. Anything else (text in another character set or with ISO 2022
    escapes, sequences, an element whose VR is not the dictionary's) goes through
    pydicom."""

    def __init__(self, ds: pydicom.Dataset) -> None:
        self.ds = ds
        self.little_endian = ds.original_encoding[1] is not False

    def get(self, keyword: str, default: object = None) -> object:
        fast = _FAST.get(keyword)
        if fast is not None:
            tag, vr = fast
            elem = self.ds.get_item(tag, keep_deferred=True)
            if elem is None:
                return default
            raw = elem.value
            if isinstance(elem, RawDataElement) and isinstance(raw, bytes) and (
                    elem.VR in (None, vr)):
                if vr in _TEXT_VRS or (vr in _CHARSET_VRS and raw.isascii()
                                       and b"\x1b" not in raw):
                    text = raw.decode("ascii", "replace").strip(" \x00")
                    return text.split("\\") if "\\" in text else text
                if vr == "US" and self.little_endian and len(raw) == 2:
                    return int.from_bytes(raw, "little")
        return self.ds.get(keyword, default)


def read_instance(path: Path) -> Instance | SkippedFile:
    """Parse one file's header (pixel data deferred) into an :class:`Instance`.

    Returns a :class:`SkippedFile` with the reason when the file is not a
    DICOM image this loader can use. Never raises for a bad file.
    """
    try:
        size = path.stat().st_size
        ds = pydicom.dcmread(path, defer_size=1024, force=False, specific_tags=_HEADER_TAGS)
    except InvalidDicomError:
        return SkippedFile(path, "not a DICOM file")
    except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError) as exc:
        # pydicom raises assorted errors on damaged headers
        return SkippedFile(path, f"unreadable DICOM header ({type(exc).__name__}: {exc})")

    header = _Header(ds)
    sop_class = _str(header, "SOPClassUID") or _str(ds.file_meta, "MediaStorageSOPClassUID")
    for prefix, name in _NON_IMAGE_SOP.items():
        if sop_class.startswith(prefix) and not (
            name == "secondary capture" and "PixelData" in ds and "ImagePositionPatient" in ds
        ):
            return SkippedFile(path, f"non-image object: {name}")
    if PIXEL_DATA not in ds and FLOAT_PIXEL_DATA not in ds:
        return SkippedFile(path, "DICOM object without pixel data")

    ts = str(ds.file_meta.get("TransferSyntaxUID", pydicom.uid.ImplicitVRLittleEndian))
    raw = ds.get_item(PIXEL_DATA, keep_deferred=True) if PIXEL_DATA in ds else None
    offset = length = None
    # a deflated dataset's offsets count in the inflated stream, not in the file
    deflated = ts == pydicom.uid.DeflatedExplicitVRLittleEndian
    if isinstance(raw, RawDataElement) and raw.value_tell is not None and not deflated:
        if raw.length != UNDEFINED_LENGTH:
            offset, length = int(raw.value_tell), int(raw.length)
            if offset + length > size:
                return SkippedFile(
                    path,
                    f"truncated: pixel data needs {length} bytes at offset {offset}, "
                    f"file has {size}",
                )
        elif not _ends_with_delimiter(path):
            return SkippedFile(path, "truncated: encapsulated pixel data has no end delimiter")

    rows, columns = _int(header, "Rows"), _int(header, "Columns")
    if not rows or not columns:
        return SkippedFile(path, "image without Rows/Columns")
    frames = _int(header, "NumberOfFrames") or 1

    position = _floats(header, "ImagePositionPatient", 3)
    orientation = _floats(header, "ImageOrientationPatient", 6)
    spacing = _floats(header, "PixelSpacing", 2)
    thickness = _float(header, "SliceThickness")
    slope = _float(header, "RescaleSlope", 1.0)
    intercept = _float(header, "RescaleIntercept", 0.0)
    if frames > 1:  # enhanced multi-frame: geometry lives in functional groups
        orientation = orientation or _as_floats(
            _shared_frame_value(ds, "PlaneOrientationSequence", "ImageOrientationPatient"), 6
        )
        spacing = spacing or _as_floats(
            _shared_frame_value(ds, "PixelMeasuresSequence", "PixelSpacing"), 2
        )
        thickness = thickness or _as_float(
            _shared_frame_value(ds, "PixelMeasuresSequence", "SliceThickness")
        )
        slope = _as_float(
            _shared_frame_value(ds, "PixelValueTransformationSequence", "RescaleSlope"), slope
        )
        intercept = _as_float(
            _shared_frame_value(ds, "PixelValueTransformationSequence", "RescaleIntercept"),
            intercept,
        )

    image_type = tuple(str(v).upper() for v in _list(header.get("ImageType")))
    return Instance(
        path=path,
        sop_class_uid=sop_class,
        sop_instance_uid=_str(header, "SOPInstanceUID"),
        patient_id=_str(header, "PatientID"),
        patient_name=_str(header, "PatientName"),
        study_uid=_str(header, "StudyInstanceUID"),
        study_date=_iso_date(_str(header, "StudyDate")),
        series_date=next((_iso_date(v) for v in (_str(header, k) for k in (
            "SeriesDate", "AcquisitionDate", "ContentDate")) if v), ""),
        series_uid=_str(header, "SeriesInstanceUID"),
        series_number=_int(header, "SeriesNumber"),
        modality=_str(header, "Modality"),
        description=_str(header, "SeriesDescription"),
        image_type=image_type,
        rows=rows,
        columns=columns,
        frames=frames,
        position=position,  # type: ignore[arg-type]
        orientation=orientation,
        pixel_spacing=spacing,  # type: ignore[arg-type]
        slice_thickness=thickness,
        instance_number=_int(header, "InstanceNumber"),
        acquisition_number=_int(header, "AcquisitionNumber"),
        acquisition_time=_str(header, "AcquisitionTime"),
        kernel=_str(header, "ConvolutionKernel"),
        contrast=_str(header, "ContrastBolusAgent"),
        body_part=_str(header, "BodyPartExamined"),
        frame_of_reference_uid=_str(header, "FrameOfReferenceUID"),
        manufacturer=_str(header, "Manufacturer"),
        gantry_tilt_deg=_float(header, "GantryDetectorTilt", 0.0) or 0.0,
        rescale_slope=slope if slope else 1.0,
        rescale_intercept=intercept or 0.0,
        bits_allocated=_int(header, "BitsAllocated") or 16,
        bits_stored=_int(header, "BitsStored") or _int(header, "BitsAllocated") or 16,
        pixel_representation=_int(header, "PixelRepresentation") or 0,
        samples_per_pixel=_int(header, "SamplesPerPixel") or 1,
        transfer_syntax=ts,
        pixel_offset=offset,
        pixel_length=length,
    )


def _as_floats(value: object, n: int) -> tuple[float, ...] | None:
    try:
        out = tuple(float(v) for v in _list(value))
    except (TypeError, ValueError):
        return None
    return out if len(out) == n else None


def _as_float(value: object, default: float | None = None) -> float | None:
    try:
        return default if value in (None, "") else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def _ends_with_delimiter(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 16))
        tail = fh.read()
    return _SEQ_DELIMITER in tail


def _walk(root: Path) -> Iterator[Path]:
    """Every file under ``root``, in name order, linked folders followed (a core lab's
    study tree is often links into an archive), each real folder once (a link back up
    the tree, or two links to one folder, would give it twice or without end)."""
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames.clear()
            continue
        seen.add(real)
        dirnames.sort()
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            yield Path(dirpath) / name


def discover(
    paths: Path | str | Iterable[Path | str],
    *,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> Inventory:
    """Walk folders (or take files) and group image instances into series.

    Parameters
    ----------
    paths
        A folder, a file, or several of them.
    progress
        Called as ``progress(done, total)`` while headers are read.
    workers
        Threads reading headers. Parsing is CPU-bound Python, so more threads
        only help on a slow (network) file system.

    Raises
    ------
    DicomReadError
        When a given path does not exist.
    """
    roots = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    files: list[Path] = []
    for root in roots:
        if root.is_dir():
            files.extend(_walk(root))
        elif root.is_file():
            files.append(root)
        else:
            raise DicomReadError(f"{root}: no such file or folder")

    results: list[Instance | SkippedFile] = []
    with ThreadPoolExecutor(max_workers=workers) if workers > 1 else nullcontext() as pool:
        # one thread: no pool (handing each file to a thread and back cost 40%)
        reads = pool.map(read_instance, files) if pool else map(read_instance, files)
        for n, result in enumerate(reads, start=1):
            results.append(result)
            if progress is not None:
                progress(n, len(files))

    by_uid: dict[str, Series] = {}
    skipped: list[SkippedFile] = []
    for res in results:
        if isinstance(res, SkippedFile):
            skipped.append(res)
            continue
        if not res.series_uid:
            skipped.append(SkippedFile(res.path, "image without SeriesInstanceUID"))
            continue
        by_uid.setdefault(res.series_uid, Series(res.series_uid)).instances.append(res)
    series = sorted(
        by_uid.values(),
        key=lambda s: (s.first.patient_id, s.first.study_date, s.first.study_uid,
                       s.first.series_number or 0, s.series_uid),
    )
    return Inventory(root=roots[0], series=series, skipped=skipped)


def require_series(inventory: Inventory, *, modality: str | None = "CT") -> list[Series]:
    """The non-localizer series of ``modality`` (all modalities when None).

    Raises :class:`NoSeriesError` naming the folder and what was found instead.
    """
    usable = [
        s for s in inventory.series
        if not s.is_localizer and (modality is None or s.first.modality == modality)
    ]
    if usable:
        return usable
    if not inventory.series and not inventory.skipped:
        raise NoSeriesError(f"{inventory.root}: folder is empty (no files)")
    found = sorted({f"{s.first.modality or '?'}" for s in inventory.series})
    reasons = sorted({f.reason.split(" (")[0] for f in inventory.skipped})
    what = "no DICOM image series" if not inventory.series else f"series of {', '.join(found)}"
    extra = f"; skipped files: {'; '.join(reasons)}" if reasons else ""
    want = f"{modality} " if modality else ""
    raise NoSeriesError(
        f"{inventory.root}: no {want}image series found (found {what}{extra})"
    )
