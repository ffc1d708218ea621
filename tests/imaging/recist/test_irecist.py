"""iRECIST rules (Seymour L et al., Lancet Oncol 18:e143-e152, 2017: "S2017")."""

from __future__ import annotations

from imaging.recist import score
from tests.imaging.recist.helpers import NEW, NT, T, case, m, overall


def icase(*tps, **kw):
    return case(*tps, criteria="iRECIST", **kw)


def test_recist_progression_is_unconfirmed_iupd_then_icpd_by_5mm():
    # S2017: iUPD; iCPD when the target sum rises >= 5 mm further at the next assessment
    r = score(icase([T("T1", 40)], [m("T1", 20)], [m("T1", 30)], [m("T1", 35)]))
    assert overall(r) == ["iPR", "iUPD", "iCPD"]
    assert r["progression_date"] == r["timepoints"][2]["date"]  # the confirmed iUPD
    assert r["best_overall_response"] == "iPR"
    assert r["timepoints"][2]["target"] == "PD"  # components keep RECIST codes


def test_iupd_not_confirmed_persists_below_5mm():
    r = score(icase([T("T1", 40)], [m("T1", 20)], [m("T1", 30)], [m("T1", 33)]))
    assert overall(r) == ["iPR", "iUPD", "iUPD"]
    assert r["progression_date"] is None


def test_iupd_reset_when_findings_resolve():
    # S2017: if the next assessment no longer shows progression, the bar is reset
    r = score(icase([T("T1", 40)], [m("T1", 20)], [m("T1", 30)], [m("T1", 22)],
                    [m("T1", 30)], [m("T1", 36)]))
    assert overall(r) == ["iPR", "iUPD", "iPR", "iUPD", "iCPD"]
    assert r["progression_date"] == r["timepoints"][4]["date"]


def test_new_lesion_iupd_confirmed_by_more_new_lesions():
    # S2017: new-lesion iUPD confirmed by an increase in the number of new lesions
    r = score(icase([T("T1", 40)], [m("T1", 30), NEW("N1")],
                    [m("T1", 30), NEW("N1"), NEW("N2", organ="lung")]))
    assert overall(r) == ["iUPD", "iCPD"]


def test_new_lesion_iupd_confirmed_by_new_target_sum():
    # S2017: or by >= 5 mm growth of the sum of new-lesion targets
    r = score(icase([T("T1", 40)], [m("T1", 30), NEW("N1", diameter_mm=12, new_target=True)],
                    [m("T1", 30), NEW("N1", diameter_mm=17, new_target=True)]))
    assert overall(r) == ["iUPD", "iCPD"]


def test_new_lesion_iupd_persists_while_lesion_stays():
    r = score(icase([T("T1", 40)], [m("T1", 30), NEW("N1")], [m("T1", 30), NEW("N1")]))
    assert overall(r) == ["iUPD", "iUPD"]


def test_progression_in_another_category_confirms():
    # S2017: RECIST progression in a category that had not progressed confirms iCPD
    r = score(icase([T("T1", 40), NT("NT1")], [m("T1", 20), m("NT1", "present")],
                    [m("T1", 30), m("NT1", "present")],
                    [m("T1", 31), m("NT1", "present"), NEW("N1")]))
    assert overall(r) == ["iPR", "iUPD", "iCPD"]


def test_non_target_progression_after_iupd_confirms():
    # contract: unequivocal non-target progression after an unconfirmed iUPD confirms iCPD
    r = score(icase([T("T1", 40), NT("NT1")], [m("T1", 38), m("NT1", "unequivocal_progression")],
                    [m("T1", 38), m("NT1", "unequivocal_progression")]))
    assert overall(r) == ["iUPD", "iCPD"]
    assert r["best_overall_response"] == "iCPD"


def test_best_response_iupd_when_never_confirmed():
    r = score(icase([T("T1", 40)], [m("T1", 60)]))
    assert r["best_overall_response"] == "iUPD"
    assert r["progression_date"] is None


def test_assessments_after_icpd_stay_icpd():
    r = score(icase([T("T1", 40)], [m("T1", 60)], [m("T1", 70)], [m("T1", 10)]))
    assert overall(r) == ["iUPD", "iCPD", "iCPD"]
