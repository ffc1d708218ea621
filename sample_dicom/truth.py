"""The sample cohort's prompted lesions with their true masks, for checking a
segmentation against the generator's exact truth (the accuracy benchmark and tests)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from imaging.io import discover, load_series, read_image_file
from imaging.volume import Volume

__all__ = ["PromptedLesion", "prompted_lesions"]


class PromptedLesion(NamedTuple):
    name: str
    """``"<patient> <lesion>"``."""
    image: Volume
    """The soft-tissue series of the visit it is prompted on, as loaded from DICOM."""
    label: Volume
    """Its true mask on that grid (1 inside)."""
    nodal: bool
    organ: str
    click: tuple[float, float, float]
    """The prompt sheet's click (LPS mm)."""
    truth: dict[str, Any]
    """Its truth.json record at that visit (long and short axis, volume...)."""


def prompted_lesions(folder: Path) -> Iterator[PromptedLesion]:
    """Each lesion of ``prompts.csv`` at the visit it is prompted on (baseline, or the
    visit a new lesion appears), with its true mask."""
    truth = json.loads((folder / "truth.json").read_text())
    inventory = discover(folder / "dicom")
    with (folder / "prompts.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    uid = image = labels = None  # the visit at hand only (rows come by patient)
    for row in rows:
        patient = truth["patients"][row["patient_id"]]
        date = row["study_date"] or patient["visits"][0]["date"]
        visit = next(v for v in patient["visits"] if v["date"] == date)
        if visit["series_uid"] != uid:  # its series and true masks, read once per visit
            uid = visit["series_uid"]
            image = load_series(inventory.get(uid))
            labels = read_image_file(folder / visit["truth_mask"], dtype=None)
            if not labels.geometry.same_grid(image.geometry):
                raise ValueError(f"{folder / visit['truth_mask']}: not on the grid of "
                                 f"series {uid}")
        lesion = patient["lesions"][row["lesion_id"]]
        mask = Volume((labels.array == lesion["label"]).astype(np.uint8), image.geometry)
        yield PromptedLesion(f"{row['patient_id']} {row['lesion_id']}", image, mask,
                             lesion["nodal"], lesion["organ"],
                             tuple(float(row[k]) for k in ("x", "y", "z")),
                             lesion["by_date"][date])
