"""Small helpers for the commands: JSON to stdout, progress and warnings to stderr."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from typing import Any


def print_json(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2, default=_default)
    sys.stdout.write("\n")


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "__fspath__"):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def warn(messages: Iterable[str]) -> None:
    for message in messages:
        print(f"caliper: warning: {message}", file=sys.stderr)


class Progress:
    """``done/total`` on one stderr line, at most a few times a second."""

    def __init__(self, label: str, *, enabled: bool | None = None) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._last = 0.0
        self._start = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.2:
            return
        self._last = now
        elapsed = now - self._start
        left = elapsed / done * (total - done) if done else 0.0
        end = "\n" if done >= total else ""
        print(f"\r{self.label}: {done}/{total} ({left:.0f} s left)", end=end, file=sys.stderr)
