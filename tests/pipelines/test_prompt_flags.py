"""Review flags on a baseline lesion measured from its prompt."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from imaging.geometry import Geometry
from imaging.measure import measure_mask
from imaging.segment.evaluation import label_prompts
from imaging.segment.phantoms import liver_lesion
from imaging.volume import Volume
from pipelines.batch.prompts import LesionPrompt
from pipelines.batch.tasks import _prompt_record


def _nodule() -> Volume:
    """Lung (-850 HU) with a 20 mm nodule (30 HU) centred at (35, 35, 30) mm."""
    spacing = np.array([0.7, 0.7, 1.25])
    size = (100, 100, 48)
    g = Geometry(size, spacing, (0.0, 0.0, 0.0), np.eye(3))
    k, j, i = np.indices(tuple(reversed(size)))
    inside = ((i * 0.7 - 35) ** 2 + (j * 0.7 - 35) ** 2 + (k * 1.25 - 30) ** 2) <= 10.0**2
    hu = ndimage.gaussian_filter(np.where(inside, 30.0, -850.0), 0.8 / spacing[::-1])
    hu += np.random.default_rng(2).normal(0, 20, hu.shape)
    return Volume(hu.astype(np.float32), g)


def _row(end: tuple[float, float, float]) -> LesionPrompt:
    return LesionPrompt(line=2, patient_id="P", lesion_id="T1", role="target", organ="lung",
                        nodal=False, point=(2 * 35.0 - end[0], 35.0, 30.0), end=end)


def test_a_line_drawn_short_is_flagged_and_a_true_one_is_not():
    """The reader's line is the longest diameter: a 20 mm nodule measured from a line
    drawn 12 mm across it gets ``longer_than_drawn`` (its long axis is 16 mm: the
    candidate whose chord is nearest the line's length wins, yet it is no 12 mm lesion);
    from its own 19.6 mm diameter not."""
    volume = _nodule()
    short, _ = _prompt_record(_row((41.0, 35.0, 30.0)), volume, "prompt")
    assert short["status"] == "measured"
    assert short["long_axis_mm"] > 1.2 * 12.0  # the chord nearest 12 mm is still past it
    assert "longer_than_drawn" in short["review_flags"]
    row = _row((44.8, 35.0, 30.0))
    true, _ = _prompt_record(row, volume, "prompt")
    assert abs(true["long_axis_mm"] - 20.0) <= 1.5
    assert "longer_than_drawn" not in true["review_flags"]
    # the line is kept: the review's corrections re-segment from it
    assert true["prompt_line_lps"] == [list(row.point), list(row.end)]
    assert "prompt_box_lps" not in true


def test_a_box_is_measured_and_not_held_to_its_side():
    """A box around the 20 mm nodule, drawn 1 mm out: measured within a pixel of 20 mm,
    and not flagged ``longer_than_drawn`` (a box bounds the lesion; a lesion lying
    across a square box's diagonal is longer than its side)."""
    row = LesionPrompt(line=2, patient_id="P", lesion_id="T1", role="target", organ="lung",
                       nodal=False, point=(24.0, 24.0, 30.0), end=(46.0, 46.0, 30.0), box=True)
    record, _ = _prompt_record(row, _nodule(), "prompt")
    assert record["status"] == "measured"
    assert record["prompt"] == "box"
    assert "prompt_line_lps" not in record
    assert abs(record["long_axis_mm"] - 20.0) <= 1.0
    assert record["review_flags"] == []


def test_a_line_across_a_lesion_without_an_edge_bounds_it_and_says_so():
    """A 35 mm lesion only 15 HU brighter than the liver (noise 15 HU), on 5 mm slices,
    drawn across its long axis: the low-contrast region runs on past the line's ends
    (+18% without the bound). It is kept within the circle the line spans and flagged
    ``bounded_by_line`` (its long axis is then the reader's, not the image's)."""
    image, truth, _, _ = liver_lesion(35.0, 115.0, 5.0)
    line = label_prompts(truth)["line"]
    row = LesionPrompt(line=2, patient_id="P", lesion_id="T1", role="target", organ="liver",
                       nodal=False, point=line.start, end=line.end)
    record, seg = _prompt_record(row, image, "prompt")
    assert record["status"] == "measured"
    assert seg.details["bounded_by_line_voxels"] > 0
    assert record["review_flags"] == ["bounded_by_line"]
    assert record["long_axis_mm"] <= line.expected_diameter_mm + 0.01
    assert abs(record["long_axis_mm"] / measure_mask(truth).long_axis_mm - 1) <= 0.05
