"""A 3D image: a numpy array plus its :class:`~imaging.geometry.Geometry`.

This is the only module that converts between numpy and SimpleITK. numpy
arrays are indexed ``[k, j, i]`` (slice, row, column); SimpleITK images and
every coordinate Caliper exchanges use ``(i, j, k)`` and LPS mm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import SimpleITK as sitk

from .errors import GeometryError
from .geometry import Geometry

__all__ = ["SeriesInfo", "Volume"]


@dataclass(frozen=True)
class SeriesInfo:
    """What the pipeline needs to know about the series a volume came from."""

    patient_id: str = ""
    patient_name: str = ""
    study_uid: str = ""
    study_date: str = ""
    """ISO 8601 (YYYY-MM-DD), or empty."""
    series_uid: str = ""
    series_number: int | None = None
    description: str = ""
    modality: str = ""
    slice_thickness_mm: float | None = None
    kernel: str = ""
    contrast: str = ""
    body_part: str = ""
    frame_of_reference_uid: str = ""
    manufacturer: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True, eq=False)
class Volume:
    """Voxel values (``array[k, j, i]``) on a geometry, with series metadata.

    ``warnings`` lists, in words, every correction the loader applied.
    """

    array: np.ndarray
    geometry: Geometry
    info: SeriesInfo = field(default_factory=SeriesInfo)
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        expected = tuple(reversed(self.geometry.size))
        if self.array.ndim != 3 or self.array.shape != expected:
            raise GeometryError(
                f"array shape {self.array.shape} does not match geometry size "
                f"{self.geometry.size} (array is indexed [k, j, i], expected {expected})"
            )

    # -- the one numpy <-> SimpleITK conversion ------------------------------
    def to_sitk(self) -> sitk.Image:
        """A SimpleITK image with the same voxels and geometry (copies)."""
        img = sitk.GetImageFromArray(self.array)
        img.SetSpacing([float(v) for v in self.geometry.spacing])
        img.SetOrigin([float(v) for v in self.geometry.origin])
        img.SetDirection([float(v) for v in self.geometry.direction.reshape(-1)])
        return img

    @classmethod
    def from_sitk(
        cls,
        image: sitk.Image,
        info: SeriesInfo | None = None,
        warnings: tuple[str, ...] = (),
    ) -> Volume:
        """Wrap a 3D SimpleITK image (2D images become one-slice volumes)."""
        if image.GetDimension() == 2:
            image = sitk.JoinSeries(image)
        if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
            raise GeometryError(
                f"expected a scalar 3D image, got dimension {image.GetDimension()} with "
                f"{image.GetNumberOfComponentsPerPixel()} components"
            )
        geometry = geometry_of(image)
        return cls(sitk.GetArrayFromImage(image), geometry, info or SeriesInfo(), warnings)

    def with_array(self, array: np.ndarray) -> Volume:
        """Same geometry and metadata, other voxels (e.g. a mask)."""
        return Volume(array, self.geometry, self.info, self.warnings)

    @property
    def nbytes(self) -> int:
        return int(self.array.nbytes)


def geometry_of(image: sitk.Image) -> Geometry:
    """The :class:`Geometry` of a 3D SimpleITK image."""
    return Geometry(
        size=image.GetSize(),
        spacing=image.GetSpacing(),
        origin=image.GetOrigin(),
        direction=np.asarray(image.GetDirection()).reshape(3, 3),
    )
