"""RECIST 1.1 and iRECIST scoring of one patient (``recist-json.md``).

``score(case)`` validates the case, assesses every timepoint (with the
reasons in plain words and a flag where the call lies within measurement
noise of a threshold), and returns the best overall response and the
progression date.
"""

from __future__ import annotations

from typing import Any

from .best_response import best_overall_response
from .case import Case, parse_case
from .irecist import apply_irecist
from .rules import NoiseBand, assess_timepoints, date_back_confirmed_new_lesions

__all__ = ["Case", "NoiseBand", "parse_case", "score"]


def score(case: dict[str, Any], *, noise: NoiseBand | None = None) -> dict[str, Any]:
    """Score one patient; raises :class:`~imaging.errors.CaseValidationError` on bad input."""
    parsed = parse_case(case)
    results = assess_timepoints(parsed, noise or NoiseBand())
    irecist = parsed.criteria == "iRECIST"
    if irecist:
        progression_date = apply_irecist(results)
    else:
        date_back_confirmed_new_lesions(results)
        progression_date = next((r.date for r in results[1:] if r.overall == "PD"), None)
    bor, bor_reasons = best_overall_response(
        results,
        irecist=irecist,
        confirmation=parsed.confirmation,
        confirmation_min_days=parsed.confirmation_min_days,
        sd_min_days=parsed.sd_min_days,
    )
    baseline_sum = results[0].sum_mm
    return {
        "patient_id": parsed.patient_id,
        "criteria": parsed.criteria,
        "baseline_sum_mm": None if baseline_sum is None else round(baseline_sum, 4),
        "timepoints": [r.to_dict() for r in results],
        "best_overall_response": bor,
        "progression_date": progression_date,
        "best_overall_response_reasons": bor_reasons,
        "confirmation": parsed.confirmation,
        "noise_flagged_dates": [r.date for r in results if r.near_threshold],
    }
