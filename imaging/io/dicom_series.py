"""Load one DICOM image series into a :class:`~imaging.volume.Volume` in HU.

The rules, each applied on purpose and reported in ``Volume.warnings`` when
it changed anything:

* Slices are ordered by their position along the slice normal
  (``cross(row, column)`` of ImageOrientationPatient, dotted with
  ImagePositionPatient), never by InstanceNumber or file name.
* The spacing between slices comes from those positions, not from
  SliceThickness or SpacingBetweenSlices.
* Each slice's own RescaleSlope / RescaleIntercept is applied. The voxels are
  int16 when every slice gives integer HU that fit (slope 1, an integer
  intercept: nearly every CT), float32 otherwise, and float32 after any
  resampling.
* Oblique orientations are kept: the volume's direction matrix has the row,
  column and normal directions as its columns.
* Repeated acquisitions (two instances at one position) are never mixed:
  the acquisition with the most slices is kept, and the others are named.
* Gantry / detector tilt (slice origins that drift in-plane from slice to
  slice) is corrected as dcm2niix does: each slice is shifted in-plane with
  linear interpolation onto an orthogonal grid that is extended, not
  cropped, to hold every shifted slice; new voxels get the volume's minimum.
* Non-uniform slice spacing and missing slices are resampled (linear along
  the normal) onto a uniform grid. The new spacing is the smallest gap, but
  at most twice as many slices as acquired (then the extent divided evenly),
  the rule dcm2niix uses for its ``_Eq`` output. A series whose only
  irregularity is missing slices keeps its original spacing.
* Enhanced (multi-frame) objects are read frame by frame through the same
  rules, with geometry from the functional groups.
* Compressed transfer syntaxes are decoded by pydicom's pixel-data plugins
  (pylibjpeg and its JPEG, JPEG-LS, JPEG 2000 and RLE plugins). Uncompressed
  little-endian slices are read straight from the file at the pixel-data
  offset found during discovery.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from scipy import ndimage

from ..errors import DicomReadError, GeometryError
from ..geometry import ORTHOGONALITY_TOLERANCE, SPACING_RELATIVE_TOLERANCE, Geometry
from ..volume import SeriesInfo, Volume
from .discover import Instance, Series

__all__ = ["TILT_TOLERANCE_MM", "load_series"]

#: In-plane drift of a slice origin (mm) above which a stack counts as tilted.
TILT_TOLERANCE_MM = 0.01
#: Two slices closer than this along the normal (mm) sit at the same position.
DUPLICATE_TOLERANCE_MM = 0.01

_NATIVE = {str(ExplicitVRLittleEndian), str(ImplicitVRLittleEndian)}


@dataclass(frozen=True)
class _Slice:
    """One 2D frame to place in the volume."""

    instance: Instance
    frame: int
    """0-based frame index within the instance (0 for single-frame files)."""
    position: np.ndarray
    slope: float
    intercept: float


def load_series(
    series: Series,
    *,
    correct_tilt: bool = True,
    regularize_spacing: bool = True,
    workers: int = 4,
    progress: Callable[[int, int], None] | None = None,
) -> Volume:
    """Load ``series`` as a HU :class:`Volume` (int16 or float32) in LPS geometry.

    Parameters
    ----------
    series
        A series from :func:`imaging.io.discover.discover`.
    correct_tilt
        Shift tilted (sheared) slices onto an orthogonal grid. With False a
        tilted series raises :class:`GeometryError` instead.
    regularize_spacing
        Resample non-uniform slice spacing onto a uniform grid. With False an
        irregular series raises :class:`GeometryError` instead.
    workers
        Threads decoding pixel data.
    progress
        Called as ``progress(done, total)`` while slices are decoded.
    """
    warnings: list[str] = []
    slices = _collect_slices(series, warnings)
    first = slices[0].instance
    row, col, normal = _orientation(first, series)
    ps_row, ps_col = first.pixel_spacing or (1.0, 1.0)
    if first.pixel_spacing is None:
        warnings.append(f"series {series.series_uid}: no PixelSpacing; assumed 1 mm")

    slices = _drop_duplicates(slices, normal, series, warnings)
    dist = np.array([s.position @ normal for s in slices])
    order = np.argsort(dist, kind="stable")
    slices = [slices[i] for i in order]
    dist = dist[order]

    try:
        array = _read_pixels(_hu_dtype(slices), slices, first.rows, first.columns, workers,
                             progress)
    except _NotInt16:  # a slice's HU do not fit int16: read again as float32
        array = _read_pixels(np.float32, slices, first.rows, first.columns, workers, progress)

    origin = slices[0].position
    spacing_k = _nominal_gap(dist, first)
    offsets = np.array([s.position - origin for s in slices])
    inplane = offsets - np.outer(offsets @ normal, normal)
    if len(slices) > 1 and np.max(np.linalg.norm(inplane, axis=1)) > TILT_TOLERANCE_MM:
        if not correct_tilt:
            raise GeometryError(
                f"series {series.series_uid}: slice origins drift in-plane by up to "
                f"{np.max(np.linalg.norm(inplane, axis=1)):.2f} mm (gantry tilt "
                f"{first.gantry_tilt_deg} deg); load with correct_tilt=True"
            )
        array, origin = _correct_tilt(
            array, origin, inplane, row, col, (ps_row, ps_col)
        )
        angle = math.degrees(math.atan2(np.linalg.norm(inplane[-1]), dist[-1] - dist[0]))
        warnings.append(
            f"series {series.series_uid}: gantry/detector tilt corrected (slices sheared by "
            f"{angle:.2f} deg, header GantryDetectorTilt {first.gantry_tilt_deg:g} deg); "
            f"grid extended to {array.shape[1]} rows x {array.shape[2]} columns"
        )

    rel = dist - dist[0]
    if len(slices) > 2 and not _uniform(rel):
        if not regularize_spacing:
            raise GeometryError(
                f"series {series.series_uid}: non-uniform slice spacing "
                f"{_describe_gaps(rel)}; load with regularize_spacing=True"
            )
        array, spacing_k, note = _regularize(rel, array)
        warnings.append(f"series {series.series_uid}: {note}")

    geometry = Geometry(
        size=(array.shape[2], array.shape[1], array.shape[0]),
        spacing=(ps_col, ps_row, spacing_k),
        origin=origin,
        direction=np.column_stack([row, col, normal]),
    )
    return Volume(array, geometry, series_info(series), tuple(warnings))


def series_info(series: Series) -> SeriesInfo:
    """The metadata the pipeline carries along with a loaded volume."""
    first = series.first
    return SeriesInfo(
        patient_id=first.patient_id,
        patient_name=first.patient_name,
        study_uid=first.study_uid,
        study_date=first.study_date,
        series_uid=series.series_uid,
        series_number=first.series_number,
        description=first.description,
        modality=first.modality,
        slice_thickness_mm=first.slice_thickness,
        kernel=first.kernel,
        contrast=first.contrast,
        body_part=first.body_part,
        frame_of_reference_uid=first.frame_of_reference_uid,
        manufacturer=first.manufacturer,
    )


# -- collecting frames ---------------------------------------------------------
def _collect_slices(series: Series, warnings: list[str]) -> list[_Slice]:
    instances = [i for i in series.instances if not i.is_localizer] or series.instances
    shapes = {(i.rows, i.columns) for i in instances}
    if len(shapes) > 1:
        counts: dict[tuple[int, int], int] = {}
        for inst in instances:
            counts[(inst.rows, inst.columns)] = counts.get((inst.rows, inst.columns), 0) + 1
        keep = max(counts, key=lambda k: counts[k])
        warnings.append(
            f"series {series.series_uid}: instances of several sizes {sorted(counts.items())}; "
            f"kept the {counts[keep]} of {keep[0]}x{keep[1]}"
        )
        instances = [i for i in instances if (i.rows, i.columns) == keep]

    out: list[_Slice] = []
    for inst in instances:
        if inst.is_multiframe:
            out.extend(_frames_of(inst))
        else:
            if inst.position is None:
                raise GeometryError(f"{inst.path}: image without ImagePositionPatient")
            out.append(
                _Slice(inst, 0, np.asarray(inst.position), inst.rescale_slope,
                       inst.rescale_intercept)
            )
    if not out:
        raise DicomReadError(f"series {series.series_uid}: no image frames to load")
    return out


def _frames_of(inst: Instance) -> list[_Slice]:
    """Per-frame positions and rescale of an enhanced multi-frame object."""
    ds = pydicom.dcmread(inst.path, stop_before_pixels=True)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    shared = (ds.get("SharedFunctionalGroupsSequence") or [None])[0]
    out: list[_Slice] = []
    for f in range(inst.frames):
        item = per_frame[f] if f < len(per_frame) else None
        pos = _group_value(item, shared, "PlanePositionSequence", "ImagePositionPatient")
        if pos is None:
            raise GeometryError(f"{inst.path}: frame {f + 1} has no ImagePositionPatient")
        slope = _group_value(item, shared, "PixelValueTransformationSequence", "RescaleSlope")
        inter = _group_value(item, shared, "PixelValueTransformationSequence",
                             "RescaleIntercept")
        out.append(
            _Slice(
                inst, f, np.asarray([float(v) for v in pos]),
                float(slope) if slope is not None else inst.rescale_slope,
                float(inter) if inter is not None else inst.rescale_intercept,
            )
        )
    return out


def _group_value(item: object, shared: object, seq: str, keyword: str) -> object | None:
    for group in (item, shared):
        if group is None:
            continue
        inner = group.get(seq)  # type: ignore[attr-defined]
        if inner and keyword in inner[0]:
            return inner[0].get(keyword)
    return None


def _orientation(first: Instance, series: Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    orientations = {
        tuple(np.round(i.orientation, 4)) for i in series.instances
        if i.orientation is not None and not i.is_localizer
    }
    if first.orientation is None:
        raise GeometryError(f"{first.path}: image without ImageOrientationPatient")
    if len(orientations) > 1:
        raise GeometryError(
            f"series {series.series_uid}: slices have {len(orientations)} different "
            f"orientations (ImageOrientationPatient); cannot stack them into one volume"
        )
    iop = np.asarray(first.orientation, dtype=float)
    row, col = iop[:3], iop[3:]
    row = row / np.linalg.norm(row)
    col = col - (col @ row) * row  # remove rounding error in the header
    col = col / np.linalg.norm(col)
    if abs(float(np.asarray(first.orientation[:3]) @ np.asarray(first.orientation[3:]))) > (
        ORTHOGONALITY_TOLERANCE * 100
    ):
        raise GeometryError(
            f"{first.path}: ImageOrientationPatient rows and columns are not orthogonal "
            f"({list(first.orientation)})"
        )
    return row, col, np.cross(row, col)


def _drop_duplicates(
    slices: list[_Slice], normal: np.ndarray, series: Series, warnings: list[str]
) -> list[_Slice]:
    """Keep one acquisition when several instances share a slice position."""
    dist = np.array([s.position @ normal for s in slices])
    keys = np.round(dist / DUPLICATE_TOLERANCE_MM).astype(np.int64)
    if len(np.unique(keys)) == len(keys):
        return slices
    groups: dict[object, list[_Slice]] = {}
    for s in slices:
        groups.setdefault(s.instance.acquisition_number, []).append(s)

    def unique(group: list[_Slice]) -> bool:
        k = np.round(np.array([s.position @ normal for s in group]) / DUPLICATE_TOLERANCE_MM)
        return len(np.unique(k)) == len(k)

    if len(groups) > 1 and all(unique(g) for g in groups.values()):
        keep_key = max(groups, key=lambda k: (len(groups[k]), -(k or 0)))  # type: ignore[operator]
        dropped = {k: len(v) for k, v in groups.items() if k != keep_key}
        warnings.append(
            f"series {series.series_uid}: repeated acquisitions at the same positions; kept "
            f"AcquisitionNumber {keep_key} ({len(groups[keep_key])} slices), left out "
            + ", ".join(f"AcquisitionNumber {k} ({n} slices)" for k, n in dropped.items())
        )
        return groups[keep_key]
    # no acquisition number separates them: keep the first instance at each position
    ordered = sorted(
        slices, key=lambda s: (s.instance.acquisition_time, s.instance.instance_number or 0,
                               s.frame)
    )
    seen: set[int] = set()
    kept: list[_Slice] = []
    for s in ordered:
        key = int(np.round(s.position @ normal / DUPLICATE_TOLERANCE_MM))
        if key not in seen:
            seen.add(key)
            kept.append(s)
    warnings.append(
        f"series {series.series_uid}: {len(slices) - len(kept)} instances repeat a slice "
        f"position; kept the earliest at each position ({len(kept)} slices)"
    )
    return kept


# -- pixels ---------------------------------------------------------------------
def _read_pixels(
    dtype: type,
    slices: Sequence[_Slice],
    rows: int,
    columns: int,
    workers: int,
    progress: Callable[[int, int], None] | None,
) -> np.ndarray:
    out = np.empty((len(slices), rows, columns), dtype=dtype)
    multiframe: dict[object, np.ndarray] = {}

    def fill(k: int) -> None:
        s = slices[k]
        if s.instance.is_multiframe:
            frames = multiframe.get(s.instance.path)
            if frames is None:
                frames = _decode_with_pydicom(s.instance)
                multiframe[s.instance.path] = frames
            raw = frames[s.frame]
        else:
            raw = _read_native(s.instance)
            if raw is None:
                raw = _decode_with_pydicom(s.instance)
        if raw.shape != (rows, columns):
            raise DicomReadError(
                f"{s.instance.path}: pixel data has shape {raw.shape}, expected {(rows, columns)}"
            )
        dst = out[k]
        if dtype == np.int16:  # integer HU: one pass, exact
            if raw.min() + s.intercept < -32768 or raw.max() + s.intercept > 32767:
                raise _NotInt16
            np.add(raw, np.int16(s.intercept), out=dst, casting="unsafe")
        elif s.slope == 1.0:
            np.add(raw, np.float32(s.intercept), out=dst, casting="unsafe")
        else:
            np.multiply(raw, np.float32(s.slope), out=dst, casting="unsafe")
            dst += np.float32(s.intercept)

    if any(s.instance.is_multiframe for s in slices):
        workers = 1  # frames of one object share one decode
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for n, _ in enumerate(pool.map(fill, range(len(slices))), start=1):
            if progress is not None:
                progress(n, len(slices))
    return out


def _hu_dtype(slices: Sequence[_Slice]) -> type:
    """int16 when every slice's HU can be integers (slope 1, integer intercept,
    at most 16 stored bits), else float32. Whether the values fit int16 is
    checked slice by slice while reading (:class:`_NotInt16`)."""
    for s in slices:
        if s.slope != 1.0 or s.intercept != int(s.intercept) or s.instance.bits_stored > 16:
            return np.float32
    return np.int16


class _NotInt16(Exception):
    """A slice's HU fall outside int16: the volume is read again as float32."""


def _read_native(inst: Instance) -> np.ndarray | None:
    """Read uncompressed little-endian grey pixels directly; None if not possible."""
    if (
        inst.transfer_syntax not in _NATIVE
        or inst.pixel_offset is None
        or inst.samples_per_pixel != 1
        or inst.bits_allocated not in (8, 16, 32)
    ):
        return None
    n = inst.rows * inst.columns
    itemsize = inst.bits_allocated // 8
    if inst.pixel_length is not None and inst.pixel_length < n * itemsize:
        raise DicomReadError(
            f"{inst.path}: pixel data holds {inst.pixel_length} bytes, "
            f"{inst.rows}x{inst.columns} pixels need {n * itemsize}"
        )
    kind = "i" if inst.pixel_representation == 1 else "u"
    dtype = np.dtype(f"<{kind}{itemsize}")
    raw = np.fromfile(inst.path, dtype=dtype, count=n, offset=inst.pixel_offset)
    if raw.size != n:
        raise DicomReadError(f"{inst.path}: pixel data is truncated")
    if inst.bits_stored < inst.bits_allocated:
        unused = inst.bits_allocated - inst.bits_stored
        if kind == "i":  # sign-extend from the stored bits
            raw = (raw << unused) >> unused
        else:
            raw = raw & np.array((1 << inst.bits_stored) - 1, dtype=dtype)
    return raw.reshape(inst.rows, inst.columns)


def _decode_with_pydicom(inst: Instance) -> np.ndarray:
    try:
        ds = pydicom.dcmread(inst.path)
        arr = ds.pixel_array
    except Exception as exc:
        raise DicomReadError(
            f"{inst.path}: cannot decode pixel data ({inst.transfer_syntax}): {exc}"
        ) from exc
    if inst.samples_per_pixel != 1:
        raise DicomReadError(
            f"{inst.path}: colour images are not CT ({inst.samples_per_pixel} samples per pixel)"
        )
    if inst.is_multiframe:
        return arr.reshape(inst.frames, inst.rows, inst.columns)
    return arr


# -- geometry corrections -----------------------------------------------------------
def _nominal_gap(dist: np.ndarray, first: Instance) -> float:
    if len(dist) > 1:
        gaps = np.diff(dist)
        gap = float(np.median(gaps))
        if gap > 0:
            return gap
    return float(first.slice_thickness or 1.0)


def _uniform(rel: np.ndarray) -> bool:
    gaps = np.diff(rel)
    med = float(np.median(gaps))
    return bool(np.all(np.abs(gaps - med) <= max(SPACING_RELATIVE_TOLERANCE * med, 1e-3)))


def _describe_gaps(rel: np.ndarray) -> str:
    gaps = np.round(np.diff(rel), 3)
    values, counts = np.unique(gaps, return_counts=True)
    return "{" + ", ".join(f"{v:g} mm x{c}" for v, c in zip(values, counts, strict=True)) + "}"


def _regularize(rel: np.ndarray, array: np.ndarray) -> tuple[np.ndarray, float, str]:
    """Resample slices at positions ``rel`` (mm, ascending) onto a uniform grid."""
    gaps = np.diff(rel)
    smallest = float(gaps[gaps > 0].min())
    multiples = gaps / smallest
    n_in = len(rel)
    usual = float(np.median(gaps))
    if abs(usual - smallest) <= SPACING_RELATIVE_TOLERANCE * usual and np.allclose(
        multiples, np.round(multiples), atol=SPACING_RELATIVE_TOLERANCE * 5
    ):
        step = smallest
        n_out = round(rel[-1] / step) + 1
        missing = n_out - n_in
        what = (
            f"{missing} missing slice(s) in a {step:g} mm stack (gaps {_describe_gaps(rel)}); "
            f"filled by linear interpolation"
        )
    else:
        step = smallest
        n_out = math.floor(rel[-1] / step + 1e-6) + 1
        if n_out > 2 * n_in:
            n_out = 2 * n_in
            step = rel[-1] / (n_out - 1)
        what = (
            f"non-uniform slice spacing {_describe_gaps(rel)}; resampled to {n_out} slices "
            f"of {step:.4g} mm by linear interpolation along the slice normal"
        )
    targets = np.arange(n_out) * step
    hi = np.clip(np.searchsorted(rel, targets - 1e-6), 1, n_in - 1)
    lo = hi - 1
    w_hi = np.clip((targets - rel[lo]) / (rel[hi] - rel[lo]), 0.0, 1.0).astype(np.float32)
    out = np.empty((n_out, *array.shape[1:]), dtype=np.float32)
    for k in range(n_out):
        out[k] = array[lo[k]] * (1 - w_hi[k]) + array[hi[k]] * w_hi[k]
    return out, float(step), what


def _correct_tilt(
    array: np.ndarray,
    origin: np.ndarray,
    inplane: np.ndarray,
    row: np.ndarray,
    col: np.ndarray,
    pixel_spacing: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Shift each slice in-plane so that all slices share slice 0's in-plane frame."""
    ps_row, ps_col = pixel_spacing
    u = inplane @ row / ps_col  # shift of each slice along i (columns), in pixels
    v = inplane @ col / ps_row  # along j (rows)
    lo_i, hi_i = math.floor(min(0.0, u.min()) + 1e-6), math.ceil(max(0.0, u.max()) - 1e-6)
    lo_j, hi_j = math.floor(min(0.0, v.min()) + 1e-6), math.ceil(max(0.0, v.max()) - 1e-6)
    n_k, n_j, n_i = array.shape
    out_shape = (n_j + hi_j - lo_j, n_i + hi_i - lo_i)
    fill = float(array.min())
    out = np.empty((n_k, *out_shape), dtype=np.float32)
    rows_out = np.arange(out_shape[0])
    cols_out = np.arange(out_shape[1])
    for k in range(n_k):
        # output pixel (r, c) sits at input pixel (r + lo_j - v_k, c + lo_i - u_k); the
        # input is padded by one edge pixel so that a pixel keeps its own half-pixel extent
        off_j, off_i = lo_j - v[k], lo_i - u[k]
        ndimage.affine_transform(
            np.pad(array[k], 1, mode="edge"), np.eye(2), offset=(off_j + 1, off_i + 1),
            output_shape=out_shape, output=out[k], order=1, mode="constant", cval=fill,
            prefilter=False,
        )
        src_r, src_c = rows_out + off_j, cols_out + off_i
        out[k, (src_r < -0.5) | (src_r > n_j - 0.5), :] = fill
        out[k, :, (src_c < -0.5) | (src_c > n_i - 0.5)] = fill
    new_origin = origin + lo_i * ps_col * row + lo_j * ps_row * col
    return out, new_origin
