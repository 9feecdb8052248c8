"""The live monitor: a thin Textual client over ``SessionModel``.

Acquisition runs in a thread worker that reads the source with a short timeout and hands
items to the model; a timer redraws from the model's bounded buffer at ``fps`` frames/s.
The app never blocks on I/O: finishing a recording runs on a thread, and quitting (q,
Ctrl-C, SIGHUP, SIGTERM) stops the source, keeps what was read and finishes the recording
before the app exits.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Digits, Footer, Static
from textual.worker import get_current_worker

from nmt_monitor.errors import UserError
from nmt_monitor.flags import flags_text

from .clock import Clock, system_clock
from .model import FEEDBACK_MODES, Frame, SessionModel, Units, feedback_visibility
from .screens import HelpScreen, RecoveryScreen, SetupScreen
from .widgets import (
    TraceView,
    force_class,
    readout_label,
    render_alert,
    render_gauge,
    render_hold_panel,
    status_line,
)

READ_TIMEOUT_S = 0.05
STALE_AFTER_S = 0.5  # no new sample for this long (app clock): the readout is not current
BAND_STEP_N = 1.0
SEEK_STEP_S = 5.0


class LatencyProbe:
    """Benchmark hook: frames shown, and per sample block the time from its arrival (and from
    its sensor timestamp) to the screen refresh that first showed it."""

    def __init__(self) -> None:
        self.frames: list[float] = []
        self.arrival_latency_s: list[float] = []
        self.sensor_latency_s: list[float] = []

    def shown(self, arrivals) -> None:
        now_p, now_w = time.perf_counter(), time.time()
        self.frames.append(now_p)
        for arrived, host_time in arrivals:
            self.arrival_latency_s.append(now_p - arrived)
            self.sensor_latency_s.append(now_w - host_time)


class MonitorApp(App):
    """``source``: a ``SampleSource``; ``clock``: seconds (tests pass a ``MockClock``)."""

    CSS_PATH = "monitor.tcss"
    TITLE = "nmt-monitor"
    ENABLE_COMMAND_PALETTE = False

    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("r", "record", "Rec"),
        Binding("t", "tare", "Tare"),
        Binding("u", "units", "Unit"),
        Binding("m", "feedback", "Mode"),
        Binding("d", "mark('discomfort')", "Discomfort"),
        Binding("f", "mark('release_felt')", "Felt"),
        Binding("left_square_bracket", "band(-1)", "Target", show=False),
        Binding("right_square_bracket", "band(1)", "Target", key_display="[ ]"),
        Binding("s", "setup", "Setup"),
        Binding("space", "pause", "Pause"),
        Binding("left", "seek(-1)", "-5s"),
        Binding("right", "seek(1)", "+5s"),
        Binding("comma", "speed(0.5)", "Slower"),
        Binding("full_stop", "speed(2)", "Faster"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    LIVE_ONLY = {"record", "tare", "mark"}
    REPLAY_ONLY = {"pause", "seek", "speed"}

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
    ) -> None:
        super().__init__()
        from nmt_monitor.storage import SessionMetadata

        self.source = source
        self.clock = clock
        self.kind = getattr(source, "kind", "live")
        self.model = SessionModel(metadata or SessionMetadata(), clock=clock,
                                  time_origin=getattr(source, "start_epoch_s", None))
        self.units = Units(unit, self.model.metadata.tip_area_cm2)
        self.feedback = feedback if feedback in FEEDBACK_MODES else "full"
        self.recorder_factory = recorder_factory
        self.record_at_start = record
        self.recovery_dir = recovery_dir
        self.fps = float(fps)
        self.window_s = float(window_s)
        self.probe = probe
        self.use_bell = bell
        self.saved: list[Path] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._final_lock = threading.Lock()
        self._quitting = False
        self._finishers: list[threading.Thread] = []
        self._over_seq = 0
        self._drift_seq = 0
        self._starting_recording = False
        self._exit_code = 0  # a signal's exit code (SIGTERM 143, SIGHUP 129)
        self._holds_shown = -1
        self._last_keys: dict[str, object] = {}
        self.frames_drawn = 0
        self.last_frame: Frame | None = None

    # ---- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="title")
        with Horizontal(id="top"):
            yield Digits("", id="force")
            yield Static(id="force-label")
            yield Static(id="hold")
        yield Static(id="gauge")
        yield Static(id="alert")
        yield TraceView(id="trace")
        table = DataTable(id="holds", cursor_type="none", zebra_stripes=True, show_cursor=False)
        table.can_focus = False  # the arrow keys seek in a replay
        yield table
        yield Static(id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        # widgets by id, from the main screen (a dialog on top must not hide them from _draw)
        self.w = {w.id: w for w in self.screen.query("#title, #force, #force-label, #hold, #gauge, #alert, "
                                                     "#trace, #holds, #status")}
        table = self.w["holds"]
        # fixed widths: the columns do not jump as holds come in (and do not wait for the
        # table to be idle before they fit their contents)
        for label, width in (("#", 3), ("start", 8), ("duration", 8), ("mean", 10), ("CV", 6),
                             ("drift", 8), ("flags", None)):
            table.add_column(label, key=label, width=width)
        self._ui_loop = asyncio.get_running_loop()
        self._acquire()
        self._draw()
        self.set_interval(1.0 / self.fps, self._draw)
        if self.record_at_start and self.kind == "live":
            self.action_record()
        if self.recovery_dir is not None and self.kind == "live":
            from nmt_monitor.storage import find_unfinished

            journals = find_unfinished(self.recovery_dir)
            if journals:
                self.push_screen(RecoveryScreen(journals, self.recovery_dir), self._recover_answer)

    # ---- acquisition (a thread) -----------------------------------------------------------
    @work(thread=True, exclusive=True, group="acquire", exit_on_error=False)
    def _acquire(self) -> None:
        worker = get_current_worker()
        src, model = self.source, self.model
        ended = False
        try:
            src.start()
            while not self._stop.is_set() and not worker.is_cancelled:
                items = src.read(READ_TIMEOUT_S)
                if items:
                    model.ingest(items)
                    if any(getattr(i, "kind", "") == "seek" for i in items):
                        ended = False
                # finish only once every sample was handed out (and ingested above)
                if self.kind == "replay" and not ended and getattr(src, "exhausted", False):
                    model.finish_stream()
                    ended = True
        except Exception as exc:  # noqa: BLE001 - shown, then the session is still finished
            self.errors.append(f"acquisition stopped: {exc}")
            model.acquisition_failed(str(exc) or type(exc).__name__)
        finally:
            if self._stop.is_set():
                self._stop_session()

    def _stop_session(self) -> None:
        """Stop the source, keep what it still had, finish the recording, then exit."""
        self.finalize("stopped: quit")
        try:
            self.call_from_thread(self.exit, None, self._exit_code)
        except RuntimeError:
            pass

    def _finish(self, recorder, reason: str) -> None:
        try:
            path = recorder.finish(reason=reason)
        except Exception as exc:  # noqa: BLE001 - the journal keeps the session for `recover`
            self.errors.append(str(exc))
            self.model.finished_recording(None, str(exc))
            return
        self.saved.append(Path(path))
        self.model.finished_recording(str(path))

    def finalize(self, reason: str = "stopped: exit") -> None:
        """Stop the source, keep what it still had, finish the recording. Safe from any
        thread and more than once (the quit sequence, a lost terminal, the command's finally)."""
        with self._final_lock:
            self._stop.set()
            try:
                self.source.stop()
                rest = self.source.reader.drain() if hasattr(self.source, "reader") else []
                if rest:
                    self.model.ingest(rest)
            except Exception as exc:  # noqa: BLE001
                self.errors.append(f"stopping the source: {exc}")
            recorder = self.model.detach_recorder()
            if recorder is not None:
                self._finish(recorder, reason)
            for t in list(self._finishers):
                t.join()

    def hangup(self, reason: str = "terminal closed", grace_s: float = 0.0, code: int = 129) -> None:
        """A signal asks us to stop (SIGHUP: the terminal is gone; SIGTERM): save the session
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

    # ---- drawing (the timer) --------------------------------------------------------------
    def _draw(self) -> None:
        if not getattr(self, "w", None):
            return
        frame = self.model.snapshot(self.window_s)
        self.last_frame = frame
        status = self.source.status()
        in_hold = frame.hold is not None
        vis = feedback_visibility(self.feedback, frame.force_n, frame.target_band_n, in_hold)
        stale = self.is_stale(frame)

        def put(widget_id: str, key, make) -> None:
            if self._last_keys.get(widget_id) != key:
                self._last_keys[widget_id] = key
                self.w[widget_id].update(make(), layout=False)

        m = self.model.metadata
        mode_txt = {"full": "full", "faded": "faded", "blind": "blind"}[self.feedback]
        title_key = (self.kind, m.client, m.contact_tip, mode_txt, self.units.unit, frame.recording.active,
                     frame.recording.finishing, frame.recording.in_memory, frame.acquisition_error, frame.link_state == "failed",
                     self.size.width)
        put("title", title_key, lambda: self._title_text(frame, mode_txt))

        forced = vis.force and frame.force_n is not None and not stale
        digits_value = self.units.fmt(frame.force_n, unit=False) if forced else "--.-"
        cls = force_class(frame.force_n, frame.target_band_n, frame.tolerance_n) if forced else "hidden"
        if self._last_keys.get("force") != (digits_value, cls):
            self._last_keys["force"] = (digits_value, cls)
            digits = self.w["force"]
            digits.update(digits_value)
            digits.set_classes(f"force-{cls}")
        put("force-label", (cls, self.units.unit, frame.target_band_n, frame.tolerance_n, vis.force, stale),
            lambda: readout_label(frame, self.units, vis, stale))
        hold_w = self.w["hold"].size.width
        hold_key = (None if frame.hold is None else (round(frame.hold.elapsed_s, 1), frame.hold.cv_pct,
                    frame.hold.drift_pct, frame.hold.drift_alert, round(frame.hold.level_n, 1)),
                    frame.last_hold, frame.target_hold_s, vis, self.units.unit, hold_w, stale)
        put("hold", hold_key, lambda: render_hold_panel(frame, self.units, vis, hold_w, interrupted=stale))
        gauge_w = self.w["gauge"].size.width
        put("gauge", (digits_value, frame.target_band_n, frame.tolerance_n, forced, gauge_w,
                      round(float(frame.trace_f.max()) if frame.trace_f.size else 0.0, 0)),
            lambda: render_gauge(frame.force_n, frame, self.units, forced, gauge_w))
        alert_w = self.w["alert"].size.width
        alert_text, alert_cls = render_alert(frame, self.units, vis, alert_w, stale=stale,
                                             reveal_drift=self.feedback == "blind")
        alert = self.w["alert"]
        if self._last_keys.get("alert") != (alert_text.plain, alert_cls):
            self._last_keys["alert"] = (alert_text.plain, alert_cls)
            alert.update(alert_text, layout=False)
            alert.set_classes(f"alert-{alert_cls}")
        # the bell rings only for an alert the screen shows (a blind hold withholds drift)
        ring = frame.over_seq > self._over_seq or (frame.drift_seq > self._drift_seq and vis.drift_alert)
        self._over_seq, self._drift_seq = frame.over_seq, frame.drift_seq
        if ring and self.use_bell:
            self.bell()

        trace_status = ""
        if frame.acquisition_error:
            trace_status = "acquisition stopped"
        elif frame.link_state == "failed":
            trace_status = "sensor link failed"
        elif self.kind == "live" and status.state == "reconnecting":
            trace_status = "reconnecting …"
        elif stale and frame.data_age_s is not None:
            trace_status = "no data …"
        elif self.kind == "replay" and status.state == "paused":
            trace_status = "paused"
        self.w["trace"].show(frame, self.units, vis, self.window_s, trace_status)

        if len(frame.holds) != self._holds_shown or self._last_keys.get("holds-unit") != self.units.unit:
            self._holds_shown = len(frame.holds)
            self._last_keys["holds-unit"] = self.units.unit
            self._fill_holds(frame)

        status_w = self.size.width
        status_key = (status, frame.recording, int(frame.elapsed_s), frame.samples if self.kind == "replay" else 0,
                      frame.link_state, frame.acquisition_error, frame.rec_warning, status_w)
        put("status", status_key, lambda: status_line(frame, status, self.kind, status_w))

        for notice in frame.notices:
            self.notify(notice, timeout=4)
        while self.errors:
            self.notify(self.errors.pop(0), severity="error", timeout=8)
        self.frames_drawn += 1
        if self.probe is not None:
            self.call_after_refresh(self.probe.shown, frame.arrivals)

    def is_stale(self, frame: Frame) -> bool:
        """The force on screen is not current: the link is down, acquisition stopped, or (live)
        no new sample arrived for ``STALE_AFTER_S`` seconds by the app's clock."""
        if frame.acquisition_error or frame.link_state in ("reconnecting", "failed"):
            return True
        if self.kind != "live":
            return False  # a paused or ended replay is not stale
        if frame.data_age_s is None:  # nothing yet: the readout shows --.- anyway
            return False
        if frame.link_state != "streaming":
            return True
        return frame.data_age_s > STALE_AFTER_S

    def _title_text(self, frame: Frame, mode: str):
        from rich.text import Text

        m = self.model.metadata
        width = self.size.width
        tag, style = "", ""
        if self.kind == "live":
            rec = frame.recording
            tag = " ● RECORDING " if rec.active else (" finishing … " if rec.finishing else " ○ not recording ")
            style = "bold reverse bright_red" if rec.active else "dim"
            if rec.active and rec.in_memory:  # the disk failed: samples are only in memory
                tag = " ⚠ RECORDING IN MEMORY (disk failed) "
        if frame.acquisition_error or frame.link_state == "failed":
            what = "ACQUISITION STOPPED" if frame.acquisition_error else "SENSOR LINK FAILED"
            tag = f" ⚠ {what}" + (" (recording kept) " if frame.recording.active else " ")
            style = "bold reverse bright_red"
        left = f" {self.kind} "
        parts = [f"client {m.client}" if m.client else "", m.contact_tip, f"feedback {mode}", self.units.unit]
        left += "· " + " · ".join(p for p in parts if p) + " "
        out = Text(no_wrap=True, overflow="crop")
        out.append(" nmt-monitor ", "bold reverse")
        room = width - 13 - len(tag)
        if len(left) > room:
            left = left[: max(0, room - 1)] + "…"
        out.append(left, "bold")
        out.append(" " * max(0, width - len(out.plain) - len(tag)))
        out.append(tag, style)
        return out

    def _fill_holds(self, frame: Frame) -> None:
        table = self.w["holds"]
        table.clear()
        u = self.units
        for row in reversed(frame.holds):
            table.add_row(str(row.number), f"{row.start_s:.1f} s", f"{row.duration_s:.1f} s",
                          u.fmt(row.mean_n), f"{row.cv_pct:.1f} %", f"{row.drift_pct:+.1f} %",
                          flags_text(row.flags))

    # ---- keys -----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if self.kind == "replay" and action in self.LIVE_ONLY:
            return False
        if self.kind != "replay" and action in self.REPLAY_ONLY:
            return False
        return True

    def key_help(self) -> list[tuple[str, str]]:
        out = []
        for b in self.BINDINGS:
            action = b.action.split("(")[0]
            if (not b.show and b.key != "left_square_bracket") or not self.check_action(action, ()):
                continue
            key = {"left_square_bracket": "[", "right_square_bracket": "]", "question_mark": "?",
                   "full_stop": ".", "comma": ",", "left": "←", "right": "→"}.get(b.key, b.key)
            out.append((key, _LONG_HELP.get(b.action, b.description)))
        out.append(("ctrl+c", "quit too (finishes the recording)"))
        return out

    def action_record(self) -> None:
        if self.kind != "live" or self._quitting:
            return
        if self._starting_recording:
            return
        if self.model.recorder is not None:
            recorder = self.model.detach_recorder()
            t = threading.Thread(target=self._finish, args=(recorder, "stopped: record key"),
                                 name="finish-recording", daemon=False)
            self._finishers.append(t)
            t.start()
            self.notify(f"recording stopped; writing {recorder.path.name} …")
            return
        if self.recorder_factory is None:
            self.notify("recording is not available here", severity="warning")
            return
        self._starting_recording = True
        self._start_recording()

    @work(thread=True, group="record", exit_on_error=False)
    def _start_recording(self) -> None:
        """Creating the journal is disk I/O: off the UI thread."""
        try:
            rec = self.model.start_recording(self.recorder_factory, self.source.sensor_info)
        except (UserError, OSError) as exc:
            self._call_ui(self.notify, f"cannot record: {exc}", severity="error", timeout=8)
            return
        finally:
            self._starting_recording = False
        if self._stop.is_set():  # quit while the journal was being created: finish it too
            late = self.model.detach_recorder()
            if late is not None:
                self._finish(late, "stopped: quit")
            return
        self._call_ui(self.notify, f"recording: {rec.path.name}")

    def notify(self, message: str, *, markup: bool = False, **kwargs) -> None:
        """Notices are plain text: they carry paths, names and errors that may hold ``[``
        (Textual markup would fail on them, or style them)."""
        super().notify(message, markup=markup, **kwargs)

    def _call_ui(self, fn, *args, **kwargs) -> None:
        try:
            self.call_from_thread(fn, *args, **kwargs)
        except RuntimeError:  # the app is gone
            pass

    def action_tare(self) -> None:
        if self.source.tare():
            self.notify("tare sent to the sensor")
        else:
            self.model.software_tare()

    def action_units(self) -> None:
        self.units.cycle()

    def action_mark(self, kind: str) -> None:
        label = {"discomfort": "client discomfort", "release_felt": "release felt"}.get(kind, kind)
        if self.model.mark(kind):
            self.notify(f"marked: {label}")
        else:
            self.notify(f"not recording: '{label}' not saved (r starts recording)", severity="warning")

    def action_band(self, direction: int) -> None:
        new = self.model.adjust_band(direction * BAND_STEP_N)
        if new is None:
            self.notify("no target band set (s: setup)", severity="warning")
        else:
            self.notify(f"target band {self.units.fmt_band(new)}", timeout=2)

    def action_feedback(self) -> None:
        self.feedback = FEEDBACK_MODES[(FEEDBACK_MODES.index(self.feedback) + 1) % len(FEEDBACK_MODES)]
        self.notify(f"feedback: {self.feedback}", timeout=2)

    def action_setup(self) -> None:
        self.push_screen(SetupScreen(self.model.metadata, recording=self.model.recorder is not None,
                                     replay=self.kind == "replay"), self._setup_done)

    def _setup_done(self, metadata) -> None:
        if metadata is None:
            return
        recording = self.model.recorder is not None
        self.model.set_metadata(metadata)
        self.units.set_area(metadata.tip_area_cm2)
        if self.kind == "replay":
            self.notify("setup applied to this replay (the file is not changed)")
        else:
            self.notify("setup saved into the recording" if recording else "setup saved")

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_help()))

    def action_pause(self) -> None:
        if self.kind == "replay":
            self.source.toggle_pause()

    def action_seek(self, direction: int) -> None:
        if self.kind == "replay":
            self.source.seek(direction * SEEK_STEP_S)

    def action_speed(self, factor: float) -> None:
        if self.kind == "replay":
            self.notify(f"speed ×{self.source.set_speed(self.source.speed * factor):g}", timeout=2)

    def action_quit(self) -> None:
        if self._quitting:
            return
        self._quitting = True
        if self.model.recorder is not None:
            self.notify("finishing the recording …", timeout=30)
        self._stop.set()
        worker = next((w for w in self.workers if w.group == "acquire" and w.is_running), None)
        if worker is None:  # acquisition already ended: shut down on a thread of our own
            threading.Thread(target=self._stop_session, name="shutdown", daemon=False).start()

    def _recover_answer(self, recover: bool | None) -> None:
        if recover:
            self._recover()

    @work(thread=True, group="recover", exit_on_error=False)
    def _recover(self) -> None:
        from nmt_monitor.storage import recover_all

        results = recover_all(self.recovery_dir)
        for r in results:
            self.call_from_thread(self.notify, r.summary(), timeout=8,
                                  severity="information" if r.status != "failed" else "error")


_LONG_HELP = {
    "record": "start / stop recording (to --out, default recordings/)",
    "tare": "zero the sensor",
    "units": "units: N, kgf, lbf, kPa (kPa needs the tip area)",
    "mark('discomfort')": "mark: client discomfort",
    "mark('release_felt')": "mark: release felt (tissue let go)",
    "band(-1)": "move the target band down 1 N",
    "band(1)": "move the target band up 1 N",
    "feedback": "feedback mode: full / faded / blind",
    "setup": "setup: client, tolerance, target band, hold time, tip",
    "pause": "pause / play",
    "seek(-1)": "back 5 s",
    "seek(1)": "forward 5 s",
    "speed(0.5)": "half speed",
    "speed(2)": "double speed",
    "help": "this help",
    "quit": "quit (finishes the recording)",
}
