"""The sample trial cohort: a deterministic generator of CT studies with known truth."""

from __future__ import annotations

from .generate import generate

__all__ = ["generate"]
