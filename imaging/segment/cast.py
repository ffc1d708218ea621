"""Step 3's casting (see ``region_grow``): a band's region grown from the seeds, clamped
to the star shape around the centre, and cast again from its deepest point (on thick
slices from the middle of its extent, along an oval lesion's long axis from its middle);
a node's blurred fat planes cut; and a frayed edge trimmed half-way between the lesion's
HU and that of the tissue around it."""

from __future__ import annotations

from functools import partial

import numpy as np
from scipy import ndimage
from skimage.morphology import remove_small_holes

from ..geometry import Geometry
from .prompts import Prompt
from .rays import (
    DIRECTIONS,
    ELONGATED,
    LEAK_SUSPECT,
    NEIGHBOURS,
    STAR_FACTOR,
    _edge_distances,
    _midway,
    _oval,
    _rays,
    _star,
)
from .voxels import (
    AIR_HU,
    _component,
    _deepest_near,
    _fill_holes,
    _index,
    _ring,
    _robust,
    _spacing_np,
)

NODE_PLANE_HU = 40.0  # depth of a blurred fat plane's valley between a node and muscle
FRINGE_GAP = 1.0  # a band bound this few robust SDs from the ring's median: a frayed edge
FRINGE_ONE_TISSUE = 1.5  # a ring spread this x wider than the region is several tissues
NOISE_HOLE_MM = 2.0  # a hole in a band's region no larger than a ball of this radius: noise


def _taper(region: np.ndarray, seeds: list[np.ndarray], inband: np.ndarray, grow: int
           ) -> np.ndarray:
    """A node slice by slice away from the seeds' slices: each slice kept only where
    the slice nearer the seeds has the node, and only while most of its outline is a
    real edge (next to tissue outside the band). With thick slices the slice beyond a
    node's pole is often muscle of the node's HU: its outline there is no edge. Where
    the node widens away from the click (a click near a pole), its slice within the
    nearer one's outline is cut inside the node, an outline of no edge too: then the
    slice may widen by up to ``grow`` voxels (a slice's thickness, in-plane), its pieces
    touching the nearer slice's, and is kept when that outline is an edge (a click near
    a node's pole had lost its larger half: Dice 0.43)."""
    ks = [int(s[0]) for s in seeds]
    out = region.copy()
    cross = ndimage.generate_binary_structure(2, 1)

    def edged(piece: np.ndarray, k: int) -> bool:
        outline = piece & ~ndimage.binary_erosion(piece, structure=cross)
        edge = outline & ndimage.binary_dilation(~inband[k], structure=cross)
        return not outline.any() or edge.sum() >= 0.5 * outline.sum()

    for ks_range, step in ((range(max(ks) + 1, region.shape[0]), -1),
                           (range(min(ks) - 1, -1, -1), 1)):
        stop = False
        for k in ks_range:
            if stop:
                out[k] = False
                continue
            nearer = out[k + step]
            piece = region[k] & nearer
            if not edged(piece, k):
                wider = region[k] & ndimage.binary_dilation(nearer, structure=cross,
                                                            iterations=grow)
                labels, _ = ndimage.label(wider, structure=cross)
                wider = np.isin(labels, np.setdiff1d(labels[nearer], [0]))
                stop = not (wider.any() and edged(wider, k))
                piece = wider if not stop else np.zeros_like(piece)
            out[k] = piece
    return out


def _fat_planes(image: np.ndarray) -> np.ndarray:
    """Thin dark lines in each slice: a blurred fat plane between a node and the muscle
    beside it, a valley >= NODE_PLANE_HU below its in-plane neighbours even where its HU
    stay above the band's low end (grey closing minus image). Isolated noise dips (pieces
    under three voxels) are not planes."""
    closed = ndimage.grey_closing(image, footprint=np.ones((1, 3, 3), bool))
    valley = (closed - image) >= NODE_PLANE_HU
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[1] = True
    labels, n = ndimage.label(valley, structure=in_plane)
    sizes = ndimage.sum_labels(valley, labels, np.arange(1, n + 1))
    return np.isin(labels, 1 + np.flatnonzero(sizes >= 3))


def _band_region(image: np.ndarray, g: Geometry, seeds: list[np.ndarray],
                 band: tuple[float, float], centre: np.ndarray, radii: np.ndarray,
                 r_med: float, nodal: bool, star: float = STAR_FACTOR, steady: bool = False,
                 oval: bool = True) -> np.ndarray:
    """The seeds' component within the band, clamped to a star shape around ``centre``
    (each direction at most ``star`` x the radius there of the ellipsoid fitted to the
    rays' chords, or with ``oval`` False x the median edge distance), tapered for a node.
    ``steady`` (no aerated lung around: a mass in soft tissue): each ray's edge distance
    is at least the median of its six neighbours'. In a band bound 1-2 noise SDs from
    the lesion, a ray stops early where noise leaves the band for a millimetre, and its
    cone beyond was cut out of the lesion, down to the centre: a mass 20 HU darker than
    muscle kept holes 4 mm from its centre, the watershed split it along them (-22%,
    -32%); the real sarcomas' 15 further clicks each had spread 37% (one -19%) and
    now 5%. In lung each ray keeps its own (raised there too, the ground-glass and
    5 mm-slice nodules' short axes grew from +19 to +24..34%)."""
    if steady:  # a ray stopped short by a noise blip is raised to its neighbours' median
        radii = np.maximum(radii, np.median(radii[NEIGHBOURS], axis=1))
    cap = star * (_oval(radii, r_med) if oval else r_med)
    limit = np.minimum(radii, cap) + 0.5 * float(max(g.spacing[:2]))
    inband = (image >= band[0]) & (image <= band[1])
    if nodal:
        inband &= ~_fat_planes(image)
    region = _component(inband, seeds)
    kept = _star(region, g, centre, limit)
    for extra in seeds[1:]:  # a reader's inside clicks: the band around each, as far as
        # the clamp reaches from the centre in any direction (a part it had cut off)
        kept |= _star(region, g, g.index_to_lps(extra[::-1].astype(float)),
                      np.full(len(limit), float(limit.max())))
    region = _component(region & kept, seeds)
    if nodal:
        grow = max(1, int(np.ceil(g.spacing[2] / min(g.spacing[:2]))))
        region = _component(_taper(region, seeds, inband, grow), seeds)
    return region


def _band_pass(image: np.ndarray, g: Geometry, seeds: list[np.ndarray], prompt: Prompt,
               reach: float, band: tuple[float, float], nodal: bool,
               rays: tuple[np.ndarray, np.ndarray] | None = None, larger: bool = False,
               oval: bool = True) -> tuple[np.ndarray, dict[str, float]] | None:
    """One fixed band cast from the prompt (``rays``: its profiles, when already cast)
    and again from the region's deepest point (``larger``: the larger of the two casts
    is kept): the band's region, or None when the rays find no edge within reach along
    most directions (a leak) or the region is empty."""
    start = np.asarray(prompt.point, dtype=float)
    rays = rays or _rays(image, g, start, reach)
    if np.median(_edge_distances(*rays, band)) >= 0.9 * reach:
        return None
    region, r_med, cast_from, _ = _cast(image, g, seeds, band, start, rays, reach,
                                        prompt.expected_diameter_mm, nodal, larger=larger,
                                        oval=oval)
    if region.sum() < 3:
        return None
    return region, {"band_low_hu": band[0], "band_high_hu": band[1], "radius_median_mm": r_med,
                    "centre": cast_from}


def _cast(image: np.ndarray, g: Geometry, seeds: list[np.ndarray], band: tuple[float, float],
          start: np.ndarray, rays: tuple[np.ndarray, np.ndarray], reach: float,
          expected: float | None, nodal: bool, star: float = STAR_FACTOR, larger: bool = False,
          oval: bool = True
          ) -> tuple[np.ndarray, float, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The band's star-clamped region cast from ``start`` (``rays``: the profiles used for
    its first edge distances), then cast again from the region's deepest point near it
    (an off-centre click would clamp the far side): the region, its median edge distance,
    the point cast from last and the profiles from there. With ``larger``, the larger of
    the two casts (holes filled) is kept, and what it was cast from."""
    t, profiles = rays
    centre = cast_from = start
    region = np.zeros(image.shape, bool)
    r_med = 0.0
    kept, kept_size = None, -1
    for n in range(2):
        if n:
            t, profiles = _rays(image, g, centre, reach)
        radii = _edge_distances(t, profiles, band)
        if n and not expected and not nodal and star == STAR_FACTOR:
            # from a click, with the tight clamp (in lung, and the low-contrast
            # candidates): a drawn prompt's slice is the reader's choice; in soft tissue
            # the clamp reaches twice as far, and a band holding muscle drew the centre
            # into it (MIRP STS_002's 15 clicks, three +36..39%). Cast again from the
            # lesion's middle where the deepest point misses it
            for recentre in (_across_slices, partial(_along_long_axis, reach=reach)):
                moved = recentre(image, g, centre, radii, band)
                if moved is not None:
                    centre = moved
                    t, profiles = _rays(image, g, centre, reach)
                    radii = _edge_distances(t, profiles, band)
        cast_from = centre
        r_med = float(np.median(radii))
        if expected:
            r_med = max(r_med, expected / 2)
        if not n:
            steady = bool(np.nanpercentile(profiles, 10) >= AIR_HU)  # no lung around
        region = _band_region(image, g, seeds, band, centre, radii, r_med, nodal, star, steady,
                              oval)
        if region.sum() < 3:
            break
        if larger and (size := int(_fill_holes(region).sum())) > kept_size:
            kept, kept_size = (region, r_med, cast_from, (t, profiles)), size
        centre = _deepest_near(_noise_holes_filled(region, g) if steady else region, g, centre,
                               0.6 * r_med)
    return kept or (region, r_med, cast_from, (t, profiles))


def _noise_holes_filled(region: np.ndarray, g: Geometry) -> np.ndarray:
    """``region`` with the holes noise leaves in it filled: those no larger than a ball of
    radius NOISE_HOLE_MM (a fat plane between a mass and the muscle its band holds is larger,
    and keeps the deepest point in the mass: filled, one of MIRP STS_002's 15 clicks
    was cast again from the muscle, +41%)."""
    ball = 4.0 / 3.0 * np.pi * NOISE_HOLE_MM**3
    return remove_small_holes(region, max_size=max(1, int(ball / float(np.prod(g.spacing)))))


def _if_in_band(image: np.ndarray, g: Geometry, point: np.ndarray, band: tuple[float, float]
                ) -> np.ndarray | None:
    """``point`` if its voxel lies in the image and in the band, else None."""
    index = _index(g, point)
    if (np.any(index < 0) or np.any(index >= image.shape)
            or not band[0] <= image[tuple(index)] <= band[1]):
        return None
    return point


def _across_slices(image: np.ndarray, g: Geometry, centre: np.ndarray, radii: np.ndarray,
                   band: tuple[float, float]) -> np.ndarray | None:
    """On thick slices (twice the pixel or more), ``centre`` moved to the slice nearest
    the middle of the lesion's extent across the slices (one slice at most); None if it
    stays. The deepest point cannot say which of two slices lies nearer that middle when
    each is one slice from the region's end: a click on the edge slice of a 16 mm
    nodule on 5 mm slices stayed there, and its clamp cut the far end slice
    (pyradiomics lung1: Dice 0.73 -> 0.86)."""
    sp = _spacing_np(g)[::-1]  # i, j, k
    if sp[2] < 2.0 * sp[:2].max():
        return None
    normal = g.direction[:, 2]
    up, down = _midway(radii, normal)
    steps = int(np.clip(np.round(0.5 * (up - down) / sp[2]), -1, 1))
    return _if_in_band(image, g, centre + steps * sp[2] * normal, band) if steps else None


def _along_long_axis(image: np.ndarray, g: Geometry, centre: np.ndarray, radii: np.ndarray,
                     band: tuple[float, float], *, reach: float) -> np.ndarray | None:
    """``centre`` moved to the middle of the lesion's extent along the long axis of the
    ellipsoid fitted to the chords (one reaching at least ELONGATED x the median edge
    distance), when that lies more than a quarter of that distance (and a voxel) away
    and neither way runs on (the chest wall, a leak); None if it stays. The distance
    map's ridge along an oval lesion is flat: its deepest point near a click towards a
    pole stays there, and the chords through it (each as long as its shorter half) cut
    the far pole (36 x 12 mm: -15 to -26%)."""
    r_med = float(np.median(radii))
    oval = _oval(radii, r_med)
    if oval.max() < ELONGATED * r_med:
        return None
    axis = DIRECTIONS[int(np.argmax(oval))]
    ends = _midway(radii, axis)
    shift = 0.5 * (ends[0] - ends[1])
    if (max(ends) >= LEAK_SUSPECT * reach
            or abs(shift) < max(0.25 * r_med, float(max(g.spacing)))):
        return None
    return _if_in_band(image, g, centre + shift * axis, band)


def _trim_fringe(region: np.ndarray, smooth: np.ndarray, seeds: list[np.ndarray],
                 low: float, high: float) -> tuple[np.ndarray, int]:
    """A band's region without its fringe of noise: when the band's bound lies within
    FRINGE_GAP robust SDs of the median of the tissue around the region (the ring), that
    tissue's noise crosses the bound and the outline is frayed with it (a 21 mm lesion
    of 18 HU in the pancreas, 52 HU around it: its 44 HU band won by edge and came out
    +24%). The region is then cut where its voxels are nearer the ring's median than its
    own (the holes this leaves filled), as a reader would place its edge, half-way. Not
    when the ring spreads much wider than the region (FRINGE_ONE_TISSUE): fat, trachea
    and muscle around a thyroid mass have no one median to be half-way to. Returns the
    region and the voxels cut (0: left as it was)."""
    ring = _ring(region)
    if not ring.any():
        return region, 0
    (inside, inside_sd), (around, around_sd) = _robust(smooth[region]), _robust(smooth[ring])
    if low <= around <= high or around_sd > FRINGE_ONE_TISSUE * max(inside_sd, 1.0):
        return region, 0
    above = around > high  # the bound the ring lies beyond
    if abs(around - (high if above else low)) >= FRINGE_GAP * max(around_sd, 1.0):
        return region, 0
    half_way = (inside + around) / 2
    keep = _component(region & ((smooth < half_way) if above else (smooth > half_way)), seeds)
    keep = _fill_holes(keep) & region
    if keep.sum() < 0.5 * region.sum():  # the seeds' voxels beyond half-way (noise) or a
        return region, 0  # region that is mostly fringe: not this cut's to decide
    return keep, int(region.sum() - keep.sum())
