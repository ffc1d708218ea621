"""A reader's outside (negative) correction clicks (see ``region_grow``, step 4): the
lesion is split between the clicks and the seeds along minimum-cost paths within it,
where a millimetre across an edge costs more, less each click's depth in the lesion."""

from __future__ import annotations

from functools import cache

import numpy as np
from scipy import ndimage
from skimage.graph import MCP_Geometric

from .voxels import _edt


def _split(image: np.ndarray, lesion: np.ndarray, sp: np.ndarray, seeds: list[np.ndarray],
           outside: list[np.ndarray], deepest: np.ndarray | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """The lesion split between its seeds and the reader's outside clicks: each voxel
    goes to the side of the click it is nearest, along paths within the lesion where a
    millimetre costs more across an edge (1 + the gradient over its median in the
    lesion), less that click's depth (its distance to the lesion's edge, at the lesion's
    median cost a millimetre): a split between the balls the clicks sit in, half-way
    between two clicks equally deep. A click on a thin rim beyond the lesion's edge so
    takes the rim: half-way to the lesion's middle, an outside click on a rim of muscle
    3.5 mm thick above a thigh sarcoma took its top (18% of it lost, Dice 0.889 -> 0.852;
    now 0.5%, 0.894); a click at the deepest point of what a result had beyond the true
    edge made 54 of 89 results worse (Dice down 0.01-0.08; real lesions and the sample
    cohort's), now none (the most lost: 2.7% of a lesion). The distance map's
    watershed, which splits broad contacts at their neck, gave a click in a leak without
    a neck a few voxels around it (a thigh sarcoma's 82 000). The lesion's ``deepest``
    point, when it falls on the seeds' side, seeds it too (a reader's click near the
    lesion's edge is not deep). Where the clicks do not all fall on their own side (an
    outside click deep in the lesion), the split is half-way along those paths."""
    grad = ndimage.gaussian_gradient_magnitude(image.astype(np.float32), sigma=1.0)
    cost = np.where(lesion, 1.0 + grad / max(float(np.median(grad[lesion])), 1e-3), np.inf)
    depth = _edt(lesion, sp) * float(np.median(cost[lesion]))

    @cache  # each point's paths once, for the weighted split and the half-way one
    def paths(point: tuple[int, ...]) -> np.ndarray:
        return MCP_Geometric(cost, sampling=tuple(sp)).find_costs([point])[0]

    def reach(points: list[np.ndarray], weighted: bool) -> np.ndarray:
        """The cost from the nearest of ``points``, less its depth when ``weighted``."""
        return np.min([paths(tuple(p)) - (depth[tuple(p)] if weighted else 0.0)
                       for p in points], axis=0)

    for weighted in (True, False):
        near, far = reach(seeds, weighted), reach(outside, weighted)
        if deepest is not None and near[tuple(deepest)] <= far[tuple(deepest)]:
            near = np.minimum(near, reach([deepest], weighted))
        theirs = lesion & (far < near)
        if all(theirs[tuple(p)] for p in outside):
            break
    return lesion & ~theirs, theirs
