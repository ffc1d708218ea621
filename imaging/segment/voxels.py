"""The voxel work every step of the segmentation shares, in millimetres: the region of
interest's crop, balls and openings on anisotropic grids, distance maps, connected
components, holes, the deepest point near a centre, whether a region reaches the box's
sides, and robust intensity statistics (median and robust SD, the seed's, a ring's).
Also the HU landmarks the steps compare against (aerated lung, fat)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..geometry import Geometry
from ..volume import Volume
from .prompts import LinePrompt, Prompt

AIR_HU = -780.0  # aerated lung is -850..-900 HU; ground glass lies above -750
BALL_TOLERANCE = 1e-9  # a voxel at a ball's radius is the ball's, whatever the rounding
FAT_HU = -100.0
SPREAD_FLOOR_HU = 8.0  # a low-contrast band's SD counts as at least this (3 SDs each side)


def _spacing_np(g: Geometry) -> np.ndarray:
    """Voxel size along the numpy axes (k, j, i)."""
    return g.spacing[::-1].astype(float)


def _ball(radius_mm: float, spacing_np: np.ndarray) -> np.ndarray:
    """The voxels within ``radius_mm`` of the centre (a radius of 3 x 0.7 mm, rounded to
    2.0999999999999996, had lost its third voxel along each axis: a 5 x 5 square)."""
    reach = radius_mm * (1 + BALL_TOLERANCE)
    r = np.maximum(np.floor(reach / spacing_np), 0).astype(int)
    grids = np.ogrid[tuple(slice(-n, n + 1) for n in r)]
    dist = sum((g * s) ** 2 for g, s in zip(grids, spacing_np, strict=True))
    return dist <= reach**2


def _opening(mask: np.ndarray, radius_mm: float, spacing_np: np.ndarray) -> np.ndarray:
    """``mask`` opened by the ball ``_ball(radius_mm, spacing_np)``, outside the array
    background (scipy's ``binary_opening`` with that footprint, voxel for voxel), from
    two distance maps: eroded where the nearest background lies beyond the radius,
    dilated back within it. Their cost does not grow with the ball's (scipy's erosion by
    a 4.5 mm ball took 0.1 s per call on a lung line's box, 0.7 s of its 1.5 s)."""
    reach = radius_mm * (1 + BALL_TOLERANCE)
    padded = np.pad(mask, 1)
    eroded = ndimage.distance_transform_edt(padded, sampling=spacing_np) > reach
    if not eroded.any():
        return np.zeros_like(mask)
    opened = ndimage.distance_transform_edt(~eroded, sampling=spacing_np) <= reach
    return opened[1:-1, 1:-1, 1:-1] & mask


def _index(g: Geometry, point) -> np.ndarray:
    """Nearest voxel (k, j, i) of an LPS point."""
    i, j, k = np.rint(g.lps_to_index(point)).astype(int)
    return np.array([k, j, i])


def _crop(volume: Volume, centre: np.ndarray, half_mm: float
          ) -> tuple[np.ndarray, Geometry, np.ndarray]:
    """The box of ``half_mm`` around voxel ``centre``: its array, its geometry and the
    index (k, j, i) of its first voxel in the image."""
    g = volume.geometry
    half = np.ceil(half_mm / _spacing_np(g)).astype(int)
    shape = np.array(volume.array.shape)
    lo = np.clip(centre - half, 0, shape - 1)
    hi = np.clip(centre + half + 1, 1, shape)
    sub = volume.array[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    origin = g.index_to_lps([lo[2], lo[1], lo[0]])
    return sub, g.with_(size=(sub.shape[2], sub.shape[1], sub.shape[0]), origin=origin), lo


def _points(mask: np.ndarray, g: Geometry, offset=(0, 0, 0), indices=None) -> np.ndarray:
    """LPS points (n, 3) of a mask's voxels, in ``np.nonzero`` order; ``offset``: the
    index (k, j, i) of the mask's first voxel in ``g``'s grid; ``indices``: the mask's
    ``np.nonzero``, when already at hand."""
    k, j, i = np.nonzero(mask) if indices is None else indices
    return g.index_to_lps(np.column_stack([i, j, k]).astype(float) + np.asarray(offset)[::-1])


def _edt(mask: np.ndarray, sampling: np.ndarray) -> np.ndarray:
    """``distance_transform_edt`` of ``mask``, computed on its bounding box and one voxel
    around it (the same values: that layer is background, nearer than anything beyond)."""
    found = ndimage.find_objects(mask.astype(np.uint8))
    out = np.zeros(mask.shape)
    if not found:
        return out
    box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in found[0])
    out[box] = ndimage.distance_transform_edt(mask[box], sampling=sampling)
    return out


def _component(mask: np.ndarray, seeds: list[np.ndarray]) -> np.ndarray:
    labels, _ = ndimage.label(mask)
    keep = {int(labels[tuple(s)]) for s in seeds} - {0}
    return np.isin(labels, list(keep)) if keep else np.zeros_like(mask)


def _robust(values: np.ndarray) -> tuple[float, float]:
    """Median and robust SD (1.4826 x the median absolute deviation)."""
    median = float(np.median(values))
    return median, float(1.4826 * np.median(np.abs(values - median)))


def _ring(mask: np.ndarray) -> np.ndarray:
    """The two voxels around a mask, in-plane: what surrounds it."""
    return ndimage.binary_dilation(mask, structure=np.ones((1, 3, 3), bool),
                                   iterations=2) & ~mask


def _seed_stats(image: np.ndarray, g: Geometry, prompt: Prompt) -> tuple[float, float]:
    sp = _spacing_np(g)
    if isinstance(prompt, LinePrompt):
        idx = [_index(g, p) for p in prompt.central_points()]
        values = np.array([image[tuple(np.clip(i, 0, np.array(image.shape) - 1))] for i in idx])
    else:
        c = _index(g, prompt.point)
        r = np.ceil(2.5 / sp).astype(int)
        lo, hi = np.maximum(c - r, 0), np.minimum(c + r + 1, image.shape)
        block = image[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        zz, yy, xx = np.ogrid[lo[0] - c[0]:hi[0] - c[0], lo[1] - c[1]:hi[1] - c[1],
                              lo[2] - c[2]:hi[2] - c[2]]
        ball = (zz * sp[0]) ** 2 + (yy * sp[1]) ** 2 + (xx * sp[2]) ** 2 <= 2.5**2
        values = block[ball]
    return _robust(values)


def _sds_from(region: np.ndarray, image: np.ndarray, median: float) -> float:
    """How far the seed's ``median`` lies from ``region``'s, in the region's robust SDs
    (at least SPREAD_FLOOR_HU): PART_UNLIKE or more, the region is another tissue than
    the one clicked."""
    centre, spread = _robust(image[region])
    return abs(median - centre) / max(spread, SPREAD_FLOOR_HU)


def _deepest_near(region: np.ndarray, g: Geometry, centre: np.ndarray, radius_mm: float
                  ) -> np.ndarray:
    """The region's deepest point (largest distance to its edge) within ``radius_mm`` of
    ``centre``: the lesion's own centre, not that of a structure it touches."""
    # at least one slice away: on 4-5 mm slices a click on the slice beside the centre
    # must be able to move to it
    radius_mm = max(radius_mm, 2.0, 1.05 * float(max(g.spacing)))
    sp = _spacing_np(g)
    # the distance map within a box around the ball, twice its radius further each way:
    # exact where it stays within that margin less a voxel (background beyond the box
    # lies further); else over the whole region. A leaky band's region fills the ROI,
    # whose distance map took half of a ground-glass line's 2 s
    found = ndimage.find_objects(region.astype(np.uint8))
    if not found:
        return centre
    near_box = _box_around(region.shape, g, centre, radius_mm)
    crop = tuple(slice(max(a.start, b.start - 1, 0), max(min(a.stop, b.stop + 1), a.start))
                 for a, b in zip(_box_around(region.shape, g, centre, 3.0 * radius_mm),
                                 found[0], strict=True))  # and the region's box, as _edt
    dist = ndimage.distance_transform_edt(region[crop], sampling=sp)
    inner = tuple(slice(max(a.start - b.start, 0), max(min(a.stop, b.stop) - b.start, 0))
                  for a, b in zip(near_box, crop, strict=True))
    if (not region[crop].all() and dist[inner].size
            and dist[inner].max() <= 2.0 * radius_mm - float(sp.max())):
        lo = np.array([c.start for c in crop])
    else:
        dist, lo = _edt(region, sp), np.zeros(3, int)
    k, j, i = np.nonzero(dist)
    pts = _points(dist, g, lo, indices=(k, j, i))
    near = np.linalg.norm(pts - centre, axis=1) <= radius_mm
    if not near.any():
        return centre
    best = np.flatnonzero(near)[int(np.argmax(dist[k[near], j[near], i[near]]))]
    return pts[best]


def _box_around(shape: tuple[int, ...], g: Geometry, centre: np.ndarray, radius_mm: float
                ) -> tuple[slice, ...]:
    """The index box (k, j, i slices, within ``shape``) holding every voxel within
    ``radius_mm`` of the LPS point ``centre`` (the direction is orthonormal: along each
    axis a ball spans its radius over that axis's spacing)."""
    c = g.lps_to_index(centre)[::-1]
    half = radius_mm / _spacing_np(g)
    lo = np.clip(np.floor(c - half).astype(int), 0, np.array(shape))
    hi = np.clip(np.ceil(c + half).astype(int) + 1, 0, np.array(shape))
    return tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))


def _roi_border(mask: np.ndarray) -> np.ndarray:
    """The ROI's outermost voxels (what runs into them runs on out of the ROI)."""
    border = np.ones_like(mask, dtype=bool)
    border[1:-1, 1:-1, 1:-1] = False
    return border


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with its holes filled in 3D, then within each slice: what scipy's
    ``binary_fill_holes`` gives (background pieces, face-connected, that do not reach the
    array's border; in a slice, its edges), by one labelling each instead of a dilation
    per step and per slice (0.22 s of a ground-glass click's 1.6 s)."""
    cross = ndimage.generate_binary_structure(3, 1)
    in_plane = np.zeros_like(cross)
    in_plane[1] = cross[1]
    filled = mask.copy()
    for structure, axes in ((cross, (0, 1, 2)), (in_plane, (1, 2))):
        labels, n = ndimage.label(~filled, structure)
        reaches = np.zeros(n + 1, bool)
        reaches[0] = True  # the mask itself
        for axis in axes:
            for end in (0, -1):
                reaches[np.take(labels, end, axis=axis)] = True
        filled |= ~reaches[labels]
    return filled


def _sides_reached(mask: np.ndarray, lo: np.ndarray, full_shape: tuple[int, ...]
                   ) -> list[tuple[int, bool]]:
    """The sides of an ROI (its first voxel at ``lo`` in the image) that ``mask`` reaches:
    (axis, whether that side is the image's own edge) for each."""
    hi = lo + np.array(mask.shape)
    sides = []
    for axis in range(3):
        if np.take(mask, 0, axis=axis).any():
            sides.append((axis, bool(lo[axis] == 0)))
        if np.take(mask, -1, axis=axis).any():
            sides.append((axis, bool(hi[axis] == full_shape[axis])))
    return sides


def _touches_border(mask: np.ndarray, lo: np.ndarray, full_shape: tuple[int, ...]) -> bool:
    """True when the mask reaches a side of the ROI that is not the image's own edge."""
    return any(not edge for _, edge in _sides_reached(mask, lo, full_shape))
