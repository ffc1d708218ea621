"""Cohort end points, checked against independent computations.

The published cohort Caliper was designed from: seven anaplastic thyroid
cancer patients on anlotinib + a PD-1 inhibitor, assessed after four
three-weekly cycles: 1 CR, 5 PR, 1 SD (ORR 85.7%, DCR 100%). The
measurements below are our own plausible diameters that reproduce those
categories through the scorer.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from scipy.stats import binomtest

from imaging.endpoints import clopper_pearson, cohort_endpoints, load_clinical, load_results
from imaging.errors import InputError
from imaging.recist import score
from pipelines.cli import main
from tests.imaging.recist.helpers import NT, T, case, m

# patient: (baseline targets, week-6 sizes, week-12 sizes, non-target)
ATC = {
    "A": ([T("T1", 48, "thyroid"), T("N1", 22, "lymph node", True)], [44, 20], [40, 19], None),
    "B": ([T("T1", 35, "lung"), T("N1", 25, "lymph node", True)], [26, 17], [20, 14], None),
    "C": ([T("T1", 52, "thyroid"), T("N1", 30, "lymph node", True)], [38, 21], [30, 17], None),
    "D": ([T("T1", 21, "lung"), T("T2", 15, "lung"), T("N1", 18, "lymph node", True)],
          [15, 11, 14], [12, 8, 11], None),
    "E": ([T("T1", 44, "thyroid"), T("N1", 19, "lymph node", True)], [33, 15], [27, 12], None),
    "F": ([T("N1", 28, "lymph node", True), T("T1", 17, "lung")], [20, 12], [16, 10], None),
    "G": ([T("N1", 24, "lymph node", True), T("N2", 16, "lymph node", True)], [11, 9],
          [8, 7], "bone"),
}
EXPECTED = {"A": "SD", "B": "PR", "C": "PR", "D": "PR", "E": "PR", "F": "PR", "G": "CR"}


def atc_results() -> dict[str, dict]:
    out = {}
    for pid, (targets, wk6, wk12, nontarget) in ATC.items():
        base = targets + ([NT("NT1", nontarget)] if nontarget else [])
        tps = [base]
        for sizes in (wk6, wk12):
            fu = [m(t["id"], s) for t, s in zip(targets, sizes, strict=True)]
            if nontarget:
                fu.append(m("NT1", "absent"))
            tps.append(fu)
        out[pid] = score(case(*tps, days=[0, 42, 84], patient_id=pid, start="2023-03-01"))
    return out


@pytest.fixture
def atc_folder(tmp_path):
    folder = tmp_path / "recist"
    folder.mkdir()
    for pid, result in atc_results().items():
        (folder / f"{pid}.json").write_text(json.dumps(result))
    return folder


def test_atc_cohort_categories_orr_dcr_match_binomtest(atc_folder):
    outcomes = load_results(atc_folder)
    assert {o.patient_id: o.best_overall_response for o in outcomes} == EXPECTED
    ep = cohort_endpoints(outcomes)
    assert ep["best_overall_response_counts"] == {"CR": 1, "PR": 5, "SD": 1, "NON_CR_NON_PD": 0,
                                                  "PD": 0, "NE": 0}
    assert ep["orr"]["rate_pct"] == 85.7
    assert ep["dcr"]["rate_pct"] == 100.0
    for name, k in (("orr", 6), ("dcr", 7)):
        ci = binomtest(k, 7).proportion_ci(confidence_level=0.95, method="exact")
        np.testing.assert_allclose(ep[name]["ci95"], [ci.low, ci.high], atol=1e-9)


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (10, 10), (1, 1), (17, 40)])
def test_clopper_pearson_matches_scipy(k, n):
    ci = binomtest(k, n).proportion_ci(method="exact")
    np.testing.assert_allclose(clopper_pearson(k, n), [ci.low, ci.high], atol=1e-9)


def test_survival_matches_lifelines_and_censoring(atc_folder, tmp_path):
    clinical = tmp_path / "clinical.csv"
    rows = ["patient_id,treatment_start,death_date,last_followup_date",
            "A,2023-02-27,2023-09-01,2023-09-01", "B,2023-02-27,2024-05-01,2024-05-01",
            "C,2023-02-27,,2024-06-30", "D,2023-02-27,2024-01-15,2024-01-15",
            "E,2023-02-27,,2024-06-30", "F,2023-02-27,2023-12-01,2023-12-01",
            "G,2023-02-27,,2024-06-30"]
    clinical.write_text("\n".join(rows) + "\n")
    ep = cohort_endpoints(load_results(atc_folder), load_clinical(clinical))
    os_ = ep["os"]
    assert os_["events"] == 4
    kmf = KaplanMeierFitter().fit(os_["durations_months"], os_["events_observed"])
    assert os_["median_months"] == pytest.approx(kmf.median_survival_time_, abs=0.01)
    assert os_["at_risk"]["n"][0] == 7
    # deaths before any progression count as PFS events
    assert ep["pfs"]["events"] == 4


def test_clinical_table_errors_name_line(tmp_path):
    bad = tmp_path / "c.csv"
    bad.write_text("patient_id,treatment_start,death_date,last_followup_date\nA,2023-13-01,,\n")
    with pytest.raises(InputError, match=r"c.csv, line 2, treatment_start"):
        load_clinical(bad)


def test_cohort_command_writes_json_csv_and_plots(atc_folder, tmp_path, capsys):
    out = tmp_path / "cohort"
    assert main(["cohort", str(atc_folder), "--out", str(out)]) == 0
    brief = json.loads(capsys.readouterr().out)
    assert brief["orr"]["rate_pct"] == 85.7
    for name in ("waterfall", "spider", "swimmer", "kaplan_meier"):
        for suffix in (".png", ".svg"):
            path = out / f"{name}{suffix}"
            assert path.stat().st_size > 2000, path
    assert "orr_pct,85.7" in (out / "endpoints.csv").read_text()
    assert (out / "patients.csv").read_text().count("\n") == 8
    assert main(["cohort", str(tmp_path / "nothing"), "--out", str(out)]) == 2


def test_cohort_of_baseline_studies_only(tmp_path, capsys):
    """A core lab's first transfer: baseline scans only. Every patient is NE, nothing has
    a change from baseline, PFS has no event; the plots are still drawn (the waterfall
    says why it is empty: building its axis limits had failed on no bars)."""
    folder = tmp_path / "recist"
    folder.mkdir()
    for pid, (targets, *_rest) in ATC.items():
        result = score(case(targets, days=[0], patient_id=pid, start="2023-03-01"))
        (folder / f"{pid}.json").write_text(json.dumps(result))
    out = tmp_path / "cohort"
    assert main(["cohort", str(folder), "--out", str(out)]) == 0
    brief = json.loads(capsys.readouterr().out)
    assert brief["best_overall_response_counts"]["NE"] == len(ATC)
    assert (brief["orr"]["count"], brief["pfs"]["events"]) == (0, 0)
    assert "no patient has a follow-up yet" in (out / "waterfall.svg").read_text()
    for name in ("spider", "swimmer", "kaplan_meier"):
        assert (out / f"{name}.png").stat().st_size > 2000, name
