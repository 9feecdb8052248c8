"""The Textual apps: ``MonitorApp`` (one station: live or replay) and, in ``classview``,
``ClassApp`` (a grid of stations). Both are thin clients over ``Station``s
(nmt_monitor.station): each station pumps its source on a thread of its own; one timer asks
the visible screen to draw a frame at ``fps`` frames/s.

The apps never block on I/O: starting and finishing recordings run on threads, and quitting
(q, Ctrl-C, SIGHUP, SIGTERM) stops every source, keeps what was read and finishes every
recording before the app exits.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

from textual.app import App
from textual.message import Message

from nmt_monitor.errors import UserError
from nmt_monitor.station import FEEDBACK_MODES, Clock, Frame, Station, Units, system_clock

from .monitor import LiveScreen, ReplayScreen
from .screens import RecoveryScreen


class LatencyProbe:
    """Benchmark hook: frames shown, and per sample block the time from its arrival (and from
    its sensor timestamp) to the screen refresh that first showed it; ``alerts``: per station,
    the over-tolerance alerts shown (see ``benchmarks/bench_class.py``)."""

    def __init__(self) -> None:
        self.frames: list[float] = []
        self.arrival_latency_s: list[float] = []
        self.sensor_latency_s: list[float] = []
        self.alert_latency_s: list[float] = []  # from the force crossing the tolerance
        self.alert_engine_latency_s: list[float] = []  # from the sample at which the engine raised it
        self._pending_alerts: list = []

    def shown(self, arrivals) -> None:
        now_p, now_w = time.perf_counter(), time.time()
        self.frames.append(now_p)
        for arrived, host_time in arrivals:
            self.arrival_latency_s.append(now_p - arrived)
            self.sensor_latency_s.append(now_w - host_time)
        for crossed, raised in self._pending_alerts:
            self.alert_latency_s.append(now_w - crossed)
            self.alert_engine_latency_s.append(now_w - raised)
        self._pending_alerts.clear()

    def alert(self, crossed_host_time: float, raised_host_time: float) -> None:
        """An over-tolerance alert is in the frame being drawn; the force crossed the tolerance
        at ``crossed_host_time`` and the engine raised it at the sample of ``raised_host_time``
        (sensor times on the host clock)."""
        self._pending_alerts.append((crossed_host_time, raised_host_time))


class StationAlert(Message):
    """A station raised an alert (over tolerance, drift): posted from its acquisition thread
    so the screen draws it at once rather than at its next frame."""

    def __init__(self, station: Station) -> None:
        super().__init__()
        self.station = station

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StationAlert) and message.station is self.station


class StationsApp(App):
    """What the monitor and the class view share: the stations' lifecycle, the frame timer,
    the bell, notices, quitting and signals."""

    CSS_PATH = "monitor.tcss"
    TITLE = "nmt-monitor"
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, stations: list[Station], *, clock: Clock = system_clock, fps: float = 25.0,
                 window_s: float = 20.0, unit: str = "N", tip_area_cm2: float | None = None,
                 probe: LatencyProbe | None = None, bell: bool = True) -> None:
        super().__init__()
        self.stations = list(stations)
        self.clock = clock
        self.fps = float(fps)
        self.window_s = float(window_s)
        self.units = Units(unit, tip_area_cm2)
        self.probe = probe
        self.use_bell = bell
        self.quitting = False
        self._exit_code = 0  # a signal's exit code (SIGTERM 143, SIGHUP 129)
        self._seen: dict[int, tuple[int, int]] = {}  # per station: the alerts already rung for
        self._program_seen: dict[int, int] = {}  # per station: the program steps already rung for
        self.frames_drawn = 0
        self.last_frame: Frame | None = None
        self._arrivals: list = []

    # ---- the frame timer ------------------------------------------------------------------
    def on_mount(self) -> None:
        self._ui_loop = asyncio.get_running_loop()
        for station in self.stations:
            station.model.on_alert = lambda st=station: self.post_message(StationAlert(st))
            station.start()
        self._tick()
        self.set_interval(1.0 / self.fps, self._tick)

    def drawing_screen(self):
        """The screen frames are drawn on: the topmost that is not a dialog (a dialog on top
        must not stop the monitor under it)."""
        return next((s for s in reversed(self.screen_stack) if not s.is_modal), None)

    def _tick(self) -> None:
        screen = self.drawing_screen()
        refresh = getattr(screen, "refresh_frame", None)
        if refresh is None:
            return
        frame = refresh()
        if frame is None:
            return
        self.last_frame = frame
        self.frames_drawn += 1
        self.watch_hidden_stations(screen)
        for station in self.stations:
            while station.errors:
                self.notify(self.prefixed(station, station.errors.pop(0)), severity="error", timeout=8)
        self._after_draw()

    def _after_draw(self) -> None:
        if self.probe is not None:
            self.call_after_refresh(self.probe.shown, self._arrivals)
        self._arrivals = []

    def on_station_alert(self, message: StationAlert) -> None:
        """Draw a new alert now: the screen showing its station redraws that station."""
        screen = self.drawing_screen()
        draw = getattr(screen, "refresh_station", None)
        if draw is not None and draw(message.station):
            self._after_draw()

    def station_frame(self, station: Station, frame: Frame, *, drift_shown: bool = True) -> None:
        """A screen drew ``frame`` of ``station``: ring for its new alerts (an alert the screen
        withholds, drift in a blind hold, does not ring), show its notices."""
        key = id(station)
        over, drift = self._seen.get(key, (0, 0))
        ring = frame.over_seq > over or (frame.drift_seq > drift and drift_shown)
        self._seen[key] = (frame.over_seq, frame.drift_seq)
        if frame.program is not None:  # a training program rings at each of its steps
            step = self._program_seen.get(key, 0)
            ring = ring or frame.program.seq > step
            self._program_seen[key] = frame.program.seq
        if ring and self.use_bell:
            self.bell()
        if self.probe is not None:
            origin = station.model.time_origin
            if frame.over_seq > over and frame.over_crossed_s is not None and origin is not None:
                self.probe.alert(origin + frame.over_crossed_s, origin + (frame.over_started_s or frame.over_crossed_s))
            self._arrivals = self._arrivals + list(frame.arrivals)
        for notice in frame.notices:
            self.notify(self.prefixed(station, notice), timeout=4)

    def watch_hidden_stations(self, screen) -> None:
        """Stations the screen does not show (the class view with one station open) still
        alert: a notice and the bell for a new over-tolerance."""

    def prefixed(self, station: Station, text: str) -> str:
        return text

    # ---- recording --------------------------------------------------------------------------
    def start_recording(self, station: Station) -> None:
        """Start recording ``station`` (call on a worker thread: creating the journal is disk I/O)."""
        try:
            rec = station.start_recording()
        except (UserError, OSError) as exc:
            self._call_ui(self.notify, self.prefixed(station, f"cannot record: {exc}"), severity="error", timeout=8)
            return
        if not station.stopping:
            self._call_ui(self.notify, self.prefixed(station, f"recording: {rec.path.name}"))

    # ---- notices ----------------------------------------------------------------------------
    def notify(self, message: str, *, markup: bool = False, **kwargs) -> None:
        """Notices are plain text: they carry paths, names and errors that may hold ``[``
        (Textual markup would fail on them, or style them)."""
        super().notify(message, markup=markup, **kwargs)

    def _call_ui(self, fn, *args, **kwargs) -> None:
        try:
            self.call_from_thread(fn, *args, **kwargs)
        except RuntimeError:  # the app is gone
            pass

    # ---- the end ----------------------------------------------------------------------------
    @property
    def saved(self) -> list[Path]:
        return [p for s in self.stations for p in s.saved]

    def action_quit(self) -> None:
        if self.quitting:
            return
        self.quitting = True
        if any(s.recording for s in self.stations):
            self.notify("finishing the recording …", timeout=30)
        for station in self.stations:
            station.request_stop()
        threading.Thread(target=self._stop_session, name="shutdown", daemon=False).start()

    def _stop_session(self) -> None:
        """Stop the sources, keep what they still had, finish the recordings, then exit."""
        self.finalize("stopped: quit")
        try:
            self.call_from_thread(self.exit, None, self._exit_code)
        except RuntimeError:
            pass

    def finalize(self, reason: str = "stopped: exit") -> None:
        """Stop every station, keep what its source still had, finish its recording (the
        stations at once, each on a thread). Safe from any thread and more than once (the
        quit sequence, a lost terminal, the command's finally)."""
        if len(self.stations) == 1:
            self.stations[0].finalize(reason)
            return
        threads = [threading.Thread(target=s.finalize, args=(reason,), name=f"finalize {s.name}")
                   for s in self.stations]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def hangup(self, reason: str = "terminal closed", grace_s: float = 0.0, code: int = 129) -> None:
        """A signal asks us to stop (SIGHUP: the terminal is gone; SIGTERM): save the sessions
        on a thread, ask the UI to exit, and leave for sure after ``grace_s`` seconds (a UI
        stuck writing to a dead terminal never exits by itself)."""
        import os

        self._exit_code = code

        def save_and_exit() -> None:
            self.finalize(f"stopped: {reason}")
            if grace_s > 0:
                loop = getattr(self, "_ui_loop", None)
                try:
                    if loop is not None:
                        loop.call_soon_threadsafe(lambda: self.exit(None, code))
                except RuntimeError:
                    pass
                deadline = time.monotonic() + grace_s
                while time.monotonic() < deadline and self.is_running:
                    time.sleep(0.05)  # waiting for another thread's exit, with a deadline
                if not self.is_running:
                    return
            os._exit(code)

        threading.Thread(target=save_and_exit, name="stop-signal", daemon=True).start()


class MonitorApp(StationsApp):
    """One station's monitor. ``source``: a ``SampleSource`` (its ``kind`` says live or
    replay); ``clock``: seconds (tests pass a ``MockClock``); ``program``: a training program
    to guide (``nmt_monitor.program.Program``); ``scorer``: scores each hold as it ends."""

    def __init__(
        self,
        source,
        *,
        metadata=None,
        clock: Clock = system_clock,
        recorder_factory: Callable | None = None,
        record: bool = False,
        recovery_dir: Path | None = None,
        fps: float = 25.0,
        window_s: float = 20.0,
        unit: str = "N",
        feedback: str = "full",
        probe: LatencyProbe | None = None,
        bell: bool = True,
        program=None,
        scorer=None,
    ) -> None:
        from nmt_monitor.storage import SessionMetadata

        station = Station(source, metadata or SessionMetadata(), clock=clock, recorder_factory=recorder_factory,
                          scorer=scorer)
        super().__init__([station], clock=clock, fps=fps, window_s=window_s, unit=unit,
                         tip_area_cm2=station.model.metadata.tip_area_cm2, probe=probe, bell=bell)
        self.station = station
        self.model = station.model
        self.source = source
        self.kind = station.kind
        station.model.set_feedback(feedback if feedback in FEEDBACK_MODES else "full")
        if program is not None:  # a training program (nmt_monitor.program): it sets the feedback mode per trial
            station.model.set_program(program)
        self.recorder_factory = recorder_factory
        self.record_at_start = record
        self.recovery_dir = recovery_dir
        self.errors: list[str] = station.errors

    def get_default_screen(self):
        cls = ReplayScreen if self.kind == "replay" else LiveScreen
        return cls(self.station, units=self.units, window_s=self.window_s, id="monitor")

    @property
    def feedback(self) -> str:
        return self.model.feedback

    @property
    def saved(self) -> list[Path]:
        return self.station.saved

    def on_mount(self) -> None:
        # (Textual also calls StationsApp.on_mount: handlers run for each class of the MRO)
        if self.record_at_start and self.kind == "live":
            self.screen.action_record()
        if self.recovery_dir is not None and self.kind == "live":
            from nmt_monitor.storage import find_unfinished

            journals = find_unfinished(self.recovery_dir)
            if journals:
                self.push_screen(RecoveryScreen(journals, self.recovery_dir), self._recover_answer)

    def key_help(self) -> list[tuple[str, str]]:
        return self.drawing_screen().key_help()

    def _recover_answer(self, recover: bool | None) -> None:
        if recover:
            self.run_worker(self._recover, thread=True, group="recover", exit_on_error=False)

    def _recover(self) -> None:
        from nmt_monitor.storage import recover_all

        results = recover_all(self.recovery_dir)
        for r in results:
            self.call_from_thread(self.notify, r.summary(), timeout=8,
                                  severity="information" if r.status != "failed" else "error")
