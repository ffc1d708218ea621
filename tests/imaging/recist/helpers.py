"""Compact builders for RECIST cases in tests."""

from __future__ import annotations

import datetime as dt
from typing import Any


def T(id: str, mm: float, organ: str = "lung", nodal: bool = False) -> dict[str, Any]:
    return {"id": id, "role": "target", "organ": organ, "nodal": nodal, "diameter_mm": mm}


def NT(id: str, organ: str = "bone", status: str = "present", nodal: bool = False) -> dict:
    return {"id": id, "role": "nontarget", "organ": organ, "nodal": nodal, "status": status}


def NEW(id: str, status: str = "unequivocal", organ: str = "liver", **extra) -> dict:
    return {"id": id, "role": "new", "organ": organ, "status": status, **extra}


def m(id: str, value: float | str) -> dict[str, Any]:
    """A follow-up measurement: a number is diameter_mm, a string a status."""
    if isinstance(value, str):
        return {"id": id, "status": value}
    return {"id": id, "diameter_mm": value}


def case(*timepoints: list[dict], start: str = "2024-01-01", every_days: int = 42,
         days: list[int] | None = None, **top: Any) -> dict[str, Any]:
    """Timepoints every ``every_days`` days from ``start`` (or at ``days``)."""
    base = dt.date.fromisoformat(start)
    offsets = days or [n * every_days for n in range(len(timepoints))]
    return {
        "patient_id": top.pop("patient_id", "P"),
        **top,
        "timepoints": [
            {"date": (base + dt.timedelta(days=d)).isoformat(), "lesions": lesions}
            for d, lesions in zip(offsets, timepoints, strict=True)
        ],
    }


def overall(result: dict) -> list[str]:
    return [tp["overall"] for tp in result["timepoints"][1:]]
