"""A station's state, without any drawing: ``SessionModel`` takes in samples and link events
(from the acquisition thread), runs the hold engine, feeds the recorder and the sinks, keeps
the alerts, and hands any screen a consistent ``Frame``; ``RecorderWriter`` drives a recorder
from a thread of its own.

Everything here is plain Python/NumPy and is tested without a terminal.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nmt_monitor.acquisition import LinkEvent, SampleBlock
from nmt_monitor.dsp import HoldEngine, HoldParams

from .clock import Clock, system_clock
from .display import FEEDBACK_MODES, DisplayBuffer

# ----------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class HoldView:
    """The running hold, as the screen shows it."""

    start_s: float
    elapsed_s: float
    level_n: float
    cv_pct: float | None
    drift_pct: float | None
    drift_alert: bool


@dataclass(frozen=True)
class HoldRow:
    number: int
    start_s: float
    duration_s: float
    mean_n: float
    cv_pct: float
    drift_pct: float
    flags: tuple[str, ...]
    score: float | None = None  # the grading rubric's score of this hold (station.scoring), if scored


@dataclass(frozen=True)
class RecordingView:
    active: bool = False
    path: str = ""
    bytes: int = 0
    finishing: bool = False
    in_memory: bool = False
    last_path: str = ""  # the last finished recording


@dataclass(frozen=True)
class Frame:
    """A consistent snapshot of everything the screen draws (no NumPy arrays in reactives)."""

    now_s: float  # data time of the newest sample (seconds since session start)
    force_n: float | None  # display value: mean of the last 100 ms
    trace_t: np.ndarray
    trace_f: np.ndarray
    hold: HoldView | None
    last_hold: HoldRow | None
    holds: tuple[HoldRow, ...]
    over_tolerance: bool
    over_peak_n: float | None
    over_count: int
    drift_alert: bool
    alert_seq: int  # increments on each new alert (drives the bell)
    tolerance_n: float | None
    target_band_n: tuple[float, float] | None
    target_hold_s: float | None
    link_state: str
    recording: RecordingView
    elapsed_s: float
    samples: int
    tare_offset_n: float
    notices: tuple[str, ...]
    arrivals: tuple[tuple[float, float], ...]  # (arrival perf_counter, newest sample host time)
    over_seq: int = 0  # increments on each new over-tolerance alert
    drift_seq: int = 0  # increments on each new drift alert
    data_age_s: float | None = None  # clock seconds since the last new sample (None: none yet)
    link_detail: str = ""  # why the link failed
    acquisition_error: str = ""  # the acquisition worker stopped (nothing new is read)
    last_hold_drifted: bool = False  # the last hold ended with a drift alert (revealed after a blind hold)
    over_release_n: float | None = None  # over-tolerance ends below this (tolerance - hysteresis)
    rec_warning: str = ""  # the recorder's last disk warning
    rec_pending: int = 0  # recorder calls waiting for the writer thread
    feedback: str = "full"  # the feedback mode (display.FEEDBACK_MODES)
    metadata: object = None  # the session's SessionMetadata (client, tip, targets ...)
    over_crossed_s: float | None = None  # the last over-tolerance: where the force crossed the tolerance
    over_started_s: float | None = None  # ... and where the hold engine raised it (data time)
    program: object = None  # program.ProgramView: where a training program is (None: no program)


class RecorderWriter:
    """A recorder driven from a thread of its own: ``add``/``tick``/``mark`` are queued (in
    order) and return at once, so a slow disk never holds up acquisition or the screen.
    ``finish`` drains the queue, then finishes the recorder. Other attributes are the
    recorder's."""

    def __init__(self, recorder, on_error: Callable[[str], None] | None = None) -> None:
        self.recorder = recorder
        self._on_error = on_error
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="recorder-writer", daemon=True)
        self._thread.start()

    def __getattr__(self, name):
        return getattr(self.recorder, name)

    @property
    def pending(self) -> int:
        return self._q.qsize()

    def _put(self, op: str, *args) -> None:
        if self._closed:
            raise RuntimeError("the recording is finished")
        self._q.put((op, args))

    def add(self, item) -> None:
        self._put("add", item)

    def tick(self) -> None:
        self._put("tick")

    def mark(self, kind: str, text: str = "") -> None:
        clock = getattr(self.recorder, "clock", time.time)
        self._put("mark", kind, text, float(clock()))  # the time of the key press, not of the write

    def set_program(self, program: dict) -> None:
        self._put("set_program", dict(program))

    def add_trial(self, trial: dict) -> None:
        self._put("add_trial", dict(trial))

    def update_session(self, changes: dict, host_time_s: float | None = None) -> None:
        """Queued in order with the samples: the change applies from ``host_time_s`` on."""
        if host_time_s is None:
            host_time_s = float(getattr(self.recorder, "clock", time.time)())
        self._put("update_session", dict(changes), float(host_time_s))

    def _run(self) -> None:
        while True:
            op, args = self._q.get()
            try:
                if op is None:
                    return
                getattr(self.recorder, op)(*args)
            except Exception as exc:  # noqa: BLE001 - reported; the writer goes on
                if self._on_error is not None:
                    self._on_error(f"recording: {exc}")

    def close(self) -> None:
        """Write everything queued and stop the thread (blocks until done)."""
        if not self._closed:
            self._closed = True
            self._q.put((None, ()))
        self._thread.join()

    def finish(self, *args, **kwargs):
        self.close()
        return self.recorder.finish(*args, **kwargs)


class SessionModel:
    """Takes in ``SampleBlock``/``LinkEvent`` items (any thread), keeps the state the screen
    needs, feeds the hold engine and the recorder. All methods are thread-safe."""

    TRACE_KEEP_S = 30.0

    def __init__(self, metadata, *, clock: Clock = system_clock, params: HoldParams | None = None,
                 time_origin: float | None = None, buffer_capacity: int = 65536, scorer=None) -> None:
        from nmt_monitor.storage import SessionMetadata

        self.metadata = metadata if isinstance(metadata, SessionMetadata) else SessionMetadata(**(metadata or {}))
        self.clock = clock
        self._lock = threading.RLock()
        self._params = (params or HoldParams()).replace(target_hold_s=self.metadata.target_hold_s)
        self.buffer = DisplayBuffer(buffer_capacity)
        self.started_at = clock()
        self.time_origin = time_origin  # host time of t = 0 (the first sample if None)
        self.recorder = None
        self._finishing = 0
        self._last_path = ""
        self._notices: deque[str] = deque(maxlen=20)
        self._arrivals: deque[tuple[float, float]] = deque(maxlen=2000)
        self.link_state = "connecting"
        self.link_detail = ""
        self.acquisition_error = ""
        self.rec_warning = ""
        self.tare_offset_n = 0.0
        self.feedback = "full"
        self._last_data_clock: float | None = None
        self._last_error = ""
        self.block_errors = 0
        self.scorer = scorer  # scorer(hold, time_s, force_n, metadata, episodes) -> score (station.scoring)
        #: called (on the acquisition thread, no lock held) after a batch that raised a new alert
        self.on_alert: Callable[[], None] | None = None
        self.program = None  # program.Program being run (set_program)
        self.runner = None  # program.ProgramRunner
        self.sinks: list = []
        self._sink_lock = threading.Lock()
        self._out_items: list = []  # for the sinks: what came in, and what the engine said
        self._out_events: list = []
        self._replayed_from: dict = {}  # replay: settings before the recorded changes applied so far
        self.lsl = None  # live --lsl: an nmt_monitor.lsl.LslPublisher fed the blocks, events and markers
        self._reset_analysis()

    # ---- sinks: the one place anything else gets the data --------------------------------
    def add_sink(self, sink) -> None:
        """``sink.feed(items, events, time_origin)`` is called on the acquisition thread after
        every batch, in order: ``items`` the ``SampleBlock``s and ``LinkEvent``s as they came
        (sensor host times), ``events`` what the hold engine said about them (times in seconds
        since ``time_origin``, a host time). ``sink.close()`` (optional) when the station
        stops. A sink that raises is dropped (with a notice); the station goes on."""
        with self._sink_lock:
            self.sinks.append(sink)

    def _dispatch(self) -> None:
        with self._sink_lock:
            with self._lock:
                items, self._out_items = self._out_items, []
                events, self._out_events = self._out_events, []
                origin = self.time_origin
            if not self.sinks or not (items or events):
                return
            for sink in list(self.sinks):
                try:
                    sink.feed(items, events, origin)
                except Exception as exc:  # noqa: BLE001 - a sink must never stop acquisition
                    self.sinks.remove(sink)
                    self._notices.append(f"{type(sink).__name__} stopped: {exc}")

    def close_sinks(self) -> None:
        self._dispatch()
        with self._sink_lock:
            sinks, self.sinks = self.sinks, []
        for sink in sinks:
            close = getattr(sink, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:  # noqa: BLE001
                    self._notices.append(f"{type(sink).__name__}: {exc}")

    # ---- analysis state -----------------------------------------------------------------
    def _reset_analysis(self) -> None:
        m = self.metadata
        self.engine = HoldEngine(self._params, m.tolerance_N, m.target_band_N)
        self.buffer.clear()
        self._last_t = -np.inf
        self.hold: dict | None = None
        self.holds: list[HoldRow] = []
        self.last_hold: HoldRow | None = None
        self.over_tolerance = False
        self.over_peak_n: float | None = None
        self.over_started_s: float | None = None
        self.over_crossed_s: float | None = None
        self.over_count = 0
        self._over_at_hold_start = 0
        self.drift_alert = False
        self.last_hold_drifted = False
        self.alert_seq = 0
        self.over_seq = 0
        self.drift_seq = 0
        self.samples = 0
        self.trial_records: list = []
        if getattr(self, "program", None) is not None:  # a replay's seek: the program starts again
            from nmt_monitor.program import ProgramRunner

            self.runner = ProgramRunner(self.program, self.metadata.tolerance_N)

    def reset(self) -> None:
        with self._lock:
            self._reset_analysis()

    # ---- input (worker thread) ----------------------------------------------------------
    def ingest(self, items) -> None:
        arrival = time.perf_counter()
        with self._lock:
            alerts_before = self.alert_seq
            if self.sinks:
                self._out_items.extend(i for i in items if not (isinstance(i, LinkEvent) and i.kind == "seek"))
            for item in items:
                try:
                    if isinstance(item, SampleBlock):
                        self._ingest_block(item, arrival)
                    elif isinstance(item, LinkEvent):
                        self._ingest_event(item)
                except Exception as exc:  # noqa: BLE001 - one bad block must not stop acquisition
                    self.block_errors += 1
                    message = f"data not analysed: {exc}"
                    if message != self._last_error:
                        self._last_error = message
                        self._notices.append(message)
            if self.recorder is not None:
                try:
                    self.recorder.tick()  # queued: the writer thread syncs
                except Exception as exc:  # noqa: BLE001 - never kill acquisition over the disk
                    self._notices.append(f"recording: {exc}")
            alerted = self.alert_seq != alerts_before
        if self.sinks:
            self._dispatch()
        if alerted and self.on_alert is not None:
            try:
                self.on_alert()  # e.g. a screen draws the alert now rather than at its next frame
            except Exception:  # noqa: BLE001 - a screen gone away must not stop acquisition
                pass

    def _ingest_block(self, block: SampleBlock, arrival: float) -> None:
        if len(block) == 0:
            return
        if self.recorder is not None:
            self.recorder.add(block)  # every sample, as it came (the recorder orders time itself)
        if self.lsl is not None:  # every sample, stamped with the sensor's time
            self.lsl.push_block(block)
        if self.time_origin is None:
            self.time_origin = float(block.host_time_s[0])
        t = block.host_time_s - self.time_origin
        f = block.force_n - self.tare_offset_n if self.tare_offset_n else block.force_n
        # time may repeat (clumped arrival) but must not go backwards: a host clock that
        # steps back holds at the latest time instead (no sample is dropped)
        t = np.fmax.accumulate(np.r_[self._last_t, t])[1:]
        self._last_t = float(t[-1])
        self._last_data_clock = self.clock()
        self.samples += t.size
        self.buffer.append(t, f)
        self._handle(self.engine.feed(t, f))
        if self.runner is not None:
            self._program_tick()
        self._arrivals.append((arrival, float(block.host_time_s[-1])))

    def _ingest_event(self, event: LinkEvent) -> None:
        if event.kind == "seek":  # replay: rebuild from the start of the session
            if self._replayed_from:  # the settings as the recording started; its changes follow again
                self.metadata = replace(self.metadata, **self._replayed_from)
                self._replayed_from = {}
            self._reset_analysis()
            self.link_state = "streaming"  # the replayed link events follow
            self.link_detail = ""
            return
        if event.kind == "settings_change":  # replay: a setting changed while the session was recorded
            self._replay_change(event.detail)
            return
        if self.recorder is not None and event.kind != "seek":
            self.recorder.add(event)
        if event.kind == "disconnected":
            self.link_state = "reconnecting"
            self._notices.append("sensor disconnected: reconnecting")
        elif event.kind in ("connected", "reconnected"):
            self.link_state = "streaming"
            self.link_detail = ""
            if event.kind == "reconnected":
                self._notices.append("sensor reconnected")
        elif event.kind == "warning" and event.detail.get("code") == "not_connected":
            self.link_state = "not connected"  # no sensor answers (yet): the source retries
            self.link_detail = str(event.detail.get("message", ""))
        elif event.kind == "warning":
            self._notices.append(str(event.detail.get("message", "warning")))
        elif event.kind == "fatal":
            self.link_state = "failed"
            self.link_detail = str(event.detail.get("message", ""))
            self._notices.append("sensor link failed: " + self.link_detail)
        elif event.kind == "tare":
            self._notices.append("tared")

    def _replay_change(self, detail: dict) -> None:
        """Apply a recorded settings change at its place in the replay (lock held): the alerts
        and holds on screen then match what the file's holds and ``analyze`` say."""
        from dataclasses import fields

        name, value = detail.get("field"), detail.get("value")
        if name not in {f.name for f in fields(self.metadata)} or name == "session_id":
            return
        if name == "target_band_N" and value is not None:
            value = (float(value[0]), float(value[1]))
        self._replayed_from.setdefault(name, getattr(self.metadata, name))
        self._apply({name: value})

    def finish_stream(self) -> None:
        """End of data (a replay reached its end): close a hold still running."""
        with self._lock:
            self._handle(self.engine.finish())
        self._dispatch()

    def acquisition_failed(self, message: str) -> None:
        """The acquisition worker stopped: nothing new will be read (shown on screen)."""
        with self._lock:
            self.acquisition_error = message or "unknown error"
            self._notices.append(f"acquisition stopped: {self.acquisition_error}")

    def recorder_warning(self, message: str) -> None:
        """The recorder's disk warnings (any thread): on screen, not only at exit."""
        self.rec_warning = str(message)
        self._notices.append(str(message))

    def _handle(self, events) -> None:
        if events and self.sinks:
            self._out_events.extend(events)
        runner = self.runner
        if self.lsl is not None:  # the engine's events as they arrive (times since time_origin)
            self.lsl.push_events(events, self.time_origin)
        for ev in events:
            if runner is not None and runner.started and ev.kind.startswith("hold_"):
                self._program_actions(runner.on_event(ev, self._last_t))
            kind = ev.kind
            if kind == "hold_started":
                self._over_at_hold_start = self.over_count - (1 if self.over_tolerance else 0)
                self.last_hold_drifted = False
                self.hold = {"start_s": ev.start_s, "level_n": ev.level_N, "cv_pct": None,
                             "drift_pct": None, "drift_alert": False, "suspect_end_s": None}
            elif kind == "hold_progress" and self.hold is not None:
                # the start may have been decided again; while the force is away from the
                # hold's level the figures (and the timer) stay where the hold would end
                self.hold.update(start_s=ev.start_s, level_n=ev.level_N, cv_pct=ev.cv_pct,
                                 drift_pct=ev.drift_pct, suspect_end_s=ev.suspect_end_s)
            elif kind == "drift_warning":
                if self.hold is not None:
                    self.hold.update(drift_alert=True, drift_pct=ev.drift_pct)
                if not self.drift_alert:
                    self.alert_seq += 1
                    self.drift_seq += 1
                self.drift_alert = True
            elif kind == "hold_ended":
                h = ev.hold
                row = HoldRow(len(self.holds) + 1, h.start_s, h.duration_s, h.mean_N, h.cv_pct,
                              h.drift_pct, tuple(h.flags), self._score(h))
                self.holds.append(row)
                self.last_hold = row
                self.last_hold_drifted = self.drift_alert
                self.hold = None
                self.drift_alert = False
            elif kind == "hold_discarded":
                self.hold = None
                self.drift_alert = False
            elif kind == "over_tolerance_started":
                self.over_tolerance = True
                self.over_started_s = ev.time_s  # when the engine knew (data time)
                self.over_crossed_s = self._crossing(ev.time_s)
                self.over_peak_n = ev.level_N
                self.over_count += 1
                self.alert_seq += 1
                self.over_seq += 1
            elif kind == "over_tolerance_ended":
                self.over_tolerance = False
                self.over_peak_n = ev.peak_N

    # ---- a training program ---------------------------------------------------------------
    def set_program(self, program) -> None:
        """Run a training program (``nmt_monitor.program.Program``) from the next sample on:
        each trial's target band, hold time and feedback mode apply as it begins (stored in a
        recording as settings changes), and each trial is recorded as it ends. Raises
        ``ProgramError`` (a target in % of a tolerance the session does not have)."""
        from nmt_monitor.program import ProgramRunner

        with self._lock:
            runner = ProgramRunner(program, self.metadata.tolerance_N)
            self.program, self.runner = program, runner
            self.trial_records = []
            if self.recorder is not None:
                self.recorder.set_program(self.program_record())

    def program_record(self) -> dict:
        """The program as a recording stores it: its blocks, its text and the trials it laid out."""
        from dataclasses import asdict

        out = self.program.to_dict()
        out["text"] = self.program.text
        out["trials"] = [asdict(t) for t in self.runner.trials]
        return out

    def program_skip(self) -> bool:
        """The instructor moves the program on (skip a trial, end a rest). False: no program."""
        with self._lock:
            if self.runner is None or not self.runner.started or self.runner.phase == "done":
                return False
            _, since = self._hold_elapsed(self._last_t)
            self._program_actions(self.runner.skip(self._last_t, since))
        self._dispatch()
        return True

    def _hold_elapsed(self, now: float) -> tuple[float | None, float | None]:
        """(elapsed, start) of the running hold, frozen at a suspected end (as the screen shows it)."""
        h = self.hold
        if h is None:
            return None, None
        until = now if h["suspect_end_s"] is None else min(now, h["suspect_end_s"])
        return max(0.0, until - h["start_s"]), h["start_s"]

    def _program_tick(self) -> None:
        runner, now = self.runner, self._last_t
        elapsed, since = self._hold_elapsed(now)
        if not runner.started:
            self._program_actions(runner.start(now, since))
        else:
            self._program_actions(runner.tick(now, elapsed, since))

    def _program_actions(self, actions) -> None:
        """Apply what the program asks (lock held): the trial's targets and feedback mode, the
        site, the finished trials into the recording."""
        trial = actions.trial
        if trial is not None:
            changes = {}
            if tuple(trial.target_band_n) != self.metadata.target_band_N:
                changes["target_band_N"] = tuple(trial.target_band_n)
            if trial.hold_s != self.metadata.target_hold_s:
                changes["target_hold_s"] = trial.hold_s
            self._apply(changes)
            self.feedback = trial.feedback
        if actions.site is not None:
            if not self.metadata.site:
                self._apply({"site": actions.site})
            elif self.recorder is not None:
                self.recorder.mark("site", actions.site)
        for rec in actions.finished:
            self.trial_records.append(rec)
            if self.recorder is not None and self.time_origin is not None:
                self.recorder.add_trial(rec.to_record(self.time_origin))

    def _score(self, hold) -> float | None:
        if self.scorer is None:
            return None
        try:
            t, f = self.buffer.since(hold.start_s)
            keep = t <= hold.end_s
            episodes = max(0, self.over_count - self._over_at_hold_start)  # over-tolerance during the hold
            return self.scorer(hold, t[keep], f[keep], self.metadata, episodes)
        except Exception as exc:  # noqa: BLE001 - a score is a courtesy; the hold stands
            self._notices.append(f"hold not scored: {exc}")
            return None

    def _crossing(self, t_alert: float) -> float:
        """Where the force last rose above the tolerance before ``t_alert`` (data time): the
        first sample of the run above it (how late the alert was, for the benchmarks)."""
        tol = self.metadata.tolerance_N
        t, f = self.buffer.since(t_alert - 2.0)
        keep = t <= t_alert
        t, f = t[keep], f[keep]
        if tol is None or not t.size:
            return t_alert
        below = np.flatnonzero(f <= tol)
        i = int(below[-1]) + 1 if below.size else 0
        return float(t[min(i, t.size - 1)])

    # ---- commands (UI thread) -----------------------------------------------------------
    def set_feedback(self, mode: str) -> None:
        """The feedback mode every screen of this station follows: full, faded or blind."""
        if mode not in FEEDBACK_MODES:
            raise ValueError(f"unknown feedback mode {mode!r}: use {', '.join(FEEDBACK_MODES)}")
        with self._lock:
            self.feedback = mode

    def software_tare(self) -> float:
        """Zero the display at the current level (for sources that cannot tare)."""
        with self._lock:
            _, f = self.buffer.last(100)
            if f.size:
                self.tare_offset_n += float(np.median(f))
                self._notices.append("tared (in software)")
            return self.tare_offset_n

    def set_targets(self, *, tolerance_n=..., target_band_n=..., target_hold_s=...) -> str:
        """Change tolerance / target band / target hold time during a session: the live
        alerts (the engine) apply them from the next sample on, and a recording stores them
        with their time (its holds and grades use each value from then on)."""
        with self._lock:
            changes = {}
            if tolerance_n is not ... and tolerance_n != self.metadata.tolerance_N:
                changes["tolerance_N"] = tolerance_n
            if target_band_n is not ... and target_band_n != self.metadata.target_band_N:
                changes["target_band_N"] = target_band_n
            if target_hold_s is not ... and target_hold_s != self.metadata.target_hold_s:
                changes["target_hold_s"] = target_hold_s
            self._apply(changes)
        self._dispatch()
        return ", ".join(f"{k}={_short(v)}" for k, v in changes.items())

    def _apply(self, changes: dict) -> None:
        """Apply metadata changes now: the engine, the screen, and the recording (lock held)."""
        if not changes:
            return
        engine = {}
        if "tolerance_N" in changes:
            engine["tolerance_n"] = changes["tolerance_N"]
            if changes["tolerance_N"] is None:
                self.over_tolerance = False
        if "target_band_N" in changes:
            engine["target_band_n"] = changes["target_band_N"]
        if "target_hold_s" in changes:
            engine["target_hold_s"] = changes["target_hold_s"]
            self._params = self._params.replace(target_hold_s=changes["target_hold_s"])
        if engine:
            self._handle(self.engine.configure(**engine))
        self.metadata = replace(self.metadata, **changes)
        if self.recorder is not None:
            # from the newest sample the engine has seen on (host time), as the live alerts
            at = None if self.time_origin is None or self.samples == 0 else self.time_origin + self._last_t + 1e-6
            self.recorder.update_session(changes, at)

    def set_metadata(self, metadata) -> None:
        """New setup (from the form): everything applies now, and to the recording under way
        (stored with its time); without one, the values are for the next recording."""
        from dataclasses import fields

        with self._lock:
            changes = {f.name: getattr(metadata, f.name) for f in fields(metadata)
                       if f.name != "session_id" and getattr(metadata, f.name) != getattr(self.metadata, f.name)}
            self._apply(changes)
        self._dispatch()

    def adjust_band(self, delta_n: float) -> tuple[float, float] | None:
        with self._lock:
            band = self.metadata.target_band_N
            if band is None:
                return None
            lo, hi = band
            if lo + delta_n < 0:
                delta_n = -lo
            new = (round(lo + delta_n, 3), round(hi + delta_n, 3))
        self.set_targets(target_band_n=new)  # not under the lock: it hands events to the sinks
        return new

    def mark(self, kind: str, text: str = "") -> bool:
        """A marker in the recording (False when not recording); with --lsl also on the markers stream."""
        with self._lock:
            if self.lsl is not None:
                self.lsl.marker(kind, text)
            if self.recorder is None:
                return False
            self.recorder.mark(kind, text)
            return True

    # ---- recording ----------------------------------------------------------------------
    def start_recording(self, factory: Callable[[object], object], sensor_info=None):
        """``factory(metadata) -> Recorder``; raises what the recorder raises (StorageError).
        Creating the journal is disk I/O: it runs outside the lock (call it off the UI thread);
        from then on the recorder is fed by a writer thread of its own."""
        with self._lock:
            if self.recorder is not None:
                return self.recorder
            metadata = self.metadata
        recorder = factory(metadata)
        if sensor_info is not None:
            recorder.set_sensor(sensor_info)
        writer = RecorderWriter(recorder, self._notices.append)
        with self._lock:
            if self.recorder is not None:  # started twice at once: keep the first
                writer.close()
                recorder.finish(reason="stopped: duplicate")
                return self.recorder
            self.rec_warning = ""
            self.recorder = writer
            if self.runner is not None:
                writer.set_program(self.program_record())
            return writer

    def detach_recorder(self):
        """Stop feeding the recorder; the caller finishes it (possibly on another thread)."""
        with self._lock:
            recorder, self.recorder = self.recorder, None
            if recorder is not None:
                self._finishing += 1
            return recorder

    def finished_recording(self, path: str | None, error: str | None = None, notice: str | None = None) -> None:
        with self._lock:
            self._finishing = max(0, self._finishing - 1)
            if notice:
                self._notices.append(notice)
            if path:
                self._last_path = str(path)
                self._notices.append(f"saved {path}")
            if error:
                self._notices.append(f"recording not finished: {error}")

    # ---- output (UI thread) -------------------------------------------------------------
    def snapshot(self, window_s: float = 20.0) -> Frame:
        """Everything a screen draws, consistent, with the last ``window_s`` seconds of force
        (copied from the ring: only that window)."""
        with self._lock:
            now = self._last_t if self.samples and len(self.buffer) else 0.0
            tt, ff = self.buffer.since(now - window_s - 0.5)
            now = float(tt[-1]) if tt.size else 0.0
            j = int(np.searchsorted(tt, now - 0.1))
            force = float(np.mean(ff[j:])) if tt.size else None
            hold = None
            if self.hold is not None:
                h = self.hold
                until = now if h["suspect_end_s"] is None else min(now, h["suspect_end_s"])
                hold = HoldView(h["start_s"], max(0.0, until - h["start_s"]), h["level_n"], h["cv_pct"],
                                h["drift_pct"], h["drift_alert"])
            rec = self.recorder
            recording = RecordingView(
                active=rec is not None,
                path=str(rec.path) if rec is not None else "",
                bytes=int(rec.bytes_written) if rec is not None else 0,
                finishing=self._finishing > 0,
                in_memory=bool(rec is not None and rec.in_memory),
                last_path=self._last_path,
            )
            tol = self.metadata.tolerance_N
            release = None
            if tol is not None:
                p = self._params
                release = tol - max(p.tolerance_hysteresis_pct / 100.0 * tol, p.tolerance_hysteresis_n)
            arrivals = tuple(self._arrivals)
            self._arrivals.clear()
            notices = tuple(self._notices)
            self._notices.clear()
            m = self.metadata
            return Frame(
                now_s=now, force_n=force, trace_t=tt, trace_f=ff, hold=hold, last_hold=self.last_hold,
                holds=tuple(self.holds), over_tolerance=self.over_tolerance, over_peak_n=self.over_peak_n,
                over_count=self.over_count, drift_alert=self.drift_alert, alert_seq=self.alert_seq,
                tolerance_n=m.tolerance_N, target_band_n=m.target_band_N, target_hold_s=m.target_hold_s,
                link_state=self.link_state, recording=recording, elapsed_s=self.clock() - self.started_at,
                samples=self.samples, tare_offset_n=self.tare_offset_n, notices=notices, arrivals=arrivals,
                over_seq=self.over_seq, drift_seq=self.drift_seq,
                data_age_s=None if self._last_data_clock is None else self.clock() - self._last_data_clock,
                link_detail=self.link_detail, acquisition_error=self.acquisition_error,
                last_hold_drifted=self.last_hold_drifted, over_release_n=release,
                rec_warning=self.rec_warning if rec is not None else "",
                rec_pending=int(getattr(rec, "pending", 0)) if rec is not None else 0,
                feedback=self.feedback, metadata=m, over_crossed_s=self.over_crossed_s,
                over_started_s=self.over_started_s,
                program=None if self.runner is None else self.runner.view(self._last_t, self._hold_elapsed(self._last_t)[0]),
            )


def _short(v) -> str:
    if v is None:
        return "none"
    if isinstance(v, tuple):
        return "..".join(f"{x:g}" for x in v)
    return f"{v:g}"


def recorder_factory(out: Path | str, *, rate_hz: float = 1000.0, on_warning=None):
    """The factory ``start_recording`` uses in the app: a journal+HDF5 Recorder into ``out``."""
    from nmt_monitor.storage import Recorder

    def make(metadata):
        return Recorder(out, metadata, expected_seconds=3600.0, rate_hz=rate_hz or 1000.0, on_warning=on_warning)

    return make
