"""``caliper review OUT PATIENT`` / ``caliper review STUDY [PATIENT]``: napari on one
patient.

A bare study folder (no results yet) is first made into a batch job's output with no
lesions: every timepoint of the patient found, loaded and registered to baseline
(under ``--out``, by default ``caliper-review-<patient>`` in the current folder; a
second review of the same folder reuses it, corrections included). The reader then
adds lesions at baseline, which are followed into every later timepoint, corrects
and signs off, as on a job's output.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from imaging.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("review", help="review and correct a patient's lesions in napari")
    p.add_argument("out", type=Path, metavar="OUT|STUDY",
                   help="a batch job's output folder, or a bare study folder")
    p.add_argument("patient", nargs="?", metavar="PATIENT",
                   help="patient id (needed with OUT, and with a STUDY of several patients)")
    p.add_argument("--who", help="reader name recorded with each correction (default: login)")
    p.add_argument("--out", dest="review_out", type=Path, metavar="OUT",
                   help="with a bare STUDY: where its review is kept "
                        "(default: ./caliper-review-PATIENT)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="with a bare STUDY: processes loading and registering it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import napari
    except ImportError as exc:  # pragma: no cover - part of the set-up
        raise InputError("caliper review needs napari: pip install 'caliper[review]'") from exc
    if not args.out.exists():
        raise InputError(f"{args.out}: no such folder")
    if (args.out / "job.json").is_file():
        if not args.patient:
            raise InputError(f"{args.out}: name the patient to review (caliper review OUT "
                             "PATIENT)")
        out, patient = args.out, args.patient
    else:
        out, patient = prepare_study(args.out, args.patient, args.review_out,
                                     workers=args.workers)
    from imaging.review.widget import open_review

    viewer = napari.Viewer(title="Caliper review")
    widget = open_review(viewer, out, patient, who=args.who)
    napari.run()
    stored = widget.finish()  # a segmentation the closed viewer was still waiting for
    if stored:
        print(f"caliper review: {stored} after the viewer closed", file=sys.stderr)
    widget.session.close()
    return 0


def prepare_study(folder: Path, patient: str | None = None, out: Path | None = None, *,
                  workers: int = 1, progress: bool = True) -> tuple[Path, str]:
    """A bare study folder made ready for review: the batch job on ``patient`` (or the
    folder's only patient) with no prompts. Returns the job's output folder and the
    patient."""
    from imaging.io import discover
    from pipelines.batch.job import JobOptions, run_job

    if patient is None:
        found = sorted({s.first.patient_id for s in discover(folder).series
                        if not s.is_localizer and s.first.modality == "CT"})
        if not found:
            raise InputError(f"{folder}: no CT series to review")
        if len(found) > 1:
            raise InputError(f"{folder}: several patients ({', '.join(found)}); name the one "
                             "to review (caliper review STUDY PATIENT)")
        patient = found[0]
    out = out or Path.cwd() / f"caliper-review-{patient}"
    run_job(JobOptions(folder, None, out, workers, progress=progress, unprompted=(patient,),
                       command="caliper review"))
    job = json.loads((out / "job.json").read_text())
    if patient not in job["patients"]:  # every study of it left out (no date)
        raise InputError(f"{folder}: nothing of patient {patient} to review: "
                         + "; ".join(r["error"] for r in job["left_out"]
                                     if r["patient_id"] == patient))
    return out, patient
