"""Find a known lesion again in a later scan, and say what is there when it is gone.

Given the lesion at its reference timepoint (its centre in baseline LPS, its
HU and size) and a registration of the later scan to baseline:

1. **Map** the centre: whole-scan registration, then a rigid refinement in a
   box around the lesion (:func:`imaging.tracking.refine_locally`).
2. **Look** around the mapped point (a ball of half the lesion's former long
   axis, at least 5 mm) for tissue like the lesion's: smoothed HU within
   ``max(3 SD, 50 HU)`` of the lesion's former median, in a connected piece of
   at least 15 mm^3 (noise and partial volume make smaller pieces).
3. **Segment** with the same method as at baseline from up to three seeds (the
   like-tissue voxel nearest the mapped point, and the deepest like-tissue
   points near it and in the whole ball), keep the lesion whose centre is
   nearest the mapped point, and flag what does not look like the same lesion
   (HU changed, far from the mapped point, more than 8 times its volume).

What is reported, and never invented:

* ``measured``: a lesion was segmented there; its measurement;
* ``too_small``: lesion-like tissue is there but smaller than 5 mm (or
  cannot be delineated); RECIST counts 5 mm;
* ``absent``: nothing like the lesion within the search ball;
* ``not_evaluated``: lesion-like tissue is there but no lesion can be
  separated from its surroundings.

Every result carries its evidence (mapped point, HU there, the lesion-like
volume found, the lesion's former HU and size) and review flags for what a
reader should confirm (every ``absent`` and ``too_small``, a large shift
from the mapped point, a lesion more than 8 times its former volume).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from .errors import PromptError
from .segment import PointPrompt, Segmentation, segment
from .tracking import Registration, refine_locally
from .volume import Volume

__all__ = ["FollowResult", "LesionReference", "follow_lesion", "lesion_like", "reference_of"]

TOO_SMALL_MM = 5.0
MIN_PIECE_MM3 = 15.0


@dataclass(frozen=True)
class LesionReference:
    """What is known of a lesion where it was first segmented (baseline LPS)."""

    lesion_id: str
    centre_lps: tuple[float, float, float]
    median_hu: float
    spread_hu: float
    long_axis_mm: float
    volume_ml: float
    nodal: bool = False
    surround_hu: float | None = None
    """Median HU of a 3 mm shell around the lesion (what it stood out from)."""

    @property
    def tolerance_hu(self) -> float:
        contrast = abs(self.median_hu - self.surround_hu) if self.surround_hu is not None else 0
        return max(3.0 * self.spread_hu, 50.0, 0.35 * contrast)


def reference_of(lesion_id: str, seg: Segmentation, volume: Volume, *, nodal: bool,
                 to_baseline: Registration | None = None) -> LesionReference:
    """The reference of a lesion just segmented on ``volume`` (``to_baseline`` maps
    that scan's points to baseline, for a lesion first seen at a follow-up)."""
    mask = seg.mask.array.astype(bool)
    sp = np.asarray(seg.mask.geometry.spacing, dtype=float)[::-1]
    shell = ndimage.distance_transform_edt(~mask, sampling=sp)
    ring = (shell > 0) & (shell <= 3.0)
    roi = volume.geometry.lps_to_index(seg.mask.geometry.origin)
    k0, j0, i0 = np.rint(roi[::-1]).astype(int)
    k, j, i = mask.shape
    block = volume.array[k0:k0 + k, j0:j0 + j, i0:i0 + i]
    surround = float(np.median(block[ring])) if ring.any() else None
    centre = seg.centre_lps
    if to_baseline is not None:
        centre = to_baseline.map_point(centre)
    m = seg.measurement
    return LesionReference(lesion_id, tuple(float(v) for v in centre),
                           float(seg.details["seed_median_hu"]),
                           float(seg.details["seed_spread_hu"]), m.long_axis_mm, m.volume_ml,
                           nodal, surround)


@dataclass
class FollowResult:
    status: str  # measured | too_small | absent | not_evaluated
    mapped_lps: tuple[float, float, float]
    segmentation: Segmentation | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    residual_mm: float | None = None
    """Distance from the mapped point to the found lesion's centre (mm)."""


def _ball_crop(volume: Volume, centre, radius_mm: float):
    g = volume.geometry
    sp = np.asarray(g.spacing, dtype=float)[::-1]  # k, j, i
    c = np.rint(g.lps_to_index(centre)).astype(int)[::-1]
    r = np.ceil(radius_mm / sp).astype(int) + 2
    shape = np.asarray(volume.array.shape)
    lo, hi = np.clip(c - r, 0, shape), np.clip(c + r + 1, 0, shape)
    block = volume.array[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]].astype(np.float32)
    kk, jj, ii = np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi, strict=True)),
                             indexing="ij")
    pts = g.index_to_lps(np.column_stack([ii.ravel(), jj.ravel(), kk.ravel()]).astype(float))
    dist = np.linalg.norm(pts - np.asarray(centre), axis=1).reshape(block.shape)
    return block, dist, pts.reshape((*block.shape, 3)), sp


def lesion_like(volume: Volume, centre, radius_mm: float, median_hu: float,
                tolerance_hu: float) -> dict[str, Any]:
    """Tissue like a lesion's (HU band) in a ball: the volume of the large enough
    connected pieces, seeds to segment from, and the median HU near the centre."""
    block, dist, pts, sp = _ball_crop(volume, centre, radius_mm)
    smooth = ndimage.gaussian_filter(block, sigma=np.minimum(1.0 / sp, 1.5))
    ball = dist <= radius_mm
    like = ball & (np.abs(smooth - median_hu) <= tolerance_hu)
    labels, n = ndimage.label(like)
    voxel_mm3 = float(np.prod(sp))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:] * voxel_mm3
    keep = np.flatnonzero(sizes >= MIN_PIECE_MM3) + 1
    near = dist <= 2.5
    out: dict[str, Any] = {
        "search_radius_mm": round(radius_mm, 1),
        "median_hu_at_point": round(float(np.median(smooth[near])) if near.any()
                                    else float("nan"), 1),
        "lesion_like_ml": round(float(sizes[keep - 1].sum()) / 1000.0 if keep.size else 0.0, 4),
    }
    if keep.size:
        mine = np.isin(labels, keep)
        nearest = np.unravel_index(np.argmin(np.where(mine, dist, np.inf)), dist.shape)
        out["nearest_distance_mm"] = round(float(dist[nearest]), 2)
        piece = labels == labels[nearest]
        out["piece_ml"] = round(float(piece.sum()) * voxel_mm3 / 1000.0, 4)
        # seeds: the like-tissue voxel nearest the centre, and the deepest points of
        # like tissue near the centre and in the whole ball (a point on the lesion's
        # edge would grow into what it touches; the caller keeps the best result)
        depth = ndimage.distance_transform_edt(mine, sampling=sp)
        seeds = [pts[nearest]]
        for reach in (max(0.5 * radius_mm, 3.0), radius_mm):
            score = np.where(mine & (dist <= reach), depth - 1e-3 * dist, -np.inf)
            best = np.unravel_index(np.argmax(score), dist.shape)
            if np.isfinite(score[best]):
                seeds.append(pts[best])
        unique: list[np.ndarray] = []
        for p in seeds:
            if all(np.linalg.norm(p - q) > 1.0 for q in unique):
                unique.append(p)
        out["seeds_lps"] = [tuple(round(float(v), 2) for v in p) for p in unique]
    return out


def follow_lesion(baseline: Volume, followup: Volume, registration: Registration,
                  ref: LesionReference, *, refine: bool = True) -> FollowResult:
    """Look for ``ref`` in ``followup`` (see the module docstring)."""
    local = (refine_locally(baseline, followup, registration, ref.centre_lps,
                            half_mm=max(35.0, ref.long_axis_mm)) if refine else registration)
    mapped = tuple(float(v) for v in local.map_point(ref.centre_lps))
    shift = float(np.linalg.norm(np.asarray(mapped) - registration.map_point(ref.centre_lps)))
    evidence: dict[str, Any] = {
        "mapped_lps": [round(v, 2) for v in mapped],
        "local_refinement_shift_mm": round(shift, 2),
        "former_median_hu": round(ref.median_hu, 1),
        "former_long_axis_mm": round(ref.long_axis_mm, 2),
        "former_volume_ml": round(ref.volume_ml, 4),
    }
    if not followup.geometry.contains_lps(mapped):
        evidence["reason"] = "the mapped point is outside the follow-up scan"
        return FollowResult("not_evaluated", mapped, evidence=evidence,
                            flags=["outside_scan"])
    radius = max(0.5 * ref.long_axis_mm, TOO_SMALL_MM)  # the former radius
    look = lesion_like(followup, mapped, radius, ref.median_hu, ref.tolerance_hu)
    evidence.update(look)
    if "seeds_lps" not in look:
        evidence["reason"] = (f"no tissue within {ref.tolerance_hu:.0f} HU of the lesion's former "
                              f"{ref.median_hu:.0f} HU within {radius:.1f} mm of the mapped point")
        return FollowResult("absent", mapped, evidence=evidence, flags=["confirm_absent"])
    seeds = look["seeds_lps"]
    tries: list[tuple[float, Segmentation]] = []
    failure = ""
    for seed in seeds:
        try:
            seg = segment(followup, PointPrompt(seed), nodal=ref.nodal)
        except PromptError as exc:
            failure = str(exc)
            continue
        tries.append((float(np.linalg.norm(seg.centre_lps - np.asarray(mapped))), seg))
    if not tries:
        small = look.get("piece_ml", 0.0) * 1000.0 < np.pi / 6 * TOO_SMALL_MM**3
        evidence["reason"] = f"segmentation failed: {failure}"
        if small:
            return FollowResult("too_small", mapped, evidence=evidence,
                                flags=["confirm_too_small"])
        return FollowResult("not_evaluated", mapped, evidence=evidence,
                            flags=["not_separable"])
    # of the seeds tried, the lesion whose centre is nearest the mapped point
    residual, seg = min(tries, key=lambda t: t[0])
    evidence["seeds_tried"] = len(tries)
    m = seg.measurement
    flags: list[str] = []
    evidence["found_median_hu"] = seg.details.get("seed_median_hu")
    if abs(float(seg.details.get("seed_median_hu", ref.median_hu)) - ref.median_hu) > \
            ref.tolerance_hu:
        flags.append("hu_changed")
    if ref.volume_ml > 0 and m.volume_ml > 8.0 * ref.volume_ml:
        flags.append("much_larger_check_leak")
    if residual > max(0.25 * ref.long_axis_mm, 4.0):
        flags.append("far_from_mapped_point")
    if m.long_axis_mm < TOO_SMALL_MM and not ref.nodal:
        evidence["reason"] = f"measured {m.long_axis_mm:.1f} mm, under {TOO_SMALL_MM:.0f} mm"
        return FollowResult("too_small", mapped, seg, evidence, ["confirm_too_small", *flags],
                            residual)
    return FollowResult("measured", mapped, seg, evidence, flags, residual)

