"""The batch job's prompt sheet: boxes beside clicks and lines, and their bad rows."""

from __future__ import annotations

import dataclasses
import hashlib
import json

from imaging.segment import BoxPrompt, LinePrompt, PointPrompt
from pipelines.batch.prompts import read_prompt_rows

HEADER = "patient_id,lesion_id,role,organ,nodal,x,y,z,x2,y2,z2,prompt\n"


def _key_before_options(row) -> str:
    """A row's key as computed before the optional columns (box, inside, outside)."""
    before = {k: v for k, v in dataclasses.asdict(row).items()
              if k not in ("line", "box", "inside", "outside")}
    return hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()[:16]


def test_box_rows_beside_points_and_lines(tmp_path):
    sheet = tmp_path / "prompts.csv"
    sheet.write_text(HEADER
                     + "P1,T1,target,lung,false,10,20,30,,,,\n"
                     + "P1,T2,target,lung,false,10,20,30,25,20,30,\n"
                     + "P1,T3,target,liver,false,10,20,30,25,32,30,box\n"
                     + "P1,T4,target,liver,false,10,20,30,25,32,40,BOX\n")
    prompts, problems = read_prompt_rows(sheet)
    assert problems == []
    kinds = {p.lesion_id: (p.kind, type(p.prompt())) for p in prompts}
    assert kinds == {"T1": ("point", PointPrompt), "T2": ("line", LinePrompt),
                     "T3": ("box", BoxPrompt), "T4": ("box", BoxPrompt)}
    box = next(p for p in prompts if p.lesion_id == "T3").prompt()
    assert box.point == (17.5, 26.0, 30.0)  # its centre is the click
    # a sheet without boxes keeps the task keys it had (computed before boxes existed);
    # a box on a line's coordinates is another prompt
    line = prompts[1]
    assert line.digest() == _key_before_options(line)
    assert dataclasses.replace(line, box=True).digest() != line.digest()


def test_bad_box_rows_are_named(tmp_path):
    sheet = tmp_path / "prompts.csv"
    sheet.write_text(HEADER
                     + "P1,T1,target,lung,false,10,20,30,,,,box\n"
                     + "P1,T2,target,lung,false,10,20,30,10.5,40,30,box\n"
                     + "P1,T3,target,lung,false,10,20,30,25,20,30,circle\n"
                     + "P1,T4,target,lung,false,10,20,30,25,20,30,point\n")
    _, problems = read_prompt_rows(sheet)
    assert problems == [
        "line 2: a box needs its opposite corner in x2, y2, z2",
        "line 3: the box is narrower than 1 mm in-plane",
        "line 4: prompt 'circle' is not one of point, line, box",
        "line 5: a point prompt has no x2, y2, z2",
    ]


def test_correction_clicks_columns(tmp_path):
    """``inside`` and ``outside`` hold a reader's correction clicks (``x y z``, several
    separated by ``;``); the prompt carries them, a row's key changes with them, and a
    bad one is named with its line, column and place."""
    sheet = tmp_path / "prompts.csv"
    sheet.write_text(HEADER.rstrip("\n") + ",inside,outside\n"
                     + "P1,T1,target,lung,false,10,20,30,,,,,12 21 30; 13 22.5 30,8 20 30\n"
                     + "P1,T2,target,lung,false,10,20,30,25,20,30,,,9 19 30\n"
                     + "P1,T3,target,lung,false,10,20,30,,,,,,\n"
                     + "P1,T4,target,lung,false,10,20,30,,,,,12 21,8 x 30;; 1 2 inf\n")
    prompts, problems = read_prompt_rows(sheet)
    assert problems == [
        "line 5: inside click 1 = '12 21' is not three numbers (x y z, LPS mm)",
        "line 5: outside click 1 = '8 x 30' is not three numbers (x y z, LPS mm)",
        "line 5: outside click 3 = '1 2 inf' is not three numbers (x y z, LPS mm)",
    ]
    by_id = {p.lesion_id: p for p in prompts}
    click = by_id["T1"].prompt()
    assert isinstance(click, PointPrompt)
    assert click.positive == ((12.0, 21.0, 30.0), (13.0, 22.5, 30.0))
    assert click.negative == ((8.0, 20.0, 30.0),)
    line = by_id["T2"].prompt()
    assert isinstance(line, LinePrompt)
    assert (line.positive, line.negative) == ((), ((9.0, 19.0, 30.0),))
    # a row without clicks keeps the key it had before the columns existed
    plain = by_id["T3"]
    assert plain.digest() == _key_before_options(plain)
    assert dataclasses.replace(plain, outside=((8.0, 20.0, 30.0),)).digest() != plain.digest()


def test_studies_the_plan_leaves_out_are_error_rows(tmp_path):
    """A patient's second study on one date, and a study without any date, cannot be
    placed among its timepoints: each is left out with a row for errors.csv naming it,
    and the patient is planned on the rest. A study whose StudyDate alone was blanked is
    placed on its series' date, with a warning."""
    import pydicom

    from imaging.io import discover
    from pipelines.batch.plan import make_plan
    from tests.dicom_factory import axial_positions, with_spec, write_series

    specs = {name: with_spec(patient_id="P1", study_date=date) for name, date in
             (("first", "20240101"), ("same_day", "20240101"), ("later", "20240301"),
              ("undated", ""), ("series_dated", "20240501"))}
    for name, spec in specs.items():
        write_series(tmp_path / "studies" / name, axial_positions(3), spec=spec)
    for path in (p for p in (tmp_path / "studies" / "series_dated").rglob("*") if p.is_file()):
        ds = pydicom.dcmread(path)
        ds.StudyDate = ""
        ds.save_as(path)
    sheet = tmp_path / "prompts.csv"
    sheet.write_text(HEADER + "P1,T1,target,lung,false,-5,-15,-49,,,,\n")
    prompts, _ = read_prompt_rows(sheet)
    (plan,), _ = make_plan(discover(tmp_path / "studies"), prompts)
    assert [tp.date for tp in plan.timepoints] == ["2024-01-01", "2024-03-01", "2024-05-01"]
    assert plan.timepoints[2].study_uid == specs["series_dated"].study_uid
    (dated_by_series,) = [w for w in plan.warnings if "placed on" in w]
    assert specs["series_dated"].study_uid in dated_by_series
    assert "placed on 2024-05-01" in dated_by_series
    first, same_day = sorted((specs["first"], specs["same_day"]), key=lambda s: s.study_uid)
    assert plan.timepoints[0].study_uid == first.study_uid
    rows = {r["study_uid"]: r for r in plan.left_out}
    assert set(rows) == {same_day.study_uid, specs["undated"].study_uid}
    assert all(r["stage"] == "plan" and r["patient_id"] == "P1" for r in rows.values())
    assert rows[same_day.study_uid]["error"].startswith("two studies on 2024-01-01")
    assert "no StudyDate" in rows[specs["undated"].study_uid]["error"]
