"""What a drawn line or box says about the lesion (see ``region_grow``): how well a
candidate fits the drawn length (its chord along the line) or the box (the gaps to its
sides, its area outside), when a candidate cannot beat one already scored, and the
drawing as the only evidence of the lesion's extent when the image gives it no edge."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..geometry import Geometry
from .prompts import BoxPrompt, DrawnPrompt, LinePrompt, Prompt
from .rays import _edge_strength, _inplane_gradient
from .voxels import _component, _points

BOX_GAP = 0.25  # a reader's margin: a region's edges this far (x the box's longest side,
# two ends) inside a drawn box fit it
BOX_OUT = 0.1  # and its area outside the box this thick (a vessel's stubs)
LINE_RADIUS_MAX = 0.75  # a drawn lesion's edge lies this x the drawn length from its centre
# at most, along most rays (half the length 1.5 x: one twice as long across the slices as
# drawn lies 1.1 x), or it runs on where no line was drawn
LINE_OUTRUN = 1.2  # a drawn lesion without an edge running past this x the line is bounded
EDGELESS = 2.0  # an outline whose gradient is under this x the lesion's texture's: no edge


def _chord_mm(region: np.ndarray, g: Geometry, prompt: LinePrompt) -> float:
    """Length of the region along the drawn line's direction through its middle, between
    the centres of its end voxels (the convention of the measurement and of the drawn
    line): the run of samples falling in the region, less a voxel's extent along the
    line (a 10 mm nodule's run is 7% longer: the band at its blurred edge's half-way
    point lost to a tighter one)."""
    a, b = np.asarray(prompt.start), np.asarray(prompt.end)
    u = (b - a) / np.linalg.norm(b - a)
    t = np.arange(-1.5, 1.5, 0.01) * np.linalg.norm(b - a)
    idx = np.rint(g.lps_to_index((a + b) / 2 + t[:, None] * u)).astype(int)[:, ::-1]
    ok = np.all((idx >= 0) & (idx < np.array(region.shape)), axis=1)
    hit = np.zeros(len(t), bool)
    hit[ok] = region[tuple(idx[ok].T)]
    mid = len(t) // 2
    if not hit[mid]:
        return 0.0
    right = np.argmin(hit[mid:]) if not hit[mid:].all() else len(t) - mid
    left = np.argmin(hit[:mid + 1][::-1]) if not hit[:mid + 1].all() else mid + 1
    extent = float(np.abs(u @ g.direction[:, :2]) @ np.asarray(g.spacing[:2]))
    return max(float((right + left - 1) * (t[1] - t[0])) - extent, 0.0)


def _box_error_mm(region: np.ndarray, g: Geometry, prompt: BoxPrompt, box: np.ndarray
                  ) -> float:
    """How far the region lies from the drawn box beyond what a reader's margin explains,
    on the box's slice (a box drawn on one slice) or its slices (mm, summed over the box's
    two axes' two sides and halved: comparable to a drawn line's chord error, two ends).
    Two mismatches count: the gap between the outer edges of its part within the box
    (its end voxels' outer faces) and the box's sides, beyond BOX_GAP x the box's longest
    side (a reader draws around the lesion, not on it); and how far it runs out of the
    box (its area outside over the box's perimeter: a vessel's stubs little, a leak
    much), beyond BOX_OUT x that side. ``box``: its voxels (``_in_box``)."""
    lo, hi = prompt.bounds(g)
    k0, k1 = (np.rint((lo[2] + hi[2]) / 2),) * 2 if hi[2] - lo[2] < 1.0 else (lo[2], hi[2])
    ks = slice(max(int(np.ceil(k0 - 0.5)), 0), max(int(np.floor(k1 + 0.5)) + 1, 0))
    part, box = region[ks], box[ks]
    j, i = np.nonzero((part & box).any(axis=0))
    if not i.size:
        return np.inf
    edges = np.array([i.min() - 0.5, i.max() + 0.5, j.min() - 0.5, j.max() + 0.5])
    sides = np.array([lo[0], hi[0], lo[1], hi[1]])
    spacing = np.repeat(np.asarray(g.spacing[:2], dtype=float), 2)
    gap = float(np.sum(np.abs(edges - sides) * spacing) / 2)
    outside_mm2 = (part & ~box).sum() * float(np.prod(g.spacing[:2])) / part.shape[0]
    sides_mm = (hi - lo)[:2] * np.asarray(g.spacing[:2], dtype=float)
    out = outside_mm2 / float(np.sum(sides_mm))  # over the perimeter, two ends
    longest = float(np.max(sides_mm))
    return max(gap - BOX_GAP * longest, 0.0) + max(out - BOX_OUT * longest, 0.0)


def _drawn_score(region: np.ndarray, g: Geometry, prompt: Prompt, gradient: np.ndarray,
                 box: np.ndarray | None) -> float:
    """A drawn prompt's score of a candidate: minus its mismatch with what was drawn
    (mm): the chord's against the drawn line's length, or its extent's against the
    drawn box (``box``: its voxels). A box's candidates that fit it within a reader's
    margin score their edge strength (> 0), as a click's do: a box drawn loose would
    favour a leak filling it."""
    if isinstance(prompt, LinePrompt):
        return -abs(_chord_mm(region, g, prompt) - prompt.expected_diameter_mm)
    miss = _box_error_mm(region, g, prompt, box)
    return -miss if miss > 0 else _edge_strength(region, gradient)


def _cannot_win(region: np.ndarray, g: Geometry, prompt: Prompt, scores: list[float]
                ) -> bool:
    """Whether a line's candidate, before its cut at the pleural line, already loses to
    a candidate scored before: cut, a region's chord only shortens, so one shorter than
    the line and further from its length than the best so far stays behind it (the cut
    is skipped: each costs ~0.15 s, and a line on a lung nodule has about 7 candidates)."""
    if not isinstance(prompt, LinePrompt) or not scores:
        return False
    shortfall = prompt.expected_diameter_mm - _chord_mm(region, g, prompt)
    return shortfall >= 0 and -shortfall < max(scores)


def _in_box(shape: tuple[int, ...], g: Geometry, prompt: Prompt) -> np.ndarray | None:
    """The voxels whose centres lie in a drawn box (on every slice for a box drawn on one
    slice), or None for other prompts."""
    if not isinstance(prompt, BoxPrompt):
        return None
    lo, hi = prompt.bounds(g)
    eps = 1e-6
    k, j, i = (np.arange(n) for n in shape)
    ok_i = (i >= lo[0] - eps) & (i <= hi[0] + eps)
    ok_j = (j >= lo[1] - eps) & (j <= hi[1] + eps)
    ok_k = (np.ones_like(k, bool) if hi[2] - lo[2] < 1.0
            else (k >= lo[2] - 0.5) & (k <= hi[2] + 0.5))
    return ok_k[:, None, None] & ok_j[None, :, None] & ok_i[None, None, :]


def _bound_by_drawn(lesion: np.ndarray, image: np.ndarray, g: Geometry, prompt: DrawnPrompt,
                    seeds: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """A drawn lesion the image gives no edge to (the low-contrast candidate won, and
    the in-plane gradient on its outline is under EDGELESS x the median inside it: its
    texture's) that runs on past LINE_OUTRUN x what was drawn (the circle the line is the
    diameter of, around its middle; the ellipse inscribed in the box, on the image's
    grid): the drawing is then the only evidence of its extent, and the lesion is kept,
    on every slice, within that circle or ellipse (from a line, its long axis is at most
    the drawn length). Returns the lesion and the voxels cut (0: not bounded). A thigh
    sarcoma 6 HU darker than the muscle around it (outline 1.6 x its texture's gradient)
    came out 115 mm from a 90 mm line, and 109 mm from the box around it (its corners);
    a 20 mm nodule in lung drawn 12 mm across (3.4 x) is measured as the image shows it,
    and flagged by the batch."""
    k, j, i = np.nonzero(lesion)
    if isinstance(prompt, BoxPrompt):  # in the box's own frame, the grid's
        lo, hi = prompt.bounds(g)
        half = np.maximum((hi[:2] - lo[:2]) / 2, 0.5)
        centre = (lo[:2] + hi[:2]) / 2
        radial = np.hypot((i - centre[0]) / half[0], (j - centre[1]) / half[1])
    else:
        normal = g.direction[:, 2]
        offset = _points(lesion, g, indices=(k, j, i)) - np.asarray(prompt.point)
        radial = np.linalg.norm(offset - np.outer(offset @ normal, normal), axis=1) / (
            prompt.expected_diameter_mm / 2)
    if radial.max() <= LINE_OUTRUN:
        return lesion, 0
    gradient = _inplane_gradient(image, g)
    interior = ndimage.binary_erosion(lesion, structure=np.ones((1, 5, 5), bool))
    texture = float(np.median(gradient[interior if interior.any() else lesion]))
    if _edge_strength(lesion, gradient) >= EDGELESS * texture:
        return lesion, 0
    keep = np.zeros_like(lesion)
    inside = radial <= 1.0
    keep[k[inside], j[inside], i[inside]] = True
    keep = _component(keep, seeds)
    return keep, int(lesion.sum() - keep.sum())
