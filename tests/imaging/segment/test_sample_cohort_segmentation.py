"""Segmentation of every prompted lesion of the sample cohort, against the generator's
exact truth. From the prompt sheet's click: the goal, every long axis within 10% (today
the largest error is 8.1%, a pancreatic lesion; the lung and bone lesions within 5%).
From a reader's prompts made from the true masks (as for the real lesions): Dice and
long axis."""

from __future__ import annotations

import numpy as np
import pytest

from imaging.segment import PointPrompt, segment
from imaging.segment.evaluation import evaluate, spread_pct
from sample_dicom.truth import PromptedLesion, prompted_lesions


@pytest.fixture(scope="module")
def lesions(sample) -> list[PromptedLesion]:
    """The 19 prompted lesions with their images and true masks, loaded once."""
    return list(prompted_lesions(sample))


def test_every_sample_lesion_from_its_prompt(lesions):
    errors: dict[str, list[float]] = {}
    for lesion in lesions:
        result = segment(lesion.image, PointPrompt(lesion.click), nodal=lesion.nodal)
        error = 100 * (result.measurement.long_axis_mm / lesion.truth["long_axis_mm"] - 1)
        errors.setdefault("node" if lesion.nodal else lesion.organ, []).append(error)
    assert sum(len(v) for v in errors.values()) == 19
    for kind in ("lung", "bone"):
        assert max(abs(e) for e in errors[kind]) <= 5.0, (kind, errors[kind])
    assert max(abs(e) for v in errors.values() for e in v) <= 10.0, errors


def test_every_sample_lesion_from_a_readers_prompts(lesions):
    """The issue's prompts on every prompted lesion, against the generator's true masks:
    the deepest point, three inner-half clicks and the long-axis line (and the box)."""
    rows = [row for lesion in lesions
            for row in evaluate(lesion.name, lesion.image, lesion.label, nodal=lesion.nodal,
                                box=True)]
    nodes = {lesion.name for lesion in lesions if lesion.nodal}
    assert len(rows) == 19 * 6
    assert [r for r in rows if r.error] == []
    goal = [r for r in rows if r.prompt != "box"]
    assert np.median([r.dice for r in goal]) >= 0.95  # 0.991 today (goal 0.85)
    within = sum(abs(r.long_error_pct) <= 10 for r in goal)
    assert within >= 0.97 * len(goal), within  # 93 of 95 today (goal 90%)
    lines = {r.case: r.long_error_pct for r in rows if r.prompt == "line"}
    # a line across a thyroid mass beside the trachea had run into the neck's muscles
    # (+104%, +121%): now -5.6% and -4.1%; the pancreatic lesion's line, its band's edge
    # frayed by the noise of the pancreas around it, +16%: now +8.1%
    assert max(abs(e) for e in lines.values()) <= 10.0, lines
    # clicks anywhere in a node's inner half agree (the 5%): one near a pole had
    # lost the node's larger half (C N1 -11%, G N1 -8%; spreads 12.5% and 9.8%)
    spreads = {case: spread_pct([r.long_mm for r in rows if r.case == case
                                 and r.prompt not in ("line", "box")]) for case in nodes}
    assert len(nodes) == 8
    assert max(spreads.values()) <= 5.0, spreads
