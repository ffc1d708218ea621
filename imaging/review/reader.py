"""napari reader: a DICOM series folder, study folder or file opens as CT in HU with its
spacing, origin and direction (the same loader as every ``caliper`` verb).

Layers live in napari's world frame = patient LPS millimetres in (z, y, x) order;
the image's voxel grid is placed there by an affine (spacing, direction, origin).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..geometry import Geometry
from ..io import load_image
from ..thumbnail import WINDOWS
from ..volume import Volume

__all__ = ["image_layer", "layer_affine", "napari_get_reader", "read_dicom", "window"]

_ZYX = np.eye(4)[[2, 1, 0, 3]]  # swaps x and z (and keeps the homogeneous row)


def layer_affine(geometry: Geometry | None, to_world: np.ndarray | None = None) -> np.ndarray:
    """4x4 affine from data (k, j, i) indices, or from LPS (z, y, x) mm when ``geometry``
    is None, to world (z, y, x) mm; ``to_world`` (4x4, x-y-z order) maps this scan's
    LPS into the viewer's frame (e.g. a follow-up into baseline's)."""
    m = np.eye(4)
    if geometry is not None:
        m[:3, :3] = np.asarray(geometry.direction) @ np.diag(geometry.spacing)
        m[:3, 3] = geometry.origin
    if to_world is not None:
        m = to_world @ m
    return _ZYX @ m @ _ZYX


def window(name: str) -> tuple[float, float]:
    level, width = WINDOWS[name]
    return (level - width / 2, level + width / 2)


def image_layer(volume: Volume, name: str, to_world: np.ndarray | None = None,
                preset: str = "soft") -> tuple[np.ndarray, dict[str, Any], str]:
    return (volume.array, {"name": name, "affine": layer_affine(volume.geometry, to_world),
                           "contrast_limits": window(preset), "colormap": "gray",
                           "metadata": {"series_uid": volume.info.series_uid if volume.info
                                        else None, "geometry": volume.geometry.to_dict()}},
            "image")


def read_dicom(path: str | list[str]) -> list[tuple[np.ndarray, dict[str, Any], str]]:
    path = Path(path[0] if isinstance(path, list) else path)
    volume = load_image(path)
    return [image_layer(volume, f"CT {path.name}")]


def napari_get_reader(path: str | list[str]):
    first = Path(path[0] if isinstance(path, list) else path)
    if first.is_dir() or first.suffix.lower() in (".dcm", ""):
        return read_dicom
    return None
