"""Step 3's rays (see ``region_grow``): 200 directions over the sphere, the image's
profiles along them, the candidate HU bands Otsu finds in those samples, where each ray
leaves a band (its edge distance), the in-plane gradient that scores a candidate's
edge, and the star-shaped clamp (the ellipsoid fitted to the chords through the
centre) that keeps a band's region from running along a vessel or a wall."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..geometry import Geometry
from .voxels import _box_around, _points

OVAL_MAX = 3.0  # the clamp's ellipsoid: at most this times the median edge distance
ELONGATED = 1.25  # an ellipsoid reaching this x the median edge distance has a long axis
SPLIT_MIN_HU = 40.0  # two classes closer than this are one tissue
SPLIT_MIN_NEAR_HU = 20.0  # the same among the samples nearest the prompt
FAR_FROM_SEED_HU = 400.0
RAY_STEP_MM = 0.5
STAR_FACTOR = 1.3  # no direction reaches further than this times the median edge distance
LEAK_SUSPECT = 0.75  # a band whose edge lies this far out along most rays may be a leak


def _directions(n: int = 200) -> np.ndarray:
    """``n`` unit vectors spread evenly over the sphere (Fibonacci lattice), LPS."""
    k = np.arange(n) + 0.5
    z = 1 - 2 * k / n
    phi = np.pi * (1 + 5**0.5) * k
    r = np.sqrt(1 - z * z)
    return np.column_stack([r * np.cos(phi), r * np.sin(phi), z])


DIRECTIONS = _directions()
DIRECTIONS_T = DIRECTIONS.T.astype(np.float32)
NEIGHBOURS = np.argsort(-(DIRECTIONS @ DIRECTIONS.T), axis=1)[:, 1:7]  # each ray's 6 nearest
ANTIPODE = np.argmin(DIRECTIONS @ DIRECTIONS.T, axis=1)  # each ray's opposite (within 7 deg)
QUADRIC = np.column_stack([DIRECTIONS**2, 2 * DIRECTIONS[:, [0, 0, 1]] * DIRECTIONS[:, [1, 2, 2]]])


def _rays(image: np.ndarray, g: Geometry, centre_lps: np.ndarray, reach_mm: float
          ) -> tuple[np.ndarray, np.ndarray]:
    """Intensity profiles along every direction from ``centre_lps``: (n_dirs, n_steps)."""
    t = np.arange(0.0, reach_mm, RAY_STEP_MM)
    pts = centre_lps[None, None, :] + DIRECTIONS[:, None, :] * t[None, :, None]
    idx = g.lps_to_index(pts.reshape(-1, 3))[:, ::-1].T  # (k, j, i) rows
    values = ndimage.map_coordinates(image, idx, order=1, mode="nearest")
    inside = np.all((idx >= -0.5) & (idx <= np.array(image.shape)[:, None] - 0.5), axis=0)
    values = np.where(inside, values, np.nan)
    return t, values.reshape(len(DIRECTIONS), len(t))


def _bands(values: np.ndarray, median: float, strict: bool = False,
           min_hu: float = SPLIT_MIN_HU) -> list[tuple[float, float]]:
    """Candidate HU bands of the lesion from the ray samples: Otsu, then Otsu again.

    The first two-class split separates the lesion's side from what differs most
    (aerated lung, air). Up to two further splits of the seed's side, kept when their
    classes are distinct (means >= SPLIT_MIN_HU apart, each >= 10% of the samples),
    are further candidates: they separate ground glass from lung, a mass from fat, or
    a lesion from its organ. ``strict``: the first split must be distinct too (samples
    near the prompt may all be the lesion's). Which candidate is the lesion is decided
    by the edge strength along its boundary.
    """
    from skimage.filters import threshold_otsu

    v = np.clip(values, -1000.0, 1000.0)
    lo, hi = -np.inf, np.inf
    out: list[tuple[float, float]] = []
    for n in range(3):
        part = v[(v >= lo) & (v <= hi)]
        if n:  # after the first split, tissues far from the lesion (bone, air) only mislead
            part = part[np.abs(part - median) <= FAR_FROM_SEED_HU]
        if part.size < 20 or np.ptp(part) == 0:
            break
        cut = float(threshold_otsu(part))
        below, above = part[part < cut], part[part >= cut]
        if (out or strict) and (min(below.size, above.size) < 0.1 * part.size
                                or above.mean() - below.mean() < min_hu):
            break
        if median >= cut:
            lo = cut
        else:
            hi = cut
        out.append((lo, hi))
    return out


def _candidate_bands(t: np.ndarray, profiles: np.ndarray, median: float
                     ) -> list[tuple[float, float]]:
    """The bands of all the rays' samples, then of those within half, a quarter and an
    eighth of their reach: a small lesion in a large organ is a few samples of each
    ray, which the organ's own split (from fat) outweighs. Nearest the prompt (a quarter
    and an eighth) classes SPLIT_MIN_NEAR_HU apart count as distinct: blurred, a 6 mm
    lesion's class and its organ's are closer than its contrast (at SPLIT_MIN_HU, such
    lesions had no band and gave the whole liver; at 25 HU, a 12 mm lesion 40 HU
    brighter on 5 mm slices, its classes 21 HU apart, gave +241%; from half the reach,
    a 27 mm pancreatic lesion gained a band a little loose, +10%)."""
    out: list[tuple[float, float]] = []
    for part in (1.0, 0.5, 0.25, 0.125):
        near = profiles[:, t <= part * t[-1]]
        for band in _bands(near[np.isfinite(near)], median, strict=part < 1.0,
                           min_hu=SPLIT_MIN_HU if part > 0.25 else SPLIT_MIN_NEAR_HU):
            if not any(np.allclose(band, b, atol=10.0) for b in out):
                out.append(band)
    return out or [(-np.inf, np.inf)]


def _inplane_gradient(image: np.ndarray, g: Geometry) -> np.ndarray:
    """Gradient magnitude within each axial slice (HU/mm; Gaussian derivatives, sigma one
    pixel). Not across slices: between slices 5 mm apart a lesion's partial-volume rim
    is one step, which per voxel would count as steep as a real edge and make a band
    holding only the slice clicked on look like the best-edged lesion."""
    gj = ndimage.gaussian_filter(image, sigma=(0, 1, 1), order=(0, 1, 0)) / g.spacing[1]
    gi = ndimage.gaussian_filter(image, sigma=(0, 1, 1), order=(0, 0, 1)) / g.spacing[0]
    return np.hypot(gi, gj)


def _edge_strength(region: np.ndarray, gradient: np.ndarray) -> float:
    """Mean gradient magnitude (HU/mm) on the region's boundary voxels."""
    boundary = region & ~ndimage.binary_erosion(region)
    return float(gradient[boundary].mean()) if boundary.any() else 0.0


def _edge_distances(t: np.ndarray, profiles: np.ndarray, band: tuple[float, float]
                    ) -> np.ndarray:
    """Per ray, the distance where the profile leaves the lesion's band for >= 1 mm."""
    outside = (profiles < band[0]) | (profiles > band[1]) | np.isnan(profiles)
    run = max(1, round(1.0 / RAY_STEP_MM))
    sustained = outside.copy()
    for shift in range(1, run + 1):
        sustained[:, :-shift] &= outside[:, shift:]
    first = np.where(sustained.any(axis=1), np.argmax(sustained, axis=1), len(t) - 1)
    return t[first]


def _oval(radii: np.ndarray, r_med: float) -> np.ndarray:
    """Per ray, the radius of the ellipsoid about the centre that best fits the chords'
    half-lengths (each ray's edge distance or its opposite ray's, the shorter: a vessel
    or the chest wall on one side is no pole), at least ``r_med`` and at most
    OVAL_MAX x it. Fitted linearly: a point r d on the ellipsoid has d' A d = 1 / r^2."""
    chord = np.maximum(np.minimum(radii, radii[ANTIPODE]), RAY_STEP_MM)
    coef = np.linalg.lstsq(QUADRIC, 1.0 / chord**2, rcond=None)[0]
    q = QUADRIC @ coef  # d' A d per ray
    if np.any(q <= 0):  # no ellipsoid
        return np.full(len(radii), r_med)
    return np.clip(1.0 / np.sqrt(q), r_med, OVAL_MAX * r_med)


def _midway(radii: np.ndarray, axis: np.ndarray) -> tuple[float, float]:
    """How far the lesion reaches each way along ``axis`` (the median edge distance of
    the rays within 30 degrees of it, and of its opposite)."""
    cos = DIRECTIONS @ axis
    return float(np.median(radii[cos > 0.87])), float(np.median(radii[cos < -0.87]))


def _star(region: np.ndarray, g: Geometry, centre: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Voxels of ``region`` within the per-direction radius ``limit`` from ``centre``."""
    box = _box_around(region.shape, g, centre, float(limit.max()))  # nothing beyond
    lo = np.array([b.start for b in box])
    k, j, i = np.nonzero(region[box])
    pts = _points(region, g, lo, indices=(k, j, i)) - centre
    k, j, i = k + lo[0], j + lo[1], i + lo[2]
    dist = np.linalg.norm(pts, axis=1)
    ok = dist <= limit.min()  # within every direction's limit, or beyond all: no lookup
    check = np.flatnonzero(~ok & (dist <= limit.max()))
    unit = (pts[check] / dist[check, None]).astype(np.float32)
    for n in range(0, len(check), 4096):  # the nearest ray: the largest cosine (in blocks,
        # which stay in the cache: three times faster than a k-d tree)
        part = check[n:n + 4096]
        nearest = np.argmax(unit[n:n + 4096] @ DIRECTIONS_T, axis=1)
        ok[part] = dist[part] <= limit[nearest]
    out = np.zeros_like(region)
    out[k[ok], j[ok], i[ok]] = True
    return out
