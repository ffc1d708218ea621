"""``caliper run`` on the sample cohort: end to end against the generator's truth,
resumable (also after a kill), one corrupt study among good ones, the same results
on a Dask cluster, and the prompt sheet's validation."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import highdicom as hd
import jsonschema
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.sr.codedict import codes

from imaging.io import read_image_file
from imaging.segment.evaluation import dice
from pipelines.batch.session import ReviewSession
from pipelines.cli import main

CONTRACTS = Path(__file__).resolve().parents[3] / "shared" / "contracts"


def _run(sample: Path, out: Path, prompts: Path | None = None, *extra: str) -> int:
    return main(["run", str(sample / "dicom"), "--prompts", str(prompts or sample / "prompts.csv"),
                 "--clinical", str(sample / "clinical.csv"), "--out", str(out), "--quiet",
                 *extra])


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _subset(sample: Path, folder: Path, patients: set[str]) -> Path:
    rows = [r for r in _rows(sample / "prompts.csv") if r["patient_id"] in patients]
    path = folder / "prompts.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def batch(sample: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, float]:
    out = tmp_path_factory.mktemp("batch")
    start = time.monotonic()
    status = _run(sample, out, None, "--workers", "2")
    return out, status, time.monotonic() - start


@pytest.fixture(scope="module")
def truth(sample: Path) -> dict:
    return json.loads((sample / "truth.json").read_text())


def test_every_lesion_is_found_or_reported_gone_as_the_truth_says(batch, truth) -> None:
    out, _, _ = batch
    rows = _rows(out / "measurements.csv")
    expected = sum(1 for p in truth["patients"].values() for lesion in p["lesions"].values()
                   for date, t in lesion["by_date"].items()
                   if lesion["role"] != "new" or t["present"])
    assert len(rows) == expected  # every lesion at every timepoint (new ones from their date)
    for r in rows:
        t = truth["patients"][r["patient_id"]]["lesions"][r["lesion_id"]]["by_date"][
            r["study_date"]]
        where = f"{r['patient_id']} {r['study_date']} {r['lesion_id']}"
        if t["present"]:
            assert r["status"] in ("measured", "present", "too_small"), where
            assert r["long_axis_mm"], where
        else:
            assert r["status"] == "absent", where
            assert not r["long_axis_mm"], where  # never an invented measurement
            assert "confirm_absent" in r["review_flags"], where


def _pixel_mm(out: Path, patient: str, date: str) -> float:
    """In-plane pixel spacing of the series a timepoint was measured on (its mask)."""
    return min(sitk.ReadImage(str(out / "masks" / patient / f"{date}.nii.gz")).GetSpacing()[:2])


def test_long_and_short_axes_against_the_truth(batch, truth) -> None:
    out, _, _ = batch
    errors, misses = [], []
    for r in _rows(out / "measurements.csv"):
        t = truth["patients"][r["patient_id"]]["lesions"][r["lesion_id"]]["by_date"][
            r["study_date"]]
        if not t["present"]:
            continue
        axes = [("long", float(r["long_axis_mm"]), t["long_axis_mm"])]
        if r["nodal"] == "True":  # a node's response is judged on its short axis
            axes.append(("short", float(r["short_axis_mm"]), t["short_axis_mm"]))
        errors.append(abs(axes[0][1] / axes[0][2] - 1) * 100)
        for name, got, want in axes:
            # within 10%, or one pixel for a lesion of a few pixels (10% of 10 mm is
            # under one 1.75 mm pixel)
            off = abs(got - want)  # the mask is read only for a lesion over 10%
            if off > 0.1 * want and off > _pixel_mm(out, r["patient_id"],
                                                    r["study_date"]) + 0.01:
                misses.append((r["patient_id"], r["lesion_id"], r["study_date"], name,
                               got, want))
    assert statistics.median(errors) <= 2.0, statistics.median(errors)
    assert sum(e <= 10 for e in errors) >= len(errors) - 1, sorted(errors)[-3:]
    assert misses == []


def test_masks_against_the_true_masks(batch, truth, sample) -> None:
    """Every lesion the truth has at every timepoint, its batch mask (as the review reads
    it) against the generator's true mask: the outline, not only the axes."""
    out, _, _ = batch
    dices = {}
    for pid, patient in truth["patients"].items():
        session = ReviewSession(out, pid)
        for tp in session.timepoints:
            visit = next(v for v in patient["visits"] if v["date"] == tp["date"])
            true = read_image_file(sample / visit["truth_mask"], dtype=None).array
            mine = session.labels(tp["date"])
            for r in tp["lesions"]:
                lesion = patient["lesions"][r["lesion_id"]]
                if lesion["by_date"][tp["date"]]["present"]:
                    dices[pid, r["lesion_id"], tp["date"]] = dice(mine == r["label"],
                                                                  true == lesion["label"])
    assert len(dices) == 62
    assert statistics.median(dices.values()) >= 0.97, dices  # 0.992 today
    assert min(dices.values()) >= 0.9, dices  # 0.921 today (G N2, a 10 mm node)


def test_recist_categories_and_progression(batch, truth) -> None:
    out, _, _ = batch
    schema = json.loads((CONTRACTS / "recist-result.schema.json").read_text())
    week12, expected12, wrong = {}, {}, []
    for pid, patient in truth["patients"].items():
        result = json.loads((out / "recist" / f"{pid}.json").read_text())
        jsonschema.validate(result, schema)
        wrong += [(pid, tp["date"], tp["overall"]) for tp in result["timepoints"]
                  if tp["overall"] != patient["expected"]["overall_by_date"][tp["date"]]]
        date = next(v["date"] for v in patient["visits"] if v["week"] == 12)
        week12[pid] = next(tp["overall"] for tp in result["timepoints"] if tp["date"] == date)
        expected12[pid] = patient["expected"]["week12_overall"]
        if pid == "ATC-B":  # the new pancreatic lesion at week 24, found from its prompt
            assert result["progression_date"] == patient["expected"]["progression_date"]
    assert week12 == expected12
    counts = {c: list(week12.values()).count(c) for c in ("CR", "PR", "SD")}
    assert counts == {"CR": 1, "PR": 5, "SD": 1}  # after four cycles, as the issue says
    assert wrong == []  # every timepoint of every patient as the truth says


def test_outputs_tables_report_and_errors(batch) -> None:
    out, status, _ = batch
    csv_rows = pd.read_csv(out / "measurements.csv")
    parquet = pd.read_parquet(out / "measurements.parquet")
    assert len(parquet) == len(csv_rows)
    assert list(parquet.columns) == list(csv_rows.columns)
    assert {"registration_residual_mm", "review_flags", "long_axis_end1_x_mm",
            "series_uid"} <= set(parquet.columns)
    tracked = parquet[parquet.method == "tracked"]
    assert tracked.registration_residual_mm.dropna().median() < 3.0
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= len(csv_rows) + 4  # thumbnails + plots
    assert all(f"id='ATC-{p}'" in page for p in "ABCDEFG")
    assert "src='http" not in page  # self-contained
    endpoints = json.loads((out / "cohort" / "endpoints.json").read_text())
    assert endpoints["patients"] == 7
    assert {"pfs", "os"} <= set(endpoints)
    errors = _rows(out / "errors.csv")
    assert status == (2 if errors else 0)
    assert all(e["stage"] == "review" for e in errors), errors  # no study failed


@pytest.mark.external
def test_dicom_seg_and_sr_validate_and_read_back(batch) -> None:
    out, _, _ = batch
    rows = _rows(out / "measurements.csv")
    srs = sorted((out / "dicom").rglob("sr.dcm"))
    segs = sorted((out / "dicom").rglob("seg.dcm"))
    assert len(srs) == 25
    assert len(segs) == 25
    for path in (srs[0], segs[0], srs[-1], segs[-1]):
        run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
        assert "Error" not in run.stderr, (path, run.stderr[-2000:])
    checked = 0
    for path in srs:
        sr = hd.sr.srread(path)
        groups = sr.content.get_planar_roi_measurement_groups()
        for group in groups:
            lesion = group.tracking_identifier
            long_axis = next(m for m in group.get_measurements()
                             if m.name == codes.SCT.LongAxis).value
            row = next(r for r in rows if r["lesion_id"] == lesion and r["patient_id"] ==
                       sr.PatientID and r["series_uid"] in {
                           i.ReferencedSeriesSequence[0].SeriesInstanceUID
                           for i in sr.CurrentRequestedProcedureEvidenceSequence})
            assert float(long_axis) == pytest.approx(float(row["long_axis_mm"]), abs=0.011)
            checked += 1
    assert checked == sum(1 for r in rows if r["long_axis_mm"])
    seg = hd.seg.segread(segs[0])
    assert seg.number_of_segments >= 1
    assert all(d.TrackingUID for d in seg.SegmentSequence)


def test_rerun_skips_everything_and_writes_the_same(batch, sample) -> None:
    out, status, _ = batch
    before = (out / "measurements.csv").read_bytes(), (out / "recist" / "ATC-B.json").read_bytes()
    assert _run(sample, out, None, "--workers", "2") == status
    after = (out / "measurements.csv").read_bytes(), (out / "recist" / "ATC-B.json").read_bytes()
    assert before == after
    with sqlite3.connect(out / "state.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM tasks WHERE ok = 1").fetchone()[0] == 25


def test_killed_run_resumes_with_identical_results(batch, sample, tmp_path) -> None:
    full, _, _ = batch
    prompts = _subset(sample, tmp_path, {"ATC-G", "ATC-D"})
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "pipelines.cli", "run", str(sample / "dicom"), "--prompts",
           str(prompts), "--out", str(out), "--workers", "1", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
        if (out / "state.sqlite").exists():
            try:
                with sqlite3.connect(out / "state.sqlite") as db:
                    done = db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
            except sqlite3.OperationalError:  # sqlite makes the file before the run makes
                continue  # its table (CI, df7d157: "no such table: tasks")
            if done >= 3:
                proc.send_signal(signal.SIGKILL)
                break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert 3 <= done < 8  # killed midway
    assert not (out / "measurements.csv").exists()
    resumed = subprocess.run(cmd, capture_output=True, text=True)
    assert resumed.returncode in (0, 2), resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["tasks_stored"] >= 3
    assert summary["tasks_computed"] == 8 - summary["tasks_stored"]
    mine = _rows(out / "measurements.csv")
    reference = [r for r in _rows(full / "measurements.csv") if r["patient_id"] in
                 {"ATC-G", "ATC-D"}]
    assert mine == reference
    for pid in ("ATC-G", "ATC-D"):
        assert (out / "recist" / f"{pid}.json").read_text() == \
            (full / "recist" / f"{pid}.json").read_text()


def _mirror(src: Path, dst: Path) -> None:
    for path in src.rglob("*"):
        if path.is_file():
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(path, target)


def test_one_corrupt_study_does_not_stop_the_batch(sample, truth, tmp_path) -> None:
    studies = tmp_path / "studies"
    _mirror(sample / "dicom", studies)
    bad_study = truth["patients"]["ATC-D"]["visits"][1]
    broken = 0
    for link in studies.rglob("*"):
        if link.is_symlink() and broken < 3:
            ds = pydicom.dcmread(link, stop_before_pixels=True)
            if ds.StudyInstanceUID == bad_study["study_uid"] and ds.SeriesInstanceUID == \
                    bad_study["series_uid"]:
                full = pydicom.dcmread(link)
                full.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]  # a sagittal slice
                link.unlink()
                full.save_as(link)
                broken += 1
    assert broken == 3
    # and one of ATC-F's follow-ups anonymised without a date: it cannot be placed in time
    # (it had sorted first, as F's baseline, and its files were named '')
    undated = truth["patients"]["ATC-F"]["visits"][1]
    for link in studies.rglob("*"):
        if link.is_symlink():
            ds = pydicom.dcmread(link)
            if ds.StudyInstanceUID == undated["study_uid"]:
                for keyword in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
                    setattr(ds, keyword, "")
                link.unlink()
                ds.save_as(link)
    prompts = _subset(sample, tmp_path, {"ATC-D", "ATC-F"})
    out = tmp_path / "out"
    status = main(["run", str(studies), "--prompts", str(prompts), "--out", str(out),
                   "--workers", "2", "--quiet"])
    assert status == 2
    errors = _rows(out / "errors.csv")
    failed = [e for e in errors if e["stage"] not in ("review", "plan")]
    assert len(failed) == 1
    (left_out,) = [e for e in errors if e["stage"] == "plan"]
    assert (left_out["patient_id"], left_out["study_uid"]) == ("ATC-F", undated["study_uid"])
    assert "no StudyDate" in left_out["error"]
    assert failed[0]["patient_id"] == "ATC-D"
    assert failed[0]["study_date"] == bad_study["date"]
    assert bad_study["study_uid"] in failed[0]["error"] or "ATC-D" in failed[0]["error"]
    scored = {p.stem for p in (out / "recist").glob("*.json")}
    assert scored == {"ATC-D", "ATC-F"}  # D is scored on its three good timepoints
    d = json.loads((out / "recist" / "ATC-D.json").read_text())
    assert bad_study["date"] not in [tp["date"] for tp in d["timepoints"]]
    assert len(d["timepoints"]) == 3
    f = json.loads((out / "recist" / "ATC-F.json").read_text())
    assert [tp["date"] for tp in f["timepoints"]] == [
        v["date"] for v in truth["patients"]["ATC-F"]["visits"] if v is not undated]
    assert "ATC-D" in (out / "report.html").read_text()


def test_dask_cluster_gives_the_same_results(batch, sample, tmp_path) -> None:
    distributed = pytest.importorskip("distributed")
    full, _, _ = batch
    prompts = _subset(sample, tmp_path, {"ATC-F"})
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        status = main(["run", str(sample / "dicom"), "--prompts", str(prompts), "--out",
                       str(out), "--scheduler", cluster.scheduler_address, "--quiet"])
        with sqlite3.connect(out / "state.sqlite") as db:
            pids = {json.loads(r[0])["worker_pid"] for r in db.execute("SELECT result FROM tasks")}
    assert status == 0
    assert os.getpid() not in pids  # the work ran on the cluster's worker processes
    mine = _rows(out / "measurements.csv")
    assert mine == [r for r in _rows(full / "measurements.csv") if r["patient_id"] == "ATC-F"]


def test_bad_prompt_rows_are_all_listed(sample, tmp_path, capsys) -> None:
    rows = _rows(sample / "prompts.csv")
    bad = [dict(rows[0], patient_id="NOBODY"),                       # unknown patient
           dict(rows[1], lesion_id="X1", x="900"),                    # outside the image
           dict(rows[2]),                                             # duplicate lesion id
           dict(rows[3], role="maybe"),
           dict(rows[4], lesion_id="X9", role="new", study_date=""),  # new needs a date
           dict(rows[5], lesion_id="X8", outside=f"{rows[5]['x']} {rows[5]['y']} 5000")]
    path = tmp_path / "prompts.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*rows[0], "outside"])
        writer.writeheader()
        writer.writerows(rows + bad)
    status = main(["run", str(sample / "dicom"), "--prompts", str(path), "--out",
                   str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2
    n = len(rows)
    for line, words in ((n + 5, "is not one of"), (n + 6, "needs the study_date"),
                        (n + 4, "already prompted")):
        assert f"line {line}: " in err, err
        assert words in err, err
    assert "6 bad prompt row(s)" in err
    assert f"line {n + 2}: patient NOBODY has no CT study" in err
    assert f"line {n + 3}: point [900.0" in err
    assert re.search(rf"line {n + 7}: outside click \[[^]]*5000.0\] of lesion X8", err), err
    assert "is outside series" in err
    assert not (tmp_path / "out" / "measurements.csv").exists()
