"""DICOM SR (TID 1500) of lesion measurements: dciodvfy-valid, and read back with
highdicom to the same numbers, coordinates and tracking identifiers."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes

from imaging.errors import InputError
from imaging.geometry import Geometry
from imaging.io import discover
from imaging.io.seg_export import SegmentSpec, write_seg
from imaging.io.sr_export import LesionReport, tracking_uid, write_sr
from imaging.measure import measure_mask
from imaging.volume import Volume
from tests.dicom_factory import axial_positions, dciodvfy_errors, with_spec, write_series


def _measurement(radius_mm: float):
    g = Geometry((40, 40, 10), (1.0, 1.0, 2.0), (-20.0, -20.0, 0.0), np.eye(3))
    k, j, i = np.indices((10, 40, 40))
    x, y, z = i - 20.0, j - 20.0, k * 2.0
    mask = ((x / radius_mm) ** 2 + (y / (0.7 * radius_mm)) ** 2 + ((z - 9) / 6) ** 2) <= 1
    return measure_mask(Volume(mask.astype(np.uint8), g))


def _seg_frames(tmp_path, series, labels, geometry, refused: str) -> list:
    """The SEG of ``labels`` (on the loaded grid), refused without its ``geometry`` (the
    message matching ``refused``), written with it and dciodvfy-valid: each frame with
    the source image (and frame) it refers to."""
    with pytest.raises(InputError, match=refused):
        write_seg(tmp_path / "refused.dcm", series, labels, [SegmentSpec(1, "T1")])
    path = write_seg(tmp_path / "seg.dcm", series, labels, [SegmentSpec(1, "T1")],
                     geometry=geometry)
    assert dciodvfy_errors(path) == []
    seg = pydicom.dcmread(path)
    return [(frame, group.DerivationImageSequence[0].SourceImageSequence[0])
            for frame, group in zip(seg.pixel_array.reshape(-1, seg.Rows, seg.Columns),
                                    seg.PerFrameFunctionalGroupsSequence, strict=True)]


def test_sr_validates_and_reads_back(tmp_path):
    write_series(tmp_path / "ct", axial_positions(4), spec=with_spec(patient_id="PT-9"))
    series = discover(tmp_path / "ct").series[0]
    lesions = [LesionReport("T1", _measurement(12.0), "lung"),
               LesionReport("N1", _measurement(9.0), "lymph node", nodal=True)]
    path = write_sr(tmp_path / "sr.dcm", series, lesions, time_point="week 12",
                    time_point_order=3)
    assert dciodvfy_errors(path) == []

    sr = hd.sr.srread(path)
    groups = sr.content.get_planar_roi_measurement_groups()
    assert [g.tracking_identifier for g in groups] == ["T1", "N1"]
    assert [g.tracking_uid for g in groups] == [tracking_uid("PT-9", "T1"),
                                                tracking_uid("PT-9", "N1")]
    for group, lesion in zip(groups, lesions, strict=True):
        m = lesion.measurement
        values = {meas.name.meaning: (meas.value, meas.unit.value)
                  for meas in group.get_measurements()}
        assert values["Long axis"] == (pytest.approx(m.long_axis_mm, abs=0.01), "mm")
        assert values["Short axis"] == (pytest.approx(m.short_axis_mm, abs=0.01), "mm")
        assert values["Volume"] == (pytest.approx(m.volume_ml, abs=0.001), "mL")
        np.testing.assert_allclose(group.roi.value, np.asarray(m.long_axis_endpoints), atol=1e-3)
    assert groups[1].finding_type.value == "59441001"  # lymph node
    assert groups[0].finding_type == codes.SCT.Neoplasm
    # the tracking UID does not depend on the timepoint
    again = write_sr(tmp_path / "sr2.dcm", series, lesions[:1], time_point="baseline")
    assert hd.sr.srread(again).content.get_planar_roi_measurement_groups()[0].tracking_uid == (
        tracking_uid("PT-9", "T1"))


def test_over_long_source_values_are_cut_to_their_vr(tmp_path):
    """A source CT whose Study ID runs past SH's 16 characters (MIRP's STS series carry
    'IBSI_1_STS_002_CT') and whose Institution Name past LO's 64: the SEG and the SR copy
    its study, cut to the VR, and validate."""
    paths = write_series(tmp_path / "ct", axial_positions(4), spec=with_spec(patient_id="P7"))
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.StudyID = "IBSI_1_STS_002_CT"
        ds.InstitutionName = "x" * 70
        ds.save_as(path)
    assert any("Length invalid" in e for e in dciodvfy_errors(paths[0]))
    series = discover(tmp_path / "ct").series[0]
    mask = np.zeros((4, 24, 20), dtype=np.uint8)
    mask[1:3, 8:14, 6:12] = 1
    seg = write_seg(tmp_path / "seg.dcm", series, mask, [SegmentSpec(1, "T1")])
    sr = write_sr(tmp_path / "sr.dcm", series, [LesionReport("T1", _measurement(8.0), "lung")],
                  time_point="baseline")
    for path in (seg, sr):
        assert dciodvfy_errors(path) == []
        ds = pydicom.dcmread(path)
        assert ds.StudyID == "IBSI_1_STS_002_C"
        assert ds.StudyInstanceUID == series.first.study_uid


def test_seg_of_a_tilt_corrected_series_lies_on_the_acquired_slices(tmp_path):
    """A gantry-tilted series (slice origins drifting 15 degrees) is loaded onto a grid
    extended and sheared back; its SEG is sampled at the acquired slices' pixels. Each
    frame marks the acquired pixels whose LPS position lies in the lesion (a 5 mm ball),
    up to the nearest-voxel sampling's half diagonal; without the geometry it is refused."""
    from imaging.io import load_series

    tilt = np.deg2rad(15.0)
    positions = [(-10.0, -20.0 + np.tan(tilt) * 3.0 * k, 3.0 * k) for k in range(9)]
    write_series(tmp_path / "ct", positions, spec=with_spec(gantry_tilt=15.0))
    series = discover(tmp_path / "ct").series[0]
    volume = load_series(series)
    assert volume.array.shape != (9, 24, 20)  # the loader changed the grid
    centre, radius = np.array([-3.0, -10.0, 12.0]), 5.0
    k, j, i = np.indices(volume.array.shape)
    lps = volume.geometry.index_to_lps(np.stack([i, j, k], -1).reshape(-1, 3))
    mask = (np.linalg.norm(lps - centre, axis=1) <= radius).reshape(volume.array.shape)
    frames = _seg_frames(tmp_path, series, mask.astype(np.uint8), volume.geometry,
                         "acquired frames")
    sources = {ds.SOPInstanceUID: ds for ds in map(pydicom.dcmread, (tmp_path / "ct").iterdir())}
    half_diagonal = float(np.linalg.norm(volume.geometry.spacing)) / 2
    jj, ii = np.mgrid[0:24, 0:20]
    marked = 0
    for frame, ref in frames:
        src = sources[ref.ReferencedSOPInstanceUID]
        origin = np.asarray(src.ImagePositionPatient, dtype=float)
        points = origin + ii[..., None] * 0.7 * np.array([1.0, 0, 0]) + \
            jj[..., None] * 0.7 * np.array([0, 1.0, 0])
        distance = np.linalg.norm(points - centre, axis=-1)
        assert distance[frame > 0].max() <= radius + half_diagonal
        assert frame[distance <= radius - half_diagonal].all()
        marked += int(frame.sum())
    assert marked > 0.5 * 4 / 3 * np.pi * radius ** 3 / (0.7 * 0.7 * 3.0)


def test_seg_of_a_multi_frame_ct_follows_its_frame_order(tmp_path):
    """An Enhanced CT (one multi-frame image, frames stored head first: the loader sorts
    them feet first) gets a SEG whose frames refer to the source's own frames: a block
    on loaded slices 2-3 is marked on the frames at those slices' positions."""
    from imaging.io import load_series
    from tests.dicom_factory import enhanced_ct_from_series

    paths = write_series(tmp_path / "src", axial_positions(6, spacing=2.0),
                         spec=with_spec(patient_id="E1"))
    enhanced_ct_from_series(paths, tmp_path / "enh" / "ct.dcm", reverse=True)
    series = discover(tmp_path / "enh").series[0]
    volume = load_series(series)
    labels = np.zeros(volume.array.shape, dtype=np.uint8)
    labels[2:4, 5:10, 6:12] = 1
    frames = _seg_frames(tmp_path, series, labels, volume.geometry, "multi-frame")
    source = pydicom.dcmread(tmp_path / "enh" / "ct.dcm")
    z_of_frame = [float(f.PlanePositionSequence[0].ImagePositionPatient[2])
                  for f in source.PerFrameFunctionalGroupsSequence]
    marked = []
    for frame, ref in frames:
        assert ref.ReferencedSOPInstanceUID == source.SOPInstanceUID
        z = z_of_frame[int(ref.ReferencedFrameNumber) - 1]
        np.testing.assert_array_equal(np.argwhere(frame), np.argwhere(labels[2]))
        marked.append(z)
    expected = [float(volume.geometry.index_to_lps([0, 0, k])[2]) for k in (2, 3)]
    assert sorted(marked) == pytest.approx(expected)
