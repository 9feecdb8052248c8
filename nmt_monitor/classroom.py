"""A class's stations: from ``--station PORT=NAME`` options, a class file (TOML) or ``--demo N``.

A class file lists the stations; ``[defaults]`` applies to every station that does not set
its own value (docs/live-monitor.md, "The class view", documents every field)::

    [defaults]
    tolerance = "60N"
    target = "30N..45N"
    hold_time = 20
    program = "guided-then-blind.toml"   # a training program (relative to this file; or a shipped name)

    [[station]]
    port = "/dev/ttyUSB0"
    student = "Ana"
    client = "partner B"

Every problem is one line naming the file and the field (``ClassFileError``, a ``UserError``).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from nmt_monitor.errors import UserError
from nmt_monitor.program import ProgramError, read_user_file, resolve_program, text_problem
from nmt_monitor.units import UnitError, parse_force_n, parse_force_range_n

#: Fields of a station (and of ``[defaults]``, bar port and student).
STATION_FIELDS = ("port", "student", "protocol", "client", "tolerance", "target", "hold_time", "tip",
                  "tip_area_cm2", "site", "program")
PROTOCOLS = ("auto", "nmt", "gauge")
#: The simulator's scenarios the demo cycles through (each station a different seed).
DEMO_SCENARIOS = ("demo", "drifting", "steady", "alternating", "over_tolerance", "mixed", "pokes", "gliding")
MAX_STATIONS = 32
#: Longest text of a station (a port, a student's name ...): a tile's border, a folder's name.
MAX_NAME_CHARS = 200


class ClassFileError(UserError):
    """A class file or a --station option that cannot be used; one line."""


@dataclass
class StationSpec:
    """One station of a class, as configured (the command turns it into a ``Station``)."""

    port: str
    student: str
    protocol: str = "auto"
    client: str = ""
    tolerance_n: float | None = None
    target_band_n: tuple[float, float] | None = None
    hold_time_s: float | None = None
    tip: str = ""
    tip_area_cm2: float | None = None
    site: str = ""
    program: Path | str | None = None  # a program file, or a shipped example's name
    extra: dict = field(default_factory=dict)

    def metadata(self):
        from nmt_monitor.storage import SessionMetadata

        return SessionMetadata(therapist=self.student, client=self.client, tolerance_N=self.tolerance_n,
                               target_band_N=self.target_band_n, target_hold_s=self.hold_time_s,
                               contact_tip=self.tip, tip_area_cm2=self.tip_area_cm2, site=self.site)


def parse_station_option(text: str) -> StationSpec:
    """``PORT=NAME`` (split at the last ``=``: a sim:// URL has ``=`` of its own)."""
    port, sep, name = text.rpartition("=")
    if not sep or not port.strip() or not name.strip():
        raise ClassFileError(f"--station {text!r}: give PORT=NAME, e.g. /dev/ttyUSB0=Ana "
                             "or 'sim://?scenario=steady&seed=2=Ben'")
    problem = text_problem(text, 2 * MAX_NAME_CHARS)
    if problem:
        raise ClassFileError(f"--station {text!r}: {problem}")
    return StationSpec(port=port.strip(), student=name.strip())


def demo_stations(n: int, rate_hz: int = 1000) -> list[StationSpec]:
    """``n`` in-process simulators, each with its own scenario and seed."""
    if not 1 <= n <= MAX_STATIONS:
        raise ClassFileError(f"--demo {n}: give 1 to {MAX_STATIONS} stations")
    out = []
    for i in range(n):
        scenario = DEMO_SCENARIOS[i % len(DEMO_SCENARIOS)]
        out.append(StationSpec(port=f"sim://?scenario={scenario}&rate={rate_hz}&seed={i + 1}&loop=1",
                               student=f"Student {i + 1}", client=f"partner {i + 1}"))
    return out


class _Fields:
    """Checks one table of the class file; errors name ``file: where.field``."""

    def __init__(self, source: str, where: str, table) -> None:
        self.source, self.where = source, where
        if not isinstance(table, dict):
            raise self.fail("", "should be a table")
        self.table = table

    def fail(self, key: str, message: str) -> ClassFileError:
        name = f"{self.where}.{key}" if key else self.where
        return ClassFileError(f"{self.source}: {name}: {message}")

    def text(self, key: str, default=None):
        v = self.table.get(key, default)
        if v is not None and not isinstance(v, str):
            raise self.fail(key, f"should be text, not {v!r}")
        problem = text_problem(v, MAX_NAME_CHARS) if v is not None else ""
        if problem:  # a control character would reach the terminal (the tile) and the file names
            raise self.fail(key, problem)
        return v

    def force(self, key: str, default=None):
        v = self.table.get(key)
        if v is None:
            return default
        try:
            f = parse_force_n(str(v)) if not isinstance(v, bool) else None
        except UnitError as exc:
            raise self.fail(key, str(exc)) from None
        if f is None or not (math.isfinite(f) and f > 0):
            raise self.fail(key, f"should be a positive force such as \"60N\", not {v!r}")
        return f

    def band(self, key: str, default=None):
        v = self.table.get(key)
        if v is None:
            return default
        try:
            if isinstance(v, list) and len(v) == 2:
                lo, hi = (parse_force_n(str(x)) for x in v)
            elif isinstance(v, str):
                lo, hi = parse_force_range_n(v)
            else:
                raise UnitError(f"should be \"LO..HI\" such as \"30N..45N\", not {v!r}")
        except UnitError as exc:
            raise self.fail(key, str(exc)) from None
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi):
            raise self.fail(key, f"should be LOW..HIGH with 0 <= LOW < HIGH, not {v!r}")
        return (float(lo), float(hi))

    def number(self, key: str, low: float, high: float, unit: str, default=None):
        v = self.table.get(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not low <= v <= high:
            raise self.fail(key, f"should be a number {low:g}-{high:g} {unit}, not {v!r}")
        return float(v)


def _spec(source: str, base: Path, where: str, table: dict, defaults: dict, *, is_defaults: bool = False) -> dict:
    f = _Fields(source, where, table)
    allowed = STATION_FIELDS[2:] if is_defaults else STATION_FIELDS
    for key in table:
        if key not in allowed:
            raise f.fail(key, f"unknown field (fields: {', '.join(allowed)})")
    out = dict(defaults)
    for key, value in (("protocol", f.text("protocol")), ("client", f.text("client")), ("tip", f.text("tip")),
                       ("site", f.text("site")), ("tolerance_n", f.force("tolerance")),
                       ("target_band_n", f.band("target")),
                       ("hold_time_s", f.number("hold_time", 1.0, 600.0, "s")),
                       ("tip_area_cm2", f.number("tip_area_cm2", 0.01, 100.0, "cm²"))):
        if value is not None:
            out[key] = value
    if out.get("protocol", "auto") not in PROTOCOLS:
        raise f.fail("protocol", f"use one of {', '.join(PROTOCOLS)}, not {out['protocol']!r}")
    program = f.text("program")
    if program is not None:  # a file (relative to the class file) or a shipped example's name
        if not program.strip():
            raise f.fail("program", "is empty (give a program file, relative to this file, or a shipped name)")
        path = Path(program)
        out["program"] = path if path.is_absolute() or (not (base / path).exists() and path.suffix == "") \
            else base / path
        try:  # read now: a missing or bad program names this field
            resolve_program(out["program"])
        except ProgramError as exc:
            raise f.fail("program", str(exc)) from None
    if not is_defaults:
        for key in ("port", "student"):
            value = f.text(key)
            if value is None or not value.strip():
                raise f.fail(key, "is missing" if value is None else "is empty")
            out[key] = value.strip()
    return out


def load_class_file(path: Path | str) -> list[StationSpec]:
    """The stations a class file lists (``ClassFileError`` for any problem)."""
    path = Path(path)
    source = str(path)
    text = read_user_file(path, ClassFileError, "class")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ClassFileError(f"{source}: not valid TOML ({exc})") from None
    for key in data:
        if key not in ("defaults", "station"):
            raise ClassFileError(f"{source}: {key}: unknown table (a class file has [defaults] and [[station]])")
    base = path.parent
    defaults = _spec(source, base, "defaults", data.get("defaults", {}), {}, is_defaults=True)
    stations = data.get("station")
    if not isinstance(stations, list) or not stations:
        raise ClassFileError(f"{source}: no stations: add a [[station]] table with port and student for each")
    if len(stations) > MAX_STATIONS:
        raise ClassFileError(f"{source}: {len(stations)} stations; at most {MAX_STATIONS}")
    out = [StationSpec(**_spec(source, base, f"station[{i + 1}]", table, defaults)) for i, table in enumerate(stations)]
    check_unique(out, source)
    return out


def check_unique(specs: list[StationSpec], source: str = "--station") -> None:
    ports, names, folders = {}, {}, {}
    for i, s in enumerate(specs, start=1):
        if s.port in ports:
            raise ClassFileError(f"{source}: station {i} uses the port of station {ports[s.port]} ({s.port})")
        if s.student in names:
            raise ClassFileError(f"{source}: station {i} has the name of station {names[s.student]} ({s.student!r})")
        # recordings go to --out/<folder of the name>/: 'Ana Ben' and 'Ana/Ben' (or, on macOS and
        # Windows, 'Ana' and 'ana') would share one student's folder
        folder = student_folder(s.student)
        if folder.casefold() in folders:
            j = folders[folder.casefold()]
            raise ClassFileError(f"{source}: station {i} ({s.student!r}) would record into the folder of station {j} "
                                 f"({specs[j - 1].student!r}), {folder}/: give the students names that differ in "
                                 "more than case or punctuation")
        ports[s.port], names[s.student], folders[folder.casefold()] = i, i, i


def student_folder(student: str) -> str:
    """The folder of a student's recordings (under ``--out``)."""
    from nmt_monitor.grading.names import readable_stem

    return readable_stem(student) or "student"
