"""``report.html``: one self-contained page per cohort (images inlined as data URIs).

Cohort end points and plots; per patient the response at every timepoint with
its reasons; per lesion a row of thumbnails (one per timepoint) with the
outline and both axes drawn, the diameters, status and review flags; the
errors of the run.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from pathlib import Path
from typing import Any

from imaging.io.atomic import write_text_atomic

from .assemble import nontarget_status

__all__ = ["write_report"]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1d2630;
max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccd}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #d6dbe1;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f1f4f7}.num{text-align:right;font-variant-numeric:tabular-nums}
.CR{background:#d9f2e3}.PR{background:#e2f0d9}.SD{background:#fff3cd}.PD{background:#f8d7da}
.flag{color:#a0522d;font-size:12px}.err{color:#b00020}.small{color:#5b6670;font-size:12px}
.thumb{display:inline-block;margin:2px;text-align:center;font-size:11px}
.thumb img{display:block;border:1px solid #99a}
.plots img{max-width:48%;margin:4px}
"""


def _img(path: Path, alt: str, width: int | None = None) -> str:
    if not path.is_file():
        return f"<span class='small'>({html.escape(alt)}: no image)</span>"
    data = base64.b64encode(path.read_bytes()).decode()
    size = f" width='{width}'" if width else ""
    return f"<img alt='{html.escape(alt)}'{size} src='data:image/png;base64,{data}'>"


def _fmt(v: Any, digits: int = 1) -> str:
    return "" if v is None else f"{float(v):.{digits}f}"


def _cohort(cohort: dict[str, Any] | None) -> str:
    if not cohort:
        return "<p>No patient could be scored: no cohort end points.</p>"
    parts = ["<table><tr><th>measure</th><th>value</th></tr>"]
    counts = ", ".join(f"{k} {v}" for k, v in cohort["best_overall_response_counts"].items() if v)
    parts.append(f"<tr><td>patients</td><td>{cohort['patients']} ({counts})</td></tr>")
    for name in ("orr", "dcr"):
        r = cohort[name]
        parts.append(f"<tr><td>{name.upper()}</td><td>{r['count']}/{r['n']} = {r['rate_pct']}% "
                     f"(95% CI {r['ci95_pct'][0]}–{r['ci95_pct'][1]}, {r['method']})</td></tr>")
    for name in ("pfs", "os"):
        if name in cohort:
            km = cohort[name]
            lo, hi = km["median_ci95_months"]
            parts.append(f"<tr><td>{name.upper()} median</td><td>{_fmt(km['median_months'])} "
                         f"months (95% CI {_fmt(lo)}–{_fmt(hi)}; {km['events']} events in "
                         f"{km['n']})</td></tr>")
    parts.append("</table><div class='plots'>")
    for name, paths in cohort.get("plots", {}).items():
        png = next((Path(p) for p in paths if str(p).endswith(".png")), None)
        if png:
            parts.append(_img(png, name))
    return "".join(parts) + "</div>"


def _patient(out: Path, pid: str, entry: dict[str, Any]) -> str:
    parts = [f"<h2 id='{html.escape(pid)}'>{html.escape(pid)}</h2>"]
    result = entry.get("result")
    tps = entry["timepoints"]
    if result:
        parts.append(f"<p>Best overall response <b>{result['best_overall_response']}</b>"
                     + (f"; progression on {result['progression_date']}"
                        if result.get("progression_date") else "") + "</p>")
        parts.append("<table><tr><th>date</th><th>sum (mm)</th><th>vs baseline</th>"
                     "<th>target</th><th>non-target</th><th>new</th><th>overall</th>"
                     "<th>reasons</th><th>signed off</th></tr>")
        accepted = {tp["date"]: tp.get("accepted") for tp in tps}
        for tp in result["timepoints"]:
            change = tp.get("change_from_baseline_pct")
            reasons = "<br>".join(html.escape(r) for r in tp.get("reasons", []) +
                                  tp.get("near_threshold", []))
            sign = accepted.get(tp["date"])
            parts.append(
                f"<tr><td>{tp['date']}</td><td class='num'>{_fmt(tp.get('sum_mm'))}</td>"
                f"<td class='num'>{'' if change is None else f'{change:+.1f}%'}</td>"
                f"<td>{tp.get('target', '')}</td><td>{tp.get('nontarget', '')}</td>"
                f"<td>{tp.get('new_lesions', '')}</td><td class='{tp['overall']}'>"
                f"<b>{tp['overall']}</b></td><td class='small'>{reasons}</td>"
                f"<td class='small'>{html.escape(sign['by']) if sign else ''}</td></tr>")
        parts.append("</table>")
    removed = [r for tp in tps for r in tp.get("removed", [])]
    if removed:
        parts.append("<p class='small'>Removed in review: " + "; ".join(
            f"{html.escape(r['lesion_id'])} ({html.escape(r['by'])}, {r['at']})"
            for r in removed) + "</p>")
    lesions: dict[str, list[tuple[dict, dict]]] = {}
    for tp in tps:
        for r in tp["lesions"]:
            lesions.setdefault(r["lesion_id"], []).append((tp, r))
    for lesion_id, seen in lesions.items():
        first = seen[0][1]
        kind = f"{first.get('role')}, {first.get('organ')}" + (", nodal" if first.get("nodal")
                                                               else "")
        parts.append(f"<h3>{html.escape(lesion_id)} <span class='small'>({html.escape(kind)})"
                     "</span></h3><div>")
        for tp, r in seen:
            status = nontarget_status(r) if r.get("role") == "nontarget" else r.get("status")
            numbers = (f"{_fmt(r.get('long_axis_mm'))} × {_fmt(r.get('short_axis_mm'))} mm"
                       if r.get("long_axis_mm") is not None else html.escape(str(status)))
            flags = ", ".join(r.get("review_flags", []))
            extra = (f"<br><span class='flag'>{html.escape(flags)}</span>" if flags else "") + (
                "<br><span class='flag'>corrected</span>" if r.get("corrections") else "") + (
                f"<br><span class='err'>{html.escape(r['error'])}</span>" if r.get("error")
                else "")
            thumb = _img(out / r["thumbnail"], lesion_id, 160) if r.get("thumbnail") else ""
            parts.append(f"<div class='thumb'>{thumb}{tp['date']}<br>{numbers}<br>"
                         f"{html.escape(str(status))}{extra}</div>")
        parts.append("</div>")
    return "".join(parts)


def write_report(out: Path, patients: dict[str, dict[str, Any]],
                 cohort: dict[str, Any] | None, errors: list[dict[str, Any]]) -> Path:
    body = [f"<h1>Caliper report</h1><p class='small'>{len(patients)} patient(s); "
            f"written {dt.date.today().isoformat()}. Measurements in "
            "<code>measurements.csv</code>; RECIST results in <code>recist/</code>; DICOM SEG "
            "and SR in <code>dicom/</code>. Thumbnails: outline red, long axis yellow, short "
            "axis cyan; a dashed orange circle is where a lesion was looked for.</p>",
            "<h2>Cohort</h2>", _cohort(cohort)]
    if errors:
        body.append("<h2>Errors</h2><table><tr><th>patient</th><th>date</th><th>stage</th>"
                    "<th>error</th></tr>")
        body += [f"<tr><td>{html.escape(e['patient_id'])}</td><td>{e['study_date']}</td>"
                 f"<td>{e['stage']}</td><td class='err'>{html.escape(e['error'])}</td></tr>"
                 for e in errors]
        body.append("</table>")
    body.append("<p>" + " · ".join(f"<a href='#{html.escape(p)}'>{html.escape(p)}</a>"
                                   for p in patients) + "</p>")
    body += [_patient(out, pid, entry) for pid, entry in patients.items()]
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>Caliper report</title>"
            f"<style>{CSS}</style></head><body>" + "".join(body) + "</body></html>\n")
    path = out / "report.html"
    write_text_atomic(path, page)
    return path
