"""``nmt-monitor completion bash|zsh``: a shell completion script for every command and option."""

from __future__ import annotations

import argparse
import sys

HELP = "print a shell completion script (bash or zsh)"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "completion", help=HELP,
        description=HELP + ": commands, options, their choices and file names complete with Tab. Load it "
        "from your shell's start-up file, or save it where your shell looks for completions (examples below). "
        "The script is static: make it again after upgrading nmt-monitor.",
    )
    parser.add_argument("shell", choices=("bash", "zsh"), metavar="SHELL", help="bash or zsh")
    parser.set_defaults(run=run)


def _mark_paths(parser: argparse.ArgumentParser, shtab) -> None:
    """Options and arguments that take a file or a folder complete file names."""
    for action in parser._actions:  # noqa: SLF001 - argparse has no public list; shtab reads it too
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for sub in action.choices.values():
                _mark_paths(sub, shtab)
            continue
        metavar = str(action.metavar or "")
        if "FILE" in metavar or "PATH" in metavar or metavar.startswith("OUT."):
            action.complete = shtab.FILE  # files and folders
        elif "DIR" in metavar:
            action.complete = shtab.DIRECTORY


def run(args) -> int:
    import shtab

    parser = args.build_parser(full=True)
    _mark_paths(parser, shtab)
    sys.stdout.write(shtab.complete(parser, shell=args.shell))
    return 0
