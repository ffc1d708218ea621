"""The candidates for lesions that differ little from what surrounds them (see
``region_grow``, step 3): the two-pass low-contrast candidate (a scout on the image
smoothed more, its edge where the HU leave the seed's median by 3 SDs; a tight and a
half-way band when that leaks), and the ground-glass candidate (lung shows through
such a lesion, so no band around its median holds it)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..geometry import Geometry
from .cast import _band_pass
from .prompts import Prompt
from .rays import SPLIT_MIN_HU, _edge_strength, _rays
from .voxels import AIR_HU, SPREAD_FLOOR_HU, _fill_holes, _ring, _robust, _seed_stats, _spacing_np

NODE_RIM_HU = 50.0
LOW_CONTRAST_SMOOTH_MM = 1.5
TIGHT_FLOOR_HU = 3.0  # the tight band's SD counts as at least this: the noise left on
# the image smoothed 1.5 mm (SPREAD_FLOOR_HU is the low-contrast band's)
GROUND_GLASS_HU = (AIR_HU, -450.0)  # a seed's median in this range: ground glass
GROUND_GLASS_SMOOTH_MM = 2.0
GROUND_GLASS_EDGE = 0.4  # its edge: this far from the lung's HU to the lesion's median
GROUND_GLASS_SOLID_HU = -300.0  # denser is solid tissue: the chest wall, not ground glass
GROUND_GLASS_ROUNDS = 8  # the lesion's HU measured again over what its band found, at most
GROUND_GLASS_STEADY_HU = 2.0  # this many times, until it moves less than this


def _deviation_candidates(image: np.ndarray, g: Geometry, seeds: list[np.ndarray],
                          prompt: Prompt, reach: float, gradient: np.ndarray, nodal: bool
                          ) -> list[tuple[np.ndarray, dict[str, float]]]:
    """Low-contrast lesions: stop each ray where the HU leave the lesion's median +- 3
    SDs (for a node, up to its enhancing rim above), in two passes. A scout pass on the
    image smoothed further (its noise falls about threefold), from the seed's own
    statistics, finds the lesion roughly; the lesion's median and SD are then measured
    over the scout (thousands of voxels, not the few around the click: the SD is the
    lesion's texture and noise, not chance) and the pass is repeated on ``image``.
    Last, the edge voxels nearer the lesion's HU than what lies beyond are added.

    The seed's SD counts as at least SPREAD_FLOOR_HU (a few voxels' SD may be chance);
    when it is below that, a tight candidate, at least TIGHT_FLOOR_HU, competes too: a
    lesion 20 HU from its organ (noise 15 HU) lies within the wide band's +- 24 HU of
    the organ, which it then fills (a 20 mm liver lesion came out as the liver, +413%)."""
    scout_image = ndimage.gaussian_filter(
        image, sigma=np.minimum(LOW_CONTRAST_SMOOTH_MM / _spacing_np(g), 1.0))
    seed_median, seed_spread = _seed_stats(scout_image, g, prompt)
    floors = [SPREAD_FLOOR_HU] + ([TIGHT_FLOOR_HU] if seed_spread < SPREAD_FLOOR_HU else [])
    in_plane = np.ones((1, 3, 3), bool)
    found = []
    for floor in floors:
        scout = _deviation_pass(scout_image, g, seeds, prompt, reach, nodal, seed_median,
                                max(seed_spread, floor), larger=floor == TIGHT_FLOOR_HU)
        if scout is None and floor == TIGHT_FLOOR_HU and not nodal:
            scout = _halfway_pass(scout_image, g, seeds, prompt, reach, seed_median)
        if scout is None:
            continue
        interior = ndimage.binary_erosion(scout[0], structure=in_plane)
        median, spread = _robust(image[interior if interior.sum() >= 20 else scout[0]])
        shell = _ring(scout[0])
        around = float(np.median(image[shell])) if shell.any() else median
        fine = None
        if abs(around - median) > 4.0 * max(spread, SPREAD_FLOOR_HU):  # the finer band
            # excludes what surrounds the lesion (else, as for a lesion 35 HU darker than
            # its organ in noise of 12 HU, it would leak: the scout is kept)
            fine = _deviation_pass(image, g, seeds, prompt, reach, nodal, median,
                                   max(spread, SPREAD_FLOOR_HU))
        region, info = fine if fine is not None else scout
        region = _edge_voxels(region, scout_image, median)
        info["edge_strength_hu_per_mm"] = _edge_strength(region, gradient)
        found.append((region, info))
    return found


def _ground_glass_candidate(image: np.ndarray, g: Geometry, seeds: list[np.ndarray],
                            prompt: Prompt, reach: float, gradient: np.ndarray
                            ) -> tuple[np.ndarray, dict[str, float]] | None:
    """A ground-glass lesion in aerated lung: its texture (lung showing through, vessels)
    spans hundreds of HU, so no band around its median holds it. On the image smoothed
    GROUND_GLASS_SMOOTH_MM its HU level out; the edge lies GROUND_GLASS_EDGE of the way
    from the lung's HU (the rays' lowest decile) to the lesion's median (its faint rim,
    where more lung shows through, is nearer the lung: half-way lost LIDC-0002's upper
    third). The band ends at GROUND_GLASS_SOLID_HU: denser tissue that touches it is the
    chest wall or the mediastinum (open above, LIDC-0002's band took in the chest wall
    under it: short axis +56 to +83%); vessels and a solid part inside it are holes that
    the clean-up fills."""
    smooth = ndimage.gaussian_filter(
        image, sigma=np.minimum(GROUND_GLASS_SMOOTH_MM / _spacing_np(g), 2.0))
    lesion, _ = _seed_stats(smooth, g, prompt)
    rays = _rays(smooth, g, np.asarray(prompt.point, dtype=float), reach)
    lung = float(np.nanpercentile(rays[1], 10))
    if lesion - lung < SPLIT_MIN_HU:
        return None
    # cast from the click, and again from the region's deepest point: the larger wins.
    # From the click alone, a click off the centre has the far side clamped (LIDC-0002
    # from 15 further clicks: 7 within 10%; the larger, 8); from the deepest point
    # alone, one of the benchmark's clicks went -14.5% (from the click -8.6%). (Open
    # above, the band had led the second cast into the chest wall: +312%.)
    # Clamped to a sphere, not an ellipsoid: a ground-glass band holds the partial
    # volume where lung meets the chest wall, and along the wall the ellipsoid led
    # LIDC-0002's clicks into it at both ends (+10..13%)
    found = None
    for _ in range(GROUND_GLASS_ROUNDS):
        band = (lung + GROUND_GLASS_EDGE * (lesion - lung), GROUND_GLASS_SOLID_HU)
        cast = _band_pass(smooth, g, seeds, prompt, reach, band, False, rays, larger=True,
                          oval=False)
        if cast is None:
            break
        found = cast
        median = float(np.median(smooth[_fill_holes(cast[0])]))
        if abs(median - lesion) < GROUND_GLASS_STEADY_HU:
            break
        lesion = median
    if found is None:
        return None
    region, info = found
    return region, {**info, "ground_glass": 1.0,
                    "edge_strength_hu_per_mm": _edge_strength(region, gradient)}


def _halfway_pass(image: np.ndarray, g: Geometry, seeds: list[np.ndarray], prompt: Prompt,
                  reach: float, seed_median: float
                  ) -> tuple[np.ndarray, dict[str, float]] | None:
    """A faint lesion that even the tight band leaks from: a click off the centre of a
    10 mm lesion 20 HU from its organ has the organ in its seed's ball (the band, +- 3
    of its SDs, holds the organ) and the lesion's core beyond its median (a band around
    it would cut the core out). The band runs from half-way between the seed's median
    and the organ's (the rays' outer half: what lies beyond a lesion clicked in its
    inner half) to well past the seed's median on the other side; once, then again from
    the median of what it found (nearer the lesion's own)."""
    t, profiles = _rays(image, g, np.asarray(prompt.point, dtype=float), reach)
    organ = float(np.nanmedian(profiles[:, t >= 0.5 * t[-1]]))
    level, found = seed_median, None
    for _ in range(2):
        contrast = level - organ
        if abs(contrast) < 3.0 * TIGHT_FLOOR_HU:
            break
        ends = (organ + 0.5 * contrast,
                level + 2.0 * contrast + np.sign(contrast) * 3.0 * TIGHT_FLOOR_HU)
        again = _band_pass(image, g, seeds, prompt, reach, (min(ends), max(ends)), False,
                           larger=True)
        if again is None:
            break
        found = again
        level = float(np.median(image[found[0]]))
    return None if found is None else (found[0], {**found[1], "low_contrast": 1.0})


def _deviation_pass(image: np.ndarray, g: Geometry, seeds: list[np.ndarray], prompt: Prompt,
                    reach: float, nodal: bool, median: float, spread: float,
                    larger: bool = False) -> tuple[np.ndarray, dict[str, float]] | None:
    tol = 3.0 * spread
    band = (median - tol, median + (max(tol, NODE_RIM_HU) if nodal else tol))
    found = _band_pass(image, g, seeds, prompt, reach, band, nodal, larger=larger)
    return None if found is None else (found[0], {**found[1], "low_contrast": 1.0})


def _edge_voxels(region: np.ndarray, smooth: np.ndarray, median: float) -> np.ndarray:
    """Add the in-plane ring of voxels around a low-contrast region that are nearer the
    lesion's HU than what lies beyond them (a blurred edge's half-way point: the band,
    three SDs wide, stops short of it). On the smoothed image the noise is low and a
    symmetric edge's half-way point stays where it was."""
    cross = ndimage.generate_binary_structure(2, 1)[None]
    ring = ndimage.binary_dilation(region, structure=cross) & ~region
    beyond = ndimage.binary_dilation(ring, structure=cross) & ~region & ~ring
    if not ring.any() or not beyond.any():
        return region
    # what lies beyond, per ring voxel: the mean of the outer ring's voxels next to it
    weight = ndimage.uniform_filter(beyond.astype(np.float32), size=(1, 3, 3))
    outer = ndimage.uniform_filter(np.where(beyond, smooth, 0.0).astype(np.float32),
                                   size=(1, 3, 3)) / np.maximum(weight, 1e-6)
    near = np.abs(smooth - median) < np.abs(smooth - outer)
    return region | (ring & near & (weight > 0))
