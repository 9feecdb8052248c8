"""``nmt-monitor class``: the class view, every student's station on one screen.

(The module is named after the command; Python code imports it with ``importlib``.)
"""

from __future__ import annotations

import sys
from pathlib import Path

from nmt_monitor.errors import UserError

DEMO_HOLD_S = 15.0  # the demo's target hold time (its simulated therapists hold 15-25 s)
HELP = "the class view: every student's station on one screen, each recording its own session"


def add_parser(subparsers) -> None:
    from nmt_monitor.config import DEFAULT_MAX_AGE_DAYS  # (nmt_monitor.calibration imports NumPy)

    parser = subparsers.add_parser(
        "class", help=HELP,
        description=HELP + ". A tile per station: the student, the force against the target band, the hold timer, "
        "over-tolerance and drift alerts, the last hold's score and the link. Arrow keys select a station, Enter "
        "opens its full monitor, Escape comes back. r records the selected station, R all of them; each "
        "station records its own session file, as 'live' does (into --out/STUDENT/). A station whose sensor "
        "drops says so; the others go on.",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--station", action="append", metavar="PORT=NAME",
                       help="a station: its port or URL and the student's name (repeat for each; split at the last "
                       "'=', so a sim:// URL may hold its own)")
    which.add_argument("--class", dest="class_file", type=Path, metavar="FILE.toml",
                       help="a class file listing the stations (port, student, client, tolerance, target, "
                       "hold_time, tip, program ...) and their [defaults]")
    which.add_argument("--demo", type=int, metavar="N", help="N simulated stations (in-process simulators, each "
                       "with its own scenario and seed)")
    parser.add_argument("--record", action="store_true", help="start recording every station at once")
    parser.add_argument("--out", type=Path, default=Path("recordings"), metavar="DIR",
                        help="where recordings go, one folder per student (default: the config file's out, else "
                        "recordings/)")
    parser.add_argument("--protocol", choices=("auto", "nmt", "gauge"), default="auto",
                        help="sensor protocol of --station ports (default: detect; a class file may set it per station)")
    parser.add_argument("--rate", type=int, default=None, metavar="HZ",
                        help="sample rate asked of our sensors, 50-2000 Hz (the demo's simulators: 1000)")
    parser.add_argument("--tolerance", metavar="F", help="every station's tolerance unless its own is set: 60N, 6kgf")
    parser.add_argument("--target", metavar="LO..HI", help="every station's target band unless its own is set")
    parser.add_argument("--hold-time", type=float, metavar="S", help="every station's target hold time")
    parser.add_argument("--program", metavar="FILE.toml",
                        help="a training program for every station without its own (a file, or a shipped example "
                        "by name: guided-then-blind, fading-feedback, two-sites-transfer)")
    parser.add_argument("--units", choices=("N", "kgf", "lbf", "kPa"), default="N", help="display unit (default N)")
    parser.add_argument("--fps", type=float, default=25.0, help="screen frames per second, 20-30 (default 25)")
    parser.add_argument("--window", type=float, default=20.0, metavar="S",
                        help="seconds of trace in a station's full monitor, 10-30 (default 20)")
    parser.add_argument("--no-bell", action="store_true", help="alerts without the terminal bell")
    parser.add_argument("--calibration-dir", type=Path, metavar="DIR",
                        help="folder of the calibration records <serial>.toml (default: the user data folder's)")
    parser.add_argument("--max-calibration-age", type=int, default=DEFAULT_MAX_AGE_DAYS, metavar="DAYS",
                        help=f"warn when a sensor's calibration is older than this (default {DEFAULT_MAX_AGE_DAYS})")
    parser.set_defaults(run=run)


def station_specs(args):
    """The stations the options ask for, with the command-line defaults applied."""
    from nmt_monitor import classroom as C
    from nmt_monitor.units import UnitError, parse_force_n, parse_force_range_n

    if args.rate is not None and not 50 <= args.rate <= 2000:
        raise UserError(f"--rate {args.rate} is out of range: use 50-2000 Hz")
    if args.demo is not None:
        specs = C.demo_stations(args.demo, rate_hz=args.rate or 1000)
    elif args.class_file is not None:
        specs = C.load_class_file(args.class_file)
    else:
        specs = [C.parse_station_option(s) for s in args.station]
        for spec in specs:
            spec.protocol = args.protocol
        if len(specs) > C.MAX_STATIONS:
            raise UserError(f"--station: {len(specs)} stations; at most {C.MAX_STATIONS}")
        C.check_unique(specs)
    try:
        tolerance = parse_force_n(args.tolerance) if args.tolerance else None
        band = parse_force_range_n(args.target) if args.target else None
    except UnitError as exc:
        raise UserError(str(exc)) from None
    if tolerance is not None and not tolerance > 0:
        raise UserError("--tolerance must be a positive force")
    if args.hold_time is not None and not 1 <= args.hold_time <= 600:
        raise UserError("--hold-time must be 1-600 seconds")
    from nmt_monitor.commands.live import simulator_targets

    for spec in specs:
        if spec.tolerance_n is None:
            spec.tolerance_n = tolerance
        if spec.target_band_n is None:
            spec.target_band_n = band
        if spec.hold_time_s is None:
            spec.hold_time_s = args.hold_time if args.hold_time is not None or args.demo is None else DEMO_HOLD_S
        if spec.program is None and args.program is not None:
            spec.program = args.program
        if spec.port.startswith("sim://") and spec.tolerance_n is None and spec.target_band_n is None:
            tol, sim_band = simulator_targets(spec.port)
            spec.tolerance_n, spec.target_band_n = tol, None if sim_band is None else tuple(sim_band)
    return specs


def build_stations(specs, args, *, recorder_warning=None):
    """A ``Station`` per spec: a sensor that may not answer yet (it is tried again), a recorder
    into ``--out/STUDENT/``, the live score, and its program (checked here: one line if bad)."""
    from nmt_monitor.acquisition import SensorReader
    from nmt_monitor.program import ProgramError, resolve_program
    from nmt_monitor.station import ConnectingReaderSource, LiveScorer, Station, recorder_factory

    programs = {}
    for i, spec in enumerate(specs, start=1):  # every program read and laid out for its station first: one line
        if spec.program is not None:
            if spec.program not in programs:
                programs[spec.program] = resolve_program(spec.program)
            try:
                programs[spec.program].check_for_client(spec.tolerance_n)
            except ProgramError as exc:  # which station: no tolerance, or one below a target
                raise ProgramError(f"station {i} ({spec.student}): {exc}") from None
    scorer = LiveScorer()
    stations = []
    for spec in specs:
        def make_reader(spec=spec):
            return SensorReader(spec.port, protocol=spec.protocol, rate_hz=args.rate,
                                calibration_dir=args.calibration_dir,
                                max_calibration_age_days=args.max_calibration_age, low_latency=True)

        out = Path(args.out) / _folder(spec.student)
        station = Station(ConnectingReaderSource(make_reader), spec.metadata(), name=spec.student,
                          recorder_factory=recorder_factory(out, rate_hz=args.rate or 1000.0,
                                                            on_warning=recorder_warning),
                          scorer=scorer)
        if spec.program is not None:
            station.model.set_program(programs[spec.program])
        stations.append(station)
    return stations


def _folder(student: str) -> str:
    from nmt_monitor.classroom import student_folder

    return student_folder(student)


def run(args) -> int:
    from nmt_monitor.commands.live import check_display_args, require_terminal, run_app

    args.tip_area_cm2 = None
    check_display_args(args)
    if args.units == "kPa":
        raise UserError("--units kPa needs each station's tip area: set tip_area_cm2 in a class file")
    specs = station_specs(args)
    warnings: list[str] = []
    stations = build_stations(specs, args, recorder_warning=warnings.append)
    require_terminal()
    if args.record:
        from nmt_monitor.storage import preflight

        preflight(args.out)
    from nmt_monitor.tui.classview import ClassApp

    app = ClassApp(stations, record=args.record, fps=args.fps, window_s=args.window, unit=args.units,
                   bell=not args.no_bell)
    run_app(app)
    for station in stations:
        for message in station.errors:
            print(f"nmt-monitor: warning: {station.name}: {message}", file=sys.stderr)
    for message in warnings:
        print(f"nmt-monitor: warning: {message}", file=sys.stderr)
    return int(app.return_code or 0)
