"""Exporting a session as an NWB file (Neurodata Without Borders) with pynwb (the research extra).

What goes where (docs/hdf5-layout.md has our own layout, which follows NWB's conventions):

| our session file | NWB file |
| --- | --- |
| `session_start_time`, `session_id`, `file_create_date` | the NWBFile's own fields |
| `general/session`: therapist | `experimenter` |
| client (or `--subject`), `--age`, `--sex` | `subject`: `subject_id`, species *Homo sapiens*, age (ISO 8601; `P0D/` = not known), sex (`U` = not known) |
| site, tip, tolerance, band, target hold time | `protocol` (a sentence) and `data_collection` (JSON) |
| notes | `notes` |
| `general/sensor`, `general/calibration` | a `Device` (serial number, model, firmware, calibration) |
| `acquisition/force` | `acquisition/force`: TimeSeries, newtons, float32, its own timestamps |
| `acquisition/raw_counts` | `acquisition/raw_counts`: TimeSeries, `conversion`/`offset` to newtons, same timestamps |
| device time | `acquisition/device_time`: TimeSeries, seconds of the sensor's clock, same timestamps |
| `intervals/holds` | `intervals/holds`: TimeIntervals, one column per metric (each interval table is left out when empty) |
| `intervals/over_tolerance` | `intervals/over_tolerance`: TimeIntervals with `peak_N` |
| `acquisition/markers` | `intervals/markers`: TimeIntervals, start = stop = the marker's time, `kind`, `text` |
| `intervals/invalid_times` (gaps) | `invalid_times` with `kind`, `samples_lost` |
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from nmt_monitor.storage.session_file import open_session

HOLD_NUMBERS = ("duration_s", "mean_N", "sd_N", "cv_pct", "drift_pct", "drift_N_per_s", "level_start_N",
                "level_end_N", "peak_N", "ramp_in_s", "ramp_rate_N_per_s", "overshoot_N", "overshoot_pct",
                "time_over_tolerance_s", "time_in_target_s", "time_in_target_pct", "gap_s", "zero_N")
HOLD_DESCRIPTIONS = {
    "duration_s": "hold duration (s)", "mean_N": "mean net force over the hold (N)",
    "sd_N": "standard deviation of the force over the hold (N)", "cv_pct": "coefficient of variation (%)",
    "drift_pct": "level over the last 2 s minus level over the first 2 s, in % of the first (%)",
    "drift_N_per_s": "slope of the level over the hold (N/s)", "level_start_N": "level over the first 2 s (N)",
    "level_end_N": "level over the last 2 s (N)", "peak_N": "highest force in the hold (N)",
    "ramp_in_s": "duration of the approach ramp (s; NaN if unknown)",
    "ramp_rate_N_per_s": "mean rate of the approach ramp (N/s; NaN if unknown)",
    "overshoot_N": "force above the plateau at the end of the ramp (N; NaN if unknown)",
    "overshoot_pct": "overshoot in % of the plateau (%; NaN if unknown)",
    "time_over_tolerance_s": "time over the client's tolerance during the hold (s)",
    "time_in_target_s": "time in the target band (s; NaN without a band)",
    "time_in_target_pct": "time in the target band in % of the hold (%; NaN without a band)",
    "gap_s": "samples missing in the hold (s)", "zero_N": "zero level the engine estimated (N)",
}


def _start_time(attrs: dict) -> datetime:
    text = attrs.get("session_start_time")
    if text:
        dt = datetime.fromisoformat(str(text))
        return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    return datetime.fromtimestamp(float(attrs.get("session_start_epoch_s", 0.0)), tz=timezone.utc)


def _label(value, fallback: str) -> str:
    text = str(value or "").strip()
    return text or fallback


def protocol_text(meta: dict) -> str:
    """The session's settings as a sentence."""
    parts = []
    if meta.get("site"):
        parts.append(f"site {meta['site']}")
    if meta.get("contact_tip"):
        area = meta.get("tip_area_cm2")
        parts.append(f"contact tip {meta['contact_tip']}" + (f" ({area:g} cm2)" if area else ""))
    band = meta.get("target_band_N")
    if band is not None:
        parts.append(f"target band {float(band[0]):g}-{float(band[1]):g} N")
    if meta.get("tolerance_N") is not None:
        parts.append(f"client's tolerance {float(meta['tolerance_N']):g} N")
    if meta.get("target_hold_s") is not None:
        parts.append(f"target hold time {float(meta['target_hold_s']):g} s")
    return "Static holds (ischemic compression) measured with a handheld force sensor" + (
        ": " + "; ".join(parts) if parts else "") + "."


def _jsonable(meta: dict) -> dict:
    out = {}
    for k, v in meta.items():
        if isinstance(v, np.ndarray):
            v = v.tolist()
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


#: NWB's way to say the age is not known: "at least 0 days" (an ISO 8601 range open at the top)
AGE_UNKNOWN = "P0D/"
SEXES = ("M", "F", "U", "O")


def build_nwbfile(session, *, subject_id: str | None = None, age: str | None = None, sex: str = "U"):
    """An ``pynwb.NWBFile`` holding ``session`` (an ``open_session`` result with arrays)."""
    from nmt_monitor import __version__
    from nmt_monitor.extras import require

    pynwb = require("pynwb", "export --nwb")
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from pynwb.epoch import TimeIntervals
    from pynwb.file import Subject

    attrs, meta, sensor, cal = session.attrs, session.metadata, session.sensor, session.calibration
    start = _start_time(attrs)
    subject = _label(subject_id or meta.get("client"), "unknown")
    site = meta.get("site") or ""
    nwb = pynwb.NWBFile(
        session_description=("A neuromuscular therapy session recorded with nmt-monitor: force applied by the "
                             "therapist's thumb, knuckle or elbow on the client's tissue"
                             + (f", at {site}" if site else "") + "."),
        identifier=_label(attrs.get("session_id"), session.path.stem),
        session_id=_label(attrs.get("session_id"), session.path.stem),
        session_start_time=start,
        file_create_date=datetime.now(timezone.utc),
        experimenter=[str(meta["therapist"])] if meta.get("therapist") else None,
        experiment_description="Manual pressure (ischemic compression, neuromuscular therapy) measured with a "
                               "handheld force sensor; holds found by the nmt-monitor hold engine.",
        protocol=protocol_text(meta),
        notes=str(meta.get("notes") or "") or None,
        data_collection=json.dumps({"session": _jsonable(meta), "stopped_by": attrs.get("stopped_by"),
                                    "recovered": bool(attrs.get("recovered", 0))}, default=str),
        source_script=f"nmt-monitor {__version__} export --nwb (from {session.path.name}, schema "
                      f"{session.schema_version})",
        source_script_file_name=session.path.name,
        keywords=["neuromuscular therapy", "ischemic compression", "manual pressure", "force"],
        subject=Subject(subject_id=subject, species="Homo sapiens", sex=sex, age=age or AGE_UNKNOWN,
                        description="the client receiving the treatment"
                                    + ("" if age else " (age not recorded)")),
    )
    model = str(sensor.get("protocol") or "")
    serial = str(sensor.get("serial_number") or "") or None
    description = (f"{'nmt-monitor handheld force sensor' if model == 'nmt' else 'force gauge'}"
                   + (f", firmware {sensor['firmware']}" if sensor.get("firmware") else "")
                   + (f", full scale {float(sensor['full_scale_n']):g} N" if sensor.get("full_scale_n") else "")
                   + (f", gauge unit {sensor['gauge_unit']}" if sensor.get("gauge_unit") else "")
                   + (f"; calibration {cal.get('source') or sensor.get('calibration')}" if cal or sensor.get(
                       "calibration") else "")
                   + (f" dated {cal['date']}" if cal.get("date") else "")
                   + (f", {float(cal['gain_n_per_count']):.6g} N/count" if cal.get("gain_n_per_count") else ""))
    DeviceModel = getattr(pynwb.device, "DeviceModel", None)
    if DeviceModel is not None:
        dm = DeviceModel(name="force sensor model", manufacturer="unknown",
                         description="nmt-monitor sensor protocol" if model == "nmt" else "commercial force gauge")
        nwb.add_device_model(dm)
        nwb.create_device(name="force_sensor", description=description, serial_number=serial, model=dm)
    else:  # pragma: no cover - pynwb before DeviceModel
        nwb.create_device(name="force_sensor", description=description, serial_number=serial)

    t = np.asarray(session.time_s, dtype=np.float64)
    force = pynwb.TimeSeries(
        name="force", data=H5DataIO(np.asarray(session.force_n, dtype=np.float32), compression="gzip", shuffle=True),
        unit="N", timestamps=H5DataIO(t, compression="gzip", shuffle=True), continuity="continuous",
        description="calibrated force in newtons, compression positive (the device 'force_sensor')",
        comments="timestamps: the sensor's own clock mapped onto the host clock, s since session_start_time; "
                 "lost samples are absent (see invalid_times), never interpolated")
    nwb.add_acquisition(force)
    counts = session.arrays.get("counts")
    if counts is not None and cal.get("gain_n_per_count"):
        gain = float(cal["gain_n_per_count"])
        nwb.add_acquisition(pynwb.TimeSeries(
            name="raw_counts", data=H5DataIO(np.asarray(counts, dtype=np.int32), compression="gzip", shuffle=True),
            unit="N", conversion=gain, offset=-gain * float(cal.get("offset_counts", 0.0)), timestamps=force,
            continuity="continuous", description="raw 24-bit ADC counts; newtons = data * conversion + offset "
            "(samples after a tare on the device are offset by it; 'force' is always right)"))
    device_t = session.arrays.get("device_time_s")
    if device_t is not None and np.isfinite(device_t).any():
        nwb.add_acquisition(pynwb.TimeSeries(
            name="device_time", data=H5DataIO(np.asarray(device_t, dtype=np.float64), compression="gzip"),
            unit="s", timestamps=force, continuity="continuous",
            description="the sensor's own clock at each sample, s since it powered up (restarts after a reset)"))

    holds = TimeIntervals(name="holds", description="static holds found by the nmt-monitor hold engine: start "
                          "where the approach settled onto the plateau, stop where the release (or a step to a new "
                          "level) began; metrics in docs/metrics.md of nmt-monitor")
    for name in HOLD_NUMBERS:
        holds.add_column(name=name, description=HOLD_DESCRIPTIONS[name])
    holds.add_column(name="ended_by", description="what ended the hold: release, change (a step), end_of_data, ...")
    holds.add_column(name="flags", description="flags that apply, joined with ';': drift, over_tolerance, short, ...")
    for h in session.holds:  # (a table without rows is left out: its columns would have no type)
        holds.add_row(start_time=float(h["start_s"]), stop_time=float(h["end_s"]),
                      **{k: np.nan if h.get(k) is None else float(h[k]) for k in HOLD_NUMBERS},
                      ended_by=str(h.get("ended_by") or ""), flags=";".join(h.get("flags") or []))
    if session.holds:
        nwb.add_time_intervals(holds)
    over = TimeIntervals(name="over_tolerance", description="episodes of filtered force above the client's "
                         "tolerance (start: when the alert fired)")
    over.add_column(name="peak_N", description="highest force in the episode (N)")
    for o in session.over_tolerance:
        over.add_row(start_time=float(o["start_s"]), stop_time=float(o["end_s"]), peak_N=float(o["peak_N"]))
    if session.over_tolerance:
        nwb.add_time_intervals(over)
    markers = TimeIntervals(name="markers", description="instants marked during the session (start = stop): "
                            "discomfort (client), release_felt (therapist), site (a new treatment site), note")
    markers.add_column(name="kind", description="discomfort, release_felt, site or note")
    markers.add_column(name="text", description="the site label or note text (may be empty)")
    for m in session.markers:
        markers.add_row(start_time=float(m["time_s"]), stop_time=float(m["time_s"]), kind=str(m["kind"]),
                        text=str(m.get("text") or ""))
    if session.markers:
        nwb.add_time_intervals(markers)
    if session.invalid_times:
        nwb.add_invalid_times_column(name="kind", description="why: gap (samples lost), disconnected, ...")
        nwb.add_invalid_times_column(name="samples_lost", description="samples lost in the interval")
        for g in session.invalid_times:
            lost = g.get("samples_lost")
            nwb.add_invalid_time_interval(start_time=float(g["start_s"]), stop_time=float(g["end_s"]),
                                          kind=str(g.get("kind") or ""),
                                          samples_lost=float("nan") if lost is None else float(lost))
    return nwb


def export_nwb(session_path: Path | str, nwb_path: Path | str, *, subject_id: str | None = None,
               age: str | None = None, sex: str = "U", overwrite: bool = False) -> int:
    """Write ``session_path`` as an NWB file; returns the number of samples. Written to a
    temporary name and renamed (never half a file; never replaces an existing file without
    ``overwrite``, and never one of our session files)."""
    from nmt_monitor.extras import require
    from nmt_monitor.storage.h5writer import link_no_overwrite, new_partial_file

    pynwb = require("pynwb", "export --nwb")
    nwb_path = Path(nwb_path)
    session = open_session(session_path)  # checked before anything is created
    if session.n_samples == 0:
        from nmt_monitor.storage.session_file import SessionFileError

        raise SessionFileError(f"{session.path}: the session holds no samples: nothing to export")
    if nwb_path.exists():
        if not overwrite:
            raise FileExistsError(nwb_path)
        if _is_our_session(nwb_path):
            raise FileExistsError(f"{nwb_path} is an nmt-monitor session: never overwritten by an export")
    nwb = build_nwbfile(session, subject_id=subject_id, age=age, sex=sex)
    fd, tmp = new_partial_file(nwb_path)
    os.close(fd)
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not end in '.nwb'")  # the temporary name
            with pynwb.NWBHDF5IO(str(tmp), "w") as io:
                io.write(nwb)
        if overwrite:
            os.replace(tmp, nwb_path)
        else:
            link_no_overwrite(tmp, nwb_path)
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass
    return session.n_samples


def _is_our_session(path: Path) -> bool:
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return f.attrs.get("schema") == "nmt-monitor-session"
    except (OSError, ValueError):
        return False
