"""Synthetic lesions with an exact truth, for the segmentation tests and the sweep
benchmark (``benchmarks/segment_sweep.py``): a liver lesion darker or brighter than
its organ, and a lung nodule free, on crossing vessels or flat on the chest wall. Each
is blurred as a scanner would (more across thick slices) and given Gaussian noise from
a fixed seed, so the same call gives the same image."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..geometry import Geometry
from ..volume import Volume

__all__ = ["liver_lesion", "lung_nodule"]


def liver_lesion(diameter_mm: float, lesion_hu: float, thickness_mm: float = 2.5):
    """A liver (100 HU) in fat with one ellipsoidal lesion (axes 1 : 0.8 : 0.9) of
    ``diameter_mm`` at its centre; 0.8 mm pixels, noise SD 15 HU. Returns the image, the
    truth, the lesion's centre (LPS mm) and its semi-axes (mm)."""
    spacing = np.array([0.8, 0.8, thickness_mm])
    extent = np.array([240.0, 240.0, 175.0]) if diameter_mm > 40 else np.array([120.0, 120, 80])
    size = tuple(int(n) for n in extent / spacing)
    g = Geometry(size, spacing, (0.0, 0.0, 0.0), np.eye(3))
    k, j, i = np.indices(tuple(reversed(size)))
    x, y, z = i * spacing[0], j * spacing[1], k * spacing[2]
    c = extent / 2
    hu = np.full(x.shape, -100.0)
    hu[((x - c[0]) / (c[0] - 10)) ** 2 + ((y - c[1]) / (c[1] - 15)) ** 2
       + ((z - c[2]) / (c[2] - 8)) ** 2 <= 1] = 100.0
    axes = diameter_mm / 2 * np.array([1.0, 0.8, 0.9])
    lesion = (((x - c[0]) / axes[0]) ** 2 + ((y - c[1]) / axes[1]) ** 2
              + ((z - c[2]) / axes[2]) ** 2 <= 1)
    hu[lesion] = lesion_hu
    hu = ndimage.gaussian_filter(hu, sigma=np.array([max(0.7, thickness_mm / 2), 0.7, 0.7])
                                 / spacing[::-1])
    hu += np.random.default_rng(1).normal(0, 15, hu.shape)
    return Volume(hu.astype(np.float32), g), Volume(lesion.astype(np.uint8), g), c, axes


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
    size = tuple(int(n) for n in extent / spacing)
    g = Geometry(size, spacing, (0.0, 0.0, 0.0), np.eye(3))
    k, j, i = np.indices(tuple(reversed(size)))
    x, y, z = i * spacing[0], j * spacing[1], k * spacing[2]
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
    hu = ndimage.gaussian_filter(hu, sigma=np.array([max(0.8, thickness_mm / 2), 0.8, 0.8])
                                 / spacing[::-1])
    hu += np.random.default_rng(3).normal(0, 20, hu.shape)
    return Volume(hu.astype(np.float32), g), Volume(nodule.astype(np.uint8), g)
