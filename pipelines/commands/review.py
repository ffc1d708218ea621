"""``caliper review OUT PATIENT`` / ``caliper review STUDY``: napari on one patient."""

from __future__ import annotations

import argparse
from pathlib import Path

from imaging.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("review", help="review and correct a patient's lesions in napari")
    p.add_argument("out", type=Path, metavar="OUT|STUDY",
                   help="a batch job's output folder, or a bare study folder")
    p.add_argument("patient", nargs="?", metavar="PATIENT", help="patient id (with OUT)")
    p.add_argument("--who", help="reader name recorded with each correction (default: login)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import napari
    except ImportError as exc:  # pragma: no cover - part of the set-up
        raise InputError("caliper review needs napari: pip install 'caliper[review]'") from exc
    if not args.out.exists():
        raise InputError(f"{args.out}: no such folder")
    viewer = napari.Viewer(title="Caliper review")
    if (args.out / "job.json").is_file():
        if not args.patient:
            raise InputError(f"{args.out}: name the patient to review (caliper review OUT "
                             "PATIENT)")
        from imaging.review.widget import open_review

        open_review(viewer, args.out, args.patient, who=args.who)
    else:
        open_study(viewer, args.out)
    napari.run()
    return 0


def open_study(viewer, folder: Path) -> list[str]:
    """A bare study folder: every CT series chosen per study, side by side."""
    from imaging.io import discover
    from imaging.io.dicom_series import load_series
    from imaging.io.select import choose_series
    from imaging.review.reader import image_layer
    from imaging.review.widget import fit_view

    inventory = discover(folder)
    names = []
    for (_patient, study_uid), _series in inventory.by_study().items():
        try:
            choice = choose_series(inventory, study_uid=study_uid, kernel="soft")
        except InputError:
            continue
        volume = load_series(choice.series)
        data, kwargs, _ = image_layer(volume, f"{choice.series.first.study_date} CT")
        viewer.add_image(data, **kwargs)
        names.append(kwargs["name"])
    if not names:
        raise InputError(f"{folder}: no CT series to review")
    viewer.canvas.grid.enabled = len(names) > 1
    fit_view(viewer)
    return names
