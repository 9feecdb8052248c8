"""Exporting a session into a BIDS dataset: the force as a continuous recording, holds and
markers as events (docs/research.md, "BIDS").

Layout (BIDS 1.11, "Physiological recordings" in the beh datatype; Motion-BIDS has no force
channel type)::

    DIR/dataset_description.json, README, participants.tsv, participants.json  (created if absent)
    DIR/sub-<subject>/[ses-<session>/]beh/
        sub-<subject>[_ses-<session>]_task-<task>_recording-force_physio.tsv.gz   one column: force (N)
        sub-<subject>[_ses-<session>]_task-<task>_recording-force_physio.json     SamplingFrequency, StartTime, Columns
        sub-<subject>[_ses-<session>]_task-<task>_events.tsv                      holds, over-tolerance, markers, gaps
        sub-<subject>[_ses-<session>]_task-<task>_events.json                     what each column means

Time zero of the events (``onset``) is the session's start (``session_start_time``); the
physio file's ``StartTime`` is its first sample on the same axis. The physio rows are samples
on a regular grid at ``SamplingFrequency``: the sensor's sample counter places each sample,
so the rate is the sensor's own as seen by the host clock (fitted, e.g. 999.98 Hz), and a
sample lost on the link is a row of ``n/a``, never an interpolated value.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import re
from pathlib import Path

import numpy as np

from nmt_monitor.errors import UserError
from nmt_monitor.storage.session_file import SessionFileError, open_session

BIDS_VERSION = "1.11.0"
LABEL = re.compile(r"[0-9a-zA-Z]+")
EVENT_COLUMNS = ("onset", "duration", "trial_type", "mean_N", "cv_pct", "drift_pct", "peak_N", "flags", "text",
                 "samples_lost")
TASK_DESCRIPTION = ("A therapist applies static pressure (ischemic compression) with thumb, knuckle or elbow on "
                    "the client's tissue through a handheld force sensor; holds, drift and force over the client's "
                    "tolerance are found by the nmt-monitor hold engine.")
EVENTS_SIDECAR = {
    "onset": {"Description": "start of the event, s since the session started (session_start_time)",
              "Units": "s"},
    "duration": {"Description": "length of the event (0 for an instant)", "Units": "s"},
    "trial_type": {
        "Description": "what happened",
        "Levels": {
            "hold": "a static hold: from where the approach settled onto the plateau to where the release (or a "
                    "step to a new level) began",
            "over_tolerance": "filtered force above the client's tolerance (onset: when the alert fired)",
            "discomfort": "the client reported discomfort", "release_felt": "the therapist felt the tissue release",
            "site": "a new treatment site (label in text)", "note": "a note (in text)",
            "gap": "samples lost on the sensor link (rows of n/a in the physio file)",
        },
    },
    "mean_N": {"Description": "hold: mean net force", "Units": "N"},
    "cv_pct": {"Description": "hold: coefficient of variation of the force", "Units": "%"},
    "drift_pct": {"Description": "hold: level over the last 2 s minus level over the first 2 s, in % of the first",
                  "Units": "%"},
    "peak_N": {"Description": "hold or over_tolerance: highest force", "Units": "N"},
    "flags": {"Description": "hold: flags that apply, joined with ';' (drift, over_tolerance, short, ...)"},
    "text": {"Description": "site label, note text, or why samples were lost"},
    "samples_lost": {"Description": "gap: number of samples lost"},
}


def label(value: str, what: str) -> str:
    text = str(value)
    if not LABEL.fullmatch(text):
        raise UserError(f"{what} {value!r}: a BIDS label is letters and digits only (e.g. 01, pre, nmt)")
    return text


def default_subject(meta: dict) -> str:
    """The client's name or code with everything but letters and digits left out."""
    text = re.sub(r"[^0-9a-zA-Z]", "", str(meta.get("client") or ""))
    if not text:
        raise UserError("the session has no client: give --subject ID (letters and digits)")
    return text


def default_session(attrs: dict) -> str:
    """The session's start, local time as recorded: 20261120T142307."""
    text = str(attrs.get("session_start_time") or "")
    digits = re.sub(r"[^0-9T]", "", text.split(".")[0].split("+")[0])
    return digits if LABEL.fullmatch(digits or "-") else "1"


def sample_grid(t: np.ndarray, seq: np.ndarray | None, segment: np.ndarray | None,
                nominal_hz: float | None) -> tuple[np.ndarray, float, float]:
    """(row of each sample on a regular grid, sampling frequency, time of row 0).

    The sample counter places each sample (lost samples leave empty rows); the frequency is
    fitted to the host time of the counter over the longest stretch, so rows stay on the
    host's clock over hours, and the grid's start is the median offset of that stretch (a few
    early samples whose host time stepped do not move it). Reconnects (a new ``segment``, or
    the counter going back) restart the counter: each stretch is placed by its own times."""
    n = t.size
    if n == 1:
        return np.zeros(1, np.int64), float(nominal_hz or 1.0), float(t[0])
    if seq is None:
        d = np.diff(t)
        d = d[d > 0]
        fs = float(nominal_hz) if nominal_hz else 1.0 / float(np.median(d))
        start = float(t[0])
        rows = np.round((t - start) * fs).astype(np.int64)
    else:
        seg = np.zeros(n, np.int64) if segment is None else np.asarray(segment, np.int64)
        starts = np.flatnonzero(np.r_[True, (np.diff(seg) != 0) | (np.diff(seq) <= 0)])
        ends = np.r_[starts[1:], n]
        longest = int(np.argmax(ends - starts))
        a, b = starts[longest], ends[longest]
        k = (seq[a:b] - seq[a]).astype(np.float64)
        fs = float(nominal_hz) if nominal_hz else 1.0
        if b - a >= 2 and k[-1] > 0:
            fs = 1.0 / np.polyfit(k, t[a:b] - t[a], 1)[0]

        def origin(s: int, e: int) -> float:  # time of the stretch's counter value seq[s]
            return float(np.median(t[s:e] - (seq[s:e] - seq[s]) / fs))

        start = origin(int(starts[0]), int(ends[0]))
        rows = np.empty(n, np.int64)
        last = -1
        for s, e in zip(starts, ends):
            first = max(int(round((origin(s, e) - start) * fs)), last + 1)
            rows[s:e] = first + (seq[s:e] - seq[s])
            last = int(rows[e - 1])
    keep = np.r_[True, np.diff(rows) > 0]  # a repeated counter value: the first sample stays
    if not keep.all():
        rows = np.where(keep, rows, -1)
    return rows, fs, start


def session_events(session) -> list[dict]:
    """Holds, over-tolerance episodes, markers and gaps as event rows, by onset."""
    rows = []
    for h in session.holds:
        rows.append({"onset": h["start_s"], "duration": h["end_s"] - h["start_s"], "trial_type": "hold",
                     "mean_N": h.get("mean_N"), "cv_pct": h.get("cv_pct"), "drift_pct": h.get("drift_pct"),
                     "peak_N": h.get("peak_N"), "flags": ";".join(h.get("flags") or [])})
    for o in session.over_tolerance:
        rows.append({"onset": o["start_s"], "duration": o["end_s"] - o["start_s"], "trial_type": "over_tolerance",
                     "peak_N": o.get("peak_N")})
    for m in session.markers:
        rows.append({"onset": m["time_s"], "duration": 0.0, "trial_type": str(m["kind"]), "text": m.get("text")})
    for g in session.invalid_times:
        rows.append({"onset": g["start_s"], "duration": g["end_s"] - g["start_s"], "trial_type": "gap",
                     "text": g.get("kind"), "samples_lost": g.get("samples_lost")})
    rows.sort(key=lambda r: (r["onset"], r["trial_type"]))
    return rows


def _cell(value, digits: int = 4) -> str:
    if value is None or value == "":
        return "n/a"
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return "n/a"
        return f"{float(value):.{digits}f}".rstrip("0").rstrip(".") if digits else f"{float(value):g}"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return " ".join(str(value).split())  # no tabs or new lines inside a cell


def write_events_tsv(rows: list[dict], out, columns=EVENT_COLUMNS) -> None:
    out.write("\t".join(columns) + "\n")
    for r in rows:
        out.write("\t".join(_cell(r.get(c), 6 if c in ("onset", "duration") else 4) for c in columns) + "\n")


def _write_physio(path: Path, force: np.ndarray, rows: np.ndarray, chunk: int = 200_000) -> int:
    """Rows 0..max(rows) of force (n/a where no sample), gzip-compressed TSV without header."""
    valid = rows >= 0
    rows, force = rows[valid], force[valid]
    n_rows = int(rows[-1]) + 1
    # no file name and no time in the gzip header (BIDS asks for neither: the same data, the same bytes)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as gz, \
            io.TextIOWrapper(gz, encoding="utf-8", newline="\n") as out:
        start = 0
        pos = 0
        while start < n_rows:
            stop = min(n_rows, start + chunk)
            values = np.full(stop - start, np.nan)
            end = int(np.searchsorted(rows, stop, side="left"))
            values[rows[pos:end] - start] = force[pos:end]
            pos = end
            text = np.char.mod("%.4f", values)
            text[np.isnan(values)] = "n/a"
            out.write("\n".join(text.tolist()) + "\n")
            start = stop
    return n_rows


def _json(path: Path, doc: dict) -> None:
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _dataset_files(root: Path, subject: str) -> None:
    from nmt_monitor import __version__

    desc = root / "dataset_description.json"
    if not desc.exists():
        _json(desc, {"Name": "nmt-monitor sessions", "BIDSVersion": BIDS_VERSION, "DatasetType": "raw",
                     "GeneratedBy": [{"Name": "nmt-monitor", "Version": __version__,
                                      "Description": "export --bids of recorded sessions"}]})
    readme = root / "README"
    if not readme.exists():
        readme.write_text("Manual pressure in neuromuscular therapy, recorded with nmt-monitor (a handheld force "
                          "sensor).\nEach session: beh/*_recording-force_physio.tsv.gz (force in newtons) and "
                          "*_events.tsv (static holds with their metrics, over-tolerance episodes, markers).\n",
                          encoding="utf-8")
    participants = root / "participants.tsv"
    ids = []
    if participants.exists():
        lines = participants.read_text(encoding="utf-8").splitlines()
        ids = [ln.split("\t")[0] for ln in lines[1:] if ln.strip()]
    if f"sub-{subject}" not in ids:
        ids.append(f"sub-{subject}")
        participants.write_text("participant_id\n" + "".join(f"{i}\n" for i in sorted(ids)), encoding="utf-8")
    pj = root / "participants.json"
    if not pj.exists():
        _json(pj, {"participant_id": {"Description": "the client receiving the treatment (sub-<label>)"}})


def export_bids(session_path: Path | str, root: Path | str, *, subject: str | None = None,
                session_label: str | None = None, task: str = "nmt", overwrite: bool = False) -> dict:
    """Write one session into the BIDS dataset at ``root`` (created if needed); returns what
    was written: paths, rows, sampling frequency."""
    from nmt_monitor import __version__

    session = open_session(session_path, arrays=("time_s", "force_n", "seq", "segment"))
    if session.n_samples == 0:
        raise SessionFileError(f"{session.path}: the session holds no samples: nothing to export")
    meta, attrs, sensor = session.metadata, session.attrs, session.sensor
    sub = label(subject, "--subject") if subject else default_subject(meta)
    ses = label(session_label, "--session") if session_label else default_session(attrs)
    task = label(task, "--task")
    root = Path(root)
    folder = root / f"sub-{sub}" / f"ses-{ses}" / "beh"
    stem = f"sub-{sub}_ses-{ses}_task-{task}"
    physio = folder / f"{stem}_recording-force_physio.tsv.gz"
    names = [physio, physio.with_name(f"{stem}_recording-force_physio.json"), folder / f"{stem}_events.tsv",
             folder / f"{stem}_events.json"]
    existing = [p for p in names if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(existing[0])
    t = np.asarray(session.time_s, dtype=np.float64)
    seq = session.arrays.get("seq")
    rows, fs, start = sample_grid(t, None if seq is None else np.asarray(seq, np.int64), session.arrays.get("segment"),
                           float(sensor.get("rate_hz") or 0) or None)
    folder.mkdir(parents=True, exist_ok=True)
    _dataset_files(root, sub)
    written = []
    try:
        tmp = physio.with_name("." + physio.name + ".partial")
        n_rows = _write_physio(tmp, np.asarray(session.force_n, dtype=np.float64), rows)
        os.replace(tmp, physio)
        written.append(physio)
        protocol = "nmt-monitor handheld force sensor" if sensor.get("protocol") == "nmt" else "force gauge"
        task_name = "neuromuscular therapy: static holds (ischemic compression)"
        sidecar = {
            "SamplingFrequency": round(fs, 6), "StartTime": round(start, 6), "Columns": ["force"],
            "PhysioType": "generic", "TaskName": task_name, "TaskDescription": TASK_DESCRIPTION,
            "force": {"Description": "force applied by the therapist, compression positive (calibrated)",
                      "Units": "N"},
            "Manufacturer": "n/a" if sensor.get("protocol") == "nmt" else "commercial force gauge",
            "ManufacturersModelName": protocol,
            "SoftwareVersions": f"nmt-monitor {attrs.get('recording_software_version') or __version__} "
                                f"(exported by {__version__})",
        }
        if sensor.get("serial_number"):
            sidecar["DeviceSerialNumber"] = str(sensor["serial_number"])
        _json(names[1], sidecar)
        written.append(names[1])
        events = session_events(session)
        buf = io.StringIO()
        write_events_tsv(events, buf)
        names[2].write_text(buf.getvalue(), encoding="utf-8")
        written.append(names[2])
        _json(names[3], {"TaskName": task_name, "TaskDescription": TASK_DESCRIPTION, **EVENTS_SIDECAR})
        written.append(names[3])
    except BaseException:
        for p in written + [physio.with_name("." + physio.name + ".partial")]:
            try:
                p.unlink()
            except OSError:
                pass
        raise
    return {"files": [str(p) for p in written], "rows": n_rows, "samples": int((rows >= 0).sum()),
            "sampling_frequency": fs, "events": len(events), "subject": sub, "session": ses, "task": task}
