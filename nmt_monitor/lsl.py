"""Lab Streaming Layer: the force and the monitor's events, live, beside other signals (``--lsl``).

Two outlets, so LabRecorder records them with EEG, EMG or a pain slider in one XDF file:

- ``<name> force``: type ``Force``, one float32 channel in newtons, at the sensor's nominal rate.
  Each sample carries the time it was *taken*: the sensor's own clock, mapped onto the host clock
  by the sensor link (``SampleBlock.host_time_s``) and from there onto LSL's clock
  (``pylsl.local_clock()``) by an offset measured at start (and again each second, so a step of
  the wall clock does not move the stream). Never the arrival time: the USB latency timer clumps
  arrivals by up to 16 ms. (A commercial gauge has no clock of its own: its samples carry the
  time they were received.)
- ``<name> markers``: type ``Markers``, irregular rate, one string channel: a JSON object per
  event, ``{"event": "hold_ended", "duration_s": 23.8, "mean_N": 40.1, ...}``, stamped with the
  time the event refers to (a hold's start or end, the alert, the key press), which is earlier
  than when it is sent when the engine needs a look-back to be sure (a hold's end).

Events: ``hold_started`` (level_N), ``hold_ended`` (duration_s, mean_N, sd_N, cv_pct, drift_pct,
peak_N, time_in_target_pct, flags, ended_by), ``drift`` (drift_pct, level_N, reference_N),
``over_tolerance_started`` (level_N, tolerance_N), ``over_tolerance_ended`` (duration_s,
peak_N), and the markers ``discomfort``, ``release_felt``, ``site`` (text), ``note`` (text).
``hold_progress`` (once a second during a hold) is not sent: the force stream carries it.

pylsl is part of the research extra; its wheels carry liblsl.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from nmt_monitor.extras import require  # numpy and pylsl are imported when a stream starts

#: Marker name of each engine event that is sent (others are not).
EVENT_NAMES = {
    "hold_started": "hold_started",
    "hold_ended": "hold_ended",
    "drift_warning": "drift",
    "over_tolerance_started": "over_tolerance_started",
    "over_tolerance_ended": "over_tolerance_ended",
}
MARKER_KINDS = ("discomfort", "release_felt", "site", "note")


def _user_config_exists() -> bool:
    """liblsl reads LSLAPICFG, ./lsl_api.cfg, ~/lsl_api/lsl_api.cfg or /etc/lsl_api/lsl_api.cfg."""
    candidates = [os.environ.get("LSLAPICFG", ""), "lsl_api.cfg",
                  str(Path.home() / "lsl_api" / "lsl_api.cfg"), "/etc/lsl_api/lsl_api.cfg"]
    return any(c and os.path.isfile(c) for c in candidates)


_configured = False


def load_pylsl():
    """pylsl, or a one-line ``MissingExtra``. liblsl's own log goes to stderr at INFO level; unless
    the user has an LSL configuration file (which then rules), only its warnings are shown."""
    global _configured
    pylsl = require("pylsl", "--lsl")
    if not _configured:
        _configured = True
        if not _user_config_exists() and hasattr(pylsl, "set_config_content"):
            try:
                pylsl.set_config_content("[log]\nlevel = -1\n")  # warnings and errors only
            except Exception:  # noqa: BLE001 - a liblsl without it keeps its default
                pass
    return pylsl


class ClockOffset:
    """LSL's clock minus the host's wall clock, measured with the tightest pair of readings."""

    STEP_S = 0.002  # a change this large is a step of the wall clock (or of NTP), not noise
    CONFIRM = 3  # ... when that many measurements a second apart agree on it

    def __init__(self, local_clock, wall=time.time) -> None:
        self._local, self._wall = local_clock, wall
        self.value = self.measure()
        self._next = time.monotonic() + 1.0
        self._candidates: list[float] = []

    def measure(self, tries: int = 7) -> float:
        best = None
        for _ in range(tries):
            w0 = self._wall()
            lc = self._local()
            w1 = self._wall()
            if best is None or w1 - w0 < best[0]:
                best = (w1 - w0, lc - (w0 + w1) / 2)
        return best[1]

    def current(self) -> float:
        """The offset; re-measured once a second, and changed only when several measurements in
        a row agree it moved by more than ``STEP_S`` (the wall clock was stepped): a reading
        delayed on a busy machine never jitters or shifts the timestamps."""
        now = time.monotonic()
        if now >= self._next:
            self._next = now + 1.0
            fresh = self.measure()
            if abs(fresh - self.value) <= self.STEP_S:
                self._candidates = []
            else:
                self._candidates.append(fresh)
                c = self._candidates[-self.CONFIRM:]
                if len(c) == self.CONFIRM and max(c) - min(c) < self.STEP_S / 2:
                    self.value = float(sorted(c)[len(c) // 2])
                    self._candidates = []
        return self.value


def _r(value, digits: int = 3):
    if value is None:
        return None
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def marker_text(event: str, **figures) -> str:
    return json.dumps({"event": event, **{k: v for k, v in figures.items() if v is not None}}, separators=(",", ":"))


def event_marker(ev) -> tuple[str, float] | None:
    """(marker text, the time it refers to on the engine's axis) for an engine event, or None."""
    name = EVENT_NAMES.get(ev.kind)
    if name is None:
        return None
    if ev.kind == "hold_started":
        return marker_text(name, level_N=_r(ev.level_N, 2)), float(ev.start_s)
    if ev.kind == "hold_ended":
        h = ev.hold
        return marker_text(name, duration_s=_r(h.duration_s), mean_N=_r(h.mean_N, 2), sd_N=_r(h.sd_N, 3),
                           cv_pct=_r(h.cv_pct, 2), drift_pct=_r(h.drift_pct, 2), peak_N=_r(h.peak_N, 2),
                           time_in_target_pct=_r(h.time_in_target_pct, 1), flags=list(h.flags),
                           ended_by=h.ended_by), float(h.end_s)
    if ev.kind == "drift_warning":
        return marker_text(name, drift_pct=_r(ev.drift_pct, 2), level_N=_r(ev.level_N, 2),
                           reference_N=_r(ev.reference_N, 2)), float(ev.time_s)
    if ev.kind == "over_tolerance_started":
        return marker_text(name, level_N=_r(ev.level_N, 2), tolerance_N=_r(ev.tolerance_N, 2)), float(ev.time_s)
    return marker_text(name, duration_s=_r(ev.end_s - ev.start_s), peak_N=_r(ev.peak_N, 2)), float(ev.end_s)


class LslPublisher:
    """The force outlet and the marker outlet. Feed it what the sensor link gives
    (``push_block``), the hold engine's events (``push_events``) and markers (``marker``).

    ``engine=True``: run a hold engine of its own on the blocks (``stream``, ``record``); the live
    monitor feeds the events of its engine instead. Outlets open at the first block (the sensor's
    rate and serial number are known then) or at ``open()``."""

    def __init__(self, name: str = "nmt-monitor", *, engine: bool = False, params=None,
                 tolerance_n: float | None = None, target_band_n=None, site: str = "") -> None:
        self.pylsl = load_pylsl()
        self.name = name
        self.clock = ClockOffset(self.pylsl.local_clock)
        self.force_outlet = None
        self.marker_outlet = None
        self._engine = None
        self._engine_args = (params, tolerance_n, target_band_n) if engine else None
        self._origin: float | None = None  # host time of the engine's t = 0
        self._last_t = -math.inf
        self._pending_site = site
        self.samples = 0
        self.markers = 0

    # ---- outlets ----------------------------------------------------------------------------
    def open(self, info=None) -> None:
        """Create the outlets (``info``: the sensor's ``SensorInfo``, for rate and serial)."""
        if self.force_outlet is not None:
            return
        pylsl = self.pylsl
        rate = float(getattr(info, "rate_hz", 0.0) or 0.0)
        serial = str(getattr(info, "serial_number", "") or "") or "unknown"
        protocol = str(getattr(info, "protocol", "") or "")
        src = f"nmt-monitor:{serial}"
        fi = pylsl.StreamInfo(f"{self.name} force", "Force", 1, rate, pylsl.cf_float32, f"{src}:force")
        desc = fi.desc()
        ch = desc.append_child("channels").append_child("channel")
        ch.append_child_value("label", "force")
        ch.append_child_value("unit", "N")
        ch.append_child_value("type", "Force")
        acq = desc.append_child("acquisition")
        acq.append_child_value("manufacturer", "nmt-monitor" if protocol == "nmt" else "force gauge")
        acq.append_child_value("serial_number", serial)
        acq.append_child_value("timestamps", "sensor clock mapped to LSL local_clock (not arrival time)"
                               if protocol == "nmt" else "receive time (the gauge has no clock)")
        mi = pylsl.StreamInfo(f"{self.name} markers", "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string,
                              f"{src}:markers")
        mi.desc().append_child_value("format", "JSON object per event: {\"event\": name, figures...}")
        self.force_outlet = pylsl.StreamOutlet(fi, chunk_size=0, max_buffered=360)
        self.marker_outlet = pylsl.StreamOutlet(mi)
        if self._engine_args is not None:
            from nmt_monitor.dsp import HoldEngine

            params, tol, band = self._engine_args
            self._engine = HoldEngine(params, tol, band)

    def lsl_time(self, host_time_s):
        """Host wall-clock time (s, Unix) -> LSL time (``pylsl.local_clock``)."""
        return host_time_s + self.clock.current()

    # ---- input ------------------------------------------------------------------------------
    def push_block(self, block, info=None) -> None:
        """The samples of one ``SampleBlock``, stamped with the sensor's time; with an engine of
        its own, its events too."""
        import numpy as np

        if len(block) == 0:
            return
        self.open(info)
        ts = self.lsl_time(np.asarray(block.host_time_s, dtype=np.float64))
        force = np.asarray(block.force_n, dtype=np.float32).reshape(-1, 1)
        self.force_outlet.push_chunk(force, ts.tolist())
        self.samples += force.shape[0]
        if self._origin is None:
            self._origin = float(block.host_time_s[0])
            if self._pending_site:
                self.marker("site", self._pending_site, host_time_s=self._origin)
                self._pending_site = ""
        if self._engine is not None:
            t = np.asarray(block.host_time_s, dtype=np.float64) - self._origin
            f = np.asarray(block.force_n, dtype=np.float64)
            keep = t > np.fmax.accumulate(np.r_[self._last_t, t[:-1]])  # the engine's time must increase
            if not keep.all():
                t, f = t[keep], f[keep]
            if t.size:
                self._last_t = float(t[-1])
                self.push_events(self._engine.feed(t, f), self._origin)

    def push_events(self, events, time_origin: float | None) -> None:
        """Engine events whose times are seconds since ``time_origin`` (host time)."""
        if time_origin is None or self.marker_outlet is None:
            return
        for ev in events:
            m = event_marker(ev)
            if m is not None:
                text, t = m
                self._push_marker(text, self.lsl_time(time_origin + t))

    def marker(self, kind: str, text: str = "", host_time_s: float | None = None) -> None:
        """A marker (discomfort, release_felt, site, note) at ``host_time_s`` (default: now)."""
        self.open(None)  # (a no-op once open)
        t = self.pylsl.local_clock() if host_time_s is None else self.lsl_time(host_time_s)
        self._push_marker(marker_text(kind, text=text or None), t)

    def _push_marker(self, text: str, lsl_t: float) -> None:
        self.marker_outlet.push_sample([text], float(lsl_t))
        self.markers += 1

    def finish(self) -> None:
        """End of data: the engine's last events (a hold still running ends here)."""
        if self._engine is not None and self._origin is not None:
            self.push_events(self._engine.finish(), self._origin)
            self._engine = None

    def close(self) -> None:
        self.finish()
        self.force_outlet = None
        self.marker_outlet = None


class LslTap:
    """A sensor reader whose blocks also go to LSL: ``get()`` and ``drain()`` hand out the same
    items as the reader's and feed the publisher on the way; everything else is the reader's.
    So ``stream`` and ``record`` need no change to their loops."""

    def __init__(self, reader, publisher: LslPublisher) -> None:
        self._reader = reader
        self.publisher = publisher

    def __getattr__(self, name):
        return getattr(self._reader, name)

    def _feed(self, item) -> None:
        from nmt_monitor.acquisition import SampleBlock

        if isinstance(item, SampleBlock):
            self.publisher.push_block(item, self._reader.info)

    def get(self, *args, **kwargs):
        item = self._reader.get(*args, **kwargs)
        self._feed(item)
        return item

    def drain(self):
        items = self._reader.drain()
        for item in items:
            self._feed(item)
        self.publisher.finish()
        return items


def add_lsl_argument(parser) -> None:
    parser.add_argument("--lsl", nargs="?", const="nmt-monitor", default=None, metavar="NAME",
                        help="also publish the force and the events (holds, drift, over-tolerance, markers) as Lab "
                             "Streaming Layer streams 'NAME force' and 'NAME markers' (default NAME: nmt-monitor), "
                             "for LabRecorder; needs the research extra")


def tap_reader(reader, args):
    """``reader`` as is, or with ``--lsl`` an ``LslTap`` (the engine judged against the session's
    tolerance and band when the command has them)."""
    if not getattr(args, "lsl", None):
        return reader
    tolerance = band = hold = None
    site = ""
    if hasattr(args, "tolerance") and hasattr(args, "site"):
        from nmt_monitor.commands.record import session_metadata

        meta = session_metadata(args)
        tolerance, band, hold, site = meta.tolerance_N, meta.target_band_N, meta.target_hold_s, meta.site
    from nmt_monitor.dsp import HoldParams

    params = HoldParams(target_hold_s=hold) if hold else None
    return LslTap(reader, LslPublisher(args.lsl, engine=True, params=params, tolerance_n=tolerance,
                                       target_band_n=band, site=site))
