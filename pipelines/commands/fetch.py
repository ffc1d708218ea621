"""``caliper fetch AET@HOST:PORT OUT --patient ID | --study UID``: CT series from a PACS
into a study folder (C-FIND, C-GET), for ``caliper run OUT``."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from imaging.errors import InputError
from imaging.io.pacs import Node, fetch

from .._output import Progress, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fetch", help="retrieve CT series from a PACS (C-FIND, C-GET) into a "
                                     "study folder")
    p.add_argument("pacs", metavar="AET@HOST:PORT", help="the PACS's AE title and address")
    p.add_argument("out", type=Path, metavar="OUT",
                   help="folder the series go to (OUT/PATIENT/STUDY/SERIES); a rerun "
                        "retrieves only what is missing")
    p.add_argument("--patient", action="append", default=[], metavar="ID",
                   help="a patient id (C-FIND wildcards * and ? allowed); repeatable")
    p.add_argument("--study", action="append", default=[], metavar="UID",
                   help="a Study Instance UID; repeatable")
    p.add_argument("--since", default="", metavar="YYYYMMDD",
                   help="only studies on or after this date")
    p.add_argument("--aet", default="CALIPER", help="our AE title (default CALIPER)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="seconds to wait for the PACS (default 30)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    node = Node.parse(args.pacs)
    if args.since and not re.fullmatch(r"\d{8}", args.since):
        raise InputError(f"--since: expected a date YYYYMMDD, got {args.since!r}")
    log = None if args.quiet else (lambda m: print(f"caliper fetch: {m}", file=sys.stderr))
    series = fetch(node, args.out, patients=tuple(args.patient), studies=tuple(args.study),
                   since=args.since, calling_aet=args.aet, timeout=args.timeout,
                   progress=Progress("retrieving instances", enabled=False if args.quiet
                                     else None), log=log)
    counts = {k: sum(s.status == k for s in series) for k in ("fetched", "present", "failed")}
    print_json({"pacs": str(node), "out": args.out, **counts,
                "instances": sum(s.instances for s in series),
                "series": [s.to_dict() for s in series]})
    if counts["failed"]:
        print(f"caliper: error: {counts['failed']} of {len(series)} series not retrieved "
              f"from {node}; a rerun retries them", file=sys.stderr)
        return 2
    return 0
