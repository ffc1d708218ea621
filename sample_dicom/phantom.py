"""An analytic CT phantom of the neck, chest, abdomen and pelvis, and its lesions.

Everything is defined in *body* coordinates (mm; LPS axes: +x patient left,
+y posterior, +z superior; z = 0 at the sternal notch). A visit places the
body in the scanner with a rigid pose (shift and small rotation); the image
is the phantom evaluated at each voxel centre mapped back into the body.

HU: air -1000, lung -860 (with vessels), fat -100, muscle 50, thyroid 110,
enhanced arteries 200 and veins 150, heart blood pool 150, liver 65,
spleen 55, pancreas 50, kidney cortex 160, cancellous bone 220, cortical
bone 750. Partial volume is a Gaussian blur of the sampled image, noise is
Gaussian (10-14 HU for a soft-tissue kernel, 35 HU for a lung kernel).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

__all__ = ["Lesion", "Pose", "acquire", "render"]


@dataclass(frozen=True)
class Pose:
    """Body -> scanner: p_scanner = R @ p_body + shift (rotation about z then x, degrees)."""

    shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0

    @property
    def rotation(self) -> np.ndarray:
        a, b = np.deg2rad(self.yaw_deg), np.deg2rad(self.pitch_deg)
        rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
        rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
        return rx @ rz

    def to_scanner(self, p: np.ndarray) -> np.ndarray:
        return np.asarray(p) @ self.rotation.T + np.asarray(self.shift_mm)

    def to_body(self, p: np.ndarray) -> np.ndarray:
        return (np.asarray(p) - np.asarray(self.shift_mm)) @ self.rotation


@dataclass(frozen=True)
class Lesion:
    """An irregular lesion: an ellipsoid whose radius is modulated by lobulation."""

    centre: tuple[float, float, float]
    semi_axes: tuple[float, float, float]
    hu: float
    lobes: tuple[tuple[float, int, float], ...] = field(default=())
    """(amplitude, order, phase): radius factor 1 + sum a sin(order * angle + phase)."""
    rim_hu: float | None = None
    """Enhancing rim (e.g. a necrotic node), else homogeneous."""
    halo_hu: float | None = None
    """Tissue around the lesion (3 mm), e.g. the fat a lymph node sits in."""

    def scaled(self, factor: float) -> Lesion:
        return Lesion(self.centre, tuple(a * factor for a in self.semi_axes), self.hu,
                      self.lobes, self.rim_hu, self.halo_hu)

    def grown(self, mm: float) -> Lesion:
        return Lesion(self.centre, tuple(a + mm for a in self.semi_axes), self.hu, self.lobes)

    def inside(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        cx, cy, cz = self.centre
        ax, ay, az = self.semi_axes
        dx, dy, dz = (x - cx) / ax, (y - cy) / ay, (z - cz) / az
        r = np.sqrt(dx * dx + dy * dy + dz * dz)
        angle = np.arctan2(dy, dx)
        elevation = np.arctan2(dz, np.hypot(dx, dy))
        factor = np.ones_like(r)
        for amplitude, order, phase in self.lobes:
            factor = factor + amplitude * np.sin(order * angle + phase) * np.cos(elevation)
        return r <= factor


def _ellipse(x, y, cx, cy, ax, ay):
    return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2


def _tube(x, y, z, a, b, radius):
    """Points within ``radius`` of the segment a-b."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = b - a
    t = np.clip(((x - a[0]) * d[0] + (y - a[1]) * d[1] + (z - a[2]) * d[2]) / (d @ d), 0, 1)
    return (x - a[0] - t * d[0]) ** 2 + (y - a[1] - t * d[1]) ** 2 + (
        z - a[2] - t * d[2]) ** 2 <= radius**2


def _lung_vessels(seed: int) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """A deterministic tree of vessel segments from each hilum."""
    rng = np.random.default_rng(seed)
    out = []
    for side in (-1, 1):
        hilum = np.array([side * 45.0, 0.0, -100.0])
        stack = [(hilum, np.array([side * 1.0, 0.0, 0.0]), 5.0, 0)]
        while stack:
            start, direction, radius, depth = stack.pop()
            length = rng.uniform(25, 40) * (0.8**depth)
            d = direction + rng.normal(0, 0.45, 3)
            d /= np.linalg.norm(d)
            end = start + d * length
            out.append((start, end, radius))
            if depth < 4:
                for _ in range(2):
                    stack.append((end, d, max(radius * 0.72, 1.0), depth + 1))
    return out


def _body_axes(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Semi-axes of the body's cross-section along z (neck narrow, trunk wide)."""
    w = 1 / (1 + np.exp((z - 5.0) / 6.0))  # 1 in the trunk, 0 in the neck
    ax = 62 + (160 - 62) * w
    ay = 58 + (112 - 58) * w
    return ax, ay


def render(shape_kji: tuple[int, int, int], index_to_lps, pose: Pose,
           lesions: list[Lesion], *, seed: int, chunk: int = 8
           ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Noise-free HU volume (float32, array [k, j, i]) and one boolean mask per lesion.

    ``index_to_lps`` maps (n, 3) voxel indices (i, j, k) to scanner LPS mm. The
    volume is painted in chunks of slices; each structure is only evaluated in
    the chunks its z extent reaches.
    """
    nk, nj, ni = shape_kji
    hu = np.empty(shape_kji, np.float32)
    masks = [np.zeros(shape_kji, bool) for _ in lesions]
    vessels = _lung_vessels(seed)
    j, i = np.meshgrid(np.arange(nj), np.arange(ni), indexing="ij")
    for k0 in range(0, nk, chunk):
        k1 = min(k0 + chunk, nk)
        kk = np.broadcast_to(np.arange(k0, k1)[:, None, None], (k1 - k0, nj, ni))
        idx = np.stack([np.broadcast_to(i, kk.shape), np.broadcast_to(j, kk.shape), kk], -1)
        body = pose.to_body(index_to_lps(idx.reshape(-1, 3).astype(float))).astype(np.float32)
        x, y, z = (body[:, n].reshape(kk.shape) for n in range(3))
        hu[k0:k1] = _paint(x, y, z, vessels)
        for n, lesion in enumerate(lesions):
            if max(lesion.semi_axes) <= 0:
                continue
            c, r = lesion.centre[2], 1.5 * max(lesion.semi_axes)
            if z.max() < c - r or z.min() > c + r:
                continue
            ax_, ay_ = _body_axes(z)
            m = lesion.inside(x, y, z) & (_ellipse(x, y, 0, 0, ax_, ay_) <= 1)
            block = hu[k0:k1]
            if lesion.halo_hu is not None:
                halo = lesion.grown(3.0).inside(x, y, z) & ~m
                block[halo & (block > -500)] = lesion.halo_hu
            if lesion.rim_hu is not None:
                block[m] = lesion.rim_hu
                block[m & lesion.scaled(0.7).inside(x, y, z)] = lesion.hu
            else:
                block[m] = lesion.hu
            masks[n][k0:k1] = m
    return hu, masks


def acquire(hu: np.ndarray, *, seed: int, kernel: str = "soft") -> np.ndarray:
    """Partial volume (Gaussian blur) and noise of a reconstruction kernel, as int16 HU."""
    blur = 0.6 if kernel == "soft" else 0.35
    out = ndimage.gaussian_filter(hu, sigma=(0.3, blur, blur))
    noise = 12.0 if kernel == "soft" else 35.0
    rng = np.random.default_rng(seed + (7 if kernel == "soft" else 11))
    out += rng.normal(0.0, noise, out.shape).astype(np.float32)
    return np.clip(np.rint(out), -1024, 3071).astype(np.int16)


def _paint(x: np.ndarray, y: np.ndarray, z: np.ndarray, vessels) -> np.ndarray:
    """The anatomy's HU at body points (x, y, z: arrays of one chunk)."""
    zlo, zhi = float(z.min()), float(z.max())

    def reaches(a: float, b: float) -> bool:
        return not (zhi < min(a, b) or zlo > max(a, b))

    hu = np.full(x.shape, -1000.0, np.float32)
    ax, ay = _body_axes(z)
    in_body = (_ellipse(x, y, 0, 0, ax, ay) <= 1) & (z > -680) & (z < 140)
    hu[in_body] = -100.0  # subcutaneous fat
    hu[in_body & (_ellipse(x, y, 0, 0, ax - 12, ay - 12) <= 1)] = 50.0  # muscle
    cavity = _ellipse(x, y, 0, 2, ax - 24, ay - 22) <= 1
    hu[in_body & cavity & (z < -8)] = 35.0  # mediastinum / abdominal soft tissue

    if reaches(-260, 0):
        lungs = np.zeros(x.shape, bool)
        for side in (-1, 1):
            lungs |= (_ellipse(x, y, side * 72, 8, 58, 82) + ((z + 130) / 125) ** 2 <= 1) & (
                _ellipse(x, y, 0, 2, ax - 26, ay - 24) <= 1)
        lungs &= ~(_ellipse(x, y, 12, -20, 42, 40) + ((z + 150) / 60) ** 2 <= 1)
        hu[lungs] = -860.0
        for a, b, r in vessels:
            if reaches(a[2] - r, b[2] + r) or reaches(b[2] - r, a[2] + r):
                hu[_tube(x, y, z, a, b, r) & lungs] = 120.0
    if reaches(-210, -90):
        heart = _ellipse(x, y, 12, -20, 45, 42) + ((z + 150) / 55) ** 2 <= 1
        hu[heart] = 60.0
        hu[heart & (_ellipse(x, y, 12, -20, 32, 30) + ((z + 150) / 42) ** 2 <= 1)] = 150.0
    for a, b, r, value in (
        ((5, -15, -150), (5, -15, -55), 14, 200.0),  # ascending aorta
        ((5, -15, -55), (22, 45, -60), 12, 200.0),  # arch
        ((22, 45, -60), (20, 45, -420), 12, 200.0),  # descending aorta
        ((-25, -10, -40), (-25, -10, -160), 10, 150.0),  # superior vena cava
        ((-26, 0, -35), (-26, 0, 120), 4.5, 200.0),  # carotids
        ((26, 0, -35), (26, 0, 120), 4.5, 200.0),
        ((-38, 2, -40), (-38, 2, 120), 6.5, 150.0),  # jugular veins
        ((38, 2, -40), (38, 2, 120), 6.5, 150.0),
    ):
        if reaches(a[2] - r, b[2] + r) or reaches(b[2] - r, a[2] + r):
            hu[_tube(x, y, z, a, b, r)] = value
    for a, b, r in (((0, -18, -75), (0, -18, 120), 9.0), ((0, -18, -75), (-35, -8, -105), 6.0),
                    ((0, -18, -75), (35, -8, -105), 6.0)):  # trachea and bronchi
        if reaches(min(a[2], b[2]) - r, max(a[2], b[2]) + r):
            hu[_tube(x, y, z, a, b, r + 2)] = 40.0
            hu[_tube(x, y, z, a, b, r)] = -1000.0
    hu[_tube(x, y, z, (6, 2, -260), (6, 2, 120), 6)] = 30.0  # oesophagus
    if reaches(20, 70):
        for side in (-1, 1):  # thyroid lobes
            hu[_ellipse(x, y, side * 18, -18, 9, 11) + ((z - 45) / 22) ** 2 <= 1] = 110.0
    if reaches(-400, -235):
        abdomen = z < -235
        hu[abdomen & (_ellipse(x, y, -55, 0, 95, 80) + ((z + 300) / 75) ** 2 <= 1)] = 65.0
        hu[abdomen & (_ellipse(x, y, 90, 40, 35, 50) + ((z + 290) / 50) ** 2 <= 1)] = 55.0
        hu[abdomen & (_ellipse(x, y, 10, 15, 55, 14) + ((z + 315) / 16) ** 2 <= 1)] = 50.0
        for side in (-1, 1):
            hu[_ellipse(x, y, side * 70, 45, 28, 28) + ((z + 345) / 55) ** 2 <= 1] = 160.0
    pelvis = z < -460
    if zlo < -460:
        hu[pelvis & in_body & cavity] = 30.0

    # spine: vertebral bodies every 25 mm with discs, canal, spinous processes
    below = z < 0
    body_r = np.where(below, 16.0, 10.0)
    cy = 50 + 10 * below
    vert = (_ellipse(x, y, 0, cy, body_r, body_r) <= 1) & (z > -600) & (z < 130)
    disc = np.abs(((z + 1000) % 25) - 12.5) > 10.5
    hu[vert] = 220.0
    hu[vert & ~(_ellipse(x, y, 0, cy, body_r - 2, body_r - 2) <= 1)] = 750.0
    hu[vert & disc] = 80.0
    hu[(_ellipse(x, y, 0, 78 + 8 * below, 8, 8) <= 1) & (z > -560) & (z < 130)] = 20.0
    hu[(np.abs(x) < 4) & (y > 88 + 8 * below) & (y < 105 + 15 * below) & ~disc & (z > -560)
       & (z < 130)] = 600.0

    if reaches(-400, -10):  # ribs (descending laterally)
        rim = np.sqrt(_ellipse(x, y, 0, 0, ax - 18, ay - 16))
        ribs = np.zeros(x.shape, bool)
        for level in range(-20, -300, -24):
            if reaches(level - 45, level + 5):
                ribs |= (np.abs(rim - 1) < 0.035) & (np.abs(z - (level - 0.25 * np.abs(x))) < 4.5)
        hu[ribs & (z < -10) & (z > -320)] = 600.0
    if reaches(-5, 25):
        for side in (-1, 1):  # clavicles
            hu[_tube(x, y, z, (side * 18, -45, 4), (side * 120, -5, 14), 7)] = 650.0
    hu[(np.abs(x) < 14) & (y > -112) & (y < -98) & (z < -12) & (z > -190)] = 400.0  # sternum
    if zlo < -460:  # iliac wings and sacrum
        for side in (-1, 1):
            wing = _ellipse(x, y, side * 85, 40, 18, 45) + ((z + 520) / 60) ** 2 <= 1
            hu[wing & in_body] = 450.0
        hu[_ellipse(x, y, 0, 75, 40, 16) + ((z + 540) / 60) ** 2 <= 1] = 300.0
    return hu
