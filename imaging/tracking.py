"""Following lesions across timepoints: register each follow-up scan to baseline.

SimpleITK registration, in three steps:
1. rigid (Euler 3D), initialised by aligning the two bodies' centres of mass,
2. affine on top of it (whole scan), and
3. per lesion, a rigid refinement restricted to a box around the lesion.

Metric: Mattes mutual information on HU clipped to [-1000, 1000], with a
fixed random sampling of 2% (so results are repeatable); rigid at 1/4 and
1/2 resolution, affine at 1/2 (full resolution adds time, not accuracy).
A registration maps **baseline LPS points to follow-up LPS points**; only
points cross the boundary, never voxel indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from .volume import Volume

__all__ = ["Registration", "refine_locally", "register", "transform_from_dict",
           "transform_matrix", "transform_to_dict"]

SAMPLING = 0.02
SEED = 20231


@dataclass(frozen=True)
class Registration:
    """A transform from baseline LPS (mm) to follow-up LPS (mm), and its final metric."""

    transform: sitk.Transform
    metric: float

    def map_point(self, point) -> np.ndarray:
        return np.asarray(self.transform.TransformPoint([float(v) for v in point]))

    def inverse(self) -> Registration:
        """The follow-up's LPS back to baseline's (for a lesion first seen there)."""
        return Registration(self.transform.GetInverse(), self.metric)


def transform_to_dict(registration: Registration) -> dict:
    """A whole-scan (rigid or affine) registration as JSON-able parameters."""
    t = registration.transform
    return {"type": t.GetName(), "parameters": list(t.GetParameters()),
            "fixed_parameters": list(t.GetFixedParameters()),
            "metric": round(registration.metric, 5)}


def transform_from_dict(d: dict) -> sitk.Transform:
    t = sitk.AffineTransform(3) if d["type"] == "AffineTransform" else sitk.Euler3DTransform()
    t.SetFixedParameters(d["fixed_parameters"])
    t.SetParameters(d["parameters"])
    return t


def transform_matrix(t: sitk.Transform) -> np.ndarray:
    """4x4 homogeneous matrix (x, y, z) of a rigid or affine transform."""
    m = np.eye(4)
    m[:3, :3] = np.asarray(t.GetMatrix()).reshape(3, 3)
    centre = np.asarray(t.GetCenter())
    m[:3, 3] = np.asarray(t.GetTranslation()) + centre - m[:3, :3] @ centre
    return m


def _prepare(volume: Volume) -> sitk.Image:
    image = sitk.Cast(volume.to_sitk(), sitk.sitkFloat32)
    return sitk.Clamp(image, sitk.sitkFloat32, -1000.0, 1000.0)


def _method(shrink: tuple[int, ...], smooth: tuple[float, ...]) -> sitk.ImageRegistrationMethod:
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=48)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(SAMPLING, SEED)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=1e-4, numberOfIterations=200, relaxationFactor=0.6)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(list(shrink))
    method.SetSmoothingSigmasPerLevel(list(smooth))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    return method


def register(baseline: Volume, followup: Volume, *, affine: bool = True) -> Registration:
    """Whole-scan rigid (then affine) registration of ``followup`` to ``baseline``."""
    fixed, moving = _prepare(baseline), _prepare(followup)
    body_f = sitk.Cast(fixed > -500, sitk.sitkUInt8)
    body_m = sitk.Cast(moving > -500, sitk.sitkUInt8)
    initial = sitk.CenteredTransformInitializer(
        body_f, body_m, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS)
    method = _method((4, 2), (2.0, 1.0))
    method.SetInitialTransform(initial, inPlace=False)
    result = method.Execute(fixed, moving)
    if isinstance(result, sitk.CompositeTransform) or result.GetName() == "CompositeTransform":
        result = sitk.CompositeTransform(result).GetNthTransform(0)
    rigid = sitk.Euler3DTransform(result)
    metric = method.GetMetricValue()
    transform: sitk.Transform = rigid
    if affine:
        general = sitk.AffineTransform(3)
        general.SetCenter(rigid.GetCenter())
        general.SetMatrix(rigid.GetMatrix())
        general.SetTranslation(rigid.GetTranslation())
        method = _method((2,), (1.0,))
        method.SetInitialTransform(general, inPlace=True)
        method.Execute(fixed, moving)
        transform, metric = general, method.GetMetricValue()
    return Registration(transform, metric)


def _box(volume: Volume, centre_lps, half_mm: float) -> sitk.Image:
    """The clamped float image cropped to a box of ``half_mm`` around an LPS point."""
    g = volume.geometry
    corners = np.array([[dx, dy, dz] for dx in (-1, 1) for dy in (-1, 1) for dz in (-1, 1)])
    idx = g.lps_to_index(np.asarray(centre_lps, dtype=float) + half_mm * corners)
    lo = np.clip(np.floor(idx.min(axis=0)).astype(int), 0, np.asarray(g.size) - 1)
    hi = np.clip(np.ceil(idx.max(axis=0)).astype(int) + 1, lo + 1, np.asarray(g.size))
    crop = volume.array[lo[2]:hi[2], lo[1]:hi[1], lo[0]:hi[0]]
    sub = Volume(crop, g.with_(size=tuple(int(v) for v in hi - lo),
                               origin=g.index_to_lps(lo.astype(float))), volume.info)
    return _prepare(sub)


def refine_locally(baseline: Volume, followup: Volume, registration: Registration,
                   centre_lps, *, half_mm: float = 35.0) -> Registration:
    """Rigid refinement in a box of ``half_mm`` around a baseline point.

    Both images are cropped first (the follow-up to a box 20 mm larger around the
    globally mapped point), so the cost does not depend on the scan's size.
    """
    fixed = _box(baseline, centre_lps, half_mm)
    moving = _box(followup, registration.map_point(centre_lps), half_mm + 20.0)
    if min(fixed.GetSize()) < 4 or min(moving.GetSize()) < 4:
        return registration
    local = sitk.Euler3DTransform()
    local.SetCenter([float(v) for v in centre_lps])
    composite = sitk.CompositeTransform([registration.transform, local])
    method = _method((2, 1), (1.0, 0.0))
    method.SetOptimizerScales([1000.0, 1000.0, 1000.0, 1.0, 1.0, 1.0])  # radians vs mm
    method.SetMetricSamplingPercentage(0.25, SEED)
    method.SetInitialTransform(composite, inPlace=True)
    try:
        method.Execute(fixed, moving)
    except RuntimeError:  # too few samples in the box: keep the global result
        return registration
    return Registration(composite, method.GetMetricValue())
