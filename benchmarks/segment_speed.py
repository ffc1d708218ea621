"""Segmentation speed: median time per lesion from prompt to measurement (goal < 1 s),
beside SimpleITK's ConfidenceConnected region growing on the same ROI as a reference.

Usage: python benchmarks/segment_speed.py
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from imaging.io import load_image, read_image_file
from imaging.segment import segment
from imaging.segment.evaluation import label_prompts

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "lesions"
CASES = [
    (SHARED / "lidc_idri_0001", SHARED / "lidc_idri_0001/labels_pylidc/nodule1_consensus50.nrrd"),
    (SHARED / "pyradiomics_lung1/lung1_image.nrrd", SHARED / "pyradiomics_lung1/lung1_label.nrrd"),
    (SHARED / "mirp_sts_002/ct_image.nii.gz", SHARED / "mirp_sts_002/gtv_mask.nii.gz"),
    (SHARED / "mirp_sts_003/ct_image.nii.gz", SHARED / "mirp_sts_003/gtv_mask.nii.gz"),
]


def main() -> None:
    ours, peer = [], []
    for image_path, label_path in CASES:
        image = load_image(image_path)
        label = read_image_file(label_path)
        label = label.with_array((label.array > 0).astype(np.uint8))
        for name, prompt in label_prompts(label).items():
            start = time.perf_counter()
            try:
                result = segment(image, prompt)
            except Exception:  # noqa: BLE001 - a refused prompt still counts its time
                result = None
            ours.append(time.perf_counter() - start)
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
            print(f"{image_path.parts[-1][:24]:24s} {name:8s} caliper {ours[-1]:6.3f} s   "
                  f"ConfidenceConnected {peer[-1]:6.3f} s")
    print(f"\nmedian per lesion: caliper {statistics.median(ours):.3f} s (goal < 1 s), "
          f"SimpleITK ConfidenceConnected {statistics.median(peer):.3f} s, ratio "
          f"{statistics.median(ours) / statistics.median(peer):.1f}")


if __name__ == "__main__":
    main()
