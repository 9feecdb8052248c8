"""Turn a journal (plus anything kept in memory) into the session's HDF5 file.

Streams: samples are appended in batches of ``WRITE_BATCH_SAMPLES`` and fed to the hold
engine chunk by chunk, so memory stays flat however long the session. The file is written
under a temporary name, synced, and then linked to its final name, which never replaces an
existing file.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from nmt_monitor.acquisition.blocks import LinkEvent, SampleBlock
from nmt_monitor.storage import layout as L
from nmt_monitor.storage.journal import Marker, dumps_json


class StorageWriteError(OSError):
    """The HDF5 file could not be written."""


def _software_version() -> str:
    from nmt_monitor import __version__

    return __version__


def iso_time(epoch_s: float) -> str:
    """ISO 8601 with the local zone offset, e.g. ``2026-11-20T14:03:07.250+01:00``."""
    return _dt.datetime.fromtimestamp(epoch_s).astimezone().isoformat(timespec="milliseconds")


def _load_engine():
    """(HoldEngine, HoldParams) if the hold engine is installed, else (None, reason)."""
    try:
        from nmt_monitor.dsp import HoldEngine, HoldParams
    except Exception as exc:  # noqa: BLE001 - any import problem means: no derived tables
        return None, f"hold engine unavailable ({type(exc).__name__}: {exc})"
    return (HoldEngine, HoldParams), ""


def _set_attr(obj, name: str, value) -> None:
    """Attributes as HDF5-native types: UTF-8 strings, numbers, numeric arrays; None is omitted."""
    if value is None:
        return
    if isinstance(value, bool):
        obj.attrs[name] = np.uint8(value)
    elif isinstance(value, (int, np.integer)):
        obj.attrs[name] = np.int64(value)
    elif isinstance(value, (float, np.floating)):
        obj.attrs[name] = np.float64(value)
    elif isinstance(value, str):
        obj.attrs[name] = value
    elif isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        obj.attrs[name] = np.asarray(value, dtype=np.float64)
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        import h5py

        obj.attrs.create(name, list(value), dtype=h5py.string_dtype("utf-8"))
    else:
        obj.attrs[name] = dumps_json(value).decode("utf-8")


_BAD = object()


def _session_value(name: str, value):
    """A changed session value as stored: text fields as text, numbers positive and finite,
    the band a pair low < high; ``_BAD`` for anything else (None stays None: unset)."""
    if value is None:
        return None
    if name == "target_band_N":
        if (isinstance(value, (list, tuple)) and len(value) == 2
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in value)
                and 0 <= value[0] < value[1]):
            return [float(value[0]), float(value[1])]
        return _BAD
    if name in ("tolerance_N", "target_hold_s", "tip_area_cm2"):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
            return float(value)
        return _BAD
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return _BAD


class _Column:
    def __init__(self, group, name: str, dtype, description: str, unit: str | None = None) -> None:
        self.ds = group.create_dataset(
            name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(L.CHUNK_SAMPLES,),
            compression="gzip", compression_opts=L.GZIP_LEVEL, shuffle=True,
        )
        self.ds.attrs["description"] = description
        if unit:
            self.ds.attrs["unit"] = unit

    def append(self, values: np.ndarray) -> None:
        n0 = self.ds.shape[0]
        self.ds.resize((n0 + values.size,))
        self.ds[n0:] = values


def write_table(group, name: str, columns: dict[str, tuple[np.ndarray | list, str]], description: str):
    """A table as a group of equal-length 1-D datasets (NWB DynamicTable style).

    ``columns``: name -> (values, description). Strings are variable-length UTF-8.
    """
    import h5py

    g = group.create_group(name)
    g.attrs["description"] = description
    g.attrs.create("colnames", list(columns), dtype=h5py.string_dtype("utf-8"))
    n = None
    for col, (values, desc) in columns.items():
        if isinstance(values, np.ndarray):
            data = values
        elif values and isinstance(values[0], str) or (not values and desc.startswith("(str)")):
            if values:
                ds = g.create_dataset(col, data=list(values), dtype=h5py.string_dtype("utf-8"))
            else:
                ds = g.create_dataset(col, shape=(0,), dtype=h5py.string_dtype("utf-8"))
            ds.attrs["description"] = desc.removeprefix("(str) ")
            n = len(values)
            continue
        else:
            data = np.asarray(values, dtype=np.float64) if values else np.zeros(0)
        ds = g.create_dataset(col, data=data)
        ds.attrs["description"] = desc
        n = data.shape[0]
    g.attrs["n_rows"] = np.int64(n or 0)
    return g


class SessionBuilder:
    """Feed it journal items in order (``add``), then ``write(out_path)``."""

    def __init__(self, h5file, meta: dict, *, engine: bool = True) -> None:
        self.f = h5file
        self.meta = meta
        session = dict(meta.get("session") or {})
        self.session = session  # the final values once every settings change is applied
        self.initial_session = dict(session)  # as recording started (what the engine starts with)
        self.settings_rows: list[tuple[float, str, str, str]] = []  # time, field, value, previous (JSON)
        self._engine_changes: list[tuple[float, dict]] = []  # not yet applied to the engine
        self.engine_changes_applied = 0
        self.start_epoch = float(meta.get("start_epoch_s") or 0.0)
        self.sensor: dict = {}
        self.calibration: dict = {}
        self.events: list[LinkEvent] = []
        self.markers: list[Marker] = []
        self.end: dict | None = None
        self.n_samples = 0
        self.first_host = math.nan
        self.last_host = math.nan
        self._buf: list[SampleBlock] = []
        self._buf_n = 0
        self._prev = None  # (segment, seq, host_time_s) of the last sample written
        self.seq_gaps: list[dict] = []
        self.saturated = 0
        self.adjusted = 0
        self._last_t: float | None = None
        acq = h5file.require_group(L.ACQ)
        force = acq.create_group("force")
        self.g_force = force
        self.c_force = _Column(force, "data", "<f4", "calibrated force, compression positive", "N")
        self.c_time = _Column(force, "timestamps", "<f8", "host clock, seconds since session_start_time", "seconds")
        self.c_dev = _Column(force, "device_time", "<f8", "device clock, seconds since the sensor powered up (NaN for gauges)", "seconds")
        self.c_seq = _Column(force, "seq", "<i8", "sample index from the device (unwrapped) or reading counter; a jump within a segment is lost samples")
        self.c_seg = _Column(force, "segment", "<i4", "link segment: increments at each reconnect or device reset")
        self.c_sat = _Column(force, "saturated", "u1", "1 where the sample was at an ADC rail or beyond full scale")
        self.c_counts: _Column | None = None
        self._counts_pending_fill = 0
        # The hold engine, fed as samples arrive.
        self.engine = None
        self.engine_note = "not run"
        self.params = None
        if engine:
            loaded, reason = _load_engine()
            if loaded is None:
                self.engine_note = reason
            else:
                HoldEngine, HoldParams = loaded
                try:
                    params = HoldParams(target_hold_s=session.get("target_hold_s"))
                    band = session.get("target_band_N")
                    self.engine = HoldEngine(params, session.get("tolerance_N"), tuple(band) if band else None,
                                             live_updates=False)
                    self.params = params
                    self.engine_note = "ok"
                except Exception as exc:  # noqa: BLE001 - a broken engine must not lose the recording
                    self.engine_note = f"hold engine failed to start ({type(exc).__name__}: {exc})"

    # ---- items ------------------------------------------------------------------------

    def add(self, kind: str, value) -> None:
        if kind == "block":
            if len(value):
                self._buf.append(value)
                self._buf_n += len(value)
                if self._buf_n >= L.WRITE_BATCH_SAMPLES:
                    self._flush()
        elif kind == "event":
            self.events.append(value)
        elif kind == "marker":
            self.markers.append(value)
        elif kind == "sensor":
            self.sensor = dict(value.get("sensor") or value)
            self.calibration = dict(value.get("calibration") or {})
        elif kind == "end":
            self.end = value
        elif kind == "settings":
            self._settings(value)
        elif kind == "meta":
            pass

    def _settings(self, change) -> None:
        """A settings change: a row per field, the final values, and (tolerance, band, target
        hold) a change the engine replays from its time on."""
        t = float(change.host_time_s) - self.start_epoch
        engine = {}
        for name, value in change.changes.items():
            if not isinstance(name, str) or not name or name in ("session_id", "session_start_time"):
                continue
            value = _session_value(name, value)
            if value is _BAD:
                continue  # a journal from elsewhere: only well-formed values are used
            previous = self.session.get(name)
            self.settings_rows.append((t, name, dumps_json(value).decode("utf-8"),
                                       dumps_json(previous).decode("utf-8")))
            self.session[name] = value
            if name in L.ENGINE_SESSION_FIELDS:
                engine[L.ENGINE_SESSION_FIELDS[name]] = value
        if engine:
            self._engine_changes.append((t, engine))
            self._engine_changes.sort(key=lambda c: c[0])

    def _feed_engine(self, t: np.ndarray, f: np.ndarray) -> None:
        """Feed the engine, applying each pending settings change before the first sample at
        or after its time (as ``analyze_holds(..., changes=...)`` does)."""
        i = 0
        while self._engine_changes and (t.size == 0 or self._engine_changes[0][0] <= t[-1]):
            at, settings = self._engine_changes.pop(0)
            j = max(i, int(np.searchsorted(t, at, side="left")))
            if j > i:
                self.engine.feed(t[i:j], f[i:j])
                i = j
            self.engine.configure(**settings)
            self.engine_changes_applied += 1
        if i < t.size:
            self.engine.feed(t[i:], f[i:])

    def _increasing(self, t: np.ndarray) -> np.ndarray:
        """Timestamps made strictly increasing (by at least ``TIME_EPS_S``): the host clock
        mapping may step back by a few ms when it finds a lower-latency observation; such
        samples are moved forward (counted in the ``timestamps_adjusted`` attribute)."""
        eps = L.TIME_EPS_S
        k = np.arange(t.size, dtype=np.float64) * eps
        u = np.maximum.accumulate(t - k)
        if self._last_t is not None:
            u = np.maximum(u, self._last_t + eps)
        # Only samples the running maximum really raised are moved: (t - k) + k is not always
        # t in floating point, and untouched samples must keep their exact values.
        moved = u != t - k
        fixed = np.where(moved, u + k, t)
        self.adjusted += int(np.count_nonzero(moved))
        self._last_t = float(fixed[-1])
        return fixed

    def _flush(self) -> None:
        if not self._buf:
            return
        blocks, self._buf, self._buf_n = self._buf, [], 0
        host = np.concatenate([b.host_time_s for b in blocks])
        t_rel = self._increasing(host - self.start_epoch)
        force32 = np.concatenate([b.force_n for b in blocks]).astype("<f4")
        seq = np.concatenate([b.seq for b in blocks]).astype("<i8")
        seg = np.concatenate([np.full(len(b), b.segment, dtype="<i4") for b in blocks])
        sat = np.concatenate([b.saturated for b in blocks]).astype("u1")
        self.c_time.append(t_rel)
        self.c_force.append(force32)
        self.c_dev.append(np.concatenate([b.device_time_s for b in blocks]).astype("<f8"))
        self.c_seq.append(seq)
        self.c_seg.append(seg)
        self.c_sat.append(sat)
        if any(b.counts is not None for b in blocks):
            if self.c_counts is None:
                raw = self.f[L.ACQ].create_group("raw_counts")
                self.c_counts = _Column(raw, "data", "<i4", "raw ADC counts as sent by the sensor", "N")
                self._raw_group = raw
                if self.n_samples:
                    self.c_counts.append(np.full(self.n_samples, L.NO_COUNTS, dtype="<i4"))
            self.c_counts.append(np.concatenate([
                b.counts.astype("<i4") if b.counts is not None else np.full(len(b), L.NO_COUNTS, dtype="<i4")
                for b in blocks
            ]))
        elif self.c_counts is not None:
            self.c_counts.append(np.full(host.size, L.NO_COUNTS, dtype="<i4"))
        # Lost samples within a segment (seq jumps), including across batches.
        if self._prev is not None:
            seg_all = np.concatenate([[self._prev[0]], seg])
            seq_all = np.concatenate([[self._prev[1]], seq])
            t_all = np.concatenate([[self._prev[2]], t_rel])
        else:
            seg_all, seq_all, t_all = seg, seq, t_rel
        jumps = np.flatnonzero((np.diff(seq_all) > 1) & (seg_all[1:] == seg_all[:-1]))
        for j in jumps.tolist():
            self.seq_gaps.append({"start": float(t_all[j]), "stop": float(t_all[j + 1]),
                                  "samples": int(seq_all[j + 1] - seq_all[j] - 1)})
        self._prev = (int(seg[-1]), int(seq[-1]), float(t_rel[-1]))
        if self.n_samples == 0:
            self.first_host = float(host[0])
        self.last_host = float(host[-1])
        self.n_samples += host.size
        self.saturated += int(sat.sum())
        if self.engine is not None:
            try:
                # Exactly the values stored (float32 force), so re-analysing the file agrees.
                self._feed_engine(t_rel, force32.astype(np.float64))
            except Exception as exc:  # noqa: BLE001
                self.engine = None
                self.engine_note = f"hold engine failed ({type(exc).__name__}: {exc})"

    # ---- the rest of the file -----------------------------------------------------------

    def finish(self, *, recovered: bool = False, recovery: dict | None = None,
               in_memory_note: str = "") -> None:
        import h5py

        self._flush()
        f = self.f
        rel = self.start_epoch
        software_version = _software_version()
        end_epoch = (self.end or {}).get("host_time_s") or (self.last_host if self.n_samples else rel)
        # Root: what this file is.
        f.attrs["schema"] = L.SCHEMA_NAME
        f.attrs["schema_version"] = L.SCHEMA_VERSION
        f.attrs["session_id"] = str(self.session.get("session_id", ""))
        f.attrs["session_start_time"] = iso_time(rel)
        f.attrs["session_start_epoch_s"] = np.float64(rel)
        f.attrs["session_end_time"] = iso_time(float(end_epoch))
        f.attrs["file_create_date"] = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
        f.attrs["software"] = "nmt-monitor"
        f.attrs["software_version"] = software_version
        f.attrs["recording_software_version"] = str(self.meta.get("software_version", ""))
        f.attrs["n_samples"] = np.int64(self.n_samples)
        f.attrs["stopped_by"] = str((self.end or {}).get("reason", "unknown (recording did not stop cleanly)"))
        f.attrs["recovered"] = np.uint8(recovered)
        if recovery:
            f.attrs["recovery"] = dumps_json(recovery).decode("utf-8")
        if in_memory_note:
            f.attrs["storage_note"] = in_memory_note
        f.attrs["description"] = (
            "One nmt-monitor session: force samples, link events, markers, holds. "
            "Layout: docs/hdf5-layout.md of nmt-monitor; readable with plain h5py."
        )

        # General: session and sensor metadata.
        gs = f.require_group(L.GENERAL_SESSION)
        for name in L.SESSION_FIELDS:
            if name == "session_start_time":
                gs.attrs[name] = iso_time(rel)
            else:
                _set_attr(gs, name, self.session.get(name))
        for name, value in self.session.items():  # anything else the caller recorded
            if name not in L.SESSION_FIELDS:
                _set_attr(gs, name, value)
        gsen = f.require_group(L.GENERAL_SENSOR)
        for name, value in self.sensor.items():
            _set_attr(gsen, name, value)
        gcal = f.require_group(L.GENERAL_CALIBRATION)
        for name, value in self.calibration.items():
            _set_attr(gcal, name, value)

        # The force series attributes (NWB TimeSeries).
        g = self.g_force
        g.attrs["neurodata_type"] = "TimeSeries"
        g.attrs["description"] = "calibrated force on the sensor tip, newtons, compression positive"
        g.attrs["comments"] = "timestamps are host time (device time mapped onto the host clock for the NMT sensor)"
        ds = self.c_force.ds
        ds.attrs["conversion"] = np.float64(1.0)
        ds.attrs["offset"] = np.float64(0.0)
        ds.attrs["resolution"] = np.float64(-1.0)
        ds.attrs["unit"] = "N"
        ts = self.c_time.ds
        ts.attrs["interval"] = np.int64(1)
        ts.attrs["timestamps_adjusted"] = np.int64(self.adjusted)
        ts.attrs["unit"] = "seconds"
        ts.attrs["reference"] = "session_start_time (root attribute); add session_start_epoch_s for Unix time"
        if self.c_counts is not None:
            raw = self._raw_group
            raw.attrs["neurodata_type"] = "TimeSeries"
            raw.attrs["description"] = (
                "raw ADC counts; newtons = data * conversion + offset for untared samples. After a tare "
                "on the device (see link_events kind 'tare') the sensor subtracts its tare offset, so "
                "use acquisition/force for newtons."
            )
            gain = self.calibration.get("gain_n_per_count")
            offset_counts = self.calibration.get("offset_counts")
            if gain is None:
                gain = self.sensor.get("nominal_gain_n_per_count", math.nan)
                offset_counts = 0.0 if offset_counts is None else offset_counts
            raw["data"].attrs["conversion"] = np.float64(gain)
            raw["data"].attrs["offset"] = np.float64(-float(gain) * float(offset_counts or 0.0))
            raw["data"].attrs["unit"] = "N"
            raw["data"].attrs["missing_value"] = np.int32(L.NO_COUNTS)
            raw["timestamps"] = h5py.SoftLink(f"/{L.FORCE}/timestamps")

        # Markers and link events.
        write_table(
            f[L.ACQ], "markers",
            {
                "timestamps": (np.asarray([m.host_time_s - rel for m in self.markers], dtype=np.float64),
                               "seconds since session_start_time"),
                "kind": ([m.kind for m in self.markers], "(str) discomfort | release_felt | site | note | ..."),
                "text": ([m.text for m in self.markers], "(str) site label or free text"),
            },
            "Markers set during the session (NWB AnnotationSeries-like).",
        )
        write_table(
            f[L.ACQ], "link_events",
            {
                "timestamps": (np.asarray([e.host_time_s - rel for e in self.events], dtype=np.float64),
                               "seconds since session_start_time"),
                "kind": ([e.kind for e in self.events],
                         "(str) connected | disconnected | reconnected | gap | device_reset | reply | tare | warning"),
                "detail": ([dumps_json(e.detail).decode("utf-8") for e in self.events], "(str) JSON object"),
            },
            "Everything that happened on the sensor link.",
        )

        rows = self.settings_rows
        write_table(
            f[L.ACQ], "settings_changes",
            {
                "timestamps": (np.asarray([r[0] for r in rows], dtype=np.float64),
                               "seconds since session_start_time; the value applies from here on"),
                "field": ([r[1] for r in rows], "(str) the general/session attribute that changed"),
                "value": ([r[2] for r in rows], "(str) the new value, JSON (null: unset)"),
                "previous": ([r[3] for r in rows], "(str) the value before, JSON (null: unset)"),
            },
            "Session settings changed while recording (setup form, band keys); general/session has the "
            "final values. Tolerance, target band and target hold time apply to the holds from their time on.",
        )

        # Invalid times: lost samples, disconnections, device resets.
        invalid = [(g_["start"], g_["stop"], "gap", g_["samples"], "") for g_ in self.seq_gaps]
        down: float | None = None
        for e in self.events:
            t = e.host_time_s - rel
            if e.kind == "disconnected":
                down = t
            elif e.kind == "reconnected":
                start = down if down is not None else float(e.detail.get("disconnected_at_s", e.host_time_s)) - rel
                invalid.append((start, t, "disconnected", -1, str(e.detail.get("reason", ""))))
                down = None
            elif e.kind == "device_reset":
                invalid.append((t, t, "device_reset", -1, ""))
        if down is not None:
            stop = (self.last_host - rel) if self.n_samples else down
            invalid.append((down, max(stop, down), "disconnected", -1, "not reconnected before the end"))
        invalid.sort(key=lambda r: r[0])
        write_table(
            f.require_group("intervals"), "invalid_times",
            {
                "start_time": (np.asarray([r[0] for r in invalid], dtype=np.float64), "seconds since session_start_time"),
                "stop_time": (np.asarray([r[1] for r in invalid], dtype=np.float64), "seconds since session_start_time"),
                "kind": ([r[2] for r in invalid], "(str) gap | disconnected | device_reset"),
                "samples_lost": (np.asarray([r[3] for r in invalid], dtype=np.int64), "samples lost (-1: unknown)"),
                "detail": ([r[4] for r in invalid], "(str) reason, if known"),
            },
            "Times without valid data (NWB invalid_times).",
        )

        # Derived: holds and over-tolerance episodes, and what produced them.
        holds, over, zeros = [], [], []
        if self.engine is not None:
            try:
                self._feed_engine(np.empty(0), np.empty(0))  # changes after the last sample
                self.engine.finish()
                holds, over = list(self.engine.holds), list(self.engine.over_tolerance)
                zeros = list(self.engine.zero_track)
            except Exception as exc:  # noqa: BLE001
                self.engine_note = f"hold engine failed ({type(exc).__name__}: {exc})"
                holds, over, zeros = [], [], []
        pe = f.require_group(L.ENGINE)
        pe.attrs["description"] = "the hold engine (nmt_monitor.dsp) that produced intervals/holds and intervals/over_tolerance"
        pe.attrs["engine"] = "nmt_monitor.dsp.HoldEngine"
        pe.attrs["software_version"] = software_version
        pe.attrs["status"] = self.engine_note
        if self.params is not None:
            params = dataclasses.asdict(self.params)
            pe.attrs["params_json"] = json.dumps(params)
            for name, value in params.items():
                _set_attr(pe, name, value)
        # the values the engine started with; later ones are in acquisition/settings_changes
        _set_attr(pe, "tolerance_N", self.initial_session.get("tolerance_N"))
        _set_attr(pe, "target_band_N", self.initial_session.get("target_band_N"))
        _set_attr(pe, "target_hold_s", self.initial_session.get("target_hold_s"))
        pe.attrs["settings_changes_replayed"] = np.int64(self.engine_changes_applied)
        write_table(f.require_group("intervals"), "holds", _hold_columns(holds),
                    "Holds found by the hold engine (NWB TimeIntervals); metrics in docs/metrics.md.")
        write_table(
            f["intervals"], "over_tolerance",
            {
                "start_time": (np.asarray([o.start_s for o in over], dtype=np.float64), "alert fired, s since session_start_time"),
                "stop_time": (np.asarray([o.end_s for o in over], dtype=np.float64), "s since session_start_time"),
                "peak_N": (np.asarray([o.peak_N for o in over], dtype=np.float64), "peak filtered force, N"),
            },
            "Episodes of filtered force above the client's tolerance (NWB TimeIntervals).",
        )
        for name in ("holds", "over_tolerance"):
            f["intervals"][name].attrs["produced_by"] = f"/{L.ENGINE}"
        write_table(
            pe, "zero_track",
            {
                "time": (np.asarray([z[0] for z in zeros], dtype=np.float64), "seconds since session_start_time"),
                "zero_N": (np.asarray([z[1] for z in zeros], dtype=np.float64),
                           "what the unloaded sensor read, N (forces in the holds are net of it)"),
            },
            "The zero the hold engine learnt from the signal (docs/metrics.md, Zero): where it was "
            "learnt or moved, and once a second during a rest.",
        )


def _hold_columns(holds: list) -> dict:
    try:
        from nmt_monitor.dsp import Hold
        names = [fl.name for fl in dataclasses.fields(Hold)]
    except Exception:  # noqa: BLE001
        names = ["start_s", "end_s", "duration_s", "mean_N", "sd_N", "cv_pct", "drift_pct", "drift_N_per_s", "flags"]
    cols: dict = {}
    for name in names:
        values = [getattr(h, name) for h in holds]
        target = {"start_s": "start_time", "end_s": "stop_time"}.get(name, name)
        if name == "flags":
            cols[target] = ([",".join(v) for v in values], "(str) comma-separated flags: drift, over_tolerance, short, ...")
        elif values and all(isinstance(v, str) for v in values) or name == "ended_by":
            cols[target] = ([str(v) for v in values], f"(str) {name}")
        else:
            unit = "seconds since session_start_time" if target in ("start_time", "stop_time") else name
            cols[target] = (np.asarray([math.nan if v is None else float(v) for v in values], dtype=np.float64), unit)
    return cols


def first_line(exc: BaseException) -> str:
    """One line of an exception's message (h5py's can run to a dozen lines)."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    line = lines[0] if lines else type(exc).__name__
    code = getattr(exc, "errno", None)
    if isinstance(exc, OSError) and code and not isinstance(exc, StorageWriteError):
        # h5py: "Driver write request failed (file write failed: time = ..., errno = 28, ...": the
        # system's reason first, then HDF5's own words without its parenthesised details.
        reason = os.strerror(code)
        if reason not in line:
            line = f"{reason}: {line.split(' (', 1)[0]}"
    return line


def check_free_space(directory: Path, needed_bytes: int, what: str) -> None:
    """Refuse (``StorageWriteError``, ENOSPC) to write ``what`` when ``directory`` has less
    than ``needed_bytes`` free: h5py copes badly with a full disk."""
    import errno
    import shutil

    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return
    if free < needed_bytes:
        raise StorageWriteError(errno.ENOSPC, f"not enough free space for {what}: {_size(free)} free in "
                                f"{directory}, need {_size(needed_bytes)}")


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def build_session_file(items: Iterable[tuple[str, object]], out_path: Path, *, recovered: bool = False,
                       recovery_info=None, in_memory_note: str = "", engine: bool = True,
                       meta: dict | None = None, needed_bytes: int = 0) -> int:
    """Write the HDF5 session from journal items (the first should be ``("meta", dict)``;
    ``meta`` is used when it is not, e.g. when writing the META record to the journal failed).

    Writes a uniquely named ``.<out>.*.partial`` in the same directory, syncs it, then
    hard-links it to ``out_path`` (fails if that exists: never overwrites). Returns the number
    of samples. ``recovery_info`` may be a callable evaluated after all items were consumed (the
    journal scan is only known then). ``needed_bytes``: refuse to start with less free space.
    Every failure other than ``FileExistsError`` is a ``StorageWriteError`` (an ``OSError``) with
    a one-line message; the partial file is removed.
    """
    import h5py

    out_path = Path(out_path)
    items = iter(items)
    first = next(items, None)
    pending: list = []
    if first is None or first[0] != "meta":
        if meta is None:
            raise ValueError("journal has no metadata record")
        if first is not None:
            pending.append(first)
        first = ("meta", meta)
    if needed_bytes:
        check_free_space(out_path.parent, needed_bytes, out_path.name)
    try:
        fd, tmp = new_partial_file(out_path)
    except OSError as exc:
        raise StorageWriteError(exc.errno or 0, first_line(exc)) from None
    os.close(fd)
    try:
        f = h5py.File(tmp, "w")
        try:
            builder = SessionBuilder(f, first[1], engine=engine)
            for kind, value in pending:
                builder.add(kind, value)
            for kind, value in items:
                builder.add(kind, value)
            recovery = recovery_info() if callable(recovery_info) else recovery_info
            builder.finish(recovered=recovered, recovery=recovery, in_memory_note=in_memory_note)
            n = builder.n_samples
            f.flush()  # a full disk fails here, while the file is still open (see _abandon)
        except BaseException:
            _abandon(f)
            raise
        f.close()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        _link_no_overwrite(tmp, out_path)
    except BaseException as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(exc, (FileExistsError, StorageWriteError)) or not isinstance(exc, Exception):
            raise
        # h5py raises RuntimeError/OSError with pages of HDF5 diagnostics (e.g. on a full disk).
        raise StorageWriteError(getattr(exc, "errno", None) or 0, first_line(exc)) from None
    _sync_dir(out_path.parent)
    return n


def _abandon(f) -> None:
    """Close an HDF5 file whose writing failed. HDF5 retries the failed writes when closing,
    fails again, and leaves objects that crash the process (SIGSEGV) when freed; so its file
    descriptor is first pointed at /dev/null: the close then succeeds and the (partial) file is
    removed by the caller."""
    try:
        vfd = f.id.get_vfd_handle()
        if isinstance(vfd, int) and vfd >= 0 and os.name == "posix":
            nul = os.open(os.devnull, os.O_RDWR)
            try:
                os.dup2(nul, vfd)
            finally:
                os.close(nul)
    except Exception:  # noqa: BLE001 - best effort
        pass
    try:
        f.close()
    except Exception:  # noqa: BLE001
        pass


def new_partial_file(target: Path) -> tuple[int, Path]:
    """A uniquely named, readable temp file next to ``target`` (``.<name>.XXXX.partial``), so
    concurrent writers never share or delete each other's partial file: (fd, path)."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    try:
        os.chmod(name, 0o644)
    except OSError:
        pass
    return fd, Path(name)


def link_no_overwrite(tmp: Path, final: Path) -> None:
    """Give ``tmp`` the name ``final`` unless ``final`` exists (``FileExistsError``); ``tmp``
    is gone afterwards. Atomic with hard links; on file systems without them (FAT, exFAT,
    some SMB shares) check then rename."""
    _link_no_overwrite(Path(tmp), Path(final))


def _link_no_overwrite(tmp: Path, final: Path) -> None:
    try:
        os.link(tmp, final)  # atomic, and fails with FileExistsError rather than replacing
    except FileExistsError:
        raise
    except OSError:
        # A file system without hard links: check, then rename (tiny race, still never silent).
        if final.exists():
            raise FileExistsError(f"{final} exists") from None
        os.replace(tmp, final)
        return
    tmp.unlink()


def _sync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
