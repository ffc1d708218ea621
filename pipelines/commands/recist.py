"""``caliper recist score CASE.json``: RECIST 1.1 / iRECIST response of one patient."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from imaging.errors import InputError
from imaging.recist import NoiseBand, score

from .._output import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recist", help="RECIST 1.1 / iRECIST scoring")
    verbs = p.add_subparsers(dest="recist_command", metavar="VERB")
    verbs.required = True
    s = verbs.add_parser("score", help="score one patient's case (see recist-json.md)")
    s.add_argument("case", type=Path, metavar="CASE.json")
    s.add_argument("--noise-mm", type=float, default=2.0, metavar="MM",
                   help="flag calls within this many mm of a threshold (default 2)")
    s.add_argument("--noise-pct", type=float, default=5.0, metavar="POINTS",
                   help="... or within this many percentage points (default 5)")
    s.set_defaults(func=run)


def read_json(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None


def run(args: argparse.Namespace) -> int:
    case = read_json(args.case)
    print_json(score(case, noise=NoiseBand(args.noise_mm, args.noise_pct)))
    return 0
