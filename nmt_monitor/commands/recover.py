"""``nmt-monitor recover [DIR]``: rebuild unfinished sessions (after a crash) from their journals."""

from __future__ import annotations

import sys
from pathlib import Path

from nmt_monitor.errors import EXIT_FAILURE, UserError

HELP = "rebuild sessions that did not finish (crash, kill, power cut) from their journals"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "recover", help=HELP,
        description=HELP + ". Every <name>.journal in DIR becomes <name>.h5 (up to a torn tail); "
        "sessions still being recorded are left alone; nothing is overwritten.",
    )
    parser.add_argument("dir", nargs="?", type=Path, default=Path("recordings"), metavar="DIR",
                        help="directory to search (default: the config file's out, else recordings/)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from nmt_monitor.commands.termination import Terminated, stop_on_termination
    from nmt_monitor.storage import find_unfinished, recover_session

    if not args.dir.is_dir():
        raise UserError(f"{args.dir}: no such directory")
    journals = find_unfinished(args.dir, include_in_use=True)
    if not journals:
        print(f"nmt-monitor: no unfinished sessions in {args.dir}", file=sys.stderr)
        return 0
    failed = 0
    try:
        with stop_on_termination():  # the session being written is removed; its journal is kept
            for journal in journals:  # one journal's failure never stops the others
                result = recover_session(journal)
                print(result.summary(), file=sys.stderr if result.status == "failed" else sys.stdout, flush=True)
                failed += result.status == "failed"
    except Terminated as stop:
        print(f"nmt-monitor: recover stopped by {stop.name}; the journals not yet recovered are kept",
              file=sys.stderr)
        return stop.exit_code
    return EXIT_FAILURE if failed else 0
