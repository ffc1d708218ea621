"""Choose the series to measure when a study holds several.

Rule, in order: never a localizer; the wanted modality (CT); axial before
other planes; the wanted reconstruction kernel (soft tissue or lung) when one
is asked for; the thinnest slice spacing; the most slices. The rule and the
series left out are returned in words so callers can report them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import SeriesSelectionError
from ..geometry import AXIAL_TOLERANCE_DEG
from .discover import Inventory, Series, require_series

__all__ = ["Choice", "KernelPreference", "choose_series", "kernel_class"]

KernelPreference = Literal["soft", "lung", "any"]

# Sharp (lung / bone) kernels of the main vendors; everything else counts as soft tissue.
_SHARP = re.compile(
    r"LUNG|BONE|SHARP|EDGE|DETAIL|^[BIHQ][rl]?[5-9]\d|^FC(5[0-9]|8[0-9])|^(YA|YB|YC|YD|L|E|D)$",
    re.IGNORECASE,
)


def kernel_class(series: Series) -> Literal["soft", "lung"]:
    """Classify a series' reconstruction kernel as soft tissue or lung (sharp)."""
    first = series.first
    kernel = first.kernel.split("\\")[0].strip()
    if _SHARP.search(kernel) or re.search(r"\blung\b", first.description, re.IGNORECASE):
        return "lung"
    return "soft"


def _is_axial(series: Series) -> bool:
    iop = series.first.orientation
    if iop is None:
        return False
    n = np.cross(np.asarray(iop[:3]), np.asarray(iop[3:]))
    return abs(float(n[2])) >= np.cos(np.deg2rad(AXIAL_TOLERANCE_DEG))


@dataclass(frozen=True)
class Choice:
    series: Series
    rule: str
    others: tuple[Series, ...]

    def describe(self) -> str:
        left = ", ".join(
            f"{s.series_uid} ({s.first.description or 'no description'}, {s.slices} slices)"
            for s in self.others
        )
        chosen = f"{self.series.series_uid} ({self.series.first.description or 'no description'})"
        return f"chose series {chosen} by rule: {self.rule}" + (
            f"; other series: {left}" if left else ""
        )


def choose_series(
    inventory: Inventory,
    *,
    study_uid: str | None = None,
    series_uid: str | None = None,
    kernel: KernelPreference = "any",
    modality: str | None = "CT",
) -> Choice:
    """Pick the series to load from ``inventory`` (optionally within one study)."""
    if series_uid:
        chosen = inventory.get(series_uid)
        others = tuple(s for s in inventory.series if s is not chosen)
        return Choice(chosen, "series requested by UID", others)
    candidates = require_series(inventory, modality=modality)
    if study_uid:
        candidates = [s for s in candidates if s.first.study_uid == study_uid]
        if not candidates:
            raise SeriesSelectionError(f"{inventory.root}: no usable series in study {study_uid}")

    def key(s: Series) -> tuple[float, ...]:
        spacing = s.slice_spacing_mm or 1e9
        return (
            0 if _is_axial(s) else 1,
            0 if kernel == "any" or kernel_class(s) == kernel else 1,
            round(spacing, 1),
            -s.slices,
        )

    ordered = sorted(candidates, key=key)
    parts = ["not a localizer", f"modality {modality or 'any'}", "axial first"]
    if kernel != "any":
        parts.append(f"{kernel} kernel first")
    parts += ["thinnest slices", "most slices"]
    others = tuple(s for s in inventory.series if s is not ordered[0])
    return Choice(ordered[0], " > ".join(parts), others)
