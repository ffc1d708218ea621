"""Image geometry in DICOM patient coordinates (LPS, millimetres).

Conventions, named once here and used everywhere:

* **Frame**: LPS -- +x towards the patient's left, +y posterior, +z superior,
  the frame of ``ImagePositionPatient`` and of SimpleITK's physical points.
* **Index order**: ``(i, j, k)`` = (column, row, slice), SimpleITK's order.
  numpy arrays of a :class:`~imaging.volume.Volume` are indexed ``[k, j, i]``;
  only :mod:`imaging.volume` converts between the two.
* ``direction`` is a 3x3 matrix whose *columns* are the unit vectors of the
  i, j and k axes in LPS. A physical point is
  ``origin + direction @ (spacing * index)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import GeometryError

__all__ = [
    "AXIAL_TOLERANCE_DEG",
    "ORTHOGONALITY_TOLERANCE",
    "SPACING_RELATIVE_TOLERANCE",
    "Geometry",
    "normalize_spacing",
]

#: Direction cosines whose dot product is below this count as orthogonal.
ORTHOGONALITY_TOLERANCE = 1e-4
#: Consecutive slice gaps that differ by less than this fraction are uniform.
SPACING_RELATIVE_TOLERANCE = 0.01
#: A plane whose normal is within this angle of the z axis is "axial".
AXIAL_TOLERANCE_DEG = 5.0


def normalize_spacing(spacing: float | Sequence[float], ndim: int = 3) -> np.ndarray:
    """Return ``spacing`` as a float array of length ``ndim``, checked.

    A scalar means isotropic spacing. Raises :class:`GeometryError` naming the
    value when the length is wrong or an entry is not finite and positive.
    """
    arr = np.asarray(spacing, dtype=float)
    if arr.ndim == 0:
        arr = np.full(ndim, float(arr))
    if arr.shape != (ndim,):
        raise GeometryError(
            f"spacing must have {ndim} values (mm), got {list(np.atleast_1d(arr))}"
        )
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise GeometryError(f"spacing must be finite and positive (mm), got {arr.tolist()}")
    return arr


@dataclass(frozen=True, eq=False)
class Geometry:
    """The voxel grid of a 3D image: size, spacing, origin and direction (LPS mm).

    Valid once constructed: the shape is positive, spacing finite and
    positive, and the direction a rotation or reflection (orthonormal).
    """

    size: tuple[int, int, int]
    """Number of voxels along i, j, k."""
    spacing: np.ndarray
    """Voxel size along i, j, k in mm."""
    origin: np.ndarray
    """LPS position (mm) of the centre of voxel (0, 0, 0)."""
    direction: np.ndarray
    """3x3, columns are the i, j, k axes as LPS unit vectors."""

    def __post_init__(self) -> None:
        size = tuple(int(s) for s in self.size)
        if len(size) != 3 or min(size) < 1:
            raise GeometryError(f"size must be three positive integers, got {self.size}")
        origin = np.asarray(self.origin, dtype=float).reshape(3)
        direction = np.asarray(self.direction, dtype=float).reshape(3, 3)
        if not np.all(np.isfinite(origin)):
            raise GeometryError(f"origin must be finite, got {origin.tolist()}")
        gram = direction.T @ direction
        if not np.allclose(gram, np.eye(3), atol=ORTHOGONALITY_TOLERANCE * 10):
            raise GeometryError(
                f"direction must be orthonormal (columns = i, j, k axes), got {direction.tolist()}"
            )
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "spacing", normalize_spacing(self.spacing))
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "direction", direction)
        for name in ("spacing", "origin", "direction"):
            getattr(self, name).flags.writeable = False

    # -- transforms ---------------------------------------------------------
    @property
    def affine(self) -> np.ndarray:
        """4x4 matrix mapping homogeneous (i, j, k, 1) to LPS mm."""
        out = np.eye(4)
        out[:3, :3] = self.direction * self.spacing[None, :]
        out[:3, 3] = self.origin
        return out

    def index_to_lps(self, index: np.ndarray | Sequence[float]) -> np.ndarray:
        """Map continuous (i, j, k) indices, shape (3,) or (n, 3), to LPS mm."""
        idx = np.asarray(index, dtype=float)
        return idx @ (self.direction * self.spacing[None, :]).T + self.origin

    def lps_to_index(self, point: np.ndarray | Sequence[float]) -> np.ndarray:
        """Map LPS mm, shape (3,) or (n, 3), to continuous (i, j, k) indices."""
        pts = np.asarray(point, dtype=float) - self.origin
        return (pts @ self.direction) / self.spacing

    def contains_lps(self, point: Sequence[float], margin_voxels: float = 0.5) -> bool:
        """True when an LPS point falls inside the image (voxel centres +- margin)."""
        idx = self.lps_to_index(point)
        upper = np.asarray(self.size) - 1 + margin_voxels
        return bool(np.all(idx >= -margin_voxels) and np.all(idx <= upper))

    @property
    def slice_normal(self) -> np.ndarray:
        """Unit vector of the k axis (the slice stacking direction) in LPS."""
        return self.direction[:, 2]

    def is_axial(self, tolerance_deg: float = AXIAL_TOLERANCE_DEG) -> bool:
        """True when the k axis lies within ``tolerance_deg`` of the LPS z axis."""
        cos = abs(float(self.slice_normal[2]))
        return cos >= np.cos(np.deg2rad(tolerance_deg))

    def with_(self, **changes: object) -> Geometry:
        """A copy with some fields replaced."""
        fields = {
            "size": self.size,
            "spacing": self.spacing,
            "origin": self.origin,
            "direction": self.direction,
        }
        fields.update(changes)
        return Geometry(**fields)  # type: ignore[arg-type]

    def same_grid(self, other: Geometry, atol_mm: float = 1e-3) -> bool:
        """True when both geometries describe the same voxel centres."""
        return (
            self.size == other.size
            and np.allclose(self.spacing, other.spacing, atol=atol_mm)
            and np.allclose(self.origin, other.origin, atol=atol_mm)
            and np.allclose(self.direction, other.direction, atol=1e-5)
        )

    def to_dict(self) -> dict[str, list[float] | list[int]]:
        """JSON-ready summary (LPS mm; direction row-major, as SimpleITK)."""
        return {
            "size": list(self.size),
            "spacing_mm": [round(float(v), 6) for v in self.spacing],
            "origin_lps_mm": [round(float(v), 6) for v in self.origin],
            "direction": [round(float(v), 8) for v in self.direction.reshape(-1)],
        }
