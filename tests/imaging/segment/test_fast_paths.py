"""The segmentation's shortcuts give what the plain computation gives: the distance map on
the region's bounding box, the star clamp's nearest-ray lookup by cosine in float32
blocks, only for voxels between the smallest and the largest limit (and within the box
around the largest), the opening by a ball from two distance maps, the deepest point
from a distance map cropped around it, holes filled by labelling, and a drawn line's
candidates left uncut at the pleural line when they cannot win."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage
from scipy.spatial import cKDTree

from imaging.geometry import Geometry
from imaging.segment import region_grow, segment
from imaging.segment.evaluation import label_prompts
from imaging.segment.phantoms import lung_nodule
from imaging.segment.rays import DIRECTIONS, _star
from imaging.segment.voxels import (
    _ball,
    _deepest_near,
    _edt,
    _fill_holes,
    _opening,
    _points,
    _spacing_np,
)

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
    """A voxel as near two rays as float32 cosines tell (seed 1183: 0.98868158 and
    0.98868157) may take either's limit."""
    rng = np.random.default_rng(seed)
    direction = np.linalg.qr(rng.normal(size=(3, 3)))[0]  # oblique grids too
    g = Geometry((15, 15, 7), np.array(spacing[::-1]), (0.0, 0.0, 0.0), direction)
    centre = g.index_to_lps([7.0, 7.0, 3.0])
    limit = rng.uniform(1.0, 12.0, len(DIRECTIONS))
    pts = _points(region, g) - centre
    dist = np.linalg.norm(pts, axis=1)
    gaps, rays = cKDTree(DIRECTIONS).query(pts / np.maximum(dist, 1e-9)[:, None], k=2)
    nearest, second = rays.T
    tie = gaps[:, 1] - gaps[:, 0] < 1e-6
    got = _star(region, g, centre, limit)[region]
    by_nearest, by_second = dist <= limit[nearest], dist <= limit[second]
    np.testing.assert_array_equal(got[~tie], by_nearest[~tie])
    assert np.all((got[tie] == by_nearest[tie]) | (got[tie] == by_second[tie]))
    assert not _star(region, g, centre, limit)[~region].any()


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


def _deepest_near_plainly(region, g, centre, radius_mm):
    """The deepest point within the radius from the distance map of the whole region."""
    dist = ndimage.distance_transform_edt(region, sampling=_spacing_np(g))
    k, j, i = np.nonzero(dist)
    pts = _points(dist, g, indices=(k, j, i))
    radius_mm = max(radius_mm, 2.0, 1.05 * float(max(g.spacing)))
    near = np.linalg.norm(pts - centre, axis=1) <= radius_mm
    if not near.any():
        return centre
    return pts[np.flatnonzero(near)[int(np.argmax(dist[k[near], j[near], i[near]]))]]


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.0, 0.95), st.floats(0.5, 6.0),
       st.tuples(st.floats(0.4, 5.0), st.floats(0.3, 1.5), st.floats(0.3, 1.5)))
def test_deepest_point_from_a_cropped_distance_map_is_the_plain_one(seed, level, radius,
                                                                    spacing):
    """Blobs of every size (smoothed noise cut at a random level), on oblique grids: the
    distance map cropped around the ball (exact within its margin, else the whole one)
    gives the point the whole region's gives, ties broken alike."""
    rng = np.random.default_rng(seed)
    region = ndimage.gaussian_filter(rng.normal(size=(12, 48, 48)), (1.0, 4.0, 4.0))
    region = region > np.quantile(region, level)
    direction = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    g = Geometry((48, 48, 12), np.array(spacing[::-1]), (0.0, 0.0, 0.0), direction)
    centre = g.index_to_lps(rng.uniform([0, 0, 0], [47, 47, 11]))
    np.testing.assert_array_equal(_deepest_near(region, g, centre, radius),
                                  _deepest_near_plainly(region, g, centre, radius))


def test_deepest_point_where_the_nearest_background_lies_beyond_the_crop():
    """A region filling the grid but for a few voxels: the nearest of them may lie
    beyond the crop while a further one lies within it. Those points come from the
    whole distance map (with the crop trusted whatever its values, 11 of these 300
    differ)."""
    g = Geometry((48, 48, 12), np.array([0.7, 0.7, 2.5]), (0.0, 0.0, 0.0), np.eye(3))
    for seed in range(300):
        rng = np.random.default_rng(seed)
        region = np.ones((12, 48, 48), bool)
        region[tuple(rng.integers(0, (12, 48, 48), size=(rng.integers(1, 7), 3)).T)] = False
        centre = g.index_to_lps(rng.uniform([0, 0, 0], [47, 47, 11]))
        radius = rng.uniform(0.5, 6.0)
        np.testing.assert_array_equal(_deepest_near(region, g, centre, radius),
                                      _deepest_near_plainly(region, g, centre, radius),
                                      err_msg=f"seed {seed}")


def test_a_lines_hopeless_candidates_skip_the_cut_at_the_pleural_line(monkeypatch):
    """A line on a nodule flat on the pleura: candidates whose chord is already shorter
    than the line, and further from it than one scored before, are not cut (cut, a
    chord only shortens); the lesion is the one every candidate's cut gives."""
    image, truth = lung_nodule(20.0, 1.25, "pleura")
    prompt = label_prompts(truth)["line"]
    cuts = []
    cut_at_wall = region_grow._cut_at_wall
    monkeypatch.setattr(region_grow, "_cut_at_wall",
                        lambda *a: cuts.append(1) or cut_at_wall(*a))
    fast = segment(image, prompt)
    skipped = len(cuts)
    monkeypatch.setattr(region_grow, "_cannot_win", lambda *a: False)
    cuts.clear()
    plain = segment(image, prompt)
    assert skipped < len(cuts), (skipped, len(cuts))
    np.testing.assert_array_equal(fast.full_mask(image.geometry),
                                  plain.full_mask(image.geometry))
    assert fast.measurement.long_axis_mm == plain.measurement.long_axis_mm


@settings(max_examples=300, deadline=None)
@given(masks)
def test_holes_filled_by_labelling_are_scipys(mask):
    """Filled in 3D, then slice by slice, as scipy's ``binary_fill_holes`` fills them."""
    expected = ndimage.binary_fill_holes(mask)
    for k in range(expected.shape[0]):
        expected[k] = ndimage.binary_fill_holes(expected[k])
    np.testing.assert_array_equal(_fill_holes(mask), expected)
