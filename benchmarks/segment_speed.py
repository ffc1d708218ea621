"""Segmentation speed: median time per lesion from prompt to measurement (goal < 1 s for
lesions up to 5 cm), beside SimpleITK's ConfidenceConnected region growing on the same
ROI as a reference.

Every labelled real lesion of ``benchmarks/segment_accuracy.py`` and every prompt a
reader gives (the deepest point, three inner-half clicks, the long-axis line, the box
around it). The median is over the lesions up to 6 cm (the goal's 5 cm and the two
5.3-5.5 cm sarcomas); the 9 cm one is printed, apart.

Usage: python benchmarks/segment_speed.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from segment_accuracy import cases

from imaging.io import load_image, read_image_file
from imaging.measure import measure_mask
from imaging.segment import segment
from imaging.segment.evaluation import label_prompts

LARGEST_MM = 60.0  # lesions up to this long axis count toward the median


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _run(Path(tmp))


def _run(tmp: Path) -> None:
    ours, peer, large = [], [], []
    for case, image_path, label_path in cases(tmp):
        image = load_image(image_path)
        label = read_image_file(label_path)
        label = label.with_array((label.array > 0).astype(np.uint8))
        counted = measure_mask(label).long_axis_mm <= LARGEST_MM
        for name, prompt in label_prompts(label, box=True).items():
            start = time.perf_counter()
            try:
                result = segment(image, prompt)
            except Exception:  # noqa: BLE001 - a refused prompt still counts its time
                result = None
            seconds = time.perf_counter() - start
            if not counted:
                large.append(seconds)
                print(f"{case:18s} {name:8s} caliper {seconds:6.3f} s   (over "
                      f"{LARGEST_MM:.0f} mm: not in the median)")
                continue
            ours.append(seconds)
            # ConfidenceConnected on the same region of interest, from the same seed
            roi = result.mask.geometry if result is not None else image.geometry
            lo = np.rint(image.geometry.lps_to_index(roi.origin)).astype(int)
            sub = image.to_sitk()[lo[0]:lo[0] + roi.size[0], lo[1]:lo[1] + roi.size[1],
                                  lo[2]:lo[2] + roi.size[2]]
            seed = sub.TransformPhysicalPointToIndex(prompt.point)
            start = time.perf_counter()
            sitk.ConfidenceConnected(sitk.Cast(sub, sitk.sitkFloat32), seedList=[seed],
                                     numberOfIterations=4, multiplier=2.5,
                                     initialNeighborhoodRadius=2, replaceValue=1)
            peer.append(time.perf_counter() - start)
            print(f"{case:18s} {name:8s} caliper {ours[-1]:6.3f} s   "
                  f"ConfidenceConnected {peer[-1]:6.3f} s")
    print(f"\nmedian per prompt, lesions up to {LARGEST_MM:.0f} mm ({len(ours)} prompts): "
          f"caliper {statistics.median(ours):.3f} s (goal < 1 s; slowest "
          f"{max(ours):.2f} s), SimpleITK ConfidenceConnected "
          f"{statistics.median(peer):.3f} s, ratio "
          f"{statistics.median(ours) / statistics.median(peer):.1f}")
    if large:
        print(f"larger lesions ({len(large)} prompts): median {statistics.median(large):.2f} s")


if __name__ == "__main__":
    main()
