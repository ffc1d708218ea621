"""The lesion review dock widget: every timepoint of a patient side by side (napari's
grid, follow-ups placed in baseline's frame by their registration, so one lesion sits
at the same place in every view), the lesion table, the RECIST result per timepoint
with its reasons, and the corrections a reader makes.

Per timepoint five layers: the CT, the lesion labels (one colour per lesion at every
timepoint), the long/short axes (lines; drag an end to override a measurement), what was
drawn (the boxes and lines lesions were made from; draw a line across a lesion, its
longest diameter, to add it from the line, or a rectangle around a lesion a click cannot
separate, such as a mass without contrast) and the clicks (what
each lesion was made from: its prompt in green, its correction clicks, the prompt sheet's
or a reader's, orange inside and cyan outside; new clicks add a lesion or re-segment
one, with the clicks it was made with, less any the reader deleted).

A lesion is added with the organ and the lymph-node box set in the dock (none is added
without an organ: RECIST counts two targets per organ); selecting a lesion shows its own,
and *Set organ/node* changes them (a node is measured by its short axis).

The grid shows baseline beside the timepoint chosen for actions (or every timepoint,
with "all timepoints"); choosing a timepoint arms its clicks layer.

Shortcuts: ``A`` add the lesion at the last click, ``D`` add the lesion across the last
line drawn, ``B`` add the lesion in the last rectangle drawn, ``R`` re-segment the
selected lesion with the clicks (from its line or in its box, if drawn), ``N`` toggle
inside/outside clicks, ``X`` absent, ``T`` too small, ``Shift-S`` sign off the timepoint,
``U`` undo this review's last change (again: the one before), ``1``/``2``/``3``
lung/soft/bone window. *Remove lesion* takes the selected lesion out at every timepoint.
Segmentation runs in a worker thread; the table and RECIST result update when it is
done, and a re-segmented lesion's message gives its axes before and after.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .reader import image_layer, layer_affine, window

__all__ = ["ReviewWidget", "open_review"]

CLICK_COLOURS = {"inside": "orange", "outside": "cyan", "prompt": "lime"}
FIELD_OF_VIEW_MM = 140.0  # what a jump to a lesion shows around it
LAYERS = ("CT", "lesions", "axes", "drawn", "clicks")  # of each timepoint, in this order:
# one grid view each
STATUSES = ("measured", "absent", "too_small", "not_evaluated", "present",
            "unequivocal_progression")
# offered in the organ box (free text: a reader may type any other); RECIST's two targets
# per organ count by it, all lymph nodes as one organ
ORGANS = ("lung", "liver", "lymph node", "pleura", "adrenal", "kidney", "pancreas",
          "spleen", "peritoneum", "bone", "soft tissue", "thyroid", "brain", "other")


def _zyx(point) -> list[float]:
    return [float(point[2]), float(point[1]), float(point[0])]


def _rectangle(corners) -> np.ndarray:
    """A box's two opposite corners (LPS) as a napari rectangle (4 x (z, y, x)) on its
    middle slice."""
    (x0, y0, z0), (x1, y1, z1) = corners
    z = (z0 + z1) / 2
    return np.array([[z, y0, x0], [z, y0, x1], [z, y1, x1], [z, y1, x0]], dtype=float)


def _xyz(point) -> tuple[float, float, float]:
    return (float(point[2]), float(point[1]), float(point[0]))


_UNDONE = {"lesion": "segmentation", "manual_measurement": "measurement by hand",
           "removed": "removal", "accepted": "sign-off", "nodal": "lymph node"}  # else: as is


def _kind_text(organ: str, nodal: bool) -> str:
    return organ + (", node" if nodal and organ != "lymph node" else "")


def _axes_change(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """What a re-segmentation did to the lesion's axes, for the reader to weigh beside
    its outline: a click that makes the outline fit better can still move the long axis
    the wrong way (MIRP STS_001's box, clicked inside: Dice up, long axis +8% -> +18%)."""
    parts = []
    for key, name in (("long_axis_mm", "long axis"), ("short_axis_mm", "short axis")):
        before, after = (old or {}).get(key), new.get(key)
        if before and after is not None:
            parts.append(f"{name} {before:.1f} -> {after:.1f} mm "
                         f"({100 * (after / before - 1):+.1f}%)")
    return ", ".join(parts)


class ReviewWidget(QWidget):
    """Dock widget; ``session`` is a :class:`pipelines.batch.session.ReviewSession`."""

    def __init__(self, napari_viewer, session=None) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.session = session
        self.busy = False
        self.last_error = ""
        self._pending: Any = None  # a segmentation's result not yet stored (see finish)
        self._axes_index: dict[str, list[tuple[str, str]]] = {}
        self._updating = False
        layout = QVBoxLayout(self)
        self.title = QLabel("no patient")
        layout.addWidget(self.title)
        row = QHBoxLayout()
        for name in ("lung", "soft", "bone"):
            button = QPushButton(name)
            button.clicked.connect(lambda _=False, n=name: self.set_window(n))
            row.addWidget(button)
        layout.addLayout(row)
        self.date_box = QComboBox()
        self.date_box.currentTextChanged.connect(self._date_chosen)
        layout.addWidget(QLabel("timepoint for actions (shown beside baseline)"))
        date_row = QHBoxLayout()
        date_row.addWidget(self.date_box)
        self.all_box = QCheckBox("all timepoints")
        self.all_box.toggled.connect(lambda _: self._date_chosen(self.date))
        date_row.addWidget(self.all_box)
        layout.addLayout(date_row)
        self.table = QTableWidget()
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.itemSelectionChanged.connect(self._selected)
        layout.addWidget(self.table)
        for row_actions in ((("Add lesion [A]", self.add_from_click),
                             ("Add from line [D]", self.add_from_line),
                             ("Add from box [B]", self.add_from_box),
                             ("Re-segment [R]", self.resegment_selected)),
                            (("Inside/outside [N]", self.toggle_click_sign),
                             ("Absent [X]", lambda: self.set_status_selected("absent")),
                             ("Too small [T]",
                              lambda: self.set_status_selected("too_small"))),
                            (("Remove lesion", self.remove_selected),
                             ("Undo [U]", self.undo))):
            actions = QHBoxLayout()
            for text, slot in row_actions:
                button = QPushButton(text)
                button.clicked.connect(slot)
                actions.addWidget(button)
            layout.addLayout(actions)
        status_row = QHBoxLayout()
        self.status_box = QComboBox()
        self.status_box.addItems(STATUSES)
        set_status = QPushButton("Set status")
        set_status.clicked.connect(lambda: self.set_status_selected(
            self.status_box.currentText()))
        self.role_box = QComboBox()
        self.role_box.addItems(("target", "nontarget", "new"))
        set_role = QPushButton("Set role")
        set_role.clicked.connect(self._set_role)
        for w in (self.status_box, set_status, self.role_box, set_role):
            status_row.addWidget(w)
        layout.addLayout(status_row)
        kind_row = QHBoxLayout()  # what a lesion is: for those added, or set on the selected
        self.organ_box = QComboBox()
        self.organ_box.setEditable(True)
        self.organ_box.addItems(("", *ORGANS))
        self.organ_box.lineEdit().setPlaceholderText("organ")
        self.nodal_box = QCheckBox("lymph node")
        set_kind = QPushButton("Set organ/node")
        set_kind.clicked.connect(self.set_kind_selected)
        kind_row.addWidget(QLabel("organ"))
        for w in (self.organ_box, self.nodal_box, set_kind):
            kind_row.addWidget(w)
        layout.addLayout(kind_row)
        final = QHBoxLayout()
        accept = QPushButton("Sign off timepoint [Shift-S]")
        accept.clicked.connect(self.accept_timepoint)
        save = QPushButton("Save and regenerate outputs")
        save.clicked.connect(self.save)
        final.addWidget(accept)
        final.addWidget(save)
        layout.addLayout(final)
        self.recist_table = QTableWidget()
        self.recist_table.horizontalHeader().setStretchLastSection(True)
        self.recist_table.setWordWrap(True)
        layout.addWidget(QLabel("RECIST per timepoint"))
        layout.addWidget(self.recist_table)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        self._bind_keys()
        if session is not None:
            self.load(session)

    # building --------------------------------------------------------------
    def _to_world(self, date: str) -> np.ndarray | None:
        """4x4 (x-y-z) mapping this timepoint's LPS into baseline's."""
        tp = self.session.timepoint(date)
        reg = tp.get("registration")
        if not reg:
            return None
        from ..tracking import transform_from_dict, transform_matrix

        # the registration maps baseline to this timepoint: its inverse places it
        return np.linalg.inv(transform_matrix(transform_from_dict(reg)))

    def load(self, session) -> None:
        self.session = session
        self.title.setText(f"patient {session.patient_id}: {len(session.dates)} timepoints")
        self.viewer.layers.clear()
        for date in session.dates:
            to_world = self._to_world(date)
            data, kwargs, _ = image_layer(session.volume(date), f"{date} CT", to_world)
            self.viewer.add_image(data, **kwargs)
            self.viewer.add_labels(session.labels(date), name=f"{date} lesions",
                                   affine=layer_affine(session.volume(date).geometry, to_world),
                                   opacity=0.45)
            self.viewer.add_shapes(name=f"{date} axes", affine=layer_affine(None, to_world),
                                   edge_width=1.0, ndim=3)
            self.viewer.add_shapes(name=f"{date} drawn", affine=layer_affine(None, to_world),
                                   ndim=3, edge_width=1.0, edge_color="yellow",
                                   face_color="transparent")
            self.viewer.add_points(name=f"{date} clicks", affine=layer_affine(None, to_world),
                                   ndim=3, size=4, features={"sign": np.array([], str),
                                                             "lesion": np.array([], str)},
                                   feature_defaults={"sign": "inside", "lesion": ""},
                                   face_color="sign", face_color_cycle=CLICK_COLOURS)
            self._show_prompts(date)
            self._draw_axes(date)
            self.viewer.layers[f"{date} axes"].events.data.connect(
                lambda event, d=date: self._axes_edited(d, event))
        grid = self.viewer.canvas.grid
        grid.stride = len(LAYERS)  # a timepoint's layers share its view (4 had left the
        # clicks of one timepoint in a view of their own, without its CT)
        grid.enabled = len(session.dates) > 1  # one study alone: one view
        self.date_box.blockSignals(True)
        self.date_box.clear()
        self.date_box.addItems(session.dates)
        self.date_box.blockSignals(False)
        self.date_box.setCurrentText(session.dates[-1])
        self._date_chosen(self.date)
        self.refresh()

    def shown_dates(self) -> list[str]:
        return [d for d in self.session.dates if self.viewer.layers[f"{d} CT"].visible]

    def _date_chosen(self, date: str) -> None:
        """Show baseline beside ``date`` (or every timepoint) and arm its clicks layer."""
        dates = self.session.dates
        if date not in dates:
            return
        other = date if date != dates[0] or len(dates) == 1 else dates[1]
        for d in dates:
            visible = self.all_box.isChecked() or d in (dates[0], other)
            for kind in LAYERS:
                self.viewer.layers[f"{d} {kind}"].visible = visible
        clicks = self.viewer.layers[f"{date} clicks"]
        self.viewer.layers.selection.active = clicks
        clicks.mode = "add"
        self.fit_view()

    def fit_view(self, field_mm: float | None = None) -> None:
        fit_view(self.viewer, field_mm, self.viewer.layers[f"{self.session.dates[0]} CT"])

    def _draw_axes(self, date: str) -> None:
        layer = self.viewer.layers[f"{date} axes"]
        lines, colours, index = [], [], []
        for r in self.session.timepoint(date)["lesions"]:
            for key, colour in (("long_axis_endpoints", "yellow"),
                                ("short_axis_endpoints", "cyan")):
                ends = r.get(key)
                if ends:
                    lines.append(np.array([_zyx(ends[0]), _zyx(ends[1])]))
                    manual = r.get("method") == "manual" and key == "long_axis_endpoints"
                    colours.append("magenta" if manual else colour)
                    index.append((r["lesion_id"], key))
        self._updating = True
        try:
            layer.data = []
            if lines:
                layer.add_lines(lines, edge_color=colours, edge_width=1.0)
        finally:
            self._updating = False
        self._axes_index[date] = index

    def refresh(self) -> None:
        """Tables, RECIST result and layers from the session's current state."""
        s = self.session
        rows = s.table()
        dates = s.dates
        headers = ["lesion", "role", "organ", "nodal", *dates, "status", "flags"]
        self.table.blockSignals(True)
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(rows))
        for n, row in enumerate(rows):
            last = next((row["statuses"][d] for d in reversed(dates) if d in row["statuses"]),
                        "")
            values = [row["lesion_id"], row.get("role"), row.get("organ"),
                      "yes" if row.get("nodal") else "no",
                      *[("" if row["diameters"].get(d) is None
                         else f"{row['diameters'][d]:.1f}") if d in row["statuses"] else "-"
                        for d in dates], last, ", ".join(row["flags"])]
            for c, v in enumerate(values):
                self.table.setItem(n, c, QTableWidgetItem("" if v is None else str(v)))
        self.table.blockSignals(False)
        result = s.recist()
        self.recist_table.setColumnCount(4)
        self.recist_table.setHorizontalHeaderLabels(["date", "sum mm", "overall", "reasons"])
        if "error" in result:
            self.recist_table.setRowCount(0)
            self.message.setText(result["error"])
        else:
            tps = result["timepoints"]
            self.recist_table.setRowCount(len(tps))
            for n, tp in enumerate(tps):
                for c, v in enumerate((tp["date"], tp.get("sum_mm"), tp["overall"],
                                       "; ".join(tp.get("reasons", [])))):
                    self.recist_table.setItem(n, c, QTableWidgetItem(str(v)))
            self.message.setText(f"best overall response {result['best_overall_response']}")
        for date in dates:
            self.viewer.layers[f"{date} lesions"].data = s.labels(date)
            self._draw_axes(date)

    # reading the table -----------------------------------------------------
    def table_rows(self) -> list[list[str]]:
        return [[self.table.item(r, c).text() if self.table.item(r, c) else ""
                 for c in range(self.table.columnCount())] for r in range(self.table.rowCount())]

    def recist_rows(self) -> list[list[str]]:
        t = self.recist_table
        return [[t.item(r, c).text() for c in range(t.columnCount())]
                for r in range(t.rowCount())]

    def selected_lesion(self) -> str | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.table.item(rows[0].row(), 0).text() if rows else None

    def select_lesion(self, lesion_id: str) -> None:
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).text() == lesion_id:
                self.table.selectRow(r)
                return

    def _row(self, lesion_id: str) -> dict[str, Any]:
        return next(r for r in self.session.table() if r["lesion_id"] == lesion_id)

    def _selected(self) -> None:
        lesion_id = self.selected_lesion()
        if lesion_id:
            row = self._row(lesion_id)
            self.organ_box.setCurrentText(row.get("organ") or "")
            self.nodal_box.setChecked(bool(row.get("nodal")))
            self.jump_to(lesion_id)

    def jump_to(self, lesion_id: str) -> None:
        """Every view to the lesion: its baseline-frame centre (follow-ups are registered)."""
        s = self.session
        centre = None
        for tp in s.timepoints:
            r = next((x for x in tp["lesions"] if x["lesion_id"] == lesion_id), None)
            if r and r.get("reference"):
                centre = r["reference"]["centre_lps"]
                break
            if r and tp["date"] == s.dates[0] and r.get("centre_lps"):
                centre = r["centre_lps"]
                break
        if centre is None:
            return
        world = _zyx(centre)
        self.viewer.dims.set_point(0, world[0])
        self.viewer.scene.camera.center = tuple(world[1:])
        self.fit_view(FIELD_OF_VIEW_MM)

    # corrections -----------------------------------------------------------
    @property
    def date(self) -> str:
        return self.date_box.currentText()

    def set_window(self, preset: str) -> None:
        for layer in self.viewer.layers:
            if layer.name.endswith(" CT"):
                layer.contrast_limits = window(preset)

    def _run(self, work, done_message: str) -> None:
        """Run ``work`` (segmentation) off the GUI thread; store its result and refresh
        on the GUI thread when it returns."""
        from napari.qt.threading import create_worker

        self.busy = True
        self.message.setText("working ...")

        def kept() -> Any:  # held until stored: the viewer may be closed meanwhile
            self._pending = work()
            return self._pending

        worker = create_worker(kept)

        def returned(prepared: Any) -> None:
            if self._pending is None:  # already stored by finish()
                return
            self._pending = None
            date, change = self._store(prepared)
            self.busy = False
            self.refresh()
            self._show_prompts(date)  # the new lesion's prompt among them
            done = f"{done_message}: {change}" if change else done_message
            self.message.setText(done + " · " + self.message.text())

        def errored(exc: Exception) -> None:
            self.busy = False
            self.last_error = str(exc)
            self.message.setText(f"error: {exc}")

        worker.returned.connect(returned)
        worker.errored.connect(errored)
        worker.start()

    def finish(self) -> str | None:
        """Once the viewer is closed: wait for a segmentation still running and store its
        lesion (a reader who pressed Add and closed the window keeps what was computed;
        with the event loop gone its result would not be stored). Returns what was
        stored, or None."""
        from qtpy.QtCore import QThreadPool

        QThreadPool.globalInstance().waitForDone()
        prepared, self._pending = self._pending, None
        self.busy = False
        if prepared is None:
            return None
        date, change = self._store(prepared)
        return f"{prepared[1]} on {date} stored" + (f": {change}" if change else "")

    def _store(self, prepared: Any) -> tuple[str, str]:
        """Record a segmentation's lesion; its date and how its axes changed."""
        date, _, old, record = prepared
        change = _axes_change(old, record)
        self.session.commit(prepared)
        return date, change

    def _kind(self, organ: str | None, nodal: bool | None) -> tuple[str, bool] | None:
        """A new lesion's organ and whether it is a node: as given, else from the organ box
        and the lymph node box (a node without an organ is a 'lymph node'); None, with a
        message, when it has no organ (RECIST's two targets per organ count by it)."""
        nodal = self.nodal_box.isChecked() if nodal is None else nodal
        organ = (self.organ_box.currentText() if organ is None else organ).strip()
        organ = organ or ("lymph node" if nodal else "")
        if not organ:
            self.message.setText("choose or type the lesion's organ in the organ box first "
                                 "(RECIST counts at most two targets per organ)")
            return None
        return organ, nodal

    def add_from_click(self, *, organ: str | None = None, nodal: bool | None = None,
                       role: str | None = None) -> None:
        """A lesion from the last click in the timepoint's clicks layer; its organ and
        node box from the dock unless given."""
        date = self.date
        inside, _ = self.clicks(date)
        if not inside:
            self.message.setText(f"click a point inside the lesion in the '{date} clicks' "
                                 "layer first")
            return
        kind = self._kind(organ, nodal)
        if kind is None:
            return
        point = inside[-1]
        self._run(lambda: self.session.prepare_lesion(date, point, organ=kind[0],
                                                      nodal=kind[1], role=role),
                  f"lesion added on {date} ({_kind_text(*kind)})")
        self._show_prompts(date)

    def _last_drawn(self, kind: str, how: str) -> np.ndarray | None:
        """The last ``kind`` (napari's shape type) drawn at the timepoint, as LPS points,
        or None with a message saying what to draw."""
        layer = self.viewer.layers[f"{self.date} drawn"]
        shapes = [d for d, k in zip(layer.data, layer.shape_type, strict=True) if k == kind]
        if not shapes:
            self.message.setText(f"draw a {kind} {how} in the '{self.date} drawn' layer first")
            return None
        return np.array([_xyz(p) for p in shapes[-1]])

    def add_from_line(self, *, organ: str | None = None, nodal: bool | None = None,
                      role: str | None = None) -> None:
        """A lesion from the last line drawn in the timepoint's drawn layer: its longest
        diameter, on the slice where it is longest (for a node, its short axis)."""
        date, ends = self.date, self._last_drawn("line", "across the lesion")
        kind = None if ends is None else self._kind(organ, nodal)
        if kind is None:
            return
        line = (tuple(ends[0]), tuple(ends[-1]))
        self._run(lambda: self.session.prepare_lesion(date, None, organ=kind[0],
                                                      nodal=kind[1], role=role, line=line),
                  f"lesion added on {date} from its line ({_kind_text(*kind)})")

    def add_from_box(self, *, organ: str | None = None, nodal: bool | None = None,
                     role: str | None = None) -> None:
        """A lesion from the last rectangle drawn in the timepoint's drawn layer (for a
        lesion a click cannot separate, such as a mass without contrast)."""
        date, corners = self.date, self._last_drawn("rectangle", "tight around the lesion")
        kind = None if corners is None else self._kind(organ, nodal)
        if kind is None:
            return
        box = (tuple(corners.min(axis=0)), tuple(corners.max(axis=0)))
        self._run(lambda: self.session.prepare_lesion(date, None, organ=kind[0],
                                                      nodal=kind[1], role=role, box=box),
                  f"lesion added on {date} from its box ({_kind_text(*kind)})")

    def resegment_selected(self) -> None:
        date, lesion_id = self.date, self.selected_lesion()
        if not lesion_id:
            return
        inside, outside = self.clicks(date, lesion_id)  # its stored clicks as shown: one
        # the reader deleted goes
        self._run(lambda: self.session.prepare_clicks(date, lesion_id, positive=inside,
                                                      negative=outside, keep=False),
                  f"{lesion_id} re-segmented")
        self._show_prompts(date)

    def _show_prompts(self, date: str, keep_new: bool = False) -> None:
        """The clicks layer holds only what the lesions of ``date`` were made from: their
        prompts (green) and their correction clicks (orange inside, cyan outside; the
        prompt sheet's or a correction's), each marked with its lesion, ready for new
        clicks (``keep_new``: the new clicks already there stay, as after an undo)."""
        layer = self.viewer.layers[f"{date} clicks"]
        records = self.session.timepoint(date)["lesions"]
        points, signs, owners = [], [], []
        if keep_new:
            new = layer.features["lesion"].to_numpy() == ""
            points += list(layer.data[new])
            signs += list(layer.features["sign"].to_numpy()[new])
            owners += [""] * int(new.sum())
        for r in records:
            made = r.get("clicks", {})
            for sign, where in (("prompt", [r["prompt_lps"]] if r.get("prompt_lps") else []),
                                ("inside", made.get("inside", [])),
                                ("outside", made.get("outside", []))):
                points += [_zyx(p) for p in where]
                signs += [sign] * len(where)
                owners += [r["lesion_id"]] * len(where)
        default = layer.feature_defaults["sign"][0]
        layer.data = np.array(points).reshape(-1, 3)
        layer.features = {"sign": np.array(signs, dtype=object),
                          "lesion": np.array(owners, dtype=object)}
        layer.feature_defaults = {"sign": default, "lesion": ""}
        layer.refresh_colors()
        drawn = self.viewer.layers[f"{date} drawn"]  # and the boxes and lines some were
        drawn.data = []  # drawn with
        boxes = [_rectangle(r["prompt_box_lps"]) for r in records if r.get("prompt_box_lps")]
        lines = [np.array([_zyx(p) for p in r["prompt_line_lps"]]) for r in records
                 if r.get("prompt_line_lps")]
        if boxes:
            drawn.add_rectangles(boxes)
        if lines:
            drawn.add_lines(lines)

    def clicks(self, date: str, lesion_id: str = "") -> tuple[list, list]:
        """The new clicks at ``date`` in LPS (x, y, z), and those ``lesion_id`` was made
        with: inside the lesion, outside it."""
        layer = self.viewer.layers[f"{date} clicks"]
        signs = layer.features["sign"].to_numpy()
        mine = np.isin(layer.features["lesion"].to_numpy(), ["", lesion_id])
        return tuple([_xyz(p) for p in layer.data[mine & (signs == sign)]]
                     for sign in ("inside", "outside"))

    def toggle_click_sign(self) -> str:
        """New clicks mark the inside of a lesion, or (toggled) its outside."""
        layer = self.viewer.layers[f"{self.date} clicks"]
        sign = "outside" if layer.feature_defaults["sign"][0] == "inside" else "inside"
        for d in self.session.dates:  # the colour follows the feature
            self.viewer.layers[f"{d} clicks"].feature_defaults = {"sign": sign, "lesion": ""}
        self.message.setText(f"new clicks mark the {sign} of a lesion")
        return sign

    def set_status_selected(self, status: str) -> None:
        lesion_id = self.selected_lesion()
        if lesion_id:
            self.session.set_status(self.date, lesion_id, status)
            self.refresh()

    def _set_role(self) -> None:
        lesion_id = self.selected_lesion()
        if lesion_id:
            self.session.set_attribute(lesion_id, "role", self.role_box.currentText())
            self.refresh()

    def set_kind_selected(self) -> None:
        """The organ and node boxes onto the selected lesion (at every timepoint). A lesion
        made a node is measured by its short axis from then on; re-segmenting it (``R``)
        outlines it as a node (fat around it is not the node)."""
        lesion_id = self.selected_lesion()
        if not lesion_id:
            self.message.setText("select a lesion in the table first")
            return
        row = self._row(lesion_id)
        kind = self._kind(None, None)
        if kind is None:
            return
        organ, nodal = kind
        made_node = nodal != bool(row.get("nodal"))  # or no longer one
        if organ != row.get("organ"):
            self.session.set_attribute(lesion_id, "organ", organ)
        if made_node:  # with the organ, one change to undo
            self.session.set_attribute(lesion_id, "nodal", nodal,
                                       part_of_last=organ != row.get("organ"))
        self.refresh()
        text = f"{lesion_id}: {_kind_text(organ, nodal)}"
        if made_node:
            text += (", measured by its short axis now; R re-segments it as a node" if nodal
                     else ", measured by its long axis now")
        self.message.setText(text + " · " + self.message.text())

    def remove_selected(self) -> None:
        """Take the selected lesion out at every timepoint (added by mistake, or not a
        lesion); U brings it back."""
        lesion_id = self.selected_lesion()
        if not lesion_id:
            self.message.setText("select a lesion in the table first")
        elif self._idle():
            self.session.remove_lesion(lesion_id)
            self._changed(f"{lesion_id} removed from every timepoint (U undoes it)")

    def undo(self) -> None:
        """Withdraw this review's last change (a lesion added and followed, a
        re-segmentation, a measurement by hand, a status, a role or organ, a removal, a
        sign-off); pressed again, the one before."""
        if not self._idle():
            return
        undone = self.session.undo()
        if undone is None:
            self.message.setText("nothing to undo: this review has made no change")
            return
        where = " ".join(v for v in (undone["lesion_id"] if undone["lesion_id"] != "*"
                                     else "", undone["date"]) if v)
        self._changed(f"undone: {_UNDONE.get(undone['field'], undone['field'])} ({where})")

    def _idle(self) -> bool:
        """False, with a message, while a segmentation runs (its result, stored after,
        would bring back what was removed or undone)."""
        if self.busy:
            self.message.setText("a segmentation is running: wait until it is stored")
        return not self.busy

    def _changed(self, text: str) -> None:
        """Tables, layers and every timepoint's prompts from the session (the new clicks
        stay), ``text`` before the RECIST result."""
        self.refresh()
        for date in self.session.dates:
            self._show_prompts(date, keep_new=True)
        self.message.setText(f"{text} · {self.message.text()}")

    def accept_timepoint(self) -> None:
        self.session.accept(self.date)
        self.refresh()

    def save(self) -> dict[str, Any]:
        summary = self.session.save()
        self.message.setText(" · ".join([f"saved: {summary['report']}",
                                         *summary["export_warnings"]]))
        return summary

    def _axes_edited(self, date: str, event) -> None:
        if self._updating or getattr(event, "action", "changed") not in ("changed", None):
            return
        layer = self.viewer.layers[f"{date} axes"]
        index = self._axes_index.get(date, [])
        if len(layer.data) != len(index):
            return
        for (lesion_id, key), line in zip(index, layer.data, strict=True):
            r = self.session.lesion(date, lesion_id)
            ends = np.array([_zyx(p) for p in r.get(key) or []])
            if ends.shape == line.shape and not np.allclose(ends, line, atol=1e-3):
                new = [_xyz(p) for p in line]
                if key == "long_axis_endpoints":
                    self.session.set_axes(date, lesion_id, new)
                else:
                    self.session.set_axes(date, lesion_id, r["long_axis_endpoints"], new)
        self.refresh()

    def _bind_keys(self) -> None:
        bindings = {"a": self.add_from_click, "b": self.add_from_box, "d": self.add_from_line,
                    "r": self.resegment_selected,
                    "n": self.toggle_click_sign,
                    "x": lambda: self.set_status_selected("absent"),
                    "t": lambda: self.set_status_selected("too_small"),
                    "Shift-S": self.accept_timepoint, "u": self.undo,
                    "1": lambda: self.set_window("lung"), "2": lambda: self.set_window("soft"),
                    "3": lambda: self.set_window("bone")}
        for key, action in bindings.items():
            self.viewer.bind_key(key, lambda _viewer, a=action: a(), overwrite=True)


def fit_view(viewer, field_mm: float | None = None, reference=None) -> None:
    """Fit ``reference`` (or every layer) in the grid's views, or show ``field_mm`` of
    ``reference``'s width around the camera's centre. The grid's views get their size only once Qt
    lays them out, and napari applies a zoom only when its value changes: so lay out
    first, then reset the camera from a different value."""
    camera = viewer.scene.camera
    centre = camera.center
    QApplication.processEvents()
    camera.zoom = camera.zoom * 1.5 + 1e-3
    viewer.reset_view(layers=None if reference is None else [reference])
    if field_mm and reference is not None:
        extent = reference.extent.world
        span = float(np.max(extent[1, 1:] - extent[0, 1:]))
        camera.zoom = camera.zoom * max(1.0, span / field_mm)
        camera.center = centre


def open_review(viewer, out, patient_id: str, who: str | None = None) -> ReviewWidget:
    from pipelines.batch.session import ReviewSession

    widget = ReviewWidget(viewer, ReviewSession(out, patient_id, who=who))
    viewer.window.add_dock_widget(widget, name=f"Caliper review {patient_id}", area="right")
    widget.fit_view()  # again: the dock took part of the canvas
    return widget
