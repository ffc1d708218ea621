"""The sample cohort: valid DICOM (dciodvfy), deterministic, and the truth it records
gives the published outcome through the scorer (1 CR, 5 PR, 1 SD after four cycles)."""

from __future__ import annotations

import csv
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pydicom

from imaging.io import discover
from imaging.recist import score
from pipelines.cli import main
from sample_dicom.cohort import PATIENTS
from sample_dicom.generate import Visit, _write_visit
from tests.dicom_factory import dciodvfy_errors


def test_week12_categories_from_truth_are_1_cr_5_pr_1_sd(sample):
    truth = json.loads((sample / "truth.json").read_text())
    week12 = {}
    for pid, patient in truth["patients"].items():
        result = score(patient["recist_case"])  # the scorer on the generator's own truths
        dates = [v["date"] for v in patient["visits"] if v["week"] == 12]
        week12[pid] = next(tp["overall"] for tp in result["timepoints"] if tp["date"] in dates)
    assert week12 == {"ATC-A": "SD", "ATC-B": "PR", "ATC-C": "PR", "ATC-D": "PR",
                      "ATC-E": "PR", "ATC-F": "PR", "ATC-G": "CR"}
    b = score(truth["patients"]["ATC-B"]["recist_case"])
    week24 = next(v["date"] for v in truth["patients"]["ATC-B"]["visits"] if v["week"] == 24)
    assert b["progression_date"] == week24


def test_every_object_passes_dciodvfy(sample):
    files = sorted(p for p in (sample / "dicom").rglob("*") if p.is_file())
    assert len(files) > 3000

    def check(path: Path) -> str:
        errors = dciodvfy_errors(path)
        return f"{path}: {errors}" if errors else ""

    with ThreadPoolExecutor(max_workers=4) as pool:
        problems = [p for p in pool.map(check, files) if p]
    assert problems == []


def test_studies_series_and_files_as_a_scanner_writes_them(sample):
    inventory = discover(sample / "dicom")
    by_study = inventory.by_study()
    assert len(by_study) == 25
    assert {s.first.patient_id for s in inventory.series} == {f"ATC-{c}" for c in "ABCDEFG"}
    kinds = {(s.first.description.split()[0], s.is_localizer) for s in inventory.series}
    assert ("TOPOGRAM", True) in kinds
    assert ("LUNG", False) in kinds
    syntaxes = {s.first.transfer_syntax for s in inventory.series}
    assert "1.2.840.10008.1.2.5" in syntaxes  # one RLE-compressed study
    depth = {len(p.relative_to(sample / "dicom").parts) for p in (sample / "dicom").rglob("*")
             if p.is_file()}
    assert depth == {4}
    size = sum(p.stat().st_size for p in (sample / "dicom").rglob("*") if p.is_file())
    assert size < 300 * 2**20


def test_prompts_clinical_and_preview(sample):
    with (sample / "prompts.csv").open() as fh:
        prompts = list(csv.DictReader(fh))
    assert len(prompts) == 19  # A 2, B 3, C 2, D 3, E 2, F 2, G 5
    assert {p["patient_id"] for p in prompts} == {f"ATC-{c}" for c in "ABCDEFG"}
    new = [p for p in prompts if p["study_date"]]
    assert [(p["patient_id"], p["lesion_id"], p["role"]) for p in new] == [
        ("ATC-B", "N2", "new")]
    with (sample / "clinical.csv").open() as fh:
        clinical = list(csv.DictReader(fh))
    assert len(clinical) == 7
    assert (sample / "preview.png").stat().st_size > 50_000


def test_same_seed_same_bytes(tmp_path):
    def digest(folder: Path) -> str:
        h = hashlib.sha256()
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(folder)).encode())
                h.update(p.read_bytes())
        return h.hexdigest()

    for name in ("a", "b"):
        assert main(["sample", str(tmp_path / name), "--patients", "1", "--workers", "1"]) == 0
    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_the_compressed_study_is_as_deterministic_as_the_rest(sample, tmp_path):
    """The RLE-compressed visit, written again alone, gives the same bytes (its DICOM and
    its true-mask image): its instance UIDs come from the seed like every other
    (pydicom's ``compress`` makes new random ones unless told not to)."""
    truth = json.loads((sample / "truth.json").read_text())
    pid, n = next((pid, n) for pid, p in truth["patients"].items()
                  for n, v in enumerate(p["visits"]) if v["compressed"])
    spec = next(p for p in PATIENTS if f"ATC-{p.id}" == pid)
    _write_visit(Visit(spec, n, truth["seed"], tmp_path))
    again = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    syntaxes = {pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID
                for p in again if p.is_relative_to(tmp_path / "dicom")}
    assert "1.2.840.10008.1.2.5" in syntaxes  # the compressed series is among them
    assert (tmp_path / truth["patients"][pid]["visits"][n]["truth_mask"]) in again
    changed = [str(p.relative_to(tmp_path)) for p in again
               if p.read_bytes() != (sample / p.relative_to(tmp_path)).read_bytes()]
    assert changed == []
