"""Synthetic lesions with an exact truth, for the segmentation tests and the sweep
benchmark (``benchmarks/segment_sweep.py``): a liver lesion darker or brighter than
its organ, a lesion inside a small organ (a kidney, a thyroid lobe), a lung nodule free,
on crossing vessels or flat on the chest wall, and a large elongated mass in the muscle
of a limb, near its skin. Each
is blurred as a scanner would (more across thick slices) and given Gaussian noise from
a fixed seed, so the same call gives the same image."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..geometry import Geometry
from ..volume import Volume

__all__ = ["KIDNEY", "THYROID_LOBE", "limb_mass", "liver_lesion", "lung_nodule", "off_centre",
           "organ_lesion"]


def _grid(extent: np.ndarray, spacing: np.ndarray):
    """The geometry of a box of ``extent`` mm at ``spacing`` and each voxel's x, y, z."""
    size = tuple(int(n) for n in extent / spacing)
    k, j, i = np.indices(tuple(reversed(size)))
    return (Geometry(size, spacing, (0.0, 0.0, 0.0), np.eye(3)),
            i * spacing[0], j * spacing[1], k * spacing[2])


def _scanned(hu: np.ndarray, spacing: np.ndarray, blur_mm: float, noise: float, seed: int
             ) -> np.ndarray:
    """Blurred as a scanner would (across the slices at least half their thickness) and
    given Gaussian noise of SD ``noise`` from ``seed``."""
    hu = ndimage.gaussian_filter(hu, sigma=np.array([max(blur_mm, spacing[2] / 2), blur_mm,
                                                     blur_mm]) / spacing[::-1])
    return (hu + np.random.default_rng(seed).normal(0, noise, hu.shape)).astype(np.float32)


def off_centre(centre: np.ndarray, axes: np.ndarray, offset: float) -> np.ndarray:
    """A point ``offset`` of the way from a lesion's centre to its edge along x (and
    0.75 x that along -y and z): where a reader clicks off-centre."""
    return centre + axes * np.array([offset, -0.75 * offset, 0.75 * offset])


def liver_lesion(diameter_mm: float, lesion_hu: float, thickness_mm: float = 2.5):
    """A liver (100 HU) in fat with one ellipsoidal lesion (axes 1 : 0.8 : 0.9) of
    ``diameter_mm`` at its centre; 0.8 mm pixels, noise SD 15 HU. Returns the image, the
    truth, the lesion's centre (LPS mm) and its semi-axes (mm)."""
    spacing = np.array([0.8, 0.8, thickness_mm])
    extent = np.array([240.0, 240.0, 175.0]) if diameter_mm > 40 else np.array([120.0, 120, 80])
    g, x, y, z = _grid(extent, spacing)
    c = extent / 2
    hu = np.full(x.shape, -100.0)
    hu[((x - c[0]) / (c[0] - 10)) ** 2 + ((y - c[1]) / (c[1] - 15)) ** 2
       + ((z - c[2]) / (c[2] - 8)) ** 2 <= 1] = 100.0
    axes = diameter_mm / 2 * np.array([1.0, 0.8, 0.9])
    lesion = (((x - c[0]) / axes[0]) ** 2 + ((y - c[1]) / axes[1]) ** 2
              + ((z - c[2]) / axes[2]) ** 2 <= 1)
    hu[lesion] = lesion_hu
    return Volume(_scanned(hu, spacing, 0.7, 15.0, 1), g), Volume(lesion.astype(np.uint8), g), \
        c, axes


KIDNEY = (55.0, 30.0, 25.0)  # semi-axes (mm) of a kidney, 11 x 6 x 5 cm
THYROID_LOBE = (25.0, 11.0, 12.0)  # and of a thyroid lobe


def organ_lesion(organ_axes: tuple[float, float, float], organ_hu: float, diameter_mm: float,
                 lesion_hu: float, thickness_mm: float = 2.5):
    """A small organ (an ellipsoid of semi-axes ``organ_axes``, ``organ_hu``: a kidney,
    a thyroid lobe) in fat (-100 HU), bounded well within a click's reach, with one
    ellipsoidal lesion (axes 1 : 0.85 : 0.9) of ``diameter_mm`` at its centre; 0.8 mm
    pixels, noise SD 12 HU. Returns the image, the truth, the lesion's centre (LPS mm)
    and its semi-axes (mm)."""
    spacing = np.array([0.8, 0.8, thickness_mm])
    organ = np.asarray(organ_axes, dtype=float)
    extent = 2 * organ + np.array([60.0, 60.0, 40.0])
    g, x, y, z = _grid(extent, spacing)
    c = extent / 2
    hu = np.full(x.shape, -100.0)
    hu[((x - c[0]) / organ[0]) ** 2 + ((y - c[1]) / organ[1]) ** 2
       + ((z - c[2]) / organ[2]) ** 2 <= 1] = organ_hu
    axes = diameter_mm / 2 * np.array([1.0, 0.85, 0.9])
    lesion = (((x - c[0]) / axes[0]) ** 2 + ((y - c[1]) / axes[1]) ** 2
              + ((z - c[2]) / axes[2]) ** 2 <= 1)
    hu[lesion] = lesion_hu
    return Volume(_scanned(hu, spacing, 0.8, 12.0, 7), g), Volume(lesion.astype(np.uint8), g), \
        c, axes


def lung_nodule(diameter_mm: float, thickness_mm: float, contact: str = "free"):
    """Lung (-850 HU) with one slightly lobulated nodule (30 HU; axes 1 : 0.85 : 0.9) at
    the centre, 0.7 mm pixels, noise SD 20 HU. ``contact``: "free"; "pleura", a chest
    wall (40 HU) filling x beyond 0.8 of its radius, so it lies flat on the wall;
    "vessels", two vessels (40 HU, 3.2 and 2.4 mm across) crossing it at right angles,
    nearly in one plane. Returns the image and the truth."""
    if contact not in ("free", "pleura", "vessels"):
        raise ValueError(f"contact {contact!r}: expected free, pleura or vessels")
    spacing = np.array([0.7, 0.7, thickness_mm])
    extent = np.array([3 * diameter_mm + 40, 3 * diameter_mm + 40, 2.5 * diameter_mm + 30])
    g, x, y, z = _grid(extent, spacing)
    c, r = extent / 2, diameter_mm / 2
    hu = np.full(x.shape, -850.0)
    lobes = r * (1 + 0.08 * np.sin(3 * np.arctan2(y - c[1], x - c[0])))
    nodule = (x - c[0]) ** 2 + ((y - c[1]) / 0.85) ** 2 + ((z - c[2]) / 0.9) ** 2 <= lobes**2
    if contact == "pleura":
        wall = x > c[0] + 0.8 * r
        hu[wall] = 40.0
        nodule &= ~wall
    elif contact == "vessels":
        hu[(x - c[0] - 0.3 * r) ** 2 + (z - c[2]) ** 2 <= 1.6**2] = 40.0
        hu[(y - c[1] + 0.2 * r) ** 2 + (z - c[2] - 0.3 * r) ** 2 <= 1.2**2] = 40.0
    hu[nodule] = 30.0
    return Volume(_scanned(hu, spacing, 0.8, 20.0, 3), g), Volume(nodule.astype(np.uint8), g)


def limb_mass(lesion_hu: float, thickness_mm: float = 2.5):
    """A limb's cross-section: muscle (50 HU, 17 cm across) in 10 mm of fat, air around
    it (a 26 cm field of view), and in the muscle an elongated mass (semi-axes 40, 22
    and 25 mm) whose end lies 10 mm from the fat, along x; 0.8 mm pixels, noise SD 12
    HU. Rays from a click near that end reach the air outside the body, and the mass
    outgrows the first ROIs. Returns the image, the truth, the mass's centre (LPS mm)
    and its semi-axes (mm)."""
    spacing = np.array([0.8, 0.8, thickness_mm])
    extent = np.array([260.0, 260.0, 120.0])
    g, x, y, z = _grid(extent, spacing)
    c = extent / 2
    hu = np.full(x.shape, -1000.0)
    hu[(x - c[0]) ** 2 + (y - c[1]) ** 2 <= 95.0**2] = -100.0
    hu[(x - c[0]) ** 2 + (y - c[1]) ** 2 <= 85.0**2] = 50.0
    axes = np.array([40.0, 22.0, 25.0])
    centre = np.array([c[0] + 85.0 - 10.0 - axes[0], c[1], c[2]])
    mass = (((x - centre[0]) / axes[0]) ** 2 + ((y - centre[1]) / axes[1]) ** 2
            + ((z - centre[2]) / axes[2]) ** 2 <= 1)
    hu[mass] = lesion_hu
    return Volume(_scanned(hu, spacing, 0.8, 12.0, 4), g), Volume(mass.astype(np.uint8), g), \
        centre, axes


def oval_nodule(length_mm: float, width_mm: float, thickness_mm: float = 2.5):
    """Lung (-850 HU) with one oval nodule (30 HU), an ellipsoid ``length_mm`` long along
    x and ``width_mm`` across in y and z, at the centre; 0.7 mm pixels, noise SD 20 HU.
    Returns the image, the truth and the nodule's centre (LPS mm)."""
    spacing = np.array([0.7, 0.7, thickness_mm])
    extent = np.array([length_mm + 50, width_mm + 50, width_mm + 40])
    g, x, y, z = _grid(extent, spacing)
    c, axes = extent / 2, np.array([length_mm, width_mm, width_mm]) / 2
    nodule = (((x - c[0]) / axes[0]) ** 2 + ((y - c[1]) / axes[1]) ** 2
              + ((z - c[2]) / axes[2]) ** 2 <= 1)
    hu = np.where(nodule, 30.0, -850.0)
    return Volume(_scanned(hu, spacing, 0.8, 20.0, 5), g), Volume(nodule.astype(np.uint8), g), c


def two_lobed_nodule(gap_mm: float = 14.0, neck_mm: float = 6.0):
    """Lung (-850 HU) with a nodule (30 HU) of two lobes, 14 and 12 mm across, their
    centres ``gap_mm`` apart along x, joined by a neck ``neck_mm`` across; 0.7 mm pixels,
    1.25 mm slices, noise SD 20 HU. Returns the image, the truth, the larger lobe's
    centre and the smaller's (LPS mm)."""
    spacing = np.array([0.7, 0.7, 1.25])
    extent = np.array([gap_mm + 56, 50.0, 40.0])
    g, x, y, z = _grid(extent, spacing)
    c = extent / 2
    offset = np.array([gap_mm / 2, 0.0, 0.0])
    large, small = c - offset, c + offset
    nodule = (((x - large[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 <= 7.0**2)
              | ((x - small[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 <= 6.0**2)
              | (((y - c[1]) ** 2 + (z - c[2]) ** 2 <= (neck_mm / 2) ** 2)
                 & (np.abs(x - c[0]) <= gap_mm / 2)))
    hu = np.where(nodule, 30.0, -850.0)
    return (Volume(_scanned(hu, spacing, 0.8, 20.0, 3), g), Volume(nodule.astype(np.uint8), g),
            large, small)
