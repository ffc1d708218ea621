"""The loader on small synthetic series, one irregular case per test.

Pixel values sample a linear field of the LPS position, so after any
correction (reordering, tilt shift, resampling along the normal) every voxel
must hold exactly the field's value at the voxel's own LPS position.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian, JPEG2000Lossless, RLELossless
from scipy import ndimage

from imaging.errors import GeometryError, NoSeriesError
from imaging.io import choose_series, discover, load_image, load_series, require_series
from imaging.io.dicom_writer import CTSeriesSpec
from tests.dicom_factory import axial_positions, linear_field, with_spec, write_series


def voxel_lps(volume) -> np.ndarray:
    """LPS position of every voxel, shape array.shape + (3,)."""
    k, j, i = np.indices(volume.array.shape)
    idx = np.stack([i, j, k], axis=-1).reshape(-1, 3)
    return volume.geometry.index_to_lps(idx).reshape(*volume.array.shape, 3)


def assert_samples_field(volume, atol=0.51, mask=None) -> None:
    pts = voxel_lps(volume)
    expected = linear_field(pts[..., 0], pts[..., 1], pts[..., 2])
    diff = np.abs(volume.array - expected)
    if mask is not None:
        diff = diff[mask]
    # stored values are rounded to integers: half a unit of rounding per sample
    assert diff.max() <= atol, f"max deviation {diff.max():.3f} HU"


def load_one(folder):
    inv = discover(folder)
    assert len(inv.series) == 1
    return load_series(inv.series[0])


def test_shuffled_names_and_instance_numbers_sorted_by_position(tmp_path):
    pos = axial_positions(12, spacing=1.25)
    # InstanceNumber runs opposite to z, file names are random, folders nested
    write_series(tmp_path, pos, instance_numbers=list(range(12, 0, -1)), nested=True)
    vol = load_one(tmp_path)
    assert vol.array.shape == (12, 24, 20)
    np.testing.assert_allclose(vol.geometry.origin, pos[0])
    np.testing.assert_allclose(vol.geometry.spacing, [0.7, 0.7, 1.25])
    np.testing.assert_allclose(vol.geometry.direction, np.eye(3))
    assert_samples_field(vol)
    assert vol.warnings == ()


def test_oblique_orientation_kept(tmp_path):
    a = np.deg2rad(25.0)
    row = np.array([1.0, 0.0, 0.0])
    col = np.array([0.0, np.cos(a), -np.sin(a)])
    normal = np.cross(row, col)
    origin = np.array([-5.0, 3.0, 7.0])
    pos = [origin + k * 2.0 * normal for k in range(8)]
    spec = with_spec(orientation=(*row, *col))
    write_series(tmp_path, pos, spec=spec)
    vol = load_one(tmp_path)
    np.testing.assert_allclose(vol.geometry.direction, np.column_stack([row, col, normal]),
                               atol=1e-6)
    np.testing.assert_allclose(vol.geometry.spacing[2], 2.0, atol=1e-6)
    assert not vol.geometry.is_axial()
    assert_samples_field(vol)


def test_variable_spacing_resampled_to_uniform_grid(tmp_path):
    z = np.array([0.0, 1.0, 2.0, 3.0, 5.5, 8.0, 10.5])
    pos = [(-10.0, -20.0, float(v)) for v in z]
    write_series(tmp_path, pos)
    vol = load_one(tmp_path)
    # smallest gap 1 mm -> 11 slices over 10.5 mm (2 x 7 = 14 is not exceeded)
    assert vol.array.shape[0] == 11
    np.testing.assert_allclose(vol.geometry.spacing[2], 1.0)
    assert any("non-uniform slice spacing" in w for w in vol.warnings)
    assert_samples_field(vol)


def test_spacing_capped_at_twice_the_slices(tmp_path):
    z = [0.0, 0.5, 10.0, 20.0, 30.0]
    write_series(tmp_path, [(-10.0, -20.0, v) for v in z])
    vol = load_one(tmp_path)
    assert vol.array.shape[0] == 10  # not 61 slices of 0.5 mm
    np.testing.assert_allclose(vol.geometry.spacing[2], 30.0 / 9)
    assert_samples_field(vol)


def test_missing_slice_filled_and_reported(tmp_path):
    pos = axial_positions(10, spacing=2.0)
    del pos[4]
    write_series(tmp_path, pos)
    vol = load_one(tmp_path)
    assert vol.array.shape[0] == 10
    np.testing.assert_allclose(vol.geometry.spacing[2], 2.0)
    assert any("1 missing slice" in w for w in vol.warnings)
    assert_samples_field(vol)


def test_gantry_tilt_corrected_onto_orthogonal_grid(tmp_path):
    tilt = np.deg2rad(15.0)
    # axial slices whose origins drift posteriorly with z, as a tilted gantry writes them
    pos = [(-10.0, -20.0 + np.tan(tilt) * 3.0 * k, 3.0 * k) for k in range(9)]
    write_series(tmp_path, pos, spec=with_spec(gantry_tilt=15.0))
    vol = load_one(tmp_path)
    drift_px = np.tan(tilt) * 24.0 / 0.7
    assert vol.array.shape[1] == 24 + int(np.ceil(drift_px))  # extended, not cropped
    np.testing.assert_allclose(vol.geometry.direction, np.eye(3), atol=1e-9)
    assert any("tilt corrected" in w for w in vol.warnings)
    # inside each slice's data the field is reproduced; the rim half-pixel holds the edge
    # value and the extension beyond it the volume's minimum
    data = vol.array > vol.array.min() + 0.5
    interior = ndimage.binary_erosion(data, structure=np.ones((1, 3, 1), bool))
    assert_samples_field(vol, mask=interior)
    assert 0.5 < data.sum() / (9 * 24 * 20) <= 1.0 + 1.0 / 24
    with pytest.raises(GeometryError, match="gantry tilt"):
        load_series(discover(tmp_path).series[0], correct_tilt=False)


def test_per_slice_rescale_applied(tmp_path):
    slopes = [1.0, 0.5, 2.0, 1.0, 0.25]
    write_series(tmp_path, axial_positions(5), slopes=slopes)
    vol = load_one(tmp_path)
    assert_samples_field(vol, atol=1.01)  # slope 2 doubles the rounding step


def test_repeated_acquisition_not_mixed(tmp_path):
    pos = axial_positions(6)
    write_series(tmp_path / "a", pos, spec=with_spec(series_uid="1.2.3.4", acquisition_number=1))
    write_series(tmp_path / "b", pos[:4], spec=with_spec(series_uid="1.2.3.4",
                                                          acquisition_number=2),
                 field=lambda x, y, z: linear_field(x, y, z) + 500.0)
    vol = load_one(tmp_path)
    assert vol.array.shape[0] == 6
    assert_samples_field(vol)  # none of the +500 slices were mixed in
    assert any("AcquisitionNumber 2 (4 slices)" in w for w in vol.warnings)


def test_two_series_in_one_folder_are_told_apart(tmp_path):
    thin = with_spec(series_uid="1.2.3.10", series_description="thin", slice_thickness=1.0)
    thick = with_spec(series_uid="1.2.3.20", series_description="thick", slice_thickness=5.0)
    write_series(tmp_path, axial_positions(20, 1.0), spec=thin)
    write_series(tmp_path, axial_positions(4, 5.0), spec=thick)
    inv = discover(tmp_path)
    assert sorted(s.slices for s in inv.series) == [4, 20]
    choice = choose_series(inv)
    assert choice.series.series_uid == "1.2.3.10"
    assert "thinnest slices" in choice.rule
    assert "1.2.3.20" in choice.describe()
    vol = load_image(tmp_path, series_uid="1.2.3.20")
    assert vol.array.shape[0] == 4
    np.testing.assert_allclose(vol.geometry.spacing[2], 5.0)


def test_lung_kernel_chosen_when_asked(tmp_path):
    soft = with_spec(series_uid="1.2.3.1", kernel="B30f")
    lung = with_spec(series_uid="1.2.3.2", kernel="B70f", series_description="LUNG 1.0")
    write_series(tmp_path, axial_positions(6), spec=soft)
    write_series(tmp_path, axial_positions(6), spec=lung)
    inv = discover(tmp_path)
    assert choose_series(inv, kernel="lung").series.series_uid == "1.2.3.2"
    assert choose_series(inv, kernel="soft").series.series_uid == "1.2.3.1"


def test_localizer_is_listed_but_never_chosen(tmp_path):
    scout = with_spec(series_uid="1.2.3.9", image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
                      orientation=(1, 0, 0, 0, 0, -1))
    write_series(tmp_path, [(-10.0, 0.0, 0.0)] * 1, spec=scout, shape=(64, 20))
    write_series(tmp_path, axial_positions(5), spec=with_spec(series_uid="1.2.3.1"))
    inv = discover(tmp_path)
    assert {s.series_uid: s.is_localizer for s in inv.series} == {"1.2.3.9": True,
                                                                   "1.2.3.1": False}
    assert choose_series(inv).series.series_uid == "1.2.3.1"


def test_truncated_and_non_dicom_files_skipped_with_reason(tmp_path):
    paths = write_series(tmp_path, axial_positions(8), shuffle=False)
    data = paths[3].read_bytes()
    paths[3].write_bytes(data[: len(data) - 300])
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 4)
    inv = discover(tmp_path)
    reasons = {p.path.name: p.reason for p in inv.skipped}
    assert reasons["notes.txt"] == "not a DICOM file"
    assert reasons["blob.bin"] == "not a DICOM file"
    assert reasons[paths[3].name].startswith("truncated")
    vol = load_series(inv.series[0])
    assert vol.array.shape[0] == 8  # the lost slice is interpolated, and said so
    assert any("missing slice" in w for w in vol.warnings)
    assert_samples_field(vol)


def test_empty_folder_and_folder_without_ct(tmp_path):
    with pytest.raises(NoSeriesError, match="empty"):
        require_series(discover(tmp_path))
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(NoSeriesError, match=r"no CT image series.*not a DICOM file"):
        require_series(discover(tmp_path))


def test_linked_folders_are_followed_each_once(tmp_path):
    """A study tree of links into an archive (os.walk alone does not follow them: the
    tree read as empty); a link back up the tree and a second link to one folder do not
    give its files twice."""
    write_series(tmp_path / "archive" / "a", axial_positions(3), nested=True)
    write_series(tmp_path / "archive" / "b", axial_positions(4),
                 spec=with_spec(patient_id="P2"))
    tree = tmp_path / "studies"
    tree.mkdir()
    (tree / "first").symlink_to(tmp_path / "archive" / "a", target_is_directory=True)
    (tree / "again").symlink_to(tmp_path / "archive" / "a", target_is_directory=True)
    (tree / "second").symlink_to(tmp_path / "archive" / "b", target_is_directory=True)
    (tmp_path / "archive" / "b" / "loop").symlink_to(tree, target_is_directory=True)
    inv = discover(tree)
    assert sorted((s.first.patient_id, s.slices) for s in inv.series) == [("P1", 3), ("P2", 4)]
    assert inv.skipped == []


def test_non_image_objects_skipped(tmp_path):
    write_series(tmp_path, axial_positions(3))
    sr = pydicom.Dataset()
    sr.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.22"
    sr.SOPInstanceUID = "1.2.3.99"
    sr.Modality = "SR"
    sr.file_meta = pydicom.dataset.FileMetaDataset()
    sr.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    sr.file_meta.MediaStorageSOPClassUID = sr.SOPClassUID
    sr.file_meta.MediaStorageSOPInstanceUID = sr.SOPInstanceUID
    pydicom.dcmwrite(tmp_path / "report", sr, enforce_file_format=True)
    inv = discover(tmp_path)
    assert [f.reason for f in inv.skipped] == ["non-image object: structured report (SR)"]


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless, DeflatedExplicitVRLittleEndian])
def test_compressed_transfer_syntaxes_decode_identically(tmp_path, syntax):
    # 64 x 64: OpenJPEG's default resolution levels need at least 32 pixels a side
    paths = write_series(tmp_path / "raw", axial_positions(4), shape=(64, 64), shuffle=False)
    (tmp_path / "enc").mkdir()
    for p in paths:
        ds = pydicom.dcmread(p)
        if syntax == DeflatedExplicitVRLittleEndian:
            ds.file_meta.TransferSyntaxUID = syntax
        else:
            ds.compress(syntax)
        pydicom.dcmwrite(tmp_path / "enc" / p.name, ds, enforce_file_format=True)
    raw = load_one(tmp_path / "raw")
    enc = load_one(tmp_path / "enc")
    assert discover(tmp_path / "enc").series[0].first.transfer_syntax == str(syntax)
    np.testing.assert_array_equal(enc.array, raw.array)
    assert enc.geometry.same_grid(raw.geometry)


def test_enhanced_multiframe_matches_single_frame(tmp_path):
    from tests.dicom_factory import enhanced_ct_from_series

    paths = write_series(tmp_path / "single", axial_positions(6, 1.5), shuffle=False)
    enhanced_ct_from_series(paths, tmp_path / "multi" / "enhanced.dcm", reverse=True)
    single = load_one(tmp_path / "single")
    multi = load_image(tmp_path / "multi" / "enhanced.dcm")
    np.testing.assert_array_equal(multi.array, single.array)
    assert multi.geometry.same_grid(single.geometry)


def test_series_metadata_carried(tmp_path):
    spec = CTSeriesSpec(patient_id="PX", study_date="20240305", kernel="B31f",
                        contrast="Iohexol", body_part="NECK", series_description="Neck 1mm")
    write_series(tmp_path, axial_positions(3), spec=spec)
    info = load_one(tmp_path).info
    assert (info.patient_id, info.study_date, info.kernel, info.contrast, info.body_part,
            info.description) == ("PX", "2024-03-05", "B31f", "Iohexol", "NECK", "Neck 1mm")
    assert info.series_uid == spec.series_uid
    assert info.study_uid == spec.study_uid


def test_integer_hu_kept_as_int16_and_overflow_falls_back_to_float(tmp_path):
    write_series(tmp_path / "a", axial_positions(3))
    assert load_one(tmp_path / "a").array.dtype == np.int16
    # stored 32000 + intercept 1000 = 33000 HU does not fit int16
    spec = with_spec(rescale_intercept=1000.0, series_uid="1.2.3.77")
    write_series(tmp_path / "b", axial_positions(3), spec=spec,
                 field=lambda x, y, z: 33000.0 + 0 * x)
    vol = load_one(tmp_path / "b")
    assert vol.array.dtype == np.float32
    assert np.all(vol.array == 33000.0)


def test_dicomdir_is_skipped_and_its_files_found_by_walking(tmp_path):
    from pydicom.fileset import FileSet

    paths = write_series(tmp_path / "src", axial_positions(4))
    fs = FileSet()
    for p in paths:
        fs.add(p)
    fs.write(tmp_path / "media")
    inv = discover(tmp_path / "media")
    assert [f.reason for f in inv.skipped] == ["non-image object: DICOMDIR (media directory)"]
    assert len(inv.series) == 1
    assert inv.series[0].slices == 4


@pytest.mark.parametrize("encoding", ["explicit_le", "implicit_le", "explicit_be"])
def test_header_values_decoded_from_bytes_match_pydicom(tmp_path, encoding):
    """Discovery decodes plain values (UIDs, codes, numbers, US) from their bytes; in every
    encoding they must be what pydicom's own conversion gives, including a single-valued
    ImageType (not split into letters), an IS written as "7.0", and a name in Latin-1."""
    from imaging.io.discover import read_instance

    path = write_series(tmp_path / "in", [(-10.0, -20.0, -50.25)], shape=(24, 20))[0]
    ds = pydicom.dcmread(path)
    ds.ImageType = "LOCALIZER"
    ds.InstanceNumber = "7.0"
    ds.SeriesNumber = " 12 "
    ds.SpecificCharacterSet = "ISO_IR 100"  # Latin-1: the name is decoded by pydicom
    ds.PatientName = "Müller^Jörg"
    ds.SeriesDescription = "Thorax 1.0 B30f"
    syntax = {"explicit_le": pydicom.uid.ExplicitVRLittleEndian,
              "implicit_le": pydicom.uid.ImplicitVRLittleEndian,
              "explicit_be": pydicom.uid.ExplicitVRBigEndian}[encoding]
    ds.file_meta.TransferSyntaxUID = syntax
    if encoding == "explicit_be":
        ds.PixelData = ds.pixel_array.astype(">i2").tobytes()
        ds.BitsAllocated = 16  # written as big-endian US below
    out = tmp_path / f"{encoding}.dcm"
    big = encoding == "explicit_be"
    pydicom.dcmwrite(out, ds, implicit_vr=encoding == "implicit_le", little_endian=not big,
                     force_encoding=True)
    inst = read_instance(out)
    reference = pydicom.dcmread(out)
    assert inst.image_type == ("LOCALIZER",)
    assert inst.is_localizer
    assert inst.instance_number == 7
    assert inst.series_number == 12
    assert (inst.rows, inst.columns) == (reference.Rows, reference.Columns) == (24, 20)
    assert inst.bits_allocated == reference.BitsAllocated == 16
    assert inst.position == tuple(float(v) for v in reference.ImagePositionPatient)
    assert inst.position == (-10.0, -20.0, -50.25)
    assert inst.orientation == tuple(float(v) for v in reference.ImageOrientationPatient)
    assert inst.pixel_spacing == tuple(float(v) for v in reference.PixelSpacing)
    assert inst.sop_instance_uid == reference.SOPInstanceUID
    assert inst.study_date == f"{reference.StudyDate[:4]}-{reference.StudyDate[4:6]}-" \
        f"{reference.StudyDate[6:]}"
    assert inst.series_date == f"{reference.SeriesDate[:4]}-{reference.SeriesDate[4:6]}-" \
        f"{reference.SeriesDate[6:]}"
    assert inst.patient_id == reference.PatientID == "P1"
    assert inst.patient_name == str(reference.PatientName) == "Müller^Jörg"
    assert inst.description == reference.SeriesDescription == "Thorax 1.0 B30f"
