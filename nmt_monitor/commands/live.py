"""``nmt-monitor live``: the live monitor (a terminal UI) on a sensor or the built-in simulator."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from nmt_monitor.commands.record import add_session_arguments, session_metadata
from nmt_monitor.commands.stream import add_connection_arguments, make_reader
from nmt_monitor.errors import UserError
from nmt_monitor.lsl import add_lsl_argument

HELP = "the live monitor: force, target band, hold timer, alerts, recording"
#: the example programs that ship with nmt-monitor (nmt_monitor/programs/*.toml; a test keeps this list right)
SHIPPED_PROGRAMS = ("guided-then-blind", "fading-feedback", "two-sites-transfer")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "live", help=HELP,
        description=HELP + ". Keys are shown at the bottom of the screen; '?' lists them. "
        "Recording starts with the r key (or --record) and is finished when you quit "
        "(q, Ctrl-C, or a closed terminal).",
    )
    add_connection_arguments(parser, port_required=False)
    add_session_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("recordings"), metavar="DIR",
                        help="where recordings go (default: the config file's out, else recordings/)")
    parser.add_argument("--record", action="store_true", help="record from the start")
    parser.add_argument("--units", choices=("N", "kgf", "lbf", "kPa"), default="N",
                        help="display unit (kPa needs --tip-area-cm2; default N)")
    parser.add_argument("--feedback", choices=("full", "faded", "blind"), default="full",
                        help="feedback mode: full; faded = force shown only outside the target band; "
                        "blind = force hidden during a hold, the result shown after it (default full)")
    parser.add_argument("--window", type=float, default=20.0, metavar="S",
                        help="seconds of trace on screen, 10-30 (default 20)")
    parser.add_argument("--fps", type=float, default=25.0, help="screen frames per second, 20-30 (default 25)")
    parser.add_argument("--no-bell", action="store_true", help="alerts without the terminal bell")
    parser.add_argument("--program", metavar="FILE.toml",
                        help="guide a training program: blocks of holds with their site, target band (N or %% of "
                        "--tolerance), hold time, rest and feedback mode; the trials are stored in the recording. "
                        "A shipped example by name: " + ", ".join(SHIPPED_PROGRAMS))
    add_lsl_argument(parser)
    parser.set_defaults(run=run)


def simulator_targets(port: str) -> tuple[float | None, list[float] | None]:
    """The scenario's own tolerance and band for a sim:// port (demo defaults), else Nones."""
    if not port.startswith("sim://"):
        return None, None
    from urllib.parse import parse_qs, urlsplit

    name = parse_qs(urlsplit(port).query).get("scenario", ["demo"])[0]
    try:
        from firmware_sim.scenarios import load_scenario

        sc = load_scenario(name)
    except Exception:  # noqa: BLE001 - the reader reports a bad scenario itself
        return None, None
    return sc.tolerance_n, sc.target_band_n


def check_display_args(args) -> None:
    if not 10 <= args.window <= 30:
        raise UserError("--window must be 10-30 seconds")
    if not 20 <= args.fps <= 30:
        raise UserError("--fps must be 20-30")
    if args.units == "kPa" and not args.tip_area_cm2:
        raise UserError("--units kPa needs --tip-area-cm2")


def require_terminal() -> None:
    if not sys.stdout.isatty() or not sys.stdin.isatty():
        raise UserError("the live monitor needs a terminal (use 'nmt-monitor record' or 'stream' without one)")


def run(args) -> int:
    from dataclasses import replace

    check_display_args(args)
    metadata = session_metadata(args)
    lsl = None
    if args.lsl:  # the force, the engine's events and the markers also go to LSL (one line if pylsl is missing)
        from nmt_monitor.lsl import LslPublisher

        lsl = LslPublisher(args.lsl, site=metadata.site)
    if args.port.startswith("sim://") and metadata.tolerance_N is None and metadata.target_band_N is None:
        tol, band = simulator_targets(args.port)
        metadata = replace(metadata, tolerance_N=tol, target_band_N=None if band is None else tuple(band))
    program = None
    if args.program is not None:
        from nmt_monitor.program import resolve_program

        program = resolve_program(args.program)
        program.check_for_client(metadata.tolerance_N)  # no tolerance for a % target, a target above it: one line, now
    require_terminal()
    # after the checks, so that a mistake is told at once
    from nmt_monitor.storage import preflight
    from nmt_monitor.station import LiveScorer, ReaderSource, recorder_factory
    from nmt_monitor.tui import MonitorApp

    if args.record:
        preflight(args.out)
    reader = make_reader(args)
    reader.start()  # a port that cannot be opened is a one-line error, before the screen
    if lsl is not None:
        lsl.open(reader.info)  # the sensor's rate and serial number in the stream's description
    warnings: list[str] = []

    def on_warning(message: str) -> None:  # the recorder's disk problems: on screen now, and at exit
        warnings.append(message)
        app.model.recorder_warning(message)
    app = MonitorApp(
        ReaderSource(reader), metadata=metadata,
        recorder_factory=recorder_factory(args.out, rate_hz=reader.info.rate_hz if reader.info else 1000.0,
                                          on_warning=on_warning),
        record=args.record, recovery_dir=args.out, fps=args.fps, window_s=args.window, unit=args.units,
        feedback=args.feedback, bell=not args.no_bell, program=program, scorer=LiveScorer(),
    )
    app.model.lsl = lsl
    run_app(app)
    for message in app.errors + warnings:
        print(f"nmt-monitor: warning: {message}", file=sys.stderr)
    return int(app.return_code or 0)


def run_app(app) -> None:
    """Run a monitor app (live or class) until it ends, then finish every session it has,
    whatever ended it (a key, an error, a signal), and name the files saved."""
    # A lost terminal (SIGHUP): a plain handler, so it runs even if the UI is stuck writing
    # to the dead terminal; it saves the sessions on a thread and exits.
    previous = signal.signal(signal.SIGHUP, lambda signum, frame: app.hangup())
    previous_term = signal.signal(signal.SIGTERM, lambda signum, frame: app.hangup("SIGTERM", 3.0, 143))
    try:
        app.run()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        app.finalize()
        signal.signal(signal.SIGHUP, previous)
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    for path in app.saved:
        print(f"nmt-monitor: saved {path}", file=sys.stderr)
