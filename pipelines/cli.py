"""The ``caliper`` command: ``main(argv=None) -> int``.

Machine-readable results go to stdout as JSON; progress, warnings and errors
go to stderr. Exit status 0 on success, 2 on bad input (one line on stderr
saying what and where), 1 on an internal error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from imaging.errors import InputError

from ._process import exit_quickly, settle
from .commands import COMMANDS

__all__ = ["entry", "main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own usage errors are bad input too
        self.print_usage(sys.stderr)
        raise InputError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="caliper",
        description="Lesion measurement on CT: DICOM ingest, segmentation, RECIST scoring.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"caliper: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # stdout closed early (``caliper ... | head``)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("caliper: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The ``caliper`` console script and ``python -m pipelines.cli``: :func:`main` in a
    process of its own (collector settings in :mod:`pipelines._process`)."""
    settle()
    exit_quickly(main())


if __name__ == "__main__":  # pragma: no cover
    entry()
