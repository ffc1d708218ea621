"""Segmentation over synthetic lesions with an exact truth (imaging/segment/phantoms.py).

Liver lesions of 6-35 mm, 55 HU darker or 40 HU brighter than the liver, on 0.6, 1.25
and 5 mm slices, clicked at their centre or 0.4 of the way to their edge; faint ones
(10-35 mm, 20 HU darker or brighter) also from their long-axis line; lesions inside a
small organ bounded within a click's reach (a kidney, enhanced or not, and a thyroid
lobe), darker or brighter, on 1.25 and 5 mm slices, clicked at their centre or 0.4 out;
lung nodules
of 10-30 mm, free, on two crossing vessels or flat on the chest wall, on 0.6-5 mm
slices, from the deepest point, three random points in the inner half, the long-axis
line and the box around the nodule on that line's slice; oval nodules 12 mm across and
18-36 mm long (a spherical clamp had cut their poles) from the same prompts; an 8 cm
mass in the muscle of a limb, 35 HU darker or brighter, on 1.25-5 mm slices, clicked at
its centre or 0.3 and 0.6 of the way to either end (one end 10 mm from the fat under
the skin). Prints each case's long-axis error and Dice (marked ``<<<`` when outside 10%
or below Dice 0.8; ``bounded`` when the image gave a drawn lesion no edge and its line
or box bounded it), the clicks' spread per nodule, and how many cases fail.

Usage: python benchmarks/segment_sweep.py
"""

from __future__ import annotations

import itertools
import time

import numpy as np

from imaging.errors import PromptError
from imaging.measure import measure_mask
from imaging.segment import PointPrompt, segment
from imaging.segment.evaluation import dice, label_prompts, spread_pct
from imaging.segment.phantoms import (
    KIDNEY,
    THYROID_LOBE,
    limb_mass,
    liver_lesion,
    lung_nodule,
    off_centre,
    organ_lesion,
    oval_nodule,
)

ORGANS = {  # name: semi-axes, HU, the lesions' diameters and HU
    "kidney, enhanced": (KIDNEY, 150.0, (12.0, 20.0, 30.0), (10.0, 60.0, 220.0)),
    "kidney, unenhanced": (KIDNEY, 35.0, (12.0, 20.0, 30.0), (0.0, 80.0)),
    "thyroid lobe": (THYROID_LOBE, 110.0, (8.0, 12.0, 16.0), (40.0, 170.0)),
}


def _run(image, truth, prompt) -> tuple[float, float, bool] | None:
    """Long-axis error (%), Dice and whether the drawn line or box bounded the lesion (the image
    gave it no edge: its long axis is the reader's), or None when the prompt is refused."""
    try:
        res = segment(image, prompt)
    except PromptError:
        return None
    ref = measure_mask(truth).long_axis_mm
    return (100 * (res.measurement.long_axis_mm / ref - 1),
            dice(res.full_mask(image.geometry), truth.array),
            res.bounded_by is not None)


def _cell(name: str, result: tuple[float, float, bool] | None) -> tuple[str, bool]:
    if result is None:
        return f"{name} refused <<<", True
    error, d, bounded = result
    bad = abs(error) > 10 or d < 0.8
    marks = (" bounded" if bounded else "") + (" <<<" if bad else "")
    return f"{name} {error:+5.0f}% {d:.2f}{marks}", bad


def _nodule_row(image, truth) -> tuple[str, int, int]:
    """A nodule's row (the clicks' spread, then each prompt's cell), how many of its
    prompts fail and how many were run."""
    cells, lengths, failed = [], [], 0
    prompts = label_prompts(truth, random_points=3, seed=2, box=True)
    for name, prompt in prompts.items():
        result = _run(image, truth, prompt)
        text, bad = _cell(name, result)
        cells.append(text)
        failed += bad
        if result is not None and name not in ("line", "box"):
            lengths.append(1 + result[0] / 100)
    spread = spread_pct(lengths) if lengths else float("nan")
    return f"clicks' spread {spread:4.1f}%  | " + " | ".join(cells), failed, len(prompts)


def main() -> None:
    started = time.perf_counter()
    failed = total = 0
    print("liver lesions (one click)")
    for diameter, thickness, hu, offset in itertools.product(
            (6.0, 10.0, 20.0, 35.0), (0.6, 1.25, 5.0), (45.0, 140.0), (0.0, 0.4)):
        image, truth, centre, axes = liver_lesion(diameter, hu, thickness)
        click = PointPrompt(tuple(off_centre(centre, axes, offset)))
        text, bad = _cell("click", _run(image, truth, click))
        kind = "darker " if hu < 100 else "brighter"
        print(f"  {diameter:4.0f} mm  {thickness:4.2f} mm slices  {kind}  "
              f"off-centre {offset:.1f}  {text}")
        failed += bad
        total += 1
    print("faint liver lesions, 20 HU from the liver (a click at the centre, one 0.4 out, "
          "the long-axis line)")
    for diameter, thickness, hu in itertools.product((10.0, 20.0, 35.0), (1.25, 5.0),
                                                     (80.0, 120.0)):
        image, truth, centre, axes = liver_lesion(diameter, hu, thickness)
        prompts = {f"click {offset:.1f}": PointPrompt(tuple(off_centre(centre, axes, offset)))
                   for offset in (0.0, 0.4)}
        prompts["line"] = label_prompts(truth)["line"]
        cells = []
        for name, prompt in prompts.items():
            text, bad = _cell(name, _run(image, truth, prompt))
            cells.append(text)
            failed += bad
            total += 1
        kind = "darker " if hu < 100 else "brighter"
        print(f"  {diameter:4.0f} mm  {thickness:4.2f} mm slices  {kind}  | " + " | ".join(cells))
    print("lesions inside a small organ (a click at the centre, one 0.4 out)")
    for organ, (semi_axes, organ_hu, diameters, lesion_hus) in ORGANS.items():
        for diameter, hu, thickness in itertools.product(diameters, lesion_hus, (1.25, 5.0)):
            image, truth, centre, axes = organ_lesion(semi_axes, organ_hu, diameter, hu,
                                                      thickness)
            cells = []
            for offset in (0.0, 0.4):
                click = PointPrompt(tuple(off_centre(centre, axes, offset)))
                text, bad = _cell(f"click {offset:.1f}", _run(image, truth, click))
                cells.append(text)
                failed += bad
                total += 1
            print(f"  {organ:18s} {diameter:4.0f} mm  {hu:4.0f} HU  {thickness:4.2f} mm slices  | "
                  + " | ".join(cells))
    print("lung nodules (deepest point, three inner-half clicks, the long-axis line, its box)")
    for diameter, thickness, contact in itertools.product(
            (10.0, 20.0, 30.0), (0.6, 1.25, 2.5, 5.0), ("free", "vessels", "pleura")):
        image, truth = lung_nodule(diameter, thickness, contact)
        row, bad, n = _nodule_row(image, truth)
        failed, total = failed + bad, total + n
        print(f"  {diameter:4.0f} mm  {thickness:4.2f} mm slices  {contact:7s}  {row}")
    print("oval nodules, 12 mm across, 2.5 mm slices (the same prompts)")
    for length in (18.0, 24.0, 30.0, 36.0):
        image, truth, _ = oval_nodule(length, 12.0)
        row, bad, n = _nodule_row(image, truth)
        failed, total = failed + bad, total + n
        print(f"  {length:4.0f} mm long  {row}")
    print("masses in muscle (one click, along the long axis; + towards the skin)")
    for hu, thickness in itertools.product((15.0, 85.0), (1.25, 2.5, 5.0)):
        image, truth, centre, axes = limb_mass(hu, thickness)
        cells = []
        for offset in (-0.6, -0.3, 0.0, 0.3, 0.6):
            click = PointPrompt(tuple(centre + np.array([offset * axes[0], 0.0, 0.0])))
            text, bad = _cell(f"{offset:+.1f}", _run(image, truth, click))
            cells.append(text)
            failed += bad
            total += 1
        kind = "darker " if hu < 50 else "brighter"
        print(f"  {thickness:4.2f} mm slices  {kind}  | " + " | ".join(cells))
    print(f"\n{failed} of {total} outside 10% or below Dice 0.8 "
          f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
