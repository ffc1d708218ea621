"""``caliper run``: the batch job, coordinated from one process.

1. Discover the studies, read the prompt sheet, make the plan (every bad row
   reported at once, before any work).
2. Run the timepoint tasks on local processes or a Dask cluster: each
   patient's baseline first, then its follow-ups (a follow-up waits for earlier
   follow-ups only when they introduce new lesions to follow). Finished tasks
   are stored at once in the state store; stored tasks are skipped.
3. Assemble: corrections applied, RECIST cases scored, tables, cohort end
   points, the HTML report, ``errors.csv``.

Workers write their files under OUT themselves, so on a cluster OUT and the
studies must be on a file system every worker sees.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imaging.errors import InputError
from imaging.io import discover
from imaging.io.atomic import atomic_path, write_csv_atomic, write_text_atomic
from imaging.io.select import KernelPreference
from imaging.recist import score

from .assemble import (
    CaseError,
    apply_corrections,
    build_case,
    enforce_measurability,
    measurement_rows,
)
from .plan import PatientPlan, make_plan
from .prompts import read_prompt_rows
from .session import export_corrected_again
from .state import StateStore
from .tasks import TaskSpec, run_task

__all__ = ["JobOptions", "assemble_outputs", "run_job"]

VERSION = "caliper-batch-35"
"""Part of every task key: change it when a task's results would change."""


@dataclass
class JobOptions:
    studies: Path
    prompts: Path | None
    """The prompt sheet; None: no sheet (only ``unprompted`` patients are planned)."""
    out: Path
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    scheduler: str | None = None
    clinical: Path | None = None
    criteria: str = "RECIST1.1"
    kernel: KernelPreference = "soft"
    progress: bool = True
    unprompted: tuple[str, ...] = ()
    """Patients planned without prompts (registered; a reader adds lesions in review)."""
    command: str = "caliper run"
    """How progress lines begin."""


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()
                          ).hexdigest()[:24]


class _Tracker:
    """Progress on stderr: patients, timepoints, lesions done; time left."""

    def __init__(self, plans: list[PatientPlan], enabled: bool, command: str) -> None:
        self.total_tp = sum(len(p.timepoints) for p in plans)
        self.patients = {p.patient_id: len(p.timepoints) for p in plans}
        self.done_tp: dict[str, int] = {}
        self.lesions = 0
        self.enabled = enabled
        self.start = time.monotonic()
        self.computed = 0
        self.command = command

    def __call__(self, result: dict[str, Any], cached: bool) -> None:
        pid = result["patient_id"]
        self.done_tp[pid] = self.done_tp.get(pid, 0) + 1
        self.lesions += len(result.get("lesions", []))
        if not cached:
            self.computed += 1
        if not self.enabled:
            return
        done = sum(self.done_tp.values())
        finished = sum(1 for p, n in self.done_tp.items() if n >= self.patients[p])
        elapsed = time.monotonic() - self.start
        left = elapsed / max(self.computed, 1) * (self.total_tp - done) if self.computed else 0
        what = ("stored" if cached else f"{result.get('seconds', 0):.1f} s") + (
            f", ERROR: {result['error']}" if "error" in result else "")
        print(f"{self.command}: [{done}/{self.total_tp} timepoints, {finished}/{len(self.patients)}"
              f" patients, {self.lesions} lesions] {pid} {result['date']} ({what}); "
              f"about {left:.0f} s left", file=sys.stderr, flush=True)


def _executor(options: JobOptions) -> tuple[cf.Executor | None, Callable[[], None]]:
    if options.scheduler:
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - the extra is part of the set-up
            raise RuntimeError("--scheduler needs the 'distributed' extra "
                               "(pip install 'caliper[distributed]')") from exc
        client = Client(options.scheduler)
        return client.get_executor(pure=False), client.close
    if options.workers <= 1:
        return None, lambda: None
    import multiprocessing as mp

    pool = cf.ProcessPoolExecutor(max_workers=options.workers,
                                  mp_context=mp.get_context("spawn"),
                                  initializer=_worker_start)
    return pool, lambda: pool.shutdown(cancel_futures=True)


def _worker_start() -> None:
    """A local worker process: its task module imported, then the collector settled."""
    import pipelines.batch.tasks  # noqa: F401 - imported before the freeze

    from .._process import settle

    settle()


def _labels(plan: PatientPlan) -> dict[str, int]:
    ids: list[str] = []
    for tp in plan.timepoints:
        for p in tp.prompts:
            if p.lesion_id not in ids:
                ids.append(p.lesion_id)
    return {lesion_id: n for n, lesion_id in enumerate(ids, start=1)}


class _Patient:
    """The scheduling state of one patient's timepoint tasks."""

    def __init__(self, plan: PatientPlan, out: Path, threads: int) -> None:
        self.plan = plan
        self.out = out
        self.threads = threads
        self.labels = _labels(plan)
        self.results: dict[str, dict[str, Any]] = {}  # date -> result
        self.keys: dict[str, str] = {}
        self.submitted: set[str] = set()

    def baseline_spec(self) -> TaskSpec:
        tp = self.plan.baseline
        key = _digest(VERSION, "baseline", tp.key, [p.digest() for p in tp.prompts], self.labels)
        self.keys[tp.date] = key
        return TaskSpec(key, str(self.out), "baseline", tp, self.labels, 0, threads=self.threads)

    def ready_followups(self) -> list[TaskSpec]:
        base = self.results.get(self.plan.baseline.date)
        if base is None or "error" in base:
            return []
        specs = []
        for order, tp in enumerate(self.plan.followups, start=1):
            if tp.date in self.submitted:
                continue
            earlier = [t for t in self.plan.followups if t.date < tp.date
                       and any(p.role == "new" for p in t.prompts)]
            if any(t.date not in self.results for t in earlier):
                continue
            references = [
                {k: r[k] for k in ("lesion_id", "role", "organ", "nodal", "reference")}
                for result in [base, *(self.results[t.date] for t in earlier)]
                for r in result.get("lesions", []) if "reference" in r]
            key = _digest(VERSION, "followup", self.keys[self.plan.baseline.date], tp.key,
                          [p.digest() for p in tp.prompts], self.labels,
                          [self.keys[t.date] for t in earlier])
            self.keys[tp.date] = key
            self.submitted.add(tp.date)
            specs.append(TaskSpec(key, str(self.out), "followup", tp, self.labels, order,
                                  baseline=self.plan.baseline, references=references,
                                  threads=self.threads))
        return specs


def run_job(options: JobOptions) -> dict[str, Any]:
    """Run (or resume) the job; returns the summary printed by ``caliper run``."""
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    clock = time.monotonic()
    prompts, sheet_problems = (read_prompt_rows(options.prompts) if options.prompts
                               else ([], []))
    if options.progress:
        print(f"{options.command}: reading headers under {options.studies}", file=sys.stderr)
    # one thread: header parsing holds the GIL; on a local disk two threads take 2.7-3.2 s
    # where one takes 1.7-2.1 s for the sample cohort's 3,365 files
    inventory = discover(options.studies)
    plans, warnings = make_plan(inventory, prompts, kernel=options.kernel,
                                source=str(options.prompts), sheet_problems=sheet_problems,
                                unprompted=options.unprompted)
    for w in warnings + [w for p in plans for w in p.warnings]:
        print(f"caliper: warning: {w}", file=sys.stderr)
    # one ITK thread per task: multi-threaded registration sums in a different order, and
    # results must not depend on the number of workers or where the task ran
    threads = 1
    left_out = [row for p in plans for row in p.left_out]
    plans = [p for p in plans if p.timepoints]
    patients = {p.patient_id: _Patient(p, out, threads) for p in plans}
    tracker = _Tracker(plans, options.progress, options.command)
    started = time.monotonic()
    stages = {"discovery_and_plan": round(started - clock, 2)}
    with StateStore(out / "state.sqlite") as state:
        executor, close = _executor(options)
        try:
            _schedule(patients, state, executor, tracker)
        finally:
            close()
        stages["tasks"] = round(time.monotonic() - started, 2)
        sheet = str(options.prompts.resolve()) if options.prompts else None
        write_text_atomic(out / "job.json", json.dumps({
            "studies": str(options.studies.resolve()), "prompts": sheet,
            "clinical": str(options.clinical.resolve()) if options.clinical else None,
            "criteria": options.criteria, "kernel": options.kernel,
            "patients": {pid: [{"date": tp.date, "study_uid": tp.study_uid,
                                "series_uid": tp.series.series_uid, "key": p.keys.get(tp.date)}
                               for tp in p.plan.timepoints] for pid, p in patients.items()},
            "left_out": left_out,
        }, indent=1) + "\n")
        # a reviewed timepoint computed afresh: its files from the corrected lesions
        reexported = export_corrected_again(out, state, options.progress)
        summary = assemble_outputs(out, state, _outline(out), options.criteria,
                                   options.clinical, left_out)
    stages["assembly"] = round(time.monotonic() - started - stages["tasks"], 2)
    summary.update(warnings=warnings, seconds=round(time.monotonic() - started, 1),
                   stage_seconds=stages,
                   tasks_computed=tracker.computed, reexported=len(reexported),
                   tasks_stored=sum(tracker.done_tp.values()) - tracker.computed)
    return summary


def _schedule(patients: dict[str, _Patient], state: StateStore,
              executor: cf.Executor | None, tracker: _Tracker) -> None:
    pending: dict[cf.Future, tuple[_Patient, TaskSpec]] = {}
    queue: list[tuple[_Patient, TaskSpec]] = [(p, p.baseline_spec()) for p in patients.values()]
    for p in patients.values():
        p.submitted.add(p.plan.baseline.date)

    def finish(patient: _Patient, spec: TaskSpec, result: dict[str, Any], cached: bool) -> None:
        if not cached:
            state.record(result)
        patient.results[spec.timepoint.date] = result
        tracker(result, cached)
        # a patient's follow-ups first: in one process they then reuse its baseline volume
        queue[:0] = [(patient, s) for s in patient.ready_followups()]

    while queue or pending:
        while queue:
            patient, spec = queue.pop(0)
            stored = state.done(spec.key)
            if stored is not None:
                finish(patient, spec, stored, True)
            elif executor is None:
                finish(patient, spec, run_task(spec), False)
            else:
                pending[executor.submit(run_task, spec)] = (patient, spec)
        if pending:
            done, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
            for future in done:
                patient, spec = pending.pop(future)
                finish(patient, spec, future.result(), False)


def _outline(out: Path) -> dict[str, list[dict[str, Any]]]:
    return json.loads((out / "job.json").read_text())["patients"]


def assemble_outputs(out: Path, state: StateStore, outline: dict[str, list[dict[str, Any]]],
                     criteria: str, clinical: Path | None,
                     left_out: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Corrections applied; cases scored; tables, cohort, report and errors written.

    ``outline``: per patient its timepoints (date, study and series UIDs, task key), as
    ``job.json`` records them; results come from the state store. ``left_out``: the
    studies the plan left out, as ``errors.csv`` rows (``job.json`` records them too)."""
    import pandas as pd

    from pipelines.commands.cohort import write_cohort

    from .report import write_report

    errors: list[dict[str, Any]] = list(left_out)
    rows: list[dict[str, Any]] = []
    patients_out: dict[str, dict[str, Any]] = {}
    for pid, timepoints in outline.items():
        tps = []
        for tp in timepoints:
            where = {"patient_id": pid, "study_date": tp["date"], "study_uid": tp["study_uid"],
                     "series_uid": tp["series_uid"]}
            result = state.result(tp["key"]) if tp["key"] else None
            if result is None:
                errors.append({**where, "stage": "skipped",
                               "error": "not run: its baseline failed"})
                continue
            if "error" in result:
                errors.append({**where, "stage": result["kind"], "error": result["error"]})
                continue
            errors += [{**where, "stage": "segmentation", "error": r["error"]}
                       for r in result["lesions"] if r.get("status") == "error"]
            files = state.export_of(pid, tp["date"], tp["key"]) or result  # a review's
            # save wrote the timepoint again: its warnings, not the batch's
            errors += [{**where, "stage": "export", "error": w}  # a SEG or SR not written
                       for w in files.get("export_warnings", [])]
            tps.append(result)
        corrected = apply_corrections(tps, state.corrections(pid))
        base = timepoints[0]
        errors += [{"patient_id": pid, "study_date": base["date"], "study_uid":
                    base["study_uid"], "series_uid": base["series_uid"], "stage": "review",
                    "error": note} for note in enforce_measurability(corrected)]
        rows += measurement_rows(pid, corrected)
        entry: dict[str, Any] = {"timepoints": corrected}
        try:
            case = build_case(pid, corrected, criteria)
            entry["case"] = case
            write_text_atomic(out / "cases" / f"{pid}.json", json.dumps(case, indent=1) + "\n")
            entry["result"] = score(case)
            write_text_atomic(out / "recist" / f"{pid}.json",
                              json.dumps(entry["result"], indent=2) + "\n")
        except (CaseError, InputError) as exc:
            (out / "recist" / f"{pid}.json").unlink(missing_ok=True)
            errors.append({"patient_id": pid, "study_date": "", "study_uid": "",
                           "series_uid": "", "stage": "recist", "error": str(exc)})
        patients_out[pid] = entry
    columns = list(rows[0]) if rows else ["patient_id"]
    write_csv_atomic(out / "measurements.csv", rows, columns)
    frame = pd.DataFrame(rows, columns=columns)
    with atomic_path(out / "measurements.parquet") as tmp:
        frame.to_parquet(tmp, index=False)
    write_csv_atomic(out / "errors.csv", errors,
               ["patient_id", "study_date", "study_uid", "series_uid", "stage", "error"])
    cohort = None
    if any("result" in e for e in patients_out.values()):
        cohort = write_cohort(out / "recist", clinical, out / "cohort")
    report = write_report(out, patients_out, cohort, errors)
    return {
        "out": str(out), "report": str(report),
        "patients": len(outline), "patients_scored": sum("result" in e
                                                         for e in patients_out.values()),
        "timepoints": sum(len(t) for t in outline.values()),
        "lesion_rows": len(rows), "errors": len(errors),
        "responses": {pid: {tp["date"]: tp["overall"] for tp in e["result"]["timepoints"]}
                      for pid, e in patients_out.items() if "result" in e},
        "best_overall_response": {pid: e["result"]["best_overall_response"]
                                  for pid, e in patients_out.items() if "result" in e},
    }
