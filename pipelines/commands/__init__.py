"""One module per ``caliper`` verb; each has ``register(subparsers)``."""

from __future__ import annotations

from . import cohort, convert, ls, measure, recist

COMMANDS = (ls, convert, measure, recist, cohort)
