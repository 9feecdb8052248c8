"""Reading a session file: ``open_session(path)`` -> ``Session`` (arrays, metadata, holds, markers).

Only plain HDF5 reads: strings are UTF-8, JSON is parsed with ``json``; nothing is unpickled.
Files are untrusted: ``nmt_monitor.storage.untrusted`` checks links, storage, shapes, dtypes
and metadata before anything is read, so a malformed or crafted file is one line
(``SessionFileError``), never a traceback, a read outside the file or a memory bomb.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nmt_monitor.storage import layout as L
from nmt_monitor.storage import untrusted as U
from nmt_monitor.storage.untrusted import SessionFileError
from nmt_monitor.units import MAX_FORCE_N

__all__ = ["CheckedSession", "Session", "SessionFileError", "open_checked", "open_session", "read_session"]


@dataclass
class Session:
    """One recorded session. Times ``time_s`` are seconds since ``session_start_time``."""

    path: Path
    schema_version: str
    attrs: dict  # root attributes (session id, start/end time, software version, recovered ...)
    metadata: dict  # general/session: therapist, client, tolerance_N, target_band_N, ...
    sensor: dict  # general/sensor
    calibration: dict  # general/calibration
    engine: dict  # processing/hold_engine attributes (status, software_version, parameters)
    holds: list[dict]  # analyze-JSON style: start_s, end_s, duration_s, mean_N, ..., flags
    over_tolerance: list[dict]  # start_s, end_s, peak_N
    invalid_times: list[dict]  # start_s, end_s, kind, samples_lost, detail
    markers: list[dict]  # time_s, kind, text
    link_events: list[dict]  # time_s, kind, detail (dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    #: settings changed while recording, in time order: time_s, field, value, previous (decoded);
    #: ``metadata`` has the final values
    settings_changes: list[dict] = field(default_factory=list)
    #: the training program followed (general/program: name, program_description, source, text,
    #: blocks); {} when none
    program: dict = field(default_factory=dict)
    #: its trials (intervals/trials): start_s, end_s, trial, block, repetition, site, label, feedback,
    #: kind, countdown, target_band_N, target_hold_s, hold_start_s, hold_end_s, outcome, hold (row of
    #: ``holds`` or None)
    trials: list[dict] = field(default_factory=list)
    # arrays: time_s, force_n, device_time_s, seq, segment, saturated, counts (if recorded)

    @property
    def time_s(self) -> np.ndarray:
        return self.arrays["time_s"]

    @property
    def force_n(self) -> np.ndarray:
        return self.arrays["force_n"]

    @property
    def start_epoch_s(self) -> float:
        return float(self.attrs.get("session_start_epoch_s", 0.0))

    @property
    def host_time_s(self) -> np.ndarray:
        """Unix epoch seconds of each sample."""
        return self.arrays["time_s"] + self.start_epoch_s

    @property
    def n_samples(self) -> int:
        return int(self.attrs.get("n_samples", 0))

    @property
    def tolerance_n(self) -> float | None:
        return self.metadata.get("tolerance_N")

    @property
    def target_band_n(self) -> tuple[float, float] | None:
        band = self.metadata.get("target_band_N")
        return None if band is None else (float(band[0]), float(band[1]))

    @property
    def initial_metadata(self) -> dict:
        """``metadata`` as it was when recording started (before any settings change)."""
        meta = dict(self.metadata)
        for row in reversed(self.settings_changes):
            if row["previous"] is None:
                meta.pop(row["field"], None)
            else:
                meta[row["field"]] = row["previous"]
        return meta

    @property
    def initial_tolerance_n(self) -> float | None:
        return self.initial_metadata.get("tolerance_N")

    @property
    def initial_target_band_n(self) -> tuple[float, float] | None:
        band = self.initial_metadata.get("target_band_N")
        return None if band is None else (float(band[0]), float(band[1]))

    def engine_changes(self) -> list[tuple[float, dict]]:
        """The changes of tolerance, target band and target hold time as the hold engine
        takes them (``analyze_holds(..., changes=...)``): [(time_s, {"tolerance_n": ...}), ...]."""
        out: list[tuple[float, dict]] = []
        for row in self.settings_changes:
            key = L.ENGINE_SESSION_FIELDS.get(row["field"])
            if key is None:
                continue
            value = row["value"]
            if key == "target_band_n" and value is not None:
                value = (float(value[0]), float(value[1]))
            if out and out[-1][0] == row["time_s"]:
                out[-1][1][key] = value
            else:
                out.append((row["time_s"], {key: value}))
        return out

    @property
    def sample_rate_hz(self) -> float:
        t = self.arrays.get("time_s")
        if t is None or t.size < 2:
            return float("nan")
        d = np.diff(t)
        d = d[d > 0]
        return float(1.0 / np.median(d)) if d.size else float("nan")


_ARRAYS = {
    "time_s": "timestamps",
    "force_n": "data",
    "device_time_s": "device_time",
    "seq": "seq",
    "segment": "segment",
    "saturated": "saturated",
}
#: Per-sample datasets of acquisition/force: name -> (numpy kinds allowed, required)
_SAMPLE_DATASETS = {
    "timestamps": ("f", True),
    "data": ("fiu", True),
    "device_time": ("f", False),
    "seq": ("iu", False),
    "segment": ("iu", False),
    "saturated": ("iub", False),
}
#: Tables: name -> ({column: "num"|"str"} that must be there, {column: kind} of optional ones).
#: Any other column of a table must hold numbers.
_TABLES = {
    L.HOLDS: ({"start_time": "num", "stop_time": "num"}, {"flags": "str", "ended_by": "str"}),
    L.OVER_TOLERANCE: ({"start_time": "num", "stop_time": "num", "peak_N": "num"}, {}),
    L.INVALID_TIMES: ({"start_time": "num", "stop_time": "num", "kind": "str", "samples_lost": "num",
                       "detail": "str"}, {}),
    L.MARKERS: ({"timestamps": "num", "kind": "str", "text": "str"}, {}),
    L.LINK_EVENTS: ({"timestamps": "num", "kind": "str", "detail": "str"}, {}),
    L.SETTINGS_CHANGES: ({"timestamps": "num", "field": "str", "value": "str", "previous": "str"}, {}),
    L.TRIALS: ({"start_time": "num", "stop_time": "num", "site": "str", "feedback": "str", "kind": "str",
                "outcome": "str", "target_low_N": "num", "target_high_N": "num", "target_hold_s": "num"},
               {"label": "str"}),
}
#: Trial, block, repetition and hold numbers above this are not a program's (500 trials at most):
#: a crafted 1e300 is refused, not turned into a 300-digit number.
_MAX_TRIAL_NUMBER = 1_000_000
#: Session metadata with a required type (general/session attributes).
_META_NUMBERS = ("tolerance_N", "target_hold_s", "tip_area_cm2")
_META_TEXT = ("session_id", "session_start_time", "therapist", "client", "contact_tip", "site", "notes")


def _table(f, name: str, path, text_budget: int) -> list[dict]:
    """The table ``name`` (a group of equal-length 1-D columns) as rows; [] if absent."""
    group = U.group(f, name, path, required=False)
    if group is None:
        return []
    required, optional = _TABLES[name]
    attrs = U.attributes(group, name, path)
    names = attrs.get("colnames")
    if names is None:
        names = sorted(group.keys())
    elif isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise U.fail(path, f"{name}: the attribute colnames should list the column names (text)")
    missing = [c for c in required if c not in names]
    if missing:
        raise U.fail(path, f"{name}: column {missing[0]} is missing")
    cols: dict[str, list] = {}
    datasets = {}
    length = None
    for col in names:
        kind = required.get(col) or optional.get(col) or "num"
        full = f"{name}/{col}"
        ds = datasets[col] = U.dataset(group, col, path, full=full, kinds="str" if kind == "str" else U.NUMERIC)
        if length is None:
            length = ds.shape[0]
        elif ds.shape[0] != length:
            raise U.fail(path, f"{name}: columns of different lengths ({names[0]} has {length} rows, "
                               f"{col} has {ds.shape[0]})")
    n_rows = attrs.get("n_rows")
    if n_rows is not None and length is not None and U.count(n_rows, f"{name}/n_rows", path) != length:
        raise U.fail(path, f"{name}: n_rows says {n_rows} rows, the columns have {length}")
    for col in names:
        kind = required.get(col) or optional.get(col) or "num"
        full = f"{name}/{col}"
        ds = datasets[col]
        if kind == "str":
            cols[col] = U.read_text_column(ds, full, path, text_budget)
        else:
            cols[col] = U.read(ds, full, path).tolist()
    n = length or 0
    return [{c: cols[c][i] for c in names} for i in range(n)]


def _nan_to_none(row: dict) -> dict:
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}


def _session_metadata(f, path) -> dict:
    group = U.group(f, L.GENERAL_SESSION, path, required=False)
    if group is None:
        return {}
    meta = U.attributes(group, L.GENERAL_SESSION, path)
    where = L.GENERAL_SESSION
    for key in _META_NUMBERS:
        if key in meta:
            meta[key] = U.number(meta[key], f"{where}/{key}", path, positive=True)
    if "target_band_N" in meta:
        meta["target_band_N"] = list(U.band(meta["target_band_N"], f"{where}/target_band_N", path))
    for key in _META_TEXT:
        if key in meta:
            U.text(meta[key], f"{where}/{key}", path)
    return meta


class CheckedSession:
    """An open, checked session file: the root attributes, ``n_samples`` and the per-sample
    datasets (shapes and dtypes checked against ``n_samples``). Use ``open_checked``."""

    def __init__(self, f, path: Path) -> None:
        self.f = f
        self.path = path
        attrs = U.attributes(f, "the root group", path)
        if attrs.get("schema") != L.SCHEMA_NAME:
            raise U.fail(path, f"not an nmt-monitor session file (no schema attribute {L.SCHEMA_NAME!r})")
        version = attrs.get("schema_version", "")
        if not isinstance(version, str) or version.split(".")[0] != L.SCHEMA_VERSION.split(".")[0]:
            raise U.fail(path, f"session schema {version} is not supported (this version reads {L.SCHEMA_VERSION})")
        self.version = version
        U.check_structure(f, path)
        if "n_samples" not in attrs:
            raise U.fail(path, "the root attribute n_samples is missing (not a finished session file)")
        self.n_samples = U.count(attrs["n_samples"], "n_samples", path)
        if "session_start_epoch_s" in attrs:
            U.number(attrs["session_start_epoch_s"], "session_start_epoch_s", path)
        for key in ("session_id", "session_start_time"):
            if key in attrs:
                U.text(attrs[key], key, path)
        self.attrs = attrs
        self.file_size = U._file_size(f, path)
        force = U.group(f, L.FORCE, path)
        self.datasets = {}
        for name, (kinds, required) in _SAMPLE_DATASETS.items():
            ds = U.dataset(force, name, path, full=f"{L.FORCE}/{name}", kinds=kinds, length=self.n_samples,
                           required=required)
            if ds is not None:
                self.datasets[name] = ds
        counts = U.group(f, L.RAW_COUNTS, path, required=False)
        if counts is not None:
            ds = U.dataset(counts, "data", path, full=f"{L.RAW_COUNTS}/data", kinds="iu", length=self.n_samples,
                           required=False)
            if ds is not None:
                self.datasets["counts"] = ds

    def read_samples(self, name: str, rows: slice | None = None) -> np.ndarray:
        """One per-sample dataset (or ``rows`` of it), its values checked: time finite and never
        going backwards (``check_time`` for the rows across blocks), force finite."""
        ds = self.datasets.get(name)
        full = f"{L.RAW_COUNTS}/data" if name == "counts" else f"{L.FORCE}/{name}"
        if ds is None:
            raise U.fail(self.path, f"{full} is missing")
        return U.read(ds, full, self.path, rows)

    def check_time(self, t: np.ndarray, first: int = 0, previous: float | None = None) -> None:
        """Timestamps (starting at sample ``first``) are finite and never go backwards."""
        full = f"{L.FORCE}/timestamps"
        if t.size and not np.all(np.isfinite(t)):
            i = first + int(np.flatnonzero(~np.isfinite(t))[0])
            raise U.fail(self.path, f"{full}: sample {i} is not a finite time ({t[i - first]})")
        if previous is not None and t.size and t[0] < previous:
            raise U.fail(self.path, f"{full}: time goes backwards at sample {first} ({previous:g} then {t[0]:g})")
        if t.size > 1:
            back = np.flatnonzero(np.diff(t) < 0)
            if back.size:
                i = int(back[0])
                raise U.fail(self.path, f"{full}: time goes backwards at sample {first + i + 1} "
                                        f"({t[i]:g} then {t[i + 1]:g})")

    def check_force(self, x: np.ndarray, first: int = 0) -> None:
        if x.size and x.dtype.kind == "f" and not np.all(np.isfinite(x)):
            i = first + int(np.flatnonzero(~np.isfinite(x))[0])
            raise U.fail(self.path, f"{L.FORCE}/data: sample {i} is not a finite force ({x[i - first]})")


class open_checked:
    """``with open_checked(path) as s:`` an open ``CheckedSession`` (read-only); the file is
    closed afterwards. Every problem is a ``SessionFileError``."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.f = None

    def __enter__(self) -> CheckedSession:
        self.f = U.open_file(self.path)
        try:
            return CheckedSession(self.f, self.path)
        except BaseException:
            self.f.close()
            raise

    def __exit__(self, *exc) -> None:
        try:
            self.f.close()
        except Exception:  # noqa: BLE001 - closing a read-only file cannot lose anything
            pass


def open_session(path: Path | str, arrays: bool | tuple[str, ...] = True) -> Session:
    """Read a session file written by nmt-monitor.

    ``arrays``: True loads every per-sample array, False none (metadata and tables only, fast),
    or a tuple of names from ``time_s, force_n, device_time_s, seq, segment, saturated, counts``.
    Raises ``SessionFileError`` (a ``UserError``, one line naming the file and the problem) for a
    missing, foreign, malformed or crafted file; docs/hdf5-layout.md says what is checked.
    """
    with open_checked(path) as cs:
        return read_session(cs, arrays)


def read_session(cs: CheckedSession, arrays: bool | tuple[str, ...] = True) -> Session:
    """``open_session`` on a file opened with ``open_checked``."""
    wanted = tuple(_ARRAYS) + ("counts",) if arrays is True else (tuple(arrays) if arrays else ())
    for name in wanted:
        if name not in _ARRAYS and name != "counts":
            raise ValueError(f"unknown array {name!r}; use {', '.join(_ARRAYS)}, counts")
    f, path = cs.f, cs.path
    budget = cs.file_size + (1 << 20)
    meta = _session_metadata(f, path)
    groups = {n: U.group(f, n, path, required=False) for n in (L.GENERAL_SENSOR, L.GENERAL_CALIBRATION, L.ENGINE)}
    sensor, calibration, engine = ({} if g is None else U.attributes(g, n, path) for n, g in groups.items())
    holds = []
    for row in _table(f, L.HOLDS, path, budget):
        row = _nan_to_none(row)
        h = {"start_s": row.pop("start_time"), "end_s": row.pop("stop_time")}
        h.update(row)
        if "flags" in h:
            h["flags"] = [x for x in str(h["flags"]).split(",") if x]
        holds.append(h)
    over = [{"start_s": r["start_time"], "end_s": r["stop_time"], "peak_N": r["peak_N"]}
            for r in _table(f, L.OVER_TOLERANCE, path, budget)]
    invalid = [{"start_s": r["start_time"], "end_s": r["stop_time"], "kind": r["kind"],
                "samples_lost": r["samples_lost"], "detail": r["detail"]}
               for r in _table(f, L.INVALID_TIMES, path, budget)]
    markers = [{"time_s": r["timestamps"], "kind": r["kind"], "text": r["text"]}
               for r in _table(f, L.MARKERS, path, budget)]
    changes = []
    for r in _table(f, L.SETTINGS_CHANGES, path, budget):
        where = f"{L.SETTINGS_CHANGES} ({r['field']!r} at {r['timestamps']:g} s)"
        U.number(r["timestamps"], f"{where}: timestamps", path)
        changes.append({"time_s": r["timestamps"], "field": r["field"],
                        "value": _setting(r["field"], r["value"], f"{where}: value", path),
                        "previous": _setting(r["field"], r["previous"], f"{where}: previous", path)})
    if any(b["time_s"] < a["time_s"] for a, b in zip(changes, changes[1:])):
        raise U.fail(path, f"{L.SETTINGS_CHANGES}: timestamps go backwards")
    events = []
    for r in _table(f, L.LINK_EVENTS, path, budget):
        try:
            detail = json.loads(r["detail"]) if r["detail"] else {}
        except (json.JSONDecodeError, RecursionError):
            detail = {"raw": r["detail"]}
        events.append({"time_s": r["timestamps"], "kind": r["kind"], "detail": detail})
    trials = [_trial(_nan_to_none(r), i, len(holds), path) for i, r in enumerate(_table(f, L.TRIALS, path, budget))]
    program = {}
    group = U.group(f, L.GENERAL_PROGRAM, path, required=False)
    if group is not None:
        program = U.attributes(group, L.GENERAL_PROGRAM, path)
        try:
            blocks = json.loads(program.pop("blocks_json", "[]"))
        except (TypeError, json.JSONDecodeError, RecursionError):
            blocks = []
        program["blocks"] = [b for b in blocks if isinstance(b, dict)] if isinstance(blocks, list) else []
        program.pop("trials_json", None)
    out: dict[str, np.ndarray] = {}
    for name in wanted:
        key = "counts" if name == "counts" else _ARRAYS[name]
        if key not in cs.datasets:
            continue  # optional (the required ones were checked when the file was opened)
        data = cs.read_samples(key)
        if name == "time_s":
            cs.check_time(data)
        elif name == "force_n":
            cs.check_force(data)
            data = data.astype(np.float64)
        elif name == "saturated":
            data = data.astype(bool)
        out[name] = data
    return Session(path=path, schema_version=cs.version, attrs=cs.attrs, metadata=meta, sensor=sensor,
                   calibration=calibration, engine=engine, holds=holds, over_tolerance=over,
                   invalid_times=invalid, markers=markers, link_events=events, arrays=out,
                   settings_changes=changes, program=program, trials=trials)


def _trial(row: dict, index: int, n_holds: int, path) -> dict:
    """Row ``index`` of intervals/trials in the reader's names (times ``start_s``/``end_s`` as
    holds have), its values checked: NaN is "none" (as the writer writes it), anything else
    must be a value the writer could have written (grading computes errors from them)."""
    where = f"{L.TRIALS} row {index}"
    for key in ("start_time", "stop_time", "hold_start_time", "hold_stop_time", "countdown"):
        if row.get(key) is not None:
            U.number(row[key], f"{where}: {key}", path)
    for key in ("trial", "block", "repetition", "hold"):  # from 1; -1: none (hold: a row of holds, from 0)
        v = row.get(key)
        if v is not None and not (math.isfinite(v) and v == int(v) and -1 <= v <= _MAX_TRIAL_NUMBER):
            raise U.fail(path, f"{where}: {key} should be a whole number, not {v!r}")
    out = {"start_s": row.pop("start_time"), "end_s": row.pop("stop_time")}
    lo, hi = row.pop("target_low_N"), row.pop("target_high_N")
    band = None if lo is None or hi is None else U.band([lo, hi], f"{where}: target band", path)
    if band is not None and band[1] > MAX_FORCE_N:
        raise U.fail(path, f"{where}: target band should be at most {MAX_FORCE_N:g} N, not {band[1]:g}")
    out["target_band_N"] = band
    if row.get("target_hold_s") is not None:
        row["target_hold_s"] = U.number(row["target_hold_s"], f"{where}: target_hold_s", path, positive=True)
    out["hold_start_s"] = row.pop("hold_start_time", None)
    out["hold_end_s"] = row.pop("hold_stop_time", None)
    hold = row.pop("hold", None)
    if hold is not None and hold >= n_holds:
        raise U.fail(path, f"{where}: hold is row {int(hold)} of {L.HOLDS}, which has {n_holds} rows")
    out["hold"] = None if hold is None or hold < 0 else int(hold)
    for key in ("trial", "block", "repetition"):
        if row.get(key) is not None:
            row[key] = int(row[key])
    row["countdown"] = bool(row.get("countdown"))
    out.update(row)
    return out


def _setting(name: str, text: str, what: str, path):
    """A settings_changes value (JSON text), checked like the general/session attribute it sets."""
    try:
        value = json.loads(text) if text else None
    except (json.JSONDecodeError, RecursionError):
        raise U.fail(path, f"{what} is not JSON") from None
    if value is None:
        return None
    if name in _META_NUMBERS:
        return U.number(value, what, path, positive=True)
    if name == "target_band_N":
        return list(U.band(value, what, path))
    if name in _META_TEXT:
        return U.text(value, what, path)
    if isinstance(value, (dict, list)):
        raise U.fail(path, f"{what} should be text or a number")
    return value
