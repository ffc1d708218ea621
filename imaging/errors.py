"""Caliper's exceptions and warnings.

One small hierarchy so that the command line can map every kind of bad input
to exit status 2 with a single ``except InputError`` clause. Every error says
*where* the problem is (a path, a series UID, a lesion id, a JSON field).
"""

from __future__ import annotations

__all__ = [
    "CaliperError",
    "CaseValidationError",
    "DicomReadError",
    "GeometryError",
    "GeometryWarning",
    "InputError",
    "NoSeriesError",
    "PromptError",
    "SeriesSelectionError",
]


class CaliperError(Exception):
    """Base class of every error Caliper raises on purpose."""


class InputError(CaliperError):
    """The input is wrong (a missing or unreadable file, an invalid case...).

    The command line reports it on one line of stderr and exits with status 2.
    """


class DicomReadError(InputError):
    """A DICOM file or series cannot be read as an image."""


class NoSeriesError(InputError):
    """A folder holds no usable (CT) image series."""


class SeriesSelectionError(InputError):
    """The requested series does not exist or cannot be chosen."""


class GeometryError(InputError):
    """Slice geometry is inconsistent (mixed orientations, sizes, spacings)."""


class PromptError(InputError):
    """A segmentation prompt is unusable (outside the image, in air...)."""


class CaseValidationError(InputError):
    """A RECIST case violates the contract (``recist-json.md``)."""


class GeometryWarning(UserWarning):
    """The loader corrected the geometry (non-uniform spacing, tilt, gaps)."""
