"""argparse types that reject bad values at parse time."""

from __future__ import annotations

import argparse
import math


def float_list(n: int, what: str):
    def parse(text: str) -> tuple[float, ...]:
        try:
            values = tuple(float(v) for v in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{what}: expected {n} numbers, got {text!r}"
            ) from None
        if len(values) != n or not all(math.isfinite(v) for v in values):
            raise argparse.ArgumentTypeError(f"{what}: expected {n} finite numbers, got {text!r}")
        return values

    return parse


def spacing_triplet(text: str) -> tuple[float, float, float]:
    values = float_list(3, "spacing")(text)
    if min(values) <= 0:
        raise argparse.ArgumentTypeError(f"spacing must be positive (mm), got {text!r}")
    return values  # type: ignore[return-value]
