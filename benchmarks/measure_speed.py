"""Measurement speed: a 50 mm lesion at 0.7 mm spacing (goal: under 10 ms).

Caliper's measure_mask (long and short axis, volume, 3D diameter, fragments)
beside two references on the same ROI mask: scikit-image's
regionprops feret_diameter_max run on the lesion's largest slice only (its
3D version is isotropic-only), and the brute-force max pairwise distance of
boundary pixels over every slice (the definition, exact but slow).

Usage: python benchmarks/measure_speed.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy import ndimage
from skimage.measure import regionprops

from imaging.geometry import Geometry
from imaging.measure import measure_mask
from imaging.volume import Volume


def lesion(spacing: float = 0.7, diameter: float = 50.0) -> Volume:
    n = int(np.ceil((diameter + 10) / spacing))
    k, j, i = (np.indices((n, n, n)) - (n - 1) / 2) * spacing
    rng = np.random.default_rng(0)
    bumps = sum(rng.uniform(0.5, 2.0) * np.sin(f * np.arctan2(j, i) + rng.uniform(0, 6))
                for f in (3, 5, 7))
    r = np.sqrt((i / 1.0) ** 2 + (j / 0.8) ** 2 + (k / 0.7) ** 2)
    mask = (r <= diameter / 2 + bumps).astype(np.uint8)
    return Volume(mask, Geometry((n, n, n), spacing, (0, 0, 0), np.eye(3)))


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def brute_force(mask: np.ndarray, s: float) -> float:
    edge = mask & ~ndimage.binary_erosion(mask, ndimage.generate_binary_structure(2, 1)[None])
    best = 0.0
    for k in range(mask.shape[0]):
        jj, ii = np.nonzero(edge[k])
        if jj.size:
            p = np.column_stack([ii, jj]) * s
            best = max(best, float(np.sqrt(((p[:, None] - p[None]) ** 2).sum(-1)).max()))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    vol = lesion()
    mask = vol.array.astype(bool)
    m = measure_mask(vol)
    k = int(np.argmax(mask.sum(axis=(1, 2))))
    ours = timed(lambda: measure_mask(vol), args.repeat)
    feret = timed(lambda: regionprops(mask[k].astype(np.uint8))[0].feret_diameter_max,
                  args.repeat)
    brute = timed(lambda: brute_force(mask, 0.7), max(1, args.repeat // 10))
    print(f"lesion: {vol.geometry.size} voxels at 0.7 mm, long axis {m.long_axis_mm:.2f} mm, "
          f"short {m.short_axis_mm:.2f} mm (brute force {brute_force(mask, 0.7):.2f} mm)")
    print(f"  caliper measure_mask (all slices, both axes, volume): {1000 * ours:8.2f} ms "
          f"(goal < 10 ms)")
    print(f"  skimage feret_diameter_max (one slice only):           {1000 * feret:8.2f} ms")
    print(f"  brute force over every slice:                          {1000 * brute:8.2f} ms")
    print(f"  ratio caliper / skimage one-slice Feret: {ours / feret:5.2f}; "
          f"caliper / brute force: {ours / brute:5.3f}")


if __name__ == "__main__":
    main()
