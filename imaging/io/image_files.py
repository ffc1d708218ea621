"""NIfTI / NRRD / MHA images read and written through SimpleITK (LPS geometry)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import DicomReadError, InputError
from ..volume import SeriesInfo, Volume
from .atomic import atomic_path

__all__ = ["IMAGE_SUFFIXES", "is_image_file", "read_image_file", "write_image_file"]

IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


def is_image_file(path: Path) -> bool:
    """True when ``path`` names a NIfTI / NRRD / MetaImage file by its suffix."""
    name = path.name.lower()
    return any(name.endswith(s) for s in IMAGE_SUFFIXES)


def read_image_file(path: Path, *, dtype: type = np.float32) -> Volume:
    """Read a NIfTI / NRRD / MHA file; geometry comes back in LPS (SimpleITK's frame)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[-1]
        raise DicomReadError(f"{path}: cannot read image ({reason})") from None
    volume = Volume.from_sitk(image, SeriesInfo(description=path.name))
    if dtype is not None and volume.array.dtype != dtype:
        volume = volume.with_array(volume.array.astype(dtype, copy=False))
    return volume


def write_image_file(volume: Volume, path: Path) -> None:
    """Write atomically (temporary file, then rename); the suffix picks the format."""
    with atomic_path(path) as tmp:
        sitk.WriteImage(volume.to_sitk(), str(tmp), useCompression=True)
