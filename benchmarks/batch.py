"""The batch job on the sample cohort with 1 and 2 workers: studies per minute, the
speed-up, and the job's own overhead (everything but segmentation and registration:
discovery, loading, exports, thumbnails, assembly, report) as a share of its time.

    python benchmarks/batch.py [SAMPLE]     (default sample_dicom/out; generated if missing)
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(sample: Path, out: Path, workers: int) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", str(sample / "dicom"), "--prompts",
         str(sample / "prompts.csv"), "--clinical", str(sample / "clinical.csv"), "--out",
         str(out), "--workers", str(workers), "--quiet"], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 2):
        sys.exit(proc.stderr)
    return seconds, json.loads(proc.stdout)


def task_seconds(out: Path) -> tuple[float, dict[str, float]]:
    """Seconds the tasks spent segmenting, following and registering; and the seconds
    of their own overheads (loading, exports)."""
    with sqlite3.connect(out / "state.sqlite") as db:
        results = [json.loads(r[0]) for r in db.execute("SELECT result FROM tasks")]
    overheads: dict[str, float] = {}
    for r in results:
        for k, v in r.get("overheads", {}).items():
            overheads[k] = overheads.get(k, 0.0) + v
    return sum(sum(r.get("timings", {}).values()) for r in results), overheads


def main() -> None:
    sample = Path(sys.argv[1] if len(sys.argv) > 1 else "sample_dicom/out")
    if not (sample / "prompts.csv").is_file():
        subprocess.run([sys.executable, "-m", "pipelines.cli", "sample", str(sample)],
                       check=True, capture_output=True)
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            out = Path(tmp) / f"w{workers}"
            seconds, summary = run(sample, out, workers)
            times[workers] = seconds
            studies = summary["timepoints"]
            line = (f"{workers} worker(s): {seconds:6.1f} s for {studies} studies = "
                    f"{studies / seconds * 60:5.1f} studies/min")
            if workers == 1:
                core, overheads = task_seconds(out)
                stages = summary["stage_seconds"]
                parts = {**overheads, "discovery and plan": stages["discovery_and_plan"],
                         "assembly": stages["assembly"]}
                parts["start-up and scheduling"] = seconds - core - sum(parts.values())
                line += (f"; segmentation + registration {core:.1f} s, the job's own "
                         f"overhead {(seconds - core) / seconds:.1%} ("
                         + ", ".join(f"{k} {v:.1f} s" for k, v in parts.items()) + ")")
            print(line)
        again, _ = run(sample, out, 2)
        print(f"rerun on the same OUT (everything stored): {again:.1f} s")
    print(f"speed-up 1 -> 2 workers: {times[1] / times[2]:.2f}x")


if __name__ == "__main__":
    main()
