"""Write the sample trial as DICOM, with prompts, a clinical table and the truth.

Deterministic: the same seed gives the same bytes (UIDs, file names, noise and
poses all come from the seed). Layout under OUT:

* ``dicom/<random>/<random>/<random>/<random file name>``: one study per
  visit; series 1 a localizer, series 2 the soft-tissue series (4 mm,
  208 x 208 at 1.75 mm), series 3 a lung-kernel series at baseline for
  patients with lung metastases; one study RLE-compressed.
* ``prompts.csv``: one click per baseline lesion (LPS mm, at the baseline
  scan), plus a reader's click on patient B's new lesion at week 24.
* ``clinical.csv``: patient_id, treatment_start, death_date, last_followup_date.
* ``truth.json``: per patient, lesion and visit the true long and short axis
  and volume measured on the generator's own masks, and the expected RECIST
  1.1 response per visit (the scorer run on those truths); ``cases/<patient>.json``
  holds each patient's RECIST case built from the truth.
* ``truth/<patient>_<date>.nii.gz``: the true lesions of each visit, one label image
  on its soft-tissue series' grid (each lesion's value is its ``label`` in truth.json).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from threadpoolctl import threadpool_limits

from imaging.geometry import Geometry
from imaging.io.atomic import write_csv_atomic
from imaging.io.dicom_writer import CTSeriesSpec, ct_slice_dataset, uid_from, write_dataset
from imaging.io.image_files import write_image_file
from imaging.measure import measure_mask
from imaging.recist import score
from imaging.volume import Volume

from .cohort import PATIENTS, PatientSpec
from .phantom import Pose, acquire, render

__all__ = ["generate"]

MATRIX = 208
PIXEL_MM = 1.75
SLICE_MM = 4.0
DAYS_PER_MONTH = 30.4375


@dataclass(frozen=True)
class Visit:
    patient: PatientSpec
    n: int
    seed: int
    out: Path

    @property
    def date(self) -> dt.date:
        return self.patient.date(self.n)

    @property
    def rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, ord(self.patient.id), self.n])

    @property
    def pose(self) -> Pose:
        rng = np.random.default_rng([self.seed, ord(self.patient.id), self.n, 1])
        if self.n == 0:
            return Pose((float(rng.uniform(-8, 8)), float(rng.uniform(-8, 8)), 0.0))
        return Pose((float(rng.uniform(-25, 25)), float(rng.uniform(-20, 20)),
                     float(rng.uniform(-20, 20))),
                    yaw_deg=float(rng.uniform(-4, 4)), pitch_deg=float(rng.uniform(-2, 2)))

    def uid(self, *parts: object) -> str:
        return str(uid_from("caliper-sample", self.seed, self.patient.id, self.n, *parts))


def _geometry(visit: Visit) -> Geometry:
    lo, hi = visit.patient.z_range
    shift_z = visit.pose.shift_mm[2]
    n = int(np.ceil((hi - lo) / SLICE_MM)) + 1
    half = (MATRIX - 1) / 2 * PIXEL_MM
    return Geometry((MATRIX, MATRIX, n), (PIXEL_MM, PIXEL_MM, SLICE_MM),
                    (-half, -half, lo + shift_z), np.eye(3))


def _series_spec(visit: Visit, number: int, description: str, kernel: str) -> CTSeriesSpec:
    p = visit.patient
    birth = dt.date(p.baseline.year - p.age, 6, 15)
    return CTSeriesSpec(
        patient_id=f"ATC-{p.id}",
        patient_name=f"Sample^{p.id}",
        patient_sex=p.sex,
        patient_birth_date=birth.strftime("%Y%m%d"),
        patient_age=f"{p.age:03d}Y",
        study_uid=visit.uid("study"),
        study_date=visit.date.strftime("%Y%m%d"),
        study_time="093000",
        study_id=str(visit.n + 1),
        accession=f"ACC{ord(p.id):03d}{visit.n:02d}",
        study_description="CT NECK CHEST WITH CONTRAST" if p.z_range[0] > -400
        else "CT NECK CHEST ABDOMEN PELVIS WITH CONTRAST",
        series_uid=visit.uid("series", number),
        series_number=number,
        series_description=description,
        frame_of_reference_uid=visit.uid("frame"),
        manufacturer="Caliper Sample Scanner",
        model="Phantom CT",
        kernel=kernel,
        body_part="NECK" if p.z_range[0] > -400 else "CHEST",
        contrast="Iohexol 350",
        slice_thickness=SLICE_MM,
        pixel_spacing=(PIXEL_MM, PIXEL_MM),
        acquisition_number=1,
    )


def _name(rng: np.random.Generator, n: int = 12) -> str:
    return "".join(rng.choice(list("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"), n))


def _write_visit(visit: Visit) -> dict:
    """Render one visit, write its study, and measure the true lesions."""
    p = visit.patient
    g = _geometry(visit)
    pose = visit.pose
    lesions = [spec.shape.scaled(spec.factors[visit.n]) for spec in p.lesions]
    seed = int(visit.rng.integers(2**31))
    sharp, masks = render(tuple(reversed(g.size)), g.index_to_lps, pose, lesions, seed=seed)
    hu = acquire(sharp, seed=seed)

    rng = visit.rng
    study_dir = visit.out / "dicom" / _name(rng, 8) / _name(rng, 8)
    files = 0
    soft = _series_spec(visit, 2, "NECK-CHEST 4.0 B31f" if p.z_range[0] > -400
                        else "CAP 4.0 B31f", "B31f")
    compress = p.compressed_visit == visit.n
    files += _write_axial(soft, hu, g, study_dir / _name(rng, 8), rng, compress)
    if p.lung_series and visit.n == 0:
        lung_hu = acquire(sharp, seed=seed, kernel="lung")
        files += _write_axial(_series_spec(visit, 3, "LUNG 4.0 B70f", "B70f"), lung_hu, g,
                              study_dir / _name(rng, 8), rng, False)
    files += _write_localizer(_series_spec(visit, 1, "TOPOGRAM", "T20s"), hu, g,
                              study_dir / _name(rng, 8), rng)

    mask_file = _write_truth_mask(visit, g, masks)
    truth = {}
    crops = {}
    for spec, mask in zip(p.lesions, masks, strict=True):
        centre = pose.to_scanner(np.asarray(spec.shape.centre))
        i, j, k = np.rint(g.lps_to_index(centre)).astype(int)
        k = int(np.clip(k, 0, hu.shape[0] - 1))
        half = 24
        sl = (k, slice(max(j - half, 0), j + half), slice(max(i - half, 0), i + half))
        crops[spec.id] = (hu[sl].copy(), mask[sl].copy())
        if not mask.any():
            truth[spec.id] = {"present": False}
            continue
        m = measure_mask(Volume(mask.astype(np.uint8), g), nodal=spec.nodal)
        centre_idx = np.argwhere(mask).mean(axis=0)[::-1]
        truth[spec.id] = {
            "present": True,
            "long_axis_mm": round(m.long_axis_mm, 2),
            "short_axis_mm": round(m.short_axis_mm, 2),
            "recist_diameter_mm": round(m.recist_diameter_mm, 2),
            "volume_ml": round(m.volume_ml, 3),
            "centre_lps_mm": [round(float(v), 2) for v in g.index_to_lps(centre_idx)],
            "body_centre_mm": list(spec.shape.centre),
        }
    return {
        "patient": p.id, "visit": visit.n, "week": p.weeks[visit.n],
        "date": visit.date.isoformat(), "study_uid": visit.uid("study"),
        "series_uid": visit.uid("series", 2), "pose": {
            "shift_mm": [round(v, 2) for v in pose.shift_mm],
            "yaw_deg": round(pose.yaw_deg, 2), "pitch_deg": round(pose.pitch_deg, 2)},
        "compressed": compress, "truth_mask": mask_file, "files": files, "lesions": truth,
        "crops": crops,
    }


def _write_truth_mask(visit: Visit, g: Geometry, masks: list[np.ndarray]) -> str:
    """The true lesions of a visit as one label image on its soft-tissue series' grid
    (lesion n of the patient, counted from 1, has the value n; NIfTI, compressed): what a
    segmentation is checked against. Returns its path relative to the cohort's folder."""
    labels = np.zeros(masks[0].shape, np.uint8)
    for n, mask in enumerate(masks, start=1):
        if labels[mask].any():
            raise ValueError(f"ATC-{visit.patient.id} {visit.date}: lesion {n} overlaps "
                             "another; the label image cannot hold both")
        labels[mask] = n
    relative = f"truth/ATC-{visit.patient.id}_{visit.date.isoformat()}.nii.gz"
    write_image_file(Volume(labels, g), visit.out / relative)
    return relative


def _write_axial(spec: CTSeriesSpec, hu: np.ndarray, g: Geometry, folder: Path,
                 rng: np.random.Generator, compress: bool) -> int:
    order = rng.permutation(hu.shape[0])
    for number, k in enumerate(order, start=1):
        position = g.index_to_lps([0, 0, int(k)])
        stored = (hu[k].astype(np.int32) + 1024).astype(np.int16)
        ds = ct_slice_dataset(spec, stored, position, number,
                              sop_instance_uid=str(uid_from(spec.series_uid, int(k))))
        if compress:
            # keep the seed's instance UID (pydicom's default makes a new random one)
            ds.compress(pydicom.uid.RLELossless, encoding_plugin="pydicom",
                        generate_instance_uid=False)
        write_dataset(ds, folder / _name(rng, 10))
    return int(hu.shape[0])


def _write_localizer(spec: CTSeriesSpec, hu: np.ndarray, g: Geometry, folder: Path,
                     rng: np.random.Generator) -> int:
    """A coronal projection (topogram) through the whole scan range."""
    projection = np.clip(hu.astype(np.float32).mean(axis=1), -1024, 3071)[::-1]  # top = head
    stored = (np.rint(projection) + 1024).astype(np.int16)
    top = g.index_to_lps([0, 0, g.size[2] - 1])
    from dataclasses import replace

    loc = replace(spec, orientation=(1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
                  pixel_spacing=(SLICE_MM, PIXEL_MM),
                  image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"))
    ds = ct_slice_dataset(loc, stored, (top[0], 0.0, top[2]), 1,
                          sop_instance_uid=str(uid_from(spec.series_uid, "localizer")))
    del ds.RescaleType  # a localizer's values are not HU (dciodvfy)
    write_dataset(ds, folder / _name(rng, 10))
    return 1


def _case(p: PatientSpec, visits: list[dict]) -> dict:
    """The RECIST case the truth implies (targets' RECIST diameters, statuses)."""
    timepoints = []
    for v in visits:
        lesions = []
        for spec in p.lesions:
            t = v["lesions"][spec.id]
            if spec.role == "new":
                if t["present"]:
                    lesions.append({"id": spec.id, "role": "new", "organ": spec.organ,
                                    "status": "unequivocal"})
                continue
            if v["visit"] == 0:
                entry = {"id": spec.id, "role": spec.role, "organ": spec.organ,
                         "nodal": spec.nodal}
                if spec.role == "target":
                    entry["diameter_mm"] = t["recist_diameter_mm"]
                else:
                    entry["status"] = "present"
            elif spec.role == "target":
                entry = ({"id": spec.id, "diameter_mm": t["recist_diameter_mm"]}
                         if t["present"] else {"id": spec.id, "status": "absent"})
            else:
                entry = {"id": spec.id, "status": "present" if t["present"] else "absent"}
            lesions.append(entry)
        timepoints.append({"date": v["date"], "lesions": lesions})
    return {"patient_id": f"ATC-{p.id}", "criteria": "RECIST1.1", "timepoints": timepoints}


def write_preview(results: list[dict], path: Path) -> Path:
    """PNG montage: an axial crop through each lesion (rows) at each visit (columns)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for p in PATIENTS:
        mine = sorted((r for r in results if r["patient"] == p.id), key=lambda r: r["visit"])
        for spec in p.lesions:
            if mine:
                rows.append((p, spec, mine))
    ncol = max(len(r[2]) for r in rows)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(1.6 * ncol, 1.6 * len(rows)),
                             squeeze=False)
    for r, (p, spec, mine) in enumerate(rows):
        lung = spec.organ == "lung"
        lo, hi = (-1350, 150) if lung else ((-160, 240) if spec.organ != "bone" else (-500, 1300))
        for c in range(ncol):
            ax = axes[r][c]
            ax.axis("off")
            if c >= len(mine):
                continue
            image, mask = mine[c]["crops"][spec.id]
            ax.imshow(image, cmap="gray", vmin=lo, vmax=hi)
            if mask.any():
                ax.contour(mask, levels=[0.5], colors="#ff4040", linewidths=0.6)
            ax.set_title(f"{p.id} {spec.id} wk{mine[c]['week']}", fontsize=6)
    fig.suptitle("Sample cohort: each lesion (rows) at each visit; red = true outline",
                 fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _one_blas_thread() -> None:
    """A worker's BLAS runs on one thread: the renderer's (n, 3) @ (3, 3) products on every
    voxel would otherwise start a thread per core in each worker, and the workers fight for
    the cores (the cohort took 63 s on 2 cores, 32 s like this; the same bytes)."""
    threadpool_limits(1, user_api="blas")


def generate(out: Path, *, patients: int = 7, seed: int = 0, workers: int = 2,
             preview: bool = False,
             progress: Callable[[int, int], None] | None = None) -> dict:
    """Write the sample cohort under ``out``; returns the truth document."""
    chosen = PATIENTS[:patients]
    visits = [Visit(p, n, seed, out) for p in chosen for n in range(len(p.weeks))]
    results: list[dict] = []
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers, initializer=_one_blas_thread) as pool:
            for n, res in enumerate(pool.map(_write_visit, visits), start=1):
                results.append(res)
                if progress:
                    progress(n, len(visits))
    else:
        for n, visit in enumerate(visits, start=1):
            results.append(_write_visit(visit))
            if progress:
                progress(n, len(visits))

    truth: dict = {"seed": seed, "trial": "anaplastic thyroid cancer, anlotinib + PD-1 inhibitor "
                   "(three-week cycles); synthetic sample cohort", "patients": {}}
    prompts, clinical = [], []
    for p in chosen:
        mine = sorted((r for r in results if r["patient"] == p.id), key=lambda r: r["visit"])
        case = _case(p, mine)
        result = score(case)
        week12 = next(tp for tp, v in zip(result["timepoints"], mine, strict=True)
                      if v["week"] == 12)
        truth["patients"][f"ATC-{p.id}"] = {
            "age": p.age, "sex": p.sex, "notes": p.notes,
            "visits": [{k: v[k] for k in ("week", "date", "study_uid", "series_uid", "pose",
                                          "compressed", "truth_mask")} for v in mine],
            "lesions": {s.id: {"role": s.role, "organ": s.organ, "nodal": s.nodal,
                               "label": n,
                               "by_date": {v["date"]: v["lesions"][s.id] for v in mine}}
                        for n, s in enumerate(p.lesions, start=1)},
            "recist_case": case,
            "expected": {
                "overall_by_date": {tp["date"]: tp["overall"] for tp in result["timepoints"]},
                "week12_overall": week12["overall"],
                "best_overall_response": result["best_overall_response"],
                "progression_date": result["progression_date"],
            },
        }
        base = mine[0]
        for s in p.lesions:
            visit = base if s.role != "new" else next(v for v in mine if v["lesions"][s.id]
                                                      ["present"])
            x, y, z = visit["lesions"][s.id]["centre_lps_mm"]
            prompts.append({"patient_id": f"ATC-{p.id}", "lesion_id": s.id,
                            "role": s.role,
                            "organ": s.organ, "nodal": str(s.nodal).lower(),
                            "x": x, "y": y, "z": z, "x2": "", "y2": "", "z2": "",
                            "study_date": "" if s.role != "new" else visit["date"]})
        start = p.baseline + dt.timedelta(days=-3)
        death = (start + dt.timedelta(days=round(p.death_months * DAYS_PER_MONTH))
                 if p.death_months else None)
        last = death or start + dt.timedelta(days=round(p.followup_months * DAYS_PER_MONTH))
        clinical.append({"patient_id": f"ATC-{p.id}", "treatment_start": start.isoformat(),
                         "death_date": death.isoformat() if death else "",
                         "last_followup_date": last.isoformat()})

    for pid, patient in truth["patients"].items():
        path = out / "cases" / f"{pid}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(patient["recist_case"], indent=1) + "\n")
    write_csv_atomic(out / "prompts.csv", prompts)
    write_csv_atomic(out / "clinical.csv", clinical)
    (out / "truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    if preview:
        truth["preview"] = str(write_preview(results, out / "preview.png"))
    truth["files"] = sum(r["files"] for r in results)
    return truth

