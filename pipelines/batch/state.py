"""The batch job's state store: one SQLite file in OUT (``state.sqlite``).

* ``tasks``: one row per finished timepoint task, keyed by the content of its
  inputs (series content key, prompts, the results it builds on, the code's
  version), never by time. A rerun skips every task whose key is stored; a
  killed run loses only the tasks that were running.
* ``corrections``: what readers changed (who, when, old and new value),
  applied over the tasks' results whenever outputs are assembled; an undo is a
  correction too (field ``withdrawn``: the ids of those it takes back).
* ``exports``: a timepoint's files written again from its corrected lesions by a
  review's save, or by a rerun that computed the timepoint afresh (who, when, the task
  it corrects, what was written and any export warnings): the job's outputs report
  those warnings, not the batch's first ones.

Only the coordinating process writes (workers return results); each result
is committed on its own, so the store is always consistent.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import sqlite3
from pathlib import Path
from typing import Any

__all__ = ["StateStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    key TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL,
    date TEXT NOT NULL,
    kind TEXT NOT NULL,
    ok INTEGER NOT NULL,
    result TEXT NOT NULL,
    finished_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS corrections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id TEXT NOT NULL,
    date TEXT NOT NULL,
    lesion_id TEXT NOT NULL,
    field TEXT NOT NULL,
    old TEXT,
    new TEXT,
    who TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS exports (
    patient_id TEXT NOT NULL,
    date TEXT NOT NULL,
    task_key TEXT NOT NULL,
    files TEXT NOT NULL,
    who TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (patient_id, date)
);
"""


def _now() -> str:
    """When a row is written: UTC, to the second."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class StateStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # tasks ---------------------------------------------------------------
    def done(self, key: str) -> dict[str, Any] | None:
        """The stored result of a task that succeeded, else None."""
        row = self._db.execute("SELECT result FROM tasks WHERE key = ? AND ok = 1",
                               (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def record(self, result: dict[str, Any]) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?)",
                (result["key"], result["patient_id"], result["date"], result["kind"],
                 0 if "error" in result else 1, json.dumps(result),
                 _now()))

    def result(self, key: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT result FROM tasks WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    # a timepoint's files written again from its corrections --------------
    def record_export(self, patient_id: str, date: str, task_key: str, files: dict[str, Any],
                      who: str | None = None) -> None:
        """What a review's save, or a rerun, wrote for a timepoint from its corrected
        lesions (replacing what was written before)."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO exports VALUES (?, ?, ?, ?, ?, ?)",
                (patient_id, date, task_key, json.dumps(files), who or getpass.getuser(),
                 _now()))

    def export_of(self, patient_id: str, date: str, task_key: str) -> dict[str, Any] | None:
        """The files a review last wrote for the timepoint, when they correct the task
        ``task_key`` (a rerun that computed the timepoint afresh wrote its own), else
        None."""
        row = self._db.execute("SELECT files FROM exports WHERE patient_id = ? AND date = ?"
                               " AND task_key = ?", (patient_id, date, task_key)).fetchone()
        return json.loads(row[0]) if row else None

    # corrections ---------------------------------------------------------
    def correct(self, patient_id: str, date: str, lesion_id: str, field: str, old: Any,
                new: Any, who: str | None = None) -> int:
        with self._db:
            cur = self._db.execute(
                "INSERT INTO corrections (patient_id, date, lesion_id, field, old, new, who, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (patient_id, date, lesion_id, field, json.dumps(old), json.dumps(new),
                 who or getpass.getuser(),
                 _now()))
        return int(cur.lastrowid or 0)

    def corrections(self, patient_id: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT id, patient_id, date, lesion_id, field, old, new, who, at FROM corrections"
        args: tuple = ()
        if patient_id is not None:
            query += " WHERE patient_id = ?"
            args = (patient_id,)
        rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        keys = ("id", "patient_id", "date", "lesion_id", "field", "old", "new", "who", "at")
        out = []
        for row in rows:
            item = dict(zip(keys, row, strict=True))
            item["old"], item["new"] = json.loads(item["old"]), json.loads(item["new"])
            out.append(item)
        return out
