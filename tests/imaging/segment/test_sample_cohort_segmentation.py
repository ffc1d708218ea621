"""Segmentation of every prompted lesion of the sample cohort, against the generator's
exact truth. From the prompt sheet's click: the goal, every long axis within 10% (today
the largest error is 8.1%, a pancreatic lesion; the lung and bone lesions within 5%).
From a reader's prompts made from the true masks (as for the real lesions): Dice and
long axis."""

from __future__ import annotations

import csv
import json

import numpy as np

from imaging.io import discover, load_series
from imaging.segment import PointPrompt, segment
from imaging.segment.evaluation import evaluate, spread_pct
from sample_dicom.truth import prompted_lesions


def test_every_sample_lesion_from_its_prompt(sample):
    truth = json.loads((sample / "truth.json").read_text())
    inventory = discover(sample / "dicom")
    with (sample / "prompts.csv").open() as fh:
        prompts = list(csv.DictReader(fh))
    volumes: dict[str, object] = {}
    errors: dict[str, list[float]] = {}
    for row in prompts:
        patient = truth["patients"][row["patient_id"]]
        date = row["study_date"] or patient["visits"][0]["date"]
        uid = next(v["series_uid"] for v in patient["visits"] if v["date"] == date)
        if uid not in volumes:
            volumes[uid] = load_series(inventory.get(uid))
        true = patient["lesions"][row["lesion_id"]]["by_date"][date]
        point = tuple(float(row[k]) for k in ("x", "y", "z"))
        result = segment(volumes[uid], PointPrompt(point), nodal=row["nodal"] == "true")
        error = 100 * (result.measurement.long_axis_mm / true["long_axis_mm"] - 1)
        kind = "node" if row["nodal"] == "true" else row["organ"]
        errors.setdefault(kind, []).append(error)
    assert sum(len(v) for v in errors.values()) == 19
    for kind in ("lung", "bone"):
        assert max(abs(e) for e in errors[kind]) <= 5.0, (kind, errors[kind])
    assert max(abs(e) for v in errors.values() for e in v) <= 10.0, errors


def test_every_sample_lesion_from_a_readers_prompts(sample):
    """The issue's prompts on every prompted lesion, against the generator's true masks:
    the deepest point, three inner-half clicks and the long-axis line (and the box)."""
    rows, nodes = [], set()
    for name, image, label, nodal in prompted_lesions(sample):
        rows += evaluate(name, image, label, nodal=nodal, box=True)
        nodes |= {name} if nodal else set()
    assert len(rows) == 19 * 6
    assert [r for r in rows if r.error] == []
    goal = [r for r in rows if r.prompt != "box"]
    assert np.median([r.dice for r in goal]) >= 0.95  # 0.991 today (goal 0.85)
    within = sum(abs(r.long_error_pct) <= 10 for r in goal)
    assert within >= 0.94 * len(goal), within  # 92 of 95 today (goal 90%)
    lines = {r.case: r.long_error_pct for r in rows if r.prompt == "line"}
    # a line across a thyroid mass beside the trachea had run into the neck's muscles
    # (+104%, +121%): now -5.6% and -4.1%; the worst line is the pancreatic lesion's
    assert max(abs(e) for e in lines.values()) <= 20.0, lines
    assert all(abs(lines[f"ATC-{p} T1"]) <= 10.0 for p in "ACE"), lines
    # clicks anywhere in a node's inner half agree (the 5%): one near a pole had
    # lost the node's larger half (C N1 -11%, G N1 -8%; spreads 12.5% and 9.8%)
    spreads = {case: spread_pct([r.long_mm for r in rows if r.case == case
                                 and r.prompt not in ("line", "box")]) for case in nodes}
    assert len(nodes) == 8
    assert max(spreads.values()) <= 5.0, spreads
