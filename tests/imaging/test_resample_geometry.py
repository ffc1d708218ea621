"""Geometry transforms and resampling against analytic answers."""

from __future__ import annotations

import numpy as np
import pytest

from imaging.errors import GeometryError
from imaging.geometry import Geometry
from imaging.resample import resample_mask, resample_to_geometry, resample_to_spacing
from imaging.volume import Volume


def rotation(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.7, 0.8, 2.5)])
@pytest.mark.parametrize("deg", [0.0, 30.0])
def test_index_lps_round_trip_and_sitk_agree(spacing, deg):
    g = Geometry((7, 8, 9), spacing, (10.0, -20.0, 30.0), rotation(deg))
    idx = np.array([[0, 0, 0], [6, 7, 8], [1.5, 2.25, 3.0]])
    pts = g.index_to_lps(idx)
    np.testing.assert_allclose(g.lps_to_index(pts), idx, atol=1e-9)
    img = Volume(np.zeros((9, 8, 7), np.float32), g).to_sitk()
    for p, i in zip(pts, idx, strict=True):
        np.testing.assert_allclose(img.TransformContinuousIndexToPhysicalPoint(i.tolist()), p)


def test_geometry_rejects_bad_values():
    with pytest.raises(GeometryError, match="spacing must be finite and positive"):
        Geometry((2, 2, 2), (1.0, 0.0, 1.0), (0, 0, 0), np.eye(3))
    with pytest.raises(GeometryError, match="orthonormal"):
        Geometry((2, 2, 2), 1.0, (0, 0, 0), np.ones((3, 3)))
    with pytest.raises(GeometryError, match="does not match geometry size"):
        Volume(np.zeros((2, 3, 4), np.float32), Geometry((2, 3, 4), 1.0, (0, 0, 0), np.eye(3)))


def linear_volume(spacing=(0.5, 0.5, 2.0), size=(20, 22, 10), deg=0.0) -> Volume:
    g = Geometry(size, spacing, (1.0, 2.0, 3.0), rotation(deg))
    k, j, i = np.indices(tuple(reversed(size)))
    pts = g.index_to_lps(np.stack([i, j, k], -1).reshape(-1, 3)).reshape(*k.shape, 3)
    return Volume((pts @ np.array([1.0, -2.0, 3.0])).astype(np.float32), g)


@pytest.mark.parametrize("interp", ["linear", "bspline"])
def test_resample_to_spacing_reproduces_linear_field(interp):
    vol = linear_volume(size=(20, 22, 24), deg=20.0)
    out = resample_to_spacing(vol, (1.0, 1.0, 1.0), interpolator=interp)
    np.testing.assert_allclose(out.geometry.origin, vol.geometry.origin)
    np.testing.assert_allclose(out.geometry.direction, vol.geometry.direction)
    assert out.geometry.size == (10, 11, 47)
    k, j, i = np.indices(out.array.shape)
    pts = out.geometry.index_to_lps(np.stack([i, j, k], -1).reshape(-1, 3))
    expected = (pts @ np.array([1.0, -2.0, 3.0])).reshape(out.array.shape)
    # ITK's B-spline mirrors at the border, which bends a linear field for a few voxels
    # (its error shrinks about fourfold per source slice: 4 slices of 2 mm leave < 0.01)
    m = 1 if interp == "linear" else 8
    inner = (slice(m, -m), slice(None), slice(None))
    np.testing.assert_allclose(out.array[inner], expected[inner], atol=1e-2)


def test_mask_label_values_never_change_and_thin_structures_survive():
    g = Geometry((40, 40, 10), (0.5, 0.5, 1.0), (0, 0, 0), np.eye(3))
    mask = np.zeros((10, 40, 40), np.uint8)
    mask[:, 10:30, 10:30] = 3  # a block
    mask[:, 5:35, 38] = 7  # a one-voxel-thin wall (0.5 mm) between coarse voxel centres
    coarse = g.with_(size=(10, 10, 10), spacing=(2.0, 2.0, 1.0))
    label = resample_mask(Volume(mask, g), coarse)
    nearest = resample_mask(Volume(mask, g), coarse, interpolator="nearest")
    assert set(np.unique(label.array)) == {0, 3, 7}
    assert set(np.unique(nearest.array)) <= {0, 3, 7}
    assert 7 not in nearest.array  # nearest neighbour misses the thin wall ...
    assert np.count_nonzero(label.array == 7) >= 10 * 7  # ... label-aware keeps it
    # the block's area is kept within one coarse voxel row
    assert abs(np.count_nonzero(label.array == 3) - 10 * 5 * 5) <= 10 * 2 * 5


def test_resample_to_other_grid_outside_gets_minimum():
    vol = linear_volume()
    shifted = vol.geometry.with_(origin=vol.geometry.origin + np.array([100.0, 0, 0]))
    out = resample_to_geometry(vol, shifted)
    assert np.all(out.array == vol.array.min())
