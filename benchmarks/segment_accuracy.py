"""Segmentation accuracy on every labelled real lesion in ../shared/data.

Prompts per lesion: the label's deepest point, three random points in its inner half,
its long-axis line and the box around it on that line's slice. Prints Dice, long/short-
axis errors and time per prompt, then the summary against the goals (median Dice >= 0.85;
long axis within 10% for >= 90%) over the prompts the goals name (all but the box), the
clicks' spread per lesion (goal: within 5% of each other) and per kind of prompt. Then the
same for every prompted lesion of the sample cohort, against the generator's exact masks.
With ``--correct N``, every result outside 10% or below Dice 0.8 gets up to N correction
clicks, one at a time, as a reader would give them in the review: at the deepest point of
the largest error, outside (the part that is not the lesion) or inside (the part missed).
With ``--rim``, every result (good ones too) with a part outside the truth at least 1.5 mm
deep gets one outside click at that part's deepest point: such a click on a rim or a leak
must take it and not the lesion (``--correct`` only clicks on results already missed).
Where the label is a consensus of readers whose own outlines are at hand (LIDC: 4 and 2
readers), the readers' agreement with each other is printed beside ours with each of them.

Usage: python benchmarks/segment_accuracy.py [--clicks N] [--correct N] [--rim] [--sample DIR]
"""

from __future__ import annotations

import argparse
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from imaging.io import load_image, read_image_file
from imaging.measure import measure_mask
from imaging.segment import segment
from imaging.segment.evaluation import (
    dice,
    evaluate,
    evaluate_rim,
    label_prompts,
    missed,
    pairwise_dice,
    reader_outlines,
    spread_pct,
)
from sample_dicom import generate
from sample_dicom.truth import prompted_lesions

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "lesions"


def cases(tmp: Path):
    yield "lidc_idri_0001", SHARED / "lidc_idri_0001", \
        SHARED / "lidc_idri_0001/labels_pylidc/nodule1_consensus50.nrrd"
    with tarfile.open(SHARED / "lidc_idri_0002/LIDC-IDRI-0002.tar.xz") as tar:
        tar.extractall(tmp, filter="data")
    yield "lidc_idri_0002", tmp, SHARED / "lidc_idri_0002/labels_pylidc/nodule1_consensus50.nrrd"
    yield "pyradiomics_lung1", SHARED / "pyradiomics_lung1/lung1_image.nrrd", \
        SHARED / "pyradiomics_lung1/lung1_label.nrrd"
    for n in (1, 2, 3):
        d = SHARED / f"mirp_sts_00{n}"
        yield f"mirp_sts_00{n}", d / "ct_image.nii.gz", d / "gtv_mask.nii.gz"


def _table(rows: list) -> None:
    print(f"{'lesion':18s} {'prompt':8s} {'Dice':>5s} {'long':>6s} {'ref':>6s} {'err%':>7s} "
          f"{'short':>6s} {'ref':>6s} {'err%':>7s} {'s':>5s}")
    for r in rows:
        if r.error:
            print(f"{r.case:18s} {r.prompt:8s} refused: {r.error}")
            continue
        print(f"{r.case:18s} {r.prompt:8s} {r.dice:5.3f} {r.long_mm:6.1f} {r.ref_long_mm:6.1f} "
              f"{r.long_error_pct:+7.1f} {r.short_mm:6.1f} {r.ref_short_mm:6.1f} "
              f"{r.short_error_pct:+7.1f} {r.seconds:5.2f}"
              f"{'  bounded by what was drawn' if r.bounded else ''}")


def _summary(rows: list) -> None:
    """The goals over the prompts they name (all but the box), the clicks' spread per
    lesion and the figures per kind of prompt."""
    goal = [r for r in rows if r.prompt != "box"]
    dices = [r.dice for r in goal]
    measured = [r for r in goal if not r.error]
    within = sum(abs(r.long_error_pct) <= 10 for r in measured)
    print(f"\nprompts (the box left out): {len(goal)}, refused: {len(goal) - len(measured)}")
    print(f"median Dice {np.median(dices):.3f} (goal >= 0.85); long axis within 10%: "
          f"{within} of {len(goal)} prompts, {100 * within / len(goal):.0f}% (goal >= 90%; "
          f"a refused prompt counts as missed; {within} of the {len(measured)} measured)")
    bounded = [r for r in measured if r.bounded]
    if bounded:
        print(f"  of them {len(bounded)} bounded by the drawn line (the image gives no edge: "
              f"the long axis is the reader's): "
              + ", ".join(f"{r.case} {r.prompt} {r.long_error_pct:+.1f}%" for r in bounded))
    spreads = []
    for case in dict.fromkeys(r.case for r in rows):
        lengths = [r.long_mm for r in rows if r.case == case and not r.error
                   and r.prompt not in ("line", "box")]
        spreads.append(f"{case} {spread_pct(lengths):.1f}%" if lengths else f"{case} all refused")
    print("clicks' spread, the longest long axis over the shortest from the deepest point and "
          "the inner-half clicks (goal <= 5%): " + ", ".join(spreads))
    for kind in ("deepest", "line", "box"):
        sub = [r for r in rows if r.prompt == kind]
        print(f"  {kind:8s}: median Dice {np.median([r.dice for r in sub]):.3f}, within 10%: "
              f"{sum(abs(r.long_error_pct) <= 10 for r in sub if not r.error)}/{len(sub)}")


def _corrections(rows: list, corrected: list, most: int) -> None:
    """The corrected results and how many correction clicks each miss needed."""
    print(f"\ncorrection clicks (up to {most}) on each result outside 10% or below Dice 0.8:")
    _table(corrected)
    misses = [r for r in rows if missed(r) and not r.error]
    fixed = {n: 0 for n in range(1, most + 1)}
    for r in misses:
        for n in range(1, most + 1):
            after = [c for c in corrected if (c.case, c.prompt) == (r.case, f"{r.prompt}+{n}")]
            if after and not missed(after[0]):
                fixed[n] += 1
                break
    done = ", ".join(f"{fixed[n]} after {n}" for n in fixed)
    print(f"  {len(misses)} results missed (refused prompts left out): {done}; "
          f"{len(misses) - sum(fixed.values())} still missed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clicks", type=int, default=0, metavar="N",
                        help="then N more random inner-half clicks per lesion (another "
                             "draw): how often a click anywhere in it gives the lesion")
    parser.add_argument("--correct", type=int, default=0, metavar="N",
                        help="up to N correction clicks for each result outside 10%% or "
                             "below Dice 0.8")
    parser.add_argument("--rim", action="store_true",
                        help="one outside click on each result's largest part outside the "
                             "truth (at least 1.5 mm deep): Dice before and after, truth lost")
    parser.add_argument("--sample", type=Path, metavar="DIR",
                        help="the sample cohort (caliper sample DIR) to check too; by default "
                             "one is generated in a temporary folder (about 35 s)")
    args = parser.parse_args()
    rows, more, rim, readers = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, image_path, label_path in cases(Path(tmp)):
            image = load_image(image_path)
            label = read_image_file(label_path)
            label = label.with_array((label.array > 0).astype(np.uint8))
            rows += evaluate(name, image, label, box=True, corrections=args.correct)
            if args.clicks:
                more += evaluate(name, image, label, random_points=args.clicks, seed=1,
                                 inner_only=True)
            if args.rim:
                rim += evaluate_rim(name, image, label, box=True)
            readers += _readers(name, image, label, reader_outlines(label_path.parent))
    corrected = [r for r in rows if "+" in r.prompt]
    rows = [r for r in rows if "+" not in r.prompt]
    _table(rows)
    _summary(rows)
    if args.correct:
        _corrections(rows, corrected, args.correct)
    if more:
        print(f"\n{args.clicks} more inner-half clicks per lesion (seed 1):")
        _table(more)
        for case in dict.fromkeys(r.case for r in more):
            sub = [r for r in more if r.case == case]
            ok = [r for r in sub if not r.error]
            errors = [r.long_error_pct for r in ok]
            span = (f"long axis {min(errors):+.1f} to {max(errors):+.1f}%, spread "
                    f"{spread_pct([r.long_mm for r in ok]):.1f}%, median Dice "
                    f"{np.median([r.dice for r in ok]):.3f}" if ok else "")
            print(f"  {case:18s} within 10%: {sum(abs(e) <= 10 for e in errors)}/{len(sub)}, "
                  f"refused {len(sub) - len(ok)}; {span}")
    if args.rim:
        _rim(rim, "real lesions")
    if readers:
        print("\nthe readers' own outlines (LIDC: the label is where at least half of them "
              "drew), Dice with each other and ours with each of them:")
        print("\n".join(readers))
    _sample_cohort(args.sample, args.rim)


def _readers(name: str, image, label, masks: dict[str, np.ndarray]) -> list[str]:
    """Each reader's outline against the consensus label (Dice, long axis), the readers'
    Dice with each other, and the Dice of our result (from the deepest point and the
    drawn line) with each reader: within their variability when as high as theirs."""
    if not masks:
        return []
    truth, long_mm = label.array != 0, measure_mask(label).long_axis_mm
    lines = [f"{name}: {len(masks)} readers; the consensus's long axis {long_mm:.1f} mm"]
    for reader, mask in masks.items():
        own = measure_mask(label.with_array(mask.astype(np.uint8))).long_axis_mm
        lines.append(f"  {reader:8s} Dice with the consensus {dice(mask, truth):.3f}, long axis "
                     f"{own:.1f} mm ({100 * (own / long_mm - 1):+.1f}%)")
    pairs = pairwise_dice(list(masks.values()))
    lines.append(f"  readers with each other: Dice {min(pairs):.3f} to {max(pairs):.3f}, "
                 f"median {np.median(pairs):.3f}")
    prompts = label_prompts(label)
    for kind in ("deepest", "line"):
        ours = segment(image, prompts[kind]).full_mask(image.geometry) != 0
        each = {reader: dice(ours, mask) for reader, mask in masks.items()}
        lines.append(f"  ours ({kind:7s}) with each reader: "
                     + ", ".join(f"{r} {d:.3f}" for r, d in each.items())
                     + f"; median {np.median(list(each.values())):.3f}")
    return lines


def _rim(rows: list, which: str) -> None:
    """The outside clicks on results' rims: each one, then how many made the result worse
    and how much of the truth they cost."""
    print(f"\none outside click on each result's rim or leak ({which}):")
    print(f"{'lesion':18s} {'prompt':8s} {'Dice':>5s} {'after':>6s} {'lost%':>6s} {'cut%':>6s}")
    for r in rows:
        print(f"{r.case:18s} {r.prompt:8s} {r.dice_before:5.3f} "
              + (f"refused: {r.error}" if r.error else
                 f"{r.dice_after:6.3f} {100 * r.truth_lost:6.1f} {100 * r.cut:6.1f}"))
    done = [r for r in rows if not r.error]
    if not done:
        return
    lost = [100 * r.truth_lost for r in done]
    change = [r.dice_after - r.dice_before for r in done]
    print(f"  {len(rows)} clicks, refused {len(rows) - len(done)}; worse by > 0.01 Dice: "
          f"{sum(c < -0.01 for c in change)}, better by > 0.01: {sum(c > 0.01 for c in change)}"
          f"; truth lost median {np.median(lost):.1f}%, worst {max(lost):.1f}%; Dice change "
          f"{min(change):+.3f} to {max(change):+.3f}")


def _sample_cohort(folder: Path | None, rim: bool = False) -> None:
    """The same prompts on every prompted lesion of the sample cohort, against the
    generator's exact masks (the cohort generated in a temporary folder unless given)."""
    where = str(folder) if folder else "generated in a temporary folder"
    with tempfile.TemporaryDirectory() as tmp:
        if folder is None:
            folder = Path(tmp)
            generate(folder)
        rows, rims = [], []
        for lesion in prompted_lesions(folder):
            rows += evaluate(lesion.name, lesion.image, lesion.label, nodal=lesion.nodal,
                             box=True)
            if rim:
                rims += evaluate_rim(lesion.name, lesion.image, lesion.label,
                                     nodal=lesion.nodal, box=True)
    print(f"\nsample cohort ({where}), against the generator's true masks:")
    _table(rows)
    _summary(rows)
    if rim:
        _rim(rims, "sample cohort")


if __name__ == "__main__":
    main()
