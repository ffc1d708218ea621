"""The sample trial: seven patients with anaplastic thyroid cancer on anlotinib and a
PD-1 inhibitor (three-week cycles), modelled on the published cohort Caliper was
designed from. CT of neck and chest at baseline, week 6 (2 cycles) and week 12
(4 cycles); some later visits. Outcomes by RECIST 1.1 at week 12: G complete
response, A stable disease, B-F partial response; B progresses later (a new
pancreatic lesion at week 24, then growth of the neck node at week 36).

Lesion sizes are given as a factor of the baseline size per visit (0 = gone);
the true diameters are measured on the generated masks, never typed in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .phantom import Lesion

__all__ = ["PATIENTS", "LesionSpec", "PatientSpec"]


@dataclass(frozen=True)
class LesionSpec:
    id: str
    role: str  # target | nontarget | new
    organ: str
    nodal: bool
    shape: Lesion
    factors: tuple[float, ...]
    """Size factor at each visit (aligned with the patient's weeks); new lesions 0 before."""


@dataclass(frozen=True)
class PatientSpec:
    id: str
    age: int
    sex: str
    baseline: dt.date
    weeks: tuple[int, ...]
    lesions: tuple[LesionSpec, ...]
    z_range: tuple[float, float] = (-275.0, 110.0)
    """Body z covered by every scan of this patient (mm)."""
    lung_series: bool = False
    death_months: float | None = None
    followup_months: float = 20.0
    notes: str = ""
    compressed_visit: int | None = field(default=None)
    """Index of the visit whose soft-tissue series is stored RLE-compressed."""

    def date(self, n: int) -> dt.date:
        return self.baseline + dt.timedelta(days=7 * self.weeks[n] + (n % 3))


def _node(side: int, z: float, short: float, long: float, phase: float) -> Lesion:
    """A cervical node posterolateral to the jugular vein (touching it), lobulated;
    long axis antero-posterior, short axis left-right."""
    return Lesion((side * (36.0 + short / 2), 18.0, z), (short / 2, long / 2, long / 2), 55.0,
                  lobes=((0.06, 3, phase),), rim_hu=95.0, halo_hu=-90.0)


def _lung(c, r: float, phase: float) -> Lesion:
    return Lesion(c, (r, 0.9 * r, 0.85 * r), 35.0, lobes=((0.12, 4, phase), (0.06, 7, 1.0)))


def _thyroid(side: int, size: float) -> Lesion:
    """An anaplastic thyroid mass: hypoattenuating against the enhancing gland and the
    muscle, with a thin plane of fatty tissue where it pushes the neck structures aside."""
    return Lesion((side * 19.0, -20.0, 46.0), (size / 2, 0.85 * size / 2, 0.9 * size / 2), 40.0,
                  lobes=((0.1, 3, 0.4), (0.05, 5, 2.0)), halo_hu=-40.0)


T, NT, NEW = "target", "nontarget", "new"
W = (0, 6, 12)

PATIENTS: tuple[PatientSpec, ...] = (
    PatientSpec("A", 71, "F", dt.date(2023, 3, 6), W, (
        LesionSpec("T1", T, "thyroid", False, _thyroid(-1, 44.0), (1.0, 0.94, 0.88)),
        LesionSpec("N1", T, "lymph node", True, _node(-1, 62.0, 20.0, 30.0, 0.3),
                   (1.0, 0.95, 0.9)),
    ), death_months=9.6, notes="stable disease"),
    PatientSpec("B", 66, "F", dt.date(2023, 3, 20), (0, 6, 12, 24, 36), (
        LesionSpec("T1", T, "lung", False, _lung((-78.0, 12.0, -110.0), 11.0, 0.5),
                   (1.0, 0.75, 0.55, 0.55, 0.6)),
        LesionSpec("N1", T, "lymph node", True, _node(1, 55.0, 20.0, 28.0, 1.1),
                   (1.0, 0.72, 0.6, 0.62, 1.0)),
        LesionSpec("N2", NEW, "pancreas", False,
                   Lesion((22.0, 15.0, -315.0), (11.0, 9.0, 9.0), 15.0, lobes=((0.1, 3, 0.0),)),
                   (0.0, 0.0, 0.0, 1.0, 1.3)),
    ), z_range=(-350.0, 110.0), lung_series=True, death_months=14.3,
        notes="partial response, then a new pancreatic lesion (week 24) and neck growth"),
    PatientSpec("C", 64, "M", dt.date(2023, 4, 3), W, (
        LesionSpec("T1", T, "thyroid", False, _thyroid(1, 50.0), (1.0, 0.76, 0.6)),
        LesionSpec("N1", T, "lymph node", True, _node(-1, 58.0, 22.0, 32.0, 2.0),
                   (1.0, 0.75, 0.6)),
    ), death_months=12.2, compressed_visit=1, notes="partial response"),
    PatientSpec("D", 68, "F", dt.date(2023, 4, 17), (0, 6, 12, 24), (
        LesionSpec("T1", T, "lung", False, _lung((-66.0, -22.0, -150.0), 10.0, 1.5),
                   (1.0, 0.72, 0.55, 0.55)),
        LesionSpec("T2", T, "lung", False, _lung((104.0, 30.0, -175.0), 8.0, 2.5),
                   (1.0, 0.72, 0.55, 0.55)),
        LesionSpec("N1", T, "lymph node", True, _node(1, 66.0, 18.0, 26.0, 0.8),
                   (1.0, 0.72, 0.55, 0.55)),
    ), lung_series=True, death_months=14.1, notes="partial response; T2 touches the pleura"),
    PatientSpec("E", 69, "F", dt.date(2023, 5, 1), W, (
        LesionSpec("T1", T, "thyroid", False, _thyroid(-1, 40.0), (1.0, 0.78, 0.62)),
        LesionSpec("N1", T, "lymph node", True, _node(1, 60.0, 19.0, 27.0, 1.7),
                   (1.0, 0.78, 0.62)),
    ), death_months=16.0, notes="partial response"),
    PatientSpec("F", 62, "F", dt.date(2023, 5, 15), W, (
        LesionSpec("N1", T, "lymph node", True, _node(-1, 52.0, 24.0, 34.0, 2.4),
                   (1.0, 0.75, 0.6)),
        LesionSpec("T1", T, "lung", False, _lung((108.0, 18.0, -120.0), 9.0, 0.2),
                   (1.0, 0.75, 0.6)),
    ), lung_series=True, death_months=11.8, notes="partial response; T1 juxtapleural"),
    PatientSpec("G", 74, "F", dt.date(2023, 5, 29), (0, 6, 12, 24), (
        LesionSpec("N1", T, "lymph node", True, _node(-1, 64.0, 18.0, 26.0, 0.9),
                   (1.0, 0.7, 0.45, 0.45)),
        LesionSpec("N2", T, "lymph node", True, _node(1, 50.0, 17.0, 24.0, 1.3),
                   (1.0, 0.7, 0.45, 0.45)),
        LesionSpec("T1", T, "lung", False, _lung((-60.0, 42.0, -200.0), 7.0, 3.0),
                   (1.0, 0.55, 0.0, 0.0)),
        LesionSpec("NT1", NT, "bone", False,
                   Lesion((0.0, 60.0, -300.0), (8.0, 7.0, 8.0), 650.0), (1.0, 0.8, 0.0, 0.0)),
        LesionSpec("NT2", NT, "bone", False,
                   Lesion((0.0, 75.0, -540.0), (12.0, 8.0, 10.0), 620.0),
                   (1.0, 0.8, 0.0, 0.0)),
    ), z_range=(-590.0, 110.0), lung_series=True, death_months=None,
        notes="complete response; bone metastases at T12 and the sacrum (non-target)"),
)
