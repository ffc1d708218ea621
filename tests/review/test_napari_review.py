"""The reader's side in a real napari viewer (Xvfb + Mesa): the DICOM reader, and a
review of sample patient B whose new pancreatic lesion the batch job was not told
about: the reader adds it with a click (it is followed into the next timepoint),
corrects an axis and a status, and every correction is stored, changes the RECIST
result, and survives closing the viewer."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest
from pydicom.sr.codedict import codes

napari = pytest.importorskip("napari")

from qtpy.QtWidgets import QPushButton  # noqa: E402

from imaging.io import discover  # noqa: E402
from imaging.review.widget import FIELD_OF_VIEW_MM, open_review  # noqa: E402
from pipelines.batch.session import ReviewSession  # noqa: E402
from pipelines.cli import main  # noqa: E402


def _screenshot(viewer, path: Path, *, canvas_only: bool = False) -> np.ndarray:
    image = viewer.screenshot(str(path), canvas_only=canvas_only)
    assert path.is_file()
    return image


@pytest.fixture(scope="module")
def patient_b(sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The batch job on patient B, without the prompt of its new lesion N2."""
    folder = tmp_path_factory.mktemp("review")
    with (sample / "prompts.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["patient_id"] == "ATC-B"
                and r["lesion_id"] != "N2"]
    prompts = folder / "prompts.csv"
    with prompts.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = folder / "out"
    assert main(["run", str(sample / "dicom"), "--prompts", str(prompts), "--out", str(out),
                 "--workers", "2", "--quiet"]) == 0
    return out


def test_reader_opens_dicom_in_hu_with_patient_geometry(sample, make_napari_viewer, tmp_path):
    truth = json.loads((sample / "truth.json").read_text())
    uid = truth["patients"]["ATC-B"]["visits"][0]["series_uid"]
    series = next(s for s in discover(sample / "dicom").series if s.series_uid == uid)
    viewer = make_napari_viewer()
    layers = viewer.open(str(series.first.path.parent), plugin="caliper")
    layer = layers[0]
    spacing = series.first.pixel_spacing
    assert layer.data.dtype == np.int16
    assert layer.data.shape[1:] == (series.first.rows, series.first.columns)
    np.testing.assert_allclose(np.abs(np.diag(layer.affine.affine_matrix)[1:3]),
                               [spacing[0], spacing[1]], rtol=1e-6)
    first = min(series.instances, key=lambda i: i.position[2])
    np.testing.assert_allclose(layer.data_to_world([0, 0, 0]),
                               [first.position[2], first.position[1], first.position[0]],
                               atol=1e-3)
    assert layer.data[0, 0, 0] < -900  # air in the corner, in HU
    assert _screenshot(viewer, tmp_path / "reader.png").std() > 0


def test_review_add_correct_sign_off_and_reopen(sample, patient_b, make_napari_viewer, qtbot,
                                                tmp_path):
    truth = json.loads((sample / "truth.json").read_text())["patients"]["ATC-B"]
    dates = [v["date"] for v in truth["visits"]]
    week6, week24 = dates[1], dates[3]
    viewer = make_napari_viewer()
    widget = open_review(viewer, patient_b, "ATC-B", who="dr-test")

    # layers: CT, lesions, axes, drawn, clicks per timepoint; CT in HU with its spacing
    assert [layer.name for layer in viewer.layers][:5] == [
        f"{dates[0]} CT", f"{dates[0]} lesions", f"{dates[0]} axes", f"{dates[0]} drawn",
        f"{dates[0]} clicks"]
    assert len(viewer.layers) == 5 * len(dates)
    assert viewer.canvas.grid.enabled
    ct = viewer.layers[f"{dates[0]} CT"]
    assert ct.contrast_limits == [-160.0, 240.0]
    labels = viewer.layers[f"{dates[0]} lesions"].data
    assert set(np.unique(labels)) == {0, 1, 2}  # T1 and N1, stable labels
    # baseline beside the last follow-up, fitted in the views (air around the body)
    assert widget.shown_dates() == [dates[0], dates[-1]]
    # one view per shown timepoint, holding all its layers (its clicks over its CT)
    grid, layers = viewer.grid, viewer.layers
    views = {d: {grid.position(layers.index(layers[f"{d} {kind}"]), layers) for kind in
                 ("CT", "lesions", "axes", "drawn", "clicks")} for d in (dates[0], dates[-1])}
    assert [len(v) for v in views.values()] == [1, 1]
    assert views[dates[0]] != views[dates[-1]]
    assert grid.actual_shape(layers) == (1, 2)
    canvas = _screenshot(viewer, tmp_path / "opened-canvas.png", canvas_only=True)[..., :3]
    assert 0.15 < (canvas.max(axis=-1) < 20).mean() < 0.8
    prompts = viewer.layers[f"{dates[0]} clicks"]  # the prompts, apart from new clicks
    assert list(prompts.features["sign"]) == ["prompt", "prompt"]
    np.testing.assert_allclose(prompts.data[0][::-1],
                               widget.session.lesion(dates[0], "T1")["prompt_lps"])
    assert widget.clicks(dates[0]) == ([], [])
    rows = widget.table_rows()
    assert [r[0] for r in rows] == ["T1", "N1"]
    t1_base = float(rows[0][4])
    assert t1_base == pytest.approx(truth["lesions"]["T1"]["by_date"][dates[0]]
                                    ["long_axis_mm"], rel=0.1)
    before = widget.session.recist()
    assert before["progression_date"] != week24  # the job did not see the new lesion
    _screenshot(viewer, tmp_path / "opened.png")

    # selecting a lesion jumps every view to it
    widget.select_lesion("T1")
    centre = widget.session.lesion(dates[0], "T1")["centre_lps"]
    assert viewer.dims.point[0] == pytest.approx(centre[2], abs=2.5)
    np.testing.assert_allclose(viewer.scene.camera.center[1:], [centre[1], centre[0]])
    # the views show a field of FIELD_OF_VIEW_MM around it (5% margin)
    view_mm = min(viewer.canvas.viewbox_size(viewer.layers)) / viewer.scene.camera.zoom
    assert view_mm == pytest.approx(FIELD_OF_VIEW_MM / 0.95, rel=0.02)

    # add the new lesion with a click at week 24
    widget.date_box.setCurrentText(week24)
    point = truth["lesions"]["N2"]["by_date"][week24]["centre_lps_mm"]
    viewer.layers[f"{week24} clicks"].add(np.array([[point[2], point[1], point[0]]]))
    widget.add_from_click(organ="pancreas")
    qtbot.waitUntil(lambda: not widget.busy, timeout=30000)
    assert widget.last_error == ""
    added = [r for r in widget.session.timepoint(week24)["lesions"] if r["role"] == "new"]
    assert len(added) == 1
    assert added[0]["long_axis_mm"] == pytest.approx(
        truth["lesions"]["N2"]["by_date"][week24]["long_axis_mm"], rel=0.25)
    after = widget.session.recist()
    assert after["progression_date"] == week24
    assert any(r[0] == added[0]["lesion_id"] for r in widget.table_rows())
    assert list(viewer.layers[f"{week24} clicks"].features["sign"]) == ["prompt"]  # its click
    assert widget.recist_rows()[3][2] == "PD"
    # and followed into week 36 (registration, local refinement, segmentation there)
    week36 = dates[4]
    followed = widget.session.lesion(week36, added[0]["lesion_id"])
    assert (followed["method"], followed["status"]) == ("tracked", "measured")
    assert followed["long_axis_mm"] == pytest.approx(
        truth["lesions"]["N2"]["by_date"][week36]["long_axis_mm"], rel=0.15)

    # correct it with a click outside the lesion (N toggles the clicks' sign), placed
    # a fifth of the long axis in from one end: that part is cut off
    new_id = added[0]["lesion_id"]
    ends = np.array(added[0]["long_axis_endpoints"])
    outside = ends[0] + 0.2 * (ends[1] - ends[0])
    widget.select_lesion(new_id)
    assert widget.toggle_click_sign() == "outside"
    viewer.layers[f"{week24} clicks"].add(np.array([outside[::-1]]))
    assert widget.clicks(week24) == ([], [tuple(outside)])
    widget.resegment_selected()
    qtbot.waitUntil(lambda: not widget.busy, timeout=30000)
    assert widget.last_error == ""
    cut = widget.session.lesion(week24, new_id)
    np.testing.assert_allclose(cut["clicks"]["outside"], [outside])
    assert cut["volume_ml"] < added[0]["volume_ml"]
    # the message weighs the cut's axes against the lesion's before it
    change = (f"long axis {added[0]['long_axis_mm']:.1f} -> {cut['long_axis_mm']:.1f} mm "
              f"({100 * (cut['long_axis_mm'] / added[0]['long_axis_mm'] - 1):+.1f}%)")
    assert change in widget.message.text(), widget.message.text()
    # the split takes the ball the click sits in and what lies beyond it: the end of the
    # long axis goes with the click; the node is round, so another diameter may be as long
    assert cut["long_axis_mm"] <= added[0]["long_axis_mm"]
    ct = widget.session.volume(week24)
    for point in (outside, ends[0]):
        voxel = np.rint(ct.geometry.lps_to_index(point)).astype(int)[::-1]
        assert widget.session.labels(week24)[tuple(voxel)] != cut["label"], point
    assert widget.toggle_click_sign() == "inside"
    # the click stays shown (cyan), marked as the lesion's; deleted, it goes: re-segmented
    # without it, the lesion is whole again
    layer = viewer.layers[f"{week24} clicks"]
    shown = layer.features
    at = int(np.flatnonzero((shown["sign"] == "outside") & (shown["lesion"] == new_id))[0])
    np.testing.assert_allclose(layer.data[at][::-1], outside, atol=1e-6)
    assert widget.clicks(week24) == ([], [])  # no new clicks
    assert len(widget.clicks(week24, new_id)[1]) == 1
    layer.selected_data = {at}
    layer.remove_selected()
    widget.select_lesion(new_id)
    widget.resegment_selected()
    qtbot.waitUntil(lambda: not widget.busy, timeout=30000)
    assert widget.last_error == ""
    whole = widget.session.lesion(week24, new_id)
    assert "clicks" not in whole
    assert whole["volume_ml"] == pytest.approx(added[0]["volume_ml"], rel=0.02)

    # drag the end of T1's long axis at week 6 by 4 mm: a manual measurement
    widget.date_box.setCurrentText(week6)
    axes = viewer.layers[f"{week6} axes"]
    lines = [np.array(line) for line in axes.data]
    lines[0][1, 2] += 4.0  # x of the second end (data is z, y, x in LPS mm)
    old_sum = next(tp for tp in after["timepoints"] if tp["date"] == week6)["sum_mm"]
    axes.data = lines
    manual = widget.session.lesion(week6, "T1")
    assert manual["method"] == "manual"
    new_sum = next(tp for tp in widget.session.recist()["timepoints"]
                   if tp["date"] == week6)["sum_mm"]
    assert new_sum != pytest.approx(old_sum, abs=0.5)
    assert manual["long_axis_mm"] == pytest.approx(float(np.linalg.norm(
        lines[0][1] - lines[0][0])), abs=0.01)

    # a status: T1 not evaluated at week 6 makes that timepoint NE
    widget.select_lesion("T1")
    widget.set_status_selected("not_evaluated")
    assert next(tp for tp in widget.session.recist()["timepoints"]
                if tp["date"] == week6)["overall"] == "NE"
    widget.accept_timepoint()
    _screenshot(viewer, tmp_path / "corrected.png")

    # every correction is stored with who and what; outputs regenerate from them
    history = widget.session.history()
    assert [h["field"] for h in history] == ["lesion", "lesion", "lesion", "lesion",
                                             "manual_measurement", "status", "accepted"]
    assert [h["date"] for h in history[:4]] == [week24, week36, week24, week24]
    assert {h["who"] for h in history} == {"dr-test"}
    assert history[4]["old"]["long_axis_mm"] != history[4]["new"]["long_axis_mm"]
    summary = widget.save()
    assert sorted(e["date"] for e in summary["reexported"]) == [week6, week24, week36]
    assert summary["export_warnings"] == []
    assert widget.message.text() == f"saved: {summary['report']}"
    result = json.loads((patient_b / "recist" / "ATC-B.json").read_text())
    assert result["progression_date"] == week24
    with (patient_b / "measurements.csv").open(newline="") as fh:
        table = list(csv.DictReader(fh))
    assert any(r["role"] == "new" and r["study_date"] == week24 for r in table)
    assert next(r for r in table if r["lesion_id"] == "T1" and r["study_date"] == week6
                )["method"] == "manual"

    # the corrected timepoints' SEG and SR were written again, the reader observing
    folder = patient_b / summary["reexported"][1]["exports"]["folder"]
    sr = hd.sr.srread(folder / "sr.dcm")
    groups = {str(g.tracking_identifier): g for g in
              sr.content.get_planar_roi_measurement_groups()}
    assert new_id in groups
    long_axis = next(m for m in groups[new_id].get_measurements()
                     if m.name == codes.SCT.LongAxis).value
    assert float(long_axis) == pytest.approx(whole["long_axis_mm"], abs=0.011)
    assert "dr-test" in str(sr.content)
    seg = hd.seg.segread(folder / "seg.dcm")
    assert new_id in {d.TrackingID for d in seg.SegmentSequence}
    week6_sr = hd.sr.srread(patient_b / summary["reexported"][0]["exports"]["folder"]
                            / "sr.dcm")
    assert "T1" not in {str(g.tracking_identifier) for g in  # not evaluated: no measurement
                        week6_sr.content.get_planar_roi_measurement_groups()}
    widget.session.close()

    # reopen: the corrections are there
    reopened = ReviewSession(patient_b, "ATC-B")
    assert len(reopened.history()) == 7
    assert reopened.lesion(week6, "T1")["method"] == "manual"
    assert reopened.recist()["progression_date"] == week24
    assert reopened.timepoint(week6)["accepted"]["by"] == "dr-test"
    reopened.close()


def test_review_of_a_bare_study_folder_opens_fitted(sample, make_napari_viewer, qtbot,
                                                    tmp_path):
    """``caliper review STUDY``: the folder's one patient and study, no lesions yet, in the
    review widget (not only a view); a lesion added there from a rectangle drawn around
    it, and one from a line drawn across it, which its correction keeps. Adding a lesion
    from a click and following it is checked on the review model in
    tests/pipelines/test_review_session.py."""
    from pipelines.commands.review import prepare_study

    truth = json.loads((sample / "truth.json").read_text())["patients"]["ATC-B"]
    uid = truth["visits"][0]["series_uid"]
    series = next(s for s in discover(sample / "dicom").series if s.series_uid == uid)
    out, patient = prepare_study(series.first.path.parent, out=tmp_path / "review",
                                 progress=False)
    assert patient == "ATC-B"
    viewer = make_napari_viewer(show=True)  # a hidden single view renders black
    viewer.window.resize(1400, 900)  # room for the canvas beside the dock
    widget = open_review(viewer, out, patient, who="dr-test")
    date = truth["visits"][0]["date"]
    assert widget.session.dates == [date]
    assert widget.session.lesion_ids() == []
    assert f"{date} CT" in viewer.layers
    assert not viewer.canvas.grid.enabled
    canvas = _screenshot(viewer, tmp_path / "study.png", canvas_only=True)[..., :3]
    assert 0.15 < (canvas.max(axis=-1) < 20).mean() < 0.9  # the body fits, air around it

    # a rectangle drawn around the lung nodule T1 (3 mm out from where its long axis could
    # reach), then B: the lesion in that box, which the drawn layer then shows
    t1 = truth["lesions"]["T1"]["by_date"][date]
    x, y, z = t1["centre_lps_mm"]
    half = t1["long_axis_mm"] / 2 + 3.0
    drawn = viewer.layers[f"{date} drawn"]
    drawn.add_rectangles(np.array([[z, y - half, x - half], [z, y - half, x + half],
                                   [z, y + half, x + half], [z, y + half, x - half]]))
    # without an organ nothing is added (RECIST counts two targets per organ by it); with
    # one typed in the dock's organ box, the button adds the lesion as from that organ
    widget.add_from_box()
    assert not widget.busy
    assert widget.session.lesion_ids() == []
    assert "organ box" in widget.message.text()
    widget.organ_box.setCurrentText("lung")
    buttons = {b.text(): b for b in widget.findChildren(QPushButton)}
    buttons["Add from box [B]"].click()
    qtbot.waitUntil(lambda: not widget.busy, timeout=30000)
    assert widget.last_error == ""
    (lesion_id,) = widget.session.lesion_ids()
    record = widget.session.lesion(date, lesion_id)
    assert (record["method"], record["organ"], record["nodal"]) == ("reader-box", "lung",
                                                                   False)
    assert record["long_axis_mm"] == pytest.approx(t1["long_axis_mm"], rel=0.1)
    np.testing.assert_allclose(record["prompt_box_lps"],
                               [[x - half, y - half, z], [x + half, y + half, z]], atol=1e-6)
    assert len(drawn.data) == 1
    np.testing.assert_allclose(drawn.data[0][[0, 2]], [[z, y - half, x - half],
                                                       [z, y + half, x + half]], atol=1e-6)

    # a line drawn along the long axis found in the box, then D: the lesion across it,
    # measured as long (the line is the best evidence of its extent), the line shown
    ends = np.array(record["long_axis_endpoints"])
    drawn.add_lines(ends[:, ::-1])
    widget.add_from_line()
    qtbot.waitUntil(lambda: not widget.busy, timeout=30000)
    assert widget.last_error == ""
    line_id = next(i for i in widget.session.lesion_ids() if i != lesion_id)
    across = widget.session.lesion(date, line_id)
    assert across["method"] == "reader-line"
    np.testing.assert_allclose(across["prompt_line_lps"], ends, atol=1e-6)
    assert across["long_axis_mm"] == pytest.approx(record["long_axis_mm"], rel=0.05)
    assert sorted(drawn.shape_type) == ["line", "rectangle"]
    # re-segmented with an inside click, it is still made from its line (before, a
    # correction turned it into a click at the line's middle)
    widget.select_lesion(line_id)
    viewer.layers[f"{date} clicks"].add(np.array([ends.mean(axis=0)[::-1]]))
    widget.resegment_selected()
    qtbot.waitUntil(lambda: not widget.busy, timeout=30000)
    assert widget.last_error == ""
    again = widget.session.lesion(date, line_id)
    assert again["method"] == "reader-line"
    np.testing.assert_allclose(again["prompt_line_lps"], ends, atol=1e-6)
    np.testing.assert_allclose(again["clicks"]["inside"], [ends.mean(axis=0)], atol=1e-6)
    assert again["long_axis_mm"] == pytest.approx(across["long_axis_mm"], rel=0.02)

    # made a lymph node from the dock (selecting it shows its organ and node boxes): its
    # RECIST diameter is its short axis, at once in the table and the RECIST result
    widget.organ_box.setCurrentText("")
    widget.select_lesion(lesion_id)
    assert (widget.organ_box.currentText(), widget.nodal_box.isChecked()) == ("lung", False)
    widget.select_lesion(line_id)
    widget.organ_box.setCurrentText("")
    widget.nodal_box.setChecked(True)
    buttons["Set organ/node"].click()
    node = widget.session.lesion(date, line_id)
    assert (node["organ"], node["nodal"]) == ("lymph node", True)
    assert node["recist_diameter_mm"] == node["short_axis_mm"] < node["long_axis_mm"]
    row = next(r for r in widget.table_rows() if r[0] == line_id)
    assert row[2:5] == ["lymph node", "yes", f"{node['short_axis_mm']:.1f}"]
    assert widget.session.recist()["timepoints"][0]["sum_mm"] == pytest.approx(
        round(record["long_axis_mm"], 1) + round(node["short_axis_mm"], 1), abs=0.01)
    assert "short axis" in widget.message.text()
    assert [h["field"] for h in widget.session.history()][-2:] == ["organ", "nodal"]

    # U undoes that change whole (organ and node): a lung lesion measured by its long axis
    buttons["Undo [U]"].click()
    back = widget.session.lesion(date, line_id)
    assert (back["organ"], back["nodal"]) == ("lung", False)
    assert back["recist_diameter_mm"] == back["long_axis_mm"]
    assert widget.message.text().startswith(f"undone: organ ({line_id} {date})")
    # removed, the lesion leaves the table, its mask and the sum; the new click placed
    # before stays; U brings the lesion back
    lesions = viewer.layers[f"{date} lesions"]
    assert np.count_nonzero(lesions.data == back["label"]) == back["voxels"]
    n1 = truth["lesions"]["N1"]["by_date"][date]
    viewer.layers[f"{date} clicks"].add(np.array([n1["centre_lps_mm"][::-1]]))
    widget.select_lesion(line_id)
    buttons["Remove lesion"].click()
    assert [r[0] for r in widget.table_rows()] == [lesion_id]
    assert not np.any(lesions.data == back["label"])
    assert widget.session.recist()["timepoints"][0]["sum_mm"] == round(
        record["long_axis_mm"], 1)
    np.testing.assert_allclose(widget.clicks(date)[0], [n1["centre_lps_mm"]], atol=1e-6)
    widget.undo()
    assert [r[0] for r in widget.table_rows()] == [lesion_id, line_id]
    assert np.count_nonzero(lesions.data == back["label"]) == back["voxels"]
    np.testing.assert_allclose(widget.clicks(date)[0], [n1["centre_lps_mm"]], atol=1e-6)

    # the node N1 clicked (above) and Add pressed, and the widget finished before the
    # segmentation returned, as ``caliper review`` does once the viewer is closed (its
    # event loop gone, the result would not be stored): finish() waits for it and stores
    # the lesion, once
    widget.add_from_click(organ="lymph node", nodal=True)
    assert widget.busy
    fields = [h["field"] for h in widget.session.history()]
    widget.undo()  # not while it runs: its result, stored after, would undo the undo
    assert "segmentation is running" in widget.message.text()
    assert [h["field"] for h in widget.session.history()] == fields
    stored = widget.finish()
    assert not widget.busy
    node_id = next(i for i in widget.session.lesion_ids() if i not in (lesion_id, line_id))
    assert stored.startswith(f"{node_id} on {date} stored")
    qtbot.wait(200)  # the worker's returned signal, delivered now, stores nothing again
    assert [h["lesion_id"] for h in widget.session.history()].count(node_id) == 1
    assert widget.finish() is None
    widget.session.close()
    reopened = ReviewSession(out, patient)
    node = reopened.lesion(date, node_id)
    assert node["nodal"]
    assert node["short_axis_mm"] == pytest.approx(n1["short_axis_mm"], rel=0.1)
    reopened.close()
