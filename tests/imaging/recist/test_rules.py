"""One test per RECIST 1.1 rule, each citing the rule it checks.

E2009 = Eisenhauer EA et al., Eur J Cancer 45:228-247 (2009), RECIST 1.1;
S2016 = Schwartz LH et al., Eur J Cancer 62:132-137 (2016), RECIST 1.1 update.
"""

from __future__ import annotations

import pytest

from imaging.errors import CaseValidationError
from imaging.recist import NoiseBand, score
from tests.imaging.recist.helpers import NEW, NT, T, case, m, overall


def test_pr_is_judged_against_baseline_not_nadir():
    # E2009 sec. 4.3.1: PR = >= 30% decrease from the BASELINE sum
    r = score(case([T("T1", 100)], [m("T1", 80)], [m("T1", 65)]))
    assert overall(r) == ["SD", "PR"]  # -35% vs baseline though only -19% vs nadir 80
    assert r["timepoints"][2]["change_from_nadir_pct"] == -18.8


def test_pr_boundary_exactly_minus_30_percent():
    # E2009 sec. 4.3.1 "at least a 30% decrease"
    assert overall(score(case([T("T1", 50)], [m("T1", 35)]))) == ["PR"]
    assert overall(score(case([T("T1", 50)], [m("T1", 35.1)]))) == ["SD"]


@pytest.mark.parametrize(
    ("nadir", "now", "expected"),
    [
        (10, 14, "SD"),  # +40% but only +4 mm: the 5 mm absolute rule
        (10, 15, "PD"),
        (100, 119, "SD"),  # +19 mm but only +19%
        (100, 120, "PD"),  # exactly +20%
        (25, 30, "PD"),  # exactly +20% and exactly +5 mm
    ],
)
def test_pd_needs_20_percent_and_5_mm_over_nadir(nadir, now, expected):
    # E2009 sec. 4.3.1: PD = >= 20% increase over the smallest sum AND >= 5 mm absolute
    baseline = max(nadir, 10)
    r = score(case([T("T1", baseline)], [m("T1", nadir)], [m("T1", now)]))
    assert overall(r)[-1] == expected


def test_pd_is_measured_from_nadir_even_below_baseline():
    # E2009 sec. 4.3.1 (nadir includes baseline; the smallest sum so far)
    r = score(case([T("T1", 60)], [m("T1", 30)], [m("T1", 36)]))
    assert overall(r) == ["PR", "PD"]
    assert r["timepoints"][2]["nadir_mm"] == 30.0
    assert r["progression_date"] == r["timepoints"][2]["date"]


def test_nodal_target_cr_below_10mm_short_axis():
    # E2009 sec. 4.3.1: CR needs every node < 10 mm short axis; sum need not be 0
    base = [T("T1", 20, "liver"), T("N1", 20, "lymph node", nodal=True)]
    assert overall(score(case(base, [m("T1", "absent"), m("N1", 9.9)]))) == ["CR"]
    assert overall(score(case(base, [m("T1", "absent"), m("N1", 10.0)]))) == ["PR"]


def test_too_small_counts_5mm_and_is_not_cr():
    # E2009 Appendix I: a lesion too small to measure counts 5 mm; it is still present
    r = score(case([T("T1", 30)], [m("T1", "too_small")]))
    assert r["timepoints"][1]["sum_mm"] == 5.0
    assert overall(r) == ["PR"]


def test_not_evaluated_target_gives_ne_unless_pd_already():
    # E2009 sec. 4.3.4 / S2016: a time point with an unassessed target is NE ...
    base = [T("T1", 20, "lung"), T("T2", 20, "liver")]
    r = score(case(base, [m("T1", 10), m("T2", "not_evaluated")]))
    assert overall(r) == ["NE"]
    assert r["timepoints"][1]["sum_mm"] is None
    assert r["timepoints"][1]["change_from_baseline_pct"] is None
    # ... unless the measured lesions alone already meet PD
    r = score(case(base, [m("T1", 50), m("T2", "not_evaluated")]))
    assert overall(r) == ["PD"]


def test_unequivocal_new_lesion_is_pd_whatever_else():
    # E2009 sec. 4.3.3 and Table 1
    r = score(case([T("T1", 40)], [m("T1", 10), NEW("N1")]))
    assert r["timepoints"][1]["target"] == "PR"
    assert overall(r) == ["PD"]


def test_equivocal_new_lesion_confirmed_later_dates_progression_back():
    # E2009 sec. 4.3.3: "progression should be declared using the date of the initial scan"
    r = score(case([T("T1", 40)], [m("T1", 25), NEW("N1", "equivocal")],
                   [m("T1", 24), NEW("N1", "unequivocal")]))
    first = r["timepoints"][1]
    assert first["new_lesions"] == "equivocal"
    assert first["overall"] == "PD"
    assert r["progression_date"] == first["date"]
    assert any("dated back" in s for s in first["reasons"])


def test_equivocal_new_lesion_not_confirmed_is_not_pd():
    # E2009 sec. 4.3.3
    r = score(case([T("T1", 40)], [m("T1", 25), NEW("N1", "equivocal")], [m("T1", 24)]))
    assert overall(r) == ["PR", "PR"]
    assert r["progression_date"] is None


@pytest.mark.parametrize(
    ("target_fu", "nt_status", "expected"),
    [
        ("absent", "absent", "CR"),  # Table 1 row 1
        ("absent", "present", "PR"),  # CR + non-CR/non-PD = PR
        ("absent", "not_evaluated", "PR"),  # CR + NE = PR
        (20, "not_evaluated", "PR"),  # PR + NE = PR
        (35, "not_evaluated", "SD"),
        (35, "unequivocal_progression", "PD"),  # non-target PD
    ],
)
def test_overall_response_table_1(target_fu, nt_status, expected):
    # E2009 Table 1
    r = score(case([T("T1", 40), NT("NT1")], [m("T1", target_fu), m("NT1", nt_status)]))
    assert overall(r) == [expected]


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["absent", "absent"], "CR"),
        (["present", "absent"], "NON_CR_NON_PD"),
        (["not_evaluated", "absent"], "NE"),
        (["unequivocal_progression", "present"], "PD"),
    ],
)
def test_non_target_only_table_2(statuses, expected):
    # E2009 Table 2
    r = score(case([NT("A"), NT("B", "pleura")], [m("A", statuses[0]), m("B", statuses[1])]))
    assert overall(r) == [expected]
    assert r["timepoints"][1]["target"] == "NA"
    assert r["baseline_sum_mm"] is None


def test_merged_lesions_count_zero_and_partner_carries_diameter():
    # E2009 Appendix I ("lesions that coalesce")
    base = [T("T1", 20), T("T2", 20, "liver")]
    r = score(case(base, [{"id": "T1", "merged_into": "T2"}, m("T2", 30)]))
    assert r["timepoints"][1]["sum_mm"] == 30.0
    with pytest.raises(CaseValidationError, match="merged_into"):
        score(case(base, [{"id": "T1", "merged_into": "T9"}, m("T2", 30)]))


def test_split_lesion_carries_sum_of_fragments():
    # E2009 Appendix I ("lesions that fragment"): the fragments' diameters are added
    r = score(case([T("T1", 40)], [m("T1", 12 + 10)]))
    assert r["timepoints"][1]["sum_mm"] == 22.0
    assert overall(r) == ["PR"]


def test_sd_counts_for_best_response_only_after_minimum_interval():
    # E2009 sec. 4.4.1: SD must be measured at least sd_min_days after baseline
    r = score(case([T("T1", 40)], [m("T1", 38)], [m("T1", 60)], days=[0, 30, 80]))
    assert overall(r) == ["SD", "PD"]
    assert r["best_overall_response"] == "PD"
    r = score(case([T("T1", 40)], [m("T1", 38)], days=[0, 30]))
    assert r["best_overall_response"] == "NE"
    r = score(case([T("T1", 40)], [m("T1", 38)], days=[0, 42]))
    assert r["best_overall_response"] == "SD"


def test_timepoints_after_first_pd_do_not_count():
    # contract: time points after the first PD do not count towards best response
    r = score(case([T("T1", 40)], [m("T1", 38)], [m("T1", 60)], [m("T1", 10)]))
    assert overall(r) == ["SD", "PD", "PR"]
    assert r["best_overall_response"] == "SD"


@pytest.mark.parametrize(
    ("sizes", "days", "expected"),
    [
        ([(20, 15), (20, 15)], [0, 56, 84], "PR"),  # PR confirmed by PR >= 28 days later
        ([(20, 15), (20, 15)], [0, 56, 70], "SD"),  # second PR 14 days later: SD (>= 42 d)
        ([(20, 15)], [0, 56], "SD"),  # nothing to confirm: SD
        # CR (node 9 mm) then PR (node 12 mm, +3 mm: not PD) gives PR (Table 3)
        ([("absent", 9), ("absent", 12)], [0, 56, 84], "PR"),
        ([("absent", 9), ("absent", 8)], [0, 56, 84], "CR"),
        ([(20, 15), ("absent", 8)], [0, 56, 84], "PR"),  # PR then CR: PR (CR unconfirmed)
        ([(20, 15), (20, 15)], [0, 28, 35], "NE"),  # unconfirmed and too early for SD
    ],
)
def test_confirmation_of_cr_and_pr(sizes, days, expected):
    # E2009 sec. 4.4.2 and Table 3 (confirmation required in non-randomised trials)
    base = [T("T1", 40), T("N1", 20, "lymph node", nodal=True)]
    tps = [base] + [[m("T1", t), m("N1", n)] for t, n in sizes]
    r = score(case(*tps, days=days, confirmation=True))
    assert r["best_overall_response"] == expected


def test_reappearance_after_cr_is_pd():
    # E2009 Table 3 note: after a true CR any disease seen again is PD (nadir 0, +5 mm)
    r = score(case([T("T1", 40)], [m("T1", "absent")], [m("T1", 20)]))
    assert overall(r) == ["CR", "PD"]


def test_without_confirmation_best_response_is_best_timepoint():
    # E2009 sec. 4.4.1
    r = score(case([T("T1", 40)], [m("T1", 20)], [m("T1", 30)]))
    assert r["best_overall_response"] == "PR"


@pytest.mark.parametrize(
    ("timepoints", "message"),
    [
        ([[T(f"T{i}", 20, f"o{i}") for i in range(6)]], "at most 5"),
        ([[T("A", 20, "Liver"), T("B", 20, "liver"), T("C", 20, "LIVER")]], "per organ"),
        ([[T("A", 20, "neck", True), T("B", 20, "mediastinum", True),
           T("C", 20, "axilla", True)]], "lymph nodes count as one organ"),
        ([[T("A", 9.9)]], "not measurable"),
        ([[T("A", 14.9, "lymph node", True)]], "nodal target short axis"),
        ([[T("A", 20)], [m("B", 10)]], "neither a baseline lesion"),
        ([[T("A", 20), T("B", 20, "liver")], [m("A", 10)]],
         "lesion B: baseline target lesion is missing"),
        ([[{**T("A", 20), "role": "primary"}]], "role at baseline"),
        ([[T("A", 20)], [m("A", "vanished")]], "target status"),
        ([[T("A", 20)], [m("A", -1)]], "must not be negative"),
        ([[T("A", 20)], [m("A", "12")]], "target status"),
        ([[T("A", 20)], [{"id": "A", "diameter_mm": True}]], "must be a number"),
        ([[T("A", 20)], [{"id": "A", "diameter_mm": 5, "status": "absent"}]], "exactly one"),
        ([[NT("X")], [NEW("X")]], "cannot reuse the baseline id"),
    ],
)
def test_bad_input_names_patient_timepoint_and_lesion(timepoints, message):
    # contract (recist-json.md "Errors"); E2009 sec. 3.1 (measurability), 3.3.1 (5 / 2 per organ)
    with pytest.raises(CaseValidationError, match=message) as info:
        score(case(*timepoints, patient_id="PX"))
    assert str(info.value).startswith("patient PX: ")
    assert "timepoint" in str(info.value)


def test_duplicate_dates_rejected():
    c = case([T("A", 20)], [m("A", 10)])
    c["timepoints"][1]["date"] = c["timepoints"][0]["date"]
    with pytest.raises(CaseValidationError, match="appears twice"):
        score(c)


def test_missing_non_target_at_follow_up_is_not_evaluated():
    r = score(case([T("T1", 40), NT("NT1")], [m("T1", 20)]))
    assert r["timepoints"][1]["nontarget"] == "NE"
    assert overall(r) == ["PR"]


def test_reasons_say_why_in_plain_words():
    r = score(case([T("T1", 30), T("T2", 17, "liver")], [m("T1", 22), m("T2", 14)],
                   [m("T1", 40), m("T2", 18)]))
    text = " ".join(r["timepoints"][2]["reasons"])
    assert "sum 58.0 mm is +61.1% and +22.0 mm from nadir 36.0 mm" in text
    assert "PD" in text


def test_noise_flag_near_thresholds():
    # Caliper's own: calls within the measurement-noise band are flagged for review
    near_pr = score(case([T("T1", 50)], [m("T1", 36)]))  # -28%, 1 mm from the PR line
    assert near_pr["timepoints"][1]["noise_flag"] is True
    assert "PR threshold" in near_pr["timepoints"][1]["near_threshold"][0]
    clear = score(case([T("T1", 50)], [m("T1", 20)]))
    assert clear["timepoints"][1]["noise_flag"] is False
    near_pd = score(case([T("T1", 50)], [m("T1", 30)], [m("T1", 35.5)]))  # +18.3%, +5.5 mm
    assert any("PD threshold" in s for s in near_pd["timepoints"][2]["near_threshold"])
    narrow = score(case([T("T1", 50)], [m("T1", 36)]), noise=NoiseBand(0.5, 1.0))
    assert narrow["timepoints"][1]["noise_flag"] is False
