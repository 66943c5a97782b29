"""The ``baode-eval`` command line.

Each subcommand lives in ``baode_eval/commands/<name>.py`` with ``add_parser(subparsers)``
and ``main(args) -> int``. User-facing errors (``BaodeEvalError``) print one line to stderr
and exit 2; nothing prints a bare traceback for bad input.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import BaodeEvalError

COMMANDS = ("run", "report", "scorecard", "simulate", "validate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="baode-eval",
        description="Evaluate follow-up support for relocated families (稳得住、有就业、能致富、可融入).",
    )
    parser.add_argument("--version", action="version", version=f"baode-eval {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"baode_eval.commands.{name}")
        p = module.add_parser(sub)
        p.set_defaults(_main=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._main(args) or 0)
    except BaodeEvalError as exc:
        print(f"baode-eval {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("baode-eval: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
