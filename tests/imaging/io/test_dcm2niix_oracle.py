"""Caliper's loader against an outside oracle: dcm2niix, on every real series.

For each real DICOM series in ``../shared/data``, ``caliper convert`` and
``dcm2niix`` write NIfTI; both are read back with SimpleITK, brought to the
same frame (``DICOMOrient`` to LPS) and compared: size, spacing, origin and
direction to float tolerance, voxels to 1 HU at most (dcm2niix stores int16
and rounds after each resampling step, Caliper keeps float32).

Documented differences, each checked rather than ignored:
* GE tilt + variable spacing: dcm2niix's ``_Tilt_Eq`` output is the oracle.
  At the edge of each sheared slice's data dcm2niix extends the last row by a
  whole pixel and fills before the first; Caliper extends half a pixel on
  both sides (a pixel's own extent). So padding and the rows next to it that
  the z interpolation mixes with those edge rows are left out of the voxel
  comparison (under 8% of the voxels beyond the padding).
* The MR transfer-syntax files hold a Siemens mosaic: dcm2niix splits it into
  a 64x64x35 volume, Caliper (for CT) keeps the stored 384x384 image. Each
  dcm2niix slice must equal one 64x64 tile of Caliper's image.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from pipelines.cli import main

pytestmark = [pytest.mark.shared_data, pytest.mark.external]


@pytest.fixture(scope="module")
def dcm2niix() -> str:
    exe = shutil.which("dcm2niix")
    if exe is None:
        pytest.fail("dcm2niix is not installed (make test installs the Debian package)")
    return exe


def run_dcm2niix(exe: str, folder: Path, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [exe, "-z", "y", "-b", "n", "-f", "%s", "-o", str(out), str(folder)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return sorted(out.glob("*.nii.gz"))


def caliper_convert(folder: Path, out: Path, *extra: str) -> sitk.Image:
    assert main(["convert", str(folder), str(out), *extra]) == 0
    return sitk.ReadImage(str(out), sitk.sitkFloat32)


def as_lps(image: sitk.Image) -> sitk.Image:
    return sitk.DICOMOrient(image, "LPS")


def assert_same_frame(ours: sitk.Image, ref: sitk.Image) -> None:
    assert ours.GetSize() == ref.GetSize()
    np.testing.assert_allclose(ours.GetSpacing(), ref.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(ours.GetOrigin(), ref.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(ours.GetDirection(), ref.GetDirection(), atol=1e-5)


def lidc_folder(root: Path) -> Path:
    return next(p.parent for p in root.rglob("*.dcm"))


SERIES = {
    "lidc_idri_0001": lambda data, unpack: lidc_folder(data / "lesions/lidc_idri_0001"),
    "lidc_idri_0002": lambda data, unpack: lidc_folder(
        unpack("lesions/lidc_idri_0002/LIDC-IDRI-0002.tar.xz")
    ),
    "mirp_sts_001": lambda data, unpack: data / "lesions/mirp_sts_001/dicom/ct",
    "mirp_sts_002": lambda data, unpack: data / "lesions/mirp_sts_002/dicom/ct",
    "mirp_sts_003": lambda data, unpack: data / "lesions/mirp_sts_003/dicom/ct",
}


@pytest.mark.parametrize("name", sorted(SERIES))
def test_regular_ct_series_match_dcm2niix(name, shared_data, unpacked, dcm2niix, tmp_path):
    folder = SERIES[name](shared_data, unpacked)
    refs = run_dcm2niix(dcm2niix, folder, tmp_path / "ref")
    assert len(refs) == 1, refs
    ours = as_lps(caliper_convert(folder, tmp_path / "ours.nii.gz"))
    ref = as_lps(sitk.ReadImage(str(refs[0]), sitk.sitkFloat32))
    assert_same_frame(ours, ref)
    diff = np.abs(sitk.GetArrayViewFromImage(ours) - sitk.GetArrayViewFromImage(ref))
    assert diff.max() <= 1e-3


def test_gantry_tilt_and_variable_spacing_match_dcm2niix(shared_data, unpacked, dcm2niix,
                                                         tmp_path):
    folder = unpacked("dicom/ge_gantry_tilt_variable_spacing/GE.tar.xz") / "GE"
    refs = run_dcm2niix(dcm2niix, folder, tmp_path / "ref")
    tilt_eq = [p for p in refs if p.name.endswith("_Tilt_Eq_1.nii.gz")]
    assert len(tilt_eq) == 1, [p.name for p in refs]
    ours = as_lps(caliper_convert(folder, tmp_path / "ours.nii.gz"))
    ref = as_lps(sitk.ReadImage(str(tilt_eq[0]), sitk.sitkFloat32))
    assert_same_frame(ours, ref)
    a = sitk.GetArrayFromImage(ours)
    b = sitk.GetArrayFromImage(ref)
    pad = (a <= a.min()) | (b <= b.min())
    # The edge convention differs by a pixel at each sheared slice's first and last data row;
    # linear interpolation along the normal carries that row into the neighbouring output
    # slices, where it lands up to one inter-slice shift (tan(18.5 deg) x 7 mm / 0.488 mm =
    # 4.8 px, twice for the 2x resampling) away along the row axis j.
    shift_px = int(np.ceil(2 * np.tan(np.deg2rad(18.5)) * 7.0 / 0.4883)) + 1
    rim = ndimage.binary_dilation(pad, structure=np.ones((3, 2 * shift_px + 1, 3), bool))
    assert rim.mean() - pad.mean() < 0.08  # what is left out beyond the padding itself
    diff = np.abs(a - b)[~rim]
    assert diff.max() <= 1.0  # dcm2niix's two int16 roundings
    assert np.mean(diff) < 0.3


def test_mosaic_mr_tiles_match_dcm2niix_slices(shared_data, dcm2niix, tmp_path):
    src = shared_data / "dicom/transfer_syntaxes_mr/1.dcm"
    (tmp_path / "in").mkdir()
    shutil.copy(src, tmp_path / "in")
    refs = run_dcm2niix(dcm2niix, tmp_path / "in", tmp_path / "ref")
    ref = sitk.GetArrayFromImage(sitk.ReadImage(str(refs[0])))
    assert ref.shape == (35, 64, 64)  # dcm2niix de-mosaics
    ours = caliper_convert(src, tmp_path / "ours.nii.gz", "--any-modality")
    mosaic = sitk.GetArrayFromImage(ours)[0]
    assert mosaic.shape == (384, 384)
    tiles = [mosaic[r:r + 64, c:c + 64] for r in range(0, 384, 64) for c in range(0, 384, 64)]
    for k in range(ref.shape[0]):
        candidates = (ref[k], ref[k][::-1], ref[k][:, ::-1], ref[k][::-1, ::-1])
        assert any(np.array_equal(t, c) for t in tiles for c in candidates), f"slice {k}"


@pytest.mark.parametrize("number", range(2, 10))
def test_every_transfer_syntax_decodes_like_uncompressed(shared_data, number, tmp_path):
    folder = shared_data / "dicom/transfer_syntaxes_mr"
    reference = caliper_convert(folder / "1.dcm", tmp_path / "1.nii.gz", "--any-modality")
    other = caliper_convert(folder / f"{number}.dcm", tmp_path / "n.nii.gz", "--any-modality")
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(other),
                                  sitk.GetArrayViewFromImage(reference))
