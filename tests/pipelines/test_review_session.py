"""The review model without a GUI: a target lesion the batch job was not told about,
added by the reader at baseline, is followed into every later timepoint as the batch
follows a prompted one (registration, local refinement, re-segmentation)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from imaging.io import read_image_file
from pipelines.batch.session import ReviewSession
from pipelines.cli import main


def _prompts_d(sample: Path, sheet: Path, lesions: tuple[str, ...]) -> Path:
    """A prompt sheet of the sample's rows for patient D's ``lesions``."""
    with (sample / "prompts.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["patient_id"] == "ATC-D"]
    with sheet.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(r for r in rows if r["lesion_id"] in lesions)
    return sheet


def _point_d(sample: Path, lesion_id: str) -> list[float]:
    """The sample prompt sheet's point (LPS mm) for patient D's ``lesion_id``."""
    with (sample / "prompts.csv").open(newline="") as fh:
        row = next(r for r in csv.DictReader(fh)
                   if r["patient_id"] == "ATC-D" and r["lesion_id"] == lesion_id)
    return [float(row[k]) for k in "xyz"]


@pytest.fixture(scope="module")
def patient_d(sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The batch job on patient D without the prompt of its second lung nodule T2."""
    folder = tmp_path_factory.mktemp("review_d")
    prompts = _prompts_d(sample, folder / "prompts.csv", ("T1", "N1"))
    out = folder / "out"
    assert main(["run", str(sample / "dicom"), "--prompts", str(prompts), "--out", str(out),
                 "--workers", "2", "--quiet"]) == 0
    return out


def test_a_lesion_added_at_baseline_is_followed_into_the_follow_ups(sample, patient_d):
    truth = json.loads((sample / "truth.json").read_text())["patients"]["ATC-D"]
    t2 = truth["lesions"]["T2"]["by_date"]
    point = _point_d(sample, "T2")
    session = ReviewSession(patient_d, "ATC-D", who="dr-test")
    dates = session.dates
    before = session.recist()
    assert all(r["lesion_id"] != "L1" for tp in session.timepoints for r in tp["lesions"])

    added = session.add_lesion(dates[0], point, organ="lung")
    assert added["lesion_id"] == "L1"
    for date in dates:
        r = session.lesion(date, "L1")
        assert r["status"] == "measured", (date, r.get("evidence"))
        expected = t2[date]["long_axis_mm"]
        assert abs(r["long_axis_mm"] - expected) <= max(0.1 * expected, 0.8), (date, r)
        assert r["method"] == ("reader-click" if date == dates[0] else "tracked")
        assert (session.labels(date) == r["label"]).sum() == r["voxels"]
    # the sums of diameters now hold it at every timepoint
    after = session.recist()
    for old, new, date in zip(before["timepoints"], after["timepoints"], dates, strict=True):
        assert new["sum_mm"] == pytest.approx(
            old["sum_mm"] + session.lesion(date, "L1")["recist_diameter_mm"],
            abs=0.05)
    # every correction is stored: reopened, the follow-ups still have it
    session.close()
    reopened = ReviewSession(patient_d, "ATC-D")
    assert [reopened.lesion(d, "L1")["long_axis_mm"] for d in dates] == pytest.approx(
        [session.lesion(d, "L1")["long_axis_mm"] for d in dates])
    assert set(reopened.corrected_dates()) == set(dates)
    assert np.all(np.diff([reopened.lesion(d, "L1")["long_axis_mm"] for d in dates[:3]]) < 0)
    reopened.close()


def test_a_bare_study_folder_is_made_ready_for_review(sample, tmp_path, capsys):
    """``caliper review STUDY``: the patient's timepoints found and registered, no lesions
    yet; a lesion the reader adds at baseline is followed into every later timepoint."""
    from imaging.errors import InputError
    from pipelines.commands.review import prepare_study

    with pytest.raises(InputError, match=r"several patients .*ATC-A.*ATC-G"):
        prepare_study(sample / "dicom", out=tmp_path / "none", progress=False)
    with pytest.raises(InputError, match=r"no CT study of patient.*ATC-X"):
        prepare_study(sample / "dicom", "ATC-X", tmp_path / "none", progress=False)
    out, patient = prepare_study(sample / "dicom", "ATC-D", tmp_path / "review", workers=2,
                                 progress=False)
    assert (out, patient) == (tmp_path / "review", "ATC-D")
    truth = json.loads((sample / "truth.json").read_text())["patients"]["ATC-D"]
    session = ReviewSession(out, patient, who="dr-test")
    assert session.dates == [v["date"] for v in truth["visits"]]
    assert session.lesion_ids() == []
    assert "error" in session.recist()  # nothing to score yet
    added = session.add_lesion(session.dates[0], _point_d(sample, "T1"), organ="lung")
    t1 = truth["lesions"]["T1"]["by_date"]
    for date in session.dates:
        r = session.lesion(date, added["lesion_id"])
        assert r["status"] == "measured", (date, r.get("evidence"))
        expected = t1[date]["long_axis_mm"]
        assert abs(r["long_axis_mm"] - expected) <= max(0.1 * expected, 0.8), (date, r)
    result = session.recist()
    assert [tp["sum_mm"] for tp in result["timepoints"]] == pytest.approx(
        [session.lesion(d, added["lesion_id"])["recist_diameter_mm"] for d in session.dates],
        abs=0.05)
    session.close()
    # reviewed again: the same folder, the stored tasks and the reader's lesion reused
    capsys.readouterr()
    again, _ = prepare_study(sample / "dicom", "ATC-D", out)
    progress = capsys.readouterr().err.splitlines()
    assert progress[0].startswith("caliper review: reading headers under")
    assert sum(line.startswith("caliper review: [") and "(stored)" in line
               for line in progress) == len(session.dates)
    reopened = ReviewSession(again, patient)
    assert reopened.lesion_ids() == [added["lesion_id"]]
    reopened.close()


def test_correction_clicks_in_the_prompt_sheet(sample, patient_d, tmp_path):
    """A prompt sheet row's outside click (column ``outside``, ``x y z``) cuts the lesion
    in the batch as a reader's click does in the review; the record keeps the click, and
    the review's next correction keeps it too (corrections add up)."""
    first = ReviewSession(patient_d, "ATC-D")
    baseline = first.dates[0]
    whole = first.lesion(baseline, "T1")
    first.close()
    ends = np.array(whole["long_axis_endpoints"])
    outside = ends[0] + 0.2 * (ends[1] - ends[0])  # a fifth of the long axis in
    with (sample / "prompts.csv").open(newline="") as fh:
        row = next(r for r in csv.DictReader(fh)
                   if r["patient_id"] == "ATC-D" and r["lesion_id"] == "T1")
    row["outside"] = " ".join(f"{v:.3f}" for v in outside)
    prompts = tmp_path / "prompts.csv"
    with prompts.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    out = tmp_path / "out"
    assert main(["run", str(sample / "dicom"), "--prompts", str(prompts), "--out", str(out),
                 "--workers", "2", "--quiet"]) == 0
    session = ReviewSession(out, "ATC-D", who="dr-test")
    cut = session.lesion(baseline, "T1")
    np.testing.assert_allclose(cut["clicks"]["outside"], [outside], atol=1e-3)
    assert cut["clicks"]["inside"] == []
    # the split takes the ball the click sits in and what lies beyond it: in this round
    # 21 mm nodule, the cap beyond the click (4% of it; half-way to its middle, 25%)
    assert cut["volume_ml"] < 0.99 * whole["volume_ml"]
    assert cut["long_axis_mm"] < whole["long_axis_mm"]
    ct = session.volume(baseline)
    voxel = tuple(np.rint(ct.geometry.lps_to_index(outside)).astype(int)[::-1])
    assert session.labels(baseline)[voxel] != cut["label"]
    # the reader adds an inside click at the prompt: the sheet's outside click still holds
    again = session.correct_clicks(baseline, "T1", positive=[tuple(whole["prompt_lps"])])
    np.testing.assert_allclose(again["clicks"]["outside"], [outside], atol=1e-3)
    np.testing.assert_allclose(again["clicks"]["inside"], [whole["prompt_lps"]])
    assert again["volume_ml"] < 0.99 * whole["volume_ml"]
    session.close()


def _review_of_baseline_d(sample: Path, tmp_path: Path
                          ) -> tuple[Path, Path, ReviewSession, str]:
    """``caliper review STUDY`` on a copy of patient D's baseline study: the copy, the
    job's output, a session of reader dr-test and the study's date."""
    from pipelines.commands.review import prepare_study

    study = _baseline_study_d(sample, tmp_path / "study")
    out, patient = prepare_study(study, "ATC-D", tmp_path / "review", progress=False)
    session = ReviewSession(out, patient, who="dr-test")
    (date,) = session.dates
    return study, out, session, date


def _baseline_study_d(sample: Path, study: Path) -> Path:
    """A copy of patient D's baseline study, as a bare study folder."""
    import shutil

    from imaging.io import discover

    truth = json.loads((sample / "truth.json").read_text())["patients"]["ATC-D"]
    for series in discover(sample / "dicom").series:
        if series.first.study_uid == truth["visits"][0]["study_uid"]:
            for n, instance in enumerate(series.instances):
                copy = study / series.series_uid / f"{n:04d}.dcm"
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(instance.path, copy)
    return study


def test_a_save_reports_what_it_could_not_export_and_leaves_no_stale_file(sample, tmp_path):
    """A review's save writes the corrected timepoint's SEG and SR again. When its sources
    went away after the viewer loaded them (an archive unmounted), the SEG and SR cannot
    refer to them: the save says so, ``errors.csv`` lists each (stage ``export``) and the
    files of the uncorrected lesions are removed, not left as the corrected ones. Saved
    again with the sources back, both are written and the rows are gone."""
    study, out, session, date = _review_of_baseline_d(sample, tmp_path)
    session.add_lesion(date, _point_d(sample, "T1"), organ="lung")

    def export_rows() -> list[dict[str, str]]:
        with (out / "errors.csv").open(newline="") as fh:
            return [r for r in csv.DictReader(fh) if r["stage"] == "export"]

    (written,) = session.save()["reexported"]
    assert written["export_warnings"] == []
    folder = out / written["exports"]["folder"]
    assert {p.name for p in folder.glob("*.dcm")} == {"seg.dcm", "sr.dcm"}
    assert export_rows() == []

    moved = tmp_path / "moved"
    study.rename(moved)
    summary = session.save()
    (failed,) = summary["reexported"]
    assert [w.split(":")[0] for w in failed["export_warnings"]] == [
        "DICOM SEG not written", "DICOM SR not written"]
    assert all("No such file" in w for w in failed["export_warnings"])
    assert summary["export_warnings"] == [f"{date}: {w}" for w in failed["export_warnings"]]
    assert not list(folder.glob("*.dcm"))
    rows = export_rows()
    assert [r["error"] for r in rows] == failed["export_warnings"]
    assert {(r["patient_id"], r["study_date"]) for r in rows} == {("ATC-D", date)}

    moved.rename(study)
    (again,) = session.save()["reexported"]
    assert again["export_warnings"] == []
    assert {p.name for p in folder.glob("*.dcm")} == {"seg.dcm", "sr.dcm"}
    assert export_rows() == []
    session.close()


def test_a_rerun_that_computes_a_reviewed_timepoint_afresh_keeps_its_corrections(
        sample, tmp_path, monkeypatch):
    """A rerun after an upgrade (a new task key) computes every timepoint again and
    writes its mask, SEG and SR from the uncorrected lesions. The tables apply the
    reader's corrections over them, so the files must too: a lesion the reader added at
    a study prepared for review stays in the mask, the SEG and the SR after the rerun."""
    import pydicom

    from pipelines.batch import job

    study, out, session, date = _review_of_baseline_d(sample, tmp_path)
    patient = session.patient_id
    added = session.add_lesion(date, _point_d(sample, "T1"), organ="lung")
    (saved,) = session.save()["reexported"]
    session.close()
    folder = out / saved["exports"]["folder"]
    mask = out / saved["mask"]

    def files() -> tuple[int, list[str], list[str]]:
        seg = pydicom.dcmread(folder / "seg.dcm") if (folder / "seg.dcm").exists() else None
        sr = (folder / "sr.dcm").read_bytes().decode("latin-1") if (
            folder / "sr.dcm").exists() else ""
        return (int(np.count_nonzero(read_image_file(mask).array)),
                [s.SegmentLabel for s in seg.SegmentSequence] if seg else [],
                [lid for lid in ("T1", added["lesion_id"]) if lid in sr])

    voxels, segments, in_sr = files()
    assert voxels == added["voxels"]
    assert segments == [f"{added['lesion_id']} lung"]
    assert in_sr == [added["lesion_id"]]

    monkeypatch.setattr(job, "VERSION", job.VERSION + "-rerun")
    summary = job.run_job(job.JobOptions(study, None, out, 1, progress=False,
                                         unprompted=(patient,)))
    assert files() == (voxels, segments, in_sr)
    assert (summary["tasks_computed"], summary["reexported"]) == (1, 1)
    with (out / "measurements.csv").open(newline="") as fh:
        (measured,) = [r for r in csv.DictReader(fh) if r["lesion_id"] == added["lesion_id"]]
    assert float(measured["long_axis_mm"]) == pytest.approx(added["long_axis_mm"], abs=0.01)

    again = job.run_job(job.JobOptions(study, None, out, 1, progress=False,
                                       unprompted=(patient,)))  # nothing left to write
    assert (again["tasks_computed"], again["reexported"]) == (0, 0)


def test_a_lesion_removed_and_changes_undone_last_first(sample, tmp_path):
    """A reader removes a lesion added by mistake (it goes from every table, its mask and
    the RECIST sum; its id is not given again) and undoes this session's changes one by
    one, last first: each undo is recorded, and a lesion brought back has its mask again.
    A later session cannot undo another's changes."""
    _, out, session, date = _review_of_baseline_d(sample, tmp_path)
    first, second = (session.add_lesion(date, _point_d(sample, t), organ="lung")
                     for t in ("T1", "T2"))
    assert [first["lesion_id"], second["lesion_id"]] == ["L1", "L2"]

    def state() -> tuple[list[str], dict[int, int], float]:
        labels = session.labels(date)
        counts = dict(zip(*np.unique(labels[labels > 0], return_counts=True), strict=True))
        return (session.lesion_ids(), {int(k): int(v) for k, v in counts.items()},
                session.recist()["timepoints"][0]["sum_mm"])

    both = state()
    assert both[1] == {first["label"]: first["voxels"], second["label"]: second["voxels"]}
    session.save()  # the timepoint's mask holds both now
    session.remove_lesion("L1")
    assert state() == (["L2"], {second["label"]: second["voxels"]},
                       round(second["long_axis_mm"], 1))
    report = Path(session.save()["report"]).read_text()
    assert "Removed in review: L1 (dr-test, " in report
    third = session.add_lesion(date, _point_d(sample, "T1"), organ="lung")
    assert third["lesion_id"] == "L3"  # not L1 again

    assert session.undo()["lesion_id"] == "L3"
    assert session.lesion_ids() == ["L2"]
    assert session.undo()["field"] == "removed"
    assert state() == both
    assert session.undo()["lesion_id"] == "L2"
    assert session.undo()["lesion_id"] == "L1"
    assert session.lesion_ids() == []
    assert session.undo() is None
    assert [h["field"] for h in session.history()] == [
        "lesion", "lesion", "removed", "lesion", *["withdrawn"] * 4]
    (saved,) = session.save()["reexported"]
    assert not np.any(session.labels(date))
    assert "Removed in review" not in (out / "report.html").read_text()
    assert saved["exports"] == {"folder": saved["exports"]["folder"]}  # no SEG, no SR
    session.close()

    reopened = ReviewSession(out, "ATC-D")
    assert reopened.lesion_ids() == []
    assert reopened.undo() is None
    reopened.close()


def test_a_correction_undone_after_a_save_gives_back_the_jobs_outline(sample, tmp_path):
    """A save writes the corrected mask where the job's was; a correction of a lesion the
    job segmented, undone after that save, brings back the job's outline (kept aside by
    the save), not the corrected one."""
    study = _baseline_study_d(sample, tmp_path / "study")
    prompts = _prompts_d(sample, tmp_path / "prompts.csv", ("T1",))
    out = tmp_path / "out"
    assert main(["run", str(study), "--prompts", str(prompts), "--out", str(out),
                 "--workers", "1", "--quiet"]) == 0
    session = ReviewSession(out, "ATC-D", who="dr-test")
    (date,) = session.dates
    job = session.labels(date)
    t1 = session.lesion(date, "T1")
    ends = np.array(t1["long_axis_endpoints"])
    cut = session.correct_clicks(date, "T1", negative=[tuple(ends[0] + 0.2 * (ends[1] -
                                                                                ends[0]))])
    assert cut["voxels"] < 0.99 * t1["voxels"]  # the cap beyond the click: 12 of 270
    session.save()
    assert np.count_nonzero(session.labels(date)) == cut["voxels"]
    assert session.undo()["lesion_id"] == "T1"
    np.testing.assert_array_equal(session.labels(date), job)
    assert session.lesion(date, "T1")["voxels"] == t1["voxels"] == np.count_nonzero(job)
    (saved,) = session.save()["reexported"]
    np.testing.assert_array_equal(read_image_file(out / saved["mask"]).array, job)
    session.close()
