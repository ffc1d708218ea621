"""3D lesion segmentation from one prompt: region growing in a HU band found along rays,
then separation from attached structures.

The method, step by step (all in a region of interest around the prompt,
never on the whole volume; all sizes in millimetres, so anisotropic voxels
are handled):

1. **Region of interest**: a box around the prompt, 35 mm half-size for a
   click or 1.2 x the drawn diameter for a line (the longest side for a drawn box;
   its centre is the click); a click's rays (step 3) reach 8/7 of the half-size.
   If the result touches the box it is enlarged
   (x1.7, up to 120 mm) and the lesion grown again with the band and centre
   already found (in a larger box the rays meet the organ around a large
   lesion, whose edge with fat is sharper than the lesion's own). When the
   first box gives no lesion but the clicked tissue runs to its side (a 10 cm
   lesion clicked near its centre: the rays never left it), one larger box is
   tried before the click is refused; what it finds must be made of the clicked
   tissue (the seed's median within its central 90% of HU), or the refusal stands
   (a faint 10 mm lesion, refused, came back as its whole organ). A region that runs
   out of the image's field of view (in-plane) is refused.
2. **Intensity model**: the image is smoothed lightly (Gaussian, 0.6 mm);
   the lesion's HU is the median in a 2.5 mm ball around the click (or along
   the central half of the drawn line). A prompt in air or aerated lung
   (below -780 HU) is refused.
3. **The lesion's HU band, from rays**: 200 rays (evenly spread over the sphere)
   sample the image from the prompt outwards. Otsu's threshold on those samples
   separates the lesion's side from what differs most (lung, air); up to two
   further Otsu levels on the seed's side (kept when the classes are >= 40 HU
   apart) separate ground glass from lung, a mass from fat or a lesion from its
   organ. The same is done on the samples within half, a quarter and an eighth of
   the rays' reach (a 10 mm lesion is a few samples of each ray, which the organ's
   split from fat outweighs), where the first split must be distinct too; within a
   quarter and an eighth, classes >= 20 HU apart are kept (a 6 mm lesion 40-55 HU
   from its organ, or a 10 mm one on 5 mm slices, blurred, has classes closer than
   its contrast). Each band is a candidate: the component connected to the seed
   within the band, clamped to a star shape (each direction at most 1.3 x the
   radius, in that direction, of the ellipsoid fitted to the chords through the centre,
   each chord as long as its shorter half, so that a vessel or the chest wall on one
   side does not stretch it, and at least the median edge distance; 2 x for a click on
   a mass in soft tissue, where an elongated or lobulated lesion would lose its poles
   and leaks are broad contacts for step 4, not the lung's vessels; a sphere of the
   median had cut the poles of oval nodules, 24 x 12 mm: -19 to -29%), cast again from
   the region's deepest point near the click (in soft tissue, of the region with the
   holes noise leaves in it filled, those within a 2 mm ball: on an oval mass's flat
   ridge they decided where the distance map peaked, and the point moved towards an
   end: -21% on an 8 cm mass; at least one slice away may be reached;
   with the tight clamp, on thick slices, moved to the slice nearest the middle of the
   lesion's extent across the slices, and along an oval lesion's long axis to its
   middle: the distance map's ridge there is flat). The
   candidate with the strongest mean in-plane gradient on its boundary wins
   (in-plane: across thick slices a partial-volume step would look like an edge);
   of those within 10% of the strongest, the one holding most (a blurred edge's
   gradient is flat about its half-way point, where a band a little tighter,
   cutting inside the lesion, may score a hair higher: a 7.8 mm nodule came out
   6.3 mm). A click in soft tissue on a lesion inside a small organ (a kidney, a thyroid
   lobe: bounded within the rays' reach, its edge with fat the sharper) gets the lesion:
   a candidate inside the winner, at most 1/8 of its size, edged at least 0.3 x as
   strongly, whose median lies within 3 of its robust SDs (at least 8 HU) of the seed's
   while the winner's lies 2 of them or more from it (the organ is another tissue than
   the one clicked; 3 had kept the kidney around a 12 mm cyst clicked off-centre on 5 mm
   slices, whose part, holding its blurred rim, has a wide SD: +846%, now +28%), or 3 for
   a part edged more sharply than the winner (a focus in a mass, below), and of at least
   a 5 mm lesion's volume (a blob of noise in a sarcoma is none);
   when no band inside such a winner is the lesion (a 30 mm cyst clicked at its centre:
   the rays' near samples are all cyst, the far ones too close to it to split), the
   low-contrast candidates (below) are offered as parts. A click on a part that differs
   inside a mass (an enhancing focus, a vessel through it: its own edge is the sharper)
   gets the mass: a candidate at least 8 x larger, with an edge within reach at least
   half as strong, that holds the winner and the ring around it, and whose HU span the
   clicked tissue's (within 5 of its robust SDs: a heterogeneous mass does, an organ
   around a lesion does not). A darker core at the centre of a bounded mass looks the
   same as a cyst in a kidney: a click on it may get the core (README; the drawn diameter
   gets the mass). A candidate whose rays find no edge counts as a leak, and so does a
   band whose seed side reaches down into aerated lung and whose region holds it (that
   is the lung; a lesion darker than its organ has a band open below too); with a
   drawn line, the candidate whose chord matches the drawn length wins (the chord between
   voxel centres, as the line is drawn, and measured after the cut at the pleural line of
   step 5: a line on a nodule on the wall runs towards it). With a drawn box, the
   candidate whose extent fits the box: the gap between its outer faces and the box's
   sides, and its area outside the box (a vessel's stubs little, a leak much), each
   beyond a reader's margin, are its mismatch; the candidates within that margin compete
   by edge, as a click's do (a box drawn loose would favour a leak filling it). Every
   candidate is then kept within the box (on every slice, for a box drawn on one). A
   click is refused when the winner's bound lies within 0.3 robust SDs of the seed's
   median: that boundary runs through the clicked tissue itself, as in a mass
   without contrast; unless the region stands out from the ring around it by 2
   robust SDs (a 6 mm lesion clicked off-centre has half its organ in the seed's
   ball, which pulls the median to the bound). A click's lesion in soft tissue is
   refused too when its median lies within 2 noise SDs of that of the tissue 1.5-5 mm
   around it: a blob of noise cut out of a mass without contrast by a bound 1-2 SDs
   from the click (such blobs: 1.4 at most; the faintest lesions, low-contrast thyroid
   masses, 3.7). When every band leaks, or the best
   one finds its edge only far out (past 3/4 of the rays' reach) along most rays
   (a lesion that differs little from its surroundings, such as a thyroid mass
   between muscle and gland, or a hypodense pancreatic lesion), a low-contrast
   candidate competes; with a drawn line, when the best one's chord misses the drawn
   length by over 30%, or its edge lies further from its centre than 3/4 of that length
   along most rays (it runs on where nothing was drawn: a line across a thyroid mass
   beside the trachea, its chord 15% long, had the neck's muscles, +104%). A scout
   pass on the image smoothed more (1.5 mm, so the noise SD falls about threefold) stops
   each ray where the HU leave the seed's median +- 3 SDs (the SD counted as at least 8
   HU; when the seed's is below that, a tight candidate, at least 3 HU, competes too: a
   lesion 20 HU from its organ lies within +- 24 HU of it; it is cast again from its
   deepest point, as a band is, and the larger cast kept: on 5 mm slices that point
   wanders over a flat top of the distance map. When the tight band leaks too (a click
   off the centre of a 10 mm faint lesion has the organ in its ball, and the lesion's
   core beyond its median), a half-way band runs from half-way between the seed's median
   and the organ's (the rays' outer half) to well past the seed's, then again from the
   median it found);
   a candidate whose edge lies past 3/4 of the rays' reach along most rays yields to
   one as well edged (within 10%) nearer (the organ around a faint lesion). The
   lesion's median and SD are then measured over the whole scout, and when that
   band stays clear of what surrounds the scout (by 4 SDs) the pass is repeated on
   the lightly smoothed image (finer edges, a textured lesion's real spread).
   Last, the ring of voxels around it that are nearer the lesion's HU than what
   lies beyond them is added (the band stops short of a blurred edge's half-way
   point). It replaces the band when its edge is stronger (drawn: when it fits what
   was drawn better). A seed of ground-glass density (-780 to
   -450 HU) also gets a ground-glass candidate: lung shows through such a lesion,
   so no band around its median holds it; on the image smoothed 2 mm its edge lies
   0.4 of the way from the lung's HU (the rays' lowest decile) to the lesion's, and
   the band ends at -300 HU: solid tissue touching it is the chest wall (its
   vessels and a solid part inside it are holes, filled in step 5). It is cast from
   the click and again from its deepest point, and the larger is kept (from an
   off-centre click alone the far side is clamped). The lesion's HU is first the
   seed's median, then the median of what the band found (holes filled), and the
   band is cast again until that moves less than 2 HU (at most 8 times): a click on
   a denser part (-570 HU on a -680 HU lesion) had set the edge 45 HU higher, and
   cut the faint rim (-18%). A click in lung (not a drawn prompt) has this candidate
   compete with the bands, as well edged as theirs: a band cut between the lesion's
   denser part and its faint rim, well edged too, had won (-43%, -49%).
   **Lymph nodes** (``nodal=True``) stand in fat: a band holding fat is not
   the node, the band ends 75 HU above the node's core (its enhancing rim is
   in, the vessel beside it is out), thin dark lines in a slice (a blurred
   fat plane between the node and the muscle beside it, >= 40 HU below its
   neighbours even where it stays above the band) are cut out, and the node
   is followed slice by slice away from the click only while its outline is
   a real edge (with thick slices the slice beyond a pole is often muscle of
   the node's HU); where it widens away from a click near a pole, a slice may
   widen by a slice's thickness in-plane, when that outline is an edge.
   **A frayed edge**: when the winning band's bound lies within one robust SD of the
   median of the tissue around its region (outside lung), that tissue's noise crosses
   the bound and frays the outline; the region is then cut half-way between its own
   median and that tissue's (a 21 mm pancreatic lesion of 18 HU, 52 HU around it: its
   44 HU band won by edge, +24%, now +16%; MIRP STS_002's clicks +8.3% -> +5.7%).
   Not when the tissue around is several (its spread 1.5 x the region's: fat, trachea
   and muscle around a thyroid mass).
4. **Separation from attached structures**: a morphological opening with a
   ball of a quarter of the lesion's radius (0.7-4.5 mm; the radius from the
   distance map of the region with its holes filled) cuts thin
   attachments such as vessels and pleural tags; then a watershed on the
   distance map (markers: its h-maxima, h a fifth of the lesion's radius;
   equal tops of one dome share a marker)
   splits the lesion from broad contacts such as the chest wall, a
   neighbouring node or an organ. The basin holding the click is the lesion.
   For a node the opening keeps only the eroded core's piece holding the
   click (a blurred fat plane leaves contacts two pixels wide, which a plain
   opening dilates back across), and at least one pixel is eroded.
   A reader's correction clicks: an outside (negative) click splits the lesion
   between it and the seeds, each voxel going to the side it is nearer along paths
   within the lesion, where a millimetre across an edge costs more (scikit-image's
   minimum-cost paths; the lesion's deepest point, on the seeds' side, is a seed too),
   less each click's depth in the lesion: a click takes the ball it sits in and what
   lies beyond it (a rim, a leak), not half the way to the lesion's middle.
   An inside (positive) click is a seed in the band found without it (grown as a
   seed in every candidate band, it could let a wider band win): the band's region
   around it, as far as the clamp reaches from the centre, is added (a part the
   clamp or a cut had left out), and the box grows to hold it; a click the lesion
   still does not hold (outside the band, or not joined to the region) is refused
   with its point named.
5. **Clean-up**: one in-plane voxel of what the opening shaved off is given
   back (partial volume; more would regrow the vessel stubs), holes are
   filled, and the one connected component holding the seed is kept. A
   nodule in lung that lies on the pleura (the chest wall, the mediastinum or
   the diaphragm: one tissue with it in its band) is cut at the pleural line:
   a plane fitted to the surface, facing the lung, of the tissue around it
   (within its radius, and at least the slices next to it), when those points
   lie on one all around the nodule's foot; the surface's own voxels go with
   the wall. A lung nodule loses its vessels' stubs: its thin parts (what a ball
   of 0.55 x its radius, 1-2.5 mm, does not fit; a disk in each slice on thick
   slices) from which its band runs on past 0.6 x its radius (a 3 mm vessel holds
   the opening's ball, and kept stubs out to the star clamp: +29% on a 10 mm
   nodule); not in a box, which bounds them, and with a drawn line only when they
   make it over 10% longer than drawn. A lung nodule (not from a drawn line: its
   reader left them out; in a box, those within it) then gets its spicules back:
   branches in its band, grown from it one voxel at a time, that end within 0.6
   x its radius (a vessel runs on), are >= 4 voxels long and hold under a tenth
   of it. A drawn lesion that the image gives no edge to (the low-contrast
   candidate won, and the gradient on its outline is under twice its texture's)
   and that runs on past 1.2 x the line (or the ellipse inscribed in the box drawn
   around it) is kept, on every slice, within the circle the line spans (that
   ellipse): the drawing is the only evidence of its extent, and its long axis is
   then the reader's (``bounded_by_line_voxels`` or ``bounded_by_box_voxels`` in the
   details, ``Segmentation.bounded_by``; the batch flags it).
6. **A click, again from the lesion's centre**: a click whose lesion's deepest point
   lies 1 mm or more from it is segmented once more, steps 1-5, from that point, and
   the result kept when it holds the click and is the same kind of candidate (a band's
   region, or a low-contrast one); else, or when refused from there, the click's
   stands (a hypodense 21 mm pancreatic lesion of the sample cohort, clicked at its
   centre, came out +8% as a low-contrast lesion; from its deepest point, 2 mm away, a
   band open below into the fat won, +24%). Nor is it kept when it is 8 x the click's
   or larger: a structure around the lesion won from its centre (a 20 mm cyst 35 HU
   below the kidney: from its centre every ray's near samples are the cyst's, they give
   it no band of its own, and the kidney came back, +453%). ``recentred_mm`` and
   ``cast_from_lps`` in the details. Correction clicks correct that result: they are
   applied with the prompt's point moved there.
   Every click in a lesion's inner half then starts from nearly one point, with
   nearly one seed median and one set of rays: the clicks of MIRP STS_002 (15 in
   its inner half) gave +6.7..+13.2%, six beyond 10%, and now +7.1..+8.5%; those of
   the pyradiomics lung nodule -5.8..+4.2%, now all +4.2%. Not for a ground-glass
   lesion: its deepest point lies in its densest part (LIDC-0002's clicks from there:
   -5 to -17%; with the lesion's HU measured again over its region, their spread 10%
   against 9.5% from the clicks).

Where each step lives: this module holds the prompt's handling (steps 1, 2 and 6) and
the choice among the candidates (step 3); ``rays`` the rays, their bands, edges and the
star clamp; ``cast`` a band's region, cast again from its deepest point, and the frayed
edge's trim; ``low_contrast`` the low-contrast and ground-glass candidates; ``drawn`` how
a line or a box scores candidates and bounds an edgeless lesion; ``separate`` steps 4
and 5; ``corrections`` the outside clicks' split; ``refusals`` when a prompt is refused
and the messages; ``voxels`` the voxel work they share.

SimpleITK, SciPy and scikit-image do the image work; no voxel loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import ndimage

from ..errors import PromptError
from ..geometry import Geometry
from ..measure import LesionMeasurement, measure_mask
from ..volume import Volume
from .cast import _cast, _trim_fringe
from .drawn import LINE_RADIUS_MAX, _bound_by_drawn, _cannot_win, _drawn_score, _in_box
from .low_contrast import GROUND_GLASS_HU, _deviation_candidates, _ground_glass_candidate
from .prompts import BoxPrompt, DrawnPrompt, LinePrompt, PointPrompt, Prompt
from .rays import (
    LEAK_SUSPECT,
    STAR_FACTOR,
    _candidate_bands,
    _edge_strength,
    _inplane_gradient,
    _rays,
)
from .refusals import (
    SEED_SPLIT,
    _click_left_out,
    _faint,
    _mm,
    _not_separable,
    _stands_out,
    _tissue_runs_on,
    _typical,
)
from .separate import _cut_at_wall, _may_touch_wall, _nodule_outline, _separate
from .voxels import (
    AIR_HU,
    FAT_HU,
    SPREAD_FLOOR_HU,
    _component,
    _crop,
    _fill_holes,
    _index,
    _ring,
    _robust,
    _sds_from,
    _seed_stats,
    _sides_reached,
    _spacing_np,
    _touches_border,
)

__all__ = ["AIR_HU", "Segmentation", "segment"]

MAX_ROI_HALF_MM = 120.0
RECENTRE_MIN_MM = 1.0  # a click this near the lesion's deepest point is not cast again
EDGE_TIE = 0.9  # candidates' edges within this ratio are as strong: the larger wins
NODE_ABOVE_HU = 75.0  # a node's enhancing rim lies within this above its core; vessels not
STAR_FACTOR_SOFT = 2.0  # the star clamp's factor (STAR_FACTOR) for a mass in soft tissue
CLICK_REACH = 8 / 7  # a click's rays reach this times the ROI's half-size (40 mm at first)
CONTAINER_SIZE = 8  # a candidate this many times the winner's size, around it,
CONTAINER_EDGE = 0.5  # edged at least this x as strongly, is the mass the winner is part of
CONTAINER_HOLDS = 0.9  # when it holds this share of the winner and of the ring around it
CONTAINER_LIKE = 5.0  # and the clicked tissue lies within this many of its robust SDs: a
# heterogeneous mass spans its focus (STS_003: 3.1-3.4), an organ not its lesion (13.8)
PART_EDGE = 0.3  # a part of the winner, edged at least this x as strongly, made of the
PART_UNLIKE = 3.0  # clicked tissue (the seed's median within this many of its robust SDs),
PART_APART = 2.0  # is the lesion when the winner's median lies this many of them from the
# seed's (a lesion in an organ: the organ's edge with fat is the sharper). PART_UNLIKE for a
# part edged more sharply than the winner (a focus in a mass: STS_003's, 2.4-2.9 of its
# SDs from the mass, is no lesion of its own); PART_APART for one edged less sharply: on 5 mm
# slices a small lesion's part holds its blurred rim, whose SD is wide (a 12 mm cyst 35 HU
# below the kidney: 11.5 HU, the kidney 26.6 HU from the seed, kept: +846%)
PART_MIN_MM3 = 65.0  # a part is at least a 5 mm lesion (a sphere's volume): less is noise


@dataclass(frozen=True)
class Segmentation:
    """A lesion mask on a sub-grid of the image, its measurement and how it was made."""

    mask: Volume
    """uint8 mask (1 = lesion) on the region of interest (a sub-grid of the image)."""
    measurement: LesionMeasurement
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def bounded_by(self) -> str | None:
        """"line" or "box" when the image gave the drawn lesion no edge and the drawing
        bounds it (its extent is then the reader's), else None."""
        return next((kind for kind in ("line", "box")
                     if self.details.get(f"bounded_by_{kind}_voxels", 0) > 0), None)

    @property
    def centre_lps(self) -> np.ndarray:
        """Centre of mass of the lesion (LPS mm)."""
        k, j, i = np.nonzero(self.mask.array)
        return self.mask.geometry.index_to_lps(np.array([i.mean(), j.mean(), k.mean()]))

    @property
    def deepest_lps(self) -> np.ndarray:
        """The lesion's deepest point (largest distance to its edge, in mm; the first in
        array order of equal ones), LPS mm."""
        dist = ndimage.distance_transform_edt(self.mask.array,
                                              sampling=_spacing_np(self.mask.geometry))
        k, j, i = np.unravel_index(int(np.argmax(dist)), dist.shape)
        return self.mask.geometry.index_to_lps(np.array([i, j, k], dtype=float))

    def holds(self, point) -> bool:
        """Whether the lesion holds the voxel nearest the LPS ``point``."""
        index = _index(self.mask.geometry, point)
        shape = np.asarray(self.mask.array.shape)
        return bool(np.all((index >= 0) & (index < shape)) and self.mask.array[tuple(index)])

    def full_mask(self, geometry: Geometry) -> np.ndarray:
        """The mask pasted into the whole image grid (array [k, j, i])."""
        out = np.zeros(tuple(reversed(geometry.size)), dtype=np.uint8)
        start = np.rint(geometry.lps_to_index(self.mask.geometry.origin)).astype(int)
        i0, j0, k0 = start
        k, j, i = self.mask.array.shape
        out[k0:k0 + k, j0:j0 + j, i0:i0 + i] = self.mask.array
        return out


def _grow(image: np.ndarray, g: Geometry, seeds: list[np.ndarray], median: float,
          spread: float, prompt: Prompt, roi_half_mm: float, nodal: bool = False,
          kept: tuple[tuple[float, float], np.ndarray, bool] | None = None
          ) -> tuple[np.ndarray, dict[str, Any]]:
    """Lesion band from rays, grown region, star-shaped clamp; the best-edged candidate.
    A click's rays reach a little past the ROI's half-size (40 mm in the first ROI).
    ``kept``: the lesion's band, centre (LPS) and whether it lies in lung, found in a
    smaller ROI that the lesion outgrew; all are kept (in a larger box the rays meet the
    organ around the lesion, whose boundary with fat, far sharper, would win over the
    lesion's own; the rays start from the lesion's centre, not from the click again; and
    they may reach the air outside the body, which is not lung: a mass in a limb taken
    for a nodule had the lung's tighter clamp, -12.5%). The winner's info holds its
    ``centre`` and ``in_lung``."""
    expected = prompt.expected_diameter_mm
    reach = 1.6 * expected if expected else CLICK_REACH * roi_half_mm
    gradient = _inplane_gradient(image, g)
    start = kept[1] if kept else np.asarray(prompt.point, dtype=float)
    rays = t, profiles = _rays(image, g, start, reach)
    candidates: list[tuple[float, np.ndarray, dict[str, Any]]] = []
    inner: list[tuple[np.ndarray, dict[str, float]]] | None = None  # low-contrast, once cast
    bands = [kept[0]] if kept else _candidate_bands(t, profiles, median)
    if nodal:  # a node stands in fat (a band holding fat is not the node), and what is
        # far brighter than its core is a vessel
        bands = [(lo, min(hi, median + NODE_ABOVE_HU)) for lo, hi in bands
                 if lo >= FAT_HU + 40.0] or [(FAT_HU + 60.0, median + NODE_ABOVE_HU)]
    # a mass in soft tissue (no aerated lung around it; no drawn length to bound it; not a
    # node) may be elongated or lobulated: leaks there are broad contacts, which the
    # watershed splits, not the lung's vessels
    in_lung = kept[2] if kept else float(np.nanpercentile(profiles, 10)) < AIR_HU
    drawn = isinstance(prompt, DrawnPrompt)
    star = STAR_FACTOR if in_lung or nodal or drawn else STAR_FACTOR_SOFT
    box = _in_box(image.shape, g, prompt)
    own = rays
    for band in bands:  # a later band's first edge distances come from the rays cast at
        # the previous band's deepest point (within the lesion), clamped around the start;
        # in soft tissue, from the start's own when that point lies outside this band (an
        # organ's deepest point off the lesion inside it: every ray left the lesion's band
        # at once). Not in lung: LIDC-0002's box, Dice 0.73 -> 0.60
        if not in_lung and not band[0] <= rays[1][0, 0] <= band[1]:
            rays = own
        wall_voxels = 0
        region, r_med, cast_from, rays = _cast(image, g, seeds, band, start, rays, reach,
                                               expected, nodal, star)
        if region.sum() < 3:
            score = -np.inf
        elif band[0] < AIR_HU < median and np.mean(image[region] < AIR_HU) > 0.05:
            # the seed's side of the split holds aerated lung: the lung itself (the seed is
            # ground glass). Not a lesion darker than its organ: its band is open below too.
            # Drawn, scored below any mismatch within the drawn length of it
            score = -1.0 - r_med / reach - (expected if drawn else 0)
        elif drawn:  # the drawn length or box is the best evidence
            if (_may_touch_wall(in_lung, band, nodal)  # measured to the pleural line
                    and not _cannot_win(region, g, prompt, [c[0] for c in candidates])):
                region, wall_voxels = _cut_at_wall(region, image >= band[0], g, seeds,
                                                   expected / 2)
            score = _drawn_score(region, g, prompt, gradient, box)
        elif r_med >= 0.9 * reach:  # no edge within reach along most rays: a leak
            score = -1.0 - r_med / reach  # if every candidate leaks, the tightest wins
        else:
            score = _edge_strength(region, gradient)
        info = {"band_low_hu": max(band[0], -2000.0), "band_high_hu": min(band[1], 5000.0),
                "radius_median_mm": r_med, "edge_strength_hu_per_mm": score,
                "centre": cast_from, "in_lung": float(in_lung), "wall_voxels": wall_voxels}
        if box is not None:  # scored as grown (a leak fills the box), kept within it
            region = _component(region & box, seeds)
        candidates.append((score, region, info))
    ground_glass = not nodal and GROUND_GLASS_HU[0] < median < GROUND_GLASS_HU[1]
    competes = ground_glass and in_lung and not drawn and kept is None  # with the bands
    glass = (_ground_glass_candidate(image, g, seeds, prompt, reach, gradient) if competes
             else None)
    if glass is not None:
        candidates.append((glass[1]["edge_strength_hu_per_mm"], glass[0],
                           {**glass[1], "in_lung": 1.0, "wall_voxels": 0}))
    best = max(candidates, key=lambda c: c[0])
    if best[0] > 0:  # edges about as strong (a line's scores, chord errors, are <= 0; a
        # box's are edges within its margin): the larger (a band a little tighter than a
        # blurred edge's half-way point scores as high)
        best = max((c for c in candidates if c[0] >= EDGE_TIE * best[0]),
                   key=lambda c: c[1].sum())
        if not (drawn or nodal or in_lung):
            least = int(np.ceil(PART_MIN_MM3 / float(np.prod(g.spacing))))
            part = _clicked_part(best, candidates, image, median, least)
            if part is best and _sds_from(best[1], image, median) >= PART_UNLIKE:  # and no
                # band of the lesion's own among the candidates (a 30 mm cyst in the kidney
                # clicked at its centre: the rays' near samples are all cyst, the far ones
                # 35 HU from it, under SPLIT_MIN_HU): the low-contrast candidates may be it
                inner = _deviation_candidates(image, g, seeds, prompt, reach, gradient, nodal)
                part = _clicked_part(best, [(f[1]["edge_strength_hu_per_mm"], *f)
                                            for f in inner], image, median, least)
            best = part if part is not best else _container(best, candidates, reach,
                                                            image, median)
    if drawn:
        leaked = (-best[0] > 0.3 * expected  # far from what was drawn
                  or best[2]["radius_median_mm"] > LINE_RADIUS_MAX * expected)
    else:  # every band leaks, or the best one finds its edge only far out along most rays
        leaked = best[0] < 0 or best[2]["radius_median_mm"] >= LEAK_SUSPECT * reach
    if leaked:  # the lesion may differ little from its surroundings
        fallbacks = list(inner) if inner is not None else _deviation_candidates(
            image, g, seeds, prompt, reach, gradient, nodal)
        if ground_glass:
            fallbacks.append(glass if competes else _ground_glass_candidate(
                image, g, seeds, prompt, reach, gradient))
        scored = [(_drawn_score(f[0], g, prompt, gradient, box) if drawn
                   else f[1]["edge_strength_hu_per_mm"], f) for f in fallbacks if f is not None]
        if scored:
            score, fallback = max(scored, key=lambda c: c[0])
            if not drawn and score > 0:  # one found only far out along most rays (the
                # organ around a faint lesion) yields to one about as well edged nearer
                near = [c for c in scored if c[0] >= EDGE_TIE * score
                        and c[1][1]["radius_median_mm"] < LEAK_SUSPECT * reach]
                if near and fallback[1]["radius_median_mm"] >= LEAK_SUSPECT * reach:
                    score, fallback = max(near, key=lambda c: c[0])
            if best[0] < 0 <= score or score > best[0]:
                region = fallback[0] if box is None else _component(fallback[0] & box, seeds)
                best = (score, region, fallback[1])
    return best[1], {**best[2], "in_lung": float(in_lung)}


def _container(best: tuple[float, np.ndarray, dict[str, Any]],
               candidates: list[tuple[float, np.ndarray, dict[str, Any]]], reach: float,
               image: np.ndarray, median: float) -> tuple[float, np.ndarray, dict[str, Any]]:
    """The mass around a part of it that was clicked: a part that differs inside a mass in
    soft tissue (an enhancing focus, a vessel through it) has an edge of its own, often
    sharper than the mass's with what surrounds it, and won (two of MIRP STS_003's 15
    further clicks: a 17 mm focus, -66 and -68%). A candidate at least CONTAINER_SIZE x
    larger, with an edge of its own within reach (not an organ running past the rays)
    at least CONTAINER_EDGE x as strong, that holds the winner and the ring around it
    (its holes filled) is the lesion, when its HU span the clicked tissue's (the seed's
    median within CONTAINER_LIKE of its robust SDs, at least SPREAD_FLOOR_HU): a
    heterogeneous mass does, an organ around a lesion does not (a 12 mm cyst in the
    kidney on 5 mm slices, its edge the sharper, came back as the kidney, +649%). Not in
    lung (the lung around a nodule is no lesion) nor for a node or a drawn prompt (the
    reader chose its extent)."""
    ring = _ring(best[1])
    size = int(best[1].sum())
    for score, region, info in sorted(candidates, key=lambda c: -int(c[1].sum())):
        if (score < CONTAINER_EDGE * best[0] or region.sum() < CONTAINER_SIZE * size
                or info["radius_median_mm"] >= LEAK_SUSPECT * reach):
            continue
        filled = _fill_holes(region)
        if filled[best[1]].mean() < CONTAINER_HOLDS or filled[ring].mean() < CONTAINER_HOLDS:
            continue
        if _sds_from(region, image, median) <= CONTAINER_LIKE:
            return score, region, info
    return best


def _clicked_part(best: tuple[float, np.ndarray, dict[str, Any]],
                  candidates: list[tuple[float, np.ndarray, dict[str, Any]]],
                  image: np.ndarray, median: float, min_voxels: int
                  ) -> tuple[float, np.ndarray, dict[str, Any]]:
    """The lesion inside an organ that won around it: a 20 mm cyst in a kidney, a 12 mm
    nodule in a thyroid lobe. The organ's edge with the fat around it is sharper than the
    lesion's with the organ, and the organ, bounded within the rays' reach, won (+215 to
    +850%). A candidate inside the winner (which, holes filled, holds CONTAINER_HOLDS of
    it and of the ring around it; at most 1/CONTAINER_SIZE of its size), made of the
    clicked tissue (its median within PART_UNLIKE of its robust SDs, at least
    SPREAD_FLOOR_HU, of the seed's) while the winner's median lies PART_APART of them or
    more from the seed's (PART_UNLIKE when the part is edged more sharply than the
    winner), edged at least PART_EDGE x as strongly and of ``min_voxels`` or more
    (PART_MIN_MM3), is the lesion: the best-edged such. (The SDs are the part's: the
    winner's are widened by the part it holds.) The reverse of :func:`_container`, which
    applies when the part's edge is the sharper: an enhancing focus in a sarcoma. Offered
    the bands' candidates, then, when none is such a part and the winner is another tissue
    than the one clicked, the low-contrast candidates (a 30 mm cyst clicked at its centre
    has no band of its own)."""
    size = int(best[1].sum())
    small = [c for c in candidates if c[0] >= PART_EDGE * best[0]
             and min_voxels <= int(c[1].sum()) <= size / CONTAINER_SIZE]
    if not small:
        return best
    around = float(np.median(image[best[1]]))
    filled = _fill_holes(best[1])
    parts = []
    for candidate in small:
        region = candidate[1]
        if (filled[region].mean() < CONTAINER_HOLDS
                or filled[_ring(region)].mean() < CONTAINER_HOLDS):
            continue
        centre, spread = _robust(image[region])
        sd = max(spread, SPREAD_FLOOR_HU)
        apart = PART_APART if candidate[0] < best[0] else PART_UNLIKE
        if abs(median - centre) < PART_UNLIKE * sd and abs(median - around) >= apart * sd:
            parts.append(candidate)
    return max(parts, key=lambda c: c[0]) if parts else best


def _band_without_clicks(image: np.ndarray, g: Geometry, seeds: list[np.ndarray],
                         median: float, spread: float, prompt: Prompt, half: float,
                         nodal: bool) -> tuple[tuple[float, float], np.ndarray, bool] | None:
    """The band and lung flag the prompt finds without its inside clicks, kept when they
    are added (the rays start from the prompt's point as before): a click is a seed in
    the lesion's band, not a vote on it (a thigh sarcoma's inside click, grown as a seed
    in every candidate band, let the band of the whole limb against air win, and the
    result ran out of the field of view). None for a ground-glass winner (its band is
    for the image smoothed more)."""
    _, info = _grow(image, g, seeds[:1], median, spread, prompt, half, nodal)
    if "ground_glass" in info:
        return None
    return ((info["band_low_hu"], info["band_high_hu"]), np.asarray(prompt.point, dtype=float),
            bool(info["in_lung"]))


def segment(volume: Volume, prompt: Prompt, *, nodal: bool = False,
            roi_half_mm: float | None = None) -> Segmentation:
    """Segment the one lesion the prompt points at, and measure it.

    A click is segmented again from the deepest point of what it found (step 6 of the
    module's method). Raises :class:`PromptError` for a prompt outside the image, in
    air, or where no lesion can be separated from its surroundings.
    """
    if isinstance(prompt, PointPrompt) and (prompt.positive or prompt.negative):
        # the correction clicks correct the lesion the click gave: cast from where it was
        try:
            plain = segment(volume, PointPrompt(prompt.point), nodal=nodal,
                            roi_half_mm=roi_half_mm)
        except PromptError:  # the clicks may make a lesion of what the click alone did not
            plain = None
        if plain is not None and "cast_from_lps" in plain.details:
            prompt = replace(prompt, point=tuple(plain.details["cast_from_lps"]))
        return _segment(volume, prompt, nodal=nodal, roi_half_mm=roi_half_mm)
    first = _segment(volume, prompt, nodal=nodal, roi_half_mm=roi_half_mm)
    if not isinstance(prompt, PointPrompt) or "ground_glass" in first.details:
        return first
    deepest = first.deepest_lps
    moved = float(np.linalg.norm(deepest - np.asarray(prompt.point, dtype=float)))
    if moved < RECENTRE_MIN_MM:
        return first
    try:
        again = _segment(volume, PointPrompt(tuple(deepest)), nodal=nodal,
                         roi_half_mm=roi_half_mm)
    except PromptError:  # what the click found stands
        return first
    if not again.holds(prompt.point):  # another structure's centre: the click's stands
        return first
    if ("low_contrast" in again.details) != ("low_contrast" in first.details):
        return first  # seen from there, the lesion is another kind: the click's stands
    if again.mask.array.sum() >= CONTAINER_SIZE * first.mask.array.sum():  # from its
        # centre, a structure around it won: the organ around a cyst whose own band the
        # centre's rays, all within the cyst, no longer find (the click's stands)
        return first
    return Segmentation(again.mask, again.measurement,
                        {**again.details, "recentred_mm": round(moved, 2),
                         "cast_from_lps": [float(v) for v in deepest]})


def _segment(volume: Volume, prompt: Prompt, *, nodal: bool,
             roi_half_mm: float | None) -> Segmentation:
    """Steps 1-5 of the module's method, from the prompt as given."""
    g = volume.geometry
    points = [prompt.point, *prompt.positive, *prompt.negative]
    if isinstance(prompt, LinePrompt):
        points += [prompt.start, prompt.end]
    elif isinstance(prompt, BoxPrompt):
        points += [prompt.corner_a, prompt.corner_b]
    for p in points:
        if not g.contains_lps(p):
            lo = g.index_to_lps([0, 0, 0])
            hi = g.index_to_lps(np.asarray(g.size) - 1)
            raise PromptError(
                f"point {_mm(p)} mm is outside the image "
                f"(extent {np.round(np.minimum(lo, hi), 1).tolist()} to "
                f"{np.round(np.maximum(lo, hi), 1).tolist()} mm LPS)"
            )
    expected = prompt.expected_diameter_mm
    half = roi_half_mm or (max(1.2 * expected, 15.0) if expected else 35.0)
    centre = _index(g, prompt.point)
    for p in prompt.positive:  # the box holds every inside click (5 mm around it)
        away = float(np.max(np.abs(_index(g, p) - centre) * _spacing_np(g)))
        if away + 5.0 > MAX_ROI_HALF_MM:
            raise PromptError(
                f"inside click {_mm(p)} mm lies {away:.0f} mm from the prompt's point "
                f"{_mm(prompt.point)} mm: farther than a lesion may reach "
                f"({MAX_ROI_HALF_MM:.0f} mm)")
        half = max(half, away + 5.0)
    kept = None
    refused = None  # the first box's refusal, when a larger box is tried for a large lesion
    while True:
        image, sub, lo = _crop(volume, centre, half)
        # a larger box is of no use once this one holds the whole image
        last = half >= MAX_ROI_HALF_MM or image.shape == volume.array.shape
        smooth = ndimage.gaussian_filter(image.astype(np.float32),
                                         sigma=np.minimum(0.6 / _spacing_np(g), 1.0))
        median, spread = _seed_stats(smooth, sub, prompt)
        if median < AIR_HU:
            raise PromptError(
                f"point {_mm(prompt.point)} mm lies in air or aerated "
                f"lung (median {median:.0f} HU around it): no lesion there"
            )
        seeds = [_index(sub, p) for p in prompt.seeds]
        negatives = [_index(sub, p) for p in prompt.negative]
        given = kept
        if prompt.positive and given is None:  # in this box, as without the clicks
            given = _band_without_clicks(smooth, sub, seeds, median, spread, prompt, half,
                                         nodal)
        region, grow_info = _grow(smooth, sub, seeds, median, spread, prompt, half, nodal,
                                  given)
        ray_centre = grow_info.pop("centre", None)
        wall_voxels = int(grow_info.pop("wall_voxels", 0))  # a line's, cut before it is scored
        low, high = grow_info["band_low_hu"], grow_info["band_high_hu"]
        plain = not {"low_contrast", "ground_glass"} & grow_info.keys()  # a band's region
        if plain and not grow_info["in_lung"]:  # in lung the ring is lung, far off
            region, trimmed = _trim_fringe(region, smooth, seeds, low, high)
            if trimmed:
                grow_info["fringe_trimmed_voxels"] = trimmed
        bound = low if median - low <= high - median else high
        refusal = None
        if region.sum() < 3:
            refusal = f" (median {median:.0f} HU, nothing similar around the point)"
        elif (abs(median - bound) < SEED_SPLIT * spread  # the boundary runs through the
              and not _stands_out(smooth, region)):  # seed, and the region is no lesion
            refusal = (f" (median {median:.0f} HU: the clearest boundary around it, at "
                       f"{bound:.0f} HU, splits the tissue at the point itself)")
        if refusal is None:
            lesion, sep = _separate(region, smooth, sub, seeds, negatives, nodal)
            if not lesion.any():  # a region the opening erased, or one off the seeds
                refusal = (f" (median {median:.0f} HU: nothing around the point is left "
                           "once it is separated from what it touches)")
            elif not (nodal or isinstance(prompt, DrawnPrompt) or "ground_glass" in grow_info):
                refusal = _faint(smooth, sub, lesion)
        if refusal is not None:  # the rays may not have left a large lesion yet: one
            # larger box (60 mm), where a 12 cm lesion clicked at its centre has an edge
            if refused is None and not last and _tissue_runs_on(smooth, seeds, median, spread,
                                                                lo, volume.array.shape):
                refused = refusal
                half = min(half * 1.7, MAX_ROI_HALF_MM)
                continue
            raise _not_separable(prompt, refused or refusal)
        if last or not _touches_border(lesion, lo, volume.array.shape):
            break
        half = min(half * 1.7, MAX_ROI_HALF_MM)  # the lesion outgrew its box: the same
        # band in a larger one, a low-contrast lesion's too (made afresh, an 8 cm mass in
        # muscle clicked near its end came out -30 to -33%: the fresh fallback's star
        # clamp stopped it short of the box); a ground-glass band is only for the image
        # smoothed more, and is made afresh
        kept = (((low, high), ray_centre, bool(grow_info["in_lung"]))
                if "ground_glass" not in grow_info else None)
    if refused is not None and not _typical(smooth, lesion, median):  # the larger box
        # found what surrounds a faint lesion (a 10 mm liver lesion 20 HU brighter than
        # the liver, refused as faint, came back as the liver, +914%)
        raise _not_separable(prompt, refused)
    if isinstance(prompt, DrawnPrompt) and "low_contrast" in grow_info:
        kind = "line" if isinstance(prompt, LinePrompt) else "box"
        lesion, sep[f"bounded_by_{kind}_voxels"] = _bound_by_drawn(lesion, smooth, sub, prompt,
                                                                   seeds)
    if plain and _may_touch_wall(bool(grow_info.get("in_lung")), (low, high), nodal):
        lesion, cut = _cut_at_wall(lesion, smooth >= low, sub, seeds, sep["radius_estimate_mm"])
        sep["wall_voxels"] = wall_voxels + cut
    if not nodal and plain and AIR_HU < low < 2 * FAT_HU:  # its band's low end lies
        # between aerated lung and fat: a nodule in lung (not a lesion darker than its organ)
        lesion = _nodule_outline(lesion, (smooth >= low) & (smooth <= high), sub, prompt,
                                 seeds, negatives, sep)
    if prompt.positive:  # one lesion, holding the prompt's point and every inside click
        lesion = _component(lesion, seeds[:1]) if lesion[tuple(seeds[0])] else lesion
        for p, s in zip(prompt.positive, seeds[1:], strict=True):
            if not lesion[tuple(s)]:
                raise _click_left_out(p, prompt, float(smooth[tuple(s)]), low, high)
    sides = _sides_reached(lesion, lo, volume.array.shape)
    if any(not edge for _, edge in sides):
        raise _not_separable(prompt, refused or f": the region reaches {MAX_ROI_HALF_MM:.0f} "
                                                "mm from the point (it is not a bounded lesion)")
    if any(edge and axis > 0 for axis, edge in sides):  # in-plane: the field of view cuts it
        # (above and below, the scan's range may)
        raise _not_separable(prompt, refused or ": the region runs out of the image's field "
                                                "of view (it is not a bounded lesion, or not "
                                                "one that can be measured)")
    mask = Volume(lesion.astype(np.uint8), sub, volume.info)
    measurement = measure_mask(mask, nodal=nodal)
    details = {
        "method": "ray-cast HU band + star-shaped region growing + opening + watershed",
        "seed_median_hu": round(median, 1),
        "seed_spread_hu": round(spread, 1),

        "roi_half_mm": round(half, 1),
        **{k: round(v, 2) for k, v in grow_info.items()},
        **{k: round(v, 2) for k, v in sep.items()},
    }
    return Segmentation(mask, measurement, details)
