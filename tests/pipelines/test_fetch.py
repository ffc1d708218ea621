"""``caliper fetch`` against a real PACS: Orthanc (Debian's package, installed by ``make
test``) started on free ports, filled over its REST API, then queried and retrieved from
with C-FIND and C-GET."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from imaging.io import load_image
from pipelines.cli import main
from tests.dicom_factory import axial_positions, with_spec, write_series
from tests.orthanc import Orthanc, free_port


@pytest.fixture(scope="module")
def pacs(tmp_path_factory):
    """Orthanc holding patient P1 (a baseline with two CT series and a follow-up) and P2."""
    src = tmp_path_factory.mktemp("pacs_src")
    studies = {}
    for name, spec in {
        "p1_base_soft": with_spec(patient_id="P1", study_uid="1.2.826.1.1", study_date="20240110",
                                  series_uid="1.2.826.1.1.1", series_description="Soft 2mm"),
        "p1_base_lung": with_spec(patient_id="P1", study_uid="1.2.826.1.1", study_date="20240110",
                                  series_uid="1.2.826.1.1.2", series_number=3,
                                  series_description="Lung 2mm", kernel="B60f"),
        "p1_follow": with_spec(patient_id="P1", study_uid="1.2.826.1.2", study_date="20240312",
                               series_uid="1.2.826.1.2.1"),
        "p2_base": with_spec(patient_id="P2", study_uid="1.2.826.2.1", study_date="20240201",
                             series_uid="1.2.826.2.1.1"),
    }.items():
        studies[name] = write_series(src / name, axial_positions(6, 2.0), spec=spec)
    server = Orthanc(tmp_path_factory.mktemp("orthanc"))
    server.upload(f for files in studies.values() for f in files)
    yield server, src, studies
    server.stop()


def _sop_uids(folder: Path) -> set[str]:
    return {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID
            for f in folder.rglob("*.dcm")}


def _fetch(capsys, *args: str) -> tuple[int, dict, str]:
    code = main(["fetch", *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else {}, captured.err


def test_fetch_a_patient_then_resume(pacs, tmp_path, capsys):
    server, src, studies = pacs
    out = tmp_path / "out"
    code, doc, err = _fetch(capsys, server.node(), str(out), "--patient", "P1")
    assert code == 0, err
    assert (doc["fetched"], doc["present"], doc["failed"], doc["instances"]) == (3, 0, 0, 18)
    p1 = {n: files for n, files in studies.items() if n.startswith("p1")}
    assert _sop_uids(out) == {pydicom.dcmread(f).SOPInstanceUID
                              for files in p1.values() for f in files}
    assert sorted(p.name for p in (out / "P1").iterdir()) == ["1.2.826.1.1", "1.2.826.1.2"]
    # the series as Caliper loads it: the same voxels and geometry as the files uploaded
    got = load_image(out / "P1" / "1.2.826.1.1" / "1.2.826.1.1.2")
    ref = load_image(src / "p1_base_lung")
    np.testing.assert_array_equal(got.array, ref.array)
    np.testing.assert_allclose(got.geometry.origin, ref.geometry.origin)
    np.testing.assert_allclose(got.geometry.spacing, ref.geometry.spacing)
    assert "series 3 'Lung 2mm': fetched (6 received, 0 already here)" in err
    # `caliper ls` sees the fetched folder as a study tree
    assert main(["ls", str(out), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["series"]
    assert sorted((s["patient_id"], s["study_date"], s["slices"]) for s in listed) == [
        ("P1", "2024-01-10", 6), ("P1", "2024-01-10", 6), ("P1", "2024-03-12", 6)]

    # a rerun after a file was lost retrieves that series again and rewrites nothing else
    lost = next((out / "P1" / "1.2.826.1.2" / "1.2.826.1.2.1").glob("*.dcm"))
    lost.unlink()
    kept = {p: p.stat().st_mtime_ns for p in out.rglob("*.dcm")}
    code, doc, err = _fetch(capsys, server.node(), str(out), "--patient", "P1")
    assert code == 0, err
    rows = {s["series_uid"]: s for s in doc["series"]}
    assert (rows["1.2.826.1.2.1"]["status"], rows["1.2.826.1.2.1"]["received"],
            rows["1.2.826.1.2.1"]["already_here"]) == ("fetched", 1, 5)
    assert [rows[u]["status"] for u in ("1.2.826.1.1.1", "1.2.826.1.1.2")] == ["present"] * 2
    assert lost.exists()
    assert {p: p.stat().st_mtime_ns for p in kept} == kept


def test_fetch_by_wildcard_and_date(pacs, tmp_path, capsys):
    server, _, _ = pacs
    code, doc, err = _fetch(capsys, server.node(), str(tmp_path / "o"), "--patient", "P*",
                            "--since", "20240201", "--quiet")
    assert code == 0, err
    assert sorted((s["patient_id"], s["study_date"]) for s in doc["series"]) == [
        ("P1", "20240312"), ("P2", "20240201")]
    code, doc, _ = _fetch(capsys, server.node(), str(tmp_path / "s"), "--study", "1.2.826.2.1")
    assert code == 0
    assert [s["series_uid"] for s in doc["series"]] == ["1.2.826.2.1.1"]


def test_fetch_bad_input_exits_2_naming_it(pacs, tmp_path, capsys):
    server, _, _ = pacs
    out = str(tmp_path / "o")
    cases = [
        ([server.node(), out, "--patient", "NOPE"], f"PACS {server.node()}: no CT series for "
                                                     "patient NOPE"),
        ([server.node("WRONG"), out, "--patient", "P1"], "rejected the association"),
        ([f"ORTHANC@127.0.0.1:{free_port()}", out, "--patient", "P1", "--timeout", "3"],
         "could not be reached"),
        (["127.0.0.1:104", out, "--patient", "P1"], "expected AET@HOST:PORT"),
        ([server.node(), out], "name the patients"),
        ([server.node(), out, "--patient", "P1", "--since", "2024-01-01"], "--since"),
    ]
    for args, words in cases:
        code, doc, err = _fetch(capsys, *args)
        assert (code, doc) == (2, {}), (args, err)
        assert words in err, (args, err)
    assert not Path(out).exists()


def test_one_failed_series_does_not_stop_the_others(pacs, tmp_path, capsys):
    server, _, studies = pacs
    broken = pydicom.dcmread(studies["p2_base"][0]).SOPInstanceUID
    stored = server.instance_file(broken)
    saved = stored.read_bytes()
    stored.unlink()  # the PACS still lists the instance but cannot send it
    try:
        code, doc, err = _fetch(capsys, server.node(), str(tmp_path / "o"), "--patient", "P*")
    finally:
        stored.write_bytes(saved)
    assert code == 2
    rows = {s["series_uid"]: s for s in doc["series"]}
    assert rows["1.2.826.2.1.1"]["status"] == "failed"
    error = rows["1.2.826.2.1.1"]["error"]
    assert "of the 6 instances the PACS listed did not arrive" in error, error
    assert [rows[u]["status"] for u in ("1.2.826.1.1.1", "1.2.826.1.1.2", "1.2.826.1.2.1")] == [
        "fetched"] * 3
    assert "1 of 4 series not retrieved" in err
    assert "a rerun retries them" in err
    code, doc, err = _fetch(capsys, server.node(), str(tmp_path / "o"), "--patient", "P2")
    assert code == 0, err
    again = doc["series"][0]
    assert again["status"] == "fetched"
    assert again["received"] + again["already_here"] == 6
    assert _sop_uids(tmp_path / "o" / "P2") == {pydicom.dcmread(f).SOPInstanceUID
                                                for f in studies["p2_base"]}


def test_a_real_series_comes_back_as_it_went_in(pacs, shared_data, tmp_path, capsys):
    """A real GE CT series (MIRP's STS_001, 59 slices) through the PACS: Caliper loads the
    fetched copy exactly as it loads the original files."""
    server, _, _ = pacs
    original = shared_data / "lesions" / "mirp_sts_001" / "dicom" / "ct"
    server.upload(sorted(original.glob("*.dcm")))
    first = pydicom.dcmread(next(original.glob("*.dcm")), stop_before_pixels=True)
    out = tmp_path / "o"
    code, doc, err = _fetch(capsys, server.node(), str(out), "--study", first.StudyInstanceUID)
    assert code == 0, err
    assert [(s["patient_id"], s["instances"], s["received"]) for s in doc["series"]] == [
        (first.PatientID, 59, 59)]
    got = load_image(out)
    ref = load_image(original)
    np.testing.assert_array_equal(got.array, ref.array)
    np.testing.assert_allclose(got.geometry.origin, ref.geometry.origin)
    np.testing.assert_allclose(got.geometry.direction, ref.geometry.direction)
    np.testing.assert_allclose(got.geometry.spacing, ref.geometry.spacing)
