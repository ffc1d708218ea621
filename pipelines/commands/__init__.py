"""One module per ``caliper`` verb; each has ``register(subparsers)``."""

from __future__ import annotations

from . import cohort, convert, ls, recist

COMMANDS = (ls, convert, recist, cohort)
