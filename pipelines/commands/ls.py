"""``caliper ls STUDIES [--json]``: inventory of the DICOM series under a folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imaging.io import discover, require_series

from .._output import Progress, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ls", help="list the DICOM series under a folder (headers only)")
    p.add_argument("studies", type=Path, metavar="STUDIES")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    inventory = discover(args.studies, progress=Progress("reading headers"))
    require_series(inventory, modality="CT")  # exit 2 with the reason when there is no CT
    if args.json:
        print_json(inventory.to_dict())
        return 0
    rows = [s.to_dict() for s in inventory.series]
    columns = [
        ("patient", "patient_id"), ("date", "study_date"), ("modality", "modality"),
        ("slices", "slices"), ("spacing", "slice_spacing_mm"), ("pixel", "pixel_spacing_mm"),
        ("kernel", "kernel"), ("description", "description"), ("series UID", "series_uid"),
    ]
    table = [[h for h, _ in columns]]
    for r in rows:
        cells = []
        for _, key in columns:
            v = r[key]
            if key == "pixel_spacing_mm" and v:
                v = "x".join(f"{x:.3g}" for x in v)
            if key == "modality" and r["localizer"]:
                v = f"{v} (localizer)"
            cells.append("" if v is None else str(v))
        table.append(cells)
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    if inventory.skipped:
        print(f"\n{len(inventory.skipped)} file(s) skipped:")
        for f in inventory.skipped:
            print(f"  {f.path}: {f.reason}")
    sys.stdout.flush()
    return 0
