"""``caliper convert IMAGE OUT.nii.gz [--series UID] [--spacing SX,SY,SZ]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from imaging.io import load_image, write_image_file
from imaging.resample import resample_to_spacing

from .._output import print_json, warn
from ._args import spacing_triplet


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert", help="load IMAGE as Caliper sees it (HU, LPS geometry) and write NIfTI"
    )
    p.add_argument("image", type=Path, metavar="IMAGE")
    p.add_argument("out", type=Path, metavar="OUT.nii.gz")
    p.add_argument("--series", metavar="UID", help="SeriesInstanceUID to load from a folder")
    p.add_argument("--spacing", type=spacing_triplet, metavar="SX,SY,SZ",
                   help="resample to this spacing (mm, linear) before writing")
    p.add_argument("--any-modality", action="store_true",
                   help="accept non-CT series (values are then not HU)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    volume = load_image(args.image, series_uid=args.series,
                        modality=None if args.any_modality else "CT")
    warnings = list(volume.warnings)
    if args.spacing is not None:
        volume = resample_to_spacing(volume, args.spacing, interpolator="linear")
        warnings.append(f"resampled to {list(args.spacing)} mm (linear)")
    write_image_file(volume, args.out)
    warn(warnings)
    print_json({
        "output": str(args.out),
        **volume.geometry.to_dict(),
        "series": volume.info.to_dict(),
        "warnings": warnings,
    })
    return 0
