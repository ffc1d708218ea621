"""Semi-automatic 3D lesion segmentation from one prompt (see ``region_grow``)."""

from __future__ import annotations

from .prompts import BoxPrompt, LinePrompt, PointPrompt, Prompt, voxel_to_point
from .region_grow import Segmentation, segment

__all__ = ["BoxPrompt", "LinePrompt", "PointPrompt", "Prompt", "Segmentation", "segment",
           "voxel_to_point"]
