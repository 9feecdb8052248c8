"""``nmt-monitor export FILE.h5 (--csv OUT.csv | --nwb OUT.nwb | --bids DIR)``: a session in
another format: CSV (``time_s,force_N``, with ``--events`` a second file of holds and markers),
NWB (pynwb) or a BIDS dataset (the last two need the research extra)."""

from __future__ import annotations

import sys
from pathlib import Path

from nmt_monitor.errors import UserError

HELP = "export a recorded session as CSV, NWB or into a BIDS dataset"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help=HELP,
        description=HELP + ". --csv: the samples as time_s,force_N (the same columns as 'stream --format csv', "
        "readable by 'analyze'; time_s counts from the session's start time). --nwb: a Neurodata Without "
        "Borders file (force, holds, over-tolerance, markers, subject and device). --bids: the force as a BIDS "
        "continuous recording with holds and markers as events. --nwb and --bids need "
        "pip install 'nmt-monitor[research]'.",
    )
    parser.add_argument("file", type=Path, metavar="FILE.h5", help="a session recorded by nmt-monitor")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--csv", type=Path, metavar="OUT.csv", help="CSV file to write ('-' for stdout)")
    what.add_argument("--nwb", type=Path, metavar="OUT.nwb", help="NWB file to write")
    what.add_argument("--bids", type=Path, metavar="DIR", help="BIDS dataset to add the session to (created if needed)")
    parser.add_argument("--events", type=Path, metavar="EVENTS.csv",
                        help="with --csv: also write the holds, over-tolerance episodes, markers and gaps, one row "
                             "each (onset_s, duration_s, kind, metrics, text)")
    parser.add_argument("--subject", metavar="ID", help="--bids, --nwb: the subject label (default: the session's "
                        "client, letters and digits only; give a code when sharing data)")
    parser.add_argument("--age", metavar="ISO8601", help="--nwb: the subject's age, e.g. P42Y, or a range P40Y/P50Y "
                        "(default: not known)")
    parser.add_argument("--sex", choices=("M", "F", "U", "O"), default="U",
                        help="--nwb: the subject's sex (default U: not known)")
    parser.add_argument("--session", metavar="ID", help="--bids: the session label (default: the start time, "
                        "e.g. 20261120T142307)")
    parser.add_argument("--task", metavar="NAME", default="nmt", help="--bids: the task label (default nmt)")
    parser.add_argument("--force", action="store_true", help="overwrite the output if it exists")
    parser.set_defaults(run=run)


def run(args) -> int:
    if args.events is not None and args.csv is None:
        raise UserError("--events goes with --csv (NWB and BIDS files carry the events themselves)")
    if args.bids is None and (args.session or args.task != "nmt"):
        raise UserError("--session and --task go with --bids")
    if args.subject is not None and args.csv is not None:
        raise UserError("--subject goes with --bids or --nwb")
    if args.nwb is None and (args.age or args.sex != "U"):
        raise UserError("--age and --sex go with --nwb")
    if args.age is not None:
        import re

        part = r"P(?=\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?"
        if not re.fullmatch(rf"{part}|{part}/({part})?", args.age):
            raise UserError(f"--age {args.age!r}: an ISO 8601 duration, e.g. P42Y, P6M, or a range P40Y/P50Y")
    if args.nwb is not None:
        return _run_nwb(args)
    if args.bids is not None:
        return _run_bids(args)
    return _run_csv(args)


def _run_csv(args) -> int:
    from nmt_monitor.commands.termination import Terminated, stop_on_termination
    from nmt_monitor.storage import export_csv
    from nmt_monitor.storage.export import write_csv_rows
    from nmt_monitor.storage.paths import check_output_file

    if args.events is not None:
        if args.events.resolve() == args.file.resolve() or (str(args.csv) != "-" and
                                                            args.events.resolve() == args.csv.resolve()):
            raise UserError("--events must be a file of its own")
        check_output_file(args.events, "--events")
    if str(args.csv) == "-":
        try:
            with stop_on_termination():
                write_csv_rows(args.file, sys.stdout)
        except Terminated as stop:
            print(f"nmt-monitor: export stopped by {stop.name}", file=sys.stderr)
            return stop.exit_code
        return _events(args)
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
    return _events(args)


def _events(args) -> int:
    """``--events``: the session's events as CSV (the rows of the BIDS events file)."""
    if args.events is None:
        return 0
    import csv
    import os

    from nmt_monitor.safetext import spreadsheet_cell
    from nmt_monitor.storage import open_session
    from nmt_monitor.storage.bids import session_events
    from nmt_monitor.storage.export import is_hdf5_file
    from nmt_monitor.storage.h5writer import link_no_overwrite, new_partial_file

    if args.events.exists():
        if not args.force:
            raise UserError(f"{args.events} exists (use --force to overwrite)")
        if is_hdf5_file(args.events):
            raise UserError(f"{args.events} is an HDF5 file (a recording?): an export never overwrites it")
    session = open_session(args.file, arrays=False)
    rows = session_events(session)
    columns = ("onset_s", "duration_s", "kind", "mean_N", "cv_pct", "drift_pct", "peak_N", "flags", "text",
               "samples_lost")
    keys = ("onset", "duration", "trial_type") + columns[3:]
    fd, tmp = new_partial_file(args.events)
    try:
        with open(fd, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(columns)
            for r in rows:
                cells = []
                for k in keys:
                    v = r.get(k)
                    if v is None:
                        cells.append("")
                    elif isinstance(v, float):
                        cells.append(f"{v:.6f}".rstrip("0").rstrip(".") if k in ("onset", "duration") else f"{v:.4g}")
                    else:
                        cells.append(spreadsheet_cell(v) if isinstance(v, str) else str(v))
                w.writerow(cells)
        if args.force:
            os.replace(tmp, args.events)
        else:
            link_no_overwrite(tmp, args.events)
    except FileExistsError:
        raise UserError(f"{args.events} exists (use --force to overwrite)") from None
    except OSError as exc:
        raise UserError(f"cannot write {args.events}: {exc.strerror or exc}") from None
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass
    print(f"nmt-monitor: wrote {len(rows)} events to {args.events}", file=sys.stderr)
    return 0


def _run_nwb(args) -> int:
    from nmt_monitor.commands.termination import Terminated, stop_on_termination
    from nmt_monitor.extras import require
    from nmt_monitor.storage.nwb import export_nwb
    from nmt_monitor.storage.paths import check_output_file

    require("pynwb", "export --nwb")  # one line before any work when it is missing
    if args.nwb.resolve() == args.file.resolve():
        raise UserError("--nwb must not be the session file itself")
    check_output_file(args.nwb, "--nwb")
    try:
        with stop_on_termination():
            n = export_nwb(args.file, args.nwb, subject_id=args.subject, age=args.age, sex=args.sex,
                           overwrite=args.force)
    except Terminated as stop:
        print(f"nmt-monitor: export stopped by {stop.name}; {args.nwb} was not written", file=sys.stderr)
        return stop.exit_code
    except FileExistsError as exc:
        if args.force:
            raise UserError(str(exc)) from None
        raise UserError(f"{args.nwb} exists (use --force to overwrite)") from None
    except OSError as exc:
        raise UserError(f"cannot write {args.nwb}: {exc.strerror or exc}") from None
    print(f"nmt-monitor: wrote {n} samples, holds, over-tolerance and markers to {args.nwb}", file=sys.stderr)
    return 0


def _run_bids(args) -> int:
    from nmt_monitor.commands.termination import Terminated, stop_on_termination
    from nmt_monitor.storage.bids import export_bids

    root = args.bids
    if root.exists() and not root.is_dir():
        raise UserError(f"--bids {root}: not a directory")
    try:
        with stop_on_termination():
            done = export_bids(args.file, root, subject=args.subject, session_label=args.session, task=args.task,
                               overwrite=args.force)
    except Terminated as stop:
        print(f"nmt-monitor: export stopped by {stop.name}; nothing was added to {root}", file=sys.stderr)
        return stop.exit_code
    except FileExistsError as exc:
        raise UserError(f"{exc.args[0]} exists (use --force to overwrite, or another --session)") from None
    except OSError as exc:
        raise UserError(f"cannot write into {root}: {exc.strerror or exc}") from None
    print(f"nmt-monitor: wrote sub-{done['subject']} ses-{done['session']} task-{done['task']}: {done['samples']} "
          f"samples on {done['rows']} rows at {done['sampling_frequency']:.6g} Hz, {done['events']} events, "
          f"into {root}", file=sys.stderr)
    return 0
