"""The `stylehub` command: the engines from a terminal.

Every option's default comes from the engine's settings dataclass; an option left out keeps the preset's value.
Errors print one line, `stylehub: error: ...`, and exit with status 1 (2 for a malformed command line); StyleHub's
warnings print one line, `stylehub: warning: ...`. --json output is always valid JSON (NaN and infinities: null).
"""
from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import StyleHubError
from . import apply, hub, models, stylize, train
from .common import one_line_warnings

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stylehub", description="Neural style transfer: optimise, train, apply, "
                                                                  "publish.")
    parser.add_argument("--version", action="version", version=f"stylehub {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (stylize, train, apply, hub, models):  # in this order in --help
        group.add_parsers(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with one_line_warnings():
            return args.run(args)
    except StyleHubError as err:
        print(f"stylehub: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("stylehub: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
