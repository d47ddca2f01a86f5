"""The `firefleet` command. Subcommands are plug-ins found through the `firefleet.commands` entry
points, so this package (which every other package may import) never imports edge, cloud or simulators.

A ConfigError ends the command with its one-line message and exit code 2: never a stack trace.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

from devices.errors import ConfigError

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="firefleet", description="Fire-safety IoT fleet tools.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for ep in sorted(entry_points(group="firefleet.commands"), key=lambda e: e.name):
        register: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] = ep.load()
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except ConfigError as exc:
        print(f"error: {exc.describe()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
