"""What a reader gives to segment a lesion: a click, a diameter drawn on one slice, or a
box drawn around it.

Prompts are LPS millimetres; voxel prompts are converted at the boundary.
Validation (inside the image) happens when a prompt meets a volume.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import PromptError
from ..geometry import Geometry

__all__ = ["BoxPrompt", "LinePrompt", "PointPrompt", "Prompt", "voxel_to_point"]


def _point(values: Sequence[float], what: str) -> tuple[float, float, float]:
    arr = np.asarray(values, dtype=float).reshape(-1)
    if arr.shape != (3,) or not np.all(np.isfinite(arr)):
        raise PromptError(f"{what} must be three finite LPS coordinates (mm), got {list(values)}")
    return (float(arr[0]), float(arr[1]), float(arr[2]))


def _midpoint(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    mid = (np.asarray(a, dtype=float) + np.asarray(b, dtype=float)) / 2
    return (float(mid[0]), float(mid[1]), float(mid[2]))


class _Clicks:
    """What every prompt shares: its correction clicks, checked, and its seeds (the
    prompt's point and the positive clicks)."""

    def _check_clicks(self) -> None:
        object.__setattr__(self, "positive", tuple(_point(p, "positive click")
                                                   for p in self.positive))
        object.__setattr__(self, "negative", tuple(_point(p, "negative click")
                                                   for p in self.negative))

    @property
    def seeds(self) -> list[tuple[float, float, float]]:
        return [self.point, *self.positive]


@dataclass(frozen=True)
class PointPrompt(_Clicks):
    """A click inside the lesion (LPS mm), with optional correction clicks."""

    point: tuple[float, float, float]
    positive: tuple[tuple[float, float, float], ...] = field(default=())
    negative: tuple[tuple[float, float, float], ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "point", _point(self.point, "point"))
        self._check_clicks()

    @property
    def expected_diameter_mm(self) -> float | None:
        return None


@dataclass(frozen=True)
class LinePrompt(_Clicks):
    """A diameter drawn across the lesion on one axial slice (both ends in LPS mm)."""

    start: tuple[float, float, float]
    end: tuple[float, float, float]
    positive: tuple[tuple[float, float, float], ...] = field(default=())
    negative: tuple[tuple[float, float, float], ...] = field(default=())

    def __post_init__(self) -> None:
        a, b = _point(self.start, "line start"), _point(self.end, "line end")
        if np.linalg.norm(np.subtract(a, b)) < 1.0:
            raise PromptError(f"line from {a} to {b} is shorter than 1 mm")
        object.__setattr__(self, "start", a)
        object.__setattr__(self, "end", b)
        self._check_clicks()

    @property
    def point(self) -> tuple[float, float, float]:
        return _midpoint(self.start, self.end)

    @property
    def expected_diameter_mm(self) -> float:
        return float(np.linalg.norm(np.subtract(self.end, self.start)))

    def central_points(self, n: int = 9, fraction: float = 0.5) -> np.ndarray:
        """Points along the central ``fraction`` of the line (lesion interior)."""
        t = np.linspace(0.5 - fraction / 2, 0.5 + fraction / 2, n)[:, None]
        return np.asarray(self.start) + t * (np.asarray(self.end) - np.asarray(self.start))


@dataclass(frozen=True)
class BoxPrompt(_Clicks):
    """A box drawn around the lesion: two opposite corners (LPS mm).

    The box is the one a viewer draws on the image's own grid: its sides run along the
    image's rows, columns and slices (for an oblique image, not along LPS x and y). With
    both corners on one slice it bounds the lesion in-plane only (drawn on the slice
    where the lesion is largest, it says nothing of the lesion's other slices); with
    corners on different slices it bounds the slices too. Its centre is the click."""

    corner_a: tuple[float, float, float]
    corner_b: tuple[float, float, float]
    positive: tuple[tuple[float, float, float], ...] = field(default=())
    negative: tuple[tuple[float, float, float], ...] = field(default=())

    def __post_init__(self) -> None:
        a, b = _point(self.corner_a, "box corner"), _point(self.corner_b, "box corner")
        if min(abs(a[0] - b[0]), abs(a[1] - b[1])) < 1.0:
            raise PromptError(f"box from {a} to {b} is narrower than 1 mm in-plane")
        object.__setattr__(self, "corner_a", a)
        object.__setattr__(self, "corner_b", b)
        self._check_clicks()

    @property
    def point(self) -> tuple[float, float, float]:
        return _midpoint(self.corner_a, self.corner_b)

    def bounds(self, geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
        """The box on ``geometry``'s grid: its lowest and highest continuous index (i, j,
        k); a box drawn on one slice spans that slice only. Raises :class:`PromptError`
        when a side is under a pixel."""
        a = np.asarray(geometry.lps_to_index(self.corner_a), dtype=float)
        b = np.asarray(geometry.lps_to_index(self.corner_b), dtype=float)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        if np.any(hi[:2] - lo[:2] < 1.0):
            raise PromptError(f"box from {self.corner_a} to {self.corner_b} mm is under a "
                              f"pixel wide in-plane ({np.round((hi - lo)[:2], 2).tolist()} "
                              "pixels)")
        return lo, hi

    @property
    def expected_diameter_mm(self) -> float:
        """The longest in-plane side (the grid's sides and LPS agree within an oblique
        image's small tilt): the lesion's long axis is at least about this long."""
        d = np.abs(np.subtract(self.corner_b, self.corner_a))
        return float(max(d[0], d[1]))


Prompt = PointPrompt | LinePrompt | BoxPrompt
DrawnPrompt = (LinePrompt, BoxPrompt)
"""Prompts that draw the lesion's size: the drawn size is the best evidence of its edge."""


def voxel_to_point(geometry: Geometry, index: Sequence[float]) -> tuple[float, float, float]:
    """(i, j, k) voxel indices (SimpleITK order) to LPS mm, checked to be in the image."""
    idx = np.asarray(index, dtype=float)
    if idx.shape != (3,) or np.any(idx < -0.5) or np.any(idx > np.asarray(geometry.size) - 0.5):
        raise PromptError(f"voxel {list(index)} is outside the image (size {list(geometry.size)})")
    p = geometry.index_to_lps(idx)
    return (float(p[0]), float(p[1]), float(p[2]))
