"""When a prompt is refused, and how the refusal reads (see ``region_grow``, step 3): a
clicked region that does not stand out from the tissue around it (a blob of noise, not a
lesion), a clicked tissue that runs on to the box's side (a larger box is tried first),
a larger box that found what surrounds a faint lesion, an inside click the lesion does
not hold. Each message names the point in LPS millimetres and what the reader can do
instead (after a click: draw the diameter or a box; an inside click: move or remove it)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import PromptError
from ..geometry import Geometry
from .prompts import DrawnPrompt, Prompt
from .voxels import (
    FAT_HU,
    SPREAD_FLOOR_HU,
    _component,
    _ring,
    _robust,
    _spacing_np,
    _touches_border,
)

STANDS_OUT = 2.0  # a region this many SDs from the ring around it is a lesion (a 6 mm
# lesion 2.4-2.6; a blob of noise in a sarcoma without contrast 1.2)
FAINT = 2.0  # a clicked region in soft tissue this few noise SDs from what surrounds it
# is no lesion (blobs of noise in a sarcoma without contrast: 0.5-1.4, 30 from 60 clicks; the
# sample cohort's lesions 3.2 and up, low-contrast thyroid masses 3.7-4.5, the real
# sarcomas with contrast 3.4-4.2, synthetic liver lesions of 6-35 mm 3.5 and up; a
# cohort node clicked as no node gave a thin streak inside it, 1.3, now refused)
SEED_SPLIT = 0.3  # a band bound nearer the seed's median than this times its spread
# (robust sigma) splits the clicked tissue itself: no lesion boundary (a blob of noise in
# a mass without contrast, 9 mm of a 90 mm sarcoma, had 0.11; real lesions 0.55 and up)


def _tissue_runs_on(smooth: np.ndarray, seeds: list[np.ndarray], median: float, spread: float,
                    lo: np.ndarray, full_shape: tuple[int, ...]) -> bool:
    """True when the clicked tissue (within 3 robust SDs of the seed's median, connected
    to the seeds) reaches a side of the ROI: the lesion may be larger than the ROI, its
    rays never left it (a 10 cm liver lesion clicked at its centre)."""
    tol = 3.0 * max(spread, SPREAD_FLOOR_HU)
    tissue = _component(np.abs(smooth - median) <= tol, seeds)
    return _touches_border(tissue, lo, full_shape)


def _stands_out(image: np.ndarray, region: np.ndarray) -> bool:
    """True when the region's median differs from that of the ring around it (two voxels
    in-plane) by >= STANDS_OUT robust SDs of either: a lesion, whatever the seed's median
    says (a 6 mm lesion clicked off-centre has half its organ in the seed's ball)."""
    ring = _ring(region)
    if not ring.any():
        return False
    (a, sa), (b, sb) = (_robust(image[m]) for m in (region, ring))
    return abs(a - b) >= STANDS_OUT * max(sa, sb, 1.0)


def _typical(image: np.ndarray, region: np.ndarray, median: float) -> bool:
    """True when the seed's median lies within the central 90% of the region's HU: the
    clicked tissue is what the region is made of."""
    low, high = np.percentile(image[region], [5.0, 95.0])
    return bool(low <= median <= high)


def _faint(image: np.ndarray, g: Geometry, lesion: np.ndarray) -> str | None:
    """Why a clicked region in soft tissue is no lesion, or None: its median lies within
    FAINT noise SDs of the median of what surrounds it (1.5 to 5 mm out, in-plane). Such
    a region is a fluctuation of one tissue cut out by a band bound near the click (a
    blob of noise and texture in a sarcoma without contrast), not a lesion with an edge.
    The noise is the robust SD of the image's detail finer than 1.5 mm over the region
    and its surroundings (not the tissues' spread: a node between fat, a vessel and
    muscle has surroundings spread wide). Lesions in lung (what surrounds them is below
    fat) are not checked: its texture is no noise."""
    sp = _spacing_np(g)
    pad = np.ceil(5.0 / sp).astype(int)
    pad[0] = 0
    crop = tuple(slice(max(s.start - n, 0), s.stop + n) for s, n in
                 zip(ndimage.find_objects(lesion.astype(np.uint8))[0], pad, strict=True))
    part, values = lesion[crop], image[crop]
    out = ndimage.distance_transform_edt(~part, sampling=(1e6, sp[1], sp[2]))  # in-plane
    around = (out > 1.5) & (out <= 5.0)
    if not around.any():
        return None
    a, b = float(np.median(values[part])), float(np.median(values[around]))
    detail = values - ndimage.gaussian_filter(values, sigma=np.minimum(1.5 / sp, 2.0))
    noise = max(_robust(detail[part | around])[1], 1.0)
    if b < FAT_HU or abs(a - b) >= FAINT * noise:
        return None
    return (f": the region found there (median {a:.0f} HU) does not stand out from the "
            f"tissue around it ({b:.0f} HU; the image's noise {noise:.0f} HU): a "
            "fluctuation within one tissue, not a lesion with an edge")


def _mm(point) -> tuple[float, ...]:
    """A point as the messages name it: LPS mm to 0.1 mm."""
    return tuple(round(float(v), 1) for v in point)


def _not_separable(prompt: Prompt, why: str) -> PromptError:
    """The refusal of a prompt, naming its point and why; a click's also says what a
    reader who sees a lesion there can do instead (a drawn line or box bounds a lesion
    the image gives no edge)."""
    advice = "" if isinstance(prompt, DrawnPrompt) else "; draw its diameter or a box instead"
    return PromptError(f"no lesion can be separated at {_mm(prompt.point)} mm{why}{advice}")


def _click_left_out(click, prompt: Prompt, hu: float, low: float, high: float) -> PromptError:
    """A reader's inside click that the lesion does not hold, and why."""
    if high >= 3000:  # a band open above or below
        band = f"above {low:.0f} HU"
    elif low <= -1000:
        band = f"below {high:.0f} HU"
    else:
        band = f"{low:.0f} to {high:.0f} HU"
    if low <= hu <= high:
        why = f"{hu:.0f} HU there, like the lesion's ({band}), but not joined to the region found"
    else:
        why = f"{hu:.0f} HU there; the lesion's are {band}"
    return PromptError(f"inside click {_mm(click)} mm is not part of the lesion at "
                       f"{_mm(prompt.point)} mm ({why}); move it or remove it")
