"""Calibration records: one TOML file per sensor serial number, ``<serial>.toml``.

Users' records live in the user data folder's ``calibration/`` (``$NMT_CALIBRATION_DIR``, the
config file's ``calibration_dir`` or ``--calibration-dir`` elsewhere); ``calibrate`` writes there.
The records shipped with the package (the simulator's ``SIM-0001``) are read when the user has
none for that serial number; nothing is ever written into the installed package.

A record maps raw ADC counts to newtons::

    serial = "SIM-0001"
    date = "2026-11-20"
    full_scale_n = 200.0
    [fit]
    model = "linear"
    gain_n_per_count = 2.509410288582183e-05
    offset_counts = 152340.0

``force_N = gain_n_per_count * (counts - offset_counts)``; when the device reports that it
has tared (status bit ``TARED``), the counts are already zeroed and the offset is not applied.
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# re-exported: the constant lives with the settings, so that '--help' needs no NumPy
from nmt_monitor.config import DEFAULT_MAX_AGE_DAYS  # noqa: F401

#: Records shipped with the package (read-only): the simulator's, so that sim:// reads ~0 N at rest.
SHIPPED_CALIBRATION_DIR = Path(__file__).resolve().parent / "calibration_records"
#: A record's numbers must describe a real sensor read by a 24-bit ADC: full scale within
#: this (a handheld sensor is 0-200 N; the largest force gauges are 100 kN) ...
MAX_FULL_SCALE_N = 1e6
#: ... spanning at least this many counts (coarser is no instrument) ...
MIN_COUNTS_FULL_SCALE = 100.0
#: ... and at most this many (the ADC has 2**24 codes; a margin for gain and offset).
MAX_COUNTS_FULL_SCALE = float(2**26)
#: The zero (offset) lies within the ADC's range, with the same margin.
MAX_OFFSET_COUNTS = float(2**25)


class CalibrationError(ValueError):
    """A calibration record that cannot be used; the message names the file and field."""


@dataclass(frozen=True)
class CalibrationRecord:
    serial: str
    date: _dt.date
    full_scale_n: float
    gain_n_per_count: float
    offset_counts: float
    model: str = "linear"
    source: str = ""
    path: Path | None = None

    def counts_to_newtons(self, counts: np.ndarray, tared: np.ndarray | bool = False) -> np.ndarray:
        """Convert raw counts to newtons; where ``tared`` the device already removed the zero."""
        counts_f = np.asarray(counts, dtype=np.float64)
        offset = np.where(tared, 0.0, self.offset_counts)
        return self.gain_n_per_count * (counts_f - offset)

    def age_days(self, today: _dt.date | None = None) -> int:
        return ((today or _dt.date.today()) - self.date).days


def calibration_dir() -> Path:
    """Where users' records are read from and written to by default: ``$NMT_CALIBRATION_DIR``,
    else ``calibration/`` in the platform's user data folder."""
    from nmt_monitor.config import user_calibration_dir

    return user_calibration_dir()


def _field(table: dict, name: str, kind: type, where: str):
    if name not in table:
        raise CalibrationError(f"{where}: missing field '{name}'")
    value = table[name]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CalibrationError(f"{where}: field '{name}' must be a {kind.__name__}, not {value!r}")
    return value


def parse_calibration(text: str, path: Path | None = None) -> CalibrationRecord:
    where = str(path) if path else "calibration record"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CalibrationError(f"{where}: not valid TOML ({exc})") from None
    serial = _field(data, "serial", str, where)
    date_value = data.get("date")
    if isinstance(date_value, _dt.datetime):
        date_value = date_value.date()
    elif isinstance(date_value, str):
        try:
            date_value = _dt.date.fromisoformat(date_value)
        except ValueError:
            raise CalibrationError(f"{where}: field 'date' must be a date like 2026-11-20") from None
    if not isinstance(date_value, _dt.date):
        raise CalibrationError(f"{where}: missing field 'date' (a date like 2026-11-20)")
    if date_value > _dt.date.today() + _dt.timedelta(days=1):  # a day's grace for time zones
        raise CalibrationError(f"{where}: field 'date' {date_value.isoformat()} is in the future; "
                               "a calibration is dated when it was made")
    full_scale_n = _field(data, "full_scale_n", float, where)
    if not 0 < full_scale_n <= MAX_FULL_SCALE_N:
        raise CalibrationError(f"{where}: field 'full_scale_n' must be a positive force in N up to "
                               f"{MAX_FULL_SCALE_N:g}, not {full_scale_n!r}")
    fit = data.get("fit")
    if not isinstance(fit, dict):
        raise CalibrationError(f"{where}: missing table '[fit]'")
    model = _field(fit, "model", str, f"{where} [fit]")
    if model != "linear":
        raise CalibrationError(f"{where}: [fit] model {model!r} is not supported (use 'linear')")
    gain = _field(fit, "gain_n_per_count", float, f"{where} [fit]")
    if not (np.isfinite(gain) and gain > 0):
        raise CalibrationError(f"{where}: [fit] field 'gain_n_per_count' must be a positive number, not {gain!r} "
                               "(a sensor that reads compression as falling counts is wired the other way round)")
    span = full_scale_n / gain
    if not MIN_COUNTS_FULL_SCALE <= span <= MAX_COUNTS_FULL_SCALE:
        raise CalibrationError(
            f"{where}: [fit] field 'gain_n_per_count' = {gain:g} is absurd: full scale ({full_scale_n:g} N) would "
            f"span {span:.3g} counts; a 24-bit ADC gives {MIN_COUNTS_FULL_SCALE:g} to {MAX_COUNTS_FULL_SCALE:.3g}")
    offset = _field(fit, "offset_counts", float, f"{where} [fit]")
    if not (np.isfinite(offset) and abs(offset) <= MAX_OFFSET_COUNTS):
        raise CalibrationError(f"{where}: [fit] field 'offset_counts' must be a finite number of counts within "
                               f"±{MAX_OFFSET_COUNTS:.3g}, not {offset!r}")
    return CalibrationRecord(
        serial=serial,
        date=date_value,
        full_scale_n=full_scale_n,
        gain_n_per_count=gain,
        offset_counts=offset,
        model=model,
        source=str(data.get("source", "")),
        path=path,
    )


def load_calibration(path: Path) -> CalibrationRecord:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CalibrationError(f"cannot read calibration record {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CalibrationError(f"{path}: not UTF-8 text; save the record as UTF-8") from None
    return parse_calibration(text, Path(path))


def find_calibration(serial: str, directory: Path | None = None) -> CalibrationRecord | None:
    """The record for ``serial`` in ``directory`` (default: ``calibration_dir()``), else the one
    shipped with the package, or None."""
    directory = Path(directory) if directory else calibration_dir()
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in serial)
    path = next((d / f"{safe}.toml" for d in (directory, SHIPPED_CALIBRATION_DIR) if (d / f"{safe}.toml").is_file()),
                None)
    if path is None:
        return None
    record = load_calibration(path)
    if record.serial != serial:
        raise CalibrationError(f"{path}: serial {record.serial!r} does not match the sensor's {serial!r}")
    return record


# --------------------------------------------------------------------------- fitting

#: The load directions of a calibration point.
DIRECTIONS = ("up", "down")


@dataclass(frozen=True)
class CalibrationPoint:
    """One reading of a known load: the mean of ``n`` raw counts (untared) while it rested."""

    load_n: float
    counts: float
    direction: str = "up"  # "up" while loading, "down" while unloading
    repeat: int = 1
    sd_counts: float = 0.0
    n: int = 0


@dataclass(frozen=True)
class CalibrationFit:
    """A least-squares line through the points, and its quality in % of full scale.

    ``nonlinearity_pct_fs``: largest deviation of the per-load mean reading from the line;
    ``hysteresis_pct_fs``: largest unloading-minus-loading difference at one load in one repeat;
    ``repeatability_pct_fs``: largest spread of one load and direction across repeats.
    """

    gain_n_per_count: float
    offset_counts: float
    full_scale_n: float
    points: tuple[CalibrationPoint, ...]
    residuals_n: tuple[float, ...]
    max_residual_n: float
    nonlinearity_pct_fs: float
    hysteresis_pct_fs: float
    repeatability_pct_fs: float
    r_squared: float

    def record(self, serial: str, date: _dt.date | None = None, source: str = "") -> CalibrationRecord:
        return CalibrationRecord(serial=serial, date=date or _dt.date.today(), full_scale_n=self.full_scale_n,
                                 gain_n_per_count=self.gain_n_per_count, offset_counts=self.offset_counts,
                                 source=source)


def parse_loads(text: str, full_scale_n: float | None = None, where: str = "--loads") -> list[float]:
    """``"0,50,100,150,200"`` (units allowed: ``0,5kg,10kg``) -> newtons; must start at 0,
    increase strictly, hold at least 3 loads and stay within full scale."""
    from nmt_monitor.units import UnitError, parse_force_n

    parts = [p.strip() for p in str(text).split(",")]
    if not parts or any(p == "" for p in parts):
        raise CalibrationError(f"{where}: an empty load in {text!r}; write e.g. 0,50,100,150,200")
    loads = []
    for part in parts:
        try:
            loads.append(parse_force_n(part))
        except UnitError as exc:
            raise CalibrationError(f"{where}: {exc}") from None
    check_loads(loads, full_scale_n, where)
    return loads


def check_loads(loads, full_scale_n: float | None = None, where: str = "loads") -> None:
    if len(loads) < 3:
        raise CalibrationError(f"{where}: give at least 3 loads (0 and two or more across the range), got {len(loads)}")
    if any(not np.isfinite(x) for x in loads):
        raise CalibrationError(f"{where}: loads must be finite numbers")
    if abs(loads[0]) > 1e-9:
        raise CalibrationError(f"{where}: the first load must be 0 (the tare), not {loads[0]:g} N")
    for a, b in zip(loads, loads[1:]):
        if not b > a:
            raise CalibrationError(f"{where}: loads must increase: {a:g} N then {b:g} N")
    if full_scale_n is not None and loads[-1] > full_scale_n * 1.0001:
        raise CalibrationError(f"{where}: {loads[-1]:g} N is beyond the sensor's full scale of {full_scale_n:g} N")


def load_sequence(loads: list[float], repeats: int) -> list[tuple[float, str, int]]:
    """Loading then unloading, repeated: (load, direction, repeat) in the order to apply them.
    The top load is read once per repeat ("up"); the zero between repeats once ("down")."""
    if repeats < 1:
        raise CalibrationError(f"--repeats must be at least 1, not {repeats}")
    seq: list[tuple[float, str, int]] = [(loads[0], "up", 1)]
    for r in range(1, repeats + 1):
        seq += [(x, "up", r) for x in loads[1:]]
        seq += [(x, "down", r) for x in reversed(loads[:-1])]
    return seq


def fit_calibration(points, full_scale_n: float) -> CalibrationFit:
    """Least-squares ``counts = offset + load / gain`` through the points; errors name the field."""
    pts = list(points)
    if not full_scale_n or not np.isfinite(full_scale_n) or full_scale_n <= 0:
        raise CalibrationError("full_scale_n: must be a positive number")
    if len(pts) < 2:
        raise CalibrationError(f"points: need at least 2 readings, got {len(pts)}")
    for i, p in enumerate(pts):
        if not (np.isfinite(p.load_n) and np.isfinite(p.counts)):
            raise CalibrationError(f"points[{i}]: load_n and counts must be finite numbers")
        if p.direction not in DIRECTIONS:
            raise CalibrationError(f"points[{i}].direction: must be 'up' or 'down', not {p.direction!r}")
    load = np.array([p.load_n for p in pts], dtype=np.float64)
    counts = np.array([p.counts for p in pts], dtype=np.float64)
    distinct = np.unique(load)
    if distinct.size < 2:
        raise CalibrationError("points: need readings at two or more different loads")
    means = np.array([counts[load == x].mean() for x in distinct])
    steps = np.diff(means)
    if not (np.all(steps > 0) or np.all(steps < 0)):
        # the first step that is flat (two loads read the same) or turns against the first one
        k = int(np.flatnonzero((steps == 0) | (np.sign(steps) != np.sign(steps[0])))[0])
        raise CalibrationError(
            f"points: counts are not monotonic in load: {distinct[k]:g} N reads {means[k]:.0f}, "
            f"{distinct[k + 1]:g} N reads {means[k + 1]:.0f} (wrong weight, or the load was not resting?)"
        )
    slope, intercept = np.polyfit(load, counts, 1)  # counts per N, counts at 0 N
    gain = 1.0 / slope
    est = gain * (counts - intercept)
    resid = est - load
    ss_res = float(np.sum((counts - (intercept + slope * load)) ** 2))
    ss_tot = float(np.sum((counts - counts.mean()) ** 2))
    fs = float(full_scale_n)
    mean_resid = [float(np.mean(resid[load == x])) for x in distinct]
    nonlin = max(abs(x) for x in mean_resid) / fs * 100.0
    hyst = 0.0
    rep = 0.0
    reps = sorted({p.repeat for p in pts})
    for x in distinct:
        for r in reps:
            up = [e for e, p in zip(est, pts) if p.load_n == x and p.repeat == r and p.direction == "up"]
            down = [e for e, p in zip(est, pts) if p.load_n == x and p.repeat == r and p.direction == "down"]
            if up and down:
                hyst = max(hyst, abs(np.mean(down) - np.mean(up)) / fs * 100.0)
        for d in DIRECTIONS:
            vals = [e for e, p in zip(est, pts) if p.load_n == x and p.direction == d]
            if len(vals) > 1:
                rep = max(rep, (max(vals) - min(vals)) / fs * 100.0)
    return CalibrationFit(
        gain_n_per_count=float(gain), offset_counts=float(intercept), full_scale_n=fs, points=tuple(pts),
        residuals_n=tuple(float(x) for x in resid), max_residual_n=float(np.max(np.abs(resid))),
        nonlinearity_pct_fs=float(nonlin), hysteresis_pct_fs=float(hyst), repeatability_pct_fs=float(rep),
        r_squared=1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0,
    )


def _toml_str(text: str) -> str:
    import json

    return json.dumps(str(text), ensure_ascii=False)  # JSON string escapes are valid TOML basic strings


def _toml_float(value: float) -> str:
    value = float(value)
    if not np.isfinite(value):
        raise CalibrationError(f"cannot write a non-finite number ({value!r}) to a calibration record")
    return repr(value)


def format_calibration_record(fit: CalibrationFit, serial: str, date: _dt.date | None = None,
                              source: str = "") -> str:
    """The TOML text of a record: serial, date, full scale, [fit], [quality] and every [[points]]
    reading with its residual. ``parse_calibration`` reads it back."""
    date = date or _dt.date.today()
    lines = [
        f"serial = {_toml_str(serial)}",
        f"date = {date.isoformat()}",
        f"full_scale_n = {_toml_float(fit.full_scale_n)}",
        f"source = {_toml_str(source)}",
        "",
        "[fit]",
        'model = "linear"',
        f"gain_n_per_count = {_toml_float(fit.gain_n_per_count)}",
        f"offset_counts = {_toml_float(fit.offset_counts)}",
        f"r_squared = {_toml_float(fit.r_squared)}",
        "",
        "[quality]  # % of full scale",
        f"nonlinearity_pct_fs = {_toml_float(round(fit.nonlinearity_pct_fs, 5))}",
        f"hysteresis_pct_fs = {_toml_float(round(fit.hysteresis_pct_fs, 5))}",
        f"repeatability_pct_fs = {_toml_float(round(fit.repeatability_pct_fs, 5))}",
        f"max_residual_n = {_toml_float(round(fit.max_residual_n, 6))}",
        "",
        "loads_n = [" + ", ".join(_toml_float(x) for x in sorted({p.load_n for p in fit.points})) + "]",
    ]
    # `loads_n` must be a top-level key: move it above the tables.
    loads_line = lines.pop()
    lines.insert(4, loads_line)
    for p, r in zip(fit.points, fit.residuals_n):
        lines += [
            "",
            "[[points]]",
            f"load_n = {_toml_float(p.load_n)}",
            f"direction = {_toml_str(p.direction)}",
            f"repeat = {int(p.repeat)}",
            f"counts = {_toml_float(round(p.counts, 3))}",
            f"sd_counts = {_toml_float(round(p.sd_counts, 3))}",
            f"n = {int(p.n)}",
            f"residual_n = {_toml_float(round(r, 6))}",
        ]
    return "\n".join(lines) + "\n"


def parse_calibration_points(text: str, path: Path | None = None) -> list[CalibrationPoint]:
    """The ``[[points]]`` of a record (empty when it has none); errors name the field."""
    where = str(path) if path else "calibration record"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CalibrationError(f"{where}: not valid TOML ({exc})") from None
    raw = data.get("points", [])
    if not isinstance(raw, list):
        raise CalibrationError(f"{where}: 'points' must be an array of tables [[points]]")
    points = []
    for i, item in enumerate(raw):
        w = f"{where} points[{i}]"
        if not isinstance(item, dict):
            raise CalibrationError(f"{w}: must be a table")
        load = _field(item, "load_n", float, w)
        counts = _field(item, "counts", float, w)
        if not (np.isfinite(load) and np.isfinite(counts)):
            raise CalibrationError(f"{w}: fields 'load_n' and 'counts' must be finite numbers")
        direction = item.get("direction", "up")
        if direction not in DIRECTIONS:
            raise CalibrationError(f"{w}: field 'direction' must be 'up' or 'down', not {direction!r}")
        repeat = item.get("repeat", 1)
        if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
            raise CalibrationError(f"{w}: field 'repeat' must be a positive integer")
        points.append(CalibrationPoint(load, counts, direction, repeat,
                                       float(item.get("sd_counts", 0.0)), int(item.get("n", 0))))
    loads = data.get("loads_n")
    if loads is not None:
        if not isinstance(loads, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in loads):
            raise CalibrationError(f"{where}: field 'loads_n' must be a list of numbers")
        full_scale = data.get("full_scale_n")
        if full_scale is not None and (not isinstance(full_scale, (int, float)) or isinstance(full_scale, bool)
                                       or not full_scale > 0):
            raise CalibrationError(f"{where}: field 'full_scale_n' must be a positive number, not {full_scale!r}")
        check_loads([float(x) for x in loads], full_scale, f"{where}: field 'loads_n'")
    return points


def write_calibration_record(text: str, serial: str, directory: Path | None = None) -> Path:
    """Write ``<directory>/<serial>.toml`` atomically: the text is checked by parsing it, written
    to a temporary file, synced, and renamed over the old record (kept as ``<serial>.toml.bak``).
    Readers see the old record or the new one, never half of one."""
    record = parse_calibration(text)
    parse_calibration_points(text)
    if record.serial != serial:
        raise CalibrationError(f"serial {record.serial!r} in the record does not match {serial!r}")
    directory = Path(directory) if directory else calibration_dir()
    directory.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in serial)
    final = directory / f"{safe}.toml"
    # A fresh, unpredictable name made with O_EXCL in the target folder (never a file or link
    # someone put there), then renamed over the record: same file system, atomic.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{safe}.toml.", suffix=".tmp", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), 0o644)  # mkstemp makes it 0600; a record is not a secret
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if final.exists():
            backup = directory / f"{safe}.toml.bak"
            try:
                if backup.exists() or backup.is_symlink():
                    backup.unlink()
                os.link(final, backup)
            except OSError:
                pass
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    try:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    return final
