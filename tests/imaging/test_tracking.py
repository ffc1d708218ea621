"""Registration of follow-up scans to baseline on the sample cohort, whose per-visit poses
(shifts up to 2.5 cm, rotations up to 4 degrees) and true lesion centres are known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from imaging.io import discover, load_series
from imaging.tracking import refine_locally, register


@pytest.fixture(scope="module")
def cohort(sample):
    return json.loads((sample / "truth.json").read_text()), discover(sample / "dicom")


@pytest.mark.parametrize("patient", ["ATC-B", "ATC-G"])
def test_baseline_lesions_map_onto_their_follow_up_positions(cohort, patient):
    truth, inventory = cohort
    t = truth["patients"][patient]
    baseline_date = t["visits"][0]["date"]
    base = load_series(inventory.get(t["visits"][0]["series_uid"]))
    errors = []
    for visit in t["visits"][1:]:
        follow = load_series(inventory.get(visit["series_uid"]))
        registration = register(base, follow)
        for lesion in t["lesions"].values():
            before, after = lesion["by_date"][baseline_date], lesion["by_date"][visit["date"]]
            if before["present"] and after["present"]:
                mapped = registration.map_point(before["centre_lps_mm"])
                errors.append(np.linalg.norm(mapped - np.asarray(after["centre_lps_mm"])))
    assert len(errors) >= 6
    assert max(errors) < 2.0, errors  # the poses moved lesions by up to ~3 cm


def test_local_refinement_stays_on_the_lesion(cohort):
    truth, inventory = cohort
    t = truth["patients"]["ATC-D"]
    base = load_series(inventory.get(t["visits"][0]["series_uid"]))
    visit = t["visits"][2]
    follow = load_series(inventory.get(visit["series_uid"]))
    registration = register(base, follow)
    lesion = t["lesions"]["T2"]  # the juxtapleural nodule
    start = lesion["by_date"][t["visits"][0]["date"]]["centre_lps_mm"]
    local = refine_locally(base, follow, registration, start)
    target = np.asarray(lesion["by_date"][visit["date"]]["centre_lps_mm"])
    assert np.linalg.norm(local.map_point(start) - target) < 2.5
    moved = np.linalg.norm(np.asarray(start) - target)
    assert moved > 5.0  # the lesion really moved between the scans
