"""``nmt-monitor export FILE.h5 --csv OUT.csv``: a session's samples as CSV (``time_s,force_N``)."""

from __future__ import annotations

import sys
from pathlib import Path

from nmt_monitor.errors import UserError

HELP = "export a recorded session's samples as CSV (time_s,force_N)"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help=HELP,
        description=HELP + "; the same columns as 'stream --format csv', readable by 'analyze'. "
        "time_s counts from the session's start time.",
    )
    parser.add_argument("file", type=Path, metavar="FILE.h5", help="a session recorded by nmt-monitor")
    parser.add_argument("--csv", type=Path, required=True, metavar="OUT.csv", help="CSV file to write ('-' for stdout)")
    parser.add_argument("--force", action="store_true", help="overwrite OUT.csv if it exists")
    parser.set_defaults(run=run)


def run(args) -> int:
    from nmt_monitor.commands.termination import Terminated, stop_on_termination
    from nmt_monitor.storage import export_csv
    from nmt_monitor.storage.export import write_csv_rows
    from nmt_monitor.storage.paths import check_output_file

    if str(args.csv) == "-":
        try:
            with stop_on_termination():
                write_csv_rows(args.file, sys.stdout)
        except Terminated as stop:
            print(f"nmt-monitor: export stopped by {stop.name}", file=sys.stderr)
            return stop.exit_code
        return 0
    if args.csv.resolve() == args.file.resolve():
        raise UserError("--csv must not be the session file itself")
    # before reading the session: a dangling link, a name too long, a folder that cannot be written
    check_output_file(args.csv, "--csv")
    try:
        with stop_on_termination():  # the partial CSV is removed on SIGTERM/SIGHUP too
            n = export_csv(args.file, args.csv, overwrite=args.force)
    except Terminated as stop:
        print(f"nmt-monitor: export stopped by {stop.name}; {args.csv} was not written", file=sys.stderr)
        return stop.exit_code
    except FileExistsError:
        if args.force:
            raise UserError(f"{args.csv} is an HDF5 file (a recording?): an export never overwrites it") from None
        raise UserError(f"{args.csv} exists (use --force to overwrite)") from None
    except OSError as exc:
        raise UserError(f"cannot write {args.csv}: {exc.strerror or exc}") from None
    print(f"nmt-monitor: wrote {n} samples to {args.csv}", file=sys.stderr)
    return 0
