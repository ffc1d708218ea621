"""A reader's correction clicks: an inside (positive) click brings back a part the result
missed, an outside (negative) click cuts off a part that is not the lesion, and a click
that cannot do either is refused with its point named."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import ndimage

from imaging.errors import PromptError
from imaging.geometry import Geometry
from imaging.io import load_image, read_image_file
from imaging.measure import measure_mask
from imaging.segment import PointPrompt, segment
from imaging.segment.evaluation import (
    corrective_click,
    dice,
    evaluate_rim,
    label_prompts,
    rim_click,
)
from imaging.segment.phantoms import lung_nodule, two_lobed_nodule


def _real(shared_data, image_path: str, label_path: str):
    image = load_image(shared_data / image_path)
    label = read_image_file(shared_data / label_path)
    return image, label.with_array((label.array > 0).astype(np.uint8))


def _voxel(image, point) -> tuple[int, int, int]:
    i, j, k = np.rint(image.geometry.lps_to_index(point)).astype(int)
    return int(k), int(j), int(i)


def test_inside_click_brings_back_the_lobe_the_cut_left_out():
    """A nodule of two lobes, 14 and 12 mm across, joined by a 6 mm neck, clicked in the
    larger: the opening and the watershed cut the neck as they would a vessel, and the
    clicked lobe comes alone (Dice 0.77). Whether the other lobe is the same lesion is
    the reader's call: one inside click on it brings it back. (Until a click in lung on
    thick slices was cast again from the lesion's middle slice, pyradiomics lung1's
    inner3 click was this test's case; until the clamp followed an oval lesion's long
    axis, an oval nodule clicked towards a pole.)"""
    image, truth, large, small = two_lobed_nodule()
    g, t = image.geometry, truth.array != 0
    prompt = PointPrompt(tuple(large))
    first = segment(image, prompt)
    before = first.full_mask(g) != 0
    assert dice(before, t) < 0.85
    assert not before[_voxel(image, small)]
    sign, point = corrective_click(before, t, g)
    assert sign == "positive"
    again = segment(image, dataclasses.replace(prompt, positive=(point,)))
    mask = again.full_mask(g) != 0
    assert mask[_voxel(image, point)]
    assert mask[_voxel(image, small)]
    assert dice(mask, t) >= 0.95
    assert again.measurement.long_axis_mm == pytest.approx(
        measure_mask(truth).long_axis_mm, rel=0.05)


@pytest.mark.shared_data
def test_outside_click_in_a_shell_without_a_neck_cuts_the_ball_it_sits_in(shared_data):
    """MIRP STS_001's drawn line: the sarcoma, without an edge against the muscle, is
    kept within the circle the line spans (it ran on to 115 mm), and the muscle within
    that circle on the slices above and below comes with it, a shell around it (143 000
    voxels, the label 117 000). Split half-way to the lesion's middle, one outside click
    in that muscle cut off 17% of the result and 6% of the sarcoma with it; split
    between the balls the clicks sit in, it takes the ball around it and leaves the
    sarcoma whole (the shell has no side to cut: a reader removes it with more clicks).
    The distance map's watershed had given the click a basin of 152 voxels around it."""
    image, label = _real(shared_data, "lesions/mirp_sts_001/ct_image.nii.gz",
                         "lesions/mirp_sts_001/gtv_mask.nii.gz")
    truth = label.array != 0
    prompt = label_prompts(label)["line"]
    first = segment(image, prompt)
    before = first.full_mask(image.geometry) != 0
    sign, point = corrective_click(before, truth, image.geometry)
    assert sign == "negative"
    again = segment(image, dataclasses.replace(prompt, negative=(point,)))
    mask = again.full_mask(image.geometry) != 0
    assert first.details["bounded_by_line_voxels"] > 0
    clicked = _voxel(image, point)
    assert not mask[clicked]
    cut = before & ~mask
    sampling = image.geometry.spacing[::-1]
    depth = ndimage.distance_transform_edt(before, sampling=sampling)[clicked]
    away = np.linalg.norm((np.argwhere(cut) - clicked) * sampling, axis=1)
    assert cut.sum() > 100  # 715 today
    assert away.max() <= 2 * depth, (away.max(), depth)  # 14.0 mm, the click 9.5 mm deep
    assert (cut & truth).sum() < 0.01 * truth.sum()
    assert dice(mask, truth) >= dice(before, truth)


def test_inside_click_that_is_no_part_of_the_lesion_is_refused_with_its_point():
    image, truth = lung_nodule(20.0, 2.5)
    k, j, i = np.argwhere(truth.array).mean(axis=0)
    centre = image.geometry.index_to_lps([i, j, k])
    # in lung, 40 mm away: beyond the first box (35 mm), which grows to hold it (an
    # index error before)
    in_lung = tuple(np.add(centre, (0.0, 40.0, 0.0)))
    with pytest.raises(PromptError, match=r"inside click \(.*-8\d\d HU there; the lesion's "
                                          r"are above"):
        segment(image, PointPrompt(tuple(centre), positive=(in_lung,)))
    # an inside click on the nodule itself changes nothing
    plain = segment(image, PointPrompt(tuple(centre)))
    inside = tuple(np.add(centre, (3.0, 0.0, 0.0)))
    again = segment(image, PointPrompt(tuple(centre), positive=(inside,)))
    assert again.measurement.long_axis_mm == pytest.approx(plain.measurement.long_axis_mm,
                                                           abs=0.5)


@pytest.fixture(scope="module")
def sts_002_inner3(shared_data):
    """MIRP STS_002, its label, and the result of its inner3 click (both tests below
    correct that one)."""
    image, label = _real(shared_data, "lesions/mirp_sts_002/ct_image.nii.gz",
                         "lesions/mirp_sts_002/gtv_mask.nii.gz")
    prompt = label_prompts(label)["inner3"]
    return image, label.array != 0, prompt, segment(image, prompt)


@pytest.mark.shared_data
def test_inside_click_keeps_the_lesions_band(sts_002_inner3):
    """MIRP STS_002 clicked in the inner half, and given an inside click on the part of
    the sarcoma an outside click in its leak had cut off (where the correction benchmark
    put it before the split was seeded from the lesion's deepest point too). Grown as a
    seed in every candidate band, that click let the band of the whole thigh against air
    (-314 HU and up) win over the sarcoma's against fat: the result ran out of the field
    of view and was refused."""
    image, truth, prompt, first = sts_002_inner3
    inside = (63.5, 128.9, -560.4)
    assert truth[_voxel(image, inside)]
    again = segment(image, dataclasses.replace(prompt, positive=(inside,)))
    mask = again.full_mask(image.geometry) != 0
    assert mask[_voxel(image, inside)]
    assert again.details["band_low_hu"] == first.details["band_low_hu"]
    assert dice(mask, truth) >= 0.75
    assert again.measurement.long_axis_mm < 1.2 * 55.3  # the label's 55.3 mm


@pytest.mark.shared_data
def test_outside_click_split_keeps_the_lesions_middle(sts_002_inner3):
    """MIRP STS_002 clicked near its edge (inner3, +10%, Dice 0.84), and given an outside
    click in its leak: split half-way between that click and the reader's, the cut ran
    through the sarcoma (a quarter of it lost, Dice 0.77). The lesion's deepest point,
    on the reader's side, seeds that side too."""
    image, truth, prompt, first = sts_002_inner3
    sign, point = corrective_click(first.full_mask(image.geometry) != 0, truth,
                                   image.geometry)
    assert sign == "negative"
    mask = segment(image, dataclasses.replace(prompt, negative=(point,))).full_mask(
        image.geometry) != 0
    assert not mask[_voxel(image, point)]
    assert (truth & ~mask).sum() < 0.15 * truth.sum()
    assert dice(mask, truth) >= 0.82


def test_rim_click_sits_at_the_deepest_point_of_the_largest_part_outside():
    """The click the rim benchmark gives: on the largest part of a result outside the
    truth, where it is deepest; none on a one-voxel fringe a reader would not click."""
    g = Geometry((40, 40, 20), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), np.eye(3))
    k, j, i = np.indices((20, 40, 40))
    truth = (i - 20) ** 2 + (j - 20) ** 2 + ((k - 10) * 2) ** 2 <= 10 ** 2
    slab = (i >= 31) & (i <= 37) & (abs(j - 20) <= 8) & (abs(k - 10) <= 3)  # 7 mm thick
    speck = (i == 5) & (j == 5) & (k == 10)
    point = rim_click(truth | slab | speck, truth, g)
    i0, j0, k0 = np.rint(g.lps_to_index(point)).astype(int)
    assert slab[k0, j0, i0]
    depth = ndimage.distance_transform_edt(slab & ~truth, sampling=(2.0, 1.0, 1.0))
    assert depth[k0, j0, i0] == depth.max() >= 3.0
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[1] = ndimage.generate_binary_structure(2, 1)
    fringe = ndimage.binary_dilation(truth, in_plane) & ~truth  # 1 mm pixels
    assert rim_click(truth | fringe, truth, g) is None


@pytest.mark.shared_data
def test_outside_clicks_on_rims_do_not_cost_the_lesion(shared_data):
    """MIRP STS_002 from every prompt, each result given one outside click at the deepest
    point of its largest part outside the label (the rim benchmark's click): the split
    between the balls the clicks sit in takes the rim, not the sarcoma. Split half-way to
    the lesion's middle, such clicks lost up to 18% of it (inner3) and made 15 of 19 real
    results worse (benchmarks/segment_accuracy.py --rim)."""
    image, label = _real(shared_data, "lesions/mirp_sts_002/ct_image.nii.gz",
                         "lesions/mirp_sts_002/gtv_mask.nii.gz")
    rows = evaluate_rim("mirp_sts_002", image, label, box=True)
    assert len(rows) >= 5  # every prompt's result has a rim 1.5 mm deep (6 of 6)
    assert not [r.error for r in rows if r.error]
    for r in rows:
        assert r.cut > 0.005, r  # the click took something
        assert r.truth_lost < 0.03, r  # at most 1.8% (line)
        assert r.dice_after >= r.dice_before - 0.005, r
