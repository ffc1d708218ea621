"""``caliper segment IMAGE (--point X,Y,Z | --voxel I,J,K | --line ... | --box ...) [--out MASK]
[--nodal]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from imaging.errors import InputError
from imaging.io import discover, load_image, write_image_file
from imaging.io.seg_export import SegmentSpec, write_seg
from imaging.segment import BoxPrompt, LinePrompt, PointPrompt, segment, voxel_to_point
from imaging.volume import Volume

from .._output import print_json, warn
from ._args import float_list


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("segment", help="segment the lesion a prompt points at, and measure it")
    p.add_argument("image", type=Path, metavar="IMAGE")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--point", type=float_list(3, "--point"), metavar="X,Y,Z",
                       help="a click inside the lesion (LPS mm)")
    where.add_argument("--voxel", type=float_list(3, "--voxel"), metavar="I,J,K",
                       help="a click as voxel indices (column, row, slice)")
    where.add_argument("--line", type=float_list(6, "--line"), metavar="X1,Y1,Z1,X2,Y2,Z2",
                       help="a diameter drawn across the lesion on one axial slice (LPS mm)")
    where.add_argument("--box", type=float_list(6, "--box"), metavar="X1,Y1,Z1,X2,Y2,Z2",
                       help="two opposite corners of a box drawn tight around the lesion "
                            "(LPS mm; corners on one slice bound it in-plane only)")
    p.add_argument("--positive", type=float_list(3, "--positive"), action="append", default=[],
                   metavar="X,Y,Z", help="extra click inside the lesion (repeatable)")
    p.add_argument("--negative", type=float_list(3, "--negative"), action="append", default=[],
                   metavar="X,Y,Z", help="click on something that is not the lesion")
    p.add_argument("--out", type=Path, metavar="MASK",
                   help="write the mask on the image's grid: .nii.gz / .nrrd / .mha, or .dcm "
                        "for a DICOM SEG referencing the source series")
    p.add_argument("--nodal", action="store_true", help="lymph node: RECIST diameter = short axis")
    p.add_argument("--series", metavar="UID", help="SeriesInstanceUID when IMAGE is a folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    as_seg = args.out is not None and args.out.name.lower().endswith(".dcm")
    if as_seg and (not args.image.is_dir() and not args.image.name.lower().endswith(".dcm")):
        raise InputError(f"{args.out}: DICOM SEG needs a DICOM series as IMAGE, got {args.image}")
    volume = load_image(args.image, series_uid=args.series)
    extra = {"positive": tuple(args.positive), "negative": tuple(args.negative)}
    if args.line is not None:
        prompt = LinePrompt(args.line[:3], args.line[3:], **extra)
    elif args.box is not None:
        prompt = BoxPrompt(args.box[:3], args.box[3:], **extra)
    else:
        point = voxel_to_point(volume.geometry, args.voxel) if args.voxel else args.point
        prompt = PointPrompt(point, **extra)
    result = segment(volume, prompt, nodal=args.nodal)
    warn(volume.warnings)
    if as_seg:
        series = discover(args.image).get(volume.info.series_uid)
        write_seg(args.out, series, result.full_mask(volume.geometry),
                  [SegmentSpec(1, "lesion")], geometry=volume.geometry)
    elif args.out is not None:
        full = Volume(result.full_mask(volume.geometry), volume.geometry, volume.info)
        write_image_file(full, args.out)
    out = result.measurement.to_dict()
    out["segmentation"] = result.details
    if args.out is not None:
        out["mask"] = str(args.out)
    print_json(out)
    return 0
