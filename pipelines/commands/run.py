"""``caliper run STUDIES --prompts PROMPTS --out OUT [--workers N] [--scheduler ADDRESS]``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from imaging.errors import InputError
from pipelines.batch.job import JobOptions, run_job

from .._output import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="the batch job: segment, follow, measure, score, report")
    p.add_argument("studies", type=Path, metavar="STUDIES", help="folder tree of DICOM files")
    p.add_argument("--prompts", type=Path, required=True, metavar="PROMPTS",
                   help="CSV: patient_id, lesion_id, role, organ, nodal, x, y, z "
                        "[, x2, y2, z2, study_date] (see the README)")
    p.add_argument("--out", type=Path, required=True, metavar="OUT")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="local worker processes (default: the number of cores)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on an existing Dask cluster, e.g. tcp://host:8786")
    p.add_argument("--clinical", type=Path, metavar="CLINICAL.csv",
                   help="patient_id, treatment_start, death_date, last_followup_date")
    p.add_argument("--criteria", choices=("RECIST1.1", "iRECIST"), default="RECIST1.1")
    p.add_argument("--kernel", choices=("soft", "lung", "any"), default="soft",
                   help="reconstruction kernel preferred when a study has several series")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.studies.exists():
        raise InputError(f"{args.studies}: no such folder")
    if args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    summary = run_job(JobOptions(args.studies, args.prompts, args.out, args.workers,
                                 args.scheduler, args.clinical, args.criteria, args.kernel,
                                 not args.quiet))
    print_json(summary)
    print(f"caliper run: report at {summary['report']}", file=sys.stderr)
    if summary["errors"]:
        print(f"caliper: error: {summary['errors']} problem(s) in the batch; see "
              f"{Path(summary['out']) / 'errors.csv'}", file=sys.stderr)
        return 2
    return 0
