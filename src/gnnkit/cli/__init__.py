"""The ``gnnkit`` command. Each subcommand lives in its own module and only parses arguments
and calls library functions that a Python user can call too.

A subcommand module defines ``add_parser(subparsers)`` (registering itself and setting
``func``) and is listed in ``_SUBCOMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import UsageError

_SUBCOMMANDS = ("train", "datasets", "generate")

__all__ = ["main", "build_parser", "UsageError"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gnnkit", description="Deep learning on graphs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _SUBCOMMANDS:
        try:
            module = importlib.import_module(f"gnnkit.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"gnnkit.cli.{name}":
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if not argv:
        argv = ["train"]
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as err:
        print(f"gnnkit {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
