"""The ``nmt-monitor`` command: one subcommand per module in ``nmt_monitor.commands``.

Start-up is kept short: only the chosen subcommand's module is imported (``nmt-monitor --help``
imports none), and those modules import NumPy, the sensor link or the TUI only when they run.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence

from nmt_monitor import __version__
from nmt_monitor.errors import EXIT_USAGE, UserError

#: Subcommands, in the order ``--help`` lists them, with the one-line summary each module's
#: ``HELP`` also holds (kept equal by a test, so ``--help`` need not import the modules).
COMMANDS: dict[str, str] = {
    "live": "the live monitor: force, target band, hold timer, alerts, recording",
    "replay": "replay a recorded session on the live monitor's screen (pause, seek, speed)",
    "class": "the class view: every student's station on one screen, each recording its own session",
    "stream": "print calibrated samples from a sensor (CSV or JSON lines)",
    "record": "record a session to an HDF5 file, without the screen",
    "analyze": "find holds, drift and over-tolerance in recordings (.h5 sessions, .csv)",
    "calibrate": "calibrate a sensor with known loads and write its calibration record",
    "recover": "rebuild sessions that did not finish (crash, kill, power cut) from their journals",
    "export": "export a recorded session as CSV, NWB or into a BIDS dataset",
    "grade": "score holds per hold, session and student against a rubric; HTML report and gradebook",
    "config": "print the settings in force and where each came from (the user config file)",
    "ports": "list serial ports (and how to reach the built-in simulator)",
    "completion": "print a shell completion script (bash or zsh)",
}

#: What ``nmt-monitor`` with no arguments runs (the live monitor on the built-in simulator,
#: unless the config file names a port).
DEFAULT_ARGV: tuple[str, ...] = ("live", "--port", "sim://")

#: Examples shown at the end of each ``COMMAND --help`` (indented lines are kept as written).
EXAMPLES: dict[str, str] = {
    "": """\
Options before any command go to 'live': 'nmt-monitor --tolerance 60N --record' is
'nmt-monitor live --tolerance 60N --record'.

examples:
  nmt-monitor                                   the live monitor on the built-in simulator
  nmt-monitor --port /dev/ttyUSB0 --tolerance 60N --target 30N..45N --record
  nmt-monitor stream --port sim:// --seconds 2 > rest.csv
  nmt-monitor analyze rest.csv recordings/ --json
  nmt-monitor COMMAND --help                    every option of a command
  nmt-monitor config                            the settings in force, and the config file""",
    "live": """\
examples:
  nmt-monitor live                              the built-in simulator's demo session
  nmt-monitor live --port /dev/ttyUSB0 --tolerance 60N --target 30N..45N --hold-time 30
  nmt-monitor live --port 'sim://?scenario=drifting' --record --out sessions/
  nmt-monitor live --port COM3 --protocol gauge --gauge-unit lbf --units lbf
  nmt-monitor live --client "client 01" --tip thumb --tip-area-cm2 1.5 --units kPa""",
    "class": """\
examples:
  nmt-monitor class --demo 6                    six simulated stations
  nmt-monitor class --station /dev/ttyUSB0=Ana --station /dev/ttyUSB1=Ben --tolerance 60N --record
  nmt-monitor class --class monday.toml --out recordings/monday/""",
    "replay": """\
examples:
  nmt-monitor replay recordings/session.h5
  nmt-monitor replay recordings/session.h5 --speed 4 --units kgf""",
    "stream": """\
examples:
  nmt-monitor stream --port sim:// --seconds 5 > force.csv
  nmt-monitor stream --port /dev/ttyUSB0 --format jsonl --stats
  nmt-monitor stream --port socket://127.0.0.1:5555 --protocol gauge --gauge-unit kgf""",
    "record": """\
examples:
  nmt-monitor record --port sim:// --seconds 60 --out session.h5
  nmt-monitor record --port /dev/ttyUSB0 --seconds 600 --tolerance 60N --therapist "student A" --out recordings/""",
    "analyze": """\
examples:
  nmt-monitor analyze force.csv --tolerance 60N
  nmt-monitor analyze session.h5 --json
  nmt-monitor analyze recordings/ --csv --provenance provenance.json > holds.csv
  nmt-monitor analyze recordings/ --parquet holds.parquet
  nmt-monitor analyze /shared/study/ --parquet holds.parquet --scheduler tcp://10.0.0.5:8786""",
    "calibrate": """\
examples:
  nmt-monitor calibrate --port /dev/ttyUSB0                     asks for each load
  nmt-monitor calibrate --port /dev/ttyUSB0 --loads 0,5kg,10kg,20kg --repeats 3
  nmt-monitor calibrate --port 'sim://?scenario=calibration&speed=20' --yes""",
    "recover": """\
examples:
  nmt-monitor recover
  nmt-monitor recover sessions/""",
    "export": """\
examples:
  nmt-monitor export session.h5 --csv session.csv
  nmt-monitor export session.h5 --csv - | head
  nmt-monitor export session.h5 --csv force.csv --events events.csv
  nmt-monitor export session.h5 --nwb session.nwb --subject C07 --age P42Y
  nmt-monitor export session.h5 --bids study/ --subject 07 --session pre --task nmt""",
    "grade": """\
examples:
  nmt-monitor grade recordings/
  nmt-monitor grade recordings/ --rubric rubric.toml --report report/
  nmt-monitor grade --show-rubric > rubric.toml""",
    "config": """\
examples:
  nmt-monitor config                            the settings in force
  nmt-monitor config > config.toml              a starting point for your own file
  nmt-monitor --config lab.toml live            use another config file""",
    "ports": """\
examples:
  nmt-monitor ports""",
    "completion": """\
examples:
  nmt-monitor completion bash > ~/.local/share/bash-completion/completions/nmt-monitor
  nmt-monitor completion zsh > ~/.zfunc/_nmt-monitor     (with fpath+=~/.zfunc in ~/.zshrc)""",
}

_VERBOSE_RE = re.compile(r"^-v+$")
_GLOBAL_WITH_VALUE = ("--log-file", "--config")


class HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions, keeps indented lines (examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out = []
        for para in text.split("\n\n"):
            lines = para.splitlines()
            if any(line.startswith("  ") for line in lines):
                out.append("\n".join(indent + line for line in lines))
            else:
                out.append(super()._fill_text(para, width, indent))
        return "\n\n".join(out)


class Parser(argparse.ArgumentParser):
    """A usage error prints a short usage of the command it is about, then one error line."""

    def error(self, message: str):  # type: ignore[override]
        positionals = []
        for action in self._actions:  # noqa: SLF001 - argparse has no public list of them
            if action.option_strings or action.help == argparse.SUPPRESS:
                continue
            name = action.metavar or action.dest
            positionals.append(f"[{name} ...]" if action.nargs in ("*", "?") else
                               f"{name} ..." if action.nargs in ("+", argparse.PARSER) else name)
        usage = " ".join([f"usage: {self.prog} [options]"] + positionals)
        self.exit(EXIT_USAGE, f"{usage}   ('{self.prog} --help' lists the options)\n{self.prog}: error: {message}\n")


def _add_global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """``-v``, ``--log-file``, ``--config``: before the command or after it."""
    default = (lambda value: argparse.SUPPRESS) if suppress else (lambda value: value)
    group = parser.add_argument_group("general options")
    group.add_argument("-v", "--verbose", action="count", default=default(0),
                       help="log link diagnostics (sent, received, re-armed, reconnected) on stderr; "
                       "-vv for every detail (under the live screen use --log-file)")
    group.add_argument("--log-file", metavar="FILE", default=default(None),
                       help="append every diagnostic, with timestamps, to FILE (send it with a bug report)")
    group.add_argument("--config", metavar="FILE", default=default(None),
                       help="settings file to use instead of the user config file ('nmt-monitor config' "
                       "shows which is in force)")


def _first_command_index(argv: Sequence[str]) -> int:
    """Index of the first token that is not a general option (or its value)."""
    i = 0
    while i < len(argv):
        tok = argv[i]
        if _VERBOSE_RE.match(tok) or tok == "--verbose" or any(tok.startswith(o + "=") for o in _GLOBAL_WITH_VALUE):
            i += 1
        elif tok in _GLOBAL_WITH_VALUE:
            i += 2
        else:
            break
    return i


def route(argv: Sequence[str]) -> list[str]:
    """Options without a command go to ``live``; no command at all is ``live``."""
    argv = list(argv)
    i = _first_command_index(argv)
    if i >= len(argv):
        return argv + ["live"]
    tok = argv[i]
    if tok in COMMANDS or tok in ("-h", "--help", "--version"):
        return argv
    if tok.startswith("-"):
        return argv[:i] + ["live"] + argv[i:]
    return argv  # an unknown word: argparse names the valid commands


def _command_of(argv: Sequence[str]) -> str | None:
    i = _first_command_index(argv)
    return argv[i] if i < len(argv) and argv[i] in COMMANDS else None


def _explicit_config(argv: Sequence[str]) -> str | None:
    found = None
    for i, tok in enumerate(argv):
        if tok == "--":
            break
        if tok == "--config" and i + 1 < len(argv):
            found = argv[i + 1]
        elif tok.startswith("--config="):
            found = tok.split("=", 1)[1]
    return found


def build_parser(command: str | None = None, full: bool = True) -> argparse.ArgumentParser:
    """The parser; with ``full=False`` only ``command``'s module is imported and built (the
    others are listed by name and summary only)."""
    parser = Parser(
        prog="nmt-monitor",
        description=(
            "Pressure monitor for neuromuscular therapy. With no command, runs "
            f"'nmt-monitor {' '.join(DEFAULT_ARGV)}' (or the port in your config file)."
        ),
        epilog=EXAMPLES[""],
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"nmt-monitor {__version__}")
    _add_global_options(parser, suppress=False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, summary in COMMANDS.items():
        if not full and name != command:
            subparsers.add_parser(name, help=summary, add_help=False)
            continue
        module_name = f"nmt_monitor.commands.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a command not built into this installation
        module.add_parser(subparsers)
        sub = subparsers.choices[name]
        sub.formatter_class = HelpFormatter
        sub.epilog = "\n\n".join(e for e in (sub.epilog, EXAMPLES.get(name)) if e)  # keep the module's own
        _add_global_options(sub, suppress=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = route(sys.argv[1:] if argv is None else argv)
    command = _command_of(args_list)
    parser = build_parser(command, full=False)
    try:
        settings = _load_settings(args_list, command)
    except UserError as exc:
        print(f"nmt-monitor: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if settings is not None and command is not None:
        subparser_of(parser, command).set_defaults(**settings.defaults_for(command))
    args, extras = parser.parse_known_args(args_list)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if extras:  # a mistake after a command: that command's usage, not the top-level one
        subparser_of(parser, args.command).error(f"unrecognized arguments: {' '.join(extras)}")
    args.settings = settings
    args.build_parser = build_parser
    try:
        from nmt_monitor.logs import configure_logging

        configure_logging(args.verbose, args.log_file, argv=args_list)
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


def subparser_of(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:  # noqa: SLF001 - argparse has no public way to reach them
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            return action.choices[name]
    raise KeyError(name)


def _load_settings(argv: Sequence[str], command: str | None):
    """The user's config file, for commands it has settings for. A broken file is a one-line
    error, except that ``--help`` still works."""
    from nmt_monitor.config import SETTINGS, load_config

    uses_config = command == "config" or any(command in s.commands for s in SETTINGS)
    if not uses_config:
        return None
    try:
        return load_config(_explicit_config(argv))
    except UserError:
        if "-h" in argv or "--help" in argv:
            return None
        raise


if __name__ == "__main__":
    raise SystemExit(main())
