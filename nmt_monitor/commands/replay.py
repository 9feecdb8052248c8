"""``nmt-monitor replay``: play a recorded session on the live monitor's screen."""

from __future__ import annotations

from pathlib import Path

from nmt_monitor.errors import UserError

HELP = "replay a recorded session on the live monitor's screen (pause, seek, speed)"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "replay", help=HELP,
        description=HELP + ". Keys: space pause, left/right seek 5 s, ',' '.' speed, u units, "
        "m feedback mode, q quit.",
    )
    parser.add_argument("file", type=Path, metavar="FILE.h5", help="a session file written by nmt-monitor")
    parser.add_argument("--speed", type=float, default=1.0, metavar="X", help="play X times real time (default 1)")
    parser.add_argument("--units", choices=("N", "kgf", "lbf", "kPa"), default="N", help="display unit")
    parser.add_argument("--feedback", choices=("full", "faded", "blind"), default="full", help="feedback mode")
    parser.add_argument("--window", type=float, default=20.0, metavar="S", help="seconds of trace, 10-30")
    parser.set_defaults(run=run)


def load(path: Path, speed: float):
    """The replay source and the session's metadata (raises UserError, one line)."""
    if not speed > 0 or speed > 64:
        raise UserError("--speed must be between 0 and 64")
    if path.suffix.lower() != ".h5":
        raise UserError(f"{path}: replay takes .h5 sessions recorded by nmt-monitor"
                        + (f"; a CSV recording is read by 'nmt-monitor analyze {path}'"
                           if path.suffix.lower() == ".csv" else ""))
    if not path.exists():
        raise UserError(f"{path}: no such file")
    from nmt_monitor.storage import SessionMetadata, open_session  # after the checks: a mistake is told at once
    from nmt_monitor.station import ReplaySource

    session = open_session(path, arrays=("time_s", "force_n"))  # opened once: metadata and samples
    if session.n_samples == 0:
        raise UserError(f"{path}: the session has no samples")
    m = session.initial_metadata  # as recording started: the recorded changes are replayed at their time
    band = m.get("target_band_N")
    metadata = SessionMetadata(
        therapist=str(m.get("therapist") or ""), client=str(m.get("client") or ""),
        tolerance_N=m.get("tolerance_N"), target_band_N=None if band is None else (float(band[0]), float(band[1])),
        target_hold_s=m.get("target_hold_s"), contact_tip=str(m.get("contact_tip") or ""),
        tip_area_cm2=m.get("tip_area_cm2"), site=str(m.get("site") or ""),
    )
    return ReplaySource.from_session(session, speed=speed), metadata


def run(args) -> int:
    import sys

    from nmt_monitor.commands.live import check_display_args, require_terminal

    source, metadata = load(args.file, args.speed)
    from nmt_monitor.tui import MonitorApp
    args.fps = 25.0
    args.tip_area_cm2 = metadata.tip_area_cm2
    check_display_args(args)
    require_terminal()
    app = MonitorApp(source, metadata=metadata, window_s=args.window, unit=args.units, feedback=args.feedback)
    import signal

    previous = signal.signal(signal.SIGHUP, lambda signum, frame: app.hangup())
    previous_term = signal.signal(signal.SIGTERM, lambda signum, frame: app.hangup("SIGTERM", 3.0, 143))
    try:
        app.run()
    finally:
        signal.signal(signal.SIGHUP, previous)
        signal.signal(signal.SIGTERM, previous_term)
    for message in app.errors:
        print(f"nmt-monitor: warning: {message}", file=sys.stderr)
    return int(app.return_code or 0)
