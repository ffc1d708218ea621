"""Steps 4 and 5 of the segmentation (see ``region_grow``): separating the lesion from
what its band's region holds besides it. An opening cuts thin attachments (vessels,
pleural tags), a watershed on the distance map splits broad contacts (the chest wall, a
neighbouring node, an organ); a lung nodule is cut at the pleural line, loses its
vessels' stubs and gets its spicules back."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.morphology import local_maxima, reconstruction
from skimage.segmentation import watershed

from ..geometry import Geometry
from ..measure import measure_mask
from ..volume import Volume
from .corrections import _split
from .drawn import _in_box
from .prompts import BoxPrompt, LinePrompt, Prompt
from .voxels import (
    AIR_HU,
    _ball,
    _component,
    _edt,
    _fill_holes,
    _opening,
    _points,
    _roi_border,
    _spacing_np,
)

OPENING_FACTOR = 0.25  # the opening's ball: this times the lesion's radius
OPENING_MAX_MM = 4.5  # the largest ball of the opening that cuts attachments (at 2.5 mm
# a 55 mm sarcoma kept a 5 mm wide tongue of the tissue beside it: +27% long axis)
WALL_MIN_POINTS = 30  # surface points of the wall around a nodule for its plane
WALL_SECTORS = 10  # of 12 sectors around the nodule's foot on that plane holding its points
WALL_INLIERS = 0.6  # share of them within two pixels of the plane: a wall, not vessels
SPICULE_MIN_STEPS = 4  # a spicule is a branch at least this many voxels long
STUB_FACTOR = 0.55  # a nodule's thin parts: what a ball this times its radius does not fit
LINE_STUBS = 1.1  # a drawn line's nodule loses its stubs when they make it this x longer


def _separate(region: np.ndarray, image: np.ndarray, g: Geometry, seeds: list[np.ndarray],
              negatives: list[np.ndarray], nodal: bool = False
              ) -> tuple[np.ndarray, dict[str, float]]:
    """Step 4 on the box around the region and its seeds, one voxel wider (the same
    result as on the whole ROI, in a fraction of the time: the rest is background)."""
    found = ndimage.find_objects(region.astype(np.uint8))[0]
    lo = np.min([[s.start for s in found], *seeds], axis=0)
    hi = np.max([[s.stop - 1 for s in found], *seeds], axis=0)
    lo, hi = np.maximum(lo - 1, 0), np.minimum(hi + 2, region.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    inside = [n - lo for n in negatives if np.all((n >= lo) & (n < hi))]
    part_g = g.with_(size=tuple(int(n) for n in (hi - lo)[::-1]),
                     origin=g.index_to_lps(lo[::-1].astype(float)))
    part, info = _separate_box(region[box], part_g, [s - lo for s in seeds], inside, nodal,
                               image[box])
    lesion = np.zeros_like(region)
    lesion[box] = part
    return lesion, info


def _separate_box(region: np.ndarray, g: Geometry, seeds: list[np.ndarray],
                  negatives: list[np.ndarray], nodal: bool, image: np.ndarray
                  ) -> tuple[np.ndarray, dict[str, float]]:
    sp = _spacing_np(g)
    region = _fill_holes(region)  # noise and texture holes are no edges to split along
    dist = _edt(region, sp)
    r_est = float(max(dist[tuple(s)] for s in seeds))
    near = np.zeros_like(region)
    for s in seeds:
        lo = np.maximum(s - np.ceil(3.0 / sp).astype(int), 0)
        near[lo[0]:s[0] + int(3 / sp[0]) + 1, lo[1]:s[1] + int(3 / sp[1]) + 1,
             lo[2]:s[2] + int(3 / sp[2]) + 1] = True
    r_est = max(r_est, float(dist[near].max()))
    r_open = _opening_radius(r_est)
    if nodal:  # at least one pixel: a node's fat plane, blurred, leaves one-pixel bridges
        r_open = max(r_open, 1.01 * float(min(sp[1:])))
    footprint = _ball(r_open, sp)
    if nodal and footprint.sum() > 1:  # cut where the erosion disconnects: a contact two
        # pixels wide survives a plain opening, which dilates back across it
        core = ndimage.binary_erosion(region, structure=footprint)
        core = _component(core, [s for s in seeds if core[tuple(s)]] or seeds)
        opened = ndimage.binary_dilation(core, structure=footprint) & region
    elif footprint.sum() > 1:
        opened = _opening(region, r_open, sp)
    else:
        opened = region
    core_seeds = [s for s in seeds if opened[tuple(s)]]
    if not core_seeds:  # the click sits on a thin part: keep the unopened region
        opened, core_seeds = region, seeds
    opened = _component(opened, core_seeds)

    dist = _edt(opened, sp)
    h = max(0.2 * r_est, 1.0)
    peaks, n_peaks = _markers(dist, h)
    basins = watershed(-dist, peaks, mask=opened)
    lesion_labels = {int(basins[tuple(s)]) for s in core_seeds} - {0}
    lesion = np.isin(basins, list(lesion_labels))
    cut = np.zeros_like(lesion)
    if negatives:
        inside = [n for n in negatives if lesion[tuple(n)]]
        if inside:  # the reader's outside clicks: split there, drop their side
            deep = np.unravel_index(int(np.argmax(np.where(lesion, dist, 0))), dist.shape)
            lesion, cut = _split(image, lesion, sp, core_seeds, inside, np.array(deep))
    # give back one in-plane voxel of what the opening shaved off the border (partial
    # volume); more would regrow the stubs of the vessels the opening cut
    ring = ndimage.generate_binary_structure(2, 1)[None]
    lesion = ndimage.binary_dilation(lesion, structure=ring) & region & ~cut
    lesion = _fill_holes(lesion) & ~cut
    lesion = _component(lesion, core_seeds)
    return lesion, {"radius_estimate_mm": r_est, "opening_radius_mm": r_open,
                    "watershed_h_mm": h, "watershed_basins": int(n_peaks)}


def _spicules(lesion: np.ndarray, inband: np.ndarray, g: Geometry, r_est: float
              ) -> np.ndarray:
    """A lung nodule's spicules: branches in the band that leave it and end within 0.6 x
    its radius (3-10 mm), which the opening and the star-shaped clamp cut like vessel
    stubs (LIDC-0001's readers drew one 4-5 mm long: the long axis -11 to -16% without
    it). A vessel runs on past that reach, or out of the ROI; a branch holding over a
    tenth of the lesion is none, nor one under SPICULE_MIN_STEPS voxels long (the rim
    the opening shaved off: given back, a 16 mm nodule's short axis went +19 to +53%).
    Grown one voxel at a time (26-connected) within the band."""
    reach = float(np.clip(0.6 * r_est, 3.0, 10.0))
    steps = int(np.ceil(reach / _spacing_np(g)[1:].min()))
    full = np.ones((3, 3, 3), bool)
    reached, front = lesion.copy(), np.zeros_like(lesion)
    step = np.zeros(lesion.shape, np.int16)
    for n in range(1, steps + 1):
        front = ndimage.binary_dilation(reached, structure=full) & inband & ~reached
        if not front.any():
            break
        step[front] = n
        reached |= front
    pieces = reached & ~lesion
    labels, n = ndimage.label(pieces, structure=full)
    if not n:
        return pieces
    running = set(np.unique(labels[(front | _roi_border(lesion)) & pieces])) - {0}
    sizes = ndimage.sum_labels(pieces, labels, np.arange(n + 1))
    length = ndimage.maximum(step, labels, np.arange(n + 1))
    keep = [k for k in range(1, n + 1) if k not in running and sizes[k] <= 0.1 * lesion.sum()
            and length[k] >= SPICULE_MIN_STEPS]
    return np.isin(labels, keep)


def _vessel_stubs(lesion: np.ndarray, inband: np.ndarray, g: Geometry, r_est: float,
                  seeds: list[np.ndarray]) -> np.ndarray:
    """A lung nodule's vessel stubs: its thin parts (what an opening with a ball of
    STUB_FACTOR x its radius, 1-2.5 mm, takes off) from which the band runs on, out of
    the lesion, past 0.6 x its radius (3-10 mm, as far as a spicule may reach) or out of
    the ROI: a vessel the nodule touches. The first opening's ball (a quarter of the
    radius) fits inside a 3 mm vessel on a 10 mm nodule, and its stubs, out to the star
    clamp, had held the long axis (+29%). Thin parts the band does not run on from (a
    lobe's tip, a spicule that ends) are the nodule's, and so is one holding a seed (the
    reader clicked it)."""
    sp = _spacing_np(g)
    radius = float(np.clip(STUB_FACTOR * r_est, 1.0, 2.5))
    if radius < np.hypot(sp[0], sp[1:].min()):  # a ball reaching the next slices with its
        # poles alone (a voxel each) made a nodule's end slice thin (LIDC-0001's lost its
        # rim on 2.5 mm slices): a disk in each slice
        thin = lesion & ~_opening(lesion, radius, sp * np.array([1e6, 1.0, 1.0]))
    else:
        thin = lesion & ~_opening(lesion, radius, sp)
    if not thin.any():
        return thin
    full = np.ones((3, 3, 3), bool)
    outside = inband & ~lesion
    labels, _ = ndimage.label(outside, structure=full)
    far = _edt(~lesion, sp) >= float(np.clip(0.6 * r_est, 3.0, 10.0))
    running = np.setdiff1d(labels[(far | _roi_border(lesion)) & outside], [0])
    near = ndimage.binary_dilation(np.isin(labels, running), structure=full)
    pieces, _ = ndimage.label(thin, structure=full)
    clicked = [pieces[tuple(s)] for s in seeds]
    return np.isin(pieces, np.setdiff1d(pieces[near & thin], [0, *clicked]))


def _nodule_outline(lesion: np.ndarray, inband: np.ndarray, g: Geometry, prompt: Prompt,
                    seeds: list[np.ndarray], negatives: list[np.ndarray],
                    sep: dict[str, float]) -> np.ndarray:
    """A lung nodule without its vessels' stubs and with its spicules (their voxel counts
    go into ``sep``). Not the stubs in a box, which bounds them already (+1..3% on the
    10 mm nodule on vessels; cut, pyradiomics lung1 0% -> -7%); with a drawn line only
    when they make it longer than the line by over 10%: the reader measured the nodule,
    not its vessels (+29% on the 10 mm nodule), but a line's nodule gets no spicules back
    (cut unasked, LIDC-0001's went -7% -> -15%). Not the spicules with a line (the reader
    measured without them) or an outside click; with a box, those within it."""
    r_est = sep["radius_estimate_mm"]
    if not isinstance(prompt, BoxPrompt):
        stubs = _vessel_stubs(lesion, inband, g, r_est, seeds)
        if (isinstance(prompt, LinePrompt) and stubs.any()
                and measure_mask(Volume(lesion.astype(np.uint8), g)).long_axis_mm
                <= LINE_STUBS * prompt.expected_diameter_mm):
            stubs[:] = False
        lesion = _component(lesion & ~stubs, seeds)
        sep["stub_voxels"] = int(stubs.sum())
    if not negatives and not isinstance(prompt, LinePrompt):
        spicules = _spicules(lesion, inband, g, r_est)
        box = _in_box(spicules.shape, g, prompt)
        if box is not None:
            spicules = _component(lesion | spicules & box, seeds) & ~lesion
        sep["spicule_voxels"] = int(spicules.sum())
        lesion = lesion | spicules
    return lesion


def _opening_radius(r_est: float) -> float:
    """The opening's ball for a lesion of radius ``r_est`` (mm)."""
    return float(np.clip(OPENING_FACTOR * r_est, 0.7, OPENING_MAX_MM))


def _may_touch_wall(in_lung: bool, band: tuple[float, float], nodal: bool) -> bool:
    """A nodule in lung, in a band holding soft tissue: it may lie on the pleura, one
    tissue with the wall (a band ending below soft tissue leaves the wall out itself)."""
    return in_lung and not nodal and band[0] > AIR_HU and band[1] > 0.0


def _cut_at_wall(lesion: np.ndarray, inband: np.ndarray, g: Geometry,
                 seeds: list[np.ndarray], r_est: float) -> tuple[np.ndarray, int]:
    """The lesion cut at the pleural line (``_wall_cut``) and the voxels cut. A seed
    beyond the line keeps the lesion uncut: the reader's point is kept."""
    wall = _wall_cut(lesion, inband, g, r_est)
    if not wall.any() or any(wall[tuple(s)] for s in seeds):
        return lesion, 0
    return _component(lesion & ~wall, seeds), int(wall.sum())


def _wall_cut(lesion: np.ndarray, inband: np.ndarray, g: Geometry, r_est: float
              ) -> np.ndarray:
    """A nodule on the pleura: the part of ``lesion`` beyond the wall's surface.

    The nodule and the chest wall (or the mediastinum, the diaphragm) are one tissue in
    its band, so nothing in the image separates them; the star-shaped clamp and the
    watershed cut the wall in a dome that continues the nodule's curve (a nodule flat on
    the wall: long axis +17%; LIDC-0001's line took in a piece of the diaphragm). A
    reader measures to the pleural line: the surface, facing the lung, of the tissue
    around the nodule (within its radius) that is not the nodule, thin pieces left out
    (vessels, and the rim the opening shaved off the nodule: on 5 mm slices its pole
    slices, an axial plane of their own). Those points are fitted with a plane (least
    squares, twice refitted on the points within two pixels of it). It is the wall when
    most of them lie on it, the tissue lies on one side only (a vessel's axis has tissue
    on both), the lesion lies on the other side (reaching beyond the plane by at most
    half as far: vessels crossing the nodule in one plane are cut by it in halves), and
    the points form a patch (not a vessel's line) all around the foot of the nodule's
    middle (the centre of its part on the lung's side). What of the lesion lies on the
    plane or beyond it is cut (the surface voxels are the wall's: the nodule's last
    voxels lie a pixel before them; cut only half a pixel beyond them, a 10 mm nodule
    kept that layer and the blurred corner, +11 to +25%): after a click by the wall,
    the region grown may hold more wall than nodule (10 mm nodules clicked there: +38%
    before any cut)."""
    cut = np.zeros_like(lesion)
    sp = _spacing_np(g)
    px = float(sp[1:].max())
    r_ball = max(_opening_radius(r_est), 1.01 * float(sp.max()))
    ball = _ball(r_ball, sp)
    # a box around the lesion: what the wall test looks at, and no more
    k, j, i = np.nonzero(lesion)
    margin = np.ceil((max(r_est, 3.0) + float(sp.max())) / sp).astype(int) + ball.shape
    lo = np.maximum(np.array([k.min(), j.min(), i.min()]) - margin, 0)
    hi = np.array([k.max(), j.max(), i.max()]) + margin + 1
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    nodule, tissue = lesion[box], inband[box]
    # within its radius, and at least the slices next to it (a 10 mm nodule on 5 mm
    # slices: within its own two, 21 surface points, too few for a plane)
    near = ndimage.distance_transform_edt(~nodule, sampling=sp) <= max(r_est, 3.0, 1.01 * sp[0])
    lung = ndimage.binary_dilation(~tissue)
    tissue = _opening(tissue & ~nodule, r_ball, sp) & near
    pts = _points(tissue & lung, g, lo)
    if len(pts) < WALL_MIN_POINTS:
        return cut
    on = np.ones(len(pts), bool)
    for _ in range(3):
        if on.sum() < WALL_MIN_POINTS:  # no surface to fit
            return cut
        centre = pts[on].mean(axis=0)
        normal = np.linalg.svd(pts[on] - centre, full_matrices=False)[2][-1]
        on = np.abs((pts - centre) @ normal) <= 2.0 * px
    if on.mean() < WALL_INLIERS or on.sum() < WALL_MIN_POINTS:
        return cut
    side = (_points(tissue, g, lo) - centre) @ normal
    towards = np.sign(np.mean(side))  # the wall: where the tissue lies
    if np.mean(towards * side > -2.0 * px) < 0.9:
        return cut  # tissue on both sides: a vessel's axis, not a wall
    away = towards * normal
    points = _points(lesion, g, indices=(k, j, i))
    depth = (points - centre) @ away
    if depth.min() >= 0 or depth.max() > 0.5 * -depth.min():  # the lesion lies in the
        return cut  # lung, not across it; or none of it on the lung's side
    flat = pts[on] - centre - np.outer((pts[on] - centre) @ normal, normal)
    _, spread, axes = np.linalg.svd(flat, full_matrices=False)
    middle = points[depth < 0].mean(axis=0)
    foot = middle - centre - ((middle - centre) @ normal) * normal
    angle = np.arctan2((flat - foot) @ axes[1], (flat - foot) @ axes[0])
    sectors = np.unique(np.floor((angle + np.pi) / (np.pi / 6)).astype(int) % 12).size
    if spread[1] / np.sqrt(on.sum()) < 0.3 * r_est or sectors < WALL_SECTORS:
        return cut  # not a patch of surface all around the nodule's foot
    beyond = depth > -0.5 * px  # on the plane (its voxels within half a pixel) or beyond
    cut[k[beyond], j[beyond], i[beyond]] = True
    return cut


def _markers(dist: np.ndarray, h: float) -> tuple[np.ndarray, int]:
    """The watershed's markers: the tops of the distance map's domes deeper than ``h``
    (its h-maxima), those of one dome under one label. skimage's ``h_maxima`` labels two
    equal tops apart however high the saddle between them (a 60 mm ellipsoid had two and
    was cut in half); here tops share a label when the reconstruction of ``dist - h``
    under ``dist`` joins them in one plateau."""
    rec = reconstruction(dist - h, dist)
    tops = dist - rec >= h - 1e-6
    plateaus, _ = ndimage.label(local_maxima(rec, allow_borders=True))
    markers = np.where(tops, plateaus, 0)
    return markers, len(np.unique(markers)) - 1
