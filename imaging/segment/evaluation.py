"""Checking a segmentation against a reference label: prompts made from the label, Dice,
and the RECIST axes' errors. Used by the accuracy benchmark and the tests."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..errors import CaliperError
from ..io import read_image_file
from ..measure import measure_mask
from ..volume import Volume
from .prompts import BoxPrompt, LinePrompt, PointPrompt, Prompt
from .region_grow import segment

__all__ = ["CaseResult", "RimResult", "corrective_click", "dice", "evaluate", "evaluate_rim",
           "label_prompts", "missed", "pairwise_dice", "reader_outlines", "rim_click",
           "spread_pct"]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    total = int(a.sum() + b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def pairwise_dice(masks: list[np.ndarray]) -> list[float]:
    """The Dice of every pair of ``masks`` (readers' outlines of one lesion: how well they
    agree with each other)."""
    return [dice(a, b) for n, a in enumerate(masks) for b in masks[n + 1:]]


def reader_outlines(folder: Path) -> dict[str, np.ndarray]:
    """Each reader's own outline of a consensus label, by annotation id: the
    ``*_ann<id>.nrrd`` masks beside the LIDC labels (none elsewhere)."""
    return {p.stem.rsplit("_", 1)[-1]: read_image_file(p).array > 0
            for p in sorted(folder.glob("*_ann*.nrrd"))}


def spread_pct(lengths: list[float]) -> float:
    """How far long axes from clicks on one lesion disagree (the issue's stability goal:
    within 5%): the longest over the shortest, less one, in %."""
    return 100.0 * (max(lengths) / min(lengths) - 1.0)


def label_prompts(label: Volume, *, random_points: int = 3, seed: int = 0, box: bool = False
                  ) -> dict[str, Prompt]:
    """The prompts a reader could give: the label's deepest point, random points in its
    inner half (distance to the edge >= half the largest), its long-axis line and, with
    ``box``, the box around it on the long axis's slice (through its outer voxels' outer
    faces, where a reader drawing tight would put it)."""
    mask = label.array != 0
    dist = ndimage.distance_transform_edt(mask, sampling=label.geometry.spacing[::-1])
    g = label.geometry
    deepest = np.unravel_index(int(np.argmax(dist)), dist.shape)
    prompts: dict[str, Prompt] = {
        "deepest": PointPrompt(tuple(g.index_to_lps(deepest[::-1])))
    }
    inner = np.argwhere(dist >= 0.5 * dist.max())
    rng = np.random.default_rng(seed)
    for n, row in enumerate(inner[rng.choice(len(inner), size=min(random_points, len(inner)),
                                             replace=False)]):
        prompts[f"inner{n + 1}"] = PointPrompt(tuple(g.index_to_lps(row[::-1])))
    m = measure_mask(label)
    prompts["line"] = LinePrompt(*m.long_axis_endpoints)
    if box:
        k = int(np.rint(g.lps_to_index(m.long_axis_endpoints[0])[2]))
        j, i = np.nonzero(mask[k])
        prompts["box"] = BoxPrompt(tuple(g.index_to_lps([i.min() - 0.5, j.min() - 0.5, k])),
                                   tuple(g.index_to_lps([i.max() + 0.5, j.max() + 0.5, k])))
    return prompts


@dataclass(frozen=True)
class CaseResult:
    case: str
    prompt: str
    dice: float
    long_mm: float
    ref_long_mm: float
    short_mm: float
    ref_short_mm: float
    seconds: float
    error: str = ""
    bounded: bool = False  # kept within its drawn line or box (no edge: the reader's axis)

    @property
    def long_error_pct(self) -> float:
        return 100.0 * (self.long_mm - self.ref_long_mm) / self.ref_long_mm

    @property
    def short_error_pct(self) -> float:
        return 100.0 * (self.short_mm - self.ref_short_mm) / self.ref_short_mm


def _deepest_error(error: np.ndarray, sampling) -> tuple[float, tuple[int, ...]]:
    """The largest connected part of ``error``: its deepest voxel and that depth (mm to
    its edge); ``(-1, ())`` when there is none."""
    labels, n = ndimage.label(error)
    if not n:
        return -1.0, ()
    largest = labels == 1 + int(np.argmax(ndimage.sum(error, labels, range(1, n + 1))))
    dist = ndimage.distance_transform_edt(largest, sampling=sampling)
    return float(dist.max()), np.unravel_index(int(np.argmax(dist)), dist.shape)


def _lps(geometry, index) -> tuple[float, ...]:
    return tuple(float(v) for v in geometry.index_to_lps(np.array(index[::-1], dtype=float)))


def corrective_click(mask: np.ndarray, truth: np.ndarray, geometry) -> tuple[str, tuple]:
    """Where a reader would click to correct a result: the deepest point (largest
    distance to its edge) of the largest error, the part outside the truth (an outside,
    negative click) or the part missed (an inside, positive one), whichever is deeper.
    Returns ``("negative" | "positive", LPS point)``."""
    sampling = geometry.spacing[::-1]
    best = (-1.0, "", (0, 0, 0))
    for sign, error in (("negative", mask & ~truth), ("positive", truth & ~mask)):
        depth, index = _deepest_error(error, sampling)
        if depth > best[0]:
            best = (depth, sign, index)
    return best[1], _lps(geometry, best[2])


def rim_click(mask: np.ndarray, truth: np.ndarray, geometry, min_depth_mm: float = 1.5
              ) -> tuple | None:
    """An outside click on the largest part of ``mask`` outside the truth, at its deepest
    point, when that part is at least ``min_depth_mm`` deep (a reader clicks on a rim of
    fat or a leak they can see, not on a one-voxel fringe; the depth is to the nearest
    voxel centre beyond it, so one slice too many on 5 mm slices is 5 mm deep: the slice
    above shows it); ``None`` otherwise. Unlike :func:`corrective_click` it is given to
    every result, good ones too: an outside click on a result's rim must not cost the
    lesion."""
    depth, index = _deepest_error(mask & ~truth, geometry.spacing[::-1])
    return _lps(geometry, index) if depth >= min_depth_mm else None


def missed(row: CaseResult) -> bool:
    """A result a reader would correct: long axis beyond 10% or Dice below 0.8."""
    return bool(row.error) or abs(row.long_error_pct) > 10 or row.dice < 0.8


def evaluate(name: str, image: Volume, label: Volume, *, nodal: bool = False,
             random_points: int = 3, box: bool = False, seed: int = 0,
             inner_only: bool = False, corrections: int = 0) -> list[CaseResult]:
    """Segment from every label prompt (``inner_only``: from the random inner-half
    points only); Dice and axis errors against the label. With ``corrections``, a
    result that :func:`missed` gets up to that many :func:`corrective_click` s, one at a
    time, each a row named after its prompt (``line+1``, ``line+2``...)."""
    import time

    reference = measure_mask(label, nodal=nodal)
    truth = label.array != 0
    rows = []
    prompts = label_prompts(label, random_points=random_points, seed=seed, box=box)
    for kind, prompt in prompts.items():
        if inner_only and not kind.startswith("inner"):
            continue
        for n in range(corrections + 1):
            start = time.perf_counter()
            name_n = f"{kind}+{n}" if n else kind
            try:
                result = segment(image, prompt, nodal=nodal)
            except CaliperError as exc:
                rows.append(CaseResult(name, name_n, 0.0, 0.0, reference.long_axis_mm, 0.0,
                                       reference.short_axis_mm, time.perf_counter() - start,
                                       str(exc)))
                break
            seconds = time.perf_counter() - start
            mask = result.full_mask(image.geometry)
            rows.append(CaseResult(name, name_n, dice(mask, truth),
                                   result.measurement.long_axis_mm, reference.long_axis_mm,
                                   result.measurement.short_axis_mm, reference.short_axis_mm,
                                   seconds,
                                   bounded=result.bounded_by is not None))
            if n == corrections or not missed(rows[-1]):
                break
            sign, point = corrective_click(mask != 0, truth, image.geometry)
            prompt = replace(prompt, **{sign: (*getattr(prompt, sign), point)})
    return rows


@dataclass(frozen=True)
class RimResult:
    """One :func:`rim_click` correction: Dice before and after, the share of the truth it
    lost and of the first result it cut."""
    case: str
    prompt: str
    dice_before: float
    dice_after: float = 0.0
    truth_lost: float = 0.0
    cut: float = 0.0
    error: str = ""


def evaluate_rim(name: str, image: Volume, label: Volume, *, nodal: bool = False,
                 box: bool = False, min_depth_mm: float = 1.5) -> list[RimResult]:
    """Every label prompt whose result has a part outside the label at least
    ``min_depth_mm`` deep gets one :func:`rim_click` there (refused prompts and results
    without such a part are left out)."""
    truth = label.array != 0
    rows = []
    for kind, prompt in label_prompts(label, box=box).items():
        try:
            first = segment(image, prompt, nodal=nodal).full_mask(image.geometry) != 0
        except CaliperError:
            continue
        point = rim_click(first, truth, image.geometry, min_depth_mm)
        if point is None:
            continue
        try:
            again = segment(image, replace(prompt, negative=(*prompt.negative, point)),
                            nodal=nodal).full_mask(image.geometry) != 0
        except CaliperError as exc:
            rows.append(RimResult(name, kind, dice(first, truth), error=str(exc)))
            continue
        rows.append(RimResult(name, kind, dice(first, truth), dice(again, truth),
                              int((truth & first & ~again).sum()) / int(truth.sum()),
                              1.0 - int(again.sum()) / int(first.sum())))
    return rows
