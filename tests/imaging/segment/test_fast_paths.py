"""The segmentation's shortcuts give what the plain computation gives: the distance map on
the region's bounding box, the star clamp's nearest-ray lookup by cosine in float32
blocks, only for voxels between the smallest and the largest limit, and the opening by a
ball from two distance maps."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage
from scipy.spatial import cKDTree

from imaging.geometry import Geometry
from imaging.segment.region_grow import DIRECTIONS, _ball, _edt, _opening, _points, _star

masks = hnp.arrays(bool, st.tuples(st.integers(1, 9), st.integers(1, 12), st.integers(1, 12)))
spacings = st.tuples(*(st.floats(0.3, 5.0) for _ in range(3)))


@settings(max_examples=200, deadline=None)
@given(masks, spacings)
def test_distance_map_on_the_bounding_box_is_the_whole_one(mask, spacing):
    sampling = np.array(spacing)
    expected = (ndimage.distance_transform_edt(mask, sampling=sampling) if mask.any()
                else np.zeros(mask.shape))  # scipy gives an empty mask's as if no edge
    np.testing.assert_array_equal(_edt(mask, sampling), expected)


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(bool, (7, 15, 15)), st.integers(0, 2**32 - 1),
       st.tuples(*(st.floats(0.5, 3.0) for _ in range(3))))
def test_star_clamp_is_the_one_by_each_voxels_nearest_ray(region, seed, spacing):
    rng = np.random.default_rng(seed)
    direction = np.linalg.qr(rng.normal(size=(3, 3)))[0]  # oblique grids too
    g = Geometry((15, 15, 7), np.array(spacing[::-1]), (0.0, 0.0, 0.0), direction)
    centre = g.index_to_lps([7.0, 7.0, 3.0])
    limit = rng.uniform(1.0, 12.0, len(DIRECTIONS))
    pts = _points(region, g) - centre
    dist = np.linalg.norm(pts, axis=1)
    _, nearest = cKDTree(DIRECTIONS).query(pts / np.maximum(dist, 1e-9)[:, None])
    expected = np.zeros_like(region)
    expected[tuple(np.argwhere(region)[dist <= limit[nearest]].T)] = True
    np.testing.assert_array_equal(_star(region, g, centre, limit), expected)


@settings(max_examples=200, deadline=None)
@given(masks, spacings, st.floats(0.5, 5.0))
def test_opening_by_distance_maps_is_scipys_with_the_ball(mask, spacing, radius):
    sampling = np.array(spacing)
    expected = ndimage.binary_opening(mask, structure=_ball(radius, sampling))
    np.testing.assert_array_equal(_opening(mask, radius, sampling), expected)


def test_ball_holds_the_voxels_at_its_radius():
    """A radius of 3 x 0.7 mm (a lesion's radius estimate of 8.4 mm times 0.25) comes out
    2.0999999999999996: the ball had lost the voxels three steps out along each axis."""
    radius = 0.25 * 8.4
    ball = _ball(radius, np.array([5.0, 0.7, 0.7]))
    assert ball.shape == (1, 7, 7)
    assert ball[0, 3, 0]
    assert ball[0, 0, 3]
    assert ball.sum() == 29  # the in-plane offsets (a, b) with a^2 + b^2 <= 9
