"""``caliper ls`` and ``caliper convert`` in-process: output and exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from pipelines.cli import main
from tests.dicom_factory import axial_positions, with_spec, write_series


@pytest.fixture
def study(tmp_path):
    root = tmp_path / "study"
    write_series(root, axial_positions(10, 2.0),
                 spec=with_spec(series_uid="1.2.3.1", series_description="Thorax 2mm",
                                kernel="B30f", study_date="20240110"), nested=True)
    write_series(root, axial_positions(5, 4.0),
                 spec=with_spec(series_uid="1.2.3.2", series_description="Thorax 4mm"))
    (root / "README.txt").write_text("not dicom")
    return root


def test_ls_json_lists_series_and_skipped(study, capsys):
    assert main(["ls", str(study), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {s["series_uid"]: s for s in doc["series"]}
    assert set(rows) == {"1.2.3.1", "1.2.3.2"}
    thin = rows["1.2.3.1"]
    assert (thin["patient_id"], thin["study_date"], thin["modality"], thin["slices"],
            thin["slice_spacing_mm"], thin["pixel_spacing_mm"], thin["kernel"],
            thin["description"]) == ("P1", "2024-01-10", "CT", 10, 2.0, [0.7, 0.7], "B30f",
                                     "Thorax 2mm")
    assert rows["1.2.3.2"]["slice_spacing_mm"] == 4.0
    assert [(s["path"].endswith("README.txt"), s["reason"]) for s in doc["skipped"]] == [
        (True, "not a DICOM file")
    ]


def test_ls_table(study, capsys):
    assert main(["ls", str(study)]) == 0
    out = capsys.readouterr().out
    assert "Thorax 2mm" in out
    assert "1.2.3.2" in out
    assert "README.txt: not a DICOM file" in out


def test_convert_picks_thinnest_and_writes_lps_nifti(study, tmp_path, capsys):
    out = tmp_path / "vol.nii.gz"
    assert main(["convert", str(study), str(out)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["size"] == [20, 24, 10]
    assert doc["spacing_mm"] == [0.7, 0.7, 2.0]
    assert doc["origin_lps_mm"] == [-10.0, -20.0, -50.0]
    assert any("1.2.3.2" in w and "rule" in w for w in doc["warnings"])
    img = sitk.ReadImage(str(out))
    np.testing.assert_allclose(img.GetOrigin(), [-10.0, -20.0, -50.0])
    np.testing.assert_allclose(img.GetSpacing(), [0.7, 0.7, 2.0], atol=1e-6)


def test_convert_with_spacing_resamples(study, tmp_path, capsys):
    out = tmp_path / "vol.nii.gz"
    assert main(["convert", str(study), str(out), "--series", "1.2.3.1",
                 "--spacing", "1.4,1.4,1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["spacing_mm"] == [1.4, 1.4, 1.0]
    assert doc["size"] == [10, 12, 19]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ls", "{empty}"], "folder is empty"),
        (["ls", "{nodicom}"], "no CT image series found"),
        (["ls", "{missing}"], "no such file or folder"),
        (["convert", "{bad}", "{out}"], "cannot read image"),
        (["convert", "{study}", "{out}", "--series", "9.9.9"], "no series with"),
        (["convert", "{study}", "{out}", "--spacing", "1,0,1"], "spacing must be positive"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, message, study, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "nodicom").mkdir()
    (tmp_path / "nodicom" / "x.txt").write_text("x")
    (tmp_path / "bad.nii.gz").write_bytes(b"garbage")
    paths = {"empty": tmp_path / "empty", "nodicom": tmp_path / "nodicom",
             "missing": tmp_path / "missing", "bad": tmp_path / "bad.nii.gz",
             "out": tmp_path / "o.nii.gz", "study": study}
    assert main([a.format(**paths) for a in argv]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("caliper: error:")]
    assert len(lines) == 1
    assert message in lines[0]


def test_console_entry_keeps_output_and_exit_status(study, tmp_path):
    """``python -m pipelines.cli`` (the console script's entry): the collector settled
    after the imports, every byte of stdout written before the quick exit, and the exit
    status of bad input still 2."""
    import subprocess
    import sys

    script = ("import gc, sys, runpy; sys.argv = ['caliper'] + sys.argv[1:]; "
              "import atexit; atexit.register(lambda: sys.stderr.write("
              "f'threshold={gc.get_threshold()[0]} frozen={gc.get_freeze_count()}\\n')); "
              "runpy.run_module('pipelines.cli', run_name='__main__')")
    ok = subprocess.run([sys.executable, "-c", script, "ls", str(study), "--json"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert {s["series_uid"] for s in json.loads(ok.stdout)["series"]} == {"1.2.3.1",
                                                                          "1.2.3.2"}
    threshold, frozen = (int(v.split("=")[1]) for v in ok.stderr.split()[-2:])
    assert threshold == 20_000
    assert frozen > 100_000  # the imports, out of the collector's way
    bad = subprocess.run([sys.executable, "-m", "pipelines.cli", "ls",
                          str(tmp_path / "missing")], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2
    assert "missing" in bad.stderr
