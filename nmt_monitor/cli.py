"""The ``nmt-monitor`` command: one subcommand per module in ``nmt_monitor.commands``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from nmt_monitor import __version__
from nmt_monitor.errors import EXIT_USAGE, UserError

#: Subcommands, in the order ``--help`` lists them; each names a module in nmt_monitor.commands.
COMMANDS: tuple[str, ...] = (
    "live",
    "replay",
    "stream",
    "record",
    "analyze",
    "calibrate",
    "recover",
    "export",
    "grade",
    "ports",
)

#: What ``nmt-monitor`` with no arguments runs (the live monitor on the built-in simulator).
DEFAULT_ARGV: tuple[str, ...] = ("live", "--port", "sim://")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nmt-monitor",
        description=(
            "Pressure monitor for neuromuscular therapy. With no command, runs "
            f"'nmt-monitor {' '.join(DEFAULT_ARGV)}' on the built-in simulator."
        ),
    )
    parser.add_argument("--version", action="version", version=f"nmt-monitor {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module_name = f"nmt_monitor.commands.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a command not built into this installation
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list:
        args_list = list(DEFAULT_ARGV)
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.run(args) or 0)
    except UserError as exc:
        print(f"nmt-monitor: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into e.g. `head`: stop quietly, without a traceback on exit.
        try:
            sys.stdout = open("/dev/null", "w")  # noqa: SIM115 - keep interpreter shutdown quiet
        except OSError:
            pass
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
