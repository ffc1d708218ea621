"""``caliper sample OUT_DIR [--patients N] [--seed S] [--preview]``: the sample trial."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .._output import Progress, print_json


def _patients(text: str) -> int:
    n = int(text)
    if not 1 <= n <= 7:
        raise argparse.ArgumentTypeError(f"--patients must be 1 to 7, got {n}")
    return n


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="write the synthetic sample trial (DICOM + truth)")
    p.add_argument("out", type=Path, metavar="OUT_DIR")
    p.add_argument("--patients", type=_patients, default=7, metavar="N")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--workers", type=int, default=2, metavar="N")
    p.add_argument("--preview", action="store_true",
                   help="also write OUT_DIR/preview.png (each lesion at each visit)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sample_dicom import generate

    start = time.perf_counter()
    truth = generate(args.out, patients=args.patients, seed=args.seed, workers=args.workers,
                     preview=args.preview, progress=Progress("writing studies"))
    print_json({
        "out": str(args.out),
        "dicom": str(args.out / "dicom"),
        "prompts": str(args.out / "prompts.csv"),
        "clinical": str(args.out / "clinical.csv"),
        "truth": str(args.out / "truth.json"),
        "preview": truth.get("preview"),
        "patients": len(truth["patients"]),
        "files": truth["files"],
        "week12": {pid: t["expected"]["week12_overall"] for pid, t in truth["patients"].items()},
        "seconds": round(time.perf_counter() - start, 1),
    })
    return 0
