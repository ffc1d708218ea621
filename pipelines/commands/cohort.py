"""``caliper cohort RESULTS [--clinical CLINICAL.csv] --out OUT``: cohort end points and plots."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from imaging.endpoints import cohort_endpoints, load_clinical, load_results
from imaging.io.atomic import write_csv_atomic, write_text_atomic
from imaging.plots import km_plot, spider_plot, swimmer_plot, waterfall_plot

from .._output import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cohort", help="ORR, DCR, PFS, OS and the trial plots from RECIST results")
    p.add_argument("results", type=Path, metavar="RESULTS",
                   help="folder of per-patient RECIST result JSON files")
    p.add_argument("--clinical", type=Path, metavar="CLINICAL.csv",
                   help="patient_id, treatment_start, death_date, last_followup_date")
    p.add_argument("--out", type=Path, required=True, metavar="OUT")
    p.set_defaults(func=run)


def write_cohort(results: Path, clinical: Path | None, out: Path) -> dict[str, Any]:
    outcomes = load_results(results)
    table = load_clinical(clinical) if clinical else None
    endpoints = cohort_endpoints(outcomes, table)
    plots = {
        "waterfall": waterfall_plot(outcomes, out / "waterfall"),
        "spider": spider_plot(outcomes, out / "spider"),
        "swimmer": swimmer_plot(outcomes, out / "swimmer"),
    }
    curves = {"PFS": endpoints["pfs"], **({"OS": endpoints["os"]} if "os" in endpoints else {})}
    plots["kaplan_meier"] = km_plot(curves, out / "kaplan_meier")
    endpoints["plots"] = {k: [str(p) for p in v] for k, v in plots.items()}
    write_text_atomic(out / "endpoints.json", json.dumps(endpoints, indent=2) + "\n")
    write_csv_atomic(out / "patients.csv", endpoints["patients_table"])
    summary = [("patients", endpoints["patients"])]
    summary += [(f"bor_{k}", v) for k, v in endpoints["best_overall_response_counts"].items()]
    for name in ("orr", "dcr"):
        r = endpoints[name]
        summary += [(f"{name}_pct", r["rate_pct"]), (f"{name}_ci95_low_pct", r["ci95_pct"][0]),
                    (f"{name}_ci95_high_pct", r["ci95_pct"][1])]
    for name in ("pfs", "os"):
        if name in endpoints:
            km = endpoints[name]
            summary += [(f"{name}_median_months", km["median_months"]),
                        (f"{name}_median_ci95_low", km["median_ci95_months"][0]),
                        (f"{name}_median_ci95_high", km["median_ci95_months"][1]),
                        (f"{name}_events", km["events"])]
    write_text_atomic(out / "endpoints.csv",
                      "measure,value\n" + "".join(f"{k},{'' if v is None else v}\n"
                                                  for k, v in summary))
    return endpoints


def run(args: argparse.Namespace) -> int:
    endpoints = write_cohort(args.results, args.clinical, args.out)
    brief = {k: endpoints[k] for k in ("patients", "best_overall_response_counts")}
    for name in ("orr", "dcr"):
        brief[name] = {k: endpoints[name][k] for k in ("count", "n", "rate_pct", "ci95_pct")}
    for name in ("pfs", "os"):
        if name in endpoints:
            brief[name] = {k: endpoints[name][k]
                           for k in ("n", "events", "median_months", "median_ci95_months")}
    brief["out"] = str(args.out)
    print_json(brief)
    return 0
