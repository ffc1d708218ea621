"""Reading and writing images: DICOM discovery and loading, NIfTI/NRRD/MHA files."""

from __future__ import annotations

from pathlib import Path

from .dicom_series import load_series
from .discover import Inventory, Series, discover, require_series
from .image_files import is_image_file, read_image_file, write_image_file
from .select import Choice, choose_series, kernel_class

__all__ = [
    "Choice",
    "Inventory",
    "Series",
    "choose_series",
    "discover",
    "is_image_file",
    "kernel_class",
    "load_image",
    "load_series",
    "read_image_file",
    "require_series",
    "write_image_file",
]


def load_image(
    path: Path | str,
    *,
    series_uid: str | None = None,
    modality: str | None = "CT",
    kernel: str = "any",
):
    """Load an IMAGE argument (see ``cli.md``) as a :class:`~imaging.volume.Volume`.

    A folder of DICOM files (``series_uid`` picks one series; otherwise the
    choice rule of :mod:`imaging.io.select` applies and its words are added to
    the volume's warnings), a single DICOM file, or a NIfTI / NRRD / MHA file.
    """
    from dataclasses import replace

    from ..errors import InputError

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    if p.is_file() and is_image_file(p):
        return read_image_file(p)
    inventory = discover(p)
    choice = choose_series(inventory, series_uid=series_uid, modality=modality, kernel=kernel)
    volume = load_series(choice.series)
    if choice.others:
        volume = replace(volume, warnings=(choice.describe(), *volume.warnings))
    return volume
