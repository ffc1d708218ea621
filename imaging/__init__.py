"""Caliper's library: DICOM I/O, geometry, resampling, measurement, RECIST."""

from __future__ import annotations

from .errors import CaliperError, InputError
from .geometry import Geometry
from .io import discover, load_image, load_series
from .volume import SeriesInfo, Volume

__all__ = [
    "CaliperError",
    "Geometry",
    "InputError",
    "SeriesInfo",
    "Volume",
    "discover",
    "load_image",
    "load_series",
]
