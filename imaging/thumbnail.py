"""A small PNG of one lesion on one axial slice: the CT in a window suited to the organ,
the segmentation's outline, and the long (yellow) and short (cyan) axes as measured.

Drawn with Pillow on the image's own pixels (nearest-neighbour enlargement, so a
reader sees what was measured, not a smoothed picture).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from skimage.segmentation import find_boundaries

from .io.atomic import atomic_path
from .volume import Volume

__all__ = ["WINDOWS", "lesion_thumbnail", "window_for"]

WINDOWS = {"lung": (-600.0, 1500.0), "soft": (40.0, 400.0), "bone": (400.0, 1800.0)}
"""Window presets: (level, width) in HU."""


def window_for(organ: str) -> str:
    organ = organ.lower()
    if "lung" in organ or "pulmon" in organ:
        return "lung"
    if "bone" in organ or "osse" in organ:
        return "bone"
    return "soft"


def lesion_thumbnail(volume: Volume, mask: np.ndarray | None, centre_lps, path: Path, *,
                     organ: str = "", axes: dict | None = None, radius_mm: float | None = None,
                     half_mm: float = 25.0, size: int = 160) -> Path:
    """Write the thumbnail around ``centre_lps`` (axial slice through it).

    ``mask`` is on the volume's grid (array [k, j, i], non-zero = this lesion) or None;
    ``axes`` holds ``long_axis_endpoints`` and ``short_axis_endpoints`` (LPS mm);
    ``radius_mm`` draws a dashed circle (where a lesion was looked for and not found).
    """
    g = volume.geometry
    i, j, k = np.rint(g.lps_to_index(centre_lps)).astype(int)
    k = int(np.clip(k, 0, volume.array.shape[0] - 1))
    sp = np.asarray(g.spacing[:2], dtype=float)
    hi, hj = (np.ceil(half_mm / sp)).astype(int)
    j0, j1 = max(j - hj, 0), min(j + hj + 1, volume.array.shape[1])
    i0, i1 = max(i - hi, 0), min(i + hi + 1, volume.array.shape[2])
    level, width = WINDOWS[window_for(organ)]
    tile = volume.array[k, j0:j1, i0:i1].astype(np.float32)
    grey = np.clip((tile - (level - width / 2)) / width * 255.0, 0, 255).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    if mask is not None:
        edge = find_boundaries(mask[k, j0:j1, i0:i1] > 0, mode="inner")
        rgb[edge] = (230, 60, 60)
    scale = size / max(rgb.shape[0], rgb.shape[1], 1)
    aspect = sp[1] / sp[0]  # row spacing over column spacing
    out = Image.fromarray(rgb).resize(
        (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale * aspect))),
        Image.NEAREST)
    draw = ImageDraw.Draw(out)

    def xy(point) -> tuple[float, float]:
        pi, pj, _ = g.lps_to_index(point)
        return ((pi - i0 + 0.5) * scale, (pj - j0 + 0.5) * scale * aspect)

    for key, colour in (("long_axis_endpoints", (255, 220, 0)),
                        ("short_axis_endpoints", (0, 220, 255))):
        if axes and axes.get(key):
            a, b = axes[key]
            draw.line([xy(a), xy(b)], fill=colour, width=2)
    if radius_mm:
        cx, cy = xy(centre_lps)
        r = radius_mm / sp[0] * scale
        for start in range(0, 360, 30):
            draw.arc([cx - r, cy - r, cx + r, cy + r], start, start + 15, fill=(255, 140, 0),
                     width=2)
    with atomic_path(path) as tmp:
        out.save(tmp, format="PNG", optimize=True)
    return path
