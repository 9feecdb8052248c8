"""Reading a session file: ``open_session(path)`` -> ``Session`` (arrays, metadata, holds, markers).

Only plain HDF5 reads: strings are UTF-8, JSON is parsed with ``json``; nothing is unpickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nmt_monitor.errors import UserError
from nmt_monitor.storage import layout as L


class SessionFileError(UserError):
    """A file that is not a readable nmt-monitor session (message names the file and problem)."""


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


def _value(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        if v.dtype.kind in "OSU":
            return [_value(x) for x in v.tolist()]
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _attrs(obj) -> dict:
    return {k: _value(v) for k, v in obj.attrs.items()}


def _table(group) -> list[dict]:
    names = [_value(n) for n in group.attrs.get("colnames", list(group.keys()))]
    cols = {}
    for name in names:
        ds = group[name]
        if ds.dtype.kind == "O" or ds.dtype.kind in "SU":
            cols[name] = [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in ds[()].tolist()]
        else:
            cols[name] = ds[()].tolist()
    n = len(next(iter(cols.values()))) if cols else 0
    return [{name: cols[name][i] for name in names} for i in range(n)]


def _nan_to_none(row: dict) -> dict:
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}


def open_session(path: Path | str, arrays: bool | tuple[str, ...] = True) -> Session:
    """Read a session file written by nmt-monitor.

    ``arrays``: True loads every per-sample array, False none (metadata and tables only, fast),
    or a tuple of names from ``time_s, force_n, device_time_s, seq, segment, saturated, counts``.
    Raises ``SessionFileError`` (a ``UserError``) for a missing or foreign file.
    """
    import h5py

    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except FileNotFoundError:
        raise SessionFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise SessionFileError(f"{path}: not a readable HDF5 file ({str(exc).splitlines()[0]})") from None
    with f:
        attrs = _attrs(f)
        if attrs.get("schema") != L.SCHEMA_NAME:
            raise SessionFileError(f"{path}: not an nmt-monitor session file (no schema attribute {L.SCHEMA_NAME!r})")
        version = str(attrs.get("schema_version", ""))
        if version.split(".")[0] != L.SCHEMA_VERSION.split(".")[0]:
            raise SessionFileError(f"{path}: session schema {version} is not supported (this version reads {L.SCHEMA_VERSION})")
        meta = _attrs(f[L.GENERAL_SESSION]) if L.GENERAL_SESSION in f else {}
        sensor = _attrs(f[L.GENERAL_SENSOR]) if L.GENERAL_SENSOR in f else {}
        calibration = _attrs(f[L.GENERAL_CALIBRATION]) if L.GENERAL_CALIBRATION in f else {}
        engine = _attrs(f[L.ENGINE]) if L.ENGINE in f else {}
        holds = []
        if L.HOLDS in f:
            for row in _table(f[L.HOLDS]):
                row = _nan_to_none(row)
                h = {"start_s": row.pop("start_time"), "end_s": row.pop("stop_time")}
                h.update(row)
                if "flags" in h:
                    h["flags"] = [x for x in str(h["flags"]).split(",") if x]
                holds.append(h)
        over = [{"start_s": r["start_time"], "end_s": r["stop_time"], "peak_N": r["peak_N"]}
                for r in _table(f[L.OVER_TOLERANCE])] if L.OVER_TOLERANCE in f else []
        invalid = [{"start_s": r["start_time"], "end_s": r["stop_time"], "kind": r["kind"],
                    "samples_lost": r["samples_lost"], "detail": r["detail"]}
                   for r in _table(f[L.INVALID_TIMES])] if L.INVALID_TIMES in f else []
        markers = [{"time_s": r["timestamps"], "kind": r["kind"], "text": r["text"]}
                   for r in _table(f[L.MARKERS])] if L.MARKERS in f else []
        events = []
        if L.LINK_EVENTS in f:
            for r in _table(f[L.LINK_EVENTS]):
                try:
                    detail = json.loads(r["detail"]) if r["detail"] else {}
                except json.JSONDecodeError:
                    detail = {"raw": r["detail"]}
                events.append({"time_s": r["timestamps"], "kind": r["kind"], "detail": detail})
        wanted = tuple(_ARRAYS) + ("counts",) if arrays is True else (tuple(arrays) if arrays else ())
        out: dict[str, np.ndarray] = {}
        g = f[L.FORCE]
        for name in wanted:
            if name == "counts":
                if L.RAW_COUNTS in f:
                    out["counts"] = f[L.RAW_COUNTS]["data"][()]
            elif name in _ARRAYS:
                data = g[_ARRAYS[name]][()]
                out[name] = data.astype(np.float64) if name == "force_n" else (
                    data.astype(bool) if name == "saturated" else data)
            else:
                raise ValueError(f"unknown array {name!r}; use {', '.join(_ARRAYS)}, counts")
    return Session(path=path, schema_version=version, attrs=attrs, metadata=meta, sensor=sensor,
                   calibration=calibration, engine=engine, holds=holds, over_tolerance=over,
                   invalid_times=invalid, markers=markers, link_events=events, arrays=out)
