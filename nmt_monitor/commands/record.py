"""``nmt-monitor record``: record a session headless, to HDF5 (crash-safe via a journal)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from nmt_monitor.commands.stream import add_connection_arguments, make_reader
from nmt_monitor.errors import UserError
from nmt_monitor.lsl import add_lsl_argument, tap_reader
from nmt_monitor.units import UnitError, parse_force_n, parse_force_range_n

HELP = "record a session to an HDF5 file, without the screen"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "record", help=HELP,
        description=HELP + ". Stops at --seconds, on Ctrl-C, SIGTERM or SIGHUP (a closed terminal or ssh session), "
        "and always finishes the file with every sample read. "
        "While recording, <name>.journal next to the file holds the data; after a crash, "
        "'nmt-monitor recover' turns it into the .h5 file.",
    )
    add_connection_arguments(parser)
    add_session_arguments(parser)
    parser.add_argument("--seconds", type=float, metavar="S", help="stop after S seconds (default: until Ctrl-C)")
    parser.add_argument("--out", type=Path, default=Path("recordings"), metavar="FILE.h5|DIR",
                        help="the session file, or a directory for an automatically named one (default: the config file's out, else "
                        "recordings/); "
                        "an existing file is never overwritten")
    parser.add_argument("--no-analysis", action="store_true",
                        help="do not run the hold engine when finishing (holds tables left empty)")
    add_lsl_argument(parser)
    parser.set_defaults(run=run)


def add_session_arguments(parser) -> None:
    """Session metadata options (shared with the live monitor)."""
    parser.add_argument("--tolerance", metavar="F", help="client's tolerance, a force: 60N, 6kgf, 13.5lbf")
    parser.add_argument("--target", metavar="LO..HI", help="target band, e.g. 30N..45N")
    parser.add_argument("--hold-time", type=float, metavar="S", help="target hold time in seconds")
    parser.add_argument("--client", default="", metavar="NAME", help="client name or code")
    parser.add_argument("--therapist", default="", metavar="NAME", help="therapist or student")
    parser.add_argument("--tip", default="", metavar="NAME", help="contact tip: thumb, knuckle, elbow, algometer tip ...")
    parser.add_argument("--tip-area-cm2", type=float, metavar="A", help="contact area of the tip in cm^2")
    parser.add_argument("--site", default="", metavar="LABEL", help="treatment site, e.g. 'upper trapezius L'")
    parser.add_argument("--notes", default="", metavar="TEXT", help="free notes stored with the session")


def session_metadata(args):
    from nmt_monitor.storage import SessionMetadata

    try:
        tolerance = parse_force_n(args.tolerance) if args.tolerance else None
        band = parse_force_range_n(args.target) if args.target else None
    except UnitError as exc:
        raise UserError(str(exc)) from None
    if tolerance is not None and tolerance <= 0:
        raise UserError("--tolerance must be a positive force")
    if args.hold_time is not None and not args.hold_time > 0:
        raise UserError("--hold-time must be positive")
    if args.tip_area_cm2 is not None and not args.tip_area_cm2 > 0:
        raise UserError("--tip-area-cm2 must be positive")
    return SessionMetadata(
        therapist=args.therapist, client=args.client, tolerance_N=tolerance, target_band_N=band,
        target_hold_s=args.hold_time, contact_tip=args.tip, tip_area_cm2=args.tip_area_cm2,
        site=args.site, notes=args.notes,
    )


def _warn(message: str) -> None:
    _say(f"nmt-monitor: warning: {message}")


def _say(text: str, file=None) -> None:
    """Print, but never fail: after SIGHUP the terminal is gone and writes raise EIO, and the
    file must still be finished."""
    try:
        print(text, file=file or sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


class _LinkWarnings:
    """A station sink that prints the link's warnings (and a fatal error) as they come."""

    def feed(self, items, events, time_origin) -> None:  # noqa: ARG002
        from nmt_monitor.acquisition import LinkEvent

        for item in items:
            if isinstance(item, LinkEvent) and item.kind in ("warning", "fatal"):
                _warn(str(item.detail.get("message")))


def run(args) -> int:
    from nmt_monitor.commands.signals import StopSignals
    from nmt_monitor.station import ReaderSource, Station
    from nmt_monitor.storage import Recorder

    if args.seconds is not None and not args.seconds > 0:
        raise UserError("--seconds must be positive")
    metadata = session_metadata(args)
    reader = tap_reader(make_reader(args), args)  # --lsl: the blocks also go to LSL
    # The directory is checked (writable, space for the session) before anything starts.
    recorder = Recorder(args.out, metadata, expected_seconds=args.seconds or 3600.0,
                        rate_hz=args.rate or 1000, on_warning=_warn)
    with StopSignals(second="ignore") as stop:
        try:
            reader.start()
        except BaseException:
            recorder.discard()
            raise
        # From here on Ctrl-C, SIGTERM and SIGHUP (a closed ssh session) only ask the loop to
        # stop: every block read reaches the file, and the file is finished.
        stop.arm()
        # The same pipeline as the live monitor and each station of the class view, headless.
        station = Station(ReaderSource(reader), metadata, sinks=[_LinkWarnings()],
                          finish_options={"analyze": not args.no_analysis})
        station.start_recording(lambda _metadata: recorder)
        started = time.monotonic()

        def done() -> bool:
            if stop.requested or station.model.link_state == "failed":
                return True
            return args.seconds is not None and time.monotonic() - started >= args.seconds

        station.run(should_stop=done, timeout_s=0.1)
        if stop.requested:
            reason = stop.reason
        elif station.model.link_state == "failed":
            reason = "sensor link failed"  # finish what was recorded
        else:
            reason = "duration"
        station.finalize("stopped: " + reason)
        if not station.saved:  # the file could not be written: the recorder's one line says why
            raise UserError(station.errors[-1] if station.errors else f"{recorder.path}: not written")
        for message in station.errors:
            _warn(message)
        path = station.saved[0]
        read = reader.stats().samples
        if read != recorder.samples:  # never expected: say so rather than hide it
            _warn(f"{read} samples were read from the sensor but {recorder.samples} recorded")
    rate = reader.info.rate_hz if reader.info else 0
    _say(f"nmt-monitor: recorded {recorder.samples} samples"
         + (f" ({recorder.samples / rate:.1f} s at {rate:g} Hz)" if rate else "")
         + f" to {path} (stopped: {reason})")
    _say(str(path), file=sys.stdout)
    return 0
