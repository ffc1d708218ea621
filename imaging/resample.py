"""Resampling onto another spacing or onto another image's grid.

Images use linear or B-spline interpolation (the caller chooses). Label masks
never get new label values: ``"nearest"`` takes the nearest voxel, and
``"label"`` (the default for masks) resamples each label's indicator linearly
and gives every voxel the label with the largest share. A label that would
vanish that way (a structure thinner than the new voxels) keeps the voxels
where its share is at least half its largest share, so thin structures
survive a coarser grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import SimpleITK as sitk

from .errors import InputError
from .geometry import Geometry, normalize_spacing
from .volume import Volume

__all__ = [
    "ImageInterpolator",
    "MaskInterpolator",
    "resample_mask",
    "resample_to_geometry",
    "resample_to_spacing",
    "spacing_geometry",
]

ImageInterpolator = Literal["linear", "bspline", "nearest"]
MaskInterpolator = Literal["label", "nearest"]

_SITK_INTERPOLATORS = {
    "linear": sitk.sitkLinear,
    "bspline": sitk.sitkBSpline,
    "nearest": sitk.sitkNearestNeighbor,
}


def spacing_geometry(geometry: Geometry, spacing: float | Sequence[float]) -> Geometry:
    """The grid covering the same extent as ``geometry`` at a new ``spacing``.

    The first voxel centre stays where it is; the size is rounded so the new
    grid reaches at least as far as the old one's last voxel centre.
    """
    new = normalize_spacing(spacing)
    extent = (np.asarray(geometry.size) - 1) * geometry.spacing
    size = np.maximum(1, np.floor(extent / new + 1e-6).astype(int) + 1)
    return geometry.with_(size=tuple(int(s) for s in size), spacing=new)


def resample_to_geometry(
    volume: Volume,
    geometry: Geometry,
    *,
    interpolator: ImageInterpolator = "linear",
    default_value: float | None = None,
) -> Volume:
    """Resample an image onto ``geometry`` (outside voxels get ``default_value``,
    by default the image's minimum, i.e. air for CT)."""
    if interpolator not in _SITK_INTERPOLATORS:
        raise InputError(
            f"interpolator must be one of {sorted(_SITK_INTERPOLATORS)}, got {interpolator!r}"
        )
    fill = float(volume.array.min()) if default_value is None else float(default_value)
    out = _resample(volume, geometry, _SITK_INTERPOLATORS[interpolator], fill)
    return Volume.from_sitk(out, volume.info, volume.warnings)


def resample_to_spacing(
    volume: Volume,
    spacing: float | Sequence[float],
    *,
    interpolator: ImageInterpolator = "linear",
) -> Volume:
    """Resample an image to a new voxel spacing (mm), keeping origin and direction."""
    return resample_to_geometry(
        volume, spacing_geometry(volume.geometry, spacing), interpolator=interpolator
    )


def resample_mask(
    mask: Volume,
    geometry: Geometry,
    *,
    interpolator: MaskInterpolator = "label",
) -> Volume:
    """Resample a label mask onto ``geometry`` without inventing label values."""
    labels = [int(v) for v in np.unique(mask.array) if v != 0]
    dtype = mask.array.dtype if np.issubdtype(mask.array.dtype, np.integer) else np.uint16
    if interpolator == "nearest" or not labels:
        src = mask.with_array(mask.array.astype(np.uint16 if dtype == np.uint16 else dtype))
        out = _resample(src, geometry, sitk.sitkNearestNeighbor, 0.0)
        return Volume.from_sitk(out, mask.info, mask.warnings).with_array(
            sitk.GetArrayFromImage(out).astype(dtype)
        )
    if interpolator != "label":
        raise InputError(f"mask interpolator must be 'label' or 'nearest', got {interpolator!r}")
    shape = tuple(reversed(geometry.size))
    best = np.zeros(shape, dtype=np.float32)
    result = np.zeros(shape, dtype=dtype)
    shares: dict[int, np.ndarray] = {}
    # a coarser grid averages: smooth each indicator first (anti-aliasing, as skimage's
    # resize does) so that a voxel's share reflects what lies inside it, not one point
    factor = _spacing_in(geometry, mask.geometry) / mask.geometry.spacing
    sigma_mm = np.maximum(0.0, (factor - 1.0) / 2.0) * mask.geometry.spacing
    for label in labels:
        indicator = (mask.with_array((mask.array == label).astype(np.float32))).to_sitk()
        if np.any(sigma_mm > 0):
            indicator = sitk.SmoothingRecursiveGaussian(
                indicator, [float(max(s, 1e-3)) for s in sigma_mm]
            ) if np.all(sigma_mm > 0) else sitk.DiscreteGaussian(
                indicator, [float(s * s) for s in sigma_mm], 32, 0.01, True
            )
        share = sitk.GetArrayFromImage(
            _resample(Volume.from_sitk(indicator), geometry, sitk.sitkLinear, 0.0)
        )
        shares[label] = share
        take = (share > best) & (share >= 0.5 - 1e-6) | (share > best) & (best > 0)
        result[take] = label
        best = np.maximum(best, share)
    # background wins where the labels' largest share is below one half
    result[best < 0.5 - 1e-6] = 0
    for label, share in shares.items():
        if not np.any(result == label) and share.max() > 0:
            result[(share >= 0.5 * share.max()) & (result == 0)] = label
    return Volume(result, geometry, mask.info, mask.warnings)


def _spacing_in(target: Geometry, source: Geometry) -> np.ndarray:
    """The target's voxel size measured along the source's i, j, k axes (mm)."""
    axes = np.abs(source.direction.T @ target.direction) * target.spacing[None, :]
    return axes.max(axis=1)


def _resample(volume: Volume, geometry: Geometry, interpolator: int, fill: float) -> sitk.Image:
    reference = sitk.Image([int(s) for s in geometry.size], sitk.sitkUInt8)
    reference.SetSpacing([float(v) for v in geometry.spacing])
    reference.SetOrigin([float(v) for v in geometry.origin])
    reference.SetDirection([float(v) for v in geometry.direction.reshape(-1)])
    return sitk.Resample(
        volume.to_sitk(), reference, sitk.Transform(), interpolator, fill,
        sitk.sitkUnknown,
    )
