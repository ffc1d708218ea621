"""``caliper measure MASK [--label N] [--nodal]``: RECIST numbers of an existing mask."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from imaging.io import load_image
from imaging.measure import measure_mask

from .._output import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("measure", help="long and short axis, volume of a lesion mask")
    p.add_argument("mask", type=Path, metavar="MASK",
                   help="NIfTI / NRRD / MHA file, or a DICOM series of a label image")
    p.add_argument("--label", type=int, metavar="N", help="measure voxels == N (default: != 0)")
    p.add_argument("--nodal", action="store_true",
                   help="lymph node: the RECIST diameter is the short axis")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    mask = load_image(args.mask, modality=None)
    if not np.issubdtype(mask.array.dtype, np.integer):
        mask = mask.with_array(np.rint(mask.array).astype(np.int32))
    print_json(measure_mask(mask, label=args.label, nodal=args.nodal).to_dict())
    return 0
