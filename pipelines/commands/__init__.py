"""One module per ``caliper`` verb; each has ``register(subparsers)``."""

from __future__ import annotations

from . import convert, ls

COMMANDS = (ls, convert)
