"""Where the monitor's samples come from: the ``SampleSource`` protocol and its implementations.

* ``ReaderSource`` wraps a live ``SensorReader`` (a serial port, a socket, ``sim://``).
* ``ReplaySource`` plays arrays (usually a recorded session) back against a clock, with
  speed, pause and seek.
* ``MemorySource`` hands out a finite list of items, batch by batch (tests, demos).

A ``Station`` calls ``read(timeout)`` from its acquisition thread: it returns what has arrived (possibly
nothing) within ``timeout`` seconds and never blocks longer, so the worker can stop promptly.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from nmt_monitor.acquisition import LinkEvent, SampleBlock

from .clock import Clock, system_clock

Item = SampleBlock | LinkEvent


@dataclass(frozen=True)
class SourceStatus:
    """What the status bar shows about the link (or the replay)."""

    port: str = ""
    protocol: str = ""
    state: str = "connecting"  # connecting | streaming | reconnecting | stopped | paused | ended
    rate_hz: float = 0.0
    frames_lost: int = 0
    samples_lost: int = 0
    reconnects: int = 0
    # replay only
    position_s: float | None = None
    duration_s: float | None = None
    speed: float | None = None
    extra: dict = field(default_factory=dict)


@runtime_checkable
class SampleSource(Protocol):
    kind: str  # "live" or "replay"

    def start(self) -> None: ...

    def read(self, timeout: float) -> list[Item]: ...

    def status(self) -> SourceStatus: ...

    def tare(self) -> bool: ...  # False: the source cannot tare (the monitor zeroes in software)

    def stop(self) -> None: ...

    @property
    def sensor_info(self): ...  # SensorInfo or dict for the recorder, or None


class ReaderSource:
    """A live ``SensorReader``."""

    kind = "live"

    def __init__(self, reader) -> None:
        self.reader = reader

    def start(self) -> None:
        if not self.reader.running:  # the command usually starts it first (one-line errors)
            self.reader.start()

    def read(self, timeout: float) -> list[Item]:
        first = self.reader.get(timeout=timeout)
        if first is None:
            return []
        return [first, *self.reader.drain()]

    def status(self) -> SourceStatus:
        s = self.reader.stats()
        return SourceStatus(port=s.port, protocol=s.protocol, state=s.state, rate_hz=s.rate_hz,
                            frames_lost=s.frames_lost, samples_lost=s.samples_lost, reconnects=s.reconnects)

    def tare(self) -> bool:
        info = self.reader.info
        if info is not None and info.protocol == "nmt":
            self.reader.tare()
            return True
        return False

    def stop(self) -> None:
        self.reader.stop()

    def stats_event(self) -> LinkEvent:
        """The link's counters now, as the ``link_stats`` event a recording ends with."""
        import dataclasses

        return LinkEvent("link_stats", self.reader.clock(), dataclasses.asdict(self.reader.stats()))

    @property
    def sensor_info(self):
        return self.reader.info


class ConnectingReaderSource(ReaderSource):
    """A live sensor that may not answer yet: ``start`` never raises. Until the sensor answers,
    ``read`` tries again every ``retry_s`` seconds (each time with a fresh reader from
    ``make_reader``) and hands out a ``warning`` event (``code: not_connected``, the reason)
    when the reason changes; the reader's own ``connected`` event follows once it answers. The
    class view uses it: one missing sensor must not stop the others."""

    def __init__(self, make_reader, retry_s: float = 2.0) -> None:
        super().__init__(make_reader())
        self._make_reader = make_reader
        self.retry_s = float(retry_s)
        self._connected = False
        self._next_try = 0.0
        self._error = ""
        self._pending: list[Item] = []
        self._stopped = threading.Event()

    @property
    def connected(self) -> bool:
        return self._connected

    def start(self) -> None:
        if not self._connected:
            self._try()

    def _try(self) -> None:
        import time

        from nmt_monitor.errors import UserError

        self._next_try = time.monotonic() + self.retry_s
        try:
            self.reader.start()
        except UserError as exc:
            message = str(exc)
            if message != self._error:
                self._error = message
                self._pending.append(LinkEvent("warning", self.reader.clock(),
                                               {"code": "not_connected", "message": message}))
            self.reader = self._make_reader()  # a fresh reader for the next attempt
            return
        self._connected = True
        self._error = ""

    def read(self, timeout: float) -> list[Item]:
        import time

        if not self._connected:
            if not self._stopped.is_set() and time.monotonic() >= self._next_try:
                self._try()
            if not self._connected:
                out, self._pending = self._pending, []
                if not out:
                    self._stopped.wait(timeout)
                return out
        out, self._pending = self._pending, []
        return out + super().read(timeout)

    def status(self) -> SourceStatus:
        if not self._connected:
            return SourceStatus(port=self.reader.url, state="not connected" if self._error else "connecting")
        return super().status()

    def tare(self) -> bool:
        return self._connected and super().tare()

    def stop(self) -> None:
        self._stopped.set()
        if self._connected:
            super().stop()

    def stats_event(self) -> LinkEvent | None:
        return super().stats_event() if self._connected else None

    @property
    def sensor_info(self):
        return self.reader.info if self._connected else None


class MemorySource:
    """A finite source: ``batches`` of items handed out one batch per ``read``.

    With ``auto=False`` a batch is handed out only after ``step()`` (tests decide when the
    next thing happens). The link state follows the events handed out (``disconnected`` ->
    reconnecting, ``connected``/``reconnected`` -> streaming).
    """

    kind = "live"

    def __init__(self, batches: list[list[Item]], *, auto: bool = True, port: str = "memory://",
                 protocol: str = "nmt", rate_hz: float = 1000.0, sensor_info=None) -> None:
        self._batches = [list(b) for b in batches]
        self._next = 0
        self._released = len(self._batches) if auto else 0
        self._cond = threading.Condition()
        self._stopped = False
        self._state = "connecting"
        self.port = port
        self.protocol = protocol
        self.rate_hz = rate_hz
        self.tares = 0
        self._sensor_info = sensor_info or {"protocol": protocol, "serial_number": "MEM-0001",
                                            "rate_hz": rate_hz, "full_scale_n": 200.0}

    @property
    def exhausted(self) -> bool:
        with self._cond:
            return self._next >= len(self._batches)

    @property
    def handed_out(self) -> int:
        with self._cond:
            return self._next

    def step(self, n: int = 1) -> None:
        with self._cond:
            self._released = min(len(self._batches), self._released + n)
            self._cond.notify_all()

    def start(self) -> None:
        with self._cond:
            self._state = "streaming"

    def read(self, timeout: float) -> list[Item]:
        with self._cond:
            if self._next >= self._released and not self._stopped:
                self._cond.wait(timeout)
            if self._stopped or self._next >= self._released:
                return []
            batch = self._batches[self._next]
            self._next += 1
            for item in batch:
                if isinstance(item, LinkEvent):
                    if item.kind == "disconnected":
                        self._state = "reconnecting"
                    elif item.kind in ("connected", "reconnected"):
                        self._state = "streaming"
            return batch

    def status(self) -> SourceStatus:
        with self._cond:
            return SourceStatus(port=self.port, protocol=self.protocol, state=self._state,
                                rate_hz=self.rate_hz if self._state == "streaming" else 0.0)

    def tare(self) -> bool:
        self.tares += 1
        return False

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._state = "stopped"
            self._cond.notify_all()

    @property
    def sensor_info(self):
        return self._sensor_info


class ReplaySource:
    """Plays ``time_s``/``force_n`` (seconds from the session start) against ``clock``.

    ``speed`` scales time; ``pause``/``resume``/``seek`` move the play head. A seek (and the
    start) emits a ``LinkEvent('seek')`` followed by everything from 0 to the new position at
    once, so the monitor rebuilds its state (holds, trace) for that point of the session.
    The recorded link events and settings changes (``LinkEvent('settings_change')``, detail
    ``field``/``value``) come between the samples, at their time.
    """

    kind = "replay"

    def __init__(self, time_s, force_n, *, clock: Clock = system_clock, speed: float = 1.0,
                 name: str = "replay", start_epoch_s: float = 0.0, protocol: str = "",
                 events: list[dict] | None = None, sensor: dict | None = None,
                 settings_changes: list[dict] | None = None) -> None:
        if not speed > 0:
            raise ValueError("speed must be positive")
        self.t = np.ascontiguousarray(time_s, dtype=np.float64)
        self.f = np.ascontiguousarray(force_n, dtype=np.float64)
        self.clock = clock
        self.speed = float(speed)
        self.name = name
        self.start_epoch_s = float(start_epoch_s)
        self.protocol = protocol
        changes = [{"time_s": float(r["time_s"]), "kind": "settings_change",
                    "detail": {"field": r["field"], "value": r["value"]}} for r in settings_changes or []]
        self.events = sorted([*(events or []), *changes], key=lambda e: e["time_s"])  # stable: changes in order
        self._sensor = sensor or {}
        self.duration_s = float(self.t[-1]) if self.t.size else 0.0
        self._lock = threading.Lock()
        self._pos0 = float(self.t[0]) if self.t.size else 0.0  # play head at _clock0
        self._clock0 = clock()
        self._paused = False
        self._sent = 0  # samples handed out
        self._ev_sent = 0
        self._reset = True  # emit a 'seek' before the next samples
        self._stopped = False
        self._wake = threading.Event()

    @classmethod
    def from_session(cls, session, *, clock: Clock = system_clock, speed: float = 1.0) -> ReplaySource:
        """From a session file's path, or a ``Session`` already opened with time and force."""
        from nmt_monitor.storage import Session, open_session

        s = session if isinstance(session, Session) else open_session(session, arrays=("time_s", "force_n"))
        path = s.path if isinstance(session, Session) else session
        events = [e for e in s.link_events if e["kind"] in ("disconnected", "reconnected", "gap", "device_reset")]
        return cls(s.time_s, s.force_n, clock=clock, speed=speed, name=Path(path).name,
                   start_epoch_s=s.start_epoch_s, protocol=str(s.sensor.get("protocol", "")),
                   events=events, sensor=s.sensor, settings_changes=s.settings_changes)

    # ---- play head ----------------------------------------------------------------------
    def position(self) -> float:
        with self._lock:
            return self._position()

    def _position(self) -> float:
        if self._paused:
            return min(self._pos0, self.duration_s)
        return min(self._pos0 + (self.clock() - self._clock0) * self.speed, self.duration_s)

    @property
    def paused(self) -> bool:
        return self._paused

    def toggle_pause(self) -> bool:
        with self._lock:
            self._pos0 = self._position()
            self._clock0 = self.clock()
            self._paused = not self._paused
            self._wake.set()
            return self._paused

    def seek(self, delta_s: float | None = None, to_s: float | None = None) -> float:
        with self._lock:
            pos = self._position() if to_s is None else float(to_s)
            if delta_s is not None:
                pos += delta_s
            pos = max(0.0, min(pos, self.duration_s))
            self._pos0 = pos
            self._clock0 = self.clock()
            self._reset = True
            self._sent = 0
            self._ev_sent = 0
            self._wake.set()
            return pos

    def set_speed(self, speed: float) -> float:
        with self._lock:
            self._pos0 = self._position()
            self._clock0 = self.clock()
            self.speed = max(0.125, min(float(speed), 64.0))
            return self.speed

    # ---- SampleSource -------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            self._clock0 = self.clock()

    def read(self, timeout: float) -> list[Item]:
        items = self._take()
        if items or self._stopped:
            return items
        self._wake.wait(timeout)
        self._wake.clear()
        return self._take()

    def _take(self) -> list[Item]:
        with self._lock:
            if self._stopped:
                return []
            pos = self._position()
            out: list[Item] = []
            if self._reset:
                self._reset = False
                out.append(LinkEvent("seek", self.start_epoch_s + pos, {"position_s": pos}))
            end = int(np.searchsorted(self.t, pos, side="right"))
            while self._ev_sent < len(self.events) and self.events[self._ev_sent]["time_s"] <= pos:
                e = self.events[self._ev_sent]
                self._ev_sent += 1
                self._samples_until(out, int(np.searchsorted(self.t, e["time_s"], side="left")))
                out.append(LinkEvent(e["kind"], self.start_epoch_s + e["time_s"], dict(e.get("detail") or {})))
            self._samples_until(out, end)
            return out

    def _samples_until(self, out: list[Item], end: int) -> None:
        """Hand out the samples not yet sent before index ``end`` (lock held)."""
        step = 200_000
        for a in range(self._sent, end, step):
            b = min(end, a + step)
            n = b - a
            out.append(SampleBlock(
                host_time_s=self.t[a:b] + self.start_epoch_s,
                device_time_s=np.full(n, np.nan),
                seq=np.arange(a, b, dtype=np.int64),
                counts=None,
                force_n=self.f[a:b],
                saturated=np.zeros(n, bool),
            ))
        self._sent = max(self._sent, end)

    @property
    def exhausted(self) -> bool:
        """Every sample has been handed out (the play head is at the end)."""
        with self._lock:
            return not self._reset and self._sent >= self.t.size

    def status(self) -> SourceStatus:
        with self._lock:
            pos = self._position()
            state = "paused" if self._paused else ("ended" if pos >= self.duration_s else "playing")
            if self._stopped:
                state = "stopped"
            return SourceStatus(port=self.name, protocol=self.protocol, state=state,
                                rate_hz=float(self._sensor.get("rate_hz", 0.0) or 0.0),
                                position_s=pos, duration_s=self.duration_s, speed=self.speed)

    def tare(self) -> bool:
        return False

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self._wake.set()

    @property
    def sensor_info(self):
        return self._sensor or None
