"""User settings: defaults for the commands, from a TOML file in the platform's config folder.

The file (``nmt-monitor config`` prints where it is) holds ``key = value`` lines, e.g.::

    port = "/dev/ttyUSB0"
    tolerance = "60N"
    target = "30N..45N"
    hold_time = 30
    therapist = "student A"

The command line overrides the file; ``--config FILE`` or ``$NMT_MONITOR_CONFIG`` point at
another file. A key or value the monitor does not know is a one-line error naming the file, the
key and what is allowed. User calibration records live in the platform's data folder (or
``calibration_dir``); nothing is ever written into the installed package.

This module is imported by every command at start-up: keep it light (no NumPy).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nmt_monitor.errors import UserError

APP_NAME = "nmt-monitor"
#: An environment variable naming the config file (tests point it at a temporary one).
CONFIG_ENV = "NMT_MONITOR_CONFIG"
#: An environment variable naming the folder of calibration records.
CALIBRATION_ENV = "NMT_CALIBRATION_DIR"
#: Records older than this draw a warning (a load cell's sensitivity drifts over months).
DEFAULT_MAX_AGE_DAYS = 365

# Which commands each group of settings applies to.
CONNECTION = ("live", "stream", "record", "calibrate")
SESSION = ("live", "record")
DISPLAY = ("live", "replay")


class ConfigError(UserError):
    """A config file that cannot be used: one line naming the file, the key and what is allowed."""


def user_config_path() -> Path:
    """The config file in the platform's config folder (it need not exist)."""
    import platformdirs

    return platformdirs.user_config_path(APP_NAME, appauthor=False) / "config.toml"


def user_data_path() -> Path:
    import platformdirs

    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def user_calibration_dir() -> Path:
    """Where users' calibration records live: ``$NMT_CALIBRATION_DIR``, else the data folder's
    ``calibration/``. The shipped records (the simulator's) are read from the package as well."""
    env = os.environ.get(CALIBRATION_ENV)
    return Path(env).expanduser() if env else user_data_path() / "calibration"


# ---- checks: each returns the value as the command line would give it, or raises ValueError
# ---- with what is allowed -------------------------------------------------------------------

def _text(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string in quotes")
    return value


def _free_text(value) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string in quotes")
    return value


def _one_of(*allowed: str) -> Callable[[object], str]:
    def check(value) -> str:
        if value not in allowed:
            raise ValueError("must be one of " + ", ".join(f'"{a}"' for a in allowed))
        return value
    return check


def _positive(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ValueError("must be a positive number")
    return float(value)


def _days(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("must be a whole number of days, at least 1")
    return value


def _force(value) -> str:
    from nmt_monitor.units import UnitError, parse_force_n

    text = f"{value:g}N" if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    if not isinstance(text, str):
        raise ValueError('must be a force such as "60N", "6kgf" or "13.5lbf"')
    try:
        newtons = parse_force_n(text)
    except UnitError as exc:
        raise ValueError(f'{exc} (e.g. "60N", "6kgf", "13.5lbf")') from None
    if not newtons > 0:
        raise ValueError("must be a positive force")
    return text


def _band(value) -> str:
    from nmt_monitor.units import UnitError, parse_force_range_n

    if isinstance(value, list) and len(value) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        value = f"{value[0]:g}N..{value[1]:g}N"
    if not isinstance(value, str):
        raise ValueError('must be a band "LOW..HIGH" such as "30N..45N", or [30, 45] in N')
    try:
        parse_force_range_n(value)
    except UnitError as exc:
        raise ValueError(str(exc)) from None
    return value


def _path(value) -> Path:
    return Path(_text(value)).expanduser()


GAUGE_UNITS = ("N", "kgf", "gf", "lbf", "ozf")


@dataclass(frozen=True)
class Setting:
    key: str
    what: str
    check: Callable[[object], object]
    commands: tuple[str, ...]
    dest: str
    #: the value when neither the file nor the command line sets one (None: not set)
    default: Callable[[], object] | object = None
    #: commands whose option for this setting has another name (command -> dest)
    dest_for: tuple[tuple[str, str], ...] = ()

    def dest_of(self, command: str) -> str:
        return dict(self.dest_for).get(command, self.dest)

    def default_value(self):
        return self.default() if callable(self.default) else self.default


SETTINGS: tuple[Setting, ...] = (
    Setting("port", "sensor port or URL; when not set, live runs on sim:// (the built-in simulator) "
            "and the other commands need --port", _text, CONNECTION, "port"),
    Setting("protocol", "sensor protocol: auto, nmt (our sensor) or gauge (a commercial gauge's ASCII lines)",
            _one_of("auto", "nmt", "gauge"), CONNECTION + ("class",), "protocol", "auto"),
    Setting("gauge_unit", "unit of a DIY gauge's bare numbers", _one_of(*GAUGE_UNITS), CONNECTION,
            "gauge_unit", "N"),
    Setting("gauge_capacity", "a gauge's full scale, a force (lines beyond it are line noise)", _force, CONNECTION,
            "gauge_capacity"),
    Setting("calibration_dir", "folder of the sensors' calibration records <serial>.toml", _path,
            CONNECTION + ("class",), "calibration_dir", user_calibration_dir),
    Setting("max_calibration_age", "warn when a calibration record is older than this many days", _days,
            CONNECTION + ("class",), "max_calibration_age", DEFAULT_MAX_AGE_DAYS),
    Setting("tolerance", "the client's tolerance, a force", _force, SESSION, "tolerance"),
    Setting("target", "target band LOW..HIGH", _band, SESSION, "target"),
    Setting("hold_time", "target hold time in seconds", _positive, SESSION, "hold_time"),
    Setting("tip", "contact tip: thumb, knuckle, elbow, algometer tip ...", _free_text, SESSION, "tip", ""),
    Setting("tip_area_cm2", "contact area of the tip in cm^2 (needed for kPa)", _positive, SESSION,
            "tip_area_cm2"),
    Setting("therapist", "therapist or student", _free_text, SESSION, "therapist", ""),
    Setting("out", "folder where recordings go (and where recover looks)", _path, SESSION + ("recover", "class"), "out",
            lambda: Path("recordings"), dest_for=(("recover", "dir"),)),
    Setting("units", "display unit: N, kgf, lbf or kPa", _one_of("N", "kgf", "lbf", "kPa"), DISPLAY + ("class",),
            "units", "N"),
    Setting("feedback", "feedback mode: full, faded or blind", _one_of("full", "faded", "blind"), DISPLAY,
            "feedback", "full"),
)
BY_KEY = {s.key: s for s in SETTINGS}


@dataclass
class Config:
    """The settings in force: ``values`` holds what the file set (checked, as the command line
    would give them); every other setting has its default."""

    path: Path
    #: how ``path`` was chosen: "--config", "$NMT_MONITOR_CONFIG" or "default"
    chosen_by: str
    exists: bool
    values: dict[str, object] = field(default_factory=dict)

    def value(self, key: str):
        return self.values[key] if key in self.values else BY_KEY[key].default_value()

    def source(self, key: str) -> str:
        if key in self.values:
            return str(self.path)
        if key == "calibration_dir" and os.environ.get(CALIBRATION_ENV):
            return f"${CALIBRATION_ENV}"
        return "default"

    def defaults_for(self, command: str) -> dict[str, object]:
        """argparse defaults (dest -> value) that the file sets for ``command``."""
        return {s.dest_of(command): self.values[s.key] for s in SETTINGS if s.key in self.values and command in s.commands}


def config_path(explicit: str | os.PathLike | None = None) -> tuple[Path, str]:
    if explicit:
        return Path(explicit).expanduser(), "--config"
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser(), f"${CONFIG_ENV}"
    return user_config_path(), "default"


def load_config(explicit: str | os.PathLike | None = None) -> Config:
    """Read and check the config file. A file named by ``--config`` must exist; the default one
    and one named by the environment need not (no file: every default)."""
    path, chosen_by = config_path(explicit)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if chosen_by == "--config":
            raise ConfigError(f"--config {path}: no such file") from None
        return Config(path, chosen_by, exists=False)
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    values: dict[str, object] = {}
    for key, value in data.items():
        setting = BY_KEY.get(key)
        if setting is None:
            raise ConfigError(f"{path}: unknown key '{key}' (known: {', '.join(BY_KEY)})")
        try:
            values[key] = setting.check(value)
        except ValueError as exc:
            raise ConfigError(f"{path}: {key} = {_toml_value(value)}: {exc}") from None
    return Config(path, chosen_by, exists=True, values=values)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def describe(config: Config) -> str:
    """The effective settings as TOML, each with where it came from (``nmt-monitor config``)."""
    state = "" if config.exists else "; not found, so every setting has its default"
    lines = [f"# nmt-monitor settings in force. Config file: {config.path} (chosen by {config.chosen_by}{state}).",
             "# The command line overrides each setting. Save this as the config file and edit it to change them."]
    rows = []
    for s in SETTINGS:
        value = config.value(s.key)
        text = f"# {s.key} =" if value is None else f"{s.key} = {_toml_value(value)}"
        where = config.source(s.key) if value is not None else "not set"
        rows.append((s, text, where))
    width = max(len(t) for _, t, _ in rows)
    for s, text, where in rows:
        lines.append(f"\n# {s.what} (used by {', '.join(s.commands)})")
        lines.append(f"{text.ljust(width)}  # {where}")
    return "\n".join(lines) + "\n"
