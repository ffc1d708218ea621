"""Segmentation from one prompt: synthetic lesions with exact truth, bad prompts, and
floors on the real labelled lesions in ../shared/data (the full table is printed by
benchmarks/segment_accuracy.py)."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
from scipy import ndimage

from imaging.errors import PromptError
from imaging.geometry import Geometry
from imaging.io import load_image, read_image_file
from imaging.measure import measure_mask
from imaging.segment import BoxPrompt, LinePrompt, PointPrompt, region_grow, segment
from imaging.segment.evaluation import (
    dice,
    evaluate,
    label_prompts,
    pairwise_dice,
    reader_outlines,
    spread_pct,
)
from imaging.segment.phantoms import (
    KIDNEY,
    THYROID_LOBE,
    limb_mass,
    liver_lesion,
    lung_nodule,
    off_centre,
    organ_lesion,
    oval_nodule,
)
from imaging.segment.region_grow import _segment
from imaging.volume import Volume
from pipelines.cli import main

SPACING = np.array([0.7, 0.7, 1.25])


@pytest.fixture(scope="module")
def phantom():
    """Lung (-850 HU) with a chest wall, a 16 mm nodule on a vessel, a juxtapleural one."""
    size = (110, 100, 60)  # i, j, k
    g = Geometry(size, SPACING, (0.0, 0.0, 0.0), np.eye(3))
    k, j, i = np.indices(tuple(reversed(size)))
    x, y, z = i * SPACING[0], j * SPACING[1], k * SPACING[2]
    rng = np.random.default_rng(4)
    hu = np.full(x.shape, -850.0)
    hu[x > 66] = 40.0  # chest wall
    angle = np.arctan2(y - 35, x - 25)
    r_a = 8.0 + 0.8 * np.sin(3 * angle)  # irregular, not a sphere
    nodule_a = (x - 25) ** 2 + (y - 35) ** 2 + ((z - 37) * 1.1) ** 2 <= r_a**2
    vessel = (x - 25) ** 2 + (z - 37) ** 2 <= 1.6**2
    nodule_b = (x - 60.5) ** 2 + (y - 35) ** 2 + (z - 37) ** 2 <= 6.0**2
    hu[vessel] = 40.0
    hu[nodule_a | nodule_b] = 30.0
    hu = ndimage.gaussian_filter(hu, sigma=0.8 / SPACING[::-1]) + rng.normal(0, 20, hu.shape)
    image = Volume(hu.astype(np.float32), g)
    truth_a = Volume(nodule_a.astype(np.uint8), g)
    truth_b = Volume((nodule_b & (x <= 66)).astype(np.uint8), g)
    return image, truth_a, truth_b


def test_nodule_on_a_vessel_from_a_click(phantom):
    image, truth, _ = phantom
    res = segment(image, label_prompts(truth)["deepest"])
    ref = measure_mask(truth)
    assert dice(res.full_mask(image.geometry), truth.array) >= 0.85
    assert abs(res.measurement.long_axis_mm / ref.long_axis_mm - 1) <= 0.10
    # the vessel (40 HU, passing through along y) was not followed out of the nodule
    full = res.full_mask(image.geometry)
    assert full.sum() <= 1.3 * truth.array.sum()


def test_juxtapleural_nodule_does_not_leak_into_chest_wall(phantom):
    image, _, truth = phantom
    res = segment(image, label_prompts(truth)["deepest"])
    full = res.full_mask(image.geometry)
    assert dice(full, truth.array) >= 0.75
    assert full.sum() <= 1.6 * truth.array.sum()


def test_clicks_anywhere_in_the_inner_half_agree(phantom):
    image, truth, _ = phantom
    prompts = label_prompts(truth, random_points=3, seed=1)
    lengths = [segment(image, prompts[k]).measurement.long_axis_mm
               for k in ("inner1", "inner2", "inner3", "deepest")]
    assert (max(lengths) - min(lengths)) / np.median(lengths) <= 0.05


def test_line_prompt(phantom):
    image, truth, _ = phantom
    res = segment(image, label_prompts(truth)["line"])
    assert dice(res.full_mask(image.geometry), truth.array) >= 0.85


def _liver_click(diameter, lesion_hu, offset, thickness):
    """A liver lesion (``liver_lesion``) segmented from one click ``offset`` of the way
    to its edge: the result, the long axes (ours, the truth's) and the Dice."""
    image, truth, centre, axes = liver_lesion(diameter, lesion_hu, thickness)
    res = segment(image, PointPrompt(tuple(off_centre(centre, axes, offset))))
    return (res, res.measurement.long_axis_mm, measure_mask(truth).long_axis_mm,
            dice(res.full_mask(image.geometry), truth.array))


@pytest.mark.parametrize(("diameter", "lesion_hu", "offset", "thickness"), [
    (100.0, 45.0, 0.0, 2.5),  # its centre is 50 mm from its edge: more than the first box
    (100.0, 140.0, 1 / 3, 2.5),  # it outgrows two boxes; the organ's edge with fat is sharper
    (60.0, 45.0, 1 / 3, 2.5),  # darker than the organ: its band is open below, yet no lung
    (35.0, 45.0, 0.4, 5.0),  # 55 HU darker: a band of its own, cast again from its centre
    (20.0, 45.0, 0.4, 1.25),
    (10.0, 45.0, 0.4, 1.25),  # a few samples of each ray: the band near the click
])
def test_liver_lesions_from_a_click(diameter, lesion_hu, offset, thickness):
    """Liver lesions of 10 mm to 10 cm from one click, at their centre or out towards
    their edge (0.4 of each semi-axis in x, 0.3 in y and z). The clicked tissue reaching
    the first box's side gets a larger box; a lesion that outgrows its box keeps its band
    and centre in the next; the watershed does not cut an ellipsoid in half at its two
    equal distance-map tops; a lesion 55 HU darker than its organ has a band of its own
    (found among the samples near the click when it is small) and is cast again from its
    centre, so an off-centre click does not clamp its far side."""
    res, ours, ref, overlap = _liver_click(diameter, lesion_hu, offset, thickness)
    assert abs(ours / ref - 1) <= 0.05, (ours, ref, res.details)
    assert overlap >= 0.9


@pytest.mark.parametrize(("lesion_hu", "offset"), [(80.0, 0.0), (80.0, 0.4), (120.0, 0.0)])
def test_liver_lesion_20_hu_from_its_organ(lesion_hu, offset):
    """A 20 mm lesion only 20 HU darker or brighter than the liver (noise 15 HU), on
    1.25 mm slices: no band of the rays' samples separates it, and the low-contrast
    band, +- 3 x at least 8 HU around its median, held the liver too: the click gave
    the liver (+413%, Dice 0.02). The tight low-contrast candidate (the seed's SD on
    the smoothed image, 2-3 HU) stops at its edge."""
    res, ours, ref, overlap = _liver_click(20.0, lesion_hu, offset, 1.25)
    assert res.details["low_contrast"] == 1.0
    assert abs(ours / ref - 1) <= 0.10, (ours, ref, res.details)
    assert overlap >= 0.85


@pytest.mark.parametrize("lesion_hu", [80.0, 120.0])
def test_faint_liver_lesion_on_thick_slices_clicked_at_its_centre(lesion_hu):
    """A 35 mm lesion 20 HU from the liver on 5 mm slices, clicked at its centre. The
    wide low-contrast band (the liver too) and the tight one (the lesion) had edges
    equally strong; the wide one won and gave the liver (+192%). Now a candidate that
    finds its edge only far out along most rays yields to one as well edged nearer.
    And the tight band's second cast, from the region's deepest point (which on 5 mm
    slices wanders 8 mm over a flat top of the distance map), clamped the far side
    (-17%): of its two casts the larger is kept."""
    res, ours, ref, overlap = _liver_click(35.0, lesion_hu, 0.0, 5.0)
    assert res.details["low_contrast"] == 1.0
    assert abs(ours / ref - 1) <= 0.05, (ours, ref, res.details)
    assert overlap >= 0.9


def test_faint_small_liver_lesion_clicked_off_centre_is_not_the_liver():
    """A 10 mm lesion 20 HU darker than the liver, clicked 0.4 of the way out: the seed's
    ball holds liver too, so even the tight band (+- 3 of its SDs) held the liver, and
    its core, darker than the click, fell outside it. The click gave the whole liver
    (+924%, Dice 0.00). The half-way band (from half-way to the organ's HU to well past
    the lesion's) finds the lesion (the click's own pass: within 10%). The result is then
    cast again from the lesion's centre, and is what a click there gives: the tight band
    around the centre's median stops about a voxel short of the blurred edge (-16%, Dice
    0.80, as in the sweep), but it is the lesion."""
    image, truth, centre, axes = liver_lesion(10.0, 80.0, 1.25)
    prompt = PointPrompt(tuple(off_centre(centre, axes, 0.4)))
    ref = measure_mask(truth).long_axis_mm
    clicked = _segment(image, prompt, nodal=False, roi_half_mm=None)
    assert abs(clicked.measurement.long_axis_mm / ref - 1) <= 0.10, clicked.details
    assert dice(clicked.full_mask(image.geometry), truth.array) >= 0.85
    res, at_centre = segment(image, prompt), segment(image, PointPrompt(tuple(centre)))
    assert res.details["recentred_mm"] > 1.0
    assert res.measurement.long_axis_mm == pytest.approx(at_centre.measurement.long_axis_mm,
                                                         rel=0.05)
    assert abs(res.measurement.long_axis_mm / ref - 1) <= 0.20, res.details
    assert dice(res.full_mask(image.geometry), truth.array) >= 0.78


def test_faint_small_lesion_refused_not_returned_as_its_organ():
    """The same lesion 20 HU brighter on 5 mm slices (two slices; its median only 9 HU
    above the liver's, noise 5 HU) is refused as faint; the larger box tried next (for
    a large lesion whose rays never left it) found the liver's edge with fat, and the
    click gave the whole liver (+914%). The larger box's region must be made of the
    clicked tissue (the seed's median within its central 90%): the liver is not, and
    the first refusal stands."""
    image, _, centre, axes = liver_lesion(10.0, 120.0, 5.0)
    with pytest.raises(PromptError, match="does not stand out"):
        segment(image, PointPrompt(tuple(off_centre(centre, axes, 0.4))))


@pytest.mark.parametrize("offset", [0.0, 0.4])
def test_faint_mass_in_muscle_is_not_split_along_noise(offset):
    """An 8 cm mass only 20 HU darker than the muscle around it (noise 12 HU), 2.5 mm
    slices, clicked at its centre or 0.4 of the way to its end. Its band's bound lies
    about 2 noise SDs above it; rays stopped short by noise had their cones cut out of
    the mass down to 4 mm from its centre, and the watershed split it along them: -22%
    and -32% (Dice 0.78, 0.58)."""
    image, truth, centre, axes = limb_mass(30.0, 2.5)
    res = segment(image, PointPrompt(tuple(off_centre(centre, axes, offset))))
    ref = measure_mask(truth).long_axis_mm
    assert abs(res.measurement.long_axis_mm / ref - 1) <= 0.05, (res.measurement.long_axis_mm,
                                                                 ref, res.details)
    assert dice(res.full_mask(image.geometry), truth.array) >= 0.9


def test_mass_in_muscle_clicked_off_centre_is_cast_again_from_its_middle():
    """The 8 cm mass 35 HU brighter than the muscle, 2.5 mm slices, clicked 0.3 of the
    way to its end: the second cast starts from the deepest point near the click, on a
    flat ridge of the distance map. The noise's holes in the band (3 SDs below the mass)
    set where it peaked: the point moved 5 mm towards the end, the far half was clamped
    at twice the shorter half-chord, and the box never grew (-21%, Dice 0.89). With the
    holes filled it moves to the middle."""
    image, truth, centre, axes = limb_mass(85.0, 2.5)
    res = segment(image, PointPrompt(tuple(centre + np.array([0.3 * axes[0], 0.0, 0.0]))))
    ref = measure_mask(truth).long_axis_mm
    assert abs(res.measurement.long_axis_mm / ref - 1) <= 0.05, (res.measurement.long_axis_mm,
                                                                 ref, res.details)
    assert dice(res.full_mask(image.geometry), truth.array) >= 0.95


@pytest.mark.parametrize("lesion_hu", [15.0, 85.0])
def test_large_mass_in_muscle_clicked_near_its_end(lesion_hu):
    """An 8 cm mass 35 HU darker or brighter than the muscle around it, clicked 0.6 of
    the way from its centre to its end, 10 mm from the fat under the skin: the bands
    from the rays (which reach the air outside) leak, the low-contrast fallback finds
    it, and it outgrows two boxes. Its band is kept in the larger boxes (made afresh
    there, the fallback's star clamp stopped it at 55 mm, -31%), and so is the first
    box's verdict that it is not in lung (in the larger boxes the rays reach the air
    outside the body: taken for lung, it had the lung's tighter clamp, -12.5%). Checked
    on the click's own pass (``_segment``) and on the result cast again from its middle."""
    image, truth, centre, axes = limb_mass(lesion_hu)
    prompt = PointPrompt(tuple(centre + np.array([0.6 * axes[0], 0.0, 0.0])))
    ref = measure_mask(truth).long_axis_mm
    clicked = _segment(image, prompt, nodal=False, roi_half_mm=None)
    for res in (clicked, segment(image, prompt)):
        assert abs(res.measurement.long_axis_mm / ref - 1) <= 0.05, (
            res.measurement.long_axis_mm, ref, res.details)
        assert dice(res.full_mask(image.geometry), truth.array) >= 0.95
    assert clicked.details["roi_half_mm"] > 60.0
    assert clicked.details["in_lung"] == 0.0


@pytest.mark.parametrize(("diameter", "offset"), [(10.0, 0.0), (10.0, 0.4), (12.0, 0.4)])
def test_small_bright_liver_lesion_on_thick_slices(diameter, offset):
    """A 10-12 mm lesion 40 HU brighter than the liver on 5 mm slices (the smallest
    measurable size there): it spans two slices, and blurred across them its class and
    the liver's among the samples near the click are 21 HU apart. Split only from 25 HU,
    it had no band of its own: the low-contrast pass, its band holding the liver's HU,
    gave +32%, +85% and +241% (39.7 mm for the 12 mm lesion)."""
    res, ours, ref, overlap = _liver_click(diameter, 140.0, offset, 5.0)
    assert abs(ours / ref - 1) <= 0.1, (ours, ref, res.details)
    assert overlap >= 0.85


@pytest.mark.parametrize(("lesion_hu", "offset", "thickness"), [
    (45.0, 0.4, 1.25), (140.0, 0.0, 0.6), (45.0, 0.4, 0.6),
    (140.0, 0.4, 1.25),  # the seed's ball half liver: its median near the lesion's bound
])
def test_small_liver_lesion_is_not_the_organ(lesion_hu, offset, thickness):
    """A 6 mm liver lesion (5 mm in-plane after its axes' 1 : 0.8) from one click: the
    lesion, not the liver. Blurred, its class and the liver's among the samples near
    the click are under 40 HU apart; without bands from the samples within a quarter
    and an eighth of the reach split from 20-25 HU, each case returned the whole liver
    (99.7 mm) or half of it (39 mm). Clicked off-centre, the seed's ball holds half
    liver and its median lies near the lesion's bound: the click was refused in the
    first box (the whole liver in the next) until a region that stands out from the
    ring around it counted as a lesion."""
    res, ours, ref, overlap = _liver_click(6.0, lesion_hu, offset, thickness)
    # within 1.5 pixels: at 5 mm one pixel is 16%
    assert abs(ours - ref) <= 1.2, (ours, ref, res.details)
    assert overlap >= 0.85


def _assert_organ_lesion_found(organ, organ_hu, diameter, lesion_hu, thickness, offset,
                               long_within=0.1, dice_floor=0.85):
    """A click ``offset`` of the way out on the lesion inside the organ gets the lesion:
    its long axis within ``long_within`` of the truth's (10%), Dice at least
    ``dice_floor``."""
    image, truth, centre, axes = organ_lesion(organ, organ_hu, diameter, lesion_hu, thickness)
    res = segment(image, PointPrompt(tuple(off_centre(centre, axes, offset))))
    ours, ref = res.measurement.long_axis_mm, measure_mask(truth).long_axis_mm
    assert abs(ours / ref - 1) <= long_within, (ours, ref, res.details)
    assert dice(res.full_mask(image.geometry), truth.array) >= dice_floor


@pytest.mark.parametrize(("organ", "organ_hu", "diameter", "lesion_hu"), [
    (KIDNEY, 150.0, 20.0, 220.0),  # brighter than the enhanced kidney
    (KIDNEY, 150.0, 30.0, 60.0),  # darker
    (KIDNEY, 35.0, 20.0, 80.0),  # brighter than the unenhanced kidney
    (THYROID_LOBE, 110.0, 12.0, 40.0),  # a nodule in a thyroid lobe
    (KIDNEY, 35.0, 30.0, 0.0),  # a 30 mm cyst 35 HU below the unenhanced kidney
])
@pytest.mark.parametrize("offset", [0.0, 0.4])
def test_lesion_inside_a_small_organ_is_not_the_organ(organ, organ_hu, diameter, lesion_hu,
                                                       offset):
    """A lesion inside an organ bounded within the click's reach (an 11 cm kidney, a 5 cm
    thyroid lobe), clicked at its centre or 0.4 out: the lesion. The organ's edge with the
    fat around it is sharper than the lesion's with the organ, and the organ won: +266 to
    +450% on these (the lesion's own band is among the candidates, its median the clicked
    tissue's, the organ's far from it). From the 30 mm cyst's centre the rays' near
    samples are all cyst and the far ones 35 HU from it, too close to split: the only
    band held the kidney too (+265%), and the low-contrast candidate, around the seed's
    own HU, is the cyst."""
    _assert_organ_lesion_found(organ, organ_hu, diameter, lesion_hu, 2.5, offset)


@pytest.mark.parametrize(("organ", "organ_hu", "diameter", "lesion_hu", "thickness"), [
    (KIDNEY, 35.0, 20.0, 0.0, 1.25),  # a cyst in the unenhanced kidney
    (THYROID_LOBE, 110.0, 16.0, 40.0, 5.0),  # a nodule in a lobe five slices thick
    (KIDNEY, 150.0, 12.0, 10.0, 5.0),  # a small cyst, its edge the sharper
])
def test_lesion_inside_a_small_organ_clicked_off_centre(organ, organ_hu, diameter, lesion_hu,
                                                        thickness):
    """Three ways a lesion inside a small organ, clicked 0.4 out, still came out as the
    organ once the lesion won over it: cast again from the cyst's centre, whose rays all
    lie within the cyst (35 HU below the kidney) and find no band of its own, the kidney
    won and was kept (+453%); on 5 mm slices the nodule's band was measured with the rays
    from the lobe's deepest point, off the nodule, which left the band at once and gave
    it no region (+227%); a 12 mm cyst on 5 mm slices, whose edge is the sharper, was
    taken for a part inside a mass, and the mass, the kidney, won (+649%): the kidney's
    HU do not span the cyst's."""
    _assert_organ_lesion_found(organ, organ_hu, diameter, lesion_hu, thickness, 0.4)


@pytest.mark.parametrize(("organ", "organ_hu", "diameter", "lesion_hu"), [
    (KIDNEY, 35.0, 12.0, 0.0),  # a 12 mm cyst in the unenhanced kidney
    (THYROID_LOBE, 110.0, 8.0, 170.0),  # an 8 mm nodule brighter than its lobe
])
def test_small_lesion_on_thick_slices_clicked_off_centre_is_not_the_organ(
        organ, organ_hu, diameter, lesion_hu):
    """On 5 mm slices a small lesion's own part holds its blurred rim, so its HU spread is
    wide; measured in those SDs the organ's median lay too near the seed's, the part was
    not taken, and a click 0.4 out came back as the whole organ (+846%, +689%; Dice 0.01,
    0.03). It is the lesion now, a rough one (+28%, -17%; Dice 0.73, 0.76), not the
    organ."""
    _assert_organ_lesion_found(organ, organ_hu, diameter, lesion_hu, 5.0, 0.4,
                               long_within=0.35, dice_floor=0.7)


def test_necrotic_mass_drawn_across_is_the_mass():
    """A darker core at the centre of a bounded mass (5 cm, 60 HU, in fat; a 2 cm core of
    15 HU) looks the same as a cyst in a kidney, and a click on the core may get the core
    (here it does, 19.8 mm; README). The diameter drawn across the mass is the reader's
    answer: the mass, its long axis 50 mm and short axis 44 mm, holding the core."""
    semi = (25.0, 22.0, 22.0)
    image, core, centre, _ = organ_lesion(semi, 60.0, 20.0, 15.0)
    along = np.array([0.98 * semi[0], 0.0, 0.0])
    res = segment(image, LinePrompt(tuple(centre - along), tuple(centre + along)))
    assert res.measurement.long_axis_mm == pytest.approx(2 * semi[0], rel=0.05), res.details
    assert res.measurement.short_axis_mm == pytest.approx(2 * semi[1], rel=0.1)
    assert res.full_mask(image.geometry)[core.array > 0].mean() >= 0.95


@pytest.mark.parametrize(("diameter", "thickness", "prompt", "floor"), [
    (10.0, 1.25, "deepest", 0.93), (20.0, 1.25, "deepest", 0.93),
    (30.0, 5.0, "deepest", 0.93),
    (10.0, 5.0, "deepest", 0.75),  # two slices: a free one reaches Dice 0.81
    (20.0, 1.25, "line", 0.93), (30.0, 5.0, "line", 0.93),
])
def test_nodule_flat_on_the_pleura_is_cut_at_the_pleural_line(diameter, thickness, prompt,
                                                              floor):
    """A nodule flat on the chest wall, both of soft-tissue HU: nothing in the image
    separates them, and the star-shaped clamp cut the wall in a dome continuing the
    nodule's curve (long axis +17%, 3 mm of wall). It is now cut at the plane of the
    wall's surface around it (the pleural line a reader measures to), that surface's
    voxels included: they are the wall's (cut half a pixel beyond them, a 10 mm
    nodule kept a layer of wall and the corner's blur, +15%). On 5 mm slices the wall
    around a 10 mm nodule is looked at a slice beyond it too (within its own slices,
    too few points for a plane: uncut, +19%). A line drawn on it runs towards the wall:
    the chord of the band at the nodule's edge ran on into the wall, and a band shrunk
    inside the blurred edge matched the line better (Dice 0.79-0.82); each band's chord
    is now measured after the cut, between voxel centres as the line is drawn (its cut
    is counted in ``wall_voxels`` too)."""
    image, truth = lung_nodule(diameter, thickness, "pleura")
    res = segment(image, label_prompts(truth)[prompt])
    ref = measure_mask(truth)
    assert res.details["wall_voxels"] > 0
    assert abs(res.measurement.long_axis_mm / ref.long_axis_mm - 1) <= 0.10, (
        res.measurement.long_axis_mm, ref.long_axis_mm, res.details)
    # clicked, 0.90-0.91 before the cut
    assert dice(res.full_mask(image.geometry), truth.array) >= floor, res.details


@pytest.mark.parametrize("side", [-1, 1])
def test_nodule_on_thick_slices_clicked_on_the_slice_beside_its_centre(side):
    """A 20 mm nodule on three 5 mm slices, clicked on the slice above or below its
    centre, 0.3 of the way to its edge in-plane: the region's deepest point stayed on
    the clicked slice (each of the two slices found lay one slice from the region's
    end), and the star-shaped clamp from there cut the far slice in-plane (-12%, Dice
    0.78). The second cast now starts from the slice nearest the middle of the
    lesion's extent along the rays across the slices."""
    image, truth = lung_nodule(20.0, 5.0)
    t = truth.array > 0
    k = int(np.rint(np.argwhere(t).mean(axis=0)[0])) + side
    j, i = np.argwhere(t[k]).mean(axis=0)
    r = 10.0 / 0.7
    res = segment(image, PointPrompt(tuple(image.geometry.index_to_lps(
        [i + 0.3 * r, j - 0.225 * r, k]))))
    mask = res.full_mask(image.geometry) > 0
    assert np.array_equal(mask.any(axis=(1, 2)), t.any(axis=(1, 2)))
    assert dice(mask, t) >= 0.95
    assert res.measurement.long_axis_mm == pytest.approx(measure_mask(truth).long_axis_mm,
                                                         rel=0.05)


@pytest.mark.parametrize("length", [18.0, 24.0, 36.0])
def test_oval_nodule_from_clicks_keeps_its_poles(length):
    """Oval nodules 12 mm across, 1.5, 2 and 3 times as long, from the deepest point and
    three inner-half clicks: the star-shaped clamp was a sphere of 1.3 x the median edge
    distance, which the short sides set, and it cut the poles (18 mm: -14%; 24 mm: -19
    to -29%; 36 mm: -38 to -50%). It is now the ellipsoid fitted to the chords through
    the centre; a click towards a pole is cast again from the middle of the long axis
    (the chords through the click's deepest point had cut the far pole: 36 mm, -15 to
    -26%)."""
    image, truth, _ = oval_nodule(length, 12.0)
    ref = measure_mask(truth).long_axis_mm
    for name, prompt in label_prompts(truth, random_points=3, seed=2).items():
        res = segment(image, prompt)
        assert res.measurement.long_axis_mm == pytest.approx(ref, rel=0.08), name
        assert dice(res.full_mask(image.geometry), truth.array) >= 0.9, name


def test_oval_nodule_clicked_half_way_to_a_pole():
    """36 x 12 mm, clicked half-way from the centre to a pole (9 mm off): -26%, Dice 0.84
    with the clamp's ellipsoid about the click's deepest point; cast again from the
    middle of the long axis, the whole nodule."""
    image, truth, centre = oval_nodule(36.0, 12.0)
    res = segment(image, PointPrompt(tuple(centre + np.array([9.0, 0.0, 0.0]))))
    assert res.measurement.long_axis_mm == pytest.approx(measure_mask(truth).long_axis_mm,
                                                         rel=0.05)
    assert dice(res.full_mask(image.geometry), truth.array) >= 0.93


def test_oval_clamp_fits_an_ellipsoid_and_ignores_one_sided_rays():
    """The clamp's ellipsoid from rays' edge distances: an ellipsoid's own radii come
    back (within the 7 degrees by which a ray's opposite misses its antipode), clipped
    to [median, 3 x median]; rays run long on one side only (a vessel, the chest wall)
    leave it as it was."""
    from scipy.spatial.transform import Rotation

    from imaging.segment.rays import DIRECTIONS, _oval
    rng = np.random.default_rng(7)
    for _ in range(20):
        axes = rng.uniform(4.0, 15.0, 3)
        local = DIRECTIONS @ Rotation.random(random_state=rng).as_matrix()
        radii = 1.0 / np.sqrt(((local / axes) ** 2).sum(axis=1))
        r_med = float(np.median(radii))
        expected = np.clip(radii, r_med, 3.0 * r_med)
        np.testing.assert_allclose(_oval(radii, r_med), expected, rtol=0.08)
        side = rng.normal(size=3)
        one_sided = np.where(DIRECTIONS @ (side / np.linalg.norm(side)) > 0.8, 40.0, radii)
        np.testing.assert_allclose(_oval(one_sided, r_med), expected, rtol=0.08)


def test_nodule_on_crossing_vessels_is_not_cut_at_their_plane():
    """Two vessels crossing a 10 mm nodule lie nearly in one plane through its centre:
    their surface points fit a plane, yet it is no wall (tissue on both sides, and the
    nodule cut by it in halves). The nodule keeps both halves (a first version of the wall cut took
    124 voxels of it: Dice 0.92 -> 0.75)."""
    image, truth = lung_nodule(10.0, 2.5, "vessels")
    res = segment(image, label_prompts(truth)["deepest"])
    assert res.details["wall_voxels"] == 0
    assert dice(res.full_mask(image.geometry), truth.array) >= 0.85


@pytest.mark.parametrize("thickness", [0.6, 1.25])
def test_nodule_on_crossing_vessels_is_measured_without_their_stubs(thickness):
    """A 10 mm nodule crossed by two vessels (3.2 and 2.4 mm across): the opening's ball
    (a quarter of its radius) fits inside them, and their stubs, out to the star-shaped
    clamp, held the long axis from every click and from the long-axis line (+29%). The
    thin parts the vessels run on from are cut: from the deepest point, three inner-half
    clicks and the line (which they made longer than drawn), within 5%."""
    image, truth = lung_nodule(10.0, thickness, "vessels")
    ref = measure_mask(truth).long_axis_mm
    prompts = label_prompts(truth)
    for name in ("deepest", "inner1", "inner2", "inner3", "line"):
        res = segment(image, prompts[name])
        assert res.details["stub_voxels"] > 0, name
        assert abs(res.measurement.long_axis_mm / ref - 1) <= 0.05, (
            name, res.measurement.long_axis_mm, ref)
        assert dice(res.full_mask(image.geometry), truth.array) >= 0.9, name


def test_spiculated_nodule_keeps_its_spicules_not_its_vessel():
    """A 16 mm nodule in lung with three spicules (3 mm wide, ending 7.5 mm past its edge)
    and a vessel leaving it: from a click, the nodule with its spicules (the opening and
    the star-shaped clamp cut them like vessel stubs: long axis 16.9 mm against 25.4 mm)
    and without the vessel, which runs on out of the ROI."""
    size = (110, 100, 50)
    g = Geometry(size, SPACING, (0.0, 0.0, 0.0), np.eye(3))
    k, j, i = np.indices(tuple(reversed(size)))
    x, y, z = i * SPACING[0], j * SPACING[1], k * SPACING[2]
    c = np.array([38.0, 35.0, 31.0])
    rel = np.stack([x - c[0], y - c[1], z - c[2]], -1)
    nodule = (rel[..., 0] ** 2 + rel[..., 1] ** 2 + (1.1 * rel[..., 2]) ** 2) <= 8.0**2
    spicules = np.zeros_like(nodule)
    for angle in (0.3, 2.4, 4.2):  # in the nodule's mid plane
        d = np.array([np.cos(angle), np.sin(angle), 0.0])
        t = rel @ d
        spicules |= (t > 6.0) & (t < 13.5) & (np.linalg.norm(rel - t[..., None] * d, axis=-1)
                                              <= 1.5)
    vessel = ((x - c[0]) ** 2 + (z - c[2] - 4) ** 2 <= 1.4**2) & (y > c[1])
    hu = np.where(nodule | spicules | vessel, 30.0, -850.0)
    hu = (ndimage.gaussian_filter(hu, sigma=0.8 / SPACING[::-1])
          + np.random.default_rng(3).normal(0, 20, hu.shape))
    image = Volume(hu.astype(np.float32), g)
    truth = nodule | spicules
    res = segment(image, PointPrompt(tuple(c)))
    full = res.full_mask(g) > 0
    ref = measure_mask(Volume(truth.astype(np.uint8), g)).long_axis_mm
    assert abs(res.measurement.long_axis_mm / ref - 1) <= 0.10, (res.measurement.long_axis_mm,
                                                                  ref)
    assert (full & spicules).sum() >= 0.6 * spicules.sum()
    assert not (full & vessel & (y > c[1] + 12)).any()
    assert dice(full, truth) >= 0.9


def test_ground_glass_nodule_flat_on_the_chest_wall():
    """A ground-glass nodule (-600 HU, lung showing through: texture +-150 HU) lying flat
    on the chest wall (40 HU), clicked at its centre: the nodule, none of the wall. With
    the ground-glass band open above, the wall under it joined the nodule in one dome
    the watershed did not split (1433 wall voxels, Dice 0.74; LIDC-0002 the same)."""
    size = (110, 100, 50)
    g = Geometry(size, SPACING, (0.0, 0.0, 0.0), np.eye(3))
    k, j, i = np.indices(tuple(reversed(size)))
    x, y, z = i * SPACING[0], j * SPACING[1], k * SPACING[2]
    rng = np.random.default_rng(7)
    hu = np.full(x.shape, -850.0)
    wall = x > 66
    hu[wall] = 40.0
    nodule = (((x - 61) / 7) ** 2 + ((y - 35) / 14) ** 2 + ((z - 31) / 10) ** 2 <= 1) & ~wall
    texture = ndimage.gaussian_filter(rng.normal(0, 1, x.shape), 1.0)
    hu[nodule] = -600.0 + (150 / texture.std()) * texture[nodule]
    hu = ndimage.gaussian_filter(hu, sigma=0.8 / SPACING[::-1]) + rng.normal(0, 20, hu.shape)
    image = Volume(hu.astype(np.float32), g)
    res = segment(image, PointPrompt((59.0, 35.0, 31.0)))
    full = res.full_mask(g) > 0
    assert not (full & (x > 68)).any(), int((full & (x > 68)).sum())
    assert dice(full, nodule) >= 0.85
    ref = measure_mask(Volume(nodule.astype(np.uint8), g)).long_axis_mm
    assert abs(res.measurement.long_axis_mm / ref - 1) <= 0.10


def _box(truth: Volume, margin_mm: float = 0.0) -> BoxPrompt:
    """The truth's box on its long axis's slice, ``margin_mm`` out from its outer faces."""
    box = label_prompts(truth, box=True)["box"]
    if not margin_mm:
        return box
    a, b = np.asarray(box.corner_a), np.asarray(box.corner_b)
    out = margin_mm * np.sign(b - a) * np.array([1.0, 1.0, 0.0])
    return BoxPrompt(tuple(a - out), tuple(b + out))


def _inside(full: np.ndarray, box: BoxPrompt, g: Geometry) -> bool:
    _, j, i = np.nonzero(full)
    lo, hi = box.bounds(g)
    return bool(lo[0] <= i.min() <= i.max() <= hi[0] and lo[1] <= j.min() <= j.max() <= hi[1])


@pytest.mark.parametrize(("make", "margin", "tolerance", "floor"), [
    pytest.param(lambda: lung_nodule(10.0, 1.25, "vessels"), 0.0, 0.05, 0.9, id="10mm-vessels"),
    pytest.param(lambda: lung_nodule(20.0, 1.25, "vessels"), 0.0, 0.05, 0.9, id="20mm-vessels"),
    pytest.param(lambda: liver_lesion(6.0, 45.0, 1.25)[:2], 2.0, 0.10, 0.85,
                 id="6mm-liver-2mm-margin"),
])
def test_box_prompt_bounds_the_lesion(make, margin, tolerance, floor):
    """A box drawn around a lesion bounds it. A 10 mm nodule crossed by a 3.2 mm vessel,
    clicked, kept the vessel's stubs within its star-shaped clamp (+29%, before they were
    cut); in its box the stubs stop at its sides, and the band whose extent fits the box
    wins, not a tighter band inside the lesion (-21%, Dice 0.64, while the stubs running
    out of the box were held against the right band as a mismatch of its extent). A 6 mm
    liver lesion in a box drawn 2 mm out from it (10 mm): scored by how well its extent
    fits the box, a band taking in liver up to the box's sides won (+59%, Dice 0.46);
    within a reader's margin the candidates' edges decide, as for a click."""
    image, truth = make()
    box = _box(truth, margin)
    res = segment(image, box)
    ref = measure_mask(truth).long_axis_mm
    full = res.full_mask(image.geometry)
    assert abs(res.measurement.long_axis_mm / ref - 1) <= tolerance, res.measurement.long_axis_mm
    assert dice(full, truth.array) >= floor
    assert _inside(full, box, image.geometry)


def test_box_with_corners_on_two_slices_bounds_the_slices():
    """Corners on different slices bound the lesion's slices too (on one slice a box
    bounds it in-plane only): a 20 mm nodule in a box over its middle 11 of 15 slices
    keeps those, and its long axis, which lies on them."""
    image, truth = lung_nodule(20.0, 1.25, "free")
    g = image.geometry
    ks = np.flatnonzero(truth.array.any(axis=(1, 2)))
    _, j, i = np.nonzero(truth.array)
    k0, k1 = int(ks[2]), int(ks[-3])
    box = BoxPrompt(tuple(g.index_to_lps([i.min() - 0.5, j.min() - 0.5, k0])),
                    tuple(g.index_to_lps([i.max() + 0.5, j.max() + 0.5, k1])))
    res = segment(image, box)
    full = res.full_mask(g)
    kept = np.flatnonzero(full.any(axis=(1, 2)))
    assert (kept.min(), kept.max()) == (k0, k1)
    assert abs(res.measurement.long_axis_mm / measure_mask(truth).long_axis_mm - 1) <= 0.05


def test_watershed_markers_join_equal_tops_of_one_dome():
    from imaging.segment.separate import _markers

    x = np.arange(60.0)
    one = np.interp(x, [0, 20, 30, 40, 59], [0, 10, 9, 10, 0])  # equal tops, saddle 9
    two = np.interp(x, [0, 20, 30, 40, 59], [0, 10, 5, 10, 0])  # equal tops, saddle 5
    for profile, n in ((one, 1), (two, 2)):
        dist = np.tile(profile, (3, 3, 1))
        assert _markers(dist, 2.0)[1] == n, profile


def test_bad_prompts(phantom):
    image, _, _ = phantom
    with pytest.raises(PromptError, match="outside the image"):
        segment(image, PointPrompt((500.0, 0.0, 0.0)))
    with pytest.raises(PromptError, match="air or aerated lung"):
        segment(image, PointPrompt((10.0, 10.0, 10.0)))
    g = Geometry((150, 150, 20), (2.0, 2.0, 5.0), (0, 0, 0), np.eye(3))
    soft = Volume(np.random.default_rng(0).normal(40, 10, (20, 150, 150)).astype(np.float32), g)
    with pytest.raises(PromptError, match=r"no lesion can be separated.*a box instead$"):
        segment(soft, PointPrompt((150.0, 150.0, 50.0)))
    with pytest.raises(PromptError, match="no lesion can be separated") as err:  # a drawn
        segment(soft, LinePrompt((140.0, 150.0, 50.0), (160.0, 150.0, 50.0)))  # one: no advice
    assert "draw" not in str(err.value)
    with pytest.raises(PromptError, match="shorter than 1 mm"):
        LinePrompt((1.0, 1.0, 1.0), (1.2, 1.0, 1.0))
    with pytest.raises(PromptError, match="narrower than 1 mm"):
        BoxPrompt((1.0, 1.0, 1.0), (20.0, 1.5, 1.0))
    with pytest.raises(PromptError, match=r"point \(70.0, -20.0, 30.0\) mm is outside"):
        segment(image, BoxPrompt((20.0, 20.0, 30.0), (70.0, -20.0, 30.0)))  # a corner out


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_click_in_tissue_without_a_lesion_is_refused(seed):
    """Soft tissue of one HU (40) with noise (SD 9 HU after the scanner's blur), no
    lesion: a click there is refused with the point named, not given a blob of noise.
    Before faint regions were refused, 4 of these 8 clicks gave 14-27 mm "lesions"."""
    shape = (40, 150, 150)
    noise = np.random.default_rng(seed).normal(0.0, 40.0, shape)
    image = Volume((40.0 + ndimage.gaussian_filter(noise, (0.5, 1.0, 1.0))).astype(np.float32),
                   Geometry(shape[::-1], (0.8, 0.8, 2.5), (0.0, 0.0, 0.0), np.eye(3)))
    for click in [(60.0, 60.0, 50.0), (40.0, 70.0, 45.0)]:
        with pytest.raises(PromptError, match=r"no lesion can be separated at \(" +
                           rf"{click[0]:.1f}, {click[1]:.1f}, {click[2]:.1f}\) mm"):
            segment(image, PointPrompt(click))


def test_segment_command_writes_mask_and_measures(phantom, tmp_path, capsys):
    from imaging.io import write_image_file

    image, truth, _ = phantom
    write_image_file(image, tmp_path / "ct.nii.gz")
    p = label_prompts(truth)["deepest"].point
    out = tmp_path / "mask.nii.gz"
    assert main(["segment", str(tmp_path / "ct.nii.gz"), "--point", ",".join(map(str, p)),
                 "--out", str(out)]) == 0
    doc = json.loads(capsys.readouterr().out)
    written = read_image_file(out)
    assert written.geometry.same_grid(image.geometry)
    assert dice(written.array > 0, truth.array) >= 0.85
    assert doc["voxels"] == int((written.array > 0).sum())
    assert main(["segment", str(tmp_path / "ct.nii.gz"), "--point", "10,10,10"]) == 2
    box = label_prompts(truth, box=True)["box"]
    assert main(["segment", str(tmp_path / "ct.nii.gz"), "--box",
                 ",".join(map(str, box.corner_a + box.corner_b))]) == 0
    boxed = json.loads(capsys.readouterr().out)
    assert abs(boxed["long_axis_mm"] / measure_mask(truth).long_axis_mm - 1) <= 0.10
    assert boxed["voxels"] <= 1.3 * truth.array.sum()


# -- real lesions: floors at what the method reaches today --------------------------
REAL = {
    "lidc_idri_0001": ("lesions/lidc_idri_0001", "lesions/lidc_idri_0001/labels_pylidc/"
                       "nodule1_consensus50.nrrd"),
    "pyradiomics_lung1": ("lesions/pyradiomics_lung1/lung1_image.nrrd",
                          "lesions/pyradiomics_lung1/lung1_label.nrrd"),
}


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_lung_nodules(shared_data, name):
    image_path, label_path = REAL[name]
    image = load_image(shared_data / image_path)
    label = read_image_file(pathlib.Path(shared_data / label_path))
    label = label.with_array((label.array > 0).astype(np.uint8))
    rows = [r for r in evaluate(name, image, label) if r.prompt in ("deepest", "line")]
    assert all(not r.error for r in rows), [r.error for r in rows]
    assert min(r.dice for r in rows) >= 0.85, [r.dice for r in rows]
    assert all(abs(r.long_error_pct) <= 20.0 for r in rows), [r.long_error_pct for r in rows]
    assert all(r.seconds < 5.0 for r in rows)


@pytest.mark.shared_data
def test_real_spiculated_nodule_from_clicks(shared_data):
    """LIDC-IDRI-0001's 31 mm nodule: its readers drew a spicule 4-5 mm long, which holds
    the long axis. From every click, a long axis within 10% of theirs: the spicule, cut
    by the opening and the star-shaped clamp like a vessel stub, is grown back (-11 to
    -16% before). From the drawn line (no spicules), within -8..+6%."""
    image_path, label_path = REAL["lidc_idri_0001"]
    image = load_image(shared_data / image_path)
    label = read_image_file(shared_data / label_path)
    label = label.with_array((label.array > 0).astype(np.uint8))
    rows = evaluate("lidc_idri_0001", image, label)
    assert all(not r.error for r in rows), [r.error for r in rows]
    assert all(abs(r.long_error_pct) <= 10.0 for r in rows), [r.long_error_pct for r in rows]
    assert min(r.dice for r in rows) >= 0.88, [r.dice for r in rows]
    # the nodule touches the chest wall: from the drawn line, a piece of it was taken in
    # (+8.8%) until the lesion was cut at the pleural line (-4.0% cut half a pixel beyond
    # the wall's surface voxels, -7.0% cut at them: the tip where the nodule runs along
    # the wall loses a pixel, which the readers' outline keeps)
    line = next(r for r in rows if r.prompt == "line")
    assert -8.0 <= line.long_error_pct <= 6.0, line


@pytest.mark.shared_data
def test_real_soft_tissue_mass_from_a_drawn_line(shared_data):
    image = load_image(shared_data / "lesions/mirp_sts_002/ct_image.nii.gz")
    label = read_image_file(shared_data / "lesions/mirp_sts_002/gtv_mask.nii.gz")
    res = segment(image, label_prompts(label)["line"])
    # the drawn line is 55.3 mm; the low-contrast candidate's chord matches it best
    # (Dice 0.86, long axis +6.5%); it has an edge: not bounded by the line
    assert res.details["low_contrast"] == 1.0
    assert res.details["bounded_by_line_voxels"] == 0
    assert dice(res.full_mask(image.geometry), label.array > 0) >= 0.84
    assert abs(res.measurement.long_axis_mm / measure_mask(label).long_axis_mm - 1) <= 0.10


@pytest.mark.shared_data
def test_real_mass_without_an_edge_is_bounded_by_its_drawn_line(shared_data):
    """MIRP STS_001 from its long-axis line: the image gives it no edge against the
    muscle (the in-plane gradient on its outline is no higher than inside or outside
    it), and the low-contrast candidate ran on into the muscle on the slices above:
    115 mm from a 90 mm line (+27%, Dice 0.67). It is kept within the circle the line
    spans, on every slice: its long axis is the drawn one, and the result says so."""
    image = load_image(shared_data / "lesions/mirp_sts_001/ct_image.nii.gz")
    label = read_image_file(shared_data / "lesions/mirp_sts_001/gtv_mask.nii.gz")
    label = label.with_array((label.array > 0).astype(np.uint8))
    line = label_prompts(label)["line"]
    res = segment(image, line)
    assert res.details["bounded_by_line_voxels"] > 0
    assert res.measurement.long_axis_mm <= line.expected_diameter_mm + 0.01
    assert abs(res.measurement.long_axis_mm / measure_mask(label).long_axis_mm - 1) <= 0.10
    assert dice(res.full_mask(image.geometry), label.array) >= 0.72


@pytest.mark.shared_data
def test_real_mass_without_contrast_from_a_box(shared_data):
    """MIRP STS_001 (28.5 HU in muscle of 34 HU): its clicks are refused. From the box
    drawn around it on its long axis's slice, the low-contrast candidate has no edge and
    runs into the box's corners (109 mm, +21%, Dice 0.84, since it is cast again from the
    middle of its region with the noise's holes filled; +8% before, by luck): it is kept
    within the ellipse inscribed in the box, on every slice (-0.8%, Dice 0.87), and the
    result says so."""
    image = load_image(shared_data / "lesions/mirp_sts_001/ct_image.nii.gz")
    label = read_image_file(shared_data / "lesions/mirp_sts_001/gtv_mask.nii.gz")
    label = label.with_array((label.array > 0).astype(np.uint8))
    res = segment(image, label_prompts(label, box=True)["box"])
    assert res.bounded_by == "box"
    assert abs(res.measurement.long_axis_mm / measure_mask(label).long_axis_mm - 1) <= 0.05
    assert dice(res.full_mask(image.geometry), label.array) >= 0.82


def test_segment_writes_dicom_seg_that_validates_and_reads_back(tmp_path, capsys):
    import shutil
    import subprocess

    import highdicom as hd

    from tests.dicom_factory import axial_positions, write_series

    def nodule(x, y, z):  # lung with an 8 mm-radius nodule at (0, 0, 10)
        inside = x**2 + y**2 + (z - 10.0) ** 2 <= 8.0**2
        return np.where(inside, 30.0, -850.0)

    write_series(tmp_path / "ct", axial_positions(16, 1.5, origin=(-20.0, -20.0, -2.0)),
                 shape=(58, 58), field=nodule)
    seg_path, nii_path = tmp_path / "seg.dcm", tmp_path / "mask.nii.gz"
    for out in (seg_path, nii_path):
        assert main(["segment", str(tmp_path / "ct"), "--point", "0,0,10",
                     "--out", str(out)]) == 0
    capsys.readouterr()
    exe = shutil.which("dciodvfy")
    if exe is None:
        pytest.fail("dciodvfy is not installed (make test installs Debian's dicom3tools)")
    report = subprocess.run([exe, str(seg_path)], capture_output=True, text=True, check=False)
    errors = [ln for ln in (report.stdout + report.stderr).splitlines() if ln.startswith("Error")]
    assert errors == []
    seg = hd.seg.segread(seg_path)
    assert seg.number_of_segments == 1
    assert seg.get_segment_description(1).segment_label == "lesion"
    nifti = read_image_file(nii_path).array > 0
    volume = seg.get_volume()  # back on the source grid, in SEG frame order
    seg_mask = np.asarray(volume.array)[..., 0] if volume.array.ndim == 4 else volume.array
    assert int(seg_mask.sum()) == int(nifti.sum()) > 500
    # the same voxels in patient space: centroids agree (SEG geometry from highdicom's affine)
    seg_idx = np.argwhere(seg_mask).mean(axis=0)
    seg_lps = (volume.affine @ np.r_[seg_idx, 1.0])[:3]
    nii = read_image_file(nii_path)
    nii_lps = nii.geometry.index_to_lps(np.argwhere(nifti).mean(axis=0)[::-1])
    np.testing.assert_allclose(seg_lps, nii_lps, atol=0.5)
    np.testing.assert_allclose(nii_lps, [0.0, 0.0, 10.0], atol=1.0)


def _labelled(image_path: pathlib.Path, label_path: pathlib.Path) -> tuple[Volume, Volume]:
    """A real image and its expert label (any label value > 0 is the lesion)."""
    label = read_image_file(label_path)
    return load_image(image_path), label.with_array((label.array > 0).astype(np.uint8))


@pytest.fixture(scope="module")
def lidc_0002(unpacked, shared_data) -> tuple[Volume, Volume]:
    """LIDC-IDRI-0002 (261 slices) and its nodule's consensus label, loaded once."""
    return _labelled(unpacked("lesions/lidc_idri_0002/LIDC-IDRI-0002.tar.xz"),
                     shared_data / "lesions/lidc_idri_0002/labels_pylidc/"
                                   "nodule1_consensus50.nrrd")


@pytest.mark.shared_data
def test_real_ground_glass_nodule(lidc_0002):
    """LIDC-IDRI-0002's 30 mm ground-glass nodule (texture 1): lung shows through it, a
    quarter of its labelled voxels lie below -807 HU. The ground-glass candidate (image
    smoothed 2 mm, edge 0.4 of the way from the lung to it) finds it from every prompt;
    before it the clicks leaked into the lung (long axes up to 85 mm) or kept a fragment
    (Dice 0.06-0.61). It lies flat on the chest wall: with its band open above, the wall
    under it was in (Dice 0.48-0.70, short axis +56 to +83%)."""
    rows = evaluate("lidc_idri_0002", *lidc_0002)
    assert all(not r.error for r in rows), [r.error for r in rows]
    assert all(abs(r.long_error_pct) <= 10.0 for r in rows), [r.long_error_pct for r in rows]
    assert all(r.short_error_pct <= 45.0 for r in rows), [r.short_error_pct for r in rows]
    assert min(r.dice for r in rows) >= 0.6, [r.dice for r in rows]
    assert np.median([r.dice for r in rows]) >= 0.7, [r.dice for r in rows]
    clicks = [r.long_mm for r in rows if r.prompt != "line"]
    assert spread_pct(clicks) <= 5.0, clicks  # 8.8% while the band kept the seed's HU


@pytest.mark.shared_data
@pytest.mark.parametrize(("name", "readers"), [("lidc_idri_0001", 4), ("lidc_idri_0002", 2)])
def test_real_nodules_agree_with_each_reader_as_the_readers_agree(request, shared_data, name,
                                                                  readers):
    """The LIDC labels are where at least half the readers drew; their own outlines are
    at hand. From the deepest point, our result agrees with each reader (median Dice)
    at least as well as the readers agree with each other: LIDC-0001's four readers
    0.839-0.903 (median 0.878), ours 0.839-0.938 (0.890); LIDC-0002's ground-glass
    nodule, whose two readers agree at 0.758 (the label is their union), ours 0.785 and
    0.782, though 0.779 with the label (the benchmark counts it missed below 0.8)."""
    image, label = (request.getfixturevalue("lidc_0002") if name == "lidc_idri_0002" else
                    _labelled(shared_data / REAL[name][0], shared_data / REAL[name][1]))
    outlines = list(reader_outlines(shared_data / "lesions" / name / "labels_pylidc").values())
    assert len(outlines) == readers
    pairs = pairwise_dice(outlines)
    ours = segment(image, label_prompts(label)["deepest"]).full_mask(image.geometry) != 0
    each = [dice(ours, outline) for outline in outlines]
    assert np.median(each) >= np.median(pairs), (each, pairs)
    assert min(each) >= min(pairs) - 0.01, (each, pairs)


@pytest.mark.shared_data
def test_real_ground_glass_nodule_from_clicks_on_its_denser_parts(lidc_0002):
    """LIDC-IDRI-0002 from 15 more inner-half clicks (another draw). Clicked on a part
    denser than the rest (-570 HU on a -680 HU lesion), the ground-glass band's edge was
    set 45 HU too high and cut the faint rim, and a band between the denser part and the
    rim, edged as well, won over the ground-glass candidate: -49.4 to +8.1%, 8 of 15
    within 10%. The lesion's HU is now measured again over what the band found, and the
    candidate competes with the bands. Two clicks lie where lung shows through (below
    -780 HU): refused as aerated lung, as a reader clicking there would expect."""
    rows = evaluate("lidc_idri_0002", *lidc_0002, random_points=15, seed=1, inner_only=True)
    measured = [r for r in rows if not r.error]
    assert all("aerated lung" in r.error for r in rows if r.error), [r.error for r in rows]
    assert len(measured) >= 13, [r.error for r in rows]
    errors = [r.long_error_pct for r in measured]
    assert all(abs(e) <= 15.0 for e in errors), errors
    assert sum(abs(e) <= 10.0 for e in errors) >= 10, errors
    assert spread_pct([r.long_mm for r in measured]) <= 20.0, errors
    assert min(r.dice for r in measured) >= 0.7, [r.dice for r in measured]


@pytest.mark.shared_data
def test_real_soft_tissue_mass_from_clicks(shared_data):
    """MIRP STS_003, a 53 mm sarcoma in fat, 3.3 mm slices and 20 slices tall: from every
    click the whole mass. With the lung's star clamp (1.3 x the median edge distance) its
    poles were cut (three slices each end; Dice 0.72-0.80, short axis up to -19%)."""
    image = load_image(shared_data / "lesions/mirp_sts_003/ct_image.nii.gz")
    label = read_image_file(shared_data / "lesions/mirp_sts_003/gtv_mask.nii.gz")
    label = label.with_array((label.array > 0).astype(np.uint8))
    rows = [r for r in evaluate("mirp_sts_003", image, label) if r.prompt != "line"]
    assert all(not r.error for r in rows), [r.error for r in rows]
    assert min(r.dice for r in rows) >= 0.84, [r.dice for r in rows]
    assert all(abs(r.long_error_pct) <= 10.0 for r in rows), [r.long_error_pct for r in rows]
    assert all(abs(r.short_error_pct) <= 10.0 for r in rows), [r.short_error_pct for r in rows]


@pytest.mark.shared_data
def test_real_soft_tissue_mass_clicked_on_a_focus_inside_it(shared_data):
    """MIRP STS_003 from 15 more inner-half clicks (another draw). Two of them lie on a
    17 mm enhancing focus inside the sarcoma (about 110 HU in a mass of 30-40 HU): its
    own edge is sharper than the sarcoma's with the fat (28.5 against 15.6 HU/mm), so
    the focus alone came out (-66.5% and -68.3%, Dice 0.03). The sarcoma's candidate,
    bounded, edged at half the focus's strength and holding the focus and its ring, is
    now the lesion: every click within 10%, the long axes within 5% of each other."""
    case = shared_data / "lesions/mirp_sts_003"
    rows = evaluate("mirp_sts_003", *_labelled(case / "ct_image.nii.gz", case / "gtv_mask.nii.gz"),
                    random_points=15, seed=1, inner_only=True)
    assert all(not r.error for r in rows), [r.error for r in rows]
    assert all(abs(r.long_error_pct) <= 10.0 for r in rows), [r.long_error_pct for r in rows]
    assert spread_pct([r.long_mm for r in rows]) <= 5.0, [r.long_mm for r in rows]
    assert min(r.dice for r in rows) >= 0.85, [r.dice for r in rows]


@pytest.mark.shared_data
def test_real_nodule_on_thick_slices_from_clicks(shared_data):
    """pyradiomics lung1, a 16 mm nodule on three 5 mm slices: from every prompt, clicks on
    the slice beside the centre included, a long axis within 10% of the label's. Before,
    two such clicks kept the clicked slice alone (-49% and -52%, Dice 0.24): the region's
    centre could not move one slice, and a step between slices weighed as a sharp edge.
    The click on its lowest slice, near its edge, lost the slice two above to the clamp
    (Dice 0.73) until the second cast started from the middle slice."""
    image_path, label_path = REAL["pyradiomics_lung1"]
    image = load_image(shared_data / image_path)
    label = read_image_file(shared_data / label_path)
    label = label.with_array((label.array > 0).astype(np.uint8))
    rows = evaluate("pyradiomics_lung1", image, label)
    assert len(rows) == 5
    assert all(not r.error for r in rows), [r.error for r in rows]
    assert all(abs(r.long_error_pct) <= 10.0 for r in rows), [r.long_error_pct for r in rows]
    assert min(r.dice for r in rows) >= 0.85, [r.dice for r in rows]
    clicks = [r.long_mm for r in rows if r.prompt != "line"]
    assert max(clicks) / min(clicks) <= 1.05, clicks


@pytest.mark.shared_data
def test_real_soft_tissue_mass_beside_muscle_from_its_deepest_point(shared_data):
    """MIRP STS_002, a 55 mm sarcoma against muscle of its own HU: from its deepest point
    the mass without the tongue of tissue beside it (a 5 mm wide attachment an opening
    of at most 2.5 mm kept: long axis +26.8%)."""
    image = load_image(shared_data / "lesions/mirp_sts_002/ct_image.nii.gz")
    label = read_image_file(shared_data / "lesions/mirp_sts_002/gtv_mask.nii.gz")
    label = label.with_array((label.array > 0).astype(np.uint8))
    rows = {r.prompt: r for r in evaluate("mirp_sts_002", image, label)}
    assert abs(rows["deepest"].long_error_pct) <= 10.0, rows["deepest"]
    assert rows["deepest"].dice >= 0.86, rows["deepest"]
    assert all(r.dice >= 0.84 for r in rows.values()), {k: r.dice for k, r in rows.items()}


@pytest.mark.shared_data
def test_real_soft_tissue_mass_from_fifteen_clicks_is_stable(shared_data):
    """MIRP STS_002 from 15 random clicks in its inner half: long axes within 5% of each
    other (the issue's goal), and each within 10% of the label's. Its band's bound lies
    near the mass's HU; a ray stopped short by noise had its cone beyond cut out of the
    mass, and the watershed split it along such cuts: one click gave -19.3% (Dice 0.70)
    beside the others' +7 to +11% (spread 37%). Then each click's own pass gave +6.7 to
    +13.2% (six beyond 10%, spread 6.1%), until each was cast again from its lesion's
    deepest point."""
    image = load_image(shared_data / "lesions/mirp_sts_002/ct_image.nii.gz")
    label = read_image_file(shared_data / "lesions/mirp_sts_002/gtv_mask.nii.gz")
    label = label.with_array((label.array > 0).astype(np.uint8))
    prompts = label_prompts(label, random_points=15, seed=1)
    longs = [segment(image, prompts[f"inner{n}"]).measurement.long_axis_mm
             for n in range(1, 16)]
    assert max(longs) / min(longs) <= 1.05, [round(v, 1) for v in longs]
    ref = measure_mask(label).long_axis_mm
    assert all(abs(v / ref - 1) <= 0.10 for v in longs), [round(v, 1) for v in longs]


@pytest.mark.shared_data
def test_real_mass_region_left_empty_is_refused_not_a_crash(shared_data, monkeypatch):
    """A region that step 4's opening erases leaves nothing to measure: that is a refusal
    naming the point (exit 2), not an IndexError. Reached with the floor on a lesion-in-
    an-organ part lifted: MIRP STS_002's click inner11 (15-click draw) then takes a
    6-voxel blob of the mass's noise for the lesion, which the opening erases. With the
    floor (a 5 mm lesion's volume) the click gets the mass, within 10% (the test above)."""
    monkeypatch.setattr(region_grow, "PART_MIN_MM3", 0.0)
    image = load_image(shared_data / "lesions/mirp_sts_002/ct_image.nii.gz")
    label = read_image_file(shared_data / "lesions/mirp_sts_002/gtv_mask.nii.gz")
    label = label.with_array((label.array > 0).astype(np.uint8))
    prompt = label_prompts(label, random_points=15, seed=1)["inner11"]
    with pytest.raises(PromptError, match=r"no lesion can be separated at \(.*nothing "
                                          r"around the point is left"):
        segment(image, prompt)


@pytest.mark.shared_data
def test_real_mass_without_contrast_refuses_clicks(shared_data):
    """MIRP STS_001, a sarcoma of 28.5 HU in muscle of 34 HU (its SOURCE.md says so): no
    click separates it, so every click is refused with the point named: the benchmark's
    four and ten more in the inner half. One of the four had given a 9 mm blob of noise
    inside the 90 mm mass (its band bound 0.1 sigma from the clicked tissue's median);
    six of the ten gave regions (blobs of noise of 10-30 mm, and a 151 mm leak through
    the thigh), none more than 1.4 noise SDs from the tissue around it, until such faint
    regions were refused. Every refusal tells the reader what bounds such a lesion: its
    drawn diameter or a box (only one of the four reasons said so)."""
    image = load_image(shared_data / "lesions/mirp_sts_001/ct_image.nii.gz")
    label = read_image_file(shared_data / "lesions/mirp_sts_001/gtv_mask.nii.gz")
    label = label.with_array((label.array > 0).astype(np.uint8))
    prompts = label_prompts(label)
    more = label_prompts(label, random_points=10, seed=5)
    prompts.update({f"more{n}": more[f"inner{n}"] for n in range(1, 11)})
    for name in ("deepest", "inner1", "inner2", "inner3", *(f"more{n}" for n in range(1, 11))):
        point = prompts[name].point
        with pytest.raises(PromptError, match=r"no lesion can be separated at \(") as err:
            segment(image, prompts[name])
        assert f"{point[0]:.1f}" in str(err.value), name
        assert str(err.value).endswith("draw its diameter or a box instead"), err.value
