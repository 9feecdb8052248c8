"""``python -m firmware_sim``: the simulated handheld sensor on a pty or a TCP socket."""

from __future__ import annotations

import argparse
import json
import signal
import sys

from .gauges import GAUGES, GAUGE_UNITS

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr, exit 2
        sys.stderr.write(f"firmware_sim: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _probability(text: str) -> float:
    v = float(text)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability in [0, 1]")
    return v


def _nonneg(text: str) -> float:
    v = float(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text} must not be negative")
    return v


def _positive(text: str) -> float:
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{text} must be positive")
    return v


class _Formatter(argparse.HelpFormatter):
    """Wraps the description; keeps the indented lines of the epilog (scenarios, examples)."""

    def _fill_text(self, text, width, indent):
        out = []
        for para in text.split("\n\n"):
            lines = para.splitlines()
            if any(line.startswith("  ") for line in lines):
                out.append("\n".join(indent + line for line in lines))
            else:
                out.append(super()._fill_text(para, width, indent))
        return "\n\n".join(out)


def scenario_descriptions() -> list[tuple[str, str]]:
    """(name, description) of the built-in scenarios, read without the simulator's heavy imports."""
    import tomllib
    from pathlib import Path

    out = []
    for path in sorted(Path(__file__).with_name("scenarios").glob("*.toml")):
        try:
            description = str(tomllib.loads(path.read_text(encoding="utf-8")).get("description", ""))
        except (OSError, ValueError):
            description = ""
        out.append((path.stem, description))
    return out


def _epilog() -> str:
    import textwrap

    rows = ["scenarios (--scenario NAME, or a .toml file written like them):"]
    for name, description in scenario_descriptions():
        text = textwrap.wrap(description, 78 - 20) or [""]
        rows.append(f"  {name:<16}  {text[0]}")
        rows += [f"  {'':<16}  {line}" for line in text[1:]]
    rows += ["", "examples:",
             "  python -m firmware_sim --pty                         prints the pty's path, then streams",
             "  python -m firmware_sim --tcp 5555 --scenario drifting --seed 3",
             "  python -m firmware_sim --pty --gauge mark10 --gauge-unit lbf --gauge-continuous --rate 20",
             "",
             "In-process, the same simulator is the pyserial URL sim://?scenario=NAME&rate=HZ&seed=N."]
    return "\n".join(rows)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m firmware_sim", formatter_class=_Formatter, epilog=_epilog(),
                description="Simulated NMT handheld force sensor (or a commercial gauge) on a pty or TCP socket. "
                            "The first line of stdout is the device path (or socket:// URL).")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--pty", action="store_true", help="serve on a pseudo-terminal (default)")
    where.add_argument("--tcp", type=int, metavar="PORT", help="serve on 127.0.0.1:PORT (0: any free port)")
    p.add_argument("--link", metavar="PATH", help="with --pty: keep a symlink PATH pointing at the current pty")
    p.add_argument("--rate", type=_positive, metavar="HZ",
                   help="sample rate, integer 50-2000 (default 1000); for gauges: continuous readings/s")
    p.add_argument("--scenario", default="demo", metavar="NAME|FILE", help="built-in scenario or .toml file")
    p.add_argument("--seed", type=int, default=0, help="random seed (scenario, noise, faults)")
    p.add_argument("--speed", type=_positive, default=1.0, metavar="X", help="run X times faster than real time")
    p.add_argument("--gauge", choices=GAUGES, help="emulate a commercial gauge's ASCII protocol instead")
    p.add_argument("--gauge-unit", default="N", metavar="|".join(GAUGE_UNITS), help="unit the gauge reports in")
    p.add_argument("--gauge-continuous", action="store_true", help="mark10: auto-transmit at --rate")
    p.add_argument("--gauge-unit-token", metavar="TOKEN", help="print TOKEN as the unit (e.g. an unknown one)")
    p.add_argument("--ground-truth", metavar="FILE.json", help="write the scenario's ground truth here")
    p.add_argument("--drop-frames", type=_probability, default=0.0, metavar="P",
                   help="drop each data frame (gauge reading) with probability P")
    p.add_argument("--corrupt", type=_probability, default=0.0, metavar="P",
                   help="corrupt one byte of each data frame (gauge reading) with probability P")
    p.add_argument("--unplug-at", type=_nonneg, metavar="S", help="unplug the device S seconds after start")
    p.add_argument("--unplug-for", type=_nonneg, default=2.0, metavar="S", help="stay unplugged S seconds (2)")
    p.add_argument("--clock-ppm", type=float, default=0.0, metavar="X", help="device clock error in ppm")
    p.add_argument("--loop", action="store_true", help="repeat the scenario instead of resting after it")
    p.add_argument("--duration", type=_positive, metavar="S", help="exit after S seconds (world time)")
    p.add_argument("--serial", default="SIM-0001", help="serial number in the ID reply (mark10: the RS reply)")
    p.add_argument("--replug-serial", metavar="SERIAL",
                   help="after --unplug-at, a different sensor (this serial number) is plugged in")
    p.add_argument("--gauge-noise-lines", type=_probability, default=0.0, metavar="P",
                   help="gauge: after each reading, a line in another format with probability P")
    p.add_argument("--garble-at", type=_nonneg, metavar="S",
                   help="gauge: from S seconds on, reading lines are unreadable junk (for --garble-for)")
    p.add_argument("--garble-for", type=_nonneg, default=1.0, metavar="S", help="how long --garble-at lasts (1)")
    return p


_stop = False


def _on_signal(signum, frame):
    global _stop
    _stop = True


def main(argv: list[str] | None = None) -> int:
    global _stop
    _stop = False
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    args = build_parser().parse_args(argv)
    from .session import Simulation  # heavy imports after argument parsing

    try:
        if args.link and args.tcp is not None:
            raise ValueError("--link goes with --pty")
        if args.gauge is None and args.rate is not None and (args.rate != int(args.rate)
                                                            or not 50 <= args.rate <= 2000):
            raise ValueError(f"--rate must be an integer 50-2000, got {args.rate:g}")
        sim = Simulation(args.scenario, rate_hz=args.rate, seed=args.seed, gauge=args.gauge,
                         gauge_unit=args.gauge_unit, gauge_continuous=args.gauge_continuous,
                         gauge_unit_token=args.gauge_unit_token, drop_frames=args.drop_frames,
                         corrupt=args.corrupt, unplug_at=args.unplug_at, unplug_for=args.unplug_for,
                         clock_ppm=args.clock_ppm, loop=args.loop, serial=args.serial,
                         replug_serial=args.replug_serial, noise_lines=args.gauge_noise_lines,
                         garble_at=args.garble_at, garble_for=args.garble_for)
        if args.ground_truth:
            with open(args.ground_truth, "w", encoding="utf-8") as fh:
                json.dump(sim.ground_truth, fh, indent=1)
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"firmware_sim: error: {exc}\n")
        return EXIT_USAGE

    if _stop:
        return 0
    from .transports import serve_pty, serve_tcp
    try:
        if args.tcp is not None:
            return serve_tcp(sim, port=args.tcp, speed=args.speed, out=sys.stdout, stop=lambda: _stop,
                             duration_s=args.duration)
        return serve_pty(sim, speed=args.speed, link=args.link, out=sys.stdout, stop=lambda: _stop,
                         duration_s=args.duration)
    except KeyboardInterrupt:
        return 0
    except OSError as exc:  # e.g. the TCP port is taken
        sys.stderr.write(f"firmware_sim: error: {exc}\n")
        return EXIT_USAGE
