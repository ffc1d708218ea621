"""One module per ``caliper`` verb; each has ``register(subparsers)``."""

from __future__ import annotations

from . import cohort, convert, fetch, ls, measure, recist, review, run, sample, segment

COMMANDS = (ls, fetch, convert, segment, measure, recist, cohort, sample, run, review)
