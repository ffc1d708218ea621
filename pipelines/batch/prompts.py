"""The batch job's prompt sheet: one row per lesion, read and checked row by row.

Columns (header required, order free):

``patient_id, lesion_id, role, organ, nodal, x, y, z`` and optionally
``x2, y2, z2`` (with ``x, y, z``: the ends of a diameter drawn on one axial
slice), ``prompt`` (``box``: ``x, y, z`` and ``x2, y2, z2`` are two opposite
corners of a box drawn around the lesion; empty, ``point`` or ``line``: as the
coordinates say), ``study_date`` (ISO date of a later timepoint: a new lesion,
or a reader's correction of where a tracked lesion is), and ``inside`` and
``outside``: a reader's correction clicks, points in (or out of) the lesion that
the segmentation must hold (or leave out), each ``x y z`` and several separated by
``;`` (as the review's inside and outside clicks do). Coordinates are LPS mm.
``role`` is ``target``, ``nontarget`` or ``new`` (``new`` needs a
``study_date``); ``nodal`` is ``true`` or ``false``.

Every bad row is reported at once (:class:`PromptSheetError`, exit status 2),
each with its line number and what is wrong.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from imaging.errors import InputError
from imaging.segment import BoxPrompt, LinePrompt, PointPrompt

__all__ = ["LesionPrompt", "PromptSheetError", "read_prompt_rows", "read_prompts"]

REQUIRED = ("patient_id", "lesion_id", "role", "organ", "nodal", "x", "y", "z")
ROLES = ("target", "nontarget", "new")
SHAPES = ("point", "line", "box")
OPTIONAL = ("box", "inside", "outside")  # left out of a row's key when not set


class PromptSheetError(InputError):
    """A prompt sheet with bad rows; ``problems`` lists each as ``line N: what``."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        shown = "; ".join(problems[:20]) + (f"; ... {len(problems) - 20} more"
                                           if len(problems) > 20 else "")
        super().__init__(f"{path}: {len(problems)} bad prompt row(s): {shown}")


@dataclass(frozen=True)
class LesionPrompt:
    """One row of the prompt sheet."""

    line: int
    patient_id: str
    lesion_id: str
    role: str
    organ: str
    nodal: bool
    point: tuple[float, float, float]
    end: tuple[float, float, float] | None = None
    study_date: str | None = None
    """ISO date of the timepoint the prompt belongs to; None = baseline."""
    box: bool = False
    """``point`` and ``end`` are two opposite corners of a box drawn around the lesion."""
    inside: tuple[tuple[float, float, float], ...] = ()
    """Correction clicks the lesion must hold (LPS mm)."""
    outside: tuple[tuple[float, float, float], ...] = ()
    """Correction clicks the lesion must leave out (LPS mm)."""

    def prompt(self) -> PointPrompt | LinePrompt | BoxPrompt:
        clicks = {"positive": self.inside, "negative": self.outside}
        if self.box and self.end is not None:
            return BoxPrompt(self.point, self.end, **clicks)
        if self.end is not None:
            return LinePrompt(self.point, self.end, **clicks)
        return PointPrompt(self.point, **clicks)

    @property
    def kind(self) -> str:
        return "box" if self.box else "line" if self.end is not None else "point"

    def digest(self) -> str:
        """A content key of the row (the line number left out; ``box``, ``inside`` and
        ``outside`` only when set, so that the keys of sheets without them stay as they
        were)."""
        content = {k: v for k, v in asdict(self).items()
                   if k != "line" and (k not in OPTIONAL or v)}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def _floats(row: dict[str, str], names: tuple[str, ...], problems: list[str]
            ) -> tuple[float, float, float] | None:
    values = []
    for name in names:
        text = (row.get(name) or "").strip()
        try:
            value = float(text)
        except ValueError:
            problems.append(f"{name} = {text!r} is not a number")
            return None
        if not math.isfinite(value):
            problems.append(f"{name} = {text!r} is not finite")
            return None
        values.append(value)
    return (values[0], values[1], values[2])


def _clicks(row: dict[str, str], name: str, problems: list[str]
            ) -> tuple[tuple[float, float, float], ...]:
    """The correction clicks in column ``name``: ``x y z`` each, separated by ``;``."""
    clicks = []
    for n, text in enumerate((row.get(name) or "").split(";"), start=1):
        if not text.strip():
            continue
        parts = text.replace(",", " ").split()
        try:
            values = [float(v) for v in parts]
        except ValueError:
            values = []
        if len(values) != 3 or not all(math.isfinite(v) for v in values):
            problems.append(f"{name} click {n} = {text.strip()!r} is not three numbers "
                            f"(x y z, LPS mm)")
            continue
        clicks.append((values[0], values[1], values[2]))
    return tuple(clicks)


def _row(line: int, row: dict[str, str]) -> tuple[LesionPrompt | None, list[str]]:
    problems: list[str] = []
    get = {k: (row.get(k) or "").strip()
           for k in (*REQUIRED, "x2", "y2", "z2", "prompt", "study_date")}
    for name in ("patient_id", "lesion_id", "role"):
        if not get[name]:
            problems.append(f"{name} is empty")
    role = get["role"].lower()
    if role and role not in ROLES:
        problems.append(f"role {get['role']!r} is not one of {', '.join(ROLES)}")
    nodal_text = get["nodal"].lower()
    if nodal_text not in ("true", "false", "1", "0", "yes", "no", ""):
        problems.append(f"nodal {get['nodal']!r} is not true or false")
    shape = get["prompt"].lower()
    if shape and shape not in SHAPES:
        problems.append(f"prompt {get['prompt']!r} is not one of {', '.join(SHAPES)}")
    point = _floats(row, ("x", "y", "z"), problems)
    end = None
    if shape == "box" and not any(get[k] for k in ("x2", "y2", "z2")):
        problems.append("a box needs its opposite corner in x2, y2, z2")
    elif shape == "point" and any(get[k] for k in ("x2", "y2", "z2")):
        problems.append("a point prompt has no x2, y2, z2")
    if any(get[k] for k in ("x2", "y2", "z2")):
        end = _floats(row, ("x2", "y2", "z2"), problems)
        if shape == "box":
            if point is not None and end is not None and min(
                    abs(point[0] - end[0]), abs(point[1] - end[1])) < 1.0:
                problems.append("the box is narrower than 1 mm in-plane")
        elif point is not None and end is not None:
            if abs(point[2] - end[2]) > 0.5:
                problems.append(f"the drawn diameter is not on one axial slice "
                                f"(z {point[2]} and {end[2]} mm)")
            elif math.dist(point, end) < 1.0:
                problems.append("the drawn diameter is shorter than 1 mm")
    date = get["study_date"] or None
    if date is not None:
        try:
            date = dt.date.fromisoformat(date).isoformat()
        except ValueError:
            problems.append(f"study_date {get['study_date']!r} is not an ISO date (YYYY-MM-DD)")
    if role == "new" and not date:
        problems.append("a new lesion needs the study_date of the timepoint it appears at")
    inside, outside = _clicks(row, "inside", problems), _clicks(row, "outside", problems)
    if problems or point is None:
        return None, problems
    return LesionPrompt(line, get["patient_id"], get["lesion_id"], role, get["organ"],
                        nodal_text in ("true", "1", "yes"), point, end, date,
                        box=shape == "box", inside=inside, outside=outside), []


def read_prompts(path: Path) -> list[LesionPrompt]:
    """Read and check the sheet on its own (patients and images are checked by the plan)."""
    prompts, problems = read_prompt_rows(path)
    if problems:
        raise PromptSheetError(path, problems)
    return prompts


def read_prompt_rows(path: Path) -> tuple[list[LesionPrompt], list[str]]:
    """The rows that parse, and the problems of those that do not (``line N: what``)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in reader.fieldnames or []]
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise InputError(f"{path}: prompt sheet lacks column(s) {', '.join(missing)} "
                                 f"(has {', '.join(header) or 'no header'})")
            rows = [(n, {(k or "").strip(): v for k, v in r.items()})
                    for n, r in enumerate(reader, start=2)]
    except OSError as exc:
        raise InputError(f"{path}: cannot read the prompt sheet ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: the prompt sheet is not UTF-8 text") from exc
    prompts, problems = [], []
    seen: dict[tuple[str, str, str | None], int] = {}
    for line, row in rows:
        prompt, bad = _row(line, row)
        problems += [f"line {line}: {p}" for p in bad]
        if prompt is None:
            continue
        key = (prompt.patient_id, prompt.lesion_id, prompt.study_date)
        if key in seen:
            problems.append(f"line {line}: lesion {prompt.lesion_id} of patient "
                            f"{prompt.patient_id} is already prompted on line {seen[key]}"
                            + (f" for {prompt.study_date}" if prompt.study_date else ""))
            continue
        seen[key] = line
        prompts.append(prompt)
    if not rows:
        raise InputError(f"{path}: the prompt sheet has no rows")
    return prompts, problems
